"""Checks shared by the test suite: finite-difference gradients and twin comparison.

``check_op_gradients`` differentiates a twin op of ``numpy_ops`` in float64 by
central differences and compares with its ``_backward``. ``check_function_gradients``
does the same for any function built from tape operations (``gpuseq.backend``
functions, losses, Lambda bodies): the tape's gradient against central differences. ``compare_with_numpy``
runs the same op on the active backend (cupy, or the emulated CUDA launch)
and on ``numpy_ops`` and compares forward and backward element-wise, printing
the first mismatching index and both values.
"""
import numpy as np

from .backend import autodiff as ad
from .backend import dispatch
from .backend import numpy_ops


def _as_list(x):
    return list(x) if isinstance(x, (tuple, list)) else [x]


def check_op_gradients(op, inputs, attrs=None, wrt=None, eps=1e-6, rtol=1e-5, atol=1e-7,
                       seed=0):
    """Finite-difference check of ``numpy_ops.<op>_backward`` in float64.

    Args:
        op: op name (``'dense'`` checks ``dense_forward`` / ``dense_backward``).
        inputs: list of NumPy arrays (float inputs are cast to float64).
        attrs: keyword attributes of the op.
        wrt: indices of the inputs to check (default: every float input).
    """
    attrs = attrs or {}
    fwd = getattr(numpy_ops, op + "_forward")
    bwd = getattr(numpy_ops, op + "_backward")
    xs = [None if a is None else (np.asarray(a, dtype=np.float64)
                                  if np.asarray(a).dtype.kind == "f" else np.asarray(a))
          for a in inputs]
    rng = np.random.default_rng(seed)
    y, saved = fwd(*[None if a is None else a.copy() for a in xs], **attrs)
    gy = rng.standard_normal(np.shape(y))
    grads = _as_list(bwd(gy, saved, **attrs))
    if wrt is None:
        wrt = [i for i, a in enumerate(xs) if a is not None and a.dtype.kind == "f"]
    for i in wrt:
        x = xs[i]
        num = np.zeros_like(x)
        it = np.nditer(x, flags=["multi_index"])
        for _ in it:
            idx = it.multi_index
            old = x[idx]
            x[idx] = old + eps
            fp = np.sum(fwd(*[None if a is None else a.copy() for a in xs], **attrs)[0] * gy)
            x[idx] = old - eps
            fm = np.sum(fwd(*[None if a is None else a.copy() for a in xs], **attrs)[0] * gy)
            x[idx] = old
            num[idx] = (fp - fm) / (2 * eps)
        assert grads[i] is not None, f"{op}_backward returned None for input {i}"
        assert_close(np.asarray(grads[i]), num, rtol=rtol, atol=atol,
                     what=f"{op}_backward gradient of input {i}")


def assert_close(actual, expected, rtol, atol, what="values"):
    """np.testing-like check that reports the first bad index and both values."""
    actual = np.asarray(dispatch.to_host(actual), dtype=np.float64)
    expected = np.asarray(dispatch.to_host(expected), dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at index {idx}: "
            f"got {actual[idx]!r}, expected {expected[idx]!r} (rtol={rtol}, atol={atol})")


def compare_with_numpy(op, inputs, attrs=None, rtol=1e-5, atol=1e-6, seed=0, backward=True):
    """Run ``<op>_forward``/``_backward`` on the active backend and on numpy_ops; compare.

    Inputs are NumPy arrays; they are moved to the active backend's device.
    Returns (output of the active backend as NumPy, output of numpy_ops).
    """
    attrs = attrs or {}
    ops = dispatch.ops()
    dev = [None if a is None else dispatch.to_device(np.ascontiguousarray(a)) for a in inputs]
    y, saved = getattr(ops, op + "_forward")(*dev, **attrs)
    y_ref, saved_ref = getattr(numpy_ops, op + "_forward")(
        *[None if a is None else np.array(a) for a in inputs], **attrs)
    assert_close(y, y_ref, rtol, atol, what=f"{op}_forward on {dispatch.backend()}")
    if backward:
        rng = np.random.default_rng(seed)
        gy = rng.standard_normal(np.shape(y_ref)).astype(np.asarray(y_ref).dtype)
        g = _as_list(getattr(ops, op + "_backward")(dispatch.to_device(gy), saved, **attrs))
        g_ref = _as_list(getattr(numpy_ops, op + "_backward")(gy, saved_ref, **attrs))
        for i, (a, b) in enumerate(zip(g, g_ref)):
            if b is None:
                continue
            assert a is not None, f"{op}_backward on {dispatch.backend()} gave None for input {i}"
            assert_close(a, b, rtol, atol, what=f"{op}_backward input {i} on {dispatch.backend()}")
    return dispatch.to_host(y), y_ref


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
