"""The generic RNN layer with SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells and a
user-written cell: outputs against step-by-step NumPy references, the fused path
against the step path, gradients, masking, states, serialization, HDF5 weights,
errors, the emulated CUDA kernels and (when Keras 3 is importable) Keras parity."""
import json
import os

import numpy as np
import pytest
from test_recurrent_ops import ref_gru, ref_lstm, ref_simple_rnn

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import (GRU, LSTM, RNN, Dense, Embedding, GRUCell, Layer, LSTMCell,
                           SimpleRNNCell, StackedRNNCells, deserialize)
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import assert_close, check_function_gradients


class MinimalRNNCell(Layer):
    """The user cell of Keras's RNN docstring: h = x W + h_prev U (no activation)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units))
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, self.units),
                                                "orthogonal")
        self.built = True

    def call(self, inputs, states):
        h = K.dot(inputs, self.kernel) + K.dot(states[0], self.recurrent_kernel)
        return K.tanh(h), [h]

    def get_config(self):
        cfg = super().get_config()
        cfg["units"] = self.units
        return cfg


class SteppedLSTMCell(LSTMCell):
    """LSTMCell with its own call: RNN runs it step by step on the tape."""

    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


class SteppedGRUCell(GRUCell):
    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


class SteppedSimpleRNNCell(SimpleRNNCell):
    def call(self, inputs, states, training=False):
        return super().call(inputs, states, training=training)


def _rnn_model(cell, t=4, f=3, **kwargs):
    layer = RNN(cell, input_shape=(t, f), **kwargs)
    return layer, Sequential([layer])


def _reference(cell, x, weights, h0=None, **cfg):
    """The step-by-step NumPy reference of one built-in cell."""
    n, u = x.shape[0], cell.units
    z = np.zeros((n, u)) if h0 is None else h0
    W, U, b = weights
    if isinstance(cell, LSTMCell):
        return ref_lstm(x, W, U, b, z, z, **cfg)
    if isinstance(cell, GRUCell):
        return ref_gru(x, W, U, b, z, reset_after=cell.reset_after, **cfg)
    return ref_simple_rnn(x, W, U, b, z, **cfg)


CELLS = [
    lambda: SimpleRNNCell(3, dtype="float64"),
    lambda: LSTMCell(3, dtype="float64"),
    lambda: GRUCell(3, dtype="float64"),
    lambda: GRUCell(3, reset_after=False, dtype="float64"),
]


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("make_cell", CELLS)
@pytest.mark.parametrize("cfg", [dict(), dict(return_sequences=True, go_backwards=True)])
def test_builtin_cells_match_the_step_by_step_reference(make_cell, cfg):
    rng = np.random.default_rng(0)
    cell = make_cell()
    layer, model = _rnn_model(cell, **cfg)
    x = rng.standard_normal((2, 4, 3))
    ref, _ = _reference(cell, x, layer.get_weights(), **cfg)
    assert_close(model.predict(x), ref, 1e-10, 1e-12, type(cell).__name__)


@pytest.mark.parametrize("make_cell,stepped", [
    (lambda: LSTMCell(3, dtype="float64"), lambda: SteppedLSTMCell(3, dtype="float64")),
    (lambda: GRUCell(3, dtype="float64"), lambda: SteppedGRUCell(3, dtype="float64")),
    (lambda: GRUCell(3, reset_after=False, dtype="float64"),
     lambda: SteppedGRUCell(3, reset_after=False, dtype="float64")),
    (lambda: SimpleRNNCell(3, dtype="float64"), lambda: SteppedSimpleRNNCell(3, dtype="float64")),
])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_path_equals_the_step_path_with_a_mask(make_cell, stepped, go_backwards):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 1, 1, 1, 1]], dtype=bool)
    fused = RNN(make_cell(), return_sequences=True, go_backwards=go_backwards)
    steps = RNN(stepped(), return_sequences=True, go_backwards=go_backwards)
    y1 = fused(K.convert_to_tensor(x), mask=mask)
    steps.build((None, 5, 2))
    steps.set_weights(fused.get_weights())
    y2 = steps(K.convert_to_tensor(x), mask=mask)
    assert_close(y2.data, y1.data, 1e-12, 1e-12, "fused vs step path")
    cell = fused.cell
    xr = x[:, ::-1] if go_backwards else x
    mr = mask[:, ::-1] if go_backwards else mask
    ref, _ = _reference(cell, xr, fused.get_weights(), mask=mr, return_sequences=True)
    assert_close(y1.data, ref, 1e-12, 1e-12, "masked reference")


def test_rnn_of_lstm_cell_equals_the_lstm_layer():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    rnn, m1 = _rnn_model(LSTMCell(4), t=6, return_sequences=True)
    lstm = LSTM(4, input_shape=(6, 3), return_sequences=True)
    m2 = Sequential([lstm])
    lstm.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(m1.predict(x), m2.predict(x))


def test_user_cell_matches_its_reference_and_trains():
    rng = np.random.default_rng(3)
    layer, model = _rnn_model(MinimalRNNCell(4), return_sequences=True)
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    W, U = [w.astype(np.float64) for w in layer.get_weights()]
    h, outs = np.zeros((2, 4)), []
    for t in range(4):
        h = x[:, t] @ W + h @ U
        outs.append(np.tanh(h))
    assert_close(model.predict(x), np.stack(outs, 1), 1e-5, 1e-5, "user cell")
    assert [w.name for w in layer.weights] == [f"{layer.name}/kernel:0",
                                               f"{layer.name}/recurrent_kernel:0"]
    # the tape differentiates the user's step: a regression target is learnt
    model2 = Sequential([RNN(MinimalRNNCell(8), input_shape=(4, 3)), Dense(1)])
    model2.compile("adam", "mse")
    target = x.sum(axis=(1, 2))[:, None] * 0.1
    xs = np.repeat(x, 16, axis=0) + 0.1 * rng.standard_normal((32, 4, 3)).astype("float32")
    ys = xs.sum(axis=(1, 2))[:, None] * 0.1
    before = model2.evaluate(xs, ys, verbose=0)
    model2.fit(xs, ys, epochs=40, batch_size=8, verbose=0)
    assert model2.evaluate(xs, ys, verbose=0) < 0.5 * before
    assert target.shape == (2, 1)


# ---------------------------------------------------------------- gradients
def _with_weights(cell, tensors):
    cell.kernel, cell.recurrent_kernel = tensors[0], tensors[1]
    cell.bias = tensors[2] if len(tensors) > 2 else None


@pytest.mark.parametrize("make_cell,gates,bias", [
    (lambda: SteppedGRUCell(2, dtype="float64"), 3, (2, 6)),
    (lambda: SteppedGRUCell(2, reset_after=False, dtype="float64"), 3, (6,)),
    (lambda: SteppedLSTMCell(2, dtype="float64"), 4, (8,)),
    (lambda: GRUCell(2, dtype="float64"), 3, (2, 6)),
])
def test_gradients_of_the_step_and_fused_paths(make_cell, gates, bias):
    rng = np.random.default_rng(4)
    layer = RNN(make_cell(), return_sequences=True, go_backwards=True)
    layer.build((None, 3, 2))
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)

    def fn(x, W, U, b):
        _with_weights(layer.cell, [W, U, b])
        return layer.call(x, mask=mask)

    check_function_gradients(fn, [rng.standard_normal((2, 3, 2)),
                                  0.5 * rng.standard_normal((2, gates * 2)),
                                  0.5 * rng.standard_normal((2, gates * 2)),
                                  0.5 * rng.standard_normal(bias)], rtol=1e-5, atol=1e-7)


def test_gradients_of_a_stacked_fused_rnn():
    rng = np.random.default_rng(5)
    layer = RNN([LSTMCell(2, dtype="float64"), SimpleRNNCell(3, dtype="float64")],
                go_backwards=True, return_state=True)
    layer.build((None, 3, 2))

    def fn(x, W1, U1, b1, W2, U2, b2):
        _with_weights(layer.cell.cells[0], [W1, U1, b1])
        _with_weights(layer.cell.cells[1], [W2, U2, b2])
        out = layer.call(x)
        return K.concatenate([out[0], out[1], out[3]], axis=-1)

    shapes = [(2, 3, 2), (2, 8), (2, 8), (8,), (2, 3), (3, 3), (3,)]
    check_function_gradients(fn, [0.5 * rng.standard_normal(s) for s in shapes],
                             rtol=1e-5, atol=1e-7)


def test_gradient_of_k_rnn_with_a_user_step():
    rng = np.random.default_rng(6)
    mask = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], dtype=bool)

    def fn(x, w, u):
        def step(xt, states):
            h = K.tanh(K.dot(xt, w) + K.dot(states[0] * states[0], u))
            return h * 2.0, [h]
        _, outs, _ = K.rnn(step, x, [K.zeros((2, 3), dtype="float64")], mask=mask)
        return outs

    check_function_gradients(fn, [rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 3)),
                                  rng.standard_normal((3, 3))], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- states
def test_stacked_cells_states_are_in_reverse_cell_order():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 5, 3))
    c1, c2 = LSTMCell(4, dtype="float64"), GRUCell(2, dtype="float64")
    layer = RNN(StackedRNNCells([c1, c2]), return_state=True, return_sequences=True)
    out = layer(K.convert_to_tensor(x))
    assert layer.state_sizes == [2, 4, 4]
    assert [w.name.split("/")[1] for w in layer.weights] == [
        "kernel:0", "recurrent_kernel:0", "bias:0",
        "kernel_1:0", "recurrent_kernel_1:0", "bias_1:0"]
    w = layer.get_weights()
    y1, (h1, cc1) = _reference(c1, x, w[:3], return_sequences=True)
    y2, (h2,) = _reference(c2, y1, w[3:], return_sequences=True)
    assert_close(out[0].data, y2, 1e-12, 1e-12, "stack output")
    for got, ref in zip(out[1:], [h2, h1, cc1]):
        assert_close(got.data, ref, 1e-12, 1e-12, "stack states")
    # initial_state in the same flat order
    init = [rng.standard_normal((2, s)) for s in (2, 4, 4)]
    out2 = layer(K.convert_to_tensor(x), initial_state=init)
    y1, _ = ref_lstm(x, *w[:3], init[1], init[2], return_sequences=True)
    y2, _ = ref_gru(y1, *w[3:], init[0], return_sequences=True)
    assert_close(out2[0].data, y2, 1e-12, 1e-12, "stack with initial states")


def test_list_of_cells_is_stacked_and_shapes_are_reported():
    model = Sequential([RNN([SimpleRNNCell(5), LSTMCell(6)], input_shape=(4, 3),
                            return_sequences=True)])
    assert model.output_shape == (None, 4, 6)
    layer = RNN(LSTMCell(6), return_state=True)
    assert layer.compute_output_shape((None, 4, 3)) == [(None, 6), (None, 6), (None, 6)]


def test_stateful_two_halves_equal_one_sequence_and_reset():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 6, 3)).astype("float32")
    full = RNN(MinimalRNNCell(3), batch_input_shape=(2, 6, 3))
    half = RNN(MinimalRNNCell(3), batch_input_shape=(2, 3, 3), stateful=True)
    m_full, m_half = Sequential([full]), Sequential([half])
    half.set_weights(full.get_weights())
    m_half.predict(x[:, :3], batch_size=2)
    assert_close(m_half.predict(x[:, 3:], batch_size=2), m_full.predict(x), 1e-5, 1e-5,
                 "stateful halves")
    half.reset_states()
    assert not np.any(K.to_host(half.states[0]))
    lstm = RNN(LSTMCell(3), batch_input_shape=(2, 3, 3), stateful=True)
    Sequential([lstm])
    with pytest.raises(ValueError, match="expects 2 state"):
        lstm.reset_states([np.zeros((2, 3))])
    with pytest.raises(AttributeError, match="must be stateful"):
        full.reset_states()


def test_masking_through_an_embedding_skips_padding():
    rng = np.random.default_rng(9)
    ids = rng.integers(1, 9, size=(2, 5))
    ids[0, 3:] = 0
    model = Sequential([Embedding(10, 3, mask_zero=True, input_length=5),
                        RNN(GRUCell(4))])
    short = Sequential([Embedding(10, 3, input_length=3), RNN(GRUCell(4))])
    short.set_weights(model.get_weights())
    assert_close(model.predict(ids)[0], short.predict(ids[:, :3])[0], 1e-6, 1e-6, "masking")


def test_dropout_applies_only_in_training():
    layer = RNN(LSTMCell(4, dropout=0.5, recurrent_dropout=0.5))
    x = K.convert_to_tensor(np.ones((3, 4, 2), dtype="float32"))
    a, b = layer(x).data, layer(x).data
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(layer(x, training=True).data, a)


# ---------------------------------------------------------------- serialization
def _configs():
    return [RNN(SimpleRNNCell(3), return_sequences=True),
            RNN(GRUCell(3, reset_after=False, recurrent_activation="hard_sigmoid"),
                go_backwards=True),
            RNN(StackedRNNCells([LSTMCell(3, dropout=0.2), GRUCell(2)]), return_state=True)]


@pytest.mark.parametrize("layer", _configs())
def test_config_round_trip(layer):
    cfg = layer.get_config()
    assert cfg["cell"]["class_name"] == type(layer.cell).__name__
    again = deserialize({"class_name": "RNN", "config": cfg})
    assert again.get_config() == cfg


def test_model_json_and_hdf5_round_trip_with_a_user_cell(tmp_path):
    rng = np.random.default_rng(10)
    model = Sequential([RNN([LSTMCell(3), MinimalRNNCell(2)], input_shape=(4, 3)),
                        Dense(1)])
    x = rng.standard_normal((2, 4, 3)).astype("float32")
    clone = model_from_json(model.to_json(), custom_objects={"MinimalRNNCell": MinimalRNNCell})
    path = str(tmp_path / "w.h5")
    model.save_weights(path)
    clone.load_weights(path)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    spec = next(e for e in json.loads(model.to_json())["config"]["layers"]
                if e["class_name"] == "RNN")
    assert [c["class_name"] for c in spec["config"]["cell"]["config"]["cells"]] == [
        "LSTMCell", "MinimalRNNCell"]
    import h5py
    with h5py.File(path, "r") as f:
        rnn_name = model.layers[0].name
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f[rnn_name].attrs["weight_names"]]
    assert names == [f"{rnn_name}/{n}:0" for n in (
        "kernel", "recurrent_kernel", "bias", "kernel_1", "recurrent_kernel_1")]


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("make,match", [
    (lambda: RNN(object()), "`call\\(inputs, states\\)`"),
    (lambda: RNN(StackedRNNCells([])), "non-empty list"),
    (lambda: LSTMCell(0), "positive integer"),
    (lambda: GRUCell(3, dropout=1.5), "float in \\[0, 1\\)"),
    (lambda: LSTMCell(3, implementation=3), "implementation"),
])
def test_bad_configurations_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_input_shapes_are_refused_at_add_time():
    model = Sequential([Dense(4, input_shape=(5,))])
    with pytest.raises(ValueError, match="timesteps"):
        model.add(RNN(LSTMCell(3)))
    assert len(model.layers) == 1
    with pytest.raises(ValueError, match="stateful"):
        Sequential([RNN(LSTMCell(3), input_shape=(4, 3), stateful=True)])
    layer = RNN(LSTMCell(3))
    with pytest.raises(ValueError, match="initial state"):
        layer(K.convert_to_tensor(np.zeros((2, 4, 3), "float32")),
              initial_state=[np.zeros((2, 3))])


# ---------------------------------------------------------------- kernels
@pytest.mark.parametrize("cells", [lambda: [LSTMCell(3)], lambda: [GRUCell(2), SimpleRNNCell(3)]])
def test_emulated_kernels_equal_numpy(device_backend, cells):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 2)).astype("float32")
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)
    with dispatch.use_backend("numpy"):
        ref_layer = RNN(cells(), return_sequences=True, go_backwards=True)
        ref = ref_layer(ad.Tensor(x), mask=mask).data
        weights = ref_layer.get_weights()
    layer = RNN(cells(), return_sequences=True, go_backwards=True)
    layer.build((None, 3, 2))
    layer.set_weights(weights)
    y = layer(K.convert_to_tensor(K.to_device(x)), mask=K.to_device(mask))
    assert_close(K.to_host(y.data), ref, 1e-5, 1e-6, device_backend)


# ---------------------------------------------------------------- Keras 3 parity
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return pytest.importorskip("keras")


@pytest.mark.parametrize("which", ["simple", "lstm", "gru", "gru_classic", "stacked"])
def test_keras3_parity(which):
    keras = _keras()
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 5, 3)).astype("float32")

    def cells(lib):
        return {"simple": lambda: lib.SimpleRNNCell(4),
                "lstm": lambda: lib.LSTMCell(4),
                "gru": lambda: lib.GRUCell(4, reset_after=True),
                "gru_classic": lambda: lib.GRUCell(4, reset_after=False),
                "stacked": lambda: [lib.LSTMCell(3), lib.GRUCell(4)]}[which]()

    kl = keras.layers.RNN(cells(keras.layers), return_sequences=True, go_backwards=True)
    ky = np.asarray(kl(x))
    ours = RNN(cells(__import__("gpuseq").layers), return_sequences=True, go_backwards=True)
    ours.build((None, 5, 3))
    ours.set_weights([np.asarray(w) for w in kl.get_weights()])
    assert_close(ours(K.convert_to_tensor(x)).data, ky, 1e-5, 1e-5, f"Keras 3 {which}")


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_keras3_files_of_stacked_cells_load_and_gpuseq_files_load_in_keras(suffix, tmp_path):
    keras = _keras()
    import gpuseq.layers as gl
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 5, 3)).astype("float32")

    def build(lib, **kw):
        return [lib.RNN([lib.SimpleRNNCell(4), lib.LSTMCell(3), lib.SimpleRNNCell(2)],
                        return_sequences=True, **kw), lib.RNN(lib.GRUCell(3)), lib.Dense(2)]

    km = keras.Sequential([keras.Input((5, 3))] + build(keras.layers))
    km.set_weights([rng.standard_normal(w.shape).astype("float32") * 0.5
                    for w in km.get_weights()])
    ky = np.asarray(km(x))
    path = str(tmp_path / f"k{suffix}")
    if suffix == ".h5":
        from keras.src.legacy.saving import legacy_h5_format
        import h5py
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, km)
    else:
        km.save_weights(path)
    layers = build(gl)
    layers[0] = gl.RNN(layers[0].cell, return_sequences=True, input_shape=(5, 3))
    ours = Sequential(layers)
    ours.load_weights(path)
    assert_close(ours.predict(x), ky, 1e-5, 1e-5, f"Keras 3 {suffix} into gpuseq")
    if suffix == ".weights.h5":
        ours.set_weights([w * 0.9 for w in ours.get_weights()])
        back = str(tmp_path / "g.weights.h5")
        ours.save_weights(back)
        km.load_weights(back)
        assert_close(np.asarray(km(x)), ours.predict(x), 1e-5, 1e-5, "gpuseq file into Keras 3")
