/* The backward pass of the host implicit-GEMM convolution (conv1d.cpp, conv2d.cpp).
 *
 * NumPy reference: gpuseq/backend/numpy_ops/conv.py (_conv_nhwc_backward and
 * _conv1d_nlc_backward: im2col columns, NumPy's BLAS), which runs when the host
 * libraries are not available. Layouts and the forward GEMM: implicit_gemm.h.
 *
 * From the output gradient gy and the forward output y:
 *   gp     (N, Hg, Wg, OUT)  gy * act'(y), zero-padded for the input gradient's windows
 *   gbias  (OUT)             the sum of those rows, in blocks of kPB rows summed in order
 *   gw     (KH*KW*C, OUT)    sum over the rows m of window(m)^T (gy * act'(y))[m]
 *   gx     (N, H, W, C)      stride 1: the forward GEMM over gp's windows with the kernel
 *                            flipped and its channels swapped
 *
 * The weight gradient is summed over blocks of kMB rows, the blocks taken in groups of
 * `per` consecutive ones (at most kGroups groups, their partial sums at most
 * kPartialBytes; the geometry alone decides): each group is summed from zero, block
 * after block, rows in order, and the groups are added in order. That arithmetic is the
 * same however the work is split, so results are bitwise the same for any thread count.
 * Two splits:
 *   - by groups (at least as many groups as threads): a thread takes whole groups, and
 *     for each block prepares its gradient rows (act', gp rows, bias partial sums, the
 *     rows copied into panels of NR channels) into a buffer of its own that stays in
 *     cache while the weight-gradient tiles read it;
 *   - by tiles (fewer groups: small convolutions): all rows are prepared first, into
 *     panels (npanel, M, NR), then the threads share the tiles of gw.
 * Then the groups' sums are added into gw, gp's border is zeroed and, for a stride of
 * 1, the input gradient is one more GEMM.
 */
#pragma once

#include <cstring>
#include <vector>

#include "implicit_gemm.h"

namespace gs_igemm {

constexpr long long kGroups = 32;  // at most this many partial sums of the weight gradient
constexpr long long kPartialBytes = 32LL << 20;   // and at most this much memory for them

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
        case 6: dw_tile<T, 6>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 5: dw_tile<T, 5>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 4: dw_tile<T, 4>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 3: dw_tile<T, 3>(xr, aoff, gpk, count, out, ld, nc, first); break;
        case 2: dw_tile<T, 2>(xr, aoff, gpk, count, out, ld, nc, first); break;
        default: dw_tile<T, 1>(xr, aoff, gpk, count, out, ld, nc, first); break;
    }
}

// Where output row r's gradient goes in gp (N, hg, wg, OUT).
inline long long gp_row(const Geom& G, const GradPad& P, long long r) {
    const long long per = G.oh * G.ow;
    const long long s = r / per, q = r - s * per;
    const long long oy = q / G.ow, ox = q - oy * G.ow;
    return (s * P.hg + P.fh + oy) * P.wg + P.fw + ox;
}

// How the weight gradient's sum over M rows is cut: blocks of kMB rows, `per` blocks to a
// group, `ngroup` groups (see the header comment): at most kGroups, and no more than
// kPartialBytes of partial sums for a weight gradient of `wbytes` bytes. Only the
// geometry decides it, never the thread count.
struct SumPlan {
    long long m, nblk, per, ngroup;

    SumPlan(long long rows, long long wbytes) : m(rows), nblk((rows + kMB - 1) / kMB) {
        long long most = 1 + kPartialBytes / (wbytes > 0 ? wbytes : 1);
        if (most > kGroups) most = kGroups;
        per = (nblk + most - 1) / most;
        if (per < 1) per = 1;
        ngroup = (nblk + per - 1) / per;
    }
    long long block_end(long long b) const { return (b + 1) * kMB < m ? (b + 1) * kMB : m; }
    long long group_end(long long g) const { return (g + 1) * per < nblk ? (g + 1) * per : nblk; }
};

// The weight gradient's tiles: up to kMR window columns (rows of gw) within one run of
// the window, as (offset in the window, first row of gw, height).
struct DwTile { long long aoff, kk0, h; };

template <typename T>
std::vector<DwTile> dw_tiles(const Rows<T>& rows) {
    std::vector<DwTile> tiles;
    for (long long s = 0; s < rows.nseg; ++s)
        for (long long c0 = 0; c0 < rows.seglen; c0 += kMR)
            tiles.push_back({rows.seg[s] + c0, s * rows.seglen + c0,
                             rows.seglen - c0 < kMR ? rows.seglen - c0 : kMR});
    return tiles;
}

// Gradient rows [r0, r1): gy * act'(y) written to gp (when not null), added to the bias
// partial sums (partial: one row of OUT per kPB rows, or null) and copied into panels of
// NR channels at pk (panel p, row r at pk + p * pstride + (r - r0) * NR; zero past OUT).
template <typename T, long long Act>
void prep_rows(const T* gy, const T* y, T* gp, T* pk, long long pstride, T* partial,
               const Geom& G, const GradPad& P, long long r0, long long r1) {
    constexpr long long NR = Lanes<T>::NR;
    const long long out = G.out, npanel = (out + NR - 1) / NR;
    T* row = gp == nullptr ? scratch<T>(1, out) : nullptr;     // a row when gp is null
    for (long long r = r0; r < r1; ++r) {
        const T* __restrict g = gy + r * out;
        const T* src = g;                   // this row's gradient of the pre-activation
        if (gp != nullptr || Act != 0) {
            T* __restrict dst = gp == nullptr ? row : gp + gp_row(G, P, r) * out;
            if (Act == 0) {
                std::memcpy(dst, g, sizeof(T) * out);
            } else {
                const T* __restrict yr = y + r * out;
                for (long long o = 0; o < out; ++o) dst[o] = g[o] * gs_host::dact<Act>(yr[o]);
            }
            src = dst;
        }
        if (partial != nullptr) {
            T* __restrict ps = partial + (r / kPB) * out;
            for (long long o = 0; o < out; ++o) ps[o] += src[o];
        }
        for (long long p = 0; p < npanel; ++p) {
            const long long nc = out - p * NR < NR ? out - p * NR : NR;
            T* dst = pk + p * pstride + (r - r0) * NR;
            std::memcpy(dst, src + p * NR, sizeof(T) * nc);
            for (long long j = nc; j < NR; ++j) dst[j] = T(0);
        }
    }
}

template <typename T>
void prep_rows_act(long long act, const T* gy, const T* y, T* gp, T* pk, long long pstride,
                   T* partial, const Geom& G, const GradPad& P, long long r0, long long r1) {
    switch (act) {
        case 1: prep_rows<T, 1>(gy, y, gp, pk, pstride, partial, G, P, r0, r1); break;
        case 2: prep_rows<T, 2>(gy, y, gp, pk, pstride, partial, G, P, r0, r1); break;
        case 3: prep_rows<T, 3>(gy, y, gp, pk, pstride, partial, G, P, r0, r1); break;
        case 4: prep_rows<T, 4>(gy, y, gp, pk, pstride, partial, G, P, r0, r1); break;
        default: prep_rows<T, 0>(gy, y, gp, pk, pstride, partial, G, P, r0, r1); break;
    }
}

// What both splits share: the geometry, the window rows, the tiles and where each
// group's sum goes (group 0 into gw itself, the others into `partials`).
template <typename T>
struct DwJob {
    const Geom& G;
    const GradPad& P;
    const T* gy;
    const T* y;
    T* gp;
    T* bias_partial;
    long long act;
    Rows<T> rows;
    std::vector<DwTile> tiles;
    SumPlan plan;
    T* gw;
    T* partials;        // (ngroup - 1, KH*KW*C, OUT)

    T* group_sum(long long g) const {
        return g == 0 ? gw : partials + (g - 1) * G.kdim() * G.out;
    }

    // The tiles [t0, t1) of one block of rows (window rows xr, gradient panels at pk:
    // panel p, row i at pk + p * pstride + i * NR) added to group g's sum.
    void block_tiles(const T* const* xr, const T* pk, long long pstride, long long count,
                     long long g, bool first, long long t0, long long t1) const {
        constexpr long long NR = Lanes<T>::NR;
        const long long out = G.out, npanel = (out + NR - 1) / NR;
        T* sum = group_sum(g);
        for (long long ti = t0; ti < t1; ++ti) {
            const DwTile& tl = tiles[ti];
            for (long long p = 0; p < npanel; ++p) {
                const long long nc = out - p * NR < NR ? out - p * NR : NR;
                dw_tile_rows<T>(static_cast<int>(tl.h), xr, tl.aoff, pk + p * pstride, count,
                                sum + tl.kk0 * out + p * NR, out, nc, first);
            }
        }
    }
};

// Split by groups: each thread prepares and sums the blocks of its groups.
template <typename T>
void dw_by_groups(const DwJob<T>& job, long long threads) {
    constexpr long long NR = Lanes<T>::NR;
    const SumPlan& plan = job.plan;
    const long long npanel = (job.G.out + NR - 1) / NR;
    const long long ntile = static_cast<long long>(job.tiles.size());
    gs_host::split_range(plan.ngroup, threads, 1, [&](long long g0, long long g1) {
        T* pk = scratch<T>(2, npanel * kMB * NR);      // one block's panels (in cache)
        const T* xr[kMB];
        for (long long g = g0; g < g1; ++g) {
            for (long long b = g * plan.per; b < plan.group_end(g); ++b) {
                const long long r0 = b * kMB, r1 = plan.block_end(b);
                prep_rows_act<T>(job.act, job.gy, job.y, job.gp, pk, kMB * NR,
                                 job.bias_partial, job.G, job.P, r0, r1);
                for (long long r = r0; r < r1; ++r) xr[r - r0] = job.rows.row(r);
                job.block_tiles(xr, pk, kMB * NR, r1 - r0, g, b == g * plan.per, 0, ntile);
            }
        }
    });
}

// Split by tiles: every row prepared first (in parallel), then the threads share the
// tiles of every block.
template <typename T>
void dw_by_tiles(const DwJob<T>& job, long long threads) {
    constexpr long long NR = Lanes<T>::NR;
    const SumPlan& plan = job.plan;
    const long long m = plan.m, npanel = (job.G.out + NR - 1) / NR;
    T* pk = scratch<T>(2, npanel * m * NR);              // (npanel, M, NR)
    const long long nprep = (m + kPB - 1) / kPB;
    gs_host::split_range(nprep, threads, 1, [&](long long b0, long long b1) {
        const long long r1 = b1 * kPB < m ? b1 * kPB : m;
        prep_rows_act<T>(job.act, job.gy, job.y, job.gp, pk + b0 * kPB * NR, m * NR,
                         job.bias_partial, job.G, job.P, b0 * kPB, r1);
    });
    const long long ntile = static_cast<long long>(job.tiles.size());
    gs_host::split_range(ntile, threads, 1, [&](long long t0, long long t1) {
        const T* xr[kMB];
        for (long long b = 0; b < plan.nblk; ++b) {
            const long long r0 = b * kMB, r1 = plan.block_end(b);
            for (long long r = r0; r < r1; ++r) xr[r - r0] = job.rows.row(r);
            const long long g = b / plan.per;
            job.block_tiles(xr, pk + r0 * NR, m * NR, r1 - r0, g, b == g * plan.per, t0, t1);
        }
    });
}

// gw += the other groups' sums, in group order (elements split over the threads).
template <typename T>
void add_group_sums(const DwJob<T>& job, long long threads) {
    const long long size = job.G.kdim() * job.G.out;
    gs_host::split_range(size, threads, 64, [&](long long e0, long long e1) {
        for (long long g = 1; g < job.plan.ngroup; ++g) {
            const T* __restrict src = job.group_sum(g);
            T* __restrict dst = job.gw;
            for (long long e = e0; e < e1; ++e) dst[e] += src[e];
        }
    });
}

// Zero every element of gp outside the outputs' (fh.., fw..) block, sample rows split
// over `threads`.
template <typename T>
void zero_gp_border(T* gp, const Geom& G, const GradPad& P, long long threads) {
    const long long out = G.out, line = P.wg * out;
    gs_host::split_range(G.n * P.hg, threads, 1, [&](long long r0, long long r1) {
        for (long long r = r0; r < r1; ++r) {
            T* base = gp + r * line;
            const long long yy = r % P.hg;
            if (yy < P.fh || yy >= P.fh + G.oh) {
                std::memset(base, 0, sizeof(T) * line);
                continue;
            }
            std::memset(base, 0, sizeof(T) * P.fw * out);
            const long long tail = P.wg - P.fw - G.ow;
            if (tail > 0) std::memset(base + (P.fw + G.ow) * out, 0, sizeof(T) * tail * out);
        }
    });
}

// gp (or null), gbias (or null) and gw from gy and y (see the header comment).
template <typename T>
void backward_weights(const T* gy, const T* y, const T* x, T* gp, T* gbias, T* gw,
                      const Geom& G, const GradPad& P, long long act, long long threads) {
    const long long m = G.rows(), kdim = G.kdim(), out = G.out;
    const long long nbias = (m + kPB - 1) / kPB;
    std::vector<T> bias_partial(gbias == nullptr ? 0 : static_cast<size_t>(nbias * out), T(0));
    std::vector<long long> seg;
    const SumPlan plan(m, kdim * out * static_cast<long long>(sizeof(T)));
    DwJob<T> job{G, P, gy, y, gp, gbias == nullptr ? nullptr : bias_partial.data(), act,
                 window_rows(x, G.hp, G.wp, G.c, G.oh, G.ow, G.sh, G.sw, G.kh, G.kw, G.dh,
                             G.dw, seg),
                 {}, plan, gw, scratch<T>(3, (plan.ngroup - 1) * kdim * out)};
    job.tiles = dw_tiles(job.rows);
    if (kdim == 0 || out == 0) {
        job.tiles.clear();                  // nothing to sum: the prep alone
    }
    if (m == 0) {
        std::memset(gw, 0, sizeof(T) * kdim * out);
    } else if (plan.ngroup >= threads) {
        dw_by_groups<T>(job, threads);
    } else {
        dw_by_tiles<T>(job, threads);
    }
    if (plan.ngroup > 1 && kdim * out > 0) add_group_sums<T>(job, threads);
    if (gp != nullptr) zero_gp_border<T>(gp, G, P, threads);
    if (gbias != nullptr) {
        for (long long o = 0; o < out; ++o) gbias[o] = T(0);
        for (long long b = 0; b < nbias; ++b)
            for (long long o = 0; o < out; ++o) gbias[o] += bias_partial[b * out + o];
    }
}

// gx (N, h, w, C), the gradient of the unpadded input of a stride-1 convolution, from gp
// (pads (pt, pl) before the input; P.fh = ekh - 1, P.fw = ekw - 1, and gp reaches row
// h + pt + ekh - 1 and column w + pl + ekw - 1): the forward GEMM over gp's windows with
// the kernel flipped and its channels swapped.
template <typename T>
void backward_input(const T* gp, const T* w, T* gx, const Geom& G, const GradPad& P,
                    long long h, long long wd, long long pt, long long pl, long long threads) {
    const long long m = G.n * h * wd, c = G.c, out = G.out, kh = G.kh, kw = G.kw;
    if (m == 0 || c == 0) return;
    std::vector<long long> seg;
    const Rows<T> rows = window_rows(gp + (pt * P.wg + pl) * out, P.hg, P.wg, out, h, wd,
                                     1, 1, kh, kw, G.dh, G.dw, seg);
    // B (KH*KW*OUT, C): row (iy, ix, o) is w[KH-1-iy, KW-1-ix, :, o]
    constexpr long long NR = Lanes<T>::NR;
    const long long kdim = kh * kw * out;
    T* bp = scratch<T>(0, (c + NR - 1) / NR * NR * kdim);
    pack_panels<T>(bp, kdim, c, threads, [&](long long kk, long long ch) {
        const long long tap = kk / out, o = kk % out;
        const long long iy = tap / kw, ix = tap % kw;
        return w[(((kh - 1 - iy) * kw + (kw - 1 - ix)) * c + ch) * out + o];
    });
    const Gemm<T> g{rows, bp, kdim * NR, NR, c, nullptr, gx};
    gemm_act<T>(g, m, 0, threads);
}

// The whole backward pass: see conv2d.cpp's contract for the arguments.
template <typename T>
int conv_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias, T* gw,
                  T* gx, const Geom& G, const GradPad& P, long long h, long long wd,
                  long long pt, long long pl, long long act, long long threads) {
    if (act < 0 || act > gs_host::kMaxActivationCode || (act != 0 && y == nullptr) ||
        (gx != nullptr && (gp == nullptr || G.sh != 1 || G.sw != 1)))
        return -1;
    backward_weights<T>(gy, y, x, gp, gbias, gw, G, P, act, threads);
    if (gx != nullptr) backward_input<T>(gp, w, gx, G, P, h, wd, pt, pl, threads);
    return 0;
}

}  // namespace gs_igemm
