"""Keras 1 argument names, converted the way Keras 2 converted them.

Each layer that Keras 1 spelled differently declares its old names as data, a
:class:`Keras1Arguments` table, and is decorated with :func:`keras1_arguments`,
which converts a call before the layer's ``__init__`` runs. The ``__init__``
itself then takes only Keras 2 arguments. A converted call warns once with the
modern spelling, e.g.::

    UserWarning: Update your `Dense` call to the Keras 2 API:
    `Dense(64, kernel_initializer="uniform")`

Example:
    >>> DENSE = Keras1Arguments(renames={"output_dim": "units", "init": "kernel_initializer"},
    ...                         positional=("units",))
    >>> @keras1_arguments(DENSE)
    ... class Dense(Layer):
    ...     def __init__(self, units=None, kernel_initializer="glorot_uniform", **kwargs): ...
"""
import copy
import functools
import inspect
import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_stacklevel():
    """The ``stacklevel`` for :func:`warnings.warn`, called from the current function,
    that makes a warning point at the first caller outside gpuseq (the user's line)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
            _PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn_user(message):
    """A UserWarning pointing at the user's line (the first frame outside gpuseq)."""
    warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


def _short(value):
    """A positional argument as Keras 2 shows it in the message: strings in double
    quotes, anything else as str() cut to 10 characters plus '...'."""
    if isinstance(value, str):
        return f'"{value}"'
    text = str(value)
    return text[:10] + "..." if len(text) > 10 else text


def _keyword(name, value):
    return f'{name}="{value}"' if isinstance(value, str) else f"{name}={value!r}"


def modern_call(cls_name, positional_values, keywords):
    """The text ``Cls(v1, v2, k1=..., k2=...)`` of a Keras 2 call."""
    parts = [_short(v) for v in positional_values]
    parts += [_keyword(k, v) for k, v in keywords.items()]
    return f"{cls_name}({', '.join(parts)})"


def warn_modern_call(cls_name, args, kwargs, changed, positional=()):
    """Warn ``Update your `cls_name` call to the Keras 2 API: `cls_name(...)```.

    Args:
        cls_name: the class or method name.
        args: positional values shown first.
        kwargs: the call's Keras 2 keyword arguments.
        changed: the names in ``kwargs`` to show (those that were converted).
        positional: names among ``changed`` shown as positional values after ``args``.
    """
    shown_positional = list(args) + [kwargs[k] for k in positional if k in kwargs and
                                     k in changed]
    keywords = {k: kwargs[k] for k in changed if k not in positional}
    warn_user(f"Update your `{cls_name}` call to the Keras 2 API: "
              f"`{modern_call(cls_name, shown_positional, keywords)}`")


def _convert_value(old, new, value, conversion):
    """``value`` of the Keras 1 argument ``old`` as its Keras 2 value."""
    if conversion is None:
        return value
    if callable(conversion):
        return conversion(value)
    try:
        return conversion[value]
    except (KeyError, TypeError):
        expected = ", ".join(repr(k) for k in conversion)
        raise ValueError(f"Received an invalid value for the Keras 1 argument `{old}` (Keras 2: "
                         f"`{new}`): expected one of {expected}. Received: {old}={value!r}"
                         ) from None


class Keras1Arguments:
    """The Keras 1 spellings one layer accepts, and how Keras 2 converted them.

    Args:
        renames: ``{old_name: new_name}``, in the order the warning lists them.
        values: ``{old_name: {old_value: new_value}}`` (a dict, where any other value
            raises ValueError) or ``{old_name: callable(old_value) -> new_value}``.
        positional: Keras 2 names the warning shows as positional values, in order
            (e.g. ``("units",)`` for ``Dense(64, ...)``), as far as they are known.
        shown: Keras 2 names the warning also shows whenever they are given
            (e.g. ``input_shape``).
        removed: ``{old_name: check(cls_name, value)}`` for arguments Keras 2 removed:
            ``check`` raises for values that cannot be honoured (or warns) and the
            argument is dropped. A removed argument alone does not count as a Keras 1 call.
        implied: ``{name: value}`` defaults that a call written with Keras 1 names gets
            where it does not give ``name`` (the Keras 1 behaviour of a changed default).
        prepare: ``prepare(cls_name, params, args, kwargs) -> (args, kwargs, changed)`` for
            the forms a table cannot say (Keras 1 positional arguments); ``params`` are the
            ``__init__``'s positional parameter names, ``changed`` the Keras 2 names it set
            (it may also name a Keras 1 argument that has no Keras 2 spelling and that it
            consumed: the call then counts as a Keras 1 call, and the warning leaves that
            name out, as Keras 2's did).
        after: ``after(cls_name, kwargs, changed)``, called on a Keras 1 call before the
            warning (it may adjust ``kwargs`` in place).
        modern_name: for a Keras 1 class name (see :meth:`alias`): the Keras 2 class the
            warning's modern call names; every call of the old name then warns.
    """

    def __init__(self, renames, values=None, positional=(), shown=(), removed=None,
                 implied=None, prepare=None, after=None, modern_name=None):
        self.renames = dict(renames)
        self.values = dict(values or {})
        self.positional = tuple(positional)
        self.shown = tuple(shown)
        self.removed = dict(removed or {})
        self.implied = dict(implied or {})
        self.prepare = prepare
        self.after = after
        self.modern_name = modern_name
        unknown = set(self.values) - set(self.renames)
        if unknown:
            raise ValueError(f"Keras1Arguments: value conversions for names that are not "
                             f"renamed. Received: values for {sorted(unknown)}")

    def __repr__(self):
        return f"Keras1Arguments({self.renames!r})"

    def alias(self, modern_name, shown=()):
        """This table for a Keras 1 class name that Keras 2 turned into ``modern_name``
        (``AtrousConvolution1D`` -> ``Conv1D``): the same conversions, a warning on every
        call (the class name itself is the old spelling) naming ``modern_name``'s call,
        which also shows the Keras 2 names ``shown`` when they are given."""
        table = copy.copy(self)
        table.modern_name = modern_name
        table.shown = self.shown + tuple(n for n in shown if n not in self.shown)
        return table

    def convert(self, cls_name, params, args, kwargs):
        """Keras 2 ``(args, kwargs)`` for a call of ``cls_name`` (warning if converted).

        Args:
            cls_name: the class name, for the messages.
            params: the positional parameter names of ``__init__`` (without self).
            args: the positional arguments of the call.
            kwargs: its keyword arguments (not modified).

        Raises:
            TypeError: a Keras 1 argument and its Keras 2 name were both given.
            ValueError: a Keras 1 value has no Keras 2 equivalent.
        """
        kwargs = dict(kwargs)
        for old, check in self.removed.items():
            if old in kwargs:
                check(cls_name, kwargs.pop(old))
        changed = []
        if self.prepare is not None:
            args, kwargs, changed = self.prepare(cls_name, params, tuple(args), kwargs)
            changed = list(changed)
        args = list(args)
        position = {name: i for i, name in enumerate(params[:len(args)])}
        # a None is a default passed on (e.g. by a subclass's __init__), not a value given
        given = {name for name, i in position.items() if args[i] is not None} | \
            {name for name, value in kwargs.items() if value is not None}
        renamed_from = {}
        for old, new in self.renames.items():
            if old not in kwargs:
                continue
            if new in given:
                raise TypeError(_conflict(cls_name, old, new, renamed_from.get(new)))
            value = _convert_value(old, new, kwargs.pop(old), self.values.get(old))
            if new in position:
                args[position[new]] = value
            else:
                kwargs[new] = value
            renamed_from[new] = old
            given.add(new)
            changed.append(new)
        if not changed and self.modern_name is None:
            return tuple(args), kwargs
        for name, value in self.implied.items():
            if name in position and name not in given:
                args[position[name]] = value
            elif name not in given:
                kwargs[name] = value
        args = tuple(args)
        if self.after is not None:
            self.after(cls_name, kwargs, changed)
        self._warn(cls_name, params, args, kwargs, changed)
        return args, kwargs

    def _warn(self, cls_name, params, args, kwargs, changed):
        bound = dict(zip(params, args))
        bound.update(kwargs)
        positional_values = []
        for name in self.positional:
            if bound.get(name) is None:
                break
            positional_values.append(bound[name])
        keywords = {k: bound[k] for k in changed if k not in self.positional and k in bound}
        keywords.update({k: bound[k] for k in self.shown
                         if bound.get(k) is not None and k not in keywords})
        modern = modern_call(self.modern_name or cls_name, positional_values, keywords)
        warn_user(f"Update your `{cls_name}` call to the Keras 2 API: `{modern}`")


def _conflict(cls_name, old, new, other_old):
    if other_old is not None:
        return (f"{cls_name} got both `{other_old}` and `{old}`, two Keras 1 names of the "
                f"Keras 2 argument `{new}`. Pass only `{new}`.")
    return (f"{cls_name} got both the Keras 1 argument `{old}` and its Keras 2 name `{new}`. "
            f"Pass only `{new}`.")


def positional_params(init):
    """The names of the positional parameters of an ``__init__`` (without self), as
    :meth:`Keras1Arguments.convert` takes them."""
    params = list(inspect.signature(init).parameters.values())[1:]      # without self
    return tuple(p.name for p in params
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def keras1_arguments(table):
    """Class decorator: the class's ``__init__`` accepts the Keras 1 arguments of
    ``table`` (a :class:`Keras1Arguments`), converted before it runs.

    The table is kept as ``cls.keras1_arguments``. Subclasses inherit the converting
    ``__init__``; one with other Keras 1 names is decorated with its own table.
    """
    if not isinstance(table, Keras1Arguments):
        raise TypeError(f"keras1_arguments expects a Keras1Arguments table. "
                        f"Received: table={table!r}")

    def decorate(cls):
        init = cls.__init__
        params = positional_params(init)

        @functools.wraps(init)
        def __init__(self, *args, **kwargs):
            args, kwargs = table.convert(type(self).__name__, params, args, kwargs)
            init(self, *args, **kwargs)

        cls.__init__ = __init__
        cls.keras1_arguments = table
        return cls

    return decorate


# -- value conversions Keras 2 made ------------------------------------------------------

DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}
"""Keras 1 ``dim_ordering`` -> Keras 2 ``data_format`` (``'default'``: the global setting)."""

CONSUME_LESS = {"cpu": 0, "mem": 1, "gpu": 2}
"""Keras 1 ``consume_less`` of the recurrent layers -> Keras 2 ``implementation``."""


def forget_bias_is_one(value):
    """Keras 1 ``forget_bias_init`` -> Keras 2 ``unit_forget_bias``: True for ones."""
    return value in ("one", "ones", 1, 1.0, True)
