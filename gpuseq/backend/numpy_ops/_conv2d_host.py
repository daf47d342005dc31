"""Conv2D through the host kernels (kernels/host/conv2d.cpp): no column matrix.

The im2col path of ``conv.py`` copies every window of the image into a column matrix
(nine times the input for a 3 x 3 kernel: up to hundreds of MB per training step of an
image model), multiplies it with NumPy's BLAS and then passes over the product again
for the bias and the activation; backward it builds the columns again for the weight
gradient and a third matrix for the input gradient. The host kernels read each window
where it lies in the padded input (an implicit GEMM), add the bias and apply the
activation to each tile of the product before storing it, and compute the weight and
input gradients the same way from one zero-padded copy of the gradient.

Everything here works on channels-last arrays, ``x`` (N, H, W, C) and ``y`` (N, OH, OW,
OUT); ``conv.py`` transposes channels-first data in and out and falls back to the im2col
path when :func:`functions` gives None (no compiler, host kernels switched off, or a
dtype other than float32/float64). Covered: every stride, dilation and padding the layer
takes. The input gradient of a strided convolution is the one piece left to the NumPy
code (``conv._input_grad_nhwc``: one GEMM with the transposed kernel, then col2im), from
the gradient these kernels prepare. Activations other than the five the kernels know
(see ``kernels/host/host_math.h``) are applied by NumPy around the host GEMMs.
"""
import numpy as np

from . import _host

_ptr = _host.pointer


def functions(dtype):
    """The entry points of conv2d.cpp for ``dtype`` ('forward', 'backward'), or None when
    the host kernels cannot run it (the im2col path runs instead)."""
    return _host.functions("conv2d", dtype, prefix="gs_conv2d_")


def _threads(rows, kernel_shape):
    return _host.row_threads(rows, rows * int(np.prod(kernel_shape)))


def forward(fns, xp, kernel, bias, strides, dil, out_hw, code):
    """act(conv2d(xp, kernel) + bias) for a padded (N, Hp, Wp, C) input -> y (N, OH, OW, OUT).

    ``code`` is the activation code (0 with no bias for a plain product). All arrays
    C-contiguous of one dtype.
    """
    n, hp, wp, cin = xp.shape
    kh, kw, _, cout = kernel.shape
    oh, ow = out_hw
    y = np.empty((n, oh, ow, cout), dtype=xp.dtype)             # (N, OH, OW, OUT)
    rc = fns["forward"](_ptr(xp), _ptr(kernel), _ptr(bias), _ptr(y), n, hp, wp, cin, kh, kw,
                        strides[0], strides[1], dil[0], dil[1], oh, ow, cout, code,
                        _threads(n * oh * ow, kernel.shape))
    if rc != 0:
        raise RuntimeError(f"gs_conv2d_forward refused activation code {code}")
    return y


def backward(fns, g, y, xp, kernel, with_bias, strides, dil, pads, in_hw, code, input_grad,
             workspace=None):
    """Gradients of a host conv2d from the output gradient ``g`` (N, OH, OW, OUT).

    ``code`` is the activation code whose derivative is read from ``y`` (0: ``g`` is
    already the gradient of the pre-activation). Returns (gp or None, gbias or None,
    gkernel, gx or None): gp is the gradient of the pre-activation, zero-padded for the
    input gradient's windows when that is computed here (strides 1), else exactly
    (N, OH, OW, OUT); None without ``input_grad``. gx (N, H, W, C) is None for strided
    convolutions (the caller takes it from ``gp``). ``workspace(nelem, dtype)``, when
    given, supplies the padded gp of a stride-1 convolution (a buffer reused between
    calls, so a large gp costs no fresh pages each step); that gp is then valid only
    until the next call.
    """
    n, oh, ow, cout = g.shape
    _, hp, wp, cin = xp.shape
    kh, kw = kernel.shape[:2]
    h, w = in_hw
    (pt, _), (pl, _) = pads
    dt = g.dtype
    here = input_grad and tuple(strides) == (1, 1)
    if here:
        fh, fw = dil[0] * (kh - 1), dil[1] * (kw - 1)
        hg, wg = fh + max(oh, h + pt), fw + max(ow, w + pl)
    else:
        fh, fw, hg, wg = 0, 0, oh, ow
    gp = None                                                   # (N, Hg, Wg, OUT)
    if here and workspace is not None:
        gp = workspace(n * hg * wg * cout, dt).reshape(n, hg, wg, cout)
    elif input_grad:
        gp = np.empty((n, hg, wg, cout), dtype=dt)
    gb = np.empty(cout, dtype=dt) if with_bias else None        # (OUT,)
    gw = np.empty(kernel.shape, dtype=dt)                       # (KH, KW, C, OUT)
    gx = np.empty((n, h, w, cin), dtype=dt) if here else None   # (N, H, W, C)
    rc = fns["backward"](_ptr(g), _ptr(y) if code else None, _ptr(xp), _ptr(kernel), _ptr(gp),
                         _ptr(gb), _ptr(gw), _ptr(gx), n, hp, wp, cin, kh, kw, strides[0],
                         strides[1], dil[0], dil[1], oh, ow, cout, fh, fw, hg, wg, h, w, pt,
                         pl, code, _threads(n * oh * ow, kernel.shape))
    if rc != 0:
        raise RuntimeError(f"gs_conv2d_backward refused activation code {code}")
    return gp, gb, gw, gx
