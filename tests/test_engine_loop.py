"""One loop for every front end, and the public steps: fit and fit_generator over the same
batches train the same weights; evaluate / predict agree with their generator forms;
train_step, test_step, predict_step and aggregate_gradients overrides are what the front
ends run. All checked by value on the NumPy backend."""
import re
import warnings

import numpy as np
import pytest

from gpuseq.engine.training import Model
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import Sequence, set_random_seed


def _data(n=40):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 5)).astype("float32")
    y = (x @ np.arange(1, 6, dtype="float32")[:, None] * 0.1).astype("float32")
    return x, y


def _model(cls=Sequential, lr=0.05):
    set_random_seed(4)
    m = cls([Dense(4, activation="tanh", input_dim=5), Dense(1)])
    m.compile(SGD(lr=lr, momentum=0.5), "mse", metrics=["mae"])
    return m


class Slices(Sequence):
    def __init__(self, x, y, size):
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]


def _slices_forever(x, y, size):
    while True:
        for i in range(0, len(x), size):
            yield x[i:i + size], y[i:i + size]


def _assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# ----------------------------------------------- the same batches, the same model
@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["generator", "sequence"])
def test_fit_and_fit_generator_over_the_same_batches_train_the_same_weights(kind, workers):
    x, y = _data()
    ref = _model()
    h_ref = ref.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    m = _model()
    source = Slices(x, y, 8) if kind == "sequence" else _slices_forever(x, y, 8)
    h = m.fit_generator(source, steps_per_epoch=5, epochs=3, shuffle=False,
                        workers=workers, verbose=0)
    _assert_same_weights(ref, m)
    assert h.history == h_ref.history


def test_fit_generator_with_validation_generator_equals_fit_with_validation_data():
    x, y = _data()
    ref = _model()
    h_ref = ref.fit(x[:32], y[:32], batch_size=8, epochs=2, shuffle=False, verbose=0,
                    validation_data=(x[32:], y[32:]))
    m = _model()
    h = m.fit_generator(_slices_forever(x[:32], y[:32], 8), steps_per_epoch=4, epochs=2,
                        validation_data=Slices(x[32:], y[32:], 32), workers=0, verbose=0)
    assert list(h.history) == ["loss", "mae", "val_loss",
                               "val_mean_absolute_error"] or \
        list(h.history) == list(h_ref.history)
    for k in h_ref.history:
        np.testing.assert_allclose(h.history[k], h_ref.history[k], rtol=1e-6)
    _assert_same_weights(ref, m)


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluate_and_predict_through_generators_equal_the_array_versions(workers):
    x, y = _data()
    m = _model()
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    ev = m.evaluate(x, y, batch_size=8, verbose=0)
    pr = m.predict(x, batch_size=8)
    for source in (Slices(x, y, 8), _slices_forever(x, y, 8)):
        np.testing.assert_allclose(
            m.evaluate_generator(source, steps=5, workers=workers), ev, rtol=1e-6)
    for source in (Slices(x, y, 8), _slices_forever(x, y, 8)):
        np.testing.assert_array_equal(
            m.predict_generator(source, steps=5, workers=workers), pr)


def test_fit_generator_uses_the_keras1_worker_names():
    x, y = _data()
    m = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit_generator(_slices_forever(x, y, 8), steps_per_epoch=5, nb_epoch=1,
                        nb_worker=0, pickle_safe=True, verbose=0)
    ref = _model()
    ref.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(ref, m)


def test_fit_generator_stops_when_the_generator_ends():
    x, y = _data()
    m = _model()

    def one_pass():
        for i in range(0, 40, 8):
            yield x[i:i + 8], y[i:i + 8]
    with pytest.warns(UserWarning, match="ran out after 5 batch"):
        h = m.fit_generator(one_pass(), steps_per_epoch=8, epochs=3, workers=0, verbose=0)
    assert h.epoch == [0]
    ref = _model()
    ref.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(ref, m)


def test_generator_class_and_sample_weights_train_as_the_array_weights():
    x, y = _data()
    labels = (y[:, 0] > 0).astype("float32")[:, None]
    sw = np.linspace(0.5, 2.0, 40).astype("float32")

    def model():
        set_random_seed(4)
        m = Sequential([Dense(1, activation="sigmoid", input_dim=5)])
        m.compile(SGD(lr=0.1), "binary_crossentropy", weighted_metrics=["acc"])
        return m

    a, b = model(), model()
    ha = a.fit(x, labels, batch_size=8, epochs=2, shuffle=False, verbose=0,
               class_weight={0: 1.0, 1: 3.0})
    hb = b.fit_generator(_slices_forever(x, labels, 8), steps_per_epoch=5, epochs=2,
                         class_weight={0: 1.0, 1: 3.0}, workers=0, verbose=0)
    assert ha.history == hb.history
    _assert_same_weights(a, b)

    def weighted():
        while True:
            for i in range(0, 40, 8):
                yield x[i:i + 8], labels[i:i + 8], sw[i:i + 8]
    a, b = model(), model()
    a.fit(x, labels, batch_size=8, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    b.fit_generator(weighted(), steps_per_epoch=5, epochs=2, workers=1, verbose=0)
    _assert_same_weights(a, b)


def test_progress_bars_count_steps_when_steps_are_given(capsys):
    x, y = _data()
    m = _model()
    m.evaluate(x, y, batch_size=8, verbose=1)
    assert re.search(r"40/40 \[=+\]", capsys.readouterr().out)
    m.evaluate(x, y, batch_size=8, steps=2, verbose=1)
    assert re.search(r"2/2 \[=+\]", capsys.readouterr().out)
    m.evaluate_generator(Slices(x, y, 8), verbose=1, workers=0)
    assert re.search(r"5/5 \[=+\]", capsys.readouterr().out)
    m.predict_generator(_slices_forever(x, y, 8), steps=3, verbose=1, workers=0)
    assert re.search(r"3/3 \[=+\]", capsys.readouterr().out)
    m.evaluate_generator(Slices(x, y, 8), workers=0)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------- public steps
def test_the_steps_take_data_tuples_and_return_logs():
    x, y = _data(8)
    a, b = _model(), _model()
    logs = a.train_step((x, y, None))
    assert set(logs) == {"loss", "mae"} and \
        all(isinstance(v, float) for v in logs.values())
    assert b.train_on_batch(x, y) == pytest.approx([logs["loss"],
                                                    logs["mae"]], rel=1e-6)
    _assert_same_weights(a, b)
    t = a.test_step((x, y))
    assert [t["loss"], t["mae"]] == pytest.approx(a.test_on_batch(x, y))
    np.testing.assert_array_equal(a.predict_step((x,)), a.predict_on_batch(x))
    np.testing.assert_array_equal(a.predict_step(x), a.predict(x))


class Counting(Sequential):
    """A train_step that only counts its calls and reports a fixed loss."""

    def train_step(self, data):
        x, y, sw = data
        self.calls = getattr(self, "calls", 0) + 1
        self.sizes = getattr(self, "sizes", []) + [len(x)]
        return {"loss": 7.0, "mae": 1.0}


def test_an_overridden_train_step_is_what_every_front_end_runs():
    x, y = _data()
    m = _model(Counting)
    before = m.get_weights()
    h = m.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert m.calls == 6 and m.sizes == [16, 16, 8] * 2
    assert h.history["loss"] == [7.0, 7.0]
    m.fit_generator(_slices_forever(x, y, 10), steps_per_epoch=3, epochs=1, verbose=0)
    assert m.calls == 9
    assert m.train_on_batch(x[:3], y[:3]) == [7.0, 1.0] and m.sizes[-1] == 3
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)


class ZeroTargets(Sequential):
    """A train_step that trains on zero targets through the inherited step."""

    def train_step(self, data):
        x, y, sw = data
        return super().train_step((x, y * 0, sw))


def test_a_train_step_override_calling_super_changes_the_training_by_value():
    x, y = _data()
    m = _model(ZeroTargets)
    m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref = _model()
    ref.fit(x, np.zeros_like(y), batch_size=8, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(ref, m)


class Doubled(Sequential):
    """Doubles every gradient in the hook between the gradients and the update."""

    def aggregate_gradients(self, grads_and_vars):
        self.hooked = getattr(self, "hooked", 0) + 1
        return [(2 * g, v) for g, v in grads_and_vars]


def test_aggregate_gradients_sits_between_the_gradients_and_the_update():
    x, y = _data()
    m = _model(Doubled, lr=0.05)
    m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    ref = _model(lr=0.1)                  # SGD: twice the gradient = twice the rate
    ref.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert m.hooked == 10
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_the_optimizer_takes_gradient_variable_pairs():
    x, y = _data(8)
    a, b = _model(), _model()
    a.train_on_batch(x, y)
    from gpuseq.backend import autodiff as ad
    loss, _, _ = b._loss_and_outputs([x], y, None, training=True)
    params = b._trainable_variables()
    b.optimizer.apply_gradients(list(zip(ad.gradients(loss, params), params)))
    _assert_same_weights(a, b)


# ------------------------------------------------------- Model as an interface
def test_model_has_no_metaclass_and_declares_the_layer_stack():
    assert type(Model) is type

    class Bare(Model):
        pass
    bare = Bare()
    assert bare.compiled is False and bare.optimizer is None
    for call, name in [(lambda: bare.build((None, 3)), "build"),
                       (lambda: bare._forward_to(None, 1, False), "_forward_to"),
                       (lambda: bare._n_inputs(), "_n_inputs"),
                       (lambda: bare.output_shape, "output_shape"),
                       (lambda: bare._trainable_variables(), "trainable_weights")]:
        with pytest.raises(NotImplementedError, match=f"Bare must (implement|define) {name}"):
            call()


def test_sequential_refuses_unknown_keywords():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['inputs'\]"):
        Sequential(inputs=None)
