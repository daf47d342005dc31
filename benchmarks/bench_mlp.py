"""Training speed of the Keras guide's softmax MLP: gpuseq against Keras 3 (torch, JAX)
and plain PyTorch, on the same data in the same run.

Models:
  * mlp:   the guide's "MLP for multi-class softmax classification": Dense(64, relu)
           -> Dropout(0.5) -> Dense(64, relu) -> Dropout(0.5) -> Dense(10, softmax) on
           20 features, categorical cross-entropy, SGD(0.01, decay 1e-6, momentum 0.9,
           Nesterov); batch 128.
  * wide:  the same shape at MNIST size: 784 -> 512 -> 512 -> 10; batch 128.

The figure is samples per second of one training epoch after a warm-up fit on a few
batches (benchmarks/peers.py). Keras runs in child processes, PyTorch in this process
with a hand-written loop (benchmarks/torch_peer.py).

    python benchmarks/bench_mlp.py                     # NumPy backend vs peers on the CPU
    python benchmarks/bench_mlp.py --small             # tiny sizes, to see that it works
    python benchmarks/bench_mlp.py --backend cupy      # gpuseq and PyTorch on the GPU
    python benchmarks/bench_mlp.py --out benchmarks/results/mlp.json
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from report import write_beside  # noqa: E402
from peers import environment, run_gpuseq, run_keras  # noqa: E402
from torch_peer import run_torch  # noqa: E402

MODELS = {
    "mlp": {"features": 20, "hidden": 64, "samples": 60000, "small": 2048, "batch_size": 128},
    "wide": {"features": 784, "hidden": 512, "samples": 20000, "small": 1024,
             "batch_size": 128},
}


def make_data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    f = MODELS[model]["features"]
    x = rng.random((n, f), dtype=np.float32)
    labels = rng.integers(0, 10, size=n)
    return x, np.eye(10, dtype=np.float32)[labels], labels


def _build(api, features, hidden):
    layers = api.layers
    model = api.Sequential()
    if api.__name__ == "keras":
        model.add(layers.Input(shape=(features,)))
        model.add(layers.Dense(hidden, activation="relu"))
    else:
        model.add(layers.Dense(hidden, activation="relu", input_dim=features))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(hidden, activation="relu"))
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(10, activation="softmax"))
    sgd = api.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
    return model


def build_mlp(api):
    return _build(api, MODELS["mlp"]["features"], MODELS["mlp"]["hidden"])


def build_wide(api):
    return _build(api, MODELS["wide"]["features"], MODELS["wide"]["hidden"])


def _torch_builder(features, hidden):
    def build(torch):
        nn = torch.nn
        model = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(0.5),
                              nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
                              nn.Linear(hidden, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        return model, opt, nn.CrossEntropyLoss()
    return build


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "emulated"],
                    help="gpuseq backend to time (default numpy)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--peers", nargs="*", default=["torch", "jax", "pytorch"],
                    help="Keras backends to compare with, and 'pytorch' for plain PyTorch")
    ap.add_argument("--samples", type=int, default=None, help="samples per timed epoch")
    ap.add_argument("--small", action="store_true", help="tiny sizes, to check that it runs")
    ap.add_argument("--out", default=None, help="write the results as JSON to this path")
    args = ap.parse_args(argv)

    device = "cuda" if args.backend == "cupy" else "cpu"
    results = {"environment": environment(), "backend": args.backend, "models": {}}
    builders = {"mlp": build_mlp, "wide": build_wide}
    for name in args.models:
        spec = MODELS[name]
        n = args.samples or (spec["small"] if args.small else spec["samples"])
        x, y, labels = make_data(name, n)
        bs = spec["batch_size"]
        row = {"samples": n, "batch_size": bs}
        sps, why = run_gpuseq(args.backend, builders[name], x, y, bs)
        row[f"gpuseq-{args.backend}"] = sps if sps is not None else why
        for peer in args.peers:
            if peer == "pytorch":
                sps, why = run_torch(_torch_builder(spec["features"], spec["hidden"]),
                                     x, labels, bs, device=device, y_dtype="int64")
                row[f"pytorch-{device}"] = sps if sps is not None else why
            else:
                sps, why = run_keras(peer, builders[name], x, y, bs)
                row[f"keras-{peer}"] = sps if sps is not None else why
        results["models"][name] = row
        print(f"\n{name}: {n} samples, batch {bs}")
        ref = row[f"gpuseq-{args.backend}"]
        for k, v in row.items():
            if k in ("samples", "batch_size"):
                continue
            if isinstance(v, float):
                ratio = f"{ref / v:.2f}x" if isinstance(ref, float) and k != f"gpuseq-{args.backend}" else ""
                print(f"  | {k:<16} | {v:>10.0f} samples/s | gpuseq/peer {ratio:>6} |")
            else:
                print(f"  | {k:<16} | skipped: {v}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        write_beside(args.out)       # <name>.md and <name>.png beside it
    return results


if __name__ == "__main__":
    main()
