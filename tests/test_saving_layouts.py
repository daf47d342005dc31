"""Reading files in every Keras layout, from fixtures written here with h5py exactly as
Keras 1, Keras 2 and Keras 3 lay them out (no Keras needed; nothing downloaded).

Expected outputs come from NumPy re-implementations of the tiny models, or from the
per-gate arrays repacked by hand, never from the loader under test.
"""
import json

import h5py
import numpy as np
import pytest

import gpuseq.layers as layers_mod
from gpuseq import optimizers
from gpuseq.layers import Dense, Dropout
from gpuseq.models import Sequential, load_model


def L(name):
    cls = getattr(layers_mod, name, None)
    if cls is None:
        pytest.skip(f"gpuseq.layers.{name} is not available yet")
    return cls


RNG = np.random.RandomState(42)
W1, B1 = RNG.normal(size=(4, 5)).astype("float32"), RNG.normal(size=5).astype("float32")
W2, B2 = RNG.normal(size=(5, 3)).astype("float32"), RNG.normal(size=3).astype("float32")
X = RNG.rand(6, 4).astype("float32")


def reference_mlp(x):
    """softmax(relu(x W1 + b1) W2 + b2) in float64."""
    h = np.maximum(x.astype("float64") @ W1 + B1, 0)
    z = h @ W2 + B2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp():
    return Sequential([Dense(5, input_dim=4, activation="relu"), Dropout(0.5),
                       Dense(3, activation="softmax")])


def _names(strings, as_str):
    return [s if as_str else s.encode("utf8") for s in strings]


def write_legacy_group(group, layers, as_str=False, keras_version="2.2.4",
                       backend="tensorflow"):
    """Keras 1/2/3 legacy weights layout. ``layers``: [(layer_name, [(weight_name, array)])]."""
    group.attrs["layer_names"] = _names([n for n, _ in layers], as_str)
    if backend is not None:
        group.attrs["backend"] = backend if as_str else backend.encode()
    if keras_version is not None:
        group.attrs["keras_version"] = keras_version if as_str else keras_version.encode()
    for name, weights in layers:
        g = group.create_group(name)
        g.attrs["weight_names"] = _names([w for w, _ in weights], as_str)
        for w, a in weights:
            g.create_dataset(w, data=a)


def keras2_layers(suffix=":0", prefix=""):
    return [("dense_1", [(f"{prefix}dense_1/kernel{suffix}", W1),
                         (f"{prefix}dense_1/bias{suffix}", B1)]),
            ("dropout_1", []),
            ("dense_2", [(f"{prefix}dense_2/kernel{suffix}", W2),
                         (f"{prefix}dense_2/bias{suffix}", B2)])]


# ----------------------------------------------------------------------- Keras 2 files
@pytest.mark.parametrize("as_str", [False, True], ids=["bytes_attrs", "str_attrs"])
def test_keras2_weights_file(as_str, tmp_path):
    with h5py.File(tmp_path / "w.h5", "w") as f:
        write_legacy_group(f, keras2_layers(), as_str=as_str)
    m = mlp()
    m.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)


KERAS2_MODEL_CONFIG = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
    {"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "batch_input_shape": [None, 4],
        "dtype": "float32", "units": 5, "activation": "relu", "use_bias": True,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {
            "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}},
        "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 3,
                                                                  "axis": 0}},
        "bias_constraint": None}},
    {"class_name": "Dropout", "config": {"name": "dropout_1", "trainable": True, "rate": 0.5,
                                         "noise_shape": None, "seed": None}},
    {"class_name": "Dense", "config": {
        "name": "dense_2", "trainable": True, "units": 3, "activation": "softmax",
        "use_bias": True, "kernel_initializer": {"class_name": "VarianceScaling", "config": {
            "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}}]}}


def write_keras2_model(path, optimizer_weights):
    """What Keras 2.2.4's model.save writes (bytes attributes, Adam with `lr`)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(KERAS2_MODEL_CONFIG).encode()
        f.attrs["training_config"] = json.dumps({
            "optimizer_config": {"class_name": "Adam", "config": {
                "lr": 0.0025, "beta_1": 0.9, "beta_2": 0.999, "decay": 0.0,
                "epsilon": 1e-07, "amsgrad": False}},
            "loss": "categorical_crossentropy", "metrics": ["acc"],
            "sample_weight_mode": None, "loss_weights": None}).encode()
        write_legacy_group(f.create_group("model_weights"), keras2_layers())
        g = f.create_group("optimizer_weights")
        g.attrs["weight_names"] = [n.encode() for n, _ in optimizer_weights]
        for n, a in optimizer_weights:
            g.create_dataset(n, data=a)


def adam_state_keras224(iterations=7):
    """Keras 2.2.4's Adam.weights: [iterations] + ms + vs + vhats (unused: shape (1,))."""
    rng = np.random.RandomState(3)
    shapes = [W1.shape, B1.shape, W2.shape, B2.shape]
    ms = [rng.normal(size=s).astype("float32") for s in shapes]
    vs = [rng.rand(*s).astype("float32") for s in shapes]
    vh = [np.zeros(1, "float32") for _ in shapes]
    names = ["Adam/iterations:0"] + [f"training/Adam/Variable_{i}:0" for i in range(12)]
    names[1] = "training/Adam/Variable:0"
    return list(zip(names, [np.int64(iterations)] + ms + vs + vh)), ms, vs


def test_keras2_whole_model_file(tmp_path):
    state, ms, vs = adam_state_keras224()
    write_keras2_model(tmp_path / "m.h5", state)
    m = load_model(tmp_path / "m.h5")
    assert [l.name for l in m.layers] == ["dense_1", "dropout_1", "dense_2"]
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    assert m.layers[0].kernel_regularizer.l2 == 0.01
    assert m.layers[0].kernel_constraint.max_value == 3
    assert isinstance(m.optimizer, optimizers.Adam)
    assert m.optimizer.get_config()["lr"] == 0.0025
    assert m.metrics_names == ["loss", "acc"]
    # Keras 2's optimizer state: iterations and the m / v arrays, the vhat slots dropped
    restored = m.optimizer.get_weights()
    assert int(restored[0]) == 7 and len(restored) == 1 + 8
    for got, want in zip(restored[1:], ms + vs):
        np.testing.assert_array_equal(got, want)


def test_keras2_optimizer_state_that_does_not_fit_is_skipped_with_a_warning(tmp_path):
    write_keras2_model(tmp_path / "m.h5", [("Adam/iterations:0", np.int64(3)),
                                           ("training/Adam/Variable:0", np.zeros(2))])
    with pytest.warns(UserWarning, match="could not be restored"):
        m = load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    assert m.optimizer.iterations == 0


def test_weights_of_a_whole_model_file_load_with_load_weights(tmp_path):
    write_keras2_model(tmp_path / "m.h5", adam_state_keras224()[0])
    m = mlp()
    m.load_weights(tmp_path / "m.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------- Keras 3 files
def _policy():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def _k3_dense(name, units, activation):
    init = {"module": "keras.initializers", "class_name": "GlorotUniform",
            "config": {"seed": None}, "registered_name": None}
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": _policy(), "units": units,
        "activation": activation, "use_bias": True, "kernel_initializer": init,
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                             "config": {}, "registered_name": None},
        "kernel_regularizer": {"module": "keras.regularizers", "class_name": "L2",
                               "config": {"l2": 0.001}, "registered_name": None},
        "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
        "quantization_config": None}}


KERAS3_MODEL_CONFIG = {"class_name": "Sequential", "config": {
    "name": "sequential", "trainable": True, "dtype": _policy(), "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "dtype": "float32",
                                                "sparse": False, "ragged": False,
                                                "name": "input_layer", "optional": False}},
        _k3_dense("dense", 5, "relu"),
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True,
                                             "dtype": _policy(), "rate": 0.5, "seed": None,
                                             "noise_shape": None}},
        _k3_dense("dense_1", 3, "softmax")],
    "build_input_shape": [None, 4]}}


def write_keras3_legacy_model(path):
    """What Keras 3's model.save('m.h5') writes: str attributes, weight names without
    ':0' nested under the model name, top_level_model_weights, Keras 3 configs."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "3.5.0"
        f.attrs["backend"] = "jax"
        f.attrs["model_config"] = json.dumps(KERAS3_MODEL_CONFIG)
        f.attrs["training_config"] = json.dumps({
            "loss": "categorical_crossentropy", "loss_weights": None, "metrics": None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": True, "optimizer_config": {"class_name": "Adam", "config": {
                "name": "adam", "learning_rate": 0.004, "weight_decay": None,
                "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                "loss_scale_factor": None, "gradient_accumulation_steps": None,
                "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}})
        g = f.create_group("model_weights")
        layers = [("dense", [("sequential/dense/kernel", W1), ("sequential/dense/bias", B1)]),
                  ("dropout", []),
                  ("dense_1", [("sequential/dense_1/kernel", W2),
                               ("sequential/dense_1/bias", B2)])]
        write_legacy_group(g, layers, as_str=True, keras_version="3.5.0", backend="jax")
        g.create_group("top_level_model_weights").attrs["weight_names"] = []
        o = f.create_group("optimizer_weights")
        o.attrs["weight_names"] = ["adam/iteration", "adam/learning_rate"]
        o.create_dataset("adam/iteration", data=np.int32(2))
        o.create_dataset("adam/learning_rate", data=np.float32(0.004))


def test_keras3_legacy_h5_model(tmp_path):
    write_keras3_legacy_model(tmp_path / "k3.h5")
    with pytest.warns(UserWarning, match="Keras 3.5.0"):       # its optimizer state
        m = load_model(tmp_path / "k3.h5")
    assert [l.name for l in m.layers] == ["dense", "dropout", "dense_1"]
    assert m.input_shape == (None, 4)
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    assert m.layers[0].kernel_regularizer.l2 == pytest.approx(0.001)
    assert isinstance(m.optimizer, optimizers.Adam)
    assert m.optimizer.get_config()["lr"] == 0.004
    other = mlp()
    other.load_weights(tmp_path / "k3.h5")
    np.testing.assert_allclose(other.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    by_name = Sequential([Dense(5, input_dim=4, activation="relu", name="dense"),
                          Dense(3, activation="softmax", name="dense_1")])
    by_name.load_weights(tmp_path / "k3.h5", by_name=True)
    np.testing.assert_allclose(by_name.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)


def write_keras3_weights(path, extra=None):
    """What Keras 3's model.save_weights('m.weights.h5') writes."""
    with h5py.File(path, "w") as f:
        for key, name, arrays in [("dense", "hidden", [W1, B1]), ("dropout", "drop", []),
                                  ("dense_1", "out", [W2, B2])] + (extra or []):
            v = f.create_group(f"layers/{key}/vars")
            v.attrs["name"] = name
            for i, a in enumerate(arrays):
                v.create_dataset(str(i), data=a)
        f.create_group("vars").attrs["name"] = "sequential"
        o = f.create_group("optimizer/vars")
        o.attrs["name"] = "adam"
        o.create_dataset("0", data=np.int32(0))


def test_keras3_weights_h5(tmp_path):
    write_keras3_weights(tmp_path / "k.weights.h5")
    m = mlp()
    m.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    named = Sequential([Dense(5, input_dim=4, activation="relu", name="hidden"),
                        Dense(3, activation="softmax", name="out")])
    named.load_weights(tmp_path / "k.weights.h5", by_name=True)
    np.testing.assert_allclose(named.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)
    short = Sequential([Dense(5, input_dim=4, activation="relu")])
    with pytest.raises(ValueError, match="layers/dense_1"):
        short.load_weights(tmp_path / "k.weights.h5")


def test_keras3_recurrent_weights_under_cell_vars(tmp_path):
    LSTM = L("LSTM")
    rng = np.random.RandomState(0)
    k, r, b = (rng.normal(size=s).astype("float32") for s in [(2, 12), (3, 12), (12,)])
    with h5py.File(tmp_path / "r.weights.h5", "w") as f:
        f.create_group("layers/lstm/vars").attrs["name"] = "lstm"
        cell = f.create_group("layers/lstm/cell/vars")
        for i, a in enumerate([k, r, b]):
            cell.create_dataset(str(i), data=a)
    m = Sequential([LSTM(3, input_shape=(4, 2))])
    m.load_weights(tmp_path / "r.weights.h5")
    for got, want in zip(m.get_weights(), [k, r, b]):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------- Keras 1 files
def test_keras1_dense_file(tmp_path):
    """Keras 1 names (dense_1_W, dense_1_b) and no keras_version attribute."""
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        write_legacy_group(f, [("dense_1", [("dense_1_W", W1), ("dense_1_b", B1)]),
                               ("dropout_1", []),
                               ("dense_2", [("dense_2_W", W2), ("dense_2_b", B2)])],
                           keras_version=None, backend="theano")
    m = mlp()
    m.load_weights(tmp_path / "k1.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)


def _gates(rng, gates, n_in, units):
    return {g: (rng.normal(size=(n_in, units)).astype("float32"),
                rng.normal(size=(units, units)).astype("float32"),
                rng.normal(size=units).astype("float32")) for g in gates}


@pytest.mark.parametrize("named", [True, False], ids=["names", "positional"])
def test_keras1_lstm_twelve_arrays_repacked_i_f_c_o(named, tmp_path):
    LSTM = L("LSTM")
    g = _gates(np.random.RandomState(1), "ifco", 2, 3)
    # Keras 1's LSTM.trainable_weights order: i, c, f, o (W, U, b each)
    order = "icfo"
    weights = [(f"lstm_1_{kind}_{gate}" if named else f"param_{3 * j + i}", g[gate][i])
               for j, gate in enumerate(order) for i, kind in enumerate("WUb")]
    if named:   # names decide, whatever the order in the file
        weights = weights[3:6] + weights[:3] + weights[6:]
    dense = [("dense_1_W", W2[:3, :2]), ("dense_1_b", B2[:2])]
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        write_legacy_group(f, [("lstm_1", weights), ("dense_1", dense)], keras_version=None)
    m = Sequential([LSTM(3, input_shape=(5, 2)), Dense(2)])
    m.load_weights(tmp_path / "k1.h5")
    kernel = np.concatenate([g["i"][0], g["f"][0], g["c"][0], g["o"][0]], axis=1)
    recurrent = np.concatenate([g["i"][1], g["f"][1], g["c"][1], g["o"][1]], axis=1)
    bias = np.concatenate([g["i"][2], g["f"][2], g["c"][2], g["o"][2]])
    for got, want in zip(m.get_weights(), [kernel, recurrent, bias, W2[:3, :2], B2[:2]]):
        np.testing.assert_array_equal(got, want)
    ref = Sequential([LSTM(3, input_shape=(5, 2)), Dense(2)])
    ref.set_weights([kernel, recurrent, bias, W2[:3, :2], B2[:2]])
    x = np.random.RandomState(2).rand(3, 5, 2).astype("float32")
    np.testing.assert_array_equal(m.predict(x), ref.predict(x))


def test_keras1_gru_nine_arrays_repacked_z_r_h(tmp_path):
    GRU = L("GRU")
    g = _gates(np.random.RandomState(4), "zrh", 2, 3)
    weights = [(f"gru_1_{kind}_{gate}", g[gate][i]) for gate in "zrh"
               for i, kind in enumerate("WUb")]
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        write_legacy_group(f, [("gru_1", weights)], keras_version="1.2.2")
    m = Sequential([GRU(3, reset_after=False, input_shape=(5, 2))])
    m.load_weights(tmp_path / "k1.h5")
    for got, want in zip(m.get_weights(),
                         [np.concatenate([g[k][i] for k in "zrh"], axis=-1) for i in range(3)]):
        np.testing.assert_array_equal(got, want)
    # the default GRU (reset_after=True) cannot take this bias, and says why
    m2 = Sequential([GRU(3, input_shape=(5, 2))])
    before = m2.get_weights()
    with pytest.raises(ValueError, match="reset_after=False form") as e:
        m2.load_weights(tmp_path / "k1.h5")
    assert "(2, 9)" in str(e.value) and "(9,)" in str(e.value)
    for a, b in zip(before, m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_gru_bias_of_the_reset_after_form_is_explained(tmp_path):
    GRU = L("GRU")
    src = Sequential([GRU(3, input_shape=(5, 2))])              # reset_after=True
    src.save_weights(tmp_path / "g.h5")
    dst = Sequential([GRU(3, reset_after=False, input_shape=(5, 2))])
    with pytest.raises(ValueError, match=r"reset_after=True form \(2, 3\*units\)"):
        dst.load_weights(tmp_path / "g.h5")


@pytest.mark.parametrize("backend", ["tensorflow", "theano"])
def test_keras1_theano_ordered_conv_kernel(backend, tmp_path):
    Conv2D = L("Conv2D")
    w = np.random.RandomState(5).normal(size=(4, 2, 3, 3)).astype("float32")  # (out, in, r, c)
    b = np.arange(4, dtype="float32")
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        write_legacy_group(f, [("convolution2d_1", [("convolution2d_1_W", w),
                                                    ("convolution2d_1_b", b)])],
                           keras_version=None, backend=backend)
    m = Sequential([Conv2D(4, (3, 3), input_shape=(6, 6, 2))])
    m.load_weights(tmp_path / "k1.h5")
    want = np.transpose(w, (2, 3, 1, 0))                      # (r, c, in, out)
    if backend == "theano":                                   # Theano convolved: flip
        want = want[::-1, ::-1]
    np.testing.assert_array_equal(m.layers[0].get_weights()[0], want)
    np.testing.assert_array_equal(m.layers[0].get_weights()[1], b)


# ------------------------------------------------------------------ chunked attributes
def test_keras_style_chunked_attributes(tmp_path):
    """layer_names split into layer_names0, layer_names1 (str entries) as Keras writes
    lists over 64 KB; weight_names chunked too."""
    layers = keras2_layers()
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.attrs["layer_names0"] = ["dense_1", "dropout_1"]
        f.attrs["layer_names1"] = ["dense_2"]
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = f.create_group(name)
            if weights:
                g.attrs["weight_names0"] = [weights[0][0].encode()]
                g.attrs["weight_names1"] = [weights[1][0].encode()]
            else:
                g.attrs["weight_names"] = []
            for w, a in weights:
                g.create_dataset(w, data=a)
    m = mlp()
    m.load_weights(tmp_path / "w.h5")
    np.testing.assert_allclose(m.predict(X), reference_mlp(X), rtol=1e-5, atol=1e-6)


def test_keras1_merge_model_file(tmp_path):
    """A Keras 1 model.save of seed 001's two-branch Merge model: a bare-list config
    with Keras 1 arguments, and weights listed as Keras 1's flattened_layers (the
    branch layers, then the layers after the Merge)."""
    rng = np.random.RandomState(8)
    wa, ba = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=3).astype("float32")
    wb, bb = rng.normal(size=(2, 2)).astype("float32"), rng.normal(size=2).astype("float32")
    wc, bc = rng.normal(size=(5, 1)).astype("float32"), rng.normal(size=1).astype("float32")

    def dense(name, out, n_in=None):
        cfg = {"name": name, "output_dim": out, "init": "glorot_uniform",
               "activation": "linear", "W_regularizer": None, "b_regularizer": None,
               "activity_regularizer": None, "W_constraint": None, "b_constraint": None,
               "bias": True, "trainable": True}
        if n_in:
            cfg.update(input_dim=n_in, batch_input_shape=[None, n_in], input_dtype="float32")
        return {"class_name": "Dense", "config": cfg}

    config = {"class_name": "Sequential", "config": [
        {"class_name": "Merge", "config": {
            "name": "merge_1", "mode": "concat", "mode_type": "raw", "concat_axis": -1,
            "dot_axes": -1, "output_shape": None, "output_shape_type": "raw",
            "output_mask": None, "output_mask_type": "raw", "arguments": {},
            "layers": [{"class_name": "Sequential", "config": [dense("dense_1", 3, 4)]},
                       {"class_name": "Sequential", "config": [dense("dense_2", 2, 2)]}]}},
        dense("dense_3", 1)]}
    with h5py.File(tmp_path / "k1.h5", "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["training_config"] = json.dumps({
            "optimizer_config": {"class_name": "RMSprop", "config": {
                "lr": 0.001, "rho": 0.9, "epsilon": 1e-08, "decay": 0.0}},
            "loss": "mse", "metrics": [], "sample_weight_mode": None,
            "loss_weights": None}).encode()
        write_legacy_group(f.create_group("model_weights"), [
            ("dense_1", [("dense_1_W", wa), ("dense_1_b", ba)]),
            ("dense_2", [("dense_2_W", wb), ("dense_2_b", bb)]),
            ("dense_3", [("dense_3_W", wc), ("dense_3_b", bc)])],
            keras_version=None, backend="theano")
    with pytest.warns(UserWarning, match="Keras 2 API"):      # Keras 1 argument names
        m = load_model(tmp_path / "k1.h5")
    assert type(m.layers[0]).__name__ == "Merge"
    assert isinstance(m.optimizer, optimizers.RMSprop) and m.optimizer.epsilon == 1e-08
    x1, x2 = RNG.rand(3, 4).astype("float32"), RNG.rand(3, 2).astype("float32")
    want = np.concatenate([x1 @ wa + ba, x2 @ wb + bb], axis=1) @ wc + bc
    np.testing.assert_allclose(m.predict([x1, x2]), want, rtol=1e-5, atol=1e-6)
