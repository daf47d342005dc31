"""1-D and global pooling through the host kernels (kernels/host/pooling.cpp).

The NumPy ops of ``pooling.py`` make one strided pass per window offset (max: a
comparison pass per offset backward, plus the padded copy of the input), each a ufunc
call that costs more in overhead than in arithmetic for the small arrays of a sequence
model. The host kernels make one pass over the input per call, with the same
operations in the same order, so both paths give the same values (the global average
of a single channel may differ in the last bit: NumPy sums it pairwise).

Everything here works on channels-last arrays, ``x`` (N, L, C) for 1-D pooling and
(N, S, C) for global pooling; ``pooling.py`` runs its NumPy code for channels_first
data and when :func:`functions` gives None (no compiler, host kernels switched off, or
a dtype other than float32/float64). The wrappers check their arguments before calling
C (a ``ValueError`` for anything the kernels cannot take) and convert the arrays to
C-contiguous arrays of the dtype of ``fns``.
"""
import operator

import numpy as np

from . import _host

MODES = {"max": 0, "avg": 1}
# Global pooling keeps its float32 argmax in int32 lanes: inputs with this many elements
# or more (and so a spatial extent that might not fit) run in NumPy.
MAX_GLOBAL_SIZE = 2 ** 31


def functions(dtype):
    """The entry points of pooling.cpp for ``dtype`` (by short name, the dtype as
    ``.dtype``), or None when the host kernels cannot run it (NumPy runs instead)."""
    return _host.functions("pooling", dtype)


def _mode_code(mode):
    code = MODES.get(mode) if isinstance(mode, str) else None
    if code is None:
        raise ValueError(f"Unknown pooling mode. Expected 'max' or 'avg'. "
                         f"Received: mode={mode!r}")
    return code


def _geometry(length, pool, stride, pads):
    """Checked (pool, stride, pad_before, output length) of a 1-D pooling."""
    try:
        pa, pb = pads
        if not (type(pool) is type(stride) is type(pa) is type(pb) is int):
            pool, stride, pa, pb = (operator.index(v) for v in (pool, stride, pa, pb))
    except (TypeError, ValueError):
        raise ValueError(f"1-D pooling needs integer pool_size, strides and (before, after) "
                         f"pads. Received: pool_size={pool!r}, strides={stride!r}, "
                         f"pads={pads!r}") from None
    if pool < 1 or stride < 1 or pa < 0 or pb < 0:
        raise ValueError(f"1-D pooling needs pool_size >= 1, strides >= 1 and pads >= 0. "
                         f"Received: pool_size={pool}, strides={stride}, pads={(pa, pb)}")
    m = length + pa + pb - pool
    return pool, stride, pa, (m // stride + 1 if m >= 0 else 0)


def _array(a, dtype, ndim, name):
    """``a`` as a C-contiguous array of ``dtype`` with ``ndim`` axes (None: at least
    three), converted when it is not one already (ValueError if it cannot be)."""
    if type(a) is not np.ndarray or a.dtype is not dtype or not a.flags.c_contiguous:
        a = np.asarray(a)
        if a.dtype.kind not in "fiu":
            raise ValueError(f"Expected a numeric {name}. Received: {name}.dtype={a.dtype}")
        a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim != ndim and (ndim is not None or a.ndim < 3):
        raise ValueError(f"Expected {name} with {ndim or 'at least 3'} axes. "
                         f"Received: {name}.shape={a.shape}")
    return a


def _expect_shape(a, shape, name):
    if a.shape != shape:
        raise ValueError(f"Expected {name} of shape {tuple(shape)}. Received: {name}.shape="
                         f"{tuple(a.shape)}")


def pool1d_forward(fns, x, pool, stride, pads, mode):
    """Max or average pooling of a channels-last input.

    Args:
        fns: :func:`functions` of the dtype to compute in.
        x: (N, L, C) input.
        pool, stride: window length and step (>= 1).
        pads: (before, after) padding steps (>= 0), TensorFlow rules (padding never
            wins a max and is not counted by an average).
        mode: 'max' or 'avg'.

    Returns:
        y (N, OL, C), OL = (L + before + after - pool) // stride + 1 (0 when negative).
    """
    code = _mode_code(mode)
    x = _array(x, fns.dtype, 3, "x")                         # (N, L, C)
    n, length, c = x.shape
    pool, stride, pa, ol = _geometry(length, pool, stride, pads)
    y = np.empty((n, ol, c), dtype=x.dtype)                     # (N, OL, C)
    threads = _host.row_threads(n, n * ol * pool * c)
    rc = fns["pool1d_forward"](_host.pointer(x), _host.pointer(y), n, length, c, pool, stride,
                               pa, ol, code, threads)
    if rc != 0:
        raise RuntimeError(f"gs_pool1d_forward refused its arguments (code {rc})")
    return y


def pool1d_backward(fns, gy, x, y, length, pool, stride, pads, mode):
    """Gradient of :func:`pool1d_forward` with respect to its input.

    Args:
        fns: :func:`functions` of the dtype to compute in.
        gy: (N, OL, C) gradient of the output.
        x, y: (N, L, C) unpadded input and (N, OL, C) output of the forward pass (max;
            ignored for avg, may be None).
        length: L, the input's number of steps.
        pool, stride, pads, mode: as for the forward pass.

    Returns:
        gx (N, L, C): each window's gradient summed back onto its first maximum (max) or
        spread over its real elements divided by their count (avg).
    """
    code = _mode_code(mode)
    dt = fns.dtype
    gy = _array(gy, dt, 3, "gy")                                # (N, OL, C)
    n, _, c = gy.shape
    pool, stride, pa, ol = _geometry(int(length), pool, stride, pads)
    _expect_shape(gy, (n, ol, c), "gy")
    xp = yp = None
    if code == MODES["max"]:
        if x is None or y is None:
            raise ValueError(f"Max pooling's backward pass needs the forward input and "
                             f"output. Received: x={type(x).__name__}, y={type(y).__name__}")
        x = _array(x, dt, 3, "x")                               # (N, L, C)
        y = _array(y, dt, 3, "y")                               # (N, OL, C)
        _expect_shape(x, (n, length, c), "x")
        _expect_shape(y, gy.shape, "y")
        xp, yp = _host.pointer(x), _host.pointer(y)
    gx = np.empty((n, length, c), dtype=dt)                     # (N, L, C)
    threads = _host.row_threads(n, n * ol * pool * c)
    rc = fns["pool1d_backward"](_host.pointer(gy), xp, yp, _host.pointer(gx), n, length, c,
                                pool, stride, pa, ol, code, threads)
    if rc != 0:
        raise RuntimeError(f"gs_pool1d_backward refused its arguments (code {rc})")
    return gx


def _spatial_size(shape, name):
    """S of a channels-last (N, *spatial, C) shape: the product of the spatial sizes."""
    if len(shape) == 3:
        s = shape[1]
    elif len(shape) < 3:
        raise ValueError(f"Global pooling expects {name} of shape (N, *spatial, C) with at "
                         f"least one spatial axis. Received: {name}={tuple(shape)}")
    else:
        s = 1
        for d in shape[1:-1]:
            s *= d
    if s < 1:
        raise ValueError(f"Global pooling over an empty spatial extent. "
                         f"Received: {name}={tuple(shape)}")
    return s


def global_pool_forward(fns, x, mode):
    """Mean or max over the spatial axes of a channels-last input.

    Args:
        fns: :func:`functions` of the dtype to compute in.
        x: (N, *spatial, C) input (one spatial axis or more, none of them empty): the
            kernels see it as (N, S, C), S the product of the spatial sizes.
        mode: 'avg' or 'max'.

    Returns:
        (y (N, C), argmax (N, C) int64 or None): for 'max', the flat spatial index of the
        first maximum of each (sample, channel), as ``numpy.argmax`` gives it.
    """
    code = _mode_code(mode)
    x = _array(x, fns.dtype, None, "x")                      # (N, *spatial, C)
    shape = x.shape
    s = _spatial_size(shape, "x.shape")
    if code == MODES["max"] and s >= MAX_GLOBAL_SIZE:
        raise ValueError(f"Global max pooling on the host kernels takes a spatial extent "
                         f"below 2**31. Received: x.shape={shape}")
    n, c = shape[0], shape[-1]
    y = np.empty((n, c), dtype=x.dtype)                         # (N, C)
    idx = np.empty((n, c), dtype=np.int64) if code == MODES["max"] else None   # (N, C)
    threads = _host.row_threads(n, n * s * c)
    rc = fns["global_pool_forward"](_host.pointer(x), _host.pointer(y),
                                    _host.pointer(idx), n, s, c,
                                    code, threads)
    if rc != 0:
        raise RuntimeError(f"gs_global_pool_forward refused its arguments (code {rc})")
    return y, idx


def global_pool_backward(fns, gy, argmax, x_shape, mode):
    """Gradient of :func:`global_pool_forward` with respect to its input.

    Args:
        fns: :func:`functions` of the dtype to compute in.
        gy: (N, C) gradient of the output.
        argmax: (N, C) integer flat spatial indices from the forward pass (max; ignored
            for avg, may be None).
        x_shape: the input's shape (N, *spatial, C).
        mode: 'avg' or 'max'.

    Returns:
        gx of shape ``x_shape``: gy / S everywhere (avg), or gy at the argmax and zero
        elsewhere (max).
    """
    code = _mode_code(mode)
    dt = fns.dtype
    x_shape = tuple(x_shape)
    s = _spatial_size(x_shape, "x_shape")
    gy = _array(gy, dt, 2, "gy")                                # (N, C)
    n, c = gy.shape
    if (n, c) != (x_shape[0], x_shape[-1]):
        raise ValueError(f"Expected gy of shape {(x_shape[0], x_shape[-1])} for an input of "
                         f"shape {x_shape}. Received: gy.shape={gy.shape}")
    ip = None
    if code == MODES["max"]:
        if argmax is None:
            raise ValueError("Global max pooling's backward pass needs the argmax of the "
                             "forward pass. Received: argmax=None")
        argmax = np.asarray(argmax)
        if argmax.dtype.kind not in "iu":
            raise ValueError(f"Expected integer argmax indices. "
                             f"Received: argmax.dtype={argmax.dtype}")
        _expect_shape(argmax, (n, c), "argmax")
        argmax = np.ascontiguousarray(argmax, dtype=np.int64)   # (N, C)
        ip = _host.pointer(argmax)
    gx = np.empty(x_shape, dtype=dt)                            # (N, *spatial, C)
    threads = _host.row_threads(n, n * s * c)
    rc = fns["global_pool_backward"](_host.pointer(gy), ip, _host.pointer(gx), n, s, c, code,
                                     threads)
    if rc != 0:
        raise ValueError(f"Expected argmax indices in [0, {s}). Received: argmax with "
                         f"values in [{argmax.min()}, {argmax.max()}]")
    return gx
