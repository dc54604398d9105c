"""Reductions (sum, mean, var, max, min) and the softmax family (softmax, log_softmax, logsumexp).

`axis` is None (all axes), an int, or a tuple of ints, as in NumPy; `keepdims` keeps reduced axes with size 1.
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.primitive import as_array, primitive


def _reduced_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(int(a) % ndim if -ndim <= a < ndim else _axis_error(a, ndim) for a in axes)


def _axis_error(axis, ndim):
    raise ShapeError(f"axis {axis} is out of range for an input with {ndim} dimensions")


def _keep(reduced, axes, keepdims):
    """Re-insert the reduced axes (size 1) so that `reduced` broadcasts against the input."""
    return reduced if keepdims else np.expand_dims(reduced, axes)


@primitive(n_inputs=1)
def sum(x, axis=None, keepdims=False):
    """Sum over `axis`."""
    axes = _reduced_axes(axis, x.ndim)
    return np.sum(x, axis=axes, keepdims=keepdims), lambda grad: np.broadcast_to(_keep(grad, axes, keepdims), x.shape)


@primitive(n_inputs=1)
def mean(x, axis=None, keepdims=False):
    """Mean over `axis`."""
    axes = _reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count == 0:
        raise ShapeError(f"mean over an empty axis (axes {axes} of shape {x.shape})")
    out = np.mean(x, axis=axes, keepdims=keepdims)
    return out, lambda grad: np.broadcast_to(_keep(grad, axes, keepdims) / count, x.shape)


@primitive(n_inputs=1)
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over `axis`: sum((x - mean)**2) / (N - ddof)."""
    axes = _reduced_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes])) - ddof
    if count <= 0:
        raise ShapeError(f"var needs more than ddof={ddof} elements along axes {axes} of shape {x.shape}")
    centred = x - np.mean(x, axis=axes, keepdims=True)
    out = np.sum(centred * centred, axis=axes, keepdims=keepdims) / count
    return out, lambda grad: _keep(grad, axes, keepdims) * centred * (2 / count)


def _extremum(x, axis, keepdims, numpy_reduce):
    axes = _reduced_axes(axis, x.ndim)
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{numpy_reduce.__name__} over an empty axis (axes {axes} of shape {x.shape})")
    out = numpy_reduce(x, axis=axes, keepdims=True)

    def vjp(grad):
        # Ties share the gradient equally, so the result does not depend on which tied element comes first.
        winners = x == out
        return _keep(grad, axes, keepdims) * winners / winners.sum(axis=axes, keepdims=True)

    return (out if keepdims else np.squeeze(out, axes)), vjp


@primitive(n_inputs=1)
def max(x, axis=None, keepdims=False):
    """Largest element over `axis`; tied maxima share the gradient equally."""
    return _extremum(x, axis, keepdims, np.max)


@primitive(n_inputs=1)
def min(x, axis=None, keepdims=False):
    """Smallest element over `axis`; tied minima share the gradient equally."""
    return _extremum(x, axis, keepdims, np.min)


def _shifted_exp(x, axes):
    """exp(x - max) and its sum over `axes`; a row that is all -inf gives zeros and sum 0, not NaN."""
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"softmax over an empty axis (axes {axes} of shape {x.shape})")
    if x.dtype.kind != "f":
        raise DTypeError(f"needs floating-point input, got {x.dtype}")
    # Subtracting the max keeps exp from overflowing; an all -inf row has max -inf, where 0 is used instead.
    shift = np.max(x, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0)
    exps = np.exp(x - shift)
    return shift, exps, np.sum(exps, axis=axes, keepdims=True)


@primitive(n_inputs=1)
def softmax(x, axis=-1, mask=None):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along `axis`.

    mask: optional boolean array broadcastable to x, True = keep. Masked positions get exactly zero weight and
    zero gradient; a row with no kept position (or all -inf) gives all-zero weights, not NaN.
    """
    if mask is not None:
        mask = as_array(mask)
        if mask.dtype != np.bool_:
            raise DTypeError(f"mask must be boolean (True = keep), got {mask.dtype}")
        x = np.where(mask, x, -np.inf)
    axes = _reduced_axes(axis, x.ndim)
    _, exps, total = _shifted_exp(x, axes)
    out = exps / np.where(total == 0, 1, total)

    def vjp(grad):
        return out * (grad - np.sum(grad * out, axis=axes, keepdims=True))

    return out, vjp


@primitive(n_inputs=1)
def log_softmax(x, axis=-1):
    """log softmax(x) = x - logsumexp(x) along `axis`, accurate where softmax underflows to 0.

    A row that is all -inf gives -inf everywhere (and a finite gradient).
    """
    axes = _reduced_axes(axis, x.ndim)
    shift, exps, total = _shifted_exp(x, axes)
    out = (x - shift) - np.log(np.where(total == 0, 1, total))
    weights = exps / np.where(total == 0, 1, total)
    return out, lambda grad: grad - weights * np.sum(grad, axis=axes, keepdims=True)


@primitive(n_inputs=1)
def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) along `axis`, without overflow; an all -inf row gives -inf (and zero gradient)."""
    axes = _reduced_axes(axis, x.ndim)
    shift, exps, total = _shifted_exp(x, axes)
    with np.errstate(divide="ignore"):
        out = np.log(total) + shift
    weights = exps / np.where(total == 0, 1, total)
    return (out if keepdims else np.squeeze(out, axes)), lambda grad: _keep(grad, axes, keepdims) * weights
