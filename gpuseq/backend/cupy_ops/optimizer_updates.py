"""CUDA twin of ``numpy_ops/optimizer_updates.py``: fused in-place updates, one launch per weight.

Kernels: kernels/optimizers.cu. ``param`` and the state arrays are updated in
place (they must be C-contiguous arrays of the active backend with the same
dtype); the gradient is read (cast to the parameter's dtype and made contiguous
when needed). Hyper-parameters are Python floats resolved for this step on the
host; complements like ``1 - rho`` are computed here in double precision and
rounded once to the kernel's type, exactly like the NumPy twin's arithmetic.

For CUDA-graph replay (``gpuseq/engine/cuda_graphs.py``) the per-step scalars must
not be baked into the captured launches: inside :func:`device_scalars` every update
hands its float scalars to a :class:`ScalarSink` instead. A sink that is only
recording keeps the values and launches nothing (the host part of a replayed step);
a sink with a device buffer makes each kernel read its scalars from that buffer at
the offset the sink assigns (the launches a graph captures).
"""
import contextlib

import numpy

from .. import kernel_loader as kl
from ._common import dummy, float_input, launch_1d

_state = {"sink": None}


class ScalarSink:
    """Where the update kernels' float scalars go while :func:`device_scalars` is active.

    Args:
        buffer: a float64 device array the kernels read their scalars from, or None
            to record the scalars and launch nothing.
        offsets: fixed buffer offsets, one per update call in call order (the
            layout of a captured step, replayed); None assigns offsets as the
            calls come, sharing one offset between calls with equal scalars.

    Attributes:
        values: the distinct scalar runs handed over so far, concatenated (floats).
        offsets: per update call, the offset of its scalars in ``values``/``buffer``.
        sizes: per update call, the number of its scalars.
    """

    def __init__(self, buffer=None, offsets=None):
        self.buffer = buffer
        self.values = []
        self.sizes = []
        self._fixed = None if offsets is None else list(offsets)
        self.offsets = []
        self._index = {}

    def take(self, scalars):
        """Record one update's scalars; returns their offset in the buffer."""
        run = tuple(float(v) for v in scalars)
        self.sizes.append(len(run))
        if self._fixed is not None:
            off = self._fixed[len(self.offsets)]
        elif self.buffer is not None and run in self._index:
            off = self._index[run]
        else:
            off = len(self.values)
            self.values.extend(run)
            self._index.setdefault(run, off)
        self.offsets.append(off)
        return off

    def runs(self):
        """Per update call, its scalars (a tuple of floats), in call order."""
        out = []
        for off, k in zip(self.offsets, self.sizes):
            out.append(tuple(self.values[off:off + k]))
        return out


@contextlib.contextmanager
def device_scalars(sink):
    """Route every update's scalars through ``sink`` (see :class:`ScalarSink`)."""
    prev, _state["sink"] = _state["sink"], sink
    try:
        yield sink
    finally:
        _state["sink"] = prev


def store_scalars(buffer, values):
    """Write ``values`` (Python floats) into the float64 device array ``buffer`` with
    kernel launches (eight values each): no host-to-device copy, so the write is
    ordered on the stream like any kernel and never waits for the device."""
    values = [float(v) for v in values]
    if len(values) > buffer.size:
        raise ValueError(f"{len(values)} scalars do not fit a buffer of {buffer.size}. "
                         f"Received: len(values)={len(values)}, buffer.size={buffer.size}")
    kernel = kl.get_kernel("optimizers", "store_scalars", numpy.float64)
    for start in range(0, len(values), 8):
        chunk = values[start:start + 8]
        chunk += [0.0] * (8 - len(chunk))
        kl.launch(kernel, (1, 1, 1), (1, 1, 1),
                  (buffer[start:], len(values) - start, *chunk))


def _launch(name, p, arrays, scalars, flags=()):
    """Launch update ``name`` on ``p`` (arrays: p, g and the state, in kernel order;
    scalars: the float hyper-parameters; flags: by-value integer flags)."""
    sink = _state["sink"]
    if sink is None:
        launch_1d("optimizers", name, p.dtype, p.size,
                  (*arrays, p.size, *scalars, *flags, dummy(numpy.float64), -1))
        return
    off = sink.take(scalars)
    if sink.buffer is not None:
        launch_1d("optimizers", name, p.dtype, p.size,
                  (*arrays, p.size, *scalars, *flags, sink.buffer, off))


def _prepare(p, g, *state):
    """Check shapes; return g as a contiguous array of p's dtype (unchanged while a
    sink only records: nothing is launched, and the weight stands in for g)."""
    sink = _state["sink"]
    if sink is not None and sink.buffer is None:
        return g
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


def sgd_update(p, g, v, lr, momentum, nesterov):
    """v <- momentum*v - lr*g;  p <- p + momentum*v - lr*g (Nesterov) or p + v."""
    g = _prepare(p, g, v)
    _launch("sgd_update", p, (p, g, v), (lr, momentum), (bool(nesterov),))


def rmsprop_update(p, g, a, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    g = _prepare(p, g, a)
    _launch("rmsprop_update", p, (p, g, a), (lr, rho, 1.0 - rho, epsilon))


def adagrad_update(p, g, a, lr, epsilon):
    """a <- a + g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    g = _prepare(p, g, a)
    _launch("adagrad_update", p, (p, g, a), (lr, epsilon))


def adadelta_update(p, g, a, d, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);  p <- p - lr*u;
    d <- rho*d + (1-rho)*u^2."""
    g = _prepare(p, g, a, d)
    _launch("adadelta_update", p, (p, g, a, d), (lr, rho, 1.0 - rho, epsilon))


def adam_update(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, amsgrad):
    """m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  vhat <- max(vhat, v) (AMSGrad);
    p <- p - lr_t*m/(sqrt(vhat or v)+eps)."""
    if amsgrad:
        g = _prepare(p, g, m, v, vhat)
        _launch("amsgrad_update", p, (p, g, m, v, vhat),
                (lr_t, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, epsilon))
    else:
        g = _prepare(p, g, m, v)
        _launch("adam_update", p, (p, g, m, v),
                (lr_t, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, epsilon))


def adamax_update(p, g, m, u, lr_t, beta_1, beta_2, epsilon):
    """m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);  p <- p - lr_t*m/(u+eps)."""
    g = _prepare(p, g, m, u)
    _launch("adamax_update", p, (p, g, m, u), (lr_t, beta_1, 1.0 - beta_1, beta_2, epsilon))


def nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, momentum_cache_t,
                 momentum_cache_t_1, m_schedule_new, m_schedule_next, beta_2_power_t):
    """Keras 2.2 Nadam (see numpy_ops.optimizer_updates.nadam_update)."""
    g = _prepare(p, g, m, v)
    _launch("nadam_update", p, (p, g, m, v),
            (lr, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, epsilon, 1.0 - momentum_cache_t,
             momentum_cache_t_1, 1.0 - m_schedule_new, 1.0 - m_schedule_next,
             1.0 - beta_2_power_t))
