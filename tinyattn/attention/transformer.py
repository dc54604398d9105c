"""Transformer layers (Vaswani et al., 2017, "Attention Is All You Need"): self-attention and a position-wise
feed-forward network, each wrapped in a residual connection and a layer norm, and a small causal language model.

    post-norm (Vaswani et al., 2017):   x = LN(x + Drop(Attn(x)));   x = LN(x + Drop(FF(x)))
    pre-norm  (Xiong et al., 2020):     x = x + Drop(Attn(LN(x)));   x = x + Drop(FF(LN(x)))

Pre-norm keeps an identity path from every layer to the output, so deep stacks train without a learning-rate
warm-up (Xiong et al., 2020, "On Layer Normalization in the Transformer Architecture"); post-norm is the original.

- ``TransformerEncoderLayer`` and ``TransformerEncoder``: bidirectional self-attention over (B, T, D).
- ``TransformerDecoderLayer``: causal self-attention (optionally then attention to a memory), with a
  ``KeyValueCache`` for decoding one token at a time.
- ``CausalTransformerLM`` (in language_model.py) stacks decoder layers into a language model.

Shapes: B batch, T length, D = d_model, H heads of Dh = D / H features, V vocabulary, L layers.
"""
import math

import numpy as np

import tinyattn.functional as F
from tinyattn.attention._checks import fail
from tinyattn.attention.self_attention import MultiHeadAttention
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks as layer_checks
from tinyattn.nn.layers import Dropout, LayerNorm, Linear
from tinyattn.nn.module import Module, ModuleList
from tinyattn.random import generator
from tinyattn.scaled_dot_product import scaled_dot_product_attention
from tinyattn.tensor import as_tensor


def gelu(x):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): GELU's tanh form (Hendrycks & Gimpel, 2016)."""
    return 0.5 * x * (1.0 + (math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)).tanh())


ACTIVATIONS = {"relu": lambda x: x.relu(), "gelu": gelu}


class FeedForward(Module):
    """FF(x) = act(x W_1 + b_1) W_2 + b_2, the same two-layer network at every position (Vaswani et al., 2017,
    section 3.3), with dropout after the activation in training mode. Shapes: (B, T, D) -> (B, T, D), through a
    hidden size `dim_feedforward`. `activation`: "relu" (the paper) or "gelu" (GPT, BERT)."""

    def __init__(self, d_model, dim_feedforward, activation="relu", dropout=0.0, dtype=np.float32, rng=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward: activation must be one of {sorted(ACTIVATIONS)}; got "
                             f"activation={activation!r}")
        draws = generator(rng)
        self.activation = activation
        self.expand = Linear(d_model, dim_feedforward, dtype=dtype, rng=draws)
        self.contract = Linear(dim_feedforward, d_model, dtype=dtype, rng=draws)
        self.dropout = Dropout(dropout, rng=None if rng is None else draws)

    def forward(self, x):
        hidden = ACTIVATIONS[self.activation](self.expand(x))  # (B, T, D) -> (B, T, F)
        return self.contract(self.dropout(hidden))  # (B, T, F) -> (B, T, D)

    def extra_repr(self):
        return f"activation={self.activation!r}"


class _ResidualBlock(Module):
    """What encoder and decoder layers share: attention and feed-forward sublayers, each in a residual connection
    with a layer norm after it (post-norm) or before it (pre-norm, `norm_first`)."""

    op = "_ResidualBlock"
    memory_attn = None  # a decoder layer made with memory_dim has attention to a memory too

    def __init__(self, d_model, num_heads, dim_feedforward, dropout, norm_first, activation, dtype, rng):
        super().__init__()
        self.d_model = layer_checks.size(self.op, "d_model", d_model)
        layer_checks.size(self.op, "dim_feedforward", dim_feedforward)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)) or not (
                0 <= dropout < 1):
            raise ValueError(f"{self.op}: dropout must be a number in [0, 1); got dropout={dropout!r}")
        # None stays None for the sublayers: their dropout then draws from the default generator as it is at each
        # call (as Dropout's), so ta.manual_seed after construction decides the masks.
        dropout_rng = None if rng is None else generator(rng)
        self.norm_first = bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout, dtype=dtype, rng=dropout_rng)
        self.feedforward = FeedForward(d_model, dim_feedforward, activation, dropout, dtype, dropout_rng)
        self.attention_norm = LayerNorm(d_model, dtype=dtype)
        self.feedforward_norm = LayerNorm(d_model, dtype=dtype)
        self.attention_dropout = Dropout(dropout, rng=dropout_rng)
        self.feedforward_dropout = Dropout(dropout, rng=dropout_rng)

    @property
    def dtype(self):
        return self.attention_norm.weight.dtype

    def _residual(self, x, sublayer, norm, dropout):
        """x + Drop(sublayer(LN(x))) (pre-norm) or LN(x + Drop(sublayer(x))) (post-norm), and what the sublayer
        returns besides its output; `sublayer` maps (B, T, D) to (output (B, T, D), weights or None)."""
        if self.norm_first:
            output, weights = sublayer(norm(x))
            return x + dropout(output), weights
        output, weights = sublayer(x)
        return norm(x + dropout(output)), weights

    def _feedforward(self, x):
        x, _ = self._residual(x, lambda h: (self.feedforward(h), None), self.feedforward_norm,
                              self.feedforward_dropout)
        return x

    def _checked(self, x):
        """x as a Tensor if it is float (B, T, D) with T >= 1, D = d_model and the parameters' dtype."""
        x = as_tensor(x)
        problem = None
        if x.dtype.kind != "f":
            problem = DTypeError, "needs float x (B, T, D)"
        elif x.ndim != 3 or x.shape[-1] != self.d_model or 0 in x.shape:
            problem = ShapeError, f"expected x (B, T, D) with B, T >= 1 and D = d_model = {self.d_model}"
        elif x.dtype != self.dtype:
            problem = DTypeError, f"x must have the parameters' dtype {self.dtype} (x.astype(...) or model.astype(...))"
        if problem:
            fail(self.op, problem, x=x)
        return x

    def _torch_children(self):
        """torch.nn.TransformerEncoderLayer's names (and TransformerDecoderLayer's for a layer with memory)."""
        children = [("self_attn", "self_attn")]
        norms = ["attention_norm", "feedforward_norm"]
        if self.memory_attn is not None:
            children.append(("multihead_attn", "memory_attn"))
            norms.insert(1, "memory_norm")
        children += [("linear1", "feedforward.expand"), ("linear2", "feedforward.contract")]
        return children + [(f"norm{number}", name) for number, name in enumerate(norms, start=1)]

    def extra_repr(self):
        return f"{self.d_model}, norm_first={self.norm_first}"


class TransformerEncoderLayer(_ResidualBlock):
    """One encoder layer: multi-head self-attention, then a feed-forward network, each in a residual connection
    with a layer norm, post-norm (Vaswani et al., 2017; the default) or pre-norm with `norm_first` (Xiong et al.,
    2020); see the module docstring for both formulas.

    Shapes: x (B, T, D) -> (B, T, D), or (x, weights (B, H, T, T) per head) with `need_weights`.
    Masks as ``MultiHeadAttention``'s: `key_mask` (B, T) bool, True = a real position (padding is False; its
    outputs are computed from finite placeholders and should be ignored, and NaN there reaches no real position);
    `attn_mask` (T, T) or (B, H, T, T), bool (True = may attend) or float (added); `is_causal` lets position i see
    positions j <= i. `dropout` applies to the attention weights, the feed-forward hidden layer and both residual
    branches in training mode. Sublayers: self_attn, feedforward, attention_norm, feedforward_norm.
    """

    op = "TransformerEncoderLayer"

    def __init__(self, d_model, num_heads, dim_feedforward, dropout=0.0, norm_first=False, activation="relu",
                 dtype=np.float32, rng=None):
        super().__init__(d_model, num_heads, dim_feedforward, dropout, norm_first, activation, dtype, rng)

    def forward(self, x, key_mask=None, attn_mask=None, is_causal=False, need_weights=False):
        x = self._checked(x)

        def attend(h):
            return self.self_attn(h, h, h, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal,
                                  need_weights=need_weights, average_weights=False)

        x, weights = self._residual(x, attend, self.attention_norm, self.attention_dropout)
        x = self._feedforward(x)
        return (x, weights) if need_weights else x


class TransformerEncoder(Module):
    """A stack of encoder layers, x -> layer_L(... layer_1(x)), with an optional final LayerNorm (`final_norm`,
    which pre-norm stacks need: their last residual sum is not normalised otherwise).

    `layers`: a factory called `num_layers` times (``lambda: TransformerEncoderLayer(64, 4, 256)``), so that each
    layer has its own parameters, or a list of TransformerEncoderLayers (no two sharing a parameter).
    ``forward(x, key_mask, attn_mask, is_causal, need_weights)`` takes the masks of ``TransformerEncoderLayer``
    and returns x (B, T, D), or (x, weights (L, B, H, T, T)): every layer's per-head attention, for drawing.
    """

    def __init__(self, layers, num_layers=None, final_norm=False):
        super().__init__()
        op = "TransformerEncoder"
        if isinstance(layers, Module) or not (callable(layers) or isinstance(layers, (list, tuple))):
            raise TypeError(f"{op}: layers must be a factory (lambda: TransformerEncoderLayer(...)) or a list of "
                            f"layers; one layer repeated would share its parameters; got {type(layers).__name__}")
        if callable(layers):
            count = layer_checks.size(op, "num_layers", num_layers)
            layers = [layers() for _ in range(count)]
        elif num_layers is not None and num_layers != len(layers):
            raise ValueError(f"{op}: num_layers ({num_layers}) differs from the {len(layers)} layers given")
        if not layers or not all(isinstance(layer, TransformerEncoderLayer) for layer in layers):
            raise TypeError(f"{op}: needs at least one TransformerEncoderLayer, and only those; got "
                            f"{[type(layer).__name__ for layer in layers]}")
        self.layers = ModuleList(layers)
        _check_unshared(op, layers)
        self.final_norm = LayerNorm(layers[0].d_model, dtype=layers[0].dtype) if final_norm else None

    def forward(self, x, key_mask=None, attn_mask=None, is_causal=False, need_weights=False):
        weights = []
        for layer in self.layers:
            x = layer(x, key_mask=key_mask, attn_mask=attn_mask, is_causal=is_causal, need_weights=need_weights)
            if need_weights:
                x, layer_weights = x
                weights.append(layer_weights)  # (B, H, T, T)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return (x, F.stack(weights, axis=0)) if need_weights else x  # weights (L, B, H, T, T)

    def _torch_children(self):
        """torch.nn.TransformerEncoder's names: layers.0, layers.1, ..., norm."""
        return [("layers", "layers")] + ([("norm", "final_norm")] if self.final_norm is not None else [])


def _check_unshared(op, layers):
    owners = {}
    for index, layer in enumerate(layers):
        for name, parameter in layer.named_parameters():
            if id(parameter) in owners:
                raise ValueError(f"{op}: layers {owners[id(parameter)]} and {index} share the parameter {name}; "
                                 f"pass a factory or distinct layers")
            owners[id(parameter)] = index


# ----- causal decoding ---------------------------------------------------------------------------------------------
class KeyValueCache:
    """One decoder layer's projected keys and values of the positions decoded so far, (B, H, T, Dh) each: what a new
    token attends to, so that step t projects one token and attends over t keys, O(t), instead of recomputing the
    whole prefix, O(t^2)."""

    def __init__(self):
        self.keys = self.values = None

    @property
    def length(self):
        """How many positions are cached."""
        return 0 if self.keys is None else self.keys.shape[-2]

    def extend(self, keys, values):
        """Append the new positions' keys and values (B, H, T, Dh); return all of them (B, H, length, Dh)."""
        if self.keys is not None:
            keys = F.concatenate([self.keys, keys], axis=-2)
            values = F.concatenate([self.values, values], axis=-2)
        self.keys, self.values = keys, values
        return keys, values


class TransformerDecoderLayer(_ResidualBlock):
    """One decoder layer: causal multi-head self-attention (GPT, Radford et al., 2018), then, with `memory_dim`,
    attention to a memory (an encoder's output, Vaswani et al., 2017), then a feed-forward network, each in a
    residual connection, pre-norm by default (`norm_first`, as GPT-2) or post-norm.

    Shapes: x (B, T, D) -> (B, T, D), or with `need_weights` (x, weights (B, H, T, Tk)), and with a memory
    (x, weights, memory weights (B, H, T, S)). Position i attends to positions j <= i. With a ``KeyValueCache``
    holding Tc earlier positions, x holds the next T positions: their keys and values are appended to the cache and
    each attends to the Tc + T keys up to itself (Tk = Tc + T), which gives the same outputs as running the whole
    sequence at once. The self-attention uses self_attn's projections and ``scaled_dot_product_attention`` directly
    (``MultiHeadAttention.forward`` does not keep keys). `memory` (B, S, memory_dim) is needed exactly when the
    layer was made with `memory_dim`; `memory_key_mask` (B, S) bool, True = a real memory position.
    Sublayers: self_attn, memory_attn (or None), feedforward and a LayerNorm and Dropout for each.
    """

    op = "TransformerDecoderLayer"

    def __init__(self, d_model, num_heads, dim_feedforward, dropout=0.0, norm_first=True, activation="relu",
                 memory_dim=None, dtype=np.float32, rng=None):
        super().__init__(d_model, num_heads, dim_feedforward, dropout, norm_first, activation, dtype, rng)
        self.memory_dim = layer_checks.size(self.op, "memory_dim", memory_dim, optional=True)
        self.memory_attn = self.memory_norm = self.memory_dropout = None
        if self.memory_dim is not None:
            dropout_rng = None if rng is None else generator(rng)
            self.memory_attn = MultiHeadAttention(d_model, num_heads, kdim=memory_dim, vdim=memory_dim,
                                                  dropout=dropout, dtype=dtype, rng=dropout_rng)
            self.memory_norm = LayerNorm(d_model, dtype=dtype)
            self.memory_dropout = Dropout(dropout, rng=dropout_rng)

    def forward(self, x, cache=None, memory=None, memory_key_mask=None, need_weights=False):
        x = self._checked(x)
        if cache is not None and cache.length and cache.keys.shape[0] != x.shape[0]:
            fail(self.op, (ShapeError, "x and the cache need one batch size B"), x=x, cached_keys=cache.keys)
        if (memory is None) != (self.memory_attn is None):
            made = ("without memory_dim: pass no" if self.memory_attn is None
                    else f"with memory_dim {self.memory_dim}: pass a")
            fail(self.op, (ValueError, f"this layer was made {made} memory"), x=x, memory=memory)
        x, weights = self._residual(x, lambda h: self._causal_attention(h, cache, need_weights), self.attention_norm,
                                    self.attention_dropout)
        if memory is not None:
            x, memory_weights = self._residual(
                x, lambda h: self.memory_attn(h, memory, memory, key_mask=memory_key_mask, need_weights=need_weights,
                                              average_weights=False), self.memory_norm, self.memory_dropout)
        x = self._feedforward(x)
        if not need_weights:
            return x
        return (x, weights) if memory is None else (x, weights, memory_weights)

    def _causal_attention(self, x, cache, need_weights):
        attention = self.self_attn
        batch, length = x.shape[:2]
        queries, keys, values = (
            _split_heads(projection(x), attention.num_heads)  # (B, T, D) -> (B, H, T, Dh)
            for projection in (attention.query_proj, attention.key_proj, attention.value_proj))
        if cache is not None:
            keys, values = cache.extend(keys, values)  # (B, H, Tc + T, Dh)
        # is_causal aligns the T queries with the last T keys: query i sees the cache and the new keys up to i.
        context = scaled_dot_product_attention(
            queries, keys, values, is_causal=True, dropout_p=attention.dropout if self.training else 0.0,
            rng=attention.rng, return_weights=need_weights)  # (B, H, T, Dh), and the weights (B, H, T, Tk)
        context, weights = context if need_weights else (context, None)
        context = context.swapaxes(1, 2).reshape(batch, length, self.d_model)  # (B, H, T, Dh) -> (B, T, D)
        return attention.out_proj(context), weights


def _split_heads(x, heads):
    batch, length, size = x.shape
    return x.reshape(batch, length, heads, size // heads).swapaxes(1, 2)  # (B, T, D) -> (B, H, T, Dh)
