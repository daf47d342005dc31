"""Convolution arithmetic under Keras 2.2.4's names (``keras.utils.conv_utils``): output and
input lengths, transposed-convolution lengths, argument normalisation, kernel flipping.

Example:
    >>> from gpuseq.utils.conv_utils import conv_output_length
    >>> conv_output_length(28, 3, 'valid', stride=2)
    13
"""
import numpy as np

from ..backend import image_data_format

__all__ = ["normalize_tuple", "normalize_padding", "normalize_data_format", "convert_kernel",
           "conv_output_length", "conv_input_length", "deconv_length"]

_PADDINGS = ("valid", "same", "causal")


def normalize_tuple(value, n, name):
    """``value`` as a tuple of ``n`` ints: an int is repeated, an iterable is checked.

    Example:
        >>> normalize_tuple(3, 2, 'kernel_size')
        (3, 3)
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        values = tuple(value)
    except TypeError:
        values = None
    if values is None or len(values) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"The `{name}` argument must be an int or a tuple of {n} ints. "
                         f"Received: {name}={value!r}")
    return tuple(int(v) for v in values)


def normalize_padding(value):
    """``'valid'``, ``'same'`` or ``'causal'`` (any case), lower-cased."""
    padding = value.lower() if isinstance(value, str) else value
    if padding not in _PADDINGS:
        raise ValueError(f"padding must be one of {_PADDINGS}. Received: padding={value!r}")
    return padding


def normalize_data_format(value):
    """``'channels_first'`` or ``'channels_last'``; None = ``K.image_data_format()``."""
    fmt = image_data_format() if value is None else str(value).lower()
    if fmt not in ("channels_first", "channels_last"):
        raise ValueError("data_format must be 'channels_first' or 'channels_last'. "
                         f"Received: data_format={value!r}")
    return fmt


def convert_kernel(kernel):
    """The kernel flipped along its spatial axes (all but the last two), which turns a
    convolution kernel into a correlation kernel and back (Theano <-> TensorFlow).

    Args:
        kernel: array of rank 3 to 5, ``(*spatial, in_channels, out_channels)``.
    """
    kernel = np.asarray(kernel)
    if not 3 <= kernel.ndim <= 5:
        raise ValueError("convert_kernel takes a kernel of rank 3, 4 or 5 (spatial axes, "
                         f"then input and output channels). Received: shape {kernel.shape}")
    flip = (slice(None, None, -1),) * (kernel.ndim - 2) + (slice(None), slice(None))
    return np.copy(kernel[flip])


def _dilated(filter_size, dilation):
    return filter_size + (filter_size - 1) * (dilation - 1)


def _check_padding(padding, allowed):
    if padding not in allowed:
        raise ValueError(f"padding must be one of {allowed}. Received: padding={padding!r}")


def conv_output_length(input_length, filter_size, padding, stride, dilation=1):
    """Length of a convolution's output along one axis (None stays None).

    Example:
        >>> conv_output_length(10, 3, 'same', 2), conv_output_length(10, 3, 'full', 1)
        (5, 12)
    """
    if input_length is None:
        return None
    _check_padding(padding, ("same", "valid", "full", "causal"))
    size = _dilated(filter_size, dilation)
    length = {"same": input_length, "causal": input_length,
              "valid": input_length - size + 1, "full": input_length + size - 1}[padding]
    return (length + stride - 1) // stride


def conv_input_length(output_length, filter_size, padding, stride):
    """The input length whose convolution has ``output_length`` (None stays None)."""
    if output_length is None:
        return None
    _check_padding(padding, ("same", "valid", "full"))
    pad = {"same": filter_size // 2, "valid": 0, "full": filter_size - 1}[padding]
    return (output_length - 1) * stride - 2 * pad + filter_size


def deconv_length(dim_size, stride_size, kernel_size, padding, output_padding=None,
                  dilation=1):
    """Length of a transposed convolution's output along one axis (None stays None)."""
    _check_padding(padding, ("same", "valid", "full"))
    if dim_size is None:
        return None
    k = _dilated(kernel_size, dilation)
    if output_padding is None:
        return {"valid": dim_size * stride_size + max(k - stride_size, 0),
                "full": dim_size * stride_size - (stride_size + k - 2),
                "same": dim_size * stride_size}[padding]
    pad = {"same": k // 2, "valid": 0, "full": k - 1}[padding]
    return (dim_size - 1) * stride_size + k - 2 * pad + output_padding
