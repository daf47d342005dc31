"""Where the kernel sources are, and where compiled kernels are cached.

The CUDA kernel loader (:mod:`~gpuseq.backend.kernel_loader`), the CPU emulation of
CUDA launches (:mod:`~gpuseq.backend.cuda_emulation`) and the host C++ kernels of the
NumPy backend (:mod:`~gpuseq.backend.numpy_ops._host`) all read these two folders;
this module imports nothing of gpuseq, so each of them can stand on it.
"""
import importlib.resources
import os
import pathlib
import tempfile


def kernels_dir():
    """The folder holding the ``.cu`` files: ``kernels/`` beside the ``gpuseq``
    package in a source tree, else the installed ``gpuseq.kernels`` package data."""
    here = pathlib.Path(__file__).resolve()
    tree = here.parents[2] / "kernels"
    if (tree / "gpuseq_common.cuh").is_file():
        return tree
    try:
        res = importlib.resources.files("gpuseq.kernels")
    except ModuleNotFoundError:
        res = None
    if res is not None:
        path = pathlib.Path(str(res))
        if (path / "gpuseq_common.cuh").is_file():
            return path
    raise FileNotFoundError(
        "The CUDA kernel sources were not found: expected kernels/gpuseq_common.cuh beside "
        f"the gpuseq package ({tree}) or the package data of gpuseq.kernels. Reinstall gpuseq "
        "(pip install gpuseq) or run from a complete source checkout.")


def cache_dir(kind):
    """A writable cache folder ``<root>/<kind>`` for compiled kernel artefacts.

    The root is ``$GPUSEQ_CACHE_DIR``, else ``$XDG_CACHE_HOME/gpuseq`` or
    ``~/.cache/gpuseq``, else ``<temp>/gpuseq-cache-<uid>``: the first writable one.
    """
    root = os.environ.get("GPUSEQ_CACHE_DIR")
    candidates = [pathlib.Path(root)] if root else []
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append(pathlib.Path(xdg) / "gpuseq" if xdg else
                      pathlib.Path.home() / ".cache" / "gpuseq")
    candidates.append(pathlib.Path(tempfile.gettempdir()) / f"gpuseq-cache-{os.getuid()}")
    for base in candidates:
        path = base / kind
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            return path
    raise OSError(
        "No writable cache folder for compiled kernels. Set GPUSEQ_CACHE_DIR to a writable "
        f"folder. Tried: {[str(c) for c in candidates]}")
