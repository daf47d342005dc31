"""The spellings under which Keras versions logged the same metric, and the containers
(log dicts, History, ``metrics_names``) that answer to every one of them.

A metric is logged under the name it was given in ``compile()`` (``'acc'`` stays
``'acc'``, ``'mae'`` stays ``'mae'``; the progress bar prints that name). Keras 2.2.4
logged ``metrics=['mae']`` as ``mean_absolute_error`` and ``['accuracy']`` as ``acc``;
Keras 2.3 and later keep the given name. So that programs written for any of them
run, reading a log key also tries the other spellings of the same metric, with the
``val_`` / ``weighted_`` prefixes and the ``_1`` suffix of a repeated name kept.

Example:
    >>> logs = MetricDict(mae=0.5, val_mae=0.7)
    >>> logs['mean_absolute_error'], logs.get('val_mean_absolute_error'), list(logs)
    (0.5, 0.7, ['mae', 'val_mae'])
    >>> 'val_MAE' in logs
    True
"""
import re

# One row per metric; the first spelling is the one Keras 2.2.4 logged.
SPELLINGS = (
    ("acc", "accuracy"),
    ("ce", "crossentropy"),
    ("mean_squared_error", "mse", "MSE"),
    ("mean_absolute_error", "mae", "MAE"),
    ("mean_absolute_percentage_error", "mape", "MAPE"),
    ("mean_squared_logarithmic_error", "msle", "MSLE"),
    ("kullback_leibler_divergence", "kld", "KLD", "kl_divergence"),
    ("cosine_proximity", "cosine"),
    ("logcosh", "log_cosh"),
)
ACCURACY = SPELLINGS[0]        # compile(metrics=[...]) resolves these by the loss
CROSSENTROPY = SPELLINGS[1]

_ROW = {name: row for row in SPELLINGS for name in row}
_PREFIX = re.compile(r"^((?:val_)?(?:weighted_)?)(.*)$")
_SUFFIX = re.compile(r"^(.*?)(_\d+)$")


def _split(key):
    """``'val_weighted_mae_1'`` -> ``('val_weighted_', 'mae', '_1')``; base None when
    the key names no metric of :data:`SPELLINGS`."""
    prefix, base = _PREFIX.match(key).groups()
    if base in _ROW:
        return prefix, base, ""
    m = _SUFFIX.match(base)
    if m and m.group(1) in _ROW:
        return prefix, m.group(1), m.group(2)
    return prefix, None, ""


def spellings(key):
    """Every log key naming the same metric as ``key``, ``key`` first.

    Example:
        >>> spellings('val_acc')
        ('val_acc', 'val_accuracy')
    """
    if not isinstance(key, str):
        return (key,)
    prefix, base, suffix = _split(key)
    if base is None:
        return (key,)
    return (key,) + tuple(prefix + s + suffix for s in _ROW[base] if s != base)


def keras2_name(key):
    """The spelling Keras 2.2.4 logged for ``key`` (``'val_mae'`` ->
    ``'val_mean_absolute_error'``); other keys unchanged."""
    if not isinstance(key, str):
        return key
    prefix, base, suffix = _split(key)
    return key if base is None else prefix + _ROW[base][0] + suffix


def find_key(mapping, key):
    """The key under which the dict ``mapping`` holds the metric ``key`` names
    (under any spelling), or None."""
    for k in spellings(key):
        if dict.__contains__(mapping, k):
            return k
    return None


class MetricDict(dict):
    """A dict of log values whose reads accept every spelling of a metric.

    Keys are stored as logged; ``d[k]``, ``k in d`` and ``d.get(k)`` also accept
    the other spellings (``d['accuracy']`` finds ``'acc'``). Iteration, ``keys()``
    and ``repr`` show the stored keys only; writes store the key as given.
    """

    def __missing__(self, key):
        found = find_key(self, key)
        if found is None:
            raise KeyError(key)
        return dict.__getitem__(self, found)

    def __contains__(self, key):
        return find_key(self, key) is not None

    def get(self, key, default=None):
        """``self[key]`` under any spelling if present, else ``default``."""
        found = find_key(self, key)
        return default if found is None else dict.__getitem__(self, found)


class MetricNames(list):
    """``model.metrics_names``: a list of the logged names whose ``in`` and
    ``index`` accept every spelling (``'mean_absolute_error' in names`` when the
    model was compiled with ``'mae'``). Equality and iteration are a list's."""

    def __contains__(self, name):
        return any(list.__contains__(self, k) for k in spellings(name))

    def index(self, name, *args):
        for k in spellings(name):
            if list.__contains__(self, k):
                return list.index(self, k, *args)
        return list.index(self, name, *args)      # raises the usual ValueError
