"""CuDNNLSTM / CuDNNGRU: Keras 2's weight layout, checked against the formulas written
out here (Keras 2's conversion of each gate block), against LSTM / GRU with converted
weights, through HDF5 files in Keras 2's layout, gradients and the emulated kernels."""
import json

import h5py
import numpy as np
import pytest
from test_recurrent_ops import ref_gru, ref_lstm
from test_saving_layouts import write_legacy_group

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import GRU, LSTM, CuDNNGRU, CuDNNLSTM, Dense, deserialize
from gpuseq.layers.cudnn_recurrent import cudnn_to_standard, standard_to_cudnn
from gpuseq.models import Sequential, load_model, model_from_json
from gpuseq.testing import assert_close, check_function_gradients


def keras_formula(weights, gates):
    """Keras 2's CuDNN -> plain conversion, written out per gate block."""
    k, r, b = [np.asarray(w, dtype=np.float64) for w in weights]
    kernel = np.hstack([blk.T.reshape(blk.shape, order="F") for blk in np.hsplit(k, gates)])
    recurrent = np.hstack([blk.T for blk in np.hsplit(r, gates)])
    halves = np.split(b, 2)
    bias = halves[0] + halves[1] if gates == 4 else np.stack(halves)
    return kernel, recurrent, bias


def _random_weights(layer, rng):
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])


@pytest.mark.parametrize("cls,shapes", [
    (CuDNNLSTM, [(6, 16), (4, 16), (32,)]),
    (CuDNNGRU, [(6, 12), (4, 12), (24,)]),
])
def test_weight_shapes_names_and_counts(cls, shapes):
    layer = cls(4, input_shape=(5, 6))
    model = Sequential([layer])
    assert [tuple(w.shape) for w in layer.weights] == shapes
    assert [w.name.split("/")[1] for w in layer.weights] == [
        "kernel:0", "recurrent_kernel:0", "bias:0"]
    assert layer.count_params() == sum(int(np.prod(s)) for s in shapes)
    assert model.output_shape == (None, 4)


def test_lstm_forget_bias_is_one_on_the_recurrent_half():
    layer = CuDNNLSTM(3, input_shape=(2, 4))
    Sequential([layer])
    b = layer.get_weights()[2]
    np.testing.assert_array_equal(b, np.r_[np.zeros(15), np.ones(3), np.zeros(6)])


@pytest.mark.parametrize("cls", [CuDNNLSTM, CuDNNGRU])
@pytest.mark.parametrize("cfg", [dict(), dict(return_sequences=True, go_backwards=True)])
def test_outputs_match_the_formula_and_the_plain_layer(cls, cfg):
    rng = np.random.default_rng(0)
    layer = cls(3, input_shape=(4, 5), dtype="float64", **cfg)
    model = Sequential([layer])
    _random_weights(layer, rng)
    x = rng.standard_normal((2, 4, 5))
    W, U, b = keras_formula(layer.get_weights(), 4 if cls is CuDNNLSTM else 3)
    z = np.zeros((2, 3))
    ref = ref_lstm(x, W, U, b, z, z, **cfg)[0] if cls is CuDNNLSTM else \
        ref_gru(x, W, U, b, z, reset_after=True, **cfg)[0]
    y = model.predict(x)
    assert_close(y, ref, 1e-10, 1e-12, cls.__name__)
    plain = (LSTM if cls is CuDNNLSTM else GRU)(3, input_shape=(4, 5), dtype="float64", **cfg)
    pm = Sequential([plain])
    plain.set_weights(cudnn_to_standard("lstm" if cls is CuDNNLSTM else "gru",
                                        layer.get_weights()))
    assert_close(pm.predict(x), y, 1e-12, 1e-12, "plain layer with converted weights")


@pytest.mark.parametrize("kind,gates", [("lstm", 4), ("gru", 3)])
def test_conversions_invert_each_other(kind, gates):
    rng = np.random.default_rng(1)
    cudnn = [rng.standard_normal((5, 3 * gates)), rng.standard_normal((3, 3 * gates)),
             rng.standard_normal((6 * gates,))]
    plain = cudnn_to_standard(kind, cudnn)
    for got, want in zip(plain, keras_formula(cudnn, gates)):
        np.testing.assert_array_equal(got, want)
    back = standard_to_cudnn(kind, plain)
    np.testing.assert_array_equal(back[0], cudnn[0])
    np.testing.assert_array_equal(back[1], cudnn[1])
    again = cudnn_to_standard(kind, back)
    np.testing.assert_allclose(again[2], plain[2], rtol=1e-12)


@pytest.mark.parametrize("cls,gates", [(CuDNNLSTM, 4), (CuDNNGRU, 3)])
def test_gradients(cls, gates):
    rng = np.random.default_rng(2)
    layer = cls(2, dtype="float64", return_sequences=True)
    layer.build((None, 3, 3))

    def fn(x, W, U, b):
        layer.kernel, layer.recurrent_kernel, layer.bias = W, U, b
        return layer.call(x)

    check_function_gradients(fn, [rng.standard_normal((2, 3, 3)),
                                  0.5 * rng.standard_normal((3, 2 * gates)),
                                  0.5 * rng.standard_normal((2, 2 * gates)),
                                  0.5 * rng.standard_normal((4 * gates,))],
                             rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------ Keras 2 files
CUDNN_LSTM_CONFIG = {  # the entries Keras 2.2.4's CuDNNLSTM.get_config writes
    "name": "cu_dnnlstm_1", "trainable": True, "batch_input_shape": [None, 4, 5],
    "dtype": "float32", "return_sequences": False, "return_state": False,
    "go_backwards": False, "stateful": False, "units": 3,
    "kernel_initializer": {"class_name": "VarianceScaling", "config": {
        "scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}},
    "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0,
                                                                     "seed": None}},
    "bias_initializer": {"class_name": "Zeros", "config": {}}, "unit_forget_bias": True,
    "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
    "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
    "bias_constraint": None}


def _keras2_cudnn_file(path, rng):
    """A whole-model file as Keras 2.2.4 writes it for CuDNNLSTM(3) + Dense(2)."""
    w = [rng.standard_normal(s).astype("float32") * 0.5 for s in [(5, 12), (3, 12), (24,)]]
    d = [rng.standard_normal((3, 2)).astype("float32"), rng.standard_normal(2).astype("float32")]
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        {"class_name": "CuDNNLSTM", "config": CUDNN_LSTM_CONFIG},
        {"class_name": "Dense", "config": {
            "name": "dense_1", "trainable": True, "units": 2, "activation": "linear",
            "use_bias": True, "kernel_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None,
            "bias_constraint": None}}]}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        write_legacy_group(f.create_group("model_weights"), [
            ("cu_dnnlstm_1", [(f"cu_dnnlstm_1/{n}:0", a) for n, a in
                              zip(["kernel", "recurrent_kernel", "bias"], w)]),
            ("dense_1", [("dense_1/kernel:0", d[0]), ("dense_1/bias:0", d[1])])])
    return w, d


def test_keras2_cudnn_model_file_loads_and_its_weights_load_into_lstm(tmp_path):
    rng = np.random.default_rng(3)
    w, d = _keras2_cudnn_file(tmp_path / "m.h5", rng)
    with pytest.warns(UserWarning, match="No training configuration"):
        model = load_model(tmp_path / "m.h5")
    assert type(model.layers[0]) is CuDNNLSTM
    x = rng.standard_normal((2, 4, 5)).astype("float32")
    W, U, b = keras_formula(w, 4)
    z = np.zeros((2, 3))
    ref = ref_lstm(x.astype(np.float64), W, U, b, z, z)[0] @ d[0] + d[1]
    assert_close(model.predict(x), ref, 1e-5, 1e-5, "Keras 2 CuDNNLSTM file")
    plain = Sequential([LSTM(3, input_shape=(4, 5)), Dense(2)])
    plain.load_weights(str(tmp_path / "m.h5"))
    assert_close(plain.predict(x), ref, 1e-5, 1e-5, "CuDNNLSTM file loaded into LSTM")


@pytest.mark.parametrize("cudnn,plain", [
    (lambda: CuDNNLSTM(3, input_shape=(4, 5), return_sequences=True),
     lambda: LSTM(3, input_shape=(4, 5), return_sequences=True)),
    (lambda: CuDNNGRU(3, input_shape=(4, 5)), lambda: GRU(3, input_shape=(4, 5))),
])
def test_hdf5_weights_exchange_both_ways(cudnn, plain, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 5)).astype("float32")
    a, b = Sequential([cudnn()]), Sequential([plain()])
    _random_weights(a.layers[0], rng)
    a.save_weights(str(tmp_path / "a.h5"))
    saved = a.get_weights()
    b.load_weights(str(tmp_path / "a.h5"))
    assert_close(b.predict(x), a.predict(x), 1e-5, 1e-6, "cuDNN file into the plain layer")
    _random_weights(b.layers[0], rng)
    b.save_weights(str(tmp_path / "b.h5"))
    a.load_weights(str(tmp_path / "b.h5"))
    assert_close(a.predict(x), b.predict(x), 1e-5, 1e-6, "plain file into the cuDNN layer")
    c = Sequential([cudnn()])
    c.load_weights(str(tmp_path / "a.h5"))
    for got, want in zip(c.get_weights(), saved):
        np.testing.assert_array_equal(got, want)


def test_cudnn_gru_file_into_a_reset_before_gru_is_refused(tmp_path):
    a = Sequential([CuDNNGRU(3, input_shape=(4, 5))])
    a.save_weights(str(tmp_path / "a.h5"))
    b = Sequential([GRU(3, input_shape=(4, 5), reset_after=False)])
    before = b.get_weights()
    with pytest.raises(ValueError, match="reset_after=True"):
        b.load_weights(str(tmp_path / "a.h5"))
    for got, want in zip(b.get_weights(), before):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("cls", [CuDNNLSTM, CuDNNGRU])
def test_config_has_keras2_entries_and_round_trips(cls):
    layer = cls(3, return_sequences=True, go_backwards=True, input_shape=(4, 5))
    cfg = layer.get_config()
    assert "activation" not in cfg and "dropout" not in cfg and "reset_after" not in cfg
    assert cfg["go_backwards"] and cfg["units"] == 3
    again = deserialize({"class_name": cls.__name__, "config": cfg})
    assert type(again) is cls and again.get_config() == cfg
    model = Sequential([cls(3, input_shape=(4, 5)), Dense(1)])
    clone = model_from_json(model.to_json())
    assert type(clone.layers[0]) is cls


@pytest.mark.parametrize("cls,kwargs", [(CuDNNLSTM, {"activation": "relu"}),
                                        (CuDNNGRU, {"dropout": 0.2}),
                                        (CuDNNGRU, {"reset_after": False})])
def test_settings_of_the_plain_layers_are_refused(cls, kwargs):
    with pytest.raises(TypeError, match="fixed cell"):
        cls(3, **kwargs)


@pytest.mark.parametrize("cls", [CuDNNLSTM, CuDNNGRU])
def test_emulated_kernels_equal_numpy(device_backend, cls):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2)).astype("float32")
    with dispatch.use_backend("numpy"):
        ref_layer = cls(3, return_sequences=True)
        ref = ref_layer(ad.Tensor(x)).data
        weights = ref_layer.get_weights()
    layer = cls(3, return_sequences=True)
    layer.build((None, 3, 2))
    layer.set_weights(weights)
    y = layer(K.convert_to_tensor(K.to_device(x)))
    assert_close(K.to_host(y.data), ref, 1e-5, 1e-6, device_backend)
