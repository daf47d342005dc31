"""The Sequential model: a linear stack of layers.

Example:
    >>> from gpuseq.models import Sequential
    >>> from gpuseq.layers import Dense, Activation
    >>> model = Sequential([Dense(32, input_dim=784), Activation('relu'), Dense(10),
    ...                     Activation('softmax')])
    >>> model.compile(optimizer='rmsprop', loss='categorical_crossentropy',
    ...               metrics=['accuracy'])
"""
import numpy

from . import saving
from .backend import autodiff as ad
from .engine import symbolic
from .engine.training import Model
from .layers.base import Layer, checked_weight_values, get_uid
from .layers.input_layer import InputLayer
from .layers.serialization import register_model_class
# Model files and configs (implemented in gpuseq.saving).
from .saving import (load_model, model_from_config, model_from_json,  # noqa: F401
                     model_from_yaml, save_model)


@register_model_class
class Sequential(Model):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add.
        name: model name (auto: ``sequential_<n>``).

    The first layer states the input shape (``input_shape``, ``input_dim``,
    ``batch_input_shape``, ``batch_size`` + ``input_shape``, or ``input_dim`` +
    ``input_length``); the rest is inferred. Without one, the model is built
    from the first data it sees.
    """

    def __init__(self, layers=None, name=None, **kwargs):
        if self._built_by_functional_call():
            return      # Model(inputs=..., outputs=...) built it already (see Model.__new__)
        if kwargs:
            raise TypeError(f"Sequential() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}. Expected layers= and name=.")
        super().__init__()
        self.name = name or f"sequential_{get_uid('sequential')}"
        self.layers = []
        self.built = False
        self._input_layer = None            # an InputLayer added first, not a model layer
        for layer in layers or []:
            self.add(layer)

    # ---------------------------------------------------------------- building
    def add(self, layer):
        """Append a layer; its output shape is inferred from the layer before it."""
        if isinstance(layer, Sequential):
            raise TypeError("To nest a Sequential model, add its layers one by one, or merge "
                            "branches with Merge([branch_a, branch_b], mode='concat').")
        if not isinstance(layer, Layer):
            raise TypeError("The added layer must be an instance of gpuseq.layers.Layer. "
                            f"Received: {layer!r} of type {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self.layers or self._input_layer is not None:
                before = [l.name for l in self.layers] or [self._input_layer.name]
                raise ValueError(
                    "An InputLayer (or Input(...)) declares the model's input, so it must be "
                    f"added first and only once. Received: {layer.name!r} after {before}")
            self._input_layer = layer
            return
        if not self.layers and self._input_layer is not None:
            if layer.batch_input_shape is None:
                layer.batch_input_shape = self._input_layer.batch_input_shape
            elif tuple(layer.batch_input_shape[1:]) != \
                    tuple(self._input_layer.batch_input_shape[1:]):
                raise ValueError(
                    f"Layer '{layer.name}' declares input shape {layer.batch_input_shape[1:]} "
                    f"but the model's Input has {self._input_layer.batch_input_shape[1:]}. "
                    "Give the shape once.")
        if any(l.name == layer.name for l in self.layers):
            raise ValueError(f"All layers in a model must have unique names; the name "
                             f"'{layer.name}' is already used. Pass a different name=.")
        if not self.layers:
            self.layers.append(layer)
            if layer.batch_input_shape is not None:
                try:
                    self.build(layer.batch_input_shape)
                except Exception:
                    self.layers.pop()
                    raise
        else:
            if layer.batch_input_shape is not None and not self.built:
                pass
            self.layers.append(layer)
            if self.built:
                try:
                    self._build_layer(layer, self.layers[-2].output_shape)
                except Exception:
                    self.layers.pop()
                    raise
        if getattr(layer, "_first_model", None) is None:
            layer._first_model = self                # layer.input / layer.output refer here
        self._fused = None
        self._metrics_names = None

    def _build_layer(self, layer, input_shape):
        layer._maybe_build(input_shape)
        if not layer.built:
            layer.built = True

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (with batch dimension)."""
        if not self.layers:
            raise ValueError("Cannot build an empty Sequential model: add layers first.")
        first = self.layers[0]
        if input_shape is None:
            input_shape = first.batch_input_shape
        if input_shape is None:
            raise ValueError(
                "This model has not been built: its first layer has no input shape. Pass "
                "input_shape=(...) (or input_dim=...) to the first layer, or call fit/predict "
                "with data first.")
        shape = input_shape if isinstance(input_shape, list) else tuple(input_shape)
        for layer in self.layers:
            self._build_layer(layer, shape)
            shape = layer.output_shape
        self.built = True

    @property
    def input_shape(self):
        if not self.layers or not self.built:
            return None if not self.layers else self.layers[0].batch_input_shape
        return self.layers[0].input_shape

    @property
    def output_shape(self):
        if not self.built:
            return None
        return self.layers[-1].output_shape

    # ------------------------------------------------------- symbolic tensors
    @property
    def inputs(self):
        """The model's input tensors (symbolic, a list); see :mod:`gpuseq.engine.symbolic`."""
        return symbolic.model_inputs(self)

    @property
    def input(self):
        """The model's input tensor (a list of them for a multi-input model)."""
        ins = symbolic.model_inputs(self)
        return ins if len(ins) > 1 else ins[0]

    @property
    def outputs(self):
        return [self.output]

    @property
    def output(self):
        """The model's output tensor: the last layer's output."""
        if not self.layers:
            raise AttributeError(f"Model '{self.name}' has no layers yet, so it has no "
                                 "output. Add layers first.")
        symbolic.model_inputs(self)          # explains an unbuilt model
        return symbolic.layer_output(self, self.layers[-1])

    def _n_inputs(self):
        return getattr(self.layers[0], "n_inputs", 1) if self.layers else 1

    def _input_shapes(self):
        shp = self.input_shape
        if isinstance(shp, list):
            return [tuple(s) for s in shp]
        return [tuple(shp)] if shp is not None else [None]

    def _input_layer_names(self):
        first = self.layers[0]
        if hasattr(first, "branches"):
            return [b.layers[0].name for b in first.branches]
        return [first.name]

    def _fixed_batch_size(self):
        shp = self.input_shape
        if isinstance(shp, list) or shp is None:
            return None
        return shp[0]

    # ------------------------------------------------------------ forward
    def _forward_to(self, x, upto, training):
        """Run layers[0:upto]; returns (output Tensor, its mask)."""
        h, mask = x, None
        for layer in self.layers[:upto]:
            out = layer(h, training=training, mask=mask)
            mask = layer.compute_mask(h, mask)
            h = out
        return h, mask

    def _forward(self, x, training=False):
        """Output Tensor for an input Tensor (used by Merge branches)."""
        if not self.built:
            self.build()
        return self._forward_to(x, len(self.layers), training)[0]

    def __call__(self, x, training=False):
        return self._forward(ad.as_tensor(x), training)

    # ------------------------------------------------------------- weights
    @property
    def weights(self):
        out = []
        for layer in self.layers:
            out.extend(layer.weights)
        return out

    @property
    def trainable_weights(self):
        out = []
        for layer in self.layers:
            out.extend(layer.trainable_weights)
        return out

    @property
    def non_trainable_weights(self):
        out = []
        for layer in self.layers:
            out.extend(layer.non_trainable_weights)
        return out

    def get_weights(self):
        """All weights as NumPy arrays, layer by layer in Keras order."""
        out = []
        for layer in self.layers:
            out.extend(layer.get_weights())
        return out

    def set_weights(self, weights):
        """Set all weights from a list like the one get_weights() returns.

        Every array is converted and checked (count, numeric dtype, shape) before any is
        assigned, so a rejected call leaves every layer exactly as it was.
        """
        if isinstance(weights, (str, bytes, dict)) or not hasattr(weights, "__iter__"):
            raise TypeError(f"Model '{self.name}': set_weights expects a list of NumPy arrays "
                            f"(as returned by get_weights()). Received: weights={weights!r:.100}")
        weights = list(weights)
        need = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != need:
            raise ValueError(f"Model '{self.name}' expects {need} weight arrays, but received "
                             f"{len(weights)}. Pass the list returned by get_weights() of a "
                             "model with the same layers.")
        plan, k = [], 0
        for layer in self.layers:
            n = len(layer.weights)
            plan.append((layer.weights, checked_weight_values(layer, layer.weights,
                                                              weights[k:k + n])))
            k += n
        for params, values in plan:
            for p, v in zip(params, values):
                p.assign(v)

    def count_params(self):
        if not self.built:
            raise ValueError("This model has not been built yet, so it has no parameters to "
                             "count. Give the first layer an input_shape or call build().")
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        """A layer by index (which wins when both are given) or by name."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but the model "
                                 f"only has {len(self.layers)} layers.")
            return self.layers[index]
        if name is None:
            raise ValueError("Provide either a layer name or a layer index.")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Layers: {[l.name for l in self.layers]}")

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self.layers.pop()
        self._fused = None
        self._metrics_names = None

    def reset_states(self):
        """Reset the states of every stateful layer."""
        for layer in self.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

    # ------------------------------------------------------------ inference
    def predict_proba(self, x, batch_size=32, verbose=0):
        """Class probabilities (same as predict)."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Class indices: argmax for several outputs, threshold 0.5 for one."""
        p = self.predict(x, batch_size=batch_size, verbose=verbose)
        if p.shape[-1] > 1:
            return p.argmax(axis=-1)
        return (p > 0.5).astype("int32")

    # --------------------------------------------------------------- summary
    def summary(self, line_length=65, positions=None, print_fn=None):
        """Print a Keras-style table of the layers, output shapes and parameter counts."""
        if not self.built:
            raise ValueError(
                "This model has not yet been built. Build the model first by calling build() "
                "or fit() with data, or give the first layer an input_shape.")
        print_fn = print_fn or print
        positions = positions or [0.45, 0.85, 1.0]
        if positions[-1] <= 1:
            positions = [int(line_length * p) for p in positions]

        def row(fields):
            line = ""
            for i, f in enumerate(fields):
                if i > 0:
                    line = line[:-1] + " "
                line += str(f)
                line = line[:positions[i]]
                line += " " * (positions[i] - len(line))
            print_fn(line)

        print_fn("_" * line_length)
        row(["Layer (type)", "Output Shape", "Param #"])
        print_fn("=" * line_length)
        for i, layer in enumerate(self.layers):
            row([f"{layer.name} ({type(layer).__name__})", _fmt_shape(layer.output_shape),
                 layer.count_params()])
            print_fn(("=" if i == len(self.layers) - 1 else "_") * line_length)
        trainable = sum(int(numpy.prod(w.shape)) for w in self._trainable_variables())
        total = self.count_params()
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn("_" * line_length)

    # ------------------------------------------------------ saving (gpuseq.saving)
    def save_weights(self, filepath, overwrite=True, save_format=None):
        """Save all weights to an HDF5 file in Keras's layout (written atomically).

        Args:
            filepath: path; names ending in ``.weights.h5`` get the Keras 3 layout,
                others the Keras 2 layout (``layer_names``, one group per layer).
            overwrite: when False and the file exists, raise ``FileExistsError``.
            save_format: ``'h5'`` or ``'keras3'`` to choose the layout explicitly.

        Example:
            >>> model.save_weights('weights.h5')     # Keras: model.load_weights('weights.h5')
        """
        if self._distribution.writes_files:     # under several ranks: rank 0 only
            saving.save_weights(self, filepath, overwrite=overwrite, save_format=save_format)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, reshape=False):
        """Load weights from a gpuseq or Keras (1, 2 or 3) HDF5 file.

        Args:
            filepath: path to a weights file or a whole-model file.
            by_name: match layers by name instead of by order.
            skip_mismatch: warn about and skip layers whose weights do not fit.
            reshape: reshape arrays of the right size but another shape.

        Every shape is checked before any weight is assigned: on a mismatch the
        error names the layer, the expected and the found shapes, and the model
        is unchanged.
        """
        saving.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch,
                            reshape=reshape)

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save architecture, weights, compile arguments and optimizer state to one HDF5
        file (Keras's layout; load it with ``gpuseq.models.load_model``)."""
        if self._distribution.writes_files:     # under several ranks: rank 0 only
            saving.save_model(self, filepath, overwrite=overwrite,
                              include_optimizer=include_optimizer)

    def to_json(self, **kwargs):
        """The architecture as JSON text (keyword arguments go to ``json.dumps``)."""
        return saving.model_to_json(self, **kwargs)

    def to_yaml(self, **kwargs):
        """The architecture as YAML text (needs PyYAML; kwargs go to ``yaml.safe_dump``)."""
        return saving.model_to_yaml(self, **kwargs)

    # --------------------------------------------------------------- config
    def get_config(self):
        return {"name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self.layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from ``get_config()`` output, or any Keras Sequential config form."""
        return model_from_config(config, custom_objects=custom_objects)

    def __repr__(self):
        return f"<Sequential name={self.name!r} layers={len(self.layers)}>"


def _fmt_shape(shape):
    if isinstance(shape, list):
        return str([_fmt_shape(s) for s in shape])
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"
