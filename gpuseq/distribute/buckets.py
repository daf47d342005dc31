"""Flat buckets: many arrays reduced with few collective calls, in a fixed order.

The plan is pure bookkeeping (no communication, no device), shared by every
communicator: arrays are taken in the order given, grouped by dtype, and cut into
consecutive buckets of at most ``max_bytes`` (an array larger than that gets a bucket
of its own). Each bucket is one flat buffer; one allreduce per bucket sums it.

Example:
    >>> plan = BucketPlan([(3, 4), (5,)], ["float32", "float32"], max_bytes=1 << 26)
    >>> buffers = plan.pack([a, b], numpy)        # one float32 buffer of 17 values
    >>> a2, b2 = plan.unpack(buffers)             # views, shaped like a and b
"""
import numpy

DEFAULT_BUCKET_BYTES = 64 << 20


class Bucket:
    """One flat buffer: its dtype, and ``(array index, offset, size)`` of each member."""

    def __init__(self, dtype):
        self.dtype = numpy.dtype(dtype)
        self.members = []
        self.size = 0

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def add(self, index, size):
        self.members.append((index, self.size, size))
        self.size += size


class BucketPlan:
    """Where each of a list of arrays goes in a list of flat buffers.

    Args:
        shapes: the shape of each array, in the reduction order.
        dtypes: the dtype of each array (arrays of different dtypes never share a
            bucket).
        max_bytes: the largest bucket (default 64 MB); must be positive.
    """

    def __init__(self, shapes, dtypes, max_bytes=DEFAULT_BUCKET_BYTES):
        if not isinstance(max_bytes, (int, numpy.integer)) or isinstance(max_bytes, bool) \
                or max_bytes <= 0:
            raise ValueError(f"max_bytes must be a positive integer. Received: "
                             f"max_bytes={max_bytes!r}")
        if len(shapes) != len(dtypes):
            raise ValueError(f"BucketPlan needs one dtype per shape. Received: "
                             f"{len(shapes)} shapes and {len(dtypes)} dtypes")
        self.shapes = [tuple(int(d) for d in s) for s in shapes]
        self.dtypes = [numpy.dtype(d) for d in dtypes]
        self.max_bytes = int(max_bytes)
        self.buckets = self._plan()

    def _plan(self):
        buckets, open_by_dtype = [], {}
        for i, (shape, dtype) in enumerate(zip(self.shapes, self.dtypes)):
            size = int(numpy.prod(shape, dtype=numpy.int64))
            b = open_by_dtype.get(dtype)
            if b is None or (b.size and b.nbytes + size * dtype.itemsize > self.max_bytes):
                b = Bucket(dtype)
                buckets.append(b)
                open_by_dtype[dtype] = b
            b.add(i, size)
        return buckets

    def key(self):
        """What identifies the plan: the same shapes, dtypes and bound give the same key."""
        return (tuple(self.shapes), tuple(d.str for d in self.dtypes), self.max_bytes)

    def pack(self, arrays, xp, scale=None, out=None):
        """Flat buffers holding ``arrays`` (times ``scale`` when given).

        Args:
            arrays: the arrays of the plan, in its order (NumPy or CuPy).
            xp: the array module of the buffers (``numpy`` or ``cupy``).
            scale: None, or a number multiplying every value as it is packed.
            out: buffers of an earlier :meth:`pack` to reuse (same plan), or None.
        """
        if len(arrays) != len(self.shapes):
            raise ValueError(f"The plan holds {len(self.shapes)} arrays. Received: "
                             f"{len(arrays)} arrays")
        buffers = out if out is not None else [xp.empty(b.size, dtype=b.dtype)
                                               for b in self.buckets]
        for b, buf in zip(self.buckets, buffers):
            for i, off, size in b.members:
                a = arrays[i]
                if tuple(a.shape) != self.shapes[i]:
                    raise ValueError(f"Array {i} has shape {tuple(a.shape)}, but the plan "
                                     f"expects {self.shapes[i]}.")
                dst = buf[off:off + size]
                if scale is None:
                    dst[...] = a.reshape(-1)
                else:
                    xp.multiply(a.reshape(-1), scale, out=dst, casting="unsafe")
        return buffers

    def unpack(self, buffers):
        """Views into ``buffers``, one per array of the plan, shaped like it."""
        out = [None] * len(self.shapes)
        for b, buf in zip(self.buckets, buffers):
            for i, off, size in b.members:
                out[i] = buf[off:off + size].reshape(self.shapes[i])
        return out
