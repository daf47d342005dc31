"""ConvLSTM2D: an LSTM whose input and recurrent products are 2-D convolutions
(Shi et al. 2015, "Convolutional LSTM Network"), with Keras 2.2's arguments.

For each step, with the gate blocks i|f|c|o along the channel axis::

    z = conv2d(x_t, kernel, strides, padding, dilation_rate) + bias
        + conv2d(h, recurrent_kernel, padding='same')
    c = rec_act(z_f) * c + rec_act(z_i) * act(z_c)      h = rec_act(z_o) * act(c)

The input convolutions of every step run as one ``K.conv2d`` over the batch and the
time steps together; the steps then run through ``K.rnn`` (which also applies masks
and ``go_backwards``): per step the recurrent convolution, then the gates and the
state update as one fused op (``K.lstm_cell``, the LSTM layer's pointwise kernels;
channels_first runs the gates as separate elementwise ops).
"""
import numpy

from .. import activations as activations_mod
from .. import backend as K
from ..backend.numpy_ops.conv import conv_output_length
from ..legacy import DIM_ORDERING, Keras1Arguments, forget_bias_is_one, keras1_arguments
from .base import validate_positive_int, validate_rate
from .conv_utils import conv_geometry, keras1_kernel_rows_cols
from .noise import random_uniform
from .recurrent_base import (InitialStateLayer, UnitForgetBias, as_array, check_resettable,
                             fused_kind)

__all__ = ["ConvLSTM2D"]


# Keras 1's ConvLSTM2D(nb_filter, nb_row, nb_col, ...) names, as Keras 2.2 converted them
_CONV_LSTM_2D_KERAS1 = Keras1Arguments(
    renames={"nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
             "dim_ordering": "data_format", "init": "kernel_initializer",
             "inner_init": "recurrent_initializer", "W_regularizer": "kernel_regularizer",
             "U_regularizer": "recurrent_regularizer", "b_regularizer": "bias_regularizer",
             "inner_activation": "recurrent_activation", "dropout_W": "dropout",
             "dropout_U": "recurrent_dropout", "bias": "use_bias",
             "forget_bias_init": "unit_forget_bias"},
    values={"dim_ordering": DIM_ORDERING, "forget_bias_init": forget_bias_is_one},
    positional=("filters", "kernel_size"), shown=("input_shape", "batch_input_shape"),
    prepare=keras1_kernel_rows_cols)


@keras1_arguments(_CONV_LSTM_2D_KERAS1)
class ConvLSTM2D(InitialStateLayer):
    """Convolutional LSTM.

    Args:
        filters: positive integer, the number of output channels (and of each state).
        kernel_size: int or (rows, cols), the size of both convolution windows.
        strides: int or (rows, cols) of the input convolution (default 1).
        padding: 'valid' or 'same' for the input convolution (the recurrent one is
            always 'same').
        data_format: 'channels_last' (batch, time, rows, cols, channels) or
            'channels_first' (batch, time, channels, rows, cols); None: the global setting.
        dilation_rate: int or (rows, cols) of the input convolution.
        activation: default 'tanh'.
        recurrent_activation: default 'sigmoid' (as gpuseq's LSTM; pass 'hard_sigmoid'
            for the Keras 2.2 default).
        use_bias: whether the layer has a bias (4 filters,).
        kernel_initializer, recurrent_initializer, bias_initializer: initializers.
        unit_forget_bias: ones on the forget-gate bias at initialization (default True).
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint.
        return_sequences: return every step's output instead of the last one.
        return_state: also return the final states ``[output, h, c]``.
        go_backwards: process the sequence in reverse (outputs in that order).
        stateful: carry the final states of each sample to the next batch.
        dropout: fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: fraction of the state units to drop (one mask per sequence).

    Weights: ``kernel (kernel_rows, kernel_cols, channels, 4 filters)``,
    ``recurrent_kernel (kernel_rows, kernel_cols, filters, 4 filters)``,
    ``bias (4 filters,)``.

    Input shape: ``(batch, time, rows, cols, channels)`` (channels_last).
    Output shape: ``(batch, time, new_rows, new_cols, filters)`` with
    ``return_sequences``, else ``(batch, new_rows, new_cols, filters)``.

    Example:
        >>> model.add(ConvLSTM2D(40, (3, 3), padding='same', return_sequences=True,
        ...                      input_shape=(None, 40, 40, 1)))
    """

    supports_masking = True

    def __init__(self, filters=None, kernel_size=None, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), activation="tanh",
                 recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, dropout=0.0, recurrent_dropout=0.0, **kwargs):
        cls = "ConvLSTM2D"
        self.stateful = bool(stateful)
        super().__init__(**kwargs)
        if filters is None or kernel_size is None:
            raise TypeError("ConvLSTM2D requires `filters` and `kernel_size`, e.g. "
                            "ConvLSTM2D(40, (3, 3), padding='same').")
        self.filters = validate_positive_int(cls, "filters", filters)
        (self.kernel_size, self.strides, self.padding, self.data_format,
         self.dilation_rate) = conv_geometry(cls, 2, kernel_size, strides, padding,
                                             data_format, dilation_rate)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("ConvLSTM2D: strides > 1 are not compatible with "
                             f"dilation_rate > 1. Received: strides={strides!r}, "
                             f"dilation_rate={dilation_rate!r}")
        self.activation = activations_mod.get(activation)
        self.recurrent_activation = activations_mod.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.set_weight_options(locals(), "kernel", "recurrent", "bias")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.dropout = validate_rate(cls, "dropout", dropout)
        self.recurrent_dropout = validate_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.states = None

    # ------------------------------------------------------------------ shapes
    def _channel_axis(self):
        return -1 if self.data_format == "channels_last" else 2

    def _spatial(self, input_shape):
        return input_shape[2:4] if self.data_format == "channels_last" else input_shape[3:5]

    def _state_shape(self, input_shape):
        rows, cols = (conv_output_length(d, k, self.padding, s, r) for d, k, s, r in zip(
            self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate))
        if self.data_format == "channels_last":
            return (input_shape[0], rows, cols, self.filters)
        return (input_shape[0], self.filters, rows, cols)

    def build(self, input_shape):
        cls = "ConvLSTM2D"
        if isinstance(input_shape, list) or len(input_shape) != 5:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expects inputs of shape (batch, time, rows, "
                "cols, channels) (channels_last) or (batch, time, channels, rows, cols), but "
                f"received input of shape {input_shape}. Give the first layer "
                "input_shape=(time, rows, cols, channels).")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"Layer '{self.name}' ({cls}) needs a known number of channels. "
                             f"Received input shape {input_shape}.")
        rows, cols = self._state_shape(input_shape)[1:3] if self.data_format == \
            "channels_last" else self._state_shape(input_shape)[2:4]
        if (rows is not None and rows <= 0) or (cols is not None and cols <= 0):
            raise ValueError(f"Layer '{self.name}' ({cls}): the kernel {self.kernel_size} is "
                             f"larger than the input frames {self._spatial(input_shape)} with "
                             "padding='valid'. Use padding='same' or a smaller kernel.")
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) is stateful, so it needs to know its batch size. "
                "Pass batch_input_shape=(batch_size, time, rows, cols, channels) to the first "
                f"layer. Received input shape {input_shape}.")
        g = 4 * self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (channels, g),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", self.kernel_size + (self.filters, g),
            self.recurrent_initializer, self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        bias_init = UnitForgetBias(self.bias_initializer, self.filters) \
            if self.unit_forget_bias else self.bias_initializer
        self.bias = self.add_weight("bias", (g,), bias_init, self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True
        if self.stateful:
            self._state_shape_fixed = self._state_shape(input_shape)
            self.reset_states()

    def compute_output_shape(self, input_shape):
        state = self._state_shape(input_shape)
        out = (state[0], input_shape[1]) + state[1:] if self.return_sequences else state
        return [out, state, state] if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out, None, None] if self.return_state else out

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Reset the states (h, c) of a stateful layer to zeros or to given arrays."""
        check_resettable(self, ". Create it with stateful=True, or do not call "
                               "reset_states().")
        shape = self._state_shape_fixed
        if states is None:
            self.states = [K.to_device(numpy.zeros(shape, dtype=self.dtype)) for _ in range(2)]
            return
        if not isinstance(states, (list, tuple)) or len(states) != 2:
            raise ValueError(f"Layer '{self.name}' (ConvLSTM2D) expects 2 state arrays (h, c) "
                             f"of shape {shape}. Received: {states!r:.200}")
        arrays = [numpy.asarray(K.to_host(as_array(s)), dtype=self.dtype) for s in states]
        for a in arrays:
            if a.shape != tuple(shape):
                raise ValueError(f"The states of layer '{self.name}' (ConvLSTM2D) have shape "
                                 f"{shape}; the value given has shape {a.shape}.")
        self.states = [K.to_device(a) for a in arrays]

    def _initial_states(self, x, initial_state):
        shape = self._state_shape(tuple(x.shape))
        if initial_state is not None:
            states = [K.convert_to_tensor(s, dtype=self.dtype) for s in initial_state]
            if len(states) != 2 or any(tuple(s.shape) != tuple(shape) for s in states):
                raise ValueError(f"Layer '{self.name}' (ConvLSTM2D) expects initial_state = "
                                 f"[h, c], each of shape {shape}. Received shapes "
                                 f"{[tuple(s.shape) for s in states]}.")
            return states
        if self.stateful:
            if self.states is None:
                self.reset_states()
            if tuple(shape) != tuple(self._state_shape_fixed):
                raise ValueError(
                    f"Layer '{self.name}' (ConvLSTM2D) is stateful with states of shape "
                    f"{self._state_shape_fixed}, but the batch needs {shape}. Feed batches of "
                    f"exactly {self._state_shape_fixed[0]} samples.")
            return [K.convert_to_tensor(s) for s in self.states]
        return [K.zeros(shape, dtype=self.dtype) for _ in range(2)]

    # ------------------------------------------------------------------ forward
    def _input_convolutions(self, x, training):
        """conv2d(x_t, kernel) + bias for every step at once: (n, t, ..., 4 filters)."""
        n, t = x.shape[0], x.shape[1]
        frames = K.reshape(x, (n * t,) + tuple(x.shape[2:]))
        if training and self.dropout > 0:
            keep = K.dropout_mask(random_uniform((n, 1) + tuple(x.shape[2:]), x.dtype),
                                  self.dropout)
            frames = K.reshape(x * keep, (n * t,) + tuple(x.shape[2:]))
        z = K.conv2d(frames, self.kernel, strides=self.strides, padding=self.padding,
                     data_format=self.data_format, dilation_rate=self.dilation_rate,
                     bias=self.bias)
        return K.reshape(z, (n, t) + tuple(z.shape[1:]))

    @property
    def _fused_kinds(self):
        """(activation, recurrent_activation) kinds when the gates run as the fused LSTM
        cell op (channels last, elementwise activations), else None."""
        kinds = [fused_kind(a) for a in (self.activation, self.recurrent_activation)]
        if self.data_format != "channels_last" or None in kinds:
            return None
        return tuple(kinds)

    def _gate(self, z, k):
        """Gate block k (i, f, c, o) of a pre-activation along the channel axis."""
        f = self.filters
        if self.data_format == "channels_last":
            return z[..., k * f:(k + 1) * f]
        return z[:, k * f:(k + 1) * f]

    def _step(self, rmask):
        def step(zx, states):
            h, c = states[0], states[1]
            h_rec = h * rmask if rmask is not None else h
            z = zx + K.conv2d(h_rec, self.recurrent_kernel, padding="same",
                              data_format=self.data_format)
            if self._fused_kinds is not None:       # channels last: one fused op
                h, c = K.lstm_cell(z, c, *self._fused_kinds)
                return h, [h, c]
            i = self.recurrent_activation(self._gate(z, 0))
            f = self.recurrent_activation(self._gate(z, 1))
            c = f * c + i * self.activation(self._gate(z, 2))
            h = self.recurrent_activation(self._gate(z, 3)) * self.activation(c)
            return h, [h, c]
        return step

    def call(self, inputs, training=False, mask=None, initial_state=None):
        x = K.convert_to_tensor(inputs)
        if x.ndim != 5:
            raise ValueError(f"Layer '{self.name}' (ConvLSTM2D) expects 5-D inputs (batch, "
                             f"time, rows, cols, channels). Received: {x.shape}")
        x = K.convert_to_tensor(x, dtype=self.dtype)
        states = self._initial_states(x, initial_state)
        rmask = None
        if training and self.recurrent_dropout > 0:
            rmask = K.dropout_mask(random_uniform(tuple(states[0].shape), x.dtype),
                                   self.recurrent_dropout)
        m = as_array(mask[0] if isinstance(mask, (list, tuple)) else mask)
        last, outputs, new_states = K.rnn(self._step(rmask), self._input_convolutions(
            x, training), states, go_backwards=self.go_backwards, mask=m)
        if self.stateful:
            self.states = [as_array(s).copy() for s in new_states]
        output = outputs if self.return_sequences else last
        return [output] + list(new_states) if self.return_state else output

    # ------------------------------------------------------------------ config
    def get_config(self):
        cfg = super().get_config()
        options = self.weight_options_config("kernel", "recurrent", "bias")
        initializers = {key: options.pop(key) for key in
                        ("kernel_initializer", "recurrent_initializer", "bias_initializer")}
        cfg.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations_mod.serialize(self.activation),
            "recurrent_activation": activations_mod.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            **initializers,
            "unit_forget_bias": self.unit_forget_bias,   # Keras's place for it
            **options,
            "return_sequences": self.return_sequences, "return_state": self.return_state,
            "go_backwards": self.go_backwards, "stateful": self.stateful,
            "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout})
        return cfg
