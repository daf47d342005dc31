"""Peer frameworks for the benchmarks: Keras 3 on its JAX or torch backend, timed the
same way as gpuseq on the same data in the same run.

One model definition serves every framework: a *build function* ``build_fn(api)``
receives the framework's top-level module (``keras`` or ``gpuseq``) and returns a
compiled model written against the API both share (``api.Sequential``,
``api.layers.Conv2D``, ``api.optimizers.SGD(learning_rate=...)``, ...). It must be a
module-level function of an importable file, because Keras runs in a child process
(Keras picks its backend once per process, from ``KERAS_BACKEND``).

    from peers import run_keras, run_gpuseq

    sps, why = run_keras("jax", build_vgg, x, y, batch_size=32, epochs=1)
    if sps is None:
        print("skipped:", why)

Timing (both frameworks): one warm-up ``fit`` on a few batches (compilation, first
allocations), then ``fit`` over all of ``x`` for ``epochs`` epochs without shuffling;
the result is samples per second of the timed fit.
"""
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

KERAS_BACKENDS = ("jax", "torch", "tensorflow")


def time_fit(fit, x, y, batch_size, epochs=1, warmup_batches=2, sync=None):
    """Seconds of ``fit(x, y, epochs)`` after a warm-up ``fit`` on a few batches.

    Args:
        fit: callable ``fit(x, y, epochs)``.
        sync: optional callable run after each fit (e.g. a device synchronisation).
    """
    w = min(len(x), batch_size * warmup_batches)
    fit(x[:w], y[:w], 1)
    if sync:
        sync()
    t = time.perf_counter()
    fit(x, y, epochs)
    if sync:
        sync()
    return time.perf_counter() - t


def _function_ref(fn):
    """(file path, qualified name) through which a child process can import ``fn``."""
    if not callable(fn) or "<locals>" in getattr(fn, "__qualname__", "<locals>"):
        raise ValueError("build_fn must be a module-level function (the child process "
                         f"imports it by name). Received: {fn!r}")
    path = inspect.getsourcefile(fn)
    if path is None:
        raise ValueError(f"Cannot locate the source file of build_fn {fn!r}.")
    return os.path.abspath(path), fn.__qualname__


def _load_function(path, qualname):
    # a private module name, so that a script's `if __name__ == "__main__"` does not run
    spec = importlib.util.spec_from_file_location("_peer_build_module", path)
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(mod)
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_keras(backend_name, build_fn, x, y, batch_size, epochs=1, timeout=1800,
              warmup_batches=2, env=None):
    """Train ``build_fn(keras)`` with Keras 3 on ``backend_name`` in a child process.

    Args:
        backend_name: 'jax', 'torch' (or 'tensorflow'), the value of KERAS_BACKEND.
        build_fn: module-level function ``build_fn(api) -> compiled model``.
        x, y: training data (NumPy arrays); saved to a temporary folder for the child.
        batch_size, epochs: as in ``fit``.
        timeout: seconds before the child is stopped.
        env: extra environment variables for the child (e.g. thread counts).

    Returns:
        ``(samples_per_second, None)``, or ``(None, reason)`` when the peer cannot run
        (Keras or the backend not installed, an error in the child, a timeout).
    """
    if backend_name not in KERAS_BACKENDS:
        return None, (f"unknown Keras backend {backend_name!r}; expected one of "
                      f"{KERAS_BACKENDS}")
    try:
        path, qualname = _function_ref(build_fn)
    except ValueError as e:
        return None, str(e)
    with tempfile.TemporaryDirectory(prefix="gpuseq-peer-") as tmp:
        np.save(os.path.join(tmp, "x.npy"), np.asarray(x))
        np.save(os.path.join(tmp, "y.npy"), np.asarray(y))
        job = {"path": path, "qualname": qualname, "dir": tmp, "batch_size": int(batch_size),
               "epochs": int(epochs), "warmup_batches": int(warmup_batches)}
        child_env = dict(os.environ, KERAS_BACKEND=backend_name)
        child_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        child_env.update(env or {})
        cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(job)]
        try:
            p = subprocess.run(cmd, env=child_env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"keras-{backend_name} timed out after {timeout} s"
    if p.returncode != 0:
        lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
        last = lines[-1] if lines else f"exit status {p.returncode}"
        return None, f"keras-{backend_name} failed: {last[:300]}"
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"keras-{backend_name} printed no result"
    return out["samples_per_s"], None


def thread_env(threads):
    """Environment variables that cap the CPU threads of a child framework process
    (OpenMP / BLAS / MKL, and XLA's Eigen pool when ``threads`` is 1)."""
    if not threads:
        return {}
    n = str(int(threads))
    env = {"OMP_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n, "MKL_NUM_THREADS": n}
    if int(threads) == 1:
        env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false"
                            " intra_op_parallelism_threads=1").strip()
    return env


def run_gpuseq(backend_name, build_fn, x, y, batch_size, epochs=1, warmup_batches=2,
               threads=None):
    """Train ``build_fn(gpuseq)`` in this process on gpuseq's ``backend_name``.

    Args:
        threads: cap the BLAS threads of this process while it runs (needs
            threadpoolctl, which scikit-learn installs); None = leave as is.

    Returns ``(samples_per_second, None)`` or ``(None, reason)`` when the backend
    cannot run here (e.g. 'cupy' without a GPU).
    """
    if threads:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return None, "threads= needs threadpoolctl (pip install threadpoolctl)"
        with threadpool_limits(int(threads)):
            return run_gpuseq(backend_name, build_fn, x, y, batch_size, epochs,
                              warmup_batches)
    sys.path.insert(0, ROOT)
    import gpuseq
    from gpuseq.backend import dispatch
    try:
        dispatch.set_backend(backend_name)
    except Exception as e:  # BackendUnavailableError and friends
        return None, f"gpuseq-{backend_name} unavailable: {e}"
    if hasattr(gpuseq.utils, "set_random_seed"):
        gpuseq.utils.set_random_seed(0)
    model = build_fn(gpuseq)
    sync = None
    if dispatch.is_gpu():
        import cupy
        sync = cupy.cuda.Device().synchronize

    def fit(a, b, n_epochs):
        model.fit(a, b, batch_size=batch_size, epochs=n_epochs, verbose=0, shuffle=False)
    graphs = dispatch.is_gpu() and os.environ.get("GPUSEQ_CUDA_GRAPHS", "") != "0"
    # with CUDA graphs a batch shape is captured on its third step (the first two
    # create the optimizer's slots and compile the kernels): in the warm-up, as
    # Keras's JIT compiles its step there
    secs = time_fit(fit, x, y, batch_size, epochs, warmup_batches + 2 * graphs, sync)
    runner = getattr(model, "_graph_runner", None)
    if runner is not None:
        print(f"gpuseq CUDA graphs: {runner.captures} captured, {runner.replays} replays, "
              f"eager because: {runner.failed or runner.ineligible or '-'}", file=sys.stderr)
    return len(x) * epochs / secs, None


_SIMD_FLAGS = ("sse", "ssse3", "avx", "fma", "f16c", "amx")


def cpu_description():
    """The CPU's model name and its vector-instruction flags (from /proc/cpuinfo; empty
    where it cannot be read), and the load average when the run started."""
    model, flags = "", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = [v for v in value.split() if v.startswith(_SIMD_FLAGS)]
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu_model": model, "cpu_simd_flags": flags, "load_average": load}


def environment():
    """A description of the machine and library versions, for result files."""
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor(), "cpu_count": os.cpu_count(),
            **cpu_description(),
            "numpy": np.__version__,
            "gpuseq_tf32": os.environ.get("GPUSEQ_TF32", "0"),
            "gpuseq_cuda_graphs": os.environ.get("GPUSEQ_CUDA_GRAPHS", "auto"),
            "gpuseq_conv_algorithm": os.environ.get("GPUSEQ_CONV_ALGORITHM", "auto")}
    from importlib import metadata
    for name, dist in (("keras", "keras"), ("jax", "jax"), ("torch", "torch"),
                       ("cupy", "cupy-cuda12x"), ("cupy13", "cupy-cuda13x")):
        try:
            info[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[name] = None
    return info


def _child(job):
    import warnings
    warnings.filterwarnings("ignore")
    import keras
    keras.utils.set_random_seed(0)
    build_fn = _load_function(job["path"], job["qualname"])
    x = np.load(os.path.join(job["dir"], "x.npy"))
    y = np.load(os.path.join(job["dir"], "y.npy"))
    model = build_fn(keras)
    bs = job["batch_size"]

    def fit(a, b, n_epochs):
        model.fit(a, b, batch_size=bs, epochs=n_epochs, verbose=0, shuffle=False)
    secs = time_fit(fit, x, y, bs, job["epochs"], job["warmup_batches"])
    print(json.dumps({"samples_per_s": len(x) * job["epochs"] / secs, "seconds": secs,
                      "keras": keras.__version__, "backend": keras.backend.backend()}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        print(__doc__)
