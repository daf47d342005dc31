"""Normalisation layers: BatchNormalization."""
import math

from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from .. import backend as K
from ..legacy import Keras1Arguments, keras1_arguments
from .base import Layer, validate_bool


def _mode_zero_only(cls_name, mode):
    """Keras 1's ``mode``: 0 is what the layer does; 1 and 2 were removed in Keras 2."""
    if mode != 0:
        raise TypeError(f"The `mode` argument of {cls_name} no longer exists "
                        "(Keras 2 removed mode=1 and mode=2). Remove it: mode=0 is "
                        f"what {cls_name} does. Received: mode={mode!r}")


_BATCH_NORM_KERAS1 = Keras1Arguments(
    renames={"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"},
    removed={"mode": _mode_zero_only})


@keras1_arguments(_BATCH_NORM_KERAS1)
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
        self.center = validate_bool(type(self).__name__, "center", center)
        self.scale = validate_bool(type(self).__name__, "scale", scale)
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
        axis = self._feature_axis(inputs.ndim)
        if not training:
            return K.batch_normalization(inputs, self.moving_mean, self.moving_variance,
                                         self.beta, self.gamma, axis, self.epsilon)
        reduction_axes = [a for a in range(inputs.ndim) if a != axis]
        y, mean, variance = K.normalize_batch_in_training(inputs, self.gamma, self.beta,
                                                          reduction_axes, self.epsilon)
        if self.trainable and K.learning_phase() == 1:         # a training step
            samples = math.prod(inputs.shape[a] for a in reduction_axes)
            self._update_moving(mean, variance, samples)
        return y

    def _update_moving(self, mean, variance, m):
        """moving <- momentum * moving + (1 - momentum) * batch statistic, in place."""
        if m > 1:                                # Keras 2.2's sample-size correction
            variance = variance * (m / (m - (1.0 + self.epsilon)))
        K.moving_average_update(self.moving_mean, mean, self.momentum)
        K.moving_average_update(self.moving_variance, variance, self.momentum)

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
