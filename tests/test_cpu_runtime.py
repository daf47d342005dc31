"""The NumPy backend's process machinery, shared by every op: the host kernel library
(kernels/host/*.cpp, numpy_ops/_host.py: builds, a failed build or a missing compiler,
the on/off switch, the thread policies, forked children, pointers), the single-thread
BLAS sections and the allocator threshold. The ops themselves are tested by family in
test_<family>_ops.py, on every path.
"""
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import warnings

import numpy as np
import pytest

from gpuseq.backend import cxx_build
from gpuseq.backend.numpy_ops import _allocator, _blas_threads, _host, recurrent

from _host_paths import lstm_inputs

needs_host = pytest.mark.skipif(_host.library("lstm_cell") is None,
                                reason="no C++ compiler: the host kernels cannot be built")


# ---------------------------------------------------------------------------
# The host kernel library
# ---------------------------------------------------------------------------

def test_row_threads_policy():
    assert _host.row_threads(64, 1000) == 1                     # too little work
    t = _host.row_threads(64, 1 << 24)
    assert 1 <= t <= 4
    assert _host.row_threads(9, 1 << 24) == 1                   # fewer than 8 rows a thread


def _fork_child_forward(_):
    rng = np.random.default_rng(0)
    x, W, U, b, h0, c0, _, _ = lstm_inputs(rng, np.float32, n=64, t=4, f=8, u=32)
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
    x, W, U, b, h0, c0, _, _ = lstm_inputs(rng, np.float64)
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
    x, W, U, b, h0, c0, _, _ = lstm_inputs(rng, np.float64)
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


def test_elementwise_threads_policy():
    # one thread: a second one competes with BLAS threads still spinning after the
    # gradients' GEMMs (see _host.elementwise_threads)
    for n in (1000, 40000, 1 << 20, 1 << 26):
        assert _host.elementwise_threads(n) == 1


# ---------------------------------------------------------------------------
# BLAS thread sections
# ---------------------------------------------------------------------------

def test_single_blas_thread_sections_nest_and_restore():
    if not _blas_threads.blas_controllable():
        pytest.skip("threadpoolctl cannot reach the BLAS library here")
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2, user_api="blas"):
        if _blas_threads.blas_num_threads() != 2:
            pytest.skip("the BLAS library cannot run two threads here")
        assert _blas_threads._depth[0] == 0
        with _blas_threads.single_blas_thread():
            assert _blas_threads.blas_num_threads() == 1
            assert _blas_threads._warm["done"]
            with _blas_threads.single_blas_thread():
                assert _blas_threads._depth[0] == 2
                assert _blas_threads.blas_num_threads() == 1
            assert _blas_threads.blas_num_threads() == 1       # the inner one restored nothing
        assert _blas_threads._depth[0] == 0
        assert _blas_threads.blas_num_threads() == 2
        # an exception inside still restores the setting and the depth
        with pytest.raises(RuntimeError):
            with _blas_threads.single_blas_thread():
                raise RuntimeError("inside")
        assert _blas_threads._depth[0] == 0
        assert _blas_threads.blas_num_threads() == 2


def test_ops_inside_an_op_keep_one_thread():
    """A recurrent op (decorated, with its own one-thread loop) run inside a caller's
    one-thread section leaves the caller's setting as it found it."""
    if not _blas_threads.blas_controllable():
        pytest.skip("threadpoolctl cannot reach the BLAS library here")
    from gpuseq.backend.numpy_ops import recurrent
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype("float32")
    kernel = rng.standard_normal((4, 20)).astype("float32")
    rec = rng.standard_normal((5, 20)).astype("float32")
    with _blas_threads.single_blas_thread():
        y, _ = recurrent.lstm_forward(x, kernel, rec, None, None, None)
        assert _blas_threads.blas_num_threads() == 1
    assert _blas_threads._depth[0] == 0
    assert y.shape == (2, 5)


# ---------------------------------------------------------------------------
# allocator threshold
# ---------------------------------------------------------------------------

def test_prime_runs_once():
    _allocator.prime()
    assert _allocator._state["done"]
    _allocator.prime()                                 # a no-op the second time
    assert _allocator._state["done"]


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the mmap threshold is glibc's")
def test_medium_temporaries_reuse_heap_memory_after_prime():
    """After prime(), arrays of 0.2-2 MiB come from the heap: allocating, touching and
    freeing them over and over costs (almost) no page faults."""
    _allocator.prime()
    sizes = [200_000, 700_000, 2_000_000]               # bytes, all above glibc's initial 128 KiB
    for s in sizes:                                     # first use may grow the heap
        a = np.ones(s // 4, dtype=np.float32)
        del a
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(30):
        for s in sizes:
            a = np.ones(s // 4, dtype=np.float32)       # writes every page
            del a
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # without the raised threshold every array is a fresh mapping: ~700 faults per round
    assert faults < 200, faults
