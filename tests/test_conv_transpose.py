"""Conv2DTranspose: the conv2d_transpose op (NumPy twin against the direct scatter
loops for every stride / padding / output_padding / dilation / data_format, float64
finite differences, emulated CUDA against the NumPy twin) and the layer (Keras's
shapes and parameter counts, values, Keras 1 Deconvolution2D, config round trip,
errors at add() time).
"""
import inspect
import itertools
import warnings

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import autodiff as ad
from gpuseq.backend import numpy_ops
from gpuseq.backend.numpy_ops import conv as np_conv
from gpuseq.layers import (Activation, Conv2DTranspose, Deconvolution2D, Deconv2D, Dense,
                           Reshape, deserialize)
from gpuseq.legacy import Keras1Arguments
from gpuseq.models import Sequential
from gpuseq.testing import check_op_gradients, compare_with_numpy
from _reference_conv import ref_conv2d_transpose, ref_deconv_length


@pytest.fixture(autouse=True)
def _restore_image_data_format():
    fmt = K.image_data_format()
    yield
    K.set_image_data_format(fmt)


def _image(rng, n, h, w, c, data_format, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x).astype(dtype)


def _out_size(x_hw, ksize, strides, padding, output_padding, dilation):
    op = (None, None) if output_padding is None else output_padding
    return tuple(ref_deconv_length(n, k, s, d, padding, p)
                 for n, k, s, d, p in zip(x_hw, ksize, strides, dilation, op))


def _output_paddings(strides):
    """None, and every output_padding Keras allows for these strides (below them)."""
    return [None] + list(itertools.product(range(strides[0]), range(strides[1])))


CASES = [(s, p, op, d, f)
         for s in [(1, 1), (2, 1), (2, 3)]
         for p in ["valid", "same"]
         for op in _output_paddings(s)
         for d in [(1, 1), (1, 2)]
         for f in ["channels_last", "channels_first"]]


# ---------------------------------------------------------------------------
# The op: NumPy twin against the direct loops, gradients, emulated CUDA
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("strides,padding,output_padding,dilation,data_format", CASES)
def test_conv2d_transpose_forward_matches_direct_loops(rng, strides, padding, output_padding,
                                                      dilation, data_format):
    x = _image(rng, 2, 4, 3, 3, data_format)
    kernel = rng.standard_normal((3, 2, 4, 3))                  # (KH, KW, F, Cin)
    bias = rng.standard_normal(4)
    size = _out_size((4, 3), (3, 2), strides, padding, output_padding, dilation)
    y, _ = numpy_ops.conv2d_transpose_forward(x, kernel, bias, size, strides, padding,
                                              dilation, data_format, "relu")
    ref = ref_conv2d_transpose(x, kernel, bias, strides, padding, output_padding, dilation,
                               data_format, "relu")
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_conv2d_transpose_hand_computed():
    # 2x2 input 1..4, 2x2 kernel of ones, stride 2, 'valid': each pixel fills its 2x2 block
    x = np.arange(1, 5, dtype=np.float64).reshape(1, 2, 2, 1)
    y, _ = numpy_ops.conv2d_transpose_forward(x, np.ones((2, 2, 1, 1)), None, strides=(2, 2))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                  [3, 3, 4, 4], [3, 3, 4, 4]])
    # stride 1, 'valid', 2x2 ones: overlapping windows add up
    y, _ = numpy_ops.conv2d_transpose_forward(x, np.ones((2, 2, 1, 1)), np.array([0.5]))
    np.testing.assert_array_equal(y[0, :, :, 0], [[1.5, 3.5, 2.5], [4.5, 10.5, 6.5],
                                                  [3.5, 7.5, 4.5]])


def test_conv2d_transpose_is_the_adjoint_of_conv2d(rng):
    """<conv2d(a), b> == <a, conv2d_transpose(b)> for the same kernel, strides, padding."""
    for strides, padding in (((2, 2), "same"), ((2, 3), "valid"), ((1, 1), "same")):
        a = rng.standard_normal((2, 8, 9, 3))                  # the transposed output's size
        kernel = rng.standard_normal((3, 3, 3, 5))
        ya, _ = numpy_ops.conv2d_forward(a, kernel, None, strides, padding)
        b = rng.standard_normal(ya.shape)
        tb, _ = numpy_ops.conv2d_transpose_forward(b, kernel, None, a.shape[1:3], strides,
                                                   padding)
        assert float(np.sum(ya * b)) == pytest.approx(float(np.sum(a * tb)), rel=1e-10)


GRAD_CASES = [
    ((1, 1), "valid", (1, 1), "channels_last", "relu"),
    ((2, 2), "same", (1, 1), "channels_last", "tanh"),
    ((2, 3), "valid", (1, 1), "channels_first", "sigmoid"),
    ((1, 1), "same", (2, 1), "channels_first", "linear"),
    ((2, 1), "same", (1, 2), "channels_last", "linear"),
]


@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d_transpose_gradients(rng, strides, padding, dilation, data_format, activation,
                                    with_bias):
    x = _image(rng, 2, 3, 4, 3, data_format)
    bias = rng.standard_normal(2) if with_bias else None
    check_op_gradients("conv2d_transpose", [x, rng.standard_normal((3, 2, 2, 3)), bias],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation))


def test_conv2d_transpose_output_padding_gradients(rng):
    x = _image(rng, 1, 3, 3, 2, "channels_last")
    size = _out_size((3, 3), (3, 3), (2, 2), "same", (1, 0), (1, 1))
    check_op_gradients("conv2d_transpose", [x, rng.standard_normal((3, 3, 2, 2)), None],
                       dict(output_size=size, strides=(2, 2), padding="same"))


@pytest.mark.parametrize("budget", [1, 1 << 30])
def test_conv2d_transpose_chunking_does_not_change_results(rng, monkeypatch, budget):
    x = _image(rng, 4, 3, 4, 2, "channels_last")
    kernel = rng.standard_normal((3, 3, 3, 2))
    monkeypatch.setattr(np_conv, "COL_BUFFER_BYTES", budget)
    y, saved = numpy_ops.conv2d_transpose_forward(x, kernel, None, strides=(2, 2),
                                                  padding="same")
    np.testing.assert_allclose(y, ref_conv2d_transpose(x, kernel, None, (2, 2), "same"),
                               rtol=1e-12, atol=1e-12)
    check_op_gradients("conv2d_transpose", [x, kernel, None],
                       dict(strides=(2, 2), padding="same"))


def test_conv2d_transpose_rejects_an_impossible_output_size(rng):
    x = rng.standard_normal((1, 4, 4, 2))
    with pytest.raises(ValueError, match=r"cannot produce an output of spatial size \(11, 8\)"):
        numpy_ops.conv2d_transpose_forward(x, np.ones((3, 3, 1, 2)), None, (11, 8), (2, 2),
                                           "same")


TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides,padding,dilation,data_format,activation", GRAD_CASES)
def test_conv2d_transpose_matches_numpy(backend, rng, strides, padding, dilation, data_format,
                                        activation, dtype):
    x = _image(rng, 3, 4, 5, 3, data_format, dtype)
    compare_with_numpy("conv2d_transpose",
                       [x, rng.standard_normal((3, 2, 5, 3)).astype(dtype),
                        rng.standard_normal(5).astype(dtype)],
                       dict(strides=strides, padding=padding, dilation_rate=dilation,
                            data_format=data_format, activation=activation), **TOL[dtype])


@pytest.mark.parametrize("n,h,w,cin,f", [(0, 3, 3, 2, 3), (1, 1, 1, 1, 1), (2, 5, 7, 8, 4),
                                         (1, 9, 3, 3, 257)])
def test_conv2d_transpose_sizes_match_numpy(backend, rng, n, h, w, cin, f):
    x = rng.standard_normal((n, h, w, cin)).astype(np.float32)
    compare_with_numpy("conv2d_transpose",
                       [x, rng.standard_normal((3, 3, f, cin)).astype(np.float32), None],
                       dict(strides=(2, 2), padding="same", output_size=(2 * h + 1, 2 * w),
                            activation="relu"), **TOL[np.float32])


def test_conv2d_transpose_chunked_matches_numpy(backend, rng, monkeypatch):
    """The GPU path's batch chunks (forced tiny here) give the same results."""
    from gpuseq.backend.cupy_ops import conv as cupy_conv
    from gpuseq.backend.cupy_ops import conv_transpose as cupy_ct
    monkeypatch.setattr(cupy_conv, "COL_BUFFER_BYTES", 1000)
    monkeypatch.setattr(cupy_ct, "COL_BUFFER_BYTES", 1000)
    for fmt in ("channels_first", "channels_last"):
        x = _image(rng, 4, 3, 3, 2, fmt)
        compare_with_numpy("conv2d_transpose",
                           [x, rng.standard_normal((3, 3, 3, 2)), rng.standard_normal(3)],
                           dict(strides=(2, 2), padding="same", data_format=fmt),
                           **TOL[np.float64])


# ---------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------

def _run(layer, x):
    with ad.no_grad():
        return layer(ad.Tensor(x)).numpy()


@pytest.mark.parametrize("kwargs,input_shape,out_shape,params", [
    (dict(filters=16, kernel_size=3, strides=2, padding="same"), (7, 7, 32),
     (None, 14, 14, 16), 4624),
    (dict(filters=8, kernel_size=(3, 2)), (5, 6, 4), (None, 7, 7, 8), 200),
    (dict(filters=8, kernel_size=3, strides=2), (5, 6, 4), (None, 11, 13, 8), 296),
    (dict(filters=8, kernel_size=2, strides=3), (5, 6, 4), (None, 15, 18, 8), 136),
    (dict(filters=8, kernel_size=3, strides=2, padding="same", output_padding=1), (5, 6, 4),
     (None, 10, 12, 8), 296),
    (dict(filters=8, kernel_size=3, strides=2, output_padding=(1, 0)), (5, 6, 4),
     (None, 12, 13, 8), 296),
    (dict(filters=2, kernel_size=3, dilation_rate=2, use_bias=False), (4, 4, 3),
     (None, 8, 8, 2), 54),
    (dict(filters=6, kernel_size=2, data_format="channels_first"), (3, 7, 5),
     (None, 6, 8, 6), 78),
    (dict(filters=6, kernel_size=3, strides=2), (None, None, 3), (None, None, None, 6), 168),
])
def test_conv2d_transpose_shapes_and_params(kwargs, input_shape, out_shape, params):
    model = Sequential([Conv2DTranspose(input_shape=input_shape, **kwargs)])
    layer = model.layers[0]
    assert model.output_shape == out_shape
    assert layer.count_params() == params
    cin = input_shape[0] if layer.data_format == "channels_first" else input_shape[-1]
    assert layer.get_weights()[0].shape == layer.kernel_size + (layer.filters, cin)
    assert [w.name.split("/")[-1] for w in layer.weights] == \
        (["kernel:0", "bias:0"] if layer.use_bias else ["kernel:0"])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("strides,padding,output_padding", [
    ((1, 1), "valid", None), ((2, 2), "same", None), ((2, 3), "valid", (1, 2)),
    ((2, 2), "same", (1, 0))])
def test_conv2d_transpose_layer_values(backend, rng, data_format, strides, padding,
                                       output_padding):
    layer = Conv2DTranspose(4, (3, 2), strides=strides, padding=padding,
                            output_padding=output_padding, data_format=data_format,
                            activation="tanh", bias_initializer="normal")
    x = rng.standard_normal((2, 3, 4, 5) if data_format == "channels_first" else (2, 4, 5, 3))
    y = _run(layer, x.astype(np.float32))
    kernel, bias = layer.get_weights()
    ref = ref_conv2d_transpose(x, kernel, bias, strides, padding, output_padding, (1, 1),
                               data_format, "tanh")
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    assert y.shape == layer.compute_output_shape((2,) + x.shape[1:])


def test_conv2d_transpose_softmax_activation(numpy_backend, rng):
    layer = Conv2DTranspose(3, 2, strides=2, activation="softmax")
    y = _run(layer, rng.standard_normal((2, 3, 3, 2)).astype(np.float32))
    assert y.shape == (2, 6, 6, 3)
    np.testing.assert_allclose(y.sum(axis=-1), 1, rtol=1e-5)


def test_conv2d_transpose_gradients_through_the_layer(numpy_backend, rng):
    from gpuseq.testing import check_function_gradients
    layer = Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh")
    layer.dtype = "float64"
    layer.build((None, 3, 3, 2))
    kernel = rng.standard_normal(layer.kernel.shape)
    bias = rng.standard_normal(2)

    def fn(x, k, b):
        layer.kernel, layer.bias = k, b
        return layer(x)

    check_function_gradients(fn, [rng.standard_normal((2, 3, 3, 2)), kernel, bias])


def test_keras1_deconvolution2d():
    with pytest.warns(UserWarning, match=r'Conv2DTranspose\(8, \(3, 3\), strides=\(2, 2\), '
                                         r'padding="same"\)'):
        layer = Deconvolution2D(8, 3, 3, output_shape=(None, 14, 14, 8), subsample=(2, 2),
                                border_mode="same", input_shape=(7, 7, 4))
    assert Sequential([layer]).output_shape == (None, 14, 14, 8)
    assert layer.output_padding is None and layer.get_weights()[0].shape == (3, 3, 8, 4)
    # an output_shape Keras 2 would not infer becomes the output_padding that gives it
    with pytest.warns(UserWarning):
        layer = Deconvolution2D(8, 3, 3, (None, 16, 16, 8), subsample=(2, 2),
                                init="he_normal", bias=False, input_shape=(7, 7, 4))
    assert Sequential([layer]).output_shape == (None, 16, 16, 8)
    assert layer.output_padding == (1, 1) and not layer.use_bias
    with pytest.warns(UserWarning):
        th = Deconvolution2D(nb_filter=2, nb_row=2, nb_col=2, output_shape=(None, 2, 6, 8),
                             subsample=(2, 2), dim_ordering="th", input_shape=(3, 3, 4))
    assert Sequential([th]).output_shape == (None, 2, 6, 8)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="output_shape"):
        Sequential([Deconvolution2D(8, 3, 3, (None, 30, 30, 8), subsample=(2, 2),
                                    input_shape=(7, 7, 4))])
    assert Deconv2D is Conv2DTranspose and Deconvolution2D is Conv2DTranspose


def test_conv2d_transpose_declares_a_keras1_table():
    table = Conv2DTranspose.keras1_arguments
    assert isinstance(table, Keras1Arguments)
    assert table.renames == {
        "nb_filter": "filters", "subsample": "strides", "border_mode": "padding",
        "dim_ordering": "data_format", "init": "kernel_initializer",
        "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
        "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint",
        "bias": "use_bias"}
    assert table.positional == ("filters", "kernel_size") and table.prepare is not None
    # the __init__ itself takes only Keras 2 arguments, in Keras 2's order
    params = list(inspect.signature(Conv2DTranspose.__init__).parameters)[1:]
    assert params[:7] == ["filters", "kernel_size", "strides", "padding", "output_padding",
                          "data_format", "dilation_rate"]
    assert not set(params) & (set(table.renames) | {"nb_row", "nb_col", "output_shape"})


def test_keras1_output_shape_is_resolved_when_the_input_size_is_known():
    layer = None
    with pytest.warns(UserWarning, match=r"`Conv2DTranspose\(8, \(3, 3\), strides=\(2, 2\)\)`"):
        layer = Deconvolution2D(8, 3, 3, output_shape=(None, 16, 16, 8), subsample=(2, 2))
    assert layer.output_padding is None and layer.get_config()["output_padding"] is None
    model = Sequential([Reshape((7, 7, 4), input_shape=(196,)), layer])
    assert model.output_shape == (None, 16, 16, 8) and layer.output_padding == (1, 1)
    cfg = layer.get_config()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # the saved config is Keras 2
        clone = deserialize({"class_name": "Conv2DTranspose", "config": cfg})
    assert clone.output_padding == (1, 1)
    # positional Keras 2 arguments after the Keras 1 names are the Keras 2 ones
    with pytest.warns(UserWarning, match=r"`Conv2DTranspose\(8, \(3, 3\)\)`"):
        layer = Conv2DTranspose(8, (3, 3), 2, "valid", output_shape=(None, 16, 16, 8))
    assert Sequential([Reshape((7, 7, 4), input_shape=(196,)), layer]).output_shape == \
        (None, 16, 16, 8)


@pytest.mark.parametrize("make,error,fragment", [
    (lambda: Deconvolution2D(8, 3, 3, (None, 16, 16)), ValueError,
     r"Keras 1 argument `output_shape`.*Received: output_shape=\(None, 16, 16\)"),
    (lambda: Deconvolution2D(8, 3, 3, output_shape=16), ValueError,
     r"full output shape.*Received: output_shape=16"),
    (lambda: Deconvolution2D(8, 3, 3, (None, 16, 16, 8), output_shape=(None, 16, 16, 8)),
     TypeError, "output_shape` twice"),
    (lambda: Deconvolution2D(8, 3, 3, output_shape=(None, 16, 16, 8), output_padding=1),
     TypeError, "both the Keras 1 `output_shape` and `output_padding`"),
    (lambda: Conv2DTranspose(8, (3, 3), 2, "valid", 1, output_shape=(None, 16, 16, 8)),
     TypeError, "both the Keras 1 `output_shape` and `output_padding`"),
    (lambda: Deconvolution2D(8, 3, 3, subsample=2, strides=2), TypeError,
     "`subsample` and its Keras 2 name `strides`"),
    (lambda: Deconvolution2D(8, (3, 3), nb_row=3, nb_col=3), TypeError, "kernel_size"),
    (lambda: Deconvolution2D(8, 3, 3, dim_ordering="nhwc"), ValueError,
     r"`dim_ordering`.*Received: dim_ordering='nhwc'"),
])
def test_bad_keras1_calls_are_refused_before_any_warning(make, error, fragment):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(error, match=fragment):
            make()


@pytest.mark.parametrize("make,error,fragment", [
    (lambda: Conv2DTranspose(0, 3), ValueError, "filters"),
    (lambda: Conv2DTranspose(4), TypeError, "kernel_size"),
    (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=2), ValueError,
     "output_padding.*smaller than the stride"),
    (lambda: Conv2DTranspose(4, 3, output_padding=(0, 1)), ValueError,
     "output_padding.*smaller than the stride"),
    (lambda: Conv2DTranspose(4, 3, strides=2, output_padding=-1), ValueError,
     "output_padding"),
    (lambda: Conv2DTranspose(4, 3, padding="causal"), ValueError, "padding"),
    (lambda: Conv2DTranspose(4, 3, data_format="nhwc"), ValueError, "data_format"),
    (lambda: Conv2DTranspose(4, 3, strides=(1, 0)), ValueError, "strides"),
    (lambda: Conv2DTranspose(4, (3, 3, 3)), ValueError, "kernel_size"),
    (lambda: Conv2DTranspose(4, 3, kernel_initialiser="zeros"), TypeError,
     "unexpected keyword"),
])
def test_conv2d_transpose_bad_arguments(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


@pytest.mark.parametrize("layer,input_shape,fragment", [
    (lambda: Conv2DTranspose(4, 3), (4,), "4-D input"),
    (lambda: Conv2DTranspose(4, 3), (2, 3, 4, 5), "4-D input"),
    (lambda: Conv2DTranspose(4, 3, data_format="channels_first"), (None, 3, 3),
     "known channel"),
])
def test_conv2d_transpose_bad_inputs_fail_at_add(layer, input_shape, fragment):
    model = Sequential([Activation("linear", input_shape=input_shape)])
    weights = model.get_weights()
    with pytest.raises(ValueError, match=fragment):
        model.add(layer())
    assert len(model.layers) == 1 and model.output_shape == (None,) + input_shape
    assert len(model.get_weights()) == len(weights)


def test_conv2d_transpose_after_a_reshape():
    model = Sequential([Dense(12, input_shape=(4,)), Reshape((2, 2, 3)),
                        Conv2DTranspose(4, 3, strides=2)])
    assert model.output_shape == (None, 5, 5, 4)


def test_conv2d_transpose_config_round_trip(numpy_backend, rng):
    layer = Conv2DTranspose(3, (2, 3), strides=(2, 1), padding="same", output_padding=(1, 0),
                            activation="relu", kernel_regularizer="l2", input_shape=(4, 5, 2))
    model = Sequential([layer])
    cfg = layer.get_config()
    assert cfg["output_padding"] == (1, 0) and cfg["strides"] == (2, 1)
    assert cfg["kernel_size"] == (2, 3) and cfg["activation"] == "relu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clone = deserialize({"class_name": "Conv2DTranspose", "config": cfg})
    Sequential([clone])
    clone.set_weights(layer.get_weights())
    x = rng.standard_normal((2, 4, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(_run(clone, x), model.predict(x, verbose=0), rtol=1e-6)
    assert clone.get_config() == cfg
    alias = deserialize({"class_name": "Deconvolution2D", "config": cfg})
    assert type(alias) is Conv2DTranspose
