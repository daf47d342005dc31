"""Small weights updated together through flat buffers (Optimizer._flat_plan).

Every built-in optimizer is elementwise, so updating several weights as one flat
array must give exactly (bit for bit) what one call per weight gives. The reference
below is the same optimizer with the flat path switched off.
"""
import numpy as np
import pytest

from gpuseq import optimizers
from gpuseq.backend import autodiff as ad
from gpuseq.backend import dispatch
from gpuseq.layers import Dense
from gpuseq.models import Sequential, load_model

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
SHAPES = [((16, 8), "float32"), ((8,), "float32"), ((3, 4, 5), "float32"),
          ((7,), "float64"), ((2, 3), "float64"), ((130, 130), "float32"),
          ((1,), "float32")]


def _variables(rng):
    return [ad.Variable(rng.standard_normal(s).astype(dt), name=f"w{i}")
            for i, (s, dt) in enumerate(SHAPES)]


def _grads(rng, step):
    # gradients arrive in any layout: a transposed (non-contiguous) one and a float64
    # gradient for a float32 weight are converted like the one-call-per-weight path
    gs = [rng.standard_normal(s).astype(dt) for s, dt in SHAPES]
    gs[0] = np.ascontiguousarray(gs[0].T).T
    gs[1] = gs[1].astype("float64")
    if step % 3 == 2:
        gs[2] = np.zeros_like(gs[2])
    return gs


def _reference(make):
    opt = make()
    opt._elementwise = False
    return opt


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_flat_updates_equal_one_call_per_weight(numpy_backend, name):
    make = MAKERS[name]
    rng = np.random.default_rng(7)
    vs, ref_vs = _variables(rng), None
    ref_vs = [ad.Variable(v.data.copy(), name=v.name) for v in vs]
    opt, ref = make(), _reference(make)
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
    opt, ref = optimizers.RMSprop(lr=0.01), _reference(lambda: optimizers.RMSprop(lr=0.01))
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)

    def step(k):
        opt.apply_gradients(zip(_grads(g1, k), vs))
        ref.apply_gradients(zip(_grads(g2, k), ref_vs))

    step(0)
    # Variable.assign (what set_weights and loading do) writes into the shared buffer
    new = rng.standard_normal(SHAPES[1][0]).astype("float32")
    vs[1].assign(new)
    ref_vs[1].assign(new)
    step(1)
    np.testing.assert_array_equal(vs[1].data, ref_vs[1].data)
    # a weight whose array was replaced outright is regrouped from its new value
    fresh = rng.standard_normal(SHAPES[2][0]).astype("float32")
    vs[2].data = fresh.copy()
    ref_vs[2].data = fresh.copy()
    step(2)
    assert vs[2].data.base is vs[0].data.base
    # so is a slot array replaced outright
    acc = np.full(SHAPES[0][0], 0.5, dtype="float32")
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
    gs = [np.full(s, i + 1.0, dtype=dt) for i, (s, dt) in enumerate(SHAPES)]
    opt.apply_gradients(zip(gs, vs))
    for i, (v, b) in enumerate(zip(vs, before)):
        np.testing.assert_allclose(v.data, b - 0.1 * (i + 1.0), rtol=1e-6)
    assert opt._flat[1] == []


def test_flat_groups_follow_the_backend(backend):
    """On the device backends the flat buffers are device arrays and the updates match
    the NumPy path."""
    xp = dispatch.xp()
    rng = np.random.default_rng(1)
    host = [rng.standard_normal(s).astype("float32") for s, _ in SHAPES[:3]]
    vs = [ad.Variable(xp.asarray(h)) for h in host]
    opt = optimizers.RMSprop(lr=0.01)
    g = [rng.standard_normal(s).astype("float32") for s, _ in SHAPES[:3]]
    opt.apply_gradients(zip([xp.asarray(a) for a in g], vs))
    assert len(opt._flat[1]) == 1
    for v, h, a in zip(vs, host, g):
        acc = 0.1 * a * a
        want = h - 0.01 * a / (np.sqrt(acc) + 1e-7)
        np.testing.assert_allclose(dispatch.to_host(v.data), want, rtol=1e-5, atol=1e-7)
