"""Running one op on the active path and comparing it with a plain reference.

The op-family modules (test_<family>_ops.py) select a path with conftest's ``op_path``
fixture (host C++ kernels, NumPy ufuncs/BLAS, emulated CUDA, CuPy), run the op's
forward and backward there with :func:`run_op`, and compare both with the references
of tests/reference.py through :func:`assert_matches_reference`.
"""
import numpy as np

from gpuseq.backend import dispatch
from gpuseq.testing import assert_close


def run_op(op, inputs, attrs, gy=None):
    """``<op>_forward`` (and ``<op>_backward`` of gy when given) on the active path.

    Inputs are NumPy arrays (None for an absent operand); returns (y, grads) as NumPy
    arrays, grads a list with None where the op gives no gradient."""
    ops = dispatch.ops()
    dev = [None if a is None else dispatch.to_device(np.ascontiguousarray(a)) for a in inputs]
    y, saved = getattr(ops, op + "_forward")(*dev, **attrs)
    if gy is None:
        return dispatch.to_host(y), None
    g = getattr(ops, op + "_backward")(dispatch.to_device(np.ascontiguousarray(gy)), saved,
                                       **attrs)
    g = list(g) if isinstance(g, (tuple, list)) else [g]
    return dispatch.to_host(y), [None if a is None else dispatch.to_host(a) for a in g]


def assert_matches_reference(op, inputs, attrs, y_ref, grads_ref=None, gy=None, rtol=1e-10,
                             atol=1e-10):
    """The active path's forward (and gradients) equal the reference's values and have the
    dtype of the op's float inputs; a None reference gradient is not checked. Returns the
    path's (y, grads)."""
    y, grads = run_op(op, inputs, attrs, gy if grads_ref is not None else None)
    path = dispatch.backend()
    dtype = next(np.asarray(a).dtype for a in inputs
                 if a is not None and np.asarray(a).dtype.kind == "f")
    assert np.asarray(y).dtype == dtype, f"{op} on {path}: output dtype {y.dtype}, not {dtype}"
    assert_close(y, y_ref, rtol, atol, what=f"{op}_forward on {path}")
    for i, want in enumerate(grads_ref or []):
        if want is None:
            continue
        assert grads[i] is not None, f"{op}_backward on {path} gave None for input {i}"
        assert np.asarray(grads[i]).dtype == dtype, \
            f"{op}_backward on {path}: gradient {i} dtype {grads[i].dtype}, not {dtype}"
        assert_close(grads[i], want, rtol, atol, what=f"{op}_backward input {i} on {path}")
    return y, grads
