/* LSTM: the fused pointwise kernels of one time step, forward and backward.
 *
 * @kernels: lstm_forward_step lstm_backward_step
 * @kernels: lstm_sequence_forward lstm_sequence_backward
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
 * The cell maths (gs::lstm_state forward, gs::lstm_grads backward) and the sequence
 * kernels' dot product (gs::rnn_dot_column) live in rnn_common.cuh, shared by the
 * step and the sequence kernels.
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
 *
 * The sequence kernels: the whole time loop in ONE launch (u <= GS_RNN_SEQ_MAX_UNITS).
 * A batch row's recurrence never reads another row, so each block owns batch rows
 * (row = blockIdx.x, blockIdx.x + gridDim.x, ...) and walks all time steps with
 * block barriers between them: no per-step launches, no per-step GEMM calls. Each
 * step's recurrent product for the row is a matrix-vector product done in the block
 * (the row's h in shared memory, U read from global memory / L2, coalesced across
 * threads). Same equations, layouts and saved arrays as the per-step kernels above;
 * only the summation order of h @ U differs (rounding).
 *
 * lstm_sequence_forward(T* gates, const T* U, T* H, T* C, T* tc, const T* mask,
 *                       const T* rmask, long long steps, long long n, long long u,
 *                       long long has_mask, long long has_rmask, long long act,
 *                       long long rec_act)
 *   gates (steps, n, 4u) in: x @ kernel + bias per step; out: activated gates.
 *   U     (u, 4u) recurrent kernel.
 *   H, C  (steps + 1, n, u): H[0], C[0] hold the initial states; steps 1.. are written.
 *   tc    (steps, n, u) out: act(c) unmasked.
 *   mask  (steps, n) (read when has_mask != 0); rmask (n, u) recurrent dropout
 *         multiplier of h_prev (read when has_rmask != 0).
 * lstm_sequence_backward(const T* gates, const T* tc, const T* C, const T* Ut,
 *                        const T* mask, const T* gy, const T* rmask, T* dh_carry,
 *                        T* dc, T* dz, T* dh0, long long steps, long long n, long long u,
 *                        long long has_mask, long long has_gy, long long has_rmask,
 *                        long long act, long long rec_act)
 *   gates, tc, C, mask, rmask: as saved by the forward; Ut (4u, u) = U transposed.
 *   gy (steps, n, u) output gradients per step (read when has_gy != 0).
 *   dh_carry, dc (n, u): in, the final-state gradients; out, the carried parts after
 *   step 0 (as lstm_backward_step leaves them). dz (steps, n, 4u) out: gate
 *   pre-activation gradients. dh0 (n, u) out: dh_carry + (dz_0 @ U^T) * rmask.
 * Launch (both): grid = (min(n, 65535), 1, 1), block = (b, 1, 1) with b a multiple
 * of 32 and 4u <= b <= 1024 (a wrong block traps); not launched when n == 0 or
 * steps == 0. The forward splits each column's sum h @ U[:, j] over S = b / (4u)
 * thread groups (the launcher picks b ~ 4u * S with S up to 8) and adds the S partial
 * sums in a fixed order, so the result does not depend on thread timing.
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
        gs::lstm_state(ig, fg, gg, og, c_prev[k], h_prev[k], mask, row, has_mask, act, c[k],
                       h[k], tc[k]);
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
        const T dh = gs::rnn_state_grad(
            dh_carry[k], has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k], gy, k, has_gy);
        const T m = has_mask != 0 ? mask[row] : T(1);
        gs::lstm_grads(dh, dc[k], m, gates[b], gates[b + u], gates[b + 2 * u], gates[b + 3 * u],
                       tc[k], c_prev[k], act, rec_act, dz[b], dz[b + u], dz[b + 2 * u],
                       dz[b + 3 * u], dc[k], dh_carry[k]);
    }
}

template <typename T>
__global__ void lstm_sequence_forward(T* gates, const T* U, T* H, T* C, T* tc, const T* mask,
                                      const T* rmask, long long steps, long long n,
                                      long long u, long long has_mask, long long has_rmask,
                                      long long act, long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 4 * u) __trap();
    __shared__ T hs[GS_RNN_SEQ_MAX_UNITS];        // (u,)  h_prev of the row (times rmask)
    __shared__ T ga[4 * GS_RNN_SEQ_MAX_UNITS];    // (4u,) activated gates of the row
    __shared__ T part[1024];                      // (S, 4u) partial sums of h @ U
    const long long g4 = 4 * u;
    const long long t = threadIdx.x;
    // S groups of 4u threads share each column's sum over the u rows of U (S >= 1)
    const long long S = (long long)blockDim.x / g4;
    const long long q = t / g4;                   // this thread's group ...
    const long long j = t - q * g4;               // ... and gate column
    const long long k0 = q * u / S, k1 = (q + 1) * u / S;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        for (long long s = 0; s < steps; ++s) {
            const long long at = (s * n + row) * u;       // (s, row, 0) in H, C, tc
            if (t < u) hs[t] = has_rmask != 0 ? H[at + t] * rmask[row * u + t] : H[at + t];
            __syncthreads();
            if (q < S) part[t] = gs::rnn_dot_column(hs, U, g4, j, k0, k1);
            __syncthreads();
            if (t < g4) {
                T* gz = gates + (s * n + row) * g4;
                T z = gz[t];
                for (long long p = 0; p < S; ++p) z += part[p * g4 + t];
                const T a = gs::rnn_act(z, (t >= 2 * u && t < 3 * u) ? act : rec_act);
                gz[t] = a;
                ga[t] = a;
            }
            __syncthreads();
            if (t < u) {
                const long long k = at + t;
                const long long next = k + n * u;                 // (s + 1, row, t)
                gs::lstm_state(ga[t], ga[u + t], ga[2 * u + t], ga[3 * u + t], C[k], H[k], mask,
                               s * n + row, has_mask, act, C[next], H[next], tc[k]);
            }
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void lstm_sequence_backward(const T* gates, const T* tc, const T* C, const T* Ut,
                                       const T* mask, const T* gy, const T* rmask,
                                       T* dh_carry, T* dc, T* dz, T* dh0, long long steps,
                                       long long n, long long u, long long has_mask,
                                       long long has_gy, long long has_rmask, long long act,
                                       long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 4 * u) __trap();
    __shared__ T dzs[4 * GS_RNN_SEQ_MAX_UNITS];   // (4u,) dz of the step after, this row
    __shared__ T part[4 * GS_RNN_SEQ_MAX_UNITS];  // (4, u) partial sums of dz @ U^T
    const long long g4 = 4 * u;
    const long long t = threadIdx.x;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        for (long long s = steps - 1; s >= -1; --s) {
            // dh_rec = dz_{s+1} @ U^T: thread (q, k) sums gate block q for unit k
            if (t < g4) {
                T acc = T(0);
                if (s < steps - 1) {
                    const long long q = t / u;
                    acc = gs::rnn_dot_column(dzs, Ut, u, t - q * u, q * u, (q + 1) * u);
                }
                part[t] = acc;
            }
            __syncthreads();
            if (t < u) {
                const long long k = row * u + t;
                const T drec = (part[t] + part[u + t]) + (part[2 * u + t] + part[3 * u + t]);
                const T dr = has_rmask != 0 ? drec * rmask[k] : drec;
                if (s < 0) {
                    dh0[k] = dh_carry[k] + dr;
                } else {
                    const long long e = (s * n + row) * u + t;            // (s, row, t)
                    const long long b = (s * n + row) * g4 + t;           // gate i of unit t
                    const T dh = gs::rnn_state_grad(dh_carry[k], dr, gy, e, has_gy);
                    const T m = has_mask != 0 ? mask[s * n + row] : T(1);
                    const T ce = C[e];
                    T di, df, dg, dout, dc_prev, dh_skip;
                    gs::lstm_grads(dh, dc[k], m, gates[b], gates[b + u], gates[b + 2 * u],
                                   gates[b + 3 * u], tc[e], ce, act, rec_act, di, df, dg, dout,
                                   dc_prev, dh_skip);
                    dz[b] = di;
                    dz[b + u] = df;
                    dz[b + 2 * u] = dg;
                    dz[b + 3 * u] = dout;
                    dzs[t] = di;
                    dzs[u + t] = df;
                    dzs[2 * u + t] = dg;
                    dzs[3 * u + t] = dout;
                    dc[k] = dc_prev;
                    dh_carry[k] = dh_skip;
                }
            }
            __syncthreads();
        }
    }
}
