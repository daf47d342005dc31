"""Data-parallel training (gpuseq.distribute): 2 MPI ranks against one process.

The MPI cases run in few launches of ``mpiexec -n 2 python -m mpi4py
tests/distributed_worker.py`` (each launch costs a second or two); each case's result
on both ranks is compared with the same case run here in one process on the same
global batches. The bucketing and sharding logic, the host votes, the capturable
(device-style) step inside replayed graphs and the per-rank epoch votes are tested
without MPI too. CUDA graphs run as CPU stand-ins on the emulated CUDA backend (the
MPI case included: its collective does nothing while a step is "captured", as a real
capture executes nothing); the ``gpu`` tests run real ones.
"""
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import distributed_worker as worker
from gpuseq import distribute as dist
from gpuseq.distribute import communicators, launcher
from gpuseq.distribute.buckets import BucketPlan
from gpuseq.distribute.strategy import (ShardedSequence, model_signature, shard_bounds,
                                        signature_mismatch)
from gpuseq.layers import LSTM, Dense, Embedding, TimeDistributed
from gpuseq.models import Sequential
from gpuseq.optimizers import SGD, Adam
from gpuseq.utils import multi_gpu_model, set_random_seed
from tests.conftest import _emulation_reason

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "distributed_worker.py")


def _mpiexec():
    try:
        return launcher.find_mpiexec()
    except FileNotFoundError:
        return None


needs_emulation = pytest.mark.skipif(_emulation_reason() is not None,
                                     reason=str(_emulation_reason()))

needs_mpi = pytest.mark.skipif(
    _mpiexec() is None or __import__("importlib").util.find_spec("mpi4py") is None,
    reason="needs mpi4py and MPICH (pip install gpuseq[distributed])")


def _launch(out, cases, timeout=240, through_launcher=False):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", GPUSEQ_BACKEND="numpy")
    if through_launcher:
        cmd = [sys.executable, "-m", "gpuseq.distribute.launcher", "-n", "2", "--cpu"]
    else:
        cmd = [_mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py"]
    cmd += [WORKER, str(out)] + cases
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    """One launch for the training cases: ``(out folder, completed process)``."""
    out = tmp_path_factory.mktemp("ranks")
    cases = ["sgd_nesterov", "adam", "rmsprop", "sequence", "batchnorm", "callbacks",
             "collectives", "mismatch", "stateful", "small_validation", "on_batch", "masked",
             "ran_out", "samples_ranks"]
    if _emulation_reason() is None:        # the emulated CUDA backend needs g++
        cases.append("graphs")
    proc, _ = _launch(out, cases)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc


def _ranks(out, name):
    return [np.load(os.path.join(out, f"{name}_rank{r}.npz")) for r in (0, 1)]


def _weights(npz):
    return [npz[f"w{i}"] for i in range(sum(k.startswith("w") for k in npz.files))]


# -- training equals one process on the same global batches ------------------------------
@needs_mpi
@pytest.mark.parametrize("case", ["sgd_nesterov", "adam", "rmsprop", "sequence",
                                  "small_validation", "on_batch", "masked"])
def test_two_ranks_train_like_one_process(mpi_run, case, tmp_path):
    out, _ = mpi_run
    r0, r1 = _ranks(out, case)
    for a, b in zip(_weights(r0), _weights(r1)):          # the ranks agree bitwise
        assert np.array_equal(a, b)
    model, history, extras = worker.run_reference(case, str(tmp_path))
    ref = model.get_weights()
    assert len(ref) == len(_weights(r0))
    for a, w in zip(_weights(r0), ref):
        np.testing.assert_allclose(a, w, rtol=2e-5, atol=2e-6)
    if case != "masked":                                   # it trained
        assert not np.allclose(ref[0], worker.mlp(100, "sgd").get_weights()[0])
    if case == "on_batch":                                # each step's loss: both halves
        np.testing.assert_allclose(r0["x_losses"], extras["losses"], rtol=1e-5)
        np.testing.assert_array_equal(r0["x_losses"], r1["x_losses"])
        return
    for k, v in history.history.items():                  # logs averaged over the ranks
        np.testing.assert_allclose(r0["h_" + k], v, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(r0["h_" + k], r1["h_" + k])


@needs_mpi
def test_batchnorm_moving_statistics_equal_on_all_ranks(mpi_run):
    out, _ = mpi_run
    r0, r1 = _ranks(out, "batchnorm")
    w0, w1 = _weights(r0), _weights(r1)
    moving_mean, moving_var = w0[4], w0[5]       # Dense(2) + BN gamma, beta, mean, var
    assert np.abs(moving_mean).max() > 1e-3 and np.abs(moving_var - 1).max() > 1e-3
    for a, b in zip(w0, w1):
        assert np.array_equal(a, b)


@needs_mpi
def test_stateful_states_stay_per_rank(mpi_run):
    out, _ = mpi_run
    r0, r1 = _ranks(out, "stateful")
    for a, b in zip(_weights(r0), _weights(r1)):
        assert np.array_equal(a, b)
    assert r0["x_state"].shape == (4, 6)               # each rank: its own 4 sequences
    assert not np.allclose(r0["x_state"], r1["x_state"])
    assert np.all(np.isfinite(r0["h_loss"])) and len(r0["h_loss"]) == 2


@needs_mpi
def test_callbacks_stop_together_and_write_once(mpi_run):
    out, proc = mpi_run
    r0, r1 = _ranks(out, "callbacks")
    # rank 1 alone asks to stop after epoch 2: both ranks stop there
    assert int(r0["x_epochs_first"]) == int(r1["x_epochs_first"]) == 2
    # EarlyStopping (min_delta too large to improve, patience 2): epoch 3 on both ranks
    assert int(r0["x_epochs_second"]) == int(r1["x_epochs_second"]) == 3
    assert int(r0["x_checkpoint_calls"]) == 2 and int(r1["x_checkpoint_calls"]) == 0
    assert sorted(f for f in os.listdir(out) if f.startswith("ckpt_")) == \
        ["ckpt_01.h5", "ckpt_02.h5"]
    assert os.path.exists(os.path.join(out, "saved_by_rank0.h5"))
    assert not os.path.exists(os.path.join(out, "saved_by_rank1.h5"))
    assert proc.stdout.count("Epoch 1/6") == 1                  # one progress bar
    assert "40/40" in proc.stdout and "Train on 40 samples" in proc.stdout


@needs_mpi
def test_collectives_optimizer_and_warmup_by_value(mpi_run):
    out, _ = mpi_run
    for r, npz in enumerate(_ranks(out, "collectives")):
        np.testing.assert_array_equal(npz["x_sum"], np.arange(4) * 3.0)
        np.testing.assert_array_equal(npz["x_mean"], np.arange(4) * 1.5)
        np.testing.assert_array_equal(npz["x_bcast"], np.ones(3))   # rank 1's values
        np.testing.assert_allclose(npz["x_bias_step"], np.full(3, 1.5), rtol=1e-6)
        np.testing.assert_allclose(npz["x_warm"], [0.2, 0.3, 0.4])
        assert str(npz["x_opt_class"]) == "SGD"
        np.testing.assert_allclose(npz["x_logs"], [0.5, 1.0])          # MetricAverage
        assert int(npz["x_iterations"]) == 7                           # rank 0's count
    r0, r1 = _ranks(out, "collectives")
    assert not np.array_equal(r0["x_kernel_before"], r1["x_kernel_before"])  # seeds differ
    for a, b in zip(_weights(r0), _weights(r1)):                      # BroadcastWeights
        assert np.array_equal(a, b)


@needs_mpi
def test_mismatched_model_fails_clearly_on_every_rank(mpi_run):
    out, _ = mpi_run
    errors = [str(npz["x_error"]) for npz in _ranks(out, "mismatch")]
    assert errors[0] == errors[1]
    assert "ranks built different models" in errors[0] and "rank 1" in errors[0]
    assert "(8, 16)" in errors[0] and "(8, 12)" in errors[0]


@needs_mpi
@needs_emulation
def test_two_ranks_replay_graphed_steps_with_the_allreduce_inside(mpi_run, tmp_path):
    """CUDA graphs (CPU stand-ins) around steps whose allreduce is recorded, as NCCL's
    is: the ranks capture together, one replays while the other steps eagerly or has
    an empty share, and the result is one process's plain training."""
    out, _ = mpi_run
    r0, r1 = _ranks(out, "graphs")
    for k in r0.files:
        if k.startswith(("w", "h_")):
            assert np.array_equal(r0[k], r1[k]), k        # the ranks agree bitwise
    model, history, extras = worker.run_reference("graphs", str(tmp_path))
    for a, w in zip(_weights(r0), model.get_weights()):
        np.testing.assert_allclose(a, w, rtol=2e-5, atol=2e-6)
    for k, v in history.history.items():
        np.testing.assert_allclose(r0["h_" + k], v, rtol=1e-5, atol=1e-6)
    assert int(r0["x_iterations"]) == int(r1["x_iterations"]) == extras["iterations"] == 21
    for r in (r0, r1):
        assert str(r["x_failed"]) == "None" and int(r["x_captures"]) >= 1
        assert int(r["x_launches"]) == int(r["x_replays"]) >= 10
    # rank 1's last share (7) has the shape of its regular share and is replayed,
    # while rank 0's last share (7, regular 8) was never captured: it steps eagerly
    assert int(r1["x_replays"]) > int(r0["x_replays"])


def _ranks_trained_alike(mpi_run, case, iterations, epochs):
    """Both ranks' results of ``case``: bitwise-equal weights, and both ranks ran
    ``iterations`` steps in ``epochs`` epochs."""
    r0, r1 = _ranks(mpi_run[0], case)
    for a, b in zip(_weights(r0), _weights(r1)):
        assert np.array_equal(a, b)
    assert int(r0["x_iterations"]) == int(r1["x_iterations"]) == iterations
    assert int(r0["x_epochs"]) == int(r1["x_epochs"]) == epochs
    return r0, r1


@needs_mpi
def test_a_rank_whose_generator_ends_first_ends_training_on_every_rank(mpi_run):
    # rank 1's generator holds 3 batches, rank 0's 10: both stop after step 3
    r0, r1 = _ranks_trained_alike(mpi_run, "ran_out", iterations=3, epochs=1)
    assert "the data of one of the ranks ran out after 3 batch(es)" in str(r0["x_warnings"])
    assert "steps=5" in str(r0["x_warnings"])
    assert str(r1["x_warnings"]) == ""                 # rank 0 warns, once


@needs_mpi
def test_samples_per_epoch_reached_at_different_steps_ends_epochs_together(mpi_run):
    # 20 samples: rank 1 (batches of 6) is there after 4 batches, rank 0 (4) after 5
    r0, r1 = _ranks_trained_alike(mpi_run, "samples_ranks", iterations=8, epochs=2)
    assert str(r0["x_warnings"]) == str(r1["x_warnings"]) == ""
    np.testing.assert_array_equal(r0["h_loss"], r1["h_loss"])


@needs_mpi
def test_a_failing_rank_ends_the_job_quickly(tmp_path):
    """Through the launcher (gpuseq-run): rank 1 raises, rank 0 would train for minutes."""
    proc, seconds = _launch(tmp_path, ["raise"], timeout=120, through_launcher=True)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert seconds < 60          # the other rank would train for minutes without the abort


# -- one process: nothing changes, mpi4py stays away -------------------------------------
def test_single_process_is_unchanged_and_never_imports_mpi4py(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, 'tests')\n"
        "import distributed_worker as w\n"
        "from gpuseq import distribute as d\n"
        "m, h, _ = w.case_adam(100, 1)\n"
        "assert d.size() == 1 and d.rank() == 0 and d.is_chief() and d.local_rank() == 0\n"
        "a = np.arange(3.0); assert np.array_equal(d.allreduce(a), a)\n"
        "np.save(sys.argv[1], np.concatenate([x.ravel() for x in m.get_weights()]))\n"
        "assert 'mpi4py' not in sys.modules, 'mpi4py imported'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_"))}
    env["PYTHONPATH"] = ROOT
    outs = []
    for k in range(2):
        path = str(tmp_path / f"single_{k}.npy")
        subprocess.run([sys.executable, "-c", code, path], cwd=ROOT, env=env, check=True,
                       timeout=120)
        outs.append(np.load(path))
    assert np.array_equal(outs[0], outs[1])
    # and the same in this process
    m, _, _ = worker.case_adam(100, 1)
    assert np.array_equal(np.concatenate([x.ravel() for x in m.get_weights()]), outs[0])


# -- the logic without MPI --------------------------------------------------------------
def test_bucket_plan_orders_bounds_and_round_trips():
    shapes = [(3, 4), (5,), (2, 2), (7,)]
    dtypes = ["float32", "float32", "float64", "float32"]
    plan = BucketPlan(shapes, dtypes, max_bytes=4 * 17)
    # float32: [a(12) b(5)] fills 68 bytes; d(7) starts a new bucket; float64 apart
    assert [(b.dtype.name, [m[0] for m in b.members], b.size) for b in plan.buckets] == \
        [("float32", [0, 1], 17), ("float64", [2], 4), ("float32", [3], 7)]
    arrays = [np.random.RandomState(i).randn(*s).astype(d) for i, (s, d) in
              enumerate(zip(shapes, dtypes))]
    bufs = plan.pack(arrays, np, scale=2.0)
    for a, b in zip(arrays, plan.unpack(bufs)):
        np.testing.assert_array_equal(b, a * a.dtype.type(2.0))
    big = BucketPlan([(100,)], ["float32"], max_bytes=16)     # larger than a bucket: alone
    assert [b.size for b in big.buckets] == [100]
    with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
        BucketPlan([(1,)], ["float32"], max_bytes=0)
    with pytest.raises(ValueError, match="expects"):
        plan.pack([arrays[1]] + arrays[1:], np)


def test_shard_bounds_cover_every_sample_once():
    for n in range(0, 12):
        for size in (1, 2, 3, 5):
            parts = [shard_bounds(n, r, size) for r in range(size)]
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            assert max(b - a for a, b in parts) - min(b - a for a, b in parts) <= 1


def test_sharded_sequence_reads_each_batch_once():
    x = np.arange(45, dtype="float32").reshape(45, 1)
    seq = worker.Batches(x, x, 5)                # 9 batches
    shards = [ShardedSequence(seq, r, 2) for r in (0, 1)]
    assert [len(s) for s in shards] == [5, 5]
    seen = np.concatenate([s[i][0].ravel() for i in range(5) for s in shards])
    np.testing.assert_array_equal(np.sort(seen), x.ravel())
    assert shards[1][4][0].shape == (0, 1)        # past the end: an empty batch


def test_model_signature_mismatch_message():
    a = model_signature(worker.mlp(1, "sgd"))
    b = model_signature(worker.mlp(1, "sgd", width=12))
    assert signature_mismatch([a, a]) is None
    msg = signature_mismatch([a, b])
    assert "rank(s) [1]" in msg and "Dense[(8, 16):float32" in msg and "(8, 12)" in msg


def test_multi_gpu_model_checks_the_world_size():
    m = worker.mlp(1, "sgd")
    assert multi_gpu_model(m, gpus=1) is m
    with pytest.raises(ValueError, match=r"gpuseq-run -n 4 your_script.py"):
        multi_gpu_model(m, gpus=4)
    with pytest.raises(ValueError, match="gpus must be"):
        multi_gpu_model(m, gpus="two")


def test_launcher_command_and_errors(tmp_path, monkeypatch, capsys):
    cmd = launcher.build_command(4, "train.py", ["--epochs", "3"], "/x/mpiexec", 0, True)
    assert cmd[:5] == ["/x/mpiexec", "-n", "4", "-bind-to", "core"]
    assert cmd[5:] == [sys.executable, "-m", "mpi4py", "train.py", "--epochs", "3"]
    gpu = launcher.build_command(2, "t.py", [], "/x/mpiexec", 2, True)
    assert "-bind-to" not in gpu and gpu[-4:] == ["gpuseq.distribute.launcher",
                                                  "--rank-entry", "2", "t.py"]
    monkeypatch.setattr(launcher.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"pip install gpuseq\[distributed\]"):
        launcher.find_mpiexec()
    script = tmp_path / "s.py"
    script.write_text("")
    with pytest.raises(SystemExit, match=r"pip install gpuseq\[distributed\]"):
        launcher.main(["-n", "2", str(script)])


def test_warmup_and_callbacks_arguments():
    with pytest.raises(ValueError, match="initial_lr must be a positive number"):
        dist.LearningRateWarmup(initial_lr=0)
    warm = dist.LearningRateWarmup(initial_lr=0.1, warmup_epochs=3)
    assert warm.rate_at(0) == warm.rate_at(2.5) == 0.1     # one rank: no ramp


# -- the DataParallel step in this process (one rank): the same training ---------------
def _fit_bn_model(opt):
    m = worker.mlp(7, opt, bn=True)
    x, y, _ = worker.data(n=45)
    h = m.fit(x, y, batch_size=16, epochs=2, shuffle=True, validation_split=0.2, verbose=0)
    return m.get_weights(), h.history


def _assert_same_training(a, b):
    for u, v in zip(a[0], b[0]):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    for k in b[1]:
        np.testing.assert_allclose(a[1][k], b[1][k], rtol=1e-5)


def test_data_parallel_step_of_one_rank_trains_like_the_plain_step(monkeypatch, numpy_backend):
    from gpuseq.distribute import communicators, strategy
    plain = _fit_bn_model("adam")
    monkeypatch.setattr(strategy, "current",
                        lambda: strategy.DataParallel(communicators.SingleProcess()))
    _assert_same_training(_fit_bn_model("adam"), plain)


@pytest.mark.gpu
def test_nccl_communicator_of_one_rank(monkeypatch):
    """On a GPU: a 1-rank NCCL communicator packs, reduces and broadcasts device
    buffers, and fit through it trains like a plain run."""
    from gpuseq.backend import dispatch
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    pytest.importorskip("cupy.cuda.nccl")
    import cupy
    from gpuseq.distribute import communicators, strategy
    with dispatch.use_backend("cupy"):
        comm = communicators.NcclCommunicator(None)
        a = [cupy.arange(5, dtype="float32"), cupy.ones((2, 3), dtype="float32")]
        out = comm.allreduce_arrays(a, scale=2.0)
        for u, v in zip(out, a):
            cupy.testing.assert_array_equal(u, 2 * v)
        comm.broadcast_arrays(a)
        cupy.testing.assert_array_equal(a[0], cupy.arange(5, dtype="float32"))
        plain = _fit_bn_model("sgd")
        monkeypatch.setattr(strategy, "current", lambda: strategy.DataParallel(comm))
        _assert_same_training(_fit_bn_model("sgd"), plain)


# -- votes, the capturable step and the per-rank epochs, in this process ------------------
class _TwoRankVotes(communicators.Communicator):
    """A communicator of 2 ranks whose other rank votes ``other``: what the host
    votes compute, without MPI."""

    size = 2

    def __init__(self, other):
        super().__init__()
        self.other = other

    def _allreduce_sum(self, buf):
        buf += 1 if self.other else 0


def test_any_rank_and_all_ranks_votes():
    single = communicators.SingleProcess()
    assert single.all_ranks(True) is True and single.all_ranks(0) is False
    assert single.any_rank(1) is True
    for mine in (False, True):
        for other in (False, True):
            comm = _TwoRankVotes(other)
            assert comm.all_ranks(mine) is (mine and other)
            assert comm.any_rank(mine) is (mine or other)
    assert single.host_sums([3, 0]) == [3, 0]
    two = _TwoRankVotes(True)                    # the other rank adds 1 to every value
    assert two.host_sums([2, 5]) == [3, 6] and all(type(v) is int for v in two.host_sums([1]))
    assert not communicators.SingleProcess.capturable
    assert not communicators.MpiCommunicator.capturable
    assert communicators.NcclCommunicator.capturable


def _strategy(capturable):
    from gpuseq.distribute import strategy
    comm = worker.CapturableSingle() if capturable else communicators.SingleProcess()
    return strategy.DataParallel(comm)


def test_capturable_combine_step_reads_nothing_on_the_host(numpy_backend, monkeypatch):
    """With a capturable communicator: the same reduced values as the host step, the
    logs and the global size as 0-d arrays (host_logs makes size an int), and no read
    of a device value on the host (dispatch.to_host is not called)."""
    from gpuseq.backend import dispatch
    from gpuseq.distribute import strategy
    m = worker.mlp(1, "sgd", bn=True)
    x, y, _ = worker.data(n=8)
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)          # moving statistics move
    params = m._trainable_variables()
    rng = np.random.RandomState(0)
    grads = [rng.randn(*p.data.shape).astype("float32") for p in params]
    logs = {"loss": 0.75, "acc": 0.5}
    mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
    for n, msk in ((5, None), (2, mask), (0, None)):
        stats = [v.data.copy() for v in strategy.moving_statistics(m)]
        host_pairs, host_logs = _strategy(False).combine_step(
            m, list(zip(grads, params)), logs, n, msk) if n else (None, None)
        for v, s in zip(strategy.moving_statistics(m), stats):
            v.data[...] = s
        calls = []
        monkeypatch.setattr(dispatch, "to_host", lambda a: calls.append(a) or np.asarray(a))
        dev = _strategy(True)
        with np.errstate(invalid="ignore", divide="ignore"):     # n = 0: 0 / 0
            pairs, dlogs = dev.combine_step(m, list(zip(grads, params)), logs, n, msk)
        monkeypatch.undo()
        assert calls == []
        assert np.ndim(dlogs["size"]) == 0 and not isinstance(dlogs["size"], int)
        assert dev.host_logs(dlogs)["size"] == n and isinstance(dev.host_logs(dlogs)["size"], int)
        if not n:                 # no samples anywhere: no check on the device path
            continue
        assert host_logs["size"] == n
        for (g, p), (hg, hp) in zip(pairs, host_pairs):
            assert p is hp
            np.testing.assert_array_equal(g, hg)
        for k in logs:
            assert np.ndim(dlogs[k]) == 0
            np.testing.assert_allclose(float(dlogs[k]), host_logs[k], rtol=1e-7)
    assert _strategy(True).allows_graph_capture and not _strategy(False).allows_graph_capture


def _masked_model(jit):
    set_random_seed(5)
    m = Sequential([Embedding(10, 4, mask_zero=True, input_length=6),
                    LSTM(5, return_sequences=True), TimeDistributed(Dense(1))])
    m.compile(Adam(lr=0.02), "mse", jit_compile=jit)
    return m


def _masked_data():
    r = np.random.RandomState(2)
    x = r.randint(1, 10, size=(20, 6))
    for i, length in enumerate(r.randint(1, 7, size=20)):
        x[i, length:] = 0
    return x, r.randn(20, 6, 1).astype("float32")


@needs_emulation
@pytest.mark.parametrize("kind", ["mlp", "masked"])
def test_capturable_data_parallel_step_replays_like_the_plain_fit(monkeypatch, kind):
    """DataParallel's device-style step (one process, a capturable communicator) inside
    replayed graphs on the emulated CUDA backend: the plain eager fit's weights and
    history (the logged global size weights the epoch averages)."""
    from gpuseq.backend import dispatch
    from gpuseq.distribute import strategy
    results = []
    with dispatch.use_backend("emulated"):
        for graphed in (False, True):
            if kind == "mlp":
                m = worker.mlp(3, Adam(lr=0.01), bn=True, jit_compile=graphed)
                x, y, _ = worker.data(n=45)
                fit = dict(batch_size=16, epochs=3, shuffle=True, validation_split=0.2)
            else:
                m = _masked_model(graphed)
                x, y = _masked_data()
                fit = dict(batch_size=8, epochs=3, shuffle=False)
            runner = None
            if graphed:
                runner = worker.bind_recorded_graphs(m)
                dp = _strategy(True)
                monkeypatch.setattr(strategy, "current", lambda: dp)
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                h = m.fit(x, y, verbose=0, **fit)
            monkeypatch.undo()
            results.append((m.get_weights(), h.history, runner))
    (w_e, h_e, _), (w_g, h_g, runner) = results
    assert runner.failed is None and runner.ineligible is None and runner.captures >= 1
    assert runner.replays >= 3
    for a, b in zip(w_g, w_e):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)
    assert set(h_g) == set(h_e)
    for k in h_e:
        np.testing.assert_allclose(h_g[k], h_e[k], rtol=1e-5, atol=1e-6)


@needs_emulation
def test_graphed_data_parallel_step_logs_the_global_size_from_the_host_vote(monkeypatch):
    """With a runner, the per-step host vote also sums the ranks' sample counts: the
    step's logged size is a Python int (nothing read back from the device), empty
    shares included."""
    from gpuseq.backend import dispatch
    with dispatch.use_backend("emulated"):
        m = worker.mlp(3, Adam(lr=0.01), jit_compile=True)
        runner = worker.bind_recorded_graphs(m)
        dp = _strategy(True)
        step = dp.wrap_train_function(m, m.train_step, runner=runner)
        x, y, _ = worker.data(n=12)
        sizes = []
        for n in (12, 12, 12, 0):
            xs, ys = dispatch.to_device(x[:n]), dispatch.to_device(y[:n])
            with np.errstate(invalid="ignore"):     # alone with no samples: 0 / 0
                logs = step(([xs], ys, None))
            sizes.append(logs["size"])
            assert type(logs["size"]) is int
        assert sizes == [12, 12, 12, 0] and runner.captures == 1
        eager = dp.wrap_train_function(m, m.train_step)       # no runner: eager steps
        logs = eager(([dispatch.to_device(x)], dispatch.to_device(y), None))
        assert type(logs["size"]) is int and logs["size"] == 12


class _Batches:
    """A data adapter over a list of batches (what EpochIterator asks of one)."""

    steps_per_pass = None

    def __init__(self, sizes):
        self.sizes = sizes

    def stream(self):
        return ((np.zeros((n, 1)), np.zeros((n, 1)), None) for n in self.sizes)


def _votes_of_other_rank(answers):
    """An ``agree`` whose other rank answers ``answers`` in turn; records our flags."""
    mine = []

    def agree(flag):
        mine.append(bool(flag))
        return bool(flag) and answers.pop(0)
    return agree, mine


def test_epoch_iterator_ends_an_epoch_when_another_rank_cannot_go_on():
    from gpuseq.engine.epoch_iterator import EpochIterator
    # the other rank takes two steps and its epoch ends (samples): we end with it,
    # keep our drawn batch for the next epoch, and are not exhausted
    agree, mine = _votes_of_other_rank([True, True, False, True,
                                        True, True, True, False, True])
    it = EpochIterator(_Batches([1, 2, 3, 4, 5, 6]), samples=100, agree=agree)
    assert [d[0].shape[0] for _, d in it.epoch()] == [1, 2]
    assert mine == [True, True, True, True] and not it.exhausted   # step + "ran out?"
    assert [d[0].shape[0] for _, d in it.epoch()] == [3, 4, 5]       # 3 was kept
    assert mine[4:] == [True] * 5 and not it.exhausted
    # the other rank ran out of data: both exhausted, the warning says so
    agree, mine = _votes_of_other_rank([True, False, False])
    it = EpochIterator(_Batches([1, 2, 3]), steps=3, agree=agree)
    with pytest.warns(UserWarning, match="data of one of the ranks ran out after 1 batch"):
        assert len(list(it.epoch())) == 1
    assert it.exhausted and mine == [True, True, True]
    # this rank runs out; it warns only when told to (rank 0)
    agree, mine = _votes_of_other_rank([True, True])
    it = EpochIterator(_Batches([1]), steps=3, agree=agree, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(it.epoch())) == 1
    assert it.exhausted and mine == [True, False, False]
    # steps reached: the same step everywhere, no vote
    agree, mine = _votes_of_other_rank([True, True])
    it = EpochIterator(_Batches([1, 2, 3]), steps=2, agree=agree)
    assert len(list(it.epoch())) == 2 and mine == [True, True] and not it.exhausted


@pytest.mark.gpu
def test_nccl_step_captured_in_cuda_graphs_trains_like_a_plain_run(monkeypatch):
    """On a GPU: a 1-rank NCCL communicator under DataParallel, training steps (the
    NCCL allreduce included) captured and replayed as real CUDA graphs, equal the
    plain fit."""
    from gpuseq.backend import dispatch
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    pytest.importorskip("cupy.cuda.nccl")
    from gpuseq.distribute import strategy
    results = []
    with dispatch.use_backend("cupy"):
        for graphed in (False, True):
            m = worker.mlp(7, SGD(lr=0.05, momentum=0.9), bn=True, jit_compile=graphed)
            x, y, _ = worker.data(n=45)
            if graphed:
                dp = strategy.DataParallel(communicators.NcclCommunicator(None))
                monkeypatch.setattr(strategy, "current", lambda: dp)
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)
                h = m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
            monkeypatch.undo()
            results.append((m.get_weights(), h.history, m._graph_runner))
    (w_e, h_e, _), (w_g, h_g, runner) = results
    assert runner is not None and runner.failed is None and runner.captures >= 1
    for a, b in zip(w_g, w_e):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for k in h_e:
        np.testing.assert_allclose(h_g[k], h_e[k], rtol=1e-4)
