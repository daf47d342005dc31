"""NumPy reference: the Dense layer's fused op, y = act(x @ kernel + bias).

Twin: ``cupy_ops/dense.py`` (GEMM through cupy.matmul, bias+activation in kernels/activations.cu).
"""
import numpy as np

from .activations import bias_activation_backward, bias_activation_forward


def dense_forward(x, kernel, bias, activation="linear"):
    """x: (..., in), kernel: (in, units), bias: (units,) or None -> y: (..., units).

    saved = (x, kernel, pre, y) with pre = x @ kernel + bias.
    """
    z = np.matmul(x, kernel)
    y, (pre, _) = bias_activation_forward(z, bias, activation)
    return y, (x, kernel, pre, y, bias is not None)


def dense_backward(gy, saved, activation="linear"):
    """-> (gx (..., in), gkernel (in, units), gbias (units,) or None)."""
    x, kernel, pre, y, has_bias = saved
    gz, gb = bias_activation_backward(gy, (pre, y), activation)
    gz2 = gz.reshape(-1, gz.shape[-1])
    gk = x.reshape(-1, x.shape[-1]).T @ gz2
    gx = np.matmul(gz, kernel.T)
    return gx, gk, (gb if has_bias else None)
