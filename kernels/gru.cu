/* GRU: the fused pointwise kernels of one time step, forward and backward, and the
 * sequence kernels that run the whole time loop in one launch, for both bias layouts
 * (reset_after=True: cuDNN / tf.keras 2 / Keras 3; reset_after=False: Keras 2 classic).
 *
 * @kernels: gru_forward_step_after gru_backward_step_after
 * @kernels: gru_forward_gates_before gru_forward_candidate_before
 * @kernels: gru_backward_candidate_before gru_backward_reset_before
 * @kernels: gru_sequence_forward_after gru_sequence_backward_after
 * @kernels: gru_sequence_forward_before gru_sequence_backward_before
 *
 * Whole-sequence op: gpuseq/backend/cupy_ops/recurrent.py::gru_forward / ::gru_backward.
 * NumPy references: gpuseq/backend/numpy_ops/recurrent.py::gru_forward / ::gru_backward.
 * Before the loop one GEMM gives XW = x @ kernel + input bias for every step (T, N, 3u);
 * after the loop one GEMM each gives d kernel and d recurrent_kernel.
 *
 * Layouts: row-major, C-contiguous, dtype T; n = batch rows, u = units; gate blocks
 * [z | r | h] along the last axis of (n, 3u) arrays. Activation codes: rnn_common.cuh.
 * The state update and its backward (gs::gru_state, gs::gru_grads) and the sequence
 * kernels' dot product (gs::rnn_dot_column) live in rnn_common.cuh, shared by the
 * step and the sequence kernels of both layouts.
 * `mask` (n,): 1 = step used, 0 = masked (h carried); read only when has_mask != 0.
 * Optional arrays (mask, gy, rmask, brec, dh_rec2) are read only when their has_* flag
 * is non-zero; pass any 1-element array otherwise.
 *
 * --- reset_after=True: per step one GEMM HU = h_prev @ U (n, 3u), one kernel ---
 * gru_forward_step_after(T* gates, const T* hu, const T* brec, const T* h_prev,
 *                        const T* mask, T* rh, T* h, long long n, long long u,
 *                        long long has_brec, long long has_mask, long long act,
 *                        long long rec_act)
 *   gates (n, 3u) in: XW of the step; out: z | r | hh (activated).
 *   brec  (3u,) recurrent bias. rh (n, u) out: HU_h + brec_h (kept for backward).
 *   z = rec(xz + hu_z + bz), r = rec(xr + hu_r + br), hh = act(xh + r * rh),
 *   h = z h_prev + (1 - z) hh (or h_prev where masked).
 * gru_backward_step_after(const T* gates, const T* rh, const T* h_prev, const T* mask,
 *                         const T* gy, const T* dh_rec, const T* rmask, T* dh_carry,
 *                         T* dx, T* drec, long long n, long long u, long long has_mask,
 *                         long long has_gy, long long has_rmask, long long act,
 *                         long long rec_act)
 *   dh = dh_carry + gy + dh_rec * rmask; dhc = dh m;
 *   dz = dhc (h_prev - hh) rec'(z); dhh = dhc (1 - z) act'(hh); dr = dhh rh rec'(r);
 *   dx (n, 3u) out = [dz | dr | dhh] (input side); drec (n, 3u) out = [dz | dr | dhh r]
 *   (recurrent side; the host then computes dh_rec = drec @ U^T);
 *   dh_carry out = dhc z + dh (1 - m).
 *
 * --- reset_after=False: per step two GEMMs and two kernels ---
 * gru_forward_gates_before(T* gates, const T* hu_zr, const T* h_prev_d, T* rh,
 *                          long long n, long long u, long long rec_act)
 *   hu_zr (n, 2u) = h_prev_d @ U[:, :2u]; gates[:, :2u] := z | r = rec(gates + hu_zr);
 *   rh (n, u) out = r * h_prev_d (input of the candidate GEMM, kept for backward).
 * gru_forward_candidate_before(T* gates, const T* hu_h, const T* h_prev, const T* mask,
 *                              T* h, long long n, long long u, long long has_mask,
 *                              long long act)
 *   hu_h (n, u) = rh @ U[:, 2u:]; gates[:, 2u:] := hh = act(gates + hu_h);
 *   h = z h_prev + (1 - z) hh (or h_prev where masked).
 * gru_backward_candidate_before(const T* gates, const T* h_prev, const T* mask,
 *                               const T* gy, const T* dh_rec, const T* dh_rec2,
 *                               const T* rmask, T* dh_carry, T* dx, long long n,
 *                               long long u, long long has_mask, long long has_gy,
 *                               long long has_rec2, long long has_rmask, long long act,
 *                               long long rec_act)
 *   dh = dh_carry + gy + (dh_rec + dh_rec2) * rmask; writes dx[:, :u] = dz and
 *   dx[:, 2u:] = dhh; dh_carry out = dhc z + dh (1 - m).
 * gru_backward_reset_before(const T* gates, const T* drh, const T* h_prev_d, T* dx,
 *                           T* dh_rec2, long long n, long long u, long long rec_act)
 *   drh (n, u) = dhh @ U[:, 2u:]^T; dx[:, u:2u] = dr = drh h_prev_d rec'(r);
 *   dh_rec2 (n, u) out = drh r (the host adds dx[:, :2u] @ U[:, :2u]^T as dh_rec).
 *
 * Launch (all step kernels): 1-D grid-stride loop over n*u elements, block = (256, 1, 1),
 * grid = (min(ceil(n*u / 256), 65535), 1, 1); not launched when n*u == 0.
 *
 * --- sequence kernels: the whole time loop in ONE launch (u <= GS_RNN_SEQ_MAX_UNITS) ---
 * As lstm.cu's: each block owns batch rows (row = blockIdx.x, + gridDim.x, ...) and walks
 * all steps with block barriers between the phases of a step; the row's recurrent
 * products are vector-matrix products done in the block (the vector in shared memory,
 * the matrix read coalesced). Same equations, layouts and saved arrays as the step
 * kernels above; only the summation order of the products differs (rounding).
 * H (steps + 1, n, u): H[0] holds the initial state, steps 1.. are written.
 * mask (steps, n) (read when has_mask != 0); rmask (n, u) recurrent dropout multiplier
 * of h_prev (read when has_rmask != 0). gates (steps, n, 3u): in XW, out z | r | hh.
 *
 * gru_sequence_forward_after(T* gates, const T* U, const T* brec, T* H, T* rh,
 *                            const T* mask, const T* rmask, long long steps, long long n,
 *                            long long u, long long has_brec, long long has_mask,
 *                            long long has_rmask, long long act, long long rec_act)
 *   U (u, 3u); brec (3u,) (read when has_brec != 0); rh (steps, n, u) out as above.
 *   Per step: thread j < 3u computes column j of h_prev_d @ U + brec (z, r activated in
 *   place), then thread j < u the candidate and h.
 * gru_sequence_backward_after(const T* gates, const T* rh, const T* H, const T* Ut,
 *                             const T* mask, const T* gy, const T* rmask, T* dh_carry,
 *                             T* dx, T* drec, T* dh0, long long steps, long long n,
 *                             long long u, long long has_mask, long long has_gy,
 *                             long long has_rmask, long long act, long long rec_act)
 *   Ut (3u, u) = U transposed; gy (steps, n, u) (read when has_gy != 0).
 *   dx, drec (steps, n, 3u) out as gru_backward_step_after's, per step.
 *   dh_carry (n, u): in, the final-state gradient; out, the carried part after step 0.
 *   dh0 (n, u) out: dh_carry + (drec_0 @ U^T) * rmask.
 *   drec_{s+1} @ U^T: thread (q, c), q < 3 a gate block, sums that block for unit c.
 *
 * gru_sequence_forward_before(T* gates, const T* U, T* H, T* rh, const T* mask,
 *                             const T* rmask, long long steps, long long n, long long u,
 *                             long long has_mask, long long has_rmask, long long act,
 *                             long long rec_act)
 *   U (u, 3u); rh (steps, n, u) out: r * h_prev_d. Two dependent products per step:
 *   z | r from h_prev_d @ U[:, :2u] (thread j < 2u per column), then the candidate from
 *   rh @ U[:, 2u:] with its u rows split over three thread groups.
 * gru_sequence_backward_before(const T* gates, const T* H, const T* Ut, const T* mask,
 *                              const T* gy, const T* rmask, T* dh_carry, T* dx, T* dh0,
 *                              long long steps, long long n, long long u,
 *                              long long has_mask, long long has_gy, long long has_rmask,
 *                              long long act, long long rec_act)
 *   Ut (3u, u) = U transposed. dx (steps, n, 3u) out: [dz | dr | dhh] per step, as the
 *   two step kernels leave it. dh_carry as above; dh0 (n, u) out:
 *   dh_carry + ((dz | dr)_0 @ U[:, :2u]^T + drh_0 r_0) * rmask.
 *   Two phases per step: dz, dhh from dh, then drh = dhh @ U[:, 2u:]^T and dr; each
 *   product has its rows split over three thread groups.
 *
 * Launch (sequence kernels): grid = (min(n, 65535), 1, 1), block = (b, 1, 1) with b a
 * multiple of 32 and 3u <= b <= 1024 (a smaller block traps); not launched when n == 0
 * or steps == 0.
 */
#include "rnn_common.cuh"

template <typename T>
__global__ void gru_forward_step_after(T* gates, const T* hu, const T* brec, const T* h_prev,
                                       const T* mask, T* rh, T* h, long long n, long long u,
                                       long long has_brec, long long has_mask, long long act,
                                       long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        T rz = hu[b], rr = hu[b + u], rhh = hu[b + 2 * u];
        if (has_brec != 0) {
            rz += brec[j];
            rr += brec[j + u];
            rhh += brec[j + 2 * u];
        }
        const T z = gs::rnn_act(gates[b] + rz, rec_act);
        const T r = gs::rnn_act(gates[b + u] + rr, rec_act);
        const T hh = gs::rnn_act(gates[b + 2 * u] + r * rhh, act);
        gates[b] = z;
        gates[b + u] = r;
        gates[b + 2 * u] = hh;
        rh[k] = rhh;
        h[k] = gs::gru_state(z, hh, h_prev[k], has_mask != 0 && mask[row] == T(0));
    }
}

template <typename T>
__global__ void gru_backward_step_after(const T* gates, const T* rh, const T* h_prev,
                                        const T* mask, const T* gy, const T* dh_rec,
                                        const T* rmask, T* dh_carry, T* dx, T* drec,
                                        long long n, long long u, long long has_mask,
                                        long long has_gy, long long has_rmask, long long act,
                                        long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        const T dh = gs::rnn_state_grad(
            dh_carry[k], has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k], gy, k, has_gy);
        const T m = has_mask != 0 ? mask[row] : T(1);
        const T r = gates[b + u];
        const gs::GruGrads<T> d =
            gs::gru_grads(dh, m, gates[b], gates[b + 2 * u], h_prev[k], act, rec_act);
        const T dr = d.dhh * rh[k] * gs::rnn_dact(r, rec_act);
        dx[b] = d.dz;
        dx[b + u] = dr;
        dx[b + 2 * u] = d.dhh;
        drec[b] = d.dz;
        drec[b + u] = dr;
        drec[b + 2 * u] = d.dhh * r;
        dh_carry[k] = d.dh_carry;
    }
}

template <typename T>
__global__ void gru_forward_gates_before(T* gates, const T* hu_zr, const T* h_prev_d, T* rh,
                                         long long n, long long u, long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        const long long bz = row * 2 * u + j;
        const T z = gs::rnn_act(gates[b] + hu_zr[bz], rec_act);
        const T r = gs::rnn_act(gates[b + u] + hu_zr[bz + u], rec_act);
        gates[b] = z;
        gates[b + u] = r;
        rh[k] = r * h_prev_d[k];
    }
}

template <typename T>
__global__ void gru_forward_candidate_before(T* gates, const T* hu_h, const T* h_prev,
                                             const T* mask, T* h, long long n, long long u,
                                             long long has_mask, long long act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        const T hh = gs::rnn_act(gates[b + 2 * u] + hu_h[k], act);
        gates[b + 2 * u] = hh;
        h[k] = gs::gru_state(gates[b], hh, h_prev[k], has_mask != 0 && mask[row] == T(0));
    }
}

template <typename T>
__global__ void gru_backward_candidate_before(const T* gates, const T* h_prev, const T* mask,
                                              const T* gy, const T* dh_rec, const T* dh_rec2,
                                              const T* rmask, T* dh_carry, T* dx, long long n,
                                              long long u, long long has_mask,
                                              long long has_gy, long long has_rec2,
                                              long long has_rmask, long long act,
                                              long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        T rec = dh_rec[k];
        if (has_rec2 != 0) rec += dh_rec2[k];
        if (has_rmask != 0) rec *= rmask[k];
        const T dh = gs::rnn_state_grad(dh_carry[k], rec, gy, k, has_gy);
        const T m = has_mask != 0 ? mask[row] : T(1);
        const gs::GruGrads<T> d =
            gs::gru_grads(dh, m, gates[b], gates[b + 2 * u], h_prev[k], act, rec_act);
        dx[b] = d.dz;
        dx[b + 2 * u] = d.dhh;
        dh_carry[k] = d.dh_carry;
    }
}

template <typename T>
__global__ void gru_backward_reset_before(const T* gates, const T* drh, const T* h_prev_d,
                                          T* dx, T* dh_rec2, long long n, long long u,
                                          long long rec_act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const long long j = k - row * u;
        const long long b = row * 3 * u + j;
        const T r = gates[b + u];
        const T d = drh[k];
        dx[b + u] = d * h_prev_d[k] * gs::rnn_dact(r, rec_act);
        dh_rec2[k] = d * r;
    }
}

// ---------------------------------------------------------------------------
// Sequence kernels: the whole time loop in one launch (see the header).
// ---------------------------------------------------------------------------

template <typename T>
__global__ void gru_sequence_forward_after(T* gates, const T* U, const T* brec, T* H, T* rh,
                                           const T* mask, const T* rmask, long long steps,
                                           long long n, long long u, long long has_brec,
                                           long long has_mask, long long has_rmask,
                                           long long act, long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 3 * u) __trap();
    __shared__ T hs[GS_RNN_SEQ_MAX_UNITS];        // (u,)  h_prev of the row (times rmask)
    __shared__ T ga[3 * GS_RNN_SEQ_MAX_UNITS];    // (3u,) z | r | h_prev @ U_h + b_h
    const long long g3 = 3 * u;
    const long long j = threadIdx.x;              // this thread's gate column
    const T bj = (j < g3 && has_brec != 0) ? brec[j] : T(0);
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T rmj = (j < u && has_rmask != 0) ? rmask[row * u + j] : T(1);
        if (j < u) hs[j] = has_rmask != 0 ? H[row * u + j] * rmj : H[row * u + j];
        __syncthreads();
        for (long long s = 0; s < steps; ++s) {
            T* gz = gates + (s * n + row) * g3;
            const long long at = (s * n + row) * u;       // (s, row, 0) in H, rh
            if (j < g3) {
                const T acc = gs::rnn_dot_column(hs, U, g3, j, 0, u) + bj;
                if (j < 2 * u) {
                    const T a = gs::rnn_act(gz[j] + acc, rec_act);
                    gz[j] = a;
                    ga[j] = a;
                } else {
                    ga[j] = acc;
                    rh[at + j - 2 * u] = acc;
                }
            }
            __syncthreads();
            if (j < u) {
                const T z = ga[j];
                const T hh = gs::rnn_act(gz[2 * u + j] + ga[u + j] * ga[2 * u + j], act);
                gz[2 * u + j] = hh;
                const T hn = gs::gru_state(z, hh, H[at + j],
                                           has_mask != 0 && mask[s * n + row] == T(0));
                H[at + n * u + j] = hn;                   // (s + 1, row, j)
                hs[j] = has_rmask != 0 ? hn * rmj : hn;
            }
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void gru_sequence_backward_after(const T* gates, const T* rh, const T* H,
                                            const T* Ut, const T* mask, const T* gy,
                                            const T* rmask, T* dh_carry, T* dx, T* drec,
                                            T* dh0, long long steps, long long n, long long u,
                                            long long has_mask, long long has_gy,
                                            long long has_rmask, long long act,
                                            long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 3 * u) __trap();
    __shared__ T ds[3 * GS_RNN_SEQ_MAX_UNITS];    // (3u,) drec of the step after, this row
    __shared__ T part[3 * GS_RNN_SEQ_MAX_UNITS];  // (3, u) partial sums of drec @ U^T
    const long long g3 = 3 * u;
    const long long t = threadIdx.x;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const long long k = row * u + t;          // (row, t) in the (n, u) arrays
        T carry = T(0), rmt = T(1);
        if (t < u) {
            carry = dh_carry[k];
            if (has_rmask != 0) rmt = rmask[k];
        }
        for (long long s = steps - 1; s >= -1; --s) {
            // dh_rec = drec_{s+1} @ U^T: thread (q, c) sums gate block q for unit c
            if (t < g3) {
                T acc = T(0);
                if (s < steps - 1) {
                    const long long q = t / u;
                    acc = gs::rnn_dot_column(ds, Ut, u, t - q * u, q * u, (q + 1) * u);
                }
                part[t] = acc;
            }
            __syncthreads();
            if (t < u) {
                const T dr_in = ((part[t] + part[u + t]) + part[2 * u + t]) * rmt;
                if (s < 0) {
                    dh0[k] = carry + dr_in;
                    dh_carry[k] = carry;
                } else {
                    const long long e = (s * n + row) * u + t;        // (s, row, t)
                    const long long b = (s * n + row) * g3 + t;       // gate z of unit t
                    const T dh = gs::rnn_state_grad(carry, dr_in, gy, e, has_gy);
                    const T m = has_mask != 0 ? mask[s * n + row] : T(1);
                    const T r = gates[b + u];
                    const gs::GruGrads<T> d =
                        gs::gru_grads(dh, m, gates[b], gates[b + 2 * u], H[e], act, rec_act);
                    const T dr = d.dhh * rh[e] * gs::rnn_dact(r, rec_act);
                    const T dhr = d.dhh * r;
                    dx[b] = d.dz;
                    dx[b + u] = dr;
                    dx[b + 2 * u] = d.dhh;
                    drec[b] = d.dz;
                    drec[b + u] = dr;
                    drec[b + 2 * u] = dhr;
                    ds[t] = d.dz;
                    ds[u + t] = dr;
                    ds[2 * u + t] = dhr;
                    carry = d.dh_carry;
                }
            }
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void gru_sequence_forward_before(T* gates, const T* U, T* H, T* rh, const T* mask,
                                            const T* rmask, long long steps, long long n,
                                            long long u, long long has_mask,
                                            long long has_rmask, long long act,
                                            long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 3 * u) __trap();
    __shared__ T hs[GS_RNN_SEQ_MAX_UNITS];        // (u,)  h_prev_d: h_prev (times rmask)
    __shared__ T zs[GS_RNN_SEQ_MAX_UNITS];        // (u,)  z of the step
    __shared__ T rhs[GS_RNN_SEQ_MAX_UNITS];       // (u,)  r * h_prev_d
    __shared__ T part[3 * GS_RNN_SEQ_MAX_UNITS];  // (3, u) partial sums of rh @ U_h
    const long long g3 = 3 * u;
    const long long t = threadIdx.x;
    const long long chunk = (u + 2) / 3;          // rows of U_h per partial sum
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T rmt = (t < u && has_rmask != 0) ? rmask[row * u + t] : T(1);
        if (t < u) hs[t] = has_rmask != 0 ? H[row * u + t] * rmt : H[row * u + t];
        __syncthreads();
        for (long long s = 0; s < steps; ++s) {
            T* gz = gates + (s * n + row) * g3;
            const long long at = (s * n + row) * u;       // (s, row, 0) in H, rh
            // z | r = rec(xw + h_prev_d @ U[:, :2u]), one thread per column
            if (t < 2 * u) {
                const T a = gs::rnn_act(gz[t] + gs::rnn_dot_column(hs, U, g3, t, 0, u),
                                        rec_act);
                gz[t] = a;
                if (t < u) {
                    zs[t] = a;
                } else {
                    const T v = a * hs[t - u];
                    rhs[t - u] = v;
                    rh[at + t - u] = v;
                }
            }
            __syncthreads();
            // rh @ U[:, 2u:], the rows split over three thread groups
            if (t < g3) {
                const long long q = t / u;
                const long long k0 = q * chunk;
                const long long k1 = k0 + chunk < u ? k0 + chunk : u;
                part[t] = gs::rnn_dot_column(rhs, U + 2 * u, g3, t - q * u, k0, k1);
            }
            __syncthreads();
            if (t < u) {
                const T hh = gs::rnn_act(gz[2 * u + t] +
                                         ((part[t] + part[u + t]) + part[2 * u + t]), act);
                gz[2 * u + t] = hh;
                const T hn = gs::gru_state(zs[t], hh, H[at + t],
                                           has_mask != 0 && mask[s * n + row] == T(0));
                H[at + n * u + t] = hn;                   // (s + 1, row, t)
                hs[t] = has_rmask != 0 ? hn * rmt : hn;
            }
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void gru_sequence_backward_before(const T* gates, const T* H, const T* Ut,
                                             const T* mask, const T* gy, const T* rmask,
                                             T* dh_carry, T* dx, T* dh0, long long steps,
                                             long long n, long long u, long long has_mask,
                                             long long has_gy, long long has_rmask,
                                             long long act, long long rec_act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 3 * u) __trap();
    __shared__ T dzr[2 * GS_RNN_SEQ_MAX_UNITS];   // (2u,) dz | dr of the step after
    __shared__ T dhs[GS_RNN_SEQ_MAX_UNITS];       // (u,)  dhh of this step
    __shared__ T part[3 * GS_RNN_SEQ_MAX_UNITS];  // (3, u) partial sums
    const long long g3 = 3 * u;
    const long long t = threadIdx.x;
    const long long q = t / (u > 0 ? u : 1);      // this thread's group (< 3 when t < 3u)
    const long long c = t - q * u;                // and unit
    const long long chunk2 = (2 * u + 2) / 3;     // rows of U[:, :2u]^T per partial sum
    const long long chunk1 = (u + 2) / 3;         // rows of U[:, 2u:]^T per partial sum
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const long long k = row * u + t;          // (row, t) in the (n, u) arrays
        T carry = T(0), rmt = T(1), rec2 = T(0);  // rec2: drh_{s+1} r_{s+1}
        if (t < u) {
            carry = dh_carry[k];
            if (has_rmask != 0) rmt = rmask[k];
        }
        for (long long s = steps - 1; s >= -1; --s) {
            // (dz | dr)_{s+1} @ U[:, :2u]^T, the rows split over three thread groups
            if (t < g3) {
                T acc = T(0);
                if (s < steps - 1) {
                    const long long i0 = q * chunk2;
                    const long long i1 = i0 + chunk2 < 2 * u ? i0 + chunk2 : 2 * u;
                    acc = gs::rnn_dot_column(dzr, Ut, u, c, i0, i1);
                }
                part[t] = acc;
            }
            __syncthreads();
            if (t < u) {
                const T dr_in = (((part[t] + part[u + t]) + part[2 * u + t]) + rec2) * rmt;
                if (s < 0) {
                    dh0[k] = carry + dr_in;
                    dh_carry[k] = carry;
                } else {
                    const long long e = (s * n + row) * u + t;        // (s, row, t)
                    const long long b = (s * n + row) * g3 + t;       // gate z of unit t
                    const T dh = gs::rnn_state_grad(carry, dr_in, gy, e, has_gy);
                    const T m = has_mask != 0 ? mask[s * n + row] : T(1);
                    const gs::GruGrads<T> d =
                        gs::gru_grads(dh, m, gates[b], gates[b + 2 * u], H[e], act, rec_act);
                    dx[b] = d.dz;
                    dx[b + 2 * u] = d.dhh;
                    dzr[t] = d.dz;
                    dhs[t] = d.dhh;
                    carry = d.dh_carry;
                }
            }
            __syncthreads();
            if (s >= 0) {                         // uniform across the block
                // drh = dhh @ U[:, 2u:]^T, the rows split over three thread groups
                if (t < g3) {
                    const long long j0 = q * chunk1;
                    const long long j1 = j0 + chunk1 < u ? j0 + chunk1 : u;
                    part[t] = gs::rnn_dot_column(dhs, Ut + 2 * u * u, u, c, j0, j1);
                }
                __syncthreads();
                if (t < u) {
                    const long long e = (s * n + row) * u + t;
                    const long long b = (s * n + row) * g3 + t;
                    const T drh = (part[t] + part[u + t]) + part[2 * u + t];
                    const T r = gates[b + u];
                    const T hpd = has_rmask != 0 ? H[e] * rmt : H[e];
                    const T dr = drh * hpd * gs::rnn_dact(r, rec_act);
                    dx[b + u] = dr;
                    dzr[u + t] = dr;
                    rec2 = drh * r;
                }
                __syncthreads();
            }
        }
    }
}
