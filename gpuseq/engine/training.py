"""compile / fit / evaluate / predict and the public training steps (Keras 2 semantics).

:class:`Model` holds the training machinery; :class:`gpuseq.models.Sequential` adds the
layer stack. The path of one training batch:

1. a data adapter (:mod:`gpuseq.engine.data_adapters`) turns arrays, generators or
   Sequences into batches ``(x, y, sample_weight)`` on the device (arrays move to the
   device once and are sliced there, see :class:`~gpuseq.engine.data.DeviceData`);
2. an :class:`~gpuseq.engine.epoch_iterator.EpochIterator` cuts them into epochs;
   :meth:`Model._fit_loop`, the one loop behind ``fit`` and ``fit_generator``, calls the
   callbacks around every batch;
3. :meth:`Model.train_step`: forward through the layers on Tensors; the loss per sample
   (when the model ends in softmax and the loss is (sparse) categorical cross-entropy,
   the last activation and the loss run as one fused op on the logits); reverse-mode
   gradients from the tape;
4. :meth:`Model.aggregate_gradients`, the hook between the gradients and the update
   (identity on one process), then the data-parallel strategy's ``combine_step``
   (identity on one process; under several MPI ranks the allreduce of gradients, moving
   statistics and logs, see :mod:`gpuseq.distribute.strategy`);
5. ``optimizer.apply_gradients(grads_and_vars)`` updates every weight in place;
6. metrics are computed without the tape; their values stay on the device and are read
   by the progress bar / callbacks only when they look.

On the GPU the step can be replayed as a CUDA graph (:mod:`gpuseq.engine.cuda_graphs`).
Evaluation and prediction run the same way through :meth:`Model._test_loop` /
:meth:`Model.test_step` and :meth:`Model._predict_loop` / :meth:`Model.predict_step`.
"""
import warnings

import numpy

from .. import callbacks as cbks
from .. import optimizers as optimizers_mod
from ..backend import autodiff as ad
from ..backend import dispatch
from ..backend import functions as K
from ..backend import session as session_mod
from ..distribute import strategy as distribute_strategy
from ..legacy import warn_modern_call
from ..metric_names import MetricDict
from ..utils.generic_utils import Progbar
from . import compile_utils
from . import cuda_graphs
from . import data as data_mod
from . import data_adapters
from . import symbolic
from .data_adapters import batch_size_of, input_list, on_device, unpack_data
from .epoch_iterator import EpochIterator

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


class Model:
    """Training machinery shared by gpuseq models (see :class:`gpuseq.models.Sequential`).

    ``Model(inputs=model.input, outputs=model.get_layer(name).output)`` makes a model of
    the layers of a Sequential ``model`` up to that layer (weights shared), as in Keras.

    A subclass supplies the layer stack: the attributes ``name``, ``layers`` (the list of
    layers) and ``built``, and the methods and properties of the "layer stack" section
    below that raise NotImplementedError here. It may override the steps
    (:meth:`train_step`, :meth:`test_step`, :meth:`predict_step`) and the gradient hook
    (:meth:`aggregate_gradients`): every front end (``fit``, ``fit_generator``,
    ``train_on_batch``, ``evaluate``, ...) runs them.

    Example (a step that smooths one-hot labels of 10 classes, as in Keras 3)::

        class Smoothed(Sequential):
            def train_step(self, data):
                x, y, sample_weight = data
                return super().train_step((x, 0.9 * y + 0.01, sample_weight))
    """

    def __new__(cls, *args, **kwargs):
        """``Model(inputs=..., outputs=...)``, the Keras functional call, returns a built
        Sequential made of the layers up to the output's layer (see
        :func:`gpuseq.engine.symbolic.submodel`); subclasses are constructed as usual.

        Python then calls that Sequential's ``__init__`` with the same arguments; the
        model is marked so that its ``__init__`` leaves it as it is (see
        :meth:`_built_by_functional_call`).
        """
        if cls is not Model:
            return super().__new__(cls)
        model = symbolic.submodel(*args, **kwargs)
        model._functional_call = True
        return model

    def __init__(self):
        """The training state of a model that is not compiled yet."""
        self.optimizer = None
        self.loss = None
        self.loss_functions = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._metric_specs = []
        self._metrics_names = None
        self.sample_weight_mode = None
        self._loss_fn = self._loss_name = None
        self._loss_weight = 1.0
        self._fused = None
        self._jit_compile = None
        self._graph_runner = None

    @property
    def _distribution(self):
        """The data-parallel strategy the loops consult
        (:func:`gpuseq.distribute.strategy.current`): a no-op in a plain process."""
        return distribute_strategy.current()

    def _built_by_functional_call(self):
        """True (once) in ``__init__`` of a model that ``Model(inputs=..., outputs=...)``
        has already built: that ``__init__`` must return at once."""
        return self.__dict__.pop("_functional_call", False)

    # ------------------------------------------------------------ the layer stack
    # What the training machinery asks of the layer stack (Sequential answers).
    def build(self, input_shape=None):
        """Create the weights of every layer for inputs of ``input_shape`` (batch axis
        first; a list of shapes for several inputs)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build(input_shape).")

    @property
    def output_shape(self):
        """The model's output shape (batch axis None), or None while it is not built."""
        raise NotImplementedError(f"{type(self).__name__} must define output_shape.")

    @property
    def trainable_weights(self):
        """The Variables that training updates, layer by layer (may repeat a shared one)."""
        raise NotImplementedError(f"{type(self).__name__} must define trainable_weights.")

    def _forward_to(self, x, upto, training):
        """Run the first ``upto`` layers on ``x`` (a Tensor, or a list of Tensors for a
        model with several inputs); returns ``(output Tensor, its mask or None)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _forward_to.")

    def _n_inputs(self):
        """The number of input arrays the model takes."""
        raise NotImplementedError(f"{type(self).__name__} must implement _n_inputs.")

    def _input_shapes(self):
        """The expected shape of each input array (batch axis first; None when unknown)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _input_shapes.")

    def _input_layer_names(self):
        """The name of the layer that receives each input (used in error messages and
        to key dict data)."""
        raise NotImplementedError(f"{type(self).__name__} must implement "
                                  "_input_layer_names.")

    def _fixed_batch_size(self):
        """The batch size the model was built for (``batch_input_shape``), or None."""
        raise NotImplementedError(f"{type(self).__name__} must implement _fixed_batch_size.")

    def _all_layers(self):
        """Every layer a step runs: their penalties (``layer.losses``) join the loss."""
        return list(self.layers)

    def _has_stateful(self):
        """True when a layer keeps state between batches (``stateful=True``)."""
        return any(getattr(layer, "stateful", False) for layer in self._all_layers())

    def _output_shape_or_none(self):
        """:attr:`output_shape`, None until the model is built."""
        return self.output_shape

    def _trainable_variables(self):
        """The trainable Variables, each once, in layer order: what gets gradients."""
        seen, out = set(), []
        for v in self.trainable_weights:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
        return out

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
        _check_metrics_type("metrics", metrics)
        _check_metrics_type("weighted_metrics", weighted_metrics)
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

    # ------------------------------------------------------------------ steps
    def train_step(self, data):
        """One gradient update on one batch: what ``fit``, ``fit_generator`` and
        ``train_on_batch`` run for every batch (and what a CUDA graph captures).

        forward -> loss -> gradients -> :meth:`aggregate_gradients` ->
        ``self.optimizer.apply_gradients(grads_and_vars)`` (clipping happens there).

        Args:
            data: ``(x, y, sample_weight)`` on the active device: ``x`` one array, or a
                list of arrays for a model with several inputs; ``sample_weight`` per
                sample (or per time step) or None. ``(x, y)`` is accepted too.

        Returns:
            the logs ``{'loss': value, <metric name>: value, ...}`` (the keys of
            :attr:`metrics_names`): 0-d device arrays on the GPU (read them only when
            needed: reading waits for the GPU), floats on the host backends.

        Override it in a subclass to change what a step does (as in Keras 3); the
        front ends run the override.
        """
        x, y, sw = unpack_data(data)
        params = self._trainable_variables()
        K.set_learning_phase(1)
        try:
            loss, y_pred, out_mask = self._loss_and_outputs(input_list(x), y, sw,
                                                            training=True)
        finally:
            K.set_learning_phase(0)
        if params and not loss.requires_grad:
            raise ValueError(
                "The loss has no gradient with respect to the model's weights (it is built "
                "only from non-differentiable operations such as K.round, K.argmax or "
                "comparisons), so training cannot update anything. Write the loss with "
                "differentiable gpuseq.backend functions.")
        grads = ad.gradients(loss, params)
        logs = self._step_logs(loss, y, ad.Tensor(y_pred.data), sw, out_mask)
        grads_and_vars, logs = self._distribution.combine_step(
            self, self.aggregate_gradients(list(zip(grads, params))), logs,
            batch_size_of(data), _step_mask(out_mask, y_pred))
        self.optimizer.apply_gradients(grads_and_vars)
        return logs

    def aggregate_gradients(self, grads_and_vars):
        """The hook between the gradients and the optimizer's update.

        Args:
            grads_and_vars: list of ``(gradient array, Variable)`` pairs, one per
                trainable Variable, from this process's batch.

        Returns:
            the list of pairs the optimizer applies. Here: unchanged. Under several
            MPI ranks the strategy's ``combine_step`` averages the pairs returned here
            over the ranks (see :mod:`gpuseq.distribute.strategy`); gradient clipping
            (``clipnorm``/``clipvalue``) runs after it, inside the optimizer.
        """
        return grads_and_vars

    def test_step(self, data):
        """Loss and metrics of one batch without updating anything: what ``evaluate``,
        ``evaluate_generator``, ``test_on_batch`` and validation run.

        Args:
            data: ``(x, y, sample_weight)`` on the active device, as for
                :meth:`train_step`.

        Returns:
            the logs, as :meth:`train_step` returns them.
        """
        x, y, sw = unpack_data(data)
        with ad.no_grad():
            loss, y_pred, out_mask = self._loss_and_outputs(input_list(x), y, sw,
                                                            training=False)
        return self._step_logs(loss, y, y_pred, sw, out_mask)

    def predict_step(self, data):
        """The model's output for one batch: what ``predict``, ``predict_generator`` and
        ``predict_on_batch`` run.

        Args:
            data: ``(x, y, sample_weight)``, ``(x,)`` or ``x`` on the active device
                (only ``x`` is used).

        Returns:
            the output array, on the active device.
        """
        x, _, _ = unpack_data(data)
        inputs = [ad.Tensor(a) for a in input_list(x)]
        with ad.no_grad():
            y, _ = self._forward_to(inputs if len(inputs) > 1 else inputs[0],
                                    len(self.layers), False)
        return y.data

    def _step_logs(self, loss, y, y_pred, sw, out_mask):
        logs = {"loss": _scalar(loss)}
        for k, v in self._metric_values(y, y_pred, sw, mask=out_mask).items():
            logs[k] = _scalar(v)
        return logs

    def _train_function(self):
        """What the loops call with each training batch ``(x, y, sample_weight)``:
        :meth:`train_step` itself, or its CUDA-graph replay
        (:class:`~gpuseq.engine.cuda_graphs.GraphedStep` wrapped around it) when
        ``jit_compile`` asks for one on the GPU. Under several ranks the strategy
        wraps either (``wrap_train_function``); the graphs are used there only when
        its communicator's collectives can be captured (NCCL)."""
        jit = self._jit_compile
        dist = self._distribution
        if jit is False or (self._graph_runner is None and not dispatch.is_gpu()) or \
                not dist.allows_graph_capture:
            return dist.wrap_train_function(self, self.train_step)
        env = None if jit is True else cuda_graphs.env_setting()
        if env is False:
            return dist.wrap_train_function(self, self.train_step)
        if self._graph_runner is None:      # kept across fits: its graphs stay valid
            self._graph_runner = cuda_graphs.GraphedStep(
                self, self.train_step, warn=jit is True or env is True)
        step = dist.wrap_train_function(self, self.train_step, runner=self._graph_runner)
        return lambda data: step((input_list(data[0]),) + tuple(data[1:]))

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

    def _prepare(self, x, y, sample_weight=None, class_weight=None, need_y=True, call=None,
                 allow_empty=False):
        """Checked host arrays ``(inputs, targets, weights, samples)`` from user data.

        ``call`` names the front end in errors (``'fit'``; ``'fit_generator'`` for a
        batch a generator yielded); with ``need_y`` (training, evaluation) data without
        samples is refused before anything is built or changed, unless ``allow_empty``
        (a rank's empty share of a sharded Sequence's last batch).
        """
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
        if need_y and not allow_empty:
            _refuse_no_samples(xs[0], call)
        if not self.built:
            first = data_mod.as_host_array(xs[0], "Input data")
            # a 1-D x is one feature per sample (Keras 2)
            self.build((None,) + (tuple(first.shape[1:]) if first.ndim != 1 else (1,)))
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

    def _check_stateful_batch(self, n, batch_size, ranks=1):
        """The batch size to use with a model built for a fixed batch (else
        ``batch_size``); ``ranks`` processes of fit each take one fixed batch per step,
        so the global batch is ``ranks`` times the fixed one."""
        fixed = self._fixed_batch_size()
        if fixed is None:
            return batch_size
        fixed *= ranks
        if batch_size is not None and batch_size != fixed and self._has_stateful():
            raise ValueError(
                f"The model was built with a fixed batch size of {fixed} (batch_input_shape"
                + (f"; {fixed // ranks} on each of {ranks} ranks" if ranks > 1 else "") + "), "
                f"but fit/evaluate/predict received batch_size={batch_size}. Pass "
                f"batch_size={fixed}.")
        if self._has_stateful() and n % fixed != 0:
            raise ValueError(
                f"In a stateful network, you should only pass inputs with a number of samples "
                f"that can be divided by the batch size. Found: {n} samples. Batch size: "
                f"{fixed}. Trim the data to a multiple of {fixed} samples.")
        return fixed

    # ------------------------------------------------------------------ loops
    def _fit_loop(self, batches, epochs, initial_epoch, callbacks, validation=None):
        """The training loop behind ``fit`` and ``fit_generator``.

        Args:
            batches: an EpochIterator of training batches.
            epochs, initial_epoch: run the epochs ``initial_epoch .. epochs - 1``.
            callbacks: the CallbackList of :meth:`_callback_list`.
            validation: an EpochIterator of validation batches, or None.

        Returns:
            ``self.history``.
        """
        dist = self._distribution          # looked up once: it reads MPI's environment
        dist.begin_fit(self)
        train = self._train_function()
        self.stop_training = False
        callbacks.on_train_begin()
        try:
            for epoch in range(initial_epoch, epochs):
                callbacks.on_epoch_begin(epoch)
                for step, data in batches.epoch():
                    logs = MetricDict(batch=step, size=batch_size_of(data))
                    callbacks.on_batch_begin(step, logs)
                    logs.update(dist.host_logs(self._guard_oom(train, data)))
                    callbacks.on_batch_end(step, logs)
                    self.stop_training = dist.any_rank(self.stop_training)
                    if self.stop_training:
                        break
                epoch_logs = MetricDict()
                if validation is not None and not self.stop_training:
                    epoch_logs = MetricDict(("val_" + k, v) for k, v in self._test_loop(
                        validation, combine=dist.sum_totals).items())
                callbacks.on_epoch_end(epoch, epoch_logs)
                self.stop_training = dist.any_rank(self.stop_training)
                if self.stop_training or batches.exhausted:
                    break
        finally:
            callbacks.on_train_end()
            _close(batches, validation)
        return self.history

    def _test_loop(self, batches, progress=None, combine=None):
        """Loss and metrics over one epoch of ``batches`` (an EpochIterator), averaged
        over the samples; ``progress(step, samples_seen)`` is called after each batch;
        ``combine(totals, seen)`` (validation under several ranks) sums the totals over
        the ranks before the average."""
        totals, seen = {}, 0
        for step, data in batches.epoch():
            n = batch_size_of(data)
            if n == 0:              # a rank's empty share of a short last batch
                continue
            logs = self._guard_oom(self.test_step, data)
            for k, v in logs.items():
                totals[k] = totals.get(k, 0.0) + v * n
            seen += n
            if progress is not None:
                progress(step, seen)
        if combine is not None:
            totals, seen = combine(totals, seen)
        if not totals:
            raise ValueError("The data to evaluate yielded no batch at all (a generator that "
                             "has ended, e.g. used up by an earlier call, or steps=0). Pass a "
                             "generator that loops forever (`while True:`), or a Sequence.")
        return {k: _host_float(v) / max(seen, 1) for k, v in totals.items()}

    def _predict_loop(self, batches, progress=None):
        """The outputs for one epoch of ``batches``, concatenated in a NumPy array."""
        outs, seen = [], 0
        for step, data in batches.epoch():
            outs.append(dispatch.to_host(self._guard_oom(self.predict_step, data)))
            seen += batch_size_of(data)
            if progress is not None:
                progress(step, seen)
        if not outs:
            shp = self._output_shape_or_none() or (None,)
            return numpy.zeros((0,) + tuple(d or 0 for d in shp[1:]), dtype="float32")
        return numpy.concatenate(outs, axis=0)

    # ------------------------------------------------------------- batch sources
    def _array_batches(self, xs, y, sw, batch_size, shuffle=False, steps=None,
                       restart=False, sharding=None):
        """An EpochIterator over checked arrays (moved to the device when they fit);
        ``sharding`` (fit under several ranks) cuts every global batch to this rank's
        share."""
        adapter = self._guard_oom(data_adapters.ArrayAdapter, xs, y, sw, batch_size, shuffle,
                                  sharding)
        return EpochIterator(adapter, steps=steps, restart=restart)

    def _generator_batches(self, source, steps, samples, missing_steps, class_weight=None,
                           shuffle=False, workers=1, use_multiprocessing=False,
                           max_queue_size=10, predict=False, call=None, training=False):
        """An EpochIterator over a generator or a Sequence; every batch is checked as
        fit() checks arrays. ``missing_steps`` is the error when a plain generator comes
        without a number of steps (or Keras 1 samples). ``training`` under several
        ranks: the ranks vote before each batch and end an epoch together (a rank
        whose data ends first would otherwise leave the others in the step's
        allreduce)."""
        if steps is None and samples is None and not data_adapters.is_sequence(source):
            raise ValueError(missing_steps)
        if predict:
            def prepare(x, y, sw):
                return self._prepare(x, None, need_y=False)[:3]
        else:
            # a rank's shard of a Sequence may end in an empty batch by construction
            # (see gpuseq.distribute.ShardedSequence): that one is not the user's mistake
            empty_ok = getattr(source, "yields_empty_shares", False)

            def prepare(x, y, sw):
                return self._prepare(x, y, sw, class_weight, call=call,
                                     allow_empty=empty_ok)[:3]
        adapter = data_adapters.generator_adapter(source, prepare, workers,
                                                  use_multiprocessing, max_queue_size,
                                                  shuffle, predict)
        dist = self._distribution
        if training and dist.size > 1:
            return EpochIterator(adapter, steps=steps, samples=samples,
                                 agree=dist.all_ranks, warn=dist.rank == 0)
        return EpochIterator(adapter, steps=steps, samples=samples)

    def _split_off_validation(self, xs, yy, sw, validation_data, validation_split):
        """``(training arrays, validation arrays or None)`` from fit's arguments."""
        if validation_data is not None:
            vx, vy, vsw = _validation_tuple(validation_data)
            return (xs, yy, sw), self._prepare(vx, vy, vsw, None,
                                               call="fit (validation_data)")[:3]
        if validation_split and validation_split > 0:
            train, val = data_mod.split_validation(xs + [yy, sw], validation_split)
            k = len(xs)
            return (train[:k], train[k], train[k + 1]), (val[:k], val[k], val[k + 1])
        return (xs, yy, sw), None

    # -------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            **kwargs):
        """Train the model for ``epochs`` epochs (Keras 2 semantics).

        Args:
            x: input array (or list of arrays for a multi-input model); a 1-D array
                is one feature per sample, shape ``(n, 1)``, as in Keras 2.
            y: target array.
            batch_size: samples per gradient update (default 32); under several MPI
                ranks (``gpuseq-run -n N``) the global batch, split over the ranks.
            epochs: index of the final epoch (training runs from initial_epoch).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
            callbacks: list of Callback instances (a single callback is refused
                with a TypeError: pass ``[callback]``).
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
        epochs = _keras1_epochs("fit", epochs, kwargs)
        _check_callbacks(callbacks)
        self._require_compiled("training the model")
        _check_fit_arguments(verbose, epochs, shuffle)
        verbose = self._distribution.local_verbose(verbose)
        batch_size = _check_batch_size(batch_size)
        xs, yy, sw, _ = self._prepare(x, y, sample_weight, class_weight, call="fit")
        (xs, yy, sw), val_arrays = self._split_off_validation(xs, yy, sw, validation_data,
                                                              validation_split)
        n, n_val = int(xs[0].shape[0]), val_arrays and int(val_arrays[0][0].shape[0])
        ranks = self._distribution.size
        batch_size = self._check_stateful_batch(n, batch_size, ranks) or 32
        if val_arrays is not None:
            self._check_stateful_batch(n_val, batch_size, ranks)
        shard = self._distribution
        batches = self._array_batches(xs, yy, sw, batch_size, shuffle, steps_per_epoch,
                                      sharding=shard)
        val_batches = None if val_arrays is None else self._array_batches(
            *val_arrays, batch_size, steps=validation_steps, restart=True, sharding=shard)
        callbacks = self._callback_list(
            callbacks, verbose, "steps" if steps_per_epoch else "samples",
            {"batch_size": batch_size, "epochs": epochs, "steps": steps_per_epoch,
             "samples": n, "verbose": verbose, "do_validation": val_arrays is not None},
            validation=val_arrays)
        if val_arrays is not None and verbose:
            print(f"Train on {n} samples, validate on {n_val} samples")
        return self._fit_loop(batches, epochs, initial_epoch, callbacks, val_batches)

    def _callback_list(self, callbacks, verbose, count_mode, params, validation=None):
        """Keras's callback stack: BaseLogger, ProgbarLogger (when verbose), the user's
        callbacks, History; params (with the log names) are set before training begins,
        and every callback gets ``validation_data`` as Keras gives it."""
        self.history = cbks.History()
        cb_list = [cbks.BaseLogger(stateful_metrics=[])]
        if verbose:
            cb_list.append(cbks.ProgbarLogger(count_mode=count_mode, stateful_metrics=[]))
        cb_list += self._distribution.local_callbacks(list(callbacks or [])) + [self.history]
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


    # --------------------------------------------------------- evaluate / predict
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
        xs, yy, sw, n = self._prepare(x, y, sample_weight, None, call="evaluate")
        batch_size = self._check_stateful_batch(n, batch_size) or 32
        batches = self._array_batches(xs, yy, sw, batch_size, steps=steps, restart=True)
        vals = self._test_loop(batches, _progress_bar(verbose, n, steps))
        return _as_outputs(vals, self.metrics_names)

    def predict(self, x, batch_size=None, verbose=0, steps=None):
        """Model outputs for the input samples, as a NumPy array."""
        _check_verbose(verbose)
        batch_size = _check_batch_size(batch_size)
        xs, _, _, n = self._prepare(x, None, need_y=False)
        batch_size = self._check_stateful_batch(n, batch_size) or 32
        batches = self._array_batches(xs, None, None, batch_size, steps=steps, restart=True)
        return self._predict_loop(batches, _progress_bar(verbose, n, steps))

    # ------------------------------------------------------------- one batch
    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient update on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("training the model")
        xs, yy, sw, n = self._prepare(x, y, sample_weight, class_weight,
                                      call="train_on_batch")
        self._check_stateful_batch(n, None)
        logs = self._guard_oom(lambda: self._train_function()(on_device(xs, yy, sw)))
        return _as_outputs(logs, self.metrics_names)

    def test_on_batch(self, x, y, sample_weight=None):
        """Loss (and metrics) of one batch, without updating the weights."""
        self._require_compiled("evaluating the model")
        xs, yy, sw, _ = self._prepare(x, y, sample_weight, None, call="test_on_batch")
        logs = self._guard_oom(lambda: self.test_step(on_device(xs, yy, sw)))
        return _as_outputs(logs, self.metrics_names)

    def predict_on_batch(self, x):
        """Model outputs for one batch of inputs, as a NumPy array."""
        xs, _, _, _ = self._prepare(x, None, need_y=False)
        out = self._guard_oom(lambda: self.predict_step(on_device(xs, None, None)))
        return dispatch.to_host(out)

    # ----------------------------------------------------------- generators
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      class_weight=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, shuffle=True, initial_epoch=0, **kwargs):
        """Train on batches yielded by a Python generator or a ``Sequence``.

        The generator yields ``(x, y)`` or ``(x, y, sample_weight)`` (tuples or lists)
        forever; one that ends early ends training with a warning. A batch without
        samples, or a Sequence of length 0, is refused with a ValueError.
        ``workers`` threads (0: the calling thread) read up to ``max_queue_size``
        batches ahead; with ``use_multiprocessing=True`` a Sequence is read by
        ``workers`` processes instead (started anew each epoch, after
        ``on_epoch_end``; ``__getitem__`` must prepare NumPy batches and never touch
        the GPU), while a plain generator stays in threads (with a warning).
        ``shuffle`` visits a Sequence's batches in a new order each pass.
        Under several MPI ranks a Sequence is read in shards (rank r reads its batches
        r, r + N, ...: N of them make one step), while a plain generator is per-rank
        data: each rank trains on what its own generator yields. The ranks vote before
        each batch, so that they end every epoch at the same step: when one rank's
        generator ends (or its ``samples_per_epoch`` count is reached) first, every rank
        ends the epoch there (and training, when a generator ended).
        Keras 1 arguments: ``samples_per_epoch`` (an epoch ends once that many
        samples were drawn), ``nb_epoch``, ``nb_val_samples``, ``nb_worker``,
        ``pickle_safe``, ``max_q_size``.
        """
        samples_per_epoch, nb_val_samples, reading = _keras1_generator_arguments(
            generator, kwargs, epochs=epochs, workers=workers,
            use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        epochs = reading.pop("epochs")
        _check_callbacks(callbacks)
        self._require_compiled("training the model")
        _check_verbose(verbose)
        verbose = self._distribution.local_verbose(verbose)
        generator = self._distribution.shard_source(generator)
        if _is_batch_source(validation_data):
            validation_data = self._distribution.shard_source(validation_data)
        batches = self._generator_batches(
            generator, steps_per_epoch, samples_per_epoch,
            "fit_generator needs steps_per_epoch (batches per epoch) when the generator is "
            "not a Sequence with a length.", class_weight, shuffle, call="fit_generator",
            training=True, **reading)
        val_batches = val_arrays = None
        if _is_batch_source(validation_data):
            val_batches = self._generator_batches(
                validation_data, validation_steps, nb_val_samples,
                "validation_steps is required when validation_data is a generator.",
                call="fit_generator", **reading)
        try:
            # the first batch builds a model that has no input shape yet, so that the
            # metric names are known when the callbacks are set up
            batches.peek()
            if validation_data is not None and val_batches is None:
                vx, vy, vsw = _validation_tuple(validation_data)
                val_arrays = self._prepare(vx, vy, vsw, None,
                                           call="fit_generator (validation_data)")[:3]
                val_batches = self._array_batches(*val_arrays, 32, restart=True,
                                                  sharding=self._distribution)
            callbacks = self._callback_list(
                callbacks, verbose, "steps" if samples_per_epoch is None else "samples",
                {"epochs": epochs, "steps": batches.steps, "samples": samples_per_epoch,
                 "verbose": verbose, "do_validation": validation_data is not None},
                validation=val_arrays)
        except BaseException:
            _close(batches, val_batches)
            raise
        return self._fit_loop(batches, epochs, initial_epoch, callbacks, val_batches)

    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0, **kwargs):
        """Loss and metrics over ``steps`` batches of a generator (or a whole Sequence)."""
        val_samples = kwargs.pop("val_samples", None)
        if kwargs:
            raise TypeError(f"evaluate_generator() got unexpected keyword argument(s) "
                            f"{sorted(kwargs)}.")
        self._require_compiled("evaluating the model")
        _check_verbose(verbose)
        batches = self._generator_batches(
            generator, steps, val_samples,
            "evaluate_generator needs `steps` for a plain generator.", workers=workers,
            use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size,
            call="evaluate_generator")
        try:
            batches.peek()          # a generator that yields nothing is an error here
            vals = self._test_loop(batches, _progress_bar(verbose, val_samples, batches.steps))
        finally:
            batches.close()
        return _as_outputs(vals, self.metrics_names)

    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0):
        """Concatenated predictions over ``steps`` batches (x, or (x, y) tuples)."""
        _check_verbose(verbose)
        batches = self._generator_batches(
            generator, steps, None, "predict_generator needs `steps` for a plain generator.",
            workers=workers, use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size, predict=True)
        try:
            batches.peek()          # a generator that yields nothing is an error here
            return self._predict_loop(batches, _progress_bar(verbose, None, batches.steps))
        finally:
            batches.close()


def _step_mask(out_mask, y_pred):
    """The output mask when it rescales the loss per time step (see
    :meth:`Model._reduce_loss`: the batch loss is then an average over the unmasked
    steps), else None."""
    if out_mask is not None and out_mask.ndim == y_pred.ndim - 1:
        return out_mask
    return None


def _close(*iterators):
    for it in iterators:
        if it is not None:
            it.close()


def _as_outputs(logs, names):
    """Keras's return value of evaluate / *_on_batch: the loss alone, or a list
    ``[loss, metric1, ...]`` in the order of ``names``; floats on the host."""
    out = [_host_float(logs[k]) for k in names]
    return out[0] if len(out) == 1 else out


def _progress_bar(verbose, samples, steps):
    """``progress(step, seen)`` drawing a Keras progress bar over ``steps`` batches (when
    known) or ``samples`` samples; None unless ``verbose == 1``."""
    if verbose != 1:
        return None
    if steps is not None:
        bar = Progbar(target=steps, verbose=1)
        return lambda step, seen: bar.update(step + 1)
    bar = Progbar(target=samples, verbose=1)
    return lambda step, seen: bar.update(seen)


def _is_batch_source(data):
    """True for a generator or a Sequence (validation data that is not arrays)."""
    return data_adapters.is_sequence(data) or hasattr(data, "__next__")


def _validation_tuple(validation_data):
    """``(x_val, y_val, sample_weight_val or None)`` from fit's ``validation_data``."""
    if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
        length = len(validation_data) if hasattr(validation_data, "__len__") else "?"
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         f"val_sample_weight). Received: {type(validation_data).__name__} "
                         f"of length {length}.")
    return validation_data[0], validation_data[1], \
        (validation_data[2] if len(validation_data) == 3 else None)


def _keras1_epochs(fn, epochs, kwargs):
    """``epochs``, or Keras 1's ``nb_epoch`` (with the warning); other keywords refused."""
    if "nb_epoch" in kwargs:
        epochs = kwargs.pop("nb_epoch")
        warn_modern_call(fn, (), {"epochs": epochs}, ["epochs"])
    if kwargs:
        raise TypeError(f"{fn}() got unexpected keyword argument(s) {sorted(kwargs)}.")
    return epochs


_KERAS1_GENERATOR_NAMES = (("nb_epoch", "epochs"), ("nb_worker", "workers"),
                           ("pickle_safe", "use_multiprocessing"),
                           ("max_q_size", "max_queue_size"))


def _keras1_generator_arguments(generator, kwargs, **args):
    """fit_generator's Keras 1 keywords, popped from ``kwargs`` with Keras 2's warnings.

    Returns:
        ``(samples_per_epoch, nb_val_samples, args)``: ``args`` (epochs, workers,
        use_multiprocessing, max_queue_size) with the Keras 1 values put in.
    """
    samples_per_epoch = kwargs.pop("samples_per_epoch", None)
    nb_val_samples = kwargs.pop("nb_val_samples", None)
    legacy = {new: kwargs.pop(old) for old, new in _KERAS1_GENERATOR_NAMES if old in kwargs}
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
            "meaning.", UserWarning, stacklevel=3)
    return samples_per_epoch, nb_val_samples, dict(args, **legacy)


def _refuse_no_samples(x, call):
    """ValueError when the input array ``x`` holds no samples (training / evaluation)."""
    shape = tuple(getattr(x, "shape", ())) or \
        ((len(x),) if isinstance(x, (list, tuple)) else ())
    if not shape or shape[0] != 0:
        return
    call = call or "The model"
    if call.endswith("(validation_data)"):
        raise ValueError(f"{call.split()[0]} received no samples in validation_data (x of "
                         f"shape {tuple(shape)}). Pass validation data with at least one "
                         "sample, or leave validation_data out.")
    if call.endswith("_generator"):
        raise ValueError(f"{call} received a batch with no samples (x of shape "
                         f"{tuple(shape)}) from the generator or Sequence. Every batch needs "
                         "at least one sample: check how the batches are cut from the data.")
    raise ValueError(f"{call} received no samples (x of shape {tuple(shape)}). It needs at "
                     "least one sample: check how the data was loaded or sliced.")


def _check_callbacks(callbacks):
    """TypeError unless ``callbacks`` is None or a list (tuple) of callback objects."""
    if callbacks is None:
        return
    if not isinstance(callbacks, (list, tuple)):
        what = type(callbacks).__name__
        if hasattr(callbacks, "set_model"):
            raise TypeError(f"callbacks must be a list of Callback instances, but received a "
                            f"single {what}. Pass callbacks=[{what}(...)]. Received: "
                            f"callbacks={callbacks!r}")
        raise TypeError("callbacks must be a list of Callback instances, e.g. "
                        f"callbacks=[EarlyStopping()]. Received: callbacks={callbacks!r}")
    for i, cb in enumerate(callbacks):
        if isinstance(cb, type):
            raise TypeError(f"callbacks[{i}] is the class {cb.__name__}, not an instance of it. "
                            f"Pass {cb.__name__}(...). Received: callbacks={callbacks!r}")
        missing = [m for m in ("set_model", "set_params") if not hasattr(cb, m)]
        if missing:
            raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) is not a Callback: it has no "
                            f"{' or '.join(missing)}. Pass instances of gpuseq.callbacks."
                            "Callback subclasses. Received: "
                            f"callbacks={callbacks!r}")


def _check_metrics_type(name, metrics):
    """TypeError, as Keras 2, unless ``metrics`` is None, a list (tuple) or a dict."""
    if metrics is None or isinstance(metrics, (list, tuple, dict)):
        return
    raise TypeError(f"Type of `{name}` argument not understood. Expected a list of metric "
                    f"names or functions (or a dict keyed by output name), e.g. "
                    f"{name}=[{getattr(metrics, '__name__', None) or repr(metrics)}]. "
                    f"Received: {name}={metrics!r}")


def _check_fit_arguments(verbose, epochs, shuffle):
    _check_verbose(verbose)
    if not isinstance(epochs, (int, numpy.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer. Received: epochs={epochs!r}")
    if shuffle not in (True, False, "batch"):
        raise ValueError(f"shuffle must be True, False or 'batch'. Received: "
                         f"shuffle={shuffle!r}")


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
