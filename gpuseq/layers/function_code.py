"""Python functions stored as bytecode in layer configs (Keras 2 ``Lambda``), and the
safe mode that decides whether such code may be loaded.

Keras 2 saved the function of a ``Lambda`` layer (and a callable ``output_shape``)
as ``[code, defaults, closure]``: the function's code object, marshalled and
base64-encoded, with its default arguments and the values of its closure cells;
``function_type`` is then ``'lambda'``. Keras 3 keeps the same triple under
``{'class_name': '__lambda__', 'config': {...}}``. gpuseq reads both, and writes
Keras 2's form for lambdas, nested functions and closures; like Keras 3, it writes a
module-level function by name.

Loading such a config runs code taken from a file, so, as in Keras 3, it is refused
unless the caller allows it for a file it trusts: ``load_model(path,
safe_mode=False)`` (also ``model_from_json`` / ``model_from_config``), or
``gpuseq.config.enable_unsafe_deserialization()`` for the whole process.

Example:
    >>> code = dump_function(lambda x, k=2: x * k)
    >>> with safe_mode_scope(False):
    ...     load_function(code, "lambda_1", "function", {})(3)
    6
"""
import binascii
import builtins
import codecs
import contextlib
import marshal
import sys
import threading
import types

import numpy

from .. import backend

_state = threading.local()            # .safe_mode inside a safe_mode_scope
_global = {"unsafe": False}           # set by enable_unsafe_deserialization()


def enable_unsafe_deserialization():
    """Allow loading Python bytecode from configs and files everywhere in this process
    (Keras 3's ``keras.config.enable_unsafe_deserialization``). Call it only when
    every model file the program loads is trusted."""
    _global["unsafe"] = True


def in_safe_mode():
    """True when loading bytecode from a config is refused at this point."""
    if _global["unsafe"]:
        return False
    scoped = getattr(_state, "safe_mode", None)
    return True if scoped is None else bool(scoped)


@contextlib.contextmanager
def safe_mode_scope(safe_mode):
    """Within the block, loaders refuse bytecode when ``safe_mode`` is true (the
    default of every loader) and run it when it is False. ``None`` keeps the
    surrounding setting."""
    if safe_mode is None:
        yield
        return
    previous = getattr(_state, "safe_mode", None)
    _state.safe_mode = bool(safe_mode)
    try:
        yield
    finally:
        _state.safe_mode = previous


def stored_as_code(fn):
    """Whether a config stores ``fn`` as bytecode: a lambda, a nested function or a
    closure (which no name finds again). A module-level function is stored by its
    name and found again through ``custom_objects`` (or its module)."""
    return isinstance(fn, types.FunctionType) and (
        fn.__name__ == "<lambda>" or fn.__qualname__ != fn.__name__ or bool(fn.__closure__))


def find_by_name(name, module):
    """The function ``name`` of the already-imported ``module``, or None. Used only
    outside safe mode: a file must not pick which function of a module a model calls."""
    if in_safe_mode() or module not in sys.modules:
        return None
    fn = getattr(sys.modules[module], name, None)
    return fn if callable(fn) else None


def dump_function(fn):
    """``fn`` as Keras 2 stored it: ``(base64 of marshal(code), defaults, closure)``.

    The closure holds the values of the variables ``fn`` captured; they must be
    plain values (numbers, strings, lists) to be written into a JSON config.
    """
    code = codecs.encode(marshal.dumps(fn.__code__), "base64").decode("ascii")
    closure = None
    if fn.__closure__:
        closure = tuple(cell.cell_contents for cell in fn.__closure__)
    return code, fn.__defaults__, closure


def is_dumped_function(value):
    """Whether a config value holds a function dumped as bytecode (Keras 2's
    ``[code, defaults, closure]`` or Keras 3's ``{'class_name': '__lambda__'}``)."""
    if isinstance(value, dict):
        return value.get("class_name") == "__lambda__"
    return isinstance(value, (list, tuple)) and len(value) == 3 and isinstance(value[0], str)


def refuse_code(layer_name, what):
    """The error of a loader in safe mode that met a function stored as bytecode."""
    return ValueError(
        f"Layer '{layer_name}' stores its {what} as Python bytecode (as Keras 1/2 saved "
        "Lambda and Merge functions), and loading it would run code taken from the file, "
        "which safe mode refuses. If you trust the file, load it with safe_mode=False "
        "(load_model(path, safe_mode=False), model_from_json(text, safe_mode=False)) or call "
        "gpuseq.config.enable_unsafe_deserialization() first. To run no code from the file, "
        f"pass the function instead: custom_objects={{'{layer_name}': function}}.")


def _code_object(code, layer_name, what):
    try:
        raw = codecs.decode(code.encode("ascii"), "base64")
    except (UnicodeEncodeError, binascii.Error):
        raw = code.encode("raw_unicode_escape")       # Keras before 2.1.2
    try:
        obj = marshal.loads(raw)
    except (ValueError, EOFError, TypeError) as e:
        raise ValueError(
            f"Layer '{layer_name}': the bytecode of its {what} cannot be read by Python "
            f"{sys.version_info.major}.{sys.version_info.minor} ({e}); bytecode only loads "
            "in the Python version that wrote it. Pass the function instead: "
            f"custom_objects={{'{layer_name}': function}}.") from None
    if not isinstance(obj, types.CodeType):
        raise ValueError(f"Layer '{layer_name}': its {what} holds no Python code object. "
                         f"Received: {type(obj).__name__}")
    return obj


def _globals_for(module, custom_objects):
    """The globals a loaded function sees: ``K`` (gpuseq.backend) and ``np``, then the
    names of the module it was written in when that module is loaded (a script's
    ``__main__`` usually imports the backend as ``K``), then ``custom_objects``."""
    globs = {"__builtins__": builtins, "K": backend, "np": numpy, "numpy": numpy}
    if module in sys.modules:
        globs.update(vars(sys.modules[module]))
    globs.update(custom_objects or {})
    return globs


def load_function(value, layer_name, what, custom_objects, module=None):
    """The function stored by :func:`dump_function` (or by Keras 2 / Keras 3).

    Args:
        value: ``[code, defaults, closure]`` or ``{'class_name': '__lambda__', ...}``.
        layer_name: for error messages.
        what: what the function is to the layer ('function', 'output_shape').
        custom_objects: names the function may use as globals.
        module: the module the function was written in, when the config says.

    Raises:
        ValueError: in safe mode (see :func:`refuse_code`), or when the bytecode
            cannot be read.
    """
    if in_safe_mode():
        raise refuse_code(layer_name, what)
    if isinstance(value, dict):
        cfg = value.get("config") or {}
        code, defaults, closure = cfg.get("code"), cfg.get("defaults"), cfg.get("closure")
    else:
        code, defaults, closure = value
    code = _code_object(code, layer_name, what)
    if closure is not None:
        closure = tuple(types.CellType(v) for v in closure)
    if len(closure or ()) != len(code.co_freevars):
        raise ValueError(f"Layer '{layer_name}': its {what} captures "
                         f"{len(code.co_freevars)} variables but the config holds "
                         f"{len(closure or ())} closure values.")
    return types.FunctionType(code, _globals_for(module, custom_objects), code.co_name,
                              tuple(defaults) if defaults is not None else None, closure)
