"""Shared helpers of the host-kernel tests: train the same model with and without the
host kernels (kernels/host/*.cpp) and compare what it learned."""
import numpy as np

from gpuseq.backend.numpy_ops import _host


def digits_sequences(n=640):
    """scikit-learn's 8x8 digits as n sequences of 8 steps x 8 features, one-hot labels."""
    from sklearn.datasets import load_digits

    from gpuseq.utils import to_categorical

    digits = load_digits()
    x = (digits.data[:n] / 16.0).reshape(-1, 8, 8).astype("float32")
    return x, to_categorical(digits.target[:n], 10)


def loss_curves_on_both_paths(build, x, y, seed, **fit_kwargs):
    """Loss per epoch of ``build()`` (a compiled model) trained from ``seed`` with the host
    kernels and without them: returns (host curve, NumPy curve)."""
    from gpuseq.utils import set_random_seed

    curves = []
    for on in (True, False):
        with _host.use(on):
            set_random_seed(seed)
            model = build()
            h = model.fit(x, y, verbose=0, shuffle=False, **fit_kwargs)
            curves.append(np.array(h.history["loss"]))
    return curves
