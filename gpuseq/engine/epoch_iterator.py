"""The epochs of a data adapter's stream of batches.

An epoch is ``steps`` batches; without ``steps`` it is one pass over the data (the
adapter's ``steps_per_pass``), and when that is unknown too (a plain generator), every
batch until the data ends. Keras 1's ``samples_per_epoch`` counts samples instead: the
epoch ends once that many were drawn.

By default an epoch continues the stream where the previous one stopped (Keras 2:
``fit(steps_per_epoch=...)`` cycles through the arrays; a generator is never
restarted). With ``restart=True`` every epoch begins a fresh pass and takes at most one
pass: that is how arrays are evaluated (validation data starts from its first sample
each epoch).

Example:
    >>> batches = EpochIterator(ArrayAdapter([x], y, None, 32), steps=10)
    >>> for step, (x_batch, y_batch, sw_batch) in batches.epoch():
    ...     model.train_step((x_batch, y_batch, sw_batch))
"""
import warnings

from ..legacy import user_stacklevel
from .data_adapters import batch_size_of


class EpochIterator:
    """Hands out one epoch of batches at a time.

    Args:
        adapter: a data adapter (``stream()``, ``steps_per_pass``).
        steps: batches per epoch, or None (one pass; until the end of the data when
            the pass length is unknown).
        samples: Keras 1: samples per epoch (the epoch ends once this many were drawn);
            replaces ``steps``.
        restart: begin a fresh pass every epoch (at most one pass per epoch).
        agree: None in one process. Under several ranks, for per-rank data (a
            generator, a Sequence's shard): ``agree(flag) -> bool``, true on every
            rank when ``flag`` is true on every rank. Before each batch, every rank
            votes on "I have a batch and my epoch goes on"; when one says no, every
            rank ends the epoch at that step (a batch drawn but not used is handed
            out first next epoch), and when a rank's data ran out, every rank is
            ``exhausted``. Otherwise the ranks would wait forever for the step's
            allreduce of the rank that left.
        warn: warn when the data ran out (under several ranks: rank 0 only).
    """

    def __init__(self, adapter, steps=None, samples=None, restart=False, agree=None,
                 warn=True):
        self.adapter = adapter
        self.steps = steps if steps is not None or samples is not None else \
            adapter.steps_per_pass
        if restart and adapter.steps_per_pass is not None:
            self.steps = adapter.steps_per_pass if self.steps is None else \
                min(self.steps, adapter.steps_per_pass)
        self.samples = samples
        self.restart = restart
        self.agree = agree
        self.warn = warn
        self.exhausted = False
        self._stream = None
        self._pending = None

    def peek(self):
        """The next batch, drawn now and handed out again as the epoch's next batch
        (reading a generator's first batch builds a model that has no input shape yet)."""
        if self._pending is None:
            try:
                self._pending = next(self._open())
            except StopIteration:
                self.exhausted = True
                raise ValueError("The data yielded no batch at all (a generator that has "
                                 "ended, e.g. used up by an earlier call?). Pass a generator "
                                 "that yields (x, y) batches, looping forever "
                                 "(`while True:`), or a Sequence with at least one "
                                 "batch.") from None
        return self._pending

    def epoch(self):
        """Yields ``(step, (x, y, sample_weight))`` for the batches of one epoch."""
        if self.restart:
            self.close()
        stream, step, seen = self._open(), 0, 0
        steps, samples = self.steps, self.samples
        while True:
            goes_on = (seen < samples) if samples is not None else \
                (steps is None or step < steps)
            if not goes_on and (self.agree is None or samples is None):
                return           # steps: the same step on every rank, no vote needed
            data = self._next_batch(stream) if goes_on else None
            ran_out = goes_on and data is None
            if self.agree is not None and not self.agree(data is not None):
                self._end_together(step, data, ran_out)
                return
            if ran_out:
                self._ran_out(step)
                return
            yield step, data
            step += 1
            if samples is not None:
                seen += batch_size_of(data)

    def _next_batch(self, stream):
        """The pending batch, else the stream's next one; None when the data ended."""
        if self._pending is not None:
            data, self._pending = self._pending, None
            return data
        try:
            return next(stream)
        except StopIteration:
            return None

    def _end_together(self, step, data, ran_out):
        """Some rank cannot take this step: keep a drawn batch for the next epoch, and
        ask every rank whether one ran out of data (then all of them are exhausted)."""
        if data is not None:
            self._pending = data
        if not self.agree(not ran_out):
            self._ran_out(step, some_rank=True)

    def close(self):
        """Stop the stream (and the adapter's worker threads)."""
        if self._stream is not None:
            self._stream.close()
        self._stream, self._pending = None, None

    def _open(self):
        if self._stream is None:
            self._stream = self.adapter.stream()
        return self._stream

    def _ran_out(self, step, some_rank=False):
        self.exhausted = True
        self.close()
        if self.warn and (self.steps is not None or self.samples is not None):
            want = f"steps={self.steps}" if self.samples is None else f"samples={self.samples}"
            who = "the data of one of the ranks ran out" if some_rank else "the data ran out"
            warnings.warn(
                f"Your input ran out of data: {who} after {step} batch(es) of an "
                f"epoch that asked for {want}; the epoch ends here and no later epoch runs. "
                "Make the generator loop forever (`while True:`), or ask for fewer steps "
                "(a finite generator must yield steps_per_epoch * epochs batches"
                + (", on every rank" if some_rank else "") + ").",
                UserWarning, stacklevel=user_stacklevel())
