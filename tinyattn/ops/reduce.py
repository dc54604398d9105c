"""Reductions: sum, mean, var, max, min (the softmax family is in ops/softmax.py).

`axis` is None (all axes), an int, or a tuple of ints, as in NumPy (checked by ops/axes.py: a float is refused,
not truncated); `keepdims` keeps reduced axes with size 1.
"""
import numpy as np

from tinyattn.errors import ShapeError
from tinyattn.ops.axes import reduced_axes
from tinyattn.primitive import primitive


def keep_reduced_axes(reduced, axes, keepdims):
    """Re-insert the reduced axes (size 1) so that `reduced` broadcasts against the input."""
    return reduced if keepdims else np.expand_dims(reduced, axes)


@primitive(n_inputs=1)
def sum(x, axis=None, keepdims=False):
    """Sum over `axis`."""
    axes = reduced_axes(axis, x.ndim)
    out = np.sum(x, axis=axes, keepdims=keepdims)
    return out, lambda grad: np.broadcast_to(keep_reduced_axes(grad, axes, keepdims), x.shape)


@primitive(n_inputs=1)
def mean(x, axis=None, keepdims=False):
    """Mean over `axis`."""
    axes = reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count == 0:
        raise ShapeError(f"mean over an empty axis (axes {axes} of shape {x.shape})")
    out = np.mean(x, axis=axes, keepdims=keepdims)
    return out, lambda grad: np.broadcast_to(keep_reduced_axes(grad, axes, keepdims) / count, x.shape)


@primitive(n_inputs=1)
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over `axis`: sum((x - mean)**2) / (N - ddof)."""
    axes = reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes])) - ddof
    if count <= 0:
        raise ShapeError(f"var needs more than ddof={ddof} elements along axes {axes} of shape {x.shape}")
    centred = x - np.mean(x, axis=axes, keepdims=True)
    out = np.sum(centred * centred, axis=axes, keepdims=keepdims) / count
    return out, lambda grad: keep_reduced_axes(grad, axes, keepdims) * centred * (2 / count)


def _extremum(x, axis, keepdims, numpy_reduce):
    axes = reduced_axes(axis, x.ndim)
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{numpy_reduce.__name__} over an empty axis (axes {axes} of shape {x.shape})")
    out = numpy_reduce(x, axis=axes, keepdims=True)

    def vjp(grad):
        # Ties share the gradient equally, so the result does not depend on which tied element comes first.
        winners = x == out
        return keep_reduced_axes(grad, axes, keepdims) * winners / winners.sum(axis=axes, keepdims=True)

    return (out if keepdims else np.squeeze(out, axes)), vjp


@primitive(n_inputs=1)
def max(x, axis=None, keepdims=False):
    """Largest element over `axis`; tied maxima share the gradient equally."""
    return _extremum(x, axis, keepdims, np.max)


@primitive(n_inputs=1)
def min(x, axis=None, keepdims=False):
    """Smallest element over `axis`; tied minima share the gradient equally."""
    return _extremum(x, axis, keepdims, np.min)
