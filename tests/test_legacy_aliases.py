"""Keras 1 class names that build Keras 2 layers: AtrousConvolution1D/2D -> Conv1D/Conv2D
with dilation_rate. The warning names the modern call, the layer built is the modern one
(type, name, config), values equal a direct loop of the dilated convolution, saved
configs and weights round trip, Keras 1 configs that name the old class load."""
import json
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.layers import (AtrousConv1D, AtrousConvolution1D, AtrousConvolution2D,
                           AveragePooling3D, Conv1D, Conv2D, Conv2DTranspose, Conv3D,
                           Conv3DTranspose, LocallyConnected1D, LocallyConnected2D,
                           SeparableConv2D,
                           Cropping3D, Deconvolution3D, Dense, Flatten, GlobalAveragePooling3D,
                           GlobalMaxPooling3D, MaxPooling3D, SpatialDropout3D, UpSampling3D,
                           ZeroPadding3D, deserialize)
from gpuseq.legacy import Keras1Arguments
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import assert_close


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


def ref_dilated_conv1d(x, kernel, bias, dilation):
    """Direct loop, 'valid' padding: y[b, t, o] = sum_k,c x[b, t + k*d, c] kernel[k, c, o]."""
    n, length, c = x.shape
    k, _, f = kernel.shape
    out = length - (k - 1) * dilation
    y = np.zeros((n, out, f))
    for b in range(n):
        for t in range(out):
            for o in range(f):
                y[b, t, o] = bias[o] + sum(x[b, t + i * dilation, ch] * kernel[i, ch, o]
                                           for i in range(k) for ch in range(c))
    return y


def _only_warning(record):
    messages = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert len(messages) == 1, messages
    return messages[0]


@pytest.mark.parametrize("make,message,cls,checks", [
    (lambda: AtrousConvolution1D(32, 3, atrous_rate=2, border_mode="same"),
     'Update your `AtrousConvolution1D` call to the Keras 2 API: '
     '`Conv1D(32, 3, padding="same", dilation_rate=2)`', Conv1D,
     {"filters": 32, "kernel_size": (3,), "dilation_rate": (2,), "padding": "same"}),
    (lambda: AtrousConvolution1D(nb_filter=8, filter_length=5, atrous_rate=3,
                                 subsample_length=1, init="he_normal", bias=False),
     'Update your `AtrousConvolution1D` call to the Keras 2 API: `Conv1D(8, 5, strides=1, '
     'kernel_initializer="he_normal", use_bias=False, dilation_rate=3)`', Conv1D,
     {"filters": 8, "kernel_size": (5,), "dilation_rate": (3,), "use_bias": False}),
    (lambda: AtrousConv1D(4, 2),
     'Update your `AtrousConvolution1D` call to the Keras 2 API: `Conv1D(4, 2)`', Conv1D,
     {"dilation_rate": (1,)}),
    (lambda: AtrousConvolution2D(16, 3, 3, atrous_rate=(2, 2), input_shape=(28, 28, 1)),
     'Update your `AtrousConvolution2D` call to the Keras 2 API: '
     '`Conv2D(16, (3, 3), dilation_rate=(2, 2), input_shape=(28, 28, 1))`', Conv2D,
     {"kernel_size": (3, 3), "dilation_rate": (2, 2)}),
    (lambda: AtrousConvolution2D(8, 3, 2, atrous_rate=(1, 3), dim_ordering="th",
                                 border_mode="same"),
     'Update your `AtrousConvolution2D` call to the Keras 2 API: `Conv2D(8, (3, 2), '
     'padding="same", data_format="channels_first", dilation_rate=(1, 3))`', Conv2D,
     {"kernel_size": (3, 2), "dilation_rate": (1, 3), "data_format": "channels_first"}),
])
def test_the_keras1_call_builds_the_modern_layer_with_one_warning(make, message, cls, checks):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        layer = make()
    assert _only_warning(record) == message
    assert type(layer) is cls
    assert layer.name.startswith(cls.__name__.lower() + "_")
    for attr, value in checks.items():
        assert getattr(layer, attr) == value, attr


def test_conflicting_spellings_are_refused():
    with pytest.raises(TypeError, match="both the Keras 1 argument `atrous_rate` and its "
                                        "Keras 2 name `dilation_rate`"):
        AtrousConvolution1D(4, 3, atrous_rate=2, dilation_rate=2)
    with pytest.raises(ValueError, match="dim_ordering"):
        AtrousConvolution2D(4, 3, 3, dim_ordering="xy")


def test_values_equal_the_dilated_loop(backend, rng):
    x = rng.standard_normal((2, 11, 3)).astype(np.float32)
    with pytest.warns(UserWarning, match="AtrousConvolution1D"):
        layer = AtrousConvolution1D(4, 3, atrous_rate=2, input_shape=(11, 3))
    model = Sequential([layer])
    kernel = rng.standard_normal((3, 3, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    layer.set_weights([kernel, bias])
    y = K.to_host(model.predict(x, verbose=0))
    assert_close(y, ref_dilated_conv1d(x, kernel, bias, 2), rtol=1e-4, atol=1e-4)


def test_config_names_the_keras2_class_and_round_trips(numpy_backend, rng):
    with pytest.warns(UserWarning):
        model = Sequential([
            AtrousConvolution2D(4, 3, 3, atrous_rate=(2, 2), activation="relu",
                                input_shape=(9, 9, 1)),
            Flatten(), Dense(3)])
    config = json.loads(model.to_json())["config"]
    layers = config["layers"] if isinstance(config, dict) else config
    conv = [e for e in layers if e["class_name"] != "InputLayer"][0]
    assert conv["class_name"] == "Conv2D"
    assert tuple(conv["config"]["dilation_rate"]) == (2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 9, 9, 1)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_hdf5_weights_round_trip(numpy_backend, rng, tmp_path):
    def make():
        with pytest.warns(UserWarning):
            return Sequential([AtrousConvolution1D(3, 2, atrous_rate=3, input_shape=(10, 2)),
                               Flatten(), Dense(2)])
    model = make()
    model.save_weights(tmp_path / "w.h5")
    clone = make()
    clone.load_weights(tmp_path / "w.h5")
    x = rng.standard_normal((2, 10, 2)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_keras1_config_naming_the_old_class_loads(numpy_backend):
    entry = {"class_name": "AtrousConvolution1D",
             "config": {"name": "atrous_1", "nb_filter": 6, "filter_length": 3,
                        "atrous_rate": 2, "border_mode": "valid", "init": "glorot_uniform",
                        "activation": "relu", "subsample_length": 1, "bias": True,
                        "batch_input_shape": [None, 12, 2]}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = deserialize(entry)
    assert type(layer) is Conv1D
    assert (layer.filters, layer.kernel_size, layer.dilation_rate) == (6, (3,), (2,))
    assert Sequential([layer]).output_shape == (None, 8, 6)


def test_dilated_classifier_learns_digits(numpy_backend, digits):
    from gpuseq.utils import to_categorical
    x, y = digits
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    images = x.reshape(-1, 8, 8, 1)
    with pytest.warns(UserWarning, match="AtrousConvolution2D"):
        atrous = AtrousConvolution2D(8, 2, 2, atrous_rate=(2, 2), activation="relu",
                                     input_shape=(8, 8, 1))
    model = Sequential([atrous, Flatten(), Dense(10, activation="softmax")])
    model.compile("adam", "categorical_crossentropy")
    model.fit(images[train], to_categorical(y[train], 10), epochs=10, batch_size=32, verbose=0)
    pred = model.predict(images[test], verbose=0).argmax(axis=1)
    accuracy = float((pred == y[test]).mean())
    print(f"AtrousConvolution2D digits accuracy: {accuracy:.3f}")
    assert accuracy > 0.85, accuracy           # chance is 0.1


# ---------------------------------------------------------------------------
# The volume layers' Keras 1 names go through Keras1Arguments tables, as every
# other layer's do
# ---------------------------------------------------------------------------

def test_volume_layers_declare_keras1_tables():
    for cls in (Conv3D, Conv3DTranspose, MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D,
                GlobalAveragePooling3D, ZeroPadding3D, Cropping3D, UpSampling3D,
                SpatialDropout3D):
        assert isinstance(cls.keras1_arguments, Keras1Arguments), cls.__name__


def test_plane_convolutions_declare_keras1_tables():
    for cls in (Conv1D, Conv2D, Conv2DTranspose, SeparableConv2D, LocallyConnected1D,
                LocallyConnected2D, AtrousConvolution1D, AtrousConvolution2D):
        table = cls.keras1_arguments
        assert isinstance(table, Keras1Arguments), cls.__name__
        assert table.renames["nb_filter"] == "filters", cls.__name__


@pytest.mark.parametrize("make,message,checks", [
    (lambda: Deconvolution3D(nb_filter=4, kernel_dim1=1, kernel_dim2=2, kernel_dim3=3,
                             subsample=(1, 2, 2), border_mode="same"),
     'Update your `Conv3DTranspose` call to the Keras 2 API: `Conv3DTranspose(4, (1, 2, 3), '
     'strides=(1, 2, 2), padding="same")`',
     {"kernel_size": (1, 2, 3), "strides": (1, 2, 2), "padding": "same"}),
    (lambda: SpatialDropout3D(p=0.25, dim_ordering="th"),
     'Update your `SpatialDropout3D` call to the Keras 2 API: '
     '`SpatialDropout3D(rate=0.25, data_format="channels_first")`',
     {"rate": 0.25, "data_format": "channels_first"}),
    (lambda: UpSampling3D((1, 2, 2), dim_ordering="th"),
     'Update your `UpSampling3D` call to the Keras 2 API: '
     '`UpSampling3D(data_format="channels_first")`',
     {"size": (1, 2, 2), "data_format": "channels_first"}),
    (lambda: AveragePooling3D(2, border_mode="same"),
     'Update your `AveragePooling3D` call to the Keras 2 API: `AveragePooling3D(padding="same")`',
     {"pool_size": (2, 2, 2), "padding": "same"}),
])
def test_volume_layers_keras1_forms(make, message, checks):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        layer = make()
    assert _only_warning(record) == message
    for attr, value in checks.items():
        assert getattr(layer, attr) == value, attr
