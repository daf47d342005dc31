"""Process-wide settings under the names Keras 3 gives them (``keras.config``).

Example:
    >>> import gpuseq
    >>> gpuseq.config.floatx()
    'float32'
"""
from .backend import (epsilon, floatx, image_data_format, set_epsilon,  # noqa: F401
                      set_floatx, set_image_data_format)
from .layers.function_code import enable_unsafe_deserialization, in_safe_mode  # noqa: F401

__all__ = ["enable_unsafe_deserialization", "in_safe_mode", "floatx", "set_floatx",
           "epsilon", "set_epsilon", "image_data_format", "set_image_data_format"]
