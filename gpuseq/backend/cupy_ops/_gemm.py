"""Matrix products on cuBLAS that a CUDA graph can record.

``matmul(a, b, out=None)`` has ``numpy.matmul``'s semantics for the shapes the
ops use (1-D, 2-D and 3-D operands, a 2-D operand broadcast against a 3-D one,
a C-contiguous N-D operand times a 2-D matrix, transposed views). On CuPy arrays of float32 or float64 it calls cuBLAS's
``cublasGemmEx`` / ``cublasGemmStridedBatchedEx`` itself, through a handle of its
own with a fixed workspace. CuPy's own ``matmul`` refuses to run while a stream
is being captured ("calling cuBLAS API during stream capture is currently
unsupported"), which would keep every model with a Dense, convolution or
recurrent layer out of :mod:`gpuseq.engine.cuda_graphs`; cuBLAS itself supports
capture. Eager steps use the same path, so a replayed step and an eager one run
the same GEMM algorithm.

Anything else (NumPy arrays under the emulated backend, other dtypes, operands
of more than 3 dimensions that do not fold into a 2-D product) goes to the
array module's ``matmul``.

Row-major products are computed as their column-major transposes:
``C = A @ B`` (M x K times K x N) is ``C^T = B^T A^T`` in cuBLAS's terms, so
cuBLAS's first operand is B and its m, n are N, M. A C-contiguous row-major
matrix is, read column-major, its own transpose with the same leading
dimension (operation N); a transposed view (unit stride down its rows) is read
with operation T.
"""
import ctypes
import threading

import numpy

from ..session import tf32_enabled

_OP_N, _OP_T = 0, 1
_CUDA_R_32F, _CUDA_R_64F = 0, 1
_COMPUTE_32F, _COMPUTE_32F_FAST_TF32, _COMPUTE_64F = 68, 77, 70
_GEMM_DEFAULT = -1
_WORKSPACE_BYTES = 32 << 20      # cuBLAS's recommendation for Hopper (4 MiB before)
_INT_MAX = 2 ** 31 - 1

_local = threading.local()       # per thread: {device id: _Handle}
_lib = None


def _is_cupy(a):
    return type(a).__module__.startswith("cupy")


def _load_cublas():
    """The libcublas that CuPy loaded (same library, same version)."""
    global _lib
    if _lib is not None:
        return _lib
    try:                                   # CuPy's cuBLAS binding loads libcublas
        import cupy_backends.cuda.libs.cublas  # noqa: F401
    except ImportError:
        import cupy
        cupy.cuda.device.get_cublas_handle()
    candidates = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if line.strip() else ""
                name = path.rsplit("/", 1)[-1]
                if name.startswith("libcublas.so") and path not in candidates:
                    candidates.append(path)
    except OSError:
        pass
    candidates += ["libcublas.so.13", "libcublas.so.12", "libcublas.so"]
    errors = []
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.cublasGemmEx      # the symbols we call must be there
            lib.cublasGemmStridedBatchedEx
        except (OSError, AttributeError) as e:
            errors.append(f"{name}: {e}")
            continue
        _declare(lib)
        _lib = lib
        return lib
    raise RuntimeError("gpuseq could not load cuBLAS for its matrix products. Tried: "
                       + "; ".join(errors))


def _declare(lib):
    p, i, ll, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong, ctypes.c_size_t
    lib.cublasCreate_v2.argtypes = [ctypes.POINTER(p)]
    lib.cublasSetStream_v2.argtypes = [p, p]
    lib.cublasSetWorkspace_v2.argtypes = [p, p, sz]
    lib.cublasGemmEx.argtypes = [p, i, i, i, i, i, p, p, i, i, p, i, i, p, p, i, i, i, i]
    lib.cublasGemmStridedBatchedEx.argtypes = [
        p, i, i, i, i, i, p, p, i, i, ll, p, i, i, ll, p, p, i, i, ll, i, i, i]
    for fn in (lib.cublasCreate_v2, lib.cublasSetStream_v2, lib.cublasSetWorkspace_v2,
               lib.cublasGemmEx, lib.cublasGemmStridedBatchedEx):
        fn.restype = i


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed with status {status}")


class _Handle:
    """A cuBLAS handle of one device with its own workspace (device memory that no
    other allocation can take, so a recorded GEMM stays valid on replay)."""

    def __init__(self, cupy):
        lib = _load_cublas()
        self.lib = lib
        h = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(h)), "cublasCreate")
        self.handle = h
        self.workspace = cupy.empty((_WORKSPACE_BYTES,), dtype=numpy.uint8)
        self.stream = None

    def on(self, stream_ptr):
        # cublasSetStream puts the default workspace back: set ours after it
        if stream_ptr != self.stream:
            _check(self.lib.cublasSetStream_v2(self.handle, stream_ptr), "cublasSetStream")
            _check(self.lib.cublasSetWorkspace_v2(self.handle, self.workspace.data.ptr,
                                                  _WORKSPACE_BYTES), "cublasSetWorkspace")
            self.stream = stream_ptr
        return self.handle


def _handle(cupy):
    handles = getattr(_local, "handles", None)
    if handles is None:
        handles = _local.handles = {}
    dev = cupy.cuda.runtime.getDevice()
    h = handles.get(dev)
    if h is None:
        h = handles[dev] = _Handle(cupy)
    return h.on(cupy.cuda.get_current_stream().ptr)


_ONE = {numpy.dtype(numpy.float32): ctypes.c_float(1.0),
        numpy.dtype(numpy.float64): ctypes.c_double(1.0)}
_ZERO = {numpy.dtype(numpy.float32): ctypes.c_float(0.0),
         numpy.dtype(numpy.float64): ctypes.c_double(0.0)}


def _layout(x):
    """(op, ld, batch stride) of a 2-D or 3-D operand's last two dimensions read
    column-major, in elements; None when it needs a copy first."""
    s = x.itemsize
    r, c = x.shape[-2:]
    sr, sc = x.strides[-2:]
    if sr % s or sc % s:
        return None
    bs = 0
    if x.ndim == 3 and x.shape[0] > 1:
        if x.strides[0] % s or x.strides[0] < 0:
            return None
        bs = x.strides[0] // s
    if (c == 1 or sc == s) and (r == 1 or sr >= c * s):
        return _OP_N, max(c, sr // s if r > 1 else c, 1), bs
    if (r == 1 or sr == s) and (c == 1 or sc >= r * s):
        return _OP_T, max(r, sc // s if c > 1 else r, 1), bs
    return None


def _ptr(x):
    """Address of x's first element (CuPy: ``data.ptr``; NumPy: ``ctypes.data``)."""
    data = x.data
    return data.ptr if hasattr(data, "ptr") else x.ctypes.data


def _span(x):
    """[first byte, past the last byte) of the memory a view can touch."""
    lo = hi = _ptr(x)
    for n, st in zip(x.shape, x.strides):
        if n > 1:
            if st < 0:
                lo += st * (n - 1)
            else:
                hi += st * (n - 1)
    return lo, hi + x.itemsize


def _overlaps(out, *arrays):
    o_lo, o_hi = _span(out)
    for x in arrays:
        lo, hi = _span(x)
        if lo < o_hi and o_lo < hi:
            return True
    return False


def matmul(a, b, out=None):
    """``a @ b`` (``numpy.matmul``'s semantics), on cuBLAS for CuPy float arrays.

    Args:
        a: (M, K), (K,), (B, M, K) array, or (..., M, K) when ``b`` is 2-D.
        b: (K, N), (K,) or (B, K, N) array (a 2-D operand is shared by every batch).
        out: optional C-contiguous array of the result's shape and dtype.

    Returns:
        The product: (M, N), (B, M, N), or with the 1-D operand's axis dropped.
    """
    if not (_is_cupy(a) and _is_cupy(b)):
        m = numpy if not _is_cupy(a) and not _is_cupy(b) else _cupy()
        return m.matmul(a, b) if out is None else m.matmul(a, b, out=out)
    cupy = _cupy()
    dt = a.dtype
    foldable = b.ndim <= 2 and a.flags.c_contiguous       # (..., M, K) @ (K, N)
    if (dt != b.dtype or dt not in _ONE or a.ndim == 0 or b.ndim == 0 or b.ndim > 3
            or (a.ndim > 3 and not foldable) or (out is not None and out.dtype != dt)):
        return _fallback(cupy, a, b, out)
    squeeze_a, squeeze_b = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if squeeze_a else a                    # (..., M, K)
    b2 = b[:, None] if squeeze_b else b                    # (..., K, N)
    if a2.shape[-1] != b2.shape[-2]:
        return _fallback(cupy, a, b, out)                  # CuPy's own error message
    # an operand whose leading dimensions stack into rows, times a shared 2-D matrix:
    # one GEMM
    if a2.ndim >= 3 and foldable:
        lead = a2.shape[:-1]
        a2 = a2.reshape(int(numpy.prod(lead)), a2.shape[-1])
    else:
        lead = None
    batch_a = a2.shape[0] if a2.ndim == 3 else 1
    batch_b = b2.shape[0] if b2.ndim == 3 else 1
    if batch_a != batch_b and 1 not in (batch_a, batch_b):
        return _fallback(cupy, a, b, out)
    batch = max(batch_a, batch_b)
    M, K = a2.shape[-2:]
    N = b2.shape[-1]
    batched = a2.ndim == 3 or b2.ndim == 3
    full = ((batch,) if batched else ()) + (M, N)
    shape = full
    if lead is not None:
        shape = lead + (N,)
    if squeeze_a:
        shape = shape[:-2] + shape[-1:]
    if squeeze_b:
        shape = shape[:-1]
    if out is not None and tuple(out.shape) != shape:
        return _fallback(cupy, a, b, out)
    if max(M, N, K, batch) > _INT_MAX:
        return _fallback(cupy, a, b, out)
    # cuBLAS writes C while it reads A and B: an out that shares memory with an input
    # gets the product through a temporary
    direct = out is not None and out.flags.c_contiguous and not (
        out.size and _overlaps(out, a, b))
    c = out.reshape(full) if direct else cupy.empty(full, dtype=dt)   # (B?, M, N)
    if c.size:
        if K == 0:
            c.fill(0)
        else:
            # a layout cuBLAS cannot read (or a leading dimension past its 32 bits):
            # a contiguous copy first
            la = _layout(a2)
            if la is None or la[1] > _INT_MAX:
                a2 = cupy.ascontiguousarray(a2)
                la = _layout(a2)
            lb = _layout(b2)
            if lb is None or lb[1] > _INT_MAX:
                b2 = cupy.ascontiguousarray(b2)
                lb = _layout(b2)
            _gemm(cupy, dt, a2, la, b2, lb, c, M, N, K, batch, batched)
    result = c.reshape(shape)
    if out is None:
        return result
    if not direct:
        out[...] = result
    return out


def _gemm(cupy, dt, a, la, b, lb, c, M, N, K, batch, batched):
    handle = _handle(cupy)
    lib = _lib
    if dt == numpy.float64:
        dtype, compute = _CUDA_R_64F, _COMPUTE_64F
    else:
        dtype = _CUDA_R_32F
        compute = _COMPUTE_32F_FAST_TF32 if tf32_enabled() else _COMPUTE_32F
    op_b, ld_b, s_b = lb
    op_a, ld_a, s_a = la
    one, zero = ctypes.byref(_ONE[dt]), ctypes.byref(_ZERO[dt])
    if not batched:
        status = lib.cublasGemmEx(handle, op_b, op_a, N, M, K, one, _ptr(b), dtype, ld_b,
                                  _ptr(a), dtype, ld_a, zero, _ptr(c), dtype, N,
                                  compute, _GEMM_DEFAULT)
    else:
        status = lib.cublasGemmStridedBatchedEx(
            handle, op_b, op_a, N, M, K, one, _ptr(b), dtype, ld_b, s_b,
            _ptr(a), dtype, ld_a, s_a, zero, _ptr(c), dtype, N, M * N, batch,
            compute, _GEMM_DEFAULT)
    _check(status, "GEMM")


def _fallback(cupy, a, b, out):
    return cupy.matmul(a, b) if out is None else cupy.matmul(a, b, out=out)


def _cupy():
    import cupy
    return cupy
