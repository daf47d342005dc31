"""Custom objects known by name to every deserialization, as in Keras 2.

A custom layer, activation, loss, metric or optimizer class that a saved model or a
config names can be given to each call (``load_model(path, custom_objects={...})``),
registered for the whole process (``get_custom_objects()['name'] = obj``), or for a
``with`` block (``CustomObjectScope``). Objects passed to a call win over registered
ones. ``gpuseq.utils`` exports these under Keras 2's names.

Example:
    >>> from gpuseq.utils import CustomObjectScope
    >>> def swish(x):
    ...     return x
    >>> with CustomObjectScope({'swish': swish}):
    ...     pass          # load_model / model_from_json here resolve 'swish'
"""

from collections.abc import Mapping

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "with_custom_objects"]

_GLOBAL_CUSTOM_OBJECTS = {}


def get_custom_objects():
    """The process-wide ``{name: object}`` dictionary that deserialization consults.

    Edit it in place to register an object for good:
    ``get_custom_objects()['MyLayer'] = MyLayer``.
    """
    return _GLOBAL_CUSTOM_OBJECTS


def with_custom_objects(custom_objects=None):
    """A new dict of the registered custom objects updated with ``custom_objects``
    (the objects passed to a call override registered ones of the same name)."""
    if custom_objects is not None and not isinstance(custom_objects, Mapping):
        raise TypeError("custom_objects must be a dict {name: class or function}. "
                        f"Received: custom_objects={custom_objects!r}")
    merged = dict(_GLOBAL_CUSTOM_OBJECTS)
    merged.update(custom_objects or {})
    return merged


class CustomObjectScope:
    """Registers custom objects for the duration of a ``with`` block.

    Args:
        *args: dictionaries ``{name: class or function}``; later ones win.

    On exit the registry returns to what it held on entry, including names the block
    overrode.

    Example:
        >>> from gpuseq.utils import CustomObjectScope
        >>> class MyLayer: pass
        >>> with CustomObjectScope({'MyLayer': MyLayer}):
        ...     pass      # a config naming 'MyLayer' deserializes here
    """

    def __init__(self, *args):
        for i, objects in enumerate(args):
            if not isinstance(objects, Mapping):
                raise TypeError("CustomObjectScope takes dictionaries {name: object}. "
                                f"Received: argument {i} = {objects!r}")
        self.custom_objects = args
        self.backup = None

    def __enter__(self):
        self.backup = dict(_GLOBAL_CUSTOM_OBJECTS)
        for objects in self.custom_objects:
            _GLOBAL_CUSTOM_OBJECTS.update(objects)
        return self

    def __exit__(self, *exc_info):
        _GLOBAL_CUSTOM_OBJECTS.clear()
        _GLOBAL_CUSTOM_OBJECTS.update(self.backup)
        return False


def custom_object_scope(*args):
    """``CustomObjectScope(*args)``, Keras 2's functional spelling.

    Example:
        >>> from gpuseq.utils import custom_object_scope
        >>> with custom_object_scope({'f': abs}):
        ...     pass
    """
    return CustomObjectScope(*args)
