"""gpuseq: Keras-style Sequential deep learning on hand-written CUDA kernels (CuPy),
with a NumPy fallback that runs the same models on a machine without a GPU.

Keras code runs with one word changed::

    from gpuseq.models import Sequential
    from gpuseq.layers import Dense, Dropout
    from gpuseq.optimizers import SGD
    import gpuseq.backend as K
"""
from . import (activations, backend, callbacks, config, constraints, initializers,  # noqa: F401
               layers, losses, metrics, models, optimizers, preprocessing, regularizers,
               utils)
from .models import Sequential  # noqa: F401
from .version import __version__  # noqa: F401
