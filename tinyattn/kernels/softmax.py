"""softmax, log_softmax and logsumexp over the last axis, with a scale and a mask fused in; and their backwards.

Each function takes `scores` (..., T), a `mask` and a `scale`, and works on

    logits = scale * scores + bias        where mask is a float array (an additive mask: the bias)
    logits = scale * scores, or -inf     where mask is boolean: True keeps a position, False removes it

mask may be None and broadcasts against scores. A row whose logits are all -inf (nothing kept) gives all-zero
softmax weights, a log_softmax of -inf everywhere, and a logsumexp of -inf; its gradients are zero, never NaN.

A position is masked when the mask says so (False, or an additive -inf), not when its log-probability is -inf: in
float32, log_softmax([3e38, -3e38, 0]) is -inf in the middle (the difference overflows), yet that entry still has
the gradient grad - softmax * sum(grad) of every kept one. So the log_softmax backward takes the forward's mask; the
upstream gradient of a removed position (whose output is the constant -inf) counts as 0, also in sum(grad).

The NumPy references come first; the Numba kernels follow, one pass over each row while it sits in cache, where
NumPy makes a separate pass over the whole array for every step (scale, mask, max, subtract, exp, sum, divide).
"""
import numpy as np

from tinyattn.kernels.exp import exp_row_inplace, exp_scratch, kernel_input, numbers, stand_in
from tinyattn.kernels.switch import FASTMATH, Kernel, jit

# ----- NumPy references -------------------------------------------------------------------------------------


def masked_logits(scores, mask=None, scale=1.0):
    """scale * scores, with a boolean mask applied (-inf where False) or a float mask added."""
    logits = scores * scores.dtype.type(scale) if scale != 1.0 else scores
    if mask is None:
        return logits
    if mask.dtype == np.bool_:
        return np.where(mask, logits, -np.inf).astype(scores.dtype, copy=False)
    return logits + mask.astype(scores.dtype, copy=False)


def _shifted(logits):
    """logits - max per row (a row of all -inf is shifted by 0 instead), and the sum of their exps."""
    peak = np.max(logits, axis=-1, keepdims=True)
    with np.errstate(over="ignore"):  # float32 -3e38 - 3e38: -inf is the right shifted logit (its exp is 0)
        shifted = logits - np.where(np.isfinite(peak), peak, 0)
    return shifted, np.sum(np.exp(shifted), axis=-1, keepdims=True)


def softmax_reference(scores, mask=None, scale=1.0):
    """weights = exp(logits) / sum(exp(logits)) over the last axis."""
    shifted, total = _shifted(masked_logits(scores, mask, scale))
    return np.exp(shifted) / np.where(total == 0, 1, total)


def softmax_backward_reference(weights, grad, scale=1.0):
    """d scores = scale * weights * (grad - sum(grad * weights)), from the forward's weights."""
    inner = np.sum(grad * weights, axis=-1, keepdims=True)
    return weights * (grad - inner) * weights.dtype.type(scale)


def log_softmax_reference(scores, mask=None, scale=1.0):
    """log_probs = logits - logsumexp(logits) over the last axis; -inf where a position is masked."""
    shifted, total = _shifted(masked_logits(scores, mask, scale))
    return shifted - np.log(np.where(total == 0, 1, total))  # a row of all -inf stays -inf, not NaN


def kept_positions(mask):
    """Where `mask` keeps a position (boolean, broadcasting like the mask): True in a boolean mask, not -inf in an
    additive one; None when there is no mask."""
    if mask is None or mask.dtype == np.bool_:
        return mask
    return mask != -np.inf


def log_softmax_backward_reference(log_probs, grad, scale=1.0, mask=None):
    """d scores = scale * (g - exp(log_probs) * sum(g)), g = grad where `mask` (the forward's) keeps a position, 0
    where it removes one: a removed position's output is the constant -inf, so its upstream gradient plays no part
    and its own gradient is 0. A kept position whose log-probability is -inf (overflow) is treated like any kept one.
    """
    kept = kept_positions(mask)
    if kept is not None:
        grad = np.where(kept, grad, 0)
    total = np.sum(grad, axis=-1, keepdims=True)
    d_scores = (grad - np.exp(log_probs) * total) * log_probs.dtype.type(scale)
    return d_scores.astype(log_probs.dtype, copy=False)


def logsumexp_reference(scores, mask=None, scale=1.0):
    """log(sum(exp(logits))) over the last axis, shape scores.shape[:-1]."""
    logits = masked_logits(scores, mask, scale)
    peak = np.max(logits, axis=-1)
    _, total = _shifted(logits)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(peak), peak, 0) + np.log(total[..., 0])


# ----- Numba kernels ------------------------------------------------------------------------------------------
# The loops see 2-D C-contiguous arrays (rows, T). `keep` and `bias` are the boolean and float masks broadcast to
# (rows, T), or (1, 1) placeholders when unused; `mask_kind` says which is real. Every constant comes typed from
# `numbers` (see kernels/exp.py: a Python float would turn float32 arithmetic into float64).

NO_MASK, KEEP_MASK, BIAS_MASK = 0, 1, 2


@jit(fastmath=FASTMATH)
def logits_row(scores, keep, bias, mask_kind, scale, numbers, row, out):
    """out[:] = the logits of `row`; returns their max (-inf when nothing is kept)."""
    peak = numbers.minus_inf
    for j in range(out.shape[0]):
        value = scores[row, j] * scale
        if mask_kind == KEEP_MASK:
            value = value if keep[row, j] else numbers.minus_inf
        elif mask_kind == BIAS_MASK:
            value = value + bias[row, j]
        out[j] = value
        peak = max(peak, value)
    return peak


# inline="always": Numba copies the body into each row loop that calls it (softmax_rows, cross_entropy_rows), so the
# call costs nothing per row.
@jit(fastmath=FASTMATH, inline="always")
def softmax_row_inplace(shifted, numbers, bits):
    """shifted[:] = exp(shifted) / sum(exp(shifted)) for a 1-D row of logits minus their max (so <= 0, one of them
    0); returns the sum of the exps, which is >= 1. `bits` comes from exp_scratch(len(shifted), shifted.dtype)."""
    total = exp_row_inplace(shifted, numbers, bits)
    inverse = numbers.one / total
    for j in range(shifted.shape[0]):
        shifted[j] *= inverse
    return total


@jit(fastmath=FASTMATH)
def softmax_rows(scores, keep, bias, mask_kind, scale, numbers, bits, out):
    for row in range(scores.shape[0]):
        weights = out[row]
        peak = logits_row(scores, keep, bias, mask_kind, scale, numbers, row, weights)
        if peak == numbers.minus_inf:
            weights[:] = numbers.zero
            continue
        for j in range(weights.shape[0]):
            weights[j] -= peak
        softmax_row_inplace(weights, numbers, bits)


@jit(fastmath=FASTMATH)
def log_softmax_rows(scores, keep, bias, mask_kind, scale, numbers, bits, exps, out, lse):
    """out = log_softmax of each row; lse[row] = its logsumexp. `exps` is a scratch row."""
    for row in range(scores.shape[0]):
        log_probs = out[row]
        peak = logits_row(scores, keep, bias, mask_kind, scale, numbers, row, log_probs)
        if peak == numbers.minus_inf:
            log_probs[:] = numbers.minus_inf
            lse[row] = numbers.minus_inf
            continue
        for j in range(log_probs.shape[0]):
            log_probs[j] -= peak
            exps[j] = log_probs[j]
        log_total = np.log(exp_row_inplace(exps, numbers, bits))
        for j in range(log_probs.shape[0]):
            log_probs[j] -= log_total
        lse[row] = peak + log_total


@jit(fastmath=FASTMATH)
def softmax_backward_rows(weights, grad, scale, numbers, out):
    for row in range(weights.shape[0]):
        inner = numbers.zero
        for j in range(weights.shape[1]):
            inner += grad[row, j] * weights[row, j]
        for j in range(weights.shape[1]):
            out[row, j] = scale * weights[row, j] * (grad[row, j] - inner)


@jit(fastmath=FASTMATH)
def log_softmax_backward_rows(log_probs, grad, keep, masked, scale, numbers, bits, out):
    """`keep` (rows, T) is real when `masked`: the upstream gradient of a position it does not keep counts as 0."""
    for row in range(log_probs.shape[0]):
        total = numbers.zero
        if masked:
            for j in range(grad.shape[1]):
                total += grad[row, j] if keep[row, j] else numbers.zero
        else:
            for j in range(grad.shape[1]):
                total += grad[row, j]
        d_scores = out[row]
        for j in range(d_scores.shape[0]):
            d_scores[j] = log_probs[row, j]
        exp_row_inplace(d_scores, numbers, bits)  # the weights exp(log_probs); 0 where log_probs is -inf
        for j in range(d_scores.shape[0]):
            d_scores[j] = scale * (grad[row, j] - d_scores[j] * total)
        if masked:  # in a loop of its own, so that the one above stays branch-free
            for j in range(d_scores.shape[0]):
                d_scores[j] = d_scores[j] if keep[row, j] else numbers.zero


def as_rows(array, dtype=None):
    """A kernel's input (exp.kernel_input: C-contiguous, read-only) in `dtype`, as rows: (..., T) -> (rows, T)."""
    return kernel_input(array, dtype).reshape(-1, array.shape[-1])


def _mask_rows(mask, scores):
    """(mask_kind, keep, bias) for the loops: the mask broadcast to the scores' (rows, T), or placeholders.

    All are read-only, as every kernel input is (see exp.kernel_input): mixed flags would compile every kernel once
    per mask kind instead of once.
    """
    no_keep, no_bias = stand_in((1, 1), np.bool_, True), stand_in((1, 1), scores.dtype, 0)
    if mask is None:
        keep, bias, kind = no_keep, no_bias, NO_MASK
    elif mask.dtype == np.bool_:
        keep, bias, kind = as_rows(np.broadcast_to(mask, scores.shape)), no_bias, KEEP_MASK
    else:
        keep, bias, kind = no_keep, as_rows(np.broadcast_to(mask, scores.shape), scores.dtype), BIAS_MASK
    return kind, keep, bias


def softmax_numba(scores, mask=None, scale=1.0):
    out = np.empty(scores.shape, scores.dtype)
    mask_kind, keep, bias = _mask_rows(mask, scores)
    softmax_rows(as_rows(scores), keep, bias, mask_kind, scores.dtype.type(scale), numbers(scores.dtype),
                 exp_scratch(scores.shape[-1], scores.dtype), out.reshape(-1, scores.shape[-1]))
    return out


def softmax_backward_numba(weights, grad, scale=1.0):
    out = np.empty(weights.shape, weights.dtype)
    softmax_backward_rows(as_rows(weights), as_rows(grad, weights.dtype), weights.dtype.type(scale),
                          numbers(weights.dtype), out.reshape(-1, weights.shape[-1]))
    return out


def _log_softmax_and_lse(scores, mask, scale):
    out = np.empty(scores.shape, scores.dtype)
    lse = np.empty(scores.shape[:-1], scores.dtype)
    mask_kind, keep, bias = _mask_rows(mask, scores)
    size = scores.shape[-1]
    log_softmax_rows(as_rows(scores), keep, bias, mask_kind, scores.dtype.type(scale), numbers(scores.dtype),
                     exp_scratch(size, scores.dtype), np.empty(size, scores.dtype), out.reshape(-1, size),
                     lse.reshape(-1))
    return out, lse


def log_softmax_numba(scores, mask=None, scale=1.0):
    return _log_softmax_and_lse(scores, mask, scale)[0]


def log_softmax_backward_numba(log_probs, grad, scale=1.0, mask=None):
    out = np.empty(log_probs.shape, log_probs.dtype)
    kept = kept_positions(mask)
    keep = stand_in((1, 1), np.bool_, True) if kept is None else as_rows(np.broadcast_to(kept, log_probs.shape))
    log_softmax_backward_rows(as_rows(log_probs), as_rows(grad, log_probs.dtype), keep, kept is not None,
                              log_probs.dtype.type(scale), numbers(log_probs.dtype),
                              exp_scratch(log_probs.shape[-1], log_probs.dtype), out.reshape(-1, log_probs.shape[-1]))
    return out


def logsumexp_numba(scores, mask=None, scale=1.0):
    return _log_softmax_and_lse(scores, mask, scale)[1]


softmax = Kernel(softmax_reference, softmax_numba)
softmax_backward = Kernel(softmax_backward_reference, softmax_backward_numba)
log_softmax = Kernel(log_softmax_reference, log_softmax_numba)
log_softmax_backward = Kernel(log_softmax_backward_reference, log_softmax_backward_numba)
logsumexp = Kernel(logsumexp_reference, logsumexp_numba)
