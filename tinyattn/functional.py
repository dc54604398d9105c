"""The public functions of tinyattn, conventionally imported as ``import tinyattn.functional as F``.

Every function takes Tensors, NumPy arrays or Python scalars and returns a Tensor; see each primitive's
docstring for its formula and shapes.
"""
import itertools

import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.kernels.cross_entropy import check_targets
from tinyattn.ops import (
    abs,
    add,
    argmax,
    argmin,
    astype,
    binary_cross_entropy_with_logits,
    broadcast_to,
    clip,
    cross_entropy,
    embedding,
    exp,
    expand_dims,
    gather,
    getitem,
    layer_norm,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    power,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    sub,
    sum,
    swapaxes,
    take,
    tanh,
    transpose,
    truediv,
    var,
    where,
)
from tinyattn.ops import concatenate as _concatenate
from tinyattn.ops import stack as _stack
from tinyattn.ops.axes import integer_axes, normalized_axis
from tinyattn.primitive import as_array, op_error
from tinyattn.random import generator
from tinyattn.scaled_dot_product import scaled_dot_product_attention
from tinyattn.tensor import Tensor


def concatenate(tensors, axis=0):
    """The tensors joined along an existing `axis` (as ``np.concatenate``)."""
    return _concatenate(*tensors, axis=axis)


def stack(tensors, axis=0):
    """The tensors, all of one shape, joined along a new `axis` (as ``np.stack``)."""
    return _stack(*tensors, axis=axis)


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (Srivastava et al., 2014), so the
    expected value is unchanged; the identity when not training or p = 0. Draws from `rng` (tinyattn.random)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    keep = generator(rng).random(data.shape) >= p
    return x * (keep / (1.0 - p)).astype(data.dtype)


def nll_loss(log_probs, targets, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of integer `targets` given log-probabilities (..., C) on the last axis.

    loss = -log_probs[..., target]; elements whose target is `ignore_index` count 0 and are left out of the mean
    (a mean over no element is 0). For logits, ``cross_entropy`` does the same in one fused step.
    Shapes: log_probs (..., C), targets (...), integers in [0, C) or equal to `ignore_index`; any other target
    (a negative one included: it does not count from the end) is an IndexOpError.
    """
    targets, values = as_array(targets), as_array(log_probs)
    described = f"log_probs {values.shape} {values.dtype}, targets {targets.shape} {targets.dtype}"
    if targets.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: needs integer targets, got {described}")
    if values.ndim == 0 or targets.shape != values.shape[:-1]:
        raise ShapeError(f"nll_loss: targets must have the shape of log_probs without the class axis; got {described}")
    try:
        check_targets(targets, values.shape[-1], ignore_index)
    except IndexError as error:
        raise op_error("nll_loss", [log_probs], error) from error
    kept = targets != ignore_index
    picked = gather(log_probs, np.where(kept, targets, 0)[..., None], axis=-1)[..., 0]  # (...)
    losses = -picked * kept.astype(picked.dtype)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / picked.dtype.type(np.maximum(np.count_nonzero(kept), 1))
    raise ValueError(f"nll_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def mse_loss(prediction, target, reduction="mean"):
    """Mean (or sum, or none) of the squared differences (prediction - target) ** 2, broadcasting as NumPy."""
    squared = (prediction - target) ** 2
    if reduction == "none":
        return squared
    if reduction in ("mean", "sum"):
        return squared.mean() if reduction == "mean" else squared.sum()
    raise ValueError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def permute(x, axes):
    """Axes reordered: ``permute(x, (0, 2, 1, 3))``; the same as ``transpose(x, axes)``."""
    return transpose(x, axes)


def split(x, indices_or_sections, axis=0):
    """A list of pieces of x along `axis`, as ``np.split``: a number of equal sections, or the split points.

    The number of sections is an integer that divides the axis; split points are integers (a list, tuple or 1-D
    array), and as in NumPy a point past the end, or below the one before it, gives an empty piece. Anything else (a
    float such as 2.5, which ``int()`` would truncate, or a bool) is refused with an error naming ``split``.

    Each piece is a slice of x (``getitem``), so its gradient flows back into the right part of x.
    """
    try:
        axis = normalized_axis(axis, as_array(x).ndim)
        points = _split_points(indices_or_sections, as_array(x).shape[axis])
    except (ShapeError, DTypeError) as error:
        raise op_error("split", [x], error) from error
    bounds = [0] + points + [as_array(x).shape[axis]]
    lead = (slice(None),) * axis
    return [getitem(x, lead + (slice(start, stop),)) for start, stop in itertools.pairwise(bounds)]


def _split_points(indices_or_sections, size):
    """The points where `split` cuts an axis of `size`, as a list of ints."""
    if np.ndim(indices_or_sections) == 0:
        sections = integer_axes(indices_or_sections, name="the number of sections")
        if sections <= 0 or size % sections:
            raise ShapeError(f"an axis of size {size} does not divide into {sections} equal sections")
        return list(range(0, size, size // sections))[1:]
    points = np.asarray(indices_or_sections)
    if points.ndim != 1:
        raise ShapeError(f"the split points must be a flat list of integers, got shape {points.shape}")
    if points.size and (points.dtype.kind not in "iu"):
        raise DTypeError(f"the split points must be integers, got {indices_or_sections!r} ({points.dtype})")
    return [int(point) for point in points]


__all__ = [
    "abs", "add", "argmax", "argmin", "astype", "binary_cross_entropy_with_logits", "broadcast_to", "clip",
    "concatenate", "cross_entropy", "dropout", "mse_loss", "nll_loss", "embedding", "exp", "expand_dims", "gather",
    "getitem", "layer_norm", "log", "log_softmax", "logsumexp", "matmul",
    "max", "maximum", "mean", "min", "minimum", "mul", "neg", "permute", "power", "relu", "reshape", "sigmoid",
    "softmax", "split", "sqrt", "squeeze", "stack", "sub", "sum", "swapaxes", "take", "tanh", "transpose", "truediv",
    "var", "where", "scaled_dot_product_attention",
]
