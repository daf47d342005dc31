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
    ("empty k folded", (2, 3, 0), I, (0, 4), I),
    ("transposed column slice", (6, 9), lambda x: x[:, 1:5].T, (6, 3), I),
    ("reversed rows", (5, 4), lambda x: x[::-1], (4, 3), I),
    ("stride-0 batch", (1, 4, 5), lambda x: _broadcast(x, (3, 4, 5)), (3, 5, 2), I),
    ("reversed batch", (3, 4, 5), lambda x: x[::-1], (3, 5, 2), I),
]


def _broadcast(x, shape):
    m = __import__(type(x).__module__.split(".")[0])
    return m.broadcast_to(x, shape)


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


def _reference_gemm(calls):
    """A stand-in for the cuBLAS call that reads the operands exactly as cuBLAS
    would (column-major, op N/T, leading dimension, batch stride, from the raw
    buffer) and checks the arguments cuBLAS requires."""
    from numpy.lib.stride_tricks import as_strided

    def gemm(_cupy, dt, a, la, b, lb, c, M, N, K, batch, batched):
        (op_a, ld_a, s_a), (op_b, ld_b, s_b) = la, lb
        rows_a, cols_a = (K, M) if op_a == 0 else (M, K)      # stored column-major
        rows_b, cols_b = (N, K) if op_b == 0 else (K, N)
        assert ld_a >= max(1, rows_a) and ld_b >= max(1, rows_b)
        assert 0 < max(M, N, K, ld_a, ld_b) <= 2 ** 31 - 1
        assert c.flags.c_contiguous and (not batched or c.shape[0] == batch)
        calls.append((op_a, op_b))
        it = a.itemsize
        cflat = c.reshape(-1)
        for i in range(batch):
            A = as_strided(a, shape=(batch, rows_a, cols_a),
                           strides=(s_a * it, it, ld_a * it))[i]
            B = as_strided(b, shape=(batch, rows_b, cols_b),
                           strides=(s_b * it, it, ld_b * it))[i]
            opA = A if op_a == 0 else A.T                         # (K, M)
            opB = B if op_b == 0 else B.T                         # (N, K)
            as_strided(cflat[i * M * N:], shape=(N, M), strides=(it, N * it))[...] = opB @ opA
    return gemm


def test_gemm_layouts_against_a_reference_of_the_cublas_call(monkeypatch):
    """On the CPU: the operation, leading dimension and batch stride _gemm passes for
    each layout, read back as cuBLAS reads them, give numpy.matmul's product."""
    calls = []
    monkeypatch.setattr(_gemm, "_is_cupy", lambda x: isinstance(x, np.ndarray))
    monkeypatch.setattr(_gemm, "_cupy", lambda: np)
    monkeypatch.setattr(_gemm, "_gemm", _reference_gemm(calls))
    monkeypatch.setattr(_gemm, "_fallback", lambda *args: pytest.fail(f"fallback: {args}"))
    rng = np.random.default_rng(4)
    for case in CASES:
        for dtype in (np.float32, np.float64):
            a, b = _operands(rng, case, lambda x: x.astype(dtype))
            ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
            got = _gemm.matmul(a, b)
            assert got.shape == ref.shape and got.dtype == dtype, case[0]
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5, err_msg=case[0])
            out = np.full(ref.shape, np.nan, dtype=dtype)
            assert _gemm.matmul(a, b, out=out) is out
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5, err_msg=case[0])
    assert {op for pair in calls for op in pair} == {0, 1}        # both operations used
    x = rng.standard_normal((8, 8))                               # out is an input
    ref = x @ x
    _gemm.matmul(x, x, out=x)
    np.testing.assert_allclose(x, ref, rtol=1e-12)


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
    sq = cupy.asarray(rng.standard_normal((1024, 1024)).astype(np.float32))
    ref = cupy.asnumpy(sq).astype(np.float64) @ cupy.asnumpy(sq)
    assert _gemm.matmul(sq, sq, out=sq) is sq                 # out is an input
    np.testing.assert_allclose(cupy.asnumpy(sq), ref, rtol=1e-4, atol=1e-3)


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
