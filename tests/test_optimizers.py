"""Optimizers: one hand-computed step each, multi-step trajectories against the
Keras 2 formulas of tests/reference.py, decay, clipping, the
lr variable, names/arguments/errors, config and state, and exact resumption."""
import math

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq import optimizers
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.callbacks import LearningRateScheduler
from gpuseq.layers import Dense
from gpuseq.models import Sequential
from _gradcheck import one_blas_thread  # noqa: F401
from gpuseq.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, RMSprop

from reference import ref_trajectory


def _step(opt, p0, g):
    """Apply one step to a float64 weight; return the new value."""
    p = ad.Variable(np.array(p0, dtype=np.float64))
    opt.apply_gradients(zip([np.array(g, dtype=np.float64)], [p]))
    return p.data


# -- one step, computed by hand ---------------------------------------------------------------

def test_sgd_step_by_hand():
    assert _step(SGD(lr=0.1), [1.0], [0.5])[0] == pytest.approx(0.95, abs=1e-15)
    opt = SGD(lr=0.1, momentum=0.9)
    p = ad.Variable(np.array([1.0]))
    opt.apply_gradients(zip([np.array([0.5])], [p]))      # v = -0.05, p = 0.95
    opt.apply_gradients(zip([np.array([0.5])], [p]))      # v = 0.9*-0.05 - 0.05 = -0.095
    assert p.data[0] == pytest.approx(0.95 - 0.095, abs=1e-15)
    # Nesterov: p + 0.9*v - lr*g with v = -0.05
    assert _step(SGD(lr=0.1, momentum=0.9, nesterov=True), [1.0], [0.5])[0] == \
        pytest.approx(1 - 0.045 - 0.05, abs=1e-15)


def test_rmsprop_step_by_hand():
    # a = 0.1 * 0.25 = 0.025;  p = 1 - 0.001 * 0.5 / (sqrt(0.025) + 1e-7)
    assert _step(RMSprop(), [1.0], [0.5])[0] == \
        pytest.approx(1 - 0.001 * 0.5 / (0.15811388300841897 + 1e-7), abs=1e-15)


def test_adagrad_step_by_hand():
    # accumulator starts at 0: a = 0.25;  p = 1 - 0.01 * 0.5 / (0.5 + 1e-7)
    assert _step(Adagrad(), [1.0], [0.5])[0] == pytest.approx(1 - 0.01 * 0.5 / 0.5000001,
                                                              abs=1e-15)


def test_adadelta_step_by_hand():
    # a = 0.05 * 0.25 = 0.0125;  u = 0.5 * sqrt(1e-7) / sqrt(0.0125 + 1e-7);  p = 1 - 1.0 * u
    u = 0.5 * math.sqrt(1e-7) / math.sqrt(0.0125001)
    opt = Adadelta()
    p = ad.Variable(np.array([1.0]))
    opt.apply_gradients(zip([np.array([0.5])], [p]))
    assert p.data[0] == pytest.approx(1 - u, abs=1e-15)
    # d = 0.05 * u^2 feeds the second step
    d = 0.05 * u * u
    a = 0.95 * 0.0125 + 0.05 * 0.25
    u2 = 0.5 * math.sqrt(d + 1e-7) / math.sqrt(a + 1e-7)
    opt.apply_gradients(zip([np.array([0.5])], [p]))
    assert p.data[0] == pytest.approx(1 - u - u2, abs=1e-15)


def test_adam_step_by_hand():
    # m = 0.05, v = 0.00025, lr_t = 0.001 * sqrt(1 - 0.999) / (1 - 0.9)
    lr_t = 0.001 * math.sqrt(0.001) / 0.1
    expected = 1 - lr_t * 0.05 / (math.sqrt(0.00025) + 1e-7)
    assert _step(Adam(), [1.0], [0.5])[0] == pytest.approx(expected, abs=1e-15)
    assert _step(Adam(amsgrad=True), [1.0], [0.5])[0] == pytest.approx(expected, abs=1e-15)


def test_amsgrad_uses_the_running_maximum():
    opt = Adam(lr=0.1, amsgrad=True)
    p = ad.Variable(np.array([0.0]))
    opt.apply_gradients(zip([np.array([1.0])], [p]))
    p1 = p.data[0]
    opt.apply_gradients(zip([np.array([0.0])], [p]))
    m2, v2 = 0.9 * 0.1, 0.999 * 0.001
    vhat = max(0.001, v2)
    lr_t = 0.1 * math.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2)
    assert p.data[0] == pytest.approx(p1 - lr_t * m2 / (math.sqrt(vhat) + 1e-7), abs=1e-15)


def test_adamax_step_by_hand():
    # m = 0.05, u = max(0, 0.5) = 0.5, lr_t = 0.002 / 0.1 = 0.02
    assert _step(Adamax(), [1.0], [0.5])[0] == pytest.approx(1 - 0.02 * 0.05 / 0.5000001,
                                                             abs=1e-15)


def test_nadam_step_by_hand():
    mc1 = 0.9 * (1 - 0.5 * 0.96 ** 0.004)
    mc2 = 0.9 * (1 - 0.5 * 0.96 ** 0.008)
    g = 0.5
    g_prime = g / (1 - mc1)
    m_prime = 0.1 * g / (1 - mc1 * mc2)
    v_prime = 0.001 * g * g / (1 - 0.999)
    m_bar = (1 - mc1) * g_prime + mc2 * m_prime
    expected = 1 - 0.002 * m_bar / (math.sqrt(v_prime) + 1e-7)
    assert _step(Nadam(), [1.0], [g])[0] == pytest.approx(expected, abs=1e-15)


def test_keras2_defaults():
    assert (float(SGD().lr), SGD().momentum, SGD().nesterov) == (0.01, 0.0, False)
    assert (float(RMSprop().lr), RMSprop().rho, RMSprop().epsilon) == (0.001, 0.9, 1e-7)
    assert (float(Adagrad().lr), Adagrad().epsilon) == (0.01, 1e-7)
    assert (float(Adadelta().lr), Adadelta().rho, Adadelta().epsilon) == (1.0, 0.95, 1e-7)
    a = Adam()
    assert (float(a.lr), a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == \
        (0.001, 0.9, 0.999, 1e-7, False)
    assert float(Adamax().lr) == 0.002
    n = Nadam()
    assert (float(n.lr), n.schedule_decay, n.epsilon) == (0.002, 0.004, 1e-7)
    for o in (SGD(), RMSprop(), Adam()):
        assert float(o.decay) == 0.0 and o.iterations == 0


# -- trajectories against the Keras 2 formulas of tests/reference.py --------------------------

TRAJ = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.05, "momentum": 0.9}),
    ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "decay": 0.1}),
    ("rmsprop", {"lr": 0.01}),
    ("rmsprop", {"lr": 0.01, "rho": 0.8, "decay": 0.05, "clipnorm": 1.0}),
    ("adagrad", {"lr": 0.1}),
    ("adagrad", {"lr": 0.1, "decay": 0.2, "clipvalue": 0.3}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.9, "decay": 0.01}),
    ("adam", {"lr": 0.01}),
    ("adam", {"lr": 0.01, "amsgrad": True, "decay": 0.05}),
    ("adam", {"lr": 0.01, "clipnorm": 0.5, "clipvalue": 0.2}),
    ("adamax", {"lr": 0.02}),
    ("adamax", {"lr": 0.02, "decay": 0.1}),
    ("nadam", {"lr": 0.01}),
    ("nadam", {"lr": 0.01, "schedule_decay": 0.01, "clipnorm": 2.0}),
]


def _problem():
    rng = np.random.default_rng(3)
    shapes = [(4, 3), (3,)]
    A = [rng.normal(size=(s[0] if len(s) > 1 else s[0],) * 2) for s in shapes]
    b = [rng.normal(size=s) for s in shapes]
    p0 = [rng.normal(size=s) for s in shapes]

    def grad_fn(ps):
        # gradient of 0.5 * ||A p - b||^2 (column-wise for the matrix), depends on p
        return [A[i].T @ (A[i] @ p - b[i]) for i, p in enumerate(ps)]
    return p0, grad_fn


@pytest.mark.parametrize("kind,cfg", TRAJ, ids=[f"{k}-{'-'.join(c) or 'default'}"
                                                for k, c in TRAJ])
def test_trajectory_matches_keras2_reference(kind, cfg):
    p0, grad_fn = _problem()
    steps = 25
    opt = optimizers.get(kind).__class__(**cfg)
    params = [ad.Variable(p.copy()) for p in p0]
    for _ in range(steps):
        opt.apply_gradients(zip(grad_fn([p.data for p in params]), params))
    ref = ref_trajectory(kind, cfg, p0, grad_fn, steps)
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got.data, want, rtol=1e-10, atol=1e-12)
    assert opt.iterations == steps
    assert not np.allclose(ref[0], p0[0])      # it moved


def test_time_decay_of_the_learning_rate():
    opt = SGD(lr=1.0, decay=0.5)
    p = ad.Variable(np.array([0.0]))
    seen = []
    for _ in range(3):
        before = p.data[0]
        opt.apply_gradients(zip([np.array([1.0])], [p]))
        seen.append(before - p.data[0])
    np.testing.assert_allclose(seen, [1.0, 1 / 1.5, 1 / 2.0])


def test_clipnorm_uses_the_global_norm_of_all_gradients():
    opt = SGD(lr=1.0, clipnorm=1.0)
    a, b = ad.Variable(np.zeros(2)), ad.Variable(np.zeros((1, 1)))
    opt.apply_gradients(zip([np.array([3.0, 0.0]), np.array([[4.0]])], [a, b]))
    np.testing.assert_allclose(a.data, [-0.6, 0.0])
    np.testing.assert_allclose(b.data, [[-0.8]])
    opt = SGD(lr=1.0, clipnorm=10.0)                    # below the threshold: unchanged
    a = ad.Variable(np.zeros(2))
    opt.apply_gradients(zip([np.array([3.0, 4.0])], [a]))
    np.testing.assert_allclose(a.data, [-3.0, -4.0])


def test_clipvalue_clips_elements_after_clipnorm():
    opt = SGD(lr=1.0, clipvalue=0.5)
    a = ad.Variable(np.zeros(3))
    opt.apply_gradients(zip([np.array([2.0, -0.2, -7.0])], [a]))
    np.testing.assert_allclose(a.data, [-0.5, 0.2, 0.5])
    opt = SGD(lr=1.0, clipnorm=1.0, clipvalue=0.7)
    a = ad.Variable(np.zeros(2))
    opt.apply_gradients(zip([np.array([3.0, 4.0])], [a]))     # -> [0.6, 0.8] -> [0.6, 0.7]
    np.testing.assert_allclose(a.data, [-0.6, -0.7])


def test_lr_is_a_variable_like_keras():
    opt = SGD(lr=0.1)
    p = ad.Variable(np.array([0.0]))
    opt.apply_gradients(zip([np.array([1.0])], [p]))
    K.set_value(opt.lr, 1.0)
    assert K.get_value(opt.lr) == pytest.approx(1.0)
    opt.apply_gradients(zip([np.array([1.0])], [p]))
    assert p.data[0] == pytest.approx(-1.1)
    opt.lr = 0.5
    opt.learning_rate = 0.25
    assert float(opt.lr) == 0.25 and opt.lr == 0.25 and opt.lr * 4 == 1.0
    with pytest.raises(ValueError, match=r"invalid value for `lr`.*>= 0.*lr=-1"):
        K.set_value(opt.lr, -1)


def test_learning_rate_scheduler_callback_drives_the_lr(digits):
    x, y = digits
    m = Sequential([Dense(10, input_dim=64, activation="softmax")])
    m.compile(SGD(lr=0.5), "sparse_categorical_crossentropy")
    w0 = m.get_weights()
    m.fit(x[:64], y[:64], epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda e: 0.0)])
    assert K.get_value(m.optimizer.lr) == 0.0
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- names, arguments and errors ---------------------------------------------------------------

@pytest.mark.parametrize("name,cls", [("sgd", SGD), ("SGD", SGD), ("rmsprop", RMSprop),
                                      ("RMSprop", RMSprop), ("adagrad", Adagrad),
                                      ("Adadelta", Adadelta), ("Adam", Adam), ("adam", Adam),
                                      ("ADAMAX", Adamax), ("nadam", Nadam)])
def test_names_are_case_insensitive(name, cls):
    assert type(optimizers.get(name)) is cls


def test_unknown_names_and_arguments_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown optimizer.*'Adam'.*'SGD'.*"
                                         r"Received: optimizer='adamw'"):
        optimizers.get("adamw")
    with pytest.raises(TypeError, match=r"SGD got unexpected keyword argument\(s\) 'mommentum'"
                                        r".*Valid arguments: lr, momentum, decay, nesterov, "
                                        r"learning_rate, clipnorm, clipvalue"):
        SGD(mommentum=0.9)
    with pytest.raises(TypeError, match=r"Nadam has no `decay`"):
        Nadam(decay=0.01)
    with pytest.raises(TypeError, match=r"either `lr` or `learning_rate`"):
        Adam(lr=0.1, learning_rate=0.1)
    with pytest.raises(ValueError, match=r"Could not interpret optimizer.*Received: optimizer=3"):
        optimizers.get(3)


@pytest.mark.parametrize("make,match", [
    (lambda: SGD(lr=-0.1), r"SGD: invalid value for `lr`.*Received: lr=-0.1"),
    (lambda: SGD(momentum=-1), r"`momentum`"),
    (lambda: SGD(decay=float("nan")), r"`decay`"),
    (lambda: Adam(beta_1=1.0), r"`beta_1`: expected a number in \[0, 1\)"),
    (lambda: RMSprop(rho=1.5), r"`rho`: expected a number in \[0, 1\]"),
    (lambda: Adagrad(epsilon=-1e-7), r"`epsilon`"),
    (lambda: SGD(clipnorm=-1), r"`clipnorm`"),
    (lambda: Adam(lr="fast"), r"`lr`"),
])
def test_invalid_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_learning_rate_spelling_and_keras3_config():
    assert float(Adam(learning_rate=0.02).lr) == 0.02
    assert float(SGD(0.3).lr) == 0.3
    opt = Adam.from_config({"name": "adam", "learning_rate": 0.005, "beta_1": 0.8,
                            "weight_decay": None, "use_ema": False, "ema_momentum": 0.99,
                            "global_clipnorm": None, "clipnorm": 1.0})
    assert (float(opt.lr), opt.beta_1, opt.clipnorm) == (0.005, 0.8, 1.0)
    with pytest.raises(TypeError, match="weight_decay"):
        Adam.from_config({"learning_rate": 0.005, "weight_decay": 0.004})
    assert SGD(global_clipnorm=2.0).clipnorm == 2.0


@pytest.mark.parametrize("opt", [SGD(lr=0.2, momentum=0.5, decay=0.01, nesterov=True,
                                     clipnorm=1.0), RMSprop(rho=0.8, epsilon=1e-6),
                                 Adagrad(clipvalue=0.5), Adadelta(lr=0.5), Adam(amsgrad=True),
                                 Adamax(beta_2=0.99), Nadam(schedule_decay=0.01)])
def test_config_round_trip(opt):
    cfg = opt.get_config()
    assert "lr" in cfg
    again = type(opt).from_config(cfg)
    assert again.get_config() == cfg
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is type(opt) and again.get_config() == cfg


# -- state --------------------------------------------------------------------------------------

def _two_params():
    return [ad.Variable(np.ones((2, 3))), ad.Variable(np.ones(3))]


@pytest.mark.parametrize("opt,slots", [(SGD(), 0), (SGD(momentum=0.9), 1), (RMSprop(), 1),
                                       (Adagrad(), 1), (Adadelta(), 2), (Adam(), 2),
                                       (Adam(amsgrad=True), 3), (Adamax(), 2)])
def test_get_weights_layout(opt, slots):
    ps = _two_params()
    opt.apply_gradients(zip([np.full((2, 3), 0.5), np.full(3, 0.25)], ps))
    w = opt.get_weights()
    assert len(w) == 1 + 2 * slots and int(w[0]) == 1
    assert [a.shape for a in w[1:]] == [(2, 3), (3,)] * slots


def test_nadam_state_holds_the_momentum_schedule():
    opt = Nadam()
    ps = _two_params()
    for _ in range(3):
        opt.apply_gradients(zip([np.full((2, 3), 0.5), np.full(3, 0.25)], ps))
    w = opt.get_weights()
    ms = 1.0
    for t in (1, 2, 3):
        ms *= 0.9 * (1 - 0.5 * 0.96 ** (t * 0.004))
    assert len(w) == 2 + 4 and int(w[0]) == 3 and float(w[1]) == pytest.approx(ms, rel=1e-15)


def test_set_weights_checks_and_accepts_keras_224_layouts():
    opt = RMSprop()
    ps = _two_params()
    opt.apply_gradients(zip([np.full((2, 3), 0.5), np.full(3, 0.25)], ps))
    with pytest.raises(ValueError, match=r"expects 3 arrays .*received 4"):
        opt.set_weights(opt.get_weights() + [np.zeros(3)])
    with pytest.raises(ValueError, match=r"'accumulator' state of weight .* shape \(3,\)"):
        opt.set_weights([np.array(1), np.zeros((2, 3)), np.zeros(4)])
    opt.set_weights([np.full((2, 3), 2.0), np.full(3, 3.0)])      # Keras 2.2.4: no iterations
    assert opt.iterations == 0 and opt.get_weights()[2].tolist() == [3.0, 3.0, 3.0]
    adam = Adam()
    adam.apply_gradients(zip([np.full((2, 3), 0.5), np.full(3, 0.25)], ps))
    w = adam.get_weights()
    adam.set_weights(w + [np.zeros(1), np.zeros(1)])              # Keras 2.2 unused vhats
    assert len(adam.get_weights()) == 5


def _mlp():
    return Sequential([Dense(16, input_dim=64, activation="tanh"),
                       Dense(10, activation="softmax")])


RESUME = [SGD(lr=0.1, momentum=0.9, nesterov=True, decay=1e-3), SGD(lr=0.1),
          RMSprop(decay=0.01), Adagrad(clipnorm=1.0), Adadelta(),
          Adam(amsgrad=True, decay=1e-3), Adamax(clipvalue=0.1), Nadam()]


@pytest.mark.parametrize("opt", RESUME, ids=lambda o: type(o).__name__)
def test_resumed_training_continues_exactly(digits, opt):
    x, y = digits
    x, y = x[:160], y[:160]
    init = _mlp()
    w0 = init.get_weights()
    cfg = optimizers.serialize(opt)

    def fit(model, epochs):
        model.fit(x, y, batch_size=40, epochs=epochs, shuffle=False, verbose=0)

    # uninterrupted: 2 + 2 epochs
    a = _mlp()
    a.set_weights(w0)
    a.compile(optimizers.deserialize(cfg), "sparse_categorical_crossentropy")
    fit(a, 4)
    # interrupted after 2 epochs: save weights, optimizer state and config
    b = _mlp()
    b.set_weights(w0)
    b.compile(optimizers.deserialize(cfg), "sparse_categorical_crossentropy")
    fit(b, 2)
    saved_w, saved_ow = b.get_weights(), b.optimizer.get_weights()
    # a new model and a new optimizer continue
    c = _mlp()
    c.compile(optimizers.deserialize(cfg), "sparse_categorical_crossentropy")
    c.set_weights(saved_w)
    c.optimizer.set_weights(saved_ow)
    assert c.optimizer.iterations == 8
    fit(c, 2)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)
    for sa, sc in zip(a.optimizer.get_weights(), c.optimizer.get_weights()):
        np.testing.assert_array_equal(sa, sc)


def test_state_given_before_the_model_is_built_is_applied_on_the_first_step(digits):
    x, y = digits
    x, y = x[:80], y[:80]
    a = _mlp()
    w0 = a.get_weights()
    a.compile(Adam(lr=0.01), "sparse_categorical_crossentropy")
    a.fit(x, y, batch_size=40, epochs=2, shuffle=False, verbose=0)
    b = _mlp()
    b.set_weights(w0)
    b.compile(Adam(lr=0.01), "sparse_categorical_crossentropy")
    b.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    # the new model has no input shape: compile cannot create the optimizer state yet
    c = Sequential([Dense(16, activation="tanh"), Dense(10, activation="softmax")])
    opt = Adam(lr=0.01)
    c.compile(opt, "sparse_categorical_crossentropy")
    opt.set_weights(b.optimizer.get_weights())
    assert opt.iterations == 2
    c.build((None, 64))
    c.set_weights(b.get_weights())
    c.fit(x, y, batch_size=40, epochs=1, shuffle=False, verbose=0)
    for wa, wc in zip(a.get_weights(), c.get_weights()):
        np.testing.assert_array_equal(wa, wc)


# -- every backend: the update launches agree with NumPy ---------------------------------------

@pytest.mark.parametrize("make", [lambda: SGD(lr=0.1, momentum=0.9, nesterov=True),
                                  lambda: RMSprop(), lambda: Adagrad(), lambda: Adadelta(),
                                  lambda: Adam(), lambda: Adam(amsgrad=True),
                                  lambda: Adamax(), lambda: Nadam(clipnorm=0.5)])
def test_updates_on_the_active_backend_match_numpy(backend, make):
    rng = np.random.default_rng(0)
    p0 = [rng.normal(size=(5, 3)).astype("float32"), rng.normal(size=3).astype("float32")]
    gs = [[rng.normal(size=p.shape).astype("float32") for p in p0] for _ in range(3)]

    def run():
        opt = make()
        ps = [ad.Variable(dispatch.to_device(p.copy())) for p in p0]
        for g in gs:
            opt.apply_gradients(zip([dispatch.to_device(a) for a in g], ps))
        return [dispatch.to_host(p.data) for p in ps]

    got = run()
    with dispatch.use_backend("numpy"):
        want = run()
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- the public step and state seams ----------------------------------------------------------

def _two_weights():
    a = ad.Variable(np.array([1.0, -2.0]), name="dense_1/kernel:0")
    b = ad.Variable(np.array([[0.5], [4.0]]), name="dense_1/bias:0")
    return a, b


def test_apply_gradients_takes_gradient_variable_pairs():
    a, b = _two_weights()
    opt = SGD(lr=0.1, momentum=0.5)
    opt.apply_gradients(zip([np.array([1.0, 2.0]), np.array([[2.0], [-4.0]])], [a, b]))
    np.testing.assert_array_equal(a.data, [1.0 - 0.1, -2.0 - 0.2])
    np.testing.assert_array_equal(b.data, [[0.5 - 0.2], [4.0 + 0.4]])
    # a list of tuples works the same; a None gradient leaves its weight as it is
    opt.apply_gradients([(np.array([1.0, 0.0]), a), (None, b)])
    v = 0.5 * -0.1 - 0.1                          # momentum * v - lr * g
    np.testing.assert_allclose(a.data, [0.9 + v, -2.2 + 0.5 * -0.2], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(b.data, [[0.3], [4.4]])
    assert opt.iterations == 2
    opt.apply_gradients([(None, a)])              # nothing to do: not a step
    assert opt.iterations == 2


def test_apply_gradients_clips_over_the_pairs_given():
    a, b = _two_weights()
    SGD(lr=1.0, clipnorm=1.0).apply_gradients([(np.array([3.0, 0.0]), a),
                                                (np.array([[4.0], [0.0]]), b)])
    np.testing.assert_allclose(a.data, [1.0 - 0.6, -2.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.data, [[0.5 - 0.8], [4.0]], rtol=0, atol=1e-15)


@pytest.mark.parametrize("make_pairs,error,match", [
    (lambda a, b: 3, TypeError, r"iterable of \(gradient, variable\) pairs.*Received: "
                                r"grads_and_vars=3"),
    (lambda a, b: [a, b], TypeError, r"item 0 is not a pair"),
    (lambda a, b: [(np.ones(2), a), (np.ones((2, 1)), b.data)], TypeError,
     r"second element of pair 1 must be a weight Variable"),
    (lambda a, b: [(np.ones(2), a), (np.ones(2), b)], ValueError,
     r"gradient of weight 'dense_1/bias:0' must have its shape \(2, 1\).*"
     r"Received: gradient.shape=\(2,\)"),
    (lambda a, b: [(np.ones(2), a), (np.ones(2), a)], ValueError,
     r"same variable in more than one pair"),
], ids=["not_iterable", "not_pairs", "not_a_variable", "wrong_shape", "twice"])
def test_apply_gradients_refuses_bad_pairs_and_changes_nothing(make_pairs, error, match):
    a, b = _two_weights()
    opt = Adam(lr=0.1)
    opt.apply_gradients([(np.ones(2), a), (np.ones((2, 1)), b)])
    before = [a.data.copy(), b.data.copy()], opt.get_weights()
    with pytest.raises(error, match=match):
        opt.apply_gradients(make_pairs(a, b))
    np.testing.assert_array_equal(a.data, before[0][0])
    np.testing.assert_array_equal(b.data, before[0][1])
    for x, y in zip(opt.get_weights(), before[1]):
        np.testing.assert_array_equal(x, y)


def test_state_arrays_are_live_in_get_weights_order_with_names():
    a, b = _two_weights()
    opt = Adam(lr=0.1)
    for g in (1.0, -0.5):
        opt.apply_gradients([(np.full(2, g), a), (np.full((2, 1), 2 * g), b)])
    state = opt.state_arrays()
    assert opt.state_names() == ["dense_1/kernel_m", "dense_1/bias_m",
                                 "dense_1/kernel_v", "dense_1/bias_v"]
    assert [s.shape for s in state] == [(2,), (2, 1), (2,), (2, 1)]
    # m after two steps with g then -g/2: 0.1 * (0.9 * g - 0.5 g)
    np.testing.assert_allclose(state[0], 0.1 * (0.9 * 1.0 - 0.5), rtol=1e-12)
    np.testing.assert_allclose(state[3], 0.001 * (0.999 * 4.0 + 1.0), rtol=1e-12)
    weights = opt.get_weights()
    assert [int(w) for w in opt.host_state()] == [2] == [int(weights[0])]
    for s, w in zip(state, weights[1:]):
        np.testing.assert_array_equal(s, w)
    state[1][...] = 7.0                               # live: the optimizer sees it
    np.testing.assert_array_equal(opt.get_weights()[2], np.full((2, 1), 7.0))
    # SGD without momentum keeps nothing between steps
    sgd = SGD(lr=0.1)
    sgd.apply_gradients([(np.ones(2), a)])
    assert sgd.state_arrays() == [] and sgd.state_names() == []


def test_state_round_trip_continues_bitwise():
    a, b = _two_weights()
    opt = Nadam(lr=0.01)
    grads = [[(np.full(2, 0.3 * k), None), (np.full((2, 1), -0.2 * k), None)]
             for k in range(1, 6)]
    for g in grads[:2]:
        opt.apply_gradients([(g[0][0], a), (g[1][0], b)])
    a2, b2 = ad.Variable(a.data.copy(), name=a.name), ad.Variable(b.data.copy(), name=b.name)
    copy = Nadam.from_config(opt.get_config())
    copy.build([a2, b2])
    copy.set_weights(opt.get_weights())
    assert len(copy.host_state()) == 2
    assert float(copy.host_state()[1]) == opt.m_schedule
    for g in grads[2:]:
        opt.apply_gradients([(g[0][0], a), (g[1][0], b)])
        copy.apply_gradients([(g[0][0], a2), (g[1][0], b2)])
    np.testing.assert_array_equal(a2.data, a.data)
    np.testing.assert_array_equal(b2.data, b.data)
    for x, y in zip(copy.state_arrays(), opt.state_arrays()):
        np.testing.assert_array_equal(x, y)


def _nadam_second_step():
    mu = [0.9 * (1 - 0.5 * 0.96 ** (t * 0.004)) for t in (1, 2, 3)]
    return (0.002, 0.9, 1 - 0.9, 0.999, 1 - 0.999, 1e-7, 1 - mu[1], mu[2],
            1 - mu[0] * mu[1], 1 - mu[0] * mu[1] * mu[2], 1 - 0.999 ** 2)


STEP_SCALARS = {   # the second step's scalars (iterations = 1), Keras 2 defaults
    "sgd": (0.01, 0.0),
    "rmsprop": (0.001, 0.9, 1 - 0.9, 1e-7),
    "adagrad": (0.01, 1e-7),
    "adadelta": (1.0, 0.95, 1 - 0.95, 1e-7),
    "adam": (0.001 * math.sqrt(1 - 0.999 ** 2) / (1 - 0.9 ** 2), 0.9, 1 - 0.9, 0.999,
             1 - 0.999, 1e-7),
    "adamax": (0.002 / (1 - 0.9 ** 2), 0.9, 1 - 0.9, 0.999, 1e-7),
    "nadam": _nadam_second_step(),
}


@pytest.mark.parametrize("name", list(STEP_SCALARS))
def test_step_scalars_are_the_update_layout_and_change_nothing(name):
    opt = optimizers.get(name)
    a, _ = _two_weights()
    opt.apply_gradients([(np.ones(2), a)])
    state = opt.get_weights()
    s1 = opt.step_scalars()
    np.testing.assert_allclose(s1, STEP_SCALARS[name], rtol=1e-14, atol=0)
    assert opt.step_scalars() == s1 and opt.iterations == 1
    for x, y in zip(opt.get_weights(), state):
        np.testing.assert_array_equal(x, y)
    assert opt.prepare_step() == s1                   # on the host: the floats themselves
    assert opt.iterations == 1


def test_graph_declarations_of_the_optimizer():
    a, b = _two_weights()
    opt = SGD(lr=0.1, momentum=0.9)
    opt.apply_gradients([(np.ones(2), a), (np.ones((2, 1)), b)])
    key = opt.graph_key()
    assert opt.graph_key() == key
    opt.lr = 0.01                                   # read from the scalar buffer: same key
    assert opt.graph_key() == key
    opt.nesterov = True                             # another code path: a new key
    assert opt.graph_key() != key
    assert opt.graph_ineligibility() is None

    class Mine(SGD):
        pass
    assert "not one of gpuseq's built-in rules" in Mine().graph_ineligibility()
