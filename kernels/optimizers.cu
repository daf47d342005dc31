/* Fused in-place optimizer updates with the Keras 2.2 rules: one launch per weight.
 *
 * @kernels: sgd_update rmsprop_update adagrad_update adadelta_update
 * @kernels: adam_update amsgrad_update adamax_update nadam_update store_scalars
 *
 * Every kernel is a template over the element type T (float or double). All
 * arrays are (n,) C-contiguous device memory of dtype T: the parameter p and its
 * state arrays are updated in place, the gradient g is read. Hyper-parameters
 * are T scalars resolved for this step on the host (lr includes the time decay;
 * Adam's and Adamax's lr_t include the bias correction). Complements such as
 * 1 - rho are computed on the host in double and rounded once to T (the NumPy
 * twin rounds the same value when it multiplies a float32 array by a Python
 * float), so both backends use the same constants.
 *
 * Scalars from device memory (CUDA-graph replay): every kernel ends with
 * (const double* hyper, long long h). With h < 0 the T scalars passed by value are
 * used (hyper is then any 1-element array). With h >= 0 the kernel reads its
 * k-th T scalar (the k-th after n in the signature; flags such as nesterov stay by
 * value) as (T)hyper[h + k] instead, so a captured graph picks up the learning rate
 * of each step from a buffer the host refreshes with store_scalars before a
 * replay. The host rounds the same doubles into the by-value scalars, so both
 * forms give bitwise the same update.
 *
 * store_scalars(double* out, long long n, double v0 .. double v7)
 *   out[k] = v_k for k < min(n, 8); one thread; grid = block = (1, 1, 1). A template
 *   like the others (T is unused: the buffer is double for either update type).
 *   Reference: the host values themselves (tests compare out with them).
 *
 * Launch (every update kernel): 1-D grid-stride loop, block = (256, 1, 1),
 * grid = (min(ceil(n / 256), max_blocks), 1, 1); not launched when n == 0.
 * Reference: gpuseq/backend/numpy_ops/optimizer_updates.py::<kernel name>
 *
 * sgd_update(T* p, const T* g, T* v, long long n, T lr, T momentum, long long nesterov)
 *   v = momentum v - lr g;  p += momentum v - lr g (nesterov != 0) or p += v.
 * rmsprop_update(T* p, const T* g, T* a, long long n, T lr, T rho, T one_minus_rho, T eps)
 *   a = rho a + (1 - rho) g^2;  p -= lr g / (sqrt(a) + eps).
 * adagrad_update(T* p, const T* g, T* a, long long n, T lr, T eps)
 *   a += g^2;  p -= lr g / (sqrt(a) + eps).
 * adadelta_update(T* p, const T* g, T* a, T* d, long long n, T lr, T rho, T one_minus_rho, T eps)
 *   a = rho a + (1 - rho) g^2;  u = g sqrt(d + eps) / sqrt(a + eps);  p -= lr u;
 *   d = rho d + (1 - rho) u^2.
 * adam_update(T* p, const T* g, T* m, T* v, long long n, T lr_t, T beta_1,
 *             T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps)
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr_t m / (sqrt(v) + eps).
 * amsgrad_update(T* p, const T* g, T* m, T* v, T* vhat, long long n, T lr_t, T beta_1,
 *                T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps)
 *   as adam_update, then vhat = max(vhat, v);  p -= lr_t m / (sqrt(vhat) + eps).
 *   Reference: adam_update(..., amsgrad=True)
 * adamax_update(T* p, const T* g, T* m, T* u, long long n, T lr_t, T beta_1,
 *               T one_minus_beta_1, T beta_2, T eps)
 *   m = b1 m + (1 - b1) g;  u = max(b2 u, |g|);  p -= lr_t m / (u + eps).
 * nadam_update(T* p, const T* g, T* m, T* v, long long n, T lr, T beta_1,
 *              T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps,
 *              T one_minus_momentum_cache_t, T momentum_cache_t_1,
 *              T one_minus_m_schedule_new, T one_minus_m_schedule_next,
 *              T one_minus_beta_2_power_t)
 *   g' = g / (1 - m_schedule_new);  m = b1 m + (1 - b1) g;  m' = m / (1 - m_schedule_next);
 *   v = b2 v + (1 - b2) g^2;  v' = v / (1 - b2^t);
 *   p -= lr ((1 - mc_t) g' + mc_{t+1} m') / (sqrt(v') + eps).
 */
#include "gpuseq_common.cuh"

// The k-th scalar of an update: from hyper[h + k] when h >= 0, else the by-value one.
#define GS_HYPER(T, k, value) ((h) >= 0 ? (T)hyper[(h) + (k)] : (value))

template <typename T>
__global__ void store_scalars(double* __restrict__ out, long long n, double v0, double v1,
                              double v2, double v3, double v4, double v5, double v6,
                              double v7) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const double v[8] = {v0, v1, v2, v3, v4, v5, v6, v7};
    for (long long k = 0; k < n && k < 8; ++k) out[k] = v[k];
}

template <typename T>
__global__ void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v,
                           long long n, T lr, T momentum, long long nesterov,
                           const double* __restrict__ hyper, long long h) {
    const T lr_ = GS_HYPER(T, 0, lr);
    const T momentum_ = GS_HYPER(T, 1, momentum);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T vi = momentum_ * v[i] - lr_ * gi;
        v[i] = vi;
        if (nesterov) p[i] += momentum_ * vi - lr_ * gi;
        else p[i] += vi;
    }
}

template <typename T>
__global__ void rmsprop_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, T lr, T rho, T one_minus_rho, T eps,
                               const double* __restrict__ hyper, long long h) {
    const T lr_ = GS_HYPER(T, 0, lr);
    const T rho_ = GS_HYPER(T, 1, rho);
    const T one_minus_rho_ = GS_HYPER(T, 2, one_minus_rho);
    const T eps_ = GS_HYPER(T, 3, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = rho_ * a[i] + one_minus_rho_ * gi * gi;
        a[i] = ai;
        p[i] -= lr_ * gi / (gs::sqrt_(ai) + eps_);
    }
}

template <typename T>
__global__ void adagrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, T lr, T eps,
                               const double* __restrict__ hyper, long long h) {
    const T lr_ = GS_HYPER(T, 0, lr);
    const T eps_ = GS_HYPER(T, 1, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = a[i] + gi * gi;
        a[i] = ai;
        p[i] -= lr_ * gi / (gs::sqrt_(ai) + eps_);
    }
}

template <typename T>
__global__ void adadelta_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                                T* __restrict__ d, long long n, T lr, T rho, T one_minus_rho,
                                T eps,
                                const double* __restrict__ hyper, long long h) {
    const T lr_ = GS_HYPER(T, 0, lr);
    const T rho_ = GS_HYPER(T, 1, rho);
    const T one_minus_rho_ = GS_HYPER(T, 2, one_minus_rho);
    const T eps_ = GS_HYPER(T, 3, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = rho_ * a[i] + one_minus_rho_ * gi * gi;
        a[i] = ai;
        const T u = gi * gs::sqrt_(d[i] + eps_) / gs::sqrt_(ai + eps_);
        p[i] -= lr_ * u;
        d[i] = rho_ * d[i] + one_minus_rho_ * u * u;
    }
}

template <typename T>
__global__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                            T* __restrict__ v, long long n, T lr_t, T beta_1,
                            T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps,
                            const double* __restrict__ hyper, long long h) {
    const T lr_t_ = GS_HYPER(T, 0, lr_t);
    const T beta_1_ = GS_HYPER(T, 1, beta_1);
    const T one_minus_beta_1_ = GS_HYPER(T, 2, one_minus_beta_1);
    const T beta_2_ = GS_HYPER(T, 3, beta_2);
    const T one_minus_beta_2_ = GS_HYPER(T, 4, one_minus_beta_2);
    const T eps_ = GS_HYPER(T, 5, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1_ * m[i] + one_minus_beta_1_ * gi;
        const T vi = beta_2_ * v[i] + one_minus_beta_2_ * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t_ * mi / (gs::sqrt_(vi) + eps_);
    }
}

template <typename T>
__global__ void amsgrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                               T* __restrict__ v, T* __restrict__ vhat, long long n, T lr_t,
                               T beta_1, T one_minus_beta_1, T beta_2, T one_minus_beta_2,
                               T eps,
                               const double* __restrict__ hyper, long long h) {
    const T lr_t_ = GS_HYPER(T, 0, lr_t);
    const T beta_1_ = GS_HYPER(T, 1, beta_1);
    const T one_minus_beta_1_ = GS_HYPER(T, 2, one_minus_beta_1);
    const T beta_2_ = GS_HYPER(T, 3, beta_2);
    const T one_minus_beta_2_ = GS_HYPER(T, 4, one_minus_beta_2);
    const T eps_ = GS_HYPER(T, 5, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1_ * m[i] + one_minus_beta_1_ * gi;
        const T vi = beta_2_ * v[i] + one_minus_beta_2_ * gi * gi;
        const T vh = gs::nan_max(vhat[i], vi);
        m[i] = mi;
        v[i] = vi;
        vhat[i] = vh;
        p[i] -= lr_t_ * mi / (gs::sqrt_(vh) + eps_);
    }
}

template <typename T>
__global__ void adamax_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                              T* __restrict__ u, long long n, T lr_t, T beta_1,
                              T one_minus_beta_1, T beta_2, T eps,
                              const double* __restrict__ hyper, long long h) {
    const T lr_t_ = GS_HYPER(T, 0, lr_t);
    const T beta_1_ = GS_HYPER(T, 1, beta_1);
    const T one_minus_beta_1_ = GS_HYPER(T, 2, one_minus_beta_1);
    const T beta_2_ = GS_HYPER(T, 3, beta_2);
    const T eps_ = GS_HYPER(T, 4, eps);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1_ * m[i] + one_minus_beta_1_ * gi;
        const T ui = gs::nan_max(beta_2_ * u[i], gs::abs_(gi));
        m[i] = mi;
        u[i] = ui;
        p[i] -= lr_t_ * mi / (ui + eps_);
    }
}

template <typename T>
__global__ void nadam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                             T* __restrict__ v, long long n, T lr, T beta_1,
                             T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps,
                             T one_minus_momentum_cache_t, T momentum_cache_t_1,
                             T one_minus_m_schedule_new, T one_minus_m_schedule_next,
                             T one_minus_beta_2_power_t,
                             const double* __restrict__ hyper, long long h) {
    const T lr_ = GS_HYPER(T, 0, lr);
    const T beta_1_ = GS_HYPER(T, 1, beta_1);
    const T one_minus_beta_1_ = GS_HYPER(T, 2, one_minus_beta_1);
    const T beta_2_ = GS_HYPER(T, 3, beta_2);
    const T one_minus_beta_2_ = GS_HYPER(T, 4, one_minus_beta_2);
    const T eps_ = GS_HYPER(T, 5, eps);
    const T one_minus_momentum_cache_t_ = GS_HYPER(T, 6, one_minus_momentum_cache_t);
    const T momentum_cache_t_1_ = GS_HYPER(T, 7, momentum_cache_t_1);
    const T one_minus_m_schedule_new_ = GS_HYPER(T, 8, one_minus_m_schedule_new);
    const T one_minus_m_schedule_next_ = GS_HYPER(T, 9, one_minus_m_schedule_next);
    const T one_minus_beta_2_power_t_ = GS_HYPER(T, 10, one_minus_beta_2_power_t);
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T g_prime = gi / one_minus_m_schedule_new_;
        const T mi = beta_1_ * m[i] + one_minus_beta_1_ * gi;
        const T m_prime = mi / one_minus_m_schedule_next_;
        const T vi = beta_2_ * v[i] + one_minus_beta_2_ * gi * gi;
        const T v_prime = vi / one_minus_beta_2_power_t_;
        const T m_bar = one_minus_momentum_cache_t_ * g_prime + momentum_cache_t_1_ * m_prime;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_ * m_bar / (gs::sqrt_(v_prime) + eps_);
    }
}
