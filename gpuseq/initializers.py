"""Weight initializers, as in ``keras.initializers`` (Keras 2.2 definitions).

Each initializer is called with a shape and a dtype and returns a NumPy array
(host); layers move it to the device. Convolution kernels count the receptive
field in their fans: for a kernel of shape (k1, ..., in, out),
fan_in = in * prod(k) and fan_out = out * prod(k).
"""
import math

import numpy

from . import random as grandom
from .custom_objects import build_custom_object, lookup_custom_object, registration_hint


def compute_fans(shape):
    """(fan_in, fan_out) of a weight shape, Keras's rule."""
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) in (3, 4, 5):
        rf = int(numpy.prod(shape[:-2]))
        return shape[-2] * rf, shape[-1] * rf
    s = math.sqrt(float(numpy.prod(shape))) if shape else 1.0
    return s, s


class Initializer:
    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return numpy.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return numpy.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype="float32"):
        return numpy.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        g = numpy.random.default_rng(self.seed) if self.seed is not None else grandom.rng()
        return g.normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype="float32"):
        g = numpy.random.default_rng(self.seed) if self.seed is not None else grandom.rng()
        return g.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(g, mean, stddev, shape):
    out = g.normal(0.0, 1.0, size=shape)
    bad = numpy.abs(out) > 2
    while bad.any():
        out[bad] = g.normal(0.0, 1.0, size=int(bad.sum()))
        bad = numpy.abs(out) > 2
    return mean + stddev * out


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype="float32"):
        g = numpy.random.default_rng(self.seed) if self.seed is not None else grandom.rng()
        return _truncated_normal(g, self.mean, self.stddev, shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """scale / n variance, n = fan_in, fan_out or their average (``mode``).

    'normal' draws a truncated normal with stddev sqrt(scale/n)/0.8796 (the
    Keras 2.2.4 correction for truncation); 'uniform' draws U(-l, l) with
    l = sqrt(3 scale / n).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal", seed=None):
        if scale <= 0:
            raise ValueError(f"`scale` must be a positive float. Received: scale={scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError("Invalid `mode`: expected 'fan_in', 'fan_out' or 'fan_avg'. "
                             f"Received: mode={mode!r}")
        if distribution not in ("normal", "uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError("Invalid `distribution`: expected 'normal' or 'uniform'. "
                             f"Received: distribution={distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out,
             "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        g = numpy.random.default_rng(self.seed) if self.seed is not None else grandom.rng()
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / 0.87962566103423978
            return _truncated_normal(g, 0.0, stddev, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return g.normal(0.0, math.sqrt(scale), size=shape).astype(dtype)
        limit = math.sqrt(3.0 * scale)
        return g.uniform(-limit, limit, size=shape).astype(dtype)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class Orthogonal(Initializer):
    """A random orthogonal matrix (QR of a Gaussian), times ``gain``."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype="float32"):
        rows = int(numpy.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        g = numpy.random.default_rng(self.seed) if self.seed is not None else grandom.rng()
        a = g.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = numpy.linalg.qr(a)
        q = q * numpy.sign(numpy.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32"):
        if len(shape) != 2:
            raise ValueError("Identity initializer needs a 2-D shape. "
                             f"Received: shape={tuple(shape)}")
        return (self.gain * numpy.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


def glorot_uniform(seed=None): return VarianceScaling(1.0, "fan_avg", "uniform", seed)
def glorot_normal(seed=None): return VarianceScaling(1.0, "fan_avg", "normal", seed)
def he_uniform(seed=None): return VarianceScaling(2.0, "fan_in", "uniform", seed)
def he_normal(seed=None): return VarianceScaling(2.0, "fan_in", "normal", seed)
def lecun_uniform(seed=None): return VarianceScaling(1.0, "fan_in", "uniform", seed)
def lecun_normal(seed=None): return VarianceScaling(1.0, "fan_in", "normal", seed)


_FACTORIES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal,
    "truncated_normal": TruncatedNormal, "orthogonal": Orthogonal, "identity": Identity,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal,
    "lecun_uniform": lecun_uniform, "lecun_normal": lecun_normal,
    "variance_scaling": VarianceScaling,
}
_CLASSES = {c.__name__: c for c in (Zeros, Ones, Constant, RandomNormal, RandomUniform,
                                    TruncatedNormal, VarianceScaling, Orthogonal, Identity)}


def get(identifier):
    """Resolve an initializer from a name, a config dict, an instance or a callable.

    A name (or a config's class name) is looked up among the custom objects first
    (an enclosing ``CustomObjectScope``, then ``get_custom_objects()``), then among
    the built-ins, as Keras 2.2.4 does; a registered class is built from the config,
    a registered instance or function is used as it is.
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _from_name(identifier, {})
    if isinstance(identifier, dict):
        name = identifier.get("class_name")
        if not isinstance(name, str):
            raise ValueError("An initializer config needs a class name: {'class_name': "
                             f"'RandomNormal', 'config': {{...}}}}. Received: {identifier!r}")
        return _from_name(name, identifier.get("config") or {}, config_form=True)
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer. Received: initializer={identifier!r}")


def _from_name(name, config, config_form=False):
    custom = lookup_custom_object(name)
    if custom is not None:
        return build_custom_object(custom, config)
    if config_form and name in _CLASSES:
        return _CLASSES[name].from_config(config)
    if not config_form:
        if name.lower() in _FACTORIES:
            return _FACTORIES[name.lower()]()
        if name in _CLASSES:
            return _CLASSES[name]()
    what = "initializer class" if config_form else "initializer"
    expected = sorted(_CLASSES) if config_form else sorted(_FACTORIES)
    raise ValueError(f"Unknown {what}. Expected one of {expected}, a registered custom name "
                     f"or a callable(shape, dtype=None). {registration_hint(name)} "
                     f"Received: initializer={name!r}")


def serialize(init):
    if isinstance(init, Initializer):
        return {"class_name": type(init).__name__, "config": init.get_config()}
    return getattr(init, "__name__", None)
