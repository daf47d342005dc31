"""Next-frame prediction with stacked ConvLSTM2D layers (the model of Keras 2's
examples/conv_lstm.py), on moving-digit movies built from scikit-learn's digits.

Each movie shows one or two 8x8 handwritten digits moving in straight lines across a
dark frame (one pixel per step, bouncing off the borders). The network reads frames
0..T-2 and predicts frames 1..T-1; after training it is compared with the baseline
that repeats the last frame.

    python examples/conv_lstm.py
    python examples/conv_lstm.py --quick     # one small ConvLSTM2D, no BatchNormalization,
                                             # Adam, three epochs (a minute on a CPU)

The model is Keras's: four ConvLSTM2D(40, (3, 3), padding='same',
return_sequences=True) layers with BatchNormalization between them, then a sigmoid
Conv3D(1, (3, 3, 3)) over time and space (TimeDistributed(Conv2D) where Conv3D is not
available), binary cross-entropy, Adadelta.
"""
import argparse

import numpy as np

import gpuseq
from gpuseq import layers
from gpuseq.layers import BatchNormalization, Conv2D, ConvLSTM2D, TimeDistributed
from gpuseq.models import Sequential
from gpuseq.optimizers import Adam
from gpuseq.utils import set_random_seed


def moving_digits(n_movies, n_frames=8, size=16, max_digits=2, seed=0):
    """Movies of scikit-learn digits moving in straight lines: (n, frames, size, size, 1)
    floats in [0, 1]."""
    from sklearn.datasets import load_digits
    digits = load_digits().images / 16.0                       # (1797, 8, 8)
    rng = np.random.default_rng(seed)
    movies = np.zeros((n_movies, n_frames, size, size, 1), dtype="float32")
    span = size - 8
    for m in range(n_movies):
        for _ in range(rng.integers(1, max_digits + 1)):
            image = digits[rng.integers(len(digits))]
            pos = rng.integers(0, span + 1, size=2)
            vel = rng.choice([-1, 1], size=2)
            for t in range(n_frames):
                r, c = pos
                frame = movies[m, t, r:r + 8, c:c + 8, 0]
                np.maximum(frame, image, out=frame)
                for axis in range(2):                           # bounce off the borders
                    if not 0 <= pos[axis] + vel[axis] <= span:
                        vel[axis] = -vel[axis]
                pos = pos + vel
    return movies


def build_model(filters=40, n_layers=4, size=16, batch_norm=True, optimizer="adadelta"):
    """Keras's conv_lstm.py model (input_shape=(None, size, size, 1))."""
    model = Sequential()
    for k in range(n_layers):
        kwargs = {"input_shape": (None, size, size, 1)} if k == 0 else {}
        model.add(ConvLSTM2D(filters=filters, kernel_size=(3, 3), padding="same",
                             return_sequences=True, **kwargs))
        if batch_norm:
            model.add(BatchNormalization())
    if hasattr(layers, "Conv3D"):
        model.add(layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid",
                                padding="same", data_format="channels_last"))
    else:
        model.add(TimeDistributed(Conv2D(1, (3, 3), activation="sigmoid", padding="same")))
    model.compile(loss="binary_crossentropy", optimizer=optimizer)
    return model


def next_frame_errors(model, movies, first=2):
    """Mean squared error of the predicted next frames and of repeating the last frame,
    over the steps from ``first`` on (once the motion can be seen)."""
    x, y = movies[:, :-1], movies[:, 1:]
    pred = model.predict(x, batch_size=16)
    model_mse = float(np.mean((pred[:, first:] - y[:, first:]) ** 2))
    copy_mse = float(np.mean((x[:, first:] - y[:, first:]) ** 2))
    return model_mse, copy_mse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model, a few epochs")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    set_random_seed(args.seed)
    print(f"backend: {gpuseq.backend.backend()}")

    if args.quick:
        size, frames, n_train, epochs = 12, 6, 128, 3
        model = build_model(8, 1, size, batch_norm=False, optimizer=Adam(0.01))
    else:
        size, frames, n_train, epochs = 16, 10, 1200, 30
        model = build_model(40, 4, size)
    epochs = args.epochs or epochs
    movies = moving_digits(n_train + 32, n_frames=frames, size=size, seed=args.seed)
    train, test = movies[:n_train], movies[n_train:]
    model.fit(train[:, :-1], train[:, 1:], batch_size=16, epochs=epochs,
              verbose=args.verbose)
    model_mse, copy_mse = next_frame_errors(model, test)
    print(f"next-frame MSE: model {model_mse:.4f}, repeating the last frame {copy_mse:.4f}")
    return model_mse, copy_mse


if __name__ == "__main__":
    main()
