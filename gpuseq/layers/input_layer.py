"""``InputLayer`` / ``Input``: declare a Sequential model's input shape up front.

Both forms Keras users write work::

    model = Sequential()
    model.add(InputLayer(input_shape=(20,)))      # Keras 2
    model.add(Dense(64))

    model = Sequential([Input(shape=(20,)), Dense(64)])   # Keras 3 guides

The InputLayer is not a layer of the model (as in Keras 2, ``model.layers`` and
``summary()`` start with the first real layer): it hands its shape to the layer added
after it, which then builds at once.
"""
from .base import Layer


class InputLayer(Layer):
    """The input of a Sequential model.

    Args:
        input_shape: the shape of one sample (no batch axis), e.g. ``(20,)``.
        batch_size: a fixed batch size (stateful recurrent models), or None.
        batch_input_shape: the full shape, batch axis first (alternative to the two
            arguments above).
        dtype, name: as for any layer.
        shape: Keras 3's name for ``input_shape``.
    """

    def __init__(self, input_shape=None, batch_size=None, dtype=None, batch_input_shape=None,
                 name=None, shape=None, **kwargs):
        if shape is not None:
            if input_shape is not None:
                raise TypeError("InputLayer: give either shape= or input_shape=, not both.")
            input_shape = shape
        if "batch_shape" in kwargs:                  # Keras 3 spelling
            batch_input_shape = kwargs.pop("batch_shape")
        for k in ("sparse", "ragged", "input_tensor"):
            if kwargs.pop(k, None):
                raise ValueError(f"InputLayer: `{k}` inputs are not supported by gpuseq; "
                                 "pass dense NumPy arrays.")
        if kwargs:
            raise TypeError(f"InputLayer got unexpected keyword argument(s) {sorted(kwargs)}. "
                            "Expected input_shape (or shape), batch_size, batch_input_shape, "
                            "dtype, name.")
        if input_shape is None and batch_input_shape is None:
            raise ValueError("InputLayer needs the shape of one sample: input_shape=(...) (or "
                             "batch_input_shape=(batch, ...)).")
        super().__init__(input_shape=input_shape, batch_size=batch_size, dtype=dtype,
                         batch_input_shape=batch_input_shape, name=name)

    def get_config(self):
        return {"batch_input_shape": tuple(self.batch_input_shape), "dtype": self.dtype,
                "name": self.name}


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None,  # noqa: N802
          **kwargs):
    """``Input(shape=(20,))``: an :class:`InputLayer` to put first in a Sequential model
    (Keras 3's ``Sequential([keras.Input(shape=...), ...])``; Keras 1's ``batch_shape``
    too). gpuseq builds Sequential models only, so this is not a symbolic tensor for the
    functional API.

    Example:
        >>> model = Sequential([Input(shape=(784,)), Dense(10, activation='softmax')])
    """
    return InputLayer(input_shape=shape, batch_size=batch_size, name=name, dtype=dtype,
                      batch_input_shape=batch_shape, **kwargs)
