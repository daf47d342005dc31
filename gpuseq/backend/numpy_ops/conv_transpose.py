"""NumPy reference: the transposed 2-D convolution (Conv2DTranspose, "deconvolution").

Twin: ``cupy_ops/conv_transpose.py`` (no kernel of its own: the GEMMs and the
im2col / col2im kernels of kernels/conv.cu).

A transposed convolution is the input gradient of a convolution. Take the
convolution ``C`` that maps an image of the *output's* size (OH, OW) with F channels
to one of the *input's* size (H, W) with Cin channels, with the same kernel,
strides, dilation and padding. Then

* forward:  ``y = C^T x``: ``col = x (N*H*W, Cin) @ kernel (KH*KW*F, Cin)^T`` summed
  back onto the image by col2im (conv.py's backward-data, reused as is);
* input gradient: ``gx = C gy``: conv.py's forward on gy;
* kernel gradient: ``im2col(gy)^T @ x``, the convolution's kernel gradient with the
  roles of image and output gradient swapped.

The kernel has Keras's layout ``(KH, KW, F, Cin)``: ``kernel.reshape(KH*KW*F, Cin)``
is exactly the matrix of ``C`` (columns ordered (ky, kx, f)), so nothing is copied.

Padding follows Keras (TensorFlow's ``conv2d_transpose`` for the output sizes Keras
infers): the output length is :func:`deconv_output_length`, and the padding in front
of ``C``'s image is ``max(total // 2, 0)`` for 'same' (``total = (in - 1) * stride +
dilated_kernel - out``), 0 for 'valid'.
"""
import math

import numpy as np

from .conv import (_blas_policy, _bias_act_backward, _bias_act_forward, check_data_format,
                   _im2col_nhwc, _input_grad_nhwc, _to_nchw, _to_nhwc, _workspace,
                   chunk_size, effective_kernel, matmul_nn, matmul_tn_add, normalize_tuple,
                   output_spatial)


def deconv_output_length(length, kernel_size, padding, stride, dilation=1,
                         output_padding=None):
    """Output length of one axis of a transposed convolution, as Keras infers it.

    Args:
        length: the input length (None stays None).
        kernel_size, stride, dilation: positive ints.
        padding: 'valid' or 'same'.
        output_padding: None (the length Keras infers) or an int in [0, stride).

    Without output_padding: 'valid' -> ``length * stride + max(ek - stride, 0)``,
    'same' -> ``length * stride``; with it: ``(length - 1) * stride + ek - 2 * pad +
    output_padding`` where pad is ``ek // 2`` for 'same' and 0 for 'valid'
    (ek = the dilated kernel extent).
    """
    if length is None:
        return None
    ek = effective_kernel(kernel_size, dilation)
    if padding not in ("valid", "same"):
        raise ValueError("Unknown padding. Expected 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(ek - stride, 0)
        return length * stride
    pad = ek // 2 if padding == "same" else 0
    return (length - 1) * stride + ek - 2 * pad + output_padding


def transpose_pads(in_len, out_len, kernel_size, padding, stride, dilation=1):
    """(before, after) padding of the convolution whose adjoint the transposed one is.

    ``before`` places the output: input pixel i, kernel tap k reach output
    ``i * stride - before + k * dilation``. ``after`` only makes the convolution's
    output length equal ``in_len`` (it may be trimmed to 0).
    """
    if padding not in ("valid", "same"):
        raise ValueError("Unknown padding. Expected 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    ek = effective_kernel(kernel_size, dilation)
    total = (in_len - 1) * stride + ek - out_len
    before = max(total // 2, 0) if padding == "same" else 0
    return before, max(total - before, 0)


def _geometry_t(x_shape, kernel_shape, output_size, strides, padding, dilation_rate,
                data_format):
    """-> (ksize, strides, dil, pads, in_hw, out_hw) of a transposed convolution; checks
    that the convolution from out_hw (with these pads) lands on in_hw."""
    check_data_format(data_format)
    ksize = tuple(kernel_shape[:2])
    strides = normalize_tuple(strides, 2, "strides")
    dil = normalize_tuple(dilation_rate, 2, "dilation_rate")
    in_hw = tuple(x_shape[1:3]) if data_format == "channels_last" else tuple(x_shape[2:4])
    if output_size is None:
        out_hw = tuple(deconv_output_length(n, k, padding, s, d)
                       for n, k, s, d in zip(in_hw, ksize, strides, dil))
    else:
        out_hw = normalize_tuple(output_size, 2, "output_size")
    if isinstance(padding, str):
        pads = tuple(transpose_pads(n, o, k, padding, s, d)
                     for n, o, k, s, d in zip(in_hw, out_hw, ksize, strides, dil))
    else:
        pads = tuple((int(a), int(b)) for a, b in padding)
    if output_spatial(out_hw, ksize, strides, pads, dil) != in_hw:
        raise ValueError(
            f"conv2d_transpose cannot produce an output of spatial size {out_hw} from an "
            f"input of spatial size {in_hw} with kernel {ksize}, strides {strides}, "
            f"dilation {dil} and padding {padding!r}: a convolution of that output would "
            f"have size {output_spatial(out_hw, ksize, strides, pads, dil)}. Use the size "
            "deconv_output_length gives, with an output_padding below the stride. "
            f"Received: output_size={output_size!r}")
    return ksize, strides, dil, pads, in_hw, out_hw


def _macs(x, kernel, *args, **kwargs):
    return math.prod(x.shape) * math.prod(kernel.shape) // max(1, kernel.shape[-1])


def _backward_macs(gy, saved, *args, **kwargs):
    return _macs(saved[0], saved[1])


@_blas_policy(_macs)
def conv2d_transpose_forward(x, kernel, bias, output_size=None, strides=(1, 1),
                             padding="valid", dilation_rate=(1, 1),
                             data_format="channels_last", activation="linear",
                             input_grad=True):
    """y = act(conv2d_transpose(x, kernel) + bias), the adjoint of a convolution.

    Args:
        x: (N, H, W, Cin) for channels_last, (N, Cin, H, W) for channels_first.
        kernel: (KH, KW, F, Cin), Keras's Conv2DTranspose layout.
        bias: (F,) or None.
        output_size: (OH, OW), or None for the size Keras infers without output_padding.
        strides, dilation_rate: pairs of positive ints.
        padding: 'valid', 'same' or explicit ((top, bottom), (left, right)) of the
            convolution whose adjoint this is.
        activation: an elementwise activation kind.
        input_grad: whether the backward pass computes the gradient of ``x``.

    Returns:
        (y, saved) with y (N, OH, OW, F) or (N, F, OH, OW).

    Raises:
        ValueError: output_size is not one a convolution of these settings maps
            back onto the input's size.
    """
    ksize, strides, dil, pads, in_hw, out_hw = _geometry_t(
        x.shape, kernel.shape, output_size, strides, padding, dilation_rate, data_format)
    if data_format == "channels_first":
        x = _to_nhwc(x)
    x = np.ascontiguousarray(x)
    n, f = x.shape[0], kernel.shape[2]
    dt = np.result_type(x, kernel)
    z = _input_grad_nhwc(x.astype(dt, copy=False), kernel.astype(dt, copy=False),
                         (n,) + out_hw + (f,), ksize, strides, pads, dil, in_hw)
    axis = -1
    if data_format == "channels_first":
        z, axis = _to_nchw(z), 1
    y, pre = _bias_act_forward(z, bias, activation, axis)
    return y, (x, kernel, y, pre, bias is not None, pads)


@_blas_policy(_backward_macs)
def conv2d_transpose_backward(gy, saved, output_size=None, strides=(1, 1), padding="valid",
                              dilation_rate=(1, 1), data_format="channels_last",
                              activation="linear", input_grad=True):
    """-> (gx like x or None when not input_grad, gkernel (KH, KW, F, Cin), gbias or None).

    One im2col of the output gradient per chunk of the batch serves both products:
    gx = col @ kernel (a convolution) and gkernel += col^T @ x.
    """
    x, kernel, y, pre, has_bias, pads = saved                   # x is NHWC
    kh, kw, f, cin = kernel.shape
    strides = normalize_tuple(strides, 2, "strides")
    dil = normalize_tuple(dilation_rate, 2, "dilation_rate")
    channel_axis = -1 if data_format == "channels_last" else 1
    gz, gb = _bias_act_backward(gy, y, pre, activation, has_bias, channel_axis)
    gz = np.ascontiguousarray(gz) if data_format == "channels_last" else _to_nhwc(gz)
    n, h, w, _ = x.shape
    kdim = kh * kw * f
    wmat = kernel.reshape(kdim, cin)                            # (KH*KW*F, Cin)
    rows = h * w
    gx = np.empty(x.shape, dtype=gz.dtype) if input_grad else None
    gx2 = None if gx is None else gx.reshape(n * rows, cin)
    x2 = x.reshape(n * rows, cin)
    gw = np.zeros((kdim, cin), dtype=gz.dtype)                  # (KH*KW*F, Cin)
    step = chunk_size(n, rows * kdim * gz.itemsize)
    for s in range(0, n, step):
        e = min(n, s + step)
        buf = _workspace((e - s) * rows * kdim, gz.dtype).reshape((e - s) * rows, kdim)
        col = _im2col_nhwc(gz[s:e], (kh, kw), strides, pads, dil, (h, w), out=buf)
        matmul_tn_add(col, x2[s * rows:e * rows], gw)
        if gx2 is not None:
            matmul_nn(col, wmat, gx2[s * rows:e * rows])
    if gx is not None and data_format == "channels_first":
        gx = _to_nchw(gx)
    return gx, gw.reshape(kernel.shape), gb

