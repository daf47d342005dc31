"""gpuseq.preprocessing.image: image files, transforms by value, ImageDataGenerator's
statistics, flow / flow_from_directory batches, and training through fit_generator."""
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("PIL", reason="the image tools need Pillow (pip install Pillow)")
pytest.importorskip("scipy", reason="the image transforms need SciPy (pip install scipy)")

import gpuseq.backend as K  # noqa: E402
from gpuseq.preprocessing import image  # noqa: E402
from gpuseq.preprocessing.image import (ImageDataGenerator, apply_affine_transform,  # noqa: E402
                                        array_to_img, img_to_array, load_img, save_img)


def _ramp(rows=5, cols=5, channels=1):
    return np.arange(rows * cols * channels, dtype="float32").reshape(rows, cols, channels)


# --- files --------------------------------------------------------------------------

def test_png_round_trip_exact(tmp_path):
    x = np.random.RandomState(0).randint(0, 256, (6, 7, 3)).astype("float32")
    save_img(str(tmp_path / "a.png"), x, scale=False)
    img = load_img(str(tmp_path / "a.png"))
    assert img.size == (7, 6) and img.mode == "RGB"
    np.testing.assert_array_equal(img_to_array(img), x)
    np.testing.assert_array_equal(img_to_array(img, data_format="channels_first"),
                                  x.transpose(2, 0, 1))


def test_color_modes_and_resize(tmp_path):
    x = np.zeros((4, 4, 3), "float32")
    x[:, :2, 0] = 255           # left half red
    save_img(str(tmp_path / "r.png"), x, scale=False)
    gray = img_to_array(load_img(str(tmp_path / "r.png"), color_mode="grayscale"))
    assert gray.shape == (4, 4, 1)
    assert gray[0, 0, 0] == 76 and gray[0, 3, 0] == 0      # ITU-R 601 luma of pure red
    rgba = img_to_array(load_img(str(tmp_path / "r.png"), color_mode="rgba"))
    assert rgba.shape == (4, 4, 4) and np.all(rgba[..., 3] == 255)
    small = img_to_array(load_img(str(tmp_path / "r.png"), target_size=(2, 2)))
    np.testing.assert_array_equal(small[:, :, 0], [[255, 0], [255, 0]])
    with pytest.raises(ValueError, match="interpolation"):
        load_img(str(tmp_path / "r.png"), target_size=(2, 2), interpolation="cubic-ish")
    with pytest.raises(ValueError, match="color_mode"):
        load_img(str(tmp_path / "r.png"), color_mode="cmyk")


def test_array_to_img_scales_to_0_255():
    img = array_to_img(np.array([[[-1.0], [0.0], [1.0]]]))
    np.testing.assert_array_equal(np.asarray(img), [[0, 127, 255]])
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))


def test_missing_pillow_named(monkeypatch):
    import sys
    for name in ("PIL", "PIL.Image", "PIL.ImageEnhance"):
        monkeypatch.setitem(sys.modules, name, None)      # makes `import PIL` fail
    with pytest.raises(ImportError, match="Pillow"):
        array_to_img(np.zeros((2, 2, 1)))


# --- transforms by value ------------------------------------------------------------

def test_rotation_90_is_clockwise_quarter_turn():
    x = _ramp()
    out = apply_affine_transform(x, theta=90, row_axis=0, col_axis=1, channel_axis=2)
    np.testing.assert_allclose(out[:, :, 0], np.rot90(x[:, :, 0], -1), atol=1e-4)


def test_shift_moves_content_up_and_left_with_constant_fill():
    x = _ramp(4, 4)
    out = apply_affine_transform(x, tx=1, ty=2, fill_mode="constant", cval=-1.0,
                                 row_axis=0, col_axis=1, channel_axis=2)
    expected = np.full((4, 4), -1.0)
    expected[:3, :2] = x[1:, 2:, 0]
    np.testing.assert_allclose(out[:, :, 0], expected, atol=1e-5)


def test_zoom_two_shrinks_about_centre_channels_first():
    x = _ramp(5, 5).transpose(2, 0, 1)              # (1, 5, 5)
    out = apply_affine_transform(x, zx=2, zy=2, fill_mode="constant", row_axis=1,
                                 col_axis=2, channel_axis=0)
    # output pixel (r, c) reads input (2 + 2(r - 2), 2 + 2(c - 2))
    np.testing.assert_allclose(out[0, 1:4, 1:4], x[0, 0:5:2, 0:5:2], atol=1e-5)
    assert out[0, 0, 0] == 0


def test_generator_flips_and_channel_shift():
    gen = ImageDataGenerator()
    x = _ramp(3, 4, 2)
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_horizontal": True}), x[:, ::-1])
    np.testing.assert_array_equal(gen.apply_transform(x, {"flip_vertical": True}), x[::-1])
    shifted = gen.apply_transform(x, {"channel_shift_intensity": 5.0})
    np.testing.assert_array_equal(shifted, np.clip(x + 5, x.min(), x.max()))


def test_brightness_keeps_value_range():
    gen = ImageDataGenerator()
    x = np.full((2, 2, 3), 100.0, "float32")
    np.testing.assert_allclose(gen.apply_transform(x, {"brightness": 0.5}), 50.0)


def test_random_transform_seeded_and_shift_choices():
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=[-2, 3],
                             height_shift_range=0.25, zoom_range=0.1, shear_range=5,
                             horizontal_flip=True, channel_shift_range=4.0)
    a = gen.get_random_transform((8, 10, 3), seed=11)
    b = gen.get_random_transform((8, 10, 3), seed=11)
    assert a == b
    assert -30 <= a["theta"] <= 30 and abs(a["tx"]) <= 0.25 * 8
    draws = {gen.get_random_transform((8, 10, 3), seed=s)["ty"] for s in range(40)}
    assert draws == {-2, 2, -3, 3}
    x = np.random.RandomState(0).rand(8, 10, 3).astype("float32")
    np.testing.assert_array_equal(gen.random_transform(x, seed=4), gen.random_transform(x, seed=4))


# --- statistics -----------------------------------------------------------------------

def test_fit_featurewise_statistics_and_standardize():
    rng = np.random.RandomState(1)
    x = rng.rand(20, 4, 4, 3).astype("float32") * [1, 10, 100]
    gen = ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True,
                             rescale=0.5)
    gen.fit(x)
    np.testing.assert_allclose(gen.mean.ravel(), (0.5 * x).mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gen.std.ravel(), (0.5 * x).std(axis=(0, 1, 2)), rtol=1e-4)
    out = np.stack([gen.standardize(xi.copy()) for xi in x])
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_samplewise_normalization():
    gen = ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    x = np.random.RandomState(2).rand(3, 3, 2).astype("float32") * 7 + 3
    out = gen.standardize(x.copy())
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-4


def test_zca_whitening_decorrelates():
    rng = np.random.RandomState(3)
    base = rng.randn(400, 2, 2, 1)
    x = (base + 0.8 * base[:, :1, :1, :]).astype("float64")   # correlated pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gen = ImageDataGenerator(zca_whitening=True, zca_epsilon=1e-9, dtype="float64")
    assert gen.featurewise_center
    gen.fit(x)
    white = gen.standardize(x.copy()).reshape(400, -1)
    np.testing.assert_allclose(white.T @ white / 400, np.eye(4), atol=1e-6)


def test_unfitted_featurewise_warns_and_skips():
    gen = ImageDataGenerator(featurewise_center=True)
    x = np.ones((2, 2, 1), "float32")
    with pytest.warns(UserWarning, match="fit"):
        np.testing.assert_array_equal(gen.standardize(x.copy()), x)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(data_format="channels_middle"), "data_format"),
    (dict(validation_split=1.5), "validation_split"),
    (dict(fill_mode="mirror"), "fill_mode"),
    (dict(zoom_range=[0.5, 1, 2]), "zoom_range"),
    (dict(brightness_range=0.5), "brightness_range"),
])
def test_bad_generator_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        ImageDataGenerator(**kwargs)


# --- flow -----------------------------------------------------------------------------

def _indexed_images(n):
    """Image i is filled with the value i, so batches show which samples they hold."""
    return np.repeat(np.arange(n, dtype="float32"), 2 * 2 * 3).reshape(n, 2, 2, 3)


def test_flow_epoch_covers_every_sample_once_labels_aligned():
    x, y = _indexed_images(10), np.arange(10) * 10
    it = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=True, seed=5)
    assert len(it) == 3
    seen = []
    for i in range(len(it)):
        bx, by = it[i]
        np.testing.assert_array_equal(by, bx[:, 0, 0, 0] * 10)
        seen += list(bx[:, 0, 0, 0])
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    first = [it[0][1] for _ in range(1)]
    it2 = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=True, seed=5)
    np.testing.assert_array_equal(it2[0][1], first[0])


def test_flow_iterates_forever_and_returns_sample_weights_and_extra_inputs():
    x = _indexed_images(5)
    it = ImageDataGenerator().flow([x, np.arange(5) + 100], np.arange(5), batch_size=2,
                                   shuffle=False, sample_weight=np.arange(5) * 0.5)
    (bx, extra), by, sw = next(it)
    np.testing.assert_array_equal(extra, [100, 101])
    np.testing.assert_array_equal(sw, [0, 0.5])
    assert [len(next(it)[1]) for _ in range(3)] == [2, 1, 2]    # wraps around


def test_flow_subsets_and_errors():
    x, y = _indexed_images(10), np.tile([0, 1], 5)
    gen = ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, batch_size=10, shuffle=False, subset="validation")[0][0]
    train = gen.flow(x, y, batch_size=10, shuffle=False, subset="training")[0][0]
    np.testing.assert_array_equal(val[:, 0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(train[:, 0, 0, 0], np.arange(3, 10))
    with pytest.raises(ValueError, match="different classes"):
        gen.flow(x, np.sort(y), subset="training")
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match="same length"):
        gen.flow(x, y[:3])


# --- flow_from_directory ----------------------------------------------------------------

@pytest.fixture
def image_folder(tmp_path):
    """cats/ holds 4 images of value 10*i, dogs/ 2 of value 200+i (6x8 pixels); and a
    stray text file that must be ignored."""
    root = tmp_path / "train"
    for name, values in (("cats", [0, 10, 20, 30]), ("dogs", [200, 201])):
        (root / name).mkdir(parents=True)
        for i, v in enumerate(values):
            save_img(str(root / name / ("%d.png" % i)), np.full((6, 8, 3), v, "float32"),
                     scale=False)
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def test_flow_from_directory_labels_and_resize(image_folder, capsys):
    it = ImageDataGenerator(rescale=0.5).flow_from_directory(
        str(image_folder), target_size=(3, 4), batch_size=6, shuffle=False)
    assert "Found 6 images belonging to 2 classes." in capsys.readouterr().out
    assert it.class_indices == {"cats": 0, "dogs": 1}
    np.testing.assert_array_equal(it.classes, [0, 0, 0, 0, 1, 1])
    assert it.filenames[0] == os.path.join("cats", "0.png")
    bx, by = it[0]
    assert bx.shape == (6, 3, 4, 3) and by.shape == (6, 2)
    np.testing.assert_array_equal(bx[:, 0, 0, 0], [0, 5, 10, 15, 100, 100.5])
    np.testing.assert_array_equal(by.argmax(1), [0, 0, 0, 0, 1, 1])


def test_flow_from_directory_modes_and_subset(image_folder):
    gen = ImageDataGenerator(validation_split=0.5)
    it = gen.flow_from_directory(str(image_folder), target_size=(6, 8), color_mode="grayscale",
                                 class_mode="binary", batch_size=8, shuffle=False,
                                 subset="validation")
    bx, by = it[0]
    assert bx.shape == (3, 6, 8, 1)
    np.testing.assert_array_equal(by, [0, 0, 1])
    np.testing.assert_array_equal(bx[:, 0, 0, 0], [0, 10, 200])
    sparse = gen.flow_from_directory(str(image_folder), target_size=(6, 8), class_mode=None,
                                     classes=["dogs"], batch_size=8, shuffle=False)
    assert sparse[0].shape == (2, 6, 8, 3)
    inputs = gen.flow_from_directory(str(image_folder), target_size=(2, 2), class_mode="input",
                                     batch_size=8)
    bx, by = inputs[0]
    np.testing.assert_array_equal(bx, by)
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(str(image_folder), class_mode="one-hot")
    with pytest.raises(ValueError, match="not a folder"):
        gen.flow_from_directory(str(image_folder / "missing"))


def test_channels_first_directory(image_folder):
    gen = ImageDataGenerator(data_format="channels_first", horizontal_flip=True)
    bx, _ = gen.flow_from_directory(str(image_folder), target_size=(6, 8), batch_size=2,
                                    seed=1)[0]
    assert bx.shape == (2, 3, 6, 8)


# --- training -------------------------------------------------------------------------

def test_fit_generator_with_workers_and_multiprocessing_flag():
    from gpuseq.layers import Dense, Flatten
    from gpuseq.models import Sequential
    from gpuseq.utils import Sequence, set_random_seed
    set_random_seed(0)
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 64)
    x = (rng.rand(64, 4, 4, 1) * 0.2 + y[:, None, None, None] * 0.8).astype("float32")
    gen = ImageDataGenerator(horizontal_flip=True, vertical_flip=True)
    flow = gen.flow(x, y, batch_size=16, seed=0)
    assert isinstance(flow, Sequence)
    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(1, activation="sigmoid")])
    from gpuseq.optimizers import Adam
    model.compile(Adam(lr=0.05), "binary_crossentropy", metrics=["accuracy"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit_generator(flow, steps_per_epoch=len(flow), epochs=15, verbose=0,
                                      workers=4, use_multiprocessing=True)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_public_names():
    for name in ["ImageDataGenerator", "NumpyArrayIterator", "DirectoryIterator", "Iterator",
                 "load_img", "img_to_array", "array_to_img", "save_img", "random_rotation",
                 "random_shift", "random_shear", "random_zoom", "random_channel_shift",
                 "apply_channel_shift", "random_brightness", "apply_brightness_shift",
                 "apply_affine_transform", "flip_axis"]:
        assert callable(getattr(image, name)), name
    assert K.image_data_format() == "channels_last"
