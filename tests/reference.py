"""Plain reference implementations of gpuseq's ops, one copy each, for the op tests.

Every op path (the tuned NumPy code, the host C++ kernels, the CUDA kernels emulated on
the CPU, CuPy on a GPU) is compared with these. They are written for reading, not for
speed: direct loops over output positions and kernel taps, recurrent cells one time
step at a time, optimizer rules as the Keras 2.2 formulas, all in float64. Never tune
them; a reference that needs to be fast is no longer obviously correct.

Contents:
    activations          ref_act, ref_act_grad, ref_dense, ref_dense_grads, ref_softmax,
                         ref_softmax_grad, ref_softmax_cross_entropy
    losses               ref_mse, ref_mae, ref_mape, ref_msle, ref_squared_hinge, ref_hinge,
                         ref_categorical_hinge, ref_logcosh, ref_bce, ref_cce, ref_scce,
                         ref_kld, ref_poisson, ref_cosine, LOSS_EPSILON (per-sample values)
    convolution          ref_pads, ref_conv1d, ref_conv2d, ref_conv1d_grads, ref_conv2d_grads
    pooling              ref_pool2d, ref_pool2d_grad, ref_pool1d, ref_pool1d_grad,
                         ref_global_pool
    embedding            ref_embedding, ref_embedding_grad
    batch normalization  ref_batch_norm
    recurrent            ref_lstm, ref_gru, ref_simple_rnn (Keras masking and go_backwards)
    optimizers           ref_optimizer_step, ref_nadam_schedule, ref_trajectory, DEFAULT_LR
    any reference        ref_numerical_grads (central differences, for references
                         without a backward pass of their own)
"""
import math

import numpy as np

# ---------------------------------------------------------------------------- activations

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def ref_act(z, activation):
    """y = activation(z), the Keras 2 definitions."""
    z = np.asarray(z, dtype=np.float64)
    if activation == "linear":
        return z
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "hard_sigmoid":
        return np.clip(0.2 * z + 0.5, 0.0, 1.0)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "elu":
        return np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1.0)
    if activation == "selu":
        return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * (np.exp(np.minimum(z, 0)) - 1.0))
    if activation == "softplus":
        return np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0.0)
    if activation == "softsign":
        return z / (1.0 + np.abs(z))
    if activation == "exponential":
        return np.exp(z)
    raise AssertionError(f"no reference for activation {activation!r}")


def ref_act_grad(z, activation):
    """d activation(z) / dz, element by element."""
    z = np.asarray(z, dtype=np.float64)
    if activation == "linear":
        return np.ones_like(z)
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "sigmoid":
        s = _sigmoid(z)
        return s * (1.0 - s)
    if activation == "hard_sigmoid":
        return np.where((z > -2.5) & (z < 2.5), 0.2, 0.0)
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if activation == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))
    if activation == "selu":
        return SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0)))
    if activation == "softplus":
        return _sigmoid(z)
    if activation == "softsign":
        return 1.0 / (1.0 + np.abs(z)) ** 2
    if activation == "exponential":
        return np.exp(z)
    raise AssertionError(f"no reference for activation {activation!r}")


def ref_softmax(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_softmax_grad(x, gy, axis=-1):
    """gx of sum(ref_softmax(x) * gy): the Jacobian y_i (delta_ij - y_j) applied to gy."""
    y = ref_softmax(x, axis)
    gy = np.asarray(gy, dtype=np.float64)
    return y * (gy - (gy * y).sum(axis=axis, keepdims=True))


def ref_dense(x, kernel, bias, activation="linear"):
    """activation(x @ kernel + bias) over the last axis of x."""
    z = np.asarray(x, np.float64) @ np.asarray(kernel, np.float64)
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    return ref_act(z, activation)


def ref_dense_grads(x, kernel, bias, gy, activation="linear"):
    """(gx, gkernel, gbias) of sum(ref_dense(...) * gy)."""
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    z = x @ kernel + (0.0 if bias is None else np.asarray(bias, np.float64))
    gz = np.asarray(gy, np.float64) * ref_act_grad(z, activation)
    x2, gz2 = x.reshape(-1, x.shape[-1]), gz.reshape(-1, gz.shape[-1])
    gb = None if bias is None else gz2.sum(axis=0)
    return gz @ kernel.T, x2.T @ gz2, gb


def ref_softmax_cross_entropy(logits, target, sparse=False, epsilon=1e-7):
    """Keras's categorical cross-entropy of softmax(logits), probabilities clipped to
    [epsilon, 1 - epsilon]; sparse targets are integer labels (negative ones count
    from the end). -> loss per row (...,)."""
    probs = ref_softmax(logits)
    classes = probs.shape[-1]
    if sparse:
        labels = np.asarray(target).reshape(probs.shape[:-1]).astype(np.int64) % classes
        t = np.zeros_like(probs)
        for idx in np.ndindex(*probs.shape[:-1]):
            t[idx + (labels[idx],)] = 1.0
    else:
        t = np.asarray(target, dtype=np.float64)
    return -(t * np.log(np.clip(probs, epsilon, 1 - epsilon))).sum(axis=-1)


# ---------------------------------------------------------------------------- losses
# The Keras 2 loss formulas, one value per sample (the mean or sum over the last axis),
# y_true t and y_pred p as float64 arrays; probabilities are clipped with Keras's fuzz
# factor exactly where Keras clips them.

LOSS_EPSILON = 1e-7


def _clip(a, lo, hi=np.inf):
    return np.minimum(np.maximum(a, lo), hi)


def ref_mse(t, p):
    return ((p - t) ** 2).mean(-1)


def ref_mae(t, p):
    return np.abs(p - t).mean(-1)


def ref_mape(t, p):
    return 100 * (np.abs(t - p) / _clip(np.abs(t), LOSS_EPSILON)).mean(-1)


def ref_msle(t, p):
    eps = LOSS_EPSILON
    return ((np.log(_clip(p, eps) + 1) - np.log(_clip(t, eps) + 1)) ** 2).mean(-1)


def ref_squared_hinge(t, p):
    return (np.maximum(1 - t * p, 0) ** 2).mean(-1)


def ref_hinge(t, p):
    return np.maximum(1 - t * p, 0).mean(-1)


def ref_categorical_hinge(t, p):
    """max(0, 1 + largest wrong-class score - true-class score), one-hot t."""
    return np.maximum(((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)


def ref_logcosh(t, p):
    return np.log(np.cosh(p - t)).mean(-1)


def ref_bce(t, p):
    """Binary cross-entropy of probabilities p."""
    q = _clip(p, LOSS_EPSILON, 1 - LOSS_EPSILON)
    return (-(t * np.log(q) + (1 - t) * np.log(1 - q))).mean(-1)


def ref_cce(t, p):
    """Categorical cross-entropy of p rescaled to sum to 1 over the last axis."""
    q = _clip(p / p.sum(-1, keepdims=True), LOSS_EPSILON, 1 - LOSS_EPSILON)
    return -(t * np.log(q)).sum(-1)


def ref_scce(labels, p):
    """Sparse categorical cross-entropy: integer labels of shape p.shape[:-1] (or with a
    trailing axis of 1); p rescaled to sum to 1 after clipping."""
    q = _clip(p, LOSS_EPSILON, 1 - LOSS_EPSILON)
    lab = labels.reshape(p.shape[:-1]).astype(int)
    picked = np.take_along_axis(q, lab[..., None], -1)[..., 0]
    return np.log(q.sum(-1)) - np.log(picked)


def ref_kld(t, p):
    """Kullback-Leibler divergence, both sides clipped to [epsilon, 1]."""
    t, p = _clip(t, LOSS_EPSILON, 1), _clip(p, LOSS_EPSILON, 1)
    return (t * np.log(t / p)).sum(-1)


def ref_poisson(t, p):
    return (p - t * np.log(p + LOSS_EPSILON)).mean(-1)


def ref_cosine(t, p):
    """Cosine proximity: minus the cosine of the angle between t and p."""
    tn = t / np.sqrt(np.maximum((t * t).sum(-1, keepdims=True), 1e-12))
    pn = p / np.sqrt(np.maximum((p * p).sum(-1, keepdims=True), 1e-12))
    return -(tn * pn).sum(-1)


# ---------------------------------------------------------------------------- convolution

def ref_pads(n, k, stride, dilation, padding):
    """TensorFlow's padding rule, written out: (before, after)."""
    if isinstance(padding, (tuple, list)):
        return tuple(padding)
    ek = (k - 1) * dilation + 1
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return ek - 1, 0
    out = math.ceil(n / stride)
    total = max((out - 1) * stride + ek - n, 0)
    return total // 2, total - total // 2


def _conv2d_pads(h, w, kh, kw, strides, dilation, padding):
    """((top, bottom), (left, right)): 'valid' or 'same' per axis, or explicit pads."""
    if isinstance(padding, (tuple, list)):
        return tuple(padding[0]), tuple(padding[1])
    return (ref_pads(h, kh, strides[0], dilation[0], padding),
            ref_pads(w, kw, strides[1], dilation[1], padding))


def _conv2d_pre(x, kernel, bias, strides, padding, dilation):
    """Pre-activation z of a channels-last cross-correlation, and the padding used."""
    n, h, w, _ = x.shape
    kh, kw, _, cout = kernel.shape
    (pt, pb), (pl, pr) = _conv2d_pads(h, w, kh, kw, strides, dilation, padding)
    xp = np.zeros((n, h + pt + pb, w + pl + pr, x.shape[3]))
    xp[:, pt:pt + h, pl:pl + w] = x
    oh = (h + pt + pb - (kh - 1) * dilation[0] - 1) // strides[0] + 1
    ow = (w + pl + pr - (kw - 1) * dilation[1] - 1) // strides[1] + 1
    z = np.zeros((n, oh, ow, cout))
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                for a in range(kh):
                    for c in range(kw):
                        r = i * strides[0] + a * dilation[0]
                        pix = xp[b, r, j * strides[1] + c * dilation[1]]
                        z[b, i, j] += pix @ kernel[a, c]
    if bias is not None:
        z += bias
    return z, ((pt, pb), (pl, pr))


def ref_conv2d(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1),
               data_format="channels_last", activation="linear"):
    """Cross-correlation by direct loops on an NHWC copy of x; padding 'valid', 'same'
    or explicit ((top, bottom), (left, right))."""
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    z, _ = _conv2d_pre(x, np.asarray(kernel, np.float64),
                       None if bias is None else np.asarray(bias, np.float64),
                       strides, padding, dilation)
    y = ref_act(z, activation)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_conv2d_grads(x, kernel, bias, gy, strides=(1, 1), padding="valid", dilation=(1, 1),
                     data_format="channels_last", activation="linear"):
    """(gx, gkernel, gbias) of sum(ref_conv2d(...) * gy), by the same direct loops:
    every (output pixel, tap) product sends gz back to its input pixel and kernel tap."""
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    gy = np.asarray(gy, dtype=np.float64)
    if data_format == "channels_first":
        x, gy = x.transpose(0, 2, 3, 1), gy.transpose(0, 2, 3, 1)
    z, ((pt, pb), (pl, pr)) = _conv2d_pre(
        x, kernel, None if bias is None else np.asarray(bias, np.float64), strides, padding,
        dilation)
    gz = gy * ref_act_grad(z, activation)
    n, h, w, _ = x.shape
    kh, kw = kernel.shape[:2]
    gxp = np.zeros((n, h + pt + pb, w + pl + pr, x.shape[3]))     # of the padded input
    xp = np.zeros_like(gxp)
    xp[:, pt:pt + h, pl:pl + w] = x
    gk = np.zeros_like(kernel)
    for b in range(n):
        for i in range(z.shape[1]):
            for j in range(z.shape[2]):
                for a in range(kh):
                    for c in range(kw):
                        r = i * strides[0] + a * dilation[0]
                        s = j * strides[1] + c * dilation[1]
                        gxp[b, r, s] += kernel[a, c] @ gz[b, i, j]
                        gk[a, c] += np.outer(xp[b, r, s], gz[b, i, j])
    gx = gxp[:, pt:pt + h, pl:pl + w]
    if data_format == "channels_first":
        gx = gx.transpose(0, 3, 1, 2)
    gb = None if bias is None else gz.sum(axis=(0, 1, 2))
    return gx, gk, gb


def _as_2d_conv(x, kernel, data_format):
    """A 1-D convolution is a 2-D one over a height-1 image: x -> (N, 1, L, C)."""
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    return x[:, None], np.asarray(kernel, dtype=np.float64)[None]


def ref_conv1d(x, kernel, bias, stride=1, padding="valid", dilation=1,
               data_format="channels_last", activation="linear"):
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    n, length, _ = x.shape
    k, _, cout = kernel.shape
    pa, pb = ref_pads(length, k, stride, dilation, padding)
    xp = np.concatenate([np.zeros((n, pa, x.shape[2])), x, np.zeros((n, pb, x.shape[2]))], 1)
    ol = (length + pa + pb - (k - 1) * dilation - 1) // stride + 1
    y = np.zeros((n, ol, cout))
    for t in range(ol):
        for a in range(k):
            y[:, t] += xp[:, t * stride + a * dilation] @ kernel[a]
    if bias is not None:
        y += bias
    y = ref_act(y, activation)
    return y.transpose(0, 2, 1) if data_format == "channels_first" else y


def ref_conv1d_grads(x, kernel, bias, gy, stride=1, padding="valid", dilation=1,
                     data_format="channels_last", activation="linear"):
    """(gx, gkernel, gbias) of sum(ref_conv1d(...) * gy), through the 2-D loops."""
    x2, k2 = _as_2d_conv(x, kernel, data_format)
    gy = np.asarray(gy, dtype=np.float64)
    if data_format == "channels_first":
        gy = gy.transpose(0, 2, 1)
    pads = ref_pads(x2.shape[2], kernel.shape[0], stride, dilation, padding)
    gx, gk, gb = _conv1d_grads_padded(x2, k2, bias, gy, stride, pads, dilation, activation)
    gx = gx[:, 0]
    if data_format == "channels_first":
        gx = gx.transpose(0, 2, 1)
    return gx, gk[0], gb


def _conv1d_grads_padded(x2, k2, bias, gy, stride, pads, dilation, activation):
    """ref_conv2d_grads with explicit (before, after) padding along the length only."""
    n, _, length, cin = x2.shape
    padded = np.concatenate([np.zeros((n, 1, pads[0], cin)), x2,
                             np.zeros((n, 1, pads[1], cin))], axis=2)
    gx, gk, gb = ref_conv2d_grads(padded, k2, bias, gy[:, None], (1, stride), "valid",
                                  (1, dilation), activation=activation)
    return gx[:, :, pads[0]:pads[0] + length], gk, gb


# ---------------------------------------------------------------------------- pooling

def _pool_geometry(h, w, pool, strides, padding):
    strides = strides or pool
    pads = []
    for size, p, s in zip((h, w), pool, strides):
        if padding == "valid":
            pads.append(0)
            continue
        out = math.ceil(size / s)
        pads.append(max((out - 1) * s + p - size, 0) // 2)
    if padding == "valid":
        oh, ow = (h - pool[0]) // strides[0] + 1, (w - pool[1]) // strides[1] + 1
    else:
        oh, ow = math.ceil(h / strides[0]), math.ceil(w / strides[1])
    return strides, pads, oh, ow


def ref_pool2d(x, pool, strides, padding, mode, data_format="channels_last"):
    """Direct loops over the output pixels; TF padding, padding excluded from windows."""
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    strides, pads, oh, ow = _pool_geometry(h, w, pool, strides, padding)
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * strides[0] - pads[0], j * strides[1] - pads[1]
            win = x[:, max(r0, 0):min(r0 + pool[0], h), max(c0, 0):min(c0 + pool[1], w)]
            y[:, i, j] = win.max(axis=(1, 2)) if mode == "max" else win.mean(axis=(1, 2))
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def ref_pool2d_grad(x, gy, pool, strides, padding, mode, data_format="channels_last"):
    """gx of sum(ref_pool2d(...) * gy): a max window sends its gradient to its first
    maximum (row-major order), an average window shares it over its real elements."""
    x = np.asarray(x, dtype=np.float64)
    gy = np.asarray(gy, dtype=np.float64)
    if data_format == "channels_first":
        x, gy = x.transpose(0, 2, 3, 1), gy.transpose(0, 2, 3, 1)
    n, h, w, c = x.shape
    strides, pads, oh, ow = _pool_geometry(h, w, pool, strides, padding)
    gx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    r0, c0 = i * strides[0] - pads[0], j * strides[1] - pads[1]
                    rows = range(max(r0, 0), min(r0 + pool[0], h))
                    cols = range(max(c0, 0), min(c0 + pool[1], w))
                    cells = [(r, s) for r in rows for s in cols]
                    if mode == "max":
                        best = cells[0]
                        for cell in cells[1:]:
                            if x[b, cell[0], cell[1], ch] > x[b, best[0], best[1], ch]:
                                best = cell
                        gx[b, best[0], best[1], ch] += gy[b, i, j, ch]
                    else:
                        for r, s in cells:
                            gx[b, r, s, ch] += gy[b, i, j, ch] / len(cells)
    return gx.transpose(0, 3, 1, 2) if data_format == "channels_first" else gx


def ref_pool1d(x, pool, strides, padding, mode, data_format="channels_last"):
    """1-D pooling as 2-D pooling over a height-1 image."""
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    y = ref_pool2d(x[:, None], (1, pool), (1, strides or pool), padding, mode)[:, 0]
    return y.transpose(0, 2, 1) if data_format == "channels_first" else y


def ref_pool1d_grad(x, gy, pool, strides, padding, mode, data_format="channels_last"):
    x = np.asarray(x, dtype=np.float64)
    gy = np.asarray(gy, dtype=np.float64)
    if data_format == "channels_first":
        x, gy = x.transpose(0, 2, 1), gy.transpose(0, 2, 1)
    gx = ref_pool2d_grad(x[:, None], gy[:, None], (1, pool), (1, strides or pool), padding,
                         mode)[:, 0]
    return gx.transpose(0, 2, 1) if data_format == "channels_first" else gx


def ref_global_pool(x, data_format="channels_last", mode="avg"):
    """Max or mean over every spatial axis -> (N, C)."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(1, x.ndim - 1)) if data_format == "channels_last" else \
        tuple(range(2, x.ndim))
    return x.max(axis=axes) if mode == "max" else x.mean(axis=axes)


# ---------------------------------------------------------------------------- embedding

def ref_embedding(ids, table):
    """Row ids[...] of the table for every index: (..., output_dim)."""
    ids = np.asarray(ids)
    y = np.zeros(ids.shape + (table.shape[1],))
    for idx in np.ndindex(*ids.shape):
        y[idx] = table[int(ids[idx])]
    return y


def ref_embedding_grad(ids, table_shape, gy):
    """gtable of sum(ref_embedding(...) * gy): each index adds its gy row to its row."""
    ids = np.asarray(ids)
    g = np.zeros(table_shape)
    for idx in np.ndindex(*ids.shape):
        g[int(ids[idx])] += gy[idx]
    return g


# ---------------------------------------------------------------------------- batch norm

def ref_batch_norm(x, gamma, beta, mean=None, var=None, eps=1e-3):
    """Direct formula over the last axis, float64 (batch statistics when mean is None)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x.reshape(-1, x.shape[-1])
    if mean is None:
        mean, var = x2.mean(axis=0), x2.var(axis=0)
    y = (x2 - mean) / np.sqrt(np.asarray(var, dtype=np.float64) + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y.reshape(x.shape)


# ---------------------------------------------------------------------------- recurrent
# Written from the Keras cell equations, one time step at a time, with Keras's masking
# rule (a masked step keeps the previous states and outputs the previous h, or zeros with
# zero_output_for_mask) and go_backwards order (the sequence is processed from the end
# and the outputs come in processing order).

def ref_run_cell(cell, x, states, mask, go_backwards, return_sequences, zero_output_for_mask):
    """Drive `cell(x_t, states) -> (h, new_states)` over time the way Keras does."""
    n, t, _ = x.shape
    order = range(t - 1, -1, -1) if go_backwards else range(t)
    outs = []
    for step in order:
        h, new = cell(x[:, step], states)
        if mask is not None:
            keep = mask[:, step][:, None]
            new = [np.where(keep, a, b) for a, b in zip(new, states)]
            h = np.where(keep, h, 0.0 if zero_output_for_mask else states[0])
        states = new
        outs.append(h)
    y = np.stack(outs, axis=1) if return_sequences else outs[-1]
    return y, states


def ref_lstm(x, W, U, b, h0, c0, mask=None, activation="tanh", recurrent_activation="sigmoid",
             go_backwards=False, return_sequences=False, zero_output_for_mask=False):
    u = U.shape[0]

    def cell(xt, states):
        h, c = states
        z = xt @ W + h @ U + (0 if b is None else b)
        i = ref_act(z[:, :u], recurrent_activation)
        f = ref_act(z[:, u:2 * u], recurrent_activation)
        g = ref_act(z[:, 2 * u:3 * u], activation)
        o = ref_act(z[:, 3 * u:], recurrent_activation)
        c = f * c + i * g
        h = o * ref_act(c, activation)
        return h, [h, c]

    return ref_run_cell(cell, x, [h0, c0], mask, go_backwards, return_sequences,
                        zero_output_for_mask)


def ref_gru(x, W, U, b, h0, mask=None, activation="tanh", recurrent_activation="sigmoid",
            reset_after=True, go_backwards=False, return_sequences=False,
            zero_output_for_mask=False):
    u = U.shape[0]

    def act(v):
        return ref_act(v, activation)

    def rec(v):
        return ref_act(v, recurrent_activation)

    def cell(xt, states):
        (h,) = states
        if reset_after:
            xp = xt @ W + b[0]
            hp = h @ U + b[1]
            z = rec(xp[:, :u] + hp[:, :u])
            r = rec(xp[:, u:2 * u] + hp[:, u:2 * u])
            hh = act(xp[:, 2 * u:] + r * hp[:, 2 * u:])
        else:
            xp = xt @ W + b
            z = rec(xp[:, :u] + h @ U[:, :u])
            r = rec(xp[:, u:2 * u] + h @ U[:, u:2 * u])
            hh = act(xp[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
        h = z * h + (1 - z) * hh
        return h, [h]

    return ref_run_cell(cell, x, [h0], mask, go_backwards, return_sequences,
                        zero_output_for_mask)


def ref_simple_rnn(x, W, U, b, h0, mask=None, activation="tanh", go_backwards=False,
                   return_sequences=False, zero_output_for_mask=False):
    def cell(xt, states):
        h = ref_act(xt @ W + states[0] @ U + b, activation)
        return h, [h]

    return ref_run_cell(cell, x, [h0], mask, go_backwards, return_sequences,
                        zero_output_for_mask)


# ---------------------------------------------------------------------------- optimizers

DEFAULT_LR = {"sgd": 0.01, "rmsprop": 0.001, "adagrad": 0.01, "adadelta": 1.0,
              "adam": 0.001, "adamax": 0.002, "nadam": 0.002}


def ref_nadam_schedule(t, m_schedule, beta_1=0.9, schedule_decay=0.004):
    """Keras 2.2 Nadam's momentum schedule at step t (1-based), given the product of the
    earlier steps' momentum caches: (mu_t, mu_t+1, m_schedule_new, m_schedule_next)."""
    mu_t = beta_1 * (1 - 0.5 * 0.96 ** (t * schedule_decay))
    mu_t1 = beta_1 * (1 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
    ms_new = m_schedule * mu_t
    return mu_t, mu_t1, ms_new, ms_new * mu_t1


def ref_optimizer_step(kind, cfg, p, g, s, t, lr, nadam=None):
    """One Keras 2.2 update of weight p (float64, not in place) with gradient g.

    s: the weight's state (a dict, updated: sgd 'v'; rmsprop / adagrad 'a'; adadelta 'a',
    'd'; adam 'm', 'v' (and 'vhat' with amsgrad); adamax 'm', 'u'; nadam 'm', 'v'), t: the
    1-based step, lr: this step's learning rate (time decay applied), nadam: the schedule
    of :func:`ref_nadam_schedule`. Returns the new p."""
    eps = cfg.get("epsilon", 1e-7)
    b1, b2 = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999)
    z = np.zeros_like(p)
    if kind == "sgd":
        mom = cfg.get("momentum", 0.0)
        v = mom * s.get("v", z) - lr * g
        s["v"] = v
        return p + mom * v - lr * g if cfg.get("nesterov") else p + v
    if kind == "rmsprop":
        a = cfg.get("rho", 0.9) * s.get("a", z) + (1 - cfg.get("rho", 0.9)) * g ** 2
        s["a"] = a
        return p - lr * g / (np.sqrt(a) + eps)
    if kind == "adagrad":
        a = s.get("a", z) + g ** 2
        s["a"] = a
        return p - lr * g / (np.sqrt(a) + eps)
    if kind == "adadelta":
        rho = cfg.get("rho", 0.95)
        a = rho * s.get("a", z) + (1 - rho) * g ** 2
        d = s.get("d", z)
        upd = g * np.sqrt(d + eps) / np.sqrt(a + eps)
        s["a"], s["d"] = a, rho * d + (1 - rho) * upd ** 2
        return p - lr * upd
    if kind == "adam":
        m = b1 * s.get("m", z) + (1 - b1) * g
        v = b2 * s.get("v", z) + (1 - b2) * g ** 2
        s["m"], s["v"] = m, v
        a_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        if cfg.get("amsgrad"):
            s["vhat"] = np.maximum(s.get("vhat", z), v)
            return p - a_t * m / (np.sqrt(s["vhat"]) + eps)
        return p - a_t * m / (np.sqrt(v) + eps)
    if kind == "adamax":
        m = b1 * s.get("m", z) + (1 - b1) * g
        u = np.maximum(b2 * s.get("u", z), np.abs(g))
        s["m"], s["u"] = m, u
        return p - lr / (1 - b1 ** t) * m / (u + eps)
    if kind == "nadam":
        mu_t, mu_t1, ms_new, ms_next = nadam
        g_prime = g / (1 - ms_new)
        m = b1 * s.get("m", z) + (1 - b1) * g
        v = b2 * s.get("v", z) + (1 - b2) * g ** 2
        s["m"], s["v"] = m, v
        m_bar = (1 - mu_t) * g_prime + mu_t1 * m / (1 - ms_next)
        return p - lr * m_bar / (np.sqrt(v / (1 - b2 ** t)) + eps)
    raise AssertionError(f"no reference for optimizer {kind!r}")


def ref_trajectory(kind, cfg, p0s, grad_fn, steps):
    """`steps` Keras 2.2 optimizer steps over several weights, with clipnorm (global
    norm), clipvalue and time decay; Nadam keeps its undecayed lr, as in Keras 2.2."""
    lr, decay = cfg.get("lr", DEFAULT_LR[kind]), cfg.get("decay", 0.0)
    ps = [p.copy() for p in p0s]
    st = [dict() for _ in ps]
    m_schedule = 1.0
    for it in range(steps):
        gs = grad_fn(ps)
        if cfg.get("clipnorm"):
            norm = math.sqrt(sum(float((g ** 2).sum()) for g in gs))
            if norm >= cfg["clipnorm"]:
                gs = [g * cfg["clipnorm"] / norm for g in gs]
        if cfg.get("clipvalue"):
            gs = [np.clip(g, -cfg["clipvalue"], cfg["clipvalue"]) for g in gs]
        lr_t = lr / (1.0 + decay * it) if decay > 0 else lr
        t = it + 1
        nadam = None
        if kind == "nadam":
            nadam = ref_nadam_schedule(t, m_schedule, cfg.get("beta_1", 0.9),
                                       cfg.get("schedule_decay", 0.004))
            m_schedule, lr_t = nadam[2], lr
        for i, g in enumerate(gs):
            ps[i] = ref_optimizer_step(kind, cfg, ps[i], g, st[i], t, lr_t, nadam)
    return ps


# ---------------------------------------------------------------------------- gradients

def ref_numerical_grads(fn, arrays, gy, eps=1e-6):
    """Central differences of sum(fn(*arrays) * gy) with respect to every array (None
    for the ones given as None or not of a float dtype). For references without a
    hand-written backward pass (the recurrent cells): small inputs only."""
    arrays = [None if a is None else np.array(a, dtype=np.float64)
              if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in arrays]
    grads = []
    for a in arrays:
        if a is None or a.dtype.kind != "f":
            grads.append(None)
            continue
        g = np.zeros_like(a)
        for idx in np.ndindex(*a.shape):
            old = a[idx]
            a[idx] = old + eps
            plus = float(np.sum(fn(*arrays) * gy))
            a[idx] = old - eps
            minus = float(np.sum(fn(*arrays) * gy))
            a[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads
