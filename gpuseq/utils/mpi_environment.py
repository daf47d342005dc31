"""What an MPI launcher tells a process through its environment (read without MPI).

MPICH's Hydra sets ``PMI_SIZE`` / ``PMI_RANK`` / ``MPI_LOCALRANKID``; Open MPI sets
``OMPI_COMM_WORLD_SIZE`` / ``OMPI_COMM_WORLD_LOCAL_RANK``; PMIx launchers
``PMIX_SIZE``. Reading them lets a plain process know it is alone without importing
mpi4py.
"""
import os

SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_LOCAL_RANK")


def _first_int(names, default):
    for var in names:
        value = os.environ.get(var)
        if value and value.isdigit():
            return int(value)
    return default


def launched_size():
    """The number of ranks MPI's environment announces (1 when there is none)."""
    return _first_int(SIZE_VARIABLES, 1)


def launched_local_rank():
    """This process's local rank from MPI's environment (0 when there is none)."""
    return _first_int(LOCAL_RANK_VARIABLES, 0)
