"""Quickstart: a soft-attention model learns where to look.

The task. Each example is a sequence of 6 to 16 random letters (a..z) that contains one marker, ``*``. The
answer is the letter right after the marker::

    c f * k a m d b      ->  k

The marker can be anywhere, so no fixed position holds the answer, and a summary of the whole sequence (the mean
of its letters) blurs the answer with every other letter: the model below, with its weights held uniform, gets
about 15% right after training (seed 0), against 100% with attention.

Why attention solves it. Attention computes a weighted sum of *values*, one per position, whose *weights* come
from comparing a *query* with a *key* at each position (docs/concepts.md, idea 1)::

    scores_t  = keys_t . query              one number per position
    weights   = softmax(scores)             positive, summing to one over the positions
    context   = sum_t weights_t values_t    what the model reads

Here each key is built from the letter at its position and from its left neighbour, so a key can say "my left
neighbour is the marker". The query is one learned vector: the question "which position follows the marker?".
Training from random parameters (Adam, with gradients from the engine) shapes the keys and the query together
until the key after the marker matches the query best, so the weights pile up on the answer and the context
becomes the answer's value. The weights are readable:
the demo prints them under the letters, before and after training, and you see the model learn to look at the
position after the marker.

Run it::

    python -m demos.quickstart              # full mode: 1500 steps, a few seconds
    python -m demos.quickstart --quick      # the tour's mode: 300 steps, about a second
    python -m demos.quickstart --seed 3 --out /tmp/quickstart
    python -m demos.quickstart --help
"""
import os
import time

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common

# ----- the data -----------------------------------------------------------------------------------------
PAD, MARKER = 0, 1  # token ids; the letters come after them
N_LETTERS = 26
VOCAB_SIZE = 2 + N_LETTERS
MIN_LENGTH, MAX_LENGTH = 6, 16
SYMBOLS = ["\u00b7", "*"] + [chr(ord("a") + letter) for letter in range(N_LETTERS)]  # how each token id is shown


def make_examples(rng, size):
    """`size` random sequences, padded to MAX_LENGTH, with their mask, answer positions and targets.

    Returns tokens (B, T) int64, mask (B, T) bool (True = a real token, False = padding), answer_positions (B,)
    and targets (B,), the token ids at the answer positions.
    """
    lengths = rng.integers(MIN_LENGTH, MAX_LENGTH + 1, size=size)
    tokens = rng.integers(2, VOCAB_SIZE, size=(size, MAX_LENGTH))  # letters only; the marker is placed below
    mask = np.arange(MAX_LENGTH)[None, :] < lengths[:, None]
    tokens[~mask] = PAD
    # The marker goes anywhere but the last real position, so that a letter always follows it.
    marker_positions = rng.integers(0, lengths - 1)
    rows = np.arange(size)
    tokens[rows, marker_positions] = MARKER
    answer_positions = marker_positions + 1
    targets = tokens[rows, answer_positions]
    return tokens, mask, answer_positions, targets


# ----- the model ----------------------------------------------------------------------------------------
def init_parameters(rng, dim):
    """The model's parameters: float32 leaf tensors that require grad, drawn from `rng`."""

    def weight(*shape):
        # float32 halves the memory traffic of float64, which is what a model this small is bound by.
        scale = 1.0 / np.sqrt(shape[0])
        return ta.tensor(rng.normal(0.0, scale, size=shape).astype(np.float32), requires_grad=True)

    return {
        "embeddings": weight(VOCAB_SIZE, dim),  # a vector per token id
        "key_from_token": weight(dim, dim),  # what a position's own token adds to its key
        "key_from_left": weight(dim, dim),  # what its left neighbour adds to its key
        "query": weight(dim),  # the learned question: "are you the position I want?"
        "value_from_token": weight(dim, dim),  # what a position hands over when it is looked at
        "output_weights": weight(dim, VOCAB_SIZE),
        "output_bias": ta.tensor(np.zeros(VOCAB_SIZE, dtype=np.float32), requires_grad=True),
    }


def attend(parameters, tokens, mask):
    """Logits (B, V) for the answer token, and the attention weights (B, T) the model used to find it."""
    embedded = F.take(parameters["embeddings"], tokens)  # (B, T) -> (B, T, D)
    batch, _, dim = embedded.shape
    # Each position's left neighbour; position 0 has none and gets zeros.
    no_neighbour = np.zeros((batch, 1, dim), dtype=embedded.dtype)
    left = F.concatenate([no_neighbour, embedded[:, :-1]], axis=1)  # (B, T, D)

    keys = embedded @ parameters["key_from_token"] + left @ parameters["key_from_left"]  # (B, T, D)
    values = embedded @ parameters["value_from_token"]  # (B, T, D)
    scores = keys @ parameters["query"]  # (B, T, D) @ (D,) -> (B, T)
    weights = F.softmax(scores, axis=-1, mask=mask)  # padding gets exactly zero weight
    context = (weights.expand_dims(-1) * values).sum(axis=1)  # (B, T, 1) * (B, T, D) -> (B, D)
    logits = context @ parameters["output_weights"] + parameters["output_bias"]  # (B, V)
    return logits, weights


def cross_entropy(logits, targets):
    """Mean of -log p(target): log_softmax over the vocabulary, then each row's target picked by gather."""
    log_probs = F.log_softmax(logits, axis=-1)  # (B, V)
    picked = F.gather(log_probs, targets[:, None], axis=1)  # (B, 1)
    return -picked.mean()


class Adam:
    """Adam (Kingma & Ba, 2014), small enough to read here. tinyattn.optim will replace it."""

    def __init__(self, parameters, lr=0.01, betas=(0.9, 0.999), eps=1e-8):
        self.parameters = list(parameters)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.means = [np.zeros_like(p.data) for p in self.parameters]  # running mean of the gradient
        self.squares = [np.zeros_like(p.data) for p in self.parameters]  # running mean of its square
        self.steps = 0

    def step(self):
        self.steps += 1
        beta1, beta2 = self.betas
        for parameter, mean, square in zip(self.parameters, self.means, self.squares, strict=True):
            if parameter.grad is None:  # not used by this loss
                continue
            mean += (1 - beta1) * (parameter.grad - mean)
            square += (1 - beta2) * (parameter.grad**2 - square)
            # Both running means start at zero; dividing by (1 - beta**steps) removes that early bias.
            mean_hat = mean / (1 - beta1**self.steps)
            square_hat = square / (1 - beta2**self.steps)
            parameter.data -= self.lr * mean_hat / (np.sqrt(square_hat) + self.eps)

    def zero_grad(self):
        for parameter in self.parameters:
            parameter.grad = None  # backward() adds to .grad, so clear it before the next one


# ----- training and reading the weights -----------------------------------------------------------------
def train(parameters, rng, steps, batch, lr):
    """Adam on fresh random batches, with a few progress lines. Returns the last loss."""
    optimizer = Adam(parameters.values(), lr=lr)
    # Most of the learning happens early, so report at doubling intervals: 1, 25, 50, 100, 200, ... and the last.
    report_at, doubling = {1, steps}, 25
    while doubling < steps:
        report_at.add(doubling)
        doubling *= 2
    for step in range(1, steps + 1):
        tokens, mask, answer_positions, targets = make_examples(rng, batch)
        logits, weights = attend(parameters, tokens, mask)
        loss = cross_entropy(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in report_at:
            accuracy = np.mean(np.argmax(logits.data, axis=-1) == targets)
            answer_weight = np.mean(weights.data[np.arange(batch), answer_positions])
            print(f"  step {step:5d}/{steps}   loss {loss.item():6.3f}   batch accuracy {accuracy:6.1%}   "
                  f"weight on the answer {answer_weight:4.0%}")
    return loss.item()


def evaluate(parameters, examples):
    """Predictions (B,), attention weights (B, T), accuracy and mean weight on the answer, without a graph."""
    tokens, mask, answer_positions, targets = examples
    with ta.no_grad():
        logits, weights = attend(parameters, tokens, mask)
    predictions = np.argmax(logits.data, axis=-1)
    accuracy = float(np.mean(predictions == targets))
    answer_weight = float(np.mean(weights.data[np.arange(len(tokens)), answer_positions]))
    return predictions, weights.data, accuracy, answer_weight


def weights_picture(tokens, mask, weights, answer_position, target, prediction):
    """A few lines of text: the tokens, their attention weights (in % and as a bar) and the answer's place."""
    bars = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # 0/8 .. 8/8 of a block
    length = int(mask.sum())
    verdict = "right" if prediction == target else "wrong"
    return "\n".join(line.rstrip() for line in [
        f"  the letter after * is '{SYMBOLS[target]}'; the model says '{SYMBOLS[prediction]}' ({verdict})",
        "    token    " + "".join(f"{SYMBOLS[token]:>4}" for token in tokens[:length]),
        "    weight % " + "".join(f"{round(100 * weight):>4}" for weight in weights[:length]),
        "             " + "".join(f"{bars[round(8 * weight)]:>4}" for weight in weights[:length]),
        "             " + " " * (4 * answer_position) + "   ^ answer",
    ])


def pictures(examples, predictions, weights, count):
    """The weights pictures of the first `count` examples."""
    tokens, mask, answer_positions, targets = examples
    return [
        weights_picture(tokens[i], mask[i], weights[i], answer_positions[i], targets[i], predictions[i])
        for i in range(min(count, len(tokens)))
    ]


# ----- the command line ---------------------------------------------------------------------------------
MODES = {  # training steps, batch size, learning rate, held-out examples
    "quick": dict(steps=300, batch=32, lr=0.005, test_size=1000),
    "full": dict(steps=1500, batch=64, lr=0.005, test_size=5000),
    "tiny": dict(steps=3, batch=8, lr=0.005, test_size=50),  # a smoke test: every code path, no learning
}


def parse_args(argv=None):
    parser = common.demo_parser(
        "quickstart",
        "A soft-attention model learns, from scratch, to read the letter after a marker; then it shows where it "
        "looks.", MODES, "attention.txt, the weights shown")
    common.add_show(parser, 3, "held-out examples to draw")
    return common.parse(parser, argv)


def headline(results):
    """The demo's key figure in one line, for the tour's summary: held-out accuracy against chance."""
    return (f"held-out accuracy {results['accuracy']:.1%} (chance {results['chance']:.1%}); "
            f"{results['answer_weight']:.0%} of the attention on the answer")


def main(argv=None):
    """Train, evaluate and draw the weights; returns a dict of results (accuracy, chance, loss, ...)."""
    args = parse_args(argv)
    mode, settings, (init_rng, train_rng, test_rng) = common.start(args, MODES, streams=3)
    parameters = init_parameters(init_rng, dim=16)
    held_out = make_examples(test_rng, settings["test_size"])

    print(f"Task: in {MIN_LENGTH} to {MAX_LENGTH} random letters, find the letter after the marker *.")
    print(f"There are {N_LETTERS} letters: a guess is right {1 / N_LETTERS:.1%} of the time.")
    predictions, weights, _, _ = evaluate(parameters, held_out)
    print("\nBefore training, the attention is spread out and the answer is a guess:")
    print(pictures(held_out, predictions, weights, 1)[0])

    print(f"\nTraining from scratch ({mode} mode, {settings['steps']} steps of {settings['batch']} sequences, "
          f"seed {args.seed}):")
    start = time.perf_counter()
    loss = train(parameters, train_rng, settings["steps"], settings["batch"], settings["lr"])
    seconds = time.perf_counter() - start

    predictions, weights, accuracy, answer_weight = evaluate(parameters, held_out)
    print(f"Trained in {seconds:.1f} s. Held-out accuracy: {accuracy:.1%} on {settings['test_size']} new "
          f"sequences;\non average {answer_weight:.1%} of the attention falls on the answer.")
    drawn = pictures(held_out, predictions, weights, args.show)
    print(f"\nAfter training, on {len(drawn)} held-out examples (each row of weights sums to 100%):")
    print("\n\n".join(drawn))

    os.makedirs(args.out, exist_ok=True)
    out_path = os.path.join(args.out, "attention.txt")
    with open(out_path, "w", encoding="utf-8") as file:
        file.write(f"quickstart, {mode} mode, seed {args.seed}, {settings['steps']} steps: "
                   f"held-out accuracy {accuracy:.1%}\n\n")
        file.write("\n\n".join(drawn) + "\n")
    print(f"\nThese weights are also in {out_path}")

    return {
        "accuracy": accuracy,
        "chance": 1 / N_LETTERS,
        "answer_weight": answer_weight,
        "loss": loss,
        "steps": settings["steps"],
        "seconds": seconds,
        "out": out_path,
    }


if __name__ == "__main__":
    main()
