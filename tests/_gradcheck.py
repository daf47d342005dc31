"""Shared test helpers: the tape gradient check (from gpuseq.testing) and a fixture that
keeps small training runs on one BLAS thread."""
import contextlib

import pytest

from gpuseq.testing import check_function_gradients, numerical_gradient  # noqa: F401


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Small training runs: one BLAS thread (several threads on small GEMMs of a busy
    machine are many times slower). Imported by the test modules that train."""
    try:
        from threadpoolctl import threadpool_limits
        ctx = threadpool_limits(limits=1, user_api="blas")
    except Exception:  # threadpoolctl missing: keep the library's threading
        ctx = contextlib.nullcontext()
    with ctx:
        yield
