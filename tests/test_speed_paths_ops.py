"""The CPU fast paths of the NumPy ops: values against plain references, and the process
state they rely on (BLAS thread sections, the allocator's threshold)."""
import platform
import resource
import sys

import numpy as np
import pytest

from gpuseq.backend.numpy_ops import _allocator, _blas_threads, conv, pooling


# ---------------------------------------------------------------------------
# conv: bias gradient as a matrix-vector product
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
def test_conv_bias_gradient_equals_the_sum_over_rows(rng, dtype, activation):
    z = rng.standard_normal((5, 31, 24)).astype(dtype)             # (N, L, C) pre-activation
    y = np.maximum(z, 0) if activation == "relu" else (np.tanh(z) if activation == "tanh" else z)
    gy = rng.standard_normal(z.shape).astype(dtype)
    gz, gb = conv._bias_act_backward(gy, y, z, activation, True, -1)
    if activation == "relu":
        want_gz = gy * (z > 0)
    elif activation == "tanh":
        want_gz = gy * (1 - y * y)
    else:
        want_gz = gy
    np.testing.assert_allclose(gz, want_gz, rtol=1e-6, atol=1e-7)
    want = want_gz.astype("float64").sum(axis=(0, 1))
    assert gb.shape == (24,) and gb.dtype == np.dtype(dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gb, want, rtol=tol, atol=tol)


def test_conv_bias_gradient_of_a_strided_or_channels_first_gradient(rng):
    gy = rng.standard_normal((4, 6, 10)).astype("float32")
    # a non-contiguous channels-last gradient (linear: gz is gy itself) takes the reduction
    view = gy[:, ::2]
    _, gb = conv._bias_act_backward(view, view, None, "linear", True, -1)
    np.testing.assert_allclose(gb, view.astype("float64").sum(axis=(0, 1)), rtol=2e-5)
    # channels first: the channel axis is 1
    _, gb1 = conv._bias_act_backward(gy, gy, None, "linear", True, 1)
    np.testing.assert_allclose(gb1, gy.astype("float64").sum(axis=(0, 2)), rtol=2e-5)
    _, none = conv._bias_act_backward(gy, gy, None, "linear", False, -1)
    assert none is None


def test_conv1d_bias_gradient_through_the_op(rng):
    x = rng.standard_normal((3, 12, 5)).astype("float32")
    k = rng.standard_normal((3, 5, 7)).astype("float32")
    b = rng.standard_normal(7).astype("float32")
    y, saved = conv.conv1d_forward(x, k, b, activation="relu")
    gy = rng.standard_normal(y.shape).astype("float32")
    _, _, gb = conv.conv1d_backward(gy, saved, activation="relu")
    want = (gy * (y > 0)).astype("float64").sum(axis=(0, 1))
    np.testing.assert_allclose(gb, want, rtol=2e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# global average pooling backward
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape,fmt", [((4, 9, 6), "channels_last"),
                                       ((4, 6, 9), "channels_first"),
                                       ((2, 3, 5, 4), "channels_last"),
                                       ((2, 4, 3, 5), "channels_first")])
def test_global_average_pool_backward_spreads_the_mean(rng, shape, fmt):
    n = shape[0]
    c = shape[-1] if fmt == "channels_last" else shape[1]
    size = int(np.prod(shape)) // (n * c)
    gy = rng.standard_normal((n, c)).astype("float32")
    (gx,) = pooling.global_pool_backward(gy, (shape, None), data_format=fmt, mode="avg")
    assert gx.shape == shape and gx.dtype == np.float32 and gx.flags.c_contiguous
    moved = gx if fmt == "channels_last" else np.moveaxis(gx, 1, -1)
    expect = np.broadcast_to((gy / size)[:, None, :], (n, size, c))
    np.testing.assert_array_equal(moved.reshape(n, size, c), expect)


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
