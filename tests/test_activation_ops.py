"""Activations, bias + activation, Dense and softmax on every path, by op.

Every path (the NumPy code, the CUDA kernels of kernels/activations.cu emulated on the
CPU, CuPy on a GPU; these ops have no host C++ kernels, so the ``host`` path runs the
NumPy code too) is checked against the formulas of tests/reference.py, values and
gradients. Then every backend against the NumPy code over many shapes, and the NumPy
backward ops by float64 finite differences.
"""
import numpy as np
import pytest

from gpuseq.backend.numpy_ops.activations import ACTIVATION_KINDS
from gpuseq.testing import check_op_gradients, compare_with_numpy

from _op_paths import assert_matches_reference
from reference import (ref_act, ref_act_grad, ref_dense, ref_dense_grads, ref_softmax,
                       ref_softmax_grad)

# Element counts around a block of 256 threads, and odd multi-dimensional shapes.
SHAPES = [(0,), (1,), (255,), (256,), (257,), (7, 37), (3, 5, 11)]

# float32 tolerances per activation kind (float64 uses TOL64 for every kind).
# Elementwise transcendental functions are within a few ulp of NumPy's; the
# exponential kind feeds values up to e^9, hence the larger absolute term.
TOL32 = {kind: dict(rtol=1e-5, atol=1e-6) for kind in ACTIVATION_KINDS}
TOL32["exponential"] = dict(rtol=1e-5, atol=1e-5)
TOL64 = dict(rtol=1e-12, atol=1e-13)


def _tol(kind, dtype):
    return TOL32[kind] if dtype == np.float32 else TOL64


def _inputs(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# ---------------------------------------------------------------------------
# Every path against the formulas
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
def test_activation_every_path_matches_the_reference(op_path, rng, kind, dtype):
    x = _inputs(rng, (7, 37), dtype)
    x[np.abs(x) < 1e-3] = 0.5                      # away from the kinks of relu/elu
    x[np.abs(np.abs(x) - 2.5) < 1e-3] = 1.0        # and of hard_sigmoid
    gy = rng.standard_normal(x.shape).astype(dtype)
    tol = _tol(kind, dtype)
    assert_matches_reference("activation", [x], {"kind": kind}, ref_act(x, kind),
                             [gy * ref_act_grad(x, kind)], gy, **tol)
    bias = _inputs(rng, (37,), dtype, scale=1.0)
    z = x.astype(np.float64) + bias
    gz = gy * ref_act_grad(z, kind)
    btol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else TOL64
    if kind == "exponential" and dtype == np.float32:
        btol = dict(rtol=1e-5, atol=1e-4)          # column sums of values up to e^12
    assert_matches_reference("bias_activation", [x, bias], {"kind": kind}, ref_act(z, kind),
                             [gz, gz.sum(axis=0)], gy, **btol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softplus"])
@pytest.mark.parametrize("with_bias", [True, False])
def test_dense_every_path_matches_the_reference(op_path, rng, activation, dtype, with_bias):
    x = _inputs(rng, (2, 5, 257), dtype, scale=1.0)
    kernel = _inputs(rng, (257, 7), dtype, scale=0.3)
    bias = _inputs(rng, (7,), dtype, scale=0.1) if with_bias else None
    y_ref = ref_dense(x, kernel, bias, activation)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert_matches_reference("dense", [x, kernel, bias], {"activation": activation}, y_ref,
                             list(ref_dense_grads(x, kernel, bias, gy, activation)), gy, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((3, 257), -1), ((4, 3, 7), 1), ((5, 6), 0)], ids=str)
def test_softmax_every_path_matches_the_reference(op_path, rng, shape, axis, dtype):
    x = _inputs(rng, shape, dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    assert_matches_reference("softmax", [x], {"axis": axis}, ref_softmax(x, axis),
                             [ref_softmax_grad(x, gy, axis)], gy, **tol)


# ---------------------------------------------------------------------------
# Every backend against the NumPy code
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
def test_activation_matches_numpy(backend, rng, kind, shape, dtype):
    x = _inputs(rng, shape, dtype)
    compare_with_numpy("activation", [x], {"kind": kind}, **_tol(kind, dtype))


# (rows..., units): 0, 1, 255, 256, 257 columns and odd shapes; 3-D is a time-distributed Dense.
BIAS_SHAPES = [(0, 4), (1, 1), (2, 255), (2, 256), (3, 257), (37, 11), (2, 3, 7)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", BIAS_SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu",
                                  "selu", "softplus", "softsign", "exponential"])
def test_bias_activation_matches_numpy(backend, rng, kind, shape, dtype):
    z = _inputs(rng, shape, dtype)
    bias = _inputs(rng, shape[-1:], dtype, scale=1.0)
    # float32 bias gradient: column sums of up to 37 rows in a different order than NumPy's.
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else TOL64
    compare_with_numpy("bias_activation", [z, bias], {"kind": kind}, **tol)


@pytest.mark.parametrize("kind", ["linear", "relu", "tanh"])
def test_bias_activation_without_bias_matches_numpy(backend, rng, kind):
    z = _inputs(rng, (5, 9), np.float32)
    compare_with_numpy("bias_activation", [z, None], {"kind": kind}, rtol=1e-5, atol=1e-5)


def test_bias_activation_rejects_a_bias_of_the_wrong_length(backend):
    from gpuseq.backend import dispatch
    if backend == "numpy":
        pytest.skip("NumPy broadcasting reports its own error")
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"bias of shape \(3,\)"):
        dispatch.ops().bias_activation_forward(dispatch.to_device(z),
                                               dispatch.to_device(np.zeros(4, np.float32)), "relu")


# (batch..., in, units): sizes 0 and 1, 255/256/257 input features, odd shapes.
DENSE_SHAPES = [((0, 3), 4), ((1, 1), 1), ((5, 255), 3), ((4, 256), 7), ((3, 257), 5),
                ((37, 11), 13), ((2, 3, 6), 5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xshape,units", DENSE_SHAPES, ids=str)
@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softplus"])
def test_dense_matches_numpy(backend, rng, activation, xshape, units, dtype):
    x = _inputs(rng, xshape, dtype, scale=1.0)
    kernel = _inputs(rng, (xshape[-1], units), dtype, scale=0.3)
    bias = _inputs(rng, (units,), dtype, scale=0.1)
    # float32: GEMMs over up to 257 products (cuBLAS / numpy.matmul orders differ).
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    compare_with_numpy("dense", [x, kernel, bias], {"activation": activation}, **tol)


def test_dense_without_bias_matches_numpy(backend, rng):
    x = _inputs(rng, (6, 9), np.float32, scale=1.0)
    kernel = _inputs(rng, (9, 4), np.float32, scale=0.3)
    compare_with_numpy("dense", [x, kernel, None], {"activation": "relu"}, rtol=1e-4, atol=1e-4)


# (shape, axis): rows of 1, 255, 256, 257 classes, and softmax along a middle axis.
SOFTMAX_CASES = [((0, 5), -1), ((1, 1), -1), ((3, 255), -1), ((2, 256), -1), ((2, 257), -1),
                 ((37, 11), -1), ((4, 3, 7), 1), ((4, 3, 7), 0), ((5, 6), 0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES, ids=str)
def test_softmax_matches_numpy(backend, rng, shape, axis, dtype):
    x = _inputs(rng, shape, dtype)
    # The backward y * (gy - sum(gy * y)) cancels when gy is close to the sum: absolute terms.
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    compare_with_numpy("softmax", [x], {"axis": axis}, **tol)


def test_softmax_is_stable_for_large_logits(backend):
    from gpuseq.backend import dispatch
    x = np.array([[1000.0, 1000.0, -1000.0], [-5e4, 0.0, 5e4]], np.float32)
    y, _ = dispatch.ops().softmax_forward(dispatch.to_device(x))
    np.testing.assert_allclose(dispatch.to_host(y), [[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])


def test_unknown_activation_kind_is_reported(backend):
    from gpuseq.backend import dispatch
    x = dispatch.to_device(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="Unknown activation kind.*Received: kind='swish'"):
        dispatch.ops().activation_forward(x, "swish")


# ---------------------------------------------------------------------------
# float64 finite-difference checks of the NumPy backward ops
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
def test_activation_gradient(rng, kind):
    x = rng.standard_normal((3, 4)) * 2
    x[np.abs(x) < 1e-3] = 0.5                      # keep away from the kinks of relu/elu
    x[np.abs(np.abs(x) - 2.5) < 1e-3] = 1.0        # and of hard_sigmoid
    check_op_gradients("activation", [x], {"kind": kind})


@pytest.mark.parametrize("kind", ["linear", "relu", "sigmoid", "tanh", "selu", "softsign"])
def test_bias_activation_gradient(rng, kind):
    z = rng.standard_normal((4, 5))
    bias = rng.standard_normal(5) * 0.1
    check_op_gradients("bias_activation", [z + 0.01, bias], {"kind": kind})


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "elu"])
def test_dense_gradient(rng, activation):
    x = rng.standard_normal((3, 4))
    kernel = rng.standard_normal((4, 2)) * 0.5
    bias = rng.standard_normal(2) * 0.1
    check_op_gradients("dense", [x, kernel, bias], {"activation": activation})


@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 3, 4), 1)])
def test_softmax_gradient(rng, shape, axis):
    check_op_gradients("softmax", [rng.standard_normal(shape)], {"axis": axis})
