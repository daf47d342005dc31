"""CUDA twin of ``numpy_ops/embedding.py``: row gather and scatter-add (kernels/embedding.cu).

The indices are range-checked like the NumPy twin (a ValueError for an index
outside the vocabulary or a non-integer float). Indices that live on the host are
checked there; indices already on the device are checked with one small device
reduction read back once (three numbers), never by copying the indices to the
host. While a training step is captured as a CUDA graph the check is left to the
replaying runner, which makes it on each batch before the launch
(:func:`embedding_indices_check`, through ``Embedding.check_graph_inputs``). The
kernels themselves never read or write outside the table.
"""
import numpy

from .. import autodiff as ad
from .. import dispatch
from ..numpy_ops.embedding import _check_indices
from ._common import float_input, launch_1d, xp


def _flat_ids(ids, input_dim):
    """Indices as a C-contiguous int64 (n_ids,) array of the active backend, range-checked.

    Host indices on a GPU run are checked on the host before the upload. Device
    indices (and every index array under the emulation, whose device is the host)
    are checked by one reduction to (min, max, count of non-integers) on the
    device, read back at once: one small synchronisation, no copy of the indices.
    """
    m = xp()
    if ad.capturing_graph():
        # recorded, not run: the replaying runner checks every batch before its launch
        return m.ascontiguousarray(m.asarray(ids).reshape(-1), dtype=numpy.int64)
    if dispatch.backend() == "cupy" and not type(ids).__module__.startswith("cupy"):
        host = _check_indices(numpy.asarray(ids), input_dim)
        return m.ascontiguousarray(m.asarray(host).reshape(-1), dtype=numpy.int64)
    a = m.asarray(ids).reshape(-1)                                 # (n_ids,)
    if a.size == 0 or a.dtype.kind not in "iuf":
        # nothing to reduce, or bool / complex: the twin's check converts or refuses them
        a = m.asarray(_check_indices(dispatch.to_host(a), input_dim))
    elif a.dtype.kind in "iu":
        # integer ids: (min, max) in one read-back, the one synchronisation
        lo, hi = (int(v) for v in dispatch.to_host(m.stack([a.min(), a.max()])))
        if not (lo >= 0 and hi < input_dim):
            _check_indices(dispatch.to_host(m.asarray(ids)), input_dim)  # raises, with positions
    else:
        # (min, max, count of non-integers); NaN propagates into min/max and is counted
        frac = m.count_nonzero(a != m.floor(a))
        stats = m.stack([a.min().astype(numpy.float64), a.max().astype(numpy.float64),
                         m.asarray(frac).astype(numpy.float64)])
        lo, hi, n_frac = (float(v) for v in dispatch.to_host(stats))   # the one sync
        if n_frac != 0 or not (lo >= 0 and hi < input_dim):
            _check_indices(dispatch.to_host(m.asarray(ids)), input_dim)  # raises, with positions
    return m.ascontiguousarray(a, dtype=numpy.int64)


def embedding_indices_check(ids, input_dim):
    """Raise the ValueError of a lookup for indices outside ``[0, input_dim)`` or
    non-integer indices; None when they are valid (host or device ids, as the
    forward checks them). A replayed CUDA graph calls this on each batch."""
    _flat_ids(ids, input_dim)


def embedding_forward(ids, table):
    """ids: integer (N, ...); table: (V, D) -> y (N, ..., D) = table[ids]. saved = (ids, shape)."""
    table = float_input(table, "table")
    V, D = table.shape
    flat = _flat_ids(ids, V)
    out = xp().empty((flat.size, D), dtype=table.dtype)            # (n_ids, D)
    launch_1d("embedding", "embedding_forward", table.dtype, flat.size * D,
              (flat, table, out, flat.size, D, V))
    return out.reshape(tuple(xp().asarray(ids).shape) + (D,)), (flat, table.shape, table.dtype)


def embedding_backward(gy, saved):
    """-> (None, gtable (V, D)): gtable[v] = sum of gy rows whose id is v."""
    flat, (V, D), dt = saved
    g = float_input(gy, "gy", dtype=dt).reshape(-1, D)             # (n_ids, D)
    gt = xp().zeros((V, D), dtype=dt)
    launch_1d("embedding", "embedding_backward", dt, flat.size * D,
              (flat, g, gt, flat.size, D, V))
    return None, gt
