"""scikit-learn estimators around a function that builds a compiled gpuseq model, as in
Keras 2's ``keras.wrappers.scikit_learn``: usable in `cross_val_score`, `GridSearchCV`,
`Pipeline` and the other model-selection tools.

Parameters given to the wrapper (`sk_params`) go to whichever of the build function,
`fit`, `predict` and `evaluate` accept them, so the grid of a search may mix model
arguments (`hidden_units`) with training arguments (`epochs`, `batch_size`).

Example:
    >>> def build(hidden_units=16):
    ...     model = Sequential([Dense(hidden_units, activation='relu', input_dim=64),
    ...                         Dense(10, activation='softmax')])
    ...     model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
    ...     return model
    >>> clf = KerasClassifier(build, epochs=5, batch_size=32, verbose=0)
    >>> cross_val_score(clf, x, y, cv=3)  # doctest: +SKIP
"""
import inspect
import types

import numpy as np

from ..models import Sequential
from ..utils.generic_utils import to_list
from ..utils.np_utils import to_categorical

__all__ = ["BaseWrapper", "KerasClassifier", "KerasRegressor"]

_ACCURACY_NAMES = ("acc", "accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
                   "binary_accuracy")


def _named_args(fn):
    """The names `fn` takes explicitly (not through ``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name for name, p in inspect.signature(fn).parameters.items() if p.kind in kinds}


def _loss_name(model):
    loss = getattr(model, "loss", None)
    return getattr(loss, "__name__", loss)


class BaseWrapper(object):
    """The part shared by `KerasClassifier` and `KerasRegressor`.

    Args:
        build_fn: function (or callable object) returning a compiled model; None to use
            the subclass's own `__call__`.
        **sk_params: arguments of `build_fn`, `fit`, `predict` or `evaluate`.

    Raises:
        ValueError: a parameter that none of those functions takes.
    """

    def __init__(self, build_fn=None, **sk_params):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _build_target(self):
        if self.build_fn is None:
            return self.__call__
        if isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn
        return self.build_fn.__call__

    def _legal_names(self):
        names = set()
        for fn in (Sequential.fit, Sequential.predict, Sequential.predict_classes,
                   Sequential.evaluate, self._build_target()):
            names |= _named_args(fn)
        return names - {"self", "x", "y"}

    def check_params(self, params):
        """Raises ValueError for a parameter no wrapped function takes."""
        legal = self._legal_names()
        for name in params:
            if name not in legal and name != "nb_epoch":
                raise ValueError(
                    "%s is not a legal parameter of %s: neither the build function nor "
                    "fit, predict or evaluate takes it. Legal parameters: %s."
                    % (name, type(self).__name__, ", ".join(sorted(legal))))

    def get_params(self, deep=True):
        """The wrapper's parameters: `build_fn` and every `sk_params` entry."""
        params = dict(self.sk_params)
        params["build_fn"] = self.build_fn
        return params

    def set_params(self, **params):
        """Updates `sk_params` (checked first; a bad name changes nothing)."""
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn, override=None):
        """The `sk_params` that `fn` takes, updated with `override`."""
        names = _named_args(fn)
        out = {k: v for k, v in self.sk_params.items() if k in names}
        out.update(override or {})
        return out

    def _fit_args(self, kwargs):
        args = self.filter_sk_params(Sequential.fit)
        if "nb_epoch" in self.sk_params and "epochs" not in self.sk_params:
            args["epochs"] = self.sk_params["nb_epoch"]
        args.update(kwargs)
        return args

    def fit(self, x, y, **kwargs):
        """Builds a new model with `build_fn` and trains it on `(x, y)`.

        Returns:
            The `History` of the training.
        """
        self.model = self._build_target()(**self.filter_sk_params(self._build_target()))
        y = np.asarray(y)
        if _loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y)
        return self.model.fit(x, y, **self._fit_args(kwargs))

    def _sklearn_tags(self, estimator_type):
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags
        tags = Tags(estimator_type=estimator_type, target_tags=TargetTags(required=True),
                    transformer_tags=None, regressor_tags=None, classifier_tags=None)
        if estimator_type == "classifier":
            tags.classifier_tags = ClassifierTags()
        else:
            tags.regressor_tags = RegressorTags()
        return tags

    def __repr__(self):
        args = ", ".join("%s=%r" % kv for kv in sorted(self.get_params().items()))
        return "%s(%s)" % (type(self).__name__, args)


class KerasClassifier(BaseWrapper):
    """A scikit-learn classifier around a compiled gpuseq model.

    Labels may be any values (kept in `classes_`), integer class indices or one-hot rows.
    `score` is the model's accuracy, so compile it with ``metrics=['accuracy']``.
    """
    _estimator_type = "classifier"

    def __sklearn_tags__(self):
        return self._sklearn_tags("classifier")

    def fit(self, x, y, sample_weight=None, **kwargs):
        """Trains a new model; `y` is mapped to class indices 0..n_classes-1."""
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError("KerasClassifier.fit needs y of shape (n,), (n, 1) or one-hot "
                             "(n, n_classes). Received: y.shape=%s" % (y.shape,))
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super(KerasClassifier, self).fit(x, y, **kwargs)

    def predict(self, x, **kwargs):
        """The predicted class labels (values of `classes_`)."""
        proba = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if proba.shape[-1] > 1:
            indices = proba.argmax(axis=-1)
        else:
            indices = (proba[..., 0] > 0.5).astype("int32")
        return self.classes_[indices]

    def predict_proba(self, x, **kwargs):
        """Class probabilities, (n, n_classes); a single sigmoid output gives two columns."""
        probs = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if probs.shape[1] == 1:
            probs = np.hstack([1 - probs, probs])
        return probs

    def score(self, x, y, **kwargs):
        """The model's accuracy on `(x, y)`."""
        y = np.searchsorted(self.classes_, np.asarray(y))
        if _loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y, self.n_classes_)
        args = self.filter_sk_params(Sequential.evaluate, kwargs)
        args.setdefault("verbose", 0)
        outputs = to_list(self.model.evaluate(x, y, **args))
        for name, value in zip(self.model.metrics_names, outputs):
            if name in _ACCURACY_NAMES:
                return float(value)
        raise ValueError("KerasClassifier.score needs the model's accuracy, but it was "
                         "compiled with metrics %s. Pass metrics=['accuracy'] to compile."
                         % (self.model.metrics_names[1:],))


class KerasRegressor(BaseWrapper):
    """A scikit-learn regressor around a compiled gpuseq model; `score` is minus the loss."""
    _estimator_type = "regressor"

    def __sklearn_tags__(self):
        return self._sklearn_tags("regressor")

    def predict(self, x, **kwargs):
        """The predictions, with axes of length 1 removed."""
        return np.squeeze(self.model.predict(x, **self.filter_sk_params(Sequential.predict,
                                                                         kwargs)))

    def score(self, x, y, **kwargs):
        """Minus the model's loss on `(x, y)` (greater is better)."""
        args = self.filter_sk_params(Sequential.evaluate, kwargs)
        args.setdefault("verbose", 0)
        loss = self.model.evaluate(x, y, **args)
        return -float(to_list(loss)[0])
