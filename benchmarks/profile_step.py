"""Where the time of a training step goes: per-op device time and Python overhead.

Trains one of the benchmark models (the seeds' vgg, conv1d, emb_lstm, stacked_lstm,
or the mlp) on gpuseq's chosen backend and prints three things:

  1. the plain time per training step (no instrumentation);
  2. the time of every fused op (``<op>_forward`` / ``<op>_backward`` / ``*_update``
     of the backend's op package), each call bracketed by device synchronisations,
     summed per op over the profiled steps;
  3. the Python functions with the most own time (cProfile), which shows launch and
     tape overhead and any hidden device synchronisation.

    python benchmarks/profile_step.py vgg --backend cupy
    python benchmarks/profile_step.py stacked_lstm --backend numpy --steps 20

Reading it: (1) is the figure to improve; if the sum in (2) is far below (1), the
step is bound by Python overhead (launches, the tape), not by the kernels.
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_conv  # noqa: E402
import bench_mlp  # noqa: E402
import bench_rnn  # noqa: E402

MODELS = {
    "vgg": (bench_conv.build_vgg, lambda n: bench_conv.make_data("vgg", n), 32),
    "conv1d": (bench_conv.build_conv1d, lambda n: bench_conv.make_data("conv1d", n), 16),
    "emb_lstm": (bench_rnn.build_emb_lstm, lambda n: bench_rnn.make_data("emb_lstm", n), 16),
    "stacked_lstm": (bench_rnn.build_stacked_lstm,
                     lambda n: bench_rnn.make_data("stacked_lstm", n), 64),
    "mlp": (bench_mlp.build_mlp, lambda n: bench_mlp.make_data("mlp", n)[:2], 128),
}


def _instrument(package, sync, totals):
    """Wrap every public op function of ``package`` to add its synchronised time to
    ``totals[name] = [calls, seconds]``; returns a function that undoes it."""
    originals = {}
    for name in list(vars(package)):
        fn = getattr(package, name)
        if not callable(fn) or not name.endswith(("_forward", "_backward", "_update")):
            continue
        originals[name] = fn

        def timed(*args, __fn=fn, __name=name, **kwargs):
            sync()
            t = time.perf_counter()
            out = __fn(*args, **kwargs)
            sync()
            rec = totals[__name]
            rec[0] += 1
            rec[1] += time.perf_counter() - t
            return out
        setattr(package, name, timed)

    def undo():
        for name, fn in originals.items():
            setattr(package, name, fn)
    return undo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", choices=list(MODELS))
    ap.add_argument("--backend", default="numpy", choices=["numpy", "cupy", "emulated"])
    ap.add_argument("--steps", type=int, default=20, help="profiled training steps")
    ap.add_argument("--top", type=int, default=25, help="cProfile rows to print")
    args = ap.parse_args(argv)

    import gpuseq
    from gpuseq.backend import dispatch
    dispatch.set_backend(args.backend)
    gpuseq.utils.set_random_seed(0)
    build, data, bs = MODELS[args.model]
    x, y = data(bs * args.steps)
    model = build(gpuseq)
    sync = (lambda: None)
    if dispatch.is_gpu():
        import cupy
        sync = cupy.cuda.Device().synchronize

    def fit():
        model.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False)
        sync()

    model.fit(x[:2 * bs], y[:2 * bs], batch_size=bs, epochs=1, verbose=0)   # warm-up
    sync()
    t = time.perf_counter()
    fit()
    step = (time.perf_counter() - t) / args.steps
    print(f"{args.model} on {args.backend}: {step * 1e3:.2f} ms per step of {bs} samples "
          f"({bs / step:.0f} samples/s)")

    totals = defaultdict(lambda: [0, 0.0])
    undo = _instrument(dispatch.ops(), sync, totals)
    try:
        t = time.perf_counter()
        fit()
        inst = (time.perf_counter() - t) / args.steps
    finally:
        undo()
    fused = sum(v[1] for v in totals.values()) / args.steps
    print(f"\nfused ops, synchronised: {fused * 1e3:.2f} ms of {inst * 1e3:.2f} ms per "
          "instrumented step")
    print(f"  {'op':<36}{'calls/step':>11}{'ms/step':>10}{'us/call':>10}")
    for name, (calls, secs) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:<36}{calls / args.steps:>11.1f}{secs / args.steps * 1e3:>10.3f}"
              f"{secs / calls * 1e6:>10.1f}")

    prof = cProfile.Profile()
    prof.enable()
    fit()
    prof.disable()
    s = io.StringIO()
    pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.top)
    print("\n" + "\n".join(line for line in s.getvalue().splitlines()[:args.top + 12]))


if __name__ == "__main__":
    main()
