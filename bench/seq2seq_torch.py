"""The models of tinyattn.attention written in torch, for bench/seq2seq.py (not a benchmark itself: run.py skips it).

Each class mirrors one tinyattn model: the same layers, the same formulas, and parameters under the same names, so
that ``copy_weights`` can load a tinyattn model's weights into it and both give the same loss. Layout: tinyattn's
Linear, GRU and GRUCell weights are (in, out) and torch's are (out, in), so those are transposed; the score
parameters and context vectors are plain ``nn.Parameter`` in tinyattn's own layout. The GRU gate order is the same.

Differences from tinyattn, by construction of the torch side (see bench/README.md):
- the bidirectional encoders run on ``pack_padded_sequence`` (each row to its own length) where tinyattn's GRU takes
  the mask; both need the padding at the end of each row, and both give zero states at padded positions;
- masked softmax is ``masked_fill(-inf)`` then ``softmax`` (every row has a real position here, so no 0/0 arises).
"""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def masked_softmax(scores, mask):
    """softmax over the last axis of scores (B, S) where mask (B, S) bool is True (real positions)."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


def packed_bigru(gru, inputs, mask):
    """A bidirectional GRU over inputs (B, S, E) with each row's real positions first: states (B, S, 2H), zero at
    padding, and h_n (2, B, H) (the forward state after the last real position, the backward one after the first)."""
    lengths = mask.sum(dim=1).cpu()
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    states, final = gru(packed)
    states, _ = pad_packed_sequence(states, batch_first=True, total_length=inputs.shape[1])
    return states, final


class Encoder(nn.Module):
    """Seq2SeqEncoder: an embedding and a bidirectional GRU; final = [last forward state; last backward state]."""

    def __init__(self, vocab_size, embed_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.gru = nn.GRU(embed_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, source_ids, source_mask):
        states, final = packed_bigru(self.gru, self.embedding(source_ids), source_mask)  # (B, S, 2H), (2, B, H)
        return states, torch.cat([final[0], final[1]], dim=-1)  # (B, 2H)


class AdditiveScore(nn.Module):
    """v^T tanh(W q + U k), parameters in tinyattn's layout: W (Dq, A), U (Dk, A), v (A,)."""

    def __init__(self, query_size, key_size, hidden_size):
        super().__init__()
        self.query_weight = nn.Parameter(torch.empty(query_size, hidden_size))
        self.key_weight = nn.Parameter(torch.empty(key_size, hidden_size))
        self.vector = nn.Parameter(torch.empty(hidden_size))

    def forward(self, query, projected_keys):
        """query (B, Dq), projected_keys (B, S, A) = keys @ U -> scores (B, S)."""
        return torch.tanh((query @ self.query_weight).unsqueeze(1) + projected_keys) @ self.vector


class GeneralScore(nn.Module):
    """q^T W k with W (Dq, Dk) in tinyattn's layout."""

    def __init__(self, query_size, key_size):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(query_size, key_size))

    def forward(self, query, keys):
        """query (B, Dq), keys (B, S, Dk) -> scores (B, S)."""
        return torch.bmm(keys, (query @ self.weight).unsqueeze(2)).squeeze(2)  # (B, S, Dk) @ (B, Dk, 1)


class DeepOutput(nn.Module):
    def __init__(self, input_size, hidden_size, vocab_size):
        super().__init__()
        self.readout = nn.Linear(input_size, hidden_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    def forward(self, *parts):
        return self.output(torch.tanh(self.readout(torch.cat(parts, dim=-1))))


class BahdanauDecoder(nn.Module):
    """Attend with s_{t-1} (additive score), feed [e(y_{t-1}); c_t] to the GRU cell, deep output."""

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.bridge = nn.Linear(encoder_size, hidden_size)
        self.score = AdditiveScore(hidden_size, encoder_size, hidden_size)
        self.cell = nn.GRUCell(embed_size + encoder_size, hidden_size)
        self.deep_output = DeepOutput(hidden_size + encoder_size + embed_size, hidden_size, vocab_size)

    def start(self, states, final, mask):
        return {"hidden": torch.tanh(self.bridge(final)), "keys": states, "mask": mask,
                "projected_keys": states @ self.score.key_weight}  # (B, S, De) -> (B, S, A)

    def step(self, embedded, state):
        weights = masked_softmax(self.score(state["hidden"], state["projected_keys"]), state["mask"])  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), state["keys"]).squeeze(1)  # (B, 1, S) @ (B, S, De) -> (B, De)
        hidden = self.cell(torch.cat([embedded, context], dim=-1), state["hidden"])  # (B, H)
        logits = self.deep_output(hidden, context, embedded)  # (B, V)
        return logits, dict(state, hidden=hidden), weights


class LuongDecoder(nn.Module):
    """Step first (input feeding: [e(y_{t-1}); h~_{t-1}]), attend with h_t (general score, global),
    h~_t = tanh(W_c [c_t; h_t]), logits = W_s h~_t + b_s."""

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.bridge = nn.Linear(encoder_size, hidden_size)
        self.score = GeneralScore(hidden_size, encoder_size)
        self.cell = nn.GRUCell(embed_size + hidden_size, hidden_size)
        self.combine = nn.Linear(encoder_size + hidden_size, hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, vocab_size)

    def start(self, states, final, mask):
        hidden = torch.tanh(self.bridge(final))
        return {"hidden": hidden, "keys": states, "mask": mask, "attentional": torch.zeros_like(hidden)}

    def step(self, embedded, state):
        hidden = self.cell(torch.cat([embedded, state["attentional"]], dim=-1), state["hidden"])  # (B, H)
        weights = masked_softmax(self.score(hidden, state["keys"]), state["mask"])  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), state["keys"]).squeeze(1)  # (B, De)
        attentional = torch.tanh(self.combine(torch.cat([context, hidden], dim=-1)))  # (B, H)
        return self.output(attentional), dict(state, hidden=hidden, attentional=attentional), weights


class Seq2Seq(nn.Module):
    def __init__(self, encoder, decoder, bos_id, eos_id, pad_id):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id, self.pad_id = bos_id, eos_id, pad_id

    def loss(self, source_ids, source_mask, target_ids):
        """Teacher forcing on [bos] + target[:, :-1]; mean cross-entropy over the non-pad targets."""
        bos = torch.full_like(target_ids[:, :1], self.bos_id)
        target_in = torch.cat([bos, target_ids[:, :-1]], dim=1)  # (B, T)
        state = self.decoder.start(*self.encoder(source_ids, source_mask), source_mask)
        embedded = self.decoder.embedding(target_in)  # (B, T, E)
        logits = []
        for t in range(target_in.shape[1]):
            step_logits, state, _ = self.decoder.step(embedded[:, t], state)
            logits.append(step_logits)
        logits = torch.stack(logits, dim=1)  # (B, T, V)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target_ids.reshape(-1),
                                           ignore_index=self.pad_id)

    @torch.no_grad()
    def greedy(self, source_ids, source_mask, max_length):
        """As tinyattn's greedy_search: bos and pad never emitted, a row stops at eos, padded after it, all rows
        finished ends the loop early. Returns ids (B, L) and weights (B, L, S)."""
        state = self.decoder.start(*self.encoder(source_ids, source_mask), source_mask)
        batch = source_ids.shape[0]
        tokens = torch.full((batch,), self.bos_id, dtype=torch.long)
        finished = torch.zeros(batch, dtype=torch.bool)
        ids, weights = [], []
        for _ in range(max_length):
            logits, state, step_weights = self.decoder.step(self.decoder.embedding(tokens), state)
            log_probs = torch.log_softmax(logits, dim=-1)
            log_probs[:, [self.bos_id, self.pad_id]] = float("-inf")
            tokens = torch.where(finished, self.pad_id, log_probs.argmax(dim=-1))
            ids.append(tokens)
            weights.append(step_weights.masked_fill(finished.unsqueeze(1), 0.0))
            finished = finished | (tokens == self.eos_id)
            if bool(finished.all()):
                break
        return torch.stack(ids, dim=1), torch.stack(weights, dim=1)


class ContextAttention(nn.Module):
    """u = tanh(h W + b), weights = softmax(u . u_ctx) over the real positions, output = sum weights h."""

    def __init__(self, input_size, attention_size):
        super().__init__()
        self.projection = nn.Linear(input_size, attention_size)
        self.context_vector = nn.Parameter(torch.empty(attention_size))

    def forward(self, h, mask):
        weights = masked_softmax(torch.tanh(self.projection(h)) @ self.context_vector, mask)  # (B, T)
        return torch.bmm(weights.unsqueeze(1), h).squeeze(1), weights  # (B, D), (B, T)


class HierarchicalAttentionNetwork(nn.Module):
    """Words -> BiGRU -> ContextAttention per real sentence, put back in place; sentences -> BiGRU ->
    ContextAttention -> Linear. Padding (id 0) at the end of each sentence and padded sentences at the end."""

    def __init__(self, vocab_size, embed_size, word_hidden_size, sentence_hidden_size, attention_size, num_classes):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.word_encoder = nn.GRU(embed_size, word_hidden_size, batch_first=True, bidirectional=True)
        self.word_attention = ContextAttention(2 * word_hidden_size, attention_size)
        self.sentence_encoder = nn.GRU(2 * word_hidden_size, sentence_hidden_size, batch_first=True,
                                       bidirectional=True)
        self.sentence_attention = ContextAttention(2 * sentence_hidden_size, attention_size)
        self.classifier = nn.Linear(2 * sentence_hidden_size, num_classes)

    def forward(self, ids):
        batch, sentences, words = ids.shape
        word_mask = ids != 0  # (B, S, W)
        sentence_mask = word_mask.any(dim=2)  # (B, S)
        real = sentence_mask.reshape(-1).nonzero().squeeze(1)  # (N,) indices into the B*S sentences
        real_mask = word_mask.reshape(batch * sentences, words)[real]  # (N, W)
        embedded = self.embedding(ids.reshape(batch * sentences, words)[real])  # (N, W, E)
        word_states, _ = packed_bigru(self.word_encoder, embedded, real_mask)  # (N, W, 2Hw)
        vectors, _ = self.word_attention(word_states, real_mask)  # (N, 2Hw)
        placed = vectors.new_zeros(batch * sentences, vectors.shape[1]).index_copy(0, real, vectors)
        sentence_states, _ = packed_bigru(self.sentence_encoder, placed.reshape(batch, sentences, -1), sentence_mask)
        document, _ = self.sentence_attention(sentence_states, sentence_mask)  # (B, 2Hs)
        return self.classifier(document)  # (B, C)


def copy_weights(source, target):
    """Load the parameters of a tinyattn model `source` into the torch model `target`, name by name; the weight
    matrices of Linear, GRU and GRUCell layers are transposed ((in, out) -> (out, in))."""
    torch_parameters = dict(target.named_parameters())
    names = [name for name, _ in source.named_parameters()]
    if sorted(names) != sorted(torch_parameters):
        raise ValueError(f"parameter names differ: tinyattn only {sorted(set(names) - set(torch_parameters))}, "
                         f"torch only {sorted(set(torch_parameters) - set(names))}")
    with torch.no_grad():
        for name, parameter in source.named_parameters():
            owner = target.get_submodule(name.rpartition(".")[0]) if "." in name else target
            value = torch.from_numpy(parameter.data.copy())
            if isinstance(owner, (nn.Linear, nn.GRU, nn.GRUCell)) and value.ndim == 2:
                value = value.T
            torch_parameters[name].copy_(value)
