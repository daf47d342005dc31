"""Sequence utilities of ``keras.preprocessing.sequence`` (Keras 2.2.4): ``pad_sequences``,
``TimeseriesGenerator`` (windows of a time series as a ``Sequence``), and the word2vec
helpers ``skipgrams`` and ``make_sampling_table``.

``skipgrams`` draws from Python's ``random`` module as Keras 2.2.4 does, so the same
seed gives the same pairs.
"""
import random

import numpy as np

from ..utils.data_utils import Sequence

__all__ = ["pad_sequences", "TimeseriesGenerator", "skipgrams", "make_sampling_table"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pad (or cut) a list of sequences to one length, giving a 2-D array.

    Args:
        sequences: a list of sequences (lists or arrays of ids; each element may itself
            be an array of a fixed shape, giving an array of more dimensions).
        maxlen: the length of the result; None = the longest sequence.
        dtype: dtype of the result (Keras's default 'int32').
        padding: 'pre' (pad at the start, the default) or 'post'.
        truncating: 'pre' (drop the start of longer sequences, the default) or 'post'.
        value: the padding value.

    Output shape:
        ``(len(sequences), maxlen) + element shape``.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be a list of sequences (of ids). Received: "
                         f"sequences of type {type(sequences).__name__}")
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post'. Received: padding={padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError("truncating must be 'pre' or 'post'. Received: "
                         f"truncating={truncating!r}")
    lengths, elem_shape = [], None
    for s in sequences:
        if not hasattr(s, "__len__"):
            raise ValueError("`sequences` must be a list of iterables (one sequence of ids "
                             f"per sample). Found a non-iterable element: {s!r}")
        lengths.append(len(s))
        if elem_shape is None and len(s):
            elem_shape = np.asarray(s).shape[1:]
    elem_shape = elem_shape or ()
    if maxlen is None:
        maxlen = max(lengths) if lengths else 0
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive integer or None. Received: maxlen={maxlen!r}")
    kind = np.dtype(dtype).kind
    if isinstance(value, str) and kind not in "OUS":
        raise ValueError(f"The padding value {value!r} is a string but dtype={dtype!r} is not: "
                         "pass dtype=object (or a string dtype) to pad with text.")
    out = np.full((len(lengths), int(maxlen)) + tuple(elem_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s):
            continue
        kept = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != tuple(elem_shape):
            raise ValueError(f"Sequence {i} has elements of shape {kept.shape[1:]}, but the "
                             f"first non-empty sequence's elements have shape "
                             f"{tuple(elem_shape)}: every element must have the same shape.")
        if padding == "post":
            out[i, :len(kept)] = kept
        else:
            out[i, maxlen - len(kept):] = kept
    return out


# ------------------------------------------------------------------ word2vec helpers
_EULER_GAMMA = 0.577


def make_sampling_table(size, sampling_factor=1e-5):
    """Probabilities of keeping each word rank when drawing skip-gram pairs.

    Word ``i`` (the i-th most frequent, as ``Tokenizer`` numbers them) is kept with
    probability ``min(1, sqrt(f_i))`` with ``f_i = sampling_factor * i * (log i + gamma)
    + ...``, word2vec's subsampling under a Zipf estimate of the word frequencies (rank 0
    is treated as rank 1), as in Keras 2.2.4.

    Args:
        size: the number of words (length of the table).
        sampling_factor: word2vec's subsampling factor ``t``.

    Returns:
        a float array of shape ``(size,)``.

    Example:
        >>> make_sampling_table(4)[:2].round(5)
        array([0.00315, 0.00315])
    """
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer. Received: size={size!r}")
    rank = np.arange(int(size))
    rank[0] = 1
    inv_freq = rank * (np.log(rank) + _EULER_GAMMA) + 0.5 - 1.0 / (12.0 * rank)
    f = sampling_factor * inv_freq
    return np.minimum(1.0, f / np.sqrt(f))


def _positive_pairs(sequence, window_size, sampling_table, categorical):
    couples, labels = [], []
    for i, wi in enumerate(sequence):
        if not wi:                                    # 0 is padding, never a word
            continue
        if sampling_table is not None and sampling_table[wi] < random.random():
            continue
        for j in range(max(0, i - window_size), min(len(sequence), i + window_size + 1)):
            if j != i and sequence[j]:
                couples.append([wi, sequence[j]])
                labels.append([0, 1] if categorical else 1)
    return couples, labels


def skipgrams(sequence, vocabulary_size, window_size=4, negative_samples=1.0, shuffle=True,
              categorical=False, sampling_table=None, seed=None):
    """Skip-gram pairs of a sequence of word ids, with negative samples (Keras 2.2.4).

    Every word ``w`` (id 0 is skipped as padding) pairs with each word within
    ``window_size`` of it, label 1; then ``int(n_positive * negative_samples)`` pairs
    ``[a word of the positive pairs, a random id in [1, vocabulary_size)]``, label 0.

    Args:
        sequence: a list of word ids.
        vocabulary_size: one more than the largest id.
        window_size: how far apart two words of a positive pair may be.
        negative_samples: negative pairs per positive pair (0 for none).
        shuffle: shuffle pairs and labels together.
        categorical: labels as ``[0, 1]`` / ``[1, 0]`` instead of ``1`` / ``0``.
        sampling_table: keep word ``i`` as a centre word with probability
            ``sampling_table[i]`` (see :func:`make_sampling_table`).
        seed: the seed of the shuffle (Python's ``random``).

    Returns:
        ``(couples, labels)``: a list of ``[word, context]`` pairs and their labels.

    Example:
        >>> couples, labels = skipgrams([1, 2, 3], vocabulary_size=4, window_size=1,
        ...                             negative_samples=0, shuffle=False)
        >>> couples, labels
        ([[1, 2], [2, 1], [2, 3], [3, 2]], [1, 1, 1, 1])
    """
    if int(vocabulary_size) != vocabulary_size or vocabulary_size < 2:
        raise ValueError("vocabulary_size must be an integer of at least 2 (one more than "
                         f"the largest word id). Received: vocabulary_size={vocabulary_size!r}")
    if negative_samples < 0:
        raise ValueError("negative_samples must be 0 or more. Received: "
                         f"negative_samples={negative_samples!r}")
    couples, labels = _positive_pairs(sequence, window_size, sampling_table, categorical)
    if negative_samples > 0 and couples:
        n_negative = int(len(labels) * negative_samples)
        words = [c[0] for c in couples]
        random.shuffle(words)
        couples += [[words[i % len(words)], random.randint(1, vocabulary_size - 1)]
                    for i in range(n_negative)]
        labels += [[1, 0] if categorical else 0] * n_negative
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10 ** 7)
        random.seed(seed)
        random.shuffle(couples)
        random.seed(seed)
        random.shuffle(labels)
    return couples, labels


# ------------------------------------------------------------------ time series windows
class TimeseriesGenerator(Sequence):
    """Batches of windows of a time series, each with the target at the step after it.

    Sample ``k`` of the series ends before row ``r = start_index + length + k * stride``:
    it is ``data[r - length:r:sampling_rate]`` and its target is ``targets[r]``. Rows go
    up to ``end_index`` (inclusive). A ``Sequence``, so ``fit_generator`` takes it.

    Args:
        data: an indexable series (list or array), steps along the first axis.
        targets: one target per step of ``data`` (same length).
        length: how many steps before the target a sample spans.
        sampling_rate: take every ``sampling_rate``-th step within a sample.
        stride: steps between the ends of consecutive samples.
        start_index, end_index: the first and last rows that can be a target's index
            minus ``length`` and a target's index (default: the last row).
        shuffle: draw the rows of each batch at random (NumPy's global generator).
        reverse: samples in reverse time order.
        batch_size: samples per batch (the last batch may be smaller).

    Output shape:
        ``(batch, length // sampling_rate (rounded up), *data.shape[1:])`` samples and
        ``(batch, *targets.shape[1:])`` targets.

    Example:
        >>> import numpy as np
        >>> g = TimeseriesGenerator(np.arange(10), np.arange(10), length=3, batch_size=2)
        >>> x, y = g[0]
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2], [1, 2, 3]], [3, 4])
    """

    def __init__(self, data, targets, length, sampling_rate=1, stride=1, start_index=0,
                 end_index=None, shuffle=False, reverse=False, batch_size=128):
        if len(data) != len(targets):
            raise ValueError("data and targets must have the same length (one target per "
                             f"step). Received: len(data)={len(data)}, "
                             f"len(targets)={len(targets)}")
        for name, value in (("length", length), ("sampling_rate", sampling_rate),
                            ("stride", stride), ("batch_size", batch_size)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: "
                                 f"{name}={value!r}")
        self.data, self.targets = data, targets
        self.length, self.sampling_rate, self.stride = length, sampling_rate, stride
        self.start_index = start_index + length
        self.end_index = len(data) - 1 if end_index is None else end_index
        if self.start_index > self.end_index:
            raise ValueError(f"start_index + length = {self.start_index} is past end_index = "
                             f"{self.end_index}: no step is left to be a target. Use a "
                             "shorter length or a longer series. Received: "
                             f"length={length}, start_index={start_index}, "
                             f"end_index={end_index}, len(data)={len(data)}")
        self.shuffle, self.reverse, self.batch_size = shuffle, reverse, batch_size

    def __len__(self):
        span = self.batch_size * self.stride
        return (self.end_index - self.start_index + span) // span

    def _rows(self, index):
        if self.shuffle:
            return np.random.randint(self.start_index, self.end_index + 1,
                                     size=self.batch_size)
        first = self.start_index + self.batch_size * self.stride * index
        last = min(first + self.batch_size * self.stride, self.end_index + 1)
        return np.arange(first, last, self.stride)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"TimeseriesGenerator has {len(self)} batches. Received: "
                             f"index={index}")
        rows = self._rows(index)
        samples = np.array([self.data[r - self.length:r:self.sampling_rate] for r in rows])
        targets = np.array([self.targets[r] for r in rows])
        if self.reverse:
            return samples[:, ::-1, ...], targets
        return samples, targets
