"""Plain PyTorch as a benchmark peer: the same model and batches, a hand-written loop.

    from torch_peer import run_torch

    def build_mlp(torch):                      # module-level, receives the torch module
        nn = torch.nn
        model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        return model, opt, nn.CrossEntropyLoss()

    sps, why = run_torch(build_mlp, x, y_int, batch_size=32, epochs=1, device="cpu")

The loop is what a PyTorch user writes: zero_grad, forward, loss, backward, step, per
batch in order (no shuffling), timed after a warm-up on a few batches like the other
peers (see peers.time_fit). Runs in this process; returns (None, reason) when torch is
missing or the device is unavailable.
"""
import importlib.util

import numpy as np

from peers import time_fit


def torch_available():
    return importlib.util.find_spec("torch") is not None


def run_torch(build_fn, x, y, batch_size, epochs=1, device="cpu", warmup_batches=2,
              x_dtype="float32", y_dtype=None):
    """Samples/second of ``epochs`` epochs of plain PyTorch training.

    Args:
        build_fn: ``build_fn(torch) -> (module, optimizer, loss_fn)``.
        x, y: NumPy arrays; y as the loss expects it (class indices for CrossEntropyLoss,
            floats for BCEWithLogitsLoss/MSELoss).
        device: 'cpu' or 'cuda'.
        x_dtype: dtype of the inputs ('int64' for token indices).
    """
    if not torch_available():
        return None, "torch is not installed"
    import torch
    if device == "cuda" and not torch.cuda.is_available():
        return None, "torch sees no CUDA device"
    torch.manual_seed(0)
    model, opt, loss_fn = build_fn(torch)
    model.to(device).train()
    xt = torch.as_tensor(np.asarray(x, dtype=x_dtype), device=device)
    yt = torch.as_tensor(np.asarray(y) if y_dtype is None else np.asarray(y, dtype=y_dtype),
                         device=device)

    def fit(a, b, n_epochs):
        n = a.shape[0]
        for _ in range(n_epochs):
            for i in range(0, n, batch_size):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(a[i:i + batch_size]), b[i:i + batch_size])
                loss.backward()
                opt.step()
        loss.item()  # one synchronisation per fit, like reading the final loss

    sync = torch.cuda.synchronize if device == "cuda" else None
    secs = time_fit(fit, xt, yt, batch_size, epochs, warmup_batches, sync)
    return len(x) * epochs / secs, None
