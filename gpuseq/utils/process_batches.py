"""Reading the batches of a `Sequence` in worker processes (no GIL between batches).

:class:`ProcessBatchReader` is what `OrderedEnqueuer(use_multiprocessing=True)` runs.
Every pass over the Sequence gets new worker processes, started after the previous
pass's `on_epoch_end`, so they see the Sequence as `on_epoch_end` left it. Batch
indices are sent to the workers through a pipe, at most `max_queue_size` ahead of the
batch handed out; the answers come back in any order and are handed out in the pass's
order. The workers end once the pass is read; `close()` terminates them at any time.
The parent runs no helper thread: it sends the requests and reads the answers itself,
so the threads, processes and pipes it holds are the same at every epoch boundary.

Workers are forked where the platform can fork: the Sequence is then read from a
module-level registry that the child inherits, and nothing is pickled on the way in.
Where only 'spawn' exists, the Sequence is pickled to every worker; one that cannot be
pickled is refused up front. Each batch travels back pickled, so it should hold NumPy
arrays (or lists / tuples of them).

A worker process only runs `sequence[index]`: a Sequence must prepare its batches with
NumPy (or plain Python) and must not touch the GPU there, since a forked child cannot
use the parent's CUDA context.

An exception raised by `__getitem__` in a worker is raised again in the parent, with
the worker's traceback attached as its cause (:class:`WorkerProcessError`).

Example:
    >>> reader = ProcessBatchReader(seq, workers=2, max_queue_size=4)  # doctest: +SKIP
    >>> batches = reader.batches()       # endless: pass after pass  # doctest: +SKIP
    >>> x, y = next(batches)             # doctest: +SKIP
    >>> reader.close()                   # doctest: +SKIP
"""
import itertools
import multiprocessing
import multiprocessing.connection
import os
import pickle
import random
import signal
import traceback

__all__ = ["ProcessBatchReader", "WorkerProcessError", "start_method"]

# Sequences being read in processes, by id; forked workers inherit this dict.
_SEQUENCES = {}
_NEXT_ID = itertools.count()


class WorkerProcessError(RuntimeError):
    """An error raised in a worker process while reading a batch; its message holds
    the worker's traceback."""


def start_method():
    """'fork' where the platform has it, else 'spawn'."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def _serve(uid, sequence, tasks, task_lock, results, result_lock):
    """A worker's life: read batch indices until None, send back each batch (or the
    error it raised). Ctrl-C is left to the parent, which ends the workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sequence is None:                       # forked: inherited from the parent
        sequence = _SEQUENCES[uid]
    while True:
        with task_lock:
            index = tasks.recv()
        if index is None:
            return
        answer = _answer(sequence, index)
        with result_lock:
            results.send_bytes(answer)


def _answer(sequence, index):
    """``(index, True, batch)`` or ``(index, False, _Failure)``, pickled."""
    try:
        batch = sequence[index]
    except Exception as exc:  # carried to the parent, raised there
        return pickle.dumps((index, False, _Failure(exc, index)), pickle.HIGHEST_PROTOCOL)
    try:
        return pickle.dumps((index, True, batch), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        return pickle.dumps((index, False, _Unsendable(exc, index)), pickle.HIGHEST_PROTOCOL)


class _Failure:
    """An exception of a worker, made safe to send to the parent: its traceback as
    text and the exception itself when it survives pickling."""

    def __init__(self, exc, index):
        self.index = index
        self.pid = os.getpid()
        self.kind = type(exc).__name__
        self.message = str(exc)
        self.traceback = traceback.format_exc()
        try:
            self.pickled = pickle.dumps(exc)
            pickle.loads(self.pickled)
        except Exception:
            self.pickled = None

    def raise_in_parent(self, name):
        where = WorkerProcessError(
            f"{name}.__getitem__({self.index}) raised {self.kind}: {self.message} in "
            f"worker process {self.pid} (use_multiprocessing=True). The worker's "
            f"traceback:\n{self.traceback}")
        if self.pickled is None:
            raise where
        raise pickle.loads(self.pickled) from where


class _Unsendable:
    """A batch that could not be pickled to travel back to the parent."""

    def __init__(self, exc, index):
        self.index = index
        self.reason = f"{type(exc).__name__}: {exc}"

    def raise_in_parent(self, name):
        raise ValueError(
            f"Batch {self.index} of {name} could not be sent back from its worker "
            f"process ({self.reason}). With use_multiprocessing=True a batch must be "
            "picklable (NumPy arrays, or lists / tuples of them); return such arrays, "
            "or pass use_multiprocessing=False to read batches in threads.")


class _Workers:
    """The processes of one pass, with a pipe of batch indices to them and a pipe of
    answers back. No helper thread runs in the parent: it sends and reads itself."""

    def __init__(self, context, count, uid, payload):
        self._tasks_in, self._tasks = context.Pipe(duplex=False)
        self._results, self._results_out = context.Pipe(duplex=False)
        # Held here: a spawned child rebuilds the locks by name while they are alive.
        self._locks = task_lock, result_lock = context.Lock(), context.Lock()
        self.processes = [
            context.Process(target=_serve, daemon=True, name=f"gpuseq-batch-reader-{k}",
                            args=(uid, payload, self._tasks_in, task_lock,
                                  self._results_out, result_lock))
            for k in range(count)]
        for process in self.processes:
            process.start()

    def request(self, index):
        self._tasks.send(index)

    def receive(self):
        """The next answer of any worker; a worker that died raises RuntimeError."""
        sentinels = [p.sentinel for p in self.processes]
        while True:
            ready = multiprocessing.connection.wait([self._results] + sentinels)
            if self._results in ready:
                return pickle.loads(self._results.recv_bytes())
            dead = [p for p in self.processes if p.exitcode is not None]
            if dead:
                raise RuntimeError(
                    f"A worker process reading batches (pid {dead[0].pid}) ended with "
                    f"exit code {dead[0].exitcode} before answering: it was killed or "
                    "crashed (out of memory? a C extension failing after fork?). Pass "
                    "use_multiprocessing=False to read the batches in threads.")

    def finish(self):
        """Lets every worker end on its own, then releases the pipes."""
        for _ in self.processes:
            self._tasks.send(None)
        self._release(terminate=False)

    def terminate(self):
        """Ends every worker now, then releases the pipes."""
        self._release(terminate=True)

    def _release(self, terminate):
        for process in self.processes:
            if terminate:
                process.terminate()
            process.join()
            process.close()
        for conn in (self._tasks_in, self._tasks, self._results, self._results_out):
            conn.close()


class ProcessBatchReader:
    """The batches of a `Sequence`, read by worker processes, in order.

    Args:
        sequence: A `Sequence` whose `__getitem__` uses no GPU.
        workers: Number of worker processes (at least 1).
        max_queue_size: Batches requested ahead of the one handed out.
        shuffle: Visit the batches in a new random order each pass, drawn from Python's
            `random` module as the thread enqueuer draws it.

    Raises:
        ValueError: where workers are spawned (no 'fork') and the Sequence cannot be
            pickled.
    """

    def __init__(self, sequence, workers, max_queue_size=10, shuffle=False):
        self.sequence = sequence
        self.workers = int(workers)
        self.max_queue_size = max(1, int(max_queue_size))
        self.shuffle = shuffle
        self.context = multiprocessing.get_context(start_method())
        self._spawned = self.context.get_start_method() != "fork"
        if self._spawned:
            _check_picklable(sequence)
        self._uid = next(_NEXT_ID)
        self._pool = None

    def batches(self):
        """Yields the batches pass after pass; `on_epoch_end` runs in this process once
        a pass is read, before its last batch is handed out."""
        order = list(range(len(self.sequence)))
        while order:
            if self.shuffle:
                random.shuffle(order)
            yield from self._one_pass(order)

    def close(self):
        """Terminates the workers, waits for them to end and forgets the Sequence."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()
        _SEQUENCES.pop(self._uid, None)

    def _one_pass(self, order):
        _SEQUENCES[self._uid] = self.sequence
        self._pool = _Workers(self.context, self.workers, self._uid,
                              self.sequence if self._spawned else None)
        ahead = min(self.max_queue_size, len(order))
        for index in order[:ahead]:
            self._pool.request(index)
        ready = {}
        for k, index in enumerate(order):
            if self._pool is None:
                return                           # closed while handing out the pass
            while index not in ready:
                got, ok, value = self._pool.receive()
                ready[got] = (ok, value)
            if k + ahead < len(order):
                self._pool.request(order[k + ahead])
            ok, value = ready.pop(index)
            if not ok:
                value.raise_in_parent(type(self.sequence).__name__)
            if k == len(order) - 1:
                self._end_pass()
            yield value

    def _end_pass(self):
        """The pass is read: its workers end, then the Sequence may change for the next."""
        pool, self._pool = self._pool, None
        pool.finish()
        self.sequence.on_epoch_end()


def _check_picklable(sequence):
    try:
        pickle.dumps(sequence)
    except Exception as exc:
        raise ValueError(
            f"use_multiprocessing=True starts worker processes with 'spawn' on this "
            f"platform (it has no 'fork'), which needs to pickle the Sequence, and "
            f"{type(sequence).__name__} cannot be pickled: {type(exc).__name__}: {exc}. "
            "Make it picklable (no locks, open files or generators in its attributes), "
            "or pass use_multiprocessing=False to read its batches in threads."
        ) from None
