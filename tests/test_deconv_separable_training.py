"""The new convolution layers learn on real data (scikit-learn's 8x8 digits, no
download): a separable-convolution classifier well above chance, a Conv2DTranspose
decoder that reconstructs held-out digits far better than the mean digit does."""
import numpy as np

import gpuseq
from gpuseq.layers import (Conv2D, Conv2DTranspose, Dense, DepthwiseConv2D, Flatten,
                           SeparableConv1D, SeparableConv2D)
from gpuseq.models import Sequential
from gpuseq.optimizers import Adam
from _gradcheck import one_blas_thread  # noqa: F401 - autouse fixture


def _split(digits):
    x, y = digits
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm].reshape(-1, 8, 8, 1), y[perm]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def test_separable_classifier_learns_digits(numpy_backend, digits):
    gpuseq.random.set_seed(2)
    (xtr, ytr), (xte, yte) = _split(digits)
    model = Sequential([
        SeparableConv2D(16, 3, padding="same", depth_multiplier=4, activation="relu",
                        input_shape=(8, 8, 1)),
        DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
        SeparableConv2D(32, 3, strides=2, padding="same", activation="relu"),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr, ytr, batch_size=32, epochs=10, verbose=0)
    _, acc = model.evaluate(xte, yte, verbose=0)
    print(f"separable classifier: held-out accuracy {acc:.3f}")
    assert acc >= 0.9, acc                        # chance: 0.1


def test_separable_conv1d_learns_digit_rows(numpy_backend, digits):
    """Each digit as a sequence of 8 rows of 8 pixels."""
    gpuseq.random.set_seed(3)
    (xtr, ytr), (xte, yte) = _split(digits)
    model = Sequential([
        SeparableConv1D(32, 3, padding="same", depth_multiplier=2, activation="relu",
                        input_shape=(8, 8)),
        SeparableConv1D(32, 3, strides=2, activation="relu"),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=Adam(0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(xtr.reshape(-1, 8, 8), ytr, batch_size=32, epochs=10, verbose=0)
    _, acc = model.evaluate(xte.reshape(-1, 8, 8), yte, verbose=0)
    print(f"SeparableConv1D classifier: held-out accuracy {acc:.3f}")
    assert acc >= 0.85, acc


def test_conv2d_transpose_decoder_reconstructs_digits(numpy_backend, digits):
    """A strided Conv2D encoder to (4, 4, 4), a Conv2DTranspose decoder back to 8 x 8."""
    gpuseq.random.set_seed(4)
    (xtr, _), (xte, _) = _split(digits)
    model = Sequential([
        Conv2D(16, 3, strides=2, padding="same", activation="relu", input_shape=(8, 8, 1)),
        Conv2D(4, 1, activation="relu"),
        Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
        Conv2DTranspose(1, 3, padding="same", activation="sigmoid"),
    ])
    model.compile(optimizer=Adam(0.005), loss="mse")
    model.fit(xtr, xtr, batch_size=32, epochs=15, verbose=0)
    mse = model.evaluate(xte, xte, verbose=0)
    mean_digit = float(np.mean((xte - xtr.mean(axis=0)) ** 2))
    print(f"decoder: held-out MSE {mse:.4f}, mean digit {mean_digit:.4f}")
    assert mse < 0.25 * mean_digit, (mse, mean_digit)


def test_benchmark_models_build_as_in_keras(numpy_backend):
    """benchmarks/bench_layers.py's models: Keras's output shapes and parameter counts."""
    import pathlib
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import bench_layers
    finally:
        sys.path.pop(0)
    decoder = bench_layers.build_decoder(gpuseq)
    assert decoder.output_shape == (None, 28, 28, 1)
    assert [l.count_params() for l in decoder.layers] == [26656, 0, 9248, 4624, 145]
    separable = bench_layers.build_separable(gpuseq)
    assert [l.output_shape for l in separable.layers][:3] == [
        (None, 30, 30, 32), (None, 28, 28, 64), (None, 13, 13, 64)]
    assert [l.count_params() for l in separable.layers] == [155, 640, 4736, 0, 108170]
    convlstm = bench_layers.build_convlstm(gpuseq)
    assert [l.output_shape for l in convlstm.layers] == [
        (None, 10, 40, 40, 16), (None, 10, 40, 40, 1)]
    assert [l.count_params() for l in convlstm.layers] == [9856, 433]
