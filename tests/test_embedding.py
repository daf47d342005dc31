"""Embedding: the op (gather / scatter-add) on every path against the loops of
tests/reference.py, its CUDA twin against the NumPy code, and the layer."""
import warnings

import numpy as np
import pytest

from gpuseq.backend import autodiff as ad
from gpuseq.backend import numpy_ops
from gpuseq.layers import LSTM, Dense, Embedding, Flatten
from gpuseq.models import Sequential
from gpuseq.testing import assert_close, check_op_gradients, compare_with_numpy

from _op_paths import assert_matches_reference
from reference import ref_embedding, ref_embedding_grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ids_shape", [(1, 1), (4, 7), (300, 1)])
def test_embedding_every_path_matches_the_reference(op_path, rng, ids_shape, dtype):
    ids = rng.integers(0, 9, size=ids_shape)                   # repeated rows
    table = rng.standard_normal((9, 5)).astype(dtype)
    y_ref = ref_embedding(ids, table)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert_matches_reference("embedding", [ids, table], {}, y_ref,
                             [None, ref_embedding_grad(ids, table.shape, gy)], gy, **tol)


def test_embedding_forward_gathers_rows():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    ids = np.array([[0, 3], [3, 1]])
    y, _ = numpy_ops.embedding_forward(ids, table)
    np.testing.assert_array_equal(y, [[[0, 1, 2], [9, 10, 11]], [[9, 10, 11], [3, 4, 5]]])


def test_embedding_backward_sums_repeated_rows():
    table = np.zeros((5, 2))
    ids = np.array([[1, 3, 1], [4, 1, 0]])
    _, saved = numpy_ops.embedding_forward(ids, table)
    gy = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    g_ids, gt = numpy_ops.embedding_backward(gy, saved)
    assert g_ids is None
    expected = np.zeros((5, 2))
    for i, v in enumerate(ids.reshape(-1)):
        expected[v] += gy.reshape(-1, 2)[i]
    np.testing.assert_allclose(gt, expected)
    assert gt[2].tolist() == [0, 0]              # an unused row gets no gradient


def test_embedding_gradient_check(rng):
    ids = rng.integers(0, 6, size=(3, 4))
    check_op_gradients("embedding", [ids, rng.standard_normal((6, 3))], wrt=[1])


def test_embedding_accepts_integral_floats_and_refuses_out_of_range():
    table = np.ones((4, 2), dtype=np.float32)
    y, _ = numpy_ops.embedding_forward(np.array([[1.0, 2.0]]), table)
    assert y.shape == (1, 2, 2)
    with pytest.raises(ValueError, match=r"index 4, outside the vocabulary.*0\.\.3"):
        numpy_ops.embedding_forward(np.array([[0, 4]]), table)
    with pytest.raises(ValueError, match="index -1"):
        numpy_ops.embedding_forward(np.array([[-1, 2]]), table)
    with pytest.raises(ValueError, match="integer indices"):
        numpy_ops.embedding_forward(np.array([[0.5]]), table)


@pytest.mark.parametrize("n_ids", [1, 255, 257])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_embedding_cuda_twin_matches_numpy(backend, n_ids, dtype, tol):
    rng = np.random.default_rng(n_ids)
    ids = rng.integers(0, 7, size=(n_ids,)).reshape(-1, 1)   # many repeats
    table = rng.standard_normal((7, 5)).astype(dtype)
    compare_with_numpy("embedding", [ids, table], {}, rtol=tol, atol=tol)


def test_embedding_cuda_twin_refuses_out_of_range(backend):
    from gpuseq.backend import dispatch
    table = dispatch.to_device(np.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        dispatch.ops().embedding_forward(dispatch.to_device(np.array([[3]])), table)


# ---------------------------------------------------------------- layer
def test_layer_shapes_weights_and_config():
    emb = Embedding(1000, 64, input_length=10, name="emb")
    model = Sequential([emb])
    assert model.output_shape == (None, 10, 64)
    assert [w.name for w in emb.weights] == ["emb/embeddings:0"]
    assert emb.get_weights()[0].shape == (1000, 64)
    w = emb.get_weights()[0]
    assert np.abs(w).max() <= 0.05                       # 'uniform' = U(-0.05, 0.05)
    cfg = emb.get_config()
    assert cfg["input_dim"] == 1000 and cfg["output_dim"] == 64 and cfg["input_length"] == 10
    clone = Embedding.from_config(dict(cfg, name="emb2"))
    assert clone.batch_input_shape == (None, 10)


def test_layer_without_input_length_accepts_any_length():
    model = Sequential()
    model.add(Embedding(50, output_dim=8))
    assert model.layers[0].batch_input_shape == (None, None)
    model.add(LSTM(4))
    out5 = model.predict(np.ones((2, 5), dtype=int))
    out9 = model.predict(np.ones((3, 9), dtype=int))
    assert out5.shape == (2, 4) and out9.shape == (3, 4)


def test_layer_lookup_value_and_mask():
    emb = Embedding(5, 2, mask_zero=True)
    Sequential([emb])
    table = np.arange(10, dtype=np.float32).reshape(5, 2)
    emb.set_weights([table])
    ids = ad.Tensor(np.array([[1, 0, 4]]))
    np.testing.assert_array_equal(emb(ids).numpy(), table[[[1, 0, 4]]])
    np.testing.assert_array_equal(np.asarray(emb.compute_mask(ids)), [[True, False, True]])
    assert Embedding(5, 2).compute_mask(ids) is None


def test_layer_errors():
    with pytest.raises(TypeError, match="input_dim"):
        Embedding(output_dim=3)
    with pytest.raises(ValueError, match="output_dim"):
        Embedding(10, 0)
    model = Sequential([Embedding(10, 3, input_length=4)])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.predict(np.array([[1, 2, 3, 10]]))
    with pytest.raises(ValueError, match="expected input of shape"):
        model.predict(np.array([[1, 2, 3]]))


def test_keras1_arguments_are_converted():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        emb = Embedding(10, 4, init="normal", dropout=0.2)
    msgs = " ".join(str(x.message) for x in w)
    assert "Embedding(10, 4, embeddings_initializer=\"normal\")" in msgs
    assert "dropout" in msgs
    assert type(emb.embeddings_initializer).__name__ == "RandomNormal"


def test_embedding_trains_to_separate_tokens():
    """Sequences of token 1 vs token 2: the embedding + flatten + dense must learn it."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 3, size=(64, 1)).repeat(4, axis=1)
    y = (x[:, 0] == 2).astype("float32")
    model = Sequential([Embedding(3, 4, input_length=4), Flatten(),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    row0 = model.layers[0].get_weights()[0][0].copy()
    model.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] == 1.0
    w = model.layers[0].get_weights()[0]
    assert_close(w[0], row0, 0, 0, "row 0 is never looked up, so it never moves")
    assert np.abs(w[1] - w[2]).sum() > 0.1


def _float_ids_model(seed):
    from gpuseq.utils import set_random_seed
    set_random_seed(seed)
    model = Sequential([Embedding(10, 3, input_length=4), Flatten(), Dense(1)])
    model.compile("sgd", "mse")
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_layer_casts_integral_float_indices_as_keras2(backend, dtype):
    """A Keras 2 program that feeds token ids as floats (e.g. padded with a float
    dtype) predicts and trains exactly as with integer ids."""
    ids = np.array([[1, 2, 3, 9], [5, 0, 7, 9], [4, 4, 8, 1]])
    y = np.array([[1.0], [-1.0], [0.5]], dtype="float32")
    as_int, as_float = _float_ids_model(3), _float_ids_model(3)
    np.testing.assert_array_equal(as_float.predict(ids.astype(dtype)), as_int.predict(ids))
    as_int.fit(ids, y, epochs=3, batch_size=3, verbose=0, shuffle=False)
    as_float.fit(ids.astype(dtype), y, epochs=3, batch_size=3, verbose=0, shuffle=False)
    for a, b in zip(as_int.get_weights(), as_float.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    initial = _float_ids_model(3).layers[0].get_weights()[0]
    trained = as_float.layers[0].get_weights()[0]
    assert not np.allclose(trained[1], initial[1])  # a row the ids used moved ...
    np.testing.assert_array_equal(trained[6], initial[6])   # ... an unused one did not


@pytest.mark.parametrize("bad, fragment", [
    (0.5, r"holds 0\.5 at position \(1, 2\).*Received: indices of dtype float32"),
    (np.nan, r"holds nan at position \(1, 2\)"),
])
def test_layer_refuses_non_integral_float_indices(backend, bad, fragment):
    model = _float_ids_model(4)
    ids = np.array([[1, 2, 3, 9], [5, 0, bad, 9]], dtype="float32")
    before = model.get_weights()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # the NaN-in-data warning
        with pytest.raises(ValueError, match=fragment):
            model.fit(ids, np.ones((2, 1)), verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
