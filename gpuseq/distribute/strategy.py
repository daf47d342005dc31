"""The data-parallel strategy: what the training loop asks of the processes of a job.

The engine consults one object, :func:`current` (see ``Model._distribution``):

- :class:`LocalStrategy` in a plain process (and in a job of one rank): every method
  returns its input unchanged, so training is bitwise what it always was;
- :class:`DataParallel` when MPI started the process with several ranks.

What :class:`DataParallel` does in ``fit`` (every rank runs the same code):

1. ``begin_fit``: checks that every rank built the same model (a hash of the layer
   classes, weight shapes and dtypes; a mismatch raises the same clear error on every
   rank), then broadcasts rank 0's weights, optimizer state and iteration count.
2. ``local_batches``: ``batch_size`` is the global batch; the order of an epoch comes
   from rank 0 (its shuffle is broadcast), and each rank takes its contiguous slice of
   every global batch (sizes differ by at most one; a rank may get none of a short last
   batch: it then contributes zeros). Every rank runs the same number of steps.
3. ``combine_step``: gradients, BatchNormalization moving statistics and the step's
   logs go into flat buckets (one fixed order, at most ``bucket_bytes`` each), every
   value multiplied by the rank's weight ``n_r``; one allreduce sums each bucket;
   dividing by the total ``N`` gives ``sum_r n_r * g_r / N``. gpuseq's loss of a batch
   is ``sum(w * loss) / n`` with ``n`` its number of samples (of unmasked time steps
   when an output mask applies), and ``n_r`` is exactly that number, so this is the
   gradient of one process on the whole global batch, with sample and class weights
   and masks. Clipping runs after, inside ``apply_gradients``. With a communicator
   whose collectives a CUDA graph can record (``capturable``: NCCL) the step reads
   nothing on the host: the weight and the logged global batch ``size`` stay 0-d device
   arrays, and ``host_logs`` reads ``size`` after the step, outside any graph.
4. Moving statistics are averaged every step: they ride in the gradient buffer for
   free (no extra message), and the ranks stay bitwise identical, so any rank's model
   is the model. Stateful RNN states stay per rank.
5. ``sum_totals``: validation (sharded like training) sums its totals over the ranks;
   ``any_rank``: ``stop_training`` is OR-ed over the ranks after every batch and
   epoch, so EarlyStopping, ReduceLROnPlateau and TerminateOnNaN decide the same
   everywhere.
6. Output: the progress bar, ModelCheckpoint, CSVLogger, TensorBoard, RemoteMonitor and
   ``save*`` act on rank 0 only.
7. CUDA graphs (``wrap_train_function`` with a
   :class:`~gpuseq.engine.cuda_graphs.GraphedStep`), only with a ``capturable``
   communicator: the whole step, allreduce included, is replayed as one graph. The
   decision to capture is the same on every rank: each step every rank votes (a host
   ``all_ranks``) on "my share has samples and is due for its capture"; the ranks
   capture only when all say yes, then vote on the capture and on its check against
   eager steps (the runner's ``agree``), so all keep the graph or all drop it. A rank
   replaying while another steps eagerly (an uneven last batch) or has no samples still
   issues one allreduce each. Under MPI (host buffers) the steps stay eager. This was
   tested on the CPU (graph and capturable collective emulated, 2 MPI ranks), not on
   real GPUs.
8. Generators: the ranks vote before each batch and end an epoch at the same step when
   one rank's data ends first (``EpochIterator(agree=...)``).
"""
import hashlib
import weakref

import numpy

from .. import callbacks as cbks
from ..backend import dispatch
from . import context

# callbacks that print or write files: rank 0 runs them, the other ranks leave them out
CHIEF_ONLY_CALLBACKS = (cbks.ProgbarLogger, cbks.ModelCheckpoint, cbks.CSVLogger,
                        cbks.TensorBoard, cbks.RemoteMonitor)


class ReducedGradients(list):
    """``(gradient, Variable)`` pairs already averaged over the ranks (a
    :class:`~gpuseq.distribute.optimizer.DistributedOptimizer` leaves them as they are)."""


class LocalStrategy:
    """One process: every hook returns what it was given."""

    size = 1
    rank = 0
    writes_files = True
    allows_graph_capture = True

    def begin_fit(self, model):
        pass

    def local_verbose(self, verbose):
        return verbose

    def local_callbacks(self, callbacks):
        return callbacks

    def local_batches(self, batches, shuffled):
        return batches

    def shard_source(self, source):
        return source

    def wrap_train_function(self, model, train, runner=None):
        return train if runner is None else runner

    def combine_step(self, model, grads_and_vars, logs, n_local, mask=None):
        return grads_and_vars, logs

    def host_logs(self, logs):
        return logs

    def sum_totals(self, totals, seen):
        return totals, seen

    def any_rank(self, flag):
        return flag

    def all_ranks(self, flag):
        return flag


LOCAL = LocalStrategy()


def current():
    """The strategy of this process: :class:`DataParallel` under several MPI ranks,
    else the no-op :data:`LOCAL` (mpi4py is not imported in a plain process)."""
    if not context.is_distributed():
        return LOCAL
    comm = context.communicator()
    strategy = _strategies.get(id(comm))
    if strategy is None or strategy.comm is not comm:
        strategy = _strategies[id(comm)] = DataParallel(comm)
    return strategy


_strategies = {}


def shard_bounds(n, rank, size):
    """``(start, stop)`` of rank ``rank``'s contiguous share of ``n`` items split over
    ``size`` ranks (the first ``n % size`` ranks get one more)."""
    base, extra = divmod(int(n), int(size))
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def model_signature(model):
    """A description of the model every rank must share: each layer's class and the
    shape and dtype of each weight, then the optimizer's class."""
    parts = []
    for layer in model._all_layers():
        weights = ",".join(f"{tuple(w.shape)}:{numpy.dtype(w.dtype).name}"
                           for w in layer.weights)
        parts.append(f"{type(layer).__name__}[{weights}]")
    opt = getattr(model, "optimizer", None)
    parts.append(f"optimizer={type(opt).__name__ if opt is not None else None}")
    return parts


def signature_mismatch(signatures):
    """The error message when the ranks' model signatures differ, or None.

    Args:
        signatures: one :func:`model_signature` per rank, in rank order.
    """
    digests = [hashlib.sha1("|".join(s).encode()).hexdigest() for s in signatures]
    bad = [r for r, d in enumerate(digests) if d != digests[0]]
    if not bad:
        return None
    r = bad[0]
    mine, theirs = signatures[0], signatures[r]
    k = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b),
             min(len(mine), len(theirs)))
    first = mine[k] if k < len(mine) else "(nothing)"
    other = theirs[k] if k < len(theirs) else "(nothing)"
    return (f"The ranks built different models: rank(s) {bad} differ from rank 0 at entry "
            f"{k} of the model description: rank 0 has {first}, rank {r} has {other}. "
            "Data-parallel training needs the same layers (classes, weight shapes and "
            "dtypes) and the same optimizer on every rank: build the model the same way "
            "in every process (it must not depend on the rank).")


def moving_statistics(model):
    """The Variables a training step updates outside the optimizer: the moving mean
    and variance of every BatchNormalization layer, each once, in layer order."""
    seen, out = set(), []
    for layer in model._all_layers():
        for name in ("moving_mean", "moving_variance"):
            v = getattr(layer, name, None)
            if v is not None and hasattr(v, "data") and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


class DataParallel(LocalStrategy):
    """Synchronous data parallelism over the ranks of ``comm`` (see the module notes).

    Args:
        comm: a communicator (:mod:`gpuseq.distribute.communicators`).
    """

    def __init__(self, comm):
        self.comm = comm
        self.size = comm.size
        self.rank = comm.rank
        self.writes_files = comm.rank == 0
        self._checked_sizes = set()
        self._synced = weakref.WeakSet()     # models whose ranks start from rank 0's state

    # -- the start of fit ----------------------------------------------------------
    def begin_fit(self, model):
        """Same model everywhere, then rank 0's weights and optimizer state."""
        check_same_model(self.comm, model)
        broadcast_model(self.comm, model)
        self._synced.add(model)

    @property
    def allows_graph_capture(self):
        """Whether a training step, allreduce included, may be replayed as a CUDA graph:
        only when the communicator's collectives can be recorded (NCCL), not when they
        move bytes through the host (MPI)."""
        return bool(getattr(self.comm, "capturable", False))

    def local_verbose(self, verbose):
        return verbose if self.rank == 0 else 0

    def local_callbacks(self, callbacks):
        if self.rank == 0:
            return callbacks
        return [cb for cb in callbacks if not isinstance(cb, CHIEF_ONLY_CALLBACKS)]

    # -- data ---------------------------------------------------------------------------
    def local_batches(self, batches, shuffled):
        """This rank's index arrays for one epoch of global ``batches`` (rank 0's order
        when shuffled)."""
        n = int(sum(len(b) for b in batches))
        if n not in self._checked_sizes:
            self._check_same_count(n)
        if shuffled:
            order = self.comm.bcast_object(numpy.concatenate(batches) if batches else
                                           numpy.zeros(0, "int64"), root=0)
            cuts = numpy.cumsum([len(b) for b in batches])[:-1]
            batches = numpy.split(order, cuts) if len(batches) else []
        out = []
        for b in batches:
            lo, hi = shard_bounds(len(b), self.rank, self.size)
            out.append(b[lo:hi])
        return out

    def _check_same_count(self, n):
        counts = self.comm.allgather_object(n)
        if len(set(counts)) > 1:
            raise ValueError(
                f"Every rank must pass the same training arrays to fit() (batch_size is the "
                f"global batch and each rank takes its slice). Received sample counts per "
                f"rank: {counts}. Give every rank the whole data set, or feed per-rank data "
                "through a generator.")
        self._checked_sizes.add(n)

    def shard_source(self, source):
        """A Sequence becomes this rank's shard of its batches; a plain generator is
        per-rank data already and stays as it is."""
        if hasattr(source, "__getitem__") and hasattr(source, "__len__") and \
                not hasattr(source, "__next__"):
            return ShardedSequence(source, self.rank, self.size)
        return source

    # -- one step -----------------------------------------------------------------------
    def wrap_train_function(self, model, train, runner=None):
        """``train`` for batches with samples; a rank whose share of a short last batch
        is empty still joins the step's allreduce with zeros. The first step of a model
        that no ``fit`` has started (``train_on_batch``) begins as ``fit`` does; later
        weights loaded on one rank need :func:`broadcast_model`.

        Args:
            model: the model being trained.
            train: its eager step, ``train(data) -> logs``.
            runner: None, or a :class:`~gpuseq.engine.cuda_graphs.GraphedStep` that
                replays ``train`` as CUDA graphs (communicators that are
                ``capturable`` only). Every step, every rank then votes once on
                "my share has samples and my runner would capture it now"; a capture
                happens only when every rank votes yes, so the ranks capture (and
                check, and vote on the result: the runner's ``agree``) together,
                while one rank replaying and another stepping eagerly still issue one
                allreduce each. The same host allreduce sums the ranks' sample
                counts, so the logged global ``size`` is known on the host without
                reading the device (no synchronisation per step); eager steps over a
                ``capturable`` communicator get their size the same way.
        """
        if runner is not None:
            runner.agree = self.comm.all_ranks

        def step(data):
            if model not in self._synced:     # train_on_batch before any fit
                self.begin_fit(model)
            empty = _share_is_empty(data)
            if runner is None and not self.comm.capturable:
                return self.empty_step(model) if empty else train(data)
            # a device step (capturable communicator): the ranks' sample counts are
            # summed on the host, so the logged global size never waits on the device;
            # with a runner the same message carries the vote on capturing
            wants = runner is not None and not empty and runner.mode_for(data) == "capture"
            votes, samples = self.comm.host_sums([1 if wants else 0, _share_size(data)])
            if empty:
                logs = self.empty_step(model)
            elif runner is None:
                logs = train(data)
            else:
                logs = runner(data, may_capture=votes == self.size)
            return dict(logs, size=samples)
        return step

    def empty_step(self, model):
        """The step of a rank without samples: zero gradients, zero weight."""
        params = model._trainable_variables()
        pairs = [(dispatch.get_array_module(p.data).zeros_like(p.data), p) for p in params]
        logs = {k: 0.0 for k in model.metrics_names}
        pairs, logs = self.combine_step(model, pairs, logs, 0)
        model.optimizer.apply_gradients(pairs)
        return logs

    def combine_step(self, model, grads_and_vars, logs, n_local, mask=None):
        """Sum ``w_r * (gradients, moving statistics, logs)`` over the ranks in one set
        of buckets and divide by the total weight; returns ``(pairs, logs)``.

        Args:
            model: the model of the step.
            grads_and_vars: this rank's ``(gradient, Variable)`` pairs.
            logs: this rank's logs of the step (loss and metrics of its samples).
            n_local: this rank's number of samples.
            mask: None, or the output mask when the loss averages over unmasked time
                steps: the weight ``w_r`` is then the rank's number of unmasked steps
                (what its loss is an average over), else its number of samples.

        With a ``capturable`` communicator the step reads nothing on the host (it may
        be recorded in a CUDA graph): the weight, the logs and the logged global
        ``size`` stay 0-d arrays, and :meth:`host_logs` turns ``size`` into an int
        after the step. Otherwise the weight and ``size`` are host numbers.
        """
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        skipped = [(g, v) for g, v in grads_and_vars if g is None]
        stats = moving_statistics(model)
        grads = [g for g, _ in pairs]
        ref = grads[0] if grads else (stats[0].data if stats else numpy.zeros(1, "float32"))
        xp = dispatch.get_array_module(ref)
        dtype = ref.dtype if ref.dtype.kind == "f" else numpy.dtype("float32")
        names = list(logs)
        if self.comm.capturable:
            head, weight = _device_head(xp, dtype, logs, names, n_local, mask)
        else:
            head, weight = _host_head(xp, dtype, logs, names, n_local, mask)
        arrays = [head] + grads + [v.data for v in stats]
        summed = self.comm.allreduce_arrays(arrays, scale=weight)
        total = summed[0][0].copy()
        if self.comm.capturable:
            samples = summed[0][1].copy()        # 0-d: host_logs reads it after the step
        else:
            samples = int(round(float(summed[0][1])))
            if xp is numpy and float(total) == 0.0:
                raise RuntimeError("No rank had samples in this step; batches must not be "
                                   "empty.")
        out = [s / total for s in summed]
        head = out[0]
        on_host = xp is numpy and not self.comm.capturable
        new_logs = {k: (float(head[i + 2]) if on_host else head[i + 2])
                    for i, k in enumerate(names)}
        new_logs["size"] = samples       # the global batch, for the logs
        k = 1 + len(grads)
        for v, s in zip(stats, out[k:]):
            v.data[...] = s
        reduced = ReducedGradients(
            [(g.astype(p.data.dtype, copy=False), p) for g, (_, p) in zip(out[1:k], pairs)]
            + skipped)
        return reduced, new_logs

    def host_logs(self, logs):
        """The step's logs with the global batch ``size`` as a Python int (a 0-d array
        after a step that read nothing on the host); called after the step, outside
        any graph."""
        size = logs.get("size")
        if size is not None and not isinstance(size, int):
            logs = dict(logs)
            logs["size"] = int(round(float(dispatch.to_host(size))))
        return logs

    def sum_totals(self, totals, seen):
        """Validation: the per-rank totals and sample counts summed over the ranks."""
        names = _union_in_order(self.comm.allgather_object(list(totals)))
        vec = numpy.asarray([float(seen)] + [_as_value(totals.get(k, 0.0)) for k in names],
                            "float64")
        self.comm.allreduce_buffer(vec)
        return {k: float(vec[i + 1]) for i, k in enumerate(names)}, int(round(vec[0]))

    def any_rank(self, flag):
        return self.comm.any_rank(flag)

    def all_ranks(self, flag):
        return self.comm.all_ranks(flag)


def _share_size(data):
    """The number of samples in this rank's share of the step's batch."""
    x = data[0]
    first = x[0] if isinstance(x, (list, tuple)) else x
    return int(first.shape[0])


def _share_is_empty(data):
    """True when this rank's share of the step's batch has no samples."""
    return _share_size(data) == 0


def _host_head(xp, dtype, logs, names, n_local, mask):
    """``([1, count, logs...], weight)`` with the weight read on the host (MPI)."""
    weight = float(n_local) if mask is None else \
        float(dispatch.to_host(mask.astype("float64").sum()))
    count = n_local / weight if weight else 0.0       # scaled back to n_local
    if xp is numpy:
        head = xp.asarray([1.0, count] + [_as_value(logs[k]) for k in names], dtype=dtype)
    else:
        head = xp.stack([xp.ones((), dtype), xp.asarray(count, dtype)] + [
            xp.asarray(logs[k], dtype=dtype).reshape(()) for k in names])
    return head, weight


def _device_head(xp, dtype, logs, names, n_local, mask):
    """``([1, count, logs...], weight)`` without reading anything on the host and
    without copying a host number to the device (both impossible in a captured CUDA
    graph): the weight of a masked step is the device sum of its mask, numbers enter
    as kernel arguments (an element write), 0-d values by a device copy."""
    head = xp.empty(2 + len(names), dtype=dtype)
    head[0] = 1.0
    if mask is None:
        weight = float(n_local)
        head[1] = 1.0 if n_local else 0.0
    else:
        weight = mask.astype(dtype).sum()
        head[1] = (float(n_local) / xp.maximum(weight, 1)) * (weight > 0)
    for i, k in enumerate(names):
        head[2 + i] = logs[k]
    return head, weight


def _union_in_order(name_lists):
    """Every name of the lists, each once, in the order first seen (a rank that had no
    validation samples reports no names)."""
    out = []
    for names in name_lists:
        out.extend(k for k in names if k not in out)
    return out


def _as_value(v):
    return float(v) if isinstance(v, (int, float)) else float(dispatch.to_host(v))


def check_same_model(comm, model):
    """Raise the same clear ValueError on every rank when the ranks' models differ."""
    message = signature_mismatch(comm.allgather_object(model_signature(model)))
    if message:
        raise ValueError(message)


def broadcast_model(comm, model, root=0):
    """Overwrite the model's weights, its optimizer's state and iteration count with
    those of rank ``root`` (every rank must call it)."""
    seen, arrays = set(), []
    for w in model.weights:
        if id(w) not in seen:
            seen.add(id(w))
            arrays.append(w.data)
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        opt.build(model._trainable_variables())
        arrays += list(opt.state_arrays())
    for group in _by_module(arrays):
        comm.broadcast_arrays(group, root)
    if opt is not None:
        opt.set_host_state(comm.bcast_object(opt.host_state(), root))


def _by_module(arrays):
    groups = {}
    for a in arrays:
        groups.setdefault(type(a).__module__.split(".")[0], []).append(a)
    return list(groups.values())


class ShardedSequence:
    """Rank ``rank``'s share of a ``Sequence``: batch ``i`` is the Sequence's batch
    ``i * size + rank``. Every rank sees ``ceil(len(sequence) / size)`` batches; a rank
    past the end of the Sequence gets an empty batch (no samples) for the last step.

    Args:
        sequence: the ``Sequence`` (the same on every rank).
        rank, size: this process's rank and the number of ranks.
    """

    yields_empty_shares = True      # the engine accepts this source's empty last share

    def __init__(self, sequence, rank, size):
        self.sequence, self.rank, self.size = sequence, rank, size

    def __len__(self):
        return -(-len(self.sequence) // self.size)

    def __getitem__(self, i):
        j = i * self.size + self.rank
        if j < len(self.sequence):
            return self.sequence[j]
        return empty_batch_like(self.sequence[(i * self.size) % len(self.sequence)])

    def on_epoch_end(self):
        hook = getattr(self.sequence, "on_epoch_end", None)
        if hook is not None:
            hook()


def empty_batch_like(batch):
    """A batch of the same structure with no samples (every array cut to 0 rows)."""
    if isinstance(batch, tuple):
        return tuple(empty_batch_like(b) for b in batch)
    if isinstance(batch, list):
        return [empty_batch_like(b) for b in batch]
    if batch is None:
        return None
    return numpy.asarray(batch)[:0]
