"""fit / evaluate / predict semantics, checked by value, and the errors of bad input."""
import io
import re
import sys

import numpy as np
import pytest

from gpuseq import callbacks
from gpuseq.layers import Dense, Dropout
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import set_random_seed, to_categorical


def linear_model(units=1, input_dim=2, lr=0.0, **compile_kw):
    m = Sequential([Dense(units, input_dim=input_dim, kernel_initializer="ones",
                          bias_initializer="zeros")])
    m.compile(SGD(lr=lr), compile_kw.pop("loss", "mse"), **compile_kw)
    return m


# ------------------------------------------------------------------- learning
def test_mlp_learns_the_digits(digits):
    set_random_seed(0)
    x, y = digits
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], to_categorical(y[order], 10)
    m = Sequential([Dense(64, activation="relu", input_dim=64), Dropout(0.2),
                    Dense(10, activation="softmax")])
    m.compile(SGD(lr=0.05, momentum=0.9, nesterov=True), "categorical_crossentropy",
              metrics=["accuracy"])
    h = m.fit(x[:1400], y[:1400], epochs=15, batch_size=32, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0] / 4
    loss, acc = m.evaluate(x[1400:], y[1400:], verbose=0)
    assert acc >= 0.95


def test_sparse_labels_learn_the_digits(digits):
    set_random_seed(1)
    x, y = digits
    order = np.random.default_rng(1).permutation(len(x))
    x, y = x[order], y[order]
    m = Sequential([Dense(32, activation="tanh", input_dim=64), Dense(10, activation="softmax")])
    m.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["acc"])
    h = m.fit(x[:1400], y[:1400], epochs=20, batch_size=32, verbose=0)
    assert set(h.history) == {"loss", "acc"}
    assert m.evaluate(x[1400:], y[1400:], verbose=0)[1] >= 0.9


def test_fused_softmax_ce_equals_unfused_loss(rng):
    """Dense(softmax)+CE runs fused on the logits; Dense+Activation(softmax) too; a
    custom CE callable runs unfused. All three give the same loss value."""
    from gpuseq.layers import Activation
    from gpuseq.losses import categorical_crossentropy as cce
    x = rng.standard_normal((16, 5)).astype("float32")
    y = to_categorical(rng.integers(0, 3, 16), 3)
    w = [rng.standard_normal((5, 3)).astype("float32"), rng.standard_normal(3).astype("float32")]
    a = Sequential([Dense(3, activation="softmax", input_dim=5)])
    b = Sequential([Dense(3, input_dim=5), Activation("softmax")])
    c = Sequential([Dense(3, activation="softmax", input_dim=5)])
    for m, loss in ((a, "categorical_crossentropy"), (b, "categorical_crossentropy"),
                    (c, lambda t, p: cce(t, p))):
        m.set_weights(w)
        m.compile(SGD(lr=0.1), loss)
    assert a._fused_plan() and b._fused_plan() and not c._fused_plan()
    la, lb, lc = (m.train_on_batch(x, y) for m in (a, b, c))
    assert la == pytest.approx(lc, rel=1e-5) and lb == pytest.approx(lc, rel=1e-5)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_allclose(wa, wc, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------ data semantics
def test_validation_split_takes_the_last_fraction_before_shuffling():
    m = linear_model()
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.zeros((10, 1), "float32")
    h = m.fit(x, y, validation_split=0.3, epochs=1, shuffle=True, verbose=0)
    # lr=0: the weights never move, so val_loss is the loss on the last 3 samples
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(x[7:], y[7:], verbose=0))
    assert h.history["loss"][0] == pytest.approx(m.evaluate(x[:7], y[:7], verbose=0), rel=1e-6)


def test_validation_data_with_weights():
    m = linear_model()
    x = np.array([[1, 0], [0, 2]], "float32")
    y = np.zeros((2, 1), "float32")
    h = m.fit(x, y, validation_data=(x, y, np.array([1.0, 0.0])), epochs=1, verbose=0)
    # per-sample squared errors are 1 and 4; weighted as sum(w*l)/N = 1/2
    assert h.history["val_loss"][0] == pytest.approx(0.5)


def test_sample_weight_and_class_weight_by_value():
    m = linear_model()
    x = np.array([[1, 0], [0, 2], [1, 1]], "float32")
    y = np.array([[0], [1], [0]], "float32")
    # errors: (1-0)^2=1, (2-1)^2=1, (2-0)^2=4
    assert m.test_on_batch(x, y) == pytest.approx(2.0)
    assert m.test_on_batch(x, y, sample_weight=np.array([1, 0, 0.5])) == pytest.approx(1.0)
    assert m.train_on_batch(x, y, class_weight={0: 0.0, 1: 3.0}) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"no entry for class\(es\) \[1\]"):
        m.train_on_batch(x, y, class_weight={0: 1.0})


def test_class_weight_with_one_hot_targets():
    m = Sequential([Dense(2, input_dim=2, activation="softmax", kernel_initializer="zeros")])
    m.compile(SGD(lr=0.0), "categorical_crossentropy")
    x = np.zeros((2, 2), "float32")
    y = np.array([[1, 0], [0, 1]], "float32")
    # softmax of zeros is 0.5/0.5: every sample's loss is log 2
    assert m.test_on_batch(x, y) == pytest.approx(np.log(2), rel=1e-6)
    assert m.train_on_batch(x, y, class_weight={0: 2.0, 1: 0.0}) == \
        pytest.approx(np.log(2), rel=1e-6)


class _Recorder(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.events, self.sizes = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch", epoch))

    def on_batch_end(self, batch, logs=None):
        self.sizes.append(logs["size"])


def test_initial_epoch_epochs_is_final_index_and_history():
    m = linear_model()
    rec = _Recorder()
    x, y = np.zeros((5, 2), "float32"), np.zeros((5, 1), "float32")
    h = m.fit(x, y, epochs=5, initial_epoch=3, batch_size=2, callbacks=[rec], verbose=0)
    assert h.epoch == [3, 4]
    assert len(h.history["loss"]) == 2
    assert rec.events == [("epoch", 3), ("epoch", 4)]
    assert rec.sizes == [2, 2, 1, 2, 2, 1]


def test_steps_per_epoch_cycles_through_batches():
    m = linear_model()
    rec = _Recorder()
    x, y = np.zeros((5, 2), "float32"), np.zeros((5, 1), "float32")
    m.fit(x, y, epochs=2, steps_per_epoch=4, batch_size=2, callbacks=[rec], verbose=0,
          shuffle=False)
    assert rec.sizes == [2, 2, 1, 2, 2, 1, 2, 2]   # the second epoch continues the cycle


def test_shuffle_false_is_deterministic_and_true_is_not():
    x = np.random.default_rng(0).standard_normal((64, 2)).astype("float32")
    y = (x[:, :1] * 3).astype("float32")

    def run(shuffle, seed):
        set_random_seed(seed)
        m = linear_model(lr=0.05)
        m.fit(x, y, epochs=2, batch_size=8, shuffle=shuffle, verbose=0)
        return m.get_weights()[0]

    np.testing.assert_array_equal(run(False, 1), run(False, 2))
    assert not np.array_equal(run(True, 1), run(True, 2))
    np.testing.assert_array_equal(run(True, 3), run(True, 3))


def test_shuffle_batch_mode_keeps_chunks():
    from gpuseq.engine.data import batch_indices
    b = batch_indices(10, 3, "batch", np.random.default_rng(0))
    flat = np.concatenate(b)
    assert sorted(flat.tolist()) == list(range(10))
    chunks = [tuple(flat[i:i + 3]) for i in range(0, 9, 3)]
    assert sorted(chunks) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert flat[-1] == 9


def test_train_test_predict_on_batch_values():
    m = linear_model(lr=0.1)
    x = np.array([[1.0, 2.0]], "float32")
    y = np.array([[0.0]], "float32")
    np.testing.assert_allclose(m.predict_on_batch(x), [[3.0]])
    assert m.test_on_batch(x, y) == pytest.approx(9.0)
    loss = m.train_on_batch(x, y)       # loss before the step
    assert loss == pytest.approx(9.0)
    # gradient of (w.x + b)^2: 2*3*x = [6, 12], bias 6; lr 0.1
    k, b = m.get_weights()
    np.testing.assert_allclose(k[:, 0], [1 - 0.6, 1 - 1.2], rtol=1e-6)
    np.testing.assert_allclose(b, [-0.6], rtol=1e-6)


def test_evaluate_returns_scalar_or_list_in_metrics_names_order():
    m = linear_model(metrics=["mae"])
    x = np.array([[1, 0], [0, 2]], "float32")
    y = np.zeros((2, 1), "float32")
    assert m.metrics_names == ["loss", "mae"]
    assert m.evaluate(x, y, verbose=0) == pytest.approx([2.5, 1.5])
    m2 = linear_model()
    assert m2.metrics_names == ["loss"]
    assert m2.evaluate(x, y, verbose=0) == pytest.approx(2.5)


def test_epoch_values_are_sample_weighted_means_of_batches():
    m = linear_model(metrics=["mae"])
    x = np.array([[1, 0], [0, 2], [1, 1]], "float32")
    y = np.zeros((3, 1), "float32")
    h = m.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    # batch 1: mse (1+4)/2=2.5 over 2 samples, batch 2: 4 over 1 -> (2.5*2 + 4)/3 = 3
    assert h.history["loss"][0] == pytest.approx(3.0)
    assert h.history["mae"][0] == pytest.approx((1.5 * 2 + 2) / 3)


def test_history_answers_both_accuracy_spellings():
    m = Sequential([Dense(1, activation="sigmoid", input_dim=2)])
    m.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((20, 2)).astype("float32")
    y = (x[:, :1] > 0.5).astype("float32")
    h = m.fit(x, y, epochs=2, validation_split=0.2, verbose=0)
    assert list(h.history) == ["val_loss", "val_accuracy", "loss", "accuracy"]
    assert h.history["acc"] == h.history["accuracy"]
    assert h.history["val_acc"] == h.history["val_accuracy"]


def test_predict_classes_and_proba():
    m = Sequential([Dense(3, input_dim=2, activation="softmax", kernel_initializer="zeros")])
    m.set_weights([np.array([[0, 0, 1], [0, 1, 0]], "float32"), np.zeros(3, "float32")])
    x = np.array([[5.0, 0.0], [0.0, 5.0]], "float32")
    assert m.predict_classes(x).tolist() == [2, 1]
    np.testing.assert_allclose(m.predict_proba(x).sum(1), [1, 1], rtol=1e-6)
    b = Sequential([Dense(1, input_dim=1, activation="sigmoid", kernel_initializer="ones")])
    assert b.predict_classes(np.array([[-3.0], [3.0]], "float32")).tolist() == [[0], [1]]


def test_predict_on_empty_input_and_batches():
    m = linear_model()
    x = np.arange(14, dtype="float32").reshape(7, 2)
    np.testing.assert_allclose(m.predict(x, batch_size=3), x.sum(1, keepdims=True))
    assert m.predict(np.zeros((0, 2), "float32")).shape == (0, 1)


# ----------------------------------------------------------------- progress
class _FakeStdout(io.StringIO):
    def isatty(self):
        return False


def test_verbose_2_prints_one_line_per_epoch(monkeypatch):
    out = _FakeStdout()
    monkeypatch.setattr(sys, "stdout", out)
    m = linear_model(metrics=["mae"])
    x = np.array([[1, 0], [0, 2]], "float32")
    m.fit(x, np.zeros((2, 1), "float32"), epochs=2, verbose=2)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r" - \d+s - loss: 2\.5000 - mae: 1\.5000", lines[1]), lines[1]


def test_verbose_1_prints_keras_progbar(monkeypatch):
    out = _FakeStdout()
    monkeypatch.setattr(sys, "stdout", out)
    m = linear_model()
    x = np.array([[1, 0], [0, 2]], "float32")
    m.fit(x, np.zeros((2, 1), "float32"), epochs=1, verbose=1, batch_size=2)
    last = out.getvalue().splitlines()[-1]
    assert re.fullmatch(r"2/2 \[==============================\] - \d+s \d+(us|ms)/step - "
                        r"loss: 2\.5000", last), last


def test_verbose_0_prints_nothing(monkeypatch):
    out = _FakeStdout()
    monkeypatch.setattr(sys, "stdout", out)
    m = linear_model()
    m.fit(np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32"), epochs=2, verbose=0)
    m.evaluate(np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    m.predict(np.zeros((4, 2), "float32"))
    assert out.getvalue() == ""


# ------------------------------------------------------------------- errors
def _snapshot(m):
    return [w.copy() for w in m.get_weights()]


def _unchanged(m, snap):
    return all(np.array_equal(a, b) for a, b in zip(m.get_weights(), snap))


def test_fit_before_compile():
    m = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(RuntimeError, match="compile your model before training"):
        m.fit(np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(RuntimeError, match="before evaluating"):
        m.evaluate(np.zeros((2, 2)), np.zeros((2, 1)))


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 2)), np.zeros((3, 1)), "Found 4 input samples and 3 target samples"),
    (np.zeros((4, 3)), np.zeros((4, 1)), r"expected input of shape \(None, 2\).*\(4, 3\)"),
    (np.zeros((4, 2, 2)), np.zeros((4, 1)), r"expected input with 2 dimensions.*Flatten"),
    (np.array([["a", "b"]] * 4), np.zeros((4, 1)), "must hold numbers"),
    (np.zeros((4, 2)), np.zeros((4, 3)), r"expected '.*' to have shape \(None, 1\)"),
])
def test_bad_data_is_refused_and_model_unchanged(x, y, match):
    m = linear_model(lr=0.1)
    snap = _snapshot(m)
    with pytest.raises(ValueError, match=match):
        m.fit(x, y, verbose=0)
    assert _unchanged(m, snap)


def test_wrong_number_of_inputs():
    m = linear_model()
    with pytest.raises(ValueError, match=r"Expected to see 1 array\(s\), but instead got a "
                                         r"list of 2 arrays"):
        m.fit([np.zeros((2, 2)), np.zeros((2, 2))], np.zeros((2, 1)), verbose=0)


def test_nan_in_data_warns():
    m = linear_model()
    x = np.array([[np.nan, 1.0]], "float32")
    with pytest.warns(RuntimeWarning, match="contains NaN"):
        m.fit(x, np.zeros((1, 1), "float32"), verbose=0)


def test_integer_labels_with_categorical_crossentropy_explains_fix():
    m = Sequential([Dense(3, activation="softmax", input_dim=2)])
    m.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="to_categorical"):
        m.fit(np.zeros((4, 2)), np.array([0, 1, 2, 1]), verbose=0)


def test_sparse_labels_out_of_range():
    m = Sequential([Dense(3, activation="softmax", input_dim=2)])
    m.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"valid labels 0\.\.2.*0\.\.5"):
        m.fit(np.zeros((4, 2)), np.array([0, 1, 5, 1]), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "sgdx", "loss": "mse"}, r"Unknown optimizer.*'adam'.*Received: optimizer='sgdx'"),
    ({"optimizer": "sgd", "loss": "msq"}, r"Unknown loss function.*Received: loss='msq'"),
    ({"optimizer": "sgd", "loss": "mse", "metrics": ["acuracy"]},
     r"Unknown metric.*Received: metric='acuracy'"),
])
def test_unknown_names_list_valid_ones(kwargs, match):
    m = Sequential([Dense(1, input_dim=2)])
    with pytest.raises(ValueError, match=match):
        m.compile(**kwargs)
    assert not m.compiled


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, "Received: batch_size=0"),
    ({"epochs": -1}, "Received: epochs=-1"),
    ({"verbose": 3}, "Received: verbose=3"),
    ({"shuffle": "yes"}, "Received: shuffle='yes'"),
    ({"validation_split": 1.5}, r"validation_split must be in \[0, 1\)"),
])
def test_invalid_fit_arguments(kwargs, match):
    m = linear_model()
    with pytest.raises(ValueError, match=match):
        m.fit(np.zeros((4, 2)), np.zeros((4, 1)), **kwargs)


def test_model_without_input_shape_needs_data():
    m = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="has not been built yet"):
        m.count_params()


def test_keras1_nb_epoch_is_converted():
    m = linear_model()
    with pytest.warns(UserWarning, match=r"`fit\(epochs=3\)`"):
        h = m.fit(np.zeros((4, 2)), np.zeros((4, 1)), nb_epoch=3, verbose=0)
    assert h.epoch == [0, 1, 2]


def test_fit_generator_with_keras1_arguments():
    m = linear_model(lr=0.01)

    def gen():
        while True:
            yield np.ones((5, 2), "float32"), np.zeros((5, 1), "float32")

    rec = _Recorder()
    with pytest.warns(UserWarning):
        h = m.fit_generator(gen(), samples_per_epoch=12, nb_epoch=2, callbacks=[rec], verbose=0)
    # Keras 1 meaning: an epoch ends once 12 samples were drawn -> 3 batches of 5
    assert rec.sizes == [5, 5, 5, 5, 5, 5] and h.epoch == [0, 1]
    h2 = m.fit_generator(gen(), steps_per_epoch=2, epochs=1, verbose=0)
    assert len(h2.history["loss"]) == 1
    assert m.evaluate_generator(gen(), steps=2) == pytest.approx(
        m.evaluate(np.ones((5, 2)), np.zeros((5, 1)), verbose=0), rel=1e-6)
    assert m.predict_generator(gen(), steps=2).shape == (10, 1)


def test_fit_generator_with_a_sequence():
    from gpuseq.utils import Sequence

    class Batches(Sequence):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return np.full((4, 2), i, "float32"), np.zeros((4, 1), "float32")

    m = linear_model()
    rec = _Recorder()
    m.fit_generator(Batches(), epochs=2, callbacks=[rec], verbose=0)
    assert rec.sizes == [4] * 6


def test_set_random_seed_makes_a_numpy_run_reproducible(digits):
    x, y = digits
    y = to_categorical(y, 10)

    def run():
        set_random_seed(123)
        m = Sequential([Dense(16, activation="relu", input_dim=64), Dropout(0.3),
                        Dense(10, activation="softmax")])
        m.compile("adam", "categorical_crossentropy", metrics=["acc"])
        h = m.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0)
        return m.get_weights(), h.history

    (w1, h1), (w2, h2) = run(), run()
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_clear_session_restarts_auto_names():
    import gpuseq.backend as K
    K.clear_session()
    assert Dense(2).name == "dense_1" and Dense(2).name == "dense_2"
    K.clear_session()
    assert Dense(2).name == "dense_1"


def test_callbacks_receive_validation_data_and_params_before_train_begin(capsys):
    seen = {}

    class Probe(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["metrics"] = list(self.params["metrics"])
            seen["val"] = [a.shape for a in self.validation_data]

    m = linear_model(metrics=["mae"])
    x, y = np.zeros((10, 2), "float32"), np.zeros((10, 1), "float32")
    m.fit(x, y, validation_split=0.2, epochs=1, callbacks=[Probe()], verbose=2)
    assert seen["metrics"] == ["loss", "mae", "val_loss", "val_mae"]
    assert seen["val"] == [(2, 2), (2, 1), (2,)]
    assert "Train on 8 samples, validate on 2 samples" in capsys.readouterr().out


def test_fit_generator_sets_params_before_train_begin_on_an_unbuilt_model():
    seen = {}

    class Probe(callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["metrics"] = list(self.params["metrics"])

    m = Sequential([Dense(1)])
    m.compile("sgd", "mse", metrics=["mae"])

    def gen():
        while True:
            yield np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")

    h = m.fit_generator(gen(), steps_per_epoch=2, epochs=1, callbacks=[Probe()], verbose=0)
    assert seen["metrics"] == ["loss", "mae"] and m.input_shape == (None, 3)
    assert len(h.history["loss"]) == 1
