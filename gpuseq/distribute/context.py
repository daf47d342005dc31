"""Which process this is, among how many: the job's communicator, made once.

A process started by an MPI launcher (``gpuseq-run``, ``mpiexec``) with more than one
rank finds MPI's environment variables (MPICH/Hydra: ``PMI_SIZE`` / ``PMI_RANK``; Open
MPI: ``OMPI_COMM_WORLD_SIZE``) and joins the job on first use: :func:`initialize` runs
implicitly. A plain process (or a job of one rank) uses :class:`SingleProcess` and
never imports mpi4py.
"""
import sys

from ..backend import dispatch
from ..utils.mpi_environment import launched_size
from .communicators import MpiCommunicator, NcclCommunicator, SingleProcess

_state = {"comm": None}


def initialize(communicator=None):
    """Join the job and return its communicator (idempotent).

    Args:
        communicator: None (the default: ``'nccl'`` on the GPU backend when
            ``cupy.cuda.nccl`` loads, else ``'mpi'``), ``'mpi'``, ``'nccl'``, or a
            communicator object.

    Under one rank, or without an MPI launcher, this is a
    :class:`~gpuseq.distribute.communicators.SingleProcess` communicator and mpi4py
    is not imported. Under ``N > 1`` ranks, mpi4py must be installed
    (``pip install gpuseq[distributed]``).

    Example:
        >>> import gpuseq.distribute as dist
        >>> dist.initialize()      # optional: fit() calls it when MPI started the script
        >>> dist.rank(), dist.size()
    """
    if _state["comm"] is not None and communicator is None:
        return _state["comm"]
    if communicator is not None and not isinstance(communicator, str):
        _state["comm"] = communicator
        return communicator
    if communicator not in (None, "mpi", "nccl"):
        raise ValueError("communicator must be None, 'mpi', 'nccl' or a communicator "
                         f"object. Received: communicator={communicator!r}")
    _state["comm"] = _make_communicator(communicator)
    return _state["comm"]


def _make_communicator(kind):
    if launched_size() <= 1 and "mpi4py" not in sys.modules and kind != "nccl":
        return SingleProcess()
    mpi = _mpi_communicator() if launched_size() > 1 or "mpi4py" in sys.modules else None
    if mpi is not None and mpi.size == 1 and kind is None:
        return SingleProcess()
    if kind == "nccl" or (kind is None and _gpu_backend()):
        return NcclCommunicator(mpi)
    return mpi


def _mpi_communicator():
    try:
        import mpi4py  # noqa: F401  optional dependency, loaded only under MPI
    except ImportError:
        raise ImportError(
            f"This process was started by MPI with {launched_size()} ranks, and data-parallel "
            "training needs mpi4py. Install it with `pip install gpuseq[distributed]` "
            "(mpi4py and MPICH).") from None
    return MpiCommunicator()


def _gpu_backend():
    return dispatch.is_gpu()


def communicator():
    """The job's communicator (joining the job first when MPI started it)."""
    return _state["comm"] if _state["comm"] is not None else initialize()


def is_distributed():
    """True when this process is one of several ranks (without importing mpi4py in a
    plain process)."""
    if _state["comm"] is None and launched_size() <= 1 and "mpi4py" not in sys.modules:
        return False
    return communicator().size > 1


def rank():
    """This process's rank, 0 .. size() - 1 (0 in a plain process)."""
    return communicator().rank if is_distributed() else 0


def size():
    """The number of processes of the job (1 in a plain process)."""
    return communicator().size if is_distributed() else 1


def local_rank():
    """This process's index among the processes of its machine (0 in a plain process):
    the GPU it uses."""
    return communicator().local_rank if is_distributed() else 0


def is_chief():
    """True on rank 0: the process that prints, writes files and checkpoints."""
    return rank() == 0
