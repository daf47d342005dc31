"""Choose the array backend once: NumPy, CuPy, or CuPy's op layer emulated on the CPU.

``GPUSEQ_BACKEND`` selects it at import time:

* ``auto`` (default): CuPy when it imports and a CUDA device is present, else NumPy.
  Never an error on a CPU-only machine.
* ``numpy``: the NumPy reference implementation (``numpy_ops``).
* ``cupy``: the CUDA kernels through CuPy (``cupy_ops``). If CuPy cannot run, the
  error says why (the original import or device error).
* ``emulated``: the CuPy op layer (``cupy_ops``: launch configuration, argument
  order and types, the same ``kernels/*.cu`` source) executed on the CPU by the
  CUDA launch emulation, on NumPy arrays. Slow; meant for tests and debugging
  kernels on machines without a GPU.
"""
import contextlib
import importlib
import os

import numpy

from . import device_settings

_VALID = ("auto", "numpy", "cupy", "emulated")


class BackendUnavailableError(RuntimeError):
    """Raised when the requested backend cannot run on this machine."""


class _State:
    name = None          # 'numpy' | 'cupy' | 'emulated'
    xp = numpy           # array module holding the data
    ops = None           # numpy_ops or cupy_ops package


_state = _State()


def _cupy_probe():
    """Return (cupy_module, None) when CuPy can run, else (None, reason)."""
    try:
        cupy = importlib.import_module("cupy")
    except Exception as e:  # ImportError, or a broken CUDA library
        return None, f"CuPy could not be imported ({type(e).__name__}: {e})"
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return None, f"CuPy found no usable CUDA device ({type(e).__name__}: {e})"
    if n < 1:
        return None, "CuPy imported but reports 0 CUDA devices"
    return cupy, None


def cupy_available():
    """True when CuPy imports and sees at least one CUDA device."""
    return _cupy_probe()[0] is not None


def set_backend(name):
    """Activate a backend by name ('auto', 'numpy', 'cupy' or 'emulated').

    Models keep the arrays they were built with: choose the backend before
    building a model (the ``GPUSEQ_BACKEND`` variable does this at import).
    """
    if not isinstance(name, str) or name.lower() not in _VALID:
        raise ValueError(
            f"Unknown backend. Expected one of {', '.join(_VALID)}. Received: backend={name!r}")
    name = name.lower()
    if name == "auto":
        cupy, _ = _cupy_probe()
        name = "cupy" if cupy is not None else "numpy"
    if name == "cupy":
        cupy, reason = _cupy_probe()
        if cupy is None:
            raise BackendUnavailableError(
                f"The 'cupy' backend was requested but cannot run: {reason}. Install CuPy for "
                "your CUDA version (pip install 'gpuseq[gpu]' or 'gpuseq[gpu-cuda13]') on a "
                "machine with an NVIDIA GPU, or set GPUSEQ_BACKEND=numpy.")
        _state.xp = cupy
        _state.ops = importlib.import_module("gpuseq.backend.cupy_ops")
    elif name == "emulated":
        import shutil
        cxx = os.environ.get("CXX", "g++")
        if shutil.which(cxx) is None:
            raise BackendUnavailableError(
                f"The 'emulated' backend compiles kernels/*.cu with a C++ compiler, but "
                f"{cxx!r} was not found on PATH. Install g++ (or set CXX), or set "
                "GPUSEQ_BACKEND=numpy.")
        _state.xp = numpy
        _state.ops = importlib.import_module("gpuseq.backend.cupy_ops")
    else:
        _state.xp = numpy
        _state.ops = importlib.import_module("gpuseq.backend.numpy_ops")
    _state.name = name
    if name == "cupy":
        device_settings.push_to_cupy()
    return name


def backend():
    """Name of the active backend: 'numpy', 'cupy' or 'emulated'."""
    if _state.name is None:
        set_backend(os.environ.get("GPUSEQ_BACKEND", "auto"))
    return _state.name


def xp():
    """The array module of the active backend (numpy or cupy)."""
    if _state.name is None:
        backend()
    return _state.xp


def ops():
    """The op package of the active backend (numpy_ops or cupy_ops)."""
    if _state.name is None:
        backend()
    return _state.ops


def is_gpu():
    return backend() == "cupy"


@contextlib.contextmanager
def use_backend(name):
    """Temporarily activate another backend (used by the tests)."""
    prev = backend()
    set_backend(name)
    try:
        yield _state.name
    finally:
        set_backend(prev)


def get_array_module(*arrays):
    """numpy or cupy, whichever holds the given arrays (numpy for host data)."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            return importlib.import_module("cupy")
    return numpy


def to_device(x, dtype=None):
    """Copy host data to the active backend's device (no copy when already there)."""
    m = xp()
    if dtype is not None:
        return m.asarray(x, dtype=dtype)
    return m.asarray(x)


def to_host(x):
    """A NumPy array (or Python scalar unchanged) from device or host data."""
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if isinstance(x, (int, float)):
        return x
    return numpy.asarray(x)
