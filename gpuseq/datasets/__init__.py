"""Keras's small data sets: ``from gpuseq.datasets import mnist``, then
``(x_train, y_train), (x_test, y_test) = mnist.load_data()``.

Each ``load_data()`` returns what Keras 2.2.4 returns (shapes, dtypes, order). Files are
downloaded once by `gpuseq.utils.get_file` into Keras's cache (``~/.keras/datasets``,
shared with a Keras install; ``GPUSEQ_HOME`` or ``KERAS_HOME`` move it).
"""
from . import (boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist,  # noqa: F401
               reuters)
