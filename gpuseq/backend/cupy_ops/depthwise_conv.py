"""CUDA twin of ``numpy_ops/depthwise_conv.py``: the depthwise 2-D convolution.

Kernels: kernels/depthwise_conv.cu (a direct grouped convolution, its input gradient
as a gather and its kernel gradient as per-split block sums; no atomics), then the
bias and activation kernels the convolutions use (kernels/activations.cu, and
``add_channel_bias`` of kernels/conv.cu for channels_first). The convolution runs in
NHWC; channels_first input is transposed in and out. Same names, signatures and
results as the NumPy reference.
"""
from .. import kernel_loader as kl
from ..numpy_ops.conv import _geometry
from ._common import column_sums, float_input, launch_1d, xp
from ._gemm import matmul
from .activations import activation_backward, activation_forward, bias_activation_forward

# The kernel gradient sums over the output pixels in splits of at least
# KGRAD_MIN_SPLIT_PIXELS, enough of them for about KGRAD_SPLIT_BLOCKS blocks: a fixed
# function of the shapes, so the summation order is the same on every device.
KGRAD_SPLIT_BLOCKS = 512
KGRAD_MIN_SPLIT_PIXELS = 256


def _geom(x_shape, kernel_shape, strides, pads, dil, out_hw):
    """The (n, h, w, c, m, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow) kernel arguments."""
    n, h, w, c = x_shape
    kh, kw, _, m = kernel_shape
    return (n, h, w, c, m, kh, kw, strides[0], strides[1], dil[0], dil[1], pads[0][0],
            pads[1][0], out_hw[0], out_hw[1])


def kernel_grad_splits(pixels, tiles):
    """(pixels per split, splits) of the kernel gradient's sum over ``pixels`` output
    pixels for a launch of ``tiles`` blocks per split."""
    want = max(1, -(-KGRAD_SPLIT_BLOCKS // max(1, tiles)))
    per = max(KGRAD_MIN_SPLIT_PIXELS, -(-pixels // want))
    return per, max(1, -(-pixels // per))


def _nhwc(a):
    return xp().ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return xp().ascontiguousarray(a.transpose(0, 3, 1, 2))


def depthwise_conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid",
                             dilation_rate=(1, 1), data_format="channels_last",
                             activation="linear", input_grad=True):
    """y = act(depthwise_conv2d(x, kernel) + bias); see numpy_ops.depthwise_conv.

    saved = (x in NHWC, kernel, pre, y, has_bias, pads).
    """
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", dtype=x.dtype)
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel.shape[:2], strides, padding,
                                                  dilation_rate, data_format)
    if data_format == "channels_first":
        x = _nhwc(x)
    kh, kw, c, m = kernel.shape
    if x.shape[3] != c:
        raise ValueError(f"depthwise_conv2d: the kernel {tuple(kernel.shape)} is for {c} "
                         f"input channels, but x has {x.shape[3]} (shape {tuple(x.shape)} in "
                         f"NHWC). Received: kernel.shape={tuple(kernel.shape)}")
    if bias is not None:
        bias = float_input(bias, "bias", dtype=x.dtype)
        if bias.shape != (c * m,):     # the kernels read bias[0 .. c*m)
            raise ValueError(f"depthwise_conv2d expected a bias of shape ({c * m},), one "
                             "value per output channel. Received: "
                             f"bias.shape={tuple(bias.shape)}")
    z = xp().empty((x.shape[0],) + out_hw + (c * m,), dtype=x.dtype)   # (N, OH, OW, C*M)
    launch_1d("depthwise_conv", "depthwise_conv2d_forward", x.dtype, z.size,
              (x, kernel, z) + _geom(x.shape, kernel.shape, strides, pads, dil, out_hw))
    if data_format == "channels_last":
        y, (pre, _) = bias_activation_forward(z, bias, activation)
    else:
        z = _nchw(z)
        if bias is not None:
            launch_1d("conv", "add_channel_bias", z.dtype, z.size,
                      (z, bias, z.size, c * m, out_hw[0] * out_hw[1]))
        y, (pre, _) = activation_forward(z, activation)
    return y, (x, kernel, pre, y, bias is not None, pads)


def depthwise_conv2d_backward(gy, saved, strides=(1, 1), padding="valid",
                              dilation_rate=(1, 1), data_format="channels_last",
                              activation="linear", input_grad=True):
    """-> (gx or None, gkernel (KH, KW, C, M), gbias (C*M,) or None)."""
    x, kernel, pre, y, has_bias, pads = saved
    arr = xp()
    gy = float_input(gy, "gy", dtype=x.dtype)
    ksize, strides, dil, _, out_hw = _geometry(x.shape, kernel.shape[:2], strides, pads,
                                               dilation_rate, "channels_last")
    kh, kw, c, m = kernel.shape
    n = x.shape[0]
    cm = c * m
    gz = gy if activation == "linear" else activation_backward(gy, (pre, y), activation)[0]
    gb = None
    if has_bias and data_format == "channels_last":
        gb = column_sums(gz.reshape(-1, cm))
    elif has_bias:
        per_sample = matmul(gz.reshape(n, cm, out_hw[0] * out_hw[1]),
                            arr.ones((out_hw[0] * out_hw[1],), dtype=gz.dtype))   # (N, C*M)
        gb = column_sums(per_sample)
    if data_format == "channels_first":
        gz = _nhwc(gz)
    g = _geom(x.shape, kernel.shape, strides, pads, dil, out_hw)
    pixels = n * out_hw[0] * out_hw[1]
    if pixels and cm:
        tiles = -(-cm // 32) * kh * kw
        per, splits = kernel_grad_splits(pixels, tiles)
        partial = arr.empty((splits, kh, kw, c, m), dtype=x.dtype)
        kl.launch(kl.get_kernel("depthwise_conv", "depthwise_conv2d_kernel_grad", x.dtype),
                  (-(-cm // 32), kh * kw, splits), (32, 8, 1), (x, gz, partial) + g + (per,))
        gk = partial[0] if splits == 1 else partial.sum(axis=0)
    else:
        gk = arr.zeros(kernel.shape, dtype=x.dtype)
    gx = None
    if input_grad:
        gx = arr.empty(x.shape, dtype=x.dtype)
        launch_1d("depthwise_conv", "depthwise_conv2d_input_grad", x.dtype, gx.size,
                  (gz, kernel, gx) + g)
        if data_format == "channels_first":
            gx = _nchw(gx)
    return gx, gk, gb
