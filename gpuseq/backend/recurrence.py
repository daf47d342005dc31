"""``rnn``: iterate a step function over the time axis on the autodiff tape (Keras 2's
``K.rnn``); ``lstm_cell``: the LSTM gates and state update of one step as one fused op.

The built-in recurrent layers run a whole sequence as one fused op
(:func:`gpuseq.backend.nn.recurrent`); this loop serves cells written by users
(any step built from backend functions), whose gradients the tape derives step by
step.
"""
from . import autodiff as ad
from . import functions as _f
from .autodiff import Tensor

__all__ = ["lstm_cell", "rnn"]


def _step_keep(mask, t):
    """The (batch,) booleans of step ``t`` of a (batch, timesteps) mask."""
    data = mask.data if isinstance(mask, Tensor) else mask
    return data[:, t].astype(bool)


def _masked(keep, new, old):
    """``new`` where the sample's step is kept, else ``old`` (per sample)."""
    return _f.switch(keep, new, old)


def _initial_previous_output(output, states):
    """What a masked first step outputs: the first state when it has the output's
    shape (as for every built-in cell), else zeros."""
    if states and tuple(states[0].shape) == tuple(output.shape):
        return states[0]
    return _f.zeros_like(output)


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None,
        constants=None, unroll=False, input_length=None):
    """Iterate ``step_function`` over the time axis of ``inputs``.

    Args:
        step_function: ``(input_t, states) -> (output_t, new_states)``; input_t is
            (batch, ...) and states a list of Tensors (followed by ``constants``).
        inputs: (batch, timesteps, ...) Tensor.
        initial_states: list of Tensors, the states before the first step.
        go_backwards: iterate from the last step to the first (outputs in that order).
        mask: None or (batch, timesteps) booleans: at a masked step every state keeps
            its value and the output repeats the previous output.
        constants: list of Tensors passed to every step after the states.
        unroll, input_length: accepted for Keras 2 compatibility (the loop is always
            a Python loop on the tape).

    Returns:
        ``(last_output, outputs, new_states)``: last_output (batch, ...), outputs
        (batch, timesteps, ...) in processing order, new_states the final states.

    Example:
        >>> def step(x_t, states):
        ...     h = K.tanh(K.dot(x_t, w) + K.dot(states[0], u))
        ...     return h, [h]
        >>> last, outputs, states = K.rnn(step, x, [K.zeros((batch, units))])
    """
    x = ad.as_tensor(inputs)
    if x.ndim < 3:
        raise ValueError("K.rnn expects inputs of shape (batch, timesteps, ...), at least "
                         f"3-D. Received: inputs.shape={x.shape}")
    steps = x.shape[1]
    if mask is not None:
        shape = tuple((mask.data if isinstance(mask, Tensor) else mask).shape)
        if shape != (x.shape[0], steps):
            raise ValueError("K.rnn expects a mask of shape (batch, timesteps) = "
                             f"{(x.shape[0], steps)}. Received: mask.shape={shape}")
    states = [ad.as_tensor(s) for s in initial_states]
    constants = list(constants or [])
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outputs, previous = [], None
    for t in order:
        output, new_states = step_function(x[:, t], states + constants)
        new_states = list(new_states)
        if mask is not None:
            keep = _step_keep(mask, t)
            if previous is None:
                previous = _initial_previous_output(output, states)
            output = _masked(keep, output, previous)
            new_states = [_masked(keep, n, s) for n, s in zip(new_states, states)]
        states, previous = new_states, output
        outputs.append(output)
    if not outputs:
        raise ValueError("K.rnn needs at least one time step. Received: inputs.shape="
                         f"{x.shape}")
    return outputs[-1], _f.stack(outputs, axis=1), states


def lstm_cell(z, c_prev, activation="tanh", recurrent_activation="sigmoid"):
    """The pointwise part of an LSTM step as one fused op (the kernels of the fused
    LSTM layer): gates from their pre-activations, the new cell state and output.

    Args:
        z: (..., 4 units) gate pre-activations, blocks i|f|c|o along the last axis.
        c_prev: (..., units) the previous cell state.
        activation, recurrent_activation: elementwise activation kinds.

    Returns:
        ``(h, c)``: ``c = rec(z_f) * c_prev + rec(z_i) * act(z_c)``,
        ``h = rec(z_o) * act(c)``, each of c_prev's shape.
    """
    z, c_prev = ad.as_tensor(z), ad.as_tensor(c_prev, z)
    lead, u = tuple(c_prev.shape[:-1]), c_prev.shape[-1]
    if tuple(z.shape) != lead + (4 * u,):
        raise ValueError("K.lstm_cell expects gate pre-activations z of shape c_prev.shape[:-1]"
                         " + (4 * units,). Received: z.shape="
                         f"{tuple(z.shape)}, c_prev.shape={tuple(c_prev.shape)}")
    rows = 1
    for d in lead:
        rows *= d
    y, _ = ad.fused("lstm_cell", ad.reshape(z, (rows, 4 * u)), ad.reshape(c_prev, (rows, u)),
                    activation=activation, recurrent_activation=recurrent_activation)
    return ad.reshape(y[:, :u], lead + (u,)), ad.reshape(y[:, u:], lead + (u,))
