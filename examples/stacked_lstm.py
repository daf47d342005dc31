"""Stacked LSTM for sequence classification (the Keras guide's example): three LSTM(32)
layers, the first two returning their whole output sequence, then Dense(10, softmax).

    python examples/stacked_lstm.py             # the guide's dummy data (random)
    python examples/stacked_lstm.py --digits    # learn something real: digits row by row
    python examples/stacked_lstm.py --quick

With --digits each 8x8 image of scikit-learn's bundled handwritten digits is read as a
sequence of 8 rows of 8 pixels (no download).
"""
import argparse

import numpy as np

import gpuseq
from gpuseq.layers import LSTM, Dense
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed, to_categorical


def build(timesteps, data_dim, nb_classes=10):
    # expected input data shape: (batch_size, timesteps, data_dim)
    model = Sequential()
    model.add(LSTM(32, return_sequences=True,
                   input_shape=(timesteps, data_dim)))  # returns a sequence of 32-d vectors
    model.add(LSTM(32, return_sequences=True))  # returns a sequence of vectors of dimension 32
    model.add(LSTM(32))  # return a single vector of dimension 32
    model.add(Dense(nb_classes, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    set_random_seed(args.seed)
    print(f"backend: {gpuseq.backend.backend()}")

    if args.digits:
        from sklearn.datasets import load_digits
        d = load_digits()
        x = (d.data / 16.0).astype("float32").reshape(-1, 8, 8)
        y = to_categorical(d.target, 10)
        order = np.random.default_rng(args.seed).permutation(len(x))
        x, y = x[order], y[order]
        if args.quick:
            x, y = x[:600], y[:600]
        split = int(len(x) * 0.8)
        x_train, y_train, x_val, y_val = x[:split], y[:split], x[split:], y[split:]
        model = build(8, 8)
        epochs = args.epochs or (5 if args.quick else 60)
    else:
        data_dim, timesteps, nb_classes = 16, 8, 10
        n = 200 if args.quick else 1000
        # generate dummy training data
        x_train = np.random.random((n, timesteps, data_dim))
        y_train = np.random.random((n, nb_classes))
        # generate dummy validation data
        x_val = np.random.random((100, timesteps, data_dim))
        y_val = np.random.random((100, nb_classes))
        model = build(timesteps, data_dim, nb_classes)
        epochs = args.epochs or (2 if args.quick else 5)

    model.fit(x_train, y_train, batch_size=64, epochs=epochs,
              validation_data=(x_val, y_val), verbose=args.verbose)
    loss, acc = model.evaluate(x_val, y_val, verbose=0)
    print(f"validation loss: {loss:.4f} - validation accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
