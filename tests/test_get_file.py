"""get_file against a real HTTP server on 127.0.0.1: cache layout, hashes, atomic
writes, archives, and the error without network."""
import hashlib
import io
import os
import socket
import tarfile
import zipfile

import pytest

from gpuseq.utils import get_file
from gpuseq.utils.data_utils import get_file as data_utils_get_file
from gpuseq.utils.data_utils import validate_file
from tests._local_http import serve_folder

PAYLOAD = bytes(range(256)) * 40


@pytest.fixture
def served(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "blob.bin").write_bytes(PAYLOAD)
    with serve_folder(www) as (url, server):
        yield www, url, server


def test_same_function_at_keras_paths():
    assert data_utils_get_file is get_file


def test_downloads_into_keras_layout_and_reuses_cache(served, tmp_path, monkeypatch):
    www, url, server = served
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("GPUSEQ_HOME", raising=False)
    path = get_file("blob.bin", url + "blob.bin")
    assert path == str(tmp_path / "keras_home" / "datasets" / "blob.bin")
    assert open(path, "rb").read() == PAYLOAD
    assert get_file("blob.bin", url + "blob.bin") == path
    assert server.gets == ["/blob.bin"]          # the second call used the cache
    assert [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".")] == []


def test_gpuseq_home_wins_over_keras_home(served, tmp_path, monkeypatch):
    www, url, server = served
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "k"))
    monkeypatch.setenv("GPUSEQ_HOME", str(tmp_path / "g"))
    path = get_file("blob.bin", url + "blob.bin", cache_subdir="sub")
    assert path == str(tmp_path / "g" / "sub" / "blob.bin")


def test_file_already_placed_by_keras_is_reused_offline(tmp_path):
    cache = tmp_path / "home"
    (cache / "datasets").mkdir(parents=True)
    (cache / "datasets" / "mnist.npz").write_bytes(PAYLOAD)
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = get_file("mnist.npz", "http://127.0.0.1:9/none", file_hash=md5,
                    cache_dir=str(cache))
    assert open(path, "rb").read() == PAYLOAD


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_hash_checked_and_stale_file_replaced(served, tmp_path, algorithm):
    www, url, server = served
    digest = getattr(hashlib, algorithm)(PAYLOAD).hexdigest()
    stale = tmp_path / "c" / "datasets" / "blob.bin"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    path = get_file("blob.bin", url + "blob.bin", file_hash=digest, cache_dir=str(tmp_path / "c"))
    assert open(path, "rb").read() == PAYLOAD
    assert validate_file(path, digest)
    assert validate_file(path, digest, algorithm=algorithm)
    assert server.gets == ["/blob.bin"]


def test_md5_hash_keras1_argument(served, tmp_path):
    www, url, server = served
    with pytest.raises(ValueError, match="md5 hash"):
        get_file("blob.bin", url + "blob.bin", md5_hash="0" * 32, cache_dir=str(tmp_path))


def test_wrong_hash_leaves_nothing_behind(served, tmp_path):
    www, url, server = served
    with pytest.raises(ValueError) as info:
        get_file("blob.bin", url + "blob.bin", file_hash="0" * 64, cache_dir=str(tmp_path))
    message = str(info.value)
    assert hashlib.sha256(PAYLOAD).hexdigest() in message and url + "blob.bin" in message
    assert os.listdir(tmp_path / "datasets") == []


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_network_error_names_url_and_path(tmp_path):
    origin = "http://127.0.0.1:%d/data/mnist.npz" % _free_port()
    with pytest.raises(OSError) as info:
        get_file("mnist.npz", origin, cache_dir=str(tmp_path))
    message = str(info.value)
    assert origin in message
    assert str(tmp_path / "datasets" / "mnist.npz") in message
    assert os.listdir(tmp_path / "datasets") == []


def test_http_404_error(served, tmp_path):
    www, url, server = served
    with pytest.raises(OSError, match="HTTP 404"):
        get_file("missing.bin", url + "missing.bin", cache_dir=str(tmp_path))


def _tar_gz(folder_name, files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo("%s/%s" % (folder_name, name))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_untar_returns_extracted_folder(served, tmp_path):
    www, url, server = served
    (www / "pack.tar.gz").write_bytes(_tar_gz("pack", {"a.txt": b"alpha", "b.txt": b"beta"}))
    path = get_file("pack", url + "pack.tar.gz", untar=True, cache_dir=str(tmp_path))
    assert path == str(tmp_path / "datasets" / "pack")
    assert open(os.path.join(path, "b.txt"), "rb").read() == b"beta"
    assert os.path.exists(path + ".tar.gz")
    assert sorted(os.listdir(tmp_path / "datasets")) == ["pack", "pack.tar.gz"]


def test_extract_zip(served, tmp_path):
    www, url, server = served
    with zipfile.ZipFile(www / "z.zip", "w") as z:
        z.writestr("inner/x.txt", "zipped")
    path = get_file("z.zip", url + "z.zip", extract=True, cache_dir=str(tmp_path))
    assert path.endswith("z.zip")
    assert open(tmp_path / "datasets" / "inner" / "x.txt").read() == "zipped"


def test_archive_escaping_folder_is_refused(served, tmp_path):
    www, url, server = served
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (www / "evil.tar.gz").write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="outside"):
        get_file("evil.tar.gz", url + "evil.tar.gz", extract=True, cache_dir=str(tmp_path / "c"))
    assert not (tmp_path / "c" / "evil.txt").exists()


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(file_hash="ab", hash_algorithm="sha1"), "hash_algorithm"),
    (dict(extract=True, archive_format="rar"), "archive_format"),
])
def test_bad_arguments(served, tmp_path, kwargs, fragment):
    www, url, server = served
    with pytest.raises(ValueError, match=fragment):
        get_file("blob.bin", url + "blob.bin", cache_dir=str(tmp_path), **kwargs)
    assert server.gets == [] and not (tmp_path / "datasets").exists()
