"""Pooling and spatial reshaping ops: the NumPy twin against independent direct
loops, float64 finite differences, and every backend against the NumPy twin.
"""
import itertools
import math

import numpy as np
import pytest

from gpuseq.backend import dispatch, numpy_ops
from gpuseq.testing import check_op_gradients, compare_with_numpy


def ref_pool2d(x, pool, strides, padding, mode, data_format="channels_last"):
    """Direct loops over the output pixels; TF padding, padding excluded from windows."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    strides = strides or pool
    pads = []
    for size, p, s in zip((h, w), pool, strides):
        if padding == "valid":
            pads.append(0)
            continue
        out = math.ceil(size / s)
        pads.append(max((out - 1) * s + p - size, 0) // 2)
    if padding == "valid":
        oh, ow = (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1
    else:
        oh, ow = math.ceil(h / strides[0]), math.ceil(w / strides[1])
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - pads[0], j * strides[1] - pads[1]
            win = x[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w)]
            y[:, i, j] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


POOL_CASES = list(itertools.product([(2, 2), (3, 2)], [None, (1, 1), (2, 3)], ["valid", "same"],
                                    ["max", "avg"], ["channels_last", "channels_first"]))


def _image(rng, shape, data_format, dtype=np.float64):
    x = rng.standard_normal(shape)
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


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
