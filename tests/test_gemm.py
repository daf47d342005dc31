"""The capturable cuBLAS GEMM of the CuPy op layer (gpuseq/backend/cupy_ops/_gemm.py).

On CuPy arrays ``_gemm.matmul`` calls cuBLAS itself, so its operand layouts (row-major,
transposed views, strided slices, batches, a shared 2-D operand, 1-D operands) are
checked against a float64 NumPy product on fresh random data, and a product recorded
in a CUDA graph is replayed on new inputs. Off the GPU it is ``numpy.matmul``.
"""
import numpy as np
import pytest

from gpuseq.backend import dispatch
from gpuseq.backend.cupy_ops import _gemm


I = lambda x: x                                         # noqa: E731
T = lambda x: x.T                                       # noqa: E731

# (name, base shape of a, view of it, base shape of b, view of it): the layouts the ops pass
CASES = [
    ("2d", (5, 3), I, (3, 4), I),
    ("a transposed", (3, 5), T, (3, 4), I),
    ("b transposed", (5, 3), I, (4, 3), T),
    ("both transposed", (3, 5), T, (4, 3), T),
    ("column slice of a", (7, 40), lambda x: x[:, 10:19], (9, 6), I),
    ("row slice of a transposed b", (6, 9), I, (40, 7), lambda x: x.T[:, 3:12].T[:9]),
    ("strided rows", (10, 4), lambda x: x[::2], (4, 3), I),
    ("vector @ matrix", (5,), I, (5, 3), I),
    ("matrix @ vector", (4, 5), I, (5,), I),
    ("batched", (3, 4, 5), I, (3, 5, 2), I),
    ("shared a", (4, 5), I, (3, 5, 6), I),
    ("shared b folds", (3, 4, 5), I, (5, 6), I),
    ("4-d @ 2-d folds", (2, 3, 4, 5), I, (5, 6), I),
    ("batched transposed b", (3, 4, 5), I, (3, 6, 5), lambda x: x.transpose(0, 2, 1)),
    ("batched @ vector", (3, 4, 5), I, (5,), I),
    ("shared transposed a", (5, 4), T, (2, 5, 3), I),
    ("batch of one", (1, 4, 5), I, (3, 5, 2), I),
    ("batch slice", (6, 4, 5), lambda x: x[1::2], (3, 5, 2), I),
    ("empty k", (4, 0), I, (0, 3), I),
    ("empty m", (0, 5), I, (5, 3), I),
]


def _operands(rng, case, to=lambda x: x):
    name, sa, va, sb, vb = case
    return va(to(rng.standard_normal(sa))), vb(to(rng.standard_normal(sb)))


def test_off_the_gpu_it_is_numpy_matmul():
    rng = np.random.default_rng(0)
    for case in CASES:
        a, b = _operands(rng, case)
        np.testing.assert_array_equal(_gemm.matmul(a, b), np.matmul(a, b), err_msg=case[0])
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    out = np.empty((4, 3))
    assert _gemm.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(out, a @ b)


@pytest.fixture
def cupy():
    ok, why = dispatch._cupy_probe()
    if ok is None:
        pytest.skip(f"no CUDA device for the cupy backend: {why}")
    import cupy
    with dispatch.use_backend("cupy"):
        yield cupy


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_matches_a_float64_product(cupy, dtype):
    rng = np.random.default_rng(1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for case in CASES:
        seed = int(rng.integers(1 << 30))
        a, b = _operands(np.random.default_rng(seed), case)
        da, db = _operands(np.random.default_rng(seed), case,
                           lambda x: cupy.asarray(x.astype(dtype)))
        ref = np.matmul(a, b)
        got = _gemm.matmul(da, db)
        assert got.shape == ref.shape and got.dtype == dtype, case[0]
        err = np.linalg.norm(cupy.asnumpy(got) - ref) / max(np.linalg.norm(ref), 1e-30)
        assert err < tol, (case[0], err)
        out = cupy.full(ref.shape, np.nan, dtype=dtype)       # every element written
        assert _gemm.matmul(da, db, out=out) is out
        np.testing.assert_array_equal(cupy.asnumpy(out), cupy.asnumpy(got), err_msg=case[0])


@pytest.mark.gpu
def test_gemm_strided_views_and_out(cupy):
    rng = np.random.default_rng(2)
    a = cupy.asarray(rng.standard_normal((12, 9)).astype(np.float32))
    b = cupy.asarray(rng.standard_normal((9, 7)).astype(np.float32))
    ref = cupy.asnumpy(a).astype(np.float64)[::3, 2:8] @ cupy.asnumpy(b)[2:8, 1:6]
    got = _gemm.matmul(a[::3, 2:8], b[2:8, 1:6])
    np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=1e-5, atol=1e-5)
    out = cupy.full((4, 5), np.nan, dtype=np.float32)
    assert _gemm.matmul(a[::3, 2:8], b[2:8, 1:6], out=out) is out
    np.testing.assert_allclose(cupy.asnumpy(out), ref, rtol=1e-5, atol=1e-5)
    big = cupy.full((4, 10), np.nan, dtype=np.float32)      # a non-contiguous out
    _gemm.matmul(a[::3, 2:8], b[2:8, 1:6], out=big[:, 2:7])
    np.testing.assert_allclose(cupy.asnumpy(big[:, 2:7]), ref, rtol=1e-5, atol=1e-5)
    assert np.isnan(cupy.asnumpy(big[:, :2])).all() and np.isnan(cupy.asnumpy(big[:, 7:])).all()
    with pytest.raises(ValueError):
        _gemm.matmul(a, a)                                    # 9 != 12: CuPy's own error


@pytest.mark.gpu
def test_gemm_recorded_in_a_cuda_graph_replays_on_new_inputs(cupy):
    rng = np.random.default_rng(3)
    a = cupy.asarray(rng.standard_normal((64, 32)).astype(np.float32))
    b = cupy.asarray(rng.standard_normal((32, 48)).astype(np.float32))
    c3 = cupy.asarray(rng.standard_normal((4, 48, 16)).astype(np.float32))
    _gemm.matmul(a, b)                                        # handle made outside the capture
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        stream.begin_capture()
        y = _gemm.matmul(a, b)                                # (64, 48)
        z = _gemm.matmul(y.T.T, c3)                           # (4, 64, 16), shared y
        graph = stream.end_capture()
    for _ in range(2):
        a[...] = cupy.asarray(rng.standard_normal((64, 32)).astype(np.float32))
        graph.launch(cupy.cuda.get_current_stream())
        ref_y = cupy.asnumpy(a).astype(np.float64) @ cupy.asnumpy(b)
        ref_z = ref_y @ cupy.asnumpy(c3)
        np.testing.assert_allclose(cupy.asnumpy(y), ref_y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cupy.asnumpy(z), ref_z, rtol=1e-4, atol=1e-3)
