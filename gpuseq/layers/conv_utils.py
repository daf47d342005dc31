"""Argument and input-shape checks shared by the convolution and pooling layers: data
format, padding, the integer tuples (kernel size, strides, pool size), the channel axis
of an input shape and whether a kernel fits its input. Errors name the layer class and
the argument, in the style ``... Received: strides=0``; and Keras 1's ``nb_row`` /
``nb_col``, which the 2-D convolutions share; and splitting and joining shapes around
the channel axis."""
from .. import backend as K
from ..backend.numpy_ops.conv import normalize_tuple


def normalize_data_format(value, cls_name, default=None):
    """'channels_last' | 'channels_first' (None = ``default`` or the global setting)."""
    if value is None:
        return default or K.image_data_format()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(
            f"Received an invalid value for `data_format` of {cls_name}: expected "
            f"'channels_last' or 'channels_first'. Received: data_format={value!r}")
    return value


def normalize_padding(value, cls_name, allowed=("valid", "same")):
    """The padding mode in lower case, one of ``allowed``."""
    if isinstance(value, str) and value.lower() in allowed:
        return value.lower()
    extra = ""
    if value == "full":
        extra = (" Keras 1's border_mode='full' has no Keras 2 equivalent: add "
                 "ZeroPadding before the layer and use padding='valid'.")
    raise ValueError(f"Received an invalid value for `padding` of {cls_name}: expected one "
                     f"of {list(allowed)}.{extra} Received: padding={value!r}")


def positive_tuple(value, n, name, cls_name, allow_zero=False):
    """An int or n ints as a tuple of n ints, every one positive (or >= 0)."""
    try:
        t = normalize_tuple(value, n, name)
    except ValueError as e:
        raise ValueError(f"{cls_name}: {e}") from None
    if any(v < 0 or (v == 0 and not allow_zero) for v in t):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"Received an invalid value for `{name}` of {cls_name}: expected "
                         f"{what} integers. Received: {name}={value!r}")
    return t


def split_spatial(shape, data_format):
    """(spatial sizes as a tuple, channels) of a shape with batch, spatial and channel
    axes, unchecked."""
    if data_format == "channels_last":
        return tuple(shape[1:-1]), shape[-1]
    return tuple(shape[2:]), shape[1]


def join_spatial(batch, spatial, channels, data_format):
    """The shape ``(batch, *spatial, channels)``, or ``(batch, channels, *spatial)`` for
    channels_first: the inverse of :func:`split_spatial`."""
    if data_format == "channels_last":
        return (batch,) + tuple(spatial) + (channels,)
    return (batch, channels) + tuple(spatial)


def _with_spatial_sizes(shape, data_format, new_size, params):
    """``shape`` with each known spatial size n replaced by ``new_size(n, p)``, p its entry
    of ``params`` (unknown sizes stay None); batch and channels kept."""
    spatial, channels = split_spatial(shape, data_format)
    sizes = [None if n is None else new_size(n, p) for n, p in zip(spatial, params)]
    return join_spatial(shape[0], sizes, channels, data_format)


def padded_shape(shape, pairs, data_format):
    """The shape after zero padding by ``(before, after)`` pairs, one per spatial axis."""
    return _with_spatial_sizes(shape, data_format, lambda n, p: n + p[0] + p[1], pairs)


def cropped_shape(shape, pairs, data_format):
    """The shape after cropping ``(before, after)`` pairs, one per spatial axis."""
    return _with_spatial_sizes(shape, data_format, lambda n, p: n - p[0] - p[1], pairs)


def upsampled_shape(shape, factors, data_format):
    """The shape after repeating each spatial axis by its factor."""
    return _with_spatial_sizes(shape, data_format, lambda n, s: n * s, factors)


def check_cropping_fits(layer, input_shape, cls_name, detail=""):
    """Refuse a ``layer.cropping`` that removes a whole spatial axis of ``input_shape``;
    ``detail`` follows the shape in the message."""
    for n, (a, b) in zip(split_spatial(input_shape, layer.data_format)[0], layer.cropping):
        if n is not None and a + b >= n:
            raise ValueError(
                f"Layer '{layer.name}' ({cls_name}): cropping {layer.cropping} removes "
                f"everything from input of shape {input_shape}{detail}. Crop less than the "
                "size of each axis.")


def split_channels(layer, input_shape, rank):
    """(spatial sizes, channels) of a (rank + 2)-D input shape; errors at add() time for
    another rank or an unknown channel count."""
    cls_name = type(layer).__name__
    names = "steps" if rank == 1 else "rows, cols"
    layout = (f"(batch, {names}, channels)" if layer.data_format == "channels_last"
              else f"(batch, channels, {names})")
    if input_shape is None or len(input_shape) != rank + 2:
        raise ValueError(
            f"Layer '{layer.name}' ({cls_name}) expects {rank + 2}-D input {layout}, but "
            f"received input of shape {input_shape}. Give the first layer input_shape with "
            f"{rank + 1} entries.")
    spatial, channels = split_spatial(input_shape, layer.data_format)
    if channels is None:
        raise ValueError(
            f"Layer '{layer.name}' ({cls_name}) needs a known channel dimension; received "
            f"input of shape {input_shape} with data_format='{layer.data_format}'.")
    return spatial, int(channels)


def check_kernel_fits(layer, spatial, input_shape, what="spatial size",
                      advice="Use padding='same' or a smaller kernel.", cls_name=None):
    """'valid' padding: the dilated kernel must fit in the input. The message calls the
    spatial sizes the input's ``what`` and ends with ``advice``; ``cls_name`` defaults to
    the layer's class name."""
    for n, k, d in zip(spatial, layer.kernel_size, layer.dilation_rate):
        if n is not None and layer.padding == "valid" and (k - 1) * d + 1 > n:
            raise ValueError(
                f"Layer '{layer.name}' ({cls_name or type(layer).__name__}): the kernel "
                f"{layer.kernel_size} (dilation {layer.dilation_rate}) is larger than the "
                f"input's {what} {tuple(spatial)} with padding='valid' (input shape "
                f"{input_shape}, data_format='{layer.data_format}'). {advice}")


def require_filters(cls_name, filters, example_kernel):
    """Refuse a convolution call without ``filters``; ``example_kernel`` is the kernel
    size shown in the example call."""
    if filters is None:
        raise TypeError(f"{cls_name} requires `filters`, the number of output channels, "
                        f"e.g. {cls_name}(32, {example_kernel}).")


def require_filters_and_kernel(cls_name, filters, kernel_size, example_kernel):
    """Refuse a convolution call without ``filters`` or ``kernel_size``."""
    require_filters(cls_name, filters, example_kernel)
    if kernel_size is None:
        raise TypeError(f"{cls_name} requires `kernel_size`, e.g. "
                        f"{cls_name}({filters}, {example_kernel}).")


def conv_geometry(cls_name, rank, kernel_size, strides, padding, data_format,
                  dilation_rate, allowed_padding=("valid", "same"), default_format=None):
    """``(kernel_size, strides, padding, data_format, dilation_rate)`` of a convolution,
    checked and normalized in that order (the first bad one raises)."""
    return (positive_tuple(kernel_size, rank, "kernel_size", cls_name),
            positive_tuple(strides, rank, "strides", cls_name),
            normalize_padding(padding, cls_name, allowed_padding),
            normalize_data_format(data_format, cls_name, default_format),
            positive_tuple(dilation_rate, rank, "dilation_rate", cls_name))


def is_int(value):
    """A Python int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


# -- Keras 1 spellings shared by the 2-D convolutions ------------------------------------

def keras1_kernel_rows_cols(cls_name, params, args, kwargs):
    """Keras 1's ``Convolution2D(nb_filter, nb_row, nb_col, ...)`` and the keywords
    ``nb_row`` / ``nb_col``: the Keras 2 ``kernel_size=(rows, cols)`` (the ``prepare``
    hook of a :class:`gpuseq.legacy.Keras1Arguments` table)."""
    args = list(args)
    if len(args) >= 3 and is_int(args[1]) and is_int(args[2]):
        args[1:3] = [(int(args[1]), int(args[2]))]
        return tuple(args), kwargs, ["kernel_size"]
    if "nb_row" not in kwargs and "nb_col" not in kwargs:
        return tuple(args), kwargs, []
    kernel_size = args[1] if len(args) >= 2 else kwargs.get("kernel_size")
    if kernel_size is not None and not (is_int(kernel_size) and "nb_row" not in kwargs):
        raise TypeError(f"{cls_name} got `kernel_size` and the Keras 1 `nb_row` / `nb_col`. "
                        "Pass only kernel_size=(rows, cols).")
    rows = kwargs.pop("nb_row", kernel_size)
    cols = kwargs.pop("nb_col", None)
    if rows is None or cols is None:
        raise TypeError(f"{cls_name}: the Keras 1 form needs both nb_row and nb_col "
                        "(or pass kernel_size=(rows, cols)).")
    if len(args) >= 2:
        args[1] = (int(rows), int(cols))
    else:
        kwargs["kernel_size"] = (int(rows), int(cols))
    return tuple(args), kwargs, ["kernel_size"]

