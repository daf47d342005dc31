"""Plain direct-loop references of the transposed, depthwise and separable
convolutions, next to the convolution references of test_conv_ops (re-exported here):
obviously correct, never tuned."""
import math

import numpy as np

from test_conv_ops import ref_act, ref_conv1d, ref_conv2d, ref_pads  # noqa: F401


def ref_deconv_length(n, k, stride, dilation, padding, output_padding):
    """Keras's output length of a transposed convolution, written out."""
    ek = (k - 1) * dilation + 1
    if output_padding is None:
        return n * stride + max(ek - stride, 0) if padding == "valid" else n * stride
    pad = ek // 2 if padding == "same" else 0
    return (n - 1) * stride + ek - 2 * pad + output_padding


def ref_transpose_front_pad(n, out, k, stride, dilation, padding):
    """How far the first input pixel's first tap lands before output 0, by the explicit
    padding of the equivalent stride-1 convolution of the zero-stuffed input (the form
    Keras 3 computes for JAX): front = dilated kernel - 1 - its left padding."""
    ek = (k - 1) * dilation + 1
    stuffed = (n - 1) * stride + 1
    pad_len = out + ek - 1 - stuffed           # left + right padding of the stuffed input
    if padding == "valid":
        left = ek - 1
    else:
        left = min(math.ceil(pad_len / 2), ek - 1)
    return ek - 1 - left


def ref_conv2d_transpose(x, kernel, bias, strides=(1, 1), padding="valid",
                         output_padding=None, dilation=(1, 1), data_format="channels_last",
                         activation="linear"):
    """Scatter loop: input pixel (i, j) adds kernel[ky, kx] @ x[i, j] at output
    (i * sh - front + ky * dh, j * sw - front + kx * dw). kernel: (KH, KW, F, Cin)."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, _ = x.shape
    kh, kw, f, _ = kernel.shape
    op = (None, None) if output_padding is None else output_padding
    oh = ref_deconv_length(h, kh, strides[0], dilation[0], padding, op[0])
    ow = ref_deconv_length(w, kw, strides[1], dilation[1], padding, op[1])
    ft = ref_transpose_front_pad(h, oh, kh, strides[0], dilation[0], padding)
    fl = ref_transpose_front_pad(w, ow, kw, strides[1], dilation[1], padding)
    y = np.zeros((n, oh, ow, f))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for a in range(kh):
                    for c in range(kw):
                        r = i * strides[0] - ft + a * dilation[0]
                        q = j * strides[1] - fl + c * dilation[1]
                        if 0 <= r < oh and 0 <= q < ow:
                            y[b, r, q] += kernel[a, c] @ x[b, i, j]
    if bias is not None:
        y += bias
    y = ref_act(y, activation)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_depthwise_conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1),
                         data_format="channels_last", activation="linear"):
    """Direct loops; output channel c * M + m. kernel: (KH, KW, C, M)."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    kh, kw, _, m = kernel.shape
    (pt, pb), (pl, pr) = (ref_pads(h, kh, strides[0], dilation[0], padding),
                          ref_pads(w, kw, strides[1], dilation[1], padding))
    xp = np.zeros((n, h + pt + pb, w + pl + pr, c))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = (h + pt + pb - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (w + pl + pr - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    y = np.zeros((n, oh, ow, c * m))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    for mm in range(m):
                        s = 0.0
                        for a in range(kh):
                            for q in range(kw):
                                s += xp[b, i * strides[0] + a * dilation[0],
                                        j * strides[1] + q * dilation[1], ch] * kernel[a, q, ch, mm]
                        y[b, i, j, ch * m + mm] = s
    if bias is not None:
        y += bias
    y = ref_act(y, activation)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_separable_conv2d(x, depthwise, pointwise, bias, strides=(1, 1), padding="valid",
                         dilation=(1, 1), data_format="channels_last", activation="linear"):
    """Depthwise (no bias) then the 1x1 pointwise kernel (1, 1, C*M, F), then bias and
    activation."""
    d = ref_depthwise_conv2d(x, depthwise, None, strides, padding, dilation, data_format)
    if data_format == "channels_first":
        d = d.transpose(0, 2, 3, 1)
    y = d @ pointwise[0, 0]
    if bias is not None:
        y = y + bias
    y = ref_act(y, activation)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_separable_conv1d(x, depthwise, pointwise, bias, stride=1, padding="valid",
                         dilation=1, data_format="channels_last", activation="linear"):
    """The 1-D form: depthwise (K, C, M), pointwise (1, C*M, F), as a height-1 image."""
    x4 = x[:, None] if data_format == "channels_last" else x[:, :, None]
    y = ref_separable_conv2d(x4, depthwise[None], pointwise[None], bias, (1, stride), padding,
                             (1, dilation), data_format, activation)
    return y[:, 0] if data_format == "channels_last" else y[:, :, 0]
