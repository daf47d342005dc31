"""Session configuration: the GPU memory cap of the TensorFlow-era Keras idiom.

The seeds write::

    config = tf.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = 0.3
    set_session(tf.Session(config=config))

gpuseq offers the same shape of call, without TensorFlow::

    import gpuseq.backend as K
    config = K.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = 0.3
    K.set_session(K.Session(config=config))

or directly ``K.set_gpu_memory_fraction(0.3)``. On the CuPy backend the fraction
caps CuPy's default memory pool (``MemoryPool.set_limit(fraction=...)``): an
allocation beyond it fails with :class:`GPUMemoryLimitError`, which names the
fraction and suggests a smaller batch. On the other backends (NumPy, emulated) the
value is validated and recorded, with a one-time warning that it has no effect there.
"""
import os
import warnings

import numpy

from . import device_settings, dispatch


class GPUMemoryLimitError(MemoryError):
    """An allocation on the GPU went past the configured memory fraction."""


class GPUOptions:
    def __init__(self, per_process_gpu_memory_fraction=None, allow_growth=False):
        self.per_process_gpu_memory_fraction = per_process_gpu_memory_fraction
        self.allow_growth = allow_growth


class ConfigProto:
    """Stand-in for ``tf.ConfigProto``: only ``gpu_options`` is meaningful."""

    def __init__(self, gpu_options=None, **kwargs):
        self.gpu_options = gpu_options if gpu_options is not None else GPUOptions()
        self.options = dict(kwargs)  # log_device_placement etc.: accepted, unused


class Session:
    """Stand-in for ``tf.Session(config=...)``."""

    def __init__(self, config=None, **kwargs):
        self.config = config if config is not None else ConfigProto()


_current = {"session": None, "fraction": None}


def _validate_fraction(fraction):
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise ValueError(
            "Invalid GPU memory fraction: expected a number with 0 < fraction <= 1. "
            f"Received: fraction={fraction!r}") from None
    if not (0.0 < f <= 1.0):
        raise ValueError(
            "Invalid GPU memory fraction: expected 0 < fraction <= 1 (for example 0.3 for 30% "
            f"of the device memory). Received: fraction={fraction!r}")
    return f


def set_gpu_memory_fraction(fraction):
    """Cap this process's GPU memory at ``fraction`` of the device's total memory.

    Args:
        fraction: float in (0, 1].

    On the CuPy backend this sets CuPy's default memory pool limit; on the other
    backends it is only recorded (see :func:`get_gpu_memory_fraction`), and the first
    such call in a process warns that the cap has no effect there.

    Returns:
        The fraction now recorded, as a float.

    Example:
        >>> import gpuseq.backend as K
        >>> K.set_gpu_memory_fraction(0.3)     # doctest: +SKIP
        0.3
    """
    f = _validate_fraction(fraction)
    if dispatch.backend() == "cupy":
        import cupy
        cupy.get_default_memory_pool().set_limit(fraction=f)
    else:
        _note_fraction_without_effect(f)
    _current["fraction"] = f
    return f


def _note_fraction_without_effect(fraction):
    """Warn once per process that a memory cap means nothing without a GPU pool."""
    if _current.get("fraction_noted"):
        return
    _current["fraction_noted"] = True
    warnings.warn(
        f"gpu_memory_fraction={fraction} is recorded but has no effect on the "
        f"'{dispatch.backend()}' backend, which allocates host memory; it caps GPU memory "
        "only on the 'cupy' backend. Received: fraction=" + repr(fraction), UserWarning,
        stacklevel=3)


def get_gpu_memory_fraction():
    """The recorded fraction, or None when no cap was set."""
    return _current["fraction"]


def set_tf32(enabled):
    """Let float32 matrix products on the GPU run on TensorFloat-32 tensor cores.

    TF32 keeps float32's range but rounds the operands of a product to 10 mantissa
    bits (sums stay float32): the convolution and dense GEMMs run several times
    faster on Ampere and newer GPUs, at about 1e-3 relative error per product. Off by
    default, so that the GPU computes what the NumPy backend computes; Keras 3 on JAX
    (and cuDNN convolutions under torch) use TF32 by default. Only the 'cupy' backend
    is affected; float64 never is. ``GPUSEQ_TF32=1`` in the environment turns it on
    at import.

    Args:
        enabled: bool.

    Example:
        >>> import gpuseq.backend as K
        >>> K.set_tf32(True)     # doctest: +SKIP
    """
    if not isinstance(enabled, (bool, numpy.bool_)):
        raise TypeError("set_tf32 takes True or False. "
                        f"Received: enabled={enabled!r}")
    device_settings.record_tf32(enabled)
    apply_device_settings()
    return device_settings.tf32_enabled()


def tf32_enabled():
    """Whether float32 GPU matrix products may use TensorFloat-32 (see :func:`set_tf32`)."""
    return device_settings.tf32_enabled()


CONV_ALGORITHMS = ("auto", "im2col", "implicit_gemm")


def set_conv_algorithm(name):
    """Choose how channels-last 2-D / 1-D convolutions run on the CUDA kernels.

    * ``'im2col'``: the image is unfolded into a column matrix (kernels/conv.cu) and
      multiplied with cuBLAS; float32 products stay float32 unless TF32 is on.
    * ``'implicit_gemm'``: one kernel per product gathers its tiles of that column
      matrix straight from the image (kernels/conv_igemm.cu), on the tensor cores
      (GPUs of compute capability 8.0 or newer). float32 runs as TF32 when
      :func:`set_tf32` is on, otherwise as 3xTF32 (each operand split into two TF32
      parts, three products: about float32's accuracy); float64 runs exact
      multiply-adds.
    * ``'auto'`` (the default): ``'implicit_gemm'`` for float32 when TF32 is on and
      the GPU has TF32 tensor cores, ``'im2col'`` otherwise.

    Channels-first convolutions always use im2col. The NumPy backend is not
    affected (it has its own CPU paths). ``GPUSEQ_CONV_ALGORITHM`` in the
    environment gives the choice until this function is called.

    Args:
        name: one of 'auto', 'im2col', 'implicit_gemm'.

    Returns:
        The name now in effect.

    Example:
        >>> import gpuseq.backend as K
        >>> K.set_conv_algorithm("implicit_gemm")     # doctest: +SKIP
    """
    if not isinstance(name, str) or name not in CONV_ALGORITHMS:
        raise ValueError(
            f"Unknown convolution algorithm: expected one of {list(CONV_ALGORITHMS)}. "
            f"Received: name={name!r}")
    _current["conv"] = name
    return name


def conv_algorithm():
    """The convolution algorithm setting (see :func:`set_conv_algorithm`); until it is
    set, ``GPUSEQ_CONV_ALGORITHM`` (default 'auto'), checked here when first used."""
    if _current["conv"] is None:
        _current["conv"] = _conv_algorithm_from_env()
    return _current["conv"]


def _conv_algorithm_from_env():
    value = os.environ.get("GPUSEQ_CONV_ALGORITHM", "auto").strip().lower() or "auto"
    if value not in CONV_ALGORITHMS:
        raise ValueError(
            f"GPUSEQ_CONV_ALGORITHM must be one of {list(CONV_ALGORITHMS)}. "
            f"Received: GPUSEQ_CONV_ALGORITHM={os.environ['GPUSEQ_CONV_ALGORITHM']!r}")
    return value


_current["conv"] = None  # read from the environment when first needed


def apply_device_settings():
    """Push the recorded settings (TF32) into CuPy when the 'cupy' backend is active
    (dispatch does the same when it activates that backend). A no-op on the other
    backends."""
    if dispatch.backend() == "cupy":
        device_settings.push_to_cupy()


def gpu_memory_limit_bytes():
    """The byte limit of CuPy's memory pool (0 means none), or None on other backends."""
    if dispatch.backend() != "cupy":
        return None
    import cupy
    return cupy.get_default_memory_pool().get_limit()


def set_session(session):
    """Apply a :class:`Session`'s config (its ``per_process_gpu_memory_fraction``)."""
    if not hasattr(session, "config"):
        raise TypeError(
            "set_session expects a gpuseq.backend.Session (or an object with a `config` whose "
            f"`gpu_options.per_process_gpu_memory_fraction` is set). Received: {session!r}")
    cfg = session.config
    frac = getattr(getattr(cfg, "gpu_options", None), "per_process_gpu_memory_fraction", None)
    if frac:  # 0 / None mean "no cap", as in TensorFlow
        set_gpu_memory_fraction(frac)
    _current["session"] = session


def get_session():
    if _current["session"] is None:
        _current["session"] = Session()
    return _current["session"]


def translate_out_of_memory(err):
    """Turn CuPy's OutOfMemoryError into GPUMemoryLimitError with advice, when a cap is set."""
    f = _current["fraction"]
    cap = f"the configured GPU memory fraction {f}" if f is not None else "the GPU's memory"
    return GPUMemoryLimitError(
        f"GPU memory exhausted: an allocation went past {cap} ({err}). "
        "Use a smaller batch_size, a smaller model, or raise the fraction with "
        "gpuseq.backend.set_gpu_memory_fraction().")
