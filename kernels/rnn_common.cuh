// Device helpers shared by the recurrent kernels (lstm.cu, gru.cu, simple_rnn.cu).
//
// The activation of a recurrent cell is selected at run time by a `kind` code:
// the index of its name in gpuseq/backend/numpy_ops/activations.py::ACTIVATION_KINDS
// (the same codes as kernels/activations.cu). The backward kernels only keep the
// activations' OUTPUTS, so every derivative here is written as a function of the
// output y = act(x) (the NumPy twin: numpy_ops/recurrent.py::_dact).
//
//   code  kind          y = act(x)                         act'(x) from y
//   0     linear        x                                  1
//   1     relu          max(x, 0)                          y > 0
//   2     sigmoid       1 / (1 + exp(-x))                  y (1 - y)
//   3     hard_sigmoid  clip(0.2 x + 0.5, 0, 1)            0.2 if 0 < y < 1 else 0
//   4     tanh          tanh(x)                            1 - y^2
//   5     elu           x if x > 0 else expm1(x)           1 if y > 0 else y + 1
//   6     selu          s (x if x > 0 else a expm1(x))     s if y > 0 else y + s a
//   7     softplus      log(1 + exp(x))                    -expm1(-y)
//   8     softsign      x / (1 + |x|)                      (1 - |y|)^2
//   9     exponential   exp(x)                             y
//
// Stays inside the CUDA subset of kernels/README.md (no warp intrinsics).
#pragma once

#include "gpuseq_common.cuh"

// The largest unit count of the sequence kernels (lstm_sequence_*, gru_sequence_*,
// simple_rnn_sequence_*): a row's gate vector lives in static shared memory and one
// thread serves each gate column (LSTM 4u, GRU 3u, SimpleRNN 4 groups of u threads:
// at most 1024 per block). Must equal cupy_ops/recurrent.py::SEQUENCE_MAX_UNITS.
#define GS_RNN_SEQ_MAX_UNITS 256

#define GS_RNN_SELU_ALPHA 1.6732632423543772848170429916717
#define GS_RNN_SELU_SCALE 1.0507009873554804934193349852946

namespace gs {

template <typename T>
__device__ __forceinline__ T rnn_act(T x, long long kind) {
    switch (kind) {
        case 1:
            return x < T(0) ? T(0) : x;
        case 2:
            return T(1) / (T(1) + exp_(-x));
        case 3: {
            const T v = T(0.2) * x + T(0.5);
            return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
        }
        case 4:
            return tanh_(x);
        case 5:
            return x > T(0) ? x : expm1_(x);
        case 6:
            return T(GS_RNN_SELU_SCALE) * (x > T(0) ? x : T(GS_RNN_SELU_ALPHA) * expm1_(x));
        case 7:
            return (x > T(0) ? x : T(0)) + log1p_(exp_(-abs_(x)));
        case 8:
            return x / (T(1) + abs_(x));
        case 9:
            return exp_(x);
        default:  // 0: linear
            return x;
    }
}

template <typename T>
__device__ __forceinline__ T rnn_dact(T y, long long kind) {
    switch (kind) {
        case 1:
            return y > T(0) ? T(1) : T(0);
        case 2:
            return y * (T(1) - y);
        case 3:
            return (y > T(0) && y < T(1)) ? T(0.2) : T(0);
        case 4:
            return T(1) - y * y;
        case 5:
            return y > T(0) ? T(1) : y + T(1);
        case 6:
            return y > T(0) ? T(GS_RNN_SELU_SCALE)
                            : y + T(GS_RNN_SELU_SCALE * GS_RNN_SELU_ALPHA);
        case 7:
            return -expm1_(-y);
        case 8: {
            const T d = T(1) - abs_(y);
            return d * d;
        }
        case 9:
            return y;
        default:  // 0: linear
            return T(1);
    }
}

// Column j of a vector-matrix product, over the rows k0 <= k < k1 only:
//   sum_k v[k] * M[k * ld + j]
// v is a shared-memory vector, M a row-major matrix with leading dimension ld. Threads
// of consecutive j read consecutive M addresses (coalesced). Four partial sums give
// the loads some independence; an empty range (k1 <= k0) gives 0.
template <typename T>
__device__ __forceinline__ T rnn_dot_column(const T* v, const T* M, long long ld,
                                            long long j, long long k0, long long k1) {
    T a0 = T(0), a1 = T(0), a2 = T(0), a3 = T(0);
    long long k = k0;
    for (; k + 3 < k1; k += 4) {
        a0 += v[k] * M[k * ld + j];
        a1 += v[k + 1] * M[(k + 1) * ld + j];
        a2 += v[k + 2] * M[(k + 2) * ld + j];
        a3 += v[k + 3] * M[(k + 3) * ld + j];
    }
    for (; k < k1; ++k) a0 += v[k] * M[k * ld + j];
    return (a0 + a1) + (a2 + a3);
}

}  // namespace gs
