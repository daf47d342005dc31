"""Keras backend functions (gpuseq.backend as K): values against NumPy, tape gradients
against float64 finite differences, Keras-specific semantics and errors."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from _gradcheck import check_function_gradients

R = np.random.default_rng(7)


def _pos(*shape):
    return R.uniform(0.5, 2.0, size=shape)


def _any(*shape):
    # values kept away from 0 (kinks of abs/relu/sign)
    a = R.uniform(0.2, 1.5, size=shape)
    return a * np.where(R.random(shape) < 0.5, -1, 1)


def _softmaxish(*shape):
    a = R.uniform(0.1, 1.0, size=shape)
    return a / a.sum(-1, keepdims=True)


def _onehot(n, c):
    return np.eye(c)[R.integers(0, c, n)]


def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _np_prod_others(a):
    return np.array([np.prod(np.delete(a, i)) for i in range(a.size)])


# (id, K function of Tensors, NumPy reference of arrays, inputs)
CASES = [
    ("mean_all", lambda x: K.mean(x), lambda x: x.mean(), [_any(3, 4)]),
    ("mean_axis", lambda x: K.mean(x, axis=-1), lambda x: x.mean(-1), [_any(3, 4)]),
    ("mean_axes_keepdims", lambda x: K.mean(x, axis=[0, 2], keepdims=True),
     lambda x: x.mean((0, 2), keepdims=True), [_any(2, 3, 4)]),
    ("sum", lambda x: K.sum(x, axis=1), lambda x: x.sum(1), [_any(3, 4)]),
    ("sum_tuple", lambda x: K.sum(x, axis=(0, 1)), lambda x: x.sum((0, 1)), [_any(2, 3, 4)]),
    ("prod", lambda x: K.prod(x, axis=1), lambda x: x.prod(1), [_any(3, 4)]),
    ("prod_all_keepdims", lambda x: K.prod(x, keepdims=True),
     lambda x: x.prod(keepdims=True), [_any(2, 3)]),
    ("max", lambda x: K.max(x, axis=-1), lambda x: x.max(-1), [_any(3, 5)]),
    ("min_keepdims", lambda x: K.min(x, axis=0, keepdims=True),
     lambda x: x.min(0, keepdims=True), [_any(3, 5)]),
    ("var", lambda x: K.var(x, axis=-1), lambda x: x.var(-1), [_any(3, 5)]),
    ("std", lambda x: K.std(x), lambda x: x.std(), [_any(3, 5)]),
    ("logsumexp", lambda x: K.logsumexp(x, axis=1),
     lambda x: np.log(np.exp(x).sum(1)), [_any(3, 4)]),
    ("logsumexp_all", lambda x: K.logsumexp(x), lambda x: np.log(np.exp(x).sum()),
     [_any(3, 4)]),
    ("cumsum", lambda x: K.cumsum(x, axis=1), lambda x: np.cumsum(x, 1), [_any(3, 4)]),
    ("cumprod", lambda x: K.cumprod(x, axis=0), lambda x: np.cumprod(x, 0), [_any(3, 4)]),
    ("square", K.square, np.square, [_any(3, 4)]),
    ("sqrt", K.sqrt, np.sqrt, [_pos(3, 4)]),
    ("abs", K.abs, np.abs, [_any(3, 4)]),
    ("exp", K.exp, np.exp, [_any(3, 4)]),
    ("log", K.log, np.log, [_pos(3, 4)]),
    ("log1p", K.log1p, np.log1p, [_pos(3, 4)]),
    ("pow", lambda x: K.pow(x, 2.5), lambda x: x ** 2.5, [_pos(3, 4)]),
    ("clip", lambda x: K.clip(x, -0.7, 0.9), lambda x: np.clip(x, -0.7, 0.9),
     [np.array([[-1.3, -0.5, 0.2, 1.4], [0.6, -0.95, 1.1, 0.3]])]),
    ("maximum", K.maximum, np.maximum, [_any(3, 4), _any(3, 4)]),
    ("minimum_broadcast", K.minimum, np.minimum, [_any(3, 4), _any(4)]),
    ("maximum_scalar", lambda x: K.maximum(x, 0.3), lambda x: np.maximum(x, 0.3),
     [_any(3, 4)]),
    ("sin", K.sin, np.sin, [_any(3, 4)]),
    ("cos", K.cos, np.cos, [_any(3, 4)]),
    ("dot_2d", K.dot, np.dot, [_any(3, 4), _any(4, 2)]),
    ("dot_3d_2d", K.dot, lambda a, b: a @ b, [_any(2, 3, 4), _any(4, 5)]),
    ("dot_2d_3d", K.dot, lambda a, b: np.tensordot(a, b, axes=([1], [1])),
     [_any(2, 3), _any(4, 3, 5)]),
    ("batch_dot_2d", lambda a, b: K.batch_dot(a, b, axes=1),
     lambda a, b: (a * b).sum(1, keepdims=True), [_any(4, 3), _any(4, 3)]),
    ("batch_dot_3d", K.batch_dot, lambda a, b: a @ b, [_any(2, 3, 4), _any(2, 4, 5)]),
    ("batch_dot_axes_2_2", lambda a, b: K.batch_dot(a, b, axes=(2, 2)),
     lambda a, b: np.einsum("bik,bjk->bij", a, b), [_any(2, 3, 4), _any(2, 5, 4)]),
    ("batch_dot_keras_doc", lambda a, b: K.batch_dot(a, b, axes=(1, 2)),
     lambda a, b: np.einsum("bk,bjk->bj", a, b), [_any(3, 4), _any(3, 5, 4)]),
    ("transpose", K.transpose, np.transpose, [_any(3, 4)]),
    ("permute_dimensions", lambda x: K.permute_dimensions(x, (2, 0, 1)),
     lambda x: x.transpose(2, 0, 1), [_any(2, 3, 4)]),
    ("l2_normalize", lambda x: K.l2_normalize(x, axis=-1),
     lambda x: x / np.sqrt((x * x).sum(-1, keepdims=True)), [_any(3, 4)]),
    ("reshape", lambda x: K.reshape(x, (4, 3)), lambda x: x.reshape(4, 3), [_any(3, 4)]),
    ("flatten", K.flatten, lambda x: x.reshape(-1), [_any(3, 4)]),
    ("batch_flatten", K.batch_flatten, lambda x: x.reshape(2, -1), [_any(2, 3, 4)]),
    ("expand_dims", lambda x: K.expand_dims(x, 1), lambda x: x[:, None], [_any(3, 4)]),
    ("squeeze", lambda x: K.squeeze(x, 1), lambda x: x[:, 0], [_any(3, 1, 4)]),
    ("concatenate", lambda a, b: K.concatenate([a, b], axis=-1),
     lambda a, b: np.concatenate([a, b], -1), [_any(3, 2), _any(3, 4)]),
    ("stack", lambda a, b: K.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1),
     [_any(3, 2), _any(3, 2)]),
    ("repeat", lambda x: K.repeat(x, 3), lambda x: np.repeat(x[:, None], 3, 1),
     [_any(2, 4)]),
    ("repeat_elements", lambda x: K.repeat_elements(x, 2, axis=1),
     lambda x: np.repeat(x, 2, axis=1), [_any(2, 3)]),
    ("tile", lambda x: K.tile(x, (2, 3)), lambda x: np.tile(x, (2, 3)), [_any(2, 3)]),
    ("reverse", lambda x: K.reverse(x, 1), lambda x: x[:, ::-1], [_any(2, 3)]),
    ("gather", lambda x, i: K.gather(x, i), lambda x, i: x[i],
     [_any(4, 3), np.array([2, 0, 2])]),
    ("switch", lambda a, b: K.switch(np.array([True, False, True]), a, b),
     lambda a, b: np.where(np.array([True, False, True])[:, None], a, b),
     [_any(3, 2), _any(3, 2)]),
    ("identity", K.identity, lambda x: x, [_any(3, 2)]),
    ("cast_float", lambda x: K.cast(x, "float64") * 2.0, lambda x: 2 * x, [_any(3, 2)]),
    ("relu", K.relu, lambda x: np.maximum(x, 0), [_any(3, 4)]),
    ("relu_leaky_capped", lambda x: K.relu(x, alpha=0.1, max_value=1.0),
     lambda x: np.where(x > 0, np.minimum(x, 1.0), 0.1 * x), [_any(3, 4)]),
    ("relu_threshold", lambda x: K.relu(x, threshold=0.5),
     lambda x: np.where(x > 0.5, x, 0.0), [_any(3, 4)]),
    ("sigmoid", K.sigmoid, lambda x: 1 / (1 + np.exp(-x)), [_any(3, 4)]),
    ("hard_sigmoid", K.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1),
     [np.array([[-3.0, -1.0, 0.3, 1.7, 4.0]])]),
    ("tanh", K.tanh, np.tanh, [_any(3, 4)]),
    ("softplus", K.softplus, lambda x: np.log1p(np.exp(x)), [_any(3, 4)]),
    ("softsign", K.softsign, lambda x: x / (1 + np.abs(x)), [_any(3, 4)]),
    ("elu", lambda x: K.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * (np.exp(x) - 1)),
     [_any(3, 4)]),
    ("softmax", K.softmax, _np_softmax, [_any(3, 4)]),
    ("categorical_crossentropy", K.categorical_crossentropy,
     lambda t, p: -(t * np.log(p / p.sum(-1, keepdims=True))).sum(-1),
     [_softmaxish(4, 3), _softmaxish(4, 3) * 1.3]),
    ("categorical_crossentropy_logits",
     lambda t, x: K.categorical_crossentropy(t, x, from_logits=True),
     lambda t, x: -(t * np.log(_np_softmax(x))).sum(-1), [_onehot(4, 3), _any(4, 3)]),
    ("sparse_categorical_crossentropy",
     lambda p, t: K.sparse_categorical_crossentropy(t, p),
     lambda p, t: -np.log(p[np.arange(4), t] / p.sum(-1)),
     [_softmaxish(4, 3), np.array([0, 2, 1, 2])]),
    ("sparse_categorical_crossentropy_logits",
     lambda x, t: K.sparse_categorical_crossentropy(t, x, from_logits=True),
     lambda x, t: -np.log(_np_softmax(x)[np.arange(4), t[:, 0]]),
     [_any(4, 3), np.array([[0], [2], [1], [2]])]),
    ("binary_crossentropy", K.binary_crossentropy,
     lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
     [R.uniform(0, 1, (3, 2)), R.uniform(0.1, 0.9, (3, 2))]),
    ("binary_crossentropy_logits", lambda t, x: K.binary_crossentropy(t, x, from_logits=True),
     lambda t, x: -(t * np.log(1 / (1 + np.exp(-x))) + (1 - t) * np.log(1 - 1 / (1 + np.exp(-x)))),
     [R.uniform(0, 1, (3, 2)), _any(3, 2)]),
]


@pytest.mark.parametrize("name,kfn,npfn,inputs", CASES, ids=[c[0] for c in CASES])
def test_value_matches_numpy(numpy_backend, name, kfn, npfn, inputs):
    out = kfn(*[np.array(a) for a in inputs])      # plain arrays in, Tensor out
    assert isinstance(out, K.Tensor)
    np.testing.assert_allclose(K.eval(out), npfn(*inputs), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name,kfn,npfn,inputs", CASES, ids=[c[0] for c in CASES])
def test_tape_gradient_matches_finite_differences(name, kfn, npfn, inputs):
    check_function_gradients(kfn, inputs)


def test_prod_gradient_with_zero_factors():
    a = np.array([[2.0, 0.0, 3.0, -1.5], [0.0, 4.0, 0.0, 2.0]])
    (g,) = check_function_gradients(lambda x: K.prod(x, axis=1), [a])
    # d prod / d a_i = product of the other factors, exact even at zeros
    x = ad.Variable(a.copy())
    (gx,) = ad.gradients(K.sum(K.prod(x, axis=1)), [x])
    np.testing.assert_allclose(gx[0], _np_prod_others(a[0]))
    np.testing.assert_allclose(gx[1], [0, 0, 0, 0])


def test_piecewise_constant_functions_give_zero_gradient():
    x = ad.Variable(np.array([[0.2, 1.7, -0.6]]))
    y = K.sum(K.round(x) + K.sign(x) + K.stop_gradient(x) * 3.0)
    assert K.eval(y) == pytest.approx(0 + 2 - 1 + 1 + 1 - 1 + 3 * 1.3)
    (g,) = ad.gradients(y, [x])
    np.testing.assert_array_equal(g, np.zeros((1, 3)))


# -- Keras-specific semantics -----------------------------------------------------------

def test_clip_gradient_is_one_on_the_boundaries_and_zero_outside():
    x = ad.Variable(np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    (g,) = ad.gradients(K.sum(K.clip(x, -1.0, 1.0)), [x])
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])
    # None bounds; max < min collapses to min (as Keras)
    np.testing.assert_array_equal(K.eval(K.clip(np.array([-5.0, 5.0]), None, 1.0)), [-5, 1])
    np.testing.assert_array_equal(K.eval(K.clip(np.array([-5.0, 5.0]), 2.0, 1.0)), [2, 2])


def test_maximum_tie_sends_gradient_to_first_argument_and_max_shares_ties():
    a, b = ad.Variable(np.array([1.0, 2.0])), ad.Variable(np.array([1.0, 3.0]))
    ga, gb = ad.gradients(K.sum(K.maximum(a, b)), [a, b])
    np.testing.assert_array_equal(ga, [1, 0])
    np.testing.assert_array_equal(gb, [0, 1])
    x = ad.Variable(np.array([[3.0, 1.0, 3.0]]))
    (g,) = ad.gradients(K.sum(K.max(x, axis=1)), [x])
    np.testing.assert_array_equal(g, [[0.5, 0, 0.5]])


def test_sqrt_clips_negative_input_to_zero():
    x = ad.Variable(np.array([-4.0, 4.0]))
    y = K.sqrt(x)
    np.testing.assert_array_equal(K.eval(y), [0.0, 2.0])
    with np.errstate(divide="ignore"):
        (g,) = ad.gradients(K.sum(y), [x])
    np.testing.assert_allclose(g, [0.0, 0.25])   # exactly 0 where clipped (not nan)


def test_in_top_k_counts_ties_as_inside():
    p = np.array([[0.1, 0.5, 0.5, 0.2], [0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, np.nan]])
    got = K.eval(K.in_top_k(p, np.array([2, 1, 3]), 1))
    np.testing.assert_array_equal(got, [True, False, False])
    np.testing.assert_array_equal(K.eval(K.in_top_k(p, np.array([0, 1, 0]), 2)),
                                  [False, True, False])


def test_comparisons_argmax_and_casts():
    x = np.array([[1.0, 3.0, 2.0], [5.0, 4.0, 5.0]])
    np.testing.assert_array_equal(K.eval(K.argmax(x)), [1, 0])
    np.testing.assert_array_equal(K.eval(K.argmin(x, axis=0)), [0, 0, 0])
    np.testing.assert_array_equal(K.eval(K.greater(x, 2.5)), x > 2.5)
    np.testing.assert_array_equal(K.eval(K.less_equal(x, 2.0)), x <= 2.0)
    np.testing.assert_array_equal(K.eval(K.not_equal(x, 5.0)), x != 5.0)
    assert K.eval(K.mean(K.equal(x, 5.0))) == pytest.approx(2 / 6)
    assert K.eval(K.any(K.greater(x, 4.5), axis=1)).tolist() == [False, True]
    assert K.eval(K.all(K.greater(x, 0.5))).item() is True
    np.testing.assert_array_equal(K.eval(K.one_hot(np.array([2, 0]), 3)),
                                  [[0, 0, 1], [1, 0, 0]])
    assert K.dtype(K.cast(x, "float16")) == "float16"


def test_constructors_and_shapes():
    v = K.variable([[1, 2], [3, 4]], name="w")
    assert isinstance(v, K.Variable) and K.dtype(v) == "float32" and K.int_shape(v) == (2, 2)
    assert K.ndim(v) == 2 and K.count_params(v) == 4
    np.testing.assert_array_equal(K.eval(K.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(K.eval(K.ones_like(v)), np.ones((2, 2)))
    np.testing.assert_array_equal(K.eval(K.eye(2)), np.eye(2))
    np.testing.assert_array_equal(K.eval(K.arange(1, 7, 2)), [1, 3, 5])
    np.testing.assert_array_equal(K.eval(K.constant(2.0, shape=(2,))), [2.0, 2.0])
    K.update_add(v, 1.0)
    K.update_sub(v, np.array([[0.5, 0.5], [0.5, 0.5]]))
    np.testing.assert_array_equal(K.get_value(v), [[1.5, 2.5], [3.5, 4.5]])
    K.set_value(v, np.zeros((2, 2)))
    assert K.batch_get_value([v])[0].sum() == 0
    assert K.cast_to_floatx([1, 2]).dtype == np.float32
    a = K.eval(K.random_uniform((1000,), -1.0, 1.0, seed=3))
    assert a.min() >= -1 and a.max() < 1 and abs(a.mean()) < 0.1
    b = K.eval(K.random_binomial((1000,), p=0.25, seed=3))
    assert set(np.unique(b)) <= {0.0, 1.0} and 0.2 < b.mean() < 0.3
    assert abs(K.eval(K.random_normal((2000,), 1.0, 0.5, seed=1)).mean() - 1.0) < 0.05


def test_scalar_variable_get_set_value_and_arithmetic():
    lr = K.ScalarVariable(0.01, "lr")
    assert K.get_value(lr) == pytest.approx(0.01) and float(lr) == 0.01
    K.set_value(lr, 0.5)
    assert lr == 0.5 and lr * 2 == 1.0 and 1 - lr == 0.5 and lr > 0.1
    assert f"{lr:.2f}" == "0.50" and str(lr) == "0.5"
    with pytest.raises(ValueError, match="scalar"):
        K.set_value(lr, np.ones(2))


def test_functions_work_on_plain_numpy_and_keep_float64():
    out = K.mean(K.square(np.array([1.0, 2.0]) - np.array([0.0, 0.0])))
    assert out.dtype == np.float64 and float(out) == pytest.approx(2.5)
    out32 = K.sum(np.ones(3, dtype="float32") * 2.0)
    assert out32.dtype == np.float32


def test_config_functions():
    assert K.epsilon() == 1e-7 and K.floatx() == "float32"
    assert K.image_data_format() == "channels_last" and K.image_dim_ordering() == "tf"
    with pytest.raises(ValueError, match="floatx"):
        K.set_floatx("float8")
    with pytest.raises(ValueError, match="epsilon"):
        K.set_epsilon(-1)
    old = K.epsilon()
    K.set_epsilon(1e-5)
    try:
        assert float(K.eval(K.binary_crossentropy(np.array([1.0]), np.array([1.0])))[0]) == \
            pytest.approx(-np.log(1 - 1e-5), rel=1e-6)
    finally:
        K.set_epsilon(old)


def test_in_train_phase_and_learning_phase():
    assert K.learning_phase() == 0
    assert K.in_train_phase(lambda: 1, lambda: 2) == 2
    assert K.in_train_phase(1, 2, training=1) == 1
    assert K.in_test_phase(1, 2) == 1
    with pytest.raises(ValueError, match="0 or 1"):
        K.set_learning_phase(2)


@pytest.mark.parametrize("call,match", [
    (lambda: K.squeeze(np.ones((2, 3)), 1), r"Cannot squeeze axis 1 .*length is 3"),
    (lambda: K.batch_dot(np.ones((2, 3)), np.ones((2, 4)), axes=1), r"must equal"),
    (lambda: K.dot(np.ones((2, 3)), np.ones((4, 2, 5))), r"K.dot: the last axis of x"),
    (lambda: K.tile(np.ones(3), (2, 2)), r"2 repetition counts for a 1-D tensor"),
    (lambda: K.in_top_k(np.ones((2, 3)), np.ones((3,)), 1), r"predictions of shape"),
    (lambda: K.sparse_categorical_crossentropy(np.array([0, 3]), np.full((2, 3), 1 / 3)),
     r"Labels out of range.*3 classes.*0\.\.2.*0\.\.3"),
    (lambda: K.sparse_categorical_crossentropy(np.array([-1, 0]), np.full((2, 3), 1 / 3)),
     r"Labels out of range"),
    (lambda: K.sparse_categorical_crossentropy(np.array([0.5, 1.0]), np.full((2, 3), 1 / 3)),
     r"non-integer"),
    (lambda: K.sparse_categorical_crossentropy(np.array([0, 1, 2]), np.full((2, 3), 1 / 3)),
     r"labels of shape \(2,\).*Received targets of shape \(3,\)"),
])
def test_errors_are_clear(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_set_value_refuses_non_variables():
    with pytest.raises(TypeError, match=r"set_value expects a Variable.*ndarray"):
        K.set_value(np.ones(2), 1.0)


def test_clear_session_resets_layer_names():
    from gpuseq.layers import Dense
    K.clear_session()
    assert Dense(2).name == "dense_1"
    assert K.get_uid("dense") == 2


def test_backend_functions_match_numpy_on_every_backend(backend):
    """A custom-loss style expression and its tape gradient on the active backend."""
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 1, (5, 4)).astype("float32")
    logits = rng.standard_normal((5, 4)).astype("float32")

    def loss(yt, z):
        p = K.softmax(z)
        return K.mean(K.square(p - yt), axis=-1) + K.categorical_crossentropy(yt, p) + \
            K.sum(K.abs(K.clip(z, -0.5, 0.5)), axis=-1)

    def run():
        z = ad.Variable(dispatch.to_device(logits.copy()))
        out = loss(dispatch.to_device(t), z)
        (g,) = ad.gradients(K.sum(out), [z])
        return dispatch.to_host(out.data), dispatch.to_host(g)

    out, g = run()
    with dispatch.use_backend("numpy"):
        out_ref, g_ref = run()
    np.testing.assert_allclose(out, out_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-6)
