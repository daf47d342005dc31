"""NumPy reference: in-place optimizer updates with the Keras 2.2 rules.

Every function updates ``param`` and its state arrays in place and returns
None. Hyper-parameters arrive as Python floats already resolved for this step
on the host (``lr`` includes the time decay ``lr / (1 + decay * iterations)``,
Adam's ``lr_t`` includes the bias correction). ``g`` is the (clipped) gradient.

The updates use one or two scratch arrays each instead of a temporary per
operation (the order of the floating-point operations is the formula's).

With the host kernels (kernels/host/optimizers.cpp, see ``_host.py``) SGD, RMSprop,
Adagrad and Adam make one pass over a weight and its state instead of one per ufunc,
with the same operations in the same order, so the weights are bitwise the same either
way; the code below runs when they are unavailable, and for the other rules.

Twin: ``cupy_ops/optimizer_updates.py`` (kernels/optimizers.cu), one launch per weight.
"""
import numpy as np

from . import _host


def _host_update(name, p, *arrays):
    """The host entry point ``gs_<name>_update`` for these arrays, or None (then NumPy
    runs the rule): float32/float64, all of one dtype, shape and C-contiguous."""
    dt = p.dtype
    if not p.flags.c_contiguous:
        return None
    for a in arrays:
        if a is not None and (a.dtype != dt or not a.flags.c_contiguous
                              or a.shape != p.shape):
            return None
    fns = _host.functions("optimizers", dt)
    return None if fns is None else fns[f"{name}_update"]


_ptr = _host.pointer


def sgd_update(p, g, v, lr, momentum, nesterov):
    """v <- momentum*v - lr*g;  p <- p + momentum*v - lr*g (Nesterov) or p + v."""
    fn = _host_update("sgd", p, g, v)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(v), p.size, lr, momentum, int(bool(nesterov)),
           _host.elementwise_threads(p.size))
        return
    step = np.multiply(g, lr)                    # lr*g, the one temporary
    v *= momentum
    v -= step
    if nesterov:
        look = np.multiply(v, momentum)
        look -= step
        p += look
    else:
        p += v


def rmsprop_update(p, g, a, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    fn = _host_update("rmsprop", p, g, a)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(a), p.size, lr, rho, epsilon,
           _host.elementwise_threads(p.size))
        return
    t = np.multiply(g, 1 - rho)                  # scratch, reused below
    t *= g
    a *= rho
    a += t
    np.sqrt(a, out=t)
    t += epsilon
    step = np.multiply(g, lr)
    step /= t
    p -= step


def adagrad_update(p, g, a, lr, epsilon):
    """a <- a + g^2;  p <- p - lr*g/(sqrt(a)+eps)."""
    fn = _host_update("adagrad", p, g, a)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(a), p.size, lr, epsilon, _host.elementwise_threads(p.size))
        return
    t = np.multiply(g, g)                        # scratch, reused below
    a += t
    np.sqrt(a, out=t)
    t += epsilon
    step = np.multiply(g, lr)
    step /= t
    p -= step


def adadelta_update(p, g, a, d, lr, rho, epsilon):
    """a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);  p <- p - lr*u;
    d <- rho*d + (1-rho)*u^2."""
    a *= rho
    a += (1 - rho) * g * g
    u = g * np.sqrt(d + epsilon) / np.sqrt(a + epsilon)
    p -= lr * u
    d *= rho
    d += (1 - rho) * u * u


def adam_update(p, g, m, v, vhat, lr_t, beta_1, beta_2, epsilon, amsgrad):
    """m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  vhat <- max(vhat, v) (AMSGrad);
    p <- p - lr_t*m/(sqrt(vhat or v)+eps), lr_t = lr*sqrt(1-b2^t)/(1-b1^t).

    ``vhat`` is only read when ``amsgrad`` is true; otherwise it may be None."""
    vh = vhat if amsgrad else None
    fn = _host_update("adam", p, g, m, v, vh)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(m), _ptr(v), _ptr(vh), p.size, lr_t, beta_1, beta_2,
           epsilon, _host.elementwise_threads(p.size))
        return
    t = np.multiply(g, 1 - beta_1)               # scratch, reused below
    m *= beta_1
    m += t
    np.multiply(g, 1 - beta_2, out=t)
    t *= g
    v *= beta_2
    v += t
    if amsgrad:
        np.maximum(vhat, v, out=vhat)
    np.sqrt(vhat if amsgrad else v, out=t)
    t += epsilon
    step = np.multiply(m, lr_t)
    step /= t
    p -= step


def adamax_update(p, g, m, u, lr_t, beta_1, beta_2, epsilon):
    """m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);  p <- p - lr_t*m/(u+eps), lr_t = lr/(1-b1^t)."""
    m *= beta_1
    m += (1 - beta_1) * g
    np.maximum(beta_2 * u, np.abs(g), out=u)
    p -= lr_t * m / (u + epsilon)


def nadam_update(p, g, m, v, lr, beta_1, beta_2, epsilon, momentum_cache_t,
                 momentum_cache_t_1, m_schedule_new, m_schedule_next, beta_2_power_t):
    """Keras 2.2 Nadam:
    g' = g/(1-m_schedule_new);  m <- b1*m + (1-b1)*g;  m' = m/(1-m_schedule_next);
    v <- b2*v + (1-b2)*g^2;  v' = v/(1-b2^t);
    m_bar = (1-mc_t)*g' + mc_{t+1}*m';  p <- p - lr*m_bar/(sqrt(v')+eps)."""
    g_prime = g / (1 - m_schedule_new)
    m *= beta_1
    m += (1 - beta_1) * g
    m_prime = m / (1 - m_schedule_next)
    v *= beta_2
    v += (1 - beta_2) * g * g
    v_prime = v / (1 - beta_2_power_t)
    m_bar = (1 - momentum_cache_t) * g_prime + momentum_cache_t_1 * m_prime
    p -= lr * m_bar / (np.sqrt(v_prime) + epsilon)
