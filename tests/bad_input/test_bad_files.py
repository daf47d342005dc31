"""Files: loading what is not a good weights/model file, and saving where a save cannot
succeed. Each row asserts the exception type, a message fragment, and that the model and
the files in the directory are unchanged (byte-identical)."""
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import h5py
import numpy as np
import pytest

from gpuseq.layers import Dense
from gpuseq.models import Sequential, load_model
from gpuseq.saving.hdf5 import SavedFileError, SaveWriteError, remove_stale_temporaries
from _bad_input_harness import expect_rejected, files_state, model  # noqa: F401  (fixture)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# ------------------------------------------------------------------ files to load
def _other_model(units=5):
    m = Sequential([Dense(units, input_shape=(3,)), Dense(2)])
    m.compile("sgd", "mse")
    return m


def f_missing(d):
    return str(d / "missing.h5")


def f_directory(d):
    (d / "adir").mkdir()
    return str(d / "adir")


def f_empty(d):
    (d / "empty.h5").write_bytes(b"")
    return str(d / "empty.h5")


def f_random(d):
    (d / "random.h5").write_bytes(np.random.default_rng(0).bytes(4096))
    return str(d / "random.h5")


def f_text(d):
    (d / "model.json.h5").write_text('{"class_name": "Sequential"}')
    return str(d / "model.json.h5")


def f_truncated(d):
    _other_model(3).save(str(d / "full.h5"))
    data = (d / "full.h5").read_bytes()
    (d / "truncated.h5").write_bytes(data[: len(data) // 2])
    (d / "full.h5").unlink()
    return str(d / "truncated.h5")


def f_zip(d):
    with zipfile.ZipFile(d / "model.keras", "w") as z:
        z.writestr("config.json", "{}")
    return str(d / "model.keras")


def f_empty_hdf5(d):
    with h5py.File(d / "nothing.h5", "w") as f:
        f.attrs["note"] = "no weights here"
    return str(d / "nothing.h5")


def f_damaged_attr_name(d):
    with h5py.File(d / "badattr.h5", "w") as f:
        f.attrs[b"\xff\xfelayer_names"] = np.array([b"dense_1"])
        f.attrs["keras_version"] = b"2.2.4"
    return str(d / "badattr.h5")


def f_damaged_attr_value(d):
    _other_model(4).save_weights(str(d / "w.h5"))
    with h5py.File(d / "w.h5", "a") as f:
        f.attrs["layer_names"] = np.array([b"\xff\xfe\xfd", b"x"])
    return str(d / "w.h5")


def f_wrong_architecture(d):
    _other_model(5).save_weights(str(d / "other.h5"))
    return str(d / "other.h5")


def f_wrong_layer_count(d):
    m = Sequential([Dense(4, input_shape=(3,))])
    m.save_weights(str(d / "one.h5"))
    return str(d / "one.h5")


def f_missing_layer_group(d):
    _other_model(4).save_weights(str(d / "w.h5"))
    with h5py.File(d / "w.h5", "a") as f:
        del f[f.attrs["layer_names"][0].decode()]
    return str(d / "w.h5")


def f_missing_dataset(d):
    _other_model(4).save_weights(str(d / "w.h5"))
    with h5py.File(d / "w.h5", "a") as f:
        g = f[f.attrs["layer_names"][0].decode()]
        del g[g.attrs["weight_names"][0].decode()]
    return str(d / "w.h5")


def f_weights_only(d):
    _other_model(4).save_weights(str(d / "w.h5"))
    return str(d / "w.h5")


def f_string_weights(d):
    _other_model(4).save_weights(str(d / "w.h5"))
    with h5py.File(d / "w.h5", "a") as f:
        g = f[f.attrs["layer_names"][0].decode()]
        name = g.attrs["weight_names"][1].decode()
        del g[name]
        g[name] = np.array([b"a", b"b", b"c", b"d"])
    return str(d / "w.h5")


def f_int_path(d):
    return 3


FNF, SFE, V, T = FileNotFoundError, SavedFileError, ValueError, TypeError

LOAD_CASES = [
    ("weights-missing", f_missing, "load_weights", FNF, "no such file"),
    ("weights-directory", f_directory, "load_weights", SFE, "is a directory"),
    ("weights-empty-file", f_empty, "load_weights", SFE, "not an HDF5 file"),
    ("weights-random-bytes", f_random, "load_weights", SFE, "not an HDF5 file"),
    ("weights-json-text", f_text, "load_weights", SFE, "not an HDF5 file"),
    ("weights-truncated", f_truncated, "load_weights", SFE, "truncated"),
    ("weights-zip", f_zip, "load_weights", SFE, "zip archive"),
    ("weights-empty-hdf5", f_empty_hdf5, "load_weights", SFE, "holds no Keras weights"),
    ("weights-damaged-attr-name", f_damaged_attr_name, "load_weights", SFE,
     "not valid UTF-8"),
    ("weights-damaged-attr-value", f_damaged_attr_value, "load_weights", SFE, "damaged"),
    ("weights-wrong-architecture", f_wrong_architecture, "load_weights", V, "(3, 5)"),
    ("weights-wrong-layer-count", f_wrong_layer_count, "load_weights", V, "1 layer"),
    ("weights-missing-layer-group", f_missing_layer_group, "load_weights", SFE, "no group"),
    ("weights-missing-dataset", f_missing_dataset, "load_weights", SFE, "no such dataset"),
    ("weights-string-dataset", f_string_weights, "load_weights", V, "bias"),
    ("weights-int-path", f_int_path, "load_weights", T, "filepath=3"),
    ("weights-by-name-damaged-attr", f_damaged_attr_name, "load_weights_by_name", SFE,
     "not valid UTF-8"),
    ("model-missing", f_missing, "load_model", FNF, "no such file"),
    ("model-directory", f_directory, "load_model", SFE, "is a directory"),
    ("model-random-bytes", f_random, "load_model", SFE, "not an HDF5 file"),
    ("model-truncated", f_truncated, "load_model", SFE, "truncated"),
    ("model-zip", f_zip, "load_model", SFE, "zip archive"),
    ("model-weights-only-file", f_weights_only, "load_model", V, "model_config"),
    ("model-damaged-attr-name", f_damaged_attr_name, "load_model", V, "model_config"),
    ("model-int-path", f_int_path, "load_model", T, "filepath=3"),
]


def _load(kind, model, path):
    if kind == "load_model":
        return load_model(path)
    if kind == "load_weights_by_name":
        return model.load_weights(path, by_name=True)
    return model.load_weights(path)


@pytest.mark.parametrize("make, kind, exc, fragment", [c[1:] for c in LOAD_CASES],
                         ids=[c[0] for c in LOAD_CASES])
def test_loading_a_bad_file_is_refused_and_changes_nothing(make, kind, exc, fragment, model,
                                                         tmp_path):
    path = make(tmp_path)
    expect_rejected(lambda: _load(kind, model, path), exc, fragment, model=model,
                    directory=tmp_path)


# ------------------------------------------------------------------ saves that must fail
def _existing(d):
    """A directory holding model.h5 (and nothing else); returns the target path."""
    _other_model(4).save(str(d / "model.h5"))
    return str(d / "model.h5")


SAVE_CASES = [
    ("save-to-directory", lambda d: str(d), "save", {}, IsADirectoryError, "is a directory"),
    ("weights-to-directory", lambda d: str(d), "save_weights", {}, IsADirectoryError,
     "is a directory"),
    ("save-no-overwrite", _existing, "save", {"overwrite": False}, FileExistsError,
     "overwrite=False"),
    ("weights-no-overwrite", _existing, "save_weights", {"overwrite": False},
     FileExistsError, "overwrite=False"),
    ("weights-bad-format", _existing, "save_weights", {"save_format": "tf"}, V,
     "save_format='tf'"),
    ("save-none-path", lambda d: None, "save", {}, T, "filepath=None"),
    ("weights-list-path", lambda d: ["a.h5"], "save_weights", {}, T, "filepath=['a.h5']"),
    ("save-under-a-file", lambda d: str(d / "model.h5" / "x.h5") if _existing(d) else None,
     "save", {}, FileExistsError, "cannot create a file in the directory"),
]


@pytest.mark.parametrize("make, kind, kwargs, exc, fragment", [c[1:] for c in SAVE_CASES],
                         ids=[c[0] for c in SAVE_CASES])
def test_save_that_cannot_succeed_is_refused_and_changes_nothing(make, kind, kwargs, exc,
                                                                 fragment, model, tmp_path):
    path = make(tmp_path)
    expect_rejected(lambda: getattr(model, kind)(path, **kwargs), exc, fragment, model=model,
                    directory=tmp_path)


# ------------------------------------------------------------------ faults in a child process
def _worker(*args, **popen):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, os.path.join(HERE, "_save_worker.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT, **popen)


def _events(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("kind", ["save", "save_weights"])
def test_full_disk_gives_a_clear_error_and_the_old_file_survives(kind, tmp_path):
    """A real write failure: the child may not grow a file past 100 kB (RLIMIT_FSIZE, the
    write fails with EFBIG as on a full disk); its model needs more."""
    target = _existing(tmp_path)
    before = files_state(tmp_path)
    (event,) = _events(_worker("fsize", target, kind, str(100_000)))
    assert "SaveWriteError" in event["mro"] and "OSError" in event["mro"], event
    assert target in event["message"] and "file-size limit" in event["message"]
    assert "previous file at that path, if any, is unchanged" in event["message"]
    assert files_state(tmp_path) == before          # old file intact, no temporary left
    assert load_model(target).count_params() == _other_model(4).count_params()


@pytest.fixture
def open_directory():
    """A directory every user can reach (the child drops root to 'nobody', which could
    not enter pytest's private tmp_path)."""
    path = tempfile.mkdtemp(prefix="gpuseq-ro-")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    shutil.rmtree(path)


@pytest.mark.parametrize("kind", ["save", "save_weights"])
def test_read_only_directory_gives_a_clear_error(kind, open_directory):
    directory = open_directory / "ro"
    directory.mkdir()
    target = _existing(directory)
    os.chmod(target, 0o644)
    os.chmod(directory, 0o555)
    before = files_state(directory)
    (event,) = _events(_worker("unprivileged", target, kind))
    assert event["type"] == "PermissionError", event
    assert "cannot create a file in the directory" in event["message"]
    assert f"{str(directory)!r}" in event["message"] and "Permission denied" in event["message"]
    assert files_state(directory) == before


def test_write_failure_message_names_the_full_disk():
    from gpuseq.saving.hdf5 import _write_failure
    err = _write_failure("save", "/data/m.h5", OSError(28, "No space left on device"))
    assert isinstance(err, SaveWriteError) and err.errno == 28
    assert "the disk is full" in str(err) and "'/data/m.h5'" in str(err)
    h5_err = RuntimeError("Can't write data (file write failed: errno = 28, error message = "
                          "'No space left on device')")
    assert "the disk is full" in str(_write_failure("save_weights", "m.h5", h5_err))


# ------------------------------------------------------------------ leftovers and kill -9
def test_next_save_removes_temporaries_of_dead_savers_only(model, tmp_path):
    target = tmp_path / "m.h5"
    model.save(str(target))
    host = __import__("gpuseq.saving.hdf5", fromlist=["_host_tag"])._host_tag()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    ours_dead = tmp_path / f".m.h5.{host}-{dead}.abcdEFGH.tmp"
    ours_alive = tmp_path / f".m.h5.{host}-{os.getppid()}.abcdEFGH.tmp"
    other_host = tmp_path / f".m.h5.otherhost-{dead}.abcdEFGH.tmp"
    old_form_old = tmp_path / ".m.h5.k2j3h4g5.tmp"
    not_ours = [tmp_path / ".m.h5.notes.tmp", tmp_path / ".m.h5.abcdEFGH.tmp.bak",
                tmp_path / ".other.h5.k2j3h4g5.tmp"]
    for p in [ours_dead, ours_alive, other_host, old_form_old] + not_ours:
        p.write_bytes(b"x")
    day_ago = time.time() - 2 * 24 * 3600
    os.utime(old_form_old, (day_ago, day_ago))
    model.save(str(target))
    left = sorted(p.name for p in tmp_path.iterdir())
    assert ours_dead.name not in left and old_form_old.name not in left
    assert ours_alive.name in left and other_host.name in left
    assert all(p.name in left for p in not_ours)
    assert remove_stale_temporaries(str(target)) == []


def _kill_during_saves(tmp_path, kills, seed):
    target = tmp_path / "model.h5"
    rng = random.Random(seed)
    last = 0
    for _ in range(kills):
        proc = _worker("loop", str(target))
        try:
            line = proc.stdout.readline()             # the first save finished
            assert line, proc.stderr.read()
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        loaded = load_model(str(target))             # the old or the new model, never broken
        values = {float(v) for w in loaded.get_weights() for v in np.unique(w)}
        assert len(values) == 1, values
        (version,) = values
        assert version == int(version) >= 1
        last = version
    _other_model(4).save(str(target))                 # the next save cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.h5"]
    return last


def test_kill_during_save_leaves_old_or_new_model_and_no_leftovers(tmp_path):
    _kill_during_saves(tmp_path, kills=5, seed=22)


@pytest.mark.slow
def test_kill_during_save_repeated_twenty_times(tmp_path):
    _kill_during_saves(tmp_path, kills=20, seed=2022)
