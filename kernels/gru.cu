/* GRU: the fused pointwise kernels of one time step, forward and backward, for both
 * bias layouts (reset_after=True: cuDNN / tf.keras 2 / Keras 3; reset_after=False:
 * Keras 2 classic).
 *
 * @kernels: gru_forward_step_after gru_backward_step_after
 * @kernels: gru_forward_gates_before gru_forward_candidate_before
 * @kernels: gru_backward_candidate_before gru_backward_reset_before
 *
 * Whole-sequence op: gpuseq/backend/cupy_ops/recurrent.py::gru_forward / ::gru_backward.
 * NumPy references: gpuseq/backend/numpy_ops/recurrent.py::gru_forward / ::gru_backward.
 * Before the loop one GEMM gives XW = x @ kernel + input bias for every step (T, N, 3u);
 * after the loop one GEMM each gives d kernel and d recurrent_kernel.
 *
 * Layouts: row-major, C-contiguous, dtype T; n = batch rows, u = units; gate blocks
 * [z | r | h] along the last axis of (n, 3u) arrays. Activation codes: rnn_common.cuh.
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
 * Launch (all): 1-D grid-stride loop over n*u elements, block = (256, 1, 1),
 * grid = (min(ceil(n*u / 256), 65535), 1, 1); not launched when n*u == 0.
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
        const T hp = h_prev[k];
        h[k] = (has_mask != 0 && mask[row] == T(0)) ? hp : hh + z * (hp - hh);
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
        T dh = dh_carry[k] + (has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k]);
        if (has_gy != 0) dh += gy[k];
        const T m = has_mask != 0 ? mask[row] : T(1);
        const T dhc = dh * m;
        const T z = gates[b], r = gates[b + u], hh = gates[b + 2 * u];
        const T dz = dhc * (h_prev[k] - hh) * gs::rnn_dact(z, rec_act);
        const T dhh = dhc * (T(1) - z) * gs::rnn_dact(hh, act);
        const T dr = dhh * rh[k] * gs::rnn_dact(r, rec_act);
        dx[b] = dz;
        dx[b + u] = dr;
        dx[b + 2 * u] = dhh;
        drec[b] = dz;
        drec[b + u] = dr;
        drec[b + 2 * u] = dhh * r;
        dh_carry[k] = dhc * z + dh * (T(1) - m);
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
        const T z = gates[b];
        const T hp = h_prev[k];
        h[k] = (has_mask != 0 && mask[row] == T(0)) ? hp : hh + z * (hp - hh);
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
        T dh = dh_carry[k] + rec;
        if (has_gy != 0) dh += gy[k];
        const T m = has_mask != 0 ? mask[row] : T(1);
        const T dhc = dh * m;
        const T z = gates[b], hh = gates[b + 2 * u];
        dx[b] = dhc * (h_prev[k] - hh) * gs::rnn_dact(z, rec_act);
        dx[b + 2 * u] = dhc * (T(1) - z) * gs::rnn_dact(hh, act);
        dh_carry[k] = dhc * z + dh * (T(1) - m);
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
