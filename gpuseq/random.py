"""The framework's random source (weight init, dropout masks, shuffling): the public
path of :mod:`gpuseq.backend.random`, where it lives so that backend functions can
draw from it.

``gpuseq.utils.set_random_seed(s)`` reseeds it (and NumPy's and Python's global
generators), which makes a NumPy-backend run reproducible.
"""
from .backend.random import (device_normal, device_uniform,  # noqa: F401
                             existing_device_generator, rng, set_seed)
