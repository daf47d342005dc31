"""Compile every ``kernels/*.cu`` for real GPU architectures, on a machine without a GPU.

This is how CI catches a kernel that NVRTC would reject at run time, long before
a GPU sees it. Two tools, tried in this order:

* **NVRTC through ctypes** — the compiler CuPy's ``RawModule`` uses. The source
  text, the name expressions (``name<float>``, ``name<double>`` for every kernel
  on the ``@kernels:`` lines) and the options are the ones the loader gives
  CuPy, plus what CuPy appends (``-ftz=true``) and ``--gpu-architecture=sm_XX``
  so that ptxas also runs (register and shared-memory limits). libnvrtc comes
  from the pip package ``nvidia-cuda-nvrtc`` (``nvidia/cu13/lib``), the CUDA
  12 package (``nvidia/cuda_nvrtc/lib``), ``$GPUSEQ_NVRTC``, or a CUDA toolkit.
* **nvcc** — ``nvcc --cubin -arch=sm_XX`` on a translation unit that includes
  the source and takes the address of every name expression (which instantiates
  the templates).

A successful compile is recorded under ``kernel_loader.cache_dir('kernel-check')``
by a hash of everything that goes into it (source, headers, name expressions,
options, compiler version, arch), so unchanged kernels are not compiled again;
failures are never recorded.

With ``resources=True`` (``--resources`` on the command line) ptxas reports, per
name expression, its registers, stack frame and spill stores/loads (``ptxas -v``):
the figures to compare before and after a change to a kernel (such compiles are
not cached).

Command line: ``python -m gpuseq.backend.kernel_check [--arch 80 90] [--tool nvrtc|nvcc]
[--no-cache] [--resources] [FILE.cu ...]`` prints one line per (file, arch) (and with
``--resources`` one line per kernel) and exits 1 on any failure, 2 when no compiler
exists.
"""
import argparse
import concurrent.futures
import ctypes
import ctypes.util
import glob
import hashlib
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from . import kernel_loader

ARCHS = (80, 90)   # Ampere (A100) and Hopper (H100/H200)
CUPY_APPENDED_OPTIONS = ("-ftz=true",)


@dataclass
class CompileResult:
    """Outcome of compiling one source for one architecture."""
    source: str
    arch: int
    tool: str
    ok: bool
    log: str = ""
    seconds: float = 0.0
    lowered_names: dict = field(default_factory=dict)  # name expression -> mangled name
    cached: bool = False  # an identical compile (same inputs and compiler) succeeded before
    # with resources=True: kernel (name expression; the mangled name under nvcc) ->
    # Resources as ptxas reports them
    resources: dict = field(default_factory=dict)

    def summary(self):
        state = "ok" if self.ok else "FAILED"
        how = "cached" if self.cached else f"{self.seconds:.2f} s"
        return f"{self.source} sm_{self.arch} [{self.tool}] {state} ({how})"

    def resource_lines(self):
        """One line per kernel: registers, stack frame and spills, sorted by kernel."""
        return [f"  {name:<48} {r.registers:>4} registers, stack {r.stack} B, spill stores "
                f"{r.spill_stores} B, spill loads {r.spill_loads} B"
                for name, r in sorted(self.resources.items())]


@dataclass(frozen=True)
class Resources:
    """What ptxas -v reports for one kernel."""
    registers: int
    stack: int          # bytes of stack frame
    spill_stores: int   # bytes
    spill_loads: int    # bytes


_PTXAS_FUNCTION = re.compile(r"(?:Compiling entry function|Function properties for) '?(\w+)'?")
_PTXAS_SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, "
                           r"(\d+) bytes spill loads")
_PTXAS_REGISTERS = re.compile(r"Used (\d+) registers")


def parse_ptxas_resources(log, lowered=None):
    """{kernel: Resources} from a ``ptxas -v`` log; ``lowered`` maps name expressions to
    the mangled names the log uses (kernels are then keyed by name expression)."""
    names = {v: k for k, v in (lowered or {}).items()}
    current, spills, out = None, {}, {}
    for line in log.splitlines():
        m = _PTXAS_FUNCTION.search(line)
        if m:
            current = names.get(m.group(1), m.group(1))
            continue
        m = _PTXAS_SPILLS.search(line)
        if m and current:
            spills[current] = tuple(int(v) for v in m.groups())
            continue
        m = _PTXAS_REGISTERS.search(line)
        if m and current:
            out[current] = Resources(int(m.group(1)), *spills.get(current, (0, 0, 0)))
    return out


# ---------------------------------------------------------------------------
# NVRTC
# ---------------------------------------------------------------------------

def _nvrtc_candidates():
    env = os.environ.get("GPUSEQ_NVRTC")
    if env:
        yield env
    for base in sys.path:
        for pattern in ("nvidia/cu1*/lib/libnvrtc.so*", "nvidia/cuda_nvrtc/lib/libnvrtc.so*"):
            yield from sorted(glob.glob(os.path.join(base or ".", pattern)), reverse=True)
    for var in ("CUDA_PATH", "CUDA_HOME"):
        if os.environ.get(var):
            yield from sorted(glob.glob(os.path.join(os.environ[var], "lib64", "libnvrtc.so*")),
                              reverse=True)
    yield from sorted(glob.glob("/usr/local/cuda*/lib64/libnvrtc.so*"), reverse=True)
    found = ctypes.util.find_library("nvrtc")
    if found:
        yield found


class Nvrtc:
    """A minimal ctypes binding of libnvrtc: create, add name expressions, compile, read back."""

    def __init__(self, path):
        self.path = str(path)
        # libnvrtc opens its builtins library by name at the first compile; some wheels
        # ship it beside libnvrtc without a search path that finds it: load it first.
        for builtins in sorted(glob.glob(os.path.join(os.path.dirname(self.path),
                                                      "libnvrtc-builtins.so*"))):
            try:
                ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass
        self.lib = ctypes.CDLL(self.path)
        major, minor = ctypes.c_int(), ctypes.c_int()
        self._check(self.lib.nvrtcVersion(ctypes.byref(major), ctypes.byref(minor)), "nvrtcVersion")
        self.version = (major.value, minor.value)
        self.lib.nvrtcGetErrorString.restype = ctypes.c_char_p

    def _check(self, rc, what):
        if rc != 0:
            msg = self.lib.nvrtcGetErrorString(rc).decode() if hasattr(self, "version") else rc
            raise RuntimeError(f"{what} failed: {msg}")

    def supported_archs(self):
        n = ctypes.c_int()
        self._check(self.lib.nvrtcGetNumSupportedArchs(ctypes.byref(n)),
                    "nvrtcGetNumSupportedArchs")
        archs = (ctypes.c_int * n.value)()
        self._check(self.lib.nvrtcGetSupportedArchs(archs), "nvrtcGetSupportedArchs")
        return tuple(archs)

    def compile(self, text, filename, options, name_expressions):
        """-> (ok, log, {name expression: lowered name}, size of the CUBIN)."""
        prog = ctypes.c_void_p()
        self._check(self.lib.nvrtcCreateProgram(ctypes.byref(prog), text.encode(),
                                                filename.encode(), 0, None, None),
                    "nvrtcCreateProgram")
        try:
            for expr in name_expressions:
                self._check(self.lib.nvrtcAddNameExpression(prog, expr.encode()),
                            "nvrtcAddNameExpression")
            opts = [o.encode() for o in options]
            rc = self.lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
            size = ctypes.c_size_t()
            self.lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value)
            self.lib.nvrtcGetProgramLog(prog, buf)
            log = buf.value.decode(errors="replace")
            if rc != 0:
                return False, log or self.lib.nvrtcGetErrorString(rc).decode(), {}, 0
            lowered = {}
            for expr in name_expressions:
                name = ctypes.c_char_p()
                self._check(self.lib.nvrtcGetLoweredName(prog, expr.encode(), ctypes.byref(name)),
                            f"nvrtcGetLoweredName({expr})")
                lowered[expr] = name.value.decode()
            cubin = ctypes.c_size_t()
            self._check(self.lib.nvrtcGetCUBINSize(prog, ctypes.byref(cubin)), "nvrtcGetCUBINSize")
            return True, log, lowered, cubin.value
        finally:
            self.lib.nvrtcDestroyProgram(ctypes.byref(prog))


_nvrtc = []


def find_nvrtc():
    """An :class:`Nvrtc` for the first libnvrtc that loads, or None."""
    if not _nvrtc:
        found = None
        for cand in _nvrtc_candidates():
            try:
                found = Nvrtc(cand)
                break
            except (OSError, AttributeError, RuntimeError):
                continue
        _nvrtc.append(found)
    return _nvrtc[0]


def find_nvcc():
    """Path of nvcc (PATH, $CUDA_HOME/bin, /usr/local/cuda*/bin), or None."""
    found = shutil.which("nvcc")
    if found:
        return found
    for base in [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"),
                 *sorted(glob.glob("/usr/local/cuda*"), reverse=True)]:
        if base and os.access(os.path.join(base, "bin", "nvcc"), os.X_OK):
            return os.path.join(base, "bin", "nvcc")
    return None


def available_tool():
    """('nvrtc', Nvrtc) or ('nvcc', path) or (None, reason)."""
    nv = find_nvrtc()
    if nv is not None:
        return "nvrtc", nv
    nvcc = find_nvcc()
    if nvcc is not None:
        return "nvcc", nvcc
    return None, ("neither libnvrtc (pip install nvidia-cuda-nvrtc, or set GPUSEQ_NVRTC) nor "
                  "nvcc (a CUDA toolkit) was found")


# ---------------------------------------------------------------------------
# Checking a source
# ---------------------------------------------------------------------------

def _name_expressions(text):
    return kernel_loader.name_expressions_in(text)


def nvrtc_options(arch):
    """The options CuPy's RawModule hands NVRTC for our modules, for ``sm_<arch>``."""
    return kernel_loader.compile_options() + CUPY_APPENDED_OPTIONS + (
        f"--gpu-architecture=sm_{arch}",)


def _compile_nvrtc(nv, path, text, exprs, arch, resources=False):
    if arch not in nv.supported_archs():
        return False, (f"this NVRTC {nv.version} cannot target sm_{arch}; it supports "
                       f"{nv.supported_archs()}"), {}
    options = _nvrtc_options_for(path, arch) + (("--ptxas-options=-v",) if resources else ())
    ok, log, lowered, _ = nv.compile(text, path.name, options, exprs)
    return ok, log, lowered


def _nvrtc_options_for(path, arch):
    return nvrtc_options(arch) + ("--include-path=" + str(path.parent),)


def _nvcc_flags(path, arch):
    return ["--cubin", f"-arch=sm_{arch}", "-std=c++17", "-ftz=true", "-diag-suppress=177",
            "-I" + str(kernel_loader.kernels_dir()), "-I" + str(path.parent)]


def _compile_nvcc(nvcc, path, exprs, arch, resources=False):
    with tempfile.TemporaryDirectory(prefix="gpuseq-nvcc-") as tmp:
        tu = pathlib.Path(tmp) / "instantiate.cu"
        refs = ",\n    ".join("(const void*)&" + e for e in exprs)
        tu.write_text('#include "' + path.name + '"\n'
                      "const void* const gpuseq_instantiate[] = {\n    " + refs + "\n};\n")
        cmd = [nvcc, *_nvcc_flags(path, arch), *(["-Xptxas", "-v"] if resources else []),
               str(tu), "-o", str(pathlib.Path(tmp) / "out.cubin")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        log = (proc.stdout + proc.stderr).strip()
        return proc.returncode == 0, log, {}


_nvcc_versions = {}


def _cache_file(tool, handle, path, text, exprs, arch):
    """Where a successful compile with exactly these inputs is recorded."""
    h = hashlib.sha256()
    if tool == "nvrtc":
        parts = ["nvrtc", str(handle.version), handle.path, *_nvrtc_options_for(path, arch)]
    else:
        if handle not in _nvcc_versions:
            _nvcc_versions[handle] = subprocess.run([handle, "--version"], capture_output=True,
                                                    text=True).stdout
        parts = ["nvcc", _nvcc_versions[handle], *_nvcc_flags(path, arch)]
    for part in [*parts, text, *exprs]:
        h.update(part.encode() + b"\0")
    for d in sorted({kernel_loader.kernels_dir(), path.parent}):
        for p in sorted([*d.glob("*.cuh"), *d.glob("*.h")]):
            h.update(p.name.encode() + b"\0" + p.read_bytes())
    return kernel_loader.cache_dir("kernel-check") / (h.hexdigest()[:32] + ".json")


def _read_cache(file):
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def _write_cache(file, lowered):
    fd, staged = tempfile.mkstemp(dir=file.parent, prefix=file.stem + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"lowered_names": lowered}, f)
    os.replace(staged, file)


def check_source(path, arch, tool=None, use_cache=True, resources=False):
    """Compile one ``.cu`` file for ``sm_<arch>``; returns a :class:`CompileResult`.

    Args:
        path: the ``.cu`` file.
        arch: compute capability as an int (80, 90).
        tool: 'nvrtc' or 'nvcc' (default: the first available).
        use_cache: skip the compile when one with identical inputs (source, headers,
            name expressions, options, compiler version, arch) succeeded before;
            failures are never cached.
        resources: also report each kernel's registers, stack and spills
            (``CompileResult.resources``); always compiles (no cache).
    """
    path = pathlib.Path(path)
    text = path.read_text()
    start = time.perf_counter()
    try:
        exprs = _name_expressions(text)
    except kernel_loader.KernelSourceError as e:
        return CompileResult(path.name, arch, tool or "loader", False, str(e))
    if tool is None:
        tool, handle = available_tool()
        if tool is None:
            raise RuntimeError(f"No CUDA compiler to check kernels with: {handle}")
    else:
        handle = find_nvrtc() if tool == "nvrtc" else find_nvcc()
        if handle is None:
            raise RuntimeError(f"The requested compile-check tool {tool!r} was not found.")
    cache = (_cache_file(tool, handle, path, text, exprs, arch)
             if use_cache and not resources else None)
    hit = _read_cache(cache) if cache is not None and cache.is_file() else None
    if isinstance(hit, dict) and isinstance(hit.get("lowered_names"), dict):
        return CompileResult(path.name, arch, tool, True, "", time.perf_counter() - start,
                             hit["lowered_names"], cached=True)
    if tool == "nvrtc":
        ok, log, lowered = _compile_nvrtc(handle, path, text, exprs, arch, resources)
    else:
        ok, log, lowered = _compile_nvcc(handle, path, exprs, arch, resources)
    if ok and cache is not None:
        _write_cache(cache, lowered)
    usage = parse_ptxas_resources(log, lowered) if ok and resources else {}
    return CompileResult(path.name, arch, tool, ok, log, time.perf_counter() - start, lowered,
                         resources=usage)


def _check_job(job):
    return check_source(*job)


def check_all(files=None, archs=ARCHS, tool=None, workers=None, use_cache=True,
              resources=False):
    """Compile every (file, arch) pair; returns a list of :class:`CompileResult`.

    NVRTC serialises compilations inside one process, so the pairs are spread
    over forked worker processes (one per core) where the platform forks.
    """
    files = files or sorted(str(p) for p in kernel_loader.kernels_dir().glob("*.cu"))
    jobs = [(f, a, tool, use_cache, resources) for f in files for a in archs]
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_check_job(j) for j in jobs]
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        return list(pool.map(_check_job, jobs))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="kernel sources (default: every kernels/*.cu)")
    parser.add_argument("--arch", nargs="+", type=int, default=list(ARCHS))
    parser.add_argument("--tool", choices=("nvrtc", "nvcc"))
    parser.add_argument("--no-cache", action="store_true",
                        help="compile even when identical inputs compiled before")
    parser.add_argument("--resources", action="store_true",
                        help="print each kernel's registers, stack and spills (ptxas -v)")
    args = parser.parse_args(argv)
    tool = args.tool or available_tool()[0]
    if tool is None:
        print("kernel_check: " + available_tool()[1], file=sys.stderr)
        return 2
    failed = 0
    for res in check_all(args.files, args.arch, tool, use_cache=not args.no_cache,
                         resources=args.resources):
        print(res.summary())
        for line in res.resource_lines():
            print(line)
        if not res.ok:
            failed += 1
            print(res.log)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
