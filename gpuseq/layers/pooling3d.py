"""Pooling layers for volumes: MaxPooling3D, AveragePooling3D, GlobalMaxPooling3D,
GlobalAveragePooling3D.

Windowed pooling runs as one op (``gpuseq.backend.volumes.pool3d``) and follows
TensorFlow: 'same' padding puts an odd extra element at the end of an axis; padded
positions never win a max and are not counted by an average. The global layers are
a mean / max over the three spatial axes. Keras 1 spellings (``border_mode``,
``dim_ordering``) are accepted and converted, with a warning naming the modern call.
"""
from ..backend import functions as K
from ..backend import volumes
from ..backend.numpy_ops.conv import conv_output_length, normalize_tuple
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .base import Layer
from .conv_utils import normalize_data_format, normalize_padding
from .convolutional3d import VOLUME_DIM_ORDERING_KERAS1

_POOLING3D_KERAS1 = Keras1Arguments(
    renames={"border_mode": "padding", "dim_ordering": "data_format"},
    values={"dim_ordering": DIM_ORDERING})


def _layout(data_format):
    return "(batch, depth, rows, cols, channels)" if data_format == "channels_last" else \
        "(batch, channels, depth, rows, cols)"


@keras1_arguments(_POOLING3D_KERAS1)
class _Pooling3D(Layer):
    """Shared implementation of the windowed 3-D pooling layers."""

    mode = "max"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        cls_name = type(self).__name__
        super().__init__(**kwargs)
        self.pool_size = self._triple(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else self._triple(strides, "strides")
        self.padding = normalize_padding(padding, cls_name)
        self.data_format = normalize_data_format(data_format, cls_name)

    def _triple(self, value, name):
        cls_name = type(self).__name__
        try:
            t = normalize_tuple(value, 3, name)
        except ValueError as e:
            raise ValueError(f"{cls_name}: {e}") from None
        if any(v < 1 for v in t):
            raise ValueError(f"Received an invalid value for `{name}` of {cls_name}: expected "
                             f"positive integers. Received: {name}={value!r}")
        return t

    def _split(self, shape):
        return tuple(shape[1:4]) if self.data_format == "channels_last" else tuple(shape[2:5])

    def build(self, input_shape):
        cls_name = type(self).__name__
        if input_shape is None or len(input_shape) != 5:
            raise ValueError(f"Layer '{self.name}' ({cls_name}) expects 5-D input "
                             f"{_layout(self.data_format)}, but received input of shape "
                             f"{input_shape}.")
        spatial = self._split(input_shape)
        if self.padding == "valid" and any(n is not None and p > n
                                           for n, p in zip(spatial, self.pool_size)):
            raise ValueError(
                f"Layer '{self.name}' ({cls_name}): the pool size {self.pool_size} is larger "
                f"than the input's volume {spatial} with padding='valid' (input shape "
                f"{input_shape}, data_format='{self.data_format}'). Use padding='same' or a "
                "smaller pool_size.")
        self.built = True

    def compute_output_shape(self, input_shape):
        out = tuple(conv_output_length(n, p, self.padding, s) for n, p, s in
                    zip(self._split(input_shape), self.pool_size, self.strides))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (input_shape[4],)
        return (input_shape[0], input_shape[1]) + out

    def call(self, inputs, training=False):
        return volumes.pool3d(inputs, self.pool_size, self.strides, self.padding,
                              self.data_format, pool_mode=self.mode)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"pool_size": self.pool_size, "strides": self.strides,
                    "padding": self.padding, "data_format": self.data_format})
        return cfg


class MaxPooling3D(_Pooling3D):
    """Max pooling over windows of a volume batch.

    Args:
        pool_size: int or (depth, rows, cols), default (2, 2, 2).
        strides: int or triple; None = pool_size.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        Keras 1: ``border_mode``, ``dim_ordering``.

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, pooled_depth, pooled_rows, pooled_cols, channels).

    Example:
        >>> model.add(MaxPooling3D((1, 2, 2), input_shape=(3, 8, 8, 4)))
        >>> model.output_shape
        (None, 3, 4, 4, 4)
    """

    mode = "max"


class AveragePooling3D(_Pooling3D):
    """Average pooling over windows of a volume batch (arguments as MaxPooling3D).

    With padding='same', each window is divided by its number of real elements.

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, pooled_depth, pooled_rows, pooled_cols, channels).

    Example:
        >>> model.add(AveragePooling3D(2, input_shape=(4, 8, 8, 1)))
        >>> model.output_shape
        (None, 2, 4, 4, 1)
    """

    mode = "avg"


@keras1_arguments(VOLUME_DIM_ORDERING_KERAS1)
class _GlobalPooling3D(Layer):
    """Mean or max over the depth, rows and columns."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def _axes(self):
        return (1, 2, 3) if self.data_format == "channels_last" else (2, 3, 4)

    def build(self, input_shape):
        if input_shape is None or len(input_shape) != 5:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects 5-D input "
                             f"{_layout(self.data_format)}, but received input of shape "
                             f"{input_shape}.")
        self.built = True

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return tuple(1 if i in self._axes() else d for i, d in enumerate(input_shape))
        c = input_shape[4] if self.data_format == "channels_last" else input_shape[1]
        return (input_shape[0], c)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return cfg


class GlobalAveragePooling3D(_GlobalPooling3D):
    """Mean over the depth, rows and columns of a volume batch.

    Args:
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        keepdims: keep the pooled axes with length 1.

    Input shape: (batch, depth, rows, cols, channels) (or channels first).
    Output shape: (batch, channels).

    Example:
        >>> model.add(GlobalAveragePooling3D())   # (None, 2, 4, 4, 16) -> (None, 16)
    """

    def call(self, inputs, training=False):
        return K.mean(inputs, axis=self._axes(), keepdims=self.keepdims)


class GlobalMaxPooling3D(_GlobalPooling3D):
    """Maximum over the depth, rows and columns of a volume batch (arguments as
    GlobalAveragePooling3D).

    Input shape: (batch, depth, rows, cols, channels). Output shape: (batch, channels).

    Example:
        >>> model.add(GlobalMaxPooling3D())   # (None, 2, 4, 4, 16) -> (None, 16)
    """

    def call(self, inputs, training=False):
        return K.max(inputs, axis=self._axes(), keepdims=self.keepdims)


# short aliases, as in Keras
MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool3D = GlobalAveragePooling3D
