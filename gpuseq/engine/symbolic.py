"""Symbolic handles on the tensors of a Sequential model, and the two Keras ways of
evaluating them: ``K.function`` and ``Model(inputs=..., outputs=...)``.

gpuseq runs define-by-run (no graph is built ahead of time), but Keras 2 code reaches
into a model through its symbolic tensors, as in the Keras FAQ "How can I obtain the
output of an intermediate layer?"::

    from gpuseq import backend as K
    get_3rd_layer_output = K.function([model.layers[0].input], [model.layers[3].output])
    layer_output = get_3rd_layer_output([x])[0]

    from gpuseq.models import Model
    intermediate = Model(inputs=model.input, outputs=model.get_layer('dense_1').output)
    features = intermediate.predict(x)

``model.input`` / ``model.output`` and ``layer.input`` / ``layer.output`` return a
:class:`SymbolicTensor`: a handle that names a place in the layer stack (the model's
input, or the output of one layer) and knows its shape, but holds no data. Evaluating
one runs the model's layers on real arrays up to that place.
"""
import warnings

import numpy

from ..backend import autodiff as ad
from ..backend import dispatch


class SymbolicTensor:
    """The model's input or one layer's output, without data.

    Attributes:
        model: the Sequential model the tensor belongs to.
        layer: the layer whose output this is, or None for the model's input.
        index: for a model input, which one (models whose first layer is a Merge
            have several inputs); 0 otherwise.
        shape: the shape with None for the batch dimension (also ``_keras_shape``,
            read by ``K.int_shape``).
        name: a Keras-style name, e.g. ``'dense_1/output:0'``.
    """

    __slots__ = ("model", "layer", "index", "_keras_shape", "name", "dtype")

    def __init__(self, model, layer, index, shape, name):
        self.model = model
        self.layer = layer
        self.index = index
        self._keras_shape = None if shape is None else tuple(shape)
        self.name = name
        self.dtype = "float32"

    @property
    def shape(self):
        return self._keras_shape

    @property
    def ndim(self):
        return None if self._keras_shape is None else len(self._keras_shape)

    def depth(self):
        """How many layers of the model run before this tensor (0 for an input)."""
        if self.layer is None:
            return 0
        for i, layer in enumerate(self.model.layers):
            if layer is self.layer:
                return i + 1
        raise ValueError(f"Layer '{self.layer.name}' is no longer part of model "
                         f"'{self.model.name}' (was it removed with pop()?), so its output "
                         f"cannot be computed. Received: tensor {self.name!r}")

    def __repr__(self):
        return f"<SymbolicTensor {self.name!r} shape={self._keras_shape}>"

    def __bool__(self):
        raise TypeError(f"A symbolic tensor ('{self.name}') has no value to test: it stands "
                        "for data that only exists once the model runs. Evaluate it with "
                        "K.function([model.input], [tensor])([x]).")


def model_inputs(model):
    """The model's input tensors, a list (one per input of a multi-input model)."""
    if not model.layers:
        raise AttributeError(f"Model '{model.name}' has no layers yet, so it has no input. "
                             "Add layers first.")
    if not model.built:
        raise AttributeError(
            f"Model '{model.name}' has not been built, so its input is not defined yet. Give "
            "the first layer an input_shape=(...) (or input_dim=...), or call fit/predict "
            "once with data.")
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    names = model.input_names
    return [SymbolicTensor(model, None, i, shp, f"{names[i]}:0")
            for i, shp in enumerate(shapes)]


def layer_output(model, layer):
    """The output tensor of ``layer`` inside ``model``."""
    if not model.built or not layer.built:
        raise AttributeError(
            f"Layer '{layer.name}' has not been built yet, so its output is not defined. Build "
            "the model first: give its first layer an input_shape=(...), or call fit/predict "
            "once with data.")
    return SymbolicTensor(model, layer, 0, layer.output_shape, f"{layer.name}/output:0")


def layer_input(model, layer):
    """The input tensor of ``layer`` inside ``model`` (the previous layer's output)."""
    for i, l in enumerate(model.layers):
        if l is layer:
            if i == 0:
                ins = model_inputs(model)
                return ins if len(ins) > 1 else ins[0]
            return layer_output(model, model.layers[i - 1])
    raise AttributeError(f"Layer '{layer.name}' is not connected: it is not part of model "
                         f"'{model.name}' any more, so it has no input.")


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return list(value), True
    return [value], False


def _check_symbolic(t, what):
    if not isinstance(t, SymbolicTensor):
        raise TypeError(
            f"{what} must be symbolic tensors of a model, such as model.input or "
            f"model.layers[i].output. Received: {t!r} of type {type(t).__name__}")


def _names(value):
    items, is_list = _as_list(value)
    names = [getattr(t, "name", repr(t)) for t in items]
    return repr(names) if is_list else repr(names[0])


def run_to(model, arrays, depths, training):
    """Run ``model`` on ``arrays`` (its input arrays) and return {depth: host array} for
    every requested depth (0 = the input, k = the output of layers[k-1])."""
    xs, _, _, _ = model._prepare(arrays if len(arrays) > 1 else arrays[0], None,
                                 need_y=False)
    top = max(depths)
    out = {}
    with ad.no_grad():
        tensors = [ad.Tensor(dispatch.to_device(a)) for a in xs]
        h, mask = (tensors if len(tensors) > 1 else tensors[0]), None
        if 0 in depths:
            out[0] = [dispatch.to_host(t.data) for t in tensors]
        for i, layer in enumerate(model.layers[:top]):
            y = layer(h, training=training, mask=mask)
            mask = layer.compute_mask(h, mask)
            h = y
            if i + 1 in depths:
                out[i + 1] = numpy.asarray(dispatch.to_host(h.data))
    return out


class KerasFunction:
    """What ``K.function(inputs, outputs)`` returns: call it with a list of arrays (one per
    input, in the order given) and it returns a list of NumPy arrays (one per output).

    The inputs must be all the inputs of one model, optionally followed (or preceded) by
    ``K.learning_phase()``, whose value in the call (0 or 1) runs the layers in inference
    or training mode (dropout active); without it the layers run in inference mode.
    """

    def __init__(self, inputs, outputs, name=None):
        from ..backend.functions import LearningPhase
        ins, _ = _as_list(inputs)
        outs, _ = _as_list(outputs)
        if not outs:
            raise ValueError("K.function needs at least one output tensor. Received: outputs=[]")
        self._phase_pos = None
        data_ins = []
        for pos, t in enumerate(ins):
            if isinstance(t, LearningPhase):
                if self._phase_pos is not None:
                    raise ValueError("K.learning_phase() appears twice in the inputs of "
                                     "K.function; give it once.")
                self._phase_pos = pos
                continue
            _check_symbolic(t, "The inputs of K.function")
            data_ins.append(t)
        for t in outs:
            _check_symbolic(t, "The outputs of K.function")
        model = outs[0].model
        for t in outs + data_ins:
            if t.model is not model:
                raise ValueError(
                    f"K.function: every tensor must belong to the same model; "
                    f"'{t.name}' belongs to model '{t.model.name}' but '{outs[0].name}' to "
                    f"model '{model.name}'. (The layers of a Merge branch belong to the "
                    "branch model: evaluate them through that branch.)")
        expected = model_inputs(model)
        given = [(t.layer, t.index) for t in data_ins]
        if any(layer is not None for layer, _ in given) or \
                sorted(i for _, i in given) != list(range(len(expected))) or \
                len(given) != len(expected):
            raise ValueError(
                f"K.function takes the model's input tensors as inputs (model "
                f"'{model.name}' has {len(expected)}: {[e.name for e in expected]}), plus "
                f"optionally K.learning_phase(); a layer's output cannot be fed in its "
                f"place. Received: inputs={[t.name for t in data_ins]}")
        for t in outs:
            t.depth()                        # the layer must still be in the model
        self.model = model
        self.inputs = ins
        self.outputs = outs
        self._order = [i for _, i in given]
        self.name = name

    def __call__(self, inputs):
        ins, _ = _as_list(inputs)
        if len(ins) != len(self.inputs):
            raise ValueError(f"This function takes {len(self.inputs)} input value(s), one per "
                             f"input tensor it was made with. Received: {len(ins)} value(s)")
        training = False
        arrays = [None] * len(self._order)
        k = 0
        for pos, value in enumerate(ins):
            if pos == self._phase_pos:
                phase = value.item() if hasattr(value, "item") else value
                if phase not in (0, 1):
                    raise ValueError("The learning phase must be 0 (inference) or 1 "
                                     f"(training). Received: {value!r}")
                training = bool(phase)
                continue
            arrays[self._order[k]] = value
            k += 1
        depths = [t.depth() for t in self.outputs]
        values = run_to(self.model, arrays, set(depths), training)
        result = []
        for t, d in zip(self.outputs, depths):
            v = values[d]
            result.append(v[t.index] if d == 0 else v)
        return result


def submodel(inputs=None, outputs=None, name=None, **kwargs):
    """``Model(inputs=model.input, outputs=layer.output)``: a Sequential model made of the
    layers of ``model`` up to that layer, sharing their weights (training one trains the
    other). Keras 1's ``input=`` / ``output=`` spellings are accepted too."""
    from ..models import Sequential
    if "input" in kwargs or "output" in kwargs:
        if inputs is not None or outputs is not None:
            raise TypeError("Give either inputs=/outputs= or the Keras 1 input=/output=, not "
                            "both.")
        inputs, outputs = kwargs.pop("input", None), kwargs.pop("output", None)
        warnings.warn("Update your `Model` call to the Keras 2 API: "
                      f"`Model(inputs={_names(inputs)}, outputs={_names(outputs)})`",
                      UserWarning, stacklevel=3)
    if kwargs:
        raise TypeError(f"Model() got unexpected keyword argument(s) {sorted(kwargs)}. "
                        "Expected inputs=, outputs= and name=.")
    if inputs is None or outputs is None:
        raise TypeError(
            "gpuseq builds models with Sequential; Model(inputs=..., outputs=...) takes the "
            "input of a Sequential model and one of its layers' outputs, e.g. "
            "Model(inputs=model.input, outputs=model.get_layer('dense_1').output). "
            f"Received: inputs={inputs!r}, outputs={outputs!r}")
    outs, _ = _as_list(outputs)
    if len(outs) != 1:
        raise ValueError(
            "Model(inputs=..., outputs=...) makes a model with one output here. For several "
            "layer outputs at once use K.function([model.input], [l.output for l in "
            f"model.layers]). Received: {len(outs)} outputs")
    fn = KerasFunction(inputs, outs)     # checks that inputs are the model's inputs
    if fn._phase_pos is not None:
        raise ValueError("Model() inputs are the model's input tensors only; "
                         "K.learning_phase() belongs in K.function.")
    depth = outs[0].depth()
    if depth == 0:
        raise ValueError("The output of Model() must be a layer's output, not the model's "
                         f"input. Received: outputs={outs[0].name!r}")
    source = fn.model
    model = Sequential(name=name)
    for layer in source.layers[:depth]:
        model.layers.append(layer)
    model.build(source.input_shape)
    return model
