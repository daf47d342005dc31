"""``multi_gpu_model`` (Keras 2.2's name) for gpuseq's data-parallel training."""
import sys

from .mpi_environment import launched_size


def multi_gpu_model(model, gpus=None, cpu_merge=True, cpu_relocation=False):
    """The model itself, when the script runs on ``gpus`` processes.

    gpuseq trains on several GPUs by data parallelism across processes (one GPU each):
    run the script with ``gpuseq-run -n N script.py``, and ``fit`` splits every (global)
    batch over the N processes and averages the gradients. This function checks that
    the job has ``gpus`` processes and returns ``model`` unchanged.

    Args:
        model: a gpuseq model.
        gpus: the number of GPUs (processes) expected; an int >= 2, or a list of GPU
            ids (its length counts).
        cpu_merge, cpu_relocation: Keras arguments without effect here.

    Raises:
        ValueError: when the job does not have ``gpus`` processes, with the command
            that starts it.
    """
    n = len(gpus) if isinstance(gpus, (list, tuple)) else gpus
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"gpus must be the number of GPUs (an integer >= 1) or a list of GPU "
                         f"ids. Received: gpus={gpus!r}")
    world = _world_size()
    if world != n:
        raise ValueError(
            f"multi_gpu_model(model, gpus={n}) needs the script to run on {n} processes (one "
            f"per GPU), but it runs on {world}. Start it with `gpuseq-run -n {n} "
            "your_script.py` (pip install gpuseq[distributed]); fit's batch_size is then the "
            "global batch, split over the processes.")
    return model


def _world_size():
    """The job's number of processes: MPI's communicator once mpi4py is loaded, else
    what the launcher's environment announces."""
    if "mpi4py.MPI" in sys.modules:
        return sys.modules["mpi4py.MPI"].COMM_WORLD.Get_size()
    return launched_size()
