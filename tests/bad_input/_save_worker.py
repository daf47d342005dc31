"""Runs one save in a child process under a fault the parent cannot impose on itself
(a file-size limit, a user without write permission, a SIGKILL at a random moment).

Usage: python _save_worker.py MODE PATH [ARG]; prints one JSON line per event.
"""
import json
import os
import resource
import signal
import sys

import numpy as np

from gpuseq.layers import Dense
from gpuseq.models import Sequential


def model(value, width=64):
    """A compiled model whose every weight equals ``value``."""
    m = Sequential([Dense(width, input_shape=(width,)), Dense(4)])
    m.compile("sgd", "mse")
    m.set_weights([np.full(w.shape, value, "float32") for w in m.get_weights()])
    return m


def _save(m, path, kind):
    (m.save if kind == "save" else m.save_weights)(path)


def _report(**event):
    print(json.dumps(event), flush=True)


def _attempt(m, path, kind):
    try:
        _save(m, path, kind)
    except Exception as e:  # noqa: BLE001 - reported to the parent
        _report(type=type(e).__name__, mro=[c.__name__ for c in type(e).__mro__],
                message=str(e))
    else:
        _report(type=None)


def file_size_limit(path, kind, limit):
    m = model(2.0, width=256)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), int(limit)))
    _attempt(m, path, kind)


def unprivileged(path, kind):
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)       # nobody: the directory's permissions now apply
    _attempt(model(2.0), path, kind)


def save_loop(path):
    """Save versions 1, 2, 3, ... of the model for ever (the parent kills us)."""
    m = model(0.0, width=128)
    k = 0
    while True:
        k += 1
        m.set_weights([np.full(w.shape, k, "float32") for w in m.get_weights()])
        m.save(path)
        _report(saved=k)


if __name__ == "__main__":
    mode, target = sys.argv[1], sys.argv[2]
    if mode == "fsize":
        file_size_limit(target, sys.argv[3], sys.argv[4])
    elif mode == "unprivileged":
        unprivileged(target, sys.argv[3])
    elif mode == "loop":
        save_loop(target)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
