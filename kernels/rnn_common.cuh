// Device helpers shared by the recurrent kernels (lstm.cu, gru.cu, simple_rnn.cu):
// the gate activations, the cell maths of one step (forward and backward, used by
// both the per-step and the whole-sequence kernels) and the sequence kernels' column
// dot product.
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

// ---------------------------------------------------------------------------
// Cell maths, shared by the per-step kernels and the sequence kernels so that both
// compute every value with the same operations in the same order.
// ---------------------------------------------------------------------------

// The gradient reaching a step's state h_s: what is carried in (dh_carry, or the
// final-state gradient), what comes back through the next step's recurrent product
// (`rec`, already times the recurrent dropout mask), and the step's output gradient
// gy[e] when has_gy != 0.
template <typename T>
__device__ __forceinline__ T rnn_state_grad(T carry, T rec, const T* gy, long long e,
                                            long long has_gy) {
    T dh = carry + rec;
    if (has_gy != 0) dh += gy[e];
    return dh;
}

// LSTM state update from the activated gates i, f, g (the candidate) and o:
// c = f c_prev + i g, tc = act(c) (kept for backward, also where masked), h = o tc;
// a masked step (has_mask != 0 and mask[mask_at] == 0) carries the states
// (c = c_prev, h = h_prev). The outputs are references (the kernel's elements of
// global memory) written in the order tc, c, h, and the inputs (references too: gates
// in shared memory, states in global memory, or locals) are read where they are
// needed, so that a kernel compiles as if the lines stood in its body (the kernels'
// arrays are not __restrict__, so the order of loads and stores is kept as written).
template <typename T>
__device__ __forceinline__ void lstm_state(const T& ig, const T& fg, const T& gg, const T& og,
                                           const T& c_prev, const T& h_prev, const T* mask,
                                           long long mask_at, long long has_mask, long long act,
                                           T& c, T& h, T& tc) {
    const T cn = fg * c_prev + ig * gg;
    const T tcn = rnn_act(cn, act);
    tc = tcn;
    if (has_mask != 0 && mask[mask_at] == T(0)) {
        c = c_prev;
        h = h_prev;
    } else {
        c = cn;
        h = og * tcn;
    }
}

// LSTM backward of one step for one unit, from the saved gates, tc = act(c) and
// c_prev: dh, dc the gradients reaching h_s and c_s, m the step mask (1 or 0). Writes
// the gate pre-activation gradients di, df, dg, dout, then d c_{s-1} (dc_prev) and the
// part of dh that skips a masked step (dh_skip = dh (1 - m)), in that order, reading
// c_prev where df needs it (as lstm_state: references into global memory or locals).
template <typename T>
__device__ __forceinline__ void lstm_grads(T dh, T dc, T m, T ig, T fg, T gg, T og, T tc,
                                           const T& c_prev, long long act, long long rec_act,
                                           T& di, T& df, T& dg, T& dout, T& dc_prev,
                                           T& dh_skip) {
    const T dhc = dh * m;
    const T dcc = dc * m + dhc * og * rnn_dact(tc, act);
    di = dcc * gg * rnn_dact(ig, rec_act);
    df = dcc * c_prev * rnn_dact(fg, rec_act);
    dg = dcc * ig * rnn_dact(gg, act);
    dout = dhc * tc * rnn_dact(og, rec_act);
    dc_prev = dcc * fg + dc * (T(1) - m);
    dh_skip = dh * (T(1) - m);
}

// GRU state update from the update gate z and the candidate hh: h = z h_prev + (1 - z) hh,
// written hh + z (h_prev - hh); a masked step carries h_prev.
template <typename T>
__device__ __forceinline__ T gru_state(T z, T hh, T h_prev, bool masked) {
    return masked ? h_prev : hh + z * (h_prev - hh);
}

// GRU backward of the state update for one unit: dh the gradient reaching h_s, m the
// step mask. Gives dz and dhh (gradients of the pre-activations of z and of the
// candidate) and the gradient carried to h_{s-1} outside the recurrent products,
// dh m z + dh (1 - m).
template <typename T>
struct GruGrads {
    T dz, dhh, dh_carry;
};

template <typename T>
__device__ __forceinline__ GruGrads<T> gru_grads(T dh, T m, T z, T hh, T h_prev, long long act,
                                                 long long rec_act) {
    const T dhc = dh * m;
    GruGrads<T> d;
    d.dz = dhc * (h_prev - hh) * rnn_dact(z, rec_act);
    d.dhh = dhc * (T(1) - z) * rnn_dact(hh, act);
    d.dh_carry = dhc * z + dh * (T(1) - m);
    return d;
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
