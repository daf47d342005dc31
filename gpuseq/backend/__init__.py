"""gpuseq's backend, the ground floor: the array-module dispatcher, the session config,
the op packages (``numpy_ops`` / ``cupy_ops``), the autodiff tape, the random source,
symbolic tensors and the Keras backend functions. It imports nothing from the layers,
the engine or the models built on it (``tests/test_import_structure.py`` checks).

``import gpuseq.backend as K`` gives the functions user code needs
(``K.mean``, ``K.square``, ``K.clip``, ``K.epsilon``, ...), plus:

* :func:`backend` — the active backend's name ('numpy', 'cupy' or 'emulated');
* :func:`set_gpu_memory_fraction`, :func:`set_session`, :class:`Session`,
  :class:`ConfigProto` — the GPU memory cap;
* :func:`set_tf32` — TensorFloat-32 for float32 matrix products on the GPU (off by default);
* :func:`set_conv_algorithm` — im2col + cuBLAS or implicit GEMM on the tensor cores for
  the CUDA convolutions;
* :func:`to_device`, :func:`to_host` — data transfer;
* :func:`function` — evaluate symbolic tensors of a model
  (``K.function([model.input], [model.layers[3].output])``, see :mod:`.symbolic`);
* :func:`get_uid`, :func:`clear_session` — the counters behind automatic names;
* the fused ops of the built-in layers (:mod:`gpuseq.backend.nn`: ``dense``, ``conv2d``,
  ``pool2d``, ``batch_normalization``, ``recurrent``, ...);
* :func:`conv3d`, :func:`conv3d_transpose`, :func:`pool3d`, :func:`spatial_3d_padding`,
  :func:`spatial_3d_cropping`, :func:`resize_volumes` — functions on volumes (:mod:`.volumes`);
* :func:`local_conv1d`, :func:`local_conv2d` — unshared-weight convolutions (:mod:`.local`).
"""
from .autodiff import Tensor, Variable, no_grad  # noqa: F401
from .dispatch import (BackendUnavailableError, backend, cupy_available,  # noqa: F401
                       get_array_module, is_gpu, ops, set_backend, to_device, to_host,
                       use_backend, xp)
from .functions import *  # noqa: F401,F403
from .functions import (abs, all, any, max, min, pow, round, sum)  # noqa: F401,A004
from .nn import *  # noqa: F401,F403
from .local import local_conv1d, local_conv2d  # noqa: F401
from .volumes import (conv3d, conv3d_transpose, pool3d, resize_volumes,  # noqa: F401
                      spatial_3d_cropping, spatial_3d_padding)
from .recurrence import lstm_cell, rnn  # noqa: F401
from .session import (ConfigProto, GPUMemoryLimitError, GPUOptions, Session,  # noqa: F401
                      get_gpu_memory_fraction, get_session, gpu_memory_limit_bytes,
                      set_gpu_memory_fraction, set_session, set_tf32, tf32_enabled,
                      conv_algorithm, set_conv_algorithm)
