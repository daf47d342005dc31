"""Core layers: Dense, Activation, Dropout, SpatialDropout1D/2D, Flatten, Reshape,
Permute, RepeatVector, Lambda, ActivityRegularization, Masking."""
import numpy

from .. import activations as activations_mod
from .. import backend as K
from .. import constraints as constraints_mod
from .. import initializers as initializers_mod
from .. import regularizers as regularizers_mod
from ..legacy import DIM_ORDERING, Keras1Arguments, keras1_arguments
from . import function_code
from .base import Layer, validate_bool, validate_positive_int, validate_rate
from .noise import random_uniform
from .serialization import normalize_layer_config


def fused_activation_kind(activation):
    """The kind of an activation that a fused op can apply after its GEMM (an
    elementwise one), or None (softmax and user callables run after the op)."""
    kind = getattr(activation, "kind", None)
    return None if kind == "softmax" else kind


_DENSE_KERAS1 = Keras1Arguments(
    renames={"output_dim": "units", "init": "kernel_initializer",
             "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
             "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
             "bias": "use_bias"},
    positional=("units",))

_DROPOUT_KERAS1 = Keras1Arguments(renames={"p": "rate"})

_SPATIAL_DROPOUT_2D_KERAS1 = Keras1Arguments(
    renames={"p": "rate", "dim_ordering": "data_format"},
    values={"dim_ordering": DIM_ORDERING})


@keras1_arguments(_DENSE_KERAS1)
class Dense(Layer):
    """Densely connected layer: ``output = activation(dot(input, kernel) + bias)``.

    Args:
        units: positive integer, size of the output.
        activation: name or callable (None = linear).
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or objects.
        kernel_regularizer, bias_regularizer, activity_regularizer: regularizers.
        kernel_constraint, bias_constraint: constraints.
        Keras 1 names (``output_dim``, ``init``, ``W_regularizer``, ``b_regularizer``,
        ``W_constraint``, ``b_constraint``, ``bias``) are accepted and converted.

    Input shape: ``(batch, ..., input_dim)``.
    Output shape: ``(batch, ..., units)``.

    Example:
        >>> model = Sequential([Dense(32, input_dim=784, activation='relu')])
    """

    def __init__(self, units=None, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if units is None:
            raise TypeError("Dense requires `units` (the output size), e.g. Dense(64).")
        self.units = validate_positive_int("Dense", "units", units)
        self.activation = activations_mod.get(activation)
        self.use_bias = validate_bool(type(self).__name__, "use_bias", use_bias)
        self.kernel_initializer = initializers_mod.get(kernel_initializer)
        self.bias_initializer = initializers_mod.get(bias_initializer)
        self.kernel_regularizer = regularizers_mod.get(kernel_regularizer)
        self.bias_regularizer = regularizers_mod.get(bias_regularizer)
        self.activity_regularizer = regularizers_mod.get(activity_regularizer)
        self.kernel_constraint = constraints_mod.get(kernel_constraint)
        self.bias_constraint = constraints_mod.get(bias_constraint)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Layer '{self.name}' (Dense) needs inputs with a known last axis, but received "
                f"input of shape {input_shape}. Give the first layer an input_shape.")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                    self.bias_regularizer, constraint=self.bias_constraint) \
            if self.use_bias else None
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def pre_activation(self, inputs):
        """dot(input, kernel) + bias, before the activation (for fused losses)."""
        return K.dense(inputs, self.kernel, self.bias)

    def call(self, inputs, training=False):
        kind = fused_activation_kind(self.activation)
        if kind is None:
            return self.activation(self.pre_activation(inputs))
        return K.dense(inputs, self.kernel, self.bias, activation=kind)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({
            "units": self.units,
            "activation": activations_mod.serialize(self.activation),
            "use_bias": self.use_bias,
            **self.weight_options_config("kernel", "bias"),
        })
        return cfg


class Activation(Layer):
    """Applies an activation function to its input.

    Args:
        activation: name (``'relu'``, ``'softmax'``, ...) or callable.

    Input shape: any. Output shape: same as input.
    """

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_mod.get(activation)

    def pre_activation(self, inputs):
        return inputs

    def call(self, inputs, training=False):
        return self.activation(inputs)

    def get_config(self):
        cfg = super().get_config()
        cfg["activation"] = activations_mod.serialize(self.activation)
        return cfg


@keras1_arguments(_DROPOUT_KERAS1)
class Dropout(Layer):
    """Inverted dropout: during training, zero a fraction ``rate`` of the inputs and
    scale the rest by 1/(1-rate); identity at inference.

    Args:
        rate: float in [0, 1). Keras 1's ``p`` is accepted.
        noise_shape: shape of the binary mask (None = input shape; 1 = broadcast axis).
        seed: optional integer seed.

    Input shape: any. Output shape: same as input.
    """

    supports_masking = True

    _graph_hyper = ("rate",)

    def graph_ineligibility(self, first):
        if self._rng is not None:
            return (f"layer '{self.name}' draws its random numbers from its own seeded "
                    "host generator")
        return super().graph_ineligibility(first)

    def __init__(self, rate=None, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if rate is None:
            raise TypeError("Dropout requires `rate`, the fraction of inputs to drop, "
                            "e.g. Dropout(0.5).")
        self.rate = validate_rate("Dropout", "rate", rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None

    def _noise_shape(self, inputs):
        if self.noise_shape is None:
            return tuple(inputs.shape)
        return tuple(inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape))

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        u = random_uniform(self._noise_shape(inputs), inputs.dtype, self._rng)
        return inputs * K.dropout_mask(u, self.rate)

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return cfg


class SpatialDropout1D(Dropout):
    """Dropout of whole feature maps of a sequence: one mask value per (sample, channel)
    for every time step (adjacent steps are strongly correlated, so element-wise dropout
    regularises little).

    Args:
        rate: fraction of channels to drop, in [0, 1).

    Input shape: ``(batch, timesteps, channels)``. Output shape: same.
    """

    def __init__(self, rate=None, **kwargs):
        super().__init__(rate, **kwargs)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Layer '{self.name}' (SpatialDropout1D) expects inputs of shape "
                             f"(batch, timesteps, channels). Received: {tuple(input_shape)}")
        self.built = True

    def _noise_shape(self, inputs):
        return (inputs.shape[0], 1, inputs.shape[2])

    def get_config(self):
        return _spatial_config(self)


@keras1_arguments(_SPATIAL_DROPOUT_2D_KERAS1)
class SpatialDropout2D(Dropout):
    """Dropout of whole 2-D feature maps: one mask value per (sample, channel).

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: 'channels_last' (default) or 'channels_first'.
        Keras 1's ``p`` and ``dim_ordering`` are accepted and converted.

    Input shape: 4D, ``(batch, rows, cols, channels)`` or channels first. Output: same.
    """

    def __init__(self, rate=None, data_format=None, **kwargs):
        super().__init__(rate, **kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError("SpatialDropout2D: data_format must be 'channels_last' or "
                             f"'channels_first'. Received: data_format={data_format!r}")
        self.data_format = data_format or K.image_data_format()

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"Layer '{self.name}' (SpatialDropout2D) expects 4D inputs. "
                             f"Received: {tuple(input_shape)}")
        self.built = True

    def _noise_shape(self, inputs):
        n = inputs.shape[0]
        if self.data_format == "channels_first":
            return (n, inputs.shape[1], 1, 1)
        return (n, 1, 1, inputs.shape[3])

    def get_config(self):
        cfg = _spatial_config(self)
        cfg["data_format"] = self.data_format
        return cfg


def _spatial_config(layer):
    """The entries every Keras version's SpatialDropout accepts (Keras 3 refuses
    ``trainable`` and ``noise_shape`` there)."""
    cfg = {"name": layer.name, "dtype": layer.dtype, "rate": layer.rate, "seed": layer.seed}
    if layer.batch_input_shape is not None:
        cfg["batch_input_shape"] = tuple(layer.batch_input_shape)
    return cfg


class Flatten(Layer):
    """Flattens every sample: (batch, d1, d2, ...) -> (batch, d1*d2*...).

    Args:
        data_format: 'channels_last' (default) or 'channels_first'; with
            channels_first the input is first moved to channels_last order,
            as Keras does, so that a following Dense sees the same order.
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError("Flatten: data_format must be 'channels_last' or 'channels_first'. "
                             f"Received: data_format={data_format!r}")
        self.data_format = data_format or K.image_data_format()

    def build(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Layer '{self.name}' (Flatten) needs inputs with at least one "
                             f"axis besides the batch. Received input shape {input_shape}.")
        self.built = True

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], None)
        return (input_shape[0], int(numpy.prod(rest)))

    def call(self, inputs, training=False):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = K.permute_dimensions(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return K.batch_flatten(inputs)

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = self.data_format
        return cfg


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one dimension may be -1).

    Input shape: any with a known number of elements per sample.
    Output shape: ``(batch,) + target_shape``.
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            self.target_shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError("Reshape: `target_shape` must be a tuple of integers. "
                             f"Received: target_shape={target_shape!r}") from None
        if sum(1 for d in self.target_shape if d == -1) > 1 or any(
                d == 0 or d < -1 for d in self.target_shape):
            raise ValueError("Reshape: `target_shape` may hold one -1 and otherwise positive "
                             f"integers. Received: target_shape={target_shape!r}")

    def _resolve(self, input_shape):
        n = input_shape[1:]
        if any(d is None for d in n):      # the -1 is known only once the data is
            return tuple(None if d == -1 else d for d in self.target_shape)
        total = int(numpy.prod(n))
        known = int(numpy.prod([d for d in self.target_shape if d != -1]))
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(self._err(input_shape))
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if known != total:
            raise ValueError(self._err(input_shape))
        return self.target_shape

    def _err(self, input_shape):
        return (f"Layer '{self.name}' (Reshape): total size of the new shape "
                f"{self.target_shape} must equal the size of each input sample; input shape "
                f"is {input_shape}. Choose a target_shape with the same number of elements. "
                f"Received: input_shape={tuple(input_shape)}")

    def build(self, input_shape):
        self._resolve(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def call(self, inputs, training=False):
        shape = tuple(inputs.shape)
        return K.reshape(inputs, (shape[0],) + self._resolve(shape))

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = self.target_shape
        return cfg


class Permute(Layer):
    """Permutes the non-batch axes; ``dims`` is 1-indexed, e.g. (2, 1) swaps them."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Permute: `dims` must be a permutation of 1..n (1-indexed axes). "
                             f"Received: dims={dims!r}")

    def build(self, input_shape):
        if len(input_shape) - 1 != len(self.dims):
            raise ValueError(f"Layer '{self.name}' (Permute): dims {self.dims} do not match "
                             f"the input's {len(input_shape) - 1} non-batch axes "
                             f"(input shape {input_shape}).")
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs, training=False):
        return K.permute_dimensions(inputs, (0,) + self.dims)

    def get_config(self):
        cfg = super().get_config()
        cfg["dims"] = self.dims
        return cfg


class RepeatVector(Layer):
    """Repeats the input n times: (batch, features) -> (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = validate_positive_int("RepeatVector", "n", n)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"Layer '{self.name}' (RepeatVector) expects 2-D input "
                             f"(batch, features). Received input shape {input_shape}.")
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=False):
        return K.repeat(inputs, self.n)

    def get_config(self):
        cfg = super().get_config()
        cfg["n"] = self.n
        return cfg


class Lambda(Layer):
    """Wraps an expression built from ``gpuseq.backend`` functions as a layer.

    Args:
        function: callable ``f(x)`` (or ``f(x, **arguments)``) on Tensors.
        output_shape: shape of one output sample, or a callable
            ``f(input_shape) -> output_shape`` (with batch). Default: inferred by
            running the function on a zero batch of one sample when built.
        arguments: extra keyword arguments for ``function``.

    Example:
        >>> model.add(Lambda(lambda x: x ** 2))
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda expects a callable. Received: function={function!r}")
        self.function = function
        self._output_shape = output_shape
        self.arguments = arguments or {}

    def call(self, inputs, training=False):
        return K.convert_to_tensor(self.function(inputs, **self.arguments), like=inputs)

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            if any(d is None for d in input_shape[1:]):
                return input_shape
            probe = K.constant(0.0, shape=(1,) + tuple(input_shape[1:]))
            with K.no_grad():
                out = self.call(probe)
            return (input_shape[0],) + tuple(out.shape[1:])
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        return (input_shape[0],) + tuple(self._output_shape)

    def get_config(self):
        """Keras 2's config: a lambda, nested function or closure (as ``function`` or a
        callable ``output_shape``) is stored as bytecode (``function_type='lambda'``,
        see :mod:`gpuseq.layers.function_code`); a module-level function by name."""
        cfg = super().get_config()
        function, function_type = _function_entry(self.function)
        cfg.update({"function": function, "module": getattr(self.function, "__module__", None),
                    "function_type": function_type})
        shape, shape_module = self._output_shape, None
        if callable(shape):
            shape_module = getattr(shape, "__module__", None)
            shape, shape_type = _function_entry(shape)
        else:
            shape_type = "raw"
        cfg.update({"output_shape": shape, "output_shape_type": shape_type,
                    "output_shape_module": shape_module, "arguments": self.arguments})
        return cfg

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=None):
        """A Lambda from its config (gpuseq's, Keras 2's or Keras 3's).

        A function saved by name is looked up in ``custom_objects`` (e.g.
        ``custom_objects={'square': square}``); one saved as bytecode is loaded only
        with ``safe_mode=False`` (or after
        ``gpuseq.config.enable_unsafe_deserialization()``), unless
        ``custom_objects={'<layer name>': function}`` provides it. ``safe_mode=None``
        keeps the setting of the loader that called this (safe by default).
        """
        with function_code.safe_mode_scope(safe_mode):
            return cls(**normalize_layer_config("Lambda", config, custom_objects))


def _function_entry(fn):
    """(config value, type) of a callable in a Lambda config, as Keras 2 wrote it."""
    if function_code.stored_as_code(fn):
        return function_code.dump_function(fn), "lambda"
    return getattr(fn, "__name__", type(fn).__name__), "function"


class ActivityRegularization(Layer):
    """Identity that adds ``l1*sum(|x|) + l2*sum(x^2)`` of its input to the training loss."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)
        self.activity_regularizer = regularizers_mod.L1L2(l1, l2)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        cfg = super().get_config()
        cfg.update({"l1": self.l1, "l2": self.l2})
        return cfg


class Masking(Layer):
    """Masks time steps whose features all equal ``mask_value`` (for recurrent layers).

    Input shape: (batch, timesteps, features). Output: same, with masked steps zeroed.
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        try:
            self.mask_value = float(mask_value)
        except (TypeError, ValueError):
            raise TypeError("Received an invalid value for `mask_value` of Masking: expected a "
                            f"number (the value that marks padded steps). "
                            f"Received: mask_value={mask_value!r}") from None

    def compute_mask(self, inputs, mask=None):
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1).data

    def call(self, inputs, training=False):
        keep = K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)
        return inputs * K.cast(keep, inputs.dtype)

    def get_config(self):
        cfg = super().get_config()
        cfg["mask_value"] = self.mask_value
        return cfg
