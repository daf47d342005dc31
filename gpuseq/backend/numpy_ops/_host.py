"""Host kernels: the fused per-step loops of NumPy ops, compiled for this CPU.

Some NumPy ops spend their time in many small ufunc calls per step (an LSTM time step
is a dozen passes over arrays of a few thousand elements, each costing more in call
overhead than in arithmetic; an optimizer update is eight passes over a weight), or in
copies around their GEMMs (a Conv1D's column matrix, bias, activation and padding
passes). For those gpuseq ships plain C++ loops in ``kernels/host/*.cpp``: the LSTM
time loop, Conv1D and Conv2D as implicit GEMMs, 1-D and global pooling, the optimizer
updates (each file opens with a contract header naming the NumPy code it replaces). The first
op that wants one compiles the file with the machine's C++ compiler (``$CXX`` or
``g++``, ``-O3`` for the running CPU) into a cached shared library
(``kernel_paths.cache_dir('host')``) and calls it through ctypes. All libraries share
one pool of worker threads (host_threads.h).

The NumPy code path stays complete: without a compiler, when a build fails (a warning
says why, once), or with ``GPUSEQ_HOST_KERNELS=0`` in the environment, the ops run
their ufunc and BLAS code instead. Both paths give the same values up to float32 rounding
(the host float32 exp and tanh are polynomial approximations within a few ulp);
float64 calls the C library's exp and tanh.

Use ``library(name)`` to get a loaded :class:`HostLibrary` (or None), and
``use(False)`` (a context manager, or a plain call) to switch the host kernels off, for
example to compare both paths in a test.
"""
import ctypes
import hashlib
import os
import pathlib
import platform
import threading
import warnings

import numpy as np

from .. import cxx_build, kernel_paths

_BASE_FLAGS = ("-std=c++17", "-O3", "-fPIC", "-shared", "-pthread", "-ffp-contract=fast",
               "-fno-math-errno", "-fno-trapping-math", "-Wall")
# Tried first: code for the running CPU, 256-bit vectors where the tuning would pick
# 128-bit ones; dropped when the compiler refuses them.
_CPU_FLAGS = ("-march=native", "-mprefer-vector-width=256")

_P = ctypes.c_void_p
_I = ctypes.c_longlong
_D = ctypes.c_double

# name -> {exported function: argument ctypes}; every function returns int (0 = done)
SIGNATURES = {
    "lstm_cell": {
        "gs_lstm_forward_sequence": (_P,) * 9 + (_I,) * 6,
        "gs_lstm_backward_sequence": (_P,) * 11 + (_I,) * 6,
    },
    "conv1d": {
        "gs_conv1d_forward": (_P,) * 4 + (_I,) * 10,
        "gs_conv1d_backward": (_P,) * 8 + (_I,) * 14,
    },
    "conv2d": {
        "gs_conv2d_forward": (_P,) * 4 + (_I,) * 15,
        "gs_conv2d_backward": (_P,) * 8 + (_I,) * 23,
    },
    "pooling": {
        "gs_pool1d_forward": (_P,) * 2 + (_I,) * 9,
        "gs_pool1d_backward": (_P,) * 4 + (_I,) * 9,
        "gs_global_pool_forward": (_P,) * 3 + (_I,) * 5,
        "gs_global_pool_backward": (_P,) * 3 + (_I,) * 5,
    },
    "optimizers": {
        "gs_sgd_update": (_P,) * 3 + (_I, _D, _D, _I, _I),
        "gs_rmsprop_update": (_P,) * 3 + (_I, _D, _D, _D, _I),
        "gs_adagrad_update": (_P,) * 3 + (_I, _D, _D, _I),
        "gs_adam_update": (_P,) * 5 + (_I, _D, _D, _D, _D, _I),
    },
}

_DTYPE_SUFFIX = {"float32": "_f32", "float64": "_f64"}

_state = {"enabled": os.environ.get("GPUSEQ_HOST_KERNELS", "1").strip() not in ("0", "false",
                                                                                "no", "off")}
_loaded = {}
_failed = {}
_lock = threading.Lock()


class HostLibrary:
    """A compiled ``kernels/host/<name>.cpp``; ``function(name, dtype)`` gives the typed
    ctypes entry point (e.g. ``gs_lstm_forward_step`` for float32 arrays)."""

    def __init__(self, name, path):
        self.name = name
        self.path = pathlib.Path(path)
        self._lib = ctypes.CDLL(str(self.path))
        self._functions = {}
        self._by_dtype = {}
        for fname, argtypes in SIGNATURES[name].items():
            for dtype, suffix in _DTYPE_SUFFIX.items():
                f = getattr(self._lib, fname + suffix)
                f.restype = ctypes.c_int
                f.argtypes = list(argtypes)
                self._functions[(fname, dtype)] = f

    def function(self, fname, dtype):
        """The entry point of ``fname`` for arrays of ``dtype`` (float32 or float64)."""
        try:
            return self._functions[(fname, str(dtype))]
        except KeyError:
            raise KeyError(f"{self.name} has no {fname} for dtype {dtype}. Expected one of "
                           f"{sorted(set(self._functions))}") from None

    def entry_points(self, dtype_name, prefix):
        """Every entry point for ``dtype_name`` ('float32' or 'float64') as an
        :class:`EntryPoints`, keyed by the function name without ``prefix``."""
        key = (dtype_name, prefix)
        eps = self._by_dtype.get(key)
        if eps is None:
            eps = EntryPoints({fname[len(prefix):] if fname.startswith(prefix) else fname:
                               self._functions[(fname, dtype_name)]
                               for fname in SIGNATURES[self.name]})
            eps.dtype = np.dtype(dtype_name)
            self._by_dtype[key] = eps
        return eps


class EntryPoints(dict):
    """A host library's functions for one dtype (``.dtype``), by short name."""

    dtype = None


_FLOAT_NAMES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


def float_name(dtype):
    """'float32' or 'float64' for those dtypes (the host kernels' two), else None."""
    name = _FLOAT_NAMES.get(dtype)
    if name is None and not isinstance(dtype, np.dtype):
        try:
            name = _FLOAT_NAMES.get(np.dtype(dtype))
        except TypeError:
            return None
    return name


def functions(name, dtype, prefix="gs_"):
    """The entry points of host library ``name`` for arrays of ``dtype`` (an
    :class:`EntryPoints` keyed by function name without ``prefix``), or None when the
    host kernels are off or cannot be built here, or the dtype is not float32/float64
    (the op then runs its NumPy code)."""
    dname = float_name(dtype)
    if dname is None:
        return None
    lib = library(name)
    return None if lib is None else lib.entry_points(dname, prefix)


def enabled():
    """True unless the host kernels were switched off (``use(False)`` or the environment)."""
    return _state["enabled"]


class use:
    """Switch the host kernels on or off: ``use(False)`` for the rest of the process, or
    ``with use(False): ...`` for a block."""

    def __init__(self, flag):
        self._old = _state["enabled"]
        _state["enabled"] = bool(flag)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._old


def _cpu_identity():
    """What -march=native depends on (part of the cache key)."""
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
        keep = [ln for ln in text.splitlines()
                if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "\n".join(dict.fromkeys(keep))
    except OSError:
        return platform.machine() + " " + platform.processor()


def _source(name):
    return kernel_paths.kernels_dir() / "host" / f"{name}.cpp"


def _build(name):
    """Compile kernels/host/<name>.cpp (cached); return the library path."""
    cxx = cxx_build.compiler()
    if cxx is None:
        raise FileNotFoundError("no C++ compiler ($CXX or g++) on PATH")
    src = _source(name)
    h = hashlib.sha256(src.read_bytes())
    for p in sorted(src.parent.glob("*.h")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(cxx_build.compiler_version(cxx).encode())
    h.update(_cpu_identity().encode())
    h.update(" ".join(_BASE_FLAGS + _CPU_FLAGS).encode())
    out = kernel_paths.cache_dir("host") / f"{name}-{h.hexdigest()[:24]}.so"
    if out.is_file():
        return out
    failed = None
    for flags in (_BASE_FLAGS + _CPU_FLAGS, _BASE_FLAGS):
        failed = cxx_build.compile_library(cxx, [*flags, "-I" + str(src.parent), str(src)], out)
        if failed is None:
            return out
    code, cmd, log = failed
    raise RuntimeError(f"{cmd} exited with {code}:\n{log}")


def library(name):
    """The loaded host library ``name`` (compiled on first use), or None when the host
    kernels are off or cannot be built here (the op then runs its NumPy ufuncs)."""
    if not _state["enabled"]:
        return None
    lib = _loaded.get(name)
    if lib is not None or name in _failed:
        return lib
    with _lock:
        if name in _loaded or name in _failed:
            return _loaded.get(name)
        try:
            _loaded[name] = HostLibrary(name, _build(name))
        except FileNotFoundError as e:
            _failed[name] = str(e)             # no compiler: the NumPy path, silently
        except Exception as e:  # a failed build or load must never stop training
            _failed[name] = str(e)
            warnings.warn(
                f"gpuseq could not build its host kernels {name}.cpp, so the NumPy ops run "
                f"without them (slower, same results). Set GPUSEQ_HOST_KERNELS=0 to silence "
                f"this. Reason: {e}", RuntimeWarning, stacklevel=3)
        return _loaded.get(name)


def _usable_cores():
    """CPU cores this process may run on (read once per process)."""
    pid = os.getpid()
    if _cores.get("pid") != pid:
        try:
            n = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            n = os.cpu_count() or 1
        _cores.update(pid=pid, n=n)
    return _cores["n"]


_cores = {}


def row_threads(rows, macs):
    """How many threads a host kernel that splits ``rows`` independent rows should use:
    one for less than 2^20 multiply-adds of work (a thread start costs more than it
    saves), else up to the usable cores (at most 4), with at least 8 rows each. Rows
    never read each other's data, so results do not depend on this number."""
    if macs < (1 << 20):
        return 1
    return max(1, min(_usable_cores(), 4, rows // 8))


def elementwise_threads(n):
    """Threads for a host kernel making one pass over ``n`` elements: always one.

    A second thread would halve a long pass on an idle machine, but these passes (the
    optimizer updates) run right after the weight gradients, whose large GEMMs leave
    NumPy's OpenBLAS threads spinning for a while: measured on two cores, the RMSprop
    updates of an Embedding + LSTM step took 5.4 ms on two threads, 0.7 ms on one
    (1.5 ms as NumPy ufuncs). One thread is never far from the best and never slow."""
    return 1


def pointer(a):
    """Address of a C-contiguous array's data (for the ctypes calls); None for None (a
    null pointer, for the kernels' optional arrays).

    Through the buffer protocol (about 1 us) where the array is writable and not empty,
    else through ``a.ctypes`` (about 3 us)."""
    if a is None:
        return None
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data
