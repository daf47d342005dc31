"""SimpleRNN, LSTM and GRU with activations the fused ops do not run (any callable, or a
registered custom name): the layer runs its cell step by step over its own weights.

Checked by value: a custom activation that computes a built-in one gives the fused
layer's outputs and gradients; a different one gives RNN(<cell>)'s; float64 finite
differences; the emulated CUDA kernels; stateful batches; dropout masks; saving
(HDF5 and JSON) with a registered name; and a short training on scikit-learn's digits."""
import numpy as np
import pytest
from _gradcheck import one_blas_thread  # noqa: F401

from gpuseq import backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import (GRU, LSTM, RNN, Bidirectional, CuDNNLSTM, Dense, Embedding,
                           GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell)
from gpuseq.models import Sequential, load_model, model_from_json
from gpuseq.optimizers import Adam
from gpuseq.testing import assert_close, check_function_gradients
from gpuseq.utils import CustomObjectScope, get_custom_objects, set_random_seed


def tanh_again(x):
    """tanh, written with backend functions (the layer cannot fuse it)."""
    return K.tanh(x)


def sigmoid_again(x):
    return K.sigmoid(x)


def hard_sigmoid_again(x):
    return K.hard_sigmoid(x)


def half_tanh(x):
    return K.tanh(x) * 0.5


def swish(x):
    return x * K.sigmoid(x)


# (layer class, extra settings, the layer's cell class)
LAYERS = [
    pytest.param(SimpleRNN, {}, SimpleRNNCell, id="SimpleRNN"),
    pytest.param(LSTM, {}, LSTMCell, id="LSTM"),
    pytest.param(LSTM, {"recurrent_activation": "hard_sigmoid"}, LSTMCell,
                 id="LSTM-hard_sigmoid"),
    pytest.param(GRU, {"reset_after": True}, GRUCell, id="GRU-reset_after"),
    pytest.param(GRU, {"reset_after": False}, GRUCell, id="GRU-reset_before"),
]

_AGAIN = {"tanh": tanh_again, "sigmoid": sigmoid_again, "hard_sigmoid": hard_sigmoid_again}

MASK = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1], [0, 1, 1, 1, 1]], dtype=bool)


def _rewritten(cls, settings):
    """The settings with every activation replaced by its backend-function twin."""
    out = dict(settings)
    out["activation"] = tanh_again
    if cls is not SimpleRNN:
        out["recurrent_activation"] = _AGAIN[settings.get("recurrent_activation", "sigmoid")]
    return out


def _built_pair(make_a, make_b, features, seed=0):
    """Two layers built for ``features`` inputs, the second with the first's weights."""
    a, b = make_a(), make_b()
    a.build((None, 5, features))
    b.build((None, 5, features))
    rng = np.random.default_rng(seed)
    weights = [0.6 * rng.standard_normal(w.shape).astype(a.dtype) for w in a.get_weights()]
    a.set_weights(weights)
    b.set_weights(weights)
    return a, b


def _run(layer, x, grad_seed=7, **call):
    """The layer's outputs (a list) and the gradients of a random projection of them
    with respect to its weights and its input."""
    xt = ad.Variable(np.array(x))
    out = layer(xt, **call)
    outs = out if isinstance(out, list) else [out]
    rng = np.random.default_rng(grad_seed)
    loss = None
    for o in outs:
        term = K.sum(o * K.convert_to_tensor(rng.standard_normal(o.shape).astype(o.dtype)))
        loss = term if loss is None else loss + term
    grads = ad.gradients(loss, list(layer.trainable_weights) + [xt])
    return [K.to_host(o.data) for o in outs], [K.to_host(g) for g in grads]


def _assert_same(run_a, run_b, rtol, atol, what):
    (ya, ga), (yb, gb) = run_a, run_b
    assert len(ya) == len(yb) and len(ga) == len(gb)
    for k, (a, b) in enumerate(zip(ya, yb)):
        assert_close(b, a, rtol, atol, f"{what}: output {k}")
    for k, (a, b) in enumerate(zip(ga, gb)):
        assert_close(b, a, rtol, atol, f"{what}: gradient {k}")


# ---------------------------------------------------------------- the fused results
@pytest.mark.parametrize("cls,settings,cell_cls", LAYERS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_builtin_written_as_a_callable_equals_the_fused_layer(cls, settings, cell_cls,
                                                              go_backwards):
    x = np.random.default_rng(1).standard_normal((3, 5, 2)).astype("float32")
    common = {"return_sequences": True, "go_backwards": go_backwards}
    fused, steps = _built_pair(lambda: cls(4, **settings, **common),
                               lambda: cls(4, **_rewritten(cls, settings), **common), 2)
    assert fused.runs_fused and not steps.runs_fused
    _assert_same(_run(fused, x, mask=MASK), _run(steps, x, mask=MASK), 2e-5, 2e-6,
                 f"{cls.__name__} fused vs step by step")


@pytest.mark.parametrize("cls,settings,cell_cls", LAYERS)
def test_states_initial_states_and_zero_outputs_equal_the_fused_layer(cls, settings,
                                                                     cell_cls):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    n_states = 2 if cls is LSTM else 1
    init = [K.convert_to_tensor(rng.standard_normal((3, 4)).astype("float32"))
            for _ in range(n_states)]
    for common in ({"return_state": True, "go_backwards": True},
                   {"return_sequences": True, "zero_output_for_mask": True},
                   {"zero_output_for_mask": True, "go_backwards": True}):
        fused, steps = _built_pair(lambda: cls(4, **settings, **common),
                                   lambda: cls(4, **_rewritten(cls, settings), **common), 2)
        _assert_same(_run(fused, x, mask=MASK, initial_state=init),
                     _run(steps, x, mask=MASK, initial_state=init), 2e-5, 2e-6,
                     f"{cls.__name__} {common}")


@pytest.mark.parametrize("cls,settings,cell_cls", LAYERS)
def test_dropout_masks_are_the_fused_layers(cls, settings, cell_cls):
    x = np.random.default_rng(3).standard_normal((3, 5, 2)).astype("float32")
    common = {"dropout": 0.3, "recurrent_dropout": 0.4, "seed": 5, "return_sequences": True}
    fused, steps = _built_pair(lambda: cls(4, **settings, **common),
                               lambda: cls(4, **_rewritten(cls, settings), **common), 2)
    trained = _run(fused, x, training=True)
    _assert_same(trained, _run(steps, x, training=True), 2e-5, 2e-6,
                 f"{cls.__name__} dropout")
    # and the masks really dropped something: inference differs
    assert not np.allclose(_run(steps, x)[0][0], trained[0][0], atol=1e-3)


# ---------------------------------------------------------------- other activations
@pytest.mark.parametrize("cls,settings,cell_cls,which", [
    pytest.param(*p.values, which, id=f"{p.id}-{which}") for p in LAYERS
    for which in ("activation", "recurrent_activation", "both")
    if p.values[0] is not SimpleRNN or which == "activation"])
def test_custom_activations_equal_rnn_of_the_cell(cls, settings, cell_cls, which):
    acts = dict(settings)
    if which in ("activation", "both"):
        acts["activation"] = half_tanh
    if which in ("recurrent_activation", "both"):
        acts["recurrent_activation"] = swish
    x = np.random.default_rng(4).standard_normal((3, 5, 2)).astype("float32")
    common = {"return_sequences": True, "go_backwards": True}
    layer, rnn = _built_pair(lambda: cls(4, **acts, **common),
                             lambda: RNN(cell_cls(4, **acts), **common), 2)
    assert [w.name.split("/")[-1] for w in layer.weights] == \
        ["kernel:0", "recurrent_kernel:0", "bias:0"]
    assert [w.shape for w in layer.weights] == [w.shape for w in rnn.weights]
    got = _run(layer, x, mask=MASK)
    _assert_same(_run(rnn, x, mask=MASK), got, 1e-6, 1e-7, f"{cls.__name__} vs RNN(cell)")
    # the activation matters: the fused default gives other numbers
    fused, _ = _built_pair(lambda: cls(4, **settings, **common), lambda: rnn, 2)
    assert not np.allclose(_run(fused, x, mask=MASK)[0][0], got[0][0], atol=1e-3)


@pytest.mark.parametrize("cls,settings", [
    (SimpleRNN, {"activation": swish}),
    (LSTM, {"activation": half_tanh, "recurrent_activation": swish}),
    (GRU, {"activation": swish, "reset_after": True}),
    (GRU, {"recurrent_activation": swish, "reset_after": False}),
])
def test_float64_gradients_match_finite_differences(cls, settings):
    rng = np.random.default_rng(5)
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    layer = cls(2, return_sequences=True, go_backwards=True, dtype="float64", **settings)
    layer.build((None, 3, 2))
    bias_shape = tuple(layer.bias.shape)
    mask = np.array([[1, 1, 0], [1, 1, 1]], dtype=bool)

    def fn(x, W, U, b):
        layer.kernel, layer.recurrent_kernel, layer.bias = W, U, b
        return layer.call(x, mask=mask)

    check_function_gradients(fn, [rng.standard_normal((2, 3, 2)),
                                  0.5 * rng.standard_normal((2, gates * 2)),
                                  0.5 * rng.standard_normal((2, gates * 2)),
                                  0.5 * rng.standard_normal(bias_shape)],
                             rtol=1e-5, atol=1e-7)


def test_emulated_kernels_equal_numpy(device_backend):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 5, 2)).astype("float32")
    makers = [lambda: SimpleRNN(3, activation=swish, return_sequences=True, go_backwards=True),
              lambda: LSTM(3, recurrent_activation=half_tanh, return_sequences=True),
              lambda: GRU(3, activation=swish, reset_after=False, go_backwards=True)]
    for make in makers:
        with dispatch.use_backend("numpy"):
            ref_layer = make()
            ref = _run(ref_layer, x, mask=MASK)
            weights = ref_layer.get_weights()
        layer = make()
        layer.build((None, 5, 2))
        layer.set_weights(weights)
        xt = ad.Variable(K.to_device(x))
        y = layer(xt, mask=K.to_device(MASK))
        loss = K.sum(y * K.convert_to_tensor(K.to_device(
            np.random.default_rng(7).standard_normal(y.shape).astype("float32"))))
        grads = ad.gradients(loss, list(layer.trainable_weights) + [xt])
        _assert_same(ref, ([K.to_host(y.data)], [K.to_host(g) for g in grads]), 1e-5, 1e-6,
                     f"{type(layer).__name__} on {device_backend}")


# ---------------------------------------------------------------- stateful
@pytest.mark.parametrize("cls,settings,cell_cls", LAYERS)
def test_stateful_layer_keeps_its_states_like_the_fused_one(cls, settings, cell_cls):
    x = np.random.default_rng(8).standard_normal((2, 6, 3)).astype("float32")

    def model(layer_settings):
        return Sequential([cls(4, stateful=True, batch_input_shape=(2, 3, 3),
                               **layer_settings)])

    fused, steps = model(settings), model(_rewritten(cls, settings))
    steps.set_weights(fused.get_weights())
    halves = [(m.predict(x[:, :3], batch_size=2), m.predict(x[:, 3:], batch_size=2))
              for m in (fused, steps)]
    for a, b in zip(halves[0], halves[1]):
        assert_close(b, a, 2e-5, 2e-6, f"stateful {cls.__name__}")
    # the second half started from the first half's states, not from zeros
    steps.reset_states()
    fresh = steps.predict(x[:, 3:], batch_size=2)
    assert not np.allclose(fresh, halves[1][1], atol=1e-4)
    # and reset_states() starts over
    steps.reset_states()
    assert_close(steps.predict(x[:, :3], batch_size=2), halves[1][0], 1e-6, 1e-7,
                 "after reset_states")
    kept = steps.layers[0].states
    assert len(kept) == (2 if cls is LSTM else 1) and kept[0].shape == (2, 4)


# ---------------------------------------------------------------- configs and saving
@pytest.fixture
def clean_registry():
    get_custom_objects().clear()
    yield
    get_custom_objects().clear()


def _model_with(name):
    set_random_seed(0)
    return Sequential([SimpleRNN(4, activation=name, input_shape=(5, 3),
                                 return_sequences=True),
                       LSTM(3, recurrent_activation=name),
                       Dense(2)])


def test_registered_name_saves_and_loads_hdf5_and_json(clean_registry, tmp_path):
    x = np.random.default_rng(9).standard_normal((4, 5, 3)).astype("float32")
    with CustomObjectScope({"my_act": half_tanh}):
        model = _model_with("my_act")
        model.compile("sgd", "mse")
        assert not model.layers[0].runs_fused
        expected = model.predict(x)
        assert model.layers[0].get_config()["activation"] == "my_act"
        assert model.layers[1].get_config()["recurrent_activation"] == "my_act"
        path = str(tmp_path / "custom_rnn.h5")
        model.save(path)
        spec = model.to_json()
    with pytest.raises(ValueError, match="my_act"):
        load_model(path)
    with CustomObjectScope({"my_act": half_tanh}):
        loaded = load_model(path)
        from_json = model_from_json(spec)
    from_json.set_weights(model.get_weights())
    assert loaded.layers[0].activation is half_tanh
    assert_close(loaded.predict(x), expected, 1e-6, 1e-7, "HDF5 round trip")
    assert_close(from_json.predict(x), expected, 1e-6, 1e-7, "JSON round trip")
    get_custom_objects()["my_act"] = half_tanh    # the global registry serves as well
    assert_close(load_model(path).predict(x), expected, 1e-6, 1e-7, "registry")


def test_invalid_activations_are_refused_clearly():
    with pytest.raises(ValueError, match=r"LSTM got an invalid `activation`.*Unknown "
                                         r"activation.*Received: activation='no_such'"):
        LSTM(4, activation="no_such")
    with pytest.raises(ValueError, match=r"GRU got an invalid `recurrent_activation`.*"
                                         r"Received: activation=5"):
        GRU(4, recurrent_activation=5)
    # softmax is not elementwise: the layer runs it step by step (over the units)
    layer = SimpleRNN(3, activation="softmax")
    y = layer(K.convert_to_tensor(np.ones((2, 4, 2), "float32")))
    assert not layer.runs_fused
    assert_close(K.to_host(y.data).sum(axis=-1), np.ones(2), 1e-6, 1e-6, "softmax rows")
    # the CuDNN layers keep their fixed cell
    with pytest.raises(TypeError, match=r"CuDNNLSTM has a fixed cell.*activation"):
        CuDNNLSTM(4, activation=swish)


def test_masking_from_an_embedding_and_bidirectional(clean_registry):
    get_custom_objects()["swish"] = swish
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    model = Sequential([Embedding(10, 3, mask_zero=True, input_length=5),
                        Bidirectional(LSTM(4, activation="swish"))])
    y = model.predict(tokens)
    # the padding of the first sample changes nothing
    trimmed = Sequential([Embedding(10, 3, input_length=3),
                          Bidirectional(LSTM(4, activation="swish"))])
    trimmed.set_weights(model.get_weights())
    assert_close(trimmed.predict(tokens[:1, :3]), y[:1], 1e-5, 1e-6, "masked padding")
    assert not model.layers[1].forward_layer.runs_fused


# ---------------------------------------------------------------- training
def test_lstm_with_a_swish_activation_learns_the_digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32").reshape(-1, 8, 8)   # rows as 8 time steps
    y = np.eye(10, dtype="float32")[digits.target]
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1400], order[1400:]
    set_random_seed(1)
    model = Sequential([LSTM(32, activation=swish, input_shape=(8, 8)),
                        Dense(10, activation="softmax")])
    assert not model.layers[0].runs_fused
    model.compile(Adam(lr=0.005), "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[train], y[train], epochs=20, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[test], y[test], verbose=0)
    print(f"held-out accuracy {accuracy:.3f}")
    assert accuracy > 0.8


def test_cuda_graph_replays_of_the_step_loop_equal_eager_steps(device_backend):
    from _replay_graphs import ReplayGraphs
    from test_cuda_graphs import _bind, _train
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data[:200] / 16.0).astype("float32").reshape(-1, 8, 8)
    y = digits.target[:200]

    def build():
        set_random_seed(3)
        model = Sequential([GRU(8, activation=swish, input_shape=(8, 8)),
                            Dense(10, activation="softmax")])
        model.compile(Adam(lr=0.01), "sparse_categorical_crossentropy", jit_compile=True)
        return model

    eager = build()
    eager._jit_compile = False
    loss_e, w_e = _train(eager, x, y, 6, 32)
    graphed = build()
    runner = _bind(graphed, ReplayGraphs())
    loss_g, w_g = _train(graphed, x, y, 6, 32)
    assert runner.failed is None and runner.ineligible is None
    assert runner.captures == 1 and runner.replays >= 3
    assert_close(loss_g, loss_e, 1e-6, 1e-7, "losses")
    for a, b in zip(w_g, w_e):
        assert_close(a, b, 1e-6, 1e-7, "weights")
    assert loss_g[-1] < loss_g[0]


def test_bidirectional_copies_an_unregistered_activation():
    x = np.random.default_rng(10).standard_normal((2, 5, 3)).astype("float32")
    forward = LSTM(4, activation=half_tanh, recurrent_activation=lambda v: K.sigmoid(v),
                   return_sequences=True)
    both = Bidirectional(forward, merge_mode="concat")
    y = both(K.convert_to_tensor(x))
    backward = both.backward_layer
    assert backward.activation is half_tanh and backward.go_backwards
    assert backward.recurrent_activation is forward.recurrent_activation
    rnn = RNN(LSTMCell(4, activation=half_tanh, recurrent_activation=lambda v: K.sigmoid(v)),
              return_sequences=True, go_backwards=True)
    rnn.build((None, 5, 3))
    rnn.set_weights(backward.get_weights())
    expected = K.to_host(rnn(K.convert_to_tensor(x)).data)[:, ::-1]
    assert_close(K.to_host(y.data)[..., 4:], expected, 1e-6, 1e-7, "backward half")
