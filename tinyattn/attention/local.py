"""Local attention (Luong, Pham & Manning, 2015): attend to a window of 2D + 1 source positions around a centre p_t.

    window_t  = { s : |s - round(p_t)| <= D }                        the positions the query may attend to
    local-m:  p_t = min(t, S_b - 1)                                   monotonic: output step t looks at source t
    local-p:  p_t = (S_b - 1) * sigmoid(v_p . tanh(W_p h_t))          predicted from the decoder state h_t
    weights   = softmax over the window of score(h_t, h_s)            (local-m: rows sum to one)
              * exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D / 2        (local-p only: a Gaussian centred on p_t;
                                                                         sigma = 1/2 when D = 0)

S_b is row b's real source length (its number of True mask entries). The paper scales by the padded length S; we use
S_b - 1 so that p_t always lies on a real source position, in [0, S_b - 1]. Local attention measures positions from
the start of the row, so it assumes the padding comes last (a prefix mask), as it does everywhere in tinyattn's
seq2seq code.

The window is a constant mask (which positions are inside does not change under a small change of p_t), so local-p's
gradient reaches p_t, and through it W_p and v_p, only through the Gaussian. With the Gaussian factor the local-p
weights of a row do NOT sum to one (the centre keeps its softmax weight, its neighbours lose some), as in the paper.

Cost: the scores are still computed for all S positions and masked, which keeps the code short; a real implementation
would slice out the 2D + 1 positions and pay for those only.
"""
import math

import numpy as np

from tinyattn.attention import _checks
from tinyattn.attention.attend import hide_keys
from tinyattn.nn import init
from tinyattn.nn.module import Module, Parameter
from tinyattn.random import generator
from tinyattn.tensor import as_tensor

LOCAL_KINDS = ("local-m", "local-p")


def window_mask(centres, length, window):
    """The keys inside each row's window: mask[b, s] = |s - round(centres[b])| <= window.

    centres (B,) numbers (a Tensor's values are used; rounding is to the nearest integer, halves to even), length S,
    window D >= 0 -> mask (B, S) bool, True = inside. A window is 2D + 1 positions wide, fewer at the edges.
    """
    centres = _checks.window_centres("window_mask", centres, window)
    centres = np.rint(np.asarray(centres, dtype=np.float64))  # (B,)
    positions = np.arange(length)
    return np.abs(positions[None, :] - centres[:, None]) <= window  # (1, S) - (B, 1) -> (B, S)


def gaussian(centres, length, sigma):
    """g[b, s] = exp(-(s - centres[b])^2 / (2 sigma^2)), differentiable in `centres`.

    centres (B,) Tensor (or array) of float positions, length S, sigma > 0 -> g (B, S) of the centres' dtype, equal to
    1 at s = centres[b]. Its derivative in the centre is g * (s - p) / sigma^2, which pulls p_t towards the positions
    whose weight the loss wants to grow.
    """
    centres = _checks.gaussian_centres("gaussian", centres, sigma)
    positions = np.arange(length, dtype=centres.dtype)[None, :]  # (1, S)
    distances = positions - centres.expand_dims(1)  # (1, S) - (B, 1) -> (B, S)
    return (distances * distances * centres.dtype.type(-1.0 / (2.0 * sigma * sigma))).exp()


def local_m_centres(step, source_lengths):
    """Monotonic alignment (local-m): p_t = min(t, S_b - 1) for output step t (0-based). source_lengths (B,) int."""
    return np.minimum(step, np.asarray(source_lengths) - 1)


def source_lengths(source_mask):
    """S_b, the number of real tokens of each row: source_mask (B, S) bool -> (B,) int64."""
    source_mask = _checks.key_mask("source_lengths", source_mask, name="source_mask", meaning="a real token")
    return np.count_nonzero(source_mask, axis=1).astype(np.int64)


class PositionPredictor(Module):
    """Predictive alignment (local-p): p_t = (S_b - 1) * sigmoid(v_p . tanh(h_t W_p)) (Luong et al., 2015).

    W_p (query_size, hidden_size) and v_p (hidden_size,). forward(query (B, Dq), source_lengths (B,) int) ->
    centres (B,) Tensor, in [0, S_b - 1].
    """

    def __init__(self, query_size, hidden_size, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("PositionPredictor", query_size=query_size, hidden_size=hidden_size)
        rng = generator(rng)
        self.query_size, self.hidden_size = query_size, hidden_size
        self.weight = init.xavier_uniform_(Parameter(np.empty((query_size, hidden_size), dtype)), rng=rng)
        bound = 1.0 / math.sqrt(hidden_size)
        self.vector = init.uniform_(Parameter(np.empty(hidden_size, dtype)), -bound, bound, rng)

    def forward(self, query, source_lengths):
        hidden = (query @ self.weight).tanh()  # (B, Dq) @ (Dq, A) -> (B, A)
        fraction = (hidden @ self.vector).sigmoid()  # (B, A) @ (A,) -> (B,)
        last = (np.asarray(source_lengths) - 1).astype(self.weight.dtype)  # S_b - 1, the last real position
        return fraction * last

    def extra_repr(self):
        return f"{self.query_size}, {self.hidden_size}"


def local_attend(query, keys, values, score, mask, centres, window, use_gaussian):
    """Attention restricted to a window around `centres`; returns (context (B, Dv), weights (B, S)).

    query (B, Dq), keys (B, S, Dk), values (B, S, Dv), mask (B, S) bool True = real key, centres (B,): integers for
    local-m, a Tensor for local-p. weights = softmax(score(query, keys)) over mask & window, times
    ``gaussian(centres, S, max(window, 1) / 2)`` when `use_gaussian` (local-p); context = sum_s weights[s] values[s].
    Positions outside the window or masked get weight exactly 0. The keys and values of masked positions are
    replaced by zeros before use, so that garbage in the padding (NaN, inf) reaches neither the output nor a
    gradient (as in ``attend``); real positions outside the window are real data and must be finite.
    """
    length = keys.shape[1]
    mask = _checks.key_mask("local_attend", mask, keys)
    keys, values = hide_keys(as_tensor(keys), as_tensor(values), mask)
    inside = window_mask(centres, length, window) & mask  # (B, S): the window's real keys
    scores = as_tensor(score(query, keys))  # (B, S)
    weights = scores.softmax(axis=-1, mask=inside)  # (B, S), zero outside the window
    if use_gaussian:
        weights = weights * gaussian(centres, length, sigma=max(window, 1) / 2.0)  # (B, S)
    context = weights.expand_dims(1) @ values  # (B, 1, S) @ (B, S, Dv) -> (B, 1, Dv)
    return context.squeeze(1), weights  # (B, Dv), (B, S)
