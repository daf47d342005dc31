"""Training speed of a Conv2DTranspose decoder, a separable-convolution classifier and a
ConvLSTM2D next-frame model: gpuseq against Keras 3 (JAX, torch), timed as in bench_conv.py
(benchmarks/peers.py).

Models:
  * decoder:   Dense(7*7*32, relu) -> Reshape(7, 7, 32)
               -> Conv2DTranspose(32, 3x3, strides 2, 'same', relu)
               -> Conv2DTranspose(16, 3x3, strides 2, 'same', relu)
               -> Conv2D(1, 3x3, 'same', sigmoid): 16 codes to 28x28 images, MSE, Adam;
               batch 32.
  * separable: SeparableConv2D(32, 3x3, relu) -> DepthwiseConv2D(3x3, depth_multiplier 2,
               relu) -> SeparableConv2D(64, 3x3, strides 2, relu) -> Flatten
               -> Dense(10, softmax) on 32x32x3 images, categorical cross-entropy, Adam;
               batch 32.
  * convlstm:  ConvLSTM2D(16, 3x3, 'same', return_sequences) -> Conv3D(1, 3x3x3, 'same',
               sigmoid) on 10 frames of 40x40x1 (Keras's conv_lstm example, scaled down),
               binary cross-entropy, Adam; batch 8.

The figure is samples per second of one training epoch after a warm-up fit; every
framework on the same data in the same run, each Keras backend in its own child
process (run this with a Python that has Keras to compare with it).

    python benchmarks/bench_layers.py                      # NumPy backend vs Keras torch/JAX
    python benchmarks/bench_layers.py --small              # tiny sizes, to see that it works
    python benchmarks/bench_layers.py --backend cupy       # gpuseq on the GPU
    python benchmarks/bench_layers.py --out benchmarks/results/layers_cpu.json
"""
import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from peers import environment, run_gpuseq, run_keras, thread_env  # noqa: E402

MODELS = {
    # samples per timed epoch (CPU run / GPU run / --small), batch size
    "decoder": {"samples": 2048, "gpu": 32768, "small": 64, "batch_size": 32},
    "separable": {"samples": 1024, "gpu": 16384, "small": 64, "batch_size": 32},
    "convlstm": {"samples": 64, "gpu": 1024, "small": 16, "batch_size": 8},
}


def make_data(model, n, seed=0):
    rng = np.random.default_rng(seed)
    if model == "decoder":
        return (rng.random((n, 16), dtype=np.float32),
                rng.random((n, 28, 28, 1), dtype=np.float32))
    if model == "convlstm":
        frames = rng.random((n, 10, 40, 40, 1), dtype=np.float32)
        return frames, (frames > 0.5).astype(np.float32)
    return (rng.random((n, 32, 32, 3), dtype=np.float32),
            np.eye(10, dtype=np.float32)[rng.integers(0, 10, size=n)])


def build_decoder(api):
    """The Conv2DTranspose decoder for ``api`` = the keras or the gpuseq module."""
    layers = api.layers
    model = api.Sequential()
    model.add(layers.Dense(7 * 7 * 32, activation="relu", input_shape=(16,)))
    model.add(layers.Reshape((7, 7, 32)))
    model.add(layers.Conv2DTranspose(32, (3, 3), strides=(2, 2), padding="same",
                                     activation="relu"))
    model.add(layers.Conv2DTranspose(16, (3, 3), strides=(2, 2), padding="same",
                                     activation="relu"))
    model.add(layers.Conv2D(1, (3, 3), padding="same", activation="sigmoid"))
    model.compile(loss="mse", optimizer=api.optimizers.Adam(learning_rate=0.001))
    return model


def build_separable(api):
    """The separable-convolution classifier for ``api`` = keras or gpuseq."""
    layers = api.layers
    model = api.Sequential()
    model.add(layers.SeparableConv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(layers.DepthwiseConv2D((3, 3), depth_multiplier=2, activation="relu"))
    model.add(layers.SeparableConv2D(64, (3, 3), strides=(2, 2), activation="relu"))
    model.add(layers.Flatten())
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(loss="categorical_crossentropy",
                  optimizer=api.optimizers.Adam(learning_rate=0.001))
    return model


def build_convlstm(api):
    """The ConvLSTM2D next-frame model for ``api`` = keras or gpuseq."""
    layers = api.layers
    model = api.Sequential()
    model.add(layers.ConvLSTM2D(16, (3, 3), padding="same", return_sequences=True,
                                input_shape=(10, 40, 40, 1)))
    model.add(layers.Conv3D(1, (3, 3, 3), padding="same", activation="sigmoid"))
    model.compile(loss="binary_crossentropy",
                  optimizer=api.optimizers.Adam(learning_rate=0.001))
    return model


BUILD = {"decoder": build_decoder, "separable": build_separable,
         "convlstm": build_convlstm}


def table(results, backend):
    ours = f"gpuseq-{backend}"
    lines = ["| model | framework | samples/s | gpuseq / this |", "|---|---|---:|---:|"]
    for model, rows in results.items():
        mine = rows.get(ours, {}).get("samples_per_s")
        for name, r in rows.items():
            sps = r.get("samples_per_s")
            if sps is None:
                lines.append(f"| {model} | {name} | skipped: {r.get('skipped')} | |")
                continue
            rel = f"{mine / sps:.2f}x" if mine and name != ours else ""
            lines.append(f"| {model} | {name} | {sps:.1f} | {rel} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "emulated"])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--peers", nargs="*", default=["jax", "torch"],
                    help="Keras 3 backends to compare with (default: jax torch)")
    ap.add_argument("--samples", type=int, default=None, help="samples per timed epoch")
    ap.add_argument("--small", action="store_true", help="tiny sizes, to check that it runs")
    ap.add_argument("--threads", type=int, default=None,
                    help="cap the CPU threads of every framework (BLAS / OpenMP / XLA)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)

    results = {}
    for model in args.models:
        spec = MODELS[model]
        size = "small" if args.small else ("gpu" if args.backend == "cupy" else "samples")
        x, y = make_data(model, args.samples or spec[size])
        rows = {}
        sps, why = run_gpuseq(args.backend, BUILD[model], x, y, spec["batch_size"], 1,
                              threads=args.threads)
        rows[f"gpuseq-{args.backend}"] = {"samples_per_s": sps} if sps else {"skipped": why}
        for peer in args.peers:
            sps, why = run_keras(peer, BUILD[model], x, y, spec["batch_size"], 1,
                                 env=thread_env(args.threads))
            rows[f"keras-{peer}"] = {"samples_per_s": sps} if sps else {"skipped": why}
        results[model] = rows
    print(table(results, args.backend))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        meta = dict(environment(), backend=args.backend, small=args.small,
                    threads=args.threads)
        with open(args.out, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
