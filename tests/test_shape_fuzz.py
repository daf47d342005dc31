"""Property-based fuzzing of shape inference.

Hypothesis draws random Sequential stacks of gpuseq's layers, with random (valid and
invalid) arguments and input shapes. For every stack, each layer is either refused by its
constructor or by ``add()`` with the documented ``ValueError``/``TypeError``, or accepted;
for the accepted prefix, ``model.output_shape`` (the chain of ``compute_output_shape``)
must equal the shape ``predict`` returns, and every layer's inferred output shape must equal
the shape of that layer's output. No other exception type may escape.

The default run uses a fixed, derandomized example budget (a few seconds); the ``slow``
run draws many more stacks.
"""
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from gpuseq import backend as K  # noqa: E402
from gpuseq import layers as L  # noqa: E402
from gpuseq.models import Sequential  # noqa: E402

DOCUMENTED = (ValueError, TypeError)

# Mostly valid values, with invalid ones (zero, negative) often enough to be tried.
ints = st.one_of(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(-2, 0))
small = st.integers(1, 4)
rates = st.sampled_from([0.0, 0.3, 0.99, 1.0, -0.1, 1.5])
paddings = st.sampled_from(["valid", "same", "causal", "full"])
formats = st.sampled_from([None, "channels_last", "channels_first", "nhwc"])
activations = st.sampled_from(["relu", "tanh", "softmax", "linear", "sigmoid", "nope"])


def _pair(elements):
    return st.one_of(elements, st.tuples(elements, elements))


# Each entry: a strategy of (description, constructor) pairs.
LAYERS = [
    st.builds(lambda u, a: (f"Dense({u}, {a!r})", lambda **kw: L.Dense(u, activation=a, **kw)),
              ints, activations),
    st.builds(lambda a: (f"Activation({a!r})", lambda **kw: L.Activation(a, **kw)), activations),
    st.builds(lambda r: (f"Dropout({r})", lambda **kw: L.Dropout(r, **kw)), rates),
    st.just(("Flatten()", lambda **kw: L.Flatten(**kw))),
    st.builds(lambda t: (f"Reshape({t})", lambda **kw: L.Reshape(t, **kw)),
              st.lists(st.integers(-1, 6), min_size=1, max_size=3).map(tuple)),
    st.builds(lambda p: (f"Permute({p})", lambda **kw: L.Permute(p, **kw)),
              st.permutations([1, 2]).map(tuple) | st.permutations([1, 2, 3]).map(tuple)),
    st.builds(lambda n: (f"RepeatVector({n})", lambda **kw: L.RepeatVector(n, **kw)), ints),
    st.builds(lambda f, k, s, p, d: (f"Conv1D({f}, {k}, strides={s}, padding={p!r}, "
                                     f"dilation_rate={d})",
                                     lambda **kw: L.Conv1D(f, k, strides=s, padding=p,
                                                          dilation_rate=d, **kw)),
              ints, ints, small, paddings, small),
    st.builds(lambda f, k, s, p, fm: (f"Conv2D({f}, {k}, strides={s}, padding={p!r}, "
                                      f"data_format={fm!r})",
                                      lambda **kw: L.Conv2D(f, k, strides=s, padding=p,
                                                           data_format=fm, **kw)),
              ints, _pair(ints), _pair(small), paddings, formats),
    st.builds(lambda c, ps, s, p: (f"{c.__name__}({ps}, strides={s}, padding={p!r})",
                                   lambda **kw: c(ps, strides=s, padding=p, **kw)),
              st.sampled_from([L.MaxPooling1D, L.AveragePooling1D]), ints,
              st.none() | small, paddings),
    st.builds(lambda c, ps, s, p, fm: (f"{c.__name__}({ps}, strides={s}, padding={p!r}, "
                                       f"data_format={fm!r})",
                                       lambda **kw: c(ps, strides=s, padding=p, data_format=fm,
                                                        **kw)),
              st.sampled_from([L.MaxPooling2D, L.AveragePooling2D]), _pair(ints),
              st.none() | _pair(small), paddings, formats),
    st.builds(lambda c: (f"{c.__name__}()", lambda **kw: c(**kw)),
              st.sampled_from([L.GlobalMaxPooling1D, L.GlobalAveragePooling1D,
                               L.GlobalMaxPooling2D, L.GlobalAveragePooling2D])),
    st.builds(lambda c, p: (f"{c.__name__}({p})", lambda **kw: c(p, **kw)),
              st.sampled_from([L.ZeroPadding1D, L.Cropping1D, L.UpSampling1D]),
              st.integers(-1, 3)),
    st.builds(lambda c, p: (f"{c.__name__}({p})", lambda **kw: c(p, **kw)),
              st.sampled_from([L.ZeroPadding2D, L.Cropping2D, L.UpSampling2D]),
              _pair(st.integers(-1, 3))),
    st.builds(lambda c, u, rs: (f"{c.__name__}({u}, return_sequences={rs})",
                                lambda **kw: c(u, return_sequences=rs, **kw)),
              st.sampled_from([L.SimpleRNN, L.GRU, L.LSTM]), ints, st.booleans()),
    st.builds(lambda u, rs, m: (f"Bidirectional(LSTM({u}, return_sequences={rs}), {m!r})",
                                lambda **kw: L.Bidirectional(L.LSTM(u, return_sequences=rs),
                                                            merge_mode=m, **kw)),
              ints, st.booleans(), st.sampled_from(["concat", "sum", "mul", "ave", "x"])),
    st.builds(lambda u: (f"TimeDistributed(Dense({u}))", lambda **kw: L.TimeDistributed(L.Dense(u), **kw)),
              ints),
    st.builds(lambda a: (f"BatchNormalization(axis={a})", lambda **kw: L.BatchNormalization(axis=a, **kw)),
              st.integers(-4, 4)),
    st.builds(lambda c: (f"{c.__name__}()", lambda **kw: c(**kw)),
              st.sampled_from([L.LeakyReLU, L.ELU, L.PReLU, L.ReLU, L.ThresholdedReLU,
                               L.Softmax, L.Masking])),
    st.builds(lambda r: (f"GaussianNoise({r})", lambda **kw: L.GaussianNoise(r, **kw)), rates),
    st.builds(lambda r: (f"SpatialDropout1D({r})", lambda **kw: L.SpatialDropout1D(r, **kw)), rates),
]

_valid_shapes = st.lists(st.integers(1, 7) | st.none(), min_size=1, max_size=3).map(tuple)
_known_shapes = st.lists(st.integers(1, 7), min_size=1, max_size=3).map(tuple)
_invalid_shapes = st.lists(st.integers(-1, 7), min_size=1, max_size=3).map(tuple)
input_shapes = st.one_of(_known_shapes, _valid_shapes, _known_shapes, _invalid_shapes)
# The size a None dimension of the input shape takes in the batch given to predict.
UNKNOWN = 5
stacks = st.tuples(input_shapes, st.lists(st.one_of(LAYERS), min_size=1, max_size=6))


def _construct(make, first, input_shape):
    """The layer (the first one with ``input_shape``), or None when its constructor
    refused the arguments with a documented exception type."""
    try:
        return make(input_shape=input_shape) if first else make()
    except DOCUMENTED:
        return None


def _concrete(input_shape):
    return tuple(UNKNOWN if d is None else d for d in input_shape)


def _agrees(inferred, actual):
    """An inferred shape (batch None, maybe other None) against an actual one (batch 2)."""
    return len(inferred) == len(actual) and actual[0] == 2 and all(
        i is None or i == a for i, a in zip(inferred[1:], actual[1:]))


def _layerwise_shapes(model, x):
    """The output shape of every layer for input ``x`` (a forward pass by hand)."""
    h = K.constant(x)
    shapes = []
    with K.no_grad():
        for layer in model.layers:
            h = layer(h, training=False)
            shapes.append(tuple(h.shape))
    return shapes


def build_stack(input_shape, specs):
    """A Sequential model of the layers of ``specs`` that construction and add() accepted;
    every refusal must be a documented ValueError/TypeError."""
    model = Sequential()
    for _describe, make in specs:
        if model.layers and not model.built:
            break
        layer = _construct(make, not model.layers, input_shape)
        if layer is None:
            continue
        try:
            model.add(layer)
        except DOCUMENTED:
            continue
    return model


def check_stack(input_shape, specs):
    """The property of the module docstring for one drawn stack."""
    model = build_stack(input_shape, specs)
    if not model.layers or not model.built:
        return
    x = np.random.default_rng(0).standard_normal((2,) + _concrete(input_shape))
    x = x.astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            y = model.predict(x, batch_size=2)
        except ValueError as e:
            # Only an input dimension left unknown (None) at build time may be refused when
            # the data arrives, and then with gpuseq's own message, never NumPy's.
            if None in input_shape and "Received:" in str(e):
                return
            raise
    assert _agrees(model.output_shape, y.shape), (input_shape, model.layers,
                                                  model.output_shape, y.shape)
    got = _layerwise_shapes(model, x)
    want = [layer.output_shape for layer in model.layers]
    assert all(_agrees(w, g) for w, g in zip(want, got)), (input_shape, model.layers, want, got)


_COMMON = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck),
               print_blob=True)


@settings(max_examples=60, derandomize=True, **_COMMON)
@given(stacks)
def test_shape_inference_matches_predict(stack):
    check_stack(*stack)


@pytest.mark.slow
@settings(max_examples=1500, **_COMMON)
@given(stacks)
def test_shape_inference_matches_predict_long(stack):
    check_stack(*stack)
