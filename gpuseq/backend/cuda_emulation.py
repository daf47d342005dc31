"""Run CUDA kernels on the CPU: g++ compiles the ``.cu`` source with a shim header.

``kernels/emulation/cuda_emulation.h`` makes the CUDA subset the kernels use
(qualifiers, ``threadIdx``/``blockIdx``/..., ``__syncthreads`` with one
cooperative fiber per thread, static ``__shared__`` arrays, the math functions,
atomics) plain C++. For a ``.cu`` file and its name expressions this module
writes a small trampoline translation unit::

    #include "cuda_emulation.h"
    #include "activations.cu"
    GPUSEQ_EMU_EXPORT(0, activation_forward<float>)
    ...

which exports, per name expression, ``gpuseq_emu_launch_<i>(grid, block, void** args,
err, errlen)`` (the shape of ``cuLaunchKernel``: one pointer per argument value)
and ``gpuseq_emu_signature_<i>()`` (the parameter types as the compiler sees
them), builds it into a shared library and loads it with ctypes.

The library is cached by a hash of everything that goes into it (the source,
the headers, the name expressions, the compiler and its flags) in
``$GPUSEQ_CACHE_DIR/emulation`` (default ``~/.cache/gpuseq``, else the system
temp folder). A build writes a private temporary file and renames it into
place, so concurrent processes never see a partial library.

:func:`load_module` returns an :class:`EmulatedModule`; its
:meth:`~EmulatedModule.get_function` gives an :class:`EmulatedFunction`
callable as ``f(grid, block, args)`` like a ``cupy.RawKernel``. It checks every
argument against the compiled parameter list (pointer parameters take
C-contiguous NumPy arrays of the exact element type, writeable unless const;
scalar parameters take NumPy scalars of the exact type) and raises
:class:`EmulatedLaunchError` when the kernel misbehaves (a barrier reached by
only part of a block, ``__trap()``, a grid or block outside the CUDA limits).

Thread order: between two barriers the threads of a block run one after the
other, by default in ascending thread index. A missing ``__syncthreads()``
between a write by one thread and a read by another then goes unnoticed when
the writer happens to come first. :func:`set_thread_order` (or the environment
variable ``GPUSEQ_EMU_THREAD_ORDER`` = ``forward`` | ``reverse`` |
``shuffle`` | ``shuffle:SEED``, read at import) selects another order:
descending, or a seeded shuffle drawn afresh for every block, barrier phase
and launch. Running a kernel's tests under ``reverse`` and ``shuffle`` is a
cheap race detector; :func:`thread_order` sets the order for a ``with`` block.
The order also decides when an asynchronous copy (``cp.async``, see
``kernels/async_copy.cuh``) lands: at the thread's wait in the ascending order, at
once in the others, so that both a missing wait and a stage refilled too early
show in some order.
"""
import contextlib
import ctypes
import hashlib
import os
import pathlib
import re
import tempfile
import threading

import numpy

from . import cxx_build, kernel_paths

_SHIM_DIR = "emulation"
_SHIM = "cuda_emulation.h"
_CXX_FLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-U_FORTIFY_SOURCE",
              "-fno-strict-aliasing", "-Wall", "-Wno-unknown-pragmas", "-Wno-unused-function",
              "-Wno-unused-variable")
_NAME_EXPRESSION = re.compile(r"^[A-Za-z_]\w*(<[\w\s,:*]+>)?$")
_ERRLEN = 1024

_CTYPES = {
    "float32": ctypes.c_float, "float64": ctypes.c_double, "int64": ctypes.c_int64,
    "int32": ctypes.c_int32, "uint32": ctypes.c_uint32, "uint64": ctypes.c_uint64,
    "uint8": ctypes.c_uint8, "bool": ctypes.c_bool,
}


THREAD_ORDERS = ("forward", "reverse", "shuffle")

_order_state = threading.local()


def _parse_order(text):
    """'forward' | 'reverse' | 'shuffle' | 'shuffle:SEED' -> (mode, seed)."""
    mode, _, seed = str(text).strip().lower().partition(":")
    if mode not in THREAD_ORDERS:
        raise ValueError(
            f"Unknown emulated thread order. Expected one of {THREAD_ORDERS} (optionally "
            f"'shuffle:SEED'). Received: {text!r}")
    try:
        seed = int(seed) if seed else 0
    except ValueError:
        raise ValueError(f"The seed of a shuffled thread order must be an integer, e.g. "
                         f"'shuffle:7'. Received: {text!r}") from None
    return mode, seed


_default_order = _parse_order(os.environ.get("GPUSEQ_EMU_THREAD_ORDER", "forward"))


def get_thread_order():
    """The (mode, seed) of the emulated thread order on the calling thread."""
    return getattr(_order_state, "order", _default_order)


def set_thread_order(mode, seed=0):
    """Select the order of the threads of a block between barriers, for later launches
    from the calling Python thread.

    Args:
        mode: 'forward' (ascending thread index, the default), 'reverse'
            (descending) or 'shuffle' (a permutation drawn from ``seed``, the block
            index, the barrier phase and a launch counter).
        seed: integer seed of 'shuffle'.
    """
    mode, _ = _parse_order(mode)
    _order_state.order = (mode, int(seed))
    _order_state.launches = 0


@contextlib.contextmanager
def thread_order(mode, seed=0):
    """``with thread_order('reverse'): ...`` runs the launches inside in that order."""
    old = get_thread_order()
    old_count = getattr(_order_state, "launches", 0)
    set_thread_order(mode, seed)
    try:
        yield
    finally:
        _order_state.order = old
        _order_state.launches = old_count


def _next_order():
    """(mode code, seed) for the next launch; a shuffle changes with every launch."""
    mode, seed = get_thread_order()
    n = getattr(_order_state, "launches", 0)
    _order_state.launches = n + 1
    code = THREAD_ORDERS.index(mode)
    return code, ((seed * 1000003 + n) & 0xFFFFFFFFFFFFFFFF) if code == 2 else 0


class EmulationBuildError(RuntimeError):
    """g++ could not build a kernel source with the emulation shim."""


class EmulatedLaunchError(RuntimeError):
    """A kernel broke a CUDA rule while running under the emulation."""


def compiler():
    """The C++ compiler the emulation uses: ``$CXX`` or ``g++``; None when absent."""
    return cxx_build.compiler()


def available():
    """True when a C++ compiler for the emulation is on PATH."""
    return compiler() is not None


def cache_dir():
    """Folder of the compiled emulation libraries (``kernel_paths.cache_dir('emulation')``)."""
    try:
        return kernel_paths.cache_dir("emulation")
    except OSError as e:
        raise EmulationBuildError(str(e)) from None


def _trampoline(source_name, name_expressions):
    lines = ['#include "cuda_emulation.h"', '#include "' + source_name + '"']
    for i, expr in enumerate(name_expressions):
        lines.append("GPUSEQ_EMU_EXPORT(" + str(i) + ", " + expr + ")")
    return "\n".join(lines) + "\n"


def _digest(source_path, include_dirs, name_expressions, cxx):
    h = hashlib.sha256()
    h.update(pathlib.Path(source_path).read_bytes())
    for d in include_dirs:
        for p in sorted(pathlib.Path(d).glob("*.cuh")) + sorted(pathlib.Path(d).glob("*.h")):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update("\0".join(name_expressions).encode())
    h.update(" ".join(_CXX_FLAGS).encode())
    h.update(cxx_build.compiler_version(cxx).encode())
    return h.hexdigest()[:24]


def build_library(source_path, name_expressions, include_dirs=()):
    """Compile ``source_path`` + the shim into a cached shared library; return its path.

    Args:
        source_path: a ``.cu`` file.
        name_expressions: e.g. ``['relu<float>', 'relu<double>']``; entry point i
            of the library launches name_expressions[i].
        include_dirs: extra include folders (the folder of the source and of the
            shim are always searched).
    Raises:
        EmulationBuildError: no compiler, or the source does not compile.
    """
    cxx = compiler()
    if cxx is None:
        raise EmulationBuildError(
            "The CUDA emulation needs a C++17 compiler: install g++ (apt-get install g++) or "
            f"set CXX. Received: CXX={os.environ.get('CXX', 'g++')!r} not found on PATH")
    source_path = pathlib.Path(source_path).resolve()
    for expr in name_expressions:
        if not _NAME_EXPRESSION.match(expr):
            raise ValueError(
                "A name expression must be a kernel name with optional template arguments, "
                f"e.g. 'relu<float>'. Received: {expr!r}")
    shim_dir = kernel_paths.kernels_dir() / _SHIM_DIR
    dirs = [source_path.parent, shim_dir] + [pathlib.Path(d) for d in include_dirs]
    key = _digest(source_path, dirs, name_expressions, cxx)
    out = cache_dir() / f"{source_path.stem}-{key}.so"
    if out.is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="gpuseq-emu-") as tmp:
        tu = pathlib.Path(tmp) / (source_path.stem + "_emulation.cpp")
        tu.write_text(_trampoline(source_path.name, name_expressions))
        failed = cxx_build.compile_library(
            cxx, [*_CXX_FLAGS, *("-I" + str(d) for d in dirs), str(tu)], out)
    if failed is not None:
        code, cmd, log = failed
        raise EmulationBuildError(
            f"The CUDA emulation could not compile {source_path.name} (g++ exit "
            f"{code}). Fix the kernel source; it must stay inside the CUDA subset "
            f"that kernels/README.md lists.\nCommand: {cmd}\n{log}")
    return out


class EmulatedFunction:
    """One name expression of an :class:`EmulatedModule`; call as ``f(grid, block, args)``."""

    def __init__(self, module, index, name_expression):
        self.module = module
        self.name_expression = name_expression
        self._launch = getattr(module._lib, f"gpuseq_emu_launch_{index}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                 ctypes.c_size_t]
        sig = getattr(module._lib, f"gpuseq_emu_signature_{index}")
        sig.restype = ctypes.c_char_p
        self.signature = sig().decode()
        self.params = tuple(_parse_param(s) for s in self.signature.split(",") if s)

    def __repr__(self):
        return f"<EmulatedFunction {self.name_expression}({self.signature})>"

    def _marshal(self, i, param, a):
        const, dtype, pointer = param
        where = f"argument {i} of {self.name_expression} ({self.signature.split(',')[i]})"
        if pointer:
            if not isinstance(a, numpy.ndarray):
                raise TypeError(f"The {where} must be a numpy.ndarray under the CUDA emulation. "
                                f"Received: type={type(a).__name__}")
            if a.dtype.name != dtype:
                raise TypeError(f"The {where} must have dtype {dtype}. Received: "
                                f"dtype={a.dtype.name}")
            if not a.flags.c_contiguous:
                raise ValueError(f"The {where} must be C-contiguous. Received: "
                                 f"strides={a.strides}")
            if not const and not a.flags.writeable:
                raise ValueError(f"The {where} is written by the kernel but is read-only.")
            return ctypes.c_void_p(a.ctypes.data)
        if not isinstance(a, numpy.generic) or a.dtype.name != dtype:
            raise TypeError(
                f"The {where} must be a numpy.{dtype} scalar (the GPU would misread any other "
                f"type). Received: {type(a).__module__}.{type(a).__name__}({a!r})")
        return _CTYPES[dtype](a.item())

    def __call__(self, grid, block, args, shared_mem=0):
        if shared_mem:
            raise NotImplementedError(
                "The CUDA emulation supports static __shared__ arrays only, not dynamic shared "
                f"memory. Received: shared_mem={shared_mem}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name_expression} takes {len(self.params)} arguments "
                            f"({self.signature}). Received: {len(args)}")
        values = [self._marshal(i, p, a) for i, (p, a) in enumerate(zip(self.params, args))]
        ptrs = (ctypes.c_void_p * max(1, len(values)))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        g = (ctypes.c_uint * 3)(*_dim3(grid))
        b = (ctypes.c_uint * 3)(*_dim3(block))
        err = ctypes.create_string_buffer(_ERRLEN)
        self.module._set_order(*_next_order())
        rc = self._launch(g, b, ptrs, err, _ERRLEN)
        if rc != 0:
            raise EmulatedLaunchError(
                f"{self.name_expression} failed under the CUDA emulation "
                f"(grid={tuple(g)}, block={tuple(b)}): {err.value.decode(errors='replace')}")


def _dim3(v):
    v = (v,) if isinstance(v, (int, numpy.integer)) else tuple(v)
    return tuple(int(x) for x in v) + (1,) * (3 - len(v))


def _parse_param(text):
    text = text.strip()
    const = text.startswith("const ")
    if const:
        text = text[len("const "):]
    pointer = text.endswith("*")
    return const, text.rstrip("*"), pointer


class EmulatedModule:
    """A compiled ``.cu`` file: the CPU counterpart of ``cupy.RawModule``."""

    def __init__(self, path, name_expressions):
        self.path = pathlib.Path(path)
        self.name_expressions = list(name_expressions)
        self._lib = ctypes.CDLL(str(self.path))
        self._set_order = self._lib.gpuseq_emu_set_thread_order
        self._set_order.restype = None
        self._set_order.argtypes = [ctypes.c_int, ctypes.c_ulonglong]
        self._functions = {}

    def get_function(self, name_expression):
        f = self._functions.get(name_expression)
        if f is None:
            if name_expression not in self.name_expressions:
                raise KeyError(
                    f"{name_expression!r} is not a name expression of this module. Expected one "
                    f"of {self.name_expressions}")
            f = EmulatedFunction(self, self.name_expressions.index(name_expression),
                                 name_expression)
            self._functions[name_expression] = f
        return f


_loaded = {}
_lock = threading.Lock()


def load_module(source_path, name_expressions, include_dirs=()):
    """Build (or reuse) and load the emulation library of a ``.cu`` file.

    Returns an :class:`EmulatedModule` whose ``get_function(name_expression)``
    mirrors ``cupy.RawModule.get_function``.
    """
    with _lock:
        path = build_library(source_path, list(name_expressions), include_dirs)
        mod = _loaded.get(path)
        if mod is None:
            mod = _loaded[path] = EmulatedModule(path, name_expressions)
        return mod
