"""Decoders for encoder-decoder (seq2seq) models: without attention, Bahdanau's and Luong's.

All three share one interface, used by teacher forcing (``forward``) and by greedy and beam search:

    state = decoder.start(encoder_states (B, S, De), encoder_final (B, De), source_mask (B, S) bool True = real)
    logits (B, V), state, weights (B, S) or None = decoder.step(token_ids (B,) int, state)
    logits (B, T, V), weights (B, T, S) or None = decoder(encoder_states, encoder_final, source_mask, target_in)

Every decoder starts from s_0 = tanh(W_init encoder_final + b_init), the encoder's summary of the source mapped to
the decoder's size. What differs is how the source is seen afterwards:

- ``PlainDecoder`` (Cho et al., 2014; Sutskever et al., 2014): the fixed vector c = encoder_final is fed at every
  step; nothing else of the source is visible, so that vector must hold the whole input.
- ``BahdanauDecoder`` (Bahdanau, Cho & Bengio, 2014): attend with the previous state s_{t-1}, then feed the context
  into the GRU step.
- ``LuongDecoder`` (Luong, Pham & Manning, 2015): take the GRU step first, attend with the current state h_t, and
  predict from the attentional state tanh(W_c [c_t; h_t]); global or local attention (``tinyattn.attention.local``).
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.attention import _checks
from tinyattn.attention.attend import attend, hide_keys
from tinyattn.attention.local import LOCAL_KINDS, PositionPredictor, local_attend, local_m_centres, source_lengths
from tinyattn.attention.scores import AdditiveScore, make_score
from tinyattn.nn.layers import Embedding, Linear
from tinyattn.nn.module import Module
from tinyattn.nn.recurrent import GRUCell
from tinyattn.random import generator
from tinyattn.tensor import Tensor, as_tensor


class DecoderState:
    """What a decoder carries from one step to the next: named Tensors and arrays whose first axis is the batch
    (the decoder state, the encoder states it attends to, the source mask, ...) and plain numbers (the step t).

    ``state.reorder(indices)`` gives the state of the rows `indices` (B',) of this batch: beam search uses it to
    copy each source row K times and to follow the beams' back-pointers.
    """

    def __init__(self, **fields):
        self.__dict__["fields"] = fields

    def __getattr__(self, name):
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(f"DecoderState has no field {name!r}") from None

    def __setattr__(self, name, value):
        raise AttributeError("DecoderState is immutable; use state.replace(name=value)")

    def replace(self, **changes):
        """A new state with some fields changed."""
        return DecoderState(**{**self.fields, **changes})

    def reorder(self, indices):
        """The state of batch rows `indices` (an integer array): every Tensor or array field indexed on axis 0."""
        indices = np.asarray(indices, dtype=np.int64)
        return DecoderState(**{name: value[indices] if isinstance(value, (Tensor, np.ndarray)) else value
                               for name, value in self.fields.items()})

    def __repr__(self):
        shapes = ", ".join(f"{name}={getattr(value, 'shape', value)}" for name, value in self.fields.items())
        return f"DecoderState({shapes})"


class Decoder(Module):
    """The shared part of the decoders: the target embedding, s_0 = tanh(W_init encoder_final + b_init), the checks,
    and teacher forcing as a loop over ``step``. Subclasses define ``_start_fields`` and ``_step``."""

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size, padding_idx=0, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes(type(self).__name__, vocab_size=vocab_size, embed_size=embed_size, hidden_size=hidden_size,
                      encoder_size=encoder_size)
        self.vocab_size, self.embed_size = vocab_size, embed_size
        self.hidden_size, self.encoder_size = hidden_size, encoder_size
        self.rng = generator(rng)  # consumed by the subclass's layers, in order, then dropped
        self.embedding = Embedding(vocab_size, embed_size, padding_idx=padding_idx, dtype=dtype, rng=self.rng)
        self.bridge = Linear(encoder_size, hidden_size, dtype=dtype, rng=self.rng)

    @property
    def dtype(self):
        return self.bridge.weight.dtype

    def start(self, encoder_states, encoder_final, source_mask):
        """The state before the first step: s_0 = tanh(W_init encoder_final + b_init), plus what every step needs.

        The padded positions of encoder_states (False in source_mask) may hold anything, NaN and inf included: they
        are replaced by zeros here, once per source, and reach no output and no gradient."""
        source_mask = _checks.encoder_outputs(f"{type(self).__name__}.start", encoder_states, encoder_final,
                                              source_mask, self.encoder_size, self.dtype)
        # Zeros at the padded positions, once per source: garbage there (NaN, inf) must not reach the keys the
        # additive score projects here, nor, through 0 * NaN, an output or a gradient.
        keys = as_tensor(encoder_states)
        keys, _ = hide_keys(keys, keys, source_mask)  # (B, S, De)
        hidden = self.bridge(encoder_final).tanh()  # (B, De) -> (B, H)
        return DecoderState(hidden=hidden, keys=keys, source_mask=source_mask,
                            source_lengths=source_lengths(source_mask), step=0,
                            **self._start_fields(keys, encoder_final))

    def step(self, token_ids, state):
        """One output step fed the previous tokens y_{t-1} (B,): returns (logits (B, V), next state, weights (B, S)
        or None)."""
        ids = _checks.token_ids(f"{type(self).__name__}.step", "token_ids", token_ids, state.hidden.shape[0], 1,
                                self.vocab_size, hidden=state.hidden)
        return self._step(self.embedding(ids), state)

    def forward(self, encoder_states, encoder_final, source_mask, target_in):
        """Teacher forcing: step t is fed target_in[:, t] (the true previous token), whatever the model predicted.

        target_in (B, T) int -> logits (B, T, V) and weights (B, T, S) (None for the PlainDecoder).
        """
        state = self.start(encoder_states, encoder_final, source_mask)
        ids = _checks.token_ids(type(self).__name__, "target_in", target_in, state.hidden.shape[0], 2, self.vocab_size,
                                encoder_final=encoder_final)
        embedded = self.embedding(ids)  # (B, T, E), one lookup for all steps
        logits, weights = [], []
        for t in range(ids.shape[1]):
            step_logits, state, step_weights = self._step(embedded[:, t], state)
            logits.append(step_logits)
            weights.append(step_weights)
        logits = F.stack(logits, axis=1)  # T x (B, V) -> (B, T, V)
        return logits, (None if weights[0] is None else F.stack(weights, axis=1))  # T x (B, S) -> (B, T, S)

    def _start_fields(self, encoder_states, encoder_final):
        return {}

    def _step(self, embedded, state):
        raise NotImplementedError



class _DeepOutput(Module):
    """logits = W_out tanh(W_r [s_t; c_t; e(y_{t-1})] + b_r) + b_out: one tanh layer between the state and the
    vocabulary (a simpler form of Bahdanau et al.'s maxout "deep output")."""

    def __init__(self, input_size, hidden_size, vocab_size, dtype, rng):
        super().__init__()
        self.readout = Linear(input_size, hidden_size, dtype=dtype, rng=rng)
        self.output = Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    def forward(self, *parts):
        return self.output(self.readout(F.concatenate(parts, axis=-1)).tanh())


class PlainDecoder(Decoder):
    """A GRU decoder without attention (Cho et al., 2014): the encoder's final vector c is the only view of the
    source, fed at every step.

        s_0 = tanh(W_init c + b_init),  s_t = GRU([e(y_{t-1}); c], s_{t-1}),
        logits_t = W_out tanh(W_r [s_t; c; e(y_{t-1})] + b_r) + b_out.

    ``step`` returns weights None.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size, padding_idx=0, dtype=np.float32, rng=None):
        super().__init__(vocab_size, embed_size, hidden_size, encoder_size, padding_idx, dtype, rng)
        self.cell = GRUCell(embed_size + encoder_size, hidden_size, dtype=dtype, rng=self.rng)
        self.deep_output = _DeepOutput(hidden_size + encoder_size + embed_size, hidden_size, vocab_size, dtype,
                                       self.rng)
        del self.rng

    def _start_fields(self, encoder_states, encoder_final):
        return {"summary": encoder_final}

    def _step(self, embedded, state):
        hidden = self.cell(F.concatenate([embedded, state.summary], axis=-1), state.hidden)  # (B, E + De) -> (B, H)
        logits = self.deep_output(hidden, state.summary, embedded)  # (B, V)
        return logits, state.replace(hidden=hidden, step=state.step + 1), None


class BahdanauDecoder(Decoder):
    """Attend with the previous state, then step (Bahdanau, Cho & Bengio, 2014):

        weights_t = softmax_s(v^T tanh(W s_{t-1} + U h_s))  over the real source positions   (additive score)
        c_t       = sum_s weights_t[s] h_s
        s_t       = GRU([e(y_{t-1}); c_t], s_{t-1})
        logits_t  = W_out tanh(W_r [s_t; c_t; e(y_{t-1})] + b_r) + b_out

    U h_s is computed once per source sentence (``AdditiveScore.project_keys``), not once per step. `attention_size`
    is the additive score's hidden size (default: hidden_size).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size, attention_size=None, padding_idx=0,
                 dtype=np.float32, rng=None):
        super().__init__(vocab_size, embed_size, hidden_size, encoder_size, padding_idx, dtype, rng)
        _checks.sizes("BahdanauDecoder", optional=("attention_size",), attention_size=attention_size)
        self.score = AdditiveScore(hidden_size, encoder_size, hidden_size if attention_size is None else attention_size,
                                   dtype=dtype, rng=self.rng)
        self.cell = GRUCell(embed_size + encoder_size, hidden_size, dtype=dtype, rng=self.rng)
        self.deep_output = _DeepOutput(hidden_size + encoder_size + embed_size, hidden_size, vocab_size, dtype,
                                       self.rng)
        del self.rng

    def _start_fields(self, encoder_states, encoder_final):
        return {"projected_keys": self.score.project_keys(encoder_states)}  # (B, S, De) -> (B, S, A)

    def _step(self, embedded, state):
        def score(query, keys):
            return self.score(query, keys, projected_keys=state.projected_keys)

        context, weights = attend(state.hidden, state.keys, state.keys, score, mask=state.source_mask)  # (B, De)
        hidden = self.cell(F.concatenate([embedded, context], axis=-1), state.hidden)  # (B, E + De) -> (B, H)
        logits = self.deep_output(hidden, context, embedded)  # (B, V)
        return logits, state.replace(hidden=hidden, step=state.step + 1), weights


class LuongDecoder(Decoder):
    """Step, then attend with the current state (Luong, Pham & Manning, 2015):

        h_t       = GRU([e(y_{t-1}); h~_{t-1}], h_{t-1})      input feeding (h~_0 = 0); GRU(e(y_{t-1}), h_{t-1}) without
        weights_t = softmax_s(score(h_t, h_s)),  c_t = sum_s weights_t[s] h_s          global, or local (see below)
        h~_t      = tanh(W_c [c_t; h_t])                        the attentional hidden state
        logits_t  = W_s h~_t + b_s

    `score`: "general" (h_t^T W h_s), "dot" (h_t . h_s: needs hidden_size == encoder_size), "concat" (additive),
    "location" (W_a h_t alone, one score per position: needs `max_source_length`), also "scaled_dot" / "additive".
    `attention`: "global" (all real source positions), "local-m" or "local-p" (a window of 2 * `window` + 1 positions
    around p_t = t, or around a predicted p_t with a Gaussian of sigma = window / 2; see tinyattn.attention.local).
    `attention_size` is the concat score's and local-p predictor's hidden size (default: hidden_size).
    """

    def __init__(self, vocab_size, embed_size, hidden_size, encoder_size, score="general", attention="global",
                 window=2, max_source_length=None, input_feeding=True, attention_size=None, padding_idx=0,
                 dtype=np.float32, rng=None):
        super().__init__(vocab_size, embed_size, hidden_size, encoder_size, padding_idx, dtype, rng)  # checks sizes
        if attention not in ("global",) + LOCAL_KINDS:
            raise ValueError(f"LuongDecoder: attention must be 'global', 'local-m' or 'local-p', got {attention!r}")
        _checks.half_width("LuongDecoder", window)
        _checks.sizes("LuongDecoder", optional=("max_source_length", "attention_size"),
                      max_source_length=max_source_length, attention_size=attention_size)
        _checks.score_sizes("LuongDecoder", score, hidden_size, encoder_size, max_source_length,
                            names=("hidden_size", "encoder_size", "max_source_length"))
        self.score_name, self.attention, self.window, self.input_feeding = score, attention, int(window), input_feeding
        attention_size = hidden_size if attention_size is None else attention_size
        self.score = make_score(score, hidden_size, encoder_size, hidden_size=attention_size,
                                max_length=max_source_length, dtype=dtype, rng=self.rng)
        self.cell = GRUCell(embed_size + (hidden_size if input_feeding else 0), hidden_size, dtype=dtype,
                            rng=self.rng)
        self.combine = Linear(encoder_size + hidden_size, hidden_size, bias=False, dtype=dtype, rng=self.rng)  # W_c
        self.output = Linear(hidden_size, vocab_size, dtype=dtype, rng=self.rng)  # W_s
        if attention == "local-p":
            self.predictor = PositionPredictor(hidden_size, attention_size, dtype=dtype, rng=self.rng)
        del self.rng

    def _start_fields(self, encoder_states, encoder_final):
        fields = {"attentional": np.zeros((encoder_final.shape[0], self.hidden_size), self.dtype)}  # h~_0 = 0
        if isinstance(self.score, AdditiveScore):
            fields["projected_keys"] = self.score.project_keys(encoder_states)  # (B, S, A), once per sentence
        return fields

    def _step(self, embedded, state):
        step_input = F.concatenate([embedded, state.attentional], axis=-1) if self.input_feeding else embedded
        hidden = self.cell(step_input, state.hidden)  # (B, H)
        if isinstance(self.score, AdditiveScore):
            def score(query, keys):
                return self.score(query, keys, projected_keys=state.projected_keys)
        else:
            score = self.score
        if self.attention == "global":
            context, weights = attend(hidden, state.keys, state.keys, score, mask=state.source_mask)
        else:
            if self.attention == "local-m":
                centres = local_m_centres(state.step, state.source_lengths)  # (B,) ints
            else:
                centres = self.predictor(hidden, state.source_lengths)  # (B,) Tensor in [0, S_b - 1]
            context, weights = local_attend(hidden, state.keys, state.keys, score, state.source_mask, centres,
                                            self.window, use_gaussian=self.attention == "local-p")
        attentional = self.combine(F.concatenate([context, hidden], axis=-1)).tanh()  # h~_t: (B, De + H) -> (B, H)
        logits = self.output(attentional)  # (B, V)
        return logits, state.replace(hidden=hidden, attentional=attentional, step=state.step + 1), weights

    def extra_repr(self):
        return (f"score={self.score_name!r}, attention={self.attention!r}, window={self.window}, "
                f"input_feeding={self.input_feeding}")
