"""Data adapters: arrays, Python generators and ``Sequence`` objects as one stream of batches.

Every adapter turns one kind of user data into an endless stream of batches
``(x, y, sample_weight)`` on the active device, pass after pass over the data, and says
how many batches one pass holds (``steps_per_pass``; None when nobody knows, as for a
plain generator). ``x`` is one array, or a list of arrays for a model with several
inputs; ``y`` and ``sample_weight`` may be None (prediction, unweighted data).
:class:`gpuseq.engine.epoch_iterator.EpochIterator` cuts the stream into epochs.

- :class:`ArrayAdapter`: arrays already checked by the model; they move to the device
  once when they fit the memory cap (see :class:`~gpuseq.engine.data.DeviceData`) and
  every batch is sliced there; ``shuffle`` is True, False or ``'batch'``.
- :class:`GeneratorAdapter`: a Python generator or iterator yielding ``(x, y)`` or
  ``(x, y, sample_weight)``; ``workers > 0`` reads it in background threads through a
  :class:`~gpuseq.utils.data_utils.GeneratorEnqueuer`.
- :class:`SequenceAdapter`: a :class:`~gpuseq.utils.data_utils.Sequence`, in order or
  shuffled each pass; ``workers > 0`` reads it through an
  :class:`~gpuseq.utils.data_utils.OrderedEnqueuer`, in threads, or in worker processes
  with ``use_multiprocessing=True`` (``__getitem__`` must then use NumPy, not the GPU).

Generator and Sequence batches go through ``prepare(x, y, sample_weight)``, the model's
check of user data, which returns host arrays ``(inputs, targets, weights)`` or raises a
clear error; the adapter then moves them to the device.

Example:
    >>> adapter = ArrayAdapter([x], y, None, batch_size=32, shuffle=True)
    >>> adapter.steps_per_pass                    # ceil(len(x) / 32)
    >>> x0, y0, sw0 = next(adapter.stream())      # the first batch, on the device
"""
import random

import numpy

from .. import random as grandom
from ..backend import dispatch
from ..utils.data_utils import GeneratorEnqueuer, OrderedEnqueuer
from . import data as data_mod


def unpack_data(data):
    """``(x, y, sample_weight)`` from a batch given as ``x``, ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)`` (missing parts are None), as a step receives it."""
    if isinstance(data, tuple):
        if len(data) == 3:
            return data
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 1:
            return data[0], None, None
        raise ValueError("A batch must be x, (x,), (x, y) or (x, y, sample_weight). "
                         f"Received: a tuple of length {len(data)}")
    return data, None, None


def input_list(x):
    """The inputs of a batch as a list (one array per model input)."""
    return list(x) if isinstance(x, (list, tuple)) else [x]


def batch_size_of(data):
    """The number of samples in a batch ``(x, y, sample_weight)`` (read from the
    shape: no device synchronisation)."""
    return int(input_list(data[0])[0].shape[0])


def on_device(xs, y, sw):
    """A step's ``(x, y, sample_weight)`` from host arrays: every array moved to the
    active device, x one array for a single input and a list for several."""
    x = [dispatch.to_device(a) for a in xs]
    return (x[0] if len(x) == 1 else x, None if y is None else dispatch.to_device(y),
            None if sw is None else dispatch.to_device(sw))


def is_sequence(obj):
    """True for a ``Sequence`` (anything with ``__getitem__`` and ``__len__`` that is not
    itself a batch: a list, tuple or array)."""
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and \
        not isinstance(obj, (list, tuple, numpy.ndarray))


class ArrayAdapter:
    """Batches sliced from arrays, on the device when the arrays fit the memory cap.

    Args:
        xs: list of input arrays (checked by the model), one per input.
        y: target array or None. sample_weight: weight array or None.
        batch_size: samples per batch (the last batch of a pass may be smaller).
        shuffle: True (a new order every pass), False, or ``'batch'`` (batch-sized
            chunks in a new order every pass, as Keras 2 for HDF5 data).
        sharding: None, or an object whose ``local_batches(index_arrays, shuffled)``
            returns this process's share of one pass's batches (data-parallel training:
            :class:`gpuseq.distribute.strategy.DataParallel`); the number of batches
            per pass stays the global one.
    """

    def __init__(self, xs, y, sample_weight, batch_size, shuffle=False, sharding=None):
        self.num_samples = int(xs[0].shape[0])
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.steps_per_pass = -(-self.num_samples // self.batch_size)
        self._x = [data_mod.DeviceData(a) for a in xs]
        self._y = data_mod.DeviceData(y)
        self._sw = data_mod.DeviceData(sample_weight)
        self.sharding = sharding

    def _pass_batches(self):
        """The index arrays of one pass (this process's share of them when sharded)."""
        batches = data_mod.batch_indices(self.num_samples, self.batch_size, self.shuffle,
                                         grandom.rng())
        if self.sharding is None:
            return batches
        return self.sharding.local_batches(batches, bool(self.shuffle))

    def stream(self):
        """Endless batches: one pass after another, each in a new order when shuffling."""
        while True:
            for idx in self._pass_batches():
                x = [d.take(idx) for d in self._x]
                yield x[0] if len(x) == 1 else x, self._y.take(idx), self._sw.take(idx)


class GeneratorAdapter:
    """Batches drawn from a Python generator (or any iterator), checked by ``prepare``.

    Args:
        generator: yields ``(x, y)`` or ``(x, y, sample_weight)``; for prediction also
            ``x`` alone.
        prepare: ``prepare(x, y, sample_weight) -> (inputs, targets, weights)`` host
            arrays (the model's check of user data).
        workers: 0 draws in the calling thread; ``n > 0`` draws in ``n`` background
            threads (the order is kept) with up to ``max_queue_size`` batches ahead.
        use_multiprocessing: passed to the enqueuer: a generator is still read in
            threads (with a warning); a Sequence is read in worker processes.
        max_queue_size: batches read ahead by the workers.
        split: ``split(item) -> (x, y, sample_weight)`` for one item of the generator
            (default :func:`split_batch`; :func:`prediction_batch` for prediction).

    A pass has an unknown number of batches; the stream ends when the generator does.
    """

    steps_per_pass = None

    def __init__(self, generator, prepare, workers=1, use_multiprocessing=False,
                 max_queue_size=10, split=None):
        if not hasattr(generator, "__next__") and not is_sequence(generator):
            raise ValueError("Expected a generator (an object with __next__) or a Sequence. "
                             f"Received: {type(generator).__name__}")
        self.generator = generator
        self.prepare = prepare
        self.workers = _check_workers(workers)
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size
        self.split = split or split_batch

    def _enqueuer(self):
        return GeneratorEnqueuer(self.generator, use_multiprocessing=self.use_multiprocessing)

    def _raw_batches(self):
        return self.generator

    def stream(self):
        """The generator's batches, checked and moved to the device, until it ends."""
        enqueuer = None
        if self.workers > 0:
            enqueuer = self._enqueuer()
            enqueuer.start(workers=self.workers, max_queue_size=self.max_queue_size)
            source = enqueuer.get()
        else:
            source = self._raw_batches()
        try:
            for batch in source:
                yield on_device(*self.prepare(*self.split(batch)))
        finally:
            if enqueuer is not None:
                enqueuer.stop()


class SequenceAdapter(GeneratorAdapter):
    """Batches read from a ``Sequence``: each batch exactly once per pass.

    Args:
        sequence: a ``Sequence`` (``__len__`` batches, ``__getitem__(i)`` returns batch i).
        prepare, workers, use_multiprocessing, max_queue_size, split: as for
            :class:`GeneratorAdapter`.
        shuffle: visit the batches in a new random order every pass.

    ``sequence.on_epoch_end()`` runs after the last batch of every pass was read. With
    ``workers=0`` the order of a shuffled pass is drawn from Python's ``random`` module,
    as the :class:`~gpuseq.utils.data_utils.OrderedEnqueuer` draws it, so that the same
    seed gives the same batches with and without workers.
    """

    def __init__(self, sequence, prepare, workers=1, use_multiprocessing=False,
                 max_queue_size=10, shuffle=False, split=None):
        super().__init__(sequence, prepare, workers, use_multiprocessing, max_queue_size,
                         split)
        self.shuffle = shuffle
        self.steps_per_pass = len(sequence)
        if self.steps_per_pass == 0:
            raise ValueError(
                f"The Sequence has no batches: len(sequence) is 0 ({type(sequence).__name__}). "
                "A Sequence must hold at least one batch; compute __len__ as "
                "ceil(len(x) / batch_size), not len(x) // batch_size (which is 0 when there "
                "are fewer samples than batch_size), and check that the data is not empty.")

    def _enqueuer(self):
        return OrderedEnqueuer(self.generator, use_multiprocessing=self.use_multiprocessing,
                               shuffle=self.shuffle)

    def _raw_batches(self):
        seq = self.generator
        order = list(range(len(seq)))
        while True:
            if self.shuffle:
                random.shuffle(order)
            for k, index in enumerate(order):
                batch = seq[index]
                if k == len(order) - 1:
                    seq.on_epoch_end()      # the pass is read: the Sequence may reshuffle
                yield batch
            if not order:
                return


def split_batch(batch):
    """``(x, y, sample_weight)`` from a generator's item, a tuple or (as Keras 2 reads it)
    a list ``[x, y]`` / ``[x, y, sample_weight]``, with a clear error."""
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)
    raise ValueError("A generator must yield tuples (x, y) or (x, y, sample_weight). "
                     f"Received: {type(batch).__name__}"
                     + (f" of length {len(batch)}" if isinstance(batch, (tuple, list))
                        else "") + " (a list [x, y] or [x, y, sample_weight] is read as "
                     "the tuple).")


def prediction_batch(batch):
    """The inputs of a prediction batch: ``x``, or the x of ``(x, y)`` /
    ``(x, y, sample_weight)`` (whose targets are ignored), as ``(x, None, None)``."""
    return (batch[0] if isinstance(batch, tuple) else batch), None, None


def _check_workers(workers):
    if isinstance(workers, bool) or not isinstance(workers, (int, numpy.integer)) or \
            workers < 0:
        raise ValueError("workers must be a non-negative integer (0 reads batches in the "
                         f"calling thread). Received: workers={workers!r}")
    return int(workers)


def generator_adapter(source, prepare, workers=1, use_multiprocessing=False,
                      max_queue_size=10, shuffle=False, predict=False):
    """The adapter for a generator or a Sequence (shuffle applies to a Sequence only).

    With ``predict=True`` an item may also be ``x`` alone, and ``prepare`` receives
    ``(x, None, None)``.
    """
    split = prediction_batch if predict else split_batch
    if is_sequence(source):
        return SequenceAdapter(source, prepare, workers, use_multiprocessing,
                               max_queue_size, shuffle, split=split)
    return GeneratorAdapter(source, prepare, workers, use_multiprocessing, max_queue_size,
                            split=split)
