"""gpuseq.preprocessing: pad_sequences and the text Tokenizer, against values worked out
by hand from the Keras definitions."""
import numpy as np
import pytest

from gpuseq.preprocessing.sequence import pad_sequences
from gpuseq.preprocessing.text import (Tokenizer, hashing_trick, one_hot,
                                       text_to_word_sequence)


def test_pad_sequences_pre_and_post():
    seqs = [[1, 2, 3, 4], [5], [], [6, 7]]
    np.testing.assert_array_equal(
        pad_sequences(seqs, maxlen=3),
        [[2, 3, 4], [0, 0, 5], [0, 0, 0], [0, 6, 7]])
    np.testing.assert_array_equal(
        pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [5, -1, -1], [-1, -1, -1], [6, 7, -1]])
    full = pad_sequences(seqs)
    assert full.shape == (4, 4) and full.dtype == np.int32
    np.testing.assert_array_equal(full[1], [0, 0, 0, 5])
    f = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32")
    np.testing.assert_array_equal(f, [[0.0, 0.5, 1.5]])
    assert f.dtype == np.float32


def test_pad_sequences_of_vectors_and_errors():
    seqs = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    out = pad_sequences(seqs, maxlen=2, dtype="float32")
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[1], [[0, 0, 0], [2, 2, 2]])
    with pytest.raises(ValueError, match="same shape"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 4))])
    with pytest.raises(ValueError, match="padding must be"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating must be"):
        pad_sequences([[1]], truncating="middle")
    with pytest.raises(ValueError, match="maxlen must be a positive integer"):
        pad_sequences([[1]], maxlen=0)
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([[1], 3])
    with pytest.raises(ValueError, match="is a string"):
        pad_sequences([[1]], value="x")
    np.testing.assert_array_equal(
        pad_sequences([["a"], ["b", "c"]], dtype=object, value="-"),
        np.array([["-", "a"], ["b", "c"]], dtype=object))


def test_text_to_word_sequence_and_hashing():
    assert text_to_word_sequence("Hello, World!  hello\tthere.") == \
        ["hello", "world", "hello", "there"]
    assert text_to_word_sequence("A-b c", filters="", lower=False) == ["A-b", "c"]
    assert text_to_word_sequence("a;b;c", split=";") == ["a", "b", "c"]
    ids = hashing_trick("the cat the", 10, hash_function="md5")
    assert ids[0] == ids[2] and all(1 <= i < 10 for i in ids)
    import hashlib
    assert ids[1] == int(hashlib.md5(b"cat").hexdigest(), 16) % 9 + 1
    assert hashing_trick("ab", 5, hash_function=len) == [len("ab") % 4 + 1]
    oh = one_hot("x y x", 7)
    assert oh[0] == oh[2] and all(1 <= i < 7 for i in oh)
    with pytest.raises(ValueError, match="n .* >= 2"):
        hashing_trick("a", 1)


CORPUS = ["The cat sat on the mat.", "The dog sat.", "A cat, a dog!"]


def test_tokenizer_index_sequences_and_counts():
    tok = Tokenizer()
    tok.fit_on_texts(CORPUS)
    # counts: the 3, cat 2, sat 2, a 2, dog 2, on 1, mat 1 (ties in order of first sight)
    assert tok.word_index == {"the": 1, "cat": 2, "sat": 3, "dog": 4, "a": 5, "on": 6,
                              "mat": 7}
    assert tok.index_word[4] == "dog"
    assert tok.word_counts["the"] == 3 and tok.word_docs["the"] == 2
    assert tok.index_docs[2] == 2 and tok.document_count == 3
    assert tok.texts_to_sequences(["the dog on a sofa"]) == [[1, 4, 6, 5]]
    assert tok.sequences_to_texts([[1, 4, 6]]) == ["the dog on"]
    small = Tokenizer(num_words=4)
    small.fit_on_texts(CORPUS)
    assert small.texts_to_sequences(["the dog on a cat"]) == [[1, 2]]
    oov = Tokenizer(num_words=4, oov_token="<unk>")
    oov.fit_on_texts(CORPUS)
    assert oov.word_index["<unk>"] == 1 and oov.word_index["the"] == 2
    assert oov.texts_to_sequences(["the dog on sofa cat"]) == [[2, 1, 1, 1, 3]]
    chars = Tokenizer(char_level=True)
    chars.fit_on_texts(["aab", "Ba"])
    assert chars.word_index == {"a": 1, "b": 2}


def test_tokenizer_matrices():
    tok = Tokenizer()
    tok.fit_on_texts(CORPUS)
    text = ["the cat the dog"]                       # ids 1, 2, 1, 4
    b = tok.texts_to_matrix(text, mode="binary")
    assert b.shape == (1, 8)
    np.testing.assert_array_equal(b[0], [0, 1, 1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(tok.texts_to_matrix(text, mode="count")[0],
                                  [0, 2, 1, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(tok.texts_to_matrix(text, mode="freq")[0],
                               [0, 0.5, 0.25, 0, 0.25, 0, 0, 0])
    tf = tok.texts_to_matrix(text, mode="tfidf")[0]
    # "the": count 2, in 2 of 3 documents; "dog": count 1, in 2 of 3
    np.testing.assert_allclose(tf[1], (1 + np.log(2)) * np.log(1 + 3 / 3))
    np.testing.assert_allclose(tf[4], np.log(1 + 3 / 3))
    assert tf[3] == 0
    with pytest.raises(ValueError, match="vectorization mode"):
        tok.texts_to_matrix(text, mode="onehot")
    empty = Tokenizer()
    with pytest.raises(ValueError, match="num_words"):
        empty.sequences_to_matrix([[1]])
    with pytest.raises(ValueError, match="tfidf"):
        Tokenizer(num_words=5).sequences_to_matrix([[1]], mode="tfidf")
    seq_tok = Tokenizer(num_words=5)
    seq_tok.fit_on_sequences([[1, 2, 2], [2, 3]])
    assert seq_tok.index_docs[2] == 2 and seq_tok.document_count == 2
    with pytest.raises(TypeError, match="list of texts"):
        tok.fit_on_texts("one string")
    with pytest.raises(ValueError, match="num_words must be"):
        Tokenizer(num_words=0)


def test_tokenizer_feeds_an_embedding_model():
    from gpuseq.layers import Dense, Embedding, LSTM
    from gpuseq.models import Sequential
    tok = Tokenizer(num_words=10)
    tok.fit_on_texts(CORPUS)
    x = pad_sequences(tok.texts_to_sequences(CORPUS), maxlen=6)
    m = Sequential([Embedding(10, 4, input_length=6), LSTM(3), Dense(1, activation="sigmoid")])
    m.compile("rmsprop", "binary_crossentropy")
    assert m.predict(x).shape == (3, 1)
