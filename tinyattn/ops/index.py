"""Indexing primitives: getitem (``x[index]``), take (embedding lookup) and gather (``take_along_axis``).

Their VJPs scatter the gradient back; where an index repeats, the gradients add up.
"""
import numpy as np

from tinyattn.errors import DTypeError
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
    out = x[index]
    if not isinstance(out, np.ndarray):
        out = np.asarray(out)

    def vjp(grad):
        full = np.zeros(x.shape, dtype=grad.dtype)
        if _is_basic(index) or _is_boolean(index):
            full[index] = grad
        else:
            np.add.at(full, index, grad)  # integer arrays may repeat an element: add, do not overwrite
        return full

    return out, vjp


@primitive(n_inputs=1)
def take(x, indices, axis=0):
    """Slices of x picked by integer `indices` along `axis` (an embedding lookup for axis 0).

    Shapes: x (V, D), indices (B, T) -> (B, T, D) for axis 0. Repeated indices accumulate their gradients.
    """
    indices = _integer_indices(indices, "take")
    out = np.take(x, indices, axis=axis)
    axis = axis % x.ndim

    def vjp(grad):
        full = np.zeros(x.shape, dtype=grad.dtype)
        # Bring the indexed axis of x, and the index axes of grad, to the front: (V, ...) and (*indices.shape, ...).
        index_axes = range(axis, axis + indices.ndim)
        np.add.at(np.moveaxis(full, axis, 0), indices, np.moveaxis(grad, index_axes, range(indices.ndim)))
        return full

    return out, vjp


@primitive(n_inputs=1)
def gather(x, indices, axis=-1):
    """out[..., i, ...] = x[..., indices[..., i, ...], ...] along `axis`, as ``np.take_along_axis``.

    `indices` has x's number of dimensions; e.g. picking each row's target log-probability:
    gather(log_probs (B, C), targets[:, None] (B, 1), axis=1) -> (B, 1).
    """
    indices = _integer_indices(indices, "gather")
    out = np.take_along_axis(x, indices, axis=axis)
    axis = axis % x.ndim

    def vjp(grad):
        full = np.zeros(x.shape, dtype=grad.dtype)
        # An explicit index into x for every element of grad (which has the output's shape): `indices` along
        # `axis`; elsewhere the element's own position, or 0 where x has size 1 and was broadcast.
        grids = [grid if size != 1 else 0 for grid, size in zip(np.ogrid[tuple(map(slice, grad.shape))], x.shape)]
        grids[axis] = indices
        np.add.at(full, tuple(grids), grad)
        return full

    return out, vjp
