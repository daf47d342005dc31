"""Backend functions of the built-in layers: the fused heavy ops and a few helpers.

Layers call these through ``gpuseq.backend`` (``K.dense``, ``K.conv2d``, ...), as
Keras 3 layers call ``keras.ops``. Each runs one fused op of the active op package
(``numpy_ops`` or ``cupy_ops``, see :func:`gpuseq.backend.autodiff.fused`), recorded on
the tape as one node with a hand-written backward. Where Keras 2's backend has the
function, the name and leading arguments are Keras 2's (``conv2d``, ``pool2d``,
``batch_normalization``, ``normalize_batch_in_training``, ``moving_average_update``);
gpuseq adds keyword arguments after them (a bias and an activation fused into the
convolution).

``activation`` arguments are the *kind* of an elementwise activation (``'linear'``,
``'relu'``, ``'sigmoid'``, ``'tanh'``, ``'hard_sigmoid'``, ``'elu'``, ``'selu'``,
``'softplus'``, ``'softsign'``, ``'exponential'``), the ``kind`` attribute of
``gpuseq.activations.get(name)``.

Example:
    >>> import gpuseq.backend as K
    >>> y = K.conv2d(x, kernel, strides=(1, 1), padding='same', bias=b, activation='relu')
"""
import numpy

from . import autodiff as ad
from . import dispatch
from . import functions as _f
from .autodiff import Tensor
from .numpy_ops.conv import normalize_tuple

__all__ = ["batch_normalization", "check_embedding_indices", "conv1d", "conv2d", "convert_to_tensor", "crop", "dense",
           "dropout_mask", "embedding_lookup", "global_pool", "moving_average_update",
           "normalize_batch_in_training", "pool1d", "pool2d", "recurrent", "upsample",
           "zero_pad"]


def convert_to_tensor(x, dtype=None, like=None):
    """``x`` as a Tensor: Tensors unchanged, arrays wrapped (no copy on their device).

    Args:
        x: a Tensor, a NumPy/CuPy array or a Python number.
        dtype: optional dtype to cast to (differentiable cast).
        like: optional Tensor: arrays go to its device and numbers take its float dtype.
    """
    t = ad.as_tensor(x, like)
    if dtype is not None and t.dtype != numpy.dtype(dtype):
        t = ad.cast(t, dtype)
    return t


def _constant(x):
    """An array (or Tensor) as a Tensor without gradient, wrapped as it is."""
    return x if x is None or isinstance(x, Tensor) else Tensor(x)


def _data_format(value):
    return _f.image_data_format() if value is None else value


# -- dense and convolutions ----------------------------------------------------------------

def dense(x, kernel, bias=None, activation="linear"):
    """``activation(dot(x, kernel) + bias)`` as one fused op.

    Args:
        x: (..., input_dim). kernel: (input_dim, units). bias: (units,) or None.
        activation: an elementwise activation kind (default 'linear').

    Returns: (..., units).
    """
    y, _ = ad.fused("dense", x, kernel, bias, activation=activation)
    return y


def _input_grad(x):
    """Whether a fused op needs the gradient of ``x`` (not for a model's data input)."""
    return bool(getattr(x, "requires_grad", False))


def conv1d(x, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1, *,
           bias=None, activation="linear"):
    """1-D convolution (cross-correlation, as TensorFlow), with an optional fused bias
    and activation: ``activation(conv1d(x, kernel) + bias)``.

    Args:
        x: (batch, steps, channels) for channels_last, (batch, channels, steps) else.
        kernel: (kernel_size, channels, filters), the Keras layout.
        strides, dilation_rate: int (or a 1-tuple).
        padding: 'valid', 'same' or 'causal'.
        data_format: 'channels_last' or 'channels_first' (None: the global setting).
        bias: (filters,) or None. activation: an elementwise activation kind.

    Returns: (batch, new_steps, filters) (channels_first: (batch, filters, new_steps)).
    """
    y, _ = ad.fused("conv1d", x, kernel, bias, activation=activation,
                    strides=normalize_tuple(strides, 1, "strides")[0], padding=padding,
                    dilation_rate=normalize_tuple(dilation_rate, 1, "dilation_rate")[0],
                    data_format=_data_format(data_format), input_grad=_input_grad(x))
    return y


def conv2d(x, kernel, strides=(1, 1), padding="valid", data_format=None, dilation_rate=(1, 1),
           *, bias=None, activation="linear"):
    """2-D convolution (cross-correlation; 'same' pads as TensorFlow), with an optional
    fused bias and activation: ``activation(conv2d(x, kernel) + bias)``.

    Args:
        x: (batch, rows, cols, channels) for channels_last, (batch, channels, rows, cols)
            for channels_first.
        kernel: (kernel_rows, kernel_cols, channels, filters), the Keras layout.
        strides, dilation_rate: int or (rows, cols).
        padding: 'valid' or 'same'.
        data_format: 'channels_last' or 'channels_first' (None: the global setting).
        bias: (filters,) or None. activation: an elementwise activation kind.

    Returns: (batch, new_rows, new_cols, filters) (or channels first).
    """
    y, _ = ad.fused("conv2d", x, kernel, bias, activation=activation,
                    strides=normalize_tuple(strides, 2, "strides"), padding=padding,
                    dilation_rate=normalize_tuple(dilation_rate, 2, "dilation_rate"),
                    data_format=_data_format(data_format), input_grad=_input_grad(x))
    return y


# -- pooling ---------------------------------------------------------------------------------

def pool1d(x, pool_size, strides=1, padding="valid", data_format=None, pool_mode="max"):
    """Max or average pooling over windows of steps ('same' pads as TensorFlow; padded
    positions never win a max and are not counted by an average).

    Args:
        x: (batch, steps, channels) (or channels first).
        pool_size, strides: int (or a 1-tuple).
        padding: 'valid' or 'same'. pool_mode: 'max' or 'avg'.

    Returns: (batch, pooled_steps, channels) (or channels first).
    """
    y, _ = ad.fused("pool1d", x, pool_size=normalize_tuple(pool_size, 1, "pool_size")[0],
                    strides=normalize_tuple(strides, 1, "strides")[0], padding=padding,
                    data_format=_data_format(data_format), mode=pool_mode)
    return y


def pool2d(x, pool_size, strides=(1, 1), padding="valid", data_format=None, pool_mode="max"):
    """Max or average pooling over windows of an image batch (as Keras 2's ``pool2d``).

    Args:
        x: (batch, rows, cols, channels) (or channels first).
        pool_size, strides: int or (rows, cols).
        padding: 'valid' or 'same'. pool_mode: 'max' or 'avg'.

    Returns: (batch, pooled_rows, pooled_cols, channels) (or channels first).
    """
    y, _ = ad.fused("pool2d", x, pool_size=normalize_tuple(pool_size, 2, "pool_size"),
                    strides=normalize_tuple(strides, 2, "strides"), padding=padding,
                    data_format=_data_format(data_format), mode=pool_mode)
    return y


def global_pool(x, pool_mode="avg", data_format=None, keepdims=False):
    """Mean or maximum over all spatial axes (steps, or rows and columns).

    Args:
        x: (batch, *spatial, channels) (or channels first).
        pool_mode: 'avg' or 'max'.
        keepdims: keep the pooled axes with length 1.

    Returns: (batch, channels); with keepdims (batch, 1, ..., channels) (or channels first).
    """
    data_format = _data_format(data_format)
    y, _ = ad.fused("global_pool", x, data_format=data_format, mode=pool_mode)
    if keepdims:
        ones = (1,) * (x.ndim - 2)
        y = ad.reshape(y, (y.shape[0],) + ones + (y.shape[1],) if data_format ==
                       "channels_last" else (y.shape[0], y.shape[1]) + ones)
    return y


# -- padding, cropping, up-sampling ----------------------------------------------------------

def zero_pad(x, padding, data_format=None):
    """Pad the spatial axes with zeros.

    Args:
        x: (batch, *spatial, channels) (or channels first).
        padding: one (before, after) pair of ints per spatial axis.

    Returns: the padded tensor.
    """
    y, _ = ad.fused("zero_padding", x, padding=tuple(tuple(p) for p in padding),
                    data_format=_data_format(data_format))
    return y


def crop(x, cropping, data_format=None):
    """Remove elements from both ends of the spatial axes.

    Args:
        x: (batch, *spatial, channels) (or channels first).
        cropping: one (before, after) pair of ints per spatial axis.

    Returns: the cropped tensor.
    """
    y, _ = ad.fused("cropping", x, cropping=tuple(tuple(c) for c in cropping),
                    data_format=_data_format(data_format))
    return y


def upsample(x, size, data_format=None):
    """Nearest-neighbour up-sampling: repeat each element ``size[i]`` times along
    spatial axis i.

    Args:
        x: (batch, *spatial, channels) (or channels first).
        size: one positive int per spatial axis.

    Returns: (batch, spatial[0] * size[0], ..., channels) (or channels first).
    """
    y, _ = ad.fused("upsampling", x, size=tuple(size), data_format=_data_format(data_format))
    return y


# -- embeddings ------------------------------------------------------------------------------

def embedding_lookup(embeddings, ids):
    """Rows of ``embeddings`` picked by integer ``ids`` (one fused gather; the gradient
    is scattered into the rows).

    Args:
        embeddings: (input_dim, output_dim).
        ids: (batch, ...) integers (or integral floats).

    Returns: ``ids.shape + (output_dim,)``.
    """
    y, _ = ad.fused("embedding", _constant(ids), embeddings)
    return y


def check_embedding_indices(ids, input_dim):
    """Raise the lookup's clear error when an index of ``ids`` falls outside
    ``[0, input_dim)``; checks without gathering (a CUDA-graph replay calls it before
    launching the captured lookup, which cannot check inside the graph).

    Args:
        ids: (batch, ...) integers (or integral floats), an array or a Tensor.
        input_dim: the number of rows of the embedding matrix.
    """
    data = ids.data if isinstance(ids, ad.Tensor) else ids
    dispatch.ops().embedding_indices_check(data, input_dim)


# -- batch normalisation -------------------------------------------------------------------

def _feature_last(x, axis):
    """``x`` with ``axis`` moved last, and the permutation back (None if it was last)."""
    ndim = x.ndim
    axis = axis % ndim
    if axis == ndim - 1:
        return x, None
    perm = [i for i in range(ndim) if i != axis] + [axis]
    inverse = [0] * ndim
    for i, p in enumerate(perm):
        inverse[p] = i
    return ad.transpose(x, perm), inverse


def _restore(y, inverse):
    return y if inverse is None else ad.transpose(y, inverse)


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` along the feature ``axis``
    (Keras 2's argument order; inference with given statistics).

    Args:
        x: any shape. mean, var: (features,) statistics.
        beta, gamma: (features,) or None (no offset / no scale).
        axis: the feature axis.

    Returns: x's shape.
    """
    xt, inverse = _feature_last(x, axis)
    y, _ = ad.fused("batch_norm", xt, gamma, beta, mean, var, epsilon=epsilon)
    return _restore(y, inverse)


def normalize_batch_in_training(x, gamma, beta, reduction_axes, epsilon=1e-3):
    """Normalise ``x`` with its own mean and (biased) variance over ``reduction_axes``
    (all axes but the feature axis), then scale and shift (Keras 2).

    Args:
        x: any shape. gamma, beta: (features,) or None.
        reduction_axes: every axis except one, the feature axis.

    Returns:
        ``(normed, mean, variance)``: normed has x's shape; the batch statistics are
        (features,) Tensors without gradient (for :func:`moving_average_update`).
    """
    axes = sorted(a % x.ndim for a in reduction_axes)
    features = [a for a in range(x.ndim) if a not in axes]
    if len(features) != 1:
        raise ValueError("normalize_batch_in_training normalises along one feature axis: "
                         "reduction_axes must name every axis of x but one. Received: "
                         f"reduction_axes={reduction_axes!r} for x of shape {x.shape}")
    xt, inverse = _feature_last(x, features[0])
    y, op = ad.fused("batch_norm", xt, gamma, beta, None, None, epsilon=epsilon)
    return _restore(y, inverse), Tensor(op.saved["mean"]), Tensor(op.saved["variance"])


def moving_average_update(x, value, momentum):
    """``x <- momentum * x + (1 - momentum) * value``, in place on the Variable ``x``
    (applied at once, where Keras 2 returned an update op). Returns ``x``."""
    d = x.data
    value = value.data if isinstance(value, Tensor) else value
    xp = dispatch.get_array_module(d)
    d *= momentum
    d += xp.asarray(value, dtype=d.dtype) * (1.0 - momentum)
    return x


# -- recurrent layers --------------------------------------------------------------------------

_CELL_STATES = {"simple_rnn": 1, "gru": 1, "lstm": 2}


def recurrent(cell, x, kernel, recurrent_kernel, bias, initial_states=None, mask=None,
              recurrent_mask=None, return_sequences=False, return_state=False, **options):
    """Run a recurrent cell over a whole sequence as one fused op (backward through time
    by hand).

    Args:
        cell: 'simple_rnn', 'lstm' (states h, c) or 'gru'.
        x: (batch, timesteps, features).
        kernel: (features, gates * units); recurrent_kernel: (units, gates * units);
            bias: the cell's bias or None (Keras layouts and gate orders).
        initial_states: None (zeros) or one (batch, units) Tensor/array per state.
        mask: (batch, timesteps) booleans or None: masked steps keep the previous state.
        recurrent_mask: (batch, units) multiplier of the recurrent state (dropout) or None.
        return_sequences: output every step instead of the last one.
        return_state: also return the final states (differentiable).
        options: the cell's settings: activation, recurrent_activation (activation
            kinds), go_backwards, zero_output_for_mask, reset_after (GRU).

    Returns:
        ``(outputs, final_states)``: outputs is the output Tensor ((batch, timesteps,
        units) or (batch, units)), or ``[output, *states]`` with ``return_state``;
        final_states are the final state arrays without gradient (for stateful layers).
    """
    n_states = _CELL_STATES[cell]
    states = list(initial_states) if initial_states is not None else [None] * n_states
    y, op = ad.fused(cell, x, kernel, recurrent_kernel, bias,
                     *[_constant(s) for s in states], _constant(mask),
                     _constant(recurrent_mask), return_sequences=return_sequences,
                     return_state=return_state, input_grad=_input_grad(x), **options)
    final = [op.saved["h_last"]] + ([op.saved["c_last"]] if n_states == 2 else [])
    if not return_state:
        return y, final
    steps = x.shape[1] if return_sequences else 1
    output = y[:, :steps] if return_sequences else y[:, 0]
    return [output] + [y[:, steps + k] for k in range(n_states)], final


# -- dropout ---------------------------------------------------------------------------------

def dropout_mask(uniform, rate):
    """The inverted-dropout mask of uniform [0, 1) draws: ``1 / (1 - rate)`` where
    ``uniform < 1 - rate``, else 0, in the draws' dtype (a Tensor without gradient).

    Example:
        >>> y = x * K.dropout_mask(u, 0.5)     # u: uniform draws of x's shape
    """
    u = uniform.data if isinstance(uniform, Tensor) else uniform
    keep = 1.0 - rate
    return Tensor((u < keep).astype(u.dtype) * u.dtype.type(1.0 / keep))
