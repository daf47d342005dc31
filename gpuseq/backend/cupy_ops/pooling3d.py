"""CUDA twin of ``numpy_ops/pooling3d.py``: 3-D max and average pooling.

Kernels: kernels/pooling3d.cu (one thread per output for the forward pass, which
also records each max window's argmax; the backward pass a deterministic gather,
one thread per input element). Channels-first arrays are transposed in and out.
"""
import numpy

from ..numpy_ops.conv import check_data_format
from ..numpy_ops.conv3d import from_ndhwc, to_ndhwc
from ..numpy_ops.pooling3d import pool3d_geometry
from ._common import float_input, launch_1d, xp

_MODES = {"max": 0, "avg": 1}


def _pool_args(x_shape, pool, strides, pads, out, mode):
    """(n, d, h, w, c, pd, ph, pw, sd, sh, sw, fd, ft, fl, od, oh, ow, mode)."""
    return (tuple(x_shape) + tuple(pool) + tuple(strides) + tuple(p[0] for p in pads)
            + tuple(out) + (_MODES[mode],))


def pool3d_forward(x, pool_size=(2, 2, 2), strides=None, padding="valid",
                   data_format="channels_last", mode="max"):
    """3-D max or average pooling; see numpy_ops.pooling3d.pool3d_forward."""
    check_data_format(data_format)
    if mode not in _MODES:
        raise ValueError(f"pool3d: mode must be 'max' or 'avg'. Received: mode={mode!r}")
    xl = to_ndhwc(float_input(x, "x"), data_format)
    pool, strides, pads, out = pool3d_geometry(xl.shape[1:4], pool_size, strides, padding)
    y = xp().empty((xl.shape[0],) + tuple(out) + (xl.shape[4],), dtype=xl.dtype)
    arg = xp().empty(y.shape if mode == "max" else (1,), dtype=numpy.int64)
    launch_1d("pooling3d", "pool3d_forward_ndhwc", xl.dtype, y.size,
              (xl, y, arg) + _pool_args(xl.shape, pool, strides, pads, out, mode))
    return from_ndhwc(y, data_format), (tuple(xl.shape), arg)


def pool3d_backward(gy, saved, pool_size=(2, 2, 2), strides=None, padding="valid",
                    data_format="channels_last", mode="max"):
    """-> (gx,), gathered per input element."""
    x_shape, arg = saved
    pool, strides, pads, out = pool3d_geometry(x_shape[1:4], pool_size, strides, padding)
    gl = to_ndhwc(float_input(gy, "gy"), data_format)
    gx = xp().empty(x_shape, dtype=gl.dtype)
    launch_1d("pooling3d", "pool3d_backward_ndhwc", gl.dtype, gx.size,
              (gl, arg, gx) + _pool_args(x_shape, pool, strides, pads, out, mode))
    return (from_ndhwc(gx, data_format),)
