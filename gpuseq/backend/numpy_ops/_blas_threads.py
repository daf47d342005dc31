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

The first one-thread section of a process also runs one mid-sized GEMM (see
:func:`_warm_up`): until OpenBLAS has run a product of a few hundred in two of its
dimensions, its small one-thread GEMMs run at half speed or less.

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


_warm = {"done": False}


def _warm_up():
    """Run one float32 GEMM of 64 x 1024 x 1024 on one thread, once per process.

    In a process whose GEMMs have all been small, OpenBLAS runs small and long-inner
    GEMMs on one thread far below its speed: measured on two cores, 128 x 32 x 64 (the
    per-step product of an LSTM(32)) 40 us, 65 x 512 x 128 (a recurrent weight
    gradient) 870 us; once one GEMM with an inner and an outer dimension of several
    hundred has run, the same products take 19 us and 270 us for the rest of the
    process (the results are bitwise the same). A model of small layers never runs
    such a product on its own, so the first one-thread section runs one (about 7 ms).
    """
    _warm["done"] = True
    try:
        import numpy as np
        np.matmul(np.ones((64, 1024), dtype=np.float32), np.ones((1024, 1024), dtype=np.float32))
    except Exception:
        pass


# How many single_blas_thread sections are open: a nested one finds the thread count
# already at one and has nothing to set or restore.
_depth = [0]


class single_blas_thread:  # noqa: N801 - used like a function: `with single_blas_thread():`
    """Context manager: one BLAS thread inside; the previous setting is restored after.

    Sections nest: only the outermost one reads, changes and restores the setting."""

    __slots__ = ("_restore",)

    def __enter__(self):
        self._restore = []
        _depth[0] += 1
        if _depth[0] > 1:
            return self
        for lc in _blas_libs():
            try:
                n = lc.get_num_threads()
                if n != 1:
                    lc.set_num_threads(1)
                    self._restore.append((lc, n))
            except Exception:
                pass
        if not _warm["done"]:
            _warm_up()
        return self

    def __exit__(self, *exc):
        _depth[0] -= 1
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
