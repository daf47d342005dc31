/* Vectorisable float32 math for the host (CPU) kernels of gpuseq.
 *
 * The host kernels are plain C++ loops compiled by g++ -O3 for the machine they run
 * on; these helpers are branch-free so that the loops vectorise (a call to the C
 * library's expf/tanhf would keep them scalar). The float32 sigmoid and tanh go through
 * a polynomial exp; float64 calls the C library (float64 runs the gradient checks,
 * where exactness matters more than speed).
 *
 * NumPy references: np.exp, np.tanh, and the activations of
 * gpuseq/backend/numpy_ops/recurrent.py::_act_ / ::_dact.
 *
 * Activation codes (the index in numpy_ops/activations.py::ACTIVATION_KINDS, as in
 * kernels/rnn_common.cuh); the host kernels take the first five:
 *   code  kind          y = act(x)                    act'(x) from y
 *   0     linear        x                             1
 *   1     relu          max(x, 0)                     y > 0
 *   2     sigmoid       1 / (1 + exp(-x))             y (1 - y)
 *   3     hard_sigmoid  clip(0.2 x + 0.5, 0, 1)       0.2 where 0 < y < 1
 *   4     tanh          tanh(x)                       1 - y^2
 */
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gs_host {

constexpr long long kMaxActivationCode = 4;

// exp(x) for float32, for the sigmoid and tanh below: x = n ln2 + r with |r| <= ln2 / 2,
// e^r by a degree-6 polynomial (Cephes expf), 2^n through the exponent bits. The input
// is clamped to [-87, 88] (so the result stays a normal number, 1.6e-38 .. 1.7e38,
// where the true value would underflow to 0 or overflow to inf: 1 / (1 + e) and
// (1 - e) / (1 + e) round to the same values either way); NaN stays NaN.
inline float exp_clamped(float x) {
    const float hi = 88.0f, lo = -87.0f;
    float xc = x > hi ? hi : (x < lo ? lo : x);
    float fn = std::floor(xc * 1.44269504088896341f + 0.5f);
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    std::int32_t bits = (static_cast<std::int32_t>(fn) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    y = y * scale;
    return x != x ? x : y;
}

// sigmoid(x) = 1 / (1 + exp(-x)); tanh(x) = (1 - exp(-2x)) / (1 + exp(-2x)). Both are
// within a few float32 ulp of the exact value in absolute terms (tanh near 0 loses
// relative precision: |error| < 1.2e-7), which is what the recurrent cells need.
inline float sigmoid_h(float x) { return 1.0f / (1.0f + exp_clamped(-x)); }
inline double sigmoid_h(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float tanh_h(float x) {
    float e = exp_clamped(-2.0f * x);
    return (1.0f - e) / (1.0f + e);
}
inline double tanh_h(double x) { return std::tanh(x); }

template <long long Kind, typename T>
inline T act(T x) {
    if constexpr (Kind == 0) {
        return x;
    } else if constexpr (Kind == 1) {
        return x > T(0) ? x : T(0);
    } else if constexpr (Kind == 2) {
        return sigmoid_h(x);
    } else if constexpr (Kind == 3) {
        T y = T(0.2) * x + T(0.5);
        return y < T(0) ? T(0) : (y > T(1) ? T(1) : y);
    } else {
        return tanh_h(x);
    }
}

// act applied in place to every element of a GCC vector v (vector_size(32) of float
// or double): linear, relu and hard_sigmoid with vector compares, sigmoid and tanh
// element by element (the same values as act<Kind>).
template <long long Kind, typename V>
inline void act_vec(V& v) {
    typedef typename std::remove_reference<decltype(v[0])>::type T;
    const V zero = V{};
    if constexpr (Kind == 0) {
        return;
    } else if constexpr (Kind == 1) {
        v = v > zero ? v : zero;
    } else if constexpr (Kind == 3) {
        const V one = zero + T(1);
        V y = T(0.2) * v + T(0.5);
        y = y < zero ? zero : y;
        v = y > one ? one : y;
    } else {
        constexpr int n = sizeof(V) / sizeof(T);
        for (int j = 0; j < n; ++j) v[j] = act<Kind>(v[j]);
    }
}

// act'(x) from y = act(x)
template <long long Kind, typename T>
inline T dact(T y) {
    if constexpr (Kind == 0) {
        return T(1);
    } else if constexpr (Kind == 1) {
        return y > T(0) ? T(1) : T(0);
    } else if constexpr (Kind == 2) {
        return y - y * y;
    } else if constexpr (Kind == 3) {
        return (y > T(0) && y < T(1)) ? T(0.2) : T(0);
    } else {
        return T(1) - y * y;
    }
}

// The same with the kind chosen at run time (code as above; codes above 4 give x).
template <typename T>
inline T act_rt(long long code, T x) {
    switch (code) {
        case 1: return act<1>(x);
        case 2: return act<2>(x);
        case 3: return act<3>(x);
        case 4: return act<4>(x);
        default: return x;
    }
}

template <typename T>
inline T dact_rt(long long code, T y) {
    switch (code) {
        case 1: return dact<1>(y);
        case 2: return dact<2>(y);
        case 3: return dact<3>(y);
        case 4: return dact<4>(y);
        default: return T(1);
    }
}

// Kind >= 0: that kind, fixed at compile time (the loop vectorises); Kind < 0: `code`.
template <long long Kind, typename T>
inline T act_k(T x, long long code) {
    if constexpr (Kind >= 0) {
        return act<Kind>(x);
    } else {
        return act_rt(code, x);
    }
}

template <long long Kind, typename T>
inline T dact_k(T y, long long code) {
    if constexpr (Kind >= 0) {
        return dact<Kind>(y);
    } else {
        return dact_rt(code, y);
    }
}

}  // namespace gs_host
