"""Embedding: turns positive integer indices into dense vectors of fixed size."""
from .. import backend as K
from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from ..legacy import Keras1Arguments, keras1_arguments, warn_user
from .base import Layer, validate_positive_int, validate_bool


def _dropout_ignored(cls_name, value):
    """Keras 1's ``Embedding(dropout=...)``, which Keras 2 removed: ignored, with a note."""
    warn_user(f"The `dropout` argument is no longer supported in `{cls_name}` "
              "(Keras 2 removed it) and is ignored. Add a SpatialDropout1D or "
              f"Dropout layer right after the {cls_name} instead.")


_EMBEDDING_KERAS1 = Keras1Arguments(
    renames={"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
             "W_constraint": "embeddings_constraint"},
    positional=("input_dim", "output_dim"),
    removed={"dropout": _dropout_ignored})


@keras1_arguments(_EMBEDDING_KERAS1)


class Embedding(Layer):
    """Turns integer indices into dense vectors: ``[[4], [20]] -> [[0.25, 0.1], [0.6, -0.2]]``.

    Only as the first layer of a model (its input is token ids).

    Args:
        input_dim: positive integer, size of the vocabulary (largest index + 1).
        output_dim: positive integer, size of each embedding vector.
        embeddings_initializer: default 'uniform' (U(-0.05, 0.05)).
        embeddings_regularizer, activity_regularizer, embeddings_constraint.
        mask_zero: treat index 0 as padding: the layer outputs a mask that the
            recurrent layers after it use to skip those steps (index 0 must then
            not be a real token, so input_dim should be vocabulary size + 1).
        input_length: length of the input sequences when it is constant (an int,
            or a tuple for several axes). Needed when a Flatten and Dense follow.
            Without it the model accepts any length: input shape (batch, None).
        Keras 1 names ``init``, ``W_regularizer``, ``W_constraint`` are converted;
        Keras 1's ``dropout`` was removed in Keras 2 and is ignored with a warning
        (put ``SpatialDropout1D`` / ``Dropout`` after the layer instead).

    Input shape: ``(batch, sequence_length)`` integers (any integer or integral float dtype).
    Output shape: ``(batch, sequence_length, output_dim)``.

    Example:
        >>> model = Sequential()
        >>> model.add(Embedding(1000, 64, input_length=10))
        >>> model.output_shape
        (None, 10, 64)
    """

    def __init__(self, input_dim=None, output_dim=None, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        if input_dim is None or output_dim is None:
            raise TypeError("Embedding requires `input_dim` (the vocabulary size) and "
                            "`output_dim` (the vector size), e.g. Embedding(1000, 64).")
        if input_length is not None:
            lens = input_length if isinstance(input_length, (tuple, list)) else (input_length,)
            for v in lens:
                if v is not None:
                    validate_positive_int("Embedding", "input_length", v)
            input_length = tuple(None if v is None else int(v) for v in lens) \
                if isinstance(input_length, (tuple, list)) else int(input_length)
        if "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = input_length if isinstance(input_length, tuple) else \
                (input_length,)
        super().__init__(**kwargs)
        self.input_dim = validate_positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = validate_positive_int("Embedding", "output_dim", output_dim)
        self.input_length = input_length
        self.embeddings_initializer = initializers_mod.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers_mod.get(embeddings_regularizer)
        self.activity_regularizer = regularizers_mod.get(activity_regularizer)
        self.embeddings_constraint = constraints_mod.get(embeddings_constraint)
        self.mask_zero = validate_bool(type(self).__name__, "mask_zero", mask_zero)

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return K.not_equal(inputs, 0).data

    def call(self, inputs, training=False):
        self._check_length(inputs.shape)
        return K.embedding_lookup(self.embeddings, inputs)

    def _check_length(self, shape):
        if self.input_length is not None:
            want = self.input_length if isinstance(self.input_length, tuple) else \
                (self.input_length,)
            got = tuple(shape[1:])
            if len(got) != len(want) or any(w is not None and w != g
                                            for w, g in zip(want, got)):
                raise ValueError(
                    f"Layer '{self.name}' (Embedding) was given input_length={self.input_length}"
                    f", but received input of shape {tuple(shape)}. Pad or cut the "
                    "sequences to that length, or leave input_length out.")

    def graph_ineligibility(self, first):
        if not first:
            return (f"layer '{self.name}' (Embedding) is not the model's first layer: its "
                    "indices could only be checked inside the step")
        return super().graph_ineligibility(first)

    def check_graph_inputs(self, inputs):
        """Range-check a batch's indices before a replayed step (the eager lookup's
        check and error)."""
        K.check_embedding_indices(inputs, self.input_dim)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            **self.weight_options_config("embeddings"),
            "mask_zero": self.mask_zero,
            "input_length": self.input_length,
        })
        return cfg

