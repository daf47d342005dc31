"""Symbolic tensors of a Sequential model: model.input / layer.output, K.function and
Model(inputs=..., outputs=...) (the Keras FAQ's ways to read intermediate layers)."""
import pickle
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.layers import Conv2D, Dense, Dropout, Flatten, LSTM, Merge
from gpuseq.models import Model, Sequential


def _mlp(seed=0):
    K.clear_session()
    m = Sequential()
    m.add(Dense(6, input_dim=4, activation="relu", name="hidden"))
    m.add(Dropout(0.5))
    m.add(Dense(5, activation="tanh", name="feat"))
    m.add(Dense(3, activation="softmax", name="out"))
    rng = np.random.default_rng(seed)
    m.set_weights([rng.standard_normal(w.shape).astype("float32") for w in m.get_weights()])
    return m


def _reference(m, x):
    """Every layer output of _mlp computed by hand (inference: dropout is the identity)."""
    w1, b1, w2, b2, w3, b3 = m.get_weights()
    h = np.maximum(x @ w1 + b1, 0)
    f = np.tanh(h @ w2 + b2)
    z = f @ w3 + b3
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return h, f, p / p.sum(axis=1, keepdims=True)


def test_faq_intermediate_output_with_k_function(backend, rng):
    m = _mlp()
    x = rng.random((7, 4)).astype("float32")
    h, f, p = _reference(m, x)
    get_3rd_layer_output = K.function([m.layers[0].input], [m.layers[2].output])
    out = get_3rd_layer_output([x])
    assert isinstance(out, list) and len(out) == 1
    np.testing.assert_allclose(out[0], f, rtol=1e-5, atol=1e-6)
    # several outputs at once, the model's input and output included
    fn = K.function([m.input], [m.input, m.layers[0].output, m.layers[1].output, m.output])
    xin, h1, d1, y = fn([x])
    np.testing.assert_array_equal(xin, x)
    np.testing.assert_allclose(h1, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d1, h, rtol=1e-5, atol=1e-6)     # dropout off at inference
    np.testing.assert_allclose(y, p, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, m.predict(x), rtol=1e-6, atol=1e-7)


def test_learning_phase_input_switches_dropout(rng):
    m = _mlp()
    x = rng.random((50, 4)).astype("float32")
    h, _, _ = _reference(m, x)
    fn = K.function([m.input, K.learning_phase()], [m.layers[1].output])
    np.testing.assert_allclose(fn([x, 0])[0], h, rtol=1e-5, atol=1e-6)
    d = fn([x, 1])[0]
    kept = d != 0
    # training mode: each unit is dropped or scaled by 1 / (1 - rate) = 2
    np.testing.assert_allclose(d[kept], 2 * h[kept], rtol=1e-5, atol=1e-6)
    active = h > 0
    frac = (kept & active).sum() / active.sum()
    assert 0.35 < frac < 0.65
    # the learning phase may come first too
    fn2 = K.function([K.learning_phase(), m.input], [m.layers[1].output])
    np.testing.assert_allclose(fn2([0, x])[0], h, rtol=1e-5, atol=1e-6)
    assert K.learning_phase() == 0 and isinstance(K.learning_phase(), int)
    with pytest.raises(ValueError, match="learning phase must be 0"):
        fn([x, 2])


def test_functional_model_shares_the_layers(rng):
    m = _mlp()
    x = rng.random((9, 4)).astype("float32")
    feat = Model(inputs=m.input, outputs=m.get_layer("feat").output)
    assert isinstance(feat, Sequential) and isinstance(feat, Model)
    assert [l.name for l in feat.layers] == ["hidden", "dropout_1", "feat"]
    assert all(a is b for a, b in zip(feat.layers, m.layers))
    assert feat.output_shape == (None, 5)
    np.testing.assert_allclose(feat.predict(x), _reference(m, x)[1], rtol=1e-5, atol=1e-6)
    # training the full model changes what the sub-model computes (same weights)
    before = feat.predict(x)
    m.compile("sgd", "categorical_crossentropy")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 9)]
    m.fit(x, y, epochs=3, verbose=0)
    after = feat.predict(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _reference(m, x)[1], rtol=1e-5, atol=1e-6)
    # the layers still answer for their first model
    assert m.get_layer("feat").output.model is m


def test_keras1_model_call_warns_and_works(rng):
    m = _mlp()
    x = rng.random((3, 4)).astype("float32")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sub = Model(input=m.input, output=m.layers[0].output)
    assert any("Update your `Model` call to the Keras 2 API" in str(i.message) for i in w)
    np.testing.assert_allclose(sub.predict(x), _reference(m, x)[0], rtol=1e-5, atol=1e-6)


def test_shapes_and_names():
    m = _mlp()
    assert m.input.shape == (None, 4) and m.output.shape == (None, 3)
    assert K.int_shape(m.layers[0].output) == (None, 6)
    assert m.layers[1].input.name == "hidden/output:0"
    assert m.layers[0].input.name == "hidden_input:0"
    assert [t.name for t in m.inputs] == ["hidden_input:0"]
    assert [t.name for t in m.outputs] == ["out/output:0"]
    assert m.layers[2].output.ndim == 2


def test_merge_model_has_one_input_per_branch(rng):
    K.clear_session()
    left, right = Sequential(), Sequential()
    left.add(Dense(3, input_dim=4))
    right.add(Dense(2, input_dim=5))
    m = Sequential()
    m.add(Merge([left, right], mode="concat"))
    m.add(Dense(2, activation="softmax"))
    a = rng.random((6, 4)).astype("float32")
    b = rng.random((6, 5)).astype("float32")
    assert isinstance(m.input, list) and len(m.input) == 2
    wl, bl = left.get_weights()
    wr, br = right.get_weights()
    merged = np.concatenate([a @ wl + bl, b @ wr + br], axis=1)
    fn = K.function(m.input, [m.layers[0].output, m.output])
    out_merge, out = fn([a, b])
    np.testing.assert_allclose(out_merge, merged, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, m.predict([a, b]), rtol=1e-6, atol=1e-7)
    # inputs given in the other order are fed in that order
    swapped = K.function([m.input[1], m.input[0]], [m.layers[0].output])
    np.testing.assert_allclose(swapped([b, a])[0], merged, rtol=1e-5, atol=1e-6)


def test_conv_and_lstm_layers_are_reachable(rng):
    K.clear_session()
    cnn = Sequential([Conv2D(2, (3, 3), input_shape=(6, 6, 1), activation="relu"),
                      Flatten(), Dense(2)])
    x = rng.random((2, 6, 6, 1)).astype("float32")
    conv = K.function([cnn.input], [cnn.layers[0].output])([x])[0]
    k, b = cnn.layers[0].get_weights()
    ref = np.zeros((2, 4, 4, 2), dtype="float64")
    for i in range(4):
        for j in range(4):
            ref[:, i, j] = np.tensordot(x[:, i:i + 3, j:j + 3, :], k, axes=3) + b
    np.testing.assert_allclose(conv, np.maximum(ref, 0), rtol=1e-5, atol=1e-6)
    rnn = Sequential([LSTM(3, return_sequences=True, input_shape=(4, 2)), LSTM(2)])
    s = rng.random((3, 4, 2)).astype("float32")
    seq = Model(inputs=rnn.input, outputs=rnn.layers[0].output).predict(s)
    assert seq.shape == (3, 4, 3)
    np.testing.assert_allclose(rnn.layers[1](K.variable(seq)).data, rnn.predict(s),
                               rtol=1e-5, atol=1e-6)


def test_bad_uses_get_clear_errors(rng):
    m = _mlp()
    other = _mlp(seed=1)
    with pytest.raises(ValueError, match="model's input tensors"):
        K.function([m.layers[1].output], [m.output])
    with pytest.raises(ValueError, match="same model"):
        K.function([m.input], [other.output])
    with pytest.raises(TypeError, match="symbolic tensors of a model"):
        K.function([np.ones((2, 4))], [m.output])
    with pytest.raises(ValueError, match="updates"):
        K.function([m.input], [m.output], updates=[("w", 1)])
    with pytest.raises(ValueError, match="at least one output"):
        K.function([m.input], [])
    fn = K.function([m.input], [m.output])
    with pytest.raises(ValueError, match="takes 1 input value"):
        fn([np.ones((2, 4)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="expected input of shape"):
        fn([np.ones((2, 7), dtype="float32")])
    with pytest.raises(TypeError, match="no value to test"):
        bool(m.output)
    with pytest.raises(ValueError, match="one output"):
        Model(inputs=m.input, outputs=[m.layers[0].output, m.output])
    with pytest.raises(TypeError, match="Model\\(inputs=model.input"):
        Model()
    with pytest.raises(ValueError, match="not the model's input"):
        Model(inputs=m.input, outputs=m.input)
    # unbuilt model, unconnected layer: AttributeError (hasattr() is False)
    K.clear_session()
    lazy = Sequential([Dense(2)])
    with pytest.raises(AttributeError, match="has not been built"):
        lazy.input
    assert not hasattr(lazy, "output")
    with pytest.raises(AttributeError, match="not connected"):
        Dense(3).output
    # a popped layer
    popped = m.layers[-1]
    out = m.output
    m.pop()
    with pytest.raises(AttributeError, match="not connected"):
        popped.output
    with pytest.raises(ValueError, match="no longer part of model"):
        K.function([m.input], [out])


def test_models_still_pickle(rng):
    m = _mlp()
    m.output                                      # the layers know their model now
    m2 = pickle.loads(pickle.dumps(m))
    x = rng.random((2, 4)).astype("float32")
    np.testing.assert_allclose(m2.predict(x), m.predict(x), rtol=1e-6)
    np.testing.assert_allclose(K.function([m2.input], [m2.output])([x])[0], m.predict(x),
                               rtol=1e-6)
