"""Resolution of compile() arguments: the loss, its weight, the metrics and their names.

A Sequential model has one output, named after its last layer. Every per-output
argument is accepted in the forms Keras takes: a single value, a list of one
value, or a dict ``{output_name: value}`` (a dict key that is not the output's
name is an error that lists the valid name).
"""
from .. import losses as losses_mod
from .. import metric_names
from .. import metrics as metrics_mod

ACCURACY_NAMES = metric_names.ACCURACY
CROSSENTROPY_NAMES = metric_names.CROSSENTROPY


def _single(value, what, output_name=None):
    """The one entry of ``value`` for the model's single output.

    Accepts ``x``, ``[x]``, ``(x,)`` and ``{output_name: x}``.
    """
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"A Sequential model has one output, so `{what}` must hold one "
                             f"entry when given as a list. Received {len(value)}: "
                             f"{what}={value!r}")
        return value[0]
    if isinstance(value, dict):
        if output_name is not None:
            unknown = [k for k in value if k != output_name]
            if unknown:
                raise ValueError(f"Unknown entry in `{what}` dictionary: {unknown[0]!r}. The "
                                 f"model's only output is named {output_name!r}; use "
                                 f"{what}={{{output_name!r}: ...}}. Received: {what}={value!r}")
            if output_name not in value:
                raise ValueError(f"`{what}` dictionary has no entry for the output "
                                 f"{output_name!r}. Received: {what}={value!r}")
            return value[output_name]
        if len(value) != 1:
            raise ValueError(f"A Sequential model has one output, so `{what}` must hold one "
                             f"entry. Received: {what}={value!r}")
        return next(iter(value.values()))
    return value


def resolve_loss(loss, output_name=None):
    """-> (function, canonical Keras name of a built-in loss, or None for a custom one).

    The canonical name is what selects the fused softmax + cross-entropy path and the
    sparse-label checks, so a user function is never replaced by a built-in.
    """
    if loss is None:
        raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'. "
                         "Received: loss=None")
    loss = _single(loss, "loss", output_name)
    fn = losses_mod.get(loss)
    return fn, losses_mod.canonical_name(fn)


def resolve_loss_weight(loss_weights, output_name=None):
    """The scalar multiplying the loss (``loss_weights`` given as x, [x] or {name: x})."""
    if loss_weights is None:
        return 1.0
    w = _single(loss_weights, "loss_weights", output_name)
    try:
        w = float(w)
    except (TypeError, ValueError):
        raise ValueError(f"loss_weights must be a number (or a list/dict of one). "
                         f"Received: loss_weights={loss_weights!r}") from None
    if w != w:
        raise ValueError(f"loss_weights must be a number, not NaN. "
                         f"Received: loss_weights={loss_weights!r}")
    return w


def resolve_sample_weight_mode(mode, output_name=None):
    """None or 'temporal' (given as x, [x] or {name: x})."""
    if mode is None or mode == "temporal":
        return mode
    mode = _single(mode, "sample_weight_mode", output_name)
    if mode not in (None, "temporal"):
        raise ValueError("sample_weight_mode must be None (one weight per sample) or "
                         "'temporal' (one weight per sample and time step). "
                         f"Received: sample_weight_mode={mode!r}")
    return mode


class MetricSpec:
    """One entry of ``compile(metrics=...)`` or ``weighted_metrics``.

    Attributes:
        name: the name in logs and History (what the user wrote, ``'weighted_'``
            prefixed for weighted metrics).
        fn: the metric function; None until resolved for 'accuracy'/'crossentropy'
            when the output shape was unknown at compile time.
        kind: 'function', 'accuracy' or 'crossentropy'.
        weighted: whether sample/class weights weight the batch average.
        returns_dict: None until known; True when ``fn`` returns ``{name: value}``.
        dict_names: the log names of a dict metric's entries.
    """

    def __init__(self, name, fn, weighted=False, kind="function"):
        self.name = name
        self.fn = fn
        self.kind = kind
        self.weighted = weighted
        self.returns_dict = None
        self.dict_names = []

    @property
    def prefix(self):
        return "weighted_" if self.weighted else ""

    def resolve(self, loss_fn, output_shape):
        """The metric function, resolving 'accuracy'/'crossentropy' on first use."""
        if self.fn is None:
            if self.kind == "accuracy":
                self.fn = metrics_mod.resolve_accuracy(loss_fn, output_shape)
            else:
                self.fn = metrics_mod.resolve_crossentropy(loss_fn, output_shape)
        return self.fn

    def set_dict_keys(self, keys):
        """Record the keys of a dict-valued metric; True when they changed."""
        names = [self.prefix + str(k) for k in keys]
        changed = self.returns_dict is not True or names != self.dict_names
        self.returns_dict, self.dict_names = True, names
        return changed

    def __repr__(self):
        return f"MetricSpec({self.name!r})"


def resolve_metrics(metrics, loss_fn, output_shape, weighted=False, output_name=None):
    """-> list of MetricSpec; names are what the user wrote (``'acc'`` stays ``'acc'``).

    Args:
        metrics: None, a name/callable, a list of them, or ``{output_name: list}``.
        loss_fn: the compiled loss function (selects the accuracy variant).
        output_shape: the model's output shape, or None when not built yet
            (accuracy is then resolved on first use).
        weighted: True for ``weighted_metrics``.
    """
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        metrics = _single(metrics, "weighted_metrics" if weighted else "metrics", output_name)
    if metrics is None:
        return []
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    specs = []
    prefix = "weighted_" if weighted else ""
    for m in metrics:
        if isinstance(m, str) and m in ACCURACY_NAMES + CROSSENTROPY_NAMES:
            kind = "accuracy" if m in ACCURACY_NAMES else "crossentropy"
            spec = MetricSpec(prefix + m, None, weighted, kind)
            if output_shape is not None:
                spec.resolve(loss_fn, output_shape)
            specs.append(spec)
        elif isinstance(m, str):
            specs.append(MetricSpec(prefix + m, metrics_mod.get(m), weighted))
        elif callable(m):
            name = getattr(m, "__name__", None) or type(m).__name__
            specs.append(MetricSpec(prefix + name, m, weighted))
        else:
            raise ValueError("Unknown metric. Expected a name such as 'accuracy' or 'mse', "
                             "or a callable(y_true, y_pred). Received: "
                             f"metric={m!r}")
    return specs


def dedupe_names(names):
    """Make log names unique as Keras does: a repeated name gets ``_1``, ``_2``, ...

    Returns a :class:`~gpuseq.metric_names.MetricNames` list, whose ``in`` and
    ``index`` accept every spelling Keras versions used for a metric."""
    out = []
    for n in names:
        base, j, cand = n, 1, n
        while cand in out:
            cand = f"{base}_{j}"
            j += 1
        out.append(cand)
    return metric_names.MetricNames(out)
