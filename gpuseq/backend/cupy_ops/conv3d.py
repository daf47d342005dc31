"""CUDA twin of ``numpy_ops/conv3d.py``: 3-D convolution as vol2col + one GEMM, and
its transpose as one GEMM + col2vol.

Kernels: kernels/conv3d.cu (``vol2col_ndhwc``, and ``col2vol_ndhwc``, a deterministic
gather); the GEMMs through ``_gemm.matmul`` (cuBLAS on the GPU). The volume is
computed channels last; channels-first arrays are transposed in and out. The batch
runs in chunks whose column buffer stays under ``conv.COL_BUFFER_BYTES``. Same names,
signatures and results as the NumPy reference.
"""
from ..numpy_ops.conv3d import conv3d_geometry, from_ndhwc, to_ndhwc, transpose_geometry
from ..numpy_ops.conv import check_data_format, chunk_size
from ._common import column_sums, float_input, launch_1d, xp
from ._gemm import matmul
from .conv import COL_BUFFER_BYTES


def _geom_args(x_shape, ksize, strides, dil, pads, out):
    """The (n, d, h, w, c, kd, kh, kw, sd, sh, sw, dd, dh, dw, pd, pt, pl, od, oh, ow)
    kernel arguments of an NDHWC volume."""
    return (tuple(x_shape) + tuple(ksize) + tuple(strides) + tuple(dil)
            + tuple(p[0] for p in pads) + tuple(out))


def _vol2col(x, ksize, strides, dil, pads, out):
    """x (N, D, H, W, C), contiguous -> col (N*OD*OH*OW, KD*KH*KW*C)."""
    n, c = x.shape[0], x.shape[4]
    col = xp().empty((n * out[0] * out[1] * out[2], ksize[0] * ksize[1] * ksize[2] * c),
                     dtype=x.dtype)
    launch_1d("conv3d", "vol2col_ndhwc", x.dtype, col.size,
              (x, col) + _geom_args(x.shape, ksize, strides, dil, pads, out))
    return col


def _col2vol(col, x_shape, ksize, strides, dil, pads, out):
    """The adjoint of _vol2col: a new contiguous (N, D, H, W, C) array."""
    x = xp().empty(tuple(x_shape), dtype=col.dtype)
    launch_1d("conv3d", "col2vol_ndhwc", col.dtype, x.size,
              (col, x) + _geom_args(x_shape, ksize, strides, dil, pads, out))
    return x


def _chunks(n, bytes_per_sample):
    step = chunk_size(n, bytes_per_sample, COL_BUFFER_BYTES)
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def _check_kernel(x_shape, kernel, channel_axis, what):
    if kernel.ndim != 5 or kernel.shape[channel_axis] != x_shape[4]:
        raise ValueError(
            f"{what}: the kernel's input-channel axis must equal the input's channels. "
            f"Received: x.shape (channels last)={tuple(x_shape)}, "
            f"kernel.shape={tuple(kernel.shape)}")


def vol2col_forward(x, kernel_size, strides=(1, 1, 1), padding="valid",
                    dilation_rate=(1, 1, 1)):
    """Unfold volume windows into columns (see numpy_ops.conv3d.vol2col_forward)."""
    x = float_input(x, "x")
    ksize, strides, dil, pads, out = conv3d_geometry(x.shape[1:4], kernel_size, strides,
                                                     padding, dilation_rate)
    return _vol2col(x, ksize, strides, dil, pads, out), (tuple(x.shape),)


def vol2col_backward(gcol, saved, kernel_size, strides=(1, 1, 1), padding="valid",
                     dilation_rate=(1, 1, 1)):
    """col2vol: -> (gx,) shaped like the vol2col input."""
    (x_shape,) = saved
    gcol = float_input(gcol, "gcol")
    ksize, strides, dil, pads, out = conv3d_geometry(x_shape[1:4], kernel_size, strides,
                                                     padding, dilation_rate)
    return (_col2vol(gcol, x_shape, ksize, strides, dil, pads, out),)


def conv3d_forward(x, kernel, bias, strides=(1, 1, 1), padding="valid",
                   dilation_rate=(1, 1, 1), data_format="channels_last", input_grad=True):
    """y = conv3d(x, kernel) + bias; see numpy_ops.conv3d.conv3d_forward."""
    check_data_format(data_format)
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", x.dtype)
    xl = to_ndhwc(x, data_format)
    _check_kernel(xl.shape, kernel, 3, "conv3d")
    ksize, strides, dil, pads, out = conv3d_geometry(xl.shape[1:4], kernel.shape[:3],
                                                     strides, padding, dilation_rate)
    n, cout = xl.shape[0], kernel.shape[4]
    wmat = kernel.reshape(-1, cout)
    y = xp().empty((n,) + tuple(out) + (cout,), dtype=x.dtype)
    rows = out[0] * out[1] * out[2]
    for s, e in _chunks(n, rows * wmat.shape[0] * x.itemsize):
        col = _vol2col(xl[s:e], ksize, strides, dil, pads, out)
        matmul(col, wmat, out=y[s:e].reshape(-1, cout))
    if bias is not None:
        y += float_input(bias, "bias", x.dtype)
    return from_ndhwc(y, data_format), (xl, kernel, bias is not None)


def conv3d_backward(gy, saved, strides=(1, 1, 1), padding="valid", dilation_rate=(1, 1, 1),
                    data_format="channels_last", input_grad=True):
    """-> (gx or None, gkernel, gbias or None)."""
    xl, kernel, has_bias = saved
    ksize, strides, dil, pads, out = conv3d_geometry(xl.shape[1:4], kernel.shape[:3],
                                                     strides, padding, dilation_rate)
    gl = to_ndhwc(float_input(gy, "gy", xl.dtype), data_format)
    n, cout = xl.shape[0], kernel.shape[4]
    wmat = kernel.reshape(-1, cout)
    gw = xp().zeros(wmat.shape, dtype=xl.dtype)
    gx = xp().empty(xl.shape, dtype=xl.dtype) if input_grad else None
    rows = out[0] * out[1] * out[2]
    for s, e in _chunks(n, rows * wmat.shape[0] * xl.itemsize):
        gz = gl[s:e].reshape(-1, cout)
        col = _vol2col(xl[s:e], ksize, strides, dil, pads, out)
        gw += matmul(col.T, gz)
        if input_grad:
            gx[s:e] = _col2vol(matmul(gz, wmat.T), (e - s,) + xl.shape[1:], ksize, strides,
                               dil, pads, out)
    gb = column_sums(gl.reshape(-1, cout)) if has_bias else None
    return (None if gx is None else from_ndhwc(gx, data_format), gw.reshape(kernel.shape), gb)


def conv3d_transpose_forward(x, kernel, bias, output_size, strides=(1, 1, 1),
                             padding="valid", dilation_rate=(1, 1, 1),
                             data_format="channels_last"):
    """Transposed 3-D convolution; see numpy_ops.conv3d.conv3d_transpose_forward."""
    check_data_format(data_format)
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", x.dtype)
    xl = to_ndhwc(x, data_format)
    _check_kernel(xl.shape, kernel, 4, "conv3d_transpose")
    ksize, strides, dil, pads, _ = transpose_geometry(xl.shape[1:4], output_size,
                                                      kernel.shape[:3], strides, padding,
                                                      dilation_rate)
    n, cin = xl.shape[0], xl.shape[4]
    cout = kernel.shape[3]
    out_size = tuple(int(v) for v in output_size)
    wmat = kernel.reshape(-1, cin)                                # (K*OUT, C)
    y = xp().empty((n,) + out_size + (cout,), dtype=x.dtype)
    rows = xl.shape[1] * xl.shape[2] * xl.shape[3]
    for s, e in _chunks(n, rows * wmat.shape[0] * x.itemsize):
        col = matmul(xl[s:e].reshape(-1, cin), wmat.T)
        y[s:e] = _col2vol(col, (e - s,) + out_size + (cout,), ksize, strides, dil, pads,
                          xl.shape[1:4])
    if bias is not None:
        y += float_input(bias, "bias", x.dtype)
    return from_ndhwc(y, data_format), (xl, kernel, bias is not None, out_size)


def conv3d_transpose_backward(gy, saved, output_size, strides=(1, 1, 1), padding="valid",
                              dilation_rate=(1, 1, 1), data_format="channels_last"):
    """-> (gx, gkernel, gbias or None)."""
    xl, kernel, has_bias, out_size = saved
    ksize, strides, dil, pads, _ = transpose_geometry(xl.shape[1:4], out_size,
                                                      kernel.shape[:3], strides, padding,
                                                      dilation_rate)
    gl = to_ndhwc(float_input(gy, "gy", xl.dtype), data_format)
    n, cin = xl.shape[0], xl.shape[4]
    wmat = kernel.reshape(-1, cin)
    gw = xp().zeros(wmat.shape, dtype=xl.dtype)
    gx = xp().empty(xl.shape, dtype=xl.dtype)
    rows = xl.shape[1] * xl.shape[2] * xl.shape[3]
    for s, e in _chunks(n, rows * wmat.shape[0] * xl.itemsize):
        col = _vol2col(gl[s:e], ksize, strides, dil, pads, xl.shape[1:4])
        gw += matmul(col.T, xl[s:e].reshape(-1, cin))
        gx[s:e] = matmul(col, wmat).reshape((e - s,) + xl.shape[1:])
    gb = column_sums(gl.reshape(-1, kernel.shape[3])) if has_bias else None
    return from_ndhwc(gx, data_format), gw.reshape(kernel.shape), gb
