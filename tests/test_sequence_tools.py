"""keras.preprocessing.sequence beyond pad_sequences: TimeseriesGenerator against
hand-computed windows, skipgrams' pairs and seeds, make_sampling_table's formula."""
import math
import random

import numpy as np
import pytest

from gpuseq.preprocessing.sequence import (TimeseriesGenerator, make_sampling_table,
                                           skipgrams)
from gpuseq.utils import Sequence


def test_timeseries_windows_by_hand():
    data = np.arange(20).reshape(10, 2)            # step t is [2t, 2t + 1]
    targets = np.arange(100, 110)
    g = TimeseriesGenerator(data, targets, length=4, sampling_rate=2, stride=3,
                            start_index=1, end_index=9, batch_size=2)
    assert isinstance(g, Sequence)
    # target rows: 5, 8 (start_index + length = 5, stride 3, end_index 9)
    assert len(g) == 1
    x, y = g[0]
    np.testing.assert_array_equal(x, [[[2, 3], [6, 7]], [[8, 9], [12, 13]]])
    np.testing.assert_array_equal(y, [105, 108])


def test_timeseries_batches_and_reverse():
    series = np.arange(8, dtype="float32")
    g = TimeseriesGenerator(series, series * 10, length=3, batch_size=2, reverse=True)
    assert len(g) == 3                                  # rows 3..7: batches of 2, 2, 1
    batches = [g[i] for i in range(len(g))]
    np.testing.assert_array_equal(batches[0][0], [[2, 1, 0], [3, 2, 1]])
    np.testing.assert_array_equal(batches[0][1], [30, 40])
    np.testing.assert_array_equal(batches[2][0], [[6, 5, 4]])
    np.testing.assert_array_equal(batches[2][1], [70])
    with pytest.raises(IndexError, match="has 3 batches"):
        g[3]


def test_timeseries_shuffle_rows_are_in_range():
    np.random.seed(0)
    series = np.arange(50)
    g = TimeseriesGenerator(series, series, length=5, shuffle=True, batch_size=16)
    x, y = g[0]
    assert x.shape == (16, 5)
    np.testing.assert_array_equal(x[:, -1] + 1, y)      # every window ends before its target
    assert y.min() >= 5 and y.max() <= 49


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(data=[1, 2, 3], targets=[1, 2], length=1), "same length"),
    (dict(data=[1, 2, 3], targets=[1, 2, 3], length=3), "past end_index"),
    (dict(data=[1, 2, 3], targets=[1, 2, 3], length=0), "length must be a positive"),
])
def test_timeseries_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        TimeseriesGenerator(**kwargs)


def test_skipgrams_positive_pairs_without_shuffle():
    couples, labels = skipgrams([1, 0, 2, 3], vocabulary_size=4, window_size=2,
                                negative_samples=0, shuffle=False)
    # 0 is padding: never a centre word nor a context word
    assert couples == [[1, 2], [2, 1], [2, 3], [3, 2]]
    assert labels == [1, 1, 1, 1]


def test_skipgrams_seeded_properties():
    seq = [3, 1, 4, 1, 5, 9, 2, 6]
    random.seed(123)
    couples, labels = skipgrams(seq, vocabulary_size=10, window_size=2, seed=7)
    random.seed(123)
    again = skipgrams(seq, vocabulary_size=10, window_size=2, seed=7)
    assert (couples, labels) == again                   # same seeds, same pairs
    positives = [tuple(c) for c, l in zip(couples, labels) if l == 1]
    negatives = [c for c, l in zip(couples, labels) if l == 0]
    expected = sorted((seq[i], seq[j]) for i in range(8)
                      for j in range(max(0, i - 2), min(8, i + 3)) if j != i)
    assert sorted(positives) == expected                # every window pair, once
    assert len(negatives) == len(positives)             # negative_samples=1.0
    assert all(c[0] in seq and 1 <= c[1] <= 9 for c in negatives)
    assert labels != sorted(labels, reverse=True)       # shuffled together


def test_skipgrams_categorical_and_sampling_table():
    couples, labels = skipgrams([1, 2], vocabulary_size=3, window_size=1,
                                negative_samples=0.5, shuffle=False, categorical=True)
    assert couples[:2] == [[1, 2], [2, 1]] and len(couples) == 3
    assert labels == [[0, 1], [0, 1], [1, 0]]
    never = np.zeros(3)
    assert skipgrams([1, 2], 3, sampling_table=never) == ([], [])
    with pytest.raises(ValueError, match="vocabulary_size"):
        skipgrams([1, 2], 1)


def test_make_sampling_table_formula():
    table = make_sampling_table(5, sampling_factor=1e-3)
    for i, p in enumerate(table):
        r = max(i, 1)
        f = 1e-3 * (r * (math.log(r) + 0.577) + 0.5 - 1.0 / (12 * r))
        assert p == pytest.approx(min(1.0, math.sqrt(f)), rel=1e-12)
    assert make_sampling_table(3, sampling_factor=10.0).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="size must be a positive integer"):
        make_sampling_table(0)
