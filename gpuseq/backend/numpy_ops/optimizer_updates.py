"""NumPy reference: in-place optimizer updates with the Keras 2.2 rules.

Every update function updates ``param`` and its state arrays in place and
returns None. Its hyper-parameters for this step arrive as one ``scalars``
sequence, laid out by the rule's ``<rule>_scalars`` function below (the layout the
CUDA kernels read from their device buffer): Python floats already resolved on the
host (``lr`` includes the time decay ``lr / (1 + decay * iterations)``, Adam's
``lr_t`` includes the bias correction), with complements such as ``1 - rho``
computed here once in double precision. ``g`` is the (clipped) gradient.

The updates use one or two scratch arrays each instead of a temporary per
operation (the order of the floating-point operations is the formula's).

With the host kernels (kernels/host/optimizers.cpp, see ``_host.py``) SGD, RMSprop,
Adagrad and Adam make one pass over a weight and its state instead of one per ufunc,
with the same operations in the same order, so the weights are bitwise the same either
way; the code below runs when they are unavailable, and for the other rules.

Twin: ``cupy_ops/optimizer_updates.py`` (kernels/optimizers.cu), one launch per weight,
reading the same scalars from a device buffer (:func:`load_step_scalars`).
"""
import numpy as np

from . import _host


# ---------------------------------------------------------------- step scalars
def sgd_scalars(lr, momentum):
    """SGD's step scalars: ``(lr, momentum)``."""
    return (float(lr), float(momentum))


def rmsprop_scalars(lr, rho, epsilon):
    """RMSprop's step scalars: ``(lr, rho, 1 - rho, epsilon)``."""
    return (float(lr), float(rho), 1.0 - float(rho), float(epsilon))


def adagrad_scalars(lr, epsilon):
    """Adagrad's step scalars: ``(lr, epsilon)``."""
    return (float(lr), float(epsilon))


def adadelta_scalars(lr, rho, epsilon):
    """Adadelta's step scalars: ``(lr, rho, 1 - rho, epsilon)``."""
    return (float(lr), float(rho), 1.0 - float(rho), float(epsilon))


def adam_scalars(lr_t, beta_1, beta_2, epsilon):
    """Adam's (and AMSGrad's) step scalars:
    ``(lr_t, beta_1, 1 - beta_1, beta_2, 1 - beta_2, epsilon)``."""
    b1, b2 = float(beta_1), float(beta_2)
    return (float(lr_t), b1, 1.0 - b1, b2, 1.0 - b2, float(epsilon))


def adamax_scalars(lr_t, beta_1, beta_2, epsilon):
    """Adamax's step scalars: ``(lr_t, beta_1, 1 - beta_1, beta_2, epsilon)``."""
    b1 = float(beta_1)
    return (float(lr_t), b1, 1.0 - b1, float(beta_2), float(epsilon))


def nadam_scalars(lr, beta_1, beta_2, epsilon, momentum_cache_t, momentum_cache_t_1,
                  m_schedule_new, m_schedule_next, beta_2_power_t):
    """Keras 2.2 Nadam's step scalars: ``(lr, beta_1, 1 - beta_1, beta_2, 1 - beta_2,
    epsilon, 1 - momentum_cache_t, momentum_cache_t_1, 1 - m_schedule_new,
    1 - m_schedule_next, 1 - beta_2_power_t)``."""
    b1, b2 = float(beta_1), float(beta_2)
    return (float(lr), b1, 1.0 - b1, b2, 1.0 - b2, float(epsilon),
            1.0 - float(momentum_cache_t), float(momentum_cache_t_1),
            1.0 - float(m_schedule_new), 1.0 - float(m_schedule_next),
            1.0 - float(beta_2_power_t))


def load_step_scalars(values, buffer=None):
    """This step's scalars in the form the updates read: on the host, a tuple of
    Python floats (``buffer``, the previous step's, is not needed). Twin of the
    device buffer of ``cupy_ops.optimizer_updates.load_step_scalars``."""
    return tuple(float(v) for v in values)


def _floats(scalars, count, rule):
    values = tuple(float(v) for v in scalars)
    if len(values) != count:
        raise ValueError(f"{rule} reads {count} step scalars (see {rule}_scalars), but "
                         f"received {len(values)}. Received: scalars={values!r}")
    return values


# --------------------------------------------------------------------- updates
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


def sgd_update(p, g, v, scalars, nesterov):
    """v <- momentum*v - lr*g;  p <- p + momentum*v - lr*g (Nesterov) or p + v.
    scalars: :func:`sgd_scalars`."""
    lr, momentum = _floats(scalars, 2, "sgd")
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


def rmsprop_update(p, g, a, scalars):
    """a <- rho*a + (1-rho)*g^2;  p <- p - lr*g/(sqrt(a)+eps).
    scalars: :func:`rmsprop_scalars`."""
    lr, rho, one_minus_rho, epsilon = _floats(scalars, 4, "rmsprop")
    fn = _host_update("rmsprop", p, g, a)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(a), p.size, lr, rho, epsilon,
           _host.elementwise_threads(p.size))
        return
    t = np.multiply(g, one_minus_rho)            # scratch, reused below
    t *= g
    a *= rho
    a += t
    np.sqrt(a, out=t)
    t += epsilon
    step = np.multiply(g, lr)
    step /= t
    p -= step


def adagrad_update(p, g, a, scalars):
    """a <- a + g^2;  p <- p - lr*g/(sqrt(a)+eps).  scalars: :func:`adagrad_scalars`."""
    lr, epsilon = _floats(scalars, 2, "adagrad")
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


def adadelta_update(p, g, a, d, scalars):
    """a <- rho*a + (1-rho)*g^2;  u = g*sqrt(d+eps)/sqrt(a+eps);  p <- p - lr*u;
    d <- rho*d + (1-rho)*u^2.  scalars: :func:`adadelta_scalars`."""
    lr, rho, one_minus_rho, epsilon = _floats(scalars, 4, "adadelta")
    a *= rho
    a += one_minus_rho * g * g
    u = g * np.sqrt(d + epsilon) / np.sqrt(a + epsilon)
    p -= lr * u
    d *= rho
    d += one_minus_rho * u * u


def adam_update(p, g, m, v, vhat, scalars, amsgrad):
    """m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  vhat <- max(vhat, v) (AMSGrad);
    p <- p - lr_t*m/(sqrt(vhat or v)+eps), lr_t = lr*sqrt(1-b2^t)/(1-b1^t).
    scalars: :func:`adam_scalars`.

    ``vhat`` is only read when ``amsgrad`` is true; otherwise it may be None."""
    lr_t, beta_1, one_minus_b1, beta_2, one_minus_b2, epsilon = _floats(scalars, 6, "adam")
    vh = vhat if amsgrad else None
    fn = _host_update("adam", p, g, m, v, vh)
    if fn is not None:
        fn(_ptr(p), _ptr(g), _ptr(m), _ptr(v), _ptr(vh), p.size, lr_t, beta_1, beta_2,
           epsilon, _host.elementwise_threads(p.size))
        return
    t = np.multiply(g, one_minus_b1)             # scratch, reused below
    m *= beta_1
    m += t
    np.multiply(g, one_minus_b2, out=t)
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


def adamax_update(p, g, m, u, scalars):
    """m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g|);  p <- p - lr_t*m/(u+eps), lr_t = lr/(1-b1^t).
    scalars: :func:`adamax_scalars`."""
    lr_t, beta_1, one_minus_b1, beta_2, epsilon = _floats(scalars, 5, "adamax")
    m *= beta_1
    m += one_minus_b1 * g
    np.maximum(beta_2 * u, np.abs(g), out=u)
    p -= lr_t * m / (u + epsilon)


def nadam_update(p, g, m, v, scalars):
    """Keras 2.2 Nadam (scalars: :func:`nadam_scalars`):
    g' = g/(1-m_schedule_new);  m <- b1*m + (1-b1)*g;  m' = m/(1-m_schedule_next);
    v <- b2*v + (1-b2)*g^2;  v' = v/(1-b2^t);
    m_bar = (1-mc_t)*g' + mc_{t+1}*m';  p <- p - lr*m_bar/(sqrt(v')+eps)."""
    (lr, beta_1, one_minus_b1, beta_2, one_minus_b2, epsilon, one_minus_mc_t, mc_t_1,
     one_minus_ms_new, one_minus_ms_next, one_minus_b2_power) = _floats(scalars, 11, "nadam")
    g_prime = g / one_minus_ms_new
    m *= beta_1
    m += one_minus_b1 * g
    m_prime = m / one_minus_ms_next
    v *= beta_2
    v += one_minus_b2 * g * g
    v_prime = v / one_minus_b2_power
    m_bar = one_minus_mc_t * g_prime + mc_t_1 * m_prime
    p -= lr * m_bar / (np.sqrt(v_prime) + epsilon)
