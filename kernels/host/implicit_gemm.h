/* The implicit-GEMM convolution of the host kernels, shared by conv1d.cpp and conv2d.cpp.
 *
 * NumPy reference: gpuseq/backend/numpy_ops/conv.py (im2col copies, NumPy's BLAS, then
 * bias and activation passes), which runs when the host libraries are not available.
 *
 * One geometry serves both: a 1-D convolution is a 2-D one of height 1. Channels last
 * throughout; every array C-contiguous.
 *
 *   x    (N, Hp, Wp, C)    the input, zero-padded already
 *   w    (KH, KW, C, OUT)  the kernel, Keras layout (the GEMM's B, (KH*KW*C, OUT))
 *   y    (N, OH, OW, OUT)  OH = (Hp - ekh) / sh + 1, ekh = dh (KH - 1) + 1 (and for W)
 *   gp   (N, Hg, Wg, OUT)  the gradient before the activation, zero-padded: element
 *                          (fh + oy, fw + ox) holds output (oy, ox), all others zero
 *
 * No column matrix is built. The window of output (n, oy, ox) is KH runs of KW*C
 * contiguous elements of x (KH*KW runs of C when dw > 1), so the GEMM micro-kernel reads
 * its rows where they lie. A tile of 6 rows x 2 vectors (16 float32 or 8 float64
 * columns: AVX2 registers, or the 256-bit half of AVX-512 ones that -march=native
 * prefers) is accumulated in registers over the inner dimension in blocks of 512, the
 * kernel read in panels of 2 vectors; bias and activation are applied to the tile
 * (in vector registers when it is full) before it is stored. Work is split over
 * threads (host_threads.h) by rows; every output element is summed by one thread in a
 * fixed order, so results are bitwise the same for any thread count. The backward
 * pass (weight, bias and input gradients) is implicit_gemm_backward.h.
 *
 * Activation codes: host_math.h (0 linear, 1 relu, 2 sigmoid, 3 hard_sigmoid, 4 tanh).
 */
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "host_math.h"
#include "host_threads.h"

namespace gs_igemm {

constexpr long long kMR = 6;       // rows of a register tile
constexpr long long kKB = 512;     // inner-dimension block (a packed panel block: 32 KB)
constexpr long long kMC = 144;     // rows per chunk of the forward GEMM (24 tiles)
constexpr long long kMB = 512;     // batch rows per block of the weight-gradient sum
constexpr long long kPB = 128;     // gradient rows per bias partial sum (backward prep)

template <typename T>
struct Lanes {
    typedef T V __attribute__((vector_size(32)));
    static constexpr long long L = 32 / sizeof(T);  // elements per vector
    static constexpr long long NR = 2 * L;          // columns of a register tile
};

// The geometry of a convolution (see the header comment for the layouts).
struct Geom {
    long long n, hp, wp, c;         // padded input
    long long kh, kw, sh, sw, dh, dw;
    long long oh, ow, out;          // output
    long long rows() const { return n * oh * ow; }
    long long kdim() const { return kh * kw * c; }
};

// The padded gradient gp of the backward pass: (N, hg, wg, OUT), output (oy, ox) at
// (fh + oy, fw + ox).
struct GradPad {
    long long fh, fw, hg, wg;
};

// An implicit row-major matrix (M, kdim): with q = m / per, r = m % per, row m starts at
// a + q * s1 + (r / per2) * s2 + (r % per2) * s3 and is `nseg` runs of `seglen`
// contiguous elements at offsets seg[0 .. nseg) from there (kdim = nseg * seglen).
template <typename T>
struct Rows {
    const T* a;
    long long per, s1, per2, s2, s3;
    const long long* seg;
    long long nseg, seglen;

    const T* row(long long m) const {
        const long long q = m / per, r = m - q * per;
        return a + q * s1 + (r / per2) * s2 + (r % per2) * s3;
    }
    long long kdim() const { return nseg * seglen; }
};

// The window rows of an image a (N, H, W, run) for outputs (N, oh, ow) at strides
// (sh, sw) with a (kh, kw) window dilated by (dh, dw): kh runs of kw * run elements (dw
// = 1), else kh * kw runs of `run`. `seg` holds the run offsets.
template <typename T>
Rows<T> window_rows(const T* a, long long h, long long w, long long run, long long oh,
                    long long ow, long long sh, long long sw, long long kh, long long kw,
                    long long dh, long long dw, std::vector<long long>& seg) {
    seg.clear();
    const long long line = w * run;                 // one image row
    Rows<T> r{a, oh * ow, h * line, ow, sh * line, sw * run, nullptr, 0, 0};
    if (dw == 1) {
        for (long long ky = 0; ky < kh; ++ky) seg.push_back(ky * dh * line);
        r.seglen = kw * run;
    } else {
        for (long long ky = 0; ky < kh; ++ky)
            for (long long kx = 0; kx < kw; ++kx) seg.push_back(ky * dh * line + kx * dw * run);
        r.seglen = run;
    }
    r.seg = seg.data();
    r.nseg = static_cast<long long>(seg.size());
    return r;
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
    thread_local std::vector<T> buffers[4];
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

// acc (R rows of 2 vectors) stored at out (row stride so), the first nc columns; after
// the last inner block (last) as act(bias + acc), bias null for none. A full tile (nc =
// NR) is finished in vector registers; a partial one element by element.
template <typename T, long long Act, int R>
inline void store_tile(typename Lanes<T>::V (&acc)[R][2], bool last, const T* bias,
                       long long nc, T* out, long long so) {
    typedef typename Lanes<T>::V V;
    constexpr long long L = Lanes<T>::L, NR = Lanes<T>::NR;
    if (nc == NR) {
        V b0 = V{}, b1 = V{};
        if (last && bias != nullptr) {
            std::memcpy(&b0, bias, sizeof b0);
            std::memcpy(&b1, bias + L, sizeof b1);
        }
        for (int r = 0; r < R; ++r) {
            V v[2] = {acc[r][0], acc[r][1]};
            if (last) {
                v[0] += b0;
                v[1] += b1;
                gs_host::act_vec<Act>(v[0]);
                gs_host::act_vec<Act>(v[1]);
            }
            std::memcpy(out + r * so, &v[0], sizeof(V));
            std::memcpy(out + r * so + L, &v[1], sizeof(V));
        }
        return;
    }
    for (int r = 0; r < R; ++r) {
        T tmp[NR];
        std::memcpy(tmp, &acc[r][0], sizeof(V));
        std::memcpy(tmp + L, &acc[r][1], sizeof(V));
        T* o = out + r * so;
        if (last) {
            for (long long j = 0; j < nc; ++j)
                o[j] = gs_host::act<Act>(bias == nullptr ? tmp[j] : tmp[j] + bias[j]);
        } else {
            std::memcpy(o, tmp, sizeof(T) * nc);
        }
    }
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
    const long long seglen = g.A.seglen;
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
    store_tile<T, Act, R>(acc, last, g.bias == nullptr ? nullptr : g.bias + p * NR, nc, out,
                          so);
}

static_assert(kMR == 6, "gemm_tile_rows and dw_tile_rows dispatch tiles of 1..6 rows");
static_assert(kMB % kPB == 0, "a block of the weight gradient holds whole bias blocks");

template <typename T, long long Act>
void gemm_tile_rows(int r, const Gemm<T>& g, const T* const* rows, long long p, long long nc,
                    long long k0, long long k1, bool first, bool last, T* out) {
    switch (r) {
        case 6: gemm_tile<T, Act, 6>(g, rows, p, nc, k0, k1, first, last, out); break;
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

// g.out = act(g.bias + A @ B) over all M rows, split over `threads` by rows.
template <typename T>
void gemm_act(const Gemm<T>& g, long long m, long long act, long long threads) {
    gs_host::split_range(m, threads, kMR, [&](long long m0, long long m1) {
        switch (act) {
            case 1: gemm_rows<T, 1>(g, m0, m1); break;
            case 2: gemm_rows<T, 2>(g, m0, m1); break;
            case 3: gemm_rows<T, 3>(g, m0, m1); break;
            case 4: gemm_rows<T, 4>(g, m0, m1); break;
            default: gemm_rows<T, 0>(g, m0, m1); break;
        }
    });
}

// y = act(bias + conv(x, w)); returns -1 (writing nothing) for an unknown activation.
template <typename T>
int conv_forward(const T* x, const T* w, const T* bias, T* y, const Geom& G, long long act,
                 long long threads) {
    if (act < 0 || act > gs_host::kMaxActivationCode) return -1;
    const long long m = G.rows(), out = G.out;
    if (m == 0 || out == 0) return 0;
    std::vector<long long> seg;
    const Rows<T> rows = window_rows(x, G.hp, G.wp, G.c, G.oh, G.ow, G.sh, G.sw, G.kh, G.kw,
                                     G.dh, G.dw, seg);
    const long long kdim = G.kdim();
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
    gemm_act<T>(g, m, act, threads);
    return 0;
}

}  // namespace gs_igemm
