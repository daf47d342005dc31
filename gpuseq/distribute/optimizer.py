"""``DistributedOptimizer``: gradients averaged over the ranks before any update.

For custom training loops (``train_on_batch``, or ``optimizer.apply_gradients`` called
by hand) under several MPI ranks, as Horovod's ``hvd.DistributedOptimizer``. ``fit``
does not need it: its steps already combine the gradients (and a DistributedOptimizer
given to ``fit`` sees them combined and leaves them as they are).
"""
from .. import optimizers
from . import context
from .strategy import ReducedGradients

_CLASSES = {}


def _distributed_class(base):
    cls = _CLASSES.get(base)
    if cls is None:
        def apply_gradients(self, grads_and_vars):
            pairs = list(grads_and_vars)
            if not isinstance(grads_and_vars, ReducedGradients):
                pairs = average_gradients(pairs, self._communicator)
            return base.apply_gradients(self, pairs)

        def graph_ineligibility(self):
            return "a DistributedOptimizer reduces its gradients on the host"

        cls = type(base.__name__, (base,), {
            "apply_gradients": apply_gradients, "graph_ineligibility": graph_ineligibility,
            "__doc__": f"{base.__name__} whose gradients are averaged over the ranks first.",
            "__module__": __name__, "distributed": True})
        _CLASSES[base] = cls
    return cls


def average_gradients(grads_and_vars, comm=None):
    """``(gradient, Variable)`` pairs with every gradient averaged over the ranks (one
    allreduce per bucket, in the order given); pairs without a gradient stay."""
    comm = comm if comm is not None else context.communicator()
    pairs = [(g, v) for g, v in grads_and_vars if g is not None]
    if comm.size == 1 or not pairs:
        return list(grads_and_vars)
    summed = comm.allreduce_arrays([g for g, _ in pairs], scale=1.0 / comm.size)
    return [(s, v) for s, (_, v) in zip(summed, pairs)] + \
        [(g, v) for g, v in grads_and_vars if g is None]


def DistributedOptimizer(optimizer, communicator=None):
    """A copy of the optimizer (same class name, configuration and state), whose
    ``apply_gradients`` first averages the gradients over the ranks.

    Args:
        optimizer: an optimizer instance or name (``'adam'``).
        communicator: None (the job's, :func:`gpuseq.distribute.initialize`) or a
            communicator object.

    With one rank the optimizer behaves exactly as the one given. The learning rate is
    not scaled: scale it yourself if you want to (and see ``LearningRateWarmup``).

    Example:
        >>> opt = gpuseq.distribute.DistributedOptimizer(gpuseq.optimizers.SGD(0.01))
        >>> model.compile(opt, 'mse')
        >>> model.train_on_batch(x_rank, y_rank)     # each rank its own batch
    """
    opt = optimizers.get(optimizer)
    if getattr(opt, "distributed", False):
        return opt
    dist = _distributed_class(type(opt)).from_config(opt.get_config())
    state = opt.get_weights()
    if len(state) > len(opt.host_state()):
        dist.set_weights(state)             # kept until the weights are known
    else:
        dist.set_host_state(opt.host_state())
    dist._communicator = communicator if communicator is not None else \
        context.communicator()
    return dist
