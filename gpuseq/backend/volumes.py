"""Keras backend functions on volumes (5-D tensors): 3-D convolution and its
transpose, 3-D pooling, zero padding, cropping and nearest-neighbour resizing.

They take Tensors (or arrays), return Tensors and are differentiable on the tape.
``data_format`` is 'channels_last' ``(batch, depth, rows, cols, channels)`` or
'channels_first' ``(batch, channels, depth, rows, cols)``; None means
``K.image_data_format()``. Padding follows TensorFlow ('same': output =
ceil(length / stride), an odd extra element at the end of an axis).

Example:
    >>> import gpuseq.backend as K
    >>> x = K.random_normal((2, 4, 8, 8, 3))
    >>> kernel = K.random_normal((3, 3, 3, 3, 16))
    >>> y = K.conv3d(x, kernel, strides=(1, 2, 2), padding='same', data_format='channels_last')
    >>> K.int_shape(K.pool3d(y, (2, 2, 2), (2, 2, 2), data_format='channels_last'))
    (2, 2, 2, 2, 16)
"""
from . import autodiff as ad
from .functions import image_data_format
from .numpy_ops.conv import check_data_format, normalize_tuple


def _format(data_format):
    fmt = image_data_format() if data_format is None else data_format
    check_data_format(fmt)
    return fmt


def _volume(x, what):
    t = ad.as_tensor(x)
    if t.ndim != 5:
        raise ValueError(f"K.{what} expects a 5-D tensor (batch, depth, rows, cols, channels) "
                         "or channels first. Received: x.shape=" + str(t.shape))
    return t


def _padding(padding, what):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"K.{what}: padding must be 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    return padding.lower()


def conv3d(x, kernel, strides=(1, 1, 1), padding="valid", data_format=None,
           dilation_rate=(1, 1, 1), bias=None):
    """3-D convolution (cross-correlation, as in TensorFlow).

    Args:
        x: 5-D input. kernel: (kernel_depth, kernel_rows, kernel_cols, in, out).
        strides, dilation_rate: int or triple. padding: 'valid' or 'same'.
        data_format: 'channels_last' | 'channels_first' | None.
        bias: optional (out,) vector added to every output position (fused).

    Returns:
        (batch, new_depth, new_rows, new_cols, out), or channels first.
    """
    x = _volume(x, "conv3d")
    return ad.fused("conv3d", x, kernel, bias, strides=normalize_tuple(strides, 3, "strides"),
                    padding=_padding(padding, "conv3d"),
                    dilation_rate=normalize_tuple(dilation_rate, 3, "dilation_rate"),
                    data_format=_format(data_format), input_grad=bool(x.requires_grad))[0]


def conv3d_transpose(x, kernel, output_shape, strides=(1, 1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1, 1), bias=None):
    """Transposed 3-D convolution: the input gradient of ``conv3d`` as a function.

    Args:
        x: 5-D input, shaped like a convolution's output.
        kernel: (kernel_depth, kernel_rows, kernel_cols, out, in), Keras's layout.
        output_shape: the result's shape (5 entries, as in Keras; batch and channel
            entries are not used) or its (depth, rows, cols). The convolution with
            these strides / padding / dilation must map it back to x's size.
        strides, padding, data_format, dilation_rate, bias: as in :func:`conv3d`.

    Returns:
        (batch, depth, rows, cols, out) of ``output_shape``, or channels first.
    """
    x = _volume(x, "conv3d_transpose")
    fmt = _format(data_format)
    shape = tuple(output_shape)
    if len(shape) == 5:
        shape = shape[1:4] if fmt == "channels_last" else shape[2:]
    size = normalize_tuple(shape, 3, "output_shape")
    return ad.fused("conv3d_transpose", x, kernel, bias, output_size=size,
                    strides=normalize_tuple(strides, 3, "strides"),
                    padding=_padding(padding, "conv3d_transpose"),
                    dilation_rate=normalize_tuple(dilation_rate, 3, "dilation_rate"),
                    data_format=fmt)[0]


def pool3d(x, pool_size, strides=(1, 1, 1), padding="valid", data_format=None,
           pool_mode="max"):
    """3-D max or average pooling; padded positions never win a max and are not
    counted by an average.

    Args:
        pool_size, strides: int or triple. padding: 'valid' or 'same'.
        pool_mode: 'max' or 'avg'.
    """
    if pool_mode not in ("max", "avg"):
        raise ValueError(f"K.pool3d: pool_mode must be 'max' or 'avg'. "
                         f"Received: pool_mode={pool_mode!r}")
    return ad.fused("pool3d", _volume(x, "pool3d"),
                    pool_size=normalize_tuple(pool_size, 3, "pool_size"),
                    strides=normalize_tuple(strides, 3, "strides"),
                    padding=_padding(padding, "pool3d"), data_format=_format(data_format),
                    mode=pool_mode)[0]


def _pairs(value, what):
    try:
        pairs = tuple((int(a), int(b)) for a, b in value)
    except (TypeError, ValueError):
        pairs = ()
    if len(pairs) != 3 or any(v < 0 for p in pairs for v in p):
        raise ValueError(f"K.{what} expects three (before, after) pairs of non-negative "
                         f"integers. Received: {value!r}")
    return pairs


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zero-pad the depth, rows and columns: ``padding`` is three (before, after) pairs."""
    return ad.fused("zero_padding", _volume(x, "spatial_3d_padding"),
                    padding=_pairs(padding, "spatial_3d_padding"),
                    data_format=_format(data_format))[0]


def spatial_3d_cropping(x, cropping=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Remove (before, after) elements from the depth, rows and columns (gpuseq's
    counterpart of :func:`spatial_3d_padding`)."""
    x = _volume(x, "spatial_3d_cropping")
    cropping = _pairs(cropping, "spatial_3d_cropping")
    fmt = _format(data_format)
    spatial = x.shape[1:4] if fmt == "channels_last" else x.shape[2:]
    if any(a + b >= n for n, (a, b) in zip(spatial, cropping)):
        raise ValueError(f"K.spatial_3d_cropping: cropping {cropping} removes everything "
                         f"from x of shape {x.shape}. Crop less than each axis's size.")
    return ad.fused("cropping", x, cropping=cropping, data_format=fmt)[0]


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format=None):
    """Nearest-neighbour up-sampling: repeat each depth slice, row and column by the
    given integer factors."""
    size = normalize_tuple((depth_factor, height_factor, width_factor), 3, "factors")
    if any(v < 1 for v in size):
        raise ValueError(f"K.resize_volumes: the factors must be positive integers. "
                         f"Received: {size}")
    return ad.fused("upsampling", _volume(x, "resize_volumes"), size=size,
                    data_format=_format(data_format))[0]
