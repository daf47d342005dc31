"""Session settings: bad values are refused and change nothing; a valid memory fraction on a
backend without a GPU memory pool is recorded with a one-time warning."""
import warnings

import pytest

import gpuseq.backend as K
from gpuseq.backend import session
from _bad_input_harness import Outcome, expect_rejected

V, T = ValueError, TypeError


def _session_with(fraction):
    config = K.ConfigProto(gpu_options=K.GPUOptions(per_process_gpu_memory_fraction=fraction))
    return K.Session(config=config)


CASES = [
    ("fraction-zero", lambda: K.set_gpu_memory_fraction(0), V, "fraction=0"),
    ("fraction-negative", lambda: K.set_gpu_memory_fraction(-0.1), V, "fraction=-0.1"),
    ("fraction-above-one", lambda: K.set_gpu_memory_fraction(1.5), V, "fraction=1.5"),
    ("fraction-str", lambda: K.set_gpu_memory_fraction("half"), V, "fraction='half'"),
    ("fraction-none", lambda: K.set_gpu_memory_fraction(None), V, "fraction=None"),
    ("fraction-nan", lambda: K.set_gpu_memory_fraction(float("nan")), V, "fraction=nan"),
    ("session-fraction-two", lambda: K.set_session(_session_with(2.0)), V, "fraction=2.0"),
    ("session-not-a-session", lambda: K.set_session("tf.Session()"), T, "Session"),
    ("session-none", lambda: K.set_session(None), T, "Session"),
    ("tf32-str", lambda: K.set_tf32("yes"), T, "enabled='yes'"),
    ("tf32-int", lambda: K.set_tf32(1), T, "enabled=1"),
    ("conv-algorithm-unknown", lambda: K.set_conv_algorithm("winograd"), V, "winograd"),
    ("conv-algorithm-none", lambda: K.set_conv_algorithm(None), V, "name=None"),
]


def _settings():
    return (K.get_gpu_memory_fraction(), K.tf32_enabled(), K.conv_algorithm(),
            K.get_session())


@pytest.mark.parametrize("call, exc, fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_session_setting_is_refused_and_changes_nothing(call, exc, fragment):
    before = _settings()
    expect_rejected(call, exc, fragment)
    if _settings() != before:
        raise Outcome("wrong", f"settings changed: {before} -> {_settings()}")


def test_valid_fraction_without_gpu_is_recorded_with_one_warning(numpy_backend, monkeypatch):
    monkeypatch.setitem(session._current, "fraction_noted", False)
    monkeypatch.setitem(session._current, "fraction", None)
    with pytest.warns(UserWarning, match="no effect on the 'numpy' backend"):
        assert K.set_gpu_memory_fraction(0.3) == 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the note is given once per process
        assert K.set_gpu_memory_fraction(0.4) == 0.4
    assert K.get_gpu_memory_fraction() == 0.4
