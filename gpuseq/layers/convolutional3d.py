"""Volume layers: Conv3D, Conv3DTranspose, ZeroPadding3D, Cropping3D, UpSampling3D.

Inputs are 5-D: ``(batch, depth, rows, cols, channels)`` for channels_last or
``(batch, channels, depth, rows, cols)`` for channels_first. Kernel layouts are
Keras's, ``(kd, kh, kw, in, out)`` for Conv3D and ``(kd, kh, kw, out, in)`` for
Conv3DTranspose, so weights move between Keras and gpuseq unchanged. The layers
compute with the backend's volume functions (``gpuseq.backend.volumes``: one fused
op for the convolution and its bias, vol2col + GEMM underneath).

Keras 1's ``Convolution3D(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3,
border_mode=, subsample=, dim_ordering=, init=, W_regularizer=, ...)`` is accepted
and converted as Keras 2 converted it, with a warning naming the modern call.
"""
from .. import activations as activations_mod
from ..backend import volumes
from ..backend.numpy_ops.conv import conv_output_length, normalize_tuple
from ..backend.numpy_ops.conv3d import deconv_length
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .base import validate_positive_int
from .conv_base import KernelBiasConv, SpatialResizing
from .conv_utils import (check_cropping_fits, check_kernel_fits, cropped_shape, join_spatial,
                         normalize_data_format, normalize_padding, padded_shape, split_spatial,
                         upsampled_shape)

_CONV3D_RENAMES = {
    "nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
    "dim_ordering": "data_format", "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint", "bias": "use_bias",
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _keras1_kernel_dims(cls_name, params, args, kwargs):
    """Keras 1's ``kernel_dim1..3`` as one ``kernel_size`` triple, as Keras 2 read them:
    three integers after nb_filter, or some of them as keywords (the ``prepare`` hook of
    the Conv3D table)."""
    args = list(args)
    named = {i: kwargs.pop(f"kernel_dim{i}") for i in (1, 2, 3) if f"kernel_dim{i}" in kwargs}
    kernel_size = args[1] if len(args) >= 2 else kwargs.get("kernel_size")
    rest = args[2:]
    dims = [kernel_size] if _is_int(kernel_size) else []
    if dims and len(rest) >= 2 and _is_int(rest[0]) and _is_int(rest[1]):
        dims, rest = dims + rest[:2], rest[2:]
    elif dims and rest and _is_int(rest[0]) and set(named) == {3}:
        dims, rest = dims + rest[:1], rest[1:]
    if not named and len(dims) <= 1:
        return tuple(args), kwargs, []
    dims += [named[i] for i in sorted(named)]
    if len(dims) != 3 or not all(_is_int(d) for d in dims):
        raise TypeError(f"{cls_name}: the Keras 1 form needs three integer kernel sizes "
                        "(kernel_dim1, kernel_dim2, kernel_dim3); or pass "
                        "kernel_size=(depth, rows, cols).")
    if len(args) >= 2:
        return tuple(args[:1]) + (tuple(dims),) + tuple(rest), kwargs, ["kernel_size"]
    kwargs["kernel_size"] = tuple(dims)
    return tuple(args), kwargs, ["kernel_size"]


_CONV3D_KERAS1 = Keras1Arguments(
    renames=_CONV3D_RENAMES, values={"dim_ordering": DIM_ORDERING},
    positional=("filters", "kernel_size"), prepare=_keras1_kernel_dims)

VOLUME_DIM_ORDERING_KERAS1 = Keras1Arguments(renames={"dim_ordering": "data_format"},
                                             values={"dim_ordering": DIM_ORDERING})
"""Keras 1's ``dim_ordering`` of the volume layers that have no other Keras 1 names."""


class _Conv3DBase(KernelBiasConv):
    """Arguments, weights and shape checks shared by Conv3D and Conv3DTranspose."""

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        cls_name = type(self).__name__
        if filters is None or kernel_size is None:
            raise TypeError(f"{cls_name} requires `filters` and `kernel_size`, e.g. "
                            f"{cls_name}(16, (3, 3, 3)).")
        super().__init__(**kwargs)
        self.filters = validate_positive_int(cls_name, "filters", filters)
        self.kernel_size = self._triple(kernel_size, "kernel_size")
        self.strides = self._triple(strides, "strides")
        self.padding = normalize_padding(padding, cls_name)
        self.data_format = normalize_data_format(data_format, cls_name)
        self.dilation_rate = self._triple(dilation_rate, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{cls_name}: strides > 1 together with dilation_rate > 1 is not "
                             "supported (as in Keras). Received: "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}")
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        self.set_weight_options(locals(), "kernel", "bias")

    def _triple(self, value, name, minimum=1):
        cls_name = type(self).__name__
        try:
            t = normalize_tuple(value, 3, name)
        except ValueError as e:
            raise ValueError(f"{cls_name}: {e}") from None
        if any(v < minimum for v in t):
            raise ValueError(f"Received an invalid value for `{name}` of {cls_name}: expected "
                             f"integers >= {minimum}. Received: {name}={value!r}")
        return t

    # -- shapes ---------------------------------------------------------------
    def _layout(self):
        return "(batch, depth, rows, cols, channels)" if self.data_format == "channels_last" \
            else "(batch, channels, depth, rows, cols)"

    def _check_input(self, input_shape):
        cls_name = type(self).__name__
        if input_shape is None or len(input_shape) != 5:
            raise ValueError(
                f"Layer '{self.name}' ({cls_name}) expects 5-D input {self._layout()}, but "
                f"received input of shape {input_shape}. Give the first layer input_shape "
                "with 4 entries, e.g. input_shape=(16, 32, 32, 3).")
        spatial, channels = split_spatial(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"Layer '{self.name}' ({cls_name}) needs a known channel "
                             f"dimension; received input of shape {input_shape} with "
                             f"data_format='{self.data_format}'.")
        return spatial, channels

    def _kernel_shape(self, channels):
        raise NotImplementedError

    def build(self, input_shape):
        _, channels = self._check_input(input_shape)
        self.add_kernel_and_bias(self._kernel_shape(channels), (self.filters,))
        self.built = True


@keras1_arguments(_CONV3D_KERAS1)
class Conv3D(_Conv3DBase):
    """3-D convolution layer (spatial convolution over volumes).

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (depth, rows, cols).
        strides: int or triple, default 1.
        padding: 'valid' or 'same' (TensorFlow rule: output = ceil(input / stride)).
        data_format: 'channels_last' or 'channels_first'; None = ``K.image_data_format()``.
        dilation_rate: int or triple, default 1 (not together with strides > 1).
        activation: name or callable (None = linear).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint:
            as in Conv2D.
        Keras 1 (``Convolution3D(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3,
        border_mode=, subsample=, dim_ordering=, init=, W_regularizer=, ...)``) is
        accepted and converted, with a warning naming the modern call.

    Input shape: (batch, depth, rows, cols, channels) or (batch, channels, depth, rows, cols).
    Output shape: (batch, new_depth, new_rows, new_cols, filters) or channels first.
    Kernel: (kernel_depth, kernel_rows, kernel_cols, channels, filters), as in Keras.

    Example:
        >>> model.add(Conv3D(8, (3, 3, 3), activation='relu', input_shape=(3, 8, 8, 1)))
        >>> model.output_shape
        (None, 1, 6, 6, 8)
    """

    def _check_input(self, input_shape):
        spatial, channels = super()._check_input(input_shape)
        check_kernel_fits(self, spatial, input_shape, "volume", "Use padding='same', a "
                          "smaller kernel, or check data_format.", cls_name="Conv3D")
        return spatial, channels

    def _kernel_shape(self, channels):
        return self.kernel_size + (channels, self.filters)

    def compute_output_shape(self, input_shape):
        spatial, _ = split_spatial(input_shape, self.data_format)
        out = [conv_output_length(n, k, self.padding, s, d) for n, k, s, d in
               zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]
        return join_spatial(input_shape[0], out, self.filters, self.data_format)

    def pre_activation(self, inputs):
        """conv3d(inputs, kernel) + bias, before the activation (for fused losses)."""
        return volumes.conv3d(inputs, self.kernel, self.strides, self.padding,
                              self.data_format, self.dilation_rate, bias=self.bias)

    def call(self, inputs, training=False):
        return self.activation(self.pre_activation(inputs))


@keras1_arguments(_CONV3D_KERAS1)
class Conv3DTranspose(_Conv3DBase):
    """Transposed 3-D convolution ("deconvolution"): maps the shape of a Conv3D's
    output back to the shape of its input, with the connectivity of that convolution.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size: int or (depth, rows, cols).
        strides: int or triple, default 1.
        padding: 'valid' or 'same'.
        output_padding: int or triple (each smaller than its stride), or None (the
            output size is inferred: ``input * stride`` for 'same',
            ``input * stride + max(kernel - stride, 0)`` for 'valid').
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        dilation_rate: int or triple, default 1 (Keras 2.2.4 has none; Keras 3 does).
        activation, use_bias, initializers, regularizers, constraints: as in Conv3D.

    Input shape: (batch, depth, rows, cols, channels) or channels first.
    Output shape: (batch, new_depth, new_rows, new_cols, filters) or channels first, with
    ``new = (size - 1) * stride + kernel - 2 * pad + output_padding`` when output_padding
    is given (pad = kernel // 2 for 'same', 0 for 'valid').
    Kernel: (kernel_depth, kernel_rows, kernel_cols, filters, channels), as in Keras.

    Example:
        >>> model.add(Conv3DTranspose(4, 3, strides=2, padding='same',
        ...                           input_shape=(2, 4, 4, 8)))
        >>> model.output_shape
        (None, 4, 8, 8, 4)
    """

    def __init__(self, filters=None, kernel_size=None, strides=1, padding="valid",
                 output_padding=None, data_format=None, dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        self.output_padding = None if output_padding is None else \
            self._triple(output_padding, "output_padding", minimum=0)
        if self.output_padding is not None:
            for s, p in zip(self.strides, self.output_padding):
                if p >= s:
                    raise ValueError(
                        "Conv3DTranspose: each output_padding must be smaller than its "
                        f"stride. Received: strides={self.strides}, "
                        f"output_padding={self.output_padding}")

    def _kernel_shape(self, channels):
        return self.kernel_size + (self.filters, channels)

    def _output_spatial(self, spatial):
        pads = self.output_padding or (None,) * 3
        return tuple(deconv_length(n, k, self.padding, s, p, d) for n, k, s, p, d in
                     zip(spatial, self.kernel_size, self.strides, pads, self.dilation_rate))

    def compute_output_shape(self, input_shape):
        spatial, _ = split_spatial(input_shape, self.data_format)
        return join_spatial(input_shape[0], self._output_spatial(spatial), self.filters,
                            self.data_format)

    def pre_activation(self, inputs):
        """The transposed convolution plus bias, before the activation (for fused
        losses)."""
        spatial, _ = split_spatial(inputs.shape, self.data_format)
        return volumes.conv3d_transpose(inputs, self.kernel, self._output_spatial(spatial),
                                        self.strides, self.padding, self.data_format,
                                        self.dilation_rate, bias=self.bias)

    def call(self, inputs, training=False):
        return self.activation(self.pre_activation(inputs))

    def get_config(self):
        cfg = super().get_config()
        if self.dilation_rate == (1, 1, 1):
            cfg.pop("dilation_rate")       # Keras 2.2.4's Conv3DTranspose has none
        cfg["output_padding"] = self.output_padding
        return cfg


# ---------------------------------------------------------------------------
# Zero padding, cropping, up-sampling of volumes
# ---------------------------------------------------------------------------

def volume_pairs(value, name, cls_name):
    """int | (d, h, w) | ((d0, d1), (h0, h1), (w0, w1)) -> three (before, after) pairs
    of non-negative ints."""
    err = ValueError(
        f"Received an invalid value for `{name}` of {cls_name}: expected a non-negative "
        f"integer, a tuple of 3 non-negative integers, or a tuple of 3 (before, after) "
        f"pairs. Received: {name}={value!r}")
    if _is_int(value):
        pairs = ((value, value),) * 3
    else:
        try:
            items = tuple(value)
            pairs = tuple((v, v) if _is_int(v) else tuple(v) for v in items)
        except TypeError:
            raise err from None
        if len(pairs) != 3 or not all(len(p) == 2 and all(_is_int(v) for v in p)
                                      for p in pairs):
            raise err
    if any(v < 0 for p in pairs for v in p):
        raise err
    return tuple((int(a), int(b)) for a, b in pairs)


class _VolumeReshaping(SpatialResizing):
    """Shared argument handling and shape checks of the padding / cropping /
    up-sampling layers."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)

    def build(self, input_shape):
        if input_shape is None or len(input_shape) != 5:
            layout = "(batch, depth, rows, cols, channels)" \
                if self.data_format == "channels_last" else \
                "(batch, channels, depth, rows, cols)"
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects 5-D input "
                             f"{layout}, but received input of shape {input_shape}.")
        self.built = True


@keras1_arguments(VOLUME_DIM_ORDERING_KERAS1)
class ZeroPadding3D(_VolumeReshaping):
    """Pads the depth, rows and columns of a volume batch with zeros.

    Args:
        padding: int (every side), (depth, rows, cols) (symmetric), or
            ((front, back), (top, bottom), (left, right)); default 1.
        data_format: 'channels_last' or 'channels_first' (None = global setting).

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, depth + front + back, rows + top + bottom,
    cols + left + right, channels).

    Example:
        >>> model.add(ZeroPadding3D(((1, 0), 2, 0), input_shape=(3, 4, 4, 1)))
        >>> model.output_shape
        (None, 4, 8, 4, 1)
    """

    _config_names = ("padding", "data_format")

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = volume_pairs(padding, "padding", type(self).__name__)

    def compute_output_shape(self, input_shape):
        return padded_shape(input_shape, self.padding, self.data_format)

    def call(self, inputs, training=False):
        return volumes.spatial_3d_padding(inputs, self.padding, self.data_format)



@keras1_arguments(VOLUME_DIM_ORDERING_KERAS1)
class Cropping3D(_VolumeReshaping):
    """Crops the depth, rows and columns of a volume batch.

    Args:
        cropping: int (every side), (depth, rows, cols) (symmetric), or
            ((front, back), (top, bottom), (left, right)); default 1 on every side.
        data_format: 'channels_last' or 'channels_first' (None = global setting).

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, depth - front - back, rows - top - bottom,
    cols - left - right, channels).

    Example:
        >>> model.add(Cropping3D(((1, 1), (2, 2), (0, 1)), input_shape=(4, 8, 8, 2)))
        >>> model.output_shape
        (None, 2, 4, 7, 2)
    """

    _config_names = ("cropping", "data_format")

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = volume_pairs(cropping, "cropping", type(self).__name__)

    def build(self, input_shape):
        super().build(input_shape)
        check_cropping_fits(self, input_shape, "Cropping3D",
                            f" (data_format='{self.data_format}')")

    def compute_output_shape(self, input_shape):
        return cropped_shape(input_shape, self.cropping, self.data_format)

    def call(self, inputs, training=False):
        return volumes.spatial_3d_cropping(inputs, self.cropping, self.data_format)



@keras1_arguments(VOLUME_DIM_ORDERING_KERAS1)
class UpSampling3D(_VolumeReshaping):
    """Nearest-neighbour up-sampling of volumes: repeats depth slices, rows and columns.

    Args:
        size: int or (depth, rows, cols) repetition factors; default 2.
        data_format: 'channels_last' or 'channels_first' (None = global setting).

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, depth * size[0], rows * size[1], cols * size[2], channels).

    Example:
        >>> model.add(UpSampling3D((1, 2, 2), input_shape=(3, 4, 4, 1)))
        >>> model.output_shape
        (None, 3, 8, 8, 1)
    """

    _config_names = ("size", "data_format")

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        try:
            self.size = normalize_tuple(size, 3, "size")
        except ValueError as e:
            raise ValueError(f"UpSampling3D: {e}") from None
        if any(v < 1 for v in self.size):
            raise ValueError("Received an invalid value for `size` of UpSampling3D: expected "
                             f"positive integers. Received: size={size!r}")

    def compute_output_shape(self, input_shape):
        return upsampled_shape(input_shape, self.size, self.data_format)

    def call(self, inputs, training=False):
        return volumes.resize_volumes(inputs, *self.size, data_format=self.data_format)



# Keras 1 / Keras 2 aliases
Convolution3D = Conv3D
Convolution3DTranspose = Conv3DTranspose
Deconvolution3D = Deconv3D = Conv3DTranspose
