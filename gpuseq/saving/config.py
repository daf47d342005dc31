"""Model configs: JSON/YAML text, and building models from configs written by
gpuseq or by any Keras version.

Writing lives here; reading a layer or a model config is done by
:mod:`gpuseq.layers.serialization` (re-exported here), one floor down, so that the
layers that hold other layers (wrappers, Merge branches) can read their own
configs without importing this package.

A model config is Keras's ``{"class_name": "Sequential", "config": {"name": ...,
"layers": [{"class_name": "Dense", "config": {...}}, ...]}}``. Reading also
accepts

* Keras 1 / Keras 2.0-2.1 configs (a bare list of layers; Keras 1 class names
  such as ``Convolution2D``, mapped to gpuseq's where those layers exist;
  Keras 1 argument names, converted by the layers themselves);
* Keras 3 legacy configs (an ``InputLayer`` entry, dtype policies, initializer
  classes such as ``GlorotUniform``, ``L2`` regularizers, extra entries such
  as ``quantization_config``; entries a gpuseq layer does not take are dropped
  with a warning);
* custom layers, activations, initializers, losses and metrics through
  ``custom_objects={'name': object}``.
"""
import json

import numpy

from ..layers.serialization import (REGISTRY, deserialize_layer,  # noqa: F401
                                    model_from_config, normalize_layer_config,
                                    resolve_layer_class)
from .weights import BACKEND_ATTR, KERAS_LAYOUT_VERSION

# ------------------------------------------------------------------------------- JSON
def json_default(obj):
    """``json.dumps(..., default=json_default)``: NumPy values, tuples inside objects,
    callables (by name) and objects with ``get_config``."""
    if isinstance(obj, numpy.generic):
        return obj.item()
    if isinstance(obj, numpy.ndarray):
        return obj.tolist()
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode("utf8")
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    if callable(obj) and getattr(obj, "__name__", None):
        return obj.__name__
    raise TypeError(f"Cannot serialize {obj!r} of type {type(obj).__name__} to JSON: give it "
                    "a get_config() method or use plain values in the layer config.")


def to_plain(obj):
    """The config with only JSON types (lists, dicts, str, numbers, None)."""
    return json.loads(json.dumps(obj, default=json_default))


def _input_shape_of(model):
    layers = getattr(model, "layers", None) or []
    if not layers:
        return None
    shape = layers[0].batch_input_shape
    if shape is None and getattr(model, "built", False):
        shape = layers[0].input_shape
    if shape is None or isinstance(shape, list) or any(isinstance(d, (list, tuple))
                                                        for d in shape):
        return None                       # unknown, or several inputs (Merge)
    return list(shape)


def _locate_wrapped(entry):
    """Give the layers inside wrappers (TimeDistributed, Bidirectional) Keras 3's
    ``module`` entry: Keras 3 reads wrapped layers with its new deserializer, which
    needs it to find built-in classes. Other readers ignore the entry."""
    cfg = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(cfg, dict):
        return entry
    out = None
    for key in ("layer", "backward_layer"):
        inner = cfg.get(key)
        if isinstance(inner, dict) and inner.get("class_name") in REGISTRY and \
                "module" not in inner:
            out = out or dict(entry, config=dict(cfg))
            out["config"][key] = dict(_locate_wrapped(inner), module="keras.layers",
                                      registered_name=None)
    return out or entry


def model_config(model):
    """``{"class_name": ..., "config": model.get_config()}`` as files store it.

    The layer list starts with an ``InputLayer`` entry holding the batch input
    shape, as tf.keras writes it: Keras 3 reads a Sequential model's input shape
    from there (it misreads a first layer's ``batch_input_shape``). gpuseq's
    reader folds the entry back into the first layer.
    """
    cfg = dict(model.get_config())
    cfg["layers"] = [_locate_wrapped(entry) for entry in cfg.get("layers") or []]
    shape = _input_shape_of(model)
    layers = list(cfg.get("layers") or [])
    if shape is not None and layers and layers[0].get("class_name") != "InputLayer":
        first = model.layers[0]
        layers.insert(0, {"class_name": "InputLayer", "config": {
            "batch_input_shape": shape, "dtype": getattr(first, "dtype", "float32"),
            "sparse": False, "name": f"{first.name}_input"}})
        cfg["layers"] = layers
    return {"class_name": type(model).__name__, "config": cfg}


def model_to_json(model, **kwargs):
    """The model's config as JSON text (``json.dumps`` keyword arguments apply)."""
    cfg = model_config(model)
    cfg["keras_version"] = KERAS_LAYOUT_VERSION
    cfg["backend"] = BACKEND_ATTR
    return json.dumps(cfg, default=json_default, **kwargs)


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """A model from the JSON text written by ``model.to_json()`` or Keras.

    ``safe_mode=True`` refuses Python bytecode in the text (Keras 2 Lambda
    functions); pass False only for text you trust."""
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError("model_from_json expects the JSON text (a str). Received: "
                        f"{type(json_string).__name__}")
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: the text is not valid JSON ({e}).") from None
    return model_from_config(config, custom_objects, safe_mode=safe_mode)


def _yaml():
    try:
        import yaml
    except ImportError:
        raise ImportError("YAML support needs PyYAML: `pip install pyyaml`. JSON "
                          "(to_json / model_from_json) works without it.") from None
    return yaml


def model_to_yaml(model, **kwargs):
    """The model's config as YAML text (needs PyYAML; ``yaml.safe_dump`` kwargs apply)."""
    cfg = to_plain(model_config(model))
    cfg["keras_version"] = KERAS_LAYOUT_VERSION
    cfg["backend"] = BACKEND_ATTR
    return _yaml().safe_dump(cfg, **kwargs)


def model_from_yaml(yaml_string, custom_objects=None, safe_mode=True):
    """A model from the YAML text written by ``model.to_yaml()`` (safe YAML loading;
    ``safe_mode`` as in :func:`model_from_json`)."""
    config = _yaml().safe_load(yaml_string)
    return model_from_config(config, custom_objects, safe_mode=safe_mode)
