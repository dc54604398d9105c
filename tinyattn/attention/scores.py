"""Score functions: how well each key matches a query. One signature for all: ``score(query, keys) -> scores``.

Shapes: query (B, Dq) or (B, Tq, Dq); keys (B, Tk, Dk); scores (B, Tk) or (B, Tq, Tk), one number for every
(query, key) pair. A higher score means more attention once the scores go through a softmax (``attend``).

==========================  ===================================  ======================================
score                       formula                              paper
==========================  ===================================  ======================================
``DotScore``                q . k                                Luong, Pham & Manning (2015), "dot"
``ScaledDotScore``          q . k / sqrt(D)                      Vaswani et al. (2017)
``GeneralScore``            q^T W k  (bilinear)                  Luong et al. (2015), "general"
``AdditiveScore``           v^T tanh(W q + U k)  (concat)        Bahdanau, Cho & Bengio (2014)
``LocationScore``           (W q)[s], from the query alone       Luong et al. (2015), "location"
==========================  ===================================  ======================================

Why scale the dot product: with q and k of D independent unit-variance components, q . k has variance D; large
scores saturate the softmax (one weight near 1, the others near 0) and its gradient vanishes. Dividing by sqrt(D)
keeps the variance at 1.

Cost: every score is computed for every (query, key) pair, so time and memory grow as B * Tq * Tk; the additive
score also builds a (B, Tq, Tk, H) tensor before reducing it, which is why dot-product scores won in practice.
"""
import math

import numpy as np

from tinyattn.attention import _checks
from tinyattn.nn import init
from tinyattn.nn.module import Module, Parameter
from tinyattn.random import generator
from tinyattn.tensor import as_tensor


class Score(Module):
    """Base class of score functions: ``forward(query, keys) -> scores``, shapes in the module docstring."""


class DotScore(Score):
    """score(q, k) = q . k (Luong et al., 2015, "dot"). No parameters; query and keys need the same size D."""

    def forward(self, query, keys):
        query, keys, single = _checks.query_keys("DotScore", query, keys, same_size=True)
        scores = query @ keys.swapaxes(-1, -2)  # (B, Tq, D) @ (B, D, Tk) -> (B, Tq, Tk)
        return scores.squeeze(1) if single else scores  # (B, 1, Tk) -> (B, Tk) for a single query


class ScaledDotScore(Score):
    """score(q, k) = q . k / sqrt(D) (Vaswani et al., 2017). No parameters; query and keys need the same size D.

    The scale keeps the scores' variance near 1 whatever D is, so the softmax does not saturate.
    """

    def forward(self, query, keys):
        query, keys, single = _checks.query_keys("ScaledDotScore", query, keys, same_size=True)
        scale = query.dtype.type(1.0 / math.sqrt(query.shape[-1]))
        scores = (query * scale) @ keys.swapaxes(-1, -2)  # (B, Tq, D) @ (B, D, Tk) -> (B, Tq, Tk)
        return scores.squeeze(1) if single else scores  # (B, 1, Tk) -> (B, Tk) for a single query


class GeneralScore(Score):
    """score(q, k) = q^T W k, a learned bilinear form (Luong et al., 2015, "general").

    W is (query_size, key_size), so query and keys may differ in size; computed as (q W) . k, which costs one
    (B, Tq, Dq) @ (Dq, Dk) product rather than one per key.
    """

    def __init__(self, query_size, key_size, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("GeneralScore", query_size=query_size, key_size=key_size)
        self.query_size, self.key_size = query_size, key_size
        self.weight = init.xavier_uniform_(Parameter(np.empty((query_size, key_size), dtype)), rng=generator(rng))

    def forward(self, query, keys):
        query, keys, single = _checks.query_keys("GeneralScore", query, keys, self.query_size, self.key_size,
                                                 dtype=self.weight.dtype)
        projected = query @ self.weight  # (B, Tq, Dq) @ (Dq, Dk) -> (B, Tq, Dk)
        scores = projected @ keys.swapaxes(-1, -2)  # (B, Tq, Dk) @ (B, Dk, Tk) -> (B, Tq, Tk)
        return scores.squeeze(1) if single else scores  # (B, 1, Tk) -> (B, Tk) for a single query

    def extra_repr(self):
        return f"{self.query_size}, {self.key_size}"


class AdditiveScore(Score):
    """score(q, k) = v^T tanh(W q + U k): a one-hidden-layer network on the pair (Bahdanau, Cho & Bengio, 2014;
    Luong et al. call it "concat").

    W (query_size, hidden_size), U (key_size, hidden_size), v (hidden_size,). U k is computed once per key, W q
    once per query, and their sum is broadcast to (B, Tq, Tk, H): memory grows with Tq * Tk * H.
    """

    def __init__(self, query_size, key_size, hidden_size, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("AdditiveScore", query_size=query_size, key_size=key_size, hidden_size=hidden_size)
        rng = generator(rng)
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_weight = init.xavier_uniform_(Parameter(np.empty((query_size, hidden_size), dtype)), rng=rng)
        self.key_weight = init.xavier_uniform_(Parameter(np.empty((key_size, hidden_size), dtype)), rng=rng)
        bound = 1.0 / math.sqrt(hidden_size)
        self.vector = init.uniform_(Parameter(np.empty(hidden_size, dtype)), -bound, bound, rng)

    def forward(self, query, keys, projected_keys=None):
        """`projected_keys` (B, Tk, H) = keys @ U may be passed in when the same keys serve many queries (a
        decoder attends to the same encoder states at every step): ``score.project_keys(keys)``."""
        query, keys, single = _checks.query_keys("AdditiveScore", query, keys, self.query_size, self.key_size,
                                                 dtype=self.query_weight.dtype)
        projected_keys = self.project_keys(keys) if projected_keys is None else as_tensor(projected_keys)
        projected_query = query @ self.query_weight  # (B, Tq, Dq) @ (Dq, H) -> (B, Tq, H)
        hidden = (projected_query.expand_dims(2) + projected_keys.expand_dims(1)).tanh()  # -> (B, Tq, Tk, H)
        scores = hidden @ self.vector  # (B, Tq, Tk, H) @ (H,) -> (B, Tq, Tk)
        return scores.squeeze(1) if single else scores  # (B, 1, Tk) -> (B, Tk) for a single query

    def project_keys(self, keys):
        """U k for every key: (B, Tk, Dk) -> (B, Tk, H)."""
        return keys @ self.key_weight

    def extra_repr(self):
        return f"{self.query_size}, {self.key_size}, hidden_size={self.hidden_size}"


class LocationScore(Score):
    """score(q, s) = (W q + b)[s]: the scores come from the query alone, one per source position (Luong et al.,
    2015, "location"). The keys only say how many positions there are.

    W is (query_size, max_length): the model can attend to at most `max_length` positions, and a longer source is
    an error.
    """

    def __init__(self, query_size, max_length, dtype=np.float32, rng=None):
        super().__init__()
        _checks.sizes("LocationScore", query_size=query_size, max_length=max_length)
        self.query_size, self.max_length = query_size, max_length
        rng = generator(rng)
        self.weight = init.xavier_uniform_(Parameter(np.empty((query_size, max_length), dtype)), rng=rng)
        self.bias = Parameter(np.zeros(max_length, dtype))

    def forward(self, query, keys):
        query, keys, single = _checks.query_keys("LocationScore", query, keys, self.query_size,
                                                 dtype=self.weight.dtype, max_keys=self.max_length)
        scores = query @ self.weight + self.bias  # (B, Tq, Dq) @ (Dq, max_length) -> (B, Tq, max_length)
        scores = scores[..., :keys.shape[1]]  # the first Tk positions: (B, Tq, Tk)
        return scores.squeeze(1) if single else scores  # (B, 1, Tk) -> (B, Tk) for a single query

    def extra_repr(self):
        return f"{self.query_size}, max_length={self.max_length}"


SCORES = {"dot": DotScore, "scaled_dot": ScaledDotScore, "general": GeneralScore, "additive": AdditiveScore,
          "concat": AdditiveScore, "location": LocationScore}


def make_score(name, query_size, key_size, hidden_size=None, max_length=None, dtype=np.float32, rng=None):
    """A score module by name: "dot", "scaled_dot", "general", "additive" (or "concat", its other name) or
    "location". `hidden_size` is the additive score's (default: key_size); `max_length` the location score's. Every
    size is an integer >= 1 (TypeError or ValueError otherwise), even those the named score does not use."""
    _checks.sizes("make_score", optional=("hidden_size", "max_length"), query_size=query_size, key_size=key_size,
                  hidden_size=hidden_size, max_length=max_length)
    _checks.score_sizes("make_score", name, query_size, key_size, max_length)
    if name in ("dot", "scaled_dot"):
        return SCORES[name]()
    if name == "general":
        return GeneralScore(query_size, key_size, dtype=dtype, rng=rng)
    if name in ("additive", "concat"):
        return AdditiveScore(query_size, key_size, key_size if hidden_size is None else hidden_size, dtype=dtype,
                             rng=rng)
    if name == "location":
        return LocationScore(query_size, max_length, dtype=dtype, rng=rng)
    raise ValueError(f"make_score: unknown score {name!r}; choose from {sorted(SCORES)}")
