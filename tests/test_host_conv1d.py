"""Conv1D on the host kernels (kernels/host/conv1d.cpp, numpy_ops/_conv1d_host.py).

The conv1d op runs as an implicit GEMM in the host library when it builds here and as
im2col + NumPy's BLAS otherwise. Both paths must give the same values and gradients
(float64 to rounding, float32 within the float32 rounding of a sum and the host's
polynomial exp), for every padding, stride, dilation, data format and activation, with
sizes that leave partial register tiles and several inner-dimension blocks; the host
path must not depend on its thread count. The op tests of tests/test_conv_ops.py
(direct-loop references, float64 gradient checks) run on both paths as well.
"""
import numpy as np
import pytest

from gpuseq.backend.numpy_ops import _conv1d_host, _host, conv
from gpuseq.testing import assert_close, check_op_gradients

from _host_paths import digits_sequences, loss_curves_on_both_paths

needs_host = pytest.mark.skipif(_host.library("conv1d") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

ACTIVATIONS = ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "softplus"]
GEOMETRIES = [  # (stride, dilation, padding)
    (1, 1, "valid"), (1, 1, "same"), (1, 2, "causal"), (2, 1, "same"), (3, 2, "valid"),
    (1, 3, "same"), (2, 2, "causal"), (1, 1, (2, 3)),
]


def _inputs(rng, dtype, n=3, length=23, cin=5, k=3, cout=7, data_format="channels_last"):
    x = rng.standard_normal((n, length, cin))
    if data_format == "channels_first":
        x = x.transpose(0, 2, 1)
    kernel = rng.standard_normal((k, cin, cout)) * 0.5
    bias = rng.standard_normal(cout) * 0.3
    return (np.ascontiguousarray(x, dtype=dtype), kernel.astype(dtype), bias.astype(dtype))


def _run(on, x, kernel, bias, attrs, input_grad=True, gy_seed=1):
    with _host.use(on):
        y, saved = conv.conv1d_forward(x, kernel, bias, **attrs, input_grad=input_grad)
        assert (saved[7] is not None) == on                   # the host kept its padded input
        gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
        grads = conv.conv1d_backward(gy, saved, **attrs, input_grad=input_grad)
    return y, grads


def _assert_same(a, b, rtol, atol):
    y0, g0 = a
    y1, g1 = b
    assert_close(y0, y1, rtol, atol, "y")
    for name, u, v in zip(("gx", "gkernel", "gbias"), g0, g1):
        assert (u is None) == (v is None), name
        if u is not None:
            assert u.shape == v.shape and u.dtype == v.dtype, name
            assert_close(u, v, rtol, atol, name)


@needs_host
@pytest.mark.parametrize("stride,dilation,padding", GEOMETRIES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_host_conv1d_equals_the_blas_path_in_float64(rng, stride, dilation, padding,
                                                      activation):
    x, kernel, bias = _inputs(rng, np.float64)
    attrs = dict(strides=stride, padding=padding, dilation_rate=dilation,
                 activation=activation)
    _assert_same(_run(True, x, kernel, bias, attrs), _run(False, x, kernel, bias, attrs),
                 1e-10, 1e-12)


@needs_host
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
    x, kernel, bias = _inputs(rng, np.float64, **shape)
    for dilation in (1, 2):
        if dilation * (shape["k"] - 1) + 1 > shape["length"]:
            continue
        attrs = dict(padding="valid", dilation_rate=dilation, activation="relu")
        b = bias if with_bias else None
        host = _run(True, x, kernel, b, attrs, input_grad)
        assert (host[1][0] is None) == (not input_grad)
        assert (host[1][2] is None) == (not with_bias)
        _assert_same(host, _run(False, x, kernel, b, attrs, input_grad), 1e-10, 1e-12)


@needs_host
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_host_conv1d_float32_matches_the_blas_path(rng, activation, data_format):
    x, kernel, bias = _inputs(rng, np.float32, n=6, length=50, cin=64, cout=64,
                              data_format=data_format)
    attrs = dict(padding="same", activation=activation, data_format=data_format)
    host, blas = _run(True, x, kernel, bias, attrs), _run(False, x, kernel, bias, attrs)
    assert host[0].dtype == np.float32
    _assert_same(host, blas, 2e-4, 2e-4)


@needs_host
@pytest.mark.parametrize("stride,dilation,padding,activation", [
    (1, 1, "valid", "relu"), (1, 2, "same", "tanh"), (2, 1, "causal", "sigmoid"),
    (1, 1, "same", "softplus"),
])
def test_host_conv1d_gradients_by_finite_differences(rng, stride, dilation, padding,
                                                      activation):
    x, kernel, bias = _inputs(rng, np.float64, n=2, length=9, cin=3, cout=4)
    with _host.use(True):
        check_op_gradients("conv1d", [x, kernel, bias],
                           dict(strides=stride, padding=padding, dilation_rate=dilation,
                                activation=activation))


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_conv1d_results_do_not_depend_on_the_thread_count(rng, monkeypatch, dtype):
    x, kernel, bias = _inputs(rng, dtype, n=9, length=50, cin=40, k=3, cout=30)
    attrs = dict(padding="same", activation="relu")
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        outs.append(_run(True, x, kernel, bias, attrs))
    for y, grads in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            np.testing.assert_array_equal(a, e)


@needs_host
def test_host_conv1d_backward_after_the_host_kernels_were_switched_off(rng):
    """A forward pass on the host kernels, a backward pass without them: the BLAS path
    rebuilds its columns from the saved input and gives the same gradients."""
    x, kernel, bias = _inputs(rng, np.float64)
    attrs = dict(strides=2, padding="same", activation="tanh")
    y, saved = conv.conv1d_forward(x, kernel, bias, **attrs)
    assert saved[7] is not None
    gy = np.random.default_rng(1).standard_normal(y.shape)
    with _host.use(False):
        off = conv.conv1d_backward(gy, saved, **attrs)
    on = conv.conv1d_backward(gy, saved, **attrs)
    for a, b in zip(on, off):
        assert_close(a, b, 1e-10, 1e-12, "gradient")


@needs_host
def test_host_conv1d_refuses_an_unknown_activation_code(rng):
    fns = _conv1d_host.functions(np.float64)
    x, kernel, _ = _inputs(rng, np.float64)
    with pytest.raises(RuntimeError, match="refused activation code 9"):
        _conv1d_host.forward(fns, x, kernel, None, 1, 1, x.shape[1] - 2, 9)


def test_host_conv1d_functions_only_for_float_dtypes():
    assert _conv1d_host.functions(np.float16) is None
    assert _conv1d_host.functions(np.int32) is None
    with _host.use(False):
        assert _conv1d_host.functions(np.float32) is None


@needs_host
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
