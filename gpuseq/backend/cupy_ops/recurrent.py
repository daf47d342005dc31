"""CUDA twins of ``numpy_ops/recurrent.py``: whole-sequence LSTM, GRU and SimpleRNN.

The cuDNN recipe by hand (kernels/lstm.cu, kernels/gru.cu, kernels/simple_rnn.cu):

* one GEMM projects every time step's input at once: ``XW = x @ kernel (+ bias)``,
  stored time-major (T, N, G*u) so that each step's slice is contiguous;
* per step, one recurrent GEMM ``h_prev @ recurrent_kernel`` (``_gemm.matmul`` into a
  preallocated buffer) and ONE fused kernel for all gates and the state update,
  which turns the step's XW slice into the activated gates in place;
* backward per step, one fused kernel for all gate derivatives and one GEMM for the
  gradient reaching ``h_prev``; after the loop, one GEMM each for the kernel and
  recurrent-kernel gradients and one for the input gradient.

The classic GRU (``reset_after=False``) needs r before its candidate GEMM, so it
runs two GEMMs and two kernels per step.

Layers up to ``SEQUENCE_MAX_UNITS`` units skip the per-step loop: one launch of a
sequence kernel walks all time steps (a block per batch row, the row's recurrent
product computed in the block), forward and backward, with the same equations and
saved arrays; the GEMMs before and after the loop are unchanged.

Names, signatures, outputs and gradients are those of the NumPy twin (see its
docstring for shapes); ``saved`` is a dict too, with the final states under
``'h_last'`` (and ``'c_last'``) for stateful layers.
"""
from .. import kernel_loader as kl
from ..numpy_ops.recurrent import _check_inputs, _check_kind
from .activations import _kind_code
from ._gemm import matmul
from ._common import column_sums, float_input, launch_1d, xp
from ._common import dummy as _dummy

# Layers with at most this many units run their whole time loop in one launch of a
# sequence kernel (kernels/lstm.cu, gru.cu, simple_rnn.cu; GS_RNN_SEQ_MAX_UNITS in
# kernels/rnn_common.cuh); wider ones take the per-step path (GEMMs and fused kernels
# per step).
SEQUENCE_MAX_UNITS = 256


def _sequence_launch(source, name, dtype, n, gate_width, args, split=1):
    """One launch of a sequence kernel: a block per batch row (up to 65535 blocks,
    looping over the rest), ``split`` threads per gate column (fewer when the block
    would exceed 1024 threads, at least one), rounded up to whole warps."""
    gate_width = int(gate_width)
    while split > 1 and gate_width * split > 1024:
        split //= 2
    threads = max(32, -(-(gate_width * split) // 32) * 32)
    kl.launch(kl.get_kernel(source, name, dtype), (min(int(n), kl.MAX_BLOCKS_1D), 1, 1),
              (threads, 1, 1), args)


# ---------------------------------------------------------------------------
# shared plumbing (array-module generic: cupy, or numpy under emulation)
# ---------------------------------------------------------------------------

def _prepare(name, x, kernel, recurrent_kernel, gates, go_backwards):
    """Checked, time-major inputs: (xt (T, N, F), W, U, dtype, u)."""
    kernel = float_input(kernel, "kernel")
    dt = kernel.dtype
    x = float_input(x, "x", dtype=dt)
    U = float_input(recurrent_kernel, "recurrent_kernel", dtype=dt)
    u = _check_inputs(name, x, kernel, U, gates)
    m = xp()
    src = x[:, ::-1] if go_backwards else x
    xt = m.ascontiguousarray(src.transpose(1, 0, 2))              # (T, N, F)
    return xt, kernel, U, dt, u


def _project(xt, W):
    """One GEMM for all steps: (T, N, F) @ (F, G*u) -> (T, N, G*u), contiguous."""
    T, N, F = xt.shape
    # The step kernels update G[s] in place through a flat pointer: keep it C-contiguous
    # whatever layout the GEMM returns (a no-op for cuBLAS / numpy.matmul outputs).
    return xp().ascontiguousarray(
        matmul(xt.reshape(T * N, F), W).reshape(T, N, W.shape[1]))


def _mask_steps(mask, n, t, go_backwards, dt):
    """(N, T) mask -> (T, N) of dtype dt (1 = used) in processing order, or None."""
    if mask is None:
        return None
    m = xp()
    a = m.asarray(mask)
    if tuple(a.shape) != (n, t):
        raise ValueError(f"A recurrent op expects a mask of shape (batch, timesteps) = "
                         f"{(n, t)}. Received: mask.shape={tuple(a.shape)}")
    a = a.astype(bool)
    if go_backwards:
        a = a[:, ::-1]
    return m.ascontiguousarray(a.T.astype(dt))                     # (T, N)



def _set_state(dst, h0, n, u, dt, what):
    """dst[...] = the initial state h0 (checked), or zeros when h0 is None."""
    if h0 is None:
        dst.fill(0)
    else:
        dst[...] = _state(h0, n, u, dt, what)


def _sum_or_zeros(parts, n, u, dt):
    """A fresh (n, u) array: the sum of ``parts`` (arrays of that shape), or zeros."""
    m = xp()
    if not parts:
        return m.zeros((n, u), dtype=dt)
    out = m.array(parts[0], dtype=dt, copy=True)
    for p in parts[1:]:
        out += p
    return out


def _state(h0, n, u, dt, what):
    m = xp()
    if h0 is None:
        return m.zeros((n, u), dtype=dt)
    h = float_input(h0, what, dtype=dt)
    if tuple(h.shape) != (n, u):
        raise ValueError(f"A recurrent op expects `{what}` of shape (batch, units) = "
                         f"{(n, u)}. Received: {what}.shape={tuple(h.shape)}")
    return h


def _pack_output(H, Tm, return_sequences, zero_output_for_mask, states):
    m = xp()
    if return_sequences:
        seq = H[1:]                                                 # (T, N, u)
        if zero_output_for_mask and Tm is not None:
            seq = seq * Tm[:, :, None]
        out = seq.transpose(1, 0, 2)                                # (N, T, u)
    else:
        out = H[-1][:, None, :]                                     # (N, 1, u)
        if zero_output_for_mask and Tm is not None:
            out = out * Tm[-1][:, None, None]
    if states is None:
        return m.ascontiguousarray(out if return_sequences else out[:, 0])
    return m.concatenate([out] + [s[:, None, :] for s in states], axis=1)


def _unpack_grad(gy, T, return_sequences, zero_output_for_mask, Tm, n_states, dt):
    """gy -> (Gseq (T, N, u) or None, glast (N, u) or None, [final-state gradients])."""
    m = xp()
    gy = float_input(gy, "gy", dtype=dt)
    g_states = []
    if n_states:
        t_out = T if return_sequences else 1
        g_states = [m.ascontiguousarray(gy[:, t_out + k]) for k in range(n_states)]
        gy = gy[:, :t_out] if return_sequences else gy[:, 0]
    if return_sequences:
        G = m.ascontiguousarray(gy.transpose(1, 0, 2))              # (T, N, u)
        if zero_output_for_mask and Tm is not None:
            G = G * Tm[:, :, None]
        return G, None, g_states
    g = m.ascontiguousarray(gy)
    if zero_output_for_mask and Tm is not None:
        g = g * Tm[-1][:, None]
    return None, g, g_states


def _finish_dx(dXW, W, N, T, F, go_backwards, x_dtype):
    m = xp()
    dx = matmul(dXW.reshape(T * N, dXW.shape[-1]), W.T).reshape(T, N, F).transpose(1, 0, 2)
    if go_backwards:
        dx = dx[:, ::-1]
    return m.ascontiguousarray(dx).astype(x_dtype, copy=False)


def _dropped(h, rm):
    return h if rm is None else h * rm


def _saved_common(xt, W, U, H, Tm, rm, u, x, bias, h0):
    return {"xt": xt, "W": W, "U": U, "H": H, "Tm": Tm, "rm": rm, "u": u,
            "x_dtype": xp().asarray(x).dtype, "has_bias": bias is not None,
            "has_h0": h0 is not None}


def _step_args(Tm, s, rm, dummy):
    has_mask = 0 if Tm is None else 1
    return (Tm[s] if has_mask else dummy), has_mask, (dummy if rm is None else rm), \
        (0 if rm is None else 1)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------

def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask=None, recurrent_mask=None,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 return_sequences=False, zero_output_for_mask=False, return_state=False,
                 input_grad=True):
    """LSTM over a whole sequence (gates i|f|c|o); see numpy_ops.recurrent.lstm_forward."""
    _check_kind(activation, "activation")
    _check_kind(recurrent_activation, "recurrent_activation")
    act, rec = _kind_code(activation), _kind_code(recurrent_activation)
    xt, W, U, dt, u = _prepare("lstm_forward", x, kernel, recurrent_kernel, 4, go_backwards)
    T, N, F = xt.shape
    m = xp()
    G = _project(xt, W)                                             # (T, N, 4u) -> gates
    if bias is not None:
        G += float_input(bias, "bias", dtype=dt)
    Tm = _mask_steps(mask, N, T, go_backwards, dt)                  # (T, N) or None
    rm = None if recurrent_mask is None else float_input(recurrent_mask, "recurrent_mask",
                                                          dtype=dt)
    H = m.empty((T + 1, N, u), dtype=dt)                            # H[0] = h0
    C = m.empty((T + 1, N, u), dtype=dt)                            # C[0] = c0
    _set_state(H[0], h0, N, u, dt, "h0")
    _set_state(C[0], c0, N, u, dt, "c0")
    TC = m.empty((T, N, u), dtype=dt)                               # act(c), unmasked
    dummy = _dummy(dt)
    if u <= SEQUENCE_MAX_UNITS:
        if N and T:
            _sequence_launch("lstm", "lstm_sequence_forward", dt, N, 4 * u,
                             (G, U, H, C, TC, dummy if Tm is None else Tm,
                              dummy if rm is None else rm, T, N, u, int(Tm is not None),
                              int(rm is not None), act, rec), split=8)
    else:
        hu = m.empty((N, 4 * u), dtype=dt)                          # h_prev @ U
        for s in range(T):
            matmul(_dropped(H[s], rm), U, out=hu)
            ms, has_mask, _, _ = _step_args(Tm, s, rm, dummy)
            launch_1d("lstm", "lstm_forward_step", dt, N * u,
                      (G[s], hu, C[s], H[s], ms, C[s + 1], H[s + 1], TC[s], N, u, has_mask,
                       act, rec))
    states = (H[T], C[T]) if return_state else None
    y = _pack_output(H, Tm, return_sequences, zero_output_for_mask, states)
    saved = _saved_common(xt, W, U, H, Tm, rm, u, x, bias, h0)
    saved.update({"G": G, "C": C, "TC": TC, "has_c0": c0 is not None,
                  "h_last": H[T], "c_last": C[T]})
    return y, saved


def lstm_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid",
                  go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                  return_state=False, input_grad=True):
    """-> (gx, gkernel, grecurrent_kernel, gbias, gh0, gc0, None, None)."""
    act, rec = _kind_code(activation), _kind_code(recurrent_activation)
    xt, W, U, H, C, TC, G = (saved[k] for k in ("xt", "W", "U", "H", "C", "TC", "G"))
    Tm, rm, u = saved["Tm"], saved["rm"], saved["u"]
    T, N, F = xt.shape
    dt = G.dtype
    m = xp()
    Gseq, glast, g_states = _unpack_grad(gy, T, return_sequences, zero_output_for_mask, Tm,
                                         2 if return_state else 0, dt)
    dZ = m.empty((T, N, 4 * u), dtype=dt)                           # d pre-activations
    # the carried gradients start as the final-state (and last-output) gradients
    dh_carry = _sum_or_zeros(g_states[:1] + ([glast] if glast is not None else []), N, u, dt)
    dc = _sum_or_zeros(g_states[1:2], N, u, dt)
    Ut = m.ascontiguousarray(U.T)                                   # (4u, u)
    dummy = _dummy(dt)
    gh0 = None
    if u <= SEQUENCE_MAX_UNITS:
        gh0 = m.empty((N, u), dtype=dt)                             # dh_carry + dz_0 U^T
        if N and T:
            _sequence_launch("lstm", "lstm_sequence_backward", dt, N, 4 * u,
                             (G, TC, C, Ut, dummy if Tm is None else Tm,
                              dummy if Gseq is None else Gseq, dummy if rm is None else rm,
                              dh_carry, dc, dZ, gh0, T, N, u, int(Tm is not None),
                              int(Gseq is not None), int(rm is not None), act, rec))
        else:
            gh0[...] = dh_carry
    else:
        dh_rec = m.zeros((N, u), dtype=dt)                          # dz_{s+1} @ U^T
        for s in range(T - 1, -1, -1):
            ms, has_mask, rms, has_rm = _step_args(Tm, s, rm, dummy)
            gys, has_gy = (Gseq[s], 1) if Gseq is not None else (dummy, 0)
            launch_1d("lstm", "lstm_backward_step", dt, N * u,
                      (G[s], TC[s], C[s], ms, gys, dh_rec, rms, dh_carry, dc, dZ[s], N, u,
                       has_mask, has_gy, has_rm, act, rec))
            matmul(dZ[s], Ut, out=dh_rec)
        gh0 = dh_carry + _dropped(dh_rec, rm)
    dZf = dZ.reshape(T * N, 4 * u)
    gU = matmul(_dropped(H[:T], rm).reshape(T * N, u).T, dZf)
    gW = matmul(xt.reshape(T * N, F).T, dZf)
    gb = column_sums(dZf) if saved["has_bias"] else None
    gx = _finish_dx(dZ, W, N, T, F, go_backwards, saved["x_dtype"]) \
        if input_grad else None
    gh0 = gh0 if saved["has_h0"] else None
    gc0 = dc if saved["has_c0"] else None
    return gx, gW, gU, gb, gh0, gc0, None, None


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------

def gru_forward(x, kernel, recurrent_kernel, bias, h0, mask=None, recurrent_mask=None,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                return_state=False, input_grad=True):
    """GRU over a whole sequence (gates z|r|h); see numpy_ops.recurrent.gru_forward."""
    _check_kind(activation, "activation")
    _check_kind(recurrent_activation, "recurrent_activation")
    act, rec = _kind_code(activation), _kind_code(recurrent_activation)
    xt, W, U, dt, u = _prepare("gru_forward", x, kernel, recurrent_kernel, 3, go_backwards)
    T, N, F = xt.shape
    m = xp()
    dummy = _dummy(dt)
    G = _project(xt, W)                                             # (T, N, 3u) -> gates
    brec, has_brec = dummy, 0
    if bias is not None:
        bias = float_input(bias, "bias", dtype=dt)
        want = (2, 3 * u) if reset_after else (3 * u,)
        if tuple(bias.shape) != want:
            raise ValueError(f"gru_forward with reset_after={reset_after} expects a bias of "
                             f"shape {want}. Received: bias.shape={tuple(bias.shape)}")
        if reset_after:
            G += bias[0]
            brec, has_brec = m.ascontiguousarray(bias[1]), 1
        else:
            G += bias
    Tm = _mask_steps(mask, N, T, go_backwards, dt)
    rm = None if recurrent_mask is None else float_input(recurrent_mask, "recurrent_mask",
                                                          dtype=dt)
    H = m.empty((T + 1, N, u), dtype=dt)
    _set_state(H[0], h0, N, u, dt, "h0")
    RH = m.empty((T, N, u), dtype=dt)       # after: h @ U_h + b_h; before: r * h_prev
    if u <= SEQUENCE_MAX_UNITS:
        if N and T:
            ms, has_mask = (dummy, 0) if Tm is None else (Tm, 1)
            rms, has_rm = (dummy, 0) if rm is None else (rm, 1)
            if reset_after:
                _sequence_launch("gru", "gru_sequence_forward_after", dt, N, 3 * u,
                                 (G, U, brec, H, RH, ms, rms, T, N, u, has_brec, has_mask,
                                  has_rm, act, rec))
            else:
                _sequence_launch("gru", "gru_sequence_forward_before", dt, N, 3 * u,
                                 (G, U, H, RH, ms, rms, T, N, u, has_mask, has_rm, act,
                                  rec))
    elif reset_after:
        hu = m.empty((N, 3 * u), dtype=dt)
        for s in range(T):
            matmul(_dropped(H[s], rm), U, out=hu)
            ms, has_mask, _, _ = _step_args(Tm, s, rm, dummy)
            launch_1d("gru", "gru_forward_step_after", dt, N * u,
                      (G[s], hu, brec, H[s], ms, RH[s], H[s + 1], N, u, has_brec, has_mask,
                       act, rec))
    else:
        U_zr = m.ascontiguousarray(U[:, :2 * u])                    # (u, 2u)
        U_h = m.ascontiguousarray(U[:, 2 * u:])                     # (u, u)
        hu_zr = m.empty((N, 2 * u), dtype=dt)
        hu_h = m.empty((N, u), dtype=dt)
        for s in range(T):
            hp_d = _dropped(H[s], rm)
            matmul(hp_d, U_zr, out=hu_zr)
            launch_1d("gru", "gru_forward_gates_before", dt, N * u,
                      (G[s], hu_zr, hp_d, RH[s], N, u, rec))
            matmul(RH[s], U_h, out=hu_h)
            ms, has_mask, _, _ = _step_args(Tm, s, rm, dummy)
            launch_1d("gru", "gru_forward_candidate_before", dt, N * u,
                      (G[s], hu_h, H[s], ms, H[s + 1], N, u, has_mask, act))
    states = (H[T],) if return_state else None
    y = _pack_output(H, Tm, return_sequences, zero_output_for_mask, states)
    saved = _saved_common(xt, W, U, H, Tm, rm, u, x, bias, h0)
    saved.update({"G": G, "RH": RH, "h_last": H[T]})
    return y, saved


def gru_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, go_backwards=False, return_sequences=False,
                 zero_output_for_mask=False, return_state=False, input_grad=True):
    """-> (gx, gkernel, grecurrent_kernel, gbias, gh0, None, None)."""
    act, rec = _kind_code(activation), _kind_code(recurrent_activation)
    xt, W, U, H, G, RH = (saved[k] for k in ("xt", "W", "U", "H", "G", "RH"))
    Tm, rm, u = saved["Tm"], saved["rm"], saved["u"]
    T, N, F = xt.shape
    dt = G.dtype
    m = xp()
    Gseq, glast, g_states = _unpack_grad(gy, T, return_sequences, zero_output_for_mask, Tm,
                                         1 if return_state else 0, dt)
    dX = m.empty((T, N, 3 * u), dtype=dt)                           # input-side gradients
    dh_carry = _sum_or_zeros(g_states[:1] + ([glast] if glast is not None else []), N, u, dt)
    dh_rec = None if u <= SEQUENCE_MAX_UNITS else m.zeros((N, u), dtype=dt)   # per-step path
    dummy = _dummy(dt)
    Hp = _dropped(H[:T], rm).reshape(T * N, u)
    dXf = dX.reshape(T * N, 3 * u)
    dR = m.empty((T, N, 3 * u), dtype=dt) if reset_after else None  # recurrent-side
    if u <= SEQUENCE_MAX_UNITS:
        Ut = m.ascontiguousarray(U.T)                               # (3u, u)
        gh0 = m.empty((N, u), dtype=dt)                             # dh_carry + d h0 via U
        if N and T:
            ms, has_mask = (dummy, 0) if Tm is None else (Tm, 1)
            rms, has_rm = (dummy, 0) if rm is None else (rm, 1)
            gys, has_gy = (dummy, 0) if Gseq is None else (Gseq, 1)
            if reset_after:
                _sequence_launch("gru", "gru_sequence_backward_after", dt, N, 3 * u,
                                 (G, RH, H, Ut, ms, gys, rms, dh_carry, dX, dR, gh0, T, N,
                                  u, has_mask, has_gy, has_rm, act, rec))
            else:
                _sequence_launch("gru", "gru_sequence_backward_before", dt, N, 3 * u,
                                 (G, H, Ut, ms, gys, rms, dh_carry, dX, gh0, T, N, u,
                                  has_mask, has_gy, has_rm, act, rec))
        else:
            gh0[...] = dh_carry
    elif reset_after:
        Ut = m.ascontiguousarray(U.T)                               # (3u, u)
        for s in range(T - 1, -1, -1):
            ms, has_mask, rms, has_rm = _step_args(Tm, s, rm, dummy)
            gys, has_gy = (Gseq[s], 1) if Gseq is not None else (dummy, 0)
            launch_1d("gru", "gru_backward_step_after", dt, N * u,
                      (G[s], RH[s], H[s], ms, gys, dh_rec, rms, dh_carry, dX[s], dR[s], N, u,
                       has_mask, has_gy, has_rm, act, rec))
            matmul(dR[s], Ut, out=dh_rec)
        gh0 = dh_carry + _dropped(dh_rec, rm)
    else:
        U_zr_t = m.ascontiguousarray(U[:, :2 * u].T)                # (2u, u)
        U_h_t = m.ascontiguousarray(U[:, 2 * u:].T)                 # (u, u)
        dh_rec2 = m.zeros((N, u), dtype=dt)                         # drh * r
        drh = m.empty((N, u), dtype=dt)                             # dhh @ U_h^T
        for s in range(T - 1, -1, -1):
            ms, has_mask, rms, has_rm = _step_args(Tm, s, rm, dummy)
            gys, has_gy = (Gseq[s], 1) if Gseq is not None else (dummy, 0)
            launch_1d("gru", "gru_backward_candidate_before", dt, N * u,
                      (G[s], H[s], ms, gys, dh_rec, dh_rec2, rms, dh_carry, dX[s], N, u,
                       has_mask, has_gy, 1, has_rm, act, rec))
            matmul(dX[s][:, 2 * u:], U_h_t, out=drh)
            launch_1d("gru", "gru_backward_reset_before", dt, N * u,
                      (G[s], drh, _dropped(H[s], rm), dX[s], dh_rec2, N, u, rec))
            matmul(dX[s][:, :2 * u], U_zr_t, out=dh_rec)
        gh0 = dh_carry + _dropped(dh_rec + dh_rec2, rm)
    if reset_after:
        dRf = dR.reshape(T * N, 3 * u)
        gU = matmul(Hp.T, dRf)
        gb = m.stack([column_sums(dXf), column_sums(dRf)]) if saved["has_bias"] else None
    else:
        gU = m.empty((u, 3 * u), dtype=dt)
        gU[:, :2 * u] = matmul(Hp.T, dXf[:, :2 * u])
        gU[:, 2 * u:] = matmul(RH.reshape(T * N, u).T, dXf[:, 2 * u:])
        gb = column_sums(dXf) if saved["has_bias"] else None
    gW = matmul(xt.reshape(T * N, F).T, dXf)
    gx = _finish_dx(dX, W, N, T, F, go_backwards, saved["x_dtype"]) \
        if input_grad else None
    gh0 = gh0 if saved["has_h0"] else None
    return gx, gW, gU, gb, gh0, None, None


# ---------------------------------------------------------------------------
# SimpleRNN
# ---------------------------------------------------------------------------

def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask=None, recurrent_mask=None,
                       activation="tanh", go_backwards=False, return_sequences=False,
                       zero_output_for_mask=False, return_state=False, input_grad=True):
    """h = act(x_t @ kernel + h @ recurrent_kernel + bias); see the NumPy twin."""
    _check_kind(activation, "activation")
    act = _kind_code(activation)
    xt, W, U, dt, u = _prepare("simple_rnn_forward", x, kernel, recurrent_kernel, 1,
                               go_backwards)
    T, N, F = xt.shape
    m = xp()
    A = _project(xt, W)                                             # (T, N, u) -> act outputs
    if bias is not None:
        A += float_input(bias, "bias", dtype=dt)
    Tm = _mask_steps(mask, N, T, go_backwards, dt)
    rm = None if recurrent_mask is None else float_input(recurrent_mask, "recurrent_mask",
                                                          dtype=dt)
    H = m.empty((T + 1, N, u), dtype=dt)
    _set_state(H[0], h0, N, u, dt, "h0")
    dummy = _dummy(dt)
    if u <= SEQUENCE_MAX_UNITS:
        if N and T:
            # four thread groups share each column's sum (see kernels/simple_rnn.cu)
            _sequence_launch("simple_rnn", "simple_rnn_sequence_forward", dt, N, 4 * u,
                             (A, U, H, dummy if Tm is None else Tm,
                              dummy if rm is None else rm, T, N, u, int(Tm is not None),
                              int(rm is not None), act))
    else:
        hu = m.empty((N, u), dtype=dt)                              # h_prev @ U
        for s in range(T):
            matmul(_dropped(H[s], rm), U, out=hu)
            ms, has_mask, _, _ = _step_args(Tm, s, rm, dummy)
            launch_1d("simple_rnn", "simple_rnn_forward_step", dt, N * u,
                      (A[s], hu, H[s], ms, H[s + 1], N, u, has_mask, act))
    states = (H[T],) if return_state else None
    y = _pack_output(H, Tm, return_sequences, zero_output_for_mask, states)
    saved = _saved_common(xt, W, U, H, Tm, rm, u, x, bias, h0)
    saved.update({"A": A, "h_last": H[T]})
    return y, saved


def simple_rnn_backward(gy, saved, activation="tanh", go_backwards=False,
                        return_sequences=False, zero_output_for_mask=False,
                        return_state=False, input_grad=True):
    """-> (gx, gkernel, grecurrent_kernel, gbias, gh0, None, None)."""
    act = _kind_code(activation)
    xt, W, U, H, A = (saved[k] for k in ("xt", "W", "U", "H", "A"))
    Tm, rm, u = saved["Tm"], saved["rm"], saved["u"]
    T, N, F = xt.shape
    dt = A.dtype
    m = xp()
    Gseq, glast, g_states = _unpack_grad(gy, T, return_sequences, zero_output_for_mask, Tm,
                                         1 if return_state else 0, dt)
    dZ = m.empty((T, N, u), dtype=dt)
    dh_carry = _sum_or_zeros(g_states[:1] + ([glast] if glast is not None else []), N, u, dt)
    Ut = m.ascontiguousarray(U.T)                                   # (u, u)
    dummy = _dummy(dt)
    if u <= SEQUENCE_MAX_UNITS:
        gh0 = m.empty((N, u), dtype=dt)                             # dh_carry + dz_0 U^T
        if N and T:
            _sequence_launch("simple_rnn", "simple_rnn_sequence_backward", dt, N, 4 * u,
                             (A, Ut, dummy if Tm is None else Tm,
                              dummy if Gseq is None else Gseq, dummy if rm is None else rm,
                              dh_carry, dZ, gh0, T, N, u, int(Tm is not None),
                              int(Gseq is not None), int(rm is not None), act))
        else:
            gh0[...] = dh_carry
    else:
        dh_rec = m.zeros((N, u), dtype=dt)                          # dz_{s+1} @ U^T
        for s in range(T - 1, -1, -1):
            ms, has_mask, rms, has_rm = _step_args(Tm, s, rm, dummy)
            gys, has_gy = (Gseq[s], 1) if Gseq is not None else (dummy, 0)
            launch_1d("simple_rnn", "simple_rnn_backward_step", dt, N * u,
                      (A[s], ms, gys, dh_rec, rms, dh_carry, dZ[s], N, u, has_mask, has_gy,
                       has_rm, act))
            matmul(dZ[s], Ut, out=dh_rec)
        gh0 = dh_carry + _dropped(dh_rec, rm)
    dZf = dZ.reshape(T * N, u)
    gU = matmul(_dropped(H[:T], rm).reshape(T * N, u).T, dZf)
    gW = matmul(xt.reshape(T * N, F).T, dZf)
    gb = column_sums(dZf) if saved["has_bias"] else None
    gx = _finish_dx(dZ, W, N, T, F, go_backwards, saved["x_dtype"]) \
        if input_grad else None
    gh0 = gh0 if saved["has_h0"] else None
    return gx, gW, gU, gb, gh0, None, None
