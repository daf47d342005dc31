"""SimpleRNN / LSTM / GRU layers: shapes, weights, Keras 1 names, masking, stateful
semantics, errors, and training on real data."""
import warnings

import numpy as np
import pytest
from reference import ref_gru, ref_lstm, ref_simple_rnn

from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import (GRU, LSTM, Dense, Dropout, Embedding, SimpleRNN, deserialize)
from gpuseq.models import Sequential
from gpuseq.optimizers import Adam
from gpuseq.testing import assert_close
from gpuseq.utils import set_random_seed


def _weights(layer):
    return [w.astype(np.float64) for w in layer.get_weights()]


# ---------------------------------------------------------------- shapes and weights
@pytest.mark.parametrize("kwargs", [dict(input_shape=(10, 64)),
                                    dict(batch_input_shape=(None, 10, 64)),
                                    dict(input_length=10, input_dim=64)])
def test_three_ways_to_give_the_input_shape(kwargs):
    model = Sequential()
    model.add(LSTM(32, **kwargs))
    assert model.input_shape == (None, 10, 64)
    assert model.output_shape == (None, 32)


@pytest.mark.parametrize("cls,kw,shapes", [
    (SimpleRNN, {}, [(6, 4), (4, 4), (4,)]),
    (LSTM, {}, [(6, 16), (4, 16), (16,)]),
    (GRU, {}, [(6, 12), (4, 12), (2, 12)]),
    (GRU, {"reset_after": False}, [(6, 12), (4, 12), (12,)]),
    (LSTM, {"use_bias": False}, [(6, 16), (4, 16)]),
])
def test_weight_shapes_names_and_output_shapes(cls, kw, shapes):
    layer = cls(4, input_shape=(5, 6), **kw)
    model = Sequential([layer])
    assert [tuple(w.shape) for w in layer.weights] == shapes
    names = [w.name.split("/")[1] for w in layer.weights]
    assert names == ["kernel:0", "recurrent_kernel:0", "bias:0"][:len(shapes)]
    assert layer.weights[0].name.startswith(layer.name + "/")
    assert model.output_shape == (None, 4)
    seq = Sequential([cls(4, input_shape=(5, 6), return_sequences=True, **kw)])
    assert seq.output_shape == (None, 5, 4)
    assert layer.count_params() == sum(int(np.prod(s)) for s in shapes)


def test_lstm_initializers_unit_forget_bias_and_orthogonal():
    layer = LSTM(8, input_shape=(3, 5))
    Sequential([layer])
    _, U, b = layer.get_weights()
    np.testing.assert_array_equal(b, np.r_[np.zeros(8), np.ones(8), np.zeros(16)])
    np.testing.assert_allclose(U @ U.T, np.eye(8), atol=1e-5)      # orthogonal rows
    layer2 = LSTM(8, input_shape=(3, 5), unit_forget_bias=False)
    Sequential([layer2])
    assert not layer2.get_weights()[2].any()


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("cfg", [dict(), dict(return_sequences=True, go_backwards=True)])
def test_layer_output_matches_reference(cls, cfg):
    rng = np.random.default_rng(0)
    layer = cls(3, input_shape=(4, 5), dtype="float64", **cfg)
    model = Sequential([layer])
    x = rng.standard_normal((2, 4, 5))
    y = model.predict(x)
    W, U, b = _weights(layer)
    z = np.zeros((2, 3))
    if cls is LSTM:
        ref, _ = ref_lstm(x, W, U, b, z, z, **cfg)
    elif cls is GRU:
        ref, _ = ref_gru(x, W, U, b, z, **cfg)
    else:
        ref, _ = ref_simple_rnn(x, W, U, b, z, **cfg)
    assert_close(y, ref, 1e-10, 1e-12, f"{cls.__name__} layer")


def test_go_backwards_equals_forward_on_reversed_input():
    rng = np.random.default_rng(1)
    fwd = LSTM(3, input_shape=(6, 2), return_sequences=True)
    bwd = LSTM(3, input_shape=(6, 2), return_sequences=True, go_backwards=True)
    m1, m2 = Sequential([fwd]), Sequential([bwd])
    bwd.set_weights(fwd.get_weights())
    x = rng.standard_normal((3, 6, 2)).astype("float32")
    assert_close(m2.predict(x), m1.predict(x[:, ::-1]), 1e-6, 1e-6, "go_backwards")


def test_float64_data_runs_in_the_layer_dtype():
    model = Sequential([LSTM(3, input_shape=(4, 2))])
    y = model.predict(np.random.random((2, 4, 2)))           # float64 data
    assert y.dtype == np.float32


# ---------------------------------------------------------------- Keras 1 names
def test_keras1_lstm_call_is_converted_with_a_note():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        layer = LSTM(output_dim=128, activation="sigmoid", inner_activation="hard_sigmoid")
    msg = str(w[0].message)
    assert "Update your `LSTM` call to the Keras 2 API" in msg
    assert 'LSTM(128, recurrent_activation="hard_sigmoid")' in msg
    assert w[0].filename == __file__                         # points at the user's line
    assert layer.units == 128
    assert layer.get_config()["activation"] == "sigmoid"
    assert layer.get_config()["recurrent_activation"] == "hard_sigmoid"


def test_keras1_names_all_convert():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer = LSTM(output_dim=4, init="he_normal", inner_init="identity",
                     forget_bias_init="zero", dropout_W=0.2, dropout_U=0.1,
                     consume_less="mem", W_regularizer="l2", input_dim=3)
        gru = GRU(output_dim=5, return_sequences=True)
        rnn = SimpleRNN(output_dim=2, inner_init="orthogonal")
    assert layer.units == 4 and layer.dropout == 0.2 and layer.recurrent_dropout == 0.1
    assert layer.unit_forget_bias is False and layer.implementation == 1
    assert type(layer.recurrent_initializer).__name__ == "Identity"
    assert layer.kernel_regularizer is not None
    assert gru.units == 5 and gru.return_sequences and rnn.units == 2


def test_keras1_name_together_with_modern_name_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match="units"):
            LSTM(8, output_dim=8)


# ---------------------------------------------------------------- errors
def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match=r"`units`.*Received: units=0"):
        LSTM(0)
    with pytest.raises(TypeError, match="requires `units`"):
        GRU()
    with pytest.raises(ValueError, match="dropout"):
        LSTM(4, dropout=1.5)
    with pytest.raises(ValueError, match=r"invalid `activation`.*Unknown activation"):
        LSTM(4, activation="no_such_activation")
    with pytest.raises(TypeError, match="recurrent_activation"):
        SimpleRNN(4, recurrent_activation="sigmoid")
    with pytest.raises(TypeError, match="unit_forget_bias"):
        GRU(4, unit_forget_bias=True)


def test_2d_input_is_explained():
    model = Sequential([Dense(8, input_shape=(5,))])
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, timesteps, "
                                         r"features\).*return_sequences=True"):
        model.add(LSTM(4))
    model = Sequential([LSTM(4, input_shape=(3, 2))])
    with pytest.raises(ValueError, match=r"return_sequences=True"):
        model.add(LSTM(4))


def test_stateful_needs_a_batch_size():
    model = Sequential()
    with pytest.raises(ValueError, match="stateful, so it needs to know its batch size.*"
                                         "batch_input_shape"):
        model.add(LSTM(4, stateful=True, input_shape=(3, 2)))
    ok = Sequential([LSTM(4, stateful=True, batch_size=5, input_shape=(3, 2))])
    assert ok.input_shape == (5, 3, 2)


def test_reset_states_on_a_non_stateful_layer_is_refused():
    layer = LSTM(4, input_shape=(3, 2))
    model = Sequential([layer])
    with pytest.raises(AttributeError, match="must be stateful"):
        layer.reset_states()
    model.reset_states()     # the model resets only its stateful layers: no error


def test_stateful_data_size_must_divide_by_the_batch_size():
    model = Sequential([LSTM(4, stateful=True, batch_input_shape=(4, 3, 2)), Dense(1)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="can be divided by the batch size.*Found: 10 "
                                         "samples"):
        model.fit(np.zeros((10, 3, 2)), np.zeros((10, 1)), batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="batch_size=4"):
        model.predict(np.zeros((8, 3, 2)), batch_size=2)


def test_stateful_layer_refuses_another_batch_size_when_called_directly():
    layer = GRU(2, stateful=True, batch_input_shape=(3, 4, 2))
    Sequential([layer])
    with pytest.raises(ValueError, match="batch size of 3, but received a batch of 2"):
        layer(ad.Tensor(np.zeros((2, 4, 2), dtype="float32")))


# ---------------------------------------------------------------- stateful semantics
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_stateful_two_half_sequences_equal_one_full_sequence(cls):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6, 3)).astype("float32")
    full = Sequential([cls(5, input_shape=(6, 3), return_sequences=True)])
    st = Sequential([cls(5, batch_input_shape=(4, 3, 3), return_sequences=True,
                         stateful=True)])
    st.set_weights(full.get_weights())
    y_full = full.predict(x)
    y1 = st.predict(x[:, :3], batch_size=4)
    y2 = st.predict(x[:, 3:], batch_size=4)
    assert_close(np.concatenate([y1, y2], 1), y_full, 1e-5, 1e-6, "carried states")
    st.reset_states()                                     # back to zeros
    assert_close(st.predict(x[:, :3], batch_size=4), y1, 0, 0, "after reset_states")
    st.layers[0].reset_states()
    assert not any(dispatch.to_host(s).any() for s in st.layers[0].states)


def test_stateful_states_carry_across_batches_within_predict():
    """Batch k's sample i continues batch k-1's sample i (the seed's comment)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 8, 3)).astype("float32")
    full = Sequential([LSTM(4, input_shape=(8, 3))])
    st = Sequential([LSTM(4, batch_input_shape=(2, 4, 3), stateful=True)])
    st.set_weights(full.get_weights())
    chunks = np.concatenate([x[:, :4], x[:, 4:]], axis=0)   # batch 0 then batch 1
    out = st.predict(chunks, batch_size=2)
    assert_close(out[2:], full.predict(x), 1e-5, 1e-6, "second batch continues the first")


def test_reset_states_with_given_values():
    layer = LSTM(2, stateful=True, batch_input_shape=(1, 1, 1), return_sequences=True,
                 kernel_initializer="zeros", recurrent_initializer="zeros",
                 bias_initializer="zeros", unit_forget_bias=False)
    model = Sequential([layer])
    # all gates are sigmoid(0) = 0.5 and g = 0: c = 0.5 * c0, h = 0.5 * tanh(c)
    layer.reset_states([np.zeros((1, 2)), np.array([[1.0, -2.0]])])
    y = model.predict(np.zeros((1, 1, 1)), batch_size=1)
    np.testing.assert_allclose(y[0, 0], 0.5 * np.tanh([0.5, -1.0]), rtol=1e-6)
    np.testing.assert_allclose(dispatch.to_host(layer.states[1]), [[0.5, -1.0]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"expects 2 state array"):
        layer.reset_states([np.zeros((1, 2))])
    with pytest.raises(ValueError, match=r"has shape \(1, 2\)"):
        layer.reset_states([np.zeros((2, 2)), np.zeros((1, 2))])


def test_stateful_training_carries_states_until_reset():
    rng = np.random.default_rng(4)
    model = Sequential([LSTM(4, stateful=True, batch_input_shape=(2, 3, 2)), Dense(1)])
    model.compile("sgd", "mse")
    model.fit(rng.random((4, 3, 2)), rng.random((4, 1)), batch_size=2, epochs=2,
              shuffle=False, verbose=0)
    h, c = (dispatch.to_host(s) for s in model.layers[0].states)
    assert np.abs(h).sum() > 0 and np.abs(c).sum() > 0
    model.reset_states()
    assert not any(dispatch.to_host(s).any() for s in model.layers[0].states)


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_mask_zero_skips_padding(cls):
    set_random_seed(5)
    model = Sequential([Embedding(10, 4, mask_zero=True), cls(3)])
    unpadded = model.predict(np.array([[5, 3, 7]]))
    right = model.predict(np.array([[5, 3, 7, 0, 0]]))
    left = model.predict(np.array([[0, 0, 5, 3, 7]]))
    hole = model.predict(np.array([[5, 0, 3, 7]]))
    assert_close(right, unpadded, 1e-6, 1e-6, "right padding")
    assert_close(left, unpadded, 1e-6, 1e-6, "left padding")
    assert_close(hole, unpadded, 1e-6, 1e-6, "a masked step inside")
    plain = Sequential([Embedding(10, 4), cls(3)])
    plain.set_weights(model.get_weights())
    assert np.abs(plain.predict(np.array([[5, 3, 7, 0, 0]])) - unpadded).max() > 1e-4


def test_mask_propagates_through_return_sequences_and_reaches_the_loss():
    model = Sequential([Embedding(10, 4, mask_zero=True),
                        LSTM(3, return_sequences=True), LSTM(2)])
    a = model.predict(np.array([[4, 2, 0]]))
    b = model.predict(np.array([[4, 2]]))
    assert_close(a, b, 1e-6, 1e-6, "mask through two LSTMs")
    seq = Sequential([Embedding(10, 4, mask_zero=True), GRU(3, return_sequences=True)])
    m = seq.layers[1].compute_mask(None, np.array([[True, False]]))
    np.testing.assert_array_equal(m, [[True, False]])
    assert LSTM(2).compute_mask(None, np.array([[True]])) is None


# ---------------------------------------------------------------- direct calls
def test_return_state_and_initial_state_when_called_directly():
    rng = np.random.default_rng(6)
    layer = LSTM(3, return_state=True, dtype="float64")
    x = ad.Tensor(rng.standard_normal((2, 4, 5)))
    out, h, c = layer(x)
    assert out.shape == (2, 3) and h.shape == (2, 3) and c.shape == (2, 3)
    assert_close(out.numpy(), h.numpy(), 0, 0, "last output = h")
    assert layer.compute_output_shape((None, 4, 5)) == [(None, 3), (None, 3), (None, 3)]
    # initial states are differentiable inputs
    h0 = ad.Variable(rng.standard_normal((2, 3)))
    c0 = ad.Variable(rng.standard_normal((2, 3)))
    out, h, c = layer(x, initial_state=[h0, c0])
    W, U, b = _weights(layer)
    ref, (rh, rc) = ref_lstm(x.numpy(), W, U, b, h0.numpy(), c0.numpy())
    assert_close(c.numpy(), rc, 1e-10, 1e-12, "final c from initial states")
    loss = ad.reduce_sum(out * out) + ad.reduce_sum(c)
    g_h0, g_c0 = ad.gradients(loss, [h0, c0])
    eps = 1e-6
    num = np.zeros((2, 3))
    for i in np.ndindex(2, 3):
        for sgn in (1, -1):
            hh = h0.numpy().copy()
            hh[i] += sgn * eps
            o, (_, cc) = ref_lstm(x.numpy(), W, U, b, hh, c0.numpy())
            num[i] += sgn * ((o * o).sum() + cc.sum()) / (2 * eps)
    assert_close(g_h0, num, 1e-6, 1e-8, "gradient into h0")
    assert np.abs(g_c0).sum() > 0


def test_dropout_only_in_training_and_seeded():
    rng = np.random.default_rng(7)
    x = ad.Tensor(rng.standard_normal((4, 5, 3)).astype("float32"))
    layer = GRU(4, dropout=0.5, recurrent_dropout=0.5, seed=1)
    a = layer(x, training=False).numpy()
    assert_close(layer(x, training=False).numpy(), a, 0, 0, "inference is deterministic")
    t1 = layer(x, training=True).numpy()
    assert np.abs(t1 - a).max() > 1e-3
    same = GRU(4, dropout=0.5, recurrent_dropout=0.5, seed=1)
    same(x)
    same.set_weights(layer.get_weights())
    layer2 = GRU(4, dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer2(x)
    layer2.set_weights(layer.get_weights())
    assert_close(layer2(x, training=True).numpy(), same(x, training=True).numpy(), 0, 0,
                 "the seed fixes the masks")


# ---------------------------------------------------------------- config
@pytest.mark.parametrize("layer", [
    LSTM(5, recurrent_activation="hard_sigmoid", go_backwards=True, dropout=0.1),
    GRU(4, reset_after=False, return_sequences=True, stateful=False),
    SimpleRNN(3, activation="relu", return_state=True),
])
def test_config_round_trip(layer):
    cfg = layer.get_config()
    clone = deserialize({"class_name": type(layer).__name__, "config": cfg})
    cfg2 = clone.get_config()
    assert cfg2 == cfg


def test_model_config_round_trip_keeps_weights_layout():
    model = Sequential([Embedding(20, 4, input_length=3), GRU(3, return_sequences=True),
                       LSTM(2), Dense(1)])
    clone = Sequential.from_config(model.get_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    x = np.array([[1, 2, 3]])
    assert_close(clone.predict(x), model.predict(x), 0, 0, "clone")


# ---------------------------------------------------------------- learning
def _digits_rows(digits):
    x, y = digits
    x = x.reshape(-1, 8, 8)          # each image row is one time step of 8 features
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    x, y = x[idx], y[idx]
    return x[:1440], y[:1440], x[1440:], y[1440:]


def test_row_by_row_lstm_learns_digits(digits):
    set_random_seed(0)
    xtr, ytr, xte, yte = _digits_rows(digits)
    model = Sequential([LSTM(64, input_shape=(8, 8)), Dense(10, activation="softmax")])
    model.compile(Adam(lr=0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=32, epochs=12, verbose=0)
    acc = model.evaluate(xte, yte, verbose=0)[1]
    assert acc >= 0.95, acc


def test_row_by_row_gru_and_simple_rnn_learn_digits(digits):
    xtr, ytr, xte, yte = _digits_rows(digits)
    for cls, lr, floor in ((GRU, 0.01, 0.94), (SimpleRNN, 0.005, 0.93)):
        set_random_seed(1)
        model = Sequential([cls(32, input_shape=(8, 8)), Dense(10, activation="softmax")])
        model.compile(Adam(lr=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(xtr, ytr, batch_size=32, epochs=8, verbose=0)
        acc = model.evaluate(xte, yte, verbose=0)[1]
        assert acc >= floor, (cls.__name__, acc)


def test_masked_sequences_learn_a_length_dependent_task():
    """Label = whether a sequence has at least 4 real tokens (left-padded with 0, the
    same token everywhere): the model must count the steps the mask lets through."""
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 7, size=256)
    x = np.zeros((256, 6), dtype=int)
    for i, n in enumerate(lengths):
        x[i, 6 - n:] = 1
    y = (lengths >= 4).astype("float32")
    set_random_seed(2)
    model = Sequential([Embedding(2, 4, mask_zero=True), LSTM(8), Dropout(0.0),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=40, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] >= 0.97


def test_gru_written_with_keras1_names_gets_the_keras1_bias_layout():
    import warnings as _w
    from gpuseq.layers import GRU
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        old = GRU(output_dim=4, return_sequences=True)
    assert old.reset_after is False
    assert GRU(4).reset_after is True
    assert GRU(4, reset_after=False).reset_after is False
    with _w.catch_warnings():
        _w.simplefilter("ignore")
        assert GRU(output_dim=4, reset_after=True).reset_after is True
