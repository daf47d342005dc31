"""Batch sources for `fit_generator`: the `Sequence` base class and the enqueuers.

The enqueuers read batches in the background so that preparing the next batch overlaps
with training on the current one. `OrderedEnqueuer` reads a `Sequence` in worker threads,
or with `use_multiprocessing=True` in worker processes (new ones each pass, see
:mod:`gpuseq.utils.process_batches`; `__getitem__` must then not touch the GPU).
`GeneratorEnqueuer` reads a plain generator in threads only: forking a generator would
copy it into every worker and repeat its data, so `use_multiprocessing=True` gives a
warning there and threads are used.
"""
import queue
import random
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

from .file_cache import get_file, validate_file  # noqa: F401  (Keras's keras.utils.data_utils)
from .process_batches import ProcessBatchReader

__all__ = ["Sequence", "SequenceEnqueuer", "OrderedEnqueuer", "GeneratorEnqueuer",
           "iter_sequence_infinite", "get_file", "validate_file"]


class Sequence(object):
    """Base class for a data set read batch by batch, in a known order.

    Subclasses implement `__len__` (the number of batches) and `__getitem__` (one
    complete batch); `on_epoch_end` may reshuffle or otherwise change the data between
    epochs. Unlike a generator, a `Sequence` lets every worker (thread, or process
    with `use_multiprocessing=True`) read a different batch, and each batch is seen
    exactly once per epoch. In a worker process `__getitem__` must use NumPy (or plain
    Python) only, never the GPU, and should return picklable arrays.

    Example:
        >>> import numpy as np
        >>> class Batches(Sequence):
        ...     def __init__(self, x, y, batch_size):
        ...         self.x, self.y, self.batch_size = x, y, batch_size
        ...     def __len__(self):
        ...         return int(np.ceil(len(self.x) / float(self.batch_size)))
        ...     def __getitem__(self, idx):
        ...         s = slice(idx * self.batch_size, (idx + 1) * self.batch_size)
        ...         return self.x[s], self.y[s]
        >>> seq = Batches(np.zeros((10, 3)), np.zeros(10), batch_size=4)
        >>> len(seq), seq[2][0].shape
        (3, (2, 3))
    """

    def __getitem__(self, index):
        """Returns batch number `index`, typically an `(inputs, targets)` tuple.

        Args:
            index: Position of the batch, from 0 to `len(self) - 1`.
        """
        raise NotImplementedError(
            "%s must implement __getitem__(self, index) to return one batch."
            % type(self).__name__)

    def __len__(self):
        """Returns the number of batches in one epoch."""
        raise NotImplementedError(
            "%s must implement __len__(self) to return the number of batches."
            % type(self).__name__)

    def on_epoch_end(self):
        """Called after each full pass over the batches; override to reshuffle."""
        pass

    def __iter__(self):
        """Yields every batch once, in order."""
        for index in range(len(self)):
            yield self[index]


def iter_sequence_infinite(seq):
    """Yields the batches of `seq` in order, over and over.

    Args:
        seq: A `Sequence` (or anything iterable).

    Example:
        >>> it = iter_sequence_infinite([1, 2])
        >>> [next(it) for _ in range(5)]
        [1, 2, 1, 2, 1]
    """
    while True:
        for item in seq:
            yield item


class SequenceEnqueuer(object):
    """Base class of the enqueuers: `start`, `get`, `stop`, `is_running`.

    Args:
        sequence: The data source (a `Sequence` or a generator).
        use_multiprocessing: Read a `Sequence` in worker processes instead of threads
            (see the subclasses).

    Example:
        >>> enqueuer = OrderedEnqueuer(some_sequence)  # doctest: +SKIP
        >>> enqueuer.start(workers=2, max_queue_size=10)  # doctest: +SKIP
        >>> batches = enqueuer.get()  # doctest: +SKIP
        >>> x, y = next(batches)  # doctest: +SKIP
        >>> enqueuer.stop()  # doctest: +SKIP
    """

    def __init__(self, sequence, use_multiprocessing=False):
        self.sequence = sequence
        self.use_multiprocessing = use_multiprocessing
        self.workers = 0
        self.queue = None
        self.stop_signal = None
        self._threads = []

    def is_running(self):
        """True between `start()` and `stop()`."""
        return self.stop_signal is not None and not self.stop_signal.is_set()

    def start(self, workers=1, max_queue_size=10):
        """Starts the background workers.

        Args:
            workers: Number of threads (or processes) reading batches (at least 1).
            max_queue_size: Maximum number of batches read ahead.
        """
        if workers < 1:
            raise ValueError(
                "Received an invalid value for `workers`: expected an integer >= 1 "
                "for an enqueuer (use workers=0 in fit_generator to read batches on "
                "the main thread). Received: workers=%r" % (workers,))
        self.workers = workers
        self.queue = queue.Queue(max(1, max_queue_size))
        self.stop_signal = threading.Event()
        try:
            self._start_workers()
        except BaseException:
            self.queue = self.stop_signal = None     # a refused start leaves it stopped
            raise

    def stop(self, timeout=None):
        """Stops the background workers and empties the queue.

        Args:
            timeout: Seconds to wait for each thread to finish (None waits for ever).
        """
        if self.stop_signal is None:
            return
        self.stop_signal.set()
        self._drain()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
        self._drain()
        self._threads = []

    def get(self):
        """Returns a generator over the batches; see the subclasses."""
        raise NotImplementedError

    def _start_workers(self):
        raise NotImplementedError

    def _drain(self):
        if self.queue is None:
            return
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                return

    def _put(self, item):
        """Puts `item` on the queue, giving up when `stop()` is called."""
        while not self.stop_signal.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


class OrderedEnqueuer(SequenceEnqueuer):
    """Reads the batches of a `Sequence` in worker threads or processes, in order.

    Epoch after epoch it yields `sequence[0]`, ..., `sequence[len - 1]` (in a new random
    order each epoch when `shuffle=True`, drawn from Python's `random` module), calling
    `sequence.on_epoch_end()` once every batch of the epoch has been read.

    With `use_multiprocessing=True` the batches are read by `workers` processes (forked
    where the platform can fork, else spawned, which needs a picklable Sequence). A new
    pool of processes serves each epoch, started after `on_epoch_end`, which runs in
    this process, so the workers see the Sequence as it left it. An exception raised by
    `__getitem__` in a worker is raised again here, its cause a
    :class:`~gpuseq.utils.process_batches.WorkerProcessError` holding the worker's
    traceback. A worker process must not touch the GPU: `__getitem__` should prepare
    NumPy arrays only.

    Args:
        sequence: A `Sequence`.
        use_multiprocessing: Read the batches in worker processes instead of threads.
        shuffle: Whether to visit the batches in a new random order each epoch.

    Example:
        >>> enqueuer = OrderedEnqueuer(seq, shuffle=False)  # doctest: +SKIP
        >>> enqueuer.start(workers=4, max_queue_size=8)  # doctest: +SKIP
        >>> gen = enqueuer.get()  # doctest: +SKIP
        >>> first_batch = next(gen)  # doctest: +SKIP
        >>> enqueuer.stop()  # doctest: +SKIP
    """

    def __init__(self, sequence, use_multiprocessing=False, shuffle=False):
        super(OrderedEnqueuer, self).__init__(sequence, use_multiprocessing)
        self.shuffle = shuffle
        self._executor = None
        self._reader = None

    def _start_workers(self):
        if self.use_multiprocessing:
            self._reader = ProcessBatchReader(self.sequence, self.workers,
                                              self.queue.maxsize, self.shuffle)
            return
        self._executor = ThreadPoolExecutor(max_workers=self.workers)
        thread = threading.Thread(target=self._run, daemon=True,
                                  name="gpuseq-enqueuer-0")
        self._threads = [thread]
        thread.start()

    def _run(self):
        try:
            order = list(range(len(self.sequence)))
            while not self.stop_signal.is_set():
                if self.shuffle:
                    random.shuffle(order)
                for index in order:
                    future = self._executor.submit(self.sequence.__getitem__, index)
                    if not self._put(future):
                        return
                # Wait until the consumer has taken every batch of this epoch.
                while self.queue.unfinished_tasks and not self.stop_signal.is_set():
                    self.stop_signal.wait(0.01)
                if self.stop_signal.is_set():
                    return
                self.sequence.on_epoch_end()
        except BaseException as exc:  # hand the error to the consumer
            self._put(_Failure(exc))
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def stop(self, timeout=None):
        """Stops the worker threads, or terminates and joins the worker processes.

        Args:
            timeout: Seconds to wait for each thread to finish (None waits for ever).
        """
        super(OrderedEnqueuer, self).stop(timeout)
        if self._reader is not None:
            reader, self._reader = self._reader, None
            reader.close()

    def get(self):
        """Yields batches in order until `stop()` is called; re-raises worker errors."""
        if self._reader is not None:
            return self._get_from_processes(self._reader)
        return self._get_from_threads()

    def _get_from_processes(self, reader):
        try:
            for inputs in reader.batches():
                if inputs is not None:
                    yield inputs
                if not self.is_running():
                    return
        except Exception:
            self.stop()
            raise

    def _get_from_threads(self):
        try:
            while self.is_running():
                try:
                    item = self.queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                if isinstance(item, _Failure):
                    raise item.exc
                inputs = item.result()
                self.queue.task_done()
                if inputs is not None:
                    yield inputs
        except Exception:
            self.stop()
            raise


class GeneratorEnqueuer(SequenceEnqueuer):
    """Reads a Python generator in worker threads and yields its items.

    With `workers > 1` the threads take turns calling `next()` under a lock, so the
    order of the items is kept. A finite generator ends the stream: `get()` stops
    after its last item.

    A generator is always read in threads: forking it would give every worker process
    its own copy, each yielding the same data. `use_multiprocessing=True` is accepted
    with a warning; to read batches in processes, wrap the data in a `Sequence`.

    Args:
        generator: A generator (or any iterator) yielding batches.
        use_multiprocessing: Accepted for Keras compatibility, with a warning; threads
            are used.
        wait_time: Ignored (kept for Keras compatibility).
        random_seed: Ignored (kept for Keras compatibility).

    Example:
        >>> def batches():
        ...     while True:
        ...         yield np.zeros((4, 3)), np.zeros(4)
        >>> enqueuer = GeneratorEnqueuer(batches())  # doctest: +SKIP
        >>> enqueuer.start(workers=1, max_queue_size=10)  # doctest: +SKIP
        >>> x, y = next(enqueuer.get())  # doctest: +SKIP
        >>> enqueuer.stop()  # doctest: +SKIP
    """

    def __init__(self, generator, use_multiprocessing=False, wait_time=None,
                 random_seed=None):
        super(GeneratorEnqueuer, self).__init__(generator, use_multiprocessing)
        if use_multiprocessing:
            warnings.warn(
                "use_multiprocessing=True with a generator: gpuseq reads a generator in "
                "threads, since forking it would copy it into every worker process and "
                "repeat its batches. Make the generator thread-safe, or wrap the data in "
                "a Sequence (which worker processes can read), or pass "
                "use_multiprocessing=False to silence this warning.",
                RuntimeWarning, stacklevel=2)
        self.random_seed = random_seed
        self._lock = threading.Lock()
        self._exhausted = False
        self._live = 0

    def _start_workers(self):
        self._iterator = iter(self.sequence)
        self._exhausted = False
        self._live = self.workers
        self._threads = [threading.Thread(target=self._run, daemon=True,
                                          name="gpuseq-enqueuer-%d" % i)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def _run(self):
        try:
            while not self.stop_signal.is_set():
                with self._lock:
                    if self._exhausted:
                        return
                    try:
                        item = next(self._iterator)
                    except StopIteration:
                        self._exhausted = True
                        return
                    except BaseException as exc:
                        self._exhausted = True
                        self._put(_Failure(exc))
                        return
                    # Putting while holding the lock keeps the generator's order.
                    if not self._put(item):
                        return
        finally:
            with self._lock:
                self._live -= 1
                last = self._live == 0
            if last:
                self._put(_END)

    def get(self):
        """Yields items until the generator ends or `stop()` is called."""
        try:
            while self.is_running():
                try:
                    item = self.queue.get(timeout=0.05)
                except queue.Empty:
                    continue
                self.queue.task_done()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                if item is not None:
                    yield item
        except Exception:
            self.stop()
            raise


class _Failure(object):
    """An exception raised in a worker thread, carried to the consumer."""

    def __init__(self, exc):
        self.exc = exc


_END = object()
