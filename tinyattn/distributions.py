"""Probability distributions for hard attention: where to look is drawn, not averaged.

    dist = Categorical(scores, mask=key_mask)       one distribution over the keys per query
    index = dist.sample(rng)                         an int array; sampling has no gradient
    log_p = dist.log_prob(index)                     a Tensor: the gradient's way back to the scores

Soft attention computes the expectation sum_i p_i v_i; hard attention draws one position i ~ p and reads v_i alone.
The draw is not differentiable, so the scores learn through the score function grad log p(i) (see
``tinyattn.estimators``): a distribution here has to give the log-probability of what it drew, with its gradient.

Shapes follow torch.distributions: a distribution over T positions made from logits (..., T) has the batch shape
(...); ``sample(k=None)`` gives one index per row, shape (...), and ``sample(k=n)`` gives n per row with the samples
axis first, (n, ...), so that log-probabilities (n, ...) and rewards (n, ...) line up and reduce over axis 0.

Every draw comes from an explicit ``np.random.Generator`` (``rng=None`` uses tinyattn's default generator, which
``tinyattn.manual_seed`` resets): the same seed gives the same samples, bit for bit.
"""
import math

import numpy as np

import tinyattn.functional as F
from tinyattn.errors import DTypeError, IndexOpError, ShapeError
from tinyattn.primitive import as_array
from tinyattn.random import generator
from tinyattn.tensor import Tensor, as_tensor


def _described(**inputs):
    return ", ".join(f"{name} {np.shape(value)} {as_array(value).dtype}" for name, value in inputs.items()
                     if value is not None)


class Categorical:
    """A distribution over the positions 0..T-1 of each row of `logits` (..., T): p = softmax(logits) on the last
    axis, restricted to the positions the boolean `mask` allows (True = may be chosen; it broadcasts to the logits).

    A masked position has probability exactly 0 (log-probability -inf), is never sampled, and passes no gradient.
    A row in which the mask allows nothing has no distribution at all: building it is fine (its probs are all 0,
    its entropy 0), but sampling from it raises ValueError naming the row, because no index would be honest.

    logits: a float32 or float64 Tensor (or array), finite wherever the mask allows a position; the gradients of
    ``log_prob``, ``entropy`` and ``probs`` flow back into it.
    """

    def __init__(self, logits, mask=None):
        logits = as_tensor(logits)
        if logits.dtype.kind != "f":
            raise DTypeError(f"Categorical: logits must be float32 or float64; got {_described(logits=logits)}")
        if logits.ndim == 0 or logits.shape[-1] == 0:
            raise ShapeError(f"Categorical: logits need a last axis of at least one position; got "
                             f"{_described(logits=logits)}")
        if mask is not None:
            mask = as_array(mask)
            if mask.dtype != np.bool_:
                raise DTypeError(f"Categorical: mask must be boolean (True = may be chosen); got "
                                 f"{_described(logits=logits, mask=mask)}")
            if not broadcasts_to(mask.shape, logits.shape):
                raise ShapeError(f"Categorical: mask does not broadcast to the logits; got "
                                 f"{_described(logits=logits, mask=mask)}")
        allowed = np.ones(logits.shape, bool) if mask is None else np.broadcast_to(mask, logits.shape)
        if not np.isfinite(logits.data if mask is None else logits.data[allowed]).all():
            raise ValueError(f"Categorical: logits must be finite where the mask allows a position (leave a position "
                             f"out with mask=False, not with -inf or NaN); got {_described(logits=logits, mask=mask)}")
        self.logits, self.mask, self.allowed = logits, mask, allowed
        self.log_probs = F.log_softmax(logits, axis=-1, mask=mask)  # (..., T); -inf where masked

    @property
    def batch_shape(self):
        return self.logits.shape[:-1]

    @property
    def num_positions(self):
        return self.logits.shape[-1]

    @property
    def probs(self):
        """p = softmax(logits) over the allowed positions, (..., T), a differentiable Tensor (0 where masked)."""
        return self.log_probs.exp()

    def entropy(self):
        """H = -sum_i p_i log p_i over the allowed positions, (...): log(number allowed) at most, 0 for a row that
        allows one position (or none). Differentiable; masked positions add 0 and get no gradient (not 0 * inf)."""
        log_probs = F.where(self.allowed, self.log_probs, 0.0)  # -inf would make 0 * -inf = NaN in the gradient
        return -(self.probs * log_probs).sum(axis=-1)

    # ----- drawing -------------------------------------------------------------------------------------------------
    def sample(self, rng=None, k=None, replace=True):
        """Indices drawn from each row, as an int64 array (no gradient: pass them to ``log_prob``).

        k=None: one index per row, shape (...). k=n: n indices per row, shape (n, ...): independent draws when
        `replace`, else n distinct positions in the order a draw-and-remove process picks them (the Gumbel-top-k
        trick, Kool, van Hoof & Welling 2019: the n largest of log p_i + Gumbel noise). Their joint probability is
        ``log_prob_without_replacement``.

        A draw with replacement inverts the cumulative distribution: one uniform u per draw, and the first position
        whose running total of p exceeds u (in float64, so a position holding less than ~1e-16 of its row is, in
        effect, never drawn). A masked position adds nothing to the total and is never drawn. One uniform per draw
        costs several times less than the T Gumbel numbers of a Gumbel-max draw, which only the distinct draws need.
        """
        rng = generator(rng)
        count = 1 if k is None else _count("Categorical.sample", k)
        allowed = self.allowed.sum(axis=-1)  # (...)
        needed = 1 if replace else count
        if (allowed < needed).any():
            _raise_short_row("Categorical.sample", allowed, needed, self.logits,
                             f"fewer than k={count} distinct draws")
        log_probs = self.log_probs.data.astype(np.float64)  # (..., T)
        if replace or count == 1:
            indices = _inverse_cdf(np.exp(log_probs), rng.random((count,) + log_probs.shape[:-1]))  # (n, ...)
        else:
            perturbed = log_probs + rng.gumbel(size=log_probs.shape)  # (..., T)
            top = np.argsort(-perturbed, axis=-1, kind="stable")[..., :count]  # (..., n), best first
            indices = np.moveaxis(top, -1, 0)  # (..., n) -> (n, ...)
        return indices if k is not None else indices[0, ...]  # [0, ...] keeps a 0-d array an array

    def argmax(self):
        """The most probable allowed position of each row, (...) int64 (the first, on a tie); not differentiable.
        A row that allows nothing has no most probable position: ValueError, as for ``sample``."""
        _raise_short_row("Categorical.argmax", self.allowed.sum(axis=-1), 1, self.logits, "")
        return np.argmax(np.where(self.allowed, self.logits.data, -np.inf), axis=-1)

    # ----- scoring what was drawn ----------------------------------------------------------------------------------
    def log_prob(self, index):
        """log p(index), differentiable with respect to the logits: index (...) gives (...), index (n, ...) gives
        (n, ...) (any shape that broadcasts against the batch shape, torch's rule). A masked index gives -inf.

        index: integers in [0, T); anything else raises (IndexError or TypeError) naming the shapes.
        """
        index = self._checked_index("Categorical.log_prob", index)
        shape = np.broadcast_shapes(index.shape, self.batch_shape)
        log_probs = self.log_probs.broadcast_to(shape + (self.num_positions,))  # (n, ..., T)
        chosen = np.broadcast_to(index, shape)[..., None]  # (n, ...) -> (n, ..., 1)
        return F.gather(log_probs, chosen, axis=-1).squeeze(-1)  # (n, ...)

    def log_prob_without_replacement(self, indices):
        """log P(indices), the probability that n draws without replacement give `indices` (n, ...) in this order:

            P = prod_j p(i_j) / (1 - p(i_1) - ... - p(i_{j-1}))

        computed as a sum of log_softmax terms in which the earlier picks are masked out (accurate where 1 - sum p
        would cancel). Returns (...), differentiable with respect to the logits. A repeated index gives -inf.
        """
        indices = self._checked_index("Categorical.log_prob_without_replacement", indices)
        if indices.ndim != len(self.batch_shape) + 1 or indices.shape[1:] != self.batch_shape:
            raise ShapeError(f"Categorical.log_prob_without_replacement: indices must be (n, ...) with the batch "
                             f"shape {self.batch_shape} after the samples axis; got "
                             f"{_described(logits=self.logits, indices=indices)}")
        remaining = self.allowed  # (..., T): positions not yet drawn
        total = None
        for drawn in indices:  # drawn (...): the j-th pick of every row
            step = F.log_softmax(self.logits, axis=-1, mask=remaining)
            term = F.gather(step, drawn[..., None], axis=-1).squeeze(-1)  # (...)
            total = term if total is None else total + term
            # A new array, not an edit: log_softmax's backward reads the mask it was given, later.
            remaining = remaining & (np.arange(self.num_positions) != drawn[..., None])
        return total

    def _checked_index(self, op, index):
        if isinstance(index, Tensor):
            index = index.data
        index = np.asarray(index)
        if index.dtype.kind not in "iu":
            raise DTypeError(f"{op}: indices must be integers; got {_described(logits=self.logits, index=index)}")
        if not _broadcasts_with(index.shape, self.batch_shape):
            raise ShapeError(f"{op}: indices must broadcast against the batch shape {self.batch_shape}; got "
                             f"{_described(logits=self.logits, index=index)}")
        if index.size and (index.min() < 0 or index.max() >= self.num_positions):
            raise IndexOpError(f"{op}: indices must lie in [0, {self.num_positions}); got values from {index.min()} "
                               f"to {index.max()}; {_described(logits=self.logits, index=index)}")
        return index

    def __repr__(self):
        return f"Categorical(batch_shape={self.batch_shape}, positions={self.num_positions}, {self.logits.dtype})"


class Normal:
    """The normal distribution N(loc, scale^2), elementwise: for continuous choices, such as where in an image to
    take a glimpse (Mnih et al., 2014).

    loc: a float Tensor (...); scale: a positive number or Tensor broadcasting to loc (a fixed or a learned
    spread). ``rsample`` is differentiable in loc and scale (the reparameterisation x = loc + scale * eps);
    ``sample`` is not, and pairs with ``log_prob`` for the score-function estimator.
    """

    def __init__(self, loc, scale):
        loc = as_tensor(loc)
        if loc.dtype.kind != "f":
            raise DTypeError(f"Normal: loc must be float32 or float64; got {_described(loc=loc, scale=scale)}")
        # A number or array takes loc's dtype (a Python 0.5 must not make a float32 distribution float64).
        scale = scale if isinstance(scale, Tensor) else Tensor(np.asarray(scale, loc.dtype))
        if not broadcasts_to(scale.shape, loc.shape):
            raise ShapeError(f"Normal: scale must broadcast to loc; got {_described(loc=loc, scale=scale)}")
        if not np.isfinite(loc.data).all():
            raise ValueError(f"Normal: loc must be finite; got {_described(loc=loc, scale=scale)}")
        if not (np.isfinite(scale.data).all() and (scale.data > 0).all()):
            raise ValueError(f"Normal: scale must be finite and > 0; got {_described(loc=loc, scale=scale)} with "
                             f"values from {scale.data.min()} to {scale.data.max()}")
        self.loc, self.scale = loc, scale

    def _noise(self, rng, k, op):
        count = 1 if k is None else _count(op, k)
        eps = generator(rng).standard_normal((count,) + self.loc.shape).astype(self.loc.dtype)
        return eps if k is not None else eps[0]

    def sample(self, rng=None, k=None):
        """Draws as a plain array: shape loc.shape for k=None, (k, *loc.shape) otherwise. No gradient."""
        return self.loc.data + self.scale.data * self._noise(rng, k, "Normal.sample")

    def rsample(self, rng=None, k=None):
        """Draws as a Tensor x = loc + scale * eps, eps ~ N(0, 1): the gradient flows into loc and scale (the
        reparameterisation trick, Kingma & Welling 2014), the low-variance alternative to the score function."""
        return self.loc + self.scale * self._noise(rng, k, "Normal.rsample")

    def log_prob(self, value):
        """log N(value; loc, scale^2) = -(value - loc)^2 / (2 scale^2) - log scale - log(2 pi) / 2, elementwise,
        differentiable in loc, scale and value; value broadcasts against loc ((k, ...) for k samples)."""
        value = as_tensor(value)
        if value.dtype.kind != "f" or not _broadcasts_with(value.shape, self.loc.shape):
            raise (DTypeError if value.dtype.kind != "f" else ShapeError)(
                f"Normal.log_prob: value must be float and broadcast against loc; got "
                f"{_described(loc=self.loc, scale=self.scale, value=value)}")
        half_log_two_pi = self.loc.dtype.type(0.5 * math.log(2 * math.pi))
        return -((value - self.loc) / self.scale) ** 2 * 0.5 - self.scale.log() - half_log_two_pi

    def entropy(self):
        """H = 1/2 + log(2 pi)/2 + log scale, broadcast to loc's shape; differentiable in scale."""
        constant = self.loc.dtype.type(0.5 + 0.5 * math.log(2 * math.pi))
        return (self.scale.log() + constant).broadcast_to(self.loc.shape)

    def __repr__(self):
        return f"Normal(shape={self.loc.shape}, {self.loc.dtype})"


def _inverse_cdf(probs, uniforms):
    """For probs (..., T) (rows with a positive total) and uniforms (n, ...) in [0, 1): indices (n, ...), each the
    first position whose running total of probs exceeds uniform * total."""
    totals = np.cumsum(probs, axis=-1)  # (..., T)
    thresholds = uniforms * totals[..., -1]  # (n, ...); scaled, so rounding in the total cannot leave a gap at 1
    indices = (thresholds[..., None] >= totals).sum(axis=-1)  # (n, ...): positions whose running total is passed
    # thresholds < total, so indices < T; but a zero-probability tail can share the last total, and rounding of
    # uniform * total may reach it: step back to the last position with a probability.
    last = probs.shape[-1] - 1 - np.argmax(probs[..., ::-1] > 0, axis=-1)  # (...)
    return np.minimum(indices, last)


def _raise_short_row(op, allowed, needed, logits, what):
    """ValueError naming the first row of `logits` that allows fewer than `needed` positions (`allowed` (...))."""
    short = allowed < needed
    if not short.any():
        return
    row = tuple(int(i) for i in np.argwhere(short)[0])
    where = f"row {row} of the logits" if row else "the logits"
    count = int(allowed[row])
    what = "allows no position (its mask is all False)" if count == 0 else f"allows {count} positions, {what}"
    raise ValueError(f"{op}: {where} {what}; leave such rows out instead of drawing from them; got "
                     f"{_described(logits=logits)}")


def _count(op, k):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{op}: k must be an integer or None, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{op}: k must be >= 1, got {k}")
    return int(k)


def broadcasts_to(shape, target):
    """Whether an array of `shape` broadcasts to `target` without changing it (the rule for masks and rewards)."""
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _broadcasts_with(shape, other):
    try:
        np.broadcast_shapes(shape, other)
        return True
    except ValueError:
        return False
