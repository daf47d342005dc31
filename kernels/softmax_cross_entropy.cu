/* Row-wise softmax, and softmax fused with categorical cross-entropy on logits.
 *
 * @kernels: softmax_forward softmax_backward
 * @kernels: softmax_ce_forward softmax_ce_backward
 * @kernels: sparse_softmax_ce_forward sparse_softmax_ce_backward
 *
 * Every kernel is a template over the element type T (float or double). Arrays
 * are C-contiguous device memory; a "row" is one sample (or one time step) and
 * holds `cols` classes: logits, probs, target, y, gy, gx, glogits are
 * (rows, cols) row-major; loss and gloss are (rows,); labels are (rows,) int64.
 * Softmax subtracts the row maximum before exp (numerically stable; a row
 * holding NaN gives NaN, like numpy).
 *
 * Row kernels (one block per row; the block loops over rows r = blockIdx.x,
 * blockIdx.x + gridDim.x, ...). Launch: block = (B, 1, 1) with B a power of two,
 * 32 <= B <= 256 (the smallest one >= cols, capped at 256); grid =
 * (min(rows, max_blocks), 1, 1). Not launched when rows * cols == 0.
 *
 * softmax_forward(const T* x, T* y, long long rows, long long cols)
 *   y = exp(x - max) / sum(exp(x - max)) per row.
 *   Reference: gpuseq/backend/numpy_ops/activations.py::softmax_forward (axis=-1)
 *
 * softmax_backward(const T* y, const T* gy, T* gx, long long rows, long long cols)
 *   gx = y * (gy - sum(gy * y)) per row.
 *   Reference: gpuseq/backend/numpy_ops/activations.py::softmax_backward (axis=-1)
 *
 * softmax_ce_forward(const T* logits, const T* target, T* probs, T* loss,
 *                    long long rows, long long cols, T clip_lo, T clip_hi)
 *   probs = softmax(logits); loss = -sum(target * log(clip(probs, clip_lo, clip_hi)))
 *   per row, with clip_lo = eps and clip_hi = 1 - eps rounded to T on the host
 *   (Keras's clipping; eps = 1e-7).
 *   Reference: gpuseq/backend/numpy_ops/softmax_cross_entropy.py::softmax_cross_entropy_forward
 *
 * softmax_ce_backward(const T* probs, const T* target, const T* gloss, T* glogits,
 *                     long long rows, long long cols, T clip_lo, T clip_hi)
 *   The exact gradient of the clipped formula: with inside = clip_lo < p < clip_hi,
 *   gp = (inside ? -t / p : 0) * gloss, glogits = p * (gp - sum(gp * p)) per row
 *   (= gloss * (p * sum(t) - t) when nothing is clipped).
 *   Reference: gpuseq/backend/numpy_ops/softmax_cross_entropy.py::softmax_cross_entropy_backward
 *
 * sparse_softmax_ce_forward(const T* logits, const long long* labels, T* probs, T* loss,
 *                           long long rows, long long cols, T clip_lo, T clip_hi)
 *   As softmax_ce_forward with target = one_hot(labels): loss = -log(clip(p[label])).
 *   A label in [-cols, 0) counts from the end (numpy indexing); a label outside
 *   [-cols, cols) gives a NaN loss (the NumPy twin raises IndexError).
 *   Reference: softmax_cross_entropy_forward(..., sparse=True)
 *
 * Elementwise kernel (1-D grid-stride loop over rows * cols elements; block =
 * (256, 1, 1), grid = (min(ceil(rows * cols / 256), max_blocks), 1, 1)):
 *
 * sparse_softmax_ce_backward(const T* probs, const long long* labels, const T* gloss,
 *                            T* glogits, long long rows, long long cols, T clip_lo, T clip_hi)
 *   softmax_ce_backward with target = one_hot(labels); NaN for an invalid label.
 *   Reference: softmax_cross_entropy_backward(..., sparse=True)
 */
#include "gpuseq_common.cuh"

namespace gs {

// Check the launch contract of the row kernels (a power-of-two block <= 256).
__device__ __forceinline__ void check_row_block() {
    const unsigned b = blockDim.x;
    if (b > GS_MAX_ROW_BLOCK || (b & (b - 1)) != 0 || blockDim.y != 1 || blockDim.z != 1)
        __trap();
}

template <typename T>
__device__ __forceinline__ T clip(T p, T lo, T hi) {
    return p < lo ? lo : (p > hi ? hi : p);  // NaN passes through, like numpy.clip
}

// probs[r, :] = softmax(x[r, :]) computed by the whole block.
template <typename T>
__device__ void softmax_row(const T* __restrict__ xr, T* __restrict__ yr, long long cols,
                            T* buf) {
    const long long t = threadIdx.x, B = blockDim.x;
    T m = limits<T>::neg_inf();
    for (long long j = t; j < cols; j += B) m = nan_max(m, xr[j]);
    m = block_max(m, buf);
    T s = T(0);
    for (long long j = t; j < cols; j += B) {
        const T e = exp_(xr[j] - m);
        yr[j] = e;
        s += e;
    }
    s = block_sum(s, buf);
    for (long long j = t; j < cols; j += B) yr[j] = yr[j] / s;
}

// Wrap a label like numpy indexing; -1 when it is out of range.
__device__ __forceinline__ long long wrap_label(long long label, long long cols) {
    if (label < 0) label += cols;
    return (label < 0 || label >= cols) ? -1 : label;
}

}  // namespace gs

template <typename T>
__global__ void softmax_forward(const T* __restrict__ x, T* __restrict__ y, long long rows,
                                long long cols) {
    __shared__ T buf[GS_MAX_ROW_BLOCK];
    gs::check_row_block();
    for (long long r = blockIdx.x; r < rows; r += gridDim.x)
        gs::softmax_row(x + r * cols, y + r * cols, cols, buf);
}

template <typename T>
__global__ void softmax_backward(const T* __restrict__ y, const T* __restrict__ gy,
                                 T* __restrict__ gx, long long rows, long long cols) {
    __shared__ T buf[GS_MAX_ROW_BLOCK];
    gs::check_row_block();
    const long long t = threadIdx.x, B = blockDim.x;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* yr = y + r * cols;
        const T* gyr = gy + r * cols;
        T* gxr = gx + r * cols;
        T acc = T(0);
        for (long long j = t; j < cols; j += B) acc += gyr[j] * yr[j];
        const T dot = gs::block_sum(acc, buf);
        for (long long j = t; j < cols; j += B) gxr[j] = yr[j] * (gyr[j] - dot);
    }
}

template <typename T>
__global__ void softmax_ce_forward(const T* __restrict__ logits, const T* __restrict__ target,
                                   T* __restrict__ probs, T* __restrict__ loss, long long rows,
                                   long long cols, T clip_lo, T clip_hi) {
    __shared__ T buf[GS_MAX_ROW_BLOCK];
    gs::check_row_block();
    const long long t = threadIdx.x, B = blockDim.x;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        T* pr = probs + r * cols;
        const T* tr = target + r * cols;
        gs::softmax_row(logits + r * cols, pr, cols, buf);
        T acc = T(0);
        for (long long j = t; j < cols; j += B)
            acc += tr[j] * gs::log_(gs::clip(pr[j], clip_lo, clip_hi));
        acc = gs::block_sum(acc, buf);
        if (t == 0) loss[r] = -acc;
    }
}

template <typename T>
__global__ void softmax_ce_backward(const T* __restrict__ probs, const T* __restrict__ target,
                                    const T* __restrict__ gloss, T* __restrict__ glogits,
                                    long long rows, long long cols, T clip_lo, T clip_hi) {
    __shared__ T buf[GS_MAX_ROW_BLOCK];
    gs::check_row_block();
    const long long t = threadIdx.x, B = blockDim.x;
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const T* pr = probs + r * cols;
        const T* tr = target + r * cols;
        T* gr = glogits + r * cols;
        const T g = gloss[r];
        T acc = T(0);
        for (long long j = t; j < cols; j += B) {
            const T p = pr[j];
            const bool inside = p > clip_lo && p < clip_hi;
            const T gp = (inside ? -tr[j] / p : T(0)) * g;
            acc += gp * p;
        }
        const T s = gs::block_sum(acc, buf);
        for (long long j = t; j < cols; j += B) {
            const T p = pr[j];
            const bool inside = p > clip_lo && p < clip_hi;
            const T gp = (inside ? -tr[j] / p : T(0)) * g;
            gr[j] = p * (gp - s);
        }
    }
}

template <typename T>
__global__ void sparse_softmax_ce_forward(const T* __restrict__ logits,
                                          const long long* __restrict__ labels,
                                          T* __restrict__ probs, T* __restrict__ loss,
                                          long long rows, long long cols, T clip_lo, T clip_hi) {
    __shared__ T buf[GS_MAX_ROW_BLOCK];
    gs::check_row_block();
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        T* pr = probs + r * cols;
        gs::softmax_row(logits + r * cols, pr, cols, buf);
        __syncthreads();  // thread 0 reads a probability another thread wrote
        if (threadIdx.x == 0) {
            const long long c = gs::wrap_label(labels[r], cols);
            loss[r] = c < 0 ? gs::limits<T>::nan() : -gs::log_(gs::clip(pr[c], clip_lo, clip_hi));
        }
    }
}

template <typename T>
__global__ void sparse_softmax_ce_backward(const T* __restrict__ probs,
                                           const long long* __restrict__ labels,
                                           const T* __restrict__ gloss, T* __restrict__ glogits,
                                           long long rows, long long cols, T clip_lo,
                                           T clip_hi) {
    const long long n = rows * cols;
    GS_GRID_STRIDE_LOOP(i, n) {
        const long long r = i / cols, j = i - r * cols;
        const long long c = gs::wrap_label(labels[r], cols);
        if (c < 0) {
            glogits[i] = gs::limits<T>::nan();
            continue;
        }
        const T g = gloss[r];
        const T pc = probs[r * cols + c];
        const T gpc = ((pc > clip_lo && pc < clip_hi) ? T(-1) / pc : T(0)) * g;
        const T p = probs[i];
        const T tj = j == c ? T(1) : T(0);
        const T gp = ((p > clip_lo && p < clip_hi) ? -tj / p : T(0)) * g;
        glogits[i] = p * (gp - gpc * pc);
    }
}
