"""Fashion-MNIST: 28x28 grayscale images of 10 kinds of clothing, in MNIST's layout."""
import gzip
import os

import numpy as np

from ._remote import FASHION_FILES, fetch

_LABEL_HEADER = 8    # idx1: magic number, item count
_IMAGE_HEADER = 16   # idx3: magic number, count, rows, columns


def _read_idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def load_data():
    """Loads Fashion-MNIST (four gzipped idx files in ``~/.keras/datasets/fashion-mnist``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 28, 28), uint8 labels (n,).

    Example:
        >>> (x_train, y_train), _ = fashion_mnist.load_data()  # doctest: +SKIP
    """
    paths = [fetch(name, cache_subdir=os.path.join("datasets", "fashion-mnist"))
             for name in FASHION_FILES]
    y_train = _read_idx(paths[0], _LABEL_HEADER)
    x_train = _read_idx(paths[1], _IMAGE_HEADER).reshape(len(y_train), 28, 28)
    y_test = _read_idx(paths[2], _LABEL_HEADER)
    x_test = _read_idx(paths[3], _IMAGE_HEADER).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
