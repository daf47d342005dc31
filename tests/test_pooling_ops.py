"""Pooling and spatial reshaping ops on every path, by op.

Every path (the tuned NumPy code, the host C++ 1-D and global pooling of
kernels/host/pooling.cpp, the CUDA kernels of kernels/pooling.cu emulated on the CPU,
CuPy on a GPU) is checked against the direct-loop references of tests/reference.py,
values and gradients. Then: the NumPy code against the references by hand and in
float64 finite differences, the CUDA paths against the NumPy ones over many shapes, and
the host kernels against the NumPy path. Padding rules are TensorFlow's: padding never
wins a max and is not counted by an average; a max window's gradient goes to its first
maximum.
"""
import itertools

import numpy as np
import pytest

from gpuseq.backend import dispatch, numpy_ops
from gpuseq.backend.numpy_ops import _host, _pooling_host, pooling
from gpuseq.testing import assert_close, check_op_gradients, compare_with_numpy

from _host_paths import loss_curves_on_both_paths
from _op_paths import assert_matches_reference
from reference import (ref_global_pool, ref_pool1d, ref_pool1d_grad, ref_pool2d,
                       ref_pool2d_grad)

# ref_pool2d lived here before tests/reference.py; test modules that still import it from
# this module get it through the import above. Import it from reference instead.

POOL_CASES = list(itertools.product([(2, 2), (3, 2)], [None, (1, 1), (2, 3)], ["valid", "same"],
                                    ["max", "avg"], ["channels_last", "channels_first"]))


def _image(rng, shape, data_format, dtype=np.float64):
    x = rng.standard_normal(shape)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


# ---------------------------------------------------------------------------
# Every path against the direct-loop references: values and gradients
# ---------------------------------------------------------------------------

REF_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,padding,data_format", [
    ((2, 2), None, "valid", "channels_last"), ((3, 2), (2, 3), "same", "channels_last"),
    ((3, 3), (1, 1), "same", "channels_first")])
def test_pool2d_every_path_matches_the_reference(op_path, rng, pool, strides, padding,
                                                 data_format, mode, dtype):
    x = _image(rng, (2, 7, 8, 3), data_format, dtype)
    attrs = dict(pool_size=pool, strides=strides, padding=padding, data_format=data_format,
                 mode=mode)
    y_ref = ref_pool2d(x, pool, strides, padding, mode, data_format)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    gx = ref_pool2d_grad(x, gy, pool, strides, padding, mode, data_format)
    assert_matches_reference("pool2d", [x], attrs, y_ref, [gx], gy, **REF_TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,padding,data_format", [
    (2, None, "valid", "channels_last"), (3, 2, "same", "channels_last"),
    (3, 1, "same", "channels_last"), (4, 3, "valid", "channels_first")])
def test_pool1d_every_path_matches_the_reference(op_path, rng, pool, strides, padding,
                                                 data_format, mode, dtype):
    x = rng.standard_normal((3, 13, 5) if data_format == "channels_last" else (3, 5, 13))
    x = x.astype(dtype)
    attrs = dict(pool_size=pool, strides=strides, padding=padding, data_format=data_format,
                 mode=mode)
    y_ref = ref_pool1d(x, pool, strides, padding, mode, data_format)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    gx = ref_pool1d_grad(x, gy, pool, strides, padding, mode, data_format)
    assert_matches_reference("pool1d", [x], attrs, y_ref, [gx], gy, **REF_TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,data_format", [((3, 9, 5), "channels_last"),
                                               ((2, 4, 5, 3), "channels_last"),
                                               ((2, 3, 4, 5), "channels_first")])
def test_global_pool_every_path_matches_the_reference(op_path, rng, shape, data_format, mode,
                                                      dtype):
    x = rng.standard_normal(shape).astype(dtype)
    y_ref = ref_global_pool(x, data_format, mode)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    # the gradient: max sends gy to the (only) maximum, avg spreads gy / size
    moved = x if data_format == "channels_last" else np.moveaxis(x, 1, -1)
    flat = moved.reshape(shape[0], -1, moved.shape[-1]).astype(np.float64)
    if mode == "max":
        gflat = (flat == flat.max(axis=1, keepdims=True)) * gy[:, None, :]
    else:
        gflat = np.broadcast_to(gy[:, None, :] / flat.shape[1], flat.shape)
    gx = gflat.reshape(moved.shape)
    gx = gx if data_format == "channels_last" else np.moveaxis(gx, -1, 1)
    assert_matches_reference("global_pool", [x], dict(data_format=data_format, mode=mode),
                             y_ref, [gx], gy, **REF_TOL[dtype])


# ---------------------------------------------------------------------------
# The NumPy code against the direct loops, and float64 finite differences
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("pool,strides,padding,mode,data_format", POOL_CASES)
def test_pool2d_forward_matches_direct_loops(rng, pool, strides, padding, mode, data_format):
    x = _image(rng, (2, 7, 8, 3), data_format)
    y, _ = numpy_ops.pool2d_forward(x, pool, strides, padding, data_format, mode)
    np.testing.assert_allclose(y, ref_pool2d(x, pool, strides, padding, mode, data_format),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool,strides,padding,mode,data_format", POOL_CASES[::3])
def test_pool2d_gradients(rng, pool, strides, padding, mode, data_format):
    x = _image(rng, (2, 5, 6, 2), data_format)
    check_op_gradients("pool2d", [x], dict(pool_size=pool, strides=strides, padding=padding,
                                           data_format=data_format, mode=mode))


def test_max_pool_hand_computed_and_ties():
    x = np.array([[1, 3, 2, 0],
                  [4, 2, 0, 0],
                  [5, 6, 7, 8],
                  [0, 0, 8, 1]], dtype=np.float64).reshape(1, 4, 4, 1)
    y, saved = numpy_ops.pool2d_forward(x, (2, 2))
    np.testing.assert_array_equal(y[0, :, :, 0], [[4, 2], [6, 8]])
    (gx,) = numpy_ops.pool2d_backward(np.ones_like(y), saved, (2, 2))
    # each window's gradient goes to its maximum; the bottom-right window holds its
    # maximum 8 twice and only the first one (row-major window order) receives it
    expected = np.zeros((4, 4))
    expected[1, 0] = expected[0, 2] = expected[2, 1] = expected[2, 3] = 1
    np.testing.assert_array_equal(gx[0, :, :, 0], expected)
    avg, _ = numpy_ops.pool2d_forward(x, (2, 2), mode="avg")
    np.testing.assert_array_equal(avg[0, :, :, 0], [[2.5, 0.5], [2.75, 6]])


def test_avg_pool_same_divides_by_real_elements():
    x = np.ones((1, 3, 3, 1))
    y, _ = numpy_ops.pool2d_forward(x, (2, 2), padding="same", mode="avg")
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 1)))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pool1d_max_ties_route_to_the_first_maximum(data_format):
    x = np.array([1., 3., 3., 0., 2., 2., -1.]).reshape(1, 7, 1)
    if data_format == "channels_first":
        x = x.reshape(1, 1, 7)
    # disjoint windows [1 3 3] [0 2 2] (the last step is dropped by 'valid')
    y, saved = numpy_ops.pool1d_forward(x, 3, data_format=data_format)
    np.testing.assert_array_equal(y.ravel(), [3, 2])
    (gx,) = numpy_ops.pool1d_backward(np.array([10., 20.]).reshape(y.shape), saved, 3,
                                      data_format=data_format)
    np.testing.assert_array_equal(gx.ravel(), [0, 10, 0, 0, 20, 0, 0])
    # overlapping windows of 2, stride 1: [1 3] [3 3] [3 0] [0 2] [2 2] [2 -1]
    y, saved = numpy_ops.pool1d_forward(x, 2, 1, data_format=data_format)
    np.testing.assert_array_equal(y.ravel(), [3, 3, 3, 2, 2, 2])
    (gx,) = numpy_ops.pool1d_backward(np.ones_like(y), saved, 2, 1, data_format=data_format)
    np.testing.assert_array_equal(gx.ravel(), [0, 2, 1, 0, 2, 1, 0])


@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, None, "valid"),
                                                  (3, 2, "same"), (2, 1, "same")])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool1d_matches_direct_loops_and_gradients(rng, pool, strides, padding, mode):
    x = rng.standard_normal((2, 10, 3))
    y, _ = numpy_ops.pool1d_forward(x, pool, strides, padding, mode=mode)
    ref = ref_pool2d(x[:, None], (1, pool), (1, strides or pool), padding, mode)[:, 0]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    check_op_gradients("pool1d", [x], dict(pool_size=pool, strides=strides, padding=padding,
                                           mode=mode))
    xc = np.ascontiguousarray(x.transpose(0, 2, 1))
    yc, _ = numpy_ops.pool1d_forward(xc, pool, strides, padding, "channels_first", mode)
    np.testing.assert_allclose(yc, ref.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    check_op_gradients("pool1d", [xc], dict(pool_size=pool, strides=strides, padding=padding,
                                            data_format="channels_first", mode=mode))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (3, 7, 2)])
def test_global_pool(rng, data_format, mode, shape):
    x = rng.standard_normal(shape)
    y, _ = numpy_ops.global_pool_forward(x, data_format, mode)
    axes = tuple(range(1, x.ndim - 1)) if data_format == "channels_last" else \
        tuple(range(2, x.ndim))
    ref = x.max(axis=axes) if mode == "max" else x.mean(axis=axes)
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    check_op_gradients("global_pool", [x], dict(data_format=data_format, mode=mode))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_padding_cropping_upsampling(rng, data_format):
    x = _image(rng, (2, 3, 4, 2), data_format)
    attrs = dict(data_format=data_format)
    y, _ = numpy_ops.zero_padding_forward(x, ((1, 2), (0, 1)), **attrs)
    ref = np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)) if data_format == "channels_last"
                 else ((0, 0), (0, 0), (1, 2), (0, 1)))
    np.testing.assert_array_equal(y, ref)
    y, _ = numpy_ops.cropping_forward(x, ((1, 0), (1, 2)), **attrs)
    np.testing.assert_array_equal(y, x[:, 1:, 1:2] if data_format == "channels_last"
                                  else x[:, :, 1:, 1:2])
    y, _ = numpy_ops.upsampling_forward(x, (2, 3), **attrs)
    sp = (1, 2) if data_format == "channels_last" else (2, 3)
    np.testing.assert_array_equal(y, x.repeat(2, axis=sp[0]).repeat(3, axis=sp[1]))
    check_op_gradients("zero_padding", [x], dict(padding=((1, 2), (0, 1)), **attrs))
    check_op_gradients("cropping", [x], dict(cropping=((1, 0), (1, 2)), **attrs))
    check_op_gradients("upsampling", [x], dict(size=(2, 3), **attrs))


# ---------------------------------------------------------------------------
# Every backend against the NumPy twin
# ---------------------------------------------------------------------------

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("pool,strides,padding,mode,data_format", POOL_CASES)
def test_pool2d_matches_numpy(backend, rng, pool, strides, padding, mode, data_format):
    x = _image(rng, (2, 7, 8, 3), data_format)
    compare_with_numpy("pool2d", [x], dict(pool_size=pool, strides=strides, padding=padding,
                                           data_format=data_format, mode=mode),
                       **TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 4, 4, 2), (1, 1, 1, 1), (1, 16, 32, 1), (2, 6, 6, 257)])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_sizes_match_numpy(backend, rng, dtype, shape, mode):
    x = rng.standard_normal(shape).astype(dtype)
    # relu-like data: many exact ties at zero, where the first maximum gets the gradient
    x = np.maximum(x, 0)
    pool = (1, 1) if shape[1] == 1 else (2, 2)
    compare_with_numpy("pool2d", [x], dict(pool_size=pool, padding="same", mode=mode),
                       **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("shape,pool", [((2, 8, 6, 3), (2, 2)), ((1, 9, 8, 5), (3, 2)),
                                        ((3, 4, 4, 1), (4, 4))])
def test_tiling_windows_take_the_per_window_backward(device_backend, rng, monkeypatch, dtype,
                                                     mode, data_format, shape, pool):
    """Windows that tile the input (stride = pool, no remainder) are written one window
    per thread; the gradient is the gather's to the bit (ties, NaN windows, -0) and the
    NumPy twin's where the window holds no NaN."""
    from gpuseq.backend.cupy_ops import pooling as cupy_pooling
    x = np.maximum(rng.standard_normal(shape), 0).astype(dtype)   # ties at 0
    x.flat[::7] = np.nan
    x = x if data_format == "channels_last" else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    attrs = dict(pool_size=pool, padding="valid", data_format=data_format, mode=mode)
    ops = dispatch.ops()
    y, saved = ops.pool2d_forward(dispatch.to_device(x), **attrs)
    gy = rng.standard_normal(y.shape).astype(dtype)
    gy.flat[::5] = -0.0
    calls = []
    launch = cupy_pooling.launch_1d
    monkeypatch.setattr(cupy_pooling, "launch_1d",
                        lambda src, name, *a: (calls.append(name), launch(src, name, *a)))
    (tiled,) = ops.pool2d_backward(dispatch.to_device(gy), saved, **attrs)
    monkeypatch.setattr(cupy_pooling, "_tiles", lambda g: False)
    (gather,) = ops.pool2d_backward(dispatch.to_device(gy), saved, **attrs)
    assert calls == [f"{mode}_pool2d_backward_tiled", f"{mode}_pool2d_backward"]
    tiled, gather = dispatch.to_host(tiled), dispatch.to_host(gather)
    np.testing.assert_array_equal(tiled, gather)
    np.testing.assert_array_equal(np.signbit(tiled), np.signbit(gather))
    y_ref, saved_ref = numpy_ops.pool2d_forward(x, **attrs)
    (ref,) = numpy_ops.pool2d_backward(gy, saved_ref, **attrs)
    clean = np.isfinite(y_ref)                                      # windows without NaN
    (spread,) = numpy_ops.pool2d_backward(clean.astype(dtype), saved_ref, **attrs)
    np.testing.assert_allclose(tiled[spread != 0], ref[spread != 0], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pool1d_matches_numpy(backend, rng, mode, padding, data_format):
    x = rng.standard_normal((3, 11, 4) if data_format == "channels_last" else (3, 4, 11))
    compare_with_numpy("pool1d", [x], dict(pool_size=3, strides=2, padding=padding,
                                           data_format=data_format, mode=mode),
                       **TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (3, 16, 257), (1, 1, 1)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_global_pool_matches_numpy(backend, rng, dtype, shape, data_format, mode):
    x = rng.standard_normal(shape).astype(dtype)
    compare_with_numpy("global_pool", [x], dict(data_format=data_format, mode=mode),
                       **TOL[dtype])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_reshaping_matches_numpy(backend, rng, data_format):
    x = _image(rng, (2, 3, 4, 2), data_format, np.float32)
    attrs = dict(data_format=data_format)
    compare_with_numpy("zero_padding", [x], dict(padding=((1, 2), (0, 1)), **attrs))
    compare_with_numpy("cropping", [x], dict(cropping=((1, 0), (1, 2)), **attrs))
    compare_with_numpy("upsampling", [x], dict(size=(2, 3), **attrs))
    x1 = np.ascontiguousarray(x[:, 0])
    compare_with_numpy("zero_padding", [x1], dict(padding=((2, 1),), **attrs))
    compare_with_numpy("upsampling", [x1], dict(size=(3,), **attrs))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_a_stride_past_31_bits_takes_the_64_bit_body(backend, rng, mode):
    """A stride that does not fit the 32-bit index body (it would truncate to 0 there)."""
    x = rng.standard_normal((2, 5, 6, 3))
    compare_with_numpy("pool2d", [x], dict(pool_size=(2, 2), strides=(2 ** 32, 2),
                                           padding="valid", mode=mode), **TOL[np.float64])


# ---------------------------------------------------------------------------
# Global average pooling backward of the NumPy code
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
# The host C++ kernels (kernels/host/pooling.cpp, numpy_ops/_pooling_host.py) against the
# NumPy path: max pooling bitwise (including the first-maximum rule on ties, -inf and
# NaN), average pooling to rounding (float64 1e-12, float32 1e-6), for every pool size,
# stride, padding and channel count, with the host path independent of its thread count.
# ---------------------------------------------------------------------------

needs_host = pytest.mark.skipif(_host.library("pooling") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

HOST_TOL = {np.float32: (1e-6, 1e-6), np.float64: (1e-12, 1e-12)}


def _inputs(rng, shape, dtype, kind):
    """'ties': small integers (many equal maxima); 'normal': distinct values;
    'special': -inf, inf and NaN in places (whole windows of -inf among them)."""
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    if kind == "special":
        n, length, c = shape
        x[0, : min(4, length), : min(3, c)] = -np.inf
        x[-1, length // 2, 0] = np.nan
        x[-1, 1:3, -1] = np.inf
        x[:, :, c // 2] = -np.inf
    return x


def _pool1d(on, x, attrs, gy_seed=1):
    """Forward and backward of pool1d with the host kernels on or off."""
    with _host.use(on):
        y, saved = pooling.pool1d_forward(x, **attrs)
        gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
        (gx,) = pooling.pool1d_backward(gy, saved, **attrs)
    return y, gx, saved


def _assert_same(host, ref, dtype, mode, what):
    for name, a, e in zip(("y", "gx"), host, ref):
        assert a.shape == e.shape and a.dtype == e.dtype, f"{what}: {name}"
        if mode == "max":
            np.testing.assert_array_equal(a, e, err_msg=f"{what}: {name}")
        else:
            assert_close(a, e, *HOST_TOL[dtype], f"{what}: {name}")


@pytest.fixture
def host_calls(monkeypatch):
    """Counts the calls into the host wrappers (to see which path ran)."""
    calls = []
    for name in ("pool1d_forward", "pool1d_backward", "global_pool_forward",
                 "global_pool_backward"):
        real = getattr(_pooling_host, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(_pooling_host, name, spy)
    return calls


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3, None])
@pytest.mark.parametrize("pool", [1, 2, 3, 4])
def test_host_pool1d_equals_the_numpy_path(rng, host_calls, pool, strides, padding, mode,
                                           dtype):
    attrs = dict(pool_size=pool, strides=strides, padding=padding, mode=mode)
    for shape in [(3, 13, 5), (2, 7, 1), (2, 11, 3), (2, 10, 64)]:
        for kind in ("ties", "normal", "special"):
            x = _inputs(rng, shape, dtype, kind)
            host = _pool1d(True, x, attrs)
            ref = _pool1d(False, x, attrs)
            _assert_same(host[:2], ref[:2], dtype, mode, f"{shape} {kind}")
    assert host_calls.count("pool1d_forward") == host_calls.count("pool1d_backward") == 12


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool,strides,pads", [
    (3, 1, (2, 1)), (2, 2, (1, 3)), (3, 2, (0, 4)), (2, 1, (3, 0)), (4, 3, (5, 6)),
])
def test_host_pool1d_explicit_pads(rng, pool, strides, pads, mode, dtype):
    """Explicit pads, some of them as long as the pool: windows of padding only
    (max -inf, avg 0 / count as NumPy computes it)."""
    attrs = dict(pool_size=pool, strides=strides, padding=pads, mode=mode)
    for kind in ("ties", "special"):
        x = _inputs(rng, (2, 9, 6), dtype, kind)
        with np.errstate(divide="ignore", invalid="ignore"):
            host = _pool1d(True, x, attrs)
            ref = _pool1d(False, x, attrs)
        _assert_same(host[:2], ref[:2], dtype, mode, kind)


@needs_host
def test_host_pool1d_max_ties_route_to_the_first_maximum():
    x = np.array([1., 3., 3., 0., 2., 2., -1.]).reshape(1, 7, 1)
    with _host.use(True):
        y, saved = pooling.pool1d_forward(x, 3)
        assert saved[1] is x                                   # the unpadded input, kept
        np.testing.assert_array_equal(y.ravel(), [3, 2])
        (gx,) = pooling.pool1d_backward(np.array([10., 20.]).reshape(y.shape), saved, 3)
        np.testing.assert_array_equal(gx.ravel(), [0, 10, 0, 0, 20, 0, 0])
        # overlapping windows [1 3] [3 3] [3 0] [0 2] [2 2] [2 -1]: accumulated
        y, saved = pooling.pool1d_forward(x, 2, 1)
        (gx,) = pooling.pool1d_backward(np.ones_like(y), saved, 2, 1)
        np.testing.assert_array_equal(gx.ravel(), [0, 2, 1, 0, 2, 1, 0])
        # 'same' padding on a window of -inf: the padding comes first and takes it
        x = np.array([-np.inf, 1.]).reshape(1, 2, 1)
        y, saved = pooling.pool1d_forward(x, 3, 1, "same")
        np.testing.assert_array_equal(y.ravel(), [1, 1])
        (gx,) = pooling.pool1d_backward(np.ones_like(y), saved, 3, 1, "same")
        np.testing.assert_array_equal(gx.ravel(), [0, 2])


@needs_host
@pytest.mark.parametrize("on_forward", [True, False])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_host_pool1d_backward_after_the_host_kernels_were_switched(rng, on_forward, mode):
    """A forward pass on one path and the backward pass on the other: the NumPy backward
    pads the unpadded input a host forward pass saved, and a NumPy forward pass's padded
    input sends a max backward pass to NumPy."""
    x = _inputs(rng, (3, 11, 4), np.float64, "ties")
    attrs = dict(pool_size=3, strides=2, padding="same", mode=mode)
    with _host.use(on_forward):
        y, saved = pooling.pool1d_forward(x, **attrs)
    gy = rng.standard_normal(y.shape)
    with _host.use(not on_forward):
        (switched,) = pooling.pool1d_backward(gy, saved, **attrs)
    with _host.use(on_forward):
        (same,) = pooling.pool1d_backward(gy, saved, **attrs)
    np.testing.assert_array_equal(switched, same)


@needs_host
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_host_pool1d_channels_first_and_other_dtypes_stay_in_numpy(rng, host_calls, mode):
    x = rng.standard_normal((2, 4, 9))
    y, saved = pooling.pool1d_forward(x, 2, data_format="channels_first", mode=mode)
    pooling.pool1d_backward(np.ones_like(y), saved, 2, data_format="channels_first", mode=mode)
    x16 = rng.standard_normal((2, 9, 4)).astype(np.float16)
    y, saved = pooling.pool1d_forward(x16, 2, mode=mode)
    pooling.pool1d_backward(np.ones_like(y), saved, 2, mode=mode)
    assert host_calls == []
    pooling.pool1d_forward(x.transpose(0, 2, 1), 2, mode=mode)  # channels_last, strided
    assert host_calls == ["pool1d_forward"]


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("shape", [(16, 16, 128), (2, 5, 1), (2, 4, 5, 3), (3, 1, 7),
                                   (2, 30, 3), (4, 9, 17), (2, 40, 1)])
def test_host_global_pool_equals_the_numpy_path(rng, host_calls, shape, mode, dtype):
    for kind in ("ties", "normal", "special"):
        x = rng.standard_normal(shape).astype(dtype)
        if kind == "ties":
            x = np.round(x)
        elif kind == "special":
            x[0, ..., 0] = np.nan
            x[-1, 0, ...] = -np.inf
            x[-1, ..., -1] = np.inf
        gy = rng.standard_normal((shape[0], shape[-1])).astype(dtype)
        out = []
        for on in (True, False):
            with _host.use(on):
                y, saved = pooling.global_pool_forward(x, "channels_last", mode)
                (gx,) = pooling.global_pool_backward(gy, saved, "channels_last", mode)
            out.append((y, gx, saved))
        (y1, g1, s1), (y0, g0, s0) = out
        assert y1.dtype == g1.dtype == dtype and g1.shape == shape
        if mode == "max":
            np.testing.assert_array_equal(s1[1], s0[1])         # the argmax
            np.testing.assert_array_equal(y1, y0)
            np.testing.assert_array_equal(g1, g0)
        else:                           # NumPy sums one channel pairwise: to rounding
            assert_close(y1, y0, *HOST_TOL[dtype], "y")
            np.testing.assert_array_equal(g1, g0)
    assert host_calls.count("global_pool_forward") == 3


@needs_host
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_host_global_pool_backward_with_numpy_saved_state(rng, mode):
    """The argmax NumPy saves (int64) works in the host backward pass and back."""
    x = rng.standard_normal((3, 6, 5))
    gy = rng.standard_normal((3, 5))
    for on_forward in (True, False):
        with _host.use(on_forward):
            _, saved = pooling.global_pool_forward(x, mode=mode)
        grads = []
        for on in (True, False):
            with _host.use(on):
                grads.append(pooling.global_pool_backward(gy, saved, mode=mode)[0])
        np.testing.assert_array_equal(grads[0], grads[1])


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_pooling_results_do_not_depend_on_the_thread_count(rng, monkeypatch, dtype):
    x = _inputs(rng, (9, 50, 40), dtype, "ties")
    xg = _inputs(rng, (9, 30, 33), dtype, "normal")
    gyg = rng.standard_normal((9, 33)).astype(dtype)
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        run = []
        for mode in ("max", "avg"):
            for attrs in (dict(pool_size=3, strides=1, padding="same"),
                          dict(pool_size=2, padding="valid")):
                run.extend(_pool1d(True, x, dict(attrs, mode=mode))[:2])
            with _host.use(True):
                y, saved = pooling.global_pool_forward(xg, mode=mode)
                run.extend([y, pooling.global_pool_backward(gyg, saved, mode=mode)[0]])
        outs.append(run)
    for run in outs[1:]:
        for a, e in zip(run, outs[0]):
            np.testing.assert_array_equal(a, e)


@needs_host
@pytest.mark.parametrize("pool,strides,padding,mode", [
    (2, None, "valid", "avg"), (3, 1, "same", "avg"), (3, 2, "same", "avg"),
    (4, 3, (1, 2), "avg"), (2, None, "valid", "max"), (3, 1, "same", "max"),
    (3, 2, "same", "max"),
])
def test_host_pool1d_gradients_by_finite_differences(rng, pool, strides, padding, mode):
    x = rng.standard_normal((2, 10, 3))                 # distinct values: no ties
    with _host.use(True):
        check_op_gradients("pool1d", [x], dict(pool_size=pool, strides=strides,
                                               padding=padding, mode=mode))


@needs_host
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_host_global_pool_gradients_by_finite_differences(rng, mode):
    x = rng.standard_normal((2, 4, 3, 2))
    with _host.use(True):
        check_op_gradients("global_pool", [x], dict(data_format="channels_last", mode=mode))


@needs_host
def test_host_pooling_wrappers_refuse_bad_input(rng):
    fns = _pooling_host.functions(np.float64)
    x = rng.standard_normal((2, 8, 3))
    with pytest.raises(ValueError, match="Received: x.shape=\\(8, 3\\)"):
        _pooling_host.pool1d_forward(fns, x[0], 2, 2, (0, 0), "max")
    with pytest.raises(ValueError, match="Unknown pooling mode"):
        _pooling_host.pool1d_forward(fns, x, 2, 2, (0, 0), "median")
    for pool, stride, pads in ((0, 1, (0, 0)), (2, 0, (0, 0)), (2, 1, (-1, 0)),
                               (2.5, 1, (0, 0)), (2, 1, (0,))):
        with pytest.raises(ValueError, match="Received: pool_size="):
            _pooling_host.pool1d_forward(fns, x, pool, stride, pads, "avg")
    with pytest.raises(ValueError, match="Expected a numeric x"):
        _pooling_host.pool1d_forward(fns, x.astype(str), 2, 2, (0, 0), "max")
    y = _pooling_host.pool1d_forward(fns, x, 2, 2, (0, 0), "max")      # (2, 4, 3)
    with pytest.raises(ValueError, match="Received: gy.shape=\\(2, 3, 3\\)"):
        _pooling_host.pool1d_backward(fns, y[:, :3], x, y, 8, 2, 2, (0, 0), "max")
    with pytest.raises(ValueError, match="needs the forward input"):
        _pooling_host.pool1d_backward(fns, y, None, y, 8, 2, 2, (0, 0), "max")
    with pytest.raises(ValueError, match="Received: x.shape=\\(2, 7, 3\\)"):
        _pooling_host.pool1d_backward(fns, y, x[:, :7], y, 8, 2, 2, (0, 0), "max")
    with pytest.raises(ValueError, match="empty spatial extent"):
        _pooling_host.global_pool_forward(fns, np.zeros((2, 0, 3)), "avg")
    with pytest.raises(ValueError, match="at least 3 axes"):
        _pooling_host.global_pool_forward(fns, np.zeros((2, 3)), "avg")
    gy = np.ones((2, 3))
    with pytest.raises(ValueError, match="Received: gy.shape=\\(2, 3\\)"):
        _pooling_host.global_pool_backward(fns, gy, None, (2, 5, 4), "avg")
    with pytest.raises(ValueError, match="needs the argmax"):
        _pooling_host.global_pool_backward(fns, gy, None, (2, 5, 3), "max")
    for bad in (np.full((2, 3), 5), np.full((2, 3), -1)):
        with pytest.raises(ValueError, match="Expected argmax indices in \\[0, 5\\)"):
            _pooling_host.global_pool_backward(fns, gy, bad, (2, 5, 3), "max")
    with pytest.raises(ValueError, match="Received: argmax.shape=\\(3, 2\\)"):
        _pooling_host.global_pool_backward(fns, gy, np.zeros((3, 2), int), (2, 5, 3), "max")
    with pytest.raises(ValueError, match="integer argmax"):
        _pooling_host.global_pool_backward(fns, gy, np.zeros((2, 3)), (2, 5, 3), "max")


@needs_host
def test_host_pooling_kernels_refuse_bad_codes():
    """The C entry points check what the wrappers check and write nothing on refusal."""
    fns = _pooling_host.functions(np.float32)
    x = np.ones((1, 4, 2), np.float32)
    y = np.full((1, 2, 2), 7, np.float32)
    px, py = _host.pointer(x), _host.pointer(y)
    assert fns["pool1d_forward"](px, py, 1, 4, 2, 2, 2, 0, 2, 5, 1) == -1    # mode
    assert fns["pool1d_forward"](px, py, 1, 4, 2, 0, 2, 0, 2, 0, 1) == -1    # pool
    assert fns["pool1d_backward"](py, None, None, px, 1, 4, 2, 2, 2, 0, 2, 0, 1) == -1
    assert fns["global_pool_forward"](px, py, None, 1, 4, 2, 0, 1) == -1    # no argmax
    assert fns["global_pool_forward"](px, py, None, 1, 0, 2, 1, 1) == -1    # S = 0
    np.testing.assert_array_equal(y, 7)


def test_host_pooling_functions_only_for_float_dtypes():
    assert _pooling_host.functions(np.float16) is None
    assert _pooling_host.functions(np.int32) is None
    with _host.use(False):
        assert _pooling_host.functions(np.float32) is None


@needs_host
def test_pooling_training_is_the_same_with_and_without_host_kernels(rng):
    from gpuseq.layers import (AveragePooling1D, Dense, GlobalAveragePooling1D,
                               GlobalMaxPooling1D, MaxPooling1D)
    from gpuseq.models import Sequential
    from gpuseq.optimizers import SGD

    x = rng.standard_normal((64, 12, 6)).astype("float32")
    y = (x[:, :, 0].max(axis=1) > 1.2).astype("float32")[:, None]
    stacks = [lambda: [MaxPooling1D(3, strides=2, padding="same", input_shape=(12, 6)),
                       GlobalAveragePooling1D()],
              lambda: [AveragePooling1D(2, input_shape=(12, 6)), GlobalMaxPooling1D()]]
    for i, stack in enumerate(stacks):
        def build(stack=stack):
            model = Sequential(stack() + [Dense(1, activation="sigmoid")])
            model.compile(SGD(learning_rate=0.1), "binary_crossentropy")
            return model

        host, numpy_path = loss_curves_on_both_paths(build, x, y, 3, batch_size=16, epochs=2)
        assert_close(host, numpy_path, 1e-6, 1e-7, f"loss of stack {i}")


# ---------------------------------------------------------------------------
# 2-D max pooling: two 1-D host passes (rows, then columns of the row maxima)
# ---------------------------------------------------------------------------

def _images(rng, shape, dtype, kind):
    """(N, H, W, C) images of the kinds of :func:`_inputs` ('special': -inf, inf, NaN)."""
    n, h, w, c = shape
    x = _inputs(rng, (n, h * w, c), dtype, kind).reshape(shape)
    if kind == "special":
        x[:, : min(2, h), : min(3, w), 0] = -np.inf            # windows of -inf only
    return x


def _pool2d(on, x, attrs, gy_seed=1):
    with _host.use(on):
        y, saved = pooling.pool2d_forward(x, **attrs)
        gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
        (gx,) = pooling.pool2d_backward(gy, saved, **attrs)
    return y, gx, saved


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("pool,strides", [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 1)),
                                          ((3, 2), (3, 1)), ((1, 1), None), ((2, 2), (3, 3))])
def test_host_max_pool2d_equals_the_numpy_path(rng, host_calls, pool, strides, padding, dtype):
    """Values bitwise; gradients bitwise where windows do not overlap, else to the
    rounding of the order in which overlapping windows add onto one element."""
    attrs = dict(pool_size=pool, strides=strides, padding=padding, mode="max")
    overlap = strides is not None and any(s < p for s, p in zip(strides, pool))
    for shape in [(2, 9, 11, 5), (1, 6, 6, 1), (2, 8, 7, 40)]:
        for kind in ("ties", "normal", "special"):
            x = _images(rng, shape, dtype, kind)
            host, ref = _pool2d(True, x, attrs), _pool2d(False, x, attrs)
            assert host[2][3] is not None and ref[2][3] is None     # which path ran
            np.testing.assert_array_equal(host[0], ref[0], err_msg=f"{shape} {kind}: y")
            assert host[1].dtype == ref[1].dtype == dtype
            if overlap:
                assert_close(host[1], ref[1], *HOST_TOL[dtype], f"{shape} {kind}: gx")
            else:
                np.testing.assert_array_equal(host[1], ref[1], err_msg=f"{shape} {kind}: gx")
    assert host_calls.count("pool1d_forward") == host_calls.count("pool1d_backward") == 18


@needs_host
@pytest.mark.parametrize("pool,strides,padding", [((2, 2), None, "valid"),
                                                  ((3, 2), (2, 1), "same")])
def test_host_max_pool2d_matches_the_direct_loops(rng, pool, strides, padding):
    x = rng.standard_normal((2, 9, 8, 3))
    with _host.use(True):
        y, saved = pooling.pool2d_forward(x, pool, strides, padding, mode="max")
    assert saved[3] is not None
    np.testing.assert_array_equal(y, ref_pool2d(x, pool, strides, padding, "max"))
    with _host.use(True):
        check_op_gradients("pool2d", [x], dict(pool_size=pool, strides=strides,
                                               padding=padding, mode="max"))


@needs_host
def test_host_max_pool2d_backward_after_the_host_kernels_were_switched_off(rng):
    x = _images(rng, (2, 7, 9, 4), np.float64, "ties")
    attrs = dict(pool_size=(3, 3), strides=(2, 2), padding="same", mode="max")
    y, saved = pooling.pool2d_forward(x, **attrs)
    assert saved[3] is not None
    gy = np.random.default_rng(2).standard_normal(y.shape)
    with _host.use(False):
        (off,) = pooling.pool2d_backward(gy, saved, **attrs)
    (on,) = pooling.pool2d_backward(gy, saved, **attrs)
    assert_close(on, off, 1e-12, 1e-12, "gx")


@needs_host
def test_host_max_pool2d_leaves_average_and_channels_first_to_numpy(rng, host_calls):
    x = rng.standard_normal((2, 6, 6, 3))
    for attrs in (dict(mode="avg"), dict(mode="max", data_format="channels_first")):
        y, saved = pooling.pool2d_forward(x, (2, 2), **attrs)
        pooling.pool2d_backward(np.ones_like(y), saved, (2, 2), **attrs)
        assert saved[3] is None
    assert host_calls == []
