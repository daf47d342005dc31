"""CUDA twin of ``numpy_ops/optimizer_updates.py``: fused in-place updates, one launch per weight.

Kernels: kernels/optimizers.cu. ``param`` and the state arrays are updated in
place (they must be C-contiguous arrays of the active backend with the same
dtype); the gradient is read (cast to the parameter's dtype and made contiguous
when needed).

Every kernel reads this step's hyper-parameters from a small float64 device
buffer, laid out by the rule's ``<rule>_scalars`` function (shared with the NumPy
twin, which reads the same values as Python floats). An optimizer makes the
buffer once with :func:`load_step_scalars`, and refreshes it with one small copy
per step; the launches of a step then carry no scalar value, so a CUDA graph
that replays them reads each step's learning rate from the same buffer. Passing a
sequence of floats instead of a buffer loads them into a new buffer first.
"""
import numpy

from .. import autodiff as ad
# the step-scalar layouts are the NumPy twin's, exported here under the same names
from ..numpy_ops.optimizer_updates import (adadelta_scalars, adagrad_scalars,  # noqa: F401
                                           adam_scalars, adamax_scalars, nadam_scalars,
                                           rmsprop_scalars, sgd_scalars)
from ._common import float_input, launch_1d, xp


class _PinnedStaging:
    """A ring of page-locked host rows the scalars are copied from, so that the copy
    is asynchronous (a copy from pageable memory may wait for the device). A row is
    reused only after the copy that read it has run (an event per row)."""

    ROWS = 8

    def __init__(self, cupy, size):
        self.cupy = cupy
        mem = cupy.cuda.alloc_pinned_memory(self.ROWS * size * 8)
        self.rows = numpy.frombuffer(mem, numpy.float64, self.ROWS * size).reshape(
            self.ROWS, size)
        self.mem = mem
        self.events = [None] * self.ROWS
        self.next = 0

    def copy(self, host, buffer):
        k, self.next = self.next, (self.next + 1) % self.ROWS
        if self.events[k] is not None:
            self.events[k].synchronize()
        self.rows[k] = host
        stream = self.cupy.cuda.get_current_stream()
        buffer.set(self.rows[k], stream=stream)          # asynchronous from pinned memory
        self.events[k] = stream.record()


_staging = {}       # (device, size) -> _PinnedStaging


def load_step_scalars(values, buffer=None):
    """``values`` (this step's scalars, floats) in a float64 device array, written
    with one host-to-device copy ordered on the current stream.

    Args:
        values: the scalars, as laid out by a ``<rule>_scalars`` function.
        buffer: the array of a previous call, reused when it has the right size
            and lives on the active backend; otherwise a new one is made.

    Returns:
        The device array (``(len(values),)`` float64) the update kernels read.

    While a training step is captured as a CUDA graph (``autodiff.capturing_graph``)
    nothing is written: a copy would be baked into the graph. The replaying code
    calls this before each launch instead, and the captured kernels read the buffer.
    """
    host = numpy.asarray([float(v) for v in values], dtype=numpy.float64)
    m = xp()
    fresh = buffer is None or type(buffer) is not m.ndarray or \
        buffer.shape != host.shape or buffer.dtype != numpy.float64
    capturing = ad.capturing_graph()
    if fresh:
        if capturing:
            raise RuntimeError(
                "An optimizer made its step-scalar buffer while a training step was being "
                "captured as a CUDA graph: the buffer must exist (from an eager step) "
                "before the capture.")
        buffer = m.empty(host.shape, dtype=numpy.float64)
    if capturing or host.size == 0:
        return buffer
    if m is numpy:                       # the emulation: the device is the host
        buffer[...] = host
        return buffer
    key = (m.cuda.runtime.getDevice(), host.size)
    stage = _staging.get(key)
    if stage is None:
        stage = _staging[key] = _PinnedStaging(m, host.size)
    stage.copy(host, buffer)
    return buffer


def _scalar_buffer(scalars, count, rule):
    """The device buffer of ``count`` scalars a kernel reads: ``scalars`` itself when it
    is one, else the floats of ``scalars`` loaded into a new one."""
    m = xp()
    if type(scalars) is m.ndarray:
        if scalars.dtype != numpy.float64 or scalars.shape != (count,):
            raise ValueError(
                f"The {rule} update reads {count} float64 step scalars (see {rule}_scalars), "
                f"but the device buffer has shape {tuple(scalars.shape)} and dtype "
                f"{scalars.dtype}. Received: scalars.shape={tuple(scalars.shape)}")
        return scalars
    values = tuple(float(v) for v in scalars)
    if len(values) != count:
        raise ValueError(f"{rule} reads {count} step scalars (see {rule}_scalars), but "
                         f"received {len(values)}. Received: scalars={values!r}")
    return load_step_scalars(values)


def _launch(name, p, arrays, scalars, flags=()):
    """Launch update ``name`` on ``p`` (arrays: p, g and the state, in kernel order;
    scalars: the step-scalar device buffer; flags: by-value integer flags)."""
    launch_1d("optimizers", name, p.dtype, p.size, (*arrays, p.size, scalars, *flags))


def _prepare(p, g, *state):
    """Check shapes; return g as a contiguous array of p's dtype."""
    for i, s in enumerate(state):
        if tuple(s.shape) != tuple(p.shape):
            raise ValueError(
                f"Optimizer state array {i} has shape {tuple(s.shape)} but the parameter has "
                f"shape {tuple(p.shape)}; each state array must match its parameter. "
                f"Received: state.shape={tuple(s.shape)}, param.shape={tuple(p.shape)}")
    g = float_input(g, "gradient", dtype=p.dtype)
    if tuple(g.shape) != tuple(p.shape):
        raise ValueError(
            f"The gradient of a parameter of shape {tuple(p.shape)} must have the same shape. "
            f"Received: gradient.shape={tuple(g.shape)}")
    return g


def sgd_update(p, g, v, scalars, nesterov):
    """v <- momentum*v - lr*g;  p <- p + momentum*v - lr*g (Nesterov) or p + v.
    scalars: :func:`sgd_scalars` (a device buffer or floats)."""
    s = _scalar_buffer(scalars, 2, "sgd")
    g = _prepare(p, g, v)
    _launch("sgd_update", p, (p, g, v), s, (bool(nesterov),))


def rmsprop_update(p, g, a, scalars):
    """a <- rho*a + (1-rho)*g^2;  p <- p - lr*g/(sqrt(a)+eps).  scalars: :func:`rmsprop_scalars`."""
    s = _scalar_buffer(scalars, 4, "rmsprop")
    g = _prepare(p, g, a)
    _launch("rmsprop_update", p, (p, g, a), s)


def adagrad_update(p, g, a, scalars):
    """a <- a + g^2;  p <- p - lr*g/(sqrt(a)+eps).  scalars: :func:`adagrad_scalars`."""
    s = _scalar_buffer(scalars, 2, "adagrad")
    g = _prepare(p, g, a)
    _launch("adagrad_update", p, (p, g, a), s)


def adadelta_update(p, g, a, d, scalars):
    """a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);  p <- p - lr*u;
    d <- rho*d + (1-rho)*u^2.  scalars: :func:`adadelta_scalars`."""
    s = _scalar_buffer(scalars, 4, "adadelta")
    g = _prepare(p, g, a, d)
    _launch("adadelta_update", p, (p, g, a, d), s)


def adam_update(p, g, m, v, vhat, scalars, amsgrad):
    """m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  vhat <- max(vhat, v) (AMSGrad);
    p <- p - lr_t*m/(sqrt(vhat or v)+eps).  scalars: :func:`adam_scalars`."""
    s = _scalar_buffer(scalars, 6, "adam")
    if amsgrad:
        g = _prepare(p, g, m, v, vhat)
        _launch("amsgrad_update", p, (p, g, m, v, vhat), s)
    else:
        g = _prepare(p, g, m, v)
        _launch("adam_update", p, (p, g, m, v), s)


def adamax_update(p, g, m, u, scalars):
    """m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);  p <- p - lr_t*m/(u+eps).
    scalars: :func:`adamax_scalars`."""
    s = _scalar_buffer(scalars, 5, "adamax")
    g = _prepare(p, g, m, u)
    _launch("adamax_update", p, (p, g, m, u), s)


def nadam_update(p, g, m, v, scalars):
    """Keras 2.2 Nadam (see numpy_ops.optimizer_updates.nadam_update).
    scalars: :func:`nadam_scalars`."""
    s = _scalar_buffer(scalars, 11, "nadam")
    g = _prepare(p, g, m, v)
    _launch("nadam_update", p, (p, g, m, v), s)
