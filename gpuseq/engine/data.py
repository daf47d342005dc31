"""Checking and preparing user data for fit / evaluate / predict.

Everything here runs on the host before any training step, so a bad input is
reported with a clear message and nothing in the model changes.
"""
import math
import warnings

import numpy

from ..backend import dispatch
from ..legacy import user_stacklevel


def to_list(x):
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def as_host_array(x, what, layer_desc=""):
    """Convert user data to a NumPy array; refuse non-numeric data with a clear error."""
    if type(x).__module__.startswith("cupy"):
        return x  # already on the device: keep it there
    try:
        a = numpy.asarray(x)
    except Exception as e:  # ragged lists etc.
        raise ValueError(f"Could not convert {what} to an array ({e}). Expected a NumPy array "
                         f"or a nested list of numbers of equal lengths.") from None
    if a.dtype == object or a.dtype.kind in "USV":
        raise ValueError(
            f"{what} must hold numbers, but has dtype {a.dtype} (e.g. strings or ragged lists). "
            "Convert it to a numeric NumPy array first, e.g. numpy.asarray(x, dtype='float32').")
    if a.dtype.kind == "b":
        a = a.astype("float32")
    return a


def warn_non_finite(a, what):
    """Warn (at the user's line) when the float array ``a`` holds NaN or inf.

    One reduction over the data: the sum is finite when every element is (a float32
    sum that overflows on large finite values is then confirmed element-wise); which
    kind was found is looked up only then. Arrays given to fit / evaluate / predict are
    checked once per call, before any step; a generator's batches one by one, and the
    message names no count so that Python's default filter shows it once per line.

    Args:
        a: the data, on the host or the device.
        what: how the message names it (``'Input data'``, ``'sample_weight'``, ...).
    """
    if a.dtype.kind != "f" or not a.size:
        return
    xp = dispatch.get_array_module(a)
    with numpy.errstate(over="ignore", invalid="ignore"):       # inf + -inf, overflow
        total = a.sum()
    if bool(xp.isfinite(total)) or bool(xp.isfinite(a).all()):
        return
    kinds = " and ".join(word for word, test in (("NaN", xp.isnan), ("inf", xp.isinf))
                         if bool(test(a).any()))
    warnings.warn(f"{what} contains {kinds} values (not finite); the loss and then the "
                  "weights will become NaN or inf. Clean or impute the data first, e.g. with "
                  "numpy.nan_to_num.", RuntimeWarning, stacklevel=user_stacklevel())


def check_input_arrays(xs, expected_shapes, layer_names):
    """Validate the list of input arrays against the model's input shapes (with batch)."""
    if len(xs) != len(expected_shapes):
        raise ValueError(
            f"The model expects {len(expected_shapes)} input array(s), but received "
            f"{len(xs)}. Pass a list with one array per input"
            + (" (one per Merge branch)." if len(expected_shapes) > 1 else "."))
    out = []
    for i, (x, shp, lname) in enumerate(zip(xs, expected_shapes, layer_names)):
        what = "Input data" if len(xs) == 1 else f"Input array {i}"
        a = as_host_array(x, what)
        if a.ndim == 0:
            raise ValueError(f"{what} is a scalar; expected an array of shape "
                             f"{_fmt(shp)} (a batch of samples).")
        read_as = ""
        if a.ndim == 1 and (shp is None or len(shp) == 2):
            # as Keras 2: one feature per sample, e.g. fit(x, 2 * x) with input_dim=1
            read_as = (f" (1-D input data of shape {tuple(a.shape)} is read as "
                       f"{(a.shape[0], 1)}, one feature per sample)")
            a = a.reshape(-1, 1)
        if shp is not None:
            if a.ndim != len(shp):
                hint = ""
                if a.ndim == len(shp) + 1 and len(shp) == 2:
                    hint = " Add Flatten() before the Dense layer, or reshape the data."
                elif a.ndim + 1 == len(shp) and len(shp) >= 2:
                    hint = " The data may lack the batch axis or a feature axis."
                raise ValueError(
                    f"Layer '{lname}' expected input with {len(shp)} dimensions (shape "
                    f"{_fmt(shp)}), but received input of shape {tuple(a.shape)}.{hint}")
            for d_exp, d_got in zip(shp[1:], a.shape[1:]):
                if d_exp is not None and d_exp != d_got:
                    raise ValueError(
                        f"Layer '{lname}' expected input of shape {_fmt(shp)}, but received "
                        f"input of shape {tuple(a.shape)}{read_as}. Fix the data or the first "
                        "layer's "
                        f"input_shape (input_shape={tuple(a.shape[1:])} would match).")
        if a.dtype.kind in "fc" and a.dtype != numpy.float32 and a.dtype != numpy.float64:
            a = a.astype("float32")
        warn_non_finite(a, what)
        out.append(a)
    n = {int(a.shape[0]) for a in out}
    if len(n) > 1:
        raise ValueError(f"All input arrays must have the same number of samples. Received "
                         f"sample counts {[int(a.shape[0]) for a in out]}.")
    return out


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def check_targets(y, output_shape, loss_name, n_samples, last_layer):
    """Validate y against the model output; returns a host array."""
    a = as_host_array(y, "Target data (y)")
    if a.ndim == 0:
        raise ValueError("Target data (y) is a scalar; expected one target per sample.")
    if a.shape[0] != n_samples:
        raise ValueError(
            f"Input arrays should have the same number of samples as target arrays. Found "
            f"{n_samples} input samples and {a.shape[0]} target samples.")
    sparse = loss_name == "sparse_categorical_crossentropy"
    if output_shape is not None:
        if sparse:
            ok = a.ndim in (len(output_shape) - 1, len(output_shape)) and (
                a.ndim == len(output_shape) - 1 or a.shape[-1] == 1)
            if not ok:
                raise ValueError(
                    f"sparse_categorical_crossentropy expects integer class labels of shape "
                    f"{_fmt(output_shape[:-1])} or {_fmt(output_shape[:-1] + (1,))}, but "
                    f"received targets of shape {tuple(a.shape)}. For one-hot targets use "
                    "loss='categorical_crossentropy'.")
            classes = output_shape[-1]
            if a.dtype.kind == "f":
                if not numpy.all(numpy.equal(numpy.mod(a, 1), 0)):
                    raise ValueError("sparse_categorical_crossentropy expects integer class "
                                     "labels, but the targets hold non-integer values.")
            lab = a.astype("int64")
            if lab.size and (lab.min() < 0 or (classes is not None and lab.max() >= classes)):
                raise ValueError(
                    f"Labels out of range for sparse_categorical_crossentropy: the model has "
                    f"{classes} output classes (valid labels 0..{classes - 1}), but the "
                    f"targets range over {int(lab.min())}..{int(lab.max())}. Give the last "
                    f"layer as many units as classes.")
            return lab
        if a.ndim == 1 and len(output_shape) == 2:
            a = a.reshape(-1, 1)
        if a.ndim != len(output_shape):
            raise ValueError(
                f"Error when checking target: expected '{last_layer}' to have "
                f"{len(output_shape)} dimensions (shape {_fmt(output_shape)}), but got an "
                f"array with shape {tuple(a.shape)}.")
        for d_exp, d_got in zip(output_shape[1:], a.shape[1:]):
            if d_exp is not None and d_exp != d_got:
                hint = ""
                if loss_name == "categorical_crossentropy" and a.shape[-1] == 1:
                    hint = (" You are passing integer labels with categorical_crossentropy: "
                            "convert them with gpuseq.utils.to_categorical(y), or use "
                            "loss='sparse_categorical_crossentropy'.")
                raise ValueError(
                    f"Error when checking target: expected '{last_layer}' to have shape "
                    f"{_fmt(output_shape)}, but got an array with shape {tuple(a.shape)}."
                    + hint)
    if a.dtype.kind in "iub":
        a = a.astype("float32")
    elif a.dtype.kind == "f" and a.dtype not in (numpy.float32, numpy.float64):
        a = a.astype("float32")
    warn_non_finite(a, "Target data (y)")
    return a


def standardize_weights(y, sample_weight, class_weight, sample_weight_mode, n):
    """Per-sample (or per-timestep) weights as a float32 array, or None."""
    if sample_weight is not None:
        sw = numpy.asarray(sample_weight, dtype="float32")
        if sample_weight_mode == "temporal":
            if sw.ndim != 2:
                raise ValueError("With sample_weight_mode='temporal', sample_weight must be 2-D "
                                 f"(samples, timesteps). Received shape {sw.shape}.")
        elif sw.ndim != 1:
            raise ValueError(
                f"sample_weight must be 1-D with one weight per sample; received shape "
                f"{sw.shape}. For per-timestep weights compile with "
                "sample_weight_mode='temporal'.")
        if sw.shape[0] != n:
            raise ValueError(f"sample_weight has {sw.shape[0]} entries but there are {n} "
                             "samples; pass one weight per sample.")
        if (sw < 0).any():
            raise ValueError("sample_weight values must be >= 0.")
        warn_non_finite(sw, "sample_weight")
        return sw
    if class_weight is not None:
        check_class_weight(class_weight)
        yh = dispatch.to_host(y)
        if yh.ndim >= 2 and yh.shape[-1] > 1:
            classes = yh.argmax(axis=-1)
        else:
            classes = numpy.round(yh.reshape(yh.shape[0], -1)[:, 0]).astype("int64")
        missing = set(numpy.unique(classes).tolist()) - set(class_weight)
        if missing:
            raise ValueError(f"class_weight has no entry for class(es) {sorted(missing)} found "
                             f"in the targets. Give every class a weight. Received keys "
                             f"{sorted(class_weight)}.")
        return numpy.asarray([class_weight[int(c)] for c in classes], dtype="float32")
    return None


def check_class_weight(class_weight):
    """Refuse a ``class_weight`` that is not a dict of finite numbers >= 0."""
    if not isinstance(class_weight, dict):
        raise ValueError("class_weight must be a dict mapping class indices to weights, e.g. "
                         f"{{0: 1.0, 1: 5.0}}. Received: class_weight={class_weight!r}")
    for cls, w in class_weight.items():
        v = None if isinstance(w, (str, bytes)) else numpy.asarray(w)
        if v is None or v.ndim != 0 or v.dtype.kind not in "biuf":
            raise ValueError(f"class_weight values must be numbers (the loss weight of each "
                             f"class), but class {cls!r} has {w!r} "
                             f"({type(w).__name__}). Pass e.g. {{0: 1.0, 1: 5.0}}. "
                             f"Received: class_weight={class_weight!r}")
        if not math.isfinite(float(v)) or float(v) < 0:
            raise ValueError(f"class_weight values must be finite numbers >= 0, but class "
                             f"{cls!r} has {w!r}. Received: class_weight={class_weight!r}")


def batch_indices(n, batch_size, shuffle, rng):
    """The batches of one epoch as index arrays (Keras semantics of ``shuffle``)."""
    idx = numpy.arange(n)
    if shuffle == "batch":
        nb = n // batch_size
        head = idx[: nb * batch_size].reshape(nb, batch_size)
        rng.shuffle(head)
        idx = numpy.concatenate([head.reshape(-1), idx[nb * batch_size:]])
    elif shuffle:
        rng.shuffle(idx)
    return [idx[i:i + batch_size] for i in range(0, n, batch_size)]


def split_validation(arrays, validation_split):
    """Split the LAST fraction off every array (before any shuffling), as Keras."""
    if not (0.0 < validation_split < 1.0):
        raise ValueError(f"validation_split must be in [0, 1). Received: "
                         f"validation_split={validation_split!r}")
    n = int(arrays[0].shape[0])
    at = int(n * (1.0 - validation_split))
    if at == 0 or at == n:
        raise ValueError(f"validation_split={validation_split} leaves no data on one side of "
                         f"the split for {n} samples. Use more data or another fraction.")
    return ([None if a is None else a[:at] for a in arrays],
            [None if a is None else a[at:] for a in arrays])


class DeviceData:
    """Holds one array for batching; the whole array moves to the device once when
    the active backend is a GPU and the array is small enough, otherwise one
    batch moves per step."""

    _WHOLE_LIMIT = 512 * 2 ** 20  # bytes

    def __init__(self, a):
        self.host = a
        self.dev = None
        if a is not None and dispatch.is_gpu() and not type(a).__module__.startswith("cupy") \
                and a.nbytes <= self._WHOLE_LIMIT:
            self.dev = dispatch.to_device(a)
        elif a is not None and type(a).__module__.startswith("cupy"):
            self.dev = a

    def take(self, idx):
        if self.host is None:
            return None
        if self.dev is not None:
            return self.dev[_device_index(idx)]
        return dispatch.to_device(self.host[idx])


_index_cache = {}


def _device_index(idx):
    """``idx`` (a slice, or a 1-D integer array, usually a view of one epoch's batch
    order) in the form that indexes a device array cheapest.

    A contiguous run of indices becomes a slice (no copy, no gather). A view into a
    larger 1-D order array is cut from a device copy of that whole array, uploaded once
    per epoch: a host-to-device copy from pageable memory waits for the queued device
    work, so one per batch (and per input) would stall the pipeline every step.
    """
    if isinstance(idx, slice) or not isinstance(idx, numpy.ndarray) or idx.ndim != 1:
        return idx if isinstance(idx, slice) else dispatch.to_device(idx)
    n = idx.shape[0]
    if n and int(idx[-1]) - int(idx[0]) == n - 1 and int(idx[0]) >= 0 and \
            (n < 3 or bool((numpy.diff(idx) == 1).all())):
        return slice(int(idx[0]), int(idx[0]) + n)
    base = idx.base
    if (isinstance(base, numpy.ndarray) and base.ndim == 1 and base.dtype == idx.dtype
            and idx.strides == base.strides):
        xp = dispatch.xp()
        key = (dispatch.backend(), xp.cuda.runtime.getDevice() if dispatch.is_gpu() else 0)
        cached = _index_cache.get(key)
        if cached is None or cached[0] is not base:
            cached = _index_cache[key] = (base, dispatch.to_device(base))
        offset = (idx.ctypes.data - base.ctypes.data) // idx.itemsize
        return cached[1][offset:offset + n]
    return dispatch.to_device(idx)
