"""Core layers: construction, shapes, weights, hand-computed values, gradients, errors."""
import warnings

import numpy as np
import pytest

from gpuseq.backend import autodiff as ad
from gpuseq.layers import (Activation, ActivityRegularization, Dense, Dropout, Flatten, Lambda,
                           Masking, Permute, RepeatVector, Reshape)
from gpuseq.models import Sequential
from gpuseq.testing import assert_close, check_op_gradients

ACTS = ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "softplus",
        "softsign", "exponential"]


def _np_act(kind, z):
    return {
        "linear": lambda: z,
        "relu": lambda: np.maximum(z, 0),
        "sigmoid": lambda: 1 / (1 + np.exp(-z)),
        "hard_sigmoid": lambda: np.clip(0.2 * z + 0.5, 0, 1),
        "tanh": lambda: np.tanh(z),
        "elu": lambda: np.where(z > 0, z, np.exp(z) - 1),
        "selu": lambda: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * (np.exp(z) - 1)),
        "softplus": lambda: np.log1p(np.exp(z)),
        "softsign": lambda: z / (1 + np.abs(z)),
        "exponential": lambda: np.exp(z),
    }[kind]()


def _run(layer, x, training=False, input_shape=None):
    layer._maybe_build((None,) + tuple(x.shape[1:]) if input_shape is None else input_shape)
    return layer(ad.Tensor(np.asarray(x)), training=training).numpy()


# ----------------------------------------------------------------------------- Dense
def test_dense_shapes_weights_and_names():
    m = Sequential([Dense(5, input_dim=3), Dense(2)])
    d = m.layers[0]
    assert d.output_shape == (None, 5)
    assert [w.shape for w in d.weights] == [(3, 5), (5,)]
    assert d.weights[0].name.endswith("/kernel:0") and d.weights[1].name.endswith("/bias:0")
    assert d.count_params() == 20
    assert m.count_params() == 20 + 12
    assert Dense(4, use_bias=False, input_dim=3).count_params() == 0  # not built yet
    m2 = Sequential([Dense(4, use_bias=False, input_dim=3)])
    assert m2.count_params() == 12


@pytest.mark.parametrize("kind", ACTS)
def test_dense_hand_computed_value(kind):
    layer = Dense(2, activation=kind)
    x = np.array([[1.0, -2.0, 0.5]], dtype="float32")
    layer._maybe_build((None, 3))
    k = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], "float32")
    b = np.array([0.05, -0.1], "float32")
    layer.set_weights([k, b])
    z = np.array([[1 * 0.1 - 2 * 0.3 - 0.5 * 0.5 + 0.05, -0.2 - 0.8 + 0.3 - 0.1]])
    assert_close(_run(layer, x), _np_act(kind, z), rtol=1e-5, atol=1e-6, what=kind)


@pytest.mark.parametrize("kind", ACTS)
def test_dense_op_gradients_float64(kind, rng):
    x = rng.standard_normal((4, 3))
    k = rng.standard_normal((3, 2)) * 0.5
    b = rng.standard_normal(2) * 0.1
    check_op_gradients("dense", [x, k, b], {"activation": kind})


def test_dense_on_3d_input_applies_to_last_axis(rng):
    layer = Dense(4)
    x = rng.standard_normal((2, 5, 3)).astype("float32")
    y = _run(layer, x)
    k, b = layer.get_weights()
    assert y.shape == (2, 5, 4)
    assert_close(y, x @ k + b, 1e-5, 1e-6)
    check_op_gradients("dense", [x.astype("float64"), k.astype("float64"), None],
                       {"activation": "tanh"}, wrt=[0, 1])


@pytest.mark.parametrize("bad", [0, -3, 2.5, "64", True])
def test_dense_rejects_bad_units(bad):
    with pytest.raises(ValueError, match=r"Received: units="):
        Dense(bad)


def test_dense_unknown_activation_lists_valid():
    with pytest.raises(ValueError, match=r"Unknown activation.*'relu'.*Received: activation='relux'"):
        Dense(3, activation="relux")


def test_dense_unknown_initializer():
    with pytest.raises(ValueError, match=r"Unknown initializer.*Received: initializer='glorot'"):
        Dense(3, kernel_initializer="glorot")


def test_dense_unknown_kwarg():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['unit'\]"):
        Dense(3, unit=4)


def test_dense_keras1_arguments_are_converted_with_a_note():
    with pytest.warns(UserWarning, match=r'Update your `Dense` call to the Keras 2 API: '
                                          r'`Dense\(64, kernel_initializer="uniform"\)`'):
        d = Dense(64, input_dim=20, init="uniform")
    assert d.units == 64
    with pytest.warns(UserWarning, match=r"`Dense\(10"):
        d2 = Dense(output_dim=10, W_regularizer="l2")
    assert d2.units == 10 and d2.kernel_regularizer is not None


def test_dense_regularizer_adds_penalty_to_loss():
    m = Sequential([Dense(1, input_dim=2, kernel_initializer="ones", use_bias=False,
                          kernel_regularizer="l2")])
    m.compile("sgd", "mse")
    x = np.zeros((4, 2), "float32")
    y = np.zeros((4, 1), "float32")
    # mse is 0; the penalty is 0.01 * sum(ones^2) = 0.02
    assert m.train_on_batch(x, y) == pytest.approx(0.02, rel=1e-6)


def test_dense_kernel_constraint_is_applied_after_update():
    m = Sequential([Dense(1, input_dim=2, kernel_constraint="non_neg", use_bias=False,
                          kernel_initializer="ones")])
    m.compile("sgd", "mse")
    x = np.ones((4, 2), "float32")
    m.fit(x, np.full((4, 1), -100.0, "float32"), epochs=3, verbose=0)
    assert (m.get_weights()[0] >= 0).all()


# ------------------------------------------------------------------------- Activation
def test_activation_layer_softmax_and_shape():
    layer = Activation("softmax")
    x = np.array([[1.0, 2.0, 3.0]], "float32")
    e = np.exp(x - 3)
    assert_close(_run(layer, x), e / e.sum(), 1e-6, 1e-7)
    assert layer.compute_output_shape((None, 3)) == (None, 3)


def test_softmax_gradient_float64(rng):
    check_op_gradients("softmax", [rng.standard_normal((3, 5))], {"axis": -1})
    check_op_gradients("softmax", [rng.standard_normal((3, 4, 2))], {"axis": 1})


# ---------------------------------------------------------------------------- Dropout
def test_dropout_identity_at_inference_and_inverted_in_training():
    layer = Dropout(0.25, seed=3)
    x = np.ones((200, 50), "float32")
    assert_close(_run(layer, x, training=False), x, 0, 0)
    y = _run(layer, x, training=True)
    kept = y != 0
    assert_close(y[kept], np.full(kept.sum(), 1 / 0.75), 1e-6, 1e-6)
    assert abs(1 - kept.mean() - 0.25) < 0.02


@pytest.mark.parametrize("bad", [1.0, -0.1, "half"])
def test_dropout_rate_validated(bad):
    with pytest.raises(ValueError, match="Received: rate="):
        Dropout(bad)


def test_dropout_keras1_p():
    with pytest.warns(UserWarning, match=r"`Dropout\(rate=0.3\)`"):
        assert Dropout(p=0.3).rate == 0.3


# ---------------------------------------------------------------- shape manipulation
def test_flatten_channels_last_and_first():
    x = np.arange(2 * 3 * 2 * 2, dtype="float32").reshape(2, 3, 2, 2)
    assert_close(_run(Flatten(), x), x.reshape(2, -1), 0, 0)
    y = _run(Flatten(data_format="channels_first"), x)
    assert_close(y, x.transpose(0, 2, 3, 1).reshape(2, -1), 0, 0)
    assert Flatten().compute_output_shape((None, 3, 2, 2)) == (None, 12)


def test_reshape_infers_minus_one_and_refuses_bad_size():
    layer = Reshape((-1, 2))
    x = np.arange(12, dtype="float32").reshape(2, 6)
    assert layer.compute_output_shape((None, 6)) == (None, 3, 2)
    assert_close(_run(layer, x), x.reshape(2, 3, 2), 0, 0)
    m = Sequential([Dense(6, input_dim=2)])
    with pytest.raises(ValueError, match="total size of the new shape"):
        m.add(Reshape((4, 2)))
    assert len(m.layers) == 1   # the bad layer was not added


def test_permute_and_repeat_vector():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    assert_close(_run(Permute((2, 1)), x), x.transpose(0, 2, 1), 0, 0)
    assert Permute((2, 1)).compute_output_shape((None, 3, 4)) == (None, 4, 3)
    v = np.array([[1.0, 2.0]], "float32")
    assert_close(_run(RepeatVector(3), v), np.array([[[1, 2]] * 3], "float32"), 0, 0)
    with pytest.raises(ValueError, match="permutation"):
        Permute((1, 3))


def test_lambda_layer_is_differentiable_and_infers_shape():
    m = Sequential([Dense(3, input_dim=2), Lambda(lambda t: t * t)])
    assert m.output_shape == (None, 3)
    m.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((8, 2)).astype("float32")
    y = np.ones((8, 3), "float32")
    l0 = m.evaluate(x, y, verbose=0)
    for _ in range(20):
        m.train_on_batch(x, y)
    assert m.evaluate(x, y, verbose=0) < l0


def test_activity_regularization_penalty_by_value():
    m = Sequential([Dense(2, input_dim=2, kernel_initializer="identity", use_bias=False),
                    ActivityRegularization(l1=0.1)])
    m.compile("sgd", "mse")
    x = np.array([[1.0, -2.0]], "float32")
    loss = m.test_on_batch(x, x)          # inference: no activity penalty
    assert loss == pytest.approx(0.0, abs=1e-7)
    loss = m.train_on_batch(x, x)         # training: + 0.1 * (1 + 2)
    assert loss == pytest.approx(0.3, rel=1e-5)


def test_masking_zeroes_masked_steps():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]], "float32")
    layer = Masking(0.0)
    y = _run(layer, x)
    assert_close(y, x, 0, 0)
    mask = layer.compute_mask(ad.Tensor(x))
    assert mask.tolist() == [[True, False, True]]


def test_auto_names_are_keras2_style():
    a, b = Dense(2), Dense(2)
    na, nb = int(a.name.split("_")[1]), int(b.name.split("_")[1])
    assert a.name.startswith("dense_") and nb == na + 1
    assert Activation("relu").name.startswith("activation_")
    assert Dropout(0.1).name.startswith("dropout_")


def test_set_weights_checks_all_shapes_first():
    layer = Dense(2)
    layer._maybe_build((None, 3))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"has shape \(2,\), but the provided array has shape \(3,\)"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(3)])
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expects 2 weight arrays"):
        layer.set_weights([np.zeros((3, 2))])


def test_no_warning_for_modern_calls():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Dense(3, kernel_initializer="uniform", input_dim=2)
        Dropout(0.5)


@pytest.mark.parametrize("make, x", [
    (lambda reg: Dense(3, input_dim=4, activity_regularizer=reg),
     np.random.default_rng(0).standard_normal((5, 4)).astype("float32")),
    (lambda reg: __import__("gpuseq.layers", fromlist=["Conv1D"]).Conv1D(
        2, 3, input_shape=(6, 2), activity_regularizer=reg),
     np.random.default_rng(1).standard_normal((3, 6, 2)).astype("float32")),
    (lambda reg: __import__("gpuseq.layers", fromlist=["LSTM"]).LSTM(
        3, input_shape=(4, 2), activity_regularizer=reg),
     np.random.default_rng(2).standard_normal((3, 4, 2)).astype("float32")),
    (lambda reg: __import__("gpuseq.layers", fromlist=["Embedding"]).Embedding(
        7, 2, input_length=3, activity_regularizer=reg),
     np.array([[1, 2, 3], [4, 5, 6]])),
    (lambda reg: __import__("gpuseq.layers", fromlist=["LocallyConnected1D"])
     .LocallyConnected1D(2, 3, input_shape=(6, 2), activity_regularizer=reg),
     np.random.default_rng(3).standard_normal((3, 6, 2)).astype("float32")),
    (lambda reg: __import__("gpuseq.layers", fromlist=["LocallyConnected2D"])
     .LocallyConnected2D(2, (2, 2), input_shape=(4, 3, 2), activity_regularizer=reg),
     np.random.default_rng(4).standard_normal((3, 4, 3, 2)).astype("float32")),
], ids=["dense", "conv1d", "lstm", "embedding", "locally_connected1d",
        "locally_connected2d"])
def test_activity_regularizer_adds_its_penalty_in_training_only(make, x):
    from gpuseq.optimizers import SGD
    from gpuseq.regularizers import l1
    m = Sequential([make(l1(0.1))])
    m.compile(SGD(lr=0.0), "mse")
    y = m.predict(x)
    target = np.zeros_like(y)
    assert m.test_on_batch(x, target) == pytest.approx(float(np.mean(y ** 2)), rel=1e-5)
    assert m.train_on_batch(x, target) == pytest.approx(
        float(np.mean(y ** 2) + 0.1 * np.abs(y).sum()), rel=1e-5)
