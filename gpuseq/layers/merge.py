"""The Keras 1 ``Merge`` layer: merges the outputs of several Sequential branches.

Example (seed 001)::

    left = Sequential([Dense(32, input_dim=784)])
    right = Sequential([Dense(32, input_dim=784)])
    model = Sequential([Merge([left, right], mode='concat'), Dense(10, activation='softmax')])
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    model.fit([x_left, x_right], y)          # one array per branch
"""
from .. import backend as K
from .base import Layer
from .serialization import normalize_layer_config

_MODES = ("sum", "mul", "concat", "ave", "cos", "dot", "max")


class Merge(Layer):
    """Merge the outputs of several models (or layers) into one tensor.

    Args:
        layers: list of Sequential models (branches), each with its own input.
        mode: 'sum', 'mul', 'concat', 'ave', 'cos', 'dot', 'max', or a callable
            taking the list of branch outputs (Tensors) and returning a Tensor.
        concat_axis: axis for 'concat' (default -1).
        dot_axes: axes for 'dot' and 'cos'.
        output_shape: output shape (one sample, or a callable on the list of
            input shapes) when ``mode`` is a callable; inferred when omitted.

    Input: a list with one array per branch. Output shape: depends on ``mode``.
    """

    def __init__(self, layers=None, mode="sum", concat_axis=-1, dot_axes=-1,
                 output_shape=None, **kwargs):
        super().__init__(**kwargs)
        if not layers or len(layers) < 2:
            raise ValueError("Merge needs a list of at least 2 branches (Sequential models). "
                             f"Received: layers={layers!r}")
        if not callable(mode) and mode not in _MODES:
            raise ValueError(f"Invalid merge mode. Expected one of {_MODES} or a callable. "
                             f"Received: mode={mode!r}")
        self.branches = list(layers)
        self.mode = mode
        self.concat_axis = concat_axis
        self.dot_axes = dot_axes
        self._output_shape = output_shape
        for b in self.branches:
            if getattr(b, "input_shape", None) is None:
                raise ValueError(f"Merge: branch {b!r} has no input shape. Give its first "
                                 "layer an input_shape or input_dim.")
        self.batch_input_shape = [tuple(b.input_shape) for b in self.branches]
        self.n_inputs = len(self.branches)

    @property
    def weights(self):
        out = []
        for b in self.branches:
            out.extend(b.weights)
        return out

    @property
    def trainable_weights(self):
        out = []
        for b in self.branches:
            out.extend(b.trainable_weights)
        return out

    @property
    def non_trainable_weights(self):
        out = []
        for b in self.branches:
            out.extend(b.non_trainable_weights)
        return out

    @property
    def losses(self):
        out = []
        for b in self.branches:
            for layer in b.layers:
                out.extend(layer.losses)
        return out

    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = [tuple(b.output_shape) for b in self.branches]
        if callable(self.mode):
            if callable(self._output_shape):
                return tuple(self._output_shape(shapes))
            if self._output_shape is not None:
                return (shapes[0][0],) + tuple(self._output_shape)
            xs = [K.constant(0.0, shape=(1,) + s[1:]) for s in shapes]
            with K.no_grad():
                out = self.mode(xs)
            return (shapes[0][0],) + tuple(out.shape[1:])
        if self.mode == "concat":
            return _concat_shape(shapes, self.concat_axis)
        if self.mode in ("dot", "cos"):
            return (shapes[0][0], 1)
        for s in shapes[1:]:
            if s[1:] != shapes[0][1:]:
                raise ValueError(f"Merge mode '{self.mode}' needs branches with equal output "
                                 f"shapes. Received: {shapes}. Use mode='concat' instead.")
        return shapes[0]

    def call(self, inputs, training=False):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self.branches):
            raise ValueError(f"Merge expects a list of {len(self.branches)} inputs (one per "
                             f"branch). Received: {type(inputs).__name__}.")
        outs = [b._forward(x, training=training) for b, x in zip(self.branches, inputs)]
        if callable(self.mode):
            return K.convert_to_tensor(self.mode(outs), like=outs[0])
        if self.mode == "concat":
            return K.concatenate(outs, axis=self.concat_axis)
        if self.mode in ("sum", "ave"):
            y = outs[0]
            for o in outs[1:]:
                y = y + o
            return y * (1.0 / len(outs)) if self.mode == "ave" else y
        if self.mode == "mul":
            y = outs[0]
            for o in outs[1:]:
                y = y * o
            return y
        if self.mode == "max":
            y = outs[0]
            for o in outs[1:]:
                y = K.maximum(y, o)
            return y
        a, b = outs[0], outs[1]
        if self.mode == "dot":
            return K.sum(a * b, axis=-1, keepdims=True)
        # cos
        return K.sum(a * b, axis=-1, keepdims=True) / K.sqrt(
            K.sum(K.square(a), axis=-1, keepdims=True) * K.sum(K.square(b), axis=-1,
                                                               keepdims=True) + 1e-12)

    def get_config(self):
        cfg = super().get_config()
        cfg.pop("batch_input_shape", None)      # the branches state their inputs
        cfg.update({"layers": [{"class_name": type(b).__name__, "config": b.get_config()}
                               for b in self.branches],
                    "mode": getattr(self.mode, "__name__", "lambda") if callable(self.mode)
                    else self.mode,
                    "mode_type": "function" if callable(self.mode) else "raw",
                    "concat_axis": self.concat_axis, "dot_axes": self.dot_axes,
                    "output_shape": None if callable(self._output_shape) or
                    self._output_shape is None else tuple(self._output_shape)})
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A Merge from its config: the branches are rebuilt from their model configs;
        a function ``mode`` is looked up by name in ``custom_objects``."""
        return cls(**normalize_layer_config("Merge", config, custom_objects))


def _concat_shape(shapes, axis):
    """The output shape of concatenating ``shapes`` (with batch dim) along ``axis``.

    Raises ValueError when the branches differ in rank or in any other axis.
    """
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise ValueError(
            "Merge mode 'concat' needs branches whose outputs have the same rank, but the "
            f"branch output shapes differ in rank. Received: shapes={shapes}. Reshape or "
            "Flatten the branches so that their outputs agree.")
    rank = len(shapes[0])
    if not (isinstance(axis, int) and -rank < axis < rank and axis % rank != 0):
        raise ValueError(
            f"Merge mode 'concat' got concat_axis={axis!r}, which is not a feature axis of "
            f"outputs of rank {rank} (valid: 1..{rank - 1} or -1..-{rank - 1}). "
            f"Received: shapes={shapes}")
    ax = axis % rank
    for d in range(1, rank):
        if d == ax:
            continue
        sizes = {s[d] for s in shapes if s[d] is not None}
        if len(sizes) > 1:
            raise ValueError(
                f"Merge mode 'concat' along axis {axis} needs branches whose outputs agree "
                f"on every other axis, but they differ on axis {d}. Received: "
                f"shapes={shapes}. Change the branches or concat_axis.")
    sizes = [s[ax] for s in shapes]
    out = list(shapes[0])
    out[ax] = None if None in sizes else sum(sizes)
    return tuple(out)
