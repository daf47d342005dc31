/* SimpleRNN: the fused pointwise kernels of one time step, forward and backward.
 *
 * @kernels: simple_rnn_forward_step simple_rnn_backward_step
 *
 * Whole-sequence op: gpuseq/backend/cupy_ops/recurrent.py::simple_rnn_forward /
 * ::simple_rnn_backward (one GEMM for x @ kernel + bias over all steps, per step one
 * GEMM h_prev @ recurrent_kernel and one kernel; backward one kernel and one GEMM per step).
 * NumPy references: gpuseq/backend/numpy_ops/recurrent.py::simple_rnn_forward / _backward.
 *
 * Layouts: row-major, C-contiguous, dtype T; n = batch rows, u = units.
 * Activation codes: rnn_common.cuh. Optional arrays (mask, gy, rmask) are read only when
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
 * Launch (both): 1-D grid-stride loop over n*u elements, block = (256, 1, 1),
 * grid = (min(ceil(n*u / 256), 65535), 1, 1); not launched when n*u == 0.
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
        T dh = dh_carry[k] + (has_rmask != 0 ? dh_rec[k] * rmask[k] : dh_rec[k]);
        if (has_gy != 0) dh += gy[k];
        const T m = has_mask != 0 ? mask[row] : T(1);
        dz[k] = dh * m * gs::rnn_dact(a[k], act);
        dh_carry[k] = dh * (T(1) - m);
    }
}
