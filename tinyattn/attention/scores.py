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

from tinyattn import ops
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn import init
from tinyattn.nn.module import Module, Parameter
from tinyattn.primitive import as_array
from tinyattn.random import generator


def check_query_keys(op, query, keys, query_size=None, key_size=None):
    """Check the shapes and dtypes every score shares; return (query as (B, Tq, Dq), whether it was 2-D)."""
    q, k = as_array(query), as_array(keys)
    problem = _query_keys_problem(q, k, query_size, key_size)
    if problem:  # the message is built only when there is one: this runs at every decoding step
        error, text = problem
        raise error(f"{op}: {text}, got query {q.shape} {q.dtype}, keys {k.shape} {k.dtype}")
    single = q.ndim == 2
    return (ops.expand_dims(query, 1) if single else query), single  # (B, Dq) -> (B, 1, Dq)


def _query_keys_problem(q, k, query_size, key_size):
    """(error class, what is wrong) for a bad query or keys array, or None."""
    if q.dtype.kind != "f" or k.dtype.kind != "f":
        return DTypeError, "needs float query and keys"
    if q.dtype != k.dtype:
        return DTypeError, "query and keys must share a dtype"
    if q.ndim not in (2, 3) or k.ndim != 3:
        return ShapeError, "expected query (B, Dq) or (B, Tq, Dq) and keys (B, Tk, Dk)"
    if q.shape[0] != k.shape[0]:
        return ShapeError, "query and keys need the same batch size B"
    if k.shape[1] == 0:
        return ShapeError, "there must be at least one key (Tk >= 1)"
    if query_size is not None and q.shape[-1] != query_size:
        return ShapeError, f"expected a query of size {query_size} on its last axis"
    if key_size is not None and k.shape[-1] != key_size:
        return ShapeError, f"expected keys of size {key_size} on their last axis"
    return None


def _finish(scores, single):
    return ops.squeeze(scores, 1) if single else scores  # (B, 1, Tk) -> (B, Tk)


class Score(Module):
    """Base class of score functions: ``forward(query, keys) -> scores``, shapes in the module docstring."""

    def _check_parameter_dtype(self, query, parameter):
        dtype = as_array(query).dtype
        if dtype != parameter.dtype:
            raise DTypeError(f"{type(self).__name__}: the query is {dtype} but the parameters are "
                             f"{parameter.dtype}; convert one (x.astype(...) or model.astype(...))")


class DotScore(Score):
    """score(q, k) = q . k (Luong et al., 2015, "dot"). No parameters; query and keys need the same size D."""

    def forward(self, query, keys):
        query, single = check_query_keys("DotScore", query, keys)
        _same_size("DotScore", query, keys)
        return _finish(ops.matmul(query, ops.swapaxes(keys, 1, 2)), single)  # (B, Tq, D) @ (B, D, Tk)


class ScaledDotScore(Score):
    """score(q, k) = q . k / sqrt(D) (Vaswani et al., 2017). No parameters; query and keys need the same size D.

    The scale keeps the scores' variance near 1 whatever D is, so the softmax does not saturate.
    """

    def forward(self, query, keys):
        query, single = check_query_keys("ScaledDotScore", query, keys)
        size = _same_size("ScaledDotScore", query, keys)
        scale = as_array(query).dtype.type(1.0 / math.sqrt(size))
        return _finish(ops.matmul(query * scale, ops.swapaxes(keys, 1, 2)), single)  # (B, Tq, Tk)


class GeneralScore(Score):
    """score(q, k) = q^T W k, a learned bilinear form (Luong et al., 2015, "general").

    W is (query_size, key_size), so query and keys may differ in size; computed as (q W) . k, which costs one
    (B, Tq, Dq) @ (Dq, Dk) product rather than one per key.
    """

    def __init__(self, query_size, key_size, dtype=np.float32, rng=None):
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.weight = init.xavier_uniform_(Parameter(np.empty((query_size, key_size), dtype)), rng=generator(rng))

    def forward(self, query, keys):
        query, single = check_query_keys("GeneralScore", query, keys, self.query_size, self.key_size)
        self._check_parameter_dtype(query, self.weight)
        projected = ops.matmul(query, self.weight)  # (B, Tq, Dq) @ (Dq, Dk) -> (B, Tq, Dk)
        return _finish(ops.matmul(projected, ops.swapaxes(keys, 1, 2)), single)  # (B, Tq, Tk)

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
        rng = generator(rng)
        self.query_size, self.key_size, self.hidden_size = query_size, key_size, hidden_size
        self.query_weight = init.xavier_uniform_(Parameter(np.empty((query_size, hidden_size), dtype)), rng=rng)
        self.key_weight = init.xavier_uniform_(Parameter(np.empty((key_size, hidden_size), dtype)), rng=rng)
        bound = 1.0 / math.sqrt(hidden_size)
        self.vector = init.uniform_(Parameter(np.empty(hidden_size, dtype)), -bound, bound, rng)

    def forward(self, query, keys, projected_keys=None):
        """`projected_keys` (B, Tk, H) = keys @ U may be passed in when the same keys serve many queries (a
        decoder attends to the same encoder states at every step): ``score.project_keys(keys)``."""
        query, single = check_query_keys("AdditiveScore", query, keys, self.query_size, self.key_size)
        self._check_parameter_dtype(query, self.query_weight)
        if projected_keys is None:
            projected_keys = self.project_keys(keys)
        projected_query = ops.matmul(query, self.query_weight)  # (B, Tq, H)
        hidden = ops.tanh(ops.expand_dims(projected_query, 2) + ops.expand_dims(projected_keys, 1))  # (B, Tq, Tk, H)
        return _finish(ops.matmul(hidden, self.vector), single)  # (B, Tq, Tk, H) @ (H,) -> (B, Tq, Tk)

    def project_keys(self, keys):
        """U k for every key: (B, Tk, Dk) -> (B, Tk, H)."""
        return ops.matmul(keys, self.key_weight)

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
        self.query_size, self.max_length = query_size, max_length
        rng = generator(rng)
        self.weight = init.xavier_uniform_(Parameter(np.empty((query_size, max_length), dtype)), rng=rng)
        self.bias = Parameter(np.zeros(max_length, dtype))

    def forward(self, query, keys):
        query, single = check_query_keys("LocationScore", query, keys, self.query_size)
        self._check_parameter_dtype(query, self.weight)
        length = as_array(keys).shape[1]
        if length > self.max_length:
            raise ShapeError(f"LocationScore: keys {as_array(keys).shape} hold {length} positions but this score "
                             f"was made for at most max_length={self.max_length}")
        scores = ops.matmul(query, self.weight) + self.bias  # (B, Tq, max_length)
        return _finish(ops.getitem(scores, (Ellipsis, slice(0, length))), single)  # (B, Tq, Tk)

    def extra_repr(self):
        return f"{self.query_size}, max_length={self.max_length}"


def _same_size(op, query, keys):
    q, k = as_array(query), as_array(keys)
    if q.shape[-1] != k.shape[-1]:
        raise ShapeError(f"{op}: query and keys need the same feature size D, got query {q.shape} {q.dtype} and "
                         f"keys {k.shape} {k.dtype} (use GeneralScore or AdditiveScore for different sizes)")
    return q.shape[-1]


SCORES = {"dot": DotScore, "scaled_dot": ScaledDotScore, "general": GeneralScore, "additive": AdditiveScore,
          "concat": AdditiveScore, "location": LocationScore}


def make_score(name, query_size, key_size, hidden_size=None, max_length=None, dtype=np.float32, rng=None):
    """A score module by name: "dot", "scaled_dot", "general", "additive" (or "concat", its other name) or
    "location". `hidden_size` is the additive score's (default: key_size); `max_length` the location score's."""
    if name in ("dot", "scaled_dot"):
        if query_size != key_size:
            raise ShapeError(f"make_score: a {name!r} score needs query_size == key_size, got {query_size} and "
                             f"{key_size}")
        return SCORES[name]()
    if name == "general":
        return GeneralScore(query_size, key_size, dtype=dtype, rng=rng)
    if name in ("additive", "concat"):
        return AdditiveScore(query_size, key_size, hidden_size or key_size, dtype=dtype, rng=rng)
    if name == "location":
        if max_length is None:
            raise ValueError("make_score: a 'location' score needs max_length")
        return LocationScore(query_size, max_length, dtype=dtype, rng=rng)
    raise ValueError(f"make_score: unknown score {name!r}; choose from {sorted(SCORES)}")
