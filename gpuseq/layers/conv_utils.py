"""Argument checks shared by the convolution and pooling layers: data format,
padding and the integer tuples (kernel size, strides, pool size)."""
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


def _tuple_arg(value, n, name, cls_name, allow_zero=False):
    """``value`` as a tuple of ``n`` positive (or, with ``allow_zero``, non-negative)
    integers; an int stands for ``n`` equal entries."""
    try:
        t = normalize_tuple(value, n, name)
    except ValueError as e:
        raise ValueError(f"{cls_name}: {e}") from None
    if any(v < 0 or (v == 0 and not allow_zero) for v in t):
        what = "non-negative" if allow_zero else "positive"
        raise ValueError(f"Received an invalid value for `{name}` of {cls_name}: expected "
                         f"{what} integers. Received: {name}={value!r}")
    return t
