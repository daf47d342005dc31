"""Convolutional models that learn: a small CNN on scikit-learn's 8x8 digits, and the
seeds' VGG-like (Keras 2 and Keras 1 forms) and Conv1D models on random data of the
seeds' shapes (fewer samples, so that it stays fast)."""
import contextlib
import time

import numpy as np
import pytest

import gpuseq
import gpuseq.backend as K
from gpuseq.layers import (Activation, Conv1D, Conv2D, Convolution2D, Dense, Dropout, Flatten,
                           GlobalAveragePooling1D, MaxPooling1D, MaxPooling2D)
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD, Adam


@pytest.fixture(autouse=True)
def _setup():
    """Restore the global image format; run BLAS on one thread (a 2-core CI machine
    shared with other jobs makes multi-threaded BLAS calls wait for each other)."""
    fmt = K.image_data_format()
    try:
        from threadpoolctl import threadpool_limits
        ctx = threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        ctx = contextlib.nullcontext()
    with ctx:
        yield
    K.set_image_data_format(fmt)


def _digits_split(digits):
    x, y = digits
    x = x.reshape(-1, 8, 8, 1)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def _digits_cnn():
    return Sequential([
        Conv2D(16, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        Conv2D(32, 3, activation="relu"),
        MaxPooling2D(),
        Flatten(),
        Dense(64, activation="relu"),
        Dense(10, activation="softmax"),
    ])


def test_digits_cnn_reaches_98_percent(numpy_backend, digits):
    gpuseq.random.set_seed(1)
    (xtr, ytr), (xte, yte) = _digits_split(digits)
    model = _digits_cnn()
    model.compile(optimizer=Adam(0.002), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    model.fit(xtr, ytr, batch_size=32, epochs=15, verbose=0)
    loss, acc = model.evaluate(xte, yte, verbose=0)
    assert acc >= 0.98, f"test accuracy {acc:.4f} (loss {loss:.4f})"
    assert time.perf_counter() - t0 < 120


def test_digits_cnn_through_the_kernels_matches_numpy(backend, digits):
    """The CNN's predictions and one training step agree across backends (the emulated
    CUDA kernels in CI) starting from the same weights."""
    from gpuseq.backend import dispatch
    (xtr, ytr), _ = _digits_split(digits)
    x, y = xtr[:64], ytr[:64]
    with dispatch.use_backend("numpy"):
        ref = _digits_cnn()
        weights = ref.get_weights()
        ref.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
        p_ref = ref.predict(x, verbose=0)
        loss_ref = [ref.train_on_batch(x, y) for _ in range(2)]
        w_ref = ref.get_weights()
    model = _digits_cnn()
    model.set_weights(weights)
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(model.predict(x, verbose=0), p_ref, rtol=1e-4, atol=1e-5)
    loss = [model.train_on_batch(x, y) for _ in range(2)]
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-4)
    for a, b in zip(model.get_weights(), w_ref):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _vgg_seed():
    # the seed's Keras 2 VGG-like network, verbatim
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(100, 100, 3)))
    model.add(Conv2D(32, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(256, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation='softmax'))
    return model


def _vgg_keras1_seed():
    # the seed's Keras 1 form, verbatim (input_shape=(3, 100, 100) is 'th' ordering)
    model = Sequential()
    model.add(Convolution2D(32, 3, 3, border_mode='valid', input_shape=(3, 100, 100)))
    model.add(Activation('relu'))
    model.add(Convolution2D(32, 3, 3))
    model.add(Activation('relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Convolution2D(64, 3, 3, border_mode='valid'))
    model.add(Activation('relu'))
    model.add(Convolution2D(64, 3, 3))
    model.add(Activation('relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))
    model.add(Flatten())
    model.add(Dense(256))
    model.add(Activation('relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10))
    model.add(Activation('softmax'))
    return model


def _learns(model, x, y, steps, **fit_kwargs):
    before = model.evaluate(x, y, batch_size=len(x), verbose=0)
    hist = model.fit(x, y, batch_size=len(x), verbose=0, **fit_kwargs)
    after = model.evaluate(x, y, batch_size=len(x), verbose=0)
    before = before[0] if isinstance(before, list) else before
    after = after[0] if isinstance(after, list) else after
    assert np.all(np.isfinite(list(hist.history.values())[0]))
    assert after < before, f"loss did not decrease: {before:.4f} -> {after:.4f}"
    return before, after


def test_vgg_like_seed_trains(numpy_backend):
    rng = np.random.default_rng(0)
    x_train = rng.random((4, 100, 100, 3)).astype("float32")
    y_train = gpuseq.utils.to_categorical(rng.integers(10, size=(4, 1)), num_classes=10)
    model = _vgg_seed()
    assert model.output_shape == (None, 10)
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd)
    _learns(model, x_train, y_train, steps=3, epochs=3)


def test_vgg_like_keras1_seed_trains(numpy_backend):
    rng = np.random.default_rng(1)
    x_train = rng.random((4, 3, 100, 100)).astype("float32")
    y_train = gpuseq.utils.to_categorical(rng.integers(10, size=(4, 1)), num_classes=10)
    with pytest.warns(UserWarning) as record:
        model = _vgg_keras1_seed()
    messages = [str(w.message) for w in record]
    assert any("Conv2D(32, (3, 3), padding=\"valid\"" in m for m in messages)
    assert any("'th' order" in m for m in messages)
    assert model.layers[0].output_shape == (None, 32, 98, 98)
    assert model.layers[10].output_shape == (None, 64, 22, 22)
    assert model.count_params() == 7998250
    # the seed's SGD with a learning rate suited to 4 random samples
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd)
    with pytest.warns(UserWarning, match="epochs"):
        _learns(model, x_train, y_train, steps=3, nb_epoch=3)


def test_conv1d_seed_trains(numpy_backend):
    rng = np.random.default_rng(2)
    seq_length = 64
    x_train = rng.random((32, seq_length, 100)).astype("float32")
    y_train = rng.integers(2, size=(32, 1))
    model = Sequential()
    model.add(Conv1D(64, 3, activation='relu', input_shape=(seq_length, 100)))
    model.add(Conv1D(64, 3, activation='relu'))
    model.add(MaxPooling1D(3))
    model.add(Conv1D(128, 3, activation='relu'))
    model.add(Conv1D(128, 3, activation='relu'))
    model.add(GlobalAveragePooling1D())
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))
    assert [l.output_shape for l in model.layers[:6]] == [
        (None, 62, 64), (None, 60, 64), (None, 20, 64), (None, 18, 128), (None, 16, 128),
        (None, 128)]
    assert model.count_params() == 19264 + 12352 + 24704 + 49280 + 129
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    _learns(model, x_train, y_train, steps=8, epochs=8)
