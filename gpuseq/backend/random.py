"""The framework's random source (weight init, dropout masks, shuffling).

It lives on the backend floor because backend functions (``K.random_uniform``) draw
from it too; ``gpuseq.random`` is the same module's public path.
``gpuseq.utils.set_random_seed(s)`` reseeds it (and NumPy's and Python's global
generators), which makes a NumPy-backend run reproducible.
"""
import random as _pyrandom

import numpy

from . import dispatch

_state = {"rng": numpy.random.default_rng(), "seed": None, "device": {}}


def rng():
    """The host generator (numpy.random.Generator)."""
    return _state["rng"]


def set_seed(seed):
    if not isinstance(seed, (int, numpy.integer)) or seed < 0:
        raise ValueError(f"Invalid seed: expected a non-negative integer. Received: seed={seed!r}")
    _state["rng"] = numpy.random.default_rng(int(seed))
    _state["seed"] = int(seed)
    _state["device"] = {}   # device generators are re-derived from the new host stream
    numpy.random.seed(int(seed) % (2 ** 32))
    _pyrandom.seed(int(seed))


def device_uniform(shape, dtype="float32"):
    """Uniform [0, 1) numbers on the active device (drawn on device for CuPy)."""
    xp = dispatch.xp()
    if xp is numpy:
        return rng().random(shape, dtype=numpy.float32).astype(dtype, copy=False)
    return _device_generator(xp).random(shape, dtype=xp.float32).astype(dtype, copy=False)


def device_normal(shape, dtype="float32"):
    """Standard normal numbers on the active device (drawn on device for CuPy)."""
    xp = dispatch.xp()
    if xp is numpy:
        return rng().standard_normal(shape, dtype=numpy.float32).astype(dtype, copy=False)
    return _device_generator(xp).standard_normal(shape, dtype=xp.float32).astype(
        dtype, copy=False)


def existing_device_generator(xp):
    """The active CUDA device's generator if one was created, else None; looking
    creates none (creating one draws from the host stream)."""
    return _state["device"].get(xp.cuda.runtime.getDevice())


def _device_generator(xp):
    """This device's generator: created once (seeded from the host stream, so that
    ``set_seed`` makes GPU runs repeatable too) and advanced on the device after that;
    setting up a generator costs a kernel launch and its state memory."""
    g = existing_device_generator(xp)
    if g is None:
        seed = int(rng().integers(0, 2 ** 31 - 1))
        g = xp.random.default_rng(seed) if hasattr(xp.random, "default_rng") else \
            xp.random.RandomState(seed)
        _state["device"][xp.cuda.runtime.getDevice()] = g
    return g
