"""Custom layers written as Keras 2 users write them: `call` takes `training` and
`mask` only if it names them, and Keras 2.2.4's antirectifier example trains."""
import numpy as np
import pytest

from gpuseq import backend as K
from gpuseq import layers
from gpuseq.layers import Dense, Embedding, TimeDistributed
from gpuseq.layers.base import call_kwargs
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed, to_categorical


# -- Keras 2.2.4 examples/antirectifier.py, with `keras` replaced by `gpuseq` --------
class Antirectifier(layers.Layer):
    """The concatenation of the positive part and the negative part of the
    L2-normalised, zero-centred input (Keras 2.2.4's example, as written there)."""

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        assert len(shape) == 2  # only valid for 2D tensors
        shape[-1] *= 2
        return tuple(shape)

    def call(self, inputs):
        inputs -= K.mean(inputs, axis=1, keepdims=True)
        inputs = K.l2_normalize(inputs, axis=1)
        pos = K.relu(inputs)
        neg = K.relu(-inputs)
        return K.concatenate([pos, neg], axis=1)


def _antirectifier_model(num_classes):
    model = Sequential()
    model.add(layers.Dense(256, input_shape=(64,)))
    model.add(Antirectifier())
    model.add(layers.Dropout(0.1))
    model.add(layers.Dense(256))
    model.add(Antirectifier())
    model.add(layers.Dropout(0.1))
    model.add(layers.Dense(num_classes))
    model.add(layers.Activation('softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='rmsprop',
                  metrics=['accuracy'])
    return model


def test_antirectifier_value_matches_its_definition(numpy_backend):
    x = np.array([[1.0, -2.0, 4.0], [0.5, 0.5, -1.0]], dtype="float32")
    out = K.to_host(Antirectifier()(K.convert_to_tensor(x)).data)
    c = x - x.mean(axis=1, keepdims=True)
    c = c / np.sqrt(np.maximum((c * c).sum(axis=1, keepdims=True), 1e-12))
    np.testing.assert_allclose(out, np.concatenate([np.maximum(c, 0), np.maximum(-c, 0)], 1),
                               rtol=1e-5, atol=1e-6)


def test_antirectifier_example_learns_digits(numpy_backend, digits):
    set_random_seed(0)
    x, y = digits
    order = np.random.RandomState(0).permutation(len(x))
    x, y = x[order].astype("float32"), to_categorical(y[order], 10)
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    model = _antirectifier_model(10)
    assert model.layers[1].output_shape == (None, 512)
    model.fit(x_train, y_train, batch_size=128, epochs=6, verbose=0,
              validation_data=(x_test, y_test))
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.9, acc


# -- every signature form of `call` ---------------------------------------------------
class Plain(layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class WithTraining(layers.Layer):
    def call(self, inputs, training=None):
        self.seen = training
        return inputs * (3.0 if training else 2.0)


class WithMask(layers.Layer):
    supports_masking = True

    def call(self, inputs, mask=None):
        self.seen = None if mask is None else K.to_host(mask)
        return inputs * 2.0


class WithBoth(layers.Layer):
    supports_masking = True

    def call(self, x, mask=None, training=False):
        self.seen = (None if mask is None else K.to_host(mask), training)
        return x * 2.0


class KeywordOnly(layers.Layer):
    def call(self, inputs, *, training=False):
        self.seen = training
        return inputs * 2.0


class CatchAll(layers.Layer):
    def call(self, inputs, **kwargs):
        self.seen = dict(kwargs)
        return inputs * 2.0


@pytest.mark.parametrize("cls, training, mask, expected", [
    (Plain, True, "m", {}),
    (WithTraining, True, "m", {"training": True}),
    (WithMask, True, "m", {"mask": "m"}),
    (WithMask, True, None, {}),
    (WithBoth, False, "m", {"training": False, "mask": "m"}),
    (KeywordOnly, True, "m", {"training": True}),
    (CatchAll, True, "m", {}),      # as Keras: **kwargs does not receive them
])
def test_call_kwargs_follow_the_signature(cls, training, mask, expected):
    assert call_kwargs(cls, training, mask) == expected


@pytest.mark.parametrize("cls", [Plain, WithTraining, WithMask, WithBoth, KeywordOnly,
                                 CatchAll])
def test_each_signature_trains_in_a_model(numpy_backend, cls):
    set_random_seed(1)
    model = Sequential([Dense(4, input_dim=3), cls(), Dense(1)])
    model.compile("sgd", "mse")
    x = np.random.RandomState(0).rand(16, 3).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=8, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before
    layer = model.layers[1]
    if cls in (WithTraining, KeywordOnly):
        model.predict(x[:2])
        assert layer.seen is False
    np.testing.assert_allclose(
        model.predict(x[:2]),
        K.to_host(model.layers[2](K.convert_to_tensor(
            2.0 * K.to_host(model.layers[0](K.convert_to_tensor(x[:2])).data))).data),
        rtol=1e-5)


def test_training_flag_reaches_a_call_that_takes_it(numpy_backend):
    layer = WithTraining()
    x = K.convert_to_tensor(np.ones((2, 3), dtype="float32"))
    np.testing.assert_allclose(K.to_host(layer(x, training=True).data), 3.0)
    assert layer.seen is True
    np.testing.assert_allclose(K.to_host(layer(x).data), 2.0)
    assert layer.seen is False


def test_mask_reaches_a_custom_layer_after_embedding(numpy_backend):
    model = Sequential([Embedding(5, 2, input_length=3, mask_zero=True), WithBoth()])
    model.compile("sgd", "mse")
    model.predict(np.array([[1, 2, 0]]))
    mask, training = model.layers[1].seen
    np.testing.assert_array_equal(mask, [[True, True, False]])
    assert training is False


def test_time_distributed_runs_a_call_without_training(numpy_backend):
    model = Sequential([TimeDistributed(Plain(), input_shape=(3, 2))])
    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    np.testing.assert_allclose(model.predict(x), 2 * x)
