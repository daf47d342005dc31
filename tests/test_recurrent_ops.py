"""The fused recurrent ops (lstm, gru, simple_rnn) on every path, by op.

Every path (the tuned NumPy code, the host C++ LSTM time loop of
kernels/host/lstm_cell.cpp, the CUDA kernels of kernels/lstm.cu, gru.cu and
simple_rnn.cu emulated on the CPU, CuPy on a GPU) is checked against the step-by-step
references of tests/reference.py (the Keras cell equations one time step at a time,
with Keras's masking and go_backwards rules): outputs, and gradients against central
differences of the reference. Then: the NumPy code against the references over many
configurations (final states included) and in float64 finite differences, the CUDA
sequence and per-step paths against the NumPy ones, and the host LSTM against the
ufunc path.
"""
import numpy as np
import pytest

from gpuseq.backend import numpy_ops
from gpuseq.backend.numpy_ops import _host, recurrent
from gpuseq.testing import assert_close, check_op_gradients, compare_with_numpy

from _host_paths import digits_sequences, lstm_inputs, loss_curves_on_both_paths
from _op_paths import run_op
from reference import ref_act, ref_gru, ref_lstm, ref_numerical_grads, ref_simple_rnn

# ref_gru, ref_lstm and ref_simple_rnn lived here before tests/reference.py; test modules
# that still import them from this module get them through the import above. Import them
# from reference instead.


# ---------------------------------------------------------------- data
def _data(rng, gates, n=3, t=5, f=4, u=3, dtype=np.float64, reset_after=True):
    x = rng.standard_normal((n, t, f)).astype(dtype)
    W = (rng.standard_normal((f, gates * u)) * 0.5).astype(dtype)
    U = (rng.standard_normal((u, gates * u)) * 0.5).astype(dtype)
    if gates == 3 and reset_after:
        b = (rng.standard_normal((2, 3 * u)) * 0.2).astype(dtype)
    else:
        b = (rng.standard_normal((gates * u,)) * 0.2).astype(dtype)
    h0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    mask = np.ones((n, t), dtype=bool)
    mask[0, -2:] = False          # right padding
    mask[1, :2] = False           # left padding
    if n > 2:
        mask[2, 2] = False        # a hole
    return x, W, U, b, h0, c0, mask


CONFIGS = [
    dict(),
    dict(return_sequences=True),
    dict(go_backwards=True),
    dict(go_backwards=True, return_sequences=True),
    dict(return_sequences=True, zero_output_for_mask=True),
]


# ---------------------------------------------------------------- every path
def _reference_call(op, attrs):
    """The reference of op as f(x, W, U, b, h0[, c0]) -> output, with a mask bound later."""
    if op == "lstm":
        return lambda m: (lambda x, W, U, b, h0, c0: ref_lstm(x, W, U, b, h0, c0, m,
                                                               **attrs)[0])
    if op == "gru":
        return lambda m: (lambda x, W, U, b, h0: ref_gru(x, W, U, b, h0, m, **attrs)[0])
    return lambda m: (lambda x, W, U, b, h0: ref_simple_rnn(x, W, U, b, h0, m, **attrs)[0])


EVERY_PATH_CASES = [
    ("lstm", dict(return_sequences=True), True),
    ("lstm", dict(go_backwards=True, activation="sigmoid",
                  recurrent_activation="hard_sigmoid"), False),
    ("gru", dict(reset_after=True, return_sequences=True, zero_output_for_mask=True), True),
    ("gru", dict(reset_after=False, go_backwards=True), True),
    ("simple_rnn", dict(return_sequences=True, go_backwards=True), True),
    ("simple_rnn", dict(activation="relu"), False),
]
EVERY_PATH_TOL = {np.float64: (1e-7, 1e-9), np.float32: (2e-4, 5e-5)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op,attrs,use_mask", EVERY_PATH_CASES)
def test_every_path_matches_the_reference(op_path, op, attrs, use_mask, dtype):
    """Output and every gradient; the reference gradients are central differences of
    the step-by-step reference in float64."""
    rng = np.random.default_rng(11)
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[op]
    x, W, U, b, h0, c0, mask = _data(rng, gates, n=3, t=4, f=3, u=2,
                                     reset_after=attrs.get("reset_after", True))
    m = mask if use_mask else None
    arrays = [x, W, U, b, h0] + ([c0] if op == "lstm" else [])
    ref = _reference_call(op, attrs)(m)
    y_ref = ref(*arrays)
    gy = rng.standard_normal(y_ref.shape)
    grads_ref = ref_numerical_grads(ref, arrays, gy)
    inputs = [a.astype(dtype) for a in arrays] + [m, None]
    y, grads = run_op(op, inputs, attrs, gy.astype(dtype))
    rtol, atol = EVERY_PATH_TOL[dtype]
    assert y.dtype == dtype
    assert_close(y, y_ref, rtol, atol, f"{op} output on {op_path}")
    for i, want in enumerate(grads_ref):
        assert_close(grads[i], want, rtol, atol, f"{op} gradient of input {i} on {op_path}")


# ---------------------------------------------------------------- forward
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("use_mask", [False, True])
def test_lstm_forward_matches_reference(rng, cfg, use_mask):
    x, W, U, b, h0, c0, mask = _data(rng, 4)
    m = mask if use_mask else None
    y, saved = numpy_ops.lstm_forward(x, W, U, b, h0, c0, m, None, **cfg)
    y_ref, (h_ref, c_ref) = ref_lstm(x, W, U, b, h0, c0, m, **cfg)
    assert_close(y, y_ref, 1e-10, 1e-12, "lstm output")
    assert_close(saved["h_last"], h_ref, 1e-10, 1e-12, "lstm final h")
    assert_close(saved["c_last"], c_ref, 1e-10, 1e-12, "lstm final c")


def test_lstm_forward_keras1_activations_and_zero_initial_state(rng):
    """The seed's LSTM(activation='sigmoid', inner_activation='hard_sigmoid')."""
    x, W, U, b, _, _, _ = _data(rng, 4)
    n, u = x.shape[0], U.shape[0]
    y, _ = numpy_ops.lstm_forward(x, W, U, b, None, None, activation="sigmoid",
                                  recurrent_activation="hard_sigmoid", return_sequences=True)
    z = np.zeros((n, u))
    y_ref, _ = ref_lstm(x, W, U, b, z, z, activation="sigmoid",
                        recurrent_activation="hard_sigmoid", return_sequences=True)
    assert_close(y, y_ref, 1e-10, 1e-12, "lstm sigmoid/hard_sigmoid")


def test_lstm_one_step_by_hand():
    """One unit, one step, every gate pre-activation computed by hand."""
    x = np.array([[[1.0]]])
    W = np.array([[0.5, -0.5, 1.0, 2.0]])          # i f c o
    U = np.zeros((1, 4))
    b = np.array([0.0, 1.0, 0.0, 0.0])
    y, saved = numpy_ops.lstm_forward(x, W, U, b, None, None)
    sig = lambda v: 1 / (1 + np.exp(-v))           # noqa: E731
    c = sig(-0.5 + 1.0) * 0.0 + sig(0.5) * np.tanh(1.0)
    h = sig(2.0) * np.tanh(c)
    assert y.shape == (1, 1)
    np.testing.assert_allclose(y[0, 0], h, rtol=1e-12)
    np.testing.assert_allclose(saved["c_last"][0, 0], c, rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("use_mask", [False, True])
def test_gru_forward_matches_reference(rng, reset_after, cfg, use_mask):
    x, W, U, b, h0, _, mask = _data(rng, 3, reset_after=reset_after)
    m = mask if use_mask else None
    y, saved = numpy_ops.gru_forward(x, W, U, b, h0, m, None, reset_after=reset_after, **cfg)
    y_ref, (h_ref,) = ref_gru(x, W, U, b, h0, m, reset_after=reset_after, **cfg)
    assert_close(y, y_ref, 1e-10, 1e-12, "gru output")
    assert_close(saved["h_last"], h_ref, 1e-10, 1e-12, "gru final h")


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("use_mask", [False, True])
def test_simple_rnn_forward_matches_reference(rng, cfg, use_mask):
    x, W, U, b, h0, _, mask = _data(rng, 1)
    m = mask if use_mask else None
    y, saved = numpy_ops.simple_rnn_forward(x, W, U, b, h0, m, None, **cfg)
    y_ref, (h_ref,) = ref_simple_rnn(x, W, U, b, h0, m, **cfg)
    assert_close(y, y_ref, 1e-10, 1e-12, "simple_rnn output")
    assert_close(saved["h_last"], h_ref, 1e-10, 1e-12, "simple_rnn final h")


def test_recurrent_dropout_mask_scales_h_before_the_recurrent_gemm(rng):
    x, W, U, b, h0, c0, _ = _data(rng, 4)
    rm = (rng.random(h0.shape) > 0.5) * 2.0
    y, _ = numpy_ops.lstm_forward(x, W, U, b, h0, c0, None, rm, return_sequences=True)
    # reference: the same cell with U applied to h * rm
    u = U.shape[0]
    h, c, outs = h0, c0, []

    def sig(v):
        return ref_act(v, "sigmoid")

    for t in range(x.shape[1]):
        z = x[:, t] @ W + (h * rm) @ U + b
        i, f, g, o = sig(z[:, :u]), sig(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), \
            sig(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    assert_close(y, np.stack(outs, 1), 1e-10, 1e-12, "lstm with recurrent dropout")


def test_return_state_packs_final_states(rng):
    x, W, U, b, h0, c0, mask = _data(rng, 4)
    y, saved = numpy_ops.lstm_forward(x, W, U, b, h0, c0, mask, None, return_state=True,
                                      return_sequences=True)
    assert y.shape == (3, 5 + 2, 3)
    y_seq, _ = numpy_ops.lstm_forward(x, W, U, b, h0, c0, mask, None, return_sequences=True)
    assert_close(y[:, :5], y_seq, 0, 0, "packed outputs")
    assert_close(y[:, 5], saved["h_last"], 0, 0, "packed h")
    assert_close(y[:, 6], saved["c_last"], 0, 0, "packed c")


def test_float32_runs_in_float32_and_matches_float64(rng):
    x, W, U, b, h0, c0, _ = _data(rng, 4)
    y64, _ = numpy_ops.lstm_forward(x, W, U, b, h0, c0, return_sequences=True)
    f32 = [a.astype(np.float32) for a in (x, W, U, b, h0, c0)]
    y32, saved = numpy_ops.lstm_forward(*f32, return_sequences=True)
    assert y32.dtype == np.float32
    g = numpy_ops.lstm_backward(np.ones_like(y32), saved, return_sequences=True)
    assert all(a.dtype == np.float32 for a in g if a is not None)
    assert_close(y32, y64, 1e-4, 1e-5, "float32 vs float64")


def test_bad_shapes_and_kinds_are_refused(rng):
    x, W, U, b, h0, c0, mask = _data(rng, 4)
    with pytest.raises(ValueError, match="kernel must be"):
        numpy_ops.lstm_forward(x, W[:, :-1], U, b, h0, c0)
    with pytest.raises(ValueError, match="mask of shape"):
        numpy_ops.lstm_forward(x, W, U, b, h0, c0, mask[:, :-1])
    with pytest.raises(ValueError, match="recurrent_activation"):
        numpy_ops.lstm_forward(x, W, U, b, h0, c0, recurrent_activation="softmax")
    xg, Wg, Ug, bg, hg, _, _ = _data(rng, 3, reset_after=False)
    with pytest.raises(ValueError, match=r"bias of shape \(2, 9\)"):
        numpy_ops.gru_forward(xg, Wg, Ug, bg, hg, reset_after=True)


# ---------------------------------------------------------------- gradients (float64)
GRAD_CONFIGS = [
    dict(),
    dict(return_sequences=True, go_backwards=True),
    dict(return_sequences=True, zero_output_for_mask=True, return_state=True),
]


@pytest.mark.parametrize("cfg", GRAD_CONFIGS)
@pytest.mark.parametrize("use_mask", [False, True])
def test_lstm_gradients_through_time(rng, cfg, use_mask):
    x, W, U, b, h0, c0, mask = _data(rng, 4, n=2, t=4, f=3, u=2)
    rm = (rng.random(h0.shape) > 0.3) * 1.5
    inputs = [x, W, U, b, h0, c0, mask if use_mask else None, rm]
    check_op_gradients("lstm", inputs, cfg, wrt=[0, 1, 2, 3, 4, 5])


def test_lstm_gradients_keras1_activations(rng):
    x, W, U, b, h0, c0, _ = _data(rng, 4, n=2, t=3, f=3, u=2)
    check_op_gradients("lstm", [x, W, U, b, h0, c0, None, None],
                       dict(activation="sigmoid", recurrent_activation="hard_sigmoid",
                            return_sequences=True), wrt=[0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("cfg", GRAD_CONFIGS)
def test_gru_gradients_through_time(rng, reset_after, cfg):
    x, W, U, b, h0, _, mask = _data(rng, 3, n=3, t=4, f=3, u=2, reset_after=reset_after)
    rm = (rng.random(h0.shape) > 0.3) * 1.5
    inputs = [x, W, U, b, h0, mask, rm]
    check_op_gradients("gru", inputs, dict(cfg, reset_after=reset_after), wrt=[0, 1, 2, 3, 4])


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_other_activations_forward_and_gradients(rng, reset_after):
    x, W, U, b, h0, _, mask = _data(rng, 3, n=3, t=4, f=3, u=2, reset_after=reset_after)
    cfg = dict(activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True,
               reset_after=reset_after)
    y, _ = numpy_ops.gru_forward(x, W, U, b, h0, mask, None, **cfg)
    y_ref, _ = ref_gru(x, W, U, b, h0, mask, **cfg)
    assert_close(y, y_ref, 1e-10, 1e-12, "gru relu/hard_sigmoid")
    check_op_gradients("gru", [x, W, U, b, h0, mask, None], cfg, wrt=[0, 1, 2, 3, 4])


@pytest.mark.parametrize("cfg", GRAD_CONFIGS)
def test_simple_rnn_gradients_through_time(rng, cfg):
    x, W, U, b, h0, _, mask = _data(rng, 1, n=3, t=4, f=3, u=2)
    rm = (rng.random(h0.shape) > 0.3) * 1.5
    check_op_gradients("simple_rnn", [x, W, U, b, h0, mask, rm], cfg, wrt=[0, 1, 2, 3, 4])


def test_input_gradient_can_be_skipped(rng):
    x, W, U, b, h0, c0, _ = _data(rng, 4)
    y, s = numpy_ops.lstm_forward(x, W, U, b, h0, c0, return_sequences=True)
    full = numpy_ops.lstm_backward(np.ones_like(y), s, return_sequences=True)
    part = numpy_ops.lstm_backward(np.ones_like(y), s, return_sequences=True,
                                   input_grad=False)
    assert part[0] is None
    for a, c in zip(part[1:6], full[1:6]):
        assert_close(a, c, 0, 0, "other gradients unchanged")


def test_gradients_without_bias_or_initial_states(rng):
    x, W, U, _, _, _, _ = _data(rng, 4, n=2, t=3, f=3, u=2)
    check_op_gradients("lstm", [x, W, U, None, None, None, None, None],
                       dict(return_sequences=True), wrt=[0, 1, 2])
    _, gW, gU, gb, gh0, gc0, _, _ = numpy_ops.lstm_backward(
        np.ones((2, 3, 2)), numpy_ops.lstm_forward(x, W, U, None, None, None,
                                                   return_sequences=True)[1],
        return_sequences=True)
    assert gb is None and gh0 is None and gc0 is None


@pytest.mark.parametrize("op,gates,extra", [("lstm", 4, {}), ("gru", 3, {}),
                                             ("gru", 3, {"reset_after": False}),
                                             ("simple_rnn", 1, {})])
@pytest.mark.parametrize("cfg", [dict(return_sequences=True),
                                 dict(go_backwards=True, zero_output_for_mask=True),
                                 dict(return_state=True)])
@pytest.mark.parametrize("use_mask", [False, True])
def test_wide_batch_equals_narrow_batches(rng, op, gates, extra, cfg, use_mask):
    # A batch of 40 takes the batched per-step GEMMs (input projection and, for the
    # LSTM and SimpleRNN, the weight gradients); batches of 8 take the whole-sequence
    # GEMMs. Samples are independent, so outputs and input gradients must match slice
    # by slice and the weight gradients must be the sums of the slices' gradients.
    cfg = dict(cfg, **extra)
    x, W, U, b, h0, c0, _ = _data(rng, gates, n=40, t=6, f=5, u=4,
                                  reset_after=extra.get("reset_after", True))
    mask = rng.random((40, 6)) > 0.3 if use_mask else None
    rm = (rng.random(h0.shape) > 0.3) * 1.5
    fwd = getattr(numpy_ops, op + "_forward")
    bwd = getattr(numpy_ops, op + "_backward")
    states = (h0, c0) if op == "lstm" else (h0,)
    y, s = fwd(x, W, U, b, *states, mask, rm, **cfg)
    gy = rng.standard_normal(y.shape)
    full = bwd(gy, s, **cfg)
    sums = [np.zeros_like(a) for a in (W, U, b)]
    per_sample = [0] + list(range(4, 4 + len(states)))            # gx, gh0 (, gc0)
    for lo in range(0, 40, 8):
        sl = slice(lo, lo + 8)
        m = None if mask is None else mask[sl]
        y_i, s_i = fwd(x[sl], W, U, b, *(st[sl] for st in states), m, rm[sl], **cfg)
        assert_close(y[sl], y_i, 1e-12, 1e-12, f"{op} output slice")
        g_i = bwd(gy[sl], s_i, **cfg)
        for k in per_sample:
            assert_close(full[k][sl], g_i[k], 1e-10, 1e-12, f"{op} gradient {k}")
        for acc, g in zip(sums, g_i[1:4]):
            acc += g
    for got, want, name in zip(full[1:4], sums, ("gW", "gU", "gb")):
        assert_close(got, want, 1e-10, 1e-12, f"{op} {name}")


@pytest.mark.parametrize("n", [16, 48])
def test_lstm_float32_long_sequence_matches_float64(rng, n):
    # float32 with T * N > 128 sums the weight-gradient GEMMs over blocks of the
    # inner dimension (n=16) or over per-step products (n=48)
    x, W, U, b, h0, c0, _ = _data(rng, 4, n=n, t=12, f=6, u=5)
    y64, s64 = numpy_ops.lstm_forward(x, W, U, b, h0, c0, return_sequences=True)
    g64 = numpy_ops.lstm_backward(np.ones_like(y64), s64, return_sequences=True)
    f32 = [a.astype(np.float32) for a in (x, W, U, b, h0, c0)]
    y32, s32 = numpy_ops.lstm_forward(*f32, return_sequences=True)
    assert y32.dtype == np.float32
    assert_close(y32, y64, 1e-4, 1e-5, "float32 output")
    g32 = numpy_ops.lstm_backward(np.ones_like(y32), s32, return_sequences=True)
    for a, c, name in zip(g32[:6], g64[:6], ("gx", "gW", "gU", "gb", "gh0", "gc0")):
        assert a.dtype == np.float32, name
        assert_close(a, c, 1e-3, 1e-4, name)


def test_stateful_carry_two_halves_equal_the_whole(rng):
    """Running T/2 steps, then T/2 more from the final states, equals T steps; and the
    gradient flowing into the second half's initial states continues the first half's."""
    x, W, U, b, h0, c0, _ = _data(rng, 4, t=6)
    full, _ = numpy_ops.lstm_forward(x, W, U, b, h0, c0, return_sequences=True)
    y1, s1 = numpy_ops.lstm_forward(x[:, :3], W, U, b, h0, c0, return_sequences=True)
    y2, _ = numpy_ops.lstm_forward(x[:, 3:], W, U, b, s1["h_last"], s1["c_last"],
                                   return_sequences=True)
    assert_close(np.concatenate([y1, y2], 1), full, 1e-12, 1e-12, "two halves")
    for op, gates in (("gru", 3), ("simple_rnn", 1)):
        xg, Wg, Ug, bg, hg, _, _ = _data(rng, gates, t=6)
        fwd = getattr(numpy_ops, op + "_forward")
        f, _ = fwd(xg, Wg, Ug, bg, hg, return_sequences=True)
        a, sa = fwd(xg[:, :3], Wg, Ug, bg, hg, return_sequences=True)
        c, _ = fwd(xg[:, 3:], Wg, Ug, bg, sa["h_last"], return_sequences=True)
        assert_close(np.concatenate([a, c], 1), f, 1e-12, 1e-12, f"{op} two halves")


def test_initial_state_gradient_chains_halves(rng):
    x, W, U, b, h0, c0, _ = _data(rng, 4, t=6)
    g = rng.standard_normal((3, 6, 3))
    _, sf = numpy_ops.lstm_forward(x, W, U, b, h0, c0, return_sequences=True)
    full = numpy_ops.lstm_backward(g, sf, return_sequences=True)
    _, s1 = numpy_ops.lstm_forward(x[:, :3], W, U, b, h0, c0, return_sequences=True,
                                   return_state=True)
    _, s2 = numpy_ops.lstm_forward(x[:, 3:], W, U, b, s1["h_last"], s1["c_last"],
                                   return_sequences=True)
    g2 = numpy_ops.lstm_backward(g[:, 3:], s2, return_sequences=True)
    # the second half's initial-state gradients enter the first half as final-state grads
    g1_packed = np.concatenate([g[:, :3], g2[4][:, None], g2[5][:, None]], axis=1)
    g1 = numpy_ops.lstm_backward(g1_packed, s1, return_sequences=True, return_state=True)
    assert_close(g1[4], full[4], 1e-10, 1e-12, "d h0")
    assert_close(g1[5], full[5], 1e-10, 1e-12, "d c0")
    assert_close(g1[1] + g2[1], full[1], 1e-10, 1e-12, "d kernel")
    assert_close(np.concatenate([g1[0], g2[0]], 1), full[0], 1e-10, 1e-12, "d x")


# ---------------------------------------------------------------- CUDA twins
TWIN_CASES = [
    ("lstm", dict(return_sequences=True), True),
    ("lstm", dict(go_backwards=True, return_state=True), False),
    ("lstm", dict(activation="sigmoid", recurrent_activation="hard_sigmoid",
                  return_sequences=True, zero_output_for_mask=True), True),
    ("gru", dict(reset_after=True, return_sequences=True), True),
    ("gru", dict(reset_after=False, go_backwards=True, return_state=True), True),
    ("gru", dict(reset_after=False, return_sequences=True), False),
    ("simple_rnn", dict(return_sequences=True, go_backwards=True), True),
    ("simple_rnn", dict(activation="relu"), False),
]


@pytest.fixture(params=["sequence", "per_step"])
def rnn_path(request, backend, monkeypatch):
    """The two CUDA paths of a recurrent op: the whole sequence in one kernel launch
    (units <= SEQUENCE_MAX_UNITS) and a GEMM + fused kernel per step (wider layers)."""
    if backend == "numpy":
        if request.param == "per_step":
            pytest.skip("the NumPy twin has a single path")
        return request.param
    from gpuseq.backend.cupy_ops import recurrent
    monkeypatch.setattr(recurrent, "SEQUENCE_MAX_UNITS",
                        256 if request.param == "sequence" else 0)
    return request.param


@pytest.mark.parametrize("op,attrs,use_mask", TWIN_CASES)
@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-9, 1e-10),
                                             (np.float32, 2e-4, 2e-5)])
def test_cuda_twin_matches_numpy(backend, rnn_path, op, attrs, use_mask, dtype, rtol, atol):
    rng = np.random.default_rng(7)
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[op]
    x, W, U, b, h0, c0, mask = _data(rng, gates, n=3, t=4, f=5, u=3, dtype=dtype,
                                     reset_after=attrs.get("reset_after", True))
    rm = ((rng.random(h0.shape) > 0.3) * 1.5).astype(dtype)
    m = mask if use_mask else None
    if op == "lstm":
        inputs = [x, W, U, b, h0, c0, m, rm]
    else:
        inputs = [x, W, U, b, h0, m, rm]
    compare_with_numpy(op, inputs, attrs, rtol=rtol, atol=atol)


@pytest.mark.parametrize("op", ["lstm", "gru", "simple_rnn"])
def test_cuda_twin_without_optional_inputs(backend, rnn_path, op):
    rng = np.random.default_rng(3)
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[op]
    x, W, U, _, _, _, _ = _data(rng, gates, n=2, t=3, f=2, u=3, dtype=np.float32)
    inputs = [x, W, U, None, None] + ([None] if op == "lstm" else []) + [None, None]
    compare_with_numpy(op, inputs, {}, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("op", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("n,t", [(0, 3), (2, 0)])
def test_empty_batch_or_sequence(backend, rnn_path, op, n, t):
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[op]
    rng = np.random.default_rng(0)
    x = np.zeros((n, t, 3), dtype=np.float32)
    W = rng.standard_normal((3, gates * 2)).astype(np.float32)
    U = rng.standard_normal((2, gates * 2)).astype(np.float32)
    b = np.zeros((2, 6) if op == "gru" else (gates * 2,), dtype=np.float32)
    inputs = [x, W, U, b, None] + ([None] if op == "lstm" else []) + [None, None]
    y, _ = compare_with_numpy(op, inputs, dict(return_sequences=True), rtol=1e-6, atol=1e-6)
    assert y.shape == (n, t, 2)


@pytest.mark.parametrize("op", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("u", [70, 256])
def test_sequence_kernels_at_wide_layers(backend, rnn_path, op, u):
    # several warps per block, a unit count that is no multiple of 4 or 32, and the
    # widest layer the sequence kernels take (4u = 1024 threads)
    rng = np.random.default_rng(u)
    gates = {"lstm": 4, "gru": 3, "simple_rnn": 1}[op]
    x, W, U, b, h0, c0, mask = _data(rng, gates, n=3, t=3, f=4, u=u, dtype=np.float64)
    U *= 0.3 / np.sqrt(u)
    rm = ((rng.random(h0.shape) > 0.3) * 1.5).astype(np.float64)
    inputs = [x, W, U, b, h0] + ([c0] if op == "lstm" else []) + [mask, rm]
    compare_with_numpy(op, inputs, dict(return_sequences=True, return_state=True),
                       rtol=1e-9, atol=1e-10)


# ---------------------------------------------------------------- sequence kernels
SEQ_OPS = [("lstm", 4, {}), ("gru", 3, {"reset_after": True}), ("gru", 3, {"reset_after": False}),
           ("simple_rnn", 1, {})]
SEQ_KERNELS = {  # (op, reset_after) -> (forward, backward) sequence kernels
    ("lstm", None): ("lstm_sequence_forward", "lstm_sequence_backward"),
    ("gru", True): ("gru_sequence_forward_after", "gru_sequence_backward_after"),
    ("gru", False): ("gru_sequence_forward_before", "gru_sequence_backward_before"),
    ("simple_rnn", None): ("simple_rnn_sequence_forward", "simple_rnn_sequence_backward"),
}
STEP_KERNELS = {  # (op, reset_after) -> (forward, backward) step kernels, in launch order
    ("lstm", None): (["lstm_forward_step"], ["lstm_backward_step"]),
    ("gru", True): (["gru_forward_step_after"], ["gru_backward_step_after"]),
    ("gru", False): (["gru_forward_gates_before", "gru_forward_candidate_before"],
                     ["gru_backward_candidate_before", "gru_backward_reset_before"]),
    ("simple_rnn", None): (["simple_rnn_forward_step"], ["simple_rnn_backward_step"]),
}


def _seq_inputs(rng, op, gates, extra, n, t, u, dtype=np.float64):
    x, W, U, b, h0, c0, mask = _data(rng, gates, n=n, t=t, f=4, u=u, dtype=dtype,
                                     reset_after=extra.get("reset_after", True))
    U *= 0.5 / np.sqrt(u)
    mask = rng.random((n, t)) > 0.3
    rm = ((rng.random(h0.shape) > 0.3) * 1.5).astype(dtype)
    return [x, W, U, b, h0] + ([c0] if op == "lstm" else []) + [mask, rm]


@pytest.fixture
def launched(monkeypatch):
    """Records the name of every kernel launched (the launches still run)."""
    from gpuseq.backend import kernel_loader as kl
    names = []
    real = kl.launch

    def record(kernel, grid, block, args):
        names.append(kernel.name)
        return real(kernel, grid, block, args)

    monkeypatch.setattr(kl, "launch", record)
    return names


@pytest.mark.parametrize("op,gates,extra", SEQ_OPS)
def test_recurrent_loop_is_one_launch_each_way(backend, rnn_path, launched, op, gates, extra):
    """The sequence path runs the time loop in exactly one kernel launch forward and one
    backward; the per-step path launches its step kernels once per time step."""
    if backend == "numpy":
        pytest.skip("the NumPy twin launches no kernels")
    from gpuseq.backend import dispatch
    t = 5
    inputs = _seq_inputs(np.random.default_rng(5), op, gates, extra, n=3, t=t, u=6)
    attrs = dict(extra, return_sequences=True, return_state=True)
    ops = dispatch.ops()
    dev = [dispatch.to_device(a) for a in inputs]
    y, saved = getattr(ops, op + "_forward")(*dev, **attrs)
    rnn_fwd = [k for k in launched if k.startswith(op)]           # the recurrent kernels
    del launched[:]
    getattr(ops, op + "_backward")(dispatch.xp().ones_like(y), saved, **attrs)
    rnn_bwd = [k for k in launched if k.startswith(op)]
    seq_fwd, seq_bwd = SEQ_KERNELS[(op, extra.get("reset_after"))]
    step_fwd, step_bwd = STEP_KERNELS[(op, extra.get("reset_after"))]
    if rnn_path == "sequence":
        assert rnn_fwd == [seq_fwd]
        assert rnn_bwd == [seq_bwd]
    else:
        assert rnn_fwd == step_fwd * t
        assert rnn_bwd == step_bwd * t


@pytest.mark.parametrize("op,gates,extra", SEQ_OPS)
@pytest.mark.parametrize("order", ["reverse", "shuffle:1"])
def test_sequence_kernels_in_every_thread_order(op, gates, extra, order):
    """Threads of a block run in another order between barriers: a missing
    __syncthreads() in a sequence kernel would change the results."""
    from gpuseq.backend import cuda_emulation, dispatch
    if not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++)")
    inputs = _seq_inputs(np.random.default_rng(11), op, gates, extra, n=3, t=4, u=37)
    attrs = dict(extra, return_sequences=True, return_state=True)
    with dispatch.use_backend("emulated"), \
            cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
        compare_with_numpy(op, inputs, attrs, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("op,gates,extra", SEQ_OPS)
def test_sequence_kernels_loop_over_rows_beyond_the_grid(monkeypatch, launched, op, gates,
                                                         extra):
    """With fewer blocks than batch rows (the grid is capped at 65535 blocks), each
    block walks several rows; shared memory and carried values restart per row."""
    from gpuseq.backend import cuda_emulation, dispatch
    from gpuseq.backend import kernel_loader as kl
    if not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++)")
    monkeypatch.setattr(kl, "MAX_BLOCKS_1D", 2)
    inputs = _seq_inputs(np.random.default_rng(13), op, gates, extra, n=5, t=3, u=7)
    attrs = dict(extra, return_sequences=True, return_state=True)
    with dispatch.use_backend("emulated"):
        compare_with_numpy(op, inputs, attrs, rtol=1e-9, atol=1e-10)
    assert set(SEQ_KERNELS[(op, extra.get("reset_after"))]) <= set(launched)


@pytest.mark.parametrize("u", [70, 256])
def test_classic_gru_sequence_kernels_at_wide_layers(backend, rnn_path, u):
    # reset_after=False: two dependent products per step, the second split over three
    # thread groups (u = 70 leaves a ragged last group); 3u = 768 threads at u = 256
    rng = np.random.default_rng(u + 1)
    x, W, U, b, h0, _, mask = _data(rng, 3, n=3, t=3, f=4, u=u, reset_after=False)
    U *= 0.3 / np.sqrt(u)
    rm = (rng.random(h0.shape) > 0.3) * 1.5
    compare_with_numpy("gru", [x, W, U, b, h0, mask, rm],
                       dict(reset_after=False, return_sequences=True, return_state=True),
                       rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("source,name,u", [("gru", "gru_sequence_forward_after", 40),
                                           ("gru", "gru_sequence_backward_before", 40),
                                           ("simple_rnn", "simple_rnn_sequence_forward", 20),
                                           ("gru", "gru_sequence_forward_before", 257)])
def test_sequence_kernel_traps_on_a_wrong_launch(source, name, u):
    """A block narrower than the kernel's thread groups, or a layer wider than the
    shared buffers, stops the kernel (__trap) instead of corrupting memory."""
    from gpuseq.backend import cuda_emulation, dispatch
    from gpuseq.backend import kernel_loader as kl
    if not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++)")
    k = kl.get_kernel(source, name, np.float32)
    args = []
    for p in k.params:          # every array 4 x 3u x 3u floats: large enough to index
        args.append(np.zeros(4 * 9 * u * u, np.float32) if p.pointer else
                    {"steps": 2, "n": 1, "u": u}.get(p.name, 0))
    block = 64 if u <= 256 else 1024        # 64 < 3u (or 4u) for u = 40, 20
    with dispatch.use_backend("emulated"):
        with pytest.raises(cuda_emulation.EmulatedLaunchError, match="trap"):
            kl.launch(k, (1, 1, 1), (block, 1, 1), args)


def test_sequence_max_units_equals_the_kernels_limit():
    import re
    from gpuseq.backend import kernel_loader as kl
    from gpuseq.backend.cupy_ops import recurrent
    text = (kl.kernels_dir() / "rnn_common.cuh").read_text()
    found = re.findall(r"#define\s+GS_RNN_SEQ_MAX_UNITS\s+(\d+)", text)
    assert found == [str(recurrent.SEQUENCE_MAX_UNITS)]
    for source in ("lstm", "gru", "simple_rnn"):      # one definition, shared
        assert "#define GS_RNN_SEQ_MAX_UNITS" not in kl.source_path(source).read_text()


# ---------------------------------------------------------------- the host LSTM
# kernels/host/lstm_cell.cpp against the ufunc path: the same values (float64 to
# rounding; float32 within the host's polynomial exp/tanh), independent of the thread
# count, and the same training.
needs_host = pytest.mark.skipif(_host.library("lstm_cell") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

ACTIVATION_PAIRS = [("tanh", "sigmoid"), ("tanh", "hard_sigmoid"),
                    ("sigmoid", "hard_sigmoid"), ("relu", "linear"), ("linear", "tanh")]
HOST_CONFIGS = [
    dict(),
    dict(return_sequences=True),
    dict(go_backwards=True, return_sequences=True),
    dict(return_state=True),
    dict(return_sequences=True, return_state=True, go_backwards=True),
    dict(return_sequences=True, zero_output_for_mask=True),
    dict(zero_output_for_mask=True),
]


def _run_both(inputs, attrs, gy_seed=1):
    """Forward and backward on the host path and on the ufunc path."""
    results = []
    for on in (True, False):
        with _host.use(on):
            y, saved = recurrent.lstm_forward(*inputs, **attrs)
            assert ("host" in saved) == on
            gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
            grads = recurrent.lstm_backward(gy, saved, **attrs)
            results.append((y, saved["h_last"], saved["c_last"], grads))
    return results


@needs_host
@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS)
@pytest.mark.parametrize("cfg", HOST_CONFIGS)
@pytest.mark.parametrize("use_mask,use_rmask", [(False, False), (True, False), (True, True),
                                                (False, True)])
def test_host_lstm_equals_the_ufunc_path_in_float64(rng, activation, recurrent_activation, cfg,
                                                     use_mask, use_rmask):
    x, W, U, b, h0, c0, mask, rmask = lstm_inputs(rng, np.float64)
    attrs = dict(cfg, activation=activation, recurrent_activation=recurrent_activation)
    inputs = (x, W, U, b, h0, c0, mask if use_mask else None, rmask if use_rmask else None)
    (y1, h1, c1, g1), (y2, h2, c2, g2) = _run_both(inputs, attrs)
    assert y1.shape == y2.shape and y1.dtype == y2.dtype == np.float64
    assert_close(y1, y2, 1e-10, 1e-12, "y")
    assert_close(h1, h2, 1e-10, 1e-12, "h_last")
    assert_close(c1, c2, 1e-10, 1e-12, "c_last")
    for i, (a, e) in enumerate(zip(g1, g2)):
        assert (a is None) == (e is None), f"gradient {i}"
        if a is not None:
            assert_close(a, e, 1e-9, 1e-11, f"gradient {i}")


@needs_host
@pytest.mark.parametrize("activation,recurrent_activation", ACTIVATION_PAIRS[:3])
def test_host_lstm_float32_matches_the_ufunc_path(rng, activation, recurrent_activation):
    x, W, U, b, h0, c0, mask, rmask = lstm_inputs(rng, np.float32, n=37, t=9, f=7, u=19)
    attrs = dict(return_sequences=True, activation=activation,
                 recurrent_activation=recurrent_activation)
    (y1, _, c1, g1), (y2, _, c2, g2) = _run_both((x, W, U, b, h0, c0, mask, rmask), attrs)
    assert y1.dtype == np.float32 and g1[1].dtype == np.float32
    assert_close(y1, y2, 1e-4, 2e-6, "y")
    assert_close(c1, c2, 1e-4, 2e-6, "c_last")
    for i in range(6):
        assert_close(g1[i], g2[i], 1e-3, 2e-5, f"gradient {i}")


@needs_host
@pytest.mark.parametrize("use_mask", [False, True])
def test_host_lstm_gradients_by_finite_differences(rng, use_mask):
    x, W, U, b, h0, c0, mask, rmask = lstm_inputs(rng, np.float64, n=3, t=4, f=3, u=2)
    with _host.use(True):
        check_op_gradients("lstm", [x, W, U, b, h0, c0, mask if use_mask else None, rmask],
                           dict(return_sequences=True, return_state=True), wrt=[0, 1, 2, 3, 4, 5])


@needs_host
@pytest.mark.parametrize("n", [1, 7, 64])
def test_host_lstm_results_do_not_depend_on_the_thread_count(rng, monkeypatch, n):
    x, W, U, b, h0, c0, mask, rmask = lstm_inputs(rng, np.float32, n=n, t=5, f=6, u=33)
    mask = np.ones((n, 5), dtype=bool)
    mask[0, 1] = False
    attrs = dict(return_sequences=True)
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        y, saved = recurrent.lstm_forward(x, W, U, b, h0, c0, mask, rmask, **attrs)
        grads = recurrent.lstm_backward(np.ones_like(y), saved, **attrs)
        outs.append((y, grads))
    for y, grads in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            if a is not None:
                np.testing.assert_array_equal(a, e)


@needs_host
def test_training_is_the_same_with_and_without_host_kernels():
    from gpuseq.layers import LSTM, Dense
    from gpuseq.models import Sequential
    from gpuseq.optimizers import Adam

    def build():
        model = Sequential([LSTM(24, input_shape=(8, 8)), Dense(10, activation="softmax")])
        model.compile(Adam(learning_rate=0.01), "categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y = digits_sequences()
    host, numpy_path = loss_curves_on_both_paths(build, x, y, 3, batch_size=32, epochs=5)
    assert host[-1] < host[0] * 0.7                             # it learns
    assert_close(host, numpy_path, 1e-4, 1e-6, "loss per epoch")
