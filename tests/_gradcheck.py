"""Float64 finite-difference check of functions built from gpuseq.backend (tape gradients).

``check_function_gradients(fn, inputs)`` runs ``fn`` on Variables holding the
float inputs (cast to float64), takes the tape gradient of ``sum(fn(...) * gy)``
for a random ``gy`` and compares it, element by element, with central
differences of the same scalar. Integer inputs (labels, indices) are passed as
constants and not differentiated.
"""
import contextlib

import numpy as np
import pytest

from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.testing import assert_close


def _value(out):
    if isinstance(out, ad.Tensor):
        return np.asarray(dispatch.to_host(out.data), dtype=np.float64)
    return np.asarray(dispatch.to_host(out), dtype=np.float64)


def numerical_gradient(fn, xs, i, gy, eps=1e-6):
    """d sum(fn(*xs) * gy) / d xs[i] by central differences (xs: NumPy arrays)."""
    x = xs[i]
    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        vals = []
        for d in (eps, -eps):
            x[idx] = old + d
            with ad.no_grad():
                vals.append(np.sum(_value(fn(*[ad.Tensor(a.copy()) for a in xs])) * gy))
        x[idx] = old
        num[idx] = (vals[0] - vals[1]) / (2 * eps)
    return num


def check_function_gradients(fn, inputs, wrt=None, eps=1e-6, rtol=1e-6, atol=1e-8, seed=0):
    """Tape gradient of ``fn`` (Tensors -> Tensor) against float64 finite differences.

    Args:
        fn: callable taking one Tensor per input and returning a Tensor.
        inputs: list of arrays/numbers; float ones are differentiated (cast to float64).
        wrt: indices of the inputs to check (default: every float input).

    Returns:
        the list of tape gradients (NumPy), one per checked input.
    """
    with dispatch.use_backend("numpy"):
        xs = [np.array(a, dtype=np.float64) if np.asarray(a).dtype.kind == "f"
              else np.array(a) for a in inputs]
        if wrt is None:
            wrt = [i for i, a in enumerate(xs) if a.dtype.kind == "f"]
        ts = [ad.Variable(a.copy()) if i in wrt else ad.Tensor(a.copy())
              for i, a in enumerate(xs)]
        out = ad.as_tensor(fn(*ts))
        rng = np.random.default_rng(seed)
        gy = rng.standard_normal(out.shape)
        if not out.requires_grad:
            grads = [np.zeros_like(xs[i]) for i in wrt]
        else:
            loss = ad.reduce_sum(out * ad.Tensor(gy))
            grads = [np.asarray(g) for g in ad.gradients(loss, [ts[i] for i in wrt])]
        for g, i in zip(grads, wrt):
            num = numerical_gradient(fn, xs, i, gy, eps)
            assert_close(g, num, rtol=rtol, atol=atol,
                         what=f"tape gradient of input {i} of {getattr(fn, '__name__', fn)}")
        return grads


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
