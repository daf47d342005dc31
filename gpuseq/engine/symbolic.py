"""The engine's side of symbolic tensors: running a model up to one of its places
(registered as the evaluator of ``K.function``), and ``Model(inputs=..., outputs=...)``.

The handles themselves (:class:`SymbolicTensor`, ``model.input``, ``layer.output``) and
``K.function`` live on the backend floor, in :mod:`gpuseq.backend.symbolic`; see there
for the Keras FAQ idioms they serve::

    from gpuseq.models import Model
    intermediate = Model(inputs=model.input, outputs=model.get_layer('dense_1').output)
    features = intermediate.predict(x)
"""
import warnings

import numpy

from ..backend import autodiff as ad
from ..backend import dispatch
from ..backend import symbolic as handles
from ..backend.symbolic import (Function, SymbolicTensor, as_list, layer_input,  # noqa: F401
                                layer_output, model_inputs, tensor_names)


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


handles.set_evaluator(run_to)


def submodel(inputs=None, outputs=None, name=None, **kwargs):
    """``Model(inputs=model.input, outputs=layer.output)``: a model of the source model's
    class (Sequential) made of its layers up to that layer, sharing their weights
    (training one trains the other). Keras 1's ``input=`` / ``output=`` spellings are
    accepted too."""
    if "input" in kwargs or "output" in kwargs:
        if inputs is not None or outputs is not None:
            raise TypeError("Give either inputs=/outputs= or the Keras 1 input=/output=, not "
                            "both.")
        inputs, outputs = kwargs.pop("input", None), kwargs.pop("output", None)
        warnings.warn("Update your `Model` call to the Keras 2 API: "
                      f"`Model(inputs={tensor_names(inputs)}, "
                      f"outputs={tensor_names(outputs)})`",
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
    outs, _ = as_list(outputs)
    if len(outs) != 1:
        raise ValueError(
            "Model(inputs=..., outputs=...) makes a model with one output here. For several "
            "layer outputs at once use K.function([model.input], [l.output for l in "
            f"model.layers]). Received: {len(outs)} outputs")
    fn = Function(inputs, outs)     # checks that inputs are the model's inputs
    if fn.takes_learning_phase:
        raise ValueError("Model() inputs are the model's input tensors only; "
                         "K.learning_phase() belongs in K.function.")
    depth = outs[0].depth()
    if depth == 0:
        raise ValueError("The output of Model() must be a layer's output, not the model's "
                         f"input. Received: outputs={outs[0].name!r}")
    source = fn.model
    model = type(source)(name=name)     # the source model's own class, e.g. Sequential
    for layer in source.layers[:depth]:
        model.layers.append(layer)
    model.build(source.input_shape)
    return model
