"""Shared fixtures.

``backend`` parametrises one test body over the three ways gpuseq can run an op:
``numpy`` (the tuned host backend), ``emulated`` (the CuPy op layer and the same
kernels/*.cu source executed on the CPU by the CUDA launch emulation; needs g++)
and ``cupy`` (a real GPU; marked ``gpu`` and skipped where CuPy has no device).

``op_path`` adds the host C++ kernels as a path of their own: ``host`` (the NumPy
backend with kernels/host/*.cpp, where they build), ``numpy`` (the same backend with
the host kernels off: ufuncs and BLAS), ``emulated`` and ``cupy``. The op-family
modules (test_<family>_ops.py) run each path against the plain references of
tests/reference.py.
"""
import os
import shutil

# Small matrix products dominate the suite; spreading them over several BLAS threads on a
# 2-core machine costs more than it saves. Must be set before NumPy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pytest

os.environ.setdefault("GPUSEQ_BACKEND", "numpy")

from gpuseq.backend import dispatch  # noqa: E402


def _emulation_reason():
    if shutil.which(os.environ.get("CXX", "g++")) is None:
        return "the CUDA launch emulation needs a C++ compiler (g++) on PATH"
    return None


@pytest.fixture(params=[
    "numpy",
    "emulated",
    pytest.param("cupy", marks=pytest.mark.gpu),
])
def backend(request):
    name = request.param
    if name == "cupy":
        ok, why = dispatch._cupy_probe()
        if ok is None:
            pytest.skip(f"no CUDA device for the cupy backend: {why}")
    if name == "emulated":
        why = _emulation_reason()
        if why:
            pytest.skip(why)
    with dispatch.use_backend(name):
        yield name


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def device_backend(request):
    """The backends that run the CUDA kernels: the CPU emulation and a real GPU."""
    name = request.param
    if name == "cupy":
        ok, why = dispatch._cupy_probe()
        if ok is None:
            pytest.skip(f"no CUDA device for the cupy backend: {why}")
    elif _emulation_reason():
        pytest.skip(_emulation_reason())
    with dispatch.use_backend(name):
        yield name


OP_PATHS = ["host", "numpy", "emulated", pytest.param("cupy", marks=pytest.mark.gpu)]


def enter_op_path(name):
    """Switch to op path ``name`` (see OP_PATHS) or skip; returns a context manager."""
    import contextlib

    from gpuseq.backend.numpy_ops import _host
    if name == "cupy":
        ok, why = dispatch._cupy_probe()
        if ok is None:
            pytest.skip(f"no CUDA device for the cupy backend: {why}")
    if name == "emulated" and _emulation_reason():
        pytest.skip(_emulation_reason())
    stack = contextlib.ExitStack()
    stack.enter_context(dispatch.use_backend("numpy" if name in ("host", "numpy") else name))
    stack.enter_context(_host.use(name != "numpy"))
    return stack


@pytest.fixture(params=OP_PATHS)
def op_path(request):
    """Every way an op runs: host C++ kernels, NumPy ufuncs/BLAS, emulated CUDA, CuPy."""
    with enter_op_path(request.param):
        yield request.param


@pytest.fixture
def numpy_backend():
    with dispatch.use_backend("numpy"):
        yield "numpy"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's bundled 8x8 handwritten digits (no download): (x in [0,1], y int)."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    d = sklearn_datasets.load_digits()
    x = (d.data / 16.0).astype("float32")
    y = d.target.astype("int64")
    return x, y
