"""NumPy reference: locally connected (unshared-weight) convolution, 1-D and 2-D.

Every output position ``p`` has its own kernel ``kernel[p]`` of shape (K, filters):
the window of the input that position sees, flattened to K values, times that
kernel. The windows are gathered with the convolution's im2col
(:mod:`numpy_ops.conv`), rearranged to ``patches (P, N, K)``, and multiplied with
``kernel (P, K, filters)`` in one batched GEMM over the positions; the input
gradient goes back through col2im.

Layouts are Keras 2.2.4's (``K.local_conv1d`` / ``K.local_conv2d``), so weights move
between Keras and gpuseq unchanged:

* 1-D, channels last only: x (N, L, C); kernel (OL, KL*C, F), window order (k, c);
  bias (OL, F); y (N, OL, F).
* 2-D channels_last: x (N, H, W, C); kernel (OH*OW, KH*KW*C, F), window order
  (ky, kx, c), positions row-major; bias (OH, OW, F); y (N, OH, OW, F).
* 2-D channels_first: x (N, C, H, W); window order (c, ky, kx); the same kernel and
  bias shapes; y (N, F, OH, OW).

Padding is 'valid' (the only mode Keras 2.2.4 has for these layers), no dilation.
"""
import numpy as np

from .conv import (check_data_format, _col2im_nchw, _col2im_nhwc, _im2col_nchw, _im2col_nhwc,
                   normalize_tuple)


def local_conv_geometry(x_shape, kernel_size, strides, data_format):
    """(ksize, strides, spatial, out, channels) of a locally connected op, 2-D form.

    A 1-D input (N, L, C) is read as the image (N, 1, L, C) with a (1, KL) window.
    Raises ValueError when the window does not fit the input ('valid' padding).
    """
    check_data_format(data_format)
    rank = len(x_shape) - 2
    if rank not in (1, 2):
        raise ValueError(f"local_conv expects a 3-D (batch, steps, channels) or 4-D image "
                         f"input. Received: x.shape={tuple(x_shape)}")
    if rank == 1 and data_format != "channels_last":
        raise ValueError("local_conv in 1-D supports data_format='channels_last' only. "
                         f"Received: data_format={data_format!r}")
    ksize = normalize_tuple(kernel_size, rank, "kernel_size")
    strides = normalize_tuple(strides, rank, "strides")
    if rank == 1:
        ksize, strides = (1,) + ksize, (1,) + strides
        spatial, channels = (1, x_shape[1]), x_shape[2]
    elif data_format == "channels_last":
        spatial, channels = tuple(x_shape[1:3]), x_shape[3]
    else:
        spatial, channels = tuple(x_shape[2:4]), x_shape[1]
    if any(k > n for k, n in zip(ksize, spatial)):
        raise ValueError(f"local_conv: the window {ksize} is larger than the input's spatial "
                         f"size {spatial} ('valid' padding). Received: x.shape={tuple(x_shape)}")
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, ksize, strides))
    return ksize, strides, spatial, out, channels


def _check_kernel(kernel, out, ksize, channels):
    expected = (out[0] * out[1], ksize[0] * ksize[1] * channels)
    if kernel.ndim != 3 or tuple(kernel.shape[:2]) != expected:
        raise ValueError(f"local_conv: the kernel must be (positions, window size * channels, "
                         f"filters) = {expected + ('filters',)}. "
                         f"Received: kernel.shape={tuple(kernel.shape)}")


_NO_PADS = ((0, 0), (0, 0))
_NO_DILATION = (1, 1)


def _as_image(x, rank):
    """A 1-D input (N, L, C) as the image (N, 1, L, C); 2-D unchanged."""
    return x[:, None] if rank == 1 else x


def gather_patches(x, ksize, strides, out, data_format):
    """The windows of x as ``patches (P, N, K)``, in Keras's window order."""
    n = x.shape[0]
    p = out[0] * out[1]
    if data_format == "channels_last":
        col = _im2col_nhwc(x, ksize, strides, _NO_PADS, _NO_DILATION, out)   # (N*P, K)
        return np.ascontiguousarray(col.reshape(n, p, -1).transpose(1, 0, 2))
    col = _im2col_nchw(x, ksize, strides, _NO_PADS, _NO_DILATION, out)       # (N, K, P)
    return np.ascontiguousarray(col.transpose(2, 0, 1))


def scatter_patches(gpatches, x_shape, ksize, strides, out, data_format):
    """The adjoint of :func:`gather_patches`: (P, N, K) sums back onto an x-shaped array."""
    p, n, k = gpatches.shape
    if data_format == "channels_last":
        col = np.ascontiguousarray(gpatches.transpose(1, 0, 2)).reshape(n * p, k)
        return _col2im_nhwc(col, x_shape, ksize, strides, _NO_PADS, _NO_DILATION, out)
    col = np.ascontiguousarray(gpatches.transpose(1, 2, 0))                   # (N, K, P)
    return _col2im_nchw(col, x_shape, ksize, strides, _NO_PADS, _NO_DILATION, out)


def positions_to_output(yp, out, rank, data_format):
    """(P, N, F) -> y: (N, OL, F), (N, OH, OW, F) or (N, F, OH, OW)."""
    p, n, f = yp.shape
    if data_format == "channels_first":
        return np.ascontiguousarray(yp.transpose(1, 2, 0)).reshape(n, f, out[0], out[1])
    y = np.ascontiguousarray(yp.transpose(1, 0, 2))
    return y.reshape((n, out[1], f) if rank == 1 else (n, out[0], out[1], f))


def output_to_positions(gy, data_format):
    """The inverse of :func:`positions_to_output`: gy -> (P, N, F)."""
    n = gy.shape[0]
    if data_format == "channels_first":
        return np.ascontiguousarray(gy.reshape(n, gy.shape[1], -1).transpose(2, 0, 1))
    return np.ascontiguousarray(gy.reshape(n, -1, gy.shape[-1]).transpose(1, 0, 2))


def local_conv_forward(x, kernel, bias, kernel_size, strides, data_format="channels_last",
                       input_grad=True):
    """y = for every output position p: window_p(x) @ kernel[p] + bias[p].

    Args:
        x: (N, L, C), or (N, H, W, C) / (N, C, H, W).
        kernel: (P, K, F) with P the number of output positions and K the window size
            times the channels, in Keras's window order (see the module docstring).
        bias: (OL, F) or (OH, OW, F), or None.
        kernel_size, strides: ints or tuples of the input's spatial rank.
        data_format: 'channels_last' | 'channels_first' (2-D only).
        input_grad: whether the backward pass computes the input gradient.

    Returns:
        (y, saved): y (N, OL, F), (N, OH, OW, F) or (N, F, OH, OW).
    """
    rank = x.ndim - 2
    ksize, strides, _, out, channels = local_conv_geometry(x.shape, kernel_size, strides,
                                                           data_format)
    _check_kernel(kernel, out, ksize, channels)
    xi = _as_image(x, rank)
    patches = gather_patches(xi, ksize, strides, out, data_format)
    yp = np.matmul(patches, kernel)                                           # (P, N, F)
    if bias is not None:
        yp += bias.reshape(yp.shape[0], 1, yp.shape[2])
    return positions_to_output(yp, out, rank, data_format), \
        (patches, kernel, tuple(xi.shape), (rank, ksize, strides, out),
         None if bias is None else tuple(bias.shape))


def local_conv_backward(gy, saved, kernel_size, strides, data_format="channels_last",
                        input_grad=True):
    """-> (gx or None, gkernel, gbias or None)."""
    patches, kernel, image_shape, geometry, bias_shape = saved
    rank, ksize, strides, out = geometry
    gp = output_to_positions(gy, data_format)                                 # (P, N, F)
    gkernel = np.matmul(patches.transpose(0, 2, 1), gp)                       # (P, K, F)
    gbias = None
    if bias_shape is not None:
        gbias = gp.sum(axis=1).reshape(bias_shape)
    gx = None
    if input_grad:
        gpatches = np.matmul(gp, kernel.transpose(0, 2, 1))                   # (P, N, K)
        gx = scatter_patches(gpatches, image_shape, ksize, strides, out, data_format)
        if rank == 1:
            gx = gx.reshape(gx.shape[0], gx.shape[2], gx.shape[3])
    return gx, gkernel, gbias
