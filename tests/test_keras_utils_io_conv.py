"""gpuseq.utils.HDF5Matrix (rows of an HDF5 dataset indexed like an array, as Keras
2.2.4's) and gpuseq.utils.conv_utils (Keras 2.2.4's convolution arithmetic)."""
import h5py
import numpy as np
import pytest

from gpuseq.layers import Dense
from gpuseq.models import Sequential
from gpuseq.utils import HDF5Matrix, conv_utils, set_random_seed


@pytest.fixture
def h5_path(tmp_path):
    path = str(tmp_path / "data.h5")
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(40, dtype="float32").reshape(10, 4)
        f["y"] = np.arange(10, dtype="float32").reshape(10, 1)
    yield path
    for f in HDF5Matrix.refs.values():
        f.close()
    HDF5Matrix.refs.clear()


def test_hdf5_matrix_indexing_matches_numpy(h5_path):
    full = np.arange(40, dtype="float32").reshape(10, 4)
    m = HDF5Matrix(h5_path, "x", start=2, end=8)
    rows = full[2:8]
    assert len(m) == 6 and m.shape == (6, 4) and m.ndim == 2 and m.size == 24
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m[0], rows[0])
    np.testing.assert_array_equal(m[-1], rows[-1])
    np.testing.assert_array_equal(m[1:4], rows[1:4])
    np.testing.assert_array_equal(m[:], rows)
    np.testing.assert_array_equal(m[::2], rows[::2])
    np.testing.assert_array_equal(m[::-2], rows[::-2])
    np.testing.assert_array_equal(m[[4, 0, 4]], rows[[4, 0, 4]])
    np.testing.assert_array_equal(m[np.array([5, 1])], rows[[5, 1]])
    np.testing.assert_array_equal(np.asarray(m), rows)
    for bad in (6, -7, [0, 6]):
        with pytest.raises(IndexError, match="out of range"):
            m[bad]


def test_hdf5_matrix_normalizer_shared_file_and_errors(h5_path):
    m = HDF5Matrix(h5_path, "x", normalizer=lambda a: a / 10.0)
    np.testing.assert_allclose(m[1], [0.4, 0.5, 0.6, 0.7])
    assert HDF5Matrix(h5_path, "y").data.file == m.data.file        # one open file per path
    with pytest.raises(KeyError, match="no dataset 'z'"):
        HDF5Matrix(h5_path, "z")
    with pytest.raises(ValueError, match="start=4, end=2"):
        HDF5Matrix(h5_path, "x", start=4, end=2)


def test_fit_reads_an_hdf5_matrix(numpy_backend, h5_path):
    set_random_seed(0)
    x, y = HDF5Matrix(h5_path, "x"), HDF5Matrix(h5_path, "y")
    model = Sequential([Dense(1, input_dim=4)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, batch_size=5, shuffle="batch", verbose=0)
    np.testing.assert_allclose(model.predict(x), model.predict(np.asarray(x)), rtol=1e-6)


@pytest.mark.parametrize("args, expected", [
    ((28, 3, "valid", 1), 26), ((28, 3, "valid", 2), 13), ((28, 3, "same", 2), 14),
    ((10, 3, "full", 1), 12), ((10, 3, "causal", 3), 4), ((10, 3, "valid", 1, 2), 6),
    ((None, 3, "same", 1), None),
])
def test_conv_output_length(args, expected):
    assert conv_utils.conv_output_length(*args) == expected


def test_conv_input_and_deconv_lengths_invert_the_output_length():
    for padding in ("valid", "same", "full"):
        for n in range(4, 12):
            out = conv_utils.conv_output_length(n, 3, padding, 1)
            assert conv_utils.conv_input_length(out, 3, padding, 1) == n
    assert conv_utils.deconv_length(13, 2, 3, "valid") == 27
    assert conv_utils.deconv_length(14, 2, 3, "same") == 28
    assert conv_utils.deconv_length(12, 1, 3, "full") == 10
    assert conv_utils.deconv_length(13, 2, 3, "valid", output_padding=1) == 28
    assert conv_utils.deconv_length(None, 2, 3, "same") is None


def test_normalizers_and_convert_kernel():
    assert conv_utils.normalize_tuple(2, 3, "strides") == (2, 2, 2)
    assert conv_utils.normalize_tuple([1, np.int64(2)], 2, "pool_size") == (1, 2)
    with pytest.raises(ValueError, match="Received: kernel_size=\\(1, 2, 3\\)"):
        conv_utils.normalize_tuple((1, 2, 3), 2, "kernel_size")
    assert conv_utils.normalize_padding("SAME") == "same"
    with pytest.raises(ValueError, match="padding="):
        conv_utils.normalize_padding("full")
    assert conv_utils.normalize_data_format(None) == "channels_last"
    assert conv_utils.normalize_data_format("Channels_First") == "channels_first"
    k = np.arange(2 * 3 * 1 * 2).reshape(2, 3, 1, 2)
    flipped = conv_utils.convert_kernel(k)
    np.testing.assert_array_equal(flipped, k[::-1, ::-1, :, :])
    np.testing.assert_array_equal(conv_utils.convert_kernel(flipped), k)
    with pytest.raises(ValueError, match="rank 3, 4 or 5"):
        conv_utils.convert_kernel(np.zeros((2, 2)))
