"""A decoder-only language model (GPT, Radford et al., 2018): token embeddings and positions, a stack of causal
``TransformerDecoderLayer``s, a final layer norm and an output projection; ``generate`` decodes token by token with a
``KeyValueCache`` per layer.

Shapes: B batch, T length, D = d_model, V vocabulary.
"""
import math

import numpy as np

from tinyattn.attention._checks import fail
from tinyattn.attention.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from tinyattn.attention.transformer import KeyValueCache, TransformerDecoderLayer
from tinyattn.engine import no_grad
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks as layer_checks
from tinyattn.nn.layers import Dropout, Embedding, LayerNorm, Linear
from tinyattn.nn.module import Module, ModuleList
from tinyattn.primitive import as_array
from tinyattn.random import generator


class CausalTransformerLM(Module):
    """A decoder-only language model (GPT, Radford et al., 2018): p(token_t | tokens_<t) = softmax(logits_t),

        h = Embed(ids) + Pos(0 .. T-1);  h = layer_L(... layer_1(h));  logits = LN(h) W_out + b_out

    Shapes: ids (B, T) integers in [0, V) with T <= max_length -> logits (B, T, V). `positions`: "learned" (a table
    of max_length vectors, GPT) or "sinusoidal" (Vaswani et al., 2017). `dropout` acts on the embeddings and inside
    every layer in training mode. Train with ``F.cross_entropy(logits[:, :-1], ids[:, 1:])``.
    """

    op = "CausalTransformerLM"

    def __init__(self, vocab_size, d_model, num_heads, num_layers, dim_feedforward, max_length, dropout=0.0,
                 positions="learned", norm_first=True, activation="relu", dtype=np.float32, rng=None):
        super().__init__()
        op = self.op
        self.vocab_size = layer_checks.size(op, "vocab_size", vocab_size)
        self.max_length = layer_checks.size(op, "max_length", max_length)
        layer_checks.size(op, "num_layers", num_layers)
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"{op}: positions must be 'learned' or 'sinusoidal'; got positions={positions!r}")
        draws = generator(rng)
        dropout_rng = None if rng is None else draws  # see _ResidualBlock
        self.token_embedding = Embedding(vocab_size, d_model, dtype=dtype, rng=draws)
        self.positions = (LearnedPositionalEmbedding(max_length, d_model, dtype, draws) if positions == "learned"
                          else SinusoidalPositionalEncoding(d_model, max_length, dtype=dtype))
        self.layers = ModuleList(
            TransformerDecoderLayer(d_model, num_heads, dim_feedforward, dropout, norm_first, activation,
                                    dtype=dtype, rng=dropout_rng)
            for _ in range(num_layers))
        self.embedding_dropout = Dropout(dropout, rng=dropout_rng)
        self.final_norm = LayerNorm(d_model, dtype=dtype)
        self.output = Linear(d_model, vocab_size, dtype=dtype, rng=draws)

    def new_cache(self):
        """An empty ``KeyValueCache`` per layer, for ``forward(ids, cache)``."""
        return [KeyValueCache() for _ in self.layers]

    def forward(self, ids, cache=None):
        """logits (B, T, V) for ids (B, T). With `cache` (from ``new_cache``), ids continue the cached positions:
        their positions start at the cache's length, and the cache grows by T."""
        offset = 0 if cache is None else cache[0].length
        ids = self._checked_ids(ids, offset)
        h = self.positions(self.token_embedding(ids), offset=offset)  # (B, T, D)
        h = self.embedding_dropout(h)
        for index, layer in enumerate(self.layers):
            h = layer(h, None if cache is None else cache[index])
        return self.output(self.final_norm(h))  # (B, T, D) -> (B, T, V)

    def generate(self, ids, max_new_tokens, greedy=True, temperature=1.0, rng=None, use_cache=True):
        """ids (B, T) followed by `max_new_tokens` tokens, each chosen from the model's distribution given all the
        tokens before it: its argmax (`greedy`) or a draw from softmax(logits / temperature) with `rng`. Returns
        integers (B, T + max_new_tokens); T + max_new_tokens - 1 positions must fit in max_length.

        With `use_cache` each step feeds only the newest token and reuses the layers' cached keys and values
        (``KeyValueCache``); without it, each step reruns the whole prefix. Both give the same tokens. Not
        differentiable (argmax and sampling have no gradient): runs under no_grad, in eval mode (no dropout), and
        restores each module's mode afterwards.
        """
        op = f"{self.op}.generate"
        ids = self._checked_ids(ids, 0, op)
        count = layer_checks.size(op, "max_new_tokens", max_new_tokens, minimum=0)
        if ids.shape[1] + count - 1 > self.max_length:
            fail(op, (ShapeError, f"T + max_new_tokens - 1 = {ids.shape[1] + count - 1} positions go past "
                                  f"max_length {self.max_length}"), ids=ids)
        if not greedy and not (isinstance(temperature, (int, float, np.integer, np.floating))
                               and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"{op}: temperature must be a finite number > 0; got temperature={temperature!r}")
        draws = generator(rng)
        modes = [(module, module.training) for module in self.modules()]
        self.eval()
        try:
            with no_grad():
                return self._decode(ids, count, greedy, float(temperature), draws, use_cache)
        finally:
            for module, training in modes:
                object.__setattr__(module, "training", training)

    def _decode(self, ids, count, greedy, temperature, draws, use_cache):
        cache = self.new_cache() if use_cache else None
        tokens, fed = ids, ids
        for _ in range(count):
            logits = self.forward(fed, cache).data[:, -1].astype(np.float64)  # (B, V): the next token's
            chosen = logits.argmax(axis=-1) if greedy else _sample(logits / temperature, draws)  # (B,)
            tokens = np.concatenate([tokens, chosen[:, None].astype(tokens.dtype)], axis=1)
            fed = tokens[:, -1:] if use_cache else tokens
        return tokens

    def _checked_ids(self, ids, offset, op=None):
        """ids as an integer array (B, T), B, T >= 1, in [0, V), whose positions offset .. offset + T - 1 fit."""
        ids = as_array(ids)
        problem = None
        if ids.dtype.kind not in "iu":
            problem = DTypeError, "ids must be integers (B, T)"
        elif ids.ndim != 2 or 0 in ids.shape:
            problem = ShapeError, "expected ids (B, T) with B, T >= 1"
        elif ids.min() < 0 or ids.max() >= self.vocab_size:
            problem = ShapeError, (f"ids must lie in [0, {self.vocab_size}), but they range from {ids.min()} to "
                                   f"{ids.max()}")
        elif offset + ids.shape[1] > self.max_length:
            problem = ShapeError, (f"positions {offset} .. {offset + ids.shape[1] - 1} go past max_length "
                                   f"{self.max_length}")
        if problem:
            fail(op or self.op, problem, ids=ids)
        return ids

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, max_length={self.max_length}"


def _sample(logits, draws):
    """One index per row of logits (B, V), drawn from softmax(logits) by inverting the cumulative distribution
    with one uniform number per row."""
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(probabilities, axis=-1)  # (B, V), unnormalised
    uniform = draws.random(len(logits))[:, None] * cumulative[:, -1:]  # (B, 1)
    return np.minimum((cumulative <= uniform).sum(axis=-1), logits.shape[-1] - 1)
