"""NumPy reference: batch normalisation over the last axis (the BatchNormalization layer).

Twin: ``cupy_ops/batch_norm.py`` (kernels/batch_norm.cu).

The layer moves the normalised axis last, so every op here sees ``x`` as
``(..., units)``: the statistics run over all the other axes, ``rows`` of them
flattened together.

Training mode (``mean`` and ``variance`` None): the batch's mean and biased variance
per unit normalise it; ``saved['mean']`` / ``saved['variance']`` return them for the
layer's moving averages. Inference mode: the given (moving) mean and variance.

    y = gamma * (x - mean) / sqrt(variance + epsilon) + beta

Signatures (gamma / beta None when the layer has scale=False / center=False)::

    batch_norm_forward(x, gamma, beta, mean, variance, epsilon=1e-3) -> (y, saved)
    batch_norm_backward(gy, saved, epsilon=1e-3)
        -> (gx, ggamma or None, gbeta or None, None, None)

With xhat = (x - mean) * inv_std and M rows, the training-mode input gradient is
``gx = gamma * inv_std / M * (M * gy - sum(gy) - xhat * sum(gy * xhat))`` (the batch
statistics depend on x); in inference mode it is ``gx = gamma * inv_std * gy``.
"""
import numpy as np


def _check(x, gamma, beta, mean, variance, epsilon):
    if x.ndim < 2:
        raise ValueError("batch_norm_forward expects inputs of shape (..., units) with at "
                         f"least 2 axes. Received: x.shape={x.shape}")
    units = x.shape[-1]
    for name, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("variance", variance)):
        if v is not None and tuple(v.shape) != (units,):
            raise ValueError(f"batch_norm_forward: {name} must have shape ({units},) to match "
                             f"the last axis of x {tuple(x.shape)}. Received: "
                             f"{name}.shape={tuple(v.shape)}")
    if (mean is None) != (variance is None):
        raise ValueError("batch_norm_forward takes both mean and variance (inference mode) or "
                         "neither (training mode: batch statistics).")
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon!r}")


def batch_norm_forward(x, gamma, beta, mean, variance, epsilon=1e-3):
    """Normalise x (..., units) per unit; see the module docstring.

    saved = {'x', 'mean', 'variance', 'inv_std', 'scale', 'gamma', 'training', 'has_beta'}.
    """
    x = np.asarray(x)
    _check(x, gamma, beta, mean, variance, epsilon)
    units = x.shape[-1]
    x2 = x.reshape(-1, units)                                   # (rows, units)
    training = mean is None
    if training:
        if x2.shape[0] == 0:
            raise ValueError("BatchNormalization cannot compute batch statistics of an empty "
                             f"batch. Received: x.shape={x.shape}")
        mean = x2.mean(axis=0)                                  # (units,)
    mean = np.asarray(mean, dtype=x.dtype)
    y = x2 - mean                                               # (rows, units) centred
    if training:
        variance = np.square(y).mean(axis=0)                    # (units,) biased
    variance = np.asarray(variance, dtype=x.dtype)
    inv_std = 1.0 / np.sqrt(variance + x.dtype.type(epsilon))   # (units,)
    scale = inv_std if gamma is None else inv_std * gamma
    y *= scale
    if beta is not None:
        y += beta
    saved = {"x": x, "mean": mean, "variance": variance, "inv_std": inv_std, "gamma": gamma,
             "training": training, "has_beta": beta is not None, "scale": scale}
    return y.reshape(x.shape), saved


def batch_norm_backward(gy, saved, epsilon=1e-3):
    """-> (gx like x, ggamma (units,) or None, gbeta (units,) or None, None, None)."""
    x, mean, inv_std, scale = saved["x"], saved["mean"], saved["inv_std"], saved["scale"]
    units = x.shape[-1]
    gy2 = np.asarray(gy, dtype=x.dtype).reshape(-1, units)     # (rows, units)
    xhat = (x.reshape(-1, units) - mean) * inv_std             # (rows, units)
    sum_gy = gy2.sum(axis=0)                                    # (units,)
    sum_gy_xhat = (gy2 * xhat).sum(axis=0)                      # (units,)
    if saved["training"]:
        m = gy2.shape[0]
        gx = (gy2 - sum_gy / m - xhat * (sum_gy_xhat / m)) * scale
    else:
        gx = gy2 * scale
    return (gx.reshape(x.shape), None if saved["gamma"] is None else sum_gy_xhat,
            sum_gy if saved["has_beta"] else None, None, None)
