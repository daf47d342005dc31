"""Layers from their configs, as any Keras version wrote them: the registry of layer
classes by name, the conversion of a saved config into the arguments a gpuseq
constructor takes, and the models those layers are stacked into.

``gpuseq.layers.deserialize`` and every ``from_config`` that holds other layers
(wrappers, Lambda, Merge branches) use this module; :mod:`gpuseq.saving` builds whole
model files on it. A model class (Sequential) is found through
:func:`register_model_class`, which :mod:`gpuseq.models` calls, so that this floor
never imports the models built on it.

Accepted forms: Keras 1 / Keras 2.0-2.1 configs (Keras 1 class names such as
``Convolution2D``); Keras 3 legacy configs (dtype policies, initializer classes such
as ``GlorotUniform``, ``L2`` regularizers, extra entries such as
``quantization_config``: entries a gpuseq layer does not take are dropped with a
warning); custom objects through ``custom_objects={'name': object}``.
"""
import inspect
import re
import warnings

from .. import activations, initializers
from ..custom_objects import with_custom_objects
from . import function_code
from .base import Layer
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


# --------------------------------------------------------------------------- registry
REGISTRY = {}          # class name -> layer class, for configs and files
_EXPORTED = {}         # every layer class under each name gpuseq.layers exports it as
_MODEL_CLASSES = {}    # 'Sequential' -> the class gpuseq.models registers


def register(*classes):
    """Make layer classes readable from configs under their class names."""
    for c in classes:
        REGISTRY[c.__name__] = c


def register_exported(namespace):
    """Also accept every layer class of ``namespace`` (a module's ``globals()``) under
    the name it is exported as, e.g. ``Convolution2D`` for Conv2D."""
    _EXPORTED.update({name: obj for name, obj in namespace.items()
                      if isinstance(obj, type) and issubclass(obj, Layer)})


def register_model_class(cls):
    """The class :func:`model_from_config` builds for a ``'Sequential'`` config (and for
    Merge branches). :mod:`gpuseq.models` registers Sequential when it is imported."""
    _MODEL_CLASSES["Sequential"] = cls
    return cls


def _model_class():
    cls = _MODEL_CLASSES.get("Sequential")
    if cls is None:
        raise RuntimeError("No model class is registered for 'Sequential' configs: import "
                           "gpuseq.models (`import gpuseq` does) before reading a model "
                           "config.")
    return cls


# --------------------------------------------------------------------- nested objects
def _instantiate_custom(obj, cfg):
    if hasattr(obj, "from_config") and isinstance(cfg, dict):
        return obj.from_config(cfg)
    if isinstance(obj, type):
        return obj(**(cfg if isinstance(cfg, dict) else {}))
    return obj


def normalize_object(d, custom_objects):
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
        return normalize_object(value, custom_objects)
    if (isinstance(value, str) and key not in _NOT_OBJECT_KEYS and value in custom_objects):
        if key.endswith("activation"):     # remembers the name, which get_config writes back
            return activations.deserialize(value, custom_objects)
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
    custom_objects = with_custom_objects(custom_objects)
    if class_name in custom_objects:
        return custom_objects[class_name]
    for name in (class_name, LAYER_ALIASES.get(class_name)):
        cls = REGISTRY.get(name) or _EXPORTED.get(name) if name else None
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


def _resolve_function(value, what, layer_name, custom_objects, module=None):
    """A callable stored in a config by name or as bytecode (see
    :mod:`gpuseq.layers.function_code`); ``custom_objects[layer_name]`` replaces
    either without running code from the config."""
    if callable(value):
        return value
    if isinstance(value, dict) and value.get("class_name") == "function":
        value = value.get("config")                     # Keras 3: a function by name
    if isinstance(value, str) and value in custom_objects:
        return custom_objects[value]
    if layer_name in custom_objects and callable(custom_objects[layer_name]):
        return custom_objects[layer_name]
    if isinstance(value, str) and function_code.find_by_name(value, module) is not None:
        return function_code.find_by_name(value, module)
    if isinstance(value, str):
        raise ValueError(
            f"Layer '{layer_name}' uses the function {value!r} as its {what}, which gpuseq "
            f"cannot find. Pass it when loading: custom_objects={{'{value}': {value}}}.")
    if function_code.is_dumped_function(value):
        return function_code.load_function(value, layer_name, what, custom_objects, module)
    raise ValueError(f"Layer '{layer_name}': its {what} is neither a function name nor "
                     f"stored bytecode. Received: {str(value)[:200]}")


def _normalize_lambda(cfg, custom_objects):
    name = cfg.get("name", "lambda")
    module = cfg.pop("module", None)
    cfg.pop("function_type", None)
    cfg["function"] = _resolve_function(cfg.get("function"), "function", name, custom_objects,
                                        module)
    shape_type = cfg.pop("output_shape_type", "raw")
    shape_module = cfg.pop("output_shape_module", None) or module
    shape = cfg.get("output_shape")
    if shape_type in ("lambda", "function") or isinstance(shape, dict):
        cfg["output_shape"] = _output_shape_function(shape, name, custom_objects, shape_module)
    elif isinstance(shape, list):
        cfg["output_shape"] = tuple(shape)
    return cfg


def _output_shape_function(value, layer_name, custom_objects, module):
    """A callable output_shape from a config; when it cannot be had without running
    code from the file (safe mode) or is missing, the layer infers its shape."""
    if isinstance(value, str) and value in custom_objects:
        return custom_objects[value]
    if isinstance(value, str) and function_code.find_by_name(value, module) is not None:
        return function_code.find_by_name(value, module)
    if function_code.is_dumped_function(value) and not function_code.in_safe_mode():
        return function_code.load_function(value, layer_name, "output_shape", custom_objects,
                                           module)
    warnings.warn(f"Lambda layer '{layer_name}': its output_shape was saved as a function "
                  "that was not loaded (bytecode in safe mode, or a name missing from "
                  "custom_objects); gpuseq infers the output shape instead.", stacklevel=5)
    return None


def _normalize_merge(cfg, custom_objects):
    name = cfg.get("name", "merge")
    cfg["layers"] = [_model_from_config(b, custom_objects) for b in cfg.get("layers") or []]
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
    custom_objects = with_custom_objects(custom_objects)
    cfg = dict(config or {})
    if isinstance(cfg.get("dtype"), dict):
        cfg["dtype"] = normalize_object(cfg["dtype"], custom_objects) \
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


def deserialize_layer(entry, custom_objects=None, batch_input_shape=None, safe_mode=None):
    """A layer instance from ``{'class_name': ..., 'config': {...}}`` of any Keras version.

    Config entries the gpuseq layer does not accept (written by a newer or older
    Keras) are dropped, with a warning when they held a value. ``safe_mode``: see
    :func:`model_from_config`; None keeps the caller's setting (safe by default).
    """
    with function_code.safe_mode_scope(safe_mode):
        return _deserialize_layer(entry, custom_objects, batch_input_shape)


def _deserialize_layer(entry, custom_objects, batch_input_shape):
    custom_objects = with_custom_objects(custom_objects)
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


def model_from_config(config, custom_objects=None, safe_mode=True):
    """Build a model from its config (see the module docstring for accepted forms).

    Args:
        config: ``{'class_name': 'Sequential', 'config': {...}}``, the inner
            ``{'name': ..., 'layers': [...]}``, or a bare list of layer configs.
        custom_objects: {name: class or function} for custom layers and functions.
        safe_mode: refuse to load Python bytecode (Keras 2 Lambda functions) from
            the config; pass False only for a config you trust (see
            :mod:`gpuseq.layers.function_code`).

    Returns:
        an uncompiled model (built when the first layer states its input shape).
    """
    with function_code.safe_mode_scope(safe_mode):
        return _model_from_config(config, custom_objects)


def _model_from_config(config, custom_objects):
    custom_objects = with_custom_objects(custom_objects)
    if isinstance(config, str):
        raise TypeError("model_from_config expects a dict (the parsed config). For a JSON "
                        "string use model_from_json.")
    cls = None                          # the registered Sequential unless custom
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
    model = (cls or _model_class())(name=inner.get("name"))
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
