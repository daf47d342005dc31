"""Fused softmax + cross-entropy on every path, by op, and gradient checks.

Every path (the NumPy code, the CUDA kernels emulated on the CPU, CuPy on a GPU; no
host C++ kernels, so the ``host`` path runs the NumPy code too) is checked against the
formula of tests/reference.py (value, and the gradient by central differences of the
formula); then every backend against the NumPy code over many shapes. The kernels
(kernels/softmax_cross_entropy.cu) keep Keras's clipping of the probabilities in the
loss value and return the exact gradient of the clipped formula, like the NumPy twin;
sparse targets are integer labels.
"""
import numpy as np
import pytest

from gpuseq.backend import dispatch
from gpuseq.testing import check_op_gradients, compare_with_numpy

from _op_paths import assert_matches_reference
from reference import ref_numerical_grads, ref_softmax_cross_entropy

# (rows..., classes): 0 rows, 1 class, 255/256/257 classes, odd shapes, a 3-D sequence output.
SHAPES = [(0, 5), (1, 1), (3, 255), (2, 256), (2, 257), (37, 11), (2, 3, 7)]

# float32: the row sums run in a different order than NumPy's pairwise sums.
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def kernel_backend(request):
    """The backends that launch kernels (no numpy): for kernel-only behaviour."""
    ok, why = dispatch._cupy_probe() if request.param == "cupy" else (True, None)
    if ok is None:
        pytest.skip(f"no CUDA device for the cupy backend: {why}")
    from gpuseq.backend import cuda_emulation
    if request.param == "emulated" and not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++) on PATH")
    with dispatch.use_backend(request.param):
        yield request.param


def _logits(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------------------
# Every path against the formula
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 7)], ids=str)
def test_every_path_matches_the_reference(op_path, rng, shape, sparse, dtype):
    logits = _logits(rng, shape, dtype)
    if sparse:
        target = rng.integers(-shape[-1], shape[-1], size=shape[:-1])   # negative: from the end
    else:
        target = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)
    y_ref = ref_softmax_cross_entropy(logits, target, sparse)
    gy = rng.standard_normal(y_ref.shape)
    (g_ref,) = ref_numerical_grads(lambda z: ref_softmax_cross_entropy(z, target, sparse),
                                   [logits], gy)
    # float64: the central differences' rounding (sums of ~10 / 1e-6) limits the agreement
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-6, atol=1e-8)
    assert_matches_reference("softmax_cross_entropy", [logits, target], {"sparse": sparse},
                             y_ref, [g_ref], gy.astype(dtype), **tol)


# ---------------------------------------------------------------------------
# Every backend against the NumPy code
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dense_target_matches_numpy(backend, rng, shape, dtype):
    logits = _logits(rng, shape, dtype)
    target = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(dtype)
    compare_with_numpy("softmax_cross_entropy", [logits, target], {"sparse": False},
                       **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sparse_target_matches_numpy(backend, rng, shape, dtype):
    logits = _logits(rng, shape, dtype)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    compare_with_numpy("softmax_cross_entropy", [logits, labels], {"sparse": True},
                       **TOL[dtype])


@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_sparse_labels_with_a_trailing_axis_and_other_int_dtypes(backend, rng, label_dtype):
    logits = _logits(rng, (6, 4), np.float32)
    labels = rng.integers(0, 4, size=(6, 1)).astype(label_dtype)
    compare_with_numpy("softmax_cross_entropy", [logits, labels], {"sparse": True},
                       **TOL[np.float32])


def test_negative_labels_count_from_the_end_like_numpy(backend, rng):
    logits = _logits(rng, (3, 5), np.float64)
    compare_with_numpy("softmax_cross_entropy", [logits, np.array([-1, 0, -5])],
                       {"sparse": True}, **TOL[np.float64])


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clipped_probabilities_match_numpy(backend, sparse, dtype):
    # Row 0: p = (1, ~1e-13, ~1e-26): both ends clipped. Row 1: nothing clipped.
    logits = np.array([[30.0, 0.0, -30.0], [0.5, -0.2, 0.1], [-40.0, 40.0, 39.0]], dtype)
    if sparse:
        target = np.array([2, 1, 0])          # labels on clipped probabilities in rows 0 and 2
    else:
        target = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0], [0.7, 0.2, 0.1]], dtype)
    compare_with_numpy("softmax_cross_entropy", [logits, target], {"sparse": sparse},
                       **TOL[dtype])


def test_loss_value_is_keras_clipped(backend):
    logits = np.array([[50.0, -50.0]], np.float64)
    loss, _ = dispatch.ops().softmax_cross_entropy_forward(
        dispatch.to_device(logits), dispatch.to_device(np.array([1])), sparse=True)
    np.testing.assert_allclose(dispatch.to_host(loss), [-np.log(1e-7)], rtol=1e-12)


def test_invalid_labels_give_nan_on_the_kernel_path(kernel_backend):
    logits = dispatch.to_device(np.zeros((3, 4), np.float32))
    labels = dispatch.to_device(np.array([0, 4, -5]))
    loss, saved = dispatch.ops().softmax_cross_entropy_forward(logits, labels, sparse=True)
    loss = dispatch.to_host(loss)
    assert np.isclose(loss[0], np.log(4.0)) and np.isnan(loss[1]) and np.isnan(loss[2])
    g, _ = dispatch.ops().softmax_cross_entropy_backward(
        dispatch.to_device(np.ones(3, np.float32)), saved, sparse=True)
    g = dispatch.to_host(g)
    assert np.isfinite(g[0]).all() and np.isnan(g[1:]).all()


def test_sparse_labels_of_the_wrong_shape_are_reported(kernel_backend):
    logits = dispatch.to_device(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match=r"labels of shape \(3,\).*Received: target.shape=\(2,\)"):
        dispatch.ops().softmax_cross_entropy_forward(
            logits, dispatch.to_device(np.array([0, 1])), sparse=True)


def test_large_logits_are_stable(backend):
    logits = np.array([[1e4, 0.0, -1e4]], np.float32)
    loss, _ = dispatch.ops().softmax_cross_entropy_forward(
        dispatch.to_device(logits), dispatch.to_device(np.array([[1.0, 0.0, 0.0]], np.float32)))
    assert np.isfinite(dispatch.to_host(loss)).all()


# ---------------------------------------------------------------------------
# float64 finite-difference checks of the NumPy backward
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)], ids=str)
def test_dense_target_gradient(rng, shape):
    logits = rng.standard_normal(shape)
    target = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    check_op_gradients("softmax_cross_entropy", [logits, target], {"sparse": False}, wrt=[0])


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)], ids=str)
def test_sparse_target_gradient(rng, shape):
    logits = rng.standard_normal(shape)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    check_op_gradients("softmax_cross_entropy", [logits, labels], {"sparse": True})


@pytest.mark.parametrize("sparse", [False, True])
def test_clipped_gradient(sparse):
    # Probabilities far inside the clipped regions (1e-13 and 1 - 1e-13): a step of
    # 1e-6 in the logits does not cross a clipping boundary, so the formula is smooth there.
    logits = np.array([[30.0, 0.0, -30.0], [0.3, -0.2, 0.1]])
    target = np.array([2, 0]) if sparse else np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    check_op_gradients("softmax_cross_entropy", [logits, target], {"sparse": sparse}, wrt=[0])
