"""Optimizers with Keras 2.2 defaults and update rules.

Every optimizer updates each weight in place through the active op package
(``numpy_ops`` or the fused ``kernels/optimizers.cu`` launches of
``cupy_ops``), one call per weight. Hyper-parameters that change per step
(decayed lr, bias corrections) are computed on the host as Python floats.

Common arguments:
    lr / learning_rate: learning rate (``learning_rate`` is the Keras >= 2.3 name).
    decay: time decay, lr_t = lr / (1 + decay * iterations).
    clipnorm: rescale all gradients together when their global L2 norm
        exceeds this value.
    clipvalue: clip every gradient element to [-clipvalue, clipvalue].
"""
import math

import numpy

from .backend import dispatch

_COMMON = ("clipnorm", "clipvalue")


class Optimizer:
    """Base class: bookkeeping of iterations, lr, decay, clipping and slot state."""

    _hyper = ()  # names of float hyper-parameters (besides lr, decay)

    def __init__(self, lr=None, decay=0.0, clipnorm=None, clipvalue=None, learning_rate=None,
                 default_lr=0.01, **hyper):
        if lr is not None and learning_rate is not None:
            raise TypeError(f"{type(self).__name__}: pass either `lr` or `learning_rate`, "
                            "not both.")
        lr = learning_rate if learning_rate is not None else lr
        lr = default_lr if lr is None else lr
        self._check("lr", lr, allow_zero=True)
        self._check("decay", decay, allow_zero=True)
        if clipnorm is not None:
            self._check("clipnorm", clipnorm)
        if clipvalue is not None:
            self._check("clipvalue", clipvalue)
        self.lr_value = float(lr)
        self.initial_decay = float(decay)
        self.decay = float(decay)
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.iterations = 0
        for k, v in hyper.items():
            setattr(self, k, v)
        self._slots = {}     # id(param) -> list of state arrays
        self._params = []    # params in first-update order (for get_weights)

    def _check(self, name, value, allow_zero=False):
        ok = isinstance(value, (int, float, numpy.floating, numpy.integer)) and \
            not isinstance(value, bool) and math.isfinite(value) and \
            (value >= 0 if allow_zero else value > 0)
        if not ok:
            need = "a number >= 0" if allow_zero else "a positive number"
            raise ValueError(f"{type(self).__name__}: invalid value for `{name}`: expected "
                             f"{need}. Received: {name}={value!r}")

    # Keras exposes lr as a variable; here it is a float property.
    @property
    def lr(self):
        return self.lr_value

    @lr.setter
    def lr(self, value):
        self._check("lr", value, allow_zero=True)
        self.lr_value = float(value)

    learning_rate = lr

    def current_lr(self):
        """lr after time decay for the coming step."""
        if self.initial_decay > 0:
            return self.lr_value / (1.0 + self.decay * self.iterations)
        return self.lr_value

    # -- gradient clipping ------------------------------------------------------
    def clip_gradients(self, grads):
        if self.clipnorm is not None and self.clipnorm > 0:
            xp = dispatch.get_array_module(grads[0]) if grads else numpy
            total = xp.sqrt(sum((g * g).sum() for g in grads))
            scale = xp.minimum(1.0, self.clipnorm / xp.maximum(total, 1e-12))
            grads = [g * scale.astype(g.dtype) for g in grads]
        if self.clipvalue is not None and self.clipvalue > 0:
            xp = dispatch.get_array_module(grads[0]) if grads else numpy
            grads = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    # -- state -------------------------------------------------------------------
    def _slot_count(self):
        return 1

    def _state(self, p):
        st = self._slots.get(id(p))
        if st is None:
            xp = dispatch.get_array_module(p.data)
            st = [xp.zeros_like(p.data) for _ in range(self._slot_count())]
            self._slots[id(p)] = st
            self._params.append(p)
        return st

    def apply_gradients(self, params, grads):
        """One optimizer step: update every Variable in ``params`` in place."""
        grads = self.clip_gradients(list(grads))
        ops = dispatch.ops()
        self._begin_step()
        for p, g in zip(params, grads):
            g = g.astype(p.data.dtype, copy=False)
            if not g.flags.c_contiguous:
                g = dispatch.get_array_module(g).ascontiguousarray(g)
            self._update(ops, p.data, g, self._state(p))
            if p.constraint is not None:
                p.data[...] = p.constraint(p.data)
        self.iterations += 1

    def _begin_step(self):
        pass

    def _update(self, ops, p, g, state):
        raise NotImplementedError

    def get_weights(self):
        """[iterations, slot arrays of each weight in update order...] as NumPy arrays."""
        out = [numpy.asarray(self.iterations, dtype="int64")]
        for p in self._params:
            out.extend(dispatch.to_host(s).copy() for s in self._slots[id(p)])
        return out

    def set_weights(self, weights, params=None):
        """Restore state saved by :meth:`get_weights` for ``params`` (in that order)."""
        if params is None:
            params = self._params
        need = 1 + len(params) * self._slot_count()
        if len(weights) != need:
            raise ValueError(f"{type(self).__name__}.set_weights expects {need} arrays "
                             f"(iterations + {self._slot_count()} per weight for {len(params)} "
                             f"weights). Received {len(weights)}.")
        k = 1
        for p in params:
            for s in weights[k:k + self._slot_count()]:
                if tuple(numpy.shape(s)) != tuple(p.shape):
                    raise ValueError(f"{type(self).__name__}.set_weights: state for weight "
                                     f"'{p.name}' must have shape {tuple(p.shape)}, got "
                                     f"{tuple(numpy.shape(s))}.")
            k += self._slot_count()
        self._slots, self._params = {}, []
        k = 1
        for p in params:
            st = self._state(p)
            for i in range(self._slot_count()):
                st[i][...] = dispatch.to_device(numpy.asarray(weights[k + i], dtype=p.dtype))
            k += self._slot_count()
        self.iterations = int(numpy.asarray(weights[0]))
        self._restore_scalars()

    def _restore_scalars(self):
        pass

    def get_config(self):
        cfg = {"lr": self.lr_value, "decay": self.initial_decay}
        for h in self._hyper:
            cfg[h] = getattr(self, h)
        if self.clipnorm is not None:
            cfg["clipnorm"] = self.clipnorm
        if self.clipvalue is not None:
            cfg["clipvalue"] = self.clipvalue
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    """Stochastic gradient descent with momentum and Nesterov momentum.

    v <- momentum * v - lr_t * g;   p <- p + v   (Nesterov: p <- p + momentum * v - lr_t * g)

    Args:
        lr: float >= 0 (default 0.01). momentum: float >= 0. decay: float >= 0.
        nesterov: bool.
    """

    _hyper = ("momentum", "nesterov")

    def __init__(self, lr=None, momentum=0.0, decay=0.0, nesterov=False, **kwargs):
        _reject_unknown("SGD", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=0.01, **kwargs)
        self._check("momentum", momentum, allow_zero=True)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _update(self, ops, p, g, st):
        ops.sgd_update(p, g, st[0], self._lr_t, self.momentum, self.nesterov)

    def _begin_step(self):
        self._lr_t = self.current_lr()


class RMSprop(Optimizer):
    """RMSprop: a <- rho*a + (1-rho)*g^2;  p <- p - lr_t * g / (sqrt(a) + epsilon).

    Args:
        lr: default 0.001. rho: default 0.9. epsilon: default 1e-7. decay: float >= 0.
    """

    _hyper = ("rho", "epsilon")

    def __init__(self, lr=None, rho=0.9, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown("RMSprop", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=0.001, **kwargs)
        self.rho = float(rho)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def _begin_step(self):
        self._lr_t = self.current_lr()

    def _update(self, ops, p, g, st):
        ops.rmsprop_update(p, g, st[0], self._lr_t, self.rho, self.epsilon)


class Adagrad(Optimizer):
    """Adagrad: a <- a + g^2;  p <- p - lr_t * g / (sqrt(a) + epsilon).

    Args:
        lr: default 0.01. epsilon: default 1e-7. decay: float >= 0.
    """

    _hyper = ("epsilon",)

    def __init__(self, lr=None, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown("Adagrad", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=0.01, **kwargs)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def _begin_step(self):
        self._lr_t = self.current_lr()

    def _update(self, ops, p, g, st):
        ops.adagrad_update(p, g, st[0], self._lr_t, self.epsilon)


class Adadelta(Optimizer):
    """Adadelta: a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);
    p <- p - lr_t*u;  d <- rho*d + (1-rho)*u^2.

    Args:
        lr: default 1.0. rho: default 0.95. epsilon: default 1e-7. decay: float >= 0.
    """

    _hyper = ("rho", "epsilon")

    def __init__(self, lr=None, rho=0.95, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown("Adadelta", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=1.0, **kwargs)
        self.rho = float(rho)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def _slot_count(self):
        return 2

    def _begin_step(self):
        self._lr_t = self.current_lr()

    def _update(self, ops, p, g, st):
        ops.adadelta_update(p, g, st[0], st[1], self._lr_t, self.rho, self.epsilon)


class Adam(Optimizer):
    """Adam (and AMSGrad): m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;
    p <- p - lr_t * m / (sqrt(v) + eps),  lr_t = lr * sqrt(1-b2^t) / (1-b1^t);
    with amsgrad, vhat <- max(vhat, v) replaces v in the step.

    Args:
        lr: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. decay. amsgrad: bool.
    """

    _hyper = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0,
                 amsgrad=False, **kwargs):
        _reject_unknown("Adam", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=0.001, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)
        self.amsgrad = bool(amsgrad)

    def _slot_count(self):
        return 3

    def _begin_step(self):
        t = self.iterations + 1
        self._lr_t = self.current_lr() * math.sqrt(1.0 - self.beta_2 ** t) / \
            (1.0 - self.beta_1 ** t)

    def _update(self, ops, p, g, st):
        ops.adam_update(p, g, st[0], st[1], st[2], self._lr_t, self.beta_1, self.beta_2,
                        self.epsilon, self.amsgrad)


class Adamax(Optimizer):
    """Adamax: m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);
    p <- p - lr_t * m / (u + eps),  lr_t = lr / (1 - b1^t).

    Args:
        lr: default 0.002. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. decay.
    """

    _hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, decay=0.0, **kwargs):
        _reject_unknown("Adamax", kwargs)
        super().__init__(lr=lr, decay=decay, default_lr=0.002, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)

    def _slot_count(self):
        return 2

    def _begin_step(self):
        t = self.iterations + 1
        self._lr_t = self.current_lr() / (1.0 - self.beta_1 ** t)

    def _update(self, ops, p, g, st):
        ops.adamax_update(p, g, st[0], st[1], self._lr_t, self.beta_1, self.beta_2,
                          self.epsilon)


class Nadam(Optimizer):
    """Nadam (Keras 2.2): Adam with Nesterov momentum and the momentum schedule
    mc_t = b1 * (1 - 0.5 * 0.96^(t * schedule_decay)).

    g' = g/(1-prod(mc_1..t));  m <- b1*m + (1-b1)*g;  m' = m/(1-prod(mc_1..t+1));
    v <- b2*v + (1-b2)*g^2;  v' = v/(1-b2^t);  m_bar = (1-mc_t)*g' + mc_{t+1}*m';
    p <- p - lr * m_bar / (sqrt(v') + eps).

    Args:
        lr: default 0.002. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7. schedule_decay: 0.004.
    """

    _hyper = ("beta_1", "beta_2", "epsilon", "schedule_decay")

    def __init__(self, lr=None, beta_1=0.9, beta_2=0.999, epsilon=None, schedule_decay=0.004,
                 **kwargs):
        _reject_unknown("Nadam", kwargs)
        super().__init__(lr=lr, decay=0.0, default_lr=0.002, **kwargs)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon = 1e-7 if epsilon is None else float(epsilon)
        self.schedule_decay = float(schedule_decay)
        self.m_schedule = 1.0

    def _slot_count(self):
        return 2

    def _begin_step(self):
        t = self.iterations + 1
        b1, sd = self.beta_1, self.schedule_decay
        self._mc_t = b1 * (1.0 - 0.5 * 0.96 ** (t * sd))
        self._mc_t1 = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * sd))
        self._ms_new = self.m_schedule * self._mc_t
        self._ms_next = self.m_schedule * self._mc_t * self._mc_t1
        self._b2_t = self.beta_2 ** t
        self.m_schedule = self._ms_new

    def _update(self, ops, p, g, st):
        ops.nadam_update(p, g, st[0], st[1], self.lr_value, self.beta_1, self.beta_2,
                         self.epsilon, self._mc_t, self._mc_t1, self._ms_new, self._ms_next,
                         self._b2_t)

    def _restore_scalars(self):
        # m_schedule is the product of the momentum cache over the steps taken
        ms = 1.0
        for t in range(1, self.iterations + 1):
            ms *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (t * self.schedule_decay))
        self.m_schedule = ms

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("decay", None)
        return cfg


def _reject_unknown(name, kwargs):
    allowed = set(_COMMON) | {"learning_rate"}
    bad = set(kwargs) - allowed
    if bad:
        import inspect
        cls = globals()[name]
        own = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",
                                                                              "kwargs")]
        raise TypeError(f"{name} got unexpected keyword argument(s) {sorted(bad)}. Valid "
                        f"arguments: {', '.join(own + sorted(allowed))}.")


sgd, rmsprop, adagrad, adadelta, adam, adamax, nadam = (SGD, RMSprop, Adagrad, Adadelta, Adam,
                                                        Adamax, Nadam)
_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adadelta": Adadelta,
            "adam": Adam, "adamax": Adamax, "nadam": Nadam}


def get(identifier):
    """Resolve an optimizer: an instance, a (case-insensitive) name, or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown optimizer. Expected one of {sorted(_BY_NAME)} "
                             f"(case-insensitive) or an Optimizer instance. "
                             f"Received: optimizer={identifier!r}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError("Could not interpret optimizer. Expected a name such as 'rmsprop' or an "
                     f"instance such as SGD(lr=0.01). Received: optimizer={identifier!r}")


def serialize(opt):
    return {"class_name": type(opt).__name__, "config": opt.get_config()}


def deserialize(config, custom_objects=None):
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer class {name!r}. Expected one of "
                         f"{sorted(c.__name__ for c in _BY_NAME.values())}.")
    return cls.from_config(config.get("config", {}))
