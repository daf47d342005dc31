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
           "build_custom_object", "lookup_custom_object", "registration_hint", "with_custom_objects"]

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


def lookup_custom_object(name, custom_objects=None):
    """The object known under ``name``: ``custom_objects`` (those passed to one call)
    first, then the registered ones; None when neither has it.

    Every ``get``/``deserialize`` of gpuseq's activations, losses, metrics, optimizers,
    initializers, regularizers and constraints asks this before its built-in names,
    as Keras 2's ``deserialize_keras_object`` does, so a custom object registered
    under a built-in name (``'relu'``) replaces the built-in.

    Args:
        name: the name a model, a config or a compile() call uses.
        custom_objects: optional dict ``{name: object}`` that wins over the registry.
    """
    if not isinstance(name, str):
        return None
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _GLOBAL_CUSTOM_OBJECTS.get(name)


def build_custom_object(obj, config=None):
    """The object a custom entry stands for where Keras 2 rebuilds it from a config
    (initializers, regularizers, constraints): a class is built from ``config``
    (``from_config`` when it has one); an instance or a function is the object
    itself. (Keras 2.2.4 calls a registered function with the config's arguments,
    which fails for a function such as ``my_init(shape, dtype=None)``; gpuseq uses
    the function as the initializer, regularizer or constraint it is.)
    """
    config = dict(config or {})
    if isinstance(obj, type):
        return obj.from_config(config) if hasattr(obj, "from_config") else obj(**config)
    return obj


def registration_hint(name="name"):
    """The sentence unknown-name errors end with: how to make a custom object known."""
    return (f"A custom object is found by name once it is registered: "
            f"get_custom_objects()[{name!r}] = obj, or `with CustomObjectScope({{{name!r}: "
            f"obj}}):`, or load_model(path, custom_objects={{{name!r}: obj}}) when "
            f"loading a model.")


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
