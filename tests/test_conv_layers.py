"""Conv1D / Conv2D and the spatial reshaping layers: shapes and parameter counts as
in Keras, values against the direct-loop reference, Keras 1 forms, config round
trips, and clear errors at add() time.
"""
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.layers import (Conv1D, Conv2D, Convolution1D, Convolution2D, Cropping1D, Cropping2D,
                           Dense, Flatten, MaxPooling2D, UpSampling1D, UpSampling2D,
                           ZeroPadding1D, ZeroPadding2D, deserialize)
from gpuseq.models import Sequential
from reference import ref_conv1d, ref_conv2d


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


def _run(layer, x):
    """Forward a layer on a host array (builds it); returns a host array."""
    with ad.no_grad():
        return layer(ad.Tensor(x)).numpy()


# ---------------------------------------------------------------------------
# Shapes and parameter counts (the numbers Keras reports)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,input_shape,out_shape,params", [
    (dict(filters=32, kernel_size=(3, 3)), (100, 100, 3), (None, 98, 98, 32), 896),
    (dict(filters=64, kernel_size=3, padding="same"), (48, 48, 32), (None, 48, 48, 64), 18496),
    (dict(filters=8, kernel_size=(3, 5), strides=2, padding="same"), (9, 10, 4),
     (None, 5, 5, 8), 488),
    (dict(filters=8, kernel_size=(3, 5), strides=(2, 3)), (9, 10, 4), (None, 4, 2, 8), 488),
    (dict(filters=4, kernel_size=3, dilation_rate=2), (9, 10, 1), (None, 5, 6, 4), 40),
    (dict(filters=4, kernel_size=3, use_bias=False), (5, 5, 2), (None, 3, 3, 4), 72),
    (dict(filters=6, kernel_size=2, data_format="channels_first"), (3, 7, 5),
     (None, 6, 6, 4), 78),
    (dict(filters=6, kernel_size=3), (None, None, 3), (None, None, None, 6), 168),
])
def test_conv2d_shapes_and_params(kwargs, input_shape, out_shape, params):
    model = Sequential([Conv2D(input_shape=input_shape, **kwargs)])
    layer = model.layers[0]
    assert model.output_shape == out_shape
    assert layer.count_params() == params
    k = layer.kernel_size + (input_shape[-1] if layer.data_format == "channels_last"
                             else input_shape[0], layer.filters)
    assert layer.get_weights()[0].shape == k


@pytest.mark.parametrize("kwargs,input_shape,out_shape,params", [
    (dict(filters=64, kernel_size=3), (64, 100), (None, 62, 64), 19264),
    (dict(filters=128, kernel_size=3), (20, 64), (None, 18, 128), 24704),
    (dict(filters=5, kernel_size=4, padding="causal", dilation_rate=2), (10, 3),
     (None, 10, 5), 65),
    (dict(filters=5, kernel_size=4, padding="same", strides=3), (10, 3), (None, 4, 5), 65),
    (dict(filters=5, kernel_size=2, data_format="channels_first"), (3, 10), (None, 5, 9), 35),
])
def test_conv1d_shapes_and_params(kwargs, input_shape, out_shape, params):
    model = Sequential([Conv1D(input_shape=input_shape, **kwargs)])
    assert model.output_shape == out_shape
    assert model.layers[0].count_params() == params
    assert model.layers[0].get_weights()[0].shape == (kwargs["kernel_size"],
                                                       input_shape[-1] if "data_format" not in
                                                       kwargs else input_shape[0],
                                                       kwargs["filters"])


def test_vgg_seed_summary_matches_keras():
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(100, 100, 3)))
    model.add(Conv2D(32, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    model.add(Dense(256, activation='relu'))
    model.add(Dense(10, activation='softmax'))
    assert [l.count_params() for l in model.layers] == [896, 9248, 0, 18496, 36928, 0, 0,
                                                        7930112, 2570]
    assert model.count_params() == 7998250
    assert model.layers[5].output_shape == (None, 22, 22, 64)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("conv2d" in l and "(None, 98, 98, 32)" in l and "896" in l for l in lines)
    assert any("Total params: 7,998,250" in l for l in lines)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,dilation", [((1, 1), (1, 1)), ((2, 1), (1, 1)),
                                              ((1, 1), (2, 2))])
def test_conv2d_layer_values(backend, rng, padding, data_format, strides, dilation):
    layer = Conv2D(4, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                   data_format=data_format, activation="relu", bias_initializer="normal")
    x = rng.standard_normal((2, 3, 7, 6) if data_format == "channels_first" else (2, 7, 6, 3))
    x = x.astype(np.float32)
    y = _run(layer, x)
    kernel, bias = layer.get_weights()
    ref = ref_conv2d(x.astype(np.float64), kernel, bias, strides, padding, dilation,
                     data_format, "relu")
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert y.shape == layer.compute_output_shape((2,) + x.shape[1:])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_layer_values(backend, rng, padding):
    layer = Conv1D(5, 3, padding=padding, dilation_rate=2, activation="tanh",
                   bias_initializer="normal")
    x = rng.standard_normal((2, 9, 4)).astype(np.float32)
    y = _run(layer, x)
    kernel, bias = layer.get_weights()
    ref = ref_conv1d(x.astype(np.float64), kernel, bias, 1, padding, 2, "channels_last", "tanh")
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)


def test_conv2d_hand_computed_value(numpy_backend):
    layer = Conv2D(1, (2, 2), kernel_initializer="ones", bias_initializer="ones",
                   input_shape=(3, 3, 1))
    y = _run(layer, np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[9, 13], [21, 25]])


def test_conv2d_softmax_and_custom_activation(numpy_backend, rng):
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    layer = Conv2D(4, 3, activation="softmax")
    y = _run(layer, x)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-5)
    layer2 = Conv2D(4, 3, activation=lambda t: t * 2.0)
    y2 = _run(layer2, x)
    layer2_lin = Conv2D(4, 3, weights=layer2.get_weights())
    np.testing.assert_allclose(y2, 2 * _run(layer2_lin, x), rtol=1e-6)


def test_conv2d_gradients_flow_through_the_layer(numpy_backend, rng):
    layer = Conv2D(2, 3, padding="same", activation="tanh")
    x = ad.Tensor(rng.standard_normal((2, 4, 4, 3)).astype(np.float64), requires_grad=True)
    layer.dtype = "float64"
    y = layer(x)
    loss = ad.reduce_sum(y * y)
    gx, gk, gb = ad.gradients(loss, [x, layer.kernel, layer.bias])
    # finite difference on one kernel entry
    k = layer.kernel.data
    eps = 1e-6
    old = k[1, 2, 0, 1]
    k[1, 2, 0, 1] = old + eps
    fp = float(ad.reduce_sum(layer(x) * layer(x)))
    k[1, 2, 0, 1] = old - eps
    fm = float(ad.reduce_sum(layer(x) * layer(x)))
    k[1, 2, 0, 1] = old
    assert gk[1, 2, 0, 1] == pytest.approx((fp - fm) / (2 * eps), rel=1e-5)
    assert gx.shape == x.shape and gb.shape == (2,)


# ---------------------------------------------------------------------------
# Keras 1 forms
# ---------------------------------------------------------------------------

def test_keras1_convolution2d_seed_form():
    with pytest.warns(UserWarning) as rec:
        layer = Convolution2D(32, 3, 3, border_mode='valid', input_shape=(3, 100, 100))
    msgs = [str(w.message) for w in rec]
    assert any("Conv2D(32, (3, 3)" in m and 'padding="valid"' in m for m in msgs)
    assert any("channels_first" in m for m in msgs)
    assert layer.kernel_size == (3, 3) and layer.padding == "valid"
    assert layer.data_format == "channels_first"
    model = Sequential([layer])
    assert model.output_shape == (None, 32, 98, 98)
    assert model.layers[0].get_weights()[0].shape == (3, 3, 3, 32)
    # the layers that follow agree on the ordering, as under Keras 1 'th'
    with pytest.warns(UserWarning):
        model.add(Convolution2D(32, 3, 3))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Flatten())
    assert model.output_shape == (None, 32 * 48 * 48)


def test_keras1_convolution2d_explicit_orderings():
    with pytest.warns(UserWarning, match="data_format"):
        th = Convolution2D(8, 3, 3, dim_ordering='th', subsample=(2, 2), init='he_normal',
                           W_regularizer='l2', bias=False, input_shape=(3, 32, 32))
    assert (th.data_format, th.strides, th.use_bias) == ("channels_first", (2, 2), False)
    assert th.kernel_initializer is not None and th.kernel_regularizer is not None
    assert Sequential([th]).output_shape == (None, 8, 15, 15)
    with pytest.warns(UserWarning):
        tf = Convolution2D(8, 3, 3, dim_ordering='tf', border_mode='same',
                           input_shape=(32, 32, 3))
    assert Sequential([tf]).output_shape == (None, 32, 32, 8)
    with pytest.warns(UserWarning):
        kw = Convolution2D(nb_filter=4, nb_row=2, nb_col=3, input_shape=(5, 6, 1))
    assert Sequential([kw]).output_shape == (None, 4, 4, 4)
    assert K.image_data_format() == "channels_last"     # an explicit ordering changes nothing


def test_keras1_convolution1d():
    with pytest.warns(UserWarning, match="Conv1D"):
        layer = Convolution1D(nb_filter=16, filter_length=5, border_mode='same',
                              subsample_length=2, input_dim=8, input_length=20)
    model = Sequential([layer])
    assert model.output_shape == (None, 10, 16)
    assert layer.get_weights()[0].shape == (5, 8, 16)
    with pytest.warns(UserWarning):
        assert Convolution1D(8, 3, init='uniform').kernel_size == (3,)


def test_keras1_full_border_mode_is_rejected():
    with pytest.raises(ValueError, match="ZeroPadding"), pytest.warns(UserWarning):
        Convolution2D(8, 3, 3, border_mode='full')


# ---------------------------------------------------------------------------
# Errors at construction / add() time
# ---------------------------------------------------------------------------

def test_conv_errors():
    with pytest.raises(ValueError, match="filters"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="filters"):
        Conv1D(-2, 3)
    with pytest.raises(ValueError, match="data_format"):
        Conv2D(4, 3, data_format="channels_middle")
    with pytest.raises(ValueError, match="padding"):
        Conv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match="strides"):
        Conv2D(4, 3, strides=0)
    with pytest.raises(TypeError, match="kernel_size"):
        Conv2D(4)
    model = Sequential([Conv2D(4, 3, input_shape=(10, 10, 3))])
    with pytest.raises(ValueError, match=r"larger than the input.*padding='same'"):
        model.add(Conv2D(4, 9))
    with pytest.raises(ValueError, match="larger than the input"):
        Sequential([Conv2D(4, 3, dilation_rate=5, input_shape=(10, 10, 3))])
    with pytest.raises(ValueError, match="4-D input"):
        Sequential([Conv2D(4, 3, input_shape=(10, 3))])
    with pytest.raises(ValueError, match="3-D input"):
        Sequential([Conv1D(4, 3, input_shape=(10, 10, 3))])
    # a 'same' convolution accepts a kernel larger than the input
    assert Sequential([Conv2D(2, 5, padding="same", input_shape=(3, 3, 1))]).output_shape == \
        (None, 3, 3, 2)


def test_conv_config_round_trip(numpy_backend, rng):
    layer = Conv2D(3, (2, 3), strides=(1, 2), padding="same", activation="relu",
                   kernel_regularizer="l2", dilation_rate=1, input_shape=(6, 7, 2))
    model = Sequential([layer])
    cfg = layer.get_config()
    assert cfg["kernel_size"] == (2, 3) and cfg["strides"] == (1, 2)
    assert cfg["padding"] == "same" and cfg["activation"] == "relu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = deserialize({"class_name": "Conv2D", "config": cfg})
    Sequential([clone])
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((2, 6, 7, 2)).astype(np.float32)
    np.testing.assert_allclose(_run(clone, x), model.predict(x, verbose=0), rtol=1e-6)
    c1 = Conv1D(4, 3, padding="causal").get_config()
    assert deserialize({"class_name": "Conv1D", "config": c1}).padding == "causal"


# ---------------------------------------------------------------------------
# ZeroPadding, Cropping, UpSampling
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer,input_shape,out_shape", [
    (lambda: ZeroPadding2D(input_shape=(4, 5, 3)), None, (None, 6, 7, 3)),
    (lambda: ZeroPadding2D(((1, 0), (2, 3)), input_shape=(4, 5, 3)), None, (None, 5, 10, 3)),
    (lambda: ZeroPadding2D(2, data_format="channels_first", input_shape=(3, 4, 5)), None,
     (None, 3, 8, 9)),
    (lambda: ZeroPadding1D((1, 2), input_shape=(6, 2)), None, (None, 9, 2)),
    (lambda: Cropping2D(((1, 0), (2, 1)), input_shape=(4, 5, 3)), None, (None, 3, 2, 3)),
    (lambda: Cropping2D(1, input_shape=(4, 5, 3)), None, (None, 2, 3, 3)),
    (lambda: Cropping1D(2, input_shape=(6, 2)), None, (None, 2, 2)),
    (lambda: UpSampling2D((2, 3), input_shape=(4, 5, 3)), None, (None, 8, 15, 3)),
    (lambda: UpSampling2D(2, data_format="channels_first", input_shape=(3, 4, 5)), None,
     (None, 3, 8, 10)),
    (lambda: UpSampling1D(3, input_shape=(6, 2)), None, (None, 18, 2)),
])
def test_spatial_layer_shapes(backend, rng, layer, input_shape, out_shape):
    model = Sequential([layer()])
    assert model.output_shape == out_shape
    assert model.count_params() == 0
    x = rng.standard_normal((2,) + model.input_shape[1:]).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2,) + out_shape[1:]


def test_spatial_layer_values(numpy_backend):
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1)
    y = _run(ZeroPadding2D(((1, 0), (0, 1))), x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 0, 0], [0, 1, 2, 0], [3, 4, 5, 0]])
    y = _run(Cropping2D(((0, 1), (1, 0))), x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2]])
    y = _run(UpSampling2D((1, 2)), x)
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5]])
    y = _run(UpSampling1D(2), np.array([[[1.0], [2.0]]], dtype=np.float32))
    np.testing.assert_array_equal(y[0, :, 0], [1, 1, 2, 2])


def test_spatial_layer_errors_and_keras1():
    with pytest.raises(ValueError, match="padding"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="padding"):
        ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="removes everything"):
        Sequential([Cropping2D(((2, 2), (0, 0)), input_shape=(4, 5, 3))])
    with pytest.raises(ValueError, match="size"):
        UpSampling2D(0)
    with pytest.raises(ValueError, match="data_format"):
        UpSampling2D(data_format="nhwc")
    with pytest.raises(ValueError, match="4-D input"):
        Sequential([ZeroPadding2D(input_shape=(4, 5))])
    with pytest.warns(UserWarning, match="data_format"):
        layer = ZeroPadding2D((1, 1), dim_ordering='th')
    assert layer.data_format == "channels_first"
    with pytest.warns(UserWarning, match="size"):
        assert UpSampling1D(length=3).size == (3,)
    for cls, kw in ((ZeroPadding1D, dict(padding=(1, 2))), (Cropping1D, dict(cropping=1)),
                    (UpSampling2D, dict(size=(2, 1))),
                    (Cropping2D, dict(cropping=((1, 0), (0, 2))))):
        cfg = cls(**kw).get_config()
        clone = deserialize({"class_name": cls.__name__, "config": cfg})
        assert clone.get_config() == cfg
