// Device helpers shared by the kernels in this folder.
//
// Included by kernels/*.cu as `#include "gpuseq_common.cuh"`; the loader puts
// this folder on the include path of NVRTC (GPU) and g++ (CPU emulation), so
// everything here must stay inside the CUDA subset that the emulation supports
// (see kernels/README.md). Everything lives in namespace gs.
#pragma once

// for (long long i = first index of this thread; i < n; i += threads in the grid)
#define GS_GRID_STRIDE_LOOP(i, n)                                                        \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n);        \
         i += (long long)blockDim.x * gridDim.x)

// The largest block the row kernels (one block per row) are launched with;
// their shared reduction buffers have this many slots.
#define GS_MAX_ROW_BLOCK 256

namespace gs {

// V consecutive elements moved as one access of V * sizeof(T) bytes (aligned to it):
// the 16-byte element of the vector kernels, the 2- and 4-element stores of tiles.
template <typename T, long long V>
struct alignas(sizeof(T) * V) Pack {
    T v[V];
};

// Overloads of the math functions for the kernel's element type T.
__device__ __forceinline__ float exp_(float x) { return expf(x); }
__device__ __forceinline__ double exp_(double x) { return exp(x); }
__device__ __forceinline__ float expm1_(float x) { return expm1f(x); }
__device__ __forceinline__ double expm1_(double x) { return expm1(x); }
__device__ __forceinline__ float log_(float x) { return logf(x); }
__device__ __forceinline__ double log_(double x) { return log(x); }
__device__ __forceinline__ float log1p_(float x) { return log1pf(x); }
__device__ __forceinline__ double log1p_(double x) { return log1p(x); }
__device__ __forceinline__ float tanh_(float x) { return tanhf(x); }
__device__ __forceinline__ double tanh_(double x) { return tanh(x); }
__device__ __forceinline__ float sqrt_(float x) { return sqrtf(x); }
__device__ __forceinline__ double sqrt_(double x) { return sqrt(x); }
__device__ __forceinline__ float abs_(float x) { return fabsf(x); }
__device__ __forceinline__ double abs_(double x) { return fabs(x); }

// NaN-propagating maximum (numpy.maximum semantics): NaN if either is NaN.
template <typename T>
__device__ __forceinline__ T nan_max(T a, T b) {
    if (a != a) return a;
    if (b != b) return b;
    return a < b ? b : a;
}

// -infinity and quiet NaN of T (NVRTC has no <math.h> macros).
template <typename T> struct limits;
template <> struct limits<float> {
    __device__ static float neg_inf() { return __int_as_float(0xff800000); }
    __device__ static float nan() { return __int_as_float(0x7fc00000); }
};
template <> struct limits<double> {
    __device__ static double neg_inf() { return __longlong_as_double(0xfff0000000000000ULL); }
    __device__ static double nan() { return __longlong_as_double(0x7ff8000000000000ULL); }
};

// Block-wide sum / max over threadIdx.x of a 1-D block whose size is a power of
// two no larger than GS_MAX_ROW_BLOCK. `buf` is a __shared__ array of at least
// blockDim.x elements. Every thread of the block must call it (it contains
// barriers) and every thread gets the result. `buf` may be reused right after.
template <typename T>
__device__ T block_sum(T v, T* buf) {
    const unsigned t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    const T r = buf[0];
    __syncthreads();
    return r;
}

template <typename T>
__device__ T block_max(T v, T* buf) {
    const unsigned t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned s = blockDim.x >> 1; s > 0; s >>= 1) {
        if (t < s) buf[t] = nan_max(buf[t], buf[t + s]);
        __syncthreads();
    }
    const T r = buf[0];
    __syncthreads();
    return r;
}

}  // namespace gs
