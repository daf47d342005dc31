"""NumPy reference: 3-D convolution as vol2col + one GEMM, and its transpose.

Twin: ``cupy_ops/conv3d.py`` (kernels/conv3d.cu for vol2col / col2vol, the GEMMs
through ``cupy_ops._gemm.matmul``).

The volume is computed channels last, NDHWC: ``x`` is ``(N, D, H, W, C)`` and the
column matrix of a batch is ``(N*OD*OH*OW, KD*KH*KW*C)`` with columns ordered
``(kd, kh, kw, c)``, so the Keras kernel ``(KD, KH, KW, C, OUT)`` reshaped to
``(KD*KH*KW*C, OUT)`` multiplies it directly and the product is the NDHWC output.
Channels-first input ``(N, C, D, H, W)`` is transposed in and out.

As in 2-D: cross-correlation (no kernel flip); 'same' padding follows TensorFlow
(output = ceil(length / stride), an odd extra element at the end of the axis).

``conv3d_transpose`` is the input gradient of ``conv3d`` taken as a layer of its own
(Keras's Conv3DTranspose): its input has the shape of a convolution's output, its
output the shape of that convolution's input (``output_size``), and its kernel is
``(KD, KH, KW, filters, in_channels)``. It runs as ``col2vol(x @ kernel^T)``.

The batch runs in chunks whose column buffer stays under ``conv.COL_BUFFER_BYTES``;
the backward pass recomputes each chunk's columns.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .conv import (check_data_format, chunk_size, effective_kernel, normalize_tuple,
                   output_spatial, resolve_pads)


# ---------------------------------------------------------------------------
# Geometry (shared with the CuPy twin)
# ---------------------------------------------------------------------------

def to_ndhwc(x, data_format):
    """A channels-first (N, C, D, H, W) array as channels-last (a contiguous copy).
    Works on NumPy and CuPy arrays alike (the CuPy twin uses it too)."""
    if data_format == "channels_last":
        return x
    return x.transpose(0, 2, 3, 4, 1).copy(order="C")


def from_ndhwc(y, data_format):
    """A channels-last (N, D, H, W, C) array in ``data_format`` (channels-first: a
    contiguous copy); NumPy or CuPy."""
    if data_format == "channels_last":
        return y
    return y.transpose(0, 4, 1, 2, 3).copy(order="C")


def conv3d_geometry(volume, kernel_size, strides, padding, dilation_rate):
    """(ksize, strides, dilation, pads, out_dhw) of a 3-D convolution over ``volume``
    (D, H, W); ``padding`` is 'valid', 'same' or explicit ((before, after),) * 3."""
    ksize = normalize_tuple(kernel_size, 3, "kernel_size")
    strides = normalize_tuple(strides, 3, "strides")
    dil = normalize_tuple(dilation_rate, 3, "dilation_rate")
    pads = resolve_pads(volume, ksize, strides, padding, dil)
    return ksize, strides, dil, pads, output_spatial(volume, ksize, strides, pads, dil)


def transpose_geometry(in_dhw, output_size, kernel_size, strides, padding, dilation_rate):
    """Geometry of the convolution whose input gradient a transposed convolution is:
    the convolution runs over ``output_size`` and must give ``in_dhw``.

    Raises:
        ValueError: ``output_size`` is not a size that such a convolution maps to
            ``in_dhw``.
    """
    output_size = normalize_tuple(output_size, 3, "output_size")
    geom = conv3d_geometry(output_size, kernel_size, strides, padding, dilation_rate)
    if tuple(geom[4]) != tuple(in_dhw):
        raise ValueError(
            f"conv3d_transpose: a convolution with kernel {geom[0]}, strides {geom[1]}, "
            f"dilation {geom[2]} and padding {padding!r} maps output_size {output_size} to "
            f"{tuple(geom[4])}, not to the input's spatial size {tuple(in_dhw)}. Pick an "
            f"output size the convolution maps back to the input. Received: "
            f"output_size={output_size}")
    return geom


def deconv_length(length, kernel, padding, stride, output_padding=None, dilation=1):
    """Output length of a transposed-convolution axis, as Keras 2 computes it (None
    stays None): without output_padding ``length * stride`` for 'same' and
    ``length * stride + max(k - stride, 0)`` for 'valid'; with it
    ``(length - 1) * stride + k - 2 * pad + output_padding`` (pad = k // 2 for 'same',
    0 for 'valid'), k the dilated kernel extent."""
    if length is None:
        return None
    ek = effective_kernel(kernel, dilation)
    if output_padding is None:
        if padding == "same":
            return length * stride
        return length * stride + max(ek - stride, 0)
    pad = ek // 2 if padding == "same" else 0
    return (length - 1) * stride + ek - 2 * pad + output_padding


# ---------------------------------------------------------------------------
# vol2col / col2vol
# ---------------------------------------------------------------------------

def _pad_volume(x, pads):
    """Zero-pad the three spatial axes of an NDHWC array (no copy without padding)."""
    if all(a == 0 and b == 0 for a, b in pads):
        return x
    n, d, h, w, c = x.shape
    (p0, p1), (p2, p3), (p4, p5) = pads
    out = np.zeros((n, d + p0 + p1, h + p2 + p3, w + p4 + p5, c), dtype=x.dtype)
    out[:, p0:p0 + d, p2:p2 + h, p4:p4 + w, :] = x
    return out


def _vol2col(x, ksize, strides, pads, dil, out_dhw):
    """x (N, D, H, W, C) -> col (N*OD*OH*OW, KD*KH*KW*C), columns (kd, kh, kw, c)."""
    xp_ = _pad_volume(x, pads)
    n, c = x.shape[0], x.shape[4]
    sn, sd, sh, sw, sc = xp_.strides
    shape = (n,) + tuple(out_dhw) + tuple(ksize) + (c,)
    steps = (sn, sd * strides[0], sh * strides[1], sw * strides[2],
             sd * dil[0], sh * dil[1], sw * dil[2], sc)
    win = as_strided(xp_, shape, steps, writeable=False)
    col = np.empty((n * int(np.prod(out_dhw)), int(np.prod(ksize)) * c), dtype=x.dtype)
    np.copyto(col.reshape(shape), win)
    return col


def _col2vol(col, x_shape, ksize, strides, pads, dil, out_dhw):
    """The adjoint of _vol2col: every column entry summed back onto its voxel
    (one strided add per kernel tap)."""
    n, d, h, w, c = x_shape
    (p0, p1), (p2, p3), (p4, p5) = pads
    acc = np.zeros((n, d + p0 + p1, h + p2 + p3, w + p4 + p5, c), dtype=col.dtype)
    col8 = col.reshape((n,) + tuple(out_dhw) + tuple(ksize) + (c,))
    od, oh, ow = out_dhw
    for a in range(ksize[0]):
        zs = slice(a * dil[0], a * dil[0] + (od - 1) * strides[0] + 1, strides[0])
        for b in range(ksize[1]):
            ys = slice(b * dil[1], b * dil[1] + (oh - 1) * strides[1] + 1, strides[1])
            for e in range(ksize[2]):
                xs = slice(e * dil[2], e * dil[2] + (ow - 1) * strides[2] + 1, strides[2])
                acc[:, zs, ys, xs, :] += col8[:, :, :, :, a, b, e, :]
    return np.ascontiguousarray(acc[:, p0:p0 + d, p2:p2 + h, p4:p4 + w, :])


def vol2col_forward(x, kernel_size, strides=(1, 1, 1), padding="valid",
                    dilation_rate=(1, 1, 1)):
    """Unfold the windows of a channels-last volume batch into a column matrix.

    Args:
        x: (N, D, H, W, C).
        kernel_size, strides, dilation_rate: triples (or ints).
        padding: 'valid', 'same' (TensorFlow rule) or explicit ((before, after),) * 3.

    Returns:
        (col, saved): col (N*OD*OH*OW, KD*KH*KW*C), columns ordered (kd, kh, kw, c);
        padded positions read as zero.
    """
    ksize, strides, dil, pads, out = conv3d_geometry(x.shape[1:4], kernel_size, strides,
                                                     padding, dilation_rate)
    return _vol2col(x, ksize, strides, pads, dil, out), (tuple(x.shape),)


def vol2col_backward(gcol, saved, kernel_size, strides=(1, 1, 1), padding="valid",
                     dilation_rate=(1, 1, 1)):
    """col2vol, the adjoint of vol2col: -> (gx,) shaped like the vol2col input."""
    (x_shape,) = saved
    ksize, strides, dil, pads, out = conv3d_geometry(x_shape[1:4], kernel_size, strides,
                                                     padding, dilation_rate)
    return (_col2vol(gcol, x_shape, ksize, strides, pads, dil, out),)


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------

def _chunks(n, bytes_per_sample):
    step = chunk_size(n, bytes_per_sample)
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def _check_kernel(x_shape, kernel, channel_axis, what):
    if kernel.ndim != 5 or kernel.shape[channel_axis] != x_shape[4]:
        raise ValueError(
            f"{what}: the kernel's input-channel axis must equal the input's channels. "
            f"Received: x.shape (channels last)={tuple(x_shape)}, "
            f"kernel.shape={tuple(kernel.shape)}")


def conv3d_forward(x, kernel, bias, strides=(1, 1, 1), padding="valid",
                   dilation_rate=(1, 1, 1), data_format="channels_last", input_grad=True):
    """y = conv3d(x, kernel) + bias (cross-correlation, TensorFlow padding).

    Args:
        x: (N, D, H, W, C) for channels_last, (N, C, D, H, W) for channels_first.
        kernel: (KD, KH, KW, C, OUT), Keras's layout.
        bias: (OUT,) or None.
        strides, dilation_rate: triples or ints. padding: 'valid' | 'same'.
        input_grad: whether the backward pass computes the input gradient.

    Returns:
        (y, saved): y (N, OD, OH, OW, OUT) or (N, OUT, OD, OH, OW).
    """
    check_data_format(data_format)
    xl = to_ndhwc(x, data_format)
    _check_kernel(xl.shape, kernel, 3, "conv3d")
    ksize, strides, dil, pads, out = conv3d_geometry(xl.shape[1:4], kernel.shape[:3],
                                                     strides, padding, dilation_rate)
    n, cout = xl.shape[0], kernel.shape[4]
    wmat = kernel.reshape(-1, cout)
    y = np.empty((n,) + tuple(out) + (cout,), dtype=x.dtype)
    rows = int(np.prod(out))
    for s, e in _chunks(n, rows * wmat.shape[0] * x.itemsize):
        col = _vol2col(xl[s:e], ksize, strides, pads, dil, out)
        np.matmul(col, wmat, out=y[s:e].reshape(-1, cout))
    if bias is not None:
        y += bias
    return from_ndhwc(y, data_format), (xl, kernel, bias is not None)


def conv3d_backward(gy, saved, strides=(1, 1, 1), padding="valid", dilation_rate=(1, 1, 1),
                    data_format="channels_last", input_grad=True):
    """-> (gx or None, gkernel, gbias or None)."""
    xl, kernel, has_bias = saved
    ksize, strides, dil, pads, out = conv3d_geometry(xl.shape[1:4], kernel.shape[:3],
                                                     strides, padding, dilation_rate)
    gl = to_ndhwc(gy, data_format)
    n, cout = xl.shape[0], kernel.shape[4]
    wmat = kernel.reshape(-1, cout)
    gw = np.zeros(wmat.shape, dtype=gy.dtype)
    gx = np.empty(xl.shape, dtype=gy.dtype) if input_grad else None
    rows = int(np.prod(out))
    for s, e in _chunks(n, rows * wmat.shape[0] * gy.itemsize):
        gz = gl[s:e].reshape(-1, cout)
        col = _vol2col(xl[s:e], ksize, strides, pads, dil, out)
        gw += col.T @ gz
        if input_grad:
            gx[s:e] = _col2vol(gz @ wmat.T, (e - s,) + xl.shape[1:], ksize, strides, pads,
                               dil, out)
    gb = gl.sum(axis=(0, 1, 2, 3)) if has_bias else None
    return (None if gx is None else from_ndhwc(gx, data_format), gw.reshape(kernel.shape), gb)


def conv3d_transpose_forward(x, kernel, bias, output_size, strides=(1, 1, 1),
                             padding="valid", dilation_rate=(1, 1, 1),
                             data_format="channels_last"):
    """Transposed 3-D convolution: the input gradient of a convolution, as a layer.

    Args:
        x: (N, D, H, W, C) or (N, C, D, H, W): shaped like a convolution's output.
        kernel: (KD, KH, KW, OUT, C), Keras's Conv3DTranspose layout.
        bias: (OUT,) or None.
        output_size: (OD, OH, OW), the spatial size of the result; the convolution
            with these strides / padding / dilation must map it back to (D, H, W).

    Returns:
        (y, saved): y (N, OD, OH, OW, OUT) or (N, OUT, OD, OH, OW).
    """
    check_data_format(data_format)
    xl = to_ndhwc(x, data_format)
    _check_kernel(xl.shape, kernel, 4, "conv3d_transpose")
    ksize, strides, dil, pads, _ = transpose_geometry(xl.shape[1:4], output_size,
                                                      kernel.shape[:3], strides, padding,
                                                      dilation_rate)
    n, cin = xl.shape[0], xl.shape[4]
    cout = kernel.shape[3]
    out_size = tuple(output_size)
    wmat = kernel.reshape(-1, cin)                                # (K*OUT, C)
    y = np.empty((n,) + out_size + (cout,), dtype=x.dtype)
    rows = int(np.prod(xl.shape[1:4]))
    for s, e in _chunks(n, rows * wmat.shape[0] * x.itemsize):
        col = xl[s:e].reshape(-1, cin) @ wmat.T
        y[s:e] = _col2vol(col, (e - s,) + out_size + (cout,), ksize, strides, pads, dil,
                          xl.shape[1:4])
    if bias is not None:
        y += bias
    return from_ndhwc(y, data_format), (xl, kernel, bias is not None, out_size)


def conv3d_transpose_backward(gy, saved, output_size, strides=(1, 1, 1), padding="valid",
                              dilation_rate=(1, 1, 1), data_format="channels_last"):
    """-> (gx, gkernel, gbias or None)."""
    xl, kernel, has_bias, out_size = saved
    ksize, strides, dil, pads, _ = transpose_geometry(xl.shape[1:4], out_size,
                                                      kernel.shape[:3], strides, padding,
                                                      dilation_rate)
    gl = to_ndhwc(gy, data_format)
    n, cin = xl.shape[0], xl.shape[4]
    wmat = kernel.reshape(-1, cin)                                # (K*OUT, C)
    gw = np.zeros(wmat.shape, dtype=gy.dtype)
    gx = np.empty(xl.shape, dtype=gy.dtype)
    rows = int(np.prod(xl.shape[1:4]))
    for s, e in _chunks(n, rows * wmat.shape[0] * gy.itemsize):
        col = _vol2col(gl[s:e], ksize, strides, pads, dil, xl.shape[1:4])
        xs = xl[s:e].reshape(-1, cin)
        gw += col.T @ xs
        gx[s:e] = (col @ wmat).reshape((e - s,) + xl.shape[1:])
    gb = gl.sum(axis=(0, 1, 2, 3)) if has_bias else None
    return from_ndhwc(gx, data_format), gw.reshape(kernel.shape), gb
