"""CUDA twin of ``numpy_ops/softmax_cross_entropy.py``: fused softmax + cross-entropy.

Kernels: kernels/softmax_cross_entropy.cu. One block per row computes the
stable softmax and the clipped loss in one pass over the logits; the backward is
the exact gradient of the clipped formula. Sparse targets are int64 labels and
are never expanded to one-hot on the device.

``saved`` = (probs (..., C), target (..., C) or labels (rows,), is_labels).
"""
import numpy

from ..numpy_ops.softmax_cross_entropy import EPSILON
from ._common import float_input, launch_1d, launch_rows, xp


def _labels(target, lead_shape):
    """Integer labels (...,) or (..., 1) -> flat int64 (rows,)."""
    m = xp()
    t = m.asarray(target)
    if t.dtype.kind == "f":
        # Keras casts sparse labels to integers; float labels must hold whole numbers.
        t = t.astype(numpy.int64)
    if t.ndim > 1 and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    if tuple(t.shape) != tuple(lead_shape):
        raise ValueError(
            "sparse softmax_cross_entropy expected integer labels of shape "
            f"{tuple(lead_shape)} (or {tuple(lead_shape) + (1,)}), one per row of the logits. "
            f"Received: target.shape={tuple(m.asarray(target).shape)}")
    return m.ascontiguousarray(t.reshape(-1), dtype=numpy.int64)


def _clip_bounds(dtype, epsilon):
    """(eps, 1 - eps) computed in double and rounded once to the kernel's T."""
    t = numpy.dtype(dtype).type
    return t(epsilon), t(1.0 - epsilon)


def softmax_cross_entropy_forward(logits, target, sparse=False, epsilon=EPSILON):
    """logits: (..., C); target: (..., C) probabilities, or integer labels (...,) when sparse.

    -> loss (...,) per sample (and per time step for 3-D outputs).
    """
    logits = float_input(logits, "logits")
    lead = tuple(logits.shape[:-1])
    cols = logits.shape[-1]
    rows = logits.size // cols if cols else int(numpy.prod(lead))
    probs = xp().empty_like(logits)                            # (..., C)
    loss = xp().empty(lead, dtype=logits.dtype)                # (...,)
    lo, hi = _clip_bounds(logits.dtype, epsilon)
    if cols == 0 and rows:
        raise ValueError("softmax_cross_entropy needs at least one class, but the logits have "
                         f"an empty last axis. Received: logits.shape={tuple(logits.shape)}")
    tgt = xp().asarray(target)
    # Integer targets are labels; so are float ones that are not (..., C) probabilities.
    is_labels = bool(sparse) and (tgt.dtype.kind in "iu" or (
        tgt.dtype.kind == "f" and tuple(tgt.shape) != tuple(logits.shape)))
    if is_labels:
        t = _labels(target, lead)                              # (rows,) int64
        launch_rows("softmax_cross_entropy", "sparse_softmax_ce_forward", logits.dtype,
                    rows, cols, (logits, t, probs, loss, rows, cols, lo, hi))
    else:
        t = xp().ascontiguousarray(                            # (..., C)
            xp().broadcast_to(tgt.astype(logits.dtype, copy=False), logits.shape))
        launch_rows("softmax_cross_entropy", "softmax_ce_forward", logits.dtype,
                    rows, cols, (logits, t, probs, loss, rows, cols, lo, hi))
    return loss, (probs, t, is_labels)


def softmax_cross_entropy_backward(gloss, saved, sparse=False, epsilon=EPSILON):
    """-> (glogits (..., C), None). Exact gradient of the clipped formula."""
    probs, t, is_labels = saved
    cols = probs.shape[-1]
    rows = probs.size // cols if cols else 0
    gloss = float_input(gloss, "gloss", dtype=probs.dtype)     # (...,)
    glogits = xp().empty_like(probs)                           # (..., C)
    lo, hi = _clip_bounds(probs.dtype, epsilon)
    if is_labels:
        launch_1d("softmax_cross_entropy", "sparse_softmax_ce_backward", probs.dtype,
                  probs.size, (probs, t, gloss, glogits, rows, cols, lo, hi))
    else:
        launch_rows("softmax_cross_entropy", "softmax_ce_backward", probs.dtype, rows, cols,
                    (probs, t, gloss, glogits, rows, cols, lo, hi))
    return glogits, None
