"""The data adapters and the epoch iterator: arrays, generators and Sequences become the
same batches, with and without worker threads; epochs of known and unknown length."""
import threading
import warnings

import numpy as np
import pytest

from gpuseq.engine.data_adapters import (ArrayAdapter, GeneratorAdapter, SequenceAdapter,
                                         generator_adapter, unpack_data)
from gpuseq.engine.epoch_iterator import EpochIterator
from gpuseq.utils import Sequence, set_random_seed

X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10, dtype="float32").reshape(10, 1)


def _prepare(x, y, sw):
    """A model's check of a batch, reduced to the conversion to lists of host arrays."""
    return [np.asarray(x)], (None if y is None else np.asarray(y)), sw


def _rows(batches):
    """The first input column of each batch: which samples it holds."""
    out = []
    for x, _, _ in batches:
        x = x[0] if isinstance(x, list) else x
        out.append([int(v) // 2 for v in np.asarray(x)[:, 0]])
    return out


def _take(stream, n):
    return [next(stream) for _ in range(n)]


class Batches(Sequence):
    """Batch i holds samples 3i .. 3i+2 (the last one is short); counts on_epoch_end."""

    def __init__(self, n=10, size=3):
        self.n, self.size, self.epochs_ended = n, size, 0

    def __len__(self):
        return -(-self.n // self.size)

    def __getitem__(self, i):
        s = slice(i * self.size, min((i + 1) * self.size, self.n))
        return X[s], Y[s]

    def on_epoch_end(self):
        self.epochs_ended += 1


def _generator(passes=None):
    k = 0
    while passes is None or k < passes:
        for i in range(0, 10, 3):
            yield X[i:i + 3], Y[i:i + 3]
        k += 1


# ------------------------------------------------------------------- arrays
def test_array_batches_in_order_cover_every_sample_then_start_again():
    a = ArrayAdapter([X], Y, None, batch_size=4)
    assert a.steps_per_pass == 3
    batches = _take(a.stream(), 4)
    assert _rows(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]
    x, y, sw = batches[1]
    np.testing.assert_array_equal(x, X[4:8])
    np.testing.assert_array_equal(y, Y[4:8])
    assert sw is None


def test_array_shuffle_draws_a_new_order_every_pass():
    set_random_seed(5)
    rows = _rows(_take(ArrayAdapter([X], Y, None, 4, shuffle=True).stream(), 6))
    first, second = sum(rows[:3], []), sum(rows[3:], [])
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second and first != list(range(10))
    set_random_seed(5)
    assert _rows(_take(ArrayAdapter([X], Y, None, 4, shuffle=True).stream(), 6)) == rows


def test_array_batch_shuffle_keeps_chunks_and_the_tail():
    set_random_seed(2)
    rows = _rows(_take(ArrayAdapter([X], Y, None, 3, shuffle="batch").stream(), 4))
    assert sorted(tuple(r) for r in rows[:3]) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert rows[3] == [9]


def test_array_batches_of_several_inputs_and_weights():
    sw = np.linspace(0, 1, 10).astype("float32")
    x, y, w = next(ArrayAdapter([X, 2 * X], Y, sw, 4).stream())
    assert isinstance(x, list) and len(x) == 2
    np.testing.assert_array_equal(x[1], 2 * X[:4])
    np.testing.assert_array_equal(w, sw[:4])


# ------------------------------------------------ generators and Sequences
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_a_generator_gives_its_batches_in_order(workers, use_multiprocessing):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # threads instead of processes
        a = GeneratorAdapter(_generator(), _prepare, workers=workers,
                             use_multiprocessing=use_multiprocessing)
        stream = a.stream()
        rows = _rows(_take(stream, 6))
        stream.close()
    assert a.steps_per_pass is None
    assert rows == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [0, 1, 2], [3, 4, 5]]


def test_multiprocessing_with_workers_warns_that_threads_are_used():
    a = GeneratorAdapter(_generator(), _prepare, workers=1, use_multiprocessing=True)
    with pytest.warns(RuntimeWarning, match="use_multiprocessing=True"):
        stream = a.stream()
        next(stream)
    stream.close()


@pytest.mark.parametrize("workers", [0, 2])
def test_a_finite_generator_ends_the_stream(workers):
    rows = _rows(GeneratorAdapter(_generator(passes=1), _prepare, workers=workers).stream())
    assert rows == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("use_multiprocessing", [False, True])
def test_a_sequence_in_order_with_and_without_workers(workers, use_multiprocessing):
    seq = Batches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = SequenceAdapter(seq, _prepare, workers=workers,
                            use_multiprocessing=use_multiprocessing)
        it = EpochIterator(a)
        epochs = [_rows(d for _, d in it.epoch()) for _ in range(2)]
        it.close()
    assert a.steps_per_pass == 4
    assert epochs == [[[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]] * 2
    assert seq.epochs_ended >= 1


def test_a_shuffled_sequence_gives_the_same_order_with_and_without_workers():
    orders = []
    for workers in (0, 2):
        set_random_seed(11)
        it = EpochIterator(SequenceAdapter(Batches(), _prepare, workers=workers,
                                           shuffle=True))
        orders.append([_rows(d for _, d in it.epoch()) for _ in range(3)])
        it.close()
    assert orders[0] == orders[1]
    passes = [sorted(sum(p, [])) for p in orders[0]]
    assert passes == [list(range(10))] * 3
    assert len({str(p) for p in orders[0]}) > 1          # a new order each pass


def test_sequence_on_epoch_end_runs_after_every_pass_without_workers():
    seq = Batches()
    it = EpochIterator(SequenceAdapter(seq, _prepare, workers=0))
    for expected in (1, 2, 3):
        list(it.epoch())
        assert seq.epochs_ended == expected


def test_prediction_batches_may_be_inputs_alone():
    def inputs():
        while True:
            yield X[:4]
    a = generator_adapter(inputs(), _prepare, workers=0, predict=True)
    x, y, sw = next(a.stream())
    np.testing.assert_array_equal(x, X[:4])
    assert y is None and sw is None
    x, y, _ = next(generator_adapter(_generator(), _prepare, workers=0, predict=True).stream())
    assert y is None and x.shape == (3, 2)


@pytest.mark.parametrize("workers", [0, 1])
def test_a_bad_batch_is_reported_and_the_workers_stop(workers):
    def bad():
        yield X[:2], Y[:2]
        yield [X[:2]]
    a = GeneratorAdapter(bad(), _prepare, workers=workers)
    stream = a.stream()
    next(stream)
    with pytest.raises(ValueError, match=r"must yield tuples \(x, y\) or \(x, y, "
                                         r"sample_weight\). Received: list"):
        next(stream)
    alive = [t.name for t in threading.enumerate() if t.name.startswith("gpuseq-enqueuer")]
    assert alive == []


@pytest.mark.parametrize("source,workers,message", [
    ([1, 2], 0, "Expected a generator .* Received: list"),
    (_generator(), -1, r"workers must be a non-negative integer .* Received: workers=-1"),
    (_generator(), 1.5, r"Received: workers=1.5"),
])
def test_bad_sources_and_workers_are_refused(source, workers, message):
    with pytest.raises(ValueError, match=message):
        GeneratorAdapter(source, _prepare, workers=workers)


def test_unpack_data_accepts_the_keras_forms():
    assert unpack_data((1, 2, 3)) == (1, 2, 3)
    assert unpack_data((1, 2)) == (1, 2, None)
    assert unpack_data((1,)) == (1, None, None)
    assert unpack_data(X)[0] is X
    with pytest.raises(ValueError, match="a tuple of length 4"):
        unpack_data((1, 2, 3, 4))


# ------------------------------------------------------------------ epochs
def test_epochs_of_steps_continue_the_stream():
    it = EpochIterator(ArrayAdapter([X], Y, None, 4), steps=2)
    assert _rows(d for _, d in it.epoch()) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _rows(d for _, d in it.epoch()) == [[8, 9], [0, 1, 2, 3]]


def test_restarting_epochs_begin_at_the_first_sample_and_take_one_pass_at_most():
    it = EpochIterator(ArrayAdapter([X], Y, None, 4), steps=2, restart=True)
    assert _rows(d for _, d in it.epoch()) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _rows(d for _, d in it.epoch()) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    it = EpochIterator(ArrayAdapter([X], Y, None, 4), steps=7, restart=True)
    assert it.steps == 3 and len(list(it.epoch())) == 3


def test_keras1_samples_end_an_epoch_once_that_many_were_drawn():
    it = EpochIterator(GeneratorAdapter(_generator(), _prepare, workers=0), samples=7)
    assert [len(d[0]) for _, d in it.epoch()] == [3, 3, 3]
    assert [len(d[0]) for _, d in it.epoch()] == [1, 3, 3]


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unknown_number_of_steps_runs_until_the_data_ends(workers):
    it = EpochIterator(GeneratorAdapter(_generator(passes=2), _prepare, workers=workers))
    assert it.steps is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        steps = [s for s, _ in it.epoch()]
    assert steps == list(range(8)) and it.exhausted


def test_running_out_of_data_before_the_steps_warns():
    it = EpochIterator(GeneratorAdapter(_generator(passes=1), _prepare, workers=0), steps=6)
    with pytest.warns(UserWarning, match="ran out after 4 batch"):
        assert len(list(it.epoch())) == 4
    assert it.exhausted


def test_peek_hands_the_batch_out_again():
    it = EpochIterator(GeneratorAdapter(_generator(), _prepare, workers=0), steps=2)
    first = it.peek()
    assert it.peek() is first
    batches = [d for _, d in it.epoch()]
    assert batches[0] is first and _rows(batches) == [[0, 1, 2], [3, 4, 5]]


def test_peek_at_empty_data_says_so():
    it = EpochIterator(GeneratorAdapter(iter([]), _prepare, workers=0), steps=2)
    with pytest.raises(ValueError, match="yielded no batch at all"):
        it.peek()
