"""How a batch's indices reach the device: slices for runs, one upload per epoch order."""
import numpy as np

from gpuseq.engine import data as data_mod


def test_contiguous_batches_become_slices():
    order = np.arange(10)
    got = [data_mod._device_index(b) for b in data_mod.batch_indices(10, 4, False, None)]
    assert got == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert data_mod._device_index(np.array([5])) == slice(5, 6)
    assert data_mod._device_index(slice(2, 3)) == slice(2, 3)
    # a run that is not ascending by one is not a slice
    assert not isinstance(data_mod._device_index(np.array([0, 2, 1, 3])), slice)
    assert not isinstance(data_mod._device_index(order[::-1][6:]), slice)


def test_shuffled_batches_are_cut_from_one_uploaded_order():
    rng = np.random.default_rng(0)
    batches = data_mod.batch_indices(50, 16, True, rng)
    got = [data_mod._device_index(b) for b in batches]
    for b, g in zip(batches, got):
        np.testing.assert_array_equal(np.asarray(g), b)
    # every batch is a view of the same device copy of the epoch's order
    assert got[0].base is not None and all(g.base is got[0].base for g in got[1:])
    # a new epoch (a new order array) is uploaded afresh
    nxt = data_mod.batch_indices(50, 16, True, rng)
    g2 = data_mod._device_index(nxt[0])
    np.testing.assert_array_equal(np.asarray(g2), nxt[0])
    assert g2.base is not got[0].base


def test_batches_taken_through_device_index_hold_the_right_rows():
    x = np.arange(30, dtype=np.float32).reshape(15, 2)
    d = data_mod.DeviceData(x)
    d.dev = x            # what a GPU run holds: the whole array on the device
    rng = np.random.default_rng(1)
    for shuffle in (False, True, "batch"):
        for b in data_mod.batch_indices(15, 4, shuffle, rng):
            np.testing.assert_array_equal(np.asarray(d.take(b)), x[b])
