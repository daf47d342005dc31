"""The tape: every generic differentiable op checked by float64 finite differences."""
import numpy as np
import pytest

from gpuseq.backend import autodiff as ad
from gpuseq.testing import check_function_gradients


def check(f, *arrays, rtol=1e-5, atol=1e-7):
    check_function_gradients(f, list(arrays), rtol=rtol, atol=atol)


R = np.random.default_rng(42)


def r(*shape, positive=False):
    a = R.standard_normal(shape)
    return np.abs(a) + 0.5 if positive else a


@pytest.mark.parametrize("name, f, shapes", [
    ("add broadcast", lambda a, b: a + b, [(3, 4), (4,)]),
    ("sub broadcast", lambda a, b: a - b, [(3, 1), (1, 4)]),
    ("mul broadcast", lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    ("div", lambda a, b: a / b, [(3, 4), "pos(3, 4)"]),
    ("matmul 2d", lambda a, b: a @ b, [(3, 4), (4, 2)]),
    ("matmul 3d@2d", lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    ("matmul batched", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 5)]),
    ("maximum", ad.maximum, [(3, 4), (3, 4)]),
    ("minimum", ad.minimum, [(3, 4), (4,)]),
    ("power", lambda a, b: ad.power(a, b), ["pos(3,)", (3,)]),
])
def test_binary_ops(name, f, shapes):
    arrays = [r(*eval(s[3:]), positive=True) if isinstance(s, str) else r(*s) for s in shapes]
    check(f, *arrays)


@pytest.mark.parametrize("name, f, positive", [
    ("neg", ad.neg, False), ("exp", ad.exp, False), ("log", ad.log, True),
    ("sqrt", ad.sqrt, True), ("square", ad.square, False), ("abs", ad.absolute, False),
    ("tanh", ad.tanh, False), ("sigmoid", ad.sigmoid, False), ("relu", ad.relu, False),
    ("softplus", ad.softplus, False), ("sin", ad.sin, False), ("cos", ad.cos, False),
    ("log1p", ad.log1p, True), ("clip", lambda x: ad.clip(x, -0.5, 0.7), False),
])
def test_unary_ops(name, f, positive):
    check(f, r(3, 5, positive=positive))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True), ((0, 2), False),
                                            (-1, False)])
def test_reductions(axis, keepdims):
    x = r(3, 4, 2)
    check(lambda t: ad.reduce_sum(t, axis, keepdims), x)
    check(lambda t: ad.reduce_mean(t, axis, keepdims), x)
    check(lambda t: ad.reduce_max(t, axis, keepdims), x)
    check(lambda t: ad.reduce_min(t, axis, keepdims), x)


def test_shape_ops():
    x = r(2, 3, 4)
    check(lambda t: ad.reshape(t, (6, 4)), x)
    check(lambda t: ad.transpose(t, (2, 0, 1)), x)
    check(lambda t: ad.transpose(ad.reshape(t, (6, 4))), x)
    check(lambda t: t[:, 1:, ::2], x)
    check(lambda t: t[np.array([0, 1, 1])], x)       # repeated index accumulates
    check(lambda a, b: ad.concatenate([a, b], axis=1), r(2, 3), r(2, 5))
    check(lambda a, b: ad.stack([a, b], axis=1), r(2, 3), r(2, 3))
    check(lambda a, b: ad.where(np.array([[True, False, True]]), a, b), r(2, 3), r(2, 3))
    check(lambda t: ad.softmax(t, axis=-1), r(3, 5))
    check(lambda t: ad.cast(t, "float64") * 2, r(3,))


def test_shared_input_gradients_accumulate():
    x = r(4)
    check(lambda t: t * t + ad.exp(t) * t, x)


def test_gradients_of_unused_variable_are_zero():
    a = ad.Variable(np.ones(3))
    b = ad.Variable(np.ones(2))
    y = ad.reduce_sum(a * 2.0)
    ga, gb = ad.gradients(y, [a, b])
    np.testing.assert_array_equal(ga, [2, 2, 2])
    np.testing.assert_array_equal(gb, [0, 0])


def test_no_grad_records_nothing():
    v = ad.Variable(np.ones(3))
    with ad.no_grad():
        y = v * 3.0
    assert y.node is None and not y.requires_grad
    y2 = v * 3.0
    assert y2.node is not None


def test_python_scalars_keep_float32():
    t = ad.Tensor(np.ones(3, "float32"))
    assert (t * 0.5).dtype == np.float32 and (1.0 - t).dtype == np.float32


def test_variable_assign_checks_shape():
    v = ad.Variable(np.zeros((2, 2), "float32"), name="w")
    v.assign(np.ones((2, 2)))
    assert v.numpy().sum() == 4 and v.dtype == np.float32
    with pytest.raises(ValueError, match=r"shape \(3,\) to variable 'w' of shape \(2, 2\)"):
        v.assign(np.ones(3))
