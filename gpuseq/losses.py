"""Loss functions, as in ``keras.losses`` (Keras 2 definitions).

A loss maps ``(y_true, y_pred)`` to one value per sample (per sample and time
step for sequence outputs): the last axis is reduced. The model then reduces
that with the sample weights as Keras >= 2.3 does, ``sum(w * loss) / N`` (N =
number of loss values). All losses are built from ``gpuseq.backend`` functions,
so their gradients come from the tape and they accept Tensors, NumPy or CuPy
arrays.

eps below is ``K.epsilon()`` (1e-7); clip(p) means clip(p, eps, 1 - eps).

======================================  ==========================================================
name (aliases)                          per-sample value (mean/sum over the last axis)
======================================  ==========================================================
mean_squared_error (mse, MSE)           mean((p - t)^2)
mean_absolute_error (mae, MAE)          mean(|p - t|)
mean_absolute_percentage_error (mape)   100 * mean(|t - p| / clip(|t|, eps, inf))
mean_squared_logarithmic_error (msle)   mean((log(clip(p, eps) + 1) - log(clip(t, eps) + 1))^2)
squared_hinge                           mean(max(1 - t*p, 0)^2)
hinge                                   mean(max(1 - t*p, 0))
categorical_hinge                       max(0, max((1 - t)*p) - sum(t*p) + 1)
logcosh                                 mean(x + softplus(-2x) - log 2),  x = p - t
binary_crossentropy                     mean(-(t log p' + (1-t) log(1-p'))), p' = clip(p)
categorical_crossentropy                -sum(t log clip(p / sum(p), eps, 1-eps))
sparse_categorical_crossentropy         log(sum(p')) - log(p'[t]),  p' = clip(p)
kullback_leibler_divergence (kld)       sum(t' log(t' / p')),  t', p' = clip(., eps, 1)
poisson                                 mean(p - t log(p + eps))
cosine_proximity (cosine)               -sum(l2_normalize(t) * l2_normalize(p))
======================================  ==========================================================

Example:
    >>> model.compile(optimizer='rmsprop', loss='mse')
    >>> import gpuseq.backend as K
    >>> def my_loss(y_true, y_pred):        # any backend expression trains
    ...     return K.mean(K.square(y_pred - y_true), axis=-1)
    >>> model.compile(optimizer='rmsprop', loss=my_loss)
"""
import math

from .backend import functions as K
from .custom_objects import lookup_custom_object, registration_hint


def mean_squared_error(y_true, y_pred):
    """``mean((y_pred - y_true)^2, axis=-1)``. Shapes: (..., d) -> (...,)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(K.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """``mean(|y_pred - y_true|, axis=-1)``. Shapes: (..., d) -> (...,)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """``100 * mean(|y_true - y_pred| / clip(|y_true|, eps, inf), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = K.abs((y_true - y_pred) / K.clip(K.abs(y_true), K.epsilon(), None))
    return 100.0 * K.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """``mean((log(clip(y_pred, eps) + 1) - log(clip(y_true, eps) + 1))^2, axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    first_log = K.log(K.clip(y_pred, K.epsilon(), None) + 1.0)
    second_log = K.log(K.clip(y_true, K.epsilon(), None) + 1.0)
    return K.mean(K.square(first_log - second_log), axis=-1)


def squared_hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0)^2, axis=-1)``; targets are -1 or 1."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(K.square(K.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def hinge(y_true, y_pred):
    """``mean(max(1 - y_true * y_pred, 0), axis=-1)``; targets are -1 or 1."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(K.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def categorical_hinge(y_true, y_pred):
    """``max(0, max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1)`` over the last
    axis; ``y_true`` one-hot."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = K.sum(y_true * y_pred, axis=-1)
    neg = K.max((1.0 - y_true) * y_pred, axis=-1)
    return K.maximum(neg - pos + 1.0, 0.0)


def logcosh(y_true, y_pred):
    """``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow as
    ``x + softplus(-2x) - log(2)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return K.mean(x + K.softplus(-2.0 * x) - math.log(2.0), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Mean over the last axis of ``-(t log p + (1-t) log(1-p))``, p clipped to
    [eps, 1-eps] (``from_logits=True``: y_pred are logits, no clipping)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(K.binary_crossentropy(y_true, y_pred, from_logits=from_logits), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """``-sum(y_true * log(clip(y_pred / sum(y_pred), eps, 1-eps)), axis=-1)``.

    ``y_true`` one-hot (or probabilities) of the same shape as ``y_pred``
    (..., classes) -> (...,). ``from_logits=True``: y_pred are logits.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    return K.categorical_crossentropy(y_true, y_pred, from_logits=from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Cross-entropy with integer class labels.

    ``y_true``: (N,) or (N, 1) integers (for sequence outputs (N, T) or (N, T, 1));
    ``y_pred``: (..., classes) -> (...,). Labels outside 0..classes-1 raise
    ValueError. Value: ``log(sum(p')) - log(p'[label])`` with p' = clip(y_pred,
    eps, 1-eps), as the Keras 2 TensorFlow backend.
    """
    return K.sparse_categorical_crossentropy(y_true, y_pred, from_logits=from_logits)


def kullback_leibler_divergence(y_true, y_pred):
    """``sum(t * log(t / p), axis=-1)`` with t, p clipped to [eps, 1]."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = K.clip(y_true, K.epsilon(), 1.0)
    y_pred = K.clip(y_pred, K.epsilon(), 1.0)
    return K.sum(y_true * K.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``."""
    y_true, y_pred = _pair(y_true, y_pred)
    return K.mean(y_pred - y_true * K.log(y_pred + K.epsilon()), axis=-1)


def cosine_proximity(y_true, y_pred):
    """``-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis=-1)`` (-1 when aligned)."""
    y_true, y_pred = _pair(y_true, y_pred)
    y_true = K.l2_normalize(y_true, axis=-1)
    y_pred = K.l2_normalize(y_pred, axis=-1)
    return -K.sum(y_true * y_pred, axis=-1)


def _pair(y_true, y_pred):
    """Both as Tensors on y_pred's device, y_true cast to y_pred's float dtype."""
    y_pred = K._t(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = K.cast(y_pred, K.floatx())
    y_true = K._like(y_true, y_pred)
    if y_true.dtype != y_pred.dtype:
        y_true = K.cast(y_true, y_pred.dtype)
    if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
        y_true = K.expand_dims(y_true, -1)
    return y_true, y_pred


# Aliases (Keras 2 names).
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence
cosine = cosine_proximity

_CANONICAL = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
              mean_squared_logarithmic_error, squared_hinge, hinge, categorical_hinge, logcosh,
              binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
              kullback_leibler_divergence, poisson, cosine_proximity)

_BY_NAME = {f.__name__: f for f in _CANONICAL}
_BY_NAME.update({"mse": mse, "mae": mae, "mape": mape, "msle": msle, "kld": kld,
                 "cosine": cosine,
                 # Keras 3 spellings of the same functions
                 "log_cosh": logcosh, "kl_divergence": kullback_leibler_divergence})
# the upper-case aliases are looked up case-insensitively


def canonical_name(fn):
    """The Keras name of a built-in loss function, or None for any other callable."""
    for f in _CANONICAL:
        if fn is f:
            return f.__name__
    return None


def builtin_loss(name):
    """The built-in loss called ``name`` (any case: 'mse', 'MSE'), or None."""
    return _BY_NAME.get(name) or _BY_NAME.get(name.lower())


def get(identifier):
    """Resolve a loss: a name (case-insensitive: 'mse', 'MSE', 'categorical_crossentropy'),
    a config dict, or a callable ``(y_true, y_pred) -> per-sample loss`` (returned
    unchanged).

    A name is looked up among the custom objects first (an enclosing
    ``CustomObjectScope``, then ``get_custom_objects()``), with its exact spelling,
    then among the built-ins, as Keras 2.2.4 does: ``compile(loss='my_loss')`` works
    once ``'my_loss'`` is registered, and a custom ``'mse'`` replaces the built-in.
    """
    if identifier is None:
        raise ValueError("A loss is required, e.g. loss='categorical_crossentropy'. "
                         "Received: loss=None")
    if isinstance(identifier, dict) and "class_name" in identifier:
        return deserialize(identifier.get("class_name"))
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret the loss: expected a name such as 'mse', a "
                     f"config dict or a callable(y_true, y_pred). Received: loss={identifier!r}")


def serialize(fn):
    """The name under which a loss is saved (the function's name)."""
    return getattr(fn, "__name__", str(fn))


def deserialize(name, custom_objects=None):
    """A loss from its saved name: ``custom_objects``, then the registered custom
    objects, then the built-ins (see :func:`get`)."""
    if not isinstance(name, str):
        return get(name)
    custom = lookup_custom_object(name, custom_objects)
    if custom is not None:
        return custom
    fn = builtin_loss(name)
    if fn is not None:
        return fn
    raise ValueError(f"Unknown loss function. Expected one of {sorted(_BY_NAME)} "
                     f"(case-insensitive), a registered custom name or a "
                     f"callable(y_true, y_pred). {registration_hint(name)} "
                     f"Received: loss={name!r}")
