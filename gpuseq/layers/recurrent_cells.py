"""The generic ``RNN`` layer and its cells (Keras 2.2's API).

``RNN(cell)`` runs a cell over the time axis. A cell is an object with
``state_size`` (an int, or one int per state) and ``call(inputs, states)`` returning
``(output, new_states)``; a cell that is a :class:`Layer` creates its weights in
``build((batch, features))``.

* The built-in cells (:class:`SimpleRNNCell`, :class:`LSTMCell`, :class:`GRUCell`,
  and :class:`StackedRNNCells` of them) run as the same fused time-loop ops as the
  SimpleRNN / LSTM / GRU layers (``K.recurrent``), with the same numbers.
* Any other cell (a user's, built from ``gpuseq.backend`` functions) runs step by step
  through ``K.rnn`` on the autodiff tape, which derives its gradients.

Weights are the cell's, named ``<rnn name>/kernel:0``, ... in Keras's order (the
cells of a stack one after another, repeated names suffixed ``_1``, ``_2``), so
HDF5 weight files exchange with Keras 2. The states of a :class:`StackedRNNCells`
are one flat list in reverse cell order (``[h2, c2, h1, c1]`` for two LSTM cells),
as in Keras 2.2.
"""
import inspect

import numpy

from .. import activations as activations_mod
from .. import backend as K
from .base import Layer, validate_positive_int, validate_rate
from .noise import random_uniform
from .recurrent_base import (InitialStateLayer, UnitForgetBias, add_gate_weights, as_array,
                             check_resettable, check_sequence_input, finish_build, fused_kind,
                             initial_state_tensors, kept_states, sequence_output_mask,
                             sequence_output_shape, state_arrays)
from .serialization import deserialize_layer

__all__ = ["GRUCell", "LSTMCell", "RNN", "SimpleRNNCell", "StackedRNNCells"]


def _state_sizes(cell):
    """A cell's state sizes as a list of ints."""
    size = cell.state_size
    sizes = list(size) if isinstance(size, (list, tuple)) else [size]
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, numpy.integer)):
            raise ValueError(
                f"RNN supports cells whose states are vectors: `state_size` must be an int "
                f"or a list of ints. Received: state_size={size!r} from cell "
                f"{type(cell).__name__}.")
    return [int(s) for s in sizes]


def _dropout_mask(shape, rate, dtype):
    return K.dropout_mask(random_uniform(shape, dtype), rate)


# ---------------------------------------------------------------------------- cells
class _FusedCell(Layer):
    """The built-in cells: weights and settings of one fused recurrent op, and the
    same step written with backend functions for standalone use.

    Args:
        units: positive integer, size of the output and of each state.
        activation: default 'tanh'.
        use_bias: whether the cell has a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers
            (defaults 'glorot_uniform', 'orthogonal', 'zeros').
        kernel_regularizer, recurrent_regularizer, bias_regularizer: regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: constraints.
        dropout: fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: fraction of the recurrent state units to drop.
    """

    _GATES = 1
    _N_STATES = 1
    _OP = None

    def __init__(self, units=None, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, **kwargs):
        cls = type(self).__name__
        super().__init__(**kwargs)
        if units is None:
            raise TypeError(f"{cls} requires `units` (the size of the output and state), "
                            f"e.g. {cls}(32).")
        self.units = validate_positive_int(cls, "units", units)
        self.activation = activations_mod.get(activation)
        self.use_bias = bool(use_bias)
        arguments = locals()
        for w in ("kernel", "recurrent", "bias"):
            self.set_weight_options(arguments, w)
        self.dropout = validate_rate(cls, "dropout", dropout)
        self.recurrent_dropout = validate_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.sequence_masks = None   # (input mask, recurrent mask) set by RNN for a sequence

    @property
    def state_size(self):
        return self.units if self._N_STATES == 1 else (self.units,) * self._N_STATES

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self._GATES * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        """Create kernel (features, gates*units), recurrent_kernel (units, gates*units)
        and bias for step inputs of shape (batch, features)."""
        cls = type(self).__name__
        if isinstance(input_shape, list) or len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(f"Cell '{self.name}' ({cls}) is built for step inputs of shape "
                             f"(batch, features) with known features. Received: "
                             f"{input_shape}. Wrap the cell in RNN(cell) to run it over "
                             "(batch, timesteps, features) sequences.")
        add_gate_weights(self, input_shape[-1])
        self.built = True

    # -- the fused op ---------------------------------------------------------------
    def fused_attrs(self):
        """The settings of the fused op (``K.recurrent``), or None when an activation
        is not elementwise (the cell then runs step by step)."""
        kind = fused_kind(self.activation)
        return None if kind is None else {"activation": kind}

    def make_sequence_masks(self, n, features, dtype, training):
        """One dropout mask of the inputs (n, features) and of the state (n, units)
        for a whole sequence (None where no dropout applies)."""
        if not training:
            return None, None
        dmask = _dropout_mask((n, features), self.dropout, dtype) if self.dropout else None
        rmask = _dropout_mask((n, self.units), self.recurrent_dropout, dtype) \
            if self.recurrent_dropout else None
        return dmask, rmask

    # -- one step with backend functions -------------------------------------------
    def _step_inputs(self, inputs, states, training):
        """The step's inputs and first state with the dropout masks applied."""
        x = K.convert_to_tensor(inputs)
        h = states[0]
        dmask, rmask = self.sequence_masks or self.make_sequence_masks(
            x.shape[0], x.shape[-1], x.dtype, training)
        if dmask is not None:
            x = x * dmask
        h_rec = h * rmask if rmask is not None else h
        return x, h, h_rec

    def _input_part(self, x):
        return K.dense(x, self.kernel, self.bias if self.use_bias else None)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("batch_input_shape", None)
        cfg.update({"units": self.units,
                    "activation": activations_mod.serialize(self.activation),
                    "use_bias": self.use_bias})
        options = self.weight_options_config("kernel", "recurrent", "bias")
        options.pop("activity_regularizer")
        cfg.update(options)
        cfg.update({"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout})
        return cfg


class SimpleRNNCell(_FusedCell):
    """The cell of SimpleRNN: ``h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)``.

    Args: see the Keras 2 arguments of :class:`_FusedCell` (``units``, ``activation``,
    ``use_bias``, initializers, regularizers, constraints, ``dropout``,
    ``recurrent_dropout``).

    Weights: ``kernel (features, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``. State: ``[h]``.

    Example:
        >>> model.add(RNN(SimpleRNNCell(32), input_shape=(10, 8)))
    """

    _OP = "simple_rnn"

    def call(self, inputs, states, training=False):
        x, _, h_rec = self._step_inputs(inputs, states, training)
        h = self.activation(self._input_part(x) + K.dot(h_rec, self.recurrent_kernel))
        return h, [h]


class LSTMCell(_FusedCell):
    """The cell of LSTM (gate blocks i|f|c|o)::

        z = x @ kernel + bias + h @ recurrent_kernel
        c = rec_act(z_f) * c + rec_act(z_i) * act(z_c)     h = rec_act(z_o) * act(c)

    Args:
        units: positive integer.
        activation: default 'tanh'. recurrent_activation: default 'sigmoid'
            (pass 'hard_sigmoid' for the Keras 2.2 default).
        unit_forget_bias: ones on the forget-gate bias at initialization (default True).
        implementation: accepted for compatibility (1 or 2; the same results).
        The rest: as :class:`SimpleRNNCell`.

    Weights: ``kernel (features, 4 units)``, ``recurrent_kernel (units, 4 units)``,
    ``bias (4 units,)``. States: ``[h, c]``.

    Example:
        >>> model.add(RNN(LSTMCell(32), input_shape=(10, 8)))
    """

    _GATES = 4
    _N_STATES = 2
    _OP = "lstm"

    def __init__(self, units=None, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, implementation=1, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_mod.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)
        if implementation not in (1, 2):
            raise ValueError("Received an invalid value for `implementation` of LSTMCell: "
                             f"expected 1 or 2. Received: implementation={implementation!r}")
        self.implementation = int(implementation)

    def _bias_initializer(self):
        if self.unit_forget_bias:
            return UnitForgetBias(self.bias_initializer, self.units)
        return self.bias_initializer

    def fused_attrs(self):
        attrs = super().fused_attrs()
        rec = fused_kind(self.recurrent_activation)
        return None if attrs is None or rec is None else {**attrs, "recurrent_activation": rec}

    def call(self, inputs, states, training=False):
        x, _, h_rec = self._step_inputs(inputs, states, training)
        u, c = self.units, states[1]
        z = self._input_part(x) + K.dot(h_rec, self.recurrent_kernel)
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        c = f * c + i * self.activation(z[:, 2 * u:3 * u])
        h = self.recurrent_activation(z[:, 3 * u:]) * self.activation(c)
        return h, [h, c]

    def get_config(self):
        cfg = super().get_config()
        cfg["recurrent_activation"] = activations_mod.serialize(self.recurrent_activation)
        cfg["unit_forget_bias"] = self.unit_forget_bias
        cfg["implementation"] = self.implementation
        return cfg


class GRUCell(_FusedCell):
    """The cell of GRU (gate blocks z|r|h).

    ``reset_after=True`` (default, as gpuseq's GRU, tf.keras 2 and Keras 3) applies the
    reset gate after the recurrent product and has a bias of shape (2, 3 units)
    (input bias, recurrent bias); ``reset_after=False`` (the Keras 2.2 default) applies
    it before, with a bias of shape (3 units,)::

        z = rec_act(x W_z + h U_z + b_z)    r = rec_act(x W_r + h U_r + b_r)
        hh = act(x W_h + r * (h U_h + b'_h) + b_h)   (reset_after)
        hh = act(x W_h + (r * h) U_h + b_h)          (not reset_after)
        h = z * h + (1 - z) * hh

    Args:
        units: positive integer.
        activation: default 'tanh'. recurrent_activation: default 'sigmoid'.
        reset_after: see above.
        implementation: accepted for compatibility (1 or 2).
        The rest: as :class:`SimpleRNNCell`.

    Weights: ``kernel (features, 3 units)``, ``recurrent_kernel (units, 3 units)``,
    ``bias``. State: ``[h]``.

    Example:
        >>> model.add(RNN(GRUCell(32, reset_after=False), input_shape=(10, 8)))
    """

    _GATES = 3
    _OP = "gru"

    def __init__(self, units=None, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, implementation=1, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_mod.get(recurrent_activation)
        self.reset_after = bool(reset_after)
        if implementation not in (1, 2):
            raise ValueError("Received an invalid value for `implementation` of GRUCell: "
                             f"expected 1 or 2. Received: implementation={implementation!r}")
        self.implementation = int(implementation)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def fused_attrs(self):
        attrs = super().fused_attrs()
        rec = fused_kind(self.recurrent_activation)
        if attrs is None or rec is None:
            return None
        return {**attrs, "recurrent_activation": rec, "reset_after": self.reset_after}

    def call(self, inputs, states, training=False):
        x, h, h_rec = self._step_inputs(inputs, states, training)
        u = self.units
        if self.reset_after:
            b_in, b_rec = (self.bias[0], self.bias[1]) if self.use_bias else (None, None)
            xz = K.dense(x, self.kernel, b_in)
            hz = K.dense(h_rec, self.recurrent_kernel, b_rec)
            z = self.recurrent_activation(xz[:, :u] + hz[:, :u])
            r = self.recurrent_activation(xz[:, u:2 * u] + hz[:, u:2 * u])
            hh = self.activation(xz[:, 2 * u:] + r * hz[:, 2 * u:])
        else:
            xz = self._input_part(x)
            hz = K.dot(h_rec, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(xz[:, :u] + hz[:, :u])
            r = self.recurrent_activation(xz[:, u:2 * u] + hz[:, u:])
            hh = self.activation(xz[:, 2 * u:] + K.dot(r * h_rec,
                                                       self.recurrent_kernel[:, 2 * u:]))
        h = z * h + (1.0 - z) * hh
        return h, [h]

    def get_config(self):
        cfg = super().get_config()
        cfg["recurrent_activation"] = activations_mod.serialize(self.recurrent_activation)
        cfg["implementation"] = self.implementation
        cfg["reset_after"] = self.reset_after
        return cfg


def serialize_cell(cell):
    """``{'class_name', 'config'}`` of a cell; built-in cells also name their Keras module
    (Keras 3 needs it to find the class when it reads the config)."""
    entry = {"class_name": type(cell).__name__, "config": cell.get_config()}
    if type(cell) in (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells):
        entry = {"module": "keras.layers", **entry, "registered_name": None}
    return entry


def _check_cell(cell, who):
    if not callable(getattr(cell, "call", None)) or not hasattr(cell, "state_size"):
        raise ValueError(
            f"{who} needs cells with a `call(inputs, states)` method and a `state_size` "
            f"attribute (e.g. LSTMCell(32)). Received: cell={cell!r}")


def _call_cell(cell, inputs, states, training):
    """``cell.call(inputs, states)``, passing ``training`` where the cell takes it."""
    try:
        takes_training = "training" in inspect.signature(cell.call).parameters
    except (TypeError, ValueError):
        takes_training = False
    if takes_training:
        return cell.call(inputs, states, training=training)
    return cell.call(inputs, states)


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else _state_sizes(cell)[0]


def run_cell_steps(cell, x, states, state_sizes, mask=None, go_backwards=False,
                   training=False, sequence_masks=()):
    """Run ``cell`` over the time axis of ``x`` step by step on the autodiff tape
    (``K.rnn``), which derives the gradients of any step maths.

    Args:
        cell: a cell (``call(inputs, states)`` and ``state_size``).
        x: (batch, timesteps, features) Tensor.
        states: one initial state per entry of ``state_sizes``: a Tensor, an array, or
            None for zeros of shape (batch, size).
        state_sizes: the sizes of the states (a list of ints).
        mask: None or (batch, timesteps) booleans: a masked step keeps the states and
            repeats the previous output.
        go_backwards: process the steps from the last to the first.
        training: passed to the cell's ``call`` where it takes it.
        sequence_masks: ``(built-in cell, (input mask, recurrent mask))`` pairs: the
            dropout masks those cells apply at every step of this sequence (cleared
            afterwards).

    Returns:
        ``(last_output, outputs, final_states)`` as ``K.rnn`` returns them (outputs in
        processing order).
    """
    n = x.shape[0]
    states = [K.zeros((n, s), dtype=x.dtype) if st is None else
              K.convert_to_tensor(st, dtype=x.dtype) for st, s in zip(states, state_sizes)]
    for c, masks in sequence_masks:
        c.sequence_masks = masks
    try:
        return K.rnn(lambda xt, st: _call_cell(cell, xt, st, training), x, states,
                     go_backwards=go_backwards, mask=mask)
    finally:
        for c, _ in sequence_masks:
            c.sequence_masks = None


class StackedRNNCells(Layer):
    """Cells stacked into one cell: the output of each is the input of the next.

    Args:
        cells: list of cells (built-in or user-written).

    States: one flat list in reverse cell order (Keras 2.2): for two LSTM cells
    ``[h2, c2, h1, c1]``. Weights: the cells' weights, cell after cell.

    Example:
        >>> model.add(RNN(StackedRNNCells([LSTMCell(32), LSTMCell(16)]),
        ...               input_shape=(10, 8)))
    """

    def __init__(self, cells=None, **kwargs):
        super().__init__(**kwargs)
        if not cells or not isinstance(cells, (list, tuple)):
            raise ValueError("StackedRNNCells needs a non-empty list of cells. Received: "
                             f"cells={cells!r}")
        for cell in cells:
            _check_cell(cell, "StackedRNNCells")
        self.cells = list(cells)

    @property
    def state_size(self):
        sizes = []
        for cell in self.cells[::-1]:
            sizes += _state_sizes(cell)
        return tuple(sizes)

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def split_states(self, states):
        """A flat state list -> one list per cell, in stack order."""
        nested, states = [], list(states)
        for cell in self.cells[::-1]:
            k = len(_state_sizes(cell))
            nested.append(states[:k])
            states = states[k:]
        return nested[::-1]

    def join_states(self, nested):
        """One state list per cell (stack order) -> the flat list (reverse cell order)."""
        flat = []
        for states in nested[::-1]:
            flat += list(states)
        return flat

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell.build(shape)
                cell.built = True
            shape = (shape[0], _output_size(cell))
        self.built = True

    @property
    def weights(self):
        return [w for cell in self.cells for w in getattr(cell, "weights", [])]

    @property
    def trainable_weights(self):
        return [w for cell in self.cells for w in getattr(cell, "trainable_weights", [])]

    @property
    def non_trainable_weights(self):
        return [w for cell in self.cells for w in getattr(cell, "non_trainable_weights", [])]

    def call(self, inputs, states, training=False):
        x, new = inputs, []
        for cell, cell_states in zip(self.cells, self.split_states(states)):
            x, out_states = _call_cell(cell, x, cell_states, training)
            new.append(list(out_states))
        return x, self.join_states(new)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("batch_input_shape", None)
        cfg["cells"] = [serialize_cell(c) for c in self.cells]
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        cfg = dict(config)
        cfg["cells"] = [c if not isinstance(c, dict) else
                        deserialize_layer(c, custom_objects=custom_objects)
                        for c in cfg.get("cells") or []]
        return cls(**cfg)


_FUSED_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)


def _leaf_cells(cell):
    return list(cell.cells) if isinstance(cell, StackedRNNCells) else [cell]


def _runs_fused(cell):
    """Whether a cell is a built-in cell with its own step maths and elementwise
    activations (so that it runs as a fused op)."""
    for base in _FUSED_CELLS:
        if isinstance(cell, base):
            return type(cell).call is base.call and cell.fused_attrs() is not None
    return False


def _fusable(cell):
    """Whether a whole sequence of ``cell`` runs as fused ops."""
    return all(_runs_fused(c) for c in _leaf_cells(cell))


class RNN(InitialStateLayer):
    """Base class for recurrent layers: runs a cell over the time axis (Keras 2.2).

    Args:
        cell: a cell (``state_size`` and ``call(inputs, states)``), e.g.
            ``LSTMCell(32)``, or a list of cells (stacked with StackedRNNCells).
        return_sequences: return the whole output sequence instead of the last output.
        return_state: also return the final states (``[output, *states]``).
        go_backwards: process the sequence in reverse and return the reversed sequence.
        stateful: the last states of sample i of a batch are the initial states of
            sample i of the next batch (needs a fixed batch size).
        unroll: accepted for compatibility (built-in cells run as fused ops; other
            cells always run as a Python loop on the tape).

    Call arguments: ``inputs``, ``mask`` (batch, timesteps) booleans, ``training``,
    ``initial_state`` (a list of (batch, size) tensors, one per state).

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, output_size)``, or ``(batch, timesteps, output_size)``
    with ``return_sequences``; with ``return_state`` a list ``[output, *states]``,
    states of shape ``(batch, size)``.

    Example:
        >>> class MinimalRNNCell(Layer):
        ...     def __init__(self, units, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.units = self.state_size = units
        ...     def build(self, input_shape):
        ...         self.kernel = self.add_weight('kernel', (input_shape[-1], self.units))
        ...         self.recurrent_kernel = self.add_weight(
        ...             'recurrent_kernel', (self.units, self.units), 'orthogonal')
        ...     def call(self, inputs, states):
        ...         h = K.dot(inputs, self.kernel) + K.dot(states[0], self.recurrent_kernel)
        ...         return h, [h]
        >>> model.add(RNN(MinimalRNNCell(32), input_shape=(10, 8)))
    """

    supports_masking = True

    def __init__(self, cell=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        _check_cell(cell, "RNN")
        _state_sizes(cell)
        self.stateful = bool(stateful)
        dtype_given = kwargs.get("dtype") is not None
        super().__init__(**kwargs)
        self.cell = cell
        self._share_dtype(dtype_given)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.states = None

    def _share_dtype(self, dtype_given):
        """An RNN given a dtype builds its cells in it; else it computes in its cell's."""
        cells = [c for c in _leaf_cells(self.cell) + [self.cell] if isinstance(c, Layer)]
        if dtype_given:
            for c in cells:
                if not c.built:
                    c.dtype = self.dtype
        elif isinstance(self.cell, Layer) and isinstance(self.cell, _FusedCell):
            self.dtype = self.cell.dtype
        elif isinstance(self.cell, StackedRNNCells):
            self.dtype = _leaf_cells(self.cell)[0].dtype \
                if isinstance(_leaf_cells(self.cell)[0], Layer) else self.dtype

    def _sublayers(self):
        """The cell and the cells of a stack that are layers."""
        cells = [self.cell] + (list(self.cell.cells)
                               if isinstance(self.cell, StackedRNNCells) else [])
        return [c for c in cells if isinstance(c, Layer)]

    # ------------------------------------------------------------------ build
    @property
    def state_sizes(self):
        """The sizes of the states, as a flat list (the order of ``initial_state``)."""
        return _state_sizes(self.cell)

    @property
    def output_size(self):
        return _output_size(self.cell)

    def build(self, input_shape):
        check_sequence_input(self, input_shape, ". Pass batch_input_shape=(batch_size, "
                                                "timesteps, features) to the first layer (or "
                                                "batch_size=... with input_shape=...).")
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell.build((input_shape[0], input_shape[-1]))
            self.cell.built = True
        self._adopt_cell_weights()
        finish_build(self, input_shape)

    def _adopt_cell_weights(self):
        """The cell's weights become this layer's, named as Keras names them."""
        trainable = list(getattr(self.cell, "trainable_weights", []))
        if not getattr(self.cell, "trainable", True):
            trainable = []
        others = [w for w in getattr(self.cell, "weights", []) if w not in trainable]
        seen = {}
        for w in trainable + others:
            short = str(w.name).split("/")[-1].split(":")[0]
            k = seen.get(short, 0)
            seen[short] = k + 1
            w.name = f"{self.name}/{short}{'_%d' % k if k else ''}:0"
        self._trainable_weights = trainable
        self._non_trainable_weights = others

    def compute_output_shape(self, input_shape):
        return sequence_output_shape(self, input_shape, self.output_size, self.state_sizes)

    def compute_mask(self, inputs, mask=None):
        return sequence_output_mask(self, mask, len(self.state_sizes))

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Reset the states of a stateful layer to zeros, or to the given arrays (a list
        with one (batch_size, size) array per state)."""
        cls = type(self).__name__
        check_resettable(self, f". Create it as {cls}(cell, stateful=True), or do not call "
                               "reset_states().")
        n, sizes = self._batch_size, self.state_sizes
        if states is None:
            self.states = [K.to_device(numpy.zeros((n, s), dtype=self.dtype)) for s in sizes]
            return
        self.states = state_arrays(self, states, [(n, s) for s in sizes])

    def _initial_states(self, n, initial_state):
        """The states before the first step: Tensors, arrays, or None (zeros)."""
        sizes = self.state_sizes
        if initial_state is not None:
            shapes = [(n, z) for z in sizes]
            return initial_state_tensors(self, initial_state, shapes, f"shapes {shapes}",
                                         dtype=self.dtype)
        if self.stateful:
            return kept_states(self, n)
        return [None] * len(sizes)

    # ------------------------------------------------------------------ forward

    def call(self, inputs, training=False, mask=None, initial_state=None):
        x = K.convert_to_tensor(inputs)
        if x.ndim != 3:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects inputs of "
                             f"shape (batch, timesteps, features). Received: {x.shape}")
        x = K.convert_to_tensor(x, dtype=self.dtype)
        n, t = x.shape[0], x.shape[1]
        mask = self._check_mask(mask, (n, t))
        states = self._initial_states(n, initial_state)
        run = self._run_fused if _fusable(self.cell) else self._run_steps
        output, new_states = run(x, states, mask, training)
        if self.stateful:
            self.states = [as_array(s).copy() for s in new_states]
        if self.return_state:
            return [output] + list(new_states)
        return output

    def _check_mask(self, mask, expected):
        m = as_array(mask)
        if isinstance(m, (list, tuple)):
            m = as_array(m[0])
        if m is not None and tuple(m.shape) != expected:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) received a mask of "
                             f"shape {tuple(m.shape)}; expected (batch, timesteps) = "
                             f"{expected}.")
        return m

    def _run_fused(self, x, states, mask, training):
        """Built-in cells: one fused op per cell (the cells of a stack one after the
        other over the whole sequence, which equals interleaving them step by step)."""
        cells = _leaf_cells(self.cell)
        nested = self.cell.split_states(states) if isinstance(self.cell, StackedRNNCells) \
            else [states]
        seq, backwards, finals = x, self.go_backwards, []
        for k, cell in enumerate(cells):
            last = k == len(cells) - 1
            dmask, rmask = cell.make_sequence_masks(seq.shape[0], seq.shape[-1], seq.dtype,
                                                    training)
            xin = seq * K.expand_dims(dmask, 1) if dmask is not None else seq
            outs, _ = K.recurrent(
                cell._OP, xin, cell.kernel, cell.recurrent_kernel, cell.bias, nested[k],
                mask, rmask, return_sequences=self.return_sequences or not last,
                return_state=True, go_backwards=backwards, **cell.fused_attrs())
            seq = outs[0]
            finals.append(outs[1:])
            if backwards and mask is not None:
                mask = mask[:, ::-1].copy()
            backwards = False
        if isinstance(self.cell, StackedRNNCells):
            return seq, self.cell.join_states(finals)
        return seq, finals[0]

    def _run_steps(self, x, states, mask, training):
        """Any cell: step by step on the tape (``K.rnn``)."""
        n, features, masks = x.shape[0], x.shape[-1], []
        for c in _leaf_cells(self.cell):    # one dropout mask per sequence, as the fused op
            if isinstance(c, _FusedCell):
                masks.append((c, c.make_sequence_masks(n, features, x.dtype, training)))
            features = _output_size(c)
        last, outputs, new_states = run_cell_steps(
            self.cell, x, states, self.state_sizes, mask, self.go_backwards, training, masks)
        return (outputs if self.return_sequences else last), new_states

    # ------------------------------------------------------------------ config
    def get_config(self):
        cfg = super().get_config()
        cfg.update({"return_sequences": self.return_sequences,
                    "return_state": self.return_state,
                    "go_backwards": self.go_backwards,
                    "stateful": self.stateful,
                    "unroll": self.unroll,
                    "cell": serialize_cell(self.cell)})
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        cfg = dict(config)
        cell = cfg.pop("cell", None)
        if isinstance(cell, dict):
            cell = deserialize_layer(cell, custom_objects=custom_objects)
        return cls(cell, **cfg)
