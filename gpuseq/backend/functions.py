"""Keras backend functions (``import gpuseq.backend as K``) for user-written code.

Custom losses, metrics, Merge(mode=callable) and Lambda layers are written with
these (``K.mean(K.square(y_pred - y_true), axis=-1)``). They accept Tensors,
NumPy or CuPy arrays and numbers, return :class:`~gpuseq.backend.autodiff.Tensor`,
and are differentiable: gradients of anything built from them come from the
tape, not from the user.

Example:
    >>> import gpuseq.backend as K
    >>> def mean_pred(y_true, y_pred):
    ...     return K.mean(y_pred)
"""
import numpy

from . import autodiff as ad
from . import dispatch
from .autodiff import Tensor, Variable

_config = {"floatx": "float32", "epsilon": 1e-7, "image_data_format": "channels_last"}


# -- configuration -----------------------------------------------------------

def floatx():
    """The default float type, 'float32'."""
    return _config["floatx"]


def set_floatx(value):
    if value not in ("float16", "float32", "float64"):
        raise ValueError("Unknown floatx type. Expected 'float16', 'float32' or 'float64'. "
                         f"Received: value={value!r}")
    _config["floatx"] = str(value)


def epsilon():
    """The fuzz factor used in numeric expressions, 1e-7 as in Keras."""
    return _config["epsilon"]


def set_epsilon(value):
    _config["epsilon"] = float(value)


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


_phase = {"learning_phase": 0}


def learning_phase():
    """0 during inference, 1 while a training step runs."""
    return _phase["learning_phase"]


def set_learning_phase(value):
    if value not in (0, 1):
        raise ValueError(f"Expected learning phase to be 0 or 1. Received: value={value!r}")
    _phase["learning_phase"] = value


# -- tensors ------------------------------------------------------------------

def _t(x):
    return ad.as_tensor(x)


def variable(value, dtype=None, name=None):
    """A weight-like Variable holding ``value`` on the active device."""
    arr = dispatch.to_device(numpy.asarray(value, dtype=dtype or floatx()))
    return Variable(arr, name=name)


def constant(value, dtype=None, shape=None, name=None):
    arr = numpy.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        arr = numpy.broadcast_to(arr, shape).copy()
    return Tensor(dispatch.to_device(arr), name=name)


def zeros(shape, dtype=None, name=None):
    return variable(numpy.zeros(shape), dtype, name)


def ones(shape, dtype=None, name=None):
    return variable(numpy.ones(shape), dtype, name)


def zeros_like(x, dtype=None, name=None):
    x = _t(x)
    return Tensor(dispatch.get_array_module(x.data).zeros_like(x.data, dtype=dtype))


def ones_like(x, dtype=None, name=None):
    x = _t(x)
    return Tensor(dispatch.get_array_module(x.data).ones_like(x.data, dtype=dtype))


def eval(x):  # noqa: A001 - Keras name
    """The value of a tensor as a NumPy array."""
    return dispatch.to_host(_t(x).data)


def get_value(x):
    return eval(x)


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def set_value(x, value):
    if isinstance(x, Variable):
        x.assign(value)
    elif hasattr(x, "__setattr__") and hasattr(x, "lr_value"):
        x.lr_value = float(value)
    else:
        raise TypeError(f"set_value expects a Variable. Received: x={x!r}")


def batch_set_value(pairs):
    for x, v in pairs:
        set_value(x, v)


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


# -- math -----------------------------------------------------------------------

def mean(x, axis=None, keepdims=False):
    x = _t(x)
    if x.dtype.kind != "f":
        x = cast(x, floatx())
    return ad.reduce_mean(x, axis, keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001
    return ad.reduce_sum(_t(x), axis, keepdims)


def prod(x, axis=None, keepdims=False):
    return _prod(_t(x), axis, keepdims)


def _prod(x, axis, keepdims):
    class _Prod(ad.Function):
        def forward(self, a):
            self.a = a
            self.y = a.prod(axis=axis, keepdims=True)
            return self.y if keepdims else a.prod(axis=axis, keepdims=False)

        def backward(self, g):
            xp = dispatch.get_array_module(g)
            g = g.reshape(self.y.shape)
            with numpy.errstate(divide="ignore", invalid="ignore"):
                q = xp.where(self.a != 0, self.y / xp.where(self.a != 0, self.a, 1), 0)
            return xp.broadcast_to(g, self.a.shape) * q
    return _Prod()(x)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return ad.reduce_max(_t(x), axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return ad.reduce_min(_t(x), axis, keepdims)


def var(x, axis=None, keepdims=False):
    x = _t(x)
    m = mean(x, axis, keepdims=True)
    return mean(square(x - m), axis, keepdims)


def std(x, axis=None, keepdims=False):
    return sqrt(var(x, axis, keepdims))


def square(x):
    return ad.square(_t(x))


def sqrt(x):
    x = _t(x)
    # Keras clips to [0, inf) first
    return ad.sqrt(ad.clip(x, 0.0, numpy.inf))


def abs(x):  # noqa: A001
    return ad.absolute(_t(x))


def exp(x):
    return ad.exp(_t(x))


def log(x):
    return ad.log(_t(x))


def log1p(x):
    return ad.log1p(_t(x))


def pow(x, a):  # noqa: A001
    return ad.power(_t(x), a)


def sign(x):
    return ad.sign(_t(x))


def round(x):  # noqa: A001
    return ad.round_(_t(x))


def clip(x, min_value, max_value):
    if max_value is None:
        max_value = numpy.inf
    if min_value is None:
        min_value = -numpy.inf
    if max_value < min_value:
        max_value = min_value
    return ad.clip(_t(x), min_value, max_value)


def maximum(x, y):
    x = _t(x)
    return ad.maximum(x, ad.as_tensor(y, x))


def minimum(x, y):
    x = _t(x)
    return ad.minimum(x, ad.as_tensor(y, x))


def sin(x):
    return ad.sin(_t(x))


def cos(x):
    return ad.cos(_t(x))


def dot(x, y):
    """Matrix product (Keras ``K.dot``: contracts the last axis of x with y's first/2nd-last)."""
    return ad.matmul(_t(x), _t(y))


def batch_dot(x, y, axes=None):
    x, y = _t(x), _t(y)
    if axes is None:
        axes = (x.ndim - 1, y.ndim - 2)
    if isinstance(axes, int):
        axes = (axes, axes)
    if x.ndim == 2 and y.ndim == 2:
        return sum(x * y, axis=axes[0], keepdims=True) if axes[0] == axes[1] else \
            sum(x * transpose(y), axis=1, keepdims=True)
    return ad.matmul(x, y)


def transpose(x):
    return ad.transpose(_t(x))


def permute_dimensions(x, pattern):
    return ad.transpose(_t(x), pattern)


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
    x = _t(x)
    shp = list(x.shape)
    del shp[axis]
    return ad.reshape(x, shp)


def concatenate(tensors, axis=-1):
    return ad.concatenate([_t(t) for t in tensors], axis)


def stack(tensors, axis=0):
    return ad.stack([_t(t) for t in tensors], axis)


def repeat(x, n):
    """(batch, dim) -> (batch, n, dim)."""
    x = _t(x)
    return ad.concatenate([expand_dims(x, 1)] * n, axis=1)


def tile(x, n):
    x = _t(x)
    reps = (n,) if isinstance(n, int) else tuple(n)
    out = x
    for ax, r in enumerate(reps[::-1]):
        a = x.ndim - 1 - ax
        if r > 1:
            out = ad.concatenate([out] * r, axis=a)
    return out


def gather(reference, indices):
    return ad.getitem(_t(reference), _t(indices).data)


def l2_normalize(x, axis=None):
    x = _t(x)
    return x / sqrt(maximum(sum(square(x), axis, keepdims=True), 1e-12))


def switch(condition, then_expression, else_expression):
    cond = _t(condition).data.astype(bool)
    return ad.where(cond, _t(then_expression), _t(else_expression))


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


def _cmp(fn):
    def op(x, y):
        x = _t(x)
        return _const(fn(x.data, ad.as_tensor(y, x).data))
    return op


equal = _cmp(lambda a, b: a == b)
not_equal = _cmp(lambda a, b: a != b)
greater = _cmp(lambda a, b: a > b)
greater_equal = _cmp(lambda a, b: a >= b)
less = _cmp(lambda a, b: a < b)
less_equal = _cmp(lambda a, b: a <= b)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return _const(_t(x).data.astype(bool).any(axis=axis, keepdims=keepdims))


def all(x, axis=None, keepdims=False):  # noqa: A001
    return _const(_t(x).data.astype(bool).all(axis=axis, keepdims=keepdims))


def cast(x, dtype):
    return ad.cast(_t(x), dtype)


def stop_gradient(x):
    return Tensor(_t(x).data)


# -- activations and losses on tensors -----------------------------------------

def relu(x, alpha=0.0, max_value=None):
    x = _t(x)
    y = ad.relu(x)
    if alpha:
        y = y - alpha * ad.relu(-x)
    if max_value is not None:
        y = clip(y, -numpy.inf, max_value)
    return y


def sigmoid(x):
    return ad.sigmoid(_t(x))


def hard_sigmoid(x):
    return ad.clip(_t(x) * 0.2 + 0.5, 0.0, 1.0)


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


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Keras 2: renormalise ``output`` to sum 1, clip to [eps, 1-eps], -sum(target*log)."""
    target, output = _t(target), _t(output)
    if from_logits:
        output = softmax(output, axis)
    else:
        output = output / sum(output, axis, keepdims=True)
    output = clip(output, epsilon(), 1.0 - epsilon())
    return -sum(target * log(output), axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    target, output = _t(target), _t(output)
    labels = target.data
    if labels.ndim == output.ndim:
        labels = labels.reshape(labels.shape[:-1])
    labels = labels.astype("int64")
    xp = dispatch.get_array_module(output.data)
    onehot = xp.zeros(output.shape, dtype=output.dtype)
    xp.put_along_axis(onehot, labels[..., None], 1, axis=-1) if xp is numpy else \
        _cupy_put(onehot, labels)
    return categorical_crossentropy(Tensor(onehot), output, from_logits, axis)


def _cupy_put(onehot, labels):
    flat = onehot.reshape(-1, onehot.shape[-1])
    flat[dispatch.get_array_module(flat).arange(flat.shape[0]), labels.reshape(-1)] = 1


def binary_crossentropy(target, output, from_logits=False):
    """Keras 2: clip output to [eps, 1-eps], -(t*log(p) + (1-t)*log(1-p))."""
    target, output = _t(target), _t(output)
    if from_logits:
        output = sigmoid(output)
    output = clip(output, epsilon(), 1.0 - epsilon())
    return -(target * log(output) + (1.0 - target) * log(1.0 - output))


def gradients(loss, variables):
    """Gradients of a scalar ``loss`` Tensor with respect to ``variables`` (Tensors)."""
    return [Tensor(g) for g in ad.gradients(loss, variables)]
