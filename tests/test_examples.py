"""The Dense and convolutional examples run (CI-sized) and learn."""
import importlib.util
import os
import warnings

import pytest

import gpuseq.backend as K

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", os.path.join(EXAMPLES,
                                                                                 name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quickstart_reaches_95_percent():
    acc = _load("quickstart").main(["--epochs", "20", "--verbose", "0"])
    assert acc >= 0.95


@pytest.mark.parametrize("args", [["--quick"], ["--quick", "--keras1"]])
def test_vgg_like_example_runs(args):
    fmt = K.image_data_format()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loss, acc = _load("vgg_like").main(args)
    finally:
        K.set_image_data_format(fmt)
    assert loss == loss and 0.0 <= acc <= 1.0


def test_conv1d_example_runs():
    loss, acc = _load("conv1d_sequence").main(["--quick"])
    assert loss == loss and 0.0 <= acc <= 1.0
