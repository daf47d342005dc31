"""The volume layers against the real Keras 3: the same configuration and weights
give the same outputs, configs load in Keras, and HDF5 weight files move both ways.

Skipped where Keras cannot be imported (it needs a backend; JAX is used here).
"""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
keras = pytest.importorskip("keras")

import gpuseq.layers as glayers  # noqa: E402
from gpuseq.models import Sequential, load_model  # noqa: E402

# (class name, kwargs both frameworks take, input shape without batch)
CASES = [
    ("Conv3D", dict(filters=3, kernel_size=(2, 3, 2)), (4, 5, 6, 2)),
    ("Conv3D", dict(filters=3, kernel_size=3, strides=(2, 1, 2), padding="same"),
     (5, 4, 6, 2)),
    ("Conv3D", dict(filters=2, kernel_size=2, dilation_rate=(2, 1, 2)), (5, 4, 6, 2)),
    ("Conv3D", dict(filters=2, kernel_size=(3, 2, 2), padding="same", strides=2,
                    data_format="channels_first"), (2, 5, 4, 6)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3), (2, 3, 4, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=(3, 2, 3), strides=(2, 1, 2),
                             padding="same"), (2, 3, 4, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="valid",
                             output_padding=(1, 0, 1)), (2, 3, 4, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=(3, 3, 2), strides=2, padding="same",
                             output_padding=(1, 0, 1)), (2, 3, 4, 3)),
    ("Conv3DTranspose", dict(filters=3, kernel_size=2, strides=(1, 2, 2),
                             data_format="channels_first"), (3, 2, 3, 4)),
    ("MaxPooling3D", dict(pool_size=(2, 2, 3), strides=(1, 2, 2), padding="same"),
     (3, 5, 7, 2)),
    ("AveragePooling3D", dict(pool_size=2, padding="same"), (3, 5, 7, 2)),
    ("AveragePooling3D", dict(pool_size=(1, 2, 2), data_format="channels_first"),
     (2, 3, 4, 5)),
    ("GlobalMaxPooling3D", dict(), (3, 4, 5, 2)),
    ("GlobalAveragePooling3D", dict(data_format="channels_first"), (3, 4, 5, 2)),
    ("ZeroPadding3D", dict(padding=((1, 0), (2, 1), (0, 3))), (2, 3, 4, 2)),
    ("Cropping3D", dict(cropping=((1, 0), (0, 1), (1, 1)), data_format="channels_first"),
     (2, 3, 4, 5)),
    ("UpSampling3D", dict(size=(2, 1, 3)), (2, 3, 4, 2)),
    ("SpatialDropout3D", dict(rate=0.3), (2, 3, 4, 2)),
]


def _pair(cls, kwargs, input_shape):
    """The same model in both frameworks, Keras's weights copied into gpuseq's."""
    kmodel = keras.Sequential([keras.Input(input_shape), getattr(keras.layers, cls)(**kwargs)])
    rng = np.random.RandomState(0)
    kmodel.set_weights([rng.normal(0, 0.5, tuple(w.shape)).astype("float32")
                        for w in kmodel.weights])
    gmodel = Sequential([getattr(glayers, cls)(input_shape=input_shape, **kwargs)])
    return kmodel, gmodel


@pytest.mark.parametrize("cls,kwargs,input_shape", CASES)
def test_same_outputs_shapes_and_weights_as_keras(cls, kwargs, input_shape):
    kmodel, gmodel = _pair(cls, kwargs, input_shape)
    assert gmodel.output_shape == tuple(kmodel.output_shape)
    assert gmodel.count_params() == kmodel.count_params()
    assert [w.shape for w in gmodel.get_weights()] == [tuple(w.shape) for w in kmodel.weights]
    gmodel.set_weights(kmodel.get_weights())
    x = np.random.RandomState(1).rand(3, *input_shape).astype("float32")
    want = np.asarray(kmodel(x, training=False))
    np.testing.assert_allclose(gmodel.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls,kwargs,input_shape", CASES)
def test_keras_builds_our_configs(cls, kwargs, input_shape):
    layer = getattr(glayers, cls)(**kwargs)
    cfg = layer.get_config()
    klayer = getattr(keras.layers, cls).from_config(
        {k: v for k, v in cfg.items() if k != "batch_input_shape"})
    ours = keras.Sequential([keras.Input(input_shape), klayer])
    theirs = keras.Sequential([keras.Input(input_shape), getattr(keras.layers, cls)(**kwargs)])
    assert ours.output_shape == theirs.output_shape


def test_hdf5_weights_both_ways(tmp_path):
    """A volume model's weights written by Keras load in gpuseq, and the other way."""
    layers = [("Conv3D", dict(filters=3, kernel_size=2, activation="relu")),
              ("MaxPooling3D", dict(pool_size=(1, 2, 2))),
              ("Conv3DTranspose", dict(filters=2, kernel_size=(1, 2, 2), strides=(1, 2, 2))),
              ("GlobalAveragePooling3D", dict()), ("Dense", dict(units=2))]
    shape = (3, 5, 5, 2)
    kmodel = keras.Sequential([keras.Input(shape)] +
                              [getattr(keras.layers, c)(**k) for c, k in layers])
    rng = np.random.RandomState(4)
    kmodel.set_weights([rng.normal(0, 0.5, tuple(w.shape)).astype("float32")
                        for w in kmodel.weights])
    x = rng.rand(2, *shape).astype("float32")
    want = np.asarray(kmodel(x, training=False))

    def gpuseq_model():
        m = Sequential()
        for i, (c, k) in enumerate(layers):
            m.add(getattr(glayers, c)(**(dict(k, input_shape=shape) if i == 0 else k)))
        return m

    kmodel.save_weights(str(tmp_path / "keras.weights.h5"))
    g = gpuseq_model()
    g.load_weights(str(tmp_path / "keras.weights.h5"))
    np.testing.assert_allclose(g.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    kmodel.save(str(tmp_path / "keras_model.h5"))             # config + weights, HDF5
    whole = load_model(str(tmp_path / "keras_model.h5"), compile=False)
    assert [type(l).__name__ for l in whole.layers] == [c for c, _ in layers]
    np.testing.assert_allclose(whole.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)

    g2 = gpuseq_model()
    g2.set_weights([w[::-1].copy() if w.ndim == 1 else w * 0.5 for w in kmodel.get_weights()])
    for name in ("gpuseq.weights.h5", "gpuseq.h5"):
        g2.save_weights(str(tmp_path / name))
        k2 = keras.Sequential([keras.Input(shape)] +
                              [getattr(keras.layers, c)(**k) for c, k in layers])
        k2.load_weights(str(tmp_path / name))
        np.testing.assert_allclose(np.asarray(k2(x, training=False)),
                                   g2.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    g2.save(str(tmp_path / "gpuseq_model.h5"))
    k3 = keras.models.load_model(str(tmp_path / "gpuseq_model.h5"), compile=False)
    np.testing.assert_allclose(np.asarray(k3(x, training=False)), g2.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
