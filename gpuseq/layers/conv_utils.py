"""Argument and input-shape checks shared by the convolution and pooling layers: data
format, padding, the integer tuples (kernel size, strides, pool size), the channel axis
of an input shape and whether a kernel fits its input. Errors name the layer class and
the argument, in the style ``... Received: strides=0``."""
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
    if layer.data_format == "channels_last":
        spatial, channels = tuple(input_shape[1:-1]), input_shape[-1]
    else:
        spatial, channels = tuple(input_shape[2:]), input_shape[1]
    if channels is None:
        raise ValueError(
            f"Layer '{layer.name}' ({cls_name}) needs a known channel dimension; received "
            f"input of shape {input_shape} with data_format='{layer.data_format}'.")
    return spatial, int(channels)


def check_kernel_fits(layer, spatial, input_shape):
    """'valid' padding: the dilated kernel must fit in the input."""
    for n, k, d in zip(spatial, layer.kernel_size, layer.dilation_rate):
        if n is not None and layer.padding == "valid" and (k - 1) * d + 1 > n:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}): the kernel "
                f"{layer.kernel_size} (dilation {layer.dilation_rate}) is larger than the "
                f"input's spatial size {tuple(spatial)} with padding='valid' (input shape "
                f"{input_shape}, data_format='{layer.data_format}'). Use padding='same' or "
                "a smaller kernel.")
