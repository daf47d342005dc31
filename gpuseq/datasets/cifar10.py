"""CIFAR-10: 50,000 training and 10,000 test colour images of 32x32 pixels, 10 classes."""
import os

import numpy as np

from ._remote import fetch
from .cifar import as_column, load_batch, to_image_data_format

_TRAIN_BATCHES = 5


def load_data():
    """Loads CIFAR-10 (the python archive, extracted in ``~/.keras/datasets``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 32, 32, 3) (or
        (n, 3, 32, 32) under 'channels_first'); labels of shape (n, 1), uint8 for the
        training set and int64 for the test set, as in Keras 2.2.4.

    Example:
        >>> (x_train, y_train), (x_test, y_test) = cifar10.load_data()  # doctest: +SKIP
    """
    folder = fetch("cifar-10-batches-py", untar=True)
    parts = [load_batch(os.path.join(folder, "data_batch_%d" % i))
             for i in range(1, _TRAIN_BATCHES + 1)]
    x_train = np.concatenate([x for x, _ in parts]).astype("uint8")
    y_train = np.concatenate([np.asarray(y) for _, y in parts]).astype("uint8")
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    return ((to_image_data_format(x_train), as_column(y_train)),
            (to_image_data_format(x_test), as_column(y_test)))
