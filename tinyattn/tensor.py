"""The Tensor: an array that remembers how it was computed.

A ``Tensor`` wraps a NumPy array (``.data``). When it was computed by a differentiable operation from
tensors that require grad, it also records its *edges*: for each such input, the input tensor and the
vector-Jacobian product (VJP) that maps the gradient of this tensor to the gradient of that input.
``backward()`` hands them to ``tinyattn.engine``, which walks them once, in reverse, without recursion.

This module is the Tensor's API only: the operations live in ``tinyattn.ops`` (the methods and operators below
forward to them), the recording switch (``no_grad``) and the backward walk in ``tinyattn.engine``.
"""
import numpy as np

from tinyattn import engine
from tinyattn.errors import DTypeError, GraphError, ShapeError

# Makers of the methods that only forward to a primitive. The primitive is looked up in `ops` when the method runs
# (ops is imported at the end of this module, since the primitives need Tensor).


def _binary(name, symbol):
    """The pair (``tensor {symbol} other``, ``other {symbol} tensor``), both computed by ``ops.{name}``."""

    def operator(self, other):
        return getattr(ops, name)(self, other)

    def reflected(self, other):
        return getattr(ops, name)(other, self)

    operator.__doc__ = reflected.__doc__ = f"x {symbol} y, computed by tinyattn.ops.{name} (broadcasting as NumPy)."
    return operator, reflected


def _unary(name):
    def method(self):
        return getattr(ops, name)(self)

    method.__name__, method.__doc__ = name, f"The elementwise {name} (tinyattn.ops.{name})."
    return method


def _reduction(name):
    def method(self, axis=None, keepdims=False):
        return getattr(ops, name)(self, axis=axis, keepdims=keepdims)

    method.__name__, method.__doc__ = name, f"The {name} over `axis` (an int, a tuple or None for all; as NumPy)."
    return method


def _comparison(numpy_comparison):
    def method(self, other):
        return ops.compare(numpy_comparison, self, other)

    method.__doc__ = f"A boolean tensor: numpy.{numpy_comparison.__name__} elementwise (no gradient)."
    return method


class Tensor:
    """An n-dimensional array that can record how it was computed, for reverse-mode differentiation.

    Attributes:
        data: the values, a NumPy array (never a Tensor).
        grad: the accumulated gradient, a NumPy array of ``data``'s shape and dtype, or None. Filled by
            ``backward`` on leaf tensors that require grad (and on tensors that called ``retain_grad``).
        requires_grad: whether gradients flow to this tensor. Only floating-point tensors can require grad.

    Mixing with other values: Python scalars, NumPy arrays and Tensors combine in either order and broadcast as in
    NumPy; the result is a Tensor. A Python scalar does not widen the dtype (float32 * 2.0 stays float32).
    Tensors are not modified in place by any operation; optimisers change ``.data`` directly.
    """

    __slots__ = (
        "_data", "_version", "grad", "_requires_grad", "_edges", "_op", "_retains_grad",
        "_pending", "_waiting",  # the engine's, during a backward walk: see tinyattn/engine.py
        "__weakref__",
    )

    # NumPy must hand `ndarray + Tensor` to Tensor.__radd__ instead of treating the Tensor as an object array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        # A copy, as torch.tensor makes: an optimiser updates .data in place and must not change the caller's array.
        self._data = np.array(data, dtype=dtype, copy=True)
        self._version = 0
        if self._data.dtype == object:
            raise DTypeError(f"tensor: cannot hold {type(data).__name__} data of dtype object; pass numbers")
        self.grad = None
        self._requires_grad = False
        self._edges = None
        self._op = None
        self._retains_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def wrap(cls, data, edges=None, op=None):
        """A tensor around the array `data` (not copied, not checked): with `edges`, one computed by operation `op`
        (a name), each edge pairing an input that requires grad with its VJP; without, a constant that records
        nothing. ``tinyattn.primitive`` makes every operation's result this way."""
        out = cls.__new__(cls)
        out._data = data
        out._version = 0
        out.grad = None
        out._requires_grad = edges is not None
        out._edges = edges
        out._op = op
        out._retains_grad = False
        return out

    # ----- the values, and changes to them ----------------------------------------------------------------------
    def _assign_data(self, value):
        self._data = value
        self._version += 1

    data = property(lambda self: self._data, _assign_data,
                    doc="The values, a NumPy array. Assigning a new array counts as a change (see ``version``).")

    @property
    def version(self):
        """How many times this tensor's values were changed: ``.data`` assigned, or ``mark_modified()`` called.

        Every recorded operation notes the version of each input that requires grad; backward() raises GraphError
        when an input has changed since, because the gradient would mix old and new values. A write into the array
        behind ``.data`` (``t.data[...] = 0``, ``t.data += 1``) cannot be seen: call ``mark_modified()`` after one.
        The library's own in-place updates (optimiser steps, ``load_state_dict``, initialisers) do.
        """
        return self._version

    def mark_modified(self):
        """Record that the values were changed in place (see ``version``); returns the tensor."""
        self._version += 1
        return self

    # ----- gradient bookkeeping -----------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and self.data.dtype.kind != "f":
            raise DTypeError(
                f"requires_grad=True needs a floating-point tensor; this one is {self.data.dtype} "
                f"(shape {self.shape}). Integer and bool tensors hold indices and masks; "
                f"make a float tensor with tensor(data, dtype=np.float64, requires_grad=True)"
            )
        if not value and self._edges is not None:
            raise GraphError("cannot clear requires_grad on a computed tensor; use .detach()")
        self._requires_grad = value

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than computed by an operation that records the graph."""
        return self._edges is None

    @property
    def op(self):
        """Name of the operation that computed this tensor, or None for a leaf."""
        return self._op

    def retain_grad(self):
        """Keep this computed tensor's gradient in ``.grad`` during backward (leaves always keep theirs)."""
        if not self._requires_grad:
            raise GraphError("retain_grad() on a tensor that does not require grad")
        self._retains_grad = True
        return self

    def detach(self):
        """A tensor sharing this one's data, cut from the graph (requires_grad False)."""
        return Tensor.wrap(self.data)

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            grad: the upstream gradient, of this tensor's shape. May be omitted only for a single-element tensor
                (a loss), where it defaults to 1.
            retain_graph: keep the recorded graph so that backward can go through it again. By default the graph
                is freed as it is walked, which releases the memory held for the backward pass.
        """
        if not self._requires_grad:
            raise GraphError(
                f"backward() on a tensor that does not require grad (shape {self.shape}); "
                "no input of its computation had requires_grad=True, or it was computed under no_grad()"
            )
        if grad is None:
            if self.data.size != 1:
                raise GraphError(
                    f"backward() without grad needs a single-element tensor, but this one has shape {self.shape}; "
                    "reduce it to a scalar first (e.g. loss = out.sum()) or pass grad= an array of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.data.dtype)
            if grad.shape != self.data.shape:
                raise ShapeError(
                    f"backward(): grad has shape {grad.shape} but the tensor has shape {self.data.shape}"
                )
        engine.backward(self, grad, retain_graph)

    # ----- array-like behaviour -----------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="The shape of ``data``.")
    dtype = property(lambda self: self.data.dtype, doc="The dtype of ``data``.")
    ndim = property(lambda self: self.data.ndim, doc="The number of axes of ``data``.")
    size = property(lambda self: self.data.size, doc="The number of elements of ``data``.")

    def numpy(self):
        """The underlying array (shared, not copied)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return np.asarray(self.data, dtype=dtype)

    def item(self):
        return self.data.item()

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extras = []
        if self.data.dtype not in (np.float64, np.int64, np.bool_):
            extras.append(f"dtype={self.data.dtype}")
        if self._op is not None:
            extras.append(f"op={self._op}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__

    # ----- operators and methods: each forwards to a primitive of tinyattn.ops ---------------------------------
    __add__, __radd__ = _binary("add", "+")
    __sub__, __rsub__ = _binary("sub", "-")
    __mul__, __rmul__ = _binary("mul", "*")
    __truediv__, __rtruediv__ = _binary("truediv", "/")
    __pow__, __rpow__ = _binary("power", "**")
    __matmul__, __rmatmul__ = _binary("matmul", "@")

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # Comparisons give boolean tensors (masks); they are not differentiable.
    __lt__ = _comparison(np.less)
    __le__ = _comparison(np.less_equal)
    __gt__ = _comparison(np.greater)
    __ge__ = _comparison(np.greater_equal)
    __eq__ = _comparison(np.equal)
    __ne__ = _comparison(np.not_equal)

    def __invert__(self):
        return ops.logical_not(self)

    @property
    def T(self):
        """All axes reversed, as ``ndarray.T``."""
        return ops.transpose(self)

    exp, log, sqrt = _unary("exp"), _unary("log"), _unary("sqrt")
    tanh, sigmoid, relu = _unary("tanh"), _unary("sigmoid"), _unary("relu")
    abs = __abs__ = _unary("abs")

    def clip(self, low=None, high=None):
        return ops.clip(self, low, high)

    sum, mean, max, min = _reduction("sum"), _reduction("mean"), _reduction("max"), _reduction("min")

    def var(self, axis=None, keepdims=False, ddof=0):
        return ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def softmax(self, axis=-1, mask=None, scale=1.0):
        return ops.softmax(self, axis=axis, mask=mask, scale=scale)

    def log_softmax(self, axis=-1, mask=None, scale=1.0):
        return ops.log_softmax(self, axis=axis, mask=mask, scale=scale)

    def reshape(self, *shape):
        return ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes):
        return ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def permute(self, *axes):
        return ops.transpose(self, axes[0] if len(axes) == 1 else axes)

    def swapaxes(self, axis1, axis2):
        return ops.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None):
        return ops.squeeze(self, axis)

    def expand_dims(self, axis):
        return ops.expand_dims(self, axis)

    def broadcast_to(self, shape):
        return ops.broadcast_to(self, shape)

    def astype(self, dtype):
        return ops.astype(self, dtype)


def tensor(data, requires_grad=False, dtype=None):
    """Make a Tensor holding a copy of an array-like (NumPy's dtype inference: Python floats give float64).

    Integer and bool tensors are for indices and masks; they cannot require grad.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(value):
    """`value` as a Tensor without copying: a Tensor is returned as it is; an array, a list or a number is wrapped
    (sharing the array's memory) in a tensor that does not require grad.

    Functions that accept arrays or Tensors call it once at their boundary, so that the formula after it can be
    written with operators and methods (``query @ keys.swapaxes(-1, -2)``) whatever the caller passed.
    """
    if isinstance(value, Tensor):
        return value
    return Tensor.wrap(np.asarray(value))


# The operators above need the primitives, and the primitives need Tensor: import them last.
from tinyattn import ops  # noqa: E402
