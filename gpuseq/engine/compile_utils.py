"""Resolution of compile() arguments: the loss, the metrics and their names."""
from .. import losses as losses_mod
from .. import metrics as metrics_mod

ACCURACY_NAMES = ("accuracy", "acc")
CROSSENTROPY_NAMES = ("crossentropy", "ce")


def _single(value, what):
    """A single-output Sequential takes one loss; accept [loss] and {'name': loss} too."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"A Sequential model has one output, so `{what}` must hold one "
                             f"entry. Received {len(value)}: {value!r}")
        return value[0]
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"A Sequential model has one output, so `{what}` must hold one "
                             f"entry. Received: {value!r}")
        return next(iter(value.values()))
    return value


def resolve_loss(loss):
    """-> (function, canonical name or None)."""
    if loss is None:
        raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'.")
    loss = _single(loss, "loss")
    fn = losses_mod.get(loss)
    name = getattr(fn, "__name__", None)
    return fn, name


def resolve_loss_weight(loss_weights):
    if loss_weights is None:
        return 1.0
    w = _single(loss_weights, "loss_weights")
    try:
        return float(w)
    except (TypeError, ValueError):
        raise ValueError(f"loss_weights must be a number (or a list/dict of one). "
                         f"Received: loss_weights={loss_weights!r}") from None


class MetricSpec:
    """One entry of compile(metrics=...): its display name and function."""

    def __init__(self, name, fn, weighted=False):
        self.name = name
        self.fn = fn
        self.weighted = weighted
        self.returns_dict = None  # learnt on the first call for user callables

    def __repr__(self):
        return f"MetricSpec({self.name!r})"


def resolve_metrics(metrics, loss_name, output_shape, weighted=False):
    """-> list of MetricSpec; names are what the user wrote (``'acc'`` stays ``'acc'``)."""
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        metrics = _single(metrics, "metrics")
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    specs = []
    prefix = "weighted_" if weighted else ""
    for m in metrics:
        if isinstance(m, str) and m in ACCURACY_NAMES:
            fn = metrics_mod.resolve_accuracy(loss_name, output_shape)
            specs.append(MetricSpec(prefix + m, fn, weighted))
        elif isinstance(m, str) and m in CROSSENTROPY_NAMES:
            fn = _crossentropy_for(loss_name, output_shape)
            specs.append(MetricSpec(prefix + m, fn, weighted))
        elif isinstance(m, str):
            fn = metrics_mod.get(m)
            specs.append(MetricSpec(prefix + m, fn, weighted))
        elif callable(m):
            name = getattr(m, "__name__", None) or type(m).__name__
            specs.append(MetricSpec(prefix + name, m, weighted))
        else:
            raise ValueError(f"Unknown metric. Expected a name such as 'accuracy' or a "
                             f"callable(y_true, y_pred). Received: metric={m!r}")
    return specs


def _crossentropy_for(loss_name, output_shape):
    if loss_name == "sparse_categorical_crossentropy":
        return losses_mod.sparse_categorical_crossentropy
    if (output_shape and output_shape[-1] == 1) or loss_name == "binary_crossentropy":
        return losses_mod.binary_crossentropy
    return losses_mod.categorical_crossentropy
