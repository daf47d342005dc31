"""Optimizers with Keras 2.2 defaults and update rules.

Every optimizer updates each weight in place through the active op package
(``numpy_ops`` or the fused ``kernels/optimizers.cu`` launches of ``cupy_ops``):
one call per large weight, and one call for all the small weights of the same
dtype together (their arrays are views into shared flat buffers; see
``Optimizer._flat_plan``). Hyper-parameters that change per step (the decayed
learning rate, bias corrections) are computed on the host once per step
(:meth:`Optimizer.step_scalars`); on the GPU they are written with one small copy
into a device buffer the optimizer owns, which every update kernel reads.

One step is ``optimizer.apply_gradients(zip(grads, weights))`` (Keras 3 form:
``(gradient, Variable)`` pairs); it clips, updates every weight in place and
counts the step.

Common arguments (every optimizer):
    lr / learning_rate: the learning rate (``learning_rate`` is the Keras >= 2.3
        and Keras 3 name; give one of the two).
    decay: time decay of the learning rate, applied before each step:
        ``lr_t = lr / (1 + decay * iterations)`` (not for Nadam, as Keras 2).
    clipnorm: when the global L2 norm of ALL gradients together exceeds this,
        every gradient is scaled by ``clipnorm / norm`` (``global_clipnorm`` is
        accepted as the Keras 3 name of the same thing).
    clipvalue: every gradient element is clipped to [-clipvalue, clipvalue]
        (after clipnorm).

``optimizer.lr`` (and ``optimizer.decay``) behave like the Keras variables:
``K.get_value(opt.lr)``, ``K.set_value(opt.lr, 0.01)`` and ``opt.lr = 0.01`` all
work, and ``float(opt.lr)`` is the current value. ``optimizer.iterations``
counts the steps taken.

The state (``get_weights()``: ``[iterations] + slot arrays``, grouped slot by
slot in weight order, as Keras >= 2.3 orders it) and ``get_config()`` restore
an optimizer exactly: training continues as if never interrupted. The live
arrays are :meth:`Optimizer.state_arrays` (named by :meth:`Optimizer.state_names`),
the host values :meth:`Optimizer.host_state`.

Example:
    >>> from gpuseq.optimizers import SGD
    >>> sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    >>> model.compile(loss='categorical_crossentropy', optimizer=sgd)
    >>> model.compile(loss='mse', optimizer='rmsprop')      # by name, defaults
"""
import inspect
import math

import numpy

from .backend import dispatch
from .backend import functions as K
from .backend.functions import ScalarVariable
from .custom_objects import lookup_custom_object, registration_hint

_COMMON = ("learning_rate", "clipnorm", "clipvalue", "global_clipnorm")

# Keras 3 configuration keys that are harmless at these values
_NEUTRAL_CONFIG = {"name": None, "weight_decay": (None, 0, 0.0), "use_ema": (False,),
                   "ema_momentum": None, "ema_overwrite_frequency": None,
                   "loss_scale_factor": (None,), "gradient_accumulation_steps": (None,),
                   "is_legacy_optimizer": None, "jit_compile": None, "global_clipnorm": (None,)}


def _is_number(value):
    return isinstance(value, (int, float, numpy.floating, numpy.integer, ScalarVariable)) and \
        not isinstance(value, (bool, numpy.bool_)) and math.isfinite(float(value))



def _check_numeric_state(cls_name, arrays):
    """Raise before anything is assigned when a state array is not numeric."""
    for i, a in enumerate(arrays):
        kind = numpy.asarray(dispatch.to_host(a)).dtype.kind
        if kind not in "biuf":
            raise ValueError(
                f"{cls_name}.set_weights: state array {i} must be numeric, but it has dtype "
                f"{numpy.asarray(a).dtype}. Pass the list returned by get_weights(). "
                f"Received: {a!r:.100}")

class Optimizer:
    """Base class: iterations, lr, decay, gradient clipping and the slot state.

    Subclasses define ``_slot_names`` (one state array per weight for each name),
    :meth:`step_scalars` (this step's hyper-parameters, floats) and
    ``_update(ops, p, g, slots)``, which updates one weight (or one flat buffer of
    several) in place and finds this step's scalars, as the update ops read them, in
    ``self._scalars``.
    """

    _hyper = ()          # names of the float/bool hyper-parameters in get_config
    _slot_names = ()     # per-weight state arrays
    _default_lr = 0.01
    _has_decay = True
    # True when _update is elementwise (each element of p depends only on the same
    # element of g and of the slots, hyper-parameters being scalars): small weights are
    # then updated together through flat buffers (see _flat_plan).
    _elementwise = False
    # weights of at most this many elements share flat buffers (larger ones are updated
    # one call each: their updates are bound by memory traffic, not by call overhead)
    _FLAT_MAX_SIZE = 1 << 14

    def __init__(self, lr=None, decay=0.0, clipnorm=None, clipvalue=None, learning_rate=None,
                 global_clipnorm=None):
        name = type(self).__name__
        if lr is not None and learning_rate is not None:
            raise TypeError(f"{name}: pass either `lr` or `learning_rate` (the same "
                            f"parameter), not both. Received: lr={lr!r}, "
                            f"learning_rate={learning_rate!r}")
        if clipnorm is not None and global_clipnorm is not None:
            raise TypeError(f"{name}: pass either `clipnorm` or `global_clipnorm` (both clip "
                            "the global norm of all gradients), not both.")
        lr = learning_rate if learning_rate is not None else lr
        lr = self._default_lr if lr is None else lr
        clipnorm = global_clipnorm if global_clipnorm is not None else clipnorm
        self._lr = ScalarVariable(lr, "lr", self._check_nonneg)
        self._decay = ScalarVariable(decay, "decay", self._check_nonneg)
        self.initial_decay = float(decay)
        if clipnorm is not None:
            self._check_nonneg("clipnorm", clipnorm)
            clipnorm = float(clipnorm)
        if clipvalue is not None:
            self._check_nonneg("clipvalue", clipvalue)
            clipvalue = float(clipvalue)
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.iterations = 0
        self._slots = {}      # id(param) -> {slot name: array like param}
        self._params = []     # params in build order (the order of get_weights)
        self._pending = None  # state given to set_weights before the weights were known
        self._flat = None     # (ids of the params, groups, indices updated one by one)
        self._scalars = None  # this step's scalars as the update ops read them

    # -- validation ---------------------------------------------------------------
    def _check_nonneg(self, name, value):
        if not _is_number(value) or float(value) < 0:
            raise ValueError(f"{type(self).__name__}: invalid value for `{name}`: expected a "
                             f"finite number >= 0. Received: {name}={value!r}")

    def _check_unit(self, name, value, closed=False):
        ok = _is_number(value) and 0 <= float(value) and (
            float(value) <= 1 if closed else float(value) < 1)
        if not ok:
            rng = "[0, 1]" if closed else "[0, 1)"
            raise ValueError(f"{type(self).__name__}: invalid value for `{name}`: expected a "
                             f"number in {rng}. Received: {name}={value!r}")
        return float(value)

    def _epsilon(self, epsilon):
        if epsilon is None:
            return K.epsilon()
        self._check_nonneg("epsilon", epsilon)
        return float(epsilon)

    # -- learning rate (a mutable scalar, like the Keras variable) -------------------
    @property
    def lr(self):
        """The learning rate; ``K.set_value(opt.lr, v)`` or ``opt.lr = v`` changes it."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr.assign(value)

    learning_rate = lr

    @property
    def decay(self):
        return self._decay

    @decay.setter
    def decay(self, value):
        self._decay.assign(value)

    def current_lr(self):
        """The learning rate of the coming step: ``lr / (1 + decay * iterations)``."""
        lr = float(self._lr)
        if self._has_decay and float(self._decay) > 0:
            lr = lr * (1.0 / (1.0 + float(self._decay) * self.iterations))
        return lr

    # -- gradient clipping ------------------------------------------------------
    def clip_gradients(self, grads):
        """Keras 2 clipping: global-norm rescaling (clipnorm), then elementwise (clipvalue)."""
        grads = list(grads)
        if not grads:
            return grads
        xp = dispatch.get_array_module(grads[0])
        if self.clipnorm is not None and self.clipnorm > 0:
            total = xp.sqrt(sum((g * g).sum() for g in grads))
            # g * c / n when n >= c, else g unchanged
            scale = xp.where(total >= self.clipnorm, self.clipnorm / xp.maximum(total, 1e-300),
                             1.0)
            grads = [g * scale.astype(g.dtype) for g in grads]
        if self.clipvalue is not None and self.clipvalue > 0:
            grads = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # -- state -------------------------------------------------------------------
    def _saved_slots(self):
        """The slots that carry state between steps (what get_weights returns)."""
        return self._slot_names

    def host_state(self):
        """The host values a step changes, as NumPy arrays: ``[iterations]`` (Nadam:
        ``[iterations, m_schedule]``); the leading entries of :meth:`get_weights`."""
        return [numpy.asarray(self.iterations, dtype="int64")]

    def set_host_state(self, values):
        """Restore what :meth:`host_state` returned."""
        self.iterations = int(numpy.asarray(values[0]).reshape(()))

    def state_arrays(self):
        """The live state arrays (not copies), in the order of :meth:`get_weights`
        after its host values: slot kind by slot kind, one array per weight in the
        order the weights were first seen. Writing into them changes the optimizer."""
        return [self._slots[id(p)][n] for n in self._saved_slots() for p in self._params]

    def state_names(self):
        """Names of :meth:`state_arrays`, same order: ``'<weight name>_<slot>'``
        (the weight's name without a ``:0`` suffix), e.g. ``'dense_1/kernel_m'``."""
        return [f"{p.name.rsplit(':', 1)[0]}_{n}" for n in self._saved_slots()
                for p in self._params]

    def build(self, params):
        """Create the state arrays (zeros) of ``params`` that have none yet.

        compile() calls this when the model is built, so that :meth:`set_weights`
        can restore a saved state before the first step.
        """
        xp_zeros = None
        for p in params:
            if id(p) in self._slots:
                continue
            xp_zeros = dispatch.get_array_module(p.data).zeros_like
            self._slots[id(p)] = {n: xp_zeros(p.data) for n in self._slot_names}
            self._params.append(p)
        if self._pending is not None and self._params:
            pending, self._pending = self._pending, None
            self.set_weights(pending)

    def apply_gradients(self, grads_and_vars):
        """One optimizer step: update every Variable in place from its gradient.

        Args:
            grads_and_vars: an iterable of ``(gradient, Variable)`` pairs (Keras 3
                form, e.g. ``zip(grads, model.trainable_weights)``); each gradient
                is an array of the Variable's shape. Pairs whose gradient is None
                are skipped.

        Gradients are clipped first (``clipnorm``/``clipvalue``, over the pairs
        given); then this step's scalars are loaded (:meth:`prepare_step`), every
        weight is updated and the step counted (:meth:`finish_step`).

        Example:
            >>> opt.apply_gradients(zip(grads, model.trainable_weights))
        """
        grads, params = self._check_pairs(grads_and_vars)
        if not params:
            return
        self.build(params)
        grads = self.clip_gradients(grads)
        ops = dispatch.ops()
        self.prepare_step()
        groups, singles = self._flat_plan(params)
        for i in singles:
            p, g = params[i], grads[i]
            if g.dtype != p.data.dtype:
                g = g.astype(p.data.dtype)
            if not g.flags.c_contiguous:
                g = dispatch.get_array_module(g).ascontiguousarray(g)
            self._update(ops, p.data, g, self._slots[id(p)])
            if p.constraint is not None:
                p.data[...] = p.constraint(p.data)
        for grp in groups:
            for i, gv in zip(grp.index, grp.grad_views):
                gv[...] = grads[i]                       # (casts like the path above)
            self._update(ops, grp.data, grp.grad, grp.slots)
            for i in grp.index:
                p = params[i]
                if p.constraint is not None:
                    p.data[...] = p.constraint(p.data)
        self.finish_step()

    def _check_pairs(self, grads_and_vars):
        """(gradients, Variables) of the pairs with a gradient; nothing changes on error."""
        name = type(self).__name__
        if isinstance(grads_and_vars, dict) or not hasattr(grads_and_vars, "__iter__"):
            raise TypeError(f"{name}.apply_gradients expects an iterable of (gradient, "
                            "variable) pairs, e.g. zip(grads, model.trainable_weights). "
                            f"Received: grads_and_vars={grads_and_vars!r}")
        grads, params = [], []
        for k, pair in enumerate(grads_and_vars):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{name}.apply_gradients expects (gradient, variable) pairs, "
                                f"but item {k} is not a pair. Received: item={pair!r}")
            g, p = pair
            if not hasattr(p, "data") or not hasattr(p, "constraint"):
                raise TypeError(f"{name}.apply_gradients: the second element of pair {k} must "
                                "be a weight Variable (e.g. from model.trainable_weights). "
                                f"Received: variable={p!r}")
            if g is None:
                continue
            if tuple(getattr(g, "shape", ())) != tuple(p.shape):
                raise ValueError(f"{name}.apply_gradients: the gradient of weight "
                                 f"'{getattr(p, 'name', k)}' must have its shape "
                                 f"{tuple(p.shape)}. Received: gradient.shape="
                                 f"{tuple(getattr(g, 'shape', ()))}")
            grads.append(g)
            params.append(p)
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}.apply_gradients received the same variable in more "
                             "than one pair; give each weight one (summed) gradient.")
        return grads, params

    # -- one step: host scalars, loaded once; the count -----------------------------
    def step_scalars(self):
        """This step's hyper-parameters as Python floats, in the layout the update
        ops read (``<rule>_scalars`` of the op package): computed from the current
        learning rate, decay and ``iterations``; changes nothing."""
        return (self.current_lr(),)

    def prepare_step(self):
        """Load this step's scalars where the updates read them and return them.

        On the GPU they go into a small device buffer this optimizer owns, with
        one copy (``load_step_scalars``), and every update kernel of the step
        reads that buffer; on the host they are a tuple of floats. While a step is
        captured as a CUDA graph nothing is written: the replaying code calls this
        before each launch of the graph, whose kernels read the same buffer.
        """
        self._scalars = dispatch.ops().load_step_scalars(self.step_scalars(), self._scalars)
        return self._scalars

    def finish_step(self):
        """Count the step just taken: ``iterations += 1`` and any host schedule
        (Nadam's ``m_schedule``). ``apply_gradients`` calls it after its updates; a
        CUDA-graph replay after its launch."""
        self.iterations += 1

    # -- CUDA-graph capture: what a captured step bakes in -------------------------
    def graph_key(self):
        """Values a captured step bakes in: a change means the capture is stale.

        The choice of kernels (``_graph_flags``), the clipping constants, and the
        device addresses the updates read and write (the step-scalar buffer, every
        slot array, the flat buffers). The learning rate and the other step scalars
        are not part of it: the captured kernels read them from the buffer.
        """
        parts = [id(self), type(self), self.clipnorm, self.clipvalue, self._graph_flags(),
                 _address(self._scalars)]
        for p in self._params:
            parts.extend(_address(a) for a in self._slots[id(p)].values())
        if self._flat is not None:
            parts.append(id(self._flat))
            parts.extend(_address(grp.grad) for grp in self._flat[1])
        return tuple(parts)

    def _graph_flags(self):
        """Hyper-parameters that choose kernels or code paths (not read from the buffer)."""
        return ()

    def graph_ineligibility(self):
        """Why a step of this optimizer cannot be captured as a CUDA graph, or None.

        gpuseq's own rules take every per-step value from :meth:`step_scalars`; a
        rule defined elsewhere may compute values on the host inside its updates,
        which a graph would freeze.
        """
        if type(self) not in _BY_NAME.values():
            return (f"the optimizer {type(self).__name__} is not one of gpuseq's built-in "
                    "rules")
        return None

    # -- several small weights per update call -----------------------------------
    def _flat_plan(self, params):
        """(groups, indices of the params updated one call each) for ``params``.

        With an elementwise rule, weights of at most ``_FLAT_MAX_SIZE`` elements of the
        same array type and dtype form a :class:`_FlatGroup`: their values and every
        slot live in flat buffers (the Variables' arrays and the slot arrays become
        views into them, with the same values), so one update call covers them all
        instead of one call each (for an LSTM model: 11 calls -> 1). The plan is kept
        while every array is still the view it made; anything that replaced one (a new
        array assigned to ``p.data`` or to a slot) makes the next step build it again.
        Values written in place (``Variable.assign``, ``set_weights``, loading) need
        nothing.
        """
        ids = tuple(id(p) for p in params)
        if self._flat is not None and self._flat[0] == ids and \
                all(grp.intact(self._slots) for grp in self._flat[1]):
            return self._flat[1], self._flat[2]
        groups, singles = [], []
        if self._elementwise and len(set(ids)) == len(ids):
            buckets = {}
            for i, p in enumerate(params):
                d = p.data
                xp = dispatch.get_array_module(d)
                if type(d) is xp.ndarray and d.dtype.kind == "f" and 0 < d.size and \
                        d.size <= self._FLAT_MAX_SIZE:
                    buckets.setdefault((xp.__name__, d.dtype.str), []).append(i)
                else:
                    singles.append(i)
            for index in buckets.values():
                if len(index) < 2:
                    singles.extend(index)
                else:
                    groups.append(_FlatGroup([params[i] for i in index], index, self._slots))
            singles.sort()
        else:
            singles = list(range(len(params)))
        self._flat = (ids, groups, singles)
        return groups, singles

    def _update(self, ops, p, g, slots):
        raise NotImplementedError(f"{type(self).__name__} defines no update rule: an "
                                  "Optimizer subclass implements _update(ops, p, g, slots).")

    @property
    def weights(self):
        """The state as arrays (see :meth:`get_weights`)."""
        return self.get_weights()

    def get_weights(self):
        """The optimizer state as NumPy arrays.

        Layout (Keras >= 2.3): ``[iterations]`` (Nadam: ``[iterations, m_schedule]``),
        then for each slot kind (e.g. Adam: m, then v) one array per weight, in
        the order of the model's trainable weights.
        """
        return self.host_state() + [dispatch.to_host(a).copy() for a in self.state_arrays()]

    def set_weights(self, weights):
        """Restore a state returned by :meth:`get_weights` (values are copied).

        Called before the optimizer knows its weights (compile() of a model that
        is not built yet), the state is kept and applied when it first sees them.
        Also accepted: the Keras 2.2.4 layouts (RMSprop/Adagrad/Adadelta without
        ``iterations``; Adam with unused ``vhat`` arrays).
        """
        weights = list(weights)
        if not self._params:
            self._pending = weights
            if weights:
                self.set_host_state(weights[:len(self.host_state())])
            return
        weights = self._adapt_layout(weights)
        names = self._saved_slots()
        n_head = len(self.host_state())
        need = n_head + len(names) * len(self._params)
        if len(weights) != need:
            raise ValueError(
                f"{type(self).__name__}.set_weights expects {need} arrays ({n_head} leading "
                f"scalar(s) + {len(names)} per weight for {len(self._params)} weights: "
                f"{', '.join(names) or 'no slots'}), but received {len(weights)}. Pass the "
                "list returned by get_weights() of the same optimizer type on the same model.")
        _check_numeric_state(type(self).__name__, weights)
        k = n_head
        for n in names:
            for p in self._params:
                if tuple(numpy.shape(weights[k])) != tuple(p.shape):
                    raise ValueError(
                        f"{type(self).__name__}.set_weights: the '{n}' state of weight "
                        f"'{p.name}' must have shape {tuple(p.shape)}, but the provided "
                        f"array has shape {tuple(numpy.shape(weights[k]))}.")
                k += 1
        k = n_head
        for n in names:
            for p in self._params:
                arr = self._slots[id(p)][n]
                arr[...] = dispatch.get_array_module(arr).asarray(
                    dispatch.to_host(weights[k]), dtype=arr.dtype)
                k += 1
        self.set_host_state(weights[:n_head])

    def _adapt_layout(self, weights):
        n_slot = len(self._saved_slots()) * len(self._params)
        if len(weights) == n_slot and len(self.host_state()) == 1:
            return [numpy.asarray(0, dtype="int64")] + weights   # Keras 2.2.4: no iterations
        return weights

    def get_config(self):
        """Hyper-parameters (Keras 2 keys: 'lr', 'decay', ...); ``from_config`` inverts it."""
        cfg = {"lr": float(self._lr)}
        if self._has_decay:
            cfg["decay"] = float(self._decay)
        for h in self._hyper:
            cfg[h] = getattr(self, h)
        if self.clipnorm is not None:
            cfg["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            cfg["clipvalue"] = self.clipvalue
        return cfg

    @classmethod
    def from_config(cls, config):
        """An optimizer from ``get_config()`` output (Keras 2 or Keras 3 keys)."""
        cfg = dict(config)
        for key, neutral in _NEUTRAL_CONFIG.items():
            if key in cfg:
                if neutral is None or cfg[key] in neutral:
                    cfg.pop(key)
        return cls(**cfg)

    def __repr__(self):
        return f"<{type(self).__name__} lr={float(self._lr)!r} iterations={self.iterations}>"


class _FlatGroup:
    """Weights (and their slots) that share flat buffers, for one update call.

    Building the group copies each weight's current values, and each slot's, into
    the flat buffers and points ``p.data`` and the slot entries at views of them
    (C-contiguous, same shapes and values). ``grad`` is a flat buffer the step's
    gradients are copied into.
    """

    __slots__ = ("params", "index", "data", "grad", "grad_views", "slots", "views",
                 "slot_views")

    def __init__(self, params, index, slots):
        xp = dispatch.get_array_module(params[0].data)
        dtype = params[0].data.dtype
        sizes = [int(p.data.size) for p in params]
        total = sum(sizes)
        offsets = [0]
        for n in sizes:
            offsets.append(offsets[-1] + n)

        def views_of(flat):
            return [flat[a:b].reshape(p.data.shape)
                    for p, a, b in zip(params, offsets[:-1], offsets[1:])]

        self.params = params
        self.index = index
        self.data = xp.empty(total, dtype=dtype)                       # (total,)
        self.views = views_of(self.data)
        for p, v in zip(params, self.views):
            v[...] = p.data
            p.data = v
        self.grad = xp.empty(total, dtype=dtype)                       # (total,)
        self.grad_views = views_of(self.grad)
        self.slots, self.slot_views = {}, {}
        for name in slots[id(params[0])]:
            flat = xp.empty(total, dtype=slots[id(params[0])][name].dtype)
            vs = views_of(flat)
            for p, v in zip(params, vs):
                v[...] = slots[id(p)][name]
                slots[id(p)][name] = v
            self.slots[name], self.slot_views[name] = flat, vs

    def intact(self, slots):
        """True while every weight and slot array is still the view made here."""
        for p, v in zip(self.params, self.views):
            if p.data is not v:
                return False
        for name, vs in self.slot_views.items():
            for p, v in zip(self.params, vs):
                if slots[id(p)].get(name) is not v:
                    return False
        return True


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and Nesterov momentum (Keras 2).

    Update of each weight p with gradient g, lr_t = lr / (1 + decay * iterations)::

        v <- momentum * v - lr_t * g
        p <- p + v                              (nesterov=False)
        p <- p + momentum * v - lr_t * g        (nesterov=True)

    Args:
        lr: float >= 0, default 0.01.
        momentum: float >= 0, default 0.
        decay: float >= 0, default 0.
        nesterov: bool, default False.
        clipnorm, clipvalue: see the module docstring.

    Example:
        >>> sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    """

    _hyper = ("momentum", "nesterov")
    _elementwise = True
    _default_lr = 0.01

    def __init__(self, lr=None, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
        _reject_unknown(SGD, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self._check_nonneg("momentum", momentum)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    _slot_names = ("moment",)

    def _saved_slots(self):
        # without momentum the velocity is recomputed from scratch each step
        return self._slot_names if self.momentum > 0 else ()

    def step_scalars(self):
        return dispatch.ops().sgd_scalars(self.current_lr(), self.momentum)

    def _graph_flags(self):
        return (self.nesterov,)

    def _update(self, ops, p, g, st):
        ops.sgd_update(p, g, st["moment"], self._scalars, self.nesterov)


class RMSprop(Optimizer):
    """RMSprop (Keras 2), lr_t = lr / (1 + decay * iterations)::

        a <- rho * a + (1 - rho) * g^2
        p <- p - lr_t * g / (sqrt(a) + epsilon)

    Args:
        lr: float >= 0, default 0.001.
        rho: float in [0, 1], default 0.9.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        decay: float >= 0, default 0.
    """

    _hyper = ("rho", "epsilon")
    _elementwise = True
    _slot_names = ("accumulator",)
    _default_lr = 0.001

    def __init__(self, lr=None, rho=0.9, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown(RMSprop, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self.rho = self._check_unit("rho", rho, closed=True)
        self.epsilon = self._epsilon(epsilon)

    def step_scalars(self):
        return dispatch.ops().rmsprop_scalars(self.current_lr(), self.rho, self.epsilon)

    def _update(self, ops, p, g, st):
        ops.rmsprop_update(p, g, st["accumulator"], self._scalars)


class Adagrad(Optimizer):
    """Adagrad (Keras 2; accumulators start at 0), lr_t = lr / (1 + decay * iterations)::

        a <- a + g^2
        p <- p - lr_t * g / (sqrt(a) + epsilon)

    Args:
        lr: float >= 0, default 0.01.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        decay: float >= 0, default 0.
    """

    _hyper = ("epsilon",)
    _elementwise = True
    _slot_names = ("accumulator",)
    _default_lr = 0.01

    def __init__(self, lr=None, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown(Adagrad, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self.epsilon = self._epsilon(epsilon)

    def step_scalars(self):
        return dispatch.ops().adagrad_scalars(self.current_lr(), self.epsilon)

    def _update(self, ops, p, g, st):
        ops.adagrad_update(p, g, st["accumulator"], self._scalars)


class Adadelta(Optimizer):
    """Adadelta (Keras 2), lr_t = lr / (1 + decay * iterations)::

        a <- rho * a + (1 - rho) * g^2
        u  = g * sqrt(d + epsilon) / sqrt(a + epsilon)
        p <- p - lr_t * u
        d <- rho * d + (1 - rho) * u^2

    Args:
        lr: float >= 0, default 1.0 (leave it at the default).
        rho: float in [0, 1], default 0.95.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        decay: float >= 0, default 0.
    """

    _hyper = ("rho", "epsilon")
    _elementwise = True
    _slot_names = ("accumulator", "delta_accumulator")
    _default_lr = 1.0

    def __init__(self, lr=None, rho=0.95, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown(Adadelta, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self.rho = self._check_unit("rho", rho, closed=True)
        self.epsilon = self._epsilon(epsilon)

    def step_scalars(self):
        return dispatch.ops().adadelta_scalars(self.current_lr(), self.rho, self.epsilon)

    def _update(self, ops, p, g, st):
        ops.adadelta_update(p, g, st["accumulator"], st["delta_accumulator"], self._scalars)


class Adam(Optimizer):
    """Adam and AMSGrad (Keras 2). With t = iterations + 1 and
    lr_t = lr / (1 + decay * iterations) * sqrt(1 - beta_2^t) / (1 - beta_1^t)::

        m <- beta_1 * m + (1 - beta_1) * g
        v <- beta_2 * v + (1 - beta_2) * g^2
        p <- p - lr_t * m / (sqrt(v) + epsilon)
        amsgrad=True:  vhat <- max(vhat, v);  p <- p - lr_t * m / (sqrt(vhat) + epsilon)

    Args:
        lr: float >= 0, default 0.001.
        beta_1, beta_2: floats in [0, 1), defaults 0.9 and 0.999.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        decay: float >= 0, default 0.
        amsgrad: bool, default False.
    """

    _elementwise = True
    _hyper = ("beta_1", "beta_2", "epsilon", "amsgrad")
    _default_lr = 0.001

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0,
                 amsgrad=False, **kwargs):
        _reject_unknown(Adam, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self.beta_1 = self._check_unit("beta_1", beta_1)
        self.beta_2 = self._check_unit("beta_2", beta_2)
        self.epsilon = self._epsilon(epsilon)
        self.amsgrad = bool(amsgrad)
        self._slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def step_scalars(self):
        t = self.iterations + 1
        lr_t = self.current_lr() * (math.sqrt(1.0 - self.beta_2 ** t) /
                                    (1.0 - self.beta_1 ** t))
        return dispatch.ops().adam_scalars(lr_t, self.beta_1, self.beta_2, self.epsilon)

    def _graph_flags(self):
        return (self.amsgrad,)

    def _update(self, ops, p, g, st):
        ops.adam_update(p, g, st["m"], st["v"], st.get("vhat"), self._scalars, self.amsgrad)

    def _adapt_layout(self, weights):
        n = len(self._params)
        if not self.amsgrad and len(weights) == 1 + 3 * n:
            return weights[:1 + 2 * n]          # Keras 2.2: unused vhat arrays
        return super()._adapt_layout(weights)


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Keras 2). With t = iterations + 1 and
    lr_t = lr / (1 + decay * iterations) / (1 - beta_1^t)::

        m <- beta_1 * m + (1 - beta_1) * g
        u <- max(beta_2 * u, |g|)
        p <- p - lr_t * m / (u + epsilon)

    Args:
        lr: float >= 0, default 0.002.
        beta_1, beta_2: floats in [0, 1), defaults 0.9 and 0.999.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        decay: float >= 0, default 0.
    """

    _hyper = ("beta_1", "beta_2", "epsilon")
    _elementwise = True
    _slot_names = ("m", "u")
    _default_lr = 0.002

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown(Adamax, kwargs)
        super().__init__(lr=lr, decay=decay, **kwargs)
        self.beta_1 = self._check_unit("beta_1", beta_1)
        self.beta_2 = self._check_unit("beta_2", beta_2)
        self.epsilon = self._epsilon(epsilon)

    def step_scalars(self):
        t = self.iterations + 1
        lr_t = self.current_lr() / (1.0 - self.beta_1 ** t)
        return dispatch.ops().adamax_scalars(lr_t, self.beta_1, self.beta_2, self.epsilon)

    def _update(self, ops, p, g, st):
        ops.adamax_update(p, g, st["m"], st["u"], self._scalars)


class Nadam(Optimizer):
    """Nesterov Adam (Keras 2; no ``decay``). With t = iterations + 1, the momentum
    schedule mu_t = beta_1 * (1 - 0.5 * 0.96^(t * schedule_decay)) and
    m_schedule = mu_1 * ... * mu_t::

        g'    = g / (1 - m_schedule)
        m    <- beta_1 * m + (1 - beta_1) * g;     m' = m / (1 - m_schedule * mu_{t+1})
        v    <- beta_2 * v + (1 - beta_2) * g^2;   v' = v / (1 - beta_2^t)
        m_bar = (1 - mu_t) * g' + mu_{t+1} * m'
        p    <- p - lr * m_bar / (sqrt(v') + epsilon)

    Args:
        lr: float >= 0, default 0.002.
        beta_1, beta_2: floats in [0, 1), defaults 0.9 and 0.999.
        epsilon: float >= 0, default ``K.epsilon()`` (1e-7).
        schedule_decay: float >= 0, default 0.004.
    """

    _hyper = ("beta_1", "beta_2", "epsilon", "schedule_decay")
    _elementwise = True
    _slot_names = ("m", "v")
    _default_lr = 0.002
    _has_decay = False

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, schedule_decay=0.004,
                 **kwargs):
        _reject_unknown(Nadam, kwargs, extra_msg=" Nadam has no `decay` (as in Keras 2); "
                        "use `schedule_decay` or a LearningRateScheduler callback."
                        if "decay" in kwargs else "")
        super().__init__(lr=lr, **kwargs)
        self.beta_1 = self._check_unit("beta_1", beta_1)
        self.beta_2 = self._check_unit("beta_2", beta_2)
        self.epsilon = self._epsilon(epsilon)
        self._check_nonneg("schedule_decay", schedule_decay)
        self.schedule_decay = float(schedule_decay)
        self.m_schedule = 1.0

    def _momentum_cache(self, t):
        """mu_t = beta_1 * (1 - 0.5 * 0.96^(t * schedule_decay))."""
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))

    def step_scalars(self):
        t = self.iterations + 1
        mc_t, mc_t1 = self._momentum_cache(t), self._momentum_cache(t + 1)
        return dispatch.ops().nadam_scalars(
            float(self._lr), self.beta_1, self.beta_2, self.epsilon, mc_t, mc_t1,
            self.m_schedule * mc_t, self.m_schedule * mc_t * mc_t1, self.beta_2 ** t)

    def finish_step(self):
        self.m_schedule = self.m_schedule * self._momentum_cache(self.iterations + 1)
        super().finish_step()

    def _update(self, ops, p, g, st):
        ops.nadam_update(p, g, st["m"], st["v"], self._scalars)

    def host_state(self):
        return [numpy.asarray(self.iterations, dtype="int64"),
                numpy.asarray(self.m_schedule, dtype="float64")]

    def set_host_state(self, values):
        self.iterations = int(numpy.asarray(values[0]).reshape(()))
        if len(values) > 1:
            self.m_schedule = float(numpy.asarray(values[1]).reshape(()))

    def _adapt_layout(self, weights):
        n = len(self._params)
        if len(weights) == 1 + 2 * n:      # no m_schedule: recompute it from iterations
            it = int(numpy.asarray(weights[0]).reshape(()))
            ms = 1.0
            for t in range(1, it + 1):
                ms *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))
            return [weights[0], numpy.asarray(ms)] + weights[1:]
        return weights


def _address(a):
    """(data address, shape) of an array, or None: what a captured launch reads."""
    if a is None or not hasattr(a, "shape"):
        return None
    if type(a).__module__.startswith("cupy"):
        return (a.data.ptr, a.shape)
    return (a.__array_interface__["data"][0], a.shape)


def _reject_unknown(cls, kwargs, extra_msg=""):
    allowed = set(_COMMON)
    bad = sorted(set(kwargs) - allowed)
    if bad:
        own = [p for p in inspect.signature(cls.__init__).parameters
               if p not in ("self", "kwargs")]
        valid = own + [a for a in _COMMON if a not in own]
        raise TypeError(f"{cls.__name__} got unexpected keyword argument(s) "
                        f"{', '.join(repr(b) for b in bad)}.{extra_msg} Valid arguments: "
                        f"{', '.join(valid)}.")


sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = (SGD, RMSprop, Adagrad, Adadelta, Adam,
                                                        Adamax, Nadam)
_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
            "adam": Adam, "adamax": Adamax, "nadam": Nadam}


def get(identifier):
    """Resolve an optimizer: an instance, a (case-insensitive) name with default
    arguments, or a config dict ``{'class_name': 'SGD', 'config': {...}}``.

    A name is resolved as Keras 2.2.4 does: a name that is a built-in in any case
    (``'Adam'``) is first lowered (``'adam'``); then the custom objects (an enclosing
    ``CustomObjectScope``, then ``get_custom_objects()``) are asked for it, then the
    built-ins. So ``get_custom_objects()['my_opt'] = MyOptimizer`` makes
    ``compile(optimizer='my_opt')`` build ``MyOptimizer()``, and a custom ``'adam'``
    replaces the built-in. A registered class is built from the config; a registered
    optimizer instance gives a new optimizer with its settings (two models never
    share one optimizer's state); a registered function is called with the config
    and must return an optimizer.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError("Could not interpret optimizer. Expected a name such as 'rmsprop' or an "
                     f"instance such as SGD(lr=0.01). Received: optimizer={identifier!r}")


def serialize(opt):
    """``{'class_name': ..., 'config': ...}`` of an optimizer."""
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config, custom_objects=None):
    """An optimizer from :func:`serialize` output: ``custom_objects``, then the
    registered custom objects, then the built-ins (see :func:`get`)."""
    name = config.get("class_name")
    if not isinstance(name, str):
        raise ValueError("An optimizer config needs a class name: {'class_name': 'SGD', "
                         f"'config': {{...}}}}. Received: {config!r}")
    if name.lower() in _BY_NAME:
        name = name.lower()
    options = dict(config.get("config") or {})
    custom = lookup_custom_object(name, custom_objects)
    if custom is not None:
        return _build_custom(name, custom, options)
    if name not in _BY_NAME:
        raise ValueError(f"Unknown optimizer. Expected one of "
                         f"{sorted(c.__name__ for c in _BY_NAME.values())} "
                         f"(case-insensitive: {sorted(_BY_NAME)}), a registered custom "
                         f"name or an Optimizer instance. {registration_hint(name)} "
                         f"Received: optimizer={config.get('class_name')!r}")
    return _BY_NAME[name].from_config(options)


def _build_custom(name, obj, options):
    """The optimizer a custom object registered under ``name`` gives for ``options``."""
    if isinstance(obj, Optimizer):
        return type(obj).from_config({**obj.get_config(), **options})
    if isinstance(obj, type):
        built = obj.from_config(options) if hasattr(obj, "from_config") else obj(**options)
    elif callable(obj):
        built = obj(**options)
    else:
        built = obj
    if not isinstance(built, Optimizer) and not hasattr(built, "apply_gradients"):
        raise ValueError(f"The custom object registered as {name!r} gave "
                         f"{type(built).__name__!s}, not an optimizer: register an "
                         "Optimizer subclass, an instance of one, or a function returning "
                         f"one. Received: {name}={obj!r}")
    return built
