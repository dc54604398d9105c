"""Gradients through a choice: the score-function estimator (REINFORCE), its baselines, and Gumbel-softmax.

Hard attention draws a position a ~ p_theta and earns a reward R(a). The draw has no derivative, yet the expected
reward does, and the score-function identity (Williams, 1992) writes its gradient as an expectation we can sample:

    grad E[R] = sum_a R(a) grad p(a) = E[ R(a) grad log p(a) ]  ~=  (R(a) - b) grad log p(a),   a ~ p

The single-sample estimate on the right is unbiased for any baseline b that does not depend on the drawn a (since
E[grad log p(a)] = sum_a grad p(a) = grad 1 = 0), and a good b (close to E[R]) makes its variance much smaller:

- ``MovingAverageBaseline``: an exponential moving average of past rewards. No parameters.
- ``ValueBaseline``: a small network that predicts the reward from the state, trained by regression on it
  (its own loss, returned separately); the REINFORCE term never trains it.
- ``leave_one_out``: with k draws per input, each draw's baseline is the mean reward of the other k - 1 (RLOO,
  Kool, van Hoof & Welling 2019). No parameters, no lag, and still unbiased, since the others are independent.

``reinforce`` turns log p(a), R and b into a surrogate loss whose gradient is minus the estimate (minimising it
climbs E[R]). ``gumbel_softmax`` is the other road: a relaxed, reparameterised draw whose straight-through
gradient is biased but has low variance (Jang, Gu & Poole 2016; Maddison, Mnih & Teh 2016).
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.distributions import broadcasts_to
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.nn.layers import Linear
from tinyattn.nn.module import Module
from tinyattn.primitive import as_array
from tinyattn.random import generator
from tinyattn.tensor import Tensor, as_tensor

_REDUCTIONS = ("mean", "sum", "none")


def reinforce(log_prob, reward, baseline=None, entropy=None, entropy_weight=0.0, reduction="mean"):
    """The REINFORCE surrogate loss: -(reward - baseline) * log_prob - entropy_weight * entropy, reduced.

    Its gradient is minus the score-function estimate of grad E[reward], so adding it to a loss and descending
    raises the expected reward. Shapes: log_prob (...) from ``Categorical.log_prob`` (or ``Normal.log_prob`` summed
    over a location's coordinates), e.g. (B,) or (k, B); reward and baseline broadcast to it; entropy (from
    ``Categorical.entropy``) broadcasts to it too and, weighted, rewards a spread-out policy (keeps it exploring).

    reward and baseline are treated as constants: arrays, numbers or Tensors, detached here, so no gradient reaches
    them or anything they were computed from (the baseline's own training is ``ValueBaseline.loss``). A reward of
    NaN or inf is an error, not a silent NaN in every parameter. reduction: "mean" (default), "sum" or "none".
    """
    op = "reinforce"
    if not isinstance(log_prob, Tensor) or log_prob.dtype.kind != "f":
        raise DTypeError(f"{op}: log_prob must be a float Tensor carrying the policy's gradient (from "
                         f"Categorical.log_prob or Normal.log_prob); got {type(log_prob).__name__} "
                         f"{np.shape(log_prob)} {as_array(log_prob).dtype}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    advantage = _constant(op, "reward", reward, log_prob)
    if baseline is not None:
        advantage = advantage - _constant(op, "baseline", baseline, log_prob)
    surrogate = -(log_prob * advantage)  # (...)
    if entropy is not None and entropy_weight:
        entropy = as_tensor(entropy)
        if not broadcasts_to(entropy.shape, log_prob.shape):
            raise ShapeError(f"{op}: entropy {entropy.shape} does not broadcast to log_prob {log_prob.shape}")
        surrogate = surrogate - entropy * log_prob.dtype.type(entropy_weight)
    if reduction == "none":
        return surrogate
    return surrogate.mean() if reduction == "mean" else surrogate.sum()


def _constant(op, name, value, like):
    """`value` as a detached array of `like`'s dtype that broadcasts to like's shape, checked finite."""
    array = as_array(value.detach() if isinstance(value, Tensor) else value)
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"{op}: {name} must be numbers; got {name} {array.shape} {array.dtype}, log_prob "
                         f"{like.shape} {like.dtype}")
    if not broadcasts_to(array.shape, like.shape):
        raise ShapeError(f"{op}: {name} must broadcast to log_prob's shape (one per draw); got {name} {array.shape} "
                         f"{array.dtype}, log_prob {like.shape} {like.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{op}: {name} holds {int((~np.isfinite(array)).sum())} NaN or inf values; got {name} "
                         f"{array.shape} {array.dtype}, log_prob {like.shape} {like.dtype}")
    return array.astype(like.dtype, copy=False)


# ----- baselines ---------------------------------------------------------------------------------------------------
class MovingAverageBaseline(Module):
    """b = an exponential moving average of the mean rewards seen so far: b_n = d b_{n-1} + (1 - d) mean(R_n).

    ``baseline(reward)`` returns the baseline *for* this batch of rewards, the average of the earlier batches, and
    only then folds this batch in: a baseline that saw the rewards it is subtracted from would depend on the drawn
    actions and bias the estimate. Before any update it is 0. The average is corrected for its start at zero, as
    Adam's moments are (divided by 1 - d^n), so early baselines are not dragged towards 0.

    Its state (the average and the count) is two buffers, saved with the model by ``state_dict``.
    """

    def __init__(self, decay=0.9):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"MovingAverageBaseline: decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.register_buffer("average", np.zeros((), np.float64))
        self.register_buffer("steps", np.zeros((), np.int64))

    @property
    def value(self):
        """The current baseline: the corrected average of the rewards seen so far (0.0 before any)."""
        steps = int(self.steps)
        return 0.0 if steps == 0 else float(self.average) / (1.0 - self.decay**steps)

    def forward(self, reward):
        value = self.value
        reward = as_array(reward.detach() if isinstance(reward, Tensor) else reward)
        if reward.size == 0 or not np.isfinite(reward).all():
            raise ValueError(f"MovingAverageBaseline: rewards must be finite and not empty; got reward "
                             f"{reward.shape} {reward.dtype}")
        average = self.decay * float(self.average) + (1.0 - self.decay) * float(reward.mean())
        self.register_buffer("average", np.array(average, self.average.dtype))
        self.register_buffer("steps", np.array(int(self.steps) + 1, np.int64))
        return value

    def extra_repr(self):
        return f"decay={self.decay}"


class ValueBaseline(Module):
    """b(s) = a learned estimate of the expected reward in state s: a linear map of the features (...,
    input_size) -> (...), or a one-hidden-layer tanh network with `hidden_size`.

    It depends on the state, not on the drawn action, so subtracting it keeps the estimate unbiased; the closer it
    tracks E[R | s], the lower the variance. Train it with its own loss, ``loss(values, reward)`` (mean squared
    error), added to the total loss; ``reinforce`` detaches it, so the policy term never trains it. Pass it
    features detached from the policy's (``features.detach()``) unless you want the regression to shape them.
    """

    def __init__(self, input_size, hidden_size=None, dtype=np.float32, rng=None):
        super().__init__()
        rng = generator(rng)
        self.hidden = None if hidden_size is None else Linear(input_size, hidden_size, dtype=dtype, rng=rng)
        self.output = Linear(input_size if hidden_size is None else hidden_size, 1, dtype=dtype, rng=rng)
        self.input_size = input_size

    def forward(self, features):
        features = as_tensor(features)
        if features.ndim == 0 or features.shape[-1] != self.input_size:
            raise ShapeError(f"ValueBaseline: features must be (..., {self.input_size}); got features "
                             f"{features.shape} {features.dtype}")
        hidden = features if self.hidden is None else self.hidden(features).tanh()
        return self.output(hidden).squeeze(-1)  # (..., 1) -> (...)

    def loss(self, values, reward):
        """Mean squared error between the predicted values and the (detached) rewards: the baseline's training."""
        target = _constant("ValueBaseline.loss", "reward", reward, as_tensor(values))
        return F.mse_loss(values, target)


def leave_one_out(reward, axis=0):
    """The RLOO baseline for k draws per input along `axis` (Kool, van Hoof & Welling 2019): for each draw, the
    mean reward of the other k - 1 draws, b_i = (sum_j R_j - R_i) / (k - 1). Same shape as reward; an array.

    Unbiased because the other draws are independent of draw i; no parameters and no lag. Needs k >= 2.
    """
    reward = as_array(reward.detach() if isinstance(reward, Tensor) else reward)
    if reward.ndim == 0 or reward.shape[axis] < 2:
        raise ShapeError(f"leave_one_out: needs at least 2 draws along axis {axis}; got reward {reward.shape} "
                         f"{reward.dtype}")
    if not np.isfinite(reward).all():
        raise ValueError(f"leave_one_out: rewards must be finite; got reward {reward.shape} {reward.dtype}")
    count = reward.shape[axis]
    return (reward.sum(axis=axis, keepdims=True) - reward) / (count - 1)


# ----- the relaxed alternative -------------------------------------------------------------------------------------
def gumbel_softmax(logits, temperature=1.0, hard=False, mask=None, rng=None):
    """A relaxed one-hot draw: y = softmax((logits + g) / temperature), g ~ Gumbel(0, 1) (Jang et al., 2016).

    As the temperature falls, y approaches the one-hot of a draw from softmax(logits) (the Gumbel-max trick), and
    its gradient grows noisier. With ``hard=True``, the straight-through estimator: the forward value is the exact
    one-hot of argmax y (a true sample), the gradient is that of the soft y; biased, but low variance.

    Shapes: logits (..., T) -> (..., T). mask: boolean, True = may be chosen (a masked position gets 0); with
    ``hard=True`` a row that allows nothing is an error (there is no one-hot to give it).
    """
    logits = as_tensor(logits)
    if logits.dtype.kind != "f" or logits.ndim == 0:
        raise DTypeError(f"gumbel_softmax: logits must be a float array (..., T); got logits {logits.shape} "
                         f"{logits.dtype}")
    if not temperature > 0:
        raise ValueError(f"gumbel_softmax: temperature must be > 0, got {temperature}")
    if hard and mask is not None and not np.broadcast_to(as_array(mask), logits.shape).any(axis=-1).all():
        raise ValueError(f"gumbel_softmax: hard=True needs every row to allow a position, but the mask allows none in "
                         f"some; got logits {logits.shape} {logits.dtype}, mask {np.shape(mask)}")
    noise = generator(rng).gumbel(size=logits.shape).astype(logits.dtype)
    soft = F.softmax((logits + noise) * logits.dtype.type(1.0 / temperature), axis=-1, mask=mask)
    if not hard:
        return soft
    chosen = np.argmax(soft.data, axis=-1)[..., None]  # (..., 1)
    one_hot = np.zeros(logits.shape, logits.dtype)
    np.put_along_axis(one_hot, chosen, 1.0, axis=-1)
    return one_hot + (soft - soft.detach())  # value: exactly the one-hot (soft - soft is 0); gradient: the soft y's
