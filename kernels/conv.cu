/* im2col and col2im for 2-D convolution (1-D convolution uses them with height 1),
 * and the per-channel bias add of the channels-first layout.
 *
 * @kernels: im2col_nhwc col2im_nhwc im2col_nhwc_vec col2im_nhwc_vec im2col_nchw col2im_nchw
 * @kernels: add_channel_bias
 *
 * Every kernel is a template over the element type T (float or double). Arrays are
 * C-contiguous device memory of dtype T; sizes and geometry are long long
 * (numpy.int64). Geometry shared by the four im2col / col2im kernels:
 *
 *   n, h, w, c         batch, input height, width, channels
 *   kh, kw             kernel height, width
 *   sh, sw             strides;  dh, dw  dilations (all >= 1)
 *   pt, pl             zero padding at the top and left (bottom / right padding is
 *                      implied by oh, ow: positions outside the image read as 0)
 *   oh, ow             output height, width
 *   input pixel of output (oy, ox) and kernel tap (ky, kx):
 *       iy = oy * sh - pt + ky * dh,   ix = ox * sw - pl + kx * dw
 *
 * im2col_nhwc(const T* x, T* col, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
 *   x: (n, h, w, c).  col: (n * oh * ow, kh * kw * c), i.e. (n, oy, ox, ky, kx, c)
 *   row-major, so that col @ kernel.reshape(kh * kw * c, out) is the NHWC output.
 *   One thread per column element: the flat index gives (n, oy, ox, ky, kx, c);
 *   consecutive threads read consecutive channels (coalesced).
 *   Reference: gpuseq/backend/numpy_ops/conv.py::im2col_forward (channels_last)
 *
 * col2im_nhwc(const T* col, T* x, n, h, w, c, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)
 *   The adjoint of im2col_nhwc, as a gather: one thread per image element
 *   (n, iy, ix, c) sums the column entries that read it, in (ky, kx) order. No
 *   atomics; the result is deterministic. x is fully written.
 *   Reference: gpuseq/backend/numpy_ops/conv.py::im2col_backward (channels_last)
 *
 * im2col_nhwc_vec / col2im_nhwc_vec: the same arguments and results as
 *   im2col_nhwc / col2im_nhwc, moving V = 16 / sizeof(T) channels (4 floats or 2
 *   doubles) per thread with one 16-byte load and store. For c % V == 0 with x and
 *   col 16-byte aligned; the flat index runs over (..., c / V). col2im_nhwc_vec sums
 *   each channel in the same (ky, kx) order as col2im_nhwc: bitwise the same result.
 *   Launched over n*oh*ow*kh*kw*c/V (im2col) or n*h*w*c/V (col2im) elements.
 *   Reference: gpuseq/backend/numpy_ops/conv.py::im2col_forward / im2col_backward
 *   (channels_last)
 *
 * im2col_nchw / col2im_nchw: the same for x (n, c, h, w) and
 *   col (n, c * kh * kw, oh * ow), i.e. (n, c, ky, kx, oy, ox) row-major: the flat
 *   index gives (n, c, ky, kx, oy, ox); the output of sample i is
 *   kernel^T (out, c * kh * kw) @ col[i].
 *   Reference: gpuseq/backend/numpy_ops/conv.py::im2col_forward / im2col_backward
 *   (channels_first)
 *
 * add_channel_bias(T* z, const T* bias, long long total, long long units, long long inner)
 *   z: total elements viewed as (outer, units, inner); z[o, u, i] += bias[u]. Used for
 *   channels-first outputs (inner = oh * ow) before the elementwise activation.
 *   Reference: gpuseq/backend/numpy_ops/conv.py::conv2d_forward (channels_first bias)
 *
 * Index arithmetic runs in 32 bits when the image and the column buffer both hold
 * fewer than 2^31 elements (64-bit division costs several times more on the GPU),
 * in 64 bits otherwise; the results are the same.
 *
 * Launch (every kernel): 1-D grid-stride loop over its output elements,
 * block = (256, 1, 1), grid = (min(ceil(total / 256), 65535), 1, 1); not launched
 * when there are no elements.
 */
#include "gpuseq_common.cuh"

namespace gs {

// The vector kernels run the channels-last bodies below over gs::Pack elements of 16
// bytes (channel count c / V). A pack adds elementwise, so col2im sums each channel in
// the same order.
template <typename T, long long V>
__device__ __forceinline__ Pack<T, V>& operator+=(Pack<T, V>& a, const Pack<T, V>& b) {
#pragma unroll
    for (long long k = 0; k < V; ++k) a.v[k] += b.v[k];
    return a;
}

// The four im2col / col2im bodies are written once over an index type I: `int` when
// every flat index of the launch fits in 31 bits (the usual case; 32-bit division is
// several times cheaper than 64-bit on the GPU), `long long` otherwise. T is the
// element moved: float or double, or (channels-last) a Pack of them.
template <typename T, typename I>
__device__ __forceinline__ void im2col_nhwc_body(const T* __restrict__ x, T* __restrict__ col,
                                                 I n, I h, I w, I c, I kh, I kw, I sh, I sw,
                                                 I dh, I dw, I pt, I pl, I oh, I ow) {
    const I total = n * oh * ow * kh * kw * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I t = (I)li;
        const I ch = t % c;
        t /= c;
        const I kx = t % kw;
        t /= kw;
        const I ky = t % kh;
        t /= kh;
        const I ox = t % ow;
        t /= ow;
        const I oy = t % oh;
        const I b = t / oh;
        const I iy = oy * sh - pt + ky * dh;
        const I ix = ox * sw - pl + kx * dw;
        T v{};
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = x[((b * h + iy) * w + ix) * c + ch];
        col[li] = v;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void col2im_nhwc_body(const T* __restrict__ col, T* __restrict__ x,
                                                 I n, I h, I w, I c, I kh, I kw, I sh, I sw,
                                                 I dh, I dw, I pt, I pl, I oh, I ow) {
    const I total = n * h * w * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I t = (I)li;
        const I ch = t % c;
        t /= c;
        const I ix = t % w;
        t /= w;
        const I iy = t % h;
        const I b = t / h;
        T acc{};
        for (I ky = 0; ky < kh; ++ky) {
            const I ty = iy + pt - ky * dh;  // = oy * sh
            if (ty < 0) break;               // ty only falls as ky grows
            const I oy = sh == 1 ? ty : ty / sh;
            if (oy * sh != ty || oy >= oh) continue;
            for (I kx = 0; kx < kw; ++kx) {
                const I tx = ix + pl - kx * dw;  // = ox * sw
                if (tx < 0) break;
                const I ox = sw == 1 ? tx : tx / sw;
                if (ox * sw != tx || ox >= ow) continue;
                acc += col[((((b * oh + oy) * ow + ox) * kh + ky) * kw + kx) * c + ch];
            }
        }
        x[li] = acc;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void im2col_nchw_body(const T* __restrict__ x, T* __restrict__ col,
                                                 I n, I h, I w, I c, I kh, I kw, I sh, I sw,
                                                 I dh, I dw, I pt, I pl, I oh, I ow) {
    const I total = n * c * kh * kw * oh * ow;
    GS_GRID_STRIDE_LOOP(li, total) {
        I t = (I)li;
        const I ox = t % ow;
        t /= ow;
        const I oy = t % oh;
        t /= oh;
        const I kx = t % kw;
        t /= kw;
        const I ky = t % kh;
        t /= kh;
        const I ch = t % c;
        const I b = t / c;
        const I iy = oy * sh - pt + ky * dh;
        const I ix = ox * sw - pl + kx * dw;
        T v = T(0);
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) v = x[((b * c + ch) * h + iy) * w + ix];
        col[li] = v;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void col2im_nchw_body(const T* __restrict__ col, T* __restrict__ x,
                                                 I n, I h, I w, I c, I kh, I kw, I sh, I sw,
                                                 I dh, I dw, I pt, I pl, I oh, I ow) {
    const I total = n * c * h * w;
    GS_GRID_STRIDE_LOOP(li, total) {
        I t = (I)li;
        const I ix = t % w;
        t /= w;
        const I iy = t % h;
        t /= h;
        const I ch = t % c;
        const I b = t / c;
        T acc = T(0);
        for (I ky = 0; ky < kh; ++ky) {
            const I ty = iy + pt - ky * dh;
            if (ty < 0) break;
            const I oy = sh == 1 ? ty : ty / sh;
            if (oy * sh != ty || oy >= oh) continue;
            for (I kx = 0; kx < kw; ++kx) {
                const I tx = ix + pl - kx * dw;
                if (tx < 0) break;
                const I ox = sw == 1 ? tx : tx / sw;
                if (ox * sw != tx || ox >= ow) continue;
                acc += col[((((b * c + ch) * kh + ky) * kw + kx) * oh + oy) * ow + ox];
            }
        }
        x[li] = acc;
    }
}

}  // namespace gs

// Each kernel picks the 32-bit body when the image and the column buffer both have
// fewer than 2^31 elements. E is the element type the body moves, ce the channel count
// in those elements.
#define GS_CONV_DISPATCH(body, E, ce, a, b)                                               \
    const long long image = n * h * w * c;                                                \
    const long long cols = n * oh * ow * kh * kw * c;                                     \
    if (image < 0x7fffffffLL && cols < 0x7fffffffLL)                                      \
        gs::body<E, int>(a, b, (int)n, (int)h, (int)w, (int)(ce), (int)kh, (int)kw,       \
                         (int)sh, (int)sw, (int)dh, (int)dw, (int)pt, (int)pl, (int)oh,   \
                         (int)ow);                                                        \
    else                                                                                  \
        gs::body<E, long long>(a, b, n, h, w, ce, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)

// The pack of the vector kernels and their arrays viewed as packs.
#define GS_PACK(T) gs::Pack<T, 16 / (long long)sizeof(T)>
#define GS_PACKS(T, p) reinterpret_cast<GS_PACK(T)*>(p)
#define GS_CONST_PACKS(T, p) reinterpret_cast<const GS_PACK(T)*>(p)

template <typename T>
__global__ void im2col_nhwc(const T* __restrict__ x, T* __restrict__ col, long long n,
                            long long h, long long w, long long c, long long kh, long long kw,
                            long long sh, long long sw, long long dh, long long dw,
                            long long pt, long long pl, long long oh, long long ow) {
    GS_CONV_DISPATCH(im2col_nhwc_body, T, c, x, col);
}

template <typename T>
__global__ void col2im_nhwc(const T* __restrict__ col, T* __restrict__ x, long long n,
                            long long h, long long w, long long c, long long kh, long long kw,
                            long long sh, long long sw, long long dh, long long dw,
                            long long pt, long long pl, long long oh, long long ow) {
    GS_CONV_DISPATCH(col2im_nhwc_body, T, c, col, x);
}

template <typename T>
__global__ void im2col_nhwc_vec(const T* __restrict__ x, T* __restrict__ col, long long n,
                                long long h, long long w, long long c, long long kh,
                                long long kw, long long sh, long long sw, long long dh,
                                long long dw, long long pt, long long pl, long long oh,
                                long long ow) {
    GS_CONV_DISPATCH(im2col_nhwc_body, GS_PACK(T), c / (16 / (long long)sizeof(T)),
                     GS_CONST_PACKS(T, x), GS_PACKS(T, col));
}

template <typename T>
__global__ void col2im_nhwc_vec(const T* __restrict__ col, T* __restrict__ x, long long n,
                                long long h, long long w, long long c, long long kh,
                                long long kw, long long sh, long long sw, long long dh,
                                long long dw, long long pt, long long pl, long long oh,
                                long long ow) {
    GS_CONV_DISPATCH(col2im_nhwc_body, GS_PACK(T), c / (16 / (long long)sizeof(T)),
                     GS_CONST_PACKS(T, col), GS_PACKS(T, x));
}

template <typename T>
__global__ void im2col_nchw(const T* __restrict__ x, T* __restrict__ col, long long n,
                            long long h, long long w, long long c, long long kh, long long kw,
                            long long sh, long long sw, long long dh, long long dw,
                            long long pt, long long pl, long long oh, long long ow) {
    GS_CONV_DISPATCH(im2col_nchw_body, T, c, x, col);
}

template <typename T>
__global__ void col2im_nchw(const T* __restrict__ col, T* __restrict__ x, long long n,
                            long long h, long long w, long long c, long long kh, long long kw,
                            long long sh, long long sw, long long dh, long long dw,
                            long long pt, long long pl, long long oh, long long ow) {
    GS_CONV_DISPATCH(col2im_nchw_body, T, c, col, x);
}

template <typename T>
__global__ void add_channel_bias(T* __restrict__ z, const T* __restrict__ bias, long long total,
                                 long long units, long long inner) {
    GS_GRID_STRIDE_LOOP(i, total) { z[i] += bias[(i / inner) % units]; }
}
