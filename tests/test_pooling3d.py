"""3-D pooling ops: the NumPy twin against direct loops over every pool / stride /
padding / mode / data_format combination, float64 finite differences, and the
CUDA kernels (emulated) against the NumPy twin.
"""
import itertools
import math

import numpy as np
import pytest

from gpuseq.backend import numpy_ops
from gpuseq.testing import check_op_gradients, compare_with_numpy


def ref_pool3d(x, pool, strides, padding, mode, data_format="channels_last"):
    """Direct loops over output voxels; TF padding, padding excluded from windows."""
    if data_format == "channels_first":
        x = x.transpose(0, 2, 3, 4, 1)
    dims = x.shape[1:4]
    strides = strides or pool
    starts, outs = [], []
    for n, p, s in zip(dims, pool, strides):
        if padding == "valid":
            starts.append(0)
            outs.append((n - p) // s + 1)
        else:
            o = math.ceil(n / s)
            starts.append(max((o - 1) * s + p - n, 0) // 2)
            outs.append(o)
    y = np.zeros((x.shape[0],) + tuple(outs) + (x.shape[4],))
    for o in itertools.product(*[range(v) for v in outs]):
        lo = [o[i] * strides[i] - starts[i] for i in range(3)]
        win = x[:, max(lo[0], 0):lo[0] + pool[0], max(lo[1], 0):lo[1] + pool[1],
                max(lo[2], 0):lo[2] + pool[2]]
        y[(slice(None),) + o] = win.max(axis=(1, 2, 3)) if mode == "max" else \
            win.mean(axis=(1, 2, 3))
    return y.transpose(0, 4, 1, 2, 3) if data_format == "channels_first" else y


def _volume(rng, shape, data_format, dtype=np.float64):
    x = rng.standard_normal(shape)
    if data_format == "channels_first":
        x = x.transpose(0, 4, 1, 2, 3)
    return np.ascontiguousarray(x).astype(dtype)


CASES = list(itertools.product([(2, 2, 2), (3, 1, 2)], [None, (1, 2, 1)], ["valid", "same"],
                               ["max", "avg"], ["channels_last", "channels_first"]))


@pytest.mark.parametrize("pool,strides,padding,mode,data_format", CASES)
def test_pool3d_forward_matches_direct_loops(rng, pool, strides, padding, mode, data_format):
    x = _volume(rng, (2, 5, 4, 7, 3), data_format)
    y, _ = numpy_ops.pool3d_forward(x, pool, strides, padding, data_format, mode)
    np.testing.assert_allclose(y, ref_pool3d(x, pool, strides, padding, mode, data_format),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pool,strides,padding,mode,data_format", CASES[::3])
def test_pool3d_gradients(pool, strides, padding, mode, data_format):
    rng = np.random.default_rng(3)
    x = _volume(rng, (1, 4, 3, 5, 2), data_format)
    check_op_gradients("pool3d", [x], dict(pool_size=pool, strides=strides, padding=padding,
                                           data_format=data_format, mode=mode))


def test_max_pool3d_hand_computed_and_ties():
    x = np.zeros((1, 2, 2, 2, 1))
    x[0, 1, 0, 1, 0] = 5.0
    y, saved = numpy_ops.pool3d_forward(x, (2, 2, 2))
    assert y.item() == 5.0
    (gx,) = numpy_ops.pool3d_backward(np.full_like(y, 3.0), saved, (2, 2, 2))
    assert gx[0, 1, 0, 1, 0] == 3.0 and gx.sum() == 3.0
    # all equal: the first element in (depth, row, column) order takes the gradient
    ones = np.ones((1, 2, 2, 2, 1))
    y, saved = numpy_ops.pool3d_forward(ones, (2, 2, 2))
    (gx,) = numpy_ops.pool3d_backward(np.ones_like(y), saved, (2, 2, 2))
    assert gx[0, 0, 0, 0, 0] == 1.0 and gx.sum() == 1.0
    avg, _ = numpy_ops.pool3d_forward(np.arange(8.0).reshape(1, 2, 2, 2, 1), 2, mode="avg")
    assert avg.item() == 3.5


def test_avg_pool3d_same_counts_only_real_elements():
    x = np.ones((1, 3, 3, 3, 1))
    y, _ = numpy_ops.pool3d_forward(x, (2, 2, 2), padding="same", mode="avg")
    np.testing.assert_array_equal(y, np.ones((1, 2, 2, 2, 1)))


TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool,strides,padding,mode,data_format", [
    ((2, 2, 2), None, "valid", "max", "channels_last"),
    ((3, 1, 2), (1, 2, 1), "same", "max", "channels_first"),
    ((2, 2, 2), (1, 1, 1), "same", "avg", "channels_last"),
    ((3, 1, 2), None, "valid", "avg", "channels_first"),
])
def test_pool3d_device_matches_numpy(device_backend, rng, dtype, pool, strides, padding, mode,
                                     data_format):
    x = _volume(rng, (2, 4, 3, 5, 3), data_format, dtype)
    compare_with_numpy("pool3d", [x], dict(pool_size=pool, strides=strides, padding=padding,
                                           data_format=data_format, mode=mode), **TOL[dtype])


def test_pool3d_device_ties_and_empty_batch(device_backend):
    x = np.ones((1, 4, 4, 4, 2), np.float32)
    compare_with_numpy("pool3d", [x], dict(pool_size=2, strides=1, padding="same"))
    y, _ = compare_with_numpy("pool3d", [np.zeros((0, 2, 2, 2, 1), np.float32)],
                              dict(pool_size=2))
    assert y.shape == (0, 1, 1, 1, 1)
