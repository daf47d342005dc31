"""The same stacked LSTM, stateful (the Keras guide's example): the final states of
sample i in one batch are the initial states of sample i in the next batch, so a long
sequence can be fed in chunks. Needs a fixed batch size (batch_input_shape) and
shuffle=False.

    python examples/stateful_lstm.py
    python examples/stateful_lstm.py --quick

After training on the guide's dummy data, the script checks the defining property:
feeding a long sequence in chunks to the stateful model gives the same outputs as a
non-stateful copy reading the whole sequence at once, and reset_states() starts over.
"""
import argparse

import numpy as np

import gpuseq
from gpuseq.layers import LSTM, Dense
from gpuseq.models import Sequential
from gpuseq.utils import set_random_seed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    set_random_seed(args.seed)
    print(f"backend: {gpuseq.backend.backend()}")

    data_dim = 16
    timesteps = 8
    num_classes = 10
    batch_size = 32

    # expected input batch shape: (batch_size, timesteps, data_dim)
    # note that we have to provide the full batch_input_shape since the network is stateful.
    # the sample of index i in batch k is the follow-up for the sample i in batch k-1.
    model = Sequential()
    model.add(LSTM(32, return_sequences=True, stateful=True,
                   batch_input_shape=(batch_size, timesteps, data_dim)))
    model.add(LSTM(32, return_sequences=True, stateful=True))
    model.add(LSTM(32, stateful=True))
    model.add(Dense(10, activation="softmax"))

    model.compile(loss="categorical_crossentropy", optimizer="rmsprop", metrics=["accuracy"])

    n = 4 if args.quick else 10
    # generate dummy training data
    x_train = np.random.random((batch_size * n, timesteps, data_dim))
    y_train = np.random.random((batch_size * n, num_classes))
    # generate dummy validation data
    x_val = np.random.random((batch_size * 3, timesteps, data_dim))
    y_val = np.random.random((batch_size * 3, num_classes))

    model.fit(x_train, y_train, batch_size=batch_size, epochs=args.epochs or
              (1 if args.quick else 5), shuffle=False, validation_data=(x_val, y_val),
              verbose=args.verbose)

    # --- the stateful property: chunks of a long sequence == the whole sequence
    chunks = 3
    long_seq = np.random.random((batch_size, timesteps * chunks, data_dim)).astype("float32")
    reader = Sequential()
    reader.add(LSTM(32, return_sequences=True, input_shape=(timesteps * chunks, data_dim)))
    reader.add(LSTM(32, return_sequences=True))
    reader.add(LSTM(32, return_sequences=True))
    stateful_seq = Sequential()
    stateful_seq.add(LSTM(32, return_sequences=True, stateful=True,
                          batch_input_shape=(batch_size, timesteps, data_dim)))
    stateful_seq.add(LSTM(32, return_sequences=True, stateful=True))
    stateful_seq.add(LSTM(32, return_sequences=True, stateful=True))
    weights = model.get_weights()[:9]          # the three trained LSTM layers
    reader.set_weights(weights)
    stateful_seq.set_weights(weights)
    whole = reader.predict(long_seq, batch_size=batch_size)
    parts = [stateful_seq.predict(long_seq[:, k * timesteps:(k + 1) * timesteps],
                                  batch_size=batch_size) for k in range(chunks)]
    diff = np.abs(np.concatenate(parts, axis=1) - whole).max()
    print(f"chunked stateful reading vs whole sequence: max |difference| = {diff:.2e}")
    stateful_seq.reset_states()
    again = stateful_seq.predict(long_seq[:, :timesteps], batch_size=batch_size)
    print(f"after reset_states(), the first chunk again: max |difference| = "
          f"{np.abs(again - parts[0]).max():.2e}")
    return diff


if __name__ == "__main__":
    main()
