"""Communicators: one object that knows the processes of a job and reduces arrays.

Every communicator has the same methods (ChainerMN's design): ``rank``, ``size``,
``local_rank``, ``allreduce_buffers`` (sum flat buffers in place, in a fixed order),
``broadcast_buffers``, and the small host collectives ``bcast_object`` /
``allgather_object`` / ``any_rank`` / ``all_ranks`` / ``host_sums`` / ``barrier``. ``capturable`` says
whether the array collectives may be recorded into a CUDA graph (they run on the
current CUDA stream and read nothing on the host). What they share (bucketing,
scaling, the order of the arrays) lives in :class:`Communicator`; the subclasses only
move bytes:

- :class:`SingleProcess`: one process; nothing moves, mpi4py is never imported.
- :class:`MpiCommunicator`: MPI through mpi4py on host arrays (device arrays are copied
  to the host and back).
- :class:`NcclCommunicator`: NCCL through ``cupy.cuda.nccl`` on the current CUDA stream
  for device buffers; MPI bootstraps it and carries the small host collectives.
"""
import numpy

from ..backend import dispatch
from .buckets import DEFAULT_BUCKET_BYTES, BucketPlan


class Communicator:
    """What every communicator shares: array reductions through flat buckets.

    Subclasses implement ``_allreduce_sum(buffer)`` (in place), ``_bcast(buffer,
    root)`` (in place), ``bcast_object``, ``allgather_object`` and ``barrier``.
    """

    rank = 0
    size = 1
    local_rank = 0
    name = "single"
    capturable = False      # True: allreduce_buffer may be recorded in a CUDA graph

    def __init__(self, bucket_bytes=DEFAULT_BUCKET_BYTES):
        self.bucket_bytes = bucket_bytes
        self._plans = {}

    # -- arrays -------------------------------------------------------------------
    def plan_for(self, arrays):
        """The (cached) :class:`BucketPlan` of arrays of these shapes and dtypes."""
        key = (tuple(tuple(a.shape) for a in arrays), tuple(a.dtype.str for a in arrays))
        plan = self._plans.get(key)
        if plan is None:
            plan = BucketPlan(key[0], key[1], self.bucket_bytes)
            self._plans = {key: plan} if len(self._plans) > 16 else self._plans
            self._plans[key] = plan
        return plan

    def allreduce_arrays(self, arrays, scale=None):
        """The sums over all processes of ``arrays`` (each first multiplied by
        ``scale`` when given), as new arrays of the same shapes: one collective per
        bucket, buckets in the order of the arrays."""
        if not arrays:
            return []
        xp = dispatch.get_array_module(arrays[0])
        plan = self.plan_for(arrays)
        buffers = plan.pack(arrays, xp, scale)
        for buf in buffers:
            self.allreduce_buffer(buf)
        return plan.unpack(buffers)

    def broadcast_arrays(self, arrays, root=0):
        """Overwrite ``arrays`` in place with the values of process ``root``."""
        arrays = [a for a in arrays if a.size]
        if not arrays or self.size == 1:
            return
        xp = dispatch.get_array_module(arrays[0])
        plan = self.plan_for(arrays)
        buffers = plan.pack(arrays, xp)
        for buf in buffers:
            self.broadcast_buffer(buf, root)
        for a, v in zip(arrays, plan.unpack(buffers)):
            a[...] = v

    def allreduce_buffer(self, buf):
        """Sum a flat buffer over all processes, in place."""
        if self.size > 1:
            self._allreduce_sum(buf)
        return buf

    def broadcast_buffer(self, buf, root=0):
        """Overwrite a flat buffer with process ``root``'s, in place."""
        if self.size > 1:
            self._bcast(buf, root)
        return buf

    # -- host values ----------------------------------------------------------------
    def any_rank(self, flag):
        """True on every process when ``flag`` is true on at least one."""
        if self.size == 1:
            return bool(flag)
        return self._count_votes(flag) > 0

    def all_ranks(self, flag):
        """True on every process when ``flag`` is true on every process."""
        if self.size == 1:
            return bool(flag)
        return self._count_votes(flag) == self.size

    def _count_votes(self, flag):
        """How many processes pass a true ``flag`` (one host allreduce)."""
        return self.host_sums([1 if flag else 0])[0]

    def host_sums(self, values):
        """The sums over all processes of a few host integers, as Python ints (one
        host allreduce; every process must call it with as many values)."""
        vec = numpy.asarray(values, dtype="int64")
        if self.size > 1:
            self._allreduce_sum(vec)
        return [int(v) for v in vec]

    def bcast_object(self, obj, root=0):
        return obj

    def allgather_object(self, obj):
        return [obj]

    def barrier(self):
        pass

    def _allreduce_sum(self, buf):
        raise NotImplementedError

    def _bcast(self, buf, root):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} rank {self.rank} of {self.size}>"


class SingleProcess(Communicator):
    """One process: every collective returns its input; mpi4py is not imported."""


def _local_rank_from(comm):
    """This process's index among the processes of its machine."""
    from mpi4py import MPI  # optional dependency, loaded only under MPI
    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    try:
        return node.Get_rank()
    finally:
        node.Free()


class MpiCommunicator(Communicator):
    """MPI (mpi4py) on host arrays: ``MPI_Allreduce`` / ``MPI_Bcast`` of the buckets.

    Args:
        comm: an ``mpi4py.MPI.Comm`` (default ``COMM_WORLD``).
        bucket_bytes: the largest flat buffer of one collective call.
    """

    name = "mpi"

    def __init__(self, comm=None, bucket_bytes=DEFAULT_BUCKET_BYTES):
        super().__init__(bucket_bytes)
        from mpi4py import MPI  # optional dependency, loaded only under MPI
        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.local_rank = _local_rank_from(self.comm)

    def _allreduce_sum(self, buf):
        host = dispatch.to_host(buf)
        if host is buf:
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        else:
            host = numpy.ascontiguousarray(host)
            self.comm.Allreduce(self._MPI.IN_PLACE, host, op=self._MPI.SUM)
            buf[...] = dispatch.get_array_module(buf).asarray(host)

    def _bcast(self, buf, root):
        host = dispatch.to_host(buf)
        if host is buf:
            self.comm.Bcast(buf, root=root)
        else:
            host = numpy.ascontiguousarray(host)
            self.comm.Bcast(host, root=root)
            buf[...] = dispatch.get_array_module(buf).asarray(host)

    def bcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()


_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
               "float64": "NCCL_FLOAT64", "int32": "NCCL_INT32", "int64": "NCCL_INT64"}


def nccl_dtype_name(dtype):
    """The NCCL data-type constant's name for a NumPy dtype, with a clear error."""
    name = _NCCL_TYPES.get(numpy.dtype(dtype).name)
    if name is None:
        raise TypeError(f"NCCL reduces {sorted(_NCCL_TYPES)} buffers. Received: "
                        f"dtype={numpy.dtype(dtype).name}")
    return name


class NcclCommunicator(Communicator):
    """NCCL (``cupy.cuda.nccl``) for device buffers, on the current CUDA stream.

    Args:
        mpi: an :class:`MpiCommunicator` that bootstraps NCCL (rank 0's unique id is
            broadcast through it) and carries the host collectives; None for a job of
            one process (a one-rank NCCL communicator).
        bucket_bytes: the largest flat buffer of one NCCL call.

    Each process must use its own GPU (NCCL refuses two ranks on one device): the
    launcher ``gpuseq-run`` gives each process the GPU of its local rank.

    ``capturable``: an NCCL collective launched on a capturing stream is recorded
    into the CUDA graph and runs at each replay (NCCL supports this from 2.9), so
    a training step with its allreduce can be replayed as one graph. The host
    votes (``any_rank`` / ``all_ranks``) go through MPI, outside any graph.
    """

    name = "nccl"
    capturable = True       # collectives on the current stream: a graph records them

    def __init__(self, mpi=None, bucket_bytes=DEFAULT_BUCKET_BYTES):
        super().__init__(bucket_bytes)
        from cupy.cuda import nccl  # optional dependency (the GPU extras)
        self._nccl = nccl
        self._mpi = mpi
        if mpi is not None:
            self.rank, self.size, self.local_rank = mpi.rank, mpi.size, mpi.local_rank
        uid = nccl.get_unique_id() if self.rank == 0 else None
        if mpi is not None:
            uid = mpi.bcast_object(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)

    def _stream_ptr(self):
        import cupy  # optional dependency (the GPU extras)
        return cupy.cuda.get_current_stream().ptr

    def _dtype(self, buf):
        return getattr(self._nccl, nccl_dtype_name(buf.dtype))

    def allreduce_buffer(self, buf):
        """Sum a flat device buffer over all ranks in place (also with one rank, so
        that the NCCL path runs, and can be captured, the same way everywhere)."""
        self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._dtype(buf),
                            self._nccl.NCCL_SUM, self._stream_ptr())
        return buf

    def broadcast_buffer(self, buf, root=0):
        self.comm.bcast(buf.data.ptr, buf.size, self._dtype(buf), root, self._stream_ptr())
        return buf

    def broadcast_arrays(self, arrays, root=0):
        arrays = [a for a in arrays if a.size]
        if not arrays:
            return
        import cupy  # optional dependency (the GPU extras)
        plan = self.plan_for(arrays)
        buffers = plan.pack(arrays, cupy)
        for buf in buffers:
            self.broadcast_buffer(buf, root)
        for a, v in zip(arrays, plan.unpack(buffers)):
            a[...] = v

    def bcast_object(self, obj, root=0):
        return obj if self._mpi is None else self._mpi.bcast_object(obj, root)

    def allgather_object(self, obj):
        return [obj] if self._mpi is None else self._mpi.allgather_object(obj)

    def any_rank(self, flag):
        return bool(flag) if self._mpi is None else self._mpi.any_rank(flag)

    def all_ranks(self, flag):
        return bool(flag) if self._mpi is None else self._mpi.all_ranks(flag)

    def host_sums(self, values):
        return [int(v) for v in values] if self._mpi is None else self._mpi.host_sums(values)

    def barrier(self):
        if self._mpi is not None:
            self._mpi.barrier()
