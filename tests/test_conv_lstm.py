"""ConvLSTM2D: outputs against a step-by-step NumPy reference with direct-loop
convolutions (strides, padding, dilation, both data formats, masks, go_backwards),
gradients, stateful states, serialization, HDF5 weights, errors, emulated CUDA,
Keras 3 parity, and next-frame prediction on moving digits (the example)."""
import importlib.util
import os

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import ConvLSTM2D, Dense, Flatten, deserialize
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import assert_close, check_function_gradients

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_conv2d(x, w, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Direct-loop convolution, channels last; 'same' pads as TensorFlow."""
    n, rows, cols, _ = x.shape
    kh, kw, _, f = w.shape
    ek = [(k - 1) * d + 1 for k, d in zip((kh, kw), dilation)]
    if padding == "same":
        out = [-(-size // s) for size, s in zip((rows, cols), strides)]
        pads = [max((o - 1) * s + e - size, 0) for o, s, e, size in
                zip(out, strides, ek, (rows, cols))]
        x = np.pad(x, ((0, 0), (pads[0] // 2, pads[0] - pads[0] // 2),
                       (pads[1] // 2, pads[1] - pads[1] // 2), (0, 0)))
    else:
        out = [(size - e) // s + 1 for size, s, e in zip((rows, cols), strides, ek)]
    y = np.zeros((n, out[0], out[1], f))
    for r in range(out[0]):
        for c in range(out[1]):
            for i in range(kh):
                for j in range(kw):
                    pix = x[:, r * strides[0] + i * dilation[0], c * strides[1] + j * dilation[1]]
                    y[:, r, c] += pix @ w[i, j]
    return y


def ref_conv_lstm(x, W, U, b, strides=(1, 1), padding="valid", dilation=(1, 1), mask=None,
                  go_backwards=False, return_sequences=False):
    """Keras's ConvLSTM2D, one step at a time (channels last)."""
    n, t = x.shape[:2]
    f = U.shape[-1] // 4
    h = c = None
    outs = []
    for step in (range(t - 1, -1, -1) if go_backwards else range(t)):
        zx = ref_conv2d(x[:, step], W, strides, padding, dilation) + b
        if h is None:
            h = c = np.zeros(zx.shape[:3] + (f,))
        z = zx + ref_conv2d(h, U, padding="same")
        i, fg, o = _sigmoid(z[..., :f]), _sigmoid(z[..., f:2 * f]), _sigmoid(z[..., 3 * f:])
        c_new = fg * c + i * np.tanh(z[..., 2 * f:3 * f])
        h_new = o * np.tanh(c_new)
        if mask is not None:
            keep = mask[:, step][:, None, None, None]
            h_new, c_new = np.where(keep, h_new, h), np.where(keep, c_new, c)
        h, c = h_new, c_new
        outs.append(h)
    return np.stack(outs, 1) if return_sequences else outs[-1]


def _randomize(layer, rng, scale=0.4):
    layer.set_weights([rng.standard_normal(w.shape) * scale for w in layer.get_weights()])


CONFIGS = [
    dict(padding="same"),
    dict(padding="valid", strides=(2, 2), return_sequences=True),
    dict(padding="valid", dilation_rate=(2, 1)),
    dict(padding="same", strides=(2, 1), go_backwards=True, return_sequences=True),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_outputs_match_the_step_by_step_reference(cfg, data_format):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5, 2))
    layer = ConvLSTM2D(3, (3, 2), data_format=data_format, dtype="float64", **cfg)
    shape = x.shape if data_format == "channels_last" else (2, 3, 2, 6, 5)
    model = Sequential([ConvLSTM2D.from_config({**layer.get_config(),
                                                "batch_input_shape": (None,) + shape[1:]})])
    layer = model.layers[0]
    _randomize(layer, rng)
    xin = x if data_format == "channels_last" else x.transpose(0, 1, 4, 2, 3)
    y = model.predict(xin)
    if data_format == "channels_first":
        y = np.moveaxis(y, -3, -1)
    ref = ref_conv_lstm(x, *layer.get_weights(), strides=layer.strides, padding=layer.padding,
                        dilation=layer.dilation_rate, go_backwards=layer.go_backwards,
                        return_sequences=layer.return_sequences)
    assert_close(y, ref, 1e-10, 1e-12, f"ConvLSTM2D {cfg} {data_format}")
    assert model.output_shape[1:] == (y.shape[1:] if data_format == "channels_last"
                                      else model.predict(xin).shape[1:])


def test_mask_keeps_states_at_masked_steps():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 4, 4, 1))
    mask = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], dtype=bool)
    layer = ConvLSTM2D(2, 3, padding="same", return_sequences=True, dtype="float64")
    layer.build((None, 4, 4, 4, 1))
    _randomize(layer, rng)
    y = layer(K.convert_to_tensor(x), mask=mask)
    ref = ref_conv_lstm(x, *layer.get_weights(), padding="same", mask=mask,
                        return_sequences=True)
    assert_close(y.data, ref, 1e-12, 1e-12, "masked ConvLSTM2D")


def test_gradients():
    rng = np.random.default_rng(2)
    layer = ConvLSTM2D(2, (2, 2), padding="same", return_sequences=True, dtype="float64")
    layer.build((None, 2, 3, 3, 1))

    def fn(x, W, U, b):
        layer.kernel, layer.recurrent_kernel, layer.bias = W, U, b
        return layer.call(x)

    check_function_gradients(fn, [rng.standard_normal((1, 2, 3, 3, 1)),
                                  0.5 * rng.standard_normal((2, 2, 1, 8)),
                                  0.5 * rng.standard_normal((2, 2, 2, 8)),
                                  0.5 * rng.standard_normal((8,))], rtol=1e-5, atol=1e-7)


def test_shapes_weights_and_parameter_count_equal_keras():
    model = Sequential([ConvLSTM2D(40, (3, 3), padding="same", return_sequences=True,
                                   input_shape=(None, 40, 40, 1))])
    layer = model.layers[0]
    assert model.output_shape == (None, None, 40, 40, 40)
    assert [tuple(w.shape) for w in layer.weights] == [(3, 3, 1, 160), (3, 3, 40, 160), (160,)]
    assert [w.name.split("/")[1] for w in layer.weights] == ["kernel:0", "recurrent_kernel:0",
                                                              "bias:0"]
    assert layer.count_params() == 59200                 # Keras 2 conv_lstm.py summary
    b = layer.get_weights()[2]
    np.testing.assert_array_equal(b, np.r_[np.zeros(40), np.ones(40), np.zeros(80)])
    m2 = Sequential([ConvLSTM2D(4, 3, strides=2, input_shape=(5, 9, 9, 2), return_state=True)])
    assert m2.layers[0].compute_output_shape((None, 5, 9, 9, 2)) == [(None, 4, 4, 4)] * 3


def test_stateful_two_halves_equal_one_sequence():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 5, 1)).astype("float32")
    full = ConvLSTM2D(2, 3, padding="same", batch_input_shape=(2, 4, 5, 5, 1))
    half = ConvLSTM2D(2, 3, padding="same", stateful=True, batch_input_shape=(2, 2, 5, 5, 1))
    mf, mh = Sequential([full]), Sequential([half])
    half.set_weights(full.get_weights())
    mh.predict(x[:, :2], batch_size=2)
    assert_close(mh.predict(x[:, 2:], batch_size=2), mf.predict(x), 1e-5, 1e-5, "stateful")
    half.reset_states()
    assert not np.any(K.to_host(half.states[1]))


def test_config_json_and_hdf5_round_trip(tmp_path):
    rng = np.random.default_rng(4)
    model = Sequential([ConvLSTM2D(3, (3, 3), strides=(2, 2), recurrent_activation="hard_sigmoid",
                                   dropout=0.1, input_shape=(3, 7, 7, 2)), Flatten(), Dense(2)])
    cfg = model.layers[0].get_config()
    assert deserialize({"class_name": "ConvLSTM2D", "config": cfg}).get_config() == cfg
    clone = model_from_json(model.to_json())
    model.save_weights(str(tmp_path / "w.h5"))
    clone.load_weights(str(tmp_path / "w.h5"))
    x = rng.standard_normal((2, 3, 7, 7, 2)).astype("float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


@pytest.mark.parametrize("make,match", [
    (lambda: ConvLSTM2D(0, 3), "positive integer"),
    (lambda: ConvLSTM2D(2, 3, padding="causal"), "padding"),
    (lambda: ConvLSTM2D(2, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: ConvLSTM2D(2, 3, data_format="nhwc"), "data_format"),
    (lambda: ConvLSTM2D(2, 3, recurrent_dropout=2.0), "recurrent_dropout"),
])
def test_bad_configurations_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_refused_at_add_time():
    model = Sequential([Dense(4, input_shape=(3, 5))])
    with pytest.raises(ValueError, match="rows, cols, channels"):
        model.add(ConvLSTM2D(2, 3))
    assert len(model.layers) == 1
    with pytest.raises(ValueError, match="larger than the input frames"):
        Sequential([ConvLSTM2D(2, 5, input_shape=(3, 4, 4, 1))])


def test_emulated_kernels_equal_numpy(device_backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 4, 4, 1)).astype("float32")
    with dispatch.use_backend("numpy"):
        ref_layer = ConvLSTM2D(2, 3, padding="same", return_sequences=True)
        ref = ref_layer(ad.Tensor(x)).data
        weights = ref_layer.get_weights()
    layer = ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    layer.build((None, 2, 4, 4, 1))
    layer.set_weights(weights)
    y = layer(K.convert_to_tensor(K.to_device(x)))
    assert_close(K.to_host(y.data), ref, 1e-5, 1e-6, device_backend)


@pytest.mark.parametrize("cfg", [dict(padding="same", return_sequences=True),
                                 dict(padding="valid", strides=(2, 2), go_backwards=True)])
def test_keras3_parity(cfg):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 6, 2)).astype("float32")
    kl = keras.layers.ConvLSTM2D(3, (3, 3), recurrent_activation="sigmoid", **cfg)
    ky = np.asarray(kl(x))
    ours = ConvLSTM2D(3, (3, 3), **cfg)
    ours.build((None, 3, 6, 6, 2))
    ours.set_weights([np.asarray(w) for w in kl.get_weights()])
    assert_close(ours(K.convert_to_tensor(x)).data, ky, 1e-5, 1e-5, f"Keras 3 {cfg}")


def test_example_predicts_the_next_frame_better_than_copying_the_last():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("_example_conv_lstm",
                                                  os.path.join(EXAMPLES, "conv_lstm.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model_mse, copy_mse = example.main(["--quick", "--verbose", "0"])
    assert model_mse < 0.8 * copy_mse
    model = example.build_model(filters=4, n_layers=2, size=12)   # Keras's model builds
    assert model.output_shape == (None, None, 12, 12, 1)


# ---------------------------------------------------------------- the fused lstm_cell op
_ACTS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda a: np.maximum(a, 0.0),
         "hard_sigmoid": lambda a: np.clip(0.2 * a + 0.5, 0.0, 1.0)}


def ref_lstm_cell(z, c, act="tanh", rec="sigmoid"):
    u = c.shape[-1]
    A, R = _ACTS[act], _ACTS[rec]
    c_new = R(z[..., u:2 * u]) * c + R(z[..., :u]) * A(z[..., 2 * u:3 * u])
    return R(z[..., 3 * u:]) * A(c_new), c_new


@pytest.mark.parametrize("kinds", [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_lstm_cell_op_matches_reference_and_its_gradients(kinds):
    rng = np.random.default_rng(7)
    z, c = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 3, 2))
    h, c_new = K.lstm_cell(z, c, *kinds)
    ref_h, ref_c = ref_lstm_cell(z, c, *kinds)
    assert_close(h.data, ref_h, 1e-12, 1e-12, "lstm_cell h")
    assert_close(c_new.data, ref_c, 1e-12, 1e-12, "lstm_cell c")
    if kinds[1] == "hard_sigmoid":
        z = z * 0.3                        # away from the kinks of hard_sigmoid and relu
        z[..., 4:6] = np.abs(z[..., 4:6]) + 0.2

    def fn(z, c):
        h, c_new = K.lstm_cell(z, c, *kinds)
        return K.concatenate([h, c_new * 0.5], axis=-1)

    check_function_gradients(fn, [z, c], rtol=1e-5, atol=1e-7)


def test_lstm_cell_op_refuses_bad_shapes():
    with pytest.raises(ValueError, match="lstm_cell expects gate pre-activations"):
        K.lstm_cell(np.zeros((3, 7)), np.zeros((3, 2)))


def test_lstm_cell_emulated_kernels_equal_numpy(device_backend):
    rng = np.random.default_rng(8)
    z, c = rng.standard_normal((5, 12)), rng.standard_normal((5, 3))
    gy = rng.standard_normal((5, 6))
    results = {}
    for name in ("numpy", device_backend):
        with dispatch.use_backend(name):
            zt, ct = ad.Variable(K.to_device(z.copy())), ad.Variable(K.to_device(c.copy()))
            h, c_new = K.lstm_cell(zt, ct)
            y = K.concatenate([h, c_new], axis=-1)
            loss = K.sum(y * ad.Tensor(K.to_device(gy)))
            grads = ad.gradients(loss, [zt, ct])
            results[name] = [K.to_host(y.data)] + [K.to_host(g) for g in grads]
    for got, want in zip(results[device_backend], results["numpy"]):
        assert_close(got, want, 1e-12, 1e-12, device_backend)


@pytest.mark.parametrize("keras1, keras2, modern_call", [
    (dict(nb_filter=8, nb_row=3, nb_col=3, border_mode="same", subsample=(1, 1),
          dim_ordering="tf", inner_activation="hard_sigmoid", dropout_W=0.1, dropout_U=0.2),
     dict(filters=8, kernel_size=(3, 3), padding="same", strides=(1, 1),
          data_format="channels_last", recurrent_activation="hard_sigmoid", dropout=0.1,
          recurrent_dropout=0.2),
     'ConvLSTM2D(8, (3, 3), strides=(1, 1), padding="same", data_format="channels_last", '
     'recurrent_activation="hard_sigmoid", dropout=0.1, recurrent_dropout=0.2)'),
    (dict(nb_filter=4, nb_row=2, nb_col=3, init="he_normal", inner_init="orthogonal",
          forget_bias_init="one", bias=False),
     dict(filters=4, kernel_size=(2, 3), kernel_initializer="he_normal",
          recurrent_initializer="orthogonal", unit_forget_bias=True, use_bias=False),
     'ConvLSTM2D(4, (2, 3), kernel_initializer="he_normal", '
     'recurrent_initializer="orthogonal", use_bias=False, unit_forget_bias=True)'),
])
def test_keras1_arguments_convert_and_warn_with_the_modern_call(keras1, keras2, modern_call):
    with pytest.warns(UserWarning) as record:
        old = ConvLSTM2D(**keras1)
    messages = [str(r.message) for r in record]
    assert any(modern_call in m for m in messages), messages
    new = ConvLSTM2D(**keras2)
    old_cfg, new_cfg = old.get_config(), new.get_config()
    old_cfg.pop("name"), new_cfg.pop("name")
    assert old_cfg == new_cfg


def test_keras1_positional_rows_and_cols():
    with pytest.warns(UserWarning, match=r'`ConvLSTM2D\(8, \(3, 5\), padding="same"\)`'):
        layer = ConvLSTM2D(8, 3, 5, border_mode="same")
    assert layer.kernel_size == (3, 5) and layer.padding == "same"


def test_keras1_name_with_its_keras2_name_is_refused():
    with pytest.raises(TypeError, match="nb_filter"):
        ConvLSTM2D(8, (3, 3), nb_filter=8)
