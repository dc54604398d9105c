"""Multi-head attention (Vaswani et al., 2017, "Attention Is All You Need"): H scaled dot-product attentions side by
side, each over its own learned projection of the queries, keys and values, their outputs joined and projected.

    head_h = softmax(scale * (query W_q^h) (key W_k^h)^T + mask) (value W_v^h)     (B, Tq, E / H)
    output = concat(head_1, ..., head_H) W_o                                        (B, Tq, E)

Self-attention is the case query = key = value (each position of a sequence attends to the others); cross-attention
takes the keys and values from another sequence, of sizes kdim and vdim.
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.attention._checks import fail
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks as layer_checks
from tinyattn.nn import torch_layout
from tinyattn.nn.layers import Linear
from tinyattn.nn.module import Module
from tinyattn.primitive import as_array
from tinyattn.random import generator
from tinyattn.scaled_dot_product import combine_masks, float_mask_problem, scaled_dot_product_attention
from tinyattn.tensor import as_tensor

OP = "MultiHeadAttention"


class MultiHeadAttention(Module):
    """Multi-head attention, batch first (Vaswani et al., 2017).

    output = concat_h(softmax(scale * q_h @ k_h^T + mask) @ v_h) @ W_o, with q = query @ W_q, k = key @ W_k,
    v = value @ W_v split into H heads of size Dh = E / H, and scale = 1 / sqrt(Dh).

    Shapes: query (B, Tq, E), key (B, Tk, kdim), value (B, Tk, vdim) -> output (B, Tq, E) and weights (B, Tq, Tk)
    averaged over the heads, or (B, H, Tq, Tk) with ``average_weights=False``, or None with ``need_weights=False``.
    kdim and vdim default to E.

    Masks, in tinyattn's one convention (True = may attend; a float mask is added to the scaled scores):
    `key_mask` (B, Tk) bool, True = a real key (False for padding), the same for every query and head; `attn_mask`
    (Tq, Tk) for every sequence and head, or (B, H, Tq, Tk), bool or float; `is_causal` lets query i see key j only
    where j <= i + (Tk - Tq) (see ``scaled_dot_product_attention``). A key must pass all three. A query that may
    attend to no key gets zero weights and a zero context (its output is then the output projection's bias), with
    finite gradients. Keys and values padded in `key_mask` are zeroed before their projections, so NaN there reaches
    no output and no gradient; queries are never masked (in self-attention a padded query is computed like any
    other: pad with finite numbers, and ignore its output).

    Layers: query_proj (E -> E), key_proj (kdim -> E), value_proj (vdim -> E), out_proj (E -> E), each a Linear
    (weight (in, out)). `dropout` drops attention weights in training mode, drawing from `rng` (tinyattn.random),
    which also draws the initial weights.
    """

    def __init__(self, embed_dim, num_heads, kdim=None, vdim=None, bias=True, dropout=0.0, dtype=np.float32,
                 rng=None):
        super().__init__()
        self.embed_dim = layer_checks.size(OP, "embed_dim", embed_dim)
        self.num_heads = layer_checks.size(OP, "num_heads", num_heads)
        self.kdim = layer_checks.size(OP, "kdim", kdim, optional=True) or self.embed_dim
        self.vdim = layer_checks.size(OP, "vdim", vdim, optional=True) or self.embed_dim
        if self.embed_dim % self.num_heads:
            raise ValueError(f"{OP}: embed_dim must be divisible by num_heads (each head gets embed_dim / num_heads "
                             f"features); got embed_dim={embed_dim}, num_heads={num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.integer, np.floating)) or not (
                0 <= dropout < 1):
            raise ValueError(f"{OP}: dropout must be a number in [0, 1); got dropout={dropout!r}")
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = float(dropout)
        draws = generator(rng)
        self.rng = None if rng is None else draws  # None: the default generator as it is at each call, as Dropout
        self.query_proj = Linear(self.embed_dim, self.embed_dim, bias, dtype, draws)
        self.key_proj = Linear(self.kdim, self.embed_dim, bias, dtype, draws)
        self.value_proj = Linear(self.vdim, self.embed_dim, bias, dtype, draws)
        self.out_proj = Linear(self.embed_dim, self.embed_dim, bias, dtype, draws)

    def forward(self, query, key, value, key_mask=None, attn_mask=None, is_causal=False, need_weights=True,
                average_weights=True):
        query, key, value, key_mask, mask = self._checked(query, key, value, key_mask, attn_mask)
        if key_mask is not None and not key_mask.all():
            # Padding is zeroed before the projections, so garbage there (NaN) reaches no weight's gradient either.
            keep = key_mask[..., None]  # (B, Tk) -> (B, Tk, 1)
            hidden_key = F.where(keep, key, 0)
            key, value = hidden_key, (hidden_key if value is key else F.where(keep, value, 0))
        queries = self._heads(self.query_proj(query))  # (B, Tq, E) -> (B, H, Tq, Dh)
        keys = self._heads(self.key_proj(key))  # (B, Tk, kdim) -> (B, H, Tk, Dh)
        values = self._heads(self.value_proj(value))  # (B, Tk, vdim) -> (B, H, Tk, Dh)
        # Without weights to return (and without dropout), the fused kernel runs: no (B, H, Tq, Tk) array is kept.
        context = scaled_dot_product_attention(
            queries, keys, values, mask=mask, is_causal=is_causal, dropout_p=self.dropout if self.training else 0.0,
            rng=self.rng, return_weights=need_weights)  # (B, H, Tq, Dh), and the weights (B, H, Tq, Tk)
        context, weights = context if need_weights else (context, None)
        batch, length = query.shape[:2]
        context = context.swapaxes(1, 2).reshape(batch, length, self.embed_dim)  # (B, H, Tq, Dh) -> (B, Tq, E)
        output = self.out_proj(context)  # (B, Tq, E)
        if not need_weights:
            return output, None
        return output, (weights.mean(axis=1) if average_weights else weights)  # (B, Tq, Tk) or (B, H, Tq, Tk)

    def _heads(self, x):
        batch, length = x.shape[:2]
        return x.reshape(batch, length, self.num_heads, self.head_dim).swapaxes(1, 2)  # (B, T, E) -> (B, H, T, Dh)

    def _checked(self, query, key, value, key_mask, attn_mask):
        """The inputs as Tensors, the key mask (B, Tk) or None and one mask (B or 1, H or 1, Tq, Tk) or None for every
        head; or an error naming the shapes and dtypes."""
        query, key, value = as_tensor(query), as_tensor(key), as_tensor(value)
        key_mask = None if key_mask is None else as_array(key_mask)
        attn_mask = None if attn_mask is None else as_array(attn_mask)
        problem = self._inputs_problem(query.data, key.data, value.data) or (
            key_mask is not None and _key_mask_problem(key_mask, key.shape[:2])) or (
            attn_mask is not None and self._attn_mask_problem(attn_mask, query.shape[:2] + key.shape[1:2]))
        if problem:
            fail(OP, problem, query=query, key=key, value=value, key_mask=key_mask, attn_mask=attn_mask)
        heads_mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, Tk) -> (B, 1, 1, Tk)
        return query, key, value, key_mask, combine_masks(heads_mask, attn_mask)

    def _inputs_problem(self, query, key, value):
        if any(array.dtype.kind != "f" for array in (query, key, value)):
            return DTypeError, "needs float query, key and value"
        dtype = self.query_proj.weight.dtype
        if not query.dtype == key.dtype == value.dtype == dtype:
            return DTypeError, f"query, key and value must have the parameters' dtype {dtype} (model.astype(...))"
        if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
            return ShapeError, "expected query (B, Tq, E), key (B, Tk, kdim) and value (B, Tk, vdim)"
        if not query.shape[0] == key.shape[0] == value.shape[0] or key.shape[1] != value.shape[1]:
            return ShapeError, "query, key and value need one batch size B, and key and value one length Tk"
        if key.shape[1] == 0:
            return ShapeError, "there must be at least one key (Tk >= 1)"
        expected = (self.embed_dim, self.kdim, self.vdim)
        if (query.shape[2], key.shape[2], value.shape[2]) != expected:
            return ShapeError, f"this layer was made for (E, kdim, vdim) = {expected} on the last axes"
        return None

    def _attn_mask_problem(self, mask, sizes):
        batch, queries, keys = sizes
        if mask.dtype != np.bool_ and mask.dtype.kind != "f":
            return DTypeError, "attn_mask must be boolean (True = may attend) or float (added to the scaled scores)"
        if mask.shape not in ((queries, keys), (batch, self.num_heads, queries, keys)):
            return ShapeError, (f"attn_mask must be (Tq, Tk) = {(queries, keys)} or (B, H, Tq, Tk) = "
                                f"{(batch, self.num_heads, queries, keys)}")
        return None if mask.dtype == np.bool_ else float_mask_problem(mask, "attn_mask")

    def _torch_layout(self):
        """torch.nn.MultiheadAttention's names: the three input projections packed into in_proj_weight (3E, E) when
        kdim = vdim = E, else apart as q_proj_weight, k_proj_weight, v_proj_weight ((E, in) each); their biases
        always packed into in_proj_bias (3E,); out_proj a Linear."""
        projections = ("query_proj", "key_proj", "value_proj")
        if self.kdim == self.vdim == self.embed_dim:
            entries = [torch_layout.stacked("in_proj_weight", [f"{name}.weight" for name in projections], True)]
        else:
            entries = [torch_layout.transposed(f"{name}.weight", f"{letter}_proj_weight")
                       for name, letter in zip(projections, "qkv", strict=True)]
        if self.out_proj.bias is not None:
            entries.append(torch_layout.stacked("in_proj_bias", [f"{name}.bias" for name in projections], False))
        return entries + torch_layout.prefixed(self.out_proj._torch_layout(), "out_proj", "out_proj")

    def extra_repr(self):
        return (f"{self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, vdim={self.vdim}, "
                f"dropout={self.dropout}")


def _key_mask_problem(mask, sizes):
    if mask.dtype != np.bool_:
        return DTypeError, "key_mask must be boolean (B, Tk), True = a real key"
    if mask.shape != sizes:
        return ShapeError, f"key_mask must be (B, Tk) = {sizes}, True = a real key"
    return None
