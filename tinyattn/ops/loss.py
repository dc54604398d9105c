"""Losses as primitives: cross-entropy from logits (ignored targets, label smoothing), binary cross-entropy.

The arithmetic is in ``tinyattn.kernels.cross_entropy``: one fused pass computes each row's loss and keeps the
softmax probabilities, from which the backward pass is a single elementwise step.
"""
import numpy as np

from tinyattn.kernels import cross_entropy as kernels
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.ops.elementwise import stable_sigmoid
from tinyattn.primitive import as_array, primitive

_REDUCTIONS = ("mean", "sum", "none")


def _check(logits, targets, ignore_index, label_smoothing, reduction):
    """Validate the arguments (ValueError or TypeError, named by the primitive); return the targets as int64."""
    targets = as_array(targets)
    described = f"logits {logits.shape} {logits.dtype}, targets {targets.shape} {targets.dtype}"
    if logits.dtype not in KERNEL_DTYPES:
        raise TypeError(f"needs float32 or float64 logits, got {described}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"needs integer targets (class indices), got {described}")
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"needs logits (..., C) with at least one class on the last axis, got {described}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets must have the logits' shape without the class axis, {logits.shape[:-1]}; "
                         f"got {described}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    return targets.astype(np.int64, copy=False)  # targets out of range: the kernels raise IndexError, in both modes


@primitive(n_inputs=1)
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy of integer `targets` under softmax(`logits`), with label smoothing and ignored targets.

    Per element, with lse = logsumexp over the C classes and eps = `label_smoothing`:

        loss = (1 - eps) * (lse - logits[target]) + eps * (lse - mean_c logits[c])

    the cross-entropy against (1 - eps) onehot(target) + eps / C (label smoothing: Szegedy et al., 2016,
    "Rethinking the Inception Architecture for Computer Vision").

    Shapes: logits (N, C) or (B, T, C), classes on the last axis; targets (N,) or (B, T), integers in [0, C) or
    equal to `ignore_index`. An element whose target is `ignore_index` contributes loss 0 and gradient 0.
    `reduction`: "mean" over the elements that are not ignored (when every element is ignored the mean is 0, with
    a zero gradient, rather than 0 / 0), "sum", or "none" (the losses, shaped as targets).
    Gradient: d logits = grad * (softmax(logits) - (1 - eps) onehot(target) - eps / C). `targets` gets none.
    """
    targets = _check(logits, targets, ignore_index, label_smoothing, reduction)
    # The kernels flatten (..., C) to (N, C) themselves and return arrays of their own, which the engine keeps as
    # gradients without a copy.
    losses, probs = kernels.cross_entropy(logits, targets, ignore_index, label_smoothing)  # (...), (..., C)
    dtype = logits.dtype.type
    if reduction == "none":
        out = losses
    else:
        count = 1 if reduction == "sum" else max(int(np.count_nonzero(targets != ignore_index)), 1)
        out = np.sum(losses) / dtype(count)

    def vjp(grad):
        if reduction == "none":
            loss_grads = grad
        else:  # d out / d losses = 1 / count everywhere; the kernel zeroes the ignored elements
            loss_grads = np.full(targets.shape, grad / dtype(count), logits.dtype)
        return kernels.cross_entropy_backward(probs, targets, loss_grads, ignore_index, label_smoothing)

    return out, vjp


def _reduce(losses, reduction, dtype):
    """The losses reduced as asked, and d out / d losses as a factor (1 for "none" and "sum", 1/N for "mean")."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if reduction == "none":
        return losses, dtype.type(1)
    if reduction == "sum":
        return np.sum(losses), dtype.type(1)
    count = dtype.type(max(losses.size, 1))
    return np.sum(losses) / count, dtype.type(1) / count


@primitive(n_inputs=2)
def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """Binary cross-entropy of `targets` in [0, 1] under sigmoid(`logits`), computed without overflow:

        loss = max(x, 0) - x * y + log(1 + exp(-|x|))      (x = logits, y = targets)

    which equals -(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))) and stays finite at |x| = 1e4.
    Shapes: logits and targets broadcast together; reduction "mean", "sum" or "none".
    Gradients: d logits = grad * (sigmoid(x) - y), d targets = -grad * x.
    """
    logits, targets = np.asarray(logits), np.asarray(targets)
    if logits.dtype.kind != "f":
        raise TypeError(f"needs float logits, got {logits.dtype}")
    losses = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    out, factor = _reduce(losses, reduction, losses.dtype)

    def grad_logits(grad):
        return (grad * factor) * (stable_sigmoid(logits) - targets)

    def grad_targets(grad):
        return (grad * factor) * -np.broadcast_to(logits, losses.shape)  # the broadcast shape, like grad_logits

    return out, (grad_logits, grad_targets)
