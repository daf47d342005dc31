"""NumPy reference: max / average pooling (1-D, 2-D, global) and the spatial
reshaping ops (zero padding, cropping, nearest-neighbour up-sampling).

Twin: ``cupy_ops/pooling.py`` (kernels/pooling.cu).

Pooling follows TensorFlow: 'same' padding puts an odd extra element at the
bottom / right; padded positions never win a max and are not counted by an
average (the divisor of each window is its number of real elements). Max
pooling sends the gradient of a window to its first maximum in row-major
window order (ky, kx); the backward pass recomputes it from the input and the
output (the CUDA twin records it in an ``argmax`` array instead).

Pooling loops over the offsets of the pooling window (a handful), never over
pixels: each step is one strided view of the input (a reshape-like view when
the stride equals the pool size) combined elementwise with the running result.

1-D and global pooling of channels_last float32/float64 data run in the host
kernels instead (``_pooling_host``, kernels/host/pooling.cpp: one pass per call,
the same operations in the same order) when they build here, and so does 2-D max
pooling of such data, as two 1-D passes (along the rows, then along the columns of
the row maxima; see :func:`_max_pool2d_host_forward`); the code below is their
fallback and reference.
"""
import math

import numpy as np

from . import _pooling_host
from .conv import check_data_format, normalize_tuple, output_spatial, resolve_pads


def _spatial_index(data_format, slices):
    """Full index tuple placing ``slices`` on the spatial axes."""
    if data_format == "channels_last":
        return (slice(None),) + tuple(slices) + (slice(None),)
    return (slice(None), slice(None)) + tuple(slices)


def _spatial_shape(shape, data_format):
    return tuple(shape[1:-1]) if data_format == "channels_last" else tuple(shape[2:])


def _with_spatial(shape, spatial, data_format):
    if data_format == "channels_last":
        return (shape[0],) + tuple(spatial) + (shape[-1],)
    return (shape[0], shape[1]) + tuple(spatial)


def _pool_geometry(x_shape, pool_size, strides, padding, data_format):
    check_data_format(data_format)
    pool = normalize_tuple(pool_size, 2, "pool_size")
    strides = pool if strides is None else normalize_tuple(strides, 2, "strides")
    hw = _spatial_shape(x_shape, data_format)
    pads = resolve_pads(hw, pool, strides, padding, (1, 1))
    out_hw = output_spatial(hw, pool, strides, pads, (1, 1))
    return pool, strides, pads, hw, out_hw


def _pad_spatial(x, pads, data_format, value):
    if all(a == 0 and b == 0 for a, b in pads):
        return x
    spatial = _spatial_shape(x.shape, data_format)
    full = _with_spatial(x.shape, [n + a + b for n, (a, b) in zip(spatial, pads)], data_format)
    out = np.full(full, value, dtype=x.dtype)
    out[_spatial_index(data_format, [slice(a, a + n) for n, (a, _) in zip(spatial, pads)])] = x
    return out


def _window_views(xp, pool, strides, out_hw, data_format):
    """Yield (k, index tuple) of each pooling-window offset, k in row-major order."""
    (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
    k = 0
    for i in range(ph):
        for j in range(pw):
            yield k, _spatial_index(data_format, (slice(i, i + (oh - 1) * sh + 1, sh),
                                                  slice(j, j + (ow - 1) * sw + 1, sw)))
            k += 1


def window_counts(hw, pool, strides, pads, out_hw):
    """Number of real (unpadded) elements of every window: (OH, OW) int array."""
    counts = []
    for n, p, s, (a, _), o in zip(hw, pool, strides, pads, out_hw):
        start = np.arange(o) * s - a
        counts.append(np.minimum(start + p, n) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1])


def pool2d_forward(x, pool_size=(2, 2), strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """2-D max or average pooling.

    Args:
        x: (N, H, W, C) for channels_last, (N, C, H, W) for channels_first.
        pool_size: pair of window sizes; strides: pair (None = pool_size).
        padding: 'valid' or 'same' (TensorFlow rule).
        mode: 'max' or 'avg'.

    Returns:
        (y, saved): y (N, OH, OW, C) or (N, C, OH, OW). For 'max', saved holds the
        (padded) input and y: the backward pass recomputes which element of each
        window was the first maximum.
    """
    pool, strides, pads, hw, out_hw = _pool_geometry(x.shape, pool_size, strides, padding,
                                                     data_format)
    fns = _max_pool2d_host(x, data_format, mode, pads, out_hw)
    if fns is not None:
        y, rows = _max_pool2d_host_forward(fns, x, pool, strides, pads, out_hw)
        return y, (tuple(x.shape), x, y, rows)
    if mode == "max":
        xp = _pad_spatial(x, pads, data_format, -np.inf)
        y = None
        for _, idx in _window_views(xp, pool, strides, out_hw, data_format):
            if y is None:
                y = xp[idx].copy()
            else:
                np.maximum(y, xp[idx], out=y)
        return y, (tuple(x.shape), xp, y, None)
    if mode == "avg":
        xp = _pad_spatial(x, pads, data_format, 0)
        y = None
        for _, idx in _window_views(xp, pool, strides, out_hw, data_format):
            if y is None:
                y = xp[idx].copy()
            else:
                y += xp[idx]
        counts = window_counts(hw, pool, strides, pads, out_hw).astype(x.dtype)
        y /= counts.reshape(_with_spatial((1, 1), out_hw, data_format))
        return y, (tuple(x.shape), None, None, None)
    raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")


def pool2d_backward(gy, saved, pool_size=(2, 2), strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    """-> (gx,) shaped like the input: each output gradient summed back onto the
    element(s) it came from (max: the first maximum of the window in row-major
    window order)."""
    x_shape, xp, y, rows = saved
    pool, strides, pads, hw, out_hw = _pool_geometry(x_shape, pool_size, strides, padding,
                                                     data_format)
    if rows is not None:                # a forward pass on the host kernels
        fns = _pooling_host.functions(gy.dtype)
        if fns is not None and gy.dtype == y.dtype:
            return (_max_pool2d_host_backward(fns, gy, xp, rows, y, pool, strides, pads,
                                              out_hw),)
        xp = _pad_spatial(xp, pads, data_format, -np.inf)
    padded = _with_spatial(x_shape, [n + a + b for n, (a, b) in zip(hw, pads)], data_format)
    gxp = np.zeros(padded, dtype=gy.dtype)
    # windows that do not overlap receive disjoint slices: assign instead of add
    disjoint = all(s >= p for s, p in zip(strides, pool))
    if mode == "max":
        taken = None                                   # windows whose maximum is found
        hit = np.empty(y.shape, dtype=bool)
        for _, idx in _window_views(xp, pool, strides, out_hw, data_format):
            np.equal(xp[idx], y, out=hit)
            if taken is None:
                taken = hit.copy()
            else:
                hit &= ~taken
                taken |= hit
            if disjoint:
                np.multiply(gy, hit, out=gxp[idx])
            else:
                gxp[idx] += gy * hit
    else:
        counts = window_counts(hw, pool, strides, pads, out_hw).astype(gy.dtype)
        g = gy / counts.reshape(_with_spatial((1, 1), out_hw, data_format))
        for _, idx in _window_views(gxp, pool, strides, out_hw, data_format):
            if disjoint:
                gxp[idx] = g
            else:
                gxp[idx] += g
    if padded == tuple(x_shape):
        return (gxp,)
    inner = _spatial_index(data_format, [slice(a, a + n) for n, (a, _) in zip(hw, pads)])
    return (np.ascontiguousarray(gxp[inner]),)


def _max_pool2d_host(x, data_format, mode, pads, out_hw):
    """The host kernels for a 2-D max pooling, or None where the NumPy code runs
    (channels_first, average pooling, another dtype, no windows, negative pads)."""
    if data_format != "channels_last" or mode != "max" or x.ndim != 4 or \
            min(out_hw) < 1 or min(min(p) for p in pads) < 0:
        return None
    return _pooling_host.functions(x.dtype)


def _max_pool2d_host_forward(fns, x, pool, strides, pads, out_hw):
    """2-D max pooling of (N, H, W, C) as two 1-D host poolings: along the rows, then
    along the columns of the row maxima. -> (y (N, OH, OW, C), rows (N*H, OW, C)).

    The maximum is separable, and so is the first maximum in row-major window order
    (the first row holding the window's maximum, then the first column of that row
    holding it), so both passes give the values and gradients of the one-pass op."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
    rows = _pooling_host.pool1d_forward(fns, x.reshape(n * h, w, c), pw, sw, pads[1],
                                        "max")                  # (N*H, OW, C)
    y = _pooling_host.pool1d_forward(fns, rows.reshape(n, h, ow * c), ph, sh, pads[0],
                                     "max")                     # (N, OH, OW*C)
    return y.reshape(n, oh, ow, c), rows


def _max_pool2d_host_backward(fns, gy, x, rows, y, pool, strides, pads, out_hw):
    """Gradient of :func:`_max_pool2d_host_forward`: back through the column pass onto
    the row maxima, then through the row pass onto the input. -> gx (N, H, W, C)."""
    n, h, w, c = x.shape
    (ph, pw), (sh, sw), (oh, ow) = pool, strides, out_hw
    grows = _pooling_host.pool1d_backward(
        fns, gy.reshape(n, oh, ow * c), rows.reshape(n, h, ow * c), y.reshape(n, oh, ow * c),
        h, ph, sh, pads[0], "max")                              # (N, H, OW*C)
    gx = _pooling_host.pool1d_backward(fns, grows.reshape(n * h, ow, c),
                                       x.reshape(n * h, w, c), rows, w, pw, sw, pads[1],
                                       "max")                   # (N*H, W, C)
    return gx.reshape(n, h, w, c)


def _as_2d(x, data_format):
    # channels_last (N, L, C) -> (N, 1, L, C); channels_first (N, C, L) -> (N, C, 1, L)
    return x[:, None] if data_format == "channels_last" else x[:, :, None]


def _from_2d(y, data_format):
    return y[:, 0] if data_format == "channels_last" else y[:, :, 0]


def _pool1d_attrs(pool_size, strides, padding, data_format):
    """The 2-D attributes (height 1) of a 1-D pooling (used by the CUDA twin)."""
    (p,) = normalize_tuple(pool_size, 1, "pool_size")
    (s,) = (p,) if strides is None else normalize_tuple(strides, 1, "strides")
    if isinstance(padding, str):
        pads = padding
    else:
        pads = ((0, 0), tuple(padding))
    return dict(pool_size=(1, p), strides=(1, s), padding=pads, data_format=data_format)


_GEOMETRIES = {}        # (length, pool, stride, padding, data_format) -> geometry


def _pool1d_geometry(length, pool_size, strides, padding, data_format):
    """-> (pool, stride, (pad_before, pad_after), output length) of a 1-D pooling.

    Remembered for the attributes layers pass (int pool size and stride, string padding
    and data format): a training step asks for the same few geometries every time."""
    if not (type(pool_size) is int and (strides is None or type(strides) is int)
            and type(padding) is str and type(data_format) is str):
        return _pool1d_geometry_of(length, pool_size, strides, padding, data_format)
    key = (length, pool_size, strides, padding, data_format)
    geometry = _GEOMETRIES.get(key)
    if geometry is None:
        geometry = _pool1d_geometry_of(length, pool_size, strides, padding, data_format)
        if len(_GEOMETRIES) < 1024:
            _GEOMETRIES[key] = geometry
    return geometry


def _pool1d_geometry_of(length, pool_size, strides, padding, data_format):
    check_data_format(data_format)
    (p,) = normalize_tuple(pool_size, 1, "pool_size")
    (s,) = (p,) if strides is None else normalize_tuple(strides, 1, "strides")
    if isinstance(padding, str):
        ((_, _), pads) = resolve_pads((1, length), (1, p), (1, s), padding, (1, 1))
    else:
        pads = tuple(int(v) for v in padding)
    ol = output_spatial((length,), (p,), (s,), (pads,), (1,))[0]
    return p, s, pads, ol


def _pad_steps(x, pads, axis, value):
    """Pad the steps axis (1 or 2) of a 3-D array with ``value`` (no copy when none)."""
    pa, pb = pads
    if pa == pb == 0:
        return x
    shape = list(x.shape)
    shape[axis] += pa + pb
    out = np.full(shape, value, dtype=x.dtype)
    out[(slice(None),) * axis + (slice(pa, pa + x.shape[axis]),)] = x
    return out


def _step_windows(p, s, ol, axis):
    """Index tuples of the window offsets 0..p-1: offset j of every window, strided."""
    return [(slice(None),) * axis + (slice(j, j + (ol - 1) * s + 1, s),) for j in range(p)]


def _pool1d_host(dtype, data_format, mode, pads, ol):
    """The host kernels for a 1-D pooling, or None where the NumPy code runs
    (channels_first, another dtype, no windows, negative explicit pads)."""
    if data_format != "channels_last" or mode not in _pooling_host.MODES or ol < 1 or \
            pads[0] < 0 or pads[1] < 0:
        return None
    return _pooling_host.functions(dtype)


def pool1d_forward(x, pool_size=2, strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """1-D max or average pooling (the same rules as :func:`pool2d_forward`).

    Args:
        x: (N, L, C) for channels_last, (N, C, L) for channels_first.
        pool_size: window length; strides: step between windows (None = pool_size).
        padding: 'valid', 'same' or explicit (before, after).
        mode: 'max' or 'avg'.

    Returns:
        (y, saved) with y (N, OL, C) or (N, C, OL). For 'max', saved holds the input
        and y: the backward pass recomputes the first maximum of each window. With the
        host kernels (channels_last float32/float64) one pass over the unpadded input
        computes y; otherwise each window offset is one strided view of the padded
        input, combined elementwise with the running result, and the saved input is
        the padded one.
    """
    axis = 1 if data_format == "channels_last" else 2
    p, s, pads, ol = _pool1d_geometry(x.shape[axis], pool_size, strides, padding, data_format)
    fns = _pool1d_host(x.dtype, data_format, mode, pads, ol) if x.ndim == 3 else None
    if fns is not None:
        y = _pooling_host.pool1d_forward(fns, x, p, s, pads, mode)
        keep = mode == "max"
        return y, (tuple(x.shape), x if keep else None, y if keep else None, (p, s, pads, ol))
    idx = _step_windows(p, s, ol, axis)
    if mode == "max":
        xp = _pad_steps(x, pads, axis, -np.inf)                 # (N, Lp, C) | (N, C, Lp)
        y = xp[idx[0]].copy() if p == 1 else np.maximum(xp[idx[0]], xp[idx[1]])
        for j in range(2, p):
            np.maximum(y, xp[idx[j]], out=y)
        return y, (tuple(x.shape), xp, y, (p, s, pads, ol))
    if mode == "avg":
        xp = _pad_steps(x, pads, axis, 0)
        y = xp[idx[0]].copy() if p == 1 else np.add(xp[idx[0]], xp[idx[1]])
        for j in range(2, p):
            y += xp[idx[j]]
        counts = window_counts((1, x.shape[axis]), (1, p), (1, s), ((0, 0), pads),
                               (1, ol))[0].astype(x.dtype)     # (OL,)
        y /= counts[:, None] if axis == 1 else counts
        return y, (tuple(x.shape), None, None, (p, s, pads, ol))
    raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")


def pool1d_backward(gy, saved, pool_size=2, strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    """-> (gx,) shaped like the input (max: to the first maximum of each window).

    Runs in the host kernels for channels_last float32/float64 gradients when they
    build here (for 'max', when the saved input is the unpadded one of a host forward
    pass or there is no padding, and of the gradient's dtype); otherwise in NumPy,
    which pads a saved unpadded input itself (a host forward pass followed by a
    backward pass with the host kernels switched off)."""
    x_shape, xp, y, (p, s, (pa, pb), ol) = saved
    axis = 1 if data_format == "channels_last" else 2
    fns = _pool1d_host(gy.dtype, data_format, mode, (pa, pb), ol) \
        if len(x_shape) == 3 and gy.ndim == 3 else None
    if fns is not None and (mode == "avg" or (tuple(xp.shape) == tuple(x_shape)
                                              and xp.dtype == y.dtype == gy.dtype)):
        return (_pooling_host.pool1d_backward(fns, gy, xp, y, x_shape[1], p, s, (pa, pb),
                                              mode),)
    idx = _step_windows(p, s, ol, axis)
    padded = list(x_shape)
    padded[axis] += pa + pb
    if mode == "max" and xp.shape[axis] != padded[axis]:       # saved by the host kernels
        xp = _pad_steps(xp, (pa, pb), axis, -np.inf)
    disjoint = s >= p
    # disjoint windows that tile the padded input assign every element exactly once
    gxp = (np.empty if disjoint and ol * p == padded[axis] else np.zeros)(padded, gy.dtype)
    if mode == "max":
        rest = None                    # where the window's maximum is not found yet
        for j in range(p):
            hit = np.equal(xp[idx[j]], y)
            if rest is not None:
                hit &= rest
            if j + 1 < p:
                rest = ~hit if rest is None else rest & ~hit
            if disjoint:
                np.multiply(gy, hit, out=gxp[idx[j]])
            else:
                gxp[idx[j]] += gy * hit
    else:
        counts = window_counts((1, x_shape[axis]), (1, p), (1, s), ((0, 0), (pa, pb)),
                               (1, ol))[0].astype(gy.dtype)
        g = gy / (counts[:, None] if axis == 1 else counts)
        for j in range(p):
            if disjoint:
                gxp[idx[j]] = g
            else:
                gxp[idx[j]] += g
    if pa == pb == 0:
        return (gxp,)
    return (np.ascontiguousarray(gxp[(slice(None),) * axis + (slice(pa, pa + x_shape[axis]),)]),)


# ---------------------------------------------------------------------------
# Global pooling (a reduction over every spatial axis)
# ---------------------------------------------------------------------------

def _nsc(x, data_format):
    """View as (N, S, C) for channels_last or (N, C, S) for channels_first."""
    if data_format == "channels_last":
        return x.reshape(x.shape[0], -1, x.shape[-1])
    return x.reshape(x.shape[0], x.shape[1], -1)


def global_pool_forward(x, data_format="channels_last", mode="avg"):
    """Mean or max over every spatial axis.

    Args:
        x: (N, *spatial, C) for channels_last, (N, C, *spatial) for channels_first.
        mode: 'avg' or 'max'.

    Returns:
        (y (N, C), saved). For 'max' the saved argmax is the flat spatial index of the
        first maximum of each (sample, channel). Channels_last float32/float64 input
        runs in the host kernels when they build here (one pass over the input).
    """
    if data_format == "channels_last" and mode in _pooling_host.MODES and x.ndim >= 3 and \
            0 < x.size < _pooling_host.MAX_GLOBAL_SIZE:
        fns = _pooling_host.functions(x.dtype)
        if fns is not None:
            y, idx = _pooling_host.global_pool_forward(fns, x, mode)
            return y, (tuple(x.shape), idx)
    check_data_format(data_format)
    axis = 1 if data_format == "channels_last" else 2
    v = _nsc(np.ascontiguousarray(x), data_format)
    if mode == "avg":
        # the sum then one division by the count: the arithmetic of ndarray.mean,
        # without its dtype bookkeeping
        y = np.add.reduce(v, axis=axis, dtype=x.dtype)        # (N, C)
        y /= v.shape[axis]
        return y, (tuple(x.shape), None)
    if mode == "max":
        idx = v.argmax(axis=axis)
        y = np.take_along_axis(v, np.expand_dims(idx, axis), axis=axis).squeeze(axis)
        return y, (tuple(x.shape), idx)
    raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")


def global_pool_backward(gy, saved, data_format="channels_last", mode="avg"):
    """-> (gx,): avg spreads gy / S over the window; max routes gy to the argmax
    (in the host kernels for channels_last float32/float64 gradients when they build
    here)."""
    x_shape, idx = saved
    if data_format == "channels_last" and (mode == "avg" or (mode == "max" and idx is not None)) \
            and len(x_shape) >= 3 and all(x_shape) and gy.ndim == 2:
        fns = _pooling_host.functions(gy.dtype)
        if fns is not None:
            return (_pooling_host.global_pool_backward(fns, gy, idx, x_shape, mode),)
    axis = 1 if data_format == "channels_last" else 2
    n = x_shape[0]
    c = x_shape[-1] if data_format == "channels_last" else x_shape[1]
    size = math.prod(_spatial_shape(x_shape, data_format))
    shape3 = (n, size, c) if data_format == "channels_last" else (n, c, size)
    if mode == "avg":
        # each (sample, channel) value repeated over the S axis: np.repeat writes the
        # contiguous result in one pass (a broadcasting copy is several times slower)
        gx = np.repeat(np.expand_dims(gy / size, axis), size, axis=axis)   # shape3
        return (gx.reshape(x_shape),)
    gx = np.zeros(shape3, dtype=gy.dtype)
    np.put_along_axis(gx, np.expand_dims(idx, axis), np.expand_dims(gy, axis), axis=axis)
    return (gx.reshape(x_shape),)


# ---------------------------------------------------------------------------
# Zero padding, cropping, up-sampling (any number of spatial axes)
# ---------------------------------------------------------------------------

def _inner_index(x_shape, margins, data_format, padded):
    """Index of the unpadded region: margins ((before, after), ...) per spatial axis."""
    spatial = _spatial_shape(x_shape, data_format)
    if padded:
        sl = [slice(a, a + n) for n, (a, _) in zip(spatial, margins)]
    else:
        sl = [slice(a, n - b) for n, (a, b) in zip(spatial, margins)]
    return _spatial_index(data_format, sl)


def zero_padding_forward(x, padding, data_format="channels_last"):
    """Pad the spatial axes with zeros; padding ((before, after), ...) per spatial axis."""
    check_data_format(data_format)
    spatial = _spatial_shape(x.shape, data_format)
    out_shape = _with_spatial(x.shape, [n + a + b for n, (a, b) in zip(spatial, padding)],
                              data_format)
    y = np.zeros(out_shape, dtype=x.dtype)
    y[_inner_index(x.shape, padding, data_format, True)] = x
    return y, (tuple(x.shape),)


def zero_padding_backward(gy, saved, padding, data_format="channels_last"):
    (x_shape,) = saved
    return (np.ascontiguousarray(gy[_inner_index(x_shape, padding, data_format, True)]),)


def cropping_forward(x, cropping, data_format="channels_last"):
    """Remove ((before, after), ...) elements from each spatial axis."""
    check_data_format(data_format)
    return (np.ascontiguousarray(x[_inner_index(x.shape, cropping, data_format, False)]),
            (tuple(x.shape),))


def cropping_backward(gy, saved, cropping, data_format="channels_last"):
    (x_shape,) = saved
    gx = np.zeros(x_shape, dtype=gy.dtype)
    gx[_inner_index(x_shape, cropping, data_format, False)] = gy
    return (gx,)


def upsampling_forward(x, size, data_format="channels_last"):
    """Nearest-neighbour up-sampling: repeat spatial axis i ``size[i]`` times."""
    check_data_format(data_format)
    first = 1 if data_format == "channels_last" else 2
    y = x
    for i, s in enumerate(size):
        if s != 1:
            y = np.repeat(y, s, axis=first + i)
    return np.ascontiguousarray(y), (tuple(x.shape),)


def upsampling_backward(gy, saved, size, data_format="channels_last"):
    """-> (gx,): the sum of each block of repeated elements."""
    (x_shape,) = saved
    first = 1 if data_format == "channels_last" else 2
    shape = list(x_shape[:first])
    sum_axes = []
    for i, s in enumerate(size):
        shape += [x_shape[first + i], s]
        sum_axes.append(len(shape) - 1)
    shape += list(x_shape[first + len(size):])
    return (gy.reshape(shape).sum(axis=tuple(sum_axes)),)
