"""Every code block of the seed documents (the Chinese write-ups of the Keras 1.x/2.x
Sequential guide) that the other seed tests do not already run, as written with
`keras` replaced by `gpuseq`.

Changes to the seed code are marked ``# CHANGED:``; typos of the seed text are run in
their corrected form and marked ``# SEED TYPO:``. Sample counts and epochs are reduced
so that every test takes well under two seconds; layer shapes are kept.

Already covered elsewhere (not repeated here):
  tests/test_seeds_dense.py      softmax MLP (Keras 2 and Keras 1 forms), Dense(32)+Dense(1)
                                 binary fit, mean_pred, to_categorical paths, the
                                 ConfigProto/set_session form, fit_generator(samples_per_epoch)
  tests/test_recurrent_seeds.py  Embedding+LSTM (Keras 2 and Keras 1 forms), stacked LSTM,
                                 stateful stacked LSTM
  tests/test_conv_training.py    VGG-like (Keras 2 and Keras 1 forms), Conv1D sequence model
  tests/test_examples.py         the examples/ scripts
"""
import os
import re
import warnings

import numpy as np
import pytest

import gpuseq
import gpuseq.backend as K
from gpuseq.callbacks import History
from gpuseq.layers import (GRU, LSTM, Activation, Convolution2D, Dense, Dropout, Embedding,
                           Flatten, MaxPooling2D, Merge, RepeatVector, TimeDistributed)
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD


@pytest.fixture(autouse=True)
def _seeded_numpy_backend():
    """NumPy backend, fixed seeds, the image data format restored afterwards."""
    fmt = K.image_data_format()
    np.random.seed(0)
    gpuseq.utils.set_random_seed(0)
    with K.use_backend("numpy"):
        yield
    K.set_image_data_format(fmt)


def _summary_lines(model):
    lines = []
    model.summary(print_fn=lines.append)
    return lines


def _total_params(model):
    """'Total params: N' from model.summary(), as an int."""
    for line in _summary_lines(model):
        if line.startswith("Total params:"):
            return int(line.split(":")[1].replace(",", ""))
    raise AssertionError("summary() printed no 'Total params' line")


def _dense_params(n_in, units):
    return n_in * units + units


def _lstm_params(n_in, units):
    return 4 * (n_in * units + units * units + units)


def _gru_params(n_in, units, reset_after=True):
    # three gates; gpuseq's GRU defaults to reset_after=True (tf.keras 2 / Keras 3: an input
    # and a recurrent bias per gate); Keras 1 and 2.2 count one bias per gate
    return 3 * (n_in * units + units * units + (2 if reset_after else 1) * units)


def _conv2d_params(c_in, filters, k=3):
    return k * k * c_in * filters + filters


# ======================================================================= seed 000
def test_seed000_config_proto_and_list_constructor():
    # --- seed (000) 1.1 "一次性构建汉堡"
    from gpuseq.models import Sequential
    from gpuseq.layers import Dense, Activation
    import gpuseq.backend as tf  # CHANGED: `import tensorflow as tf`; the config lives in K
    from gpuseq.backend.tensorflow_backend import set_session
    before = K.get_gpu_memory_fraction()
    config = tf.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = 0.3
    set_session(tf.Session(config=config))
    assert K.get_gpu_memory_fraction() == 0.3
    assert K.get_session().config is config

    model = Sequential([
        Dense(32, input_dim=784),
        Activation('relu'),
        Dense(10),
        Activation('softmax'),
    ])
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert _total_params(model) == _dense_params(784, 32) + _dense_params(32, 10) == 25450
    if before is not None:
        K.set_gpu_memory_fraction(before)


def test_seed000_add_forms_and_input_shapes():
    # "手动加菜"
    model = Sequential()
    model.add(Dense(32, input_shape=(784,)))  # SEED TYPO: full-width "（32，" in the seed
    model.add(Activation('relu'))
    assert model.output_shape == (None, 32) and len(model.layers) == 2

    # 1.2 示例: input_dim
    model = Sequential()
    model.add(Dense(32, input_dim=784))
    assert model.input_shape == (None, 784)

    # 1.2 示例: a 2-D sample shape; Dense acts on the last axis
    model = Sequential()
    model.add(Dense(32, input_shape=(6, 8)))
    assert model.input_shape == (None, 6, 8) and model.output_shape == (None, 6, 32)
    assert _total_params(model) == _dense_params(8, 32) == 288
    x = np.random.random((5, 6, 8)).astype("float32")
    w, b = model.get_weights()
    np.testing.assert_allclose(model.predict(x), x @ w + b, rtol=1e-5, atol=1e-6)

    # the text: batch_size=32 together with input_shape=(6, 8) -> batches of (32, 6, 8)
    model = Sequential()
    model.add(Dense(32, batch_size=32, input_shape=(6, 8)))  # CHANGED: prose turned into code
    assert model.input_shape == (32, 6, 8) and model.output_shape == (32, 6, 32)


def test_seed000_compile_forms_and_mean_pred():
    # the compile examples, on a model of the seed's kind (binary/multi-class heads)
    x = np.random.random((16, 20)).astype("float32")
    y_cat = gpuseq.utils.to_categorical(np.random.randint(10, size=(16, 1)), num_classes=10)
    y_bin = np.random.randint(2, size=(16, 1))

    model = Sequential([Dense(10, activation='softmax', input_dim=20)])
    # 多分类问题
    # SEED TYPO: seed 000 lacks the comma after loss='categorical_crossentropy'
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy',
                  metrics=['accuracy'])
    assert model.metrics_names == ['loss', 'accuracy']
    loss, acc = model.train_on_batch(x, y_cat)
    assert loss == pytest.approx(np.log(10), rel=0.2) and 0 <= acc <= 1

    # the optimizer as a name ('rmsprop', 'adagrad') or an Optimizer object (the prose)
    for opt in ('adagrad', SGD(lr=0.01)):
        model.compile(optimizer=opt, loss='categorical_crossentropy', metrics=['accuracy'])
        assert np.isfinite(model.train_on_batch(x, y_cat)[0])

    binary = Sequential([Dense(1, activation='sigmoid', input_dim=20)])
    # 二分类问题
    binary.compile(optimizer='rmsprop', loss='binary_crossentropy',
                   metrics=['accuracy'])
    assert binary.metrics_names == ['loss', 'accuracy']
    # 回归问题
    binary.compile(optimizer='rmsprop', loss='mse')
    assert binary.metrics_names == ['loss']
    mse = binary.evaluate(x, y_bin, verbose=0)
    np.testing.assert_allclose(mse, np.mean((binary.predict(x) - y_bin) ** 2), rtol=1e-5)

    # 自定义metrics
    import gpuseq.backend as K

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    binary.compile(optimizer='rmsprop',
                   loss='binary_crossentropy',
                   metrics=['accuracy', mean_pred])
    loss, acc, mp = binary.evaluate(x, y_bin, batch_size=16, verbose=0)
    p = binary.predict(x)
    assert mp == pytest.approx(p.mean(), rel=1e-5)
    assert acc == pytest.approx(np.mean((p > 0.5) == y_bin))


def test_seed000_binary_fit_history():
    # 构建与编译模型
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  metrics=['accuracy'])

    # 查出数据
    import numpy as np
    data = np.random.random((1000, 1000))
    labels = np.random.randint(2, size=(1000, 1))
    # SEED TYPO: 1000 features against input_dim=100; the mismatch is reported clearly
    with pytest.raises(ValueError, match=r"input_shape=\(1000,\) would match"):
        model.fit(data, labels, epochs=10, batch_size=32, verbose=0)
    data = np.random.random((256, 100))  # CHANGED: 100 features, 256 samples
    labels = (data[:, :50].sum(1, keepdims=True) > 25).astype(int)  # CHANGED: learnable

    # 训练与数据拟合
    history = model.fit(data, labels, epochs=4, batch_size=32, verbose=0)  # CHANGED: 4 epochs
    assert isinstance(history, History) and history is model.history
    assert list(history.history) == ['loss', 'accuracy'] and history.epoch == [0, 1, 2, 3]
    assert all(len(v) == 4 for v in history.history.values())
    assert history.history['loss'][-1] < history.history['loss'][0]


# the seed's generator leaves its file open when training stops mid-file
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_seed000_fit_generator_from_file(tmp_path):
    # the file the seed reads: one sample per line, "x1 ... x8;y"
    rng = np.random.default_rng(3)
    xs = rng.random((40, 8))
    ys = (xs.sum(1) > 4).astype(int)
    path = str(tmp_path / "my_file.txt")
    with open(path, "w") as f:
        for x, y in zip(xs, ys):
            f.write(" ".join(f"{v:.6f}" for v in x) + f";{y}\n")
    opened = []

    # CHANGED: the seed leaves process_line / load_images undefined; these read the file
    def process_line(line):
        x, y = line.strip().split(";")
        return x, np.array([[int(y)]])

    def load_images(x):
        return np.array([[float(v) for v in x.split()]])

    # 示例
    def generate_arrays_from_file(path):
        while 1:  # SEED TYPO: `while l:` (the letter l) in the seed
            f = open(path)
            opened.append(path)
            for line in f:
                x, y = process_line(line)
                img = load_images(x)
                yield (img, y)
            f.close()

    model = Sequential([Dense(1, activation='sigmoid', input_dim=8)])  # CHANGED: a model
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    with pytest.warns(UserWarning) as record:
        history = model.fit_generator(generate_arrays_from_file(path),  # CHANGED: tmp path
                                      samples_per_epoch=60, nb_epoch=3,  # CHANGED: 10000, 10
                                      verbose=0)
    messages = [str(w.message) for w in record]
    assert "Update your `fit_generator` call to the Keras 2 API: " \
        "`fit_generator(<generator..., epochs=3)`" in messages
    assert any("steps_per_epoch=samples_per_epoch // batch_size" in m for m in messages)
    assert history.epoch == [0, 1, 2]
    assert len(opened) == 5          # 180 one-sample batches = 4.5 passes over 40 lines
    assert len(history.history['loss']) == 3


def test_seed000_vgg_data_lines():
    # the VGG data lines of seed 000 (to_categorical without num_classes)
    import numpy as np
    import gpuseq
    x_train = np.random.random((4, 100, 100, 3))  # CHANGED: 4 samples (seed: 100)
    labels = np.random.randint(10, size=(4, 1))  # CHANGED: labels kept to compare
    y_train = gpuseq.utils.to_categorical(labels,)
    assert y_train.shape == (4, labels.max() + 1)
    np.testing.assert_array_equal(y_train.argmax(1), labels[:, 0])
    assert x_train.shape == (4, 100, 100, 3)


# ======================================================================= seed 002
def test_seed002_units_keyword_forms(capsys):
    from gpuseq.models import Sequential
    from gpuseq.layers import Dense, Activation

    model = Sequential([
        Dense(input_shape=(32,), units=784),
        Activation('relu'),
        Dense(units=10),
        Activation('softmax')
    ])
    assert _total_params(model) == _dense_params(32, 784) + _dense_params(784, 10) == 33722

    model = Sequential()
    model.add(Dense(units=32, input_shape=(784, )))
    model.add(Activation('relu'))
    assert model.output_shape == (None, 32)

    # In [15]: the binary model, printed with the default verbose=1
    model = Sequential()
    model.add(Dense(units=32, activation='relu', input_dim=100))
    model.add(Dense(units=1, activation='sigmoid'))
    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy'])
    data = np.random.random((64, 100))  # CHANGED: 64 samples (seed: 1000)
    labels = np.random.randint(2, size=(64, 1))
    out = model.fit(data, labels, epochs=3, batch_size=32)  # CHANGED: 3 epochs (seed: 10)
    printed = capsys.readouterr().out
    assert [l for l in re.findall(r"Epoch \d+/\d+", printed)] == \
        ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert "64/64 [==============================]" in printed
    assert isinstance(out, History)      # the notebook shows <keras.callbacks.History ...>


# ======================================================================= seed 001
def test_seed001_three_equivalent_dense_input_forms():
    models = []
    model = Sequential()
    model.add(Dense(32, input_shape=(784,)))
    models.append(model)

    model = Sequential()
    model.add(Dense(32, batch_input_shape=(None, 784)))
    # note that batch dimension is "None" here,
    # so the model will be able to process batches of any size.
    models.append(model)

    model = Sequential()
    model.add(Dense(32, input_dim=784))
    models.append(model)
    for m in models:
        assert m.input_shape == (None, 784) and m.output_shape == (None, 32)
        assert m.count_params() == _dense_params(784, 32)
    for bs in (1, 7):
        assert models[1].predict(np.zeros((bs, 784))).shape == (bs, 32)


def test_seed001_three_equivalent_lstm_input_forms():
    models = []
    model = Sequential()
    model.add(LSTM(32, input_shape=(10, 64)))
    models.append(model)

    model = Sequential()
    model.add(LSTM(32, batch_input_shape=(None, 10, 64)))
    models.append(model)

    model = Sequential()
    model.add(LSTM(32, input_length=10, input_dim=64))
    models.append(model)
    x = np.random.random((3, 10, 64)).astype("float32")
    for m in models:
        assert m.input_shape == (None, 10, 64) and m.output_shape == (None, 32)
        assert _total_params(m) == _lstm_params(64, 32) == 12416
        assert m.predict(x).shape == (3, 32)


def _two_branches():
    left_branch = Sequential()
    left_branch.add(Dense(32, input_dim=784))

    right_branch = Sequential()
    right_branch.add(Dense(32, input_dim=784))
    return left_branch, right_branch


def test_seed001_merge_concat_and_two_input_fit():
    from gpuseq.layers import Merge

    left_branch, right_branch = _two_branches()
    merged = Merge([left_branch, right_branch], mode='concat')

    final_model = Sequential()
    final_model.add(merged)
    final_model.add(Dense(10, activation='softmax'))
    assert final_model.output_shape == (None, 10)
    assert merged.output_shape == (None, 64)
    assert _total_params(final_model) == 2 * _dense_params(784, 32) + _dense_params(64, 10)

    # the merged output is the two branch outputs side by side
    input_data_1 = np.random.random((64, 784)).astype("float32")  # CHANGED: data defined
    input_data_2 = np.random.random((64, 784)).astype("float32")
    targets = gpuseq.utils.to_categorical(np.random.randint(10, size=64), 10)
    w = final_model.layers[1].get_weights()
    expect = np.concatenate([left_branch.predict(input_data_1),
                             right_branch.predict(input_data_2)], axis=1) @ w[0] + w[1]
    expect = np.exp(expect - expect.max(1, keepdims=True))
    np.testing.assert_allclose(final_model.predict([input_data_1, input_data_2]),
                               expect / expect.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)

    final_model.compile(optimizer='rmsprop', loss='categorical_crossentropy')
    before = [left_branch.get_weights(), right_branch.get_weights()]
    # we pass one data array per model input
    h = final_model.fit([input_data_1, input_data_2], targets, verbose=0)  # CHANGED: verbose
    assert h.epoch == [0] and np.isfinite(h.history['loss'][0])
    # the branches' weights were trained through the Merge (one epoch of RMSprop on
    # unscaled 784-wide noise raises the loss, in Keras too, so only the update is checked)
    assert len(final_model.trainable_weights) == 6
    for branch, w_before in zip((left_branch, right_branch), before):
        assert not np.array_equal(branch.get_weights()[0], w_before[0])


def test_seed001_merge_with_lambda_mode():
    left_branch, right_branch = _two_branches()
    merged = Merge([left_branch, right_branch], mode=lambda x: x[0] - x[1])
    model = Sequential([merged])  # CHANGED: the seed only builds the layer
    assert model.output_shape == (None, 32)
    a = np.random.random((5, 784)).astype("float32")
    b = np.random.random((5, 784)).astype("float32")
    np.testing.assert_allclose(model.predict([a, b]),
                               left_branch.predict(a) - right_branch.predict(b),
                               rtol=1e-5, atol=1e-5)


def test_seed001_false_rates_dict_metric():
    # for custom metrics
    import gpuseq.backend as K

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    def false_rates(y_true, y_pred):
        # CHANGED: the seed writes `false_neg = ...` / `false_pos = ...`; real rates here
        predicted = K.cast(K.greater(y_pred, 0.5), 'float32')
        false_neg = K.mean(y_true * (1.0 - predicted))
        false_pos = K.mean((1.0 - y_true) * predicted)
        return {
            'false_neg': false_neg,
            'false_pos': false_pos,
        }

    model = Sequential([Dense(1, activation='sigmoid', input_dim=6)])  # CHANGED: a model
    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy', mean_pred, false_rates])
    assert model.metrics_names == ['loss', 'accuracy', 'mean_pred', 'false_neg', 'false_pos']
    x = np.random.random((50, 6)).astype("float32")
    y = np.random.randint(2, size=(50, 1))
    loss, acc, mp, fn, fp = model.evaluate(x, y, batch_size=50, verbose=0)
    pred = (model.predict(x) > 0.5).astype(float)
    assert fn == pytest.approx(np.mean(y * (1 - pred)), abs=1e-6)
    assert fp == pytest.approx(np.mean((1 - y) * pred), abs=1e-6)
    assert acc == pytest.approx(1 - fn - fp, abs=1e-6)
    h = model.fit(x, y, epochs=2, batch_size=25, verbose=0)
    assert list(h.history) == ['loss', 'accuracy', 'mean_pred', 'false_neg', 'false_pos']


def test_seed001_single_input_binary_nb_epoch():
    # for a single-input model with 2 classes (binary):
    model = Sequential()
    model.add(Dense(1, input_dim=784, activation='sigmoid'))
    model.compile(optimizer='rmsprop',
                  loss='binary_crossentropy',
                  metrics=['accuracy'])

    # generate dummy data
    import numpy as np
    data = np.random.random((100, 784))  # CHANGED: 100 samples (seed: 1000)
    labels = np.random.randint(2, size=(100, 1))

    # train the model, iterating on the data in batches
    # of 32 samples
    with pytest.warns(UserWarning, match=r"Update your `fit` call to the Keras 2 API"):
        h = model.fit(data, labels, nb_epoch=3, batch_size=32, verbose=0)  # CHANGED: 3 (10)
    assert h.epoch == [0, 1, 2] and len(h.history['acc']) == 3


def test_seed001_multi_input_merge_model():
    # for a multi-input model with 10 classes:
    left_branch = Sequential()
    left_branch.add(Dense(32, input_dim=784))

    right_branch = Sequential()
    right_branch.add(Dense(32, input_dim=784))

    merged = Merge([left_branch, right_branch], mode='concat')

    model = Sequential()
    model.add(merged)
    model.add(Dense(10, activation='softmax'))

    model.compile(optimizer='rmsprop',
                  loss='categorical_crossentropy',
                  metrics=['accuracy'])

    # generate dummy data
    import numpy as np
    from gpuseq.utils.np_utils import to_categorical
    data_1 = np.random.random((128, 784))  # CHANGED: 128 samples (seed: 1000)
    data_2 = np.random.random((128, 784))

    # these are integers between 0 and 9
    labels = np.random.randint(10, size=(128, 1))
    # we convert the labels to a binary matrix of size (1000, 10)
    # for use with categorical_crossentropy
    labels = to_categorical(labels, 10)
    assert labels.shape == (128, 10)

    # train the model
    # note that we are passing a list of Numpy arrays as training data
    # since the model has 2 inputs
    with pytest.warns(UserWarning):
        h = model.fit([data_1, data_2], labels, nb_epoch=3, batch_size=32,  # CHANGED: 3 (10)
                      verbose=0)
    assert list(h.history) == ['loss', 'accuracy']
    assert h.history['loss'][-1] < h.history['loss'][0]
    # one array only is an error that names the two inputs
    with pytest.raises(ValueError, match="2 input array"):
        model.fit(data_1, labels, epochs=1, verbose=0)


def test_seed001_adadelta_and_binary_keras1_mlps():
    # 相似MLP的另一种实现
    model = Sequential()
    model.add(Dense(64, input_dim=20, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation='softmax'))

    model.compile(loss='categorical_crossentropy',
                  optimizer='adadelta',
                  metrics=['accuracy'])
    assert _total_params(model) == (_dense_params(20, 64) + _dense_params(64, 64)
                                    + _dense_params(64, 10)) == 6154
    x = np.random.random((64, 20))  # CHANGED: the seed compiles only; a short fit here
    y = gpuseq.utils.to_categorical(np.random.randint(10, size=64), 10)
    w0 = model.get_weights()
    h = model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert np.isfinite(h.history['loss']).all()
    assert any(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))

    # 用于二分类的多层感知器 (Keras 1 init=)
    model = Sequential()
    with pytest.warns(UserWarning, match="kernel_initializer=\"uniform\""):
        model.add(Dense(64, input_dim=20, init='uniform', activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))

    model.compile(loss='binary_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])
    kernel = model.layers[0].get_weights()[0]
    # Keras's 'uniform' initializer draws from U(-0.05, 0.05)
    assert np.abs(kernel).max() <= 0.05 and kernel.std() > 0.02
    yb = np.random.randint(2, size=(64, 1))  # CHANGED: a short fit here too
    assert len(model.fit(x, yb, epochs=1, verbose=0).history['acc']) == 1


def _caption_image_model():
    image_model = Sequential()
    image_model.add(Convolution2D(32, 3, 3, border_mode='valid', input_shape=(3, 100, 100)))
    image_model.add(Activation('relu'))
    image_model.add(Convolution2D(32, 3, 3))
    image_model.add(Activation('relu'))
    image_model.add(MaxPooling2D(pool_size=(2, 2)))

    image_model.add(Convolution2D(64, 3, 3, border_mode='valid'))
    image_model.add(Activation('relu'))
    image_model.add(Convolution2D(64, 3, 3))
    image_model.add(Activation('relu'))
    image_model.add(MaxPooling2D(pool_size=(2, 2)))

    image_model.add(Flatten())
    image_model.add(Dense(128))
    return image_model


def test_seed001_image_captioning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # the Keras 1 call notes
        pretrained = _caption_image_model()  # CHANGED: writes the seed's weight_file.h5
        pretrained.save_weights('weight_file.h5')

        max_caption_len = 16
        vocab_size = 10000

        # first, let's define an image model that
        # will encode pictures into 128-dimensional vectors.
        # it should be initialized with pre-trained weights.
        image_model = _caption_image_model()

        # let's load the weights from a save file.
        image_model.load_weights('weight_file.h5')
        for a, b in zip(image_model.get_weights(), pretrained.get_weights()):
            np.testing.assert_array_equal(a, b)

        # next, let's define a RNN model that encodes sequences of words
        # into sequences of 128-dimensional word vectors.
        language_model = Sequential()
        language_model.add(Embedding(vocab_size, 256, input_length=max_caption_len))
        language_model.add(GRU(output_dim=128, return_sequences=True))
        language_model.add(TimeDistributed(Dense(128)))  # SEED TYPO: a ")" is missing

        # let's repeat the image vector to turn it into a sequence.
        image_model.add(RepeatVector(max_caption_len))

        # the output of both models will be tensors of shape (samples, max_caption_len, 128).
        # let's concatenate these 2 vector sequences.
        model = Sequential()
        model.add(Merge([image_model, language_model], mode='concat', concat_axis=-1))
        # let's encode this vector sequence into a single vector
        model.add(GRU(256, return_sequences=False))
        # which will be used to compute a probability
        # distribution over what the next word in the caption should be!
        model.add(Dense(vocab_size))
        model.add(Activation('softmax'))

        model.compile(loss='categorical_crossentropy', optimizer='rmsprop')

    assert image_model.output_shape == (None, 16, 128)
    assert language_model.output_shape == (None, 16, 128)
    assert model.layers[0].output_shape == (None, 16, 256)
    assert model.output_shape == (None, vocab_size)
    image_params = (_conv2d_params(3, 32) + _conv2d_params(32, 32) + _conv2d_params(32, 64)
                    + _conv2d_params(64, 64) + _dense_params(64 * 22 * 22, 128))
    # GRU(output_dim=128, ...) is written with Keras 1 names, so it gets the Keras 1/2.2
    # layout (reset_after=False); GRU(256) is a Keras 2 call and gets the default (True)
    language_params = vocab_size * 256 + _gru_params(256, 128, False) + _dense_params(128, 128)
    head_params = _gru_params(256, 256) + _dense_params(256, vocab_size)
    assert model.layers[0].branches[1].layers[1].reset_after is False
    assert _total_params(image_model) == image_params == 4030624
    assert _total_params(language_model) == language_params == 2724736 - 3 * 128
    assert _total_params(model) == image_params + language_params + head_params == 9719728
    # Keras 1 / Keras 2.2 (every GRU reset_after=False) count 3 * 256 fewer:
    keras22 = (image_params + vocab_size * 256 + _gru_params(256, 128, False)
               + _dense_params(128, 128) + _gru_params(256, 256, False)
               + _dense_params(256, vocab_size))
    assert keras22 == 9718960 == _total_params(model) - 3 * 256

    # CHANGED: 2 samples of the documented shapes (the seed leaves them undefined)
    images = np.random.random((2, 3, 100, 100)).astype("float32")
    partial_captions = np.random.randint(vocab_size, size=(2, max_caption_len))
    next_words = gpuseq.utils.to_categorical(np.random.randint(vocab_size, size=2), vocab_size)
    with pytest.warns(UserWarning, match="epochs"):
        h = model.fit([images, partial_captions], next_words, batch_size=16,
                      nb_epoch=2, verbose=0)  # CHANGED: nb_epoch=2 (seed: 100)
    assert h.history['loss'][0] == pytest.approx(np.log(vocab_size), rel=0.1)
    assert h.history['loss'][1] < h.history['loss'][0]
    assert model.predict([images, partial_captions]).shape == (2, vocab_size)


def test_seed001_dual_lstm_encoder_merge():
    from gpuseq.layers import Merge, LSTM, Dense
    import numpy as np

    data_dim = 16
    timesteps = 8
    nb_classes = 10

    encoder_a = Sequential()
    encoder_a.add(LSTM(32, input_shape=(timesteps, data_dim)))

    encoder_b = Sequential()
    encoder_b.add(LSTM(32, input_shape=(timesteps, data_dim)))

    decoder = Sequential()
    decoder.add(Merge([encoder_a, encoder_b], mode='concat'))
    decoder.add(Dense(32, activation='relu'))
    decoder.add(Dense(nb_classes, activation='softmax'))

    decoder.compile(loss='categorical_crossentropy',
                    optimizer='rmsprop',
                    metrics=['accuracy'])
    assert _total_params(decoder) == (2 * _lstm_params(16, 32) + _dense_params(64, 32)
                                      + _dense_params(32, 10)) == 14954

    # generate dummy training data   CHANGED: 128 / 32 samples (seed: 1000 / 100)
    x_train_a = np.random.random((128, timesteps, data_dim))
    x_train_b = np.random.random((128, timesteps, data_dim))
    y_train = np.random.random((128, nb_classes))

    # generate dummy validation data
    x_val_a = np.random.random((32, timesteps, data_dim))
    x_val_b = np.random.random((32, timesteps, data_dim))
    y_val = np.random.random((32, nb_classes))

    with pytest.warns(UserWarning, match="epochs"):
        h = decoder.fit([x_train_a, x_train_b], y_train,
                        batch_size=64, nb_epoch=2,  # CHANGED: nb_epoch=2 (seed: 5)
                        validation_data=([x_val_a, x_val_b], y_val), verbose=0)
    # Keras 2's order: the validation logs are written before BaseLogger adds the rest
    assert list(h.history) == ['val_loss', 'val_accuracy', 'loss', 'accuracy']
    assert all(len(v) == 2 for v in h.history.values())
    assert 'val_acc' in h.history


# ======================================================================= seed 003
def test_seed003_typo_forms_and_multiclass_one_hot():
    from gpuseq.models import Sequential
    from gpuseq.layers import Dense, Activation

    model = Sequential([
        Dense(32, input_shape=(784,)),
        Activation('relu'),  # SEED TYPO: `Activition` in the seed
        Dense(10),
        Activation('softmax')  # SEED TYPO: `Activition`
    ])
    assert model.output_shape == (None, 10)

    model = Sequential()
    model.add(Dense(32, input_dim=784))
    model.add(Activation('relu'))  # SEED TYPO: `Activition`

    # 对于二分类
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(1, activation='sigmoid'))  # SEED TYPO: `mdoel.add`
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    assert model.output_shape == (None, 1)

    # 对于多分类 (seeds 003 and 004)
    import gpuseq  # CHANGED: the seed uses keras.utils without `import keras`
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(10, activation='softmax'))  # SEED TYPO: `mdoel.add` in seed 003
    model.compile(optimizer='rmsprop', loss='categorical_crossentropy', metrics=['accuracy'])

    # 生成虚拟数据
    import numpy as np
    data = np.random.random((128, 100))  # CHANGED: 128 samples (seed: 1000)
    labels = np.random.randint(10, size=(128, 1))

    # 将标签转换为分类的 one-hot 编码
    one_hot_labels = gpuseq.utils.to_categorical(labels, num_classes=10)
    assert one_hot_labels.shape == (128, 10)

    # 训练模型，以 32 个样本为一个 batch 进行迭代
    h = model.fit(data, one_hot_labels, epochs=4, batch_size=32, verbose=0)  # CHANGED: 4
    assert h.history['loss'][-1] < h.history['loss'][0]
    assert model.predict(data).sum(1) == pytest.approx(np.ones(128), abs=1e-5)


def test_seed003_binary_mlp_with_dropout_and_evaluate():
    import numpy as np
    from gpuseq.models import Sequential
    from gpuseq.layers import Dense, Dropout

    # 生成虚拟数据   CHANGED: 200 / 50 samples (seed: 1000 / 100)
    x_train = np.random.random((200, 20))
    y_train = np.random.randint(2, size=(200, 1))
    x_test = np.random.random((50, 20))
    y_test = np.random.randint(2, size=(50, 1))

    model = Sequential()
    model.add(Dense(64, input_dim=20, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation='sigmoid'))

    model.compile(loss='binary_crossentropy',
                  optimizer='rmsprop',
                  metrics=['accuracy'])

    model.fit(x_train, y_train,
              epochs=3,  # CHANGED: 3 (seed: 20)
              batch_size=128, verbose=0)
    score = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    p = model.predict(x_test)      # Dropout is off at test time: evaluate == predict
    bce = -np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p))
    assert score[0] == pytest.approx(bce, rel=1e-4)
    assert score[1] == pytest.approx(np.mean((p > 0.5) == y_test))


def test_seed003_vgg_summary_counts():
    from gpuseq.layers import Conv2D
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(100, 100, 3)))
    model.add(Conv2D(32, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(Conv2D(64, (3, 3), activation='relu'))
    model.add(MaxPooling2D(pool_size=(2, 2)))
    model.add(Dropout(0.25))

    model.add(Flatten())
    model.add(Dense(256, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation='softmax'))
    lines = _summary_lines(model)
    expected = (_conv2d_params(3, 32) + _conv2d_params(32, 32) + _conv2d_params(32, 64)
                + _conv2d_params(64, 64) + _dense_params(22 * 22 * 64, 256)
                + _dense_params(256, 10))
    assert f"Total params: {expected:,}" in lines and expected == 7998250
    assert f"Trainable params: {expected:,}" in lines
    assert "Non-trainable params: 0" in lines
    assert any("(None, 22, 22, 64)" in l for l in lines)
    assert any("(None, 30976)" in l and "flatten" in l for l in lines)


# ======================================================================= seed 004
def test_seed004_history_plot_usage_and_evaluate_unpacking():
    rng = np.random.default_rng(4)
    trainX = rng.normal(size=(200, 2)).astype("float32")  # CHANGED: data for the snippet
    trainy = (trainX[:, 0] + trainX[:, 1] > 0).astype(int)
    testX = rng.normal(size=(100, 2)).astype("float32")
    testy = (testX[:, 0] + testX[:, 1] > 0).astype(int)
    model = Sequential([Dense(8, activation='relu', input_dim=2),
                        Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])

    # fit model
    history = model.fit(trainX, trainy, validation_data=(testX, testy), epochs=20,
                        verbose=0)  # CHANGED: epochs=20 (seed: 4000)

    # plot training history   CHANGED: the curves are checked instead of plotted
    train_curve = history.history['loss']
    test_curve = history.history['val_loss']
    assert len(train_curve) == len(test_curve) == 20
    assert train_curve[-1] < train_curve[0] and test_curve[-1] < test_curve[0]
    # 如果定义了评价指标metrics,也可以通过 “acc”, "val_acc" 访问历史记录
    assert history.history['acc'] == history.history['accuracy']
    assert len(history.history['val_acc']) == 20

    # evaluate the model
    _, train_acc = model.evaluate(trainX, trainy, verbose=0)
    _, test_acc = model.evaluate(testX, testy, verbose=0)
    print('Train: %.3f, Test: %.3f' % (train_acc, test_acc))
    assert test_acc > 0.8
    assert test_acc == pytest.approx(history.history['val_acc'][-1], abs=1e-6)


def test_seed004_documented_signatures():
    x = np.random.random((48, 10)).astype("float32")
    y = gpuseq.utils.to_categorical(np.random.randint(3, size=48), 3)
    model = Sequential([Dense(3, activation='softmax', input_dim=10)])
    # compile(optimizer, loss=None, metrics=None, loss_weights=None, sample_weight_mode=None,
    #         weighted_metrics=None, target_tensors=None)
    model.compile('rmsprop', loss='categorical_crossentropy', metrics=['accuracy'],
                  loss_weights=None, sample_weight_mode=None, weighted_metrics=None,
                  target_tensors=None)
    # fit(x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
    #     validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
    #     sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None)
    h = model.fit(x=x, y=y, batch_size=None, epochs=3, verbose=0, callbacks=None,
                  validation_split=0.25, validation_data=None, shuffle=True,
                  class_weight=None, sample_weight=None, initial_epoch=1,
                  steps_per_epoch=None, validation_steps=None)
    assert h.epoch == [1, 2] and len(h.history['val_loss']) == 2
    # evaluate(x=None, y=None, batch_size=None, verbose=1, sample_weight=None, steps=None)
    score = model.evaluate(x=x, y=y, batch_size=None, verbose=0, sample_weight=None,
                           steps=None)
    assert model.metrics_names == ['loss', 'accuracy'] and len(score) == 2
    # predict(x, batch_size=None, verbose=0, steps=None)
    p = model.predict(x, batch_size=None, verbose=0, steps=None)
    assert p.shape == (48, 3)
    np.testing.assert_allclose(model.predict_on_batch(x), p, rtol=1e-6)
    # test_on_batch(x, y, sample_weight=None) == evaluate on one batch
    np.testing.assert_allclose(model.test_on_batch(x, y, sample_weight=None),
                               model.evaluate(x, y, batch_size=48, verbose=0), rtol=1e-5)
    # train_on_batch(x, y, sample_weight=None, class_weight=None): the loss before the step
    loss_before = model.test_on_batch(x, y)[0]
    out = model.train_on_batch(x, y, sample_weight=None, class_weight=None)
    assert len(out) == 2 and out[0] == pytest.approx(loss_before, rel=1e-5)
    assert model.test_on_batch(x, y)[0] < loss_before
    # class weights scale the loss: all weights 2 -> twice the plain loss
    l1 = model.test_on_batch(x, y)[0]
    model.compile('sgd', loss='categorical_crossentropy')
    w0 = model.get_weights()
    l2 = model.train_on_batch(x, y, class_weight={0: 2.0, 1: 2.0, 2: 2.0})
    assert l2 == pytest.approx(2 * l1, rel=1e-5)
    assert any(not np.array_equal(a, b) for a, b in zip(w0, model.get_weights()))


def test_seed004_generator_example_1():
    import random
    random = np.random  # CHANGED: the seed's random.choice(len(features), 1) is NumPy's

    def some_processing(a):  # CHANGED: undefined in the seed
        return a * 2.0

    features = np.random.random((100, 64, 64, 3))
    labels = (features.mean(axis=(1, 2, 3)) > 0.5).astype(float).reshape(100, 1)

    def generator(features, labels, batch_size):
        # Create empty arrays to contain batch of features and labels#
        batch_features = np.zeros((batch_size, 64, 64, 3))
        batch_labels = np.zeros((batch_size, 1))
        while True:
            for i in range(batch_size):
                # choose random index in features
                index = random.choice(len(features), 1)
                batch_features[i] = some_processing(features[index])
                batch_labels[i] = labels[index]
            yield batch_features, batch_labels

    model = Sequential([Flatten(input_shape=(64, 64, 3)),  # CHANGED: a model to train
                        Dense(1, activation='sigmoid')])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    # "if we define batch_size = 10 ... until an epoch hits 50 sample limit"
    h = model.fit_generator(generator(features, labels, 10), steps_per_epoch=5, epochs=2,
                            verbose=0)
    assert h.epoch == [0, 1] and len(h.history['loss']) == 2


def test_seed004_generator_example_2_dict_batches(tmp_path):
    rng = np.random.default_rng(5)
    path = str(tmp_path / "my_file.txt")
    with open(path, "w") as f:
        for _ in range(12):
            a, b = rng.random(4), rng.random(3)
            f.write(",".join(f"{v:.5f}" for v in a) + "|" + ",".join(f"{v:.5f}" for v in b)
                    + f"|{int(a.sum() > b.sum())}\n")

    def process_line(line):  # CHANGED: undefined in the seed; one sample per line
        a, b, y = line.strip().split("|")
        return (np.array([[float(v) for v in a.split(",")]]),
                np.array([[float(v) for v in b.split(",")]]), np.array([[int(y)]]))

    def generate_arrays_from_file(path):
        while True:
            with open(path) as f:
                for line in f:
                    # 从文件中的每一行生成输入数据和标签的 numpy 数组
                    x1, x2, y = process_line(line)
                    yield ({'input_1': x1, 'input_2': x2}, {'output': y})  # SEED TYPO: indent

    # CHANGED: a two-input model whose inputs are named input_1 / input_2 and whose output
    # layer is named 'output' (the snippet was written for a functional model)
    left = Sequential([Dense(8, activation='relu', input_dim=4, name='input_1')])
    right = Sequential([Dense(8, activation='relu', input_dim=3, name='input_2')])
    model = Sequential([Merge([left, right], mode='concat'),
                        Dense(1, activation='sigmoid', name='output')])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy')

    h = model.fit_generator(generate_arrays_from_file(path),  # CHANGED: the tmp file
                            steps_per_epoch=12, epochs=2,  # CHANGED: 12, 2 (seed: 10000, 10)
                            verbose=0)
    assert h.epoch == [0, 1]
    # the dict batch is the same as the list batch
    x1, x2, y = process_line(open(path).readline())
    assert model.test_on_batch({'input_1': x1, 'input_2': x2}, {'output': y}) == \
        pytest.approx(model.test_on_batch([x1, x2], y), rel=1e-6)
    # Keras 2 names a Sequential's inputs '<first layer>_input'; those keys work too
    assert model.input_names == ['input_1_input', 'input_2_input']
    assert model.output_names == ['output']
    np.testing.assert_allclose(model.predict({'input_1_input': x1, 'input_2_input': x2}),
                               model.predict([x1, x2]), rtol=1e-6)
    with pytest.raises(ValueError, match="No data provided for 'input_2'"):
        model.test_on_batch({'input_1': x1, 'input_x': x2}, y)
    with pytest.raises(ValueError, match="No data provided for 'output'"):
        model.test_on_batch([x1, x2], {'outputs': y})
    with pytest.raises(ValueError, match=r"Unknown input name\(s\) \['extra'\]"):
        model.predict({'input_1': x1, 'input_2': x2, 'extra': x2})


def test_seed004_evaluate_and_predict_generator():
    x = np.random.random((40, 5)).astype("float32")
    y = np.random.randint(2, size=(40, 1))
    model = Sequential([Dense(1, activation='sigmoid', input_dim=5)])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])

    def batches(with_y=True):
        while True:
            for i in range(0, 40, 10):
                yield (x[i:i + 10], y[i:i + 10]) if with_y else x[i:i + 10]

    # evaluate_generator(generator, steps=None, max_queue_size=10, workers=1,
    #                    use_multiprocessing=False, verbose=0)
    res = model.evaluate_generator(batches(), steps=4, max_queue_size=10, workers=1,
                                   use_multiprocessing=False, verbose=0)
    np.testing.assert_allclose(res, model.evaluate(x, y, verbose=0), rtol=1e-5)
    # predict_generator(generator, steps=None, ...)
    p = model.predict_generator(batches(False), steps=4, max_queue_size=10, workers=1,
                                use_multiprocessing=False, verbose=0)
    np.testing.assert_allclose(p, model.predict(x), rtol=1e-6)
    assert model.predict_generator(batches(), steps=2).shape == (20, 1)   # (x, y) batches


def test_seed004_get_layer_and_layers(capsys):
    model = Sequential([Dense(32, input_shape=(784,), name='hidden'),
                        Activation('relu'),
                        Dense(10),
                        Activation('softmax')])
    model.summary()
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert printed[3].split() == ["hidden", "(Dense)", "(None,", "32)", "25120"]
    assert "Total params: 25,450" in printed and "Trainable params: 25,450" in printed
    assert len(model.layers) == 4
    assert model.get_layer('hidden') is model.layers[0]
    assert model.get_layer(index=2) is model.layers[2]
    # "如果同时提供了 name 和 index，则 index 将优先"
    assert model.get_layer(name='hidden', index=1) is model.layers[1]
    assert model.get_layer(name=model.layers[3].name) is model.layers[3]
    with pytest.raises(ValueError, match="No such layer"):
        model.get_layer('nope')
    with pytest.raises(ValueError, match="index 9"):
        model.get_layer(index=9)
