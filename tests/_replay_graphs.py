"""A CUDA graph's behaviour on the CPU, for the tests of gpuseq/engine/cuda_graphs.py
and of the data-parallel graph steps.

:class:`ReplayGraphs` stands in for ``CupyGraphs``: capturing runs the step once (with
``recording`` set, so that a stand-in collective can do nothing, as a real capture
executes nothing) and puts every state array back; a launch runs the step again without
the optimizer's host bookkeeping (a graph runs no Python). The captured outputs are one
dict that every launch refreshes, like a graph's output buffers.
"""


class ReplayGraphs:
    """CPU stand-in for ``CupyGraphs``.

    Args:
        corrupt: launches do nothing (a graph missing its work).
        fail: an exception to raise while capturing, or None.
    """

    recording = False          # True while a step is being "captured"

    def __init__(self, corrupt=False, fail=None):
        self.runner = None
        self.corrupt = corrupt
        self.fail = fail
        self.launches = 0

    def capture(self, fn):
        if self.fail is not None:
            raise self.fail
        snap = self.runner.snapshot()
        ReplayGraphs.recording = True
        try:
            outs = dict(fn())
        finally:
            ReplayGraphs.recording = False
        self.runner.restore(snap)
        return (fn, outs), outs

    def launch(self, graph):
        self.launches += 1
        if self.corrupt:
            return
        # the optimizer's host bookkeeping (iterations, Nadam's schedule) that the step
        # function does is undone: the replay itself does it, as it must for a real graph
        fn, outs = graph
        opt = self.runner.model.optimizer
        host = opt.host_state()
        outs.update(fn())
        opt.set_host_state(host)

    def copy(self, v):
        return v

    def release(self):
        pass
