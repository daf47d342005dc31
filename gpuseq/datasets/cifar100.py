"""CIFAR-100: 50,000 training and 10,000 test colour images, 100 fine or 20 coarse classes."""
import os

from ._remote import fetch
from .cifar import as_column, load_batch, to_image_data_format


def load_data(label_mode="fine"):
    """Loads CIFAR-100 (the python archive, extracted in ``~/.keras/datasets``).

    Args:
        label_mode: 'fine' (100 classes) or 'coarse' (20 super-classes).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (n, 32, 32, 3) (or
        channels first) and int64 labels of shape (n, 1).

    Example:
        >>> (x_train, y_train), _ = cifar100.load_data(label_mode='coarse')  # doctest: +SKIP
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError("label_mode must be 'fine' or 'coarse'. Received: label_mode=%r"
                         % (label_mode,))
    folder = fetch("cifar-100-python", untar=True)
    key = label_mode + "_labels"
    x_train, y_train = load_batch(os.path.join(folder, "train"), label_key=key)
    x_test, y_test = load_batch(os.path.join(folder, "test"), label_key=key)
    return ((to_image_data_format(x_train), as_column(y_train)),
            (to_image_data_format(x_test), as_column(y_test)))
