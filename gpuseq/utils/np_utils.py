"""NumPy helpers for preparing labels and inputs."""
import numpy as np

__all__ = ["to_categorical", "normalize"]


def _integer_labels(y):
    """Returns `y` as an int64 array, refusing values that are not whole numbers."""
    try:
        arr = np.asarray(y)
    except Exception as exc:  # ragged nested lists, unconvertible objects
        raise ValueError(
            "to_categorical could not read the labels as an array: %s. Expected an "
            "array-like of integer class indices. Pass a NumPy array of ints, for "
            "example np.array([0, 2, 1])." % (exc,))
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            bad = arr[~np.isfinite(arr)].ravel()[0]
            raise ValueError(
                "to_categorical received a label that is not a finite number; expected "
                "integer class indices. Remove or fill NaN/inf labels first. "
                "Received: y contains %r" % (float(bad),))
        rounded = np.round(arr)
        if not np.array_equal(rounded, arr):
            bad = arr[rounded != arr].ravel()[0]
            raise ValueError(
                "to_categorical received a non-integer label; expected integer class "
                "indices such as 0, 1, 2. If y holds probabilities or one-hot rows it "
                "is already categorical; otherwise convert it with y.astype(int). "
                "Received: y contains %r" % (float(bad),))
        return rounded.astype(np.int64)
    raise ValueError(
        "to_categorical expected integer class indices, but received an array of "
        "dtype %s. Map the labels to integers first (for example with "
        "np.unique(y, return_inverse=True)). Received: y.dtype=%s" % (arr.dtype, arr.dtype))


def to_categorical(y, num_classes=None, dtype="float32"):
    """Converts a vector of integer class indices to a one-hot matrix.

    An input of shape `(N,)` or `(N, 1)` becomes `(N, num_classes)`; any other
    shape keeps its axes (a trailing axis of size 1 is dropped) and gains a last axis
    of size `num_classes`.

    Args:
        y: Array-like of class indices from 0 to `num_classes - 1`. Floats are
            accepted when they are whole numbers (1.0), not otherwise (1.5).
        num_classes: Total number of classes. Defaults to `max(y) + 1`.
        dtype: Data type of the result, `'float32'` by default.

    Returns:
        A NumPy array of zeros and ones.

    Example:
        >>> to_categorical([0, 2, 1], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.],
               [0., 1., 0.]], dtype=float32)
    """
    labels = _integer_labels(y)
    input_shape = labels.shape
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = input_shape[:-1]
    labels = labels.ravel()

    if labels.size and labels.min() < 0:
        raise ValueError(
            "to_categorical received a negative label; expected class indices from "
            "0 to num_classes - 1. Shift the labels so the smallest class is 0. "
            "Received: y contains %d" % int(labels.min()))

    if num_classes is None:
        if labels.size == 0:
            raise ValueError(
                "to_categorical cannot infer the number of classes from an empty "
                "label array. Pass num_classes explicitly. Received: y with shape %s"
                % (np.shape(y),))
        num_classes = int(labels.max()) + 1
    else:
        if (isinstance(num_classes, (bool, np.bool_)) or
                not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
            raise ValueError(
                "Received an invalid value for `num_classes`: expected a positive "
                "integer. Received: num_classes=%r" % (num_classes,))
        num_classes = int(num_classes)
        if labels.size and labels.max() >= num_classes:
            raise ValueError(
                "to_categorical received label %d, but num_classes=%d allows labels "
                "0 to %d only. Increase num_classes or check the labels. Received: "
                "max(y)=%d, num_classes=%d" % (
                    int(labels.max()), num_classes, num_classes - 1,
                    int(labels.max()), num_classes))

    n = labels.shape[0]
    categorical = np.zeros((n, num_classes), dtype=dtype)
    categorical[np.arange(n), labels] = 1
    return categorical.reshape(tuple(input_shape) + (num_classes,))


def normalize(x, axis=-1, order=2):
    """Scales `x` so that each slice along `axis` has unit `order`-norm.

    Slices whose norm is 0 are left unchanged.

    Args:
        x: Array-like of numbers.
        axis: Axis along which to normalise.
        order: Norm order, as in `np.linalg.norm` (2 is the Euclidean norm).

    Returns:
        A NumPy array of the same shape as `x`.

    Example:
        >>> normalize([[3.0, 4.0], [0.0, 0.0]])
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    x = np.asarray(x)
    norms = np.atleast_1d(np.linalg.norm(x, order, axis))
    norms[norms == 0] = 1
    return x / np.expand_dims(norms, axis)
