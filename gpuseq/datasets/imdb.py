"""IMDB movie reviews labelled by sentiment: 25,000 training and 25,000 test reviews, each
a list of word indices (by frequency rank)."""
import numpy as np

from ._remote import fetch
from ._sequences import (as_label_array, as_sequence_array, load_word_index, reindex,
                         renamed_num_words, shuffled)


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """Loads the IMDB reviews, as Keras 2.2.4 does.

    Args:
        path: file name in the cache.
        num_words: keep words of rank below this (others become `oov_char`); None: all.
        skip_top: also treat the `skip_top` most frequent ranks as out of vocabulary.
        maxlen: drop reviews of `maxlen` or more indices (counting `start_char`).
        seed: seed of the shuffle of each set.
        start_char: index put first in every review (None: none).
        oov_char: index of words cut by `num_words`/`skip_top` (None: drop them).
        index_from: added to every word's rank.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints and
        int64 labels (0 negative, 1 positive).

    Raises:
        ValueError: `maxlen` leaves no review.

    With `maxlen`, each kept review stays in its own set; Keras 2.2.4 split the kept
    reviews at the original training count, which moved test reviews into training.

    Example:
        >>> (x_train, y_train), _ = imdb.load_data(num_words=10000)  # doctest: +SKIP
    """
    num_words = renamed_num_words(num_words, kwargs, "imdb.load_data")
    with np.load(fetch("imdb.npz", path), allow_pickle=True) as f:
        x_train, y_train = f["x_train"], f["y_train"]
        x_test, y_test = f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    x_train, y_train = shuffled(rng, x_train, y_train)
    x_test, y_test = shuffled(rng, x_test, y_test)
    xs, labels, kept = reindex(list(x_train) + list(x_test), list(y_train) + list(y_test),
                         num_words, skip_top, maxlen, start_char, oov_char, index_from)
    if maxlen and not xs:
        raise ValueError("No review is shorter than maxlen=%d indices (counting start_char); "
                         "increase maxlen." % maxlen)
    cut = sum(1 for i in kept if i < len(x_train))
    return ((as_sequence_array(xs[:cut]), as_label_array(labels[:cut], y_train)),
            (as_sequence_array(xs[cut:]), as_label_array(labels[cut:], y_test)))


def get_word_index(path="imdb_word_index.json"):
    """The dictionary word -> rank (1 = most frequent) of the IMDB data.

    A review's index `i` is the word of rank ``i - index_from``.
    """
    return load_word_index("imdb_word_index.json", path)
