"""CUDA twin of ``numpy_ops/conv_transpose.py``: the transposed 2-D convolution.

No kernel of its own: the forward is the convolution's backward-data, ``gcol = x @
kernel^T`` (cuBLAS) followed by the col2im gather of kernels/conv.cu; the input
gradient is the convolution's forward (im2col + GEMM) and the kernel gradient
``im2col(gy)^T @ x``, both from one im2col per chunk of the batch. Bias and
activation as for Conv2D. Deterministic: col2im gathers, no atomics.
"""
from ..numpy_ops.conv import chunk_size
from ..numpy_ops.conv_transpose import _geometry_t
from ._common import column_sums, float_input, launch_1d, xp
from ._gemm import matmul
from .activations import activation_backward, activation_forward, bias_activation_forward
from .conv import COL_BUFFER_BYTES, _col2im, _im2col


def conv2d_transpose_forward(x, kernel, bias, output_size=None, strides=(1, 1),
                             padding="valid", dilation_rate=(1, 1),
                             data_format="channels_last", activation="linear",
                             input_grad=True):
    """y = act(conv2d_transpose(x, kernel) + bias); see numpy_ops.conv_transpose.

    x: (N, H, W, Cin) or (N, Cin, H, W); kernel (KH, KW, F, Cin); bias (F,) or None.
    saved = (x, kernel, pre, y, has_bias, pads).
    """
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", dtype=x.dtype)
    ksize, strides, dil, pads, in_hw, out_hw = _geometry_t(
        x.shape, kernel.shape, output_size, strides, padding, dilation_rate, data_format)
    kh, kw, f, cin = kernel.shape
    n = x.shape[0]
    kdim = kh * kw * f
    rows = in_hw[0] * in_hw[1]
    m = xp()
    if bias is not None:
        bias = float_input(bias, "bias", dtype=x.dtype)
        if bias.shape != (f,):         # the kernels read bias[0 .. f)
            raise ValueError(f"conv2d_transpose expected a bias of shape ({f},), one value "
                             f"per output channel of the kernel {tuple(kernel.shape)}. "
                             f"Received: bias.shape={tuple(bias.shape)}")
    step = chunk_size(n, rows * kdim * x.itemsize, COL_BUFFER_BYTES)
    if data_format == "channels_last":
        wmat = kernel.reshape(kdim, cin)                           # (KH*KW*F, Cin)
        x2 = x.reshape(n * rows, cin)
        z = m.empty((n,) + out_hw + (f,), dtype=x.dtype)           # (N, OH, OW, F)
        for s in range(0, n, step):
            e = min(n, s + step)
            gcol = matmul(x2[s * rows:e * rows], wmat.T)           # (rows, KH*KW*F)
            _col2im(gcol, (e - s,) + out_hw + (f,), data_format, ksize, strides, pads, dil,
                    in_hw, out=z[s:e])
        y, (pre, _) = bias_activation_forward(z, bias, activation)
        return y, (x, kernel, pre, y, bias is not None, pads)
    wt = m.ascontiguousarray(kernel.transpose(3, 2, 0, 1).reshape(cin, kdim))  # (Cin, F*KH*KW)
    x3 = x.reshape(n, cin, rows)
    z = m.empty((n, f) + out_hw, dtype=x.dtype)                    # (N, F, OH, OW)
    for s in range(0, n, step):
        e = min(n, s + step)
        gcol = m.ascontiguousarray(matmul(wt.T, x3[s:e]))          # (n, F*KH*KW, H*W)
        _col2im(gcol, (e - s, f) + out_hw, data_format, ksize, strides, pads, dil, in_hw,
                out=z[s:e])
    if bias is not None:
        launch_1d("conv", "add_channel_bias", z.dtype, z.size,
                  (z, bias, z.size, f, out_hw[0] * out_hw[1]))
    y, (pre, _) = activation_forward(z, activation)
    return y, (x, kernel, pre, y, bias is not None, pads)


def conv2d_transpose_backward(gy, saved, output_size=None, strides=(1, 1), padding="valid",
                              dilation_rate=(1, 1), data_format="channels_last",
                              activation="linear", input_grad=True):
    """-> (gx or None, gkernel (KH, KW, F, Cin), gbias (F,) or None)."""
    x, kernel, pre, y, has_bias, pads = saved
    m = xp()
    gy = float_input(gy, "gy", dtype=x.dtype)
    ksize, strides, dil, _, in_hw, out_hw = _geometry_t(
        x.shape, kernel.shape, tuple(gy.shape[1:3] if data_format == "channels_last"
                                     else gy.shape[2:4]),
        strides, pads, dilation_rate, data_format)
    kh, kw, f, cin = kernel.shape
    n = x.shape[0]
    kdim = kh * kw * f
    rows = in_hw[0] * in_hw[1]
    gz = gy if activation == "linear" else activation_backward(gy, (pre, y), activation)[0]
    if not has_bias:
        gb = None
    elif data_format == "channels_last":
        gb = column_sums(gz.reshape(-1, f))
    else:
        per_sample = matmul(gz.reshape(n, f, out_hw[0] * out_hw[1]),
                            m.ones((out_hw[0] * out_hw[1],), dtype=gz.dtype))   # (N, F)
        gb = column_sums(per_sample)
    gx = m.empty(x.shape, dtype=x.dtype) if input_grad else None
    step = chunk_size(n, rows * kdim * x.itemsize, COL_BUFFER_BYTES)
    if data_format == "channels_last":
        wmat = kernel.reshape(kdim, cin)
        x2 = x.reshape(n * rows, cin)
        gw = m.zeros((kdim, cin), dtype=x.dtype)                   # (KH*KW*F, Cin)
        for s in range(0, n, step):
            e = min(n, s + step)
            col = _im2col(gz[s:e], data_format, ksize, strides, pads, dil, in_hw)
            gw += matmul(col.T, x2[s * rows:e * rows])
            if input_grad:
                matmul(col, wmat, out=gx.reshape(n * rows, cin)[s * rows:e * rows])
        return gx, gw.reshape(kernel.shape), gb
    wt = m.ascontiguousarray(kernel.transpose(3, 2, 0, 1).reshape(cin, kdim))
    x3 = x.reshape(n, cin, rows)
    gwt = m.zeros((cin, kdim), dtype=x.dtype)                      # (Cin, F*KH*KW)
    for s in range(0, n, step):
        e = min(n, s + step)
        col = _im2col(gz[s:e], data_format, ksize, strides, pads, dil, in_hw)  # (n, F*KH*KW, H*W)
        gwt += matmul(x3[s:e], col.transpose(0, 2, 1)).sum(axis=0)
        if input_grad:
            matmul(wt, col, out=gx.reshape(n, cin, rows)[s:e])
    gw = m.ascontiguousarray(gwt.reshape(cin, f, kh, kw).transpose(2, 3, 1, 0))
    return gx, gw, gb
