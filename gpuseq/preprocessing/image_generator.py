"""`ImageDataGenerator`: real-time augmentation and normalisation of image batches, with
Keras 2.2.4's arguments."""
import warnings

import numpy as np

from .. import backend as K
from .image_iterators import DirectoryIterator, NumpyArrayIterator
from .image_transforms import (apply_affine_transform, apply_brightness_shift,
                               apply_channel_shift, flip_axis)

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_STD_EPSILON = 1e-6


def _zoom_pair(zoom_range):
    if np.isscalar(zoom_range) and not isinstance(zoom_range, (str, bool)):
        return [1 - zoom_range, 1 + zoom_range]
    if (isinstance(zoom_range, (tuple, list)) and len(zoom_range) == 2
            and all(np.isscalar(v) for v in zoom_range)):
        return [zoom_range[0], zoom_range[1]]
    raise ValueError("zoom_range must be a float or a pair [lower, upper]. Received: "
                     "zoom_range=%r" % (zoom_range,))


def _shift(rng, shift_range, size):
    """A shift in pixels: a uniform draw for a float range; a signed pick for an int or a
    list of allowed values; ranges below 1 are fractions of `size`."""
    if isinstance(shift_range, (int, np.integer)) or np.ndim(shift_range) == 1:
        shift = rng.choice(shift_range) * rng.choice([-1, 1])
    else:
        shift = rng.uniform(-shift_range, shift_range)
    if np.max(shift_range) < 1:
        shift *= size
    return shift


class ImageDataGenerator(object):
    """Generates batches of images with real-time augmentation.

    Args:
        featurewise_center: subtract the data set's per-channel mean (after `fit`).
        samplewise_center: subtract each image's mean.
        featurewise_std_normalization: divide by the data set's per-channel std.
        samplewise_std_normalization: divide each image by its std.
        zca_whitening: apply ZCA whitening (after `fit`).
        zca_epsilon: epsilon added to the eigenvalues in ZCA whitening.
        rotation_range: degrees; random rotations in [-rotation_range, rotation_range].
        width_shift_range, height_shift_range: float (fraction of the size if below 1,
            pixels otherwise) drawn uniformly in [-r, r]; int or list: one of the values,
            with a random sign.
        brightness_range: two floats; brightness factor drawn between them (Pillow).
        shear_range: shear angle in degrees, counter-clockwise.
        zoom_range: float or [lower, upper]; zoom factors drawn in [1-r, 1+r] or the pair.
        channel_shift_range: random shift added to all channels.
        fill_mode: 'constant', 'nearest', 'reflect' or 'wrap' for points outside.
        cval: value outside the image with fill_mode='constant'.
        horizontal_flip, vertical_flip: flip half of the images.
        rescale: factor multiplied in first (e.g. 1/255), after `preprocessing_function`.
        preprocessing_function: function of one image (3-D array) applied before anything
            else in `standardize`.
        data_format: 'channels_last' or 'channels_first' (default: the backend's).
        validation_split: fraction of the data reserved for `subset='validation'`.
        interpolation_order: spline order of the geometric transforms (1: bilinear).
        dtype: dtype of the batches (default: floatx).

    Example:
        >>> datagen = ImageDataGenerator(rotation_range=20, width_shift_range=0.2,
        ...                              horizontal_flip=True)
        >>> datagen.fit(x_train)  # doctest: +SKIP
        >>> model.fit_generator(datagen.flow(x_train, y_train, batch_size=32),
        ...                     steps_per_epoch=len(x_train) // 32, epochs=5)  # doctest: +SKIP
    """

    def __init__(self, featurewise_center=False, samplewise_center=False,
                 featurewise_std_normalization=False, samplewise_std_normalization=False,
                 zca_whitening=False, zca_epsilon=1e-6, rotation_range=0.,
                 width_shift_range=0., height_shift_range=0., brightness_range=None,
                 shear_range=0., zoom_range=0., channel_shift_range=0., fill_mode="nearest",
                 cval=0., horizontal_flip=False, vertical_flip=False, rescale=None,
                 preprocessing_function=None, data_format=None, validation_split=0.0,
                 interpolation_order=1, dtype=None):
        data_format = data_format or K.image_data_format()
        self._check_arguments(data_format, validation_split, fill_mode, brightness_range)
        self.zoom_range = _zoom_pair(zoom_range)
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening, self.zca_epsilon = zca_whitening, zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range, self.height_shift_range = width_shift_range, height_shift_range
        self.brightness_range = brightness_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode, self.cval = fill_mode, cval
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.interpolation_order = interpolation_order
        self.dtype = dtype or K.floatx()
        self.data_format = data_format
        self.channel_axis, self.row_axis, self.col_axis = (
            (3, 1, 2) if data_format == "channels_last" else (1, 2, 3))
        self._validation_split = validation_split
        self.mean = self.std = self.principal_components = None
        self._resolve_implied_options()

    @staticmethod
    def _check_arguments(data_format, validation_split, fill_mode, brightness_range):
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("data_format must be 'channels_last' or 'channels_first'. "
                             "Received: data_format=%r" % (data_format,))
        if validation_split and not 0 < validation_split < 1:
            raise ValueError("validation_split must be strictly between 0 and 1. Received: "
                             "validation_split=%r" % (validation_split,))
        if fill_mode not in _FILL_MODES:
            raise ValueError("fill_mode must be one of %s. Received: fill_mode=%r"
                             % (_FILL_MODES, fill_mode))
        if brightness_range is not None and (not isinstance(brightness_range, (tuple, list))
                                             or len(brightness_range) != 2):
            raise ValueError("brightness_range must be a tuple or list of two floats. "
                             "Received: brightness_range=%r" % (brightness_range,))

    def _resolve_implied_options(self):
        """ZCA implies featurewise centering (and replaces std normalisation); std
        normalisation implies centering; each override is warned about, as in Keras."""
        if self.zca_whitening:
            if not self.featurewise_center:
                self.featurewise_center = True
                warnings.warn("zca_whitening=True also sets featurewise_center=True.")
            if self.featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn("zca_whitening=True replaces featurewise_std_normalization.")
        if self.featurewise_std_normalization and not self.featurewise_center:
            self.featurewise_center = True
            warnings.warn("featurewise_std_normalization=True also sets "
                          "featurewise_center=True.")
        if self.samplewise_std_normalization and not self.samplewise_center:
            self.samplewise_center = True
            warnings.warn("samplewise_std_normalization=True also sets "
                          "samplewise_center=True.")

    # --- batches -------------------------------------------------------------------

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             save_to_dir=None, save_prefix="", save_format="png", subset=None):
        """A `NumpyArrayIterator` over arrays `x` (rank 4) and labels `y`.

        Returns batches `(x, y)`, `x` alone when `y` is None, or `(x, y, sample_weight)`.
        """
        return NumpyArrayIterator(
            x, y, self, batch_size=batch_size, shuffle=shuffle, sample_weight=sample_weight,
            seed=seed, data_format=self.data_format, save_to_dir=save_to_dir,
            save_prefix=save_prefix, save_format=save_format, subset=subset, dtype=self.dtype)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, save_to_dir=None, save_prefix="",
                            save_format="png", follow_links=False, subset=None,
                            interpolation="nearest"):
        """A `DirectoryIterator` over ``directory/<class>/<image files>``.

        Example:
            >>> train = ImageDataGenerator(rescale=1. / 255).flow_from_directory(
            ...     'data/train', target_size=(150, 150), batch_size=32,
            ...     class_mode='binary')  # doctest: +SKIP
        """
        return DirectoryIterator(
            directory, self, target_size=target_size, color_mode=color_mode, classes=classes,
            class_mode=class_mode, data_format=self.data_format, batch_size=batch_size,
            shuffle=shuffle, seed=seed, save_to_dir=save_to_dir, save_prefix=save_prefix,
            save_format=save_format, follow_links=follow_links, subset=subset,
            interpolation=interpolation, dtype=self.dtype)

    # --- normalisation -------------------------------------------------------------

    def standardize(self, x):
        """Applies `preprocessing_function`, `rescale` and the normalisations to `x`
        (one image or a batch), in place where it can.

        Statistics from `fit` must exist for the featurewise options; without them a
        warning is given and that step is skipped.
        """
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + _STD_EPSILON
        if self.featurewise_center:
            if self._fitted("mean", "featurewise_center"):
                x -= self.mean
        if self.featurewise_std_normalization:
            if self._fitted("std", "featurewise_std_normalization"):
                x /= self.std + _STD_EPSILON
        if self.zca_whitening:
            if self._fitted("principal_components", "zca_whitening"):
                flat = x.reshape(-1, int(np.prod(x.shape[-3:])))
                x = (flat @ self.principal_components).reshape(x.shape)
        return x

    def _fitted(self, attribute, option):
        if getattr(self, attribute) is not None:
            return True
        warnings.warn("This ImageDataGenerator has %s=True but was not fitted: call "
                      ".fit(x_train) first. The step is skipped." % option, stacklevel=3)
        return False

    def fit(self, x, augment=False, rounds=1, seed=None):
        """Computes the data statistics the featurewise options and ZCA need.

        Args:
            x: images, rank 4 (rescaled by `rescale` first, as `standardize` will).
            augment: fit on randomly transformed copies instead.
            rounds: number of transformed copies of `x` with `augment`.
            seed: seed of those transforms.
        """
        x = np.array(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError("ImageDataGenerator.fit needs images of rank 4. Received: "
                             "x.shape=%s" % (x.shape,))
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn("ImageDataGenerator uses data_format=%r (channels on axis %d) and "
                          "expects 1, 3 or 4 channels there; fit received shape %s."
                          % (self.data_format, self.channel_axis, x.shape), stacklevel=2)
        if self.rescale:
            x *= self.rescale
        if augment:
            x = self._augmented_copies(x, rounds, seed)
        if self.featurewise_center:
            self.mean = self._per_channel(np.mean, x)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = self._per_channel(np.std, x)
            x /= self.std + _STD_EPSILON
        if self.zca_whitening:
            self.principal_components = self._zca_matrix(x)

    def _augmented_copies(self, x, rounds, seed):
        rng = np.random.RandomState(seed) if seed is not None else np.random.mtrand._rand
        out = np.zeros((rounds * len(x),) + x.shape[1:], dtype=self.dtype)
        for r in range(rounds):
            for i in range(len(x)):
                out[i + r * len(x)] = self.random_transform(x[i], rng=rng)
        return out

    def _per_channel(self, statistic, x):
        values = statistic(x, axis=(0, self.row_axis, self.col_axis))
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        return np.reshape(values, shape)

    def _zca_matrix(self, x):
        flat = np.reshape(x, (len(x), -1))
        sigma = flat.T @ flat / flat.shape[0]
        u, s, _ = np.linalg.svd(sigma)
        return (u * (1.0 / np.sqrt(s[np.newaxis] + self.zca_epsilon))) @ u.T

    # --- random transforms ---------------------------------------------------------

    def get_random_transform(self, img_shape, seed=None, rng=None):
        """Draws the parameters of one random transform (the dict `apply_transform` takes).

        Args:
            img_shape: shape of the single image.
            seed: seed for this draw (Keras's argument).
            rng: a `numpy.random.RandomState` to draw from instead.

        Returns:
            dict with 'theta', 'tx', 'ty', 'shear', 'zx', 'zy', 'flip_horizontal',
            'flip_vertical', 'channel_shift_intensity' and 'brightness'.
        """
        if seed is not None:
            rng = np.random.RandomState(seed)
        rng = rng if rng is not None else np.random.mtrand._rand
        rows, cols = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        theta = rng.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = _shift(rng, self.height_shift_range, rows) if self.height_shift_range else 0
        ty = _shift(rng, self.width_shift_range, cols) if self.width_shift_range else 0
        shear = rng.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx, zy = 1, 1
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = (rng.random_sample() < 0.5) * self.horizontal_flip
        flip_vertical = (rng.random_sample() < 0.5) * self.vertical_flip
        channel_shift = None
        if self.channel_shift_range != 0:
            channel_shift = rng.uniform(-self.channel_shift_range, self.channel_shift_range)
        brightness = None
        if self.brightness_range is not None:
            brightness = rng.uniform(self.brightness_range[0], self.brightness_range[1])
        return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
                "flip_horizontal": flip_horizontal, "flip_vertical": flip_vertical,
                "channel_shift_intensity": channel_shift, "brightness": brightness}

    def apply_transform(self, x, transform_parameters):
        """Applies a transform given as a `get_random_transform` dict to one image.

        The geometric part (rotation, shift, shear, zoom about the centre) comes first,
        then the channel shift, the flips and the brightness change.
        """
        row, col, channel = self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        p = transform_parameters
        x = apply_affine_transform(
            x, p.get("theta", 0), p.get("tx", 0), p.get("ty", 0), p.get("shear", 0),
            p.get("zx", 1), p.get("zy", 1), row_axis=row, col_axis=col, channel_axis=channel,
            fill_mode=self.fill_mode, cval=self.cval, order=self.interpolation_order)
        if p.get("channel_shift_intensity") is not None:
            x = apply_channel_shift(x, p["channel_shift_intensity"], channel)
        if p.get("flip_horizontal", False):
            x = flip_axis(x, col)
        if p.get("flip_vertical", False):
            x = flip_axis(x, row)
        if p.get("brightness") is not None:
            x = self._brightness(x, p["brightness"])
        return x

    def _brightness(self, x, factor):
        if self.data_format == "channels_first":
            return np.moveaxis(apply_brightness_shift(np.moveaxis(x, 0, -1), factor, False),
                               -1, 0)
        return apply_brightness_shift(x, factor, False)

    def random_transform(self, x, seed=None, rng=None):
        """One image `x` under a random transform (see `get_random_transform`)."""
        return self.apply_transform(x, self.get_random_transform(x.shape, seed=seed, rng=rng))
