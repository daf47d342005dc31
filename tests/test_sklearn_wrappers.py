"""KerasClassifier / KerasRegressor inside scikit-learn's tools, on the bundled digits."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier, is_regressor  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from gpuseq.layers import Dense  # noqa: E402
from gpuseq.models import Sequential  # noqa: E402
from gpuseq.optimizers import Adam  # noqa: E402
from gpuseq.utils import set_random_seed  # noqa: E402
from gpuseq.wrappers.scikit_learn import KerasClassifier, KerasRegressor  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(x))[:600]
    return (x[order] / 16.0).astype("float32"), y[order]


def build_classifier(hidden_units=32, lr=0.01):
    model = Sequential([Dense(hidden_units, activation="relu", input_dim=64),
                        Dense(10, activation="softmax")])
    model.compile(Adam(lr=lr), "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_predict_score_and_label_values(digits):
    set_random_seed(0)
    x, y = digits
    labels = np.array(list("abcdefghij"))[y]          # any label values work
    clf = KerasClassifier(build_classifier, epochs=20, batch_size=32, verbose=0)
    clf.fit(x[:450], labels[:450])
    assert list(clf.classes_) == list("abcdefghij") and clf.n_classes_ == 10
    predicted = clf.predict(x[450:])
    proba = clf.predict_proba(x[450:])
    assert proba.shape == (150, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(predicted, clf.classes_[proba.argmax(1)])
    accuracy = clf.score(x[450:], labels[450:])
    assert accuracy == pytest.approx(np.mean(predicted == labels[450:]), abs=1e-6)
    assert accuracy > 0.85


def test_cross_val_score(digits):
    set_random_seed(1)
    x, y = digits
    clf = KerasClassifier(build_classifier, epochs=10, batch_size=32, verbose=0)
    scores = cross_val_score(clf, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


def test_grid_search_mixes_build_and_fit_params(digits):
    set_random_seed(2)
    x, y = digits
    clf = KerasClassifier(build_classifier, batch_size=32, verbose=0)
    search = GridSearchCV(clf, {"hidden_units": [2, 32], "epochs": [1, 10]}, cv=2,
                          scoring="neg_log_loss")
    search.fit(x, y)
    assert search.best_params_ == {"hidden_units": 32, "epochs": 10}
    assert search.best_estimator_.model.layers[0].units == 32
    assert search.best_score_ > -0.6


def test_pipeline(digits):
    set_random_seed(3)
    x, y = digits
    pipe = Pipeline([("scale", StandardScaler()),
                     ("net", KerasClassifier(build_classifier, epochs=10, verbose=0))])
    pipe.fit(x[:450], y[:450])
    assert pipe.score(x[450:], y[450:]) > 0.85
    pipe.set_params(net__epochs=1)
    assert pipe.named_steps["net"].sk_params["epochs"] == 1


def test_binary_sigmoid_output(digits):
    set_random_seed(4)
    x, y = digits
    y2 = (y >= 5).astype(int)

    def build():
        model = Sequential([Dense(1, activation="sigmoid", input_dim=64)])
        model.compile(Adam(lr=0.05), "binary_crossentropy", metrics=["accuracy"])
        return model
    clf = KerasClassifier(build, epochs=20, verbose=0)
    clf.fit(x, y2)
    proba = clf.predict_proba(x[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(x[:5]), (proba[:, 1] > 0.5).astype(int))
    assert clf.score(x, y2) > 0.8


def test_regressor_score_is_minus_loss():
    set_random_seed(5)
    x, y = load_diabetes(return_X_y=True)
    x, y = x.astype("float32") * 5, ((y - y.mean()) / y.std()).astype("float32")

    def build(units=16):
        model = Sequential([Dense(units, activation="relu", input_dim=10), Dense(1)])
        model.compile(Adam(lr=0.01), "mse")
        return model
    reg = KerasRegressor(build, epochs=30, batch_size=32, verbose=0)
    reg.fit(x[:350], y[:350])
    predicted = reg.predict(x[350:])
    assert predicted.shape == (92,)
    mse = np.mean((predicted - y[350:]) ** 2)
    assert reg.score(x[350:], y[350:]) == pytest.approx(-mse, rel=1e-4)
    assert mse < 0.8
    assert is_regressor(reg) and not is_classifier(reg)
    scores = cross_val_score(KerasRegressor(build, epochs=5, verbose=0), x, y, cv=2)
    assert np.all(scores < 0)


def test_params_clone_and_errors():
    clf = KerasClassifier(build_classifier, hidden_units=[8], epochs=3)
    params = clf.get_params()
    assert params == {"build_fn": build_classifier, "hidden_units": [8], "epochs": 3}
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf and is_classifier(twin)
    with pytest.raises(ValueError, match="not a legal parameter") as info:
        clf.set_params(epochz=4)
    assert "epochs" in str(info.value)
    assert clf.sk_params == {"hidden_units": [8], "epochs": 3}
    with pytest.raises(ValueError, match="y.shape"):
        clf.fit(np.zeros((2, 64)), np.zeros((2, 2, 2)))


def test_score_without_accuracy_metric(digits):
    x, y = digits

    def build():
        model = Sequential([Dense(10, activation="softmax", input_dim=64)])
        model.compile("sgd", "categorical_crossentropy")
        return model
    clf = KerasClassifier(build, epochs=1, verbose=0)
    clf.fit(x[:50], y[:50])
    with pytest.raises(ValueError, match="metrics=\\['accuracy'\\]"):
        clf.score(x[:50], y[:50])
