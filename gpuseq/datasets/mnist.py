"""MNIST handwritten digits: 60,000 training and 10,000 test images of 28x28 pixels."""
import numpy as np

from ._remote import fetch


def load_data(path="mnist.npz"):
    """Loads MNIST (downloaded once into ``~/.keras/datasets``).

    Args:
        path: file name in the cache.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape (n, 28, 28) and
        uint8 digit labels of shape (n,).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
        >>> x_train.shape, y_train[:3]  # doctest: +SKIP
        ((60000, 28, 28), array([5, 0, 4], dtype=uint8))
    """
    with np.load(fetch("mnist.npz", path)) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
