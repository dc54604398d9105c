"""Positions: what tells attention, which ignores order, where each token stands.

- ``SinusoidalPositionalEncoding`` adds fixed sines and cosines of geometric wavelengths (Vaswani et al., 2017).
- ``LearnedPositionalEmbedding`` adds a trained vector per position (Gehring et al., 2017; GPT, Radford et al., 2018).
- ``rotary_angles`` and ``apply_rotary`` rotate queries and keys by their position (RoPE, Su et al., 2021), so that
  their dot product depends only on how far apart they are.

All three share one table of angles, ``angle[t, i] = t * base ** (-2i / D)``: position t times frequency i.
Shapes: B batch, T length, D features; ``offset`` is the position of the first of the T steps (the number of steps
already decoded, for a decoder fed one token at a time).
"""
import numpy as np

from tinyattn.attention._checks import fail
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import _checks, init
from tinyattn.nn.module import Module, Parameter
from tinyattn.ops import stack
from tinyattn.tensor import as_tensor


def _angles(length, offset, dim, base):
    """angle[t, i] = (offset + t) * base ** (-2i / dim) for t < length, i < ceil(dim / 2); (length, ceil(dim / 2))
    float64 (positions in the thousands times a frequency near 1 need more than float32's 7 digits)."""
    frequencies = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (ceil(D/2),)
    positions = np.arange(offset, offset + length, dtype=np.float64)  # (T,)
    return positions[:, None] * frequencies[None, :]  # (T, ceil(D/2))


def _span(op, length, offset, max_length, **inputs):
    """Check that positions offset .. offset + length - 1 exist in a table of max_length rows (None: unbounded)."""
    if max_length is not None and offset + length > max_length:
        fail(op, (ShapeError, f"positions {offset} .. {offset + length - 1} (offset {offset} + T {length}) go past "
                              f"max_length {max_length}"), **inputs)


def _sequence(op, x, d_model, dtype=None):
    """Check float x (B, T, D) with D = d_model (and the dtype of the parameters, if given); return it as a Tensor."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        fail(op, (DTypeError, "needs float x (B, T, D)"), x=x)
    if x.ndim != 3 or x.shape[-1] != d_model:
        fail(op, (ShapeError, f"expected x (B, T, D) with D = d_model = {d_model}"), x=x)
    if dtype is not None and x.dtype != dtype:
        fail(op, (DTypeError, f"x is {x.dtype} but the table is {np.dtype(dtype)}; convert one (x.astype(...) or "
                              f"module.astype(...))"), x=x)
    return x


class SinusoidalPositionalEncoding(Module):
    """x + PE[offset : offset + T], with PE[t, 2i] = sin(t / base^(2i/D)) and PE[t, 2i+1] = cos(t / base^(2i/D))
    (Vaswani et al., 2017, section 3.5). Shapes: x (B, T, D) -> (B, T, D). No parameters.

    Every PE entry lies in [-1, 1], and each dimension pair turns at its own wavelength, from 2 pi (i = 0) to about
    2 pi * base, so positions stay distinct far beyond any training length. An odd D keeps the same frequencies,
    base^(-2i/D) for i < ceil(D/2), and drops the last cosine column: the final feature is a sine.

    `max_length` (None: unbounded) makes positions past it an error, as for a learned table. The encoding is
    computed in float64 and added in x's dtype (any float: a layer without parameters has nothing to convert);
    ``encoding`` returns it in `dtype`.
    """

    def __init__(self, d_model, max_length=None, base=10000.0, dtype=np.float32):
        super().__init__()
        self.d_model = _checks.size("SinusoidalPositionalEncoding", "d_model", d_model)
        self.max_length = _checks.size("SinusoidalPositionalEncoding", "max_length", max_length, optional=True)
        if not base > 1:
            raise ValueError(f"SinusoidalPositionalEncoding: base must be a number > 1; got base={base!r}")
        self.base, self.dtype = float(base), np.dtype(dtype)

    def encoding(self, length, offset=0, dtype=None):
        """PE[offset : offset + length] as an array (length, D) in `dtype` (default: the layer's)."""
        op = "SinusoidalPositionalEncoding"
        _checks.size(op, "length", length, minimum=0)
        _checks.size(op, "offset", offset, minimum=0)
        _span(op, length, offset, self.max_length)
        angles = _angles(length, offset, self.d_model, self.base)  # (T, ceil(D/2))
        table = np.empty((length, self.d_model))
        table[:, 0::2] = np.sin(angles)
        table[:, 1::2] = np.cos(angles[:, : self.d_model // 2])  # odd D: no cosine for the last frequency
        return table.astype(self.dtype if dtype is None else dtype)

    def forward(self, x, offset=0):
        op = "SinusoidalPositionalEncoding"
        x = _sequence(op, x, self.d_model)
        _checks.size(op, "offset", offset, minimum=0)
        _span(op, x.shape[1], offset, self.max_length, x=x)
        return x + self.encoding(x.shape[1], offset, x.dtype)  # (B, T, D) + (T, D)

    def extra_repr(self):
        return f"{self.d_model}, max_length={self.max_length}, base={self.base}"


class LearnedPositionalEmbedding(Module):
    """x + weight[offset : offset + T]: one trained vector per position (Gehring et al., 2017; Radford et al., 2018).

    Shapes: x (B, T, D) -> (B, T, D); weight (max_length, D), drawn from N(0, 0.02^2) as in GPT-2. Only the rows
    offset .. offset + T - 1 get a gradient (the others get zeros). A position past max_length has no vector: an
    error, since this table, unlike the sinusoidal one, cannot be extended.
    """

    def __init__(self, max_length, d_model, dtype=np.float32, rng=None):
        super().__init__()
        self.max_length = _checks.size("LearnedPositionalEmbedding", "max_length", max_length)
        self.d_model = _checks.size("LearnedPositionalEmbedding", "d_model", d_model)
        self.weight = init.normal_(Parameter(np.empty((max_length, d_model), dtype)), std=0.02, rng=rng)

    def forward(self, x, offset=0):
        op = "LearnedPositionalEmbedding"
        x = _sequence(op, x, self.d_model, self.weight.dtype)
        _checks.size(op, "offset", offset, minimum=0)
        length = x.shape[1]
        _span(op, length, offset, self.max_length, x=x, weight=self.weight)
        return x + self.weight[offset: offset + length]  # (B, T, D) + (T, D)

    def extra_repr(self):
        return f"{self.max_length}, {self.d_model}"


def rotary_angles(length, dim, base=10000.0, offset=0, dtype=np.float32):
    """cos and sin of angle[t, i] = (offset + t) * base^(-2i/dim), each (length, dim/2) in `dtype`: the rotations
    ``apply_rotary`` turns queries and keys by at positions offset .. offset + length - 1 (Su et al., 2021, eq. 15).
    `dim` (the size of each head's queries and keys) must be even: the features are rotated in pairs."""
    op = "rotary_angles"
    _checks.size(op, "length", length, minimum=0)
    _checks.size(op, "dim", dim)
    _checks.size(op, "offset", offset, minimum=0)
    if dim % 2:
        raise ValueError(f"{op}: dim must be even (features are rotated in pairs); got dim={dim}")
    if not base > 1:
        raise ValueError(f"{op}: base must be a number > 1; got base={base!r}")
    angles = _angles(length, offset, dim, float(base))  # (T, dim/2)
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def apply_rotary(x, cos, sin):
    """Rotary position embedding (RoPE, Su et al., 2021): each pair of features turned by its position's angle,

        y[..., t, 2i]     = x[..., t, 2i] * cos[t, i] - x[..., t, 2i+1] * sin[t, i]
        y[..., t, 2i + 1] = x[..., t, 2i] * sin[t, i] + x[..., t, 2i+1] * cos[t, i]

    Applied to queries at positions m and keys at positions n, rotations R_m and R_n give
    ``(R_m q) . (R_n k) = q . R_(n-m) k``: the scores depend on the positions only through m - n.

    Shapes: x (..., T, dim) with dim even, e.g. (B, T, dim) or (B, H, T, Dh); cos and sin (T, dim/2) from
    ``rotary_angles`` (or any shape that broadcasts to (..., T, dim/2) without growing it) -> (..., T, dim).
    Pairs are interleaved, (x[2i], x[2i+1]), as in the paper and RoFormer; GPT-NeoX and LLaMA code pair x[i] with
    x[i + dim/2] instead (``rotate_half``), which is this with the features permuted (evens first, then odds).
    A rotation keeps norms; its gradient, the inverse rotation, comes from the ops this is written with.
    cos and sin are constants (no gradient) and must have x's dtype.
    """
    x, cos, sin = as_tensor(x), np.asarray(cos), np.asarray(sin)
    _rotary_check(x, cos, sin)
    pairs = x.reshape(*x.shape[:-1], x.shape[-1] // 2, 2)  # (..., T, dim) -> (..., T, dim/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]  # (..., T, dim/2) each
    turned = stack(even * cos - odd * sin, even * sin + odd * cos, axis=-1)  # (..., T, dim/2, 2)
    return turned.reshape(*x.shape)  # (..., T, dim/2, 2) -> (..., T, dim)


def _rotary_check(x, cos, sin):
    op, inputs = "apply_rotary", {"x": x, "cos": cos, "sin": sin}
    if x.dtype.kind != "f":
        fail(op, (DTypeError, "needs float x (..., T, dim)"), **inputs)
    if x.ndim < 2 or x.shape[-1] % 2:
        fail(op, (ShapeError, "expected x (..., T, dim) with dim even (features are rotated in pairs)"), **inputs)
    rows = x.shape[:-1] + (x.shape[-1] // 2,)  # (..., T, dim/2)
    fits = cos.shape == sin.shape and cos.ndim <= len(rows) and all(
        side in (1, row) for side, row in zip(cos.shape[::-1], rows[::-1], strict=False))
    if not fits:
        fail(op, (ShapeError, f"cos and sin must have one shape, (T, dim/2) = {rows[-2:]} or one that broadcasts "
                              f"to (..., T, dim/2) = {rows}"), **inputs)
    if cos.dtype != x.dtype or sin.dtype != x.dtype:
        fail(op, (DTypeError, "cos and sin must have x's dtype (rotary_angles(..., dtype=x.dtype))"), **inputs)
