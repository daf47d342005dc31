"""Convolution layers (Conv1D, Conv2D) and the spatial reshaping layers
(ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D).

The convolutions run as one fused op each (``conv1d`` / ``conv2d``: im2col, one
GEMM, bias and activation fused after it; col2im or a transposed convolution for
the input gradient; on the CPU, Conv1D runs as an implicit GEMM in the host kernels
where they build). Kernel layouts are exactly Keras's: ``(kernel_size, in, out)``
for Conv1D and ``(rows, cols, in, out)`` for Conv2D, so weights move between
Keras and gpuseq unchanged. Convolution is cross-correlation, as in TensorFlow,
and 'same' padding follows TensorFlow (an odd extra pixel goes bottom / right).

Keras 1 spellings are accepted and converted the way Keras 2 converted them
(``Convolution2D(32, 3, 3, border_mode='valid', dim_ordering='th')``); a warning
names the modern call.
"""
from .. import activations as activations_mod
from .. import backend as K
from ..backend.numpy_ops.conv import conv_output_length
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments, warn_user
from .base import validate_bool, validate_positive_int
from .conv_base import KernelBiasConv, SpatialResizing
from .conv_utils import (check_cropping_fits, check_kernel_fits, cropped_shape, is_int,
                         join_spatial, keras1_kernel_rows_cols, normalize_data_format,
                         normalize_padding, padded_shape, positive_tuple,
                         require_filters_and_kernel, split_channels, split_spatial,
                         upsampled_shape)
from .core import fused_activation_kind
# Keras 1 defined the pooling layers in this module and Keras 2 kept these names here.
from .pooling import AveragePooling1D, AveragePooling2D, MaxPooling1D, MaxPooling2D  # noqa: F401


# -- Keras 1 spellings -----------------------------------------------------------------------

def _keras1_channels_first(cls_name, kwargs, changed):
    """Keras 1 ``Convolution2D(..., input_shape=(3, 100, 100))`` without dim_ordering.

    Keras 1 took the image ordering from its configuration, and the Theano-era
    default was 'th' (channels first); code written for it gives channel-first
    input shapes. When a Keras 1 style call receives an input shape that is
    unmistakably channels-first (at most 4 channels in front of two larger axes)
    while the global setting is channels_last, the global image data format is
    switched to 'channels_first' (as a Keras 1 'th' configuration would have it),
    so that the pooling, convolution and Flatten layers that follow agree.
    """
    if "data_format" in changed or kwargs.get("data_format") is not None:
        return
    shape = kwargs.get("input_shape")
    if shape is None and kwargs.get("batch_input_shape") is not None:
        shape = tuple(kwargs["batch_input_shape"])[1:]
    if shape is None or K.image_data_format() != "channels_last":
        return
    shape = tuple(shape)
    if len(shape) != 3 or any(d is None for d in shape):
        return
    if shape[0] <= 4 and shape[1] > 4 and shape[2] > 4:
        K.set_image_data_format("channels_first")
        kwargs["data_format"] = "channels_first"
        warn_user(
            f"{cls_name}: input_shape={shape} is in Keras 1 'th' order (channels first). "
            "The image data format is now 'channels_first' for this and the following "
            "layers; say so explicitly with data_format='channels_first' or "
            "gpuseq.backend.set_image_data_format('channels_first').")


_CONV_RENAMES = {
    "nb_filter": "filters", "filter_length": "kernel_size", "subsample": "strides",
    "subsample_length": "strides", "border_mode": "padding", "dim_ordering": "data_format",
    "init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint", "bias": "use_bias", "atrous_rate": "dilation_rate",
}

_CONV1D_KERAS1 = Keras1Arguments(
    renames=_CONV_RENAMES, values={"dim_ordering": DIM_ORDERING},
    positional=("filters", "kernel_size"), shown=("input_shape", "batch_input_shape"))

_CONV2D_KERAS1 = Keras1Arguments(
    renames=_CONV_RENAMES, values={"dim_ordering": DIM_ORDERING},
    positional=("filters", "kernel_size"), shown=("input_shape", "batch_input_shape"),
    prepare=keras1_kernel_rows_cols, after=_keras1_channels_first)

_DIM_ORDERING_KERAS1 = Keras1Arguments(renames={"dim_ordering": "data_format"},
                                       values={"dim_ordering": DIM_ORDERING})


class _Conv(KernelBiasConv):
    """Shared implementation of Conv1D and Conv2D (``rank`` spatial axes)."""

    rank = 2

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        cls_name = type(self).__name__
        super().__init__(**kwargs)
        require_filters_and_kernel(cls_name, filters, kernel_size,
                                   3 if self.rank == 1 else (3, 3))
        self.filters = validate_positive_int(cls_name, "filters", filters)
        self.kernel_size = positive_tuple(kernel_size, self.rank, "kernel_size", cls_name)
        self.strides = positive_tuple(strides, self.rank, "strides", cls_name)
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        self.padding = normalize_padding(padding, cls_name, allowed)
        default = "channels_last" if self.rank == 1 else None
        self.data_format = normalize_data_format(data_format, cls_name, default)
        if self.padding == "causal" and self.data_format != "channels_last":
            raise ValueError(f"{cls_name}: padding='causal' needs data_format='channels_last'. "
                             f"Received: data_format={self.data_format!r}")
        self.dilation_rate = positive_tuple(dilation_rate, self.rank, "dilation_rate", cls_name)
        self.activation = activations_mod.get(activation)
        self.use_bias = validate_bool(type(self).__name__, "use_bias", use_bias)
        self.set_weight_options(locals(), "kernel", "bias")

    # -- shapes ---------------------------------------------------------------
    def _check_input(self, input_shape):
        spatial, channels = split_channels(self, input_shape, self.rank)
        self._check_window(spatial, input_shape)
        return spatial, channels

    def _check_window(self, spatial, input_shape):
        """Raise when the kernel (with its dilation) is longer than a spatial axis of the
        input under padding='valid', which would leave an empty output."""
        check_kernel_fits(self, spatial, input_shape, advice=(
            "Use padding='same', a smaller kernel, or check data_format (a channels-first "
            "input such as (3, 100, 100) needs data_format='channels_first'). Received: "
            f"input_shape={tuple(input_shape)}"))

    def compute_output_shape(self, input_shape):
        spatial, _ = split_spatial(input_shape, self.data_format)
        out = tuple(conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
                    zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        return join_spatial(input_shape[0], out, self.filters, self.data_format)

    def build(self, input_shape):
        _, channels = self._check_input(input_shape)
        self.add_kernel_and_bias(self.kernel_size + (channels, self.filters), (self.filters,))
        self.built = True

    # -- compute --------------------------------------------------------------
    def _conv(self, inputs, activation="linear"):
        conv = K.conv1d if self.rank == 1 else K.conv2d
        return conv(inputs, self.kernel, self.strides, self.padding, self.data_format,
                    self.dilation_rate, bias=self.bias, activation=activation)

    def pre_activation(self, inputs):
        """conv(input, kernel) + bias, before the activation (for fused losses)."""
        return self._conv(inputs)

    def call(self, inputs, training=False):
        shape = tuple(inputs.shape)
        self._check_window(split_spatial(shape, self.data_format)[0], shape)
        kind = fused_activation_kind(self.activation)
        if kind is None:
            return self.activation(self.pre_activation(inputs))
        return self._conv(inputs, kind)

@keras1_arguments(_CONV2D_KERAS1)
class Conv2D(_Conv):
    """2-D convolution layer (spatial convolution over images).

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (rows, cols).
        strides: int or (rows, cols), default (1, 1).
        padding: 'valid' or 'same' (TensorFlow rule: output = ceil(input / stride)).
        data_format: 'channels_last' (batch, rows, cols, channels) or 'channels_first'
            (batch, channels, rows, cols); None = ``K.image_data_format()``.
        dilation_rate: int or (rows, cols), default (1, 1).
        activation: name or callable (None = linear); elementwise activations run
            fused with the bias add after the GEMM.
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint:
            as in Dense.
        Keras 1 (``Convolution2D(nb_filter, nb_row, nb_col, border_mode=, subsample=,
        dim_ordering='th'|'tf', init=, W_regularizer=, b_regularizer=, W_constraint=,
        b_constraint=, bias=)``) is accepted and converted, with a warning naming the
        modern call.

    Input shape: (batch, rows, cols, channels) or (batch, channels, rows, cols).
    Output shape: (batch, new_rows, new_cols, filters) or (batch, filters, new_rows, new_cols).
    Kernel: (kernel_rows, kernel_cols, channels, filters), as in Keras.

    Example:
        >>> model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(100, 100, 3)))
        >>> model.output_shape
        (None, 98, 98, 32)
    """

    rank = 2


@keras1_arguments(_CONV1D_KERAS1)
class Conv1D(_Conv):
    """1-D convolution layer (temporal convolution).

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int (or a 1-tuple).
        strides: int, default 1.
        padding: 'valid', 'same' or 'causal' (output[t] sees input[:t + 1] only:
            the input is left-padded by dilation_rate * (kernel_size - 1)).
        data_format: 'channels_last' (batch, steps, channels; the default) or
            'channels_first' (batch, channels, steps).
        dilation_rate: int, default 1.
        activation, use_bias, initializers, regularizers, constraints: as in Conv2D.
        Keras 1 (``Convolution1D(nb_filter, filter_length, border_mode=,
        subsample_length=, init=, W_regularizer=, ...)``) is accepted and converted.

    Input shape: (batch, steps, channels). Output shape: (batch, new_steps, filters).
    Kernel: (kernel_size, channels, filters), as in Keras.

    Example:
        >>> model.add(Conv1D(64, 3, activation='relu', input_shape=(64, 100)))
        >>> model.output_shape
        (None, 62, 64)
    """

    rank = 1


# Keras 1 names (aliases, as in Keras 2)
Convolution2D = Conv2D
Convolution1D = Conv1D


# ---------------------------------------------------------------------------
# Zero padding, cropping, up-sampling
# ---------------------------------------------------------------------------

def _pairs(value, rank, name, cls_name):
    """int | (a, b) per axis | ((a, b), ...) -> ((before, after), ...) of non-negative ints."""
    err = ValueError(
        f"Received an invalid value for `{name}` of {cls_name}: expected a non-negative "
        f"integer, a tuple of {rank} non-negative integers, or a tuple of {rank} "
        f"(before, after) pairs. Received: {name}={value!r}")
    if is_int(value):
        pairs = ((value, value),) * rank
    else:
        try:
            value_t = tuple(value)
        except TypeError:
            raise err from None
        if rank == 1 and len(value_t) == 2 and all(is_int(v) for v in value_t):
            pairs = (value_t,)
        elif len(value_t) == rank and all(is_int(v) for v in value_t):
            pairs = tuple((v, v) for v in value_t)
        elif len(value_t) == rank:
            try:
                pairs = tuple(tuple(p) for p in value_t)
            except TypeError:
                raise err from None
            if not all(len(p) == 2 and all(is_int(v) for v in p) for p in pairs):
                raise err
        else:
            raise err
    if any(v < 0 for p in pairs for v in p):
        raise err
    return tuple((int(a), int(b)) for a, b in pairs)


class _Spatial(SpatialResizing):
    """Shared shape checks of the padding / cropping / up-sampling layers."""

    rank = 2

    def build(self, input_shape):
        if input_shape is None or len(input_shape) != self.rank + 2:
            layout = "(batch, steps, channels)" if self.rank == 1 else \
                "(batch, rows, cols, channels)" if self.data_format == "channels_last" else \
                "(batch, channels, rows, cols)"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects "
                             f"{self.rank + 2}-D input {layout}, but received input of shape "
                             f"{input_shape}.")
        self.built = True


@keras1_arguments(_DIM_ORDERING_KERAS1)
class ZeroPadding2D(_Spatial):
    """Pads rows and columns of an image batch with zeros.

    Args:
        padding: int (all sides), (rows, cols) (symmetric), or
            ((top, bottom), (left, right)).
        data_format: 'channels_last' or 'channels_first' (None = global setting).

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, rows + top + bottom, cols + left + right, channels).

    Example:
        >>> model.add(ZeroPadding2D(((1, 0), (2, 2)), input_shape=(4, 4, 3)))
        >>> model.output_shape
        (None, 5, 8, 3)
    """

    rank = 2
    _config_names = ("padding", "data_format")

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, self.rank, "padding", type(self).__name__)
        self.data_format = normalize_data_format(
            data_format, type(self).__name__, "channels_last" if self.rank == 1 else None)

    def compute_output_shape(self, input_shape):
        return padded_shape(input_shape, self.padding, self.data_format)

    def call(self, inputs, training=False):
        return K.zero_pad(inputs, self.padding, self.data_format)



class ZeroPadding1D(ZeroPadding2D):
    """Pads the steps axis of a sequence batch with zeros.

    Args:
        padding: int (both ends) or (before, after).

    Input shape: (batch, steps, features). Output: (batch, steps + before + after, features).

    Example:
        >>> model.add(ZeroPadding1D(2, input_shape=(10, 4)))
        >>> model.output_shape
        (None, 14, 4)
    """

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding=padding, data_format="channels_last", **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["padding"] = self.padding[0]
        cfg.pop("data_format")
        return cfg


@keras1_arguments(_DIM_ORDERING_KERAS1)
class Cropping2D(_Spatial):
    """Crops rows and columns off an image batch.

    Args:
        cropping: int (all sides), (rows, cols) (symmetric), or
            ((top, bottom), (left, right)).
        data_format: 'channels_last' or 'channels_first' (None = global setting).

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, rows - top - bottom, cols - left - right, channels).

    Example:
        >>> model.add(Cropping2D(((2, 2), (4, 4)), input_shape=(28, 28, 3)))
        >>> model.output_shape
        (None, 24, 20, 3)
    """

    rank = 2
    _config_names = ("cropping", "data_format")

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, self.rank, "cropping", type(self).__name__)
        self.data_format = normalize_data_format(
            data_format, type(self).__name__, "channels_last" if self.rank == 1 else None)

    def build(self, input_shape):
        super().build(input_shape)
        check_cropping_fits(self, input_shape, type(self).__name__)

    def compute_output_shape(self, input_shape):
        return cropped_shape(input_shape, self.cropping, self.data_format)

    def call(self, inputs, training=False):
        return K.crop(inputs, self.cropping, self.data_format)



class Cropping1D(Cropping2D):
    """Crops steps off both ends of a sequence batch.

    Args:
        cropping: int (both ends) or (before, after).

    Input shape: (batch, steps, features). Output: (batch, steps - before - after, features).

    Example:
        >>> model.add(Cropping1D((1, 2), input_shape=(10, 4)))
        >>> model.output_shape
        (None, 7, 4)
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping=cropping, data_format="channels_last", **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["cropping"] = self.cropping[0]
        cfg.pop("data_format")
        return cfg


@keras1_arguments(_DIM_ORDERING_KERAS1)
class UpSampling2D(_Spatial):
    """Nearest-neighbour up-sampling: repeats rows and columns.

    Args:
        size: int or (rows, cols) repetition factors.
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        interpolation: 'nearest' (the only mode).

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, rows * size[0], cols * size[1], channels).

    Example:
        >>> model.add(UpSampling2D((2, 3), input_shape=(4, 4, 1)))
        >>> model.output_shape
        (None, 8, 12, 1)
    """

    rank = 2
    _config_names = ("size", "data_format", "interpolation")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = positive_tuple(size, self.rank, "size", type(self).__name__)
        self.data_format = normalize_data_format(
            data_format, type(self).__name__, "channels_last" if self.rank == 1 else None)
        if interpolation != "nearest":
            raise ValueError(f"{type(self).__name__} supports interpolation='nearest' only. "
                             f"Received: interpolation={interpolation!r}")
        self.interpolation = interpolation

    def compute_output_shape(self, input_shape):
        return upsampled_shape(input_shape, self.size, self.data_format)

    def call(self, inputs, training=False):
        return K.upsample(inputs, self.size, self.data_format)



@keras1_arguments(Keras1Arguments(renames={"length": "size"}))
class UpSampling1D(UpSampling2D):
    """Repeats each step of a sequence ``size`` times.

    Args:
        size: int repetition factor (Keras 1: ``length``).

    Input shape: (batch, steps, features). Output: (batch, steps * size, features).

    Example:
        >>> model.add(UpSampling1D(3, input_shape=(5, 2)))
        >>> model.output_shape
        (None, 15, 2)
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size=size, data_format="channels_last", **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg["size"] = self.size[0]
        for k in ("data_format", "interpolation"):
            cfg.pop(k)
        return cfg

