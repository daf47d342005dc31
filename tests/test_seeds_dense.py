"""The seeds' Dense-only snippets, as written with `keras` replaced by `gpuseq`."""
import numpy as np
import pytest


def test_softmax_mlp_seed():
    import gpuseq
    from gpuseq.layers import Activation, Dense, Dropout
    from gpuseq.models import Sequential
    from gpuseq.optimizers import SGD

    x_train = np.random.random((1000, 20))
    y_train = gpuseq.utils.to_categorical(np.random.randint(10, size=(1000, 1)), num_classes=10)
    x_test = np.random.random((100, 20))
    y_test = gpuseq.utils.to_categorical(np.random.randint(10, size=(100, 1)), num_classes=10)

    model = Sequential()
    model.add(Dense(64, activation='relu', input_dim=20))
    model.add(Dropout(0.5))
    model.add(Dense(64, activation='relu'))
    model.add(Dropout(0.5))
    model.add(Dense(10, activation='softmax'))
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    h = model.fit(x_train, y_train, epochs=2, batch_size=128, verbose=0)
    score = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    assert len(score) == 2 and 0 <= score[1] <= 1 and np.isfinite(score[0])
    assert h.history["loss"][0] == pytest.approx(np.log(10), rel=0.1)

    # Keras 1 form of the same model (init=, nb_epoch=)
    model = Sequential()
    with pytest.warns(UserWarning):
        model.add(Dense(64, input_dim=20, init='uniform'))
    model.add(Activation('tanh'))
    model.add(Dropout(0.5))
    with pytest.warns(UserWarning):
        model.add(Dense(10, init='uniform'))
    model.add(Activation('softmax'))
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    with pytest.warns(UserWarning, match="epochs"):
        model.fit(x_train, y_train, nb_epoch=1, batch_size=16, verbose=0)


def test_binary_mlp_seed():
    from gpuseq.layers import Dense
    from gpuseq.models import Sequential
    model = Sequential()
    model.add(Dense(32, activation='relu', input_dim=100))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    data = np.random.random((1000, 100))
    labels = np.random.randint(2, size=(1000, 1))
    h = model.fit(data, labels, epochs=3, batch_size=32, verbose=0)
    assert len(h.history["accuracy"]) == 3 and h.history["acc"] == h.history["accuracy"]


def test_mean_pred_custom_metric_seed():
    import gpuseq.backend as K
    from gpuseq.layers import Dense
    from gpuseq.models import Sequential

    def mean_pred(y_true, y_pred):
        return K.mean(y_pred)

    model = Sequential([Dense(1, activation='sigmoid', input_dim=4)])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy',
                  metrics=['accuracy', mean_pred])
    x = np.random.random((64, 4))
    y = np.random.randint(2, size=(64, 1))
    h = model.fit(x, y, epochs=1, batch_size=64, shuffle=False, verbose=0)
    assert model.metrics_names == ["loss", "accuracy", "mean_pred"]
    # one batch: the logged mean_pred is the mean of the predictions before the step
    assert "mean_pred" in h.history
    m2 = Sequential([Dense(1, activation='sigmoid', input_dim=4)])
    m2.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=[mean_pred])
    loss, mp = m2.evaluate(x, y, verbose=0)
    assert mp == pytest.approx(m2.predict(x).mean(), rel=1e-5)


def test_to_categorical_seed_paths():
    from gpuseq.utils import to_categorical
    from gpuseq.utils.np_utils import to_categorical as tc2
    labels = np.random.randint(10, size=(1000, 1))
    one_hot = to_categorical(labels, num_classes=10)
    assert one_hot.shape == (1000, 10)
    np.testing.assert_array_equal(one_hot.argmax(1), labels[:, 0])
    np.testing.assert_array_equal(tc2(labels, 10), one_hot)


def test_memory_fraction_seed_form():
    import gpuseq.backend as K
    from gpuseq.backend.tensorflow_backend import set_session
    config = K.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = 0.3
    set_session(K.Session(config=config))
    assert K.get_gpu_memory_fraction() == 0.3


def test_generator_seed_form():
    from gpuseq.layers import Dense
    from gpuseq.models import Sequential

    def generate_arrays(n):
        rng = np.random.default_rng(0)
        while True:
            x = rng.random((n, 8))
            yield (x, (x.sum(1, keepdims=True) > 4).astype("float32"))

    model = Sequential([Dense(1, activation='sigmoid', input_dim=8)])
    model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['accuracy'])
    with pytest.warns(UserWarning):
        h = model.fit_generator(generate_arrays(10), samples_per_epoch=100, nb_epoch=2,
                                verbose=0)
    assert h.epoch == [0, 1]
