"""What the recurrent layers (SimpleRNN / LSTM / GRU, the RNN wrapper of cells and
ConvLSTM2D) share: a call that takes ``initial_state=``; the input-shape checks of their
build and their output shapes and masks (not ConvLSTM2D, whose inputs are 5-D); and about
their states, the checks before ``reset_states``, the state values given to it or to a
call, and the kept states of a stateful layer; the gate weights of the layers and cells
(kernel, recurrent_kernel, bias) and which activations their fused ops run.

Their error messages differ in detail per layer (what to pass, how to fix it); the
callers give those parts, the shared wording lives here.
"""
import numpy

from .. import backend as K
from .base import Layer


class InitialStateLayer(Layer):
    """A layer whose call also accepts ``initial_state=`` (a list of state tensors).

    Without it, the call is Layer's (building, masks, activity regularization); with it,
    the layer is built if needed and ``call(..., initial_state=...)`` runs directly."""

    def __call__(self, inputs, training=False, mask=None, initial_state=None):
        if initial_state is None:
            return super().__call__(inputs, training=training, mask=mask)
        if not self.built:
            self._maybe_build(tuple(inputs.shape))
        outputs = self.call(inputs, training=training, mask=mask, initial_state=initial_state)
        self._record_activity(outputs, training)
        return outputs


def as_array(x):
    """The array behind a Tensor, or ``x`` itself."""
    return x.data if K.is_tensor(x) else x


def as_state_list(states):
    """``states`` as a list or tuple: one state given bare becomes a list of one."""
    return states if isinstance(states, (list, tuple)) else [states]


def _one_per_shape(layer, values, shapes, what, advice=""):
    """``values`` as a list with one entry per shape; an error naming ``what`` they are
    for another count (``advice`` follows it)."""
    values = as_state_list(values)
    if len(values) != len(shapes):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) expects "
                         f"{len(shapes)} {what}(s), but received {len(values)}.{advice}")
    return values


def check_resettable(layer, advice):
    """Refuse ``reset_states`` on a layer that is not stateful (``advice`` follows
    "must be stateful to reset its states") or not built yet."""
    cls = type(layer).__name__
    if not layer.stateful:
        raise AttributeError(
            f"Layer '{layer.name}' ({cls}) must be stateful to reset its states{advice}")
    if not layer.built:
        raise ValueError(f"Layer '{layer.name}' ({cls}) has not been built yet, so it has "
                         "no states to reset. Add it to a model with a batch_input_shape.")


def state_arrays(layer, states, shapes, count_advice="", shape_note=""):
    """The values given to ``reset_states``, one per shape in ``shapes``, as device arrays
    of the layer's dtype; an error for another count (``count_advice`` follows it) or
    another shape (``shape_note`` follows the expected shape)."""
    states = _one_per_shape(layer, states, shapes, "state array", count_advice)
    arrays = []
    for i, (s, shape) in enumerate(zip(states, shapes)):
        a = K.to_host(as_array(s))
        if tuple(numpy.shape(a)) != shape:
            raise ValueError(f"State {i} of layer '{layer.name}' ({type(layer).__name__}) "
                             f"has shape {shape}{shape_note}, but the value given has "
                             f"shape {tuple(numpy.shape(a))}.")
        arrays.append(K.to_device(numpy.asarray(a, dtype=layer.dtype)))
    return arrays


def initial_state_tensors(layer, initial_state, shapes, shapes_text, dtype=None):
    """The ``initial_state`` given to a call as tensors (of ``dtype`` when given), one per
    shape in ``shapes``; an error for another count, or another shape (the message says
    the layer must have ``shapes_text``)."""
    tensors = []
    for s, shape in zip(_one_per_shape(layer, initial_state, shapes, "initial state"), shapes):
        tensors.append(K.convert_to_tensor(s, dtype=dtype))
        if tuple(tensors[-1].shape) != shape:
            raise ValueError(f"Initial states of layer '{layer.name}' ({type(layer).__name__})"
                             f" must have {shapes_text}. Received: {tuple(tensors[-1].shape)}")
    return tensors


def kept_states(layer, n, advice=""):
    """The states a stateful layer kept from its last batch (zeros before the first), for
    a batch of ``n`` samples; an error when n is not the layer's batch size (``advice``
    follows "Feed batches of exactly <batch size> samples")."""
    if layer.states is None:
        layer.reset_states()
    if n != layer._batch_size:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) is stateful with a batch size of "
            f"{layer._batch_size}, but received a batch of {n} samples. Feed batches of "
            f"exactly {layer._batch_size} samples{advice}.")
    return list(layer.states)


# -- build, output shapes and masks of the (batch, timesteps, features) layers -----------

def check_sequence_input(layer, input_shape, batch_advice):
    """Refuse at build an input shape that is not (batch, timesteps, features) with known
    features, or (for a stateful layer) an unknown batch size; ``batch_advice`` follows
    "so it needs to know its batch size" and says how to give it."""
    cls = type(layer).__name__
    if isinstance(input_shape, list) or len(input_shape) != 3:
        raise ValueError(
            f"Layer '{layer.name}' ({cls}) expects inputs of shape (batch, timesteps, "
            f"features), but received input of shape {input_shape}. Give the first layer "
            "input_shape=(timesteps, features), or put the layer after one that returns "
            "sequences (return_sequences=True).")
    if input_shape[-1] is None:
        raise ValueError(f"Layer '{layer.name}' ({cls}) needs a known number of features "
                         f"(last axis). Received input shape {input_shape}.")
    if layer.stateful and input_shape[0] is None:
        raise ValueError(f"Layer '{layer.name}' ({cls}) is stateful, so it needs to know its "
                         f"batch size{batch_advice} Received input shape {input_shape}.")


def finish_build(layer, input_shape):
    """Mark the layer built; a stateful one records its batch size and starts from zero
    states."""
    layer.built = True
    if layer.stateful:
        layer._batch_size = int(input_shape[0])
        layer.reset_states()


def sequence_output_shape(layer, input_shape, output_size, state_sizes):
    """The output shape: (batch, output_size), or (batch, timesteps, output_size) with
    return_sequences; with return_state a list that adds (batch, size) per state."""
    n, t = input_shape[0], input_shape[1]
    out = (n, t, output_size) if layer.return_sequences else (n, output_size)
    if layer.return_state:
        return [out] + [(n, s) for s in state_sizes]
    return out


def sequence_output_mask(layer, mask, n_states):
    """The input mask for a sequence output, else None; with return_state a list that
    adds None per state."""
    out = mask if layer.return_sequences else None
    if layer.return_state:
        return [out] + [None] * n_states
    return out


# -- weights and activations of the gate layers and cells --------------------------------

def fused_kind(activation):
    """The fused-op kind of an elementwise activation (its ``kind``), else None (a custom
    activation, or softmax, which the fused ops do not run)."""
    kind = getattr(activation, "kind", None)
    return None if kind in (None, "softmax") else kind


def add_gate_weights(layer, features):
    """Create ``kernel`` (features, gates * units), ``recurrent_kernel`` (units, gates *
    units) and ``bias`` on a recurrent layer or cell, with Keras's names and order."""
    g = layer._GATES * layer.units
    layer.kernel = layer.add_weight("kernel", (features, g), layer.kernel_initializer,
                                    layer.kernel_regularizer,
                                    constraint=layer.kernel_constraint)
    layer.recurrent_kernel = layer.add_weight("recurrent_kernel", (layer.units, g),
                                              layer.recurrent_initializer,
                                              layer.recurrent_regularizer,
                                              constraint=layer.recurrent_constraint)
    layer.bias = layer.add_weight("bias", layer._bias_shape(), layer._bias_initializer(),
                                  layer.bias_regularizer, constraint=layer.bias_constraint) \
        if layer.use_bias else None


class UnitForgetBias:
    """LSTM bias initializer: ``bias_initializer`` everywhere except ones on the forget gate."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return numpy.concatenate([
            numpy.asarray(self.base((u,), dtype)),
            numpy.ones((u,), dtype=dtype),
            numpy.asarray(self.base((2 * u,), dtype))]).astype(dtype)
