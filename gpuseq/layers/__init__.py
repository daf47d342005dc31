"""Keras layers: ``from gpuseq.layers import Dense, Dropout, Activation, ...``."""
from .base import Layer  # noqa: F401
from .core import (Activation, ActivityRegularization, Dense, Dropout, Flatten,  # noqa: F401
                   Lambda, Masking, Permute, RepeatVector, Reshape)
from .merge import Merge  # noqa: F401
# convolution and pooling layers
# recurrent layers, embeddings and wrappers

# Registry used by deserialize (model_from_json / load_model): class name -> class.
_REGISTRY = {}


def register(*classes):
    for c in classes:
        _REGISTRY[c.__name__] = c


register(Layer, Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda,
         ActivityRegularization, Masking, Merge)
# register convolution and pooling layers
# register recurrent layers, embeddings and wrappers


def deserialize(config, custom_objects=None):
    """A layer from ``{'class_name': ..., 'config': {...}}``."""
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"Unknown layer class {name!r}. If it is a custom layer, pass it in "
                         f"custom_objects={{'{name}': {name}}}.")
    cfg = dict(config.get("config", {}))
    if custom_objects and hasattr(cls, "from_config"):
        try:
            return cls.from_config(cfg, custom_objects=custom_objects)
        except TypeError:
            pass
    return cls.from_config(cfg)
