"""Keras 2's custom-object registry: ``CustomObjectScope``, ``custom_object_scope`` and
``get_custom_objects`` resolve custom layers, activations and losses when a model is
read back (``load_model``, ``model_from_json``, ``layers.deserialize``)."""
import numpy as np
import pytest

from gpuseq import backend as K
from gpuseq import layers
from gpuseq.layers import Dense
from gpuseq.models import Sequential, load_model, model_from_json
from gpuseq.utils import (CustomObjectScope, custom_object_scope, get_custom_objects,
                          set_random_seed)
from gpuseq.utils import generic_utils


class Doubler(layers.Layer):
    """Multiplies its input by 2."""

    def call(self, inputs):
        return inputs * 2.0


def cube(x):
    return x * x * x


def scaled_mse(y_true, y_pred):
    return 3.0 * K.mean(K.square(y_pred - y_true), axis=-1)


def _model():
    set_random_seed(1)
    model = Sequential()
    model.add(Dense(3, input_dim=4, activation=cube))
    model.add(Doubler())
    model.add(Dense(2))
    model.compile(optimizer="sgd", loss=scaled_mse)
    return model


def _x():
    return np.random.RandomState(0).uniform(-1, 1, (5, 4)).astype("float32")


def test_save_load_round_trip_inside_a_scope(numpy_backend, tmp_path):
    model = _model()
    path = str(tmp_path / "m.h5")
    model.save(path)
    with pytest.raises(ValueError, match="cube|Doubler"):
        load_model(path)
    with CustomObjectScope({"Doubler": Doubler, "cube": cube}, {"scaled_mse": scaled_mse}):
        loaded = load_model(path)
    np.testing.assert_allclose(loaded.predict(_x()), model.predict(_x()), rtol=1e-6)
    assert isinstance(loaded.layers[1], Doubler)
    assert loaded.layers[0].activation is cube
    y = np.ones((5, 2), "float32")
    assert loaded.evaluate(_x(), y, verbose=0) == pytest.approx(
        model.evaluate(_x(), y, verbose=0), rel=1e-6)
    assert get_custom_objects() == {}          # the scope's names are gone again


def test_registered_objects_and_explicit_ones_win(numpy_backend):
    model = _model()
    text = model.to_json()

    class OtherDoubler(Doubler):
        pass

    try:
        get_custom_objects().update({"Doubler": Doubler, "cube": cube})
        restored = model_from_json(text)
        assert type(restored.layers[1]) is Doubler
        explicit = model_from_json(text, custom_objects={"Doubler": OtherDoubler})
        assert type(explicit.layers[1]) is OtherDoubler
    finally:
        get_custom_objects().clear()
    restored.set_weights(model.get_weights())
    np.testing.assert_allclose(restored.predict(_x()), model.predict(_x()), rtol=1e-6)


def test_scope_restores_overridden_names_and_functional_spelling():
    get_custom_objects()["cube"] = abs
    try:
        with custom_object_scope({"cube": cube}) as scope:
            assert isinstance(scope, CustomObjectScope)
            assert get_custom_objects()["cube"] is cube
            assert layers.deserialize({"class_name": "Activation",
                                       "config": {"activation": "cube"}}).activation is cube
        assert get_custom_objects()["cube"] is abs
    finally:
        get_custom_objects().clear()
    assert generic_utils.CustomObjectScope is CustomObjectScope


def test_scope_and_calls_reject_non_dict(numpy_backend):
    with pytest.raises(TypeError, match="Received: argument 0"):
        CustomObjectScope(["Doubler"])
    assert get_custom_objects() == {}
    text = _model().to_json()
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        model_from_json(text, custom_objects=[("Doubler", Doubler)])
