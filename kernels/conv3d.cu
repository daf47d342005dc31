/* vol2col and col2vol for 3-D convolution (and its transpose), channels last.
 *
 * @kernels: vol2col_ndhwc col2vol_ndhwc
 *
 * Both kernels are templates over the element type T (float or double). Arrays are
 * C-contiguous device memory of dtype T; sizes and geometry are long long
 * (numpy.int64). Geometry shared by both kernels:
 *
 *   n, d, h, w, c      batch, input depth, height, width, channels
 *   kd, kh, kw         kernel depth, height, width
 *   sd, sh, sw         strides;  dd, dh, dw  dilations (all >= 1)
 *   pd, pt, pl         zero padding at the front, top and left (the padding at the
 *                      other ends is implied by od, oh, ow: positions outside the
 *                      volume read as 0)
 *   od, oh, ow         output depth, height, width
 *   input voxel of output (oz, oy, ox) and kernel tap (kz, ky, kx):
 *       iz = oz * sd - pd + kz * dd,  iy = oy * sh - pt + ky * dh,
 *       ix = ox * sw - pl + kx * dw
 *
 * vol2col_ndhwc(const T* x, T* col, n, d, h, w, c, kd, kh, kw, sd, sh, sw, dd, dh, dw,
 *               pd, pt, pl, od, oh, ow)
 *   x: (n, d, h, w, c). col: (n * od * oh * ow, kd * kh * kw * c), i.e.
 *   (n, oz, oy, ox, kz, ky, kx, c) row-major, so that
 *   col @ kernel.reshape(kd * kh * kw * c, out) is the NDHWC output. One thread per
 *   column element; consecutive threads read consecutive channels.
 *   Reference: gpuseq/backend/numpy_ops/conv3d.py::vol2col_forward
 *
 * col2vol_ndhwc(const T* col, T* x, the same geometry)
 *   The adjoint of vol2col_ndhwc, as a gather: one thread per volume element
 *   (n, iz, iy, ix, c) sums the column entries that read it, in (kz, ky, kx) order.
 *   No atomics; the result is deterministic. x is fully written.
 *   Reference: gpuseq/backend/numpy_ops/conv3d.py::vol2col_backward
 *
 * Launch (both kernels): 1-D grid-stride loop over the output elements (the column
 * matrix for vol2col, the volume for col2vol), block = (256, 1, 1),
 * grid = (min(ceil(total / 256), 65535), 1, 1); not launched when there are none.
 * Index arithmetic is 64-bit.
 */
#include "gpuseq_common.cuh"

namespace gs {

// One axis of col2vol: the output index o whose tap k reads input position i, or -1
// when no output does (i + pad - k * dil is not a multiple of the stride in range).
__device__ __forceinline__ long long conv_source(long long i, long long pad, long long k,
                                                 long long dil, long long stride,
                                                 long long out) {
    const long long t = i + pad - k * dil;
    if (t < 0) return -1;
    const long long o = t / stride;
    return (o * stride == t && o < out) ? o : -1;
}

}  // namespace gs

template <typename T>
__global__ void vol2col_ndhwc(const T* __restrict__ x, T* __restrict__ col, long long n,
                              long long d, long long h, long long w, long long c,
                              long long kd, long long kh, long long kw, long long sd,
                              long long sh, long long sw, long long dd, long long dh,
                              long long dw, long long pd, long long pt, long long pl,
                              long long od, long long oh, long long ow) {
    const long long total = n * od * oh * ow * kd * kh * kw * c;
    GS_GRID_STRIDE_LOOP(li, total) {
        long long t = li;
        const long long ch = t % c;
        t /= c;
        const long long kx = t % kw;
        t /= kw;
        const long long ky = t % kh;
        t /= kh;
        const long long kz = t % kd;
        t /= kd;
        const long long ox = t % ow;
        t /= ow;
        const long long oy = t % oh;
        t /= oh;
        const long long oz = t % od;
        const long long b = t / od;
        const long long iz = oz * sd - pd + kz * dd;
        const long long iy = oy * sh - pt + ky * dh;
        const long long ix = ox * sw - pl + kx * dw;
        T v = T(0);
        if (iz >= 0 && iz < d && iy >= 0 && iy < h && ix >= 0 && ix < w)
            v = x[(((b * d + iz) * h + iy) * w + ix) * c + ch];
        col[li] = v;
    }
}

template <typename T>
__global__ void col2vol_ndhwc(const T* __restrict__ col, T* __restrict__ x, long long n,
                              long long d, long long h, long long w, long long c,
                              long long kd, long long kh, long long kw, long long sd,
                              long long sh, long long sw, long long dd, long long dh,
                              long long dw, long long pd, long long pt, long long pl,
                              long long od, long long oh, long long ow) {
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
        T acc = T(0);
        for (long long kz = 0; kz < kd; ++kz) {
            const long long oz = gs::conv_source(iz, pd, kz, dd, sd, od);
            if (oz < 0) continue;
            for (long long ky = 0; ky < kh; ++ky) {
                const long long oy = gs::conv_source(iy, pt, ky, dh, sh, oh);
                if (oy < 0) continue;
                for (long long kx = 0; kx < kw; ++kx) {
                    const long long ox = gs::conv_source(ix, pl, kx, dw, sw, ow);
                    if (ox < 0) continue;
                    const long long row = ((b * od + oz) * oh + oy) * ow + ox;
                    acc += col[((row * kd + kz) * kh + ky) * kw * c + kx * c + ch];
                }
            }
        }
        x[li] = acc;
    }
}
