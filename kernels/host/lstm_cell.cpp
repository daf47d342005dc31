/* LSTM on the CPU: the whole time loop of one layer, forward and backward, in one call.
 *
 * @host_functions: gs_lstm_forward_sequence gs_lstm_backward_sequence
 *
 * NumPy reference: gpuseq/backend/numpy_ops/recurrent.py::lstm_forward / ::lstm_backward
 * (their ufunc loops, _lstm_ufunc_loop / _lstm_backward_ufunc_loop). The NumPy op calls
 * these functions when the host library builds here (numpy_ops/_host.py) and keeps the
 * whole-sequence GEMMs (input projection, weight and input gradients) in NumPy. The CUDA
 * twin is kernels/lstm.cu.
 *
 * Layouts: batch-major, C-contiguous, time index = processing step. N rows (samples),
 * `steps` steps, u units, gate blocks [i | f | c | o] along the last axis (4u).
 *   a     (N, steps, 4u)   in: x @ kernel + bias; forward writes the activated gates
 *                          i = rec(z_i), f = rec(z_f), g = act(z_c), o = rec(z_o) there.
 *   H, C  (N, steps+1, u)  states; [:, 0] holds h0, c0 on entry.
 *   TC    (N, steps, u)    act(c) before masking (kept for backward).
 *   keep  (N, steps) uint8 1 = step used, 0 = masked (states carried); or null.
 *   rm    (N, u)           recurrent dropout multiplier of h_prev; or null.
 *   U (u, 4u) recurrent kernel; Ut (4u, u) its transpose, contiguous.
 * Activation codes: host_math.h (0 linear, 1 relu, 2 sigmoid, 3 hard_sigmoid, 4 tanh).
 * `threads`: rows are split over this many threads (host_threads.h); a row's recurrence
 * never reads another row, and the split keeps every row on the same code path, so the
 * results are bitwise the same for any value. Every function exists for float32 (_f32)
 * and float64 (_f64) and returns 0, or -1 for an activation code it does not take
 * (nothing is written then).
 *
 * gs_lstm_forward_sequence(T* a, const T* U, T* H, T* C, T* TC, const uint8_t* keep,
 *                          const T* rm, T* hu, T* hp, long long steps, long long u,
 *                          long long n, long long act, long long rec, long long threads)
 *   hu (N, 4u), hp (N, u) scratch (hp only with rm). Per step s:
 *   z = a[:, s] + (H[:, s] rm) @ U; gates as above; c = f C[:, s] + i g;
 *   TC[:, s] = act(c); H[:, s+1] = o act(c), C[:, s+1] = c (or H[:, s], C[:, s] where
 *   keep == 0).
 *
 * gs_lstm_backward_sequence(const T* a, const T* Ut, const T* C, const T* TC, const T* G,
 *                           const uint8_t* keep, const T* rm, T* dh, T* dc, T* dz, T* tmp,
 *                           long long steps, long long u, long long n, long long act,
 *                           long long rec, long long threads)
 *   a, C, TC as the forward left them; G (N, steps, u) gradients of the per-step
 *   outputs or null; dh, dc (N, u) in: gradients of the final states; out: of h0, c0.
 *   dz (N, steps, 4u) out: gradients of the gate pre-activations [di | df | dg | do];
 *   tmp (N, u) scratch (only with keep). Per step s, in reverse, with dh' = dh + G[:, s],
 *   m = keep, dhm = dh' m, dcc = dc m + dhm o act'(tc):
 *     do = dhm tc rec'(o); di = dcc g rec'(i); df = dcc c_prev rec'(f); dg = dcc i act'(g);
 *     dc = dcc f + dc (1 - m);  dh = dh' (1 - m) + (dz @ Ut) rm.
 */
#include <cstdint>
#include <cstring>

#include "host_math.h"
#include "host_threads.h"

namespace {

using gs_host::act_k;
using gs_host::dact_k;

template <typename T, long long A, long long R>
void lstm_forward_step(T* __restrict a, long long sa, const T* __restrict hu,
                       const T* __restrict c_prev, T* __restrict c, const T* __restrict h_prev,
                       T* __restrict h, long long ss, T* __restrict tc, long long st,
                       const std::uint8_t* __restrict keep, long long sk, long long u,
                       long long n, long long ac, long long rc) {
    for (long long k = 0; k < n; ++k) {
        T* __restrict ar = a + k * sa;                      // [i | f | c | o] of row k
        const T* __restrict hr = hu + k * 4 * u;
        const T* __restrict cp = c_prev + k * ss;
        T* __restrict cr = c + k * ss;
        T* __restrict hrow = h + k * ss;
        T* __restrict tr = tc + k * st;
        for (long long j = 0; j < u; ++j) {
            T i = act_k<R>(ar[j] + hr[j], rc);
            T f = act_k<R>(ar[u + j] + hr[u + j], rc);
            T g = act_k<A>(ar[2 * u + j] + hr[2 * u + j], ac);
            T o = act_k<R>(ar[3 * u + j] + hr[3 * u + j], rc);
            ar[j] = i;
            ar[u + j] = f;
            ar[2 * u + j] = g;
            ar[3 * u + j] = o;
            T cn = f * cp[j] + i * g;
            T t = act_k<A>(cn, ac);
            tr[j] = t;
            cr[j] = cn;
            hrow[j] = o * t;
        }
        if (keep != nullptr && !keep[k * sk]) {             // masked: carry the states
            const T* __restrict hp = h_prev + k * ss;
            for (long long j = 0; j < u; ++j) {
                cr[j] = cp[j];
                hrow[j] = hp[j];
            }
        }
    }
}

template <typename T, long long A, long long R>
void lstm_backward_step(const T* __restrict a, long long sa, const T* __restrict c_prev,
                        long long ss, const T* __restrict tc, long long st,
                        const T* __restrict gy, long long sg,
                        const std::uint8_t* __restrict keep, long long sk, T* __restrict dh,
                        T* __restrict dc, T* __restrict dz, long long u, long long n,
                        long long ac, long long rc) {
    for (long long k = 0; k < n; ++k) {
        const T* __restrict ar = a + k * sa;
        const T* __restrict cp = c_prev + k * ss;
        const T* __restrict tr = tc + k * st;
        const T* __restrict gr = gy == nullptr ? nullptr : gy + k * sg;
        T* __restrict dhr = dh + k * u;
        T* __restrict dcr = dc + k * u;
        T* __restrict zr = dz + k * sa;
        const T m = (keep == nullptr || keep[k * sk]) ? T(1) : T(0);
        for (long long j = 0; j < u; ++j) {
            const T dhv = gr == nullptr ? dhr[j] : dhr[j] + gr[j];
            const T dcv = dcr[j];
            const T i = ar[j], f = ar[u + j], g = ar[2 * u + j], o = ar[3 * u + j];
            const T t = tr[j];
            const T dhm = dhv * m;
            const T dcc = dcv * m + dhm * o * dact_k<A>(t, ac);
            zr[j] = dcc * g * dact_k<R>(i, rc);
            zr[u + j] = dcc * cp[j] * dact_k<R>(f, rc);
            zr[2 * u + j] = dcc * i * dact_k<A>(g, ac);
            zr[3 * u + j] = dhm * t * dact_k<R>(o, rc);
            dcr[j] = dcc * f + dcv * (T(1) - m);
            dhr[j] = dhv * (T(1) - m);
        }
    }
}

// out (n, C) = in (n, R) @ M (R, C): rows of `in` and `out` at strides si and so, M
// contiguous. Blocks of 4 rows x 2 vectors of columns accumulate in registers (GCC/Clang
// vector extensions); the rest of the rows and columns take the plain loop.
template <typename T>
__attribute__((noinline)) void rows_times(const T* __restrict in, long long si, const T* __restrict M, long long R,
                long long C, T* __restrict out, long long so, long long n) {
    typedef T V __attribute__((vector_size(32)));
    constexpr long long L = 32 / sizeof(T);
    long long k = 0;
    for (; k + 4 <= n; k += 4) {
        const T* i0 = in + k * si;
        const T* i1 = i0 + si;
        const T* i2 = i1 + si;
        const T* i3 = i2 + si;
        long long c = 0;
        for (; c + 2 * L <= C; c += 2 * L) {
            V a00 = {}, a01 = {}, a10 = {}, a11 = {}, a20 = {}, a21 = {}, a30 = {}, a31 = {};
            for (long long r = 0; r < R; ++r) {
                V m0, m1;
                std::memcpy(&m0, M + r * C + c, sizeof m0);
                std::memcpy(&m1, M + r * C + c + L, sizeof m1);
                a00 += i0[r] * m0;
                a01 += i0[r] * m1;
                a10 += i1[r] * m0;
                a11 += i1[r] * m1;
                a20 += i2[r] * m0;
                a21 += i2[r] * m1;
                a30 += i3[r] * m0;
                a31 += i3[r] * m1;
            }
            T* o = out + k * so + c;
            std::memcpy(o, &a00, sizeof a00);
            std::memcpy(o + L, &a01, sizeof a01);
            std::memcpy(o + so, &a10, sizeof a10);
            std::memcpy(o + so + L, &a11, sizeof a11);
            std::memcpy(o + 2 * so, &a20, sizeof a20);
            std::memcpy(o + 2 * so + L, &a21, sizeof a21);
            std::memcpy(o + 3 * so, &a30, sizeof a30);
            std::memcpy(o + 3 * so + L, &a31, sizeof a31);
        }
        for (long long q = 0; q < 4; ++q) {
            const T* ir = in + (k + q) * si;
            T* o = out + (k + q) * so;
            for (long long cc = c; cc < C; ++cc) {
                T acc = T(0);
                for (long long r = 0; r < R; ++r) acc += ir[r] * M[r * C + cc];
                o[cc] = acc;
            }
        }
    }
    for (; k < n; ++k) {
        const T* ir = in + k * si;
        T* o = out + k * so;
        for (long long cc = 0; cc < C; ++cc) o[cc] = T(0);
        for (long long r = 0; r < R; ++r) {
            const T x = ir[r];
            const T* mr = M + r * C;
            for (long long cc = 0; cc < C; ++cc) o[cc] += x * mr[cc];
        }
    }
}

// Rows are split over threads at multiples of 4 (gs_host::split_range), so every row
// goes through the same code of rows_times (its 4-row blocks, or the loop for the last
// n % 4 rows) whatever the thread count: results are bitwise the same for any number.
template <typename Body>
void split_rows(long long n, long long threads, const Body& body) {
    gs_host::split_range(n, threads, 4, body);
}

// The whole forward time loop for rows [k0, k1): per step hu = (h_prev * rm) @ U, then
// lstm_forward_step. A (N, T, 4u), H and C (N, T+1, u), TC (N, T, u), keep (N, T),
// rm (N, u), hu (N, 4u) and hp (N, u) scratch.
template <typename T, long long A, long long R>
void lstm_forward_rows(T* a, const T* U, T* H, T* C, T* TC, const std::uint8_t* keep,
                       const T* rm, T* hu, T* hp, long long steps, long long u, long long k0,
                       long long k1, long long ac, long long rc) {
    const long long sa = steps * 4 * u, ss = (steps + 1) * u, st = steps * u;
    const long long n = k1 - k0;
    for (long long s = 0; s < steps; ++s) {
        const T* h_prev = H + k0 * ss + s * u;
        const T* in = h_prev;
        long long si = ss;
        if (rm != nullptr) {
            for (long long k = 0; k < n; ++k)
                for (long long j = 0; j < u; ++j)
                    hp[(k0 + k) * u + j] = h_prev[k * ss + j] * rm[(k0 + k) * u + j];
            in = hp + k0 * u;
            si = u;
        }
        rows_times<T>(in, si, U, u, 4 * u, hu + k0 * 4 * u, 4 * u, n);
        lstm_forward_step<T, A, R>(a + k0 * sa + s * 4 * u, sa, hu + k0 * 4 * u,
                                   C + k0 * ss + s * u, C + k0 * ss + (s + 1) * u, h_prev,
                                   H + k0 * ss + (s + 1) * u, ss, TC + k0 * st + s * u, st,
                                   keep == nullptr ? nullptr : keep + k0 * steps + s, steps, u,
                                   n, ac, rc);
    }
}

// The whole backward time loop for rows [k0, k1): per step (in reverse)
// lstm_backward_step, then dh += (dz @ U^T) * rm (dh = that product when nothing is
// masked). Ut (4u, u) = U^T contiguous; tmp (N, u) scratch.
template <typename T, long long A, long long R>
void lstm_backward_rows(const T* a, const T* Ut, const T* C, const T* TC, const T* G,
                        const std::uint8_t* keep, const T* rm, T* dh, T* dc, T* dz, T* tmp,
                        long long steps, long long u, long long k0, long long k1,
                        long long ac, long long rc) {
    const long long sa = steps * 4 * u, ss = (steps + 1) * u, st = steps * u;
    const long long n = k1 - k0;
    for (long long s = steps - 1; s >= 0; --s) {
        T* z = dz + k0 * sa + s * 4 * u;
        lstm_backward_step<T, A, R>(a + k0 * sa + s * 4 * u, sa, C + k0 * ss + s * u, ss,
                                    TC + k0 * st + s * u, st,
                                    G == nullptr ? nullptr : G + k0 * st + s * u, st,
                                    keep == nullptr ? nullptr : keep + k0 * steps + s, steps,
                                    dh + k0 * u, dc + k0 * u, z, u, n, ac, rc);
        T* prod = keep == nullptr ? dh + k0 * u : tmp + k0 * u;
        rows_times<T>(z, sa, Ut, 4 * u, u, prod, u, n);
        if (rm != nullptr)
            for (long long e = 0; e < n * u; ++e) prod[e] *= rm[k0 * u + e];
        if (keep != nullptr)
            for (long long e = 0; e < n * u; ++e) dh[k0 * u + e] += prod[e];
    }
}

template <typename T, long long A, long long R>
void forward_sequence(T* a, const T* U, T* H, T* C, T* TC, const std::uint8_t* keep,
                      const T* rm, T* hu, T* hp, long long steps, long long u, long long n,
                      long long threads, long long ac, long long rc) {
    split_rows(n, threads, [=](long long k0, long long k1) {
        lstm_forward_rows<T, A, R>(a, U, H, C, TC, keep, rm, hu, hp, steps, u, k0, k1, ac, rc);
    });
}

template <typename T, long long A, long long R>
void backward_sequence(const T* a, const T* Ut, const T* C, const T* TC, const T* G,
                       const std::uint8_t* keep, const T* rm, T* dh, T* dc, T* dz, T* tmp,
                       long long steps, long long u, long long n, long long threads,
                       long long ac, long long rc) {
    split_rows(n, threads, [=](long long k0, long long k1) {
        lstm_backward_rows<T, A, R>(a, Ut, C, TC, G, keep, rm, dh, dc, dz, tmp, steps, u, k0,
                                    k1, ac, rc);
    });
}

template <typename T>
using ForwardFn = void (*)(T*, const T*, T*, T*, T*, const std::uint8_t*, const T*, T*, T*,
                           long long, long long, long long, long long, long long, long long);
template <typename T>
using BackwardFn = void (*)(const T*, const T*, const T*, const T*, const T*,
                            const std::uint8_t*, const T*, T*, T*, T*, T*, long long,
                            long long, long long, long long, long long, long long);

// The common (activation, recurrent activation) pairs have their own instantiation, so
// the activations inline into the loops and vectorise; other pairs take the kinds at
// run time. Codes: 2 sigmoid, 3 hard_sigmoid, 4 tanh.
template <typename T>
ForwardFn<T> pick_forward(long long act_code, long long rec_code) {
    if (act_code < 0 || act_code > gs_host::kMaxActivationCode || rec_code < 0 ||
        rec_code > gs_host::kMaxActivationCode)
        return nullptr;
    if (act_code == 4 && rec_code == 2) return &forward_sequence<T, 4, 2>;   // Keras >= 2.3
    if (act_code == 4 && rec_code == 3) return &forward_sequence<T, 4, 3>;   // Keras 1, 2.0
    if (act_code == 2 && rec_code == 3) return &forward_sequence<T, 2, 3>;
    return &forward_sequence<T, -1, -1>;
}

template <typename T>
BackwardFn<T> pick_backward(long long act_code, long long rec_code) {
    if (act_code < 0 || act_code > gs_host::kMaxActivationCode || rec_code < 0 ||
        rec_code > gs_host::kMaxActivationCode)
        return nullptr;
    if (act_code == 4 && rec_code == 2) return &backward_sequence<T, 4, 2>;
    if (act_code == 4 && rec_code == 3) return &backward_sequence<T, 4, 3>;
    if (act_code == 2 && rec_code == 3) return &backward_sequence<T, 2, 3>;
    return &backward_sequence<T, -1, -1>;
}

template <typename T>
int forward_entry(T* a, const T* U, T* H, T* C, T* TC, const std::uint8_t* keep, const T* rm,
                  T* hu, T* hp, long long steps, long long u, long long n, long long act_code,
                  long long rec_code, long long threads) {
    ForwardFn<T> fn = pick_forward<T>(act_code, rec_code);
    if (fn == nullptr) return -1;
    fn(a, U, H, C, TC, keep, rm, hu, hp, steps, u, n, threads, act_code, rec_code);
    return 0;
}

template <typename T>
int backward_entry(const T* a, const T* Ut, const T* C, const T* TC, const T* G,
                   const std::uint8_t* keep, const T* rm, T* dh, T* dc, T* dz, T* tmp,
                   long long steps, long long u, long long n, long long act_code,
                   long long rec_code, long long threads) {
    BackwardFn<T> fn = pick_backward<T>(act_code, rec_code);
    if (fn == nullptr) return -1;
    fn(a, Ut, C, TC, G, keep, rm, dh, dc, dz, tmp, steps, u, n, threads, act_code, rec_code);
    return 0;
}

}  // namespace

extern "C" {

int gs_lstm_forward_sequence_f32(float* a, const float* U, float* H, float* C, float* TC,
                                 const std::uint8_t* keep, const float* rm, float* hu,
                                 float* hp, long long steps, long long u, long long n,
                                 long long act_code, long long rec_code, long long threads) {
    return forward_entry(a, U, H, C, TC, keep, rm, hu, hp, steps, u, n, act_code, rec_code,
                         threads);
}

int gs_lstm_forward_sequence_f64(double* a, const double* U, double* H, double* C, double* TC,
                                 const std::uint8_t* keep, const double* rm, double* hu,
                                 double* hp, long long steps, long long u, long long n,
                                 long long act_code, long long rec_code, long long threads) {
    return forward_entry(a, U, H, C, TC, keep, rm, hu, hp, steps, u, n, act_code, rec_code,
                         threads);
}

int gs_lstm_backward_sequence_f32(const float* a, const float* Ut, const float* C,
                                  const float* TC, const float* G, const std::uint8_t* keep,
                                  const float* rm, float* dh, float* dc, float* dz, float* tmp,
                                  long long steps, long long u, long long n, long long act_code,
                                  long long rec_code, long long threads) {
    return backward_entry(a, Ut, C, TC, G, keep, rm, dh, dc, dz, tmp, steps, u, n, act_code,
                          rec_code, threads);
}

int gs_lstm_backward_sequence_f64(const double* a, const double* Ut, const double* C,
                                  const double* TC, const double* G, const std::uint8_t* keep,
                                  const double* rm, double* dh, double* dc, double* dz,
                                  double* tmp, long long steps, long long u, long long n,
                                  long long act_code, long long rec_code, long long threads) {
    return backward_entry(a, Ut, C, TC, G, keep, rm, dh, dc, dz, tmp, steps, u, n, act_code,
                          rec_code, threads);
}

}  // extern "C"
