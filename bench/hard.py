"""Hard attention's gradient estimators: their bias and variance on one small problem, and the cost of a training step.

First table: how good each estimate of one gradient is. The problem, fixed by the seed:

    T = 8 positions, values v_1 .. v_8 in R^4 and a target t in R^4, standard normal, fixed
    policy    p = softmax(theta), theta in R^8 standard normal, fixed
    reward    R(c) = -||c - t||^2, where c is the value read
    objective J(theta) = E_{a ~ p}[R(v_a)] = sum_a p_a R(v_a)

Its exact gradient comes from the enumeration above, differentiated by tinyattn's engine (and checked against the
closed form p_a (R(v_a) - J)). Every estimator then gives `--estimates` independent estimates of grad_theta J, all
at once: theta becomes an (N, T) leaf of N copies, each row makes its own draw(s), the surrogate losses are summed
(reduction "sum") and one backward pass leaves one estimate per row of theta.grad. The estimators:

    REINFORCE                      (R(v_a) - b) grad log p_a with b = 0 (Williams, 1992)
    REINFORCE, b = E[R]            the constant baseline known exactly: a reference for the learned ones
    REINFORCE, moving average      b = MovingAverageBaseline(0.9), the rows fed to it in chunks of 32 in order;
                                   each chunk's baseline is the average of the earlier chunks (0 for the first)
    REINFORCE, value baseline      b = ValueBaseline on a constant feature (a learned scalar), trained online: each
                                   chunk of 32 reads the baseline, then takes one SGD step (lr 0.05) on its rewards
    REINFORCE, leave-one-out k=4   4 draws per estimate, each with the mean reward of the other 3 as baseline,
                                   averaged (RLOO: Kool, van Hoof & Welling, 2019); costs 4 reward evaluations
    Gumbel-softmax straight-through  c = one_hot @ V, the one-hot of a Gumbel-max draw, with the gradient of the
                                   relaxed softmax((theta + g) / temperature) (Jang, Gu & Poole, 2016), at
                                   temperatures 1 and 0.5: biased, since R is not linear in the one-hot
    soft attention                 c = softmax(theta) @ V, differentiated exactly: no noise, but it is the gradient
                                   of R(E[v]), another objective, so its "bias" is how far that is from grad J

For each: ||mean - exact|| with its standard error sqrt(total variance / N) (an unbiased estimator shows a
bias of about one standard error), the total variance (the trace of the covariance of one estimate), its ratio to
plain REINFORCE's, and the same per reward evaluation (variance x evaluations per estimate: the variance of an
average of estimates that costs as many reward evaluations as one plain REINFORCE estimate). float64.

Second table: one training step, forward + backward, float32: a batch of B = 32, each with Tq = 1 or 8 queries
(a 3-D query, (B, Tq, D)) over Tk = 64 keys and values, all of size D = 64; with a parameter-free
``ScaledDotScore`` and with an ``AdditiveScore(64, 64, 64)``. Each step reads a context, scores it against a target
by squared error (the task loss, whose gradient reaches the values) and, for hard attention, adds the REINFORCE
term with the reward -||context - target||^2 per query:

    soft          attend(query, keys, values, score); loss = mean((context - target)^2)
    hard          HardAttention(score), training mode, one draw per query; the same loss
                  + out.reinforce(reward, baseline=MovingAverageBaseline)
    hard, RLOO    4 draws per query (k=4); the same loss over the 4 contexts + out.reinforce(reward,
                  leave_one_out(reward))

Before timing, every step must give a finite, nonzero gradient to the query, the keys, the values and every score
parameter (a step that skipped the REINFORCE term would leave the keys without one). All steps run in one process,
warmed up, interleaved over rounds (the order rotates each round), each timed run after `--settle` untimed runs of
its own step (bench/README.md, "How it is measured"); the ratios to soft attention are taken per round. OpenBLAS
keeps its default threads unless `--threads` says otherwise. The header gives the machine, OpenBLAS's core and threads,
and whether tinyattn's Numba kernels (softmax, log_softmax) ran.

    python bench/hard.py               # 20,000 estimates each; 20 timed rounds
    python bench/hard.py --quick       # 5,000 estimates each; 5 rounds
    python bench/hard.py --threads 1   # one OpenBLAS thread: steadier on a busy machine
"""
import statistics

import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
import tinyattn
import tinyattn.functional as F
from tinyattn.attention import AdditiveScore, HardAttention, ScaledDotScore, attend
from tinyattn.distributions import Categorical
from tinyattn.estimators import MovingAverageBaseline, ValueBaseline, gumbel_softmax, leave_one_out, reinforce
from tinyattn.kernels import numba_enabled
from tinyattn.optim import SGD

SEED = 0
POSITIONS, SIZE = 8, 4  # T, and the size of each value and of the target
CHUNK = 32  # rows per update of the moving-average and value baselines
EMA_DECAY = 0.9
VALUE_LR = 0.05
RLOO_DRAWS = 4
TEMPERATURES = (1.0, 0.5)

BATCH, KEYS, DIM = 32, 64, 64  # the timing table's B, Tk, D (query, keys and values all of size D)
QUERY_COUNTS = (1, 8)  # Tq
STEP_DTYPE = np.float32


# ----- the variance problem --------------------------------------------------------------------------------------
class Problem:
    """The fixed problem of the first table: values (T, D), target (D,), logits theta (T,), and the reward of reading
    each position, rewards (T,) = -||v_a - t||^2."""

    def __init__(self, seed=SEED):
        rng = np.random.default_rng(seed)
        self.values = rng.normal(size=(POSITIONS, SIZE))
        self.target = rng.normal(size=SIZE)
        self.theta = rng.normal(size=POSITIONS)
        self.rewards = reward_of(self.values, self.target)  # (T,)
        self.probs = np.exp(self.theta - self.theta.max())
        self.probs /= self.probs.sum()
        self.expected_reward = float(self.probs @ self.rewards)


def reward_of(context, target):
    """R(c) = -||c - t||^2 over the last axis: (..., D) -> (...); a Tensor for a Tensor, an array for an array."""
    return -((context - target) ** 2).sum(axis=-1)


def exact_gradient(problem):
    """grad_theta of J = sum_a softmax(theta)_a R(v_a), by tinyattn's engine; checked against the closed form
    p_a (R(v_a) - J)."""
    theta = tinyattn.tensor(problem.theta.copy(), requires_grad=True)
    (F.softmax(theta, axis=-1) * problem.rewards).sum().backward()
    closed_form = problem.probs * (problem.rewards - problem.expected_reward)
    problem_text = common.closeness_problem(theta.grad, closed_form, rtol=1e-10, atol=1e-12)
    if problem_text:
        raise AssertionError(f"the engine's gradient of the enumerated objective differs from p (R - J) "
                             f"({problem_text})")
    return theta.grad


def policy_rows(problem, count):
    """theta as a leaf of `count` identical rows (count, T): the gradient in each row is one estimate."""
    return tinyattn.tensor(np.tile(problem.theta, (count, 1)), requires_grad=True)


def chunks(array):
    return [array[start:start + CHUNK] for start in range(0, len(array), CHUNK)]


def moving_average_baselines(rewards, rng):
    """Per row, the MovingAverageBaseline's value for its chunk: the average of the chunks before it."""
    average = MovingAverageBaseline(EMA_DECAY)
    return np.concatenate([np.full(len(chunk), average(chunk)) for chunk in chunks(rewards)])


def value_baselines(rewards, rng):
    """Per row, a ValueBaseline's prediction on a constant feature, read for each chunk before that chunk's rewards
    train it (one SGD step on its mean squared error)."""
    model = ValueBaseline(1, dtype=np.float64, rng=rng)
    optimizer = SGD(model.parameters(), lr=VALUE_LR)
    baselines = []
    for chunk in chunks(rewards):
        values = model(np.ones((len(chunk), 1)))  # (chunk,)
        baselines.append(values.data.copy())
        optimizer.zero_grad()
        model.loss(values, chunk).backward()
        optimizer.step()
    return np.concatenate(baselines)


def reinforce_estimates(problem, count, rng, baselines=None):
    """`count` single-draw REINFORCE estimates (count, T); `baselines(rewards, rng)` gives each row's baseline."""
    theta = policy_rows(problem, count)
    policy = Categorical(theta)
    drawn = policy.sample(rng)  # (count,)
    rewards = problem.rewards[drawn]
    baseline = None if baselines is None else baselines(rewards, rng)
    reinforce(policy.log_prob(drawn), rewards, baseline, reduction="sum").backward()
    return -theta.grad  # the surrogate loss's gradient is minus the estimate


def leave_one_out_estimates(problem, count, rng):
    """`count` RLOO estimates, each the mean of RLOO_DRAWS baselined terms on its own row."""
    theta = policy_rows(problem, count)
    policy = Categorical(theta)
    drawn = policy.sample(rng, k=RLOO_DRAWS)  # (k, count): the draws on the leading axis
    rewards = problem.rewards[drawn]
    reinforce(policy.log_prob(drawn), rewards, leave_one_out(rewards, axis=0), reduction="sum").backward()
    return -theta.grad / RLOO_DRAWS


def gumbel_estimates(problem, count, rng, temperature):
    """`count` straight-through Gumbel-softmax estimates: the gradient of R(one_hot @ V) through the relaxed draw."""
    theta = policy_rows(problem, count)
    one_hot = gumbel_softmax(theta, temperature, hard=True, rng=rng)  # (count, T); value a one-hot, gradient soft
    reward_of(one_hot @ problem.values, problem.target).sum().backward()  # (count, T) @ (T, D) -> (count, D)
    return theta.grad


def soft_estimates(problem, count, rng):
    """The gradient of R(softmax(theta) @ V), the same for every row (no randomness)."""
    theta = policy_rows(problem, 1)
    reward_of(F.softmax(theta, axis=-1) @ problem.values, problem.target).sum().backward()
    return np.repeat(theta.grad, count, axis=0)


def estimators():
    """(name, evaluations of R per estimate, estimates(problem, count, rng)) for every row of the first table."""
    rows = [
        ("REINFORCE, no baseline", 1, reinforce_estimates),
        ("REINFORCE, b = E[R] (exact, for reference)", 1,
         lambda problem, count, rng: reinforce_estimates(problem, count, rng,
                                                         lambda rewards, _: problem.expected_reward)),
        (f"REINFORCE, moving average b (decay {EMA_DECAY:g}, chunks of {CHUNK})", 1,
         lambda problem, count, rng: reinforce_estimates(problem, count, rng, moving_average_baselines)),
        (f"REINFORCE, value baseline b (SGD lr {VALUE_LR:g}, chunks of {CHUNK})", 1,
         lambda problem, count, rng: reinforce_estimates(problem, count, rng, value_baselines)),
        (f"REINFORCE, leave-one-out, k = {RLOO_DRAWS}", RLOO_DRAWS, leave_one_out_estimates),
    ]
    for temperature in TEMPERATURES:
        rows.append((f"Gumbel-softmax straight-through, temperature {temperature:g}", 1,
                     lambda problem, count, rng, temperature=temperature:
                     gumbel_estimates(problem, count, rng, temperature)))
    rows.append(("soft attention, grad R(E[v]) (deterministic)", 0, soft_estimates))
    return rows


def estimator_table(problem, exact, count):
    """Rows of the first table; every estimator draws from its own generator, seeded from SEED and its row."""
    stats = []
    for index, (name, evaluations, estimate) in enumerate(estimators()):
        estimates = estimate(problem, count, np.random.default_rng([SEED, index]))  # (count, T)
        variance = float(estimates.var(axis=0, ddof=1).sum())  # the trace of one estimate's covariance
        bias = float(np.linalg.norm(estimates.mean(axis=0) - exact))
        stats.append((name, evaluations, bias, (variance / count) ** 0.5, variance))
    plain = stats[0][4]  # REINFORCE without a baseline: one evaluation per estimate
    rows = []
    for name, evaluations, bias, error, variance in stats:
        per_evaluation = variance * evaluations
        rows.append([name, evaluations, f"{bias:.4f} ± {error:.4f}", f"{variance:.3f}", f"{variance / plain:.3f}",
                     f"{per_evaluation:.3f}" if evaluations else "–",
                     f"{per_evaluation / plain:.3f}" if evaluations else "–"])
    return rows


# ----- the timing table ------------------------------------------------------------------------------------------
class TrainingStep:
    """One training step of `kind` ("soft", "hard" or "hard, RLOO") with `score`: the loss forward, then backward.
    A system in the sense of common.measure; fresh() makes new leaves and clears the score's gradients."""

    def __init__(self, kind, score, score_label, arrays, seed):
        self.kind, self.score, self.score_label, self.arrays = kind, score, score_label, arrays
        self.queries = arrays[0].shape[1]
        self.name = f"{kind}, {score_label}, Tq = {self.queries}"
        self.rng = np.random.default_rng(seed)
        self.hard = HardAttention(score)  # training mode: a draw per query
        self.average = MovingAverageBaseline(EMA_DECAY)

    def fresh(self):
        self.leaves = [tinyattn.tensor(array, requires_grad=True) for array in self.arrays[:3]]
        self.score.zero_grad()
        self.loss = None

    def forward(self):
        query, keys, values = self.leaves
        target = self.arrays[3]  # (B, Tq, D)
        if self.kind == "soft":
            context, _ = attend(query, keys, values, self.score)  # (B, Tq, D)
            self.loss = ((context - target) ** 2).mean()
            return
        draws = RLOO_DRAWS if self.kind == "hard, RLOO" else None
        out = self.hard(query, keys, values, k=draws, rng=self.rng)  # context ([k,] B, Tq, D)
        reward = reward_of(out.context.data, target)  # ([k,] B, Tq)
        baseline = self.average(reward) if draws is None else leave_one_out(reward, axis=0)
        self.loss = ((out.context - target) ** 2).mean() + out.reinforce(reward, baseline)

    def backward(self):
        self.loss.backward()

    def gradients(self):
        return [leaf.grad for leaf in self.leaves] + [parameter.grad for parameter in self.score.parameters()]


def training_steps():
    """Per (score, Tq): the soft, hard and hard RLOO steps on the same arrays and the same score module."""
    rng = np.random.default_rng(SEED)
    groups = []
    for queries in QUERY_COUNTS:
        arrays = (rng.normal(size=(BATCH, queries, DIM)), rng.normal(size=(BATCH, KEYS, DIM)),
                  rng.normal(size=(BATCH, KEYS, DIM)), rng.normal(size=(BATCH, queries, DIM)))
        arrays = tuple(array.astype(STEP_DTYPE) for array in arrays)  # query, keys, values, target
        scores = [("ScaledDotScore", ScaledDotScore()),
                  (f"AdditiveScore({DIM}, {DIM}, {DIM})", AdditiveScore(DIM, DIM, DIM, dtype=STEP_DTYPE, rng=rng))]
        for label, score in scores:
            groups.append([TrainingStep(kind, score, label, arrays, seed=[SEED, len(groups), index])
                           for index, kind in enumerate(("soft", "hard", "hard, RLOO"))])
    return groups


def check_gradients(step):
    """Fail loudly unless the step's backward gives every leaf and score parameter a finite, nonzero gradient."""
    step.fresh()
    step.forward()
    step.backward()
    for index, grad in enumerate(step.gradients()):
        if grad is None or not np.isfinite(grad).all() or not grad.any():
            raise AssertionError(f"{step.name}: gradient {index} (query, keys, values, then the score's parameters) "
                                 f"is {'missing' if grad is None else 'zero or not finite'}")


def timing_table(groups, samples):
    """Rows of the second table: per (score, Tq), the medians and the per-round ratios to soft attention."""
    rows = []
    for soft, hard, loo in groups:
        medians = [statistics.median(total for *_, total in samples[step.name]) * 1e3 for step in (soft, hard, loo)]
        ratios = []
        for step in (hard, loo):
            per_round = [mine[2] / base[2] for mine, base in zip(samples[step.name], samples[soft.name], strict=True)]
            low, high = common.quartiles(per_round)
            ratios.append(f"{statistics.median(per_round):.2f} ({low:.2f}–{high:.2f})")
        rows.append([soft.score_label, soft.queries, *(f"{median:.2f}" for median in medians), *ratios])
    return rows


# ----- main --------------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    parser.add_argument("--estimates", type=int, help="estimates per estimator in the first table (default 20,000; "
                        "5,000 with --quick)")
    parser.add_argument("--settle", type=int, default=1,
                        help="untimed runs of a step right before each of its timed runs (default 1)")
    parser.add_argument("--threads", type=int, help="threads of NumPy's OpenBLAS (default: as found)")
    common.add_round_arguments(parser, rounds=(20, 5), warmup=(2, 1), what="per step")
    args = common.resolve_rounds(parser.parse_args(argv), rounds=(20, 5), warmup=(2, 1))
    if args.estimates is None:
        args.estimates = 5_000 if args.quick else 20_000
    if args.estimates < 2 or args.rounds < 1 or args.warmup < 0 or args.settle < 0 or (args.threads or 1) < 1:
        parser.error("--estimates must be at least 2, --rounds and --threads at least 1, --warmup and --settle at "
                     "least 0")
    return args


def numba_note():
    """'Numba 0.x, kernels on' (or the NumPy references), asked after tinyattn's first kernel call decided."""
    return f"{common.numba_version()}, tinyattn kernels {'Numba' if numba_enabled() else 'NumPy references'}"


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        common.set_threads(args.threads)
    problem = Problem()
    exact = exact_gradient(problem)
    soft_value = float(reward_of(problem.probs @ problem.values, problem.target))
    print(f"Gradient estimators on one problem: T = {POSITIONS} positions, values v_a and target t in R^{SIZE} "
          f"(standard normal, seed {SEED}), policy softmax(theta) with theta fixed (standard normal), reward "
          f"R(c) = -||c - t||^2; objective J = E_a[R(v_a)] = {problem.expected_reward:.4f}, ||grad J|| = "
          f"{np.linalg.norm(exact):.4f} (exact, by enumeration); soft attention's objective R(E[v]) = "
          f"{soft_value:.4f}. {args.estimates:,} estimates per estimator, float64.")
    print(common.environment_line([numba_note()], blas=True))
    print("Bias: ||mean of the estimates - exact gradient|| ± its standard error sqrt(total variance / N). "
          "Total variance: the sum of the per-component variances of one estimate. Per evaluation: variance x "
          "reward evaluations per estimate.\n")
    common.print_table(["estimator", "R evaluations per estimate", "bias ± s.e.", "total variance",
                        "÷ no baseline", "variance × evaluations", "÷ no baseline, per evaluation"],
                       estimator_table(problem, exact, args.estimates))

    groups = training_steps()
    steps = [step for group in groups for step in group]
    for step in steps:
        check_gradients(step)
    print(f"\nOne training step, forward + backward, float32: B = {BATCH}, Tk = {KEYS}, D = {DIM}; median of "
          f"{args.rounds} interleaved rounds after {args.warmup} warm-up run(s) per step, each timed run after "
          f"{args.settle} untimed run(s) of its own step. hard: one draw per query, moving-average baseline; "
          f"RLOO: k = {RLOO_DRAWS} draws per query, leave-one-out baseline.")
    print("Every step gave a finite, nonzero gradient to the query, the keys, the values and the score's parameters "
          "before timing.\n")
    with common.frozen_gc():
        samples = common.measure(steps, args.rounds, args.warmup, args.settle)
    common.print_table(["score", "Tq", "soft ms", "hard ms", "hard RLOO k=4 ms", "hard ÷ soft (IQR)",
                        "RLOO ÷ soft (IQR)"], timing_table(groups, samples), left=1)


if __name__ == "__main__":
    main()
