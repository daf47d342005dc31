"""3-D convolution ops (vol2col, conv3d, conv3d_transpose): the NumPy twin against
direct loops over every stride / padding / dilation / data_format combination,
float64 finite differences, and the CUDA kernels (emulated) against the NumPy twin.
"""
import itertools
import math

import numpy as np
import pytest

from gpuseq.backend import numpy_ops
from gpuseq.testing import check_op_gradients, compare_with_numpy


def ref_pads(n, k, s, d, padding):
    """(before, out) of one axis by TensorFlow's rule."""
    ek = (k - 1) * d + 1
    if padding == "valid":
        return 0, (n - ek) // s + 1
    out = math.ceil(n / s)
    return max((out - 1) * s + ek - n, 0) // 2, out


def ref_conv3d(x, kernel, bias, strides, padding, dilation, data_format="channels_last"):
    """Direct loops over output voxels and kernel taps (float64, channels last inside)."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 4, 1)
    n, dims = x.shape[0], x.shape[1:4]
    kd, kh, kw, _, cout = kernel.shape
    geo = [ref_pads(dims[i], kernel.shape[i], strides[i], dilation[i], padding)
           for i in range(3)]
    y = np.zeros((n, geo[0][1], geo[1][1], geo[2][1], cout))
    for o in itertools.product(*[range(g[1]) for g in geo]):
        for t in itertools.product(range(kd), range(kh), range(kw)):
            pos = [o[i] * strides[i] - geo[i][0] + t[i] * dilation[i] for i in range(3)]
            if all(0 <= pos[i] < dims[i] for i in range(3)):
                y[(slice(None),) + o] += x[:, pos[0], pos[1], pos[2], :] @ kernel[t]
    if bias is not None:
        y += bias
    return y.transpose(0, 4, 1, 2, 3) if data_format == "channels_first" else y


def ref_conv3d_transpose(x, kernel, bias, out_size, strides, padding, dilation,
                         data_format="channels_last"):
    """Scatter loops: every input voxel adds kernel-weighted copies onto the output
    positions the matching convolution reads from (kernel (KD, KH, KW, OUT, C))."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 4, 1)
    n, dims = x.shape[0], x.shape[1:4]
    kd, kh, kw, cout, _ = kernel.shape
    before = [ref_pads(out_size[i], kernel.shape[i], strides[i], dilation[i], padding)[0]
              for i in range(3)]
    y = np.zeros((n,) + tuple(out_size) + (cout,))
    for o in itertools.product(*[range(d) for d in dims]):
        for t in itertools.product(range(kd), range(kh), range(kw)):
            pos = [o[i] * strides[i] - before[i] + t[i] * dilation[i] for i in range(3)]
            if all(0 <= pos[i] < out_size[i] for i in range(3)):
                y[:, pos[0], pos[1], pos[2], :] += x[(slice(None),) + o] @ kernel[t].T
    if bias is not None:
        y += bias
    return y.transpose(0, 4, 1, 2, 3) if data_format == "channels_first" else y


def _volume(rng, shape, data_format, dtype=np.float64):
    x = rng.standard_normal(shape)
    if data_format == "channels_first":
        x = x.transpose(0, 4, 1, 2, 3)
    return np.ascontiguousarray(x).astype(dtype)


GEOMETRIES = [((1, 1, 1), (1, 1, 1)), ((2, 1, 2), (1, 1, 1)), ((1, 1, 1), (2, 1, 2)),
              ((3, 2, 1), (1, 1, 1))]
CASES = list(itertools.product(GEOMETRIES, ["valid", "same"],
                               ["channels_last", "channels_first"]))


@pytest.mark.parametrize("geometry,padding,data_format", CASES)
def test_conv3d_forward_matches_direct_loops(rng, geometry, padding, data_format):
    strides, dilation = geometry
    x = _volume(rng, (2, 6, 5, 7, 3), data_format)
    kernel = rng.standard_normal((3, 2, 3, 3, 4))
    bias = rng.standard_normal(4)
    y, _ = numpy_ops.conv3d_forward(x, kernel, bias, strides, padding, dilation, data_format)
    np.testing.assert_allclose(
        y, ref_conv3d(x, kernel, bias, strides, padding, dilation, data_format),
        rtol=1e-12, atol=1e-12)


def test_conv3d_hand_computed():
    x = np.arange(8, dtype=np.float64).reshape(1, 2, 2, 2, 1)
    kernel = np.ones((2, 2, 2, 1, 1))
    y, _ = numpy_ops.conv3d_forward(x, kernel, np.array([0.5]))
    assert y.shape == (1, 1, 1, 1, 1) and y.item() == 28.5       # 0 + 1 + ... + 7 + 0.5
    y, _ = numpy_ops.conv3d_forward(x, kernel, None, padding="same")
    assert y.shape == (1, 2, 2, 2, 1)
    assert y[0, 1, 1, 1, 0] == 7 and y[0, 0, 0, 0, 0] == 28      # extra padding at the end


@pytest.mark.parametrize("geometry,padding,data_format", CASES[::3])
def test_conv3d_gradients(geometry, padding, data_format):
    strides, dilation = geometry
    rng = np.random.default_rng(5)
    x = _volume(rng, (2, 4, 3, 5, 2), data_format)
    attrs = dict(strides=strides, padding=padding, dilation_rate=dilation,
                 data_format=data_format)
    check_op_gradients("conv3d", [x, rng.standard_normal((2, 2, 3, 2, 3)),
                                  rng.standard_normal(3)], attrs)


def test_conv3d_without_input_grad_skips_it(rng):
    x = rng.standard_normal((1, 3, 3, 3, 2))
    y, saved = numpy_ops.conv3d_forward(x, rng.standard_normal((2, 2, 2, 2, 1)), None,
                                        input_grad=False)
    gx, gk, gb = numpy_ops.conv3d_backward(np.ones_like(y), saved, input_grad=False)
    assert gx is None and gb is None and gk.shape == (2, 2, 2, 2, 1)


TRANSPOSE_CASES = [
    # in dims, kernel, strides, padding, dilation, out size
    ((3, 2, 3), (3, 2, 2), (2, 2, 1), "valid", (1, 1, 1), (7, 4, 4)),
    ((3, 2, 3), (3, 3, 2), (2, 3, 2), "same", (1, 1, 1), (6, 6, 6)),
    ((3, 2, 3), (3, 3, 3), (2, 2, 2), "same", (1, 1, 1), (5, 4, 5)),    # output_padding 0
    ((3, 3, 2), (2, 3, 2), (1, 1, 1), "valid", (2, 1, 2), (5, 5, 4)),
    ((3, 3, 2), (3, 3, 3), (1, 1, 1), "same", (2, 2, 1), (3, 3, 2)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv3d_transpose_forward_matches_scatter_loops(rng, case, data_format):
    dims, ksize, strides, padding, dilation, out_size = case
    x = _volume(rng, (2,) + dims + (3,), data_format)
    kernel = rng.standard_normal(ksize + (2, 3))
    bias = rng.standard_normal(2)
    y, _ = numpy_ops.conv3d_transpose_forward(x, kernel, bias, out_size, strides, padding,
                                              dilation, data_format)
    np.testing.assert_allclose(
        y, ref_conv3d_transpose(x, kernel, bias, out_size, strides, padding, dilation,
                                data_format), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", TRANSPOSE_CASES[::2])
def test_conv3d_transpose_gradients(case):
    dims, ksize, strides, padding, dilation, out_size = case
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1,) + dims + (2,))
    attrs = dict(output_size=out_size, strides=strides, padding=padding,
                 dilation_rate=dilation)
    check_op_gradients("conv3d_transpose", [x, rng.standard_normal(ksize + (2, 2)),
                                            rng.standard_normal(2)], attrs)


def test_conv3d_transpose_is_the_input_gradient_of_conv3d(rng):
    """<conv(v), u> == <v, conv_transpose(u)> for the same kernel array: Keras's
    (KD, KH, KW, C, OUT) of the convolution is (KD, KH, KW, filters, in) of its
    transpose."""
    v = rng.standard_normal((2, 7, 5, 6, 3))
    kernel = rng.standard_normal((3, 2, 3, 3, 4))
    y, _ = numpy_ops.conv3d_forward(v, kernel, None, (2, 2, 3), "same")
    u = rng.standard_normal(y.shape)
    t, _ = numpy_ops.conv3d_transpose_forward(u, kernel, None,
                                              (7, 5, 6), (2, 2, 3), "same")
    assert np.isclose(np.sum(y * u), np.sum(v * t), rtol=1e-12)


def test_conv3d_transpose_rejects_an_unreachable_output_size(rng):
    x = rng.standard_normal((1, 3, 3, 3, 2))
    with pytest.raises(ValueError, match="output_size"):
        numpy_ops.conv3d_transpose_forward(x, rng.standard_normal((2, 2, 2, 1, 2)), None,
                                           (9, 9, 9), (2, 2, 2), "valid")


def test_vol2col_round_trip_is_an_adjoint(rng):
    x = rng.standard_normal((2, 4, 5, 3, 2))
    attrs = dict(kernel_size=(2, 3, 2), strides=(2, 1, 1), padding="same",
                 dilation_rate=(1, 2, 1))
    col, saved = numpy_ops.vol2col_forward(x, **attrs)
    g = rng.standard_normal(col.shape)
    (gx,) = numpy_ops.vol2col_backward(g, saved, **attrs)
    assert np.isclose(np.sum(col * g), np.sum(x * gx), rtol=1e-12)


# ---------------------------------------------------------------------------
# CUDA kernels (emulated here, on the GPU where one exists) against the twin
# ---------------------------------------------------------------------------

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("attrs", [
    dict(kernel_size=(2, 2, 3), strides=(1, 2, 1), padding="same", dilation_rate=(1, 1, 2)),
    dict(kernel_size=(3, 1, 2), strides=(2, 1, 1), padding="valid", dilation_rate=(1, 1, 1)),
])
def test_vol2col_kernels_match_numpy(device_backend, rng, dtype, attrs):
    x = rng.standard_normal((2, 4, 3, 5, 3)).astype(dtype)
    compare_with_numpy("vol2col", [x], attrs, **TOL[dtype])


def test_vol2col_kernels_empty_batch(device_backend):
    x = np.zeros((0, 3, 3, 3, 2), np.float32)
    y, _ = compare_with_numpy("vol2col", [x], dict(kernel_size=2))
    assert y.shape == (0, 16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv3d_device_matches_numpy(device_backend, rng, dtype, data_format):
    x = _volume(rng, (2, 4, 3, 5, 3), data_format, dtype)
    inputs = [x, rng.standard_normal((2, 2, 3, 3, 4)).astype(dtype),
              rng.standard_normal(4).astype(dtype)]
    compare_with_numpy("conv3d", inputs, dict(strides=(2, 1, 1), padding="same",
                                              dilation_rate=(1, 1, 1),
                                              data_format=data_format), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv3d_transpose_device_matches_numpy(device_backend, rng, dtype, data_format):
    x = _volume(rng, (2, 3, 2, 3, 3), data_format, dtype)
    inputs = [x, rng.standard_normal((3, 2, 2, 2, 3)).astype(dtype),
              rng.standard_normal(2).astype(dtype)]
    compare_with_numpy("conv3d_transpose", inputs,
                       dict(output_size=(6, 4, 6), strides=(2, 2, 2), padding="same",
                            data_format=data_format), **TOL[dtype])
