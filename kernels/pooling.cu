/* Max and average pooling over 2-D windows (1-D pooling uses them with height 1),
 * forward and backward, and global pooling as a reduction over the spatial axes.
 *
 * @kernels: max_pool2d_forward avg_pool2d_forward max_pool2d_backward avg_pool2d_backward
 * @kernels: global_pool_forward global_pool_backward
 * @kernels: max_pool2d_backward_tiled avg_pool2d_backward_tiled
 *
 * Every kernel is a template over the element type T (float or double). Arrays are
 * C-contiguous device memory; sizes and geometry are long long (numpy.int64);
 * argmax arrays are long long (int64). `channels_last` != 0 selects the layout
 * (n, h, w, c) of x and (n, oh, ow, c) of y; 0 selects (n, c, h, w) / (n, c, oh, ow).
 *
 * Window geometry (TensorFlow pooling): output (oy, ox) covers the input rows
 * oy * sh - pt + ky for ky in [0, ph) and the columns ox * sw - pl + kx for kx in
 * [0, pw); positions outside the image are padding. Padding never wins a max (it
 * reads as -infinity) and is not counted by an average (the divisor is the number
 * of real elements of the window).
 *
 * max_pool2d_forward(const T* x, T* y, long long* argmax, n, h, w, c, oh, ow,
 *                    ph, pw, sh, sw, pt, pl, channels_last)
 *   One thread per output element. y = the window maximum, argmax = ky * pw + kx of
 *   the first maximum in row-major window order (strictly greater values replace it);
 *   a NaN in the window wins (y = NaN, argmax = the first NaN), like numpy.maximum.
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::pool2d_forward (mode='max')
 *
 * avg_pool2d_forward(const T* x, T* y, n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl,
 *                    channels_last)
 *   One thread per output element: the mean over the real elements of the window.
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::pool2d_forward (mode='avg')
 *
 * max_pool2d_backward(const T* gy, const long long* argmax, T* gx, n, h, w, c, oh, ow,
 *                     ph, pw, sh, sw, pt, pl, channels_last)
 * avg_pool2d_backward(const T* gy, T* gx, n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl,
 *                     channels_last)
 *   A gather: one thread per input element sums, over the windows that contain it
 *   (in (oy, ox) order), gy of the window if the element is the window's argmax
 *   (max) or gy / count (avg). No atomics; deterministic; gx is fully written.
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::pool2d_backward
 *
 * max_pool2d_backward_tiled(const T* gy, const long long* argmax, T* gx, n, h, w, c, oh,
 *                           ow, ph, pw, sh, sw, pt, pl, channels_last)
 * avg_pool2d_backward_tiled(const T* gy, T* gx, n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl,
 *                           channels_last)
 *   The same gradients for windows that tile the input exactly (sh == ph, sw == pw,
 *   no padding, h == oh * ph, w == ow * pw: every input element lies in exactly one
 *   window): one thread per output element writes its whole window, 0 + gy at the
 *   argmax and 0 elsewhere (max), 0 + gy / (ph * pw) everywhere (avg), the values the
 *   gather computes, with a quarter of its index arithmetic for 2 x 2 windows.
 *   Launched only for such geometries, over the output elements.
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::pool2d_backward
 *
 * global_pool_forward(const T* x, T* y, long long* argmax, n, s, c, mode, channels_last)
 *   x viewed as (n, s, c) (channels_last) or (n, c, s); y (n, c). One thread per
 *   (sample, channel) reduces its s elements: mode 0 = mean, 1 = max (argmax = the
 *   flat spatial index of the first maximum; unused for the mean).
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::global_pool_forward
 *
 * global_pool_backward(const T* gy, const long long* argmax, T* gx, n, s, c, mode,
 *                      channels_last)
 *   One thread per input element: gy / s (mean) or gy where it is the argmax (max).
 *   Reference: gpuseq/backend/numpy_ops/pooling.py::global_pool_backward
 *
 * The window kernels' index arithmetic runs in 32 bits when the input and the
 * output both hold fewer than 2^31 elements, in 64 bits otherwise; the results are
 * the same.
 *
 * Launch (every kernel): 1-D grid-stride loop over its output elements,
 * block = (256, 1, 1), grid = (min(ceil(total / 256), 65535), 1, 1); not launched
 * when there are no elements.
 */
#include "gpuseq_common.cuh"

namespace gs {

// The window kernels are written once over an index type I: `int` when every flat index
// of the input and the output fits in 31 bits (the usual case: 32-bit division, which
// these kernels do several times per element, is several times cheaper than 64-bit on
// the GPU), `long long` otherwise. The results are the same.

// Flat index of element (b, y, x, ch) of an (n, hh, ww, c) / (n, c, hh, ww) array.
template <typename I>
__device__ __forceinline__ I at4(I b, I y, I x, I ch, I hh, I ww, I c, bool channels_last) {
    return channels_last ? ((b * hh + y) * ww + x) * c + ch : ((b * c + ch) * hh + y) * ww + x;
}

// (b, y, x, ch) of flat index i of an (n, hh, ww, c) / (n, c, hh, ww) array.
template <typename I>
__device__ __forceinline__ void split4(I i, I hh, I ww, I c, bool channels_last, I& b, I& y,
                                       I& x, I& ch) {
    if (channels_last) {
        ch = i % c;
        i /= c;
        x = i % ww;
        i /= ww;
        y = i % hh;
        b = i / hh;
    } else {
        x = i % ww;
        i /= ww;
        y = i % hh;
        i /= hh;
        ch = i % c;
        b = i / c;
    }
}

// Real (unpadded) rows or columns of a window starting at `start` of length p in [0, n).
template <typename I>
__device__ __forceinline__ I window_count(I start, I p, I n) {
    const I lo = start < 0 ? 0 : start;
    const I hi = start + p < n ? start + p : n;
    return hi - lo;
}

// First and last output index whose window of length p, stride s and front padding
// pad contains input index i (an empty range when first > last).
template <typename I>
__device__ __forceinline__ void covering(I i, I p, I s, I pad, I out, I& first, I& last) {
    const I t = i + pad;  // = o * s + k with 0 <= k < p
    first = t - p + 1 <= 0 ? 0 : (t - p + 1 + s - 1) / s;
    last = t / s;
    if (last > out - 1) last = out - 1;
}

template <typename T, typename I>
__device__ __forceinline__ void max_pool2d_forward_body(const T* __restrict__ x,
                                                        T* __restrict__ y,
                                                        long long* __restrict__ argmax, I n,
                                                        I h, I w, I c, I oh, I ow, I ph, I pw,
                                                        I sh, I sw, I pt, I pl, bool cl) {
    const I total = n * oh * ow * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, oy, ox, ch;
        split4((I)li, oh, ow, c, cl, b, oy, ox, ch);
        T best = limits<T>::neg_inf();
        I best_k = 0;
        bool first = true;
        for (I ky = 0; ky < ph; ++ky) {
            const I iy = oy * sh - pt + ky;
            for (I kx = 0; kx < pw; ++kx) {
                const I ix = ox * sw - pl + kx;
                const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                const T v = inside ? x[at4(b, iy, ix, ch, h, w, c, cl)] : limits<T>::neg_inf();
                // NaN wins and sticks (numpy.maximum propagates it; argmax = first NaN)
                if (first || v > best || (v != v && best == best)) {
                    best = v;
                    best_k = ky * pw + kx;
                    first = false;
                }
            }
        }
        y[li] = best;
        argmax[li] = best_k;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void avg_pool2d_forward_body(const T* __restrict__ x,
                                                        T* __restrict__ y, I n, I h, I w, I c,
                                                        I oh, I ow, I ph, I pw, I sh, I sw,
                                                        I pt, I pl, bool cl) {
    const I total = n * oh * ow * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, oy, ox, ch;
        split4((I)li, oh, ow, c, cl, b, oy, ox, ch);
        T acc = T(0);
        for (I ky = 0; ky < ph; ++ky) {
            const I iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;
            for (I kx = 0; kx < pw; ++kx) {
                const I ix = ox * sw - pl + kx;
                if (ix < 0 || ix >= w) continue;
                acc += x[at4(b, iy, ix, ch, h, w, c, cl)];
            }
        }
        const I count = window_count(oy * sh - pt, ph, h) * window_count(ox * sw - pl, pw, w);
        y[li] = acc / T(count);
    }
}

template <typename T, typename I>
__device__ __forceinline__ void max_pool2d_backward_body(const T* __restrict__ gy,
                                                         const long long* __restrict__ argmax,
                                                         T* __restrict__ gx, I n, I h, I w, I c,
                                                         I oh, I ow, I ph, I pw, I sh, I sw,
                                                         I pt, I pl, bool cl) {
    const I total = n * h * w * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, iy, ix, ch;
        split4((I)li, h, w, c, cl, b, iy, ix, ch);
        I y0, y1, x0, x1;
        covering(iy, ph, sh, pt, oh, y0, y1);
        covering(ix, pw, sw, pl, ow, x0, x1);
        T acc = T(0);
        for (I oy = y0; oy <= y1; ++oy) {
            const I ky = iy + pt - oy * sh;
            for (I ox = x0; ox <= x1; ++ox) {
                const I kx = ix + pl - ox * sw;
                const I o = at4(b, oy, ox, ch, oh, ow, c, cl);
                if (argmax[o] == (long long)(ky * pw + kx)) acc += gy[o];
            }
        }
        gx[li] = acc;
    }
}

template <typename T, typename I>
__device__ __forceinline__ void avg_pool2d_backward_body(const T* __restrict__ gy,
                                                         T* __restrict__ gx, I n, I h, I w, I c,
                                                         I oh, I ow, I ph, I pw, I sh, I sw,
                                                         I pt, I pl, bool cl) {
    const I total = n * h * w * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, iy, ix, ch;
        split4((I)li, h, w, c, cl, b, iy, ix, ch);
        I y0, y1, x0, x1;
        covering(iy, ph, sh, pt, oh, y0, y1);
        covering(ix, pw, sw, pl, ow, x0, x1);
        T acc = T(0);
        for (I oy = y0; oy <= y1; ++oy) {
            const I cy = window_count(oy * sh - pt, ph, h);
            for (I ox = x0; ox <= x1; ++ox) {
                const I cx = window_count(ox * sw - pl, pw, w);
                acc += gy[at4(b, oy, ox, ch, oh, ow, c, cl)] / T(cy * cx);
            }
        }
        gx[li] = acc;
    }
}

// Windows that tile the input exactly (see the header): thread per output element.
template <typename T, typename I>
__device__ __forceinline__ void max_pool2d_backward_tiled_body(
        const T* __restrict__ gy, const long long* __restrict__ argmax, T* __restrict__ gx, I n,
        I h, I w, I c, I oh, I ow, I ph, I pw, I sh, I sw, I pt, I pl, bool cl) {
    const I total = n * oh * ow * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, oy, ox, ch;
        split4((I)li, oh, ow, c, cl, b, oy, ox, ch);
        const T g = T(0) + gy[li];  // as the gather's sum from 0 (-0 becomes +0)
        const long long k = argmax[li];
        for (I ky = 0; ky < ph; ++ky)
            for (I kx = 0; kx < pw; ++kx)
                gx[at4(b, oy * ph + ky, ox * pw + kx, ch, h, w, c, cl)] =
                    k == (long long)(ky * pw + kx) ? g : T(0);
    }
}

template <typename T, typename I>
__device__ __forceinline__ void avg_pool2d_backward_tiled_body(
        const T* __restrict__ gy, T* __restrict__ gx, I n, I h, I w, I c, I oh, I ow, I ph,
        I pw, I sh, I sw, I pt, I pl, bool cl) {
    const I total = n * oh * ow * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        I b, oy, ox, ch;
        split4((I)li, oh, ow, c, cl, b, oy, ox, ch);
        const T g = T(0) + gy[li] / T(ph * pw);
        for (I ky = 0; ky < ph; ++ky)
            for (I kx = 0; kx < pw; ++kx)
                gx[at4(b, oy * ph + ky, ox * pw + kx, ch, h, w, c, cl)] = g;
    }
}

}  // namespace gs

// Each window kernel picks the 32-bit body when the input and the output both have
// fewer than 2^31 elements and the window, strides and pads fit in 31 bits.
#define GS_POOL_DISPATCH(body, ...)                                                        \
    if (n * h * w * c < 0x7fffffffLL && n * oh * ow * c < 0x7fffffffLL &&                 \
        ph * pw < 0x7fffffffLL && sh < 0x7fffffffLL && sw < 0x7fffffffLL &&                \
        pt < 0x7fffffffLL && pl < 0x7fffffffLL)                                            \
        gs::body<T, int>(__VA_ARGS__, (int)n, (int)h, (int)w, (int)c, (int)oh, (int)ow,    \
                         (int)ph, (int)pw, (int)sh, (int)sw, (int)pt, (int)pl,             \
                         channels_last != 0);                                              \
    else                                                                                   \
        gs::body<T, long long>(__VA_ARGS__, n, h, w, c, oh, ow, ph, pw, sh, sw, pt, pl,    \
                               channels_last != 0)

template <typename T>
__global__ void max_pool2d_forward(const T* __restrict__ x, T* __restrict__ y,
                                   long long* __restrict__ argmax, long long n, long long h,
                                   long long w, long long c, long long oh, long long ow,
                                   long long ph, long long pw, long long sh, long long sw,
                                   long long pt, long long pl, long long channels_last) {
    GS_POOL_DISPATCH(max_pool2d_forward_body, x, y, argmax);
}

template <typename T>
__global__ void avg_pool2d_forward(const T* __restrict__ x, T* __restrict__ y, long long n,
                                   long long h, long long w, long long c, long long oh,
                                   long long ow, long long ph, long long pw, long long sh,
                                   long long sw, long long pt, long long pl,
                                   long long channels_last) {
    GS_POOL_DISPATCH(avg_pool2d_forward_body, x, y);
}

template <typename T>
__global__ void max_pool2d_backward(const T* __restrict__ gy, const long long* __restrict__ argmax,
                                    T* __restrict__ gx, long long n, long long h, long long w,
                                    long long c, long long oh, long long ow, long long ph,
                                    long long pw, long long sh, long long sw, long long pt,
                                    long long pl, long long channels_last) {
    GS_POOL_DISPATCH(max_pool2d_backward_body, gy, argmax, gx);
}

template <typename T>
__global__ void avg_pool2d_backward(const T* __restrict__ gy, T* __restrict__ gx, long long n,
                                    long long h, long long w, long long c, long long oh,
                                    long long ow, long long ph, long long pw, long long sh,
                                    long long sw, long long pt, long long pl,
                                    long long channels_last) {
    GS_POOL_DISPATCH(avg_pool2d_backward_body, gy, gx);
}

template <typename T>
__global__ void global_pool_forward(const T* __restrict__ x, T* __restrict__ y,
                                    long long* __restrict__ argmax, long long n, long long s,
                                    long long c, long long mode, long long channels_last) {
    const long long total = n * c;
    GS_GRID_STRIDE_LOOP(i, total) {
        const long long b = i / c;
        const long long ch = i % c;
        const long long base = channels_last ? b * s * c + ch : (b * c + ch) * s;
        const long long step = channels_last ? c : 1;
        if (mode == 0) {
            T acc = T(0);
            for (long long k = 0; k < s; ++k) acc += x[base + k * step];
            y[i] = acc / T(s);
        } else {
            T best = x[base];
            long long best_k = 0;
            for (long long k = 1; k < s; ++k) {
                const T v = x[base + k * step];
                if (v > best || (v != v && best == best)) {  // NaN propagates, like numpy
                    best = v;
                    best_k = k;
                }
            }
            y[i] = best;
            argmax[i] = best_k;
        }
    }
}

template <typename T>
__global__ void global_pool_backward(const T* __restrict__ gy,
                                     const long long* __restrict__ argmax, T* __restrict__ gx,
                                     long long n, long long s, long long c, long long mode,
                                     long long channels_last) {
    const long long total = n * s * c;
    GS_GRID_STRIDE_LOOP(i, total) {
        long long b, k, ch;
        if (channels_last) {
            ch = i % c;
            k = (i / c) % s;
            b = i / (c * s);
        } else {
            k = i % s;
            ch = (i / s) % c;
            b = i / (s * c);
        }
        const long long o = b * c + ch;
        if (mode == 0) gx[i] = gy[o] / T(s);
        else gx[i] = argmax[o] == k ? gy[o] : T(0);
    }
}

template <typename T>
__global__ void max_pool2d_backward_tiled(const T* __restrict__ gy,
                                          const long long* __restrict__ argmax,
                                          T* __restrict__ gx, long long n, long long h,
                                          long long w, long long c, long long oh, long long ow,
                                          long long ph, long long pw, long long sh, long long sw,
                                          long long pt, long long pl, long long channels_last) {
    GS_POOL_DISPATCH(max_pool2d_backward_tiled_body, gy, argmax, gx);
}

template <typename T>
__global__ void avg_pool2d_backward_tiled(const T* __restrict__ gy, T* __restrict__ gx,
                                          long long n, long long h, long long w, long long c,
                                          long long oh, long long ow, long long ph, long long pw,
                                          long long sh, long long sw, long long pt, long long pl,
                                          long long channels_last) {
    GS_POOL_DISPATCH(avg_pool2d_backward_tiled_body, gy, gx);
}
