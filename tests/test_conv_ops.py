"""Convolution ops (im2col / col2im, conv2d, conv1d): the NumPy twin against an
independent direct-loop reference, float64 finite differences, the adjointness of
im2col and col2im, and every backend (emulated CUDA, GPU) against the NumPy twin.
"""
import itertools
import math

import numpy as np
import pytest

from gpuseq.backend import dispatch, numpy_ops
from gpuseq.backend.numpy_ops import _host
from gpuseq.backend.numpy_ops import conv as np_conv
from gpuseq.testing import check_op_gradients, compare_with_numpy

@pytest.fixture(params=["host", "blas"])
def conv1d_path(request):
    """Runs a conv1d test on the host kernels (where they build) and on im2col + BLAS."""
    with _host.use(request.param == "host"):
        yield request.param


# ---------------------------------------------------------------------------
# Independent reference: direct loops over output pixels and kernel taps
# ---------------------------------------------------------------------------


def ref_pads(n, k, stride, dilation, padding):
    """TensorFlow's padding rule, written out: (before, after)."""
    ek = (k - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ek - 1, 0
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + ek - n, 0)
    return total // 2, total - total // 2


def ref_act(z, activation):
    if activation == "relu":
        return np.maximum(z, 0)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-z))
    assert activation == "linear"
    return z


def ref_conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1),
               data_format="channels_last", activation="linear"):
    """Cross-correlation by direct loops on an NHWC copy of x."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    (pt, pb), (pl, pr) = (ref_pads(h, kh, strides[0], dilation[0], padding),
                          ref_pads(w, kw, strides[1], dilation[1], padding))
    xp = np.zeros((n, h + pt + pb, w + pl + pr, x.shape[3]))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = (h + pt + pb - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (w + pl + pr - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    y = np.zeros((n, oh, ow, cout))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for c in range(kw):
                        r = i * strides[0] + a * dilation[0]
                        pix = xp[b, r, j * strides[1] + c * dilation[1]]
                        y[b, i, j] += pix @ kernel[a, c]
    if bias is not None:
        y += bias
    y = ref_act(y, activation)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_conv1d(x, kernel, bias, stride=1, padding="valid", dilation=1,
               data_format="channels_last", activation="linear"):
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    n, length, _ = x.shape
    k, _, cout = kernel.shape
    pa, pb = ref_pads(length, k, stride, dilation, padding)
    xp = np.concatenate([np.zeros((n, pa, x.shape[2])), x, np.zeros((n, pb, x.shape[2]))], 1)
    ol = (length + pa + pb - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((n, ol, cout))
    for t in range(ol):
        for a in range(k):
            y[:, t] += xp[:, t * stride + a * dilation] @ kernel[a]
    if bias is not None:
        y += bias
    y = ref_act(y, activation)
    return y.transpose(0, 2, 1) if data_format == "channels_first" else y


def _image(rng, n, h, w, c, data_format, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


CONV2D_CASES = list(itertools.product(
    [(1, 1), (2, 1), (2, 3)],                    # strides
    ["valid", "same"],                           # padding
    [(1, 1), (2, 1), (1, 2)],                    # dilation
    ["channels_last", "channels_first"]))


# ---------------------------------------------------------------------------
# NumPy twin against the direct loops
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("strides,padding,dilation,data_format", CONV2D_CASES)
def test_conv2d_forward_matches_direct_loops(rng, strides, padding, dilation, data_format):
    x = _image(rng, 2, 7, 8, 3, data_format)
    kernel = rng.standard_normal((3, 2, 3, 4))
    bias = rng.standard_normal(4)
    y, _ = numpy_ops.conv2d_forward(x, kernel, bias, strides, padding, dilation, data_format,
                                    "relu")
    ref = ref_conv2d(x, kernel, bias, strides, padding, dilation, data_format, "relu")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv2d_hand_computed():
    # 1x3x3x1 image 1..9, 2x2 kernel of ones, no padding: sums of each 2x2 block
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    kernel = np.ones((2, 2, 1, 1))
    y, _ = numpy_ops.conv2d_forward(x, kernel, np.array([0.5]))
    np.testing.assert_array_equal(y[0, :, :, 0], [[12.5, 16.5], [24.5, 28.5]])
    # 'same' with a 2x2 kernel pads one row / column at the bottom / right only (TF rule)
    y, _ = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    # cross-correlation, not convolution: the kernel is not flipped
    k = np.zeros((2, 2, 1, 1))
    k[0, 0] = 1
    y, _ = numpy_ops.conv2d_forward(x, k, None)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2], [4, 5]])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_forward_matches_direct_loops(rng, padding, stride, dilation, data_format,
                                             conv1d_path):
    x = rng.standard_normal((2, 11, 3))
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    kernel = rng.standard_normal((3, 3, 5))
    bias = rng.standard_normal(5)
    y, _ = numpy_ops.conv1d_forward(x, kernel, bias, stride, padding, dilation, data_format,
                                    "tanh")
    ref = ref_conv1d(x, kernel, bias, stride, padding, dilation, data_format, "tanh")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv1d_causal_sees_only_the_past(rng, conv1d_path):
    x = rng.standard_normal((1, 8, 2))
    kernel = rng.standard_normal((3, 2, 1))
    y1, _ = numpy_ops.conv1d_forward(x, kernel, None, padding="causal", dilation_rate=2)
    x2 = x.copy()
    x2[0, 5:] += 10.0                   # change the future from step 5 on
    y2, _ = numpy_ops.conv1d_forward(x2, kernel, None, padding="causal", dilation_rate=2)
    np.testing.assert_array_equal(y1[0, :5], y2[0, :5])
    assert not np.allclose(y1[0, 5:], y2[0, 5:])


@pytest.mark.parametrize("budget", [1, 4096, 1 << 30])
def test_conv2d_chunking_does_not_change_results(rng, monkeypatch, budget):
    x = _image(rng, 5, 6, 7, 2, "channels_last")
    kernel = rng.standard_normal((3, 3, 2, 3))
    ref_y, ref_saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    gy = rng.standard_normal(ref_y.shape)
    ref_g = numpy_ops.conv2d_backward(gy, ref_saved, padding="same")
    monkeypatch.setattr(np_conv, "COL_BUFFER_BYTES", budget)
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    g = numpy_ops.conv2d_backward(gy, saved, padding="same")
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    for a, b in zip(g[:2], ref_g[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_blocked_gemms_do_not_change_results(rng, monkeypatch, data_format):
    """The single-thread GEMM blocking (inner dimensions cut into pieces) is exact."""
    x = _image(rng, 3, 9, 8, 5, data_format)
    kernel = rng.standard_normal((3, 3, 5, 4))
    attrs = dict(padding="same", data_format=data_format, activation="relu")
    monkeypatch.setattr(np_conv, "BLAS_BLOCKING", False)
    y0, s0 = numpy_ops.conv2d_forward(x, kernel, None, **attrs)
    gy = rng.standard_normal(y0.shape)
    g0 = numpy_ops.conv2d_backward(gy, s0, **attrs)
    monkeypatch.setattr(np_conv, "BLAS_BLOCKING", True)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 7)       # 45 columns, 216 rows: many pieces
    y1, s1 = numpy_ops.conv2d_forward(x, kernel, None, **attrs)
    g1 = numpy_ops.conv2d_backward(gy, s1, **attrs)
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1[:2], g0[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y1, ref_conv2d(x, kernel, None, padding="same",
                                              data_format=data_format, activation="relu"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("small_gemm_macs", [0, 1 << 62])
def test_conv2d_blas_thread_policy_does_not_change_results(rng, monkeypatch, small_gemm_macs):
    """Whether an op runs on one BLAS thread (blocked GEMMs) or on the library's
    threads (whole GEMMs), the result is the same."""
    from gpuseq.backend.numpy_ops import _blas_threads
    x = _image(rng, 2, 6, 5, 3, "channels_last")
    kernel = rng.standard_normal((2, 3, 3, 4))
    monkeypatch.setattr(_blas_threads, "SMALL_GEMM_MACS", small_gemm_macs)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 5)
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    np.testing.assert_allclose(y, ref_conv2d(x, kernel, None, padding="same"), rtol=1e-12,
                               atol=1e-12)
    check_op_gradients("conv2d", [x, kernel, None], dict(padding="same"))


@pytest.mark.parametrize("small_gemm_macs", [0, 1 << 62])
@pytest.mark.parametrize("col_budget", [None, 1])
def test_conv1d_blas_policy_and_chunking_do_not_change_results(rng, monkeypatch,
                                                               small_gemm_macs, col_budget):
    """conv1d on one BLAS thread (blocked GEMMs) or several, with the columns kept
    from the forward pass or rebuilt chunk by chunk (a 1-byte budget: one sample per
    chunk): the same values and gradients (the im2col path, host kernels off)."""
    from gpuseq.backend.numpy_ops import _blas_threads
    monkeypatch.setattr(_host, "_state", dict(_host._state, enabled=False))
    monkeypatch.setattr(_blas_threads, "SMALL_GEMM_MACS", small_gemm_macs)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 4)
    if col_budget is not None:
        monkeypatch.setattr(np_conv, "COL_BUFFER_BYTES", col_budget)
    x = rng.standard_normal((3, 40, 4))             # 3 x 38 rows: several row blocks
    kernel = rng.standard_normal((3, 4, 5))
    bias = rng.standard_normal(5)
    attrs = dict(padding="same", activation="relu")
    y, saved = numpy_ops.conv1d_forward(x, kernel, bias, **attrs)
    assert (saved[4] is None) == (col_budget is not None)      # the kept columns
    np.testing.assert_allclose(y, ref_conv1d(x, kernel, bias, padding="same",
                                             activation="relu"), rtol=1e-12, atol=1e-12)
    check_op_gradients("conv1d", [x, kernel, bias], attrs)


def test_conv_column_buffer_is_bounded_for_the_vgg_batch():
    """A 32x100x100x3 batch through the VGG-like model: each chunk's columns fit the budget."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    for budget in (np_conv.COL_BUFFER_BYTES, cupy_conv.COL_BUFFER_BYTES):
        assert budget <= 256 << 20
        for hw, cin in ((98, 32), (46, 32), (44, 64), (98, 3)):  # (output size, input channels)
            per_sample = hw * hw * 9 * cin * 4
            step = np_conv.chunk_size(32, per_sample, budget)
            assert step * per_sample <= max(budget, per_sample)
            assert step >= 1


# ---------------------------------------------------------------------------
# Gradients (float64 finite differences of the NumPy twin)
# ---------------------------------------------------------------------------

GRAD_CASES = [
    ((1, 1), "same", (1, 1), "channels_last", "relu"),
    ((2, 1), "same", (1, 2), "channels_last", "tanh"),
    ((2, 2), "valid", (1, 1), "channels_last", "linear"),
    ((1, 1), "valid", (2, 1), "channels_last", "sigmoid"),
    ((1, 1), "same", (1, 1), "channels_first", "linear"),
    ((2, 1), "same", (1, 2), "channels_first", "tanh"),
    ((1, 2), "valid", (2, 1), "channels_first", "relu"),
]


@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_gradients(rng, strides, padding, dilation, data_format, activation, with_bias):
    x = _image(rng, 2, 5, 6, 3, data_format)
    kernel = rng.standard_normal((3, 2, 3, 2))
    bias = rng.standard_normal(2) if with_bias else None
    check_op_gradients("conv2d", [x, kernel, bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation))


@pytest.mark.parametrize("padding,stride,dilation", [("valid", 1, 1), ("same", 2, 1),
                                                     ("causal", 1, 2), ("same", 1, 3)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_gradients(rng, padding, stride, dilation, data_format, conv1d_path):
    if padding == "causal" and data_format == "channels_first":
        pytest.skip("causal padding is defined for channels_last")
    x = rng.standard_normal((2, 9, 3) if data_format == "channels_last" else (2, 3, 9))
    check_op_gradients("conv1d", [x, rng.standard_normal((3, 3, 4)), rng.standard_normal(4)],
                       dict(strides=stride, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation="tanh"))


def test_conv2d_without_input_gradient(rng):
    x = _image(rng, 2, 5, 5, 2, "channels_last")
    kernel = rng.standard_normal((3, 3, 2, 2))
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, input_grad=False)
    gx, gk, gb = numpy_ops.conv2d_backward(np.ones_like(y), saved, input_grad=False)
    assert gx is None and gb is None
    _, saved = numpy_ops.conv2d_forward(x, kernel, None)
    np.testing.assert_allclose(gk, numpy_ops.conv2d_backward(np.ones_like(y), saved)[1])


def test_conv2d_strided_input_gradient_uses_col2im(rng):
    # stride 2 input gradients go through col2im; stride 1 through a transposed
    # convolution: both must equal the finite differences
    for strides in ((2, 2), (1, 1)):
        x = _image(rng, 1, 6, 5, 2, "channels_last")
        check_op_gradients("conv2d", [x, rng.standard_normal((2, 3, 2, 3)), None],
                           dict(strides=strides, padding="same"), wrt=[0])


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------

IM2COL_CASES = [
    ((3, 3), (1, 1), "valid", (1, 1)),
    ((3, 2), (2, 1), "same", (1, 2)),
    ((2, 2), (2, 2), "same", (1, 1)),
    ((1, 3), (1, 3), "valid", (1, 1)),
    ((3, 3), (1, 1), ((2, 0), (1, 3)), (2, 1)),   # explicit pads
]


@pytest.mark.parametrize("channels", [3, 8])     # 8: the 16-byte kernels of channels_last
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
def test_im2col_col2im_adjoint(backend, rng, ksize, strides, padding, dilation, data_format,
                               channels):
    """<im2col(x), c> == <x, col2im(c)> for random x and c."""
    x = _image(rng, 2, 7, 6, channels, data_format)
    attrs = dict(kernel_size=ksize, strides=strides, padding=padding, dilation_rate=dilation,
                 data_format=data_format)
    ops = dispatch.ops()
    col, saved = ops.im2col_forward(dispatch.to_device(x), **attrs)
    c = rng.standard_normal(col.shape)
    (gx,) = ops.im2col_backward(dispatch.to_device(c), saved, **attrs)
    lhs = float(np.sum(dispatch.to_host(col) * c))
    rhs = float(np.sum(x * dispatch.to_host(gx)))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


def test_im2col_layout_channels_last():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float64).reshape(2, 3, 3, 2)
    col, _ = numpy_ops.im2col_forward(x, (2, 2))
    assert col.shape == (2 * 2 * 2, 2 * 2 * 2)
    # row (n=1, oy=1, ox=0): pixels (1,0), (1,1), (2,0), (2,1), channels innermost
    np.testing.assert_array_equal(col[1 * 4 + 2], np.concatenate(
        [x[1, 1, 0], x[1, 1, 1], x[1, 2, 0], x[1, 2, 1]]))


def test_im2col_layout_channels_first():
    x = np.arange(1 * 2 * 3 * 3, dtype=np.float64).reshape(1, 2, 3, 3)
    col, _ = numpy_ops.im2col_forward(x, (2, 2), data_format="channels_first")
    assert col.shape == (1, 2 * 2 * 2, 2 * 2)
    # row (c=1, ky=0, kx=1) over the output pixels (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(col[0, 1 * 4 + 0 * 2 + 1], [x[0, 1, 0, 1], x[0, 1, 0, 2],
                                                              x[0, 1, 1, 1], x[0, 1, 1, 2]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
def test_vector_im2col_kernels_equal_the_scalar_ones(backend, rng, monkeypatch, ksize, strides,
                                                     padding, dilation, dtype):
    """The 16-byte channels-last im2col / col2im kernels give bitwise the scalar ones'
    results (col2im sums in the same order)."""
    if backend == "numpy":
        pytest.skip("CUDA kernels only (emulated or on the GPU)")
    from gpuseq.backend.cupy_ops import conv as cu_conv
    x = dispatch.to_device(_image(rng, 2, 7, 6, 8, "channels_last", dtype))
    attrs = dict(kernel_size=ksize, strides=strides, padding=padding, dilation_rate=dilation)
    assert cu_conv._vector_ok(8, x)
    results = []
    for vector in (True, False):
        if not vector:
            monkeypatch.setattr(cu_conv, "_vector_ok", lambda c, *arrays: False)
        col, saved = cu_conv.im2col_forward(x, **attrs)
        c = dispatch.to_device(np.random.default_rng(5).standard_normal(col.shape).astype(dtype))
        (gx,) = cu_conv.im2col_backward(c, saved, **attrs)
        results.append((dispatch.to_host(col), dispatch.to_host(gx)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---------------------------------------------------------------------------
# Every backend against the NumPy twin (emulated CUDA in CI, the GPU where present)
# ---------------------------------------------------------------------------

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("channels", [3, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_im2col_matches_numpy(backend, rng, ksize, strides, padding, dilation, data_format,
                              dtype, channels):
    x = _image(rng, 2, 7, 6, channels, data_format, dtype)
    compare_with_numpy("im2col", [x], dict(kernel_size=ksize, strides=strides, padding=padding,
                                           dilation_rate=dilation, data_format=data_format),
                       **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
def test_conv2d_matches_numpy(backend, rng, strides, padding, dilation, data_format,
                              activation, dtype):
    x = _image(rng, 3, 6, 7, 3, data_format, dtype)
    kernel = rng.standard_normal((3, 2, 3, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    compare_with_numpy("conv2d", [x, kernel, bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation), **TOL[dtype])


@pytest.mark.parametrize("n,h,w,cin,cout", [(0, 5, 5, 2, 3), (1, 1, 1, 1, 1), (1, 16, 16, 1, 1),
                                            (2, 9, 15, 3, 257), (3, 5, 4, 17, 2),
                                            (2, 9, 7, 8, 4)])
def test_conv2d_sizes_match_numpy(backend, rng, n, h, w, cin, cout):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    kernel = rng.standard_normal((1 if h == 1 else 3, 1 if w == 1 else 3, cin, cout))
    compare_with_numpy("conv2d", [x, kernel.astype(np.float32),
                                  rng.standard_normal(cout).astype(np.float32)],
                       dict(padding="same", activation="relu"), **TOL[np.float32])


def test_conv2d_chunked_matches_numpy(backend, rng, monkeypatch):
    """The GPU path's batch chunks (forced tiny here) give the same result."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    monkeypatch.setattr(cupy_conv, "COL_BUFFER_BYTES", 1000)
    x = _image(rng, 4, 5, 5, 2, "channels_first")
    compare_with_numpy("conv2d", [x, rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)],
                       dict(padding="same", data_format="channels_first"), **TOL[np.float64])
    compare_with_numpy("conv2d", [np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                                  rng.standard_normal((3, 3, 2, 3)), None],
                       dict(padding="same"), **TOL[np.float64])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_matches_numpy(backend, rng, padding, dtype):
    x = rng.standard_normal((3, 13, 4)).astype(dtype)
    compare_with_numpy("conv1d", [x, rng.standard_normal((3, 4, 6)).astype(dtype),
                                  rng.standard_normal(6).astype(dtype)],
                       dict(strides=2, padding=padding, dilation_rate=1, activation="relu"),
                       **TOL[dtype])


def test_conv1d_channels_first_matches_numpy(backend, rng):
    x = rng.standard_normal((2, 4, 10))
    compare_with_numpy("conv1d", [x, rng.standard_normal((2, 4, 3)), None],
                       dict(padding="same", dilation_rate=2, data_format="channels_first"),
                       **TOL[np.float64])
