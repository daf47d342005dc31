"""CUDA twins of ``numpy_ops/activations.py``: elementwise activations and softmax.

Kernels: kernels/activations.cu (activations, bias + activation) and
kernels/softmax_cross_entropy.cu (row-wise softmax). Same names, signatures and
results as the NumPy reference; ``saved`` holds the same arrays.
"""
import math

from .. import kernel_loader as kl
from ..numpy_ops.activations import ACTIVATION_KINDS
from ._common import float_input, launch_1d, launch_rows, xp


def _kind_code(kind):
    """Index of ``kind`` in ACTIVATION_KINDS: the code the kernels switch on."""
    if kind not in ACTIVATION_KINDS:
        raise ValueError(f"Unknown activation kind. Expected one of {ACTIVATION_KINDS}. "
                         f"Received: kind={kind!r}")
    return ACTIVATION_KINDS.index(kind)


def activation_forward(x, kind):
    """y = act(x). x: any shape, float32/float64. saved = (x, y)."""
    code = _kind_code(kind)
    x = float_input(x, "x")
    y = xp().empty_like(x)                                     # same shape as x
    launch_1d("activations", "activation_forward", x.dtype, x.size, (x, y, x.size, code))
    return y, (x, y)


def activation_backward(gy, saved, kind):
    """-> (gx,) with gx = gy * act'(x, y); gy has the shape of x."""
    code = _kind_code(kind)
    x, y = saved
    gy = float_input(gy, "gy", dtype=x.dtype)
    gx = xp().empty_like(x)                                    # same shape as x
    launch_1d("activations", "activation_backward", x.dtype, x.size,
              (gy, x, y, gx, x.size, code))
    return (gx,)


def bias_activation_forward(z, bias, kind):
    """y = act(z + bias); z: (..., units), bias: (units,) or None. saved = (pre, y)."""
    if bias is None:
        y, (pre, _) = activation_forward(z, kind)
        return y, (pre, y)
    code = _kind_code(kind)
    z = float_input(z, "z")
    units = z.shape[-1] if z.ndim else 1
    bias = float_input(bias, "bias", dtype=z.dtype)
    if bias.shape != (units,):
        raise ValueError(
            f"bias_activation_forward expected a bias of shape ({units},) to match the last "
            f"axis of z {tuple(z.shape)}. Received: bias.shape={tuple(bias.shape)}")
    pre = xp().empty_like(z)                                   # (..., units)
    y = xp().empty_like(z)                                     # (..., units)
    launch_1d("activations", "bias_activation_forward", z.dtype, z.size,
              (z, bias, pre, y, z.size, units, code))
    return y, (pre, y)


def bias_activation_backward(gy, saved, kind):
    """-> (gz, gbias): gz (..., units) = gy * act'(pre, y); gbias (units,) = column sums of gz."""
    code = _kind_code(kind)
    pre, y = saved
    gy = float_input(gy, "gy", dtype=pre.dtype)
    units = pre.shape[-1] if pre.ndim else 1
    rows = pre.size // units if units else 0
    gz = xp().empty_like(pre)                                  # (..., units)
    if pre.size == 0:
        return gz, xp().zeros((units,), dtype=pre.dtype)
    gb = xp().empty((units,), dtype=pre.dtype)                 # (units,)
    k = kl.get_kernel("activations", "bias_activation_backward", pre.dtype)
    kl.launch(k, (-(-units // 32), 1, 1), (32, 32, 1),
              (gy, pre, y, gz, gb, rows, units, code))
    return gz, gb


def _is_last(a, axis):
    """True when ``axis`` is the last axis of ``a`` (ValueError when out of range)."""
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"softmax got an axis out of range for an array of {a.ndim} "
                         f"dimensions. Received: axis={axis}, shape={tuple(a.shape)}")
    return axis % a.ndim == a.ndim - 1


def _to_last(a, axis):
    """(view with ``axis`` moved last, as C-contiguous)."""
    return xp().ascontiguousarray(xp().moveaxis(a, axis, -1))


def _from_last(a, axis):
    return xp().ascontiguousarray(xp().moveaxis(a, -1, axis))


def softmax_forward(x, axis=-1):
    """Numerically stable softmax along ``axis``. saved = (y,)."""
    x = float_input(x, "x")
    last = _is_last(x, axis)
    xl = x if last else _to_last(x, axis)                      # (..., cols)
    cols = xl.shape[-1]
    rows = xl.size // cols if cols else 0
    if cols == 0 and math.prod(xl.shape[:-1]) > 0:
        raise ValueError("softmax over an empty axis has no maximum to subtract. "
                         f"Received: x.shape={tuple(x.shape)}, axis={axis}")
    yl = xp().empty_like(xl)                                   # (..., cols)
    launch_rows("softmax_cross_entropy", "softmax_forward", xl.dtype, rows, cols,
                (xl, yl, rows, cols))
    y = yl if last else _from_last(yl, axis)
    return y, (y,)


def softmax_backward(gy, saved, axis=-1):
    """-> (gx,) with gx = y * (gy - sum(gy * y, axis))."""
    (y,) = saved
    gy = float_input(gy, "gy", dtype=y.dtype)
    last = _is_last(y, axis)
    yl = xp().ascontiguousarray(y) if last else _to_last(y, axis)
    gyl = gy if last else _to_last(gy, axis)
    cols = yl.shape[-1]
    rows = yl.size // cols if cols else 0
    gxl = xp().empty_like(yl)                                  # (..., cols)
    launch_rows("softmax_cross_entropy", "softmax_backward", yl.dtype, rows, cols,
                (yl, gyl, gxl, rows, cols))
    return (gxl if last else _from_last(gxl, axis),)
