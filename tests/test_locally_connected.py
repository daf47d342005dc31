"""LocallyConnected1D / LocallyConnected2D and the local_conv op: values against a
direct loop over output positions (Keras 2.2.4's formula and window order), every
backend against NumPy, float64 tape gradients, Keras 2.2.4's shapes, weight layout
and parameter counts, HDF5 and JSON round trips, clear errors at add() time, and a
classifier that learns scikit-learn's digits.

Keras 3 has no locally connected layers; Keras 2.2.4's layout is checked by
construction: a weight file written the way Keras 2 writes one is read and gives the
formula's values.
"""
import json
import shutil
import warnings

import h5py
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import numpy_ops
from gpuseq.layers import Dense, Flatten, LocallyConnected1D, LocallyConnected2D
from gpuseq.models import Sequential, model_from_json
from gpuseq.testing import assert_close, check_function_gradients, compare_with_numpy


def ref_local_conv(x, kernel, bias, ksize, strides, data_format):
    """Direct loops: output position (i, j) = window(i, j) flattened in Keras's order
    (steps/rows/cols then channels for channels_last; channels first otherwise) times
    kernel[i * out_cols + j], plus bias[i, j]."""
    rank = x.ndim - 2
    if rank == 1:
        x = x[:, None]
        ksize, strides = (1,) + tuple(ksize), (1,) + tuple(strides)
    if data_format == "channels_first":
        x_last = x.transpose(0, 2, 3, 1)
    else:
        x_last = x
    n, h, w, c = x_last.shape
    oh, ow = (h - ksize[0]) // strides[0] + 1, (w - ksize[1]) // strides[1] + 1
    f = kernel.shape[2]
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            p = i * ow + j
            for b in range(n):
                window = []
                if data_format == "channels_last":
                    for dy in range(ksize[0]):
                        for dx in range(ksize[1]):
                            for ch in range(c):
                                window.append(x_last[b, i * strides[0] + dy,
                                                     j * strides[1] + dx, ch])
                else:
                    for ch in range(c):
                        for dy in range(ksize[0]):
                            for dx in range(ksize[1]):
                                window.append(x_last[b, i * strides[0] + dy,
                                                     j * strides[1] + dx, ch])
                for o in range(f):
                    total = sum(float(v) * float(kernel[p, k, o]) for k, v in enumerate(window))
                    if bias is not None:
                        total += float(bias.reshape(oh * ow, f)[p, o])
                    y[b, i, j, o] = total
    if rank == 1:
        return y[:, 0]
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


# (input shape, kernel_size, strides, data_format)
CASES = [
    ((2, 7, 3), (3,), (1,), "channels_last"),
    ((2, 9, 2), (2,), (3,), "channels_last"),
    ((1, 5, 1), (5,), (2,), "channels_last"),
    ((2, 5, 6, 3), (3, 2), (1, 1), "channels_last"),
    ((2, 7, 6, 2), (2, 3), (2, 1), "channels_last"),
    ((2, 3, 6, 5), (3, 3), (2, 2), "channels_first"),
    ((1, 2, 4, 7), (2, 2), (1, 3), "channels_first"),
]


def _case_arrays(rng, shape, ksize, strides, data_format, use_bias=True):
    rank = len(shape) - 2
    x = rng.standard_normal(shape)
    spatial = shape[1:-1] if data_format == "channels_last" else shape[2:]
    channels = shape[-1] if data_format == "channels_last" else shape[1]
    out = tuple((n - k) // s + 1 for n, k, s in zip(spatial, ksize, strides))
    filters = 3
    kernel = rng.standard_normal((int(np.prod(out)), int(np.prod(ksize)) * channels, filters))
    bias = rng.standard_normal(out + (filters,)) if use_bias else None
    assert rank == len(ksize)
    return x, kernel, bias


@pytest.mark.parametrize("shape,ksize,strides,data_format", CASES)
@pytest.mark.parametrize("use_bias", [True, False])
def test_op_matches_the_direct_loop(backend, rng, shape, ksize, strides, data_format,
                                    use_bias):
    x, kernel, bias = _case_arrays(rng, shape, ksize, strides, data_format, use_bias)
    expected = ref_local_conv(x, kernel, bias, ksize, strides, data_format)
    attrs = dict(kernel_size=ksize, strides=strides, data_format=data_format)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        y, _ = compare_with_numpy("local_conv", [x.astype(dtype), kernel.astype(dtype),
                                                 None if bias is None else bias.astype(dtype)],
                                  attrs, rtol=tol, atol=tol)
        assert_close(y, expected, rtol=tol, atol=tol, what=f"local_conv {dtype.__name__}")


@pytest.mark.parametrize("shape,ksize,strides,data_format", CASES)
def test_op_gradients_float64(rng, shape, ksize, strides, data_format):
    x, kernel, bias = _case_arrays(rng, shape, ksize, strides, data_format)
    rank = len(shape) - 2

    def fn(x, kernel, bias):
        if rank == 1:
            return K.local_conv1d(x, kernel, ksize, strides, bias=bias)
        return K.local_conv2d(x, kernel, ksize, strides, data_format=data_format, bias=bias)

    check_function_gradients(fn, [x, kernel, bias])


def test_backward_is_deterministic(device_backend, rng):
    x, kernel, bias = _case_arrays(rng, (3, 7, 6, 2), (3, 3), (1, 1), "channels_last")
    ops = K.ops()
    dev = [K.to_device(np.ascontiguousarray(a, dtype=np.float32)) for a in (x, kernel, bias)]
    attrs = dict(kernel_size=(3, 3), strides=(1, 1), data_format="channels_last")
    y, saved = ops.local_conv_forward(*dev, **attrs)
    gy = K.to_device(rng.standard_normal(y.shape).astype(np.float32))
    first = [K.to_host(g) for g in ops.local_conv_backward(gy, saved, **attrs)]
    second = [K.to_host(g) for g in ops.local_conv_backward(gy, saved, **attrs)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_op_rejects_a_kernel_of_the_wrong_shape():
    x = np.zeros((2, 7, 3))
    with pytest.raises(ValueError, match=r"kernel must be .*Received: kernel.shape=\(4, 9, 4\)"):
        numpy_ops.local_conv_forward(x, np.zeros((4, 9, 4)), None, (3,), (1,))


# ---------------------------------------------------------------------------
# Layers: Keras 2.2.4's shapes, weights and parameter counts
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,input_shape,out_shape,weight_shapes,params", [
    (lambda: LocallyConnected1D(64, 3), (10, 32), (None, 8, 64),
     [(8, 96, 64), (8, 64)], 49664),
    (lambda: LocallyConnected1D(4, 2, strides=3, use_bias=False), (11, 3), (None, 4, 4),
     [(4, 6, 4)], 96),
    (lambda: LocallyConnected2D(64, (3, 3)), (32, 32, 3), (None, 30, 30, 64),
     [(900, 27, 64), (30, 30, 64)], 1612800),
    (lambda: LocallyConnected2D(5, (2, 3), strides=(2, 1), data_format="channels_first"),
     (3, 7, 6), (None, 5, 3, 4), [(12, 18, 5), (3, 4, 5)], 1140),
])
def test_shapes_weights_and_parameter_counts(numpy_backend, make, input_shape, out_shape,
                                             weight_shapes, params):
    model = Sequential()
    model.add(_with_input(make(), input_shape))
    assert model.output_shape == out_shape
    layer = model.layers[0]
    assert [tuple(w.shape) for w in layer.get_weights()] == weight_shapes
    assert [w.name.split("/")[-1].split(":")[0] for w in layer.weights] == \
        ["kernel", "bias"][:len(weight_shapes)]
    assert model.count_params() == params


def _with_input(layer, input_shape):
    layer.batch_input_shape = (None,) + tuple(input_shape)
    return layer


@pytest.mark.parametrize("shape,ksize,strides,data_format", CASES)
def test_layer_forward_against_the_loop_and_implementations_agree(numpy_backend, rng, shape,
                                                                  ksize, strides, data_format):
    x, kernel, bias = _case_arrays(rng, shape, ksize, strides, data_format)
    cls = LocallyConnected1D if len(shape) == 3 else LocallyConnected2D
    extra = {} if cls is LocallyConnected1D else {"data_format": data_format}
    outputs = []
    for implementation in (1, 2):
        layer = cls(3, ksize, strides=strides, activation="tanh",
                    implementation=implementation, input_shape=shape[1:], **extra)
        model = Sequential([layer])
        layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        outputs.append(model.predict(x.astype(np.float32), verbose=0))
    expected = np.tanh(ref_local_conv(x, kernel, bias, ksize, strides, data_format))
    assert_close(outputs[0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_layer_gradients_float64(numpy_backend, rng):
    layer = LocallyConnected2D(2, (2, 2), strides=(1, 2), activation="sigmoid",
                               input_shape=(4, 5, 2), dtype="float64")
    Sequential([layer])
    x = rng.standard_normal((2, 4, 5, 2))
    kernel, bias = [rng.standard_normal(w.shape) for w in layer.get_weights()]

    def fn(x, kernel, bias):
        return K.sigmoid(K.local_conv2d(x, kernel, (2, 2), (1, 2), data_format="channels_last",
                                        bias=bias))

    grads = check_function_gradients(fn, [x, kernel, bias])
    assert all(np.abs(g).sum() > 0 for g in grads)


def test_emulated_layer_equals_numpy(rng):
    if shutil.which("g++") is None:
        pytest.skip("the CUDA launch emulation needs g++")
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    results = []
    for name in ("numpy", "emulated"):
        with K.use_backend(name):
            model = Sequential([LocallyConnected2D(4, (2, 3), strides=(1, 2), activation="relu",
                                                   input_shape=(5, 6, 3))])
            if not results:
                weights = model.get_weights()
            model.set_weights(weights)
            results.append(np.asarray(K.to_host(model.predict(x, verbose=0))))
    assert_close(results[1], results[0], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Saving: HDF5 weights in Keras 2's layout, configs
# ---------------------------------------------------------------------------

def _lc_model():
    return Sequential([
        LocallyConnected2D(3, (2, 2), strides=(2, 1), activation="relu", input_shape=(5, 4, 2)),
        Flatten(),
        Dense(2),
    ])


def test_hdf5_weights_round_trip_and_keras2_layout(numpy_backend, rng, tmp_path):
    model = _lc_model()
    x = rng.standard_normal((3, 5, 4, 2)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    path = tmp_path / "w.h5"
    model.save_weights(path)
    name = model.layers[0].name
    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f[name].attrs["weight_names"]]
        assert names == [f"{name}/kernel:0", f"{name}/bias:0"]
        assert f[name][names[0]].shape == (6, 8, 3)
        assert f[name][names[1]].shape == (2, 3, 3)
    clone = _lc_model()
    clone.load_weights(path)
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)


def test_a_keras2_weight_file_built_by_hand_gives_the_formula(numpy_backend, rng, tmp_path):
    """A file in Keras 2's layout (written here with h5py, as Keras 2.2.4's save_weights
    lays it out) read into gpuseq gives the direct loop's values."""
    kernel = rng.standard_normal((4, 2 * 3, 2)).astype(np.float32)
    bias = rng.standard_normal((4, 2)).astype(np.float32)
    path = tmp_path / "keras2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"locally_connected1d_1"]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        g = f.create_group("locally_connected1d_1")
        g.attrs["weight_names"] = [b"locally_connected1d_1/kernel:0",
                                   b"locally_connected1d_1/bias:0"]
        g.create_dataset("locally_connected1d_1/kernel:0", data=kernel)
        g.create_dataset("locally_connected1d_1/bias:0", data=bias)
    model = Sequential([LocallyConnected1D(2, 2, strides=2, input_shape=(8, 3))])
    model.load_weights(path)
    x = rng.standard_normal((2, 8, 3)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), ref_local_conv(x, kernel, bias, (2,), (2,),
                                                             "channels_last"),
                 rtol=1e-4, atol=1e-5)


def test_config_round_trip_through_json(numpy_backend, rng):
    model = Sequential([
        LocallyConnected2D(3, (2, 3), strides=(1, 2), data_format="channels_first",
                           activation="relu", kernel_initializer="he_normal",
                           kernel_regularizer="l2", implementation=2, input_shape=(2, 5, 7)),
        Flatten(),
        Dense(2),
    ])
    clone = model_from_json(model.to_json())
    config = json.loads(model.to_json())["config"]
    layers = config["layers"] if isinstance(config, dict) else config
    lc = [entry for entry in layers if entry["class_name"] == "LocallyConnected2D"][0]["config"]
    assert lc["kernel_size"] in ((2, 3), [2, 3]) and lc["padding"] == "valid"
    assert lc["data_format"] == "channels_first" and lc["implementation"] == 2
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((2, 2, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert clone.layers[0].get_config() == model.layers[0].get_config()


def test_keras1_arguments_are_converted_with_a_warning(numpy_backend):
    with pytest.warns(UserWarning, match=r"LocallyConnected2D\(8, \(3, 2\), strides=\(2, 2\)"):
        layer = LocallyConnected2D(8, 3, 2, subsample=(2, 2), input_shape=(7, 6, 1))
    assert layer.kernel_size == (3, 2) and layer.strides == (2, 2)
    with pytest.warns(UserWarning, match=r"LocallyConnected1D\(4, 3"):
        layer = LocallyConnected1D(nb_filter=4, filter_length=3, subsample_length=2)
    assert (layer.filters, layer.kernel_size, layer.strides) == (4, (3,), (2,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LocallyConnected1D(4, 3)


# Keras 2.2.4 read these Keras 1 names for the locally connected layers (its Conv1D /
# Conv2D conversions): each gives the config of the Keras 2 call
LC_KERAS1 = [
    (LocallyConnected1D, {"nb_filter": 4, "filter_length": 3}, {"filters": 4, "kernel_size": 3}),
    (LocallyConnected1D, {"subsample_length": 2}, {"strides": 2}),
    (LocallyConnected1D, {"border_mode": "valid"}, {"padding": "valid"}),
    (LocallyConnected1D, {"init": "he_normal"}, {"kernel_initializer": "he_normal"}),
    (LocallyConnected1D, {"W_regularizer": "l2"}, {"kernel_regularizer": "l2"}),
    (LocallyConnected1D, {"b_regularizer": "l1"}, {"bias_regularizer": "l1"}),
    (LocallyConnected1D, {"W_constraint": "non_neg"}, {"kernel_constraint": "non_neg"}),
    (LocallyConnected1D, {"b_constraint": "non_neg"}, {"bias_constraint": "non_neg"}),
    (LocallyConnected1D, {"bias": False}, {"use_bias": False}),
    (LocallyConnected2D, {"nb_filter": 4, "nb_row": 3, "nb_col": 2},
     {"filters": 4, "kernel_size": (3, 2)}),
    (LocallyConnected2D, {"subsample": (2, 1)}, {"strides": (2, 1)}),
    (LocallyConnected2D, {"border_mode": "valid"}, {"padding": "valid"}),
    (LocallyConnected2D, {"dim_ordering": "th"}, {"data_format": "channels_first"}),
    (LocallyConnected2D, {"init": "he_normal"}, {"kernel_initializer": "he_normal"}),
    (LocallyConnected2D, {"W_regularizer": "l2"}, {"kernel_regularizer": "l2"}),
    (LocallyConnected2D, {"b_regularizer": "l1"}, {"bias_regularizer": "l1"}),
    (LocallyConnected2D, {"W_constraint": "non_neg"}, {"kernel_constraint": "non_neg"}),
    (LocallyConnected2D, {"b_constraint": "non_neg"}, {"bias_constraint": "non_neg"}),
    (LocallyConnected2D, {"bias": False}, {"use_bias": False}),
]


@pytest.mark.parametrize("cls,old,new", LC_KERAS1)
def test_each_keras1_name_gives_the_keras2_config(numpy_backend, cls, old, new):
    base = {} if "nb_filter" in old else {"filters": 4, "kernel_size": 2}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        old_layer = cls(**base, **old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new_layer = cls(**base, **new)
    old_cfg, new_cfg = old_layer.get_config(), new_layer.get_config()
    old_cfg.pop("name"), new_cfg.pop("name")
    assert old_cfg == new_cfg
    notes = [str(w.message) for w in rec]
    assert len(notes) == 1 and notes[0].startswith(
        f"Update your `{cls.__name__}` call to the Keras 2 API: `{cls.__name__}(4, ")


# ---------------------------------------------------------------------------
# Errors: at construction or at add() time, the model unchanged
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,fragment", [
    (lambda: LocallyConnected1D(4, 3, padding="same"), r"padding='valid' only.*ZeroPadding1D"),
    (lambda: LocallyConnected2D(4, 3, padding="causal"), r"padding='valid' only"),
    (lambda: LocallyConnected1D(4, 3, data_format="channels_first"), "channels_last' only"),
    (lambda: LocallyConnected2D(4, 3, implementation=3), r"expected 1 or 2.*implementation=3"),
    (lambda: LocallyConnected2D(0, 3), r"positive integer.*filters=0"),
    (lambda: LocallyConnected2D(4, (3, 0)), "kernel_size"),
])
def test_bad_arguments_are_refused(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


@pytest.mark.parametrize("layer,input_shape,fragment", [
    (lambda: LocallyConnected1D(4, 3), (None, 3), "fully defined"),
    (lambda: LocallyConnected2D(4, 3), (5, None, 3), "fully defined"),
    (lambda: LocallyConnected1D(4, 6), (5, 3), r"window \(6,\) is larger"),
    (lambda: LocallyConnected2D(4, (2, 2)), (5, 5), "expects 4-D input"),
])
def test_errors_at_add_time_leave_the_model_unchanged(numpy_backend, layer, input_shape,
                                                      fragment):
    model = Sequential()
    first = layer()
    first.batch_input_shape = (None,) + tuple(input_shape)
    with pytest.raises(ValueError, match=fragment):
        model.add(first)
    assert len(model.layers) == 0


# ---------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------

def test_locally_connected_classifier_learns_digits(numpy_backend, digits):
    from gpuseq.utils import to_categorical
    x, y = digits
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    train, test = idx[:1400], idx[1400:]
    images = x.reshape(-1, 8, 8, 1)
    model = Sequential([
        LocallyConnected2D(4, (3, 3), strides=(1, 1), activation="relu", input_shape=(8, 8, 1)),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.fit(images[train], to_categorical(y[train], 10), epochs=10, batch_size=32, verbose=0)
    pred = model.predict(images[test], verbose=0).argmax(axis=1)
    accuracy = float((pred == y[test]).mean())
    print(f"LocallyConnected2D digits accuracy: {accuracy:.3f}")
    assert accuracy > 0.85, accuracy           # chance is 0.1
