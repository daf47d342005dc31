"""Metrics, as in ``keras.metrics``: functions of ``(y_true, y_pred)`` giving one
value per sample (or a scalar, or a dict ``{name: value}``).

The model averages a metric over each batch (weighted by the sample/class
weights for ``weighted_metrics``) and over the epoch, weighted by batch size
(as Keras 2). Every loss is also a metric (``metrics=['mse', 'mae']``).

``'accuracy'``/``'acc'`` is resolved by the model as Keras does: binary accuracy
when the output has one unit or the loss is binary cross-entropy, sparse
categorical accuracy when the loss is sparse categorical cross-entropy,
categorical accuracy otherwise.

Example:
    >>> import gpuseq.backend as K
    >>> def mean_pred(y_true, y_pred):
    ...     return K.mean(y_pred)
    >>> def false_rates(y_true, y_pred):           # several values at once
    ...     pred = K.cast(K.greater(y_pred, 0.5), 'float32')
    ...     return {'false_neg': K.mean(y_true * (1 - pred)),
    ...             'false_pos': K.mean((1 - y_true) * pred)}
    >>> model.compile('rmsprop', 'binary_crossentropy',
    ...               metrics=['accuracy', mean_pred, false_rates])
"""
from . import losses as losses_mod
from .backend import functions as K
from .custom_objects import lookup_custom_object, registration_hint
from .losses import (MAE, MAPE, MSE, MSLE, KLD, binary_crossentropy,  # noqa: F401
                     categorical_crossentropy, categorical_hinge, cosine, cosine_proximity,
                     hinge, kld, kullback_leibler_divergence, logcosh, mae, mape,
                     mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                     mean_squared_logarithmic_error, mse, msle, poisson,
                     sparse_categorical_crossentropy, squared_hinge)


def binary_accuracy(y_true, y_pred):
    """``mean(y_true == round(y_pred), axis=-1)``: one value per sample.

    Shapes: (..., d) -> (...,).
    """
    y_true, y_pred = losses_mod._pair(y_true, y_pred)
    return K.mean(K.cast(K.equal(y_true, K.round(y_pred)), K.floatx()), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where ``argmax(y_true) == argmax(y_pred)`` (one-hot targets), else 0.0.

    Shapes: (..., classes) -> (...,).
    """
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())


def _labels(y_true, y_pred):
    yt = K._t(y_true)
    if yt.ndim == K.ndim(y_pred) and yt.shape[-1] == 1:
        yt = K.squeeze(yt, -1)
    return yt


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label equals ``argmax(y_pred)``, else 0.0.

    Shapes: y_true (...,) or (..., 1); y_pred (..., classes) -> (...,).
    """
    yt = _labels(y_true, y_pred)
    return K.cast(K.equal(K.cast(yt, "int64"), K.argmax(y_pred, axis=-1)), K.floatx())


def _flat_top_k(y_pred, labels, k):
    yp = K._t(y_pred)
    lead = yp.shape[:-1]
    p2 = K.reshape(yp, (-1, yp.shape[-1]))
    lab = K.reshape(K._t(labels), (-1,))
    return K.reshape(K.cast(K.in_top_k(p2, lab, k), K.floatx()), lead)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class (argmax of one-hot ``y_true``) is among the ``k``
    highest scores of ``y_pred`` (ties with the k-th score count as inside).

    Shapes: (..., classes) -> (...,).
    """
    return _flat_top_k(y_pred, K.argmax(y_true, axis=-1), k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Like :func:`top_k_categorical_accuracy` with integer labels (..., ) or (..., 1)."""
    return _flat_top_k(y_pred, K.cast(_labels(y_true, y_pred), "int64"), k)


_BY_NAME = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
}


def get(identifier):
    """Resolve a metric by name (any loss name works too) or return a callable.

    A name is looked up among the custom objects first (an enclosing
    ``CustomObjectScope``, then ``get_custom_objects()``), then among the built-in
    metrics and losses, as Keras 2.2.4 does. ``'accuracy'``/``'acc'`` depend on the
    model's output and loss: ``compile(metrics=[...])`` resolves them before any
    custom object (as Keras 2.2.4's compile does); here, outside compile, they raise
    unless registered as custom objects.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return deserialize(identifier)
    raise ValueError(
        f"Unknown metric. Expected a name such as 'mae' or a callable(y_true, y_pred) "
        f"returning a value per sample, a scalar or a dict {{name: value}}. "
        f"Received: metric={identifier!r}")


def serialize(metric):
    return getattr(metric, "__name__", str(metric))


def deserialize(name, custom_objects=None):
    """A metric from its name: ``custom_objects``, then the registered custom objects,
    then the built-in metrics and losses (see :func:`get`)."""
    if not isinstance(name, str):
        return get(name)
    custom = lookup_custom_object(name, custom_objects)
    if custom is not None:
        return custom
    if name in ("accuracy", "acc", "crossentropy", "ce"):
        raise ValueError(
            f"The metric {name!r} depends on the model's loss and output shape, so it "
            "is resolved by compile(metrics=[...]). Outside compile, use binary_accuracy, "
            "categorical_accuracy or sparse_categorical_accuracy (or the matching "
            f"cross-entropy). Received: metric={name!r}")
    fn = _BY_NAME.get(name) or _BY_NAME.get(name.lower())
    if fn is not None:
        return fn
    loss = losses_mod.builtin_loss(name)
    if loss is not None:
        return loss
    raise ValueError(
        f"Unknown metric. Expected 'accuracy'/'acc', 'crossentropy'/'ce', one of "
        f"{sorted(_BY_NAME)}, a loss name such as 'mse', a registered custom name, or a "
        f"callable(y_true, y_pred) returning a value per sample, a scalar or a dict "
        f"{{name: value}}. {registration_hint(name)} Received: metric={name!r}")


def resolve_accuracy(loss_fn_or_name, output_shape):
    """The accuracy function Keras 2 picks for ``metrics=['accuracy']``.

    Args:
        loss_fn_or_name: the compiled loss (function or canonical name).
        output_shape: the model's output shape (batch included), or None.
    """
    name = loss_fn_or_name if isinstance(loss_fn_or_name, str) or loss_fn_or_name is None \
        else losses_mod.canonical_name(loss_fn_or_name)
    if (output_shape and output_shape[-1] == 1) or name == "binary_crossentropy":
        return binary_accuracy
    if name == "sparse_categorical_crossentropy":
        return sparse_categorical_accuracy
    return categorical_accuracy


def resolve_crossentropy(loss_fn_or_name, output_shape):
    """The cross-entropy Keras 2 picks for ``metrics=['crossentropy']`` / ``['ce']``."""
    name = loss_fn_or_name if isinstance(loss_fn_or_name, str) or loss_fn_or_name is None \
        else losses_mod.canonical_name(loss_fn_or_name)
    if (output_shape and output_shape[-1] == 1) or name == "binary_crossentropy":
        return binary_crossentropy
    if name == "sparse_categorical_crossentropy":
        return sparse_categorical_crossentropy
    return categorical_crossentropy
