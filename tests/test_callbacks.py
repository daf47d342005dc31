"""Callbacks driven by a fake model and a fake training loop shaped like Keras 2.2.4's."""
import io
import math
import sys

import numpy as np
import pytest

from gpuseq import callbacks as cbks
from gpuseq.utils import generic_utils


# --- fakes -----------------------------------------------------------------------

class FakeOptimizer(object):
    def __init__(self, lr=0.1):
        self._lr = lr

    @property
    def lr(self):
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = float(value)


class FakeModel(object):
    """What callbacks may rely on: stop_training, optimizer.lr, weights, saving."""

    def __init__(self, lr=0.1):
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.weights = [np.zeros(3)]
        self.saved = []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w, copy=True) for w in weights]

    def save_weights(self, path, overwrite=True):
        self.saved.append(("weights", path, overwrite))

    def save(self, path, overwrite=True):
        self.saved.append(("model", path, overwrite))


def fake_fit(model, epochs, batches, val=None, callbacks=(), verbose=0,
             metrics=("loss", "acc"), count_mode="samples", on_batch=None):
    """Keras 2.2.4's fit loop around callbacks, without a model.

    batches(epoch) -> list of (size, {metric: value}); val(epoch) -> {val_metric: value}.
    on_batch(model, epoch, batch) runs where the weights would be updated.
    """
    history = cbks.History()
    val_names = ["val_" + m for m in metrics] if val else []
    callback_metrics = list(metrics) + val_names
    all_cbks = [cbks.BaseLogger()]
    if verbose:
        all_cbks.append(cbks.ProgbarLogger(count_mode))
    all_cbks += list(callbacks) + [history]
    cl = cbks.CallbackList(all_cbks)
    samples = sum(size for size, _ in batches(0))
    cl.set_model(model)
    cl.set_params({
        "epochs": epochs, "steps": None if count_mode == "samples" else len(batches(0)),
        "samples": samples, "verbose": verbose, "do_validation": bool(val),
        "metrics": callback_metrics,
    })
    cl.on_train_begin()
    model.stop_training = False
    for epoch in range(epochs):
        cl.on_epoch_begin(epoch)
        epoch_logs = {}
        epoch_batches = batches(epoch)
        for index, (size, values) in enumerate(epoch_batches):
            batch_logs = {"batch": index, "size": size}
            cl.on_batch_begin(index, batch_logs)
            if on_batch is not None:
                on_batch(model, epoch, index)
            batch_logs.update(values)
            cl.on_batch_end(index, batch_logs)
            if model.stop_training:
                break
            if index == len(epoch_batches) - 1 and val:
                epoch_logs.update(val(epoch))
        cl.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cl.on_train_end()
    return history


class FakeStream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self._tty = tty

    def isatty(self):
        return self._tty


class FakeClock(object):
    def __init__(self):
        self.now = 100.0

    def time(self):
        return self.now


@pytest.fixture
def console(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)

    def install(tty=False):
        stream = FakeStream(tty)
        clock = FakeClock()
        monkeypatch.setattr(sys, "stdout", stream)
        monkeypatch.setattr(generic_utils, "time", clock)
        return stream, clock

    return install


def constant_batches(values_per_batch, sizes):
    return lambda epoch: [(s, dict(v)) for s, v in zip(sizes, values_per_batch)]


# --- CallbackList and the base class ------------------------------------------------

class Recorder(cbks.Callback):
    def __init__(self, events):
        super().__init__()
        self.events = events

    def on_train_begin(self, logs=None):
        self.events.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(("epoch_begin", epoch))

    def on_batch_begin(self, batch, logs=None):
        self.events.append(("batch_begin", batch, logs["size"]))

    def on_batch_end(self, batch, logs=None):
        self.events.append(("batch_end", batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch_end", epoch, round(logs["loss"], 6)))

    def on_train_end(self, logs=None):
        self.events.append(("train_end",))


def test_hooks_are_called_in_keras_order_with_batch_logs():
    events = []
    model = FakeModel()
    batches = constant_batches([{"loss": 1.0}, {"loss": 3.0}], sizes=[3, 1])
    fake_fit(model, 2, batches, callbacks=[Recorder(events)], metrics=("loss",))
    assert events == [
        ("train_begin",),
        ("epoch_begin", 0), ("batch_begin", 0, 3), ("batch_end", 0, 1.0),
        ("batch_begin", 1, 1), ("batch_end", 1, 3.0), ("epoch_end", 0, 1.5),
        ("epoch_begin", 1), ("batch_begin", 0, 3), ("batch_end", 0, 1.0),
        ("batch_begin", 1, 1), ("batch_end", 1, 3.0), ("epoch_end", 1, 1.5),
        ("train_end",),
    ]


def test_base_callback_has_empty_hooks_and_keras23_batch_names_forward():
    cb = cbks.Callback()
    assert cb.model is None and cb.params == {} and cb.validation_data is None
    for hook in ("on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
                 "on_train_begin", "on_train_end"):
        assert getattr(cb, hook)({}) is None
    seen = []
    rec = Recorder(seen)
    rec.on_train_batch_begin(4, {"size": 2})
    rec.on_train_batch_end(4, {"loss": 0.5})
    assert seen == [("batch_begin", 4, 2), ("batch_end", 4, 0.5)]


def test_keras23_style_callback_gets_train_batch_hooks():
    calls = []

    class NewStyle(cbks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            calls.append(("train_batch_end", batch, logs["loss"]))

        def on_test_batch_end(self, batch, logs=None):
            calls.append(("test_batch_end", batch))

    cl = cbks.CallbackList([NewStyle()])
    cl.on_batch_end(2, {"loss": 0.25})
    cl.on_train_batch_end(3, {"loss": 0.5})
    cl.on_test_batch_end(7, {})
    cl.on_predict_batch_end(1, {})
    assert calls == [("train_batch_end", 2, 0.25), ("train_batch_end", 3, 0.5),
                     ("test_batch_end", 7)]


def test_callback_list_shares_one_logs_dict_and_accepts_duck_types():
    class Writer(object):  # not a Callback subclass: only the hooks it has are called
        def on_epoch_end(self, epoch, logs):
            logs["extra"] = epoch * 10

        def on_batch_end(self, batch, logs):
            logs["seen"] = batch

    received = []
    reader = cbks.LambdaCallback(on_epoch_end=lambda e, logs: received.append(dict(logs)))
    cl = cbks.CallbackList([Writer(), reader])
    assert len(cl) == 2 and list(cl)[1] is reader
    cl.on_epoch_end(3)  # logs=None -> one fresh dict for everyone
    mine = {"loss": 1.0}
    cl.on_epoch_end(4, mine)
    batch_logs = {}
    cl.on_batch_end(5, batch_logs)
    cl.on_epoch_begin(0)  # Writer has no on_epoch_begin: skipped
    assert received == [{"extra": 30}, {"loss": 1.0, "extra": 40}]
    assert mine == {"loss": 1.0, "extra": 40}
    assert batch_logs == {"seen": 5}


def test_set_params_and_set_model_reach_every_callback():
    a, b = cbks.Callback(), cbks.History()
    cl = cbks.CallbackList([a])
    cl.append(b)
    model = FakeModel()
    cl.set_model(model)
    cl.set_params({"epochs": 3})
    assert a.model is model and b.model is model
    assert a.params == {"epochs": 3} and b.params == {"epochs": 3}


# --- BaseLogger ---------------------------------------------------------------------

def test_base_logger_weights_batch_metrics_by_size():
    logger = cbks.BaseLogger(stateful_metrics=["auc"])
    logger.set_params({"metrics": ["loss", "acc", "auc", "val_loss"]})
    logger.on_epoch_begin(0)
    logger.on_batch_end(0, {"batch": 0, "size": 32, "loss": 1.0, "acc": 0.5, "auc": 0.1,
                            "other": 9.0})
    logger.on_batch_end(1, {"batch": 1, "size": 32, "loss": 0.5, "acc": 0.75, "auc": 0.2})
    logger.on_batch_end(2, {"batch": 2, "size": 4, "loss": 2.0, "acc": 1.0, "auc": 0.3})
    logs = {"val_loss": 0.9}
    logger.on_epoch_end(0, logs)
    assert logs["loss"] == pytest.approx((32 * 1.0 + 32 * 0.5 + 4 * 2.0) / 68)
    assert logs["loss"] == pytest.approx(0.8235294117647058)
    assert logs["acc"] == pytest.approx((16 + 24 + 4) / 68)
    assert logs["auc"] == 0.3          # stateful: last value, not averaged
    assert logs["val_loss"] == 0.9     # untouched
    assert "other" not in logs         # not in params['metrics']
    assert "size" not in logs and "batch" not in logs
    # A new epoch starts from zero.
    logger.on_epoch_begin(1)
    logger.on_batch_end(0, {"size": 2, "loss": 4.0})
    logs = {}
    logger.on_epoch_end(1, logs)
    assert logs == {"loss": 4.0}


def test_history_gets_size_weighted_epoch_averages():
    model = FakeModel()
    batches = constant_batches([{"loss": 1.0, "acc": 0.25}, {"loss": 0.0, "acc": 1.0}],
                               sizes=[30, 10])
    history = fake_fit(model, 2, batches, val=lambda e: {"val_loss": 0.5 - e * 0.1,
                                                         "val_acc": 0.6 + e * 0.1})
    assert history.epoch == [0, 1]
    assert list(history.history) == ["val_loss", "val_acc", "loss", "acc"]
    assert history.history["loss"] == [0.75, 0.75]
    assert history.history["acc"] == [0.4375, 0.4375]
    assert history.history["val_loss"] == pytest.approx([0.5, 0.4])
    assert history.history["val_acc"] == pytest.approx([0.6, 0.7])


# --- History aliases -------------------------------------------------------------------

@pytest.mark.parametrize("written, other", [("acc", "accuracy"), ("accuracy", "acc")])
def test_history_answers_both_accuracy_spellings(written, other):
    h = cbks.History()
    h.on_train_begin()
    h.on_epoch_end(0, {"loss": 0.9, written: 0.5, "val_" + written: 0.4})
    h.on_epoch_end(1, {"loss": 0.8, written: 0.6, "val_" + written: 0.45})
    hist = h.history
    assert hist[written] == [0.5, 0.6]
    assert hist[other] == [0.5, 0.6]
    assert hist["val_" + other] == [0.4, 0.45]
    assert other in hist and "val_" + other in hist
    assert hist.get(other) == [0.5, 0.6]
    assert hist.get("val_" + other) == [0.4, 0.45]
    assert list(hist) == ["loss", written, "val_" + written]
    assert list(hist.keys()) == ["loss", written, "val_" + written]
    assert len(hist) == 3
    assert isinstance(hist, dict)
    assert "f1" not in hist and hist.get("f1", "none") == "none"
    with pytest.raises(KeyError):
        hist["val_f1"]
    assert "loss_acc" not in hist and "val_loss" not in hist


def test_history_resets_on_train_begin():
    h = cbks.History()
    h.on_train_begin()
    h.on_epoch_end(0, {"loss": 1.0})
    h.on_train_begin()
    assert h.epoch == [] and dict(h.history) == {}


# --- ProgbarLogger -----------------------------------------------------------------------

def _progbar_fit(verbose, tty, console, count_mode="samples", val=True):
    stream, clock = console(tty=tty)

    def tick(model, epoch, batch):
        clock.now += 0.06

    batches = constant_batches(
        [{"loss": 1.0, "acc": 0.5}, {"loss": 0.5, "acc": 0.75}, {"loss": 0.25, "acc": 1.0}],
        sizes=[40, 40, 20])
    fake_fit(FakeModel(), 2, batches, verbose=verbose, count_mode=count_mode,
             val=(lambda e: {"val_loss": 0.5, "val_acc": 0.8}) if val else None,
             on_batch=tick)
    return stream.getvalue()


def test_progbar_logger_verbose_1_non_tty(console):
    out = _progbar_fit(1, False, console)
    epoch = (
        "\n 40/100 [===========>..................] - ETA: 0s - loss: 1.0000 - acc: 0.5000"
        "\n 80/100 [=======================>......] - ETA: 0s - loss: 0.7500 - acc: 0.6250"
        "\n100/100 [==============================] - 0s 2ms/step - loss: 0.6500"
        " - acc: 0.7000 - val_loss: 0.5000 - val_acc: 0.8000\n")
    assert out == "Epoch 1/2\n" + epoch + "Epoch 2/2\n" + epoch


def test_progbar_logger_verbose_1_tty_redraws(console):
    out = _progbar_fit(1, True, console, val=False)
    line1 = " 40/100 [===========>..................] - ETA: 0s - loss: 1.0000 - acc: 0.5000"
    line2 = " 80/100 [=======================>......] - ETA: 0s - loss: 0.7500 - acc: 0.6250"
    line3 = "100/100 [==============================] - 0s 2ms/step - loss: 0.6500 - acc: 0.7000"
    epoch = ("\r" + line1 + "\b" * len(line1) + "\r" + line2 + "\b" * len(line2) + "\r" +
             line3 + "\n")
    assert out == "Epoch 1/2\n" + epoch + "Epoch 2/2\n" + epoch


def test_progbar_logger_verbose_2_prints_one_line_per_epoch(console):
    out = _progbar_fit(2, True, console)
    line = " - 0s - loss: 0.6500 - acc: 0.7000 - val_loss: 0.5000 - val_acc: 0.8000\n"
    assert out == "Epoch 1/2\n" + line + "Epoch 2/2\n" + line


def test_progbar_logger_counts_steps(console):
    out = _progbar_fit(2, False, console, count_mode="steps", val=False)
    # Steps mode weights every batch by 1; the final update also counts the epoch
    # averages (loss 0.65, acc 0.7): (1 + 0.5 + 0.25 + 0.65) / 4 = 0.6.
    assert out == ("Epoch 1/2\n - 0s - loss: 0.6000 - acc: 0.7375\n"
                   "Epoch 2/2\n - 0s - loss: 0.6000 - acc: 0.7375\n")
    out = _progbar_fit(1, False, console, count_mode="steps", val=False)
    assert out.splitlines()[2].startswith("1/3 [=========>....................] - ETA: 0s")
    assert out.splitlines()[4] == ("3/3 [==============================] - 0s 60ms/step"
                                   " - loss: 0.6000 - acc: 0.7375")


def test_progbar_logger_rejects_unknown_count_mode():
    with pytest.raises(ValueError, match=r"'samples' or 'steps'.*count_mode='batches'"):
        cbks.ProgbarLogger(count_mode="batches")


# --- EarlyStopping ---------------------------------------------------------------------

def _set_weights_to_epoch(model, epoch, batch):
    model.weights = [np.full(3, float(epoch))]


def test_early_stopping_stops_after_patience_and_restores_best(console):
    stream, _ = console()
    model = FakeModel()
    val_losses = [1.0, 0.8, 0.9, 0.85, 0.95, 0.1]
    stop = cbks.EarlyStopping(monitor="val_loss", patience=2, verbose=1,
                              restore_best_weights=True)
    history = fake_fit(model, 6, constant_batches([{"loss": 1.0}], [4]),
                       val=lambda e: {"val_loss": val_losses[e]}, callbacks=[stop],
                       metrics=("loss",), on_batch=_set_weights_to_epoch)
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3
    assert stop.best == 0.8
    assert model.stop_training is True
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0, 1.0])
    assert stream.getvalue() == ("Restoring model weights from the end of the best epoch\n"
                                 "Epoch 00004: early stopping\n")


def test_early_stopping_min_delta_and_max_mode_for_accuracy():
    model = FakeModel()
    accs = [0.50, 0.505, 0.509, 0.6]
    stop = cbks.EarlyStopping(monitor="val_acc", min_delta=0.01, patience=2)
    history = fake_fit(model, 4, constant_batches([{"loss": 1.0, "acc": 0.5}], [4]),
                       val=lambda e: {"val_loss": 1.0, "val_acc": accs[e]},
                       callbacks=[stop])
    # 0.505 and 0.509 are within min_delta of 0.50: two epochs without improvement.
    assert history.epoch == [0, 1, 2]
    assert stop.stopped_epoch == 2 and stop.best == 0.5


def test_early_stopping_finds_the_other_accuracy_spelling():
    model = FakeModel()
    stop = cbks.EarlyStopping(monitor="val_accuracy", patience=0)
    history = fake_fit(model, 5, constant_batches([{"loss": 1.0, "acc": 0.5}], [4]),
                       val=lambda e: {"val_loss": 1.0, "val_acc": [0.5, 0.7, 0.6, 0.9, 1][e]},
                       callbacks=[stop])
    assert history.epoch == [0, 1, 2]
    assert stop.best == 0.7


def test_early_stopping_baseline_and_missing_monitor():
    model = FakeModel()
    stop = cbks.EarlyStopping(monitor="loss", baseline=0.5, patience=1)
    history = fake_fit(model, 5, lambda e: [(4, {"loss": [0.9, 0.7, 0.4][min(e, 2)]})],
                       callbacks=[stop], metrics=("loss",))
    assert history.epoch == [0]          # 0.9 does not beat the baseline 0.5
    assert stop.stopped_epoch == 0 and model.stop_training

    stop = cbks.EarlyStopping(monitor="val_loss")
    with pytest.warns(RuntimeWarning, match=r"monitors 'val_loss'.*available keys: loss"):
        history = fake_fit(FakeModel(), 2, constant_batches([{"loss": 1.0}], [4]),
                           callbacks=[stop], metrics=("loss",))
    assert history.epoch == [0, 1]


def test_early_stopping_unknown_mode_falls_back_to_auto():
    with pytest.warns(RuntimeWarning, match=r"'auto', 'min' or 'max'.*mode='biggest'"):
        stop = cbks.EarlyStopping(monitor="val_acc", mode="biggest")
    assert stop.mode == "auto" and stop.monitor_op(0.9, 0.8)


# --- ModelCheckpoint ----------------------------------------------------------------------

def test_model_checkpoint_formats_the_filename_each_epoch():
    model = FakeModel()
    ckpt = cbks.ModelCheckpoint("w.{epoch:02d}-{val_loss:.2f}.h5")
    fake_fit(model, 3, constant_batches([{"loss": 1.0}], [4]),
             val=lambda e: {"val_loss": [0.876, 0.5, 0.61][e]}, callbacks=[ckpt],
             metrics=("loss",))
    assert model.saved == [("model", "w.01-0.88.h5", True), ("model", "w.02-0.50.h5", True),
                           ("model", "w.03-0.61.h5", True)]


def test_model_checkpoint_save_best_only_weights_only_verbose(console):
    stream, _ = console()
    model = FakeModel()
    ckpt = cbks.ModelCheckpoint("best-{epoch}.h5", monitor="val_loss", verbose=1,
                                save_best_only=True, save_weights_only=True)
    fake_fit(model, 4, constant_batches([{"loss": 1.0}], [4]),
             val=lambda e: {"val_loss": [0.9, 0.95, 0.4, 0.4][e]}, callbacks=[ckpt],
             metrics=("loss",))
    assert model.saved == [("weights", "best-1.h5", True), ("weights", "best-3.h5", True)]
    assert stream.getvalue() == (
        "\nEpoch 00001: val_loss improved from inf to 0.90000, saving model to best-1.h5\n"
        "\nEpoch 00002: val_loss did not improve from 0.90000\n"
        "\nEpoch 00003: val_loss improved from 0.90000 to 0.40000, saving model to best-3.h5\n"
        "\nEpoch 00004: val_loss did not improve from 0.40000\n")


def test_model_checkpoint_accuracy_is_maximised_and_alias_fields(console):
    stream, _ = console()
    model = FakeModel()
    ckpt = cbks.ModelCheckpoint("m-{val_acc:.2f}.h5", monitor="val_acc",
                                save_best_only=True)
    fake_fit(model, 3, constant_batches([{"loss": 1.0, "accuracy": 0.5}], [4]),
             val=lambda e: {"val_loss": 1.0, "val_accuracy": [0.5, 0.4, 0.75][e]},
             callbacks=[ckpt], metrics=("loss", "accuracy"))
    assert model.saved == [("model", "m-0.50.h5", True), ("model", "m-0.75.h5", True)]


def test_model_checkpoint_period_and_verbose_plain_save(console):
    stream, _ = console()
    model = FakeModel()
    ckpt = cbks.ModelCheckpoint("p{epoch}.h5", period=2, verbose=1)
    fake_fit(model, 5, constant_batches([{"loss": 1.0}], [4]), callbacks=[ckpt],
             metrics=("loss",))
    assert [s[1] for s in model.saved] == ["p2.h5", "p4.h5"]
    assert stream.getvalue() == ("\nEpoch 00002: saving model to p2.h5\n"
                                 "\nEpoch 00004: saving model to p4.h5\n")


def test_model_checkpoint_errors_and_warnings():
    ckpt = cbks.ModelCheckpoint("w-{val_f1:.2f}.h5")
    ckpt.set_model(FakeModel())
    with pytest.raises(KeyError, match=r"field \{val_f1\}.*epoch, loss"):
        ckpt.on_epoch_end(0, {"loss": 1.0})
    model = FakeModel()
    ckpt = cbks.ModelCheckpoint("w.h5", monitor="val_loss", save_best_only=True)
    ckpt.set_model(model)
    with pytest.warns(RuntimeWarning, match=r"monitors 'val_loss'.*nothing was saved"):
        ckpt.on_epoch_end(0, {"loss": 1.0})
    assert model.saved == []


# --- learning-rate callbacks ------------------------------------------------------------------

def _lr_recorder(seen):
    return cbks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: None,
        on_batch_begin=lambda batch, logs: None,
        on_epoch_end=lambda epoch, logs: seen.append(logs["lr"]))


def test_learning_rate_scheduler_one_and_two_argument_schedules():
    model = FakeModel(lr=0.1)
    seen = []
    sched = cbks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    history = fake_fit(model, 3, constant_batches([{"loss": 1.0}], [4]),
                       callbacks=[sched, _lr_recorder(seen)], metrics=("loss",))
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])

    model = FakeModel(lr=0.2)

    def halve(epoch, lr):
        return lr * 0.5

    seen = []
    fake_fit(model, 3, constant_batches([{"loss": 1.0}], [4]),
             callbacks=[cbks.LearningRateScheduler(halve), _lr_recorder(seen)],
             metrics=("loss",))
    assert seen == pytest.approx([0.1, 0.05, 0.025])
    assert model.optimizer.lr == pytest.approx(0.025)


def test_learning_rate_scheduler_verbose_and_bad_schedule(console):
    stream, _ = console()
    model = FakeModel(lr=0.1)
    sched = cbks.LearningRateScheduler(lambda epoch, lr=None: 0.5 ** epoch, verbose=1)
    sched.set_model(model)
    sched.on_epoch_begin(2)
    assert model.optimizer.lr == 0.25
    assert stream.getvalue() == ("\nEpoch 00003: LearningRateScheduler setting "
                                 "learning rate to 0.25.\n")
    bad = cbks.LearningRateScheduler(lambda epoch: "fast")
    bad.set_model(model)
    with pytest.raises(ValueError, match=r"must return a float.*Received: 'fast'"):
        bad.on_epoch_begin(0)
    with pytest.raises(ValueError, match="function of"):
        cbks.LearningRateScheduler(0.1)

    class NoLr(object):
        optimizer = None

    orphan = cbks.LearningRateScheduler(lambda epoch: 0.1)
    orphan.set_model(NoLr())
    with pytest.raises(ValueError, match="optimizer"):
        orphan.on_epoch_begin(0)


def test_reduce_lr_on_plateau_patience_cooldown_and_min_lr(console):
    stream, _ = console()
    model = FakeModel(lr=1.0)
    losses = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]
    reduce = cbks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                    cooldown=2, min_lr=0.3, verbose=1)
    history = fake_fit(model, 8, constant_batches([{"loss": 1.0}], [4]),
                       val=lambda e: {"val_loss": losses[e]}, callbacks=[reduce],
                       metrics=("loss",))
    # lr is recorded at each epoch end, before that epoch's reduction. After the
    # reduction at epoch index 2 the cooldown of 2 covers index 3 and 4 (the counter
    # reaches 0 during index 4, which already counts), so the next cut is at index 5.
    assert history.history["lr"] == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3, 0.3])
    assert model.optimizer.lr == pytest.approx(0.3)
    assert stream.getvalue() == (
        "\nEpoch 00003: ReduceLROnPlateau reducing learning rate to 0.5.\n"
        "\nEpoch 00006: ReduceLROnPlateau reducing learning rate to 0.3.\n")


def test_reduce_lr_on_plateau_rejects_factor_one():
    with pytest.raises(ValueError, match=r"below 1.0.*factor=1.0"):
        cbks.ReduceLROnPlateau(factor=1.0)
    with pytest.warns(DeprecationWarning, match="min_delta"):
        r = cbks.ReduceLROnPlateau(epsilon=0.01)
    assert r.min_delta == 0.01


# --- TerminateOnNaN, CSVLogger, LambdaCallback ------------------------------------------

def test_terminate_on_nan_stops_at_the_bad_batch(console):
    stream, _ = console()
    model = FakeModel()
    batch_ends = []
    history = fake_fit(
        model, 3,
        lambda e: [(2, {"loss": 1.0}), (2, {"loss": float("nan")}), (2, {"loss": 1.0})],
        callbacks=[cbks.TerminateOnNaN(),
                   cbks.LambdaCallback(on_batch_end=lambda b, logs: batch_ends.append(b))],
        metrics=("loss",))
    assert batch_ends == [0, 1]
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0])
    assert stream.getvalue() == "Batch 1: Invalid loss, terminating training\n"
    term = cbks.TerminateOnNaN()
    term.set_model(model)
    model.stop_training = False
    term.on_batch_end(0, {"loss": np.float32("inf")})
    assert model.stop_training is True


def test_csv_logger_writes_sorted_columns_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    batches = constant_batches([{"loss": 0.5, "acc": 0.25}], [4])
    fake_fit(FakeModel(), 2, batches, val=lambda e: {"val_loss": 0.75, "val_acc": 0.125},
             callbacks=[cbks.CSVLogger(str(path))])
    assert path.read_text() == ("epoch,acc,loss,val_acc,val_loss\n"
                                "0,0.25,0.5,0.125,0.75\n"
                                "1,0.25,0.5,0.125,0.75\n")
    fake_fit(FakeModel(), 1, batches, val=lambda e: {"val_loss": 0.75, "val_acc": 0.125},
             callbacks=[cbks.CSVLogger(str(path), append=True)])
    assert path.read_text().splitlines() == ["epoch,acc,loss,val_acc,val_loss",
                                             "0,0.25,0.5,0.125,0.75",
                                             "1,0.25,0.5,0.125,0.75",
                                             "0,0.25,0.5,0.125,0.75"]
    fake_fit(FakeModel(), 1, batches, callbacks=[cbks.CSVLogger(path, separator=";")])
    assert path.read_text() == "epoch;acc;loss\n0;0.25;0.5\n"


def test_csv_logger_fills_missing_values_and_formats_arrays(tmp_path):
    path = tmp_path / "na.csv"
    logger = cbks.CSVLogger(str(path))
    model = FakeModel()
    logger.set_model(model)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": np.float64(0.5), "val_loss": np.array(0.25),
                            "hist": np.array([1, 2])})
    model.stop_training = True
    logger.on_epoch_end(1, {"loss": 0.4})
    logger.on_train_end()
    assert path.read_text() == ('epoch,hist,loss,val_loss\n'
                                '0,"""[1, 2]""",0.5,0.25\n'
                                '1,NA,0.4,NA\n')


def test_lambda_callback_calls_the_given_functions():
    calls = []
    cb = cbks.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_batch_end=lambda batch, logs: calls.append(("batch_end", batch, logs["loss"])),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append("test_end"))
    fake_fit(FakeModel(), 1, constant_batches([{"loss": 2.0}, {"loss": 3.0}], [1, 1]),
             callbacks=[cb], metrics=("loss",))
    cb.on_test_end({})
    assert calls == ["train_begin", ("epoch_begin", 0), ("batch_end", 0, 2.0),
                     ("batch_end", 1, 3.0), "train_end", "test_end"]


def test_progbar_logger_reads_params_set_after_train_begin(console):
    stream, clock = console(tty=False)
    logger = cbks.ProgbarLogger(count_mode="steps")
    cl = cbks.CallbackList([logger])
    cl.on_train_begin()                       # params not known yet
    cl.set_params({"epochs": 3, "steps": 2, "samples": None, "verbose": 2,
                   "do_validation": False, "metrics": ["loss"]})
    cl.on_epoch_begin(0)
    for b in range(2):
        cl.on_batch_begin(b, {"batch": b, "size": 5})
        cl.on_batch_end(b, {"batch": b, "size": 5, "loss": 1.0})
    cl.on_epoch_end(0, {"loss": 1.0})
    assert stream.getvalue() == "Epoch 1/3\n - 0s - loss: 1.0000\n"
