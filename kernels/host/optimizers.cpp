/* Optimizer updates on the CPU: one pass over a weight and its state per step.
 *
 * @host_functions: gs_sgd_update gs_rmsprop_update gs_adagrad_update gs_adam_update
 *
 * NumPy reference: gpuseq/backend/numpy_ops/optimizer_updates.py (sgd_update,
 * rmsprop_update, adagrad_update, adam_update), the Keras 2.2 rules. The NumPy functions
 * make six to ten passes over the arrays (one per ufunc); these loops make one, with
 * the same operations in the same order and the same roundings (no contraction into
 * fused multiply-adds: this file is compiled with fp-contract off), so both paths give
 * bitwise the same weights. The CUDA twin is kernels/optimizers.cu.
 *
 * Every array is C-contiguous with n elements of one dtype; p and the state arrays are
 * updated in place. Hyper-parameters arrive as doubles and are rounded to the dtype
 * first, as NumPy does with a Python float against a float32 array:
 *
 * gs_sgd_update(T* p, const T* g, T* v, n, double lr, double momentum, nesterov, threads)
 *   step = g lr;  v = v momentum - step;  p += v momentum - step (nesterov) or p += v.
 * gs_rmsprop_update(T* p, const T* g, T* a, n, double lr, double rho, double eps, threads)
 *   a = a rho + g (1 - rho) g;  p -= g lr / (sqrt(a) + eps).
 * gs_adagrad_update(T* p, const T* g, T* a, n, double lr, double eps, threads)
 *   a += g g;  p -= g lr / (sqrt(a) + eps).
 * gs_adam_update(T* p, const T* g, T* m, T* v, T* vhat, n, double lr_t, double beta_1,
 *                double beta_2, double eps, threads)
 *   m = m b1 + g (1 - b1);  v = v b2 + g (1 - b2) g;  vhat = max(vhat, v) when vhat is
 *   not null (AMSGrad);  p -= m lr_t / (sqrt(vhat or v) + eps).
 * Each returns 0. `threads`: the elements are split into that many ranges.
 */
#pragma GCC optimize("fp-contract=off")

#include <cmath>

#include "host_threads.h"

namespace {

constexpr long long kGranule = 1024;

template <typename Body>
void over_elements(long long n, long long threads, const Body& body) {
    gs_host::split_range(n, threads, kGranule, body);
}

template <typename T>
void sgd(T* __restrict p, const T* __restrict g, T* __restrict v, long long n, double lr_d,
         double momentum_d, long long nesterov, long long threads) {
    const T lr = static_cast<T>(lr_d), mom = static_cast<T>(momentum_d);
    over_elements(n, threads, [=](long long b, long long e) {
        if (nesterov) {
            for (long long i = b; i < e; ++i) {
                const T step = g[i] * lr;
                const T vi = v[i] * mom - step;
                v[i] = vi;
                p[i] += vi * mom - step;
            }
        } else {
            for (long long i = b; i < e; ++i) {
                const T vi = v[i] * mom - g[i] * lr;
                v[i] = vi;
                p[i] += vi;
            }
        }
    });
}

template <typename T>
void rmsprop(T* __restrict p, const T* __restrict g, T* __restrict a, long long n,
             double lr_d, double rho_d, double eps_d, long long threads) {
    const T lr = static_cast<T>(lr_d), rho = static_cast<T>(rho_d);
    const T omr = static_cast<T>(1.0 - rho_d), eps = static_cast<T>(eps_d);
    over_elements(n, threads, [=](long long b, long long e) {
        for (long long i = b; i < e; ++i) {
            const T gi = g[i];
            const T ai = a[i] * rho + gi * omr * gi;
            a[i] = ai;
            p[i] -= gi * lr / (std::sqrt(ai) + eps);
        }
    });
}

template <typename T>
void adagrad(T* __restrict p, const T* __restrict g, T* __restrict a, long long n,
             double lr_d, double eps_d, long long threads) {
    const T lr = static_cast<T>(lr_d), eps = static_cast<T>(eps_d);
    over_elements(n, threads, [=](long long b, long long e) {
        for (long long i = b; i < e; ++i) {
            const T gi = g[i];
            const T ai = a[i] + gi * gi;
            a[i] = ai;
            p[i] -= gi * lr / (std::sqrt(ai) + eps);
        }
    });
}

template <typename T>
void adam(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
          T* __restrict vhat, long long n, double lr_d, double b1_d, double b2_d,
          double eps_d, long long threads) {
    const T lr = static_cast<T>(lr_d), b1 = static_cast<T>(b1_d), b2 = static_cast<T>(b2_d);
    const T omb1 = static_cast<T>(1.0 - b1_d), omb2 = static_cast<T>(1.0 - b2_d);
    const T eps = static_cast<T>(eps_d);
    over_elements(n, threads, [=](long long b, long long e) {
        for (long long i = b; i < e; ++i) {
            const T gi = g[i];
            const T mi = m[i] * b1 + gi * omb1;
            const T vi = v[i] * b2 + gi * omb2 * gi;
            m[i] = mi;
            v[i] = vi;
            T den = vi;
            if (vhat != nullptr) {             // np.maximum: NaN wins
                const T h = vhat[i];
                den = (h > vi || h != h) ? h : vi;
                vhat[i] = den;
            }
            p[i] -= mi * lr / (std::sqrt(den) + eps);
        }
    });
}

}  // namespace

extern "C" {

int gs_sgd_update_f32(float* p, const float* g, float* v, long long n, double lr,
                      double momentum, long long nesterov, long long threads) {
    sgd(p, g, v, n, lr, momentum, nesterov, threads);
    return 0;
}

int gs_sgd_update_f64(double* p, const double* g, double* v, long long n, double lr,
                      double momentum, long long nesterov, long long threads) {
    sgd(p, g, v, n, lr, momentum, nesterov, threads);
    return 0;
}

int gs_rmsprop_update_f32(float* p, const float* g, float* a, long long n, double lr,
                          double rho, double eps, long long threads) {
    rmsprop(p, g, a, n, lr, rho, eps, threads);
    return 0;
}

int gs_rmsprop_update_f64(double* p, const double* g, double* a, long long n, double lr,
                          double rho, double eps, long long threads) {
    rmsprop(p, g, a, n, lr, rho, eps, threads);
    return 0;
}

int gs_adagrad_update_f32(float* p, const float* g, float* a, long long n, double lr,
                          double eps, long long threads) {
    adagrad(p, g, a, n, lr, eps, threads);
    return 0;
}

int gs_adagrad_update_f64(double* p, const double* g, double* a, long long n, double lr,
                          double eps, long long threads) {
    adagrad(p, g, a, n, lr, eps, threads);
    return 0;
}

int gs_adam_update_f32(float* p, const float* g, float* m, float* v, float* vhat, long long n,
                       double lr_t, double beta_1, double beta_2, double eps,
                       long long threads) {
    adam(p, g, m, v, vhat, n, lr_t, beta_1, beta_2, eps, threads);
    return 0;
}

int gs_adam_update_f64(double* p, const double* g, double* m, double* v, double* vhat,
                       long long n, double lr_t, double beta_1, double beta_2, double eps,
                       long long threads) {
    adam(p, g, m, v, vhat, n, lr_t, beta_1, beta_2, eps, threads);
    return 0;
}

}  // extern "C"
