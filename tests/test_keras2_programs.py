"""Keras 2 programs run with `keras` replaced by `gpuseq`, in a fresh process, on data
sets placed in a temporary Keras cache.

The programs below are gpuseq's own, written as Keras 2 code (they import `keras`); each
uses exactly the Keras API of one Keras 2.2.4 example (imports, layers, arguments,
callbacks and calls), with the example's own constants (epochs, batch sizes):

* ``mnist_sklearn_wrapper.py``: KerasClassifier in GridSearchCV over a Conv2D model;
* ``cifar10_cnn.py``: a Conv2D model trained by ``fit_generator`` on an augmenting
  ``ImageDataGenerator``, saved with ``model.save``;
* ``antirectifier.py``: a custom Layer written with backend functions;
* ``tensorboard_embeddings_mnist.py``: the TensorBoard callback writing embeddings.

The test rewrites ``keras`` to ``gpuseq`` in the source, writes tiny MNIST / CIFAR-10
files where ``gpuseq.datasets`` looks for them (``$GPUSEQ_HOME/datasets``: ``mnist.npz``
and the ``cifar-10-batches-py.tar.gz`` archive, which get_file extracts; the runs stay
short only because the data are small, the programs are not edited), and runs each
program in a subprocess, asserting it exits with status 0. Nothing is downloaded.
The real ``mnist.npz`` is checked against its published hash, which a made-up file
cannot match, so the runner drops that hash entry before the program starts.
The antirectifier program runs by default (about 15 s); ``-m slow`` runs all four.
"""
import io
import os
import pickle
import re
import subprocess
import sys
import tarfile
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MNIST_SKLEARN_WRAPPER = '''
import numpy as np
import keras
from keras.datasets import mnist
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Flatten
from keras.layers import Conv2D, MaxPooling2D
from keras.wrappers.scikit_learn import KerasClassifier
from keras import backend as K
from sklearn.model_selection import GridSearchCV

num_classes = 10
img_rows, img_cols = 28, 28
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if K.image_data_format() == 'channels_first':
    x_train = x_train.reshape(x_train.shape[0], 1, img_rows, img_cols)
    x_test = x_test.reshape(x_test.shape[0], 1, img_rows, img_cols)
    input_shape = (1, img_rows, img_cols)
else:
    x_train = x_train.reshape(x_train.shape[0], img_rows, img_cols, 1)
    x_test = x_test.reshape(x_test.shape[0], img_rows, img_cols, 1)
    input_shape = (img_rows, img_cols, 1)
x_train = x_train.astype('float32') / 255
x_test = x_test.astype('float32') / 255
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)


def make_model(dense_layer_sizes, filters, kernel_size, pool_size):
    model = Sequential()
    model.add(Conv2D(filters, kernel_size, padding='valid', input_shape=input_shape))
    model.add(Activation('relu'))
    model.add(Conv2D(filters, kernel_size))
    model.add(Activation('relu'))
    model.add(MaxPooling2D(pool_size=pool_size))
    model.add(Dropout(0.25))
    model.add(Flatten())
    for layer_size in dense_layer_sizes:
        model.add(Dense(layer_size))
        model.add(Activation('relu'))
    model.add(Dropout(0.5))
    model.add(Dense(num_classes))
    model.add(Activation('softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adadelta',
                  metrics=['accuracy'])
    return model


my_classifier = KerasClassifier(make_model, batch_size=32)
validator = GridSearchCV(my_classifier,
                         param_grid={'dense_layer_sizes': [[32], [64], [32, 32], [64, 64]],
                                     'epochs': [3, 6], 'filters': [8],
                                     'kernel_size': [3], 'pool_size': [2]},
                         scoring='neg_log_loss', n_jobs=1)
validator.fit(x_train, y_train)
print('The parameters of the best model are: ')
print(validator.best_params_)
best_model = validator.best_estimator_.model
metric_names = best_model.metrics_names
metric_values = best_model.evaluate(x_test, y_test)
for metric, value in zip(metric_names, metric_values):
    print(metric, ': ', value)
'''

CIFAR10_CNN = '''
import os
import keras
from keras.datasets import cifar10
from keras.preprocessing.image import ImageDataGenerator
from keras.models import Sequential
from keras.layers import Dense, Dropout, Activation, Flatten
from keras.layers import Conv2D, MaxPooling2D

batch_size = 32
num_classes = 10
epochs = 100
data_augmentation = True
save_dir = os.path.join(os.getcwd(), 'saved_models')
model_name = 'keras_cifar10_trained_model.h5'

(x_train, y_train), (x_test, y_test) = cifar10.load_data()
print('x_train shape:', x_train.shape)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(Conv2D(32, (3, 3), padding='same', input_shape=x_train.shape[1:]))
model.add(Activation('relu'))
model.add(Conv2D(32, (3, 3)))
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Conv2D(64, (3, 3), padding='same'))
model.add(Activation('relu'))
model.add(Conv2D(64, (3, 3)))
model.add(Activation('relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Flatten())
model.add(Dense(512))
model.add(Activation('relu'))
model.add(Dropout(0.5))
model.add(Dense(num_classes))
model.add(Activation('softmax'))

opt = keras.optimizers.rmsprop(lr=0.0001, decay=1e-6)
model.compile(loss='categorical_crossentropy', optimizer=opt, metrics=['accuracy'])
x_train = x_train.astype('float32') / 255
x_test = x_test.astype('float32') / 255

if not data_augmentation:
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
              validation_data=(x_test, y_test), shuffle=True)
else:
    datagen = ImageDataGenerator(
        featurewise_center=False, samplewise_center=False,
        featurewise_std_normalization=False, samplewise_std_normalization=False,
        zca_whitening=False, zca_epsilon=1e-06, rotation_range=0,
        width_shift_range=0.1, height_shift_range=0.1, shear_range=0., zoom_range=0.,
        channel_shift_range=0., fill_mode='nearest', cval=0., horizontal_flip=True,
        vertical_flip=False, rescale=None, preprocessing_function=None,
        data_format=None, validation_split=0.0)
    datagen.fit(x_train)
    model.fit_generator(datagen.flow(x_train, y_train, batch_size=batch_size),
                        epochs=epochs, validation_data=(x_test, y_test), workers=4)

if not os.path.isdir(save_dir):
    os.makedirs(save_dir)
model_path = os.path.join(save_dir, model_name)
model.save(model_path)
print('Saved trained model at %s ' % model_path)
scores = model.evaluate(x_test, y_test, verbose=1)
print('Test loss:', scores[0])
print('Test accuracy:', scores[1])
'''

ANTIRECTIFIER = '''
import keras
from keras.models import Sequential
from keras import layers
from keras.datasets import mnist
from keras import backend as K


class Antirectifier(layers.Layer):
    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        assert len(shape) == 2
        shape[-1] *= 2
        return tuple(shape)

    def call(self, inputs):
        inputs -= K.mean(inputs, axis=1, keepdims=True)
        inputs = K.l2_normalize(inputs, axis=1)
        pos = K.relu(inputs)
        neg = K.relu(-inputs)
        return K.concatenate([pos, neg], axis=1)


batch_size = 128
num_classes = 10
epochs = 40
(x_train, y_train), (x_test, y_test) = mnist.load_data()
x_train = x_train.reshape(-1, 784).astype('float32') / 255
x_test = x_test.reshape(-1, 784).astype('float32') / 255
print(x_train.shape[0], 'train samples')
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(layers.Dense(256, input_shape=(784,)))
model.add(Antirectifier())
model.add(layers.Dropout(0.1))
model.add(layers.Dense(256))
model.add(Antirectifier())
model.add(layers.Dropout(0.1))
model.add(layers.Dense(num_classes))
model.add(layers.Activation('softmax'))
model.compile(loss='categorical_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=1,
          validation_data=(x_test, y_test))
'''

TENSORBOARD_EMBEDDINGS_MNIST = '''
from os import makedirs
from os.path import exists, join
import keras
from keras.callbacks import TensorBoard
from keras.datasets import mnist
from keras.models import Sequential
from keras.layers import Dense, Dropout, Flatten
from keras.layers import Conv2D, MaxPooling2D
from keras import backend as K
import numpy as np

batch_size = 128
num_classes = 10
epochs = 12
log_dir = './logs'
if not exists(log_dir):
    makedirs(log_dir)
img_rows, img_cols = 28, 28
(x_train, y_train), (x_test, y_test) = mnist.load_data()
if K.image_data_format() == 'channels_first':
    x_train = x_train.reshape(x_train.shape[0], 1, img_rows, img_cols)
    x_test = x_test.reshape(x_test.shape[0], 1, img_rows, img_cols)
    input_shape = (1, img_rows, img_cols)
else:
    x_train = x_train.reshape(x_train.shape[0], img_rows, img_cols, 1)
    x_test = x_test.reshape(x_test.shape[0], img_rows, img_cols, 1)
    input_shape = (img_rows, img_cols, 1)
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
with open(join(log_dir, 'metadata.tsv'), 'w') as f:
    np.savetxt(f, y_test)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

tensorboard = TensorBoard(batch_size=batch_size, embeddings_freq=1,
                          embeddings_layer_names=['features'],
                          embeddings_metadata='metadata.tsv', embeddings_data=x_test)
model = Sequential()
model.add(Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=input_shape))
model.add(Conv2D(64, (3, 3), activation='relu'))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Dropout(0.25))
model.add(Flatten())
model.add(Dense(128, activation='relu', name='features'))
model.add(Dropout(0.5))
model.add(Dense(num_classes, activation='softmax'))
model.compile(loss=keras.losses.categorical_crossentropy,
              optimizer=keras.optimizers.Adadelta(), metrics=['accuracy'])
model.fit(x_train, y_train, batch_size=batch_size, callbacks=[tensorboard], epochs=epochs,
          verbose=1, validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print('Test loss:', score[0])
print('Test accuracy:', score[1])
'''

# Runs a program as __main__ after dropping the published hash of mnist.npz (see above).
RUNNER = ("import runpy, sys; import gpuseq.datasets._remote as r; "
          "r.FILES['mnist.npz'] = (r.FILES['mnist.npz'][0], None); "
          "runpy.run_path(sys.argv[1], run_name='__main__')")


def as_gpuseq(source):
    """The program with the word `keras` replaced by `gpuseq`, as a user would do."""
    return re.sub(r"\bkeras\b", "gpuseq", textwrap.dedent(source))


def write_mnist(datasets, n_train, n_test, seed=0):
    rng = np.random.RandomState(seed)
    arrays = {"x_train": rng.randint(0, 256, (n_train, 28, 28)).astype("uint8"),
              "y_train": (np.arange(n_train) % 10).astype("uint8"),
              "x_test": rng.randint(0, 256, (n_test, 28, 28)).astype("uint8"),
              "y_test": (np.arange(n_test) % 10).astype("uint8")}
    np.savez(os.path.join(datasets, "mnist.npz"), **arrays)


def write_cifar10(datasets, per_batch, seed=0):
    """The python archive as Keras caches it: cifar-10-batches-py.tar.gz (extracted by
    get_file on first use)."""
    rng = np.random.RandomState(seed)
    archive = os.path.join(datasets, "cifar-10-batches-py.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        for name in ["data_batch_%d" % i for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.randint(0, 256, (per_batch, 3072)).astype("uint8"),
                     b"labels": [int(v) for v in rng.randint(0, 10, per_batch)]}
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def run_program(tmp_path, source, timeout):
    """Run `source` (Keras 2 code) as gpuseq in a subprocess in `tmp_path`."""
    program = tmp_path / "program.py"
    program.write_text(as_gpuseq(source))
    assert not re.search(r"\bkeras\b", program.read_text())
    env = dict(os.environ, GPUSEQ_HOME=str(tmp_path / "home"), GPUSEQ_BACKEND="numpy",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("KERAS_HOME", None)
    done = subprocess.run([sys.executable, "-c", RUNNER, str(program)], cwd=str(tmp_path),
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def datasets(tmp_path):
    folder = tmp_path / "home" / "datasets"
    folder.mkdir(parents=True)
    return str(folder)


def test_antirectifier_runs(tmp_path, datasets):
    write_mnist(datasets, n_train=64, n_test=16)
    out = run_program(tmp_path, ANTIRECTIFIER, timeout=300)
    assert "64 train samples" in out and "Epoch 40/40" in out


@pytest.mark.slow
def test_tensorboard_embeddings_mnist_runs(tmp_path, datasets):
    pytest.importorskip("tensorboardX")
    write_mnist(datasets, n_train=32, n_test=16)
    out = run_program(tmp_path, TENSORBOARD_EMBEDDINGS_MNIST, timeout=900)
    assert "Test accuracy:" in out
    assert any(name.startswith("events.out.tfevents")
               for _, _, files in os.walk(tmp_path / "logs") for name in files)


@pytest.mark.slow
def test_mnist_sklearn_wrapper_runs(tmp_path, datasets):
    pytest.importorskip("sklearn")
    write_mnist(datasets, n_train=50, n_test=10)
    out = run_program(tmp_path, MNIST_SKLEARN_WRAPPER, timeout=1800)
    assert "The parameters of the best model are:" in out and "loss :" in out


@pytest.mark.slow
def test_cifar10_cnn_with_augmentation_runs(tmp_path, datasets):
    pytest.importorskip("scipy")
    write_cifar10(datasets, per_batch=4)
    out = run_program(tmp_path, CIFAR10_CNN, timeout=1800)
    assert "x_train shape: (20, 32, 32, 3)" in out and "Test accuracy:" in out
    assert (tmp_path / "saved_models" / "keras_cifar10_trained_model.h5").exists()
