"""Activation functions by name, as in ``keras.activations``.

``get('relu')`` returns a callable on Tensors. Elementwise activations carry a
``kind`` attribute: layers pass it to the fused ops (dense+activation,
conv+bias+activation, ...) so that the activation runs inside the op.
"""
from .backend import autodiff as ad
from .backend import functions as K
from .custom_objects import with_custom_objects


def _elementwise(kind, doc):
    def act(x):
        y, _ = ad.fused("activation", x, kind=kind)
        return y
    act.__name__ = kind
    act.__qualname__ = kind
    act.__doc__ = doc
    act.kind = kind
    return act


linear = _elementwise("linear", "Identity: f(x) = x.")
relu = _elementwise("relu", "Rectified linear unit: max(x, 0).")
sigmoid = _elementwise("sigmoid", "Logistic sigmoid: 1 / (1 + exp(-x)).")
hard_sigmoid = _elementwise("hard_sigmoid", "Keras 2 hard sigmoid: clip(0.2 x + 0.5, 0, 1).")
tanh = _elementwise("tanh", "Hyperbolic tangent.")
elu = _elementwise("elu", "Exponential linear unit (alpha=1): x if x > 0 else exp(x) - 1.")
selu = _elementwise("selu", "Scaled ELU with Keras's alpha and scale constants.")
softplus = _elementwise("softplus", "log(1 + exp(x)).")
softsign = _elementwise("softsign", "x / (1 + |x|).")
exponential = _elementwise("exponential", "exp(x).")


def softmax(x, axis=-1):
    """Softmax along ``axis`` (numerically stable)."""
    return K.softmax(x, axis)


softmax.kind = "softmax"

_BY_NAME = {f.__name__: f for f in (linear, relu, sigmoid, hard_sigmoid, tanh, elu, selu,
                                     softplus, softsign, exponential, softmax)}


def get(identifier):
    """Resolve an activation: a name, None (linear) or a callable (returned as is)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(
        f"Unknown activation. Expected one of {sorted(_BY_NAME)} or a callable. "
        f"Received: activation={identifier!r}")


def serialize(activation):
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME and _BY_NAME[name] is activation:
        return name
    return name


def deserialize(name, custom_objects=None):
    custom_objects = with_custom_objects(custom_objects)
    if isinstance(name, str) and name in custom_objects:
        return custom_objects[name]
    return get(name)
