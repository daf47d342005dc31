"""Keras 2's ``keras.engine.topology`` path: ``from gpuseq.engine.topology import Layer``."""
from ..layers.base import Layer  # noqa: F401
from ..layers.input_layer import Input, InputLayer  # noqa: F401
from ..layers.input_spec import InputSpec  # noqa: F401
