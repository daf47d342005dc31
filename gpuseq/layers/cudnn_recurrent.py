"""CuDNNLSTM and CuDNNGRU: Keras 2's cuDNN-backed recurrent layers, by their weights.

The maths is LSTM's, and GRU's with ``reset_after=True`` (recurrent activation
sigmoid, activation tanh); the layers differ from LSTM / GRU by how Keras 2 stores
their weights, so that HDF5 files written by Keras 2 with these layers load and
give Keras's outputs. They run everywhere gpuseq runs (NumPy or CUDA; the name is
historical), as the same fused ops as LSTM / GRU.

Layout of the stored weights, per gate block (LSTM gates i|f|c|o, GRU z|r|h):

===========  =====================  ==========================================
weight       shape                  relation to the LSTM / GRU weight block
===========  =====================  ==========================================
kernel       (features, g units)    ``block.T.reshape(block.shape, order='F')``
recurrent    (units, g units)       ``block.T``
bias         (2 g units,)           LSTM: input half + recurrent half;
                                    GRU: ``reshape(2, 3 units)``
===========  =====================  ==========================================

:func:`cudnn_to_standard` and :func:`standard_to_cudnn` convert weight lists both
ways (the conversion Keras 2 applies when it loads a file of one into the other).
"""
import numpy

from .. import backend as K
from .recurrent import GRU, LSTM

__all__ = ["CuDNNGRU", "CuDNNLSTM", "cudnn_to_standard", "standard_to_cudnn"]

_GATES = {"lstm": 4, "gru": 3}


def _blocks(array, gates):
    return numpy.split(numpy.asarray(array), gates, axis=-1)


def cudnn_to_standard(kind, weights):
    """A CuDNNLSTM / CuDNNGRU weight list as LSTM / GRU(reset_after=True) weights.

    Args:
        kind: 'lstm' or 'gru'.
        weights: [kernel, recurrent_kernel, bias] in the cuDNN layout (NumPy arrays).

    Returns: [kernel, recurrent_kernel, bias] for LSTM (bias (4 units,)) or GRU with
    reset_after=True (bias (2, 3 units)).
    """
    g = _GATES[kind]
    kernel = numpy.hstack([b.T.reshape(b.shape, order="F") for b in _blocks(weights[0], g)])
    recurrent = numpy.hstack([b.T for b in _blocks(weights[1], g)])
    bias = numpy.asarray(weights[2])
    bias = bias.reshape(2, -1).sum(axis=0) if kind == "lstm" else bias.reshape(2, -1)
    return [kernel, recurrent, bias]


def standard_to_cudnn(kind, weights):
    """LSTM / GRU(reset_after=True) weights in the CuDNNLSTM / CuDNNGRU layout (the
    LSTM bias is split evenly between the input and recurrent halves)."""
    g = _GATES[kind]
    kernel = numpy.hstack([b.T.reshape(b.shape, order="C") for b in _blocks(weights[0], g)])
    recurrent = numpy.hstack([b.T for b in _blocks(weights[1], g)])
    bias = numpy.asarray(weights[2])
    bias = numpy.tile(0.5 * bias, 2) if kind == "lstm" else bias.reshape(-1)
    return [kernel, recurrent, bias]


def _standard_kernel(kernel, gates):
    """The tape version of the kernel conversion: each (features, units) block b
    becomes ``reshape(b, (units, features)).T`` (equal to b.T read in Fortran order)."""
    f, gu = kernel.shape
    u = gu // gates
    return K.concatenate([K.transpose(K.reshape(kernel[:, k * u:(k + 1) * u], (u, f)))
                          for k in range(gates)], axis=-1)


def _standard_recurrent(recurrent_kernel, gates):
    u = recurrent_kernel.shape[0]
    return K.concatenate([K.transpose(recurrent_kernel[:, k * u:(k + 1) * u])
                          for k in range(gates)], axis=-1)


_KERAS2_ARGS = ("kernel_initializer", "recurrent_initializer", "bias_initializer",
                "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                "bias_constraint", "return_sequences", "return_state", "go_backwards",
                "stateful")


def _check_arguments(cls, kwargs):
    fixed = {"activation", "recurrent_activation", "dropout", "recurrent_dropout", "use_bias",
             "unroll", "implementation", "reset_after"}
    bad = sorted(set(kwargs) & fixed)
    if bad:
        plain = "LSTM" if cls == "CuDNNLSTM" else "GRU(reset_after=True)"
        raise TypeError(f"{cls} has a fixed cell (tanh, sigmoid gates, a bias, no dropout) "
                        f"and does not take {bad}. Use {plain} for other settings. "
                        f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in bad)}")


def _cudnn_config(cfg):
    """The entries of a plain LSTM / GRU config that Keras 2's CuDNN layers have."""
    keep = ("name", "trainable", "dtype", "batch_input_shape", "units") + _KERAS2_ARGS
    return {k: cfg[k] for k in keep if k in cfg}


class CuDNNLSTM(LSTM):
    """LSTM with Keras 2's CuDNNLSTM weight layout (activation tanh, gates sigmoid).

    Args:
        units: positive integer, size of the output and of both states.
        kernel_initializer, recurrent_initializer, bias_initializer: initializers.
        unit_forget_bias: ones on the forget-gate bias at initialization (default True).
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint,
        bias_constraint: as for LSTM.
        return_sequences, return_state, go_backwards, stateful: as for LSTM.

    Weights: ``kernel (features, 4 units)``, ``recurrent_kernel (units, 4 units)``,
    ``bias (8 units,)`` (input biases, then recurrent biases) in the cuDNN layout
    (see the module docstring).

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences=True``.

    Example:
        >>> model.add(CuDNNLSTM(64, input_shape=(20, 8)))
    """

    def __init__(self, units=None, unit_forget_bias=True, **kwargs):
        _check_arguments("CuDNNLSTM", kwargs)
        super().__init__(units, activation="tanh", recurrent_activation="sigmoid",
                         unit_forget_bias=unit_forget_bias, **kwargs)

    def _bias_shape(self):
        return (8 * self.units,)

    def _bias_initializer(self):
        base = self.bias_initializer
        if not self.unit_forget_bias:
            return base
        u = self.units

        def init(shape, dtype="float32"):
            b = numpy.asarray(base(shape, dtype)).copy()
            b[5 * u:6 * u] = 1.0      # the recurrent half's forget gate, as Keras 2
            return b.astype(dtype)
        return init

    def _op_weights(self):
        u = self.units
        bias = self.bias[:4 * u] + self.bias[4 * u:]
        return (_standard_kernel(self.kernel, 4), _standard_recurrent(self.recurrent_kernel, 4),
                bias)

    def get_config(self):
        cfg = _cudnn_config(LSTM.get_config(self))
        cfg["unit_forget_bias"] = self.unit_forget_bias
        return cfg


class CuDNNGRU(GRU):
    """GRU (reset_after=True, activation tanh, gates sigmoid) with Keras 2's CuDNNGRU
    weight layout.

    Args:
        units: positive integer.
        kernel_initializer, recurrent_initializer, bias_initializer, regularizers,
        constraints, return_sequences, return_state, go_backwards, stateful: as for GRU.

    Weights: ``kernel (features, 3 units)``, ``recurrent_kernel (units, 3 units)``,
    ``bias (6 units,)`` (input biases, then recurrent biases) in the cuDNN layout.

    Input shape: ``(batch, timesteps, features)``.
    Output shape: ``(batch, units)``, or ``(batch, timesteps, units)`` with
    ``return_sequences=True``.

    Example:
        >>> model.add(CuDNNGRU(64, return_sequences=True, input_shape=(20, 8)))
    """

    def __init__(self, units=None, **kwargs):
        _check_arguments("CuDNNGRU", kwargs)
        super().__init__(units, activation="tanh", recurrent_activation="sigmoid",
                         reset_after=True, **kwargs)

    def _bias_shape(self):
        return (6 * self.units,)

    def _op_weights(self):
        return (_standard_kernel(self.kernel, 3), _standard_recurrent(self.recurrent_kernel, 3),
                K.reshape(self.bias, (2, 3 * self.units)))

    def get_config(self):
        return _cudnn_config(GRU.get_config(self))
