"""How many BLAS threads the NumPy ops use: a deterministic, size-based policy.

Which GEMMs run on one BLAS thread depends only on their sizes, never on the machine's
load, so the same model runs the same way (same speed profile, same thread count and
hence the same floating-point summation order inside BLAS) from one call to the next:

* The per-time-step loops of the recurrent ops always run on one thread (they wrap
  the loop in :class:`single_blas_thread`): each step multiplies small matrices (e.g.
  512 x 128 by 128 x 16), where handing the work to other threads costs more than it
  saves.
* A whole op decorated with :func:`single_thread_when_small` runs on one thread when
  its largest GEMM (an estimate of its multiply-adds, ``work(*args, **kwargs)``) is
  below a threshold, and with the library's threads otherwise. The recurrent ops use
  :data:`SMALL_OP_MACS`; the convolutions use :data:`SMALL_GEMM_MACS`.

Thresholds, measured with OpenBLAS (the BLAS of the NumPy wheels) on two cores: a
float32 GEMM of ``m x k x n`` = 128 x 192 x 64 (2^20.6 multiply-adds) takes 114 us on
one thread and 63 us on two; 64 x 192 x 64 (2^19.6) 59 us and 47 us; from 2^20 upward
two threads are 1.7-2.1x faster. Below about 2^18 OpenBLAS itself runs on one thread.

Uses threadpoolctl when it is installed (scikit-learn depends on it) to reach the BLAS
library's thread setting; without it the ops run with the library's own threading.
"""
import functools

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


def blas_controllable():
    """True when the BLAS thread count can be changed (threadpoolctl found a BLAS)."""
    return bool(_blas_libs())


def blas_num_threads():
    """The BLAS library's current thread count (the smallest over the loaded BLAS
    libraries), or None when it cannot be read."""
    counts = []
    for lc in _blas_libs():
        try:
            counts.append(int(lc.get_num_threads()))
        except Exception:
            pass
    return min(counts) if counts else None


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


# Recurrent ops: at or above this many multiply-adds, an op's whole-sequence GEMMs keep
# every BLAS thread (the per-step loop is single-threaded regardless).
SMALL_OP_MACS = 1 << 26

# Convolutions: a GEMM of at least this many multiply-adds runs on the library's threads
# (see the measurements above).
SMALL_GEMM_MACS = 1 << 20


def single_thread_when_small(work, threshold=None):
    """Decorator: run ``fn`` under :class:`single_blas_thread` when ``work(*args, **kw)``
    (an estimate of its largest GEMM's multiply-adds) is below ``threshold``
    (default: :data:`SMALL_OP_MACS`, read at call time); otherwise with the library's
    threads."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            limit = SMALL_OP_MACS if threshold is None else threshold
            if work(*args, **kwargs) < limit:
                with single_blas_thread():
                    return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        return wrapper
    return deco
