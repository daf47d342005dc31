"""The module paths Keras 2.2.4 programs import from, mapped to gpuseq's objects."""
import importlib
import subprocess
import sys
import warnings

import pytest

from gpuseq import callbacks, layers, losses, models, preprocessing, utils
from gpuseq.layers import base, input_layer

# (Keras 2.2.4 module path with 'keras' -> 'gpuseq', names, where gpuseq defines them)
PATHS = [
    ("gpuseq.engine", ["Layer", "Input", "InputLayer"], layers),
    ("gpuseq.engine.topology", ["Layer", "Input", "InputLayer", "InputSpec"], layers),
    ("gpuseq.engine.base_layer", ["Layer", "InputSpec"], layers),
    ("gpuseq.engine.input_layer", ["Input", "InputLayer"], input_layer),
    ("gpuseq.engine.training", ["Model"], models),
    ("gpuseq.objectives", ["mean_squared_error", "categorical_crossentropy",
                           "binary_crossentropy", "get"], losses),
    ("gpuseq.layers.core", ["Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute",
                            "RepeatVector", "Lambda", "ActivityRegularization", "Masking",
                            "SpatialDropout1D", "SpatialDropout2D"], layers),
    ("gpuseq.layers.convolutional", ["Conv1D", "Conv2D", "Convolution1D", "Convolution2D",
                                     "ZeroPadding1D", "ZeroPadding2D", "Cropping1D",
                                     "Cropping2D", "UpSampling1D", "UpSampling2D",
                                     # Keras 1 code imports pooling from here
                                     "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                                     "AveragePooling2D"], layers),
    ("gpuseq.layers.pooling", ["MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
                               "AveragePooling2D", "GlobalMaxPooling1D", "GlobalAveragePooling2D",
                               "MaxPool2D", "AvgPool1D", "GlobalAvgPool2D"], layers),
    ("gpuseq.layers.recurrent", ["SimpleRNN", "GRU", "LSTM", "Recurrent"], layers),
    ("gpuseq.layers.embeddings", ["Embedding"], layers),
    ("gpuseq.layers.normalization", ["BatchNormalization"], layers),
    ("gpuseq.layers.noise", ["GaussianNoise", "GaussianDropout", "AlphaDropout"], layers),
    ("gpuseq.layers.advanced_activations", ["LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
                                            "Softmax", "ReLU"], layers),
    ("gpuseq.layers.wrappers", ["TimeDistributed", "Bidirectional", "Wrapper"], layers),
    ("gpuseq.layers.merge", ["Merge"], layers),
    ("gpuseq.layers", ["InputSpec", "Input", "InputLayer", "Layer"], layers),
    ("gpuseq.models", ["Sequential", "Model", "load_model", "model_from_json"], models),
    ("gpuseq.callbacks", ["TensorBoard", "RemoteMonitor", "EarlyStopping", "ModelCheckpoint",
                          "CSVLogger", "LambdaCallback"], callbacks),
    ("gpuseq.utils", ["get_file", "plot_model", "print_summary", "Sequence", "to_categorical", "normalize",
                      "Progbar", "OrderedEnqueuer", "GeneratorEnqueuer", "CustomObjectScope",
                      "custom_object_scope", "get_custom_objects", "HDF5Matrix"], utils),
    ("gpuseq.utils.data_utils", ["get_file", "Sequence", "validate_file"], utils),
    ("gpuseq.utils.vis_utils", ["plot_model", "model_to_dot"], utils),
    ("gpuseq.utils.np_utils", ["to_categorical", "normalize"], utils),
    ("gpuseq.utils.generic_utils", ["Progbar", "CustomObjectScope", "custom_object_scope",
                                    "get_custom_objects"], utils),
    ("gpuseq.utils.io_utils", ["HDF5Matrix"], utils),
    ("gpuseq.utils.conv_utils", ["conv_output_length", "conv_input_length", "deconv_length",
                                 "normalize_tuple", "normalize_padding", "convert_kernel"], None),
    ("gpuseq.utils.layer_utils", ["print_summary", "count_params"], utils),
    ("gpuseq.preprocessing.image", ["ImageDataGenerator", "load_img", "img_to_array",
                                    "array_to_img", "save_img"], None),
    ("gpuseq.preprocessing.sequence", ["pad_sequences", "TimeseriesGenerator", "skipgrams",
                                       "make_sampling_table"], None),
    ("gpuseq.preprocessing.text", ["Tokenizer", "one_hot", "text_to_word_sequence"], None),
    ("gpuseq.wrappers.scikit_learn", ["KerasClassifier", "KerasRegressor"], None),
]
DATASETS = ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"]


@pytest.mark.parametrize("path, names, home", PATHS, ids=[p[0] for p in PATHS])
def test_keras_path_has_names(path, names, home):
    module = importlib.import_module(path)
    for name in names:
        obj = getattr(module, name)
        if home is not None and hasattr(home, name):
            assert obj is getattr(home, name), "%s.%s" % (path, name)


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_modules(name):
    module = importlib.import_module("gpuseq.datasets." + name)
    assert callable(module.load_data)
    assert getattr(importlib.import_module("gpuseq.datasets"), name) is module


def test_keras2_custom_layer_imports():
    """The import lines of a Keras 2 custom layer, e.g. antirectifier.py."""
    from gpuseq.engine import InputSpec, Layer
    from gpuseq.engine.topology import Layer as TopologyLayer
    assert Layer is TopologyLayer is base.Layer
    assert importlib.import_module("gpuseq.engine").Model is models.Model
    spec = InputSpec(ndim=2, axes={-1: 4})
    assert repr(spec) == "InputSpec(ndim=2, axes={-1: 4})"
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        importlib.import_module("gpuseq.engine").Nothing


@pytest.mark.parametrize("spec, shape, fragment", [
    (dict(ndim=3), (None, 4), "of rank 3"),
    (dict(min_ndim=3), (None, 4), "rank at least 3"),
    (dict(max_ndim=2), (None, 4, 5), "rank at most 2"),
    (dict(axes={-1: 8}), (None, 4), "axis -1 of size 8"),
    (dict(shape=(None, 5)), (2, 4), "axis 1 of size 5"),
])
def test_input_spec_rejects(spec, shape, fragment):
    from gpuseq.engine import InputSpec
    with pytest.raises(ValueError, match=fragment) as info:
        InputSpec(**spec).check(shape, "mine")
    assert "Layer 'mine'" in str(info.value) and str(tuple(shape)) in str(info.value)


def test_input_spec_accepts_and_checks_dtype():
    from gpuseq.engine import InputSpec
    spec = InputSpec(shape=(None, 5), dtype="float32")
    spec.check((7, 5), dtype="float32")
    assert spec.ndim == 2
    with pytest.raises(ValueError, match="dtype float32"):
        spec.check((7, 5), dtype="int32")


def test_objectives_is_losses():
    from gpuseq import objectives
    assert objectives.categorical_crossentropy is losses.categorical_crossentropy
    assert preprocessing is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module("gpuseq.objectives")


def test_layer_utils_values():
    from gpuseq.layers import Dense
    from gpuseq.utils.layer_utils import count_params, print_summary
    model = models.Sequential([Dense(4, input_dim=3), Dense(2)])
    weights = model.layers[0].weights + model.layers[1].weights
    assert count_params(weights + weights[:1]) == 3 * 4 + 4 + 4 * 2 + 2
    lines = []
    print_summary(model, print_fn=lines.append)
    expected = []
    model.summary(print_fn=expected.append)
    assert lines == expected and any("Total params: 26" in line for line in lines)


def test_pooling_from_convolutional_in_a_fresh_interpreter():
    """Importing the pooling names through the convolutional module first (as Keras 1
    code does) works in a new process, so no import order hides a circle."""
    code = ("from gpuseq.layers.convolutional import MaxPooling2D, AveragePooling1D\n"
            "from gpuseq.layers.pooling import MaxPooling2D as P\n"
            "assert MaxPooling2D is P\n"
            "print(MaxPooling2D(pool_size=(2, 2)).pool_size)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "(2, 2)"
