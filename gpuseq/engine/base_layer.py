"""Keras 2.2's ``keras.engine.base_layer`` path: `Layer` and `InputSpec`."""
from ..layers.base import Layer  # noqa: F401
from ..layers.input_spec import InputSpec  # noqa: F401
