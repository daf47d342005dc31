"""Conv2D on the host kernels (kernels/host/conv2d.cpp, numpy_ops/_conv2d_host.py).

The conv2d op runs as an implicit GEMM in the host library when it builds here and as
im2col + NumPy's BLAS otherwise (``GPUSEQ_HOST_KERNELS=0``, no compiler). Both paths are
checked against the direct-loop reference of tests/test_conv_ops.py and against each
other (float64 to rounding, float32 within float32 rounding of a sum and the host's
polynomial exp) for every stride, padding, dilation and data format the layer takes,
forward and both gradients, with the bias and activation fused; sizes leave partial
register tiles, partial column panels, several inner-dimension blocks and several batch
blocks; the host path must not depend on its thread count; and a small image model
learns the same on scikit-learn's digits with and without the host kernels.
"""
import itertools

import numpy as np
import pytest

from gpuseq.backend.numpy_ops import _conv2d_host, _host, conv
from gpuseq.testing import assert_close, check_op_gradients

from _host_paths import loss_curves_on_both_paths
from test_conv_ops import ref_conv2d

needs_host = pytest.mark.skipif(_host.library("conv2d") is None,
                                reason="no C++ compiler: the host kernels cannot be built")

PATHS = [pytest.param(True, id="host", marks=needs_host), pytest.param(False, id="im2col")]
ACTIVATIONS = ["linear", "relu", "sigmoid", "hard_sigmoid", "tanh", "elu", "softplus"]
# (strides, dilation): the layer takes strides > 1 or dilation > 1 per axis pair
GEOMETRIES = [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 2)),
              ((1, 1), (1, 3)), ((1, 1), (2, 1)), ((3, 1), (1, 1))]
LAYER_PADDINGS = ["valid", "same"]
PADDINGS = LAYER_PADDINGS + [((2, 0), (1, 3))]        # the op also takes explicit pads
FORMATS = ["channels_last", "channels_first"]


def _inputs(rng, dtype, n=2, h=9, w=10, cin=3, kh=3, kw=2, cout=5,
            data_format="channels_last"):
    x = rng.standard_normal((n, h, w, cin))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    kernel = rng.standard_normal((kh, kw, cin, cout)) * 0.5
    bias = rng.standard_normal(cout) * 0.3
    return (np.ascontiguousarray(x, dtype=dtype), kernel.astype(dtype), bias.astype(dtype))


def _run(on, x, kernel, bias, attrs, input_grad=True, gy_seed=1):
    """(y, (gx, gkernel, gbias)) of one forward and backward pass on one path."""
    with _host.use(on):
        y, saved = conv.conv2d_forward(x, kernel, bias, **attrs, input_grad=input_grad)
        assert (saved[6] is not None) == on                   # the host kept its padded input
        gy = np.random.default_rng(gy_seed).standard_normal(y.shape).astype(y.dtype)
        grads = conv.conv2d_backward(gy, saved, **attrs, input_grad=input_grad)
    return y, grads, gy


def _assert_same(a, b, rtol, atol):
    y0, g0, _ = a
    y1, g1, _ = b
    assert y0.dtype == y1.dtype
    assert_close(y0, y1, rtol, atol, "y")
    for name, u, v in zip(("gx", "gkernel", "gbias"), g0, g1):
        assert (u is None) == (v is None), name
        if u is not None:
            assert u.shape == v.shape and u.dtype == v.dtype, name
            assert_close(u, v, rtol, atol, name)


def _reference_grads(x, kernel, bias, gy, attrs):
    """Gradients of sum(gy * ref_conv2d(...)) from the direct loops: the reference is
    linear in x, kernel and bias before the activation, so each gradient is a sum of
    reference convolutions of unit inputs (small sizes only)."""
    act = attrs.get("activation", "linear")
    kw = dict(strides=attrs["strides"], padding=attrs["padding"],
              dilation=attrs["dilation_rate"], data_format=attrs["data_format"])
    z = ref_conv2d(x, kernel, bias, **kw)
    y = ref_conv2d(x, kernel, bias, activation=act, **kw)
    dact = {"linear": np.ones_like(z), "relu": (z > 0).astype(float),
            "tanh": 1 - y ** 2, "sigmoid": y * (1 - y)}[act]
    gz = gy * dact
    gk = np.zeros(kernel.shape)
    for idx in itertools.product(*map(range, kernel.shape)):
        e = np.zeros(kernel.shape)
        e[idx] = 1
        gk[idx] = np.sum(gz * ref_conv2d(x, e, None, **kw))
    gx = np.zeros(x.shape)
    for idx in itertools.product(*map(range, x.shape)):
        e = np.zeros(x.shape)
        e[idx] = 1
        gx[idx] = np.sum(gz * ref_conv2d(e, kernel, None, **kw))
    caxis = 1 if attrs["data_format"] == "channels_first" else -1
    gb = np.moveaxis(gz, caxis, -1).reshape(-1, kernel.shape[3]).sum(0)
    return y, (gx, gk, gb)


@pytest.mark.parametrize("on", PATHS)
@pytest.mark.parametrize("strides,dilation", GEOMETRIES)
@pytest.mark.parametrize("padding", LAYER_PADDINGS)
@pytest.mark.parametrize("data_format", FORMATS)
def test_conv2d_paths_match_the_direct_loops(rng, on, strides, dilation, padding, data_format):
    """Every stride / dilation / padding / data format, forward and both gradients, with
    the bias and a relu fused, against the direct-loop reference in float64."""
    x, kernel, bias = _inputs(rng, np.float64, n=1, h=7, w=8, cin=2, cout=3,
                              data_format=data_format)
    attrs = dict(strides=strides, padding=padding, dilation_rate=dilation,
                 data_format=data_format, activation="relu")
    y, grads, gy = _run(on, x, kernel, bias, attrs)
    y_ref, grads_ref = _reference_grads(x, kernel, bias, gy, attrs)
    assert_close(y, y_ref, 1e-10, 1e-12, "y")
    for name, g, r in zip(("gx", "gkernel", "gbias"), grads, grads_ref):
        assert_close(g, r, 1e-10, 1e-12, name)


@needs_host
@pytest.mark.parametrize("strides,dilation", GEOMETRIES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_host_conv2d_equals_the_im2col_path_in_float64(rng, strides, dilation, padding,
                                                      activation):
    x, kernel, bias = _inputs(rng, np.float64)
    attrs = dict(strides=strides, padding=padding, dilation_rate=dilation,
                 activation=activation)
    _assert_same(_run(True, x, kernel, bias, attrs), _run(False, x, kernel, bias, attrs),
                 1e-10, 1e-12)


@needs_host
@pytest.mark.parametrize("strides,dilation", GEOMETRIES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("data_format", FORMATS)
def test_host_conv2d_float32_matches_the_im2col_path(rng, strides, dilation, activation,
                                                     data_format):
    x, kernel, bias = _inputs(rng, np.float32, n=3, h=14, w=13, cin=24, kh=3, kw=3,
                              cout=20, data_format=data_format)
    attrs = dict(strides=strides, dilation_rate=dilation, padding="same",
                 activation=activation, data_format=data_format)
    host, im2col = _run(True, x, kernel, bias, attrs), _run(False, x, kernel, bias, attrs)
    assert host[0].dtype == np.float32
    _assert_same(host, im2col, 3e-4, 3e-4)


@needs_host
@pytest.mark.parametrize("shape", [
    dict(n=1, h=3, w=3, cin=1, kh=3, kw=3, cout=1),       # one output pixel, one channel
    dict(n=2, h=6, w=7, cin=70, kh=3, kw=3, cout=17),     # 630-wide windows: two inner blocks
    dict(n=6, h=13, w=12, cin=3, kh=3, kw=3, cout=32),    # > 512 rows: several batch blocks
    dict(n=3, h=5, w=6, cin=16, kh=1, kw=1, cout=33),     # 1x1 kernel, partial panels
    dict(n=2, h=9, w=11, cin=5, kh=2, kw=4, cout=6),      # uneven taps
])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_host_conv2d_sizes_and_tiles(rng, shape, input_grad, with_bias):
    x, kernel, bias = _inputs(rng, np.float64, **shape)
    for dilation in ((1, 1), (2, 2)):
        ekh = dilation[0] * (shape["kh"] - 1) + 1
        ekw = dilation[1] * (shape["kw"] - 1) + 1
        if ekh > shape["h"] or ekw > shape["w"]:
            continue
        attrs = dict(padding="valid", dilation_rate=dilation, activation="relu")
        b = bias if with_bias else None
        host = _run(True, x, kernel, b, attrs, input_grad)
        assert (host[1][0] is None) == (not input_grad)
        assert (host[1][2] is None) == (not with_bias)
        _assert_same(host, _run(False, x, kernel, b, attrs, input_grad), 1e-10, 1e-12)


@needs_host
@pytest.mark.parametrize("strides,dilation,padding,activation", [
    ((1, 1), (1, 1), "valid", "relu"), ((1, 1), (2, 1), "same", "tanh"),
    ((2, 1), (1, 1), "same", "sigmoid"), ((1, 1), (1, 1), "same", "softplus"),
])
def test_host_conv2d_gradients_by_finite_differences(rng, strides, dilation, padding,
                                                     activation):
    x, kernel, bias = _inputs(rng, np.float64, n=2, h=6, w=5, cin=2, cout=3)
    with _host.use(True):
        check_op_gradients("conv2d", [x, kernel, bias],
                           dict(strides=strides, padding=padding, dilation_rate=dilation,
                                activation=activation))


@needs_host
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_conv2d_results_do_not_depend_on_the_thread_count(rng, monkeypatch, dtype):
    x, kernel, bias = _inputs(rng, dtype, n=5, h=12, w=11, cin=12, kh=3, kw=3, cout=30)
    attrs = dict(padding="same", activation="relu")
    outs = []
    for threads in (1, 2, 3, 4):
        monkeypatch.setattr(_host, "row_threads", lambda rows, macs, k=threads: k)
        outs.append(_run(True, x, kernel, bias, attrs))
    for y, grads, _ in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        for a, e in zip(grads, outs[0][1]):
            np.testing.assert_array_equal(a, e)


@needs_host
def test_host_conv2d_backward_after_the_host_kernels_were_switched_off(rng):
    """A forward pass on the host kernels, a backward pass without them: the im2col path
    builds its columns from the saved input and gives the same gradients."""
    x, kernel, bias = _inputs(rng, np.float64)
    attrs = dict(strides=(2, 1), padding="same", activation="tanh")
    y, saved = conv.conv2d_forward(x, kernel, bias, **attrs)
    assert saved[6] is not None
    gy = np.random.default_rng(1).standard_normal(y.shape)
    with _host.use(False):
        off = conv.conv2d_backward(gy, saved, **attrs)
    on = conv.conv2d_backward(gy, saved, **attrs)
    for a, b in zip(on, off):
        assert_close(a, b, 1e-10, 1e-12, "gradient")


@needs_host
def test_host_conv2d_refuses_an_unknown_activation_code(rng):
    fns = _conv2d_host.functions(np.float64)
    x, kernel, _ = _inputs(rng, np.float64)
    out_hw = (x.shape[1] - 2, x.shape[2] - 1)
    with pytest.raises(RuntimeError, match="refused activation code 9"):
        _conv2d_host.forward(fns, x, kernel, None, (1, 1), (1, 1), out_hw, 9)


def test_host_conv2d_functions_only_for_float_dtypes():
    assert _conv2d_host.functions(np.float16) is None
    assert _conv2d_host.functions(np.int32) is None
    with _host.use(False):
        assert _conv2d_host.functions(np.float32) is None


def _digits_images(n=640):
    """scikit-learn's 8x8 digits as (n, 8, 8, 1) images, one-hot labels."""
    from sklearn.datasets import load_digits

    from gpuseq.utils import to_categorical

    digits = load_digits()
    x = (digits.data[:n] / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    return x, to_categorical(digits.target[:n], 10)


@needs_host
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

    x, y = _digits_images()
    host, im2col = loss_curves_on_both_paths(build, x, y, 3, batch_size=32, epochs=5)
    assert host[-1] < host[0] * 0.5                             # it learns
    assert_close(host, im2col, 1e-4, 1e-6, "loss per epoch")
