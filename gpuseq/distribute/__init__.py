"""Data-parallel training across processes, GPUs and machines (MPI and NCCL).

Launch a script on N processes with ``gpuseq-run -n N train.py`` (or
``mpiexec -n N python -m mpi4py train.py``); ``fit`` then trains one model on all of
them: ``batch_size`` is the global batch, each rank computes the gradients of its
slice, and the gradients are averaged before every update. In a plain process nothing
changes and mpi4py is not imported.

Functions: :func:`initialize`, :func:`rank`, :func:`size`, :func:`local_rank`,
:func:`is_chief`, :func:`allreduce`, :func:`broadcast`, :func:`broadcast_model`;
:func:`DistributedOptimizer` for custom loops; the callbacks :class:`BroadcastWeights`,
:class:`MetricAverage`, :class:`LearningRateWarmup`.
"""
from ..backend import dispatch
from . import strategy as _strategy
from .callbacks import BroadcastWeights, LearningRateWarmup, MetricAverage  # noqa: F401
from .communicators import (Communicator, MpiCommunicator, NcclCommunicator,  # noqa: F401
                           SingleProcess)
from .context import (communicator, initialize, is_chief, is_distributed,  # noqa: F401
                      local_rank, rank, size)
from .optimizer import DistributedOptimizer  # noqa: F401

__all__ = ["initialize", "rank", "size", "local_rank", "is_chief", "is_distributed",
           "communicator", "allreduce", "broadcast", "broadcast_model", "DistributedOptimizer",
           "BroadcastWeights", "MetricAverage", "LearningRateWarmup", "Communicator",
           "SingleProcess", "MpiCommunicator", "NcclCommunicator"]


def allreduce(array, average=True):
    """The sum (or, with ``average=True``, the mean) of ``array`` over all ranks, as a
    new array of the same shape and dtype (NumPy or device array).

    Example:
        >>> total = gpuseq.distribute.allreduce(numpy.ones(3), average=False)  # == size()
    """
    xp = dispatch.get_array_module(array)
    a = xp.asarray(array)
    comm = communicator() if is_distributed() else None
    if comm is None:
        return a.copy()
    scale = 1.0 / comm.size if average else None
    out = comm.allreduce_arrays([a], scale=scale)[0]
    return out.astype(a.dtype, copy=False)


def broadcast(array, root=0):
    """Rank ``root``'s value of ``array`` on every rank (``array`` is overwritten in
    place when it is an array; the value is also returned)."""
    xp = dispatch.get_array_module(array)
    a = array if hasattr(array, "shape") else xp.asarray(array)
    if is_distributed():
        communicator().broadcast_arrays([a], root)
    return a


def broadcast_model(model, root=0):
    """Rank ``root``'s weights, optimizer state and iteration count on every rank
    (every rank must call it; ``fit`` does it when it starts)."""
    if is_distributed():
        _strategy.broadcast_model(communicator(), model, root)
