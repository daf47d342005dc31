"""Training speed of the seed convolutional models: gpuseq against Keras 3 (torch, JAX).

Models (the Keras guide's, as in the seed documents):
  * vgg:    Conv2D(32, 3x3, relu) x 2 -> MaxPooling2D -> Dropout(0.25)
            -> Conv2D(64, 3x3, relu) x 2 -> MaxPooling2D -> Dropout(0.25) -> Flatten
            -> Dense(256, relu) -> Dropout(0.5) -> Dense(10, softmax) on 100x100x3 images,
            categorical cross-entropy, SGD(0.01, momentum 0.9, Nesterov); batch 32.
  * conv1d: Conv1D(64, 3, relu) x 2 -> MaxPooling1D(3) -> Conv1D(128, 3, relu) x 2
            -> GlobalAveragePooling1D -> Dropout(0.5) -> Dense(1, sigmoid) on sequences
            of 64 steps x 100 features, binary cross-entropy, RMSprop; batch 16.

The figure is samples per second of one training epoch (after a warm-up fit on a few
batches), every framework on the same data in the same run; each Keras backend runs
in its own child process (benchmarks/peers.py). With ``--repeat R`` the frameworks run
R rounds one after another (gpuseq, the peers, gpuseq, ...); the table shows the median
of each framework and the median of the per-round ratios, which drift less than
absolute figures on a machine shared with other work. Targets: gpuseq's NumPy backend at
least 1.2x Keras-on-torch and 1.2x Keras-on-JAX on vgg, at least 1.0x Keras-on-JAX on
conv1d (CPU).

    python benchmarks/bench_conv.py                       # NumPy backend vs Keras torch/JAX
    python benchmarks/bench_conv.py --small               # tiny sizes, to see that it works
    python benchmarks/bench_conv.py --backend cupy        # gpuseq on the GPU
    python benchmarks/bench_conv.py --threads 1           # every framework on one thread
    python benchmarks/bench_conv.py --models conv1d --repeat 3   # 3 interleaved rounds
    python benchmarks/bench_conv.py --out benchmarks/results/conv.json
    python benchmarks/bench_conv.py --models vgg --peers --repeat 0   # only the peak table

On the NumPy backend a run with the vgg model also measures the machine's FMA peak
(benchmarks/fma_peak.cpp: independent vector FMAs, compiled with -march=native, one
thread per core) and times each of the model's four convolutions alone (forward, and
backward as the training step runs it), printing their GFLOP/s and the fraction of
the peak; the result file records both with the CPU model, its vector flags and the
load average.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from report import write_beside  # noqa: E402
from peers import cpu_description, environment, run_gpuseq, run_keras, thread_env  # noqa: E402

MODELS = {
    # samples per timed epoch (CPU run / GPU run / --small), batch size, target (peer, ratio)
    "vgg": {"samples": 320, "gpu": 3200, "small": 64, "batch_size": 32,
            "target": {"torch": 1.2, "jax": 1.2}},
    "conv1d": {"samples": 4096, "gpu": 16384, "small": 256, "batch_size": 16,
               "target": {"jax": 1.0}},
}


def make_data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    if model == "vgg":
        x = rng.random((n, 100, 100, 3), dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, size=n)]
    else:
        x = rng.random((n, 64, 100), dtype=np.float32)
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    return x, y


def build_vgg(api):
    """The seed's VGG-like network for ``api`` = the keras or the gpuseq module."""
    layers = api.layers
    model = api.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(100, 100, 3)))
    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Dropout(0.25))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    model.add(layers.Dense(256, activation="relu"))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(10, activation="softmax"))
    sgd = api.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd)
    return model


def build_conv1d(api):
    """The seed's Conv1D sequence classifier for ``api`` = keras or gpuseq."""
    layers = api.layers
    model = api.Sequential()
    model.add(layers.Conv1D(64, 3, activation="relu", input_shape=(64, 100)))
    model.add(layers.Conv1D(64, 3, activation="relu"))
    model.add(layers.MaxPooling1D(3))
    model.add(layers.Conv1D(128, 3, activation="relu"))
    model.add(layers.Conv1D(128, 3, activation="relu"))
    model.add(layers.GlobalAveragePooling1D())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return model


BUILD = {"vgg": build_vgg, "conv1d": build_conv1d}

# The convolutions of the vgg model at batch 32: (H, W, C) of the input, filters, and
# whether the training step computes the input gradient (not for the first layer).
VGG_CONVS = [((100, 100, 3), 32, False), ((98, 98, 32), 32, True),
             ((48, 48, 32), 64, True), ((46, 46, 64), 64, True)]


def fma_peak(threads=None, dtype="float32"):
    """The machine's FMA peak in GFLOP/s (benchmarks/fma_peak.cpp on ``threads``
    threads, default one per core), or a dict with 'skipped' when it cannot be built."""
    threads = threads or os.cpu_count() or 1
    cxx = os.environ.get("CXX", "g++")
    with tempfile.TemporaryDirectory(prefix="gpuseq-fma-") as tmp:
        exe = os.path.join(tmp, "fma_peak")
        cmd = [cxx, "-std=c++17", "-O3", "-march=native", "-pthread",
               os.path.join(HERE, "fma_peak.cpp"), "-o", exe]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            out = subprocess.run([exe, str(threads), dtype], check=True, capture_output=True,
                                 text=True)
        except (OSError, subprocess.CalledProcessError) as e:
            return {"skipped": f"fma_peak could not run: {e}"}
    return json.loads(out.stdout)


def conv_op_rates(batch=32, repeats=3):
    """GFLOP/s of each vgg convolution alone on gpuseq's NumPy backend: the best of
    ``repeats`` timings of its forward (bias + relu) and backward op (2 flops per
    multiply-add; the backward counts the kernel gradient and, where the model computes
    it, the input gradient). Each op is timed by the wall clock and by the CPU time of
    this process (all its threads, spinning workers included): flops per CPU-second,
    against one core's peak, is what a core achieves when other work shares the machine."""
    sys.path.insert(0, os.path.dirname(HERE))
    from gpuseq.backend import numpy_ops
    rng = np.random.default_rng(0)
    rows = []
    for (h, w, c), filters, input_grad in VGG_CONVS:
        x = rng.random((batch, h, w, c), dtype=np.float32)
        kernel = ((rng.random((3, 3, c, filters), dtype=np.float32) - 0.5) * 0.2)
        bias = np.zeros(filters, dtype=np.float32)
        kw = dict(activation="relu", input_grad=input_grad)
        y, saved = numpy_ops.conv2d_forward(x, kernel, bias, **kw)     # warm-up
        gy = rng.random(y.shape, dtype=np.float32)
        numpy_ops.conv2d_backward(gy, saved, **kw)
        best = {k: float("inf") for k in ("fw", "fc", "bw", "bc")}
        for _ in range(repeats):
            t, c0 = time.perf_counter(), time.process_time()
            y, saved = numpy_ops.conv2d_forward(x, kernel, bias, **kw)
            best["fw"] = min(best["fw"], time.perf_counter() - t)
            best["fc"] = min(best["fc"], time.process_time() - c0)
            t, c0 = time.perf_counter(), time.process_time()
            numpy_ops.conv2d_backward(gy, saved, **kw)
            best["bw"] = min(best["bw"], time.perf_counter() - t)
            best["bc"] = min(best["bc"], time.process_time() - c0)
        flops = 2.0 * y.size * 9 * c
        bflops = flops * (2 if input_grad else 1)
        rows.append({"input": [batch, h, w, c], "filters": filters, "input_grad": input_grad,
                     "forward_ms": best["fw"] * 1e3, "forward_gflops": flops / best["fw"] / 1e9,
                     "forward_gflops_per_cpu_s": flops / best["fc"] / 1e9,
                     "backward_ms": best["bw"] * 1e3,
                     "backward_gflops": bflops / best["bw"] / 1e9,
                     "backward_gflops_per_cpu_s": bflops / best["bc"] / 1e9})
    return rows


def table(results, backend):
    """Markdown table of samples/s per model and framework, gpuseq's ratio to each peer
    and whether the model's target ratio is met."""
    ours = f"gpuseq-{backend}"
    lines = ["| model | framework | samples/s | gpuseq / this | target |",
             "|---|---|---:|---:|---|"]
    for model, rows in results.items():
        mine = rows.get(ours, {}).get("samples_per_s")
        targets = MODELS[model]["target"]
        for name, r in rows.items():
            sps = r.get("samples_per_s")
            if sps is None:
                lines.append(f"| {model} | {name} | skipped: {r.get('skipped')} | | |")
                continue
            rel_value = r.get("ratio", mine / sps if mine else None)
            rel = f"{rel_value:.2f}x" if rel_value and name != ours else ""
            target = ""
            ratio = targets.get(name[len("keras-"):]) if name.startswith("keras-") else None
            if ratio and rel_value and backend == "numpy":
                ok = rel_value >= ratio
                target = f">= {ratio}x: {'met' if ok else 'NOT met'}"
            lines.append(f"| {model} | {name} | {sps:.1f} | {rel} | {target} |")
    return "\n".join(lines)


def peak_table(peak, rows):
    """Markdown table of the convolutions' GFLOP/s against the FMA peak: wall clock
    against the machine's peak, flops per CPU-second against one core's peak."""
    p, pc = peak.get("gflops"), peak.get("gflops_cpu_time")
    if not p:
        return f"FMA peak: {peak.get('skipped')}"
    core = pc / peak["threads"]
    lines = [f"FMA peak, float32, {peak['vector_bits']}-bit vectors: {p:.1f} GFLOP/s on "
             f"{peak['threads']} threads by the wall clock; {pc:.1f} by CPU time "
             f"({core:.1f} per core)", "",
             "| convolution (batch, H, W, C -> filters) | forward ms | GFLOP/s | of peak | "
             "per CPU-s | of a core | backward ms | GFLOP/s | of peak | per CPU-s | of a core |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n, h, w, c = r["input"]
        cells = []
        for k in ("forward", "backward"):
            g, gc = r[f"{k}_gflops"], r[f"{k}_gflops_per_cpu_s"]
            cells.append(f"{r[f'{k}_ms']:.1f} | {g:.1f} | {100 * g / p:.0f}% | {gc:.1f} | "
                         f"{100 * gc / core:.0f}%")
        lines.append(f"| {n}x{h}x{w}x{c} -> {r['filters']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "emulated"],
                    help="gpuseq backend (default numpy)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--peers", nargs="*", default=["torch", "jax"],
                    help="Keras 3 backends to compare with (default: torch jax; none: --peers)")
    ap.add_argument("--samples", type=int, default=None, help="samples per timed epoch")
    ap.add_argument("--epochs", type=int, default=1, help="timed epochs (default 1)")
    ap.add_argument("--small", action="store_true", help="tiny sizes, to check that it runs")
    ap.add_argument("--repeat", type=int, default=1,
                    help="interleaved rounds of every framework (default 1; 0: no training, "
                         "only the FMA peak and convolution table); the table shows medians")
    ap.add_argument("--threads", type=int, default=None,
                    help="cap the CPU threads of every framework (BLAS / OpenMP / XLA); "
                         "default: each framework's own choice")
    ap.add_argument("--out", default=None,
                    help="write the results as JSON here (e.g. benchmarks/results/conv.json)")
    args = ap.parse_args(argv)

    cpu_start = cpu_description()
    results = {}
    peak = rates = None
    if args.backend == "numpy" and "vgg" in args.models and not args.small:
        peak = fma_peak(args.threads)
        rates = conv_op_rates()
    for model in args.models if args.repeat > 0 else ():
        spec = MODELS[model]
        size = "small" if args.small else ("gpu" if args.backend == "cupy" else "samples")
        n = args.samples or spec[size]
        x, y = make_data(model, n)
        ours = f"gpuseq-{args.backend}"
        rounds = {ours: []}
        rounds.update({f"keras-{peer}": [] for peer in args.peers})
        why = {}
        for _ in range(args.repeat):
            sps, why[ours] = run_gpuseq(args.backend, BUILD[model], x, y, spec["batch_size"],
                                        args.epochs, threads=args.threads)
            rounds[ours].append(sps)
            for peer in args.peers:
                sps, why[f"keras-{peer}"] = run_keras(peer, BUILD[model], x, y,
                                                      spec["batch_size"], args.epochs,
                                                      env=thread_env(args.threads))
                rounds[f"keras-{peer}"].append(sps)
        rows = {}
        for name, values in rounds.items():
            got = [v for v in values if v]
            if not got:
                rows[name] = {"skipped": why[name]}
                continue
            rows[name] = {"samples_per_s": float(np.median(got)), "rounds": got}
            mine = rounds[ours]
            ratios = [a / b for a, b in zip(mine, values) if a and b]
            if name != ours and ratios:
                rows[name]["ratio_rounds"] = ratios
                rows[name]["ratio"] = float(np.median(ratios))
        results[model] = rows
        print(f"{model}: done ({n} samples x {args.epochs} epoch(s) x {args.repeat} "
              "round(s))", file=sys.stderr)

    cpu = cpu_description()
    print(f"CPU: {cpu['cpu_model']} ({os.cpu_count()} cores; {' '.join(cpu['cpu_simd_flags'])}); "
          f"load average {cpu_start['load_average']} at the start, {cpu['load_average']} at "
          "the end")
    if results:
        print(table(results, args.backend))
    if peak is not None:
        print(peak_table(peak, rates))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        meta = dict(environment(), backend=args.backend, small=args.small, epochs=args.epochs,
                    threads=args.threads)
        meta["load_average"] = cpu_start["load_average"]
        meta["load_average_end"] = cpu["load_average"]
        record = {"meta": meta, "results": results}
        if peak is not None:
            record.update(fma_peak=peak, conv_ops=rates)
        with open(args.out, "w") as f:
            json.dump(record, f, indent=2)
        write_beside(args.out)       # <name>.md and <name>.png beside it
        print(f"wrote {args.out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
