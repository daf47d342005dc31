"""NumPy reference: elementwise activations and softmax.

Twins: ``cupy_ops/activations.py`` (kernels/activations.cu, kernels/softmax_cross_entropy.cu).

Convention of every op here: ``<op>_forward(*inputs, **attrs) -> (output, saved)`` and
``<op>_backward(grad_output, saved, **attrs) -> tuple`` of one gradient per input.
"""
import numpy as np

# Keras 2 constants
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
ELU_ALPHA = 1.0

ACTIVATION_KINDS = ("linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu",
                    "softplus", "softsign", "exponential")


def _sigmoid(x):
    # 0.5*(tanh(x/2)+1) is exact and overflow-free for both float32 and float64
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def activation_value(x, kind):
    """y = act(x) for the elementwise activations (no saved state)."""
    if kind == "linear":
        return x
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "sigmoid":
        return _sigmoid(x).astype(x.dtype, copy=False)
    if kind == "hard_sigmoid":
        return np.clip(0.2 * x + 0.5, 0.0, 1.0).astype(x.dtype, copy=False)
    if kind == "tanh":
        return np.tanh(x)
    if kind == "elu":
        return np.where(x > 0, x, ELU_ALPHA * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)
    if kind == "selu":
        return (SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))
                ).astype(x.dtype, copy=False)
    if kind == "softplus":
        return np.logaddexp(0, x).astype(x.dtype, copy=False)
    if kind == "softsign":
        return x / (1 + np.abs(x))
    if kind == "exponential":
        return np.exp(x)
    raise ValueError(f"Unknown activation kind. Expected one of {ACTIVATION_KINDS}. "
                     f"Received: kind={kind!r}")


def activation_grad(x, y, kind):
    """d act(x)/dx, from the input x and the output y."""
    if kind == "linear":
        return np.ones_like(x)
    if kind == "relu":
        return (x > 0).astype(x.dtype)
    if kind == "sigmoid":
        return y * (1 - y)
    if kind == "hard_sigmoid":
        return (((x > -2.5) & (x < 2.5)) * 0.2).astype(x.dtype)
    if kind == "tanh":
        return 1 - y * y
    if kind == "elu":
        return np.where(x > 0, 1, y + ELU_ALPHA).astype(x.dtype, copy=False)
    if kind == "selu":
        return np.where(x > 0, SELU_SCALE, y + SELU_SCALE * SELU_ALPHA).astype(x.dtype, copy=False)
    if kind == "softplus":
        return _sigmoid(x).astype(x.dtype, copy=False)
    if kind == "softsign":
        d = 1 + np.abs(x)
        return 1 / (d * d)
    if kind == "exponential":
        return y
    raise ValueError(f"Unknown activation kind. Expected one of {ACTIVATION_KINDS}. "
                     f"Received: kind={kind!r}")


def activation_forward(x, kind):
    """y = act(x). x: any shape. saved = (x, y)."""
    y = activation_value(x, kind)
    return y, (x, y)


def activation_backward(gy, saved, kind):
    x, y = saved
    return (gy * activation_grad(x, y, kind),)


def bias_activation_forward(z, bias, kind):
    """y = act(z + bias); z: (..., units), bias: (units,) or None. saved = (pre, y)."""
    pre = z if bias is None else z + bias
    y = activation_value(pre, kind)
    return y, (pre, y)


def bias_activation_backward(gy, saved, kind):
    """-> (gz, gbias): gz (..., units), gbias (units,) (None when there was no bias)."""
    pre, y = saved
    gz = gy * activation_grad(pre, y, kind)
    gb = gz.sum(axis=tuple(range(gz.ndim - 1)))
    return gz, gb


def softmax_forward(x, axis=-1):
    """Numerically stable softmax along ``axis``. saved = (y,)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, (y,)


def softmax_backward(gy, saved, axis=-1):
    (y,) = saved
    return (y * (gy - (gy * y).sum(axis=axis, keepdims=True)),)
