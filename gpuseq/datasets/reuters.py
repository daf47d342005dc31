"""Reuters newswires labelled by 46 topics: 11,228 wires, each a list of word indices."""
import numpy as np

from ._remote import fetch
from ._sequences import (as_label_array, as_sequence_array, load_word_index, reindex,
                         renamed_num_words, shuffled)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3, **kwargs):
    """Loads the Reuters newswires, as Keras 2.2.4 does.

    Args:
        path: file name in the cache.
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from: as for
            `gpuseq.datasets.imdb.load_data`.
        test_split: fraction of the (shuffled, filtered) wires in the test set.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: object arrays of lists of ints and
        int64 topic labels.

    Example:
        >>> (x_train, y_train), _ = reuters.load_data(num_words=10000)  # doctest: +SKIP
    """
    num_words = renamed_num_words(num_words, kwargs, "reuters.load_data")
    with np.load(fetch("reuters.npz", path), allow_pickle=True) as f:
        xs, labels = f["x"], f["y"]
    xs, shuffled_labels = shuffled(np.random.RandomState(seed), xs, labels)
    xs, kept, _ = reindex(list(xs), list(shuffled_labels), num_words, skip_top, maxlen,
                       start_char, oov_char, index_from)
    cut = int(len(xs) * (1 - test_split))
    return ((as_sequence_array(xs[:cut]), as_label_array(kept[:cut], labels)),
            (as_sequence_array(xs[cut:]), as_label_array(kept[cut:], labels)))


def get_word_index(path="reuters_word_index.json"):
    """The dictionary word -> rank (1 = most frequent) of the Reuters data."""
    return load_word_index("reuters_word_index.json", path)
