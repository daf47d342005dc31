/* Conv2D on the CPU: the convolution as an implicit GEMM, forward and backward.
 *
 * @host_functions: gs_conv2d_forward gs_conv2d_backward
 *
 * NumPy reference: gpuseq/backend/numpy_ops/conv.py::_conv_nhwc and
 * ::_conv_nhwc_backward (im2col copies, NumPy's BLAS, then bias and activation passes),
 * which run when this library is not available. The CUDA twin is kernels/conv_igemm.cu.
 *
 * The GEMMs are those of implicit_gemm.h (shared with conv1d.cpp): no column matrix;
 * the window of output (n, oy, ox) is KH runs of KW*C contiguous elements of the padded
 * channels-last input (KH*KW runs of C for a horizontal dilation > 1), read in place by
 * a register-tiled micro-kernel (6 rows x 16 float32 / 8 float64 columns, inner blocks
 * of 512, chunks of 144 rows); bias and activation applied per tile; rows split over
 * the worker pool. The backward pass is implicit_gemm_backward.h's (the weight gradient
 * summed in fixed groups of row blocks). Results are bitwise the same for any thread
 * count.
 *
 * Layouts (C-contiguous). N samples, C input channels, OUT filters, (KH, KW) taps,
 * strides (sh, sw), dilations (dh, dw), ekh = dh (KH - 1) + 1, ekw likewise:
 *   x    (N, Hp, Wp, C)    the input, zero-padded already
 *   w    (KH, KW, C, OUT)  the kernel, Keras layout
 *   bias (OUT) or null
 *   y    (N, OH, OW, OUT)  OH = (Hp - ekh) / sh + 1, OW = (Wp - ekw) / sw + 1
 *   gp   (N, Hg, Wg, OUT)  the gradient before the activation, zero-padded: element
 *                          (fh + oy, fw + ox) holds output (oy, ox), all others zero
 * Activation codes: host_math.h (0 linear, 1 relu, 2 sigmoid, 3 hard_sigmoid, 4 tanh);
 * any other code returns -1 and writes nothing. Every function exists for float32
 * (_f32) and float64 (_f64) and returns 0 when done.
 *
 * gs_conv2d_forward(const T* x, const T* w, const T* bias, T* y, n, hp, wp, c, kh, kw,
 *                   sh, sw, dh, dw, oh, ow, out, act, threads)
 *   y[n, oy, ox] = act(bias + sum_{ky, kx} x[n, oy sh + ky dh, ox sw + kx dw] @ w[ky, kx]).
 *
 * gs_conv2d_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias,
 *                    T* gw, T* gx, n, hp, wp, c, kh, kw, sh, sw, dh, dw, oh, ow, out,
 *                    fh, fw, hg, wg, h, wd, pt, pl, act, threads)
 *   gy, y (N, OH, OW, OUT): the output gradient and the forward output (y may be null
 *   for linear); x and w as in the forward pass. Writes
 *   gp[n, fh + oy, fw + ox] = gy[n, oy, ox] * act'(y[n, oy, ox]), the rest of gp zero
 *   (gp may be null when gx is);
 *   gbias (or null) = the sum of those rows over n, oy, ox;
 *   gw[ky, kx, ch, o] = sum over n, oy, ox of x[n, oy sh + ky dh, ox sw + kx dw, ch]
 *                       gp[n, fh + oy, fw + ox, o];
 *   gx (or null; strides 1 only, fh = ekh - 1, fw = ekw - 1) (N, h, wd, C), the gradient
 *   of the unpadded input (pt, pl: the padding above and left of it):
 *   gx[n, u, v] = sum_{iy, ix} gp[n, u + pt + iy dh, v + pl + ix dw] @ w[KH-1-iy, KW-1-ix]^T,
 *   which needs hg >= h + pt + ekh - 1 and wg >= wd + pl + ekw - 1 (the rows and columns
 *   past the output are zero). Returns -1 for gx with a stride other than 1.
 */
#include "implicit_gemm_backward.h"

extern "C" {

#define GS_CONV2D_ENTRIES(T, SUFFIX)                                                         \
    int gs_conv2d_forward##SUFFIX(const T* x, const T* w, const T* bias, T* y, long long n, \
                                  long long hp, long long wp, long long c, long long kh,    \
                                  long long kw, long long sh, long long sw, long long dh,   \
                                  long long dw, long long oh, long long ow, long long out,  \
                                  long long act, long long threads) {                       \
        const gs_igemm::Geom G{n, hp, wp, c, kh, kw, sh, sw, dh, dw, oh, ow, out};          \
        return gs_igemm::conv_forward<T>(x, w, bias, y, G, act, threads);                   \
    }                                                                                        \
    int gs_conv2d_backward##SUFFIX(const T* gy, const T* y, const T* x, const T* w, T* gp,  \
                                   T* gbias, T* gw, T* gx, long long n, long long hp,       \
                                   long long wp, long long c, long long kh, long long kw,    \
                                   long long sh, long long sw, long long dh, long long dw,  \
                                   long long oh, long long ow, long long out, long long fh, \
                                   long long fw, long long hg, long long wg, long long h,   \
                                   long long wd, long long pt, long long pl, long long act, \
                                   long long threads) {                                     \
        const gs_igemm::Geom G{n, hp, wp, c, kh, kw, sh, sw, dh, dw, oh, ow, out};          \
        const gs_igemm::GradPad P{fh, fw, hg, wg};                                          \
        return gs_igemm::conv_backward<T>(gy, y, x, w, gp, gbias, gw, gx, G, P, h, wd, pt,  \
                                          pl, act, threads);                                \
    }

GS_CONV2D_ENTRIES(float, _f32)
GS_CONV2D_ENTRIES(double, _f64)

#undef GS_CONV2D_ENTRIES

}  // extern "C"
