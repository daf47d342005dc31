"""Callbacks: objects whose hooks the training loop calls at fixed points of `fit`.

The behaviour and the printed messages follow Keras 2.2.4. A callback sees:

- `self.model`: the model being trained (`stop_training`, `optimizer.lr`,
  `get_weights()` / `set_weights()`, `save_weights()` / `save()`);
- `self.params`: a dict with the keys `epochs`, `steps`, `samples`, `verbose`,
  `do_validation` and `metrics` (the names shown in the logs, `val_` ones included).

Example:
    >>> from gpuseq.callbacks import EarlyStopping, ModelCheckpoint
    >>> callbacks = [EarlyStopping(monitor='val_loss', patience=2),
    ...              ModelCheckpoint('weights.{epoch:02d}-{val_loss:.2f}.h5')]
    >>> model.fit(x, y, validation_split=0.2, callbacks=callbacks)  # doctest: +SKIP
"""
import csv
import inspect
import json
import math
import numbers
import os
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterable

import numpy as np

from . import metric_names
from .utils.generic_utils import Progbar
from .utils.tensorboard_logs import EventLog

__all__ = [
    "Callback", "CallbackList", "BaseLogger", "ProgbarLogger", "History",
    "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau",
    "TerminateOnNaN", "CSVLogger", "LambdaCallback", "HistoryDict",
]

# Keys the training loop puts in batch logs that are bookkeeping, not metrics.
_BOOKKEEPING_KEYS = ("batch", "size")


def _host_value(value):
    """An epoch log value as the host value Keras gives (device scalars are copied back
    once per epoch, so that batches never wait for the device)."""
    if type(value).__module__.startswith("cupy"):
        value = value.get()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value[()]
    return value


def _lookup(logs, name):
    """`logs[name]` under any spelling of the metric (`val_acc` finds `val_accuracy`,
    `mean_absolute_error` finds `mae`); None when absent."""
    if logs is None:
        return None
    key = metric_names.find_key(logs, name) if isinstance(logs, dict) else None
    return None if key is None else logs[key]


def _auto_mode_is_max(monitor):
    return "acc" in monitor or monitor.startswith("fmeasure")


def _checked_mode(mode, owner):
    if mode not in ("auto", "min", "max"):
        warnings.warn(
            "%s received mode=%r, but the mode must be 'auto', 'min' or 'max'; "
            "falling back to 'auto'. Received: mode=%r" % (owner, mode, mode),
            RuntimeWarning, stacklevel=3)
        return "auto"
    return mode


def _get_lr(model, owner):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "lr"):
        raise ValueError(
            "%s needs the model's optimizer to have an `lr` attribute, but the model "
            "has no optimizer with a learning rate. Compile the model with an "
            "optimizer first. Received: optimizer=%r" % (owner, optimizer))
    return float(optimizer.lr)


class HistoryDict(metric_names.MetricDict):
    """The dict behind `History.history`: each metric answers to every spelling
    Keras versions logged it under.

    Keys are stored under the names the metrics were given (`'acc'` or
    `'accuracy'`, `'mae'` or `'mean_absolute_error'`); reading, `in` and `get`
    also accept the other spellings (see :mod:`gpuseq.metric_names`), for the
    `val_` keys too. Iteration, `keys()` and `repr` show only the stored names.

    Example:
        >>> h = HistoryDict(acc=[0.5, 0.7], val_mae=[0.4, 0.6])
        >>> h['accuracy'], 'val_mean_absolute_error' in h, list(h)
        ([0.5, 0.7], True, ['acc', 'val_mae'])
    """


class Callback(object):
    """Base class of callbacks: every hook is an empty method to override.

    Hooks (`logs` is a dict, possibly empty):

    - `on_train_begin(logs)`, `on_train_end(logs)`
    - `on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch, logs)`: `epoch` counts from
      0; at epoch end `logs` holds the epoch averages (`loss`, `acc`, ...) and the
      validation results (`val_loss`, ...).
    - `on_batch_begin(batch, logs)`, `on_batch_end(batch, logs)`: `logs` holds
      `batch` and `size` (samples in the batch), and at batch end the batch's
      `loss` and metrics. `on_train_batch_begin/end` are the Keras 2.3 names of
      the same hooks and by default call these.
    - `on_test_begin/end(logs)`, `on_test_batch_begin/end(batch, logs)`,
      `on_predict_begin/end(logs)`, `on_predict_batch_begin/end(batch, logs)`.

    Attributes:
        model: The model being trained (set by `set_model`).
        params: Training parameters (set by `set_params`).
        validation_data: Validation arrays, when the training loop provides them.

    Example:
        >>> class LossHistory(Callback):
        ...     def on_train_begin(self, logs=None):
        ...         self.losses = []
        ...     def on_batch_end(self, batch, logs=None):
        ...         self.losses.append(logs.get('loss'))
    """

    def __init__(self):
        self.validation_data = None
        self.model = None
        self.params = {}

    def set_params(self, params):
        """Stores the training parameters dict as `self.params`."""
        self.params = params

    def set_model(self, model):
        """Stores the model being trained as `self.model`."""
        self.model = model

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        """Keras 2.3 name of `on_batch_begin`; calls it unless overridden."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        """Keras 2.3 name of `on_batch_end`; calls it unless overridden."""
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


class CallbackList(object):
    """Calls a hook on every callback of a list, in list order.

    A hook called with `logs=None` passes one fresh dict to all the callbacks; a
    dict passed in is shared as is, so values that one callback writes into it
    (BaseLogger's epoch averages, for instance) are seen by the callbacks after
    it and by the caller.

    Args:
        callbacks: List of `Callback` instances.
        queue_length: Accepted for Keras compatibility; unused.

    Example:
        >>> cbks = CallbackList([BaseLogger(), History()])
        >>> cbks.set_params({'epochs': 1, 'metrics': ['loss']})
        >>> cbks.on_train_begin()
    """

    def __init__(self, callbacks=None, queue_length=10):
        self.callbacks = list(callbacks or [])
        self.queue_length = queue_length

    def append(self, callback):
        """Adds `callback` at the end of the list."""
        self.callbacks.append(callback)

    def set_params(self, params):
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args):
        logs = args[-1]
        # The callbacks read the logs under any spelling of a metric. A MetricDict is
        # passed on as is (no logs: a fresh one, nothing to copy back); a plain dict is
        # wrapped and what the callbacks write goes back into it.
        view = logs if isinstance(logs, metric_names.MetricDict) else \
            metric_names.MetricDict(logs or ())
        args = args[:-1] + (view,)
        for callback in self.callbacks:
            method = getattr(callback, hook, None)
            if method is None and hook.startswith("on_train_batch_"):
                # A duck-typed callback that only has the Keras 2.2 names.
                method = getattr(callback, hook.replace("on_train_batch_", "on_batch_"),
                                 None)
            if method is not None:
                method(*args)
        if logs is not None and view is not logs:
            logs.clear()
            logs.update(view)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    on_train_batch_begin = on_batch_begin
    on_train_batch_end = on_batch_end

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)


class BaseLogger(Callback):
    """Turns batch metrics into epoch averages, weighted by the batch `size`.

    The training loop adds it first, so the epoch logs that the other callbacks
    receive hold `loss` and the metrics averaged over the samples of the epoch.

    Args:
        stateful_metrics: Names of metrics that are already running averages; their
            last batch value is used instead of an average.

    Example:
        >>> logger = BaseLogger()
        >>> logger.set_params({'metrics': ['loss']})
        >>> logger.on_epoch_begin(0)
        >>> logger.on_batch_end(0, {'size': 3, 'loss': 1.0})
        >>> logger.on_batch_end(1, {'size': 1, 'loss': 3.0})
        >>> logs = {}
        >>> logger.on_epoch_end(0, logs)
        >>> logs['loss']
        1.5
    """

    def __init__(self, stateful_metrics=None):
        super(BaseLogger, self).__init__()
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self.seen = 0
        self.totals = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0
        self.totals = {}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        batch_size = logs.get("size", 0)
        self.seen += batch_size
        for name, value in logs.items():
            if name in _BOOKKEEPING_KEYS:
                continue
            if name in self.stateful_metrics:
                self.totals[name] = value
            elif name in self.totals:
                self.totals[name] += value * batch_size
            else:
                self.totals[name] = value * batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        names = self.params.get("metrics") if self.params else None
        if names is None:
            names = list(self.totals)
        for name in names:
            if name not in self.totals:
                continue
            if name in self.stateful_metrics:
                logs[name] = _host_value(self.totals[name])
            elif self.seen:
                logs[name] = _host_value(self.totals[name] / self.seen)


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch loss is NaN or infinite.

    Example:
        >>> model.fit(x, y, callbacks=[TerminateOnNaN()])  # doctest: +SKIP
    """

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(np.asarray(loss).ravel()[0]) if np.ndim(loss) else float(loss)
        if math.isnan(value) or math.isinf(value):
            print("Batch %d: Invalid loss, terminating training" % batch)
            self.model.stop_training = True


class ProgbarLogger(Callback):
    """Prints `Epoch i/n` and a progress bar with the metrics (Keras 2.2.4 output).

    With `verbose=1` the bar moves during the epoch and the last redraw, at the end
    of the epoch, also shows the validation metrics. With `verbose=2` one line per
    epoch is printed: ` - 2s - loss: 0.3012 - acc: 0.9120 - val_loss: ...`.
    The metrics shown are `params['metrics']`, in that order.

    Args:
        count_mode: `'samples'` (the bar counts samples, using each batch's `size`)
            or `'steps'` (the bar counts batches).
        stateful_metrics: Names of metrics shown as received instead of averaged.

    Example:
        >>> ProgbarLogger(count_mode='steps')  # doctest: +ELLIPSIS
        <gpuseq.callbacks.ProgbarLogger object at ...>
    """

    def __init__(self, count_mode="samples", stateful_metrics=None):
        super(ProgbarLogger, self).__init__()
        if count_mode == "samples":
            self.use_steps = False
        elif count_mode == "steps":
            self.use_steps = True
        else:
            raise ValueError(
                "Received an invalid value for `count_mode`: expected 'samples' or "
                "'steps'. Received: count_mode=%r" % (count_mode,))
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()
        self.verbose = 0
        self.epochs = 0
        self.target = None
        self.seen = 0
        self.progbar = None
        self.log_values = []

    def _read_params(self):
        self.verbose = self.params.get("verbose", 1)
        self.epochs = self.params.get("epochs", self.epochs)

    def on_train_begin(self, logs=None):
        self._read_params()

    def on_epoch_begin(self, epoch, logs=None):
        # Read again: a generator loop may only know its parameters after the first
        # batch, and so call set_params after on_train_begin.
        self._read_params()
        if self.verbose:
            print("Epoch %d/%d" % (epoch + 1, self.epochs))
            self.target = self.params["steps"] if self.use_steps else self.params["samples"]
            self.progbar = Progbar(target=self.target, verbose=self.verbose,
                                   stateful_metrics=self.stateful_metrics)
        self.seen = 0
        self.log_values = []

    def _metric_names(self, logs):
        names = self.params.get("metrics")
        if names is None:
            names = [k for k in logs if k not in _BOOKKEEPING_KEYS]
        return names

    def _not_done(self):
        return self.target is None or self.seen < self.target

    def on_batch_begin(self, batch, logs=None):
        if self._not_done():
            self.log_values = []

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        if self.use_steps:
            self.seen += 1
        else:
            self.seen += logs.get("size", 0)
        for name in self._metric_names(logs):
            if name in logs:
                self.log_values.append((name, logs[name]))
        # The update for the last batch waits for on_epoch_end, which adds the
        # validation metrics.
        if self.verbose and self._not_done():
            self.progbar.update(self.seen, self.log_values)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for name in self._metric_names(logs):
            if name in logs:
                self.log_values.append((name, logs[name]))
        if self.verbose:
            self.progbar.update(self.seen, self.log_values)


class History(Callback):
    """Records the epoch logs; `fit` returns it.

    Attributes:
        epoch: List of the epoch indices trained (from 0).
        history: A `HistoryDict` mapping each log key (`loss`, `acc`, `val_loss`, ...)
            to the list of its values, one per epoch. `history['acc']` and
            `history['accuracy']` both work whichever name the metric was given.

    Example:
        >>> h = model.fit(x, y, epochs=3)  # doctest: +SKIP
        >>> h.history['loss']  # doctest: +SKIP
        [0.69, 0.52, 0.41]
    """

    def __init__(self):
        super(History, self).__init__()
        self.epoch = []
        self.history = HistoryDict()

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = HistoryDict()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epoch.append(epoch)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(value)


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) at the end of epochs.

    `filepath` may contain `str.format` fields filled from `epoch` (counted from 1)
    and the epoch logs, e.g. `'weights.{epoch:02d}-{val_loss:.2f}.hdf5'`.

    Args:
        filepath: Path of the file to write, possibly with format fields.
        monitor: Log key compared between epochs when `save_best_only=True`.
        verbose: 1 prints a line for each save decision.
        save_best_only: Save only when `monitor` improves on the best value so far.
        save_weights_only: Call `model.save_weights` instead of `model.save`.
        mode: `'min'`, `'max'`, or `'auto'` (max for names containing `acc`).
        period: Number of epochs between checkpoints.

    Example:
        >>> ckpt = ModelCheckpoint('best.h5', monitor='val_acc', save_best_only=True)
        >>> model.fit(x, y, validation_split=0.1, callbacks=[ckpt])  # doctest: +SKIP
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0,
                 save_best_only=False, save_weights_only=False,
                 mode="auto", period=1):
        super(ModelCheckpoint, self).__init__()
        self.monitor = monitor
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.period = period
        self.epochs_since_last_save = 0
        mode = _checked_mode(mode, "ModelCheckpoint")
        self.mode = mode
        if mode == "max" or (mode == "auto" and _auto_mode_is_max(monitor)):
            self._maximize = True
            self.best = -np.inf
        else:
            self._maximize = False
            self.best = np.inf

    def monitor_op(self, current, best):
        """True when `current` is better than `best`."""
        return current > best if self._maximize else current < best

    def _format_path(self, epoch, logs):
        fields = dict(logs)
        for name in list(logs):
            for alias in metric_names.spellings(name)[1:]:
                fields.setdefault(alias, logs[name])
        fields["epoch"] = epoch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as exc:
            raise KeyError(
                "ModelCheckpoint could not fill the field {%s} of filepath %r: no log "
                "entry has that name. Use `epoch` or one of the epoch log keys: %s. "
                "Received: filepath=%r" % (
                    exc.args[0], self.filepath, ", ".join(sorted(fields)),
                    self.filepath)) from None

    def _save(self, filepath):
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        filepath = self._format_path(epoch, logs)
        if not self.save_best_only:
            if self.verbose > 0:
                print("\nEpoch %05d: saving model to %s" % (epoch + 1, filepath))
            self._save(filepath)
            return
        current = _lookup(logs, self.monitor)
        if current is None:
            warnings.warn(
                "ModelCheckpoint(save_best_only=True) monitors %r, but the epoch logs "
                "have no such entry, so nothing was saved. Monitor one of: %s. "
                "Received: monitor=%r" % (self.monitor, ", ".join(logs), self.monitor),
                RuntimeWarning)
            return
        if self.monitor_op(current, self.best):
            if self.verbose > 0:
                print("\nEpoch %05d: %s improved from %0.5f to %0.5f, saving model to %s"
                      % (epoch + 1, self.monitor, self.best, current, filepath))
            self.best = current
            self._save(filepath)
        elif self.verbose > 0:
            print("\nEpoch %05d: %s did not improve from %0.5f"
                  % (epoch + 1, self.monitor, self.best))


class EarlyStopping(Callback):
    """Stops training when a monitored quantity has stopped improving.

    Args:
        monitor: Log key to watch, e.g. `'val_loss'` or `'val_acc'`.
        min_delta: Smallest change that counts as an improvement.
        patience: Number of epochs without improvement before stopping.
        verbose: 1 prints `Epoch 00005: early stopping` at the end of training.
        mode: `'min'`, `'max'`, or `'auto'` (max for names containing `acc`).
        baseline: Value the monitored quantity must beat; training stops after
            `patience` epochs that do not beat it.
        restore_best_weights: On stopping, put back the weights of the best epoch.

    Attributes:
        stopped_epoch: Index (from 0) of the epoch at which training was stopped.
        best: Best value seen so far.

    Example:
        >>> stop = EarlyStopping(monitor='val_loss', patience=3)
        >>> model.fit(x, y, validation_split=0.2, callbacks=[stop])  # doctest: +SKIP
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0,
                 mode="auto", baseline=None, restore_best_weights=False):
        super(EarlyStopping, self).__init__()
        self.monitor = monitor
        self.baseline = baseline
        self.patience = patience
        self.verbose = verbose
        self.restore_best_weights = restore_best_weights
        self.best_weights = None
        self.wait = 0
        self.stopped_epoch = 0
        self._stopped = False
        mode = _checked_mode(mode, "EarlyStopping")
        self.mode = mode
        self._maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        # Signed so that `current - min_delta` is always the value to compare.
        self.min_delta = abs(min_delta) if self._maximize else -abs(min_delta)
        self.best = -np.inf if self._maximize else np.inf

    def monitor_op(self, current, best):
        """True when `current` (already shifted by min_delta) beats `best`."""
        return current > best if self._maximize else current < best

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self._stopped = False
        if self.baseline is not None:
            self.best = self.baseline
        else:
            self.best = -np.inf if self._maximize else np.inf

    def get_monitor_value(self, logs):
        """The monitored value from the epoch logs, or None (with a warning)."""
        value = _lookup(logs, self.monitor)
        if value is None:
            warnings.warn(
                "EarlyStopping monitors %r, but the epoch logs have no such entry. "
                "Monitor one of the available keys: %s. Received: monitor=%r" % (
                    self.monitor, ", ".join(logs or {}), self.monitor),
                RuntimeWarning)
        return value

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs or {})
        if current is None:
            return
        if self.monitor_op(current - self.min_delta, self.best):
            self.best = current
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self._stopped = True
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose > 0:
                    print("Restoring model weights from the end of the best epoch")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self._stopped and self.verbose > 0:
            print("Epoch %05d: early stopping" % (self.stopped_epoch + 1))


def _schedule_takes_lr(schedule):
    """True when `schedule` accepts two positional arguments (epoch, lr)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return None
    positional = 0
    for param in signature.parameters.values():
        if param.kind == param.VAR_POSITIONAL:
            return True
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from a schedule.

    Args:
        schedule: A function `schedule(epoch)` or `schedule(epoch, lr)` returning
            the learning rate (a float) for epoch `epoch` (counted from 0); `lr` is
            the current learning rate.
        verbose: 1 prints the new learning rate each epoch.

    Example:
        >>> def step_decay(epoch, lr):
        ...     return lr * 0.5 if epoch and epoch % 10 == 0 else lr
        >>> model.fit(x, y, callbacks=[LearningRateScheduler(step_decay)])  # doctest: +SKIP
    """

    def __init__(self, schedule, verbose=0):
        super(LearningRateScheduler, self).__init__()
        if not callable(schedule):
            raise ValueError(
                "LearningRateScheduler expected `schedule` to be a function of "
                "(epoch) or (epoch, lr) returning a float. Received: schedule=%r"
                % (schedule,))
        self.schedule = schedule
        self.verbose = verbose

    def _call_schedule(self, epoch, lr):
        takes_lr = _schedule_takes_lr(self.schedule)
        if takes_lr is None:  # signature unknown: try the two-argument form first
            try:
                return self.schedule(epoch, lr)
            except TypeError:
                return self.schedule(epoch)
        if takes_lr:
            return self.schedule(epoch, lr)
        return self.schedule(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        lr = _get_lr(self.model, "LearningRateScheduler")
        new_lr = self._call_schedule(epoch, lr)
        if (isinstance(new_lr, (bool, np.bool_)) or
                not isinstance(new_lr, numbers.Real)):
            raise ValueError(
                "The schedule function of LearningRateScheduler must return a float "
                "learning rate. Return a number such as 0.01. Received: %r for "
                "epoch=%d" % (new_lr, epoch))
        self.model.optimizer.lr = float(new_lr)
        if self.verbose > 0:
            print("\nEpoch %05d: LearningRateScheduler setting learning rate to %s."
                  % (epoch + 1, new_lr))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = _get_lr(self.model, "LearningRateScheduler")


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when a metric stops improving.

    Args:
        monitor: Log key to watch.
        factor: Multiplier applied to the learning rate (must be < 1).
        patience: Number of epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: `'min'`, `'max'`, or `'auto'` (max for names containing `acc`).
        min_delta: Smallest change that counts as an improvement.
        cooldown: Number of epochs to wait after a reduction before counting again.
        min_lr: Lower bound on the learning rate.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor='val_loss', factor=0.2,
        ...                               patience=5, min_lr=0.001)
        >>> model.fit(x, y, validation_split=0.2, callbacks=[reduce_lr])  # doctest: +SKIP
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0,
                 mode="auto", min_delta=1e-4, cooldown=0, min_lr=0, **kwargs):
        super(ReduceLROnPlateau, self).__init__()
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau received factor=%r, but the factor must be below "
                "1.0 to reduce the learning rate. Use for example factor=0.1. "
                "Received: factor=%r" % (factor, factor))
        if "epsilon" in kwargs:
            min_delta = kwargs.pop("epsilon")
            warnings.warn("ReduceLROnPlateau: `epsilon` is deprecated; use `min_delta`.",
                          DeprecationWarning, stacklevel=2)
        if kwargs:
            raise TypeError(
                "ReduceLROnPlateau received unknown arguments: %s. Received: %r"
                % (", ".join(sorted(kwargs)), kwargs))
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0
        self.mode = _checked_mode(mode, "ReduceLROnPlateau")
        self._reset()

    def _reset(self):
        self._maximize = self.mode == "max" or (
            self.mode == "auto" and "acc" in self.monitor)
        self.best = -np.inf if self._maximize else np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def monitor_op(self, current, best):
        """True when `current` beats `best` by more than `min_delta`."""
        if self._maximize:
            return current > best + self.min_delta
        return current < best - self.min_delta

    def in_cooldown(self):
        """True while epochs after a reduction are being skipped."""
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["lr"] = _get_lr(self.model, "ReduceLROnPlateau")
        current = _lookup(logs, self.monitor)
        if current is None:
            warnings.warn(
                "ReduceLROnPlateau monitors %r, but the epoch logs have no such entry. "
                "Monitor one of the available keys: %s. Received: monitor=%r" % (
                    self.monitor, ", ".join(logs), self.monitor), RuntimeWarning)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = _get_lr(self.model, "ReduceLROnPlateau")
                if old_lr > self.min_lr:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    self.model.optimizer.lr = new_lr
                    if self.verbose > 0:
                        print("\nEpoch %05d: ReduceLROnPlateau reducing learning "
                              "rate to %s." % (epoch + 1, new_lr))
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Writes one CSV row per epoch: `epoch` then the log keys in sorted order.

    Args:
        filename: Path of the CSV file.
        separator: Field separator.
        append: Append to an existing file instead of replacing it: no second header,
            and the rows fill the columns of its header (a metric under whichever
            spelling the file used, `acc` or `accuracy`, `mae` or `mean_absolute_error`).

    Example:
        >>> model.fit(x, y, callbacks=[CSVLogger('training.log')])  # doctest: +SKIP
        >>> print(open('training.log').read())  # doctest: +SKIP
        epoch,acc,loss
        0,0.5187,0.6913
    """

    def __init__(self, filename, separator=",", append=False):
        super(CSVLogger, self).__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        mode = "w"
        self.append_header = True
        self.keys = None
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    header = f.readline()
                self.append_header = not bool(header)
                self.keys = self._columns_of(header)
            mode = "a"
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None

    def _columns_of(self, header):
        """The metric columns of an existing file's header (after `epoch`), so that
        appended rows fill the same columns, under whichever spelling of a metric the
        file used (`acc` or `accuracy`, `mae` or `mean_absolute_error`); None when
        the file has no header."""
        fields = next(csv.reader([header.rstrip("\r\n")], delimiter=self.sep), [])
        if not fields or fields[0] != "epoch":
            return None
        return fields[1:]

    @staticmethod
    def _cell(value):
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray) and value.ndim == 0:
            return value.item()
        if isinstance(value, Iterable):
            return '"[%s]"' % ", ".join(map(str, value))
        return value

    def on_epoch_end(self, epoch, logs=None):
        logs = metric_names.MetricDict(logs or {})
        if self.keys is None:
            self.keys = sorted(logs.keys())
        elif self.writer is None:
            self._warn_unwritten(logs)
        if self.writer is None:
            sep = self.sep

            class _Dialect(csv.excel):
                delimiter = sep
                lineterminator = "\n"

            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=_Dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        for key in self.keys:
            # 'NA' keeps the row readable when an epoch ends early without a value.
            row[key] = self._cell(logs[key]) if key in logs else "NA"
        self.writer.writerow(row)
        self.csv_file.flush()

    def _warn_unwritten(self, logs):
        extra = [k for k in logs if metric_names.find_key(dict.fromkeys(self.keys), k) is None]
        if extra:
            warnings.warn(
                "CSVLogger appends to %r, whose header has the columns %s; the log "
                "entries %s have no column there and are not written. Log to a new file "
                "to keep them. Received: filename=%r" % (
                    self.filename, self.keys, extra, self.filename), RuntimeWarning)

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
            self.csv_file = None
        self.writer = None


class LambdaCallback(Callback):
    """A callback built from plain functions.

    Args:
        on_epoch_begin: `f(epoch, logs)`.
        on_epoch_end: `f(epoch, logs)`.
        on_batch_begin: `f(batch, logs)`.
        on_batch_end: `f(batch, logs)`.
        on_train_begin: `f(logs)`.
        on_train_end: `f(logs)`.
        **kwargs: Other hooks by name (e.g. `on_test_end=f`), set as attributes.

    Example:
        >>> print_batch = LambdaCallback(on_batch_begin=lambda batch, logs: print(batch))
        >>> model.fit(x, y, callbacks=[print_batch])  # doctest: +SKIP
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super(LambdaCallback, self).__init__()
        self.__dict__.update(kwargs)
        self.on_epoch_begin = on_epoch_begin or (lambda epoch, logs: None)
        self.on_epoch_end = on_epoch_end or (lambda epoch, logs: None)
        self.on_batch_begin = on_batch_begin or (lambda batch, logs: None)
        self.on_batch_end = on_batch_end or (lambda batch, logs: None)
        self.on_train_begin = on_train_begin or (lambda logs: None)
        self.on_train_end = on_train_end or (lambda logs: None)


def _json_value(value):
    value = _host_value(value)
    return value.item() if isinstance(value, np.generic) else value


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server (Keras 2.2.4's callback).

    The body is ``{'epoch': epoch, **logs}``: as a form field `field` holding its JSON
    text, or with `send_as_json=True` as a JSON body. An unreachable server gives a
    warning, not an error.

    Args:
        root: server address, e.g. 'http://localhost:9000'.
        path: path the data is posted to.
        field: form field name of the JSON text.
        headers: dict of extra HTTP headers.
        send_as_json: post JSON (``application/json``) instead of a form.

    Example:
        >>> monitor = RemoteMonitor(root='http://localhost:9000')
        >>> model.fit(x, y, callbacks=[monitor])  # doctest: +SKIP
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super(RemoteMonitor, self).__init__()
        self.root, self.path, self.field = root, path, field
        self.headers = dict(headers or {})
        self.send_as_json = send_as_json

    def _request(self, send):
        if self.send_as_json:
            body, kind = json.dumps(send).encode("utf8"), "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode("utf8")
            kind = "application/x-www-form-urlencoded"
        headers = dict({"Content-Type": kind}, **self.headers)
        return urllib.request.Request(self.root + self.path, data=body, headers=headers,
                                      method="POST")

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        send.update({k: _json_value(v) for k, v in (logs or {}).items()})
        try:
            with urllib.request.urlopen(self._request(send), timeout=10):
                pass
        except (urllib.error.URLError, OSError) as error:
            warnings.warn("RemoteMonitor could not reach the server at %s (%s); the logs of "
                          "epoch %d were not sent." % (self.root + self.path, error, epoch),
                          RuntimeWarning, stacklevel=2)


def _checked_frequency(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError("TensorBoard's %s must be a non-negative integer (0: never). "
                         "Received: %s=%r" % (name, name, value))
    return int(value)


def _checked_update_freq(update_freq):
    if update_freq == "batch":
        return 1
    if update_freq == "epoch" or (isinstance(update_freq, numbers.Integral)
                                  and not isinstance(update_freq, bool) and update_freq > 0):
        return update_freq
    raise ValueError("TensorBoard's update_freq must be 'epoch', 'batch' or a positive number "
                     "of samples. Received: update_freq=%r" % (update_freq,))


class TensorBoard(Callback):
    """Writes event files for TensorBoard (``tensorboard --logdir ./logs``), with Keras
    2.2.4's arguments and tags, without TensorFlow (through the tensorboardX package).

    Written: the epoch logs as scalars ('loss', 'val_loss', ...) at step `epoch`, or with
    `update_freq` at the number of samples seen (then also every batch's logs); every
    `histogram_freq` epochs the weight histograms ('dense_1/kernel_0'), with
    `validation_data` the histograms of each layer's output ('dense_1_out') and with
    `write_grads` of the loss gradients ('dense_1/kernel_0_grad'); with `write_images`
    the weights as images; with `write_graph` the layers as a graph; every
    `embeddings_freq` epochs the outputs of the embedding layers on `embeddings_data`
    for the projector.

    Args:
        log_dir: folder of the event files.
        histogram_freq: epochs between histograms (0: none).
        batch_size: batch size of the forward passes for histograms and embeddings.
        write_graph: write the layer graph.
        write_grads: also write gradient histograms (needs `histogram_freq` and
            validation data).
        write_images: write the weights as images at histogram epochs.
        embeddings_freq: epochs between embedding snapshots (0: none).
        embeddings_layer_names: layers whose outputs are embedded (default: every
            Embedding layer).
        embeddings_metadata: path of a TSV file of labels (relative to `log_dir`), or a
            dict layer name -> path.
        embeddings_data: the inputs whose embeddings are shown.
        update_freq: 'epoch', 'batch', or a number of samples between scalar writes.

    Example:
        >>> tensorboard = TensorBoard(log_dir='./logs', histogram_freq=1)
        >>> model.fit(x, y, validation_split=0.1, callbacks=[tensorboard])  # doctest: +SKIP
    """

    def __init__(self, log_dir="./logs", histogram_freq=0, batch_size=32, write_graph=True,
                 write_grads=False, write_images=False, embeddings_freq=0,
                 embeddings_layer_names=None, embeddings_metadata=None, embeddings_data=None,
                 update_freq="epoch"):
        super(TensorBoard, self).__init__()
        self.histogram_freq = _checked_frequency("histogram_freq", histogram_freq)
        self.embeddings_freq = _checked_frequency("embeddings_freq", embeddings_freq)
        self.update_freq = _checked_update_freq(update_freq)
        if self.embeddings_freq and embeddings_data is None:
            raise ValueError("TensorBoard: embeddings_freq=%d needs embeddings_data, the "
                             "inputs whose embeddings are shown." % self.embeddings_freq)
        if int(batch_size) < 1:
            raise ValueError("TensorBoard's batch_size must be positive. Received: "
                             "batch_size=%r" % (batch_size,))
        self.log_dir = log_dir
        self.batch_size = int(batch_size)
        self.write_graph, self.write_grads = write_graph, write_grads
        self.write_images = write_images
        self.embeddings_layer_names = embeddings_layer_names
        self.embeddings_metadata = embeddings_metadata or {}
        self.embeddings_data = embeddings_data
        self.samples_seen = 0
        self.samples_seen_at_last_write = 0
        self.log = EventLog(log_dir)

    def set_model(self, model):
        super(TensorBoard, self).set_model(model)
        if self.embeddings_freq:
            self._embedding_layers = self._resolve_embedding_layers(model)
        if self.write_graph:
            self.log.graph(model)

    def _resolve_embedding_layers(self, model):
        names = self.embeddings_layer_names
        if not names:
            names = [layer.name for layer in model.layers if type(layer).__name__ == "Embedding"]
        known = [layer.name for layer in model.layers]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise ValueError("TensorBoard: embeddings_layer_names must name layers of the "
                             "model %s. Received: %r" % (known, self.embeddings_layer_names))
        return list(names)

    def _metadata_path(self, path):
        """Keras reads a relative metadata path from log_dir; the working folder is tried
        when the file is not there."""
        in_log_dir = os.path.join(self.log_dir, path)
        return in_log_dir if not os.path.isabs(path) and os.path.exists(in_log_dir) else path

    def _embedding_metadata(self):
        metadata = self.embeddings_metadata
        if isinstance(metadata, str):
            metadata = {name: metadata for name in self._embedding_layers}
        return {name: self._metadata_path(path) for name, path in metadata.items()}

    def on_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch":
            return
        logs = logs or {}
        self.samples_seen += int(logs.get("size", 0))
        if self.samples_seen - self.samples_seen_at_last_write >= self.update_freq:
            self.log.scalars(logs, self.samples_seen)
            self.samples_seen_at_last_write = self.samples_seen

    def _validation_split(self):
        n_inputs = len(self.model.inputs)
        data = self.validation_data
        return list(data[:n_inputs]), data[n_inputs], data[n_inputs + 1]

    def _write_histograms(self, epoch):
        self.log.weight_histograms(self.model, epoch)
        if self.write_images:
            self.log.weight_images(self.model, epoch)
        if not self.validation_data:
            return
        xs, y, sw = self._validation_split()
        self.log.output_histograms(self.model, xs, epoch, self.batch_size)
        if self.write_grads:
            self.log.gradient_histograms(self.model, xs, y, sw, epoch)

    def on_epoch_end(self, epoch, logs=None):
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            data = self.embeddings_data
            data = list(data) if isinstance(data, (list, tuple)) else [data]
            self.log.embeddings(self.model, self._embedding_layers, data,
                                self._embedding_metadata(), epoch, self.batch_size)
        step = epoch if self.update_freq == "epoch" else self.samples_seen
        self.log.scalars(logs or {}, step)

    def on_train_end(self, logs=None):
        self.log.close()
