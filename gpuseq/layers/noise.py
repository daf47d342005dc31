"""Regularisation layers active only in training: GaussianNoise, GaussianDropout,
AlphaDropout (Keras ``keras.layers.noise``). At inference each is the identity."""
import math
import numbers

from .. import backend as K
from .. import random as grandom
from ..legacy import Keras1Arguments, keras1_arguments
from .base import Layer, validate_rate

# Keras's SELU constants (AlphaDropout keeps a SELU network's mean and variance)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def random_uniform(shape, dtype, generator=None):
    """Uniform [0, 1) draws on the active device: from the framework's random stream,
    or from ``generator`` (a seeded ``numpy.random.Generator`` of a layer, drawn on the
    host and copied to the device)."""
    if generator is None:
        return grandom.device_uniform(shape, dtype)
    return K.to_device(generator.random(shape).astype(dtype))


def random_normal(shape, dtype):
    """Standard normal draws on the active device, as a Tensor without gradient."""
    return K.convert_to_tensor(grandom.device_normal(shape, dtype))


class _Noise(Layer):
    supports_masking = True      # the output has the input's shape (Layer's default)


@keras1_arguments(Keras1Arguments(renames={"sigma": "stddev"}))
class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training
    (Keras 1: ``sigma``).

    Input shape: any. Output shape: same as input.
    """

    _graph_hyper = ("stddev",)

    def __init__(self, stddev, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or stddev < 0:
            raise ValueError("GaussianNoise: stddev must be a non-negative number. "
                             f"Received: stddev={stddev!r}")
        self.stddev = float(stddev)

    def call(self, inputs, training=False):
        if not training or self.stddev == 0:
            return inputs
        return inputs + random_normal(inputs.shape, inputs.dtype) * self.stddev

    def get_config(self):
        cfg = super().get_config()
        cfg["stddev"] = self.stddev
        return cfg


@keras1_arguments(Keras1Arguments(renames={"p": "rate"}))
class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` in training.

    Args:
        rate: the drop probability of the equivalent dropout, in [0, 1) (Keras 1: ``p``).
    """

    _graph_hyper = ("rate",)

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate_rate("GaussianDropout", "rate", rate)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        std = math.sqrt(self.rate / (1.0 - self.rate))
        return inputs * (random_normal(inputs.shape, inputs.dtype) * std + 1.0)

    def get_config(self):
        cfg = super().get_config()
        cfg["rate"] = self.rate
        return cfg


class AlphaDropout(_Noise):
    """Dropout for SELU networks: dropped inputs are set to SELU's negative saturation
    value, then an affine map keeps the mean and variance of the inputs (Keras's
    formula). Identity at inference.

    Args:
        rate: fraction of inputs to drop, in [0, 1).
        noise_shape: shape of the binary mask (None = input shape; 1 = broadcast axis).
        seed: accepted for Keras compatibility (the framework's random stream is used).
    """

    _graph_hyper = ("rate",)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate_rate("AlphaDropout", "rate", rate)
        self.noise_shape = noise_shape
        self.seed = seed

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        shape = tuple(inputs.shape) if self.noise_shape is None else tuple(
            inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))
        rate = self.rate
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        kept = K.cast(K.greater_equal(random_uniform(shape, inputs.dtype), rate), inputs.dtype)
        a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        # a * (x * kept + alpha_p * (1 - kept)) + b
        return inputs * (kept * a) + ((1.0 - kept) * alpha_p * a + b)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return cfg
