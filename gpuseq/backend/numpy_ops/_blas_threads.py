"""Run the recurrent ops with a single BLAS thread.

Each step of a recurrent loop multiplies small matrices (e.g. 512 x 128 by 128 x 16).
Splitting such a GEMM over several BLAS threads costs more in thread hand-off than it
saves, and on a busy machine the waiting threads can make it ten times slower. The
ops' other GEMMs (all time steps at once) keep the library's threads only when they
are large (:data:`SMALL_OP_MACS` multiply-adds or more) AND the machine has idle
cores: once the 1-minute load average passes the core count - 0.5, spinning BLAS
threads compete with other work and the GEMMs run slower than on one thread.

Uses threadpoolctl when it is installed (scikit-learn depends on it) to reach the BLAS
library's thread setting; without it the ops run with the library's own threading.
"""
import functools
import os

_state = {"libs": None}


def _blas_libs():
    """threadpoolctl's controllers of the loaded BLAS libraries (empty if unavailable)."""
    if _state["libs"] is None:
        try:
            from threadpoolctl import ThreadpoolController
            _state["libs"] = [lc for lc in ThreadpoolController().lib_controllers
                              if lc.user_api == "blas"]
        except Exception:  # not installed, or it could not inspect the libraries
            _state["libs"] = []
    return _state["libs"]


class single_blas_thread:  # noqa: N801 - used like a function: `with single_blas_thread():`
    """Context manager: one BLAS thread inside; the previous setting is restored after."""

    __slots__ = ("_restore",)

    def __enter__(self):
        self._restore = []
        for lc in _blas_libs():
            try:
                n = lc.get_num_threads()
                if n != 1:
                    lc.set_num_threads(1)
                    self._restore.append((lc, n))
            except Exception:
                pass
        return self

    def __exit__(self, *exc):
        for lc, n in self._restore:
            try:
                lc.set_num_threads(n)
            except Exception:
                pass
        return False


# At or above this many multiply-adds an op's whole-sequence GEMMs keep every BLAS thread
# (the per-step loop is single-threaded regardless).
SMALL_OP_MACS = 1 << 26


def machine_busy():
    """True when the 1-minute load average exceeds the number of cores - 0.5."""
    try:
        return os.getloadavg()[0] > (os.cpu_count() or 1) - 0.5
    except (AttributeError, OSError):   # no load average on this platform
        return False


def single_thread_when_small(work):
    """Decorator: run ``fn`` under :class:`single_blas_thread` when ``work(*args, **kw)``
    (an estimate of its largest GEMM's multiply-adds) is below :data:`SMALL_OP_MACS`, or
    when :func:`machine_busy`."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if work(*args, **kwargs) < SMALL_OP_MACS or machine_busy():
                with single_blas_thread():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        return wrapper
    return deco
