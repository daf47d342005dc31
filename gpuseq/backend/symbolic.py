"""Symbolic tensors: handles on the places of a model's layer stack, and ``K.function``.

gpuseq runs define-by-run (no graph is built ahead of time), but Keras 2 code reaches
into a model through its symbolic tensors, as in the Keras FAQ "How can I obtain the
output of an intermediate layer?"::

    from gpuseq import backend as K
    get_3rd_layer_output = K.function([model.layers[0].input], [model.layers[3].output])
    layer_output = get_3rd_layer_output([x])[0]

``model.input`` / ``layer.output`` return a :class:`SymbolicTensor`: a handle that names
a place in the layer stack (the model's input, or the output of one layer) and knows
its shape, but holds no data. The handles and :class:`Function` (what ``K.function``
returns) only read the model's ``layers``, ``built``, ``input_shape`` and
``input_names``, so they live here on the backend floor, below the layers that hand
them out.

Running a model up to a place is the engine's work: :mod:`gpuseq.engine.symbolic`
registers that evaluator with :func:`set_evaluator` when it is imported (``import
gpuseq`` always imports it), and :class:`Function` calls it.
"""


class LearningPhase(int):
    """The learning phase, an int (0 or 1) that ``K.function`` also accepts among its
    inputs: ``K.function([model.input, K.learning_phase()], [out])([x, 1])`` runs the
    layers in training mode (dropout active)."""

    def __repr__(self):
        return f"<learning_phase={int(self)}>"


_evaluator = {"run": None}


def set_evaluator(run):
    """Register the function that runs a model up to some of its places.

    Args:
        run: ``run(model, arrays, depths, training) -> {depth: host array}`` with
            ``arrays`` the model's input arrays, ``depths`` a set of places (0 = the
            input, k = the output of ``model.layers[k-1]``) and ``training`` a bool.
            :func:`gpuseq.engine.symbolic.run_to` is the one gpuseq registers.
    """
    if not callable(run):
        raise TypeError(f"set_evaluator takes a callable. Received: run={run!r}")
    _evaluator["run"] = run


def _evaluate(model, arrays, depths, training):
    run = _evaluator["run"]
    if run is None:
        raise RuntimeError("No evaluator of symbolic tensors is registered: import "
                           "gpuseq.engine (`import gpuseq` does) before calling a K.function.")
    return run(model, arrays, depths, training)


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


def as_list(value):
    """``(items, was_a_list)``: a list or tuple as a list, anything else as ``[value]``."""
    if isinstance(value, (list, tuple)):
        return list(value), True
    return [value], False


def _check_symbolic(t, what):
    if not isinstance(t, SymbolicTensor):
        raise TypeError(
            f"{what} must be symbolic tensors of a model, such as model.input or "
            f"model.layers[i].output. Received: {t!r} of type {type(t).__name__}")


def tensor_names(value):
    """The ``name`` of a tensor, or the list of names of a list of tensors, as text."""
    items, is_list = as_list(value)
    names = [getattr(t, "name", repr(t)) for t in items]
    return repr(names) if is_list else repr(names[0])


class Function:
    """What ``K.function(inputs, outputs)`` returns: call it with a list of arrays (one per
    input, in the order given) and it returns a list of NumPy arrays (one per output).

    The inputs must be all the inputs of one model, optionally followed (or preceded) by
    ``K.learning_phase()``, whose value in the call (0 or 1) runs the layers in inference
    or training mode (dropout active); without it the layers run in inference mode.
    """

    def __init__(self, inputs, outputs, name=None):
        ins, _ = as_list(inputs)
        outs, _ = as_list(outputs)
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

    @property
    def takes_learning_phase(self):
        """True when ``K.learning_phase()`` is among the inputs."""
        return self._phase_pos is not None

    def __call__(self, inputs):
        ins, _ = as_list(inputs)
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
        values = _evaluate(self.model, arrays, set(depths), training)
        result = []
        for t, d in zip(self.outputs, depths):
            v = values[d]
            result.append(v[t.index] if d == 0 else v)
        return result
