"""Advanced activation layers (LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax, ReLU),
noise layers (GaussianNoise, GaussianDropout, AlphaDropout) and SpatialDropout1D/2D."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import (ELU, AlphaDropout, Conv2D, Dense, Flatten, GaussianDropout,
                           GaussianNoise, LeakyReLU, PReLU, ReLU, Softmax, SpatialDropout1D,
                           SpatialDropout2D, ThresholdedReLU)
from gpuseq.models import Sequential
from gpuseq.testing import check_function_gradients

X = np.array([[-3.0, -1.0, -0.2, 0.0, 0.3, 0.9, 1.0, 1.5, 7.0]])


def _apply(layer, x):
    layer._maybe_build(tuple(x.shape))
    return np.asarray(dispatch.to_host(layer(ad.Tensor(x)).data))


@pytest.mark.parametrize("layer,expected", [
    (LeakyReLU(), np.where(X > 0, X, 0.3 * X)),
    (LeakyReLU(alpha=0.1), np.where(X > 0, X, 0.1 * X)),
    (LeakyReLU(negative_slope=0.2), np.where(X > 0, X, 0.2 * X)),
    (ELU(), np.where(X > 0, X, np.expm1(X))),
    (ELU(alpha=0.5), np.where(X > 0, X, 0.5 * np.expm1(X))),
    (ThresholdedReLU(), np.where(X > 1.0, X, 0.0)),
    (ThresholdedReLU(theta=0.25), np.where(X > 0.25, X, 0.0)),
    (ReLU(), np.maximum(X, 0)),
    (ReLU(max_value=1.0), np.clip(X, 0, 1)),
    (ReLU(negative_slope=0.1), np.where(X >= 0, X, 0.1 * X)),
    (ReLU(max_value=6.0, negative_slope=0.5, threshold=0.5),
     np.where(X >= 6, 6.0, np.where(X > 0.5, X, 0.5 * (X - 0.5)))),
])
def test_activation_values(layer, expected):
    np.testing.assert_allclose(_apply(layer, X), expected, rtol=1e-12, atol=1e-12)


def test_softmax_axis():
    x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(_apply(Softmax(axis=1), x), e / e.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(_apply(Softmax(), x), e / e.sum(axis=-1, keepdims=True),
                               rtol=1e-12)


@pytest.mark.parametrize("layer", [LeakyReLU(0.2), ELU(0.7), ReLU(max_value=2.0,
                                                                 negative_slope=0.3),
                                   Softmax(axis=1)])
def test_activation_gradients(layer, rng):
    x = rng.standard_normal((3, 5)) * 2
    x[np.abs(x) < 0.05] = 0.3                       # away from the kinks
    x[np.abs(x - 2.0) < 0.05] = 1.7
    layer._maybe_build(x.shape)
    check_function_gradients(lambda t: layer(t), [x])


def test_prelu_learns_a_slope_per_channel(rng):
    layer = PReLU(alpha_initializer="zeros", shared_axes=[1, 2])
    layer._maybe_build((None, 4, 4, 3))
    assert layer.get_weights()[0].shape == (1, 1, 3)
    a = np.array([0.1, 0.5, 2.0]).reshape(1, 1, 3)
    layer.set_weights([a.astype("float32")])
    x = rng.standard_normal((2, 4, 4, 3))
    np.testing.assert_allclose(_apply(layer, x), np.where(x > 0, x, a * x), rtol=1e-6)
    # gradients with respect to x and to alpha (float64 finite differences)
    full = PReLU(shared_axes=1)
    full._maybe_build((None, 2, 3))
    xs = rng.standard_normal((4, 2, 3))
    xs[np.abs(xs) < 0.05] = 0.2

    def f(x_t, alpha_t):
        return ad.relu(x_t) - ad.relu(-x_t) * alpha_t

    check_function_gradients(f, [xs, rng.random((1, 3))])
    with pytest.raises(ValueError, match="axes >= 1"):
        PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match="does not exist"):
        Sequential([PReLU(shared_axes=[3], input_shape=(4, 5))])


def test_prelu_model_trains_and_saves(tmp_path, rng):
    K.clear_session()
    m = Sequential([Dense(4, input_dim=3), PReLU(), Dense(1)])
    m.compile("sgd", "mse")
    assert m.layers[1].name == "p_re_lu_1"
    assert m.layers[1].get_weights()[0].shape == (4,)
    x = rng.standard_normal((32, 3)).astype("float32")
    m.fit(x, rng.standard_normal((32, 1)).astype("float32"), epochs=3, verbose=0)
    assert np.any(m.layers[1].get_weights()[0] != 0)          # alpha learned
    m.save(tmp_path / "p.h5")
    from gpuseq.models import load_model
    np.testing.assert_allclose(load_model(tmp_path / "p.h5").predict(x), m.predict(x),
                               rtol=1e-6)


def test_configs_round_trip():
    for layer in (LeakyReLU(0.2), PReLU(shared_axes=[1]), ELU(0.5), ThresholdedReLU(0.3),
                  Softmax(axis=1), ReLU(6.0, 0.1, 0.5), GaussianNoise(0.3),
                  GaussianDropout(0.2), AlphaDropout(0.1), SpatialDropout1D(0.3),
                  SpatialDropout2D(0.4, data_format="channels_first")):
        cfg = layer.get_config()
        assert type(layer).from_config(cfg).get_config() == cfg
    assert LeakyReLU(0.2).get_config()["alpha"] == 0.2
    with pytest.raises(ValueError, match=">= 0"):
        LeakyReLU(-1)
    with pytest.raises(TypeError, match="must be a number"):
        ELU("big")
    with pytest.raises(ValueError, match="rate"):
        GaussianDropout(1.0)
    with pytest.raises(ValueError, match="stddev"):
        GaussianNoise(-0.1)


def test_noise_layers_are_identity_at_inference(rng):
    x = rng.standard_normal((50, 20)).astype("float32")
    for layer in (GaussianNoise(1.0), GaussianDropout(0.5), AlphaDropout(0.5),
                  SpatialDropout1D(0.5)):
        y = x.reshape(50, 4, 5) if isinstance(layer, SpatialDropout1D) else x
        np.testing.assert_array_equal(dispatch.to_host(layer(ad.Tensor(y)).data), y)


def test_noise_statistics_in_training(rng):
    from gpuseq.utils import set_random_seed
    set_random_seed(3)
    x = np.full((200, 500), 2.0, dtype="float32")
    n = dispatch.to_host(GaussianNoise(0.5)(ad.Tensor(x), training=True).data)
    assert abs(n.mean() - 2.0) < 0.01 and abs(n.std() - 0.5) < 0.01
    d = dispatch.to_host(GaussianDropout(0.2)(ad.Tensor(x), training=True).data)
    assert abs(d.mean() - 2.0) < 0.01 and abs(d.std() - 2.0 * np.sqrt(0.25)) < 0.01
    # AlphaDropout keeps zero mean / unit variance inputs at zero mean / unit variance
    z = rng.standard_normal((200, 500)).astype("float32")
    a = dispatch.to_host(AlphaDropout(0.3)(ad.Tensor(z), training=True).data)
    assert abs(a.mean()) < 0.02 and abs(a.std() - 1.0) < 0.02
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    aa = ((1 - 0.3) * (1 + 0.3 * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(a, aa * alpha_p + (-aa * alpha_p * 0.3), atol=1e-5)
    assert abs(dropped.mean() - 0.3) < 0.01


def test_spatial_dropout_drops_whole_channels(rng):
    x = np.ones((8, 6, 10), dtype="float32")
    y = dispatch.to_host(SpatialDropout1D(0.5)(ad.Tensor(x), training=True).data)
    # every (sample, channel) column is all zeros or all 2 along time
    assert np.all((y == 0).all(axis=1) | (y == 2).all(axis=1))
    assert 0.3 < (y[:, 0] == 0).mean() < 0.7
    x4 = np.ones((8, 3, 5, 5), dtype="float32")
    y4 = dispatch.to_host(SpatialDropout2D(0.5, data_format="channels_first")(
        ad.Tensor(x4), training=True).data)
    assert np.all((y4 == 0).all(axis=(2, 3)) | (y4 == 2).all(axis=(2, 3)))
    with pytest.raises(ValueError, match="expects inputs of shape"):
        Sequential([SpatialDropout1D(0.5, input_shape=(4,))])
    with pytest.raises(ValueError, match="expects 4D inputs"):
        Sequential([SpatialDropout2D(0.5, input_shape=(4, 4))])


def test_layers_train_on_every_backend(backend, rng):
    """A small CNN using the new layers trains on the active backend like on NumPy."""
    x = rng.random((16, 6, 6, 2)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")

    def run(name):
        with dispatch.use_backend(name):
            K.clear_session()
            m = Sequential([Conv2D(3, (3, 3), input_shape=(6, 6, 2)), LeakyReLU(0.1),
                            PReLU(shared_axes=[1, 2]), ELU(), ReLU(max_value=3.0),
                            ThresholdedReLU(0.0), Softmax(axis=-1),
                            SpatialDropout2D(0.0), Flatten(), Dense(1)])
            m.set_weights([np.linspace(-0.5, 0.5, w.size).reshape(w.shape).astype("float32")
                           for w in m.get_weights()])
            m.compile("sgd", "mse")
            m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
            return m.get_weights()

    for a, b in zip(run(backend), run("numpy")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
