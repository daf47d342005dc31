/* Fused in-place optimizer updates with the Keras 2.2 rules: one launch per weight.
 *
 * @kernels: sgd_update rmsprop_update adagrad_update adadelta_update
 * @kernels: adam_update amsgrad_update adamax_update nadam_update
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
 * Launch (every kernel): 1-D grid-stride loop, block = (256, 1, 1),
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

template <typename T>
__global__ void sgd_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v,
                           long long n, T lr, T momentum, long long nesterov) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T vi = momentum * v[i] - lr * gi;
        v[i] = vi;
        if (nesterov) p[i] += momentum * vi - lr * gi;
        else p[i] += vi;
    }
}

template <typename T>
__global__ void rmsprop_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, T lr, T rho, T one_minus_rho, T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = rho * a[i] + one_minus_rho * gi * gi;
        a[i] = ai;
        p[i] -= lr * gi / (gs::sqrt_(ai) + eps);
    }
}

template <typename T>
__global__ void adagrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                               long long n, T lr, T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = a[i] + gi * gi;
        a[i] = ai;
        p[i] -= lr * gi / (gs::sqrt_(ai) + eps);
    }
}

template <typename T>
__global__ void adadelta_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ a,
                                T* __restrict__ d, long long n, T lr, T rho, T one_minus_rho,
                                T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T ai = rho * a[i] + one_minus_rho * gi * gi;
        a[i] = ai;
        const T u = gi * gs::sqrt_(d[i] + eps) / gs::sqrt_(ai + eps);
        p[i] -= lr * u;
        d[i] = rho * d[i] + one_minus_rho * u * u;
    }
}

template <typename T>
__global__ void adam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                            T* __restrict__ v, long long n, T lr_t, T beta_1,
                            T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1 * m[i] + one_minus_beta_1 * gi;
        const T vi = beta_2 * v[i] + one_minus_beta_2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t * mi / (gs::sqrt_(vi) + eps);
    }
}

template <typename T>
__global__ void amsgrad_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                               T* __restrict__ v, T* __restrict__ vhat, long long n, T lr_t,
                               T beta_1, T one_minus_beta_1, T beta_2, T one_minus_beta_2,
                               T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1 * m[i] + one_minus_beta_1 * gi;
        const T vi = beta_2 * v[i] + one_minus_beta_2 * gi * gi;
        const T vh = gs::nan_max(vhat[i], vi);
        m[i] = mi;
        v[i] = vi;
        vhat[i] = vh;
        p[i] -= lr_t * mi / (gs::sqrt_(vh) + eps);
    }
}

template <typename T>
__global__ void adamax_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                              T* __restrict__ u, long long n, T lr_t, T beta_1,
                              T one_minus_beta_1, T beta_2, T eps) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T mi = beta_1 * m[i] + one_minus_beta_1 * gi;
        const T ui = gs::nan_max(beta_2 * u[i], gs::abs_(gi));
        m[i] = mi;
        u[i] = ui;
        p[i] -= lr_t * mi / (ui + eps);
    }
}

template <typename T>
__global__ void nadam_update(T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                             T* __restrict__ v, long long n, T lr, T beta_1,
                             T one_minus_beta_1, T beta_2, T one_minus_beta_2, T eps,
                             T one_minus_momentum_cache_t, T momentum_cache_t_1,
                             T one_minus_m_schedule_new, T one_minus_m_schedule_next,
                             T one_minus_beta_2_power_t) {
    GS_GRID_STRIDE_LOOP(i, n) {
        const T gi = g[i];
        const T g_prime = gi / one_minus_m_schedule_new;
        const T mi = beta_1 * m[i] + one_minus_beta_1 * gi;
        const T m_prime = mi / one_minus_m_schedule_next;
        const T vi = beta_2 * v[i] + one_minus_beta_2 * gi * gi;
        const T v_prime = vi / one_minus_beta_2_power_t;
        const T m_bar = one_minus_momentum_cache_t * g_prime + momentum_cache_t_1 * m_prime;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr * m_bar / (gs::sqrt_(v_prime) + eps);
    }
}
