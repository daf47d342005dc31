"""The Dense-family training path on every backend: the CuPy op layer (emulated in CI,
a real GPU where present) trains exactly like the NumPy reference."""
import numpy as np
import pytest

from gpuseq.backend import dispatch
from gpuseq.layers import Activation, Dense
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD, Adam, RMSprop
from gpuseq.utils import set_random_seed, to_categorical


def _train(optimizer_factory, x, y, loss, last_activation_layer):
    set_random_seed(7)
    layers = [Dense(16, activation="tanh", input_dim=x.shape[1]), Dense(12, activation="relu")]
    if last_activation_layer:
        layers += [Dense(y.shape[1]), Activation("softmax")]
    else:
        layers += [Dense(y.shape[1], activation="softmax")]
    m = Sequential(layers)
    m.compile(optimizer_factory(), loss, metrics=["accuracy"])
    h = m.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    return m.get_weights(), h.history, m.predict(x)


@pytest.mark.parametrize("opt", [
    lambda: SGD(lr=0.05, decay=1e-3, momentum=0.9, nesterov=True),
    lambda: RMSprop(),
    lambda: Adam(amsgrad=True),
], ids=["sgd-nesterov", "rmsprop", "adam-amsgrad"])
@pytest.mark.parametrize("last_activation_layer", [False, True])
def test_training_matches_numpy_reference(backend, digits, opt, last_activation_layer):
    x, labels = digits
    x, y = x[:96], to_categorical(labels[:96], 10)
    w, hist, pred = _train(opt, x, y, "categorical_crossentropy", last_activation_layer)
    with dispatch.use_backend("numpy"):
        w_ref, hist_ref, pred_ref = _train(opt, x, y, "categorical_crossentropy",
                                           last_activation_layer)
    for a, b in zip(w, w_ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(hist["loss"], hist_ref["loss"], rtol=1e-4)
    np.testing.assert_allclose(pred, pred_ref, rtol=1e-4, atol=1e-6)


def test_sparse_labels_and_binary_model(backend, digits):
    x, labels = digits
    x = x[:64]

    def run():
        set_random_seed(3)
        a = Sequential([Dense(8, activation="elu", input_dim=64), Dense(10, activation="softmax")])
        a.compile("adagrad", "sparse_categorical_crossentropy", metrics=["acc"])
        ha = a.fit(x, labels[:64], epochs=2, batch_size=32, shuffle=False, verbose=0)
        b = Sequential([Dense(8, activation="selu", input_dim=64), Dense(1, activation="sigmoid")])
        b.compile("adadelta", "binary_crossentropy", metrics=["accuracy"])
        hb = b.fit(x, (labels[:64] > 4).astype("float32"), epochs=2, batch_size=32,
                   shuffle=False, verbose=0)
        return a.get_weights() + b.get_weights(), ha.history["loss"] + hb.history["loss"]

    w, losses = run()
    with dispatch.use_backend("numpy"):
        w_ref, losses_ref = run()
    for a, b in zip(w, w_ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(losses, losses_ref, rtol=1e-4)


def test_weights_and_optimizer_state_live_on_the_device(backend):
    m = Sequential([Dense(4, input_dim=3), Dense(2, activation="softmax")])
    m.compile("adam", "categorical_crossentropy")
    m.train_on_batch(np.ones((4, 3), "float32"), np.eye(2, dtype="float32")[[0, 1, 0, 1]])
    xp = dispatch.xp()
    assert all(isinstance(v.data, xp.ndarray) for v in m.weights)
    assert all(isinstance(s, xp.ndarray) for st in m.optimizer._slots.values()
               for s in st.values())


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_training_matches_numpy_reference(backend, cell):
    # orthogonal recurrent kernels come out of QR in Fortran order: the device
    # optimizer kernels must still get C-ordered weights
    import gpuseq.layers as L
    rng = np.random.default_rng(5)
    x = rng.random((64, 8, 16)).astype("float32")
    y = to_categorical(rng.integers(0, 10, size=64), 10)

    def run():
        set_random_seed(11)
        rnn = getattr(L, cell)
        m = Sequential([rnn(8, return_sequences=True, input_shape=(8, 16)), rnn(8),
                        Dense(10, activation="softmax")])
        m.compile("rmsprop", "categorical_crossentropy", metrics=["acc"])
        h = m.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0)
        return m.get_weights(), h.history

    w, hist = run()
    with dispatch.use_backend("numpy"):
        w_ref, hist_ref = run()
    for a, b in zip(w, w_ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    for key in ("loss", "acc"):
        assert all(isinstance(v, (float, np.floating)) for v in hist[key]), hist[key]
        np.testing.assert_allclose(hist[key], hist_ref[key], rtol=1e-4)


def test_weights_are_c_ordered_whatever_their_initializer(backend):
    import gpuseq.layers as L
    m = Sequential([L.LSTM(6, return_sequences=True, input_shape=(4, 3)), L.GRU(5),
                    Dense(2)])
    for v in m.weights:
        assert v.data.flags.c_contiguous, v.name
    m.set_weights([np.asfortranarray(w) for w in m.get_weights()])
    for v in m.weights:
        assert v.data.flags.c_contiguous, v.name


@pytest.mark.gpu
def test_device_random_stream_advances_and_repeats_with_the_seed():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    from gpuseq import random as grandom
    with dispatch.use_backend("cupy"):
        set_random_seed(3)
        a, b = grandom.device_uniform((1000,)), grandom.device_uniform((1000,))
        set_random_seed(3)
        a2, b2 = grandom.device_uniform((1000,)), grandom.device_uniform((1000,))
        a, b, a2, b2 = (dispatch.to_host(v) for v in (a, b, a2, b2))
    assert not np.array_equal(a, b)                 # each draw is fresh
    np.testing.assert_array_equal(a, a2)            # the seed repeats the stream
    np.testing.assert_array_equal(b, b2)
    assert 0.0 <= a.min() and a.max() < 1.0 and abs(a.mean() - 0.5) < 0.05


@pytest.mark.gpu
def test_python_numbers_become_cached_device_constants():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    from gpuseq.backend import autodiff as ad
    with dispatch.use_backend("cupy"):
        like = ad.Tensor(dispatch.to_device(np.ones(3, np.float32)))
        a, b = ad.as_tensor(0.25, like), ad.as_tensor(0.25, like)
        c = ad.as_tensor(0.25, ad.Tensor(dispatch.to_device(np.ones(3, np.float64))))
        n = ad.as_tensor(float("nan"), like)
        y = dispatch.to_host((like * 0.25 + 1).data)
    assert a.data is b.data and float(a.data) == 0.25 and a.data.dtype == np.float32
    assert c.data is not a.data and c.data.dtype == np.float64
    assert np.isnan(float(n.data))
    np.testing.assert_array_equal(y, np.full(3, 1.25, np.float32))
