"""CUDA twin of ``numpy_ops/batch_norm.py``: batch normalisation over the last axis.

Kernels: kernels/batch_norm.cu (column statistics, per-unit scale, the elementwise
normalisation, and the backward's column sums and input gradient). Same names,
signatures and results as the NumPy reference; ``saved`` holds the same entries.
"""
from .. import kernel_loader as kl
from ..numpy_ops.batch_norm import _check
from ._common import dummy, float_input, launch_1d, xp

_COLS = _ROWS = 32     # GS_BN_COLS x GS_BN_ROWS, the block of the column-sum kernels


def _launch_columns(name, dtype, units, args):
    kl.launch(kl.get_kernel("batch_norm", name, dtype), (-(-units // _COLS), 1, 1),
              (_COLS, _ROWS, 1), args)


def batch_norm_forward(x, gamma, beta, mean, variance, epsilon=1e-3):
    """Normalise x (..., units) per unit; see numpy_ops.batch_norm.batch_norm_forward."""
    x = float_input(x, "x")
    dt = x.dtype
    gamma = None if gamma is None else float_input(gamma, "gamma", dtype=dt)
    beta = None if beta is None else float_input(beta, "beta", dtype=dt)
    mean = None if mean is None else float_input(mean, "mean", dtype=dt)
    variance = None if variance is None else float_input(variance, "variance", dtype=dt)
    _check(x, gamma, beta, mean, variance, epsilon)
    m = xp()
    units = x.shape[-1]
    rows = x.size // units if units else 0
    training = mean is None
    if training:
        if rows == 0:
            raise ValueError("BatchNormalization cannot compute batch statistics of an empty "
                             f"batch. Received: x.shape={tuple(x.shape)}")
        mean = m.empty((units,), dtype=dt)                      # (units,)
        variance = m.empty((units,), dtype=dt)                  # (units,)
        _launch_columns("batch_norm_stats", dt, units, (x, mean, variance, rows, units))
    inv_std = m.empty((units,), dtype=dt)                       # (units,)
    scale = m.empty((units,), dtype=dt)                         # (units,) inv_std * gamma
    launch_1d("batch_norm", "batch_norm_scale", dt, units,
              (variance, dummy(dt) if gamma is None else gamma, inv_std, scale, units,
               float(epsilon), gamma is not None))
    y = m.empty_like(x)                                         # like x
    launch_1d("batch_norm", "batch_norm_apply", dt, x.size,
              (x, mean, scale, dummy(dt) if beta is None else beta, y, x.size, units,
               beta is not None))
    saved = {"x": x, "mean": mean, "variance": variance, "inv_std": inv_std, "gamma": gamma,
             "training": training, "has_beta": beta is not None, "scale": scale}
    return y, saved


def batch_norm_backward(gy, saved, epsilon=1e-3):
    """-> (gx like x, ggamma (units,) or None, gbeta (units,) or None, None, None)."""
    x, mean, inv_std, scale = saved["x"], saved["mean"], saved["inv_std"], saved["scale"]
    dt = x.dtype
    gy = float_input(gy, "gy", dtype=dt)
    if tuple(gy.shape) != tuple(x.shape):
        raise ValueError(f"batch_norm_backward: gy must have the shape of x {tuple(x.shape)}. "
                         f"Received: gy.shape={tuple(gy.shape)}")
    m = xp()
    units = x.shape[-1]
    rows = x.size // units if units else 0
    alloc = m.empty if rows else m.zeros                        # the kernel writes every entry
    sum_gy = alloc((units,), dtype=dt)                          # (units,)
    sum_gy_xhat = alloc((units,), dtype=dt)                     # (units,)
    if rows:
        _launch_columns("batch_norm_backward_reduce", dt, units,
                        (gy, x, mean, inv_std, sum_gy, sum_gy_xhat, rows, units))
    gx = m.empty_like(x)                                        # like x
    launch_1d("batch_norm", "batch_norm_backward_apply", dt, x.size,
              (gy, x, mean, inv_std, scale, sum_gy, sum_gy_xhat, gx, x.size, units,
               bool(saved["training"])))
    return (gx, None if saved["gamma"] is None else sum_gy_xhat,
            sum_gy if saved["has_beta"] else None, None, None)
