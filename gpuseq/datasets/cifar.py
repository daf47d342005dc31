"""Reading the pickled batches of the CIFAR-10 and CIFAR-100 archives."""
import pickle

import numpy as np

from .. import backend as K


def load_batch(fpath, label_key="labels"):
    """One CIFAR batch file: ``(data (n, 3, 32, 32) uint8, labels list)``.

    Args:
        fpath: the batch file (a Python pickle written by Python 2).
        label_key: 'labels' (CIFAR-10), 'fine_labels' or 'coarse_labels' (CIFAR-100).
    """
    with open(fpath, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    batch = {(k.decode("utf8") if isinstance(k, bytes) else k): v for k, v in batch.items()}
    data = batch["data"]
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


def to_image_data_format(x):
    """CIFAR's (n, 3, 32, 32) images in the layout of `K.image_data_format()`."""
    if K.image_data_format() == "channels_last":
        return x.transpose(0, 2, 3, 1)
    return x


def as_column(labels):
    """Labels as an (n, 1) array, the shape Keras gives CIFAR labels."""
    return np.reshape(labels, (len(labels), 1))
