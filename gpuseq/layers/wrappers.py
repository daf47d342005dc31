"""Layer wrappers: TimeDistributed and Bidirectional."""
from .. import backend as K
from .base import Layer, _accepts
from .recurrent import Recurrent
from .recurrent_cells import RNN, StackedRNNCells
from .serialization import deserialize_layer as deserialize


class Wrapper(Layer):
    """Base of the wrappers: a layer that owns another layer's weights."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__} wraps a gpuseq layer instance. "
                            f"Received: layer={layer!r} of type {type(layer).__name__}")
        if "batch_input_shape" not in kwargs and "input_shape" not in kwargs and \
                "input_dim" not in kwargs and layer.batch_input_shape is not None and \
                type(self).__name__ == "Bidirectional":
            kwargs["batch_input_shape"] = layer.batch_input_shape
        super().__init__(**kwargs)
        self.layer = layer

    def _sublayers(self):
        return [self.layer]

    def _prefix_weight_names(self, layer, keep_layer_name):
        """Name the sublayer's weights under this wrapper (Keras's saved-weight names)."""
        for v in layer.weights:
            base = v.name if keep_layer_name else v.name.split("/", 1)[-1]
            if not base.startswith(self.name + "/"):
                v.name = f"{self.name}/{base}"

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out = []
        for sub in self._sublayers():
            out.extend(sub.trainable_weights)
        return out

    @property
    def non_trainable_weights(self):
        out = []
        for sub in self._sublayers():
            out.extend(sub.weights if not self.trainable else sub.non_trainable_weights)
        return out

    @property
    def weights(self):
        out = []
        for sub in self._sublayers():
            out.extend(sub.weights)
        return out

    @property
    def losses(self):
        out = []
        for sub in self._sublayers():
            out.extend(sub.losses)
        return out

    def get_config(self):
        cfg = super().get_config()
        cfg["layer"] = {"class_name": type(self.layer).__name__,
                        "config": self.layer.get_config()}
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        cfg = dict(config)
        cfg["layer"] = deserialize(cfg["layer"], custom_objects=custom_objects)
        return cls(**cfg)


class TimeDistributed(Wrapper):
    """Applies a layer to every temporal slice of its input.

    The input's second axis is time: a ``(batch, timesteps, ...)`` input runs
    the wrapped layer on ``(batch * timesteps, ...)`` at once and reshapes the
    result back to ``(batch, timesteps, ...)``. The same weights serve every step.

    Args:
        layer: a layer whose input is one time step (e.g. Dense, Conv2D, Flatten).

    Input shape: ``(batch, timesteps, ...)`` (at least 3-D).
    Output shape: ``(batch, timesteps) + layer output shape without its batch axis``.

    Example:
        >>> model = Sequential()
        >>> model.add(GRU(128, return_sequences=True, input_shape=(16, 256)))
        >>> model.add(TimeDistributed(Dense(128)))
        >>> model.output_shape
        (None, 16, 128)
    """

    supports_masking = True

    def build(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) expects an input of at least 3 "
                f"dimensions (batch, timesteps, ...), but received input of shape "
                f"{input_shape}. Put it after a layer that returns sequences "
                f"(e.g. return_sequences=True).")
        self.layer._maybe_build(self._inner_shape(input_shape))
        self.layer.built = True
        self._prefix_weight_names(self.layer, keep_layer_name=False)
        self.built = True

    @staticmethod
    def _inner_shape(input_shape):
        n, t = input_shape[0], input_shape[1]
        return ((n * t) if (n is not None and t is not None) else None,) + \
            tuple(input_shape[2:])

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def compute_mask(self, inputs, mask=None):
        return mask

    def call(self, inputs, training=False, mask=None):
        x = K.convert_to_tensor(inputs)
        n, t = x.shape[0], x.shape[1]
        inner_mask = None
        if mask is not None and _accepts(type(self.layer), "mask"):
            m = K.convert_to_tensor(mask)
            inner_mask = K.reshape(m, (n * t,) + m.shape[2:]).data
        y = self.layer(K.reshape(x, (n * t,) + x.shape[2:]), training=training, mask=inner_mask)
        return K.reshape(y, (n, t) + y.shape[1:])


_MERGE_MODES = ("sum", "mul", "concat", "ave", None)
_RECURRENT_TYPES = (Recurrent, RNN)


def _copy_cell(cell):
    """A new, unbuilt cell with ``cell``'s configuration (its own class's from_config)."""
    if isinstance(cell, StackedRNNCells):
        return StackedRNNCells([_copy_cell(c) for c in cell.cells])
    try:
        return type(cell).from_config(cell.get_config())
    except (AttributeError, TypeError) as e:
        raise ValueError(
            f"Bidirectional makes the backward RNN from a copy of the cell, built with "
            f"`{type(cell).__name__}.from_config(cell.get_config())`, which failed ({e}). Give "
            f"the cell a get_config() that returns its constructor arguments, or pass "
            f"backward_layer=RNN(...) yourself. Received: cell={cell!r}") from None


def _copy_recurrent(layer, **overrides):
    """A new recurrent layer with ``layer``'s configuration and ``overrides``; it shares
    ``layer``'s activation functions (a custom one need not be registered by name)."""
    cfg = layer.get_config()
    cfg.pop("batch_input_shape", None)
    for arg in ("activation", "recurrent_activation"):
        if arg in cfg:
            cfg[arg] = getattr(layer, arg)
    cfg.update(overrides)
    if isinstance(layer, RNN):
        cfg.pop("cell")
        return type(layer)(_copy_cell(layer.cell), **cfg)
    return type(layer).from_config(cfg)


def _n_states(layer):
    """How many states a recurrent layer (built-in layer or RNN) carries."""
    return len(layer.state_sizes) if isinstance(layer, RNN) else len(layer.state_size)


class Bidirectional(Wrapper):
    """Bidirectional wrapper for recurrent layers.

    Runs a copy of the layer forward in time and another copy backward, then
    merges their outputs; the backward copy's output sequence is put back in
    forward time order before the merge.

    Args:
        layer: a recurrent layer: SimpleRNN, LSTM, GRU, or ``RNN(cell)`` with a built-in
            or a user cell (the backward copy is made from the cell's get_config).
        merge_mode: 'concat' (default), 'sum', 'mul', 'ave' or None (a list of both outputs).
        backward_layer: optional recurrent layer to use for the backward direction
            (default: a copy of ``layer`` with ``go_backwards`` flipped).

    Weights: the forward layer's, then the backward layer's.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: the layer's output shape, with the last axis doubled for 'concat'.

    Example:
        >>> model = Sequential()
        >>> model.add(Bidirectional(LSTM(10, return_sequences=True), input_shape=(5, 10)))
        >>> model.add(Bidirectional(LSTM(10)))
        >>> model.add(Dense(5, activation='softmax'))
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, _RECURRENT_TYPES):
            raise ValueError(
                "Bidirectional wraps a recurrent layer (SimpleRNN, LSTM, GRU or RNN(cell)). "
                f"Received: layer={layer!r}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge_mode for Bidirectional. Expected one of "
                             f"{list(_MERGE_MODES)}. Received: merge_mode={merge_mode!r}")
        if backward_layer is not None and not isinstance(backward_layer, _RECURRENT_TYPES):
            raise ValueError("Bidirectional's backward_layer must be a recurrent layer. "
                             f"Received: backward_layer={backward_layer!r}")
        if weights is not None:
            kwargs["weights"] = weights
        super().__init__(layer, **kwargs)
        self.merge_mode = merge_mode
        self.forward_layer = _copy_recurrent(layer, name="forward_" + layer.name)
        if backward_layer is None:
            self.backward_layer = _copy_recurrent(layer, name="backward_" + layer.name,
                                                  go_backwards=not layer.go_backwards)
        else:
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    "Bidirectional: backward_layer must process the sequence in the other "
                    f"direction: layer.go_backwards={layer.go_backwards} but "
                    f"backward_layer.go_backwards={backward_layer.go_backwards}. Set "
                    "go_backwards on one of them.")
            for attr in ("return_sequences", "return_state", "stateful"):
                if getattr(backward_layer, attr) != getattr(layer, attr):
                    raise ValueError(f"Bidirectional: forward and backward layers must agree "
                                     f"on `{attr}`.")
            self.backward_layer = backward_layer
        self._backward_layer_given = backward_layer is not None
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def __call__(self, inputs, training=False, mask=None, initial_state=None):
        if initial_state is None:
            return super().__call__(inputs, training=training, mask=mask)
        if not self.built:
            self._maybe_build(tuple(inputs.shape))
        return self.call(inputs, training=training, mask=mask, initial_state=initial_state)

    def build(self, input_shape):
        for sub in self._sublayers():
            sub._maybe_build(input_shape)
            self._prefix_weight_names(sub, keep_layer_name=True)
        self.built = True

    def _merge_shape(self, shape):
        if self.merge_mode == "concat":
            return tuple(shape[:-1]) + (shape[-1] * 2,)
        return tuple(shape)

    def compute_output_shape(self, input_shape):
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            states = list(f[1:]) + list(b[1:])
            f, b = f[0], b[0]
        if self.merge_mode is None:
            out = [tuple(f), tuple(b)]
        else:
            out = [self._merge_shape(f)]
        return out + states if (self.merge_mode is None or states) else out[0]

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        masks = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            masks += [None] * (_n_states(self.forward_layer) * 2)
        return masks if len(masks) > 1 else masks[0]

    def call(self, inputs, training=False, mask=None, initial_state=None):
        fs = bs = None
        if initial_state is not None:
            n = _n_states(self.forward_layer)
            if len(initial_state) != 2 * n:
                raise ValueError(f"Bidirectional '{self.name}' expects {2 * n} initial states "
                                 f"(forward, then backward). Received: {len(initial_state)}")
            fs, bs = list(initial_state[:n]), list(initial_state[n:])
        y_f = self.forward_layer(inputs, training=training, mask=mask, initial_state=fs)
        y_b = self.backward_layer(inputs, training=training, mask=mask, initial_state=bs)
        states = []
        if self.return_state:
            states = list(y_f[1:]) + list(y_b[1:])
            y_f, y_b = y_f[0], y_b[0]
        if self.return_sequences:
            y_b = y_b[:, ::-1]          # back to forward time order
        if self.merge_mode == "concat":
            out = K.concatenate([y_f, y_b], axis=-1)
        elif self.merge_mode == "sum":
            out = y_f + y_b
        elif self.merge_mode == "mul":
            out = y_f * y_b
        elif self.merge_mode == "ave":
            out = (y_f + y_b) * 0.5
        else:
            return [y_f, y_b] + states
        return [out] + states if states else out

    def reset_states(self, states=None):
        """Reset both directions (``states``: forward states then backward states)."""
        if not self.stateful:
            raise AttributeError(
                f"Layer '{self.name}' (Bidirectional) must be stateful to reset its states: "
                "wrap a recurrent layer created with stateful=True.")
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        n = _n_states(self.forward_layer)
        states = list(states)
        if len(states) != 2 * n:
            raise ValueError(f"Bidirectional '{self.name}' expects {2 * n} state arrays "
                             f"(forward, then backward). Received: {len(states)}")
        self.forward_layer.reset_states(states[:n])
        self.backward_layer.reset_states(states[n:])

    def get_config(self):
        cfg = super().get_config()
        cfg["merge_mode"] = self.merge_mode
        if self._backward_layer_given:
            cfg["backward_layer"] = {"class_name": type(self.backward_layer).__name__,
                                     "config": self.backward_layer.get_config()}
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        cfg = dict(config)
        if cfg.get("backward_layer") is not None:
            cfg["backward_layer"] = deserialize(cfg["backward_layer"],
                                                custom_objects=custom_objects)
        return super().from_config(cfg, custom_objects=custom_objects)
