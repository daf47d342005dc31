"""Metrics, as in ``keras.metrics``: functions of ``(y_true, y_pred)`` giving one
value per sample (or a scalar); the model averages them over each batch and
the epoch (weighted by batch size, as Keras).

``'accuracy'``/``'acc'`` is resolved by the model from the loss and the output
shape (binary, sparse categorical or categorical), as Keras does.
"""
from . import losses as losses_mod
from .backend import functions as K


def binary_accuracy(y_true, y_pred):
    return K.mean(K.cast(K.equal(y_true, K.round(y_pred)), K.floatx()), axis=-1)


def categorical_accuracy(y_true, y_pred):
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), K.floatx())


def sparse_categorical_accuracy(y_true, y_pred):
    yt = K.cast(y_true, "int64")
    if yt.ndim == y_pred.ndim:
        yt = K.reshape(yt, yt.shape[:-1])
    return K.cast(K.equal(yt, K.argmax(y_pred, axis=-1)), K.floatx())


_BY_NAME = {
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}


def get(identifier):
    """Resolve a metric by name (any loss name works too) or return a callable."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        try:
            return losses_mod.get(identifier)
        except ValueError:
            pass
    raise ValueError(
        f"Unknown metric. Expected 'accuracy'/'acc', one of {sorted(_BY_NAME)}, a loss name, "
        f"or a callable(y_true, y_pred). Received: metric={identifier!r}")


def resolve_accuracy(loss_name, output_shape):
    """The accuracy function Keras picks for metrics=['accuracy']."""
    if loss_name == "sparse_categorical_crossentropy":
        return sparse_categorical_accuracy
    if (output_shape and output_shape[-1] == 1) or loss_name == "binary_crossentropy":
        return binary_accuracy
    return categorical_accuracy
