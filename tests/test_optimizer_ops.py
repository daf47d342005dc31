"""Optimizer updates on every path, by op.

Every path of the fused update ops (the tuned NumPy code, the host C++ loops of
kernels/host/optimizers.cpp, the CUDA kernels of kernels/optimizers.cu emulated on the
CPU, CuPy on a GPU) is checked over several steps against the Keras 2.2 update formulas
of tests/reference.py, parameter and every state array. Then: the CUDA paths against
the NumPy updates over many shapes and their argument checks, the host loops bitwise
equal to the NumPy ufunc path, and the Optimizer's flat updates (small weights updated
together through flat buffers) bitwise equal to one call per weight.

The optimizers' Keras-level behaviour (hand-computed steps, trajectories, decay,
clipping, config and state) is tested in test_optimizers.py.
"""
import math

import numpy as np
import pytest

from gpuseq import optimizers
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch, numpy_ops
from gpuseq.backend.numpy_ops import _host
from gpuseq.backend.numpy_ops import optimizer_updates as upd
from gpuseq.layers import Dense
from gpuseq.models import Sequential, load_model
from gpuseq.testing import assert_close

from reference import ref_nadam_schedule, ref_optimizer_step

SHAPES = [(0,), (1,), (255,), (256,), (257,), (7, 37), (3, 4, 5)]
STEPS = 5
# float32: a few roundings per step, compounded over STEPS steps; float64: exact up to rounding.
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _nadam_schedule(t, beta_1=0.9, beta_2=0.999, schedule_decay=0.004, m_schedule=1.0):
    """Keras 2.2 Nadam's per-step scalars for step t (1-based)."""
    mc_t = beta_1 * (1.0 - 0.5 * 0.96 ** (t * schedule_decay))
    mc_t_1 = beta_1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * schedule_decay))
    m_schedule_new = m_schedule * mc_t
    return dict(momentum_cache_t=mc_t, momentum_cache_t_1=mc_t_1,
                m_schedule_new=m_schedule_new, m_schedule_next=m_schedule_new * mc_t_1,
                beta_2_power_t=beta_2 ** t), m_schedule_new


def _adam_lr_t(lr, t, beta_1=0.9, beta_2=0.999):
    return lr * math.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)


S = numpy_ops        # the step-scalar layouts (<rule>_scalars), shared by every backend

# name -> (update, number of state arrays, (step scalars, flags) for step t, initial state)
OPTIMIZERS = {
    "sgd_momentum": ("sgd_update", 1, lambda t: (S.sgd_scalars(0.1, 0.9), (False,)), 0.0),
    "sgd_nesterov": ("sgd_update", 1, lambda t: (S.sgd_scalars(0.1, 0.9), (True,)), 0.0),
    "sgd_plain": ("sgd_update", 1, lambda t: (S.sgd_scalars(0.05, 0.0), (False,)), 0.0),
    "rmsprop": ("rmsprop_update", 1, lambda t: (S.rmsprop_scalars(0.001, 0.9, 1e-7), ()), 0.0),
    "adagrad": ("adagrad_update", 1, lambda t: (S.adagrad_scalars(0.01, 1e-7), ()), 0.0),
    "adadelta": ("adadelta_update", 2, lambda t: (S.adadelta_scalars(1.0, 0.95, 1e-7), ()),
                 0.0),
    "adam": ("adam_update", 3, lambda t: (S.adam_scalars(_adam_lr_t(0.001, t), 0.9, 0.999,
                                                         1e-7), (False,)), 0.0),
    "amsgrad": ("adam_update", 3, lambda t: (S.adam_scalars(_adam_lr_t(0.001, t), 0.9, 0.999,
                                                            1e-7), (True,)), 0.0),
    "adamax": ("adamax_update", 2, lambda t: (S.adamax_scalars(0.002 / (1 - 0.9 ** t), 0.9,
                                                               0.999, 1e-7), ()), 0.0),
    "nadam": ("nadam_update", 2, lambda t: (S.nadam_scalars(0.002, 0.9, 0.999, 1e-7,
                                                            **_nadam_schedule(t)[0]), ()), 0.0),
}


# ---------------------------------------------------------------------------
# Every path against the update formulas
# ---------------------------------------------------------------------------

# name -> (update op, reference rule, its hyper-parameters, state arrays by name)
FORMULA_RULES = {
    "sgd_plain": ("sgd_update", "sgd", dict(lr=0.05), ["v"]),
    "sgd_momentum": ("sgd_update", "sgd", dict(lr=0.1, momentum=0.9), ["v"]),
    "sgd_nesterov": ("sgd_update", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True), ["v"]),
    "rmsprop": ("rmsprop_update", "rmsprop", dict(lr=0.01, rho=0.8), ["a"]),
    "adagrad": ("adagrad_update", "adagrad", dict(lr=0.05), ["a"]),
    "adadelta": ("adadelta_update", "adadelta", dict(lr=1.0, rho=0.9), ["a", "d"]),
    "adam": ("adam_update", "adam", dict(lr=0.01, beta_2=0.99), ["m", "v", "vhat"]),
    "amsgrad": ("adam_update", "adam", dict(lr=0.01, amsgrad=True), ["m", "v", "vhat"]),
    "adamax": ("adamax_update", "adamax", dict(lr=0.02), ["m", "u"]),
    "nadam": ("nadam_update", "nadam", dict(lr=0.01), ["m", "v"]),
}
FORMULA_TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def _op_scalars(kind, cfg, t, nadam):
    """The update op's (step scalars, flags) for step t of rule `kind`."""
    lr, eps = cfg["lr"], cfg.get("epsilon", 1e-7)
    b1, b2 = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999)
    if kind == "sgd":
        return upd.sgd_scalars(lr, cfg.get("momentum", 0.0)), (bool(cfg.get("nesterov")),)
    if kind == "rmsprop":
        return upd.rmsprop_scalars(lr, cfg.get("rho", 0.9), eps), ()
    if kind == "adagrad":
        return upd.adagrad_scalars(lr, eps), ()
    if kind == "adadelta":
        return upd.adadelta_scalars(lr, cfg.get("rho", 0.95), eps), ()
    if kind == "adam":
        lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return upd.adam_scalars(lr_t, b1, b2, eps), (bool(cfg.get("amsgrad")),)
    if kind == "adamax":
        return upd.adamax_scalars(lr / (1 - b1 ** t), b1, b2, eps), ()
    mu_t, mu_t1, ms_new, ms_next = nadam
    return upd.nadam_scalars(lr, b1, b2, eps, mu_t, mu_t1, ms_new, ms_next, b2 ** t), ()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(FORMULA_RULES))
def test_update_every_path_matches_the_formulas(op_path, rng, name, dtype):
    op, kind, cfg, keys = FORMULA_RULES[name]
    shape = (7, 37)
    p0 = rng.standard_normal(shape).astype(dtype)
    states0 = [np.zeros(shape, dtype) for _ in keys]
    if cfg.get("amsgrad"):                           # a running maximum that matters
        states0[2][...] = np.abs(rng.standard_normal(shape)).astype(dtype) * 1e-3
    p = dispatch.to_device(p0.copy())
    states = [dispatch.to_device(s.copy()) for s in states0]
    ref_p = p0.astype(np.float64)
    ref_s = {k: s.astype(np.float64) for k, s in zip(keys, states0)}
    fn = getattr(dispatch.ops(), op)
    buffer, m_schedule = None, 1.0
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(shape).astype(dtype)
        nadam = None
        if kind == "nadam":
            nadam = ref_nadam_schedule(t, m_schedule)
            m_schedule = nadam[2]
        scalars, flags = _op_scalars(kind, cfg, t, nadam)
        buffer = dispatch.ops().load_step_scalars(scalars, buffer)
        fn(p, dispatch.to_device(g), *states, buffer, *flags)
        ref_p = ref_optimizer_step(kind, cfg, ref_p, g.astype(np.float64), ref_s, t, cfg["lr"],
                                   nadam)
        what = f"{name} step {t} on {op_path}"
        assert_close(p, ref_p, what=what + ": parameter", **FORMULA_TOL[dtype])
        for key, s in zip(keys, states):
            if key == "vhat" and not cfg.get("amsgrad"):
                continue                             # Adam reads no running maximum
            assert_close(s, ref_s[key], what=what + f": state {key}", **FORMULA_TOL[dtype])
    assert not np.allclose(ref_p, p0)                # it moved


# ---------------------------------------------------------------------------
# The CUDA paths against the NumPy updates
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update_matches_numpy_over_steps(backend, rng, name, shape, dtype):
    fn_name, n_state, hyper, init = OPTIMIZERS[name]
    p_ref = rng.standard_normal(shape).astype(dtype)
    state_ref = [np.full(shape, init, dtype) for _ in range(n_state)]
    if name == "amsgrad":
        state_ref[2][...] = np.abs(rng.standard_normal(shape)).astype(dtype) * 1e-3
    p = dispatch.to_device(p_ref.copy())
    state = [dispatch.to_device(s.copy()) for s in state_ref]
    fn = getattr(dispatch.ops(), fn_name)
    ref = getattr(numpy_ops, fn_name)
    buffer = None
    for t in range(1, STEPS + 1):
        g = rng.standard_normal(shape).astype(dtype)
        scalars, flags = hyper(t)
        buffer = dispatch.ops().load_step_scalars(scalars, buffer)   # reused step to step
        fn(p, dispatch.to_device(g), *state, buffer, *flags)
        ref(p_ref, g, *state_ref, scalars, *flags)
        what = f"{name} step {t} on {dispatch.backend()}"
        assert_close(p, p_ref, what=what + ": parameter", **TOL[dtype])
        for i, (s, s_ref) in enumerate(zip(state, state_ref)):
            assert_close(s, s_ref, what=what + f": state {i}", **TOL[dtype])


def test_gradient_of_another_dtype_or_layout_is_accepted(backend, rng):
    p_ref = rng.standard_normal((4, 6)).astype(np.float32)
    v_ref = np.zeros_like(p_ref)
    g = rng.standard_normal((6, 4)).T            # float64, Fortran-ordered view
    p, v = dispatch.to_device(p_ref.copy()), dispatch.to_device(v_ref.copy())
    dispatch.ops().sgd_update(p, dispatch.to_device(g), v, (0.1, 0.9), False)
    numpy_ops.sgd_update(p_ref, g, v_ref, (0.1, 0.9), False)
    assert_close(p, p_ref, **TOL[np.float32])


def test_non_contiguous_parameter_is_rejected(backend):
    if backend == "numpy":
        pytest.skip("NumPy updates strided views in place")
    p = dispatch.to_device(np.zeros((4, 6), np.float32)).T
    v = dispatch.to_device(np.zeros((6, 4), np.float32))
    g = dispatch.to_device(np.ones((6, 4), np.float32))
    with pytest.raises(ValueError, match=r"`float\* p`.*must be C-contiguous"):
        dispatch.ops().sgd_update(p, g, v, (0.1, 0.9), False)


def test_state_of_the_wrong_shape_is_rejected(backend):
    if backend == "numpy":
        pytest.skip("NumPy reports its own broadcasting error")
    p = dispatch.to_device(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"state array 0 has shape \(4,\).*\(5,\)"):
        dispatch.ops().adagrad_update(p, dispatch.to_device(np.ones(5, np.float32)),
                                      dispatch.to_device(np.zeros(4, np.float32)), (0.1, 1e-7))


def test_state_of_another_dtype_is_rejected(backend):
    if backend == "numpy":
        pytest.skip("NumPy casts in place")
    p = dispatch.to_device(np.zeros(5, np.float32))
    a = dispatch.to_device(np.zeros(5, np.float64))
    with pytest.raises(TypeError, match=r"`float\* a`.*must have dtype float32"):
        dispatch.ops().adagrad_update(p, dispatch.to_device(np.ones(5, np.float32)), a,
                                      (0.1, 1e-7))


# ---------------------------------------------------------------------------
# The host loops (kernels/host/optimizers.cpp) bitwise equal to the NumPy ufuncs: SGD,
# RMSprop, Adagrad and Adam make the same operations in the same order without fused
# multiply-adds, for float32 and float64, for any thread count; arrays the host cannot
# take (another dtype, a non-contiguous view) go through NumPy.
# ---------------------------------------------------------------------------

needs_host = pytest.mark.skipif(_host.library("optimizers") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

RULES = {
    # name: (number of state arrays, call)
    "sgd": (1, lambda p, g, s: upd.sgd_update(p, g, s[0], upd.sgd_scalars(0.01, 0.0), False)),
    "momentum": (1, lambda p, g, s: upd.sgd_update(p, g, s[0], upd.sgd_scalars(0.01, 0.9), False)),
    "nesterov": (1, lambda p, g, s: upd.sgd_update(p, g, s[0], upd.sgd_scalars(0.03, 0.85), True)),
    "rmsprop": (1, lambda p, g, s: upd.rmsprop_update(p, g, s[0], upd.rmsprop_scalars(0.001, 0.9, 1e-7))),
    "adagrad": (1, lambda p, g, s: upd.adagrad_update(p, g, s[0], upd.adagrad_scalars(0.01, 1e-7))),
    "adam": (2, lambda p, g, s: upd.adam_update(p, g, s[0], s[1], None,
                                                upd.adam_scalars(0.001, 0.9, 0.999, 1e-7), False)),
    "amsgrad": (3, lambda p, g, s: upd.adam_update(p, g, s[0], s[1], s[2],
                                                   upd.adam_scalars(0.002, 0.8, 0.99, 1e-6), True)),
}


def _arrays(rng, dtype, shape, nstate):
    p = rng.standard_normal(shape).astype(dtype)
    states = [np.abs(rng.standard_normal(shape)).astype(dtype) * 0.1 for _ in range(nstate)]
    if nstate >= 2:
        states[0] = rng.standard_normal(shape).astype(dtype) * 0.1     # Adam's m is signed
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(3)]
    return p, states, grads


def _three_steps(on, rule, p, states, grads):
    p, states = p.copy(), [s.copy() for s in states]
    with _host.use(on):
        for g in grads:
            RULES[rule][1](p, g, states)
    return p, states


@needs_host
@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (3, 7), (300, 128), (70001,)])
def test_host_updates_are_bitwise_the_numpy_updates(rng, rule, dtype, shape):
    p, states, grads = _arrays(rng, dtype, shape, RULES[rule][0])
    hp, hs = _three_steps(True, rule, p, states, grads)
    np_p, np_s = _three_steps(False, rule, p, states, grads)
    assert not np.array_equal(hp, p)                          # the weights moved
    np.testing.assert_array_equal(hp, np_p)
    for a, b in zip(hs, np_s):
        np.testing.assert_array_equal(a, b)


@needs_host
@pytest.mark.parametrize("rule", ["rmsprop", "amsgrad", "nesterov"])
def test_host_updates_do_not_depend_on_the_thread_count(rng, monkeypatch, rule):
    p, states, grads = _arrays(rng, np.float32, (100003,), RULES[rule][0])
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "elementwise_threads", lambda n, k=threads: k)
        outs.append(_three_steps(True, rule, p, states, grads))
    for q, s in outs[1:]:
        np.testing.assert_array_equal(q, outs[0][0])
        for a, b in zip(s, outs[0][1]):
            np.testing.assert_array_equal(a, b)


@needs_host
def test_amsgrad_keeps_a_nan_like_numpy_maximum(rng):
    p, states, grads = _arrays(rng, np.float64, (5,), 3)
    states[2][1] = np.nan
    hp, hs = _three_steps(True, "amsgrad", p, states, grads)
    np_p, np_s = _three_steps(False, "amsgrad", p, states, grads)
    np.testing.assert_array_equal(hs[2], np_s[2])               # NaN stays in vhat
    np.testing.assert_array_equal(hp, np_p)
    assert np.isnan(hp[1]) and np.isfinite(np.delete(hp, 1)).all()


def test_arrays_the_host_cannot_take_go_through_numpy(rng):
    p = rng.standard_normal((6, 4))
    a = np.abs(rng.standard_normal((6, 4)))
    g = rng.standard_normal((6, 4))
    assert upd._host_update("rmsprop", p[:, ::2], g[:, ::2], a[:, ::2]) is None   # strided
    assert upd._host_update("rmsprop", p.astype(np.float16), g, a) is None
    assert upd._host_update("rmsprop", p, g.astype(np.float32), a) is None        # mixed
    # a strided weight is still updated, by NumPy, with the same rule
    view, want = p[:, ::2], p[:, ::2].copy()
    acc, acc_want = a[:, ::2], a[:, ::2].copy()
    upd.rmsprop_update(view, g[:, ::2].copy(), acc, upd.rmsprop_scalars(0.01, 0.9, 1e-7))
    acc_want = 0.9 * acc_want + 0.1 * g[:, ::2] ** 2
    want -= 0.01 * g[:, ::2] / (np.sqrt(acc_want) + 1e-7)
    np.testing.assert_allclose(p[:, ::2], want, rtol=1e-12)
    np.testing.assert_allclose(a[:, ::2], acc_want, rtol=1e-12)


# ---------------------------------------------------------------------------
# Small weights updated together through flat buffers (Optimizer._flat_plan): every
# built-in optimizer is elementwise, so updating several weights as one flat array gives
# exactly (bit for bit) what one call per weight gives, the same optimizer with the flat
# path switched off.
# ---------------------------------------------------------------------------

MAKERS = {
    "sgd_nesterov": lambda: optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "sgd_plain": lambda: optimizers.SGD(lr=0.05),
    "rmsprop": lambda: optimizers.RMSprop(lr=0.01, decay=1e-3),
    "adagrad": lambda: optimizers.Adagrad(lr=0.05),
    "adadelta": lambda: optimizers.Adadelta(),
    "adam_amsgrad": lambda: optimizers.Adam(lr=0.01, amsgrad=True),
    "adamax": lambda: optimizers.Adamax(lr=0.01),
    "nadam": lambda: optimizers.Nadam(lr=0.01),
    "rmsprop_clipped": lambda: optimizers.RMSprop(lr=0.01, clipnorm=0.5, clipvalue=0.05),
}

# shapes: small ones (grouped, two dtypes) and one above _FLAT_MAX_SIZE (one call)
FLAT_SHAPES = [((16, 8), "float32"), ((8,), "float32"), ((3, 4, 5), "float32"),
          ((7,), "float64"), ((2, 3), "float64"), ((130, 130), "float32"),
          ((1,), "float32")]


def _variables(rng):
    return [ad.Variable(rng.standard_normal(s).astype(dt), name=f"w{i}")
            for i, (s, dt) in enumerate(FLAT_SHAPES)]


def _grads(rng, step):
    # gradients arrive in any layout: a transposed (non-contiguous) one and a float64
    # gradient for a float32 weight are converted like the one-call-per-weight path
    gs = [rng.standard_normal(s).astype(dt) for s, dt in FLAT_SHAPES]
    gs[0] = np.ascontiguousarray(gs[0].T).T
    gs[1] = gs[1].astype("float64")
    if step % 3 == 2:
        gs[2] = np.zeros_like(gs[2])
    return gs


def _one_call_per_weight(make):
    opt = make()
    opt._elementwise = False
    return opt


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_flat_updates_equal_one_call_per_weight(numpy_backend, name):
    make = MAKERS[name]
    rng = np.random.default_rng(7)
    vs, ref_vs = _variables(rng), None
    ref_vs = [ad.Variable(v.data.copy(), name=v.name) for v in vs]
    opt, ref = make(), _one_call_per_weight(make)
    grng, ref_grng = np.random.default_rng(3), np.random.default_rng(3)
    for step in range(6):
        opt.apply_gradients(zip(_grads(grng, step), vs))
        ref.apply_gradients(zip(_grads(ref_grng, step), ref_vs))
    for v, r in zip(vs, ref_vs):
        assert v.data.dtype == r.data.dtype and v.data.flags.c_contiguous
        np.testing.assert_array_equal(v.data, r.data)
    for a, b in zip(opt.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the small float32 weights share one buffer, the small float64 ones another, the
    # large one keeps its own array
    groups, singles = opt._flat[1], opt._flat[2]
    assert sorted(sorted(g.index) for g in groups) == [[0, 1, 2, 6], [3, 4]]
    assert singles == [5]
    assert vs[0].data.base is not None and vs[0].data.base is vs[6].data.base
    assert vs[5].data.base is not vs[0].data.base


def test_in_place_writes_and_replaced_arrays_are_honoured(numpy_backend):
    rng = np.random.default_rng(11)
    vs = _variables(rng)
    ref_vs = [ad.Variable(v.data.copy(), name=v.name) for v in vs]
    opt, ref = optimizers.RMSprop(lr=0.01), _one_call_per_weight(lambda: optimizers.RMSprop(lr=0.01))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)

    def step(k):
        opt.apply_gradients(zip(_grads(g1, k), vs))
        ref.apply_gradients(zip(_grads(g2, k), ref_vs))

    step(0)
    # Variable.assign (what set_weights and loading do) writes into the shared buffer
    new = rng.standard_normal(FLAT_SHAPES[1][0]).astype("float32")
    vs[1].assign(new)
    ref_vs[1].assign(new)
    step(1)
    np.testing.assert_array_equal(vs[1].data, ref_vs[1].data)
    # a weight whose array was replaced outright is regrouped from its new value
    fresh = rng.standard_normal(FLAT_SHAPES[2][0]).astype("float32")
    vs[2].data = fresh.copy()
    ref_vs[2].data = fresh.copy()
    step(2)
    assert vs[2].data.base is vs[0].data.base
    # so is a slot array replaced outright
    acc = np.full(FLAT_SHAPES[0][0], 0.5, dtype="float32")
    opt._slots[id(vs[0])]["accumulator"] = acc.copy()
    ref._slots[id(ref_vs[0])]["accumulator"] = acc.copy()
    step(3)
    for v, r in zip(vs, ref_vs):
        np.testing.assert_array_equal(v.data, r.data)
    for a, b in zip(opt.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_restores_into_flat_buffers(numpy_backend):
    """set_weights of the optimizer writes the slot views: a restored optimizer continues
    exactly like the uninterrupted one."""
    rng = np.random.default_rng(2)
    vs = _variables(rng)
    opt = optimizers.Adam(lr=0.01, amsgrad=True)
    gr = np.random.default_rng(9)
    for k in range(3):
        opt.apply_gradients(zip(_grads(gr, k), vs))
    state = opt.get_weights()
    copies = [ad.Variable(v.data.copy(), name=v.name) for v in vs]
    restored = optimizers.Adam(lr=0.01, amsgrad=True)
    restored.build(copies)
    restored.set_weights(state)
    g1, g2 = np.random.default_rng(4), np.random.default_rng(4)
    for k in range(3):
        opt.apply_gradients(zip(_grads(g1, k), vs))
        restored.apply_gradients(zip(_grads(g2, k), copies))
        if k == 0:   # restoring again after the buffers exist writes into them
            restored.set_weights(opt.get_weights())
            for c, v in zip(copies, vs):
                c.assign(v.data)
    for v, c in zip(vs, copies):
        np.testing.assert_array_equal(v.data, c.data)
    assert restored.iterations == opt.iterations


def test_model_weights_are_copies_and_survive_save(numpy_backend, digits, tmp_path):
    x, y = digits
    x, onehot = x[:256], np.eye(10, dtype="float32")[y[:256]]
    model = Sequential([Dense(16, input_dim=64, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.RMSprop(lr=0.01), loss="categorical_crossentropy",
                  metrics=["acc"])
    hist = model.fit(x, onehot, batch_size=32, epochs=8, shuffle=False, verbose=0)
    assert hist.history["acc"][-1] > 0.8 > hist.history["acc"][0]
    # every weight here is small: one flat group
    assert len(model.optimizer._flat[1]) == 1 and not model.optimizer._flat[2]
    before = [w.copy() for w in model.get_weights()]
    got = model.get_weights()
    got[0][...] = 0.0                                  # a copy: the model is untouched
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    np.testing.assert_allclose(loaded.predict(x[:16]), model.predict(x[:16]), rtol=0, atol=0)
    for m in (model, loaded):
        m.fit(x, onehot, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    # set_weights after training reaches the shared buffers
    model.set_weights(before)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.fit(x, onehot, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert not np.array_equal(model.get_weights()[0], before[0])


def test_user_optimizer_without_elementwise_flag_keeps_one_call_per_weight(numpy_backend):
    class Shrink(optimizers.Optimizer):
        """p <- p - lr * mean(g): not elementwise."""
        _slot_names = ()

        def _update(self, ops, p, g, slots):
            p -= self.current_lr() * g.mean()

    rng = np.random.default_rng(0)
    vs = _variables(rng)
    before = [v.data.copy() for v in vs]
    opt = Shrink(lr=0.1)
    gs = [np.full(s, i + 1.0, dtype=dt) for i, (s, dt) in enumerate(FLAT_SHAPES)]
    opt.apply_gradients(zip(gs, vs))
    for i, (v, b) in enumerate(zip(vs, before)):
        np.testing.assert_allclose(v.data, b - 0.1 * (i + 1.0), rtol=1e-6)
    assert opt._flat[1] == []


def test_flat_groups_follow_the_backend(backend):
    """On the device backends the flat buffers are device arrays and the updates match
    the NumPy path."""
    xp = dispatch.xp()
    rng = np.random.default_rng(1)
    host = [rng.standard_normal(s).astype("float32") for s, _ in FLAT_SHAPES[:3]]
    vs = [ad.Variable(xp.asarray(h)) for h in host]
    opt = optimizers.RMSprop(lr=0.01)
    g = [rng.standard_normal(s).astype("float32") for s, _ in FLAT_SHAPES[:3]]
    opt.apply_gradients(zip([xp.asarray(a) for a in g], vs))
    assert len(opt._flat[1]) == 1
    for v, h, a in zip(vs, host, g):
        acc = 0.1 * a * a
        want = h - 0.01 * a / (np.sqrt(acc) + 1e-7)
        np.testing.assert_allclose(dispatch.to_host(v.data), want, rtol=1e-5, atol=1e-7)
