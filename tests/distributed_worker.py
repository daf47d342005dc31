"""Worker of the data-parallel tests: ``mpiexec -n 2 python -m mpi4py
tests/distributed_worker.py OUT CASE [CASE ...]`` runs each case on every rank and
writes ``OUT/<case>_rank<r>.npz`` (weights, history, extras). test_distributed.py runs
the same cases in one process (``run_reference``) and compares.

Every rank seeds its generator with ``100 + rank``: the weights a rank builds differ
until fit() broadcasts rank 0's (the single-process reference uses seed 100).
"""
import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("GPUSEQ_BACKEND", "numpy")

import warnings  # noqa: E402

import numpy as np  # noqa: E402

from gpuseq import callbacks as cbks  # noqa: E402
from gpuseq import distribute as dist  # noqa: E402
from gpuseq.layers import BatchNormalization, Dense  # noqa: E402
from gpuseq.models import Sequential  # noqa: E402
from gpuseq.backend import autodiff as ad  # noqa: E402
from gpuseq.distribute.communicators import MpiCommunicator, SingleProcess  # noqa: E402
from gpuseq.engine.cuda_graphs import GraphedStep  # noqa: E402
from gpuseq.optimizers import SGD, Adam, RMSprop  # noqa: E402
from gpuseq.utils import Sequence, set_random_seed  # noqa: E402
from _replay_graphs import ReplayGraphs  # noqa: E402


def data(n=50, d=8, classes=3, seed=0):
    r = np.random.RandomState(seed)
    x = r.randn(n, d).astype("float32")
    labels = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    y = np.eye(classes, dtype="float32")[labels % classes]
    return x, y, labels % classes


def mlp(seed, optimizer, bn=False, width=16, jit_compile=None):
    set_random_seed(seed)
    m = Sequential()
    m.add(Dense(width, activation="relu", input_shape=(8,)))
    if bn:
        m.add(BatchNormalization())
    m.add(Dense(3, activation="softmax"))
    m.compile(optimizer, "categorical_crossentropy", metrics=["acc"],
              jit_compile=jit_compile)
    return m


class Batches(Sequence):
    """Batch k: samples ``[k * size, (k + 1) * size)`` of (x, y) (the last one shorter)."""

    def __init__(self, x, y, size):
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, k):
        s = slice(k * self.size, (k + 1) * self.size)
        return self.x[s], self.y[s]


# -- stand-ins for a GPU: a CUDA graph replayed on the CPU, collectives it can record ----
class CapturingMpi(MpiCommunicator):
    """MPI whose array collectives claim to be capturable, like NCCL's: while a step is
    captured its allreduce does nothing (a capture records, never runs), at every
    replay and eager step it is a real MPI Allreduce."""

    capturable = True

    def _allreduce_sum(self, buf):
        if ad.capturing_graph() and ReplayGraphs.recording:
            return
        super()._allreduce_sum(buf)


class CapturableSingle(SingleProcess):
    """One process, taking DataParallel's capturable (device-style) step."""

    capturable = True


def bind_recorded_graphs(model):
    """Replay the model's training steps through :class:`ReplayGraphs`."""
    api = ReplayGraphs()
    runner = GraphedStep(model, model.train_step, api=api, warn=True)
    api.runner = runner
    model._graph_runner = runner
    return runner


# -- the cases: (model, how to train it); seed is 100 + rank under MPI, 100 alone ------------
def case_sgd_nesterov(seed, ranks):
    m = mlp(seed, SGD(lr=0.1, momentum=0.9, nesterov=True))
    x, y, _ = data()
    h = m.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)   # 50 = 3 * 16 + 2
    return m, h, {}


def case_adam(seed, ranks):
    m = mlp(seed, Adam(lr=0.01))
    x, y, _ = data()
    sw = np.linspace(0.5, 2.0, len(x)).astype("float32")
    h = m.fit(x, y, batch_size=10, epochs=3, shuffle=True, sample_weight=sw, verbose=0)
    return m, h, {}


def case_rmsprop(seed, ranks):
    m = mlp(seed, RMSprop(lr=0.01, clipnorm=0.5))
    x, y, _ = data(n=51)
    # 51 -> 41 training samples (41 = 5 * 8 + 1: one rank has no share of the last batch)
    h = m.fit(x, y, batch_size=8, epochs=3, shuffle=True, validation_split=0.2,
              class_weight={0: 1.0, 1: 2.0, 2: 0.5}, verbose=0)
    return m, h, {}


def case_sequence(seed, ranks):
    m = mlp(seed, SGD(lr=0.1, momentum=0.5))
    x, y, _ = data(n=45)
    if ranks > 1:    # five batches of 5 per rank-step pair: rank 1 has none at the last step
        seq = Batches(x, y, 5)
    else:            # one process: the global batches (two Sequence batches at a time)
        seq = Batches(x, y, 10)
    h = m.fit_generator(seq, epochs=2, shuffle=False, workers=0, verbose=0)
    return m, h, {}


def case_batchnorm(seed, ranks):
    m = mlp(seed, SGD(lr=0.05), bn=True)
    x, y, _ = data(n=40)
    h = m.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
    return m, h, {}


def case_small_validation(seed, ranks):
    """One validation sample: rank 1 has none of it (and reports no totals)."""
    m = mlp(seed, SGD(lr=0.1))
    x, y, _ = data()
    h = m.fit(x[:40], y[:40], batch_size=16, epochs=2, shuffle=False,
              validation_data=(x[40:41], y[40:41]), verbose=0)
    return m, h, {}


def case_on_batch(seed, ranks):
    """train_on_batch under two ranks: each passes its half of a global batch."""
    m = mlp(seed, Adam(lr=0.01))
    x, y, _ = data()
    losses = []
    for step in range(3):
        xs, ys = x[16 * step:16 * (step + 1)], y[16 * step:16 * (step + 1)]
        if ranks > 1:
            half = slice(8 * dist.rank(), 8 * (dist.rank() + 1))
            xs, ys = xs[half], ys[half]
        losses.append(m.train_on_batch(xs, ys)[0])
    return m, None, {"losses": np.asarray(losses)}


def case_masked(seed, ranks):
    """Padded sequences (Embedding mask_zero): the loss averages over unmasked steps,
    and the ranks' slices hold different numbers of them."""
    from gpuseq.layers import LSTM, Embedding, TimeDistributed
    set_random_seed(seed)
    m = Sequential([Embedding(10, 4, mask_zero=True, input_length=6),
                    LSTM(5, return_sequences=True), TimeDistributed(Dense(1))])
    m.compile(Adam(lr=0.02), "mse")
    r = np.random.RandomState(2)
    x = r.randint(1, 10, size=(24, 6))
    for i, length in enumerate(r.randint(1, 7, size=24)):
        x[i, length:] = 0                                   # padding at the end
    y = r.randn(24, 6, 1).astype("float32")
    h = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    return m, h, {}


def case_stateful(seed, ranks):
    """A stateful LSTM built for 4 samples per rank: the global batch is 4 * ranks; the
    weights stay shared, the states per rank."""
    from gpuseq.layers import LSTM
    set_random_seed(seed)
    m = Sequential([LSTM(6, stateful=True, batch_input_shape=(4, 5, 3)), Dense(1)])
    m.compile(SGD(lr=0.05), "mse")
    r = np.random.RandomState(1)
    x, y = r.randn(32, 5, 3).astype("float32"), r.randn(32, 1).astype("float32")
    h = m.fit(x, y, batch_size=4 * ranks, epochs=2, shuffle=False, verbose=0)
    return m, h, {"state": np.asarray(m.layers[0].states[0])}


class _StopOnThisRank(cbks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.model.stop_training = True


class _CountingCheckpoint(cbks.ModelCheckpoint):
    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.calls = getattr(self, "calls", 0) + 1


def case_callbacks(seed, ranks, out="."):
    """EarlyStopping (same decision everywhere), a stop asked by rank 1 alone, one
    checkpoint writer, one progress bar, save() on rank 0 only."""
    m = mlp(seed, SGD(lr=0.1))
    x, y, _ = data()
    rank = dist.rank()
    ckpt = _CountingCheckpoint(os.path.join(out, "ckpt_{epoch:02d}.h5"))
    early = cbks.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=2)
    cb = [ckpt, early] + ([_StopOnThisRank()] if rank == 1 else [])
    h1 = m.fit(x, y, batch_size=16, epochs=6, validation_split=0.2, callbacks=cb, verbose=1)
    h2 = m.fit(x, y, batch_size=16, epochs=6, validation_split=0.2, callbacks=[early],
               verbose=0)
    m.save(os.path.join(out, f"saved_by_rank{rank}.h5"))
    return m, h1, {"epochs_first": len(h1.epoch), "epochs_second": len(h2.epoch),
                   "checkpoint_calls": getattr(ckpt, "calls", 0)}


def case_collectives(seed, ranks):
    """allreduce / broadcast / DistributedOptimizer / LearningRateWarmup by value."""
    r, n = dist.rank(), dist.size()
    a = np.arange(4, dtype="float32") * (r + 1)
    b = np.full(3, float(r), dtype="float64")
    dist.broadcast(b, root=n - 1)
    m = mlp(seed, dist.DistributedOptimizer(SGD(lr=1.0)))
    w0 = m.layers[-1].bias.data.copy()
    opt = m.optimizer
    opt.apply_gradients([(np.full(3, r + 1.0, dtype="float32"), m.layers[-1].bias)])
    warm = dist.LearningRateWarmup(initial_lr=0.4, warmup_epochs=2, steps_per_epoch=4)
    kernel_before = m.layers[0].kernel.data.copy()
    opt.iterations = 7 if r == 0 else 99   # as if rank 0 had loaded a saved model
    cb = dist.BroadcastWeights(root_rank=0)
    cb.set_model(m)
    cb.on_train_begin()                  # every rank now holds rank 0's weights
    logs = {"loss": float(r), "acc": 2.0 * r, "note": "text"}
    dist.MetricAverage().on_epoch_end(0, logs)
    return m, None, {"logs": np.array([logs["loss"], logs["acc"]]),
                     "kernel_before": kernel_before, "iterations": opt.iterations,"sum": dist.allreduce(a, average=False), "mean": dist.allreduce(a),
                     "bcast": b, "bias_step": w0 - m.layers[-1].bias.data,
                     "warm": np.array([warm.rate_at(0), warm.rate_at(1), warm.rate_at(2)]),
                     "opt_class": type(opt).__name__}


def case_mismatch(seed, ranks):
    m = mlp(seed, SGD(lr=0.1), width=16 if dist.rank() == 0 else 12)
    x, y, _ = data()
    try:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0)
    except ValueError as e:
        return m, None, {"error": str(e)}
    return m, None, {"error": ""}


def case_raise(seed, ranks):
    if dist.rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    m = mlp(seed, SGD(lr=0.1))
    x, y, _ = data()
    m.fit(x, y, batch_size=16, epochs=1000, verbose=0)   # would run long without the abort
    return m, None, {}


def case_graphs(seed, ranks):
    """Steps replayed as (CPU stand-ins of) CUDA graphs with the allreduce inside, on
    the emulated CUDA backend. First fit: global batch 15 (shares 8 and 7) of 44
    samples, the last batch 14 (7 and 7: rank 1 replays its graph of 7 while rank 0
    steps eagerly). Second fit: 46 samples (the last batch 1: rank 1's share empty).
    One process: the plain eager fits, the reference."""
    from gpuseq.backend import dispatch
    with dispatch.use_backend("emulated"):
        previous = dist.initialize() if ranks > 1 else None
        if ranks > 1:
            dist.initialize(CapturingMpi())
        try:
            m = mlp(seed, Adam(lr=0.01), jit_compile=ranks > 1)
            runner = bind_recorded_graphs(m) if ranks > 1 else None
            x, y, _ = data(n=46)
            h1 = m.fit(x[:44], y[:44], batch_size=15, epochs=3, shuffle=True, verbose=0)
            h2 = m.fit(x, y, batch_size=15, epochs=3, shuffle=True, verbose=0)
        finally:
            if previous is not None:
                dist.initialize(previous)
    h1.history.update({"second_" + k: v for k, v in h2.history.items()})
    extras = {"iterations": m.optimizer.iterations}
    if runner is not None:
        extras.update(captures=runner.captures, replays=runner.replays,
                      failed=str(runner.failed), launches=runner.api.launches)
    return m, h1, extras


def _rank_batches(x, y, size, count):
    """A per-rank generator: ``count`` batches of ``size`` samples (None: forever)."""
    k = 0
    while count is None or k < count:
        lo = (k * size) % (len(x) - size)
        yield x[lo:lo + size], y[lo:lo + size]
        k += 1


def _fit_recording_warnings(m, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = m.fit_generator(*args, **kwargs)
    ran_out = [str(w.message) for w in caught if "ran out of data" in str(w.message)]
    return h, ran_out


def case_ran_out(seed, ranks):
    """Per-rank generators of different lengths: rank 1's yields 3 batches, rank 0's
    10, steps_per_epoch=5: both ranks end after 3 steps (no hang)."""
    m = mlp(seed, SGD(lr=0.1))
    x, y, _ = data(n=80)
    rank = dist.rank()
    gen = _rank_batches(x[40 * rank:], y[40 * rank:], 8, 3 if rank == 1 else 10)
    h, ran_out = _fit_recording_warnings(m, gen, steps_per_epoch=5, epochs=2, verbose=0)
    return m, h, {"iterations": m.optimizer.iterations, "epochs": len(h.epoch),
                  "warnings": "\n".join(ran_out)}


def case_samples_ranks(seed, ranks):
    """Keras 1 samples_per_epoch=20 with batches of 4 on rank 0 and 6 on rank 1: rank 1
    reaches the count after 4 batches, rank 0 would need 5; both end every epoch
    after 4 steps."""
    m = mlp(seed, SGD(lr=0.1))
    x, y, _ = data(n=80)
    rank = dist.rank()
    gen = _rank_batches(x, y, 4 if rank == 0 else 6, None)
    h, ran_out = _fit_recording_warnings(m, gen, samples_per_epoch=20, epochs=2,
                                         verbose=0, workers=0)
    return m, h, {"iterations": m.optimizer.iterations, "epochs": len(h.epoch),
                  "warnings": "\n".join(ran_out)}


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}


def run_reference(name, out="."):
    """The case in this process (seed 100): the single-process result."""
    fn = CASES[name]
    args = (100, 1) + ((out,) if name == "callbacks" else ())
    return fn(*args)


def _save(out, name, model, history, extras):
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    if history is not None:
        for k, v in history.history.items():
            arrays[f"h_{k}"] = np.asarray(v, dtype="float64")
    for k, v in extras.items():
        arrays[f"x_{k}"] = np.asarray(v)
    np.savez(os.path.join(out, f"{name}_rank{dist.rank()}.npz"), **arrays)


def main(argv):
    out, names = argv[0], argv[1:]
    seed = 100 + dist.rank()
    for name in names:
        args = (seed, dist.size()) + ((out,) if name == "callbacks" else ())
        model, history, extras = CASES[name](*args)
        _save(out, name, model, history, extras)


if __name__ == "__main__":
    main(sys.argv[1:])
