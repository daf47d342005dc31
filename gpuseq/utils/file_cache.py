"""`get_file`: download a file once into Keras's cache layout, check it, extract it.

Files live in ``<cache_dir>/<cache_subdir>/<fname>``, by default
``~/.keras/datasets/<fname>``: the layout Keras uses, so files that a Keras install
already downloaded are found and reused. The environment variable ``GPUSEQ_HOME``
(or, when it is not set, ``KERAS_HOME``) replaces ``~/.keras``.

Example:
    >>> from gpuseq.utils import get_file
    >>> path = get_file('mnist.npz',
    ...                 origin='https://s3.amazonaws.com/img-datasets/mnist.npz',
    ...                 file_hash='8a61469f7ea1b51cbae51d4f78837e45')  # doctest: +SKIP
"""
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile

from .generic_utils import Progbar

__all__ = ["get_file", "validate_file", "cache_home"]

_CHUNK = 1 << 16


def cache_home():
    """The cache root: ``$GPUSEQ_HOME``, else ``$KERAS_HOME``, else ``~/.keras``."""
    for variable in ("GPUSEQ_HOME", "KERAS_HOME"):
        value = os.environ.get(variable)
        if value:
            return os.path.expanduser(value)
    return os.path.join(os.path.expanduser("~"), ".keras")


def _hash_algorithm(file_hash, algorithm):
    if algorithm not in ("auto", "md5", "sha256"):
        raise ValueError("hash_algorithm must be 'auto', 'md5' or 'sha256'. "
                         "Received: hash_algorithm=%r" % (algorithm,))
    if algorithm == "auto":
        return "sha256" if len(file_hash) == 64 else "md5"
    return algorithm


def hash_file(fpath, algorithm="sha256"):
    """The hex digest of the file at `fpath` (`algorithm`: 'md5' or 'sha256')."""
    hasher = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto"):
    """Whether the file at `fpath` has the md5 or sha256 digest `file_hash`.

    Args:
        fpath: path of the file.
        file_hash: expected hex digest; 'auto' takes sha256 for 64 hex digits, else md5.
        algorithm: 'auto', 'md5' or 'sha256'.
    """
    algorithm = _hash_algorithm(str(file_hash), algorithm)
    return hash_file(fpath, algorithm) == str(file_hash).lower()


def _writable_cache_dir(cache_dir):
    base = os.path.expanduser(cache_dir) if cache_dir is not None else cache_home()
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return base


def _download(origin, fpath):
    """Streams `origin` into a temporary file beside `fpath`, renamed on success."""
    directory = os.path.dirname(fpath)
    fd, partial = tempfile.mkstemp(prefix=".partial-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=60) as response:
            total = response.headers.get("Content-Length")
            progbar = Progbar(int(total) if total else None)
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                done += len(chunk)
                progbar.update(done)
        return partial
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _fetch_error(origin, fpath, error):
    reason = getattr(error, "reason", None) or error
    if isinstance(error, urllib.error.HTTPError):
        reason = "HTTP %d %s" % (error.code, error.msg)
    return OSError(
        "Could not download %s (%s). Without network access, download the file "
        "elsewhere and place it at %s, then call again." % (origin, reason, fpath))


def _checked_download(origin, fpath, file_hash, algorithm):
    print("Downloading data from", origin, file=sys.stderr)
    try:
        partial = _download(origin, fpath)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise _fetch_error(origin, fpath, error) from error
    if file_hash is not None and not validate_file(partial, file_hash, algorithm):
        actual = hash_file(partial, _hash_algorithm(str(file_hash), algorithm))
        os.remove(partial)
        raise ValueError(
            "The file downloaded from %s has %s hash %s, but %s was expected; it was "
            "discarded. Check the URL and file_hash, or place the right file at %s."
            % (origin, _hash_algorithm(str(file_hash), algorithm), actual, file_hash, fpath))
    os.replace(partial, fpath)


def _safe_members(archive_root, names):
    root = os.path.realpath(archive_root)
    for name in names:
        target = os.path.realpath(os.path.join(root, name))
        if target != root and not target.startswith(root + os.sep):
            raise ValueError("The archive entry %r would be written outside %s; the archive "
                             "was not extracted." % (name, archive_root))


def _archive_formats(archive_format):
    if archive_format is None:
        return []
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format
    if isinstance(formats, str):
        formats = [formats]
    if any(kind not in ("tar", "zip") for kind in formats):
        raise ValueError("archive_format must be 'auto', 'tar', 'zip', a list of those or "
                         "None. Received: archive_format=%r" % (archive_format,))
    return formats


def _open_archive(file_path, archive_format):
    """(kind, archive) for the first matching format, or (None, None)."""
    for kind in _archive_formats(archive_format):
        if kind == "tar" and tarfile.is_tarfile(file_path):
            return kind, tarfile.open(file_path)
        if kind == "zip" and zipfile.is_zipfile(file_path):
            return kind, zipfile.ZipFile(file_path)
    return None, None


def extract_archive(file_path, path=".", archive_format="auto"):
    """Extracts a tar (.tar, .tar.gz, .tar.bz2) or zip archive into `path`.

    The entries are first extracted into a temporary folder inside `path` and then
    moved into place, so an interrupted extraction leaves nothing half written.

    Args:
        file_path: the archive.
        path: folder to extract into.
        archive_format: 'auto' (tar, then zip), 'tar', 'zip', a list of those, or None.

    Returns:
        True when the file was an archive of a listed format and was extracted.
    """
    kind, archive = _open_archive(file_path, archive_format)
    if archive is None:
        return False
    os.makedirs(path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".extract-", dir=path)
    try:
        with archive:
            names = archive.getnames() if kind == "tar" else archive.namelist()
            _safe_members(staging, names)
            if kind == "tar" and hasattr(tarfile, "data_filter"):
                archive.extractall(staging, filter="data")
            else:
                archive.extractall(staging)
        for entry in os.listdir(staging):
            target = os.path.join(path, entry)
            if os.path.isdir(target) and not os.path.islink(target):
                shutil.rmtree(target)
            elif os.path.lexists(target):
                os.remove(target)
            os.replace(os.path.join(staging, entry), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def get_file(fname, origin, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None):
    """Returns the path of a file, downloading it from `origin` if it is not cached.

    The file is kept at ``<cache_dir>/<cache_subdir>/<fname>``, by default
    ``~/.keras/datasets/<fname>`` (``$GPUSEQ_HOME`` or ``$KERAS_HOME`` replace
    ``~/.keras``; an unwritable folder falls back to the temporary folder's
    ``.keras``). A cached file whose hash does not match is downloaded again. The
    download goes to a temporary file that is renamed into place only once complete and
    checked.

    Args:
        fname: file name; an absolute path puts the file there.
        origin: URL of the file.
        untar: Keras 1 form of `extract` for a .tar.gz: the archive is kept as
            ``fname + '.tar.gz'``, extracted, and the extracted path ``fname`` returned.
        md5_hash: Keras 1 form of `file_hash` with `hash_algorithm='md5'`.
        file_hash: expected md5 or sha256 hex digest of the file (None: not checked).
        cache_subdir: folder under the cache root (an absolute path is used as is).
        hash_algorithm: 'auto' (sha256 for 64 hex digits, else md5), 'md5' or 'sha256'.
        extract: extract the file as a tar or zip archive beside itself.
        archive_format: 'auto', 'tar', 'zip', a list of those, or None.
        cache_dir: cache root instead of ``~/.keras``.

    Returns:
        The path of the file (of the extracted folder with `untar=True`).

    Raises:
        OSError: the file could not be downloaded; the message names the URL and the
            path where the file can be placed by hand.
        ValueError: the downloaded file does not have the expected hash.

    Example:
        >>> path = get_file('imdb.npz', 'https://s3.amazonaws.com/text-datasets/imdb.npz',
        ...                 file_hash='599dadb1135973df5b59232a0e9a887c')  # doctest: +SKIP
    """
    if not fname:
        raise ValueError("get_file needs a file name. Received: fname=%r" % (fname,))
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if file_hash is not None:
        _hash_algorithm(str(file_hash), hash_algorithm)
    _archive_formats(archive_format)
    datadir = os.path.join(_writable_cache_dir(cache_dir), cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    fpath = os.path.join(datadir, fname)
    untar_fpath = fpath
    if untar:
        fpath = untar_fpath + ".tar.gz"
    if _needs_download(fpath, file_hash, hash_algorithm):
        _checked_download(origin, fpath, file_hash, hash_algorithm)
    if untar:
        if not os.path.exists(untar_fpath):
            extract_archive(fpath, datadir, archive_format="tar")
        return untar_fpath
    if extract:
        extract_archive(fpath, datadir, archive_format)
    return fpath


def _needs_download(fpath, file_hash, algorithm):
    if not os.path.exists(fpath):
        return True
    if file_hash is not None and not validate_file(fpath, file_hash, algorithm):
        print("The file at %s does not have the expected %s hash %s; downloading it again."
              % (fpath, _hash_algorithm(str(file_hash), algorithm), file_hash), file=sys.stderr)
        return True
    return False
