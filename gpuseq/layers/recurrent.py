"""Recurrent layers: SimpleRNN, LSTM and GRU.

With the elementwise activations of the fused ops ('tanh', 'sigmoid', 'hard_sigmoid',
'relu', 'linear', 'elu', 'selu', 'softplus', 'softsign', 'exponential') each layer runs
the whole sequence as ONE fused op (``lstm``, ``gru`` or ``simple_rnn`` in the active op
package: NumPy, or the CUDA kernels of kernels/lstm.cu and kernels/gru.cu), with a
hand-written backward through time. Any other ``activation`` / ``recurrent_activation``
(a callable built from ``gpuseq.backend`` functions, or a registered custom name) runs
the same step maths step by step on the autodiff tape: the layer's cell
(:class:`SimpleRNNCell`, :class:`LSTMCell`, :class:`GRUCell`) over the layer's own
weights, through the step loop of ``RNN``, with every option of the layer.
Weights have Keras's names, shapes and gate order, so weight files and
``get_weights()`` lists are interchangeable with Keras:

=========  ===================  ======================  ==============================
layer      kernel               recurrent_kernel        bias
=========  ===================  ======================  ==============================
SimpleRNN  (features, units)    (units, units)          (units,)
LSTM       (features, 4 units)  (units, 4 units)        (4 units,)      gates i|f|c|o
GRU        (features, 3 units)  (units, 3 units)        (2, 3 units) with reset_after
                                                        (default), else (3 units,)
                                                                        gates z|r|h
=========  ===================  ======================  ==============================

Stateful layers (``stateful=True``) carry their final states to the next batch
(and epoch) until ``reset_states()``; they need a fixed batch size
(``batch_input_shape=(32, timesteps, features)``, or ``batch_size`` with
``input_shape`` on the first layer).
"""
import numpy

from .. import activations as activations_mod
from .. import backend as K
from ..legacy import CONSUME_LESS, Keras1Arguments, forget_bias_is_one, keras1_arguments
from .base import validate_bool, validate_positive_int, validate_rate
from .noise import random_uniform
from .recurrent_base import (InitialStateLayer, UnitForgetBias, add_gate_weights, as_array,
                             check_resettable, check_sequence_input, finish_build, fused_kind,
                             initial_state_tensors, kept_states, sequence_output_mask,
                             sequence_output_shape, state_arrays)
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell, run_cell_steps

# Keras 1 argument names shared by the recurrent layers -> Keras 2 names
_KERAS1_RENAMES = {
    "output_dim": "units",
    "inner_activation": "recurrent_activation",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "U_constraint": "recurrent_constraint",
    "b_constraint": "bias_constraint",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "consume_less": "implementation",
    "forget_bias_init": "unit_forget_bias",
}
_KERAS1_VALUES = {"consume_less": CONSUME_LESS, "forget_bias_init": forget_bias_is_one}

_RECURRENT_KERAS1 = Keras1Arguments(renames=_KERAS1_RENAMES, values=_KERAS1_VALUES,
                                    positional=("units",))

# Keras 1 and 2.2 GRUs are reset_after=False (bias (3u,)): a call written with Keras 1
# names gets that layout, so that its weight files and counts match Keras's.
_GRU_KERAS1 = Keras1Arguments(renames=_KERAS1_RENAMES, values=_KERAS1_VALUES,
                              positional=("units",), implied={"reset_after": False})


def _activation(cls_name, arg, value):
    """An activation and its fused-op kind (None: the layer runs step by step), or a
    clear error for a value that is no activation."""
    try:
        act = activations_mod.get(value)
    except ValueError as e:
        raise ValueError(f"{cls_name} got an invalid `{arg}`: {e}") from None
    return act, fused_kind(act)


class Recurrent(InitialStateLayer):
    """Base class of SimpleRNN, LSTM and GRU (not used directly).

    With elementwise activations the layer runs as one fused op; with any other (a
    callable, or a registered custom name) it runs its cell step by step over the same
    weights (see the module docstring), with the same options.

    Args:
        units: positive integer, dimensionality of the output space.
        activation: activation of the candidate / output (default 'tanh'): a name, a
            registered custom name or a callable on Tensors.
        use_bias: whether the layer uses a bias vector.
        kernel_initializer: for the input kernel (default 'glorot_uniform').
        recurrent_initializer: for the recurrent kernel (default 'orthogonal').
        bias_initializer: default 'zeros'.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer: regularizers (activity: on the output).
        kernel_constraint, recurrent_constraint, bias_constraint: constraints.
        dropout: fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state units to drop
            (one mask per sequence).
        return_sequences: return the whole output sequence instead of the last output.
        return_state: also return the final states (``[output, *states]``).
            In a Sequential model this fits only a last layer; called directly,
            the layer returns the list.
        go_backwards: process the sequence in reverse and return the reversed sequence.
        stateful: the last state of sample i in a batch is the initial state
            of sample i in the next batch.
        unroll: accepted for compatibility; the fused op never builds a graph to unroll
            and the step loop always runs as a Python loop on the tape.
        implementation: accepted for compatibility (0, 1 or 2); the results are the same.
        zero_output_for_mask: with a mask, output zeros (instead of the previous
            output) at masked steps.
        seed: optional integer seed of the dropout masks.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, timesteps, units)`` with ``return_sequences``, else
    ``(batch, units)``; with ``return_state`` a list ``[output, state, ...]``
    whose states have shape ``(batch, units)``.
    """

    supports_masking = True
    _GATES = 1
    _N_STATES = 1
    _OP = None
    _CELL = None     # the cell class with the same step maths (the step-by-step path)

    _graph_hyper = ("dropout", "recurrent_dropout")

    def graph_ineligibility(self, first):
        if self._rng is not None:
            return (f"layer '{self.name}' draws its random numbers from its own seeded "
                    "host generator")
        return super().graph_ineligibility(first)

    def __init__(self, units=None, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, implementation=2,
                 zero_output_for_mask=False, seed=None, **kwargs):
        cls = type(self).__name__
        self.stateful = validate_bool(type(self).__name__, "stateful", stateful)
        super().__init__(**kwargs)
        if units is None:
            raise TypeError(f"{cls} requires `units` (the size of the output and state), "
                            f"e.g. {cls}(32).")
        self.units = validate_positive_int(cls, "units", units)
        self.activation, self._act_kind = _activation(cls, "activation", activation)
        self.use_bias = validate_bool(type(self).__name__, "use_bias", use_bias)
        self.set_weight_options(locals(), "kernel", "recurrent", "bias")
        self.dropout = validate_rate(cls, "dropout", dropout)
        self.recurrent_dropout = validate_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = validate_bool(type(self).__name__, "return_sequences", return_sequences)
        self.return_state = validate_bool(type(self).__name__, "return_state", return_state)
        self.go_backwards = validate_bool(type(self).__name__, "go_backwards", go_backwards)
        self.unroll = validate_bool(type(self).__name__, "unroll", unroll)
        if implementation not in (0, 1, 2):
            raise ValueError(f"Received an invalid value for `implementation` of {cls}: "
                             f"expected 0, 1 or 2. Received: implementation={implementation!r}")
        self.implementation = int(implementation)
        self.zero_output_for_mask = validate_bool(type(self).__name__, "zero_output_for_mask", zero_output_for_mask)
        self.seed = seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None
        self.states = None
        self._steps_cell = None

    # ------------------------------------------------------------------ build
    @property
    def state_size(self):
        return [self.units] * self._N_STATES

    def _bias_shape(self):
        return (self._GATES * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        check_sequence_input(
            self, input_shape, ": the states of sample i of one batch are the initial states "
            "of sample i of the next. Specify the batch size of the inputs: in a Sequential "
            "model pass batch_input_shape=(batch_size, timesteps, features) to the first layer "
            "(or batch_size=... together with input_shape=...).")
        add_gate_weights(self, input_shape[-1])
        finish_build(self, input_shape)

    def compute_output_shape(self, input_shape):
        return sequence_output_shape(self, input_shape, self.units,
                                     [self.units] * self._N_STATES)

    def compute_mask(self, inputs, mask=None):
        return sequence_output_mask(self, mask, self._N_STATES)

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Reset the states of a stateful layer to zeros, or to the given arrays.

        Args:
            states: None (zeros), or a list of arrays of shape (batch, units) — one
                for SimpleRNN/GRU, two (h, c) for LSTM.
        """
        cls = type(self).__name__
        check_resettable(self, ": only recurrent layers built with stateful=True keep states "
                               f"between batches. Create it as {cls}(..., stateful=True), or "
                               "do not call reset_states().")
        n, u = self._batch_size, self.units
        if states is None:
            self.states = [K.to_device(numpy.zeros((n, u), dtype=self.dtype))
                           for _ in range(self._N_STATES)]
            return
        self.states = state_arrays(self, states, [(n, u)] * self._N_STATES,
                                   f" Pass a list of arrays of shape ({n}, {u}).",
                                   " (batch_size, units)")

    # ------------------------------------------------------------------ forward
    def _dropout_mask(self, shape, rate, dtype):
        return K.dropout_mask(random_uniform(shape, dtype, self._rng), rate)

    def _initial_states(self, n, initial_state):
        """Tensors (or None) for the initial states of a batch of n samples."""
        if initial_state is not None:
            return initial_state_tensors(self, initial_state, [(n, self.units)] * self._N_STATES,
                                         f"shape ({n}, {self.units})")
        if self.stateful:
            return kept_states(self, n, " (fit/evaluate/predict with batch_size="
                                        f"{self._batch_size} and a sample count divisible by it)")
        return [None] * self._N_STATES

    def call(self, inputs, training=False, mask=None, initial_state=None):
        x = self._check_inputs(inputs)
        n, t, f = x.shape
        rmask = None
        if training and self.dropout > 0:
            x = x * self._dropout_mask((n, 1, f), self.dropout, x.dtype)
        if training and self.recurrent_dropout > 0:
            rmask = self._dropout_mask((n, self.units), self.recurrent_dropout, x.dtype)
        states = self._initial_states(n, initial_state)
        mask = self._check_mask(mask, (n, t))
        if self.runs_fused:
            outputs, final_states = K.recurrent(
                self._OP, x, *self._op_weights(), states, mask, rmask,
                return_sequences=self.return_sequences, return_state=self.return_state,
                **self._op_attrs())
        else:
            outputs, final_states = self._run_steps(x, states, mask, rmask, training)
        if self.stateful:
            self.states = final_states
        return outputs

    @property
    def runs_fused(self):
        """Whether the layer runs as one fused op (all its activations elementwise kinds
        of the op); else it runs its cell step by step."""
        return None not in [kind for arg, kind in self._op_attrs().items()
                            if arg.endswith("activation")]

    def _cell_settings(self):
        """The arguments of the layer's cell class that set its step maths."""
        return {"activation": self.activation, "use_bias": self.use_bias}

    def _step_cell(self):
        """The layer's cell (one per layer, no weights of its own) holding the layer's
        current weight Variables, so that its step maths runs on them."""
        if self._steps_cell is None:
            self._steps_cell = self._CELL(self.units, name=f"{self.name}_cell",
                                          dtype=self.dtype, **self._cell_settings())
        cell = self._steps_cell
        cell.kernel, cell.recurrent_kernel, cell.bias = self._op_weights()
        cell.built = True
        return cell

    def _run_steps(self, x, states, mask, rmask, training):
        """The sequence step by step (a custom activation): the layer's cell through the
        step loop of ``RNN``, with the layer's recurrent dropout mask and options.
        Returns what ``K.recurrent`` returns: (outputs, final state arrays)."""
        cell = self._step_cell()
        last, seq, final = run_cell_steps(cell, x, states, self.state_size, mask,
                                          self.go_backwards, training,
                                          [(cell, (None, rmask))])
        if self.zero_output_for_mask and mask is not None:
            keep = as_array(mask)[:, ::-1] if self.go_backwards else as_array(mask)
            keep = K.convert_to_tensor(keep.astype(x.dtype))
            seq = seq * K.expand_dims(keep, -1)
            last = last * K.expand_dims(keep[:, -1], -1)
        output = seq if self.return_sequences else last
        arrays = [as_array(s).copy() for s in final]
        return ([output] + list(final) if self.return_state else output), arrays

    def _op_weights(self):
        """The (kernel, recurrent_kernel, bias) the fused op runs with; a subclass that
        stores its weights in another layout (CuDNNLSTM, CuDNNGRU) converts them here."""
        return self.kernel, self.recurrent_kernel, self.bias

    def _check_inputs(self, inputs):
        """The inputs as a Tensor of the layer's dtype (batch, timesteps, features)."""
        x = K.convert_to_tensor(inputs)
        if x.ndim != 3:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"shape (batch, timesteps, features). Received: {x.shape}")
        return K.convert_to_tensor(x, dtype=self.dtype)

    def _check_mask(self, mask, expected):
        m = as_array(mask)
        if isinstance(m, (list, tuple)):
            m = m[0]
        if m is not None and tuple(m.shape) != expected:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) received a "
                             f"mask of shape {tuple(m.shape)}; expected (batch, timesteps)"
                             f" = {expected}.")
        return m

    def _op_attrs(self):
        """The cell's settings for the fused op (see ``gpuseq.backend.recurrent``)."""
        return {"activation": self._act_kind, "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask}

    # ------------------------------------------------------------------ config
    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "units": self.units,
            "activation": activations_mod.serialize(self.activation),
            "use_bias": self.use_bias,
            **self.weight_options_config("kernel", "recurrent", "bias"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "implementation": self.implementation,
            "zero_output_for_mask": self.zero_output_for_mask,
            "seed": self.seed,
        })
        return cfg


@keras1_arguments(_RECURRENT_KERAS1)
class SimpleRNN(Recurrent):
    """Fully connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args: see :class:`Recurrent` (``units``, ``activation='tanh'``, ...). Keras 1
    names (``output_dim``, ``init``, ``inner_init``, ``dropout_W``, ``dropout_U``,
    ``W_regularizer``, ...) are accepted and converted with a warning.

    Weights: ``kernel (features, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences=True``.

    Example:
        >>> model = Sequential([SimpleRNN(16, input_shape=(10, 8)), Dense(1)])
    """

    _GATES = 1
    _N_STATES = 1
    _OP = "simple_rnn"
    _CELL = SimpleRNNCell

    def __init__(self, units=None, activation="tanh", **kwargs):
        for k in ("recurrent_activation", "unit_forget_bias"):
            if k in kwargs:
                raise TypeError(f"SimpleRNN has no `{k}` (it has one activation). Remove it.")
        super().__init__(units, activation=activation, **kwargs)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("implementation", None)   # Keras 2 and 3 SimpleRNN do not take it
        return cfg


@keras1_arguments(_RECURRENT_KERAS1)
class LSTM(Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber 1997), Keras equations.

    For each step, with ``z = x_t @ kernel + h @ recurrent_kernel + bias`` split into
    the gate blocks i|f|c|o::

        i = recurrent_activation(z_i)   f = recurrent_activation(z_f)
        o = recurrent_activation(z_o)   c = f * c + i * activation(z_c)
        h = o * activation(c)

    Args:
        units: positive integer, size of the output and of both states.
        activation: default 'tanh'.
        recurrent_activation: for the gates, default 'sigmoid' (Keras >= 2.3;
            pass 'hard_sigmoid' = clip(0.2 x + 0.5, 0, 1) for the Keras 1/2.0 default).
        unit_forget_bias: add 1 to the forget-gate bias at initialization
            (Jozefowicz et al. 2015). Default True.
        The rest: see :class:`Recurrent`. Keras 1 names (``output_dim``,
        ``inner_activation``, ``init``, ``inner_init``, ``forget_bias_init``,
        ``dropout_W``, ``dropout_U``, ``consume_less``, ``W_regularizer``, ...)
        are accepted and converted with a warning naming the Keras 2 call.

    Weights: ``kernel (features, 4 units)``, ``recurrent_kernel (units, 4 units)``,
    ``bias (4 units,)``. States: ``[h, c]``.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences=True``.

    Example:
        >>> model = Sequential()
        >>> model.add(Embedding(1024, 256))
        >>> model.add(LSTM(128))
        >>> model.add(Dense(1, activation='sigmoid'))
    """

    _GATES = 4
    _N_STATES = 2
    _OP = "lstm"
    _CELL = LSTMCell

    def __init__(self, units=None, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation, self._rec_kind = _activation(
            type(self).__name__, "recurrent_activation", recurrent_activation)
        self.unit_forget_bias = validate_bool(type(self).__name__, "unit_forget_bias", unit_forget_bias)

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def _op_attrs(self):
        attrs = super()._op_attrs()
        attrs["recurrent_activation"] = self._rec_kind
        return attrs

    def _cell_settings(self):
        return {**super()._cell_settings(), "recurrent_activation": self.recurrent_activation}

    def get_config(self):
        cfg = super().get_config()
        cfg["recurrent_activation"] = activations_mod.serialize(self.recurrent_activation)
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


@keras1_arguments(_GRU_KERAS1)
class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras equations, gate blocks z|r|h.

    ``reset_after=True`` (default, as tf.keras 2.x and Keras 3; cuDNN-compatible; a call
    written with Keras 1 argument names defaults to ``False``, as Keras 1/2.2)::

        z = rec_act(x_t W_z + b_z + h U_z + b'_z)    r = rec_act(x_t W_r + b_r + h U_r + b'_r)
        hh = act(x_t W_h + b_h + r * (h U_h + b'_h))  h = z * h + (1 - z) * hh

    with bias shape (2, 3 units) (input bias, recurrent bias). ``reset_after=False``
    (Keras 2 classic) applies r before the recurrent GEMM: ``hh = act(x_t W_h +
    (r * h) U_h + b_h)`` with bias shape (3 units,).

    Args:
        units: positive integer.
        activation: default 'tanh'. recurrent_activation: default 'sigmoid'.
        reset_after: see above.
        The rest: see :class:`Recurrent`; Keras 1 names are converted.

    Weights: ``kernel (features, 3 units)``, ``recurrent_kernel (units, 3 units)``,
    ``bias``. State: ``[h]``.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences=True``.

    Example:
        >>> model.add(GRU(128, return_sequences=True, input_shape=(16, 256)))
        >>> model.add(TimeDistributed(Dense(128)))
    """

    _GATES = 3
    _N_STATES = 1
    _OP = "gru"
    _CELL = GRUCell

    def __init__(self, units=None, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        if "unit_forget_bias" in kwargs:
            raise TypeError("GRU has no `unit_forget_bias` (it has no forget gate). Remove it.")
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation, self._rec_kind = _activation(
            type(self).__name__, "recurrent_activation", recurrent_activation)
        self.reset_after = validate_bool(type(self).__name__, "reset_after", reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _op_attrs(self):
        attrs = super()._op_attrs()
        attrs["recurrent_activation"] = self._rec_kind
        attrs["reset_after"] = self.reset_after
        return attrs

    def _cell_settings(self):
        return {**super()._cell_settings(), "recurrent_activation": self.recurrent_activation,
                "reset_after": self.reset_after}

    def get_config(self):
        cfg = super().get_config()
        cfg["recurrent_activation"] = activations_mod.serialize(self.recurrent_activation)
        cfg["reset_after"] = self.reset_after
        return cfg
