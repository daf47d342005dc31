"""CUDA twin of ``numpy_ops/optimizer_updates.py``: fused in-place updates, one launch per weight.

Kernels: kernels/optimizers.cu. ``param`` and the state arrays are updated in
place (they must be C-contiguous arrays of the active backend with the same
dtype); the gradient is read (cast to the parameter's dtype and made contiguous
when needed). Hyper-parameters are Python floats resolved for this step on the
host; complements like ``1 - rho`` are computed here in double precision and
rounded once to the kernel's type, exactly like the NumPy twin's arithmetic.
"""
from ._common import float_input, launch_1d


def _prepare(p, g, *state):
    """Check shapes; return g as a contiguous array of p's dtype."""
    for i, s in enumerate(state):
        if tuple(s.shape) != tuple(p.shape):
            raise ValueError(
                f"Optimizer state array {i} has shape {tuple(s.shape)} but the parameter has "
                f"shape {tuple(p.shape)}; each state array must match its parameter. "
                f"Received: state.shape={tuple(s.shape)}, param.shape={tuple(p.shape)}")
    g = float_input(g, "gradient", dtype=p.dtype)
    if tuple(g.shape) != tuple(p.shape):
        raise ValueError(
            f"The gradient of a parameter of shape {tuple(p.shape)} must have the same shape. "
            f"Received: gradient.shape={tuple(g.shape)}")
    return g


def sgd_update(p, g, v, lr, momentum, nesterov):
    """v <- momentum*v - lr*g;  p <- p + momentum*v - lr*g (Nesterov) or p + v."""
    g = _prepare(p, g, v)
    launch_1d("optimizers", "sgd_update", p.dtype, p.size,
              (p, g, v, p.size, lr, momentum, bool(nesterov)))


def rmsprop_update(p, g, a, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    g = _prepare(p, g, a)
    launch_1d("optimizers", "rmsprop_update", p.dtype, p.size,
              (p, g, a, p.size, lr, rho, 1.0 - rho, epsilon))


def adagrad_update(p, g, a, lr, epsilon):
    """a <- a + g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    g = _prepare(p, g, a)
    launch_1d("optimizers", "adagrad_update", p.dtype, p.size, (p, g, a, p.size, lr, epsilon))


def adadelta_update(p, g, a, d, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);  p <- p - lr*u;
    d <- rho*d + (1-rho)*u^2."""
    g = _prepare(p, g, a, d)
    launch_1d("optimizers", "adadelta_update", p.dtype, p.size,
              (p, g, a, d, p.size, lr, rho, 1.0 - rho, epsilon))


def adam_update(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, amsgrad):
    """m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  vhat <- max(vhat, v) (AMSGrad);
    p <- p - lr_t*m/(sqrt(vhat or v)+eps)."""
    if amsgrad:
        g = _prepare(p, g, m, v, vhat)
        launch_1d("optimizers", "amsgrad_update", p.dtype, p.size,
                  (p, g, m, v, vhat, p.size, lr_t, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2,
                   epsilon))
    else:
        g = _prepare(p, g, m, v)
        launch_1d("optimizers", "adam_update", p.dtype, p.size,
                  (p, g, m, v, p.size, lr_t, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2,
                   epsilon))


def adamax_update(p, g, m, u, lr_t, beta_1, beta_2, epsilon):
    """m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);  p <- p - lr_t*m/(u+eps)."""
    g = _prepare(p, g, m, u)
    launch_1d("optimizers", "adamax_update", p.dtype, p.size,
              (p, g, m, u, p.size, lr_t, beta_1, 1.0 - beta_1, beta_2, epsilon))


def nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, momentum_cache_t,
                 momentum_cache_t_1, m_schedule_new, m_schedule_next, beta_2_power_t):
    """Keras 2.2 Nadam (see numpy_ops.optimizer_updates.nadam_update)."""
    g = _prepare(p, g, m, v)
    launch_1d("optimizers", "nadam_update", p.dtype, p.size,
              (p, g, m, v, p.size, lr, beta_1, 1.0 - beta_1, beta_2, 1.0 - beta_2, epsilon,
               1.0 - momentum_cache_t, momentum_cache_t_1, 1.0 - m_schedule_new,
               1.0 - m_schedule_next, 1.0 - beta_2_power_t))
