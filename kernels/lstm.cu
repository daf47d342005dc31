/* LSTM: the fused pointwise kernels of one time step, forward and backward.
 *
 * @kernels: lstm_forward_step lstm_backward_step
 *
 * The whole-sequence op (gpuseq/backend/cupy_ops/recurrent.py::lstm_forward and
 * ::lstm_backward) follows the cuDNN recipe:
 *   before the loop  one GEMM   XW = x @ kernel + bias  for every step at once  (T, N, 4u)
 *   per step s       one GEMM   HU = h_{s-1} @ recurrent_kernel               (N, 4u)
 *                    lstm_forward_step (all gates and the state update)
 *   backward step    lstm_backward_step (all gate derivatives), then one GEMM
 *                    dh_rec = dz_s @ recurrent_kernel^T                         (N, u)
 *   after the loop   one GEMM each for d kernel (x^T dz) and d recurrent_kernel (h^T dz).
 * NumPy references: gpuseq/backend/numpy_ops/recurrent.py::lstm_forward / ::lstm_backward
 * (which keep the gates in i|f|o|c order internally; these kernels keep Keras's i|f|c|o).
 *
 * Layouts: row-major, C-contiguous, dtype T; n = batch rows, u = units. Gate blocks
 * along the last axis of a (n, 4u) array: [i | f | c | o], each u wide.
 * Activation codes (`act`, `rec_act`): see rnn_common.cuh (index in ACTIVATION_KINDS).
 *
 * lstm_forward_step(T* gates, const T* hu, const T* c_prev, const T* h_prev,
 *                   const T* mask, T* c, T* h, T* tc, long long n, long long u,
 *                   long long has_mask, long long act, long long rec_act)
 *   gates  (n, 4u) in: x @ kernel + bias of this step; out: the activated gates
 *          i = rec(z_i), f = rec(z_f), g = act(z_c), o = rec(z_o) with z = gates + hu.
 *   hu     (n, 4u) h_prev @ recurrent_kernel (h_prev times the recurrent dropout mask).
 *   c_prev, h_prev (n, u): the states before the step.
 *   mask   (n,) 1 = step used, 0 = masked (states carried: c = c_prev, h = h_prev);
 *          read only when has_mask != 0 (pass any 1-element array otherwise).
 *   c, h   (n, u) out: c = f c_prev + i g, h = o act(c) (or the carried states).
 *   tc     (n, u) out: act(f c_prev + i g) (unmasked; kept for backward).
 *   Each thread owns element (row, j) of the (n, u) states and reads/writes the
 *   four gate entries of that element, so `gates` is safely updated in place.
 *
 * lstm_backward_step(const T* gates, const T* tc, const T* c_prev, const T* mask,
 *                    const T* gy, const T* dh_rec, const T* rmask, T* dh_carry, T* dc,
 *                    T* dz, long long n, long long u, long long has_mask, long long has_gy,
 *                    long long has_rmask, long long act, long long rec_act)
 *   gates, tc, c_prev, mask: as saved by the forward step.
 *   gy       (n, u) gradient of this step's output (read when has_gy != 0).
 *   dh_rec   (n, u) dz_{s+1} @ recurrent_kernel^T from the step after (zeros at the end).
 *   rmask    (n, u) recurrent dropout mask (read when has_rmask != 0).
 *   dh_carry (n, u) in: gradient reaching h_s other than through dh_rec (the final-state
 *            gradient at the start); out: the part that skips a masked step (dh * (1 - m)).
 *   dc       (n, u) in: d c_s; out: d c_{s-1} = dc_cell * f + dc * (1 - m).
 *   dz       (n, 4u) out: gradients of the gate pre-activations [di | df | dc | do].
 *   With dh = dh_carry + gy + dh_rec * rmask, m = mask, dhc = dh m, dcc = dc m:
 *     dcc += dhc o act'(tc);   do = dhc tc rec'(o);   di = dcc g rec'(i);
 *     df = dcc c_prev rec'(f); dg = dcc i act'(g).
 *
 * Launch (both): 1-D grid-stride loop over n*u elements, block = (256, 1, 1),
 * grid = (min(ceil(n*u / 256), 65535), 1, 1); not launched when n*u == 0.
 */
#include "rnn_common.cuh"

template <typename T>
__global__ void lstm_forward_step(T* gates, const T* hu, const T* c_prev, const T* h_prev,
                                  const T* mask, T* c, T* h, T* tc, long long n, long long u,
                                  long long has_mask, long long act, long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 4 * u + j;
        const T ig = gs::rnn_act(gates[b] + hu[b], rec_act);
        const T fg = gs::rnn_act(gates[b + u] + hu[b + u], rec_act);
        const T gg = gs::rnn_act(gates[b + 2 * u] + hu[b + 2 * u], act);
        const T og = gs::rnn_act(gates[b + 3 * u] + hu[b + 3 * u], rec_act);
        gates[b] = ig;
        gates[b + u] = fg;
        gates[b + 2 * u] = gg;
        gates[b + 3 * u] = og;
        const T cn = fg * c_prev[k] + ig * gg;
        const T tcn = gs::rnn_act(cn, act);
        tc[k] = tcn;
        if (has_mask != 0 && mask[row] == T(0)) {
            c[k] = c_prev[k];
            h[k] = h_prev[k];
        } else {
            c[k] = cn;
            h[k] = og * tcn;
        }
    }
}

template <typename T>
__global__ void lstm_backward_step(const T* gates, const T* tc, const T* c_prev, const T* mask,
                                   const T* gy, const T* dh_rec, const T* rmask, T* dh_carry,
                                   T* dc, T* dz, long long n, long long u, long long has_mask,
                                   long long has_gy, long long has_rmask, long long act,
                                   long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 4 * u + j;
        T dh = dh_carry[k] + (has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k]);
        if (has_gy != 0) dh += gy[k];
        const T m = has_mask != 0 ? mask[row] : T(1);
        const T dhc = dh * m;
        const T dct = dc[k];
        const T ig = gates[b];
        const T fg = gates[b + u];
        const T gg = gates[b + 2 * u];
        const T og = gates[b + 3 * u];
        const T tcv = tc[k];
        const T dcc = dct * m + dhc * og * gs::rnn_dact(tcv, act);
        dz[b] = dcc * gg * gs::rnn_dact(ig, rec_act);
        dz[b + u] = dcc * c_prev[k] * gs::rnn_dact(fg, rec_act);
        dz[b + 2 * u] = dcc * ig * gs::rnn_dact(gg, act);
        dz[b + 3 * u] = dhc * tcv * gs::rnn_dact(og, rec_act);
        dc[k] = dcc * fg + dct * (T(1) - m);
        dh_carry[k] = dh * (T(1) - m);
    }
}
