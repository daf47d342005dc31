"""Find, compile and launch the CUDA kernels of ``kernels/*.cu``.

The whole API an op module needs::

    from gpuseq.backend import kernel_loader as kl

    k = kl.get_kernel("activations", "activation_forward", x.dtype)
    if n:
        kl.launch(k, kl.grid_1d(n), kl.BLOCK_1D, (x, y, n, kind))

* :func:`get_kernel` (source file stem, kernel name, dtype, template arguments)
  -> :class:`Kernel`. Each ``.cu`` file is one module, compiled lazily on first
  use, with every instance its ``@kernels:`` lines list: a bare name stands for
  ``float`` and ``double`` (name expressions ``"activation_forward<float>"``,
  ...); a name with template arguments lists its variants, ``|`` separating the
  choices of one argument (``conv_igemm_forward<float, 32|64, false|true>``
  is four instances), and ``get_kernel(source, name, dtype, 64, True)`` picks
  ``conv_igemm_forward<float, 64, true>``.
* :func:`launch` (kernel, grid, block, args) checks the launch configuration
  against the CUDA limits and every argument against the kernel's C++
  parameter list (read from the source): arrays must live on the active
  backend's device, have the parameter's dtype and be C-contiguous (and
  writeable where the parameter is not const); Python scalars are converted to
  the parameter's type (``numpy.float32``/``numpy.float64`` for ``T``,
  ``numpy.int64`` for ``long long``); NumPy scalars must already have it.
  RawKernel itself checks none of this: it ignores strides and passes a
  Python float as a double whatever the kernel expects.
* :func:`grid_1d` and :func:`row_block` give the launch shapes of grid-stride
  and one-block-per-row kernels.

Backends: under 'cupy' a kernel runs through ``cupy.RawModule`` (NVRTC);
under 'emulated' the same source, the same checks and the same arguments run
on the CPU through :mod:`gpuseq.backend.cuda_emulation` (g++), on NumPy arrays.

Kernel source rules (see kernels/README.md): each listed kernel is declared
``template <typename T[, more template parameters]> __global__ void name(params)``
with parameters among
``T``, ``long long``, ``int``, ``unsigned int``, ``bool``, ``float``,
``double`` and pointers to them (optionally ``const`` / ``__restrict__``).
"""
import hashlib
import importlib
import itertools
import re
import sys
import threading
from dataclasses import dataclass

import numpy

from . import cuda_emulation, dispatch
from .kernel_paths import cache_dir, kernels_dir  # noqa: F401  (part of this module's API)

BLOCK_1D = 256          # threads per block of the 1-D grid-stride kernels
MAX_BLOCKS_1D = 65535   # cap of grid_1d: grid-stride loops cover the rest
MAX_ROW_BLOCK = 256     # GS_MAX_ROW_BLOCK in kernels/gpuseq_common.cuh

# numpy dtype of T -> the C++ type in the name expression
KERNEL_DTYPES = {numpy.dtype(numpy.float32): "float", numpy.dtype(numpy.float64): "double"}

# C++ parameter types the loader understands -> numpy dtype ('T' is the template type)
_CPP_TYPES = {
    "T": "T",
    "float": numpy.dtype(numpy.float32),
    "double": numpy.dtype(numpy.float64),
    "long long": numpy.dtype(numpy.int64),
    "long long int": numpy.dtype(numpy.int64),
    "int": numpy.dtype(numpy.int32),
    "unsigned int": numpy.dtype(numpy.uint32),
    "unsigned": numpy.dtype(numpy.uint32),
    "unsigned long long": numpy.dtype(numpy.uint64),
    "unsigned char": numpy.dtype(numpy.uint8),
    "bool": numpy.dtype(numpy.bool_),
}

# CUDA launch limits (compute capability >= 5.0)
_MAX_THREADS = 1024
_MAX_BLOCK = (1024, 1024, 64)
_MAX_GRID = (2 ** 31 - 1, 65535, 65535)


class KernelNotFoundError(LookupError):
    """A kernel source or a kernel name that does not exist."""

    def __str__(self):  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class KernelSourceError(ValueError):
    """A kernel source the loader cannot read (a listed kernel not declared as expected)."""


@dataclass(frozen=True)
class Param:
    """One kernel parameter: its name, element dtype, and whether it is a (const) pointer."""
    name: str
    dtype: numpy.dtype
    pointer: bool
    const: bool = False

    def ctype(self):
        """The C++ spelling, e.g. ``const float*``."""
        base = {v: k for k, v in reversed(list(_CPP_TYPES.items())) if k != "T"}[self.dtype]
        if not self.pointer:
            return base
        return ("const " if self.const else "") + base + "*"


# ---------------------------------------------------------------------------
# Finding the sources
# ---------------------------------------------------------------------------

def sources():
    """Stems of every kernel source, e.g. ``['activations', 'optimizers', ...]``."""
    return sorted(p.stem for p in kernels_dir().glob("*.cu"))


def source_path(source):
    """Path of ``kernels/<source>.cu``; :class:`KernelNotFoundError` if it does not exist."""
    path = kernels_dir() / (source + ".cu")
    if not isinstance(source, str) or not path.is_file():
        raise KernelNotFoundError(
            f"Unknown kernel source. Expected one of {sources()} (the .cu files in "
            f"{kernels_dir()}). Received: source={source!r}")
    return path


def headers_digest():
    """Hash of the shared headers (``*.cuh``): part of every compile cache key."""
    h = hashlib.sha256()
    for p in sorted(kernels_dir().glob("*.cuh")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def compile_options():
    """NVRTC options the modules are built with (CuPy appends ``-ftz=true`` and the arch).

    The header digest define only changes CuPy's cache key when a ``.cuh`` changes
    (CuPy hashes the source text and the options, not included files).
    """
    return ("-std=c++17", "--include-path=" + str(kernels_dir()),
            "-DGPUSEQ_HEADERS_DIGEST=0x" + headers_digest())


# ---------------------------------------------------------------------------
# Reading the kernel list and the parameter lists from the source
# ---------------------------------------------------------------------------

_KERNELS_LINE = re.compile(r"@kernels:([^\n]*)")
_KERNEL_ENTRY = re.compile(r"([A-Za-z_]\w*)\s*(?:<([^<>]*)>)?")
_TEMPLATE_ARG = re.compile(r"^[A-Za-z0-9_]+$")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_LAUNCH_BOUNDS = re.compile(r"__launch_bounds__\s*\([^)]*\)")


def _expand_entry(name, args):
    """The template argument tuples of one ``@kernels:`` entry.

    ``name`` alone -> ``(('float',), ('double',))``; ``name<float|double, 32|64>``
    -> the product of the choices, ``(('float', '32'), ('float', '64'), ...)``.
    """
    if args is None:
        return tuple((t,) for t in KERNEL_DTYPES.values())
    choices = []
    for position in args.split(","):
        options = tuple(o.strip() for o in position.split("|"))
        if not all(_TEMPLATE_ARG.match(o) for o in options):
            raise KernelSourceError(
                f"Kernel '{name}': cannot read the template arguments `<{args}>` on its "
                "@kernels: line. Expected comma-separated positions, each one value or "
                "several separated by `|` (identifiers or integers), e.g. "
                "`name<float|double, 32|64, false>`.")
        choices.append(options)
    if not set(choices[0]) <= set(KERNEL_DTYPES.values()):
        raise KernelSourceError(
            f"Kernel '{name}': the first template argument is the element type and must be "
            f"float or double. Received: <{args}>")
    return tuple(itertools.product(*choices))


def kernel_instances_in(text):
    """{kernel name: (template argument tuple, ...)} from the ``@kernels:`` lines, in order.

    A name listed more than once (e.g. once per element type) collects every listed
    instance.
    """
    out = {}
    for line in _KERNELS_LINE.findall(text):
        for name, args in _KERNEL_ENTRY.findall(line):
            instances = out.setdefault(name, [])
            for inst in _expand_entry(name, args or None):
                if inst not in instances:
                    instances.append(inst)
    return {name: tuple(insts) for name, insts in out.items()}


def kernel_names_in(text):
    """Kernel names listed on the ``@kernels:`` lines of a source text."""
    return tuple(kernel_instances_in(text))


def name_expression(name, template_args):
    """``'conv_igemm_forward<float, 32, false>'`` from a name and its template arguments."""
    return f"{name}<{', '.join(template_args)}>"


def name_expressions_in(text):
    """Every name expression of a source text's ``@kernels:`` lines, checked against the
    declarations (one template argument per template parameter)."""
    decls = _declarations(text)
    out = []
    for name, instances in kernel_instances_in(text).items():
        arity = decls[name][0]
        for inst in instances:
            if len(inst) != arity:
                raise KernelSourceError(
                    f"Kernel '{name}' is declared with {arity} template parameter(s) but its "
                    f"@kernels: line instantiates it as <{', '.join(inst)}>. Give one value "
                    "per template parameter (the element type first).")
            out.append(name_expression(name, inst))
    return out


def _parse_param(kernel, text):
    words = text.replace("*", " * ").split()
    words = [w for w in words if w not in ("__restrict__", "__restrict", "volatile")]
    const = "const" in words
    words = [w for w in words if w != "const"]
    stars = words.count("*")
    words = [w for w in words if w != "*"]
    if len(words) < 2 or stars > 1:
        raise KernelSourceError(
            f"Kernel '{kernel}': cannot read the parameter `{text.strip()}`. Expected "
            "`[const] TYPE [*] [__restrict__] NAME` with TYPE one of "
            f"{sorted(_CPP_TYPES)}.")
    name, base = words[-1], " ".join(words[:-1])
    if base not in _CPP_TYPES:
        raise KernelSourceError(
            f"Kernel '{kernel}': parameter `{name}` has the type `{base}`, which the launcher "
            f"cannot check. Use one of {sorted(_CPP_TYPES)} or a pointer to one.")
    return name, _CPP_TYPES[base], stars == 1, const and stars == 1


def _declarations(text):
    """{kernel name: (number of template parameters, parameter tuple)} for every listed kernel."""
    names = kernel_names_in(text)
    code = _LAUNCH_BOUNDS.sub(" ", _COMMENTS.sub(" ", text))
    out = {}
    for name in names:
        pat = re.compile(r"template\s*<\s*typename\s+T\s*((?:,[^<>]*)?)>\s*__global__\s+void\s+"
                         + re.escape(name) + r"\s*\(([^)]*)\)")
        found = pat.findall(code)
        if len(found) != 1:
            raise KernelSourceError(
                f"Kernel '{name}' is listed on an @kernels: line but "
                f"{'no' if not found else 'more than one'} declaration "
                f"`template <typename T[, ...]> __global__ void {name}(...)` was found. "
                "Declare it exactly once, or remove it from the @kernels: list.")
        more, params = found[0][0].strip(), found[0][1].strip()
        arity = 1 + (len(more.split(",")) - 1 if more else 0)
        out[name] = (arity, tuple(_parse_param(name, p) for p in params.split(","))
                     if params else ())
    return out


def parse_signatures(text):
    """{kernel name: ((name, dtype or 'T', pointer, const), ...)} for every listed kernel."""
    return {name: params for name, (_, params) in _declarations(text).items()}


# ---------------------------------------------------------------------------
# Kernels and modules
# ---------------------------------------------------------------------------

class Kernel:
    """One instantiated kernel: ``source``/``name`` for ``dtype`` (and further template
    arguments).

    Attributes: ``name_expression`` (``'activation_forward<float>'``,
    ``'conv_igemm_forward<float, 64, true>'``), ``template_args`` (the arguments after
    the element type, as strings), ``params`` (tuple of :class:`Param`). Call it like
    :func:`launch`: ``k(grid, block, args)``.
    """

    def __init__(self, source, name, dtype, raw_params, template_args=()):
        self.source = source
        self.name = name
        self.dtype = numpy.dtype(dtype)
        self.template_args = tuple(template_args)
        self.name_expression = name_expression(
            name, (KERNEL_DTYPES[self.dtype],) + self.template_args)
        self.params = tuple(Param(n, self.dtype if t == "T" else t, ptr, const)
                            for n, t, ptr, const in raw_params)
        # per parameter, what the launch fast path checks: (pointer, const, dtype,
        # scalar type, kind, min, max); anything else goes through the full checks
        plan = []
        for p in self.params:
            lo = hi = None
            if not p.pointer and p.dtype.kind in "iu":
                info = numpy.iinfo(p.dtype)
                lo, hi = int(info.min), int(info.max)
            plan.append((p.pointer, p.const, p.dtype, p.dtype.type, p.dtype.kind, lo, hi))
        self._plan = tuple(plan)
        self._functions = {}   # backend name -> compiled function

    @property
    def qualified_name(self):
        return f"{self.source}.cu::{self.name_expression}"

    def signature(self):
        """The C++ parameter list, e.g. ``'const float*,float*,int64,int64'``."""
        return ",".join(("const " if p.const else "") + p.dtype.name + ("*" if p.pointer else "")
                        for p in self.params)

    def __call__(self, grid, block, args):
        launch(self, grid, block, args)

    def __repr__(self):
        params = ", ".join(p.ctype() + " " + p.name for p in self.params)
        return f"<Kernel {self.qualified_name}({params})>"


class _Module:
    """A parsed source: its kernels and, per backend, the compiled module."""

    def __init__(self, source):
        self.source = source
        self.path = source_path(source)
        self.text = self.path.read_text()
        self.signatures = parse_signatures(self.text)
        self.names = tuple(self.signatures)
        self.instances = kernel_instances_in(self.text)
        self.expressions = name_expressions_in(self.text)
        self.compiled = {}  # backend name -> RawModule / EmulatedModule
        self.lock = threading.Lock()

    def name_expressions(self):
        return list(self.expressions)

    def function(self, backend, kernel):
        with self.lock:
            mod = self.compiled.get(backend)
            if mod is None:
                mod = self.compiled[backend] = self._compile(backend)
        return mod.get_function(kernel.name_expression)

    def _compile(self, backend):
        if backend == "cupy":
            cupy = importlib.import_module("cupy")
            return cupy.RawModule(code=self.text, options=compile_options(),
                                  name_expressions=self.name_expressions())
        if backend == "emulated":
            mod = cuda_emulation.load_module(self.path, self.name_expressions(),
                                             include_dirs=(kernels_dir(),))
            self._check_emulated_signatures(mod)
            return mod
        raise RuntimeError(
            f"Kernels run only on the 'cupy' and 'emulated' backends, but the active backend is "
            f"{backend!r}. Use the op through dispatch.ops(), or activate a kernel backend with "
            "dispatch.use_backend('cupy') / ('emulated').")

    def _check_emulated_signatures(self, mod):
        """The compiler's parameter types must equal what the launcher read from the source."""
        dtypes = {t: d for d, t in KERNEL_DTYPES.items()}
        for name in self.names:
            for inst in self.instances[name]:
                k = Kernel(self.source, name, dtypes[inst[0]], self.signatures[name], inst[1:])
                compiled = mod.get_function(k.name_expression).signature
                if compiled != k.signature():
                    raise KernelSourceError(
                        f"The launcher read the parameters of {k.qualified_name} as "
                        f"({k.signature()}) but the compiler sees ({compiled}). Write the "
                        "declaration in the plain form kernels/README.md describes.")


_modules = {}
_modules_lock = threading.Lock()


def _module(source):
    with _modules_lock:
        mod = _modules.get(source)
        if mod is None:
            mod = _modules[source] = _Module(source)
        return mod


def kernel_names(source):
    """Names of the kernels that ``kernels/<source>.cu`` lists on its ``@kernels:`` lines."""
    return _module(source).names


def kernel_instances(source):
    """{kernel name: (template argument tuple, ...)} of ``kernels/<source>.cu``, e.g.
    ``{'activation_forward': (('float',), ('double',)), ...}``; the element type first."""
    return dict(_module(source).instances)


def name_expressions(source):
    """Every name expression the module of ``source`` is compiled with (its ``@kernels:``
    instances)."""
    return _module(source).name_expressions()


def _template_arg(value):
    """The C++ spelling of one template argument: ``True`` -> ``'true'``, ``64`` -> ``'64'``."""
    if isinstance(value, (bool, numpy.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, numpy.integer)):
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    raise TypeError(
        "A template argument must be a bool, an int or its C++ spelling as a str. "
        f"Received: {value!r} of type {type(value).__name__}")


def get_kernel(source, name, dtype, *template_args):
    """The kernel ``name`` of ``kernels/<source>.cu`` instantiated for ``dtype`` and
    ``template_args``.

    Args:
        source: file stem, e.g. ``'activations'``.
        name: a kernel listed on the file's ``@kernels:`` lines.
        dtype: float32 or float64 (the template type T).
        *template_args: the kernel's further template arguments, in order (bools,
            ints, or their C++ spelling), e.g. ``64, True`` for
            ``conv_igemm_forward<float, 64, true>``; none for a kernel templated on T only.
    Example:
        ``get_kernel("conv_igemm", "conv_igemm_forward", numpy.float32, 64, True)``
    Raises:
        KernelNotFoundError: unknown source or kernel name, or an instance the
            ``@kernels:`` lines do not list.
        TypeError: a dtype the kernels are not instantiated for.
    """
    key = (source, name, dtype) + template_args
    try:
        return _kernel_cache[key]
    except (KeyError, TypeError):
        pass
    mod = _module(source)
    if name not in mod.signatures:
        raise KernelNotFoundError(
            f"Unknown kernel {name!r} in kernels/{source}.cu. Expected one of "
            f"{list(mod.names)} (the names on its @kernels: lines). Received: name={name!r}")
    try:
        dt = numpy.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in KERNEL_DTYPES:
        raise TypeError(
            f"Kernel {source}.cu::{name} is instantiated for float32 and float64 only. Cast "
            f"the data with .astype('float32'). Received: dtype={dtype!r}")
    targs = tuple(_template_arg(a) for a in template_args)
    instance = (KERNEL_DTYPES[dt],) + targs
    if instance not in mod.instances[name]:
        listed = ", ".join("<" + ", ".join(i) + ">" for i in mod.instances[name])
        raise KernelNotFoundError(
            f"Kernel {source}.cu::{name} is not instantiated as <{', '.join(instance)}>; its "
            f"@kernels: lines list {listed}. Pass the template arguments after the dtype, or "
            f"add the instance to the @kernels: line. Received: dtype={dt.name}, "
            f"template_args={template_args!r}")
    kernel = Kernel(source, name, dt, mod.signatures[name], targs)
    _kernel_cache[(source, name, dt) + template_args] = kernel
    try:
        _kernel_cache[key] = kernel
    except TypeError:   # an unhashable spelling of the dtype: cached under the dtype only
        pass
    return kernel


_kernel_cache = {}   # (source, name, dtype as asked, *template arguments) -> Kernel


# ---------------------------------------------------------------------------
# Launch configuration helpers
# ---------------------------------------------------------------------------

def grid_1d(n, block=BLOCK_1D, max_blocks=MAX_BLOCKS_1D):
    """Blocks for a grid-stride loop over ``n`` elements (n >= 1)."""
    return (max(1, min(-(-int(n) // block), max_blocks)), 1, 1)


def row_block(cols, max_threads=MAX_ROW_BLOCK):
    """Threads per block of a one-block-per-row kernel: the smallest power of two
    >= ``cols``, at least 32 (one warp), at most ``max_threads``."""
    b = 32
    while b < cols and b < max_threads:
        b *= 2
    return (b, 1, 1)


def _dim3(what, value, kernel):
    if isinstance(value, (int, numpy.integer)) and not isinstance(value, bool):
        value = (int(value),)
    if (not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 3
            or not all(isinstance(v, (int, numpy.integer)) and not isinstance(v, bool)
                       for v in value)):
        raise TypeError(
            f"Launching {kernel.qualified_name}: `{what}` must be an int or a tuple of 1 to 3 "
            f"ints. Received: {what}={value!r}")
    v = tuple(int(x) for x in value) + (1,) * (3 - len(value))
    return v


def _check_config(kernel, grid, block):
    limits = {"grid": _MAX_GRID, "block": _MAX_BLOCK}
    for what, dims in (("grid", grid), ("block", block)):
        for axis, (d, lim) in enumerate(zip(dims, limits[what])):
            if d < 1 or d > lim:
                hint = (" Skip the launch when there is no work (n == 0)." if d < 1 else "")
                raise ValueError(
                    f"Invalid launch configuration for {kernel.qualified_name}: {what} dimension "
                    f"{'xyz'[axis]} must be in [1, {lim}] (CUDA rejects it with "
                    f"CUDA_ERROR_INVALID_VALUE).{hint} Received: grid={grid}, block={block}")
    threads = block[0] * block[1] * block[2]
    if threads > _MAX_THREADS:
        raise ValueError(
            f"Invalid launch configuration for {kernel.qualified_name}: a block may hold at most "
            f"{_MAX_THREADS} threads, this one has {threads}. Received: block={block}")


# ---------------------------------------------------------------------------
# Argument checks and launch
# ---------------------------------------------------------------------------

def _array_module_name(a):
    mod = type(a).__module__
    return "cupy" if mod.startswith("cupy") else ("numpy" if isinstance(a, numpy.ndarray) else mod)


def _check_array(kernel, i, p, a, backend):
    where = f"argument {i} (`{p.ctype()} {p.name}`) of {kernel.qualified_name}"
    expected = "cupy" if backend == "cupy" else "numpy"
    is_array = isinstance(a, numpy.ndarray) or _array_module_name(a) == "cupy"
    if not is_array or _array_module_name(a) != expected:
        raise TypeError(
            f"The {where} must be a {expected}.ndarray on the {backend!r} backend. Move the "
            f"data with dispatch.to_device(). Received: type={type(a).__module__}."
            f"{type(a).__name__}")
    if a.dtype != p.dtype:
        raise TypeError(
            f"The {where} must have dtype {p.dtype.name}, the kernel reads its memory as "
            f"{p.ctype()}. Convert it with .astype('{p.dtype.name}'). "
            f"Received: dtype={a.dtype.name}, shape={a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"The {where} must be C-contiguous: the kernel indexes flat memory and ignores "
            f"strides. Pass xp.ascontiguousarray(...) of it. Received: shape={a.shape}, "
            f"strides={a.strides}")
    if not p.const and isinstance(a, numpy.ndarray) and not a.flags.writeable:
        raise ValueError(
            f"The {where} is written by the kernel, but the array is read-only. Pass a "
            f"writeable copy. Received: shape={a.shape}")
    return a


def _convert_scalar(kernel, i, p, a):
    where = f"argument {i} (`{p.ctype()} {p.name}`) of {kernel.qualified_name}"
    if isinstance(a, numpy.generic):
        if a.dtype != p.dtype:
            raise TypeError(
                f"The {where} must be a numpy.{p.dtype.name} scalar: RawKernel passes a NumPy "
                f"scalar with its own size, so a {a.dtype.name} would be misread. Pass "
                f"numpy.{p.dtype.name}(value), or a Python number. Received: "
                f"numpy.{a.dtype.name}({a!r})")
        return a
    if isinstance(a, (bool, int, float)):
        if p.dtype.kind == "f":
            return p.dtype.type(a)
        if p.dtype.kind == "b" and isinstance(a, bool):
            return numpy.bool_(a)
        if p.dtype.kind in "iu" and not isinstance(a, float):
            info = numpy.iinfo(p.dtype)
            if not info.min <= int(a) <= info.max:
                raise ValueError(
                    f"The {where} does not fit in {p.dtype.name} "
                    f"([{info.min}, {info.max}]). Received: {a!r}")
            return p.dtype.type(int(a))
        raise TypeError(
            f"The {where} takes a {p.dtype.name}; a Python {type(a).__name__} would change "
            f"its meaning. Pass a value of that type. Received: {a!r}")
    raise TypeError(
        f"The {where} is a scalar parameter: pass a Python number or a numpy.{p.dtype.name}. "
        f"Received: type={type(a).__module__}.{type(a).__name__}")


def launch(kernel, grid, block, args):
    """Check and launch ``kernel`` on the active backend ('cupy' or 'emulated').

    Args:
        kernel: a :class:`Kernel` from :func:`get_kernel`.
        grid: blocks, an int or a tuple of 1 to 3 ints (each >= 1).
        block: threads per block, an int or a tuple of 1 to 3 ints (at most 1024 in all).
        args: one value per kernel parameter, in order. Arrays: ndarrays of the
            active backend (cupy.ndarray, or numpy.ndarray under emulation) with
            the parameter's dtype, C-contiguous. Scalars: Python numbers
            (converted to the parameter's type) or NumPy scalars of that type.
    Raises:
        TypeError: wrong number of arguments, wrong array module or dtype, wrong scalar type.
        ValueError: non-contiguous or read-only array, invalid grid/block.
    """
    backend = dispatch.backend()
    # The checks below run on every launch (thousands per training step on the GPU):
    # each is a cheap test that falls back to the full, explaining check on failure.
    if not (type(grid) is tuple and len(grid) == 3 and type(grid[0]) is int
            and type(grid[1]) is int and type(grid[2]) is int):
        grid = _dim3("grid", grid, kernel)
    if not (type(block) is tuple and len(block) == 3 and type(block[0]) is int
            and type(block[1]) is int and type(block[2]) is int):
        block = _dim3("block", block, kernel)
    g0, g1, g2 = grid
    b0, b1, b2 = block
    if not (0 < g0 <= _MAX_GRID[0] and 0 < g1 <= _MAX_GRID[1] and 0 < g2 <= _MAX_GRID[2]
            and 0 < b0 <= _MAX_BLOCK[0] and 0 < b1 <= _MAX_BLOCK[1]
            and 0 < b2 <= _MAX_BLOCK[2] and b0 * b1 * b2 <= _MAX_THREADS):
        _check_config(kernel, grid, block)
    args = tuple(args)
    plan = kernel._plan
    if len(args) != len(plan):
        raise TypeError(
            f"{kernel.qualified_name} takes {len(kernel.params)} arguments "
            f"({', '.join(p.ctype() + ' ' + p.name for p in kernel.params)}). "
            f"Received: {len(args)} arguments")
    array_type = _array_type(backend)
    checked = []
    for i, a in enumerate(args):
        pointer, const, dtype, scalar_type, kind, lo, hi = plan[i]
        ta = type(a)
        if pointer:
            if not (ta is array_type and a.dtype == dtype and a.flags.c_contiguous
                    and (const or ta is not numpy.ndarray or a.flags.writeable)):
                a = _check_array(kernel, i, kernel.params[i], a, backend)
        elif ta is int and lo is not None and lo <= a <= hi:
            a = scalar_type(a)
        elif ta is float and kind == "f":
            a = scalar_type(a)
        else:
            a = _convert_scalar(kernel, i, kernel.params[i], a)
        checked.append(a)
    fn = kernel._functions.get(backend)
    if fn is None:
        fn = kernel._functions[backend] = _module(kernel.source).function(backend, kernel)
    fn(grid, block, tuple(checked))


def _array_type(backend):
    """The ndarray class a kernel argument must have on ``backend``."""
    if backend == "cupy":
        return sys.modules["cupy"].ndarray
    return numpy.ndarray
