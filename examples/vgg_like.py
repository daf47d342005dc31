"""A VGG-like convolutional network: the Keras guide's Conv2D(32) x 2 -> MaxPooling2D
-> Conv2D(64) x 2 -> MaxPooling2D -> Dense(256) -> Dense(10, softmax) on 100x100 RGB
images, trained with SGD (Nesterov momentum).

    python examples/vgg_like.py                 # full run (a few minutes on a CPU)
    python examples/vgg_like.py --quick         # a CI-sized run (seconds)
    python examples/vgg_like.py --keras1        # the Keras 1 form: Convolution2D(32, 3, 3,
                                                # border_mode='valid', input_shape=(3, 100, 100))
    GPUSEQ_BACKEND=cupy python examples/vgg_like.py

Data (no download): 100x100x3 noise images of 10 classes; class k carries a bright
16x16 patch at the k-th of ten fixed positions, so there is something to learn. The
seed itself trains on uniform noise (``np.random.random((100, 100, 100, 3))``), which
runs just the same but learns nothing.
"""
import argparse
import time
import warnings

import numpy as np

import gpuseq
import gpuseq.backend as K
from gpuseq.layers import (Activation, Conv2D, Convolution2D, Dense, Dropout, Flatten,
                           MaxPooling2D)
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD
from gpuseq.utils import set_random_seed

POSITIONS = [(8, 8), (8, 42), (8, 76), (42, 8), (42, 42), (42, 76), (76, 8), (76, 42),
             (76, 76), (25, 60)]


def make_data(n, rng, channels_first=False):
    """(x float32 (n, 100, 100, 3) or (n, 3, 100, 100), one-hot y (n, 10))."""
    x = rng.random((n, 100, 100, 3), dtype=np.float32) * 0.5
    labels = rng.integers(0, 10, size=n)
    for i, k in enumerate(labels):
        r, c = POSITIONS[k]
        x[i, r:r + 16, c:c + 16, :] += 0.5
    if channels_first:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, gpuseq.utils.to_categorical(labels, num_classes=10)


def build_model(keras1=False):
    model = Sequential()
    if keras1:
        # The Keras 1 form, as in the seed: (3, 100, 100) inputs mean 'th' (channels
        # first) ordering. Each Keras 1 call is converted with a note naming the modern one.
        model.add(Convolution2D(32, 3, 3, border_mode='valid', input_shape=(3, 100, 100)))
        model.add(Activation('relu'))
        model.add(Convolution2D(32, 3, 3))
        model.add(Activation('relu'))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Convolution2D(64, 3, 3, border_mode='valid'))
        model.add(Activation('relu'))
        model.add(Convolution2D(64, 3, 3))
        model.add(Activation('relu'))
        model.add(MaxPooling2D(pool_size=(2, 2)))
        model.add(Dropout(0.25))
        model.add(Flatten())
        model.add(Dense(256))
        model.add(Activation('relu'))
        model.add(Dropout(0.5))
        model.add(Dense(10))
        model.add(Activation('softmax'))
    else:
        # input: 100x100 images with 3 channels -> (100, 100, 3) tensors;
        # 32 convolution filters of size 3x3 each
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
    sgd = SGD(lr=0.01, decay=1e-6, momentum=0.9, nesterov=True)
    model.compile(loss='categorical_crossentropy', optimizer=sgd, metrics=['accuracy'])
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a CI-sized run")
    ap.add_argument("--keras1", action="store_true", help="build the Keras 1 form")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args(argv)

    set_random_seed(0)
    rng = np.random.default_rng(0)
    n_train, n_test = (32, 16) if args.quick else (640, 160)
    epochs = args.epochs or (1 if args.quick else 3)
    fmt = K.image_data_format()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore" if args.quick else "default")
            model = build_model(args.keras1)
        x_train, y_train = make_data(n_train, rng, channels_first=args.keras1)
        x_test, y_test = make_data(n_test, rng, channels_first=args.keras1)
        model.summary()
        t0 = time.perf_counter()
        model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0 if args.quick else 1)
        seconds = time.perf_counter() - t0
        loss, acc = model.evaluate(x_test, y_test, batch_size=32, verbose=0)
    finally:
        K.set_image_data_format(fmt)   # the Keras 1 form switches it to channels_first
    print(f"trained {epochs} epoch(s) on {n_train} images in {seconds:.1f} s "
          f"({n_train * epochs / seconds:.1f} samples/s); test loss {loss:.4f}, "
          f"accuracy {acc:.3f}")
    return loss, acc


if __name__ == "__main__":
    main()
