"""Training machinery behind the models: data checks, compile resolution, loops.

Keras 2's ``keras.engine`` names are here too: ``from gpuseq.engine import Layer,
InputSpec`` (and ``Input``, ``InputLayer``, ``Model``). They load on first use, because
the backend imports this package's submodules while the layers are still loading.
"""
import importlib

_KERAS_NAMES = {
    "Layer": "gpuseq.layers.base",
    "InputSpec": "gpuseq.layers.input_spec",
    "Input": "gpuseq.layers.input_layer",
    "InputLayer": "gpuseq.layers.input_layer",
    "Model": "gpuseq.engine.training",
}


def __getattr__(name):
    if name in _KERAS_NAMES:
        return getattr(importlib.import_module(_KERAS_NAMES[name]), name)
    raise AttributeError("module 'gpuseq.engine' has no attribute %r" % (name,))


def __dir__():
    return sorted(list(globals()) + list(_KERAS_NAMES))
