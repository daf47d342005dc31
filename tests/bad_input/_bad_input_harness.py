"""The checks every bad-input row makes: the call raises the expected exception type with
a message naming the problem, and leaves the model and the files exactly as they were.

The test modules import the ``model`` fixture from here (a conftest.py in this folder
would shadow the ``conftest`` module that other test modules import)."""
import hashlib
import os

import numpy as np
import pytest

from gpuseq.layers import Dense
from gpuseq.models import Sequential


@pytest.fixture
def model():
    """A small compiled model after one training step (so its optimizer has state), for
    each row to try to damage."""
    np.random.seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2)])
    m.compile("adam", "mse")
    m.train_on_batch(np.ones((2, 3), "float32"), np.ones((2, 2), "float32"))
    return m


def model_state(model):
    """Everything a rejected call must leave alone, as comparable bytes."""
    if model is None:
        return None
    state = {"layers": [l.name for l in model.layers],
             "weights": [(w.dtype.str, w.shape, w.tobytes()) for w in model.get_weights()]}
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        state["iterations"] = int(opt.iterations)
        state["optimizer"] = [(np.asarray(a).dtype.str, np.shape(a), np.asarray(a).tobytes())
                              for a in opt.get_weights()]
    for layer in model.layers:
        states = getattr(layer, "states", None)
        if states:
            state[f"states/{layer.name}"] = [np.asarray(s).tobytes() for s in states
                                            if s is not None]
    return state


def files_state(directory):
    """Names and contents (hashed) of every file under ``directory``, hidden ones too."""
    if directory is None:
        return None
    out = {}
    for root, _, names in os.walk(directory):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, directory)] = hashlib.sha256(fh.read()).hexdigest()
    return out


class Outcome(AssertionError):
    """A row failed; ``kind`` is 'vague' (wrong type or message) or 'wrong' (accepted,
    or the state changed)."""

    def __init__(self, kind, text):
        super().__init__(f"{kind.upper()}: {text}")
        self.kind = kind


def expect_rejected(call, exc_type, fragment, model=None, directory=None):
    """Run ``call``; it must raise ``exc_type`` whose message contains ``fragment``
    (case-insensitive), and leave ``model`` and the files in ``directory`` unchanged."""
    before = (model_state(model), files_state(directory))
    problem = None
    try:
        call()
    except exc_type as e:
        msg = str(e)
        if fragment.lower() not in msg.lower():
            problem = Outcome("vague", f"message lacks {fragment!r}: {type(e).__name__}: {msg}")
    except Exception as e:  # noqa: BLE001 - classifying what escaped
        problem = Outcome("vague", f"{type(e).__name__} instead of {exc_type.__name__}: {e}")
    else:
        raise Outcome("wrong", f"accepted; expected {exc_type.__name__} ({fragment!r})")
    after = (model_state(model), files_state(directory))
    if before[0] != after[0] and problem is not None:
        raise Outcome("wrong", f"the model's state changed, and: {problem}")
    if problem is not None:
        raise problem
    if before[0] != after[0]:
        raise Outcome("wrong", "the model's state changed although the call was rejected")
    if before[1] != after[1]:
        raise Outcome("wrong", f"files changed although the call was rejected: "
                               f"{sorted(before[1] or {})} -> {sorted(after[1] or {})}")
