"""Activation functions by name, as in ``keras.activations``.

``get('relu')`` returns a callable on Tensors. Elementwise activations carry a
``kind`` attribute: layers pass it to the fused ops (dense+activation,
conv+bias+activation, ...) so that the activation runs inside the op.
"""
import weakref

from .backend import autodiff as ad
from .backend import functions as K
from .custom_objects import get_custom_objects, lookup_custom_object, registration_hint


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
    """Resolve an activation: a name, None (linear) or a callable (returned as is).

    A name is looked up among the custom objects first (those of an enclosing
    ``CustomObjectScope``, then ``get_custom_objects()``), then among the built-ins,
    as Keras 2.2.4 does: a custom ``'relu'`` replaces the built-in one. The custom
    object is returned as registered; a layer such as ``Activation(swish)`` is
    callable on a Tensor and so serves as the activation of a Dense layer.

    Example:
        >>> from gpuseq.utils import get_custom_objects
        >>> def swish(x):
        ...     return x * K.sigmoid(x)
        >>> get_custom_objects()['swish'] = swish
        >>> get('swish') is swish
        True
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        f"Could not interpret the activation: expected a name such as 'relu', None or a "
        f"callable. Received: activation={identifier!r}")


def serialize(activation):
    """The name a config stores for ``activation``.

    A built-in gives its name; a custom object resolved by name gives that name (so
    that the same registration reads it back); another function its ``__name__``;
    another object the name it is registered under, else the name of the function an
    ``Activation`` layer applies, else its class name (which then has to be given as
    a custom object to load the config).
    """
    name = getattr(activation, "__name__", None)
    if name in _BY_NAME and _BY_NAME[name] is activation:
        return name
    known = _resolved_name(activation)
    if known is not None:
        return known
    if name is not None:
        return name
    for registered, obj in get_custom_objects().items():
        if obj is activation:
            return registered
    inner = getattr(activation, "activation", None)
    if inner is not None and inner is not activation and callable(inner):
        return serialize(inner)
    return type(activation).__name__


def deserialize(name, custom_objects=None):
    """An activation from its name: ``custom_objects``, then the registered custom
    objects, then the built-ins (see :func:`get`)."""
    if not isinstance(name, str):
        return get(name)
    custom = lookup_custom_object(name, custom_objects)
    if custom is not None:
        _remember_name(custom, name)
        return custom
    if name in _BY_NAME:
        return _BY_NAME[name]
    raise ValueError(
        f"Unknown activation. Expected one of {sorted(_BY_NAME)}, a registered custom "
        f"name or a callable. {registration_hint(name)} Received: activation={name!r}")


# The names custom activations were resolved from, so that a layer's config stores
# the name its registration knows (held weakly: it never keeps an object alive).
_RESOLVED_NAMES = weakref.WeakKeyDictionary()


def _remember_name(obj, name):
    try:
        _RESOLVED_NAMES[obj] = name
    except TypeError:             # neither weakly referable nor hashable: not remembered
        pass


def _resolved_name(obj):
    try:
        return _RESOLVED_NAMES.get(obj)
    except TypeError:
        return None
