"""Checks for what a GPU would expose but the default CPU emulation would not.

* Thread order: the emulation runs the threads of a block one after another
  between barriers, in ascending order by default, which hides a missing
  ``__syncthreads()`` whenever the writer comes first. The kernels that share
  memory between threads (the row kernels and the bias-gradient reduction) are
  run here under descending and shuffled orders and must still match NumPy; a
  deliberately racy kernel shows that these orders do expose a missing barrier.
* Launch limits: the launch configurations the op modules compute for large
  shapes stay inside the CUDA limits (checked without running the kernels), and
  the emulation refuses a launch that a GPU would refuse.
* 64-bit index arithmetic: kernels hold no 32-bit index variables beyond a
  reviewed list of block-local ones.
* ``gpu``-marked tests run large shapes against the NumPy twins on a real device
  (skipped where there is none), and check that the gather kernels are deterministic.
"""
import re

import numpy as np
import pytest

from gpuseq.backend import cuda_emulation, dispatch
from gpuseq.backend import kernel_loader as kl
from gpuseq.testing import compare_with_numpy

needs_cxx = pytest.mark.skipif(not cuda_emulation.available(),
                               reason="the CUDA launch emulation needs a C++ compiler (g++)")

ORDERS = ["reverse", "shuffle:1", "shuffle:2"]


# ---------------------------------------------------------------------------
# Thread order of the emulation
# ---------------------------------------------------------------------------

def test_thread_order_setting_is_validated_and_scoped():
    before = cuda_emulation.get_thread_order()
    with pytest.raises(ValueError, match="Unknown emulated thread order"):
        cuda_emulation.set_thread_order("sideways")
    with pytest.raises(ValueError, match="must be an integer"):
        cuda_emulation._parse_order("shuffle:x")
    with cuda_emulation.thread_order("shuffle", 5):
        assert cuda_emulation.get_thread_order() == ("shuffle", 5)
    assert cuda_emulation.get_thread_order() == before
    assert cuda_emulation._parse_order("Shuffle:9") == ("shuffle", 9)


_RACE_SOURCE = r"""
// y[i] = x[i - 1] within each block of 64 threads (y = 0 for the first thread).
#define B 64
__global__ void shift_racy(const float* x, float* y) {
    __shared__ float buf[B];
    const unsigned t = threadIdx.x;
    buf[t] = x[blockIdx.x * B + t];
    // a __syncthreads() is missing here: thread t reads what thread t - 1 wrote
    y[blockIdx.x * B + t] = t > 0 ? buf[t - 1] : 0.0f;
}
__global__ void shift_synced(const float* x, float* y) {
    __shared__ float buf[B];
    const unsigned t = threadIdx.x;
    buf[t] = x[blockIdx.x * B + t];
    __syncthreads();
    y[blockIdx.x * B + t] = t > 0 ? buf[t - 1] : 0.0f;
}
"""


@needs_cxx
def test_reverse_and_shuffled_orders_expose_a_missing_barrier(tmp_path):
    src = tmp_path / "race.cu"
    src.write_text(_RACE_SOURCE)
    mod = cuda_emulation.load_module(src, ["shift_racy", "shift_synced"])
    x = np.arange(1, 4 * 64 + 1, dtype=np.float32)            # 4 blocks of 64
    want = np.concatenate([np.r_[0.0, blk[:-1]] for blk in x.reshape(4, 64)])

    def run(name, order):
        y = np.full_like(x, -1.0)
        with cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
            mod.get_function(name)((4, 1, 1), (64, 1, 1), (x, y))
        return y

    # the default ascending order hides the race: the writer always runs first
    np.testing.assert_array_equal(run("shift_racy", "forward"), want)
    for order in ORDERS:
        assert not np.array_equal(run("shift_racy", order), want), order
        np.testing.assert_array_equal(run("shift_synced", order), want)


@needs_cxx
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("cols", [1, 33, 300])
def test_row_kernels_match_numpy_in_every_thread_order(order, cols):
    rng = np.random.default_rng(cols)
    rows = 7
    logits = rng.standard_normal((rows, cols)) * 3
    target = rng.dirichlet(np.ones(cols), size=rows)
    labels = rng.integers(0, cols, size=rows)
    with dispatch.use_backend("emulated"), \
            cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
        for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-12)):
            lg = logits.astype(dtype)
            compare_with_numpy("softmax", [lg], {"axis": -1}, rtol=tol, atol=tol)
            compare_with_numpy("softmax_cross_entropy", [lg, target.astype(dtype)],
                               {"sparse": False}, rtol=tol, atol=tol)
            compare_with_numpy("softmax_cross_entropy", [lg, labels], {"sparse": True},
                               rtol=tol, atol=tol)


@needs_cxx
@pytest.mark.parametrize("order", ORDERS)
def test_bias_gradient_reduction_matches_numpy_in_every_thread_order(order):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((37, 45))                    # two column blocks, ragged
    bias = rng.standard_normal(45)
    with dispatch.use_backend("emulated"), \
            cuda_emulation.thread_order(*cuda_emulation._parse_order(order)):
        compare_with_numpy("bias_activation", [z, bias], {"kind": "tanh"},
                           rtol=1e-12, atol=1e-12)
        compare_with_numpy("bias_activation", [z.astype(np.float32), bias.astype(np.float32)],
                           {"kind": "relu"}, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Launch limits
# ---------------------------------------------------------------------------

@needs_cxx
def test_emulated_launch_refuses_what_a_gpu_refuses():
    with dispatch.use_backend("emulated"):
        k = kl.get_kernel("activations", "activation_forward", np.float32)
        x = np.zeros(4, dtype=np.float32)
        args = (x, np.empty_like(x), np.int64(4), np.int64(0))
        fn = kl._module("activations").function("emulated", k)
        for grid, block in (((1, 65536, 1), (32, 1, 1)), ((1, 1, 65536), (32, 1, 1)),
                            ((1, 1, 1), (1, 1, 65)), ((1, 1, 1), (2048, 1, 1)),
                            ((1, 1, 1), (64, 32, 1))):
            with pytest.raises(cuda_emulation.EmulatedLaunchError,
                               match="invalid launch configuration"):
                fn(grid, block, args)
            with pytest.raises(ValueError, match="Invalid launch configuration"):
                kl.launch(k, grid, block, args)
        fn((1, 65535, 1), (32, 1, 1), args)  # the largest grid.y is fine


def test_grid_helpers_stay_within_limits_for_huge_sizes():
    for n in (1, 255, 256, 257, 2 ** 31 + 5, 2 ** 40):
        g = kl.grid_1d(n)
        assert 1 <= g[0] <= kl.MAX_BLOCKS_1D and g[1:] == (1, 1)
    for cols in (1, 31, 32, 33, 256, 257, 10 ** 9):
        b = kl.row_block(cols)[0]
        assert 32 <= b <= kl.MAX_ROW_BLOCK and b & (b - 1) == 0


class _Recorder:
    """Stands in for kernel_loader.launch: checks configuration and arguments like the
    real launch, zero-fills the output arrays instead of running the kernel."""

    def __init__(self):
        self.calls = []

    def __call__(self, kernel, grid, block, args):
        grid = kl._dim3("grid", grid, kernel)
        block = kl._dim3("block", block, kernel)
        kl._check_config(kernel, grid, block)
        args = tuple(args)
        assert len(args) == len(kernel.params), kernel.qualified_name
        for i, (p, a) in enumerate(zip(kernel.params, args)):
            if p.pointer:
                kl._check_array(kernel, i, p, a, dispatch.backend())
                if not p.const:
                    a.fill(0)
            else:
                kl._convert_scalar(kernel, i, p, a)
        self.calls.append((kernel.name, grid, block))


@needs_cxx
def test_launch_configurations_for_large_shapes(monkeypatch):
    rec = _Recorder()
    monkeypatch.setattr(kl, "launch", rec)
    with dispatch.use_backend("emulated"):
        ops = dispatch.ops()
        # the VGG-like seed: 32 x 100 x 100 x 3 images, 3 x 3 kernels
        x = np.zeros((32, 100, 100, 3), dtype=np.float32)
        k = np.zeros((3, 3, 3, 32), dtype=np.float32)
        y, saved = ops.conv2d_forward(x, k, np.zeros(32, np.float32), padding="same",
                                      activation="relu")
        ops.conv2d_backward(np.zeros_like(y), saved, padding="same", activation="relu")
        xf = np.zeros((32, 3, 100, 100), dtype=np.float32)
        y, saved = ops.conv2d_forward(xf, k, np.zeros(32, np.float32), padding="same",
                                      data_format="channels_first", activation="relu")
        ops.conv2d_backward(np.zeros_like(y), saved, padding="same",
                            data_format="channels_first", activation="relu")
        p = np.zeros((32, 98, 98, 32), dtype=np.float32)
        for mode in ("max", "avg"):
            # 98 x 98: the windows tile the input (per-window backward); 97 x 97: a gather
            for q in (p, p[:, :97, :97]):
                y, saved = ops.pool2d_forward(q, (2, 2), mode=mode)
                ops.pool2d_backward(np.zeros_like(y), saved, (2, 2), mode=mode)
            y, saved = ops.global_pool_forward(p, mode=mode)
            ops.global_pool_backward(np.zeros_like(y), saved, mode=mode)
        # more rows than a grid dimension may hold blocks
        logits = np.zeros((70000, 10), dtype=np.float32)
        for target, sparse in ((np.zeros(70000, np.int64), True), (np.zeros_like(logits), False)):
            loss, saved = ops.softmax_cross_entropy_forward(logits, target, sparse=sparse)
            ops.softmax_cross_entropy_backward(np.ones_like(loss), saved, sparse=sparse)
        y, saved = ops.softmax_forward(logits)
        ops.softmax_backward(np.ones_like(y), saved)
        z = np.zeros((70000, 300), dtype=np.float32)
        y, saved = ops.bias_activation_forward(z, np.zeros(300, np.float32), "relu")
        ops.bias_activation_backward(np.ones_like(y), saved, "relu")
        # recurrent layers over 4096 rows: 128 units take the one-launch sequence
        # kernels, 300 units the per-step kernels; 70000 rows overflow a grid dimension
        for rows, u in ((4096, 128), (4096, 300), (70000, 4)):
            xs = np.zeros((rows, 2, 4), dtype=np.float32)
            for name, g in (("lstm", 4), ("gru", 3), ("simple_rnn", 1)):
                W = np.zeros((4, g * u), np.float32)
                U = np.zeros((u, g * u), np.float32)
                b = np.zeros((2, 3 * u) if name == "gru" else (g * u,), np.float32)
                args = (xs, W, U, b, None) + ((None,) if name == "lstm" else ())
                y, saved = getattr(ops, name + "_forward")(*args, return_sequences=True)
                getattr(ops, name + "_backward")(np.ones_like(y), saved, return_sequences=True)
        ids = np.zeros((512, 200), dtype=np.int64)
        y, saved = ops.embedding_forward(ids, np.zeros((50, 64), np.float32))
        ops.embedding_backward(np.ones_like(y), saved)
    names = {c[0] for c in rec.calls}
    for expected in ("im2col_nhwc", "col2im_nhwc", "im2col_nchw", "col2im_nchw",
                     "max_pool2d_backward", "avg_pool2d_forward", "sparse_softmax_ce_forward",
                     "softmax_ce_backward", "bias_activation_backward", "lstm_backward_step",
                     "gru_backward_step_after", "simple_rnn_forward_step",
                     "lstm_sequence_forward", "lstm_sequence_backward",
                     "gru_sequence_backward_after", "simple_rnn_sequence_forward",
                     "embedding_backward"):
        assert expected in names, expected
    for name, grid, block in rec.calls:
        assert grid[0] <= 2 ** 31 - 1 and grid[1] <= 65535 and grid[2] <= 65535, (name, grid)
        assert block[0] * block[1] * block[2] <= 1024, (name, block)
    rows = [g for n, g, _ in rec.calls if n == "sparse_softmax_ce_forward"]
    assert rows == [(65535, 1, 1)]   # the row loop covers rows beyond the grid
    seq = [(g, b) for n, g, b in rec.calls if n == "lstm_sequence_forward"]
    assert seq == [((4096, 1, 1), (1024, 1, 1)), ((65535, 1, 1), (128, 1, 1))]


# ---------------------------------------------------------------------------
# 64-bit index arithmetic
# ---------------------------------------------------------------------------

# 32-bit variables the kernels may declare: block-local thread and warp counters, and
# bit patterns (not indices).
_SMALL_INT_OK = {
    ("gpuseq_common.cuh", "t"), ("gpuseq_common.cuh", "s"),           # block_sum / block_max
    ("softmax_cross_entropy.cu", "b"),                                 # check_row_block
    ("activations.cu", "k"),                                           # 8 partial sums
    ("tensor_core.cuh", "bits"), ("tensor_core.cuh", "hi"),           # TF32 bit patterns
}


def test_kernels_declare_no_32_bit_index_variables():
    found = []
    pat = re.compile(r"\b(?:unsigned\s+int|unsigned|int|short|size_t)\s+([A-Za-z_]\w*)\s*[=;,)]")
    for path in sorted(kl.kernels_dir().glob("*.cu*")):
        code = kl._COMMENTS.sub(" ", path.read_text())
        for name in pat.findall(code):
            if (path.name, name) not in _SMALL_INT_OK:
                found.append(f"{path.name}: {name}")
    assert not found, ("32-bit index variables (products of sizes can pass 2^31; use long "
                       f"long): {found}")


def test_max_pooling_propagates_nan_like_numpy(backend):
    x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    x[0, 1, 1, 0] = np.nan          # not the first element of its window
    x[1, 0, 0, 0] = np.nan          # the first element of its window
    ops = dispatch.ops()
    y, _ = ops.pool2d_forward(dispatch.to_device(x), (2, 2), mode="max")
    np.testing.assert_array_equal(dispatch.to_host(y).ravel(),
                                  [np.nan, 7, 13, 15, np.nan, 23, 29, 31])
    g, _ = ops.global_pool_forward(dispatch.to_device(x), mode="max")
    assert np.isnan(dispatch.to_host(g)).all()


# ---------------------------------------------------------------------------
# Large shapes on a real GPU (skipped without one)
# ---------------------------------------------------------------------------

@pytest.fixture
def cupy_backend():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device for the cupy backend: {why}")
    with dispatch.use_backend("cupy"):
        yield "cupy"


@pytest.mark.gpu
def test_gpu_softmax_ce_more_rows_than_blocks(cupy_backend):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((100003, 100)).astype(np.float32)
    labels = rng.integers(0, 100, size=100003)
    compare_with_numpy("softmax_cross_entropy", [logits, labels], {"sparse": True},
                       rtol=1e-4, atol=1e-5)
    target = np.eye(100, dtype=np.float32)[labels]
    compare_with_numpy("softmax_cross_entropy", [logits, target], {"sparse": False},
                       rtol=1e-4, atol=1e-5)
    compare_with_numpy("softmax", [logits], {"axis": -1}, rtol=1e-4, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_gpu_conv_and_pool_seed_shapes(cupy_backend, data_format):
    rng = np.random.default_rng(1)
    shape = (32, 100, 100, 3) if data_format == "channels_last" else (32, 3, 100, 100)
    x = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal((3, 3, 3, 32)) * 0.2).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    compare_with_numpy("conv2d", [x, k, b], {"padding": "same", "data_format": data_format,
                                             "activation": "relu"}, rtol=1e-3, atol=1e-3)
    compare_with_numpy("pool2d", [x], {"pool_size": (3, 3), "strides": (2, 2),
                                       "padding": "same", "data_format": data_format,
                                       "mode": "max"}, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
def test_gpu_bias_gradient_with_many_rows(cupy_backend):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((200000, 10)).astype(np.float32)
    bias = rng.standard_normal(10).astype(np.float32)
    compare_with_numpy("bias_activation", [z, bias], {"kind": "sigmoid"}, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("op,gates", [("lstm", 4), ("gru", 3), ("simple_rnn", 1)])
def test_gpu_recurrent_long_sequence(cupy_backend, op, gates):
    rng = np.random.default_rng(3)
    n, t, f, u = 256, 100, 32, 128
    x = rng.standard_normal((n, t, f)).astype(np.float32)
    W = (rng.standard_normal((f, gates * u)) * 0.1).astype(np.float32)
    U = (rng.standard_normal((u, gates * u)) * 0.1).astype(np.float32)
    b = (rng.standard_normal((2, 3 * u) if op == "gru" else (gates * u,)) * 0.1).astype(np.float32)
    inputs = [x, W, U, b, None] + ([None] if op == "lstm" else [])
    compare_with_numpy(op, inputs, {"return_sequences": True}, rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
def test_gpu_embedding_many_repeated_ids(cupy_backend):
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 50, size=(2000, 500))               # 1M lookups of 50 rows
    table = rng.standard_normal((50, 64)).astype(np.float32)
    compare_with_numpy("embedding", [ids, table], {}, rtol=1e-3, atol=1e-2)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        dispatch.ops().embedding_forward(dispatch.to_device(ids + 1), dispatch.to_device(table))


@pytest.mark.gpu
def test_gpu_gather_backwards_are_deterministic(cupy_backend):
    """col2im, pooling backward and the bias reduction are gathers: bit-identical reruns."""
    rng = np.random.default_rng(5)
    ops = dispatch.ops()
    x = dispatch.to_device(rng.standard_normal((8, 33, 35, 16)).astype(np.float32))
    k = dispatch.to_device(rng.standard_normal((3, 3, 16, 8)).astype(np.float32))
    y, saved = ops.conv2d_forward(x, k, None, strides=(2, 2), padding="same")
    gy = dispatch.to_device(rng.standard_normal(y.shape).astype(np.float32))
    first = [dispatch.to_host(g) for g in ops.conv2d_backward(gy, saved, strides=(2, 2),
                                                              padding="same")[:1]]
    again = [dispatch.to_host(g) for g in ops.conv2d_backward(gy, saved, strides=(2, 2),
                                                              padding="same")[:1]]
    np.testing.assert_array_equal(first[0], again[0])
    py, psaved = ops.pool2d_forward(x, (3, 3), strides=(2, 2), padding="same", mode="avg")
    gp = dispatch.to_device(rng.standard_normal(py.shape).astype(np.float32))
    a = dispatch.to_host(ops.pool2d_backward(gp, psaved, (3, 3), strides=(2, 2),
                                             padding="same", mode="avg")[0])
    b = dispatch.to_host(ops.pool2d_backward(gp, psaved, (3, 3), strides=(2, 2),
                                             padding="same", mode="avg")[0])
    np.testing.assert_array_equal(a, b)

