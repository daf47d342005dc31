"""The LSTM cell's pointwise step on the GPU: kernels/lstm.cu ``lstm_forward_step`` and
``lstm_backward_step`` (no recurrent product, no mask, no dropout).

NumPy twin: ``numpy_ops/lstm_cell.py`` (same names, signatures and results).
"""
from ..numpy_ops.lstm_cell import _check
from ._common import dummy as _dummy
from ._common import float_input, launch_1d, xp
from .activations import _kind_code


def lstm_cell_forward(z, c_prev, activation="tanh", recurrent_activation="sigmoid"):
    """-> (y (M, 2u) = [h | c], saved)."""
    _check(z, c_prev, activation, recurrent_activation)
    m = xp()
    gates = float_input(z, "z").copy()                  # activated in place by the kernel
    dt = gates.dtype
    c_prev = float_input(c_prev, "c_prev", dtype=dt)
    n, u = c_prev.shape
    hu = m.zeros_like(gates)
    h, c, tc = (m.empty((n, u), dtype=dt) for _ in range(3))
    launch_1d("lstm", "lstm_forward_step", dt, n * u,
              (gates, hu, c_prev, c_prev, _dummy(dt), c, h, tc, n, u, 0,
               _kind_code(activation), _kind_code(recurrent_activation)))
    y = m.concatenate([h, c], axis=1)
    return y, {"gates": gates, "tc": tc, "c_prev": c_prev}


def lstm_cell_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid"):
    """-> (gz (M, 4u), gc_prev (M, u))."""
    m = xp()
    gates, tc, c_prev = saved["gates"], saved["tc"], saved["c_prev"]
    dt = gates.dtype
    n, u = tc.shape
    gy = float_input(gy, "gy", dtype=dt)
    gh = m.ascontiguousarray(gy[:, :u])
    dc = m.ascontiguousarray(gy[:, u:])                 # in: d c; out: d c_prev
    dh_carry = m.zeros((n, u), dtype=dt)
    dh_rec = m.zeros((n, u), dtype=dt)
    dz = m.empty_like(gates)
    dummy = _dummy(dt)
    launch_1d("lstm", "lstm_backward_step", dt, n * u,
              (gates, tc, c_prev, dummy, gh, dh_rec, dummy, dh_carry, dc, dz, n, u, 0, 1, 0,
               _kind_code(activation), _kind_code(recurrent_activation)))
    return dz, dc
