"""Weight regularizers (``l1``, ``l2``, ``l1_l2``), as in ``keras.regularizers``.

A regularizer maps a weight Tensor to a scalar penalty Tensor that is added
to the loss during training.
"""
from .backend import functions as K
from .custom_objects import build_custom_object, lookup_custom_object, registration_hint


class Regularizer:
    def __call__(self, x):
        return 0.0

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """penalty = l1 * sum(|x|) + l2 * sum(x^2).

    Args:
        l1: float >= 0.
        l2: float >= 0.
    """

    def __init__(self, l1=0.0, l2=0.0):
        for n, v in (("l1", l1), ("l2", l2)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"Invalid regularization factor: expected a number >= 0. "
                                 f"Received: {n}={v!r}")
        self.l1 = float(l1)
        self.l2 = float(l2)

    def __call__(self, x):
        out = 0.0
        if self.l1:
            out = out + self.l1 * K.sum(K.abs(x))
        if self.l2:
            out = out + self.l2 * K.sum(K.square(x))
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


def l1(l=0.01):  # noqa: E741
    return L1L2(l1=l)


def l2(l=0.01):  # noqa: E741
    return L1L2(l2=l)


def l1_l2(l1=0.01, l2=0.01):  # noqa: F811
    return L1L2(l1=l1, l2=l2)


def get(identifier):
    """Resolve a regularizer: None, a Regularizer or callable (returned as is), a name
    (``'l1'``, ``'l2'``, ``'l1_l2'`` with their default factors) or a config dict.

    A name (or a config's class name) is looked up among the custom objects first
    (an enclosing ``CustomObjectScope``, then ``get_custom_objects()``), then among
    the built-ins, as Keras 2.2.4 does; a registered class is built from the config,
    a registered instance or function ``f(weights) -> penalty`` is used as it is.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Regularizer) or callable(identifier):
        return identifier
    if isinstance(identifier, dict):
        custom = lookup_custom_object(identifier.get("class_name"))
        if custom is not None:
            return build_custom_object(custom, identifier.get("config"))
        return L1L2.from_config(identifier.get("config", identifier))
    if isinstance(identifier, str):
        custom = lookup_custom_object(identifier)
        if custom is not None:
            return build_custom_object(custom)
        if identifier in ("l1", "l2", "l1_l2"):
            return globals()[identifier]()
    name = identifier if isinstance(identifier, str) else "name"
    raise ValueError("Unknown regularizer. Expected 'l1', 'l2', 'l1_l2', a registered custom "
                     f"name, a Regularizer or a callable. {registration_hint(name)} "
                     f"Received: regularizer={identifier!r}")


def serialize(reg):
    if reg is None:
        return None
    return {"class_name": "L1L2", "config": reg.get_config()}
