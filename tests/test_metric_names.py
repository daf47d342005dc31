"""Metric names: logged as given in compile(), and answering to every spelling Keras
versions logged for the same metric (History, metrics_names, callbacks' logs,
CSVLogger, ModelCheckpoint, EarlyStopping)."""
import csv
import re
import warnings

import numpy as np
import pytest

from gpuseq import backend as K
from gpuseq import losses, metric_names, metrics
from gpuseq.callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, History,
                              ModelCheckpoint)
from gpuseq.layers import Dense
from gpuseq.metric_names import MetricDict, MetricNames, keras2_name, spellings
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed


@pytest.fixture(autouse=True)
def _numpy(numpy_backend):
    yield


def _data(n=40):
    rng = np.random.RandomState(0)
    x = rng.rand(n, 3).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")) + 0.1


def _regressor(metrics_arg):
    set_random_seed(0)
    model = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)])
    model.compile("sgd", "mse", metrics=metrics_arg)
    return model


# -- the table --------------------------------------------------------------------------
@pytest.mark.parametrize("row", metric_names.SPELLINGS[2:], ids=lambda r: r[0])
def test_every_spelling_of_a_row_is_the_same_function(row):
    fns = {metrics.get(name) for name in row}
    assert fns == {losses.get(row[0])}


@pytest.mark.parametrize("key, expected", [
    ("acc", ("acc", "accuracy")),
    ("val_accuracy", ("val_accuracy", "val_acc")),
    ("mae", ("mae", "mean_absolute_error", "MAE")),
    ("val_weighted_mse_1", ("val_weighted_mse_1", "val_weighted_mean_squared_error_1",
                            "val_weighted_MSE_1")),
    ("cosine_proximity", ("cosine_proximity", "cosine")),
    ("loss", ("loss",)),
    ("val_binary_accuracy", ("val_binary_accuracy",)),
    ("my_metric_2", ("my_metric_2",)),
])
def test_spellings(key, expected):
    assert spellings(key) == expected


@pytest.mark.parametrize("key, expected", [
    ("mae", "mean_absolute_error"), ("val_mse", "val_mean_squared_error"),
    ("accuracy", "acc"), ("val_crossentropy", "val_ce"), ("kl_divergence",
                                                          "kullback_leibler_divergence"),
    ("weighted_mape", "weighted_mean_absolute_percentage_error"), ("loss", "loss"),
])
def test_keras2_name(key, expected):
    assert keras2_name(key) == expected


def test_metric_dict_and_names_containers():
    d = MetricDict(mae=0.5, val_acc=0.9)
    assert d["mean_absolute_error"] == 0.5 and d["val_accuracy"] == 0.9
    assert "MAE" in d and "val_mae" not in d and d.get("mse", -1) == -1
    assert list(d) == ["mae", "val_acc"]
    with pytest.raises(KeyError, match="mse"):
        d["mse"]
    names = MetricNames(["loss", "mae", "accuracy"])
    assert names == ["loss", "mae", "accuracy"]
    assert "mean_absolute_error" in names and "acc" in names and "mse" not in names
    assert names.index("mean_absolute_error") == 1 and names.index("acc") == 2
    with pytest.raises(ValueError):
        names.index("mse")


# -- training: every place a program reads a metric --------------------------------------
# Keras 2.2.4 logged compile(metrics=[m]) under these names.
KERAS_224 = [("mse", "mean_squared_error"), ("mae", "mean_absolute_error"),
             ("mape", "mean_absolute_percentage_error"),
             ("msle", "mean_squared_logarithmic_error"), ("cosine", "cosine_proximity"),
             ("MAE", "mean_absolute_error"), ("logcosh", "logcosh")]


@pytest.mark.parametrize("given, keras224", KERAS_224)
def test_history_and_metrics_names_answer_keras_224_names(given, keras224):
    x, y = _data()
    model = _regressor([given])
    hist = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.25)
    assert list(hist.history) == ["val_loss", "val_" + given, "loss", given]
    assert hist.history[keras224] == hist.history[given]
    assert hist.history["val_" + keras224] == hist.history["val_" + given]
    assert model.metrics_names == ["loss", given]
    assert keras224 in model.metrics_names
    scores = model.evaluate(x, y, verbose=0)
    assert scores[model.metrics_names.index(keras224)] == scores[1]
    per_sample = losses.get(keras224)(K.constant(y), K.constant(model.predict(x)))
    np.testing.assert_allclose(scores[1], np.mean(K.to_host(per_sample.data)), rtol=1e-5)


@pytest.mark.parametrize("given", ["acc", "accuracy"])
def test_accuracy_answers_both_spellings(given):
    set_random_seed(0)
    x, y = _data()
    labels = (y > np.median(y)).astype("float32")
    model = Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=[given])
    hist = model.fit(x, labels, epochs=1, verbose=0, validation_split=0.25)
    other = "acc" if given == "accuracy" else "accuracy"
    assert hist.history[other] == hist.history[given]
    assert hist.history["val_" + other] == hist.history["val_" + given]
    assert other in model.metrics_names and given in model.metrics_names


class _Reader(Callback):
    """A Keras 2.2.4-era callback: reads the Keras 2.2.4 names from the logs."""

    def __init__(self):
        super().__init__()
        self.batch_values, self.epoch_values = [], []

    def on_batch_end(self, batch, logs=None):
        self.batch_values.append(logs["mean_absolute_error"])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_values.append((logs.get("mean_absolute_error"),
                                  logs.get("val_mean_absolute_error"),
                                  "val_mean_absolute_error" in logs))
        logs["written_by_callback"] = 1.0


def test_callbacks_logs_answer_keras_224_names(tmp_path):
    x, y = _data()
    model = _regressor(["mae"])
    reader = _Reader()
    stop = EarlyStopping(monitor="val_mean_absolute_error", patience=100)
    ckpt = ModelCheckpoint(str(tmp_path / "w-{epoch}-{val_mean_absolute_error:.4f}.h5"),
                           monitor="val_mean_absolute_error", save_weights_only=True,
                           save_best_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # no "monitor not found"
        hist = model.fit(x, y, epochs=3, batch_size=10, verbose=0, validation_split=0.25,
                         callbacks=[reader, stop, ckpt])
    assert len(reader.batch_values) == 9
    for (mae, val_mae, present), h_mae, h_val in zip(
            reader.epoch_values, hist.history["mae"], hist.history["val_mae"]):
        assert (mae, val_mae, present) == (h_mae, h_val, True)
    # what a callback writes reaches the callbacks after it and History
    assert hist.history["written_by_callback"] == [1.0, 1.0, 1.0]
    assert stop.best == min(hist.history["val_mae"])
    names = sorted(p.name for p in tmp_path.glob("w-*.h5"))
    assert names and all(re.fullmatch(r"w-\d-\d\.\d{4}\.h5", n) for n in names)
    best_epoch = int(np.argmin(hist.history["val_mae"])) + 1
    assert "w-%d-%.4f.h5" % (best_epoch, min(hist.history["val_mae"])) in names


def test_callback_list_writes_back_into_the_callers_dict():
    class Writer(Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["extra"] = logs["accuracy"] * 2

    caller = {"acc": 0.25}
    CallbackList([Writer()]).on_epoch_end(0, caller)
    assert caller == {"acc": 0.25, "extra": 0.5} and type(caller) is dict


def test_csv_logger_appends_into_a_keras_224_header(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,mean_absolute_error,val_loss,val_mean_absolute_error\n"
                    "0,1.5,1.25,1.75,1.5\n")
    x, y = _data()
    model = _regressor(["mae"])
    hist = model.fit(x, y, epochs=2, batch_size=10, verbose=0, validation_split=0.25,
                     callbacks=[CSVLogger(str(path), append=True)])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "loss", "mean_absolute_error", "val_loss",
                             "val_mean_absolute_error"]
    assert len(rows) == 3
    for row, mae, val_mae in zip(rows[1:], hist.history["mae"], hist.history["val_mae"]):
        assert float(row["mean_absolute_error"]) == pytest.approx(mae, rel=1e-6)
        assert float(row["val_mean_absolute_error"]) == pytest.approx(val_mae, rel=1e-6)


def test_csv_logger_warns_about_entries_the_appended_header_lacks(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,1.0\n")
    logger = CSVLogger(str(path), append=True)
    logger.on_train_begin()
    with pytest.warns(RuntimeWarning, match=r"\['acc'\] have no column"):
        logger.on_epoch_end(1, {"loss": 0.5, "acc": 0.75})
    logger.on_train_end()
    assert path.read_text() == "epoch,loss\n0,1.0\n1,0.5\n"


@pytest.mark.parametrize("given", ["accuracy", "acc", "mae", "mean_absolute_error"])
def test_progress_bar_prints_the_name_given_in_compile(capsys, given):
    """As the README shows (`- loss: 2.3172 - accuracy: 0.1010` for
    metrics=['accuracy']): the bar prints the name written in compile()."""
    x, y = _data()
    model = _regressor([given])
    model.fit(x, y, epochs=1, batch_size=10, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out
    number = r"\d\.\d{4}(e[+-]\d\d)?"
    assert re.search(r" - loss: {0} - {1}: {0} - val_loss: {0} - val_{1}: {0}\n".format(
        number, given), out), out


def test_readme_progress_line_is_what_fit_prints():
    import pathlib
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = re.search(r"^\d+/\d+ \[=+\] - .*$", readme, re.M).group(0)
    assert re.search(r" - loss: \d+\.\d{4} - accuracy: \d+\.\d{4}$", line), line
    assert "metrics=['accuracy']" in readme


def test_history_dict_is_a_metric_dict():
    h = History()
    h.on_train_begin()
    h.on_epoch_end(0, {"loss": 1.0, "mse": 0.5})
    assert h.history["mean_squared_error"] == [0.5] and "MSE" in h.history
