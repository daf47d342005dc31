"""DepthwiseConv2D, SeparableConv1D, SeparableConv2D: the depthwise_conv2d op (NumPy
twin against direct loops for every stride / padding / dilation / data_format /
depth multiplier, float64 finite differences, the CUDA kernels of
kernels/depthwise_conv.cu emulated against the NumPy twin in every thread order), the
separable backend functions through the tape, and the layers (Keras's shapes, weight
names and parameter counts, values, config round trip, errors at add() time).
"""
import shutil
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch, numpy_ops
from gpuseq.layers import (Activation, Dense, DepthwiseConv2D, Flatten, SeparableConv1D,
                           SeparableConv2D, SeparableConvolution2D, deserialize)
from gpuseq.models import Sequential
from gpuseq.testing import check_function_gradients, check_op_gradients, compare_with_numpy
from _reference_conv import (ref_depthwise_conv2d, ref_separable_conv1d,
                             ref_separable_conv2d)


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


def _image(rng, n, h, w, c, data_format, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


CASES = [(s, p, d, f, m)
         for s in [(1, 1), (2, 1), (2, 3)]
         for p in ["valid", "same"]
         for d in [(1, 1), (2, 1), (1, 2)]
         for f in ["channels_last", "channels_first"]
         for m in [1, 2]]


# ---------------------------------------------------------------------------
# The depthwise op
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("strides,padding,dilation,data_format,multiplier", CASES)
def test_depthwise_forward_matches_direct_loops(rng, strides, padding, dilation, data_format,
                                                multiplier):
    x = _image(rng, 2, 7, 6, 3, data_format)
    kernel = rng.standard_normal((3, 2, 3, multiplier))
    bias = rng.standard_normal(3 * multiplier)
    y, _ = numpy_ops.depthwise_conv2d_forward(x, kernel, bias, strides, padding, dilation,
                                              data_format, "relu")
    ref = ref_depthwise_conv2d(x, kernel, bias, strides, padding, dilation, data_format,
                               "relu")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_depthwise_hand_computed():
    # channel 0 of ones, channel 1 of twos; 2x2 kernel: channel 0 -> filters 1 and -1,
    # channel 1 -> filters 0.5 and 0: outputs ordered (c0 m0, c0 m1, c1 m0, c1 m1)
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))], axis=-1)[None]
    k = np.zeros((2, 2, 2, 2))
    k[..., 0, 0], k[..., 0, 1], k[..., 1, 0] = 1, -1, 0.5
    y, _ = numpy_ops.depthwise_conv2d_forward(x, k, None)
    assert y.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(y[0, 0, 0], [4, -4, 4, 0])


GRAD_CASES = [
    ((1, 1), "same", (1, 1), "channels_last", "relu", 1),
    ((2, 1), "same", (1, 2), "channels_last", "tanh", 2),
    ((2, 2), "valid", (1, 1), "channels_first", "linear", 3),
    ((1, 1), "valid", (2, 1), "channels_first", "sigmoid", 1),
]


@pytest.mark.parametrize("strides,padding,dilation,data_format,activation,multiplier",
                         GRAD_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_depthwise_gradients(rng, strides, padding, dilation, data_format, activation,
                             multiplier, with_bias):
    x = _image(rng, 2, 5, 6, 2, data_format)
    bias = rng.standard_normal(2 * multiplier) if with_bias else None
    check_op_gradients("depthwise_conv2d", [x, rng.standard_normal((3, 2, 2, multiplier)),
                                            bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation))


TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides,padding,dilation,data_format,activation,multiplier",
                         GRAD_CASES)
def test_depthwise_matches_numpy(backend, rng, strides, padding, dilation, data_format,
                                 activation, multiplier, dtype):
    x = _image(rng, 3, 6, 7, 3, data_format, dtype)
    compare_with_numpy("depthwise_conv2d",
                       [x, rng.standard_normal((3, 2, 3, multiplier)).astype(dtype),
                        rng.standard_normal(3 * multiplier).astype(dtype)],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation), **TOL[dtype])


@pytest.mark.parametrize("n,h,w,c,m", [(0, 4, 4, 2, 1), (1, 1, 1, 1, 1), (2, 9, 15, 33, 2),
                                       (1, 17, 17, 1, 3), (3, 5, 4, 40, 1)])
def test_depthwise_sizes_match_numpy(backend, rng, monkeypatch, n, h, w, c, m):
    """Sizes around the kernel gradient's 32-channel tiles, and several pixel splits."""
    from gpuseq.backend.cupy_ops import depthwise_conv as cu_dw
    monkeypatch.setattr(cu_dw, "KGRAD_MIN_SPLIT_PIXELS", 7)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    kh, kw = min(3, h), min(3, w)
    compare_with_numpy("depthwise_conv2d",
                       [x, rng.standard_normal((kh, kw, c, m)).astype(np.float32),
                        rng.standard_normal(c * m).astype(np.float32)],
                       dict(padding="same", activation="relu"), **TOL[np.float32])


def test_depthwise_kernel_grad_splits_are_fixed_by_the_shapes():
    from gpuseq.backend.cupy_ops.depthwise_conv import kernel_grad_splits
    assert kernel_grad_splits(100, 9) == (256, 1)
    per, splits = kernel_grad_splits(32 * 50 * 50, 9)
    assert per * splits >= 32 * 50 * 50 and per * (splits - 1) < 32 * 50 * 50
    assert (per, splits) == kernel_grad_splits(32 * 50 * 50, 9)


@pytest.mark.parametrize("order", ["reverse", "shuffle:3"])
def test_depthwise_kernels_in_every_thread_order(order, rng, monkeypatch):
    """The kernel gradient adds a block's partial sums through shared memory: any
    thread order between barriers gives the NumPy result."""
    from gpuseq.backend import cuda_emulation
    from gpuseq.backend.cupy_ops import depthwise_conv as cu_dw
    if shutil.which("g++") is None:
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++) on PATH")
    monkeypatch.setattr(cu_dw, "KGRAD_MIN_SPLIT_PIXELS", 5)
    x = _image(rng, 2, 5, 6, 35, "channels_last")
    with dispatch.use_backend("emulated"), \
            cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
        compare_with_numpy("depthwise_conv2d",
                           [x, rng.standard_normal((2, 3, 35, 1)), None],
                           dict(strides=(2, 1), padding="same"), **TOL[np.float64])


# ---------------------------------------------------------------------------
# Separable convolutions through the backend functions (tape gradients)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_separable_conv2d_function_values_and_gradients(rng, data_format):
    x = _image(rng, 2, 5, 4, 2, data_format)
    dk, pk, b = (rng.standard_normal((3, 3, 2, 2)), rng.standard_normal((1, 1, 4, 3)),
                 rng.standard_normal(3))
    attrs = dict(strides=(2, 1), padding="same", data_format=data_format,
                 dilation_rate=(1, 1))
    with dispatch.use_backend("numpy"):
        y = K.separable_conv2d(x, dk, pk, bias=b, activation="tanh", **attrs).numpy()
    np.testing.assert_allclose(
        y, ref_separable_conv2d(x, dk, pk, b, (2, 1), "same", (1, 1), data_format, "tanh"),
        rtol=1e-12, atol=1e-12)
    check_function_gradients(
        lambda *t: K.separable_conv2d(t[0], t[1], t[2], bias=t[3], activation="tanh",
                                      **attrs), [x, dk, pk, b])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_separable_conv1d_function_values_and_gradients(rng, data_format):
    x = rng.standard_normal((2, 9, 3) if data_format == "channels_last" else (2, 3, 9))
    dk, pk = rng.standard_normal((3, 3, 2)), rng.standard_normal((1, 6, 4))
    with dispatch.use_backend("numpy"):
        y = K.separable_conv1d(x, dk, pk, 2, "same", data_format, 1).numpy()
    np.testing.assert_allclose(y, ref_separable_conv1d(x, dk, pk, None, 2, "same", 1,
                                                       data_format), rtol=1e-12, atol=1e-12)
    check_function_gradients(
        lambda *t: K.separable_conv1d(t[0], t[1], t[2], 1, "valid", data_format, 2),
        [x, dk, pk])


def test_depthwise_function_accepts_keras_arguments(numpy_backend, rng):
    x = rng.standard_normal((1, 4, 4, 2))
    y = K.depthwise_conv2d(x, np.ones((2, 2, 2, 1)), strides=2, padding="same")
    np.testing.assert_allclose(y.numpy(), ref_depthwise_conv2d(x, np.ones((2, 2, 2, 1)), None,
                                                               (2, 2), "same"))
    with pytest.raises(ValueError, match="data_format"):
        K.depthwise_conv2d(x, np.ones((2, 2, 2, 1)), data_format="nhwc")


# ---------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------

def _run(layer, x):
    with ad.no_grad():
        return layer(ad.Tensor(x)).numpy()


@pytest.mark.parametrize("layer,input_shape,out_shape,params,weights", [
    (lambda: DepthwiseConv2D(3), (8, 8, 4), (None, 6, 6, 4), 40,
     [(3, 3, 4, 1), (4,)]),
    (lambda: DepthwiseConv2D((3, 2), depth_multiplier=3, strides=2, padding="same",
                             use_bias=False), (9, 8, 4), (None, 5, 4, 12), 72,
     [(3, 2, 4, 3)]),
    (lambda: DepthwiseConv2D(3, dilation_rate=2, data_format="channels_first"), (2, 9, 9),
     (None, 2, 5, 5), 20, [(3, 3, 2, 1), (2,)]),
    (lambda: SeparableConv2D(32, 3, padding="same"), (8, 8, 4), (None, 8, 8, 32), 196,
     [(3, 3, 4, 1), (1, 1, 4, 32), (32,)]),
    (lambda: SeparableConv2D(16, (3, 3), strides=2, depth_multiplier=2), (11, 11, 8),
     (None, 5, 5, 16), 144 + 256 + 16, [(3, 3, 8, 2), (1, 1, 16, 16), (16,)]),
    (lambda: SeparableConv2D(6, 2, data_format="channels_first", use_bias=False), (3, 5, 5),
     (None, 6, 4, 4), 12 + 18, [(2, 2, 3, 1), (1, 1, 3, 6)]),
    (lambda: SeparableConv1D(16, 5), (20, 3), (None, 16, 16), 15 + 48 + 16,
     [(5, 3, 1), (1, 3, 16), (16,)]),
    (lambda: SeparableConv1D(4, 3, strides=2, padding="same", depth_multiplier=2), (9, 3),
     (None, 5, 4), 18 + 24 + 4, [(3, 3, 2), (1, 6, 4), (4,)]),
])
def test_shapes_params_and_weight_names(layer, input_shape, out_shape, params, weights):
    first = layer()
    model = Sequential([type(first).from_config(dict(first.get_config(),
                                                     batch_input_shape=(None,) + input_shape))])
    first = model.layers[0]
    assert model.output_shape == out_shape
    assert first.count_params() == params
    assert [tuple(w.shape) for w in first.weights] == weights
    names = ["depthwise_kernel"] + (["pointwise_kernel"] if hasattr(first, "filters") else [])
    names += ["bias"] if first.use_bias else []
    assert [w.name.split("/")[-1] for w in first.weights] == [n + ":0" for n in names]


def test_separable_summary_matches_keras():
    model = Sequential([SeparableConv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
                        DepthwiseConv2D(3, depth_multiplier=2), Flatten(), Dense(10)])
    assert [l.count_params() for l in model.layers] == [9 + 32 + 32, 576 + 64, 0,
                                                        24 * 24 * 64 * 10 + 10]
    lines = []
    model.summary(print_fn=lines.append)
    assert any("separable_conv2d" in l and "(None, 26, 26, 32)" in l and "73" in l
               for l in lines)
    assert any("depthwise_conv2d" in l and "(None, 24, 24, 64)" in l and "640" in l
               for l in lines)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,padding,dilation", [((1, 1), "valid", (1, 1)),
                                                      ((2, 1), "same", (1, 1)),
                                                      ((1, 1), "same", (2, 2))])
def test_layer_values(backend, rng, data_format, strides, padding, dilation):
    x = rng.standard_normal((2, 3, 7, 6) if data_format == "channels_first" else (2, 7, 6, 3))
    x = x.astype(np.float32)
    dw = DepthwiseConv2D((3, 2), strides=strides, padding=padding, depth_multiplier=2,
                         dilation_rate=dilation, data_format=data_format, activation="relu",
                         bias_initializer="normal")
    y = _run(dw, x)
    k, b = dw.get_weights()
    np.testing.assert_allclose(y, ref_depthwise_conv2d(x.astype(np.float64), k, b, strides,
                                                       padding, dilation, data_format, "relu"),
                               rtol=1e-4, atol=1e-5)
    assert y.shape == dw.compute_output_shape((2,) + x.shape[1:])
    sep = SeparableConv2D(5, (3, 2), strides=strides, padding=padding, depth_multiplier=2,
                          dilation_rate=dilation, data_format=data_format, activation="tanh",
                          bias_initializer="normal")
    y = _run(sep, x)
    dk, pk, b = sep.get_weights()
    np.testing.assert_allclose(y, ref_separable_conv2d(x.astype(np.float64), dk, pk, b,
                                                       strides, padding, dilation,
                                                       data_format, "tanh"),
                               rtol=1e-4, atol=1e-5)
    assert y.shape == sep.compute_output_shape((2,) + x.shape[1:])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_separable_conv1d_layer_values(backend, rng, data_format):
    x = rng.standard_normal((2, 11, 3) if data_format == "channels_last" else (2, 3, 11))
    layer = SeparableConv1D(4, 3, strides=2, padding="same", dilation_rate=1,
                            depth_multiplier=2, data_format=data_format, activation="softmax",
                            bias_initializer="normal")
    y = _run(layer, x.astype(np.float32))
    dk, pk, b = layer.get_weights()
    pre = ref_separable_conv1d(x, dk, pk, b, 2, "same", 1, data_format)
    e = np.exp(pre - pre.max(axis=-1, keepdims=True))   # Keras's softmax: the last axis
    np.testing.assert_allclose(y, e / e.sum(axis=-1, keepdims=True), rtol=1e-4, atol=1e-5)


def test_config_round_trips(numpy_backend, rng):
    layers = [DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2,
                              activation="relu", depthwise_regularizer="l2",
                              dilation_rate=1, input_shape=(6, 7, 2)),
              SeparableConv2D(3, 2, depth_multiplier=2, pointwise_constraint="max_norm",
                              activation="tanh", input_shape=(6, 7, 2)),
              SeparableConv1D(3, 2, padding="same", dilation_rate=2, input_shape=(7, 2))]
    for layer in layers:
        model = Sequential([layer])
        cfg = layer.get_config()
        assert cfg["depth_multiplier"] == layer.depth_multiplier
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            clone = deserialize({"class_name": type(layer).__name__, "config": cfg})
        Sequential([clone])
        assert clone.get_config() == cfg
        clone.set_weights(layer.get_weights())
        x = rng.standard_normal((2,) + model.input_shape[1:]).astype(np.float32)
        np.testing.assert_allclose(_run(clone, x), model.predict(x, verbose=0), rtol=1e-6)
    assert type(deserialize({"class_name": "SeparableConvolution2D",
                             "config": layers[1].get_config()})) is SeparableConv2D
    assert SeparableConvolution2D is SeparableConv2D


def _config(layer):
    cfg = layer.get_config()
    cfg.pop("name")
    return cfg


def test_keras1_separable_convolution2d_is_converted_as_keras2_did():
    # Keras 2.2.4 read SeparableConvolution2D's Keras 1 names: nb_filter, nb_row, nb_col,
    # subsample, border_mode, dim_ordering, init (both initializers), b_regularizer,
    # b_constraint, bias
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        old = SeparableConvolution2D(8, 3, 2, init="he_normal", subsample=(2, 2),
                                     border_mode="same", dim_ordering="th",
                                     b_regularizer="l2", b_constraint="non_neg",
                                     depth_multiplier=2, input_shape=(4, 9, 9))
    assert [str(w.message) for w in rec] == [
        'Update your `SeparableConv2D` call to the Keras 2 API: `SeparableConv2D(8, (3, 2), '
        'depthwise_initializer="he_normal", pointwise_initializer="he_normal", '
        'strides=(2, 2), padding="same", data_format="channels_first", '
        'bias_regularizer="l2", bias_constraint="non_neg")`']
    assert rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = SeparableConv2D(8, (3, 2), strides=(2, 2), padding="same",
                              data_format="channels_first", depth_multiplier=2,
                              depthwise_initializer="he_normal",
                              pointwise_initializer="he_normal", bias_regularizer="l2",
                              bias_constraint="non_neg", input_shape=(4, 9, 9))
    assert _config(old) == _config(new)
    assert Sequential([old]).output_shape == (None, 8, 5, 5)
    with pytest.warns(UserWarning, match=r"`SeparableConv2D\(4, \(2, 3\), use_bias=False\)`"):
        layer = SeparableConv2D(nb_filter=4, nb_row=2, nb_col=3, bias=False)
    assert (layer.filters, layer.kernel_size, layer.use_bias) == (4, (2, 3), False)


@pytest.mark.parametrize("make,fragment", [
    (lambda: SeparableConv2D(4, 3, init="zeros", pointwise_initializer="ones"),
     "`init` and its Keras 2 name `pointwise_initializer`"),
    (lambda: SeparableConv2D(4, (3, 3), nb_row=3, nb_col=3), "kernel_size"),
    (lambda: SeparableConv2D(4, 3, border_mode="same", padding="same"),
     "`border_mode` and its Keras 2 name `padding`"),
])
def test_keras1_separable_conflicts_are_refused_before_any_warning(make, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=fragment):
            make()


@pytest.mark.parametrize("make,error,fragment", [
    (lambda: DepthwiseConv2D(), TypeError, "kernel_size"),
    (lambda: DepthwiseConv2D(3, depth_multiplier=0), ValueError, "depth_multiplier"),
    (lambda: DepthwiseConv2D(3, strides=0), ValueError, "strides"),
    (lambda: DepthwiseConv2D(3, dilation_rate=(1, -1)), ValueError, "dilation_rate"),
    (lambda: SeparableConv1D(4, 3, padding="causal"), ValueError, "padding"),
    (lambda: SeparableConv2D(kernel_size=3), TypeError, "filters"),
    (lambda: SeparableConv2D(-1, 3), ValueError, "filters"),
    (lambda: SeparableConv2D(4, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: SeparableConv2D(4, 3, data_format="channels_middle"), ValueError, "data_format"),
    (lambda: SeparableConv2D(4, 3, kernel_initializer="zeros"), TypeError,
     "unexpected keyword"),
])
def test_bad_arguments(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


@pytest.mark.parametrize("layer,input_shape,fragment", [
    (lambda: SeparableConv2D(4, 5), (4, 5, 3), r"larger than the input.*padding='same'"),
    (lambda: DepthwiseConv2D(3, dilation_rate=3), (6, 6, 3), "larger than the input"),
    (lambda: DepthwiseConv2D(3), (10, 3), "4-D input"),
    (lambda: SeparableConv1D(4, 3), (10, 10, 3), "3-D input"),
    (lambda: SeparableConv1D(4, 3, data_format="channels_first"), (None, 8), "known channel"),
    (lambda: SeparableConv2D(4, 3), (None, None, None), "known channel"),
])
def test_bad_inputs_fail_at_add(layer, input_shape, fragment):
    model = Sequential([Activation("linear", input_shape=input_shape)])
    with pytest.raises(ValueError, match=fragment):
        model.add(layer())
    assert len(model.layers) == 1 and model.output_shape == (None,) + input_shape
    assert model.count_params() == 0


def test_model_json_round_trip(numpy_backend, rng):
    """A model with every new convolution layer through to_json / model_from_json."""
    from gpuseq.layers import Conv2DTranspose, Reshape
    from gpuseq.models import model_from_json
    model = Sequential([
        Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1,
                        activation="relu", input_shape=(3, 3, 2)),
        DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same"),
        SeparableConv2D(3, 2, strides=2, activation="tanh"),
        Reshape((3, 3 * 3)),
        SeparableConv1D(2, 2, padding="same", depth_multiplier=3),
    ])
    clone = model_from_json(model.to_json())
    assert [type(l) for l in clone.layers] == [type(l) for l in model.layers]
    assert [l.get_config() for l in clone.layers] == [l.get_config() for l in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 3, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
