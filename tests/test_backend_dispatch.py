"""The backend dispatcher: choosing NumPy / CuPy / emulated, transfers, clear errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import dispatch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_active_backend_is_numpy_in_tests():
    assert K.backend() == "numpy"
    assert K.xp() is np
    assert K.ops().NAME == "numpy"


def test_unknown_backend_name_is_refused():
    with pytest.raises(ValueError, match=r"Expected one of auto, numpy, cupy, emulated\. "
                                         r"Received: backend='tensorflow'"):
        dispatch.set_backend("tensorflow")
    assert K.backend() == "numpy"


@pytest.mark.skipif(dispatch.cupy_available(), reason="a CUDA device is present")
def test_cupy_request_without_device_says_why():
    with pytest.raises(dispatch.BackendUnavailableError) as e:
        dispatch.set_backend("cupy")
    msg = str(e.value)
    assert "cannot run" in msg and ("CuPy could not be imported" in msg or "device" in msg)
    assert "GPUSEQ_BACKEND=numpy" in msg
    assert K.backend() == "numpy"


@pytest.mark.skipif(dispatch.cupy_available(), reason="a CUDA device is present")
def test_auto_falls_back_to_numpy_in_a_fresh_process():
    env = dict(os.environ, GPUSEQ_BACKEND="auto", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", "import gpuseq; print(gpuseq.backend.backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"


def test_env_variable_selects_backend_in_a_fresh_process():
    env = dict(os.environ, GPUSEQ_BACKEND="emulated", PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", "import gpuseq; print(gpuseq.backend.backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "emulated"


def test_use_backend_restores_previous():
    with dispatch.use_backend("emulated") as name:
        assert name == "emulated"
        assert K.ops().NAME == "cupy"   # the CuPy op layer, run on the CPU
        assert K.xp() is np
    assert K.backend() == "numpy"


def test_device_transfer_round_trip():
    a = np.arange(6, dtype="float32").reshape(2, 3)
    d = K.to_device(a)
    h = K.to_host(d)
    np.testing.assert_array_equal(h, a)
    assert K.to_device([1, 2], dtype="float64").dtype == np.float64
    assert dispatch.get_array_module(a) is np


def test_keras1_tensorflow_backend_import_path():
    from gpuseq.backend.tensorflow_backend import ConfigProto, Session, set_session
    cfg = ConfigProto()
    cfg.gpu_options.per_process_gpu_memory_fraction = 0.25
    set_session(Session(config=cfg))
    assert K.get_gpu_memory_fraction() == 0.25
