"""The asynchronous global-to-shared copies of kernels/async_copy.cuh (cp.async): what a
copy, its zero fill and the group waits deliver on the GPU and under the emulation,
and the two moments at which the emulation lands a copy, which is what lets it expose
a missing wait or a stage overwritten while another thread still reads it.
"""
import numpy as np
import pytest

from gpuseq.backend import cuda_emulation, dispatch
from gpuseq.backend import kernel_loader as kl

PROBE_CU = r"""
// @kernels: two_groups
#include "gpuseq_common.cuh"
#include "async_copy.cuh"

// One block of 32 threads. Thread i copies src[4 i .. 4 i + 3] (16 bytes; zeros when
// i is odd and `zero_odd`) as group 1 and src[128 + i] (4 bytes) as group 2 into
// shared memory, then records what it sees of both before any wait (out[0]), after
// waiting for all but the newest group (out[1]) and after waiting for all (out[2]).
// Each record is 160 floats: the 128 of group 1, then the 32 of group 2.
struct alignas(16) Quads {
    float v[128];
};

template <typename T>
__global__ void two_groups(const float* src, float* out, long long zero_odd) {
    __shared__ Quads shared_quads;
    float* quads = shared_quads.v;
    __shared__ float singles[32];
    const long long i = threadIdx.x;
    for (long long e = 0; e < 4; ++e) quads[4 * i + e] = -1.0f;
    singles[i] = -1.0f;
    __syncthreads();
    gs::cp_async<16>(&quads[4 * i], src + 4 * i, !(zero_odd && i % 2));
    gs::cp_async_commit();
    gs::cp_async<4>(&singles[i], src + 128 + i, true);
    gs::cp_async_commit();
    // each thread records only its own elements: visible to it after its own wait
    for (long long e = 0; e < 4; ++e) out[4 * i + e] = quads[4 * i + e];
    out[128 + i] = singles[i];
    gs::cp_async_wait<1>();
    for (long long e = 0; e < 4; ++e) out[160 + 4 * i + e] = quads[4 * i + e];
    out[160 + 128 + i] = singles[i];
    gs::cp_async_wait<0>();
    for (long long e = 0; e < 4; ++e) out[320 + 4 * i + e] = quads[4 * i + e];
    out[320 + 128 + i] = singles[i];
}
"""


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("async_copy") / "async_copy_probe.cu"
    path.write_text(PROBE_CU)
    return path


def _two_groups(path, src, zero_odd):
    out = dispatch.to_device(np.zeros(3 * 160, np.float32))
    args = (dispatch.to_device(src), out, np.int64(zero_odd))
    if dispatch.backend() == "cupy":
        import cupy
        mod = cupy.RawModule(code=PROBE_CU, options=kl.compile_options(),
                             name_expressions=["two_groups<float>"])
        mod.get_function("two_groups<float>")((1,), (32,), args)
    else:
        mod = cuda_emulation.load_module(path, ["two_groups<float>"],
                                         include_dirs=(kl.kernels_dir(),))
        mod.get_function("two_groups<float>")(1, 32, args)
    return dispatch.to_host(out).reshape(3, 160)


@pytest.mark.parametrize("zero_odd", [0, 1])
def test_copies_land_by_their_waits(device_backend, probe_path, zero_odd):
    src = np.arange(1, 161, dtype=np.float32)
    got = _two_groups(probe_path, src, zero_odd)
    want = src.copy()
    if zero_odd:  # the zero fill of an invalid copy
        want[:128].reshape(32, 4)[1::2] = 0.0
    np.testing.assert_array_equal(got[2], want)          # after waiting for everything
    np.testing.assert_array_equal(got[1, :128], want[:128])  # the older group after wait<1>


def test_the_emulation_lands_copies_at_the_wait_in_ascending_order(probe_path):
    """Ascending order: nothing is visible before the wait, and wait<1> leaves the
    newest group in flight, so a kernel that reads too early reads the old contents."""
    if cuda_emulation_reason():
        pytest.skip(cuda_emulation_reason())
    src = np.arange(1, 161, dtype=np.float32)
    with dispatch.use_backend("emulated"), cuda_emulation.thread_order("forward"):
        got = _two_groups(probe_path, src, 0)
    np.testing.assert_array_equal(got[0], -1.0)
    np.testing.assert_array_equal(got[1, :128], src[:128])
    np.testing.assert_array_equal(got[1, 128:], -1.0)
    np.testing.assert_array_equal(got[2], src)


@pytest.mark.parametrize("order", [("reverse", 0), ("shuffle", 7)])
def test_the_emulation_lands_copies_at_once_in_the_other_orders(probe_path, order):
    if cuda_emulation_reason():
        pytest.skip(cuda_emulation_reason())
    src = np.arange(1, 161, dtype=np.float32)
    with dispatch.use_backend("emulated"), cuda_emulation.thread_order(*order):
        got = _two_groups(probe_path, src, 0)
    np.testing.assert_array_equal(got, np.tile(src, (3, 1)))


def cuda_emulation_reason():
    from conftest import _emulation_reason
    return _emulation_reason()
