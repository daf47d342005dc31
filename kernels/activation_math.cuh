// The activations by code, as device functions: act_value(x, kind) = act(x) and
// act_grad(x, y, kind) = d act / dx from the input x and the output y. The codes are
// the indices of the names in gpuseq/backend/numpy_ops/activations.py::ACTIVATION_KINDS
// (the table in kernels/activations.cu); shared by activations.cu and the kernels that
// apply an activation in their epilogue (conv_igemm.cu).
#pragma once

#include "gpuseq_common.cuh"

#define GS_ACT_LINEAR 0
#define GS_ACT_RELU 1
#define GS_ACT_SIGMOID 2
#define GS_ACT_HARD_SIGMOID 3
#define GS_ACT_TANH 4
#define GS_ACT_ELU 5
#define GS_ACT_SELU 6
#define GS_ACT_SOFTPLUS 7
#define GS_ACT_SOFTSIGN 8
#define GS_ACT_EXPONENTIAL 9

#define GS_SELU_ALPHA 1.6732632423543772848170429916717
#define GS_SELU_SCALE 1.0507009873554804934193349852946
#define GS_ELU_ALPHA 1.0

namespace gs {

template <typename T>
__device__ __forceinline__ T sigmoid(T x) {
    return T(0.5) * (tanh_(T(0.5) * x) + T(1));
}

template <typename T>
__device__ __forceinline__ T act_value(T x, long long kind) {
    switch (kind) {
        case GS_ACT_RELU:
            return x < T(0) ? T(0) : x;  // NaN passes through, like numpy.maximum
        case GS_ACT_SIGMOID:
            return sigmoid(x);
        case GS_ACT_HARD_SIGMOID: {
            const T v = T(0.2) * x + T(0.5);
            return v < T(0) ? T(0) : (v > T(1) ? T(1) : v);
        }
        case GS_ACT_TANH:
            return tanh_(x);
        case GS_ACT_ELU:
            return x > T(0) ? x : T(GS_ELU_ALPHA) * expm1_(x);
        case GS_ACT_SELU:
            return T(GS_SELU_SCALE) * (x > T(0) ? x : T(GS_SELU_ALPHA) * expm1_(x));
        case GS_ACT_SOFTPLUS:
            return (x > T(0) ? x : T(0)) + log1p_(exp_(-abs_(x)));
        case GS_ACT_SOFTSIGN:
            return x / (T(1) + abs_(x));
        case GS_ACT_EXPONENTIAL:
            return exp_(x);
        default:  // GS_ACT_LINEAR
            return x;
    }
}

// d act / dx from the input x and the output y.
template <typename T>
__device__ __forceinline__ T act_grad(T x, T y, long long kind) {
    switch (kind) {
        case GS_ACT_RELU:
            return x > T(0) ? T(1) : T(0);
        case GS_ACT_SIGMOID:
            return y * (T(1) - y);
        case GS_ACT_HARD_SIGMOID:
            return (x > T(-2.5) && x < T(2.5)) ? T(0.2) : T(0);
        case GS_ACT_TANH:
            return T(1) - y * y;
        case GS_ACT_ELU:
            return x > T(0) ? T(1) : y + T(GS_ELU_ALPHA);
        case GS_ACT_SELU:
            return x > T(0) ? T(GS_SELU_SCALE) : y + T(GS_SELU_SCALE * GS_SELU_ALPHA);
        case GS_ACT_SOFTPLUS:
            return sigmoid(x);
        case GS_ACT_SOFTSIGN: {
            const T d = T(1) + abs_(x);
            return T(1) / (d * d);
        }
        case GS_ACT_EXPONENTIAL:
            return y;
        default:  // GS_ACT_LINEAR
            return T(1);
    }
}

}  // namespace gs
