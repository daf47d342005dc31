"""Losses: values against the Keras 2 formulas of tests/reference.py (clipping edges included),
float64 gradient checks, sparse labels, and the reduction with sample/class
weights, temporal weights and loss_weights through fit/evaluate."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq import losses
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD

from _gradcheck import check_function_gradients, one_blas_thread  # noqa: F401
from reference import LOSS_EPSILON as EPS
from reference import (ref_bce, ref_categorical_hinge, ref_cce, ref_cosine, ref_hinge, ref_kld,
                       ref_logcosh, ref_mae, ref_mape, ref_mse, ref_msle, ref_poisson, ref_scce,
                       ref_squared_hinge)

R = np.random.default_rng(11)


def _prob(*shape):
    a = R.uniform(0.05, 1.0, shape)
    return a / a.sum(-1, keepdims=True)


def _pm1(*shape):
    return np.where(R.random(shape) < 0.5, -1.0, 1.0)


ONEHOT = np.eye(4)[[0, 3, 1, 2, 3]]
# (name, reference, y_true, y_pred) with values away from kinks for the gradient check
CASES = [
    ("mean_squared_error", ref_mse, R.normal(size=(5, 3)), R.normal(size=(5, 3))),
    ("mean_absolute_error", ref_mae, R.normal(size=(5, 3)), R.normal(size=(5, 3)) + 3),
    ("mean_absolute_percentage_error", ref_mape, R.uniform(0.5, 2, (5, 3)),
     R.uniform(3, 4, (5, 3))),
    ("mean_squared_logarithmic_error", ref_msle, R.uniform(0.1, 2, (5, 3)),
     R.uniform(0.1, 2, (5, 3))),
    ("squared_hinge", ref_squared_hinge, _pm1(5, 3), R.uniform(-0.8, 0.8, (5, 3))),
    ("hinge", ref_hinge, _pm1(5, 3), R.uniform(-0.8, 0.8, (5, 3))),
    ("categorical_hinge", ref_categorical_hinge, ONEHOT,
     np.array([[0.5, 0.1, 0.9, 0.3], [0.2, 0.8, 0.1, 0.6], [0.4, 0.7, 0.2, 0.1],
               [0.1, 0.3, 0.2, 0.9], [0.6, 0.5, 0.1, 0.8]])),
    ("logcosh", ref_logcosh, R.normal(size=(5, 3)), R.normal(size=(5, 3))),
    ("binary_crossentropy", ref_bce, R.uniform(0, 1, (5, 3)), R.uniform(0.05, 0.95, (5, 3))),
    ("categorical_crossentropy", ref_cce, ONEHOT, _prob(5, 4) * 1.7),
    ("kullback_leibler_divergence", ref_kld, _prob(5, 4), _prob(5, 4)),
    ("poisson", ref_poisson, R.uniform(0, 3, (5, 3)), R.uniform(0.5, 3, (5, 3))),
    ("cosine_proximity", ref_cosine, R.normal(size=(5, 3)), R.normal(size=(5, 3))),
]


@pytest.mark.parametrize("name,ref,t,p", CASES, ids=[c[0] for c in CASES])
def test_loss_value_matches_reference(numpy_backend, name, ref, t, p):
    fn = losses.get(name)
    out = K.eval(fn(t, p))
    assert out.shape == (5,)
    np.testing.assert_allclose(out, ref(t, p), rtol=1e-10, atol=1e-12)
    # float32 data gives float32 values of the same numbers
    out32 = K.eval(fn(t.astype("float32"), p.astype("float32")))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, ref(t, p), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("name,ref,t,p", CASES, ids=[c[0] for c in CASES])
def test_loss_gradient_float64(name, ref, t, p):
    fn = losses.get(name)
    check_function_gradients(lambda yt, yp: fn(yt, yp), [t, p], wrt=[1])


def test_sparse_categorical_crossentropy_values_and_gradient():
    p = _prob(4, 3)
    lab = np.array([2, 0, 1, 1])
    np.testing.assert_allclose(K.eval(losses.sparse_categorical_crossentropy(lab, p)),
                               ref_scce(lab, p), rtol=1e-12)
    np.testing.assert_allclose(
        K.eval(losses.sparse_categorical_crossentropy(lab[:, None], p)), ref_scce(lab, p))
    check_function_gradients(lambda yp, yt: losses.sparse_categorical_crossentropy(yt, yp),
                             [p, lab])


def test_sparse_categorical_crossentropy_on_3d_outputs():
    p = _prob(2, 3, 4)
    lab = np.array([[0, 3, 1], [2, 2, 0]])
    for y in (lab, lab[..., None], lab.astype("float32")):
        out = K.eval(losses.sparse_categorical_crossentropy(y, p))
        assert out.shape == (2, 3)
        np.testing.assert_allclose(out, ref_scce(lab, p), rtol=1e-12)
    check_function_gradients(lambda yp, yt: losses.sparse_categorical_crossentropy(yt, yp),
                             [p, lab])


def test_hand_computed_values():
    assert float(losses.mse(np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]]))[0]) == 6.5
    assert float(losses.mae(np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]]))[0]) == 2.5
    assert float(losses.mape(np.array([[2.0, 4.0]]), np.array([[3.0, 3.0]]))[0]) == \
        pytest.approx(37.5)
    assert float(losses.hinge(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]]))[0]) == 1.0
    assert float(losses.squared_hinge(np.array([[1.0, -1.0]]), np.array([[0.5, 0.5]]))[0]) \
        == pytest.approx((0.25 + 2.25) / 2)
    assert float(losses.categorical_hinge(np.array([[0.0, 1.0]]),
                                          np.array([[0.7, 0.2]]))[0]) == pytest.approx(1.5)
    assert float(losses.cosine_proximity(np.array([[1.0, 0.0]]),
                                         np.array([[2.0, 0.0]]))[0]) == pytest.approx(-1.0)
    assert float(losses.poisson(np.array([[2.0]]), np.array([[1.0]]))[0]) == \
        pytest.approx(1 - 2 * np.log(1 + EPS))
    assert float(losses.categorical_crossentropy(np.array([[0.0, 1.0]]),
                                                 np.array([[0.5, 0.5]]))[0]) == \
        pytest.approx(np.log(2))


def test_crossentropies_clip_at_0_and_1():
    big = -np.log(EPS)          # 16.118...
    small = -np.log(1 - EPS)    # 1.0000000500e-07
    # binary: p = 1 and p = 0 are clipped to 1-eps and eps
    out = K.eval(K.binary_crossentropy(np.array([1.0, 0.0, 1.0, 0.0]),
                                       np.array([1.0, 0.0, 0.0, 1.0])))
    np.testing.assert_allclose(out, [small, small, big, big], rtol=1e-9)
    # categorical: renormalise, then clip
    out = K.eval(losses.categorical_crossentropy(np.array([[1.0, 0, 0], [0, 1.0, 0]]),
                                                 np.array([[2.0, 0, 0], [2.0, 0, 0]])))
    np.testing.assert_allclose(out, [small, big], rtol=1e-9)
    # sparse (Keras 2 TF formula): clip, then normalise inside the log
    out = K.eval(losses.sparse_categorical_crossentropy(np.array([0, 1]),
                                                        np.array([[1.0, 0, 0], [1.0, 0, 0]])))
    np.testing.assert_allclose(out, [np.log(1 + EPS) - np.log(1 - EPS),
                                     np.log(1 + EPS) - np.log(EPS)], rtol=1e-9)
    # float32: still finite
    out32 = K.eval(K.binary_crossentropy(np.array([1.0], "float32"), np.array([0.0], "float32")))
    assert np.isfinite(out32).all() and out32[0] == pytest.approx(big, rel=1e-6)


def test_other_losses_clip_edges():
    assert float(losses.msle(np.array([[0.0]]), np.array([[-3.0]]))[0]) == 0.0
    assert float(losses.mape(np.array([[0.0]]), np.array([[1e-6]]))[0]) == \
        pytest.approx(100 * 1e-6 / EPS)
    assert float(losses.kld(np.array([[0.0, 1.0]]), np.array([[0.5, 0.0]]))[0]) == \
        pytest.approx(EPS * np.log(EPS / 0.5) + np.log(1 / EPS))
    assert float(losses.poisson(np.array([[1.0]]), np.array([[0.0]]))[0]) == \
        pytest.approx(-np.log(EPS))


def test_gradient_is_zero_where_probabilities_are_clipped():
    from gpuseq.backend import autodiff as ad
    p = ad.Variable(np.array([[0.0, 0.5, 1.0]]))
    (g,) = ad.gradients(K.sum(losses.binary_crossentropy(np.array([[1.0, 1.0, 0.0]]), p)), [p])
    np.testing.assert_allclose(g, [[0.0, -1 / (3 * 0.5), 0.0]])


def test_targets_of_rank_n_minus_1_do_not_broadcast():
    # y (N,) against an output (N, 1): one value per sample, not an (N, N) grid
    out = K.eval(losses.mse(np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [5.0]])))
    np.testing.assert_allclose(out, [0, 0, 4])


def test_from_logits_variants_match_probability_versions():
    z = R.normal(size=(4, 3))
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    t = np.eye(3)[[0, 2, 1, 1]]
    np.testing.assert_allclose(K.eval(losses.categorical_crossentropy(t, z, from_logits=True)),
                               ref_cce(t, p), rtol=1e-10)
    np.testing.assert_allclose(
        K.eval(losses.sparse_categorical_crossentropy(np.array([0, 2, 1, 1]), z,
                                                      from_logits=True)), ref_cce(t, p),
        rtol=1e-10)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(K.eval(losses.binary_crossentropy(t, z, from_logits=True)),
                               ref_bce(t, s), rtol=1e-10)


def test_names_aliases_and_errors():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("MSE") is losses.mean_squared_error
    assert losses.get("Mean_Absolute_Error") is losses.mean_absolute_error
    for alias, fn in [("mae", losses.mean_absolute_error), ("mape", losses.mape),
                      ("msle", losses.msle), ("kld", losses.kullback_leibler_divergence),
                      ("cosine", losses.cosine_proximity)]:
        assert losses.get(alias) is fn
    assert losses.get("log_cosh") is losses.logcosh
    assert losses.get("kl_divergence") is losses.kullback_leibler_divergence
    assert losses.canonical_name(losses.mse) == "mean_squared_error"
    assert losses.canonical_name(lambda t, p: t) is None
    with pytest.raises(ValueError, match=r"Unknown loss function.*'hinge'.*Received: loss='msq'"):
        losses.get("msq")
    with pytest.raises(ValueError, match="loss=None"):
        losses.get(None)


# -- reduction through fit / evaluate --------------------------------------------------------

def _linear(units=1, input_shape=(3,), kernel=None, **compile_kw):
    m = Sequential([Dense(units, input_shape=input_shape, use_bias=False, name="out")])
    k = np.asarray(kernel if kernel is not None else
                   np.linspace(-1, 1, input_shape[-1] * units).reshape(input_shape[-1], units),
                   dtype="float32")
    m.set_weights([k])
    compile_kw.setdefault("loss", "mse")
    m.compile(SGD(lr=0.0), **compile_kw)
    return m, k


def test_sample_weights_reduce_as_sum_w_l_over_n():
    x = R.normal(size=(7, 3)).astype("float32")
    y = R.normal(size=(7, 2)).astype("float32")
    w = np.array([0, 1, 2, 0.5, 0, 3, 1], dtype="float32")
    m, k = _linear(units=2)
    per = ref_mse(y, x @ k)
    expected = (w * per).sum() / 7
    for bs in (7, 3):      # uneven batches average by batch size to the same value
        assert m.evaluate(x, y, sample_weight=w, batch_size=bs, verbose=0) == \
            pytest.approx(expected, rel=1e-5)
    assert m.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(per.mean(), rel=1e-5)
    h = m.fit(x, y, sample_weight=w, batch_size=3, epochs=1, shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_class_weights_through_fit():
    x = R.normal(size=(6, 3)).astype("float32")
    labels = np.array([0, 1, 1, 0, 1, 1])
    y = labels.reshape(-1, 1).astype("float32")
    m = Sequential([Dense(1, input_shape=(3,), activation="sigmoid", name="out")])
    m.compile(SGD(lr=0.0), "binary_crossentropy")
    p = m.predict(x).astype("float64")
    cw = {0: 3.0, 1: 0.5}
    wv = np.array([cw[c] for c in labels])
    h = m.fit(x, y, class_weight=cw, batch_size=6, epochs=1, verbose=0)
    assert h.history["loss"][0] == pytest.approx((wv * ref_bce(y, p)).sum() / 6, rel=1e-5)


def test_temporal_sample_weights_weight_each_step():
    n, t, f = 4, 5, 3
    x = R.normal(size=(n, t, f)).astype("float32")
    y = R.normal(size=(n, t, 1)).astype("float32")
    w = R.uniform(0, 2, (n, t)).astype("float32")
    m, k = _linear(units=1, input_shape=(t, f), sample_weight_mode="temporal")
    per = ref_mse(y, x @ k)                       # (n, t)
    got = m.evaluate(x, y, sample_weight=w, batch_size=n, verbose=0)
    assert got == pytest.approx((w * per).sum() / (n * t), rel=1e-5)
    # 1-D weights on a sequence output weight whole samples
    m2, _ = _linear(units=1, input_shape=(t, f))
    w1 = np.array([1, 0, 2, 1], dtype="float32")
    assert m2.evaluate(x, y, sample_weight=w1, verbose=0) == \
        pytest.approx((w1[:, None] * per).sum() / (n * t), rel=1e-5)
    with pytest.raises(ValueError, match="sample_weight_mode='temporal'"):
        m2.evaluate(x, y, sample_weight=w, verbose=0)


def test_temporal_weights_need_a_sequence_output():
    m, _ = _linear(units=1, sample_weight_mode="temporal")
    with pytest.raises(ValueError, match=r"does not fit the loss values.*sequence output"):
        m.evaluate(np.ones((2, 3), "float32"), np.ones((2, 1), "float32"),
                   sample_weight=np.ones((2, 4), "float32"), verbose=0)


@pytest.mark.parametrize("loss_weights", [0.25, [0.25], {"out": 0.25}])
def test_loss_weights_forms(loss_weights):
    x = R.normal(size=(5, 3)).astype("float32")
    y = R.normal(size=(5, 1)).astype("float32")
    m, k = _linear(loss_weights=loss_weights)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(0.25 * ref_mse(y, x @ k).mean(),
                                                        rel=1e-5)


@pytest.mark.parametrize("loss", [["mae"], {"out": "mae"}, ("mae",), losses.mae])
def test_per_output_loss_forms(loss):
    x = R.normal(size=(5, 3)).astype("float32")
    y = R.normal(size=(5, 1)).astype("float32")
    m, k = _linear(loss=loss)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(ref_mae(y, x @ k).mean(), rel=1e-5)


@pytest.mark.parametrize("kw,match", [
    ({"loss": {"dense_99": "mse"}}, r"Unknown entry in `loss` dictionary: 'dense_99'.*'out'"),
    ({"loss": ["mse", "mae"]}, r"one output.*Received 2"),
    ({"loss": "mse", "loss_weights": {"other": 1.0}}, r"Unknown entry in `loss_weights`"),
    ({"loss": "mse", "loss_weights": "heavy"}, r"loss_weights must be a number"),
    ({"loss": "mse", "sample_weight_mode": "spatial"}, r"sample_weight_mode must be None"),
    ({"loss": None}, r"needs a loss"),
])
def test_compile_argument_errors(kw, match):
    m = Sequential([Dense(1, input_shape=(3,), name="out")])
    with pytest.raises(ValueError, match=match):
        m.compile("sgd", **kw)
    assert not m.compiled


def test_sparse_crossentropy_on_sequence_output_through_evaluate():
    n, t, f, c = 3, 4, 5, 6
    x = R.normal(size=(n, t, f)).astype("float32")
    lab = R.integers(0, c, (n, t))
    m = Sequential([Dense(c, input_shape=(t, f), activation="softmax")])
    m.compile("rmsprop", "sparse_categorical_crossentropy")
    p = m.predict(x).astype("float64")
    expected = ref_cce(np.eye(c)[lab], p).mean()
    assert m.evaluate(x, lab, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert m.evaluate(x, lab[..., None], verbose=0) == pytest.approx(expected, rel=1e-5)


def test_custom_loss_with_builtin_name_is_not_replaced():
    def categorical_crossentropy(y_true, y_pred):     # a user function with a Keras name
        return K.sum(K.abs(y_true - y_pred), axis=-1)
    x = R.normal(size=(4, 3)).astype("float32")
    y = np.eye(2)[[0, 1, 1, 0]].astype("float32")
    m = Sequential([Dense(2, input_shape=(3,), activation="softmax")])
    m.compile("sgd", categorical_crossentropy)
    p = m.predict(x)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(np.abs(y - p).sum(-1).mean(), rel=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_binary_crossentropy_equals_the_composite(rng, dtype):
    """K.binary_crossentropy on probabilities is one tape node; its values and
    gradients equal the clip/log composite it replaces (clipped points included)."""
    from gpuseq.backend import autodiff as ad
    t = (rng.random((6, 3)) > 0.5).astype(dtype)
    o = rng.random((6, 3)).astype(dtype)
    o[0, :] = [0.0, 1.0, 1e-9]                                  # clipped on both sides
    ov, tv = ad.Variable(o.copy()), ad.Variable(t.copy())
    fused = K.binary_crossentropy(tv, ov)
    assert len(fused.node.inputs) == 2                          # one recorded op
    gf = ad.gradients(K.sum(fused * 1.5), [ov, tv])
    ov2, tv2 = ad.Variable(o.copy()), ad.Variable(t.copy())
    p = K.clip(ov2, K.epsilon(), 1.0 - K.epsilon())
    comp = -(tv2 * K.log(p) + (1.0 - tv2) * K.log(1.0 - p))
    gc = ad.gradients(K.sum(comp * 1.5), [ov2, tv2])
    np.testing.assert_array_equal(fused.data, comp.data)
    assert fused.data.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-14
    for a, b in zip(gf, gc):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    assert np.all(gf[0][0] == 0)                                # no gradient where clipped


def test_fused_binary_crossentropy_gradients_by_finite_differences(rng):
    t = rng.uniform(0, 1, (4, 3))
    o = rng.uniform(0.05, 0.95, (4, 3))
    check_function_gradients(lambda a, b: K.binary_crossentropy(a, b), [t, o])
