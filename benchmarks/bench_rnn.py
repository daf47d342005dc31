"""Training speed of the seed sequence models: gpuseq against Keras 3 (JAX, torch).

Models (the Keras guide's):
  * emb_lstm:     Embedding(1024, 256) -> LSTM(128) -> Dropout(0.5) -> Dense(1, sigmoid),
                  binary cross-entropy, RMSprop; sequences of 80 ids, batch 16.
  * stacked_lstm: LSTM(32, return_sequences) x 2 -> LSTM(32) -> Dense(10, softmax) on
                  (8, 16) inputs, categorical cross-entropy, RMSprop; batch 64.

Timing comes from benchmarks/peers.py (the same for every framework: a warm-up fit on
a few batches, then one timed epoch without shuffling; Keras runs in a child process
per backend). Each framework is timed ``--repeats`` times; the figure is the best run
(the one least disturbed by other load on the machine), with the median beside it.
Frameworks that are not installed are reported as skipped.

    python benchmarks/bench_rnn.py                      # NumPy backend vs Keras-JAX / torch
    python benchmarks/bench_rnn.py --small              # a quick run to see that it works
    python benchmarks/bench_rnn.py --backend cupy       # gpuseq on the GPU
    python benchmarks/bench_rnn.py --out benchmarks/results/rnn.json
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import peers  # noqa: E402
from report import write_beside  # noqa: E402

MODELS = {
    "emb_lstm": {"batch_size": 16, "samples": 800, "gpu": 4000, "small": 64},
    "stacked_lstm": {"batch_size": 64, "samples": 2560, "gpu": 25600, "small": 256},
}


# ---------------------------------------------------------------------------
# data and models (one definition for gpuseq and keras: ``api`` is the top-level module)
# ---------------------------------------------------------------------------

def make_data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    if model == "emb_lstm":
        x = rng.integers(1, 1024, size=(n, 80)).astype("int32")
        y = rng.integers(0, 2, size=(n, 1)).astype("float32")
    else:
        x = rng.random((n, 8, 16)).astype("float32")
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, size=n)]
    return x, y


def build_emb_lstm(api):
    m = api.Sequential()
    m.add(api.layers.Embedding(1024, 256))
    m.add(api.layers.LSTM(128))
    m.add(api.layers.Dropout(0.5))
    m.add(api.layers.Dense(1, activation="sigmoid"))
    m.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return m


def build_stacked_lstm(api):
    m = api.Sequential()
    m.add(api.layers.LSTM(32, return_sequences=True, input_shape=(8, 16)))
    m.add(api.layers.LSTM(32, return_sequences=True))
    m.add(api.layers.LSTM(32))
    m.add(api.layers.Dense(10, activation="softmax"))
    m.compile(loss="categorical_crossentropy", optimizer="rmsprop")
    return m


BUILDERS = {"emb_lstm": build_emb_lstm, "stacked_lstm": build_stacked_lstm}


def _repeat(run, repeats):
    """Best and median samples/s over ``repeats`` runs of ``run() -> (sps, why)``."""
    got = []
    for _ in range(repeats):
        sps, why = run()
        if sps is None:
            return {"skipped": why}
        got.append(sps)
    return {"samples_per_s": max(got), "median_samples_per_s": float(np.median(got)),
            "runs": [round(v, 1) for v in got]}


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------

def table(results):
    lines = ["| model | framework | samples/s (best run) | median | vs Keras-JAX |",
             "|---|---|---:|---:|---:|"]
    for model, rows in results.items():
        ref = rows.get("keras-jax", {}).get("samples_per_s")
        for name, r in rows.items():
            if "skipped" in r:
                lines.append(f"| {model} | {name} | skipped: {r['skipped']} | | |")
                continue
            ratio = f"{r['samples_per_s'] / ref:.2f}x" if ref else "n/a"
            lines.append(f"| {model} | {name} | {r['samples_per_s']:.0f} | "
                         f"{r['median_samples_per_s']:.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "emulated"],
                    help="gpuseq backend (default numpy)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--peers", nargs="*", default=["jax", "torch"],
                    help="Keras 3 backends to compare with (default: jax torch)")
    ap.add_argument("--samples", type=int, default=None, help="samples per timed epoch")
    ap.add_argument("--small", action="store_true", help="tiny sizes, to check it runs")
    ap.add_argument("--repeats", type=int, default=2,
                    help="timed runs per framework; the best is reported (default 2)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    results = {}
    for model in args.models:
        size = "small" if args.small else ("gpu" if args.backend == "cupy" else "samples")
        n = args.samples or MODELS[model][size]
        bs = MODELS[model]["batch_size"]
        x, y = make_data(model, n)
        build = BUILDERS[model]
        rows = {f"gpuseq-{args.backend}": _repeat(
            lambda: peers.run_gpuseq(args.backend, build, x, y, bs), args.repeats)}
        for peer in args.peers:
            rows[f"keras-{peer}"] = _repeat(
                lambda: peers.run_keras(peer, build, x, y, bs), args.repeats)
        results[model] = rows
        print(f"{model}: done ({n} samples)", file=sys.stderr)

    print(table(results))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        meta = dict(peers.environment(), backend=args.backend, small=args.small,
                    repeats=args.repeats)
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        write_beside(args.out)       # <name>.md and <name>.png beside it
        print(f"wrote {args.out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
