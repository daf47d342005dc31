"""Keras 1/2 import path ``keras.backend.tensorflow_backend``: ``set_session`` and friends."""
from .session import ConfigProto, GPUOptions, Session, get_session, set_session  # noqa: F401
