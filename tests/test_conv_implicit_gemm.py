"""The implicit-GEMM convolution (kernels/conv_igemm.cu) and the tensor-core helpers it
multiplies with (kernels/tensor_core.cuh): the helpers against NumPy models of the PTX
instructions, the three kernels (output, input gradient, kernel gradient) against the
NumPy twin in float64 (exact multiply-adds), float32 3xTF32 and float32 TF32, the
algorithm setting, and a few training steps equal to the im2col path's.
"""
import contextlib

import numpy as np
import pytest

import gpuseq
import gpuseq.backend as K
from gpuseq.backend import cuda_emulation, dispatch, session
from gpuseq.backend.numpy_ops.activations import ACTIVATION_KINDS
from gpuseq.backend import kernel_loader as kl
from gpuseq.testing import compare_with_numpy

from conftest import _emulation_reason


@pytest.fixture
def device_backend(device_backend):
    """conftest's emulated / GPU backends, skipping a GPU without TF32 tensor cores."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    if device_backend == "cupy" and not cupy_conv._tensor_cores():
        pytest.skip("TF32 tensor cores need compute capability 8.0 or newer")
    return device_backend


@contextlib.contextmanager
def conv_settings(algorithm, tf32=False):
    before = (session._current["conv"], K.tf32_enabled())
    K.set_conv_algorithm(algorithm)
    K.set_tf32(tf32)
    try:
        yield
    finally:
        session._current["conv"] = before[0]
        K.set_tf32(before[1])


# ---------------------------------------------------------------------------
# tensor_core.cuh against NumPy models of cvt.rna.tf32.f32 and mma.sync m16n8k8
# ---------------------------------------------------------------------------

PROBE_CU = r"""
// @kernels: tf32_round mma_tiles
#include "gpuseq_common.cuh"
#include "tensor_core.cuh"

template <typename T>
__global__ void tf32_round(const float* x, float* y, long long n) {
    GS_GRID_STRIDE_LOOP(i, n) { y[i] = gs::tf32_float(gs::tf32_bits(x[i])); }
}

// Warp w of the block: d[w] = c[w] + a[w] @ b[w], a (16, 8) and b (8, 8) and c, d
// (16, 8) row-major, each lane loading its fragments as tensor_core.cuh lays them out.
template <typename T>
__global__ void mma_tiles(const float* a, const float* b, const float* c, float* d) {
    const long long w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const float* A = a + 128 * w;
    const float* B = b + 64 * w;
    unsigned af[4] = {gs::tf32_bits(A[g * 8 + t]), gs::tf32_bits(A[(g + 8) * 8 + t]),
                      gs::tf32_bits(A[g * 8 + t + 4]), gs::tf32_bits(A[(g + 8) * 8 + t + 4])};
    unsigned bf[2] = {gs::tf32_bits(B[t * 8 + g]), gs::tf32_bits(B[(t + 4) * 8 + g])};
    float df[4];
    for (long long r = 0; r < 4; ++r) df[r] = c[128 * w + (g + 8 * (r / 2)) * 8 + 2 * t + r % 2];
    gs::mma_tf32_16x8x8(df, af, bf);
    for (long long r = 0; r < 4; ++r) d[128 * w + (g + 8 * (r / 2)) * 8 + 2 * t + r % 2] = df[r];
}
"""


@pytest.fixture(scope="module")
def probe_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tensor_cores") / "tensor_core_probe.cu"
    path.write_text(PROBE_CU)
    return path


def _probe(path, name):
    """``name<float>`` of the probe source on the active backend, called as f(grid, block, args)."""
    expr = f"{name}<float>"
    if dispatch.backend() == "cupy":
        import cupy
        mod = cupy.RawModule(code=PROBE_CU, options=kl.compile_options(), name_expressions=[expr])
        fn = mod.get_function(expr)
        return lambda grid, block, args: fn((grid,), (block,), args)
    mod = cuda_emulation.load_module(path, [expr], include_dirs=(kl.kernels_dir(),))
    return mod.get_function(expr)


def tf32_model(x):
    """cvt.rna.tf32.f32 in NumPy: 10 mantissa bits, to nearest, ties away from zero."""
    bits = np.asarray(x, np.float32).view(np.uint32)
    special = (bits & 0x7F800000) == 0x7F800000
    rounded = ((bits.astype(np.uint64) + 0x1000) & 0xFFFFE000).astype(np.uint32)
    return np.where(special, bits, rounded).view(np.float32)


def test_tf32_rounding_is_to_nearest_ties_away(device_backend, probe_path, rng):
    ulp = 2.0 ** -10                                   # TF32's spacing just above 1
    x = np.concatenate([
        np.array([1 + ulp / 2, -(1 + ulp / 2), 1 + ulp / 2 - 2 ** -23, 1 + 1.5 * ulp,
                  0.0, -0.0, 3.0, 1e-40, np.inf, -np.inf, 3.4e38], np.float32),
        rng.standard_normal(1000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 1000)])
    x = x.astype(np.float32)
    y = np.zeros_like(x)
    xd, yd = dispatch.to_device(x), dispatch.to_device(y)
    _probe(probe_path, "tf32_round")(4, 256, (xd, yd, np.int64(x.size)))
    got = dispatch.to_host(yd)
    np.testing.assert_array_equal(got, tf32_model(x))
    assert got[0] == 1 + ulp and got[1] == -(1 + ulp)   # ties go away from zero
    assert got[2] == 1.0 and got[3] == 1 + 2 * ulp       # below a tie; a tie to the even side
    assert (np.abs(got[11:] - x[11:]) <= np.abs(x[11:]) * 2.0 ** -11 + 1e-45).all()


def test_mma_fragments_multiply_like_the_matrices(device_backend, probe_path, rng):
    warps = 2
    a = rng.standard_normal((warps, 16, 8)).astype(np.float32)
    b = rng.standard_normal((warps, 8, 8)).astype(np.float32)
    c = rng.standard_normal((warps, 16, 8)).astype(np.float32)
    d = dispatch.to_device(np.zeros_like(c))
    _probe(probe_path, "mma_tiles")(1, 32 * warps, tuple(dispatch.to_device(v) for v in (a, b, c))
                                    + (d,))
    want = c + np.matmul(tf32_model(a).astype(np.float64), tf32_model(b).astype(np.float64))
    np.testing.assert_allclose(dispatch.to_host(d), want, rtol=1e-6, atol=1e-6)
    # a layout mistake (any transposed or swapped fragment) is off by O(1)
    assert not np.allclose(dispatch.to_host(d), c + np.matmul(a, b.transpose(0, 2, 1)),
                           atol=1e-2)


# ---------------------------------------------------------------------------
# The three kernels through the ops, against the NumPy twin
# ---------------------------------------------------------------------------

# float64: exact multiply-adds; float32 3xTF32: float32's accuracy; float32 TF32: about
# 2^-11 relative per product, accumulated over the reduction (with a smooth activation:
# a ReLU would pass or block a gradient on either side of an output near 0).
PRECISIONS = {
    "float64": (np.float64, False, "relu", dict(rtol=1e-10, atol=1e-10)),
    "3xtf32": (np.float32, False, "relu", dict(rtol=2e-4, atol=2e-4)),
    "tf32": (np.float32, True, "tanh", dict(rtol=2e-2, atol=5e-2)),
}

CASES = [  # (n, h, w, cin, cout), kernel (kh, kw), strides, padding, dilation
    ((2, 7, 6, 3, 5), (3, 2), (1, 1), "same", (1, 1)),
    ((2, 7, 6, 8, 40), (3, 3), (2, 1), "same", (1, 2)),
    ((3, 6, 7, 4, 64), (2, 3), (1, 2), "valid", (2, 1)),
    ((1, 9, 9, 12, 70), (3, 3), (2, 2), "valid", (1, 1)),
    ((2, 5, 5, 32, 32), (3, 3), (1, 1), "same", (1, 1)),
    ((1, 4, 11, 5, 3), (1, 1), (3, 2), "same", (1, 1)),
    ((1, 5, 5, 72, 8), (3, 3), (2, 2), "same", (1, 1)),     # input gradient: 2 x BN = 64
    ((2, 6, 5, 36, 66), (2, 2), (1, 1), "valid", (2, 1)),   # BN = 64, 2 column tiles each
]


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("shape,ksize,strides,padding,dilation", CASES)
def test_implicit_gemm_matches_numpy(device_backend, rng, precision, shape, ksize, strides,
                                     padding, dilation):
    dtype, tf32, activation, tol = PRECISIONS[precision]
    n, h, w, cin, cout = shape
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    kernel = rng.standard_normal(ksize + (cin, cout)).astype(dtype)
    bias = rng.standard_normal(cout).astype(dtype)
    with conv_settings("implicit_gemm", tf32):
        y, y_ref = compare_with_numpy("conv2d", [x, kernel, bias],
                                      dict(strides=strides, padding=padding,
                                           dilation_rate=dilation, activation=activation),
                                      **tol)
    if tf32:  # the operands really were rounded to TF32 (3xTF32 stays within 1e-5)
        assert np.abs(y - y_ref).max() > 1e-4


@pytest.mark.parametrize("order", [("reverse", 0), ("shuffle", 11)])
@pytest.mark.parametrize("precision", ["float64", "3xtf32"])
@pytest.mark.parametrize("case", [CASES[1], CASES[4], CASES[7]])
def test_the_stage_pipeline_in_every_thread_order(rng, order, precision, case):
    """In the non-ascending orders the emulation lands every cp.async at once, so a
    stage refilled while another warp still multiplies it would change the result."""
    if _emulation_reason():
        pytest.skip(_emulation_reason())
    dtype, tf32, activation, tol = PRECISIONS[precision]
    (n, h, w, cin, cout), ksize, strides, padding, dilation = case
    x = rng.standard_normal((n, h, w, cin)).astype(dtype)
    kernel = rng.standard_normal(ksize + (cin, cout)).astype(dtype)
    with dispatch.use_backend("emulated"), cuda_emulation.thread_order(*order), \
            conv_settings("implicit_gemm", tf32):
        compare_with_numpy("conv2d", [x, kernel, rng.standard_normal(cout).astype(dtype)],
                           dict(strides=strides, padding=padding, dilation_rate=dilation,
                                activation=activation), **tol)


@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("activation", ACTIVATION_KINDS)
def test_the_forward_epilogue_applies_bias_and_activation(device_backend, rng, activation,
                                                           has_bias):
    """The forward kernel adds the bias and applies the activation to its tile in
    registers; pre (what the backward differentiates at) and y are the NumPy twin's."""
    x = rng.standard_normal((2, 6, 5, 4))
    kernel = rng.standard_normal((3, 3, 4, 6)) * 0.5
    bias = rng.standard_normal(6) if has_bias else None
    ops = dispatch.ops()
    with conv_settings("implicit_gemm"):
        y, saved = ops.conv2d_forward(dispatch.to_device(x), dispatch.to_device(kernel),
                                      None if bias is None else dispatch.to_device(bias),
                                      padding="same", activation=activation)
        compare_with_numpy("conv2d", [x, kernel, bias],
                           dict(padding="same", activation=activation),
                           rtol=1e-10, atol=1e-10)
    ref = gpuseq.backend.numpy_ops
    pre_ref, _ = ref.conv2d_forward(x, kernel, bias, padding="same")    # z + bias
    pre, y_dev = saved[2], saved[3]                                     # (pre, y) here
    assert y_dev is y
    y_ref = ref.activation_forward(pre_ref, activation)[0]
    np.testing.assert_allclose(dispatch.to_host(y), y_ref, rtol=1e-12, atol=1e-12)
    from_y = ("linear", "relu", "sigmoid", "tanh", "elu", "selu", "exponential")
    assert (pre is y) == (activation in from_y)
    if pre is not y:
        np.testing.assert_allclose(dispatch.to_host(pre), pre_ref, rtol=1e-12, atol=1e-12)
    # what the backward differentiates at: the same derivative from pre or from y
    gy = rng.standard_normal(y_ref.shape)
    np.testing.assert_allclose(
        dispatch.to_host(ops.activation_backward(dispatch.to_device(gy), (pre, y), activation)[0]),
        ref.activation_backward(gy, (pre_ref, y_ref), activation)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["implicit_gemm", "im2col"])
def test_a_bias_of_the_wrong_length_is_refused(device_backend, rng, algorithm):
    """The kernels read one bias value per output channel: a shorter bias would be read
    past its end on the GPU."""
    x = dispatch.to_device(rng.standard_normal((1, 5, 5, 4)).astype(np.float32))
    kernel = dispatch.to_device(rng.standard_normal((3, 3, 4, 6)).astype(np.float32))
    bias = dispatch.to_device(np.zeros(5, np.float32))
    with conv_settings(algorithm), pytest.raises(ValueError, match=r"bias of shape \(6,\).*"
                                                  r"Received: bias.shape=\(5,\)"):
        dispatch.ops().conv2d_forward(x, kernel, bias, activation="relu")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_implicit_gemm_conv1d_matches_numpy(device_backend, rng, padding):
    x = rng.standard_normal((3, 13, 4))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv1d", [x, rng.standard_normal((3, 4, 6)), rng.standard_normal(6)],
                           dict(strides=2, padding=padding, activation="tanh"),
                           rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n,h,w,cin,cout", [(0, 5, 5, 2, 3), (1, 1, 1, 1, 1), (2, 9, 15, 3, 257),
                                            (3, 5, 4, 17, 2)])
def test_implicit_gemm_sizes_match_numpy(device_backend, rng, n, h, w, cin, cout):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    kernel = rng.standard_normal((1 if h == 1 else 3, 1 if w == 1 else 3, cin, cout))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv2d", [x, kernel.astype(np.float32),
                                      rng.standard_normal(cout).astype(np.float32)],
                           dict(padding="same", activation="relu"), rtol=2e-4, atol=2e-4)


def test_kernel_gradient_split_over_many_row_ranges(device_backend, rng, monkeypatch):
    """A reduction cut into many short splits (and a last, partial one) sums the same."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    monkeypatch.setattr(cupy_conv, "IGEMM_MIN_SPLIT_ROWS", 16)
    assert cupy_conv._kernel_grad_splits(2 * 9 * 9, 1) == (16, 11)
    x = rng.standard_normal((2, 9, 9, 8))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv2d", [x, rng.standard_normal((3, 3, 8, 6)), None],
                           dict(padding="same"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_operands_take_the_scalar_reads(device_backend, rng, dtype):
    """Views that start one element into a buffer (the image, the kernel and the output
    gradient) cannot use the 4-wide reads; the results are the same."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    m = dispatch.xp()

    def unaligned(a):
        buf = m.zeros(a.size + 1, dtype=dtype)
        view = buf[1:].reshape(a.shape)
        view[...] = dispatch.to_device(a.astype(dtype))
        assert not cupy_conv._aligned4(view)
        return view

    x = rng.standard_normal((2, 6, 6, 4))
    k = rng.standard_normal((3, 3, 4, 8))
    gy = rng.standard_normal((2, 6, 6, 8))
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-4)
    with conv_settings("implicit_gemm"):
        y, saved = dispatch.ops().conv2d_forward(unaligned(x), unaligned(k), None,
                                                 padding="same")
        gx, gk, _ = dispatch.ops().conv2d_backward(unaligned(gy), saved, padding="same")
    want, saved_ref = gpuseq.backend.numpy_ops.conv2d_forward(x, k, None, padding="same")
    gx_ref, gk_ref, _ = gpuseq.backend.numpy_ops.conv2d_backward(gy, saved_ref, padding="same")
    for got, ref in ((y, want), (gx, gx_ref), (gk, gk_ref)):
        np.testing.assert_allclose(dispatch.to_host(got), ref, **tol)


def test_a_misaligned_four_wide_copy_is_caught_by_the_emulation(rng):
    """The emulation stops a 16-byte cp.async from an address a GPU would fault on
    (x86 would read it silently), so the host's alignment checks are tested without a
    GPU."""
    if _emulation_reason():
        pytest.skip(_emulation_reason())
    with dispatch.use_backend("emulated"):
        buf = np.zeros(2 * 4 * 4 * 4 + 1, np.float32)
        x = buf[1:].reshape(2, 4, 4, 4)
        k = rng.standard_normal((36, 8)).astype(np.float32)
        z = np.zeros((2 * 2 * 2, 8), np.float32)
        geom = (2, 4, 4, 4, 3, 3, 1, 1, 1, 1, 0, 0, 2, 2, 8)
        kern = kl.get_kernel("conv_igemm", "conv_igemm_forward", np.float32, 32, False)
        kl.launch(kern, (1, 1, 1), (128, 1, 1), (x, k, z, z, z) + geom + (0, 1, 0, 0, 0))
        with pytest.raises(cuda_emulation.EmulatedLaunchError,
                           match=r"cp\.async between addresses not aligned"):
            kl.launch(kern, (1, 1, 1), (128, 1, 1), (x, k, z, z, z) + geom + (1, 1, 0, 0, 0))


@pytest.mark.parametrize("shape", [(2, 4, 4, 0, 3), (2, 4, 4, 3, 0)])
def test_zero_channels(device_backend, rng, shape):
    n, h, w, cin, cout = shape
    x = rng.standard_normal((n, h, w, cin))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv2d", [x, rng.standard_normal((3, 3, cin, cout)), None],
                           dict(padding="same"), rtol=1e-10, atol=1e-10)


def test_kernel_gradient_split_is_a_function_of_the_shapes_only():
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    for pixels in (1, 15, 16, 255, 256, 257, 1000, 294912, 10 ** 7):
        for tiles in (1, 3, 8, 600):
            per, splits = cupy_conv._kernel_grad_splits(pixels, tiles)
            assert per % cupy_conv.IGEMM_STAGE == 0 and per >= cupy_conv.IGEMM_MIN_SPLIT_ROWS
            assert (splits - 1) * per < pixels <= splits * per
            if pixels >= 512 * 256:
                assert splits * tiles >= 512 - tiles   # enough blocks to fill a device
    # the VGG-like model's second convolution: 32 x 96 x 96 pixels, (288, 32) tiles
    assert cupy_conv._kernel_grad_splits(32 * 96 * 96, 3) == (1728, 171)


# ---------------------------------------------------------------------------
# The setting
# ---------------------------------------------------------------------------


def test_set_conv_algorithm_validates():
    with pytest.raises(ValueError, match=r"expected one of \['auto', 'im2col', "
                                         r"'implicit_gemm'\]\. Received: name='fast'"):
        K.set_conv_algorithm("fast")
    with pytest.raises(ValueError, match=r"Received: name=None"):
        K.set_conv_algorithm(None)


def test_conv_algorithm_environment_variable(monkeypatch):
    before = session._current["conv"]
    try:
        monkeypatch.setenv("GPUSEQ_CONV_ALGORITHM", "IMPLICIT_GEMM")
        session._current["conv"] = None
        assert K.conv_algorithm() == "implicit_gemm"
        monkeypatch.setenv("GPUSEQ_CONV_ALGORITHM", "winograd")
        session._current["conv"] = None
        with pytest.raises(ValueError, match=r"GPUSEQ_CONV_ALGORITHM must be one of .*"
                                             r"Received: GPUSEQ_CONV_ALGORITHM='winograd'"):
            K.conv_algorithm()
        assert K.set_conv_algorithm("im2col") == "im2col" and K.conv_algorithm() == "im2col"
    finally:
        session._current["conv"] = before


@pytest.mark.parametrize("algorithm,tf32,dtype,data_format,expected", [
    ("auto", True, np.float32, "channels_last", True),
    ("auto", False, np.float32, "channels_last", False),
    ("auto", True, np.float64, "channels_last", False),
    ("auto", True, np.float32, "channels_first", False),
    ("im2col", True, np.float32, "channels_last", False),
    ("implicit_gemm", False, np.float32, "channels_last", True),
    ("implicit_gemm", False, np.float64, "channels_last", True),
    ("implicit_gemm", True, np.float32, "channels_first", False),
])
def test_which_convolutions_run_as_implicit_gemm(device_backend, rng, monkeypatch, algorithm,
                                                 tf32, dtype, data_format, expected):
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    calls = []
    real = cupy_conv._igemm_forward
    monkeypatch.setattr(cupy_conv, "_igemm_forward",
                        lambda *a: calls.append(1) or real(*a))
    x = rng.standard_normal((1, 5, 5, 4) if data_format == "channels_last" else (1, 4, 5, 5))
    with conv_settings(algorithm, tf32):
        assert cupy_conv.use_implicit_gemm(dtype, data_format) is expected
        dispatch.ops().conv2d_forward(dispatch.to_device(x.astype(dtype)),
                                      dispatch.to_device(rng.standard_normal((3, 3, 4, 2))
                                                         .astype(dtype)),
                                      None, data_format=data_format)
    assert bool(calls) is expected


# ---------------------------------------------------------------------------
# Training: the implicit GEMM takes the same steps as im2col
# ---------------------------------------------------------------------------


def _fit_small_cnn(algorithm, x, y):
    with conv_settings(algorithm):
        gpuseq.random.set_seed(3)
        model = gpuseq.models.Sequential([
            gpuseq.layers.Conv2D(8, (3, 3), activation="relu", padding="same",
                                 input_shape=(8, 8, 1)),
            gpuseq.layers.Conv2D(12, (3, 3), activation="relu"),
            gpuseq.layers.MaxPooling2D(),
            gpuseq.layers.Flatten(),
            gpuseq.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=gpuseq.optimizers.Adam(0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
        return hist.history["loss"], [np.asarray(dispatch.to_host(w))
                                      for w in model.get_weights()]


def test_training_steps_equal_the_im2col_path(device_backend, digits):
    x = digits[0][:128].reshape(-1, 8, 8, 1).astype(np.float32)
    y = digits[1][:128]
    loss_i, w_i = _fit_small_cnn("im2col", x, y)
    loss_g, w_g = _fit_small_cnn("implicit_gemm", x, y)
    assert loss_i[-1] < 0.95 * loss_i[0]          # it learns
    np.testing.assert_allclose(loss_g, loss_i, rtol=1e-4)
    for a, b in zip(w_g, w_i):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
