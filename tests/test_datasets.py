"""gpuseq.datasets on tiny files in the real formats, served from 127.0.0.1: the values,
shapes, dtypes and order Keras 2.2.4's loaders return, and the word-index arithmetic."""
import gzip
import hashlib
import io
import json
import pickle
import struct
import tarfile

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.datasets import (_remote, boston_housing, cifar10, cifar100, fashion_mnist, imdb,
                             mnist, reuters)
from tests._local_http import serve_folder


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Serves tmp_path/www; `publish(key, bytes)` points data set file `key` at it."""
    www = tmp_path / "www"
    www.mkdir()
    monkeypatch.setenv("GPUSEQ_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_remote, "FILES", dict(_remote.FILES))
    with serve_folder(www) as (url, server):
        def publish(key, data, served_as=None, digest="md5"):
            served_as = served_as or key
            (www / served_as).write_bytes(data)
            _remote.FILES[key] = (url + served_as, getattr(hashlib, digest)(data).hexdigest())
        publish.server = server
        publish.home = tmp_path / "home"
        yield publish


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _objects(lists):
    out = np.empty(len(lists), dtype=object)
    for i, x in enumerate(lists):
        out[i] = list(x)
    return out


def test_mnist(host):
    rng = np.random.RandomState(0)
    arrays = dict(x_train=rng.randint(0, 256, (5, 28, 28)).astype("uint8"),
                  y_train=np.array([5, 0, 4, 1, 9], "uint8"),
                  x_test=rng.randint(0, 256, (2, 28, 28)).astype("uint8"),
                  y_test=np.array([7, 2], "uint8"))
    host("mnist.npz", _npz(**arrays))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for got, key in [(x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"),
                     (y_test, "y_test")]:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])
    assert (host.home / "datasets" / "mnist.npz").exists()
    mnist.load_data()
    assert host.server.gets == ["/mnist.npz"]


def _idx(values, dims):
    header = struct.pack(">I", 0x800 + len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    return gzip.compress(header + values.astype("uint8").tobytes())


def test_fashion_mnist(host):
    rng = np.random.RandomState(1)
    x_train, x_test = rng.randint(0, 256, (3, 28, 28)), rng.randint(0, 256, (2, 28, 28))
    y_train, y_test = np.array([9, 0, 3]), np.array([1, 8])
    host("train-labels-idx1-ubyte.gz", _idx(y_train, [3]))
    host("train-images-idx3-ubyte.gz", _idx(x_train, [3, 28, 28]))
    host("t10k-labels-idx1-ubyte.gz", _idx(y_test, [2]))
    host("t10k-images-idx3-ubyte.gz", _idx(x_test, [2, 28, 28]))
    (a, b), (c, d) = fashion_mnist.load_data()
    assert a.shape == (3, 28, 28) and a.dtype == np.uint8 and b.dtype == np.uint8
    np.testing.assert_array_equal(a, x_train)
    np.testing.assert_array_equal(b, y_train)
    np.testing.assert_array_equal(c, x_test)
    np.testing.assert_array_equal(d, y_test)
    assert (host.home / "datasets" / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def _tar_gz(folder, members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(folder + "/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _cifar_pickle(data, **labels):
    # The real files were pickled by Python 2: their keys are bytes.
    batch = {b"data": data.reshape(len(data), 3072)}
    batch.update({k.encode(): v for k, v in labels.items()})
    return pickle.dumps(batch, protocol=2)


@pytest.fixture
def channels_last():
    before = K.image_data_format()
    yield
    K.set_image_data_format(before)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cifar10(host, channels_last, data_format):
    K.set_image_data_format(data_format)
    rng = np.random.RandomState(2)
    images = rng.randint(0, 256, (12, 3, 32, 32)).astype("uint8")
    labels = list(rng.randint(0, 10, 12))
    members = {"data_batch_%d" % (i + 1): _cifar_pickle(images[2 * i:2 * i + 2],
                                                       labels=labels[2 * i:2 * i + 2])
               for i in range(5)}
    members["test_batch"] = _cifar_pickle(images[10:], labels=labels[10:])
    host("cifar-10-batches-py", _tar_gz("cifar-10-batches-py", members),
         served_as="cifar-10-python.tar.gz")
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    expected = images if data_format == "channels_first" else images.transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(x_train, expected[:10])
    np.testing.assert_array_equal(x_test, expected[10:])
    assert x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8
    assert y_test.shape == (2, 1) and y_test.dtype == np.int64
    np.testing.assert_array_equal(y_train[:, 0], labels[:10])
    np.testing.assert_array_equal(y_test[:, 0], labels[10:])
    assert (host.home / "datasets" / "cifar-10-batches-py.tar.gz").exists()


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100(host, label_mode):
    rng = np.random.RandomState(3)
    images = rng.randint(0, 256, (5, 3, 32, 32)).astype("uint8")
    fine, coarse = [11, 99, 0, 42, 7], [1, 19, 0, 5, 3]
    members = {"train": _cifar_pickle(images[:3], fine_labels=fine[:3], coarse_labels=coarse[:3]),
               "test": _cifar_pickle(images[3:], fine_labels=fine[3:], coarse_labels=coarse[3:])}
    host("cifar-100-python", _tar_gz("cifar-100-python", members),
         served_as="cifar-100-python.tar.gz")
    (x_train, y_train), (x_test, y_test) = cifar100.load_data(label_mode=label_mode)
    np.testing.assert_array_equal(x_train, images[:3].transpose(0, 2, 3, 1))
    wanted = fine if label_mode == "fine" else coarse
    np.testing.assert_array_equal(y_train, np.array(wanted[:3]).reshape(3, 1))
    np.testing.assert_array_equal(y_test, np.array(wanted[3:]).reshape(2, 1))
    assert y_train.dtype == np.int64


def test_cifar100_bad_label_mode():
    with pytest.raises(ValueError, match="label_mode=.medium"):
        cifar100.load_data(label_mode="medium")


def test_boston_housing_split_and_order(host):
    x = np.arange(10 * 13, dtype="float64").reshape(10, 13)
    y = np.arange(10, dtype="float64") * 1.5
    host("boston_housing.npz", _npz(x=x, y=y), digest="sha256")
    (x_train, y_train), (x_test, y_test) = boston_housing.load_data(test_split=0.3, seed=7)
    # Keras 2.2.4: np.random.seed(seed); np.random.shuffle(np.arange(n)); cut at int(n*0.7)
    order = np.arange(10)
    np.random.RandomState(7).shuffle(order)
    assert x_train.shape == (7, 13) and x_test.shape == (3, 13)
    np.testing.assert_array_equal(x_train, x[order[:7]])
    np.testing.assert_array_equal(y_test, y[order[7:]])
    np.testing.assert_array_equal(np.sort(np.concatenate([y_train, y_test])), y)


IMDB_TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
IMDB_TEST = [[2, 2], [11, 1, 3], [5]]


@pytest.fixture
def imdb_files(host):
    host("imdb.npz", _npz(x_train=_objects(IMDB_TRAIN), y_train=np.array([1, 0, 1, 0]),
                          x_test=_objects(IMDB_TEST), y_test=np.array([0, 1, 1])))
    host("imdb_word_index.json", json.dumps({"the": 1, "and": 2, "film": 3}).encode())
    return host


def _keras_order(seed, n_train, n_test):
    rng = np.random.RandomState(seed)
    first = np.arange(n_train)
    rng.shuffle(first)
    second = np.arange(n_test)
    rng.shuffle(second)
    return first, second


def test_imdb_default_index_arithmetic(imdb_files):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(seed=5)
    first, second = _keras_order(5, 4, 3)
    assert x_train.dtype == object and x_train.shape == (4,) and y_train.dtype == np.int64

    def expected(x):
        # Keras 2.2.4 takes num_words = the largest index (11 + 3) and keeps w < num_words,
        # so that largest index itself becomes oov_char.
        return [w if w < 14 else 2 for w in [1] + [w + 3 for w in x]]
    for got, i in zip(x_train, first):
        assert got == expected(IMDB_TRAIN[i])
    for got, i in zip(x_test, second):
        assert got == expected(IMDB_TEST[i])
    assert [1, 2, 4, 6] in list(x_test)
    np.testing.assert_array_equal(y_train, np.array([1, 0, 1, 0])[first])


def test_imdb_num_words_skip_top_oov(imdb_files):
    (x_train, _), (x_test, _) = imdb.load_data(num_words=8, skip_top=5, seed=5, oov_char=2)
    first, second = _keras_order(5, 4, 3)
    for got, i in zip(x_train, first):
        shifted = [1] + [w + 3 for w in IMDB_TRAIN[i]]
        assert got == [w if 5 <= w < 8 else 2 for w in shifted]
    # index 1 (start_char) and the ranks >= 8 became 2; rank 2 -> 5 and 4 -> 7 kept
    assert sorted({w for x in x_train for w in x} | {w for x in x_test for w in x}) == [2, 5, 6, 7]


def test_imdb_oov_none_drops_and_no_start_char(imdb_files):
    (x_train, _), _ = imdb.load_data(num_words=8, oov_char=None, start_char=None, index_from=0,
                                     seed=0)
    first, _ = _keras_order(0, 4, 3)
    for got, i in zip(x_train, first):
        assert got == [w for w in IMDB_TRAIN[i] if w < 8]


def test_imdb_maxlen_filters_by_length_with_start_char(imdb_files):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(maxlen=3, seed=5)
    # kept: fewer than 3 indices with start_char: [10] -> [1, 13], [5] -> [1, 8]; then
    # num_words = 13, so 13 itself becomes oov_char. Each stays in its own set.
    assert [list(x) for x in x_train] == [[1, 2]]
    assert [list(x) for x in x_test] == [[1, 8]]
    assert list(y_train) == [0] and list(y_test) == [1]


def test_imdb_maxlen_too_small_and_bad_keyword(imdb_files):
    with pytest.raises(ValueError, match="maxlen=1"):
        imdb.load_data(maxlen=1)
    with pytest.raises(TypeError, match="bogus"):
        imdb.load_data(bogus=3)
    with pytest.warns(UserWarning, match="num_words"):
        (x_train, _), _ = imdb.load_data(nb_words=4, seed=5)
    assert max(w for x in x_train for w in x) < 4


def test_imdb_word_index(imdb_files):
    assert imdb.get_word_index() == {"the": 1, "and": 2, "film": 3}


REUTERS = [[1, 2], [3, 4, 5], [6], [7, 8, 9, 10], [2, 2, 2]]


def test_reuters_split_and_word_index(host):
    host("reuters.npz", _npz(x=_objects(REUTERS), y=np.array([3, 45, 0, 7, 3])))
    host("reuters_word_index.json", json.dumps({"said": 1}).encode())
    (x_train, y_train), (x_test, y_test) = reuters.load_data(test_split=0.4, seed=9,
                                                             num_words=10)
    order = np.arange(5)
    np.random.RandomState(9).shuffle(order)
    assert len(x_train) == 3 and len(x_test) == 2
    for got, i in zip(list(x_train) + list(x_test), order):
        assert got == [1] + [w + 3 if w + 3 < 10 else 2 for w in REUTERS[i]]
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]),
                                  np.array([3, 45, 0, 7, 3])[order])
    assert reuters.get_word_index() == {"said": 1}
