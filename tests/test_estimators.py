"""The score-function estimators (REINFORCE with no baseline, a moving average, a learned value, leave-one-out) and
Gumbel-softmax: unbiasedness against the exact gradient, power against deliberately wrong estimators, the algebra of
baselines, measured variance, no gradient leaks, bad input, and the moving average's and Gumbel-softmax's contracts.

How the statistical tests work. The logits are an (N, n) leaf Tensor holding N copies of the same row; one action is
drawn per row and ``reinforce(..., reduction="sum")`` is backpropagated once, so row i of ``logits.grad`` is minus
the i-th single-sample estimate of grad E[R] (reinforce returns a loss: its gradient is minus the estimate). The
exact gradient of E[R] = sum_a softmax(theta)_a R(a) comes from enumerating the n <= 6 positions with tinyattn's own
engine in float64, itself gradchecked against central differences. The statistic is, per component,
z = (mean - exact) / se with se = std / sqrt(N) (floored), and a test fails when max |z| > 5. For a Gaussian mean
that happens with probability 5.7e-7 per component. A component driven by a position drawn only N p times on
average has a skewed mean, whose z has a heavier tail: an exact Poisson computation (the worst case, where the rare
draws carry all the variance) gives P(|z| > 5) = 1.3e-6 at N p = 800, 2.2e-6 at 400 and 1.7e-5 at 90. The rates
stated below use these numbers. Every statistical test draws from a fixed-seed ``np.random.Generator``, and the
Hypothesis ones are derandomized, so a run is repeatable bit for bit.
"""
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies as S
import tinyattn as ta
import tinyattn.functional as F
from tinyattn.distributions import Categorical
from tinyattn.errors import DTypeError, ShapeError
from tinyattn.estimators import MovingAverageBaseline, ValueBaseline, gumbel_softmax, leave_one_out, reinforce
from tinyattn.optim import SGD

Z_LIMIT = 5.0  # two-sided Gaussian tail beyond 5 sigma: 5.7e-7 per component
SE_FLOOR = 1e-12  # a component that never varies (a masked one) is compared with this standard error
SAMPLES = 20_000  # single-sample estimates per fixed-problem test: a bias of 0.1 sigma is 14 standard errors
MAX_SAMPLES = 200_000
RARE_COUNT = 400  # the rarest allowed position is drawn N p >= 400 times on average when the cap allows it
CHUNK = 500  # the online baselines see the rewards in chunks of this size
DRAWS = 4  # leave-one-out draws per input
UNBIASED_EXAMPLES = 10
UNBIASED = settings(derandomize=True, max_examples=UNBIASED_EXAMPLES, deadline=None)


# ----- problems and the exact gradient ------------------------------------------------------------------------------
@dataclass
class Problem:
    """A policy softmax(logits) over n positions (masked positions excluded), a reward per position, a seed."""

    logits: np.ndarray  # (n,)
    reward: np.ndarray  # (n,)
    mask: np.ndarray | None = None  # (n,) bool, True = may be chosen
    seed: int = 0

    @property
    def probs(self):
        allowed = np.ones(self.logits.shape, bool) if self.mask is None else self.mask
        weights = np.where(allowed, np.exp(self.logits - self.logits[allowed].max()), 0.0)
        return weights / weights.sum()


@st.composite
def problems(draw):
    """2 to 6 positions, logits in [-3, 3], distinct rewards in [-2, 2] (never all equal, so the gradient is not
    trivially 0), and sometimes a mask that allows at least two."""
    size = draw(st.integers(2, 6))
    logits = draw(S.arrays((size,), -3.0, 3.0))
    reward = draw(S.distinct_array((size,))) * (2.0 / 4.5)
    mask = None
    if draw(st.booleans()):
        mask = draw(S.masks((size,)))
        first, second = draw(st.permutations(range(size)))[:2]
        mask[[first, second]] = True
    return Problem(logits, reward, mask, draw(st.integers(0, 2**32 - 1)))


def draws_for(problem):
    """N: enough for the rarest allowed position to be drawn about RARE_COUNT times, within [SAMPLES, MAX_SAMPLES].

    With N p >= 400, P(|z| > 5) <= 2.2e-6 per component (see the module docstring); the cap binds only below
    p = 2e-3 and allows N p = 90 at worst (six positions, logits at -3 and +3: p = 4.5e-4), 1.7e-5 per component.
    """
    rarest = float(np.min(problem.probs[problem.probs > 0]))
    count = math.ceil(RARE_COUNT / rarest / CHUNK) * CHUNK
    return int(np.clip(count, SAMPLES, MAX_SAMPLES))


def expected_reward(logits, reward, mask=None):
    """E[R] = sum_a softmax(logits)_a R(a), a scalar Tensor: the enumerated objective (reward may be a Tensor)."""
    return (F.softmax(logits, axis=-1, mask=mask) * reward).sum()


def exact_gradient(problem):
    """grad_theta E[R] by enumeration, float64, (n,); 0 at masked positions."""
    logits = ta.tensor(problem.logits, requires_grad=True, dtype=np.float64)
    expected_reward(logits, problem.reward, problem.mask).backward()
    return logits.grad


# ----- the estimators, N single-sample estimates at once ------------------------------------------------------------
def chunks(values):
    """Consecutive pieces of about CHUNK values (along the first axis), as the online baselines see them."""
    return np.array_split(values, max(1, len(values) // CHUNK))


def score_function_estimates(problem, count, rng, surrogate, dtype=np.float64):
    """(count, n) estimates of grad E[R]: row i is minus the gradient of `surrogate` w.r.t. the i-th copy of the
    logits. surrogate(log_prob (N,), actions (N,), rewards (N,)) returns the summed loss."""
    logits = ta.tensor(np.tile(problem.logits.astype(dtype), (count, 1)), requires_grad=True)  # (N, n)
    policy = Categorical(logits, mask=problem.mask)
    actions = policy.sample(rng)  # (N,)
    surrogate(policy.log_prob(actions), actions, problem.reward[actions]).backward()
    return -logits.grad


def without_baseline(log_prob, actions, rewards):
    return reinforce(log_prob, rewards, reduction="sum")


def with_moving_average(log_prob, actions, rewards, decay=0.9):
    """Each chunk's baseline is what the average returns when called on that chunk: the average of the earlier
    chunks only (0 for the first)."""
    average = MovingAverageBaseline(decay)
    baseline = np.concatenate([np.full(len(chunk), average(chunk)) for chunk in chunks(rewards)])  # (N,)
    return reinforce(log_prob, rewards, baseline=baseline, reduction="sum")


class OnlineValueBaseline:
    """A ValueBaseline on a constant feature, trained by SGD on its own loss chunk by chunk; each chunk's value is
    computed before the baseline trains on that chunk. Records the gradients its parameters hold at the end of its
    training, so a test can check that the REINFORCE term left them untouched."""

    def __init__(self, rng, lr=0.2, dtype=np.float64):
        self.module = ValueBaseline(1, dtype=dtype, rng=rng)
        self.optimizer = SGD(list(self.module.parameters()), lr=lr)
        self.dtype = dtype
        self.trained_grads = None

    def values(self, rewards):
        values = []
        for chunk in chunks(rewards):
            value = self.module(np.ones((len(chunk), 1), self.dtype))  # (C,)
            values.append(value)
            self.optimizer.zero_grad()
            self.module.loss(value, chunk).backward()
            self.optimizer.step()
        self.trained_grads = [parameter.grad.copy() for parameter in self.module.parameters()]
        return F.concatenate(values)  # (N,), a Tensor that requires grad

    def surrogate(self, log_prob, actions, rewards):
        return reinforce(log_prob, rewards, baseline=self.values(rewards), reduction="sum")

    def grads_untouched(self):
        return all(np.array_equal(parameter.grad, before)
                   for parameter, before in zip(self.module.parameters(), self.trained_grads, strict=True))


def leave_one_out_estimates(problem, count, rng, draws=DRAWS, dtype=np.float64):
    """(count, n) RLOO estimates: `draws` actions per row on a leading axis, each with the mean reward of the others as
    its baseline; the estimate is the average over the draws, (1/k) sum_j (R_j - b_j) grad log p(a_j)."""
    logits = ta.tensor(np.tile(problem.logits.astype(dtype), (count, 1)), requires_grad=True)  # (N, n)
    policy = Categorical(logits, mask=problem.mask)
    actions = policy.sample(rng, k=draws)  # (k, N)
    rewards = problem.reward[actions]  # (k, N)
    reinforce(policy.log_prob(actions), rewards, baseline=leave_one_out(rewards, axis=0), reduction="sum").backward()
    return -logits.grad / draws


# ----- the statistic --------------------------------------------------------------------------------------------------
def z_scores(estimates, exact):
    """Per component, (mean - exact) / se over the rows of `estimates` (N, ...), computed in float64."""
    estimates = np.asarray(estimates, np.float64)
    se = np.maximum(estimates.std(axis=0, ddof=1) / math.sqrt(len(estimates)), SE_FLOOR)
    return (estimates.mean(axis=0) - exact) / se


def max_z(estimates, exact):
    return S.largest(z_scores(estimates, exact))


def assert_unbiased(estimates, exact, mask=None):
    z = z_scores(estimates, exact)
    assert S.largest(z) <= Z_LIMIT, f"max |z| = {S.largest(z):.2f} > {Z_LIMIT}: z = {np.round(z, 2)}"
    if mask is not None:
        assert not np.asarray(estimates)[:, ~mask].any(), "a masked position got a nonzero gradient"


def total_variance(estimates):
    """The sum over components of the per-component variance of the estimates (N, n)."""
    return float(np.asarray(estimates, np.float64).var(axis=0, ddof=1).sum())


# ----- the oracle -----------------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(problem=problems())
def test_enumerated_gradient_passes_gradcheck_and_matches_the_closed_form(problem):
    """The oracle first: grad E[R] by enumeration against central differences, and against p * (R - E[R])."""
    logits = ta.tensor(problem.logits, requires_grad=True)
    reward = ta.tensor(problem.reward, requires_grad=True)
    ta.gradcheck(lambda logits, reward: expected_reward(logits, reward, problem.mask), logits, reward)
    probs = problem.probs
    closed_form = probs * (problem.reward - probs @ problem.reward)
    np.testing.assert_allclose(exact_gradient(problem), closed_form, rtol=1e-12, atol=1e-14)


# ----- 1. unbiasedness ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("surrogate", [without_baseline, with_moving_average], ids=["no baseline", "moving average"])
@UNBIASED
@given(problem=problems())
def test_reinforce_without_baseline_or_with_moving_average_is_unbiased(surrogate, problem):
    """Masked positions get exactly zero. The moving average's baseline for each chunk of 500 draws is the average of
    the earlier chunks, so it is independent of the chunk's own draws; the estimates are then not independent across
    chunks, but each chunk's are unbiased given the past (a martingale difference sequence), for which the same z
    holds.

    False-failure rate, per estimator: 6 components x 10 examples x 2.2e-6 = 1.3e-4 when every example has
    N p >= 400 (the usual case: the cap of draws_for binds only below p = 2e-3); 1e-3 at worst, if every example hit
    the cap."""
    rng = np.random.default_rng(problem.seed)
    estimates = score_function_estimates(problem, draws_for(problem), rng, surrogate)
    assert_unbiased(estimates, exact_gradient(problem), problem.mask)


@UNBIASED
@given(problem=problems())
def test_reinforce_with_learned_value_baseline_is_unbiased_and_does_not_train_it(problem):
    """A ValueBaseline on a constant feature, trained online (SGD on its own loss), each chunk's value computed before
    it trains on that chunk; passed to reinforce as a Tensor that requires grad, whose parameters' gradients the
    REINFORCE term must leave untouched.

    False-failure rate: 6 components x 10 examples x 2.2e-6 = 1.3e-4 when every example has N p >= 400
    (the usual case: the cap of draws_for binds only below p = 2e-3); 1e-3 at worst, if every example hit the cap."""
    rng = np.random.default_rng(problem.seed)
    baseline = OnlineValueBaseline(rng)
    estimates = score_function_estimates(problem, draws_for(problem), rng, baseline.surrogate)
    assert baseline.grads_untouched()
    assert_unbiased(estimates, exact_gradient(problem), problem.mask)


@UNBIASED
@given(problem=problems())
def test_reinforce_with_leave_one_out_baseline_is_unbiased(problem):
    """RLOO with k = 4 draws per input: each of the N estimates averages the 4 draws of one input. The rare position
    appears in a row with probability about 4p, so the skew is smaller than without baseline (the rate below is an
    upper bound).

    False-failure rate: 6 components x 10 examples x 2.2e-6 = 1.3e-4 when every example has N p >= 400
    (the usual case: the cap of draws_for binds only below p = 2e-3); 1e-3 at worst, if every example hit the cap."""
    rng = np.random.default_rng(problem.seed)
    estimates = leave_one_out_estimates(problem, draws_for(problem), rng)
    assert_unbiased(estimates, exact_gradient(problem), problem.mask)


# ----- 2. power: the same statistic fails deliberately wrong estimators ---------------------------------------------
POWER_PROBLEM = Problem(np.array([0.8, -0.4, 0.3, -1.0]), np.array([1.5, -1.0, 0.5, 2.0]), seed=7)

WRONG_ESTIMATORS = {
    # b = R(a) / 2 halves every estimate: the mean is exact / 2
    "baseline half the drawn reward": lambda log_prob, actions, rewards: reinforce(
        log_prob, rewards, baseline=0.5 * rewards, reduction="sum"),
    # b = c a depends on the draw: the mean gains -c grad E[a]
    "baseline proportional to the drawn index": lambda log_prob, actions, rewards: reinforce(
        log_prob, rewards, baseline=0.7 * actions, reduction="sum"),
    # grad p(a) instead of grad log p(a): the mean is sum_a p_a^2 R_a grad log p_a
    "probability instead of log probability": lambda log_prob, actions, rewards: -(log_prob.exp() * rewards).sum(),
    # ascending the loss: the mean is -exact
    "sign flipped": lambda log_prob, actions, rewards: -reinforce(log_prob, rewards, reduction="sum"),
}


def test_power_problem_passes_with_the_correct_estimator():
    """The problem and seed of the power tests pass with the right estimator (measured max |z|: 0.92), so their
    failures below come from the errors. False-failure rate: 4 x 1.3e-6 (p >= 0.08, N p >= 1,590)."""
    estimates = score_function_estimates(POWER_PROBLEM, SAMPLES, np.random.default_rng(POWER_PROBLEM.seed),
                                         without_baseline)
    assert_unbiased(estimates, exact_gradient(POWER_PROBLEM))


@pytest.mark.parametrize("wrong", list(WRONG_ESTIMATORS), ids=list(WRONG_ESTIMATORS))
def test_power_statistic_rejects_a_wrong_estimator(wrong):
    """Each wrong estimator must fail the unbiasedness statistic (max |z| > 5), on the problem and seed that the
    correct one passes. Measured max |z| at N = 20,000: half the reward 154, proportional to the index 202,
    probability instead of log probability 648, sign flipped 310. (A false pass would need the noise to hide a bias
    of over 150 standard errors: no chance worth stating.)"""
    estimates = score_function_estimates(POWER_PROBLEM, SAMPLES, np.random.default_rng(POWER_PROBLEM.seed),
                                         WRONG_ESTIMATORS[wrong])
    assert max_z(estimates, exact_gradient(POWER_PROBLEM)) > Z_LIMIT


# A reward that depends on parameters too: R(a; w) = -(w_a - t_a)^2.
PATHWISE_LOGITS = np.array([0.5, -0.5, 0.2])
PATHWISE_WEIGHTS = np.array([0.3, -0.8, 1.1])
PATHWISE_TARGETS = np.array([1.0, 0.5, -0.5])


def pathwise_reward(weights, actions):
    """R(a; w) = -(w_a - t_a)^2 for each row's action: weights (N, n), actions (N,) -> (N,)."""
    chosen = F.gather(weights, actions[:, None], axis=-1).squeeze(-1)  # (N, 1) -> (N,)
    return -((chosen - PATHWISE_TARGETS[actions]) ** 2)


def exact_pathwise_gradient():
    """grad E[R(a; w)] w.r.t. (logits, w), concatenated (2n,), by enumeration; gradchecked first."""
    logits = ta.tensor(PATHWISE_LOGITS, requires_grad=True)
    weights = ta.tensor(PATHWISE_WEIGHTS, requires_grad=True)

    def expected(logits, weights):
        return expected_reward(logits, -((weights - PATHWISE_TARGETS) ** 2))

    ta.gradcheck(expected, logits, weights)
    expected(logits, weights).backward()
    return np.concatenate([logits.grad, weights.grad])


def pathwise_estimates(objective, count, rng):
    """(count, 2n) estimates of grad E[R(a; w)] w.r.t. (logits, w): the gradient of objective(log_prob, R(a; w)),
    summed over N rows that each hold a copy of the logits and of w."""
    logits = ta.tensor(np.tile(PATHWISE_LOGITS, (count, 1)), requires_grad=True)  # (N, n)
    weights = ta.tensor(np.tile(PATHWISE_WEIGHTS, (count, 1)), requires_grad=True)  # (N, n)
    policy = Categorical(logits)
    actions = policy.sample(rng)
    objective(policy.log_prob(actions), pathwise_reward(weights, actions)).backward()
    grads = [np.zeros(leaf.shape) if leaf.grad is None else leaf.grad for leaf in (logits, weights)]
    return np.concatenate(grads, axis=1)  # (N, 2n)


def correct_pathwise_objective(log_prob, reward):
    # the reward's own gradient (pathwise) plus the score term, whose reward reinforce detaches
    return reward.sum() - reinforce(log_prob, reward, reduction="sum")


def undetached_objective(log_prob, reward):
    # the score term built by hand with the reward still attached: w also gets log p(a) dR/dw
    return reward.sum() + (log_prob * reward).sum()


def score_term_dropped_objective(log_prob, reward):
    return reward.sum()


def test_reward_that_depends_on_parameters_is_unbiased_with_reinforce_detaching_it():
    """R(a; w) = -(w_a - t_a)^2: R(a; w) + REINFORCE(log p(a), R) estimates grad E[R] w.r.t. the logits and w.
    Measured max |z|: 1.35. False-failure rate: 6 x 1.3e-6 (p >= 0.17, N p >= 3,490)."""
    estimates = pathwise_estimates(correct_pathwise_objective, SAMPLES, np.random.default_rng(3))
    assert_unbiased(estimates, exact_pathwise_gradient())


@pytest.mark.parametrize("objective", [undetached_objective, score_term_dropped_objective],
                         ids=["reward not detached", "score term dropped"])
def test_power_statistic_rejects_an_undetached_reward_or_a_missing_score_term(objective):
    """The same problem and seed as the test above. Not detaching the reward multiplies the w gradient by
    (1 + log p(a)); dropping the score term zeroes the logits' gradient. Measured max |z| at N = 20,000: not detached
    2,368 (on w; the logits' components still pass), score term dropped 4.4e11 (the logits' estimates are exactly 0,
    so their se is the floor)."""
    estimates = pathwise_estimates(objective, SAMPLES, np.random.default_rng(3))
    assert max_z(estimates, exact_pathwise_gradient()) > Z_LIMIT


# ----- 3. properties --------------------------------------------------------------------------------------------------
VARIANCE_PROBLEM = Problem(np.array([0.3, -0.5, 1.0, 0.0, -1.2]), 10.0 + np.array([0.5, -1.0, 0.8, 0.0, -0.3]))


@pytest.mark.parametrize("constant", [2.5, -0.75])
def test_constant_reward_gives_exactly_zero_leave_one_out_estimates(constant):
    """R - b = c - (4c - c) / 3 is exactly 0 where that arithmetic is exact (these constants)."""
    problem = Problem(VARIANCE_PROBLEM.logits, np.full(5, constant))
    estimates = leave_one_out_estimates(problem, 1000, np.random.default_rng(0))
    assert not estimates.any()


def test_constant_reward_gives_leave_one_out_estimates_zero_to_rounding():
    """With c = 0.1 the leave-one-out mean (4c - c) / 3 rounds; the estimates are zero to a few ulps of c."""
    problem = Problem(VARIANCE_PROBLEM.logits, np.full(5, 0.1))
    estimates = leave_one_out_estimates(problem, 1000, np.random.default_rng(0))
    assert S.largest(estimates) <= 4 * np.finfo(np.float64).eps * 0.1


def test_constant_reward_without_baseline_gives_a_zero_mean_gradient():
    """E[c grad log p(a)] = 0. False-failure rate: 5 x 1.3e-6 (p >= 0.05, N p >= 1,000)."""
    problem = Problem(VARIANCE_PROBLEM.logits, np.full(5, 3.0))
    estimates = score_function_estimates(problem, SAMPLES, np.random.default_rng(1), without_baseline)
    assert estimates.any()
    assert_unbiased(estimates, np.zeros(5))


@pytest.mark.parametrize("scale", [4.0, -0.25, 3.7])
@pytest.mark.parametrize("estimator", ["no baseline", "constant baseline", "leave one out"])
def test_scaling_the_reward_scales_every_estimate(estimator, scale):
    """Same seed, reward (and baseline) times c: every estimate times c, bit for bit when c is a power of two."""
    problem = VARIANCE_PROBLEM
    scaled = Problem(problem.logits, problem.reward * scale)

    def estimates(problem, factor):
        rng = np.random.default_rng(5)
        if estimator == "leave one out":
            return leave_one_out_estimates(problem, 2000, rng)
        baseline = None if estimator == "no baseline" else 9.5 * factor
        return score_function_estimates(problem, 2000, rng, lambda log_prob, actions, rewards: reinforce(
            log_prob, rewards, baseline=baseline, reduction="sum"))

    original, multiplied = estimates(problem, 1.0), estimates(scaled, scale)
    assert original.any()
    if math.frexp(abs(scale))[0] == 0.5:  # a power of two: exact
        np.testing.assert_array_equal(multiplied, scale * original)
    else:
        # atol: rounding of components that cancel to zero (draws with equal rewards)
        np.testing.assert_allclose(multiplied, scale * original, rtol=1e-13, atol=1e-13 * S.largest(multiplied))


def test_constant_baseline_leaves_the_mean_unchanged_and_changes_the_variance():
    """Same seed (the same draws), baselines 0, E[R] (about 10.3) and -10: the paired differences
    -b grad log p(a) have mean 0 (max |z| <= 5), each estimator is unbiased, and the variance moves: measured total
    variances 72.7 (b = 0), 0.222 (b = E[R], 327 times lower) and 286 (b = -10, 3.9 times higher); seeds 0-2 agree
    within 4%. Asserted: more than 150 times lower, more than 3 times higher. False-failure rate: 5 comparisons x 5
    components x 1.3e-6 (p >= 0.05, N p >= 1,000) = 3e-5."""
    problem = VARIANCE_PROBLEM
    mean_reward = float(problem.probs @ problem.reward)
    exact = exact_gradient(problem)
    runs = {}
    for baseline in (0.0, mean_reward, -10.0):
        runs[baseline] = score_function_estimates(
            problem, SAMPLES, np.random.default_rng(11),
            lambda log_prob, actions, rewards, b=baseline: reinforce(log_prob, rewards, baseline=b, reduction="sum"))
        assert_unbiased(runs[baseline], exact)
    for baseline in (mean_reward, -10.0):
        assert_unbiased(runs[baseline] - runs[0.0], np.zeros(5))
    assert total_variance(runs[mean_reward]) < total_variance(runs[0.0]) / 150
    assert total_variance(runs[-10.0]) > 3 * total_variance(runs[0.0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_near_deterministic_policy_gives_finite_estimates(dtype):
    """A logit gap of 20: p of each other position is 2e-9. The draws, their estimates and the gradient of a rare
    position's log-probability are finite, and the mean is the exact gradient to 1e-6 (the rare positions' own
    components are of order p and are almost never drawn, so no z-test here)."""
    problem = Problem(np.array([20.0, 0.0, 0.0, 0.0]), np.array([1.0, -1.0, 2.0, 0.5]))
    rng = np.random.default_rng(2)
    plain = score_function_estimates(problem, SAMPLES, rng, without_baseline, dtype=dtype)
    averaged = leave_one_out_estimates(problem, SAMPLES, rng, dtype=dtype)
    for estimates in (plain, averaged):
        assert estimates.dtype == dtype
        assert np.isfinite(estimates).all()
        np.testing.assert_allclose(estimates.mean(axis=0), exact_gradient(problem), atol=1e-6)

    logits = ta.tensor(problem.logits.astype(dtype), requires_grad=True)
    reinforce(Categorical(logits).log_prob(np.array([3])), np.array([2.0]), reduction="sum").backward()
    assert np.isfinite(logits.grad).all()
    np.testing.assert_allclose(logits.grad, -2.0 * (np.eye(4)[3] - problem.probs), rtol=1e-6, atol=1e-6)


def test_float32_estimates_are_float32_and_unbiased():
    """float32 logits give float32 gradients whose mean matches the float64 exact gradient (the float32 rounding,
    about 1e-7, is far below the standard error). False-failure rate: 2 x 4 x 1.3e-6 (p >= 0.08, N p >= 1,590)."""
    rng = np.random.default_rng(4)
    exact = exact_gradient(POWER_PROBLEM)
    plain = score_function_estimates(POWER_PROBLEM, SAMPLES, rng, without_baseline, dtype=np.float32)
    averaged = leave_one_out_estimates(POWER_PROBLEM, SAMPLES, rng, dtype=np.float32)
    for estimates in (plain, averaged):
        assert estimates.dtype == np.float32
        assert_unbiased(estimates, exact)


# ----- 4. variance ---------------------------------------------------------------------------------------------------
def test_baselines_lower_the_variance_by_measured_factors():
    """VARIANCE_PROBLEM: 5 positions, logits (0.3, -0.5, 1.0, 0.0, -1.2), rewards 10 + (0.5, -1.0, 0.8, 0.0, -0.3),
    so the common offset dominates and a baseline should remove it. Total variance (sum of the 5 per-component
    variances) of one estimate, N = 20,000 estimates each, the first 2,000 dropped for every estimator (the online
    baselines' warm-up: the moving average returns 0 for its first chunk, the value baseline starts near 0).

    Measured at seed 21 (seeds 0-9 give the same factors within 3%): none 72.4; moving average 0.223 (factor 324);
    learned value 0.224 (factor 324; both sit near E[R] = 10.3, where b = E[R] exactly gives 0.222); leave-one-out
    with k = 4: 0.081 per estimate (factor 896) and, charging it its 4 draws (the mean of 4 single-draw estimates
    has a quarter of their variance), 4 x 0.081 = 0.32 per draw (factor 224). Asserted with a margin of 2: factors
    > 150 (moving average, value), > 450 (leave-one-out per estimate), > 110 (leave-one-out per draw)."""
    problem = VARIANCE_PROBLEM
    warm_up = 4 * CHUNK
    variances = {}
    for name, surrogate in (("none", without_baseline), ("moving average", with_moving_average),
                            ("value", OnlineValueBaseline(np.random.default_rng(0)).surrogate)):
        estimates = score_function_estimates(problem, SAMPLES, np.random.default_rng(21), surrogate)
        variances[name] = total_variance(estimates[warm_up:])
    loo = leave_one_out_estimates(problem, SAMPLES, np.random.default_rng(21))
    variances["leave one out"] = total_variance(loo[warm_up:])
    factors = {name: variances["none"] / variance for name, variance in variances.items()}
    per_draw = variances["none"] / (DRAWS * variances["leave one out"])
    report = f"variances {variances}, factors {factors}, leave-one-out per draw {per_draw}"
    assert factors["moving average"] > 150, report
    assert factors["value"] > 150, report
    assert factors["leave one out"] > 450, report
    assert per_draw > 110, report


# ----- 5. no leaks ----------------------------------------------------------------------------------------------------
def small_policy(seed=0, count=6):
    logits = ta.tensor(np.random.default_rng(seed).normal(size=(count, 4)), requires_grad=True)  # (B, T)
    policy = Categorical(logits)
    return logits, policy, policy.sample(np.random.default_rng(seed + 1))


def test_reward_tensor_that_requires_grad_gets_no_gradient():
    logits, policy, actions = small_policy()
    reward = ta.tensor(np.linspace(-1.0, 2.0, 6), requires_grad=True)
    weights = ta.tensor(np.array([0.5, -0.2, 1.0, 0.3]), requires_grad=True)
    computed = (weights[actions] - 1.0) ** 2  # a reward computed from a parameter
    reinforce(policy.log_prob(actions), reward, reduction="sum").backward(retain_graph=True)
    reinforce(policy.log_prob(actions), computed, baseline=reward, reduction="sum").backward()
    assert logits.grad.any()
    for leaf in (reward, weights):
        assert leaf.grad is None or not leaf.grad.any()


def test_value_baseline_output_gets_no_gradient_from_the_reinforce_term():
    logits, policy, actions = small_policy(3)
    reward = np.linspace(-1.0, 2.0, 6)
    baseline = ValueBaseline(2, hidden_size=3, dtype=np.float64, rng=0)
    values = baseline(np.random.default_rng(4).normal(size=(6, 2)))  # (B,), requires grad
    assert values.requires_grad
    reinforce(policy.log_prob(actions), reward, baseline=values).backward(retain_graph=True)
    assert all(parameter.grad is None for parameter in baseline.parameters())
    with_tensor = logits.grad.copy()

    logits.grad = None
    reinforce(policy.log_prob(actions), reward, baseline=values.data).backward()
    np.testing.assert_array_equal(logits.grad, with_tensor)
    baseline.loss(values, reward).backward()  # its own training still reaches it
    assert all(parameter.grad.any() for parameter in baseline.parameters())


def test_sampled_indices_and_leave_one_out_baselines_are_plain_arrays():
    _, policy, actions = small_policy()
    draws = policy.sample(np.random.default_rng(0), k=DRAWS)
    for indices, shape in ((actions, (6,)), (draws, (DRAWS, 6))):
        assert type(indices) is np.ndarray and indices.dtype.kind == "i" and indices.shape == shape
    baseline = leave_one_out(ta.tensor(np.ones((DRAWS, 6)), requires_grad=True))
    assert type(baseline) is np.ndarray
    single = Categorical(np.zeros(3)).sample(np.random.default_rng(0))  # batch shape (): an integer scalar
    assert not isinstance(single, ta.Tensor) and np.asarray(single).dtype.kind == "i"


# ----- 6. bad input ---------------------------------------------------------------------------------------------------
def log_prob_of_three():
    policy = Categorical(ta.tensor(np.zeros((3, 4)), requires_grad=True))
    return policy.log_prob(np.array([0, 1, 2]))  # (3,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_reinforce_refuses_a_reward_or_baseline_that_is_not_finite(bad):
    log_prob = log_prob_of_three()
    reward = np.array([1.0, bad, 0.0])
    S.assert_error_names(ValueError, lambda: reinforce(log_prob, reward), ["reinforce", "reward", "(3,)", "float64"])
    S.assert_error_names(ValueError, lambda: reinforce(log_prob, np.ones(3), baseline=reward),
                         ["reinforce", "baseline", "(3,)"])


def test_reinforce_refuses_a_reward_that_does_not_broadcast_to_log_prob():
    S.assert_error_names(ShapeError, lambda: reinforce(log_prob_of_three(), np.ones(4)),
                         ["reinforce", "(4,)", "(3,)"])
    S.assert_error_names(ShapeError, lambda: reinforce(log_prob_of_three(), np.ones((2, 3))),
                         ["reinforce", "(2, 3)", "(3,)"])


def test_reinforce_refuses_log_prob_given_as_an_array():
    S.assert_error_names(DTypeError, lambda: reinforce(log_prob_of_three().data, np.ones(3)),
                         ["reinforce", "ndarray", "(3,)"])


def test_reinforce_refuses_an_unknown_reduction():
    S.assert_error_names(ValueError, lambda: reinforce(log_prob_of_three(), np.ones(3), reduction="max"),
                         ["reinforce", "'max'"])


def test_leave_one_out_needs_two_draws():
    S.assert_error_names(ShapeError, lambda: leave_one_out(np.ones((1, 5))), ["leave_one_out", "(1, 5)"])
    S.assert_error_names(ShapeError, lambda: leave_one_out(np.ones((3, 1)), axis=1), ["leave_one_out", "(3, 1)"])


@pytest.mark.parametrize("decay", [1.0, -0.1, 1.5])
def test_moving_average_refuses_a_decay_outside_zero_one(decay):
    S.assert_error_names(ValueError, lambda: MovingAverageBaseline(decay), ["MovingAverageBaseline", str(decay)])


def test_value_baseline_refuses_the_wrong_feature_size():
    baseline = ValueBaseline(3, dtype=np.float64, rng=0)
    S.assert_error_names(ShapeError, lambda: baseline(np.ones((5, 2))), ["ValueBaseline", "(5, 2)", "3"])


@pytest.mark.parametrize("temperature", [0.0, -1.0, np.nan])
def test_gumbel_softmax_refuses_a_temperature_that_is_not_positive(temperature):
    S.assert_error_names(ValueError, lambda: gumbel_softmax(np.zeros((2, 3)), temperature=temperature, rng=0),
                         ["gumbel_softmax", "temperature"])


def test_gumbel_softmax_hard_refuses_a_row_that_allows_nothing():
    mask = np.array([[True, False, True], [False, False, False]])
    S.assert_error_names(ValueError, lambda: gumbel_softmax(np.zeros((2, 3)), hard=True, mask=mask, rng=0),
                         ["gumbel_softmax", "hard=True", "(2, 3)"])


# ----- 7. the moving average ------------------------------------------------------------------------------------------
def test_moving_average_returns_zero_then_the_corrected_average_of_earlier_batches():
    """decay 0.5, batch means 3, 1, 7. By hand: a = 0.5 a + 0.5 mean, corrected by 1 - 0.5^n:
    returns 0; a = 1.5 -> 1.5 / 0.5 = 3; a = 1.25 -> 1.25 / 0.75 = 5/3; a = 4.125 -> 4.125 / 0.875 = 33/7."""
    average = MovingAverageBaseline(decay=0.5)
    assert average.value == 0.0
    assert average(np.array([2.0, 4.0])) == 0.0
    assert average(np.array([1.0])) == 3.0
    assert average(ta.tensor([5.0, 7.0, 9.0])) == pytest.approx(5 / 3, rel=1e-15)
    assert average.value == pytest.approx(33 / 7, rel=1e-15)


def test_moving_average_of_a_constant_reward_is_that_constant_from_the_first_update():
    """The correction for the start at zero: no pull towards 0 in early steps."""
    average = MovingAverageBaseline(decay=0.9)
    average(np.full(4, 5.0))
    for _ in range(5):
        assert average(np.full(3, 5.0)) == pytest.approx(5.0, rel=1e-14)


def test_moving_average_state_dict_round_trip_keeps_the_value(tmp_path):
    average = MovingAverageBaseline(decay=0.8)
    for mean in (1.0, -2.0, 4.0):
        average(np.array([mean - 1.0, mean + 1.0]))
    restored = MovingAverageBaseline(decay=0.8)
    restored.load_state_dict(average.state_dict())
    assert restored.value == average.value
    ta.save({"baseline": average.state_dict()}, tmp_path / "baseline.npz")
    from_file = MovingAverageBaseline(decay=0.8)
    from_file.load_state_dict(ta.load(tmp_path / "baseline.npz")["baseline"])
    assert from_file.value == average.value
    rewards = np.array([0.5, 3.0])
    assert restored(rewards) == from_file(rewards) == average(rewards)
    assert restored.value == from_file.value == average.value


# ----- 8. Gumbel-softmax ----------------------------------------------------------------------------------------------
GUMBEL_LOGITS = np.array([0.5, -0.5, 1.0, 0.0, -1.0])
GUMBEL_MASK = np.array([True, True, False, True, True])


def test_gumbel_softmax_soft_rows_sum_to_one_and_masked_positions_are_zero():
    logits = np.random.default_rng(0).normal(size=(4, 6, 5)) * 3
    mask = np.random.default_rng(1).random((4, 6, 5)) < 0.6
    mask[..., 0] = True
    for temperature in (0.3, 1.0, 5.0):
        soft = gumbel_softmax(logits, temperature=temperature, mask=mask, rng=2).data
        np.testing.assert_allclose(soft.sum(axis=-1), 1.0, rtol=1e-12)
        assert not soft[~mask].any()
        assert (soft >= 0).all()


def test_gumbel_softmax_hard_forward_is_exactly_one_hot_at_the_soft_argmax():
    logits = np.random.default_rng(0).normal(size=(50, 5))
    mask = np.broadcast_to(GUMBEL_MASK, (50, 5))
    hard = gumbel_softmax(logits, temperature=0.7, hard=True, mask=mask, rng=3).data
    soft = gumbel_softmax(logits, temperature=0.7, hard=False, mask=mask, rng=3).data
    assert set(np.unique(hard)) <= {0.0, 1.0}
    np.testing.assert_array_equal(hard.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(np.argmax(hard, axis=-1), np.argmax(soft, axis=-1))
    assert not hard[:, ~GUMBEL_MASK].any()


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_gumbel_softmax_hard_samples_follow_softmax_of_the_logits(temperature):
    """The Gumbel-max trick, at any temperature: the count of each position over N = 20,000 draws against N p,
    z = (count - N p) / sqrt(N p (1 - p)), max |z| <= 5; the masked position is never drawn. False-failure rate:
    about 4 x 1e-6 per temperature (p >= 0.10, N p >= 2,030; a binomial count's upper tail is a little heavier than
    a Gaussian's)."""
    logits = np.tile(GUMBEL_LOGITS, (SAMPLES, 1))
    hard = gumbel_softmax(logits, temperature=temperature, hard=True, mask=GUMBEL_MASK,
                          rng=np.random.default_rng(8)).data
    counts = hard.sum(axis=0)
    probs = Problem(GUMBEL_LOGITS, np.zeros(5), GUMBEL_MASK).probs
    allowed = GUMBEL_MASK
    z = (counts[allowed] - SAMPLES * probs[allowed]) / np.sqrt(SAMPLES * probs[allowed] * (1 - probs[allowed]))
    assert S.largest(z) <= Z_LIMIT, z
    assert counts[~allowed].sum() == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gumbel_softmax_straight_through_gradient_is_the_soft_samples_gradient(dtype):
    """Same seed, same noise: the hard sample's gradient (straight through) equals the soft sample's, bit for bit."""
    upstream = np.random.default_rng(0).normal(size=(7, 5)).astype(dtype)
    grads = []
    for hard in (True, False):
        logits = ta.tensor(np.random.default_rng(1).normal(size=(7, 5)).astype(dtype), requires_grad=True)
        sample = gumbel_softmax(logits, temperature=0.8, hard=hard, mask=GUMBEL_MASK, rng=5)
        assert sample.dtype == dtype
        (sample * upstream).sum().backward()
        grads.append(logits.grad)
    assert grads[0].any()
    np.testing.assert_array_equal(grads[0], grads[1])


def test_gumbel_softmax_straight_through_gradient_is_biased():
    """The biased comparison, on purpose: the straight-through gradient of R = y . r (y the hard one-hot, so R is
    the reward of a true sample), averaged over N = 20,000 draws, against the exact gradient of E[R]. The estimator
    is biased, so the statistic that REINFORCE passes must detect it: measured z = (-113, 87, 37) at temperature 1
    (mean (0.250, -0.267, 0.017) against the exact (0.356, -0.359, 0.003)). A false pass needs a bias of over 100
    standard errors hidden by noise: far below 1e-9."""
    problem = Problem(np.array([1.0, 0.0, -1.0]), np.array([1.0, -1.0, 0.5]))
    logits = ta.tensor(np.tile(problem.logits, (SAMPLES, 1)), requires_grad=True)  # (N, n)
    sample = gumbel_softmax(logits, temperature=1.0, hard=True, rng=np.random.default_rng(9))
    (sample * problem.reward).sum().backward()
    np.testing.assert_array_equal(sample.data.sum(axis=-1), 1.0)
    assert max_z(logits.grad, exact_gradient(problem)) > Z_LIMIT
