"""Lambda layers in saved models: Keras 2's bytecode format written and read, and the
safe mode that refuses to load code from a file unless the caller trusts it."""
import codecs
import json
import marshal
import warnings

import numpy as np
import pytest

import gpuseq
from gpuseq import backend as K
from gpuseq.layers import Dense, Lambda
from gpuseq.layers import function_code
from gpuseq.models import Sequential, load_model, model_from_config, model_from_json

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype="float32")


@pytest.fixture(autouse=True)
def _numpy_and_safe_global(numpy_backend, monkeypatch):
    # enable_unsafe_deserialization() is process-wide: every test starts safe
    monkeypatch.setitem(function_code._global, "unsafe", False)


def shifted_square(x):
    return K.square(x) + 1.0


def scale(x, factor):
    return x * factor


def _make_scaler(k):
    return lambda x: x * k


def _model(layer):
    model = Sequential([Dense(3, input_dim=3, kernel_initializer="identity"), layer])
    model.compile("sgd", "mse")
    return model


def _nested_closure_free(x, factor=1.0, offset=0.0):
    return x * factor + offset


CASES = {
    "lambda": (lambda: Lambda(lambda x: K.square(x) * 2.0), lambda x: 2 * x ** 2),
    "named": (lambda: Lambda(shifted_square), lambda x: x ** 2 + 1),
    "named_with_arguments": (lambda: Lambda(scale, arguments={"factor": 3.0}),
                             lambda x: 3 * x),
    "closure": (lambda: Lambda(_make_scaler(-2.5)), lambda x: -2.5 * x),
    "closure_free_with_arguments": (
        lambda: Lambda(lambda x, factor, offset=0.0: x * factor + offset,
                       arguments={"factor": 0.5, "offset": 4.0}),
        lambda x: 0.5 * x + 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_saved_and_loaded_with_safe_mode_off(tmp_path, case):
    make, reference = CASES[case]
    model = _model(make())
    np.testing.assert_allclose(model.predict(X), reference(X), rtol=1e-6)
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5", safe_mode=False)
    np.testing.assert_allclose(loaded.predict(X), reference(X), rtol=1e-6)
    again = model_from_json(model.to_json(), safe_mode=False)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.predict(X), reference(X), rtol=1e-6)


def test_config_is_keras2_bytecode_for_a_lambda_and_a_name_for_a_module_function():
    cfg = _model(Lambda(lambda x: x + 1.0)).layers[1].get_config()
    assert cfg["function_type"] == "lambda" and cfg["module"] == __name__
    code, defaults, closure = cfg["function"]
    assert (defaults, closure) == (None, None)
    fn_code = marshal.loads(codecs.decode(code.encode("ascii"), "base64"))
    assert fn_code.co_name == "<lambda>" and fn_code.co_varnames == ("x",)
    closure_cfg = Lambda(_make_scaler(7)).get_config()
    assert closure_cfg["function"][2] == (7,)
    named = Lambda(shifted_square).get_config()
    assert (named["function"], named["function_type"]) == ("shifted_square", "function")
    assert named["output_shape_type"] == "raw" and named["output_shape"] is None


@pytest.mark.parametrize("load", [
    lambda m, p: load_model(p),
    lambda m, p: model_from_json(m.to_json()),
    lambda m, p: model_from_config(json.loads(m.to_json())),
    lambda m, p: Lambda.from_config(m.layers[1].get_config()),
], ids=["load_model", "model_from_json", "model_from_config", "Lambda.from_config"])
def test_safe_mode_refuses_bytecode_by_default(tmp_path, load):
    model = _model(Lambda(lambda x: x * 3.0))
    model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"(?s)Layer 'lambda_\d+' stores its function as "
                       r"Python bytecode.*safe_mode=False.*"
                       r"gpuseq\.config\.enable_unsafe_deserialization\(\).*"
                       r"custom_objects=\{'lambda_\d+': function\}"):
        load(model, tmp_path / "m.h5")


def test_enable_unsafe_deserialization_allows_loading_everywhere(tmp_path):
    model = _model(Lambda(lambda x: x * 3.0))
    model.save(tmp_path / "m.h5")
    assert gpuseq.config.in_safe_mode()
    gpuseq.config.enable_unsafe_deserialization()
    assert not gpuseq.config.in_safe_mode()
    np.testing.assert_allclose(load_model(tmp_path / "m.h5").predict(X), 3 * X, rtol=1e-6)
    np.testing.assert_allclose(model_from_json(model.to_json()).predict(X).shape, (2, 3))


def test_safe_mode_takes_the_function_from_custom_objects_without_running_file_code(
        tmp_path, monkeypatch):
    model = _model(Lambda(lambda x: x * 3.0, name="triple"))
    model.save(tmp_path / "m.h5")

    def no_unmarshal(*args):
        raise AssertionError("safe mode read bytecode")
    monkeypatch.setattr(function_code.marshal, "loads", no_unmarshal)
    loaded = load_model(tmp_path / "m.h5", custom_objects={"triple": lambda x: x * 5.0})
    np.testing.assert_allclose(loaded.predict(X), 5 * X, rtol=1e-6)


def test_named_function_needs_custom_objects_in_safe_mode(tmp_path):
    model = _model(Lambda(shifted_square))
    model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"shifted_square.*custom_objects="
                                         r"\{'shifted_square': shifted_square\}"):
        load_model(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5", custom_objects={"shifted_square": shifted_square})
    assert loaded.layers[1].function is shifted_square


def test_callable_output_shape_round_trips_and_is_inferred_in_safe_mode(tmp_path):
    layer = Lambda(lambda x: K.concatenate([x, x], axis=1),
                   output_shape=lambda s: (s[0], 2 * s[1]))
    model = _model(layer)
    cfg = layer.get_config()
    assert cfg["output_shape_type"] == "lambda" and cfg["output_shape_module"] == __name__
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5", safe_mode=False)
    assert loaded.layers[1].compute_output_shape((None, 3)) == (None, 6)
    assert loaded.layers[1]._output_shape((7, 3)) == (7, 6)
    with pytest.warns(UserWarning, match="infers the output shape"):
        safe = load_model(tmp_path / "m.h5", custom_objects={
            loaded.layers[1].name: lambda x: K.concatenate([x, x], axis=1)})
    assert safe.layers[1]._output_shape is None and safe.output_shape == (None, 6)


# -- configs exactly as Keras 2 wrote them ---------------------------------------------
def _keras2_dump(fn, old_format=False):
    """What Keras 2.2.4's func_dump wrote: base64 of the marshalled code (Keras before
    2.1.2: the marshalled bytes as a raw-unicode-escape string), defaults, closure."""
    raw = marshal.dumps(fn.__code__)
    code = raw.decode("raw_unicode_escape") if old_format else \
        codecs.encode(raw, "base64").decode("ascii")
    closure = [c.cell_contents for c in fn.__closure__] if fn.__closure__ else None
    return [code, list(fn.__defaults__) if fn.__defaults__ else None, closure]


def _keras2_json(function, arguments=None, output_shape=None, module="__main__"):
    """A model.to_json() of Keras 2.2.4 (TensorFlow backend) for Dense(3) + Lambda."""
    dense = {"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "batch_input_shape": [None, 3],
        "dtype": "float32", "units": 3, "activation": "linear", "use_bias": True,
        "kernel_initializer": {"class_name": "Identity", "config": {"gain": 1.0}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "bias_constraint": None}}
    lam = {"name": "lambda_1", "trainable": True, "function": function,
           "function_type": "lambda", "output_shape": None, "output_shape_type": "raw",
           "arguments": arguments or {}}
    if module is not None:
        lam.update({"module": module, "output_shape_module": None})
    if output_shape is not None:
        lam.update({"output_shape": output_shape, "output_shape_type": "lambda",
                    "output_shape_module": module})
    return json.dumps({"class_name": "Sequential", "config": {
        "name": "sequential_1", "layers": [dense, {"class_name": "Lambda", "config": lam}]},
        "keras_version": "2.2.4", "backend": "tensorflow"})


def _offset_factory(offset):
    def add_offset(x, power=2.0):
        return K.pow(K.abs(x), power) + offset
    return add_offset


@pytest.mark.parametrize("fn, arguments, reference", [
    (lambda x: K.square(x) + 1.0, None, lambda x: x ** 2 + 1),
    (lambda x, factor: x * factor, {"factor": -3.0}, lambda x: -3 * x),
    (_offset_factory(0.5), None, lambda x: np.abs(x) ** 2 + 0.5),
], ids=["lambda_using_K", "arguments", "closure_and_defaults"])
def test_loads_a_keras2_json_with_bytecode(fn, arguments, reference):
    text = _keras2_json(_keras2_dump(fn), arguments)
    with pytest.raises(ValueError, match="safe_mode=False"):
        model_from_json(text)
    model = model_from_json(text, safe_mode=False)
    np.testing.assert_allclose(model.predict(X), reference(X), rtol=1e-5)


def test_loads_keras_2_0_configs_and_their_old_bytecode_strings():
    text = _keras2_json(_keras2_dump(lambda x: x - 2.0, old_format=True), module=None)
    np.testing.assert_allclose(model_from_json(text, safe_mode=False).predict(X), X - 2,
                               rtol=1e-6)


def test_loads_a_keras2_output_shape_lambda():
    text = _keras2_json(_keras2_dump(lambda x: K.concatenate([x, x * 0.0], axis=1)),
                        output_shape=_keras2_dump(lambda s: (s[0], s[1] * 2)))
    model = model_from_json(text, safe_mode=False)
    assert model.layers[1]._output_shape((None, 3)) == (None, 6)
    np.testing.assert_allclose(model.predict(X), np.concatenate([X, 0 * X], axis=1))


def test_loads_a_keras3_lambda_config():
    code, defaults, closure = _keras2_dump(lambda x, k=4.0: x * k)
    cfg = {"name": "lambda_1", "trainable": True, "dtype": "float32",
           "function": {"class_name": "__lambda__", "config": {
               "code": code, "defaults": defaults, "closure": closure}},
           "arguments": {}}
    with pytest.raises(ValueError, match="safe_mode=False"):
        Lambda.from_config(dict(cfg))
    layer = Lambda.from_config(dict(cfg), safe_mode=False)
    np.testing.assert_allclose(K.to_host(layer(K.convert_to_tensor(X)).data), 4 * X)


def test_unreadable_bytecode_is_a_clear_error():
    text = _keras2_json(["AAAAAAAA\n", None, None])
    with pytest.raises(ValueError, match=r"cannot be read by Python 3\.\d+.*"
                                         r"custom_objects=\{'lambda_1': function\}"):
        model_from_json(text, safe_mode=False)


def test_loads_a_keras1_merge_with_a_lambda_mode():
    """Keras 1 stored a Merge layer's function mode as bytecode as well."""
    def branch(name):
        return {"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {
            "name": name, "output_dim": 3, "init": "identity", "activation": "linear",
            "bias": True, "trainable": True, "input_dim": 3,
            "batch_input_shape": [None, 3]}}]}
    merge = {"class_name": "Merge", "config": {
        "name": "merge_1", "mode": _keras2_dump(lambda xs: xs[0] * xs[1], old_format=True),
        "mode_type": "lambda", "concat_axis": -1, "dot_axes": -1, "output_shape": [3],
        "output_shape_type": "raw", "output_mask": None, "output_mask_type": "raw",
        "arguments": {}, "layers": [branch("dense_1"), branch("dense_2")]}}
    text = json.dumps({"class_name": "Sequential", "config": [merge]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)        # Keras 1 argument names
        with pytest.raises(ValueError, match=r"'merge_1' stores its merge mode as Python "
                                             r"bytecode.*safe_mode=False"):
            model_from_json(text)
        model = model_from_json(text, safe_mode=False)
    x2 = X[::-1].copy()
    np.testing.assert_allclose(model.predict([X, x2]), X * x2, rtol=1e-6)
