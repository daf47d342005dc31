"""The word-index arithmetic shared by the IMDB and Reuters loaders (Keras 2.2.4's)."""
import json
import warnings

import numpy as np

from ._remote import fetch


def renamed_num_words(num_words, kwargs, loader):
    """Accepts Keras 1's `nb_words`; refuses any other unknown keyword."""
    if "nb_words" in kwargs:
        warnings.warn("%s: `nb_words` is now called `num_words`." % loader, stacklevel=3)
        num_words = kwargs.pop("nb_words")
    if kwargs:
        raise TypeError("%s got unexpected keyword arguments %s. It takes num_words, "
                        "skip_top, maxlen, seed, start_char, oov_char and index_from."
                        % (loader, sorted(kwargs)))
    return num_words


def shuffled(rng, *arrays):
    """The arrays reordered by one permutation drawn from `rng`."""
    order = np.arange(len(arrays[0]))
    rng.shuffle(order)
    return [a[order] for a in arrays]


def reindex(xs, labels, num_words, skip_top, maxlen, start_char, oov_char, index_from):
    """Shifts word indices by `index_from`, prepends `start_char`, drops sequences of
    `maxlen` words or more, and replaces (or drops) words outside [skip_top, num_words).

    Returns:
        ``(xs, labels, kept)``: the new sequences and labels, and the positions in the
        input of the sequences kept.
    """
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    else:
        xs = [list(x) for x in xs]
    labels = list(labels)
    kept = list(range(len(xs)))
    if maxlen:
        kept = [i for i, x in enumerate(xs) if len(x) < maxlen]
        xs, labels = [xs[i] for i in kept], [labels[i] for i in kept]
    if not num_words:
        num_words = max(max(x) for x in xs if len(x)) if any(len(x) for x in xs) else 0
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    return xs, labels, kept


def as_sequence_array(xs):
    """A 1-D object array of Python lists (one per sample), as Keras returns."""
    out = np.empty(len(xs), dtype=object)
    for i, x in enumerate(xs):
        out[i] = x
    return out


def as_label_array(labels, like):
    return np.asarray(labels, dtype=like.dtype) if len(labels) else np.zeros(0, like.dtype)


def load_word_index(key, path):
    with open(fetch(key, path)) as f:
        return json.load(f)
