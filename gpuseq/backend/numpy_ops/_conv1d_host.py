"""Conv1D through the host kernels (kernels/host/conv1d.cpp): no column matrix.

The im2col path of ``conv.py`` copies every window of the input into a column matrix,
multiplies it with NumPy's BLAS and then passes over the product again for the bias
and the activation (and, backward, for the activation's derivative, the padding of the
gradient and a second column matrix). For the small batches of a sequence model those
passes, and the BLAS threads reading data that another core just wrote, cost about as
much as the multiply-adds. The host kernels read each window where it lies in the
padded input (an implicit GEMM), add the bias and apply the activation to each tile of
the product before storing it, and compute the weight and input gradients the same way
from one zero-padded copy of the gradient.

Everything here works on channels-last arrays, ``x`` (N, L, C) and ``y`` (N, OL, OUT);
``conv.py`` transposes channels-first data in and out and falls back to the im2col path
when :func:`functions` gives None (no compiler, host kernels switched off, or a dtype
other than float32/float64). Activations other than the five the kernels know (see
``kernels/host/host_math.h``) are applied by NumPy around the host GEMMs.
"""
import numpy as np

from . import _host
from .activations import ACTIVATION_KINDS

def functions(dtype):
    """The entry points of conv1d.cpp for ``dtype`` ('forward', 'backward'), or None when
    the host kernels cannot run it (the im2col path runs instead)."""
    return _host.functions("conv1d", dtype, prefix="gs_conv1d_")


def activation_code(activation):
    """The host kernels' code of ``activation``, or None when they do not apply it."""
    code = ACTIVATION_KINDS.index(activation)
    return code if code <= 4 else None


_ptr = _host.pointer


def forward(fns, xp, kernel, bias, stride, dil, ol, code):
    """act(conv1d(xp, kernel) + bias) for a padded (N, Lp, C) input -> y (N, OL, OUT).

    ``code`` is the activation code (0 with no bias for a plain product). All arrays
    C-contiguous of one dtype.
    """
    n, lp, cin = xp.shape
    k, _, cout = kernel.shape
    y = np.empty((n, ol, cout), dtype=xp.dtype)                 # (N, OL, OUT)
    threads = _host.row_threads(n * ol, n * ol * k * cin * cout)
    rc = fns["forward"](_ptr(xp), _ptr(kernel), _ptr(bias), _ptr(y), n, lp, cin, k, stride,
                        dil, ol, cout, code, threads)
    if rc != 0:
        raise RuntimeError(f"gs_conv1d_forward refused activation code {code}")
    return y


def backward(fns, g, y, xp, kernel, with_bias, stride, dil, pads, length, code, input_grad):
    """Gradients of a host conv1d from the output gradient ``g`` (N, OL, OUT).

    ``code`` is the activation code whose derivative is read from ``y`` (0: ``g`` is
    already the gradient of the pre-activation). Returns (gp or None, gbias or None,
    gkernel, gx or None) where gp (N, Lg, OUT) is the zero-padded gradient of the
    pre-activation (its rows [front, front + OL) per sample; front = 0 when gx is not
    computed here; None without ``input_grad``) and gx (N, L, C) is computed for stride
    1 only (None otherwise: the caller takes it from ``gp``).
    """
    n, ol, cout = g.shape
    _, lp, cin = xp.shape
    k = kernel.shape[0]
    dt = g.dtype
    ek = dil * (k - 1) + 1
    pa = pads[0]
    here = input_grad and stride == 1
    front = ek - 1 if here else 0
    lg = front + (max(ol, length + pa) if here else ol)
    gp = np.empty((n, lg, cout), dtype=dt) if input_grad else None   # (N, Lg, OUT)
    gb = np.empty(cout, dtype=dt) if with_bias else None        # (OUT,)
    gw = np.empty(kernel.shape, dtype=dt)                       # (K, C, OUT)
    gx = np.empty((n, length, cin), dtype=dt) if here else None  # (N, L, C)
    threads = _host.row_threads(n * ol, n * ol * k * cin * cout)
    rc = fns["backward"](_ptr(g), _ptr(y) if code else None, _ptr(xp), _ptr(kernel), _ptr(gp),
                         _ptr(gb), _ptr(gw), _ptr(gx), n, lp, cin, k, stride, dil, ol, cout,
                         front, lg, length, pa, code, threads)
    if rc != 0:
        raise RuntimeError(f"gs_conv1d_backward refused activation code {code}")
    return gp, gb, gw, gx
