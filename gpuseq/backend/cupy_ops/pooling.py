"""CUDA twin of ``numpy_ops/pooling.py``: max / average pooling (1-D, 2-D, global)
and the spatial reshaping ops (zero padding, cropping, up-sampling).

Kernels: kernels/pooling.cu (windowed pooling forward and backward as gathers,
global pooling as a reduction). Zero padding, cropping and up-sampling are plain
copies done with array slicing of ``xp`` (no arithmetic to write a kernel for).
Same names, signatures and results as the NumPy reference.
"""
import math

from ..numpy_ops.pooling import (_inner_index, _pool1d_attrs, _pool_geometry, _as_2d,
                                 _from_2d, _spatial_shape, _with_spatial, resolve_pads)
from ..numpy_ops.conv import check_data_format
from ._common import float_input, launch_1d, xp


def _pool_args(x_shape, data_format, pool, strides, pads, out_hw):
    """(n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl, channels_last) kernel arguments."""
    if data_format == "channels_last":
        n, h, w, c = x_shape
    else:
        n, c, h, w = x_shape
    return (n, h, w, c, out_hw[0], out_hw[1], pool[0], pool[1], strides[0], strides[1],
            pads[0][0], pads[1][0], 1 if data_format == "channels_last" else 0)


def pool2d_forward(x, pool_size=(2, 2), strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """2-D max or average pooling (see numpy_ops.pooling.pool2d_forward).

    saved = (x_shape, argmax (int64, shaped like y) or None).
    """
    x = float_input(x, "x")
    pool, strides, pads, _, out_hw = _pool_geometry(x.shape, pool_size, strides, padding,
                                                    data_format)
    y = xp().empty(_with_spatial(x.shape, out_hw, data_format), dtype=x.dtype)
    g = _pool_args(x.shape, data_format, pool, strides, pads, out_hw)
    if mode == "max":
        argmax = xp().empty(y.shape, dtype="int64")
        launch_1d("pooling", "max_pool2d_forward", x.dtype, y.size, (x, y, argmax) + g)
        return y, (tuple(x.shape), argmax)
    if mode == "avg":
        launch_1d("pooling", "avg_pool2d_forward", x.dtype, y.size, (x, y) + g)
        return y, (tuple(x.shape), None)
    raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")


def _tiles(g):
    """Whether the windows of kernel arguments g tile the input exactly: stride = pool,
    no padding, the input a whole number of windows (every element in one window)."""
    n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl, _ = g
    return sh == ph and sw == pw and pt == 0 and pl == 0 and h == oh * ph and w == ow * pw


def pool2d_backward(gy, saved, pool_size=(2, 2), strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    """-> (gx,) shaped like the input: a gather over the windows of each element, or,
    for windows that tile the input, each window written by one thread (same values)."""
    x_shape, argmax = saved
    gy = float_input(gy, "gy")
    pool, strides, pads, _, out_hw = _pool_geometry(x_shape, pool_size, strides, padding,
                                                    data_format)
    gx = xp().empty(x_shape, dtype=gy.dtype)
    g = _pool_args(x_shape, data_format, pool, strides, pads, out_hw)
    if mode not in ("max", "avg"):
        raise ValueError(
            f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")
    if _tiles(g):  # one thread per window
        name, size = f"{mode}_pool2d_backward_tiled", gy.size
    else:          # one thread per input element
        name, size = f"{mode}_pool2d_backward", gx.size
    args = (gy, argmax, gx) if mode == "max" else (gy, gx)
    launch_1d("pooling", name, gy.dtype, size, args + g)
    return (gx,)


def pool1d_forward(x, pool_size=2, strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """1-D pooling through the 2-D kernels with height 1."""
    x = float_input(x, "x")
    attrs = _pool1d_attrs(pool_size, strides, padding, data_format)
    if attrs["padding"] == "same":
        check_data_format(data_format)
        length = x.shape[1] if data_format == "channels_last" else x.shape[2]
        attrs["padding"] = resolve_pads((1, length), attrs["pool_size"], attrs["strides"],
                                        "same", (1, 1))
    y, saved = pool2d_forward(_as_2d(x, data_format), mode=mode, **attrs)
    return _from_2d(y, data_format), (saved, attrs)


def pool1d_backward(gy, saved, pool_size=2, strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    saved2, attrs = saved
    gy = float_input(gy, "gy")
    (gx,) = pool2d_backward(_as_2d(gy, data_format), saved2, mode=mode, **attrs)
    return (_from_2d(gx, data_format),)


def _global_dims(x_shape, data_format):
    check_data_format(data_format)
    n = x_shape[0]
    c = x_shape[-1] if data_format == "channels_last" else x_shape[1]
    s = math.prod(_spatial_shape(x_shape, data_format))
    return n, s, c


def global_pool_forward(x, data_format="channels_last", mode="avg"):
    """Mean or max over every spatial axis -> (y (N, C), saved)."""
    x = float_input(x, "x")
    if mode not in ("avg", "max"):
        raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. Received: mode={mode!r}")
    n, s, c = _global_dims(x.shape, data_format)
    y = xp().empty((n, c), dtype=x.dtype)
    argmax = xp().zeros((n, c) if mode == "max" else (1,), dtype="int64")
    if s == 0 and n * c > 0:
        raise ValueError(f"Global pooling over an empty spatial extent. Received: "
                         f"x.shape={tuple(x.shape)}")
    launch_1d("pooling", "global_pool_forward", x.dtype, n * c,
              (x, y, argmax, n, s, c, 0 if mode == "avg" else 1,
               1 if data_format == "channels_last" else 0))
    return y, (tuple(x.shape), argmax if mode == "max" else None)


def global_pool_backward(gy, saved, data_format="channels_last", mode="avg"):
    """-> (gx,): avg spreads gy / S over the window; max routes gy to the argmax."""
    x_shape, argmax = saved
    gy = float_input(gy, "gy")
    n, s, c = _global_dims(x_shape, data_format)
    gx = xp().empty(x_shape, dtype=gy.dtype)
    if argmax is None:
        argmax = xp().zeros((1,), dtype="int64")
    launch_1d("pooling", "global_pool_backward", gy.dtype, gx.size,
              (gy, argmax, gx, n, s, c, 0 if mode == "avg" else 1,
               1 if data_format == "channels_last" else 0))
    return (gx,)


# ---------------------------------------------------------------------------
# Zero padding, cropping, up-sampling: copies through xp slicing
# ---------------------------------------------------------------------------

def zero_padding_forward(x, padding, data_format="channels_last"):
    """Pad the spatial axes with zeros; padding ((before, after), ...) per spatial axis."""
    check_data_format(data_format)
    x = float_input(x, "x")
    spatial = _spatial_shape(x.shape, data_format)
    y = xp().zeros(_with_spatial(x.shape, [n + a + b for n, (a, b) in zip(spatial, padding)],
                                 data_format), dtype=x.dtype)
    y[_inner_index(x.shape, padding, data_format, True)] = x
    return y, (tuple(x.shape),)


def zero_padding_backward(gy, saved, padding, data_format="channels_last"):
    (x_shape,) = saved
    return (xp().ascontiguousarray(gy[_inner_index(x_shape, padding, data_format, True)]),)


def cropping_forward(x, cropping, data_format="channels_last"):
    """Remove ((before, after), ...) elements from each spatial axis."""
    check_data_format(data_format)
    x = float_input(x, "x")
    return (xp().ascontiguousarray(x[_inner_index(x.shape, cropping, data_format, False)]),
            (tuple(x.shape),))


def cropping_backward(gy, saved, cropping, data_format="channels_last"):
    (x_shape,) = saved
    gx = xp().zeros(x_shape, dtype=gy.dtype)
    gx[_inner_index(x_shape, cropping, data_format, False)] = gy
    return (gx,)


def upsampling_forward(x, size, data_format="channels_last"):
    """Nearest-neighbour up-sampling: repeat spatial axis i ``size[i]`` times."""
    check_data_format(data_format)
    x = float_input(x, "x")
    first = 1 if data_format == "channels_last" else 2
    y = x
    for i, s in enumerate(size):
        if s != 1:
            y = xp().repeat(y, s, axis=first + i)
    return xp().ascontiguousarray(y), (tuple(x.shape),)


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
