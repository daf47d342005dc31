/* Depthwise 2-D convolution (DepthwiseConv2D; the first half of SeparableConv1D/2D):
 * a grouped direct convolution, one group per input channel, no column matrix.
 *
 * @kernels: depthwise_conv2d_forward depthwise_conv2d_input_grad
 * @kernels: depthwise_conv2d_kernel_grad
 *
 * Every kernel is a template over the element type T (float or double). Arrays are
 * C-contiguous device memory of dtype T, channels last:
 *
 *   x, gx:      (n, h, w, c)             the image and its gradient
 *   k:          (kh, kw, c, m)           Keras's depthwise kernel, m = depth_multiplier
 *   y, gy:      (n, oh, ow, c * m)       output channel j = ch * m + mi
 *
 *   y[b, oy, ox, ch*m + mi] = sum_{ky, kx} x[b, iy, ix, ch] * k[ky, kx, ch, mi],
 *   iy = oy * sh - pt + ky * dh,  ix = ox * sw - pl + kx * dw  (outside the image: 0)
 *
 * Geometry arguments (long long): n, h, w, c, m, kh, kw, sh, sw, dh, dw, pt, pl, oh,
 * ow, with the meaning of kernels/conv.cu (pads at the bottom / right are implied by
 * oh, ow).
 *
 * depthwise_conv2d_forward(const T* x, const T* k, T* y, geometry)
 *   One thread per output element; consecutive threads take consecutive output
 *   channels (coalesced reads of x and k, coalesced writes). Taps summed in (ky, kx)
 *   order. Launch: 1-D grid-stride, block (256, 1, 1), over n * oh * ow * c * m.
 *   Reference: gpuseq/backend/numpy_ops/depthwise_conv.py::depthwise_conv2d_forward
 *
 * depthwise_conv2d_input_grad(const T* gy, const T* k, T* gx, geometry)
 *   The input gradient as a gather: one thread per image element (b, iy, ix, ch) sums
 *   gy[b, oy, ox, ch*m + mi] * k[ky, kx, ch, mi] over the (ky, kx, mi) that reach it,
 *   in that order. No atomics: deterministic. gx is fully written.
 *   Launch: 1-D grid-stride, block (256, 1, 1), over n * h * w * c.
 *   Reference: gpuseq/backend/numpy_ops/depthwise_conv.py::depthwise_conv2d_backward (gx)
 *
 * depthwise_conv2d_kernel_grad(const T* x, const T* gy, T* partial, geometry,
 *                              long long per)
 *   partial[s, ky, kx, j] = sum over the output pixels p (flat over (b, oy, ox)) in
 *   [s * per, min((s + 1) * per, n * oh * ow)) of x[pixel of p, tap (ky, kx), ch] *
 *   gy[p, j], j = ch * m + mi. The caller sums partial over s (a fixed split of the
 *   pixels, a function of the shapes only: deterministic).
 *   Block (32, 8, 1) (checked: __trap otherwise): threadIdx.x picks the channel j of a
 *   run of 32 (coalesced), threadIdx.y strides the pixels by 8; the 8 partial sums of
 *   a channel are added in ascending threadIdx.y order through shared memory.
 *   Grid (ceil(c * m / 32), kh * kw, splits).
 *   Reference: gpuseq/backend/numpy_ops/depthwise_conv.py::depthwise_conv2d_backward
 *   (gkernel)
 *
 * No kernel is launched when it has no elements.
 */
#include "gpuseq_common.cuh"

namespace gs {

// The input pixel (iy, ix) that output pixel (oy, ox) reads through tap (ky, kx), and
// whether it lies inside the image.
__device__ __forceinline__ bool depthwise_tap(long long oy, long long ox, long long ky,
                                              long long kx, long long h, long long w,
                                              long long sh, long long sw, long long dh,
                                              long long dw, long long pt, long long pl,
                                              long long* iy, long long* ix) {
    *iy = oy * sh - pt + ky * dh;
    *ix = ox * sw - pl + kx * dw;
    return *iy >= 0 && *iy < h && *ix >= 0 && *ix < w;
}

// The output coordinate o with o * s == t (t >= 0), or -1 when none lies in [0, limit).
__device__ __forceinline__ long long depthwise_source(long long t, long long s, long long limit) {
    const long long o = s == 1 ? t : t / s;
    return (o * s == t && o < limit) ? o : -1;
}

}  // namespace gs

template <typename T>
__global__ void depthwise_conv2d_forward(const T* __restrict__ x, const T* __restrict__ k,
                                         T* __restrict__ y, long long n, long long h,
                                         long long w, long long c, long long m, long long kh,
                                         long long kw, long long sh, long long sw,
                                         long long dh, long long dw, long long pt,
                                         long long pl, long long oh, long long ow) {
    const long long cm = c * m;
    const long long total = n * oh * ow * cm;
    GS_GRID_STRIDE_LOOP(i, total) {
        const long long j = i % cm;           // output channel ch * m + mi
        long long t = i / cm;
        const long long ox = t % ow;
        t /= ow;
        const long long oy = t % oh;
        const long long b = t / oh;
        const long long ch = j / m;
        T acc = T(0);
        for (long long ky = 0; ky < kh; ++ky) {
            for (long long kx = 0; kx < kw; ++kx) {
                long long iy, ix;
                if (gs::depthwise_tap(oy, ox, ky, kx, h, w, sh, sw, dh, dw, pt, pl, &iy, &ix))
                    acc += x[((b * h + iy) * w + ix) * c + ch] * k[(ky * kw + kx) * cm + j];
            }
        }
        y[i] = acc;
    }
}

template <typename T>
__global__ void depthwise_conv2d_input_grad(const T* __restrict__ gy, const T* __restrict__ k,
                                            T* __restrict__ gx, long long n, long long h,
                                            long long w, long long c, long long m,
                                            long long kh, long long kw, long long sh,
                                            long long sw, long long dh, long long dw,
                                            long long pt, long long pl, long long oh,
                                            long long ow) {
    const long long cm = c * m;
    const long long total = n * h * w * c;
    GS_GRID_STRIDE_LOOP(i, total) {
        const long long ch = i % c;
        long long t = i / c;
        const long long ix = t % w;
        t /= w;
        const long long iy = t % h;
        const long long b = t / h;
        T acc = T(0);
        for (long long ky = 0; ky < kh; ++ky) {
            const long long ty = iy + pt - ky * dh;   // = oy * sh
            if (ty < 0) break;                        // ty only falls as ky grows
            const long long oy = gs::depthwise_source(ty, sh, oh);
            if (oy < 0) continue;
            for (long long kx = 0; kx < kw; ++kx) {
                const long long tx = ix + pl - kx * dw;
                if (tx < 0) break;
                const long long ox = gs::depthwise_source(tx, sw, ow);
                if (ox < 0) continue;
                const T* g = gy + ((b * oh + oy) * ow + ox) * cm + ch * m;
                const T* kk = k + (ky * kw + kx) * cm + ch * m;
                for (long long mi = 0; mi < m; ++mi) acc += g[mi] * kk[mi];
            }
        }
        gx[i] = acc;
    }
}

template <typename T>
__global__ void depthwise_conv2d_kernel_grad(const T* __restrict__ x, const T* __restrict__ gy,
                                             T* __restrict__ partial, long long n, long long h,
                                             long long w, long long c, long long m,
                                             long long kh, long long kw, long long sh,
                                             long long sw, long long dh, long long dw,
                                             long long pt, long long pl, long long oh,
                                             long long ow, long long per) {
    if (blockDim.x != 32 || blockDim.y != 8 || blockDim.z != 1) __trap();
    __shared__ T sums[8][32];
    const long long cm = c * m;
    const long long j = (long long)blockIdx.x * 32 + threadIdx.x;
    const long long tap = blockIdx.y;
    const long long ky = tap / kw, kx = tap % kw;
    const long long pixels = n * oh * ow;
    const long long first = (long long)blockIdx.z * per;
    const long long last = first + per < pixels ? first + per : pixels;
    T acc = T(0);
    if (j < cm) {
        const long long ch = j / m;
        for (long long p = first + threadIdx.y; p < last; p += 8) {
            const long long ox = p % ow;
            const long long oy = (p / ow) % oh;
            const long long b = p / (ow * oh);
            long long iy, ix;
            if (gs::depthwise_tap(oy, ox, ky, kx, h, w, sh, sw, dh, dw, pt, pl, &iy, &ix))
                acc += x[((b * h + iy) * w + ix) * c + ch] * gy[p * cm + j];
        }
    }
    sums[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && j < cm) {
        T total = sums[0][threadIdx.x];
        for (long long r = 1; r < 8; ++r) total += sums[r][threadIdx.x];
        partial[((long long)blockIdx.z * kh * kw + tap) * cm + j] = total;
    }
}
