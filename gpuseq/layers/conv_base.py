"""Base classes of the convolution-family layers.

:class:`KernelBiasConv`: the convolutions with one kernel and one bias (Conv1D/2D/3D,
Conv2DTranspose / Conv3DTranspose, LocallyConnected1D/2D). Each checks its own arguments
and input shape (their messages differ per family); what they share once that is done
lives here: creating the kernel then the bias with the layer's weight options, and the
config entries after Layer's own, in Keras's order.

:class:`SpatialResizing`: the zero-padding, cropping and up-sampling layers (1-D to 3-D),
whose config is Layer's plus a few attributes.
"""
from .. import activations as activations_mod
from .base import Layer


class KernelBiasConv(Layer):
    """A layer with ``kernel`` and ``bias`` weights (the bias only with use_bias), an
    ``activation`` and the kernel_/bias_ initializer, regularizer and constraint
    attributes (set with :meth:`Layer.set_weight_options`)."""

    _config_names = ("filters", "kernel_size", "strides", "padding", "data_format",
                     "dilation_rate")
    """The attributes whose config entries come first, in Keras's order."""

    def add_kernel_and_bias(self, kernel_shape, bias_shape):
        """Create ``self.kernel`` then ``self.bias`` (None without use_bias)."""
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", bias_shape, self.bias_initializer,
                                    self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def get_config(self):
        """Layer's entries, ``_config_names``, then activation, use_bias and the kernel /
        bias weight options."""
        cfg = super().get_config()
        cfg.update({name: getattr(self, name) for name in self._config_names})
        cfg.update({"activation": activations_mod.serialize(self.activation),
                    "use_bias": self.use_bias,
                    **self.weight_options_config("kernel", "bias")})
        return cfg


class SpatialResizing(Layer):
    """A layer that pads, crops or repeats the spatial axes of its input; its config is
    Layer's plus the attributes named in ``_config_names``, in that order."""

    _config_names = ()

    def get_config(self):
        cfg = super().get_config()
        cfg.update({name: getattr(self, name) for name in self._config_names})
        return cfg
