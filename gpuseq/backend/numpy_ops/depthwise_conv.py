"""NumPy reference: the depthwise 2-D convolution (DepthwiseConv2D, and the first half
of SeparableConv1D / SeparableConv2D).

Twin: ``cupy_ops/depthwise_conv.py`` (kernels/depthwise_conv.cu).

Each input channel c is convolved with its own ``depth_multiplier`` (M) filters;
output channel ``c * M + m`` is

    y[n, oy, ox, c*M + m] = sum_{ky, kx} x[n, oy*sh - pt + ky*dh, ox*sw - pl + kx*dw, c]
                                         * kernel[ky, kx, c, m]

(positions outside the image read as zero; cross-correlation, TensorFlow's 'same'
rule), the layout and channel order of TensorFlow's ``depthwise_conv2d`` and Keras.
A grouped direct convolution: there is no column matrix, each of the KH*KW kernel
taps is one strided multiply-add over the batch. Runs in NHWC; channels_first input
is transposed in and out.
"""
import numpy as np

from .conv import (_bias_act_backward, _bias_act_forward, _geometry, _pad_nhwc, _to_nchw,
                   _to_nhwc)


def _tap_slices(ky, kx, strides, dil, out_hw):
    """The (rows, cols) slices of the padded image that tap (ky, kx) reads."""
    (sh, sw), (dh, dw), (oh, ow) = strides, dil, out_hw
    return (slice(ky * dh, ky * dh + (oh - 1) * sh + 1, sh),
            slice(kx * dw, kx * dw + (ow - 1) * sw + 1, sw))


def depthwise_conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid",
                             dilation_rate=(1, 1), data_format="channels_last",
                             activation="linear", input_grad=True):
    """y = act(depthwise_conv2d(x, kernel) + bias).

    Args:
        x: (N, H, W, C) for channels_last, (N, C, H, W) for channels_first.
        kernel: (KH, KW, C, M), Keras's depthwise layout (M = depth_multiplier).
        bias: (C * M,) or None.
        strides, dilation_rate: pairs of positive ints.
        padding: 'valid', 'same' or explicit ((top, bottom), (left, right)).
        activation: an elementwise activation kind.
        input_grad: whether the backward pass computes the gradient of ``x``.

    Returns:
        (y, saved) with y (N, OH, OW, C*M) or (N, C*M, OH, OW).
    """
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel.shape[:2], strides, padding,
                                                  dilation_rate, data_format)
    if data_format == "channels_first":
        x = _to_nhwc(x)
    kh, kw, c, m = kernel.shape
    if x.shape[3] != c:
        raise ValueError(f"depthwise_conv2d: the kernel {tuple(kernel.shape)} is for {c} "
                         f"input channels, but x has {x.shape[3]} (shape {tuple(x.shape)} in "
                         f"NHWC). Received: kernel.shape={tuple(kernel.shape)}")
    n = x.shape[0]
    xp = _pad_nhwc(x, pads)
    # one (N, OH, OW, C) plane per filter m, so that every multiply-add runs along the
    # contiguous channels (a trailing axis of M elements is many times slower)
    zm = np.zeros((m, n) + out_hw + (c,), dtype=np.result_type(x, kernel))
    tmp = np.empty(zm.shape[1:], dtype=zm.dtype)
    for ky in range(kh):
        for kx in range(kw):
            rows, cols = _tap_slices(ky, kx, strides, dil, out_hw)
            for mi in range(m):
                np.multiply(xp[:, rows, cols, :], kernel[ky, kx, :, mi], out=tmp)
                zm[mi] += tmp
    z = (zm[0] if m == 1 else np.ascontiguousarray(np.moveaxis(zm, 0, -1))).reshape(
        (n,) + out_hw + (c * m,))                               # (N, OH, OW, C*M)
    axis = -1
    if data_format == "channels_first":
        z, axis = _to_nchw(z), 1
    y, pre = _bias_act_forward(z, bias, activation, axis)
    return y, (x, kernel, y, pre, bias is not None, pads)


def depthwise_conv2d_backward(gy, saved, strides=(1, 1), padding="valid",
                              dilation_rate=(1, 1), data_format="channels_last",
                              activation="linear", input_grad=True):
    """-> (gx like x or None when not input_grad, gkernel (KH, KW, C, M), gbias or None)."""
    x, kernel, y, pre, has_bias, pads = saved                   # x is NHWC
    ksize, strides, dil, _, out_hw = _geometry(x.shape, kernel.shape[:2], strides, pads,
                                               dilation_rate, "channels_last")
    channel_axis = -1 if data_format == "channels_last" else 1
    gz, gb = _bias_act_backward(gy, y, pre, activation, has_bias, channel_axis)
    gz = np.ascontiguousarray(gz) if data_format == "channels_last" else _to_nhwc(gz)
    kh, kw, c, m = kernel.shape
    n, h, w, _ = x.shape
    g5 = gz.reshape((n,) + out_hw + (c, m))                     # (N, OH, OW, C, M)
    gm = g5[..., 0] if m == 1 else np.ascontiguousarray(np.moveaxis(g5, -1, 0))
    gm = gm.reshape((m, n) + out_hw + (c,))                     # (M, N, OH, OW, C)
    xp = _pad_nhwc(x, pads)
    gk = np.empty(kernel.shape, dtype=gz.dtype)
    gxp = np.zeros(xp.shape, dtype=gz.dtype) if input_grad else None
    tmp = np.empty(gm.shape[1:], dtype=gz.dtype)
    ones = np.ones(tmp.size // max(c, 1), dtype=gz.dtype)      # column sums as one GEMV
    for ky in range(kh):
        for kx in range(kw):
            rows, cols = _tap_slices(ky, kx, strides, dil, out_hw)
            xs = xp[:, rows, cols, :]                           # (N, OH, OW, C) view
            for mi in range(m):
                np.multiply(xs, gm[mi], out=tmp)
                gk[ky, kx, :, mi] = ones @ tmp.reshape(-1, c)
                if gxp is not None:
                    np.multiply(gm[mi], kernel[ky, kx, :, mi], out=tmp)
                    gxp[:, rows, cols, :] += tmp
    gx = None
    if gxp is not None:
        (pt, _), (pl, _) = pads
        gx = np.ascontiguousarray(gxp[:, pt:pt + h, pl:pl + w, :])
        if data_format == "channels_first":
            gx = _to_nchw(gx)
    return gx, gk, gb
