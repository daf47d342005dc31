"""Converting between image files, PIL images and NumPy arrays (Pillow needed)."""
import io
import os
import warnings

import numpy as np

from .. import backend as K
from ._optional import require

_CHANNELS_TO_MODE = {4: "RGBA", 3: "RGB"}
_COLOR_MODES = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}


def _data_format(data_format):
    data_format = data_format or K.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("data_format must be 'channels_last' or 'channels_first'. "
                         "Received: data_format=%r" % (data_format,))
    return data_format


def interpolation_methods():
    """Names accepted by `load_img(interpolation=...)` -> PIL resampling filters."""
    image = require("PIL.Image", "Image resizing")
    resampling = getattr(image, "Resampling", image)
    return {"nearest": resampling.NEAREST, "bilinear": resampling.BILINEAR,
            "bicubic": resampling.BICUBIC, "lanczos": resampling.LANCZOS,
            "box": resampling.BOX, "hamming": resampling.HAMMING}


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A 3-D array as a PIL image (1 channel: 'L', 3: 'RGB', 4: 'RGBA').

    Args:
        x: array of shape (rows, cols, channels) (or channels first).
        data_format: 'channels_last' or 'channels_first' (default: the backend's).
        scale: stretch the values to 0..255 first.
        dtype: float type used for the scaling (default: the backend's floatx).

    Example:
        >>> img = array_to_img(np.zeros((4, 5, 3)))  # doctest: +SKIP
        >>> img.size
        (5, 4)
    """
    pil_image = require("PIL.Image", "array_to_img")
    x = np.asarray(x, dtype=dtype or K.floatx())
    if x.ndim != 3:
        raise ValueError("array_to_img expects one image of rank 3 (rows, cols, channels). "
                         "Received: x.shape=%s" % (x.shape,))
    if _data_format(data_format) == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x /= top
        x *= 255
    channels = x.shape[2]
    if channels in _CHANNELS_TO_MODE:
        return pil_image.fromarray(x.astype("uint8"), _CHANNELS_TO_MODE[channels])
    if channels == 1:
        if np.max(x) > 255:
            return pil_image.fromarray(x[:, :, 0].astype("int32"), "I")
        return pil_image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError("array_to_img supports 1, 3 or 4 channels. Received: x.shape=%s "
                     "(%d channels)" % (x.shape, channels))


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image as a float array of shape (rows, cols, channels) (or channels first).

    Example:
        >>> img_to_array(load_img('cat.png')).shape  # doctest: +SKIP
        (224, 224, 3)
    """
    x = np.asarray(img, dtype=dtype or K.floatx())
    if x.ndim == 2:
        x = x[:, :, np.newaxis]
    if x.ndim != 3:
        raise ValueError("img_to_array expects a 2-D image. Received an array of shape %s"
                         % (x.shape,))
    if _data_format(data_format) == "channels_first":
        x = x.transpose(2, 0, 1)
    return x


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Writes a 3-D array as an image file (format from `file_format` or the suffix).

    Args:
        path: file path or a file object.
        x: the image array.
        data_format, scale: as for `array_to_img`.
        file_format: e.g. 'png', 'jpeg'; by default from the file name.
        **kwargs: passed to PIL's `Image.save`.
    """
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = os.path.splitext(os.fspath(path))[1][1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG cannot store an alpha channel; the image is saved as RGB.",
                      stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def _open(path):
    pil_image = require("PIL.Image", "load_img")
    if isinstance(path, io.BytesIO):
        return pil_image.open(path)
    if isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as f:
            return pil_image.open(io.BytesIO(f.read()))
    raise TypeError("load_img expects a file path or io.BytesIO. Received: path of type %s"
                    % type(path).__name__)


def load_img(path, grayscale=False, color_mode="rgb", target_size=None,
             interpolation="nearest"):
    """Loads an image file as a PIL image.

    Args:
        path: file path (or io.BytesIO).
        grayscale: Keras 1 form of `color_mode='grayscale'`.
        color_mode: 'grayscale', 'rgb' or 'rgba'.
        target_size: None, or `(rows, cols)` to resize to.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'lanczos', 'box' or 'hamming'.

    Example:
        >>> img = load_img('cat.jpg', target_size=(224, 224))  # doctest: +SKIP
    """
    if grayscale:
        warnings.warn("load_img: grayscale=True is now color_mode='grayscale'.", stacklevel=2)
        color_mode = "grayscale"
    if color_mode not in _COLOR_MODES:
        raise ValueError("color_mode must be 'grayscale', 'rgb' or 'rgba'. "
                         "Received: color_mode=%r" % (color_mode,))
    if target_size is not None and interpolation not in interpolation_methods():
        raise ValueError("interpolation must be one of %s. Received: interpolation=%r"
                         % (sorted(interpolation_methods()), interpolation))
    img = _open(path)
    if img.mode not in _COLOR_MODES[color_mode]:
        img = img.convert(_COLOR_MODES[color_mode][0])
    if target_size is not None:
        size = (int(target_size[1]), int(target_size[0]))
        if img.size != size:
            img = img.resize(size, interpolation_methods()[interpolation])
    return img
