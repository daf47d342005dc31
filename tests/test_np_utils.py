"""to_categorical, normalize, and the Sequence / enqueuer batch sources."""
import warnings

import numpy as np
import pytest

import gpuseq.utils as utils
from gpuseq.utils import data_utils
from gpuseq.utils.data_utils import (GeneratorEnqueuer, OrderedEnqueuer, Sequence,
                                     iter_sequence_infinite)
from gpuseq.utils.np_utils import normalize, to_categorical


# --- to_categorical --------------------------------------------------------------------

def test_to_categorical_vector():
    out = to_categorical([0, 2, 1, 2])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])


def test_to_categorical_column_vector_and_num_classes():
    labels = np.array([[1], [0], [3]])
    out = to_categorical(labels, num_classes=5)
    assert out.shape == (3, 5)
    np.testing.assert_array_equal(out, [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 1, 0]])
    # the seed documents' usage: to_categorical(labels, 10) with labels of shape (N, 1)
    out = to_categorical(np.random.RandomState(0).randint(10, size=(1000, 1)), 10)
    assert out.shape == (1000, 10)
    np.testing.assert_array_equal(out.sum(axis=1), np.ones(1000))


def test_to_categorical_higher_rank_keeps_shape():
    labels = np.array([[0, 1], [2, 1]])
    out = to_categorical(labels, 3)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[1, 0], [0, 0, 1])
    np.testing.assert_array_equal(out[0, 1], [0, 1, 0])
    labels = labels[..., None]                      # (2, 2, 1): the trailing 1 is dropped
    assert to_categorical(labels, 3).shape == (2, 2, 3)
    assert to_categorical(np.array([1]), 2).shape == (1, 2)
    np.testing.assert_array_equal(to_categorical(2, 4), [0, 0, 1, 0])


def test_to_categorical_dtype_and_integral_floats_and_bools():
    out = to_categorical(np.array([1.0, 0.0]), dtype="int64")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(to_categorical([True, False]), [[0, 1], [1, 0]])
    assert to_categorical(np.array([], dtype=int), num_classes=3).shape == (0, 3)


@pytest.mark.parametrize("labels, kwargs, pattern", [
    ([0, -1, 2], {}, r"negative label.*Received: y contains -1"),
    ([0, 3], {"num_classes": 3}, r"label 3, but num_classes=3 allows labels 0 to 2"),
    ([0.0, 1.5], {}, r"non-integer label.*Received: y contains 1.5"),
    ([0.0, np.nan], {}, r"not a finite number"),
    (["cat", "dog"], {}, r"integer class indices.*dtype <U3"),
    ([], {}, r"Pass num_classes explicitly"),
    ([0, 1], {"num_classes": 0}, r"`num_classes`.*num_classes=0"),
    ([0, 1], {"num_classes": 2.5}, r"num_classes=2.5"),
])
def test_to_categorical_errors(labels, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        to_categorical(labels, **kwargs)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(normalize(x, axis=0),
                               [[3 / np.sqrt(10), 1.0], [0.0, 0.0], [1 / np.sqrt(10), 0.0]])
    np.testing.assert_allclose(normalize(x, order=1),
                               [[3 / 7, 4 / 7], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(normalize([2.0, 0.0]), [[1.0, 0.0]])


def test_utils_package_exports():
    assert utils.to_categorical is to_categorical
    assert utils.normalize is normalize
    assert utils.Sequence is Sequence
    assert utils.Progbar is utils.generic_utils.Progbar
    assert utils.np_utils.to_categorical is to_categorical


# --- Sequence and enqueuers -------------------------------------------------------------

class Squares(Sequence):
    def __init__(self, n, fail_at=None):
        self.n = n
        self.fail_at = fail_at
        self.epochs_ended = 0
        self.offset = 0

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        if index == self.fail_at:
            raise IndexError("bad batch %d" % index)
        return index * index + self.offset

    def on_epoch_end(self):
        self.epochs_ended += 1
        self.offset += 1000


def test_sequence_iterates_in_order_and_requires_methods():
    seq = Squares(4)
    assert list(seq) == [0, 1, 4, 9]
    assert len(seq) == 4
    infinite = iter_sequence_infinite(seq)
    assert [next(infinite) for _ in range(6)] == [0, 1, 4, 9, 0, 1]

    class Empty(Sequence):
        pass

    with pytest.raises(NotImplementedError, match="Empty must implement __len__"):
        len(Empty())
    with pytest.raises(NotImplementedError, match="__getitem__"):
        Empty()[0]


def _take(gen, n):
    return [next(gen) for _ in range(n)]


def test_ordered_enqueuer_keeps_order_across_epochs():
    seq = Squares(5)
    enqueuer = OrderedEnqueuer(seq)
    enqueuer.start(workers=3, max_queue_size=2)
    try:
        assert enqueuer.is_running()
        out = _take(enqueuer.get(), 10)
    finally:
        enqueuer.stop()
    assert not enqueuer.is_running()
    assert out == [0, 1, 4, 9, 16, 1000, 1001, 1004, 1009, 1016]
    assert seq.epochs_ended >= 1


def test_ordered_enqueuer_shuffle_visits_every_batch_once_per_epoch():
    seq = Squares(20)
    enqueuer = OrderedEnqueuer(seq, shuffle=True)
    enqueuer.start(workers=2, max_queue_size=4)
    try:
        first_epoch = _take(enqueuer.get(), 20)
    finally:
        enqueuer.stop()
    assert sorted(first_epoch) == [i * i for i in range(20)]


def test_ordered_enqueuer_reraises_batch_errors():
    enqueuer = OrderedEnqueuer(Squares(5, fail_at=2))
    enqueuer.start(workers=1, max_queue_size=3)
    gen = enqueuer.get()
    assert _take(gen, 2) == [0, 1]
    with pytest.raises(IndexError, match="bad batch 2"):
        next(gen)
    assert not enqueuer.is_running()


def test_generator_enqueuer_yields_all_items_of_a_finite_generator_in_order():
    enqueuer = GeneratorEnqueuer((i * 3 for i in range(50)))
    enqueuer.start(workers=4, max_queue_size=5)
    try:
        out = list(enqueuer.get())
    finally:
        enqueuer.stop()
    assert out == [i * 3 for i in range(50)]


def test_generator_enqueuer_infinite_generator_and_errors():
    def forever():
        i = 0
        while True:
            yield i
            i += 1

    enqueuer = GeneratorEnqueuer(forever())
    enqueuer.start(workers=2, max_queue_size=3)
    assert _take(enqueuer.get(), 7) == [0, 1, 2, 3, 4, 5, 6]
    workers = list(enqueuer._threads)
    assert len(workers) == 2 and all(t.is_alive() for t in workers)
    enqueuer.stop(timeout=5)
    assert not enqueuer.is_running()
    assert not any(t.is_alive() for t in workers)

    def broken():
        yield 1
        raise RuntimeError("disk gone")

    enqueuer = GeneratorEnqueuer(broken())
    enqueuer.start(workers=1)
    gen = enqueuer.get()
    assert next(gen) == 1
    with pytest.raises(RuntimeError, match="disk gone"):
        next(gen)


def test_enqueuer_arguments():
    with pytest.warns(RuntimeWarning, match="with a generator: .* in threads"):
        GeneratorEnqueuer(iter([1, 2]), use_multiprocessing=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # a Sequence is read in processes: no warning
        assert OrderedEnqueuer(Squares(2), use_multiprocessing=True).use_multiprocessing
    enqueuer = GeneratorEnqueuer(iter([1, 2]))
    with pytest.raises(ValueError, match=r"workers=0"):
        enqueuer.start(workers=0)
    assert hasattr(data_utils, "SequenceEnqueuer")
