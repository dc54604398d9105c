"""The Tensor, the gradient mode, and the backward walk.

A ``Tensor`` wraps a NumPy array (``.data``). When it was computed by a differentiable operation from
tensors that require grad, it also records its *edges*: for each such input, the input tensor and the
vector-Jacobian product (VJP) that maps the gradient of this tensor to the gradient of that input.
``backward`` walks these edges once, in reverse topological order, without recursion.

Operations live in ``tinyattn.ops``; the methods and operators below only forward to them.
"""
import threading
from contextlib import ContextDecorator

import numpy as np

from tinyattn.errors import DTypeError, GraphError, ShapeError

# Marks a tensor whose graph an earlier backward() has freed.
_FREED = ()


class _GradMode(threading.local):
    enabled = True


_grad_mode = _GradMode()


def is_grad_enabled():
    """True when operations record the graph in this thread (the default)."""
    return _grad_mode.enabled


class _SetGradMode(ContextDecorator):
    _enabled = True

    def __enter__(self):
        self._previous = _grad_mode.enabled
        _grad_mode.enabled = self._enabled
        return self

    def __exit__(self, *exc_info):
        _grad_mode.enabled = self._previous
        return False

    def _recreate_cm(self):
        # A fresh instance for each decorated call, so recursion and threads do not share `_previous`.
        return type(self)()


class no_grad(_SetGradMode):
    """Context manager and decorator: operations inside record no graph (thread-local).

    Use it for inference and for parameter updates; results do not require grad.
    """

    _enabled = False


class enable_grad(_SetGradMode):
    """Context manager and decorator: turn graph recording back on inside a ``no_grad`` block."""

    _enabled = True


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
        "data", "grad", "_requires_grad", "_edges", "_op", "_retains_grad",
        "_pending", "_waiting",  # set and used by backward() only: see _prepare_walk
        "__weakref__",
    )

    # NumPy must hand `ndarray + Tensor` to Tensor.__radd__ instead of treating the Tensor as an object array.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        # A copy, as torch.tensor makes: an optimiser updates .data in place and must not change the caller's array.
        self.data = np.array(data, dtype=dtype, copy=True)
        if self.data.dtype == object:
            raise DTypeError(f"tensor: cannot hold {type(data).__name__} data of dtype object; pass numbers")
        self.grad = None
        self._requires_grad = False
        self._edges = None
        self._op = None
        self._retains_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data, edges, op):
        """A tensor computed by operation `op`; `edges` pairs each input that requires grad with its VJP."""
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out._requires_grad = True
        out._edges = edges
        out._op = op
        out._retains_grad = False
        return out

    @classmethod
    def _constant(cls, data):
        out = cls.__new__(cls)
        out.data = data
        out.grad = None
        out._requires_grad = False
        out._edges = None
        out._op = None
        out._retains_grad = False
        return out

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
        return Tensor._constant(self.data)

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
        _backward(self, grad, retain_graph)

    # ----- array-like behaviour -----------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

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

    # ----- operators: each forwards to a primitive in tinyattn.ops ------------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.truediv(self, other)

    def __rtruediv__(self, other):
        return ops.truediv(other, self)

    def __pow__(self, exponent):
        return ops.power(self, exponent)

    def __rpow__(self, base):
        return ops.power(base, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    # Comparisons give boolean tensors (masks); they are not differentiable.
    def __lt__(self, other):
        return ops.compare(np.less, self, other)

    def __le__(self, other):
        return ops.compare(np.less_equal, self, other)

    def __gt__(self, other):
        return ops.compare(np.greater, self, other)

    def __ge__(self, other):
        return ops.compare(np.greater_equal, self, other)

    def __eq__(self, other):
        return ops.compare(np.equal, self, other)

    def __ne__(self, other):
        return ops.compare(np.not_equal, self, other)

    def __invert__(self):
        return ops.logical_not(self)

    # ----- methods ------------------------------------------------------------------------------------
    @property
    def T(self):
        """All axes reversed, as ``ndarray.T``."""
        return ops.transpose(self)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def relu(self):
        return ops.relu(self)

    def abs(self):
        return ops.abs(self)

    def clip(self, low=None, high=None):
        return ops.clip(self, low, high)

    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return ops.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def max(self, axis=None, keepdims=False):
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims=False):
        return ops.min(self, axis=axis, keepdims=keepdims)

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
    return Tensor._constant(np.asarray(value))


def _prepare_walk(root):
    """Set, on each computed tensor reachable from `root`, how many graph edges lead to it (`_waiting`).

    A tensor's gradient is complete once that many consumers have passed theirs back. The search is iterative,
    so a graph of any depth (a long RNN) never meets Python's recursion limit. The counts and the pending
    gradients live on the tensors themselves rather than in dicts keyed by id(): this walk runs once per
    recorded operation, and its overhead is measured (bench/overhead.py).
    """
    seen = {id(root)}
    stack = [root]
    while stack:
        node = stack.pop()
        for parent, _ in node._edges:
            parent_edges = parent._edges
            if parent_edges is None:  # a leaf
                continue
            if id(parent) in seen:
                parent._waiting += 1
            else:
                if parent_edges is _FREED:
                    raise _freed_error(parent)
                seen.add(id(parent))
                parent._waiting = 1
                parent._pending = None
                stack.append(parent)


def _freed_error(node):
    return GraphError(
        f"backward() through a graph that an earlier backward() already freed (at a tensor computed by "
        f"'{node._op}', shape {node.shape}). Pass retain_graph=True to the first backward() "
        "to walk the graph more than once"
    )


def _backward(root, grad, retain_graph):
    """Pass gradients from `root` back along the recorded edges, each tensor once its gradient is complete."""
    if root._edges is None:  # a leaf: nothing to walk
        _accumulate(root, grad)
        return
    if root._edges is _FREED:
        raise _freed_error(root)
    _prepare_walk(root)
    root._pending = grad
    ready = [root]
    while ready:
        node = ready.pop()
        grad, node._pending = node._pending, None
        if node._retains_grad:
            _accumulate(node, grad)
        for parent, vjp in node._edges:
            parent_grad = vjp(grad)
            data = parent.data
            if parent_grad.shape != data.shape:
                parent_grad = unbroadcast(parent_grad, data.shape)
            if parent_grad.dtype != data.dtype:
                parent_grad = parent_grad.astype(data.dtype)
            if parent._edges is None:
                # A VJP returns a new array or a view of its argument; only a new array can be kept without a copy
                # (NumPy gives a 0-d result as a scalar, which is not an array: it is copied into one).
                owned = type(parent_grad) is np.ndarray and parent_grad is not grad and parent_grad.base is None
                _accumulate(parent, parent_grad, owned)
                continue
            previous = parent._pending
            parent._pending = parent_grad if previous is None else previous + parent_grad
            parent._waiting -= 1
            if parent._waiting == 0:
                ready.append(parent)
        if not retain_graph:
            node._edges = _FREED


def _accumulate(tensor, grad, owned=False):
    """Add `grad` into tensor.grad. Unless the caller owns `grad` (no one else holds it), the first store copies:
    no two .grad arrays may share memory, and an optimiser may update .grad in place."""
    if tensor.grad is None:
        tensor.grad = grad if owned else np.array(grad, copy=True)
    else:
        tensor.grad = tensor.grad + grad


def unbroadcast(grad, shape):
    """Sum `grad` over the axes along which an input of `shape` was broadcast, giving an array of `shape`.

    This is the one place where broadcasting is undone: the backward walk applies it to every VJP's result.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    leading = grad.ndim - len(shape)
    axes = tuple(range(leading)) + tuple(
        leading + i for i, size in enumerate(shape) if size == 1 and grad.shape[leading + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


# The operators above need the primitives, and the primitives need Tensor: import them last.
from tinyattn import ops  # noqa: E402
