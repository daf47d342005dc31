"""Loss functions, as in ``keras.losses`` (Keras 2 definitions).

A loss maps ``(y_true, y_pred)`` Tensors to one value per sample (per sample
and time step for sequence outputs); the model reduces it with the sample
weights. All are built from ``gpuseq.backend`` functions, so their gradients
come from the tape.
"""
from .backend import functions as K


def mean_squared_error(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def binary_crossentropy(y_true, y_pred):
    return K.mean(K.binary_crossentropy(y_true, y_pred), axis=-1)


def categorical_crossentropy(y_true, y_pred):
    return K.categorical_crossentropy(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred):
    return K.sparse_categorical_crossentropy(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME = {
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}


def get(identifier):
    """Resolve a loss from its name or return a callable unchanged."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if fn is not None:
            return fn
    raise ValueError(f"Unknown loss function. Expected one of {sorted(_BY_NAME)} or a "
                     f"callable(y_true, y_pred). Received: loss={identifier!r}")


def serialize(fn):
    return getattr(fn, "__name__", str(fn))


def deserialize(name, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return get(name)
