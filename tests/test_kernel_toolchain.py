"""The kernel toolchain: loader, launch checks, the CPU emulation of CUDA, the compile check.

* The loader finds kernels/*.cu, reads each kernel's parameter list and rejects
  wrong launches (dtype, contiguity, scalar types, configuration) with clear
  errors on every kernel backend.
* The emulation runs real CUDA semantics: threads of a block interleave at
  barriers, 3-D grids and blocks, barrier reductions, atomics, and reports the
  bugs a GPU would hide (divergent barriers, early exits, __trap).
* The compile check builds every kernel for sm_80 and sm_90 with NVRTC (as CuPy
  does at run time) or nvcc, and a broken source fails it.
"""
import fnmatch
import inspect
import pathlib
import threading
import tomllib

import numpy as np
import pytest

from gpuseq.backend import cuda_emulation, dispatch, kernel_check
from gpuseq.backend import kernel_loader as kl

REPO = pathlib.Path(__file__).resolve().parents[1]
needs_gxx = pytest.mark.skipif(not cuda_emulation.available(),
                               reason="the CUDA launch emulation needs a C++ compiler (g++)")


@pytest.fixture(params=["emulated", pytest.param("cupy", marks=pytest.mark.gpu)])
def kernel_backend(request):
    """The backends that launch kernels: emulated (g++) and cupy (a GPU)."""
    if request.param == "cupy":
        ok, why = dispatch._cupy_probe()
        if ok is None:
            pytest.skip(f"no CUDA device for the cupy backend: {why}")
    elif not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++) on PATH")
    with dispatch.use_backend(request.param):
        yield request.param


def _dev(a):
    return dispatch.to_device(a)


# ---------------------------------------------------------------------------
# Loader: sources, kernel lists, lookups
# ---------------------------------------------------------------------------

def test_kernel_sources_are_found():
    d = kl.kernels_dir()
    assert (d / "gpuseq_common.cuh").is_file()
    assert (d / "emulation" / "cuda_emulation.h").is_file()
    assert {"activations", "softmax_cross_entropy", "optimizers"} <= set(kl.sources())


def test_name_expressions_instantiate_float_and_double():
    exprs = kl.name_expressions("activations")
    assert "activation_forward<float>" in exprs and "activation_forward<double>" in exprs
    assert len(exprs) == 2 * len(kl.kernel_names("activations"))


def test_get_kernel_reads_the_parameter_list():
    k = kl.get_kernel("activations", "activation_forward", np.float32)
    assert k.name_expression == "activation_forward<float>"
    assert [(p.name, p.dtype.name, p.pointer, p.const) for p in k.params] == [
        ("x", "float32", True, True), ("y", "float32", True, False),
        ("n", "int64", False, False), ("kind", "int64", False, False)]
    assert "const float* x" in repr(k)
    k64 = kl.get_kernel("softmax_cross_entropy", "sparse_softmax_ce_forward", "float64")
    assert k64.params[1].dtype == np.int64 and k64.params[-1].dtype == np.float64


def test_unknown_kernel_is_reported():
    with pytest.raises(kl.KernelNotFoundError, match=r"Unknown kernel 'gelu_forward'.*"
                                                     r"activation_forward"):
        kl.get_kernel("activations", "gelu_forward", np.float32)


def test_unknown_source_is_reported():
    with pytest.raises(kl.KernelNotFoundError, match=r"Unknown kernel source.*"
                                                     r"Received: source='convolutions'"):
        kl.get_kernel("convolutions", "im2col", np.float32)


def test_unsupported_dtype_is_reported():
    with pytest.raises(TypeError, match=r"float32 and float64 only.*Received: dtype="):
        kl.get_kernel("activations", "activation_forward", np.float16)


def test_listed_kernel_without_declaration_is_reported():
    text = ("// @kernels: present missing\n"
            "template <typename T> __global__ void present(T* x, long long n) {}\n")
    with pytest.raises(kl.KernelSourceError, match=r"'missing' is listed.*no declaration"):
        kl.parse_signatures(text)


def test_unreadable_parameter_type_is_reported():
    text = ("// @kernels: k\n"
            "template <typename T> __global__ void k(T* x, size_t n) {}\n")
    with pytest.raises(kl.KernelSourceError, match=r"`n` has the type `size_t`"):
        kl.parse_signatures(text)


_VARIANTS_SOURCE = """// @kernels: scale<float|double, 2|3, false> scale<float, 2|3, true>
// @kernels: plain
template <typename T, long long K, bool NEGATE>
__global__ void scale(T* y, long long n) {
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = NEGATE ? -K * y[i] : K * y[i];
}
template <typename T> __global__ void plain(T* y) { y[0] = T(1); }
"""


def test_template_variants_are_listed_on_the_kernels_lines():
    assert kl.kernel_names_in(_VARIANTS_SOURCE) == ("scale", "plain")
    assert kl.name_expressions_in(_VARIANTS_SOURCE) == [
        "scale<float, 2, false>", "scale<float, 3, false>", "scale<double, 2, false>",
        "scale<double, 3, false>", "scale<float, 2, true>", "scale<float, 3, true>",
        "plain<float>", "plain<double>"]


def test_conv_igemm_instances_are_picked_by_template_arguments():
    exprs = kl.name_expressions("conv_igemm")
    assert len(exprs) == 18 and "conv_igemm_kernel_grad<double, 64, false>" in exprs
    k = kl.get_kernel("conv_igemm", "conv_igemm_forward", np.float32, 64, True)
    assert k.name_expression == "conv_igemm_forward<float, 64, true>"
    assert k.template_args == ("64", "true")
    same = kl.get_kernel("conv_igemm", "conv_igemm_forward", "float32", "64", "true")
    assert same.name_expression == k.name_expression and same.params == k.params
    assert [p.name for p in k.params[:5]] == ["x", "wmat", "bias", "pre", "y"]


def test_an_instance_not_listed_is_reported():
    with pytest.raises(kl.KernelNotFoundError,
                       match=r"not instantiated as <double, 64, true>.*<double, 64, false>.*"
                             r"Received: dtype=float64, template_args=\(64, True\)"):
        kl.get_kernel("conv_igemm", "conv_igemm_forward", np.float64, 64, True)
    with pytest.raises(kl.KernelNotFoundError, match=r"not instantiated as <float>"):
        kl.get_kernel("conv_igemm", "conv_igemm_forward", np.float32)
    with pytest.raises(kl.KernelNotFoundError, match=r"not instantiated as <float, 64>"):
        kl.get_kernel("activations", "activation_forward", np.float32, 64)
    with pytest.raises(TypeError, match=r"a bool, an int or its C\+\+ spelling.*1.5"):
        kl.get_kernel("conv_igemm", "conv_igemm_forward", np.float32, 1.5, True)


@pytest.mark.parametrize("line, message", [
    ("k<float, 3>", r"declared with 1 template parameter\(s\).*<float, 3>"),
    ("k<int>", r"first template argument is the element type.*<int>"),
    ("k<float, 3 + 1>", r"cannot read the template arguments `<float, 3 \+ 1>`"),
])
def test_a_wrong_template_instance_is_reported(line, message):
    text = f"// @kernels: {line}\ntemplate <typename T> __global__ void k(T* y) {{}}\n"
    with pytest.raises(kl.KernelSourceError, match=message):
        kl.name_expressions_in(text)


@needs_gxx
def test_a_template_variant_runs_under_the_emulation(tmp_path):
    src = tmp_path / "variants.cu"
    src.write_text(_VARIANTS_SOURCE)
    exprs = kl.name_expressions_in(_VARIANTS_SOURCE)
    mod = cuda_emulation.load_module(src, exprs)
    y = np.arange(5, dtype=np.float32)
    mod.get_function("scale<float, 3, true>")((1, 1, 1), (4, 1, 1), (y, np.int64(5)))
    np.testing.assert_array_equal(y, -3 * np.arange(5, dtype=np.float32))
    assert mod.get_function("scale<double, 2, false>").signature == "float64*,int64"


def test_launch_shape_helpers():
    assert kl.grid_1d(1) == (1, 1, 1)
    assert kl.grid_1d(256) == (1, 1, 1) and kl.grid_1d(257) == (2, 1, 1)
    assert kl.grid_1d(10 ** 12) == (kl.MAX_BLOCKS_1D, 1, 1)
    assert [kl.row_block(c)[0] for c in (1, 32, 33, 200, 256, 5000)] == [32, 32, 64, 256, 256, 256]


def test_cupy_ops_mirror_numpy_ops_name_for_name():
    from gpuseq.backend import cupy_ops, numpy_ops
    assert cupy_ops.NAME == "cupy"
    assert sorted(cupy_ops.OPS) == sorted(numpy_ops.OPS)
    for name in numpy_ops.OPS:
        ref = inspect.signature(getattr(numpy_ops, name))
        assert inspect.signature(getattr(cupy_ops, name)) == ref, (
            f"cupy_ops.{name} must have the signature of numpy_ops.{name}{ref}")


def test_every_kernel_file_ships_in_the_wheel():
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["gpuseq.kernels"]
    for path in (REPO / "kernels").rglob("*"):
        rel = path.relative_to(REPO / "kernels").as_posix()
        if (path.is_dir() or "__pycache__" in rel or rel == "__init__.py"
                or path.name.startswith(".") or path.name.endswith("~")):
            continue
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), (
            f"kernels/{rel} is not in the package-data of gpuseq.kernels: it would be missing "
            "from the wheel")


# ---------------------------------------------------------------------------
# launch(): argument and configuration checks, on every kernel backend
# ---------------------------------------------------------------------------

def _act_kernel(dtype=np.float32):
    return kl.get_kernel("activations", "activation_forward", dtype)


def test_launch_runs_with_python_scalars_converted(kernel_backend):
    x = _dev(np.linspace(-2, 2, 300).astype(np.float32))
    y = _dev(np.zeros(300, np.float32))
    kl.launch(_act_kernel(), kl.grid_1d(300), 256, (x, y, 300, 1))   # Python ints -> int64
    np.testing.assert_array_equal(dispatch.to_host(y), np.maximum(dispatch.to_host(x), 0))


def test_launch_rejects_wrong_dtype(kernel_backend):
    x = _dev(np.zeros(8, np.float64))
    y = _dev(np.zeros(8, np.float32))
    with pytest.raises(TypeError, match=r"argument 0 \(`const float\* x`\).*must have dtype "
                                        r"float32.*Received: dtype=float64"):
        kl.launch(_act_kernel(), 1, 32, (x, y, 8, 1))


def test_launch_rejects_non_contiguous_array(kernel_backend):
    x = _dev(np.zeros((8, 2), np.float32))[:, 0]
    y = _dev(np.zeros(8, np.float32))
    with pytest.raises(ValueError, match=r"`const float\* x`.*must be C-contiguous.*strides="):
        kl.launch(_act_kernel(), 1, 32, (x, y, 8, 1))


def test_launch_rejects_a_host_array_or_a_list(kernel_backend):
    y = _dev(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"argument 0 .* must be a (cupy|numpy)\.ndarray"):
        kl.launch(_act_kernel(), 1, 32, ([0.0, 1.0, 2.0, 3.0], y, 4, 1))
    if kernel_backend == "cupy":
        with pytest.raises(TypeError, match=r"must be a cupy\.ndarray on the 'cupy' backend"):
            kl.launch(_act_kernel(), 1, 32, (np.zeros(4, np.float32), y, 4, 1))


def test_launch_rejects_wrong_scalar_types(kernel_backend):
    x = _dev(np.zeros(4, np.float32))
    y = _dev(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"`long long n`.*numpy\.int64 scalar.*numpy\.int32"):
        kl.launch(_act_kernel(), 1, 32, (x, y, np.int32(4), 1))
    with pytest.raises(TypeError, match=r"`long long n`.*a Python float would change"):
        kl.launch(_act_kernel(), 1, 32, (x, y, 4.0, 1))
    scale = kl.get_kernel("batch_norm", "batch_norm_scale", np.float32)
    bufs = (x, x.copy(), y, y.copy(), 4)
    with pytest.raises(TypeError, match=r"`float epsilon`.*numpy\.float32 scalar.*numpy\.float64"):
        kl.launch(scale, 1, 32, (*bufs, np.float64(0.1), 1))
    with pytest.raises(TypeError, match=r"`float epsilon`.*scalar parameter.*Received: type="):
        kl.launch(scale, 1, 32, (*bufs, x, 1))
    sgd = kl.get_kernel("optimizers", "sgd_update", np.float32)
    with pytest.raises(TypeError, match=r"`const double\* scalars`.*dtype float64"):
        kl.launch(sgd, 1, 32, (x, x.copy(), y, 4, _dev(np.zeros(2, np.float32)), 0))


def test_launch_rejects_wrong_argument_count(kernel_backend):
    x = _dev(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"takes 4 arguments.*Received: 3 arguments"):
        kl.launch(_act_kernel(), 1, 32, (x, x, 4))


def test_launch_rejects_invalid_configurations(kernel_backend):
    x = _dev(np.zeros(4, np.float32))
    y = _dev(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"grid dimension x must be in \[1, .*Skip the launch"):
        kl.launch(_act_kernel(), 0, 32, (x, y, 0, 1))
    with pytest.raises(ValueError, match=r"at most 1024 threads, this one has 2048"):
        kl.launch(_act_kernel(), 1, (64, 32), (x, y, 4, 1))
    with pytest.raises(ValueError, match=r"block dimension z must be in \[1, 64\]"):
        kl.launch(_act_kernel(), 1, (1, 1, 65), (x, y, 4, 1))
    with pytest.raises(TypeError, match=r"`block` must be an int or a tuple"):
        kl.launch(_act_kernel(), 1, 32.0, (x, y, 4, 1))


def test_launch_rejects_read_only_output():
    if not cuda_emulation.available():
        pytest.skip("needs g++")
    with dispatch.use_backend("emulated"):
        x = np.zeros(4, np.float32)
        y = np.zeros(4, np.float32)
        y.flags.writeable = False
        with pytest.raises(ValueError, match=r"`float\* y`.*is written by the kernel.*read-only"):
            kl.launch(_act_kernel(), 1, 32, (x, y, 4, 1))
        x.flags.writeable = False                # a const input may be read-only
        kl.launch(_act_kernel(), 1, 32, (x, np.zeros(4, np.float32), 4, 1))


def test_numpy_backend_launches_nothing(numpy_backend):
    x = np.zeros(4, np.float32)
    with pytest.raises(RuntimeError, match=r"only on the 'cupy' and 'emulated' backends"):
        kl.launch(_act_kernel(), 1, 32, (x, x.copy(), 4, 1))


@needs_gxx
@pytest.mark.parametrize("source", kl.sources())
def test_compiled_signatures_equal_the_loaders_reading(source):
    mod = cuda_emulation.load_module(kl.source_path(source), kl.name_expressions(source),
                                     include_dirs=(kl.kernels_dir(),))
    dtypes = {"float": np.float32, "double": np.float64}
    for name, instances in kl.kernel_instances(source).items():
        for element_type, *template_args in instances:
            k = kl.get_kernel(source, name, dtypes[element_type], *template_args)
            assert mod.get_function(k.name_expression).signature == k.signature()


# ---------------------------------------------------------------------------
# The CUDA emulation itself, on kernels written to exercise it
# ---------------------------------------------------------------------------

FEATURES_CU = r"""
// Kernels that exercise the CUDA emulation (valid CUDA: the compile check builds them too).
// @kernels: ring_shift block_ids barrier_reductions atomic_sum
// @kernels: early_exit split_barrier trap_in_block_one
#include "gpuseq_common.cuh"

// y = 2 x, computed through shared memory so that every step needs the barrier:
// each thread reads what its neighbour wrote before the barrier.
template <typename T>
__global__ void ring_shift(const T* x, T* y, long long n) {
    __shared__ T buf[256];
    const unsigned t = threadIdx.x, B = blockDim.x;
    const long long i = (long long)blockIdx.x * B + t;
    buf[t] = i < n ? x[i] : T(0);
    __syncthreads();
    const T v = buf[(t + 1) % B];
    __syncthreads();
    buf[t] = v * T(2);
    __syncthreads();
    if (i < n) y[i] = buf[(t + B - 1) % B];
}

// out[global thread id] = 1000 * linear block id + linear thread id, on a 3-D launch.
template <typename T>
__global__ void block_ids(long long* out) {
    const long long gx = gridDim.x, gy = gridDim.y, bx = blockDim.x, by = blockDim.y;
    const long long b = blockIdx.x + gx * (blockIdx.y + gy * blockIdx.z);
    const long long t = threadIdx.x + bx * (threadIdx.y + by * threadIdx.z);
    const long long nt = (long long)blockDim.x * blockDim.y * blockDim.z;
    out[b * nt + t] = 1000 * b + t;
}

template <typename T>
__global__ void barrier_reductions(long long* out) {
    const int c = __syncthreads_count(threadIdx.x % 3 == 0);
    const int a = __syncthreads_and(threadIdx.x < 1000);
    const int o = __syncthreads_or(threadIdx.x == 5);
    const int none = __syncthreads_or(0);
    if (threadIdx.x == 0) {
        out[4 * blockIdx.x + 0] = c;
        out[4 * blockIdx.x + 1] = a;
        out[4 * blockIdx.x + 2] = o;
        out[4 * blockIdx.x + 3] = none;
    }
}

template <typename T>
__global__ void atomic_sum(const T* x, T* total, long long n) {
    GS_GRID_STRIDE_LOOP(i, n) { atomicAdd(total, x[i]); }
}

template <typename T>
__global__ void early_exit(T* y) {
    if (threadIdx.x == 3) return;
    __syncthreads();
    y[threadIdx.x] = T(1);
}

template <typename T>
__global__ void split_barrier(T* y) {
    if (threadIdx.x < 16) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    y[threadIdx.x] = T(1);
}

template <typename T>
__global__ void trap_in_block_one(T* y) {
    if (blockIdx.x == 1 && threadIdx.x == 2) __trap();
    y[threadIdx.x] = T(1);
}
"""


@pytest.fixture(scope="module")
def features_cu(tmp_path_factory):
    path = tmp_path_factory.mktemp("emulation") / "emulation_features.cu"
    path.write_text(FEATURES_CU)
    return path


@pytest.fixture(scope="module")
def features(features_cu):
    if not cuda_emulation.available():
        pytest.skip("the CUDA launch emulation needs a C++ compiler (g++)")
    names = kl.parse_signatures(FEATURES_CU)
    exprs = [f"{n}<{t}>" for n in names for t in ("float", "double")]
    return cuda_emulation.load_module(features_cu, exprs, include_dirs=(kl.kernels_dir(),))


@pytest.mark.parametrize("n,block", [(1, 32), (255, 256), (256, 256), (257, 256), (1000, 64)])
def test_threads_of_a_block_interleave_at_barriers(features, n, block):
    x = np.arange(1, n + 1, dtype=np.float32)
    y = np.zeros(n, np.float32)
    features.get_function("ring_shift<float>")(-(-n // block), block, (x, y, np.int64(n)))
    np.testing.assert_array_equal(y, 2 * x)


def test_three_dimensional_grids_and_blocks(features):
    grid, block = (3, 2, 2), (4, 3, 2)
    nb, nt = 12, 24
    out = np.full(nb * nt, -1, np.int64)
    features.get_function("block_ids<double>")(grid, block, (out,))
    k = np.arange(nb * nt)
    np.testing.assert_array_equal(out, 1000 * (k // nt) + k % nt)


def test_a_block_of_1024_threads(features):
    out = np.full(2 * 1024, -1, np.int64)
    features.get_function("block_ids<float>")((2, 1, 1), (32, 32, 1), (out,))
    k = np.arange(2 * 1024)
    np.testing.assert_array_equal(out, 1000 * (k // 1024) + k % 1024)


def test_the_emulation_rejects_a_block_larger_than_cuda_allows(features):
    out = np.zeros(4096, np.int64)
    with pytest.raises(cuda_emulation.EmulatedLaunchError, match=r"invalid launch configuration"):
        features.get_function("block_ids<float>")(1, 2048, (out,))


def test_barrier_reductions(features):
    out = np.zeros(8, np.int64)
    features.get_function("barrier_reductions<float>")(2, 64, (out,))
    np.testing.assert_array_equal(out.reshape(2, 4), [[22, 1, 1, 0], [22, 1, 1, 0]])


def test_atomic_add_across_blocks(features):
    x = np.arange(1000, dtype=np.float64)
    total = np.zeros(1, np.float64)
    features.get_function("atomic_sum<double>")(4, 128, (x, total, np.int64(1000)))
    assert total[0] == x.sum()


def test_early_return_before_a_barrier_is_reported(features):
    with pytest.raises(cuda_emulation.EmulatedLaunchError,
                       match=r"__syncthreads\(\) at .*emulation_features\.cu:\d+ was reached by "
                             r"31 of the 32 threads of block \(0, 0, 0\)"):
        features.get_function("early_exit<float>")(1, 32, (np.zeros(32, np.float32),))


def test_barriers_in_divergent_code_are_reported(features):
    with pytest.raises(cuda_emulation.EmulatedLaunchError, match=r"waited at different barriers"):
        features.get_function("split_barrier<float>")(1, 32, (np.zeros(32, np.float32),))


def test_trap_is_reported_and_the_emulation_recovers(features):
    with pytest.raises(cuda_emulation.EmulatedLaunchError,
                       match=r"__trap\(\) in block \(1, 0, 0\)"):
        features.get_function("trap_in_block_one<float>")(3, 32, (np.zeros(32, np.float32),))
    test_threads_of_a_block_interleave_at_barriers(features, 257, 256)


def test_emulated_function_checks_types_like_the_real_signature(features):
    f = features.get_function("ring_shift<float>")
    assert f.signature == "const float32*,float32*,int64"
    x = np.zeros(4, np.float32)
    with pytest.raises(TypeError, match=r"must be a numpy\.int64 scalar"):
        f(1, 32, (x, x.copy(), 4))
    with pytest.raises(TypeError, match=r"must have dtype float32"):
        f(1, 32, (x.astype(np.float64), x.copy(), np.int64(4)))


def test_concurrent_launches_from_several_threads(features):
    f = features.get_function("ring_shift<double>")
    errors = []

    def work(seed):
        try:
            x = np.random.default_rng(seed).standard_normal(777)
            for _ in range(5):
                y = np.zeros_like(x)
                f(4, 256, (x, y, np.int64(777)))
                np.testing.assert_array_equal(y, 2 * x)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@needs_gxx
def test_emulation_builds_are_cached_by_content(tmp_path):
    src = tmp_path / "cached.cu"
    one = "// @kernels: k\ntemplate <typename T> __global__ void k(T* y) { y[0] = T(1); }\n"
    src.write_text(one)
    first = cuda_emulation.build_library(src, ["k<float>"])
    assert cuda_emulation.build_library(src, ["k<float>"]) == first
    src.write_text(one.replace("T(1)", "T(2)"))
    assert cuda_emulation.build_library(src, ["k<float>"]) != first


@needs_gxx
def test_features_outside_the_emulated_subset_fail_to_build(tmp_path):
    src = tmp_path / "shuffle.cu"
    src.write_text("template <typename T> __global__ void k(T* y) {\n"
                   "    y[threadIdx.x] = __shfl_down_sync(0xffffffffu, y[threadIdx.x], 1);\n}\n")
    with pytest.raises(cuda_emulation.EmulationBuildError, match=r"__shfl_down_sync"):
        cuda_emulation.build_library(src, ["k<float>"])


# ---------------------------------------------------------------------------
# The compile check: every kernel for sm_80 and sm_90, as CuPy compiles it
# ---------------------------------------------------------------------------

TOOL, _TOOL_HANDLE = kernel_check.available_tool()
needs_cuda_compiler = pytest.mark.skipif(
    TOOL is None, reason=f"no CUDA compiler for the compile check: {_TOOL_HANDLE}")


@pytest.fixture(scope="module")
def compile_results():
    return {(r.source, r.arch): r for r in kernel_check.check_all()}


@needs_cuda_compiler
@pytest.mark.parametrize("arch", kernel_check.ARCHS)
@pytest.mark.parametrize("source", kl.sources())
def test_kernel_source_compiles_for_the_gpu(compile_results, source, arch):
    res = compile_results[(source + ".cu", arch)]
    assert res.ok, f"{res.summary()}\n{res.log}"
    if res.tool == "nvrtc":
        assert sorted(res.lowered_names) == sorted(kl.name_expressions(source))


def _tools():
    return [pytest.param(t, marks=pytest.mark.skipif(
        (kernel_check.find_nvrtc() if t == "nvrtc" else kernel_check.find_nvcc()) is None,
        reason=f"{t} not found")) for t in ("nvrtc", "nvcc")]


@pytest.mark.parametrize("tool", _tools())
def test_a_syntax_error_in_a_kernel_fails_the_check(tmp_path, tool):
    src = tmp_path / "broken.cu"
    src.write_text("// @kernels: broken\n#include \"gpuseq_common.cuh\"\n"
                   "template <typename T>\n__global__ void broken(T* y, long long n) {\n"
                   "    GS_GRID_STRIDE_LOOP(i, n) { y[i] = T(1) }\n}\n")
    res = kernel_check.check_source(src, 80, tool)
    assert not res.ok
    assert "broken.cu" in res.log and "error" in res.log


@pytest.mark.parametrize("tool", _tools())
def test_an_undeclared_identifier_fails_the_check(tmp_path, tool):
    src = tmp_path / "undeclared.cu"
    src.write_text("// @kernels: k\ntemplate <typename T>\n"
                   "__global__ void k(T* y) { y[0] = undeclared_helper(T(1)); }\n")
    res = kernel_check.check_source(src, 90, tool)
    assert not res.ok and "undeclared_helper" in res.log


@needs_cuda_compiler
def test_a_listed_kernel_that_is_not_declared_fails_the_check(tmp_path):
    src = tmp_path / "missing.cu"
    src.write_text("// @kernels: k gone\ntemplate <typename T> __global__ void k(T* y) {}\n")
    res = kernel_check.check_source(src, 80)
    assert not res.ok and "'gone' is listed" in res.log


@needs_cuda_compiler
def test_the_emulation_test_kernels_are_valid_cuda(features_cu):
    res = kernel_check.check_source(features_cu, 80)
    assert res.ok, res.log


@needs_cuda_compiler
def test_template_variants_compile_and_report_their_resources(tmp_path):
    src = tmp_path / "variants.cu"
    src.write_text(_VARIANTS_SOURCE)
    res = kernel_check.check_source(src, 80, resources=True)
    assert res.ok, res.log
    assert not res.cached
    if res.tool == "nvrtc":
        assert sorted(res.resources) == sorted(kl.name_expressions_in(_VARIANTS_SOURCE))
    assert len(res.resources) == 8
    assert all(r.registers > 0 and r.spill_stores == 0 for r in res.resources.values())
    assert len(res.resource_lines()) == 8


def test_ptxas_resource_lines_are_read():
    log = ("ptxas info    : Compiling entry function '_Z1kIfEvPT_' for 'sm_80'\n"
           "ptxas info    : Function properties for _Z1kIfEvPT_\n"
           "    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
           "ptxas info    : Used 40 registers, 360 bytes cmem[0]\n")
    got = kernel_check.parse_ptxas_resources(log, {"k<float>": "_Z1kIfEvPT_"})
    assert got == {"k<float>": kernel_check.Resources(40, 16, 8, 4)}


@needs_cuda_compiler
def test_successful_compiles_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUSEQ_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "small.cu"
    src.write_text("// @kernels: k\ntemplate <typename T> __global__ void k(T* y) { y[0] = T(1); }\n")
    first = kernel_check.check_source(src, 80)
    again = kernel_check.check_source(src, 80)
    assert first.ok and not first.cached and again.ok and again.cached
    assert again.lowered_names == first.lowered_names
    assert not kernel_check.check_source(src, 80, use_cache=False).cached
    src.write_text(src.read_text().replace("T(1)", "T(2)"))
    assert not kernel_check.check_source(src, 80).cached
