"""Hard attention: look at one position, drawn from the attention weights, instead of a blend of all of them.

    probs   = softmax(score(query, keys)) over the keys        (B, Tq, Tk)   the policy: where to look
    index   ~ Categorical(probs)                               (B, Tq)       one key per query, drawn
    context = values[index]                                    (B, Tq, Dv)   = one_hot(index) @ values

Soft attention returns E[values] under probs and is differentiable end to end. Hard attention returns one sample:
the values still get their gradient (through the chosen row), but the scores get none through the draw. They
learn from a reward instead, with the score-function estimator (``tinyattn.estimators.reinforce``):

    grad E[R] ~= (R - b) grad log probs[index]

Xu et al. (2015), "Show, Attend and Tell", trained image captioning both ways; Mnih et al. (2014) took glimpses
of an image the same way. Hard attention reads less (one position, not all of them) and its weights are exactly
where it looked; the price is a noisy gradient, which baselines tame (``tinyattn.estimators``).
"""
import numpy as np

from tinyattn.attention import _checks
from tinyattn.attention.attend import _score_function, hide_keys
from tinyattn.distributions import Categorical
from tinyattn.estimators import gumbel_softmax, reinforce
from tinyattn.nn.module import Module
from tinyattn.random import generator
from tinyattn.scaled_dot_product import attended_keys
from tinyattn.tensor import Tensor, as_tensor

EVALUATIONS = ("argmax", "soft")
ESTIMATORS = ("reinforce", "gumbel")


class HardAttentionOutput:
    """What one call of ``HardAttention`` returns. With Tq queries (a 2-D query drops the Tq axis) and k draws per
    query (k=None drops the leading k axis):

    context       (k, B, Tq, Dv)  the values read: at the drawn keys, or their expectation when ``sampled`` is False
    weights       (k, B, Tq, Tk)  the weights used: one-hot rows where a key was drawn, else the soft weights
                                  (B, Tq, Tk); a plain array, to read and draw
    probs         (B, Tq, Tk)     the policy, a differentiable Tensor
    indices       (k, B, Tq)      the drawn (or argmax) keys, int64, or None when the soft expectation was used
    log_prob      (k, B, Tq)      log probs[indices], the Tensor REINFORCE differentiates, or None with ``indices``
    distribution                  the ``Categorical`` over the keys (entropy, more draws)
    sampled                       whether indices were drawn (training) rather than taken or not used at all
    straight_through              whether the draw passes the scores a gradient itself (estimator "gumbel")
    """

    def __init__(self, context, weights, distribution, indices, log_prob, sampled, straight_through=False):
        self.context, self.weights, self.distribution = context, weights, distribution
        self.indices, self.log_prob, self.sampled = indices, log_prob, sampled
        self.straight_through = straight_through

    @property
    def probs(self):
        return self.distribution.probs

    def reinforce(self, reward, baseline=None, entropy_weight=0.0, reduction="mean"):
        """The REINFORCE surrogate loss for the attention's scores (``tinyattn.estimators.reinforce``): reward and
        baseline (detached) broadcast to ``log_prob``'s shape, one per draw; with an entropy bonus if
        entropy_weight > 0. A constant zero (no gradient) when no draw was made (the soft expectation was used, whose
        scores already get their exact gradient through the context, or the argmax of evaluation mode), and for a
        straight-through draw, whose scores get theirs through the context too.
        """
        if not self.sampled or self.straight_through:
            return Tensor(np.zeros((), self.distribution.logits.dtype))
        entropy = self.distribution.entropy() if entropy_weight else None
        return reinforce(self.log_prob, reward, baseline, entropy=entropy, entropy_weight=entropy_weight,
                         reduction=reduction)


class HardAttention(Module):
    """Stochastic hard attention over keys with any score of ``tinyattn.attention`` (Xu et al., 2015).

    ``forward(query, keys, values, mask=None, k=None, rng=None)``: query (B, Dq) or (B, Tq, Dq), keys (B, Tk, Dk),
    values (B, Tk, Dv); the mask as in ``attend`` (boolean True = may attend: a key mask (B, Tk) or one that
    broadcasts to (B, Tq, Tk)). Returns a ``HardAttentionOutput``.

    Training mode draws one key per query (k draws each for k=n, e.g. for the leave-one-out baseline), with
    probability `soft_probability` the soft expectation instead (Xu et al. used 0.5: it lowers the variance and
    trains the scores directly). Evaluation mode uses `evaluation`: "argmax" (the most probable key) or "soft"
    (the expectation, as soft attention). A masked key is never drawn. A query with no key to attend to is an
    error in every mode (ValueError): hard attention has nothing to look at there; mask such queries out of the
    batch instead.

    estimator: how the scores learn from a training draw. "reinforce" (the default): through the output's
    ``reinforce(reward, baseline)``, the score-function estimator. "gumbel": the draw is a Gumbel-max draw and the
    backward pass treats its one-hot weights as softmax((scores + noise) / temperature), so the scores get a
    gradient straight through the context, as in soft attention (``tinyattn.estimators.gumbel_softmax``, Jang et
    al., 2016): biased, low variance, and no reward needed.

    score: a score module (its parameters become this module's), a callable (query, keys) -> scores, or "dot" /
    "scaled_dot".
    """

    def __init__(self, score="scaled_dot", evaluation="argmax", soft_probability=0.0, estimator="reinforce",
                 temperature=1.0):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"HardAttention: estimator must be one of {ESTIMATORS}, got {estimator!r}")
        if not temperature > 0:
            raise ValueError(f"HardAttention: temperature must be > 0, got {temperature}")
        if evaluation not in EVALUATIONS:
            raise ValueError(f"HardAttention: evaluation must be one of {EVALUATIONS}, got {evaluation!r}")
        if not 0.0 <= soft_probability <= 1.0:
            raise ValueError(f"HardAttention: soft_probability must be in [0, 1], got {soft_probability}")
        self.score = _score_function(score)
        self.evaluation, self.soft_probability = evaluation, float(soft_probability)
        self.estimator, self.temperature = estimator, float(temperature)

    def forward(self, query, keys, values, mask=None, k=None, rng=None):
        given_mask = mask
        query, keys, values, mask = _checks.attend("HardAttention", query, keys, values, mask)
        if mask is not None:
            _no_empty_rows(mask, given_mask, query, keys, values)
            keys, values = hide_keys(keys, values, attended_keys(mask))
        scores = _checks.scores("HardAttention", self.score(query, keys), self.score, query, keys)  # (B, [Tq,] Tk)
        allowed = None
        if mask is not None:
            keep = _keep(mask)  # (B, 1 or Tq, Tk)
            allowed = np.broadcast_to(keep[:, 0] if query.ndim == 2 else keep, scores.shape)
            if mask.dtype != np.bool_:  # an additive mask: its finite entries are biases on the scores
                bias = np.where(keep, mask, 0).astype(scores.dtype)
                scores = scores + (bias[:, 0] if query.ndim == 2 else bias)
        distribution = Categorical(scores, mask=allowed)  # over the keys, batch shape (B, [Tq])
        if self.training:
            rng = generator(rng)
            use_soft = self.soft_probability > 0 and rng.random() < self.soft_probability
        else:
            use_soft = self.evaluation == "soft"
        indices = log_prob = None
        if use_soft:
            weights = distribution.probs  # (B, [Tq,] Tk)
        elif self.training and self.estimator == "gumbel":
            logits = scores if k is None else scores.broadcast_to((k,) + scores.shape)  # ([k,] B, [Tq,] Tk)
            weights = gumbel_softmax(logits, self.temperature, hard=True, mask=allowed, rng=rng)  # one-hot forward
            indices = np.argmax(weights.data, axis=-1)  # ([k,] B, [Tq])
        else:
            if self.training:
                indices = distribution.sample(rng, k=k)  # ([k,] B, [Tq])
            else:
                indices = distribution.argmax()  # (B, [Tq])
                if k is not None:
                    indices = np.broadcast_to(indices, (k,) + indices.shape)  # k equal picks
            weights = np.zeros(indices.shape + scores.shape[-1:], values.dtype)  # ([k,] B, [Tq,] Tk)
            np.put_along_axis(weights, indices[..., None], 1.0, axis=-1)
        if indices is not None:
            log_prob = distribution.log_prob(indices)
        context = _weighted_sum(weights, values, single=query.ndim == 2)  # the drawn rows, or their expectation
        sampled = self.training and not use_soft
        return HardAttentionOutput(context, weights.data if isinstance(weights, Tensor) else weights, distribution,
                                   indices, log_prob, sampled=sampled,
                                   straight_through=sampled and self.estimator == "gumbel")

    def extra_repr(self):
        return f"evaluation={self.evaluation!r}, soft_probability={self.soft_probability}"


def _weighted_sum(weights, values, single):
    """weights ([k,] B, [Tq,] Tk) @ values (B, Tk, Dv) -> ([k,] B, [Tq,] Dv); Tq is absent for a single query."""
    weights = as_tensor(weights)
    if single:
        return (weights.expand_dims(-2) @ values).squeeze(-2)  # ([k,] B, 1, Tk) @ (B, Tk, Dv) -> ([k,] B, Dv)
    return weights @ values  # ([k,] B, Tq, Tk) @ (B, Tk, Dv) -> ([k,] B, Tq, Dv)


def _keep(mask):
    """The boolean keep-mask of a boolean or float (additive) mask."""
    return mask if mask.dtype == np.bool_ else mask > -np.inf


def _no_empty_rows(mask, given_mask, query, keys, values):
    """ValueError naming the first query whose keys are all masked (mask: the checked (B, 1 or Tq, Tk) form)."""
    keep = np.broadcast_to(_keep(mask), (keys.shape[0], mask.shape[1], keys.shape[1]))  # (B, 1 or Tq, Tk)
    empty = ~keep.any(axis=-1)
    if empty.any():
        batch, row = (int(i) for i in np.argwhere(empty)[0])
        where = f"batch row {batch}" if mask.shape[1] == 1 else f"query {row} of batch row {batch}"
        _checks.fail("HardAttention", (ValueError, f"{where} has no key to attend to (its mask is all False), so "
                                                   "there is nothing to draw from; leave it out of the batch"),
                     query=query, keys=keys, values=values, mask=given_mask)
