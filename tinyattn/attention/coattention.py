"""Two readers of a question and a passage that attend in both directions: co-attention and BiDAF's attention flow.

Both start from one score per (passage position, question position) pair and soft-max it both ways
(``tinyattn.attention.two_way.both_ways``): each passage position reads the question, each question position
reads the passage. They differ in the score and in what they do with the second direction:

- ``CoAttention`` (Xiong et al., 2016) scores by a dot product and feeds the passage summaries that the question
  read back through the passage's own attention: a second-level summary, attention over attention.
- ``BiDAFAttention`` (Seo et al., 2017) scores by a learned trilinear function and, in the second direction, asks
  which passage positions matter most to any question word, one distribution over the passage.

Names: the passage is the "document" in co-attention and the "context" in BiDAF, as in each paper. Masks follow
tinyattn's one convention: boolean (B, T), True = a real position, False = padding.
"""
import math
from typing import NamedTuple

import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.two_way import both_ways, hide_padding
from tinyattn.nn import init
from tinyattn.nn.layers import Linear
from tinyattn.nn.module import Module, Parameter
from tinyattn.random import generator
from tinyattn.tensor import Tensor


class CoAttentionOutput(NamedTuple):
    """What ``CoAttention`` returns, for a document of m positions and a question of n (the weights have one more
    column, the other side's sentinel, when the module has sentinels):

    document_context  (B, m, 2D)  C^D: for each document position, [what it reads of the question; what it reads
                                  of the question's summaries of the document]
    question_context  (B, n, D)   C^Q: for each question position, what it reads of the document
    document_weights  (B, m, n')  row i: document position i's distribution over the question (A^D)
    question_weights  (B, n, m')  row j: question position j's distribution over the document (A^Q)
    affinity          (B, m', n') L = D Q^T, sentinels included
    """
    document_context: Tensor
    question_context: Tensor
    document_weights: Tensor
    question_weights: Tensor
    affinity: Tensor


class CoAttention(Module):
    """The co-attention step of the dynamic coattention encoder (Xiong et al., 2016), rows as positions:

        Q'  = tanh(Q W + b)                     (B, n, D)    the question projected (`project_question`; else Q)
        L   = D Q'^T                            (B, m, n)    affinity: one score per (document, question) pair
        A^Q = softmax of L over the document    (B, n, m)    each question word's attention over the document
        A^D = softmax of L over the question    (B, m, n)    each document word's attention over the question
        C^Q = A^Q D                             (B, n, D)    the document as each question word reads it
        C^D = A^D [Q'; C^Q]                     (B, m, 2D)   the question, and C^Q, as each document word reads it

    The second half of C^D, A^D C^Q, is the second-level summary: a document word reads the question words'
    summaries of the document, so information flows document -> question -> document. The paper feeds [D; C^D]
    to a bidirectional LSTM; that, like the pointer decoder after it, is left to the model using this layer.

    Sentinels (``sentinel=True``, the paper): a learned vector is appended to each side as one more position that
    is never padding, so a word may attend to "nothing in particular". The question's sentinel is appended before
    the projection, so it is projected with the question words, as in the paper. The weights then have one more
    column (the last one, the sentinel's); the outputs keep only the real positions.

    Shapes: document (B, m, D), question (B, n, D), masks (B, m) and (B, n) bool (True = a real position) or None ->
    ``CoAttentionOutput``. Parameters: ``projection`` (W (D, D), b (D,)) when `project_question`, and the sentinels
    ``document_sentinel`` and ``question_sentinel`` (D,) when `sentinel`. Without either, the layer has no parameters
    and takes inputs of any float dtype.

    Padding: padded positions are replaced by zeros before use (garbage there reaches no output and no gradient),
    get no attention and attend nowhere (zero rows of weights and zero contexts). Without sentinels, a side with no
    real position gives the other side zero weights and zero contexts, with zero, finite gradients.
    """

    def __init__(self, input_size, sentinel=True, project_question=True, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("CoAttention", input_size=input_size)
        rng = generator(rng)
        self.input_size, self.sentinel, self.project_question = input_size, bool(sentinel), bool(project_question)
        self.projection = Linear(input_size, input_size, dtype=dtype, rng=rng) if project_question else None
        if sentinel:
            bound = 1.0 / math.sqrt(input_size)
            self.document_sentinel = init.uniform_(Parameter(np.empty(input_size, dtype)), -bound, bound, rng)
            self.question_sentinel = init.uniform_(Parameter(np.empty(input_size, dtype)), -bound, bound, rng)

    def forward(self, document, question, document_mask=None, question_mask=None):
        """``CoAttentionOutput`` for document (B, m, D), question (B, n, D) and their masks (True = real) or None."""
        first = next(iter(self.parameters()), None)  # no parameters: any float dtype will do
        document, question, document_mask, question_mask = _checks.pair(
            "CoAttention", document, question, document_mask, question_mask, names=("document", "question"),
            size=self.input_size, dtype=None if first is None else first.dtype)
        m, n = document.shape[1], question.shape[1]
        document, question = hide_padding(document, document_mask), hide_padding(question, question_mask)
        if self.sentinel:
            document, document_mask = _with_sentinel(document, document_mask, self.document_sentinel)  # m -> m + 1
            question, question_mask = _with_sentinel(question, question_mask, self.question_sentinel)  # n -> n + 1
        if self.project_question:  # Q' = tanh(Q W + b), the sentinel included, as in the paper
            question = hide_padding(self.projection(question).tanh(), question_mask)  # tanh(b) at padding: hide again
        affinity = document @ question.swapaxes(1, 2)  # (B, m', D) @ (B, D, n') -> (B, m', n')
        document_weights, question_weights = both_ways(affinity, document_mask, question_mask)  # A^D, A^Q
        question_context = question_weights @ document  # (B, n', m') @ (B, m', D) -> (B, n', D): C^Q
        both = F.concatenate([question, question_context], axis=2)  # (B, n', 2D): [Q'; C^Q]
        document_context = document_weights @ both  # (B, m', n') @ (B, n', 2D) -> (B, m', 2D): C^D
        return CoAttentionOutput(document_context[:, :m], question_context[:, :n], document_weights[:, :m],
                                 question_weights[:, :n], affinity)

    def extra_repr(self):
        return f"{self.input_size}, sentinel={self.sentinel}, project_question={self.project_question}"


def _with_sentinel(x, mask, sentinel):
    """x (B, T, D) with the sentinel (D,) appended as position T, and its mask (B, T) with a True for it."""
    batch = x.shape[0]
    extra = sentinel.broadcast_to((batch, 1, sentinel.shape[0]))  # (D,) -> (B, 1, D)
    if mask is not None:
        mask = np.concatenate([mask, np.ones((batch, 1), bool)], axis=1)  # (B, T) -> (B, T + 1)
    return F.concatenate([x, extra], axis=1), mask  # (B, T + 1, D)


class BiDAFOutput(NamedTuple):
    """What ``BiDAFAttention`` returns, for a context of T positions and a query of J:

    output              (B, T, 4D)  G = [c; c~; c * c~; c * h~], zero at padded context positions
    context_to_query    (B, T, J)   a: row t, context position t's distribution over the query words
    query_to_context    (B, T)      b: one distribution over the context, the positions most like some query word
    similarity          (B, T, J)   S, the trilinear scores
    """
    output: Tensor
    context_to_query: Tensor
    query_to_context: Tensor
    similarity: Tensor


class BiDAFAttention(Module):
    """The attention flow layer of BiDAF (Seo et al., 2017, "Bidirectional Attention Flow for Machine Comprehension").

        S_tj = w^T [c_t; q_j; c_t * q_j]          (B, T, J)   trilinear similarity, w = ``weight`` (3D,)
        a_t  = softmax_j S_tj,  c~_t = sum_j a_tj q_j        context-to-query: the query as position t reads it
        b    = softmax_t max_j S_tj,  h~ = sum_t b_t c_t     query-to-context: the context positions that matter
                                                             most to some query word, one summary for all t
        G_t  = [c_t; c~_t; c_t * c~_t; c_t * h~]  (B, T, 4D)

    The first two terms of S are a score for c_t alone and one for q_j alone; the third, a weighted dot product,
    compares them. S is computed without the (B, T, J, 3D) concatenation: w_c . c_t + w_q . q_j + (c_t * w_cq) . q_j.

    Shapes: context (B, T, D) (the paper's H, outputs of a contextual encoder), query (B, J, D) (its U), masks (B, T)
    and (B, J) bool (True = a real position) or None -> ``BiDAFOutput``. The paper's modelling and output layers
    (an LSTM over G, pointers for the answer's start and end) are left to the model using this layer.

    Padding: padded positions are replaced by zeros before use (garbage there reaches no output and no gradient).
    A padded query word gets weight 0 and is left out of the max; a padded context position gets no
    query-to-context weight, a zero row of context-to-query weights and a zero row of G. With no real query word,
    c~ = 0 and every real context position ties in b (uniform); with no real context position, G and both
    attentions are zero (S is not: its query term w_q . q_j remains). Gradients stay finite in every case.
    """

    def __init__(self, input_size, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("BiDAFAttention", input_size=input_size)
        self.input_size = input_size
        bound = 1.0 / math.sqrt(3 * input_size)
        self.weight = init.uniform_(Parameter(np.empty(3 * input_size, dtype)), -bound, bound, generator(rng))

    def forward(self, context, query, context_mask=None, query_mask=None):
        """``BiDAFOutput`` for context (B, T, D), query (B, J, D) and their masks (True = real) or None."""
        context, query, context_mask, query_mask = _checks.pair(
            "BiDAFAttention", context, query, context_mask, query_mask, names=("context", "query"),
            size=self.input_size, dtype=self.weight.dtype)
        context, query = hide_padding(context, context_mask), hide_padding(query, query_mask)
        similarity = self.similarity(context, query)  # (B, T, J)
        context_to_query, _ = both_ways(similarity, context_mask, query_mask)  # (B, T, J), over J
        attended_query = context_to_query @ query  # (B, T, J) @ (B, J, D) -> (B, T, D): c~
        query_to_context = self._query_to_context(similarity, context_mask, query_mask)  # (B, T), over T
        attended_context = (query_to_context.expand_dims(1) @ context)  # (B, 1, T) @ (B, T, D) -> (B, 1, D): h~
        output = F.concatenate([context, attended_query, context * attended_query, context * attended_context],
                               axis=2)  # (B, T, 4D); h~ broadcast over T
        if context_mask is not None:
            output = F.where(context_mask[:, :, None], output, 0.0)
        return BiDAFOutput(output, context_to_query, query_to_context, similarity)

    def similarity(self, context, query):
        """S_tj = w_c . c_t + w_q . q_j + (c_t * w_cq) . q_j for context (B, T, D) and query (B, J, D) -> (B, T, J)."""
        size = self.input_size
        context_weight, query_weight = self.weight[:size], self.weight[size:2 * size]
        product_weight = self.weight[2 * size:]
        alone = (context @ context_weight).expand_dims(2) + (query @ query_weight).expand_dims(1)  # (B, T, J)
        return alone + (context * product_weight) @ query.swapaxes(1, 2)  # (B, T, D) @ (B, D, J) -> (B, T, J)

    @staticmethod
    def _query_to_context(similarity, context_mask, query_mask):
        """b = softmax over the real context positions of max_j S_tj, the max over the real query words."""
        if query_mask is None:
            best = similarity.max(axis=2)  # (B, T)
        else:
            best = F.where(query_mask[:, None, :], similarity, -np.inf).max(axis=2)  # (B, T); -inf with no query
            best = F.where(query_mask.any(axis=1, keepdims=True), best, 0.0)  # no real query word: all tie at 0
        return best.softmax(axis=-1, mask=context_mask)

    def extra_repr(self):
        return f"{self.input_size}"
