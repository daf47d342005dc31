"""Keras 1's name of `gpuseq.losses`: ``from gpuseq.objectives import
categorical_crossentropy`` (Keras 2.2.4 kept ``keras.objectives`` the same way)."""
from .losses import *  # noqa: F401,F403
from .losses import deserialize, get, serialize  # noqa: F401
