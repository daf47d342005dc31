"""The layer contract every gpuseq layer follows.

A layer:

* takes its configuration in ``__init__`` (validated at once, with Keras 1
  argument names converted by :mod:`gpuseq.legacy`);
* creates its weights in ``build(input_shape)`` with :meth:`Layer.add_weight`;
* computes in ``call(inputs, training=False)`` on :class:`Tensor` objects using
  backend ops only (never numpy/cupy directly), so gradients come from the tape;
* reports ``compute_output_shape(input_shape)`` (shapes include the batch
  dimension, ``None`` when unknown) and ``get_config()``.

Layers that consume a mask declare ``supports_masking`` and accept
``mask=`` in ``call``; layers that produce one implement ``compute_mask``.
"""
import inspect
import re

import numpy

from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from ..backend import dispatch
from ..backend import symbolic
from ..backend.autodiff import Variable
from ..backend.functions import get_uid, reset_uids  # noqa: F401  (automatic layer names)


def weight_option_names(weights, activity=True):
    """The argument names of the weight options of the weight prefixes ``weights``, in
    Keras's order: the initializers, the regularizers, ``activity_regularizer`` (when
    ``activity``), then the constraints."""
    names = [f"{w}_initializer" for w in weights] + [f"{w}_regularizer" for w in weights]
    if activity:
        names.append("activity_regularizer")
    return names + [f"{w}_constraint" for w in weights]


def _option_module(name):
    """The module that reads and writes the weight option ``name`` (by its suffix)."""
    kind = name.rsplit("_", 1)[1]
    return {"initializer": initializers_mod, "regularizer": regularizers_mod,
            "constraint": constraints_mod}[kind]


def to_snake_case(name):
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    s = re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
    return s


_COMMON_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim",
                  "input_length", "dtype", "name", "trainable", "weights")


class Layer:
    """Base class of all layers.

    Args:
        name: string, unique within a model (auto: ``<snake_case_class>_<n>``).
        trainable: whether the layer's weights are updated by ``fit``.
        input_shape: shape of one sample (no batch dimension), first layer only.
        batch_input_shape: shape including the batch dimension (None = any).
        batch_size: fixes the batch dimension together with ``input_shape``.
        input_dim: for 2-D inputs, the same as ``input_shape=(input_dim,)``;
            with ``input_length``, ``input_shape=(input_length, input_dim)``.
        weights: initial weights as a list of arrays (Keras 1 style).
    """

    supports_masking = False

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(_COMMON_KWARGS)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {sorted(unknown)}. "
                f"Layers accept their own arguments plus {', '.join(_COMMON_KWARGS)}.")
        name = kwargs.get("name")
        if name is None:
            prefix = to_snake_case(type(self).__name__)
            name = f"{prefix}_{get_uid(prefix)}"
        elif not isinstance(name, str) or not name:
            raise ValueError(f"Layer names must be non-empty strings. Received: name={name!r}")
        self.name = name
        self.trainable = bool(kwargs.get("trainable", True))
        self.dtype = kwargs.get("dtype") or "float32"
        self._initial_weights = kwargs.get("weights")
        self.batch_input_shape = _batch_input_shape_from_kwargs(type(self).__name__, kwargs)
        self._trainable_weights = []
        self._non_trainable_weights = []
        self.built = False
        self.input_shape = None      # with batch dim, set when the layer is built
        self.output_shape = None
        self.stateful = getattr(self, "stateful", False)
        self.activity_regularizer = None   # set by layers that take activity_regularizer=
        self._activity_penalty = None      # its value for the last training call

    # -- weights --------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", regularizer=None,
                   trainable=True, constraint=None, dtype=None):
        """Create a weight Variable on the active device; returns it."""
        init = initializers_mod.get(initializer)
        value = numpy.asarray(init(tuple(int(s) for s in shape), dtype or self.dtype))
        v = Variable(dispatch.to_device(value), name=f"{self.name}/{name}:0",
                     trainable=trainable and self.trainable)
        v.regularizer = regularizers_mod.get(regularizer)
        v.constraint = constraints_mod.get(constraint)
        (self._trainable_weights if trainable else self._non_trainable_weights).append(v)
        return v

    @property
    def trainable_weights(self):
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        if self.trainable:
            return list(self._non_trainable_weights)
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    @property
    def weights(self):
        """All weights in Keras order (trainable first)."""
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    def get_weights(self):
        """The weights as NumPy arrays, in Keras order (e.g. kernel, bias)."""
        return [dispatch.to_host(w.data).copy() for w in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays.

        Every array is converted and checked (count, numeric dtype, shape) before any
        is assigned, so a rejected call leaves the layer exactly as it was.
        """
        params = self.weights
        weights = _as_weight_list(weights, f"Layer '{self.name}' ({type(self).__name__})")
        if len(weights) != len(params):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects {len(params)} weight "
                f"arrays ({', '.join(str(p.shape) for p in params) or 'none'}), but received "
                f"{len(weights)}. Pass the list returned by get_weights() of an equal layer.")
        values = checked_weight_values(self, params, weights)
        for p, v in zip(params, values):
            p.assign(v)

    def count_params(self):
        return int(sum(int(numpy.prod(w.shape)) for w in self.weights))

    # -- losses added by the layer (regularizers) ------------------------------
    @property
    def losses(self):
        """Regularization penalties: of this layer's weights (evaluated now) and of its
        output in the last training call (activity regularizer; consumed when read)."""
        out = []
        for w in self.weights:
            if w.regularizer is not None:
                out.append(w.regularizer(w))
        if self._activity_penalty is not None:
            out.append(self._activity_penalty)
            self._activity_penalty = None
        return out

    def _record_activity(self, outputs, training):
        """Keep the activity regularizer's penalty of a training call's output."""
        if training and self.activity_regularizer is not None:
            y = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            self._activity_penalty = self.activity_regularizer(y)

    # -- the contract -----------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (with batch dim)."""
        self.built = True

    def call(self, inputs, training=False):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def set_weight_options(self, arguments, *weights):
        """Set the ``<w>_initializer``, ``<w>_regularizer`` and ``<w>_constraint``
        attributes of each weight prefix (e.g. 'kernel', 'bias'), and
        ``activity_regularizer`` when ``arguments`` holds it, from ``arguments`` (a
        mapping of the layer's ``__init__`` arguments, e.g. its ``locals()``), each read by
        its module's ``get``. They are read in the order of :meth:`weight_options_config`,
        so the first bad one in that order is the one reported."""
        for key in weight_option_names(weights, "activity_regularizer" in arguments):
            setattr(self, key, _option_module(key).get(arguments[key]))

    def weight_options_config(self, *weights):
        """The Keras config entries of ``<w>_initializer``, ``<w>_regularizer`` and
        ``<w>_constraint`` for each weight prefix (e.g. 'kernel', 'bias'), in Keras's order,
        plus ``activity_regularizer``."""
        return {key: _option_module(key).serialize(getattr(self, key))
                for key in weight_option_names(weights)}

    def get_config(self):
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            cfg["batch_input_shape"] = tuple(self.batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # -- plumbing ------------------------------------------------------------------
    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
            self.output_shape = self.compute_output_shape(input_shape)
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def __call__(self, inputs, training=False, mask=None):
        if not self.built:
            shp = tuple(inputs.shape) if not isinstance(inputs, (list, tuple)) else \
                [tuple(t.shape) for t in inputs]
            self._maybe_build(shp)
        outputs = self.call(inputs, **call_kwargs(type(self), training, mask))
        self._record_activity(outputs, training)
        return outputs

    # -- symbolic tensors (Keras: layer.input / layer.output) ----------------------
    @property
    def input(self):
        """The layer's input in the first model it was added to, as a symbolic tensor
        (see :mod:`gpuseq.backend.symbolic`); a list for a multi-input first layer."""
        return symbolic.layer_input(self._owner(), self)

    @property
    def output(self):
        """The layer's output in the first model it was added to, as a symbolic tensor:
        ``K.function([model.input], [layer.output])`` evaluates it."""
        return symbolic.layer_output(self._owner(), self)

    def _owner(self):
        model = getattr(self, "_first_model", None)
        if model is None or not any(l is self for l in model.layers):
            raise AttributeError(f"Layer '{self.name}' is not connected: add it to a model "
                                 "before asking for its input or output.")
        return model

    # -- CUDA-graph capture of a training step ----------------------------------
    # Values of this layer read on the host while a step runs: a captured step
    # bakes them in, so a change must lead to a new capture (see graph_key).
    _graph_hyper = ()

    def graph_key(self):
        """Values of this layer that a training step captured as a CUDA graph bakes in
        (``trainable`` and the attributes named in ``_graph_hyper``, such as a
        dropout rate); when they change, the step is captured again."""
        return (self.trainable,) + tuple(getattr(self, n) for n in self._graph_hyper)

    def graph_ineligibility(self, first):
        """Why a training step through this layer cannot be replayed as a CUDA graph,
        or None. ``first``: whether the layer is the model's first layer."""
        if getattr(self, "stateful", False):
            return f"layer '{self.name}' is stateful"
        return None

    def check_graph_inputs(self, inputs):
        """Check a batch on the host before a replayed step that starts with this
        layer (a captured step cannot check its inputs itself); raises like ``call``."""

    def reset_states(self, states=None):
        raise AttributeError(
            f"Layer '{self.name}' ({type(self).__name__}) is not stateful; reset_states() "
            "applies only to recurrent layers built with stateful=True.")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _as_weight_list(weights, owner):
    if isinstance(weights, (str, bytes, dict)) or not hasattr(weights, "__iter__"):
        raise TypeError(f"{owner}: set_weights expects a list of NumPy arrays (as returned "
                        f"by get_weights()). Received: weights={weights!r:.100}")
    return list(weights)


def checked_weight_values(layer, params, arrays):
    """Host arrays for ``params`` from ``arrays``, each converted to its weight's dtype.

    Raises (before anything is assigned) when an array is not numeric or its shape
    differs from the weight's; ``layer`` names the owner in the message.
    """
    values = []
    for p, w in zip(params, arrays):
        where = f"Layer '{layer.name}' ({type(layer).__name__}): weight '{p.name}'"
        try:
            a = numpy.asarray(dispatch.to_host(w))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where} must be set from a numeric array, but the value could "
                             f"not be converted to one ({e}). Received: {w!r:.100}") from None
        if a.dtype.kind not in "biuf":
            raise ValueError(
                f"{where} must be set from a numeric array, but received an array of dtype "
                f"{a.dtype}. Pass float arrays such as those get_weights() returns. "
                f"Received: {w!r:.100}")
        if tuple(a.shape) != tuple(p.shape):
            raise ValueError(
                f"{where} has shape {tuple(p.shape)}, but the provided array has shape "
                f"{tuple(a.shape)}. Received: array of shape {tuple(a.shape)}")
        values.append(a.astype(p.dtype, copy=True))
    return values


_accepts_cache = {}


def _accepts(cls, arg):
    """Whether ``cls.call`` names ``arg`` as a parameter (read once per class).

    A ``**kwargs`` catch-all does not count: as in Keras, ``training`` and ``mask``
    are passed only to a ``call`` that names them."""
    key = (cls, arg)
    if key not in _accepts_cache:
        params = inspect.signature(cls.call).parameters
        _accepts_cache[key] = arg in params and params[arg].kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return _accepts_cache[key]


def call_kwargs(cls, training, mask):
    """The keyword arguments for ``cls.call``: ``training`` when ``call`` takes it, and
    ``mask`` when one is given and ``call`` takes it (Keras 2 custom layers often
    define ``call(self, inputs)`` only)."""
    kwargs = {}
    if _accepts(cls, "training"):
        kwargs["training"] = training
    if mask is not None and _accepts(cls, "mask"):
        kwargs["mask"] = mask
    return kwargs


def _batch_input_shape_from_kwargs(cls_name, kw):
    """Resolve input_shape / batch_input_shape / batch_size / input_dim / input_length."""
    def _shape(v, what):
        if isinstance(v, (int, numpy.integer)) and not isinstance(v, bool):
            raise TypeError(f"{cls_name}: `{what}` must be a tuple of integers, not an int. "
                            f"Write {what}=({int(v)},) for a single dimension. "
                            f"Received: {what}={v!r}")
        if isinstance(v, (str, bytes)):
            raise TypeError(f"{cls_name}: `{what}` must be a tuple of integers, not a string. "
                            f"Received: {what}={v!r}")
        try:
            t = tuple(None if d is None else int(d) for d in v)
        except (TypeError, ValueError):
            raise ValueError(f"{cls_name}: `{what}` must be a tuple of integers (or None). "
                             f"Received: {what}={v!r}") from None
        for d in t:
            if d is not None and d <= 0:
                raise ValueError(f"{cls_name}: every dimension of `{what}` must be positive. "
                                 f"Received: {what}={v!r}")
        return t

    if kw.get("batch_input_shape") is not None:
        return _shape(kw["batch_input_shape"], "batch_input_shape")
    shape = None
    if kw.get("input_shape") is not None:
        shape = _shape(kw["input_shape"], "input_shape")
    elif kw.get("input_dim") is not None:
        dim = kw["input_dim"]
        if not isinstance(dim, (int, numpy.integer)) or dim <= 0:
            raise ValueError(f"{cls_name}: `input_dim` must be a positive integer. "
                             f"Received: input_dim={dim!r}")
        if kw.get("input_length") is not None or cls_name in _SEQUENCE_LAYERS:
            shape = (kw.get("input_length"), int(dim))
        else:
            shape = (int(dim),)
    elif kw.get("input_length") is not None and cls_name == "Embedding":
        shape = (int(kw["input_length"]),)
    if shape is None:
        return None
    bs = kw.get("batch_size")
    if bs is not None and (not isinstance(bs, (int, numpy.integer)) or bs <= 0):
        raise ValueError(f"{cls_name}: `batch_size` must be a positive integer. "
                         f"Received: batch_size={bs!r}")
    return (None if bs is None else int(bs),) + shape


# Layers whose input_dim means the feature size of a (time, features) input.
_SEQUENCE_LAYERS = {"LSTM", "GRU", "SimpleRNN", "Conv1D", "Convolution1D", "Bidirectional",
                    "TimeDistributed", "MaxPooling1D", "AveragePooling1D",
                    "GlobalMaxPooling1D", "GlobalAveragePooling1D", "CuDNNLSTM", "CuDNNGRU"}


def validate_positive_int(cls_name, arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, numpy.integer)) or value <= 0:
        raise ValueError(f"Received an invalid value for `{arg}` of {cls_name}: expected a "
                         f"positive integer. Received: {arg}={value!r}")
    return int(value)


def validate_bool(cls_name, arg, value):
    """``value`` as a bool; True/False (or 0/1) only, so that a string such as
    ``'False'`` is not taken for True."""
    if isinstance(value, (bool, numpy.bool_)):
        return bool(value)
    if isinstance(value, (int, numpy.integer)) and value in (0, 1):
        return bool(value)
    raise TypeError(f"Received an invalid value for `{arg}` of {cls_name}: expected True or "
                    f"False. Received: {arg}={value!r}")


def validate_rate(cls_name, arg, value):
    if not isinstance(value, (int, float)) or not (0 <= value < 1):
        raise ValueError(f"Received an invalid value for `{arg}` of {cls_name}: expected a "
                         f"float in [0, 1). Received: {arg}={value!r}")
    return float(value)
