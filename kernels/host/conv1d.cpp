/* Conv1D on the CPU: the convolution as an implicit GEMM, forward and backward.
 *
 * @host_functions: gs_conv1d_forward gs_conv1d_backward
 *
 * NumPy reference: gpuseq/backend/numpy_ops/conv.py::_conv1d_nlc_forward and
 * ::_conv1d_nlc_backward (im2col copies, NumPy's BLAS, then bias and activation passes),
 * which run when this library is not available. The CUDA twin is kernels/conv.cu.
 *
 * No column matrix is built: the implicit GEMM of implicit_gemm.h and
 * implicit_gemm_backward.h (shared with conv2d.cpp, which describes the blocking) runs
 * the convolution as a 2-D one of height
 * 1. With channels last, the window of output step t of sample n is K runs of C
 * contiguous elements of the input (one run of K*C for dilation 1), read in place.
 *
 * Layouts (C-contiguous). N samples, C input channels, OUT filters, K taps, dilation d,
 * ek = d (K - 1) + 1:
 *   x    (N, Lp, C)    the input, zero-padded along the length already (Lp = L + pads)
 *   w    (K, C, OUT)   the kernel, Keras layout
 *   bias (OUT) or null
 *   y    (N, OL, OUT)  OL = (Lp - ek) / stride + 1
 *   gp   (N, Lg, OUT)  the gradient before the activation, zero-padded: row front + t
 *                      holds output step t, every other row is zero
 * Activation codes: host_math.h (0 linear, 1 relu, 2 sigmoid, 3 hard_sigmoid, 4 tanh);
 * any other code returns -1 and writes nothing. Every function exists for float32
 * (_f32) and float64 (_f64) and returns 0 when done.
 *
 * gs_conv1d_forward(const T* x, const T* w, const T* bias, T* y, n, lp, c, k, stride,
 *                   dil, ol, out, act, threads)
 *   y[n, t] = act(bias + sum_j x[n, t * stride + j * dil] @ w[j]).
 *
 * gs_conv1d_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias,
 *                    T* gw, T* gx, n, lp, c, k, stride, dil, ol, out, front, lg, length,
 *                    pa, act, threads)
 *   gy, y (N, OL, OUT): the output gradient and the forward output (y may be null for
 *   linear); x and w as in the forward pass. Writes
 *   gp[n, front + t] = gy[n, t] * act'(y[n, t]), the other rows of gp zero (gp may be
 *   null when gx is: nothing else reads it);
 *   gbias (or null) = the sum of those rows over n and t;
 *   gw[j, ch, o] = sum over n, t of x[n, t * stride + j * dil, ch] gp[n, front + t, o];
 *   gx (or null; stride 1 only, front = ek - 1) (N, length, C), the gradient of the
 *   unpadded input (pa = the padding before it):
 *   gx[n, s] = sum_i gp[n, s + pa + i * dil] @ w[K - 1 - i]^T, which needs
 *   lg >= length + pa + ek - 1 (the rows past the output are zero).
 */
#include "implicit_gemm_backward.h"

namespace {

using gs_igemm::GradPad;
using gs_igemm::Geom;

// The 2-D geometry (height 1) of a 1-D convolution.
Geom conv1d_geom(long long n, long long lp, long long c, long long k, long long stride,
                 long long dil, long long ol, long long out) {
    return Geom{n, 1, lp, c, 1, k, 1, stride, 1, dil, 1, ol, out};
}

template <typename T>
int conv1d_forward(const T* x, const T* w, const T* bias, T* y, long long n, long long lp,
                   long long c, long long k, long long stride, long long dil, long long ol,
                   long long out, long long act, long long threads) {
    const Geom G = conv1d_geom(n, lp, c, k, stride, dil, ol, out);
    return gs_igemm::conv_forward<T>(x, w, bias, y, G, act, threads);
}

template <typename T>
int conv1d_backward(const T* gy, const T* y, const T* x, const T* w, T* gp, T* gbias, T* gw,
                    T* gx, long long n, long long lp, long long c, long long k,
                    long long stride, long long dil, long long ol, long long out,
                    long long front, long long lg, long long length, long long pa,
                    long long act, long long threads) {
    const Geom G = conv1d_geom(n, lp, c, k, stride, dil, ol, out);
    const GradPad P{0, front, 1, lg};
    return gs_igemm::conv_backward<T>(gy, y, x, w, gp, gbias, gw, gx, G, P, 1, length, 0, pa,
                                      act, threads);
}

}  // namespace

extern "C" {

#define GS_CONV1D_ENTRIES(T, SUFFIX)                                                         \
    int gs_conv1d_forward##SUFFIX(const T* x, const T* w, const T* bias, T* y, long long n, \
                                  long long lp, long long c, long long k, long long stride,  \
                                  long long dil, long long ol, long long out, long long act, \
                                  long long threads) {                                       \
        return conv1d_forward<T>(x, w, bias, y, n, lp, c, k, stride, dil, ol, out, act,     \
                                 threads);                                                   \
    }                                                                                        \
    int gs_conv1d_backward##SUFFIX(const T* gy, const T* y, const T* x, const T* w, T* gp,  \
                                   T* gbias, T* gw, T* gx, long long n, long long lp,       \
                                   long long c, long long k, long long stride, long long dil,\
                                   long long ol, long long out, long long front,            \
                                   long long lg, long long length, long long pa,            \
                                   long long act, long long threads) {                      \
        return conv1d_backward<T>(gy, y, x, w, gp, gbias, gw, gx, n, lp, c, k, stride, dil, \
                                  ol, out, front, lg, length, pa, act, threads);            \
    }

GS_CONV1D_ENTRIES(float, _f32)
GS_CONV1D_ENTRIES(double, _f64)

#undef GS_CONV1D_ENTRIES

}  // extern "C"
