"""Training machinery behind the models: data checks, compile resolution, loops.

Keras 2's ``keras.engine`` names are here too: ``from gpuseq.engine import Layer,
InputSpec`` (and ``Input``, ``InputLayer``, ``Model``).
"""
from ..layers.base import Layer  # noqa: F401
from ..layers.input_layer import Input, InputLayer  # noqa: F401
from ..layers.input_spec import InputSpec  # noqa: F401
from . import symbolic  # noqa: F401  (registers the evaluator behind K.function)
from .training import Model  # noqa: F401
