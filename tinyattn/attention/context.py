"""Attention for classification: a learned query asks "which positions are informative?".

A classifier has no decoder state to attend from. Instead, the query is a parameter, trained with the rest of the
model, that stands for a fixed question asked of every sequence:

    u_t     = tanh(h_t W + b)                       (B, T, Da)   a hidden representation of each position
    scores  = u_t . u_ctx                           (B, T)       how well it matches the learned context vector
    weights = softmax(scores) over real positions   (B, T)
    output  = sum_t weights_t h_t                   (B, D)       one vector for the whole sequence

``ContextAttention`` is this single query (Yang et al., 2016, the word and sentence attention of Hierarchical
Attention Networks). ``StructuredSelfAttention`` asks r such questions at once, "hops" (Lin et al., 2017), and
``attention_penalty`` keeps the hops from all looking at the same place.

Masks follow tinyattn's one convention: boolean (B, T), True = a real position, False = padding.
"""
import math

import numpy as np

from tinyattn.attention import _checks
from tinyattn.attention.attend import attend, hide_keys
from tinyattn.nn import init
from tinyattn.nn.layers import Linear
from tinyattn.nn.module import Module, Parameter
from tinyattn.random import generator


class ContextAttention(Module):
    """Attention pooling with a learned context vector (Yang et al., 2016, "Hierarchical Attention Networks").

        u_t = tanh(h_t W + b),  weights = softmax_t(u_t . u_ctx),  output = sum_t weights_t h_t

    Shapes: h (B, T, D), mask (B, T) bool (True = a real position) or None -> output (B, D), weights (B, T).
    Parameters: ``projection`` (W (D, Da) and b (Da,), a Linear layer) and ``context_vector`` u_ctx (Da,).

    How it relates to ``attend``: it *is* ``attend(query, keys=h, values=h)`` with the query fixed to the learned
    u_ctx (the same for every sequence in the batch) and the score u_ctx . tanh(h_t W + b). That score is the
    additive score of Bahdanau et al. (``AdditiveScore``, v^T tanh(W q + U k)) with the query term W q replaced by
    a constant bias and v played by u_ctx. The code below calls ``attend`` exactly that way.

    A padded position gets a weight of exactly 0 and no gradient, and garbage there (NaN, inf) changes no output and
    no gradient. A row with no real position gets zero weights and a zero output, and every gradient through it is
    zero and finite (``attend``'s rules).
    """

    def __init__(self, input_size, attention_size, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("ContextAttention", input_size=input_size, attention_size=attention_size)
        rng = generator(rng)
        self.input_size, self.attention_size = input_size, attention_size
        self.projection = Linear(input_size, attention_size, dtype=dtype, rng=rng)
        bound = 1.0 / math.sqrt(attention_size)
        self.context_vector = init.uniform_(Parameter(np.empty(attention_size, dtype)), -bound, bound, rng)

    def forward(self, h, mask=None):
        """(output (B, D), weights (B, T)) for h (B, T, D) and mask (B, T) bool, True = real, or None."""
        h, mask = _checks.sequence("ContextAttention", h, mask, self.input_size, self.context_vector.dtype)
        query = self.context_vector.broadcast_to((h.shape[0], self.attention_size))  # (Da,) -> (B, Da)
        return attend(query, h, h, score=self.score, mask=mask)  # (B, D), (B, T)

    def score(self, query, keys):
        """scores = u_ctx . tanh(keys W + b): query (B, Da) (the context vector), keys (B, T, D) -> (B, T)."""
        hidden = self.projection(keys).tanh()  # (B, T, D) -> (B, T, Da)
        return (hidden @ query.expand_dims(2)).squeeze(2)  # (B, T, Da) @ (B, Da, 1) -> (B, T, 1) -> (B, T)

    def extra_repr(self):
        return f"{self.input_size}, attention_size={self.attention_size}"


class StructuredSelfAttention(Module):
    """r attention hops over one sequence, each with its own learned question (Lin et al., 2017, "A Structured
    Self-attentive Sentence Embedding").

        A = softmax_T(W2^T tanh(W1^T H^T))   (B, r, T): row i is hop i's weights over the positions
        M = A H                              (B, r, D): one summary of the sequence per hop

    Shapes: h = H (B, T, D), mask (B, T) bool (True = a real position) or None -> embedding M (B, r, D) and
    weights A (B, r, T). Parameters W1 ``first_weight`` (D, da) and W2 ``second_weight`` (da, r), no biases, as in
    the paper. With r = 1 this is ``ContextAttention`` without its bias: the column of W2 is the context vector.

    Every hop puts exactly 0 on padded positions and its weights sum to one over the real ones; a row with no real
    position gets all-zero weights and a zero embedding, with zero, finite gradients. Padded positions of h are
    replaced by zeros before use, so garbage there (NaN, inf) changes no output and no gradient.

    Nothing makes the hops differ; add ``self.penalty(weights)`` (``attention_penalty``), times a coefficient, to
    the loss to push them apart.
    """

    def __init__(self, input_size, attention_size, hops, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("StructuredSelfAttention", input_size=input_size, attention_size=attention_size, hops=hops)
        self.input_size, self.attention_size, self.hops = input_size, attention_size, hops
        rng = generator(rng)
        self.first_weight = init.xavier_uniform_(Parameter(np.empty((input_size, attention_size), dtype)), rng=rng)
        self.second_weight = init.xavier_uniform_(Parameter(np.empty((attention_size, hops), dtype)), rng=rng)

    def forward(self, h, mask=None):
        """(embedding (B, r, D), weights (B, r, T)) for h (B, T, D) and mask (B, T) bool, True = real, or None."""
        h, mask = _checks.sequence("StructuredSelfAttention", h, mask, self.input_size, self.first_weight.dtype)
        if mask is not None:
            h, _ = hide_keys(h, h, mask)  # zeros at padding: garbage there reaches no output or gradient
        hidden = (h @ self.first_weight).tanh()  # (B, T, D) @ (D, da) -> (B, T, da)
        scores = (hidden @ self.second_weight).swapaxes(1, 2)  # (B, T, da) @ (da, r) -> (B, T, r) -> (B, r, T)
        hop_mask = None if mask is None else mask[:, None, :]  # (B, T) -> (B, 1, T): the same positions for every hop
        weights = scores.softmax(axis=-1, mask=hop_mask)  # (B, r, T)
        return weights @ h, weights  # (B, r, T) @ (B, T, D) -> (B, r, D)

    def penalty(self, weights):
        """``attention_penalty(weights)``: mean over the batch of ||A A^T - I||_F^2."""
        return attention_penalty(weights)

    def extra_repr(self):
        return f"{self.input_size}, attention_size={self.attention_size}, hops={self.hops}"


def attention_penalty(weights):
    """P = mean over the batch of ||A A^T - I||_F^2 (Lin et al., 2017): weights A (B, r, T) -> a scalar Tensor.

    Each row of A sums to one, so (A A^T)_ii = sum_t A_it^2 reaches 1 only when hop i puts all its weight on one
    position, and (A A^T)_ij = 0 only when hops i and j share no position. P is therefore 0 exactly when every hop
    looks at a single position and no two hops look at the same one; it grows as the hops overlap or spread out.
    Unlike a KL divergence between hops, it does not push each hop towards many positions.

    Padding: the softmax puts 0 on padded positions and the rows still sum to one over the real positions, so P
    means the same whatever the padding. A sequence with no real position at all has A = 0, hence A A^T = 0 (a
    zero diagonal) and contributes ||I||_F^2 = r to the sum, with a zero gradient: a constant offset of r / B per
    such sequence, which does not change training. Leave such rows out before calling if the value matters.
    """
    weights = _checks.hop_weights("attention_penalty", weights)
    gram = weights @ weights.swapaxes(1, 2)  # (B, r, T) @ (B, T, r) -> (B, r, r)
    difference = gram - np.eye(weights.shape[1], dtype=weights.dtype)  # (B, r, r)
    return (difference * difference).sum(axis=(1, 2)).mean()  # squared Frobenius norm per row, then mean
