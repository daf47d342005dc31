"""The volume (3-D) layers: shapes and parameter counts as in Keras, values against
the direct-loop references, tape gradients in float64, Keras 1 forms, config round
trips, clear errors at add() time, and a Conv3D classifier that learns real data.
"""
import json
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.layers import (AveragePooling3D, Conv3D, Conv3DTranspose, Convolution3D,
                           Cropping3D, Dense, Flatten, GlobalAveragePooling3D,
                           GlobalMaxPooling3D, MaxPooling3D, SpatialDropout3D, UpSampling3D,
                           ZeroPadding3D, deserialize)
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import check_function_gradients
from test_conv3d import ref_conv3d, ref_conv3d_transpose
from test_pooling3d import ref_pool3d


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


def _run(layer, x, training=False):
    """Forward a layer on a host array (builds it); returns a host array."""
    with ad.no_grad():
        return layer(ad.Tensor(x), training=training).numpy()


def _volume(rng, shape_last, data_format, dtype=np.float32):
    x = rng.standard_normal(shape_last)
    if data_format == "channels_first":
        x = x.transpose(0, 4, 1, 2, 3)
    return np.ascontiguousarray(x).astype(dtype)


# ---------------------------------------------------------------------------
# Shapes and parameter counts (the numbers Keras 2.2.4 reports)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer,input_shape,out_shape,params", [
    (lambda: Conv3D(8, 3), (5, 6, 7, 2), (None, 3, 4, 5, 8), 440),
    (lambda: Conv3D(4, (3, 2, 1), strides=2, padding="same"), (5, 6, 7, 2),
     (None, 3, 3, 4, 4), 52),
    (lambda: Conv3D(4, 2, dilation_rate=(2, 1, 3), use_bias=False), (5, 6, 7, 2),
     (None, 3, 5, 4, 4), 64),
    (lambda: Conv3D(6, 2, data_format="channels_first"), (3, 4, 5, 6), (None, 6, 3, 4, 5),
     150),
    (lambda: Conv3D(6, 3, padding="same"), (None, None, None, 3), (None, None, None, None, 6),
     492),
    (lambda: Conv3DTranspose(4, 3), (2, 3, 4, 5), (None, 4, 5, 6, 4), 544),
    (lambda: Conv3DTranspose(4, 3, strides=2, padding="same"), (2, 3, 4, 5),
     (None, 4, 6, 8, 4), 544),
    (lambda: Conv3DTranspose(4, (3, 2, 2), strides=(2, 3, 1), output_padding=(1, 2, 0)),
     (2, 3, 4, 5), (None, 6, 10, 5, 4), 244),
    (lambda: Conv3DTranspose(2, 3, strides=2, padding="same", output_padding=0,
                             data_format="channels_first"), (5, 2, 3, 4),
     (None, 2, 3, 5, 7), 272),
    (lambda: MaxPooling3D(), (4, 5, 6, 3), (None, 2, 2, 3, 3), 0),
    (lambda: AveragePooling3D((1, 2, 3), strides=1, padding="same"), (4, 5, 6, 3),
     (None, 4, 5, 6, 3), 0),
    (lambda: MaxPooling3D(2, data_format="channels_first"), (3, 4, 5, 6), (None, 3, 2, 2, 3),
     0),
    (lambda: GlobalMaxPooling3D(), (4, 5, 6, 3), (None, 3), 0),
    (lambda: GlobalAveragePooling3D(data_format="channels_first"), (3, 4, 5, 6), (None, 3), 0),
    (lambda: GlobalAveragePooling3D(keepdims=True), (4, 5, 6, 3), (None, 1, 1, 1, 3), 0),
    (lambda: ZeroPadding3D(), (4, 5, 6, 3), (None, 6, 7, 8, 3), 0),
    (lambda: ZeroPadding3D(((1, 0), 2, (0, 3))), (4, 5, 6, 3), (None, 5, 9, 9, 3), 0),
    (lambda: Cropping3D(), (4, 5, 6, 3), (None, 2, 3, 4, 3), 0),
    (lambda: Cropping3D(((1, 0), (0, 2), 1), data_format="channels_first"), (3, 4, 5, 6),
     (None, 3, 3, 3, 4), 0),
    (lambda: UpSampling3D(), (2, 3, 4, 1), (None, 4, 6, 8, 1), 0),
    (lambda: UpSampling3D((1, 2, 3), data_format="channels_first"), (1, 2, 3, 4),
     (None, 1, 2, 6, 12), 0),
    (lambda: SpatialDropout3D(0.3), (2, 3, 4, 5), (None, 2, 3, 4, 5), 0),
])
def test_shapes_and_params(rng, layer, input_shape, out_shape, params):
    lay = layer()
    lay.batch_input_shape = (None,) + input_shape
    model = Sequential([lay])
    assert model.output_shape == out_shape
    assert model.count_params() == params
    if None not in input_shape:
        x = rng.standard_normal((2,) + input_shape).astype(np.float32)
        assert model.predict(x, verbose=0).shape == (2,) + out_shape[1:]


def test_weight_shapes_names_and_order():
    model = Sequential([Conv3D(5, (3, 2, 1), input_shape=(4, 4, 4, 2)),
                        Conv3DTranspose(3, 2, strides=2)])
    conv, deconv = model.layers
    assert [tuple(w.shape) for w in conv.weights] == [(3, 2, 1, 2, 5), (5,)]
    assert [tuple(w.shape) for w in deconv.weights] == [(2, 2, 2, 3, 5), (3,)]
    assert [w.name for w in conv.weights] == [f"{conv.name}/kernel:0", f"{conv.name}/bias:0"]
    assert deconv.weights[0].name.endswith("/kernel:0")
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Conv3D" in ln and "(None, 2, 3, 4, 5)" in ln and "65" in ln for ln in lines)
    assert any("Total params: 188" in ln for ln in lines)


# ---------------------------------------------------------------------------
# Values against the direct loops
# ---------------------------------------------------------------------------

CONV_CASES = [((1, 1, 1), (1, 1, 1)), ((2, 1, 2), (1, 1, 1)), ((1, 1, 1), (2, 1, 2))]


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,dilation", CONV_CASES)
def test_conv3d_layer_values(numpy_backend, rng, padding, data_format, strides, dilation):
    layer = Conv3D(4, (3, 2, 2), strides=strides, padding=padding, dilation_rate=dilation,
                   data_format=data_format, activation="relu", bias_initializer="normal")
    x = _volume(rng, (2, 5, 4, 6, 3), data_format)
    y = _run(layer, x)
    kernel, bias = layer.get_weights()
    ref = np.maximum(ref_conv3d(x.astype(np.float64), kernel, bias, strides, padding,
                                dilation, data_format), 0)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert y.shape == layer.compute_output_shape((2,) + x.shape[1:])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_layers_on_every_backend(backend, rng, data_format):
    x = _volume(rng, (1, 3, 4, 3, 2), data_format)
    conv = Conv3D(3, 2, padding="same", strides=(1, 2, 1), data_format=data_format,
                  bias_initializer="normal")
    y = _run(conv, x)
    kernel, bias = conv.get_weights()
    np.testing.assert_allclose(y, ref_conv3d(x.astype(np.float64), kernel, bias, (1, 2, 1),
                                             "same", (1, 1, 1), data_format),
                               rtol=1e-4, atol=1e-5)
    deconv = Conv3DTranspose(2, 2, strides=(1, 2, 1), data_format=data_format,
                             bias_initializer="normal")
    z = _run(deconv, y)
    kernel, bias = deconv.get_weights()
    np.testing.assert_allclose(z, ref_conv3d_transpose(y.astype(np.float64), kernel, bias,
                                                       (4, 4, 4), (1, 2, 1), "valid",
                                                       (1, 1, 1), data_format),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("kwargs,out_size", [
    (dict(strides=1, padding="valid"), (4, 5, 3)),
    (dict(strides=(2, 1, 2), padding="same"), (4, 3, 4)),
    (dict(strides=(2, 3, 2), padding="valid", output_padding=(1, 2, 0)), (6, 11, 4)),
    (dict(strides=2, padding="same", output_padding=(0, 1, 1)), (3, 6, 3)),
    (dict(dilation_rate=(2, 1, 1), padding="valid"), (6, 5, 3)),
])
def test_conv3d_transpose_layer_values(numpy_backend, rng, data_format, kwargs, out_size):
    layer = Conv3DTranspose(2, (3, 3, 2), data_format=data_format, bias_initializer="normal",
                            **kwargs)
    x = _volume(rng, (2, 2, 3, 2, 3), data_format)
    y = _run(layer, x)
    kernel, bias = layer.get_weights()
    strides = layer.strides
    ref = ref_conv3d_transpose(x.astype(np.float64), kernel, bias, out_size, strides,
                               layer.padding, layer.dilation_rate, data_format)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert y.shape == layer.compute_output_shape((2,) + x.shape[1:])


@pytest.mark.parametrize("cls,mode", [(MaxPooling3D, "max"), (AveragePooling3D, "avg")])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling3d_layer_values(backend, rng, cls, mode, padding, data_format):
    layer = cls((2, 3, 2), strides=(1, 2, 2), padding=padding, data_format=data_format)
    x = _volume(rng, (2, 3, 5, 4, 2), data_format)
    np.testing.assert_allclose(_run(layer, x),
                               ref_pool3d(x.astype(np.float64), (2, 3, 2), (1, 2, 2), padding,
                                          mode, data_format), rtol=1e-6, atol=1e-6)


def test_global_pooling3d_values(numpy_backend, rng):
    x = _volume(rng, (2, 3, 4, 5, 6), "channels_last")
    np.testing.assert_allclose(_run(GlobalMaxPooling3D(), x), x.max(axis=(1, 2, 3)))
    np.testing.assert_allclose(_run(GlobalAveragePooling3D(), x), x.mean(axis=(1, 2, 3)),
                               rtol=1e-6, atol=1e-6)
    xf = np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3))
    np.testing.assert_allclose(_run(GlobalMaxPooling3D("channels_first"), xf),
                               x.max(axis=(1, 2, 3)))
    kept = _run(GlobalAveragePooling3D("channels_first", keepdims=True), xf)
    assert kept.shape == (2, 6, 1, 1, 1)
    np.testing.assert_allclose(kept[:, :, 0, 0, 0], x.mean(axis=(1, 2, 3)), rtol=1e-6,
                               atol=1e-6)


def test_padding_cropping_upsampling_values(backend):
    x = np.arange(2 * 3 * 2 * 1, dtype=np.float32).reshape(1, 2, 3, 2, 1)
    padded = _run(ZeroPadding3D(((1, 0), (0, 1), (2, 0))), x)
    assert padded.shape == (1, 3, 4, 4, 1)
    np.testing.assert_array_equal(padded[:, 1:, :3, 2:], x)
    assert padded.sum() == x.sum()
    cropped = _run(Cropping3D(((1, 0), (1, 1), (0, 1))), x)
    np.testing.assert_array_equal(cropped, x[:, 1:, 1:2, :1])
    up = _run(UpSampling3D((2, 1, 3)), x)
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x, 2, axis=1), 3, axis=3))
    xf = np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3))
    upf = _run(UpSampling3D((2, 1, 3), data_format="channels_first"), xf)
    np.testing.assert_array_equal(upf, up.transpose(0, 4, 1, 2, 3))


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_spatial_dropout3d_drops_whole_channels(numpy_backend, data_format):
    layer = SpatialDropout3D(0.5, data_format=data_format, seed=3)
    shape = (4, 2, 3, 3, 8) if data_format == "channels_last" else (4, 8, 2, 3, 3)
    x = np.ones(shape, np.float32)
    y = _run(layer, x, training=True)
    per_channel = y.transpose(0, 4, 1, 2, 3) if data_format == "channels_last" else y
    per_channel = per_channel.reshape(4, 8, -1)
    # each (sample, channel) map is all 0 or all 2 (kept and scaled by 1 / (1 - 0.5))
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2).all(axis=2))
    assert 0 < (per_channel[:, :, 0] == 0).sum() < 32
    np.testing.assert_array_equal(_run(layer, x, training=False), x)


# ---------------------------------------------------------------------------
# Gradients through the backend volume functions (float64, tape vs differences)
# ---------------------------------------------------------------------------

def test_volume_function_gradients():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 4, 3, 2))
    k = rng.standard_normal((2, 2, 2, 2, 3))
    b = rng.standard_normal(3)
    check_function_gradients(
        lambda x, k, b: K.conv3d(x, k, strides=(1, 2, 1), padding="same",
                                 data_format="channels_last", bias=b), [x, k, b])
    kt = rng.standard_normal((2, 3, 2, 3, 2))
    check_function_gradients(
        lambda x, k: K.conv3d_transpose(x, k, (None, 3, 8, 3, None), strides=(1, 2, 1),
                                        padding="same", data_format="channels_last"), [x, kt])
    check_function_gradients(
        lambda x: K.pool3d(x, (2, 2, 2), (1, 1, 1), "same", "channels_first", "avg"), [x])
    check_function_gradients(
        lambda x: K.resize_volumes(K.spatial_3d_cropping(
            K.spatial_3d_padding(x, ((1, 0), (0, 2), (1, 1)), "channels_last"),
            ((0, 1), (1, 1), (0, 1)), "channels_last"), 2, 1, 2, "channels_last"),
        [x])


def test_gradients_flow_through_a_volume_model(numpy_backend, rng):
    model = Sequential([Conv3D(3, 2, padding="same", input_shape=(3, 4, 4, 2)),
                        MaxPooling3D((1, 2, 2)), Conv3DTranspose(2, (1, 2, 2), strides=(1, 2, 2)),
                        GlobalAveragePooling3D(), Dense(2)])
    model.compile("sgd", "mse")
    x = rng.standard_normal((4, 3, 4, 4, 2)).astype(np.float32)
    y = rng.standard_normal((4, 2)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    changed = [not np.allclose(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed), changed


@pytest.mark.parametrize("last", [
    lambda: Conv3D(3, 2, padding="same", activation="softmax"),
    lambda: Conv3DTranspose(3, 1, activation="softmax"),
])
def test_softmax_output_layer_with_cross_entropy(numpy_backend, rng, last):
    model = Sequential([ZeroPadding3D(0, input_shape=(2, 3, 3, 2)), last()])
    model.compile("sgd", "categorical_crossentropy")
    x = rng.standard_normal((4, 2, 3, 3, 2)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, (4, 2, 3, 3))]
    p = model.predict(x, verbose=0).astype(np.float64)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                               np.mean(-np.sum(y * np.log(p), axis=-1)), rtol=1e-5)


# ---------------------------------------------------------------------------
# Keras 1 forms
# ---------------------------------------------------------------------------

def test_keras1_convolution3d():
    with pytest.warns(UserWarning, match=r"Update your `Conv3D` call to the Keras 2 API: "
                                         r"`Conv3D\(16, \(3, 2, 4\), strides=\(2, 2, 1\), "
                                         r'padding="same", data_format="channels_first"'):
        layer = Convolution3D(16, 3, 2, 4, border_mode="same", subsample=(2, 2, 1),
                              dim_ordering="th", init="he_normal", W_regularizer="l2")
    assert layer.kernel_size == (3, 2, 4) and layer.strides == (2, 2, 1)
    assert layer.padding == "same" and layer.data_format == "channels_first"
    assert layer.kernel_regularizer is not None
    with pytest.warns(UserWarning, match="Conv3D"):
        named = Convolution3D(nb_filter=4, kernel_dim1=1, kernel_dim2=2, kernel_dim3=3,
                              bias=False)
    assert named.filters == 4 and named.kernel_size == (1, 2, 3) and not named.use_bias
    with pytest.warns(UserWarning):
        mixed = Convolution3D(4, 1, 2, kernel_dim3=3)
    assert mixed.kernel_size == (1, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        modern = Conv3D(4, 3, 2)                     # Keras 2: the third is strides
    assert modern.kernel_size == (3, 3, 3) and modern.strides == (2, 2, 2)


def test_keras1_pooling_and_reshaping_forms():
    with pytest.warns(UserWarning, match=r'MaxPooling3D\(padding="same", '
                                         r'data_format="channels_first"\)'):
        pool = MaxPooling3D((2, 2, 2), border_mode="same", dim_ordering="th")
    assert pool.padding == "same" and pool.data_format == "channels_first"
    with pytest.warns(UserWarning, match="ZeroPadding3D"):
        assert ZeroPadding3D(2, dim_ordering="tf").data_format == "channels_last"
    with pytest.warns(UserWarning, match="GlobalMaxPooling3D"):
        assert GlobalMaxPooling3D(dim_ordering="th").data_format == "channels_first"


# ---------------------------------------------------------------------------
# Errors at add() time
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,exc,fragment", [
    (lambda: Conv3D(0, 3), ValueError, "filters"),
    (lambda: Conv3D(4, (3, 3)), ValueError, "kernel_size"),
    (lambda: Conv3D(4, 3, padding="full"), ValueError, "ZeroPadding"),
    (lambda: Conv3D(4, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: Conv3D(4, 3, data_format="ndhwc"), ValueError, "data_format"),
    (lambda: Conv3D(4), TypeError, "kernel_size"),
    (lambda: Conv3D(4, 3, nb_filter=3), TypeError, "nb_filter"),
    (lambda: Convolution3D(4, 3, 3, kernel_dim2=3), TypeError, "three integer kernel sizes"),
    (lambda: Conv3DTranspose(4, 3, strides=2, output_padding=2), ValueError, "output_padding"),
    (lambda: MaxPooling3D((2, 2)), ValueError, "pool_size"),
    (lambda: MaxPooling3D(padding="causal"), ValueError, "padding"),
    (lambda: ZeroPadding3D((1, 2)), ValueError, "padding"),
    (lambda: Cropping3D(-1), ValueError, "cropping"),
    (lambda: UpSampling3D(0), ValueError, "size"),
    (lambda: SpatialDropout3D(1.5), ValueError, "rate"),
    (lambda: SpatialDropout3D(0.2, noise_shape=(1, 1)), TypeError, "noise_shape"),
])
def test_bad_configurations(make, exc, fragment):
    with pytest.raises(exc, match=fragment):
        make()


@pytest.mark.parametrize("layer,input_shape,fragment", [
    (lambda: Conv3D(4, 3), (8, 8, 3), "5-D input"),
    (lambda: Conv3D(4, (3, 5, 3)), (4, 4, 4, 1), "larger than the input's volume"),
    (lambda: Conv3D(4, 3, dilation_rate=2), (4, 8, 8, 1), "dilation"),
    (lambda: Conv3DTranspose(4, 3), (4, 4, 3), "5-D input"),
    (lambda: MaxPooling3D((3, 3, 3)), (2, 8, 8, 1), "pool size"),
    (lambda: GlobalAveragePooling3D(), (8, 8, 3), "5-D input"),
    (lambda: Cropping3D(((1, 1), (0, 0), (0, 0))), (2, 8, 8, 1), "removes everything"),
    (lambda: ZeroPadding3D(), (8, 8, 1), "5-D input"),
    (lambda: UpSampling3D(), (8, 1), "5-D input"),
    (lambda: SpatialDropout3D(0.1), (8, 8, 1), "5-D input"),
])
def test_errors_at_add_time_leave_the_model_unchanged(layer, input_shape, fragment):
    model = Sequential()
    first = layer()
    first.batch_input_shape = (None,) + input_shape
    with pytest.raises(ValueError, match=fragment):
        model.add(first)
    assert len(model.layers) == 0
    base = Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError):
        base.add(layer())
    assert len(base.layers) == 1


# ---------------------------------------------------------------------------
# Config round trips
# ---------------------------------------------------------------------------

def test_config_round_trip_through_json(numpy_backend, rng):
    model = Sequential([
        Conv3D(3, (2, 3, 2), strides=(1, 2, 1), padding="same", activation="relu",
               kernel_regularizer="l2", input_shape=(3, 6, 5, 2)),
        SpatialDropout3D(0.1),
        ZeroPadding3D(((1, 0), 1, (0, 2))),
        Cropping3D(((0, 1), (1, 0), 1)),
        UpSampling3D((1, 2, 1)),
        Conv3DTranspose(2, 2, strides=(1, 2, 2), output_padding=(0, 1, 0)),
        AveragePooling3D((1, 2, 2), padding="same"),
        MaxPooling3D(1),
        GlobalMaxPooling3D(),
    ])
    cfg = model.layers[0].get_config()
    assert cfg["kernel_size"] == (2, 3, 2) and cfg["strides"] == (1, 2, 1)
    assert cfg["dilation_rate"] == (1, 1, 1) and cfg["activation"] == "relu"
    tcfg = model.layers[5].get_config()
    assert tcfg["output_padding"] == (0, 1, 0) and "dilation_rate" not in tcfg
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = model_from_json(model.to_json())
    assert [type(l) for l in clone.layers] == [type(l) for l in model.layers]
    assert [l.get_config() for l in clone.layers] == [l.get_config() for l in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 3, 6, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    keras1 = deserialize({"class_name": "Convolution3D", "config": cfg})
    assert isinstance(keras1, Conv3D)
    assert json.loads(model.to_json())["config"]


# ---------------------------------------------------------------------------
# Real data: digits as short 3-frame volumes
# ---------------------------------------------------------------------------

def _digit_volumes(x, y, rng):
    """Each 8x8 digit as 3 frames that drift one pixel right per frame, with noise."""
    imgs = x.reshape(-1, 8, 8)
    frames = [np.roll(imgs, shift, axis=2) for shift in (0, 1, 2)]
    vol = np.stack(frames, axis=1)[..., None]
    vol = vol + rng.normal(0, 0.05, vol.shape)
    return vol.astype(np.float32), y


def test_conv3d_classifier_learns_digits(numpy_backend, digits):
    from gpuseq.utils import to_categorical
    rng = np.random.default_rng(0)
    x, y = _digit_volumes(*digits, rng)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    model = Sequential([
        Conv3D(8, (2, 3, 3), activation="relu", input_shape=(3, 8, 8, 1)),
        MaxPooling3D((1, 2, 2)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[train], to_categorical(y[train], 10), epochs=12, batch_size=32, verbose=0)
    pred = model.predict(x[test], verbose=0).argmax(axis=1)
    accuracy = float((pred == y[test]).mean())
    print(f"Conv3D digits accuracy: {accuracy:.3f}")
    assert accuracy > 0.8, accuracy           # chance is 0.1
