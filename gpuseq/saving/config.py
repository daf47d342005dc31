"""Model configs: JSON/YAML text, and building models from configs written by
gpuseq or by any Keras version.

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
import inspect
import json
import re
import warnings

import numpy

from .names import LAYER_ALIASES, keras_snake_case

# Keras 3 initializer classes that gpuseq spells as factory names.
_INIT_FACTORY_NAMES = {"GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
                       "LecunUniform", "LecunNormal"}
_INIT_RENAMES = {"IdentityInitializer": "Identity"}
_REGULARIZER_CLASSES = {"L1", "L2", "L1L2", "L1_L2"}
# Entries of a serialized object that only locate its Python class.
_LOCATOR_KEYS = ("module", "registered_name", "shared_object_id", "build_config",
                 "compile_config")
# Config entries that carry no meaning for gpuseq when they hold an empty value.
_QUIET_KEYS = {"input_dtype", "quantization_config", "lora_rank", "lora_alpha", "autocast",
               "synchronized", "optional", "sparse", "ragged"}
# Entries newer Keras versions write that change nothing at these values.
_NEUTRAL_VALUES = {"groups": 1, "unroll": False, "implementation": 2, "renorm": False,
                   "renorm_momentum": 0.99}
_NOT_OBJECT_KEYS = ("name", "class_name", "mode", "padding", "data_format", "dtype",
                    "implementation", "merge_mode", "interpolation")


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
    from ..layers import _REGISTRY
    cfg = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(cfg, dict):
        return entry
    out = None
    for key in ("layer", "backward_layer"):
        inner = cfg.get(key)
        if isinstance(inner, dict) and inner.get("class_name") in _REGISTRY and \
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


# --------------------------------------------------------------------- nested objects
def _instantiate_custom(obj, cfg):
    if hasattr(obj, "from_config") and isinstance(cfg, dict):
        return obj.from_config(cfg)
    if isinstance(obj, type):
        return obj(**(cfg if isinstance(cfg, dict) else {}))
    return obj


def _normalize_object(d, custom_objects):
    """A serialized object (a dict with class_name) in a form gpuseq's ``get`` functions
    take, or the object itself."""
    d = {k: v for k, v in d.items() if k not in _LOCATOR_KEYS}
    cn, cfg = d.get("class_name"), d.get("config")
    if cn in custom_objects:
        return _instantiate_custom(custom_objects[cn], cfg)
    if cn == "function" and isinstance(cfg, str):          # Keras 3 function reference
        return custom_objects.get(cfg, cfg)
    if cn in ("DTypePolicy", "Policy", "FloatDTypePolicy") and isinstance(cfg, dict):
        return _dtype_name(cfg.get("name"))
    if cn in _INIT_FACTORY_NAMES:
        from .. import initializers
        init = initializers.get(keras_snake_case(cn))
        seed = (cfg or {}).get("seed") if isinstance(cfg, dict) else None
        if seed is not None and hasattr(init, "seed"):
            init.seed = seed
        return init
    if cn in _INIT_RENAMES:
        cn = _INIT_RENAMES[cn]
    if cn in _REGULARIZER_CLASSES:
        return {"class_name": "L1L2", "config": {k: v for k, v in (cfg or {}).items()
                                                 if k in ("l1", "l2")}}
    if isinstance(cfg, dict):
        from .. import initializers
        init_cls = getattr(initializers, cn, None) if isinstance(cn, str) else None
        if isinstance(init_cls, type) and issubclass(init_cls, initializers.Initializer):
            accepted = _accepted_args(init_cls)
            cfg = {k: v for k, v in cfg.items() if accepted is None or k in accepted}
    return {"class_name": cn, "config": cfg if cfg is not None else {}}


def _dtype_name(name):
    if isinstance(name, str) and name.startswith("mixed_"):
        warnings.warn(f"The saved layer used the mixed-precision policy {name!r}; gpuseq "
                      "builds it in float32.", stacklevel=4)
        return "float32"
    return name


def _normalize_value(key, value, custom_objects):
    if isinstance(value, dict) and "class_name" in value:
        return _normalize_object(value, custom_objects)
    if (isinstance(value, str) and key not in _NOT_OBJECT_KEYS and value in custom_objects):
        return custom_objects[value]
    return value


def _accepted_args(cls):
    """Keyword names ``cls.__init__`` takes explicitly, or None when it takes **kwargs
    beyond gpuseq's common layer arguments (unknown then)."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    names = {n for n, p in params.items() if n != "self" and
             p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return None
    return names


# ----------------------------------------------------------------------------- layers
def resolve_layer_class(class_name, custom_objects=None):
    """The gpuseq (or custom) class for a class name of any Keras version."""
    from .. import layers as layers_mod
    from ..layers.base import Layer
    custom_objects = custom_objects or {}
    if class_name in custom_objects:
        return custom_objects[class_name]
    registry = getattr(layers_mod, "_REGISTRY", {})
    for name in (class_name, LAYER_ALIASES.get(class_name)):
        if not name:
            continue
        cls = registry.get(name)
        if cls is None:
            cand = getattr(layers_mod, name, None)
            if isinstance(cand, type) and issubclass(cand, Layer):
                cls = cand
        if cls is not None:
            return cls
    alias = LAYER_ALIASES.get(class_name)
    extra = f" (Keras 2 name: {alias}, which gpuseq does not provide yet)" if alias else ""
    raise ValueError(f"Unknown layer class {class_name!r}{extra}. If it is a custom layer, "
                     f"pass it in custom_objects={{'{class_name}': {class_name}}}.")


def _legacy_entry(entry):
    """Keras 0.x/1.0 layer entries kept the class in 'name' and the name in 'custom_name'."""
    if isinstance(entry, dict) and "class_name" not in entry and "name" in entry:
        conf = dict(entry)
        class_name = conf.pop("name")
        conf["name"] = conf.pop("custom_name", None)
        if conf["name"] is None:
            conf.pop("name")
        return {"class_name": class_name, "config": conf}
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError("Each layer of a model config must be a dict "
                         "{'class_name': ..., 'config': {...}}. Received: "
                         f"{str(entry)[:200]}")
    return entry


def _resolve_function(value, what, layer_name, custom_objects):
    """A callable stored in a config by name (or as Keras 2 bytecode)."""
    if callable(value):
        return value
    if isinstance(value, str):
        if value in custom_objects:
            return custom_objects[value]
        if layer_name in custom_objects and callable(custom_objects[layer_name]):
            return custom_objects[layer_name]
        raise ValueError(
            f"Layer '{layer_name}' uses the function {value!r} as its {what}, which gpuseq "
            f"cannot find. Pass it when loading: custom_objects={{'{value}': {value}}}.")
    if layer_name in custom_objects and callable(custom_objects[layer_name]):
        return custom_objects[layer_name]
    raise ValueError(
        f"Layer '{layer_name}' stores its {what} as Python bytecode (a Keras 2 lambda); "
        "gpuseq does not run code read from files. Pass the function when loading: "
        f"custom_objects={{'{layer_name}': function}}.")


def _normalize_lambda(cfg, custom_objects):
    name = cfg.get("name", "lambda")
    cfg["function"] = _resolve_function(cfg.get("function"), "function", name, custom_objects)
    for k in ("function_type", "module", "output_shape_module"):
        cfg.pop(k, None)
    if cfg.pop("output_shape_type", "raw") == "lambda":
        warnings.warn(f"Lambda layer '{name}': its output_shape was saved as bytecode; gpuseq "
                      "infers the output shape instead.", stacklevel=4)
        cfg["output_shape"] = None
    if isinstance(cfg.get("output_shape"), list):
        cfg["output_shape"] = tuple(cfg["output_shape"])
    return cfg


def _normalize_merge(cfg, custom_objects):
    name = cfg.get("name", "merge")
    cfg["layers"] = [model_from_config(b, custom_objects) for b in cfg.get("layers") or []]
    mode_type = cfg.pop("mode_type", "raw")
    mode = cfg.get("mode", "sum")
    if mode_type in ("function", "lambda") or (isinstance(mode, str) and mode in custom_objects):
        cfg["mode"] = _resolve_function(mode, "merge mode", name, custom_objects)
    for k in ("output_shape_type", "output_mask", "output_mask_type", "batch_input_shape",
              "node_indices", "tensor_indices"):
        cfg.pop(k, None)
    args = cfg.pop("arguments", None)
    if args:
        warnings.warn(f"Merge layer '{name}': `arguments` {args} are not supported and were "
                      "ignored.", stacklevel=4)
    if isinstance(cfg.get("output_shape"), list):
        cfg["output_shape"] = tuple(cfg["output_shape"])
    return cfg


def normalize_layer_config(class_name, config, custom_objects=None):
    """A layer config from any Keras version, in the form gpuseq's constructor takes."""
    custom_objects = custom_objects or {}
    cfg = dict(config or {})
    if isinstance(cfg.get("dtype"), dict):
        cfg["dtype"] = _normalize_object(cfg["dtype"], custom_objects) \
            if "class_name" in cfg["dtype"] else cfg["dtype"].get("name")
    for k in list(cfg):
        if k in ("layer", "backward_layer", "forward_layer") and isinstance(cfg[k], dict) \
                and "class_name" in cfg[k]:
            cfg[k] = deserialize_layer(cfg[k], custom_objects)     # wrapped layers
            continue
        if k in ("layers", "cell"):
            continue
        cfg[k] = _normalize_value(k, cfg[k], custom_objects)
    if class_name in ("AtrousConvolution1D", "AtrousConvolution2D") and "atrous_rate" in cfg:
        cfg["dilation_rate"] = cfg.pop("atrous_rate")
    if class_name == "Lambda":
        cfg = _normalize_lambda(cfg, custom_objects)
    if class_name == "Merge":
        cfg = _normalize_merge(cfg, custom_objects)
    return cfg


def _call_from_config(cls, cfg, custom_objects):
    from ..layers.base import Layer
    fc = getattr(cls, "from_config", None)
    built_parts = any(isinstance(v, Layer) or hasattr(v, "layers") for v in cfg.values()) or \
        any(isinstance(v, list) and v and hasattr(v[0], "layers") for v in cfg.values())
    if fc is None or built_parts:      # wrapped layers / branches already deserialized
        return cls(**cfg)
    try:
        takes_co = "custom_objects" in inspect.signature(fc).parameters
    except (TypeError, ValueError):
        takes_co = False
    if takes_co:
        return fc(dict(cfg), custom_objects=custom_objects)
    return fc(dict(cfg))


def deserialize_layer(entry, custom_objects=None, batch_input_shape=None):
    """A layer instance from ``{'class_name': ..., 'config': {...}}`` of any Keras version.

    Config entries the gpuseq layer does not accept (written by a newer or older
    Keras) are dropped, with a warning when they held a value.
    """
    custom_objects = dict(custom_objects or {})
    entry = _legacy_entry(entry)
    class_name = entry["class_name"]
    cls = resolve_layer_class(class_name, custom_objects)
    cfg = normalize_layer_config(class_name, entry.get("config"), custom_objects)
    if batch_input_shape is not None and not any(
            cfg.get(k) is not None for k in ("batch_input_shape", "input_shape", "input_dim")):
        cfg["batch_input_shape"] = tuple(batch_input_shape)
    dropped = {}
    for _ in range(len(cfg) + 1):
        try:
            layer = _call_from_config(cls, cfg, custom_objects)
            break
        except TypeError as e:
            bad = [k for k in re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)'", str(e))
                   if k in cfg and k != "name"]
            if not bad:
                raise
            for k in bad:
                dropped[k] = cfg.pop(k)
    loud = {k: v for k, v in dropped.items()
            if k not in _QUIET_KEYS and v not in (None, False, 0, "", [], {})
            and not (k in _NEUTRAL_VALUES and v == _NEUTRAL_VALUES[k])}
    if loud:
        warnings.warn(f"Layer '{cfg.get('name', class_name)}' ({class_name}): ignored config "
                      f"entries that gpuseq's {cls.__name__} does not take: {loud}.",
                      stacklevel=3)
    return layer


# ----------------------------------------------------------------------------- models
def _input_layer_shape(cfg):
    for k in ("batch_shape", "batch_input_shape"):
        if cfg.get(k) is not None:
            return tuple(cfg[k])
    if cfg.get("input_shape") is not None:
        return (cfg.get("batch_size"),) + tuple(cfg["input_shape"])
    return None


def model_from_config(config, custom_objects=None):
    """Build a model from its config (see the module docstring for accepted forms).

    Args:
        config: ``{'class_name': 'Sequential', 'config': {...}}``, the inner
            ``{'name': ..., 'layers': [...]}``, or a bare list of layer configs.
        custom_objects: {name: class or function} for custom layers and functions.

    Returns:
        an uncompiled model (built when the first layer states its input shape).
    """
    from ..models import Sequential
    custom_objects = dict(custom_objects or {})
    if isinstance(config, str):
        raise TypeError("model_from_config expects a dict (the parsed config). For a JSON "
                        "string use model_from_json.")
    cls = Sequential
    if isinstance(config, (list, tuple)):
        inner = {"layers": list(config)}
    elif isinstance(config, dict) and "layers" in config:
        inner = config
    elif isinstance(config, dict) and "class_name" in config:
        cn = config["class_name"]
        if cn in custom_objects:
            cls = custom_objects[cn]
        elif cn != "Sequential":
            raise ValueError(
                f"gpuseq builds Sequential models; this config describes a {cn!r} "
                "(functional API) model. Rebuild the model as a Sequential in code and load "
                "its weights with model.load_weights(path, by_name=True).")
        inner = config.get("config") or {}
        if isinstance(inner, (list, tuple)):
            inner = {"layers": list(inner)}
    else:
        raise ValueError("A model config must be a dict {'class_name': 'Sequential', "
                         f"'config': {{...}}}}. Received: {str(config)[:200]}")
    model = cls(name=inner.get("name"))
    pending = None
    for entry in inner.get("layers") or []:
        entry = _legacy_entry(entry)
        cn = entry["class_name"]
        if cn == "InputLayer":
            pending = _input_layer_shape(entry.get("config") or {})
            continue
        if cn in ("Sequential", "Model", "Functional") and cn not in custom_objects:
            raise ValueError(
                f"The config nests a {cn} model inside a Sequential model; gpuseq adds "
                "layers one by one. Rebuild it in code with the inner model's layers.")
        layer = deserialize_layer(entry, custom_objects,
                                  batch_input_shape=pending if not model.layers else None)
        pending = None
        model.add(layer)
    if not model.built and model.layers and inner.get("build_input_shape"):
        model.build(tuple(inner["build_input_shape"]))
    return model


def model_to_json(model, **kwargs):
    """The model's config as JSON text (``json.dumps`` keyword arguments apply)."""
    from .weights import BACKEND_ATTR, KERAS_LAYOUT_VERSION
    cfg = model_config(model)
    cfg["keras_version"] = KERAS_LAYOUT_VERSION
    cfg["backend"] = BACKEND_ATTR
    return json.dumps(cfg, default=json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model from the JSON text written by ``model.to_json()`` or Keras."""
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError("model_from_json expects the JSON text (a str). Received: "
                        f"{type(json_string).__name__}")
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: the text is not valid JSON ({e}).") from None
    return model_from_config(config, custom_objects)


def _yaml():
    try:
        import yaml
    except ImportError:
        raise ImportError("YAML support needs PyYAML: `pip install pyyaml`. JSON "
                          "(to_json / model_from_json) works without it.") from None
    return yaml


def model_to_yaml(model, **kwargs):
    """The model's config as YAML text (needs PyYAML; ``yaml.safe_dump`` kwargs apply)."""
    from .weights import BACKEND_ATTR, KERAS_LAYOUT_VERSION
    cfg = to_plain(model_config(model))
    cfg["keras_version"] = KERAS_LAYOUT_VERSION
    cfg["backend"] = BACKEND_ATTR
    return _yaml().safe_dump(cfg, **kwargs)


def model_from_yaml(yaml_string, custom_objects=None):
    """A model from the YAML text written by ``model.to_yaml()`` (safe loading only)."""
    config = _yaml().safe_load(yaml_string)
    return model_from_config(config, custom_objects)
