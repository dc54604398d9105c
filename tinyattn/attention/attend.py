"""The attention step: compare a query with keys, turn the scores into weights, return the weighted sum of values.

    scores  = score(query, keys)                    (B, Tq, Tk)   one per (query, key) pair
    weights = softmax(scores) over the keys         (B, Tq, Tk)   each row sums to one: where the query looks
    context = weights @ values                      (B, Tq, Dv)   what it sees

Soft attention is the expected value of the values under the weights, so it is differentiable end to end; the
weights are always returned, because reading them is half the point (``tinyattn.viz`` draws them).
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.scores import SCORES
from tinyattn.scaled_dot_product import attended_keys


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

    Padding cannot leak: the keys and values of a key masked for every query (False, or -inf in a float mask) are
    replaced by zeros before use, so garbage there (NaN, inf) changes neither the output nor any gradient; a weight
    of 0 alone would not do, since 0 * NaN = NaN. With a key mask (B, Tk) that is every masked key. A 3-D mask
    may hide a key from some queries only: that key is real data for the others, and must be finite. A float mask
    may hold finite numbers and -inf, not NaN or +inf (ValueError).
    """
    score = _score_function(score)
    query, keys, values, mask = _checks.attend("attend", query, keys, values, mask)
    if mask is not None:
        keys, values = hide_keys(keys, values, attended_keys(mask))
    scores = _checks.scores("attend", score(query, keys), score, query, keys)  # (B, Tk) or (B, Tq, Tk)
    single = query.ndim == 2
    if single:
        scores = scores.expand_dims(1)  # (B, Tk) -> (B, 1, Tk)
    weights = scores.softmax(axis=-1, mask=mask)  # (B, Tq, Tk); all zero where every key is masked
    context = weights @ values  # (B, Tq, Tk) @ (B, Tk, Dv) -> (B, Tq, Dv)
    if single:
        return context.squeeze(1), weights.squeeze(1)  # (B, Dv), (B, Tk)
    return context, weights


def hide_keys(keys, values, attended):
    """keys (B, Tk, Dk) and values (B, Tk, Dv) with zeros at the keys not `attended` (bool, broadcasting to
    (B, Tk)), differentiably: no gradient reaches a hidden key. `values` may be `keys` itself (a sequence attending
    to itself); it is then zeroed once.

    Returned as given when every key is attended, or when the unattended keys and values are zero already: the
    decoders hide the padded encoder states once, in ``Decoder.start``, then attend to them at every step. Reading
    the masked rows costs a few times less than rewriting them all (forward and backward) and adds no node to the
    graph. Skipping is exact for a score computed pair by pair (every score here): a zero key or value behind the
    mask contributes 0 to the output and gets a zero gradient either way.
    """
    hidden = np.broadcast_to(~attended, keys.shape[:2]).reshape(-1)  # (B, Tk) -> (B*Tk,)
    if not hidden.any() or not (_nonzero_rows(keys.data, hidden) or (values is not keys
                                                                      and _nonzero_rows(values.data, hidden))):
        return keys, values
    keep = attended[..., None]  # (B, Tk) -> (B, Tk, 1)
    hidden_keys = F.where(keep, keys, 0)
    return hidden_keys, (hidden_keys if values is keys else F.where(keep, values, 0))


def _nonzero_rows(array, rows):
    """Whether array (B, Tk, D) holds anything but zeros in the positions `rows` (B*Tk,) bool."""
    return np.compress(rows, array.reshape(-1, array.shape[-1]), axis=0).any()  # (B*Tk, D) -> (rows, D)


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
