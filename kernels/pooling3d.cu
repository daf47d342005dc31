/* 3-D max and average pooling, channels last, and their backward as a gather.
 *
 * @kernels: pool3d_forward_ndhwc pool3d_backward_ndhwc
 *
 * Both kernels are templates over the element type T (float or double). Arrays are
 * C-contiguous device memory; sizes, geometry and the mode are long long
 * (numpy.int64); the argmax array is long long. Geometry:
 *
 *   n, d, h, w, c      batch, input depth, height, width, channels
 *   pd, ph, pw         pool size;  sd, sh, sw  strides
 *   fd, ft, fl         padding at the front, top and left (the padding at the other
 *                      ends is implied by od, oh, ow); padded positions are outside
 *                      every window: they never win a max and are not counted by an
 *                      average
 *   od, oh, ow         output depth, height, width
 *   mode               0 = max, 1 = average
 *   window of output (oz, oy, ox): input positions oz * sd - fd + a (a < pd), and so
 *   on per axis; its offset index is k = (a * ph + b) * pw + e.
 *
 * pool3d_forward_ndhwc(const T* x, T* y, long long* arg, n, d, h, w, c, pd, ph, pw,
 *                      sd, sh, sw, fd, ft, fl, od, oh, ow, mode)
 *   x: (n, d, h, w, c); y: (n, od, oh, ow, c). One thread per output element. Max:
 *   the first maximum in offset order, its offset index written to arg (same shape
 *   as y). Average: the sum of the window's real elements divided by their count;
 *   arg is not touched (may be a 1-element array).
 *   Reference: gpuseq/backend/numpy_ops/pooling3d.py::pool3d_forward
 *
 * pool3d_backward_ndhwc(const T* gy, const long long* arg, T* gx, the same geometry,
 *                       mode)
 *   gx: (n, d, h, w, c), fully written. One thread per input element gathers over
 *   the windows that contain it (in (oz, oy, ox) order): for max the gradient of
 *   each window whose arg is this element's offset in it, for average each window's
 *   gradient divided by its real element count. No atomics; deterministic.
 *   Reference: gpuseq/backend/numpy_ops/pooling3d.py::pool3d_backward
 *
 * Launch (both kernels): 1-D grid-stride loop over y (forward) or gx (backward),
 * block = (256, 1, 1), grid = (min(ceil(total / 256), 65535), 1, 1); not launched
 * when there are no elements.
 */
#include "gpuseq_common.cuh"

namespace gs {

// The real (unpadded) input positions [lo, hi) of window o along one axis.
__device__ __forceinline__ void pool_span(long long o, long long stride, long long pad,
                                          long long pool, long long size, long long* lo,
                                          long long* hi) {
    const long long start = o * stride - pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + pool < size ? start + pool : size;
}

// The windows [first, last] along one axis that contain input position i.
__device__ __forceinline__ void pool_windows(long long i, long long stride, long long pad,
                                             long long pool, long long out, long long* first,
                                             long long* last) {
    const long long t = i + pad;                       // position in the padded axis
    const long long lo = t - pool + 1;                 // o * stride >= t - pool + 1
    *first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
    const long long hi = t / stride;                   // o * stride <= t
    *last = hi < out - 1 ? hi : out - 1;
}

}  // namespace gs

template <typename T>
__global__ void pool3d_forward_ndhwc(const T* __restrict__ x, T* __restrict__ y,
                                     long long* __restrict__ arg, long long n, long long d,
                                     long long h, long long w, long long c, long long pd,
                                     long long ph, long long pw, long long sd, long long sh,
                                     long long sw, long long fd, long long ft, long long fl,
                                     long long od, long long oh, long long ow,
                                     long long mode) {
    const long long total = n * od * oh * ow * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        long long t = li;
        const long long ch = t % c;
        t /= c;
        const long long ox = t % ow;
        t /= ow;
        const long long oy = t % oh;
        t /= oh;
        const long long oz = t % od;
        const long long b = t / od;
        long long z0, z1, y0, y1, x0, x1;
        gs::pool_span(oz, sd, fd, pd, d, &z0, &z1);
        gs::pool_span(oy, sh, ft, ph, h, &y0, &y1);
        gs::pool_span(ox, sw, fl, pw, w, &x0, &x1);
        T best = gs::limits<T>::neg_inf();
        T sum = T(0);
        long long best_k = -1;
        for (long long iz = z0; iz < z1; ++iz) {
            for (long long iy = y0; iy < y1; ++iy) {
                for (long long ix = x0; ix < x1; ++ix) {
                    const T v = x[(((b * d + iz) * h + iy) * w + ix) * c + ch];
                    if (mode == 0) {
                        if (best_k < 0 || v > best) {
                            best = v;
                            best_k = ((iz - (oz * sd - fd)) * ph + (iy - (oy * sh - ft))) * pw
                                     + (ix - (ox * sw - fl));
                        }
                    } else {
                        sum += v;
                    }
                }
            }
        }
        if (mode == 0) {
            y[li] = best;
            arg[li] = best_k;
        } else {
            y[li] = sum / T((z1 - z0) * (y1 - y0) * (x1 - x0));
        }
    }
}

template <typename T>
__global__ void pool3d_backward_ndhwc(const T* __restrict__ gy,
                                      const long long* __restrict__ arg, T* __restrict__ gx,
                                      long long n, long long d, long long h, long long w,
                                      long long c, long long pd, long long ph, long long pw,
                                      long long sd, long long sh, long long sw, long long fd,
                                      long long ft, long long fl, long long od, long long oh,
                                      long long ow, long long mode) {
    const long long total = n * d * h * w * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        long long t = li;
        const long long ch = t % c;
        t /= c;
        const long long ix = t % w;
        t /= w;
        const long long iy = t % h;
        t /= h;
        const long long iz = t % d;
        const long long b = t / d;
        long long z_first, z_last, y_first, y_last, x_first, x_last;
        gs::pool_windows(iz, sd, fd, pd, od, &z_first, &z_last);
        gs::pool_windows(iy, sh, ft, ph, oh, &y_first, &y_last);
        gs::pool_windows(ix, sw, fl, pw, ow, &x_first, &x_last);
        T acc = T(0);
        for (long long oz = z_first; oz <= z_last; ++oz) {
            for (long long oy = y_first; oy <= y_last; ++oy) {
                for (long long ox = x_first; ox <= x_last; ++ox) {
                    const long long o = (((b * od + oz) * oh + oy) * ow + ox) * c + ch;
                    if (mode == 0) {
                        const long long k = ((iz - (oz * sd - fd)) * ph + (iy - (oy * sh - ft)))
                                            * pw + (ix - (ox * sw - fl));
                        if (arg[o] == k) acc += gy[o];
                    } else {
                        long long z0, z1, y0, y1, x0, x1;
                        gs::pool_span(oz, sd, fd, pd, d, &z0, &z1);
                        gs::pool_span(oy, sh, ft, ph, h, &y0, &y1);
                        gs::pool_span(ox, sw, fl, pw, w, &x0, &x1);
                        acc += gy[o] / T((z1 - z0) * (y1 - y0) * (x1 - x0));
                    }
                }
            }
        }
        gx[li] = acc;
    }
}
