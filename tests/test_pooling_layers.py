"""Pooling layers: shapes as in Keras, values against the direct-loop reference,
masking, Keras 1 forms, config round trips and errors at add() time.
"""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.layers import (AveragePooling1D, AveragePooling2D, Conv1D, GlobalAveragePooling1D,
                           GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                           Masking, MaxPooling1D, MaxPooling2D, deserialize)
from gpuseq.models import Sequential
from reference import ref_pool2d


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


@pytest.mark.parametrize("layer,out_shape", [
    (lambda: MaxPooling2D(input_shape=(96, 96, 32)), (None, 48, 48, 32)),
    (lambda: MaxPooling2D((3, 3), input_shape=(10, 11, 2)), (None, 3, 3, 2)),
    (lambda: MaxPooling2D((3, 3), strides=2, padding="same", input_shape=(10, 11, 2)),
     (None, 5, 6, 2)),
    (lambda: AveragePooling2D((2, 3), strides=(1, 2), input_shape=(5, 7, 4)), (None, 4, 3, 4)),
    (lambda: MaxPooling2D(data_format="channels_first", input_shape=(32, 96, 96)),
     (None, 32, 48, 48)),
    (lambda: MaxPooling1D(3, input_shape=(60, 64)), (None, 20, 64)),
    (lambda: MaxPooling1D(input_shape=(7, 3)), (None, 3, 3)),
    (lambda: AveragePooling1D(3, strides=2, padding="same", input_shape=(7, 3)), (None, 4, 3)),
    (lambda: GlobalAveragePooling1D(input_shape=(16, 128)), (None, 128)),
    (lambda: GlobalMaxPooling1D(input_shape=(16, 128)), (None, 128)),
    (lambda: GlobalAveragePooling2D(input_shape=(7, 7, 64)), (None, 64)),
    (lambda: GlobalMaxPooling2D(data_format="channels_first", input_shape=(64, 7, 7)),
     (None, 64)),
    (lambda: GlobalAveragePooling2D(keepdims=True, input_shape=(7, 7, 64)),
     (None, 1, 1, 64)),
    (lambda: MaxPooling2D(input_shape=(None, None, 3)), (None, None, None, 3)),
])
def test_pooling_shapes(backend, rng, layer, out_shape):
    model = Sequential([layer()])
    assert model.output_shape == out_shape
    assert model.count_params() == 0
    in_shape = tuple(8 if d is None else d for d in model.input_shape[1:])
    x = rng.standard_normal((2,) + in_shape).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (2,) + tuple(y.shape[1:])
    if None not in out_shape[1:]:
        assert y.shape == (2,) + out_shape[1:]


@pytest.mark.parametrize("cls,mode", [(MaxPooling2D, "max"), (AveragePooling2D, "avg")])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_pooling2d_layer_values(backend, rng, cls, mode, padding, data_format):
    x = rng.standard_normal((2, 3, 7, 8) if data_format == "channels_first" else (2, 7, 8, 3))
    x = x.astype(np.float32)
    layer = cls((3, 2), strides=(2, 2), padding=padding, data_format=data_format)
    with ad.no_grad():
        y = layer(ad.Tensor(x)).numpy()
    ref = ref_pool2d(x.astype(np.float64), (3, 2), (2, 2), padding, mode, data_format)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,mode", [(MaxPooling1D, "max"), (AveragePooling1D, "avg")])
def test_pooling1d_layer_values(backend, rng, cls, mode):
    x = rng.standard_normal((2, 10, 3)).astype(np.float32)
    with ad.no_grad():
        y = cls(3)(ad.Tensor(x)).numpy()
    ref = ref_pool2d(x[:, None].astype(np.float64), (1, 3), (1, 3), "valid", mode)[:, 0]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_global_pooling_values(backend, rng):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    with ad.no_grad():
        np.testing.assert_allclose(GlobalAveragePooling1D()(ad.Tensor(x)).numpy(),
                                   x.mean(axis=1), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(GlobalMaxPooling1D()(ad.Tensor(x)).numpy(), x.max(axis=1))
        x2 = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
        np.testing.assert_allclose(GlobalMaxPooling2D()(ad.Tensor(x2)).numpy(),
                                   x2.max(axis=(1, 2)))
        np.testing.assert_allclose(
            GlobalAveragePooling2D(data_format="channels_first")(ad.Tensor(x2)).numpy(),
            x2.mean(axis=(2, 3)), rtol=1e-5, atol=1e-6)


def test_global_average_pooling1d_respects_mask(numpy_backend):
    x = np.array([[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]],
                  [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0]]], dtype=np.float32)
    model = Sequential([Masking(0.0, input_shape=(3, 2)), GlobalAveragePooling1D()])
    np.testing.assert_allclose(model.predict(x, verbose=0), [[2, 3], [5, 6]])


def test_pooling_keras1_forms():
    with pytest.warns(UserWarning, match="pool_size"):
        layer = MaxPooling1D(pool_length=3, stride=1, border_mode='same')
    assert (layer.pool_size, layer.strides, layer.padding) == ((3,), (1,), "same")
    with pytest.warns(UserWarning, match="data_format"):
        layer = MaxPooling2D(pool_size=(2, 2), dim_ordering='th')
    assert layer.data_format == "channels_first"
    with pytest.warns(UserWarning, match="padding"):
        assert AveragePooling2D(border_mode='same').padding == "same"
    with pytest.warns(UserWarning):
        assert GlobalMaxPooling2D(dim_ordering='tf').data_format == "channels_last"
    # MaxPooling2D without data_format follows the global setting
    K.set_image_data_format("channels_first")
    assert MaxPooling2D().data_format == "channels_first"


def test_pooling_errors():
    with pytest.raises(ValueError, match="pool_size"):
        MaxPooling2D(0)
    with pytest.raises(ValueError, match="strides"):
        MaxPooling1D(2, strides=-1)
    with pytest.raises(ValueError, match="padding"):
        MaxPooling2D(padding="causal")
    with pytest.raises(ValueError, match="data_format"):
        AveragePooling2D(data_format="NHWC")
    with pytest.raises(ValueError, match="larger than the input"):
        Sequential([MaxPooling2D((5, 5), input_shape=(4, 8, 3))])
    with pytest.raises(ValueError, match="4-D input"):
        Sequential([MaxPooling2D(input_shape=(8, 3))])
    with pytest.raises(ValueError, match="3-D input"):
        Sequential([GlobalAveragePooling1D(input_shape=(8, 8, 3))])
    model = Sequential([Conv1D(4, 3, input_shape=(5, 2))])
    with pytest.raises(ValueError, match="larger than the input"):
        model.add(MaxPooling1D(4))


def test_pooling_config_round_trip():
    for layer in (MaxPooling2D((3, 2), strides=1, padding="same"), AveragePooling1D(4),
                  GlobalAveragePooling2D(keepdims=True), GlobalMaxPooling1D()):
        cfg = layer.get_config()
        clone = deserialize({"class_name": type(layer).__name__, "config": cfg})
        assert clone.get_config() == cfg
