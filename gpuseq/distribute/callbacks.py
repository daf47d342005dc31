"""Callbacks for data-parallel training, in the spirit of Horovod's Keras callbacks.

- :class:`BroadcastWeights`: rank 0's weights and optimizer state on every rank when
  training begins (``fit`` already does this; the callback serves loops that start
  otherwise, and Horovod habits).
- :class:`MetricAverage`: the epoch's logs averaged over the ranks (``fit`` averages its
  own logs already; this matters for values a callback added on one rank's data).
- :class:`LearningRateWarmup`: ramps the learning rate from ``lr / size`` up to ``lr``
  over the first epochs (the "gradual warmup" of large-batch training).
"""
import numpy

from .. import callbacks as cbks
from . import context
from .strategy import broadcast_model


class BroadcastWeights(cbks.Callback):
    """Copy rank ``root_rank``'s weights and optimizer state to every rank at
    ``on_train_begin``.

    Args:
        root_rank: the rank whose values win (default 0).

    Example:
        >>> model.fit(x, y, callbacks=[gpuseq.distribute.BroadcastWeights()])
    """

    def __init__(self, root_rank=0):
        super().__init__()
        self.root_rank = int(root_rank)

    def on_train_begin(self, logs=None):
        broadcast_model(context.communicator(), self.model, self.root_rank)


class MetricAverage(cbks.Callback):
    """Average every numeric entry of the epoch's logs over the ranks (in place, before
    the callbacks after it see them: put it first in the list)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or context.size() == 1:
            return
        names = sorted(k for k, v in logs.items() if isinstance(v, (int, float, numpy.number)))
        comm = context.communicator()
        vec = numpy.asarray([float(logs[k]) for k in names], dtype="float64")
        comm.allreduce_buffer(vec)
        for k, v in zip(names, vec / comm.size):
            logs[k] = float(v)


class LearningRateWarmup(cbks.Callback):
    """Raise the learning rate linearly from ``initial_lr / size()`` to ``initial_lr``
    over ``warmup_epochs`` epochs, batch by batch (Goyal et al., 2017), then leave it at
    ``initial_lr``. With one rank the rate stays ``initial_lr`` throughout.

    Args:
        initial_lr: the rate after the warmup (typically the single-process rate
            times ``size()``: gpuseq never scales it for you).
        warmup_epochs: the length of the ramp, in epochs (> 0).
        steps_per_epoch: batches per epoch; None reads it from fit's parameters.
        verbose: 1 prints the rate when the warmup ends.

    Example:
        >>> warm = LearningRateWarmup(initial_lr=0.1 * gpuseq.distribute.size())
    """

    def __init__(self, initial_lr, warmup_epochs=5, steps_per_epoch=None, verbose=0):
        super().__init__()
        if not isinstance(initial_lr, (int, float)) or isinstance(initial_lr, bool) or \
                initial_lr <= 0:
            raise ValueError(f"initial_lr must be a positive number. Received: "
                             f"initial_lr={initial_lr!r}")
        if not isinstance(warmup_epochs, (int, float)) or warmup_epochs <= 0:
            raise ValueError(f"warmup_epochs must be a positive number. Received: "
                             f"warmup_epochs={warmup_epochs!r}")
        self.initial_lr = float(initial_lr)
        self.warmup_epochs = warmup_epochs
        self.steps_per_epoch = steps_per_epoch
        self.verbose = verbose
        self._epoch = 0

    def _steps(self):
        if self.steps_per_epoch:
            return self.steps_per_epoch
        p = self.params or {}
        if p.get("steps"):
            return p["steps"]
        if p.get("samples") and p.get("batch_size"):
            return -(-p["samples"] // p["batch_size"])
        raise ValueError("LearningRateWarmup needs steps_per_epoch: fit() was called "
                         "without steps or samples to count the batches of an epoch.")

    def rate_at(self, epoch_progress):
        """The learning rate after ``epoch_progress`` epochs (a float)."""
        size = context.size()
        if epoch_progress >= self.warmup_epochs:
            return self.initial_lr
        return self.initial_lr / size * (epoch_progress * (size - 1) / self.warmup_epochs
                                         + 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_begin(self, batch, logs=None):
        if self._epoch >= self.warmup_epochs:
            return
        self.model.optimizer.lr = self.rate_at(self._epoch + batch / self._steps())

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == int(numpy.ceil(self.warmup_epochs)):
            self.model.optimizer.lr = self.initial_lr
            if self.verbose and context.is_chief():
                print(f"\nEpoch {epoch + 1}: finished the learning-rate warmup; lr = "
                      f"{self.initial_lr:g}.")
