"""Normalisation layers: BatchNormalization."""
import math

from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from ..backend import autodiff as ad
from ..backend import dispatch
from ..backend import functions as K
from ..legacy import convert_kwargs
from .base import Layer


class BatchNormalization(Layer):
    """Normalise the activations of the previous layer per feature, batch by batch.

    During training (fit / train_on_batch) each batch is normalised with its own mean
    and (biased) variance per feature, and the layer keeps moving averages of them:
    ``moving = momentum * moving + (1 - momentum) * batch_value``; at inference
    (evaluate / predict) it normalises with those moving averages. Then
    ``y = gamma * x_normalised + beta``. As in Keras 2.2, the batch variance enters
    the moving variance with the sample-size correction ``m / (m - (1 + epsilon))``
    (m values per feature; skipped when m is 1), and a layer with
    ``trainable=False`` still normalises training batches with their own statistics
    but no longer updates its moving averages. Only training steps (fit,
    train_on_batch, fit_generator) update them: ``K.function`` with learning phase 1
    normalises with the batch's statistics and leaves them alone, as in Keras.

    Args:
        axis: the feature axis (-1 for channels_last data, 1 after a channels_first
            convolution).
        momentum: of the moving averages.
        epsilon: added to the variance before the square root.
        center: learn the offset ``beta``.
        scale: learn the factor ``gamma`` (can be False when the next layer is linear
            or relu).
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint.
        Keras 1 names (``beta_init``, ``gamma_init``, ``mode=0``) are accepted and converted;
        Keras 1's ``mode=1`` / ``mode=2`` no longer exist (as in Keras 2).

    Input shape: any, with the feature axis known.
    Output shape: same as input.

    Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance.

    Example:
        >>> model.add(Conv2D(32, (3, 3), input_shape=(100, 100, 3)))
        >>> model.add(BatchNormalization())
        >>> model.add(Activation('relu'))
    """

    supports_masking = True

    _graph_hyper = ("momentum", "epsilon")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if "mode" in kwargs:
            mode = kwargs.pop("mode")
            if mode != 0:
                raise TypeError("The `mode` argument of BatchNormalization no longer exists "
                                "(Keras 2 removed mode=1 and mode=2). Remove it: mode=0 is "
                                f"what BatchNormalization does. Received: mode={mode!r}")
        legacy = {k: kwargs.pop(k) for k in ("beta_init", "gamma_init") if k in kwargs}
        if legacy:
            legacy = convert_kwargs("BatchNormalization", (), legacy, {
                "beta_init": "beta_initializer", "gamma_init": "gamma_initializer"})
            beta_initializer = legacy.get("beta_initializer", beta_initializer)
            gamma_initializer = legacy.get("gamma_initializer", gamma_initializer)
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError("BatchNormalization normalises along one axis: axis must be an "
                            f"integer (e.g. -1, or 1 for channels_first). Received: axis={axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        if not float(epsilon) > 0:
            raise ValueError(f"epsilon must be positive. Received: epsilon={epsilon!r}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers_mod.get(beta_initializer)
        self.gamma_initializer = initializers_mod.get(gamma_initializer)
        self.moving_mean_initializer = initializers_mod.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers_mod.get(moving_variance_initializer)
        self.beta_regularizer = regularizers_mod.get(beta_regularizer)
        self.gamma_regularizer = regularizers_mod.get(gamma_regularizer)
        self.beta_constraint = constraints_mod.get(beta_constraint)
        self.gamma_constraint = constraints_mod.get(gamma_constraint)

    def _feature_axis(self, ndim):
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): axis={self.axis} is not a feature "
                f"axis of inputs with {ndim} dimensions (axis 0 is the batch). Use -1 for "
                "channels_last data or 1 for channels_first.")
        return axis

    def build(self, input_shape):
        axis = self._feature_axis(len(input_shape))
        dim = input_shape[axis]
        if dim is None:
            raise ValueError(f"Layer '{self.name}' (BatchNormalization): axis {self.axis} of the "
                             f"input shape {tuple(input_shape)} must be known.")
        shape = (dim,)
        self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                     self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)
        self.built = True

    def call(self, inputs, training=False):
        ndim = len(inputs.shape)
        axis = self._feature_axis(ndim)
        perm = None
        x = inputs
        if axis != ndim - 1:                     # the op normalises the last axis
            perm = [i for i in range(ndim) if i != axis] + [axis]
            x = ad.transpose(x, perm)
        if training:
            y, op = ad.fused("batch_norm", x, self.gamma, self.beta, None, None,
                             epsilon=self.epsilon)
            if self.trainable and K.learning_phase() == 1:     # a training step
                self._update_moving(op.saved, math.prod(x.shape[:-1]))
        else:
            y, _ = ad.fused("batch_norm", x, self.gamma, self.beta, self.moving_mean,
                            self.moving_variance, epsilon=self.epsilon)
        if perm is not None:
            inverse = [0] * ndim
            for i, p in enumerate(perm):
                inverse[p] = i
            y = ad.transpose(y, inverse)
        return y

    def _update_moving(self, saved, m):
        """moving <- momentum * moving + (1 - momentum) * batch statistic, in place."""
        xp = dispatch.get_array_module(self.moving_mean.data)
        keep, take = self.momentum, 1.0 - self.momentum
        variance = saved["variance"]
        if m > 1:                                # Keras 2.2's sample-size correction
            variance = variance * (m / (m - (1.0 + self.epsilon)))
        for var, value in ((self.moving_mean, saved["mean"]), (self.moving_variance, variance)):
            d = var.data
            d *= keep
            d += xp.asarray(value, dtype=d.dtype) * take

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            "beta_initializer": initializers_mod.serialize(self.beta_initializer),
            "gamma_initializer": initializers_mod.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers_mod.serialize(self.moving_mean_initializer),
            "moving_variance_initializer":
                initializers_mod.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers_mod.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers_mod.serialize(self.gamma_regularizer),
            "beta_constraint": constraints_mod.serialize(self.beta_constraint),
            "gamma_constraint": constraints_mod.serialize(self.gamma_constraint),
        })
        return cfg
