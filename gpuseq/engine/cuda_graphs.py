"""Training steps replayed as CUDA graphs (CuPy backend).

On the GPU a small model's training step is bound by host time: every op costs
Python and CuPy dispatch (tens of microseconds) while its kernel runs for a few.
A CUDA graph records the launches of one step once and replays them with one
call. :class:`GraphedStep` wraps a step function ``step_fn(data) -> logs``
(``data = (inputs, targets, sample_weights)``) this way; the engine uses it for
the training step of ``fit`` and ``train_on_batch`` on the GPU: by default (``jit_compile='auto'``, Keras 3's default), with
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
  baked into the graph: the update kernels read them from the optimizer's small
  device buffer, which ``optimizer.prepare_step()`` refreshes with one copy
  before each replay (while capturing it writes nothing); after the launch
  ``optimizer.finish_step()`` counts the step. Dropout draws from CuPy's
  generator, whose state lives on the device and advances with each replay.
* Before a graph is trusted it is checked: from the same starting state, two
  replays and two eager steps must give the same weights, optimizer state and
  loss. Then the state is put back and the step is taken once for real. Any
  error while capturing or checking, or a mismatch, switches the graphs off for
  the model (with a warning that says why when they were asked for explicitly);
  training goes on eagerly.
* A replay checks the batch where the first layer asks for it
  (``layer.check_graph_inputs``), copies it into the static inputs, writes the
  scalars, launches the graph on the current stream and copies the loss and
  metric values out (the graph's own outputs are overwritten by the next replay).
* The graphs are dropped when anything they bake in changes: what the layers
  and the optimizer declare (``layer.graph_key()``, ``optimizer.graph_key()``:
  ``trainable``, a dropout rate, the clipping constants, the addresses of the
  optimizer's slots and scalar buffer), a weight or the random generator
  replaced (recompiling, ``set_seed``), the float type, TF32 or the convolution
  algorithm.

Under several ranks (``gpuseq.distribute``) with the NCCL communicator, the
allreduce of the gradients is part of the step and is captured with it (an NCCL
collective on a capturing stream is recorded and runs at each replay; NCCL 2.9 and
later). The ranks must then capture, check and keep (or drop) a graph together:
:meth:`GraphedStep.mode_for` says what a step would do without doing it, the
strategy lets the ranks vote on it before each step (``may_capture``), and the
runner's ``agree`` makes every rank vote after the capture and after the check;
any "no" drops the graph on every rank. An error after the capture (in the check's
replays or eager steps) is raised there instead of falling back, since the other
ranks are inside the same collectives. The MPI communicator reduces through the
host and keeps steps eager. This multi-rank path has run on the CPU only (the
capture and the collective emulated), not yet on GPUs.

Not replayed (eager steps, no warning), as the layers and the optimizer declare
it (``graph_ineligibility``): models with a stateful recurrent layer, a layer
drawing from its own seeded host generator (``Dropout(seed=...)``), an Embedding
anywhere but first (a first Embedding's indices are range-checked on each batch
before the replay, as the eager layer checks them), an optimizer outside gpuseq's
built-in rules; and the NumPy backend. A device constant met
for the first time while capturing (its host-to-device copy could not be
replayed) makes the capture fail, and the model train on eagerly.
"""
import os
import warnings

import numpy

from .. import random as grandom
from ..backend import autodiff as ad
from ..backend import dispatch, session
from ..backend import functions as K

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
    """One captured step: static inputs, the graph, its outputs."""

    def __init__(self, data):
        xs, y, sw = data
        self.inputs = [x.copy() for x in xs]
        self.y = y.copy()
        self.sw = None if sw is None else sw.copy()
        self.graph = None
        self.outs = None
        self.keep = ()            # device constants the graph reads (the cache may evict them)

    def data(self):
        return (self.inputs, self.y, self.sw)

    def load(self, data):
        """Copy a batch into the static inputs."""
        xs, y, sw = data
        for dst, src in zip(self.inputs, xs):
            dst[...] = src
        self.y[...] = y
        if sw is not None:
            self.sw[...] = sw


def _address(a):
    if type(a).__module__.startswith("cupy"):
        return (a.data.ptr, a.shape)
    return (a.__array_interface__["data"][0], a.shape)


def _batch_key(data):
    xs, y, sw = data

    def k(a):
        return None if a is None else (tuple(a.shape), a.dtype.str)
    return tuple(k(x) for x in xs), k(y), k(sw)


class GraphedStep:
    """A training step function replayed as CUDA graphs (see the module docstring).

    Args:
        model: a compiled gpuseq model (its layers and optimizer say what a capture
            bakes in; its weights are the state a step changes).
        step_fn: ``step_fn(data) -> logs``, one eager training step on
            ``data = (inputs, targets, sample_weights)`` that ends with
            ``model.optimizer.apply_gradients``; logs map names to device scalars.
        api: the capture/launch implementation (default: :class:`CupyGraphs`).
        warn: warn when the graphs are switched off after a failed capture or check
            (when they were asked for explicitly); otherwise only ``failed`` says why.
        agree: None in one process; under several ranks, ``agree(flag) -> bool``,
            true on every rank when ``flag`` is true on every rank (the
            communicator's ``all_ranks``). The ranks then vote on each capture and
            on its check, and keep or drop the graph together.

    Call it like ``step_fn``: ``graphed(data)`` returns the same logs;
    ``graphed(data, may_capture=False)`` never captures (a caller that decides the
    capture with other processes asks :meth:`mode_for` first).

    Attributes:
        ineligible: why the model's steps run eagerly (declared by a layer or the
            optimizer, or the backend), or None.
        failed: why the graphs were switched off after a failed capture or check.
        captures, replays: counts.

    Example:
        >>> step = GraphedStep(model, lambda data: model.train_step(data))
        >>> logs = step((xs, y, None))
    """

    WARMUP = 1      # eager steps per batch shape before its capture
    RTOL, ATOL = 1e-5, 1e-6

    def __init__(self, model, step_fn, api=None, warn=True, agree=None):
        self.model = model
        self.step_fn = step_fn
        self.api = api
        self.warn = warn
        self.agree = agree
        self.entries = {}
        self.seen = {}
        self._key = None
        self._decided = None      # (data, mode) of the last mode_for, for the next call
        self.ineligible = None
        self.failed = None
        self.captures = 0
        self.replays = 0

    # ------------------------------------------------------------------ state
    def _layers(self):
        return self.model._all_layers()

    def _state_arrays(self):
        """Every device array a step changes: weights, optimizer state, generator state."""
        m = self.model
        out = [w.data for w in list(m.trainable_weights) + list(m.non_trainable_weights)]
        out.extend(m.optimizer.state_arrays())
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
        return grandom.existing_device_generator(xp)

    def _host_state(self):
        rng = grandom.rng().bit_generator.state if dispatch.xp() is numpy else None
        return self.model.optimizer.host_state(), rng

    def _set_host_state(self, saved):
        host, rng = saved
        self.model.optimizer.set_host_state(host)
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

    def state_key(self):
        """What a capture bakes in, as one hashable value: when it changes, the
        graphs are dropped. Built from what the layers and the optimizer declare
        (``graph_key()``), the weights' and the generators' identities and
        addresses, and the session's float type, TF32 and convolution algorithm."""
        m, opt = self.model, self.model.optimizer
        parts = [id(self.step_fn), opt.graph_key(),
                 tuple(layer.graph_key() for layer in self._layers()),
                 tuple(id(w) for w in m.trainable_weights),
                 id(self._device_generator()), id(grandom.rng())]
        parts.extend(_address(a) for a in self._state_arrays())
        parts.append((K.epsilon(), K.floatx(), session.tf32_enabled(),
                      session.conv_algorithm()))
        return tuple(parts)

    def _why_ineligible(self):
        m, opt = self.model, self.model.optimizer
        backend = dispatch.backend()
        if backend != "cupy" and not (backend == "emulated" and self.api is not None):
            return f"the active backend is {backend}, not the GPU"
        declare = getattr(opt, "graph_ineligibility", None)
        if declare is None:
            return (f"the optimizer {type(opt).__name__} does not declare what a captured "
                    "step would bake in (it is not a gpuseq Optimizer)")
        why = declare()
        if why is not None:
            return why
        first = m.layers[0] if m.layers else None
        for layer in self._layers():
            why = layer.graph_ineligibility(first=layer is first)
            if why is not None:
                return why
        return None

    def _drop(self):
        self.entries.clear()
        self.seen.clear()
        if self.api is not None:
            self.api.release()

    # ------------------------------------------------------------------ steps
    def mode_for(self, data):
        """What a call with ``data`` would do now: 'eager', 'replay' (a graph of this
        batch shape exists) or 'capture' (no graph yet, and this shape had its
        ``WARMUP`` eager steps). Drops the graphs first when the state they bake in
        changed (see :meth:`state_key`); counts nothing, so asking twice is harmless.
        A call on the same ``data`` object right after reuses the decision (the state
        key costs host time)."""
        self._decided = (data, self._decide(data))
        return self._decided[1]

    def _decide(self, data):
        if self.failed is not None:
            return "eager"
        key = self.state_key()
        if key != self._key:
            self._drop()
            self._key = key
            self.ineligible = self._why_ineligible()
        if self.ineligible is not None:
            return "eager"
        bkey = _batch_key(data)
        if bkey in self.entries:
            return "replay"
        return "capture" if self.seen.get(bkey, 0) >= self.WARMUP else "eager"

    def __call__(self, data, may_capture=True):
        """One training step on ``data``, replayed, captured or eager (see
        :meth:`mode_for`); with ``may_capture=False`` a step due for its capture runs
        eagerly instead, and its capture is due again at the next step of its shape."""
        decided, self._decided = self._decided, None
        mode = decided[1] if decided is not None and decided[0] is data else \
            self._decide(data)
        if mode == "replay":
            entry = self.entries[_batch_key(data)]
            if self.model.layers:
                self.model.layers[0].check_graph_inputs(data[0][0])
            entry.load(data)
            return self._replay(entry)
        if self.failed is None and self.ineligible is None:
            bkey = _batch_key(data)
            if mode == "capture" and may_capture:
                return self._capture(bkey, data)
            self.seen[bkey] = self.seen.get(bkey, 0) + 1
        return self.step_fn(data)

    def _api(self):
        if self.api is None:
            self.api = CupyGraphs(session.gpu_memory_limit_bytes())
        return self.api

    def _captured_run(self, entry):
        """The step on the entry's static inputs, marked as being captured."""
        def run():
            with ad.graph_capture():
                return self.step_fn(entry.data())
        return run

    def _replay(self, entry):
        opt = self.model.optimizer
        opt.prepare_step()
        self.api.launch(entry.graph)
        opt.finish_step()
        self.replays += 1
        return {k: self.api.copy(v) for k, v in entry.outs.items()}

    def _capture(self, bkey, data):
        """Capture the step of this batch shape, check it against eager steps and take
        the step with it; or, when that fails, switch the graphs off and take it
        eagerly. Under ``agree`` (several ranks) every rank runs this in the same
        step, and the ranks vote twice (captured fine? replays agree with eager
        steps?), so that all of them keep the graph or all drop it."""
        snap = None
        try:
            entry = _Entry(data)
            snap = self.snapshot()
            entry.graph, entry.outs = self._api().capture(self._captured_run(entry))
            entry.keep = ad.device_constants()
            problem = None
        except Exception as e:   # any capture error: train on eagerly
            problem = f"capturing the step failed ({type(e).__name__}: {e})"
        except BaseException:    # an interrupt: leave the model as before this step
            if snap is not None:
                self.restore(snap)
            raise
        problem = self._vote(problem, "capturing the step failed on another rank")
        if problem is None:
            problem = self._check(entry, snap)
            problem = self._vote(problem, "the replayed and the eager step differ on "
                                          "another rank")
        if problem is not None:
            if snap is not None:
                self.restore(snap)
            self._switch_off(problem)
            return self.step_fn(data)
        self.entries[bkey] = entry
        self.captures += 1
        entry.load(data)
        return self._replay(entry)

    def _check(self, entry, snap):
        """Two replays and two eager steps from the snapshot: None when they agree,
        else what differs (the state is put back either way). With one process any
        error here means the graph cannot be trusted; under ``agree`` an error is
        raised instead: the other ranks are inside the same steps' collectives, which
        this rank could no longer match."""
        try:
            # capturing ran the host part of a step: start again from the snapshot
            self._set_host_state(snap[1])
            for _ in range(2):
                graph_logs = self._replay(entry)
            graph_state = [a.copy() for a in self._state_arrays()]
            self.restore(snap)
            for _ in range(2):
                eager_logs = self.step_fn(entry.data())
            problem = self._compare(graph_state, graph_logs, eager_logs)
            self.restore(snap)
            return problem
        except Exception as e:
            self.restore(snap)
            if self.agree is not None:
                raise
            return f"capturing the step failed ({type(e).__name__}: {e})"
        except BaseException:
            self.restore(snap)
            raise

    def _vote(self, problem, other):
        """``problem`` on this rank, ``other`` when only another rank had one, None when
        every rank is fine (one process: ``problem`` itself)."""
        if self.agree is None:
            return problem
        everyone_fine = self.agree(problem is None)
        if problem is None and not everyone_fine:
            return other
        return problem

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
