"""The attention step: compare a query with keys, turn the scores into weights, return the weighted sum of values.

    scores  = score(query, keys)                    (B, Tq, Tk)   one per (query, key) pair
    weights = softmax(scores) over the keys         (B, Tq, Tk)   each row sums to one: where the query looks
    context = weights @ values                      (B, Tq, Dv)   what it sees

Soft attention is the expected value of the values under the weights, so it is differentiable end to end; the
weights are always returned, because reading them is half the point (``tinyattn.viz`` draws them).
"""
import numpy as np

from tinyattn import ops
from tinyattn.attention.scores import SCORES, check_query_keys
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.primitive import as_array


def attend(query, keys, values, score="scaled_dot", mask=None):
    """Soft attention of `query` over `keys`, returning ``(context, weights)``.

    weights = softmax(score(query, keys)) over the keys, context = sum_s weights[s] * values[s].

    Shapes: query (B, Dq) or (B, Tq, Dq); keys (B, Tk, Dk); values (B, Tk, Dv). Returns context (B, Dv) and
    weights (B, Tk) for a 2-D query, context (B, Tq, Dv) and weights (B, Tq, Tk) for a 3-D one.

    `score` is a score module (``tinyattn.attention.scores``), any callable ``(query, keys) -> scores`` of those
    shapes, or the name of a score without parameters: "dot" or "scaled_dot" (the default).

    `mask` marks the keys each query may attend to, in tinyattn's one convention: a boolean array, True = keep
    (False for padding). A 2-D mask is the key mask (B, Tk): the same keys for every query. A 3-D mask
    broadcasts to the scores (B, Tq, Tk): pass (1, Tq, Tk) for one pattern shared by the batch (a causal mask, say).
    A float mask is added to the
    scores instead (0 to keep, a large negative number or -inf to drop).

    A masked key gets a weight of exactly 0 and no gradient. A query whose keys are all masked gets zero weights
    and a zero context (not the NaN of 0/0), and every gradient through it is zero and finite.
    """
    if isinstance(score, str):
        if score not in ("dot", "scaled_dot"):
            raise ValueError(f"attend: score={score!r} needs parameters; make it with "
                             f"tinyattn.attention.make_score({score!r}, ...) and pass the module")
        score = SCORES[score]()
    elif not callable(score):
        raise TypeError(f"attend: score must be a score module, a callable (query, keys) -> scores, 'dot' or "
                        f"'scaled_dot'; got {type(score).__name__}")
    _, single = check_query_keys("attend", query, keys)
    _check_values("attend", keys, values)
    scores = score(query, keys)
    expected = _scores_shape(query, keys)
    if as_array(scores).shape != expected:
        raise ShapeError(f"attend: the score {type(score).__name__} returned shape {as_array(scores).shape}; "
                         f"expected {expected} for query {as_array(query).shape} and keys {as_array(keys).shape}")
    mask = _check_mask("attend", mask, as_array(scores).shape, single)
    if single:
        scores = ops.expand_dims(scores, 1)  # (B, Tk) -> (B, 1, Tk)
    weights = ops.softmax(scores, axis=-1, mask=mask)  # (B, Tq, Tk); all zero where every key is masked
    context = ops.matmul(weights, values)  # (B, Tq, Tk) @ (B, Tk, Dv) -> (B, Tq, Dv)
    if single:
        return ops.squeeze(context, 1), ops.squeeze(weights, 1)  # (B, Dv), (B, Tk)
    return context, weights


def _scores_shape(query, keys):
    q, k = as_array(query), as_array(keys)
    return q.shape[:-1] + (k.shape[1],)


def _check_values(op, keys, values):
    k, v = as_array(keys), as_array(values)
    if v.ndim != 3 or v.shape[:2] != k.shape[:2]:
        raise ShapeError(f"{op}: values must be (B, Tk, Dv) with the keys' B and Tk, got values {v.shape} {v.dtype} "
                         f"and keys {k.shape} {k.dtype}")
    if v.dtype != k.dtype:
        raise DTypeError(f"{op}: values and keys must share a dtype, got values {v.shape} {v.dtype} and keys "
                         f"{k.shape} {k.dtype}")


def _check_mask(op, mask, scores_shape, single):
    """The mask checked and shaped to broadcast against (B, Tq, Tk) scores (None stays None)."""
    if mask is None:
        return None
    mask = as_array(mask)
    if mask.dtype != np.bool_ and mask.dtype.kind != "f":
        raise DTypeError(f"{op}: mask must be boolean (True = attend) or float (added to the scores), got "
                         f"{mask.dtype} of shape {mask.shape}")
    batch, keys = scores_shape[0], scores_shape[-1]
    if mask.ndim == 2:
        if mask.shape != (batch, keys):
            raise ShapeError(f"{op}: a 2-D mask is a key mask (B, Tk) = {(batch, keys)}, True = attend; got "
                             f"{mask.shape} {mask.dtype} for scores {scores_shape}")
        return mask[:, None, :]  # (B, Tk) -> (B, 1, Tk): the same keys for every query
    full = (batch, 1, keys) if single else scores_shape
    try:
        fits = np.broadcast_shapes(mask.shape, full) == full
    except ValueError:
        fits = False
    if not fits or mask.ndim != 3:
        raise ShapeError(f"{op}: mask {mask.shape} {mask.dtype} must be a key mask (B, Tk) or broadcast to the "
                         f"scores' shape {full} as a 3-D array")
    return mask
