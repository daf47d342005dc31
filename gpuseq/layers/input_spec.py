"""`InputSpec`: what a layer accepts as input (rank, sizes of some axes, dtype), as custom
Keras 2 layers declare it with ``self.input_spec = InputSpec(ndim=3)``."""

__all__ = ["InputSpec"]


class InputSpec(object):
    """The rank, dtype and axis sizes a layer accepts.

    Args:
        dtype: expected dtype, or None.
        shape: expected shape (None entries match any size), or None; sets `ndim`.
        ndim: expected rank, or None.
        max_ndim, min_ndim: bounds of the rank, or None.
        axes: dict axis -> expected size (negative axes count from the end), or None.

    Example:
        >>> spec = InputSpec(ndim=3, axes={-1: 16})
        >>> spec.check((None, 10, 16), 'lstm_1')
        >>> spec.check((None, 16), 'lstm_1')
        Traceback (most recent call last):
        ...
        ValueError: Layer 'lstm_1' expects input of rank 3, but received input of shape (None, 16).
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None):
        self.dtype = dtype
        self.shape = tuple(shape) if shape is not None else None
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.axes = dict(axes or {})

    def __repr__(self):
        parts = ["%s=%r" % (key, value) for key, value in
                 (("dtype", self.dtype), ("shape", self.shape), ("ndim", self.ndim),
                  ("max_ndim", self.max_ndim), ("min_ndim", self.min_ndim),
                  ("axes", self.axes or None)) if value is not None]
        return "InputSpec(%s)" % ", ".join(parts)

    def _rank_problem(self, rank):
        if self.ndim is not None and rank != self.ndim:
            return "of rank %d" % self.ndim
        if self.max_ndim is not None and rank > self.max_ndim:
            return "of rank at most %d" % self.max_ndim
        if self.min_ndim is not None and rank < self.min_ndim:
            return "of rank at least %d" % self.min_ndim
        return None

    def _size_problem(self, shape):
        expected = dict(self.axes)
        if self.shape is not None:
            expected.update({i: size for i, size in enumerate(self.shape) if size is not None})
        for axis, size in sorted(expected.items()):
            actual = shape[axis] if -len(shape) <= axis < len(shape) else None
            if size is not None and actual is not None and actual != size:
                return "with axis %d of size %d" % (axis, size)
        return None

    def check(self, shape, layer_name="layer", dtype=None):
        """Raises ValueError when an input of `shape` (and `dtype`) does not match.

        Args:
            shape: the input shape (None entries are unknown sizes).
            layer_name: name used in the message.
            dtype: the input's dtype, checked when both it and `self.dtype` are given.
        """
        shape = tuple(shape)
        problem = self._rank_problem(len(shape)) or self._size_problem(shape)
        if problem is None and self.dtype is not None and dtype is not None \
                and str(dtype) != str(self.dtype):
            problem = "of dtype %s" % self.dtype
        if problem is not None:
            raise ValueError("Layer '%s' expects input %s, but received input of shape %s%s."
                             % (layer_name, problem, shape,
                                "" if dtype is None else " and dtype %s" % dtype))
