"""NumPy reference: whole-sequence recurrent ops (LSTM, GRU, SimpleRNN).

Twins: ``cupy_ops/recurrent.py`` (kernels/lstm.cu, kernels/gru.cu, kernels/simple_rnn.cu).

Each op runs a whole sequence in one call, the way cuDNN does:

* one GEMM projects the inputs of every time step at once (``x @ kernel + bias``);
* per time step, one recurrent GEMM accumulates ``h_prev @ recurrent_kernel`` onto
  that step's slice, then the gates and the state update run elementwise;
* backward walks the steps in reverse (gate derivatives + one GEMM for the
  gradient of ``h_prev`` per step) and, after the loop, one GEMM each gives the
  gradients of ``kernel`` and ``recurrent_kernel`` and one GEMM the gradient of x.

This is the CPU path, so it is written for speed: buffers are preallocated and the
per-step work is a few in-place ufunc calls (the loops run with one BLAS thread, see
``_blas_threads``). Per-step arrays are feature-major ((G*u, N) gates, (u, N) states)
so that every gate block is one contiguous slab; sigmoid gates cost one exp for all
of them (their weight rows are negated, exactly, so that 1 / (1 + exp(.)) is the
sigmoid); and backward precomputes the step-independent factors of the gate
derivatives for all steps at once before its loop. With a batch of 32 or more the
input projection and the weight gradients are batched GEMMs over the steps (one call
each, writing/reading every step's feature-major block in place, no transposed
copies); smaller batches use whole-sequence GEMMs (see ``_project_inputs``,
``_weight_grads`` and ``_mm``).

Signatures (the layer passes None for what it does not use)::

    lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask=None, recurrent_mask=None,
                 activation='tanh', recurrent_activation='sigmoid', go_backwards=False,
                 return_sequences=False, zero_output_for_mask=False, return_state=False,
                 input_grad=True)
        -> (y, saved)
    lstm_backward(gy, saved, **same attrs)
        -> (gx, gkernel, grecurrent_kernel, gbias, gh0, gc0, None, None)

    gru_forward(x, kernel, recurrent_kernel, bias, h0, mask=None, recurrent_mask=None,
                reset_after=True, ...same attrs) -> (y, saved)
    gru_backward(gy, saved, ...) -> (gx, gkernel, grecurrent_kernel, gbias, gh0, None, None)

    simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask=None,
                       recurrent_mask=None, activation='tanh', ...) -> (y, saved)
    simple_rnn_backward(gy, saved, ...) -> (gx, gkernel, grecurrent_kernel, gbias, gh0,
                                            None, None)

Shapes: x (N, T, F); kernel (F, G*u); recurrent_kernel (u, G*u) with G gate blocks
(LSTM i|f|c|o, GRU z|r|h, SimpleRNN one block); bias (G*u,) (GRU with
``reset_after=True``: (2, 3u), input bias then recurrent bias); h0, c0 (N, u) or
None (zeros); mask (N, T) bool (True = step is used; a masked step carries the
previous states and outputs the previous h, or zeros with ``zero_output_for_mask``);
recurrent_mask (N, u), a dropout multiplier applied to ``h_prev`` before the
recurrent GEMM (the same at every step).

Output y: (N, T, u) with ``return_sequences`` (in processing order, so reversed
in time with ``go_backwards``, as in Keras), else (N, u). With ``return_state``
the final states are packed after the outputs along axis 1:
(N, T_out + S, u) with T_out = T or 1 and S = 2 (LSTM: h, c) or 1 (h); the layer
slices them apart (and the gradient flows back into each part).

``input_grad=False`` (set by a layer whose input needs no gradient, e.g. the first
layer of a model) skips the GEMM of the input gradient; backward then returns None
for x.

``saved`` is a dict; ``saved['h_last']`` (and ``saved['c_last']`` for the LSTM)
hold the final states, which stateful layers carry to the next batch.

Activations are the elementwise kinds of ``activations.ACTIVATION_KINDS``; their
derivatives are taken from the activation's output.
"""
import math

import numpy as np

from . import _allocator, _host
from ._blas_threads import blas_num_threads, single_blas_thread, single_thread_when_small
from .activations import ACTIVATION_KINDS, activation_value

# once per process, when the op package is imported (it imports every module), for
# all of its ops: keeps their medium-sized temporaries off fresh mmaps (see _allocator)
_allocator.prime()

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------------------
# in-place activations and derivatives from the output
# ---------------------------------------------------------------------------

def _check_kind(kind, what):
    if kind not in ACTIVATION_KINDS:
        raise ValueError(f"Unknown {what} for a recurrent op. Expected one of "
                         f"{ACTIVATION_KINDS}. Received: {what}={kind!r}")


def _act_(a, kind):
    """a = act(a), in place (a may be a strided view)."""
    if kind == "sigmoid":
        # 1 / (1 + exp(-a)): exp overflows to inf for very negative a, giving 0 exactly
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1.0
        np.reciprocal(a, out=a)
    elif kind == "tanh":
        np.tanh(a, out=a)
    elif kind == "hard_sigmoid":
        a *= 0.2
        a += 0.5
        np.clip(a, 0.0, 1.0, out=a)
    elif kind == "relu":
        np.maximum(a, 0, out=a)
    elif kind == "linear":
        pass
    else:
        a[...] = activation_value(a, kind)


def _dact(y, kind, out):
    """out = act'(x) computed from y = act(x) (every kind's derivative is a function of y)."""
    if kind == "sigmoid":
        np.multiply(y, y, out=out)
        np.subtract(y, out, out=out)
    elif kind == "tanh":
        np.multiply(y, y, out=out)
        np.subtract(1.0, out, out=out)
    elif kind == "hard_sigmoid":
        # x in (-2.5, 2.5)  <=>  y in (0, 1)
        np.multiply((y > 0) & (y < 1), 0.2, out=out)
    elif kind == "relu":
        np.greater(y, 0, out=out)
    elif kind == "linear":
        out[...] = 1
    elif kind == "elu":
        out[...] = np.where(y > 0, 1.0, y + 1.0)
    elif kind == "selu":
        out[...] = np.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)
    elif kind == "softplus":
        out[...] = -np.expm1(-y)
    elif kind == "softsign":
        out[...] = (1.0 - np.abs(y)) ** 2
    elif kind == "exponential":
        out[...] = y
    else:
        _check_kind(kind, "activation")
    return out


# ---------------------------------------------------------------------------
# shared plumbing
# ---------------------------------------------------------------------------

def _time_major(x, go_backwards):
    """(N, T, F) -> contiguous (T, N, F) in processing order."""
    if go_backwards:
        x = x[:, ::-1]
    return np.ascontiguousarray(x.transpose(1, 0, 2))


def _processing_mask(mask, n, t, go_backwards):
    """(N, T) mask -> (N, T) bool view in processing order, or None when nothing is masked."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != (n, t):
        raise ValueError(f"A recurrent op expects a mask of shape (batch, timesteps) = "
                         f"{(n, t)}. Received: mask.shape={m.shape}")
    m = m.astype(bool, copy=False)
    if m.all():
        return None
    return m[:, ::-1] if go_backwards else m


def _mask_steps(mask, n, t, go_backwards):
    """(N, T) mask -> (T, N, 1) bool in processing order, or None when nothing is masked."""
    m = _processing_mask(mask, n, t, go_backwards)
    return None if m is None else np.ascontiguousarray(m.T)[:, :, None]


def _check_inputs(name, x, kernel, recurrent_kernel, gates):
    if x.ndim != 3:
        raise ValueError(f"{name} expects inputs of shape (batch, timesteps, features). "
                         f"Received: x.shape={x.shape}")
    u = recurrent_kernel.shape[0]
    if kernel.shape != (x.shape[2], gates * u) or recurrent_kernel.shape != (u, gates * u):
        raise ValueError(
            f"{name}: kernel must be (features, {gates}*units) and recurrent_kernel "
            f"(units, {gates}*units). Received: x.shape={x.shape}, kernel.shape="
            f"{kernel.shape}, recurrent_kernel.shape={recurrent_kernel.shape}")
    return u


def _initial(h0, n, u, dtype):
    if h0 is None:
        return np.zeros((n, u), dtype=dtype)
    return np.asarray(h0, dtype=dtype)


def _fwd_work(x, kernel, *args, **kwargs):
    """Multiply-adds of the input projection (the largest GEMM of a forward)."""
    return math.prod(np.shape(x)) * int(np.shape(kernel)[-1])


def _bwd_work(gy, saved, *args, **kwargs):
    x = saved["xt"] if "xt" in saved else saved["xs"]
    return int(x.size) * int(saved["W"].shape[-1])


# ---------------------------------------------------------------------------
# GEMM helper
# ---------------------------------------------------------------------------

# On one BLAS thread, float32 GEMMs whose output is small (at most _SPLIT_MAX_OUT
# elements) but whose inner dimension is long run up to three times faster as a sum of
# products over blocks of _K_BLOCK inner indices (e.g. 48 x 512 x 128: 680 us in one
# call, 225 us in four): the single-threaded kernels lose most of their speed on such
# shapes. Larger outputs, float64, and GEMMs that run on several threads (where each
# extra call costs a thread hand-off) go to the library in one call.
_K_BLOCK = 128
_SPLIT_MAX_OUT = 1 << 14


def _mm(a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N), written into ``out`` when given.

    float32 products with a small output and K > _K_BLOCK, on one BLAS thread, are
    summed over K blocks.
    """
    m, k = a.shape
    n = b.shape[1]
    if k <= _K_BLOCK or m * n > _SPLIT_MAX_OUT or a.dtype != np.float32 \
            or b.dtype != np.float32 or blas_num_threads() != 1:
        return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    np.matmul(a[:, :_K_BLOCK], b[:_K_BLOCK], out=out)
    part = np.empty((m, n), dtype=np.float32)
    for k0 in range(_K_BLOCK, k, _K_BLOCK):
        np.matmul(a[:, k0:k0 + _K_BLOCK], b[k0:k0 + _K_BLOCK], out=part)
        out += part
    return out


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------

def _host_lstm(dtype, activation, recurrent_activation):
    """(forward, backward, act code, rec code) of kernels/host/lstm_cell.cpp for
    this dtype and these activations, or None (the ufunc path runs instead)."""
    act, rec = ACTIVATION_KINDS.index(activation), ACTIVATION_KINDS.index(recurrent_activation)
    if act > 4 or rec > 4:
        return None
    fns = _host.functions("lstm_cell", dtype, prefix="gs_lstm_")
    if fns is None:
        return None
    return fns["forward_sequence"], fns["backward_sequence"], act, rec


@single_thread_when_small(_fwd_work)
def lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask=None, recurrent_mask=None,
                 activation="tanh", recurrent_activation="sigmoid", go_backwards=False,
                 return_sequences=False, zero_output_for_mask=False, return_state=False,
                 input_grad=True):
    """LSTM over a whole sequence (Keras equations, gate blocks i|f|c|o).

    For each step: z = x_t @ kernel + h @ recurrent_kernel + bias;
    i, f, o = recurrent_activation(z_i, z_f, z_o); g = activation(z_c);
    c = f * c + i * g; h = o * activation(c).

    Inside, every per-step array is feature-major, (4u, N) for the gates and (u, N)
    for the states, so that each gate block is one contiguous slab and the recurrent
    GEMM is U^T (4u, u) @ h (u, N). With the default activations (sigmoid gates, tanh)
    the four gates cost ONE exp: the sigmoid rows of the weights are negated and the
    candidate rows scaled by -2 (exact in floating point), so 1 / (1 + exp(.)) gives
    sigmoid(z) for i, f, o and sigmoid(2 z) for the candidate, and tanh(z) =
    2 sigmoid(2 z) - 1.

    Returns (y, saved); see the module docstring for shapes.
    """
    _check_kind(activation, "activation")
    _check_kind(recurrent_activation, "recurrent_activation")
    u = _check_inputs("lstm_forward", x, kernel, recurrent_kernel, 4)
    N, T, F = x.shape
    dt = np.result_type(x.dtype, kernel.dtype)
    W = np.asarray(kernel, dtype=dt)                                       # (F, 4u)
    U = np.asarray(recurrent_kernel, dtype=dt)                             # (u, 4u)
    host = _host_lstm(dt, activation, recurrent_activation)
    if host is not None:
        return _lstm_forward_host(host, x, W, U, bias, h0, c0, mask, recurrent_mask,
                                  go_backwards, return_sequences, zero_output_for_mask,
                                  return_state)
    fast = recurrent_activation == "sigmoid" and activation == "tanh"
    if fast:
        scale = np.full(4 * u, -1.0, dtype=dt)
        scale[2 * u:3 * u] = -2.0
    else:
        scale = None
    Wsc = W if scale is None else W * scale                                # (F, 4u)
    Us = np.ascontiguousarray((U if scale is None else U * scale).T)       # (4u, u)
    xt = _time_major(x.astype(dt, copy=False), go_backwards)               # (T, N, F)
    bsc = None
    if bias is not None:
        bsc = np.asarray(bias, dtype=dt)
        bsc = bsc if scale is None else bsc * scale
    A = _project_inputs(xt, Wsc, bsc)                                      # (T, 4u, N) gates
    Tm = _mask_steps(mask, N, T, go_backwards)                             # (T, N, 1) or None
    keepT = None if Tm is None else np.ascontiguousarray(Tm.transpose(0, 2, 1))   # (T, 1, N)
    rmT = None if recurrent_mask is None else \
        np.ascontiguousarray(np.asarray(recurrent_mask, dtype=dt).T)       # (u, N)
    H = np.empty((T + 1, u, N), dtype=dt)                                  # H[0] = h0^T
    C = np.empty((T + 1, u, N), dtype=dt)                                  # C[0] = c0^T
    H[0] = _initial(h0, N, u, dt).T
    C[0] = _initial(c0, N, u, dt).T
    TC = np.empty((T, u, N), dtype=dt)                                     # activation(c)
    tmp = np.empty((4 * u, N), dtype=dt)
    _lstm_ufunc_loop(A, H, C, TC, keepT, rmT, Us, tmp, fast, activation, recurrent_activation)
    h_last = np.ascontiguousarray(H[T].T)
    c_last = np.ascontiguousarray(C[T].T)
    y = _pack_output_fm(H, keepT, return_sequences, zero_output_for_mask,
                        (h_last, c_last) if return_state else None)
    saved = {"xt": xt, "W": W, "U": U, "A": A, "H": H, "C": C, "TC": TC, "keepT": keepT,
             "rmT": rmT, "u": u, "x_dtype": x.dtype, "has_bias": bias is not None,
             "has_h0": h0 is not None, "has_c0": c0 is not None,
             "h_last": h_last, "c_last": c_last}
    return y, saved


def _lstm_ufunc_loop(A, H, C, TC, keepT, rmT, Us, tmp, fast, activation,
                     recurrent_activation):
    """The forward time loop as ufunc calls (fills A with the gates, H, C and TC)."""
    T = A.shape[0]
    u = H.shape[1]
    tmpu = np.empty_like(H[0])                                             # (u, N)
    u2, u3 = 2 * u, 3 * u
    tanh_act = activation == "tanh"
    with np.errstate(over="ignore"), single_blas_thread():
        for s in range(T):
            a = A[s]
            hp = H[s] if rmT is None else H[s] * rmT
            np.matmul(Us, hp, out=tmp)
            a += tmp
            if fast:
                np.exp(a, out=a)
                a += 1.0
                np.reciprocal(a, out=a)
                g = a[u2:u3]
                g *= 2.0
                g -= 1.0
            else:
                _act_(a[:u2], recurrent_activation)
                _act_(a[u2:u3], activation)
                _act_(a[u3:], recurrent_activation)
            c = C[s + 1]
            np.multiply(a[u:u2], C[s], out=c)                                # f * c_prev
            np.multiply(a[:u], a[u2:u3], out=tmpu)                           # i * g
            c += tmpu
            tc = TC[s]
            if tanh_act:
                np.tanh(c, out=tc)
            else:
                tc[...] = c
                _act_(tc, activation)
            np.multiply(a[u3:], tc, out=H[s + 1])                           # o * act(c)
            if keepT is not None:
                drop = ~keepT[s]
                np.copyto(H[s + 1], H[s], where=drop)
                np.copyto(C[s + 1], C[s], where=drop)


@single_thread_when_small(_bwd_work)
def lstm_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid",
                  go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                  return_state=False, input_grad=True):
    """Gradients of the LSTM: (gx, gkernel, grecurrent_kernel, gbias, gh0, gc0, None, None).

    Per step (in reverse) the gate derivatives, then one GEMM U (u, 4u) @ dz (4u, N)
    for the gradient of h_prev; the weight gradients follow after the loop.
    """
    if "host" in saved:
        return _lstm_backward_host(gy, saved, return_sequences, zero_output_for_mask,
                                   return_state, input_grad, go_backwards)
    xt, W, U, A, H, C, TC = (saved[k] for k in ("xt", "W", "U", "A", "H", "C", "TC"))
    keepT, rmT, u = saved["keepT"], saved["rmT"], saved["u"]
    T, N, F = xt.shape
    dt = A.dtype
    G, glast, g_states = _unpack_grad_fm(gy, T, return_sequences, zero_output_for_mask,
                                         keepT, 2 if return_state else 0, dt)
    dh = np.zeros((u, N), dtype=dt)                                        # d h_s
    dc = np.zeros((u, N), dtype=dt)                                        # d c_s
    if g_states:
        dh += g_states[0]
        dc += g_states[1]
    if glast is not None:
        dh += glast
    dZ, dh, dc = _lstm_backward_ufunc_loop(A, C, TC, G, keepT, rmT, U, dh, dc, activation,
                                           recurrent_activation)
    Hp = H[:T] if rmT is None else H[:T] * rmT                              # GEMM inputs
    gx, gW, gU, gb = _weight_grads(dZ, xt, Hp, W, saved["has_bias"], input_grad,
                                   go_backwards, saved["x_dtype"])
    gh0 = np.ascontiguousarray(dh.T) if saved["has_h0"] else None
    gc0 = np.ascontiguousarray(dc.T) if saved["has_c0"] else None
    return gx, gW, gU, gb, gh0, gc0, None, None


def _lstm_backward_ufunc_loop(A, C, TC, G, keepT, rmT, U, dh, dc, activation,
                              recurrent_activation):
    """The backward time loop as ufunc calls -> (dZ (T, 4u, N) view, dh, dc at step 0).

    The step-independent factors of the gate derivatives are computed for all steps at
    once before the loop (K below), so each step costs four elementwise passes and one
    GEMM U (u, 4u) @ dz (4u, N).
    """
    T, u, N = TC.shape
    dt = A.dtype
    u2, u3, u4 = 2 * u, 3 * u, 4 * u
    # K[s] (5u, N), blocks i|f|c|o|cell: dz_i = dc * K_i, dz_f = dc * K_f,
    # dz_c = dc * K_g, dz_o = dh * K_o, and dc += dh * K_cell
    K = np.empty((T, 5 * u, N), dtype=dt)
    _dact(A[:, :u2], recurrent_activation, K[:, :u2])
    K[:, :u] *= A[:, u2:u3]                                                # * g
    K[:, u:u2] *= C[:T]                                                    # * c_prev
    _dact(A[:, u2:u3], activation, K[:, u2:u3])
    K[:, u2:u3] *= A[:, :u]                                                # * i
    _dact(A[:, u3:], recurrent_activation, K[:, u3:u4])
    K[:, u3:u4] *= TC                                                      # * act(c)
    _dact(TC, activation, K[:, u4:])
    K[:, u4:] *= A[:, u3:]                                                 # * o
    # dZ[s] (5u, N): rows :4u the gate-input gradients, rows 4u: the scratch dh * K_cell
    dZ = np.empty((T, 5 * u, N), dtype=dt)
    uN = u * N
    K5 = K.reshape(T, 5, uN)                                               # flat (u, N) blocks
    dZ5 = dZ.reshape(T, 5, uN)
    with single_blas_thread():
        for s in range(T - 1, -1, -1):
            if G is not None:
                dh += G[s]
            k = K5[s]
            z = dZ5[s]
            if keepT is None:
                np.multiply(k[3:], dh.reshape(uN), out=z[3:])              # do | dh K_cell
                dc += dZ[s, u4:]
                np.multiply(k[:3], dc.reshape(uN), out=z[:3])              # di | df | dg
                np.multiply(dc, A[s, u:u2], out=dc)                         # dc_prev = dc f
                np.matmul(U, dZ[s, :u4], out=dh)
                if rmT is not None:
                    dh *= rmT
            else:
                keep = keepT[s]
                skip = ~keep
                np.multiply(k[3:], (dh * keep).reshape(uN), out=z[3:])
                dcc = dc * keep
                dcc += dZ[s, u4:]
                np.multiply(k[:3], dcc.reshape(uN), out=z[:3])
                dcc *= A[s, u:u2]
                dcc += dc * skip
                dh_new = U @ dZ[s, :u4]
                if rmT is not None:
                    dh_new *= rmT
                dh_new += dh * skip
                dh, dc = dh_new, dcc
    return dZ[:, :u4], dh, dc


# ---------------------------------------------------------------------------
# LSTM with the host kernels (kernels/host/lstm_cell.cpp)
# ---------------------------------------------------------------------------
# Batch-major, like cuDNN: the inputs stay (N, T, F) (reversed once for go_backwards),
# so the input projection, the weight gradients and the input gradient are single 2-D
# NumPy GEMMs over all N*T rows with no transposed copies. The time loop runs in ONE
# host call each way: per step the recurrent product h_prev @ U (dz @ U^T backward) and
# the fused gates and state update (gate derivatives), with the batch rows split over
# threads (a row's recurrence never reads another row). Time index = processing step.

def _lstm_forward_host(host, x, W, U, bias, h0, c0, mask, recurrent_mask, go_backwards,
                       return_sequences, zero_output_for_mask, return_state):
    step, _, act, rec = host
    N, T, F = x.shape
    u = U.shape[0]
    dt = W.dtype
    xs = x.astype(dt, copy=False)
    xs = np.ascontiguousarray(xs[:, ::-1] if go_backwards else xs)         # (N, T, F)
    A = np.matmul(xs.reshape(N * T, F), W)                                 # (N*T, 4u)
    if bias is not None:
        A += np.asarray(bias, dtype=dt)
    A = A.reshape(N, T, 4 * u)                                             # gates, in place
    keep = _keep_steps(mask, N, T, go_backwards)                           # (N, T) uint8 | None
    rm = None if recurrent_mask is None else \
        np.ascontiguousarray(recurrent_mask, dtype=dt)                     # (N, u)
    H = np.empty((N, T + 1, u), dtype=dt)                                  # H[:, 0] = h0
    C = np.empty((N, T + 1, u), dtype=dt)                                  # C[:, 0] = c0
    H[:, 0] = _initial(h0, N, u, dt)
    C[:, 0] = _initial(c0, N, u, dt)
    TC = np.empty((N, T, u), dtype=dt)                                     # act(c)
    hu = np.empty((N, 4 * u), dtype=dt)                                    # scratch: h_prev @ U
    hp = None if rm is None else np.empty((N, u), dtype=dt)                # scratch: h_prev rm
    Uc = np.ascontiguousarray(U)                                           # (u, 4u)
    threads = _host.row_threads(N, T * N * 4 * u * u)
    ptr = _host.pointer
    rc = step(ptr(A), ptr(Uc), ptr(H), ptr(C), ptr(TC), ptr(keep), ptr(rm), ptr(hu), ptr(hp),
              T, u, N, act, rec, threads)
    if rc:
        raise RuntimeError(f"gs_lstm_forward_sequence refused activation codes {act}, {rec}")
    h_last = H[:, T].copy()
    c_last = C[:, T].copy()
    masked_out = zero_output_for_mask and keep is not None
    if return_sequences:
        out = H[:, 1:] * keep[:, :, None] if masked_out else H[:, 1:]      # (N, T, u)
    else:
        out = h_last * keep[:, -1:] if masked_out else h_last              # (N, u)
    if return_state:
        out3 = out if return_sequences else out[:, None, :]
        y = np.concatenate([out3, h_last[:, None, :], c_last[:, None, :]], axis=1)
    else:
        y = np.ascontiguousarray(out) if return_sequences else out.copy()
    saved = {"host": host, "xs": xs, "W": W, "U": U, "A": A, "H": H, "C": C, "TC": TC,
             "keep": keep, "rm": rm, "u": u, "x_dtype": x.dtype, "has_bias": bias is not None,
             "has_h0": h0 is not None, "has_c0": c0 is not None,
             "h_last": h_last, "c_last": c_last}
    return y, saved




def _keep_steps(mask, n, t, go_backwards):
    """(N, T) mask -> contiguous (N, T) uint8 in processing order, or None when all kept."""
    m = _processing_mask(mask, n, t, go_backwards)
    return None if m is None else np.ascontiguousarray(m, dtype=np.uint8)


def _lstm_backward_host(gy, saved, return_sequences, zero_output_for_mask, return_state,
                        input_grad, go_backwards):
    _, step, act, rec = saved["host"]
    xs, W, U, A, H, C, TC = (saved[k] for k in ("xs", "W", "U", "A", "H", "C", "TC"))
    keep, rm, u = saved["keep"], saved["rm"], saved["u"]
    N, T, F = xs.shape
    dt = A.dtype
    gy = np.asarray(gy, dtype=dt)
    dh = np.zeros((N, u), dtype=dt)                                        # d h_s
    dc = np.zeros((N, u), dtype=dt)                                        # d c_s
    if return_state:
        t_out = T if return_sequences else 1
        dh += gy[:, t_out]
        dc += gy[:, t_out + 1]
        gy = gy[:, :t_out] if return_sequences else gy[:, 0]
    masked_out = zero_output_for_mask and keep is not None
    G = None
    if return_sequences:
        G = gy * keep[:, :, None] if masked_out else np.ascontiguousarray(gy)  # (N, T, u)
    else:
        dh += gy * keep[:, -1:] if masked_out else gy
    dZ = np.empty((N, T, 4 * u), dtype=dt)                                 # d gate inputs
    tmp = None if keep is None else np.empty((N, u), dtype=dt)             # scratch
    Ut = np.ascontiguousarray(U.T)                                         # (4u, u)
    threads = _host.row_threads(N, T * N * 4 * u * u)
    ptr = _host.pointer
    rc = step(ptr(A), ptr(Ut), ptr(C), ptr(TC), ptr(G), ptr(keep), ptr(rm), ptr(dh), ptr(dc),
              ptr(dZ), ptr(tmp), T, u, N, act, rec, threads)
    if rc:
        raise RuntimeError(f"gs_lstm_backward_sequence refused activation codes {act}, {rec}")
    dZ2 = dZ.reshape(N * T, 4 * u)
    Hp = H[:, :T] if rm is None else H[:, :T] * rm[:, None, :]             # GEMM inputs
    Hp = np.ascontiguousarray(Hp).reshape(N * T, u)
    gW = xs.reshape(N * T, F).T @ dZ2                                      # (F, 4u)
    gU = Hp.T @ dZ2                                                        # (u, 4u)
    gb = np.ones(N * T, dtype=dt) @ dZ2 if saved["has_bias"] else None     # (4u,)
    gx = None
    if input_grad:
        gx = (dZ2 @ W.T).reshape(N, T, F)
        if go_backwards:
            gx = np.ascontiguousarray(gx[:, ::-1])
        gx = gx.astype(saved["x_dtype"], copy=False)
    gh0 = dh if saved["has_h0"] else None
    gc0 = dc if saved["has_c0"] else None
    return gx, gW, gU, gb, gh0, gc0, None, None


def _project_inputs(xt, W, b):
    """Input projections of every step, feature-major: A[s] = W^T @ xt[s]^T + b[:, None].

    xt (T, N, F), W (F, G*u), b (G*u,) or None -> A (T, G*u, N). With a batch of 32 or
    more, one batched GEMM writes each step's block in place; with smaller batches the
    per-step products are too thin for the BLAS kernels, so one GEMM over all steps fills
    a (T*N, G*u) buffer that is then rearranged.
    """
    T, N, F = xt.shape
    Gu = W.shape[1]
    A = np.empty((T, Gu, N), dtype=xt.dtype)
    if N >= 32:
        np.matmul(W.T, xt.transpose(0, 2, 1), out=A)
        if b is not None:
            A += b[:, None]
        return A
    P3 = (xt.reshape(T * N, F) @ W).reshape(T, N, Gu).transpose(0, 2, 1)  # one GEMM
    if b is None:
        np.copyto(A, P3)
    else:
        np.add(P3, b[:, None], out=A)
    return A


def _weight_grads(dZ, xt, Hp, W, has_bias, input_grad, go_backwards, x_dtype):
    """The gradients that follow from the per-step gate-input gradients once the loop is done.

    dZ (T, G*u, N) (a view), xt (T, N, F), Hp (T, u, N) the states that entered the
    recurrent GEMMs -> (gx (N, T, F) or None, gW (F, G*u), gU (u, G*u), gb (G*u,) or None).

    With a batch of 32 or more, the weight gradients are sums over the steps of per-step
    products, computed as one batched GEMM over the stacked [x^T; h; 1] (T, F+u+1, N)
    (its last row gives the bias gradient); smaller batches make one (G*u, T*N) matrix
    of dZ and one GEMM per gradient.
    """
    T, Gu, N = dZ.shape
    F = xt.shape[2]
    u = Hp.shape[1]
    dZt = dZ.transpose(0, 2, 1)                                            # (T, N, G*u) view
    if N >= 32:
        XH = np.empty((T, F + u + 1, N), dtype=dZ.dtype)
        XH[:, :F] = xt.transpose(0, 2, 1)
        XH[:, F:F + u] = Hp
        XH[:, F + u] = 1.0
        gWU = np.matmul(XH, dZt).sum(axis=0)                               # (F+u+1, G*u)
        gW, gU = gWU[:F], gWU[F:F + u]
        gb = gWU[F + u] if has_bias else None
        gx_tm = np.matmul(dZt, W.T) if input_grad else None                # (T, N, F)
    else:
        dZr = np.ascontiguousarray(dZ.transpose(1, 0, 2)).reshape(Gu, T * N)   # (G*u, T*N)
        Hr = np.ascontiguousarray(Hp.transpose(1, 0, 2)).reshape(u, T * N)     # (u, T*N)
        gU = _mm(Hr, dZr.T)                                                # (u, G*u)
        gW = _mm(xt.reshape(T * N, F).T, dZr.T)                            # (F, G*u)
        gb = dZr.sum(axis=1) if has_bias else None
        gx_tm = (dZr.T @ W.T).reshape(T, N, F) if input_grad else None
    gx = None
    if gx_tm is not None:
        gx = gx_tm.transpose(1, 0, 2)                                      # (N, T, F)
        if go_backwards:
            gx = gx[:, ::-1]
        gx = np.ascontiguousarray(gx).astype(x_dtype, copy=False)
    return gx, gW, gU, gb


def _pack_output_fm(H, keepT, return_sequences, zero_output_for_mask, states):
    """y from the feature-major state sequence H (T+1, u, N) (H[0] = h0^T)."""
    if return_sequences:
        seq = H[1:] if not (zero_output_for_mask and keepT is not None) else H[1:] * keepT
        out = seq.transpose(2, 0, 1)                                      # (N, T, u)
    else:
        last = H[-1] if not (zero_output_for_mask and keepT is not None) else \
            H[-1] * keepT[-1]
        out = last.T[:, None, :]                                           # (N, 1, u)
    if states is None:
        return np.ascontiguousarray(out if return_sequences else out[:, 0])
    return np.concatenate([out] + [s[:, None, :] for s in states], axis=1)


def _unpack_grad_fm(gy, T, return_sequences, zero_output_for_mask, keepT, n_states, dtype):
    """gy -> (G (T, u, N) per-step output gradients or None, glast (u, N) or None,
    [final-state gradients (u, N)]), all feature-major."""
    gy = np.asarray(gy, dtype=dtype)
    g_states = []
    if n_states:
        t_out = T if return_sequences else 1
        g_states = [gy[:, t_out + k].T for k in range(n_states)]
        gy = gy[:, :t_out] if return_sequences else gy[:, 0]
    masked = zero_output_for_mask and keepT is not None
    if return_sequences:
        G = np.ascontiguousarray(gy.transpose(1, 2, 0))                    # (T, u, N)
        if masked:
            G *= keepT
        return G, None, g_states
    glast = np.array(gy.T, dtype=dtype)                                    # (u, N)
    if masked:
        glast *= keepT[-1]
    return None, glast, g_states


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------

@single_thread_when_small(_fwd_work)
def gru_forward(x, kernel, recurrent_kernel, bias, h0, mask=None, recurrent_mask=None,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, return_sequences=False, zero_output_for_mask=False,
                return_state=False, input_grad=True):
    """GRU over a whole sequence (Keras equations, gate blocks z|r|h).

    reset_after=True (bias (2, 3u)): xz, xr, xh = x_t @ kernel + b_in;
    rz, rr, rh = h @ recurrent_kernel + b_rec; z = rec(xz + rz); r = rec(xr + rr);
    hh = act(xh + r * rh).
    reset_after=False (bias (3u,)): z, r from x_t @ kernel[:, :2u] + h @ U[:, :2u] + b;
    hh = act(x_t @ kernel[:, 2u:] + (r * h) @ U[:, 2u:] + b_h).
    Both: h = z * h_prev + (1 - z) * hh.

    Per-step arrays are feature-major ((3u, N) gates, (u, N) state) like the LSTM's;
    with sigmoid gates, the z and r rows of the weights are negated so that
    1 / (1 + exp(.)) gives both gates with one exp.
    """
    _check_kind(activation, "activation")
    _check_kind(recurrent_activation, "recurrent_activation")
    u = _check_inputs("gru_forward", x, kernel, recurrent_kernel, 3)
    N, T, F = x.shape
    dt = np.result_type(x.dtype, kernel.dtype)
    W = np.asarray(kernel, dtype=dt)                                       # (F, 3u)
    U = np.asarray(recurrent_kernel, dtype=dt)                             # (u, 3u)
    u2 = 2 * u
    if bias is not None:
        want = (2, 3 * u) if reset_after else (3 * u,)
        if tuple(bias.shape) != want:
            raise ValueError(f"gru_forward with reset_after={reset_after} expects a bias of "
                             f"shape {want}. Received: bias.shape={tuple(bias.shape)}")
        bias = np.asarray(bias, dtype=dt)
    fast = recurrent_activation == "sigmoid"
    scale = None
    if fast:
        scale = np.ones(3 * u, dtype=dt)
        scale[:u2] = -1.0
    Wsc = W if scale is None else W * scale
    Us = np.ascontiguousarray((U if scale is None else U * scale).T)       # (3u, u)
    xt = _time_major(x.astype(dt, copy=False), go_backwards)               # (T, N, F)
    b_in = b_rec = None
    if bias is not None:
        b_in = bias[0] if reset_after else bias
        b_in = b_in if scale is None else b_in * scale
        if reset_after:
            b_rec = (bias[1] if scale is None else bias[1] * scale)[:, None]   # (3u, 1)
    A = _project_inputs(xt, Wsc, b_in)                                     # z | r | hh per step
    Tm = _mask_steps(mask, N, T, go_backwards)
    keepT = None if Tm is None else np.ascontiguousarray(Tm.transpose(0, 2, 1))   # (T, 1, N)
    rmT = None if recurrent_mask is None else \
        np.ascontiguousarray(np.asarray(recurrent_mask, dtype=dt).T)       # (u, N)
    H = np.empty((T + 1, u, N), dtype=dt)
    H[0] = _initial(h0, N, u, dt).T
    # reset_after: RH = h @ U_h + b_rh (the candidate's recurrent part, before r)
    # reset_before: RH = r * h_prev (the input of the candidate's recurrent GEMM)
    RH = np.empty((T, u, N), dtype=dt)
    tmp = np.empty((3 * u, N), dtype=dt)
    tmpu = np.empty((u, N), dtype=dt)
    Us_zr = np.ascontiguousarray(Us[:u2])                                  # (2u, u)
    Us_h = np.ascontiguousarray(Us[u2:])                                   # (u, u)
    with np.errstate(over="ignore"), single_blas_thread():
        for s in range(T):
            a = A[s]
            hp = H[s]
            hd = hp if rmT is None else hp * rmT
            zr = a[:u2]
            if reset_after:
                np.matmul(Us, hd, out=tmp)
                if b_rec is not None:
                    tmp += b_rec
                zr += tmp[:u2]
            else:
                np.matmul(Us_zr, hd, out=tmp[:u2])
                zr += tmp[:u2]
            if fast:
                np.exp(zr, out=zr)
                zr += 1.0
                np.reciprocal(zr, out=zr)
            else:
                _act_(zr, recurrent_activation)
            rh = RH[s]
            if reset_after:
                np.copyto(rh, tmp[u2:])
                np.multiply(a[u:u2], rh, out=tmpu)
            else:
                np.multiply(a[u:u2], hd, out=rh)
                np.matmul(Us_h, rh, out=tmpu)
            hh = a[u2:]
            hh += tmpu
            if activation == "tanh":
                np.tanh(hh, out=hh)
            else:
                _act_(hh, activation)
            hn = H[s + 1]                                          # hh + z * (h_prev - hh)
            np.subtract(hp, hh, out=hn)
            hn *= a[:u]
            hn += hh
            if keepT is not None:
                np.copyto(hn, hp, where=~keepT[s])
    h_last = np.ascontiguousarray(H[T].T)
    y = _pack_output_fm(H, keepT, return_sequences, zero_output_for_mask,
                        (h_last,) if return_state else None)
    saved = {"xt": xt, "W": W, "U": U, "A": A, "H": H, "RH": RH, "keepT": keepT, "rmT": rmT,
             "u": u, "x_dtype": x.dtype, "has_bias": bias is not None,
             "has_h0": h0 is not None, "h_last": h_last}
    return y, saved


@single_thread_when_small(_bwd_work)
def gru_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, go_backwards=False, return_sequences=False,
                 zero_output_for_mask=False, return_state=False, input_grad=True):
    """Gradients of the GRU: (gx, gkernel, grecurrent_kernel, gbias, gh0, None, None)."""
    xt, W, U, A, H, RH = (saved[k] for k in ("xt", "W", "U", "A", "H", "RH"))
    keepT, rmT, u = saved["keepT"], saved["rmT"], saved["u"]
    T, N, F = xt.shape
    dt = A.dtype
    u2 = 2 * u
    G, glast, g_states = _unpack_grad_fm(gy, T, return_sequences, zero_output_for_mask,
                                         keepT, 1 if return_state else 0, dt)
    Hd = H[:T] if rmT is None else H[:T] * rmT                              # GEMM inputs
    # K[s] (3u, N): dz = dh * K_z, dhh = dh * K_h, dr = (dhh or drh) * K_r
    K = np.empty((T, 3 * u, N), dtype=dt)
    _dact(A[:, :u2], recurrent_activation, K[:, :u2])
    K[:, :u] *= H[:T] - A[:, u2:]                                          # * (h_prev - hh)
    K[:, u:u2] *= RH if reset_after else Hd                                # * rh  or  * h_prev
    _dact(A[:, u2:], activation, K[:, u2:])
    K[:, u2:] *= 1.0 - A[:, :u]                                            # * (1 - z)
    dA = np.empty((T, 3 * u, N), dtype=dt)                 # d of the input projections
    dR = np.empty((T, 3 * u, N), dtype=dt) if reset_after else None   # d of h @ U + b_rec
    dh = np.zeros((u, N), dtype=dt)
    if g_states:
        dh += g_states[0]
    if glast is not None:
        dh += glast
    U_zr = np.ascontiguousarray(U[:, :u2])                                 # (u, 2u)
    U_h = np.ascontiguousarray(U[:, u2:])                                  # (u, u)
    tmpu = np.empty((u, N), dtype=dt)
    with single_blas_thread():
        for s in range(T - 1, -1, -1):
            if G is not None:
                dh += G[s]
            d = dA[s]
            k = K[s]
            zg, rg = A[s, :u], A[s, u:u2]
            dhc = dh if keepT is None else dh * keepT[s]
            np.multiply(dhc, k[:u], out=d[:u])                               # dz
            np.multiply(dhc, k[u2:], out=d[u2:])                             # dhh
            if reset_after:
                np.multiply(d[u2:], k[u:u2], out=d[u:u2])                    # dr
                rr = dR[s]
                rr[:u2] = d[:u2]
                np.multiply(d[u2:], rg, out=rr[u2:])
                dhp = U @ rr
            else:
                drh = U_h @ d[u2:]                                           # d (r * h)
                np.multiply(drh, k[u:u2], out=d[u:u2])                       # dr
                dhp = U_zr @ d[:u2]
                drh *= rg
                dhp += drh
            if rmT is not None:
                dhp *= rmT
            np.multiply(dhc, zg, out=tmpu)                                   # via z * h_prev
            dhp += tmpu
            if keepT is not None:
                dhp += dh * ~keepT[s]
            dh = dhp
    # after the loop: one GEMM each for the kernel, recurrent kernel and input gradients
    dAr = np.ascontiguousarray(dA.transpose(1, 0, 2)).reshape(3 * u, T * N)      # (3u, T*N)
    Hr = np.ascontiguousarray(Hd.transpose(1, 0, 2)).reshape(u, T * N)           # (u, T*N)
    if reset_after:
        dRr = np.ascontiguousarray(dR.transpose(1, 0, 2)).reshape(3 * u, T * N)
        gU = _mm(Hr, dRr.T)                                                # (u, 3u)
        gb = np.stack([dAr.sum(axis=1), dRr.sum(axis=1)]) if saved["has_bias"] else None
    else:
        RHr = np.ascontiguousarray(RH.transpose(1, 0, 2)).reshape(u, T * N)
        gU = np.empty((u, 3 * u), dtype=dt)
        gU[:, :u2] = Hr @ dAr[:u2].T
        gU[:, u2:] = RHr @ dAr[u2:].T
        gb = dAr.sum(axis=1) if saved["has_bias"] else None
    gW = _mm(xt.reshape(T * N, F).T, dAr.T)                                # (F, 3u)
    gx = None
    if input_grad:
        gx = (dAr.T @ W.T).reshape(T, N, F).transpose(1, 0, 2)
        if go_backwards:
            gx = gx[:, ::-1]
        gx = np.ascontiguousarray(gx).astype(saved["x_dtype"], copy=False)
    gh0 = np.ascontiguousarray(dh.T) if saved["has_h0"] else None
    return gx, gW, gU, gb, gh0, None, None


# ---------------------------------------------------------------------------
# SimpleRNN
# ---------------------------------------------------------------------------

@single_thread_when_small(_fwd_work)
def simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask=None, recurrent_mask=None,
                       activation="tanh", go_backwards=False, return_sequences=False,
                       zero_output_for_mask=False, return_state=False, input_grad=True):
    """Fully connected RNN: h = activation(x_t @ kernel + h @ recurrent_kernel + bias)."""
    _check_kind(activation, "activation")
    u = _check_inputs("simple_rnn_forward", x, kernel, recurrent_kernel, 1)
    N, T, F = x.shape
    dt = np.result_type(x.dtype, kernel.dtype)
    W = np.asarray(kernel, dtype=dt)                                       # (F, u)
    U = np.asarray(recurrent_kernel, dtype=dt)                             # (u, u)
    Ut = np.ascontiguousarray(U.T)
    xt = _time_major(x.astype(dt, copy=False), go_backwards)               # (T, N, F)
    A = _project_inputs(xt, W, None if bias is None else np.asarray(bias, dtype=dt))
    Tm = _mask_steps(mask, N, T, go_backwards)
    keepT = None if Tm is None else np.ascontiguousarray(Tm.transpose(0, 2, 1))   # (T, 1, N)
    rmT = None if recurrent_mask is None else \
        np.ascontiguousarray(np.asarray(recurrent_mask, dtype=dt).T)       # (u, N)
    H = np.empty((T + 1, u, N), dtype=dt)
    H[0] = _initial(h0, N, u, dt).T
    tmp = np.empty((u, N), dtype=dt)
    with np.errstate(over="ignore"), single_blas_thread():
        for s in range(T):
            a = A[s]
            hd = H[s] if rmT is None else H[s] * rmT
            np.matmul(Ut, hd, out=tmp)
            a += tmp
            if activation == "tanh":
                np.tanh(a, out=a)
            else:
                _act_(a, activation)
            np.copyto(H[s + 1], a)
            if keepT is not None:
                np.copyto(H[s + 1], H[s], where=~keepT[s])
    h_last = np.ascontiguousarray(H[T].T)
    y = _pack_output_fm(H, keepT, return_sequences, zero_output_for_mask,
                        (h_last,) if return_state else None)
    saved = {"xt": xt, "W": W, "U": U, "A": A, "H": H, "keepT": keepT, "rmT": rmT, "u": u,
             "x_dtype": x.dtype, "has_bias": bias is not None, "has_h0": h0 is not None,
             "h_last": h_last}
    return y, saved


@single_thread_when_small(_bwd_work)
def simple_rnn_backward(gy, saved, activation="tanh", go_backwards=False,
                        return_sequences=False, zero_output_for_mask=False,
                        return_state=False, input_grad=True):
    """Gradients of the SimpleRNN: (gx, gkernel, grecurrent_kernel, gbias, gh0, None, None)."""
    xt, W, U, A, H = (saved[k] for k in ("xt", "W", "U", "A", "H"))
    keepT, rmT, u = saved["keepT"], saved["rmT"], saved["u"]
    T, N, F = xt.shape
    dt = A.dtype
    G, glast, g_states = _unpack_grad_fm(gy, T, return_sequences, zero_output_for_mask,
                                         keepT, 1 if return_state else 0, dt)
    K = np.empty((T, u, N), dtype=dt)                                      # act'(pre) per step
    _dact(A, activation, K)
    dA = np.empty((T, u, N), dtype=dt)
    dh = np.zeros((u, N), dtype=dt)
    if g_states:
        dh += g_states[0]
    if glast is not None:
        dh += glast
    with single_blas_thread():
        for s in range(T - 1, -1, -1):
            if G is not None:
                dh += G[s]
            d = dA[s]
            if keepT is None:
                np.multiply(dh, K[s], out=d)
            else:
                np.multiply(dh * keepT[s], K[s], out=d)
            dhp = U @ d
            if rmT is not None:
                dhp *= rmT
            if keepT is not None:
                dhp += dh * ~keepT[s]
            dh = dhp
    Hd = H[:T] if rmT is None else H[:T] * rmT                              # GEMM inputs
    gx, gW, gU, gb = _weight_grads(dA, xt, Hd, W, saved["has_bias"], input_grad,
                                   go_backwards, saved["x_dtype"])
    gh0 = np.ascontiguousarray(dh.T) if saved["has_h0"] else None
    return gx, gW, gU, gb, gh0, None, None
