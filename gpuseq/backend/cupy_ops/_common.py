"""Helpers shared by the cupy_ops modules: input normalisation and launch shapes.

Everything here runs identically on the 'cupy' backend (CuPy arrays, NVRTC
kernels) and the 'emulated' backend (NumPy arrays, the CPU emulation of the
same kernels), so the launch configurations are the ones the GPU gets.
"""
from .. import dispatch
from .. import kernel_loader as kl
from ._gemm import matmul

FLOAT_DTYPES = tuple(str(d) for d in kl.KERNEL_DTYPES)


def xp():
    """The array module of the active backend (cupy, or numpy under emulation)."""
    return dispatch.xp()


def float_input(x, what, dtype=None):
    """``x`` as a C-contiguous array of the active backend with a kernel dtype.

    Args:
        x: array-like input of an op.
        what: its name, for the error message.
        dtype: cast to this dtype (default: keep x's dtype, which must be
            float32 or float64).
    """
    m = xp()
    a = m.asarray(x)
    if dtype is None:
        if str(a.dtype) not in FLOAT_DTYPES:
            raise TypeError(
                f"The CUDA kernels compute in float32 or float64, but `{what}` has dtype "
                f"{a.dtype}. Cast it with .astype('float32'). Received: {what}.dtype={a.dtype}")
        dtype = a.dtype
    return m.ascontiguousarray(a, dtype=dtype)


def launch_1d(source, name, dtype, n, args):
    """Launch a grid-stride elementwise kernel over ``n`` elements (skipped when n == 0)."""
    if n == 0:
        return
    kl.launch(kl.get_kernel(source, name, dtype), kl.grid_1d(n), (kl.BLOCK_1D, 1, 1), args)


def launch_rows(source, name, dtype, rows, cols, args):
    """Launch a one-block-per-row kernel over a (rows, cols) array (skipped when empty)."""
    if rows == 0 or cols == 0:
        return
    grid = (min(int(rows), kl.MAX_BLOCKS_1D), 1, 1)
    kl.launch(kl.get_kernel(source, name, dtype), grid, kl.row_block(cols), args)


def column_sums(a):
    """Sums over the rows of a 2-D ``(rows, cols)`` array -> ``(cols,)``, as one GEMV.

    A bias gradient over a large batch (e.g. 300k rows x 32 channels) is a reduction
    down a tall matrix: a generic reduction kernel gives it a handful of blocks,
    cuBLAS spreads it over the whole device.
    """
    m = xp()
    if a.shape[0] == 0:
        return m.zeros((a.shape[1],), dtype=a.dtype)
    return matmul(m.ones((a.shape[0],), dtype=a.dtype), a)


def dummy(dt):
    """A 1-element array for a kernel's unused optional (const) argument; one per
    backend and dtype, kept across calls (every launch would otherwise allocate one)."""
    m = xp()
    key = (m.__name__, str(dt))
    if m.__name__ == "cupy":
        key += (m.cuda.runtime.getDevice(),)
    a = _DUMMIES.get(key)
    if a is None:
        a = _DUMMIES[key] = m.zeros((1,), dtype=dt)
        if m.__name__ == "numpy":
            a.flags.writeable = False   # the emulated launcher refuses it as an output
    return a


_DUMMIES = {}
