"""Pooling layers: MaxPooling1D/2D, AveragePooling1D/2D, GlobalMaxPooling1D/2D,
GlobalAveragePooling1D/2D.

Each runs as one fused op (``pool1d`` / ``pool2d`` / ``global_pool``). Pooling
follows TensorFlow: 'same' padding puts an odd extra element at the bottom /
right, padded positions never win a max and are not counted by an average.
Keras 1 spellings (``pool_length``, ``stride``, ``border_mode``, ``dim_ordering``)
are accepted and converted, with a warning naming the modern call.
"""
from .. import backend as K
from ..backend.numpy_ops.conv import conv_output_length
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from .base import Layer, validate_bool
from .conv_utils import positive_tuple, normalize_data_format, normalize_padding

_POOLING2D_KERAS1 = Keras1Arguments(
    renames={"border_mode": "padding", "dim_ordering": "data_format"},
    values={"dim_ordering": DIM_ORDERING})

_POOLING1D_KERAS1 = Keras1Arguments(
    renames={"border_mode": "padding", "dim_ordering": "data_format",
             "pool_length": "pool_size", "stride": "strides"},
    values={"dim_ordering": DIM_ORDERING})

_GLOBAL_POOLING_KERAS1 = Keras1Arguments(renames={"dim_ordering": "data_format"},
                                         values={"dim_ordering": DIM_ORDERING})


class _Pooling(Layer):
    """Shared implementation of the windowed pooling layers."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size=None, strides=None, padding="valid", data_format=None,
                 **kwargs):
        cls_name = type(self).__name__
        super().__init__(**kwargs)
        if pool_size is None:
            pool_size = 2 if self.rank == 1 else (2, 2)
        self.pool_size = positive_tuple(pool_size, self.rank, "pool_size", cls_name)
        self.strides = self.pool_size if strides is None else \
            positive_tuple(strides, self.rank, "strides", cls_name)
        self.padding = normalize_padding(padding, cls_name)
        self.data_format = normalize_data_format(
            data_format, cls_name, "channels_last" if self.rank == 1 else None)

    def _split(self, input_shape):
        if self.data_format == "channels_last":
            return input_shape[1:-1]
        return input_shape[2:]

    def build(self, input_shape):
        cls_name = type(self).__name__
        if input_shape is None or len(input_shape) != self.rank + 2:
            layout = ("(batch, steps, channels)" if self.rank == 1 else
                      "(batch, rows, cols, channels)") if self.data_format == "channels_last" \
                else ("(batch, channels, steps)" if self.rank == 1 else
                      "(batch, channels, rows, cols)")
            raise ValueError(f"Layer '{self.name}' ({cls_name}) expects {self.rank + 2}-D "
                             f"input {layout}, but received input of shape {input_shape}.")
        self._check_window(input_shape)
        self.built = True

    def _check_window(self, input_shape):
        """Raise when the pool window is longer than a spatial axis of the input under
        padding='valid', which would leave an empty output."""
        if self.padding != "valid":
            return
        spatial = self._split(input_shape)
        for n, p in zip(spatial, self.pool_size):
            if n is not None and p > n:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): the pool size "
                    f"{self.pool_size} is larger than the input's spatial size "
                    f"{tuple(spatial)} with padding='valid' (input shape {input_shape}, "
                    f"data_format='{self.data_format}'). Use padding='same' or a smaller "
                    f"pool_size. Received: input_shape={tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        spatial = self._split(input_shape)
        out = tuple(conv_output_length(n, p, self.padding, s) for n, p, s in
                    zip(spatial, self.pool_size, self.strides))
        if self.data_format == "channels_last":
            return (input_shape[0],) + out + (input_shape[-1],)
        return (input_shape[0], input_shape[1]) + out

    def call(self, inputs, training=False):
        self._check_window(tuple(inputs.shape))
        pool = K.pool1d if self.rank == 1 else K.pool2d
        return pool(inputs, self.pool_size, self.strides, self.padding, self.data_format,
                    pool_mode=self.mode)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"pool_size": self.pool_size, "strides": self.strides,
                    "padding": self.padding, "data_format": self.data_format})
        return cfg


@keras1_arguments(_POOLING2D_KERAS1)
class MaxPooling2D(_Pooling):
    """Max pooling over windows of an image batch.

    Args:
        pool_size: int or (rows, cols), default (2, 2).
        strides: int or (rows, cols); None = pool_size.
        padding: 'valid' or 'same'.
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        Keras 1: ``border_mode``, ``dim_ordering``.

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, pooled_rows, pooled_cols, channels).

    Example:
        >>> model.add(MaxPooling2D(pool_size=(2, 2)))   # (None, 96, 96, 32) -> (None, 48, 48, 32)
    """

    rank = 2
    mode = "max"


@keras1_arguments(_POOLING2D_KERAS1)
class AveragePooling2D(_Pooling):
    """Average pooling over windows of an image batch (same arguments as MaxPooling2D).

    With padding='same', each window is divided by its number of real elements.

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, pooled_rows, pooled_cols, channels).

    Example:
        >>> model.add(AveragePooling2D((2, 2), input_shape=(8, 8, 3)))   # -> (None, 4, 4, 3)
    """

    rank = 2
    mode = "avg"


@keras1_arguments(_POOLING1D_KERAS1)
class MaxPooling1D(_Pooling):
    """Max pooling over windows of steps.

    Args:
        pool_size: int, default 2 (Keras 1: ``pool_length``).
        strides: int; None = pool_size (Keras 1: ``stride``).
        padding: 'valid' or 'same' (Keras 1: ``border_mode``).
        data_format: 'channels_last' (default) or 'channels_first'.

    Input shape: (batch, steps, features). Output: (batch, pooled_steps, features).

    Example:
        >>> model.add(MaxPooling1D(3))   # (None, 60, 64) -> (None, 20, 64)
    """

    rank = 1
    mode = "max"

    def get_config(self):
        cfg = super().get_config()
        cfg["pool_size"] = self.pool_size[0]
        cfg["strides"] = self.strides[0]
        return cfg


class AveragePooling1D(MaxPooling1D):
    """Average pooling over windows of steps (same arguments as MaxPooling1D).

    Input shape: (batch, steps, features). Output: (batch, pooled_steps, features).

    Example:
        >>> model.add(AveragePooling1D(2, input_shape=(10, 3)))   # -> (None, 5, 3)
    """

    mode = "avg"


@keras1_arguments(_GLOBAL_POOLING_KERAS1)
class _GlobalPooling(Layer):
    rank = 2
    mode = "avg"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = normalize_data_format(
            data_format, type(self).__name__, "channels_last" if self.rank == 1 else None)
        self.keepdims = validate_bool(type(self).__name__, "keepdims", keepdims)

    def build(self, input_shape):
        if input_shape is None or len(input_shape) != self.rank + 2:
            layout = "(batch, steps, channels)" if self.rank == 1 else \
                "(batch, rows, cols, channels)"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects {self.rank + 2}-D input "
                f"({layout} for channels_last), but received input of shape {input_shape}.")
        self.built = True

    def compute_output_shape(self, input_shape):
        c = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], c)
        ones = (1,) * self.rank
        return (input_shape[0],) + ones + (c,) if self.data_format == "channels_last" else \
            (input_shape[0], c) + ones

    def call(self, inputs, training=False):
        return K.global_pool(inputs, self.mode, self.data_format, keepdims=self.keepdims)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return cfg


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over the rows and columns of an image batch.

    Args:
        data_format: 'channels_last' or 'channels_first' (None = global setting).
        keepdims: keep the pooled axes with length 1.

    Input shape: (batch, rows, cols, channels) (or channels first).
    Output shape: (batch, channels).

    Example:
        >>> model.add(GlobalAveragePooling2D())   # (None, 7, 7, 64) -> (None, 64)
    """

    rank = 2
    mode = "avg"


class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over the rows and columns of an image batch (arguments as
    GlobalAveragePooling2D).

    Input shape: (batch, rows, cols, channels). Output shape: (batch, channels).

    Example:
        >>> model.add(GlobalMaxPooling2D())   # (None, 7, 7, 64) -> (None, 64)
    """

    rank = 2
    mode = "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps of a sequence batch.

    With a mask from an earlier layer (e.g. Embedding(mask_zero=True) or Masking),
    only the unmasked steps are averaged, as in Keras.

    Args:
        data_format: 'channels_last' (default) or 'channels_first'.
        keepdims: keep the steps axis with length 1.

    Input shape: (batch, steps, features). Output shape: (batch, features).

    Example:
        >>> model.add(GlobalAveragePooling1D())   # (None, 16, 128) -> (None, 128)
    """

    rank = 1
    mode = "avg"
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, training=False, mask=None):
        if mask is None:
            return super().call(inputs, training)
        steps_axis = 1 if self.data_format == "channels_last" else 2
        m = K.expand_dims(K.cast(mask, inputs.dtype), 3 - steps_axis)    # (batch, steps, 1)
        total = K.sum(inputs * m, axis=steps_axis, keepdims=self.keepdims)
        return total / K.sum(m, axis=steps_axis, keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over the steps of a sequence batch (arguments as GlobalAveragePooling1D).

    Input shape: (batch, steps, features). Output shape: (batch, features).

    Example:
        >>> model.add(GlobalMaxPooling1D())   # (None, 16, 128) -> (None, 128)
    """

    rank = 1
    mode = "max"


# Keras 1 / short aliases, as in Keras
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
