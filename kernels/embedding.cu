/* Embedding lookup: row gather forward, row scatter-add backward.
 *
 * @kernels: embedding_forward embedding_backward
 *
 * embedding_forward(const long long* ids, const T* table, T* out, long long n_ids,
 *                   long long dim, long long vocab)
 *   ids (n_ids,) int64 row indices, checked to lie in [0, vocab) by the launcher
 *   (gpuseq/backend/cupy_ops/embedding.py); table (vocab, dim); out (n_ids, dim):
 *   out[i, d] = table[ids[i], d]. The kernel never reads outside the table: a row
 *   whose id is outside [0, vocab) is NaN (the NumPy twin raises ValueError).
 *   Reference: gpuseq/backend/numpy_ops/embedding.py::embedding_forward
 * embedding_backward(const long long* ids, const T* gy, T* gtable, long long n_ids,
 *                    long long dim, long long vocab)
 *   gy (n_ids, dim); gtable (vocab, dim), zeroed by the launcher:
 *   gtable[ids[i], d] += gy[i, d] (atomicAdd: rows repeat; the summation order, and so
 *   the last bits of a float32 sum, vary from run to run and may differ from the NumPy
 *   twin). Ids outside [0, vocab) are skipped.
 *   Reference: gpuseq/backend/numpy_ops/embedding.py::embedding_backward
 *
 * Launch (both): 1-D grid-stride loop over n_ids*dim elements, block = (256, 1, 1),
 * grid = (min(ceil(n_ids*dim / 256), 65535), 1, 1); not launched when n_ids*dim == 0.
 */
#include "gpuseq_common.cuh"

template <typename T>
__global__ void embedding_forward(const long long* ids, const T* table, T* out,
                                  long long n_ids, long long dim, long long vocab) {
    const long long total = n_ids * dim;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long i = k / dim;
        const long long d = k - i * dim;
        const long long id = ids[i];
        out[k] = (id >= 0 && id < vocab) ? table[id * dim + d] : gs::limits<T>::nan();
    }
}

template <typename T>
__global__ void embedding_backward(const long long* ids, const T* gy, T* gtable,
                                   long long n_ids, long long dim, long long vocab) {
    const long long total = n_ids * dim;
    GS_GRID_STRIDE_LOOP(k, total) {
        const long long i = k / dim;
        const long long d = k - i * dim;
        const long long id = ids[i];
        if (id >= 0 && id < vocab) atomicAdd(&gtable[id * dim + d], gy[k]);
    }
}
