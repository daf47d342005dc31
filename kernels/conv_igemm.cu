/* Implicit-GEMM 2-D convolution, channels last, on the TF32 tensor cores: the
 * im2col GEMMs of kernels/conv.cu without the column matrix. Each block gathers its
 * tile of the (virtual) column matrix straight from the image into shared memory.
 *
 * @kernels: conv_igemm_forward_32 conv_igemm_forward_64
 * @kernels: conv_igemm_input_grad_32 conv_igemm_input_grad_64
 * @kernels: conv_igemm_kernel_grad_32 conv_igemm_kernel_grad_64
 * @kernels: conv_igemm_forward_32_3xtf32 conv_igemm_forward_64_3xtf32
 * @kernels: conv_igemm_input_grad_32_3xtf32 conv_igemm_input_grad_64_3xtf32
 * @kernels: conv_igemm_kernel_grad_32_3xtf32 conv_igemm_kernel_grad_64_3xtf32
 *
 * Every kernel is a template over the element type T. float multiplies on the
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
 * Every kernel comes in two precisions for float: NAME multiplies plain TF32 (10-bit
 * mantissa operands, float32 sums); NAME_3xtf32 splits each operand into a TF32
 * value and a TF32 remainder and sums three products (the two small cross terms
 * first), about float32's accuracy. For double the two are the same kernel. Separate
 * kernels, so that the TF32 one does not hold the registers of the split.
 *
 * conv_igemm_forward_BN(const T* x, const T* wmat, T* z, n, h, w, c, kh, kw, sh, sw,
 *                       dh, dw, pt, pl, oh, ow, cout, vec_a, vec_b)
 *   z = col @ wmat: wmat is the kernel as (kh*kw*c, cout), z (n*oh*ow, cout).
 *   grid = (ceil(n*oh*ow / 128), ceil(cout / BN), 1).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_forward (channels_last, before
 *   the bias and activation)
 *
 * conv_igemm_input_grad_BN(const T* gz, const T* wt, T* gx, n, ..., cout, vec_a, vec_b)
 *   gx = col2im(gz @ wmat^T) as one GEMM over the input pixels: gx[(b, iy, ix), ch] =
 *   sum over (ky, kx, co) of gz[b, oy, ox, co] * wt[(ky, kx, co), ch], where
 *   oy = (iy + pt - ky * dh) / sh when that divides exactly and lies in [0, oh) (the
 *   same for x). wt is the kernel as (kh, kw, cout, c), i.e. (kh*kw*cout, c);
 *   gx (n, h, w, c) is fully written. grid = (ceil(n*h*w / 128), ceil(c / BN), 1).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_backward (channels_last, gx)
 *
 * conv_igemm_kernel_grad_BN(const T* x, const T* gz, T* partial, n, ..., cout,
 *                           rows_per_split, vec_a, vec_b)
 *   partial[s] = col[rows of split s]^T @ gz[rows of split s], the rows (output pixels)
 *   of split s being [s * rows_per_split, min((s + 1) * rows_per_split, n*oh*ow)).
 *   partial (splits, kh*kw*c, cout); the caller sums it over the splits (a fixed
 *   order: deterministic). rows_per_split is a positive multiple of 16.
 *   grid = (ceil(kh*kw*c / 128), ceil(cout / BN), splits).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_backward (channels_last, gw)
 *
 * Tiles: a block of 128 threads (4 warps, 2 x 2) computes a 128 x BN tile of its
 * GEMM (BN = 32 or 64, the kernel's suffix), each warp 64 x BN/2 as 4 x BN/16
 * m16n8k8 products per 8 of the reduction. The reduction runs in stages of 16: each
 * thread gathers its share of the next stage into registers while the warps
 * multiply the current one from shared memory (both operands stored reduction-major,
 * rows padded by 8 elements so that the fragment reads hit 32 different banks; the
 * operands whose gathered run lies along a shared row store it as one 16-byte write).
 * Index arithmetic is 64-bit; the gathers step their positions without divisions.
 * Launch: block = (128, 1, 1) (checked: __trap otherwise).
 */
#include "gpuseq_common.cuh"
#include "tensor_core.cuh"

namespace gs {
namespace igemm {

constexpr long long BM = 128;      // rows of a block tile, = threads of a block
constexpr long long BK = 16;       // reduction depth of one shared-memory stage
constexpr long long PAD = 8;       // padding of the shared rows (bank spread)

template <typename T>
struct alignas(4 * sizeof(T)) Quad {
    T v[4];
};

template <typename T>
__device__ __forceinline__ void load4(const T* p, T* v) {
#ifdef GPUSEQ_CUDA_EMULATION  // x86 forgives a misaligned read that a GPU would fault on
    if (reinterpret_cast<unsigned long long>(p) % sizeof(Quad<T>) != 0) __trap();
#endif
    const Quad<T> q = *reinterpret_cast<const Quad<T>*>(p);
#pragma unroll
    for (long long e = 0; e < 4; ++e) v[e] = q.v[e];
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
// (ky, kx, ch) of the source image src (x, or the output gradient gz). Thread
// (warp q, lane r) gathers rows r + 32 i (i = 0..3) at reduction offsets 4 q .. 4 q + 3
// of each stage; shared layout As[k][row].
template <typename T>
struct WindowRows {
    const T* src;
    long long src_h, src_w, cc, kw, K, sh, sw, dh, dw;
    bool transposed, vec;
    long long base[4], py[4], px[4];  // per row: sample offset into src, window starts
    bool valid[4];
    long long k;                      // first reduction index of this thread's stage
    TapCursor tap;                    // its (ky, kx, ch)
    long long lane, quad;
    T v[4][4];                        // the stage in flight: [row i][k offset e]

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
        lane = threadIdx.x % 32;
        quad = threadIdx.x / 32;
#pragma unroll
        for (long long i = 0; i < 4; ++i) {
            const long long m = m0 + lane + 32 * i;
            valid[i] = m < rows;
            PixelCursor p;
            p.set(valid[i] ? m : 0, rows_h, rows_w);
            base[i] = p.b * src_h * src_w * cc;
            py[i] = transposed ? p.y + g.pt : p.y * g.sh - g.pt;
            px[i] = transposed ? p.x + g.pl : p.x * g.sw - g.pl;
        }
        k = 4 * quad;
        tap.set(k, kw, cc);
    }

    __device__ __forceinline__ T fetch(long long i, const TapCursor& t) const {
        long long yy, xx;
        if (valid[i] && source_position(transposed, py[i], t.ky, sh, dh, src_h, yy) &&
            source_position(transposed, px[i], t.kx, sw, dw, src_w, xx))
            return src[base[i] + (yy * src_w + xx) * cc + t.ch];
        return T(0);
    }

    // Gather this thread's part of the stage at k into v; step to the next stage.
    __device__ __forceinline__ void load() {
        if (vec) {  // cc % 4 == 0: the 4 indices share (ky, kx); K % 4 == 0
#pragma unroll
            for (long long i = 0; i < 4; ++i) {
                long long yy, xx;
                if (k < K && valid[i] &&
                    source_position(transposed, py[i], tap.ky, sh, dh, src_h, yy) &&
                    source_position(transposed, px[i], tap.kx, sw, dw, src_w, xx)) {
                    load4(src + base[i] + (yy * src_w + xx) * cc + tap.ch, v[i]);
                } else {
#pragma unroll
                    for (long long e = 0; e < 4; ++e) v[i][e] = T(0);
                }
            }
        } else {
            TapCursor t = tap;
#pragma unroll
            for (long long e = 0; e < 4; ++e) {
#pragma unroll
                for (long long i = 0; i < 4; ++i) v[i][e] = k + e < K ? fetch(i, t) : T(0);
                t.advance(1, kw, cc);
            }
        }
        k += BK;
        tap.advance(BK, kw, cc);
    }

    __device__ __forceinline__ void store(T (*As)[BM + PAD]) const {
#pragma unroll
        for (long long e = 0; e < 4; ++e)
#pragma unroll
            for (long long i = 0; i < 4; ++i) As[4 * quad + e][lane + 32 * i] = v[i][e];
    }
};

// Operand A of the kernel-gradient GEMM, col^T: rows are reduction indices
// (ky, kx, ch) of x, the reduction runs over the output pixels of this block's split.
// Thread (warp q, lane r) gathers the indices 4 r .. 4 r + 3 of the tile at the
// pixels q + 4 j (j = 0..3) of each stage; shared layout As[pixel][index].
template <typename T>
struct WindowCols {
    const T* x;
    long long h, w, c, sh, sw, dh, dw, pt, pl, oh, ow, pend;
    bool vec;
    bool kvalid[4];
    TapCursor taps[4];         // the taps of this thread's 4 indices (vec: all the same)
    long long p;               // first pixel of this thread's stage
    PixelCursor pix[4];
    long long lane, quad;
    T v[4][4];                 // [pixel j][index e]

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

    __device__ __forceinline__ void load() {
#pragma unroll
        for (long long j = 0; j < 4; ++j) {
            const bool in = p + quad + 4 * j < pend;
            const long long b = pix[j].b;
            const long long y0 = pix[j].y * sh - pt, x0 = pix[j].x * sw - pl;
            if (vec) {
                const long long iy = y0 + taps[0].ky * dh, ix = x0 + taps[0].kx * dw;
                if (in && kvalid[0] && iy >= 0 && iy < h && ix >= 0 && ix < w) {
                    load4(x + ((b * h + iy) * w + ix) * c + taps[0].ch, v[j]);
                } else {
#pragma unroll
                    for (long long e = 0; e < 4; ++e) v[j][e] = T(0);
                }
            } else {
#pragma unroll
                for (long long e = 0; e < 4; ++e) {
                    const long long iy = y0 + taps[e].ky * dh, ix = x0 + taps[e].kx * dw;
                    v[j][e] = in && kvalid[e] && iy >= 0 && iy < h && ix >= 0 && ix < w
                                  ? x[((b * h + iy) * w + ix) * c + taps[e].ch]
                                  : T(0);
                }
            }
            pix[j].advance(BK, oh, ow);
        }
        p += BK;
    }

    __device__ __forceinline__ void store(T (*As)[BM + PAD]) const {
#pragma unroll
        for (long long j = 0; j < 4; ++j) {
            Quad<T> q;
#pragma unroll
            for (long long e = 0; e < 4; ++e) q.v[e] = v[j][e];
            *reinterpret_cast<Quad<T>*>(&As[quad + 4 * j][4 * lane]) = q;
        }
    }
};

// Operand B of every GEMM: rows [row, rend) of a row-major matrix b (row length ld),
// columns [n0, n0 + BN) masked to ncols; shared layout Bs[k][column]. Each thread
// moves BN / 32 quads of four columns per stage.
template <typename T, long long BN>
struct MatrixRows {
    static constexpr long long QUADS = BN / 32;  // per thread and stage
    const T* b;
    long long ld, row, rend, ncols, n0;
    bool vec;
    T v[QUADS][4];

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

    __device__ __forceinline__ void load() {
#pragma unroll
        for (long long q = 0; q < QUADS; ++q) {
            const long long qi = threadIdx.x + BM * q;
            const long long r = row + qi / (BN / 4), col = n0 + 4 * (qi % (BN / 4));
            if (vec) {  // ncols % 4 == 0: a quad is wholly inside or outside
                if (r < rend && col < ncols) {
                    load4(b + r * ld + col, v[q]);
                } else {
#pragma unroll
                    for (long long e = 0; e < 4; ++e) v[q][e] = T(0);
                }
            } else {
#pragma unroll
                for (long long e = 0; e < 4; ++e)
                    v[q][e] = r < rend && col + e < ncols ? b[r * ld + col + e] : T(0);
            }
        }
        row += BK;
    }

    __device__ __forceinline__ void store(T (*Bs)[BN + PAD]) const {
#pragma unroll
        for (long long q = 0; q < QUADS; ++q) {
            const long long qi = threadIdx.x + BM * q;
            const long long r = qi / (BN / 4), col = 4 * (qi % (BN / 4));
            Quad<T> w;
#pragma unroll
            for (long long e = 0; e < 4; ++e) w.v[e] = v[q][e];
            *reinterpret_cast<Quad<T>*>(&Bs[r][col]) = w;
        }
    }
};

// One stage of a warp's 64 x (8 NT) tile, acc += A[rows, stage] @ B[stage, columns], as
// m16n8k8 TF32 products (float) or fused multiply-adds (double). Lane = 4 g + t;
// acc[i][j][r] is the element (wm + 16 i + g + 8 (r / 2), wn + 8 j + 2 t + r % 2).
template <long long BN, long long NT, bool PRECISE>
__device__ __forceinline__ void stage_product(float (&acc)[4][NT][4],
                                              float (*As)[BM + PAD],
                                              float (*Bs)[BN + PAD], long long wm,
                                              long long wn, long long g, long long t) {
#pragma unroll
    for (long long kk = 0; kk < BK; kk += 8) {
        unsigned a_hi[4][4], a_lo[4][4], b_hi[NT][2], b_lo[NT][2];
#pragma unroll
        for (long long i = 0; i < 4; ++i) {
            const long long r0 = wm + 16 * i + g;
            const float f[4] = {As[kk + t][r0], As[kk + t][r0 + 8], As[kk + t + 4][r0],
                                As[kk + t + 4][r0 + 8]};
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

template <long long BN, long long NT, bool PRECISE>
__device__ __forceinline__ void stage_product(double (&acc)[4][NT][4],
                                              double (*As)[BM + PAD],
                                              double (*Bs)[BN + PAD], long long wm,
                                              long long wn, long long g, long long t) {
#pragma unroll 1
    for (long long k = 0; k < BK; ++k) {  // outer products, k in order for every element
        double a[4][2], b[NT][2];
#pragma unroll
        for (long long i = 0; i < 4; ++i)
#pragma unroll
            for (long long e = 0; e < 2; ++e) a[i][e] = As[k][wm + 16 * i + g + 8 * e];
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

template <typename T, long long BN>
struct alignas(4 * sizeof(T)) Shared {  // rows of 136 / 40 / 72 elements: Quad-aligned
    T a[BK][BM + PAD];
    T b[BK][BN + PAD];
};

// out[m0 .. mend) x [n0 .. nend) (row length ldo) = the GEMM of the stages the two
// operands deliver over the reduction [kbeg, kend).
template <typename T, long long BN, bool PRECISE, typename ALoad>
__device__ __forceinline__ void gemm_tile(ALoad& a, MatrixRows<T, BN>& b, long long kbeg,
                                          long long kend, T* __restrict__ out, long long ldo,
                                          long long m0, long long mend, long long n0,
                                          long long nend) {
    constexpr long long NT = BN / 16;
    __shared__ Shared<T, BN> sm;
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
    if (kbeg < kend) {
        a.load();
        b.load();
    }
    for (long long k0 = kbeg; k0 < kend; k0 += BK) {
        __syncthreads();  // the previous stage has been multiplied
        a.store(sm.a);
        b.store(sm.b);
        __syncthreads();
        if (k0 + BK < kend) {  // gather the next stage while this one is multiplied
            a.load();
            b.load();
        }
        stage_product<BN, NT, PRECISE>(acc, sm.a, sm.b, wm, wn, g, t);
    }
#pragma unroll
    for (long long i = 0; i < 4; ++i)
#pragma unroll
        for (long long j = 0; j < NT; ++j)
#pragma unroll
            for (long long r = 0; r < 4; ++r) {
                const long long row = m0 + wm + 16 * i + g + 8 * (r / 2);
                const long long col = n0 + wn + 8 * j + 2 * t + r % 2;
                if (row < mend && col < nend) out[row * ldo + col] = acc[i][j][r];
            }
}

__device__ __forceinline__ void check_block() {
    if (blockDim.x != BM || blockDim.y != 1 || blockDim.z != 1) __trap();
}

template <typename T, long long BN, bool PRECISE>
__device__ __forceinline__ void forward(const T* x, const T* wmat, T* z, const Geometry& g,
                                        bool vec_a, bool vec_b) {
    check_block();
    const long long rows = g.n * g.oh * g.ow, K = g.kh * g.kw * g.c;
    const long long m0 = (long long)blockIdx.x * BM, n0 = (long long)blockIdx.y * BN;
    WindowRows<T> a;
    a.setup(x, false, vec_a, g.h, g.w, g.c, g.kh, g.kw, g, g.oh, g.ow, m0, rows);
    MatrixRows<T, BN> b;
    b.setup(wmat, vec_b, g.cout, 0, K, g.cout, n0);
    gemm_tile<T, BN, PRECISE>(a, b, 0, K, z, g.cout, m0, rows, n0, g.cout);
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
    gemm_tile<T, BN, PRECISE>(a, b, 0, K, gx, g.c, m0, rows, n0, g.c);
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
    gemm_tile<T, BN, PRECISE>(a, b, pbeg, pend, partial + (long long)blockIdx.z * K * g.cout,
                              g.cout, m0, K, n0, g.cout);
}

}  // namespace igemm
}  // namespace gs

#define GS_IGEMM_GEOMETRY                                                                 \
    const gs::igemm::Geometry g = {n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, cout}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_forward_32(
        const T* __restrict__ x, const T* __restrict__ wmat, T* __restrict__ z, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::forward<T, 32, false>(x, wmat, z, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_input_grad_32(
        const T* __restrict__ gz, const T* __restrict__ wt, T* __restrict__ gx, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::input_grad<T, 32, false>(gz, wt, gx, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_kernel_grad_32(
        const T* __restrict__ x, const T* __restrict__ gz, T* __restrict__ partial, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long rows_per_split, long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::kernel_grad<T, 32, false>(x, gz, partial, g, rows_per_split, vec_a != 0,
                                         vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_forward_64(
        const T* __restrict__ x, const T* __restrict__ wmat, T* __restrict__ z, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::forward<T, 64, false>(x, wmat, z, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_input_grad_64(
        const T* __restrict__ gz, const T* __restrict__ wt, T* __restrict__ gx, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::input_grad<T, 64, false>(gz, wt, gx, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_kernel_grad_64(
        const T* __restrict__ x, const T* __restrict__ gz, T* __restrict__ partial, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long rows_per_split, long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::kernel_grad<T, 64, false>(x, gz, partial, g, rows_per_split, vec_a != 0,
                                         vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_forward_32_3xtf32(
        const T* __restrict__ x, const T* __restrict__ wmat, T* __restrict__ z, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::forward<T, 32, true>(x, wmat, z, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_input_grad_32_3xtf32(
        const T* __restrict__ gz, const T* __restrict__ wt, T* __restrict__ gx, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::input_grad<T, 32, true>(gz, wt, gx, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_kernel_grad_32_3xtf32(
        const T* __restrict__ x, const T* __restrict__ gz, T* __restrict__ partial, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long rows_per_split, long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::kernel_grad<T, 32, true>(x, gz, partial, g, rows_per_split, vec_a != 0,
                                         vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_forward_64_3xtf32(
        const T* __restrict__ x, const T* __restrict__ wmat, T* __restrict__ z, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::forward<T, 64, true>(x, wmat, z, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_input_grad_64_3xtf32(
        const T* __restrict__ gz, const T* __restrict__ wt, T* __restrict__ gx, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::input_grad<T, 64, true>(gz, wt, gx, g, vec_a != 0, vec_b != 0);
}

template <typename T>
__global__ void __launch_bounds__(128) conv_igemm_kernel_grad_64_3xtf32(
        const T* __restrict__ x, const T* __restrict__ gz, T* __restrict__ partial, long long n, long long h, long long w, long long c, long long kh,
        long long kw, long long sh, long long sw, long long dh, long long dw, long long pt,
        long long pl, long long oh, long long ow, long long cout,
        long long rows_per_split, long long vec_a, long long vec_b) {
    GS_IGEMM_GEOMETRY;
    gs::igemm::kernel_grad<T, 64, true>(x, gz, partial, g, rows_per_split, vec_a != 0,
                                         vec_b != 0);
}
