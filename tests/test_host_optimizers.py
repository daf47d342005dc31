"""Optimizer updates on the host kernels (kernels/host/optimizers.cpp).

SGD, RMSprop, Adagrad and Adam run as one pass per weight in the host library when it
builds here, and as NumPy ufuncs otherwise. The host loops make the same operations in
the same order without fused multiply-adds, so both paths must give bitwise the same
weights and state, for float32 and float64, for any thread count; arrays the host
cannot take (another dtype, a non-contiguous view) go through NumPy.
"""
import numpy as np
import pytest

from gpuseq.backend.numpy_ops import _host
from gpuseq.backend.numpy_ops import optimizer_updates as upd

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


def test_elementwise_threads_policy():
    # one thread: a second one competes with BLAS threads still spinning after the
    # gradients' GEMMs (see _host.elementwise_threads)
    for n in (1000, 40000, 1 << 20, 1 << 26):
        assert _host.elementwise_threads(n) == 1
