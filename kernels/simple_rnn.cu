/* SimpleRNN: the fused pointwise kernels of one time step, forward and backward, and
 * the sequence kernels that run the whole time loop in one launch.
 *
 * @kernels: simple_rnn_forward_step simple_rnn_backward_step
 * @kernels: simple_rnn_sequence_forward simple_rnn_sequence_backward
 *
 * Whole-sequence op: gpuseq/backend/cupy_ops/recurrent.py::simple_rnn_forward /
 * ::simple_rnn_backward (one GEMM for x @ kernel + bias over all steps, per step one
 * GEMM h_prev @ recurrent_kernel and one kernel; backward one kernel and one GEMM per step).
 * NumPy references: gpuseq/backend/numpy_ops/recurrent.py::simple_rnn_forward / _backward.
 *
 * Layouts: row-major, C-contiguous, dtype T; n = batch rows, u = units.
 * Activation codes, the gradient reaching a state (gs::rnn_state_grad) and the sequence
 * kernels' dot product (gs::rnn_dot_column): rnn_common.cuh. Optional arrays (mask, gy, rmask) are read only when
 * their has_* flag is non-zero; pass any 1-element array otherwise.
 *
 * simple_rnn_forward_step(T* a, const T* hu, const T* h_prev, const T* mask, T* h,
 *                         long long n, long long u, long long has_mask, long long act)
 *   a (n, u) in: x @ kernel + bias of the step; out: y = act(a + hu) (kept for backward).
 *   hu (n, u) = h_prev_d @ recurrent_kernel. mask (n,): 0 = masked step.
 *   h (n, u) out: y, or h_prev where masked.
 * simple_rnn_backward_step(const T* a, const T* mask, const T* gy, const T* dh_rec,
 *                          const T* rmask, T* dh_carry, T* dz, long long n, long long u,
 *                          long long has_mask, long long has_gy, long long has_rmask,
 *                          long long act)
 *   dh = dh_carry + gy + dh_rec * rmask; dz (n, u) out = dh m act'(y);
 *   dh_carry out = dh (1 - m). The host then computes dh_rec = dz @ recurrent_kernel^T.
 *
 * Launch (both step kernels): 1-D grid-stride loop over n*u elements,
 * block = (256, 1, 1), grid = (min(ceil(n*u / 256), 65535), 1, 1); not launched when
 * n*u == 0.
 *
 * --- sequence kernels: the whole time loop in ONE launch (u <= GS_RNN_SEQ_MAX_UNITS) ---
 * As lstm.cu's: each block owns batch rows (row = blockIdx.x, + gridDim.x, ...) and walks
 * all steps with block barriers between them. The row's product h_prev_d @ U (or
 * dz @ U^T) is done in the block with the u rows of the matrix split over four thread
 * groups (thread (q, j): group q, column j), so that each thread sums about u/4 terms.
 * Same equations, layouts and saved arrays as the step kernels; only the summation
 * order of the products differs (rounding).
 *
 * simple_rnn_sequence_forward(T* a, const T* U, T* H, const T* mask, const T* rmask,
 *                             long long steps, long long n, long long u,
 *                             long long has_mask, long long has_rmask, long long act)
 *   a (steps, n, u) in: x @ kernel + bias per step; out: y = act(a + h_prev_d @ U).
 *   U (u, u). H (steps + 1, n, u): H[0] holds the initial state, steps 1.. are written.
 *   mask (steps, n) (read when has_mask != 0); rmask (n, u) (read when has_rmask != 0).
 * simple_rnn_sequence_backward(const T* a, const T* Ut, const T* mask, const T* gy,
 *                              const T* rmask, T* dh_carry, T* dz, T* dh0,
 *                              long long steps, long long n, long long u,
 *                              long long has_mask, long long has_gy, long long has_rmask,
 *                              long long act)
 *   a, mask, rmask: as saved by the forward; Ut (u, u) = U transposed.
 *   gy (steps, n, u) (read when has_gy != 0). dz (steps, n, u) out, per step.
 *   dh_carry (n, u): in, the final-state gradient; out, the carried part after step 0.
 *   dh0 (n, u) out: dh_carry + (dz_0 @ U^T) * rmask.
 * Launch (both): grid = (min(n, 65535), 1, 1), block = (b, 1, 1) with b a multiple of 32
 * and 4u <= b <= 1024 (a smaller block traps); not launched when n == 0 or steps == 0.
 */
#include "rnn_common.cuh"

template <typename T>
__global__ void simple_rnn_forward_step(T* a, const T* hu, const T* h_prev, const T* mask,
                                        T* h, long long n, long long u, long long has_mask,
                                        long long act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const T y = gs::rnn_act(a[k] + hu[k], act);
        a[k] = y;
        h[k] = (has_mask != 0 && mask[row] == T(0)) ? h_prev[k] : y;
    }
}

template <typename T>
__global__ void simple_rnn_backward_step(const T* a, const T* mask, const T* gy,
                                         const T* dh_rec, const T* rmask, T* dh_carry, T* dz,
                                         long long n, long long u, long long has_mask,
                                         long long has_gy, long long has_rmask,
                                         long long act) {
    const long long total = n * u;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long row = k / u;
        const T dh = gs::rnn_state_grad(
            dh_carry[k], has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k], gy, k, has_gy);
        const T m = has_mask != 0 ? mask[row] : T(1);
        dz[k] = dh * m * gs::rnn_dact(a[k], act);
        dh_carry[k] = dh * (T(1) - m);
    }
}

// ---------------------------------------------------------------------------
// Sequence kernels: the whole time loop in one launch (see the header).
// ---------------------------------------------------------------------------

template <typename T>
__global__ void simple_rnn_sequence_forward(T* a, const T* U, T* H, const T* mask,
                                            const T* rmask, long long steps, long long n,
                                            long long u, long long has_mask,
                                            long long has_rmask, long long act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 4 * u) __trap();
    __shared__ T hs[GS_RNN_SEQ_MAX_UNITS];        // (u,)  h_prev of the row (times rmask)
    __shared__ T part[4 * GS_RNN_SEQ_MAX_UNITS];  // (4, u) partial sums of h_prev_d @ U
    const long long t = threadIdx.x;
    const long long q = t / (u > 0 ? u : 1);      // this thread's group (< 4 when t < 4u)
    const long long j = t - q * u;                // and column
    const long long chunk = (u + 3) / 4;          // rows of U per partial sum
    const long long k0 = q * chunk;
    const long long k1 = k0 + chunk < u ? k0 + chunk : u;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T rmt = (t < u && has_rmask != 0) ? rmask[row * u + t] : T(1);
        if (t < u) hs[t] = has_rmask != 0 ? H[row * u + t] * rmt : H[row * u + t];
        __syncthreads();
        for (long long s = 0; s < steps; ++s) {
            if (t < 4 * u) part[t] = gs::rnn_dot_column(hs, U, u, j, k0, k1);
            __syncthreads();
            if (t < u) {
                const long long e = (s * n + row) * u + t;        // (s, row, t)
                const T hu = (part[t] + part[u + t]) + (part[2 * u + t] + part[3 * u + t]);
                const T y = gs::rnn_act(a[e] + hu, act);
                a[e] = y;
                const T hn = (has_mask != 0 && mask[s * n + row] == T(0)) ? H[e] : y;
                H[e + n * u] = hn;                                // (s + 1, row, t)
                hs[t] = has_rmask != 0 ? hn * rmt : hn;
            }
            __syncthreads();
        }
    }
}

template <typename T>
__global__ void simple_rnn_sequence_backward(const T* a, const T* Ut, const T* mask,
                                             const T* gy, const T* rmask, T* dh_carry, T* dz,
                                             T* dh0, long long steps, long long n,
                                             long long u, long long has_mask,
                                             long long has_gy, long long has_rmask,
                                             long long act) {
    if (u > GS_RNN_SEQ_MAX_UNITS || (long long)blockDim.x < 4 * u) __trap();
    __shared__ T dzs[GS_RNN_SEQ_MAX_UNITS];       // (u,)  dz of the step after, this row
    __shared__ T part[4 * GS_RNN_SEQ_MAX_UNITS];  // (4, u) partial sums of dz @ U^T
    const long long t = threadIdx.x;
    const long long q = t / (u > 0 ? u : 1);      // this thread's group (< 4 when t < 4u)
    const long long c = t - q * u;                // and unit
    const long long chunk = (u + 3) / 4;          // rows of U^T per partial sum
    const long long i0 = q * chunk;
    const long long i1 = i0 + chunk < u ? i0 + chunk : u;
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const long long k = row * u + t;          // (row, t) in the (n, u) arrays
        T carry = T(0), rmt = T(1);
        if (t < u) {
            carry = dh_carry[k];
            if (has_rmask != 0) rmt = rmask[k];
        }
        for (long long s = steps - 1; s >= -1; --s) {
            if (t < 4 * u)
                part[t] = s < steps - 1 ? gs::rnn_dot_column(dzs, Ut, u, c, i0, i1) : T(0);
            __syncthreads();
            if (t < u) {
                const T drec = (part[t] + part[u + t]) + (part[2 * u + t] + part[3 * u + t]);
                const T dr_in = drec * rmt;
                if (s < 0) {
                    dh0[k] = carry + dr_in;
                    dh_carry[k] = carry;
                } else {
                    const long long e = (s * n + row) * u + t;    // (s, row, t)
                    const T dh = gs::rnn_state_grad(carry, dr_in, gy, e, has_gy);
                    const T m = has_mask != 0 ? mask[s * n + row] : T(1);
                    const T d = dh * m * gs::rnn_dact(a[e], act);
                    dz[e] = d;
                    dzs[t] = d;
                    carry = dh * (T(1) - m);
                }
            }
            __syncthreads();
        }
    }
}
