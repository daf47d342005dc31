"""BatchNormalization: the fused op (every path against the formula of
tests/reference.py, the CUDA twin against the NumPy code), the layer's training /
inference behaviour and moving averages, configs, files, and training on the digits."""
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import dispatch
from gpuseq.layers import (Activation, BatchNormalization, Conv2D, Dense, Flatten,
                           MaxPooling2D)
from gpuseq.models import Sequential, load_model
from gpuseq.testing import check_op_gradients, compare_with_numpy

from _op_paths import assert_matches_reference
from reference import ref_batch_norm, ref_numerical_grads


# The reference's name here before tests/reference.py, kept for test modules that still
# import it from this module; import ref_batch_norm from reference instead.
_reference = ref_batch_norm


# ----------------------------------------------------------------------------- op
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["batch", "batch_no_affine", "moving", "moving_beta_only"])
def test_every_path_matches_the_reference(op_path, rng, case, dtype):
    """Values and gradients (central differences of the formula) on every path."""
    x = rng.standard_normal((6, 2, 3)) * 2 + 1
    g, b = rng.random(3) + 0.5, rng.standard_normal(3)
    mm, mv = rng.standard_normal(3), rng.random(3) + 0.1
    gamma = None if case in ("batch_no_affine", "moving_beta_only") else g
    beta = None if case == "batch_no_affine" else b
    mean, var = (mm, mv) if case.startswith("moving") else (None, None)
    y_ref = ref_batch_norm(x, gamma, beta, mean, var)
    gy = rng.standard_normal(x.shape)
    grads = ref_numerical_grads(lambda x_, g_, b_: ref_batch_norm(x_, g_, b_, mean, var),
                                [x, gamma, beta], gy)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-7, atol=1e-8)
    inputs = [None if a is None else a.astype(dtype) for a in (x, gamma, beta, mean, var)]
    assert_matches_reference("batch_norm", inputs, {"epsilon": 1e-3}, y_ref, grads,
                             gy.astype(dtype), **tol)


@pytest.mark.parametrize("with_gamma,with_beta", [(True, True), (False, True), (True, False)])
def test_gradients_training_mode(rng, with_gamma, with_beta):
    x = rng.standard_normal((5, 3, 4))
    g = rng.random(4) + 0.5 if with_gamma else None
    b = rng.standard_normal(4) if with_beta else None
    check_op_gradients("batch_norm", [x, g, b, None, None], {"epsilon": 1e-3})


def test_gradients_inference_mode(rng):
    x = rng.standard_normal((6, 3))
    inputs = [x, rng.random(3) + 0.5, rng.standard_normal(3), rng.standard_normal(3),
              rng.random(3) + 0.2]
    check_op_gradients("batch_norm", inputs, {"epsilon": 1e-2}, wrt=[0, 1, 2])


def test_forward_values_and_saved_statistics(rng):
    from gpuseq.backend import numpy_ops
    x = rng.standard_normal((7, 5)) * 3 + 2
    g, b = rng.random(5) + 0.5, rng.standard_normal(5)
    y, saved = numpy_ops.batch_norm_forward(x, g, b, None, None, epsilon=1e-3)
    np.testing.assert_allclose(y, ref_batch_norm(x, g, b), rtol=1e-12)
    np.testing.assert_allclose(saved["mean"], x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(saved["variance"], x.var(axis=0), rtol=1e-12)
    mm, mv = rng.standard_normal(5), rng.random(5) + 0.1
    y2, _ = numpy_ops.batch_norm_forward(x, g, b, mm, mv, epsilon=1e-3)
    np.testing.assert_allclose(y2, ref_batch_norm(x, g, b, mm, mv), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3, 2), (40, 33, 5), (2, 1200, 3), (70, 40)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_twin_matches_numpy(backend, rng, shape, dtype):
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    u = shape[-1]
    g, b = (rng.random(u) + 0.5).astype(dtype), rng.standard_normal(u).astype(dtype)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    compare_with_numpy("batch_norm", [x, g, b, None, None], {"epsilon": 1e-3}, **tol)
    compare_with_numpy("batch_norm", [x, None, None, None, None], {"epsilon": 1e-3}, **tol)
    mm, mv = rng.standard_normal(u).astype(dtype), (rng.random(u) + 0.1).astype(dtype)
    compare_with_numpy("batch_norm", [x, g, None, mm, mv], {"epsilon": 1e-3}, **tol)


def test_op_rejects_bad_input():
    from gpuseq.backend import numpy_ops
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\)"):
        numpy_ops.batch_norm_forward(x, np.ones(2), None, None, None)
    with pytest.raises(ValueError, match="both mean and variance"):
        numpy_ops.batch_norm_forward(x, None, None, np.ones(3), None)
    with pytest.raises(ValueError, match="empty batch"):
        numpy_ops.batch_norm_forward(np.ones((0, 3)), None, None, None, None)


# -------------------------------------------------------------------------- layer
def _bn_model(momentum=0.9, **kw):
    K.clear_session()
    m = Sequential([BatchNormalization(input_shape=(3,), momentum=momentum, **kw),
                    Dense(2, kernel_initializer="ones")])
    m.compile("sgd", "mse")
    return m


def test_moving_averages_follow_keras(rng):
    m = _bn_model()
    bn = m.layers[0]
    x = (rng.standard_normal((16, 3)) * [1, 2, 3] + [0, 1, -1]).astype("float32")
    y = rng.standard_normal((16, 2)).astype("float32")
    m.train_on_batch(x, y)
    mean, var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    gamma, beta, mm, mv = bn.get_weights()
    np.testing.assert_allclose(mm, 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * var * 16 / (16 - 1.001), rtol=1e-5)
    # a second batch: exponential moving average
    x2 = rng.standard_normal((16, 3)).astype("float32")
    m.train_on_batch(x2, y)
    np.testing.assert_allclose(bn.get_weights()[2], 0.9 * mm + 0.1 * x2.mean(0),
                               rtol=1e-5, atol=1e-6)
    # evaluate / predict leave them alone, and normalise with them
    before = [w.copy() for w in bn.get_weights()]
    m.evaluate(x, y, verbose=0)
    out = K.function([m.input], [bn.output])([x])[0]
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)
    gamma, beta, mm, mv = before
    np.testing.assert_allclose(out, ref_batch_norm(x, gamma, beta, mm, mv), rtol=1e-5,
                               atol=1e-5)


def test_training_mode_uses_batch_statistics(rng):
    m = _bn_model()
    bn = m.layers[0]
    bn.set_weights([np.array([1.0, 2.0, 0.5], "float32"), np.array([0.0, 1.0, -1.0], "float32"),
                    np.zeros(3, "float32"), np.ones(3, "float32")])
    x = (rng.standard_normal((32, 3)) * 4 + 3).astype("float32")
    train_out = K.function([m.input, K.learning_phase()], [bn.output])([x, 1])[0]
    np.testing.assert_allclose(train_out, ref_batch_norm(x, [1, 2, 0.5], [0, 1, -1]),
                               rtol=1e-4, atol=1e-5)


def test_frozen_layer_keeps_its_moving_averages(rng):
    m = _bn_model()
    bn = m.layers[0]
    bn.trainable = False
    m.compile("sgd", "mse")
    assert len(m.trainable_weights) == 2                  # the Dense layer's only
    before = [w.copy() for w in bn.get_weights()]
    x = (rng.standard_normal((16, 3)) + 5).astype("float32")
    m.fit(x, rng.standard_normal((16, 2)).astype("float32"), epochs=2, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_channels_first_axis(rng):
    K.clear_session()
    m = Sequential([BatchNormalization(axis=1, input_shape=(3, 4, 5))])
    m.compile("sgd", "mse")
    bn = m.layers[0]
    assert [w.shape for w in bn.get_weights()] == [(3,)] * 4
    x = rng.standard_normal((2, 3, 4, 5)).astype("float32") * 2 + 1
    g, b = np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, -0.5])
    bn.set_weights([g.astype("float32"), b.astype("float32"),
                    np.zeros(3, "float32"), np.ones(3, "float32")])
    out = K.function([m.input, K.learning_phase()], [m.output])([x, 1])[0]
    ref = ref_batch_norm(np.moveaxis(x, 1, -1), g, b)
    np.testing.assert_allclose(out, np.moveaxis(ref, -1, 1), rtol=1e-4, atol=1e-5)
    m.train_on_batch(x, np.zeros_like(x))
    np.testing.assert_allclose(bn.get_weights()[2], 0.01 * x.mean(axis=(0, 2, 3)),
                               rtol=1e-4, atol=1e-6)


def test_config_summary_and_errors():
    K.clear_session()
    bn = BatchNormalization(momentum=0.9, epsilon=1e-4, center=False, name="bn")
    cfg = bn.get_config()
    assert cfg["momentum"] == 0.9 and cfg["epsilon"] == 1e-4 and cfg["center"] is False
    assert cfg["gamma_initializer"]["class_name"] == "Ones"
    clone = BatchNormalization.from_config(cfg)
    assert clone.get_config() == cfg
    m = Sequential([Dense(4, input_dim=3), BatchNormalization(scale=False)])
    assert [w.name.split("/")[1] for w in m.layers[1].weights] == \
        ["beta:0", "moving_mean:0", "moving_variance:0"]
    assert m.count_params() == 16 + 12
    assert len(m.trainable_weights) == 3
    with pytest.raises(ValueError, match="not a feature axis"):
        Sequential([Dense(4, input_dim=3), BatchNormalization(axis=0)])
    with pytest.raises(ValueError, match="not a feature axis"):
        Sequential([Dense(4, input_dim=3), BatchNormalization(axis=2)])
    with pytest.raises(TypeError, match="axis must be an integer"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="momentum must be in"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        BatchNormalization(epsilon=0)


def test_keras1_arguments():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        bn = BatchNormalization(mode=0, beta_init="zero", gamma_init="one")
    assert any("Update your `BatchNormalization` call" in str(i.message) for i in w)
    assert bn.get_config()["gamma_initializer"]["class_name"] == "Ones"
    with pytest.raises(TypeError, match="mode=1 and mode=2"):
        BatchNormalization(mode=2)


def test_files_keep_the_moving_averages(tmp_path, rng):
    m = _bn_model()
    x = rng.standard_normal((8, 3)).astype("float32")
    m.fit(x, rng.standard_normal((8, 2)).astype("float32"), epochs=3, verbose=0)
    m.save(tmp_path / "m.h5")
    m2 = load_model(tmp_path / "m.h5")
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(m2.predict(x), m.predict(x), rtol=1e-6)


def test_training_matches_across_backends(backend, rng):
    """Two training steps on the active backend equal the NumPy backend's, moving
    averages included."""
    x = rng.standard_normal((24, 6)).astype("float32") * 2
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]

    def run(name):
        with dispatch.use_backend(name):
            K.clear_session()
            m = Sequential([Dense(5, input_dim=6, kernel_initializer="glorot_uniform"),
                            BatchNormalization(), Activation("relu"),
                            Dense(3, activation="softmax")])
            m.set_weights([np.linspace(-1, 1, w.size).reshape(w.shape).astype("float32")
                           if w.ndim == 2 else w for w in m.get_weights()])
            m.compile("sgd", "categorical_crossentropy")
            m.fit(x, y, batch_size=12, epochs=1, shuffle=False, verbose=0)
            return m.get_weights(), m.predict(x)

    w_ref, p_ref = run("numpy")
    w, p = run(backend)
    for a, b in zip(w, w_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p, p_ref, rtol=1e-4, atol=1e-5)


def test_cnn_with_batch_norm_learns_digits(digits):
    x, y = digits
    K.clear_session()
    from gpuseq.utils import set_random_seed, to_categorical
    set_random_seed(0)
    perm = np.random.default_rng(0).permutation(len(x))      # a shuffled split
    xi, y = x[perm].reshape(-1, 8, 8, 1), y[perm]
    # momentum 0.9: the moving averages settle within the few hundred steps of the test
    m = Sequential([Conv2D(16, (3, 3), input_shape=(8, 8, 1)), BatchNormalization(momentum=0.9),
                    Activation("relu"), MaxPooling2D(), Flatten(), Dense(32),
                    BatchNormalization(momentum=0.9), Activation("relu"),
                    Dense(10, activation="softmax")])
    m.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    m.fit(xi[:1400], to_categorical(y[:1400], 10), batch_size=32, epochs=8, verbose=0)
    acc = m.evaluate(xi[1400:], to_categorical(y[1400:], 10), verbose=0)[1]
    assert acc >= 0.97, acc


@pytest.mark.parametrize("order", ["reverse", "shuffle:3"])
def test_column_kernels_in_every_thread_order(order, rng):
    """The statistics and backward reductions share memory between a block's threads:
    any thread order between barriers gives the NumPy result."""
    import shutil
    from gpuseq.backend import cuda_emulation
    if shutil.which("g++") is None:
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++) on PATH")
    x = rng.standard_normal((70, 37)) * 2 + 1
    g, b = rng.random(37) + 0.5, rng.standard_normal(37)
    with dispatch.use_backend("emulated"), \
            cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
        for dtype, tol in ((np.float32, 2e-4), (np.float64, 1e-10)):
            compare_with_numpy("batch_norm", [x.astype(dtype), g.astype(dtype),
                                              b.astype(dtype), None, None],
                               {"epsilon": 1e-3}, rtol=tol, atol=tol)
