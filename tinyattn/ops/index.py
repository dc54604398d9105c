"""Indexing primitives: getitem (``x[index]``), take (embedding lookup) and gather (``take_along_axis``).

Their VJPs scatter the gradient back; where an index repeats, the gradients add up (the scatter-add kernel).
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.kernels.scatter import scatter_into_zeros
from tinyattn.ops.axes import normalized_axis
from tinyattn.primitive import as_array, primitive
from tinyattn.tensor import Tensor

_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _plain_index(index):
    """The index with Tensors replaced by their arrays."""
    if isinstance(index, tuple):
        return tuple(item.data if isinstance(item, Tensor) else item for item in index)
    return index.data if isinstance(index, Tensor) else index


def _is_basic(index):
    """True for ints, slices, None and Ellipsis only: such an index never selects an element twice."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(item, _BASIC) for item in items)


def _is_boolean(index):
    return isinstance(index, np.ndarray) and index.dtype == np.bool_


def _integer_indices(indices, op):
    indices = as_array(indices)
    if indices.dtype.kind not in "iu":
        raise DTypeError(f"{op} needs integer indices, got {indices.dtype}")
    return indices


@primitive(n_inputs=1)
def getitem(x, index):
    """x[index], with NumPy's basic and advanced indexing (slices, integer arrays, boolean masks)."""
    index = _plain_index(index)
    if x.ndim and _is_row_index(index):
        out = np.take(x, index, axis=0)  # equals x[index], 3-4x faster (whole rows copied at once)
    else:
        out = x[index]
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)

    def vjp(grad):
        if _is_basic(index) or _is_boolean(index):  # each element of x selected at most once: assign
            full = np.zeros(x.shape, dtype=grad.dtype)
            full[index] = grad
            return full
        if _is_row_index(index):  # x[ids]: whole rows of x, as in an embedding lookup
            return _scatter_rows(x.shape, 0, np.asarray(index), grad)
        # Anything else: the flat position in x of every selected element, then one element per "row".
        positions = np.arange(x.size).reshape(x.shape)[index]
        return _scatter_elements(x.shape, positions, grad)

    return out, vjp


@primitive(n_inputs=1)
def take(x, indices, axis=0):
    """Slices of x picked by integer `indices` along `axis` (an embedding lookup for axis 0).

    Shapes: x (V, D), indices (B, T) -> (B, T, D) for axis 0. Repeated indices accumulate their gradients.
    """
    indices = _integer_indices(indices, "take")
    axis = normalized_axis(axis, x.ndim)
    out = np.take(x, indices, axis=axis)

    def vjp(grad):
        # Bring the index axes of grad to the front: (*indices.shape, ...) lines up with x's axis moved first.
        grad = np.moveaxis(grad, range(axis, axis + indices.ndim), range(indices.ndim))
        return _scatter_rows(x.shape, axis, indices, grad)

    return out, vjp


@primitive(n_inputs=1)
def gather(x, indices, axis=-1):
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis`, as ``np.take_along_axis``.

    `indices` has x's number of dimensions; e.g. picking each row's target log-probability:
    gather(log_probs (B, C), targets[:, None] (B, 1), axis=1) -> (B, 1).
    """
    indices = _integer_indices(indices, "gather")
    axis = normalized_axis(axis, x.ndim)
    out = np.take_along_axis(x, indices, axis=axis)

    def vjp(grad):
        # The flat position in x of every output element (broadcast exactly as the forward broadcast).
        positions = np.take_along_axis(np.arange(x.size).reshape(x.shape), indices, axis=axis)
        return _scatter_elements(x.shape, np.broadcast_to(positions, grad.shape), grad)

    return out, vjp


def _is_row_index(index):
    """True for x[ids] with ids an integer array (or list): whole rows of x along its first axis."""
    if isinstance(index, (list, np.ndarray)):
        return np.asarray(index).dtype.kind in "iu"
    return False


def _scatter_rows(shape, axis, indices, grad):
    """Zeros of `shape` with grad's rows added at `indices` along `axis` (grad: (*indices.shape, ...rest))."""
    moved = (shape[axis],) + shape[:axis] + shape[axis + 1 :]  # x's shape with `axis` first
    rows = np.where(indices < 0, indices + shape[axis], indices).reshape(-1)  # negative indices count from the end
    full = scatter_into_zeros(moved, rows, grad.reshape(rows.size, int(np.prod(moved[1:]))))
    # For axis 0, full itself (a new array, not a view): the engine can then make it a leaf's .grad without a copy.
    return full if axis == 0 else np.moveaxis(full, 0, axis)


def _scatter_elements(shape, positions, grad):
    """Zeros of `shape` with each element of grad added at its flat position (repeats accumulate)."""
    size = int(np.prod(shape))
    return scatter_into_zeros((size, 1), positions.reshape(-1), grad.reshape(-1, 1)).reshape(shape)


@primitive(n_inputs=1)
def embedding(weight, ids, padding_idx=None):
    """Rows of a table looked up by integer ids: weight (V, D), ids (B, T) -> (B, T, D).

    The backward adds each output row's gradient into the row it came from; the row `padding_idx` (if given) gets
    no gradient, so a padding embedding stays as it was initialised (zeros, in nn.Embedding).
    """
    ids = _integer_indices(ids, "embedding")
    if weight.ndim != 2:
        raise ShapeError(f"the embedding table must be (V, D), got shape {weight.shape}")
    out = np.take(weight, ids, axis=0)

    def vjp(grad):
        full = _scatter_rows(weight.shape, 0, ids, grad)
        if padding_idx is not None:
            full[padding_idx] = 0
        return full

    return out, vjp
