"""Convolution ops (conv2d, conv1d, im2col / col2im) on every path, by op.

Every path (the tuned NumPy code on im2col + BLAS, the host C++ Conv1D and Conv2D of
kernels/host/conv1d.cpp and conv2d.cpp, the CUDA kernels of kernels/conv.cu and
kernels/conv_igemm.cu emulated on the CPU, CuPy on a GPU) is checked against the
direct-loop references of tests/reference.py, values and gradients; for conv2d over every
stride, dilation, padding, data format and fused activation the layer takes, in float32
and float64. Then, section by section: the NumPy code against the references (blocking,
chunking and BLAS thread policy change nothing), float64 finite differences on the host
and BLAS paths, the adjointness and layout of im2col and col2im, the CUDA paths against
the NumPy ones over many shapes, the host kernels against the BLAS path (their tile and
block edges, thread counts, which path runs, training on the digits), and the implicit
GEMM's tensor-core helpers, kernels, algorithm setting and training.
"""
import contextlib
import functools
import itertools
import typing

import numpy as np
import pytest

import gpuseq
import gpuseq.backend as K
from gpuseq.backend import cuda_emulation, dispatch, numpy_ops, session
from gpuseq.backend import kernel_loader as kl
from gpuseq.backend.numpy_ops import _conv1d_host, _conv2d_host, _host
from gpuseq.backend.numpy_ops import conv as np_conv
from gpuseq.backend.numpy_ops.activations import ACTIVATION_KINDS
from gpuseq.testing import assert_close, check_op_gradients, compare_with_numpy

from _host_paths import digits_images, digits_sequences, loss_curves_on_both_paths
from _op_paths import assert_matches_reference
from conftest import _emulation_reason, enter_op_path
from reference import ref_conv1d, ref_conv1d_grads, ref_conv2d, ref_conv2d_grads

# ref_act, ref_conv1d, ref_conv2d and ref_pads lived here before tests/reference.py; test
# modules that still import them from this module get them through these imports. Import
# them from reference instead.
from reference import ref_act, ref_pads  # noqa: F401


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


@pytest.fixture(params=["host", "numpy", "emulated/im2col", "emulated/implicit_gemm",
                        pytest.param("cupy/im2col", marks=pytest.mark.gpu),
                        pytest.param("cupy/implicit_gemm", marks=pytest.mark.gpu)])
def conv_path(request):
    """Every way a convolution runs: the host C++ kernels, im2col + NumPy's BLAS, and the
    CUDA im2col and implicit-GEMM kernels (emulated, and on a GPU)."""
    path, _, algorithm = request.param.partition("/")
    with enter_op_path(path), conv_settings(algorithm or "auto"):
        if algorithm == "implicit_gemm" and path == "cupy":
            from gpuseq.backend.cupy_ops import conv as cupy_conv
            if not cupy_conv._tensor_cores():
                pytest.skip("TF32 tensor cores need compute capability 8.0 or newer")
        yield request.param


@pytest.fixture(params=["host", "blas"])
def numpy_conv_path(request):
    """The NumPy backend's two ways to convolve: the host C++ kernels (where they build)
    and im2col + BLAS."""
    with _host.use(request.param == "host"):
        yield request.param


@pytest.fixture
def blas_conv():
    """im2col + BLAS alone (the host kernels off), for the tests of its chunks, GEMM
    blocking and BLAS thread policy."""
    with _host.use(False):
        yield "blas"


def _image(rng, n, h, w, c, data_format, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


CONV2D_CASES = list(itertools.product(
    [(1, 1), (2, 1), (2, 3)],                    # strides
    ["valid", "same"],                           # padding
    [(1, 1), (2, 1), (1, 2)],                    # dilation
    ["channels_last", "channels_first"]))


# ---------------------------------------------------------------------------
# Every path against the direct-loop references: values and gradients
# ---------------------------------------------------------------------------

REF_TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

ACTIVATIONS = ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "softplus"]
FORMATS = ["channels_last", "channels_first"]
# (strides, dilation): every kind of pair the layer takes (strides > 1 or dilation > 1)
CONV2D_GEOMETRIES = [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 2)),
                     ((1, 1), (1, 3)), ((1, 1), (2, 1)), ((3, 1), (1, 1))]
LAYER_PADDINGS = ["valid", "same"]
EXPLICIT_PADS = ((2, 0), (1, 3))                    # the op also takes explicit pads


class Conv2DCase(typing.NamedTuple):
    """One row of the conv2d reference test: the op's attributes, the operands' dtype,
    sizes and bias, and the (rtol, atol) every path must meet."""
    strides: tuple
    padding: object
    dilation: tuple
    data_format: str
    activation: str
    dtype: type
    with_bias: bool
    shape: tuple                                    # (n, h, w, cin, kh, kw, cout)
    tol: tuple

    def attrs(self):
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation,
                    data_format=self.data_format, activation=self.activation)

    def id(self):
        pad = self.padding if isinstance(self.padding, str) else \
            "pads" + "-".join(str(p) for pair in self.padding for p in pair)
        return "-".join([np.dtype(self.dtype).name, "bias" if self.with_bias else "nobias",
                         "s%dx%d" % self.strides, "d%dx%d" % self.dilation, pad,
                         self.data_format, self.activation,
                         "%dx%dx%dx%d-k%dx%d-o%d" % self.shape])


def _conv2d_reference_rows():
    tol = {dt: (t["rtol"], t["atol"]) for dt, t in REF_TOL.items()}
    tight = (1e-10, 1e-12)                          # float64 with a tighter atol
    rows = []
    # with and without a bias, float32 and float64
    for (strides, padding, dilation, fmt, act), dtype, bias in itertools.product(
            [((1, 1), "same", (1, 1), "channels_last", "relu"),
             ((2, 1), "valid", (1, 2), "channels_last", "tanh"),
             ((1, 2), "same", (2, 1), "channels_first", "sigmoid")],
            [np.float32, np.float64], [True, False]):
        rows.append(Conv2DCase(strides, padding, dilation, fmt, act, dtype, bias,
                               (2, 6, 7, 3, 3, 2, 5), tol[dtype]))
    # every stride / dilation pair, padding and data format, bias and relu fused
    for (strides, dilation), padding, fmt in itertools.product(CONV2D_GEOMETRIES,
                                                                LAYER_PADDINGS, FORMATS):
        rows.append(Conv2DCase(strides, padding, dilation, fmt, "relu", np.float64, True,
                               (1, 7, 8, 2, 3, 2, 3), tight))
    # ... with every fused activation, and explicit pads
    for (strides, dilation), padding, act in itertools.product(
            CONV2D_GEOMETRIES, LAYER_PADDINGS + [EXPLICIT_PADS], ACTIVATIONS):
        rows.append(Conv2DCase(strides, padding, dilation, "channels_last", act, np.float64,
                               True, (2, 9, 10, 3, 3, 2, 5), tight))
    # ... 9 float64 filters: a full 8-column panel (finished in vector registers on the
    # host) and a partial one, with every fused activation
    for act in ACTIVATIONS:
        rows.append(Conv2DCase((1, 1), "same", (1, 1), "channels_last", act, np.float64,
                               True, (2, 5, 6, 3, 3, 2, 9), tight))
    # ... in float32: 216-wide windows, 20 filters (a full and a partial 16-column panel
    # on the host)
    for (strides, dilation), act, fmt in itertools.product(
            CONV2D_GEOMETRIES, ["relu", "tanh", "sigmoid", "hard_sigmoid", "linear"], FORMATS):
        rows.append(Conv2DCase(strides, "same", dilation, fmt, act, np.float32, True,
                               (2, 6, 5, 24, 3, 3, 20), tol[np.float32]))
    return [pytest.param(row, id=row.id()) for row in rows]


@functools.lru_cache(maxsize=None)
def _conv2d_reference_data(case):
    """(x, kernel, bias, gy, y_ref, grads_ref) of one row: computed once and shared by every
    path (the loops are slow); the operands are read-only, so no path can change them."""
    rng = np.random.default_rng(1234)
    n, h, w, cin, kh, kw, cout = case.shape
    x = _image(rng, n, h, w, cin, case.data_format, case.dtype)
    kernel = (rng.standard_normal((kh, kw, cin, cout)) * 0.5).astype(case.dtype)
    bias = (rng.standard_normal(cout) * 0.3).astype(case.dtype) if case.with_bias else None
    args = (case.strides, case.padding, case.dilation, case.data_format, case.activation)
    y_ref = ref_conv2d(x, kernel, bias, *args)
    gy = rng.standard_normal(y_ref.shape).astype(case.dtype)
    grads = ref_conv2d_grads(x, kernel, bias, gy, *args)
    for a in (x, kernel, bias, gy):
        if a is not None:
            a.flags.writeable = False
    return x, kernel, bias, gy, y_ref, grads


@pytest.mark.parametrize("case", _conv2d_reference_rows())
def test_conv2d_every_path_matches_the_reference(conv_path, case):
    """Values, dtypes and all three gradients against the direct loops."""
    x, kernel, bias, gy, y_ref, grads = _conv2d_reference_data(case)
    rtol, atol = case.tol
    assert_matches_reference("conv2d", [x, kernel, bias], case.attrs(), y_ref, grads, gy,
                             rtol=rtol, atol=atol)


REF_CONV1D_CASES = [  # stride, padding, dilation, data_format, activation
    (1, "valid", 1, "channels_last", "linear"),
    (2, "same", 1, "channels_last", "relu"),
    (1, "causal", 2, "channels_last", "hard_sigmoid"),
    (3, (2, 3), 2, "channels_last", "elu"),
    (1, "same", 3, "channels_first", "softplus"),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride,padding,dilation,data_format,activation", REF_CONV1D_CASES)
def test_conv1d_every_path_matches_the_reference(conv_path, rng, stride, padding, dilation,
                                                 data_format, activation, dtype):
    x = rng.standard_normal((3, 17, 4))
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    x = np.ascontiguousarray(x).astype(dtype)
    kernel = (rng.standard_normal((3, 4, 6)) * 0.5).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    attrs = dict(strides=stride, padding=padding, dilation_rate=dilation,
                 data_format=data_format, activation=activation)
    y_ref = ref_conv1d(x, kernel, bias, stride, padding, dilation, data_format, activation)
    gy = rng.standard_normal(y_ref.shape).astype(dtype)
    grads = ref_conv1d_grads(x, kernel, bias, gy, stride, padding, dilation, data_format,
                             activation)
    assert_matches_reference("conv1d", [x, kernel, bias], attrs, y_ref, grads, gy,
                             **REF_TOL[dtype])


# ---------------------------------------------------------------------------
# NumPy twin against the direct loops
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("strides,padding,dilation,data_format", CONV2D_CASES)
def test_conv2d_forward_matches_direct_loops(rng, strides, padding, dilation, data_format,
                                             numpy_conv_path):
    x = _image(rng, 2, 7, 8, 3, data_format)
    kernel = rng.standard_normal((3, 2, 3, 4))
    bias = rng.standard_normal(4)
    y, _ = numpy_ops.conv2d_forward(x, kernel, bias, strides, padding, dilation, data_format,
                                    "relu")
    ref = ref_conv2d(x, kernel, bias, strides, padding, dilation, data_format, "relu")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv2d_hand_computed(numpy_conv_path):
    # 1x3x3x1 image 1..9, 2x2 kernel of ones, no padding: sums of each 2x2 block
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    kernel = np.ones((2, 2, 1, 1))
    y, _ = numpy_ops.conv2d_forward(x, kernel, np.array([0.5]))
    np.testing.assert_array_equal(y[0, :, :, 0], [[12.5, 16.5], [24.5, 28.5]])
    # 'same' with a 2x2 kernel pads one row / column at the bottom / right only (TF rule)
    y, _ = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    # cross-correlation, not convolution: the kernel is not flipped
    k = np.zeros((2, 2, 1, 1))
    k[0, 0] = 1
    y, _ = numpy_ops.conv2d_forward(x, k, None)
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 2], [4, 5]])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_forward_matches_direct_loops(rng, padding, stride, dilation, data_format,
                                             numpy_conv_path):
    x = rng.standard_normal((2, 11, 3))
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    kernel = rng.standard_normal((3, 3, 5))
    bias = rng.standard_normal(5)
    y, _ = numpy_ops.conv1d_forward(x, kernel, bias, stride, padding, dilation, data_format,
                                    "tanh")
    ref = ref_conv1d(x, kernel, bias, stride, padding, dilation, data_format, "tanh")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv1d_causal_sees_only_the_past(rng, numpy_conv_path):
    x = rng.standard_normal((1, 8, 2))
    kernel = rng.standard_normal((3, 2, 1))
    y1, _ = numpy_ops.conv1d_forward(x, kernel, None, padding="causal", dilation_rate=2)
    x2 = x.copy()
    x2[0, 5:] += 10.0                   # change the future from step 5 on
    y2, _ = numpy_ops.conv1d_forward(x2, kernel, None, padding="causal", dilation_rate=2)
    np.testing.assert_array_equal(y1[0, :5], y2[0, :5])
    assert not np.allclose(y1[0, 5:], y2[0, 5:])


@pytest.mark.parametrize("budget", [1, 4096, 1 << 30])
def test_conv2d_chunking_does_not_change_results(rng, monkeypatch, budget, blas_conv):
    x = _image(rng, 5, 6, 7, 2, "channels_last")
    kernel = rng.standard_normal((3, 3, 2, 3))
    ref_y, ref_saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    gy = rng.standard_normal(ref_y.shape)
    ref_g = numpy_ops.conv2d_backward(gy, ref_saved, padding="same")
    monkeypatch.setattr(np_conv, "COL_BUFFER_BYTES", budget)
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    g = numpy_ops.conv2d_backward(gy, saved, padding="same")
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    for a, b in zip(g[:2], ref_g[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv2d_blocked_gemms_do_not_change_results(rng, monkeypatch, data_format, blas_conv):
    """The single-thread GEMM blocking (inner dimensions cut into pieces) is exact."""
    x = _image(rng, 3, 9, 8, 5, data_format)
    kernel = rng.standard_normal((3, 3, 5, 4))
    attrs = dict(padding="same", data_format=data_format, activation="relu")
    monkeypatch.setattr(np_conv, "BLAS_BLOCKING", False)
    y0, s0 = numpy_ops.conv2d_forward(x, kernel, None, **attrs)
    gy = rng.standard_normal(y0.shape)
    g0 = numpy_ops.conv2d_backward(gy, s0, **attrs)
    monkeypatch.setattr(np_conv, "BLAS_BLOCKING", True)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 7)       # 45 columns, 216 rows: many pieces
    y1, s1 = numpy_ops.conv2d_forward(x, kernel, None, **attrs)
    g1 = numpy_ops.conv2d_backward(gy, s1, **attrs)
    np.testing.assert_allclose(y1, y0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1[:2], g0[:2]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y1, ref_conv2d(x, kernel, None, padding="same",
                                              data_format=data_format, activation="relu"),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("small_gemm_macs", [0, 1 << 62])
def test_conv2d_blas_thread_policy_does_not_change_results(rng, monkeypatch, small_gemm_macs,
                                                           blas_conv):
    """Whether an op runs on one BLAS thread (blocked GEMMs) or on the library's
    threads (whole GEMMs), the result is the same."""
    from gpuseq.backend.numpy_ops import _blas_threads
    x = _image(rng, 2, 6, 5, 3, "channels_last")
    kernel = rng.standard_normal((2, 3, 3, 4))
    monkeypatch.setattr(_blas_threads, "SMALL_GEMM_MACS", small_gemm_macs)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 5)
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, padding="same")
    np.testing.assert_allclose(y, ref_conv2d(x, kernel, None, padding="same"), rtol=1e-12,
                               atol=1e-12)
    check_op_gradients("conv2d", [x, kernel, None], dict(padding="same"))


@pytest.mark.parametrize("small_gemm_macs", [0, 1 << 62])
@pytest.mark.parametrize("col_budget", [None, 1])
def test_conv1d_blas_policy_and_chunking_do_not_change_results(rng, monkeypatch,
                                                               small_gemm_macs, col_budget):
    """conv1d on one BLAS thread (blocked GEMMs) or several, with the columns kept
    from the forward pass or rebuilt chunk by chunk (a 1-byte budget: one sample per
    chunk): the same values and gradients (the im2col path, host kernels off)."""
    from gpuseq.backend.numpy_ops import _blas_threads
    monkeypatch.setattr(_host, "_state", dict(_host._state, enabled=False))
    monkeypatch.setattr(_blas_threads, "SMALL_GEMM_MACS", small_gemm_macs)
    monkeypatch.setattr(np_conv, "GEMM_INNER", 4)
    if col_budget is not None:
        monkeypatch.setattr(np_conv, "COL_BUFFER_BYTES", col_budget)
    x = rng.standard_normal((3, 40, 4))             # 3 x 38 rows: several row blocks
    kernel = rng.standard_normal((3, 4, 5))
    bias = rng.standard_normal(5)
    attrs = dict(padding="same", activation="relu")
    y, saved = numpy_ops.conv1d_forward(x, kernel, bias, **attrs)
    assert (saved[4] is None) == (col_budget is not None)      # the kept columns
    np.testing.assert_allclose(y, ref_conv1d(x, kernel, bias, padding="same",
                                             activation="relu"), rtol=1e-12, atol=1e-12)
    check_op_gradients("conv1d", [x, kernel, bias], attrs)


def test_conv_column_buffer_is_bounded_for_the_vgg_batch():
    """A 32x100x100x3 batch through the VGG-like model: each chunk's columns fit the budget."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    for budget in (np_conv.COL_BUFFER_BYTES, cupy_conv.COL_BUFFER_BYTES):
        assert budget <= 256 << 20
        for hw, cin in ((98, 32), (46, 32), (44, 64), (98, 3)):  # (output size, input channels)
            per_sample = hw * hw * 9 * cin * 4
            step = np_conv.chunk_size(32, per_sample, budget)
            assert step * per_sample <= max(budget, per_sample)
            assert step >= 1


# ---------------------------------------------------------------------------
# Gradients (float64 finite differences of the NumPy backend, host and BLAS paths)
# ---------------------------------------------------------------------------

GRAD_CASES = [
    ((1, 1), "same", (1, 1), "channels_last", "relu"),
    ((2, 1), "same", (1, 2), "channels_last", "tanh"),
    ((2, 2), "valid", (1, 1), "channels_last", "linear"),
    ((1, 1), "valid", (2, 1), "channels_last", "sigmoid"),
    ((1, 1), "same", (1, 1), "channels_first", "linear"),
    ((2, 1), "same", (1, 2), "channels_first", "tanh"),
    ((1, 2), "valid", (2, 1), "channels_first", "relu"),
    ((1, 1), "valid", (1, 1), "channels_last", "relu"),
    ((1, 1), "same", (2, 1), "channels_last", "tanh"),
    ((2, 1), "same", (1, 1), "channels_last", "sigmoid"),
    ((1, 1), "same", (1, 1), "channels_last", "softplus"),
]


@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_gradients(rng, strides, padding, dilation, data_format, activation, with_bias,
                          numpy_conv_path):
    x = _image(rng, 2, 5, 6, 3, data_format)
    kernel = rng.standard_normal((3, 2, 3, 2))
    bias = rng.standard_normal(2) if with_bias else None
    check_op_gradients("conv2d", [x, kernel, bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation))


@pytest.mark.parametrize("padding,stride,dilation", [("valid", 1, 1), ("same", 2, 1),
                                                     ("causal", 1, 2), ("same", 1, 3)])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv1d_gradients(rng, padding, stride, dilation, data_format, numpy_conv_path):
    if padding == "causal" and data_format == "channels_first":
        pytest.skip("causal padding is defined for channels_last")
    x = rng.standard_normal((2, 9, 3) if data_format == "channels_last" else (2, 3, 9))
    check_op_gradients("conv1d", [x, rng.standard_normal((3, 3, 4)), rng.standard_normal(4)],
                       dict(strides=stride, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation="tanh"))


def test_conv2d_without_input_gradient(rng, numpy_conv_path):
    x = _image(rng, 2, 5, 5, 2, "channels_last")
    kernel = rng.standard_normal((3, 3, 2, 2))
    y, saved = numpy_ops.conv2d_forward(x, kernel, None, input_grad=False)
    gx, gk, gb = numpy_ops.conv2d_backward(np.ones_like(y), saved, input_grad=False)
    assert gx is None and gb is None
    _, saved = numpy_ops.conv2d_forward(x, kernel, None)
    np.testing.assert_allclose(gk, numpy_ops.conv2d_backward(np.ones_like(y), saved)[1])


def test_conv2d_strided_input_gradient_uses_col2im(rng, numpy_conv_path):
    # stride 2 input gradients go through col2im; stride 1 through a transposed
    # convolution: both must equal the finite differences
    for strides in ((2, 2), (1, 1)):
        x = _image(rng, 1, 6, 5, 2, "channels_last")
        check_op_gradients("conv2d", [x, rng.standard_normal((2, 3, 2, 3)), None],
                           dict(strides=strides, padding="same"), wrt=[0])


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------

IM2COL_CASES = [
    ((3, 3), (1, 1), "valid", (1, 1)),
    ((3, 2), (2, 1), "same", (1, 2)),
    ((2, 2), (2, 2), "same", (1, 1)),
    ((1, 3), (1, 3), "valid", (1, 1)),
    ((3, 3), (1, 1), ((2, 0), (1, 3)), (2, 1)),   # explicit pads
]


@pytest.mark.parametrize("channels", [3, 8])     # 8: the 16-byte kernels of channels_last
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
def test_im2col_col2im_adjoint(backend, rng, ksize, strides, padding, dilation, data_format,
                               channels):
    """<im2col(x), c> == <x, col2im(c)> for random x and c."""
    x = _image(rng, 2, 7, 6, channels, data_format)
    attrs = dict(kernel_size=ksize, strides=strides, padding=padding, dilation_rate=dilation,
                 data_format=data_format)
    ops = dispatch.ops()
    col, saved = ops.im2col_forward(dispatch.to_device(x), **attrs)
    c = rng.standard_normal(col.shape)
    (gx,) = ops.im2col_backward(dispatch.to_device(c), saved, **attrs)
    lhs = float(np.sum(dispatch.to_host(col) * c))
    rhs = float(np.sum(x * dispatch.to_host(gx)))
    assert lhs == pytest.approx(rhs, rel=1e-10, abs=1e-10)


def test_im2col_layout_channels_last():
    x = np.arange(2 * 3 * 3 * 2, dtype=np.float64).reshape(2, 3, 3, 2)
    col, _ = numpy_ops.im2col_forward(x, (2, 2))
    assert col.shape == (2 * 2 * 2, 2 * 2 * 2)
    # row (n=1, oy=1, ox=0): pixels (1,0), (1,1), (2,0), (2,1), channels innermost
    np.testing.assert_array_equal(col[1 * 4 + 2], np.concatenate(
        [x[1, 1, 0], x[1, 1, 1], x[1, 2, 0], x[1, 2, 1]]))


def test_im2col_layout_channels_first():
    x = np.arange(1 * 2 * 3 * 3, dtype=np.float64).reshape(1, 2, 3, 3)
    col, _ = numpy_ops.im2col_forward(x, (2, 2), data_format="channels_first")
    assert col.shape == (1, 2 * 2 * 2, 2 * 2)
    # row (c=1, ky=0, kx=1) over the output pixels (0,0), (0,1), (1,0), (1,1)
    np.testing.assert_array_equal(col[0, 1 * 4 + 0 * 2 + 1], [x[0, 1, 0, 1], x[0, 1, 0, 2],
                                                              x[0, 1, 1, 1], x[0, 1, 1, 2]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
def test_vector_im2col_kernels_equal_the_scalar_ones(backend, rng, monkeypatch, ksize, strides,
                                                     padding, dilation, dtype):
    """The 16-byte channels-last im2col / col2im kernels give bitwise the scalar ones'
    results (col2im sums in the same order)."""
    if backend == "numpy":
        pytest.skip("CUDA kernels only (emulated or on the GPU)")
    from gpuseq.backend.cupy_ops import conv as cu_conv
    x = dispatch.to_device(_image(rng, 2, 7, 6, 8, "channels_last", dtype))
    attrs = dict(kernel_size=ksize, strides=strides, padding=padding, dilation_rate=dilation)
    assert cu_conv._vector_ok(8, x)
    results = []
    for vector in (True, False):
        if not vector:
            monkeypatch.setattr(cu_conv, "_vector_ok", lambda c, *arrays: False)
        col, saved = cu_conv.im2col_forward(x, **attrs)
        c = dispatch.to_device(np.random.default_rng(5).standard_normal(col.shape).astype(dtype))
        (gx,) = cu_conv.im2col_backward(c, saved, **attrs)
        results.append((dispatch.to_host(col), dispatch.to_host(gx)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


# ---------------------------------------------------------------------------
# Every backend against the NumPy twin (emulated CUDA in CI, the GPU where present)
# ---------------------------------------------------------------------------

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("channels", [3, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ksize,strides,padding,dilation", IM2COL_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_im2col_matches_numpy(backend, rng, ksize, strides, padding, dilation, data_format,
                              dtype, channels):
    x = _image(rng, 2, 7, 6, channels, data_format, dtype)
    compare_with_numpy("im2col", [x], dict(kernel_size=ksize, strides=strides, padding=padding,
                                           dilation_rate=dilation, data_format=data_format),
                       **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
def test_conv2d_matches_numpy(backend, rng, strides, padding, dilation, data_format,
                              activation, dtype):
    x = _image(rng, 3, 6, 7, 3, data_format, dtype)
    kernel = rng.standard_normal((3, 2, 3, 5)).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    compare_with_numpy("conv2d", [x, kernel, bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation), **TOL[dtype])


@pytest.mark.parametrize("n,h,w,cin,cout", [(0, 5, 5, 2, 3), (1, 1, 1, 1, 1), (1, 16, 16, 1, 1),
                                            (2, 9, 15, 3, 257), (3, 5, 4, 17, 2),
                                            (2, 9, 7, 8, 4)])
def test_conv2d_sizes_match_numpy(backend, rng, n, h, w, cin, cout):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    kernel = rng.standard_normal((1 if h == 1 else 3, 1 if w == 1 else 3, cin, cout))
    compare_with_numpy("conv2d", [x, kernel.astype(np.float32),
                                  rng.standard_normal(cout).astype(np.float32)],
                       dict(padding="same", activation="relu"), **TOL[np.float32])


def test_conv2d_chunked_matches_numpy(backend, rng, monkeypatch):
    """The GPU path's batch chunks (forced tiny here) give the same result."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    monkeypatch.setattr(cupy_conv, "COL_BUFFER_BYTES", 1000)
    x = _image(rng, 4, 5, 5, 2, "channels_first")
    compare_with_numpy("conv2d", [x, rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)],
                       dict(padding="same", data_format="channels_first"), **TOL[np.float64])
    compare_with_numpy("conv2d", [np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                                  rng.standard_normal((3, 3, 2, 3)), None],
                       dict(padding="same"), **TOL[np.float64])


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_matches_numpy(backend, rng, padding, dtype):
    x = rng.standard_normal((3, 13, 4)).astype(dtype)
    compare_with_numpy("conv1d", [x, rng.standard_normal((3, 4, 6)).astype(dtype),
                                  rng.standard_normal(6).astype(dtype)],
                       dict(strides=2, padding=padding, dilation_rate=1, activation="relu"),
                       **TOL[dtype])


def test_conv1d_channels_first_matches_numpy(backend, rng):
    x = rng.standard_normal((2, 4, 10))
    compare_with_numpy("conv1d", [x, rng.standard_normal((2, 4, 3)), None],
                       dict(padding="same", dilation_rate=2, data_format="channels_first"),
                       **TOL[np.float64])


# ---------------------------------------------------------------------------
# The NumPy code's bias gradient (a matrix-vector product)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ["relu", "linear", "tanh"])
def test_conv_bias_gradient_equals_the_sum_over_rows(rng, dtype, activation):
    z = rng.standard_normal((5, 31, 24)).astype(dtype)             # (N, L, C) pre-activation
    y = np.maximum(z, 0) if activation == "relu" else (np.tanh(z) if activation == "tanh" else z)
    gy = rng.standard_normal(z.shape).astype(dtype)
    gz, gb = np_conv._bias_act_backward(gy, y, z, activation, True, -1)
    if activation == "relu":
        want_gz = gy * (z > 0)
    elif activation == "tanh":
        want_gz = gy * (1 - y * y)
    else:
        want_gz = gy
    np.testing.assert_allclose(gz, want_gz, rtol=1e-6, atol=1e-7)
    want = want_gz.astype("float64").sum(axis=(0, 1))
    assert gb.shape == (24,) and gb.dtype == np.dtype(dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(gb, want, rtol=tol, atol=tol)


def test_conv_bias_gradient_of_a_strided_or_channels_first_gradient(rng):
    gy = rng.standard_normal((4, 6, 10)).astype("float32")
    # a non-contiguous channels-last gradient (linear: gz is gy itself) takes the reduction
    view = gy[:, ::2]
    _, gb = np_conv._bias_act_backward(view, view, None, "linear", True, -1)
    np.testing.assert_allclose(gb, view.astype("float64").sum(axis=(0, 1)), rtol=2e-5)
    # channels first: the channel axis is 1
    _, gb1 = np_conv._bias_act_backward(gy, gy, None, "linear", True, 1)
    np.testing.assert_allclose(gb1, gy.astype("float64").sum(axis=(0, 2)), rtol=2e-5)
    _, none = np_conv._bias_act_backward(gy, gy, None, "linear", False, -1)
    assert none is None


def test_conv1d_bias_gradient_through_the_op(rng):
    x = rng.standard_normal((3, 12, 5)).astype("float32")
    k = rng.standard_normal((3, 5, 7)).astype("float32")
    b = rng.standard_normal(7).astype("float32")
    y, saved = np_conv.conv1d_forward(x, k, b, activation="relu")
    gy = rng.standard_normal(y.shape).astype("float32")
    _, _, gb = np_conv.conv1d_backward(gy, saved, activation="relu")
    want = (gy * (y > 0)).astype("float64").sum(axis=(0, 1))
    np.testing.assert_allclose(gb, want, rtol=2e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# The host C++ convolutions (kernels/host/conv1d.cpp, conv2d.cpp) against the im2col +
# BLAS path: Conv1D over its geometries; then for both what the every-path tests above
# do not reach: register-tile, column-panel, inner-block and batch-block edges, the
# thread count, which path runs, a backward pass after the host kernels were switched
# off, and a model trained on the digits with and without them.
# ---------------------------------------------------------------------------

_NO_HOST = "no C++ compiler: the host kernels cannot be built"
needs_host_conv1d = pytest.mark.skipif(_host.library("conv1d") is None, reason=_NO_HOST)
needs_host_conv2d = pytest.mark.skipif(_host.library("conv2d") is None, reason=_NO_HOST)

# Where an op's saved tuple keeps the padded input of a forward pass on the host kernels
# (None after the im2col path): a backward pass runs on the path its forward pass took.
HOST_PADDED_INPUT = {"conv1d": 7, "conv2d": 6}

CONV1D_HOST_GEOMETRIES = [  # (stride, dilation, padding)
    (1, 1, "valid"), (1, 1, "same"), (1, 2, "causal"), (2, 1, "same"), (3, 2, "valid"),
    (1, 3, "same"), (2, 2, "causal"), (1, 1, (2, 3)),
]


def _conv1d_inputs(rng, dtype, n=3, length=23, cin=5, k=3, cout=7,
                   data_format="channels_last"):
    x = rng.standard_normal((n, length, cin))
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    kernel = rng.standard_normal((k, cin, cout)) * 0.5
    bias = rng.standard_normal(cout) * 0.3
    return (np.ascontiguousarray(x, dtype=dtype), kernel.astype(dtype), bias.astype(dtype))


def _conv2d_inputs(rng, dtype, n=2, h=9, w=10, cin=3, kh=3, kw=2, cout=5,
                   data_format="channels_last"):
    x = _image(rng, n, h, w, cin, data_format, dtype)
    kernel = rng.standard_normal((kh, kw, cin, cout)) * 0.5
    bias = rng.standard_normal(cout) * 0.3
    return x, kernel.astype(dtype), bias.astype(dtype)


def _run_numpy_path(op, on, x, kernel, bias, attrs, input_grad=True, gy_seed=1):
    """(y, (gx, gkernel, gbias)) of one forward and backward pass of the NumPy backend's
    ``op`` with the host kernels on or off, checking that that path ran."""
    forward, backward = getattr(np_conv, op + "_forward"), getattr(np_conv, op + "_backward")
    with _host.use(on):
        y, saved = forward(x, kernel, bias, **attrs, input_grad=input_grad)
        assert (saved[HOST_PADDED_INPUT[op]] is not None) == on
        gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
        grads = backward(gy, saved, **attrs, input_grad=input_grad)
    return y, grads


def _assert_same(a, b, rtol, atol):
    y0, g0 = a
    y1, g1 = b
    assert y0.dtype == y1.dtype
    assert_close(y0, y1, rtol, atol, "y")
    for name, u, v in zip(("gx", "gkernel", "gbias"), g0, g1):
        assert (u is None) == (v is None), name
        if u is not None:
            assert u.shape == v.shape and u.dtype == v.dtype, name
            assert_close(u, v, rtol, atol, name)


@needs_host_conv1d
@pytest.mark.parametrize("stride,dilation,padding", CONV1D_HOST_GEOMETRIES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_host_conv1d_equals_the_blas_path_in_float64(rng, stride, dilation, padding,
                                                      activation):
    x, kernel, bias = _conv1d_inputs(rng, np.float64)
    attrs = dict(strides=stride, padding=padding, dilation_rate=dilation,
                 activation=activation)
    _assert_same(_run_numpy_path("conv1d", True, x, kernel, bias, attrs),
                 _run_numpy_path("conv1d", False, x, kernel, bias, attrs), 1e-10, 1e-12)


@needs_host_conv1d
@pytest.mark.parametrize("shape", [
    dict(n=1, length=3, cin=1, k=3, cout=1),          # one output row, one channel
    dict(n=2, length=40, cin=180, k=3, cout=17),      # 540-wide windows: two inner blocks
    dict(n=10, length=61, cin=9, k=5, cout=40),       # > 512 rows: several batch blocks
    dict(n=3, length=12, cin=16, k=1, cout=33),       # 1-tap kernel, partial panels
    dict(n=4, length=30, cin=70, k=4, cout=6),        # 280 columns of dilated runs
])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_host_conv1d_sizes_and_tiles(rng, shape, input_grad, with_bias):
    x, kernel, bias = _conv1d_inputs(rng, np.float64, **shape)
    for dilation in (1, 2):
        if dilation * (shape["k"] - 1) + 1 > shape["length"]:
            continue
        attrs = dict(padding="valid", dilation_rate=dilation, activation="relu")
        b = bias if with_bias else None
        host = _run_numpy_path("conv1d", True, x, kernel, b, attrs, input_grad)
        assert (host[1][0] is None) == (not input_grad)
        assert (host[1][2] is None) == (not with_bias)
        _assert_same(host, _run_numpy_path("conv1d", False, x, kernel, b, attrs, input_grad),
                     1e-10, 1e-12)


@needs_host_conv1d
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_host_conv1d_float32_matches_the_blas_path(rng, activation, data_format):
    x, kernel, bias = _conv1d_inputs(rng, np.float32, n=6, length=50, cin=64, cout=64,
                                     data_format=data_format)
    attrs = dict(padding="same", activation=activation, data_format=data_format)
    host = _run_numpy_path("conv1d", True, x, kernel, bias, attrs)
    blas = _run_numpy_path("conv1d", False, x, kernel, bias, attrs)
    assert host[0].dtype == np.float32
    _assert_same(host, blas, 2e-4, 2e-4)


@needs_host_conv1d
@pytest.mark.parametrize("stride,dilation,padding,activation", [
    (1, 1, "valid", "relu"), (1, 2, "same", "tanh"), (2, 1, "causal", "sigmoid"),
    (1, 1, "same", "softplus"),
])
def test_host_conv1d_gradients_by_finite_differences(rng, stride, dilation, padding,
                                                      activation):
    x, kernel, bias = _conv1d_inputs(rng, np.float64, n=2, length=9, cin=3, cout=4)
    with _host.use(True):
        check_op_gradients("conv1d", [x, kernel, bias],
                           dict(strides=stride, padding=padding, dilation_rate=dilation,
                                activation=activation))


@needs_host_conv1d
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_conv1d_results_do_not_depend_on_the_thread_count(rng, monkeypatch, dtype):
    x, kernel, bias = _conv1d_inputs(rng, dtype, n=9, length=50, cin=40, k=3, cout=30)
    attrs = dict(padding="same", activation="relu")
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        outs.append(_run_numpy_path("conv1d", True, x, kernel, bias, attrs))
    for y, grads in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            np.testing.assert_array_equal(a, e)


@needs_host_conv1d
def test_host_conv1d_backward_after_the_host_kernels_were_switched_off(rng):
    """A forward pass on the host kernels, a backward pass without them: the BLAS path
    rebuilds its columns from the saved input and gives the same gradients."""
    x, kernel, bias = _conv1d_inputs(rng, np.float64)
    attrs = dict(strides=2, padding="same", activation="tanh")
    y, saved = np_conv.conv1d_forward(x, kernel, bias, **attrs)
    assert saved[7] is not None
    gy = np.random.default_rng(1).standard_normal(y.shape)
    with _host.use(False):
        off = np_conv.conv1d_backward(gy, saved, **attrs)
    on = np_conv.conv1d_backward(gy, saved, **attrs)
    for a, b in zip(on, off):
        assert_close(a, b, 1e-10, 1e-12, "gradient")


@needs_host_conv1d
def test_host_conv1d_refuses_an_unknown_activation_code(rng):
    fns = _conv1d_host.functions(np.float64)
    x, kernel, _ = _conv1d_inputs(rng, np.float64)
    with pytest.raises(RuntimeError, match="refused activation code 9"):
        _conv1d_host.forward(fns, x, kernel, None, 1, 1, x.shape[1] - 2, 9)


def test_host_conv1d_functions_only_for_float_dtypes():
    assert _conv1d_host.functions(np.float16) is None
    assert _conv1d_host.functions(np.int32) is None
    with _host.use(False):
        assert _conv1d_host.functions(np.float32) is None


@needs_host_conv1d
def test_conv1d_training_is_the_same_with_and_without_host_kernels():
    from gpuseq.layers import Conv1D, Dense, GlobalAveragePooling1D, MaxPooling1D
    from gpuseq.models import Sequential
    from gpuseq.optimizers import RMSprop

    def build():
        model = Sequential([
            Conv1D(32, 3, activation="relu", padding="same", input_shape=(8, 8)),
            MaxPooling1D(2),
            Conv1D(32, 3, activation="relu"),
            GlobalAveragePooling1D(),
            Dense(10, activation="softmax")])
        model.compile(RMSprop(learning_rate=0.003), "categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    x, y = digits_sequences()
    host, numpy_path = loss_curves_on_both_paths(build, x, y, 5, batch_size=32, epochs=5)
    assert host[-1] < host[0] * 0.5                             # it learns
    assert_close(host, numpy_path, 1e-4, 1e-6, "loss per epoch")


@needs_host_conv2d
def test_conv2d_runs_on_the_host_kernels_wherever_they_build(rng):
    """Every row of test_conv2d_every_path_matches_the_reference (each stride, dilation,
    padding, data format, activation and dtype) runs on the host kernels when they are
    on, so its ``host`` path tests them, and on im2col + BLAS when they are off."""
    for case in (param.values[0] for param in _conv2d_reference_rows()):
        x, kernel, bias = _conv2d_reference_data(case)[:3]
        for on in (True, False):
            with _host.use(on):
                _, saved = np_conv.conv2d_forward(x, kernel, bias, **case.attrs())
            assert (saved[HOST_PADDED_INPUT["conv2d"]] is not None) == on, (case.id(), on)


@needs_host_conv2d
@pytest.mark.parametrize("dtype,tol", [(np.float64, (1e-10, 1e-12)), (np.float32, (3e-4, 3e-4))],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("shape", [
    dict(n=1, h=3, w=3, cin=1, kh=3, kw=3, cout=1),       # one output pixel, one channel
    dict(n=2, h=6, w=7, cin=70, kh=3, kw=3, cout=17),     # 630-wide windows: two inner blocks
    dict(n=6, h=13, w=12, cin=3, kh=3, kw=3, cout=32),    # > 512 rows: several batch blocks
    dict(n=3, h=5, w=6, cin=16, kh=1, kw=1, cout=33),     # 1x1 kernel, partial panels
    dict(n=2, h=9, w=11, cin=5, kh=2, kw=4, cout=6),      # uneven taps
])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_host_conv2d_sizes_and_tiles(rng, shape, input_grad, with_bias, dtype, tol):
    """Register-tile (6 rows x 8 float64 / 16 float32 columns), inner-block (512) and
    row-chunk (144) edges, undilated and dilated, against the im2col path."""
    x, kernel, bias = _conv2d_inputs(rng, dtype, **shape)
    for dilation in ((1, 1), (2, 2)):
        ekh = dilation[0] * (shape["kh"] - 1) + 1
        ekw = dilation[1] * (shape["kw"] - 1) + 1
        if ekh > shape["h"] or ekw > shape["w"]:
            continue
        attrs = dict(padding="valid", dilation_rate=dilation, activation="relu")
        b = bias if with_bias else None
        host = _run_numpy_path("conv2d", True, x, kernel, b, attrs, input_grad)
        assert host[0].dtype == dtype
        assert (host[1][0] is None) == (not input_grad)
        assert (host[1][2] is None) == (not with_bias)
        _assert_same(host, _run_numpy_path("conv2d", False, x, kernel, b, attrs, input_grad),
                     *tol)


@needs_host_conv2d
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,h,w,cin,cout,thread_counts", [
    (5, 12, 11, 12, 30, (1, 2, 3, 4)),          # 2 row blocks: split by groups or by tiles
    (8, 48, 48, 4, 16, (1, 2, 3, 20)),          # 36 blocks in 18 groups of 2
])
def test_host_conv2d_results_do_not_depend_on_the_thread_count(rng, monkeypatch, dtype, n, h,
                                                                w, cin, cout, thread_counts):
    """The weight gradient is summed in fixed groups of row blocks, whichever way the
    threads share the work (whole groups, or the tiles of each block)."""
    x, kernel, bias = _conv2d_inputs(rng, dtype, n=n, h=h, w=w, cin=cin, kh=3, kw=3,
                                     cout=cout)
    attrs = dict(padding="same", activation="relu")
    outs = []
    for threads in thread_counts:
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        outs.append(_run_numpy_path("conv2d", True, x, kernel, bias, attrs))
    for y, grads in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            np.testing.assert_array_equal(a, e)


@needs_host_conv2d
def test_host_conv2d_backward_after_the_host_kernels_were_switched_off(rng):
    """A forward pass on the host kernels, a backward pass without them: the im2col path
    builds its columns from the saved input and gives the same gradients."""
    x, kernel, bias = _conv2d_inputs(rng, np.float64)
    attrs = dict(strides=(2, 1), padding="same", activation="tanh")
    y, saved = np_conv.conv2d_forward(x, kernel, bias, **attrs)
    assert saved[HOST_PADDED_INPUT["conv2d"]] is not None
    gy = np.random.default_rng(1).standard_normal(y.shape)
    with _host.use(False):
        off = np_conv.conv2d_backward(gy, saved, **attrs)
    on = np_conv.conv2d_backward(gy, saved, **attrs)
    for a, b in zip(on, off):
        assert_close(a, b, 1e-10, 1e-12, "gradient")


@needs_host_conv2d
def test_host_conv2d_refuses_an_unknown_activation_code(rng):
    fns = _conv2d_host.functions(np.float64)
    x, kernel, _ = _conv2d_inputs(rng, np.float64)
    out_hw = (x.shape[1] - 2, x.shape[2] - 1)
    with pytest.raises(RuntimeError, match="refused activation code 9"):
        _conv2d_host.forward(fns, x, kernel, None, (1, 1), (1, 1), out_hw, 9)


def test_host_conv2d_functions_only_for_float_dtypes():
    assert _conv2d_host.functions(np.float16) is None
    assert _conv2d_host.functions(np.int32) is None
    with _host.use(False):
        assert _conv2d_host.functions(np.float32) is None


@needs_host_conv2d
def test_conv2d_training_is_the_same_with_and_without_host_kernels():
    from gpuseq.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from gpuseq.models import Sequential
    from gpuseq.optimizers import SGD

    def build():
        model = Sequential([
            Conv2D(16, (3, 3), activation="relu", padding="same", input_shape=(8, 8, 1)),
            Conv2D(16, (3, 3), activation="relu"),
            MaxPooling2D((2, 2)),
            Conv2D(24, (2, 2), strides=(1, 1), dilation_rate=(2, 2), activation="tanh"),
            Flatten(),
            Dense(10, activation="softmax")])
        model.compile(SGD(learning_rate=0.05, momentum=0.9), "categorical_crossentropy")
        return model

    x, y = digits_images()
    host, im2col = loss_curves_on_both_paths(build, x, y, 3, batch_size=32, epochs=5)
    assert host[-1] < host[0] * 0.5                             # it learns
    assert_close(host, im2col, 1e-4, 1e-6, "loss per epoch")


# ---------------------------------------------------------------------------
# The implicit-GEMM convolution (kernels/conv_igemm.cu) and its tensor-core helpers
# (kernels/tensor_core.cuh): the helpers against NumPy models of the PTX instructions,
# the three kernels (output, input gradient, kernel gradient) against the NumPy twin in
# float64 (exact multiply-adds), float32 3xTF32 and float32 TF32, the algorithm
# setting, and a few training steps equal to the im2col path's.
# ---------------------------------------------------------------------------

@pytest.fixture
def tensor_core_backend(device_backend):
    """conftest's emulated / GPU backends, skipping a GPU without TF32 tensor cores."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    if device_backend == "cupy" and not cupy_conv._tensor_cores():
        pytest.skip("TF32 tensor cores need compute capability 8.0 or newer")
    return device_backend


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


def test_tf32_rounding_is_to_nearest_ties_away(tensor_core_backend, probe_path, rng):
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


def test_mma_fragments_multiply_like_the_matrices(tensor_core_backend, probe_path, rng):
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

IGEMM_CASES = [  # (n, h, w, cin, cout), kernel (kh, kw), strides, padding, dilation
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
@pytest.mark.parametrize("shape,ksize,strides,padding,dilation", IGEMM_CASES)
def test_implicit_gemm_matches_numpy(tensor_core_backend, rng, precision, shape, ksize, strides,
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
@pytest.mark.parametrize("case", [IGEMM_CASES[1], IGEMM_CASES[4], IGEMM_CASES[7]])
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
def test_the_forward_epilogue_applies_bias_and_activation(tensor_core_backend, rng, activation,
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
def test_a_bias_of_the_wrong_length_is_refused(tensor_core_backend, rng, algorithm):
    """The kernels read one bias value per output channel: a shorter bias would be read
    past its end on the GPU."""
    x = dispatch.to_device(rng.standard_normal((1, 5, 5, 4)).astype(np.float32))
    kernel = dispatch.to_device(rng.standard_normal((3, 3, 4, 6)).astype(np.float32))
    bias = dispatch.to_device(np.zeros(5, np.float32))
    with conv_settings(algorithm), pytest.raises(ValueError, match=r"bias of shape \(6,\).*"
                                                  r"Received: bias.shape=\(5,\)"):
        dispatch.ops().conv2d_forward(x, kernel, bias, activation="relu")


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_implicit_gemm_conv1d_matches_numpy(tensor_core_backend, rng, padding):
    x = rng.standard_normal((3, 13, 4))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv1d", [x, rng.standard_normal((3, 4, 6)), rng.standard_normal(6)],
                           dict(strides=2, padding=padding, activation="tanh"),
                           rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n,h,w,cin,cout", [(0, 5, 5, 2, 3), (1, 1, 1, 1, 1), (2, 9, 15, 3, 257),
                                            (3, 5, 4, 17, 2)])
def test_implicit_gemm_sizes_match_numpy(tensor_core_backend, rng, n, h, w, cin, cout):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    kernel = rng.standard_normal((1 if h == 1 else 3, 1 if w == 1 else 3, cin, cout))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv2d", [x, kernel.astype(np.float32),
                                      rng.standard_normal(cout).astype(np.float32)],
                           dict(padding="same", activation="relu"), rtol=2e-4, atol=2e-4)


def test_kernel_gradient_split_over_many_row_ranges(tensor_core_backend, rng, monkeypatch):
    """A reduction cut into many short splits (and a last, partial one) sums the same."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    monkeypatch.setattr(cupy_conv, "IGEMM_MIN_SPLIT_ROWS", 16)
    assert cupy_conv._kernel_grad_splits(2 * 9 * 9, 1) == (16, 11)
    x = rng.standard_normal((2, 9, 9, 8))
    with conv_settings("implicit_gemm"):
        compare_with_numpy("conv2d", [x, rng.standard_normal((3, 3, 8, 6)), None],
                           dict(padding="same"), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_operands_take_the_scalar_reads(tensor_core_backend, rng, dtype):
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
def test_zero_channels(tensor_core_backend, rng, shape):
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
def test_which_convolutions_run_as_implicit_gemm(tensor_core_backend, rng, monkeypatch, algorithm,
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


def test_training_steps_equal_the_im2col_path(tensor_core_backend, digits):
    x = digits[0][:128].reshape(-1, 8, 8, 1).astype(np.float32)
    y = digits[1][:128]
    loss_i, w_i = _fit_small_cnn("im2col", x, y)
    loss_g, w_g = _fit_small_cnn("implicit_gemm", x, y)
    assert loss_i[-1] < 0.95 * loss_i[0]          # it learns
    np.testing.assert_allclose(loss_g, loss_i, rtol=1e-4)
    for a, b in zip(w_g, w_i):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
