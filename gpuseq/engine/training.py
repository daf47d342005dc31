"""compile / fit / evaluate / predict and the batch-level steps (Keras 2 semantics).

:class:`Model` holds the training machinery; :class:`gpuseq.models.Sequential`
adds the layer stack. One training step:

1. the batch goes to the device (or is sliced there when the whole data set
   was moved once, see :class:`~gpuseq.engine.data.DeviceData`);
2. forward through the layers on Tensors; the loss per sample; when the model
   ends in softmax and the loss is (sparse) categorical cross-entropy, the
   last activation and the loss run as one fused op on the logits;
3. reverse-mode gradients from the tape;
4. the optimizer updates every weight in place;
5. metrics are computed without the tape; their values stay on the device and
   are read by the progress bar / callbacks only when they look.
"""
import warnings

import numpy

from .. import callbacks as cbks
from .. import optimizers as optimizers_mod
from .. import random as grandom
from ..backend import autodiff as ad
from ..backend import dispatch
from ..backend import functions as K
from ..backend import session as session_mod
from ..legacy import warn_modern_call
from ..utils.generic_utils import Progbar
from . import compile_utils
from . import cuda_graphs
from . import data as data_mod
from .symbolic import submodel

_FUSED_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


def _scalar(t):
    """A metric/loss value for logs: a float on the host backends, a 0-d device array
    on the GPU (so that no synchronisation happens until someone reads it)."""
    d = t.data if isinstance(t, ad.Tensor) else t
    if dispatch.is_gpu() and type(d).__module__.startswith("cupy"):
        return d.astype("float32").reshape(())
    return float(numpy.asarray(dispatch.to_host(d), dtype="float64").reshape(-1).mean()) \
        if numpy.size(dispatch.to_host(d)) != 1 else float(dispatch.to_host(d).reshape(-1)[0])


def _host_float(v):
    return float(dispatch.to_host(v)) if not isinstance(v, float) else v


class _ModelType(type):
    """``Model(inputs=..., outputs=...)`` (the Keras functional call) builds a Sequential
    sub-model sharing the layers (see :func:`gpuseq.engine.symbolic.submodel`); subclasses
    are constructed as usual."""

    def __call__(cls, *args, **kwargs):
        if cls is Model:
            return submodel(*args, **kwargs)
        return super().__call__(*args, **kwargs)


class Model(metaclass=_ModelType):
    """Training machinery shared by gpuseq models (see :class:`gpuseq.models.Sequential`).

    ``Model(inputs=model.input, outputs=model.get_layer(name).output)`` makes a model of
    the layers of a Sequential ``model`` up to that layer (weights shared), as in Keras.
    """

    def _init_training(self):
        self.optimizer = None
        self.loss = None
        self.loss_functions = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._metric_specs = []
        self._metrics_names = None
        self.sample_weight_mode = None
        self._fused = None
        self._jit_compile = None
        self._graph_runner = None

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer, loss=None, metrics=None, loss_weights=None,
                sample_weight_mode=None, weighted_metrics=None, target_tensors=None,
                jit_compile=None, **kwargs):
        """Configure the model for training.

        Args:
            optimizer: name (``'rmsprop'``) or instance (``SGD(lr=0.01)``).
            loss: name or callable ``(y_true, y_pred) -> per-sample loss``.
            metrics: list of names (``'accuracy'``) or callables; a callable may
                return a dict ``{name: value}``.
            loss_weights: scalar multiplying the loss (or a list/dict of one).
            sample_weight_mode: None or ``'temporal'`` (2-D sample weights).
            weighted_metrics: metrics weighted by sample/class weights.
            jit_compile: True replays training steps as CUDA graphs on the GPU
                (see :mod:`gpuseq.engine.cuda_graphs`) and warns when it cannot;
                False never does; None or 'auto' (the default) replays them when the
                model allows it, unless ``GPUSEQ_CUDA_GRAPHS=0`` switches that default
                off. No effect on the NumPy backend.
        """
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {sorted(kwargs)}. "
                            "Valid: optimizer, loss, metrics, loss_weights, "
                            "sample_weight_mode, weighted_metrics, jit_compile.")
        jit_compile = cuda_graphs.check_jit_compile(jit_compile)
        if dispatch.is_gpu():
            cuda_graphs.env_setting()           # a bad GPUSEQ_CUDA_GRAPHS fails here
        if target_tensors is not None:
            raise ValueError("target_tensors is not supported: gpuseq feeds targets from the "
                             "arrays given to fit(). Remove the argument.")
        opt = optimizers_mod.get(optimizer)
        out_name = self.layers[-1].name if getattr(self, "layers", None) else None
        loss_fn, loss_name = compile_utils.resolve_loss(loss, out_name)
        lw = compile_utils.resolve_loss_weight(loss_weights, out_name)
        sample_weight_mode = compile_utils.resolve_sample_weight_mode(sample_weight_mode,
                                                                      out_name)
        out_shape = self._output_shape_or_none()
        specs = compile_utils.resolve_metrics(metrics, loss_fn, out_shape,
                                              output_name=out_name)
        specs += compile_utils.resolve_metrics(weighted_metrics, loss_fn, out_shape,
                                               weighted=True, output_name=out_name)
        # commit only when everything resolved
        self.optimizer = opt
        self.loss = loss
        self.loss_functions = [loss_fn]
        self._loss_fn, self._loss_name, self._loss_weight = loss_fn, loss_name, lw
        self._metric_specs = specs
        self._metric_args = (metrics, weighted_metrics)
        self._metrics_names = None
        self.metrics = list(metrics) if isinstance(metrics, (list, tuple)) else \
            ([] if metrics is None else [metrics])
        self.sample_weight_mode = sample_weight_mode
        self.loss_weights = loss_weights
        self.weighted_metrics = weighted_metrics
        if self.built:
            # create the optimizer's state now, so that optimizer.set_weights() works
            # before the first step (as after Keras builds its training function)
            opt.build(self._trainable_variables())
        self.compiled = True
        self._fused = None
        self._jit_compile = jit_compile
        self._graph_runner = None

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"You must compile your model before {what}. Call "
                               "model.compile(optimizer, loss) first, e.g. "
                               "model.compile(optimizer='rmsprop', loss='mse').")

    def _fused_plan(self):
        """True when the last activation and the loss can run as one fused op."""
        if self._fused is None:
            last = self.layers[-1] if self.layers else None
            self._fused = bool(
                last is not None and self._loss_name in _FUSED_LOSSES
                and getattr(getattr(last, "activation", None), "kind", None) == "softmax"
                and hasattr(last, "pre_activation"))
        return self._fused

    # ------------------------------------------------------------ metric names
    @property
    def metrics_names(self):
        """``['loss', <metric names>...]``: the keys of the logs and of History.

        A metric is named as written in compile() (``'acc'`` stays ``'acc'``,
        ``'mse'`` stays ``'mse'``, a function by its ``__name__``); a function
        returning a dict contributes its keys; ``weighted_metrics`` get the prefix
        ``'weighted_'``; a repeated name gets ``_1``, ``_2``, ... (as Keras).
        """
        if self._metrics_names is None:
            names, known = ["loss"], True
            for s in self._metric_specs:
                if s.returns_dict is None:
                    self._probe_metric(s)
                if s.returns_dict is None:
                    known = False   # output shape unknown yet: ask again later
                names.extend(s.dict_names if s.returns_dict else [s.name])
            names = compile_utils.dedupe_names(names)
            if not known:
                return names
            self._metrics_names = names
        return self._metrics_names

    def _probe_metric(self, spec):
        """Learn whether a metric returns a dict (and its keys) from a dummy batch."""
        shp = self._output_shape_or_none()
        if shp is None or any(d is None for d in shp[1:]):
            return
        fn = spec.resolve(self._loss_fn, shp)
        xp = dispatch.xp()
        probe = ad.Tensor(xp.full((2,) + tuple(shp[1:]), 0.5, dtype="float32"))
        if self._loss_name == "sparse_categorical_crossentropy":
            yt = ad.Tensor(xp.zeros((2,) + tuple(shp[1:-1]), dtype="int64"))
        else:
            yt = ad.Tensor(xp.zeros((2,) + tuple(shp[1:]), dtype="float32"))
        try:
            with ad.no_grad():
                out = fn(yt, probe)
        except Exception:
            # the real batch decides (and renames the logs if it returns a dict)
            spec.returns_dict = False
            return
        if isinstance(out, dict):
            spec.set_dict_keys(out.keys())
        else:
            spec.returns_dict = False

    # ---------------------------------------------------------- forward + loss
    def _loss_and_outputs(self, xs, y, sw, training):
        """Forward pass and the reduced loss; returns (loss Tensor, y_pred Tensor)."""
        inputs = [ad.Tensor(x) for x in xs]
        x_in = inputs if len(inputs) > 1 else inputs[0]
        y_t = ad.Tensor(y)
        if self._fused_plan():
            h, mask = self._forward_to(x_in, len(self.layers) - 1, training)
            last = self.layers[-1]
            logits = last.pre_activation(h) if not isinstance(h, list) else last(h)
            sparse = self._loss_name == "sparse_categorical_crossentropy"
            target = y if not sparse else y.reshape(y.shape[:logits.ndim - 1])
            per_sample, op = ad.fused("softmax_cross_entropy", logits, ad.Tensor(target),
                                      sparse=sparse)
            y_pred = ad.Tensor(op.saved[0])
            out_mask = mask
        else:
            y_pred, out_mask = self._forward_to(x_in, len(self.layers), training)
            per_sample = self._loss_fn(y_t, y_pred)
            per_sample = ad.as_tensor(per_sample, y_pred)
        loss = self._reduce_loss(per_sample, sw, out_mask)
        if self._loss_weight != 1.0:
            loss = loss * self._loss_weight
        if training:
            for layer in self._all_layers():
                for pen in layer.losses:
                    loss = loss + pen
        return loss, y_pred, out_mask

    def _reduce_loss(self, per_sample, sw, mask):
        """The batch loss from the per-sample (per-timestep) losses.

        Keras >= 2.3 reduction: ``sum(w * loss) / N`` with N the number of loss
        values (the plain mean without weights). 1-D weights broadcast over time
        steps; 2-D weights (``sample_weight_mode='temporal'``) weight each step.
        A mask first rescales the values so that the mean runs over unmasked
        steps only (as Keras 2).
        """
        if per_sample.ndim == 0:
            if sw is None:
                return per_sample
            return per_sample * K.mean(ad.Tensor(sw.astype(per_sample.dtype)))
        if mask is not None and per_sample.ndim == mask.ndim:
            m = ad.Tensor(mask.astype(per_sample.dtype))
            per_sample = per_sample * m / K.maximum(K.mean(m), K.epsilon())
        if sw is None:
            return K.mean(per_sample)
        w = sw
        if w.ndim > per_sample.ndim or tuple(w.shape) != tuple(per_sample.shape[:w.ndim]):
            raise ValueError(
                f"sample_weight of shape {tuple(w.shape)} does not fit the loss values of "
                f"shape {tuple(per_sample.shape)} (one per sample"
                f"{' and time step' if per_sample.ndim > 1 else ''}). 2-D (temporal) "
                "weights need a sequence output (e.g. return_sequences=True or "
                "TimeDistributed); otherwise pass one weight per sample.")
        while w.ndim < per_sample.ndim:
            w = w[..., None]
        return K.sum(per_sample * ad.Tensor(w.astype(per_sample.dtype))) * \
            (1.0 / max(per_sample.size, 1))

    def _metric_values(self, y, y_pred, sw, mask=None):
        """{name: device scalar} for every metric of the batch (no tape).

        Args:
            y: targets (device array). y_pred: the output Tensor.
            sw: per-sample / per-timestep weights or None (used by weighted metrics).
            mask: the output mask or None (masked steps are left out of the mean).
        """
        vals = []
        y_t = ad.Tensor(y)
        shp = self._output_shape_or_none()
        stale = False
        with ad.no_grad():
            for s in self._metric_specs:
                fn = s.resolve(self._loss_fn, shp if shp is not None else tuple(y_pred.shape))
                val = fn(y_t, y_pred)
                w = sw if s.weighted else None
                if isinstance(val, dict):
                    stale |= s.set_dict_keys(val.keys())
                    for k, v in zip(s.dict_names, val.values()):
                        vals.append((k, self._reduce_metric(v, w, mask)))
                else:
                    if s.returns_dict is not False:
                        stale |= s.returns_dict is True
                        s.returns_dict = False
                    vals.append((s.name, self._reduce_metric(val, w, mask)))
        if stale:
            self._metrics_names = None
        names = self.metrics_names[1:]
        if len(names) != len(vals):   # defensive: names follow the values just computed
            names = compile_utils.dedupe_names(["loss"] + [k for k, _ in vals])[1:]
        return {n: v for n, (_, v) in zip(names, vals)}

    @staticmethod
    def _reduce_metric(v, sw, mask=None):
        """Batch value of a metric: the mean of its per-sample values, or with
        weights (``weighted_metrics``) and/or a mask ``sum(v*w) / sum(w)``."""
        v = ad.as_tensor(v)
        if v.dtype.kind != "f":
            v = K.cast(v, "float32")
        if v.ndim == 0 or (sw is None and mask is None):
            return K.mean(v)
        xp = dispatch.get_array_module(v.data)
        w = xp.ones(v.shape, dtype=v.dtype)
        for extra in (sw, mask):
            if extra is None:
                continue
            e = extra.astype(v.dtype)
            while e.ndim > v.ndim:          # per-step weights, per-sample values
                e = e.mean(axis=-1)
            if tuple(e.shape) != tuple(v.shape[:e.ndim]):
                continue
            while e.ndim < v.ndim:
                e = e[..., None]
            w = w * e
        w = ad.Tensor(w)
        return K.sum(v * w) / K.maximum(K.sum(w), 1e-12)

    # ------------------------------------------------------------ batch steps
    def _train_step(self, xs, y, sw):
        params = self._trainable_variables()
        K.set_learning_phase(1)
        try:
            loss, y_pred, out_mask = self._loss_and_outputs(xs, y, sw, training=True)
        finally:
            K.set_learning_phase(0)
        if params and not loss.requires_grad:
            raise ValueError(
                "The loss has no gradient with respect to the model's weights (it is built "
                "only from non-differentiable operations such as K.round, K.argmax or "
                "comparisons), so training cannot update anything. Write the loss with "
                "differentiable gpuseq.backend functions.")
        grads = ad.gradients(loss, params)
        self.optimizer.apply_gradients(zip(grads, params))
        logs = {"loss": _scalar(loss)}
        for k, v in self._metric_values(y, ad.Tensor(y_pred.data), sw, mask=out_mask).items():
            logs[k] = _scalar(v)
        return logs

    def _step_runner(self):
        """The training step ``fit`` and ``train_on_batch`` call: ``_train_step``, or
        its CUDA-graph replay when jit_compile asks for it on the GPU."""
        jit = getattr(self, "_jit_compile", None)
        if jit is False or (self._graph_runner is None and not dispatch.is_gpu()):
            return self._train_step
        env = None if jit is True else cuda_graphs.env_setting()
        if env is False:
            return self._train_step
        if self._graph_runner is None:
            self._graph_runner = cuda_graphs.GraphedStep(
                self, lambda data: self._train_step(*data), warn=jit is True or env is True)
        runner = self._graph_runner
        return lambda xs, y, sw: runner((xs, y, sw))

    def _test_step(self, xs, y, sw):
        with ad.no_grad():
            loss, y_pred, out_mask = self._loss_and_outputs(xs, y, sw, training=False)
        logs = {"loss": _scalar(loss)}
        for k, v in self._metric_values(y, y_pred, sw, mask=out_mask).items():
            logs[k] = _scalar(v)
        return logs

    def _guard_oom(self, fn, *args):
        """Run fn(*args); a CuPy out-of-memory error becomes GPUMemoryLimitError."""
        try:
            return fn(*args)
        except Exception as e:  # CuPy's OutOfMemoryError under a memory cap
            if type(e).__name__ == "OutOfMemoryError":
                raise session_mod.translate_out_of_memory(e) from e
            raise

    # ---------------------------------------------------------- data plumbing
    @property
    def input_names(self):
        """Names of the model's inputs, as Keras 2 names them (``<first layer>_input``,
        one per Merge branch). Dict data may be keyed by these or by the layer names."""
        return [n + "_input" for n in self._input_layer_names()]

    @property
    def output_names(self):
        """Name of the model's output: the name of its last layer."""
        return [self.layers[-1].name] if getattr(self, "layers", None) else []

    def _dict_to_list(self, data, what):
        """Arrays in input order from a dict keyed by input (or output) names."""
        if what == "x":
            if not self.layers:
                raise ValueError("Cannot take dict input data before the model has layers.")
            layer_names = self._input_layer_names()
            names = list(zip(layer_names, self.input_names))
        else:
            names = [(n, n) for n in self.output_names]
        kind, end = ("input", "input") if what == "x" else ("target", "output")
        out = []
        for layer_name, keras_name in names:
            if layer_name in data:
                out.append(data[layer_name])
            elif keras_name in data:
                out.append(data[keras_name])
            else:
                raise ValueError(
                    f"No data provided for '{layer_name}'. The {kind} dict must have one entry "
                    f"per model {end}, keyed by {[n for n, _ in names]}"
                    + (f" (or {[k for _, k in names]})" if what == "x" else "")
                    + f". Received keys: {sorted(data)}")
        extra = set(data) - {n for pair in names for n in pair}
        if extra:
            raise ValueError(f"Unknown {end} name(s) {sorted(extra)} in the data dict. "
                             f"Expected keys: {[n for n, _ in names]}.")
        return out if what == "x" and len(out) > 1 else out[0]

    def _prepare(self, x, y, sample_weight=None, class_weight=None, need_y=True):
        if isinstance(x, dict):
            x = self._dict_to_list(x, "x")
        if isinstance(y, dict):
            y = self._dict_to_list(y, "y")
        if isinstance(x, (list, tuple)) and self._n_inputs() == 1 and len(x) > 1 and \
                all(hasattr(a, "shape") for a in x):
            raise ValueError(
                f"The model has 1 input, so fit/evaluate/predict expect one array. Expected to "
                f"see 1 array(s), but instead got a list of {len(x)} arrays. Pass a single "
                "array (or build a multi-input model with Merge).")
        xs = data_mod.to_list(x) if isinstance(x, (list, tuple)) and self._n_inputs() > 1 \
            else [x]
        if xs[0] is None:
            raise ValueError("No input data: pass x (a NumPy array, or a list of arrays for "
                             "a multi-input model).")
        if not self.built:
            first = data_mod.as_host_array(xs[0], "Input data")
            self.build((None,) + tuple(first.shape[1:]))
        xs = data_mod.check_input_arrays(xs, self._input_shapes(), self._input_layer_names())
        n = int(xs[0].shape[0])
        if not need_y:
            return xs, None, None, n
        if y is None:
            raise ValueError("No target data: pass y, the targets for x.")
        if isinstance(y, (list, tuple)) and len(y) == 1 and not numpy.isscalar(y[0]) and \
                numpy.ndim(y[0]) >= 1 and len(y) != n:
            y = y[0]
        yy = data_mod.check_targets(y, self._output_shape_or_none(), self._loss_name, n,
                                    self.layers[-1].name)
        sw = data_mod.standardize_weights(yy, sample_weight, class_weight,
                                          self.sample_weight_mode, n)
        return xs, yy, sw, n

    def _check_stateful_batch(self, n, batch_size):
        fixed = self._fixed_batch_size()
        if fixed is None:
            return batch_size
        if batch_size is not None and batch_size != fixed and self._has_stateful():
            raise ValueError(
                f"The model was built with a fixed batch size of {fixed} (batch_input_shape), "
                f"but fit/evaluate/predict received batch_size={batch_size}. Pass "
                f"batch_size={fixed}.")
        if self._has_stateful() and n % fixed != 0:
            raise ValueError(
                f"In a stateful network, you should only pass inputs with a number of samples "
                f"that can be divided by the batch size. Found: {n} samples. Batch size: "
                f"{fixed}. Trim the data to a multiple of {fixed} samples.")
        return fixed

    # ----------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            **kwargs):
        """Train the model for ``epochs`` epochs (Keras 2 semantics).

        Args:
            x: input array (or list of arrays for a multi-input model).
            y: target array.
            batch_size: samples per gradient update (default 32).
            epochs: index of the final epoch (training runs from initial_epoch).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: list of Callback instances.
            validation_split: fraction of the data (taken from the END, before
                shuffling) held out for validation.
            validation_data: (x_val, y_val) or (x_val, y_val, sample_weight_val).
            shuffle: True (every epoch), False, or 'batch' (shuffle in batch-sized chunks).
            class_weight: dict class index -> loss weight.
            sample_weight: array of per-sample (or per-timestep) weights.
            initial_epoch: epoch at which to start (to resume a run).
            steps_per_epoch: batches per epoch (the data is cycled through).
            validation_steps: batches of validation data per evaluation.
            nb_epoch: Keras 1 name of ``epochs``.

        Returns:
            a History object; ``history.history`` maps metric names to per-epoch values.
        """
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
            warn_modern_call("fit", (), {"epochs": epochs}, ["epochs"])
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s) {sorted(kwargs)}.")
        self._require_compiled("training the model")
        _check_verbose(verbose)
        batch_size = _check_batch_size(batch_size)
        if not isinstance(epochs, (int, numpy.integer)) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer. Received: epochs={epochs!r}")
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch'. Received: "
                             f"shuffle={shuffle!r}")
        xs, yy, sw, n = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 f"val_sample_weight). Received: {type(validation_data).__name__} "
                                 f"of length {len(validation_data) if hasattr(validation_data, '__len__') else '?'}.")
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) == 3 else None
            val = self._prepare(vx, vy, vsw, None)[:3]
        elif validation_split and validation_split > 0:
            arrays = xs + [yy, sw]
            tr, va = data_mod.split_validation(arrays, validation_split)
            xs, yy, sw = tr[:len(xs)], tr[len(xs)], tr[len(xs) + 1]
            val = (va[:len(xs)], va[len(xs)], va[len(xs) + 1])
            n = int(xs[0].shape[0])
        batch_size = self._check_stateful_batch(n, batch_size) or 32
        if val is not None:
            self._check_stateful_batch(int(val[0][0].shape[0]), batch_size)
        do_validation = val is not None

        xd, yd, swd = self._guard_oom(
            lambda: ([data_mod.DeviceData(a) for a in xs], data_mod.DeviceData(yy),
                     data_mod.DeviceData(sw)))

        out_labels = self.metrics_names
        callbacks_obj = self._callback_list(
            callbacks, verbose, "steps" if steps_per_epoch else "samples",
            {"batch_size": batch_size, "epochs": epochs, "steps": steps_per_epoch,
             "samples": n, "verbose": verbose, "do_validation": do_validation},
            validation=val)
        if do_validation:
            if verbose:
                print(f"Train on {n} samples, validate on {int(val[0][0].shape[0])} samples")
        self.stop_training = False
        rng = grandom.rng()
        cursor = [None, 0]   # for steps_per_epoch: (batches, position) carried across epochs

        def epoch_batches():
            if steps_per_epoch is None:
                return data_mod.batch_indices(n, batch_size, shuffle, rng)
            out = []
            while len(out) < steps_per_epoch:
                if cursor[0] is None or cursor[1] >= len(cursor[0]):
                    cursor[0], cursor[1] = data_mod.batch_indices(n, batch_size, shuffle, rng), 0
                out.append(cursor[0][cursor[1]])
                cursor[1] += 1
            return out

        step = self._step_runner()
        callbacks_obj.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                callbacks_obj.on_epoch_begin(epoch)
                epoch_logs = {}
                for b, idx in enumerate(epoch_batches()):
                    batch_logs = {"batch": b, "size": len(idx)}
                    callbacks_obj.on_batch_begin(b, batch_logs)
                    outs = self._guard_oom(
                        step, [d.take(idx) for d in xd], yd.take(idx),
                        swd.take(idx))
                    batch_logs.update(outs)
                    callbacks_obj.on_batch_end(b, batch_logs)
                    if self.stop_training:
                        break
                if do_validation and not self.stop_training:
                    vals = self._evaluate_arrays(val[0], val[1], val[2], batch_size,
                                                 validation_steps)
                    for k in out_labels:
                        epoch_logs["val_" + k] = vals[k]
                callbacks_obj.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        finally:
            callbacks_obj.on_train_end()
        return self.history

    def _callback_list(self, callbacks, verbose, count_mode, params, validation=None):
        """Keras's callback stack: BaseLogger, ProgbarLogger (when verbose), the user's
        callbacks, History; params (with the log names) are set before training begins,
        and every callback gets ``validation_data`` as Keras gives it."""
        self.history = cbks.History()
        cb_list = [cbks.BaseLogger(stateful_metrics=[])]
        if verbose:
            cb_list.append(cbks.ProgbarLogger(count_mode=count_mode, stateful_metrics=[]))
        cb_list += list(callbacks or []) + [self.history]
        names = self.metrics_names
        params = dict(params, metrics=list(names) + (
            ["val_" + k for k in names] if params.get("do_validation") else []))
        callbacks_obj = cbks.CallbackList(cb_list)
        callbacks_obj.set_model(self)
        callbacks_obj.set_params(params)
        if validation is not None:
            xs, y, sw = validation
            vdata = list(xs) + [y, sw if sw is not None else numpy.ones(len(y), "float32")]
            for cb in cb_list:
                cb.validation_data = vdata
        return callbacks_obj

    # ------------------------------------------------------------ evaluate
    def _evaluate_arrays(self, xs, yy, sw, batch_size, steps=None, progbar=None):
        n = int(xs[0].shape[0])
        xd = [data_mod.DeviceData(a) for a in xs]
        yd, swd = data_mod.DeviceData(yy), data_mod.DeviceData(sw)
        totals, seen = {}, 0
        batches = data_mod.batch_indices(n, batch_size, False, None)
        if steps is not None:
            batches = batches[:steps]
        for idx in batches:
            logs = self._guard_oom(self._test_step, [d.take(idx) for d in xd], yd.take(idx),
                                   swd.take(idx))
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            seen += len(idx)
            if progbar is not None:
                progbar.update(seen)
        return {k: _host_float(v) / max(seen, 1) for k, v in totals.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, **kwargs):
        """Loss and metric values on the given data, averaged over samples.

        Returns:
            a scalar (loss only) or a list ``[loss, metric1, ...]`` in the order
            of ``model.metrics_names``.
        """
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword argument(s) {sorted(kwargs)}.")
        self._require_compiled("evaluating the model")
        _check_verbose(verbose)
        batch_size = _check_batch_size(batch_size)
        xs, yy, sw, n = self._prepare(x, y, sample_weight, None)
        batch_size = self._check_stateful_batch(n, batch_size) or 32
        bar = None
        if verbose == 1:
            bar = Progbar(target=n if steps is None else steps, verbose=1)
        vals = self._evaluate_arrays(xs, yy, sw, batch_size, steps, bar)
        out = [vals[k] for k in self.metrics_names]
        return out[0] if len(out) == 1 else out

    # -------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """Model outputs for the input samples, as a NumPy array."""
        _check_verbose(verbose)
        batch_size = _check_batch_size(batch_size)
        xs, _, _, n = self._prepare(x, None, need_y=False)
        batch_size = self._check_stateful_batch(n, batch_size) or 32
        xd = [data_mod.DeviceData(a) for a in xs]
        batches = data_mod.batch_indices(n, batch_size, False, None)
        if steps is not None:
            batches = batches[:steps]
        bar = None
        if verbose == 1:
            bar = Progbar(target=n)
        outs, seen = [], 0
        for idx in batches:
            outs.append(dispatch.to_host(self._guard_oom(self._predict_batch,
                                                         [d.take(idx) for d in xd])))
            seen += len(idx)
            if bar is not None:
                bar.update(seen)
        if not outs:
            shp = self._output_shape_or_none() or (None,)
            return numpy.zeros((0,) + tuple(d or 0 for d in shp[1:]), dtype="float32")
        return numpy.concatenate(outs, axis=0)

    def _predict_batch(self, xs):
        with ad.no_grad():
            inputs = [ad.Tensor(a) for a in xs]
            y, _ = self._forward_to(inputs if len(inputs) > 1 else inputs[0],
                                    len(self.layers), False)
        return y.data

    def predict_on_batch(self, x):
        xs, _, _, _ = self._prepare(x, None, need_y=False)
        return dispatch.to_host(self._predict_batch([dispatch.to_device(a) for a in xs]))

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient update on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("training the model")
        xs, yy, sw, n = self._prepare(x, y, sample_weight, class_weight)
        self._check_stateful_batch(n, None)
        logs = self._guard_oom(lambda: self._step_runner()(*_on_device(xs, yy, sw)))
        out = [_host_float(logs[k]) for k in self.metrics_names]
        return out[0] if len(out) == 1 else out

    def test_on_batch(self, x, y, sample_weight=None):
        """Loss (and metrics) of one batch, without updating the weights."""
        self._require_compiled("evaluating the model")
        xs, yy, sw, n = self._prepare(x, y, sample_weight, None)
        logs = self._guard_oom(lambda: self._test_step(*_on_device(xs, yy, sw)))
        out = [_host_float(logs[k]) for k in self.metrics_names]
        return out[0] if len(out) == 1 else out

    # ----------------------------------------------------------- generators
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      class_weight=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, shuffle=True, initial_epoch=0, **kwargs):
        """Train on batches yielded by a Python generator or a ``Sequence``.

        The generator yields ``(x, y)`` or ``(x, y, sample_weight)`` forever.
        Keras 1 arguments: ``samples_per_epoch`` (an epoch ends once that many
        samples were drawn), ``nb_epoch``, ``nb_val_samples``, ``nb_worker``,
        ``pickle_safe``, ``max_q_size``. Batches are drawn in the calling thread.
        """
        samples_per_epoch = kwargs.pop("samples_per_epoch", None)
        nb_val_samples = kwargs.pop("nb_val_samples", None)
        legacy = {}
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
            legacy["epochs"] = epochs
        for old, new in (("nb_worker", "workers"), ("pickle_safe", "use_multiprocessing"),
                         ("max_q_size", "max_queue_size")):
            if old in kwargs:
                legacy[new] = kwargs.pop(old)
        if kwargs:
            raise TypeError(f"fit_generator() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}.")
        if legacy:
            warn_modern_call("fit_generator", (generator,), legacy, list(legacy))
        if samples_per_epoch is not None or nb_val_samples is not None:
            warnings.warn(
                "fit_generator: the Keras 1 arguments `samples_per_epoch` / `nb_val_samples` "
                "count samples; the Keras 2 call counts batches: "
                "`fit_generator(generator, steps_per_epoch=samples_per_epoch // batch_size, "
                "validation_steps=nb_val_samples // batch_size)`. Running with the Keras 1 "
                "meaning.", UserWarning, stacklevel=2)
        self._require_compiled("training the model")
        _check_verbose(verbose)
        is_seq = _is_sequence(generator)
        if steps_per_epoch is None and samples_per_epoch is None:
            if is_seq:
                steps_per_epoch = len(generator)
            else:
                raise ValueError("fit_generator needs steps_per_epoch (batches per epoch) when "
                                 "the generator is not a Sequence with a length.")
        it = _batch_source(generator, shuffle)
        val_it = None
        do_validation = validation_data is not None
        if do_validation and (_is_sequence(validation_data) or hasattr(validation_data, "__next__")):
            val_it = _batch_source(validation_data, False)
            if validation_steps is None and nb_val_samples is None:
                if _is_sequence(validation_data):
                    validation_steps = len(validation_data)
                else:
                    raise ValueError("validation_steps is required when validation_data is a "
                                     "generator.")
        # The first batch is drawn before training starts: it builds a model that has no
        # input shape yet, so the metric names are known when the callbacks are set up.
        x, y, sw = _unpack_batch(next(it))
        pending = self._prepare(x, y, sw, class_weight)
        val_arrays = None
        if do_validation and val_it is None:
            vsw = validation_data[2] if len(validation_data) == 3 else None
            val_arrays = self._prepare(validation_data[0], validation_data[1], vsw, None)[:3]
        out_labels = self.metrics_names
        callbacks_obj = self._callback_list(
            callbacks, verbose, "steps" if samples_per_epoch is None else "samples",
            {"epochs": epochs, "steps": steps_per_epoch, "samples": samples_per_epoch,
             "verbose": verbose, "do_validation": do_validation}, validation=val_arrays)
        self.stop_training = False
        callbacks_obj.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                callbacks_obj.on_epoch_begin(epoch)
                step, seen = 0, 0
                epoch_logs = {}
                while (samples_per_epoch is None and step < steps_per_epoch) or \
                        (samples_per_epoch is not None and seen < samples_per_epoch):
                    if pending is not None:
                        (xs, yy, sww, n), pending = pending, None
                    else:
                        x, y, sw = _unpack_batch(next(it))
                        xs, yy, sww, n = self._prepare(x, y, sw, class_weight)
                    batch_logs = {"batch": step, "size": n}
                    callbacks_obj.on_batch_begin(step, batch_logs)
                    outs = self._guard_oom(
                        lambda: self._step_runner()(*_on_device(xs, yy, sww)))
                    batch_logs.update(outs)
                    callbacks_obj.on_batch_end(step, batch_logs)
                    step += 1
                    seen += n
                    if self.stop_training:
                        break
                if do_validation:
                    if val_it is not None:
                        vals = self._evaluate_source(val_it, validation_steps, nb_val_samples)
                    else:
                        vals = self._evaluate_arrays(*val_arrays, 32, None)
                    for k in out_labels:
                        epoch_logs["val_" + k] = vals[k]
                callbacks_obj.on_epoch_end(epoch, epoch_logs)
                if self.stop_training:
                    break
        finally:
            callbacks_obj.on_train_end()
        return self.history

    def _evaluate_source(self, it, steps, samples=None):
        totals, seen, step = {}, 0, 0
        while (samples is None and step < steps) or (samples is not None and seen < samples):
            x, y, sw = _unpack_batch(next(it))
            xs, yy, sww, n = self._prepare(x, y, sw, None)
            logs = self._guard_oom(lambda: self._test_step(*_on_device(xs, yy, sww)))
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v * n
            seen += n
            step += 1
        return {k: _host_float(v) / max(seen, 1) for k, v in totals.items()}

    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0, **kwargs):
        """Loss and metrics over ``steps`` batches of a generator (or a whole Sequence)."""
        val_samples = kwargs.pop("val_samples", None)
        if kwargs:
            raise TypeError(f"evaluate_generator() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}.")
        self._require_compiled("evaluating the model")
        if steps is None and val_samples is None:
            if _is_sequence(generator):
                steps = len(generator)
            else:
                raise ValueError("evaluate_generator needs `steps` for a plain generator.")
        vals = self._evaluate_source(_batch_source(generator, False), steps, val_samples)
        out = [vals[k] for k in self.metrics_names]
        return out[0] if len(out) == 1 else out

    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """Concatenated predictions over ``steps`` batches (x, or (x, y) tuples)."""
        if steps is None:
            if _is_sequence(generator):
                steps = len(generator)
            else:
                raise ValueError("predict_generator needs `steps` for a plain generator.")
        it = _batch_source(generator, False)
        outs = []
        for _ in range(steps):
            b = next(it)
            x = b[0] if isinstance(b, tuple) else b
            outs.append(self.predict_on_batch(x))
        return numpy.concatenate(outs, axis=0)


def _on_device(xs, y, sw):
    """(list of input arrays, targets, weights) moved to the active device."""
    return ([dispatch.to_device(a) for a in xs], dispatch.to_device(y),
            None if sw is None else dispatch.to_device(sw))


def _is_sequence(obj):
    return hasattr(obj, "__getitem__") and hasattr(obj, "__len__") and \
        not isinstance(obj, (list, tuple, numpy.ndarray))


def _batch_source(gen, shuffle):
    """An endless iterator of batches from a generator or a Sequence."""
    if _is_sequence(gen):
        def seq_iter():
            while True:
                order = numpy.arange(len(gen))
                if shuffle:
                    grandom.rng().shuffle(order)
                for i in order:
                    yield gen[int(i)]
                if hasattr(gen, "on_epoch_end"):
                    gen.on_epoch_end()
        return seq_iter()
    if not hasattr(gen, "__next__"):
        raise ValueError("Expected a generator (an object with __next__) or a Sequence. "
                         f"Received: {type(gen).__name__}")
    return gen


def _unpack_batch(b):
    if not isinstance(b, tuple) or len(b) not in (2, 3):
        raise ValueError("A generator must yield tuples (x, y) or (x, y, sample_weight). "
                         f"Received: {type(b).__name__}"
                         + (f" of length {len(b)}" if isinstance(b, tuple) else ""))
    return b[0], b[1], (b[2] if len(b) == 3 else None)


def _check_verbose(verbose):
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 0, 1 or 2. Received: verbose={verbose!r}")


def _check_batch_size(batch_size):
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, numpy.integer)) or \
            batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer. Received: "
                         f"batch_size={batch_size!r}")
    return int(batch_size)

