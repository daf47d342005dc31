"""Geometric and colour transforms of one image (rows, cols, channels), as Keras 2.2.4
applies them; the geometric ones need SciPy, brightness needs Pillow.

Coordinates are (row, column), and a transform maps each output pixel to the input point
it reads: a positive `tx` moves the content up (towards row 0), a positive `ty` moves it
left, a positive `theta` turns it clockwise as displayed (row 0 at the top), and a zoom
factor above 1 shrinks it.
"""
import numpy as np

from ._optional import require
from .image_io import array_to_img, img_to_array


def flip_axis(x, axis):
    """`x` reversed along `axis`."""
    return np.flip(np.asarray(x), axis)


def _rotation(theta_deg):
    t = np.deg2rad(theta_deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


def _shear(shear_deg):
    s = np.deg2rad(shear_deg)
    return np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])


def affine_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1):
    """The 3x3 map from output to input coordinates (about the origin), or None for
    the identity: rotation, then shift, then shear, then zoom (Keras's order)."""
    parts = []
    if theta != 0:
        parts.append(_rotation(theta))
    if tx != 0 or ty != 0:
        parts.append(np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=float))
    if shear != 0:
        parts.append(_shear(shear))
    if zx != 1 or zy != 1:
        parts.append(np.diag([zx, zy, 1.0]))
    if not parts:
        return None
    matrix = parts[0]
    for part in parts[1:]:
        matrix = matrix @ part
    return matrix


def transform_matrix_offset_center(matrix, rows, cols):
    """`matrix` moved so that it acts about the centre of a rows x cols image."""
    centre = np.array([[1, 0, rows / 2.0 - 0.5], [0, 1, cols / 2.0 - 0.5], [0, 0, 1]])
    back = np.array([[1, 0, -(rows / 2.0 - 0.5)], [0, 1, -(cols / 2.0 - 0.5)], [0, 0, 1]])
    return centre @ matrix @ back


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, row_axis=0,
                           col_axis=1, channel_axis=2, fill_mode="nearest", cval=0.,
                           order=1):
    """Rotates, shifts, shears and zooms one image about its centre.

    Args:
        x: 3-D image array.
        theta: rotation in degrees.
        tx, ty: shift in pixels along the rows and the columns.
        shear: shear angle in degrees.
        zx, zy: zoom factors along the rows and the columns (above 1 shrinks the content).
        row_axis, col_axis, channel_axis: axes of `x`.
        fill_mode: 'constant', 'nearest', 'reflect' or 'wrap' (outside the input).
        cval: value outside the input for 'constant'.
        order: spline interpolation order (1: bilinear).

    Returns:
        The transformed image, same shape.
    """
    if sorted((row_axis, col_axis, channel_axis)) != [0, 1, 2] or np.ndim(x) != 3:
        raise ValueError("apply_affine_transform expects a 3-D image and distinct axes "
                         "0, 1, 2. Received: x.shape=%s, row_axis=%r, col_axis=%r, "
                         "channel_axis=%r" % (np.shape(x), row_axis, col_axis, channel_axis))
    matrix = affine_matrix(theta, tx, ty, shear, zx, zy)
    if matrix is None:
        return x
    ndimage = require("scipy.ndimage", "Image rotation, shift, shear and zoom")
    matrix = transform_matrix_offset_center(matrix, x.shape[row_axis], x.shape[col_axis])
    planes = np.moveaxis(x, channel_axis, 0)
    if row_axis > col_axis:
        planes = planes.swapaxes(1, 2)
    out = np.stack([ndimage.affine_transform(p, matrix[:2, :2], matrix[:2, 2], order=order,
                                             mode=fill_mode, cval=cval) for p in planes])
    if row_axis > col_axis:
        out = out.swapaxes(1, 2)
    return np.moveaxis(out, 0, channel_axis)


def apply_channel_shift(x, intensity, channel_axis=0):
    """Adds `intensity` to every channel, clipped to the image's own min and max."""
    low, high = np.min(x), np.max(x)
    return np.clip(x + intensity, low, high)


def apply_brightness_shift(x, brightness, scale=True):
    """Multiplies brightness by `brightness` through PIL's `ImageEnhance.Brightness`.

    Args:
        x: 3-D channels-last image.
        brightness: factor (1: unchanged, 0: black).
        scale: give the result in 0..255. With False, an image outside 0..255 is
            mapped back to its own range (as Keras 3 does).
    """
    enhance = require("PIL.ImageEnhance", "brightness_range")
    low, high = np.min(x), np.max(x)
    outside = bool(low < 0 or high > 255)
    img = array_to_img(x, data_format="channels_last", scale=outside or scale)
    out = img_to_array(enhance.Brightness(img).enhance(brightness),
                       data_format="channels_last")
    if outside and not scale:
        out = out / 255 * (high - low) + low
    return out


def _rng(rng):
    return np.random.mtrand._rand if rng is None else rng


def _layout(row_axis, col_axis, channel_axis):
    return dict(row_axis=row_axis, col_axis=col_axis, channel_axis=channel_axis)


def random_rotation(x, rg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                    cval=0., rng=None):
    """`x` rotated by a uniform angle in [-rg, rg] degrees."""
    theta = _rng(rng).uniform(-rg, rg)
    return apply_affine_transform(x, theta=theta, fill_mode=fill_mode, cval=cval,
                                  **_layout(row_axis, col_axis, channel_axis))


def random_shift(x, wrg, hrg, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0., rng=None):
    """`x` shifted by uniform fractions in [-hrg, hrg] of its height, [-wrg, wrg] of its width."""
    rng = _rng(rng)
    tx = rng.uniform(-hrg, hrg) * x.shape[row_axis]
    ty = rng.uniform(-wrg, wrg) * x.shape[col_axis]
    return apply_affine_transform(x, tx=tx, ty=ty, fill_mode=fill_mode, cval=cval,
                                  **_layout(row_axis, col_axis, channel_axis))


def random_shear(x, intensity, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                 cval=0., rng=None):
    """`x` sheared by a uniform angle in [-intensity, intensity] degrees."""
    shear = _rng(rng).uniform(-intensity, intensity)
    return apply_affine_transform(x, shear=shear, fill_mode=fill_mode, cval=cval,
                                  **_layout(row_axis, col_axis, channel_axis))


def random_zoom(x, zoom_range, row_axis=1, col_axis=2, channel_axis=0, fill_mode="nearest",
                cval=0., rng=None):
    """`x` zoomed by factors drawn uniformly from `zoom_range` (two floats)."""
    if len(zoom_range) != 2:
        raise ValueError("zoom_range must be two floats. Received: zoom_range=%r"
                         % (zoom_range,))
    if zoom_range[0] == 1 and zoom_range[1] == 1:
        zx, zy = 1, 1
    else:
        zx, zy = _rng(rng).uniform(zoom_range[0], zoom_range[1], 2)
    return apply_affine_transform(x, zx=zx, zy=zy, fill_mode=fill_mode, cval=cval,
                                  **_layout(row_axis, col_axis, channel_axis))


def random_channel_shift(x, intensity_range, channel_axis=0, rng=None):
    """`x` with a uniform shift in [-intensity_range, intensity_range] on every channel."""
    intensity = _rng(rng).uniform(-intensity_range, intensity_range)
    return apply_channel_shift(x, intensity, channel_axis)


def random_brightness(x, brightness_range, rng=None):
    """`x` with its brightness multiplied by a uniform factor from `brightness_range`."""
    if len(brightness_range) != 2:
        raise ValueError("brightness_range must be two floats. Received: brightness_range=%r"
                         % (brightness_range,))
    factor = _rng(rng).uniform(brightness_range[0], brightness_range[1])
    return apply_brightness_shift(x, factor)
