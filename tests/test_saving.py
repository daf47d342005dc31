"""Saving and loading with gpuseq alone: weights, whole models, optimizer state, configs,
custom objects, errors, atomic writes.

Every round trip runs over a list of small models that together use every registered
layer class; a layer class registered later without a case here makes
``test_every_registered_layer_has_a_saving_case`` fail until a case is added.
"""
import json
import os
import pathlib
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest

import gpuseq.layers as layers_mod
from gpuseq import optimizers
from gpuseq.backend import functions as K
from gpuseq.layers import Activation, Dense, Dropout, Lambda, Layer
from gpuseq.models import (Sequential, load_model, model_from_config, model_from_json,
                           model_from_yaml)
from gpuseq.saving import SavedFileError
from gpuseq.utils import set_random_seed

REPO = pathlib.Path(__file__).resolve().parents[1]


def L(name):
    """A gpuseq layer class, or skip the test when it does not exist yet."""
    cls = getattr(layers_mod, name, None)
    if cls is None:
        pytest.skip(f"gpuseq.layers.{name} is not available yet")
    return cls


# ----------------------------------------------------------------------- model cases
# name -> (factory, input spec); an input spec is ("float", shape) or ("int", shape, vocab)
# or a list of specs for a Merge model. Shapes exclude the batch dimension.
def _dense():
    return Sequential([Dense(6, input_dim=5, activation="relu"), Dropout(0.3),
                       Dense(3, activation="softmax")])


def _core():
    return Sequential([Dense(6, input_dim=6, trainable=False), L("Reshape")((2, 3)),
                       L("Permute")((2, 1)), L("Flatten")(), L("ActivityRegularization")(l1=0.01),
                       Dense(4, activation="tanh"), L("RepeatVector")(2), L("Masking")(0.0),
                       L("Flatten")(), Activation("sigmoid")])


def _merge():
    left = Sequential([Dense(4, input_dim=5, activation="relu"), Dense(3)])
    right = Sequential([Dense(3, input_dim=2)])
    return Sequential([L("Merge")([left, right], mode="concat"), Dense(2)])


def _merge_sum():
    left = Sequential([Dense(3, input_dim=4)])
    right = Sequential([Dense(3, input_dim=4)])
    return Sequential([L("Merge")([left, right], mode="sum"), Activation("relu")])


def _conv2d():
    return Sequential([
        L("ZeroPadding2D")((1, 1), input_shape=(6, 6, 2)),
        L("Conv2D")(3, (3, 3), activation="relu"), L("MaxPooling2D")((2, 2)),
        L("UpSampling2D")((2, 2)), L("Cropping2D")(((1, 1), (1, 1))),
        L("Conv2D")(2, (2, 2), padding="same"), L("AveragePooling2D")((2, 2)),
        L("Flatten")(), Dense(3)])


def _conv2d_global():
    return Sequential([L("Conv2D")(3, (3, 3), input_shape=(5, 5, 2)),
                       L("GlobalMaxPooling2D")(), Dense(2)])


def _conv2d_global_avg():
    return Sequential([L("Conv2D")(3, (2, 2), strides=(2, 2), input_shape=(6, 6, 1)),
                       L("GlobalAveragePooling2D")(), Dense(2)])


def _deconv_separable():
    return Sequential([
        L("Conv2DTranspose")(3, (3, 3), strides=(2, 2), padding="same", output_padding=(1, 0),
                             activation="relu", input_shape=(3, 4, 2)),
        L("DepthwiseConv2D")((3, 3), depth_multiplier=2, padding="same"),
        L("SeparableConv2D")(4, (2, 2), strides=(2, 2), activation="tanh"),
        L("Reshape")((9, 4)), L("SeparableConv1D")(2, 3, depth_multiplier=2),
        L("Flatten")(), Dense(2)])


def _conv1d():
    return Sequential([
        L("ZeroPadding1D")(1, input_shape=(9, 3)), L("Conv1D")(4, 3, activation="relu"),
        L("MaxPooling1D")(2), L("UpSampling1D")(2), L("Cropping1D")((1, 1)),
        L("AveragePooling1D")(2), L("Conv1D")(2, 2), L("GlobalAveragePooling1D")(),
        Dense(2)])


def _conv1d_global_max():
    return Sequential([L("Conv1D")(3, 2, input_shape=(6, 2)), L("GlobalMaxPooling1D")(),
                       Dense(2)])


def _conv3d():
    return Sequential([
        L("ZeroPadding3D")(((1, 0), 1, 1), input_shape=(3, 4, 4, 2)),
        L("Conv3D")(3, 2, activation="relu"), L("SpatialDropout3D")(0.2),
        L("MaxPooling3D")((1, 2, 2)), L("UpSampling3D")((1, 2, 2)),
        L("Cropping3D")(((0, 1), (1, 0), 0)), L("Conv3DTranspose")(2, (1, 2, 2), strides=2),
        L("AveragePooling3D")(2, padding="same"), L("GlobalMaxPooling3D")(), Dense(2)])


def _conv3d_global_avg():
    return Sequential([L("Conv3D")(2, (1, 2, 2), input_shape=(2, 3, 3, 1)),
                       L("GlobalAveragePooling3D")(), Dense(2)])


def _locally_connected():
    return Sequential([
        L("LocallyConnected2D")(3, (2, 2), strides=(1, 2), activation="relu",
                                input_shape=(5, 6, 2)),
        L("Reshape")((-1, 3)), L("LocallyConnected1D")(2, 3, strides=2), L("Flatten")(),
        Dense(2)])


def _lstm():
    return Sequential([L("LSTM")(4, return_sequences=True, input_shape=(5, 3)),
                       L("LSTM")(3), Dense(2)])


def _gru():
    return Sequential([L("GRU")(4, return_sequences=True, input_shape=(5, 3)),
                       L("GRU")(3, reset_after=False), Dense(2)])


def _simple_rnn():
    return Sequential([L("SimpleRNN")(4, input_shape=(5, 3)), Dense(2)])


def _embedding():
    return Sequential([L("Embedding")(12, 4, input_length=6), L("LSTM")(3), Dense(2)])


def _wrappers():
    return Sequential([
        L("Bidirectional")(L("LSTM")(3, return_sequences=True), input_shape=(5, 3)),
        L("TimeDistributed")(Dense(2)), L("Flatten")()])


def _stateful():
    return Sequential([L("LSTM")(3, stateful=True, batch_input_shape=(4, 5, 3)), Dense(2)])


def _batchnorm():
    return Sequential([
        L("Conv2D")(3, (2, 2), input_shape=(4, 4, 2)), L("BatchNormalization")(),
        L("Flatten")(), L("BatchNormalization")(center=False, momentum=0.9), Dense(2)])


def _activations_noise():
    return Sequential([
        L("SpatialDropout2D")(0.2, input_shape=(4, 4, 2)), L("Conv2D")(3, (2, 2)),
        L("SpatialDropout2D")(0.1),
        L("PReLU")(shared_axes=[1, 2]), L("LeakyReLU")(0.2), L("Flatten")(),
        L("GaussianNoise")(0.1), L("Dense")(6), L("ELU")(0.5), L("ThresholdedReLU")(0.1),
        L("ReLU")(max_value=2.0), L("GaussianDropout")(0.2), L("AlphaDropout")(0.1),
        L("Reshape")((2, 3)), L("SpatialDropout1D")(0.2), L("Softmax")(axis=1),
        L("Flatten")(), Dense(2)])


def _rnn_cells():
    return Sequential([
        L("RNN")(L("StackedRNNCells")([L("SimpleRNNCell")(4), L("LSTMCell")(3)]),
                 return_sequences=True, input_shape=(5, 3)),
        L("RNN")(L("GRUCell")(3, reset_after=False), go_backwards=True), Dense(2)])


def _cudnn():
    return Sequential([L("CuDNNLSTM")(4, return_sequences=True, input_shape=(5, 3)),
                       L("CuDNNGRU")(3), Dense(2)])


def _conv_lstm():
    return Sequential([L("ConvLSTM2D")(2, (3, 3), padding="same", return_sequences=True,
                                       input_shape=(3, 5, 5, 1)),
                       L("ConvLSTM2D")(2, (2, 2), strides=(2, 2)), L("Flatten")(), Dense(2)])


CASES = {
    "conv_lstm": (_conv_lstm, ("float", (3, 5, 5, 1))),
    "rnn_cells": (_rnn_cells, ("float", (5, 3))),
    "cudnn": (_cudnn, ("float", (5, 3))),
    "dense": (_dense, ("float", (5,))),
    "activations_noise": (_activations_noise, ("float", (4, 4, 2))),
    "batchnorm": (_batchnorm, ("float", (4, 4, 2))),
    "core": (_core, ("float", (6,))),
    "merge": (_merge, [("float", (5,)), ("float", (2,))]),
    "merge_sum": (_merge_sum, [("float", (4,)), ("float", (4,))]),
    "conv2d": (_conv2d, ("float", (6, 6, 2))),
    "conv2d_global": (_conv2d_global, ("float", (5, 5, 2))),
    "conv2d_global_avg": (_conv2d_global_avg, ("float", (6, 6, 1))),
    "conv1d": (_conv1d, ("float", (9, 3))),
    "deconv_separable": (_deconv_separable, ("float", (3, 4, 2))),
    "conv1d_global_max": (_conv1d_global_max, ("float", (6, 2))),
    "conv3d": (_conv3d, ("float", (3, 4, 4, 2))),
    "conv3d_global_avg": (_conv3d_global_avg, ("float", (2, 3, 3, 1))),
    "locally_connected": (_locally_connected, ("float", (5, 6, 2))),
    "lstm": (_lstm, ("float", (5, 3))),
    "gru": (_gru, ("float", (5, 3))),
    "simple_rnn": (_simple_rnn, ("float", (5, 3))),
    "embedding": (_embedding, ("int", (6,), 12)),
    "wrappers": (_wrappers, ("float", (5, 3))),
    "stateful": (_stateful, ("float", (5, 3))),
}


def make_inputs(spec, n=4, seed=0):
    rng = np.random.RandomState(seed)
    if isinstance(spec, list):
        return [make_inputs(s, n, seed + i + 1) for i, s in enumerate(spec)]
    if spec[0] == "int":
        return rng.randint(0, spec[2], (n,) + spec[1]).astype("int64")
    return rng.rand(n, *spec[1]).astype("float32")


def randomize(model, seed=1):
    """Non-trivial weights (biases too), reproducible."""
    rng = np.random.RandomState(seed)
    ws = []
    for v in model.weights:
        a = rng.normal(0, 0.5, tuple(v.shape)).astype(v.data.dtype)
        if "variance" in v.name:                       # a BatchNormalization variance
            a = np.abs(a) + 0.5
        ws.append(a)
    model.set_weights(ws)
    return model


def predict(model, x):
    if any(getattr(l, "stateful", False) for l in model.layers):
        model.reset_states()
        return model.predict(x, batch_size=4)
    return model.predict(x)


def case_params():
    return [pytest.param(name, id=name) for name in CASES]


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def plain(cfg):
    return json.loads(json.dumps(cfg, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))


# --------------------------------------------------------------------- weight files
@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
@pytest.mark.parametrize("case", case_params())
def test_weights_round_trip(case, suffix, tmp_path):
    factory, spec = CASES[case]
    src = randomize(factory())
    x = make_inputs(spec)
    path = tmp_path / f"w{suffix}"
    src.save_weights(path)
    dst = factory()                 # fresh initialisation, other auto names
    assert any(not np.array_equal(a, b) for a, b in zip(src.get_weights(), dst.get_weights()))
    dst.load_weights(str(path))
    assert_same_weights(src, dst)
    np.testing.assert_array_equal(predict(src, x), predict(dst, x))


def test_legacy_layout_is_what_keras2_writes(tmp_path):
    m = Sequential([Dense(3, input_dim=2, name="d1"), Dropout(0.5, name="drop"),
                    Dense(1, name="d2")])
    m.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["d1", "drop", "d2"]
        assert f.attrs["layer_names"].dtype.kind == "S"           # byte strings
        assert f.attrs["keras_version"] == b"2.2.4"
        assert f.attrs["backend"] == b"tensorflow"
        assert [n.decode() for n in f["d1"].attrs["weight_names"]] == ["d1/kernel:0",
                                                                      "d1/bias:0"]
        assert len(f["drop"].attrs["weight_names"]) == 0          # weightless layers too
        np.testing.assert_array_equal(f["d1"]["d1/kernel:0"][()], m.layers[0].get_weights()[0])
        np.testing.assert_array_equal(f["d2/d2/bias:0"][()], m.layers[2].get_weights()[1])


def test_keras3_layout_for_weights_h5_names(tmp_path):
    m = Sequential([Dense(3, input_dim=2, name="first"), Dropout(0.5), Dense(1, name="out")])
    m.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5", "r") as f:
        assert set(f["layers"].keys()) == {"dense", "dropout", "dense_1"}
        assert f["layers/dense_1/vars"].attrs["name"] == "out"
        np.testing.assert_array_equal(f["layers/dense_1/vars/0"][()],
                                      m.layers[2].get_weights()[0])
        assert len(f["layers/dropout/vars"]) == 0
    # an explicit format overrides the suffix
    m.save_weights(tmp_path / "legacy.weights.h5", save_format="h5")
    with h5py.File(tmp_path / "legacy.weights.h5", "r") as f:
        assert "layer_names" in f.attrs


def test_recurrent_weights_go_under_cell_vars_in_keras3_layout(tmp_path):
    m = _lstm()
    m.save_weights(tmp_path / "r.weights.h5")
    with h5py.File(tmp_path / "r.weights.h5", "r") as f:
        assert sorted(f["layers/lstm_1/cell/vars"].keys()) == ["0", "1", "2"]
        assert f["layers/lstm/cell/vars/0"].shape == (3, 16)
        assert len(f["layers/lstm/vars"]) == 0


def test_load_accepts_path_objects_and_open_h5py_files(tmp_path):
    src, dst = randomize(_dense()), _dense()
    with h5py.File(tmp_path / "x.h5", "w") as f:
        src.save_weights(f)
    with h5py.File(tmp_path / "x.h5", "r") as f:
        dst.load_weights(f)
    assert_same_weights(src, dst)


# ----------------------------------------------------------------------- whole models
@pytest.mark.parametrize("case", case_params())
def test_whole_model_round_trip_and_continued_training(case, tmp_path):
    factory, spec = CASES[case]
    model = randomize(factory())
    model.compile(optimizer=optimizers.Adam(lr=0.01), loss="mse", metrics=["mae"])
    x = make_inputs(spec, n=8)
    y = np.random.RandomState(5).rand(8, *model.output_shape[1:]).astype("float32")
    set_random_seed(3)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = load_model(str(tmp_path / "m.h5"))
    assert type(loaded) is Sequential and loaded.name == model.name
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    assert plain(loaded.get_config()) == plain(model.get_config())
    assert_same_weights(model, loaded)
    np.testing.assert_array_equal(predict(model, x), predict(loaded, x))
    # compiled with the saved arguments and optimizer state
    assert type(loaded.optimizer) is optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 2
    for a, b in zip(model.optimizer.get_weights(), loaded.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.metrics_names == model.metrics_names == ["loss", "mae"]
    # training continues exactly as the saved model's would have
    for m in (model, loaded):
        if any(getattr(l, "stateful", False) for l in m.layers):
            m.reset_states()
        set_random_seed(11)
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(model, loaded)


@pytest.mark.parametrize("opt", [
    optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True, decay=1e-3),
    optimizers.SGD(lr=0.05),
    optimizers.RMSprop(lr=0.01),
    optimizers.Adagrad(lr=0.05),
    optimizers.Adadelta(),
    optimizers.Adam(lr=0.01, amsgrad=True, clipnorm=1.0),
    optimizers.Adamax(lr=0.01),
    optimizers.Nadam(lr=0.01),
], ids=lambda o: f"{type(o).__name__}")
def test_optimizer_state_round_trip(opt, tmp_path):
    x, y = make_inputs(("float", (5,)), n=24), np.random.RandomState(2).rand(24, 3)
    model = _dense()
    model.compile(optimizer=opt, loss="mse")
    set_random_seed(0)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert type(loaded.optimizer) is type(opt)
    assert loaded.optimizer.get_config() == opt.get_config()
    saved, restored = opt.get_weights(), loaded.optimizer.get_weights()
    assert len(saved) == len(restored)
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(a, b)
    for m in (model, loaded):
        set_random_seed(4)
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(model, loaded)


def test_restored_optimizer_state_matters(tmp_path):
    """Without the Adam moments, the continued run differs: the check above has teeth."""
    x, y = make_inputs(("float", (5,)), n=16), np.random.RandomState(2).rand(16, 3)
    model = Sequential([Dense(4, input_dim=5), Dense(3)])
    model.compile(optimizer=optimizers.Adam(lr=0.01), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model.save(tmp_path / "m.h5")
    fresh = load_model(tmp_path / "m.h5", compile=False)
    assert fresh.optimizer is None
    fresh.compile(optimizer=optimizers.Adam(lr=0.01), loss="mse")
    restored = load_model(tmp_path / "m.h5")
    for m in (model, fresh, restored):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(model, restored)
    assert not np.allclose(model.get_weights()[0], fresh.get_weights()[0], atol=1e-6)


def test_digits_model_learns_and_survives_a_save(digits, tmp_path):
    x, y = digits
    order = np.random.RandomState(0).permutation(len(x))      # held-out digits of all writers
    x, onehot = x[order], np.eye(10, dtype="float32")[y[order]]
    model = Sequential([Dense(32, input_dim=64, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    set_random_seed(0)
    model.fit(x[:1500], onehot[:1500], batch_size=32, epochs=8, verbose=0)
    loss, acc = model.evaluate(x[1500:], onehot[1500:], verbose=0)
    assert acc > 0.9
    model.save(tmp_path / "digits.h5")
    loaded = load_model(tmp_path / "digits.h5")
    assert loaded.evaluate(x[1500:], onehot[1500:], verbose=0) == [loss, acc]
    np.testing.assert_array_equal(loaded.predict(x[:50]), model.predict(x[:50]))
    for m in (model, loaded):
        set_random_seed(1)
        m.fit(x[:1500], onehot[:1500], batch_size=32, epochs=1, verbose=0)
    assert_same_weights(model, loaded)


def test_save_without_optimizer_and_uncompiled(tmp_path):
    model = _dense()
    model.save(tmp_path / "raw.h5")                    # never compiled
    with pytest.warns(UserWarning, match="not compiled"):
        loaded = load_model(tmp_path / "raw.h5")
    assert loaded.optimizer is None
    model.compile("sgd", "mse")
    model.save(tmp_path / "noopt.h5", include_optimizer=False)
    with h5py.File(tmp_path / "noopt.h5", "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    assert_same_weights(model, load_model(tmp_path / "noopt.h5", compile=False))


def test_whole_model_file_layout(tmp_path):
    model = _dense()
    model.compile(optimizer=optimizers.SGD(lr=0.1, momentum=0.5), loss="mse",
                  metrics=["accuracy"])
    model.fit(np.zeros((4, 5), "float32"), np.zeros((4, 3), "float32"), verbose=0)
    model.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        mc = json.loads(f.attrs["model_config"])
        assert mc["class_name"] == "Sequential"
        assert mc["config"]["layers"][0] == {"class_name": "InputLayer", "config": {
            "batch_input_shape": [None, 5], "dtype": "float32", "sparse": False,
            "name": model.layers[0].name + "_input"}}
        assert [l["class_name"] for l in mc["config"]["layers"][1:]] == \
            ["Dense", "Dropout", "Dense"]
        tc = json.loads(f.attrs["training_config"])
        assert tc["optimizer_config"] == {"class_name": "SGD", "config": {
            "learning_rate": 0.1, "decay": 0.0, "momentum": 0.5, "nesterov": False}}
        assert tc["loss"] == "mse" and tc["metrics"] == ["accuracy"]
        assert tc["sample_weight_mode"] is None and tc["loss_weights"] is None
        assert [n.decode() for n in f["model_weights"].attrs["layer_names"]] == \
            [l.name for l in model.layers]
        names = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
        assert names[0] == "SGD/iterations:0"
        assert f["optimizer_weights"][names[0]][()] == 1
        assert len(names) == 1 + 4         # iterations + one momentum per weight


# ------------------------------------------------------------------------- configs
@pytest.mark.parametrize("case", case_params())
def test_json_and_yaml_round_trips(case, tmp_path):
    factory, spec = CASES[case]
    model = randomize(factory())
    x = make_inputs(spec)
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Sequential"
    rebuilt_models = [model_from_json(text),
                      model_from_config({"class_name": "Sequential",
                                         "config": model.get_config()})]
    try:
        import yaml  # noqa: F401
    except ImportError:          # PyYAML is optional; to_yaml says so when it is missing
        pass
    else:
        rebuilt_models.append(model_from_yaml(model.to_yaml()))
    for rebuilt in rebuilt_models:
        assert plain(rebuilt.get_config()) == plain(model.get_config())
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_array_equal(predict(rebuilt, x), predict(model, x))
    assert model.to_json(indent=2).count("\n") > 10


@pytest.mark.parametrize("case", case_params())
def test_every_layer_config_round_trips(case):
    factory, _ = CASES[case]
    model = factory()
    for layer in model.layers:
        cfg = layer.get_config()
        json.dumps(plain(cfg))
        clone = type(layer).from_config(cfg)
        assert type(clone) is type(layer)
        assert plain(clone.get_config()) == plain(cfg), layer.name


def test_every_registered_layer_has_a_saving_case():
    covered = set()
    for factory, _ in CASES.values():
        try:
            model = factory()
        except pytest.skip.Exception:
            continue
        stack = list(model.layers)
        while stack:
            layer = stack.pop()
            covered.add(type(layer).__name__)
            stack.extend(getattr(layer, "_sublayers", lambda: [])())
            for b in getattr(layer, "branches", []):
                stack.extend(b.layers)
    missing = sorted(set(layers_mod._REGISTRY) - covered - {"Layer", "Lambda"})
    assert not missing, (f"Registered layers without a saving round-trip case: {missing}. "
                         "Add a small model using them to CASES in tests/test_saving.py.")


def test_sequential_config_forms():
    m = Sequential([Dense(2, input_dim=3, name="a"), Activation("relu", name="b")],
                   name="forms")
    layer_cfgs = m.get_config()["layers"]
    for cfg in ({"class_name": "Sequential", "config": m.get_config()},
                m.get_config(),                                   # inner dict
                layer_cfgs,                                       # Keras 2.0/2.1 bare list
                {"class_name": "Sequential", "config": layer_cfgs}):
        rebuilt = model_from_config(cfg)
        assert [l.name for l in rebuilt.layers] == ["a", "b"]
        assert rebuilt.input_shape == (None, 3)


def test_keras1_and_keras2_class_names_and_arguments_map_to_ours():
    keras1 = {"class_name": "Sequential", "config": [
        {"class_name": "Dense", "config": {
            "W_constraint": None, "b_constraint": None, "name": "dense_1",
            "activity_regularizer": None, "trainable": True, "init": "glorot_uniform",
            "bias": True, "input_dtype": "float32", "input_dim": 4, "b_regularizer": None,
            "W_regularizer": None, "activation": "relu", "output_dim": 5,
            "batch_input_shape": [None, 4]}},
        {"class_name": "Dropout", "config": {"p": 0.25, "trainable": True,
                                             "name": "dropout_1"}},
        {"class_name": "Activation", "config": {"activation": "softmax", "trainable": True,
                                                "name": "activation_1"}}]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # the Keras 2 API update notices
        m = model_from_config(keras1)
    assert [type(l).__name__ for l in m.layers] == ["Dense", "Dropout", "Activation"]
    assert m.layers[0].units == 5 and m.layers[1].rate == 0.25
    assert m.input_shape == (None, 4) and m.output_shape == (None, 5)
    conv = {"class_name": "Sequential", "config": {"name": "c", "layers": [
        {"class_name": "Convolution2D", "config": {
            "filters": 2, "kernel_size": [3, 3], "batch_input_shape": [None, 5, 5, 1],
            "name": "conv"}},
        {"class_name": "MaxPool2D", "config": {"pool_size": [2, 2], "name": "pool"}}]}}
    if not hasattr(layers_mod, "Conv2D") or not hasattr(layers_mod, "MaxPooling2D"):
        pytest.skip("convolution layers are not available yet")
    m = model_from_config(conv)
    assert [type(l).__name__ for l in m.layers] == ["Conv2D", "MaxPooling2D"]
    assert m.output_shape == (None, 1, 1, 2)


def test_unknown_config_entries_are_dropped_with_a_warning():
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"units": 2, "batch_input_shape": [None, 3],
                                           "quantization_config": None, "lora_rank": None,
                                           "future_option": 4}}]}}
    with pytest.warns(UserWarning, match="future_option") as record:
        m = model_from_config(cfg)
    assert m.layers[0].units == 2
    assert not any("lora_rank" in str(w.message) for w in record)   # empty: dropped quietly


def test_functional_configs_are_refused_clearly():
    with pytest.raises(ValueError, match="Sequential models"):
        model_from_config({"class_name": "Model", "config": {"layers": []}})
    with pytest.raises(ValueError, match="Unknown layer class 'Fancy'"):
        model_from_config([{"class_name": "Fancy", "config": {}}])


# -------------------------------------------------------------------- custom objects
class Scale(Layer):
    """y = x * w (one weight per feature)."""

    def __init__(self, init_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape):
        from gpuseq import initializers
        self.w = self.add_weight("w", (input_shape[-1],),
                                 initializers.Constant(self.init_value))

    def call(self, inputs, training=False):
        return inputs * self.w

    def get_config(self):
        cfg = super().get_config()
        cfg["init_value"] = self.init_value
        return cfg


def cube(x):
    return x * x * x


def halve(x):
    return x * 0.5


def scaled_mse(y_true, y_pred):
    return K.mean(K.square(y_pred - y_true), axis=-1) * 2.0


def mean_pred(y_true, y_pred):
    return K.mean(y_pred)


def test_custom_objects(tmp_path):
    model = Sequential([Dense(4, input_dim=3), Scale(2.0), Activation(cube),
                        Lambda(halve), Dense(2)])
    randomize(model)
    model.compile("sgd", loss=scaled_mse, metrics=[mean_pred])
    x = make_inputs(("float", (3,)), n=6)
    y = np.random.RandomState(0).rand(6, 2).astype("float32")
    model.fit(x, y, verbose=0, shuffle=False)
    model.save(tmp_path / "c.h5")
    with pytest.raises(ValueError, match="Scale"):
        load_model(tmp_path / "c.h5")
    with pytest.raises(ValueError, match="halve"):
        load_model(tmp_path / "c.h5", custom_objects={"Scale": Scale, "cube": cube})
    with pytest.raises(ValueError, match="scaled_mse(.|\n)*custom_objects"):
        load_model(tmp_path / "c.h5", custom_objects={"Scale": Scale, "cube": cube,
                                                      "halve": halve})
    co = {"Scale": Scale, "cube": cube, "halve": halve, "scaled_mse": scaled_mse,
          "mean_pred": mean_pred}
    loaded = load_model(tmp_path / "c.h5", custom_objects=co)
    assert isinstance(loaded.layers[1], Scale) and loaded.layers[1].init_value == 2.0
    assert loaded.layers[2].activation is cube and loaded.layers[3].function is halve
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.metrics_names == ["loss", "mean_pred"]
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0),
                               model.evaluate(x, y, verbose=0), rtol=1e-6)
    rebuilt = model_from_json(model.to_json(), custom_objects=co)
    assert plain(rebuilt.get_config()) == plain(model.get_config())


# -------------------------------------------------------------------------- errors
def test_shape_mismatch_names_layer_and_shapes_and_changes_nothing(tmp_path):
    src = Sequential([Dense(4, input_dim=5), Dense(2)])
    src.save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(4, input_dim=5, name="first"), Dense(3, name="second")])
    before = dst.get_weights()
    with pytest.raises(ValueError) as e:
        dst.load_weights(tmp_path / "w.h5")
    msg = str(e.value)
    assert "'second'" in msg and "(4, 3)" in msg and "(4, 2)" in msg
    assert "No weight was changed" in msg
    for a, b in zip(before, dst.get_weights()):     # not even the matching first layer
        np.testing.assert_array_equal(a, b)


def test_layer_count_mismatch(tmp_path):
    Sequential([Dense(4, input_dim=5), Dense(2)]).save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(4, input_dim=5)])
    with pytest.raises(ValueError, match="containing 2 layers with weights into a model "
                                         "with 1 layers"):
        dst.load_weights(tmp_path / "w.h5")


def test_by_name_and_skip_mismatch(tmp_path):
    src = Sequential([Dense(4, input_dim=5, name="shared"), Dense(2, name="head")])
    randomize(src)
    src.save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(4, input_dim=5, name="shared"), Dense(7, name="other"),
                      Dense(3, name="head")])
    head_before = dst.layers[2].get_weights()
    other_before = dst.layers[1].get_weights()
    with pytest.raises(ValueError, match="'head'"):
        dst.load_weights(tmp_path / "w.h5", by_name=True)
    with pytest.warns(UserWarning, match=r"Layer 'head' \(Dense\): weight 'head/kernel:0' "
                                         r"expects shape \(7, 3\)"):
        dst.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    for a, b in zip(dst.layers[0].get_weights(), src.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(dst.layers[2].get_weights() + dst.layers[1].get_weights(),
                    head_before + other_before):
        np.testing.assert_array_equal(a, b)


def test_skip_mismatch_in_topological_loading(tmp_path):
    src = randomize(Sequential([Dense(4, input_dim=5), Dense(2)]))
    src.save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(4, input_dim=5), Dense(3)])
    with pytest.warns(UserWarning, match="expects shape"):
        dst.load_weights(tmp_path / "w.h5", skip_mismatch=True)
    np.testing.assert_array_equal(dst.layers[0].get_weights()[0],
                                  src.layers[0].get_weights()[0])


def test_reshape_option(tmp_path):
    src = randomize(Sequential([Dense(6, input_dim=4)]))
    with h5py.File(tmp_path / "flat.h5", "w") as f:        # kernel stored flat
        f.attrs["layer_names"] = [b"d"]
        f.attrs["keras_version"] = b"2.2.4"
        f.create_group("d").attrs["weight_names"] = [b"d/kernel:0", b"d/bias:0"]
        f["d"]["d/kernel:0"] = src.get_weights()[0].reshape(-1)
        f["d"]["d/bias:0"] = src.get_weights()[1]
    dst = Sequential([Dense(6, input_dim=4)])
    with pytest.raises(ValueError, match=r"expects shape \(4, 6\).*\(24,\)"):
        dst.load_weights(tmp_path / "flat.h5")
    dst.load_weights(tmp_path / "flat.h5", reshape=True)
    assert_same_weights(src, dst)


def test_unbuilt_model_cannot_save_or_load(tmp_path):
    m = Sequential([Dense(2)])
    with pytest.raises(ValueError, match="has not been built"):
        m.save_weights(tmp_path / "w.h5")
    _dense().save_weights(tmp_path / "ok.h5")
    with pytest.raises(ValueError, match="has not been built"):
        m.load_weights(tmp_path / "ok.h5")
    assert not (tmp_path / "w.h5").exists()


def test_unreadable_files_give_clear_errors(tmp_path):
    m = _dense()
    with pytest.raises(FileNotFoundError, match="no such file"):
        m.load_weights(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("these are not weights\n")
    with pytest.raises(SavedFileError, match="not an HDF5 file"):
        m.load_weights(tmp_path / "text.h5")
    with pytest.raises(SavedFileError, match="not an HDF5 file"):
        load_model(tmp_path / "text.h5")
    m.save_weights(tmp_path / "good.h5")
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[:len(data) // 2])
    with pytest.raises(SavedFileError, match="damaged or truncated"):
        m.load_weights(tmp_path / "cut.h5")
    with pytest.raises(SavedFileError, match="is a directory"):
        m.load_weights(tmp_path)
    import zipfile
    with zipfile.ZipFile(tmp_path / "model.keras", "w") as z:
        z.writestr("config.json", "{}")
    with pytest.raises(SavedFileError, match=r"\.keras"):
        m.load_weights(tmp_path / "model.keras")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(SavedFileError, match="holds no Keras weights"):
        m.load_weights(tmp_path / "other.h5")
    with pytest.raises(SavedFileError, match="weights-only file"):
        load_model(tmp_path / "good.h5")
    with h5py.File(tmp_path / "broken.h5", "w") as f:       # names a dataset it lacks
        f.attrs["layer_names"] = [b"dense_x"]
        f.create_group("dense_x").attrs["weight_names"] = [b"dense_x/kernel:0"]
    with pytest.raises(SavedFileError, match="holds no such dataset"):
        m.load_weights(tmp_path / "broken.h5")
    with pytest.raises(ValueError, match="`.keras` suffix"):
        m.save(tmp_path / "m.keras")


def test_overwrite_false_raises_instead_of_asking(tmp_path):
    m = randomize(_dense())
    path = tmp_path / "w.h5"
    m.save_weights(path, overwrite=False)          # new file: fine
    before = path.read_bytes()
    randomize(m, seed=9)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        m.save_weights(path, overwrite=False)
    with pytest.raises(FileExistsError):
        m.save(path, overwrite=False)
    assert path.read_bytes() == before
    m.save_weights(path)                           # overwrite=True replaces it
    assert path.read_bytes() != before


# ------------------------------------------------------------------ atomic writes
def _dir_listing(path):
    return sorted(p.name for p in path.iterdir())


@pytest.mark.parametrize("method", ["save_weights", "save", "save_keras3"])
def test_interrupted_save_keeps_the_previous_file(method, tmp_path, monkeypatch):
    import gpuseq.saving.hdf5 as h5mod
    model = randomize(_dense())
    model.compile("adam", "mse")
    name = "m.weights.h5" if method == "save_keras3" else "m.h5"
    path = tmp_path / name
    call = model.save if method == "save" else model.save_weights
    call(path)
    before = path.read_bytes()
    reference = _dense()
    reference.load_weights(path)
    randomize(model, seed=7)
    real_write, count = h5mod.write_array, [0]

    def failing_write(group, name, value):
        count[0] += 1
        if count[0] == 3:
            raise KeyboardInterrupt("simulated interruption in the middle of the write")
        return real_write(group, name, value)

    monkeypatch.setattr(h5mod, "write_array", failing_write)
    with pytest.raises(KeyboardInterrupt):
        call(path)
    assert count[0] == 3
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == [name]          # no temporary file left behind
    monkeypatch.undo()
    check = _dense()
    check.load_weights(path)
    assert_same_weights(check, reference)


def test_killed_save_keeps_the_previous_file(tmp_path):
    """A process killed in the middle of a save leaves the old file as it was."""
    script = tmp_path / "kill.py"
    script.write_text(
        "import os, sys\n"
        "import numpy as np\n"
        "import gpuseq.saving.hdf5 as h5mod\n"
        "from gpuseq.layers import Dense\n"
        "from gpuseq.models import Sequential\n"
        "target, reference = sys.argv[1], sys.argv[2]\n"
        "m = Sequential([Dense(6, input_dim=5), Dense(3)])\n"
        "m.save_weights(target)\n"
        "np.savez(reference, *m.get_weights())\n"
        "real, n = h5mod.write_array, [0]\n"
        "def dying(group, name, value):\n"
        "    n[0] += 1\n"
        "    if n[0] == 3:\n"
        "        os._exit(9)          # killed: no cleanup, no exception handlers\n"
        "    return real(group, name, value)\n"
        "h5mod.write_array = dying\n"
        "m.set_weights([w + 1 for w in m.get_weights()])\n"
        "m.save_weights(target)\n")
    out = tmp_path / "out"
    out.mkdir()
    target, reference = out / "w.h5", tmp_path / "ref.npz"
    env = dict(os.environ, GPUSEQ_BACKEND="numpy",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), str(target), str(reference)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    saved = np.load(reference)
    m = Sequential([Dense(6, input_dim=5), Dense(3)])
    m.load_weights(target)                         # the complete first file
    for i, w in enumerate(m.get_weights()):
        np.testing.assert_array_equal(w, saved[f"arr_{i}"])
    leftovers = [p for p in _dir_listing(out) if p != "w.h5"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".w.h5.") and \
        leftovers[0].endswith(".tmp")              # the killed writer's temporary file


# --------------------------------------------------------------- chunked attributes
def test_long_layer_name_lists_are_chunked_and_read_back(tmp_path):
    long = "x" * 1500
    model = Sequential([Dense(3, input_dim=2, name="in_" + long)] +
                       [Activation("linear", name=f"act{i:02d}_{long}") for i in range(60)] +
                       [Dense(2, name="out_" + long)])
    randomize(model)
    model.save_weights(tmp_path / "w.h5")
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert "layer_names" not in f.attrs
        chunks = sorted(k for k in f.attrs if k.startswith("layer_names"))
        assert chunks == [f"layer_names{i}" for i in range(len(chunks))] and len(chunks) >= 2
        assert all(f.attrs[c].nbytes <= 64512 for c in chunks)
        names = [n.decode() for c in chunks for n in f.attrs[c]]
        assert names == [l.name for l in model.layers]
    other = Sequential([Dense(3, input_dim=2)] + [Activation("linear") for _ in range(60)] +
                       [Dense(2)])
    other.load_weights(tmp_path / "w.h5")
    assert_same_weights(model, other)
    model.compile("sgd", "mse")
    model.save(tmp_path / "m.h5")
    assert_same_weights(model, load_model(tmp_path / "m.h5"))


def test_duplicate_layer_names_in_merge_branches_are_refused(tmp_path):
    a = Sequential([Dense(2, input_dim=3, name="same")])
    b = Sequential([Dense(2, input_dim=3, name="same")])
    m = Sequential([L("Merge")([a, b], mode="sum")])
    with pytest.raises(ValueError, match="two layers are named 'same'"):
        m.save_weights(tmp_path / "w.h5")
    assert not (tmp_path / "w.h5").exists()


def test_backend_round_trip(backend, tmp_path):
    """Weights on the active backend's device go to the file and back unchanged."""
    src = randomize(Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2)]))
    src.save_weights(tmp_path / "w.h5")
    dst = Sequential([Dense(4, input_dim=3, activation="relu"), Dense(2)])
    dst.load_weights(tmp_path / "w.h5")
    assert_same_weights(src, dst)
    x = make_inputs(("float", (3,)))
    np.testing.assert_array_equal(src.predict(x), dst.predict(x))
