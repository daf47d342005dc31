"""Conv2DTranspose (Keras 1: Deconvolution2D), the transposed 2-D convolution.

It runs as one fused op (``K.conv2d_transpose``: a GEMM then the col2im gather, bias
and activation after it; the gradients are a convolution and its kernel gradient).
The kernel has Keras's layout ``(rows, cols, filters, input_channels)`` and the
output sizes are Keras's, so weights and models move between Keras and gpuseq
unchanged.

Keras 1's ``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, border_mode=,
subsample=, dim_ordering=, init=, W_regularizer=, ...)`` is accepted, with a warning
naming the modern call. Its ``output_shape`` becomes the ``output_padding`` that gives
that size (an error when none does).
"""
from .. import activations as activations_mod
from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from ..backend import functions as K
from ..backend.numpy_ops.conv_transpose import deconv_output_length
from ..legacy import warn_modern_call
from .base import Layer, validate_positive_int
from .conv_utils import (normalize_data_format, normalize_padding, positive_tuple,
                         split_channels)
from .core import fused_activation_kind

_KERAS1_RENAMES = {
    "nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
    "dim_ordering": "data_format", "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint", "bias": "use_bias",
}
_DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}
_POSITIONAL = ("strides", "padding", "output_padding", "data_format", "dilation_rate",
               "activation", "use_bias", "kernel_initializer", "bias_initializer",
               "kernel_regularizer", "bias_regularizer", "activity_regularizer",
               "kernel_constraint", "bias_constraint")


def _dim_ordering(value):
    if value not in _DIM_ORDERING:
        raise ValueError("Received an invalid value for the Keras 1 argument `dim_ordering`: "
                         f"expected 'tf', 'th' or 'default'. Received: dim_ordering={value!r}")
    return _DIM_ORDERING[value]


def _keras1_arguments(cls_name, filters, kernel_size, args, kwargs):
    """Convert a Keras 1 ``Deconvolution2D`` call in place of ``kwargs``.

    Returns (filters, kernel_size, remaining positional args, Keras 1 output_shape or
    None); warns with the modern call when anything was converted."""
    args = list(args)
    changed = []
    if args and isinstance(kernel_size, int) and isinstance(args[0], int) \
            and not isinstance(args[0], bool):
        kernel_size = (kernel_size, args.pop(0))            # (nb_filter, nb_row, nb_col)
        changed.append("kernel_size")
    output_shape = kwargs.pop("output_shape", None)
    if args and isinstance(args[0], (tuple, list)) and changed:
        output_shape = args.pop(0)                          # Keras 1's 4th positional
    if "nb_row" in kwargs or "nb_col" in kwargs:
        if kernel_size is not None and not isinstance(kernel_size, int):
            raise TypeError(f"{cls_name} got `kernel_size` and the Keras 1 `nb_row` / "
                            "`nb_col`. Pass only kernel_size=(rows, cols).")
        rows = kwargs.pop("nb_row", kernel_size)
        cols = kwargs.pop("nb_col", None)
        if rows is None or cols is None:
            raise TypeError(f"{cls_name}: the Keras 1 form needs both nb_row and nb_col (or "
                            "pass kernel_size=(rows, cols)).")
        kernel_size = (int(rows), int(cols))
        changed.append("kernel_size")
    for old, new in _KERAS1_RENAMES.items():
        if old in kwargs:
            if new in kwargs or (new == "filters" and filters is not None):
                raise TypeError(f"{cls_name} got both the Keras 1 argument `{old}` and its "
                                f"Keras 2 name `{new}`. Pass only `{new}`.")
            value = kwargs.pop(old)
            kwargs[new] = _dim_ordering(value) if new == "data_format" else value
            changed.append(new)
    if "filters" in kwargs:
        filters = kwargs.pop("filters")
    if changed or output_shape is not None:
        shown = {k: kwargs[k] for k in changed if k in kwargs}
        warn_modern_call(cls_name, (filters, kernel_size), shown, list(shown))
    return filters, kernel_size, args, output_shape


class Conv2DTranspose(Layer):
    """Transposed 2-D convolution layer (sometimes called deconvolution).

    Maps something shaped like a convolution's output to something shaped like its
    input with the same connectivity: the adjoint of Conv2D with these settings.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (rows, cols).
        strides: int or (rows, cols), default (1, 1).
        padding: 'valid' or 'same'.
        output_padding: None (the size Keras infers: ``rows * stride`` for 'same',
            ``rows * stride + max(kernel - stride, 0)`` for 'valid'), or an int or pair
            below the strides: then ``new_rows = (rows - 1) * stride + kernel -
            2 * pad + output_padding`` with pad = kernel // 2 for 'same', 0 for 'valid'
            (kernel sizes dilated).
        data_format: 'channels_last' or 'channels_first' (None = image_data_format()).
        dilation_rate: int or (rows, cols), default (1, 1).
        activation: name or callable (None = linear); elementwise ones run fused.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint:
            as in Conv2D.
        Keras 1 (``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape,
        border_mode=, subsample=, dim_ordering=, init=, W_regularizer=, ...)``) is
        accepted and converted, with a warning naming the modern call.

    Input shape: (batch, rows, cols, channels) or (batch, channels, rows, cols).
    Output shape: (batch, new_rows, new_cols, filters) or
        (batch, filters, new_rows, new_cols).
    Kernel: (kernel_rows, kernel_cols, filters, channels), as in Keras.

    Example:
        >>> model.add(Conv2DTranspose(16, 3, strides=2, padding='same',
        ...                           input_shape=(7, 7, 32)))
        >>> model.output_shape
        (None, 14, 14, 16)
    """

    def __init__(self, filters=None, kernel_size=None, *args, **kwargs):
        cls_name = type(self).__name__
        filters, kernel_size, args, keras1_shape = _keras1_arguments(
            cls_name, filters, kernel_size, args, kwargs)
        if len(args) > len(_POSITIONAL):
            raise TypeError(f"{cls_name} takes at most {2 + len(_POSITIONAL)} positional "
                            f"arguments. Received {2 + len(args)}.")
        for name, value in zip(_POSITIONAL, args):
            if name in kwargs:
                raise TypeError(f"{cls_name} got multiple values for argument '{name}'.")
            kwargs[name] = value
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _POSITIONAL}
        super().__init__(**kwargs)
        if filters is None:
            raise TypeError(f"{cls_name} requires `filters`, the number of output channels, "
                            f"e.g. {cls_name}(32, (3, 3)).")
        if kernel_size is None:
            raise TypeError(f"{cls_name} requires `kernel_size`, e.g. "
                            f"{cls_name}({filters}, (3, 3)).")
        self.filters = validate_positive_int(cls_name, "filters", filters)
        self.kernel_size = positive_tuple(kernel_size, 2, "kernel_size", cls_name)
        self.strides = positive_tuple(options.get("strides", (1, 1)), 2, "strides", cls_name)
        self.padding = normalize_padding(options.get("padding", "valid"), cls_name)
        self.data_format = normalize_data_format(options.get("data_format"), cls_name)
        self.dilation_rate = positive_tuple(options.get("dilation_rate", (1, 1)), 2,
                                            "dilation_rate", cls_name)
        self.output_padding = self._output_padding(options.get("output_padding"))
        self._keras1_output_shape = keras1_shape
        self.activation = activations_mod.get(options.get("activation"))
        self.use_bias = bool(options.get("use_bias", True))
        self.kernel_initializer = initializers_mod.get(
            options.get("kernel_initializer", "glorot_uniform"))
        self.bias_initializer = initializers_mod.get(options.get("bias_initializer", "zeros"))
        self.kernel_regularizer = regularizers_mod.get(options.get("kernel_regularizer"))
        self.bias_regularizer = regularizers_mod.get(options.get("bias_regularizer"))
        self.activity_regularizer = regularizers_mod.get(options.get("activity_regularizer"))
        self.kernel_constraint = constraints_mod.get(options.get("kernel_constraint"))
        self.bias_constraint = constraints_mod.get(options.get("bias_constraint"))

    def _output_padding(self, value):
        if value is None:
            return None
        cls_name = type(self).__name__
        pads = positive_tuple(value, 2, "output_padding", cls_name, allow_zero=True)
        if any(p >= s for p, s in zip(pads, self.strides)):
            raise ValueError(f"Received an invalid value for `output_padding` of {cls_name}: "
                             f"each entry must be smaller than the stride {self.strides} "
                             "along its axis. Received: "
                             f"output_padding={value!r}")
        return pads

    # -- shapes ---------------------------------------------------------------
    def _out_spatial(self, spatial):
        pads = self.output_padding or (None, None)
        return tuple(deconv_output_length(n, k, self.padding, s, d, p) for n, k, s, d, p in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate, pads))

    def compute_output_shape(self, input_shape):
        spatial = (input_shape[1:3] if self.data_format == "channels_last"
                   else input_shape[2:4])
        out = self._out_spatial(spatial)
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (self.filters,)
        return (input_shape[0], self.filters) + out

    def _apply_keras1_output_shape(self, spatial):
        """Keras 1's output_shape as the output_padding that produces it."""
        shape = tuple(self._keras1_output_shape)
        want = shape[1:3] if self.data_format == "channels_last" else shape[2:4]
        if len(shape) != 4 or all(w is None or w == o
                                  for w, o in zip(want, self._out_spatial(spatial))):
            return
        pads = []
        for n, w, k, s, d in zip(spatial, want, self.kernel_size, self.strides,
                                 self.dilation_rate):
            base = deconv_output_length(n, k, self.padding, s, d, 0)
            if n is None or w is None or not 0 <= w - base < s:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): the Keras 1 "
                    f"output_shape={shape} cannot be produced from input spatial size "
                    f"{tuple(spatial)} with kernel {self.kernel_size}, strides "
                    f"{self.strides} and padding='{self.padding}'; Keras 2 infers "
                    f"{self._out_spatial(spatial)}. Drop output_shape, or choose strides "
                    "and padding that give it.")
            pads.append(w - base)
        self.output_padding = tuple(pads)

    def build(self, input_shape):
        spatial, channels = split_channels(self, input_shape, 2)
        if self._keras1_output_shape is not None:
            self._apply_keras1_output_shape(spatial)
            self._keras1_output_shape = None
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, channels),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None
        self.built = True

    # -- compute --------------------------------------------------------------
    def _transpose(self, inputs, activation):
        spatial = (inputs.shape[1:3] if self.data_format == "channels_last"
                   else inputs.shape[2:4])
        return K.conv2d_transpose(inputs, self.kernel, self._out_spatial(spatial),
                                  self.strides, self.padding, self.data_format,
                                  self.dilation_rate, bias=self.bias, activation=activation)

    def pre_activation(self, inputs):
        """The transposed convolution plus bias, before the activation."""
        return self._transpose(inputs, None)

    def call(self, inputs, training=False):
        kind = fused_activation_kind(self.activation)
        if kind is not None:
            return self._transpose(inputs, kind)
        return self.activation(self.pre_activation(inputs))

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations_mod.serialize(self.activation),
            "use_bias": self.use_bias,
            **self.weight_options_config("kernel", "bias"),
            "output_padding": self.output_padding,
        })
        return cfg


# Keras 2 aliases
Convolution2DTranspose = Conv2DTranspose
Deconvolution2D = Conv2DTranspose
Deconv2D = Conv2DTranspose
