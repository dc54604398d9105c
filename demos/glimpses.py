"""Glimpses: a recurrent attention model learns where to look for a digit in a larger canvas.

The task. A hand-written digit (the UCI digits, 8x8, upscaled to 16x16) sits at a random place in an empty 40x40
canvas; name it. The digit covers a sixth of the canvas, and the rest is blank. 1,297 images train (each at fresh
random places in every batch) and 500 other images are held out (each at one fixed place); chance is 10%.

Hard attention for images (docs/concepts.md, idea 5). The recurrent attention model (RAM; Mnih, Heess, Graves &
Kavukcuoglu, 2014) never sees the whole canvas. It takes T = 6 glimpses, one after the other, and each glimpse is
a small retina centred where it chose to look: a sharp 8x8 patch, a 16x16 patch averaged down to 8x8, and a 32x32
patch averaged down to 8x8 (``tinyattn.vision.glimpse``), so it reads fine detail at the centre and only a blur
around it. One step of the model, in words:

    glimpse at l_t          -> the retina's three 8x8 patches
    glimpse network         -> "what" (the patches, through a 128-unit layer) plus "where" (l_t, a 32-unit layer): g_t
    core GRU                -> h_{t+1} = GRU(g_t, h_t): what it has seen so far, and where
    location network        -> mu = tanh(W h_{t+1}); the next place l_{t+1} ~ Normal(mu, sigma^2), a draw
    baseline                -> b = value(h), the reward it expects from here
    after T glimpses        -> classifier(h_T): the digit

The first place is learned too, from h_0 = 0, so it is the same for every canvas. The hybrid loss
(``RamOutput.loss``) trains each part by the signal it can use. The classifier, the core and the glimpse network
learn by backpropagation from the cross-entropy. Where to look is a draw, with no gradient, so the location network
learns by REINFORCE: reward R = 1 if the answer is right, 0 if wrong, and each drawn place is made more likely in
proportion to R - b_t (it did better than expected) and less likely when R - b_t < 0. The baseline learns by
regression on R. So

    loss = cross_entropy - sum_t (R - b_t) log pi(l_t | h_t) + mean_t (R - b_t)^2

and the location and baseline networks read h detached: the noisy REINFORCE term trains them alone.

Three models see the same batches (Adam, learning rate 0.003 falling along a cosine to 0.0003; 128 canvases a
step; float32):

* the RAM with its learned location policy. Its sigma falls from 0.3 to 0.1 during training (6 pixels to 2; the
  locations are in [-1, 1] across 40 pixels): wide draws early explore the canvas, narrow ones late train the
  classifier on glimpses close to those it takes when evaluated, where it looks at mu itself, with no noise;
* the same RAM looking at uniformly random places, in training and when evaluated: what the policy is worth;
* an MLP on the whole canvas, 1600 -> 38 -> 10, with as many parameters as the RAM (61k). It sees everything but
  has to learn each digit anew at each of its 625 places, with no weights shared between places.

What to look at. glimpses.svg (in demo-output/glimpses/) draws six held-out canvases with the learned RAM's path:
numbered discs at the glimpse centres, joined in order, the sharp patch of each as a square, and the two coarse
patches of the first glimpse dashed. The first glimpse is the same everywhere (it has seen nothing yet); its coarse
patches cover most of the canvas, and from that blur the model picks its next places. curves.svg draws held-out
accuracy against the training step for the three models. The table's "glimpses on the digit" is the share of
glimpse centres that fall inside the digit's 16x16 square (16% for a uniformly random place; the first glimpse
lands there for about 4 canvases in 10, as the digit so often covers the centre).

What you should see (measured on a 2-core machine; ``python -m demos.glimpses --quick --seed S``, about 70 s each,
28-37 s of it per RAM):

    seed  learned RAM  random RAM    MLP   learned glimpses on the digit
       0        88.4%       75.0%  76.8%   46%
       1        83.0%       73.2%  75.4%   29%
       2        89.6%       78.2%  79.0%   52%

The learned policy beats random places by 10 to 13 points in each seed (6 to 13 points over seeds 0 to 4), and
the MLP by 8 to 12. Where it looks varies from seed to seed, and the picture shows it: with seeds 0 and 2 its
glimpses after the first go to the digit, about half of them inside its square; with seed 1 it found another
answer in 1,500 steps: whatever the canvas, it moves to much the same region, below and left of the centre, and
reads the digit from there with its coarse patches. Both beat random places, which waste most glimpses on blank
canvas (random places still do well, 73-78%: six of them, each with a 32x32 blur, see much of the canvas).
In full mode (5,000 steps, seed 0, about 4 minutes) all three improve and the order stays: learned RAM 96.4%,
random RAM 90.8%, MLP 86.0%, with 52% of the learned glimpses on the digit (51-58% of each glimpse after the first).

Run it::

    python -m demos.glimpses              # full mode: 5000 steps per model, about 4 minutes
    python -m demos.glimpses --quick      # the tour's mode: 1500 steps per model, about 70 s
    python -m demos.glimpses --tiny       # a smoke test: a second or two, meaningless results
    python -m demos.glimpses --seed 3 --show 9 --out /tmp/glimpses
"""
import html
import os
import time

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common
from tinyattn import viz
from tinyattn.nn import Linear, Module
from tinyattn.vision import RecurrentAttentionModel, glimpse_corners

# ----- the data: UCI digits, upscaled, each at a random place in an empty canvas -------------------------------------
DIGITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.npz")
DIGIT_SIZE, CANVAS_SIZE, UPSCALE = 16, 40, 2  # an 8x8 digit, upscaled 2x, somewhere in a 40x40 canvas
HELD_OUT = 500  # images kept for the held-out set; the other 1,297 train
N_CLASSES = 10


def load_digits(path=DIGITS_PATH):
    """The 1,797 UCI digits: images (N, 16, 16) float32 in [0, 1] (the 8x8 counts 0..16 divided by 16, each pixel
    upscaled to 2x2) and labels (N,) int64."""
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    scaled = images.astype(np.float32) / np.float32(16.0)  # (N, 8, 8) in [0, 1]
    upscaled = np.kron(scaled, np.ones((UPSCALE, UPSCALE), np.float32))  # (N, 8, 8) -> (N, 16, 16)
    return upscaled, labels.astype(np.int64)


def split_by_image(rng, count, held_out=HELD_OUT):
    """(training indices, held-out indices): a seeded permutation of range(count), the last `held_out` held out.
    Each image is in one set only, so no held-out digit is seen in training, whatever its position."""
    if not 0 < held_out < count:
        raise ValueError(f"split_by_image: need 0 < held_out < count; got held_out {held_out}, count {count}")
    order = rng.permutation(count)
    return np.sort(order[:-held_out]), np.sort(order[-held_out:])


def place(digits, positions, canvas_size=CANVAS_SIZE):
    """Each digit (B, h, w) pasted into an empty (B, canvas, canvas) float32 canvas with its top-left pixel at
    positions (B, 2) int (row, column)."""
    count, height, width = digits.shape
    canvases = np.zeros((count, canvas_size, canvas_size), np.float32)
    rows = positions[:, 0, None, None] + np.arange(height)[None, :, None]  # (B, h, 1)
    columns = positions[:, 1, None, None] + np.arange(width)[None, None, :]  # (B, 1, w)
    canvases[np.arange(count)[:, None, None], rows, columns] = digits
    return canvases


def random_positions(rng, count, canvas_size=CANVAS_SIZE, digit_size=DIGIT_SIZE):
    """(count, 2) top-left corners drawn uniformly among the places where the whole digit fits."""
    return rng.integers(0, canvas_size - digit_size + 1, size=(count, 2))


def make_canvases(rng, digits, labels):
    """(canvases (B, 40, 40), labels (B,), positions (B, 2)): the digits at uniformly random places."""
    positions = random_positions(rng, len(digits))
    return place(digits, positions), labels, positions


def make_batch(rng, digits, labels, size):
    """A training batch: `size` digits drawn with replacement, each at a fresh random place."""
    chosen = rng.integers(0, len(digits), size=size)
    return make_canvases(rng, digits[chosen], labels[chosen])


# ----- the three models ----------------------------------------------------------------------------------------------
class CanvasClassifier(Module):
    """The baseline that looks at everything at once: an MLP on the flattened canvas,
    logits = W2 relu(W1 x + b1) + b2, x (B, 40 * 40)."""

    def __init__(self, hidden, num_classes=N_CLASSES, canvas_size=CANVAS_SIZE, rng=None):
        super().__init__()
        self.hidden_layer = Linear(canvas_size * canvas_size, hidden, rng=rng)
        self.output = Linear(hidden, num_classes, rng=rng)

    def forward(self, canvases):
        flat = canvases.reshape(len(canvases), -1)  # (B, H, W) -> (B, H * W)
        return self.output(self.hidden_layer(flat).relu())


MODELS = ("RAM, learned locations", "RAM, random locations", "MLP on the whole canvas")
SHORT = dict(zip(MODELS, ("RAM learned", "RAM random", "MLP"), strict=True))  # for the headline


def build(name, settings, rng):
    """A fresh model `name` of MODELS from `settings`, its parameters drawn from `rng`."""
    if name == MODELS[2]:
        return CanvasClassifier(settings["mlp_hidden"], rng=rng)
    return RecurrentAttentionModel(
        N_CLASSES, glimpse_size=settings["glimpse_size"], scales=settings["scales"], glimpses=settings["glimpses"],
        glimpse_hidden=settings["glimpse_hidden"], location_hidden=settings["location_hidden"],
        hidden_size=settings["hidden"], location_std=settings["location_std"],
        policy="learned" if name == MODELS[0] else "random", rng=rng)


def count_parameters(model):
    return sum(parameter.data.size for parameter in model.parameters())


# Tuned on seeds 0-2 (and checked on 3-4) against the random RAM. What mattered: 128 canvases a step rather than 64
# (REINFORCE's estimate is noisy; with 64 a step, 3,000 steps, the learned policy lost to random places in 1 seed of
# 3), a wide sigma early (in 1,500 steps a fixed 0.1-0.2 gave smaller, less even margins; 0.3 falling to 0.1 the
# largest), and 128 units for the glimpse network's "what" (64: a few points less). In 1,000-step probes (seed 0),
# a policy learning rate 3-10x the others', a hidden layer in the location network, or REINFORCE training the core
# as well (h not detached) all did worse.
MODES = {
    "quick": dict(steps=1500, batch=128, lr=0.003, glimpses=6, glimpse_size=8, scales=3, glimpse_hidden=128,
                  location_hidden=32, hidden=64, location_std=0.3, final_location_std=0.1, mlp_hidden=38,
                  eval_every=100),
    "full": dict(steps=5000, batch=128, lr=0.003, glimpses=6, glimpse_size=8, scales=3, glimpse_hidden=128,
                 location_hidden=32, hidden=64, location_std=0.3, final_location_std=0.1, mlp_hidden=38,
                 eval_every=250),
    "tiny": dict(steps=3, batch=8, lr=0.003, glimpses=3, glimpse_size=8, scales=2, glimpse_hidden=16,
                 location_hidden=8, hidden=16, location_std=0.3, final_location_std=0.1, mlp_hidden=8, eval_every=2,
                 test_size=40),
}


# ----- training and evaluation ---------------------------------------------------------------------------------------
def training_loss(model, canvases, labels, rng):
    """The RAM's hybrid loss (cross-entropy + REINFORCE + baseline regression), or the MLP's cross-entropy."""
    if isinstance(model, CanvasClassifier):
        return F.cross_entropy(model(canvases), labels)
    total, _ = model(canvases, rng=rng).loss(labels)
    return total


def predict(model, canvases, rng):
    """(predicted labels (B,), glimpse locations (B, T, 2) or None) without a graph, in evaluation mode: the learned
    RAM looks at its policy's means, the random one at locations drawn from `rng`."""
    model.eval()
    with ta.no_grad():
        if isinstance(model, CanvasClassifier):
            predictions, locations = np.argmax(model(canvases).data, axis=-1), None
        else:
            looked = model(canvases, rng=rng)
            predictions, locations = np.argmax(looked.logits.data, axis=-1), looked.locations
    model.train()
    return predictions, locations


def on_digit(locations, positions, canvas_size=CANVAS_SIZE, digit_size=DIGIT_SIZE):
    """(B, T) bool: whether each glimpse's centre falls inside its digit's square."""
    centres = (locations + 1.0) / 2.0 * canvas_size  # (B, T, 2) pixels
    low = positions[:, None, :]
    return np.all((centres >= low) & (centres < low + digit_size), axis=-1)


def evaluate(model, held_out, seed):
    """(held-out accuracy, share of the canvases whose t-th glimpse is centred on the digit, for each t (a list;
    None for the MLP), predictions (B,), locations (B, T, 2) or None). The random RAM draws its locations from a
    generator seeded with `seed`, so that every evaluation of it sees the same draws."""
    canvases, labels, positions = held_out
    predictions, locations = predict(model, canvases, np.random.default_rng(seed))
    accuracy = float(np.mean(predictions == labels))
    looked = None if locations is None else np.mean(on_digit(locations, positions), axis=0).tolist()  # (T,)
    return accuracy, looked, predictions, locations


def location_std_at(step, settings):
    """The policy's sigma at training step 1..steps: from location_std down to final_location_std, linearly.
    Wide draws early explore the canvas; narrow ones late train the classifier on glimpses close to those the
    policy takes when evaluated (its means, without noise)."""
    progress = (step - 1) / max(settings["steps"] - 1, 1)
    return settings["location_std"] + progress * (settings["final_location_std"] - settings["location_std"])


FINAL_LR = 0.1  # the learning rate falls from lr to lr * FINAL_LR along a cosine


def train(model, settings, data_rng, draw_rng, train_set, held_out, eval_seed):
    """Adam on fresh batches from `data_rng` (draws of the RAM from `draw_rng`); the held-out accuracy before
    training and every eval_every steps. Returns (evaluated steps, accuracies, seconds spent training)."""
    optimizer = ta.optim.Adam(list(model.parameters()), lr=settings["lr"])
    schedule = ta.optim.CosineAnnealingLR(optimizer, T_max=settings["steps"], eta_min=settings["lr"] * FINAL_LR)
    curve_steps, curve, seconds = [0], [evaluate(model, held_out, eval_seed)[0]], 0.0
    for step in range(1, settings["steps"] + 1):
        start = time.perf_counter()
        if isinstance(model, RecurrentAttentionModel):
            model.location_std = location_std_at(step, settings)
        canvases, labels, _ = make_batch(data_rng, *train_set, settings["batch"])
        loss = training_loss(model, canvases, labels, draw_rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        seconds += time.perf_counter() - start
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            curve_steps.append(step)
            curve.append(evaluate(model, held_out, eval_seed)[0])
    return curve_steps, curve, seconds


# ----- the picture: where the learned RAM looked ---------------------------------------------------------------------
PIXEL = 5  # px per canvas pixel in the picture
GLIMPSE_COLOR, RIGHT_COLOR, WRONG_COLOR = "#d55e00", "#009e73", "#cc0000"


def glimpse_picture(canvases, labels, predictions, locations, glimpse_size, scales, title, columns=3):
    """An SVG of each canvas (B, H, W) (grey pixels, darker = more ink) with where the model looked, locations
    (B, T, 2): a numbered square around each glimpse's sharp patch, the coarser patches of the first glimpse dashed
    and faint, one <path class="glimpse-path"> joining the glimpse centres in order, and the prediction under the
    canvas (green when right, red when wrong). Squares are clipped to the canvas."""
    count, height, width = canvases.shape
    canvas_width, canvas_height = width * PIXEL, height * PIXEL
    gap, top, caption = 16, 62, 22
    columns = min(columns, count)
    rows = -(-count // columns)
    parts = [viz.svg_open(columns * canvas_width + (columns + 1) * gap, top + rows * (canvas_height + caption + gap)),
             f"<title>{html.escape(title)}</title>",
             f'<defs><clipPath id="glimpses-canvas"><rect width="{canvas_width}" height="{canvas_height}"/>'
             "</clipPath></defs>",
             f'<text x="{gap}" y="18" font-weight="bold">{html.escape(title)}</text>',
             f'<text x="{gap}" y="36" font-size="11" fill="#555555">glimpses numbered in order; solid squares: their '
             f"sharp {glimpse_size}x{glimpse_size} patches;</text>",
             f'<text x="{gap}" y="50" font-size="11" fill="#555555">'
             "dashed: the first glimpse's coarser scales, a blurred view of where the digit is</text>"]
    for index in range(count):
        left = gap + (index % columns) * (canvas_width + gap)
        upper = top + (index // columns) * (canvas_height + caption + gap)
        parts.append(f'<g class="example" transform="translate({left},{upper})">')
        parts.append(f'<rect width="{canvas_width}" height="{canvas_height}" fill="#ffffff" stroke="#999999"/>')
        for row, column in zip(*np.nonzero(canvases[index] > 0), strict=True):
            shade = round(255 * (1.0 - float(canvases[index, row, column])))
            parts.append(f'<rect class="pixel" x="{column * PIXEL}" y="{row * PIXEL}" width="{PIXEL}" '
                         f'height="{PIXEL}" fill="rgb({shade},{shade},{shade})"/>')
        corners = glimpse_corners(locations[index], (height, width), glimpse_size, scales) * PIXEL  # (T, S, 2) px
        centres = (locations[index] + 1.0) / 2.0 * np.array([canvas_height, canvas_width])  # (T, 2) px (row, col)
        parts.append('<g clip-path="url(#glimpses-canvas)">')
        for step in range(len(centres)):
            for scale in range(scales - 1 if step == 0 else 0, -1, -1):
                side = glimpse_size * 2**scale * PIXEL
                row, column = corners[step, scale]
                style = ' stroke-opacity="0.45" stroke-dasharray="5 4"' if scale else ' stroke-width="1.5"'
                parts.append(f'<rect class="glimpse" data-step="{step + 1}" data-scale="{scale}" x="{column}" '
                             f'y="{row}" width="{side}" height="{side}" fill="none" stroke="{GLIMPSE_COLOR}"{style}/>')
        parts.append("</g>")
        path = " ".join(f"{'M' if step == 0 else 'L'}{column:.1f} {row:.1f}"
                        for step, (row, column) in enumerate(centres))
        parts.append(f'<path class="glimpse-path" d="{path}" fill="none" stroke="{GLIMPSE_COLOR}" '
                     'stroke-opacity="0.8"/>')
        for step, (row, column) in enumerate(centres):
            parts.append(f'<circle cx="{column:.1f}" cy="{row:.1f}" r="6.5" fill="{GLIMPSE_COLOR}"/>'
                         f'<text x="{column:.1f}" y="{row + 3.5:.1f}" text-anchor="middle" fill="#ffffff" '
                         f'font-size="10">{step + 1}</text>')
        right = predictions[index] == labels[index]
        parts.append(f'<text class="prediction" x="0" y="{canvas_height + 16}" '
                     f'fill="{RIGHT_COLOR if right else WRONG_COLOR}">predicted {predictions[index]}, '
                     f'true {labels[index]}{"" if right else " (wrong)"}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


# ----- the report ----------------------------------------------------------------------------------------------------
def table(results):
    """The results as aligned text: one row per model."""
    header = ("model", "parameters", "held-out accuracy", "glimpses on the digit", "seconds")
    rows = [(name, f"{results['parameters'][name]:,}", f"{results['accuracy'][name]:.1%}",
             "-" if results["on_digit"][name] is None else f"{results['on_digit'][name]:.0%}",
             f"{results['seconds'][name]:.1f}") for name in MODELS]
    return common.text_table(header, rows)


def headline(results):
    """The key figure in one line: the held-out accuracy of each model."""
    accuracy = ", ".join(f"{SHORT[name]} {results['accuracy'][name]:.1%}" for name in MODELS)
    return f"held-out accuracy: {accuracy} (chance {results['chance']:.0%})"


# ----- the command line ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "glimpses",
        "A recurrent attention model (Mnih et al., 2014) classifies a digit placed at random in a 40x40 canvas from "
        "a few glimpses, learning where to look by REINFORCE; compared with the same model looking at random places "
        "and with an MLP on the whole canvas. --steps counts the steps of each model.",
        MODES, "glimpses.svg (where the learned RAM looked on held-out canvases) and curves.svg (held-out accuracy "
        "while training)")
    common.add_show(parser, 6, "held-out canvases drawn with the learned RAM's glimpses in glimpses.svg")
    return common.parse(parser, argv)


def main(argv=None):
    """Train the three models on the same batches; print the table, draw the glimpses and the curves; returns a dict
    of results (accuracy, on_digit, parameters, seconds, curves: one entry per model each; ...)."""
    args = parse_args(argv)
    mode, settings, (init_rng, data_rng, split_rng, test_rng, draw_rng) = common.start(args, MODES, streams=5)
    digits, labels = load_digits()
    train_indices, held_out_indices = split_by_image(split_rng, len(digits))
    held_out_indices = held_out_indices[:settings.get("test_size")]
    held_out = make_canvases(test_rng, digits[held_out_indices], labels[held_out_indices])
    train_set = (digits[train_indices], labels[train_indices])
    init_seed, data_seed, eval_seed = (int(rng.integers(2**63)) for rng in (init_rng, data_rng, test_rng))
    draw_rngs = dict(zip(MODELS, draw_rng.spawn(len(MODELS)), strict=True))

    print(f"Task: name the digit (UCI digits, 8x8 upscaled to {DIGIT_SIZE}x{DIGIT_SIZE}) placed at a random spot of an "
          f"empty {CANVAS_SIZE}x{CANVAS_SIZE} canvas; {len(train_indices)} training images, each at fresh places every "
          f"batch, and {len(held_out_indices)} other images held out, each at one fixed place.")
    print(f"{mode} mode, seed {args.seed}: {settings['steps']} steps of {settings['batch']} canvases per model, the "
          f"same batches for all, Adam at {settings['lr']} falling to {settings['lr'] * FINAL_LR:.2g}; the RAM takes "
          f"{settings['glimpses']} glimpses of {settings['glimpse_size']}x{settings['glimpse_size']} pixels at "
          f"{settings['scales']} scales, its location policy's sigma falling from {settings['location_std']} to "
          f"{settings['final_location_std']} while it trains.\n")
    results = {"mode": mode, "steps": settings["steps"], "chance": 1 / N_CLASSES, "accuracy": {}, "on_digit": {},
               "on_digit_by_glimpse": {}, "parameters": {}, "seconds": {}, "curves": {}}
    start = time.perf_counter()
    for name in MODELS:
        model = build(name, settings, np.random.default_rng(init_seed))
        curve_steps, curve, seconds = train(model, settings, np.random.default_rng(data_seed), draw_rngs[name],
                                            train_set, held_out, eval_seed)
        accuracy, looked, predictions, locations = evaluate(model, held_out, eval_seed)
        results["accuracy"][name], results["seconds"][name] = accuracy, seconds
        results["on_digit"][name] = None if looked is None else float(np.mean(looked))
        results["on_digit_by_glimpse"][name] = looked
        results["parameters"][name], results["curves"][name] = count_parameters(model), curve
        if name == MODELS[0]:
            shown = min(args.show, len(held_out_indices))
            picture = glimpse_picture(held_out[0][:shown], held_out[1][:shown], predictions[:shown],
                                      locations[:shown], settings["glimpse_size"], settings["scales"],
                                      f"Where the learned RAM looked ({mode} mode, seed {args.seed})")
        print(f"  {name:<24} held-out accuracy {accuracy:6.1%}   {seconds:5.1f} s", flush=True)
    results["curve_steps"] = curve_steps
    print(f"\n{table(results)}\n")
    print("Glimpses on the digit: the share of glimpse centres inside the digit's square, over all glimpses of the "
          f"held-out canvases (a uniformly random place: {(DIGIT_SIZE / CANVAS_SIZE) ** 2:.0%}). Glimpse by glimpse:")
    for name in MODELS[:2]:
        print(f"  {name:<24} " + "  ".join(f"{share:4.0%}" for share in results["on_digit_by_glimpse"][name]))

    results["out"] = str(viz.save(picture, os.path.join(args.out, "glimpses.svg")))
    results["chart"] = str(common.save_learning_curves(curve_steps, results["curves"], mode, args.seed,
                                                       os.path.join(args.out, "curves.svg")))
    results["total_seconds"] = time.perf_counter() - start
    print(f"Glimpse paths: {os.path.abspath(results['out'])}\nLearning curves: {os.path.abspath(results['chart'])}")
    return results


if __name__ == "__main__":
    main()
