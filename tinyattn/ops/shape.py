"""Primitives that move elements without changing them: reshape, transpose, concatenate, stack, ...

Their VJPs move the gradient back the same way.
"""
import itertools

import numpy as np

from tinyattn.engine import unbroadcast
from tinyattn.errors import ShapeError
from tinyattn.ops.axes import integer_axes, normalized_axis
from tinyattn.primitive import primitive


@primitive(n_inputs=1)
def reshape(x, shape):
    """x with a new shape of the same size (one entry may be -1)."""
    return np.reshape(x, shape), lambda grad: grad.reshape(x.shape)


@primitive(n_inputs=1)
def transpose(x, axes=None):
    """Axes permuted by `axes` (default: reversed), as ``np.transpose``."""
    out = np.transpose(x, integer_axes(axes, several=True, optional=True, name="axes"))
    inverse = None if axes is None else np.argsort([a % x.ndim for a in axes])
    return out, lambda grad: np.transpose(grad, inverse)


@primitive(n_inputs=1)
def swapaxes(x, axis1, axis2):
    """Two axes exchanged."""
    axis1, axis2 = normalized_axis(axis1, x.ndim), normalized_axis(axis2, x.ndim)
    return np.swapaxes(x, axis1, axis2), lambda grad: np.swapaxes(grad, axis1, axis2)


@primitive(n_inputs=1)
def expand_dims(x, axis):
    """A new axis of size 1 at `axis` (an int or a tuple)."""
    return np.expand_dims(x, integer_axes(axis, several=True)), lambda grad: grad.reshape(x.shape)


@primitive(n_inputs=1)
def squeeze(x, axis=None):
    """Axes of size 1 removed (all of them, or those in `axis`)."""
    return np.squeeze(x, integer_axes(axis, several=True, optional=True)), lambda grad: grad.reshape(x.shape)


@primitive(n_inputs=1)
def broadcast_to(x, shape):
    """x broadcast to `shape`, as ``np.broadcast_to`` (the output is a read-only view)."""
    return np.broadcast_to(x, shape), lambda grad: unbroadcast(grad, x.shape)


def _axis_slicer(axis, start, stop):
    return (slice(None),) * axis + (slice(start, stop),)


@primitive
def concatenate(*arrays, axis=0):
    """The inputs joined along an existing `axis`; each gets back its own slice of the gradient."""
    if not arrays:
        raise ShapeError("concatenate needs at least one input")
    arrays = [np.asarray(x) for x in arrays]
    axis = normalized_axis(axis, arrays[0].ndim)
    out = np.concatenate(arrays, axis=axis)
    bounds = np.cumsum([0] + [x.shape[axis] for x in arrays])

    def vjp(start, stop):
        return lambda grad: grad[_axis_slicer(axis, start, stop)]

    return out, tuple(vjp(start, stop) for start, stop in itertools.pairwise(bounds))


@primitive
def stack(*arrays, axis=0):
    """The inputs (all of one shape) joined along a new `axis`."""
    if not arrays:
        raise ShapeError("stack needs at least one input")
    axis = normalized_axis(axis, np.ndim(arrays[0]) + 1)
    out = np.stack(arrays, axis=axis)

    def vjp(position):
        return lambda grad: np.take(grad, position, axis=axis)

    return out, tuple(vjp(position) for position in range(len(arrays)))
