"""Conv2DTranspose (Keras 1: Deconvolution2D), the transposed 2-D convolution.

It runs as one fused op (``K.conv2d_transpose``: a GEMM then the col2im gather, bias
and activation after it; the gradients are a convolution and its kernel gradient).
The kernel has Keras's layout ``(rows, cols, filters, input_channels)`` and the
output sizes are Keras's, so weights and models move between Keras and gpuseq
unchanged.

Keras 1's ``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, border_mode=,
subsample=, dim_ordering=, init=, W_regularizer=, ...)`` is accepted through the
layer's Keras 1 table (:class:`gpuseq.legacy.Keras1Arguments`), with a warning naming
the modern call. Its ``output_shape`` becomes the ``output_padding`` that gives that
size once the input size is known (an error when none does).
"""
from .. import activations as activations_mod
from ..backend import functions as K
from ..backend.numpy_ops.conv_transpose import deconv_output_length
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .base import validate_positive_int
from .conv_base import KernelBiasConv
from .conv_utils import (conv_geometry, is_int, join_spatial, keras1_kernel_rows_cols,
                         positive_tuple, require_filters_and_kernel, split_channels,
                         split_spatial)
from .core import fused_activation_kind


class _Keras1OutputShape:
    """Keras 1's ``output_shape`` of a ``Deconvolution2D`` call, passed on as the
    layer's ``output_padding``: the layer turns it into the output_padding that
    produces that shape once it knows its input size (at build), or refuses it."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __repr__(self):
        return f"output_shape={self.shape!r}"


def _keras1_output_shape(cls_name, value):
    """Keras 1's output_shape, checked: a sequence of four entries (batch, then the
    three output axes in the layer's data format)."""
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise ValueError(f"Received an invalid value for the Keras 1 argument `output_shape` "
                         f"of {cls_name}: expected the full output shape (batch, rows, cols, "
                         f"filters), or (batch, filters, rows, cols) for channels_first; or "
                         f"leave it out (Keras 2 infers it). Received: output_shape={value!r}")
    return _Keras1OutputShape(value)


def _keras1_deconv_call(cls_name, params, args, kwargs):
    """The ``prepare`` hook of the Conv2DTranspose table: Keras 1's ``nb_row`` /
    ``nb_col`` (positional or keywords) as ``kernel_size``, and its ``output_shape``
    (a keyword, or the fourth positional argument after ``nb_filter, nb_row, nb_col``)
    as the ``output_padding`` that produces it. The call then counts as a Keras 1
    call; the warning does not show output_shape (Keras 2 has no such argument)."""
    positional_rows_cols = len(args) >= 3 and is_int(args[1]) and is_int(args[2])
    args, kwargs, changed = keras1_kernel_rows_cols(cls_name, params, args, kwargs)
    shape = kwargs.pop("output_shape", None)
    if positional_rows_cols and len(args) >= 3 and isinstance(args[2], (tuple, list)):
        if shape is not None:
            raise TypeError(f"{cls_name} got the Keras 1 `output_shape` twice, as the 4th "
                            "positional argument and as a keyword. Pass it once.")
        shape, args = args[2], args[:2] + args[3:]
    if shape is None:
        return args, kwargs, changed
    slot = params.index("output_padding")
    if (len(args) > slot and args[slot] is not None) or \
            kwargs.get("output_padding") is not None:
        raise TypeError(f"{cls_name} got both the Keras 1 `output_shape` and `output_padding`. "
                        "Pass only output_padding (or only output_shape).")
    padding = _keras1_output_shape(cls_name, shape)
    if len(args) > slot:
        args = args[:slot] + (padding,) + args[slot + 1:]
    else:
        kwargs["output_padding"] = padding
    return args, kwargs, list(changed) + ["output_shape"]


_CONV2D_TRANSPOSE_KERAS1 = Keras1Arguments(
    renames={
        "nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
        "dim_ordering": "data_format", "init": "kernel_initializer",
        "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
        "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
        "bias": "use_bias"},
    values={"dim_ordering": DIM_ORDERING},
    positional=("filters", "kernel_size"), prepare=_keras1_deconv_call)


@keras1_arguments(_CONV2D_TRANSPOSE_KERAS1)
class Conv2DTranspose(KernelBiasConv):
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

    def __init__(self, filters=None, kernel_size=None, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls_name = type(self).__name__
        require_filters_and_kernel(cls_name, filters, kernel_size, (3, 3))
        self.filters = validate_positive_int(cls_name, "filters", filters)
        (self.kernel_size, self.strides, self.padding, self.data_format,
         self.dilation_rate) = conv_geometry(cls_name, 2, kernel_size, strides, padding,
                                             data_format, dilation_rate)
        self._keras1_output_shape = None
        if isinstance(output_padding, _Keras1OutputShape):
            self._keras1_output_shape, output_padding = output_padding.shape, None
        self.output_padding = self._output_padding(output_padding)
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.set_weight_options(locals(), "kernel", "bias")

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
        spatial, _ = split_spatial(input_shape, self.data_format)
        return join_spatial(input_shape[0], self._out_spatial(spatial), self.filters,
                            self.data_format)

    def _apply_keras1_output_shape(self, spatial):
        """Keras 1's output_shape as the output_padding that produces it."""
        shape = tuple(self._keras1_output_shape)
        want = shape[1:3] if self.data_format == "channels_last" else shape[2:4]
        if all(w is None or w == o for w, o in zip(want, self._out_spatial(spatial))):
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
        self.add_kernel_and_bias(self.kernel_size + (self.filters, channels), (self.filters,))
        self.built = True

    # -- compute --------------------------------------------------------------
    def _transpose(self, inputs, activation):
        spatial, _ = split_spatial(inputs.shape, self.data_format)
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
        cfg["output_padding"] = self.output_padding
        return cfg


# Keras 2 aliases
Convolution2DTranspose = Conv2DTranspose
Deconvolution2D = Conv2DTranspose
Deconv2D = Conv2DTranspose
