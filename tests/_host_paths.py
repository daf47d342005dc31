"""Shared helpers of the host-kernel tests: op inputs, and training the same model with
and without the host kernels (kernels/host/*.cpp) to compare what it learned."""
import numpy as np

from gpuseq.backend.numpy_ops import _host


def digits_sequences(n=640):
    """scikit-learn's 8x8 digits as n sequences of 8 steps x 8 features, one-hot labels."""
    from sklearn.datasets import load_digits

    from gpuseq.utils import to_categorical

    digits = load_digits()
    x = (digits.data[:n] / 16.0).reshape(-1, 8, 8).astype("float32")
    return x, to_categorical(digits.target[:n], 10)


def digits_images(n=640):
    """scikit-learn's 8x8 digits as n (8, 8, 1) images, one-hot labels."""
    from sklearn.datasets import load_digits

    from gpuseq.utils import to_categorical

    digits = load_digits()
    x = (digits.data[:n] / 16.0).reshape(-1, 8, 8, 1).astype("float32")
    return x, to_categorical(digits.target[:n], 10)


def lstm_inputs(rng, dtype, n=5, t=6, f=4, u=3):
    """LSTM op inputs (x, W, U, b, h0, c0, mask, recurrent dropout mask) of the host
    kernel tests: a mask with right and left padding and a hole."""
    x = rng.standard_normal((n, t, f)).astype(dtype)
    W = (rng.standard_normal((f, 4 * u)) * 0.6).astype(dtype)
    U = (rng.standard_normal((u, 4 * u)) * 0.6).astype(dtype)
    b = (rng.standard_normal(4 * u) * 0.3).astype(dtype)
    h0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((n, u)) * 0.5).astype(dtype)
    mask = np.ones((n, t), dtype=bool)
    mask[0, -2:] = False                                        # right padding
    mask[1:2, :2] = False                                       # left padding
    mask[2:3, 3] = False                                        # a hole
    rmask = (rng.random((n, u)) > 0.3).astype(dtype) / 0.7
    return x, W, U, b, h0, c0, mask, rmask


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
