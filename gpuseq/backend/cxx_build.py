"""Compile C++ into a cached shared library with the machine's compiler.

Shared by the CUDA emulation (``cuda_emulation``: ``.cu`` files built for the CPU with a
shim) and the host kernels of the NumPy backend (``numpy_ops/_host``: the fused loops
in ``kernels/host``). The compiler is ``$CXX`` or ``g++``. A build writes a private
temporary file and renames it into place, so concurrent processes never load a
partial library.
"""
import os
import pathlib
import shutil
import subprocess
import tempfile

_version_cache = {}


def compiler():
    """The C++ compiler: ``$CXX`` or ``g++`` on PATH; None when absent."""
    return shutil.which(os.environ.get("CXX", "g++"))


def compiler_version(cxx):
    """First line of ``cxx --version`` (part of every cache key)."""
    if cxx not in _version_cache:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True)
        _version_cache[cxx] = out.stdout.splitlines()[0] if out.stdout else cxx
    return _version_cache[cxx]


def compile_library(cxx, args, out):
    """Run ``cxx *args -o <tmp>`` and publish the result atomically as ``out``.

    Returns None on success, else ``(returncode, command, log)`` with the log cut to
    6000 characters.
    """
    out = pathlib.Path(out)
    with tempfile.TemporaryDirectory(prefix="gpuseq-cxx-") as tmp:
        part = pathlib.Path(tmp) / "lib.so"
        cmd = [cxx, *args, "-o", str(part)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            log = proc.stderr.strip()
            if len(log) > 6000:
                log = log[:6000] + "\n... (truncated)"
            return proc.returncode, " ".join(cmd), log
        fd, staged = tempfile.mkstemp(dir=out.parent, prefix=out.stem + ".", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(part, staged)
        os.replace(staged, out)
    return None
