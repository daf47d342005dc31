/* Pooling on the CPU: 1-D max / average pooling and global pooling, channels last.
 *
 * @host_functions: gs_pool1d_forward gs_pool1d_backward gs_global_pool_forward
 *                  gs_global_pool_backward
 *
 * NumPy reference: gpuseq/backend/numpy_ops/pooling.py::pool1d_forward, ::pool1d_backward,
 * ::global_pool_forward and ::global_pool_backward (channels_last), which run when this
 * library is not available and for channels_first data. The NumPy ops make one strided
 * pass per window offset (a handful of ufunc calls, each costing more in overhead than
 * in arithmetic for the small arrays of a sequence model); these loops make one pass.
 * The CUDA twin is kernels/pooling.cu.
 *
 * Layouts (C-contiguous). N samples, C channels, L steps, pool p, stride s, pad_before
 * pa (TensorFlow geometry, resolved by the caller):
 *   x  (N, L, C)    the unpadded input; y, gy (N, OL, C); gx (N, L, C)
 * Window t covers the steps t s - pa + j, j = 0 .. p - 1, in that order; the steps
 * outside [0, L) are padding: they read as -inf for max (so they win only a window whose
 * maximum is -inf, when one comes first: its gradient is then dropped, as in NumPy) and
 * are not counted by an average, whose divisor is min(t s - pa + p, L) - max(t s - pa, 0)
 * (as pooling.py::window_counts; a window without real elements gives 0 / that count).
 * Mode codes: 0 max, 1 avg; any other code (or pool < 1, stride < 1, pa < 0) returns
 * -1 and writes nothing.
 *
 * The same operations run in the same order as the NumPy ops, so both paths give the
 * same values (up to the sign of a zero): the max is a running numpy.maximum over the
 * window (a NaN wins), the average the running sum of the real elements in window order
 * divided once by the count; backward, each element of gx sums its windows' gradients
 * in the order the NumPy op adds them (window offsets j ascending, which is windows t
 * descending). Global pooling sums / compares along S in order (NumPy sums a single
 * channel pairwise, so that average may differ in the last bit). Work is split over
 * threads (host_threads.h) by samples, which never share data, so results are bitwise
 * the same for any thread count. The inner loops run over blocks of 16 (float32) or 8
 * (float64) channels held in registers (GCC vector types, as in conv1d.cpp); the last
 * channels of a row go one by one through the same code.
 * Every function exists for float32 (_f32) and float64 (_f64) and returns 0 when done.
 *
 * gs_pool1d_forward(const T* x, T* y, n, length, c, pool, stride, pa, ol, mode, threads)
 *   max: y[n, t] = numpy.maximum over the window (-inf for a window of padding only);
 *   avg: y[n, t] = (sum of the window's real elements) / count.
 *
 * gs_pool1d_backward(const T* gy, const T* x, const T* y, T* gx, n, length, c, pool,
 *                    stride, pa, ol, mode, threads)
 *   gx = 0, then per window t (descending) and offset j (ascending) on a real step:
 *   max: gx[step] += gy[t] * (x[step] is the first position j of the window equal to
 *        y[t]), the same product numpy makes (a NaN gradient spreads over its window);
 *        x and y as the forward saw and made them (both required);
 *   avg: gx[step] += gy[t] / count (x and y may be null).
 *   With stride >= pool (disjoint windows) the windows store these terms instead of
 *   adding them to zero, as numpy does, and only the steps of no window are zeroed.
 *
 * gs_global_pool_forward(const T* x, T* y, long long* argmax, n, s, c, mode, threads)
 *   x (N, S, C), y (N, C), S >= 1 (else -1).
 *   avg: y = (sum over S in order) / S;   argmax may be null.
 *   max: argmax (N, C) = numpy.argmax over S (the first maximum; the first NaN wins),
 *        y = x at the argmax.
 *
 * gs_global_pool_backward(const T* gy, const long long* argmax, T* gx, n, s, c, mode,
 *                         threads)
 *   gy (N, C), gx (N, S, C).
 *   avg: gx[n, k] = gy[n] / S for every k (argmax may be null);
 *   max: gx = 0 except gx[n, argmax[n, ch], ch] = gy[n, ch]. Returns -1 and writes
 *        nothing when an argmax lies outside [0, S).
 */
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "host_threads.h"

namespace {

constexpr long long kMax = 0, kAvg = 1;

// Channel blocks: a block is K vectors of type V; V is a 32-byte vector, or a vector of
// one element for the channels past the last full vector (the same code for both, so
// every channel goes through the same operations).
template <typename T>
struct Lanes {
    typedef T V __attribute__((vector_size(32)));
    typedef T V1 __attribute__((vector_size(sizeof(T))));
    static constexpr long long L = 32 / sizeof(T);   // elements per vector
};

template <typename V_, int K_>
struct Block {
    typedef V_ V;
    static constexpr int K = K_;
};

// (vectors go by reference: passing them by value across functions would depend on
// the vector ABI of the target)
template <typename V, typename T>
inline void load(V& v, const T* p) {
    std::memcpy(&v, p, sizeof v);
}

template <typename V, typename T>
inline void store(T* p, const V& v) {
    std::memcpy(p, &v, sizeof v);
}

// body(Block<V, K>{}, ch) for the channel blocks covering [0, c): 2 vectors, 1 vector,
// then single elements.
template <typename T, typename Body>
inline void over_channels(long long c, const Body& body) {
    typedef typename Lanes<T>::V V;
    typedef typename Lanes<T>::V1 V1;
    constexpr long long L = Lanes<T>::L;
    long long ch = 0;
    for (; ch + 2 * L <= c; ch += 2 * L) body(Block<V, 2>{}, ch);
    for (; ch + L <= c; ch += L) body(Block<V, 1>{}, ch);
    for (; ch < c; ++ch) body(Block<V1, 1>{}, ch);
}

// acc = numpy.maximum(acc, v) per lane: the larger of the two, NaN when either is NaN.
template <typename V>
inline void max_nan(V& acc, const V& v) {
    acc = ((acc >= v) | (acc != acc)) ? acc : v;
}

// The window of output step t: its first step (may be negative) and the offsets
// [j0, j1) of its real steps (empty when j0 == j1).
struct Window {
    long long start, j0, j1;
};

inline Window window(long long t, long long length, long long pool, long long stride,
                     long long pa) {
    const long long start = t * stride - pa;
    long long j0 = start < 0 ? -start : 0;
    long long j1 = length - start < pool ? length - start : pool;
    if (j0 > pool) j0 = pool;
    if (j1 < j0) j1 = j0;
    return {start, j0, j1};
}

// The divisor of an average window, as pooling.py::window_counts computes it.
inline long long window_count(long long start, long long length, long long pool) {
    const long long hi = start + pool < length ? start + pool : length;
    const long long lo = start > 0 ? start : 0;
    return hi - lo;
}

template <typename T, long long Mode>
void pool1d_forward_samples(const T* x, T* y, long long n0, long long n1, long long length,
                            long long c, long long pool, long long stride, long long pa,
                            long long ol) {
    for (long long i = n0; i < n1; ++i) {
        const T* xs = x + i * length * c;                       // (L, C) of sample i
        for (long long t = 0; t < ol; ++t) {
            const Window w = window(t, length, pool, stride, pa);
            T* yr = y + (i * ol + t) * c;                       // (C,)
            const T count = T(window_count(w.start, length, pool));
            if (w.j0 == w.j1) {                                 // padding only
                const T v = Mode == kMax ? -std::numeric_limits<T>::infinity() : T(0) / count;
                for (long long ch = 0; ch < c; ++ch) yr[ch] = v;
                continue;
            }
            const T* first = xs + (w.start + w.j0) * c;         // (j1 - j0, C) real steps
            over_channels<T>(c, [&](auto blk, long long ch) {
                typedef typename decltype(blk)::V V;
                constexpr int K = decltype(blk)::K;
                constexpr long long W = sizeof(V) / sizeof(T);
                V acc[K];
                for (int k = 0; k < K; ++k) load(acc[k], first + ch + k * W);
                for (long long j = 1; j < w.j1 - w.j0; ++j) {
                    const T* xj = first + j * c + ch;
                    for (int k = 0; k < K; ++k) {
                        V v;
                        load(v, xj + k * W);
                        if (Mode == kMax)
                            max_nan(acc[k], v);
                        else
                            acc[k] += v;
                    }
                }
                for (int k = 0; k < K; ++k) {
                    if (Mode == kAvg) acc[k] = acc[k] / count;
                    store(yr + ch + k * W, acc[k]);
                }
            });
        }
    }
}

// Disjoint windows (stride >= pool, Assign): each step of gx belongs to at most one
// window, which stores its gradient there (numpy assigns it too); the steps of no
// window are zeroed. Overlapping windows: gx is zeroed and the windows add their
// gradients, t descending (the order of numpy's additions).
template <typename T, long long Mode, bool Assign>
void pool1d_backward_samples(const T* gy, const T* x, const T* y, T* gx, long long n0,
                             long long n1, long long length, long long c, long long pool,
                             long long stride, long long pa, long long ol) {
    const T ninf = -std::numeric_limits<T>::infinity();
    const T qnan = std::numeric_limits<T>::quiet_NaN();
    for (long long i = n0; i < n1; ++i) {
        T* gxs = gx + i * length * c;                           // (L, C) of sample i
        if (!Assign) std::memset(gxs, 0, sizeof(T) * length * c);
        long long done = 0;         // Assign: steps [0, done) are written
        for (long long tt = 0; tt < ol; ++tt) {
            const long long t = Assign ? tt : ol - 1 - tt;
            const Window w = window(t, length, pool, stride, pa);
            if (w.j0 == w.j1) continue;                         // padding only
            if (Assign) {
                const long long lo = w.start + w.j0;
                if (lo > done) std::memset(gxs + done * c, 0, sizeof(T) * (lo - done) * c);
                done = w.start + w.j1;
            }
            const T* g = gy + (i * ol + t) * c;                 // (C,)
            const T* yr = Mode == kMax ? y + (i * ol + t) * c : nullptr;
            const T* first = Mode == kMax ? x + (i * length + w.start + w.j0) * c : nullptr;
            T* gfirst = gxs + (w.start + w.j0) * c;             // (j1 - j0, C) real steps
            const T count = T(window_count(w.start, length, pool));
            over_channels<T>(c, [&](auto blk, long long ch) {
                typedef typename decltype(blk)::V V;
                constexpr int K = decltype(blk)::K;
                constexpr long long W = sizeof(V) / sizeof(T);
                const V zero = V{} + T(0), one = V{} + T(1), nan = V{} + qnan;
                // max: the value each lane still looks for (NaN once found, which equals
                // nothing; at once when padding comes first and the maximum is -inf);
                // avg: the window's share gy / count
                V b[K], gv[K];
                for (int k = 0; k < K; ++k) {
                    load(gv[k], g + ch + k * W);
                    if (Mode == kMax) {
                        load(b[k], yr + ch + k * W);
                        if (w.j0 > 0) b[k] = (b[k] == ninf) ? nan : b[k];
                    } else {
                        b[k] = gv[k] / count;
                    }
                }
                for (long long j = 0; j < w.j1 - w.j0; ++j) {
                    T* gj = gfirst + j * c + ch;
                    for (int k = 0; k < K; ++k) {
                        V acc = zero, v;
                        if (!Assign) load(acc, gj + k * W);
                        if (Mode == kMax) {
                            load(v, first + j * c + ch + k * W);
                            const auto hit = v == b[k];
                            v = gv[k] * (hit ? one : zero);
                            b[k] = hit ? nan : b[k];
                        } else {
                            v = b[k];
                        }
                        if (Assign)
                            store(gj + k * W, v);
                        else
                            store(gj + k * W, acc + v);
                    }
                }
            });
        }
        if (Assign && done < length)
            std::memset(gxs + done * c, 0, sizeof(T) * (length - done) * c);
    }
}

template <typename T>
int pool1d_forward(const T* x, T* y, long long n, long long length, long long c,
                   long long pool, long long stride, long long pa, long long ol,
                   long long mode, long long threads) {
    if ((mode != kMax && mode != kAvg) || pool < 1 || stride < 1 || pa < 0) return -1;
    gs_host::split_range(n, threads, 1, [&](long long n0, long long n1) {
        if (mode == kMax)
            pool1d_forward_samples<T, kMax>(x, y, n0, n1, length, c, pool, stride, pa, ol);
        else
            pool1d_forward_samples<T, kAvg>(x, y, n0, n1, length, c, pool, stride, pa, ol);
    });
    return 0;
}

template <typename T>
int pool1d_backward(const T* gy, const T* x, const T* y, T* gx, long long n, long long length,
                    long long c, long long pool, long long stride, long long pa, long long ol,
                    long long mode, long long threads) {
    if ((mode != kMax && mode != kAvg) || pool < 1 || stride < 1 || pa < 0) return -1;
    if (mode == kMax && (x == nullptr || y == nullptr)) return -1;
    const bool disjoint = stride >= pool;
    gs_host::split_range(n, threads, 1, [&](long long n0, long long n1) {
        if (mode == kMax && disjoint)
            pool1d_backward_samples<T, kMax, true>(gy, x, y, gx, n0, n1, length, c, pool,
                                                   stride, pa, ol);
        else if (mode == kMax)
            pool1d_backward_samples<T, kMax, false>(gy, x, y, gx, n0, n1, length, c, pool,
                                                    stride, pa, ol);
        else if (disjoint)
            pool1d_backward_samples<T, kAvg, true>(gy, x, y, gx, n0, n1, length, c, pool,
                                                   stride, pa, ol);
        else
            pool1d_backward_samples<T, kAvg, false>(gy, x, y, gx, n0, n1, length, c, pool,
                                                    stride, pa, ol);
    });
    return 0;
}

// Global pooling of samples [n0, n1), per channel block over S in order. max: the
// numpy.argmax rule (a value replaces the running maximum when it is not <= it, i.e.
// greater or NaN, and the running maximum is not NaN yet), the index kept in lanes of
// the comparison mask's integer type (int32 for float32, int64 for float64).
template <typename T, long long Mode>
void global_pool_samples(const T* x, T* y, long long* argmax, long long n0, long long n1,
                         long long s, long long c) {
    for (long long i = n0; i < n1; ++i) {
        const T* xs = x + i * s * c;                            // (S, C) of sample i
        over_channels<T>(c, [&](auto blk, long long ch) {
            typedef typename decltype(blk)::V V;
            typedef decltype(V{} < V{}) M;                      // mask / index lanes
            typedef std::decay_t<decltype(M{}[0])> I;
            constexpr int K = decltype(blk)::K;
            constexpr long long W = sizeof(V) / sizeof(T);
            V acc[K];
            M at[K];
            for (int k = 0; k < K; ++k) {
                load(acc[k], xs + ch + k * W);
                at[k] = M{};
            }
            for (long long r = 1; r < s; ++r) {
                const T* xr = xs + r * c + ch;
                const M rv = M{} + static_cast<I>(r);
                for (int k = 0; k < K; ++k) {
                    V v;
                    load(v, xr + k * W);
                    if (Mode == kAvg) {
                        acc[k] += v;
                    } else {
                        const M up = ((v > acc[k]) | (v != v)) & (acc[k] == acc[k]);
                        acc[k] = up ? v : acc[k];
                        at[k] = up ? rv : at[k];
                    }
                }
            }
            for (int k = 0; k < K; ++k) {
                if (Mode == kAvg) acc[k] = acc[k] / T(s);
                store(y + i * c + ch + k * W, acc[k]);
                if (Mode == kMax)
                    for (long long e = 0; e < W; ++e) argmax[i * c + ch + k * W + e] = at[k][e];
            }
        });
    }
}

template <typename T>
int global_pool_forward(const T* x, T* y, long long* argmax, long long n, long long s,
                        long long c, long long mode, long long threads) {
    if ((mode != kMax && mode != kAvg) || s < 1) return -1;
    if (mode == kMax && (argmax == nullptr ||
                         (sizeof(T) == 4 && s > std::numeric_limits<std::int32_t>::max())))
        return -1;
    gs_host::split_range(n, threads, 1, [&](long long n0, long long n1) {
        if (mode == kMax)
            global_pool_samples<T, kMax>(x, y, argmax, n0, n1, s, c);
        else
            global_pool_samples<T, kAvg>(x, y, argmax, n0, n1, s, c);
    });
    return 0;
}

template <typename T>
int global_pool_backward(const T* gy, const long long* argmax, T* gx, long long n,
                         long long s, long long c, long long mode, long long threads) {
    if ((mode != kMax && mode != kAvg) || s < 1) return -1;
    if (mode == kMax) {
        if (argmax == nullptr) return -1;
        for (long long k = 0; k < n * c; ++k)
            if (argmax[k] < 0 || argmax[k] >= s) return -1;
    }
    gs_host::split_range(n, threads, 1, [&](long long n0, long long n1) {
        for (long long i = n0; i < n1; ++i) {
            const T* __restrict g = gy + i * c;                 // (C,)
            T* __restrict gxs = gx + i * s * c;                 // (S, C) of sample i
            if (mode == kAvg) {         // row 0: gy / S; the other rows: copies of it
                const T size = T(s);
                for (long long ch = 0; ch < c; ++ch) gxs[ch] = g[ch] / size;
                for (long long r = 1; r < s; ++r) {
                    T* __restrict row = gxs + r * c;
                    for (long long ch = 0; ch < c; ++ch) row[ch] = gxs[ch];
                }
            } else {
                std::memset(gxs, 0, sizeof(T) * s * c);
                const long long* ar = argmax + i * c;
                for (long long ch = 0; ch < c; ++ch) gxs[ar[ch] * c + ch] = g[ch];
            }
        }
    });
    return 0;
}

}  // namespace

extern "C" {

#define GS_POOLING_ENTRIES(T, SUFFIX)                                                        \
    int gs_pool1d_forward##SUFFIX(const T* x, T* y, long long n, long long length,          \
                                  long long c, long long pool, long long stride,            \
                                  long long pa, long long ol, long long mode,               \
                                  long long threads) {                                       \
        return pool1d_forward<T>(x, y, n, length, c, pool, stride, pa, ol, mode, threads);  \
    }                                                                                        \
    int gs_pool1d_backward##SUFFIX(const T* gy, const T* x, const T* y, T* gx, long long n, \
                                   long long length, long long c, long long pool,           \
                                   long long stride, long long pa, long long ol,            \
                                   long long mode, long long threads) {                      \
        return pool1d_backward<T>(gy, x, y, gx, n, length, c, pool, stride, pa, ol, mode,   \
                                  threads);                                                  \
    }                                                                                        \
    int gs_global_pool_forward##SUFFIX(const T* x, T* y, long long* argmax, long long n,    \
                                       long long s, long long c, long long mode,            \
                                       long long threads) {                                  \
        return global_pool_forward<T>(x, y, argmax, n, s, c, mode, threads);                \
    }                                                                                        \
    int gs_global_pool_backward##SUFFIX(const T* gy, const long long* argmax, T* gx,        \
                                        long long n, long long s, long long c,              \
                                        long long mode, long long threads) {                 \
        return global_pool_backward<T>(gy, argmax, gx, n, s, c, mode, threads);             \
    }

GS_POOLING_ENTRIES(float, _f32)
GS_POOLING_ENTRIES(double, _f64)

#undef GS_POOLING_ENTRIES

}  // extern "C"
