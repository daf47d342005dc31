"""Fused optimizer updates (kernels/optimizers.cu) against the NumPy updates, over several steps.

Each test runs the same sequence of gradients through the active backend's
update and through numpy_ops, in place, and compares the parameter and every
state array after every step.
"""
import math

import numpy as np
import pytest

from gpuseq.backend import dispatch, numpy_ops
from gpuseq.testing import assert_close

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
