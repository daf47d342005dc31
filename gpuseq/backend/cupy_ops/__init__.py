"""The CUDA implementation of every op: the twin of ``numpy_ops``.

Each function has the name, signature and semantics of its ``numpy_ops``
counterpart and launches the kernels of ``kernels/*.cu`` through
:mod:`gpuseq.backend.kernel_loader` on arrays of ``dispatch.xp()``: CuPy
arrays on the 'cupy' backend, NumPy arrays under the 'emulated' backend (the
same kernels, launch shapes and argument types, executed by the CPU emulation
of CUDA). ``saved`` tuples may hold different things than the NumPy twin's.
Kernels compute in float32 or float64; other dtypes raise a TypeError.

As in ``numpy_ops``, every module of this package is imported here and its
public op functions (``*_forward``, ``*_backward``, ``*_update``) are exported
at package level: a new op family is one module with the same name as its
NumPy twin.
"""
from ..numpy_ops import _export_ops

NAME = "cupy"
OPS = _export_ops(__name__, __path__, globals())
