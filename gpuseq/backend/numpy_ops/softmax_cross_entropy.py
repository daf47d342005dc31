"""NumPy reference: fused softmax + categorical cross-entropy on logits.

Used when a model ends in softmax and is compiled with categorical or sparse
categorical cross-entropy. The loss value keeps Keras's clipping semantics:
``loss = -sum(target * log(clip(softmax(logits), eps, 1 - eps)))`` with
eps = 1e-7; the gradient is the exact derivative of that formula (it equals
``softmax - target`` whenever no probability is clipped).

Twin: ``cupy_ops/softmax_cross_entropy.py`` (kernels/softmax_cross_entropy.cu).
"""
import numpy as np

EPSILON = 1e-7


def _softmax_rows(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _dense_target(target, n_classes, dtype):
    """Class labels (...,) or (..., 1) -> one-hot (..., C)."""
    lab = target.reshape(target.shape[:-1]) if (target.ndim > 1 and target.shape[-1] == 1) \
        else target
    lab = lab.astype(np.int64)          # float labels count as class indices, as in Keras
    oh = np.zeros(lab.shape + (n_classes,), dtype=dtype)
    np.put_along_axis(oh, lab[..., None], 1, axis=-1)
    return oh


def softmax_cross_entropy_forward(logits, target, sparse=False, epsilon=EPSILON):
    """logits: (..., C); target: (..., C) probabilities, or integer labels (...,) when sparse.

    -> loss (...,) per sample (and per time step for 3-D outputs).
    saved = (probs (..., C), one-hot/probability target (..., C)).
    """
    probs = _softmax_rows(logits)
    t = _dense_target(target, logits.shape[-1], logits.dtype) if sparse else \
        target.astype(logits.dtype, copy=False)
    p = np.clip(probs, epsilon, 1 - epsilon)
    loss = -(t * np.log(p)).sum(axis=-1)
    return loss.astype(logits.dtype, copy=False), (probs, t)


def softmax_cross_entropy_backward(gloss, saved, sparse=False, epsilon=EPSILON):
    """-> (glogits (..., C), None). Exact gradient of the clipped formula."""
    probs, t = saved
    inside = (probs > epsilon) & (probs < 1 - epsilon)
    gp = np.where(inside, -t / np.where(inside, probs, 1), 0) * gloss[..., None]
    glogits = probs * (gp - (gp * probs).sum(axis=-1, keepdims=True))
    return glogits.astype(probs.dtype, copy=False), None
