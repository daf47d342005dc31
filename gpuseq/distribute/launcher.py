"""``gpuseq-run -n N script.py [args]``: run a training script on N processes.

It finds MPI's ``mpiexec`` (next to this Python, as ``pip install gpuseq[distributed]``
puts it, or on PATH) and runs ``mpiexec -n N python -m mpi4py script.py args``:
under ``python -m mpi4py`` an exception on any rank aborts the whole job, which then
exits non-zero within seconds instead of hanging. On the CPU each rank is bound to a
core (MPICH's ``-bind-to core``); with GPUs each rank sees only the GPU of its local
rank (``CUDA_VISIBLE_DEVICES``). Several machines: ``mpiexec -f hosts -n 8 python -m
mpi4py train.py`` directly.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys

from ..utils.mpi_environment import launched_local_rank

INSTALL_HINT = "pip install gpuseq[distributed]"


def find_mpiexec():
    """The path of ``mpiexec``: next to ``sys.executable`` first, then on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.path.isfile(here) and os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError(
            f"gpuseq-run needs MPI's mpiexec, found neither next to {sys.executable} nor on "
            f"PATH. Install it with `{INSTALL_HINT}` (mpi4py and MPICH).")
    return found


def check_mpi4py():
    """Raise a clear error when mpi4py is not importable by this Python."""
    if importlib.util.find_spec("mpi4py") is None:
        raise ModuleNotFoundError(f"gpuseq-run runs the script under `python -m mpi4py`, but "
                                  f"mpi4py is not installed. Install it with `{INSTALL_HINT}`.")


def visible_gpus():
    """The number of GPUs this machine shows (0 without nvidia-smi or CUDA devices)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return len([d for d in listed.split(",") if d.strip() and d.strip() != "-1"])
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def supports_binding(mpiexec):
    """True when this mpiexec (MPICH's Hydra) accepts ``-bind-to core``."""
    try:
        out = subprocess.run([mpiexec, "-h"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return "-bind-to" in out.stdout + out.stderr


def build_command(n, script, args, mpiexec, gpus, bind):
    """The mpiexec command line of :func:`main` (a list of strings)."""
    cmd = [mpiexec, "-n", str(n)]
    if bind and not gpus:
        cmd += ["-bind-to", "core"]
    cmd += [sys.executable, "-m", "mpi4py"]
    if gpus:
        cmd += ["-m", "gpuseq.distribute.launcher", "--rank-entry", str(gpus)]
    return cmd + [script] + list(args)


def _parser():
    p = argparse.ArgumentParser(
        prog="gpuseq-run", description="Run a gpuseq training script on N processes "
        "(data-parallel: fit's batch_size is the global batch).")
    p.add_argument("-n", "--np", type=int, required=True, help="number of processes")
    p.add_argument("--cpu", action="store_true", help="ignore GPUs: one core per rank")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.add_argument("script", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")
    return p


def main(argv=None):
    """Console entry point of ``gpuseq-run``; returns the job's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--rank-entry"]:
        return _rank_entry(int(argv[1]), argv[2], argv[3:])
    opts = _parser().parse_args(argv)
    if opts.np < 1:
        raise SystemExit(f"gpuseq-run: -n must be at least 1. Received: -n {opts.np}")
    if not os.path.isfile(opts.script):
        raise SystemExit(f"gpuseq-run: no such script: {opts.script}")
    try:
        mpiexec = find_mpiexec()
        check_mpi4py()
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise SystemExit(f"gpuseq-run: {e}") from None
    gpus = 0 if opts.cpu else visible_gpus()
    cmd = build_command(opts.np, opts.script, opts.args, mpiexec, gpus,
                        supports_binding(mpiexec))
    if opts.dry_run:
        print(" ".join(cmd))
        return 0
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")        # one core per rank
    return subprocess.call(cmd, env=env)


def _rank_entry(gpus, script, args):
    """Inside one rank (under ``python -m mpi4py``): see only the GPU of this local rank,
    then run the script as ``__main__``."""
    import runpy
    os.environ["CUDA_VISIBLE_DEVICES"] = str(launched_local_rank() % max(gpus, 1))
    sys.argv = [script] + list(args)
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
