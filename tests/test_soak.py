"""Soak: many epochs of fit_generator over a Sequence with workers=2 and
use_multiprocessing=True must not leak processes, threads, file descriptors or memory.

Resources are read from /proc (Linux): the threads of this process, its child processes,
its open file descriptors and its resident memory.
"""
import os
import time

import numpy as np
import pytest

from gpuseq.callbacks import LambdaCallback
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.utils.data_utils import Sequence

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                                reason="reads process resources from /proc")


def _children():
    me, n = str(os.getpid()), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    # the parent pid is the 2nd field after the ')' closing the name
                    if fh.read().rsplit(")", 1)[1].split()[1] == me:
                        n += 1
            except (OSError, IndexError):
                pass
    return n


def _rss_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def resources():
    """(threads, child processes, open fds, resident kB) of this process now."""
    return (len(os.listdir("/proc/self/task")), _children(), len(os.listdir("/proc/self/fd")),
            _rss_kb())


def settled_resources(expected=None, seconds=3.0):
    """:func:`resources` once finished threads have been reaped (they take a moment):
    with ``expected``, as soon as no count exceeds it; without, once the counts have
    stopped changing for a quarter of a second. Gives up after ``seconds``: a real leak
    never settles, so the caller's comparison still fails."""
    deadline = time.monotonic() + seconds
    now, stable_since = resources(), time.monotonic()
    while time.monotonic() < deadline:
        if expected is not None and _within(now, expected):
            break
        if expected is None and time.monotonic() - stable_since >= 0.25:
            break
        time.sleep(0.05)
        new = resources()
        if new[:3] != now[:3]:
            stable_since = time.monotonic()
        now = new
    return now


def _within(now, expected):
    """No thread, child or fd count of ``now`` above ``expected``'s."""
    return all(a <= b for a, b in zip(now[:3], expected[:3]))


class Batches(Sequence):
    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]


def _soak(rounds, epochs_per_round):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = Sequential([Dense(16, activation="relu", input_shape=(8,)),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    data = Batches(x, y, 32)
    during = []
    watch = LambdaCallback(on_epoch_end=lambda epoch, logs: during.append(resources()))

    def one_round():
        return model.fit_generator(data, epochs=epochs_per_round, workers=2,
                                   use_multiprocessing=True, verbose=0, callbacks=[watch])

    first = one_round()                      # warm-up: caches, pools, lazily built kernels
    baseline, during_base = settled_resources(), during[-1]
    for _ in range(rounds):
        history = one_round()
        after = settled_resources(baseline)
        assert _within(after, baseline), ("threads, children, fds after a round",
                                          baseline, after)
        assert after[3] - baseline[3] < 30_000, ("resident memory grew (kB)", baseline, after)
    steady = during[epochs_per_round:]
    assert {r[:3] for r in steady} == {during_base[:3]}, ("while training", during_base, steady)
    assert max(r[3] for r in steady) - during_base[3] < 30_000
    assert history.history["loss"][-1] < first.history["loss"][0]   # it did learn


def test_fit_generator_multiprocessing_resources_stay_flat_short():
    _soak(rounds=2, epochs_per_round=3)


@pytest.mark.slow
def test_fit_generator_multiprocessing_soak():
    _soak(rounds=10, epochs_per_round=20)
