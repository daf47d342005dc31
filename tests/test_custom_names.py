"""Names resolved through the custom-object registry, as Keras 2.2.4's
``deserialize_keras_object`` does: every ``get`` of activations, losses, metrics,
optimizers, initializers, regularizers and constraints asks the custom objects (an
enclosing ``CustomObjectScope``, then ``get_custom_objects()``) before its built-ins,
and models that use such names train, save and load back."""
import json
import warnings

import numpy as np
import pytest

from gpuseq import activations, constraints, initializers, losses, metrics, optimizers
from gpuseq import backend as K
from gpuseq import regularizers
from gpuseq.layers import Activation, Conv2D, Dense, Flatten
from gpuseq.models import Sequential, load_model, model_from_json
from gpuseq.optimizers import SGD, Adam
from gpuseq.utils import CustomObjectScope, get_custom_objects, set_random_seed, to_categorical

REGISTRY_HINT = r"get_custom_objects\(\).*CustomObjectScope"


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test starts and ends with an empty registry."""
    get_custom_objects().clear()
    yield
    get_custom_objects().clear()


def swish(x):
    return x * K.sigmoid(x)


def np_swish(x):
    return x / (1.0 + np.exp(-x))


def double(x):
    return 2.0 * x


def abs_error(y_true, y_pred):
    return K.mean(K.abs(y_pred - y_true), axis=-1)


def max_error(y_true, y_pred):
    return K.max(K.abs(y_pred - y_true), axis=-1)


class HalfSGD(SGD):
    """SGD whose default learning rate is 0.5."""

    def __init__(self, lr=0.5, **kwargs):
        super().__init__(lr=lr, **kwargs)


class Threes(initializers.Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.full(shape, 3.0, dtype=dtype)


def sevens(shape, dtype="float32"):
    return np.full(shape, 7.0, dtype=dtype)


def half_sum(w):
    return 0.5 * K.sum(w)


class Clip1(constraints.Constraint):
    def __call__(self, w):
        return np.clip(w, -1.0, 1.0)


def _value(t):
    return np.asarray(K.eval(t))


# ------------------------------------------------------------------ every get()
X = np.array([[1.0, -2.0, 0.5]], "float32")
Y_TRUE = np.array([[0.0, 1.0, 0.0]], "float32")
Y_PRED = np.array([[0.5, -1.0, 0.25]], "float32")


def _check_activation(fn):
    np.testing.assert_allclose(_value(fn(K.variable(X))), 2.0 * X)


def _check_loss(fn):
    np.testing.assert_allclose(_value(fn(K.variable(Y_TRUE), K.variable(Y_PRED))),
                               [np.mean(np.abs(Y_PRED - Y_TRUE))], rtol=1e-6)


def _check_optimizer(opt):
    assert type(opt) is HalfSGD and opt.get_config()["lr"] == pytest.approx(0.5)


def _check_initializer(init):
    np.testing.assert_array_equal(init((2, 3)), np.full((2, 3), 3.0, "float32"))


def _check_regularizer(reg):
    assert float(_value(reg(K.variable(X)))) == pytest.approx(0.5 * X.sum())


def _check_constraint(c):
    np.testing.assert_array_equal(c(np.array([3.0, -0.5, -4.0])), [1.0, -0.5, -1.0])


KINDS = [
    ("activation", activations.get, double, _check_activation, "Unknown activation"),
    ("loss", losses.get, abs_error, _check_loss, "Unknown loss function"),
    ("metric", metrics.get, abs_error, _check_loss, "Unknown metric"),
    ("optimizer", optimizers.get, HalfSGD, _check_optimizer, "Unknown optimizer"),
    ("initializer", initializers.get, Threes, _check_initializer, "Unknown initializer"),
    ("regularizer", regularizers.get, half_sum, _check_regularizer, "Unknown regularizer"),
    ("constraint", constraints.get, Clip1, _check_constraint, "Unknown constraint"),
]
IDS = [k[0] for k in KINDS]


@pytest.mark.parametrize("kind,get,obj,check,unknown", KINDS, ids=IDS)
def test_get_resolves_a_name_registered_in_a_scope_and_forgets_it_after(
        numpy_backend, kind, get, obj, check, unknown):
    with CustomObjectScope({"my_thing": obj}):
        check(get("my_thing"))
    assert get_custom_objects() == {}
    with pytest.raises(ValueError, match=rf"{unknown}.*{REGISTRY_HINT}.*'my_thing'"):
        get("my_thing")


@pytest.mark.parametrize("kind,get,obj,check,unknown", KINDS, ids=IDS)
def test_get_resolves_a_name_registered_globally(numpy_backend, kind, get, obj, check,
                                                  unknown):
    get_custom_objects().update({"my_thing": obj})
    check(get("my_thing"))
    del get_custom_objects()["my_thing"]
    with pytest.raises(ValueError, match=rf"{unknown}.*Received: {kind}='my_thing'"):
        get("my_thing")


@pytest.mark.parametrize("get,cls,check", [
    (initializers.get, Threes, _check_initializer),
    (constraints.get, Clip1, _check_constraint),
    (optimizers.get, HalfSGD, _check_optimizer),
], ids=["initializer", "constraint", "optimizer"])
def test_config_dicts_name_custom_classes(numpy_backend, get, cls, check):
    with CustomObjectScope({"Mine": cls}):
        check(get({"class_name": "Mine", "config": {}}))


def test_registered_instances_and_functions_are_used_as_they_are(numpy_backend):
    with CustomObjectScope({"sevens": sevens, "threes": Threes(), "reg": half_sum}):
        assert initializers.get("sevens") is sevens
        _check_initializer(initializers.get("threes"))
        assert regularizers.get("reg") is half_sum
        layer = Dense(2, kernel_initializer="sevens", kernel_regularizer="reg")
        layer.build((None, 3))
    np.testing.assert_array_equal(K.get_value(layer.kernel), np.full((3, 2), 7.0))


def test_a_registered_optimizer_instance_gives_a_fresh_copy(numpy_backend):
    mine = SGD(lr=0.3, momentum=0.9)
    with CustomObjectScope({"my_opt": mine}):
        opt = optimizers.get("my_opt")
    assert type(opt) is SGD and opt is not mine
    assert opt.get_config()["lr"] == pytest.approx(0.3)
    assert opt.get_config()["momentum"] == pytest.approx(0.9)


def test_an_optimizer_name_gives_a_clear_error_for_a_non_optimizer(numpy_backend):
    with CustomObjectScope({"my_opt": lambda: 3}):
        with pytest.raises(ValueError, match=r"registered as 'my_opt' gave int, not an "
                                             r"optimizer.*Received: my_opt="):
            optimizers.get("my_opt")


def test_existing_names_and_aliases_still_resolve(numpy_backend):
    assert activations.get("relu") is activations.relu
    assert losses.get("MSE") is losses.mean_squared_error
    assert metrics.get("mae") is losses.mean_absolute_error
    assert type(optimizers.get("RMSprop")) is optimizers.RMSprop
    assert isinstance(initializers.get("glorot_uniform"), initializers.VarianceScaling)
    assert regularizers.get("l2").l2 == pytest.approx(0.01)
    assert isinstance(constraints.get("maxnorm"), constraints.MaxNorm)
    with pytest.raises(ValueError, match="resolved by compile"):
        metrics.get("acc")


# ------------------------------------------------------------ names that shadow built-ins
def test_a_custom_name_shadows_a_built_in_as_in_keras_2_2_4(numpy_backend):
    with CustomObjectScope({"relu": double, "mse": abs_error, "acc": max_error}):
        assert activations.get("relu") is double
        assert losses.get("mse") is abs_error
        assert losses.get("MSE") is losses.mean_squared_error    # exact spelling only
        assert metrics.get("acc") is max_error                  # outside compile
        layer = Dense(3, activation="relu", kernel_initializer="identity", use_bias=False)
        np.testing.assert_allclose(_value(layer(K.variable(X))), 2.0 * X)
    assert activations.get("relu") is activations.relu


def test_optimizer_names_are_lowered_before_the_custom_lookup_as_in_keras(numpy_backend):
    with CustomObjectScope({"Adam": HalfSGD}):
        assert type(optimizers.get("Adam")) is Adam          # 'Adam' -> 'adam', built-in
    with CustomObjectScope({"adam": HalfSGD}):
        assert type(optimizers.get("Adam")) is HalfSGD


def test_compile_keeps_accuracy_built_in_even_when_acc_is_registered(numpy_backend):
    x, y = np.eye(4, dtype="float32"), np.eye(4, dtype="float32")
    with CustomObjectScope({"acc": max_error}):
        model = Sequential([Dense(4, input_dim=4, activation="softmax",
                                  kernel_initializer="identity")])
        model.compile("sgd", "categorical_crossentropy", metrics=["acc"])
        _, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(1.0)


# ------------------------------------------------------------ compile by registered names
def _regression_data():
    rng = np.random.RandomState(3)
    x = rng.uniform(-1, 1, (64, 4)).astype("float32")
    y = (x @ rng.uniform(-1, 1, (4, 2))).astype("float32")
    return x, y


def test_compile_with_registered_loss_metric_and_optimizer_names(numpy_backend, tmp_path):
    x, y = _regression_data()
    names = {"my_loss": abs_error, "my_metric": max_error, "my_opt": HalfSGD,
             "HalfSGD": HalfSGD}
    with CustomObjectScope(names):
        set_random_seed(2)
        model = Sequential([Dense(2, input_dim=4)])
        model.compile(optimizer="my_opt", loss="my_loss", metrics=["my_metric"])
        assert type(model.optimizer) is HalfSGD
        first = model.evaluate(x, y, verbose=0)
        history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert sorted(history.history) == ["loss", "my_metric"]
    pred = model.predict(x)
    loss, metric = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(np.abs(pred - y).mean(), rel=1e-5)
    assert metric == pytest.approx(np.abs(pred - y).max(axis=-1).mean(), rel=1e-5)
    assert loss < 0.8 * first[0]
    path = str(tmp_path / "m.h5")
    model.save(path)
    with pytest.raises(ValueError, match="HalfSGD"):
        load_model(path)
    with CustomObjectScope(names):
        loaded = load_model(path)
    assert type(loaded.optimizer) is HalfSGD
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), [loss, metric], rtol=1e-5)


# ----------------------------------------------------------------- the swish tutorial
def _digits():
    from sklearn.datasets import load_digits
    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    y = to_categorical(data.target, 10)
    rng = np.random.RandomState(0)
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:]
    return x[train], y[train], x[test], y[test]


def _saved_activation(text):
    """The activation the JSON config of a one-Dense model stores."""
    layers = json.loads(text)["config"]["layers"]
    return [entry["config"]["activation"] for entry in layers
            if entry["class_name"] == "Dense"][0]


def _swish_mlp():
    set_random_seed(0)
    model = Sequential()
    model.add(Dense(64, input_dim=64, activation="swish"))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_swish_tutorial_trains_on_digits_saves_and_loads(numpy_backend, tmp_path):
    x, y, x_test, y_test = _digits()
    get_custom_objects().update({"swish": Activation(swish)})
    model = _swish_mlp()
    assert isinstance(model.layers[0].activation, Activation)
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    _, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.9
    expected = model.predict(x_test)
    pre = x_test @ K.get_value(model.layers[0].kernel) + K.get_value(model.layers[0].bias)
    np.testing.assert_allclose(_value(model.layers[0](K.variable(x_test))), np_swish(pre),
                               rtol=1e-5, atol=1e-6)

    assert model.layers[0].get_config()["activation"] == "swish"
    h5, text = str(tmp_path / "swish.h5"), model.to_json()
    model.save(h5)
    weights = model.get_weights()
    for loaded in (load_model(h5), model_from_json(text)):
        loaded.set_weights(weights)
        np.testing.assert_allclose(loaded.predict(x_test), expected, rtol=1e-5, atol=1e-7)

    get_custom_objects().clear()
    with pytest.raises(ValueError, match=r"Unknown activation.*custom_objects=\{'swish'.*"
                                         r"Received: activation='swish'"):
        load_model(h5)
    with pytest.raises(ValueError, match=r"'swish'"):
        model_from_json(text)
    for loaded in (load_model(h5, custom_objects={"swish": swish}),
                   model_from_json(text, custom_objects={"swish": swish})):
        loaded.set_weights(weights)
        np.testing.assert_allclose(loaded.predict(x_test), expected, rtol=1e-5, atol=1e-7)
    with CustomObjectScope({"swish": swish}):
        loaded = load_model(h5)
    np.testing.assert_allclose(loaded.predict(x_test), expected, rtol=1e-5, atol=1e-7)


def test_an_object_registered_under_another_name_saves_that_name(numpy_backend, tmp_path):
    x = np.random.RandomState(1).uniform(-2, 2, (6, 4)).astype("float32")
    with CustomObjectScope({"my_act": Activation(swish)}):
        set_random_seed(4)
        model = Sequential([Dense(3, input_dim=4, activation="my_act")])
        text = model.to_json()
    assert _saved_activation(text) == "my_act"
    with pytest.raises(ValueError, match=r"Unknown activation.*Received: activation='my_act'"):
        Dense(3, activation="my_act")
    with CustomObjectScope({"my_act": swish}):
        loaded = model_from_json(text)
        assert loaded.layers[0].activation is swish
    loaded.set_weights(model.get_weights())
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    again = model_from_json(text, custom_objects={"my_act": Activation(swish)})
    assert _saved_activation(again.to_json()) == "my_act"


def test_a_shadowed_built_in_saves_under_its_name_and_loads_under_the_registration(
        numpy_backend):
    x = np.random.RandomState(2).uniform(-2, 2, (6, 4)).astype("float32")
    with CustomObjectScope({"relu": double}):
        set_random_seed(5)
        model = Sequential([Dense(3, input_dim=4, activation="relu")])
        text = model.to_json()
        loaded = model_from_json(text)
    loaded.set_weights(model.get_weights())
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)
    assert (model.predict(x) < 0).any()                 # doubled, not rectified
    plain = model_from_json(text)                       # no registration: the built-in
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(plain.predict(x), np.maximum(model.predict(x) / 2.0, 0.0),
                               rtol=1e-5, atol=1e-7)


def test_conv_layers_take_registered_activation_names(numpy_backend):
    x = np.random.RandomState(6).uniform(-1, 1, (2, 5, 5, 1)).astype("float32")
    with CustomObjectScope({"swish": Activation(swish)}):
        set_random_seed(7)
        named = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1), activation="swish"),
                            Flatten()])
    set_random_seed(7)
    plain = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Flatten()])
    plain.set_weights(named.get_weights())
    np.testing.assert_allclose(named.predict(x), np_swish(plain.predict(x)), rtol=1e-5,
                               atol=1e-6)


def test_a_keras_2_style_optimizer_subclass_loads_back_with_its_settings(numpy_backend,
                                                                          tmp_path):
    model = Sequential([Dense(2, input_dim=4)])
    model.compile(optimizer=HalfSGD(lr=0.2, momentum=0.9), loss="mse")
    path = str(tmp_path / "opt.h5")
    model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model(path, custom_objects={"HalfSGD": HalfSGD})
    assert type(loaded.optimizer) is HalfSGD
    assert loaded.optimizer.get_config() == pytest.approx(model.optimizer.get_config())


def test_a_registered_activation_layer_runs_on_every_op_path(op_path):
    x = np.random.RandomState(8).uniform(-2, 2, (5, 4)).astype("float32")
    with CustomObjectScope({"swish": Activation(swish)}):
        set_random_seed(9)
        model = Sequential([Dense(3, input_dim=4, activation="swish")])
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model.predict(x), np_swish(x @ kernel + bias), rtol=1e-5,
                               atol=1e-6)
