"""Metrics: values by hand, Keras's 'accuracy' resolution, losses as metrics,
weighted metrics, custom and dict-valued metrics, names, and epoch averaging."""
import functools

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq import losses, metrics
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from _gradcheck import one_blas_thread  # noqa: F401

R = np.random.default_rng(5)


def ev(t):
    return K.eval(t)


# -- metric functions by value ---------------------------------------------------------------

def test_binary_accuracy_rounds_half_down_and_averages_the_last_axis():
    t = np.array([[1.0], [0.0], [1.0], [0.0]])
    p = np.array([[0.7], [0.5], [0.4], [0.2]])
    np.testing.assert_array_equal(ev(metrics.binary_accuracy(t, p)), [1, 1, 0, 1])
    t2 = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    p2 = np.array([[0.9, 0.6, 0.8], [0.1, 0.2, 0.3]])
    np.testing.assert_allclose(ev(metrics.binary_accuracy(t2, p2)), [2 / 3, 2 / 3])
    # targets (N,) against (N, 1) outputs
    np.testing.assert_array_equal(ev(metrics.binary_accuracy(t[:, 0], p)), [1, 1, 0, 1])


def test_categorical_accuracy_takes_the_first_maximum():
    t = np.eye(3)[[0, 1, 2, 0]]
    p = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.1, 0.2, 0.7], [0.2, 0.7, 0.1]])
    np.testing.assert_array_equal(ev(metrics.categorical_accuracy(t, p)), [1, 0, 1, 0])


def test_sparse_categorical_accuracy_label_shapes():
    p = np.array([[0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    for lab in (np.array([1, 1, 2]), np.array([[1], [1], [2]]), np.array([1.0, 1.0, 2.0])):
        np.testing.assert_array_equal(ev(metrics.sparse_categorical_accuracy(lab, p)), [1, 0, 1])
    p3 = np.stack([p, p[::-1]])                       # (2, 3, 3): sequence output
    lab3 = np.array([[1, 0, 2], [2, 0, 1]])
    np.testing.assert_array_equal(ev(metrics.sparse_categorical_accuracy(lab3, p3)),
                                  [[1, 1, 1], [1, 1, 1]])


def test_top_k_accuracies():
    p = np.array([[0.1, 0.4, 0.3, 0.2], [0.4, 0.3, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    lab = np.array([2, 3, 1])
    t = np.eye(4)[lab]
    np.testing.assert_array_equal(ev(metrics.top_k_categorical_accuracy(t, p, k=2)), [1, 0, 1])
    np.testing.assert_array_equal(ev(metrics.top_k_categorical_accuracy(t, p, k=1)), [0, 0, 1])
    np.testing.assert_array_equal(ev(metrics.top_k_categorical_accuracy(t, p)), [1, 1, 1])
    np.testing.assert_array_equal(ev(metrics.sparse_top_k_categorical_accuracy(lab, p, k=2)),
                                  [1, 0, 1])
    np.testing.assert_array_equal(
        ev(metrics.sparse_top_k_categorical_accuracy(lab[:, None], p, k=3)), [1, 0, 1])


def test_every_loss_is_a_metric_and_names_resolve():
    for name in ("mse", "mae", "mape", "msle", "kld", "cosine", "hinge", "squared_hinge",
                 "logcosh", "poisson", "categorical_hinge", "binary_crossentropy",
                 "categorical_crossentropy", "sparse_categorical_crossentropy",
                 "mean_squared_error", "cosine_proximity"):
        assert metrics.get(name) is losses.get(name)
    assert metrics.get("Top_K_Categorical_Accuracy") is metrics.top_k_categorical_accuracy
    with pytest.raises(ValueError, match=r"Unknown metric.*Received: metric='acuracy'"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match=r"resolved by compile.*binary_accuracy"):
        metrics.get("acc")


# -- 'accuracy' resolution (Keras 2 rules) ---------------------------------------------------

@pytest.mark.parametrize("loss,units,expected", [
    ("categorical_crossentropy", 4, metrics.categorical_accuracy),
    ("binary_crossentropy", 1, metrics.binary_accuracy),
    ("binary_crossentropy", 3, metrics.binary_accuracy),          # multi-label
    ("sparse_categorical_crossentropy", 4, metrics.sparse_categorical_accuracy),
    ("sparse_categorical_crossentropy", 1, metrics.binary_accuracy),  # 1 unit wins
    ("mse", 1, metrics.binary_accuracy),
    ("mse", 3, metrics.categorical_accuracy),
    (lambda t, p: K.mean(K.square(t - p), axis=-1), 4, metrics.categorical_accuracy),
])
def test_accuracy_resolution(loss, units, expected):
    for name in ("accuracy", "acc"):
        m = Sequential([Dense(units, input_shape=(3,))])
        m.compile("sgd", loss, metrics=[name])
        assert m._metric_specs[0].fn is expected
        assert m.metrics_names == ["loss", name]


def test_crossentropy_metric_resolution():
    m = Sequential([Dense(4, input_shape=(3,), activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", metrics=["ce"])
    assert m._metric_specs[0].fn is losses.sparse_categorical_crossentropy
    m.compile("sgd", "mse", metrics=["crossentropy"])
    assert m._metric_specs[0].fn is losses.categorical_crossentropy


def test_accuracy_resolved_when_the_model_is_built_by_fit():
    x = R.normal(size=(8, 3)).astype("float32")
    y = (R.random((8, 1)) < 0.5).astype("float32")
    m = Sequential([Dense(1, activation="sigmoid")])       # no input shape: built by fit
    m.compile(SGD(lr=0.0), "mse", metrics=["acc"])
    m.fit(x, y, epochs=1, verbose=0)
    assert m._metric_specs[0].fn is metrics.binary_accuracy
    p = m.predict(x)
    assert m.evaluate(x, y, verbose=0)[1] == pytest.approx(np.mean(np.round(p) == y))


# -- through evaluate / fit ------------------------------------------------------------------

def _clf(units=3, loss="categorical_crossentropy", **kw):
    m = Sequential([Dense(units, input_shape=(4,), activation="softmax", name="out")])
    m.compile(SGD(lr=0.0), loss, **kw)
    return m


def test_loss_names_as_metrics_keep_their_written_names():
    x = R.normal(size=(10, 4)).astype("float32")
    y = np.eye(3)[R.integers(0, 3, 10)].astype("float32")
    m = _clf(metrics=["mse", "MAE", "categorical_accuracy", "top_k_categorical_accuracy"])
    assert m.metrics_names == ["loss", "mse", "MAE", "categorical_accuracy",
                               "top_k_categorical_accuracy"]
    p = m.predict(x).astype("float64")
    vals = m.evaluate(x, y, batch_size=4, verbose=0)
    np.testing.assert_allclose(vals[1:], [((p - y) ** 2).mean(), np.abs(p - y).mean(),
                                          np.mean(p.argmax(1) == y.argmax(1)), 1.0],
                               rtol=1e-5)
    h = m.fit(x, y, epochs=1, batch_size=4, verbose=0, validation_data=(x, y))
    assert set(h.history) == {"loss", "mse", "MAE", "categorical_accuracy",
                              "top_k_categorical_accuracy", "val_loss", "val_mse", "val_MAE",
                              "val_categorical_accuracy", "val_top_k_categorical_accuracy"}


def test_weighted_metrics_use_sample_weights():
    x = R.normal(size=(9, 4)).astype("float32")
    lab = R.integers(0, 3, 9)
    y = np.eye(3)[lab].astype("float32")
    w = R.uniform(0, 3, 9).astype("float32")
    m = _clf(metrics=["acc"], weighted_metrics=["acc", "mse"])
    assert m.metrics_names == ["loss", "acc", "weighted_acc", "weighted_mse"]
    p = m.predict(x).astype("float64")
    correct = (p.argmax(1) == lab).astype("float64")
    mse = ((p - y) ** 2).mean(1)
    vals = m.evaluate(x, y, sample_weight=w, batch_size=9, verbose=0)
    assert vals[1] == pytest.approx(correct.mean())                  # unweighted
    assert vals[2] == pytest.approx((w * correct).sum() / w.sum(), rel=1e-5)
    assert vals[3] == pytest.approx((w * mse).sum() / w.sum(), rel=1e-5)
    # no weights given: the weighted metric is the plain mean
    assert m.evaluate(x, y, verbose=0)[2] == pytest.approx(correct.mean())


def test_weighted_metrics_use_class_weights_in_fit():
    x = R.normal(size=(8, 4)).astype("float32")
    lab = np.array([0, 1, 2, 2, 1, 0, 0, 2])
    y = np.eye(3)[lab].astype("float32")
    m = _clf(weighted_metrics=["accuracy"])
    p = m.predict(x)
    cw = {0: 1.0, 1: 4.0, 2: 0.5}
    w = np.array([cw[c] for c in lab])
    h = m.fit(x, y, class_weight=cw, batch_size=8, epochs=1, verbose=0)
    correct = (p.argmax(1) == lab).astype("float64")
    assert h.history["weighted_accuracy"][0] == pytest.approx((w * correct).sum() / w.sum(),
                                                              rel=1e-5)


def test_repeated_metric_names_are_deduplicated():
    m = _clf(metrics=["mae", "mae", losses.mae])
    assert m.metrics_names == ["loss", "mae", "mae_1", "mean_absolute_error"]
    x = R.normal(size=(4, 4)).astype("float32")
    y = np.eye(3)[[0, 1, 2, 0]].astype("float32")
    h = m.fit(x, y, epochs=1, verbose=0)
    assert h.history["mae"] == h.history["mae_1"]


def test_epoch_value_is_the_batch_size_weighted_mean_of_batch_values():
    """Keras 2 averages batch values weighted by batch size, even for metrics that are
    not per-sample means (here the batch maximum)."""
    x = R.normal(size=(10, 4)).astype("float32")
    y = np.eye(3)[R.integers(0, 3, 10)].astype("float32")

    def batch_max(y_true, y_pred):
        return K.max(y_pred)

    m = _clf(metrics=["acc", batch_max])
    p = m.predict(x)
    h = m.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    batches = [slice(0, 4), slice(4, 8), slice(8, 10)]
    expected_max = sum(p[b].max() * len(range(10)[b]) for b in batches) / 10
    assert h.history["batch_max"][0] == pytest.approx(expected_max, rel=1e-6)
    assert h.history["acc"][0] == pytest.approx(np.mean(p.argmax(1) == y.argmax(1)))
    assert m.evaluate(x, y, batch_size=4, verbose=0)[2] == pytest.approx(expected_max, rel=1e-6)


def test_custom_scalar_and_dict_metrics_appear_in_logs_and_history():
    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    def false_rates(y_true, y_pred):
        pred = K.cast(K.greater(y_pred, 0.5), "float32")
        return {"false_neg": K.mean(y_true * (1.0 - pred)),
                "false_pos": K.mean((1.0 - y_true) * pred)}

    x = R.normal(size=(12, 4)).astype("float32")
    y = (R.random((12, 1)) < 0.5).astype("float32")
    m = Sequential([Dense(1, input_shape=(4,), activation="sigmoid")])
    m.compile(SGD(lr=0.0), "binary_crossentropy",
              metrics=["accuracy", mean_pred, false_rates], weighted_metrics=[false_rates])
    names = ["loss", "accuracy", "mean_pred", "false_neg", "false_pos",
             "weighted_false_neg", "weighted_false_pos"]
    assert m.metrics_names == names
    p = m.predict(x)
    pred = (p > 0.5).astype("float32")
    h = m.fit(x, y, batch_size=12, epochs=2, verbose=0)
    assert list(h.history) == names
    assert h.history["mean_pred"][0] == pytest.approx(p.mean(), rel=1e-6)
    assert h.history["false_neg"][1] == pytest.approx(np.mean(y * (1 - pred)))
    assert h.history["false_pos"][1] == pytest.approx(np.mean((1 - y) * pred))
    vals = m.evaluate(x, y, verbose=0)
    assert vals[3] == pytest.approx(np.mean(y * (1 - pred)))


def test_dict_metric_is_found_even_when_the_model_is_built_late():
    def two(y_true, y_pred):
        return {"a": K.mean(y_pred), "b": K.mean(y_true)}
    m = Sequential([Dense(1)])
    m.compile("sgd", "mse", metrics=[two])
    assert m.metrics_names == ["loss", "two"]       # unknown until the model is built
    x, y = np.ones((3, 2), "float32"), np.ones((3, 1), "float32")
    h = m.fit(x, y, epochs=1, verbose=0)
    assert m.metrics_names == ["loss", "a", "b"] and set(h.history) == {"loss", "a", "b"}


def test_top_k_with_a_custom_k_by_wrapping():
    def top2(y_true, y_pred):
        return metrics.top_k_categorical_accuracy(y_true, y_pred, k=2)

    x = R.normal(size=(6, 4)).astype("float32")
    y = np.eye(3)[R.integers(0, 3, 6)].astype("float32")
    m = _clf(metrics=[top2, functools.partial(metrics.top_k_categorical_accuracy, k=1)])
    p = m.predict(x)
    rank = (p > (p * y).sum(1, keepdims=True)).sum(1)
    vals = m.evaluate(x, y, verbose=0)
    assert m.metrics_names == ["loss", "top2", "partial"]
    assert vals[1] == pytest.approx(np.mean(rank < 2)) and vals[2] == pytest.approx(
        np.mean(p.argmax(1) == y.argmax(1)))


def test_metrics_dict_form_and_errors():
    m = _clf(metrics={"out": ["acc"]})
    assert m.metrics_names == ["loss", "acc"]
    with pytest.raises(ValueError, match=r"Unknown entry in `metrics` dictionary: 'dense'"):
        _clf(metrics={"dense": ["acc"]})
    with pytest.raises(ValueError, match=r"Unknown metric.*Received: metric=3"):
        _clf(metrics=[3])
