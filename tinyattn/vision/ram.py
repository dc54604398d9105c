"""The recurrent attention model (RAM; Mnih, Heess, Graves & Kavukcuoglu, 2014): classify an image from a few
glimpses, choosing where to look next from what it has seen so far.

    h_0 = 0
    for t = 0 .. T-1:
        mu_t     = tanh(W_l h_t)                                       where to look             (B, 2)
        l_t      ~ Normal(mu_t, sigma^2)                               drawn                     (B, 2)
        b_t      = value(h_t)                                          the reward it expects     (B,)
        g_t      = glimpse_net(glimpse(image, l_t), l_t)               what it sees, and where   (B, H)
        h_{t+1}  = core(g_t, h_t)                                      what it has seen so far   (B, H)
    prediction = classifier(h_T)

So the first location comes from h_0 = 0: where to look first is learned too (a constant, mu_0 = tanh(bias)), and
every later one from what the glimpses so far have shown.

Where to look is a draw, so it has no gradient; the location network learns by REINFORCE, with the reward R = 1 for
a right answer at the end and 0 otherwise, and b_t as its baseline. The rest (glimpse network, core, classifier)
learns by backpropagation from the cross-entropy, and the baseline by regression on R: the hybrid loss

    loss = cross_entropy(prediction, y) - sum_t (R - b_t) log pi(l_t | h_t) + sum_t (R - b_t)^2 / T

(``RamOutput.loss``). The location and baseline networks read h_t detached: the REINFORCE and regression terms train
them alone, and the core learns only from the classification, which keeps its gradient noise-free.
"""
import numpy as np

import tinyattn.functional as F
from tinyattn.distributions import Normal
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.estimators import ValueBaseline, reinforce
from tinyattn.nn.layers import Linear
from tinyattn.nn.module import Module
from tinyattn.nn.recurrent import GRUCell
from tinyattn.primitive import as_array
from tinyattn.random import generator
from tinyattn.tensor import as_tensor
from tinyattn.vision.sensor import glimpse

POLICIES = ("learned", "random")


class RamOutput:
    """One forward pass of the RAM over a batch of B images and T glimpses.

    logits      (B, classes)  the classifier's output on the last state
    locations   (B, T, 2)     where each glimpse was taken, (row, column) in [-1, 1]: a plain array, to draw
    draws       (B, T, 2)     the policy's draws before clipping to [-1, 1] (log_prob is theirs), or None when
                              nothing was drawn from the policy
    means       (B, T, 2)     the policy's means (a Tensor), or None for random locations
    log_prob    (B, T)        log pi(l_t | h_t) of each drawn location (summed over its two coordinates), a Tensor;
                              None when nothing was drawn from the policy (evaluation, or random locations)
    baselines   (B, T)        b_t, the expected reward at each step, a Tensor
    """

    def __init__(self, logits, locations, draws, means, log_prob, baselines):
        self.logits, self.locations, self.draws, self.means = logits, locations, draws, means
        self.log_prob, self.baselines = log_prob, baselines

    def reward(self, targets):
        """R = 1 where the prediction is right, else 0: (B,) float, a constant."""
        return (np.argmax(self.logits.data, axis=-1) == as_array(targets)).astype(self.logits.dtype)

    def loss(self, targets):
        """The hybrid loss and its parts: ``(total, {"classification", "reinforce", "baseline", "reward"})``.

        classification: mean cross-entropy; reinforce: the REINFORCE surrogate of the location policy with the
        per-step baselines (zero when no location was drawn); baseline: the mean squared error of the baselines
        against R. The parts are Tensors (the reward, a float: the batch's accuracy).
        """
        classification = F.cross_entropy(self.logits, targets)
        reward = self.reward(targets)  # (B,)
        baseline = F.mse_loss(self.baselines, reward[:, None])  # (B, T) against (B, 1): each step's guess of R
        total = classification + baseline
        policy = None
        if self.log_prob is not None:
            # Summed over the steps (the log-probability of the whole path), averaged over the batch.
            policy = reinforce(self.log_prob, reward[:, None], self.baselines, reduction="sum") * (
                self.log_prob.dtype.type(1.0 / len(reward)))
            total = total + policy
        return total, {"classification": classification, "reinforce": policy, "baseline": baseline,
                       "reward": float(reward.mean())}


class RecurrentAttentionModel(Module):
    """Mnih et al.'s recurrent attention model (see the module docstring), for images (B, H, W) or (B, C, H, W).

    glimpses: how many glimpses T; glimpse_size and scales: each glimpse's patches (``tinyattn.vision.glimpse``);
    hidden_size: the core GRU's state; location_std: sigma of the Gaussian location policy (not learned; an
    attribute read at every forward, so a training loop may lower it as the policy settles);
    policy: "learned" (the location network) or "random" (uniform locations: the comparison that shows what the
    learned policy is worth). In evaluation mode the learned policy looks at its means, without noise.
    """

    def __init__(self, num_classes, channels=1, glimpse_size=8, scales=2, glimpses=6, glimpse_hidden=128,
                 location_hidden=32, hidden_size=128, location_std=0.15, policy="learned", dtype=np.float32,
                 rng=None):
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"RecurrentAttentionModel: policy must be one of {POLICIES}, got {policy!r}")
        if not (np.isfinite(location_std) and location_std > 0):
            raise ValueError(f"RecurrentAttentionModel: location_std must be finite and > 0, got {location_std}")
        if isinstance(glimpses, bool) or not isinstance(glimpses, (int, np.integer)) or glimpses < 1:
            raise ValueError(f"RecurrentAttentionModel: glimpses must be an integer >= 1, got {glimpses!r}")
        rng = generator(rng)
        self.glimpse_size, self.scales, self.glimpses, self.channels = glimpse_size, scales, int(glimpses), channels
        self.location_std, self.policy, self.hidden_size = float(location_std), policy, hidden_size
        patch_size = scales * channels * glimpse_size * glimpse_size
        # The glimpse network: what (the patches) and where (the location), embedded and combined.
        self.what = Linear(patch_size, glimpse_hidden, dtype=dtype, rng=rng)
        self.where = Linear(2, location_hidden, dtype=dtype, rng=rng)
        self.what_out = Linear(glimpse_hidden, hidden_size, dtype=dtype, rng=rng)
        self.where_out = Linear(location_hidden, hidden_size, dtype=dtype, rng=rng)
        self.core = GRUCell(hidden_size, hidden_size, dtype=dtype, rng=rng)
        self.locator = Linear(hidden_size, 2, dtype=dtype, rng=rng)
        self.value = ValueBaseline(hidden_size, dtype=dtype, rng=rng)
        self.classifier = Linear(hidden_size, num_classes, dtype=dtype, rng=rng)

    def glimpse_features(self, images, locations):
        """g = relu(what_out(relu(what(patches))) + where_out(relu(where(l)))): (B, ...) images, (B, 2) -> (B, H)."""
        patches = glimpse(images, locations, self.glimpse_size, self.scales)  # (B, S, C, size, size)
        what = self.what(patches.reshape(patches.shape[0], -1)).relu()  # (B, S*C*size*size) -> (B, G)
        where = self.where(locations.astype(self.what.weight.dtype)).relu()  # (B, 2) -> (B, Gl)
        return (self.what_out(what) + self.where_out(where)).relu()  # (B, H)

    def forward(self, images, rng=None):
        """Look T times and classify; returns a ``RamOutput``. `rng` draws the locations (training, or random)."""
        images = as_tensor(images)
        dtype = self.what.weight.dtype
        expected = "(B, H, W)" if self.channels == 1 else f"(B, {self.channels}, H, W)"
        channels = 1 if images.ndim == 3 else (images.shape[1] if images.ndim == 4 else None)
        if channels != self.channels or images.dtype != dtype:
            raise (DTypeError if channels == self.channels else ShapeError)(
                f"RecurrentAttentionModel: images must be {expected} {dtype} (channels={self.channels}, the model's "
                f"dtype); got images {images.shape} {images.dtype}")
        batch = images.shape[0]
        rng = generator(rng) if self.training or self.policy == "random" else None
        hidden = np.zeros((batch, self.hidden_size), dtype)
        locations, draws, means, log_probs, baselines = [], [], [], [], []
        for _ in range(self.glimpses):
            state = hidden if isinstance(hidden, np.ndarray) else hidden.detach()  # the policy reads, never trains h
            baselines.append(self.value(state))  # (B,)
            if self.policy == "random":
                location = rng.uniform(-1.0, 1.0, size=(batch, 2)).astype(dtype)
            else:
                mean = self.locator(state).tanh()  # (B, 2) in (-1, 1)
                means.append(mean)
                if self.training:
                    policy = Normal(mean, self.location_std)
                    drawn = policy.sample(rng)  # (B, 2), no gradient
                    draws.append(drawn)
                    log_probs.append(policy.log_prob(drawn).sum(axis=-1))  # (B,)
                    location = np.clip(drawn, -1.0, 1.0)  # look inside the image; log pi is of the draw itself
                else:
                    location = mean.data
            locations.append(location)
            hidden = self.core(self.glimpse_features(images, location), None if isinstance(hidden, np.ndarray)
                               else hidden)  # (B, H)
        logits = self.classifier(hidden)
        return RamOutput(logits, np.stack(locations, axis=1), np.stack(draws, axis=1) if draws else None,
                         F.stack(means, axis=1) if means else None,
                         F.stack(log_probs, axis=1) if log_probs else None, F.stack(baselines, axis=1))

    def extra_repr(self):
        return (f"glimpses={self.glimpses}, glimpse_size={self.glimpse_size}, scales={self.scales}, "
                f"policy={self.policy!r}, location_std={self.location_std}")
