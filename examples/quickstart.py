"""Quickstart: the Keras guide's softmax MLP, trained on scikit-learn's bundled
UCI handwritten digits (8x8 images, 10 classes; no download).

    python examples/quickstart.py            # NumPy, or CuPy when a GPU is present
    GPUSEQ_BACKEND=cupy python examples/quickstart.py

The model is the guide's "Multilayer Perceptron (MLP) for multi-class softmax
classification" with `keras` replaced by `gpuseq`.
"""
import argparse

import numpy as np
from sklearn.datasets import load_digits

import gpuseq
from gpuseq.layers import Dense, Dropout
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import set_random_seed, to_categorical


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    set_random_seed(args.seed)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")          # (1797, 64) in [0, 1]
    y = to_categorical(digits.target, num_classes=10)   # (1797, 10) one-hot
    order = np.random.default_rng(args.seed).permutation(len(x))
    x, y = x[order], y[order]
    x_train, y_train = x[:1400], y[:1400]
    x_test, y_test = x[1400:], y[1400:]

    model = Sequential()
    # Dense(64) is a fully-connected layer with 64 hidden units.
    model.add(Dense(64, activation="relu", input_dim=64))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation="relu"))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation="softmax"))

    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss="categorical_crossentropy", optimizer=sgd, metrics=["accuracy"])
    model.summary()
    print(f"backend: {gpuseq.backend.backend()}")

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_split=0.1, verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    print(f"test loss: {loss:.4f} - test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
