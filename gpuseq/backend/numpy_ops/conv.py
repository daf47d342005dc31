"""NumPy reference: convolution as im2col + one GEMM.

Twin: ``cupy_ops/conv.py`` (kernels/conv.cu for im2col / col2im, the GEMM through
``cupy.matmul``, bias + activation through kernels/activations.cu).

Layouts of the im2col op (the same in both twins):

* ``channels_last`` (NHWC, first class): ``x`` is ``(N, H, W, C)``. The column
  matrix of a batch is ``(N*OH*OW, KH*KW*C)`` with columns ordered ``(ky, kx, c)``,
  so the Keras kernel ``(KH, KW, C, OUT)`` reshaped to ``(KH*KW*C, OUT)`` multiplies
  it directly and the product ``(N*OH*OW, OUT)`` *is* the NHWC output.
* ``channels_first`` (NCHW): ``x`` is ``(N, C, H, W)``. The column tensor is
  ``(N, C*KH*KW, OH*OW)`` with rows ordered ``(c, ky, kx)``; the output of each
  sample is ``kernel^T (OUT, C*KH*KW) @ col[n]``, already NCHW.

Convolution is cross-correlation (as in TensorFlow, no kernel flip). ``'same'``
padding follows TensorFlow: the output length is ``ceil(length / stride)`` and an
odd total padding puts the extra element at the bottom / right.

On the CPU the convolution itself always runs in NHWC (channels_first input is
transposed in and out once per call, which is cheaper than channels-first columns).
Where the host kernels build (``_conv2d_host``, kernels/host/conv2d.cpp) Conv2D runs
as an implicit GEMM that reads each window in place, with bias and activation applied
per tile, for every stride, dilation and padding; the input gradient of a strided
convolution is then the one piece taken from the im2col code below (a GEMM with the
transposed kernel, then col2im). Without them (no compiler, ``GPUSEQ_HOST_KERNELS=0``,
other dtypes) the im2col path below runs whole. The batch is
processed in chunks so that the column buffer stays bounded (``COL_BUFFER_BYTES``,
one reused workspace); the backward pass recomputes the columns of each chunk
instead of keeping them alive between forward and backward. The input gradient of
a stride-1 convolution is itself a convolution (of the padded output gradient with
the flipped, transposed kernel); strided ones use col2im.

Conv1D has its own path on ``(N, L, C)`` (no height-1 image). Where the host kernels
build (``_conv1d_host``, kernels/host/conv1d.cpp) it runs as an implicit GEMM that
reads each window in place, with bias and activation applied per tile. Otherwise the
columns ``(N*OL, K*C)`` are one strided view of the padded input copied once, and
when the whole batch's columns fit ``COL_BUFFER_BYTES`` (always for the usual
sequence models) they are kept from the forward pass for the weight gradient, so
each training step builds them once and every GEMM covers the whole batch.

BLAS threads (``_blas_threads``): an op whose largest GEMM has fewer than
``SMALL_GEMM_MACS`` multiply-adds runs on one BLAS thread, with the GEMMs blocked
as described at :data:`BLAS_BLOCKING`; larger ones use the library's threads and
whole GEMMs. The choice depends on the shapes only.
"""
import functools
import math
import os

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _blas_threads, _conv1d_host, _conv2d_host

from .activations import (activation_grad, bias_activation_backward,
                          bias_activation_forward)

# Upper bound of the column buffer of one chunk (bytes). The batch is split so
# that a chunk's columns stay under it (at least one sample per chunk).
COL_BUFFER_BYTES = 32 << 20

_FAST_KINDS = ("linear", "relu")


def _blas_single_threaded():
    """True when the process's BLAS runs on one thread (from the usual variables)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        v = os.environ.get(var)
        if v:
            try:
                return int(v.split(",")[0]) == 1
            except ValueError:
                return False
    return (os.cpu_count() or 1) == 1


# Single-threaded OpenBLAS (the BLAS of the NumPy wheels) runs the skinny GEMMs of a
# convolution 2-5x slower once their inner dimension exceeds a few hundred. With one
# BLAS thread, the GEMMs below therefore keep every inner dimension <= GEMM_INNER and
# accumulate the pieces; with several threads one large call is faster. None = decide
# from the thread setting; True / False force it.
BLAS_BLOCKING = None
GEMM_INNER = 192
_SINGLE_THREAD_BLAS = _blas_single_threaded()
_blas_state = {"single": False}     # inside a one-BLAS-thread section (see _blas_policy)


def _blocking():
    if BLAS_BLOCKING is not None:
        return bool(BLAS_BLOCKING)
    return _SINGLE_THREAD_BLAS or _blas_state["single"]


def _blas_policy(macs):
    """Decorator: run a conv op on one BLAS thread (with blocked GEMMs) when its largest
    GEMM is small (< _blas_threads.SMALL_GEMM_MACS multiply-adds, where thread hand-off
    costs more than it saves); otherwise with the library's threads and whole GEMMs.
    ``macs(*args, **kwargs)`` estimates the op's largest GEMM. The choice depends on the
    sizes only, so an op always runs the same way. A large op under a caller's
    one-thread limit (e.g. ``threadpool_limits(1)``) blocks its GEMMs too."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if _blas_state["single"]:
                return fn(*args, **kwargs)
            if macs(*args, **kwargs) >= _blas_threads.SMALL_GEMM_MACS:
                if _blas_threads.blas_num_threads() != 1:
                    return fn(*args, **kwargs)
                # the caller limited BLAS to one thread (e.g. threadpool_limits(1)):
                # block the GEMMs as for a small op
                _blas_state["single"] = True
                try:
                    return fn(*args, **kwargs)
                finally:
                    _blas_state["single"] = False
            with _blas_threads.single_blas_thread():
                _blas_state["single"] = _blas_threads.blas_controllable()
                try:
                    return fn(*args, **kwargs)
                finally:
                    _blas_state["single"] = False
        return wrapper
    return deco


def _conv_macs(x, kernel, bias, ksize, strides, dil, pads, out_hw, *args):
    """Multiply-adds of a 2-D convolution's forward GEMM."""
    return x.shape[0] * math.prod(out_hw) * math.prod(kernel.shape)


def _conv_backward_macs(gy, saved, *args, **kwargs):
    x, kernel = saved[0], saved[1]
    return math.prod(x.shape[:-1]) * math.prod(kernel.shape)


def matmul_nn(a, b, out):
    """out = a (M, K) @ b (K, N), the inner dimension K in blocks when blocking is on."""
    k = a.shape[1]
    if k <= GEMM_INNER or not _blocking():
        return np.matmul(a, b, out=out)
    pieces = -(-k // GEMM_INNER)
    w = -(-k // pieces)
    np.matmul(a[:, :w], b[:w], out=out)
    tmp = np.empty_like(out)
    for s in range(w, k, w):
        np.matmul(a[:, s:s + w], b[s:s + w], out=tmp)
        out += tmp
    return out


def matmul_tn(a, g, out):
    """out = a (M, K)^T @ g (M, N): the long M (rows of a batch) in blocks when
    blocking is on. out: (K, N)."""
    m = a.shape[0]
    if m <= 2 * GEMM_INNER or not _blocking():
        return np.matmul(a.T, g, out=out)
    np.matmul(a[:GEMM_INNER].T, g[:GEMM_INNER], out=out)
    return matmul_tn_add(a[GEMM_INNER:], g[GEMM_INNER:], out)


def matmul_tn_add(a, g, acc):
    """acc += a (M, K)^T @ g (M, N): the long M (rows of a batch) in blocks when
    blocking is on. acc: (K, N)."""
    m = a.shape[0]
    if m <= 2 * GEMM_INNER or not _blocking():
        acc += a.T @ g
        return acc
    tmp = np.empty_like(acc)
    for s in range(0, m, GEMM_INNER):
        np.matmul(a[s:s + GEMM_INNER].T, g[s:s + GEMM_INNER], out=tmp)
        acc += tmp
    return acc


# ---------------------------------------------------------------------------
# Shape arithmetic (pure Python; shared with the layers and the CuPy twin)
# ---------------------------------------------------------------------------

def normalize_tuple(value, n, name):
    """An int or an iterable of ints as a tuple of n ints (errors name the argument)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        t = tuple(value)
    except TypeError:
        raise ValueError(f"The `{name}` argument must be an integer or a tuple of {n} "
                         f"integers. Received: {name}={value!r}") from None
    if len(t) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                              for v in t):
        raise ValueError(f"The `{name}` argument must be an integer or a tuple of {n} "
                         f"integers. Received: {name}={value!r}")
    return tuple(int(v) for v in t)


def effective_kernel(k, dilation):
    """Extent of a dilated kernel: (k - 1) * dilation + 1."""
    return (k - 1) * dilation + 1


def padding_amounts(length, k, padding, stride, dilation=1):
    """(before, after) padding of one spatial axis for 'valid' | 'same' | 'causal'."""
    if padding == "valid":
        return (0, 0)
    ek = effective_kernel(k, dilation)
    if padding == "causal":
        return (ek - 1, 0)
    if padding == "same":
        out = -(-length // stride)
        total = max((out - 1) * stride + ek - length, 0)
        return (total // 2, total - total // 2)
    raise ValueError("Unknown padding. Expected 'valid', 'same' or 'causal'. "
                     f"Received: padding={padding!r}")


def conv_output_length(length, k, padding, stride, dilation=1):
    """Output length of a convolution / pooling axis (None stays None), as in Keras."""
    if length is None:
        return None
    ek = effective_kernel(k, dilation)
    if padding in ("same", "causal"):
        return -(-length // stride)
    if padding == "valid":
        return -(-(length - ek + 1) // stride)
    raise ValueError("Unknown padding. Expected 'valid', 'same' or 'causal'. "
                     f"Received: padding={padding!r}")


def resolve_pads(spatial, kernel_size, strides, padding, dilation_rate):
    """Explicit ((before, after), ...) pads per spatial axis.

    ``padding`` is 'valid' / 'same' / 'causal' or already explicit pairs.
    """
    if isinstance(padding, str):
        return tuple(padding_amounts(n, k, padding, s, d)
                     for n, k, s, d in zip(spatial, kernel_size, strides, dilation_rate))
    return tuple((int(a), int(b)) for a, b in padding)


def output_spatial(spatial, kernel_size, strides, pads, dilation_rate):
    """Output sizes per spatial axis from explicit pads (floor division, like the kernels)."""
    out = []
    for n, k, s, (pa, pb), d in zip(spatial, kernel_size, strides, pads, dilation_rate):
        ek = effective_kernel(k, d)
        m = n + pa + pb - ek
        out.append(m // s + 1 if m >= 0 else 0)
    return tuple(out)


def check_data_format(data_format):
    """Raise ValueError unless ``data_format`` is 'channels_last' or 'channels_first'."""
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("Unknown data_format. Expected 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")


def chunk_size(n, bytes_per_sample, budget=None):
    """How many samples fit in one chunk of the column buffer (at least one)."""
    budget = COL_BUFFER_BYTES if budget is None else budget
    return int(max(1, min(n, budget // max(1, bytes_per_sample))))


# ---------------------------------------------------------------------------
# im2col / col2im on NumPy
# ---------------------------------------------------------------------------

def _pad_nhwc(x, pads):
    """Zero-pad the two spatial axes of an NHWC array (no copy when no padding)."""
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, h, w, c = x.shape
    out = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=x.dtype)
    out[:, pt:pt + h, pl:pl + w, :] = x
    return out


def _pad_nchw(x, pads):
    (pt, pb), (pl, pr) = pads
    if pt == pb == pl == pr == 0:
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def _windows_nhwc(xp, ksize, strides, dil, out_hw):
    """Read-only view (N, OH, OW, KH, KW, C) of the windows of a padded NHWC array."""
    n, _, _, c = xp.shape
    sn, sh, sw, sc = xp.strides
    (kh, kw), (st_h, st_w), (d_h, d_w), (oh, ow) = ksize, strides, dil, out_hw
    return as_strided(xp, (n, oh, ow, kh, kw, c),
                      (sn, sh * st_h, sw * st_w, sh * d_h, sw * d_w, sc), writeable=False)


def _windows_nchw(xp, ksize, strides, dil, out_hw):
    """Read-only view (N, C, KH, KW, OH, OW) of the windows of a padded NCHW array."""
    n, c, _, _ = xp.shape
    sn, sc, sh, sw = xp.strides
    (kh, kw), (st_h, st_w), (d_h, d_w), (oh, ow) = ksize, strides, dil, out_hw
    return as_strided(xp, (n, c, kh, kw, oh, ow),
                      (sn, sc, sh * d_h, sw * d_w, sh * st_h, sw * st_w), writeable=False)


def _im2col_nhwc(x, ksize, strides, pads, dil, out_hw, out=None):
    """x (N, H, W, C) -> col (N*OH*OW, KH*KW*C), columns ordered (ky, kx, c)."""
    n, c = x.shape[0], x.shape[3]
    kh, kw = ksize
    oh, ow = out_hw
    win = _windows_nhwc(_pad_nhwc(x, pads), ksize, strides, dil, out_hw)
    if out is None:
        out = np.empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
    np.copyto(out.reshape(n, oh, ow, kh, kw, c), win)
    return out


def _col2im_nhwc(col, x_shape, ksize, strides, pads, dil, out_hw, out=None):
    """Adjoint of _im2col_nhwc: col (N*OH*OW, KH*KW*C) -> x-shaped sums (N, H, W, C).

    Written as one strided add per kernel offset (a loop over KH*KW, never over pixels).
    """
    n, h, w, c = x_shape
    kh, kw = ksize
    oh, ow = out_hw
    (pt, pb), (pl, pr) = pads
    st_h, st_w = strides
    d_h, d_w = dil
    col6 = col.reshape(n, oh, ow, kh, kw, c)
    padded = (pt or pb or pl or pr)
    if padded:
        acc = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=col.dtype)
    else:
        acc = np.zeros(x_shape, dtype=col.dtype) if out is None else out
        if out is not None:
            acc[...] = 0
    for ky in range(kh):
        y0 = ky * d_h
        ys = slice(y0, y0 + (oh - 1) * st_h + 1, st_h)
        for kx in range(kw):
            x0 = kx * d_w
            xs = slice(x0, x0 + (ow - 1) * st_w + 1, st_w)
            acc[:, ys, xs, :] += col6[:, :, :, ky, kx, :]
    if padded:
        inner = acc[:, pt:pt + h, pl:pl + w, :]
        if out is None:
            return np.ascontiguousarray(inner)
        out[...] = inner
        return out
    return acc


def _im2col_nchw(x, ksize, strides, pads, dil, out_hw):
    """x (N, C, H, W) -> col (N, C*KH*KW, OH*OW), rows ordered (c, ky, kx)."""
    n, c = x.shape[:2]
    kh, kw = ksize
    oh, ow = out_hw
    win = _windows_nchw(_pad_nchw(x, pads), ksize, strides, dil, out_hw)
    out = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
    np.copyto(out.reshape(n, c, kh, kw, oh, ow), win)
    return out


def _col2im_nchw(col, x_shape, ksize, strides, pads, dil, out_hw):
    """Adjoint of _im2col_nchw: col (N, C*KH*KW, OH*OW) -> (N, C, H, W)."""
    n, c, h, w = x_shape
    kh, kw = ksize
    oh, ow = out_hw
    (pt, pb), (pl, pr) = pads
    st_h, st_w = strides
    d_h, d_w = dil
    col6 = col.reshape(n, c, kh, kw, oh, ow)
    acc = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=col.dtype)
    for ky in range(kh):
        y0 = ky * d_h
        ys = slice(y0, y0 + (oh - 1) * st_h + 1, st_h)
        for kx in range(kw):
            x0 = kx * d_w
            xs = slice(x0, x0 + (ow - 1) * st_w + 1, st_w)
            acc[:, :, ys, xs] += col6[:, :, ky, kx, :, :]
    return np.ascontiguousarray(acc[:, :, pt:pt + h, pl:pl + w])


def _geometry(x_shape, kernel_size, strides, padding, dilation_rate, data_format):
    check_data_format(data_format)
    ksize = normalize_tuple(kernel_size, 2, "kernel_size")
    strides = normalize_tuple(strides, 2, "strides")
    dil = normalize_tuple(dilation_rate, 2, "dilation_rate")
    hw = x_shape[1:3] if data_format == "channels_last" else x_shape[2:4]
    pads = resolve_pads(hw, ksize, strides, padding, dil)
    out_hw = output_spatial(hw, ksize, strides, pads, dil)
    return ksize, strides, dil, pads, out_hw


def im2col_forward(x, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                   data_format="channels_last"):
    """Unfold the windows of an image batch into a column matrix.

    Args:
        x: (N, H, W, C) for channels_last, (N, C, H, W) for channels_first.
        kernel_size, strides, dilation_rate: pairs (or ints).
        padding: 'valid', 'same' (TensorFlow rule) or explicit ((top, bottom), (left, right)).

    Returns:
        (col, saved): col is (N*OH*OW, KH*KW*C) for channels_last (columns (ky, kx, c))
        or (N, C*KH*KW, OH*OW) for channels_first (rows (c, ky, kx)). Padded positions
        read as zero.
    """
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel_size, strides, padding,
                                                  dilation_rate, data_format)
    if data_format == "channels_last":
        col = _im2col_nhwc(x, ksize, strides, pads, dil, out_hw)
    else:
        col = _im2col_nchw(x, ksize, strides, pads, dil, out_hw)
    return col, (tuple(x.shape),)


def im2col_backward(gcol, saved, kernel_size, strides=(1, 1), padding="valid",
                    dilation_rate=(1, 1), data_format="channels_last"):
    """col2im, the adjoint of im2col: sums every column entry back onto its pixel.

    Returns ``(gx,)`` with gx shaped like the im2col input.
    """
    (x_shape,) = saved
    ksize, strides, dil, pads, out_hw = _geometry(x_shape, kernel_size, strides, padding,
                                                  dilation_rate, data_format)
    if data_format == "channels_last":
        return (_col2im_nhwc(gcol, x_shape, ksize, strides, pads, dil, out_hw),)
    return (_col2im_nchw(gcol, x_shape, ksize, strides, pads, dil, out_hw),)


# ---------------------------------------------------------------------------
# Conv2D / Conv1D fused ops
# ---------------------------------------------------------------------------

def _bias_act_forward(z, bias, activation, channel_axis):
    """Bias add + activation on the GEMM output ``z`` (modified in place when possible).

    Returns (y, pre) where pre is None when the activation's derivative can be read
    from y (linear, relu).
    """
    if activation in _FAST_KINDS:
        if bias is not None:
            if channel_axis == -1:
                z += bias
            else:
                z += bias.reshape((-1,) + (1,) * (z.ndim - 2))
        if activation == "relu":
            # the maximum against a broadcast row of zeros runs NumPy's vectorised
            # array-array loop: several times faster on float32 than np.maximum(z, 0)
            # with a scalar (same values)
            np.maximum(z, np.zeros(z.shape[-1], dtype=z.dtype), out=z)
        return z, None
    if channel_axis == -1:
        y, (pre, _) = bias_activation_forward(z, bias, activation)
        return y, pre
    # channels_first: move channels last for the shared bias+activation op
    zt = np.moveaxis(z, 1, -1)
    y, (pre, _) = bias_activation_forward(zt, bias, activation)
    return (np.ascontiguousarray(np.moveaxis(y, -1, 1)),
            np.ascontiguousarray(np.moveaxis(pre, -1, 1)))


def _bias_act_backward(gy, y, pre, activation, has_bias, channel_axis):
    """-> (gz, gbias or None): the gradient before the activation and of the bias."""
    if activation == "linear":
        gz = gy
    elif activation == "relu":
        gz = gy * (y > 0)
    elif channel_axis == -1:
        gz, _ = bias_activation_backward(gy, (pre, y), activation)
    else:
        gz = gy * activation_grad(pre, y, activation)
    gb = None
    if has_bias:
        if channel_axis % gz.ndim == gz.ndim - 1 and gz.flags.c_contiguous \
                and gz.dtype.kind == "f":
            # channels last: the sum of the rows of gz (M, C) as one matrix-vector
            # product ones (M,) @ gz, several times faster than a reduction over the
            # leading axes (e.g. 7 us instead of 33 us for 992 x 64 float32)
            c = gz.shape[-1]
            gb = np.ones(gz.size // c, dtype=gz.dtype) @ gz.reshape(-1, c)   # (C,)
        else:
            axes = tuple(i for i in range(gz.ndim) if i != (channel_axis % gz.ndim))
            gb = gz.sum(axis=axes)
    return gz, gb


def _workspace(nelem, dtype):
    """A reusable scratch buffer of ``nelem`` elements (kept between calls).

    Reusing one buffer avoids the page faults of a fresh multi-megabyte
    allocation per chunk and per call. Callers never keep it past their call.
    """
    dtype = np.dtype(dtype)
    buf = _WORKSPACE.get(dtype.str)
    if buf is None or buf.size < nelem:
        buf = np.empty(max(nelem, 1), dtype=dtype)
        _WORKSPACE[dtype.str] = buf
    return buf[:nelem]


_WORKSPACE = {}


def _transposed_pads(pads, ksize, dil, in_hw, out_hw):
    """Pads that turn the input gradient of a stride-1 convolution into a convolution.

    For stride 1, gx = correlate(pad(gz), flipped kernel with in/out swapped) where
    gz is padded by (ek - 1 - before) in front and so that the result has the input's
    length at the back. Returns None when that needs a negative pad (then col2im is used).
    """
    out = []
    for (pa, _), k, d, n, o in zip(pads, ksize, dil, in_hw, out_hw):
        ek = effective_kernel(k, d)
        front = ek - 1 - pa
        back = n + ek - 1 - o - front
        if front < 0 or back < 0:
            return None
        out.append((front, back))
    return tuple(out)


def _conv_nhwc(x, kernel, ksize, strides, pads, dil, out_hw):
    """z = conv2d(x, kernel) without bias: x (N, H, W, C) -> z (N, OH, OW, OUT)."""
    kh, kw, cin, cout = kernel.shape
    n = x.shape[0]
    oh, ow = out_hw
    kdim = kh * kw * cin
    wmat = kernel.reshape(kdim, cout)                           # (KH*KW*C, OUT)
    z = np.empty((n, oh, ow, cout), dtype=np.result_type(x, kernel))
    z2 = z.reshape(n * oh * ow, cout)                           # (N*OH*OW, OUT)
    rows = oh * ow
    step = chunk_size(n, rows * kdim * x.itemsize)
    for s in range(0, n, step):
        e = min(n, s + step)
        buf = _workspace((e - s) * rows * kdim, x.dtype).reshape((e - s) * rows, kdim)
        col = _im2col_nhwc(x[s:e], ksize, strides, pads, dil, out_hw, out=buf)
        matmul_nn(col, wmat, z2[s * rows:e * rows])
    return z


def _conv_nhwc_backward(gz, x, kernel, ksize, strides, pads, dil, out_hw, input_grad):
    """-> (gx (N, H, W, C) or None, gkernel (KH, KW, C, OUT)) from gz (N, OH, OW, OUT)."""
    kh, kw, cin, cout = kernel.shape
    n = x.shape[0]
    oh, ow = out_hw
    kdim = kh * kw * cin
    gz2 = gz.reshape(n * oh * ow, cout)                         # (N*OH*OW, OUT)
    gw = np.zeros((kdim, cout), dtype=gz2.dtype)                # (KH*KW*C, OUT)
    rows = oh * ow
    step = chunk_size(n, rows * kdim * x.itemsize)
    for s in range(0, n, step):
        e = min(n, s + step)
        buf = _workspace((e - s) * rows * kdim, x.dtype).reshape((e - s) * rows, kdim)
        col = _im2col_nhwc(x[s:e], ksize, strides, pads, dil, out_hw, out=buf)
        matmul_tn_add(col, gz2[s * rows:e * rows], gw)
    gx = _input_grad_nhwc(gz, kernel, x.shape, ksize, strides, pads, dil, out_hw) \
        if input_grad else None
    return gx, gw.reshape(kernel.shape)


def _to_nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _to_nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                   data_format="channels_last", activation="linear", input_grad=True):
    """y = act(conv2d(x, kernel) + bias), cross-correlation as in TensorFlow.

    Args:
        x: (N, H, W, C) for channels_last, (N, C, H, W) for channels_first.
        kernel: (KH, KW, C, OUT), the Keras layout.
        bias: (OUT,) or None.
        strides, dilation_rate: pairs of positive ints.
        padding: 'valid', 'same' or explicit ((top, bottom), (left, right)).
        activation: an elementwise activation kind (see activations.ACTIVATION_KINDS).
        input_grad: whether the backward pass computes the gradient of ``x``
            (False for the first layer of a model, whose input is data).

    Returns:
        (y, saved) with y (N, OH, OW, OUT) or (N, OUT, OH, OW).

    The computation runs in NHWC; channels_first input is transposed to it and the
    output back (cheaper on the CPU than channels-first columns). With the host kernels
    (float32/float64 on a machine with a C++ compiler) it is one implicit GEMM over the
    padded input with bias and activation applied per tile (``_conv2d_host``);
    otherwise im2col in chunks of the batch, BLAS GEMMs with the (KH*KW*C, OUT) kernel,
    then bias and activation in place.
    """
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel.shape[:2], strides, padding,
                                                  dilation_rate, data_format)
    fns = _conv2d_host.functions(np.result_type(x, kernel))
    if fns is None:
        return _conv2d_im2col_forward(x, kernel, bias, ksize, strides, dil, pads, out_hw,
                                      data_format, activation)
    dt = fns.dtype
    x = np.ascontiguousarray(x if data_format == "channels_last" else x.transpose(0, 2, 3, 1),
                             dtype=dt)                          # (N, H, W, C)
    kernel = np.ascontiguousarray(kernel, dtype=dt)
    xp = _pad_nhwc(x, pads)                                     # (N, Hp, Wp, C)
    code = _conv1d_host.activation_code(activation)
    b = None if bias is None or code is None else np.ascontiguousarray(bias, dtype=dt)
    y = _conv2d_host.forward(fns, xp, kernel, b, strides, dil, out_hw, code or 0)
    pre = None
    if code is None:                    # an activation NumPy applies (with the bias)
        z, pre = _bias_act_forward(y.reshape(-1, y.shape[-1]), bias, activation, -1)
        y, pre = z.reshape(y.shape), pre.reshape(y.shape)
    saved = (x, kernel, y, pre, bias is not None, pads, xp)
    if data_format == "channels_first":
        y = _to_nchw(y)                                         # (N, OUT, OH, OW)
    return y, saved


@_blas_policy(_conv_macs)
def _conv2d_im2col_forward(x, kernel, bias, ksize, strides, dil, pads, out_hw, data_format,
                           activation):
    """conv2d_forward through im2col + BLAS (the path without the host kernels)."""
    if data_format == "channels_last":
        z = _conv_nhwc(x, kernel, ksize, strides, pads, dil, out_hw)
        y, pre = _bias_act_forward(z, bias, activation, -1)
    else:
        x = _to_nhwc(x)
        z = _to_nchw(_conv_nhwc(x, kernel, ksize, strides, pads, dil, out_hw))
        y, pre = _bias_act_forward(z, bias, activation, 1)
    return y, (x, kernel, y, pre, bias is not None, pads, None)


def _input_grad_nhwc(gz, kernel, x_shape, ksize, strides, pads, dil, out_hw):
    """Gradient of an NHWC convolution's input from gz (N, OH, OW, OUT)."""
    kh, kw, cin, cout = kernel.shape
    n, h, w, _ = x_shape
    oh, ow = out_hw
    tpads = _transposed_pads(pads, ksize, dil, (h, w), out_hw) if strides == (1, 1) else None
    gx = np.empty(x_shape, dtype=gz.dtype)
    if tpads is not None:
        # stride 1: a convolution of the padded gz with the flipped, transposed kernel
        wflip = np.ascontiguousarray(
            kernel[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * cout, cin)
        gx2 = gx.reshape(n * h * w, cin)
        kdim = kh * kw * cout
        step = chunk_size(n, h * w * kdim * gz.itemsize)
        for s in range(0, n, step):
            e = min(n, s + step)
            buf = _workspace((e - s) * h * w * kdim, gz.dtype).reshape((e - s) * h * w, kdim)
            col = _im2col_nhwc(gz[s:e], ksize, (1, 1), tpads, dil, (h, w), out=buf)
            matmul_nn(col, wflip, gx2[s * h * w:e * h * w])
        return gx
    # strided: gcol = gz @ W^T, then col2im
    kdim = kh * kw * cin
    wmat = kernel.reshape(kdim, cout)
    rows = oh * ow
    gz2 = gz.reshape(n * rows, cout)
    step = chunk_size(n, rows * kdim * gz.itemsize)
    for s in range(0, n, step):
        e = min(n, s + step)
        buf = _workspace((e - s) * rows * kdim, gz.dtype).reshape((e - s) * rows, kdim)
        np.matmul(gz2[s * rows:e * rows], wmat.T, out=buf)
        _col2im_nhwc(buf, (e - s,) + x_shape[1:], ksize, strides, pads, dil, out_hw,
                     out=gx[s:e])
    return gx


def conv2d_backward(gy, saved, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                    data_format="channels_last", activation="linear", input_grad=True):
    """-> (gx like x or None when not input_grad, gkernel (KH, KW, C, OUT), gbias or None).

    A forward pass that ran on the host kernels saved its padded input and runs its
    backward there too (unless they were switched off in between); the input gradient
    of a strided convolution then comes from the NumPy col2im code."""
    x, kernel, y, pre, has_bias, pads, xp = saved               # x, y, pre: NHWC
    fns = None if xp is None else _conv2d_host.functions(y.dtype)
    if fns is None:
        return _conv2d_im2col_backward(gy, saved, strides, dilation_rate, data_format,
                                       activation, input_grad)
    ksize, strides, dil, _, out_hw = _geometry(x.shape, kernel.shape[:2], strides, pads,
                                               dilation_rate, "channels_last")
    if data_format == "channels_first":
        gy = gy.transpose(0, 2, 3, 1)                           # (N, OH, OW, OUT) view
    code = _conv1d_host.activation_code(activation)
    gb = None
    if code is None:                    # the activation's derivative in NumPy
        gy, gb = _bias_act_backward(gy, y, pre, activation, has_bias, -1)
    g = np.ascontiguousarray(gy, dtype=y.dtype)                 # (N, OH, OW, OUT)
    gp, gb_host, gk, gx = _conv2d_host.backward(
        fns, g, y, xp, kernel, has_bias and code is not None, strides, dil, pads,
        x.shape[1:3], code or 0, input_grad, workspace=_workspace)
    gb = gb_host if code is not None else gb
    if input_grad and gx is None:       # strided: col2im of the (unpadded) gradient
        gx = _input_grad_nhwc(gp, kernel, x.shape, ksize, strides, pads, dil, out_hw)
    if gx is not None and data_format == "channels_first":
        gx = _to_nchw(gx)
    return gx, gk, gb


@_blas_policy(_conv_backward_macs)
def _conv2d_im2col_backward(gy, saved, strides, dilation_rate, data_format, activation,
                            input_grad):
    """conv2d_backward through im2col + BLAS (the path without the host kernels)."""
    x, kernel, y, pre, has_bias, pads, _ = saved                # x is NHWC
    ksize, strides, dil, _, out_hw = _geometry(x.shape, kernel.shape[:2], strides, pads,
                                               dilation_rate, "channels_last")
    channel_axis = -1 if data_format == "channels_last" else 1
    gz, gb = _bias_act_backward(gy, y, pre, activation, has_bias, channel_axis)
    gz = np.ascontiguousarray(gz) if data_format == "channels_last" else _to_nhwc(gz)
    gx, gw = _conv_nhwc_backward(gz, x, kernel, ksize, strides, pads, dil, out_hw, input_grad)
    if gx is not None and data_format == "channels_first":
        gx = _to_nchw(gx)
    return gx, gw, gb


# ---------------------------------------------------------------------------
# Conv1D: its own path on (N, L, C) (no height-1 image, the columns kept for backward)
# ---------------------------------------------------------------------------

def _pad_nlc(x, pads):
    """Zero-pad the length axis of an (N, L, C) array (no copy when no padding)."""
    pa, pb = pads
    if pa == pb == 0:
        return x
    n, length, c = x.shape
    out = np.zeros((n, pa + length + pb, c), dtype=x.dtype)     # (N, Lp, C)
    out[:, pa:pa + length] = x
    return out


def _windows_nlc(xp, k, stride, dil, ol):
    """Read-only view (N, OL, K, C) of the windows of a padded (N, Lp, C) array.

    For stride 1 and dilation 1 the (K, C) block of a window is contiguous, so the
    copy into columns runs over rows of K*C consecutive elements.
    """
    n, _, c = xp.shape
    sn, sl, sc = xp.strides
    return as_strided(xp, (n, ol, k, c), (sn, sl * stride, sl * dil, sc), writeable=False)


def _conv1d_nlc_macs(x, kernel, *args, **kwargs):
    """Multiply-adds of a 1-D convolution's forward GEMM (upper bound: 'same' output)."""
    return int(x.size) * int(kernel.shape[0]) * int(kernel.shape[-1])


@_blas_policy(_conv1d_nlc_macs)
def _conv1d_nlc_forward(x, kernel, bias, stride, dil, pads, activation):
    """act(conv1d(x, kernel) + bias) on (N, L, C) -> (y (N, OL, OUT), pre, col or None).

    When the columns of the whole batch fit :data:`COL_BUFFER_BYTES` they are built
    once in a fresh array, multiplied in ONE GEMM and returned for the backward pass
    (which then needs no second im2col); otherwise the batch runs in chunks through
    the reusable workspace and ``col`` is None.
    """
    n = x.shape[0]
    k, cin, cout = kernel.shape
    xp = _pad_nlc(x, pads)                                      # (N, Lp, C)
    ol = output_spatial((xp.shape[1],), (k,), (stride,), ((0, 0),), (dil,))[0]
    kdim = k * cin
    wmat = kernel.reshape(kdim, cout)                           # (K*C, OUT)
    z = np.empty((n * ol, cout), dtype=np.result_type(x, kernel))   # (N*OL, OUT)
    step = chunk_size(n, ol * kdim * x.itemsize)
    col = None
    if step >= n:
        col = np.empty((n * ol, kdim), dtype=x.dtype)           # (N*OL, K*C)
        np.copyto(col.reshape(n, ol, k, cin), _windows_nlc(xp, k, stride, dil, ol))
        matmul_nn(col, wmat, z)
    else:
        for s in range(0, n, step):
            e = min(n, s + step)
            buf = _workspace((e - s) * ol * kdim, x.dtype).reshape(e - s, ol, k, cin)
            np.copyto(buf, _windows_nlc(xp[s:e], k, stride, dil, ol))
            matmul_nn(buf.reshape((e - s) * ol, kdim), wmat, z[s * ol:e * ol])
    y, pre = _bias_act_forward(z, bias, activation, -1)        # (N*OL, OUT)
    y = y.reshape(n, ol, cout)
    return y, (None if pre is None else pre.reshape(n, ol, cout)), col


@_blas_policy(lambda gz, x, kernel, *args: _conv1d_nlc_macs(x, kernel))
def _conv1d_nlc_backward(gz, x, kernel, col, stride, dil, pads, input_grad):
    """-> (gx (N, L, C) or None, gkernel (K, C, OUT)) from gz (N, OL, OUT) contiguous.

    gkernel = col^T @ gz is one GEMM over the whole batch (col from the forward pass,
    or rebuilt chunk by chunk when it was not kept). gx = col2im(gz @ W^T): one GEMM
    then K strided adds (one per kernel tap) into the padded input gradient.
    """
    n, length, cin = x.shape
    k, _, cout = kernel.shape
    ol = gz.shape[1]
    kdim = k * cin
    gz2 = gz.reshape(n * ol, cout)                              # (N*OL, OUT)
    gw = np.empty((kdim, cout), dtype=gz.dtype)                 # (K*C, OUT)
    if col is not None:
        matmul_tn(col, gz2, gw)
    else:
        xp = _pad_nlc(x, pads)
        step = chunk_size(n, ol * kdim * x.itemsize)
        gw[...] = 0
        for s in range(0, n, step):
            e = min(n, s + step)
            buf = _workspace((e - s) * ol * kdim, x.dtype).reshape(e - s, ol, k, cin)
            np.copyto(buf, _windows_nlc(xp[s:e], k, stride, dil, ol))
            matmul_tn_add(buf.reshape((e - s) * ol, kdim), gz2[s * ol:e * ol], gw)
    gk = gw.reshape(kernel.shape)
    if not input_grad:
        return None, gk
    pa, pb = pads
    ek = effective_kernel(k, dil)
    front, back = ek - 1 - pa, length + pa - 1 - (ol - 1) * stride
    if stride == 1 and front >= 0 and back >= 0:
        # gx = conv1d(gz zero-padded by (front, back), kernel flipped along K with
        # in/out channels swapped): gx[t] = sum_i gzp[t + i*dil] @ kernel[K-1-i]^T.
        gx = np.empty((n, length, cin), dtype=gz.dtype)         # (N, L, C)
        gzp = _pad_nlc(gz, (front, back))                       # (N, L + ek - 1, OUT)
        wflip = np.ascontiguousarray(kernel[::-1].transpose(0, 2, 1)).reshape(k * cout, cin)
        step = chunk_size(n, length * k * cout * gz.itemsize)
        for s in range(0, n, step):
            e = min(n, s + step)
            buf = _workspace((e - s) * length * k * cout, gz.dtype)
            np.copyto(buf.reshape(e - s, length, k, cout),
                      _windows_nlc(gzp[s:e], k, 1, dil, length))
            matmul_nn(buf.reshape((e - s) * length, k * cout), wflip,
                      gx[s:e].reshape((e - s) * length, cin))
        return gx, gk
    return _conv1d_strided_input_grad(gz, kernel, x.shape, stride, dil, pads), gk


def _conv1d_strided_input_grad(gz, kernel, x_shape, stride, dil, pads):
    """gx (N, L, C) = col2im(gz @ W^T) for gz (N, OL, OUT) contiguous: one GEMM per
    chunk of the batch, then one strided add per kernel tap."""
    n, length, cin = x_shape
    k, _, cout = kernel.shape
    ol = gz.shape[1]
    kdim = k * cin
    wmat = kernel.reshape(kdim, cout)                           # (K*C, OUT)
    gz2 = gz.reshape(n * ol, cout)                              # (N*OL, OUT)
    pa, pb = pads
    lp = length + pa + pb
    gxp = np.zeros((n, lp, cin), dtype=gz.dtype)                # (N, Lp, C)
    step = chunk_size(n, ol * kdim * gz.itemsize)
    for s in range(0, n, step):
        e = min(n, s + step)
        gcol = _workspace((e - s) * ol * kdim, gz.dtype).reshape((e - s) * ol, kdim)
        np.matmul(gz2[s * ol:e * ol], wmat.T, out=gcol)        # (n_chunk*OL, K*C)
        gcol4 = gcol.reshape(e - s, ol, k, cin)
        for j in range(k):
            t0 = j * dil
            gxp[s:e, t0:t0 + (ol - 1) * stride + 1:stride] += gcol4[:, :, j]
    if pa == pb == 0:
        return gxp
    return np.ascontiguousarray(gxp[:, pa:pa + length])


def conv1d_padding(length, kernel_size, padding, strides, dilation_rate):
    """The explicit 2-D pads ((0, 0), (before, after)) of a 1-D convolution."""
    return ((0, 0), padding_amounts(length, kernel_size, padding, strides, dilation_rate))


def _conv1d_attrs(x, kernel, strides, padding, dilation_rate, data_format):
    """The 2-D attributes (height 1) of a 1-D convolution (used by the CUDA twin)."""
    check_data_format(data_format)
    (k,) = normalize_tuple(kernel.shape[0], 1, "kernel_size")
    (s,) = normalize_tuple(strides, 1, "strides")
    (d,) = normalize_tuple(dilation_rate, 1, "dilation_rate")
    length = x.shape[1] if data_format == "channels_last" else x.shape[2]
    pads = conv1d_padding(length, k, padding, s, d) if isinstance(padding, str) else \
        ((0, 0), tuple(padding))
    return dict(strides=(1, s), padding=pads, dilation_rate=(1, d), data_format=data_format)


def _as_2d(x, data_format):
    # channels_last (N, L, C) -> (N, 1, L, C); channels_first (N, C, L) -> (N, C, 1, L)
    return x[:, None] if data_format == "channels_last" else x[:, :, None]


def _conv1d_geometry(length, k, strides, padding, dilation_rate, data_format):
    """-> (stride, dilation, (pad_before, pad_after)) of a 1-D convolution."""
    check_data_format(data_format)
    (s,) = normalize_tuple(strides, 1, "strides")
    (d,) = normalize_tuple(dilation_rate, 1, "dilation_rate")
    if isinstance(padding, str):
        pads = padding_amounts(length, k, padding, s, d)
    else:
        pads = tuple(int(p) for p in padding)
    return s, d, pads


def conv1d_forward(x, kernel, bias, strides=1, padding="valid", dilation_rate=1,
                   data_format="channels_last", activation="linear", input_grad=True):
    """y = act(conv1d(x, kernel) + bias), cross-correlation as in TensorFlow.

    Args:
        x: (N, L, C) for channels_last, (N, C, L) for channels_first.
        kernel: (K, C, OUT), the Keras layout.
        bias: (OUT,) or None.
        strides, dilation_rate: positive ints.
        padding: 'valid', 'same', 'causal' (left padding of dilation * (K - 1)) or
            explicit (before, after).
        activation: an elementwise activation kind (see activations.ACTIVATION_KINDS).
        input_grad: whether the backward pass computes the gradient of ``x``.

    Returns:
        (y, saved) with y (N, OL, OUT) or (N, OUT, OL).

    The computation runs on (N, L, C), channels_first input transposed in and out.
    With the host kernels (float32/float64 on a machine with a C++ compiler) it is one
    implicit GEMM over the padded input with bias and activation applied per tile
    (``_conv1d_host``); otherwise im2col of the whole batch (a strided view of the
    padded input copied once), one BLAS GEMM with the (K*C, OUT) kernel, then bias and
    activation in place.
    """
    length = x.shape[1] if data_format == "channels_last" else x.shape[2]
    s, d, pads = _conv1d_geometry(length, kernel.shape[0], strides, padding, dilation_rate,
                                  data_format)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))          # (N, L, C)
    dt = np.result_type(x, kernel)
    fns = _conv1d_host.functions(dt)
    xp = None
    if fns is None:
        y, pre, col = _conv1d_nlc_forward(x, kernel, bias, s, d, pads, activation)
    else:
        x = np.ascontiguousarray(x, dtype=dt)
        kernel = np.ascontiguousarray(kernel, dtype=dt)
        xp = _pad_nlc(x, pads)                                  # (N, Lp, C)
        ol = output_spatial((xp.shape[1],), (kernel.shape[0],), (s,), ((0, 0),), (d,))[0]
        code = _conv1d_host.activation_code(activation)
        b = None if bias is None or code is None else np.ascontiguousarray(bias, dtype=dt)
        y = _conv1d_host.forward(fns, xp, kernel, b, s, d, ol, 0 if code is None else code)
        pre, col = None, None
        if code is None:                # an activation NumPy applies (with the bias)
            z, pre = _bias_act_forward(y.reshape(-1, y.shape[-1]), bias, activation, -1)
            y, pre = z.reshape(y.shape), pre.reshape(y.shape)
    saved = (x, kernel, y, pre, col, bias is not None, (s, d, pads), xp)
    if data_format == "channels_first":
        y = np.ascontiguousarray(y.transpose(0, 2, 1))          # (N, OUT, OL)
    return y, saved


def conv1d_backward(gy, saved, strides=1, padding="valid", dilation_rate=1,
                    data_format="channels_last", activation="linear", input_grad=True):
    """-> (gx like x or None when not input_grad, gkernel (K, C, OUT), gbias or None).

    A forward pass that ran on the host kernels saved its padded input and runs its
    backward there too (unless they were switched off in between)."""
    x, kernel, y, pre, col, has_bias, (s, d, pads), xp = saved  # x, y, pre: (N, L|OL, C|OUT)
    if data_format == "channels_first":
        gy = gy.transpose(0, 2, 1)                              # (N, OL, OUT) view
    fns = None if xp is None else _conv1d_host.functions(y.dtype)
    if fns is None:
        gz, gb = _bias_act_backward(gy, y, pre, activation, has_bias, -1)
        gz = np.ascontiguousarray(gz)                           # (N, OL, OUT)
        gx, gk = _conv1d_nlc_backward(gz, x, kernel, col, s, d, pads, input_grad)
    else:
        code = _conv1d_host.activation_code(activation)
        gb = None
        if code is None:                # the activation's derivative in NumPy
            gy, gb = _bias_act_backward(gy, y, pre, activation, has_bias, -1)
        g = np.ascontiguousarray(gy, dtype=y.dtype)             # (N, OL, OUT)
        gp, gb_host, gk, gx = _conv1d_host.backward(
            fns, g, y, xp, kernel, has_bias and code is not None, s, d, pads, x.shape[1],
            code or 0, input_grad)
        gb = gb_host if code is not None else gb
        if input_grad and gx is None:   # strided: col2im of the (unpadded) gradient
            gx = _conv1d_strided_input_grad(gp, kernel, x.shape, s, d, pads)
    if gx is not None and data_format == "channels_first":
        gx = np.ascontiguousarray(gx.transpose(0, 2, 1))        # (N, C, L)
    return gx, gk, gb
