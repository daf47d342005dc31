/* Implicit-GEMM 2-D convolution, channels last, on the TF32 tensor cores: the
 * im2col GEMMs of kernels/conv.cu without the column matrix. Each block gathers its
 * tile of the (virtual) column matrix straight from the image into shared memory.
 *
 * @kernels: conv_igemm_forward<float, 32|64, false|true>
 * @kernels: conv_igemm_input_grad<float, 32|64, false|true>
 * @kernels: conv_igemm_kernel_grad<float, 32|64, false|true>
 * @kernels: conv_igemm_forward<double, 32|64, false>
 * @kernels: conv_igemm_input_grad<double, 32|64, false>
 * @kernels: conv_igemm_kernel_grad<double, 32|64, false>
 *
 * Three entry points, each a thin template <typename T, long long BN, bool PRECISE>
 * over one body in namespace gs::igemm (forward, input_grad, kernel_grad, all built
 * on gemm_tile); the launcher (gpuseq/backend/cupy_ops/conv.py) picks an instance by
 * its name expression, e.g. conv_igemm_forward<float, 64, true>. T is the element
 * type. float multiplies on the
 * tensor cores (kernels/tensor_core.cuh; compute capability 8.0 or newer); double
 * runs the same tiles with fused multiply-adds, exact to float64 (no tensor cores).
 * Geometry as in kernels/conv.cu (x is (n, h, w, c); kernel (kh, kw, c, cout);
 * output (n, oh, ow, cout); iy = oy * sh - pt + ky * dh, ix = ox * sw - pl + kx * dw;
 * positions outside the image read as 0). The column matrix they stand for is
 *   col[(b, oy, ox), (ky, kx, ch)] = x[b, iy, ix, ch]     (n*oh*ow, kh*kw*c)
 * Flags (long long, 0 or 1):
 *   vec_a, vec_b  read the gathered operand / the matrix operand four elements at a
 *                 time; only when its channel count (row length) is a multiple of 4
 *                 and its array is aligned to 4 elements.
 * PRECISE picks the precision for float: false multiplies plain TF32 (10-bit
 * mantissa operands, float32 sums); true (3xTF32) splits each operand into a TF32
 * value and a TF32 remainder and sums three products (the two small cross terms
 * first), about float32's accuracy. double ignores it and is instantiated with
 * false only. Separate instances, so that the TF32 one does not hold the registers
 * of the split. BN (32 or 64) is the width of a block's tile (below).
 *
 * conv_igemm_forward(const T* x, const T* wmat, const T* bias, T* pre, T* y, n, h, w,
 *                    c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout, vec_a, vec_b,
 *                    has_bias, kind, store_pre)
 *   z = col @ wmat, with the bias and activation applied as the tile is stored:
 *   pre = z + bias (z when has_bias is 0; bias then unread), y = act(pre) with the
 *   activation code `kind` of kernels/activation_math.cuh; pre is written only when
 *   store_pre != 0 (otherwise it may be y). wmat is the kernel as (kh*kw*c, cout);
 *   pre, y (n*oh*ow, cout). grid = (ceil(n*oh*ow / 128), ceil(cout / BN), 1).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_forward (channels_last)
 *
 * conv_igemm_input_grad(const T* gz, const T* wt, T* gx, n, ..., cout, vec_a, vec_b)
 *   gx = col2im(gz @ wmat^T) as one GEMM over the input pixels: gx[(b, iy, ix), ch] =
 *   sum over (ky, kx, co) of gz[b, oy, ox, co] * wt[(ky, kx, co), ch], where
 *   oy = (iy + pt - ky * dh) / sh when that divides exactly and lies in [0, oh) (the
 *   same for x). wt is the kernel as (kh, kw, cout, c), i.e. (kh*kw*cout, c);
 *   gx (n, h, w, c) is fully written. grid = (ceil(n*h*w / 128), ceil(c / BN), 1).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_backward (channels_last, gx)
 *
 * conv_igemm_kernel_grad(const T* x, const T* gz, T* partial, n, ..., cout,
 *                        rows_per_split, vec_a, vec_b)
 *   partial[s] = col[rows of split s]^T @ gz[rows of split s], the rows (output pixels)
 *   of split s being [s * rows_per_split, min((s + 1) * rows_per_split, n*oh*ow)).
 *   partial (splits, kh*kw*c, cout); the caller sums it over the splits (a fixed
 *   order: deterministic). rows_per_split is a positive multiple of 16.
 *   grid = (ceil(kh*kw*c / 128), ceil(cout / BN), splits).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_backward (channels_last, gw)
 *
 * Tiles: a block of 128 threads (4 warps, 2 x 2) computes a 128 x BN tile of its
 * GEMM (BN = 32 or 64, a template argument), each warp 64 x BN/2 as 4 x BN/16
 * m16n8k8 products per 8 of the reduction. The reduction runs in stages of 16, kept
 * in shared memory in a ring of three stages for float (one for double): the
 * threads start the asynchronous copies (kernels/async_copy.cuh, cp.async) of stage
 * i + 2 straight from the image and the matrix, zero-filled outside them, while the
 * warps multiply stage i, so no operand passes through registers on its way in. The
 * shared layouts let both the copies of 8 threads and the fragment reads of a warp
 * hit 32 different banks (float): operand rows padded by 8 elements, or (the forward and
 * input-gradient gathers) rows of four 4-element chunks stored in an XOR-swizzled
 * order. After the reduction the tile passes through the ring's shared memory, so
 * that each thread stores four consecutive columns of a row (one 16-byte store where
 * the row length and the array allow) and a warp writes whole rows. Index arithmetic
 * is 64-bit; the gathers step their positions without divisions.
 * Launch: block = (128, 1, 1) (checked: __trap otherwise).
 */
#include "gpuseq_common.cuh"
#include "activation_math.cuh"
#include "async_copy.cuh"
#include "tensor_core.cuh"

namespace gs {
namespace igemm {

constexpr long long BM = 128;      // rows of a block tile, = threads of a block
constexpr long long BK = 16;       // reduction depth of one shared-memory stage
constexpr long long PAD = 8;       // padding of the shared rows (bank spread)

// Four consecutive elements (one 16-byte chunk of float, two of double) from global
// memory into a stage; valid false fills them with zeros (src is then only an
// in-bounds address, not read).
__device__ __forceinline__ void copy_quad(float* dst, const float* src, bool valid) {
    cp_async<16>(dst, src, valid);
}

__device__ __forceinline__ void copy_quad(double* dst, const double* src, bool valid) {
    cp_async<16>(dst, src, valid);
    cp_async<16>(dst + 2, src + 2, valid);
}

template <typename T>
__device__ __forceinline__ void copy_one(T* dst, const T* src, bool valid) {
    cp_async<sizeof(T)>(dst, src, valid);
}

// A reduction index k = (ky, kx, ch) over a (kh, kw, cc) box, stepped without
// divisions.
struct TapCursor {
    long long ky, kx, ch;
    __device__ __forceinline__ void set(long long k, long long kw, long long cc) {
        ch = k % cc;
        const long long t = k / cc;
        kx = t % kw;
        ky = t / kw;
    }
    __device__ __forceinline__ void advance(long long step, long long kw, long long cc) {
        ch += step;
        while (ch >= cc) {
            ch -= cc;
            if (++kx == kw) {
                kx = 0;
                ++ky;
            }
        }
    }
};

// A pixel p = (b, y, x) of an (n, hh, ww) grid, stepped without divisions.
struct PixelCursor {
    long long b, y, x;
    __device__ __forceinline__ void set(long long p, long long hh, long long ww) {
        x = p % ww;
        const long long t = p / ww;
        y = t % hh;
        b = t / hh;
    }
    __device__ __forceinline__ void advance(long long step, long long hh, long long ww) {
        x += step;
        while (x >= ww) {
            x -= ww;
            if (++y == hh) {
                y = 0;
                ++b;
            }
        }
    }
};

struct Geometry {
    long long n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout;
};

// Where tap kk of a window reads along one axis. Forward: the window of output
// position p starts at p * stride - pad (`start`), tap kk reads start + kk * d.
// Transposed (input gradient): input position q reads output position
// (q + pad - kk * d) / stride (`start` = q + pad), when that divides exactly.
// Returns whether the position lies inside [0, limit).
__device__ __forceinline__ bool source_position(bool transposed, long long start, long long kk,
                                                long long s, long long d, long long limit,
                                                long long& pos) {
    if (!transposed) {
        pos = start + kk * d;
        return pos >= 0 && pos < limit;
    }
    long long t = start - kk * d;
    if (t < 0) return false;
    if (s != 1) {
        if (t % s) return false;
        t /= s;
    }
    pos = t;
    return t < limit;
}

// Operand A of the forward and input-gradient GEMMs: rows are pixels (output pixels
// of the forward, input pixels of the input gradient), the reduction runs over
// (ky, kx, ch) of the source image src (x, or the output gradient gz). Thread tid
// gathers the reduction offsets 4 (tid % 4) .. 4 (tid % 4) + 3 of each stage for the
// rows tid / 4 + 32 i (i = 0..3): four threads read 16 consecutive channels of a pixel.
// Shared tile (BM, BK), row-major, each row four chunks of four elements with chunk q
// of row m stored at chunk q ^ ((m / 2) % 4): for float the chunk copies of 8 threads
// and the fragment reads of a warp both hit 32 different banks, without padding (the
// 4-byte copies of unaligned channel counts meet 4-way; double, the exact path, 2-way).
template <typename T>
struct WindowRows {
    typedef T Tile[BM][BK];
    static __device__ __forceinline__ T& at(Tile& s, long long m, long long k) {
        return s[m][(((k >> 2) ^ ((m >> 1) & 3)) << 2) | (k & 3)];
    }

    const T* src;
    long long src_h, src_w, cc, kw, K, sh, sw, dh, dw;
    bool transposed, vec;
    long long base[4], py[4], px[4];  // per row: sample offset into src, window starts
    bool valid[4];
    long long k;                      // first reduction index of this thread's stage
    TapCursor tap;                    // its (ky, kx, ch)
    long long row0, kq;               // rows row0 + 32 i, offsets 4 kq .. 4 kq + 3

    __device__ __forceinline__ void setup(const T* src_, bool transposed_, bool vec_,
                                          long long src_h_, long long src_w_, long long cc_,
                                          long long kh, long long kw_, const Geometry& g,
                                          long long rows_h, long long rows_w, long long m0,
                                          long long rows) {
        src = src_;
        transposed = transposed_;
        vec = vec_;
        src_h = src_h_;
        src_w = src_w_;
        cc = cc_;
        kw = kw_;
        K = kh * kw * cc;
        sh = g.sh;
        sw = g.sw;
        dh = g.dh;
        dw = g.dw;
        kq = threadIdx.x % 4;
        row0 = threadIdx.x / 4;
#pragma unroll
        for (long long i = 0; i < 4; ++i) {
            const long long m = m0 + row0 + 32 * i;
            valid[i] = m < rows;
            PixelCursor p;
            p.set(valid[i] ? m : 0, rows_h, rows_w);
            base[i] = p.b * src_h * src_w * cc;
            py[i] = transposed ? p.y + g.pt : p.y * g.sh - g.pt;
            px[i] = transposed ? p.x + g.pl : p.x * g.sw - g.pl;
        }
        k = 4 * kq;
        tap.set(k, kw, cc);
    }

    // Where row i reads tap t (false: outside the image, or past the reduction).
    __device__ __forceinline__ bool source(long long i, const TapCursor& t, long long kk,
                                           long long& offset) const {
        long long yy, xx;
        if (kk < K && valid[i] && source_position(transposed, py[i], t.ky, sh, dh, src_h, yy) &&
            source_position(transposed, px[i], t.kx, sw, dw, src_w, xx)) {
            offset = base[i] + (yy * src_w + xx) * cc + t.ch;
            return true;
        }
        offset = 0;
        return false;
    }

    // Start copying this thread's part of the next stage into s.
    __device__ __forceinline__ void issue(Tile& s) {
        if (vec) {  // cc % 4 == 0: the 4 indices share (ky, kx); K % 4 == 0
#pragma unroll
            for (long long i = 0; i < 4; ++i) {
                long long off;
                const bool ok = source(i, tap, k, off);
                copy_quad(&at(s, row0 + 32 * i, 4 * kq), src + off, ok);
            }
        } else {
            TapCursor t = tap;
#pragma unroll 1
            for (long long e = 0; e < 4; ++e) {  // rolled: the unrolled loop spills
#pragma unroll
                for (long long i = 0; i < 4; ++i) {
                    long long off;
                    const bool ok = source(i, t, k + e, off);
                    copy_one(&at(s, row0 + 32 * i, 4 * kq + e), src + off, ok);
                }
                t.advance(1, kw, cc);
            }
        }
        k += BK;
        tap.advance(BK, kw, cc);
    }
};

// Operand A of the kernel-gradient GEMM, col^T: rows are reduction indices
// (ky, kx, ch) of x, the reduction runs over the output pixels of this block's split.
// Thread (warp q, lane r) gathers the indices 4 r .. 4 r + 3 of the tile at the
// pixels q + 4 j (j = 0..3) of each stage. Shared tile (BK, BM + PAD): [pixel][index].
template <typename T>
struct WindowCols {
    typedef T Tile[BK][BM + PAD];
    static __device__ __forceinline__ T& at(Tile& s, long long m, long long k) {
        return s[k][m];
    }

    const T* x;
    long long h, w, c, sh, sw, dh, dw, pt, pl, oh, ow, pend;
    bool vec;
    bool kvalid[4];
    TapCursor taps[4];         // the taps of this thread's 4 indices (vec: all the same)
    long long p;               // first pixel of this thread's stage
    PixelCursor pix[4];
    long long lane, quad;

    __device__ __forceinline__ void setup(const T* x_, bool vec_, const Geometry& g,
                                          long long m0, long long pbeg, long long pend_) {
        x = x_;
        vec = vec_;
        h = g.h;
        w = g.w;
        c = g.c;
        sh = g.sh;
        sw = g.sw;
        dh = g.dh;
        dw = g.dw;
        pt = g.pt;
        pl = g.pl;
        oh = g.oh;
        ow = g.ow;
        pend = pend_;
        lane = threadIdx.x % 32;
        quad = threadIdx.x / 32;
        const long long K = g.kh * g.kw * g.c;
#pragma unroll
        for (long long e = 0; e < 4; ++e) {
            const long long kidx = m0 + 4 * lane + e;
            kvalid[e] = kidx < K;
            taps[e].set(kvalid[e] ? kidx : 0, g.kw, g.c);
        }
        p = pbeg;
#pragma unroll
        for (long long j = 0; j < 4; ++j) pix[j].set(pbeg + quad + 4 * j, oh, ow);
    }

    __device__ __forceinline__ void issue(Tile& s) {
#pragma unroll
        for (long long j = 0; j < 4; ++j) {
            const bool in = p + quad + 4 * j < pend;
            const long long b = pix[j].b;
            const long long y0 = pix[j].y * sh - pt, x0 = pix[j].x * sw - pl;
            T* dst = &s[quad + 4 * j][4 * lane];
            if (vec) {
                const long long iy = y0 + taps[0].ky * dh, ix = x0 + taps[0].kx * dw;
                const bool ok = in && kvalid[0] && iy >= 0 && iy < h && ix >= 0 && ix < w;
                copy_quad(dst, x + (ok ? ((b * h + iy) * w + ix) * c + taps[0].ch : 0), ok);
            } else {
#pragma unroll
                for (long long e = 0; e < 4; ++e) {
                    const long long iy = y0 + taps[e].ky * dh, ix = x0 + taps[e].kx * dw;
                    const bool ok =
                        in && kvalid[e] && iy >= 0 && iy < h && ix >= 0 && ix < w;
                    copy_one(dst + e, x + (ok ? ((b * h + iy) * w + ix) * c + taps[e].ch : 0),
                             ok);
                }
            }
            pix[j].advance(BK, oh, ow);
        }
        p += BK;
    }
};

// Operand B of every GEMM: rows [row, rend) of a row-major matrix b (row length ld),
// columns [n0, n0 + BN) masked to ncols. Each thread copies BN / 32 quads of four
// columns per stage. Shared tile (BK, BN + PAD): [k][column].
template <typename T, long long BN>
struct MatrixRows {
    typedef T Tile[BK][BN + PAD];
    static constexpr long long QUADS = BN / 32;  // per thread and stage
    const T* b;
    long long ld, row, rend, ncols, n0;
    bool vec;

    __device__ __forceinline__ void setup(const T* b_, bool vec_, long long ld_, long long rbeg,
                                          long long rend_, long long ncols_, long long n0_) {
        b = b_;
        vec = vec_;
        ld = ld_;
        row = rbeg;
        rend = rend_;
        ncols = ncols_;
        n0 = n0_;
    }

    __device__ __forceinline__ void issue(Tile& s) {
#pragma unroll
        for (long long q = 0; q < QUADS; ++q) {
            const long long qi = threadIdx.x + BM * q;
            const long long r = qi / (BN / 4), col = 4 * (qi % (BN / 4));
            const long long gr = row + r, gc = n0 + col;
            if (vec) {  // ncols % 4 == 0: a quad is wholly inside or outside
                const bool ok = gr < rend && gc < ncols;
                copy_quad(&s[r][col], b + (ok ? gr * ld + gc : 0), ok);
            } else {
#pragma unroll
                for (long long e = 0; e < 4; ++e) {
                    const bool ok = gr < rend && gc + e < ncols;
                    copy_one(&s[r][col + e], b + (ok ? gr * ld + gc + e : 0), ok);
                }
            }
        }
        row += BK;
    }
};

// One stage of a warp's 64 x (8 NT) tile, acc += A[rows, stage] @ B[stage, columns], as
// m16n8k8 TF32 products (float) or fused multiply-adds (double). Lane = 4 g + t;
// acc[i][j][r] is the element (wm + 16 i + g + 8 (r / 2), wn + 8 j + 2 t + r % 2).
template <typename ALoad, long long BN, long long NT, bool PRECISE>
__device__ __forceinline__ void stage_product(float (&acc)[4][NT][4], typename ALoad::Tile& As,
                                              float (*Bs)[BN + PAD], long long wm,
                                              long long wn, long long g, long long t) {
#pragma unroll
    for (long long kk = 0; kk < BK; kk += 8) {
        unsigned a_hi[4][4], a_lo[4][4], b_hi[NT][2], b_lo[NT][2];
#pragma unroll
        for (long long i = 0; i < 4; ++i) {
            const long long r0 = wm + 16 * i + g;
            const float f[4] = {ALoad::at(As, r0, kk + t), ALoad::at(As, r0 + 8, kk + t),
                                ALoad::at(As, r0, kk + t + 4), ALoad::at(As, r0 + 8, kk + t + 4)};
#pragma unroll
            for (long long e = 0; e < 4; ++e) {
                a_hi[i][e] = tf32_bits(f[e]);
                if (PRECISE) a_lo[i][e] = tf32_remainder(f[e], a_hi[i][e]);
            }
        }
#pragma unroll
        for (long long j = 0; j < NT; ++j) {
            const long long c0 = wn + 8 * j + g;
            const float f[2] = {Bs[kk + t][c0], Bs[kk + t + 4][c0]};
#pragma unroll
            for (long long e = 0; e < 2; ++e) {
                b_hi[j][e] = tf32_bits(f[e]);
                if (PRECISE) b_lo[j][e] = tf32_remainder(f[e], b_hi[j][e]);
            }
        }
#pragma unroll
        for (long long i = 0; i < 4; ++i)
#pragma unroll
            for (long long j = 0; j < NT; ++j) {
                if (PRECISE) {  // the small cross terms first
                    mma_tf32_16x8x8(acc[i][j], a_lo[i], b_hi[j]);
                    mma_tf32_16x8x8(acc[i][j], a_hi[i], b_lo[j]);
                }
                mma_tf32_16x8x8(acc[i][j], a_hi[i], b_hi[j]);
            }
    }
}

template <typename ALoad, long long BN, long long NT, bool PRECISE>
__device__ __forceinline__ void stage_product(double (&acc)[4][NT][4],
                                              typename ALoad::Tile& As,
                                              double (*Bs)[BN + PAD], long long wm,
                                              long long wn, long long g, long long t) {
#pragma unroll 1
    for (long long k = 0; k < BK; ++k) {  // outer products, k in order for every element
        double a[4][2], b[NT][2];
#pragma unroll
        for (long long i = 0; i < 4; ++i)
#pragma unroll
            for (long long e = 0; e < 2; ++e) a[i][e] = ALoad::at(As, wm + 16 * i + g + 8 * e, k);
#pragma unroll
        for (long long j = 0; j < NT; ++j)
#pragma unroll
            for (long long e = 0; e < 2; ++e) b[j][e] = Bs[k][wn + 8 * j + 2 * t + e];
#pragma unroll
        for (long long i = 0; i < 4; ++i)
#pragma unroll
            for (long long j = 0; j < NT; ++j)
#pragma unroll
                for (long long r = 0; r < 4; ++r)
                    acc[i][j][r] = fma(a[i][r / 2], b[j][r % 2], acc[i][j][r]);
    }
}

// Stages in flight: three for float (32-40 KB of shared memory), one for double
// (whose stages are twice the size; float64 is the exact path, not the fast one).
template <typename T>
struct Pipeline {
    static constexpr long long STAGES = sizeof(T) == 4 ? 3 : 1;
};

template <typename ATile, typename BTile, long long STAGES>
struct alignas(32) Shared {  // 32: the epilogue reads Quad<double> from it
    ATile a[STAGES];
    BTile b[STAGES];
};

// The epilogue's staging of a (BM, BN) tile in the shared memory of the ring (SHARED
// bytes): rows of LD elements (padded by 8: the warps' 2-element writes of a half-warp
// hit 32 different banks for float, and rows stay 4-element aligned for the reads of
// four), ROWS rows per pass (BM for float, fewer for double).
template <typename T, long long BN, unsigned long long SHARED>
struct Epilogue {
    static constexpr long long LD = BN + 8;
    static constexpr long long FIT = (long long)(SHARED / (LD * sizeof(T)));
    static constexpr long long ROWS = FIT >= 128 ? 128 : FIT >= 64 ? 64 : FIT >= 32 ? 32 : 16;
    static_assert(ROWS * LD * sizeof(T) <= SHARED, "the epilogue tile must fit in the ring");
};

template <typename T>
using Quad = Pack<T, 4>;

// Whether rows of length ld starting at p take 4-element stores at columns that are
// multiples of 4.
template <typename T>
__device__ __forceinline__ bool quads_aligned(const T* p, long long ld) {
    return ld % 4 == 0 && reinterpret_cast<unsigned long long>(p) % sizeof(Quad<T>) == 0;
}

// row[col .. col + count) = v[0 .. count): one 4-element store when count is 4 and
// `quads` (row aligned to 4 elements, col a multiple of 4). The store indexes the row
// as an array of Quad: built as a pointer to T first, NVRTC emits four scalar stores.
template <typename T>
__device__ __forceinline__ void store_quad(T* row, long long col, const T* v, long long count,
                                           bool quads) {
    if (count == 4 && quads) {
#ifdef GPUSEQ_CUDA_EMULATION  // x86 forgives a misaligned store that a GPU would fault on
        if (reinterpret_cast<unsigned long long>(row + col) % sizeof(Quad<T>) != 0) __trap();
#endif
        Quad<T> q;
#pragma unroll
        for (long long e = 0; e < 4; ++e) q.v[e] = v[e];
        reinterpret_cast<Quad<T>*>(row)[col / 4] = q;
    } else {
        for (long long e = 0; e < count; ++e) row[col + e] = v[e];
    }
}

// Where a tile's results go: store4(row, col, v, count) stores the results of columns
// col .. col + count - 1 of a row (count 1..4, col a multiple of 4).
// PlainStore: out[row * ld + col] = v.
template <typename T>
struct PlainStore {
    T* out;
    long long ld;
    __device__ __forceinline__ void store4(long long row, long long col, T* v,
                                           long long count) const {
        store_quad(out + row * ld, col, v, count, quads_aligned(out, ld));
    }
};

// The forward's epilogue, the work of bias_activation_forward (activations.cu) done as
// the tile is stored: pre = v + bias[col] (v without a bias), y = act(pre); pre is
// stored only when asked (the caller hands y as pre otherwise).
template <typename T>
struct BiasActivationStore {
    const T* bias;
    T* pre;
    T* y;
    long long ld, has_bias, kind, store_pre;  // the kernel's arguments as they are
    __device__ __forceinline__ void store4(long long row, long long col, T* v,
                                           long long count) const {
        // derived here rather than held through the main loop (registers)
        const bool quads = quads_aligned(y, ld) && (!store_pre || quads_aligned(pre, ld));
        const long long r = row * ld;
        if (has_bias)
            for (long long e = 0; e < count; ++e) v[e] += bias[col + e];
        if (store_pre) store_quad(pre + r, col, v, count, quads);
        if (kind != GS_ACT_LINEAR)
            for (long long e = 0; e < count; ++e) v[e] = act_value(v[e], kind);
        store_quad(y + r, col, v, count, quads);
    }
};

// out[m0 .. mend) x [n0 .. nend) (through the epilogue `out`) = the GEMM of the stages
// the two operands deliver over the reduction [kbeg, kend). With S stages, the copies
// of stage i + S - 1 run while stage i is multiplied.
template <typename T, long long BN, bool PRECISE, typename ALoad, typename Out>
__device__ __forceinline__ void gemm_tile(ALoad& a, MatrixRows<T, BN>& b, long long kbeg,
                                          long long kend, const Out& out, long long m0,
                                          long long mend, long long n0, long long nend) {
    constexpr long long NT = BN / 16;
    constexpr long long S = Pipeline<T>::STAGES;
    __shared__ Shared<typename ALoad::Tile, typename MatrixRows<T, BN>::Tile, S> sm;
    const long long lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const long long g = lane / 4, t = lane % 4;
    const long long wm = (warp % 2) * 64, wn = (warp / 2) * (BN / 2);
    T acc[4][NT][4];
#pragma unroll
    for (long long i = 0; i < 4; ++i)
#pragma unroll
        for (long long j = 0; j < NT; ++j)
#pragma unroll
            for (long long r = 0; r < 4; ++r) acc[i][j][r] = T(0);
    const long long stages = kend > kbeg ? (kend - kbeg + BK - 1) / BK : 0;
    if (S > 1) {
#pragma unroll 1
        for (long long s = 0; s < S - 1; ++s) {  // rolled: one copy of the gathers' code
            if (s < stages) {
                a.issue(sm.a[s]);
                b.issue(sm.b[s]);
            }
            cp_async_commit();  // one group per stage, empty ones included
        }
    }
    long long slot = 0;          // of stage i in the ring
    long long fill = S - 1;      // of stage i + S - 1, = the slot of stage i - 1
    for (long long i = 0; i < stages; ++i) {
        if (S > 1) {
            cp_async_wait<(S > 1 ? S - 2 : 0)>();  // this thread's copies of stage i
            __syncthreads();  // everyone's; and stage i - 1 has been multiplied
            if (i + S - 1 < stages) {
                a.issue(sm.a[fill]);
                b.issue(sm.b[fill]);
            }
            cp_async_commit();
        } else {
            __syncthreads();  // the previous stage has been multiplied
            a.issue(sm.a[0]);
            b.issue(sm.b[0]);
            cp_async_commit();
            cp_async_wait<0>();
            __syncthreads();
        }
        stage_product<ALoad, BN, NT, PRECISE>(acc, sm.a[slot], sm.b[slot], wm, wn, g, t);
        fill = slot;
        slot = slot + 1 == S ? 0 : slot + 1;
    }
    // The epilogue: the tile passes through shared memory (the ring is free now) in
    // passes of ROWS rows, so that each thread then stores four consecutive columns of a
    // row and a warp writes whole rows.
    typedef Epilogue<T, BN, sizeof(sm)> E;
    T (*C)[E::LD] = reinterpret_cast<T (*)[E::LD]>(&sm);
#pragma unroll 1
    for (long long r0 = 0; r0 < BM; r0 += E::ROWS) {
        __syncthreads();  // the ring, or the previous pass, has been read
#pragma unroll
        for (long long i = 0; i < 4; ++i)
#pragma unroll
            for (long long h = 0; h < 2; ++h) {
                const long long r = wm + 16 * i + g + 8 * h - r0;
                if (r >= 0 && r < E::ROWS) {
#pragma unroll
                    for (long long j = 0; j < NT; ++j) {  // one 2-element store each
                        Pack<T, 2> two;
                        two.v[0] = acc[i][j][2 * h];
                        two.v[1] = acc[i][j][2 * h + 1];
                        *reinterpret_cast<Pack<T, 2>*>(&C[r][wn + 8 * j + 2 * t]) = two;
                    }
                }
            }
        __syncthreads();
#pragma unroll 1
        for (long long e = threadIdx.x; e < E::ROWS * (BN / 4); e += BM) {
            const long long r = e / (BN / 4), c = 4 * (e % (BN / 4));
            const long long row = m0 + r0 + r, col = n0 + c;
            if (row < mend && col < nend) {
                const Quad<T> q = *reinterpret_cast<const Quad<T>*>(&C[r][c]);
                T v[4] = {q.v[0], q.v[1], q.v[2], q.v[3]};
                out.store4(row, col, v, nend - col < 4 ? nend - col : 4);
            }
        }
    }
}

__device__ __forceinline__ void check_block() {
    if (blockDim.x != BM || blockDim.y != 1 || blockDim.z != 1) __trap();
}

template <typename T, long long BN, bool PRECISE>
__device__ __forceinline__ void forward(const T* x, const T* wmat, const T* bias, T* pre,
                                        T* y, const Geometry& g, bool vec_a, bool vec_b,
                                        long long has_bias, long long kind,
                                        long long store_pre) {
    check_block();
    const long long rows = g.n * g.oh * g.ow, K = g.kh * g.kw * g.c;
    const long long m0 = (long long)blockIdx.x * BM, n0 = (long long)blockIdx.y * BN;
    WindowRows<T> a;
    a.setup(x, false, vec_a, g.h, g.w, g.c, g.kh, g.kw, g, g.oh, g.ow, m0, rows);
    MatrixRows<T, BN> b;
    b.setup(wmat, vec_b, g.cout, 0, K, g.cout, n0);
    const BiasActivationStore<T> out = {bias, pre, y, g.cout, has_bias, kind, store_pre};
    gemm_tile<T, BN, PRECISE>(a, b, 0, K, out, m0, rows, n0, g.cout);
}

template <typename T, long long BN, bool PRECISE>
__device__ __forceinline__ void input_grad(const T* gz, const T* wt, T* gx, const Geometry& g,
                                           bool vec_a, bool vec_b) {
    check_block();
    const long long rows = g.n * g.h * g.w, K = g.kh * g.kw * g.cout;
    const long long m0 = (long long)blockIdx.x * BM, n0 = (long long)blockIdx.y * BN;
    WindowRows<T> a;
    a.setup(gz, true, vec_a, g.oh, g.ow, g.cout, g.kh, g.kw, g, g.h, g.w, m0, rows);
    MatrixRows<T, BN> b;
    b.setup(wt, vec_b, g.c, 0, K, g.c, n0);
    const PlainStore<T> out = {gx, g.c};
    gemm_tile<T, BN, PRECISE>(a, b, 0, K, out, m0, rows, n0, g.c);
}

template <typename T, long long BN, bool PRECISE>
__device__ __forceinline__ void kernel_grad(const T* x, const T* gz, T* partial,
                                            const Geometry& g, long long rows_per_split,
                                            bool vec_a, bool vec_b) {
    check_block();
    const long long pixels = g.n * g.oh * g.ow, K = g.kh * g.kw * g.c;
    const long long m0 = (long long)blockIdx.x * BM, n0 = (long long)blockIdx.y * BN;
    const long long pbeg = (long long)blockIdx.z * rows_per_split;
    const long long pend = pbeg + rows_per_split < pixels ? pbeg + rows_per_split : pixels;
    WindowCols<T> a;
    a.setup(x, vec_a, g, m0, pbeg, pend);
    MatrixRows<T, BN> b;
    b.setup(gz, vec_b, g.cout, pbeg, pend, g.cout, n0);
    T* part = partial + (long long)blockIdx.z * K * g.cout;
    const PlainStore<T> out = {part, g.cout};
    gemm_tile<T, BN, PRECISE>(a, b, pbeg, pend, out, m0, K, n0, g.cout);
}

}  // namespace igemm
}  // namespace gs

// The entry points: one per GEMM, instantiated per (T, BN, PRECISE) by the name
// expressions the header lists. The 15 geometry arguments arrive as plain
// long longs (what the launcher checks) and travel on as one Geometry.

template <typename T, long long BN, bool PRECISE>
__global__ void __launch_bounds__(128) conv_igemm_forward(
        const T* __restrict__ x, const T* __restrict__ wmat, const T* __restrict__ bias,
        T* pre, T* y, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout, long long vec_a,
        long long vec_b, long long has_bias, long long kind, long long store_pre) {
    const gs::igemm::Geometry g = {n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout};
    gs::igemm::forward<T, BN, PRECISE>(x, wmat, bias, pre, y, g, vec_a != 0, vec_b != 0,
                                       has_bias, kind, store_pre);
}

template <typename T, long long BN, bool PRECISE>
__global__ void __launch_bounds__(128) conv_igemm_input_grad(
        const T* __restrict__ gz, const T* __restrict__ wt, T* __restrict__ gx, long long n,
        long long h, long long w, long long c, long long kh, long long kw, long long sh,
        long long sw, long long dh, long long dw, long long pt, long long pl, long long oh,
        long long ow, long long cout, long long vec_a, long long vec_b) {
    const gs::igemm::Geometry g = {n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout};
    gs::igemm::input_grad<T, BN, PRECISE>(gz, wt, gx, g, vec_a != 0, vec_b != 0);
}

template <typename T, long long BN, bool PRECISE>
__global__ void __launch_bounds__(128) conv_igemm_kernel_grad(
        const T* __restrict__ x, const T* __restrict__ gz, T* __restrict__ partial,
        long long n, long long h, long long w, long long c, long long kh, long long kw,
        long long sh, long long sw, long long dh, long long dw, long long pt, long long pl,
        long long oh, long long ow, long long cout, long long rows_per_split,
        long long vec_a, long long vec_b) {
    const gs::igemm::Geometry g = {n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout};
    gs::igemm::kernel_grad<T, BN, PRECISE>(x, gz, partial, g, rows_per_split, vec_a != 0,
                                           vec_b != 0);
}
