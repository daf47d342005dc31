"""Utilities: label encoding, the progress bar and batch sources for `fit_generator`.

Example:
    >>> from gpuseq.utils import to_categorical
    >>> to_categorical([0, 1], num_classes=2)
    array([[1., 0.],
           [0., 1.]], dtype=float32)
"""
from ..backend import random as _grandom
from . import conv_utils
from . import data_utils
from . import generic_utils
from . import io_utils
from . import layer_utils
from . import np_utils
from . import vis_utils
from .data_utils import GeneratorEnqueuer, OrderedEnqueuer, Sequence, SequenceEnqueuer
from .file_cache import get_file
from .generic_utils import (CustomObjectScope, Progbar, custom_object_scope, get_custom_objects,
                            slice_arrays, to_list, unpack_singleton)
from .io_utils import HDF5Matrix
from .layer_utils import print_summary
from .multi_gpu_utils import multi_gpu_model
from .np_utils import normalize, to_categorical
from .vis_utils import model_to_dot, plot_model

__all__ = [
    "multi_gpu_model", "to_categorical", "normalize", "Progbar", "Sequence", "SequenceEnqueuer",
    "OrderedEnqueuer", "GeneratorEnqueuer", "to_list", "unpack_singleton",
    "slice_arrays", "np_utils", "generic_utils", "data_utils", "get_file",
    "vis_utils", "plot_model", "model_to_dot", "layer_utils", "print_summary",
    "CustomObjectScope", "custom_object_scope", "get_custom_objects", "HDF5Matrix",
    "io_utils", "conv_utils",
]

# --- Random seeding ---------------------------------------------------------------


def set_random_seed(seed):
    """Seed every random source gpuseq uses (weight init, dropout, shuffling), and
    NumPy's and Python's global generators, so that a NumPy-backend run is reproducible.

    Args:
        seed: non-negative integer.

    Example:
        >>> from gpuseq.utils import set_random_seed
        >>> set_random_seed(42)
    """
    _grandom.set_seed(seed)


__all__.append("set_random_seed")
