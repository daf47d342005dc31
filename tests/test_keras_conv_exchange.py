"""Conv2DTranspose, DepthwiseConv2D, SeparableConv1D/2D against the real Keras 3:
the same weights in give the same outputs out (Keras's outputs recorded by Keras,
for every padding / stride / output_padding / dilation / data_format form below), and
HDF5 files move both ways (Keras's ``.weights.h5``, its legacy weights layout and
whole ``.h5`` models load in gpuseq; gpuseq's load in Keras).

Runs the Keras side in a subprocess with the machinery of test_saving_keras; skipped
where Keras cannot be imported (it needs KERAS_BACKEND=jax or torch).
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuseq.models import load_model
from test_saving_keras import KERAS_SCRIPT, build_gpuseq

SPECS = {
    "deconv_same_s2": {"input_shape": [5, 4, 3], "layers": [
        ["Conv2DTranspose", {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2],
                             "padding": "same", "activation": "relu"}]]},
    "deconv_valid_s23": {"input_shape": [4, 3, 2], "layers": [
        ["Conv2DTranspose", {"filters": 3, "kernel_size": [3, 2], "strides": [2, 3]}]]},
    "deconv_output_padding": {"input_shape": [4, 5, 2], "layers": [
        ["Conv2DTranspose", {"filters": 3, "kernel_size": [3, 4], "strides": [2, 2],
                             "padding": "same", "output_padding": [1, 0]}],
        ["Conv2DTranspose", {"filters": 2, "kernel_size": [2, 3], "strides": [3, 2],
                             "output_padding": [2, 1], "activation": "tanh"}]]},
    "deconv_even_kernel_same": {"input_shape": [3, 3, 2], "layers": [
        ["Conv2DTranspose", {"filters": 2, "kernel_size": [2, 4], "strides": [2, 2],
                             "padding": "same"}],
        ["Conv2DTranspose", {"filters": 2, "kernel_size": [4, 2], "strides": [2, 3],
                             "padding": "same", "output_padding": [1, 2]}]]},
    "deconv_dilated": {"input_shape": [4, 4, 3], "layers": [
        ["Conv2DTranspose", {"filters": 2, "kernel_size": [3, 3], "dilation_rate": [2, 1],
                             "padding": "same", "use_bias": False}]]},
    "deconv_channels_first": {"input_shape": [2, 4, 3], "layers": [
        ["Conv2DTranspose", {"filters": 3, "kernel_size": [3, 3], "strides": [2, 2],
                             "padding": "same", "data_format": "channels_first"}]]},
    "depthwise": {"input_shape": [7, 6, 3], "layers": [
        ["DepthwiseConv2D", {"kernel_size": [3, 2], "depth_multiplier": 2,
                             "activation": "relu"}],
        ["DepthwiseConv2D", {"kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}]]},
    "depthwise_dilated_cf": {"input_shape": [3, 8, 7], "layers": [
        ["DepthwiseConv2D", {"kernel_size": [3, 3], "dilation_rate": [2, 2],
                             "data_format": "channels_first"}]]},
    "separable2d": {"input_shape": [7, 7, 3], "layers": [
        ["SeparableConv2D", {"filters": 4, "kernel_size": [3, 3], "depth_multiplier": 2,
                             "padding": "same", "activation": "relu"}],
        ["SeparableConv2D", {"filters": 2, "kernel_size": [2, 2], "strides": [2, 2]}],
        ["Flatten", {}], ["Dense", {"units": 3}]]},
    "separable2d_channels_first": {"input_shape": [2, 6, 5], "layers": [
        ["SeparableConv2D", {"filters": 3, "kernel_size": [3, 2], "dilation_rate": [1, 2],
                             "data_format": "channels_first", "use_bias": False}]]},
    "separable1d": {"input_shape": [11, 3], "layers": [
        ["SeparableConv1D", {"filters": 4, "kernel_size": 3, "depth_multiplier": 2,
                             "strides": 2, "padding": "same"}],
        ["SeparableConv1D", {"filters": 2, "kernel_size": 2, "dilation_rate": 2,
                             "activation": "tanh"}]]},
    "decoder": {"input_shape": [6], "layers": [
        ["Dense", {"units": 16, "activation": "relu"}], ["Reshape", {"target_shape": [2, 2, 4]}],
        ["Conv2DTranspose", {"filters": 3, "kernel_size": [3, 3], "strides": [2, 2],
                             "padding": "same", "activation": "relu"}],
        ["DepthwiseConv2D", {"kernel_size": [3, 3], "padding": "same"}],
        ["SeparableConv2D", {"filters": 1, "kernel_size": [3, 3], "padding": "same",
                             "activation": "sigmoid"}]]},
}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed")
    d = tmp_path_factory.mktemp("keras_conv_exchange")
    files = {}
    for name, spec in SPECS.items():
        model = build_gpuseq(spec)
        rng = np.random.RandomState(3)
        model.set_weights([rng.normal(0, 0.5, tuple(v.shape)).astype("float32")
                           for v in model.weights])
        model.compile(optimizer="adam", loss="mse")
        x = np.random.RandomState(7).rand(4, *spec["input_shape"]).astype("float32")
        base = str(d / f"gpuseq_{name}")
        np.save(base + "_x.npy", x)
        np.save(base + "_y.npy", model.predict(x, verbose=0))
        model.save_weights(base + ".h5")
        model.save_weights(base + ".weights.h5")
        model.save(base + "_model.h5")
        files[name] = {"x": base + "_x.npy", "y": base + "_y.npy", "weights_h5": base + ".h5",
                       "weights_keras3": base + ".weights.h5",
                       "weights_model_h5": base + "_model.h5", "model_h5": base + "_model.h5"}
    job = {"specs": SPECS, "dir": str(d), "gpuseq_files": files, "gpuseq_specs": SPECS,
           "results": str(d / "results.json")}
    (d / "job.json").write_text(json.dumps(job))
    (d / "keras_side.py").write_text(KERAS_SCRIPT)
    env = dict(os.environ)
    env.setdefault("KERAS_BACKEND", "jax")
    env.setdefault("JAX_PLATFORMS", "cpu")
    proc = subprocess.run([sys.executable, str(d / "keras_side.py"), str(d / "job.json")],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode == 3:
        pytest.skip("keras could not be imported in a subprocess with "
                    f"KERAS_BACKEND={env['KERAS_BACKEND']}: {proc.stdout.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, json.loads((d / "results.json").read_text())


@pytest.mark.parametrize("kind", ["_model.h5", ".weights.h5", "_weights.h5"])
@pytest.mark.parametrize("name", list(SPECS))
def test_same_outputs_as_keras_from_keras_weight_files(exchange, name, kind):
    d, results = exchange
    assert "write_error" not in results[name], results[name].get("write_error")
    if kind == "_weights.h5" and "legacy_weights_error" in results[name]:
        pytest.skip("this Keras has no legacy weights writer")
    io = np.load(d / f"keras_{name}_io.npz")
    model = build_gpuseq(SPECS[name])
    model.load_weights(d / f"keras_{name}{kind}")
    np.testing.assert_allclose(model.predict(io["x"], verbose=0), io["y"], rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("name", list(SPECS))
def test_whole_keras_models_load(exchange, name):
    d, _ = exchange
    io = np.load(d / f"keras_{name}_io.npz")
    with pytest.warns(UserWarning, match="optimizer starts fresh"):
        model = load_model(d / f"keras_{name}_model.h5")
    np.testing.assert_allclose(model.predict(io["x"], verbose=0), io["y"], rtol=1e-4,
                               atol=1e-5)


@pytest.mark.parametrize("kind", ["weights_h5", "weights_keras3", "weights_model_h5",
                                  "load_model"])
@pytest.mark.parametrize("name", list(SPECS))
def test_keras_loads_files_written_by_gpuseq(exchange, name, kind):
    _, results = exchange
    got = results["gpuseq_" + name][kind]
    assert not isinstance(got, str), got[-2500:]
    assert got < 1e-4, f"Keras's output differs from gpuseq's by {got}"
