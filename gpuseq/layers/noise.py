"""Regularisation layers active only in training: GaussianNoise, GaussianDropout,
AlphaDropout (Keras ``keras.layers.noise``). At inference each is the identity."""
import math
import numbers

from .. import random as grandom
from ..backend import autodiff as ad
from .base import Layer, validate_rate

# Keras's SELU constants (AlphaDropout keeps a SELU network's mean and variance)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class _Noise(Layer):
    supports_masking = True      # the output has the input's shape (Layer's default)


class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training.

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
        noise = grandom.device_normal(tuple(inputs.shape), inputs.dtype) * self.stddev
        return inputs + ad.Tensor(noise.astype(inputs.dtype, copy=False))

    def get_config(self):
        cfg = super().get_config()
        cfg["stddev"] = self.stddev
        return cfg


class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 and standard deviation
    ``sqrt(rate / (1 - rate))`` in training.

    Args:
        rate: the drop probability of the equivalent dropout, in [0, 1).
    """

    _graph_hyper = ("rate",)

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate_rate("GaussianDropout", "rate", rate)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        std = math.sqrt(self.rate / (1.0 - self.rate))
        noise = grandom.device_normal(tuple(inputs.shape), inputs.dtype) * std + 1.0
        return inputs * ad.Tensor(noise.astype(inputs.dtype, copy=False))

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
        kept = (grandom.device_uniform(shape, inputs.dtype) >= rate).astype(inputs.dtype)
        a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        # a * (x * kept + alpha_p * (1 - kept)) + b
        return inputs * ad.Tensor(kept * a) + ad.Tensor(((1.0 - kept) * alpha_p * a + b)
                                                         .astype(inputs.dtype, copy=False))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return cfg
