"""Sequential: construction, input-shape forms, shape inference, summary, weights, errors."""
import io

import numpy as np
import pytest

from gpuseq.layers import Activation, Dense, Dropout, Flatten, Merge, Reshape
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD


def test_list_constructor_and_add_give_same_structure():
    a = Sequential([Dense(32, input_dim=784), Activation("relu"), Dense(10),
                    Activation("softmax")])
    b = Sequential()
    b.add(Dense(32, input_shape=(784,)))
    b.add(Activation("relu"))
    b.add(Dense(10))
    b.add(Activation("softmax"))
    assert [l.output_shape for l in a.layers] == [l.output_shape for l in b.layers] == \
        [(None, 32), (None, 32), (None, 10), (None, 10)]
    assert a.count_params() == b.count_params() == 784 * 32 + 32 + 32 * 10 + 10


@pytest.mark.parametrize("kwargs, expected", [
    ({"input_shape": (784,)}, (None, 784)),
    ({"input_dim": 784}, (None, 784)),
    ({"batch_input_shape": (None, 784)}, (None, 784)),
    ({"batch_input_shape": (16, 784)}, (16, 784)),
    ({"batch_size": 8, "input_shape": (784,)}, (8, 784)),
    ({"input_shape": (6, 8)}, (None, 6, 8)),
])
def test_first_layer_shape_forms(kwargs, expected):
    m = Sequential([Dense(32, **kwargs)])
    assert m.input_shape == expected
    assert m.output_shape == expected[:-1] + (32,)


def test_dense_on_6x8_input_as_in_the_guide():
    m = Sequential([Dense(32, input_shape=(6, 8))])
    assert m.layers[0].weights[0].shape == (8, 32)
    y = m.predict(np.zeros((2, 6, 8), "float32"))
    assert y.shape == (2, 6, 32)


def test_deferred_build_from_data():
    m = Sequential([Dense(4), Dense(1)])
    assert not m.built and m.output_shape is None
    with pytest.raises(ValueError, match="has not yet been built"):
        m.summary()
    m.compile("sgd", "mse")
    m.fit(np.zeros((10, 3), "float32"), np.zeros((10, 1), "float32"), verbose=0)
    assert m.built and m.input_shape == (None, 3) and m.count_params() == 3 * 4 + 4 + 5


def test_summary_matches_keras_format():
    m = Sequential(name="seq_fmt")
    m.add(Dense(32, input_dim=784, name="dense_a"))
    m.add(Dropout(0.5, name="drop"))
    m.add(Dense(10, activation="softmax", name="dense_b"))
    out = io.StringIO()
    m.summary(print_fn=lambda s: out.write(s + "\n"))
    expected = (
        "_________________________________________________________________\n"
        "Layer (type)                 Output Shape              Param #   \n"
        "=================================================================\n"
        "dense_a (Dense)              (None, 32)                25120     \n"
        "_________________________________________________________________\n"
        "drop (Dropout)               (None, 32)                0         \n"
        "_________________________________________________________________\n"
        "dense_b (Dense)              (None, 10)                330       \n"
        "=================================================================\n"
        "Total params: 25,450\n"
        "Trainable params: 25,450\n"
        "Non-trainable params: 0\n"
        "_________________________________________________________________\n")
    assert out.getvalue() == expected


def test_non_trainable_layer_counts_in_summary():
    m = Sequential([Dense(3, input_dim=2, trainable=False), Dense(1)])
    out = []
    m.summary(print_fn=out.append)
    assert out[-4:-1] == ["Total params: 13", "Trainable params: 4",
                          "Non-trainable params: 9"]
    m.compile("sgd", "mse")
    w0 = m.get_weights()
    m.fit(np.ones((8, 2), "float32"), np.full((8, 1), 5.0, "float32"), epochs=2, verbose=0)
    w1 = m.get_weights()
    np.testing.assert_array_equal(w0[0], w1[0])   # frozen kernel
    assert not np.allclose(w0[2], w1[2])         # trainable kernel moved


def test_get_set_weights_keras_order_and_atomicity():
    m = Sequential([Dense(3, input_dim=2), Dense(1)])
    ws = m.get_weights()
    assert [w.shape for w in ws] == [(2, 3), (3,), (3, 1), (1,)]
    new = [np.full(w.shape, i, "float32") for i, w in enumerate(ws)]
    m.set_weights(new)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    bad = [np.zeros((2, 3)), np.zeros(3), np.zeros((4, 1)), np.zeros(1)]
    with pytest.raises(ValueError, match=r"Layer '.*' \(Dense\).*\(3, 1\).*\(4, 1\)"):
        m.set_weights(bad)
    for a, b in zip(m.get_weights(), new):     # nothing changed
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expects 4 weight arrays"):
        m.set_weights(new[:3])


def test_get_layer_by_name_and_index_index_wins():
    m = Sequential([Dense(3, input_dim=2, name="first"), Dense(1, name="second")])
    assert m.get_layer("second") is m.layers[1]
    assert m.get_layer(name="second", index=0) is m.layers[0]
    assert m.get_layer(index=-1) is m.layers[1]
    with pytest.raises(ValueError, match="No such layer: third"):
        m.get_layer("third")
    with pytest.raises(ValueError, match="index 5"):
        m.get_layer(index=5)


def test_add_errors_leave_model_unchanged():
    m = Sequential([Dense(3, input_dim=2, name="x1")])
    with pytest.raises(TypeError, match="instance of gpuseq.layers.Layer"):
        m.add("dense")
    with pytest.raises(ValueError, match="unique names"):
        m.add(Dense(2, name="x1"))
    assert len(m.layers) == 1
    m2 = Sequential([Dense(3, input_shape=(4, 5))])
    with pytest.raises(ValueError, match="total size of the new shape"):
        m2.add(Reshape((7,)))
    assert len(m2.layers) == 1 and m2.output_shape == (None, 4, 3)
    m2.add(Flatten())
    assert m2.output_shape == (None, 12)


def test_pop_and_reset_states_without_stateful_layers():
    m = Sequential([Dense(3, input_dim=2), Dense(1)])
    m.pop()
    assert len(m.layers) == 1 and m.output_shape == (None, 3)
    m.reset_states()   # nothing stateful: a no-op


def test_merge_concat_branches_like_the_seed():
    left = Sequential([Dense(32, input_dim=784)])
    right = Sequential([Dense(32, input_dim=784)])
    merged = Merge([left, right], mode="concat")
    final = Sequential()
    final.add(merged)
    final.add(Dense(10, activation="softmax"))
    assert final.output_shape == (None, 10)
    assert final.layers[0].output_shape == (None, 64)
    assert final.count_params() == 2 * (784 * 32 + 32) + 64 * 10 + 10
    final.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    d1, d2 = rng.random((64, 784)), rng.random((64, 784))
    labels = np.eye(10)[rng.integers(0, 10, 64)]
    h = final.fit([d1, d2], labels, epochs=2, batch_size=32, verbose=0)
    assert len(h.history["loss"]) == 2
    p = final.predict([d1, d2])
    assert p.shape == (64, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    with pytest.raises(ValueError, match="expects 2 input array"):
        final.predict(d1)


@pytest.mark.parametrize("mode, fn", [
    ("sum", lambda a, b: a + b), ("mul", lambda a, b: a * b), ("ave", lambda a, b: (a + b) / 2),
    ("max", np.maximum), ("dot", lambda a, b: (a * b).sum(-1, keepdims=True)),
])
def test_merge_modes_by_value(mode, fn):
    left = Sequential([Dense(3, input_dim=2, kernel_initializer="ones", bias_initializer="ones")])
    right = Sequential([Dense(3, input_dim=2)])
    right.set_weights([np.array([[1, -1, 2], [0, 3, -2]], "float32"), np.zeros(3, "float32")])
    m = Sequential([Merge([left, right], mode=mode)])
    a = np.array([[1.0, 2.0], [-1.0, 0.5]], "float32")
    b = np.array([[0.5, 1.0], [2.0, -1.0]], "float32")
    la = a @ np.ones((2, 3)) + 1
    rb = b @ np.array([[1, -1, 2], [0, 3, -2]])
    np.testing.assert_allclose(m.predict([a, b]), fn(la, rb), rtol=1e-6)


def test_merge_callable_mode_is_differentiable():
    left = Sequential([Dense(4, input_dim=3)])
    right = Sequential([Dense(4, input_dim=3)])
    m = Sequential([Merge([left, right], mode=lambda x: x[0] - x[1]), Dense(1)])
    assert m.output_shape == (None, 1)
    m.compile(SGD(lr=0.1), "mse")
    rng = np.random.default_rng(1)
    x1, x2 = rng.random((32, 3)).astype("float32"), rng.random((32, 3)).astype("float32")
    y = (x1.sum(1) - x2.sum(1))[:, None].astype("float32")
    l0 = m.evaluate([x1, x2], y, verbose=0)
    m.fit([x1, x2], y, epochs=100, verbose=0)
    assert m.evaluate([x1, x2], y, verbose=0) < 0.1 * l0


def test_merge_rejects_bad_mode_and_single_branch():
    b = Sequential([Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="Invalid merge mode"):
        Merge([b, Sequential([Dense(2, input_dim=2)])], mode="avg")
    with pytest.raises(ValueError, match="at least 2 branches"):
        Merge([b])


def test_input_layer_declares_the_input_shape():
    import gpuseq.backend as K
    from gpuseq.layers import Input, InputLayer, LSTM
    K.clear_session()
    m = Sequential([Input(shape=(20,)), Dense(4, activation="softmax")])
    assert m.built and m.input_shape == (None, 20) and m.output_shape == (None, 4)
    assert [l.name for l in m.layers] == ["dense_1"]          # not a model layer, as Keras 2
    assert m.count_params() == 84
    m2 = Sequential()
    m2.add(InputLayer(input_shape=(3,)))
    m2.add(Dense(2))
    x = np.ones((5, 3), dtype="float32")
    assert m2.predict(x).shape == (5, 2)
    # the first layer's config carries the shape (how Keras 2 saves it)
    import json
    assert json.loads(m2.to_json())["config"]["layers"][0]["config"]["batch_input_shape"] == \
        [None, 3]
    stateful = Sequential([InputLayer(batch_input_shape=(8, 5, 3)), LSTM(2, stateful=True)])
    assert stateful.input_shape == (8, 5, 3)
    assert Sequential([Input(batch_shape=(4, 7))]).layers == []
    with pytest.raises(ValueError, match="added first and only once"):
        Sequential([Dense(2, input_dim=3), InputLayer(input_shape=(2,))])
    with pytest.raises(ValueError, match="Give the shape once"):
        Sequential([Input(shape=(3,)), Dense(2, input_dim=4)])
    with pytest.raises(ValueError, match="needs the shape of one sample"):
        InputLayer()
    with pytest.raises(TypeError, match="unexpected keyword"):
        InputLayer(input_shape=(2,), units=3)
