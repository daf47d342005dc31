"""Training steps replayed as CUDA graphs (CuPy backend).

On the GPU a small model's training step is bound by host time: every op costs
Python and CuPy dispatch (tens of microseconds) while its kernel runs for a few.
A CUDA graph records the launches of one step once and replays them with one
call. :class:`GraphedTrainStep` does this for ``fit`` and ``train_on_batch``
on the GPU: by default (``jit_compile='auto'``, Keras 3's default), with
``model.compile(..., jit_compile=True)`` or with ``GPUSEQ_CUDA_GRAPHS=1``.
``jit_compile=False`` keeps every step eager, and ``GPUSEQ_CUDA_GRAPHS=0`` switches
the default off (``jit_compile=True`` still asks for graphs)::

    model.compile(optimizer='rmsprop', loss='binary_crossentropy')
    model.fit(x, y, batch_size=16, epochs=10)     # same results, fewer host calls

How a step is replayed:

* Per batch shape (the last, smaller batch of an epoch is a shape of its own),
  the first step runs eagerly: it compiles the kernels and creates lazily built
  state (the optimizer's slots). The next step of that shape is captured: the
  batch goes into static input buffers, and the whole eager step (forward, tape,
  backward, optimizer updates, loss and metrics) runs once on a capturing
  stream, with every temporary drawn from a memory pool of its own, so that no
  other allocation ever gets an address the graph writes to.
* Per-step scalars (the decayed learning rate, Adam's bias correction) are not
  baked into the graph: the update kernels read them from a small device buffer
  (``cupy_ops.optimizer_updates.device_scalars``) that the host refreshes with
  one launch before each replay. Dropout draws from CuPy's generator, whose
  state lives on the device and advances with each replay.
* Before a graph is trusted it is checked: from the same starting state, two
  replays and two eager steps must give the same weights, optimizer state and
  loss. Then the state is put back and the step is taken once for real. Any
  error while capturing or checking, or a mismatch, switches the graphs off for
  the model (with a warning that says why when they were asked for explicitly);
  training goes on eagerly.
* A replay copies the batch into the static inputs, writes the scalars,
  launches the graph on the null stream and copies the loss and metric values
  out (the graph's own outputs are overwritten by the next replay).
* The graphs are dropped when anything they read moved: a weight, an optimizer
  slot or the random generator replaced (recompiling, changing ``trainable``,
  ``set_seed``), or a learning-rate schedule whose scalars no longer share the
  captured layout.

Not replayed (eager steps, no warning): models with a stateful recurrent layer,
a layer drawing from its own seeded host generator (``Dropout(seed=...)``), an
Embedding anywhere but first (a first Embedding's indices are range-checked on
each batch before the replay, as the eager layer checks them), an optimizer
outside gpuseq's built-in rules, or the NumPy backend. A device constant met
for the first time while capturing (its host-to-device copy could not be
replayed) makes the capture fail, and the model train on eagerly.
"""
import os
import warnings

import numpy

from .. import random as grandom
from ..backend import autodiff as ad
from ..backend import dispatch
from ..backend import functions as K
from ..backend import session

_SUPPORTED_OPTIMIZERS = ("SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "Adamax", "Nadam")
_ENV = "GPUSEQ_CUDA_GRAPHS"


def env_setting():
    """``GPUSEQ_CUDA_GRAPHS``: True (1/true/yes/on), False (0/false/no/off) or None
    (unset: graphs follow ``jit_compile``, whose default 'auto' uses them on the GPU)."""
    value = os.environ.get(_ENV, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "auto"):
        return None
    raise ValueError(f"{_ENV} must be 1/true/yes/on or 0/false/no/off (or unset: graphs "
                     f"on the GPU unless compile(jit_compile=False)). Received: "
                     f"{_ENV}={value!r}")


def check_jit_compile(value):
    """Validate ``compile(jit_compile=...)``: None or 'auto' (follow the environment),
    True or False."""
    if value is None or value is True or value is False or value == "auto":
        return value
    raise ValueError("jit_compile must be True, False, 'auto' or None (True replays training "
                     "steps as CUDA graphs on the GPU). Received: "
                     f"jit_compile={value!r}")


class CupyGraphs:
    """Capture and launch on CuPy: a capturing stream and a private memory pool.

    Args:
        limit_bytes: the session's GPU memory limit (``K.set_gpu_memory_fraction``),
            or None/0 for none. The private pool and the default pool then share it:
            the private pool gets what the default pool does not hold when a step is
            captured, and the default pool's limit is lowered by what the private
            pool holds afterwards.
    """

    def __init__(self, limit_bytes=None):
        import cupy
        self.cupy = cupy
        self.stream = cupy.cuda.Stream(non_blocking=True)
        self.pool = cupy.cuda.MemoryPool()
        self.limit = int(limit_bytes) if limit_bytes else None

    def capture(self, fn):
        """Record ``fn()``'s launches (nothing runs); returns (graph, fn's result)."""
        cupy = self.cupy
        default = cupy.get_default_memory_pool()
        if self.limit is not None:
            default.free_all_blocks()
            room = self.limit - default.total_bytes() - self.pool.total_bytes()
            if room <= 0:
                raise MemoryError("no GPU memory is left under the session's memory limit "
                                  "for the buffers of a captured step")
            self.pool.set_limit(size=self.pool.total_bytes() + room)
        # capturing runs nothing: the graph's launches are ordered after the work that
        # wrote its inputs by being launched on that work's stream (see launch)
        with cupy.cuda.using_allocator(self.pool.malloc):
            with self.stream:
                self.stream.begin_capture()
                try:
                    result = fn()
                except BaseException:
                    try:            # the step's own error says more than the capture's
                        self.stream.end_capture()
                    except Exception:
                        pass
                    raise
                graph = self.stream.end_capture()
        if self.limit is not None:
            default.set_limit(size=max(self.limit - self.pool.total_bytes(), 1))
        return graph, result

    def launch(self, graph):
        # the current stream: where the batch was copied in and the scalars written
        graph.launch(self.cupy.cuda.get_current_stream())

    def copy(self, a):
        return a.copy()

    def release(self):
        self.pool.free_all_blocks()
        if self.limit is not None:
            self.cupy.get_default_memory_pool().set_limit(size=self.limit)


class _Entry:
    """One captured step: static inputs, the graph, its outputs, the scalar layout."""

    def __init__(self, xs, y, sw):
        self.inputs = [x.copy() for x in xs]
        self.y = y.copy()
        self.sw = None if sw is None else sw.copy()
        self.graph = None
        self.outs = None
        self.offsets = None      # per update call: offset of its scalars in the buffer
        self.sizes = None        # per update call: number of scalars
        self.buffer = None       # float64 device array of the scalars
        self.capture_sink = None  # the sink of the capture run (assigns the offsets)
        self.keep = ()            # device constants the graph reads (the cache may evict them)

    def sink(self):
        """The sink a run of the step function hands its scalars to."""
        from ..backend.cupy_ops import optimizer_updates as upd
        if self.capture_sink is not None:
            return self.capture_sink
        return upd.ScalarSink(self.buffer, offsets=self.offsets)


class _Stale(Exception):
    """The optimizer's scalars no longer fit the captured layout."""


def _address(a):
    if type(a).__module__.startswith("cupy"):
        return (a.data.ptr, a.shape)
    return (a.__array_interface__["data"][0], a.shape)


def _batch_key(xs, y, sw):
    def k(a):
        return None if a is None else (tuple(a.shape), a.dtype.str)
    return tuple(k(x) for x in xs), k(y), k(sw)


class GraphedTrainStep:
    """``model._train_step`` with CUDA-graph replay (see the module docstring).

    Args:
        model: a compiled gpuseq model.
        api: the capture/launch implementation (default: :class:`CupyGraphs`).
        warn: warn when the graphs are switched off after a failed capture or check
            (when they were asked for explicitly); otherwise only ``failed`` says why.

    Call it like ``model._train_step(xs, y, sw)``; it returns the same logs.
    """

    WARMUP = 1      # eager steps per batch shape before its capture
    RTOL, ATOL = 1e-5, 1e-6

    def __init__(self, model, api=None, warn=True):
        self.model = model
        self.api = api
        self.warn = warn
        self.entries = {}
        self.seen = {}
        self.state_key = None
        self.ineligible = None     # why the current model cannot be replayed (or None)
        self.failed = None         # why graphs were switched off after a failed check
        self.captures = 0
        self.replays = 0

    # ------------------------------------------------------------------ state
    def _params(self):
        return self.model._trainable_variables()

    def _state_arrays(self):
        """Every device array a step changes: weights, optimizer slots, generator state."""
        m, opt = self.model, self.model.optimizer
        out = [w.data for w in list(m.trainable_weights) + list(m.non_trainable_weights)]
        for slots in opt._slots.values():
            out.extend(a for a in slots.values() if a is not None)
        g = self._device_generator()
        state = getattr(getattr(g, "bit_generator", None), "_state", None)
        if state is not None:
            out.append(state)
        return out

    @staticmethod
    def _device_generator():
        """The device's generator when one exists (looking creates none: creating it
        draws from the host generator, which would change the shuffling)."""
        xp = dispatch.xp()
        if xp is numpy:
            return None
        return grandom._state["device"].get(xp.cuda.runtime.getDevice())

    def _host_state(self):
        opt = self.model.optimizer
        host = {k: v for k, v in vars(opt).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}
        rng = grandom.rng().bit_generator.state if dispatch.xp() is numpy else None
        return host, rng

    def _set_host_state(self, saved):
        host, rng = saved
        vars(self.model.optimizer).update(host)
        if rng is not None:
            grandom.rng().bit_generator.state = rng

    def snapshot(self):
        """(device copies of the state arrays, host state) to :meth:`restore` later."""
        return [a.copy() for a in self._state_arrays()], self._host_state()

    def restore(self, snap):
        arrays, host = snap
        for a, s in zip(self._state_arrays(), arrays):
            a[...] = s
        self._set_host_state(host)

    def _current_state_key(self):
        m, opt = self.model, self.model.optimizer
        parts = [id(opt), id(m._loss_fn), tuple(id(s) for s in m._metric_specs),
                 tuple(id(p) for p in self._params()), id(opt._flat),
                 id(self._device_generator()), id(grandom.rng())]
        parts.extend(_address(a) for a in self._state_arrays())
        if opt._flat is not None:
            parts.extend(_address(grp.grad) for grp in opt._flat[1])
        # values a capture bakes in (the learning rate and the other scalars of the
        # updates are read from the scalar buffer instead)
        parts.append((opt.clipnorm, opt.clipvalue, getattr(opt, "nesterov", None),
                      getattr(opt, "amsgrad", None), K.epsilon(), K.floatx(),
                      session.tf32_enabled(), session.conv_algorithm()))
        for layer in m._all_layers():
            parts.append((getattr(layer, "rate", None), getattr(layer, "momentum", None),
                          getattr(layer, "trainable", None)))
        return tuple(parts)

    def _why_ineligible(self):
        m, opt = self.model, self.model.optimizer
        backend = dispatch.backend()
        if backend != "cupy" and not (backend == "emulated" and self.api is not None):
            return f"the active backend is {backend}, not the GPU"
        if type(opt).__name__ not in _SUPPORTED_OPTIMIZERS or \
                type(opt).__module__ != "gpuseq.optimizers":
            return f"the optimizer {type(opt).__name__} is not one of gpuseq's built-in rules"
        for layer in m._all_layers():
            if getattr(layer, "stateful", False):
                return f"layer '{layer.name}' is stateful"
            if type(layer).__name__ == "Embedding" and layer is not m.layers[0]:
                return (f"layer '{layer.name}' (Embedding) is not the model's first layer: "
                        "its indices could only be checked inside the step")
            if getattr(layer, "_rng", None) is not None:
                return (f"layer '{layer.name}' draws its random numbers from its own seeded "
                        "host generator")
        return None

    def _check_indices(self, xs):
        """Range-check the batch's indices of a first-layer Embedding before a replay
        (inside a captured step the layer cannot: see cupy_ops.embedding)."""
        first = self.model.layers[0] if self.model.layers else None
        if type(first).__name__ == "Embedding":
            from ..backend.cupy_ops.embedding import _flat_ids
            _flat_ids(xs[0], first.input_dim)          # the eager layer's check and error

    def _drop(self):
        self.entries.clear()
        self.seen.clear()
        if self.api is not None:
            self.api.release()

    # ------------------------------------------------------------------ steps
    def __call__(self, xs, y, sw):
        m = self.model
        if self.failed is not None:
            return m._train_step(xs, y, sw)
        key = self._current_state_key()
        if key != self.state_key:
            self._drop()
            self.state_key = key
            self.ineligible = self._why_ineligible()
        if self.ineligible is not None:
            return m._train_step(xs, y, sw)
        bkey = _batch_key(xs, y, sw)
        entry = self.entries.get(bkey)
        if entry is not None:
            try:
                self._check_indices(xs)
                return self._replay(entry, xs, y, sw)
            except _Stale:
                del self.entries[bkey]
                self.seen[bkey] = 0
                return m._train_step(xs, y, sw)
        n = self.seen[bkey] = self.seen.get(bkey, 0) + 1
        if n <= self.WARMUP:
            return m._train_step(xs, y, sw)
        return self._capture(bkey, xs, y, sw)

    def _api(self):
        if self.api is None:
            self.api = CupyGraphs(session.gpu_memory_limit_bytes())
        return self.api

    def _step_function(self, entry):
        from ..backend.cupy_ops import optimizer_updates as upd

        def run():
            capturing = entry.capture_sink is not None
            ad._capture_state["active"] = capturing
            try:
                with upd.device_scalars(entry.sink()):
                    return self.model._train_step(entry.inputs, entry.y, entry.sw)
            finally:
                ad._capture_state["active"] = False
        return run

    def _record_scalars(self):
        from ..backend.cupy_ops import optimizer_updates as upd
        rec = upd.ScalarSink()
        with upd.device_scalars(rec):
            self.model.optimizer._host_step_scalars(self._params())
        return rec

    def _write_scalars(self, entry):
        """This step's scalars into the entry's buffer, at the captured offsets."""
        from ..backend.cupy_ops import optimizer_updates as upd
        rec = self._record_scalars()
        if rec.sizes != entry.sizes:
            raise _Stale()
        values = [None] * entry.buffer.size
        for off, run in zip(entry.offsets, rec.runs()):
            for j, v in enumerate(run):
                cur = values[off + j]
                if cur is None:
                    values[off + j] = v
                elif cur != v and not (cur != cur and v != v):
                    raise _Stale()
        upd.store_scalars(entry.buffer, [0.0 if v is None else v for v in values])

    def _replay(self, entry, xs=None, y=None, sw=None):
        if xs is not None:
            for dst, src in zip(entry.inputs, xs):
                dst[...] = src
            entry.y[...] = y
            if sw is not None:
                entry.sw[...] = sw
        opt = self.model.optimizer
        self._write_scalars(entry)
        self.api.launch(entry.graph)
        opt._end_step()
        opt.iterations += 1
        self.replays += 1
        return {k: self.api.copy(v) for k, v in entry.outs.items()}

    def _capture(self, bkey, xs, y, sw):
        from ..backend.cupy_ops import optimizer_updates as upd
        m = self.model
        api = self._api()
        snap = None
        try:
            entry = _Entry(xs, y, sw)
            snap = self.snapshot()
            rec = self._record_scalars()
            self._set_host_state(snap[1])
            entry.buffer = dispatch.xp().zeros((max(len(rec.values), 1),), dtype="float64")
            entry.capture_sink = upd.ScalarSink(entry.buffer)
            entry.graph, entry.outs = api.capture(self._step_function(entry))
            entry.keep = tuple(ad._device_scalars.values())
            entry.offsets = list(entry.capture_sink.offsets)
            entry.sizes = list(entry.capture_sink.sizes)
            entry.capture_sink = None
            # capturing ran the host part of a step: start again from the snapshot
            self._set_host_state(snap[1])
            for _ in range(2):
                graph_logs = self._replay(entry)
            graph_state = [a.copy() for a in self._state_arrays()]
            self.restore(snap)
            for _ in range(2):
                eager_logs = m._train_step(entry.inputs, entry.y, entry.sw)
            problem = self._compare(graph_state, graph_logs, eager_logs)
            self.restore(snap)
        except Exception as e:   # any capture error: train on eagerly
            problem = f"capturing the step failed ({type(e).__name__}: {e})"
            if snap is not None:
                self.restore(snap)
        except BaseException:    # an interrupt: leave the model as before this step
            if snap is not None:
                self.restore(snap)
            raise
        if problem is not None:
            self._switch_off(problem)
            return m._train_step(xs, y, sw)
        self.entries[bkey] = entry
        self.captures += 1
        return self._replay(entry, xs, y, sw)

    def _compare(self, graph_state, graph_logs, eager_logs):
        """None when the replayed and the eager steps agree, else what differs."""
        xp = dispatch.xp()
        names = [f"state array {i}" for i in range(len(graph_state))]
        pairs = list(zip(names, graph_state, self._state_arrays()))
        for k in eager_logs:
            pairs.append((f"the logged '{k}'", graph_logs.get(k), eager_logs[k]))
        for name, a, b in pairs:
            if a is None:
                return f"{name} is missing from the replayed step"
            a, b = xp.asarray(a), xp.asarray(b)
            if a.shape != b.shape or not bool(xp.allclose(a, b, rtol=self.RTOL,
                                                           atol=self.ATOL, equal_nan=True)):
                return f"{name} differs between the replayed and the eager step"
        return None

    def _switch_off(self, why):
        self.failed = why
        self._drop()
        if self.warn:
            warnings.warn(f"gpuseq: training steps of this model run eagerly, not as CUDA graphs: "
                      f"{why}. Results are unaffected; compile with jit_compile=False to "
                          "skip the attempt.", RuntimeWarning, stacklevel=4)
