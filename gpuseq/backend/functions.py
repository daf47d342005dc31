"""Keras backend functions (``import gpuseq.backend as K``) for user-written code.

Custom losses, metrics, Merge(mode=callable) and Lambda layers are written with
these (``K.mean(K.square(y_pred - y_true), axis=-1)``). They accept Tensors,
NumPy or CuPy arrays and numbers, return :class:`~gpuseq.backend.autodiff.Tensor`,
and are differentiable: gradients of anything built from them come from the
tape, not from the user. Functions whose result is piecewise constant
(``argmax``, ``equal``, ``round``, ``in_top_k``, ...) give a zero (or no)
gradient, as in Keras.

The definitions follow the Keras 2 TensorFlow backend: ``sqrt`` clips its input
at 0, ``clip`` passes the gradient where ``min <= x <= max``, ``maximum`` sends a
tie's gradient to its first argument, ``max``/``min`` share it among ties, the
cross-entropies clip probabilities to ``[epsilon, 1 - epsilon]`` (epsilon = 1e-7).

Example:
    >>> import gpuseq.backend as K
    >>> def mean_pred(y_true, y_pred):
    ...     return K.mean(y_pred)
    >>> def my_mse(y_true, y_pred):            # trains like the built-in 'mse'
    ...     return K.mean(K.square(y_pred - y_true), axis=-1)
"""
import builtins
import numbers

import numpy

from . import autodiff as ad
from . import dispatch
from .autodiff import Tensor, Variable
from .random import rng as _rng
from .symbolic import Function, LearningPhase

_config = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}


# -- configuration -----------------------------------------------------------

def floatx():
    """The default float type, 'float32'."""
    return _config["floatx"]


def set_floatx(value):
    """Set the default float type ('float16', 'float32' or 'float64')."""
    if value not in ("float16", "float32", "float64"):
        raise ValueError("Unknown floatx type. Expected 'float16', 'float32' or 'float64'. "
                         f"Received: value={value!r}")
    _config["floatx"] = str(value)


def epsilon():
    """The fuzz factor used in numeric expressions, 1e-7 as in Keras."""
    return _config["epsilon"]


def set_epsilon(value):
    """Set the fuzz factor returned by :func:`epsilon`."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not numpy.isfinite(v) or v < 0:
        raise ValueError("epsilon must be a finite number >= 0 (Keras uses 1e-7). "
                         f"Received: value={value!r}")
    _config["epsilon"] = v


def cast_to_floatx(x):
    """``x`` as a NumPy array of the default float type."""
    return numpy.asarray(x, dtype=floatx())


def image_data_format():
    return _config["image_data_format"]


def set_image_data_format(value):
    if value not in ("channels_last", "channels_first"):
        raise ValueError("Unknown data_format. Expected 'channels_last' or 'channels_first'. "
                         f"Received: data_format={value!r}")
    _config["image_data_format"] = value


def image_dim_ordering():
    """Keras 1 spelling: 'tf' for channels_last, 'th' for channels_first."""
    return "tf" if image_data_format() == "channels_last" else "th"


def set_image_dim_ordering(value):
    """Keras 1 spelling: 'tf' -> channels_last, 'th' -> channels_first."""
    if value not in ("tf", "th"):
        raise ValueError(f"Unknown dim_ordering. Expected 'tf' or 'th'. Received: value={value!r}")
    set_image_data_format("channels_last" if value == "tf" else "channels_first")


_phase = {"learning_phase": 0}


def learning_phase():
    """0 during inference, 1 while a training step runs (a :class:`LearningPhase`)."""
    return LearningPhase(_phase["learning_phase"])


def function(inputs, outputs, updates=None, name=None, **kwargs):
    """A callable that evaluates symbolic tensors of a model on data (Keras ``K.function``).

    Args:
        inputs: the model's input tensor(s) (``model.input``, ``model.layers[0].input``),
            optionally with ``K.learning_phase()``.
        outputs: a tensor or a list of tensors of the same model, e.g.
            ``model.layers[3].output``.
        updates: not supported (must be empty): gpuseq trains through fit /
            train_on_batch, not through update ops.
        name: a name for the function.

    Returns:
        ``f(list_of_arrays) -> list of NumPy arrays``, one per output.

    Example:
        >>> get_3rd = K.function([model.layers[0].input], [model.layers[3].output])
        >>> layer_output = get_3rd([x])[0]
    """
    if updates:
        raise ValueError("K.function(..., updates=...) is not supported: gpuseq applies "
                         "weight updates in fit / train_on_batch. Evaluate tensors with "
                         f"K.function(inputs, outputs). Received: updates={updates!r}")
    if kwargs:
        raise TypeError(f"K.function got unexpected keyword argument(s) {sorted(kwargs)}. "
                        "Expected inputs, outputs, updates=None, name=None.")
    return Function(inputs, outputs, name=name)


def set_learning_phase(value):
    if value not in (0, 1):
        raise ValueError(f"Expected learning phase to be 0 or 1. Received: value={value!r}")
    _phase["learning_phase"] = value


_uids = {}


def get_uid(prefix=""):
    """1, 2, 3, ... per prefix: the counter behind automatic names (``dense_1``,
    ``sequential_2``). ``K.clear_session()`` starts every prefix again at 1.

    Args:
        prefix: the name the counter belongs to, e.g. ``'dense'``.

    Example:
        >>> K.reset_uids(); K.get_uid("dense"), K.get_uid("dense")
        (1, 2)
    """
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


def reset_uids():
    """Start every automatic-name counter of :func:`get_uid` again at 1."""
    _uids.clear()


def clear_session():
    """Reset the automatic layer names (dense_1, dense_2, ...) and the learning phase.

    gpuseq builds no global graph, so there is nothing else to free.
    """
    reset_uids()
    _phase["learning_phase"] = 0


# -- scalar variables (optimizer hyper-parameters) --------------------------------

class ScalarVariable:
    """A mutable scalar, like the Keras variable behind ``optimizer.lr``.

    It behaves as a float in arithmetic, comparisons, ``float()`` and string
    formatting, and can be changed in place with ``K.set_value(var, value)`` or
    ``var.assign(value)``, so code written for Keras works unchanged::

        K.set_value(model.optimizer.lr, 0.001)
        print(K.get_value(model.optimizer.lr))

    Args:
        value: the initial value (a real number).
        name: a name used in messages.
        check: optional callable ``check(name, value)`` that raises on invalid values.
    """

    __slots__ = ("_value", "name", "_check")
    __hash__ = None  # mutable, compared by value

    def __init__(self, value, name="variable", check=None):
        self.name = name
        self._check = check
        self.assign(value)

    def assign(self, value):
        if isinstance(value, ScalarVariable):
            value = value._value
        elif isinstance(value, Tensor):
            value = value.numpy()
        value = dispatch.to_host(value)
        if numpy.ndim(value) != 0:
            raise ValueError(f"`{self.name}` holds a scalar; received an array of shape "
                             f"{numpy.shape(value)}. Received: value={value!r}")
        if self._check is not None:
            self._check(self.name, value)
        try:
            self._value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"`{self.name}` must be a real number. "
                             f"Received: value={value!r}") from None

    def numpy(self):
        return numpy.float32(self._value)

    def __float__(self):
        return self._value

    def __array__(self, dtype=None, copy=None):
        return numpy.asarray(self._value, dtype=dtype or "float32")

    def __repr__(self):
        return f"<ScalarVariable '{self.name}' value={self._value!r}>"

    def __str__(self):
        return str(self._value)

    def __format__(self, spec):
        return format(self._value, spec)

    def __bool__(self):
        return bool(self._value)

    def _other(self, o):
        return o._value if isinstance(o, ScalarVariable) else o

    def __add__(self, o): return self._value + self._other(o)
    def __radd__(self, o): return self._other(o) + self._value
    def __sub__(self, o): return self._value - self._other(o)
    def __rsub__(self, o): return self._other(o) - self._value
    def __mul__(self, o): return self._value * self._other(o)
    def __rmul__(self, o): return self._other(o) * self._value
    def __truediv__(self, o): return self._value / self._other(o)
    def __rtruediv__(self, o): return self._other(o) / self._value
    def __pow__(self, o): return self._value ** self._other(o)
    def __rpow__(self, o): return self._other(o) ** self._value
    def __neg__(self): return -self._value
    def __abs__(self): return builtins.abs(self._value)
    def __eq__(self, o): return self._value == self._other(o)
    def __ne__(self, o): return self._value != self._other(o)
    def __lt__(self, o): return self._value < self._other(o)
    def __le__(self, o): return self._value <= self._other(o)
    def __gt__(self, o): return self._value > self._other(o)
    def __ge__(self, o): return self._value >= self._other(o)


numbers.Real.register(ScalarVariable)


# -- tensors ------------------------------------------------------------------

def _t(x):
    if isinstance(x, ScalarVariable):
        return ad.as_tensor(numpy.asarray(float(x), dtype=floatx()))
    return ad.as_tensor(x)


def _like(y, x):
    """``y`` as a Tensor on x's device (numbers take x's float dtype)."""
    if isinstance(y, ScalarVariable):
        y = float(y)
    return ad.as_tensor(y, x)


def variable(value, dtype=None, name=None, constraint=None):
    """A weight-like Variable holding ``value`` on the active device."""
    if isinstance(value, Tensor):
        value = value.numpy()
    arr = dispatch.to_device(numpy.asarray(dispatch.to_host(value), dtype=dtype or floatx()))
    v = Variable(arr, name=name)
    v.constraint = constraint
    return v


def constant(value, dtype=None, shape=None, name=None):
    """A constant Tensor (``shape`` broadcasts a scalar value)."""
    arr = numpy.asarray(dispatch.to_host(value), dtype=dtype or floatx())
    if shape is not None:
        arr = numpy.broadcast_to(arr, shape).copy()
    return Tensor(dispatch.to_device(arr), name=name)


def zeros(shape, dtype=None, name=None):
    return variable(numpy.zeros(shape), dtype, name)


def ones(shape, dtype=None, name=None):
    return variable(numpy.ones(shape), dtype, name)


def eye(size, dtype=None, name=None):
    """An identity-matrix Variable of shape (size, size)."""
    return variable(numpy.eye(size), dtype, name)


def zeros_like(x, dtype=None, name=None):
    x = _t(x)
    return Tensor(dispatch.get_array_module(x.data).zeros_like(x.data, dtype=dtype))


def ones_like(x, dtype=None, name=None):
    x = _t(x)
    return Tensor(dispatch.get_array_module(x.data).ones_like(x.data, dtype=dtype))


def identity(x, name=None):
    """The same values as ``x`` (differentiable)."""
    x = _t(x)
    return ad.reshape(x, x.shape)


def arange(start, stop=None, step=1, dtype="int32"):
    """A 1-D Tensor of evenly spaced values (``numpy.arange`` on the device)."""
    if stop is None:
        start, stop = 0, start
    return Tensor(dispatch.xp().arange(start, stop, step, dtype=dtype))


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """A constant Tensor of uniform samples in [minval, maxval)."""
    g = numpy.random.default_rng(seed) if seed is not None else _rng()
    a = g.uniform(minval, maxval, size=shape).astype(dtype or floatx())
    return Tensor(dispatch.to_device(a))


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """A constant Tensor of normal samples."""
    g = numpy.random.default_rng(seed) if seed is not None else _rng()
    a = g.normal(mean, stddev, size=shape).astype(dtype or floatx())
    return Tensor(dispatch.to_device(a))


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    """A constant Tensor of 0/1 samples, 1 with probability ``p``."""
    g = numpy.random.default_rng(seed) if seed is not None else _rng()
    a = (g.random(size=shape) < p).astype(dtype or floatx())
    return Tensor(dispatch.to_device(a))


def eval(x):  # noqa: A001 - Keras name
    """The value of a tensor as a NumPy array."""
    if isinstance(x, ScalarVariable):
        return x.numpy()
    return dispatch.to_host(_t(x).data)


def get_value(x):
    """The value of a Variable (or ``optimizer.lr``) as NumPy."""
    return eval(x)


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def set_value(x, value):
    """Set a Variable's value in place (also ``optimizer.lr`` and other hyper-parameters)."""
    if isinstance(x, (Variable, ScalarVariable)):
        x.assign(value)
    else:
        raise TypeError("set_value expects a Variable (e.g. a layer weight or "
                        "model.optimizer.lr). Received: "
                        f"x={x!r} of type {type(x).__name__}")


def batch_set_value(pairs):
    for x, v in pairs:
        set_value(x, v)


def update(x, new_x):
    """x <- new_x, in place (x a Variable). Returns x."""
    set_value(x, new_x)
    return x


def update_add(x, increment):
    """x <- x + increment, in place. Returns x."""
    set_value(x, _t(x).data + _like(increment, x).data)
    return x


def update_sub(x, decrement):
    """x <- x - decrement, in place. Returns x."""
    set_value(x, _t(x).data - _like(decrement, x).data)
    return x


def shape(x):
    return _t(x).shape


def int_shape(x):
    if hasattr(x, "_keras_shape"):
        return x._keras_shape
    return tuple(_t(x).shape)


def ndim(x):
    return _t(x).ndim


def dtype(x):
    return str(_t(x).dtype)


def count_params(x):
    return int(_t(x).size)


def is_tensor(x):
    return isinstance(x, Tensor)


def is_keras_tensor(x):
    return isinstance(x, Tensor)


# -- reductions ------------------------------------------------------------------

def _float(x):
    return cast(x, floatx()) if x.dtype.kind not in "fc" else x


def mean(x, axis=None, keepdims=False):
    """Mean along ``axis`` (int, tuple or list; None = all); booleans count as 0/1."""
    return ad.reduce_mean(_float(_t(x)), axis, keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum along ``axis`` (int, tuple or list; None = all)."""
    x = _t(x)
    if x.dtype.kind == "b":
        x = _float(x)
    return ad.reduce_sum(x, axis, keepdims)


def _norm_axes(axis, ndim_):
    if axis is None:
        return tuple(range(ndim_))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted(a % ndim_ for a in axes))


class _Prod(ad.Function):
    """Product along axes; the gradient is the product of the *other* factors
    (exact also where some factors are zero)."""

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, a):
        self.a = a
        self.axes = _norm_axes(self.axis, a.ndim)
        return a.prod(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        xp = dispatch.get_array_module(g)
        a, axes = self.a, self.axes
        rest = [i for i in range(a.ndim) if i not in axes]
        perm = rest + list(axes)
        at = xp.transpose(a, perm)                       # (rest..., reduced...)
        lead = at.shape[:len(rest)]
        flat = at.reshape(lead + (-1,))                  # (rest..., R)
        ones = xp.ones(lead + (1,), dtype=a.dtype)
        left = xp.concatenate([ones, xp.cumprod(flat, axis=-1)[..., :-1]], axis=-1)
        rev = flat[..., ::-1]
        right = xp.concatenate([ones, xp.cumprod(rev, axis=-1)[..., :-1]], axis=-1)[..., ::-1]
        others = (left * right).reshape(at.shape)
        inv = numpy.argsort(perm)
        others = xp.transpose(others, [int(i) for i in inv])
        gk = g if self.keepdims else g.reshape(
            tuple(1 if i in axes else a.shape[i] for i in range(a.ndim)))
        return gk * others


def prod(x, axis=None, keepdims=False):
    """Product along ``axis``."""
    return _Prod(ad._axis(axis), keepdims)(_t(x))


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum along ``axis``; the gradient is shared equally among tied maxima."""
    return ad.reduce_max(_t(x), axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum along ``axis``; the gradient is shared equally among tied minima."""
    return ad.reduce_min(_t(x), axis, keepdims)


def var(x, axis=None, keepdims=False):
    """Variance (population, as Keras) along ``axis``."""
    x = _float(_t(x))
    m = mean(x, axis, keepdims=True)
    return mean(square(x - m), axis, keepdims)


def std(x, axis=None, keepdims=False):
    """Standard deviation: ``sqrt(var(x))``."""
    return sqrt(var(x, axis, keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` along ``axis``, computed stably."""
    x = _float(_t(x))
    m = Tensor(x.data.max(axis=ad._axis(axis), keepdims=True))
    xp = dispatch.get_array_module(m.data)
    m = Tensor(xp.where(xp.isfinite(m.data), m.data, 0))
    y = log(sum(exp(x - m), axis, keepdims=True)) + m
    if keepdims:
        return y
    if axis is None:
        return ad.reshape(y, ())
    return ad.reshape(y, tuple(d for i, d in enumerate(y.shape)
                               if i not in _norm_axes(axis, x.ndim)))


def cumsum(x, axis=0):
    """Cumulative sum along ``axis``."""
    return _CumSum(axis)(_t(x))


class _CumSum(ad.Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        return dispatch.get_array_module(x).cumsum(x, axis=self.axis)

    def backward(self, g):
        xp = dispatch.get_array_module(g)
        return xp.flip(xp.cumsum(xp.flip(g, self.axis), axis=self.axis), self.axis)


def cumprod(x, axis=0):
    """Cumulative product along ``axis``."""
    x = _t(x)
    ax = axis % x.ndim
    n = x.shape[ax]
    outs = []
    acc = None
    for i in range(n):
        idx = tuple([slice(None)] * ax + [slice(i, i + 1)])
        xi = ad.getitem(x, idx)
        acc = xi if acc is None else acc * xi
        outs.append(acc)
    return ad.concatenate(outs, axis=ax)


# -- elementwise math ---------------------------------------------------------------

def square(x):
    return ad.square(_t(x))


def sqrt(x):
    """Square root; like Keras, the input is first clipped to [0, inf)."""
    x = _t(x)
    with numpy.errstate(divide="ignore"):
        return ad.sqrt(clip(x, 0.0, None))


def abs(x):  # noqa: A001
    return ad.absolute(_t(x))


def exp(x):
    return ad.exp(_t(x))


def log(x):
    return ad.log(_t(x))


def log1p(x):
    return ad.log1p(_t(x))


def pow(x, a):  # noqa: A001
    """``x ** a`` elementwise."""
    x = _t(x)
    return ad.power(x, _like(a, x))


def sign(x):
    return ad.sign(_t(x))


def round(x):  # noqa: A001
    """Round half to even (as TensorFlow); zero gradient."""
    return ad.round_(_t(x))


def clip(x, min_value, max_value):
    """Clip to [min_value, max_value] (None = unbounded); gradient 1 inside, inclusive."""
    if max_value is None:
        max_value = numpy.inf
    if min_value is None:
        min_value = -numpy.inf
    min_value, max_value = float(min_value), float(max_value)
    if max_value < min_value:
        max_value = min_value
    return ad.clip(_t(x), min_value, max_value)


def maximum(x, y):
    """Elementwise maximum (a tie sends the gradient to ``x``)."""
    x = _t(x)
    return ad.maximum(x, _like(y, x))


def minimum(x, y):
    """Elementwise minimum (a tie sends the gradient to ``x``)."""
    x = _t(x)
    return ad.minimum(x, _like(y, x))


def sin(x):
    return ad.sin(_t(x))


def cos(x):
    return ad.cos(_t(x))


# -- linear algebra ----------------------------------------------------------------------

def dot(x, y):
    """Keras ``K.dot``: contracts the last axis of ``x`` with ``y``'s second-to-last.

    Shapes: (..., k) . (k, m) -> (..., m); (a, k) . (b, k, m) -> (a, b, m)
    (the leading axes of both are kept, not broadcast).
    """
    x, y = _t(x), _t(y)
    if y.ndim <= 2 or x.ndim == 1:
        return ad.matmul(x, y)
    if x.shape[-1] != y.shape[-2]:
        raise ValueError(f"K.dot: the last axis of x ({x.shape[-1]}) must equal the "
                         f"second-to-last axis of y ({y.shape[-2]}). Received shapes "
                         f"x={x.shape}, y={y.shape}")
    k = y.ndim
    perm = [k - 2] + [i for i in range(k) if i != k - 2]
    y2 = ad.reshape(ad.transpose(y, perm), (y.shape[-2], -1))       # (k, prod(rest))
    out = ad.matmul(x, y2)                                           # (..., prod(rest))
    return ad.reshape(out, x.shape[:-1] + y.shape[:-2] + y.shape[-1:])


def batch_dot(x, y, axes=None):
    """Batch-wise dot product (Keras 2): for each sample i, contract ``x[i]`` along
    ``axes[0]`` with ``y[i]`` along ``axes[1]``.

    Default axes: (x.ndim - 1, y.ndim - 2) (y.ndim - 1 when y is 2-D). The result
    has shape (batch,) + x's remaining axes + y's remaining axes; a 1-D result
    becomes (batch, 1), as Keras.

    Example:
        >>> batch_dot(x, y, axes=1)   # x, y (32, 20) -> (32, 1)
        >>> batch_dot(x, y, axes=(2, 2))   # (b, n, k), (b, m, k) -> (b, n, m)
    """
    x, y = _t(x), _t(y)
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 2 if y.ndim > 2 else y.ndim - 1)
    if isinstance(axes, int):
        axes = (axes, axes)
    ax, ay = axes[0] % x.ndim, axes[1] % y.ndim
    if ax == 0 or ay == 0:
        raise ValueError(f"batch_dot cannot contract the batch axis. Received: axes={axes!r}")
    if x.shape[ax] != y.shape[ay]:
        raise ValueError(f"batch_dot: x.shape[{ax}]={x.shape[ax]} must equal "
                         f"y.shape[{ay}]={y.shape[ay]}. Received shapes x={x.shape}, "
                         f"y={y.shape}, axes={axes!r}")
    b, k = x.shape[0], x.shape[ax]
    xr = [i for i in range(1, x.ndim) if i != ax]
    yr = [i for i in range(1, y.ndim) if i != ay]
    xt = ad.reshape(ad.transpose(x, [0] + xr + [ax]), (b, -1, k))    # (b, X, k)
    yt = ad.reshape(ad.transpose(y, [0, ay] + yr), (b, k, -1))       # (b, k, Y)
    out = ad.matmul(xt, yt)                                          # (b, X, Y)
    shp = (b,) + tuple(x.shape[i] for i in xr) + tuple(y.shape[i] for i in yr)
    if len(shp) == 1:
        shp = (b, 1)
    return ad.reshape(out, shp)


def transpose(x):
    """Reverse the axes (a matrix transpose for 2-D)."""
    return ad.transpose(_t(x))


def permute_dimensions(x, pattern):
    return ad.transpose(_t(x), pattern)


def l2_normalize(x, axis=None):
    """``x / sqrt(max(sum(x**2, axis), 1e-12))``."""
    x = _t(x)
    return x / sqrt(maximum(sum(square(x), axis, keepdims=True), 1e-12))


# -- shapes ------------------------------------------------------------------------------------

def reshape(x, shape):
    return ad.reshape(_t(x), shape)


def flatten(x):
    return ad.reshape(_t(x), (-1,))


def batch_flatten(x):
    x = _t(x)
    return ad.reshape(x, (x.shape[0], -1))


def expand_dims(x, axis=-1):
    x = _t(x)
    shp = list(x.shape)
    if axis < 0:
        axis = len(shp) + axis + 1
    shp.insert(axis, 1)
    return ad.reshape(x, shp)


def squeeze(x, axis):
    """Remove axis ``axis``, which must have length 1."""
    x = _t(x)
    shp = list(x.shape)
    if shp[axis] != 1:
        raise ValueError(f"Cannot squeeze axis {axis} of a tensor of shape {x.shape}: its "
                         f"length is {shp[axis]}, not 1.")
    del shp[axis]
    return ad.reshape(x, shp)


def concatenate(tensors, axis=-1):
    return ad.concatenate([_t(t) for t in tensors], axis)


def stack(tensors, axis=0):
    return ad.stack([_t(t) for t in tensors], axis)


def repeat(x, n):
    """(batch, dim) -> (batch, n, dim)."""
    x = _t(x)
    if x.ndim != 2:
        raise ValueError(f"K.repeat expects a 2-D tensor (batch, dim). Received shape {x.shape}")
    return ad.concatenate([expand_dims(x, 1)] * n, axis=1)


def repeat_elements(x, rep, axis):
    """Repeat every element ``rep`` times along ``axis`` (like ``numpy.repeat``)."""
    x = _t(x)
    ax = axis % x.ndim
    idx = numpy.repeat(numpy.arange(x.shape[ax]), rep)
    xp = dispatch.get_array_module(x.data)
    key = tuple([slice(None)] * ax + [xp.asarray(idx)])
    return ad.getitem(x, key)


def tile(x, n):
    """Tile ``x``: ``n`` is an int (last axis) or one count per axis."""
    x = _t(x)
    reps = (n,) if isinstance(n, int) else tuple(n)
    if len(reps) > x.ndim:
        raise ValueError(f"K.tile: got {len(reps)} repetition counts for a {x.ndim}-D tensor. "
                         f"Received: n={n!r}")
    out = x
    for ax, r in enumerate(reps[::-1]):
        a = x.ndim - 1 - ax
        if r > 1:
            out = ad.concatenate([out] * r, axis=a)
    return out


def reverse(x, axes):
    """Reverse the order of the elements along ``axes`` (int or list)."""
    x = _t(x)
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    axes = [a % x.ndim for a in axes]
    key = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(x.ndim))
    return ad.getitem(x, key)


def gather(reference, indices):
    """Rows of ``reference`` (axis 0) picked by integer ``indices``."""
    return ad.getitem(_t(reference), _t(indices).data)


def one_hot(indices, num_classes):
    """Integer tensor (..., ) -> one-hot float tensor (..., num_classes)."""
    ind = _t(indices).data
    xp = dispatch.get_array_module(ind)
    oh = (ind[..., None].astype("int64") == xp.arange(num_classes)).astype(floatx())
    return Tensor(oh)


def switch(condition, then_expression, else_expression):
    """``then`` where condition is true, else ``else`` (either may be a callable).

    A condition of lower rank than the expressions is applied along the leading axes.
    """
    if callable(then_expression):
        then_expression = then_expression()
    if callable(else_expression):
        else_expression = else_expression()
    cond = _t(condition).data.astype(bool)
    a, b = _t(then_expression), _t(else_expression)
    b = _like(b, a)
    nd = builtins.max(a.ndim, b.ndim)
    while cond.ndim < nd:
        cond = cond[..., None]
    return ad.where(cond, a, b)


def in_train_phase(x, alt, training=None):
    training = learning_phase() if training is None else training
    pick = x if training else alt
    return pick() if callable(pick) else pick


def in_test_phase(x, alt, training=None):
    return in_train_phase(alt, x, training)


# -- non-differentiable (comparisons, argmax, casts of booleans) ----------------

def _const(a):
    return Tensor(a)


def argmax(x, axis=-1):
    x = _t(x)
    return _const(x.data.argmax(axis=axis))


def argmin(x, axis=-1):
    x = _t(x)
    return _const(x.data.argmin(axis=axis))


def _cmp(fn, doc):
    def op(x, y):
        x = _t(x)
        return _const(fn(x.data, _like(y, x).data))
    op.__doc__ = doc
    return op


equal = _cmp(lambda a, b: a == b, "Elementwise x == y (boolean, no gradient).")
not_equal = _cmp(lambda a, b: a != b, "Elementwise x != y (boolean, no gradient).")
greater = _cmp(lambda a, b: a > b, "Elementwise x > y (boolean, no gradient).")
greater_equal = _cmp(lambda a, b: a >= b, "Elementwise x >= y (boolean, no gradient).")
less = _cmp(lambda a, b: a < b, "Elementwise x < y (boolean, no gradient).")
less_equal = _cmp(lambda a, b: a <= b, "Elementwise x <= y (boolean, no gradient).")


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _const(_t(x).data.astype(bool).any(axis=axis, keepdims=keepdims))


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _const(_t(x).data.astype(bool).all(axis=axis, keepdims=keepdims))


def in_top_k(predictions, targets, k):
    """Whether each target class is among the ``k`` largest predictions (as TF).

    Args:
        predictions: (batch, classes) scores.
        targets: (batch,) integer class indices.
        k: int.

    Returns:
        (batch,) boolean Tensor. Classes tied with the k-th largest score count as
        inside the top k; a non-finite score of the target gives False.
    """
    p = _t(predictions).data
    t = _t(targets).data
    if p.ndim != 2 or t.ndim != 1 or t.shape[0] != p.shape[0]:
        raise ValueError("in_top_k expects predictions of shape (batch, classes) and targets "
                         f"of shape (batch,). Received shapes {tuple(p.shape)} and "
                         f"{tuple(t.shape)}")
    xp = dispatch.get_array_module(p)
    ti = t.astype("int64")
    valid = (ti >= 0) & (ti < p.shape[1])
    tp = xp.take_along_axis(p, xp.clip(ti, 0, p.shape[1] - 1)[:, None], axis=1)  # (batch, 1)
    above = (p > tp).sum(axis=1)
    return _const(valid & xp.isfinite(tp[:, 0]) & (above < k))


def cast(x, dtype):
    return ad.cast(_t(x), dtype)


def stop_gradient(x):
    """The value of ``x`` with no gradient flowing back through it."""
    return Tensor(_t(x).data)


# -- activations and losses on tensors -----------------------------------------

def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit (Keras 2.2): ``x`` above ``threshold`` (else 0), capped at
    ``max_value``, minus ``alpha * relu(threshold - x)`` below it."""
    x = _t(x)
    if threshold != 0:
        y = x * Tensor((x.data > threshold).astype(x.dtype))
    else:
        y = ad.relu(x)
    if max_value is not None:
        y = clip(y, 0.0, max_value)
    if alpha:
        y = y - alpha * ad.relu((threshold - x) if threshold != 0 else -x)
    return y


def sigmoid(x):
    return ad.sigmoid(_t(x))


def hard_sigmoid(x):
    """``clip(0.2 * x + 0.5, 0, 1)``."""
    return clip(_t(x) * 0.2 + 0.5, 0.0, 1.0)


def tanh(x):
    return ad.tanh(_t(x))


def softplus(x):
    return ad.softplus(_t(x))


def softsign(x):
    x = _t(x)
    return x / (abs(x) + 1.0)


def elu(x, alpha=1.0):
    x = _t(x)
    pos = ad.relu(x)
    neg = alpha * (exp(minimum(x, 0.0)) - 1.0)
    return ad.where(x.data > 0, pos, neg)


def softmax(x, axis=-1):
    return ad.softmax(_t(x), axis)


def _log_softmax(x, axis):
    m = stop_gradient(max(x, axis, keepdims=True))
    z = x - m
    return z - log(sum(exp(z), axis, keepdims=True))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Keras 2: ``output`` renormalised to sum 1, clipped to [eps, 1-eps];
    ``-sum(target * log(output), axis)``. From logits: ``-sum(target * log_softmax)``.

    Shapes: target and output (..., classes) -> (...,).
    """
    target, output = _t(target), _t(output)
    if target.dtype != output.dtype:
        target = cast(target, output.dtype)
    if from_logits:
        return -sum(target * _log_softmax(output, axis), axis)
    output = output / sum(output, axis, keepdims=True)
    output = clip(output, epsilon(), 1.0 - epsilon())
    return -sum(target * log(output), axis)


def _check_labels(labels, n_classes):
    """Integer class labels in [0, n_classes): raise a clear error otherwise (one sync)."""
    xp = dispatch.get_array_module(labels)
    if labels.size == 0:
        return
    if labels.dtype.kind == "f":
        stats = xp.stack([labels.min(), labels.max(),
                          (labels != xp.floor(labels)).any().astype(labels.dtype)])
    else:
        stats = xp.stack([labels.min(), labels.max(), xp.zeros((), dtype=labels.dtype)])
    lo, hi, frac = (float(v) for v in dispatch.to_host(stats))
    if frac or not numpy.isfinite(lo) or not numpy.isfinite(hi):
        raise ValueError("sparse_categorical_crossentropy expects integer class labels, but "
                         "the targets hold non-integer values. Pass class indices "
                         "0..classes-1 (for one-hot targets use categorical_crossentropy).")
    if lo < 0 or hi >= n_classes:
        raise ValueError(
            f"Labels out of range for sparse_categorical_crossentropy: the output has "
            f"{n_classes} classes (valid labels 0..{n_classes - 1}), but the targets range "
            f"over {int(lo)}..{int(hi)}. Give the last layer as many units as classes. "
            f"Received: labels min={int(lo)}, max={int(hi)}")


def _sparse_onehot(target, output, axis):
    """Integer labels (...,) or (..., 1) -> one-hot like ``output`` (..., classes)."""
    if axis not in (-1, output.ndim - 1):
        raise ValueError("sparse_categorical_crossentropy supports the class axis -1 only. "
                         f"Received: axis={axis!r}")
    labels = target.data
    lead = output.shape[:-1]
    if tuple(labels.shape) != tuple(lead):
        if labels.size == int(numpy.prod(lead, dtype=numpy.int64)) and (
                labels.ndim == output.ndim and labels.shape[-1] == 1 or labels.ndim <= 1):
            labels = labels.reshape(lead)
        else:
            raise ValueError(
                f"sparse_categorical_crossentropy expects integer labels of shape {lead} or "
                f"{lead + (1,)} for an output of shape {output.shape}. Received targets "
                f"of shape {tuple(labels.shape)}.")
    n_classes = output.shape[-1]
    _check_labels(labels, n_classes)
    xp = dispatch.get_array_module(output.data)
    lab = labels.astype("int64")
    return Tensor((lab[..., None] == xp.arange(n_classes)).astype(output.dtype))


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy with integer targets (Keras 2 TensorFlow backend).

    ``output`` is clipped to [eps, 1-eps] and then normalised inside the log:
    ``log(sum(clip(output))) - log(clip(output)[target])``. From logits:
    ``-log_softmax(output)[target]``. Labels outside 0..classes-1 raise ValueError.

    Shapes: target (...,) or (..., 1) integers; output (..., classes) -> (...,).
    """
    target, output = _t(target), _t(output)
    onehot = _sparse_onehot(target, output, axis)
    if from_logits:
        logp = _log_softmax(output, -1)
    else:
        p = clip(output, epsilon(), 1.0 - epsilon())
        logp = log(p) - log(sum(p, -1, keepdims=True))
    return -sum(onehot * logp, -1)


def binary_crossentropy(target, output, from_logits=False):
    """Keras 2: output clipped to [eps, 1-eps], ``-(t*log(p) + (1-t)*log(1-p))``
    elementwise. From logits: ``max(x, 0) - x*t + log(1 + exp(-|x|))``."""
    target, output = _t(target), _t(output)
    if target.dtype != output.dtype:
        target = cast(target, output.dtype)
    if from_logits:
        return relu(output) - output * target + softplus(-abs(output))
    if tuple(target.shape) == tuple(output.shape):
        return ad.binary_crossentropy(target, output, epsilon())   # one fused tape node
    output = clip(output, epsilon(), 1.0 - epsilon())
    return -(target * log(output) + (1.0 - target) * log(1.0 - output))


def gradients(loss, variables):
    """Gradients of a scalar ``loss`` Tensor with respect to ``variables`` (Tensors)."""
    return [Tensor(g) for g in ad.gradients(loss, variables)]


# -- transposed, depthwise and separable convolutions --------------------------------
#
# Keras 2's backend signatures; ``bias`` and ``activation`` are gpuseq's additions: the
# bias add and an elementwise activation (a name of activations.ACTIVATION_KINDS) run
# fused after the convolution, as the layers use them.

def _conv_format(data_format):
    fmt = image_data_format() if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError("Unknown data_format. Expected 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return fmt


def _pair(value):
    return (int(value),) * 2 if isinstance(value, (int, numpy.integer)) else tuple(value)


def _deconv_output_size(output_shape, fmt):
    """The (rows, cols) of an ``output_shape`` given as a full 4-D shape (the batch entry
    ignored) or as (rows, cols)."""
    if output_shape is None:
        return None
    shape = tuple(output_shape)
    if len(shape) == 4:
        return tuple(shape[1:3]) if fmt == "channels_last" else tuple(shape[2:4])
    if len(shape) != 2:
        raise ValueError("conv2d_transpose expects output_shape as (batch, rows, cols, "
                         "channels), (batch, channels, rows, cols) or (rows, cols). "
                         f"Received: output_shape={output_shape!r}")
    return shape


def conv2d_transpose(x, kernel, output_shape=None, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1), bias=None, activation=None):
    """Transposed 2-D convolution ("deconvolution"): the adjoint of ``conv2d``.

    Args:
        x: (batch, rows, cols, in) or (batch, in, rows, cols).
        kernel: (kernel_rows, kernel_cols, filters, in), Keras's layout.
        output_shape: the output's shape, batch first (its batch entry is ignored), or
            its (rows, cols); None = Keras's inferred size (``in * stride`` for
            'same', ``in * stride + max(kernel - stride, 0)`` for 'valid').
        strides, dilation_rate: int or pair.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' / 'channels_first' (None = image_data_format()).
        bias: (filters,) or None (gpuseq: added in the same op).
        activation: None or an elementwise activation name (gpuseq: fused).

    Returns:
        (batch, out_rows, out_cols, filters) or (batch, filters, out_rows, out_cols).

    Example:
        >>> y = K.conv2d_transpose(x, kernel, strides=2, padding='same')  # doubles rows, cols
    """
    fmt = _conv_format(data_format)
    x = _t(x)
    y, _ = ad.fused("conv2d_transpose", x, kernel, bias,
                    output_size=_deconv_output_size(output_shape, fmt),
                    strides=_pair(strides), padding=padding,
                    dilation_rate=_pair(dilation_rate), data_format=fmt,
                    activation=activation or "linear", input_grad=bool(x.requires_grad))
    return y


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding="valid", data_format=None,
                     dilation_rate=(1, 1), bias=None, activation=None):
    """Depthwise 2-D convolution: each input channel convolved with its own filters.

    Args:
        x: (batch, rows, cols, channels) or (batch, channels, rows, cols).
        depthwise_kernel: (kernel_rows, kernel_cols, channels, depth_multiplier).
        strides, dilation_rate: int or pair.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' / 'channels_first' (None = image_data_format()).
        bias: (channels * depth_multiplier,) or None (gpuseq: added in the same op).
        activation: None or an elementwise activation name (gpuseq: fused).

    Returns:
        channels * depth_multiplier output channels, channel ``c * depth_multiplier + m``
        from input channel c and filter m.

    Example:
        >>> y = K.depthwise_conv2d(x, K.ones((3, 3, 8, 2)), padding='same')   # 16 channels
    """
    fmt = _conv_format(data_format)
    x = _t(x)
    y, _ = ad.fused("depthwise_conv2d", x, depthwise_kernel, bias, strides=_pair(strides),
                    padding=padding, dilation_rate=_pair(dilation_rate), data_format=fmt,
                    activation=activation or "linear", input_grad=bool(x.requires_grad))
    return y


def _pointwise(x, pointwise_kernel, bias, fmt, activation):
    """The 1x1 convolution of a separable convolution: one GEMM over the channels."""
    pk = _t(pointwise_kernel)
    cin, cout = pk.shape[-2], pk.shape[-1]
    if fmt == "channels_last":
        y, _ = ad.fused("dense", x, ad.reshape(pk, (cin, cout)), bias,
                        activation=activation or "linear")
        return y
    y, _ = ad.fused("conv2d", x, ad.reshape(pk, (1, 1, cin, cout)), bias, strides=(1, 1),
                    padding="valid", dilation_rate=(1, 1), data_format=fmt,
                    activation=activation or "linear", input_grad=True)
    return y


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding="valid",
                     data_format=None, dilation_rate=(1, 1), bias=None, activation=None):
    """Depthwise separable 2-D convolution: ``depthwise_conv2d`` then a 1x1 convolution.

    Args:
        x: (batch, rows, cols, channels) or (batch, channels, rows, cols).
        depthwise_kernel: (kernel_rows, kernel_cols, channels, depth_multiplier).
        pointwise_kernel: (1, 1, channels * depth_multiplier, filters).
        strides, padding, data_format, dilation_rate: of the depthwise step.
        bias: (filters,) or None; activation: None or an elementwise activation name
            (gpuseq: both applied with the pointwise step).

    Returns:
        (batch, out_rows, out_cols, filters) or (batch, filters, out_rows, out_cols).

    Example:
        >>> y = K.separable_conv2d(x, dk, pk, padding='same')
    """
    fmt = _conv_format(data_format)
    d = depthwise_conv2d(x, depthwise_kernel, strides, padding, fmt, dilation_rate)
    return _pointwise(d, pointwise_kernel, bias, fmt, activation)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                     data_format=None, dilation_rate=1, bias=None, activation=None):
    """Depthwise separable 1-D convolution (the 2-D one on a height-1 image).

    Args:
        x: (batch, steps, channels) or (batch, channels, steps).
        depthwise_kernel: (kernel_size, channels, depth_multiplier).
        pointwise_kernel: (1, channels * depth_multiplier, filters).
        strides, dilation_rate: int (or a 1-tuple); padding: 'valid' or 'same'.
        data_format, bias, activation: as in :func:`separable_conv2d`.

    Returns:
        (batch, new_steps, filters) or (batch, filters, new_steps).
    """
    fmt = _conv_format(data_format)
    x = _t(x)
    s = int(strides[0] if isinstance(strides, (tuple, list)) else strides)
    d = int(dilation_rate[0] if isinstance(dilation_rate, (tuple, list)) else dilation_rate)
    n, a, b = x.shape
    x4 = ad.reshape(x, (n, 1, a, b) if fmt == "channels_last" else (n, a, 1, b))
    dk = _t(depthwise_kernel)
    y = separable_conv2d(x4, ad.reshape(dk, (1,) + tuple(dk.shape)), pointwise_kernel,
                         (1, s), padding, fmt, (1, d), bias, activation)
    return ad.reshape(y, (n,) + (tuple(y.shape[2:]) if fmt == "channels_last"
                                 else (y.shape[1], y.shape[3])))
