"""CUDA twin of ``numpy_ops/embedding.py``: row gather and scatter-add (kernels/embedding.cu)."""
from .. import dispatch
from ..numpy_ops.embedding import _check_indices
from ._common import float_input, launch_1d, xp


def _flat_ids(ids, input_dim):
    """Indices as a C-contiguous int64 array of the active backend, range-checked."""
    m = xp()
    a = m.asarray(ids)
    if a.dtype.kind not in "iu" or a.size == 0:
        host = _check_indices(dispatch.to_host(a), input_dim)
        a = m.asarray(host)
    elif a.size:
        lo, hi = int(a.min()), int(a.max())      # one small reduction, read by the host
        if lo < 0 or hi >= input_dim:
            _check_indices(dispatch.to_host(a), input_dim)   # raises the full message
    return m.ascontiguousarray(a.reshape(-1), dtype=m.int64)


def embedding_forward(ids, table):
    """ids: integer (N, ...); table: (V, D) -> y (N, ..., D) = table[ids]. saved = (ids, shape)."""
    table = float_input(table, "table")
    V, D = table.shape
    flat = _flat_ids(ids, V)
    out = xp().empty((flat.size, D), dtype=table.dtype)            # (n_ids, D)
    launch_1d("embedding", "embedding_forward", table.dtype, flat.size * D,
              (flat, table, out, flat.size, D))
    return out.reshape(tuple(xp().asarray(ids).shape) + (D,)), (flat, table.shape, table.dtype)


def embedding_backward(gy, saved):
    """-> (None, gtable (V, D)): gtable[v] = sum of gy rows whose id is v."""
    flat, (V, D), dt = saved
    g = float_input(gy, "gy", dtype=dt).reshape(-1, D)             # (n_ids, D)
    gt = xp().zeros((V, D), dtype=dt)
    launch_1d("embedding", "embedding_backward", dt, flat.size * D, (flat, g, gt, flat.size, D))
    return None, gt
