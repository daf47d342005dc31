"""CUDA twin of ``numpy_ops/dense.py``: y = act(x @ kernel + bias).

The GEMMs go through ``_gemm.matmul`` (cuBLAS on the GPU, capturable in a CUDA
graph; numpy.matmul under emulation); the bias-add and the activation are one fused kernel of
kernels/activations.cu, and so is the backward of both (with the bias gradient).
"""
from ._gemm import matmul
from ._common import float_input, xp
from .activations import bias_activation_backward, bias_activation_forward


def dense_forward(x, kernel, bias, activation="linear"):
    """x: (..., in), kernel: (in, units), bias: (units,) or None -> y: (..., units).

    saved = (x, kernel, pre, y, has_bias) with pre = x @ kernel + bias.
    """
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel")
    z = matmul(x, kernel)                                      # (..., units)
    y, (pre, _) = bias_activation_forward(z, bias, activation)
    return y, (x, kernel, pre, y, bias is not None)


def dense_backward(gy, saved, activation="linear"):
    """-> (gx (..., in), gkernel (in, units), gbias (units,) or None)."""
    x, kernel, pre, y, has_bias = saved
    gz, gb = bias_activation_backward(gy, (pre, y), activation)   # (..., units), (units,)
    gz2 = gz.reshape(-1, gz.shape[-1])                         # (rows, units)
    gk = matmul(x.reshape(-1, x.shape[-1]).T, gz2)             # (in, units)
    gx = matmul(gz, kernel.T)                                  # (..., in)
    return gx, gk, (gb if has_bias else None)
