"""The GPU settings that CuPy must be told about whenever the 'cupy' backend is active.

Two modules need them: :mod:`~gpuseq.backend.dispatch` pushes them into CuPy when it
activates the 'cupy' backend, and :mod:`~gpuseq.backend.session` (the public setters
``K.set_tf32`` ...) records them and pushes them when they change. This module sits
below both and imports nothing of gpuseq, so the two never import each other's way.

Settings:
    TF32: float32 matrix products may run on TensorFloat-32 tensor cores
    (``GPUSEQ_TF32=1`` in the environment turns it on at import).
"""
import os

import numpy

_settings = {"tf32": os.environ.get("GPUSEQ_TF32", "0").strip().lower() in ("1", "true", "yes")}


def tf32_enabled():
    """Whether float32 GPU matrix products may use TensorFloat-32."""
    return _settings["tf32"]


def record_tf32(enabled):
    """Record the TF32 setting (a bool); :func:`push_to_cupy` applies it."""
    _settings["tf32"] = bool(enabled)


def push_to_cupy():
    """Apply the recorded settings to CuPy (its float32 GEMM compute type). Call only
    while the 'cupy' backend is active: it imports CuPy."""
    from cupy._core import _routines_linalg as linalg
    linalg.set_compute_type(numpy.float32, linalg.COMPUTE_TYPE_TF32 if _settings["tf32"]
                            else linalg.COMPUTE_TYPE_DEFAULT)
