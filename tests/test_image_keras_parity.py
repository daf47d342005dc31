"""ImageDataGenerator against Keras 3's (keras.src.legacy.preprocessing.image), for the
same seeds, wherever the two do the same maths. Skipped where Keras is not importable.

Keras 3 (like keras-preprocessing from 1.1.2 on) swaps the row and column roles of the
geometric matrix, so its `tx` moves columns and its rotations and shears turn the other
way; gpuseq keeps Keras 2.2.4's convention. The geometric comparisons therefore use
transforms that the swap leaves unchanged (equal shifts, 180 degree turns, equal zooms);
the random draws, colour transforms, flips, statistics and batch order are compared in
full. ZCA differs only in where epsilon enters, so it is compared with a tiny epsilon.
"""
import importlib.util
import os
import sys
import warnings

import numpy as np
import pytest

if importlib.util.find_spec("keras") is None:
    pytest.skip("Keras 3 is not installed here (the parity test runs where it is)",
                allow_module_level=True)
pytest.importorskip("PIL")
pytest.importorskip("scipy")
if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_BACKEND", "numpy")
keras_image = pytest.importorskip("keras.src.legacy.preprocessing.image")

from gpuseq.preprocessing.image import ImageDataGenerator, save_img  # noqa: E402

FULL = dict(rotation_range=25, width_shift_range=[-2, 1, 3], height_shift_range=0.2,
            shear_range=8, zoom_range=[0.8, 1.3], horizontal_flip=True, vertical_flip=True,
            channel_shift_range=12.0, brightness_range=[0.6, 1.4])
SAME_MATHS = dict(horizontal_flip=True, vertical_flip=True, channel_shift_range=20.0,
                  brightness_range=[0.5, 1.5], rescale=1 / 255.)


def _pair(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ImageDataGenerator(**kwargs), keras_image.ImageDataGenerator(**kwargs)


def _images(n=12, rows=6, cols=6, channels=3, seed=0):
    return np.random.RandomState(seed).randint(0, 256, (n, rows, cols, channels)).astype("float32")


@pytest.mark.parametrize("seed", range(6))
def test_random_draws_equal(seed):
    ours, theirs = _pair(**FULL)
    a = ours.get_random_transform((6, 9, 3), seed=seed)
    b = theirs.get_random_transform((6, 9, 3), seed=seed)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key]), key


TRANSFORMS = [
    {"flip_horizontal": True, "channel_shift_intensity": 17.5},
    {"flip_vertical": True, "brightness": 0.7},
    {"tx": 1.5, "ty": 1.5},
    {"zx": 1.4, "zy": 1.4},
    {"tx": -2, "ty": -2, "zx": 0.7, "zy": 0.7, "flip_horizontal": True},
]


# A half turn is the same in both conventions; with 'constant' or 'wrap' fill its border
# pixels sit exactly on the image edge, where the two differ by rounding (sin 180 ~ 1e-16).
@pytest.mark.parametrize("params, fill_mode", [
    (params, mode) for params in TRANSFORMS for mode in ("nearest", "constant", "reflect", "wrap")
] + [({"theta": 180}, mode) for mode in ("nearest", "reflect")])
def test_apply_transform_equal(params, fill_mode):
    ours, theirs = _pair(fill_mode=fill_mode, cval=3.0)
    x = _images(1, 7, 7)[0]
    np.testing.assert_allclose(ours.apply_transform(x.copy(), params),
                               theirs.apply_transform(x.copy(), params), rtol=1e-5, atol=1e-3)


def test_fit_and_standardize_equal():
    kwargs = dict(featurewise_center=True, featurewise_std_normalization=True,
                  samplewise_center=True, rescale=0.5)
    ours, theirs = _pair(**kwargs)
    x = _images(10)
    ours.fit(x)
    theirs.fit(x)
    np.testing.assert_allclose(ours.mean, theirs.mean, rtol=1e-6)
    np.testing.assert_allclose(ours.std, theirs.std, rtol=1e-6)
    np.testing.assert_allclose(ours.standardize(x[0].copy()), theirs.standardize(x[0].copy()),
                               rtol=1e-5, atol=1e-6)


def test_zca_close():
    ours, theirs = _pair(zca_whitening=True, zca_epsilon=1e-12, dtype="float64")
    x = np.random.RandomState(1).randn(300, 2, 2, 3)
    ours.fit(x)
    theirs.fit(x)
    np.testing.assert_allclose(ours.standardize(x[:5].copy()), theirs.standardize(x[:5].copy()),
                               atol=1e-5)


def test_flow_batches_equal():
    ours, theirs = _pair(**SAME_MATHS)
    x, y = _images(11), np.arange(11)
    a = ours.flow(x, y, batch_size=4, shuffle=True, seed=42)
    b = theirs.flow(x, y, batch_size=4, shuffle=True, seed=42)
    assert len(a) == len(b) == 3
    for i in range(3):
        (ax, ay), (bx, by) = a[i], b[i]
        np.testing.assert_array_equal(ay, by)
        np.testing.assert_allclose(ax, bx, rtol=1e-6, atol=1e-6)


def test_flow_from_directory_equal(tmp_path):
    rng = np.random.RandomState(3)
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        for i in range(3):
            save_img(str(tmp_path / name / ("%d.png" % i)),
                     rng.randint(0, 256, (9, 7, 3)).astype("float32"), scale=False)
    ours, theirs = _pair(validation_split=0.34, **SAME_MATHS)
    kwargs = dict(target_size=(5, 4), batch_size=4, seed=7, subset="training",
                  interpolation="bilinear")
    a = ours.flow_from_directory(str(tmp_path), **kwargs)
    b = theirs.flow_from_directory(str(tmp_path), **kwargs)
    assert a.filenames == b.filenames and a.class_indices == b.class_indices
    for i in range(len(a)):
        (ax, ay), (bx, by) = a[i], b[i]
        np.testing.assert_array_equal(ay, by)
        np.testing.assert_allclose(ax, bx, rtol=1e-6, atol=1e-6)
