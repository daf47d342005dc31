/* Batch normalisation over the last axis of a (rows, units) row-major array.
 *
 * @kernels: batch_norm_stats batch_norm_scale batch_norm_apply
 * @kernels: batch_norm_backward_reduce batch_norm_backward_apply
 *
 * Every kernel is a template over the element type T (float or double); the
 * loader instantiates <float> and <double>. Arrays are C-contiguous device
 * arrays of dtype T; sizes are long long. Optional inputs (gamma, beta) are
 * passed as a 1-element placeholder with their has_* flag 0.
 *
 * batch_norm_stats(const T* x, T* mean, T* variance, long long rows, long long units)
 *   x: (rows, units); mean, variance: (units,). The batch mean of every column, then
 *   its biased variance mean((x - mean)^2) (two passes over the column: no
 *   cancellation from E[x^2] - E[x]^2). rows >= 1.
 *   Reference: gpuseq/backend/numpy_ops/batch_norm.py::batch_norm_forward (training)
 *   Launch: block = (32, 32, 1): threadIdx.x walks 32 adjacent columns (coalesced),
 *   threadIdx.y strides over rows; grid = (ceil(units / 32), 1, 1). The 32 partial
 *   sums of a column meet in shared memory in a fixed order (deterministic).
 *
 * batch_norm_scale(const T* variance, const T* gamma, T* inv_std, T* scale,
 *                  long long units, T epsilon, long long has_gamma)
 *   all (units,). inv_std = 1 / sqrt(variance + epsilon); scale = inv_std * gamma
 *   (or inv_std without gamma).
 *   Launch: 1-D grid-stride loop over units, block = (256, 1, 1).
 *
 * batch_norm_apply(const T* x, const T* mean, const T* scale, const T* beta, T* y,
 *                  long long n, long long units, long long has_beta)
 *   x, y: (n / units, units); mean, scale, beta: (units,).
 *   y = (x - mean) * scale + beta.
 *   Reference: gpuseq/backend/numpy_ops/batch_norm.py::batch_norm_forward
 *   Launch: 1-D grid-stride loop over n, block = (256, 1, 1).
 *
 * batch_norm_backward_reduce(const T* gy, const T* x, const T* mean, const T* inv_std,
 *                            T* sum_gy, T* sum_gy_xhat, long long rows, long long units)
 *   gy, x: (rows, units); the rest (units,). Column sums of gy and of gy * xhat,
 *   xhat = (x - mean) * inv_std (the beta and gamma gradients).
 *   Reference: gpuseq/backend/numpy_ops/batch_norm.py::batch_norm_backward
 *   Launch: as batch_norm_stats.
 *
 * batch_norm_backward_apply(const T* gy, const T* x, const T* mean, const T* inv_std,
 *                           const T* scale, const T* sum_gy, const T* sum_gy_xhat,
 *                           T* gx, long long n, long long units, long long training)
 *   gx = scale * (gy - sum_gy / M - xhat * sum_gy_xhat / M) with M = n / units rows
 *   (training: the statistics came from this batch), or scale * gy (inference).
 *   Reference: gpuseq/backend/numpy_ops/batch_norm.py::batch_norm_backward
 *   Launch: 1-D grid-stride loop over n, block = (256, 1, 1).
 */
#include "gpuseq_common.cuh"

#define GS_BN_COLS 32
#define GS_BN_ROWS 32

namespace gs {

// Sum over threadIdx.y of a (GS_BN_ROWS, GS_BN_COLS) block's partial column values;
// every thread of the block calls it, row 0 gets the column's total.
template <typename T>
__device__ T bn_column_total(T v, T (*partial)[GS_BN_COLS]) {
    partial[threadIdx.y][threadIdx.x] = v;
    __syncthreads();
    T s = T(0);
    if (threadIdx.y == 0) {
        for (long long k = 0; k < GS_BN_ROWS; ++k) s += partial[k][threadIdx.x];
    }
    __syncthreads();
    return s;
}

}  // namespace gs

template <typename T>
__global__ void batch_norm_stats(const T* __restrict__ x, T* __restrict__ mean,
                                 T* __restrict__ variance, long long rows, long long units) {
    __shared__ T partial[GS_BN_ROWS][GS_BN_COLS];
    __shared__ T col_mean[GS_BN_COLS];
    if (blockDim.x != GS_BN_COLS || blockDim.y != GS_BN_ROWS) __trap();
    const long long col = (long long)blockIdx.x * GS_BN_COLS + threadIdx.x;
    T acc = T(0);
    if (col < units) {
        for (long long r = threadIdx.y; r < rows; r += GS_BN_ROWS) acc += x[r * units + col];
    }
    const T total = gs::bn_column_total(acc, partial);
    if (threadIdx.y == 0) {
        const T m = total / T(rows);
        col_mean[threadIdx.x] = m;
        if (col < units) mean[col] = m;
    }
    __syncthreads();
    const T m = col_mean[threadIdx.x];
    T sq = T(0);
    if (col < units) {
        for (long long r = threadIdx.y; r < rows; r += GS_BN_ROWS) {
            const T d = x[r * units + col] - m;
            sq += d * d;
        }
    }
    const T total_sq = gs::bn_column_total(sq, partial);
    if (threadIdx.y == 0 && col < units) variance[col] = total_sq / T(rows);
}

template <typename T>
__global__ void batch_norm_scale(const T* __restrict__ variance, const T* __restrict__ gamma,
                                 T* __restrict__ inv_std, T* __restrict__ scale, long long units,
                                 T epsilon, long long has_gamma) {
    GS_GRID_STRIDE_LOOP(c, units) {
        const T s = T(1) / gs::sqrt_(variance[c] + epsilon);
        inv_std[c] = s;
        scale[c] = has_gamma ? s * gamma[c] : s;
    }
}

template <typename T>
__global__ void batch_norm_apply(const T* __restrict__ x, const T* __restrict__ mean,
                                 const T* __restrict__ scale, const T* __restrict__ beta,
                                 T* __restrict__ y, long long n, long long units,
                                 long long has_beta) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const long long c = i % units;
        const T v = (x[i] - mean[c]) * scale[c];
        y[i] = has_beta ? v + beta[c] : v;
    }
}

template <typename T>
__global__ void batch_norm_backward_reduce(const T* __restrict__ gy, const T* __restrict__ x,
                                           const T* __restrict__ mean,
                                           const T* __restrict__ inv_std,
                                           T* __restrict__ sum_gy, T* __restrict__ sum_gy_xhat,
                                           long long rows, long long units) {
    __shared__ T partial[GS_BN_ROWS][GS_BN_COLS];
    if (blockDim.x != GS_BN_COLS || blockDim.y != GS_BN_ROWS) __trap();
    const long long col = (long long)blockIdx.x * GS_BN_COLS + threadIdx.x;
    T a = T(0), b = T(0);
    if (col < units) {
        const T m = mean[col], s = inv_std[col];
        for (long long r = threadIdx.y; r < rows; r += GS_BN_ROWS) {
            const long long i = r * units + col;
            const T g = gy[i];
            a += g;
            b += g * ((x[i] - m) * s);
        }
    }
    const T ta = gs::bn_column_total(a, partial);
    const T tb = gs::bn_column_total(b, partial);
    if (threadIdx.y == 0 && col < units) {
        sum_gy[col] = ta;
        sum_gy_xhat[col] = tb;
    }
}

template <typename T>
__global__ void batch_norm_backward_apply(const T* __restrict__ gy, const T* __restrict__ x,
                                          const T* __restrict__ mean,
                                          const T* __restrict__ inv_std,
                                          const T* __restrict__ scale,
                                          const T* __restrict__ sum_gy,
                                          const T* __restrict__ sum_gy_xhat, T* __restrict__ gx,
                                          long long n, long long units, long long training) {
    const T rows = T(n / units);
    GS_GRID_STRIDE_LOOP(i, n) {
        const long long c = i % units;
        if (training) {
            const T xhat = (x[i] - mean[c]) * inv_std[c];
            gx[i] = scale[c] * (gy[i] - sum_gy[c] / rows - xhat * (sum_gy_xhat[c] / rows));
        } else {
            gx[i] = scale[c] * gy[i];
        }
    }
}
