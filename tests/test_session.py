"""gpu_memory_fraction: validated everywhere, a real cap on the CuPy backend."""
import numpy as np
import pytest

import gpuseq.backend as K
from gpuseq.backend import dispatch, session
from gpuseq.layers import Dense
from gpuseq.models import Sequential


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, "a", None, float("nan")])
def test_fraction_is_validated(bad):
    before = K.get_gpu_memory_fraction()
    with pytest.raises(ValueError, match="0 < fraction <= 1"):
        K.set_gpu_memory_fraction(bad)
    assert K.get_gpu_memory_fraction() == before


def test_fraction_recorded_on_numpy():
    assert K.set_gpu_memory_fraction(0.3) == 0.3
    assert K.get_gpu_memory_fraction() == 0.3
    assert K.gpu_memory_limit_bytes() is None  # no pool to cap without CuPy


def test_session_config_like_the_seed():
    config = K.ConfigProto()
    config.gpu_options.per_process_gpu_memory_fraction = 0.4
    K.set_session(K.Session(config=config))
    assert K.get_gpu_memory_fraction() == 0.4
    assert K.get_session().config is config


def test_session_with_bad_fraction_is_refused_and_changes_nothing():
    K.set_gpu_memory_fraction(0.5)
    config = K.ConfigProto(gpu_options=K.GPUOptions(per_process_gpu_memory_fraction=2.0))
    with pytest.raises(ValueError, match="Received: fraction=2.0"):
        K.set_session(K.Session(config=config))
    assert K.get_gpu_memory_fraction() == 0.5


def test_set_session_rejects_other_objects():
    with pytest.raises(TypeError, match="gpuseq.backend.Session"):
        K.set_session(object())


def test_out_of_memory_message_names_fraction_and_advice():
    K.set_gpu_memory_fraction(0.3)
    err = session.translate_out_of_memory(RuntimeError("Out of memory allocating 1 GB"))
    assert isinstance(err, session.GPUMemoryLimitError)
    assert "fraction 0.3" in str(err) and "smaller batch_size" in str(err)


@pytest.mark.gpu
def test_fraction_really_caps_cupy_pool():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    import cupy
    with dispatch.use_backend("cupy"):
        total = cupy.cuda.Device().mem_info[1]
        K.set_gpu_memory_fraction(0.01)
        try:
            limit = K.gpu_memory_limit_bytes()
            assert abs(limit - 0.01 * total) <= 0.001 * total
            model = Sequential([Dense(4096, input_dim=4096), Dense(4096)])
            model.compile("sgd", "mse")
            n = int(0.02 * total / (4096 * 4)) + 1   # data alone is twice the cap
            with pytest.raises(session.GPUMemoryLimitError, match="fraction 0.01"):
                model.train_on_batch(np.zeros((n, 4096), "float32"), np.zeros((n, 4096), "float32"))
        finally:
            cupy.get_default_memory_pool().set_limit(size=0)
            cupy.get_default_memory_pool().free_all_blocks()


def test_tf32_switch_is_validated_and_recorded():
    before = K.tf32_enabled()
    with pytest.raises(TypeError, match="Received: enabled='yes'"):
        K.set_tf32("yes")
    assert K.tf32_enabled() == before
    try:
        assert K.set_tf32(True) is True and K.tf32_enabled()
        # the NumPy backend computes in full float32 whatever the switch says
        a = np.full((4, 64), 1.0001, dtype=np.float32)
        y = K.dot(K.variable(a), K.variable(np.ones((64, 2), dtype=np.float32)))
        np.testing.assert_allclose(K.eval(y), 64 * 1.0001, rtol=1e-6)
    finally:
        K.set_tf32(before)


@pytest.mark.gpu
def test_tf32_rounds_float32_products_on_the_gpu_only_when_asked():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device: {why}")
    before = K.tf32_enabled()
    with dispatch.use_backend("cupy"):
        import cupy
        a = cupy.full((256, 256), 1.0001, dtype=cupy.float32)
        b = cupy.ones((256, 256), dtype=cupy.float32)
        try:
            K.set_tf32(False)
            exact = float(cupy.matmul(a, b)[0, 0])
            K.set_tf32(True)
            rounded = float(cupy.matmul(a, b)[0, 0])
            a64 = a.astype(cupy.float64)
            full64 = float(cupy.matmul(a64, b.astype(cupy.float64))[0, 0])
        finally:
            K.set_tf32(before)
    assert abs(exact - 256 * 1.0001) < 1e-3          # float32: 1.0001 survives
    assert rounded == 256.0                          # TF32: 10 mantissa bits drop it
    # float64 is never affected: the exact sum of 256 float32(1.0001) values
    assert abs(full64 - 256 * float(np.float32(1.0001))) < 1e-9
