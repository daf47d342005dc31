"""Whole-model HDF5 files (``model.save`` / ``load_model``), in Keras's layout.

File layout (what Keras 2 writes, and Keras 3 reads as a legacy ``.h5``)::

    /                       attrs: keras_version, backend, gpuseq_version,
                                   model_config   (JSON: {"class_name": "Sequential", ...})
                                   training_config (JSON: optimizer_config, loss, metrics,
                                                    loss_weights, sample_weight_mode, ...)
    /model_weights          the weights layout of save_weights
    /optimizer_weights      attrs: weight_names; one dataset per optimizer array:
                            the iteration count, then each weight's slot arrays

A loaded model predicts identically and, with its optimizer state restored,
continues training exactly as the saved one would have.
"""
import inspect
import json
import warnings

import numpy

from .. import optimizers
from ..custom_objects import with_custom_objects
from ..layers.names import keras_snake_case
from . import hdf5 as h5
from ..layers.serialization import normalize_object
from .config import json_default, model_config, model_from_config
from .weights import (BACKEND_ATTR, KERAS_LAYOUT_VERSION, _gpuseq_version, _require_built,
                      load_weight_file, read_weight_file, write_legacy_weights)

_OPT_LAYOUT = "gpuseq: iterations, then the slot arrays of each weight"
# Keras 3 optimizer entries that carry nothing for gpuseq when left at these values.
_KERAS3_OPT_DEFAULTS = {"name": None, "weight_decay": None, "global_clipnorm": None,
                        "use_ema": False, "ema_momentum": None, "ema_overwrite_frequency": None,
                        "loss_scale_factor": None, "gradient_accumulation_steps": None,
                        "jit_compile": None, "is_legacy_optimizer": None}


# --------------------------------------------------------------------- training config
def _serialize_fn(obj):
    """Loss / metric spec -> JSON-able (names for functions, recursively for lists/dicts)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_serialize_fn(o) for o in obj]
    if isinstance(obj, dict):
        return {k: _serialize_fn(v) for k, v in obj.items()}
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    return getattr(obj, "__name__", None) or type(obj).__name__


def optimizer_config(opt):
    """``{"class_name", "config"}`` with ``learning_rate`` (the name Keras >= 2.3 and
    Keras 3 read; gpuseq reads both)."""
    cfg = dict(opt.get_config())
    if "lr" in cfg:
        cfg["learning_rate"] = cfg.pop("lr")
    return {"class_name": type(opt).__name__, "config": cfg}


def training_config(model):
    """The compile arguments as Keras 2 stores them in ``training_config``."""
    return {
        "optimizer_config": optimizer_config(model.optimizer),
        "loss": _serialize_fn(model.loss),
        "metrics": _serialize_fn(getattr(model, "metrics", None) or []),
        "weighted_metrics": _serialize_fn(getattr(model, "weighted_metrics", None)),
        "sample_weight_mode": getattr(model, "sample_weight_mode", None),
        "loss_weights": _serialize_fn(getattr(model, "loss_weights", None)),
    }


def _named_init_args(cls):
    """The keyword names ``cls.__init__`` lists, or None when it has no signature."""
    try:
        params = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return None
    return {n for n, p in params.items() if n != "self" and p.kind not in (
        p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _accepted_optimizer_args(cls):
    """The settings an optimizer class takes: its own arguments and, when it passes
    ``**kwargs`` on, those of the gpuseq optimizers it derives from; None when unknown."""
    own = _named_init_args(cls)
    if own is None:
        return None
    try:
        passes_on = any(p.kind == p.VAR_KEYWORD
                        for p in inspect.signature(cls.__init__).parameters.values())
    except (TypeError, ValueError):
        passes_on = False
    if not (passes_on and isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
        return own
    accepted = set(own) | {"clipnorm", "clipvalue", "learning_rate", "lr", "global_clipnorm"}
    for base in cls.__mro__[1:]:
        if issubclass(base, optimizers.Optimizer):
            accepted |= _named_init_args(base) or set()
    return accepted


def optimizer_from_config(config, custom_objects=None):
    """An optimizer from ``{"class_name", "config"}`` written by gpuseq or any Keras.

    Keras 3 entries gpuseq has no use for (``name``, ``use_ema`` off, ...) are
    dropped; dropped entries that would change training are reported in a warning.
    """
    custom_objects = custom_objects or {}
    if isinstance(config, str):
        return optimizers.get(custom_objects.get(config, config))
    cn = config.get("class_name")
    cfg = dict(config.get("config") or {})
    if cn in custom_objects:
        cls = custom_objects[cn]
    else:
        cls = type(optimizers.get(cn))
    if isinstance(cfg.get("learning_rate"), dict):
        sched = cfg["learning_rate"]
        lr = (sched.get("config") or {}).get("initial_learning_rate")
        warnings.warn(f"The saved optimizer used the learning-rate schedule "
                      f"{sched.get('class_name')!r}; gpuseq uses its initial rate {lr} as a "
                      "constant (add a LearningRateScheduler callback to follow it).",
                      stacklevel=3)
        cfg["learning_rate"] = lr
    if "lr" in cfg and "learning_rate" in cfg:
        cfg.pop("lr")
    own = _named_init_args(cls)
    if "learning_rate" in cfg and own is not None and "lr" in own and \
            "learning_rate" not in own:
        cfg["lr"] = cfg.pop("learning_rate")     # a Keras 2 style subclass: (lr=..., **kw)
    accepted = _accepted_optimizer_args(cls)
    if accepted is None:
        accepted = set(cfg)
    dropped = {k: cfg.pop(k) for k in list(cfg) if k not in accepted}
    loud = {k: v for k, v in dropped.items()
            if not (k in _KERAS3_OPT_DEFAULTS and (v is None or v is False or k in (
                "name", "ema_momentum", "jit_compile", "is_legacy_optimizer")))
            and not (k == "decay" and not v)}
    if loud:
        warnings.warn(f"Optimizer {cn}: ignored saved settings that gpuseq's "
                      f"{cls.__name__} does not have: {loud}.", stacklevel=3)
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg)
    return cls(**cfg)


def _resolve_loss_or_metric(spec, custom_objects, what):
    """A loss/metric spec from a file: names stay names (custom ones become the object),
    Keras 3 serialized classes become gpuseq names."""
    if spec is None:
        return None
    if isinstance(spec, list):
        return [_resolve_loss_or_metric(s, custom_objects, what) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _resolve_loss_or_metric(v, custom_objects, what) for k, v in spec.items()}
    if isinstance(spec, str):
        return custom_objects.get(spec, spec)
    if isinstance(spec, dict):
        cn, cfg = spec.get("class_name"), spec.get("config") or {}
        if cn in custom_objects:
            return normalize_object(spec, custom_objects)
        if isinstance(cfg, dict) and cfg.get("from_logits"):
            raise ValueError(f"The saved {what} {cn} uses from_logits=True, which gpuseq's "
                             f"{what}es do not take. Load with compile=False and compile the "
                             "model yourself.")
        if cn in ("MeanMetricWrapper", "function") or isinstance(cfg, str):
            return (cfg.get("fn") or cfg.get("name")) if isinstance(cfg, dict) else cfg
        return keras_snake_case(cn)
    return spec


def compile_from_training_config(model, tc, custom_objects=None):
    """``model.compile(...)`` with the arguments stored in a file's ``training_config``."""
    custom_objects = custom_objects or {}
    opt = optimizer_from_config(tc["optimizer_config"], custom_objects)
    kwargs = {}
    for key in ("metrics", "weighted_metrics"):
        if tc.get(key):
            kwargs[key] = _resolve_loss_or_metric(tc[key], custom_objects, "metric")
    if tc.get("loss_weights") is not None:
        kwargs["loss_weights"] = tc["loss_weights"]
    if tc.get("sample_weight_mode") is not None:
        kwargs["sample_weight_mode"] = tc["sample_weight_mode"]
    model.compile(optimizer=opt, loss=_resolve_loss_or_metric(tc.get("loss"), custom_objects,
                                                              "loss"), **kwargs)


# ------------------------------------------------------------------- optimizer weights
def _optimizer_weight_names(opt, values):
    """Names for ``opt.get_weights()``: ``<Opt>/iterations:0``, then, when the state is
    laid out as Keras >= 2.3 does (slot kind by slot kind, one array per weight),
    ``training/<Opt>/<weight>_<slot>:0``; otherwise numbered names."""
    cname = type(opt).__name__
    names = [f"{cname}/iterations:0"]
    try:
        state = list(opt.state_names())
    except (AttributeError, TypeError):      # an optimizer that is not a gpuseq Optimizer
        state = []
    n_head = len(values) - len(state)
    if state and n_head >= 1:
        names += [f"{cname}/state_{i}:0" for i in range(1, n_head)]
        names += [f"training/{cname}/{n}:0" for n in state]
    else:
        names += [f"training/{cname}/Variable_{i}:0" for i in range(1, len(values))]
    if len(set(names)) != len(names):
        names = names[:1] + [f"training/{cname}/Variable_{i}:0" for i in range(1, len(values))]
    return names


def write_optimizer_weights(f, model):
    """``/optimizer_weights``: the arrays of ``optimizer.get_weights()`` (iterations,
    then the slot arrays in the order of the model's trainable weights)."""
    opt = model.optimizer
    values = [numpy.asarray(v) for v in opt.get_weights()]
    names = _optimizer_weight_names(opt, values)
    g = f.create_group("optimizer_weights")
    g.attrs["layout"] = h5.text_attr(_OPT_LAYOUT)
    g.attrs["optimizer"] = h5.text_attr(type(opt).__name__)
    h5.write_string_list_attr(g, "weight_names", names)
    for name, value in zip(names, values):
        h5.write_array(g, name, value)


def read_optimizer_weights(f, source):
    """(arrays, written_by_gpuseq, optimizer class name) of ``/optimizer_weights``, or None."""
    if "optimizer_weights" not in f:
        return None
    g = f["optimizer_weights"]
    names = h5.read_string_list_attr(g, "weight_names") or []
    values = [h5.read_array(g, n, f"{source}, optimizer weights") for n in names]
    return values, h5.read_text_attr(g, "layout") == _OPT_LAYOUT, \
        h5.read_text_attr(g, "optimizer")


def restore_optimizer_weights(model, values, source, saved_class=None):
    """Give the compiled model's optimizer its saved state.

    The freshly loaded model has the saved model's trainable weights in the same
    order, which is the order of the state arrays. State that does not fit is not
    restored: a warning says so and the optimizer starts fresh (as Keras does).
    """
    opt = model.optimizer
    if saved_class and saved_class != type(opt).__name__:
        warnings.warn(f"The optimizer state in {source} belongs to {saved_class}, but the "
                      f"model was compiled with {type(opt).__name__}; the state was not "
                      "restored.", stacklevel=3)
        return
    try:
        opt.set_weights(values)
    except (ValueError, TypeError) as e:
        warnings.warn(f"The optimizer state saved in {source} could not be restored ({e}); "
                      "the optimizer starts fresh.", stacklevel=3)


# ------------------------------------------------------------------------ save / load
def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Save the architecture, weights, training configuration and optimizer state of
    ``model`` in one HDF5 file (written atomically).

    Args:
        model: a built model.
        filepath: path (``.h5``/``.hdf5`` by convention), or an open writable h5py.File.
        overwrite: when False and the file exists, raise ``FileExistsError``.
        include_optimizer: also save the training configuration and optimizer state.

    Example:
        >>> model.save('model.h5')
        >>> model = gpuseq.models.load_model('model.h5')
    """
    _require_built(model, "save")
    if not h5.is_h5_object(filepath) and str(filepath).endswith(".keras"):
        raise ValueError(
            "gpuseq saves models as HDF5 files; the `.keras` suffix is Keras 3's zip format, "
            "which Keras would misread. Use a name ending in `.h5`, e.g. "
            f"{str(filepath)[:-6] + '.h5'!r}.")
    model_json = json.dumps(model_config(model), default=json_default)
    compiled = include_optimizer and getattr(model, "optimizer", None) is not None and \
        getattr(model, "compiled", True)
    train_json = json.dumps(training_config(model), default=json_default) if compiled else None

    def write(f):
        f.attrs["keras_version"] = h5.text_attr(KERAS_LAYOUT_VERSION)
        f.attrs["backend"] = h5.text_attr(BACKEND_ATTR)
        f.attrs["gpuseq_version"] = h5.text_attr(_gpuseq_version())
        f.attrs["model_config"] = h5.text_attr(model_json)
        if train_json is not None:
            f.attrs["training_config"] = h5.text_attr(train_json)
        write_legacy_weights(f.create_group("model_weights"), model)
        if compiled:
            write_optimizer_weights(f, model)

    if h5.is_h5_object(filepath):
        write(filepath)
        return
    big = max(len(model_json), len(train_json or "")) > h5.HDF5_OBJECT_HEADER_LIMIT // 2
    with h5.atomic_h5_file(filepath, overwrite, "save", large_attributes=big) as f:
        write(f)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved by ``model.save`` (gpuseq, Keras 2, or Keras 3 legacy ``.h5``).

    Args:
        filepath: path or an open h5py.File.
        custom_objects: {name: class or function} for custom layers, activations,
            losses and metrics used by the saved model.
        compile: compile the model with the saved training configuration and
            restore the optimizer state (when the file has them).
        safe_mode: refuse to load Python bytecode stored in the file (the function
            of a Keras 2 ``Lambda`` layer), since loading it runs that code. Pass
            False only for a file you trust (or call
            ``gpuseq.config.enable_unsafe_deserialization()``).

    Returns:
        the model; compiled when ``compile`` and the file has a training config.
    """
    custom_objects = with_custom_objects(custom_objects)
    source = repr(str(filepath)) if not h5.is_h5_object(filepath) else "the h5py file"
    with h5.open_h5_for_read(filepath, "load_model") as f:
        try:
            mc = h5.read_text_attr(f, "model_config")
            tc = h5.read_text_attr(f, "training_config")
            keras_version = h5.read_text_attr(f, "keras_version") or "1"
        except (OSError, RuntimeError) as e:
            raise h5.SavedFileError(f"{source}: the file's attributes could not be read; it "
                                    f"is damaged ({e}).") from e
        if mc is None:
            raise h5.SavedFileError(
                f"{source} holds no model config (no `model_config` attribute): it is a "
                "weights-only file. Build the model in code and call "
                "model.load_weights(path).")
        wf = read_weight_file(f, source)
        opt_state = None
        if compile and tc is not None:
            try:
                opt_state = read_optimizer_weights(f, source)
            except (OSError, RuntimeError, KeyError) as e:
                raise h5.SavedFileError(f"{source}: the optimizer state could not be read; "
                                        f"the file is damaged ({e}).") from e
    try:
        config = json.loads(mc)
    except json.JSONDecodeError as e:
        raise h5.SavedFileError(f"{source}: the model_config attribute is not valid JSON "
                                f"({e}).") from None
    model = model_from_config(config, custom_objects, safe_mode=safe_mode)
    load_weight_file(model, wf)
    if not compile:
        return model
    if tc is None:
        warnings.warn(f"No training configuration found in {source}: the model was not "
                      "compiled. Compile it manually.", stacklevel=2)
        return model
    try:
        training = json.loads(tc)
    except json.JSONDecodeError as e:
        raise h5.SavedFileError(f"{source}: the training_config attribute is not valid JSON "
                                f"({e}). Load with compile=False.") from None
    try:
        compile_from_training_config(model, training, custom_objects)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{e}\nThe model in {source} was built and its weights loaded, but "
                      "compiling it with the saved training configuration failed. Pass the "
                      "custom losses, metrics or optimizers in custom_objects={'name': "
                      "object}, or load with compile=False and compile it yourself.") from e
    if opt_state is not None:
        values, ours, saved_class = opt_state
        if ours or str(keras_version).startswith("2"):
            # gpuseq's own layout, or Keras 2's: [iterations] + slot arrays (the
            # optimizers also accept the Keras 2.2.4 variants of it)
            restore_optimizer_weights(model, values, source, saved_class if ours else None)
        elif values:
            warnings.warn(f"The optimizer state in {source} was written by Keras "
                          f"{keras_version}, whose optimizers keep other arrays; it was not "
                          "restored and the optimizer starts fresh.", stacklevel=2)
    return model
