"""Keras 2.2's ``keras.engine.input_layer`` path: `Input` and `InputLayer`."""
from ..layers.input_layer import Input, InputLayer  # noqa: F401
