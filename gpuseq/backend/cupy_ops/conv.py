"""CUDA twin of ``numpy_ops/conv.py``: convolution as im2col + one GEMM.

Kernels: kernels/conv.cu (im2col / col2im in both layouts, the channels-first bias
add); the GEMMs go through ``_gemm.matmul`` (cuBLAS on the GPU); bias + activation
after the GEMM is the fused kernel of kernels/activations.cu
(``bias_activation_forward``) for channels_last, and ``add_channel_bias`` followed
by ``activation_forward`` for channels_first. Same names, signatures and results
as the NumPy reference.

The batch runs in chunks whose column buffer stays under ``COL_BUFFER_BYTES``;
the backward pass recomputes each chunk's columns instead of keeping them. The
input gradient is ``gcol = gz @ kernel^T`` followed by col2im, a deterministic
gather (no atomics).

Channels-last convolutions can instead run as implicit GEMMs
(kernels/conv_igemm.cu, see ``session.set_conv_algorithm``): three kernels, for the
output, the input gradient and the kernel gradient, gather their tiles of the
column matrix straight from the image onto the tensor cores, so no column buffer
exists. The kernel gradient is summed over a split of the output pixels that is a
fixed function of the shapes (``_kernel_grad_splits``), then over the splits by a
reduction kernel.
"""
import numpy

from .. import dispatch
from .. import kernel_loader as kl
from ..numpy_ops.conv import _geometry, _conv1d_attrs, _as_2d, chunk_size
from ..session import conv_algorithm, tf32_enabled
from ._gemm import matmul
from ._common import column_sums, float_input, launch_1d, xp
from .activations import (_kind_code, activation_backward, activation_forward,
                          bias_activation_forward)

# Upper bound (bytes) of one chunk's column buffer: a 32 x 100 x 100 x 3 batch through
# the VGG-like seed model never holds more than this in columns at once.
COL_BUFFER_BYTES = 128 << 20


def _geom_args(x_shape, data_format, ksize, strides, pads, dil, out_hw):
    """The (n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow) kernel arguments."""
    if data_format == "channels_last":
        n, h, w, c = x_shape
    else:
        n, c, h, w = x_shape
    return (n, h, w, c, ksize[0], ksize[1], strides[0], strides[1], dil[0], dil[1],
            pads[0][0], pads[1][0], out_hw[0], out_hw[1])


def _vector_ok(c, *arrays):
    """Whether the 16-byte im2col/col2im kernels apply: channels a multiple of the
    vector width and every array 16-byte aligned."""
    if c % (16 // arrays[0].itemsize):
        return False
    for a in arrays:
        ptr = a.data.ptr if hasattr(a.data, "ptr") else a.ctypes.data
        if ptr % 16:
            return False
    return True


# Implicit GEMM (kernels/conv_igemm.cu): threads of a block (= rows of its tile), the
# reduction depth of a stage, and the kernel gradient's split of the output pixels:
# enough row ranges for about IGEMM_SPLIT_BLOCKS blocks, each at least
# IGEMM_MIN_SPLIT_ROWS pixels.
IGEMM_THREADS = 128
IGEMM_STAGE = 16
IGEMM_SPLIT_BLOCKS = 512
IGEMM_MIN_SPLIT_ROWS = 256

_TENSOR_CORES = {}


def _tensor_cores():
    """Whether the device multiplies TF32 on tensor cores (compute capability >= 8.0);
    always under the emulation, which computes the same products on the CPU."""
    if dispatch.backend() != "cupy":
        return True
    import cupy
    dev = cupy.cuda.Device()
    got = _TENSOR_CORES.get(dev.id)
    if got is None:
        got = _TENSOR_CORES[dev.id] = int(dev.compute_capability) >= 80
    return got


def use_implicit_gemm(dtype, data_format):
    """Whether a convolution of this dtype and layout runs as implicit GEMM, by
    ``session.conv_algorithm()``: 'auto' takes it for float32 under TF32 on a GPU with
    TF32 tensor cores.

    Raises:
        RuntimeError: 'implicit_gemm' was asked for float32 on a GPU without TF32
            tensor cores.
    """
    algo = conv_algorithm()
    if data_format != "channels_last" or algo == "im2col":
        return False
    single = numpy.dtype(dtype) == numpy.float32
    if algo == "auto":
        return single and tf32_enabled() and _tensor_cores()
    if single and not _tensor_cores():
        import cupy
        raise RuntimeError(
            "The implicit-GEMM convolution multiplies float32 on TF32 tensor cores, which "
            "need a GPU of compute capability 8.0 or newer. Call "
            "gpuseq.backend.set_conv_algorithm('auto') or ('im2col') on this GPU. Received: "
            f"compute capability {cupy.cuda.Device().compute_capability}")
    return True


def _aligned4(a):
    """Whether ``a`` starts on a multiple of 4 elements (the kernels' 4-wide reads)."""
    ptr = a.data.ptr if hasattr(a.data, "ptr") else a.ctypes.data
    return ptr % (4 * a.itemsize) == 0


def _igemm_launch(name, n_cols, rows, extra_grid, dtype, args):
    """Launch conv_igemm.cu's ``name`` over ceil(rows / 128) x ceil(n_cols / BN) x
    extra_grid blocks: the instance ``name<T, BN, PRECISE>`` with BN = 32 or 64 by the
    product's column count, PRECISE (3xTF32) for float32 unless TF32 is on (double has
    only PRECISE = false: it does not use the tensor cores)."""
    bn = 32 if n_cols <= 32 else 64
    precise = numpy.dtype(dtype) == numpy.float32 and not tf32_enabled()
    grid = (-(-rows // IGEMM_THREADS), -(-n_cols // bn), extra_grid)
    kl.launch(kl.get_kernel("conv_igemm", name, dtype, bn, precise), grid,
              (IGEMM_THREADS, 1, 1), args)


# Activations whose derivative the backward (activation_backward) gets from y alone:
# for these the forward does not store pre and hands y in its place. act_grad reads
# the sign of its input for relu, elu and selu, and y > 0 exactly when pre > 0 there;
# the others read only y.
_DERIVATIVE_FROM_Y = ("linear", "relu", "sigmoid", "tanh", "elu", "selu", "exponential")


def _igemm_forward(x, kernel, bias, activation, g):
    """(y, pre) = (act(z + bias), z + bias), z = conv(x, kernel), for channels-last x,
    the bias and activation applied in the kernel's epilogue; g = _geom_args(...).
    For the activations of _DERIVATIVE_FROM_Y, pre is y itself (one output less to
    write)."""
    n, _, _, c, kh, kw = g[:6]
    oh, ow = g[12], g[13]
    cout = kernel.shape[3]
    kdim = kh * kw * c
    rows = n * oh * ow
    if not (rows and cout and kdim):
        z = xp().zeros((n, oh, ow, cout), dtype=x.dtype)
        y, (pre, _) = bias_activation_forward(z, bias, activation)
        return y, pre
    code = _kind_code(activation)
    y = xp().empty((n, oh, ow, cout), dtype=x.dtype)              # NHWC output
    pre = y if activation in _DERIVATIVE_FROM_Y else xp().empty_like(y)  # (N, OH, OW, OUT)
    wmat = kernel.reshape(kdim, cout)                              # (KH*KW*C, OUT)
    _igemm_launch("conv_igemm_forward", cout, rows, 1, x.dtype,
                  (x, wmat, y if bias is None else bias, pre, y) + g
                  + (cout, int(c % 4 == 0 and _aligned4(x)),
                     int(cout % 4 == 0 and _aligned4(wmat)), int(bias is not None), code,
                     int(pre is not y)))
    return y, pre


def _kernel_grad_splits(pixels, tiles):
    """(rows per split, splits) of the kernel gradient's reduction over ``pixels``
    output pixels, for a GEMM of ``tiles`` block tiles: a fixed function of the
    shapes, so the summation order is the same on every device."""
    want = max(1, -(-IGEMM_SPLIT_BLOCKS // tiles))
    per = max(IGEMM_MIN_SPLIT_ROWS, -(-pixels // want))
    per = -(-per // IGEMM_STAGE) * IGEMM_STAGE
    return per, -(-pixels // per)


def _igemm_backward(x, kernel, gz, g, input_grad):
    """(gx or None, gkernel) of the implicit-GEMM convolution; gz (N, OH, OW, OUT)."""
    m = xp()
    n, h, w, c, kh, kw = g[:6]
    oh, ow = g[12], g[13]
    cout = kernel.shape[3]
    kdim = kh * kw * c
    pixels = n * oh * ow
    vec_gz = int(cout % 4 == 0 and _aligned4(gz))
    if pixels and kdim and cout:
        tiles = -(-kdim // IGEMM_THREADS) * -(-cout // (32 if cout <= 32 else 64))
        per, splits = _kernel_grad_splits(pixels, tiles)
        partial = m.empty((splits, kdim, cout), dtype=x.dtype)     # per split (KH*KW*C, OUT)
        _igemm_launch("conv_igemm_kernel_grad", cout, kdim, splits, x.dtype,
                      (x, gz, partial) + g + (cout, per, int(c % 4 == 0 and _aligned4(x)),
                                              vec_gz))
        # a reduction kernel, not a GEMM with ones: cuBLAS under TF32 would round the
        # partial sums to TF32
        gw = partial[0] if splits == 1 else partial.sum(axis=0)
        gw = gw.reshape(kernel.shape)
    else:
        gw = m.zeros(kernel.shape, dtype=x.dtype)
    if not input_grad:
        return None, gw
    if not (pixels and cout and c):
        return m.zeros(x.shape, dtype=x.dtype), gw
    gx = m.empty(x.shape, dtype=x.dtype)
    wt = m.ascontiguousarray(kernel.transpose(0, 1, 3, 2))         # (KH, KW, OUT, C)
    _igemm_launch("conv_igemm_input_grad", c, n * h * w, 1, x.dtype,
                  (gz, wt, gx) + g + (cout, vec_gz, int(c % 4 == 0 and _aligned4(wt))))
    return gx, gw


def _im2col(x, data_format, ksize, strides, pads, dil, out_hw):
    """x (contiguous) -> col: (N*OH*OW, KH*KW*C) or (N, C*KH*KW, OH*OW)."""
    g = _geom_args(x.shape, data_format, ksize, strides, pads, dil, out_hw)
    n, _, _, c, kh, kw = g[:6]
    oh, ow = out_hw
    if data_format == "channels_last":
        col = xp().empty((n * oh * ow, kh * kw * c), dtype=x.dtype)
        name = "im2col_nhwc"
        if _vector_ok(c, x, col):
            launch_1d("conv", "im2col_nhwc_vec", x.dtype, col.size // (16 // x.itemsize),
                      (x, col) + g)
            return col
    else:
        col = xp().empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
        name = "im2col_nchw"
    launch_1d("conv", name, x.dtype, col.size, (x, col) + g)
    return col


def _col2im(col, x_shape, data_format, ksize, strides, pads, dil, out_hw, out=None):
    """The adjoint of _im2col, written into ``out`` (a contiguous array of x_shape)."""
    g = _geom_args(x_shape, data_format, ksize, strides, pads, dil, out_hw)
    if out is None:
        out = xp().empty(x_shape, dtype=col.dtype)
    if data_format == "channels_last" and _vector_ok(g[3], col, out):
        launch_1d("conv", "col2im_nhwc_vec", col.dtype, out.size // (16 // col.itemsize),
                  (col, out) + g)
        return out
    name = "col2im_nhwc" if data_format == "channels_last" else "col2im_nchw"
    launch_1d("conv", name, col.dtype, out.size, (col, out) + g)
    return out


def im2col_forward(x, kernel_size, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                   data_format="channels_last"):
    """Unfold image windows into columns (see numpy_ops.conv.im2col_forward)."""
    x = float_input(x, "x")
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel_size, strides, padding,
                                                  dilation_rate, data_format)
    return _im2col(x, data_format, ksize, strides, pads, dil, out_hw), (tuple(x.shape),)


def im2col_backward(gcol, saved, kernel_size, strides=(1, 1), padding="valid",
                    dilation_rate=(1, 1), data_format="channels_last"):
    """col2im: -> (gx,) shaped like the im2col input."""
    (x_shape,) = saved
    gcol = float_input(gcol, "gcol")
    ksize, strides, dil, pads, out_hw = _geometry(x_shape, kernel_size, strides, padding,
                                                  dilation_rate, data_format)
    return (_col2im(gcol, x_shape, data_format, ksize, strides, pads, dil, out_hw),)


def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                   data_format="channels_last", activation="linear", input_grad=True):
    """y = act(conv2d(x, kernel) + bias); see numpy_ops.conv.conv2d_forward.

    x: (N, H, W, C) or (N, C, H, W); kernel (KH, KW, C, OUT); bias (OUT,) or None.
    saved = (x, kernel, pre, y, has_bias, pads).
    """
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", dtype=x.dtype)
    ksize, strides, dil, pads, out_hw = _geometry(x.shape, kernel.shape[:2], strides, padding,
                                                  dilation_rate, data_format)
    kh, kw, cin, cout = kernel.shape
    n = x.shape[0]
    oh, ow = out_hw
    kdim = kh * kw * cin
    m = xp()
    if bias is not None:
        bias = float_input(bias, "bias", dtype=x.dtype)
        if bias.shape != (cout,):  # the kernels read bias[0 .. cout)
            raise ValueError(
                f"conv2d_forward expected a bias of shape ({cout},), one value per output "
                f"channel of the kernel {tuple(kernel.shape)}. Received: "
                f"bias.shape={tuple(bias.shape)}")
    if use_implicit_gemm(x.dtype, data_format):
        y, pre = _igemm_forward(x, kernel, bias, activation, _geom_args(
            x.shape, data_format, ksize, strides, pads, dil, out_hw))
    elif data_format == "channels_last":
        wmat = kernel.reshape(kdim, cout)                          # (KH*KW*C, OUT)
        z = m.empty((n, oh, ow, cout), dtype=x.dtype)              # NHWC output
        z2 = z.reshape(n * oh * ow, cout)
        rows = oh * ow
        step = chunk_size(n, rows * kdim * x.itemsize, COL_BUFFER_BYTES)
        for s in range(0, n, step):
            e = min(n, s + step)
            col = _im2col(x[s:e], data_format, ksize, strides, pads, dil, out_hw)
            matmul(col, wmat, out=z2[s * rows:e * rows])
        y, (pre, _) = bias_activation_forward(z, bias, activation)
    else:
        wt = m.ascontiguousarray(kernel.transpose(3, 2, 0, 1).reshape(cout, kdim))
        z = m.empty((n, cout, oh * ow), dtype=x.dtype)             # (N, OUT, OH*OW)
        step = chunk_size(n, oh * ow * kdim * x.itemsize, COL_BUFFER_BYTES)
        for s in range(0, n, step):
            e = min(n, s + step)
            col = _im2col(x[s:e], data_format, ksize, strides, pads, dil, out_hw)
            matmul(wt, col, out=z[s:e])
        z = z.reshape(n, cout, oh, ow)
        if bias is not None:
            launch_1d("conv", "add_channel_bias", z.dtype, z.size,
                      (z, bias, z.size, cout, oh * ow))
        y, (pre, _) = activation_forward(z, activation)
    return y, (x, kernel, pre, y, bias is not None, pads)


def conv2d_backward(gy, saved, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                    data_format="channels_last", activation="linear", input_grad=True):
    """-> (gx or None, gkernel (KH, KW, C, OUT), gbias (OUT,) or None)."""
    x, kernel, pre, y, has_bias, pads = saved
    m = xp()
    gy = float_input(gy, "gy", dtype=x.dtype)
    ksize, strides, dil, _, out_hw = _geometry(x.shape, kernel.shape[:2], strides, pads,
                                               dilation_rate, data_format)
    kh, kw, cin, cout = kernel.shape
    n = x.shape[0]
    oh, ow = out_hw
    kdim = kh * kw * cin
    gz = gy if activation == "linear" else activation_backward(gy, (pre, y), activation)[0]
    if not has_bias:
        gb = None
    elif data_format == "channels_last":
        gb = column_sums(gz.reshape(-1, cout))                     # (OUT,)
    else:
        per_sample = matmul(gz.reshape(n, cout, oh * ow),
                              m.ones((oh * ow,), dtype=gz.dtype))   # (N, OUT)
        gb = column_sums(per_sample)
    if use_implicit_gemm(x.dtype, data_format):
        gx, gw = _igemm_backward(x, kernel, gz, _geom_args(
            x.shape, data_format, ksize, strides, pads, dil, out_hw), input_grad)
        return gx, gw, gb
    gx = m.empty(x.shape, dtype=x.dtype) if input_grad else None
    if data_format == "channels_last":
        wmat = kernel.reshape(kdim, cout)
        gz2 = gz.reshape(n * oh * ow, cout)                        # (N*OH*OW, OUT)
        gw = m.zeros((kdim, cout), dtype=x.dtype)                  # (KH*KW*C, OUT)
        rows = oh * ow
        step = chunk_size(n, rows * kdim * x.itemsize, COL_BUFFER_BYTES)
        for s in range(0, n, step):
            e = min(n, s + step)
            col = _im2col(x[s:e], data_format, ksize, strides, pads, dil, out_hw)
            g = gz2[s * rows:e * rows]
            gw += matmul(col.T, g)
            if input_grad:
                matmul(g, wmat.T, out=col)                         # gcol reuses the buffer
                _col2im(col, (e - s,) + x.shape[1:], data_format, ksize, strides, pads, dil,
                        out_hw, out=gx[s:e])
        return gx, gw.reshape(kernel.shape), gb
    wt = m.ascontiguousarray(kernel.transpose(3, 2, 0, 1).reshape(cout, kdim))
    gz3 = gz.reshape(n, cout, oh * ow)                             # (N, OUT, OH*OW)
    gwt = m.zeros((cout, kdim), dtype=x.dtype)                     # (OUT, C*KH*KW)
    step = chunk_size(n, oh * ow * kdim * x.itemsize, COL_BUFFER_BYTES)
    for s in range(0, n, step):
        e = min(n, s + step)
        col = _im2col(x[s:e], data_format, ksize, strides, pads, dil, out_hw)
        g = gz3[s:e]
        gwt += matmul(g, col.transpose(0, 2, 1)).sum(axis=0)
        if input_grad:
            gcol = m.ascontiguousarray(matmul(wt.T, g))           # (n, C*KH*KW, OH*OW)
            _col2im(gcol, (e - s,) + x.shape[1:], data_format, ksize, strides, pads, dil,
                    out_hw, out=gx[s:e])
    gw = m.ascontiguousarray(gwt.reshape(cout, cin, kh, kw).transpose(2, 3, 1, 0))
    return gx, gw, gb


def conv1d_forward(x, kernel, bias, strides=1, padding="valid", dilation_rate=1,
                   data_format="channels_last", activation="linear", input_grad=True):
    """1-D convolution through the 2-D path with height 1 (see numpy_ops.conv)."""
    x = float_input(x, "x")
    kernel = float_input(kernel, "kernel", dtype=x.dtype)
    attrs = _conv1d_attrs(x, kernel, strides, padding, dilation_rate, data_format)
    y, saved = conv2d_forward(_as_2d(x, data_format), kernel[None], bias,
                              activation=activation, **attrs)
    y = y[:, 0] if data_format == "channels_last" else y[:, :, 0]
    return y, (saved, attrs)


def conv1d_backward(gy, saved, strides=1, padding="valid", dilation_rate=1,
                    data_format="channels_last", activation="linear", input_grad=True):
    """-> (gx like x or None, gkernel (K, C, OUT), gbias (OUT,) or None)."""
    saved2, attrs = saved
    gy = float_input(gy, "gy")
    gx, gk, gb = conv2d_backward(_as_2d(gy, data_format), saved2, activation=activation,
                                 input_grad=input_grad, **attrs)
    if gx is not None:
        gx = gx[:, 0] if data_format == "channels_last" else gx[:, :, 0]
    return gx, gk[0], gb
