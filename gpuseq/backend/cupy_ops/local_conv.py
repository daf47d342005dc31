"""CUDA twin of ``numpy_ops/local_conv.py``: locally connected convolution as the
convolution's im2col, one strided-batched GEMM over the output positions, and the
gather-style col2im for the input gradient.

Kernels: kernels/conv.cu (``im2col_nhwc`` / ``im2col_nchw``, ``col2im_nhwc`` /
``col2im_nchw``, deterministic gathers); the batched products ``(P, N, K) @ (P, K, F)``
through ``_gemm.matmul`` (``cublasGemmStridedBatchedEx`` on the GPU); the bias gradient
as column sums (one GEMV). Same names, signatures and results as the NumPy reference.
"""
from ..numpy_ops.local_conv import _check_kernel, local_conv_geometry
from ._common import column_sums, float_input, xp
from ._gemm import matmul
from .conv import _col2im, _im2col

_NO_PADS = ((0, 0), (0, 0))
_NO_DILATION = (1, 1)


def _gather_patches(x, ksize, strides, out, data_format):
    """x (an image batch, contiguous) -> patches (P, N, K), Keras's window order."""
    n, p = x.shape[0], out[0] * out[1]
    col = _im2col(x, data_format, ksize, strides, _NO_PADS, _NO_DILATION, out)
    if data_format == "channels_last":                      # (N*P, K)
        return xp().ascontiguousarray(col.reshape(n, p, -1).transpose(1, 0, 2))
    return xp().ascontiguousarray(col.transpose(2, 0, 1))   # (N, K, P) -> (P, N, K)


def _scatter_patches(gpatches, x_shape, ksize, strides, out, data_format):
    p, n, k = gpatches.shape
    if data_format == "channels_last":
        col = xp().ascontiguousarray(gpatches.transpose(1, 0, 2)).reshape(n * p, k)
    else:
        col = xp().ascontiguousarray(gpatches.transpose(1, 2, 0))
    return _col2im(col, x_shape, data_format, ksize, strides, _NO_PADS, _NO_DILATION, out)


def _positions_to_output(yp, out, rank, data_format):
    p, n, f = yp.shape
    if data_format == "channels_first":
        return xp().ascontiguousarray(yp.transpose(1, 2, 0)).reshape(n, f, out[0], out[1])
    y = xp().ascontiguousarray(yp.transpose(1, 0, 2))
    return y.reshape((n, out[1], f) if rank == 1 else (n, out[0], out[1], f))


def _output_to_positions(gy, data_format):
    n = gy.shape[0]
    if data_format == "channels_first":
        return xp().ascontiguousarray(gy.reshape(n, gy.shape[1], -1).transpose(2, 0, 1))
    return xp().ascontiguousarray(gy.reshape(n, -1, gy.shape[-1]).transpose(1, 0, 2))


def local_conv_forward(x, kernel, bias, kernel_size, strides, data_format="channels_last",
                       input_grad=True):
    """y = window_p(x) @ kernel[p] + bias[p] per output position p; see
    numpy_ops.local_conv.local_conv_forward."""
    x = xp().ascontiguousarray(float_input(x, "x"))
    kernel = xp().ascontiguousarray(float_input(kernel, "kernel", x.dtype))
    rank = x.ndim - 2
    ksize, strides, _, out, channels = local_conv_geometry(x.shape, kernel_size, strides,
                                                           data_format)
    _check_kernel(kernel, out, ksize, channels)
    xi = x[:, None] if rank == 1 else x
    patches = _gather_patches(xi, ksize, strides, out, data_format)
    yp = matmul(patches, kernel)                                          # (P, N, F)
    if bias is not None:
        yp += float_input(bias, "bias", x.dtype).reshape(yp.shape[0], 1, yp.shape[2])
    return _positions_to_output(yp, out, rank, data_format), \
        (patches, kernel, tuple(xi.shape), (rank, ksize, strides, out),
         None if bias is None else tuple(bias.shape))


def local_conv_backward(gy, saved, kernel_size, strides, data_format="channels_last",
                        input_grad=True):
    """-> (gx or None, gkernel, gbias or None)."""
    patches, kernel, image_shape, geometry, bias_shape = saved
    rank, ksize, strides, out = geometry
    gp = _output_to_positions(float_input(gy, "gy", kernel.dtype), data_format)  # (P, N, F)
    gkernel = matmul(patches.transpose(0, 2, 1), gp)                      # (P, K, F)
    gbias = None
    if bias_shape is not None:
        n = gp.shape[1]
        by_sample = xp().ascontiguousarray(gp.transpose(1, 0, 2)).reshape(n, -1)
        gbias = column_sums(by_sample).reshape(bias_shape)
    gx = None
    if input_grad:
        gpatches = matmul(gp, kernel.transpose(0, 2, 1))                  # (P, N, K)
        gx = _scatter_patches(gpatches, image_shape, ksize, strides, out, data_format)
        if rank == 1:
            gx = gx.reshape(gx.shape[0], gx.shape[2], gx.shape[3])
    return gx, gkernel, gbias
