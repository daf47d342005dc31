"""NumPy reference: embedding lookup (row gather) and its gradient (row scatter-add).

Twin: ``cupy_ops/embedding.py`` (kernels/embedding.cu).
"""
import numpy as np


def _check_indices(ids, input_dim):
    if ids.dtype.kind not in "iu":
        if ids.dtype.kind == "f" and ids.size and not np.all(np.mod(ids, 1) == 0):
            at = tuple(int(i) for i in np.argwhere(~(np.mod(ids, 1) == 0))[0])
            raise ValueError(
                "Embedding expects integer indices; float indices are cast (as Keras 2 "
                "does) only when they are whole numbers, but the input holds "
                f"{ids[at].item()!r} at position {at}. Pass token ids (e.g. numpy int32), or "
                f"round them first. Received: indices of dtype {ids.dtype} "
                f"and shape {ids.shape}")
        ids = ids.astype(np.int64)
    if ids.size:
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= input_dim:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"Embedding received index {bad}, outside the vocabulary: valid indices are "
                f"0..{input_dim - 1} (input_dim={input_dim}). Raise input_dim to the "
                f"vocabulary size + 1, or map out-of-vocabulary tokens to a valid id. "
                f"Received: indices in [{lo}, {hi}]")
    return ids


def embedding_indices_check(ids, input_dim):
    """Raise the ValueError of a lookup for indices outside ``[0, input_dim)`` or
    non-integer indices; None when they are valid. What a forward checks, alone."""
    _check_indices(np.asarray(ids), input_dim)


def embedding_forward(ids, table):
    """ids: integer (N, ...) ; table: (V, D) -> y: (N, ..., D) = table[ids].

    saved = (flat ids, V). Indices outside 0..V-1 raise a ValueError.
    """
    ids = _check_indices(np.asarray(ids), table.shape[0])
    y = np.take(table, ids, axis=0)
    return y, (ids.reshape(-1), table.shape)


def embedding_backward(gy, saved):
    """-> (None, gtable (V, D)): gtable[v] = sum of gy over the positions whose id is v."""
    flat, shape = saved
    V, D = shape
    g = np.asarray(gy).reshape(-1, D)
    gt = np.zeros((V, D), dtype=g.dtype)
    if flat.size:
        # Scatter-add in rounds: round r adds the r-th occurrence of every id, so the
        # indices within a round are unique and a plain fancy-index += is exact.
        order = np.argsort(flat, kind="stable")
        sorted_ids = flat[order]
        n = flat.size
        starts = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]
        run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        rank = np.arange(n) - run_start                  # occurrence number of each id
        for r in range(int(rank.max()) + 1):
            sel = order[rank == r]
            gt[flat[sel]] += g[sel]
    return None, gt
