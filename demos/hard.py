"""Hard attention: read one position drawn from the weights, and learn where to look by REINFORCE.

The task is quickstart's, in longer sequences: 20 to 50 random letters (a..z) hold one marker, ``*``, and the
answer is the letter right after it::

    q d w * k a m ... b      ->  k

One reader, quickstart's, is trained five ways. Each position gets a key (from its letter and its left neighbour)
and a value; one learned query scores the keys, and softmax turns the scores into weights p_1..p_T. A linear
classifier reads what attention hands it and names the letter. Only the way it reads changes
(docs/concepts.md, idea 5):

* soft attention reads the expectation, context = sum_t p_t v_t. Everything in it is differentiable, so
  backpropagation gives every parameter its exact gradient;
* hard attention draws one position a ~ p and reads v_a alone. The classifier and the values still learn by
  backpropagation, through the row that was read. The scores do not: they only decide *which* row is read, and a
  small change of a score leaves the draw as it was (or jumps to another row), so its derivative is zero almost
  everywhere. What the scores can be told is how well each draw went: a reward, here R = -cross-entropy of the
  classifier after reading v_a (near 0 when it is sure and right, about -log 26 = -3.3 when it guesses).

REINFORCE (Williams, 1992). The policy should raise the expected reward, and although a draw has no derivative, the
expectation does. Since grad p(a) = p(a) grad log p(a),

    grad E[R] = sum_a R(a) grad p(a) = E[ R(a) grad log p(a) ] = E[ (R(a) - b) grad log p(a) ]

for any baseline b that does not depend on the draw: E[grad log p(a)] = sum_a grad p(a) = grad 1 = 0. So one draw
gives an unbiased estimate, (R - b) grad log p(a): make the drawn position more likely when it did better than b,
less likely when worse. In code the total loss is cross_entropy + mean(-(R - b) log p(a)), R and b held constant
(``HardAttentionOutput.reinforce``, ``tinyattn.estimators.reinforce``).

Why a baseline. Without one (b = 0), every reward here is negative, about -3.3 at the start, so every draw is made
less likely by about the same amount, whichever position it was; the only useful signal is the small difference
between the reward of the answer's position and the others', and it is drowned by the noise of which position
happened to be drawn (1 time in 20 to 50 the answer). A b close to E[R] removes the common part and leaves the
difference. The demo's three REINFORCE readers:

* no baseline;
* an EMA baseline (``MovingAverageBaseline``): b = an exponential moving average (decay 0.9) of the mean reward of
  earlier batches, one number for every example;
* RLOO, leave-one-out (``leave_one_out``, Kool et al., 2019): k = 4 draws per example, and each draw's baseline is
  the mean reward of the other 3 on the same example: a baseline per example, with no lag. It reads 4 values per
  example at each step where the others read one, so it sees more per step.

The fifth reader is not REINFORCE: Gumbel-softmax straight-through (``HardAttention(estimator="gumbel")``, built on
``gumbel_softmax(hard=True)``, Jang et al., 2016) draws argmax_t(score_t + g_t), g Gumbel noise (an exact draw from
p), and reads that value, but the backward pass treats the one-hot as if it were softmax(score + g), so the scores
get a gradient from the classifier's loss, as in soft attention: biased, with low variance. In evaluation every
reader that draws reads its most probable position (argmax) instead.

All five start from the same parameters and see the same batches (Adam, learning rate 0.003, 32 sequences a step,
held-out accuracy on 500 sequences every 20 steps in quick mode; chance is 1/26 = 3.8%).

What you should see (measured on a shared 2-core machine). Quick mode, 600 steps, seed 0, about 15 s in all:

    model                    held-out accuracy  looks at the answer  steps to 90%  seconds
    soft                                100.0%                 100%            80      1.5
    REINFORCE, no baseline              100.0%                 100%           460      1.6
    REINFORCE, EMA baseline             100.0%                 100%           180      1.7
    REINFORCE, RLOO (k=4)               100.0%                 100%           120      1.8
    Gumbel straight-through             100.0%                 100%           160      1.4

Soft attention is the fastest: it has the exact gradient. RLOO and Gumbel straight-through come next, then the EMA
baseline, and without a baseline REINFORCE is last by far. Seed 0 is one of its lucky seeds: over seeds 0 to 9
(steps to 90%) soft takes 80-140, RLOO 100-220, Gumbel 120-280 and EMA 140-440, while without a baseline REINFORCE
gets there in 3 seeds of 10 (320-460 steps) and in the other 7 is still at 3-18% after 600 steps, its argmax on a few
particular letters rather than on a place. It is not hopeless, only slow and erratic: in full mode (2,000 steps,
seed 0) it reaches 90% at step 440, the others at 80-160. The length matters: at quickstart's 6 to 16 letters,
where a random draw hits the answer 1 time in 6 to 16, all five learn in quick mode (seeds 0 to 4): soft 80-100
steps, RLOO 80-100, Gumbel 100-140, EMA 100-200, no baseline 120-380. curves.svg (in demo-output/hard/) draws the
five learning curves.

Run it::

    python -m demos.hard              # full mode: 2000 steps per model, about 30 s
    python -m demos.hard --quick      # the tour's mode: 600 steps per model, about 15 s
    python -m demos.hard --tiny       # a smoke test: a second, meaningless results
    python -m demos.hard --seed 3 --out /tmp/hard
"""
import os
import time

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common, quickstart
from tinyattn.attention import HardAttention, attend
from tinyattn.estimators import MovingAverageBaseline, leave_one_out
from tinyattn.nn import Embedding, Linear, Module, Parameter

# ----- the data: quickstart's task, in longer sequences --------------------------------------------------------------
PAD, MARKER, VOCAB_SIZE, N_LETTERS = quickstart.PAD, quickstart.MARKER, quickstart.VOCAB_SIZE, quickstart.N_LETTERS
MIN_LENGTH, MAX_LENGTH = 20, 50
TARGET = 0.9  # "steps to 90%": the first evaluation at or above this held-out accuracy


def make_examples(rng, size, min_length=MIN_LENGTH, max_length=MAX_LENGTH):
    """quickstart's examples, with lengths drawn uniformly from min_length..max_length (at least 2).

    Returns tokens (B, T) int64 padded with PAD to T = max_length, mask (B, T) bool (True = a real token), the
    answer positions (B,), one after the single marker, and the targets (B,), the letters there.
    """
    if size < 1 or not 2 <= min_length <= max_length:
        raise ValueError(f"make_examples: need size >= 1 and 2 <= min_length <= max_length; got size {size}, lengths "
                         f"{min_length}..{max_length}")
    lengths = rng.integers(min_length, max_length + 1, size=size)
    tokens = rng.integers(MARKER + 1, VOCAB_SIZE, size=(size, max_length))  # letters only; the marker comes next
    mask = np.arange(max_length)[None, :] < lengths[:, None]
    tokens[~mask] = PAD
    marker_positions = rng.integers(0, lengths - 1)  # never the last real position: a letter always follows it
    rows = np.arange(size)
    tokens[rows, marker_positions] = MARKER
    answer_positions = marker_positions + 1
    return tokens, mask, answer_positions, tokens[rows, answer_positions]


# ----- the five ways to train one reader -----------------------------------------------------------------------------
DRAWS = 4  # draws per example for the leave-one-out baseline
MODELS = {  # the table's rows and the chart's lines, in order: how the reader reads, and its policy's baseline
    "soft": {"attention": "soft", "baseline": None},
    "REINFORCE, no baseline": {"attention": "hard", "baseline": None},
    "REINFORCE, EMA baseline": {"attention": "hard", "baseline": "moving average"},
    f"REINFORCE, RLOO (k={DRAWS})": {"attention": "hard", "baseline": "leave-one-out"},
    "Gumbel straight-through": {"attention": "gumbel", "baseline": None},
}
SHORT = dict(zip(MODELS, ("soft", "no baseline", "EMA", "RLOO", "Gumbel"), strict=True))  # for the headline

# One learning rate for all five. 0.005 (tried on seeds 0-5) and 0.01 (seeds 0-3) are faster for most models and tell
# the same story (soft first; every run with a baseline or Gumbel at 90% within 420 steps; no baseline short of 90%
# after 600 steps in half the seeds or more); 0.003 gave the most even runs from seed to seed.
MODES = {
    "quick": dict(steps=600, batch=32, dim=16, lr=0.003, decay=0.9, temperature=1.0, eval_every=20, test_size=500),
    "full": dict(steps=2000, batch=32, dim=16, lr=0.003, decay=0.9, temperature=1.0, eval_every=40, test_size=2000),
    "tiny": dict(steps=4, batch=8, dim=8, lr=0.003, decay=0.9, temperature=1.0, eval_every=2, test_size=40),
}


class Reader(Module):
    """quickstart's reader as a Module: a key per position from its token and its left neighbour, one learned query,
    a value per position, and a linear classifier on what attention reads. `attention` says how it reads:

    * "soft": the weighted sum of the values (``attend``); everything learns by backpropagation;
    * "hard": the value at one position drawn from the weights (``HardAttention``); the classifier and the values
      learn by backpropagation, the keys and the query (the policy) through REINFORCE;
    * "gumbel": the value at the position that wins argmax(scores + Gumbel noise), a draw from the same weights;
      the keys and the query learn through the gradient of the soft, noisy weights (straight-through).

    In evaluation mode the hard and Gumbel readers read the most probable position (argmax), never a draw.
    """

    def __init__(self, attention, dim, rng, temperature=1.0):
        super().__init__()
        if attention not in ("soft", "hard", "gumbel"):
            raise ValueError(f"Reader: attention must be 'soft', 'hard' or 'gumbel', got {attention!r}")
        self.attention = attention
        self.embedding = Embedding(VOCAB_SIZE, dim, padding_idx=PAD, rng=rng)
        self.key_from_token = Linear(dim, dim, bias=False, rng=rng)  # what a position's own token adds to its key
        self.key_from_left = Linear(dim, dim, bias=False, rng=rng)  # what its left neighbour adds
        self.query = Parameter(rng.normal(0.0, 1.0 / np.sqrt(dim), size=dim).astype(np.float32))
        self.value = Linear(dim, dim, rng=rng)
        self.output = Linear(dim, VOCAB_SIZE, rng=rng)
        # No parameters of its own: the keys and the query carry them. The Gumbel reader draws with Gumbel-max and
        # passes its scores the gradient of softmax(scores + noise) (straight-through); the others draw from p.
        self.hard = HardAttention(score="dot", estimator="gumbel" if attention == "gumbel" else "reinforce",
                                  temperature=temperature)

    def forward(self, tokens, mask, draws=None, rng=None):
        """(logits, how it looked): logits (B, V), or (k, B, V) for k `draws` of the hard reader; how it looked is
        the weights (B, T) for the soft reader, else a HardAttentionOutput."""
        embedded = self.embedding(tokens)  # (B, T) -> (B, T, D)
        batch, _, dim = embedded.shape
        no_neighbour = np.zeros((batch, 1, dim), dtype=embedded.dtype)
        left = F.concatenate([no_neighbour, embedded[:, :-1]], axis=1)  # (B, T, D); position 0 has no neighbour
        keys = self.key_from_token(embedded) + self.key_from_left(left)  # (B, T, D)
        values = self.value(embedded)  # (B, T, D)
        query = self.query.broadcast_to((batch, dim))  # (D,) -> (B, D): one question, asked of every sequence
        if self.attention == "soft":
            context, weights = attend(query, keys, values, "dot", mask=mask)  # (B, D), (B, T)
            return self.output(context), weights
        looked = self.hard(query, keys, values, mask, k=draws, rng=rng)  # context ([k,] B, D)
        return self.output(looked.context), looked


def make_baseline(kind, settings):
    """A callable reward -> baseline for REINFORCE, or None: a fresh moving average, or leave-one-out."""
    if kind is None:
        return None
    if kind == "moving average":
        return MovingAverageBaseline(settings["decay"])
    if kind == "leave-one-out":
        return leave_one_out
    raise ValueError(f"make_baseline: unknown baseline {kind!r}")


# ----- training and evaluation ---------------------------------------------------------------------------------------
def training_loss(model, examples, rng, baseline=None):
    """The loss to descend on one batch: the classifier's mean cross-entropy, plus, for the hard reader, the REINFORCE
    loss of its attention, with the reward R = -cross-entropy of each draw. With leave_one_out as the baseline the
    hard reader draws DRAWS positions per example, and the cross-entropy is the mean over all the draws."""
    tokens, mask, _, targets = examples
    if model.attention != "hard":
        logits, _ = model(tokens, mask, rng=rng)
        return F.cross_entropy(logits, targets)
    draws = DRAWS if baseline is leave_one_out else None
    logits, looked = model(tokens, mask, draws=draws, rng=rng)  # ([k,] B, V)
    targets = np.broadcast_to(targets, logits.shape[:-1])  # ([k,] B)
    losses = F.cross_entropy(logits, targets, reduction="none")  # ([k,] B): -log p(target | the value read)
    reward = -losses.data  # how well the drawn position served the classifier; a constant for the policy
    # The baseline sees the reward it is subtracted from only as the others' mean (leave-one-out) or after use
    # (the moving average returns the average of earlier batches), so it never depends on this draw.
    return losses.mean() + looked.reinforce(reward, None if baseline is None else baseline(reward))


def evaluate(model, examples):
    """(held-out accuracy, how much it looks at the answer) without a graph: the mean soft weight on the answer, or,
    for the readers that draw, the share of examples whose argmax position is the answer."""
    tokens, mask, answer_positions, targets = examples
    model.eval()
    with ta.no_grad():
        logits, looked = model(tokens, mask)
    model.train()
    weights = looked.data if model.attention == "soft" else looked.weights  # (B, T); one-hot rows when hard
    accuracy = float(np.mean(np.argmax(logits.data, axis=-1) == targets))
    return accuracy, float(np.mean(weights[np.arange(len(tokens)), answer_positions]))


def train(model, baseline, settings, data_rng, draw_rng, held_out):
    """Adam on fresh batches from `data_rng`, draws from `draw_rng`; the held-out accuracy before training and every
    eval_every steps. Returns (evaluated steps, accuracies, seconds spent training, evaluation excluded)."""
    optimizer = ta.optim.Adam(list(model.parameters()), lr=settings["lr"])
    curve_steps, curve, seconds = [0], [evaluate(model, held_out)[0]], 0.0
    for step in range(1, settings["steps"] + 1):
        start = time.perf_counter()
        examples = make_examples(data_rng, settings["batch"])
        loss = training_loss(model, examples, draw_rng, baseline)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seconds += time.perf_counter() - start
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            curve_steps.append(step)
            curve.append(evaluate(model, held_out)[0])
    return curve_steps, curve, seconds


def steps_to(curve_steps, curve, target=TARGET):
    """The first evaluated step whose held-out accuracy is at least `target`, or None."""
    return next((step for step, accuracy in zip(curve_steps, curve, strict=True) if accuracy >= target), None)


def table(results):
    """The results as aligned text: one row per model."""
    header = ("model", "held-out accuracy", "looks at the answer", "steps to 90%", "seconds")
    rows = [(name, f"{results['accuracy'][name]:.1%}", f"{results['answer_weight'][name]:.0%}",
             str(results["steps_to_target"][name] or "never"), f"{results['seconds'][name]:.1f}")
            for name in MODELS]
    return common.text_table(header, rows)


# ----- the command line ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "hard",
        "One reader, trained five ways to find the letter after a marker in 20 to 50 letters: soft attention, hard "
        "attention with REINFORCE (no baseline, a moving-average baseline, leave-one-out) and Gumbel-softmax "
        "straight-through. Prints held-out accuracy and steps to 90%, and draws the learning curves. --steps counts "
        "the steps of each model.", MODES, "curves.svg, the held-out accuracy of each model during training")
    return common.parse(parser, argv)


def headline(results):
    """The key figure in one line: steps to 90% held-out accuracy per model (final accuracy when never)."""
    parts = [f"{SHORT[name]} " + (str(results["steps_to_target"][name]) if results["steps_to_target"][name]
                                  else f"never ({results['accuracy'][name]:.0%})") for name in MODELS]
    return f"steps to 90% (of {results['steps']}): " + ", ".join(parts)


def main(argv=None):
    """Train the five readers on the same batches from the same start; print the table, draw the curves; returns a
    dict of results (accuracy, answer_weight, steps_to_target, seconds, curves, ...; one entry per model each)."""
    args = parse_args(argv)
    mode, settings, (init_rng, data_rng, test_rng, draw_rng) = common.start(args, MODES, streams=4)
    held_out = make_examples(test_rng, settings["test_size"])
    # Every model starts from the same parameters and sees the same batches; each draws from its own generator.
    init_seed, data_seed = (int(rng.integers(2**63)) for rng in (init_rng, data_rng))
    draw_rngs = dict(zip(MODELS, draw_rng.spawn(len(MODELS)), strict=True))

    print(f"Task: in {MIN_LENGTH} to {MAX_LENGTH} random letters, find the letter after the marker *; a guess is right "
          f"{1 / N_LETTERS:.1%} of the time, and a position drawn at random is the answer 1 time in 20 to 50.")
    print(f"{mode} mode, seed {args.seed}: {settings['steps']} steps of {settings['batch']} sequences per model, the "
          f"same batches and the same starting parameters for all, learning rate {settings['lr']}; held-out accuracy "
          f"on {settings['test_size']} sequences every {settings['eval_every']} steps.\n")
    results = {"mode": mode, "steps": settings["steps"], "chance": 1 / N_LETTERS, "accuracy": {},
               "answer_weight": {}, "steps_to_target": {}, "seconds": {}, "curves": {}}
    start = time.perf_counter()
    for name, spec in MODELS.items():
        model = Reader(spec["attention"], settings["dim"], np.random.default_rng(init_seed), settings["temperature"])
        curve_steps, curve, seconds = train(model, make_baseline(spec["baseline"], settings), settings,
                                            np.random.default_rng(data_seed), draw_rngs[name], held_out)
        accuracy, answer_weight = evaluate(model, held_out)
        reached = steps_to(curve_steps, curve)
        results["accuracy"][name], results["answer_weight"][name] = accuracy, answer_weight
        results["steps_to_target"][name], results["seconds"][name], results["curves"][name] = reached, seconds, curve
        print(f"  {name:<24} held-out accuracy {accuracy:6.1%}   "
              + (f"90% at step {reached}" if reached else "never 90%") + f"   {seconds:4.1f} s", flush=True)
    results["curve_steps"] = curve_steps
    print(f"\n{table(results)}\n")
    print("Held-out accuracy is that of the argmax position for the readers that draw; 'looks at the answer' is the "
          "share of those argmax positions on the answer (for soft attention, its mean weight there). "
          f"RLOO reads {DRAWS} draws per example at each step, the others one.")

    results["out"] = str(common.save_learning_curves(curve_steps, results["curves"], mode, args.seed,
                                                    os.path.join(args.out, "curves.svg")))
    results["total_seconds"] = time.perf_counter() - start
    print(f"Learning curves: {os.path.abspath(results['out'])}")
    return results


if __name__ == "__main__":
    main()
