"""Low-level HDF5 plumbing shared by the weight and model files.

* :func:`atomic_h5_file` writes a new HDF5 file beside the target and renames it
  into place only after it was closed and synced, so an interrupted save (an
  exception, a kill) never leaves a truncated file where a good one stood. A
  write that fails (full disk, file-size limit) raises :class:`SaveWriteError`;
  the temporary files that killed saves leave are removed by the next save to
  the same path once provably abandoned (:func:`remove_stale_temporaries`).
* :func:`open_h5_for_read` opens a file for reading and turns every way it can
  fail (missing, a directory, not HDF5, damaged) into one clear error.
* :func:`write_string_list_attr` / :func:`read_string_list_attr` store lists of
  names the way Keras does: one attribute when it fits in HDF5's 64 KB object
  header, otherwise split into ``name0``, ``name1``, ... .
"""
import contextlib
import errno
import os
import re
import socket
import tempfile
import time
import zipfile

import numpy

try:
    import h5py
except ImportError:  # pragma: no cover - h5py is a hard dependency of saving
    h5py = None

# HDF5 keeps attributes in the object header, which holds at most 64 KB; Keras
# splits lists above this many bytes into numbered chunks.
HDF5_OBJECT_HEADER_LIMIT = 64512


class SavedFileError(ValueError):
    """A file could not be read as a Keras/gpuseq HDF5 file (wrong format, damaged,
    or missing something a layout needs)."""


def require_h5py():
    if h5py is None:
        raise ImportError("Saving and loading HDF5 files needs the h5py package. Install it "
                          "with `pip install h5py`.")
    return h5py


def is_h5_object(obj):
    """True for an open ``h5py.File`` or ``h5py.Group`` (accepted instead of a path)."""
    return h5py is not None and isinstance(obj, (h5py.File, h5py.Group))


def _path(filepath, what):
    try:
        return os.fspath(filepath)
    except TypeError:
        raise TypeError(f"{what}: `filepath` must be a path (str or os.PathLike) or an open "
                        f"h5py.File. Received: filepath={filepath!r}") from None


def _default_mode(target):
    """Permission bits for the new file: the old file's, else 0o666 minus the umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _create(path, large_attributes):
    if not large_attributes:
        return h5py.File(path, "w")
    # The HDF5 1.8 object format (read by every HDF5 library since 2008) stores an
    # attribute larger than the 64 KB object header densely; a large model_config needs it.
    return h5py.File(path, "w", libver=("v108", "v108"))


def text_attr(value):
    """A str stored as a fixed-length byte string, as Keras 2 wrote its attributes:
    h5py returns bytes for it, which every Keras version decodes."""
    return numpy.bytes_(value.encode("utf8") if isinstance(value, str) else value)


class SaveWriteError(OSError):
    """Writing a file failed part-way (a full disk, a file-size limit, an I/O error);
    the previous file at the target path, if any, is unchanged."""


# Temporary files of a save: ".<target name>.<host>-<pid>.<random>.tmp" beside the target.
_TMP_SUFFIX = ".tmp"
# A leftover of another machine (or of an old naming) is removed only after this long.
STALE_TMP_AGE_S = 24 * 3600


def _host_tag():
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"


def _tmp_prefix(path):
    return "." + os.path.basename(path) + "."


def _tmp_pattern(path):
    """Names of temporary files that a save to ``path`` creates (current and old form)."""
    return re.compile(re.escape(_tmp_prefix(path)) +
                      r"(?:(?P<host>[A-Za-z0-9]{1,16})-(?P<pid>[0-9]+)\.)?[A-Za-z0-9_]{8}" +
                      re.escape(_TMP_SUFFIX) + r"\Z")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:     # exists, owned by someone else
        return True
    return True


def _is_stale_tmp(match, full, now):
    """True when a matching temporary file is provably abandoned: written on this host
    by a process that no longer runs, or older than STALE_TMP_AGE_S."""
    host, pid = match.group("host"), match.group("pid")
    if host == _host_tag() and pid is not None and int(pid) != os.getpid():
        if not _pid_alive(int(pid)):
            return True
    try:
        return now - os.lstat(full).st_mtime > STALE_TMP_AGE_S
    except OSError:
        return False


def remove_stale_temporaries(path):
    """Remove the temporary files that interrupted saves to ``path`` left behind.

    Only regular files named like this module's temporaries for ``path`` are
    considered, and only those provably abandoned (see :func:`_is_stale_tmp`).
    Returns the list of removed paths.
    """
    directory = os.path.dirname(os.path.abspath(path))
    pattern = _tmp_pattern(path)
    prefix = _tmp_prefix(path)
    removed, now = [], time.time()
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        full = os.path.join(directory, name)
        if m is None or not os.path.isfile(full) or os.path.islink(full):
            continue
        if _is_stale_tmp(m, full, now):
            with contextlib.suppress(OSError):
                os.remove(full)
                removed.append(full)
    return removed


def _write_failure(what, path, err):
    """A SaveWriteError for a failed write of ``path``, with the cause and the fix."""
    text = str(err)
    code = getattr(err, "errno", None)
    if code is None:   # h5py reports the C library's errno inside its message
        m = re.search(r"errno = (\d+)", text)
        code = int(m.group(1)) if m else errno.EIO
    full = code in (errno.ENOSPC, errno.EDQUOT)
    too_big = code == errno.EFBIG
    if full:
        cause, fix = "the disk is full", "Free some space on that disk or save to another one"
    elif too_big:
        cause, fix = ("the file grew past a file-size limit (ulimit -f)",
                      "Raise the limit or save to another location")
    else:
        cause, fix = "an I/O error occurred", "Check the disk and the path"
    return SaveWriteError(
        code,
        f"{what}: writing {path!r} failed because {cause} ({type(err).__name__}: {err}). "
        f"The previous file at that path, if any, is unchanged. {fix}, then save again.")


def _new_temporary(path, directory, what):
    """Create the directory if needed, clear stale temporaries and create an empty new
    temporary file for a save to ``path``; a directory we cannot write gives a clear
    error of the same OSError type."""
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_tmp_prefix(path)}{_host_tag()}-{os.getpid()}.",
                                   suffix=_TMP_SUFFIX, dir=directory)
    except OSError as e:
        raise type(e)(e.errno, f"{what}: cannot create a file in the directory {directory!r} "
                               f"({e.strerror}). Check that it exists and that you may write "
                               f"there, or save to another location. Received: "
                               f"filepath={path!r}") from e
    os.close(fd)
    return tmp


@contextlib.contextmanager
def atomic_h5_file(filepath, overwrite=True, what="save", large_attributes=False):
    """Yield a writable ``h5py.File`` that replaces ``filepath`` only on success.

    The data goes to a hidden temporary file in the target's directory (same file
    system, so the final ``os.replace`` is atomic); it is flushed, closed and
    fsynced before the rename. On any exception (KeyboardInterrupt included) the
    temporary file is removed and the previous file, if any, stays untouched. A
    save first removes the temporaries that earlier interrupted saves to the same
    path left (see :func:`remove_stale_temporaries`).

    Args:
        filepath: target path.
        overwrite: when False and the target exists, raise ``FileExistsError``
            (Keras would ask on the terminal; gpuseq never blocks on stdin).
        what: name of the calling function, for error messages.
        large_attributes: write the HDF5 1.8 object format, which allows single
            attributes over 64 KB.

    Raises:
        SaveWriteError: the write failed (full disk, file-size limit, I/O error).
    """
    require_h5py()
    path = _path(filepath, what)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what}: {path!r} is a directory. Pass a file path such as "
                                f"{os.path.join(path, 'model.h5')!r}.")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(
            f"{what}: the file {path!r} already exists and overwrite=False. Keras would ask "
            "interactively; gpuseq does not wait for input. Pass overwrite=True to replace "
            "it, or choose another file name.")
    directory = os.path.dirname(os.path.abspath(path))
    tmp = _new_temporary(path, directory, what)
    mode = _default_mode(path)
    try:
        try:
            with _create(tmp, large_attributes) as f:
                yield f
                f.flush()
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        except (OSError, RuntimeError) as e:
            if isinstance(e, SaveWriteError):
                raise
            raise _write_failure(what, path, e) from e
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def open_h5_for_read(filepath, what="load"):
    """Yield an ``h5py.File`` opened read-only (or the given open h5py object).

    Raises:
        FileNotFoundError: no such file.
        SavedFileError: the path is a directory, a zip archive (``.keras``), not
            HDF5, or an HDF5 file that cannot be opened (truncated/damaged).
    """
    require_h5py()
    if is_h5_object(filepath):
        yield filepath
        return
    path = _path(filepath, what)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what}: no such file: {path!r}. Check the path (the "
                                f"working directory is {os.getcwd()!r}).")
    if os.path.isdir(path):
        raise SavedFileError(
            f"{what}: {path!r} is a directory (a TensorFlow SavedModel?). gpuseq reads HDF5 "
            "files (.h5 / .hdf5 / .weights.h5); save the model with Keras as "
            "model.save('model.h5') instead.")
    if zipfile.is_zipfile(path):
        raise SavedFileError(
            f"{what}: {path!r} is a zip archive (the Keras 3 native `.keras` format), not an "
            "HDF5 file. In Keras, save with model.save('model.h5') or "
            "model.save_weights('model.weights.h5') and load that file.")
    if not h5py.is_hdf5(path):
        size = os.path.getsize(path)
        raise SavedFileError(
            f"{what}: {path!r} is not an HDF5 file (no HDF5 signature; {size} bytes). "
            "Expected a weights or model file written by gpuseq or Keras "
            "(save_weights / save). The file may be damaged or of another format.")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise SavedFileError(
            f"{what}: the HDF5 file {path!r} could not be opened; it is damaged or "
            f"truncated (h5py: {e}). Save it again, or use an intact copy.") from e
    try:
        yield f
    finally:
        f.close()


def decode(value):
    """A str from an attribute value stored as bytes, numpy bytes or str."""
    if isinstance(value, numpy.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, numpy.bytes_)):
        return bytes(value).decode("utf8")
    if isinstance(value, numpy.str_):
        return str(value)
    return value


def name_listing(names):
    """Sorted str names of HDF5 groups or attributes, and the damaged ones.

    h5py returns a name that is not valid UTF-8 as bytes; such a name is listed
    by its repr and also returned in the second list.
    """
    good, bad = [], []
    for n in names:
        if isinstance(n, bytes):
            bad.append(repr(n))
        else:
            good.append(str(n))
    return sorted(good) + sorted(bad), sorted(bad)


def read_text_attr(obj, name):
    """A str attribute (bytes or str in the file), or None when absent."""
    if name not in obj.attrs:
        return None
    value = decode(obj.attrs[name])
    if isinstance(value, numpy.ndarray) and value.size == 1:
        value = decode(value.reshape(-1)[0])
    return value if isinstance(value, str) else str(value)


def _as_list(value):
    if isinstance(value, (bytes, str, numpy.bytes_, numpy.str_)):
        return [decode(value)]
    arr = numpy.asarray(value)
    if arr.ndim == 0:
        return [decode(arr[()])]
    return [decode(v) for v in arr.reshape(-1)]


def read_string_list_attr(obj, name):
    """A list of str stored under ``name`` or chunked as ``name0``, ``name1``, ...

    Returns None when neither form is present.
    """
    if name in obj.attrs:
        return _as_list(obj.attrs[name])
    if f"{name}0" not in obj.attrs:
        return None
    out, k = [], 0
    while f"{name}{k}" in obj.attrs:
        out.extend(_as_list(obj.attrs[f"{name}{k}"]))
        k += 1
    return out


def write_string_list_attr(obj, name, strings):
    """Store a list of strings as a fixed-length byte-string attribute (Keras's form),
    split into ``name0``, ``name1``, ... when it exceeds the 64 KB header limit."""
    data = [s.encode("utf8") if isinstance(s, str) else bytes(s) for s in strings]
    too_long = [x[:60] for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ValueError(f"Cannot save the attribute {name!r}: entries longer than "
                         f"{HDF5_OBJECT_HEADER_LIMIT} bytes do not fit in an HDF5 object "
                         f"header (starting with {too_long}). Use shorter layer names.")
    if not data:
        obj.attrs[name] = numpy.zeros((0,), dtype="float64")   # what Keras writes for []
        return
    arr = numpy.asarray(data)                                   # (n,) |S<longest>
    n_chunks = max(1, -(-arr.nbytes // HDF5_OBJECT_HEADER_LIMIT))
    chunks = numpy.array_split(arr, n_chunks)
    while any(c.nbytes > HDF5_OBJECT_HEADER_LIMIT for c in chunks):
        n_chunks += 1
        chunks = numpy.array_split(arr, n_chunks)
    if n_chunks == 1:
        obj.attrs[name] = arr
    else:
        for k, chunk in enumerate(chunks):
            obj.attrs[f"{name}{k}"] = chunk


def write_array(group, name, value):
    """Create dataset ``name`` (slashes make nested groups, as in Keras) holding ``value``."""
    value = numpy.asarray(value)
    ds = group.create_dataset(name, value.shape, dtype=value.dtype)
    if value.shape:
        ds[...] = value
    else:
        ds[()] = value
    return ds


def read_array(group, name, where):
    """The dataset ``name`` of ``group`` as a NumPy array, with a clear error if absent."""
    try:
        obj = group[name]
    except KeyError:
        raise SavedFileError(f"{where}: the file lists the weight {name!r} but holds no such "
                             "dataset; the file is damaged or was not written by Keras/gpuseq."
                             ) from None
    if not isinstance(obj, h5py.Dataset):
        raise SavedFileError(f"{where}: {name!r} is a group, not a weight array.")
    try:
        return numpy.asarray(obj[()])
    except (OSError, RuntimeError) as e:
        raise SavedFileError(f"{where}: the weight {name!r} could not be read; the file is "
                             f"damaged ({e}).") from e
