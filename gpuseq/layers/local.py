"""Locally connected layers: LocallyConnected1D and LocallyConnected2D.

They work like Conv1D / Conv2D with 'valid' padding, except that the weights are
unshared: every output position has its own kernel. The computation is one fused op
(``K.local_conv1d`` / ``K.local_conv2d``: the windows gathered by the convolution's
im2col, then one batched GEMM over the output positions). Weight shapes, names and
order are Keras 2.2.4's, so HDF5 weights move between Keras 2 and gpuseq unchanged:

* LocallyConnected1D: kernel (output_length, kernel_size * input_dim, filters),
  bias (output_length, filters);
* LocallyConnected2D: kernel (output_rows * output_cols, kh * kw * input_dim, filters),
  bias (output_rows, output_cols, filters).

Keras 1 spellings (``LocallyConnected1D(nb_filter, filter_length, subsample_length=...)``,
``LocallyConnected2D(nb_filter, nb_row, nb_col, subsample=..., dim_ordering=...)``) are
converted as Keras 2 converted them, with a warning naming the modern call.
"""
from .. import activations as activations_mod
from .. import backend as K
from ..backend.numpy_ops.conv import conv_output_length
from ..legacy import keras1_arguments
from .base import validate_positive_int
from .conv_base import KernelBiasConv
from .conv_utils import join_spatial, normalize_data_format, positive_tuple, split_spatial
from .convolutional import Conv1D, Conv2D

IMPLEMENTATIONS = (1, 2)


def _valid_padding(value, cls_name):
    if isinstance(value, str) and value.lower() == "valid":
        return "valid"
    pad_layer = "ZeroPadding1D" if cls_name.endswith("1D") else "ZeroPadding2D"
    raise ValueError(f"{cls_name} supports padding='valid' only (as in Keras 2). For the "
                     f"output size of 'same', add {pad_layer} before it. "
                     f"Received: padding={value!r}")


class _LocallyConnected(KernelBiasConv):
    """Arguments, weights and shape checks shared by the 1-D and 2-D layers."""

    rank = 2
    _config_names = ("filters", "kernel_size", "strides", "padding", "data_format")

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid",
                 data_format=None, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, implementation=1, **kwargs):
        cls_name = type(self).__name__
        example = f"{cls_name}(16, {3 if self.rank == 1 else (3, 3)})"
        if filters is None or kernel_size is None:
            raise TypeError(f"{cls_name} requires `filters` and `kernel_size`, e.g. {example}.")
        self.filters = validate_positive_int(cls_name, "filters", filters)
        self.kernel_size = positive_tuple(kernel_size, self.rank, "kernel_size", cls_name)
        self.strides = positive_tuple(strides, self.rank, "strides", cls_name)
        self.padding = _valid_padding(padding, cls_name)
        self.data_format = self._data_format(data_format)
        if isinstance(implementation, bool) or implementation not in IMPLEMENTATIONS:
            raise ValueError(f"Received an invalid value for `implementation` of {cls_name}: "
                             f"expected 1 or 2. Received: implementation={implementation!r}")
        self.implementation = int(implementation)
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        arguments = locals()
        super().__init__(**kwargs)          # first: it resets activity_regularizer
        self.set_weight_options(arguments, "kernel", "bias")

    def _data_format(self, value):
        return normalize_data_format(value, type(self).__name__)

    # -- shapes ---------------------------------------------------------------
    def _output_spatial(self, spatial):
        return tuple(conv_output_length(n, k, "valid", s) for n, k, s in
                     zip(spatial, self.kernel_size, self.strides))

    def _check_input(self, input_shape):
        cls_name = type(self).__name__
        layout = "(batch, steps, channels)" if self.rank == 1 else \
            "(batch, rows, cols, channels)" if self.data_format == "channels_last" else \
            "(batch, channels, rows, cols)"
        if input_shape is None or len(input_shape) != self.rank + 2:
            raise ValueError(f"Layer '{self.name}' ({cls_name}) expects {self.rank + 2}-D "
                             f"input {layout}, but received input of shape {input_shape}.")
        spatial, channels = split_spatial(input_shape, self.data_format)
        if channels is None or any(n is None for n in spatial):
            raise ValueError(
                f"Layer '{self.name}' ({cls_name}) needs fully defined spatial and channel "
                f"sizes (its weights are per output position), but received input of shape "
                f"{input_shape}. Give the first layer a complete input_shape.")
        if any(k > n for k, n in zip(self.kernel_size, spatial)):
            raise ValueError(
                f"Layer '{self.name}' ({cls_name}): the window {self.kernel_size} is larger "
                f"than the input's spatial size {spatial} (input shape {input_shape}, "
                f"data_format='{self.data_format}'). Use a smaller kernel_size or pad the "
                "input first.")
        return spatial, channels

    def compute_output_shape(self, input_shape):
        spatial, _ = split_spatial(input_shape, self.data_format)
        return join_spatial(input_shape[0], self._output_spatial(spatial), self.filters,
                            self.data_format)

    def build(self, input_shape):
        spatial, channels = self._check_input(input_shape)
        out = self._output_spatial(spatial)
        positions = out[0] if self.rank == 1 else out[0] * out[1]
        window = self.kernel_size[0] * (1 if self.rank == 1 else self.kernel_size[1])
        self.add_kernel_and_bias((positions, window * channels, self.filters),
                                 out + (self.filters,))
        self.built = True

    # -- compute --------------------------------------------------------------
    def pre_activation(self, inputs):
        """The unshared convolution plus bias, before the activation."""
        if self.rank == 1:
            return K.local_conv1d(inputs, self.kernel, self.kernel_size, self.strides,
                                  bias=self.bias)
        return K.local_conv2d(inputs, self.kernel, self.kernel_size, self.strides,
                              data_format=self.data_format, bias=self.bias)

    def call(self, inputs, training=False):
        return self.activation(self.pre_activation(inputs))

    def get_config(self):
        cfg = super().get_config()
        cfg["implementation"] = self.implementation
        return cfg


@keras1_arguments(Conv1D.keras1_arguments)
class LocallyConnected1D(_LocallyConnected):
    """Locally connected layer for sequences: a Conv1D with 'valid' padding whose
    weights are unshared (a different kernel at every output step).

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int (or a 1-tuple), the window length.
        strides: int (or a 1-tuple), default 1.
        padding: 'valid' only (as in Keras 2; add ZeroPadding1D for 'same').
        data_format: 'channels_last' (or None); Keras 2.2.4 reads 1-D inputs channels
            last whatever it is given, gpuseq refuses 'channels_first' instead.
        activation: name or callable (None = linear).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint:
            as in Conv1D.
        implementation: 1 or 2 (Keras 2.2.5's names for two ways to compute the same
            function). gpuseq computes both with one op and keeps the weight layout of
            implementation 1 (Keras 2.2.4's) for both.
        Keras 1 (``LocallyConnected1D(nb_filter, filter_length, subsample_length=,
        border_mode=, init=, W_regularizer=, ..., bias=)``) is accepted and converted.

    Input shape: (batch, steps, input_dim), steps and input_dim known.
    Output shape: (batch, new_steps, filters), new_steps = (steps - kernel_size) // strides + 1.
    Weights: kernel (new_steps, kernel_size * input_dim, filters), bias (new_steps, filters).

    Example:
        >>> model.add(LocallyConnected1D(64, 3, input_shape=(10, 32)))
        >>> model.output_shape
        (None, 8, 64)
    """

    rank = 1
    _config_names = ("filters", "kernel_size", "strides", "padding")  # no data_format (Keras)

    def _data_format(self, value):
        if value not in (None, "channels_last"):
            raise ValueError("LocallyConnected1D supports data_format='channels_last' only "
                             "(its input is (batch, steps, channels)). Received: "
                             f"data_format={value!r}")
        return "channels_last"


@keras1_arguments(Conv2D.keras1_arguments)
class LocallyConnected2D(_LocallyConnected):
    """Locally connected layer for images: a Conv2D with 'valid' padding whose weights
    are unshared (a different kernel at every output pixel).

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (rows, cols), the window size.
        strides: int or (rows, cols), default (1, 1).
        padding: 'valid' only (as in Keras 2; add ZeroPadding2D for 'same').
        data_format: 'channels_last' (batch, rows, cols, channels) or 'channels_first'
            (batch, channels, rows, cols); None = ``K.image_data_format()``.
        activation, use_bias, initializers, regularizers, constraints: as in Conv2D.
        implementation: 1 or 2, as in LocallyConnected1D (same results, same weights).
        Keras 1 (``LocallyConnected2D(nb_filter, nb_row, nb_col, subsample=,
        border_mode=, dim_ordering=, init=, W_regularizer=, ...)``) is accepted and
        converted.

    Input shape: (batch, rows, cols, channels) or (batch, channels, rows, cols), all known.
    Output shape: (batch, new_rows, new_cols, filters) or (batch, filters, new_rows, new_cols).
    Weights: kernel (new_rows * new_cols, kh * kw * channels, filters), a window flattened
    (row, col, channel) for channels_last and (channel, row, col) for channels_first, as
    in Keras 2; bias (new_rows, new_cols, filters).

    Example:
        >>> model.add(LocallyConnected2D(64, (3, 3), input_shape=(32, 32, 3)))
        >>> model.output_shape
        (None, 30, 30, 64)
    """

    rank = 2
