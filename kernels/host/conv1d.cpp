/* Conv1D on the CPU: the convolution as an implicit GEMM, forward and backward.
 *
 * @host_functions: gs_conv1d_forward gs_conv1d_backward
 *
 * NumPy reference: gpuseq/backend/numpy_ops/conv.py::_conv1d_nlc_forward and
 * ::_conv1d_nlc_backward (im2col copies, NumPy's BLAS, then bias and activation passes),
 * which run when this library is not available. The CUDA twin is kernels/conv.cu.
 *
 * No column matrix is built. With channels last, the window of output step t of sample
 * n is K runs of C contiguous elements of the input (one run of K*C for dilation 1), so
 * the GEMM micro-kernel reads its rows where they lie. A tile of 5 rows x 2 vectors (16
 * float32 or 8 float64 columns) is accumulated in registers over the inner dimension in
 * blocks of 512, the kernel read in panels of 2 vectors; bias and activation are
 * applied to the tile before it is stored. The weight gradient sums over the rows of
 * the batch in blocks of 512, with tiles of 5 window columns x 2 vectors of output
 * channels accumulated onto the weight gradient itself (the gradient packed into
 * panels once, the windows read in place). Work is split over threads
 * (host_threads.h) by rows (forward, input gradient) or by window columns (weight
 * gradient); every output element is summed by one thread in a fixed order, so results
 * are bitwise the same for any thread count.
 *
 * Layouts (C-contiguous). N samples, C input channels, OUT filters, K taps, dilation d,
 * ek = d (K - 1) + 1:
 *   x    (N, Lp, C)    the input, zero-padded along the length already (Lp = L + pads)
 *   w    (K, C, OUT)   the kernel, Keras layout
 *   bias (OUT) or null
 *   y    (N, OL, OUT)  OL = (Lp - ek) / stride + 1
 *   gp   (N, Lg, OUT)  the gradient before the activation, zero-padded: row front + t
 *                      holds output step t, every other row is zero
 * Activation codes: host_math.h (0 linear, 1 relu, 2 sigmoid, 3 hard_sigmoid, 4 tanh);
 * any other code returns -1 and writes nothing. Every function exists for float32
 * (_f32) and float64 (_f64) and returns 0 when done.
 *
 * gs_conv1d_forward(const T* x, const T* w, const T* bias, T* y, n, lp, c, k, stride,
 *                   dil, ol, out, act, threads)
 *   y[n, t] = act(bias + sum_j x[n, t * stride + j * dil] @ w[j]).
 *
 * gs_conv1d_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias,
 *                    T* gw, T* gx, n, lp, c, k, stride, dil, ol, out, front, lg, length,
 *                    pa, act, threads)
 *   gy, y (N, OL, OUT): the output gradient and the forward output (y may be null for
 *   linear); x and w as in the forward pass. Writes
 *   gp[n, front + t] = gy[n, t] * act'(y[n, t]), the other rows of gp zero (gp may be
 *   null when gx is: nothing else reads it);
 *   gbias (or null) = the sum of those rows over n and t;
 *   gw[j, ch, o] = sum over n, t of x[n, t * stride + j * dil, ch] gp[n, front + t, o];
 *   gx (or null; stride 1 only, front = ek - 1) (N, length, C), the gradient of the
 *   unpadded input (pa = the padding before it):
 *   gx[n, s] = sum_i gp[n, s + pa + i * dil] @ w[K - 1 - i]^T, which needs
 *   lg >= length + pa + ek - 1 (the rows past the output are zero).
 */
#include <cstdint>
#include <cstring>
#include <vector>

#include "host_math.h"
#include "host_threads.h"

namespace {

constexpr long long kMR = 5;       // rows of a register tile
constexpr long long kKB = 512;     // inner-dimension block (a packed panel block: 32 KB)
constexpr long long kMC = 140;     // rows per chunk of the forward GEMM (28 tiles)
constexpr long long kMB = 512;     // batch rows per block of the weight-gradient sum
constexpr long long kPB = 128;     // gradient rows per bias partial sum (backward prep)

template <typename T>
struct Lanes {
    typedef T V __attribute__((vector_size(32)));
    static constexpr long long L = 32 / sizeof(T);  // elements per vector
    static constexpr long long NR = 2 * L;          // columns of a register tile
};

// An implicit row-major matrix (M, kdim): row m starts at
// a + (m / per) * s1 + (m % per) * s2 and is `nseg` runs of `seglen` contiguous
// elements at offsets seg[0 .. nseg) from there (kdim = nseg * seglen).
template <typename T>
struct Rows {
    const T* a;
    long long per, s1, s2;
    const long long* seg;
    long long nseg, seglen;

    const T* row(long long m) const { return a + (m / per) * s1 + (m % per) * s2; }
    long long kdim() const { return nseg * seglen; }
};

// The rows of a convolution's implicit matrix: row m at a + (m / per) * s1 + (m % per) * s2,
// its window k runs of `run` elements dil * run apart (one run of k * run for dilation
// 1, which the micro-kernel reads without a break). `seg` holds the run offsets.
template <typename T>
Rows<T> window_rows(const T* a, long long per, long long s1, long long s2, long long k,
                    long long dil, long long run, std::vector<long long>& seg) {
    seg.clear();
    if (dil == 1) {
        seg.push_back(0);
        return Rows<T>{a, per, s1, s2, seg.data(), 1, k * run};
    }
    for (long long j = 0; j < k; ++j) seg.push_back(j * dil * run);
    return Rows<T>{a, per, s1, s2, seg.data(), k, run};
}

// out (M, ncols) = act(bias + A @ B) for rows of A. Column panel p of B (NR columns)
// starts at bp + p * pstride, its row kk at + kk * ldb: B itself (pstride NR, ldb
// ncols) when ncols is a multiple of NR, else panels packed by pack_panels (pstride
// kdim * NR, ldb NR, zero past ncols).
template <typename T>
struct Gemm {
    Rows<T> A;
    const T* bp;
    long long pstride, ldb;
    long long ncols;
    const T* bias;      // (ncols) or null
    T* out;             // (M, ncols)
};

// A per-thread scratch array of at least `size` elements, kept between calls (the
// workers are persistent, so their buffers are reused rather than faulted in anew).
template <typename T>
T* scratch(int slot, long long size) {
    thread_local std::vector<T> buffers[3];
    std::vector<T>& b = buffers[slot];
    if (static_cast<long long>(b.size()) < size) b.resize(static_cast<size_t>(size));
    return b.data();
}

// bp[(p * kdim + kk) * NR + j] = at(kk, p * NR + j), zero for columns >= ncols, with
// the panels split over `threads`.
template <typename T, typename At>
void pack_panels(T* bp, long long kdim, long long ncols, long long threads, const At& at) {
    constexpr long long NR = Lanes<T>::NR;
    const long long npanel = (ncols + NR - 1) / NR;
    gs_host::split_range(npanel, threads, 1, [&](long long p0, long long p1) {
        for (long long p = p0; p < p1; ++p) {
            const long long nc = ncols - p * NR < NR ? ncols - p * NR : NR;
            for (long long kk = 0; kk < kdim; ++kk) {
                T* dst = bp + (p * kdim + kk) * NR;
                for (long long j = 0; j < nc; ++j) dst[j] = at(kk, p * NR + j);
                for (long long j = nc; j < NR; ++j) dst[j] = T(0);
            }
        }
    });
}

// One R x NR tile of rows `rows`, columns [p NR, p NR + nc), inner block [k0, k1):
// starts from zero (first) or from `out`, and stores the sum (or, after the last block,
// act(bias + sum), Act the activation code).
template <typename T, long long Act, int R>
void gemm_tile(const Gemm<T>& g, const T* const* rows, long long p, long long nc,
               long long k0, long long k1, bool first, bool last, T* out) {
    typedef typename Lanes<T>::V V;
    constexpr long long L = Lanes<T>::L, NR = Lanes<T>::NR;
    const long long so = g.ncols;
    V acc[R][2];
    if (first) {
        for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = V{};
    } else {
        for (int r = 0; r < R; ++r) {
            T tmp[NR] = {};
            std::memcpy(tmp, out + r * so, sizeof(T) * nc);
            std::memcpy(&acc[r][0], tmp, sizeof(V));
            std::memcpy(&acc[r][1], tmp + L, sizeof(V));
        }
    }
    const long long kdim = g.A.kdim(), seglen = g.A.seglen;
    const T* __restrict b = g.bp + p * g.pstride + k0 * g.ldb;
    const long long ldb = g.ldb;
    for (long long kk = k0; kk < k1;) {
        const long long s = kk / seglen;
        const long long c0 = kk - s * seglen;
        const long long c1 = (k1 - s * seglen < seglen) ? k1 - s * seglen : seglen;
        const T* a[R];
        for (int r = 0; r < R; ++r) a[r] = rows[r] + g.A.seg[s];
        for (long long c = c0; c < c1; ++c) {
            V b0, b1;
            std::memcpy(&b0, b, sizeof b0);
            std::memcpy(&b1, b + L, sizeof b1);
            b += ldb;
            for (int r = 0; r < R; ++r) {
                const T av = a[r][c];
                acc[r][0] += av * b0;
                acc[r][1] += av * b1;
            }
        }
        kk = s * seglen + c1;
    }
    for (int r = 0; r < R; ++r) {
        T tmp[NR];
        std::memcpy(tmp, &acc[r][0], sizeof(V));
        std::memcpy(tmp + L, &acc[r][1], sizeof(V));
        T* o = out + r * so;
        if (last) {
            const T* bias = g.bias == nullptr ? nullptr : g.bias + p * NR;
            for (long long j = 0; j < nc; ++j)
                o[j] = gs_host::act<Act>(bias == nullptr ? tmp[j] : tmp[j] + bias[j]);
        } else {
            std::memcpy(o, tmp, sizeof(T) * nc);
        }
    }
}

static_assert(kMR == 5, "gemm_tile_rows and dw_tile_rows dispatch tiles of 1..5 rows");

template <typename T, long long Act>
void gemm_tile_rows(int r, const Gemm<T>& g, const T* const* rows, long long p, long long nc,
                    long long k0, long long k1, bool first, bool last, T* out) {
    switch (r) {
        case 5: gemm_tile<T, Act, 5>(g, rows, p, nc, k0, k1, first, last, out); break;
        case 4: gemm_tile<T, Act, 4>(g, rows, p, nc, k0, k1, first, last, out); break;
        case 3: gemm_tile<T, Act, 3>(g, rows, p, nc, k0, k1, first, last, out); break;
        case 2: gemm_tile<T, Act, 2>(g, rows, p, nc, k0, k1, first, last, out); break;
        default: gemm_tile<T, Act, 1>(g, rows, p, nc, k0, k1, first, last, out); break;
    }
}

// Rows [m0, m1) of g.out, in chunks of kMC rows: per inner block, per column panel (its
// block of B stays in L1), the chunk's tiles (their rows stay in L2).
template <typename T, long long Act>
void gemm_rows(const Gemm<T>& g, long long m0, long long m1) {
    constexpr long long NR = Lanes<T>::NR;
    const long long kdim = g.A.kdim();
    const long long npanel = (g.ncols + NR - 1) / NR;
    const T* rows[kMC];
    for (long long mc = m0; mc < m1; mc += kMC) {
        const long long me = mc + kMC < m1 ? mc + kMC : m1;
        for (long long m = mc; m < me; ++m) rows[m - mc] = g.A.row(m);
        for (long long k0 = 0; k0 < kdim || k0 == 0; k0 += kKB) {
            const long long k1 = k0 + kKB < kdim ? k0 + kKB : kdim;
            const bool first = k0 == 0, last = k1 == kdim;
            for (long long p = 0; p < npanel; ++p) {
                const long long nc = g.ncols - p * NR < NR ? g.ncols - p * NR : NR;
                for (long long m = mc; m < me; m += kMR) {
                    const int r = static_cast<int>(me - m < kMR ? me - m : kMR);
                    gemm_tile_rows<T, Act>(r, g, rows + (m - mc), p, nc, k0, k1, first, last,
                                      g.out + m * g.ncols + p * NR);
                }
            }
            if (kdim == 0) break;
        }
    }
}

// One tile of the weight gradient: R window columns (rows of gw) x the NR output
// channels of a panel, summed over `count` batch rows onto gw (first: from zero).
// xr[i] + aoff: row i's R window columns, read in place; gpk (count, NR): their
// gradients of the panel's channels (zero past nc).
template <typename T, int R>
void dw_tile(const T* const* xr, long long aoff, const T* __restrict gpk, long long count,
             T* __restrict out, long long ld, long long nc, bool first) {
    typedef typename Lanes<T>::V V;
    constexpr long long L = Lanes<T>::L, NR = Lanes<T>::NR;
    V acc[R][2];
    for (int r = 0; r < R; ++r) {
        if (first) {
            acc[r][0] = acc[r][1] = V{};
        } else {
            T tmp[NR] = {};
            std::memcpy(tmp, out + r * ld, sizeof(T) * nc);
            std::memcpy(&acc[r][0], tmp, sizeof(V));
            std::memcpy(&acc[r][1], tmp + L, sizeof(V));
        }
    }
    for (long long i = 0; i < count; ++i) {
        V b0, b1;
        std::memcpy(&b0, gpk + i * NR, sizeof b0);
        std::memcpy(&b1, gpk + i * NR + L, sizeof b1);
        const T* __restrict xa = xr[i] + aoff;
        for (int r = 0; r < R; ++r) {
            const T av = xa[r];
            acc[r][0] += av * b0;
            acc[r][1] += av * b1;
        }
    }
    for (int r = 0; r < R; ++r) {
        T tmp[NR];
        std::memcpy(tmp, &acc[r][0], sizeof(V));
        std::memcpy(tmp + L, &acc[r][1], sizeof(V));
        std::memcpy(out + r * ld, tmp, sizeof(T) * nc);
    }
}

template <typename T>
void dw_tile_rows(int r, const T* const* xr, long long aoff, const T* gpk, long long count,
                  T* out, long long ld, long long nc, bool first) {
    switch (r) {
        case 5: dw_tile<T, 5>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 4: dw_tile<T, 4>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 3: dw_tile<T, 3>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 2: dw_tile<T, 2>(xr, aoff, gpk, count, out, ld, nc, first); break;
        default: dw_tile<T, 1>(xr, aoff, gpk, count, out, ld, nc, first); break;
    }
}

template <typename T>
int conv1d_forward(const T* x, const T* w, const T* bias, T* y, long long n, long long lp,
                   long long c, long long k, long long stride, long long dil, long long ol,
                   long long out, long long act, long long threads) {
    if (act < 0 || act > gs_host::kMaxActivationCode) return -1;
    const long long m = n * ol;
    if (m == 0 || out == 0) return 0;
    std::vector<long long> seg;
    const Rows<T> rows = window_rows(x, ol, lp * c, stride * c, k, dil, c, seg);
    const long long kdim = k * c;
    constexpr long long NR = Lanes<T>::NR;
    Gemm<T> g{rows, w, NR, out, out, bias, y};
    if (out % NR != 0) {        // a partial last panel: pack B with zero columns
        T* bp = scratch<T>(0, (out + NR - 1) / NR * NR * kdim);
        pack_panels<T>(bp, kdim, out, threads, [&](long long kk, long long o) {
            return w[kk * out + o];
        });
        g.bp = bp;
        g.pstride = kdim * NR;
        g.ldb = NR;
    }
    gs_host::split_range(m, threads, kMR, [&](long long m0, long long m1) {
        switch (act) {
            case 1: gemm_rows<T, 1>(g, m0, m1); break;
            case 2: gemm_rows<T, 2>(g, m0, m1); break;
            case 3: gemm_rows<T, 3>(g, m0, m1); break;
            case 4: gemm_rows<T, 4>(g, m0, m1); break;
            default: gemm_rows<T, 0>(g, m0, m1); break;
        }
    });
    return 0;
}

// Rows [b0 * kPB, b1 * kPB) of the prep: gp rows (unless gp is null: no input gradient
// will read them), their copy in panels of NR channels (gpk, (npanel, M, NR), zero past
// out) and per-block bias partial sums.
template <typename T, long long Act>
void prep_blocks(const T* gy, const T* y, T* gp, T* gpk, T* partial, long long m,
                 long long ol, long long out, long long front, long long lg, long long b0,
                 long long b1) {
    constexpr long long NR = Lanes<T>::NR;
    const long long npanel = (out + NR - 1) / NR;
    T* row = gp == nullptr ? scratch<T>(1, out) : nullptr;     // a row when gp is null
    for (long long b = b0; b < b1; ++b) {
        const long long r1 = (b + 1) * kPB < m ? (b + 1) * kPB : m;
        T* __restrict ps = partial == nullptr ? nullptr : partial + b * out;
        for (long long r = b * kPB; r < r1; ++r) {
            const T* __restrict g = gy + r * out;
            const T* src = g;                   // this row's gradient of the pre-activation
            if (gp != nullptr || Act != 0) {
                T* __restrict dst = gp == nullptr ? row
                                                  : gp + ((r / ol) * lg + front + r % ol) * out;
                if (Act == 0) {
                    std::memcpy(dst, g, sizeof(T) * out);
                } else {
                    const T* __restrict yr = y + r * out;
                    for (long long o = 0; o < out; ++o)
                        dst[o] = g[o] * gs_host::dact<Act>(yr[o]);
                }
                src = dst;
            }
            if (ps != nullptr)
                for (long long o = 0; o < out; ++o) ps[o] += src[o];
            for (long long p = 0; p < npanel; ++p) {
                const long long nc = out - p * NR < NR ? out - p * NR : NR;
                T* pk = gpk + (p * m + r) * NR;
                std::memcpy(pk, src + p * NR, sizeof(T) * nc);
                for (long long j = nc; j < NR; ++j) pk[j] = T(0);
            }
        }
    }
}

template <typename T>
void conv1d_backward_prep(const T* gy, const T* y, T* gp, T* gpk, T* gbias, long long n,
                          long long ol, long long out, long long front, long long lg,
                          long long act, long long threads) {
    const long long m = n * ol;
    const long long nblk = (m + kPB - 1) / kPB;
    std::vector<T> partial(gbias == nullptr ? 0 : static_cast<size_t>(nblk * out), T(0));
    T* ps = gbias == nullptr ? nullptr : partial.data();
    // rows of gy in blocks of kPB: each block's bias partial sum is summed in row order
    gs_host::split_range(nblk, threads, 1, [&](long long b0, long long b1) {
        switch (act) {
            case 1: prep_blocks<T, 1>(gy, y, gp, gpk, ps, m, ol, out, front, lg, b0, b1); break;
            case 2: prep_blocks<T, 2>(gy, y, gp, gpk, ps, m, ol, out, front, lg, b0, b1); break;
            case 3: prep_blocks<T, 3>(gy, y, gp, gpk, ps, m, ol, out, front, lg, b0, b1); break;
            case 4: prep_blocks<T, 4>(gy, y, gp, gpk, ps, m, ol, out, front, lg, b0, b1); break;
            default: prep_blocks<T, 0>(gy, y, gp, gpk, ps, m, ol, out, front, lg, b0, b1); break;
        }
    });
    // the padding rows of every sample
    for (long long s = 0; gp != nullptr && s < n; ++s) {
        T* base = gp + s * lg * out;
        std::memset(base, 0, sizeof(T) * front * out);
        const long long tail = lg - front - ol;
        if (tail > 0) std::memset(base + (front + ol) * out, 0, sizeof(T) * tail * out);
    }
    if (gbias != nullptr) {
        for (long long o = 0; o < out; ++o) gbias[o] = T(0);
        for (long long b = 0; b < nblk; ++b)
            for (long long o = 0; o < out; ++o) gbias[o] += partial[b * out + o];
    }
}

// gw from the packed gradient gpk (npanel, M, NR) of conv1d_backward_prep.
template <typename T>
void conv1d_backward_kernel(const T* x, const T* gpk, T* gw, long long n, long long lp,
                            long long c, long long k, long long stride, long long dil,
                            long long ol, long long out, long long threads) {
    constexpr long long NR = Lanes<T>::NR;
    const long long m = n * ol, kdim = k * c;
    if (kdim == 0 || out == 0) return;
    if (m == 0) {
        std::memset(gw, 0, sizeof(T) * kdim * out);
        return;
    }
    const long long npanel = (out + NR - 1) / NR;
    // rows of gw in tiles of up to kMR window columns (offset in the window, first
    // row, height): within one run of K*C columns for dilation 1, else of C
    const long long nseg = dil == 1 ? 1 : k, seglen = dil == 1 ? kdim : c;
    struct Tile { long long aoff, kk0, h; };
    std::vector<Tile> tiles;
    for (long long s = 0; s < nseg; ++s)
        for (long long c0 = 0; c0 < seglen; c0 += kMR)
            tiles.push_back({s * dil * c + c0, s * seglen + c0,
                             seglen - c0 < kMR ? seglen - c0 : kMR});
    const long long ntile = static_cast<long long>(tiles.size());
    gs_host::split_range(ntile, threads, 1, [&](long long t0, long long t1) {
        const T* xr[kMB];                       // the block's input rows
        for (long long mb = 0; mb < m; mb += kMB) {
            const long long count = mb + kMB < m ? kMB : m - mb;
            for (long long i = 0; i < count; ++i) {
                const long long r = mb + i;
                xr[i] = x + ((r / ol) * lp + (r % ol) * stride) * c;
            }
            for (long long ti = t0; ti < t1; ++ti) {
                const Tile& tl = tiles[ti];
                for (long long p = 0; p < npanel; ++p) {
                    const long long nc = out - p * NR < NR ? out - p * NR : NR;
                    dw_tile_rows<T>(static_cast<int>(tl.h), xr, tl.aoff,
                                    gpk + (p * m + mb) * NR, count,
                                    gw + tl.kk0 * out + p * NR, out, nc, mb == 0);
                }
            }
        }
    });
}

template <typename T>
void conv1d_backward_input(const T* gp, const T* w, T* gx, long long n, long long length,
                           long long c, long long k, long long dil, long long out,
                           long long lg, long long pa, long long threads) {
    const long long m = n * length;
    if (m == 0 || c == 0) return;
    std::vector<long long> seg;
    const Rows<T> rows = window_rows(gp + pa * out, length, lg * out, out, k, dil, out, seg);
    // B (K*OUT, C): row i*OUT + o is w[K-1-i, :, o]
    constexpr long long NR = Lanes<T>::NR;
    const long long kdim = k * out;
    T* bp = scratch<T>(0, (c + NR - 1) / NR * NR * kdim);
    pack_panels<T>(bp, kdim, c, threads, [&](long long kk, long long ch) {
        const long long i = kk / out, o = kk % out;
        return w[((k - 1 - i) * c + ch) * out + o];
    });
    const Gemm<T> g{rows, bp, kdim * NR, NR, c, nullptr, gx};
    gs_host::split_range(m, threads, kMR, [&](long long m0, long long m1) {
        gemm_rows<T, 0>(g, m0, m1);
    });
}

template <typename T>
int conv1d_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias, T* gw,
                    T* gx, long long n, long long lp, long long c, long long k,
                    long long stride, long long dil, long long ol, long long out,
                    long long front, long long lg, long long length, long long pa,
                    long long act, long long threads) {
    if (act < 0 || act > gs_host::kMaxActivationCode || (act != 0 && y == nullptr) ||
        (gx != nullptr && gp == nullptr))
        return -1;
    constexpr long long NR = Lanes<T>::NR;
    T* gpk = scratch<T>(2, (out + NR - 1) / NR * n * ol * NR);
    conv1d_backward_prep<T>(gy, y, gp, gpk, gbias, n, ol, out, front, lg, act, threads);
    conv1d_backward_kernel<T>(x, gpk, gw, n, lp, c, k, stride, dil, ol, out, threads);
    if (gx != nullptr)
        conv1d_backward_input<T>(gp, w, gx, n, length, c, k, dil, out, lg, pa, threads);
    return 0;
}

}  // namespace

extern "C" {

#define GS_CONV1D_ENTRIES(T, SUFFIX)                                                         \
    int gs_conv1d_forward##SUFFIX(const T* x, const T* w, const T* bias, T* y, long long n, \
                                  long long lp, long long c, long long k, long long stride,  \
                                  long long dil, long long ol, long long out, long long act, \
                                  long long threads) {                                       \
        return conv1d_forward<T>(x, w, bias, y, n, lp, c, k, stride, dil, ol, out, act,     \
                                 threads);                                                   \
    }                                                                                        \
    int gs_conv1d_backward##SUFFIX(const T* gy, const T* y, const T* x, const T* w, T* gp,  \
                                   T* gbias, T* gw, T* gx, long long n, long long lp,       \
                                   long long c, long long k, long long stride, long long dil,\
                                   long long ol, long long out, long long front,            \
                                   long long lg, long long length, long long pa,            \
                                   long long act, long long threads) {                      \
        return conv1d_backward<T>(gy, y, x, w, gp, gbias, gw, gx, n, lp, c, k, stride, dil, \
                                  ol, out, front, lg, length, pa, act, threads);            \
    }

GS_CONV1D_ENTRIES(float, _f32)
GS_CONV1D_ENTRIES(double, _f64)

#undef GS_CONV1D_ENTRIES

}  // extern "C"
