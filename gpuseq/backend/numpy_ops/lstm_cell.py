"""NumPy reference: the LSTM cell's pointwise part for one step, given the gate
pre-activations (used by ConvLSTM2D, whose products are convolutions).

Twin: ``cupy_ops/lstm_cell.py`` (kernels/lstm.cu ``lstm_forward_step`` /
``lstm_backward_step``).

    lstm_cell_forward(z, c_prev, activation='tanh', recurrent_activation='sigmoid')
        -> (y, saved)
    lstm_cell_backward(gy, saved, **same attrs) -> (gz, gc_prev)

Shapes: z (M, 4u) with the gate blocks i|f|c|o along the last axis; c_prev (M, u).
Output y (M, 2u) = [h | c] with c = rec(z_f) c_prev + rec(z_i) act(z_c) and
h = rec(z_o) act(c).
"""
import numpy as np

from .recurrent import _act_, _check_kind, _dact


def _check(z, c_prev, activation, recurrent_activation):
    _check_kind(activation, "activation")
    _check_kind(recurrent_activation, "recurrent_activation")
    if z.ndim != 2 or z.shape[1] % 4 or c_prev.shape != (z.shape[0], z.shape[1] // 4):
        raise ValueError("lstm_cell expects gate pre-activations z of shape (M, 4u) and "
                         f"c_prev of shape (M, u). Received: z.shape={z.shape}, "
                         f"c_prev.shape={c_prev.shape}")


def lstm_cell_forward(z, c_prev, activation="tanh", recurrent_activation="sigmoid"):
    _check(z, c_prev, activation, recurrent_activation)
    u = z.shape[1] // 4
    gates = np.array(z, copy=True)
    for k in (0, 1, 3):
        _act_(gates[:, k * u:(k + 1) * u], recurrent_activation)
    _act_(gates[:, 2 * u:3 * u], activation)
    i, f, g, o = (gates[:, k * u:(k + 1) * u] for k in range(4))
    c = f * c_prev + i * g
    tc = c.copy()
    _act_(tc, activation)
    y = np.concatenate([o * tc, c], axis=1)
    return y, {"gates": gates, "tc": tc, "c_prev": np.asarray(c_prev)}


def lstm_cell_backward(gy, saved, activation="tanh", recurrent_activation="sigmoid"):
    gates, tc, c_prev = saved["gates"], saved["tc"], saved["c_prev"]
    u = tc.shape[1]
    i, f, g, o = (gates[:, k * u:(k + 1) * u] for k in range(4))
    gh, gc = gy[:, :u], gy[:, u:]
    dc = gc + gh * o * _dact(tc, activation, np.empty_like(tc))
    buf = np.empty_like(tc)
    dz = np.empty_like(gates)
    dz[:, :u] = dc * g * _dact(i, recurrent_activation, buf)
    dz[:, u:2 * u] = dc * c_prev * _dact(f, recurrent_activation, buf)
    dz[:, 2 * u:3 * u] = dc * i * _dact(g, activation, buf)
    dz[:, 3 * u:] = gh * tc * _dact(o, recurrent_activation, buf)
    return dz, dc * f
