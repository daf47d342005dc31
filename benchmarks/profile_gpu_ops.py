"""Device time of each op of the VGG-like benchmark model, on the GPU.

    python benchmarks/profile_gpu_ops.py [--batch 32] [--tf32]
                                         [--conv-algorithm auto|im2col|implicit_gemm]

For every layer of bench_conv.py's vgg model at its training batch, times (CUDA
events, median of repeated runs) the forward and backward op, and for the
convolutions their parts: im2col, the GEMM, col2im of the im2col algorithm, or the
three kernels of the implicit GEMM (output, input gradient, kernel gradient with the
sum over its splits). With PyTorch installed it also times cuDNN's convolution of the
same shape in channels-last memory format (forward + both gradients) as the
reference of what the layer can cost. Prints one table; the sum over the layers is
the device time of one training step without the host's share.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402


def _median_ms(fn, repeat=20):
    from cupyx.profiler import benchmark
    r = benchmark(fn, n_repeat=repeat, n_warmup=3)
    return float(np.median(r.gpu_times[0])) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tf32", action="store_true", help="TF32 matrix products")
    ap.add_argument("--conv-algorithm", default="auto",
                    choices=["auto", "im2col", "implicit_gemm"])
    args = ap.parse_args()
    import cupy
    from gpuseq.backend import dispatch, session
    from gpuseq.backend.cupy_ops import conv, dense, pooling
    from gpuseq.backend.cupy_ops._gemm import matmul
    dispatch.set_backend("cupy")
    session.set_tf32(args.tf32)
    session.set_conv_algorithm(args.conv_algorithm)
    igemm = conv.use_implicit_gemm(np.float32, "channels_last")
    try:
        import torch
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    n = args.batch
    rows = []

    def rand(*shape):
        return cupy.asarray(rng.standard_normal(shape).astype(np.float32))

    h = 100
    for cin, cout, pool in [(3, 32, False), (32, 32, True), (32, 64, False), (64, 64, True)]:
        x, k, b = rand(n, h, h, cin), rand(3, 3, cin, cout) * 0.1, rand(cout)
        name = f"conv {h}x{h}x{cin}->{cout}"
        y, saved = conv.conv2d_forward(x, k, b, activation="relu", input_grad=cin != 3)
        gy = rand(*y.shape)
        fwd = _median_ms(lambda: conv.conv2d_forward(x, k, b, activation="relu"))
        bwd = _median_ms(lambda: conv.conv2d_backward(gy, saved, activation="relu",
                                                      input_grad=cin != 3))
        g = conv._geometry(x.shape, (3, 3), (1, 1), "valid", (1, 1), "channels_last")
        ksize, strides, dil, pads, out_hw = g
        if igemm:
            ga = conv._geom_args(x.shape, "channels_last", ksize, strides, pads, dil, out_hw)
            gz = cupy.ascontiguousarray(gy)
            t_out = _median_ms(lambda: conv._igemm_forward(x, k, ga))
            t_grads = _median_ms(lambda: conv._igemm_backward(x, k, gz, ga, cin != 3))
            t_kgrad = _median_ms(lambda: conv._igemm_backward(x, k, gz, ga, False))
            parts = (f"output {t_out:.3f}, kernel grad {t_kgrad:.3f}, "
                     f"input grad {t_grads - t_kgrad:.3f}")
        else:
            col = conv._im2col(x, "channels_last", ksize, strides, pads, dil, out_hw)
            t_im2col = _median_ms(lambda: conv._im2col(x, "channels_last", ksize, strides,
                                                       pads, dil, out_hw))
            wmat = k.reshape(-1, cout)
            t_gemm = _median_ms(lambda: matmul(col, wmat))
            t_col2im = _median_ms(lambda: conv._col2im(col, x.shape, "channels_last", ksize,
                                                       strides, pads, dil, out_hw))
            parts = f"im2col {t_im2col:.3f}, gemm {t_gemm:.3f}, col2im {t_col2im:.3f}"
        ref = ""
        if torch is not None:
            tx = torch.randn(n, cin, h, h, device="cuda").to(
                memory_format=torch.channels_last).requires_grad_(True)
            tc = torch.nn.Conv2d(cin, cout, 3).cuda().to(memory_format=torch.channels_last)
            ty = tc(tx)
            tg = torch.randn_like(ty)

            def step():
                out = torch.relu(tc(tx))
                out.backward(tg)
            ref = f"{_median_ms(step):.3f}"
        rows.append((name, fwd, bwd, parts, ref))
        h -= 2
        if pool:
            xp_ = rand(n, h, h, cout)
            yp, sp = pooling.pool2d_forward(xp_, (2, 2))
            gyp = rand(*yp.shape)
            rows.append((f"maxpool {h}x{h}x{cout}", _median_ms(
                lambda: pooling.pool2d_forward(xp_, (2, 2))), _median_ms(
                lambda: pooling.pool2d_backward(gyp, sp, (2, 2))), "", ""))
            h //= 2
    x, k, b = rand(n, h * h * 64), rand(h * h * 64, 256) * 0.01, rand(256)
    y, saved = dense.dense_forward(x, k, b, "relu")
    gy = rand(*y.shape)
    rows.append((f"dense {h * h * 64}->256", _median_ms(lambda: dense.dense_forward(x, k, b,
                                                                                    "relu")),
                 _median_ms(lambda: dense.dense_backward(gy, saved, "relu")), "", ""))
    print(f"batch {n}, tf32 {args.tf32}, convolutions by "
          f"{'implicit GEMM' if igemm else 'im2col'}, device times in ms (median)")
    print("| op | forward | backward | parts | cuDNN fwd+bwd (NHWC) |")
    print("|---|---:|---:|---|---:|")
    for name, f, bw, parts, ref in rows:
        print(f"| {name} | {f:.3f} | {bw:.3f} | {parts} | {ref} |")
    print(f"| total | {sum(r[1] for r in rows):.3f} | {sum(r[2] for r in rows):.3f} | | |")


if __name__ == "__main__":
    main()
