"""DepthwiseConv2D, SeparableConv1D and SeparableConv2D.

DepthwiseConv2D convolves each input channel with its own ``depth_multiplier``
filters (``K.depthwise_conv2d``: a grouped direct convolution, kernels/depthwise_conv.cu
on the GPU); a separable convolution is that depthwise step followed by a pointwise
1x1 convolution (one GEMM over the channels) with the bias and activation fused into
it. Weight shapes, names and order are Keras's (``depthwise_kernel`` (rows, cols,
channels, depth_multiplier), ``pointwise_kernel`` (1, 1, channels * depth_multiplier,
filters), ``bias``), so weights move between Keras and gpuseq unchanged.

SeparableConv2D also accepts the Keras 1 spelling of ``SeparableConvolution2D``
(``nb_filter, nb_row, nb_col, border_mode=, subsample=, dim_ordering=, init=, bias=,
b_regularizer=, b_constraint=``), converted as Keras 2 converted it, with a warning
naming the modern call.
"""
from .. import activations as activations_mod
from .. import regularizers as regularizers_mod
from ..backend import functions as K
from ..backend.numpy_ops.conv import conv_output_length
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .base import Layer, validate_positive_int
from .conv_utils import (check_kernel_fits, conv_geometry, keras1_kernel_rows_cols,
                         require_filters, split_channels)
from .core import fused_activation_kind

_SEPARABLE_INITIALIZERS = ("depthwise_initializer", "pointwise_initializer")


def _given(name, params, args, kwargs):
    """Whether the call gives ``name`` (positionally or as a keyword, not None)."""
    if name in params[:len(args)]:
        return args[params.index(name)] is not None
    return kwargs.get(name) is not None


def _keras1_separable_call(cls_name, params, args, kwargs):
    """The ``prepare`` hook of the SeparableConv2D table: Keras 1's ``nb_row`` /
    ``nb_col`` as ``kernel_size``, and its one ``init`` as both the depthwise and the
    pointwise initializer (as Keras 2 converted it)."""
    args, kwargs, changed = keras1_kernel_rows_cols(cls_name, params, args, kwargs)
    if "init" not in kwargs:
        return args, kwargs, changed
    for name in _SEPARABLE_INITIALIZERS:
        if _given(name, params, args, kwargs):
            raise TypeError(f"{cls_name} got both the Keras 1 argument `init` and its "
                            f"Keras 2 name `{name}`. Pass only depthwise_initializer "
                            "and pointwise_initializer.")
    init = kwargs.pop("init")
    for name in _SEPARABLE_INITIALIZERS:
        kwargs[name] = init
    return args, kwargs, list(changed) + list(_SEPARABLE_INITIALIZERS)


_SEPARABLE_CONV2D_KERAS1 = Keras1Arguments(
    renames={"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
             "dim_ordering": "data_format", "b_regularizer": "bias_regularizer",
             "b_constraint": "bias_constraint", "bias": "use_bias"},
    values={"dim_ordering": DIM_ORDERING},
    positional=("filters", "kernel_size"), prepare=_keras1_separable_call)


class _DepthwiseBase(Layer):
    """Shared by DepthwiseConv2D and the separable convolutions: the depthwise step's
    arguments, shapes, bias and activation handling."""

    rank = 2
    _weight_prefixes = ("depthwise", "bias")

    def _init_depthwise(self, kernel_size, strides, padding, data_format, dilation_rate,
                        depth_multiplier, activation, use_bias, weight_options,
                        default_format=None):
        cls_name = type(self).__name__
        if kernel_size is None:
            raise TypeError(f"{cls_name} requires `kernel_size`, e.g. "
                            f"{cls_name}({'3' if self.rank == 1 else '(3, 3)'}).")
        (self.kernel_size, self.strides, self.padding, self.data_format,
         self.dilation_rate) = conv_geometry(cls_name, self.rank, kernel_size, strides, padding,
                                             data_format, dilation_rate,
                                             default_format=default_format)
        self.depth_multiplier = validate_positive_int(cls_name, "depth_multiplier",
                                                      depth_multiplier)
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.set_weight_options(weight_options, *self._weight_prefixes)

    def _out_spatial(self, spatial):
        return tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                     zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def _out_channels(self, channels):
        return channels * self.depth_multiplier

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            spatial, channels = input_shape[1:-1], input_shape[-1]
        else:
            spatial, channels = input_shape[2:], input_shape[1]
        out = self._out_spatial(spatial)
        c = None if channels is None else self._out_channels(channels)
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (c,)
        return (input_shape[0], c) + out

    def _add_depthwise(self, input_shape):
        spatial, channels = split_channels(self, input_shape, self.rank)
        check_kernel_fits(self, spatial, input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (channels, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        return channels

    def _add_bias(self, units):
        self.bias = self.add_weight("bias", (units,), self.bias_initializer,
                                    self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None

    def pre_activation(self, inputs):
        """The convolution plus bias, before the activation."""
        return self._convolve(inputs, None)

    def call(self, inputs, training=False):
        kind = fused_activation_kind(self.activation)
        if kind is not None:
            return self._convolve(inputs, kind)
        return self.activation(self.pre_activation(inputs))

    def _base_config(self):
        cfg = super().get_config()
        cfg.update({
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "depth_multiplier": self.depth_multiplier,
            "activation": activations_mod.serialize(self.activation),
            "use_bias": self.use_bias,
            **self.weight_options_config(*self._weight_prefixes),
        })
        return cfg


class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution: each input channel convolved with its own filters.

    Args:
        kernel_size: int or (rows, cols).
        strides: int or (rows, cols), default (1, 1).
        padding: 'valid' or 'same'.
        depth_multiplier: positive int, the filters per input channel: the layer has
            ``channels * depth_multiplier`` output channels, channel
            ``c * depth_multiplier + m`` from input channel c and filter m.
        data_format: 'channels_last' or 'channels_first' (None = image_data_format()).
        dilation_rate: int or (rows, cols), default (1, 1).
        activation: name or callable (None = linear); elementwise ones run fused.
        use_bias: whether to add a bias per output channel.
        depthwise_initializer, bias_initializer, depthwise_regularizer,
        bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint:
            as in Conv2D, for the depthwise kernel and the bias.

    Input shape: (batch, rows, cols, channels) or (batch, channels, rows, cols).
    Output shape: (batch, new_rows, new_cols, channels * depth_multiplier) or
        (batch, channels * depth_multiplier, new_rows, new_cols).
    Weights: depthwise_kernel (kernel_rows, kernel_cols, channels, depth_multiplier),
        bias (channels * depth_multiplier,), as in Keras.

    Example:
        >>> model.add(DepthwiseConv2D(3, depth_multiplier=2, input_shape=(8, 8, 4)))
        >>> model.output_shape
        (None, 6, 6, 8)
    """

    def __init__(self, kernel_size=None, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, dilation_rate=(1, 1),
                 **kwargs):
        super().__init__(**kwargs)
        self._init_depthwise(kernel_size, strides, padding, data_format, dilation_rate,
                             depth_multiplier, activation, use_bias, dict(
                                 depthwise_initializer=depthwise_initializer,
                                 bias_initializer=bias_initializer,
                                 depthwise_regularizer=depthwise_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 depthwise_constraint=depthwise_constraint,
                                 bias_constraint=bias_constraint))
        self.activity_regularizer = regularizers_mod.get(activity_regularizer)

    def build(self, input_shape):
        channels = self._add_depthwise(input_shape)
        self._add_bias(self._out_channels(channels))
        self.built = True

    def _convolve(self, inputs, activation):
        return K.depthwise_conv2d(inputs, self.depthwise_kernel, self.strides, self.padding,
                                  self.data_format, self.dilation_rate, bias=self.bias,
                                  activation=activation)

    def get_config(self):
        return self._base_config()


class _SeparableConv(_DepthwiseBase):
    """Shared by SeparableConv1D and SeparableConv2D: depthwise then pointwise."""

    _weight_prefixes = ("depthwise", "pointwise", "bias")
    _default_format = None

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls_name = type(self).__name__
        require_filters(cls_name, filters, "3" if self.rank == 1 else "(3, 3)")
        self.filters = validate_positive_int(cls_name, "filters", filters)
        self._init_depthwise(kernel_size, strides, padding, data_format, dilation_rate,
                             depth_multiplier, activation, use_bias, dict(
                                 depthwise_initializer=depthwise_initializer,
                                 pointwise_initializer=pointwise_initializer,
                                 bias_initializer=bias_initializer,
                                 depthwise_regularizer=depthwise_regularizer,
                                 pointwise_regularizer=pointwise_regularizer,
                                 bias_regularizer=bias_regularizer,
                                 depthwise_constraint=depthwise_constraint,
                                 pointwise_constraint=pointwise_constraint,
                                 bias_constraint=bias_constraint), self._default_format)
        self.activity_regularizer = regularizers_mod.get(activity_regularizer)

    def _out_channels(self, channels):
        return self.filters

    def build(self, input_shape):
        channels = self._add_depthwise(input_shape)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (channels * self.depth_multiplier,
                                                    self.filters),
            self.pointwise_initializer, self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        self.built = True

    def get_config(self):
        cfg = self._base_config()
        cfg["filters"] = self.filters
        return cfg


@keras1_arguments(_SEPARABLE_CONV2D_KERAS1)
class SeparableConv2D(_SeparableConv):
    """Depthwise separable 2-D convolution: a depthwise convolution (each input channel
    with its own ``depth_multiplier`` filters) then a pointwise 1x1 convolution that
    mixes the channels.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (rows, cols), of the depthwise step.
        strides, padding ('valid' | 'same'), dilation_rate: of the depthwise step.
        data_format: 'channels_last' or 'channels_first' (None = image_data_format()).
        depth_multiplier: positive int, depthwise filters per input channel.
        activation: name or callable (None = linear); elementwise ones run fused with
            the pointwise step.
        use_bias: whether to add a bias per output channel.
        depthwise_*, pointwise_*, bias_* initializer / regularizer / constraint and
        activity_regularizer: as in Conv2D, per weight.
        Keras 1 (``SeparableConvolution2D(nb_filter, nb_row, nb_col, border_mode=,
        subsample=, dim_ordering=, init=, bias=, b_regularizer=, b_constraint=)``) is
        accepted and converted, with a warning naming the modern call; ``init`` sets
        both the depthwise and the pointwise initializer.

    Input shape: (batch, rows, cols, channels) or (batch, channels, rows, cols).
    Output shape: (batch, new_rows, new_cols, filters) or
        (batch, filters, new_rows, new_cols).
    Weights: depthwise_kernel (kernel_rows, kernel_cols, channels, depth_multiplier),
        pointwise_kernel (1, 1, channels * depth_multiplier, filters), bias (filters,).

    Example:
        >>> model.add(SeparableConv2D(32, 3, padding='same', input_shape=(8, 8, 4)))
        >>> model.layers[-1].count_params()     # 3*3*4 + 4*32 + 32
        196
    """

    rank = 2

    def _convolve(self, inputs, activation):
        return K.separable_conv2d(inputs, self.depthwise_kernel, self.pointwise_kernel,
                                  self.strides, self.padding, self.data_format,
                                  self.dilation_rate, bias=self.bias, activation=activation)


class SeparableConv1D(_SeparableConv):
    """Depthwise separable 1-D convolution: a depthwise temporal convolution then a
    pointwise one that mixes the channels.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size, strides, dilation_rate: int (or a 1-tuple), of the depthwise step.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' (batch, steps, channels) or 'channels_first'
            (batch, channels, steps); None = image_data_format(), as in Keras.
        depth_multiplier, activation, use_bias, depthwise_*, pointwise_*, bias_*,
        activity_regularizer: as in SeparableConv2D.

    Input shape: (batch, steps, channels) or (batch, channels, steps).
    Output shape: (batch, new_steps, filters) or (batch, filters, new_steps).
    Weights: depthwise_kernel (kernel_size, channels, depth_multiplier),
        pointwise_kernel (1, channels * depth_multiplier, filters), bias (filters,).

    Example:
        >>> model.add(SeparableConv1D(16, 5, input_shape=(20, 3)))
        >>> model.output_shape
        (None, 16, 16)
    """

    rank = 1

    def _convolve(self, inputs, activation):
        return K.separable_conv1d(inputs, self.depthwise_kernel, self.pointwise_kernel,
                                  self.strides[0], self.padding, self.data_format,
                                  self.dilation_rate[0], bias=self.bias,
                                  activation=activation)


# Keras 2 aliases
SeparableConvolution2D = SeparableConv2D
SeparableConvolution1D = SeparableConv1D
