"""Keep the NumPy ops' medium-sized temporaries in the C heap (glibc's malloc).

glibc serves every allocation above its *mmap threshold* (128 KiB at process start)
with a fresh ``mmap`` and gives it back with ``munmap`` when freed, so each such array
costs page faults and zeroing on first touch. The threshold adapts: when a block that
was mmapped is freed, the threshold rises to that block's size (up to 32 MiB) and the
heap keeps freed memory below twice that. A training step allocates many temporaries
between 128 KiB and a few MiB (three stacked LSTM(32) on a batch of 64 allocate
about 20 per step: 600 page faults and 0.7-1.7 ms of kernel time per step, 10-20 % of
the step), and a model of small layers never frees anything large enough to raise the
threshold on its own.

:func:`prime` frees one block of :data:`PRIME_BYTES` through NumPy once per process,
which moves the threshold exactly as a program that had used a large array would.
It changes no setting explicitly (``mallopt`` would switch the adaptation off) and
has no effect with other allocators.
"""
import numpy as np

# Size of the block freed once: the mmap threshold ends at this size (glibc caps it
# at 32 MiB), the heap's trim threshold at twice it.
PRIME_BYTES = 16 << 20

_state = {"done": False}


def prime():
    """Allocate and free one :data:`PRIME_BYTES` array (once per process; the block is
    never touched, so this costs one mmap/munmap pair, well under a millisecond)."""
    if _state["done"]:
        return
    _state["done"] = True
    block = np.empty(PRIME_BYTES, dtype=np.uint8)   # mmapped: above the initial threshold
    del block                                        # freed: the threshold moves up to it
