"""Keras backend functions of the locally connected layers: convolutions whose kernel
is different at every output position (unshared weights).

``local_conv1d`` and ``local_conv2d`` take Keras 2.2.4's arguments and kernel layouts
(``(positions, window * channels, filters)``, windows flattened in Keras's order), run
one fused op (the convolution's im2col, then one batched GEMM over the output
positions) and are differentiable on the tape. gpuseq adds an optional fused ``bias``.

Example:
    >>> import gpuseq.backend as K
    >>> x = K.random_normal((2, 10, 4))                  # (batch, steps, channels)
    >>> kernel = K.random_normal((8, 3 * 4, 5))          # 8 = 10 - 3 + 1 positions
    >>> K.int_shape(K.local_conv1d(x, kernel, (3,), (1,)))
    (2, 8, 5)
"""
from . import autodiff as ad
from .functions import image_data_format
from .numpy_ops.conv import normalize_tuple


def _format(data_format):
    fmt = image_data_format() if data_format is None else data_format
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError("Unknown data_format. Expected 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format!r}")
    return fmt


def _local_conv(x, kernel, bias, kernel_size, strides, data_format, rank):
    x = ad.as_tensor(x)
    if x.ndim != rank + 2:
        raise ValueError(f"K.local_conv{rank}d expects a {rank + 2}-D input. "
                         f"Received: inputs.shape={tuple(x.shape)}")
    return ad.fused("local_conv", x, kernel, bias,
                    kernel_size=normalize_tuple(kernel_size, rank, "kernel_size"),
                    strides=normalize_tuple(strides, rank, "strides"),
                    data_format=data_format, input_grad=bool(x.requires_grad))[0]


def local_conv1d(inputs, kernel, kernel_size, strides, data_format=None, bias=None):
    """1-D convolution with unshared weights: output step t is
    ``window_t(inputs) @ kernel[t] (+ bias[t])``.

    Args:
        inputs: (batch, steps, channels).
        kernel: (output_length, kernel_size * channels, filters); each window is
            flattened step by step, channels fastest (Keras 2's layout).
        kernel_size, strides: int or 1-tuple. Padding is 'valid'.
        data_format: 'channels_last' (or None); the 1-D op reads channels last, as
            Keras 2.2.4's ``local_conv1d`` does.
        bias: optional (output_length, filters), fused.

    Returns:
        (batch, output_length, filters).
    """
    if data_format not in (None, "channels_last"):
        raise ValueError("K.local_conv1d supports data_format='channels_last' only. "
                         f"Received: data_format={data_format!r}")
    return _local_conv(inputs, kernel, bias, kernel_size, strides, "channels_last", 1)


def local_conv2d(inputs, kernel, kernel_size, strides, output_shape=None, data_format=None,
                 bias=None):
    """2-D convolution with unshared weights: output pixel (i, j) is
    ``window_ij(inputs) @ kernel[i * output_cols + j] (+ bias[i, j])``.

    Args:
        inputs: (batch, rows, cols, channels) or (batch, channels, rows, cols).
        kernel: (output_rows * output_cols, kh * kw * channels, filters); a window is
            flattened (row, col, channel) for channels_last and (channel, row, col) for
            channels_first, as in Keras 2.
        kernel_size, strides: int or pair. Padding is 'valid'.
        output_shape: (output_rows, output_cols), as Keras passes it; checked against
            the sizes the window and strides give (None: not checked).
        data_format: 'channels_last' | 'channels_first' | None (the global setting).
        bias: optional (output_rows, output_cols, filters), fused.

    Returns:
        (batch, output_rows, output_cols, filters) or (batch, filters, output_rows,
        output_cols).
    """
    fmt = _format(data_format)
    y = _local_conv(inputs, kernel, bias, kernel_size, strides, fmt, 2)
    if output_shape is not None:
        got = tuple(y.shape[1:3]) if fmt == "channels_last" else tuple(y.shape[2:4])
        if tuple(output_shape) != got:
            raise ValueError(f"K.local_conv2d: output_shape={tuple(output_shape)} does not "
                             f"match the {got} positions the window and strides give.")
    return y
