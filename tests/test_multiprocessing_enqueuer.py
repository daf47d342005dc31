"""OrderedEnqueuer(use_multiprocessing=True): a Sequence read by worker processes, in
order, one pool per epoch, errors carried back, and nothing left running afterwards."""
import multiprocessing
import os
import random
import threading
import warnings

import numpy as np
import pytest

from gpuseq.layers import Dense, Flatten
from gpuseq.models import Sequential
from gpuseq.preprocessing.image import ImageDataGenerator
from gpuseq.utils import process_batches, set_random_seed
from gpuseq.utils.data_utils import OrderedEnqueuer, Sequence
from gpuseq.utils.process_batches import ProcessBatchReader, WorkerProcessError
from test_loop_inputs import Slices


class WhoReads(Sequence):
    """Batch i is [i, pid of the reader, epochs ended so far]; may fail at one index."""

    def __init__(self, n=5, fail_at=None, error=ValueError):
        self.n, self.fail_at, self.error, self.epochs_ended = n, fail_at, error, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise self.error(f"bad batch {i}")
        return np.array([i, os.getpid(), self.epochs_ended])

    def on_epoch_end(self):
        self.epochs_ended += 1


class NotPicklableError(Exception):
    def __init__(self, a, b):             # pickle rebuilds it with one argument: fails
        super().__init__(f"{a} and {b}")


def _read(sequence, batches, workers=2, shuffle=False, use_multiprocessing=True,
          max_queue_size=3):
    enqueuer = OrderedEnqueuer(sequence, use_multiprocessing=use_multiprocessing,
                               shuffle=shuffle)
    enqueuer.start(workers=workers, max_queue_size=max_queue_size)
    try:
        gen = enqueuer.get()
        return np.array([next(gen) for _ in range(batches)])
    finally:
        enqueuer.stop()


def test_batches_come_in_order_from_worker_processes():
    seq = WhoReads(n=5)
    out = _read(seq, 12)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 3, 4] * 2 + [0, 1])
    assert os.getpid() not in set(out[:, 1])
    assert len(set(out[:5, 1]) & set(out[5:10, 1])) == 0     # a new pool each epoch
    assert multiprocessing.active_children() == []


def test_on_epoch_end_runs_in_the_parent_and_the_next_workers_see_it():
    seq = WhoReads(n=4)
    out = _read(seq, 12)
    np.testing.assert_array_equal(out[:, 2], [0] * 4 + [1] * 4 + [2] * 4)
    assert seq.epochs_ended == 3                   # counted in this process


def test_shuffled_order_is_the_thread_version_s_under_the_same_seed():
    orders = []
    for use_multiprocessing in (False, True):
        random.seed(7)
        orders.append(_read(WhoReads(n=6), 18, shuffle=True,
                            use_multiprocessing=use_multiprocessing)[:, 0].tolist())
    assert orders[0] == orders[1]
    passes = [orders[1][k:k + 6] for k in (0, 6, 12)]
    assert all(sorted(p) == list(range(6)) for p in passes)
    assert len({tuple(p) for p in passes}) > 1


def test_a_worker_error_is_raised_in_the_parent_with_the_worker_traceback():
    enqueuer = OrderedEnqueuer(WhoReads(n=5, fail_at=3), use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=2)
    gen = enqueuer.get()
    assert [int(next(gen)[0]) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="bad batch 3") as info:
        next(gen)
    cause = info.value.__cause__
    assert isinstance(cause, WorkerProcessError)
    text = str(cause)
    assert "WhoReads.__getitem__(3) raised ValueError: bad batch 3 in worker process" in text
    assert "Traceback (most recent call last)" in text and "in __getitem__" in text
    assert int(text.split("worker process ")[1].split()[0]) != os.getpid()
    assert not enqueuer.is_running()
    assert multiprocessing.active_children() == []


def test_an_exception_that_cannot_be_pickled_arrives_as_worker_process_error():
    with pytest.raises(WorkerProcessError,
                       match=r"(?s)raised NotPicklableError: bad batch 1 and more.*Traceback"):
        _read(WhoReads(n=3, fail_at=1, error=lambda m: NotPicklableError(m, "more")), 3)
    assert multiprocessing.active_children() == []


class Unsendable(Sequence):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return np.zeros(2), (lambda: i)


def test_a_batch_that_cannot_be_sent_back_gives_a_clear_error():
    with pytest.raises(ValueError, match=r"Batch 0 of Unsendable could not be sent back from its worker process \(.*\)\. .*"
                                         r"use_multiprocessing=False"):
        _read(Unsendable(), 1)
    assert multiprocessing.active_children() == []


def test_stop_in_the_middle_of_an_epoch_ends_every_worker():
    enqueuer = OrderedEnqueuer(WhoReads(n=50), use_multiprocessing=True)
    enqueuer.start(workers=3, max_queue_size=10)
    gen = enqueuer.get()
    next(gen)
    assert len(multiprocessing.active_children()) == 3
    enqueuer.stop()
    assert not enqueuer.is_running()
    assert multiprocessing.active_children() == []
    assert list(gen) == []                       # a stopped enqueuer hands out nothing more
    assert process_batches._SEQUENCES == {}      # the registry forgets the Sequence


class Locked(WhoReads):
    def __init__(self):
        super().__init__(n=2)
        self.lock = threading.Lock()


def test_spawned_workers_refuse_a_sequence_that_cannot_be_pickled(monkeypatch):
    monkeypatch.setattr(process_batches, "start_method", lambda: "spawn")
    enqueuer = OrderedEnqueuer(Locked(), use_multiprocessing=True)
    with pytest.raises(ValueError, match=r"'spawn' .* Locked cannot be pickled: TypeError.*"
                                         r"use_multiprocessing=False"):
        enqueuer.start(workers=2)
    assert not enqueuer.is_running()
    assert multiprocessing.active_children() == []


def test_spawned_workers_read_a_picklable_sequence(monkeypatch):
    monkeypatch.setattr(process_batches, "start_method", lambda: "spawn")
    reader = ProcessBatchReader(WhoReads(n=2), workers=1, max_queue_size=2)
    assert reader.context.get_start_method() == "spawn"
    try:
        batches = reader.batches()
        out = np.array([next(batches) for _ in range(3)])
    finally:
        reader.close()
    np.testing.assert_array_equal(out[:, [0, 2]], [[0, 0], [1, 0], [0, 1]])
    assert os.getpid() not in set(out[:, 1])


def _train(x, y, **kwargs):
    set_random_seed(3)
    model = Sequential([Dense(32, activation="relu", input_shape=(64,)),
                        Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit_generator(Slices(x, y, 64), epochs=2, shuffle=True, verbose=0,
                                  **kwargs)
    return model.get_weights(), history.history["loss"]


def test_fit_generator_with_processes_trains_digits_bitwise_like_workers_0(backend, digits):
    x, y = digits[0][:640], digits[1][:640]
    reference, loss = _train(x, y, workers=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)     # no "threads instead" warning
        weights, loss_mp = _train(x, y, workers=2, use_multiprocessing=True)
    assert multiprocessing.active_children() == []
    assert loss_mp == loss and loss[1] < loss[0]
    for a, b in zip(weights, reference):
        np.testing.assert_array_equal(a, b)


def test_fit_generator_error_in_a_worker_reaches_the_caller():
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")

    class Broken(Sequence):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            if i == 2:
                raise KeyError("sample 2 is missing")
            return np.ones((2, 3), "float32"), np.ones((2, 1), "float32")

    with pytest.raises(KeyError, match="sample 2 is missing"):
        model.fit_generator(Broken(), epochs=1, workers=2, use_multiprocessing=True,
                            verbose=0)
    assert multiprocessing.active_children() == []


def test_image_data_generator_flow_through_worker_processes():
    x = np.random.RandomState(0).rand(40, 4, 4, 1).astype("float32")
    y = np.arange(40)
    flow = ImageDataGenerator(rescale=2.0).flow(x, y, batch_size=16, shuffle=False)
    enqueuer = OrderedEnqueuer(flow, use_multiprocessing=True)
    enqueuer.start(workers=2, max_queue_size=4)
    try:
        gen = enqueuer.get()
        batches = [next(gen) for _ in range(6)]
    finally:
        enqueuer.stop()
    for k, (bx, by) in enumerate(batches):
        s = slice((k % 3) * 16, (k % 3 + 1) * 16)
        np.testing.assert_array_equal(bx, x[s] * 2.0)
        np.testing.assert_array_equal(by, y[s])
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit_generator(flow, epochs=2, workers=2, use_multiprocessing=True,
                                  verbose=0)
    assert len(history.history["loss"]) == 2
    assert multiprocessing.active_children() == []
