"""Hierarchical Attention Network (Yang et al., 2016): documents are sentences of words, attended at both levels.

    words          ids (B, S, W) -> embeddings of the N real sentences    (N, W, E)
    word level     a bidirectional GRU over each sentence's words         (N, W, 2Hw)
                   ContextAttention: which words matter in this sentence  -> sentence vectors (B, S, 2Hw)
    sentence level a bidirectional GRU over each document's sentences     (B, S, 2Hs)
                   ContextAttention: which sentences matter               -> document vector (B, 2Hs)
    classifier     Linear                                                 -> logits (B, C)

Both levels' weights come back with the logits: they say which words of which sentences the prediction rests on
(``tinyattn.viz.highlight_document`` draws them).
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.context import ContextAttention
from tinyattn.nn.layers import Embedding, Linear
from tinyattn.nn.module import Module
from tinyattn.nn.recurrent import GRU
from tinyattn.random import generator


class HierarchicalAttentionNetwork(Module):
    """A document classifier with word-level and sentence-level attention (Yang et al., 2016).

        sentence_s = sum_w alpha_sw h_sw,  h_sw = BiGRU_words(embed(ids_s))_w,   alpha_s = softmax_w(u_sw . u_word)
        document   = sum_s beta_s g_s,     g_s = BiGRU_sentences(sentence)_s,    beta = softmax_s(v_s . u_sentence)
        logits     = document W_c + b_c

    with u_sw = tanh(h_sw W_w + b_w) and v_s = tanh(g_s W_s + b_s) (``ContextAttention`` at each level).

    forward(ids (B, S, W) int, mask (B, S, W) bool or None) -> (logits (B, C), word_weights (B, S, W),
    sentence_weights (B, S)). The mask is True for a real word; by default ``ids != padding_idx`` (every word is
    real when padding_idx is None).

    Padding: a padded word is skipped by the word GRU and gets word weight 0; a sentence with no real word is a
    padded sentence, skipped by the sentence GRU, with sentence weight 0 and all-zero word weights. Adding padded
    words or sentences leaves the logits and the real weights unchanged, and whatever an encoder leaves at padded
    positions (NaN, inf) reaches no output and no gradient (``ContextAttention`` zeroes them). A document with no
    real word at all is an error (ShapeError): it has nothing to classify, and a prediction from the classifier's
    bias alone would pass silently.

    Cost: the word GRU and the word attention run on the real sentences only, gathered from all B*S of them, and
    their results are put back in place with zeros for the padded sentences.
    """

    def __init__(self, vocab_size, embed_size, word_hidden_size, sentence_hidden_size, attention_size,
                 num_classes, padding_idx=0, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes(type(self).__name__, vocab_size=vocab_size, embed_size=embed_size,
                      word_hidden_size=word_hidden_size, sentence_hidden_size=sentence_hidden_size,
                      attention_size=attention_size, num_classes=num_classes)
        rng = generator(rng)
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx, dtype=dtype, rng=rng)
        # The embedding's padding_idx, counted from 0 (it accepts -1 for the last row): the default mask compares
        # the ids with it.
        self.vocab_size, self.num_classes, self.padding_idx = vocab_size, num_classes, self.embedding.padding_idx
        self.word_encoder = GRU(embed_size, word_hidden_size, batch_first=True, bidirectional=True, dtype=dtype,
                                rng=rng)
        self.word_attention = ContextAttention(2 * word_hidden_size, attention_size, dtype=dtype, rng=rng)
        self.sentence_encoder = GRU(2 * word_hidden_size, sentence_hidden_size, batch_first=True,
                                    bidirectional=True, dtype=dtype, rng=rng)
        self.sentence_attention = ContextAttention(2 * sentence_hidden_size, attention_size, dtype=dtype, rng=rng)
        self.classifier = Linear(2 * sentence_hidden_size, num_classes, dtype=dtype, rng=rng)

    def forward(self, ids, mask=None):
        """(logits (B, C), word_weights (B, S, W), sentence_weights (B, S)) for ids (B, S, W) and an optional
        mask (B, S, W) bool, True = a real word (default: ids != padding_idx)."""
        ids, word_mask = _checks.documents(type(self).__name__, ids, mask, self.vocab_size, self.padding_idx)
        batch, sentences, words = ids.shape
        sentence_mask = word_mask.any(axis=2)  # (B, S): a sentence is real if it has a real word
        # The word level runs on the N real sentences only (a padded sentence would cost as much and give zeros).
        real = np.flatnonzero(sentence_mask.reshape(-1))  # indices into the B*S sentences, N of them
        real_mask = word_mask.reshape(batch * sentences, words)[real]  # (B*S, W) -> (N, W)
        embedded = self.embedding(ids.reshape(batch * sentences, words)[real])  # (N, W) -> (N, W, E)

        word_states, _ = self.word_encoder(embedded, mask=real_mask)  # (N, W, 2Hw); zeros at padded words
        sentence_vectors, word_weights = self.word_attention(word_states, real_mask)  # (N, 2Hw), (N, W)
        sentence_vectors = _place_rows(sentence_vectors, real, (batch, sentences))  # (N, 2Hw) -> (B, S, 2Hw)
        word_weights = _place_rows(word_weights, real, (batch, sentences))  # (N, W) -> (B, S, W)

        sentence_states, _ = self.sentence_encoder(sentence_vectors, mask=sentence_mask)  # (B, S, 2Hs)
        document, sentence_weights = self.sentence_attention(sentence_states, sentence_mask)  # (B, 2Hs), (B, S)
        return self.classifier(document), word_weights, sentence_weights  # (B, C), (B, S, W), (B, S)

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, num_classes={self.num_classes}, padding_idx={self.padding_idx}"


def _place_rows(values, rows, leading_shape):
    """values (N, ...) put at the flat positions `rows` of a zero tensor (*leading_shape, ...), differentiably.

    A gather from [zeros; values]: position p takes row 1 + k if p == rows[k], else row 0 (zeros), so the
    gradient of each row of `values` is the gradient at its own position and padded positions pass none.
    """
    source = np.zeros(int(np.prod(leading_shape)), np.int64)  # every position reads the zero row ...
    source[rows] = np.arange(1, len(rows) + 1)  # ... except the real ones, which read their own row
    table = F.concatenate([np.zeros((1,) + values.shape[1:], values.dtype), values], axis=0)  # (1 + N, ...)
    return F.take(table, source.reshape(leading_shape), axis=0)  # (N + 1, ...) -> (*leading_shape, ...)
