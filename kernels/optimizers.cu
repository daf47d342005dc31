/* Fused in-place optimizer updates with the Keras 2.2 rules: one launch per weight
 * (or per flat buffer of several small weights).
 *
 * @kernels: sgd_update rmsprop_update adagrad_update adadelta_update
 * @kernels: adam_update amsgrad_update adamax_update nadam_update
 *
 * Every entry point is a thin template over the element type T (float or double)
 * around one rule: a struct with the rule's number of step scalars (kScalars)
 * and an apply() for element i. All arrays are (n,) C-contiguous device memory
 * of dtype T: the parameter p and its state arrays are updated in place, the
 * gradient g is read.
 *
 * Step scalars: every kernel reads this step's hyper-parameters from
 * `const double* scalars` (kScalars doubles, the optimizer's small device buffer,
 * written by the host with one copy before the step's launches), rounded once to
 * T per thread. So the launches of a step bake in no scalar value, and a CUDA
 * graph replaying them picks up each step's learning rate from the same buffer.
 * The layout of each rule's scalars (below) is built on the host by
 * gpuseq/backend/numpy_ops/optimizer_updates.py::<rule>_scalars; complements such
 * as 1 - rho are computed there in double (the NumPy twin multiplies by the same
 * Python floats, which NumPy rounds to the array's type like (T) does here).
 * Flags that choose code (nesterov) stay by value.
 *
 * Launch (every kernel): 1-D grid-stride loop, block = (256, 1, 1),
 * grid = (min(ceil(n / 256), max_blocks), 1, 1); not launched when n == 0.
 * Reference: gpuseq/backend/numpy_ops/optimizer_updates.py::<kernel name>
 *
 * sgd_update(T* p, const T* g, T* v, long long n, const double* scalars, long long nesterov)
 *   scalars = [lr, momentum]
 *   v = momentum v - lr g;  p += momentum v - lr g (nesterov != 0) or p += v.
 * rmsprop_update(T* p, const T* g, T* a, long long n, const double* scalars)
 *   scalars = [lr, rho, 1 - rho, eps]
 *   a = rho a + (1 - rho) g^2;  p -= lr g / (sqrt(a) + eps).
 * adagrad_update(T* p, const T* g, T* a, long long n, const double* scalars)
 *   scalars = [lr, eps]
 *   a += g^2;  p -= lr g / (sqrt(a) + eps).
 * adadelta_update(T* p, const T* g, T* a, T* d, long long n, const double* scalars)
 *   scalars = [lr, rho, 1 - rho, eps]
 *   a = rho a + (1 - rho) g^2;  u = g sqrt(d + eps) / sqrt(a + eps);  p -= lr u;
 *   d = rho d + (1 - rho) u^2.
 * adam_update(T* p, const T* g, T* m, T* v, long long n, const double* scalars)
 *   scalars = [lr_t, beta_1, 1 - beta_1, beta_2, 1 - beta_2, eps]
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr_t m / (sqrt(v) + eps).
 * amsgrad_update(T* p, const T* g, T* m, T* v, T* vhat, long long n, const double* scalars)
 *   scalars as adam_update; as adam_update, then vhat = max(vhat, v);
 *   p -= lr_t m / (sqrt(vhat) + eps).   Reference: adam_update(..., amsgrad=True)
 * adamax_update(T* p, const T* g, T* m, T* u, long long n, const double* scalars)
 *   scalars = [lr_t, beta_1, 1 - beta_1, beta_2, eps]
 *   m = b1 m + (1 - b1) g;  u = max(b2 u, |g|);  p -= lr_t m / (u + eps).
 * nadam_update(T* p, const T* g, T* m, T* v, long long n, const double* scalars)
 *   scalars = [lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2, eps, 1 - momentum_cache_t,
 *              momentum_cache_t_1, 1 - m_schedule_new, 1 - m_schedule_next,
 *              1 - beta_2^t]
 *   g' = g / (1 - m_schedule_new);  m = b1 m + (1 - b1) g;  m' = m / (1 - m_schedule_next);
 *   v = b2 v + (1 - b2) g^2;  v' = v / (1 - b2^t);
 *   p -= lr ((1 - mc_t) g' + mc_{t+1} m') / (sqrt(v') + eps).
 */
#include "gpuseq_common.cuh"

namespace gs_opt {

// A step's K scalars, read once per thread from the device buffer and rounded to T.
template <typename T, long long K>
struct StepScalars {
    T v[K];
    __device__ __forceinline__ explicit StepScalars(const double* __restrict__ s) {
#pragma unroll
        for (long long k = 0; k < K; ++k) v[k] = static_cast<T>(s[k]);
    }
    __device__ __forceinline__ T operator[](long long k) const { return v[k]; }
};

// The body every entry point shares: load the scalars, then the rule over the elements.
template <typename Rule, typename T, typename... Arrays>
__device__ __forceinline__ void update_loop(long long n, const double* __restrict__ scalars,
                                            Arrays... arrays) {
    const StepScalars<T, Rule::kScalars> c(scalars);
    GS_GRID_STRIDE_LOOP(i, n) Rule::apply(i, c, arrays...);
}

struct Sgd {
    static constexpr long long kScalars = 2;   // lr, momentum
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 2>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ v, long long nesterov) {
        const T gi = g[i];
        const T vi = c[1] * v[i] - c[0] * gi;
        v[i] = vi;
        if (nesterov) p[i] += c[1] * vi - c[0] * gi;
        else p[i] += vi;
    }
};

struct RmsProp {
    static constexpr long long kScalars = 4;   // lr, rho, 1 - rho, eps
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 4>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ a) {
        const T gi = g[i];
        const T ai = c[1] * a[i] + c[2] * gi * gi;
        a[i] = ai;
        p[i] -= c[0] * gi / (gs::sqrt_(ai) + c[3]);
    }
};

struct Adagrad {
    static constexpr long long kScalars = 2;   // lr, eps
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 2>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ a) {
        const T gi = g[i];
        const T ai = a[i] + gi * gi;
        a[i] = ai;
        p[i] -= c[0] * gi / (gs::sqrt_(ai) + c[1]);
    }
};

struct Adadelta {
    static constexpr long long kScalars = 4;   // lr, rho, 1 - rho, eps
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 4>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ a, T* __restrict__ d) {
        const T gi = g[i];
        const T ai = c[1] * a[i] + c[2] * gi * gi;
        a[i] = ai;
        const T u = gi * gs::sqrt_(d[i] + c[3]) / gs::sqrt_(ai + c[3]);
        p[i] -= c[0] * u;
        d[i] = c[1] * d[i] + c[2] * u * u;
    }
};

// The moments of Adam and AMSGrad (scalars: lr_t, beta_1, 1 - beta_1, beta_2,
// 1 - beta_2, eps); returns the new m and writes m and v.
template <typename T>
__device__ __forceinline__ T adam_moments(long long i, const StepScalars<T, 6>& c, T gi,
                                          T* __restrict__ m, T* __restrict__ v, T& vi) {
    const T mi = c[1] * m[i] + c[2] * gi;
    vi = c[3] * v[i] + c[4] * gi * gi;
    m[i] = mi;
    v[i] = vi;
    return mi;
}

struct Adam {
    static constexpr long long kScalars = 6;
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 6>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ m, T* __restrict__ v) {
        T vi;
        const T mi = adam_moments(i, c, g[i], m, v, vi);
        p[i] -= c[0] * mi / (gs::sqrt_(vi) + c[5]);
    }
};

struct AmsGrad {
    static constexpr long long kScalars = 6;
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 6>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ m, T* __restrict__ v,
                                                 T* __restrict__ vhat) {
        T vi;
        const T mi = adam_moments(i, c, g[i], m, v, vi);
        const T vh = gs::nan_max(vhat[i], vi);
        vhat[i] = vh;
        p[i] -= c[0] * mi / (gs::sqrt_(vh) + c[5]);
    }
};

struct Adamax {
    static constexpr long long kScalars = 5;   // lr_t, beta_1, 1 - beta_1, beta_2, eps
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 5>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ m, T* __restrict__ u) {
        const T gi = g[i];
        const T mi = c[1] * m[i] + c[2] * gi;
        const T ui = gs::nan_max(c[3] * u[i], gs::abs_(gi));
        m[i] = mi;
        u[i] = ui;
        p[i] -= c[0] * mi / (ui + c[4]);
    }
};

struct Nadam {
    // lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2, eps, 1 - mc_t, mc_{t+1},
    // 1 - m_schedule_new, 1 - m_schedule_next, 1 - beta_2^t
    static constexpr long long kScalars = 11;
    template <typename T>
    __device__ __forceinline__ static void apply(long long i, const StepScalars<T, 11>& c,
                                                 T* __restrict__ p, const T* __restrict__ g,
                                                 T* __restrict__ m, T* __restrict__ v) {
        const T gi = g[i];
        const T g_prime = gi / c[8];
        const T mi = c[1] * m[i] + c[2] * gi;
        const T m_prime = mi / c[9];
        const T vi = c[3] * v[i] + c[4] * gi * gi;
        const T v_prime = vi / c[10];
        const T m_bar = c[6] * g_prime + c[7] * m_prime;
        m[i] = mi;
        v[i] = vi;
        p[i] -= c[0] * m_bar / (gs::sqrt_(v_prime) + c[5]);
    }
};

}  // namespace gs_opt

// ------------------------------------------------------------------ entry points
template <typename T>
__global__ void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v,
                           long long n, const double* __restrict__ scalars, long long nesterov) {
    gs_opt::update_loop<gs_opt::Sgd, T>(n, scalars, p, g, v, nesterov);
}

template <typename T>
__global__ void rmsprop_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::RmsProp, T>(n, scalars, p, g, a);
}

template <typename T>
__global__ void adagrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::Adagrad, T>(n, scalars, p, g, a);
}

template <typename T>
__global__ void adadelta_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                                T* __restrict__ d, long long n,
                                const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::Adadelta, T>(n, scalars, p, g, a, d);
}

template <typename T>
__global__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                            T* __restrict__ v, long long n, const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::Adam, T>(n, scalars, p, g, m, v);
}

template <typename T>
__global__ void amsgrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                               T* __restrict__ v, T* __restrict__ vhat, long long n,
                               const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::AmsGrad, T>(n, scalars, p, g, m, v, vhat);
}

template <typename T>
__global__ void adamax_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                              T* __restrict__ u, long long n, const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::Adamax, T>(n, scalars, p, g, m, u);
}

template <typename T>
__global__ void nadam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                             T* __restrict__ v, long long n, const double* __restrict__ scalars) {
    gs_opt::update_loop<gs_opt::Nadam, T>(n, scalars, p, g, m, v);
}
