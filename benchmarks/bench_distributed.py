"""Data-parallel training on the CPU: samples/second at 1 and 2 ranks, allreduce share.

Usage: python benchmarks/bench_distributed.py [--models mlp,conv1d,vgg] [--ranks 1,2]
       python benchmarks/bench_distributed.py --nccl [--models ...] [--rounds 3]

Each configuration runs ``mpiexec -n R -bind-to core python -m mpi4py`` on this file
(one core per rank, one BLAS thread), trains the seed models of bench_mlp.py /
bench_conv.py with fit() for a few epochs at a fixed global batch, and reports from rank
0: samples per second (after a warm-up epoch) and the share of the step time spent in
the gradient allreduce (measured around the communicator's collective calls). The
machine's load (``uptime``) and CPU model are printed with the results: on a shared
machine the figures move with the load.

``--nccl`` (a GPU with CuPy and NCCL): what the data-parallel machinery costs on one
GPU. In one process, each model trains plainly and through a one-rank NCCL
communicator (the step's gradients, moving statistics and logs packed into buckets,
reduced by NCCL on the CUDA stream and unpacked; inside the captured CUDA graph where
graphs are used), epochs alternated between the two, and the overhead is printed.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

# samples, global batch, epochs timed (after one warm-up epoch)
SETTINGS = {"mlp": (4096, 128, 3), "conv1d": (512, 64, 2), "vgg": (64, 32, 1)}


def _build(name):
    import gpuseq
    if name == "mlp":
        import bench_mlp
        return bench_mlp.build_mlp(gpuseq), bench_mlp.make_data("mlp", SETTINGS[name][0])[:2]
    import bench_conv
    builder = bench_conv.build_vgg if name == "vgg" else bench_conv.build_conv1d
    return builder(gpuseq), bench_conv.make_data(name, SETTINGS[name][0])


def worker(name):
    from gpuseq import distribute as dist
    from gpuseq.distribute import communicators as comm_mod
    spent = [0.0]
    original = comm_mod.MpiCommunicator._allreduce_sum

    def timed(self, buf):
        t = time.perf_counter()
        original(self, buf)
        spent[0] += time.perf_counter() - t

    comm_mod.MpiCommunicator._allreduce_sum = timed
    model, (x, y) = _build(name)
    n, batch, epochs = SETTINGS[name]
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)          # warm-up
    spent[0] = 0.0
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
    elapsed = time.perf_counter() - t
    n_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    if dist.is_chief():
        print(json.dumps({"model": name, "ranks": dist.size(),
                          "samples_per_s": n * epochs / elapsed,
                          "allreduce_share": spent[0] / elapsed,
                          "grad_bytes": 4 * n_params, "steps": epochs * -(-n // batch)}))


def _one_rank_nccl():
    """A one-rank NcclCommunicator on the current GPU, or SystemExit saying what is
    missing."""
    from gpuseq.backend import dispatch
    cupy, why = dispatch._cupy_probe()
    if cupy is None:
        raise SystemExit(f"--nccl needs a CUDA device and CuPy: {why}")
    try:
        from cupy.cuda import nccl  # noqa: F401  (the GPU extras)
    except ImportError as e:
        raise SystemExit(f"--nccl needs NCCL for CuPy (pip install nvidia-nccl-cu12): {e}")
    from gpuseq.distribute import communicators
    return communicators.NcclCommunicator(None)


def nccl_overhead(names, rounds):
    """Samples/s of each model trained plainly and through a one-rank NCCL
    communicator (DataParallel), timed epochs alternated; prints one row per model."""
    import cupy
    from gpuseq.backend import dispatch
    from gpuseq.distribute import strategy
    comm = _one_rank_nccl()
    through_nccl = strategy.DataParallel(comm)
    plain_current = strategy.current
    modes = {"plain": plain_current, "nccl": lambda: through_nccl}
    print(f"device: {_device_name()}; rounds: {rounds}")
    print(f"{'model':8} {'plain/s':>10} {'nccl/s':>10} {'overhead':>9} {'grad MB':>8}")
    with dispatch.use_backend("cupy"):
        for name in names:
            n, batch, _ = SETTINGS[name]
            rates = {mode: [] for mode in modes}
            models = {}
            try:
                for mode, current in modes.items():
                    strategy.current = current
                    models[mode], data = _build(name)
                    models[mode].fit(*data, batch_size=batch, epochs=1, verbose=0)  # warm-up
                for _ in range(rounds):
                    for mode, current in modes.items():
                        strategy.current = current
                        t = time.perf_counter()
                        models[mode].fit(*data, batch_size=batch, epochs=1, verbose=0)
                        cupy.cuda.Device().synchronize()
                        rates[mode].append(n / (time.perf_counter() - t))
            finally:
                strategy.current = plain_current
            plain, nccl = (float(np.median(rates[m])) for m in ("plain", "nccl"))
            n_params = sum(int(np.prod(w.shape)) for w in models["plain"].trainable_weights)
            print(f"{name:8} {plain:10.1f} {nccl:10.1f} {100 * (plain / nccl - 1):8.1f}% "
                  f"{4 * n_params / 1e6:8.2f}")


def _device_name():
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return props["name"].decode()


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return cpu, load


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp,conv1d,vgg")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--nccl", action="store_true",
                   help="one GPU: plain training against a one-rank NCCL communicator")
    p.add_argument("--rounds", type=int, default=3, help="--nccl: timed epochs per mode")
    opts = p.parse_args(argv)
    if opts.worker:
        return worker(opts.worker)
    if opts.nccl:
        return nccl_overhead(opts.models.split(","), opts.rounds)
    from gpuseq.distribute.launcher import find_mpiexec
    mpiexec = find_mpiexec()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               GPUSEQ_BACKEND=os.environ.get("GPUSEQ_BACKEND", "numpy"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cpu, load = machine()
    print(f"CPU: {cpu}; cores: {os.cpu_count()}\nbefore: {load}")
    rows = []
    for name in opts.models.split(","):
        for r in [int(v) for v in opts.ranks.split(",")]:
            cmd = [mpiexec, "-n", str(r), "-bind-to", "core", sys.executable, "-m", "mpi4py",
                   os.path.abspath(__file__), "--worker", name]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
            if out.returncode or not lines:
                print(f"{name} at {r} rank(s) failed:\n{out.stderr[-2000:]}")
                continue
            rows.append(json.loads(lines[-1]))
    print(f"after: {machine()[1]}")
    print(f"{'model':8} {'ranks':>5} {'samples/s':>10} {'speed-up':>8} {'allreduce':>9} "
          f"{'grad MB':>8}")
    base = {}
    for row in rows:
        base.setdefault(row["model"], row["samples_per_s"])
        print(f"{row['model']:8} {row['ranks']:5d} {row['samples_per_s']:10.1f} "
              f"{row['samples_per_s'] / base[row['model']]:8.2f} "
              f"{100 * row['allreduce_share']:8.1f}% {row['grad_bytes'] / 1e6:8.2f}")


if __name__ == "__main__":
    main()
