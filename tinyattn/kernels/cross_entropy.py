"""Cross-entropy from logits, fused with the softmax it needs, and its backward.

For logits (N, C) (classes on the last axis; any leading axes (..., C) work alike), integer targets (N,) and a
label smoothing eps in [0, 1):

    lse     = log(sum_c exp(logits[n, c]))
    loss[n] = (1 - eps) * (lse - logits[n, targets[n]]) + eps * (lse - mean_c logits[n, c])

the cross-entropy against the target distribution (1 - eps) onehot + eps / C (label smoothing: Szegedy et al.,
2016, "Rethinking the Inception Architecture"). A row whose target equals `ignore_index` has loss 0 and gradient 0.
The forward also returns the softmax probabilities (N, C), from which the backward is one pass:

    d logits[n] = grad[n] * (probs[n] - (1 - eps) onehot(targets[n]) - eps / C)

With eps = 0 the smoothing term is skipped, not multiplied by 0, so a logit of -inf away from the target (a class
ruled out) gives a finite loss. Targets outside [0, C) that are not `ignore_index` raise IndexError, in the forward
and the backward, before any loop runs: the Numba loops do not check bounds.

The NumPy references come first; the Numba kernels follow, one pass over each row while it sits in cache.
"""
import numpy as np

from tinyattn.kernels.exp import exp_scratch, kernel_input, numbers
from tinyattn.kernels.softmax import as_rows, softmax_row_inplace
from tinyattn.kernels.switch import FASTMATH, Kernel, jit


def check_targets(targets, classes, ignore_index):
    """Raise IndexError naming the first target outside [0, classes) that is not `ignore_index`."""
    bad = (targets != ignore_index) & ((targets < 0) | (targets >= classes))
    if np.any(bad):
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise IndexError(
            f"target {targets[position]} at position {position} of targets {targets.shape} {targets.dtype} is "
            f"outside [0, {classes}) and is not ignore_index ({ignore_index})"
        )


# ----- NumPy references -------------------------------------------------------------------------------------


def cross_entropy_reference(logits, targets, ignore_index=-100, label_smoothing=0.0):
    """(losses (N,), probs (N, C)) for logits (N, C) and integer targets (N,); see the module docstring."""
    check_targets(targets, logits.shape[-1], ignore_index)
    dtype = logits.dtype.type
    shifted = logits - np.max(logits, axis=-1, keepdims=True)  # (N, C), each row's max at 0
    exps = np.exp(shifted)
    total = np.sum(exps, axis=-1)  # (N,)
    probs = exps / total[..., None]
    kept = targets != ignore_index
    picked = np.take_along_axis(shifted, np.where(kept, targets, 0)[..., None], axis=-1)[..., 0]  # (N,)
    log_total = np.log(total)  # lse - max
    losses = dtype(1.0 - label_smoothing) * (log_total - picked)
    if label_smoothing:
        losses = losses + dtype(label_smoothing) * (log_total - np.mean(shifted, axis=-1))
    return np.where(kept, losses, 0).astype(logits.dtype, copy=False), probs


def cross_entropy_backward_reference(probs, targets, grad, ignore_index=-100, label_smoothing=0.0):
    """d logits (N, C) from the forward's probs (N, C), the targets (N,) and the gradient of each row's loss (N,)."""
    check_targets(targets, probs.shape[-1], ignore_index)
    dtype = probs.dtype.type
    kept = (targets != ignore_index).reshape(-1)  # (...) -> (N,)
    d_logits = probs - dtype(label_smoothing / probs.shape[-1])
    d_rows = d_logits.reshape(-1, probs.shape[-1])  # a view: (..., C) -> (N, C)
    rows = np.flatnonzero(kept)
    d_rows[rows, targets.reshape(-1)[rows]] -= dtype(1.0 - label_smoothing)
    d_rows *= np.where(kept, np.asarray(grad, probs.dtype).reshape(-1), 0)[:, None]
    return d_logits


# ----- Numba kernels ------------------------------------------------------------------------------------------
# The loops see 2-D C-contiguous logits and probs (N, C) and int64 targets (N,); the wrappers flatten leading axes.
# Every constant comes typed from the wrapper or from `numbers` (a Python float would turn float32 arithmetic into
# float64).


@jit(fastmath=FASTMATH)
def cross_entropy_rows(logits, targets, ignore_index, keep_weight, smooth_weight, classes, numbers, bits, probs,
                       losses):
    """probs[n] = softmax(logits[n]); losses[n] as in the module docstring (keep_weight = 1 - eps)."""
    for row in range(logits.shape[0]):
        row_probs = probs[row]
        peak = numbers.minus_inf
        for j in range(logits.shape[1]):
            peak = max(peak, logits[row, j])
        shifted_total = numbers.zero
        for j in range(logits.shape[1]):
            value = logits[row, j] - peak
            row_probs[j] = value
            shifted_total += value
        total = softmax_row_inplace(row_probs, numbers, bits)
        target = targets[row]
        if target == ignore_index:
            losses[row] = numbers.zero
            continue
        log_total = np.log(total)
        loss = keep_weight * (log_total - (logits[row, target] - peak))
        if smooth_weight != numbers.zero:
            loss += smooth_weight * (log_total - shifted_total / classes)
        losses[row] = loss


@jit(fastmath=FASTMATH)
def cross_entropy_backward_rows(probs, targets, grad, ignore_index, keep_weight, smooth_share, numbers, out):
    for row in range(probs.shape[0]):
        target = targets[row]
        if target == ignore_index:
            for j in range(probs.shape[1]):
                out[row, j] = numbers.zero
            continue
        row_grad = grad[row]
        for j in range(probs.shape[1]):
            out[row, j] = (probs[row, j] - smooth_share) * row_grad
        out[row, target] = (probs[row, target] - smooth_share - keep_weight) * row_grad


def _per_row(values, rows, dtype):
    """(...) -> (N,), a kernel input in `dtype`; a size other than N is an error here, not a stray read in the loop."""
    return kernel_input(values, dtype).reshape(rows)


def cross_entropy_numba(logits, targets, ignore_index=-100, label_smoothing=0.0):
    classes = logits.shape[-1]
    check_targets(targets, classes, ignore_index)
    dtype = logits.dtype.type
    probs = np.empty(logits.shape, logits.dtype)
    losses = np.empty(logits.shape[:-1], logits.dtype)
    logits_rows = as_rows(logits)
    cross_entropy_rows(logits_rows, _per_row(targets, logits_rows.shape[0], np.int64), np.int64(ignore_index),
                       dtype(1.0 - label_smoothing), dtype(label_smoothing), dtype(classes), numbers(logits.dtype),
                       exp_scratch(classes, logits.dtype), probs.reshape(-1, classes), losses.reshape(-1))
    return losses, probs


def cross_entropy_backward_numba(probs, targets, grad, ignore_index=-100, label_smoothing=0.0):
    check_targets(targets, probs.shape[-1], ignore_index)  # the loop writes at each target: never out of bounds
    dtype = probs.dtype.type
    out = np.empty(probs.shape, probs.dtype)
    probs_rows = as_rows(probs)
    rows = probs_rows.shape[0]
    cross_entropy_backward_rows(probs_rows, _per_row(targets, rows, np.int64), _per_row(grad, rows, probs.dtype),
                                np.int64(ignore_index), dtype(1.0 - label_smoothing),
                                dtype(label_smoothing / probs.shape[-1]), numbers(probs.dtype),
                                out.reshape(-1, probs.shape[-1]))
    return out


cross_entropy = Kernel(cross_entropy_reference, cross_entropy_numba)
cross_entropy_backward = Kernel(cross_entropy_backward_reference, cross_entropy_backward_numba)
