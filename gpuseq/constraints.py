"""Weight constraints applied after each optimizer step, as in ``keras.constraints``."""
from .backend import dispatch
from .custom_objects import build_custom_object, lookup_custom_object, registration_hint


class Constraint:
    def __call__(self, w):
        return w

    def get_config(self):
        return {}


class MaxNorm(Constraint):
    """Rescale each weight vector (along ``axis``) to a norm of at most ``max_value``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        xp = dispatch.get_array_module(w)
        norms = xp.sqrt((w * w).sum(axis=self.axis, keepdims=True))
        desired = xp.clip(norms, 0, self.max_value)
        return w * (desired / (1e-7 + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Clamp weights at zero from below."""

    def __call__(self, w):
        return w * (w >= 0)


class UnitNorm(Constraint):
    """Rescale each weight vector (along ``axis``) to unit norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        xp = dispatch.get_array_module(w)
        return w / (1e-7 + xp.sqrt((w * w).sum(axis=self.axis, keepdims=True)))

    def get_config(self):
        return {"axis": self.axis}


max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
_BY_NAME = {"max_norm": MaxNorm, "maxnorm": MaxNorm, "non_neg": NonNeg, "nonneg": NonNeg,
            "unit_norm": UnitNorm, "unitnorm": UnitNorm}


def get(identifier):
    """Resolve a constraint: None, a Constraint or callable (returned as is), a name
    (``'max_norm'``, ``'non_neg'``, ``'unit_norm'``, any case, Keras 1 spellings too)
    or a config dict ``{'class_name': 'MaxNorm', 'config': {...}}``.

    A name (or a config's class name) is looked up among the custom objects first
    (an enclosing ``CustomObjectScope``, then ``get_custom_objects()``), then among
    the built-ins, as Keras 2.2.4 does; a registered class is built from the config,
    a registered instance or function ``f(weights) -> weights`` is used as it is.
    """
    if identifier is None or isinstance(identifier, Constraint) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return _from_name(identifier, {})
    if isinstance(identifier, dict) and isinstance(identifier.get("class_name"), str):
        return _from_name(identifier["class_name"], identifier.get("config") or {})
    raise ValueError("Could not interpret constraint: expected a name such as 'max_norm', a "
                     "config dict {'class_name': 'MaxNorm', 'config': {...}}, a Constraint or "
                     f"a callable. Received: constraint={identifier!r}")


def _from_name(name, config):
    custom = lookup_custom_object(name)
    if custom is not None:
        return build_custom_object(custom, config)
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(f"Unknown constraint. Expected one of {sorted(_BY_NAME)}, a "
                         f"registered custom name or a callable. {registration_hint(name)} "
                         f"Received: constraint={name!r}")
    return cls(**config)


def serialize(c):
    if c is None:
        return None
    return {"class_name": type(c).__name__, "config": c.get_config()}
