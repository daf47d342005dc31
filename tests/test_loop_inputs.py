"""Bad and unusual inputs to the training loop: fit / evaluate / predict, their generator
forms and the one-batch calls.

Every refused call is checked by value: the exception type, a fragment of its message,
and that the model state (weights, optimizer state, iteration counter) is byte-identical
afterwards. Calls that once hung run under a deadline, so that a hang fails the test
instead of stopping the run. Accepted inputs are checked against the equivalent plain
call (a 1-D x against the same data as a column, a generator yielding lists against
one yielding tuples).
"""
import inspect
import re
import threading
import warnings

import numpy as np
import pytest

from gpuseq import callbacks as cbks
from gpuseq.engine import data as data_mod
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import Sequence, set_random_seed

DEADLINE_S = 60


# ------------------------------------------------------------------------- helpers
def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")).astype("float32")
    return x, y


def _model(metrics=("mae",)):
    """A built, compiled model that has taken one step, so that its optimizer holds a
    momentum state and an iteration count that a wrong step would change."""
    set_random_seed(3)
    m = Sequential([Dense(4, activation="tanh", input_dim=3), Dense(1)])
    m.compile(SGD(lr=0.05, momentum=0.9), "mse", metrics=list(metrics))
    x, y = _data()
    m.train_on_batch(x[:4], y[:4])
    return m


def _state(model):
    """Everything a training call may change, as bytes."""
    return ([w.tobytes() for w in model.get_weights()]
            + [np.asarray(w).tobytes() for w in model.optimizer.get_weights()]
            + [model.optimizer.iterations])


def _within(fn, seconds=DEADLINE_S):
    """``fn()`` in a daemon thread; a call still running after ``seconds`` fails the test
    (a hang) instead of blocking the run. Exceptions are re-raised here."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:        # noqa: B036 (handed to the test thread)
            box["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"the call did not return within {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Slices(Sequence):
    """A Sequence of ``size``-sample batches of ``(x, y)`` (no batch when x is empty)."""

    def __init__(self, x, y, size):
        self.x, self.y, self.size = x, y, size

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        s = slice(i * self.size, (i + 1) * self.size)
        return self.x[s], self.y[s]


def _batches(x, y, size, passes=None, kind=tuple):
    """A generator of ``kind((x, y))`` batches: forever, or ``passes`` passes."""
    done = 0
    while passes is None or done < passes:
        for i in range(0, len(x), size):
            yield kind((x[i:i + size], y[i:i + size]))
        done += 1


def _empty_batches():
    x, y = _data()
    while True:
        yield x[:0], y[:0]


def _exhausted():
    x, y = _data()
    g = _batches(x, y, 8, passes=1)
    list(g)
    return g


# ------------------------------------------------------------------ empty data
_x, _y = _data()
EMPTY_CASES = {
    "fit on empty arrays":
        (lambda m: m.fit(_x[:0], _y[:0], verbose=0), "fit received no samples"),
    "fit with empty validation_data":
        (lambda m: m.fit(_x, _y, validation_data=(_x[:0], _y[:0]), verbose=0),
         "validation_data"),
    "evaluate on empty arrays":
        (lambda m: m.evaluate(_x[:0], _y[:0], verbose=0), "evaluate received no samples"),
    "train_on_batch with 0 samples":
        (lambda m: m.train_on_batch(_x[:0], _y[:0]), "train_on_batch received no samples"),
    "test_on_batch with 0 samples":
        (lambda m: m.test_on_batch(_x[:0], _y[:0]), "test_on_batch received no samples"),
    "fit_generator on an empty Sequence, workers=0":
        (lambda m: m.fit_generator(Slices(_x[:0], _y[:0], 4), workers=0, verbose=0),
         "len(sequence) is 0"),
    "fit_generator on an empty Sequence, workers=2":
        (lambda m: m.fit_generator(Slices(_x[:0], _y[:0], 4), workers=2, verbose=0),
         "len(sequence) is 0"),
    "fit_generator on an empty Sequence, workers=2, use_multiprocessing=True":
        (lambda m: m.fit_generator(Slices(_x[:0], _y[:0], 4), workers=2,
                                   use_multiprocessing=True, verbose=0),
         "len(sequence) is 0"),
    "evaluate_generator on an empty Sequence":
        (lambda m: m.evaluate_generator(Slices(_x[:0], _y[:0], 4)), "len(sequence) is 0"),
    "predict_generator on an empty Sequence":
        (lambda m: m.predict_generator(Slices(_x[:0], _y[:0], 4)), "len(sequence) is 0"),
    "fit_generator over a generator yielding an empty batch":
        (lambda m: m.fit_generator(_empty_batches(), steps_per_epoch=2, workers=0,
                                   verbose=0), "fit_generator received a batch with no"),
    "fit_generator over a generator yielding an empty batch, workers=2":
        (lambda m: m.fit_generator(_empty_batches(), steps_per_epoch=2, workers=2,
                                   verbose=0), "fit_generator received a batch with no"),
    "evaluate_generator over a generator yielding an empty batch":
        (lambda m: m.evaluate_generator(_empty_batches(), steps=2, workers=0),
         "evaluate_generator received a batch with no"),
    "evaluate_generator over an exhausted generator":
        (lambda m: m.evaluate_generator(_exhausted(), steps=2, workers=0),
         "yielded no batch at all"),
    "predict_generator over an exhausted generator":
        (lambda m: m.predict_generator(_exhausted(), steps=2, workers=0),
         "yielded no batch at all"),
}


@pytest.mark.parametrize("case", list(EMPTY_CASES))
def test_no_data_is_refused_and_changes_nothing(case):
    call, fragment = EMPTY_CASES[case]
    m = _model()
    before = _state(m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=re.escape(fragment)):
            _within(lambda: call(m))
    assert _state(m) == before


@pytest.mark.parametrize("call", ["predict", "predict_on_batch"])
def test_prediction_of_no_samples_is_an_empty_array_of_the_output_shape(call):
    # Keras 2.2.4 returns an empty result here (its predict loop collects no batch);
    # gpuseq returns it with the model's output width, as NumPy slicing would.
    m = _model()
    x, _ = _data()
    out = getattr(m, call)(x[:0])
    assert isinstance(out, np.ndarray) and out.shape == (0, 1)


def test_an_empty_sequence_error_says_how_to_count_batches():
    m = _model()
    x, y = _data(n=3)
    with pytest.raises(ValueError) as info:
        m.fit_generator(Slices(x[:0], y[:0], 4), workers=0, verbose=0)
    assert "ceil" in str(info.value)


# ------------------------------------------------------- NaN and inf in the data
def _fit_with(where, value, generator=False):
    m = _model()
    x, y = _data()
    sw = np.ones(len(x), "float32")
    {"x": x, "y": y, "sample_weight": sw}[where].reshape(-1)[5] = value
    if generator:
        return m.fit_generator(iter([(x, y, sw)] * 2), steps_per_epoch=2, workers=0,
                               verbose=0)
    return m.fit(x, y, sample_weight=sw, batch_size=4, epochs=2, verbose=0)


WHAT = {"x": "Input data", "y": "Target data (y)", "sample_weight": "sample_weight"}


NON_FINITE = [(where, value, word) for where in ("x", "y", "sample_weight")
              for value, word in ((np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf"))
              if (where, value) != ("sample_weight", -np.inf)]   # negative: refused


@pytest.mark.parametrize("generator", [False, True], ids=["arrays", "generator"])
@pytest.mark.parametrize("where, value, word", NON_FINITE)
def test_nan_and_inf_in_any_array_warn_once_at_the_users_line(where, value, word, generator):
    with warnings.catch_warnings(record=True) as caught:
        # arrays are checked once per call, whatever the filter; a generator's batches
        # one by one, with one message that Python's default filter shows once
        warnings.simplefilter("default" if generator else "always")
        _fit_with(where, value, generator)
    ours = [w for w in caught if "(not finite)" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    w = ours[0]
    assert issubclass(w.category, RuntimeWarning)
    assert str(w.message).startswith(f"{WHAT[where]} contains {word} values (not finite)")
    assert w.filename == __file__           # the user's code, not gpuseq


def test_a_non_finite_warning_points_at_the_fit_call():
    m = _model()
    x, y = _data()
    x[0, 0] = np.inf
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        m.fit(x, y, verbose=0)
    w = [w for w in caught if "(not finite)" in str(w.message)][0]
    assert (w.filename, w.lineno) == (__file__, line)


def test_arrays_are_checked_once_per_call_not_once_per_batch(monkeypatch):
    m = _model()
    x, y = _data()
    seen = []
    real = data_mod.warn_non_finite
    monkeypatch.setattr(data_mod, "warn_non_finite",
                        lambda a, what: (seen.append(what), real(a, what))[1])
    m.fit(x, y, sample_weight=np.ones(len(x)), batch_size=2, epochs=3, verbose=0,
          validation_data=(x, y))
    # x, y and sample_weight of the training data, x and y of the validation data:
    # 8 batches x 3 epochs later, still five checks
    assert sorted(seen) == sorted(["Input data", "Target data (y)", "sample_weight",
                                   "Input data", "Target data (y)"])


def test_nan_and_inf_together_are_both_named():
    m = _model()
    x, y = _data()
    x[0, 0], x[1, 1] = np.nan, -np.inf
    with pytest.warns(RuntimeWarning, match=r"Input data contains NaN and inf values"):
        m.predict(x)


def test_finite_data_gives_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _fit_with("x", 1e30)
        _fit_with("sample_weight", 0.0)


# --------------------------------------------------------- running out of data
def test_fit_generator_that_runs_out_warns_at_the_users_line_and_stops(recwarn):
    x, y = _data()
    m = _model()
    ref = _model()
    before = ref.optimizer.iterations
    gen = _batches(x, y, 4, passes=1)
    line = inspect.currentframe().f_lineno + 1
    h = _within(lambda: m.fit_generator(gen, steps_per_epoch=6, epochs=3, workers=0, verbose=0))
    ran_out = [w for w in recwarn if "ran out of data" in str(w.message)]
    assert len(ran_out) == 1
    assert "ran out after 4 batch" in str(ran_out[0].message)
    assert "steps=6" in str(ran_out[0].message)
    assert (ran_out[0].filename, ran_out[0].lineno) == (__file__, line)
    assert h.epoch == [0]
    assert m.optimizer.iterations == before + 4
    ref.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("workers", [0, 1])
def test_evaluate_generator_that_runs_out_averages_what_it_got(workers):
    x, y = _data()
    m = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        got = _within(lambda: m.evaluate_generator(_batches(x[:8], y[:8], 4, passes=1),
                                                   steps=5, workers=workers))
    np.testing.assert_allclose(got, m.evaluate(x[:8], y[:8], verbose=0), rtol=1e-6)


# ------------------------------------------------------- arguments of the wrong kind
class _NotACallback:
    def on_epoch_end(self, epoch, logs=None):
        pass


ARGUMENT_CASES = {
    "class_weight with a string value": (
        lambda m, x, y: m.fit(x, y > 0, class_weight={0: "high", 1: 1.0}, verbose=0),
        ValueError, "class_weight values must be numbers"),
    "class_weight with None": (
        lambda m, x, y: m.fit(x, y > 0, class_weight={0: None, 1: 1.0}, verbose=0),
        ValueError, "class_weight values must be numbers"),
    "class_weight with NaN": (
        lambda m, x, y: m.fit(x, y > 0, class_weight={0: np.nan, 1: 1.0}, verbose=0),
        ValueError, "finite"),
    "class_weight with a negative weight": (
        lambda m, x, y: m.fit(x, y > 0, class_weight={0: -1.0, 1: 1.0}, verbose=0),
        ValueError, ">= 0"),
    "class_weight through fit_generator": (
        lambda m, x, y: m.fit_generator(_batches(x, y > 0, 4), steps_per_epoch=2,
                                        class_weight={0: "a", 1: 1}, workers=0, verbose=0),
        ValueError, "class_weight values must be numbers"),
    "train_on_batch class_weight": (
        lambda m, x, y: m.train_on_batch(x, y > 0, class_weight={0: [1], 1: 1}),
        ValueError, "class_weight values must be numbers"),
    "a sample_weight of -inf": (
        lambda m, x, y: m.fit(x, y, sample_weight=np.r_[-np.inf, np.ones(len(x) - 1)],
                              verbose=0),
        ValueError, "sample_weight values must be >= 0"),
    "a single callback": (
        lambda m, x, y: m.fit(x, y, callbacks=cbks.EarlyStopping(), verbose=0),
        TypeError, "callbacks=[EarlyStopping"),
    "a single callback to fit_generator": (
        lambda m, x, y: m.fit_generator(_batches(x, y, 4), steps_per_epoch=2, workers=0,
                                        callbacks=cbks.History(), verbose=0),
        TypeError, "a list of Callback"),
    "a non-callback object in the list": (
        lambda m, x, y: m.fit(x, y, callbacks=[cbks.History(), object()], verbose=0),
        TypeError, "callbacks[1] (object) is not a Callback"),
    "an object with some hooks but no set_model": (
        lambda m, x, y: m.fit(x, y, callbacks=[_NotACallback()], verbose=0),
        TypeError, "set_model"),
    "a callback class instead of an instance": (
        lambda m, x, y: m.fit(x, y, callbacks=[cbks.History], verbose=0),
        TypeError, "class"),
    "a string as callbacks": (
        lambda m, x, y: m.fit(x, y, callbacks="early_stopping", verbose=0),
        TypeError, "a list of Callback"),
}


@pytest.mark.parametrize("case", list(ARGUMENT_CASES))
def test_arguments_of_the_wrong_kind_are_refused_and_change_nothing(case):
    call, error, fragment = ARGUMENT_CASES[case]
    m = _model()
    x, y = _data()
    before = _state(m)
    with pytest.raises(error, match=re.escape(fragment)):
        _within(lambda: call(m, x, y))
    assert _state(m) == before


def test_a_refused_callbacks_argument_leaves_the_generator_unread():
    x, y = _data()
    m = _model()
    gen = _batches(x, y, 4)
    with pytest.raises(TypeError):
        m.fit_generator(gen, steps_per_epoch=2, callbacks=cbks.History(), workers=0,
                        verbose=0)
    first_x, _ = next(gen)
    np.testing.assert_array_equal(first_x, x[:4])


def test_valid_class_weights_of_numpy_numbers_train_as_python_numbers():
    x, y = _data()
    labels = (y > 0).astype("float32")
    a, b = _model(), _model()
    a.fit(x, labels, class_weight={0: 1.0, 1: 3}, batch_size=4, shuffle=False, verbose=0)
    b.fit(x, labels, class_weight={0: np.float32(1.0), 1: np.int64(3)}, batch_size=4,
          shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("argument, value", [
    ("metrics", "accuracy"),
    ("metrics", "mae"),
    ("weighted_metrics", "acc"),
    ("metrics", len),
])
def test_metrics_not_given_as_a_list_are_refused_as_keras_does(argument, value):
    m = _model(metrics=("mae",))
    opt = m.optimizer
    with pytest.raises(TypeError, match=rf"`{argument}` argument not understood.*"
                                        rf"Expected a list"):
        m.compile("sgd", "mse", **{argument: value})
    assert m.optimizer is opt and m.metrics_names == ["loss", "mae"]


@pytest.mark.parametrize("metrics", [None, [], ("mae",), ["mae"], {"dense_2": "mae"},
                                     {"dense_2": ["mae"]}])
def test_metrics_as_list_tuple_or_dict_are_accepted(metrics):
    set_random_seed(3)
    m = Sequential([Dense(4, input_dim=3, name="dense_1"), Dense(1, name="dense_2")])
    m.compile("sgd", "mse", metrics=metrics)
    x, y = _data()
    out = m.evaluate(x, y, verbose=0)
    assert m.metrics_names == (["loss", "mae"] if metrics else ["loss"])
    assert np.size(out) == len(m.metrics_names)


# ------------------------------------------------------ KeyboardInterrupt during fit
class _InterruptAt(cbks.Callback):
    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    def on_batch_end(self, batch, logs=None):
        if batch == self.batch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("source", ["arrays", "generator, workers=2"])
def test_keyboard_interrupt_in_fit_leaves_a_usable_model(source):
    x, y = _data()
    m = _model()
    threads = threading.active_count()
    start = m.optimizer.iterations
    with pytest.raises(KeyboardInterrupt):
        if source == "arrays":
            m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0,
                  callbacks=[_InterruptAt(2)])
        else:
            _within(lambda: m.fit_generator(_batches(x, y, 4), steps_per_epoch=4, epochs=2,
                                            workers=2, verbose=0,
                                            callbacks=[_InterruptAt(2)]))
    # three whole steps were taken, exactly as a run of three batches takes them
    assert m.optimizer.iterations == start + 3
    ref = _model()
    ref.fit(x[:12], y[:12], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights() + ref.optimizer.get_weights(),
                    m.get_weights() + m.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(w).all() for w in m.get_weights())
    # no reader thread is left behind, and training goes on
    for _ in range(50):
        if threading.active_count() <= threads:
            break
        threading.Event().wait(0.1)
    assert threading.active_count() <= threads
    loss0 = m.evaluate(x, y, verbose=0)[0]
    h = m.fit(x, y, batch_size=4, epochs=5, verbose=0)
    assert h.history["loss"][-1] < loss0
    assert m.optimizer.iterations == start + 3 + 20


# ------------------------------------------------------------- Keras 2 data forms
def _one_input_model(input_dim=1):
    set_random_seed(1)
    m = Sequential([Dense(1, input_dim=input_dim)] if input_dim else [Dense(1)])
    m.compile(SGD(lr=0.1), "mse")
    return m


@pytest.mark.parametrize("input_dim", [1, None], ids=["input_dim=1", "built by fit"])
def test_a_1d_x_is_read_as_one_feature_per_sample(input_dim):
    x = np.linspace(-1, 1, 32).astype("float32")
    a = _one_input_model(input_dim)
    a.fit(x, 2 * x, batch_size=8, epochs=40, shuffle=False, verbose=0)
    b = _one_input_model(input_dim)
    b.fit(x[:, None], 2 * x[:, None], batch_size=8, epochs=40, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_allclose(a.get_weights()[0], [[2.0]], atol=0.05)   # it learnt y = 2x
    np.testing.assert_array_equal(a.predict(x), b.predict(x[:, None]))
    assert a.predict(x).shape == (32, 1)
    assert a.evaluate(x, 2 * x, verbose=0) == b.evaluate(x[:, None], 2 * x[:, None],
                                                        verbose=0)
    np.testing.assert_array_equal(a.predict_on_batch(x[:3]), b.predict_on_batch(x[:3, None]))


def test_a_1d_x_for_a_model_with_several_features_says_how_it_was_read():
    m = _one_input_model(input_dim=3)
    before = _state(m)
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 3\)") as info:
        m.fit(np.zeros(8, "float32"), np.zeros(8, "float32"), verbose=0)
    assert "1-D input data of shape (8,) is read as (8, 1)" in str(info.value)
    assert _state(m) == before


@pytest.mark.parametrize("kind", [list, tuple])
@pytest.mark.parametrize("weighted", [False, True])
def test_a_generator_may_yield_lists(kind, weighted):
    x, y = _data()
    w = np.linspace(0.5, 2, len(x)).astype("float32")

    def batches():
        while True:
            for i in range(0, 16, 4):
                s = slice(i, i + 4)
                yield kind((x[s], y[s], w[s]) if weighted else (x[s], y[s]))
    m = _model()
    m.fit_generator(batches(), steps_per_epoch=4, epochs=2, workers=0, verbose=0)
    ref = _model()
    ref.fit(x, y, sample_weight=w if weighted else None, batch_size=4, epochs=2,
            shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    got = m.evaluate_generator(iter([kind((x, y))]), steps=1, workers=0)
    np.testing.assert_allclose(got, m.evaluate(x, y, verbose=0), rtol=1e-6)


def test_a_generator_yielding_a_list_of_the_wrong_length_is_refused():
    x, y = _data()
    m = _model()
    before = _state(m)
    with pytest.raises(ValueError, match="list of length 4"):
        m.fit_generator(iter([[x, y, y, y]]), steps_per_epoch=1, workers=0, verbose=0)
    assert _state(m) == before


# ----------------------------------------------------- Keras 1 warnings point at the user
@pytest.mark.parametrize("call", ["fit", "fit_generator", "fit_generator samples"])
def test_keras1_warnings_point_at_the_users_call(call):
    x, y = _data()
    m = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if call == "fit":
            line = inspect.currentframe().f_lineno + 1
            m.fit(x, y, nb_epoch=1, verbose=0)
        elif call == "fit_generator":
            line = inspect.currentframe().f_lineno + 1
            m.fit_generator(_batches(x, y, 4), 4, nb_epoch=1, nb_worker=0, verbose=0)
        else:
            gen = _batches(x, y, 4)
            line = inspect.currentframe().f_lineno + 1
            m.fit_generator(gen, samples_per_epoch=16, epochs=1, workers=0, verbose=0)
    keras1 = [w for w in caught if "Keras 2" in str(w.message)]
    assert keras1
    assert all((w.filename, w.lineno) == (__file__, line) for w in keras1), \
        [(w.filename, w.lineno, str(w.message)) for w in keras1]


def test_large_finite_values_whose_sum_overflows_give_no_warning():
    big = np.full((4, 3), 3e38, "float32")          # the float32 sum is inf
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data_mod.warn_non_finite(big, "Input data")


def test_checks_hold_on_every_backend(backend):
    m = _model()
    x, y = _data()
    before = _state(m)
    with pytest.raises(ValueError, match="train_on_batch received no samples"):
        m.train_on_batch(x[:0], y[:0])
    assert _state(m) == before
    y[3, 0] = np.inf
    with pytest.warns(RuntimeWarning, match=r"Target data \(y\) contains inf values"):
        m.fit(x, y, batch_size=8, verbose=0)
    assert m.optimizer.iterations == before[-1] + 2
