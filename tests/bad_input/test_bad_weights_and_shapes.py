"""set_weights with bad arrays (nothing is assigned unless every array is right) and layer
stacks whose shapes cannot work (rejected when the layer is added, with the shapes)."""
import numpy as np
import pytest

from gpuseq import layers as L
from gpuseq.models import Sequential
from _bad_input_harness import expect_rejected, model  # noqa: F401  (fixture)

V, T = ValueError, TypeError


def _good(model):
    return [w + 1.0 for w in model.get_weights()]


def _replace_last(arr):
    def make(model):
        ws = _good(model)
        ws[-1] = arr(ws[-1])
        return ws
    return make


MODEL_CASES = [
    ("string-array-last", _replace_last(lambda w: np.array(["a", "b"])), V, "dtype <U1"),
    ("object-array-last", _replace_last(lambda w: np.array([None, None])), V, "dtype object"),
    ("complex-array-last", _replace_last(lambda w: w.astype(complex)), V, "complex128"),
    ("wrong-shape-last", _replace_last(lambda w: np.zeros(5)), V, "shape (5,)"),
    ("transposed-kernel", lambda m: [_good(m)[0].T] + _good(m)[1:], V, "shape (4, 3)"),
    ("scalar-for-bias", _replace_last(lambda w: 1.0), V, "shape ()"),
    ("none-entry", _replace_last(lambda w: None), V, "dtype object"),
    ("ragged-list", _replace_last(lambda w: [[1.0], [1.0, 2.0]]), V, "could not be converted"),
    ("too-few", lambda m: _good(m)[:-1], V, "expects 4 weight arrays"),
    ("too-many", lambda m: _good(m) + [np.zeros(2)], V, "but received 5"),
    ("empty-list", lambda m: [], V, "but received 0"),
    ("dict-not-list", lambda m: {"w": _good(m)}, T, "list of NumPy arrays"),
    ("string-not-list", lambda m: "weights.h5", T, "list of NumPy arrays"),
    ("int-not-list", lambda m: 3, T, "list of NumPy arrays"),
]


@pytest.mark.parametrize("make, exc, fragment", [c[1:] for c in MODEL_CASES],
                         ids=[c[0] for c in MODEL_CASES])
def test_model_set_weights_rejects_and_changes_nothing(make, exc, fragment, model):
    weights = make(model)
    expect_rejected(lambda: model.set_weights(weights), exc, fragment, model=model)


LAYER_CASES = [
    ("bias-string", lambda k, b: [k + 1, np.array(["x"] * b.size)], V, "bias"),
    ("bias-wrong-shape", lambda k, b: [k + 1, np.zeros(b.size + 1)], V, "shape (5,)"),
    ("kernel-wrong-shape", lambda k, b: [np.zeros((1, 1)), b + 1], V, "shape (1, 1)"),
    ("only-kernel", lambda k, b: [k + 1], V, "expects 2 weight arrays"),
    ("bias-object", lambda k, b: [k + 1, np.array([object()] * b.size)], V, "dtype object"),
]


@pytest.mark.parametrize("make, exc, fragment", [c[1:] for c in LAYER_CASES],
                         ids=[c[0] for c in LAYER_CASES])
def test_layer_set_weights_rejects_and_changes_nothing(make, exc, fragment, model):
    layer = model.layers[0]
    k, b = layer.get_weights()
    weights = make(k, b)
    expect_rejected(lambda: layer.set_weights(weights), exc, fragment, model=model)


def test_set_weights_accepts_other_numeric_dtypes_and_converts():
    m = Sequential([L.Dense(2, input_shape=(2,))])
    m.set_weights([np.eye(2, dtype="int64"), np.array([True, False])])
    k, b = m.get_weights()
    assert k.dtype == np.float32 and b.dtype == np.float32
    np.testing.assert_array_equal(k, np.eye(2))
    np.testing.assert_array_equal(b, [1.0, 0.0])


def _branch(layer_list):
    return Sequential(layer_list)


SHAPE_CASES = [
    ("merge-concat-rank-mismatch",
     lambda: L.Merge([_branch([L.Dense(3, input_shape=(4,))]),
                      _branch([L.Reshape((2, 2), input_shape=(4,))])], mode="concat"),
     V, "[(None, 3), (None, 2, 2)]"),
    ("merge-concat-other-axis-differs",
     lambda: L.Merge([_branch([L.Reshape((3, 2), input_shape=(6,))]),
                      _branch([L.Reshape((2, 2), input_shape=(4,))])], mode="concat"),
     V, "differ on axis 1"),
    ("merge-concat-batch-axis",
     lambda: L.Merge([_branch([L.Dense(3, input_shape=(4,))]),
                      _branch([L.Dense(3, input_shape=(4,))])], mode="concat", concat_axis=0),
     V, "concat_axis=0"),
    ("merge-concat-axis-out-of-range",
     lambda: L.Merge([_branch([L.Dense(3, input_shape=(4,))]),
                      _branch([L.Dense(3, input_shape=(4,))])], mode="concat", concat_axis=3),
     V, "concat_axis=3"),
    ("merge-sum-shapes-differ",
     lambda: L.Merge([_branch([L.Dense(3, input_shape=(4,))]),
                      _branch([L.Dense(2, input_shape=(4,))])], mode="sum"),
     V, "equal output shapes"),
    ("merge-branch-without-input-shape",
     lambda: L.Merge([_branch([L.Dense(3)]), _branch([L.Dense(3, input_shape=(4,))])]),
     V, "no input shape"),
]


@pytest.mark.parametrize("make, exc, fragment", [c[1:] for c in SHAPE_CASES],
                         ids=[c[0] for c in SHAPE_CASES])
def test_merge_of_incompatible_branches_is_rejected_when_added(make, exc, fragment):
    m = Sequential()
    expect_rejected(lambda: m.add(make()), exc, fragment)
    assert m.layers == []


STACK_CASES = [
    ("conv1d-kernel-longer-than-steps", (5, 3), lambda: L.Conv1D(2, 10), V,
     "kernel (10,)"),
    ("conv1d-dilated-kernel-too-long", (5, 3), lambda: L.Conv1D(2, 3, dilation_rate=3), V,
     "dilation (3,)"),
    ("conv2d-kernel-taller-than-image", (2, 8, 1), lambda: L.Conv2D(2, (3, 3)), V,
     "spatial size (2, 8)"),
    ("conv2d-channels-first-confusion", (3, 32, 32), lambda: L.Conv2D(2, (5, 5)), V,
     "channels_first"),
    ("maxpool1d-window-longer", (3, 2), lambda: L.MaxPooling1D(4), V, "pool size (4,)"),
    ("avgpool2d-window-larger", (2, 2, 1), lambda: L.AveragePooling2D((3, 3)), V,
     "pool size (3, 3)"),
    ("conv1d-on-2d-input", (5,), lambda: L.Conv1D(2, 3), V, "expects 3-D input"),
    ("conv2d-on-3d-input", (5, 5), lambda: L.Conv2D(2, 3), V, "expects 4-D input"),
    ("lstm-on-2d-input", (5,), lambda: L.LSTM(2), V, "(batch, timesteps, features)"),
    ("reshape-size-mismatch", (6,), lambda: L.Reshape((4,)), V, "(4,)"),
    ("permute-wrong-length", (2, 3), lambda: L.Permute((2, 1, 3)), V, "(2, 1, 3)"),
    ("cropping1d-more-than-steps", (3, 2), lambda: L.Cropping1D((2, 2)), V, "cropping"),
    ("batchnorm-axis-out-of-range", (4,), lambda: L.BatchNormalization(axis=3), V, "axis"),
    ("globalpool1d-on-2d", (4,), lambda: L.GlobalMaxPooling1D(), V, "3-D"),
    ("flatten-on-2d-is-fine-but-repeatvector-needs-2d", (2, 3), lambda: L.RepeatVector(2), V,
     "RepeatVector"),
    ("not-a-layer", (4,), lambda: "Dense(2)", T, "Dense(2)"),
    ("zeropadding2d-on-2d", (4,), lambda: L.ZeroPadding2D(1), V, "expects 4-D input"),
    ("upsampling1d-on-2d", (4,), lambda: L.UpSampling1D(2), V, "expects 3-D input"),
    ("timedistributed-on-2d", (4,), lambda: L.TimeDistributed(L.Dense(2)), V,
     "at least 3 dimensions"),
    ("bidirectional-on-2d", (4,), lambda: L.Bidirectional(L.LSTM(2)), V, "timesteps"),
    ("cropping2d-on-2d", (4,), lambda: L.Cropping2D(1), V, "expects 4-D input"),
]


@pytest.mark.parametrize("input_shape, make, exc, fragment", [c[1:] for c in STACK_CASES],
                         ids=[c[0] for c in STACK_CASES])
def test_layer_that_cannot_take_its_input_is_rejected_when_added(input_shape, make, exc,
                                                                 fragment):
    m = Sequential([L.Activation("linear", input_shape=input_shape)])
    expect_rejected(lambda: m.add(make()), exc, fragment, model=m)
    assert len(m.layers) == 1


def test_conv1d_with_unknown_length_rejects_a_too_short_batch(model):
    m = Sequential([L.Conv1D(2, 3, input_shape=(None, 1)), L.GlobalMaxPooling1D()])
    expect_rejected(lambda: m.predict(np.ones((2, 2, 1), "float32")), V,
                    "input_shape=(2, 2, 1)", model=m)
    assert m.predict(np.ones((2, 3, 1), "float32")).shape == (2, 2)
