"""Batches of augmented images from arrays or from a folder of class subfolders.

The iterators are `gpuseq.utils.Sequence`s: `fit_generator` reads them by index, in
worker threads, and each also works as an endless Python iterator (`next(it)`).

Randomness: with `seed`, batch number k of the iterator's life draws its shuffle and its
transforms from ``RandomState(seed + k)``, the stream Keras's seeded iterators use, so
the same seed gives Keras's batches. Without a seed NumPy's global generator is used.
"""
import os
import threading
import warnings

import numpy as np

from .. import backend as K
from ..utils.data_utils import Sequence
from .image_io import array_to_img, img_to_array, load_img

WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


class Iterator(Sequence):
    """Base class: `n` samples in batches of `batch_size`, optionally shuffled.

    Subclasses implement `_get_batches_of_transformed_samples(index_array, rng)`.

    Args:
        n: number of samples.
        batch_size: samples per batch.
        shuffle: reshuffle the order every epoch.
        seed: seed of the shuffles and transforms (None: NumPy's global generator).
    """
    white_list_formats = WHITE_LIST_FORMATS

    def __init__(self, n, batch_size, shuffle, seed):
        if int(batch_size) < 1:
            raise ValueError("batch_size must be a positive integer. Received: batch_size=%r"
                             % (batch_size,))
        self.n = n
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array = None

    def _next_rng(self):
        """The random source of the next batch (call under the lock)."""
        seen = self.total_batches_seen
        self.total_batches_seen += 1
        if self.seed is None:
            return np.random.mtrand._rand
        return np.random.RandomState(self.seed + seen)

    def _set_index_array(self, rng):
        self.index_array = rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __len__(self):
        return (self.n + self.batch_size - 1) // self.batch_size

    def __getitem__(self, idx):
        if not 0 <= idx < len(self):
            raise IndexError("Batch %r asked of an iterator of %d batches." % (idx, len(self)))
        with self.lock:
            rng = self._next_rng()
            if self.index_array is None:
                self._set_index_array(rng)
            index_array = self.index_array[self.batch_size * idx:self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(index_array, rng)

    def on_epoch_end(self):
        with self.lock:
            seed = None if self.seed is None else self.seed + self.total_batches_seen
            self._set_index_array(np.random.mtrand._rand if seed is None
                                  else np.random.RandomState(seed))

    def reset(self):
        """Starts the endless iteration again from the first batch."""
        self.batch_index = 0

    def _next_index_array(self):
        with self.lock:
            rng = self._next_rng()
            if self.batch_index == 0:
                self._set_index_array(rng)
            start = (self.batch_index * self.batch_size) % self.n if self.n else 0
            self.batch_index = self.batch_index + 1 if self.n > start + self.batch_size else 0
            return self.index_array[start:start + self.batch_size], rng

    def __iter__(self):
        return self

    def __next__(self):
        index_array, rng = self._next_index_array()
        return self._get_batches_of_transformed_samples(index_array, rng)

    next = __next__

    def _get_batches_of_transformed_samples(self, index_array, rng):
        raise NotImplementedError


def _augment(generator, x, rng):
    if generator is None:
        return x
    params = generator.get_random_transform(x.shape, rng=rng)
    return generator.standardize(generator.apply_transform(x, params))


def _save_batch(batch_x, index_array, directory, prefix, fmt, data_format, rng):
    for i, j in enumerate(index_array):
        img = array_to_img(batch_x[i], data_format, scale=True)
        name = "%s_%d_%d.%s" % (prefix, j, rng.randint(10 ** 7), fmt)
        img.save(os.path.join(directory, name))


class NumpyArrayIterator(Iterator):
    """Batches `(x, y)` (or `x`, or `(x, y, sample_weight)`) from arrays, each image passed
    through the generator's random transform and `standardize`.

    Args:
        x: rank-4 image array, or a list `[images, other_array_or_list]` whose extra
            arrays are sliced alongside without change.
        y: labels or None.
        image_data_generator: the `ImageDataGenerator`.
        batch_size, shuffle, seed: as for `Iterator`.
        data_format: 'channels_last' or 'channels_first' (default: the backend's).
        save_to_dir, save_prefix, save_format: also write each augmented image there.
        subset: 'training' or 'validation' with the generator's `validation_split`.
        sample_weight: per-sample weights, returned as a third element.
        dtype: dtype of the image batches (default: floatx).
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False, seed=None,
                 data_format=None, save_to_dir=None, save_prefix="", save_format="png",
                 subset=None, sample_weight=None, dtype=None):
        self.dtype = dtype or K.floatx()
        x, x_misc = self._split_inputs(x)
        self._check_lengths(x, y, sample_weight)
        if subset is not None:
            x, x_misc, y, sample_weight = self._subset(x, x_misc, y, sample_weight, subset,
                                                       image_data_generator)
        self.x = np.asarray(x, dtype=self.dtype)
        if self.x.ndim != 4:
            raise ValueError("NumpyArrayIterator needs images of rank 4 (samples, rows, cols, "
                             "channels). Received: x.shape=%s" % (self.x.shape,))
        self.data_format = data_format or K.image_data_format()
        self._warn_channels()
        self.x_misc = x_misc
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        self.image_data_generator = image_data_generator
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        super().__init__(self.x.shape[0], batch_size, shuffle, seed)

    @staticmethod
    def _split_inputs(x):
        if not isinstance(x, (tuple, list)):
            return x, []
        misc = x[1] if isinstance(x[1], list) else [x[1]]
        misc = [np.asarray(m) for m in misc]
        for m in misc:
            if len(m) != len(x[0]):
                raise ValueError("All arrays in x must have the same length. Received "
                                 "lengths %d and %d." % (len(x[0]), len(m)))
        return x[0], misc

    @staticmethod
    def _check_lengths(x, y, sample_weight):
        for name, other in (("y", y), ("sample_weight", sample_weight)):
            if other is not None and len(x) != len(other):
                raise ValueError("x (images) and %s must have the same length. Received: "
                                 "len(x)=%d, len(%s)=%d" % (name, len(x), name, len(other)))

    @staticmethod
    def _subset(x, x_misc, y, sample_weight, subset, generator):
        if subset not in ("training", "validation"):
            raise ValueError("subset must be 'training' or 'validation'. Received: subset=%r"
                             % (subset,))
        cut = int(len(x) * generator._validation_split)
        if y is not None and not np.array_equal(np.unique(y[:cut]), np.unique(y[cut:])):
            raise ValueError("The training and validation subsets have different classes "
                             "after the split at sample %d. If the arrays are sorted by "
                             "label, shuffle them first." % cut)
        part = slice(None, cut) if subset == "validation" else slice(cut, None)
        return (x[part], [m[part] for m in x_misc], None if y is None else y[part],
                None if sample_weight is None else sample_weight[part])

    def _warn_channels(self):
        axis = 3 if self.data_format == "channels_last" else 1
        if self.x.shape[axis] not in (1, 3, 4):
            warnings.warn("NumpyArrayIterator uses data_format=%r (channels on axis %d), so "
                          "expects 1, 3 or 4 channels there; it received images of shape %s."
                          % (self.data_format, axis, self.x.shape), stacklevel=3)

    def _get_batches_of_transformed_samples(self, index_array, rng):
        batch_x = np.zeros((len(index_array),) + self.x.shape[1:], dtype=self.dtype)
        for i, j in enumerate(index_array):
            batch_x[i] = _augment(self.image_data_generator, self.x[j].astype(self.dtype), rng)
        if self.save_to_dir:
            _save_batch(batch_x, index_array, self.save_to_dir, self.save_prefix,
                        self.save_format, self.data_format, rng)
        misc = [m[index_array] for m in self.x_misc]
        inputs = [batch_x] + misc if misc else batch_x
        if self.y is None:
            return inputs
        if self.sample_weight is None:
            return inputs, self.y[index_array]
        return inputs, self.y[index_array], self.sample_weight[index_array]


def _list_class_files(directory, white_list, split, follow_links):
    """The image files under `directory` (recursively, sorted), cut to `split`."""
    files = []
    for root, _, names in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        files += [os.path.join(root, name) for name in sorted(names)
                  if name.lower().endswith(white_list)]
    if split:
        files = files[int(split[0] * len(files)):int(split[1] * len(files))]
    return files


class DirectoryIterator(Iterator):
    """Batches of images read from `directory/<class name>/*.png|jpg|...`.

    Args:
        directory: folder with one subfolder per class.
        image_data_generator: the `ImageDataGenerator` (or None: no augmentation).
        target_size: `(rows, cols)` every image is resized to.
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        classes: subfolder names to use, in label order (default: all, sorted).
        class_mode: 'categorical' (one-hot), 'binary' / 'sparse' (float labels),
            'input' (the images themselves) or None (images only).
        batch_size, shuffle, seed: as for `Iterator`.
        data_format, save_to_dir, save_prefix, save_format: as for `NumpyArrayIterator`.
        follow_links: follow symbolic links to folders.
        subset: 'training' or 'validation' with the generator's `validation_split`
            (the first `validation_split` of each class's sorted files is validation).
        interpolation: resampling of `load_img` ('nearest', 'bilinear', ...).
        dtype: dtype of the batches (default: floatx).

    Attributes:
        filenames, classes (int32 label per file), class_indices, samples, num_classes.
    """
    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, data_format=None, save_to_dir=None, save_prefix="",
                 save_format="png", follow_links=False, subset=None, interpolation="nearest",
                 dtype=None):
        self._check_modes(directory, color_mode, class_mode, subset)
        self.directory = directory
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        self.color_mode, self.class_mode, self.interpolation = color_mode, class_mode, interpolation
        self.data_format = data_format or K.image_data_format()
        self.dtype = dtype or K.floatx()
        channels = {"rgba": 4, "rgb": 3, "grayscale": 1}[color_mode]
        self.image_shape = (self.target_size + (channels,) if self.data_format == "channels_last"
                            else (channels,) + self.target_size)
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.subset = subset
        self.split = self._split(subset, image_data_generator)
        self._read_folders(classes, follow_links)
        print("Found %d images belonging to %d classes." % (self.samples, self.num_classes))
        super().__init__(self.samples, batch_size, shuffle, seed)

    def _check_modes(self, directory, color_mode, class_mode, subset):
        if color_mode not in ("rgb", "rgba", "grayscale"):
            raise ValueError("color_mode must be 'rgb', 'rgba' or 'grayscale'. Received: "
                             "color_mode=%r" % (color_mode,))
        if class_mode not in self.allowed_class_modes:
            raise ValueError("class_mode must be 'categorical', 'binary', 'sparse', 'input' "
                             "or None. Received: class_mode=%r" % (class_mode,))
        if subset not in (None, "training", "validation"):
            raise ValueError("subset must be 'training', 'validation' or None. Received: "
                             "subset=%r" % (subset,))
        if not os.path.isdir(directory):
            raise ValueError("flow_from_directory needs a folder with one subfolder per "
                             "class. Received: directory=%r, which is not a folder." % (directory,))

    @staticmethod
    def _split(subset, generator):
        if subset is None:
            return None
        fraction = generator._validation_split if generator is not None else 0.0
        return (0, fraction) if subset == "validation" else (fraction, 1)

    def _read_folders(self, classes, follow_links):
        if not classes:
            classes = sorted(d for d in os.listdir(self.directory)
                             if os.path.isdir(os.path.join(self.directory, d)))
        self.num_classes = len(classes)
        self.class_indices = {name: i for i, name in enumerate(classes)}
        self.filenames, labels = [], []
        for name in classes:
            folder = os.path.join(self.directory, name)
            for path in _list_class_files(folder, self.white_list_formats, self.split,
                                          follow_links):
                self.filenames.append(os.path.join(name, os.path.relpath(path, folder)))
                labels.append(self.class_indices[name])
        self.samples = len(self.filenames)
        self.classes = np.asarray(labels, dtype="int32")
        self.filepaths = [os.path.join(self.directory, f) for f in self.filenames]

    @property
    def labels(self):
        return self.classes

    def _load(self, path, rng):
        img = load_img(path, color_mode=self.color_mode, target_size=self.target_size,
                       interpolation=self.interpolation)
        x = img_to_array(img, data_format=self.data_format, dtype=self.dtype)
        img.close()
        return _augment(self.image_data_generator, x, rng)

    def _get_batches_of_transformed_samples(self, index_array, rng):
        batch_x = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            batch_x[i] = self._load(self.filepaths[j], rng)
        if self.save_to_dir:
            _save_batch(batch_x, index_array, self.save_to_dir, self.save_prefix,
                        self.save_format, self.data_format, rng)
        if self.class_mode == "input":
            return batch_x, batch_x.copy()
        if self.class_mode in ("binary", "sparse"):
            return batch_x, self.classes[index_array].astype(self.dtype)
        if self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), self.num_classes), dtype=self.dtype)
            batch_y[np.arange(len(batch_x)), self.classes[index_array]] = 1.0
            return batch_x, batch_y
        return batch_x
