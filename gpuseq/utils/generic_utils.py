"""Small helpers shared by the training loop: the progress bar and list utilities.

The progress bar prints the same text as Keras 2.2.4, so training logs written with
gpuseq read exactly like the ones users already know::

    Epoch 1/10
    1000/1000 [==============================] - 0s 45us/step - loss: 0.6913 - acc: 0.5187
"""
import sys
import time

import numpy as np

from ..custom_objects import CustomObjectScope, custom_object_scope, get_custom_objects

__all__ = ["Progbar", "to_list", "unpack_singleton", "slice_arrays", "CustomObjectScope",
           "custom_object_scope", "get_custom_objects"]


def _stream_is_dynamic(stream):
    """True when `stream` can redraw a line in place (a terminal or a Jupyter kernel).

    Args:
        stream: A file-like object, usually `sys.stdout`.

    Example:
        >>> import io
        >>> _stream_is_dynamic(io.StringIO())  # doctest: +SKIP
        False
    """
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except (ValueError, OSError):  # a closed stream
        pass
    return "ipykernel" in sys.modules


def _format_eta(eta):
    """Seconds left as Keras writes them: `3s`, `1:02` or `1:00:05`."""
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


def _format_time_per_unit(time_per_unit):
    """Time per step as ` 2s/step`, ` 12ms/step` or ` 45us/step`."""
    if time_per_unit >= 1:
        return " %.0fs/step" % time_per_unit
    if time_per_unit >= 1e-3:
        return " %.0fms/step" % (time_per_unit * 1e3)
    return " %.0fus/step" % (time_per_unit * 1e6)


def _format_value(value):
    """A metric value as ` 0.6913`, or ` 1.2000e-04` when it is close to zero."""
    if abs(value) > 1e-3:
        return " %.4f" % value
    return " %.4e" % value


class Progbar(object):
    """A text progress bar that prints Keras 2.2.4's training lines.

    On a terminal (or in Jupyter) the line is redrawn in place; elsewhere (a log file, a
    pipe) every redraw starts a new line, and updates closer together than `interval`
    seconds are skipped, except the last one.

    Args:
        target: Total number of steps (or samples) expected, or None if unknown.
        width: Width of the bar in characters.
        verbose: 0 prints nothing, 1 prints the bar, 2 prints one summary line
            when `target` is reached.
        interval: Minimum number of seconds between two redraws.
        stateful_metrics: Names of metrics shown as the last value received
            instead of the running average (for example a metric that is
            already an average over the epoch).

    Example:
        >>> bar = Progbar(target=100)
        >>> for step in range(10):
        ...     bar.add(10, values=[("loss", 0.5)])  # doctest: +SKIP
        100/100 [==============================] - 0s 10us/step - loss: 0.5000
    """

    def __init__(self, target, width=30, verbose=1, interval=0.05,
                 stateful_metrics=None):
        if target is not None:
            try:
                target = int(target)
            except (TypeError, ValueError):
                raise ValueError(
                    "Progbar received an invalid `target`: expected a non-negative "
                    "integer or None (unknown length). Received: target=%r" % (target,))
            if target < 0:
                raise ValueError(
                    "Progbar received an invalid `target`: expected a non-negative "
                    "integer or None (unknown length). Received: target=%r" % (target,))
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()

        self._dynamic_display = _stream_is_dynamic(sys.stdout)
        self._total_width = 0
        self._seen_so_far = 0
        # name -> [weighted sum, weight]; insertion order is display order.
        self._values = {}
        self._start = time.time()
        self._last_update = 0

    def update(self, current, values=None):
        """Moves the bar to `current` and records metric values for the last step(s).

        Args:
            current: Index of the current step (or number of samples seen so far).
            values: List of `(name, value)` pairs. A value is weighted by the number
                of steps since the previous update and averaged, except for names
                in `stateful_metrics`, which are shown as received.

        Example:
            >>> bar = Progbar(target=4, verbose=0)
            >>> bar.update(2, [("loss", 1.0)])
            >>> bar.update(4, [("loss", 0.0)])
        """
        values = values or []
        steps = current - self._seen_so_far
        for name, value in values:
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            elif name in self._values:
                self._values[name][0] += value * steps
                self._values[name][1] += steps
            else:
                self._values[name] = [value * steps, steps]
        self._seen_so_far = current

        now = time.time()
        info = " - %.0fs" % (now - self._start)
        if self.verbose == 1:
            finished = self.target is not None and current >= self.target
            if (now - self._last_update < self.interval and
                    self.target is not None and not finished):
                return
            self._draw(current, now, info, finished)
        elif self.verbose == 2:
            if self.target is None or current >= self.target:
                for name in self._values:
                    info += " - %s:" % name + _format_value(self._average(name))
                info += "\n"
                sys.stdout.write(info)
                sys.stdout.flush()
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by `n` steps; see `update` for `values`.

        Args:
            n: Number of steps (or samples) just completed.
            values: List of `(name, value)` pairs for those steps.

        Example:
            >>> bar = Progbar(target=10, verbose=0)
            >>> bar.add(5, [("acc", 0.5)])
        """
        self.update(self._seen_so_far + n, values)

    def _average(self, name):
        total, count = self._values[name]
        return float(np.mean(total / max(1, count)))

    def _draw(self, current, now, info, finished):
        stream = sys.stdout
        prev_total_width = self._total_width
        if self._dynamic_display:
            stream.write("\b" * prev_total_width)
            stream.write("\r")
        else:
            stream.write("\n")

        if self.target is not None:
            numdigits = len(str(self.target))
            bar = "%*d/%d [" % (numdigits, current, self.target)
            progress = float(current) / self.target if self.target else 1.0
            prog_width = int(self.width * progress)
            if prog_width > 0:
                bar += "=" * (prog_width - 1)
                bar += ">" if current < self.target else "="
            bar += "." * (self.width - prog_width)
            bar += "]"
        else:
            bar = "%7d/Unknown" % current
        self._total_width = len(bar)
        stream.write(bar)

        time_per_unit = (now - self._start) / current if current else 0
        if self.target is not None and current < self.target:
            info = " - ETA: %s" % _format_eta(time_per_unit * (self.target - current))
        else:
            info += _format_time_per_unit(time_per_unit)

        for name in self._values:
            info += " - %s:" % name + _format_value(self._average(name))

        self._total_width += len(info)
        if prev_total_width > self._total_width:
            info += " " * (prev_total_width - self._total_width)
        if finished:
            info += "\n"
        stream.write(info)
        stream.flush()


def to_list(x, allow_tuple=False):
    """Wraps `x` in a list unless it already is one.

    Args:
        x: Any object.
        allow_tuple: If True a tuple becomes a list of its items; otherwise a tuple
            is a single item.

    Example:
        >>> to_list(3)
        [3]
        >>> to_list((1, 2), allow_tuple=True)
        [1, 2]
    """
    if isinstance(x, list):
        return x
    if allow_tuple and isinstance(x, tuple):
        return list(x)
    return [x]


def unpack_singleton(x):
    """Returns the only item of a one-item list or tuple, else `x` unchanged.

    Args:
        x: A list or tuple.

    Example:
        >>> unpack_singleton([5])
        5
        >>> unpack_singleton([1, 2])
        [1, 2]
    """
    if len(x) == 1:
        return x[0]
    return x


def slice_arrays(arrays, start=None, stop=None):
    """Slices an array, or each array of a list, by range or by index list.

    Args:
        arrays: An array, a list of arrays (items may be None), or None.
        start: Start index, or an array/list of indices (then `stop` must be None).
        stop: Stop index.

    Example:
        >>> import numpy as np
        >>> slice_arrays([np.arange(5), None], 1, 3)
        [array([1, 2]), None]
        >>> slice_arrays(np.arange(5), [4, 0])
        array([4, 0])
    """
    if arrays is None:
        return [None]
    if isinstance(start, list) and stop is not None:
        raise ValueError(
            "slice_arrays received a list of indices and a stop index; expected "
            "either indices alone or start/stop. Pass stop=None when start is a list. "
            "Received: stop=%r" % (stop,))
    if hasattr(start, "__len__"):
        if hasattr(start, "shape"):
            start = start.tolist() if hasattr(start, "tolist") else list(start)
        if isinstance(arrays, list):
            return [None if x is None else x[start] for x in arrays]
        return arrays[start]
    if isinstance(arrays, list):
        return [None if x is None else x[start:stop] for x in arrays]
    return arrays[start:stop]
