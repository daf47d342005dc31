"""Data-parallel training on the CPU: samples/second at 1 and 2 ranks, allreduce share.

Usage: python benchmarks/bench_distributed.py [--models mlp,conv1d,vgg] [--ranks 1,2]

Each configuration runs ``mpiexec -n R -bind-to core python -m mpi4py`` on this file
(one core per rank, one BLAS thread), trains the seed models of bench_mlp.py /
bench_conv.py with fit() for a few epochs at a fixed global batch, and reports from rank
0: samples per second (after a warm-up epoch) and the share of the step time spent in
the gradient allreduce (measured around the communicator's collective calls). The
machine's load (``uptime``) and CPU model are printed with the results: on a shared
machine the figures move with the load.
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
    opts = p.parse_args(argv)
    if opts.worker:
        return worker(opts.worker)
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
