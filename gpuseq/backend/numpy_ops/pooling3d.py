"""NumPy reference: 3-D max and average pooling.

Twin: ``cupy_ops/pooling3d.py`` (kernels/pooling3d.cu).

The volume is pooled channels last, ``(N, D, H, W, C)``; channels-first input is
transposed in and out. Padding follows TensorFlow: 'same' gives ceil(length /
stride) windows per axis with an odd extra element at the end; padded positions
never win a max and are not counted by an average. The saved argmax of a max
window is its offset ``(pd * PH + ph) * PW + pw`` of the first maximum in that
order, and the backward pass sends each window's gradient to that element only.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .conv import check_data_format, normalize_tuple, output_spatial, resolve_pads
from .conv3d import from_ndhwc, to_ndhwc


def pool3d_geometry(volume, pool_size, strides, padding):
    """(pool, strides, pads, out_dhw) of 3-D pooling over ``volume`` (D, H, W);
    ``strides`` None means the pool size."""
    pool = normalize_tuple(pool_size, 3, "pool_size")
    strides = pool if strides is None else normalize_tuple(strides, 3, "strides")
    pads = resolve_pads(volume, pool, strides, padding, (1, 1, 1))
    return pool, strides, pads, output_spatial(volume, pool, strides, pads, (1, 1, 1))


def window_counts3d(volume, pool, strides, pads, out_dhw):
    """Number of real (unpadded) elements of every window: (OD, OH, OW) int array."""
    per_axis = []
    for n, p, s, (a, _), o in zip(volume, pool, strides, pads, out_dhw):
        start = np.arange(o) * s - a
        per_axis.append(np.minimum(start + p, n) - np.maximum(start, 0))
    return per_axis[0][:, None, None] * per_axis[1][None, :, None] * per_axis[2][None, None, :]


def _pad(x, pads, value):
    if all(a == 0 and b == 0 for a, b in pads):
        return x
    n, d, h, w, c = x.shape
    (p0, p1), (p2, p3), (p4, p5) = pads
    out = np.full((n, d + p0 + p1, h + p2 + p3, w + p4 + p5, c), value, dtype=x.dtype)
    out[:, p0:p0 + d, p2:p2 + h, p4:p4 + w, :] = x
    return out


def _windows(xp_, pool, strides, out_dhw):
    """Read-only view (N, OD, OH, OW, PD, PH, PW, C) of the windows of a padded volume."""
    sn, sd, sh, sw, sc = xp_.strides
    shape = (xp_.shape[0],) + tuple(out_dhw) + tuple(pool) + (xp_.shape[4],)
    steps = (sn, sd * strides[0], sh * strides[1], sw * strides[2], sd, sh, sw, sc)
    return as_strided(xp_, shape, steps, writeable=False)


def _offset_slices(pool, strides, out_dhw):
    """Yield (k, spatial index) of each window offset, k in (pd, ph, pw) order."""
    k = 0
    for a in range(pool[0]):
        for b in range(pool[1]):
            for e in range(pool[2]):
                yield k, (slice(None),) + tuple(
                    slice(o, o + (n - 1) * s + 1, s)
                    for o, n, s in zip((a, b, e), out_dhw, strides)) + (slice(None),)
                k += 1


def pool3d_forward(x, pool_size=(2, 2, 2), strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """3-D max or average pooling.

    Args:
        x: (N, D, H, W, C) for channels_last, (N, C, D, H, W) for channels_first.
        pool_size: triple or int. strides: triple, int or None (= pool_size).
        padding: 'valid' or 'same'. mode: 'max' or 'avg'.

    Returns:
        (y, saved): y (N, OD, OH, OW, C) or channels first.
    """
    check_data_format(data_format)
    if mode not in ("max", "avg"):
        raise ValueError(f"pool3d: mode must be 'max' or 'avg'. Received: mode={mode!r}")
    xl = to_ndhwc(x, data_format)
    pool, strides, pads, out = pool3d_geometry(xl.shape[1:4], pool_size, strides, padding)
    n, c = xl.shape[0], xl.shape[4]
    if mode == "max":
        win = _windows(_pad(xl, pads, -np.inf), pool, strides, out)
        flat = win.reshape((n,) + tuple(out) + (int(np.prod(pool)), c))
        arg = flat.argmax(axis=4)
        y = np.take_along_axis(flat, arg[:, :, :, :, None, :], axis=4)[:, :, :, :, 0, :]
        saved = (xl.shape, arg)
    else:
        win = _windows(_pad(xl, pads, 0.0), pool, strides, out)
        counts = window_counts3d(xl.shape[1:4], pool, strides, pads, out)
        y = win.sum(axis=(4, 5, 6)) / counts[None, :, :, :, None].astype(x.dtype)
        saved = (xl.shape, None)
    return from_ndhwc(np.ascontiguousarray(y, dtype=x.dtype), data_format), saved


def pool3d_backward(gy, saved, pool_size=(2, 2, 2), strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    """-> (gx,): each max window's gradient to its first maximum; each average
    window's gradient shared among its real elements."""
    x_shape, arg = saved
    pool, strides, pads, out = pool3d_geometry(x_shape[1:4], pool_size, strides, padding)
    gl = to_ndhwc(gy, data_format)
    n, d, h, w, c = x_shape
    (p0, p1), (p2, p3), (p4, p5) = pads
    acc = np.zeros((n, d + p0 + p1, h + p2 + p3, w + p4 + p5, c), dtype=gy.dtype)
    if mode == "avg":
        counts = window_counts3d(x_shape[1:4], pool, strides, pads, out)
        share = gl / counts[None, :, :, :, None].astype(gy.dtype)
    for k, idx in _offset_slices(pool, strides, out):
        if mode == "max":
            acc[idx] += np.where(arg == k, gl, 0)
        else:
            acc[idx] += share
    gx = np.ascontiguousarray(acc[:, p0:p0 + d, p2:p2 + h, p4:p4 + w, :])
    return (from_ndhwc(gx, data_format),)
