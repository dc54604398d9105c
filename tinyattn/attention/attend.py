"""The attention step: compare a query with keys, turn the scores into weights, return the weighted sum of values.

    scores  = score(query, keys)                    (B, Tq, Tk)   one per (query, key) pair
    weights = softmax(scores) over the keys         (B, Tq, Tk)   each row sums to one: where the query looks
    context = weights @ values                      (B, Tq, Dv)   what it sees

Soft attention is the expected value of the values under the weights, so it is differentiable end to end; the
weights are always returned, because reading them is half the point (``tinyattn.viz`` draws them).
"""
from tinyattn.attention import _checks
from tinyattn.attention.scores import SCORES


def attend(query, keys, values, score="scaled_dot", mask=None):
    """Soft attention of `query` over `keys`, returning ``(context, weights)``.

    weights = softmax(score(query, keys)) over the keys, context = sum_s weights[s] * values[s].

    Shapes: query (B, Dq) or (B, Tq, Dq); keys (B, Tk, Dk); values (B, Tk, Dv). Returns context (B, Dv) and
    weights (B, Tk) for a 2-D query, context (B, Tq, Dv) and weights (B, Tq, Tk) for a 3-D one.

    `score` is a score module (``tinyattn.attention.scores``), any callable ``(query, keys) -> scores`` of those
    shapes (it is given Tensors), or the name of a score without parameters: "dot" or "scaled_dot" (the default).

    `mask` marks the keys each query may attend to, in tinyattn's one convention: a boolean array, True = keep
    (False for padding). A 2-D mask is the key mask (B, Tk): the same keys for every query. A 3-D mask
    broadcasts to the scores (B, Tq, Tk): pass (1, Tq, Tk) for one pattern shared by the batch (a causal mask, say).
    A float mask is added to the scores instead (0 to keep, a large negative number or -inf to drop).

    A masked key gets a weight of exactly 0 and no gradient. A query whose keys are all masked gets zero weights
    and a zero context (not the NaN of 0/0), and every gradient through it is zero and finite.
    """
    score = _score_function(score)
    query, keys, values, mask = _checks.attend("attend", query, keys, values, mask)
    scores = _checks.scores("attend", score(query, keys), score, query, keys)  # (B, Tk) or (B, Tq, Tk)
    single = query.ndim == 2
    if single:
        scores = scores.expand_dims(1)  # (B, Tk) -> (B, 1, Tk)
    weights = scores.softmax(axis=-1, mask=mask)  # (B, Tq, Tk); all zero where every key is masked
    context = weights @ values  # (B, Tq, Tk) @ (B, Tk, Dv) -> (B, Tq, Dv)
    if single:
        return context.squeeze(1), weights.squeeze(1)  # (B, Dv), (B, Tk)
    return context, weights


def _score_function(score):
    """`score` as a callable (query, keys) -> scores: a score module or function as it is, a name made into the
    score it names (only those without parameters)."""
    if isinstance(score, str):
        if score not in ("dot", "scaled_dot"):
            raise ValueError(f"attend: score={score!r} needs parameters; make it with "
                             f"tinyattn.attention.make_score({score!r}, ...) and pass the module")
        return SCORES[score]()
    if not callable(score):
        raise TypeError(f"attend: score must be a score module, a callable (query, keys) -> scores, 'dot' or "
                        f"'scaled_dot'; got {type(score).__name__}")
    return score
