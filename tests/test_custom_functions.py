"""User-written losses and metrics built from gpuseq.backend train through the tape,
and every compile() call of the Keras guide runs as written."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq import losses
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import Activation, Dense, Dropout
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import set_random_seed, to_categorical
from _gradcheck import check_function_gradients, one_blas_thread  # noqa: F401


def my_crossentropy(y_true, y_pred):
    p = K.clip(y_pred, K.epsilon(), 1.0 - K.epsilon())
    return -K.sum(y_true * K.log(p), axis=-1)


def my_mse(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1)


def huber(y_true, y_pred):
    d = y_pred - y_true
    quad = 0.5 * K.square(d)
    lin = K.abs(d) - 0.5
    return K.mean(K.switch(K.less_equal(K.abs(d), 1.0), quad, lin), axis=-1)


def focal(y_true, y_pred):
    p = K.clip(y_pred, K.epsilon(), 1.0 - K.epsilon())
    return -K.sum(y_true * K.pow(1.0 - p, 2.0) * K.log(p), axis=-1)


def _split(digits):
    """A fixed random split (the bundled file is ordered by writer)."""
    x, y = digits
    order = np.random.default_rng(42).permutation(len(x))
    tr, te = order[:1400], order[1400:]
    return x[tr], to_categorical(y[tr], 10), x[te], y[te]


@pytest.mark.parametrize("loss", [my_crossentropy, my_mse, focal])
def test_custom_loss_trains_the_digits_mlp(digits, loss):
    set_random_seed(0)
    x, y, xt, yt = _split(digits)
    m = Sequential([Dense(64, input_dim=64, activation="relu"), Dense(10, activation="softmax")])
    m.compile("adam" if loss is not my_mse else SGD(lr=0.5, momentum=0.9), loss,
              metrics=["accuracy"])
    assert m._loss_name is None and not m._fused_plan()      # runs through the tape
    h = m.fit(x, y, batch_size=32, epochs=15, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    acc = np.mean(m.predict(xt).argmax(1) == yt)
    assert acc >= 0.9, f"test accuracy {acc:.3f}"


def test_custom_loss_gradients_equal_the_builtin_loss_gradients(digits):
    x, y, _, _ = _split(digits)
    x, y = x[:50], y[:50]
    m = Sequential([Dense(8, input_dim=64, activation="tanh"), Dense(10, activation="softmax")])
    params = m._trainable_variables()

    def grads(loss):
        m.compile("sgd", loss)
        loss_t, _, _ = m._loss_and_outputs([x], y, None, training=True)
        return float(loss_t), [np.asarray(g) for g in ad.gradients(loss_t, params)]

    l_custom, g_custom = grads(my_crossentropy)
    l_builtin, g_builtin = grads("categorical_crossentropy")      # fused softmax + CE op
    assert l_custom == pytest.approx(l_builtin, rel=1e-5)
    for a, b in zip(g_custom, g_builtin):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_custom_loss_float64_gradients():
    rng = np.random.default_rng(2)
    t = np.eye(4)[[0, 3, 1]]
    p = rng.uniform(0.05, 0.9, (3, 4))
    for fn in (my_crossentropy, my_mse, focal):
        check_function_gradients(fn, [t, p], wrt=[1])
    check_function_gradients(huber, [rng.normal(size=(3, 4)),
                                     np.array([[0.3, -2.0, 0.1, 1.7]] * 3)], wrt=[1])


def test_custom_loss_returning_a_scalar_trains():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")

    def total_mse(y_true, y_pred):
        return K.mean(K.square(y_pred - y_true))

    m = Sequential([Dense(1, input_dim=3)])
    m.compile(SGD(lr=0.1), total_mse)
    h = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < 1e-3 < h.history["loss"][0]
    np.testing.assert_allclose(m.get_weights()[0].ravel(), [1.0, -2.0, 0.5], atol=0.02)


def test_custom_loss_gives_the_same_step_on_every_backend(backend):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    w = [rng.normal(size=(5, 4)).astype("float32"), np.zeros(4, "float32"),
         rng.normal(size=(4, 2)).astype("float32"), np.zeros(2, "float32")]

    def run():
        m = Sequential([Dense(4, input_dim=5, activation="tanh"), Dense(2)])
        m.set_weights(w)
        m.compile(SGD(lr=0.1, momentum=0.9), huber, metrics=[my_mse])
        h = m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return m.get_weights(), h.history

    got_w, got_h = run()
    with dispatch.use_backend("numpy"):
        want_w, want_h = run()
    for a, b in zip(got_w, want_w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h["my_mse"], want_h["my_mse"], rtol=1e-5)


# -- the compile() calls of the Keras guide, as written -----------------------------------------

def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def false_rates(y_true, y_pred):
    false_neg = K.mean(y_true * K.cast(K.less(y_pred, 0.5), K.floatx()))
    false_pos = K.mean((1 - y_true) * K.cast(K.greater_equal(y_pred, 0.5), K.floatx()))
    return {
        'false_neg': false_neg,
        'false_pos': false_pos,
    }


def _binary_model():
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(1, activation='sigmoid'))
    return model


def _categorical_model():
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(10, activation='softmax'))
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    data = rng.random((n, 100)).astype("float32")
    labels = rng.integers(2, size=(n, 1))
    multi = to_categorical(rng.integers(10, size=(n, 1)), num_classes=10)
    return data, labels, multi


def test_guide_compile_calls_run_as_written():
    data, labels, multi = _data()
    # For a multi-class classification problem
    model = _categorical_model()
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])
    h = model.fit(data, multi, epochs=1, batch_size=32, verbose=0)
    assert set(h.history) == {"loss", "accuracy"}
    # For a binary classification problem
    model = _binary_model()
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    model.fit(data, labels, epochs=1, batch_size=32, verbose=0)
    # For a mean squared error regression problem
    model = _binary_model()
    model.compile(optimizer='rmsprop', loss='mse')
    assert np.isscalar(model.evaluate(data, labels, verbose=0))
    # For custom metrics
    model = _binary_model()
    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  metrics=['accuracy', mean_pred])
    h = model.fit(data, labels, epochs=1, batch_size=32, verbose=0)
    assert set(h.history) == {"loss", "accuracy", "mean_pred"}
    model = _binary_model()
    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  metrics=['accuracy', mean_pred, false_rates])
    h = model.fit(data, labels, epochs=2, batch_size=32, verbose=0)
    assert list(h.history) == ["loss", "accuracy", "mean_pred", "false_neg", "false_pos"]
    assert len(h.history["false_pos"]) == 2
    assert model.metrics_names == ["loss", "accuracy", "mean_pred", "false_neg", "false_pos"]
    assert len(model.evaluate(data, labels, verbose=0)) == 5


@pytest.mark.parametrize("optimizer", ['rmsprop', 'adagrad', 'adadelta', 'adam', 'sgd'])
def test_guide_optimizer_names(optimizer):
    data, labels, _ = _data()
    model = _binary_model()
    model.compile(optimizer=optimizer, loss='binary_crossentropy', metrics=['accuracy'])
    h = model.fit(data, labels, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_guide_sgd_mlp_for_multiclass_softmax(digits):
    set_random_seed(0)
    x, y, xt, yt = _split(digits)
    model = Sequential()
    model.add(Dense(64, activation='relu', input_dim=64))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation='softmax'))
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    model.fit(x, y, epochs=20, batch_size=128, verbose=0)
    score = model.evaluate(xt, to_categorical(yt, 10), batch_size=128, verbose=0)
    assert sgd.iterations == 20 * 11 and float(sgd.lr) == 0.01
    assert score[1] >= 0.85


def test_guide_keras1_style_sgd_with_activation_layers():
    data, _, multi = _data()
    model = Sequential()
    with pytest.warns(UserWarning, match="Keras 2 API"):
        model.add(Dense(64, input_dim=100, init='uniform'))
    model.add(Activation('tanh'))
    with pytest.warns(UserWarning, match="Keras 2 API"):
        model.add(Dense(10, init='uniform'))
    model.add(Activation('softmax'))
    sgd = SGD(lr=0.1, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    with pytest.warns(UserWarning, match="Keras 2 API"):
        h = model.fit(data, multi, nb_epoch=2, batch_size=16, verbose=0)
    assert len(h.history["accuracy"]) == 2
