"""The seed documents' sequence models, run as written (keras -> gpuseq), with data of
the seeds' shapes and small sample counts."""
import warnings

import numpy as np
import pytest

from gpuseq.layers import LSTM, Activation, Dense, Dropout, Embedding
from gpuseq.models import Sequential


@pytest.fixture(autouse=True)
def _quiet_keras1_notes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _binary_data(n, maxlen, max_features, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, max_features, size=(n, maxlen))
    y = rng.integers(0, 2, size=(n,))
    return x, y


def test_seed_lstm_sequence_classification_keras2():
    max_features = 1024
    x_train, y_train = _binary_data(48, 20, max_features)
    x_test, y_test = _binary_data(16, 20, max_features, seed=1)

    model = Sequential()
    model.add(Embedding(max_features, output_dim=256))
    model.add(LSTM(128))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))

    model.compile(loss='binary_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])

    model.fit(x_train, y_train, batch_size=16, epochs=2, verbose=0)
    score = model.evaluate(x_test, y_test, batch_size=16, verbose=0)
    assert len(score) == 2 and np.isfinite(score[0]) and 0 <= score[1] <= 1
    assert model.output_shape == (None, 1)
    assert [w.shape for w in model.layers[1].weights] == [(256, 512), (128, 512), (512,)]


def test_seed_lstm_sequence_classification_keras1():
    max_features, maxlen = 500, 12
    X_train, Y_train = _binary_data(32, maxlen, max_features)
    X_test, Y_test = _binary_data(16, maxlen, max_features, seed=2)

    model = Sequential()
    model.add(Embedding(max_features, 256, input_length=maxlen))
    model.add(LSTM(output_dim=128, activation='sigmoid', inner_activation='hard_sigmoid'))
    model.add(Dropout(0.5))
    model.add(Dense(1))
    model.add(Activation('sigmoid'))

    model.compile(loss='binary_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])

    model.fit(X_train, Y_train, batch_size=16, nb_epoch=2, verbose=0)
    score = model.evaluate(X_test, Y_test, batch_size=16, verbose=0)
    assert np.isfinite(score[0])
    lstm = model.layers[1]
    assert lstm.get_config()["recurrent_activation"] == "hard_sigmoid"
    assert lstm.get_config()["activation"] == "sigmoid"
    assert model.output_shape == (None, 1)


def test_seed_stacked_lstm():
    data_dim = 16
    timesteps = 8
    nb_classes = 10

    # expected input data shape: (batch_size, timesteps, data_dim)
    model = Sequential()
    model.add(LSTM(32, return_sequences=True,
                   input_shape=(timesteps, data_dim)))  # returns a sequence of 32-d vectors
    model.add(LSTM(32, return_sequences=True))  # returns a sequence of vectors of dimension 32
    model.add(LSTM(32))  # return a single vector of dimension 32
    model.add(Dense(10, activation='softmax'))

    model.compile(loss='categorical_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])

    # generate dummy training data
    x_train = np.random.random((200, timesteps, data_dim))
    y_train = np.random.random((200, nb_classes))

    # generate dummy validation data
    x_val = np.random.random((40, timesteps, data_dim))
    y_val = np.random.random((40, nb_classes))

    hist = model.fit(x_train, y_train,
                     batch_size=64, nb_epoch=2,
                     validation_data=(x_val, y_val), verbose=0)
    assert len(hist.history["val_loss"]) == 2
    assert [l.output_shape for l in model.layers] == [(None, 8, 32), (None, 8, 32),
                                                      (None, 32), (None, 10)]


def test_seed_stateful_stacked_lstm():
    data_dim = 16
    timesteps = 8
    num_classes = 10
    batch_size = 32

    # note that we have to provide the full batch_input_shape since the network is stateful.
    # the sample of index i in batch k is the follow-up for the sample i in batch k-1.
    model = Sequential()
    model.add(LSTM(32, return_sequences=True, stateful=True,
                   batch_input_shape=(batch_size, timesteps, data_dim)))
    model.add(LSTM(32, return_sequences=True, stateful=True))
    model.add(LSTM(32, stateful=True))
    model.add(Dense(10, activation='softmax'))

    model.compile(loss='categorical_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])

    # generate dummy training data
    x_train = np.random.random((batch_size * 4, timesteps, data_dim))
    y_train = np.random.random((batch_size * 4, num_classes))

    # generate dummy validation data
    x_val = np.random.random((batch_size * 2, timesteps, data_dim))
    y_val = np.random.random((batch_size * 2, num_classes))

    model.fit(x_train, y_train,
              batch_size=batch_size, epochs=2, shuffle=False,
              validation_data=(x_val, y_val), verbose=0)
    assert model.input_shape == (32, 8, 16)
    states = model.layers[0].states
    assert states[0].shape == (32, 32) and np.abs(np.asarray(states[0])).sum() > 0
    model.reset_states()
    assert not np.asarray(model.layers[0].states[0]).any()
    # the Keras 1 form of the same call (nb_epoch, default shuffle) also runs
    model.fit(x_train, y_train, batch_size=batch_size, nb_epoch=1, verbose=0)


@pytest.mark.parametrize("name,args", [
    ("lstm_sequence", ["--quick", "--samples", "64"]),
    ("lstm_sequence", ["--quick", "--samples", "64", "--keras1"]),
    ("stacked_lstm", ["--quick"]),
    ("stateful_lstm", ["--quick"]),
])
def test_examples_run(name, args):
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", name + ".py")
    spec = importlib.util.spec_from_file_location(f"_example_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    result = mod.main(args + ["--verbose", "0"])
    if name == "stateful_lstm":
        assert result < 1e-5          # chunked stateful reading == whole-sequence reading
    else:
        assert 0.0 <= result <= 1.0
