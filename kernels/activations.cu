/* Elementwise activations, forward and backward, and the bias-add fused with the
 * activation that follows the GEMM of a Dense layer.
 *
 * @kernels: activation_forward activation_backward
 * @kernels: bias_activation_forward bias_activation_backward
 *
 * Every kernel is a template over the element type T (float or double); the
 * loader instantiates <float> and <double>. Arrays are C-contiguous, in device
 * memory, of dtype T. Sizes are long long (numpy.int64); `kind` selects the
 * activation with the code below (the index of the name in
 * gpuseq/backend/numpy_ops/activations.py::ACTIVATION_KINDS):
 *
 *   0 linear        y = x                                 dy/dx = 1
 *   1 relu          y = max(x, 0)                         dy/dx = x > 0
 *   2 sigmoid       y = 0.5 * (tanh(x / 2) + 1)           dy/dx = y (1 - y)
 *   3 hard_sigmoid  y = clip(0.2 x + 0.5, 0, 1)           dy/dx = 0.2 if -2.5 < x < 2.5 else 0
 *   4 tanh          y = tanh(x)                           dy/dx = 1 - y^2
 *   5 elu           y = x if x > 0 else expm1(x)          dy/dx = 1 if x > 0 else y + 1
 *   6 selu          y = s (x if x > 0 else a expm1(x))    dy/dx = s if x > 0 else y + s a
 *   7 softplus      y = max(x, 0) + log1p(exp(-|x|))      dy/dx = sigmoid(x)
 *   8 softsign      y = x / (1 + |x|)                     dy/dx = 1 / (1 + |x|)^2
 *   9 exponential   y = exp(x)                            dy/dx = y
 *   (selu: a = 1.6732632423543772, s = 1.0507009873554805, the Keras constants)
 *
 * activation_forward(const T* x, T* y, long long n, long long kind)
 *   x, y: (n,) flat.  y = act(x).
 *   Reference: gpuseq/backend/numpy_ops/activations.py::activation_forward
 *
 * activation_backward(const T* gy, const T* x, const T* y, T* gx, long long n, long long kind)
 *   all (n,) flat.  gx = gy * act'(x, y).
 *   Reference: gpuseq/backend/numpy_ops/activations.py::activation_backward
 *
 * bias_activation_forward(const T* z, const T* bias, T* pre, T* y,
 *                         long long n, long long units, long long kind)
 *   z, pre, y: (n / units, units) row-major; bias: (units,).
 *   pre = z + bias (broadcast over rows), y = act(pre).
 *   Reference: gpuseq/backend/numpy_ops/activations.py::bias_activation_forward
 *
 *   Launch (all three above): 1-D grid-stride loop, block = (256, 1, 1),
 *   grid = (min(ceil(n / 256), max_blocks), 1, 1); not launched when n == 0.
 *
 * bias_activation_backward(const T* gy, const T* pre, const T* y, T* gz, T* gbias,
 *                          long long rows, long long units, long long kind)
 *   gy, pre, y, gz: (rows, units) row-major; gbias: (units,).
 *   gz = gy * act'(pre, y);  gbias[u] = sum over rows of gz[:, u].
 *   Reference: gpuseq/backend/numpy_ops/activations.py::bias_activation_backward
 *   Launch: block = (32, 32, 1): threadIdx.x walks 32 adjacent columns (coalesced),
 *   threadIdx.y strides over rows; grid = (ceil(units / 32), 1, 1). The 32 partial
 *   column sums of a block meet in shared memory (deterministic order, no atomics).
 *   One block per 32 columns: a few units over very many rows leave most of the GPU
 *   idle, so the block is as tall as CUDA allows.
 *   Not launched when rows * units == 0 (gbias is then zeros).
 */
#include "gpuseq_common.cuh"
#include "activation_math.cuh"

template <typename T>
__global__ void activation_forward(const T* __restrict__ x, T* __restrict__ y, long long n,
                                   long long kind) {
    GS_GRID_STRIDE_LOOP(i, n) { y[i] = gs::act_value(x[i], kind); }
}

template <typename T>
__global__ void activation_backward(const T* __restrict__ gy, const T* __restrict__ x,
                                    const T* __restrict__ y, T* __restrict__ gx, long long n,
                                    long long kind) {
    GS_GRID_STRIDE_LOOP(i, n) { gx[i] = gy[i] * gs::act_grad(x[i], y[i], kind); }
}

template <typename T>
__global__ void bias_activation_forward(const T* __restrict__ z, const T* __restrict__ bias,
                                        T* __restrict__ pre, T* __restrict__ y, long long n,
                                        long long units, long long kind) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T p = z[i] + bias[i % units];
        pre[i] = p;
        y[i] = gs::act_value(p, kind);
    }
}

#define GS_BIAS_BWD_COLS 32
#define GS_BIAS_BWD_ROWS 32

template <typename T>
__global__ void bias_activation_backward(const T* __restrict__ gy, const T* __restrict__ pre,
                                         const T* __restrict__ y, T* __restrict__ gz,
                                         T* __restrict__ gbias, long long rows, long long units,
                                         long long kind) {
    __shared__ T partial[GS_BIAS_BWD_ROWS][GS_BIAS_BWD_COLS];
    if (blockDim.x != GS_BIAS_BWD_COLS || blockDim.y != GS_BIAS_BWD_ROWS) __trap();
    const long long col = (long long)blockIdx.x * GS_BIAS_BWD_COLS + threadIdx.x;
    T acc = T(0);
    if (col < units) {
        for (long long r = threadIdx.y; r < rows; r += GS_BIAS_BWD_ROWS) {
            const long long i = r * units + col;
            const T g = gy[i] * gs::act_grad(pre[i], y[i], kind);
            gz[i] = g;
            acc += g;
        }
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < units) {
        T s = T(0);
        for (int k = 0; k < GS_BIAS_BWD_ROWS; ++k) s += partial[k][threadIdx.x];
        gbias[col] = s;
    }
}
