"""Attention between two inputs: when the input is a pair (a question and a passage, a premise and a hypothesis),
each side attends to the other.

Everything here starts from one matrix of similarities, one per pair of positions:

    D = x1 x2^T                                     (B, T1, T2)   D[b, i, j] = x1_i . x2_j

and reads it in two directions. ``two_way_attention`` sums it over the other input and gives each input one weight
per position (which positions of x1 matter to x2 as a whole, and the reverse). ``mutual_attention`` soft-maxes it
along each axis instead, so every position of x1 gets its own distribution over x2 and the reverse: the "attend"
step of co-attention (``CoAttention``), BiDAF (``BiDAFAttention``) and decomposable attention
(``DecomposableAttention``), which build on it.

Masks follow tinyattn's one convention: boolean (B, T), True = a real position, False = padding; one per input.
"""
from typing import NamedTuple

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.tensor import Tensor


class TwoWayOutput(NamedTuple):
    """What ``two_way_attention`` returns.

    attended1   (B, T1, D)   x1 with each position scaled by its weight: A1[..., None] * x1
    attended2   (B, T2, D)   x2 likewise: A2[..., None] * x2
    weights1    (B, T1)      A1, a distribution over the positions of x1
    weights2    (B, T2)      A2, a distribution over the positions of x2
    similarity  (B, T1, T2)  D = x1 x2^T
    """
    attended1: Tensor
    attended2: Tensor
    weights1: Tensor
    weights2: Tensor
    similarity: Tensor


class MutualOutput(NamedTuple):
    """What ``mutual_attention`` returns.

    summary1    (B, T1, D)   for each position of x1, what it sees of x2: weights1 @ x2
    summary2    (B, T2, D)   for each position of x2, what it sees of x1: weights2 @ x1
    weights1    (B, T1, T2)  row i: position i of x1's distribution over the positions of x2
    weights2    (B, T2, T1)  row j: position j of x2's distribution over the positions of x1
    similarity  (B, T1, T2)  D = x1 x2^T
    """
    summary1: Tensor
    summary2: Tensor
    weights1: Tensor
    weights2: Tensor
    similarity: Tensor


def two_way_attention(x1, x2, mask1=None, mask2=None):
    """Each input re-weighted by how well its positions match the other input as a whole.

        D  = x1 x2^T                                  (B, T1, T2)
        A1 = softmax over T1 of sum_j D[:, :, j]      (B, T1)      how much each position of x1 matters to x2
        A2 = softmax over T2 of sum_i D[:, i, :]      (B, T2)      how much each position of x2 matters to x1
        attended1 = A1[..., None] * x1,  attended2 = A2[..., None] * x2

    Shapes: x1 (B, T1, D), x2 (B, T2, D), masks (B, T1) and (B, T2) bool (True = a real position) or None. Returns a
    ``TwoWayOutput`` (attended1, attended2, weights1, weights2, similarity). ``attended1.sum(axis=1)`` is x1's
    attention summary (B, D), the weighted mean of its positions.

    What the summed similarity means: sum_j x1_i . x2_j = x1_i . (sum_j x2_j), the dot product of position i with
    the sum of x2's positions, so A1 favours the positions of x1 that point the way x2 does on the whole. It grows
    with T2 (a sum, not a mean): longer inputs give sharper weights.

    The formula comes as a TensorFlow snippet, ``softmax(expand_dims(reduce_sum(D, axis=2), 2))``. TensorFlow's
    softmax works on the last axis, which after ``expand_dims`` has size 1, so taken literally every weight is
    exactly 1 and x1 comes back unchanged: nothing is attended. This function does what the snippet evidently
    means, a softmax over the positions (T1 for A1, T2 for A2); the tests keep the literal version, to show that it
    is the identity.

    Padding: padded positions are replaced by zeros before use, so they add nothing to the sums and garbage there
    (NaN, inf) reaches no output and no gradient; they get a weight of exactly 0 and a zero attended row. An input
    with no real position gets zero weights and zero attended rows, with zero, finite gradients. (The other input's
    positions then all score 0, so its weights are uniform over its real positions.)
    """
    x1, x2, mask1, mask2 = _checks.pair("two_way_attention", x1, x2, mask1, mask2, mask_names=("mask1", "mask2"))
    x1, x2 = hide_padding(x1, mask1), hide_padding(x2, mask2)
    similarity = x1 @ x2.swapaxes(1, 2)  # (B, T1, D) @ (B, D, T2) -> (B, T1, T2)
    weights1 = similarity.sum(axis=2).softmax(axis=-1, mask=mask1)  # (B, T1, T2) -> (B, T1), over T1
    weights2 = similarity.sum(axis=1).softmax(axis=-1, mask=mask2)  # (B, T1, T2) -> (B, T2), over T2
    return TwoWayOutput(weights1.expand_dims(2) * x1, weights2.expand_dims(2) * x2, weights1, weights2, similarity)


def mutual_attention(x1, x2, mask1=None, mask2=None):
    """Every position of each input attends over the positions of the other.

        D        = x1 x2^T                           (B, T1, T2)
        weights1 = softmax of D over T2               (B, T1, T2)   row i: where position i of x1 looks in x2
        weights2 = softmax of D^T over T1             (B, T2, T1)   row j: where position j of x2 looks in x1
        summary1 = weights1 @ x2,  summary2 = weights2 @ x1

    Shapes: x1 (B, T1, D), x2 (B, T2, D), masks (B, T1) and (B, T2) bool (True = a real position) or None. Returns a
    ``MutualOutput`` (summary1, summary2, weights1, weights2, similarity).

    This is soft attention (``attend`` with the dot score) run both ways over one similarity matrix: x1's positions
    as queries over x2, and x2's as queries over x1. It is the alignment step of co-attention (Xiong et al., 2016),
    BiDAF's context-to-query attention (Seo et al., 2017) and decomposable attention (Parikh et al., 2016).

    Padding: padded positions are replaced by zeros before use (garbage there reaches no output and no gradient);
    no position looks at a padded one (weight exactly 0), and a padded position looks nowhere (a zero row of
    weights, a zero summary). A position whose other input has no real position gets zero weights and a zero
    summary, with zero, finite gradients.
    """
    x1, x2, mask1, mask2 = _checks.pair("mutual_attention", x1, x2, mask1, mask2, mask_names=("mask1", "mask2"))
    x1, x2 = hide_padding(x1, mask1), hide_padding(x2, mask2)
    similarity = x1 @ x2.swapaxes(1, 2)  # (B, T1, D) @ (B, D, T2) -> (B, T1, T2)
    weights1, weights2 = both_ways(similarity, mask1, mask2)
    return MutualOutput(weights1 @ x2, weights2 @ x1, weights1, weights2, similarity)


def both_ways(similarity, mask1, mask2):
    """The two soft alignments of a similarity matrix (B, T1, T2) between two inputs with masks (B, T1) and
    (B, T2) (True = real, or None): weights1 (B, T1, T2), a softmax over T2, and weights2 (B, T2, T1), a softmax
    over T1. Pairs with a padded position on either side get weight exactly 0, so a padded position's row is zero.
    """
    pairs = _pair_mask(mask1, mask2)  # (B, T1, T2), (B, 1, T2), (B, T1, 1) or None
    weights1 = similarity.softmax(axis=2, mask=pairs)  # (B, T1, T2), over T2
    weights2 = similarity.softmax(axis=1, mask=pairs).swapaxes(1, 2)  # over T1, then (B, T1, T2) -> (B, T2, T1)
    return weights1, weights2


def _pair_mask(mask1, mask2):
    """True where both positions of a pair are real: (B, T1) and (B, T2) -> a mask broadcasting to (B, T1, T2)."""
    if mask1 is None and mask2 is None:
        return None
    if mask1 is None:
        return mask2[:, None, :]  # (B, T2) -> (B, 1, T2)
    if mask2 is None:
        return mask1[:, :, None]  # (B, T1) -> (B, T1, 1)
    return mask1[:, :, None] & mask2[:, None, :]  # (B, T1, 1) & (B, 1, T2) -> (B, T1, T2)


def hide_padding(x, mask):
    """x (B, T, D) with zeros at its padded positions, or x itself without a mask.

    Always through ``where``, even where the padding holds zeros already (``hide_keys`` would skip it then): these
    functions return the similarity matrix itself, whose gradient would otherwise reach a padded position through
    its zero row. After ``where``, no gradient reaches a padded position, whatever it holds."""
    return x if mask is None else F.where(mask[:, :, None], x, 0.0)  # (B, T, 1) broadcast over D
