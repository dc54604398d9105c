"""Encoder-decoder (seq2seq) models with attention: read a source sequence, write a target sequence.

    encoder = Seq2SeqEncoder(vocab_size=20, embed_size=32, hidden_size=64)
    decoder = LuongDecoder(20, 32, 64, encoder.output_size, score="general", attention="global")
    model = Seq2Seq(encoder, decoder, bos_id=1, eos_id=2, pad_id=0)
    loss = model.loss(source_ids, source_mask, target_ids)         # teacher forcing, mean cross-entropy
    ids, weights = model.beam_search(source_ids, source_mask, beam_size=4, max_length=30)

The encoder turns the source x_1..x_S into states h_1..h_S (one per position, read both ways) and a summary. Without
attention (``PlainDecoder``) the decoder sees the summary alone, a fixed vector that must hold the whole input, and
quality drops as inputs grow (Cho et al., 2014). With attention (``BahdanauDecoder``, ``LuongDecoder``) each output
step looks back at every h_s, weighting them by how well they match its state: weights (B, T, S), one row per output
step, show where the model looked (the "alignment"; ``tinyattn.viz.heatmap_svg`` draws it). Attention costs one score
per (output step, source position) pair: time and memory grow as T * S.

Shapes: source_ids (B, S) int, source_mask (B, S) bool True = a real token (padding at the end of each row),
target_ids (B, T) int: the target tokens, then eos, then pad_id.
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.decoders import Decoder
from tinyattn.attention.decoding import beam_search, greedy_search
from tinyattn.engine import no_grad
from tinyattn.nn.layers import Embedding
from tinyattn.nn.module import Module
from tinyattn.nn.recurrent import GRU
from tinyattn.primitive import as_array
from tinyattn.random import generator


class Seq2SeqEncoder(Module):
    """A bidirectional GRU over the embedded source (Bahdanau, Cho & Bengio, 2014): h_s = [h->_s; h<-_s].

    forward(source_ids (B, S) int, source_mask (B, S) bool True = real) -> (states (B, S, 2H), final (B, 2H)), with
    final = [last forward state; last backward state]: the forward GRU's state after each row's last real token and
    the backward GRU's after reading back to the first. Padded positions get zero states. ``output_size`` = 2H.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, padding_idx=0, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("Seq2SeqEncoder", vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size)
        rng = generator(rng)
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx, dtype=dtype, rng=rng)
        self.gru = GRU(embed_size, hidden_size, batch_first=True, bidirectional=True, dtype=dtype, rng=rng)

    @property
    def output_size(self):
        return 2 * self.hidden_size

    @property
    def dtype(self):
        return self.embedding.weight.dtype

    def forward(self, source_ids, source_mask):
        source_mask = _checks.source("Seq2SeqEncoder", source_ids, source_mask, self.vocab_size)
        states, final = self.gru(self.embedding(source_ids), mask=source_mask)  # (B, S, 2H), (2, B, H)
        return states, F.concatenate([final[0], final[1]], axis=-1)  # (2, B, H) -> (B, 2H)


class Seq2Seq(Module):
    """An encoder and a decoder, trained by teacher forcing and decoded by greedy or beam search.

    `bos_id` starts every output (it is fed as y_0, never predicted), `eos_id` ends it, `pad_id` fills the targets
    after eos (ignored by the loss) and the decoded rows after eos.
    """

    def __init__(self, encoder, decoder, bos_id, eos_id, pad_id):
        super().__init__()
        if not isinstance(decoder, Decoder):
            raise TypeError(f"Seq2Seq: decoder must be a PlainDecoder, BahdanauDecoder or LuongDecoder, got "
                            f"{type(decoder).__name__}")
        _checks.encoder_decoder("Seq2Seq", encoder, decoder, {"bos_id": bos_id, "eos_id": eos_id, "pad_id": pad_id})
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = int(bos_id), int(eos_id), int(pad_id)

    def forward(self, source_ids, source_mask, target_in):
        """Teacher forcing: logits (B, T, V) for target_in (B, T) (the tokens fed in, starting with bos) and the
        attention weights (B, T, S) (None for the PlainDecoder)."""
        states, final = self.encoder(source_ids, source_mask)
        return self.decoder(states, final, as_array(source_mask), target_in)

    def loss(self, source_ids, source_mask, target_ids):
        """Mean cross-entropy over the non-pad target tokens: -mean log p(y_t | y_<t, x), fed [bos] + y_<T.

        target_ids (B, T) int: each row its tokens, eos, then pad_id.
        """
        batch = as_array(source_ids).shape[0]
        targets = _checks.token_ids("Seq2Seq.loss", "target_ids", target_ids, batch, 2, source_ids=source_ids)
        targets = targets.astype(np.int64, copy=False)
        bos = np.full((targets.shape[0], 1), self.bos_id, dtype=targets.dtype)
        target_in = np.concatenate([bos, targets[:, :-1]], axis=1)  # (B, T): shifted right by one
        logits, _ = self(source_ids, source_mask, target_in)
        return F.cross_entropy(logits, targets, ignore_index=self.pad_id)

    def greedy(self, source_ids, source_mask, max_length):
        """The most probable token at each step, until eos or max_length: ids (B, L) int64 and weights (B, L, S)
        (an array, None for the PlainDecoder); L <= max_length; after eos a row holds pad_id and zero weights."""
        _checks.sizes("Seq2Seq.greedy", max_length=max_length)
        states, final, mask = self._encode(source_ids, source_mask)
        return greedy_search(self.decoder, states, final, mask, self.bos_id, self.eos_id, self.pad_id, max_length)

    def beam_search(self, source_ids, source_mask, beam_size=4, max_length=50, length_penalty=0.0):
        """Beam search (see tinyattn.attention.decoding.beam_search): each row's best hypothesis by
        log p(y | x) / length ** length_penalty, as ids (B, L) int64 and weights (B, L, S) or None, as greedy.
        beam_size = 1 gives exactly greedy's result. beam_size and max_length are integers >= 1, length_penalty a
        finite number >= 0 (TypeError or ValueError otherwise)."""
        _checks.sizes("Seq2Seq.beam_search", max_length=max_length, beam_size=beam_size)
        _checks.length_penalty("Seq2Seq.beam_search", length_penalty)
        states, final, mask = self._encode(source_ids, source_mask)
        return beam_search(self.decoder, states, final, mask, self.bos_id, self.eos_id, self.pad_id, int(beam_size),
                           max_length, length_penalty)

    def _encode(self, source_ids, source_mask):
        with no_grad():
            states, final = self.encoder(source_ids, source_mask)
        return states, final, as_array(source_mask)
