"""The host kernels of the NumPy backend (kernels/host/*.cpp, numpy_ops/_host.py).

The LSTM op runs its time loop in kernels/host/lstm_cell.cpp when the library builds
here, and as NumPy ufuncs otherwise. Both paths must give the same values (float64 to
rounding; float32 within the host's polynomial exp/tanh), the host path must not depend
on its thread count, and a machine that cannot build the library must still train.
The op-level tests of tests/test_recurrent_ops.py (references, float64 gradient checks)
run on whichever path is the default here.
"""
import multiprocessing
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gpuseq.backend import cxx_build
from gpuseq.backend.numpy_ops import _host
from gpuseq.backend.numpy_ops import recurrent
from gpuseq.testing import assert_close, check_op_gradients

from _host_paths import digits_sequences, loss_curves_on_both_paths

needs_host = pytest.mark.skipif(_host.library("lstm_cell") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("tanh", "hard_sigmoid"),
                    ("sigmoid", "hard_sigmoid"), ("relu", "linear"), ("linear", "tanh")]
CONFIGS = [
    dict(),
    dict(return_sequences=True),
    dict(go_backwards=True, return_sequences=True),
    dict(return_state=True),
    dict(return_sequences=True, return_state=True, go_backwards=True),
    dict(return_sequences=True, zero_output_for_mask=True),
    dict(zero_output_for_mask=True),
]


def _inputs(rng, dtype, n=5, t=6, f=4, u=3):
    x = rng.standard_normal((n, t, f)).astype(dtype)
    W = (rng.standard_normal((f, 4 * u)) * 0.6).astype(dtype)
    U = (rng.standard_normal((u, 4 * u)) * 0.6).astype(dtype)
    b = (rng.standard_normal(4 * u) * 0.3).astype(dtype)
    h0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    mask = np.ones((n, t), dtype=bool)
    mask[0, -2:] = False                                        # right padding
    mask[1:2, :2] = False                                       # left padding
    mask[2:3, 3] = False                                        # a hole
    rmask = (rng.random((n, u)) > 0.3).astype(dtype) / 0.7
    return x, W, U, b, h0, c0, mask, rmask


def _run_both(inputs, attrs, gy_seed=1):
    """Forward and backward on the host path and on the ufunc path."""
    results = []
    for on in (True, False):
        with _host.use(on):
            y, saved = recurrent.lstm_forward(*inputs, **attrs)
            assert ("host" in saved) == on
            gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
            grads = recurrent.lstm_backward(gy, saved, **attrs)
            results.append((y, saved["h_last"], saved["c_last"], grads))
    return results


@needs_host
@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("use_mask,use_rmask", [(False, False), (True, False), (True, True),
                                                (False, True)])
def test_host_lstm_equals_the_ufunc_path_in_float64(rng, activation, recurrent_activation, cfg,
                                                     use_mask, use_rmask):
    x, W, U, b, h0, c0, mask, rmask = _inputs(rng, np.float64)
    attrs = dict(cfg, activation=activation, recurrent_activation=recurrent_activation)
    inputs = (x, W, U, b, h0, c0, mask if use_mask else None, rmask if use_rmask else None)
    (y1, h1, c1, g1), (y2, h2, c2, g2) = _run_both(inputs, attrs)
    assert y1.shape == y2.shape and y1.dtype == y2.dtype == np.float64
    assert_close(y1, y2, 1e-10, 1e-12, "y")
    assert_close(h1, h2, 1e-10, 1e-12, "h_last")
    assert_close(c1, c2, 1e-10, 1e-12, "c_last")
    for i, (a, e) in enumerate(zip(g1, g2)):
        assert (a is None) == (e is None), f"gradient {i}"
        if a is not None:
            assert_close(a, e, 1e-9, 1e-11, f"gradient {i}")


@needs_host
@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS[:3])
def test_host_lstm_float32_matches_the_ufunc_path(rng, activation, recurrent_activation):
    x, W, U, b, h0, c0, mask, rmask = _inputs(rng, np.float32, n=37, t=9, f=7, u=19)
    attrs = dict(return_sequences=True, activation=activation,
                 recurrent_activation=recurrent_activation)
    (y1, _, c1, g1), (y2, _, c2, g2) = _run_both((x, W, U, b, h0, c0, mask, rmask), attrs)
    assert y1.dtype == np.float32 and g1[1].dtype == np.float32
    assert_close(y1, y2, 1e-4, 2e-6, "y")
    assert_close(c1, c2, 1e-4, 2e-6, "c_last")
    for i in range(6):
        assert_close(g1[i], g2[i], 1e-3, 2e-5, f"gradient {i}")


@needs_host
@pytest.mark.parametrize("use_mask", [False, True])
def test_host_lstm_gradients_by_finite_differences(rng, use_mask):
    x, W, U, b, h0, c0, mask, rmask = _inputs(rng, np.float64, n=3, t=4, f=3, u=2)
    with _host.use(True):
        check_op_gradients("lstm", [x, W, U, b, h0, c0, mask if use_mask else None, rmask],
                           dict(return_sequences=True, return_state=True), wrt=[0, 1, 2, 3, 4, 5])


@needs_host
@pytest.mark.parametrize("n", [1, 7, 64])
def test_host_lstm_results_do_not_depend_on_the_thread_count(rng, monkeypatch, n):
    x, W, U, b, h0, c0, mask, rmask = _inputs(rng, np.float32, n=n, t=5, f=6, u=33)
    mask = np.ones((n, 5), dtype=bool)
    mask[0, 1] = False
    attrs = dict(return_sequences=True)
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        y, saved = recurrent.lstm_forward(x, W, U, b, h0, c0, mask, rmask, **attrs)
        grads = recurrent.lstm_backward(np.ones_like(y), saved, **attrs)
        outs.append((y, grads))
    for y, grads in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            if a is not None:
                np.testing.assert_array_equal(a, e)


def test_row_threads_policy():
    assert _host.row_threads(64, 1000) == 1                     # too little work
    t = _host.row_threads(64, 1 << 24)
    assert 1 <= t <= 4
    assert _host.row_threads(9, 1 << 24) == 1                   # fewer than 8 rows a thread


def _fork_child_forward(_):
    rng = np.random.default_rng(0)
    x, W, U, b, h0, c0, _, _ = _inputs(rng, np.float32, n=64, t=4, f=8, u=32)
    y, _ = recurrent.lstm_forward(x, W, U, b, h0, c0)
    return float(np.abs(y).sum())


@needs_host
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_host_threads_work_in_a_forked_child(monkeypatch):
    monkeypatch.setattr(_host, "row_threads", lambda rows, macs: 2)
    here = _fork_child_forward(None)                            # the parent starts its pool
    with multiprocessing.get_context("fork").Pool(1) as pool:
        there = pool.apply_async(_fork_child_forward, (None,)).get(timeout=60)
    assert there == here


def test_a_failed_build_warns_once_and_the_ufunc_path_runs(rng, monkeypatch):
    monkeypatch.setattr(_host, "_loaded", {})
    monkeypatch.setattr(_host, "_failed", {})

    def broken(name):
        raise RuntimeError("g++ exited with 1: simulated")

    monkeypatch.setattr(_host, "_build", broken)
    x, W, U, b, h0, c0, _, _ = _inputs(rng, np.float64)
    with pytest.warns(RuntimeWarning, match="could not build its host kernels lstm_cell.cpp"):
        y, saved = recurrent.lstm_forward(x, W, U, b, h0, c0)
    assert "host" not in saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # no second warning
        y2, _ = recurrent.lstm_forward(x, W, U, b, h0, c0)
    np.testing.assert_array_equal(y, y2)
    with _host.use(False):
        y3, _ = recurrent.lstm_forward(x, W, U, b, h0, c0)
    np.testing.assert_array_equal(y, y3)


def test_no_compiler_means_the_ufunc_path_without_a_warning(rng, monkeypatch):
    monkeypatch.setattr(_host, "_loaded", {})
    monkeypatch.setattr(_host, "_failed", {})
    monkeypatch.setattr(cxx_build, "compiler", lambda: None)
    x, W, U, b, h0, c0, _, _ = _inputs(rng, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, saved = recurrent.lstm_forward(x, W, U, b, h0, c0)
    assert "host" not in saved
    assert _host.library("lstm_cell") is None


def test_environment_variable_switches_the_host_kernels_off():
    code = ("from gpuseq.backend.numpy_ops import _host; "
            "print(_host.enabled(), _host.library('lstm_cell'))")
    env = dict(os.environ, GPUSEQ_HOST_KERNELS="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "None"]


def test_use_restores_the_previous_setting():
    before = _host.enabled()
    with _host.use(False):
        assert not _host.enabled()
        assert _host.library("lstm_cell") is None
    assert _host.enabled() == before


@needs_host
def test_training_is_the_same_with_and_without_host_kernels():
    from gpuseq.layers import LSTM, Dense
    from gpuseq.models import Sequential
    from gpuseq.optimizers import Adam

    def build():
        model = Sequential([LSTM(24, input_shape=(8, 8)), Dense(10, activation="softmax")])
        model.compile(Adam(learning_rate=0.01), "categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = digits_sequences()
    host, numpy_path = loss_curves_on_both_paths(build, x, y, 3, batch_size=32, epochs=5)
    assert host[-1] < host[0] * 0.7                             # it learns
    assert_close(host, numpy_path, 1e-4, 1e-6, "loss per epoch")


def test_pointer_is_the_address_of_the_data():
    a = np.arange(12, dtype=np.float32)
    assert _host.pointer(a) == a.ctypes.data
    view = a[3:]                                                # an offset view
    assert _host.pointer(view) == a.ctypes.data + 3 * 4
    frozen = a.copy()
    frozen.flags.writeable = False                              # no writable buffer
    assert _host.pointer(frozen) == frozen.ctypes.data
    empty = np.empty(0, dtype=np.float64)
    assert _host.pointer(empty) == empty.ctypes.data
