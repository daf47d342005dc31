"""Sequence classification with an LSTM: the Keras guide's Embedding -> LSTM -> Dropout
-> Dense(1, sigmoid) model, trained on a synthetic review-like task (no download).

    python examples/lstm_sequence.py              # full run
    python examples/lstm_sequence.py --quick      # a few seconds
    python examples/lstm_sequence.py --keras1     # the Keras 1 form of the same model
    GPUSEQ_BACKEND=cupy python examples/lstm_sequence.py

Data: sequences of word ids (vocabulary `max_features`, length `maxlen` = 80, left-padded
with 0 like keras.preprocessing.sequence.pad_sequences). Ids 1..50 are "positive" words,
51..100 "negative" ones, the rest neutral; the label says whether a sequence holds more
positive than negative words, so the model has to read the whole sequence.
"""
import argparse
import time

import numpy as np

import gpuseq
from gpuseq.layers import LSTM, Activation, Dense, Dropout, Embedding
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed


def make_data(n, maxlen, max_features, rng):
    """(x int (n, maxlen) left-padded with 0, y int (n,)) for the word-count task."""
    x = np.zeros((n, maxlen), dtype="int64")
    y = np.zeros((n,), dtype="int64")
    for i in range(n):
        length = int(rng.integers(maxlen // 4, maxlen + 1))
        words = rng.integers(101, max_features, size=length)
        n_pos, n_neg = rng.integers(0, 6, size=2)
        if n_pos == n_neg:
            n_pos += 1
        slots = rng.choice(length, size=min(length, n_pos + n_neg), replace=False)
        words[slots[:n_pos]] = rng.integers(1, 51, size=len(slots[:n_pos]))
        words[slots[n_pos:]] = rng.integers(51, 101, size=len(slots[n_pos:]))
        x[i, maxlen - length:] = words
        y[i] = int(n_pos > n_neg)
    return x, y


def build_model(max_features, maxlen, keras1=False):
    model = Sequential()
    if keras1:
        # the Keras 1 spelling, converted with a note naming the Keras 2 call
        model.add(Embedding(max_features, 256, input_length=maxlen))
        model.add(LSTM(output_dim=128, activation="sigmoid", inner_activation="hard_sigmoid"))
        model.add(Dropout(0.5))
        model.add(Dense(1))
        model.add(Activation("sigmoid"))
    else:
        model.add(Embedding(max_features, output_dim=256))
        model.add(LSTM(128))
        model.add(Dropout(0.5))
        model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs")
    parser.add_argument("--keras1", action="store_true", help="the Keras 1 form of the model")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    max_features, maxlen = 1024, 80
    n = args.samples or (256 if args.quick else 3000)
    epochs = args.epochs or (2 if args.quick else 6)
    set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_data(n, maxlen, max_features, rng)
    x_test, y_test = make_data(max(n // 4, 16), maxlen, max_features, rng)

    model = build_model(max_features, maxlen, keras1=args.keras1)
    print(f"backend: {gpuseq.backend.backend()}")
    t = time.perf_counter()
    model.fit(x_train, y_train, batch_size=16, epochs=epochs, verbose=args.verbose)
    elapsed = time.perf_counter() - t
    model.summary()
    loss, acc = model.evaluate(x_test, y_test, batch_size=16, verbose=0)
    print(f"trained {epochs} epochs on {n} sequences in {elapsed:.1f} s "
          f"({epochs * n / elapsed:.0f} samples/s)")
    print(f"test loss: {loss:.4f} - test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    main()
