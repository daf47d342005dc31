"""Text utilities (Keras ``keras.preprocessing.text``): split texts into words, index
the words by frequency and turn texts into id sequences or bag-of-words matrices.

Example:
    >>> from gpuseq.preprocessing.text import Tokenizer
    >>> tok = Tokenizer(num_words=1000)
    >>> tok.fit_on_texts(["the cat sat", "the dog sat down"])
    >>> tok.word_index["the"], tok.texts_to_sequences(["the dog"])
    (1, [[1, 4]])
"""
import hashlib
from collections import OrderedDict, defaultdict

import numpy as np

DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def text_to_word_sequence(text, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Split a text into words: lower-case it, turn every character of ``filters`` into
    ``split``, split on ``split`` and drop empty pieces.

    Example:
        >>> text_to_word_sequence("Hello, world!  Hello.")
        ['hello', 'world', 'hello']
    """
    if not isinstance(text, str):
        raise TypeError(f"text_to_word_sequence expects a string. Received: text={text!r}")
    if lower:
        text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


def hashing_trick(text, n, hash_function=None, filters=DEFAULT_FILTERS, lower=True,
                  split=" "):
    """Each word of ``text`` as an id in [1, n): ``hash(word) % (n - 1) + 1``.

    Args:
        hash_function: None (Python's ``hash``: not stable between runs, as in Keras),
            'md5' (stable), or a function from a string to an int.
    """
    if hash_function is None:
        hash_function = hash
    elif hash_function == "md5":
        def hash_function(w):
            return int(hashlib.md5(w.encode()).hexdigest(), 16)
    elif not callable(hash_function):
        raise ValueError("hash_function must be None, 'md5' or a function. Received: "
                         f"hash_function={hash_function!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n (the size of the id space) must be an integer >= 2. Received: n={n!r}")
    words = text_to_word_sequence(text, filters=filters, lower=lower, split=split)
    return [hash_function(w) % (n - 1) + 1 for w in words]


def one_hot(text, n, filters=DEFAULT_FILTERS, lower=True, split=" "):
    """Keras's ``one_hot``: word ids in [1, n) through :func:`hashing_trick` with Python's
    ``hash`` (the ids are not a one-hot matrix, and not stable between runs)."""
    return hashing_trick(text, n, hash_function=hash, filters=filters, lower=lower,
                         split=split)


class Tokenizer:
    """Index the words of a corpus by frequency and vectorise texts with that index.

    Args:
        num_words: keep only the ``num_words - 1`` most frequent words when turning
            texts into sequences or matrices (None = all); ``word_index`` holds all.
        filters: characters removed from the texts (replaced by ``split``).
        lower: lower-case the texts.
        split: the word separator.
        char_level: every character is a token.
        oov_token: when given, it takes index 1 and stands in for words outside the
            index (or beyond ``num_words``) in ``texts_to_sequences``.

    Attributes (after ``fit_on_texts``):
        word_counts: word -> occurrences (in order of first appearance);
        word_docs: word -> number of texts containing it;
        word_index: word -> index, 1 for the most frequent (ties: first seen first);
        index_word: the inverse; index_docs: index -> number of texts containing it;
        document_count: texts (or sequences) seen.
    """

    def __init__(self, num_words=None, filters=DEFAULT_FILTERS, lower=True, split=" ",
                 char_level=False, oov_token=None, document_count=0, **kwargs):
        if "nb_words" in kwargs:            # Keras 1 name
            num_words = kwargs.pop("nb_words")
        if kwargs:
            raise TypeError(f"Tokenizer got unexpected keyword argument(s) {sorted(kwargs)}.")
        if num_words is not None and (isinstance(num_words, bool) or
                                      not isinstance(num_words, (int, np.integer)) or
                                      num_words < 1):
            raise ValueError("num_words must be a positive integer or None. Received: "
                             f"num_words={num_words!r}")
        self.num_words = num_words
        self.filters = filters
        self.lower = lower
        self.split = split
        self.char_level = char_level
        self.oov_token = oov_token
        self.document_count = document_count
        self.word_counts = OrderedDict()
        self.word_docs = defaultdict(int)
        self.index_docs = defaultdict(int)
        self.word_index = {}
        self.index_word = {}

    def _tokens(self, text):
        if self.char_level or isinstance(text, list):
            if self.lower:
                text = [t.lower() for t in text] if isinstance(text, list) else text.lower()
            return list(text)
        return text_to_word_sequence(text, self.filters, self.lower, self.split)

    def fit_on_texts(self, texts):
        """Count the words of ``texts`` (strings, or lists of tokens) and rebuild the index."""
        if isinstance(texts, str):
            raise TypeError("fit_on_texts expects a list of texts, not one string. Wrap it: "
                            "fit_on_texts([text]).")
        for text in texts:
            self.document_count += 1
            seq = self._tokens(text)
            for w in seq:
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
            for w in set(seq):
                self.word_docs[w] += 1
        ranked = sorted(self.word_counts.items(), key=lambda kv: -kv[1])   # stable on ties
        vocab = ([self.oov_token] if self.oov_token is not None else []) + \
            [w for w, _ in ranked if w != self.oov_token]
        self.word_index = {w: i for i, w in enumerate(vocab, start=1)}
        self.index_word = {i: w for w, i in self.word_index.items()}
        self.index_docs = defaultdict(int)
        for w, c in self.word_docs.items():
            self.index_docs[self.word_index[w]] = c

    def fit_on_sequences(self, sequences):
        """Count, per index, the sequences containing it (needed by mode='tfidf')."""
        for seq in sequences:
            self.document_count += 1
            for i in set(seq):
                self.index_docs[i] += 1

    def texts_to_sequences(self, texts):
        """Each text as a list of word indices (words outside the index are dropped, or
        mapped to ``oov_token``'s index)."""
        return list(self.texts_to_sequences_generator(texts))

    def texts_to_sequences_generator(self, texts):
        if isinstance(texts, str):
            raise TypeError("texts_to_sequences expects a list of texts, not one string. "
                            "Wrap it: texts_to_sequences([text]).")
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        for text in texts:
            out = []
            for w in self._tokens(text):
                i = self.word_index.get(w)
                if i is not None and (not self.num_words or i < self.num_words):
                    out.append(i)
                elif oov is not None:
                    out.append(oov)
            yield out

    def sequences_to_texts(self, sequences):
        """The inverse of texts_to_sequences: words joined by spaces."""
        oov_word = self.oov_token if self.oov_token in self.word_index else None
        texts = []
        for seq in sequences:
            words = []
            for i in seq:
                w = self.index_word.get(i)
                if w is not None and (not self.num_words or i < self.num_words):
                    words.append(w)
                elif oov_word is not None:
                    words.append(oov_word)
            texts.append(" ".join(words))
        return texts

    def texts_to_matrix(self, texts, mode="binary"):
        """(len(texts), num_words) matrix; see :meth:`sequences_to_matrix`."""
        return self.sequences_to_matrix(self.texts_to_sequences(texts), mode=mode)

    def sequences_to_matrix(self, sequences, mode="binary"):
        """Bag of words: row i, column j for index j in sequence i.

        mode: 'binary' (1 if present), 'count', 'freq' (count / sequence length) or
        'tfidf' ((1 + log count) * log(1 + documents / (1 + documents with j))).
        Columns run to ``num_words`` (or ``len(word_index) + 1``).
        """
        if mode not in ("binary", "count", "freq", "tfidf"):
            raise ValueError("Unknown vectorization mode. Expected 'binary', 'count', 'freq' "
                             f"or 'tfidf'. Received: mode={mode!r}")
        n = self.num_words
        if not n:
            if not self.word_index:
                raise ValueError("Specify a dimension (the num_words argument), or fit on "
                                 "some text data first.")
            n = len(self.word_index) + 1
        if mode == "tfidf" and not self.document_count:
            raise ValueError("Fit the Tokenizer on some data (fit_on_texts or "
                             "fit_on_sequences) before using tfidf mode.")
        x = np.zeros((len(sequences), n))
        for row, seq in enumerate(sequences):
            if not len(seq):
                continue
            counts = defaultdict(int)
            for j in seq:
                if j < n:
                    counts[j] += 1
            for j, c in counts.items():
                if mode == "count":
                    x[row, j] = c
                elif mode == "freq":
                    x[row, j] = c / len(seq)
                elif mode == "binary":
                    x[row, j] = 1
                else:
                    idf = np.log(1 + self.document_count / (1 + self.index_docs.get(j, 0)))
                    x[row, j] = (1 + np.log(c)) * idf
        return x
