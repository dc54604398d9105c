"""The softmax family: softmax, log_softmax and logsumexp, with a scale and a mask fused in.

Each works on ``logits = scale * x`` (+ an additive float mask, or -inf where a boolean mask is False) along
`axis` (an int, or a tuple of axes treated as one). The arithmetic is in ``tinyattn.kernels.softmax``: a Numba
kernel or its NumPy reference, whichever the switch selects.

Masks follow tinyattn's one convention: boolean True = keep. A float mask is added to the scaled scores and gets
no gradient (a float mask of 0s and 1s is a small additive bias, not a keep mask). An integer mask is refused, even
of 0s and 1s: its polarity would be a guess. A float mask holding NaN or +inf is refused too (it would make its
whole row NaN). A row with nothing kept gives softmax weights of 0, a log_softmax and logsumexp of -inf, and zero
gradients, never NaN.
"""
import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.kernels import softmax as kernels
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.ops.axes import reduced_axes
from tinyattn.primitive import as_array, primitive


def _check(x, axes, mask):
    """Validate the input and mask; return the mask as an array (or None)."""
    if x.dtype not in KERNEL_DTYPES:
        raise DTypeError(f"needs float32 or float64 input, got {x.dtype}")
    if any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"cannot normalise over an empty axis (axes {axes} of shape {x.shape})")
    if mask is None:
        return None
    mask = as_array(mask)
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        raise DTypeError(f"mask must be boolean (True = keep) or float (added to the scores), not integer (a 0/1 "
                         f"integer mask would be ambiguous); got mask of shape {mask.shape} {mask.dtype}")
    try:
        fits = np.broadcast_shapes(mask.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"mask of shape {mask.shape} does not broadcast to the input's shape {x.shape}")
    problem = float_mask_problem(mask) if mask.dtype.kind == "f" else None
    if problem is not None:
        error, message = problem
        raise error(message)
    return mask


def float_mask_problem(mask, name="mask"):
    """(ValueError, what is wrong) when a float mask holds NaN or +inf, else None. A float mask is added to the
    scores: finite numbers and -inf (drop) are meaningful, but NaN or +inf turns the whole row of weights into NaN
    (NaN propagates; +inf gives inf / inf). Named by its first bad position.

    A ValueError: the mask's shape and dtype are right (not a ShapeError or DTypeError), one of its values is not,
    and tinyattn.errors has no class for bad values, so the built-in one NumPy users expect."""
    if (mask < np.inf).all():  # one pass: False for NaN and +inf alike
        return None
    bad = np.isnan(mask) | (mask == np.inf)
    position = tuple(int(index) for index in np.argwhere(bad)[0])
    return ValueError, (f"a float {name} holds finite numbers (added to the scores) or -inf (drop), but "
                        f"{name}{list(position)} is {mask[position]}, which would make its row of weights NaN")


class _LastAxis:
    """Moves the normalised axes of an array to the end, merged into one, and back: the kernels work on rows.

    For the usual case, the last axis alone, both moves are free (no copy, no transpose).
    """

    def __init__(self, shape, axes):
        others = [a for a in range(len(shape)) if a not in axes]
        self.shape = shape
        self.order = others + list(axes)
        self.moved_shape = tuple(shape[a] for a in self.order)
        self.rows_shape = self.moved_shape[: len(others)] + (-1,)
        self.identity = self.order == list(range(len(shape))) and len(axes) == 1

    def to_rows(self, array):
        """(..., reduced axes...) -> (..., N); a smaller mask is broadcast to the input's shape first."""
        if self.identity:
            return array
        return np.transpose(np.broadcast_to(array, self.shape), self.order).reshape(self.rows_shape)

    def from_rows(self, array):
        if self.identity:
            return array
        return np.transpose(array.reshape(self.moved_shape), np.argsort(self.order))


def _prepare(x, axis, mask):
    axes = reduced_axes(axis, x.ndim)
    mask = _check(x, axes, mask)
    layout = _LastAxis(x.shape, axes)
    return layout, layout.to_rows(x), (None if mask is None else layout.to_rows(mask))


@primitive(n_inputs=1)
def softmax(x, axis=-1, mask=None, scale=1.0):
    """weights = exp(logits) / sum(exp(logits)) along `axis`, logits = scale * x (masked).

    Shapes: x (..., T) -> weights (..., T), each row summing to one (or all zero where nothing is kept).
    Gradient: d x = scale * weights * (grad - sum(grad * weights)).
    """
    layout, rows, mask = _prepare(x, axis, mask)
    weights = kernels.softmax(rows, mask, scale)
    return layout.from_rows(weights), lambda grad: layout.from_rows(
        kernels.softmax_backward(weights, layout.to_rows(grad), scale)
    )


@primitive(n_inputs=1)
def log_softmax(x, axis=-1, mask=None, scale=1.0):
    """log_probs = logits - logsumexp(logits) along `axis`, accurate where softmax underflows to 0.

    Masked positions (and rows with nothing kept) give -inf, with zero gradient.
    Gradient: d x = scale * (g - exp(log_probs) * sum(g)), with g = grad where the mask keeps a position and 0 where
    it removes one; a kept position whose log_probs overflows to -inf (float32 [3e38, -3e38, 0]) is no exception.
    """
    layout, rows, mask = _prepare(x, axis, mask)
    log_probs = kernels.log_softmax(rows, mask, scale)
    return layout.from_rows(log_probs), lambda grad: layout.from_rows(
        kernels.log_softmax_backward(log_probs, layout.to_rows(grad), scale, mask)
    )


@primitive(n_inputs=1)
def logsumexp(x, axis=-1, keepdims=False, mask=None, scale=1.0):
    """log(sum(exp(logits))) along `axis`, without overflow; -inf where nothing is kept.

    Gradient: d x = grad * softmax(logits), recomputed in the backward pass rather than stored.
    """
    layout, rows, mask = _prepare(x, axis, mask)
    axes = reduced_axes(axis, x.ndim)
    out = kernels.logsumexp(rows, mask, scale)  # the input's shape without the reduced axes

    def vjp(grad):
        weights = kernels.softmax(rows, mask, scale)
        grad = grad.reshape(out.shape)[..., None]  # the same elements with or without keepdims
        return layout.from_rows(weights * (grad * x.dtype.type(scale)))

    return (np.expand_dims(out, axes) if keepdims else out), vjp
