"""Boston housing prices: 506 houses, 13 features, price in thousands of dollars."""
import numpy as np

from ._remote import fetch


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Loads the Boston housing data, shuffled with `seed` and split.

    Args:
        path: file name in the cache.
        test_split: fraction of the samples in the test set, in [0, 1).
        seed: seed of the shuffle (the order Keras 2.2.4 gives for the same seed).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float64 features (n, 13), prices (n,).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = boston_housing.load_data()  # doctest: +SKIP
    """
    if not 0 <= test_split < 1:
        raise ValueError("test_split must be in [0, 1). Received: test_split=%r" % (test_split,))
    with np.load(fetch("boston_housing.npz", path)) as f:
        x, y = f["x"], f["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    cut = int(len(x) * (1 - test_split))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
