"""Scaled dot-product attention over any number of batch and head axes (Vaswani et al., 2017, "Attention Is All You
Need"), written with the primitives: the function behind ``F.scaled_dot_product_attention`` and multi-head attention.

    scores  = query @ key^T                              (..., Tq, Tk)
    weights = softmax(scale * scores + mask) over keys   (..., Tq, Tk)
    output  = weights @ value                            (..., Tq, Dv)

It lives beside the primitives, not in ``tinyattn.attention``, so that ``tinyattn.functional`` can offer it without
loading the attention package (it imports only ops, the Tensor, errors and random). Without weights to return it
hands the work to the fused kernel, ``tinyattn.ops.fused_attention``.
"""
import math

import numpy as np

from tinyattn.errors import DTypeError, ShapeError
from tinyattn.kernels.exp import KERNEL_DTYPES
from tinyattn.ops import where
from tinyattn.ops.attention import fused_attention
from tinyattn.ops.softmax import float_mask_problem
from tinyattn.primitive import as_array
from tinyattn.random import generator
from tinyattn.tensor import as_tensor

OP = "scaled_dot_product_attention"


def scaled_dot_product_attention(query, key, value, mask=None, is_causal=False, scale=None, dropout_p=0.0, rng=None,
                                 return_weights=False):
    """Each query's weighted mean of the values, weighted by a softmax of its scaled dot products with the keys.

    output = softmax(scale * query @ key^T + mask) @ value, scale = 1 / sqrt(D) by default (Vaswani et al., 2017).

    Shapes: query (..., Tq, D), key (..., Tk, D), value (..., Tk, Dv); the leading (batch, head) axes of the three
    broadcast against each other. Returns output (..., Tq, Dv), or (output, weights (..., Tq, Tk)) with
    `return_weights`. The weights are the softmax before dropout: each row sums to one (or is all zero).

    `mask` broadcasts to the weights (..., Tq, Tk) (the leading axes of query and key), in tinyattn's one convention:
    boolean True = the query may attend to the key; float = added to the scaled scores (0 keeps, -inf drops; NaN and
    +inf are refused, integers too).
    `is_causal` lets query i see key j only where j <= i + (Tk - Tq): the queries are aligned with the *last* Tq keys
    (for Tq == Tk the usual lower triangle; for one new query after a cache of keys, every key). It combines with
    `mask`: a key must pass both. With Tq > Tk the first Tq - Tk queries see no key.

    A query that may attend to no key gets zero weights and a zero output, with finite (zero) gradients. A key that no
    query may attend to is replaced by zeros, with its value, before use, so NaN or inf there cannot leak into the
    output or a gradient; a key hidden from some queries only is real data for the others and must be finite.

    `dropout_p` zeroes each weight with that probability and scales the rest by 1 / (1 - dropout_p) (Srivastava et
    al., 2014), drawing from `rng` (tinyattn.random); 0 (the default) draws nothing. Pass 0 outside training.

    Two paths, one result: without `return_weights` and dropout, in float32 or float64, the fused kernel runs
    (``tinyattn.ops.fused_attention``: block by block, no (Tq, Tk) array kept for the backward, the causal mask an
    index rule); otherwise the formula above, from the primitives. Tests hold the two equal.
    """
    query, key, value, mask = _checked(query, key, value, mask, is_causal, scale, dropout_p)
    size, queries, keys = query.shape[-1], query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(size) if scale is None else float(scale)
    if not return_weights and dropout_p == 0 and query.dtype in KERNEL_DTYPES:
        return _fused(query, key, value, mask, bool(is_causal), scale)
    if is_causal:
        mask = combine_masks(mask, causal_mask(queries, keys))
    if mask is not None:
        key, value = _hide_unattended(key, value, attended_keys(mask))
    scores = query @ key.swapaxes(-1, -2)  # (..., Tq, D) @ (..., D, Tk) -> (..., Tq, Tk)
    weights = scores.softmax(axis=-1, mask=mask, scale=scale)  # (..., Tq, Tk); all zero where no key is kept
    kept = weights if dropout_p == 0 else weights * _dropout_factors(weights.shape, weights.dtype, dropout_p, rng)
    output = kept @ value  # (..., Tq, Tk) @ (..., Tk, Dv) -> (..., Tq, Dv)
    return (output, weights) if return_weights else output


def causal_mask(queries, keys):
    """(Tq, Tk) bool, True where query i may see key j: j <= i + (Tk - Tq), the queries aligned with the last keys."""
    return np.tril(np.ones((queries, keys), dtype=np.bool_), k=keys - queries)


def combine_masks(first, second):
    """One mask that keeps a position where both keep it (either may be None): boolean masks are and-ed, float masks
    added, and a boolean mask puts -inf in a float one where it is False. The shapes broadcast."""
    if first is None or second is None:
        return second if first is None else first
    if first.dtype == np.bool_ and second.dtype == np.bool_:
        return first & second
    if first.dtype == np.bool_:
        first, second = second, first
    if second.dtype == np.bool_:
        return np.where(second, first, -np.inf).astype(first.dtype)
    return first + second


def attended_keys(mask):
    """The keys some query may attend to, for a bool or float mask (..., Tq, Tk): (..., Tk) bool. A float mask drops
    a key where it is -inf."""
    return (mask if mask.dtype == np.bool_ else mask != -np.inf).any(axis=-2)  # (..., Tq, Tk) -> (..., Tk)


def _fused(query, key, value, mask, is_causal, scale):
    """The same result through the fused kernel (tinyattn.ops.attention), which never stores the weights: the mask
    becomes an additive bias of the mask's own shape, and causality stays an index rule, never a (Tq, Tk) array."""
    if mask is None:
        return fused_attention(query, key, value, None, is_causal, scale)
    if is_causal and mask.shape[-2] != 1:
        attended = attended_keys(combine_masks(mask, causal_mask(query.shape[-2], key.shape[-2])))
    else:  # the last query sees every key under causality, so a mask shared by the queries decides alone
        attended = attended_keys(mask)
    key, value = _hide_unattended(key, value, attended)
    bias = np.where(mask, 0, -np.inf).astype(query.dtype) if mask.dtype == np.bool_ else mask
    return fused_attention(query, key, value, bias, is_causal, scale)


def _hide_unattended(key, value, attended):
    """key and value with zeros at the keys that no query may attend to, `attended` (..., Tk) False (see the
    docstring above)."""
    if attended.all():
        return key, value
    keep = attended[..., None]  # (..., Tk) -> (..., Tk, 1)
    return where(keep, key, 0), where(keep, value, 0)


def _dropout_factors(shape, dtype, probability, rng):
    """An array of `shape`: 0 with `probability`, else 1 / (1 - probability), so the expected weight is unchanged."""
    survives = generator(rng).random(shape) >= probability
    return np.where(survives, 1.0 / (1.0 - probability), 0.0).astype(dtype)


# ----- checks ------------------------------------------------------------------------------------------------------
def _checked(query, key, value, mask, is_causal, scale, dropout_p):
    """The inputs as Tensors and the mask as an array (or None), or an error naming the op, shapes and dtypes."""
    query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
    mask = None if mask is None else as_array(mask)
    problem = _inputs_problem(query.data, key.data, value.data) or (
        mask is not None and _mask_problem(mask, _weights_shape(query.shape, key.shape)))
    if problem:
        error, what = problem
        given = {"query": query, "key": key, "value": value, "mask": mask}
        described = ", ".join(f"{name} {item.shape} {item.dtype}" for name, item in given.items() if item is not None)
        raise error(f"{OP}: {what}; got {described}")
    _settings_check(is_causal, scale, dropout_p)
    if mask is not None and mask.ndim < 2:
        mask = mask.reshape((1,) * (2 - mask.ndim) + mask.shape)  # () or (Tk,) -> (1, 1) or (1, Tk)
    return query, key, value, mask


def _batch(query, key, value):
    return np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])


def _weights_shape(query_shape, key_shape):
    """(..., Tq, Tk): the leading axes of query and key broadcast (value's may broadcast the output further)."""
    return np.broadcast_shapes(query_shape[:-2], key_shape[:-2]) + (query_shape[-2], key_shape[-2])


def _inputs_problem(query, key, value):
    if any(array.dtype.kind != "f" for array in (query, key, value)):
        return DTypeError, "needs float query, key and value"
    if not query.dtype == key.dtype == value.dtype:
        return DTypeError, "query, key and value must share a dtype"
    if min(query.ndim, key.ndim, value.ndim) < 2:
        return ShapeError, "expected query (..., Tq, D), key (..., Tk, D) and value (..., Tk, Dv)"
    if query.shape[-1] != key.shape[-1]:
        return ShapeError, "query and key need the same feature size D on their last axis"
    if key.shape[-2] != value.shape[-2]:
        return ShapeError, "key and value need the same number of keys Tk on their second-to-last axis"
    if key.shape[-2] == 0:
        return ShapeError, "there must be at least one key (Tk >= 1)"
    try:
        _batch(query, key, value)
    except ValueError:
        return ShapeError, "the leading (batch, head) axes of query, key and value do not broadcast"
    return None


def _mask_problem(mask, weights_shape):
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        return DTypeError, "mask must be boolean (True = may attend) or float (added to the scaled scores)"
    try:
        fits = np.broadcast_shapes(mask.shape, weights_shape) == weights_shape
    except ValueError:
        fits = False
    if not fits:
        return ShapeError, f"mask must broadcast to the weights (..., Tq, Tk) = {weights_shape}"
    return None if mask.dtype == np.bool_ else float_mask_problem(mask)


def _settings_check(is_causal, scale, dropout_p):
    if not isinstance(is_causal, (bool, np.bool_)):
        raise TypeError(f"{OP}: is_causal must be True or False; got is_causal={is_causal!r}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating))
                              or not math.isfinite(scale)):
        raise ValueError(f"{OP}: scale must be a finite number or None (1 / sqrt(D)); got scale={scale!r}")
    if isinstance(dropout_p, bool) or not isinstance(dropout_p, (int, float, np.integer, np.floating)) or not (
            0 <= dropout_p < 1):
        raise ValueError(f"{OP}: dropout_p must be a number in [0, 1); got dropout_p={dropout_p!r}")
