"""Define-by-run reverse-mode differentiation over backend arrays.

Every computation the model performs on trainable data goes through a
:class:`Function`: ``forward`` on raw arrays (NumPy or CuPy), ``backward`` from
the output gradient to one gradient per input. The calls are recorded while
they run (a tape, as in Chainer and DeZero); :func:`gradients` walks it back in
reverse creation order.

Two kinds of Function exist:

* small generic ones (add, mul, exp, sum, ...) written once against the array
  module of their inputs, so they serve NumPy and CuPy alike; these are what
  ``gpuseq.backend`` functions (``K.mean``, ``K.square``, ...) build on, which
  makes user-written losses, metrics and Lambda layers differentiable for free;
* :class:`FusedOp`, the heavy ops (dense+activation, softmax+cross-entropy,
  conv2d, pooling, lstm, ...), whose forward and backward are the
  ``<op>_forward`` / ``<op>_backward`` twins of the active op package
  (``numpy_ops`` or ``cupy_ops``).
"""
import contextlib
import heapq
import itertools

import numpy

from . import dispatch

_grad_enabled = [True]
_counter = itertools.count()


@contextlib.contextmanager
def no_grad():
    """Run without recording the tape (inference, metrics)."""
    prev = _grad_enabled[0]
    _grad_enabled[0] = False
    try:
        yield
    finally:
        _grad_enabled[0] = prev


def grad_enabled():
    return _grad_enabled[0]


class Tensor:
    """An array (NumPy or CuPy) with an optional place on the tape.

    Arithmetic operators, indexing and ``.T`` are differentiable. ``numpy()``
    returns a host copy; ``float(t)`` works for one-element tensors.
    """

    __array_priority__ = 1000
    __slots__ = ("data", "node", "requires_grad", "name", "_keras_mask", "__weakref__")

    def __init__(self, data, requires_grad=False, name=None):
        self.data = data
        self.node = None
        self.requires_grad = requires_grad
        self.name = name
        self._keras_mask = None

    # -- array-like facts -------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    def __len__(self):
        return self.data.shape[0]

    def numpy(self):
        return dispatch.to_host(self.data)

    def __array__(self, dtype=None, copy=None):
        a = dispatch.to_host(self.data)
        return a if dtype is None else a.astype(dtype)

    def __float__(self):
        return float(dispatch.to_host(self.data).reshape(-1)[0]) if self.size == 1 else \
            float(self.numpy())

    def item(self):
        return float(self)

    def __repr__(self):
        return f"Tensor(shape={self.shape}, dtype={self.dtype})"

    # -- operators (differentiable) ---------------------------------------
    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __truediv__(self, o): return div(self, o)
    def __rtruediv__(self, o): return div(o, self)
    def __neg__(self): return neg(self)
    def __pow__(self, p): return power(self, p)
    def __matmul__(self, o): return matmul(self, o)
    def __rmatmul__(self, o): return matmul(o, self)
    def __getitem__(self, idx): return getitem(self, idx)
    def __abs__(self): return absolute(self)

    # comparisons give non-differentiable boolean tensors
    def __lt__(self, o): return Tensor(self.data < _raw(o, self))
    def __le__(self, o): return Tensor(self.data <= _raw(o, self))
    def __gt__(self, o): return Tensor(self.data > _raw(o, self))
    def __ge__(self, o): return Tensor(self.data >= _raw(o, self))

    @property
    def T(self):
        return transpose(self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return reshape(self, shape)

    def sum(self, axis=None, keepdims=False):
        return reduce_sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return reduce_mean(self, axis, keepdims)

    def astype(self, dtype):
        return cast(self, dtype)


class Variable(Tensor):
    """A model weight: a leaf of the tape whose gradient is wanted.

    ``assign`` replaces the value in place (keeps the device and dtype).
    """

    __slots__ = ("trainable", "constraint", "regularizer")

    def __init__(self, data, name=None, trainable=True):
        flags = getattr(data, "flags", None)
        if flags is not None and not flags.c_contiguous:
            # kernels and in-place updates index flat memory: weights are always C-ordered
            data = dispatch.get_array_module(data).ascontiguousarray(data)
        super().__init__(data, requires_grad=True, name=name)
        self.trainable = trainable
        self.constraint = None
        self.regularizer = None

    def assign(self, value):
        value = value.data if isinstance(value, Tensor) else value
        xp = dispatch.get_array_module(self.data)
        v = xp.asarray(value, dtype=self.data.dtype)
        if tuple(v.shape) != tuple(self.data.shape):
            raise ValueError(
                f"Cannot assign a value of shape {tuple(v.shape)} to variable '{self.name}' "
                f"of shape {tuple(self.data.shape)}.")
        self.data[...] = v

    def __repr__(self):
        return f"Variable(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"


_device_scalars = {}


def _device_scalar(xp, x, dt):
    """A 0-d device array holding the Python number ``x`` as ``dt``, made once.

    Each new one is a host-to-device copy from pageable memory, which waits for all
    the device work queued before it; constants such as ``1 - rate`` or a loss's
    epsilon would otherwise stall the GPU pipeline at every step. The arrays are
    only ever read (constants take no gradient and no op writes its inputs).
    """
    if x != x:                                   # NaN: not a usable dictionary key
        return xp.asarray(x, dtype=dt)
    key = (type(x), x, dt.char, xp.cuda.runtime.getDevice())
    a = _device_scalars.get(key)
    if a is None:
        if capturing_graph():
            raise RuntimeError(
                f"A new device constant ({x!r}) appeared while a training step was being "
                "captured as a CUDA graph: the launch that fills it would only be recorded, "
                "never run, and the cache would keep an unwritten array.")
        if len(_device_scalars) >= 1024:
            _device_scalars.clear()
        a = _device_scalars[key] = xp.asarray(x, dtype=dt)
    return a


def device_constants():
    """The cached device constants (see :func:`_device_scalar`), for code that must keep
    them alive while something recorded reads them (a captured CUDA graph)."""
    return tuple(_device_scalars.values())


_capturing = [False]


def capturing_graph():
    """True while a training step is being captured as a CUDA graph.

    The one switch the backend reads during a capture, where recorded work differs
    from work that runs: a new device constant could not be filled (its copy would
    only be recorded), embedding indices cannot be read back to be checked (the
    replaying code checks each batch before the launch), and an optimizer's step
    scalars are written before each launch rather than inside the graph.
    """
    return _capturing[0]


@contextlib.contextmanager
def graph_capture():
    """Mark the enclosed code as being captured as a CUDA graph (see :func:`capturing_graph`)."""
    prev, _capturing[0] = _capturing[0], True
    try:
        yield
    finally:
        _capturing[0] = prev


def as_tensor(x, like=None):
    """Wrap arrays and Python numbers as constant Tensors (numbers take like's dtype)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float, numpy.number, bool)):
        ld = like.data
        dt = ld.dtype if ld.dtype.kind == "f" else numpy.dtype("float32")
        if type(ld) is numpy.ndarray:
            return Tensor(numpy.asarray(x, dtype=dt))
        xp = dispatch.get_array_module(ld)
        return Tensor(_device_scalar(xp, x, dt) if xp is not numpy else xp.asarray(x, dtype=dt))
    if like is not None:
        xp = dispatch.get_array_module(like.data)
        return Tensor(xp.asarray(x))
    if isinstance(x, (int, float, list, tuple)) or type(x).__module__ == "numpy":
        return Tensor(dispatch.xp().asarray(x))
    return Tensor(x)


def _raw(x, like=None):
    return as_tensor(x, like).data


class Function:
    """One recorded operation: ``forward`` on arrays, ``backward`` to input gradients."""

    __slots__ = ("inputs", "out_id", "order", "__dict__")

    def __call__(self, *inputs):
        # plain loops instead of generator expressions: this runs once per recorded op
        first = None
        for t in inputs:
            if isinstance(t, Tensor):
                first = t
                break
        ts = [t if isinstance(t, Tensor) else as_tensor(t, first) for t in inputs]
        y = Tensor(self.forward(*[t.data for t in ts]))
        if _grad_enabled[0]:
            for t in ts:
                if t.requires_grad:
                    y.requires_grad = True
                    y.node = self
                    self.inputs = ts
                    self.out_id = id(y)
                    self.order = next(_counter)
                    break
        return y

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError


def gradients(loss, variables, grad_output=None):
    """Gradients of ``loss`` with respect to each of ``variables``.

    Args:
        loss: Tensor (usually a scalar) produced by recorded Functions.
        variables: list of Tensors (leaves) to differentiate with respect to.
        grad_output: seed gradient (defaults to ones like ``loss``).

    Returns:
        list of arrays, one per variable; zeros for a variable the loss does not use.
    """
    xp = dispatch.get_array_module(loss.data)
    grads = {id(loss): grad_output if grad_output is not None else xp.ones_like(loss.data)}
    heap, seen = [], set()

    def push(t):
        n = t.node
        if n is not None and id(n) not in seen:
            seen.add(id(n))
            heapq.heappush(heap, (-n.order, id(n), n))

    push(loss)
    while heap:
        _, _, node = heapq.heappop(heap)
        gy = grads.pop(node.out_id, None)
        if gy is None:
            continue
        gxs = node.backward(gy)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        for t, gx in zip(node.inputs, gxs):
            if gx is None or not t.requires_grad:
                continue
            k = id(t)
            if k in grads:
                grads[k] = grads[k] + gx
            else:
                grads[k] = gx
            push(t)
    out = []
    for v in variables:
        g = grads.get(id(v))
        if g is None:
            g = dispatch.get_array_module(v.data).zeros_like(v.data)
        out.append(g)
    return out


# ---------------------------------------------------------------------------
# Generic differentiable operations (one implementation for NumPy and CuPy)
# ---------------------------------------------------------------------------

def _xp(a):
    return dispatch.get_array_module(a)


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape`` (the reverse of NumPy broadcasting)."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    ndiff = g.ndim - len(shape)
    if ndiff > 0:
        g = g.sum(axis=tuple(range(ndiff)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


class _Binary(Function):
    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        self.a, self.b = a, b
        return self.compute(a, b)


class _Add(_Binary):
    def compute(self, a, b): return a + b
    def backward(self, g): return unbroadcast(g, self.sa), unbroadcast(g, self.sb)


class _Sub(_Binary):
    def compute(self, a, b): return a - b
    def backward(self, g): return unbroadcast(g, self.sa), unbroadcast(-g, self.sb)


class _Mul(_Binary):
    def compute(self, a, b): return a * b
    def backward(self, g):
        return unbroadcast(g * self.b, self.sa), unbroadcast(g * self.a, self.sb)


class _Div(_Binary):
    def compute(self, a, b): return a / b
    def backward(self, g):
        return (unbroadcast(g / self.b, self.sa),
                unbroadcast(-g * self.a / (self.b * self.b), self.sb))


class _Maximum(_Binary):
    def compute(self, a, b): return _xp(a).maximum(a, b)
    def backward(self, g):
        m = self.a >= self.b
        return unbroadcast(g * m, self.sa), unbroadcast(g * ~m, self.sb)


class _Minimum(_Binary):
    def compute(self, a, b): return _xp(a).minimum(a, b)
    def backward(self, g):
        m = self.a <= self.b
        return unbroadcast(g * m, self.sa), unbroadcast(g * ~m, self.sb)


class _Pow(_Binary):
    def compute(self, a, b):
        self.y = a ** b
        return self.y
    def backward(self, g):
        xp = _xp(self.a)
        ga = g * self.b * self.a ** (self.b - 1)
        safe = xp.where(self.a > 0, self.a, 1)
        gb = g * self.y * xp.log(safe) * (self.a > 0)
        return unbroadcast(ga, self.sa), unbroadcast(gb, self.sb)


def add(a, b): return _Add()(a, b)
def sub(a, b): return _Sub()(a, b)
def mul(a, b): return _Mul()(a, b)
def div(a, b): return _Div()(a, b)
def maximum(a, b): return _Maximum()(a, b)
def minimum(a, b): return _Minimum()(a, b)
def power(a, p): return _Pow()(a, p)


class _Unary(Function):
    """Elementwise op given by its value and derivative functions."""

    def __init__(self, f, df):
        self.f, self.df = f, df

    def forward(self, x):
        self.x = x
        self.y = self.f(x)
        return self.y

    def backward(self, g):
        return g * self.df(self.x, self.y)


def _unary(f, df):
    def op(x):
        return _Unary(f, df)(x)
    return op


def _sig(x):
    xp = _xp(x)
    return 0.5 * (xp.tanh(0.5 * x) + 1)


neg = _unary(lambda x: -x, lambda x, y: -1)
exp = _unary(lambda x: _xp(x).exp(x), lambda x, y: y)
log = _unary(lambda x: _xp(x).log(x), lambda x, y: 1 / x)
sqrt = _unary(lambda x: _xp(x).sqrt(x), lambda x, y: 0.5 / y)
square = _unary(lambda x: x * x, lambda x, y: 2 * x)
absolute = _unary(lambda x: _xp(x).abs(x), lambda x, y: _xp(x).sign(x))
tanh = _unary(lambda x: _xp(x).tanh(x), lambda x, y: 1 - y * y)
sigmoid = _unary(_sig, lambda x, y: y * (1 - y))
sin = _unary(lambda x: _xp(x).sin(x), lambda x, y: _xp(x).cos(x))
cos = _unary(lambda x: _xp(x).cos(x), lambda x, y: -_xp(x).sin(x))
relu = _unary(lambda x: _xp(x).maximum(x, 0), lambda x, y: x > 0)
softplus = _unary(lambda x: _xp(x).logaddexp(0, x), lambda x, y: _sig(x))
log1p = _unary(lambda x: _xp(x).log1p(x), lambda x, y: 1 / (1 + x))
# sign and round have zero derivative almost everywhere
sign = _unary(lambda x: _xp(x).sign(x), lambda x, y: 0 * x)
round_ = _unary(lambda x: _xp(x).round(x), lambda x, y: 0 * x)


class _Clip(Function):
    """clip with a selecting gradient (as TensorFlow): the incoming gradient where
    lo <= x <= hi, exactly 0 elsewhere (even when the incoming gradient is inf)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        self.x = x
        return _xp(x).clip(x, self.lo, self.hi)

    def backward(self, g):
        xp = _xp(g)
        inside = (self.x >= self.lo) & (self.x <= self.hi)
        return xp.where(inside, g, xp.zeros((), dtype=g.dtype))


def clip(x, lo, hi):
    """``x`` clipped to [lo, hi] (numbers; -inf / inf for no bound), see :class:`_Clip`."""
    return _Clip(lo, hi)(x)


class _BinaryCrossentropy(Function):
    """Keras's binary cross-entropy on probabilities as ONE recorded op:
    ``-(t log p + (1 - t) log(1 - p))`` with ``p = clip(output, eps, 1 - eps)``.

    The forward makes the composite's operations in its order (the same values); the
    backward is its derivative, ``g ((1 - t) / (1 - p) - t / p)`` for the output (zero
    where the clip is active, as through ``clip``) and ``g (log(1 - p) - log p)`` for
    the target. One node instead of eight saves their tape and launch overhead."""

    def __init__(self, eps):
        self.eps = eps

    def forward(self, t, out):
        xp = _xp(out)
        p = xp.clip(out, self.eps, 1.0 - self.eps)
        log_p, log_q = xp.log(p), xp.log(1.0 - p)
        self.t, self.out, self.p, self.log_p, self.log_q = t, out, p, log_p, log_q
        return -(t * log_p + (1.0 - t) * log_q)

    def backward(self, g):
        xp = _xp(g)
        t, p = self.t, self.p
        g_out = g * ((1.0 - t) / (1.0 - p) - t / p)
        inside = (self.out >= self.eps) & (self.out <= 1.0 - self.eps)
        g_out = xp.where(inside, g_out, 0).astype(g.dtype, copy=False)
        g_t = g * (self.log_q - self.log_p)
        return g_t, g_out


def binary_crossentropy(target, output, eps):
    """Elementwise binary cross-entropy of probabilities ``output`` (see
    :class:`_BinaryCrossentropy`); ``target`` and ``output`` of one shape and dtype."""
    return _BinaryCrossentropy(eps)(target, output)


class _Sum(Function):
    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, g):
        xp = _xp(g)
        if self.axis is not None and not self.keepdims:
            axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
            axes = tuple(a % len(self.shape) for a in axes)
            for a in sorted(axes):
                g = xp.expand_dims(g, a)
        return xp.broadcast_to(g, self.shape).copy()


def reduce_sum(x, axis=None, keepdims=False):
    return _Sum(_axis(axis), keepdims)(x)


def _axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    return axis


def reduce_mean(x, axis=None, keepdims=False):
    x = as_tensor(x)
    axis = _axis(axis)
    if axis is None:
        n = x.size
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        n = 1
        for a in axes:
            n *= x.shape[a]
    return reduce_sum(x, axis, keepdims) * (1.0 / max(n, 1))


class _MaxReduce(Function):
    def __init__(self, axis, keepdims, mode):
        self.axis, self.keepdims, self.mode = axis, keepdims, mode

    def forward(self, x):
        self.x = x
        f = x.max if self.mode == "max" else x.min
        self.y = f(axis=self.axis, keepdims=True)
        return self.y if self.keepdims else self.y.reshape(
            f(axis=self.axis, keepdims=False).shape)

    def backward(self, g):
        xp = _xp(g)
        g = g.reshape(self.y.shape)
        mask = (self.x == self.y)
        mask = mask / mask.sum(axis=self.axis, keepdims=True)
        return xp.broadcast_to(g, self.x.shape) * mask


def reduce_max(x, axis=None, keepdims=False):
    return _MaxReduce(_axis(axis), keepdims, "max")(x)


def reduce_min(x, axis=None, keepdims=False):
    return _MaxReduce(_axis(axis), keepdims, "min")(x)


def _mm(a, b):
    """a @ b; CuPy arrays go through the capturable cuBLAS path of cupy_ops._gemm."""
    if type(a).__module__.startswith("cupy") or type(b).__module__.startswith("cupy"):
        from .cupy_ops._gemm import matmul as gemm
        return gemm(a, b)
    return a @ b


class _MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return _mm(a, b)

    def backward(self, g):
        xp = _xp(g)
        a, b = self.a, self.b
        if b.ndim == 1:
            ga = xp.multiply.outer(g, b) if a.ndim > 1 else g * b
            gb = _mm(a.reshape(-1, a.shape[-1]).T, g.reshape(-1)) if a.ndim > 1 else g * a
            return ga, gb
        ga = _mm(g, xp.swapaxes(b, -1, -2))
        if a.ndim >= 2 and b.ndim == 2:
            gb = _mm(a.reshape(-1, a.shape[-1]).T, g.reshape(-1, g.shape[-1]))
        else:
            gb = unbroadcast(_mm(xp.swapaxes(a, -1, -2), g), b.shape)
        return unbroadcast(ga, a.shape), gb


def matmul(a, b):
    return _MatMul()(a, b)


class _Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


def reshape(x, shape):
    return _Reshape(tuple(shape))(x)


class _Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return _xp(x).ascontiguousarray(x.transpose(self.axes))

    def backward(self, g):
        if self.axes is None:
            return g.transpose()
        inv = [0] * len(self.axes)
        for i, a in enumerate(self.axes):
            inv[a] = i
        return g.transpose(inv)


def transpose(x, axes=None):
    return _Transpose(None if axes is None else tuple(axes))(x)


class _GetItem(Function):
    def __init__(self, idx):
        self.idx = idx

    def forward(self, x):
        self.x_shape, self.dtype = x.shape, x.dtype
        return x[self.idx]

    def backward(self, g):
        xp = _xp(g)
        gx = xp.zeros(self.x_shape, dtype=g.dtype)
        if xp is numpy:
            numpy.add.at(gx, self.idx, g)
        else:
            import cupyx
            cupyx.scatter_add(gx, self.idx, g)
        return gx


def getitem(x, idx):
    if isinstance(idx, Tensor):
        idx = idx.data
    return _GetItem(idx)(x)


class _Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return _xp(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, g):
        xp = _xp(g)
        idx = numpy.cumsum(self.sizes)[:-1].tolist()
        return tuple(xp.split(g, idx, axis=self.axis))


def concatenate(tensors, axis=-1):
    return _Concat(axis)(*tensors)


class _Stack(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        return _xp(xs[0]).stack(xs, axis=self.axis)

    def backward(self, g):
        xp = _xp(g)
        n = g.shape[self.axis]
        return tuple(xp.take(g, i, axis=self.axis) for i in range(n))


def stack(tensors, axis=0):
    return _Stack(axis)(*tensors)


class _Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, g):
        if self.in_dtype.kind != "f":
            return None
        return g.astype(self.in_dtype)


def cast(x, dtype):
    return _Cast(numpy.dtype(dtype))(x)


class _Where(Function):
    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        self.sa, self.sb = a.shape, b.shape
        return _xp(a).where(self.cond, a, b)

    def backward(self, g):
        return (unbroadcast(g * self.cond, self.sa), unbroadcast(g * ~self.cond, self.sb))


def where(cond, a, b):
    c = cond.data if isinstance(cond, Tensor) else cond
    return _Where(c)(a, b)


class _Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.y, self.saved = dispatch.ops().softmax_forward(x, axis=self.axis)
        return self.y

    def backward(self, g):
        return dispatch.ops().softmax_backward(g, self.saved, axis=self.axis)


def softmax(x, axis=-1):
    return _Softmax(axis)(x)


def stop_gradient(x):
    x = as_tensor(x)
    return Tensor(x.data)


class FusedOp(Function):
    """A heavy op whose forward/backward are the active op package's twins.

    ``FusedOp('dense', activation='relu')(x, kernel, bias)`` runs
    ``ops().dense_forward(x, kernel, bias, activation='relu') -> (y, saved)``
    and, on the way back, ``ops().dense_backward(gy, saved, activation='relu')``
    which returns one gradient per input (None where not differentiable).
    """

    def __init__(self, name, **attrs):
        self.name = name
        self.attrs = attrs
        self.saved = None

    def forward(self, *xs):
        ops = dispatch.ops()
        y, self.saved = getattr(ops, self.name + "_forward")(*xs, **self.attrs)
        return y

    def backward(self, g):
        ops = dispatch.ops()
        gxs = getattr(ops, self.name + "_backward")(g, self.saved, **self.attrs)
        return tuple(gxs)


def fused(name, *inputs, **attrs):
    """Apply a fused op; returns (output Tensor, the FusedOp holding ``saved``)."""
    op = FusedOp(name, **attrs)
    # inputs may contain None (e.g. no bias): pass them as plain values
    y = _call_with_optional(op, inputs)
    return y, op


def _call_with_optional(op, inputs):
    first = None
    for t in inputs:
        if isinstance(t, Tensor):
            first = t
            break
    ts = [t if t is None or isinstance(t, Tensor) else as_tensor(t, first) for t in inputs]
    y = Tensor(op.forward(*[None if t is None else t.data for t in ts]))
    if _grad_enabled[0]:
        for t in ts:
            if t is not None and t.requires_grad:
                y.requires_grad = True
                y.node = op
                op.inputs = [t if t is not None else Tensor(None) for t in ts]
                op.out_id = id(y)
                op.order = next(_counter)
                break
    return y
