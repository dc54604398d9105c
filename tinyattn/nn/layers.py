"""Layers without recurrence: Linear, Embedding, Dropout, LayerNorm.

Weights are float32 by default (training speed); pass ``dtype=np.float64`` for gradient checks, or convert a whole
model with ``model.astype(np.float64)``. Every layer that draws random numbers takes ``rng`` (see tinyattn.random).
"""
import math

import numpy as np

from tinyattn import ops
from tinyattn.errors import ShapeError
from tinyattn.functional import dropout
from tinyattn.nn import _checks, init, torch_layout
from tinyattn.nn.module import Module, Parameter
from tinyattn.random import generator


def _check_last_axis(op, x, size):
    if x.shape[-1:] != (size,):
        raise ShapeError(f"{op}: expected input (..., {size}), got shape {tuple(x.shape)} {x.dtype}")


class Linear(Module):
    """y = x @ weight + bias. Shapes: x (..., in_features) -> y (..., out_features).

    weight has shape (in_features, out_features) so that the code reads as the formula (torch stores the
    transpose). Both are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), as torch does.
    """

    def __init__(self, in_features, out_features, bias=True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = _checks.size("Linear", "in_features", in_features)
        self.out_features = _checks.size("Linear", "out_features", out_features)
        bound = 1.0 / math.sqrt(in_features)
        rng = generator(rng)
        self.weight = init.uniform_(Parameter(np.empty((in_features, out_features), dtype)), -bound, bound, rng)
        self.bias = init.uniform_(Parameter(np.empty(out_features, dtype)), -bound, bound, rng) if bias else None

    def forward(self, x):
        _check_last_axis("Linear", x, self.in_features)
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def _torch_layout(self):
        weight = torch_layout.transposed("weight")  # torch keeps (out, in)
        return [weight] if self.bias is None else [weight, torch_layout.same("bias")]

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of `num_embeddings` vectors of size `embedding_dim`, looked up by integer ids: (B, T) -> (B, T, D).

    Drawn from N(0, 1). The row `padding_idx` (if given) starts at zero and gets no gradient.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, dtype=np.float32, rng=None):
        super().__init__()
        self.num_embeddings = _checks.size("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = _checks.size("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            padding_idx = _checks.index("Embedding", "padding_idx", padding_idx, self.num_embeddings)
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim), dtype)), rng=rng)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids):
        return ops.embedding(self.weight, ids, padding_idx=self.padding_idx)

    def extra_repr(self):
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


class Dropout(Module):
    """Dropout in training mode, the identity in eval mode (see ``F.dropout``).

    Draws from `rng`: a Generator, a generator made once from an int seed, or with None the default generator as it
    is at each call, as ``F.dropout`` does, so ``ta.manual_seed`` and ``tinyattn.random.set_state`` after
    construction (resuming from a checkpoint) decide the masks.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p
        self.rng = None if rng is None else generator(rng)

    def forward(self, x):
        return dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis (Ba, Kiros & Hinton, 2016).

    Shapes: x (..., D) -> (..., D); weight starts at ones, bias at zeros.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, dtype=np.float32):
        super().__init__()
        self.normalized_shape, self.eps = _checks.size("LayerNorm", "normalized_shape", normalized_shape), eps
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine else None

    def forward(self, x):
        _check_last_axis("LayerNorm", x, self.normalized_shape)
        return ops.layer_norm(x, self.weight, self.bias, eps=self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}"
