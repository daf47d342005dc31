"""``HDF5Matrix``: a dataset of an HDF5 file used in place of a NumPy array (Keras 2.2.4's
``keras.utils.io_utils.HDF5Matrix``).

Rows are read from the file when indexed, so a data set larger than memory can be
given to ``fit`` (with ``shuffle='batch'``, which keeps each batch's indices in
order, as h5py reads them fastest). ``np.asarray(matrix)`` reads every row.
"""
import h5py
import numpy as np

__all__ = ["HDF5Matrix"]


class HDF5Matrix:
    """Rows ``start`` to ``end`` of an HDF5 dataset, indexed like an array.

    Args:
        datapath: path of the HDF5 file (opened read-only, once per path).
        dataset: name of the dataset in the file, e.g. ``'x_train'``.
        start: first row (inclusive).
        end: last row (exclusive); None = the dataset's length.
        normalizer: a function applied to every block of rows read.

    Indexing: an int, a slice (with a step), a list or an integer array of row
    numbers counted from ``start``; indices past the rows raise ``IndexError``.

    Example:
        >>> x_train = HDF5Matrix('data.h5', 'x', start=0, end=1000)   # doctest: +SKIP
        >>> model.fit(x_train, y_train, shuffle='batch')              # doctest: +SKIP
    """

    refs = {}                       # datapath -> the open h5py.File shared by matrices

    def __init__(self, datapath, dataset, start=0, end=None, normalizer=None):
        f = self.refs.get(datapath)
        if f is None or not f.id.valid:
            f = self.refs[datapath] = h5py.File(datapath, "r")
        if dataset not in f:
            raise KeyError(f"The HDF5 file {datapath!r} has no dataset {dataset!r}; it holds "
                           f"{sorted(f.keys())}. Received: dataset={dataset!r}")
        self.data = f[dataset]
        total = self.data.shape[0]
        self.start = start
        self.end = total if end is None else end
        if not 0 <= self.start <= self.end <= total:
            raise ValueError(f"start and end must satisfy 0 <= start <= end <= {total} (the "
                             f"dataset's rows). Received: start={start}, end={end}")
        self.normalizer = normalizer

    def __len__(self):
        return self.end - self.start

    @property
    def shape(self):
        """``(rows, *the dataset's other dimensions)``."""
        return (self.end - self.start,) + tuple(self.data.shape[1:])

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(np.prod(self.shape))

    def _row(self, i):
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"Row {i} is out of range for an HDF5Matrix of {n} rows.")
        return self.start + (i % n)

    def _read(self, key):
        if isinstance(key, slice):
            first, stop, step = key.indices(len(self))
            if step < 0:
                rows = range(first, stop, step)
                return self._read_rows(np.asarray(list(rows), dtype=np.int64))
            return self.data[self.start + first:self.start + max(stop, first):step]
        if isinstance(key, (int, np.integer)):
            return self.data[self._row(int(key))]
        return self._read_rows(np.asarray(key))

    def _read_rows(self, rows):
        if rows.dtype.kind not in "iu" or rows.ndim != 1:
            raise TypeError("HDF5Matrix takes an int, a slice, or a 1-D list/array of ints. "
                            f"Received: a key of dtype {rows.dtype} and shape {rows.shape}")
        if rows.size == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)
        absolute = np.array([self._row(int(i)) for i in rows])
        unique, inverse = np.unique(absolute, return_inverse=True)  # h5py reads sorted rows
        return self.data[unique.tolist()][inverse]

    def __getitem__(self, key):
        block = self._read(key)
        return self.normalizer(block) if self.normalizer is not None else block

    def __array__(self, dtype=None, copy=None):
        block = self[:]
        return np.asarray(block, dtype=dtype)
