"""Saving and loading: Keras-compatible HDF5 weight files and whole-model files.

Files are real HDF5 (h5py) files in Keras's own layouts, so weights and models
travel between gpuseq and Keras in both directions:

* ``model.save_weights('w.h5')`` writes the Keras 2 layout, which Keras 2 and
  Keras 3 load with ``model.load_weights('w.h5')``; a name ending in
  ``.weights.h5`` gets the Keras 3 layout.
* ``model.load_weights(path)`` reads gpuseq, Keras 1 (best effort), Keras 2 and
  Keras 3 (``.h5`` and ``.weights.h5``) files.
* ``model.save('m.h5')`` / :func:`load_model` keep the architecture, the weights,
  the compile arguments and the optimizer state in one file.
* ``model.to_json()`` / :func:`model_from_json`, ``model.to_yaml()`` /
  :func:`model_from_yaml` and :func:`model_from_config` handle architectures.

Writes are atomic (a temporary file renamed into place) and loads are
all-or-nothing (every shape is checked before any weight changes).

Example:
    >>> model.save('model.h5')
    >>> from gpuseq.models import load_model
    >>> model = load_model('model.h5')
"""
from .config import (deserialize_layer, model_from_config, model_from_json,  # noqa: F401
                     model_from_yaml, model_to_json, model_to_yaml)
from .hdf5 import HDF5_OBJECT_HEADER_LIMIT, SavedFileError  # noqa: F401
from .model_io import load_model, save_model  # noqa: F401
from .weights import load_weights, save_weights  # noqa: F401

__all__ = ["save_weights", "load_weights", "save_model", "load_model", "model_from_config",
           "model_from_json", "model_from_yaml", "model_to_json", "model_to_yaml",
           "deserialize_layer", "SavedFileError"]
