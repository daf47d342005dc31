"""Activation layers with parameters: LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax,
ReLU (Keras ``keras.layers.advanced_activations``)."""
import numbers

from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from .. import backend as K
from ..legacy import Keras1Arguments, keras1_arguments
from .base import Layer


def _number(cls_name, arg, value, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{cls_name}: `{arg}` must be a number. Received: {arg}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{cls_name}: `{arg}` must be >= {minimum}. Received: {arg}={value!r}")
    return float(value)


class _Elementwise(Layer):
    supports_masking = True      # the output has the input's shape (Layer's default)


class LeakyReLU(_Elementwise):
    """``x`` for x >= 0, ``alpha * x`` below.

    Args:
        alpha: slope below zero (Keras 3 calls it ``negative_slope``).

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(Dense(64))
        >>> model.add(LeakyReLU(alpha=0.1))
    """

    def __init__(self, alpha=0.3, **kwargs):
        if "negative_slope" in kwargs:
            alpha = kwargs.pop("negative_slope")
        super().__init__(**kwargs)
        self.alpha = _number("LeakyReLU", "alpha", alpha, minimum=0.0)

    def call(self, inputs, training=False):
        return K.relu(inputs, alpha=self.alpha)

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


@keras1_arguments(Keras1Arguments(renames={"init": "alpha_initializer"}))
class PReLU(_Elementwise):
    """Parametric ReLU: ``x`` for x >= 0, ``alpha * x`` below, with ``alpha`` learned
    (one value per input element, or shared along ``shared_axes``).

    Args:
        alpha_initializer, alpha_regularizer, alpha_constraint: for the weight ``alpha``
            (Keras 1: ``init``).
        shared_axes: axes (counting the batch as 0) along which alpha is shared, e.g.
            ``[1, 2]`` after a Conv2D: one slope per channel.

    Input shape: any. Output shape: same as input.
    Weights: alpha, of shape ``input_shape[1:]`` with the shared axes set to 1.
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None,
                 alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers_mod.get(alpha_initializer)
        self.alpha_regularizer = regularizers_mod.get(alpha_regularizer)
        self.alpha_constraint = constraints_mod.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in axes):
                raise ValueError("PReLU: shared_axes must be axes >= 1 (axis 0 is the batch). "
                                 f"Received: shared_axes={shared_axes!r}")
            self.shared_axes = axes

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for a in self.shared_axes or []:
            if a >= len(input_shape):
                raise ValueError(f"Layer '{self.name}' (PReLU): shared axis {a} does not exist "
                                 f"in inputs of shape {tuple(input_shape)}.")
            shape[a - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"Layer '{self.name}' (PReLU): every non-shared axis of the input "
                             f"must be known. Received: input shape {tuple(input_shape)}; "
                             "share the unknown axes with shared_axes=[...].")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer,
                                     self.alpha_regularizer, constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs, training=False):
        return K.relu(inputs) - K.relu(-inputs) * self.alpha

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "alpha_initializer": initializers_mod.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers_mod.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints_mod.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        })
        return cfg


class ELU(_Elementwise):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` below.

    Args:
        alpha: scale of the negative part.
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha)

    def call(self, inputs, training=False):
        return K.elu(inputs, self.alpha)

    def get_config(self):
        cfg = super().get_config()
        cfg["alpha"] = self.alpha
        return cfg


class ThresholdedReLU(_Elementwise):
    """``x`` for x > theta, 0 otherwise.

    Args:
        theta: the threshold (>= 0).
    """

    def __init__(self, theta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.theta = _number("ThresholdedReLU", "theta", theta, minimum=0.0)

    def call(self, inputs, training=False):
        return inputs * K.cast(K.greater(inputs, self.theta), inputs.dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg["theta"] = self.theta
        return cfg


class Softmax(_Elementwise):
    """Softmax along ``axis``.

    Args:
        axis: the normalised axis (default -1).
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Softmax: axis must be an integer. Received: axis={axis!r}")
        self.axis = axis

    def build(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape) or \
                self.axis % len(input_shape) == 0:
            raise ValueError(f"Layer '{self.name}' (Softmax): axis={self.axis} is not a feature "
                             f"axis of inputs of shape {tuple(input_shape)}.")
        self.built = True

    def call(self, inputs, training=False):
        return K.softmax(inputs, self.axis)

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg


class ReLU(_Elementwise):
    """Rectified linear unit with options: ``max_value`` caps the output,
    ``negative_slope`` is the slope below ``threshold``, which replaces 0 as the cut.

    ``f(x) = max_value`` for x >= max_value, ``x`` for threshold <= x < max_value,
    ``negative_slope * (x - threshold)`` otherwise.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number("ReLU", "max_value", max_value,
                                                                minimum=0.0)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope, minimum=0.0)
        self.threshold = _number("ReLU", "threshold", threshold)

    def call(self, inputs, training=False):
        return K.relu(inputs, alpha=self.negative_slope, max_value=self.max_value,
                      threshold=self.threshold)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"max_value": self.max_value, "negative_slope": self.negative_slope,
                    "threshold": self.threshold})
        return cfg
