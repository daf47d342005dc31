#!/usr/bin/env bash
# Everything that only a GPU can show, in one go: the gpu-marked tests and the GPU
# benchmarks (gpuseq's cupy backend against Keras 3 and PyTorch on the same device).
#
#   bash benchmarks/run_gpu.sh [RESULTS_DIR] [PART ...]   (default: benchmarks/results, all)
#
# PART is one of env, tests, ops, bench, tf32, eager, nccl (the steps below, in that order), so
# that the run can be split over several shorter commands; every part writes its own
# files.
#
# Writes gpu_tests.log, gpu_env.json, vgg_gpu_ops.md (device time per op of the
# VGG-like model, by each convolution algorithm), {mlp,conv,rnn}_gpu.json (training
# steps replayed as CUDA graphs, the default), conv_gpu_tf32.json (gpuseq with
# TensorFloat-32 matrix products, the peers' default: the implicit-GEMM convolution),
# conv_gpu_tf32_im2col.json (TF32 through im2col), conv_gpu_igemm.json (the
# implicit GEMM in 3xTF32, float32 accuracy) and {mlp,conv,rnn}_gpu_eager.json
# (GPUSEQ_CUDA_GRAPHS=0: every step eager; gpuseq only) and distributed_nccl.txt (the
# data-parallel step through a one-rank NCCL communicator against plain training) into
# RESULTS_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results}"
shift || true
parts="${*:-env tests ops bench tf32 eager nccl}"
for p in $parts; do
    case "$p" in env|tests|ops|bench|tf32|eager|nccl) ;;
        *) echo "run_gpu.sh: unknown part '$p'; expected env, tests, ops, bench, tf32, eager or nccl" >&2
           exit 2 ;;
    esac
done
want() { [[ " $parts " == *" $1 "* ]]; }
mkdir -p "$out"
status=0
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

if want env; then
python - <<'PY' > "$out/gpu_env.json"
import json, platform
info = {"python": platform.python_version()}
try:
    import cupy
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    info.update(cupy=cupy.__version__, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                device=props["name"].decode(), memory_bytes=dev.mem_info[1])
except Exception as e:  # no CuPy or no device: say so in the file
    info["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(info, indent=2))
PY
cat "$out/gpu_env.json"
fi

if want tests; then
GPUSEQ_BACKEND=cupy python -m pytest -q -m gpu -p no:cacheprovider ${PYTEST_ARGS:-} 2>&1 \
    | tee "$out/gpu_tests.log"
status=${PIPESTATUS[0]}
fi

if want ops; then
python benchmarks/profile_gpu_ops.py > "$out/vgg_gpu_ops.md"
python benchmarks/profile_gpu_ops.py --conv-algorithm implicit_gemm >> "$out/vgg_gpu_ops.md"
python benchmarks/profile_gpu_ops.py --tf32 --conv-algorithm im2col >> "$out/vgg_gpu_ops.md"
python benchmarks/profile_gpu_ops.py --tf32 >> "$out/vgg_gpu_ops.md"
fi

if want bench; then
# training steps replayed as CUDA graphs (the default on the GPU), against the peers
python benchmarks/bench_mlp.py --backend cupy --out "$out/mlp_gpu.json"
python benchmarks/bench_conv.py --backend cupy --out "$out/conv_gpu.json"
python benchmarks/bench_rnn.py --backend cupy --out "$out/rnn_gpu.json"
fi

if want tf32; then
GPUSEQ_TF32=1 python benchmarks/bench_conv.py --backend cupy --peers --out "$out/conv_gpu_tf32.json"
GPUSEQ_TF32=1 GPUSEQ_CONV_ALGORITHM=im2col python benchmarks/bench_conv.py --backend cupy --peers \
    --out "$out/conv_gpu_tf32_im2col.json"
GPUSEQ_CONV_ALGORITHM=implicit_gemm python benchmarks/bench_conv.py --backend cupy --peers \
    --out "$out/conv_gpu_igemm.json"
fi

if want eager; then
# every step eager (GPUSEQ_CUDA_GRAPHS=0): what the graphs are worth; gpuseq only
export GPUSEQ_CUDA_GRAPHS=0
python benchmarks/bench_mlp.py --backend cupy --peers --out "$out/mlp_gpu_eager.json"
python benchmarks/bench_conv.py --backend cupy --peers --out "$out/conv_gpu_eager.json"
python benchmarks/bench_rnn.py --backend cupy --peers --out "$out/rnn_gpu_eager.json"
fi
if want nccl; then
# one GPU: the data-parallel step (buckets + NCCL allreduce) against plain training
unset GPUSEQ_CUDA_GRAPHS
python benchmarks/bench_distributed.py --nccl 2>&1 | tee "$out/distributed_nccl.txt"
fi
exit $status
