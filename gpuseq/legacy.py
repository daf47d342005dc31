"""Keras 1 argument names, converted the way Keras 2 converted them.

Each conversion warns once per call with the modern spelling, e.g.::

    UserWarning: Update your `Dense` call to the Keras 2 API:
    `Dense(64, kernel_initializer="uniform")`
"""
import warnings


def convert_kwargs(cls_name, args, kwargs, renames, value_maps=None, positional=()):
    """Rename Keras 1 keyword arguments in place of ``kwargs``.

    Args:
        cls_name: the layer's class name (for the message).
        args: positional arguments given by the user (kept for the message).
        kwargs: the keyword arguments (a new dict is returned).
        renames: {old_name: new_name}.
        value_maps: {new_name: callable(old_value) -> new_value}.
        positional: names of the modern positional arguments, for the message.
    Returns:
        the converted kwargs dict.
    """
    value_maps = value_maps or {}
    out = dict(kwargs)
    converted = []
    for old, new in renames.items():
        if old in out:
            if new in out and new != old:
                raise TypeError(f"{cls_name} got both the Keras 1 argument `{old}` and its "
                                f"Keras 2 name `{new}`. Pass only `{new}`.")
            val = out.pop(old)
            if new in value_maps:
                val = value_maps[new](val)
            out[new] = val
            converted.append(new)
    if converted:
        warn_modern_call(cls_name, args, out, converted, positional)
    return out


def _short(value):
    """A positional argument as Keras 2 shows it in the message: strings in double
    quotes, anything else as str() cut to 10 characters plus '...'."""
    if isinstance(value, str):
        return f'"{value}"'
    text = str(value)
    return text[:10] + "..." if len(text) > 10 else text


def warn_modern_call(cls_name, args, kwargs, changed, positional=()):
    parts = [_short(a) for a in args]
    for k in positional:
        if k in kwargs and k in changed:
            parts.append(repr(kwargs[k]))
    for k in changed:
        if k in positional:
            continue
        v = kwargs[k]
        parts.append(f'{k}="{v}"' if isinstance(v, str) else f"{k}={v!r}")
    warnings.warn(f"Update your `{cls_name}` call to the Keras 2 API: "
                  f"`{cls_name}({', '.join(parts)})`", UserWarning, stacklevel=4)
