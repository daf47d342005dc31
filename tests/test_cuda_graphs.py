"""CUDA-graph replay of training steps (gpuseq/engine/cuda_graphs.py).

On the CPU the CUDA op layer runs under the launch emulation, and
:class:`ReplayGraphs` stands in for a CUDA graph: capturing runs the step and
puts every state array back (a capture executes nothing), a launch runs the
step again with the scalar layout the capture fixed. Everything but the CUDA
capture itself is then exercised: the static inputs, the update kernels reading
their scalars from the device buffer, the check of a graph against eager steps,
the fallbacks and the bookkeeping of iterations. The ``gpu`` tests run the
real capture.
"""
import warnings

import numpy as np
import pytest

from gpuseq import optimizers
from gpuseq.backend import dispatch
from gpuseq.backend.cupy_ops import optimizer_updates as upd
from gpuseq.engine import cuda_graphs
from gpuseq.layers import Dense, Dropout
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed
from tests.conftest import _emulation_reason
from _replay_graphs import ReplayGraphs


@pytest.fixture
def emulated():
    if _emulation_reason():
        pytest.skip(_emulation_reason())
    with dispatch.use_backend("emulated"):
        yield "emulated"


# ------------------------------------------------- update kernels: the scalar buffer
UPDATES = {
    "sgd": (1, lambda p, g, s, c: upd.sgd_update(p, g, s[0], c, True),
            upd.sgd_scalars(0.03, 0.85)),
    "rmsprop": (1, lambda p, g, s, c: upd.rmsprop_update(p, g, s[0], c),
                upd.rmsprop_scalars(0.001, 0.9, 1e-7)),
    "adagrad": (1, lambda p, g, s, c: upd.adagrad_update(p, g, s[0], c),
                upd.adagrad_scalars(0.01, 1e-7)),
    "adadelta": (2, lambda p, g, s, c: upd.adadelta_update(p, g, s[0], s[1], c),
                 upd.adadelta_scalars(1.0, 0.95, 1e-7)),
    "adam": (2, lambda p, g, s, c: upd.adam_update(p, g, s[0], s[1], None, c, False),
             upd.adam_scalars(0.0013, 0.9, 0.999, 1e-7)),
    "amsgrad": (3, lambda p, g, s, c: upd.adam_update(p, g, s[0], s[1], s[2], c, True),
                upd.adam_scalars(0.002, 0.8, 0.99, 1e-7)),
    "adamax": (2, lambda p, g, s, c: upd.adamax_update(p, g, s[0], s[1], c),
               upd.adamax_scalars(0.002, 0.9, 0.999, 1e-7)),
    "nadam": (2, lambda p, g, s, c: upd.nadam_update(p, g, s[0], s[1], c),
              upd.nadam_scalars(0.002, 0.9, 0.999, 1e-7, 0.45, 0.46, 0.44, 0.2, 0.001)),
}


def _update_arrays(rng, n_state, dtype):
    p = rng.standard_normal(300).astype(dtype)
    g = rng.standard_normal(300).astype(dtype)
    state = [np.abs(rng.standard_normal(300)).astype(dtype) * 0.1 for _ in range(n_state)]
    return p, g, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(UPDATES))
def test_a_reused_scalar_buffer_is_read_afresh_by_every_launch(device_backend, rng, name,
                                                                dtype):
    """What a replayed graph relies on: kernels launched with one buffer read whatever
    the host last wrote there, bitwise as from a buffer made for those values."""
    n_state, call, scalars = UPDATES[name]
    p0, g0, s0 = _update_arrays(rng, n_state, dtype)
    dev = dispatch.to_device
    p, s = dev(p0.copy()), [dev(a.copy()) for a in s0]
    for _ in range(3):
        call(p, dev(g0), s, scalars)                       # a fresh buffer each call
    buffer = upd.load_step_scalars([7.0] * len(scalars))   # other values first
    np.testing.assert_array_equal(dispatch.to_host(buffer), [7.0] * len(scalars))
    p2, s2 = dev(p0.copy()), [dev(a.copy()) for a in s0]
    for _ in range(3):
        assert upd.load_step_scalars(scalars, buffer) is buffer
        call(p2, dev(g0), s2, buffer)
    # the buffer holds the NumPy rule's doubles, bitwise
    np.testing.assert_array_equal(dispatch.to_host(buffer), np.array(scalars, np.float64))
    np.testing.assert_array_equal(dispatch.to_host(p2), dispatch.to_host(p))
    for a, b in zip(s2, s):
        np.testing.assert_array_equal(dispatch.to_host(a), dispatch.to_host(b))


def test_no_scalars_are_written_while_a_step_is_captured(device_backend):
    from gpuseq.backend import autodiff as ad
    buffer = upd.load_step_scalars([1.0, 2.0])
    with ad.graph_capture():
        assert ad.capturing_graph()
        assert upd.load_step_scalars([3.0, 4.0], buffer) is buffer
        with pytest.raises(RuntimeError, match="before the capture"):
            upd.load_step_scalars([3.0, 4.0])
    assert not ad.capturing_graph()
    np.testing.assert_array_equal(dispatch.to_host(buffer), [1.0, 2.0])


@pytest.mark.parametrize("scalars,match", [
    ((0.1,), r"sgd reads 2 step scalars.*received 1"),
    ("buffer3", r"reads 2 float64 step scalars.*shape \(3,\)"),
])
def test_scalars_of_the_wrong_layout_are_refused(device_backend, scalars, match):
    p = dispatch.to_device(np.ones(4, np.float32))
    v = dispatch.to_device(np.zeros(4, np.float32))
    if scalars == "buffer3":
        scalars = upd.load_step_scalars([0.1, 0.9, 0.0])
    with pytest.raises(ValueError, match=match):
        upd.sgd_update(p, dispatch.to_device(np.ones(4, np.float32)), v, scalars, False)
    np.testing.assert_array_equal(dispatch.to_host(p), np.ones(4))
    np.testing.assert_array_equal(dispatch.to_host(v), np.zeros(4))


@pytest.mark.parametrize("make", [lambda: optimizers.Adam(lr=0.01, decay=0.1),
                                  lambda: optimizers.Nadam(),
                                  lambda: optimizers.SGD(lr=0.1, momentum=0.9)])
def test_an_optimizer_writes_its_scalars_once_per_step_into_one_buffer(
        device_backend, monkeypatch, rng, make):
    from gpuseq.backend import autodiff as ad
    ops = dispatch.ops()
    loads = []
    real = ops.load_step_scalars

    def counting(values, buffer=None):
        loads.append(tuple(values))
        return real(values, buffer)
    monkeypatch.setattr(ops, "load_step_scalars", counting)
    monkeypatch.setattr(upd, "load_step_scalars", counting)
    shapes = [(40000,), (3, 5), (7,), (200, 300)]          # two flat, two one by one
    ws = [ad.Variable(dispatch.to_device(rng.standard_normal(s).astype("float32")))
          for s in shapes]
    opt = make()
    buffers = []
    for step in range(3):
        want = opt.step_scalars()
        grads = [dispatch.to_device(rng.standard_normal(s).astype("float32")) for s in shapes]
        opt.apply_gradients(zip(grads, ws))
        assert loads == [want]                  # one write per step, this step's values
        loads.clear()
        buffer = opt.prepare_step()
        loads.clear()
        buffers.append(buffer)
        np.testing.assert_array_equal(dispatch.to_host(buffer),
                                      np.array(opt.step_scalars(), np.float64))
    assert buffers[0] is buffers[1] is buffers[2]
    assert opt.iterations == 3


# ------------------------------------------------------------------ the runner
def _graphed(model, api, warn=True):
    return cuda_graphs.GraphedStep(model, model.train_step, api=api,
                                   warn=warn)


def _bind(model, api):
    runner = _graphed(model, api)
    api.runner = runner
    model._graph_runner = runner
    return runner


def _eager_then_graphed(build):
    """Yield (model, None) to train eagerly, then (model, runner) replaying its steps.
    Each model is built once the previous one is done with (building reseeds)."""
    eager = build()
    eager._jit_compile = False
    yield eager, None
    graphed = build()
    yield graphed, _bind(graphed, ReplayGraphs())


def _model(opt, dropout=0.0, seed=None):
    set_random_seed(3)
    model = Sequential()
    model.add(Dense(16, activation="relu", input_shape=(64,)))
    if dropout:
        model.add(Dropout(dropout, seed=seed))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=True)
    return model


def _train(model, x, y, steps, batch):
    losses = []
    for i in range(steps):
        lo = (i * batch) % (len(x) - batch)
        losses.append(model.train_on_batch(x[lo:lo + batch], y[lo:lo + batch]))
    return np.array(losses), [w.copy() for w in model.get_weights()]


def _switched_off_run(x, y, make_opt, api, match, agree=None):
    """Five steps of an eager model and five of one whose graphs are switched off on the
    way (with a warning matching ``match``): the same losses, weights and iteration
    count. Returns the second model's runner."""
    eager = _model(make_opt())
    eager._jit_compile = False
    loss_e, w_e = _train(eager, x, y, 5, 32)
    model = _model(make_opt())
    runner = _bind(model, api)
    if agree is not None:
        runner.agree = agree
    with pytest.warns(RuntimeWarning, match=match):
        loss_g, w_g = _train(model, x, y, 5, 32)
    np.testing.assert_allclose(loss_g, loss_e, rtol=1e-6)
    for a, b in zip(w_g, w_e):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert model.optimizer.iterations == 5
    return runner


OPTS = {
    "sgd_decay_nesterov": lambda: optimizers.SGD(lr=0.05, decay=1e-2, momentum=0.9,
                                                 nesterov=True),
    "adam": lambda: optimizers.Adam(lr=0.01),
    "nadam": lambda: optimizers.Nadam(),
}


@pytest.mark.parametrize("opt", list(OPTS))
def test_replayed_steps_equal_eager_steps(emulated, digits, opt):
    x, y = digits
    x, y = x[:400], y[:400]
    eager = _model(OPTS[opt](), dropout=0.25)
    eager._jit_compile = False
    loss_e, w_e = _train(eager, x, y, 8, 32)
    graphed = _model(OPTS[opt](), dropout=0.25)
    api = ReplayGraphs()
    runner = _bind(graphed, api)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_g, w_g = _train(graphed, x, y, 8, 32)
    assert runner.failed is None and runner.ineligible is None
    assert runner.captures == 1 and runner.replays >= 4
    np.testing.assert_allclose(loss_g, loss_e, rtol=1e-6)
    for a, b in zip(w_g, w_e):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert graphed.optimizer.iterations == eager.optimizer.iterations == 8
    assert loss_g[-1, 0] < loss_g[0, 0]


def test_a_learning_rate_changed_between_steps_reaches_the_replays(emulated, digits):
    x, y = digits
    runs = []
    for model, _ in _eager_then_graphed(lambda: _model(optimizers.RMSprop(lr=0.01))):
        out = []
        for i in range(6):
            if i == 4:
                model.optimizer.lr = 0.001
            out.append(model.train_on_batch(x[32 * i:32 * i + 32], y[32 * i:32 * i + 32]))
        runs.append((np.array(out), model.get_weights()))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-6)
    for a, b in zip(runs[1][1], runs[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_fit_with_graphs_equals_eager_fit_and_counts_iterations(emulated, digits):
    x, y = digits
    histories = []
    for model, runner in _eager_then_graphed(lambda: _model(optimizers.Adam(lr=0.01),
                                                            dropout=0.2)):
        histories.append(model.fit(x[:600], y[:600], batch_size=64, epochs=4,
                                   verbose=0).history)
        assert model.optimizer.iterations == 40
    # 600 = 9 x 64 + 24: two batch shapes, each captured on its second step
    assert runner.captures == 2 and runner.failed is None
    for k in ("loss", "accuracy"):
        np.testing.assert_allclose(histories[1][k], histories[0][k], rtol=1e-6)
    assert histories[1]["loss"][-1] < 0.6 * histories[1]["loss"][0]


def test_a_graph_that_disagrees_with_eager_steps_is_switched_off(emulated, digits):
    x, y = digits
    runner = _switched_off_run(x, y, lambda: optimizers.SGD(lr=0.1),
                               ReplayGraphs(corrupt=True),
                               "differs between the replayed and the eager step")
    assert runner.failed is not None and runner.captures == 0


def test_a_capture_error_falls_back_to_eager_steps(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1))
    runner = _bind(model, ReplayGraphs(fail=RuntimeError("operation not permitted when "
                                                         "stream is capturing")))
    with pytest.warns(RuntimeWarning, match="capturing the step failed .*not permitted"):
        _train(model, x, y, 3, 32)
    assert runner.failed.startswith("capturing the step failed")
    assert model.optimizer.iterations == 3


def test_graphs_used_by_default_fall_back_without_a_warning(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1))
    runner = _graphed(model, ReplayGraphs(fail=RuntimeError("boom")), warn=False)
    runner.api.runner = runner
    model._graph_runner = runner
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(model, x, y, 3, 32)
    assert runner.failed == "capturing the step failed (RuntimeError: boom)"
    assert model.optimizer.iterations == 3


@pytest.mark.parametrize("value,expected", [("", None), ("auto", None), ("1", True),
                                            ("on", True), ("0", False), ("False", False)])
def test_the_environment_switch(monkeypatch, value, expected):
    monkeypatch.setenv("GPUSEQ_CUDA_GRAPHS", value)
    assert cuda_graphs.env_setting() is expected


def test_a_bad_environment_switch_is_refused(monkeypatch):
    monkeypatch.setenv("GPUSEQ_CUDA_GRAPHS", "maybe")
    with pytest.raises(ValueError, match="GPUSEQ_CUDA_GRAPHS must be 1/true/yes/on or "
                                         "0/false/no/off.*Received: GPUSEQ_CUDA_GRAPHS='maybe'"):
        cuda_graphs.env_setting()
    # where it has no effect (the NumPy backend, jit_compile=False) training is not stopped
    with dispatch.use_backend("numpy"):
        model = Sequential([Dense(2, input_shape=(3,))])
        model.compile("sgd", "mse", jit_compile=False)
        model.train_on_batch(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))


def _embedding_model():
    from gpuseq.layers import LSTM, Embedding
    set_random_seed(4)
    model = Sequential([Embedding(17, 6, input_length=8, mask_zero=True), LSTM(5),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy",
                  jit_compile=True)
    return model


def test_a_first_embedding_is_replayed_and_its_indices_checked_per_batch(emulated, digits):
    x, y = digits
    ids = np.floor(x[:, :8] * 16).astype(np.int64)               # (n, 8) in [0, 16]
    runs = []
    for model, runner in _eager_then_graphed(_embedding_model):
        runs.append(_train(model, ids, y, 6, 32))
    assert runner.captures == 1 and runner.replays >= 3 and runner.failed is None
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-6)
    for a, b in zip(runs[1][1], runs[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    before = [w.copy() for w in model.get_weights()]
    steps = model.optimizer.iterations
    bad = ids[:32].copy()
    bad[3, 2] = 17                                              # one past the vocabulary
    with pytest.raises(ValueError, match=r"indices in \[0, 17\]"):
        model.train_on_batch(bad, y[:32])
    assert model.optimizer.iterations == steps
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_an_embedding_after_the_first_layer_runs_eagerly(emulated):
    from gpuseq.layers import Embedding, Lambda
    model = Sequential([Lambda(lambda t: t, input_shape=(4,)), Embedding(9, 3)])
    model.compile("sgd", "mse", jit_compile=True)
    runner = _bind(model, ReplayGraphs())
    model.train_on_batch(np.ones((2, 4), np.int64), np.zeros((2, 4, 3), np.float32))
    assert "not the model's first layer" in runner.ineligible


def test_seeded_dropout_and_numpy_backend_run_eagerly_without_warning(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1), dropout=0.5, seed=7)
    runner = _bind(model, ReplayGraphs())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(model, x, y, 3, 32)
    assert "seeded host generator" in runner.ineligible and runner.captures == 0
    with dispatch.use_backend("numpy"):
        m = _model(optimizers.SGD(lr=0.1))
        assert m._train_function() == m.train_step


def test_recompiling_drops_the_graphs(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1))
    runner = _bind(model, ReplayGraphs())
    _train(model, x, y, 3, 32)
    assert runner.captures == 1 and runner.entries
    model.compile(optimizer=optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  jit_compile=False)
    assert model._graph_runner is None and model._train_function() == model.train_step


def test_jit_compile_is_validated(numpy_backend):
    model = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="jit_compile must be True, False, 'auto' or None"):
        model.compile("sgd", "mse", jit_compile="yes")
    model.compile("sgd", "mse", jit_compile="auto")
    assert model._train_function() == model.train_step


# ------------------------------------------------------------------ on a GPU
def _fit_eagerly_then_graphed_on_the_gpu(build, x, y, batch_size, epochs):
    """Fit a model from ``build()`` with every step eager, then one with replayed steps,
    on the GPU (warnings are errors): [(history, weights, graph runner)] for each."""
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device for the cupy backend: {why}")
    results = []
    with dispatch.use_backend("cupy"):
        for jit in (False, True):
            model = build()
            model._jit_compile = jit
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                hist = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                                 shuffle=False)
            results.append((hist.history, model.get_weights(), model._graph_runner))
    return results


@pytest.mark.gpu
def test_cuda_graph_fit_equals_eager_fit_on_the_gpu(digits):
    x, y = digits
    results = _fit_eagerly_then_graphed_on_the_gpu(
        lambda: _model(optimizers.SGD(lr=0.05, decay=1e-3, momentum=0.9, nesterov=True),
                       dropout=0.25), x[:600], y[:600], batch_size=64, epochs=3)
    runner = results[1][2]
    assert runner is not None and runner.failed is None and runner.captures == 2
    assert runner.replays >= 20
    np.testing.assert_allclose(results[1][0]["loss"], results[0][0]["loss"], rtol=1e-4)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_value_baked_into_the_graph_changed_mid_run_recaptures(emulated, digits):
    x, y = digits
    runs = []
    for model, runner in _eager_then_graphed(
            lambda: _model(optimizers.SGD(lr=0.1, momentum=0.5), dropout=0.2)):
        out = []
        for i in range(8):
            if i == 4:
                model.layers[1].rate = 0.5          # read on the host while capturing
                model.optimizer.clipvalue = 0.01
            out.append(model.train_on_batch(x[32 * i:32 * i + 32], y[32 * i:32 * i + 32]))
        runs.append(np.array(out))
    assert runner.captures == 2 and runner.failed is None
    np.testing.assert_allclose(runs[1], runs[0], rtol=1e-6)


def test_an_interrupt_while_capturing_leaves_the_model_as_before(emulated, digits):
    x, y = digits
    model = _model(optimizers.Adam())
    _bind(model, ReplayGraphs(fail=KeyboardInterrupt()))
    model.train_on_batch(x[:32], y[:32])
    model.train_on_batch(x[:32], y[:32])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(KeyboardInterrupt):
        model.train_on_batch(x[:32], y[:32])
    assert model.optimizer.iterations == 2
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def _layer_models():
    """Builders of small digits models with each GEMM-using layer family."""
    from gpuseq.layers import (GRU, LSTM, BatchNormalization, Conv1D, Conv2D, Flatten,
                               MaxPooling1D, MaxPooling2D, Reshape)
    return {
        "conv2d": lambda: [Reshape((8, 8, 1), input_shape=(64,)),
                           Conv2D(8, (3, 3), padding="same", activation="relu"),
                           MaxPooling2D((2, 2)), Flatten(), Dense(10, activation="softmax")],
        "conv2d_channels_first": lambda: [
            Reshape((1, 8, 8), input_shape=(64,)),
            Conv2D(6, (3, 3), activation="relu", data_format="channels_first"),
            Flatten(), Dense(10, activation="softmax")],
        "conv1d_bn": lambda: [Reshape((8, 8), input_shape=(64,)),
                              Conv1D(12, 3, activation="relu"), BatchNormalization(),
                              MaxPooling1D(2), Flatten(), Dense(10, activation="softmax")],
        "lstm": lambda: [Reshape((8, 8), input_shape=(64,)), LSTM(16, dropout=0.1),
                         Dense(10, activation="softmax")],
        "gru": lambda: [Reshape((8, 8), input_shape=(64,)), GRU(16, return_sequences=True),
                        Flatten(), Dense(10, activation="softmax")],
    }


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["conv2d", "conv2d_channels_first", "conv1d_bn", "lstm", "gru"])
def test_cuda_graphs_replay_conv_and_recurrent_models_on_the_gpu(digits, kind):
    def build():
        set_random_seed(5)
        model = Sequential(_layer_models()[kind]())
        model.compile(optimizer=optimizers.Adam(1e-3), metrics=["accuracy"],
                      loss="sparse_categorical_crossentropy")
        return model
    x, y = digits
    results = _fit_eagerly_then_graphed_on_the_gpu(build, x[:400], y[:400], batch_size=50,
                                                   epochs=2)
    runner = results[1][2]
    assert runner is not None and runner.failed is None, runner and runner.failed
    assert runner.captures == 1 and runner.replays >= 10
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(results[1][0][key], results[0][0][key], rtol=1e-4)
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_the_convolution_algorithm_is_part_of_the_graph_state(emulated):
    """A capture bakes in which convolution kernels run: switching the algorithm (or
    TF32) must lead to a new capture, not a replay of the old kernels."""
    from gpuseq.backend import session
    runner = _graphed(_model(optimizers.SGD(lr=0.1)), ReplayGraphs())
    before = (session._current["conv"], session.tf32_enabled())
    try:
        session.set_conv_algorithm("im2col")
        key = runner.state_key()
        session.set_conv_algorithm("implicit_gemm")
        assert runner.state_key() != key
        session.set_conv_algorithm("im2col")
        assert runner.state_key() == key
        session.set_tf32(not before[1])
        assert runner.state_key() != key
    finally:
        session._current["conv"] = before[0]
        session.set_tf32(before[1])


def test_layers_declare_what_a_capture_bakes_in_and_what_stops_it():
    from gpuseq.layers import LSTM, BatchNormalization, Embedding, GaussianNoise
    for layer, attr, value in [(Dense(3), "trainable", False),
                               (Dropout(0.2), "rate", 0.3),
                               (BatchNormalization(momentum=0.9), "momentum", 0.8),
                               (BatchNormalization(), "epsilon", 1e-2),
                               (GaussianNoise(0.1), "stddev", 0.2),
                               (LSTM(4, dropout=0.1), "dropout", 0.2)]:
        key = layer.graph_key()
        assert layer.graph_key() == key
        setattr(layer, attr, value)
        assert layer.graph_key() != key, (layer, attr)
        assert layer.graph_ineligibility(first=False) is None
    assert "seeded host generator" in LSTM(4, seed=3).graph_ineligibility(first=True)
    assert "seeded host generator" in Dropout(0.5, seed=3).graph_ineligibility(first=True)
    stateful = LSTM(4, stateful=True, batch_input_shape=(2, 3, 5))
    assert "is stateful" in stateful.graph_ineligibility(first=True)
    emb = Embedding(5, 2)
    assert emb.graph_ineligibility(first=True) is None
    assert "not the model's first layer" in emb.graph_ineligibility(first=False)
    emb.check_graph_inputs(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"indices in \[0, 5\]"):
        emb.check_graph_inputs(np.array([[0, 5]]))


def test_pinned_staging_reuses_a_row_only_after_its_copy_ran():
    """The GPU path of load_step_scalars, with a stand-in for CuPy: each copy reads its
    own page-locked row, and a row is written again only after waiting for the event
    recorded behind the copy that read it."""
    log = []

    class Event:
        def __init__(self, k):
            self.k = k

        def synchronize(self):
            log.append(("wait", self.k))

    class Stream:
        def __init__(self):
            self.n = 0

        def record(self):
            self.n += 1
            return Event(self.n)

    stream = Stream()

    class Cuda:
        @staticmethod
        def alloc_pinned_memory(nbytes):
            return bytearray(nbytes)

        @staticmethod
        def get_current_stream():
            return stream

    class Cupy:
        cuda = Cuda

    class Buffer:
        def set(self, arr, stream=None):
            assert stream is not None                 # asynchronous
            log.append(("copy", tuple(arr)))

    stage = upd._PinnedStaging(Cupy, 2)
    buf = Buffer()
    for step in range(stage.ROWS + 2):
        stage.copy(np.array([step, 0.5 * step]), buf)
    copies = [e for e in log if e[0] == "copy"]
    assert copies == [("copy", (float(s), 0.5 * s)) for s in range(stage.ROWS + 2)]
    # the first ROWS copies wait for nothing; then the events of copies 1 and 2
    assert [e for e in log if e[0] == "wait"] == [("wait", 1), ("wait", 2)]
    assert log.index(("wait", 1)) == stage.ROWS


# ------------------------------------- the capture decision and the votes of several ranks
def _step_data(model, x, y):
    """A batch as the runner takes it: ``([x], y, sample_weight)`` on the device."""
    from gpuseq.engine.data_adapters import input_list, on_device
    xs, yy, sw, _ = model._prepare(x, y)
    data = on_device(xs, yy, sw)
    return (input_list(data[0]),) + tuple(data[1:])


def test_mode_for_decides_without_counting_and_may_capture_defers(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1, momentum=0.5))
    runner = _bind(model, ReplayGraphs())
    data = _step_data(model, x[:32], y[:32])
    modes = []
    for may in (True, True, False, False, True, True):
        modes.append(runner.mode_for(data))
        assert runner.mode_for(data) == modes[-1]          # asking again changes nothing
        runner(data, may_capture=may)
    # the first step creates the optimizer's slots (a new state: its count starts
    # again), then one eager step of the shape; two deferred captures run eagerly
    assert modes == ["eager", "eager", "capture", "capture", "capture", "replay"]
    assert runner.captures == 1 and runner.failed is None
    assert model.optimizer.iterations == 6
    assert runner.mode_for(_step_data(model, x[:16], y[:16])) == "eager"   # a new shape
    keys = []
    real = runner.state_key
    runner.state_key = lambda: keys.append(1) or real()
    assert runner.mode_for(data) == "replay"
    runner(data)                        # the decision just made is reused: one state key
    assert len(keys) == 1 and runner.replays >= 4
    runner(data)
    assert len(keys) == 2


class _Votes:
    """``agree`` of a run whose other rank answers ``answers`` in turn (one process
    unit test of the protocol's logic)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.mine = []

    def __call__(self, flag):
        self.mine.append(bool(flag))
        return bool(flag) and self.answers.pop(0)


@pytest.mark.parametrize("answers,why", [
    ([False], "capturing the step failed on another rank"),
    ([True, False], "the replayed and the eager step differ on another rank"),
])
def test_a_rank_voting_no_switches_the_graphs_off_on_every_rank(emulated, digits, answers,
                                                                  why):
    x, y = digits
    votes = _Votes(answers)
    runner = _switched_off_run(x, y, lambda: optimizers.Adam(lr=0.01), ReplayGraphs(), why,
                               agree=votes)
    assert runner.failed == why and runner.captures == 0 and not runner.entries
    assert votes.mine == [True] * len(answers)             # this rank was fine


def test_every_rank_voting_yes_keeps_the_graph(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1))
    runner = _bind(model, ReplayGraphs())
    runner.agree = votes = _Votes([True, True])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _train(model, x, y, 5, 32)
    assert runner.captures == 1 and runner.failed is None and votes.mine == [True, True]


def test_an_error_after_the_capture_propagates_under_several_ranks(emulated, digits):
    """One process falls back to eager steps; under ``agree`` the other ranks are in the
    check's collectives, so the error is raised (and the state put back)."""
    x, y = digits

    class LaunchFails(ReplayGraphs):
        def launch(self, graph):
            raise RuntimeError("launch failed")
    for agree in (None, _Votes([True, True])):
        model = _model(optimizers.SGD(lr=0.1))
        runner = _bind(model, LaunchFails())
        runner.agree = agree
        data = _step_data(model, x[:32], y[:32])
        runner(data)
        runner(data)
        before = [w.copy() for w in model.get_weights()]
        if agree is None:
            with pytest.warns(RuntimeWarning, match="capturing the step failed .*launch"):
                runner(data)
            assert runner.failed is not None and model.optimizer.iterations == 3
            continue
        with pytest.raises(RuntimeError, match="launch failed"):
            runner(data)
        assert agree.mine == [True] and model.optimizer.iterations == 2
        for a, b in zip(model.get_weights(), before):
            np.testing.assert_array_equal(a, b)


def test_a_capture_error_on_this_rank_is_voted_and_shared(emulated, digits):
    x, y = digits
    model = _model(optimizers.SGD(lr=0.1))
    runner = _bind(model, ReplayGraphs(fail=RuntimeError("not permitted")))
    runner.agree = votes = _Votes([True])
    with pytest.warns(RuntimeWarning, match="capturing the step failed .*not permitted"):
        _train(model, x, y, 3, 32)
    assert votes.mine == [False] and model.optimizer.iterations == 3
