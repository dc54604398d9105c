"""Decomposable attention (Parikh et al., 2016): a sentence-pair classifier that aligns words instead of encoding
sentences.

Natural language inference asks whether a premise a entails a hypothesis b, contradicts it, or neither. Much of
the answer is local: "a dog runs" against "an animal moves" is decided word by word, once each word knows its
counterpart. So the model has no recurrent encoder at all, three steps on single words:

    attend     e_ij = F(a_i) . F(b_j)                           (B, la, lb)  how well a_i and b_j match
               beta_i  = sum_j softmax_j(e_ij) b_j               (B, la, D)   the part of b aligned with a_i
               alpha_j = sum_i softmax_i(e_ij) a_i               (B, lb, D)   the part of a aligned with b_j
    compare    v1_i = G([a_i; beta_i]),  v2_j = G([b_j; alpha_j])            each word against its counterpart
    aggregate  v1 = sum_i v1_i,  v2 = sum_j v2_j,  logits = H([v1; v2])      (B, C)

F, G and H are small feed-forward networks with ReLUs. Word order is invisible to it (the paper adds an optional
intra-sentence attention for that, not built here); it needs few parameters and parallelises over words.
"""
from typing import NamedTuple

import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.two_way import both_ways, hide_padding
from tinyattn.nn.layers import Dropout, Linear
from tinyattn.nn.module import Module
from tinyattn.random import generator
from tinyattn.tensor import Tensor


class DecomposableOutput(NamedTuple):
    """What ``DecomposableAttention`` returns, for a premise of la words and a hypothesis of lb:

    logits              (B, C)       one score per class, for ``F.cross_entropy``
    premise_weights     (B, la, lb)  row i: premise word i's distribution over the hypothesis (the softmax in beta)
    hypothesis_weights  (B, lb, la)  row j: hypothesis word j's distribution over the premise (the softmax in alpha)
    scores              (B, la, lb)  e_ij = F(a_i) . F(b_j)
    """
    logits: Tensor
    premise_weights: Tensor
    hypothesis_weights: Tensor
    scores: Tensor


class DecomposableAttention(Module):
    """The decomposable attention model for sentence pairs (Parikh et al., 2016, "A Decomposable Attention Model
    for Natural Language Inference"): attend, compare, aggregate (see the module docstring for the formulas).

    Shapes: premise a (B, la, D) and hypothesis b (B, lb, D), word vectors (embedded, maybe projected), masks (B, la)
    and (B, lb) bool (True = a real word) or None -> ``DecomposableOutput`` with logits (B, num_classes).

    Parameters: ``attend_network`` F (D -> H -> H), ``compare_network`` G (2D -> H -> H), ``aggregate_network`` H
    (2H -> H -> H) followed by ``classifier`` (H -> num_classes); each network is two linear layers, each followed
    by a ReLU, with dropout (probability `dropout`, training mode only) after each ReLU.

    Padding: padded words are replaced by zeros before use (garbage there reaches no output and no gradient); they
    are aligned with nothing (zero rows of weights), nothing aligns with them, and their compared vectors are left
    out of the sums. A sentence with no real word aggregates to v = 0; the other sentence's words then align with
    nothing (beta = 0 or alpha = 0). Gradients stay finite in every case.
    """

    def __init__(self, input_size, hidden_size, num_classes, dropout=0.0, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("DecomposableAttention", input_size=input_size, hidden_size=hidden_size,
                      num_classes=num_classes)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DecomposableAttention: dropout must be in [0, 1); got dropout={dropout!r}")
        draws = generator(rng)
        dropout_rng = None if rng is None else draws
        self.input_size, self.hidden_size, self.num_classes = input_size, hidden_size, num_classes
        self.attend_network = _Perceptron(input_size, hidden_size, dropout, dtype, draws, dropout_rng)  # F
        self.compare_network = _Perceptron(2 * input_size, hidden_size, dropout, dtype, draws, dropout_rng)  # G
        self.aggregate_network = _Perceptron(2 * hidden_size, hidden_size, dropout, dtype, draws, dropout_rng)  # H
        self.classifier = Linear(hidden_size, num_classes, dtype=dtype, rng=draws)

    def forward(self, premise, hypothesis, premise_mask=None, hypothesis_mask=None):
        """``DecomposableOutput`` for premise (B, la, D), hypothesis (B, lb, D) and their masks (True = real)."""
        premise, hypothesis, premise_mask, hypothesis_mask = _checks.pair(
            "DecomposableAttention", premise, hypothesis, premise_mask, hypothesis_mask,
            names=("premise", "hypothesis"), size=self.input_size, dtype=self.classifier.weight.dtype)
        premise, hypothesis = hide_padding(premise, premise_mask), hide_padding(hypothesis, hypothesis_mask)
        # attend
        scores = self.attend_network(premise) @ self.attend_network(hypothesis).swapaxes(1, 2)  # (B, la, lb)
        premise_weights, hypothesis_weights = both_ways(scores, premise_mask, hypothesis_mask)
        aligned_hypothesis = premise_weights @ hypothesis  # (B, la, lb) @ (B, lb, D) -> (B, la, D): beta
        aligned_premise = hypothesis_weights @ premise  # (B, lb, la) @ (B, la, D) -> (B, lb, D): alpha
        # compare
        compared_premise = self.compare_network(F.concatenate([premise, aligned_hypothesis], axis=2))  # (B, la, H)
        compared_hypothesis = self.compare_network(F.concatenate([hypothesis, aligned_premise], axis=2))  # (B, lb, H)
        # aggregate
        summary = F.concatenate([_sum_real(compared_premise, premise_mask),
                                 _sum_real(compared_hypothesis, hypothesis_mask)], axis=1)  # (B, 2H)
        logits = self.classifier(self.aggregate_network(summary))  # (B, 2H) -> (B, H) -> (B, C)
        return DecomposableOutput(logits, premise_weights, hypothesis_weights, scores)

    def extra_repr(self):
        return f"{self.input_size}, hidden_size={self.hidden_size}, num_classes={self.num_classes}"


class _Perceptron(Module):
    """x -> relu(relu(x W1 + b1) W2 + b2), dropout after each ReLU: the paper's F, G and H (input -> H -> H)."""

    def __init__(self, input_size, hidden_size, dropout, dtype, rng, dropout_rng):
        super().__init__()
        self.first = Linear(input_size, hidden_size, dtype=dtype, rng=rng)
        self.second = Linear(hidden_size, hidden_size, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=dropout_rng)

    def forward(self, x):
        hidden = self.dropout(self.first(x).relu())  # (..., input) -> (..., H)
        return self.dropout(self.second(hidden).relu())  # (..., H) -> (..., H)


def _sum_real(x, mask):
    """sum over the real positions of x (B, T, H) -> (B, H); mask (B, T) bool or None."""
    if mask is not None:
        x = F.where(mask[:, :, None], x, 0.0)  # G([0; 0]) is not 0: padded words must be left out explicitly
    return x.sum(axis=1)
