"""Bad arguments to compile(): each row names the exception type and a fragment of the
message; the model's weights, optimizer state and iteration counter stay as they were."""
import numpy as np
import pytest

from gpuseq import optimizers
from _bad_input_harness import expect_rejected, model  # noqa: F401  (fixture)

V, T = ValueError, TypeError

CASES = [
    ("optimizer-unknown-name", dict(optimizer="adamw2", loss="mse"), V, "adamw2"),
    ("optimizer-int", dict(optimizer=3, loss="mse"), V, "optimizer"),
    ("optimizer-class-not-instance", dict(optimizer=list, loss="mse"), V, "optimizer"),
    ("optimizer-none", dict(optimizer=None, loss="mse"), V, "optimizer"),
    ("loss-unknown-name", dict(optimizer="sgd", loss="mean_squared_errors"), V,
     "mean_squared_errors"),
    ("loss-int", dict(optimizer="sgd", loss=5), V, "loss"),
    ("loss-missing", dict(optimizer="sgd"), V, "loss"),
    ("loss-list-of-two", dict(optimizer="sgd", loss=["mse", "mae"]), V, "loss"),
    ("metric-unknown-name", dict(optimizer="sgd", loss="mse", metrics=["acc2"]), V, "acc2"),
    ("metric-int", dict(optimizer="sgd", loss="mse", metrics=[7]), V, "7"),
    ("weighted-metric-unknown", dict(optimizer="sgd", loss="mse", weighted_metrics=["nope"]),
     V, "nope"),
    ("loss-weights-str", dict(optimizer="sgd", loss="mse", loss_weights="heavy"), V,
     "loss_weights"),
    ("loss-weights-nan", dict(optimizer="sgd", loss="mse", loss_weights=float("nan")), V,
     "NaN"),
    ("loss-weights-list-of-two", dict(optimizer="sgd", loss="mse", loss_weights=[1.0, 2.0]),
     V, "loss_weights"),
    ("sample-weight-mode-bad", dict(optimizer="sgd", loss="mse",
                                    sample_weight_mode="spatial"), V, "spatial"),
    ("sample-weight-mode-int", dict(optimizer="sgd", loss="mse", sample_weight_mode=2), V,
     "sample_weight_mode"),
    ("target-tensors", dict(optimizer="sgd", loss="mse", target_tensors=[1]), V,
     "target_tensors"),
    ("unknown-kwarg", dict(optimizer="sgd", loss="mse", metric=["acc"]), T, "metric"),
    ("jit-compile-str", dict(optimizer="sgd", loss="mse", jit_compile="always"), V,
     "jit_compile"),
]


@pytest.mark.parametrize("kwargs, exc, fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_compile_argument_is_rejected(kwargs, exc, fragment, model):
    opt = model.optimizer
    expect_rejected(lambda: model.compile(**kwargs), exc, fragment, model=model)
    assert model.optimizer is opt     # the old configuration stays in place


OPTIMIZER_CASES = [
    ("sgd-negative-lr", lambda: optimizers.SGD(lr=-0.1), V, "-0.1"),
    ("sgd-negative-momentum", lambda: optimizers.SGD(momentum=-0.5), V, "momentum=-0.5"),
    ("sgd-str-lr", lambda: optimizers.SGD(lr="fast"), V, "fast"),
    ("adam-beta-one", lambda: optimizers.Adam(beta_1=1.0), V, "beta_1=1.0"),
    ("adam-negative-decay", lambda: optimizers.Adam(decay=-1.0), V, "decay=-1.0"),
    ("rmsprop-negative-rho", lambda: optimizers.RMSprop(rho=-0.9), V, "rho=-0.9"),
    ("adam-negative-clipnorm", lambda: optimizers.Adam(clipnorm=-1.0), V, "clipnorm=-1.0"),
    ("adam-unknown-kwarg", lambda: optimizers.Adam(learning_rat=0.1), T, "learning_rat"),
]


@pytest.mark.parametrize("make, exc, fragment", [c[1:] for c in OPTIMIZER_CASES],
                         ids=[c[0] for c in OPTIMIZER_CASES])
def test_bad_optimizer_argument_is_rejected(make, exc, fragment, model):
    expect_rejected(lambda: model.compile(make(), "mse"), exc, fragment, model=model)


def test_optimizer_set_weights_with_bad_arrays_changes_nothing(model):
    state = model.optimizer.get_weights()
    bad = [np.array(["x"])] + state[1:]
    expect_rejected(lambda: model.optimizer.set_weights(bad), ValueError, "Received",
                    model=model)
