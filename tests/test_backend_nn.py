"""The backend functions of the built-in layers (``gpuseq.backend.nn``): each against the
plain direct-loop references of its op family, a float64 finite-difference gradient
check, bit equality with the fused op it runs (the layers' numerics), and the device
backends against NumPy."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.testing import check_function_gradients

from reference import ref_batch_norm, ref_conv1d, ref_conv2d, ref_pool2d


def _run(fn, *arrays):
    """fn on Tensors of the arrays (numpy backend), as NumPy."""
    with dispatch.use_backend("numpy"):
        return np.asarray(fn(*[None if a is None else ad.Tensor(a) for a in arrays]).data)


def test_dense_matches_the_formula_and_its_gradients(rng):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    y = _run(lambda x, w, b: K.dense(x, w, b, activation="relu"), x, w, b)
    np.testing.assert_allclose(y, np.maximum(x @ w + b, 0), rtol=1e-12)
    check_function_gradients(lambda x, w, b: K.dense(x, w, b, activation="tanh"), [x, w, b])
    check_function_gradients(lambda x, w: K.dense(x, w), [x, w])


@pytest.mark.parametrize("strides,padding,dilation,data_format", [
    (1, "valid", 1, "channels_last"), ((2, 1), "same", 1, "channels_first"),
    (1, "same", (2, 1), "channels_last")])
def test_conv2d_matches_direct_loops_and_gradients(rng, strides, padding, dilation,
                                                   data_format):
    shape = (2, 6, 7, 3) if data_format == "channels_last" else (2, 3, 6, 7)
    x, k, b = rng.standard_normal(shape), rng.standard_normal((3, 2, 3, 4)), rng.standard_normal(4)

    def f(x, k, b):
        return K.conv2d(x, k, strides, padding, data_format, dilation, bias=b, activation="tanh")

    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    want = ref_conv2d(x, k, b, pair(strides), padding, pair(dilation), data_format, "tanh")
    np.testing.assert_allclose(_run(f, x, k, b), want, rtol=1e-10, atol=1e-12)
    check_function_gradients(f, [x, k, b])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_matches_direct_loops_and_gradients(rng, padding):
    x, k = rng.standard_normal((2, 9, 3)), rng.standard_normal((3, 3, 2))

    def f(x, k):
        return K.conv1d(x, k, strides=1, padding=padding, data_format="channels_last",
                        dilation_rate=2)

    want = ref_conv1d(x, k, None, 1, padding, 2, "channels_last", "linear")
    np.testing.assert_allclose(_run(f, x, k), want, rtol=1e-10, atol=1e-12)
    check_function_gradients(f, [x, k])


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_and_pool1d_match_direct_loops(rng, mode):
    x = rng.standard_normal((2, 5, 7, 3))
    y = _run(lambda x: K.pool2d(x, (2, 3), (2, 2), "same", "channels_last", mode), x)
    np.testing.assert_allclose(y, ref_pool2d(x, (2, 3), (2, 2), "same", mode), rtol=1e-12)
    check_function_gradients(lambda x: K.pool2d(x, 2, 2, "valid", "channels_last", mode), [x])
    s = rng.standard_normal((2, 7, 3))
    y1 = _run(lambda s: K.pool1d(s, 3, 2, "same", "channels_last", mode), s)
    want = ref_pool2d(s[:, :, None, :], (3, 1), (2, 1), "same", mode)[:, :, 0, :]
    np.testing.assert_allclose(y1, want, rtol=1e-12)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_global_pool_keepdims(rng, data_format):
    x = rng.standard_normal((2, 4, 5, 3))
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    y = _run(lambda x: K.global_pool(x, "max", data_format, keepdims=True), x)
    np.testing.assert_array_equal(y, x.max(axis=axes, keepdims=True))
    y = _run(lambda x: K.global_pool(x, "avg", data_format), x)
    np.testing.assert_allclose(y, x.mean(axis=axes), rtol=1e-12)
    check_function_gradients(lambda x: K.global_pool(x, "avg", data_format, True), [x])


def test_zero_pad_crop_and_upsample(rng):
    x = rng.standard_normal((2, 3, 4, 2))
    padded = _run(lambda x: K.zero_pad(x, ((1, 0), (2, 1)), "channels_last"), x)
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0))))
    cropped = _run(lambda x: K.crop(x, ((1, 0), (1, 2)), "channels_last"), x)
    np.testing.assert_array_equal(cropped, x[:, 1:, 1:2])
    up = _run(lambda x: K.upsample(x, (2, 3), "channels_first"), x)
    np.testing.assert_array_equal(up, x.repeat(2, axis=2).repeat(3, axis=3))
    for f in (lambda x: K.zero_pad(x, ((1, 1),), "channels_last"),
              lambda x: K.crop(x, ((1, 0),), "channels_last"),
              lambda x: K.upsample(x, (2,), "channels_last")):
        check_function_gradients(f, [x[:, :, 0]])


def test_embedding_lookup(rng):
    table = rng.standard_normal((6, 3))
    ids = np.array([[1, 5, 1], [0, 2, 3]])
    np.testing.assert_array_equal(_run(lambda t: K.embedding_lookup(t, ids), table), table[ids])
    check_function_gradients(lambda t: K.embedding_lookup(t, ids), [table])


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization_on_any_axis(rng, axis):
    x = rng.standard_normal((4, 3, 5))
    n = x.shape[axis]
    mean, var = rng.standard_normal(n), rng.random(n) + 0.5
    gamma, beta = rng.random(n) + 0.5, rng.standard_normal(n)
    moved = np.moveaxis(x, axis, -1)
    want = np.moveaxis(ref_batch_norm(moved, gamma, beta, mean, var), -1, axis)
    got = _run(lambda x: K.batch_normalization(x, mean, var, beta, gamma, axis, 1e-3), x)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    reduction = [a for a in range(3) if a != axis % 3]
    with dispatch.use_backend("numpy"):
        y, m, v = K.normalize_batch_in_training(ad.Tensor(x), gamma, beta, reduction)
    np.testing.assert_allclose(y.data, np.moveaxis(ref_batch_norm(moved, gamma, beta), -1, axis),
                               rtol=1e-10)
    np.testing.assert_allclose(m.data, moved.reshape(-1, n).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(v.data, moved.reshape(-1, n).var(axis=0), rtol=1e-12)
    check_function_gradients(
        lambda x, g, b: K.normalize_batch_in_training(x, g, b, reduction)[0], [x, gamma, beta])


def test_normalize_batch_in_training_rejects_two_feature_axes(rng):
    with pytest.raises(ValueError, match="reduction_axes"):
        K.normalize_batch_in_training(ad.Tensor(rng.standard_normal((2, 3, 4))), None, None, [0])


def test_moving_average_update_in_place():
    with dispatch.use_backend("numpy"):
        v = K.variable(np.array([1.0, 2.0]))
        out = K.moving_average_update(v, np.array([3.0, 6.0]), 0.75)
    assert out is v
    np.testing.assert_allclose(v.numpy(), [1.5, 3.0])


@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
def test_recurrent_states_and_outputs(rng, cell):
    gates = {"simple_rnn": 1, "gru": 3, "lstm": 4}[cell]
    x = rng.standard_normal((2, 4, 3))
    w, u = rng.standard_normal((3, gates * 2)) * 0.5, rng.standard_normal((2, gates * 2)) * 0.5
    opts = {} if cell == "simple_rnn" else {"recurrent_activation": "sigmoid"}
    with dispatch.use_backend("numpy"):
        seq, final = K.recurrent(cell, ad.Tensor(x), w, u, None, return_sequences=True, **opts)
        out, _ = K.recurrent(cell, ad.Tensor(x), w, u, None, return_state=True, **opts)
    assert seq.shape == (2, 4, 2) and len(final) == (2 if cell == "lstm" else 1)
    np.testing.assert_array_equal(final[0], seq.data[:, -1])       # the last h
    np.testing.assert_array_equal(out[0].data, seq.data[:, -1])
    np.testing.assert_array_equal(out[1].data, final[0])
    check_function_gradients(
        lambda x, w, u: K.recurrent(cell, x, w, u, None, return_sequences=True, **opts)[0],
        [x, w, u])


def test_dropout_mask_keeps_and_scales():
    u = np.array([0.1, 0.5, 0.7, 0.9], dtype="float32")
    mask = K.dropout_mask(u, 0.4)
    assert mask.dtype == np.float32 and not mask.requires_grad
    np.testing.assert_array_equal(mask.data, np.float32([1 / 0.6, 1 / 0.6, 0, 0]))


def test_convert_to_tensor():
    t = K.convert_to_tensor(np.arange(3.0), dtype="float32")
    assert t.dtype == np.float32
    assert K.convert_to_tensor(t) is t
    assert K.convert_to_tensor(2.0, like=t).dtype == np.float32


def test_functions_run_the_fused_op_bit_for_bit(rng):
    """The functions change nothing: the fused op called directly gives the same bits."""
    x, k, b = (rng.standard_normal(s).astype("float32") for s in ((2, 6, 6, 3), (3, 3, 3, 4), 4))
    with dispatch.use_backend("numpy"):
        y = K.conv2d(ad.Tensor(x), k, (1, 2), "same", "channels_last", bias=b, activation="relu")
        z, _ = ad.fused("conv2d", ad.Tensor(x), ad.Tensor(k), ad.Tensor(b), activation="relu",
                        strides=(1, 2), padding="same", dilation_rate=(1, 1),
                        data_format="channels_last", input_grad=False)
    np.testing.assert_array_equal(y.data, z.data)


def test_device_backends_match_numpy(device_backend, rng):
    x, w, b = (rng.standard_normal(s).astype("float32") for s in ((2, 5, 6, 3), (2, 2, 3, 4), 4))

    def forward():
        h = K.conv2d(K.to_device(x), K.to_device(w), padding="same",
                     data_format="channels_last", bias=K.to_device(b), activation="relu")
        return K.to_host(K.pool2d(h, 2, 2, "valid", "channels_last", "avg").data)

    got = forward()
    with dispatch.use_backend("numpy"):
        want = forward()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
