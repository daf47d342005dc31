"""Sequence classification with 1-D convolutions: the Keras guide's Conv1D(64) x 2 ->
MaxPooling1D(3) -> Conv1D(128) x 2 -> GlobalAveragePooling1D -> Dropout(0.5) ->
Dense(1, sigmoid) on sequences of 64 steps with 100 features.

    python examples/conv1d_sequence.py            # full run
    python examples/conv1d_sequence.py --quick    # a CI-sized run (seconds)
    GPUSEQ_BACKEND=cupy python examples/conv1d_sequence.py

Data (no download): Gaussian noise sequences; positive ones carry a short motif (a
fixed 5 x 100 pattern) at a random position, so the model has to detect a local
pattern anywhere in the sequence, which is what convolutions are for.
"""
import argparse
import time

import numpy as np

from gpuseq.layers import Conv1D, Dense, Dropout, GlobalAveragePooling1D, MaxPooling1D
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed

SEQ_LENGTH = 64
FEATURES = 100


def make_data(n, rng):
    """(x float32 (n, 64, 100), y int (n, 1)): label 1 when the motif is present."""
    motif = np.random.default_rng(123).standard_normal((5, FEATURES)).astype(np.float32)
    x = rng.standard_normal((n, SEQ_LENGTH, FEATURES), dtype=np.float32)
    y = rng.integers(0, 2, size=(n, 1))
    for i in np.flatnonzero(y[:, 0]):
        t = int(rng.integers(0, SEQ_LENGTH - 5))
        x[i, t:t + 5] += 1.5 * motif
    return x, y


def build_model():
    model = Sequential()
    model.add(Conv1D(64, 3, activation='relu', input_shape=(SEQ_LENGTH, FEATURES)))
    model.add(Conv1D(64, 3, activation='relu'))
    model.add(MaxPooling1D(3))
    model.add(Conv1D(128, 3, activation='relu'))
    model.add(Conv1D(128, 3, activation='relu'))
    model.add(GlobalAveragePooling1D())
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a CI-sized run")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args(argv)

    set_random_seed(0)
    rng = np.random.default_rng(0)
    n_train, n_test = (256, 128) if args.quick else (4000, 1000)
    epochs = args.epochs or (2 if args.quick else 10)
    x_train, y_train = make_data(n_train, rng)
    x_test, y_test = make_data(n_test, rng)
    model = build_model()
    model.summary()
    t0 = time.perf_counter()
    model.fit(x_train, y_train, batch_size=16, epochs=epochs, verbose=0 if args.quick else 1)
    seconds = time.perf_counter() - t0
    loss, acc = model.evaluate(x_test, y_test, batch_size=16, verbose=0)
    print(f"trained {epochs} epoch(s) on {n_train} sequences in {seconds:.1f} s "
          f"({n_train * epochs / seconds:.0f} samples/s); test loss {loss:.4f}, "
          f"accuracy {acc:.3f}")
    return loss, acc


if __name__ == "__main__":
    main()
