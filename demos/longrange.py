"""Long range: a GRU and a small Transformer check a token against a key seen up to 200 steps earlier.

The task. A sequence of random filler digits holds exactly one key, a capital letter A to D, near its start; its
last token is a question, a small letter with a question mark: "was the key this letter?". The label is 1 when
it was and 0 when the question names one of the three other letters, half and half. The distance d from the key
to the question is drawn uniformly from 1 to 200, all in one data set; up to 8 fillers come before the key, so a
sequence holds d + 1 to d + 9 tokens, and batches are right-padded (mask: True = a real token)::

    5 0 C 3 8 8 1 6 2 ... 4 9 7 c?        label 1 (the key was C), d = 180
    2 A 9 d?                              label 0 (the key was A), d = 2

Everything but two tokens is noise, and nothing near the question gives the answer away: a model must carry the
key, or fetch it, across d positions.

The models, of similar size (16,178 and 17,826 parameters), train on the same batches in the same order:

* a GRU classifier: embeddings, a GRU over the real tokens (the mask makes it skip the padding), and a linear layer
  on its state after the question. To answer, the key must survive d updates of that state;
* a self-attention classifier (docs/concepts.md, idea 6): embeddings plus sinusoidal positions, two pre-norm
  Transformer encoder layers of two heads (the same mask hides the padding from every head), and a linear layer
  on the question's output. The question can compare itself with every position in one step, the key included.

Why distance matters, and where. For the GRU the key is d steps from the question, and so is the learning signal:
the gradient of the loss reaches the key's step only through every update in between, and each of them shrinks it
while the update gates are still half open, as they are at the start. The GRU must first find, from the few
examples whose key is near, that it should close its gates on fillers; until then it stays at 50%. For
self-attention every pair of positions is one step apart, whatever d is, so the gradient reaches the key directly
and all distances are learned together. The price is idea 2's: each head of each layer scores every pair of
positions, T^2 scores per sequence (40,000 at T = 200), where the GRU takes T steps, one after the other.

What it shows (measured on a shared 2-core machine). Quick mode, 200 steps of 32 examples, seeds 0 to 4:
attention gets 97.5-100% overall and at least 95.5% in every distance bucket; the GRU stays at chance, 44-57% in
every bucket, near keys included. So the gap is not a slope over distance: the GRU has not yet learned to keep the
key at all. It is able to: in full mode (800 steps, seed 0) it leaves its plateau between steps 200 and 300 and
ends at 100% in every bucket, like attention (which left its own shorter plateau before step 200). A gate that
keeps the key for 10 steps keeps it for 200, so once learned, distance no longer costs the GRU accuracy. What it
costs is training: in side runs (not part of the demo) the same GRU trained on distances 1 to 20 only learned them
in about 250 steps, and then answered 99-100% right on keys 151 to 200 tokens back, while trained on 1 to 200 at
the same learning rate (0.003) it needed about 800 steps. Per step the GRU is the cheaper model here, about 45-70 ms
against 75-115 ms for attention. Learning rates are each model's best in a short sweep on this task: GRU 0.003 to
0.05 (0.02 left the plateau first, after 250-350 steps over three seeds); attention 0.003 to 0.01, post-norm and
pre-norm (0.01 was sometimes faster but kept seed 1 at 72% for 200 steps; at 0.005, pre-norm layers left the
plateau after about 100 steps, post-norm ones after 150 to 200).

The pictures (in demo-output/longrange/), from the attention model:

* heads.svg: for the first held-out example whose key is 151 to 200 tokens back, the question's row of each head's
  weights, one strip per head, layers down, heads across (the full T x T grids of a 200-token example would hold
  160,000 cells). Look for a dark cell on the key, the capital letter. It is there in some runs (seed 0: one head
  of layer 1 puts 100% on it); in others the question puts next to nothing on the key itself and still answers
  right, because other positions fetched the key for it;
* heads-short.svg: every row of every head for a held-out example whose key is 12 to 20 tokens back, where you can
  see who looks at the key: the question directly, or in layer 1 other positions that take a copy for layer 2 to
  read (seed 0: most positions after the key, in one head; seed 2: the question and the "0" fillers);
* rollout.svg: the attention rollout (Abnar & Zuidema, 2020) of the question in the far example: how much of its
  output comes from each input position, through both layers and their residual connections, which follows the
  copies too. At least 25% is always the question's own (the two residual connections); look for the key to stand
  out against the fillers (seed 0: 16% on the key, about 0.4% on each filler);
* longrange.html: the far example's tokens shaded by that rollout, and the three pictures.

Run it::

    python -m demos.longrange              # full mode: 800 steps per model, about 2 minutes
    python -m demos.longrange --quick      # the tour's mode: 200 steps per model, 30-35 s
    python -m demos.longrange --tiny       # a smoke test: about a second, meaningless results
    python -m demos.longrange --seed 3 --out /tmp/longrange
"""
import html
import os
import time

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common
from tinyattn import viz
from tinyattn.attention import attention_rollout
from tinyattn.attention.positional import SinusoidalPositionalEncoding
from tinyattn.attention.transformer import TransformerEncoder, TransformerEncoderLayer
from tinyattn.nn import GRU, Embedding, Linear, Module

# ----- the data -----------------------------------------------------------------------------------------------
PAD = 0
FILLERS = tuple("0123456789")  # the noise every sequence is made of
KEYS = tuple("ABCD")  # exactly one of them appears in each sequence, before the question
QUESTIONS = tuple(f"{key.lower()}?" for key in KEYS)  # the last token: "was the key this letter?"
SYMBOLS = ("\u00b7", *FILLERS, *KEYS, *QUESTIONS)  # how each token id is shown; id 0 is padding
FIRST_FILLER, FIRST_KEY, FIRST_QUESTION = 1, 1 + len(FILLERS), 1 + len(FILLERS) + len(KEYS)
VOCAB_SIZE = len(SYMBOLS)
MAX_DISTANCE = 200  # distances 1..200 in every mode
MAX_LEAD = 8  # up to this many fillers before the key, so that the key's position is not always 0
BUCKETS = ((1, 10), (11, 50), (51, 100), (101, 150), (151, 200))  # the table's distance buckets, inclusive
CHANCE = 0.5  # labels are balanced
MODELS = ("GRU", "attention")

# Sizes and budgets per mode; both models train on the same batches, each with its own learning rate (see the
# module docstring for the sweep). per_bucket: held-out examples per distance bucket.
MODES = {
    "tiny": {"steps": 3, "batch": 4, "per_bucket": 4, "embed": 16, "hidden": 64, "d_model": 32, "heads": 2,
             "layers": 2, "feedforward": 64, "gru_lr": 0.02, "attention_lr": 0.005, "report_every": 1},
    "quick": {"steps": 200, "batch": 32, "per_bucket": 200, "embed": 16, "hidden": 64, "d_model": 32, "heads": 2,
              "layers": 2, "feedforward": 64, "gru_lr": 0.02, "attention_lr": 0.005, "report_every": 50},
    "full": {"steps": 800, "batch": 32, "per_bucket": 1000, "embed": 16, "hidden": 64, "d_model": 32, "heads": 2,
             "layers": 2, "feedforward": 64, "gru_lr": 0.02, "attention_lr": 0.005, "report_every": 100},
}
CLIP_NORM = 1.0


def make_examples(rng, size, distances=None):
    """`size` examples, right-padded to one length: 0 to MAX_LEAD fillers, the key, d - 1 fillers, the question.

    The distance d (the question's position minus the key's) is drawn uniformly from 1..MAX_DISTANCE unless
    `distances` (size,) gives it. Labels are exactly balanced (one more 0 for an odd size): 1 when the question
    names the key, 0 when it names one of the other keys. Returns a dict of arrays: tokens (B, T) int64, PAD after
    each sequence's end; mask (B, T) bool, True = a real token; labels, distances, key_positions, query_positions
    (B,) int64.
    """
    if distances is None:
        distances = rng.integers(1, MAX_DISTANCE + 1, size=size)
    distances = np.asarray(distances, dtype=np.int64)
    if distances.shape != (size,) or size < 1 or distances.min() < 1:
        raise ValueError(f"make_examples: need size >= 1 and `size` distances >= 1; got size {size}, distances of "
                         f"shape {distances.shape}")
    key_positions = rng.integers(0, MAX_LEAD + 1, size=size)  # the fillers before the key
    query_positions = key_positions + distances
    length = int(query_positions.max()) + 1
    tokens = rng.integers(FIRST_FILLER, FIRST_FILLER + len(FILLERS), size=(size, length))
    mask = np.arange(length)[None, :] <= query_positions[:, None]  # (B, T)
    tokens[~mask] = PAD
    keys = rng.integers(0, len(KEYS), size=size)
    labels = rng.permutation(np.arange(size) % 2)
    others = (keys + rng.integers(1, len(KEYS), size=size)) % len(KEYS)  # any key but the right one
    questions = np.where(labels == 1, keys, others)
    rows = np.arange(size)
    tokens[rows, key_positions] = FIRST_KEY + keys
    tokens[rows, query_positions] = FIRST_QUESTION + questions
    return {"tokens": tokens.astype(np.int64), "mask": mask, "labels": labels.astype(np.int64),
            "distances": distances, "key_positions": key_positions.astype(np.int64),
            "query_positions": query_positions.astype(np.int64)}


def stratified_distances(rng, per_bucket):
    """`per_bucket` distances drawn uniformly within each bucket of BUCKETS, bucket after bucket."""
    return np.concatenate([rng.integers(low, high + 1, size=per_bucket) for low, high in BUCKETS])


def bucket_label(low, high):
    return f"{low}-{high}"


def show(tokens):
    """The symbols of a row of token ids, padding left out."""
    return [SYMBOLS[token] for token in tokens if token != PAD]


# ----- the models ---------------------------------------------------------------------------------------------
class GRUClassifier(Module):
    """Embedding -> GRU over the real tokens -> its state after the last one (the question) -> 2 logits.
    forward(tokens (B, T), mask (B, T)) returns (logits (B, 2), None)."""

    def __init__(self, embed, hidden, rng):
        super().__init__()
        self.embedding = Embedding(VOCAB_SIZE, embed, padding_idx=PAD, rng=rng)
        self.gru = GRU(embed, hidden, batch_first=True, rng=rng)
        self.output = Linear(hidden, 2, rng=rng)

    def forward(self, tokens, mask, need_weights=False):
        _, last = self.gru(self.embedding(tokens), mask=mask)  # h_n (1, B, H): after each sequence's last token
        return self.output(last[0]), None  # (B, H) -> (B, 2)


class AttentionClassifier(Module):
    """Embedding + sinusoidal positions -> pre-norm Transformer encoder (padding hidden by the key mask) -> the
    question's output -> 2 logits. forward(tokens, mask, need_weights) returns (logits (B, 2), weights
    (L, B, H, T, T) or None)."""

    def __init__(self, d_model, heads, layers, feedforward, rng):
        super().__init__()
        self.embedding = Embedding(VOCAB_SIZE, d_model, padding_idx=PAD, rng=rng)
        self.positions = SinusoidalPositionalEncoding(d_model)
        self.encoder = TransformerEncoder(
            lambda: TransformerEncoderLayer(d_model, heads, feedforward, norm_first=True, rng=rng),
            num_layers=layers, final_norm=True)
        self.output = Linear(d_model, 2, rng=rng)

    def forward(self, tokens, mask, need_weights=False):
        h = self.positions(self.embedding(tokens))  # (B, T, D); padding: a zero embedding plus its position
        h = self.encoder(h, key_mask=mask, need_weights=need_weights)
        h, weights = h if need_weights else (h, None)
        questions = mask.sum(axis=1) - 1  # (B,): right padding puts each question at its length - 1
        return self.output(h[np.arange(len(questions)), questions]), weights  # (B, D) -> (B, 2)


def build_model(name, settings, rng):
    if name == "GRU":
        return GRUClassifier(settings["embed"], settings["hidden"], rng)
    if name == "attention":
        return AttentionClassifier(settings["d_model"], settings["heads"], settings["layers"],
                                   settings["feedforward"], rng)
    raise ValueError(f"unknown model {name!r}; expected one of {MODELS}")


def parameter_count(model):
    return sum(parameter.size for parameter in model.parameters())


# ----- training and evaluation ----------------------------------------------------------------------------------
def train(name, model, data_rng, steps, batch, lr, report_every):
    """Adam with gradient clipping and a cosine decay to lr / 10 on fresh random batches drawn from `data_rng`,
    each padded to its longest sequence; prints progress. Returns (last reported mean loss, seconds per step).

    Batches are not sorted by length: that would save about half the GRU's steps and two thirds of the attention
    scores spent on padding, but batches of similar distances kept the GRU at chance for all 800 steps of full mode
    (seed 0), where random batches let it learn between steps 200 and 300.
    """
    parameters = list(model.parameters())
    optimizer = ta.optim.Adam(parameters, lr=lr)
    schedule = ta.optim.CosineAnnealingLR(optimizer, steps, eta_min=lr / 10)
    start, losses, right = time.perf_counter(), [], 0
    last_loss = float("nan")
    for step in range(1, steps + 1):
        examples = make_examples(data_rng, batch)
        logits, _ = model(examples["tokens"], examples["mask"])
        loss = F.cross_entropy(logits, examples["labels"])
        optimizer.zero_grad()
        loss.backward()
        ta.optim.clip_grad_norm_(parameters, CLIP_NORM)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        right += int(np.sum(np.argmax(logits.data, axis=-1) == examples["labels"]))
        if step % report_every == 0 or step == steps:
            print(f"  {name:>9}  step {step:4d}/{steps}   loss {np.mean(losses):6.3f}   training accuracy "
                  f"{right / (len(losses) * batch):6.1%}   {time.perf_counter() - start:5.1f} s", flush=True)
            last_loss, losses, right = float(np.mean(losses)), [], 0
    return last_loss, (time.perf_counter() - start) / steps


def evaluate(model, examples, chunk=100):
    """Predictions (N,) of `model` on `examples` without a graph and, for the attention model, the largest weight
    any head of any layer puts on the key when the question attends (N,) (None for the GRU)."""
    predictions, on_key = [], []
    count = len(examples["labels"])
    for begin in range(0, count, chunk):
        rows = slice(begin, begin + chunk)
        length = int(examples["query_positions"][rows].max()) + 1  # cut the chunk's padding
        tokens, mask = examples["tokens"][rows, :length], examples["mask"][rows, :length]
        with ta.no_grad():
            logits, weights = model(tokens, mask, need_weights=True)
        predictions.append(np.argmax(logits.data, axis=-1))
        if weights is not None:  # (L, B, H, T, T)
            at = np.arange(len(tokens))
            question_on_key = weights.data[:, at, :, examples["query_positions"][rows], examples["key_positions"][rows]]
            on_key.append(question_on_key.max(axis=(1, 2)))  # advanced indices first: (B, L, H) -> (B,)
    return np.concatenate(predictions), (np.concatenate(on_key) if on_key else None)


def by_bucket(values, distances):
    """{bucket label: mean of `values` over the examples whose distance falls in it}, and 'all'."""
    table = {}
    for low, high in BUCKETS:
        inside = (distances >= low) & (distances <= high)
        table[bucket_label(low, high)] = float(np.mean(values[inside])) if inside.any() else float("nan")
    table["all"] = float(np.mean(values))
    return table


def print_table(accuracy, counts, parameters, milliseconds, on_key):
    """Accuracy by distance bucket for both models against chance, then their sizes and speeds."""
    print("\nHeld-out accuracy by distance from the key to the question:")
    print(f"  {'distance':>9} {'examples':>9} {'GRU':>9} {'attention':>10} {'chance':>7}   "
          "attention: top head's weight on the key")
    for label in accuracy["GRU"]:
        print(f"  {label:>9} {counts[label]:>9} {accuracy['GRU'][label]:>9.1%} {accuracy['attention'][label]:>10.1%} "
              f"{CHANCE:>7.0%}   {on_key[label]:>6.1%}")
    print(f"  {'parameters':>19} {parameters['GRU']:>9,} {parameters['attention']:>10,}")
    print(f"  {'ms per step':>19} {milliseconds['GRU']:>9.0f} {milliseconds['attention']:>10.0f}   "
          "(a step: one batch, forward, backward, update)")


# ----- pictures -----------------------------------------------------------------------------------------------
SHORT = (12, 20)  # the distances of the short example drawn in full (its sequence fits in a 30 x 30 grid per head)


def example_index(examples, low, high):
    """Index of the first held-out example whose distance lies in low..high (the closest one if none does)."""
    distances = examples["distances"]
    inside = np.flatnonzero((distances >= low) & (distances <= high))
    return int(inside[0]) if len(inside) else int(np.argmin(np.abs(distances - (low + high) / 2)))


def looked_at(model, examples, index, predictions):
    """The attention model's weights (L, H, T, T) on one held-out example run alone (no padding), its token
    labels, and one line about it."""
    length = int(examples["query_positions"][index]) + 1
    with ta.no_grad():
        _, weights = model(examples["tokens"][index:index + 1, :length], examples["mask"][index:index + 1, :length],
                           need_weights=True)
    labels = show(examples["tokens"][index, :length])
    key, label = int(examples["key_positions"][index]), int(examples["labels"][index])
    distance = length - 1 - key
    verdict = {name: ("right" if predictions[name][index] == label else "wrong") for name in MODELS}
    about = (f"key {labels[key]} at position {key}, question {labels[-1]} at {length - 1} (distance {distance}), "
             f"label {label}; attention {verdict['attention']}, GRU {verdict['GRU']}")
    return weights.data[:, 0], labels, about


def draw_pictures(model, examples, predictions, out):
    """The attention model's pictures (see the module docstring): for the first held-out example whose key is in
    the farthest bucket, the question's row of every head (heads.svg) and its rollout (rollout.svg); for a short
    example, every row of every head (heads-short.svg); and a page with all three and the far example's tokens
    shaded by the rollout (longrange.html). Returns (paths, a few figures of the far example)."""
    far = example_index(examples, *BUCKETS[-1])
    weights, labels, about = looked_at(model, examples, far, predictions)  # (L, H, T, T)
    question, key = len(labels) - 1, int(examples["key_positions"][far])
    rollout = attention_rollout(weights)[question]  # (T,): the question's row
    heads = viz.head_grid_svg(weights[:, :, question:, :], row_labels=[labels[question]], column_labels=labels,
                              cell_size=12, title=f"Where the question looks, per head: {about}")
    strip = viz.heatmap_svg(rollout[None, :], row_labels=[labels[question]], column_labels=labels, cell_size=12,
                            vmax=None, title=f"Attention rollout of the question through both layers (darkest = "
                            f"its largest share, {rollout.max():.0%}): {about}")
    short_weights, short_labels, short_about = looked_at(model, examples, example_index(examples, *SHORT),
                                                         predictions)
    every_row = viz.head_grid_svg(short_weights, row_labels=short_labels, column_labels=short_labels, cell_size=12,
                                  title=f"Every row of every head: {short_about}")
    page = viz.html_page([
        "<p>One held-out example whose key is far from the question, its tokens shaded by the attention rollout of "
        "the question (the last token): how much of the question's output comes from each position, through both "
        "layers and their residual connections (darkest: the largest share; at least 25% is the question's own, "
        "through the two residual connections). Then the question's weights in each head of each layer (one row per "
        "head), the same rollout as a heatmap, and, for a short example, every row of every head: there you can see "
        "whether the key reaches the question directly or through other positions that copied it in layer 1. Hover "
        "over a token or a cell to read its value.</p>",
        f"<p>{html.escape(about)}</p>", viz.highlight_tokens(labels, rollout, vmax=None), heads, strip, every_row])
    paths = [viz.save(heads, os.path.join(out, "heads.svg")), viz.save(strip, os.path.join(out, "rollout.svg")),
             viz.save(every_row, os.path.join(out, "heads-short.svg")),
             viz.save(page, os.path.join(out, "longrange.html"))]
    figures = {"index": far, "distance": question - key, "length": len(labels), "key_position": key,
               "rollout_on_key": float(rollout[key]), "rollout_on_question": float(rollout[question]),
               "head_weights_on_key": weights[:, :, question, key].tolist(), "about": about,
               "short_length": len(short_labels)}
    return paths, figures


# ----- the command line -----------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "longrange",
        "A GRU and a small Transformer encoder learn whether the last token of a sequence names the key token seen "
        "1 to 200 positions earlier; prints accuracy by distance and time per step, and draws where the "
        "Transformer's question looks (per head, and its attention rollout). --steps counts the steps of each model.",
        MODES, "heads.svg, rollout.svg, heads-short.svg and longrange.html")
    return common.parse(parser, argv)


def headline(results):
    """The demo's key figure in one line, for the tour's summary: accuracy of both models on the farthest keys."""
    far = bucket_label(*BUCKETS[-1])
    accuracy = results["accuracy_by_distance"]
    return (f"far ({far}): attention {accuracy['attention'][far]:.0%} vs GRU {accuracy['GRU'][far]:.0%} "
            f"(chance {CHANCE:.0%}), after {results['steps']} steps each")


def main(argv=None):
    """Train both models on the same batches, print their accuracy by distance, draw the attention model on one far
    example; returns a dict of results."""
    args = parse_args(argv)
    mode, settings, (data_rng, test_rng, gru_rng, attention_rng) = common.start(args, MODES, streams=4)
    data_seed = int(data_rng.integers(2**63))  # both models train on the same batches, in the same order
    held_out = make_examples(test_rng, settings["per_bucket"] * len(BUCKETS),
                             stratified_distances(test_rng, settings["per_bucket"]))
    distances = held_out["distances"]

    print("Task: random digits hold one key (A-D); the last token asks whether the key was a given letter. The key "
          f"is 1 to {MAX_DISTANCE} tokens back, for example:")
    for index in (int(np.argmin(distances)), example_index(held_out, *BUCKETS[-1])):
        labels = show(held_out["tokens"][index])
        text = " ".join(labels) if len(labels) <= 24 else " ".join(labels[:12] + ["..."] + labels[-6:])
        print(f"  {text}   -> label {held_out['labels'][index]}, distance {distances[index]}")
    print(f"\n{mode} mode, seed {args.seed}: {settings['steps']} steps of {settings['batch']} examples per model, "
          f"the same batches for both; {len(distances)} held-out examples, {settings['per_bucket']} per bucket.")

    models, parameters, milliseconds, losses, predictions, accuracy = {}, {}, {}, {}, {}, {}
    on_key = None
    start = time.perf_counter()
    for name, rng in zip(MODELS, (gru_rng, attention_rng), strict=True):
        model = build_model(name, settings, rng)
        models[name], parameters[name] = model, parameter_count(model)
        lr = settings[f"{'gru' if name == 'GRU' else 'attention'}_lr"]
        print(f"\nTraining the {name} classifier ({parameters[name]:,} parameters, learning rate {lr}):")
        losses[name], seconds_per_step = train(name, model, np.random.default_rng(data_seed), settings["steps"],
                                               settings["batch"], lr, settings["report_every"])
        milliseconds[name] = 1000 * seconds_per_step
        predictions[name], weights_on_key = evaluate(model, held_out)
        accuracy[name] = by_bucket(predictions[name] == held_out["labels"], distances)
        if weights_on_key is not None:
            on_key = by_bucket(weights_on_key, distances)
    counts = {bucket_label(low, high): int(np.sum((distances >= low) & (distances <= high))) for low, high in BUCKETS}
    counts["all"] = len(distances)
    print_table(accuracy, counts, parameters, milliseconds, on_key)
    if max(accuracy["GRU"].values()) < 0.6:
        print(f"The GRU is near chance at every distance, near keys included: after {settings['steps']} steps it "
              "has not yet learned to keep the key (given more steps it does; see the module docstring).")

    paths, example = draw_pictures(models["attention"], held_out, predictions, args.out)
    heads = "  ".join(f"layer {layer + 1}: " + ", ".join(f"{weight:.0%}" for weight in row)
                      for layer, row in enumerate(example["head_weights_on_key"]))
    print(f"\nOne far held-out example: {example['about']}.")
    print(f"  the question's weight on the key, per head: {heads}")
    print(f"  its attention rollout: {example['rollout_on_key']:.0%} from the key, "
          f"{example['rollout_on_question']:.0%} from the question itself, the rest from the "
          f"{example['length'] - 2} fillers")
    print(f"Pictures: {', '.join(os.path.abspath(path) for path in paths[:3])}; all on one page: "
          f"{os.path.abspath(paths[3])}")

    return {
        "mode": mode,
        "steps": settings["steps"],
        "batch": settings["batch"],
        "accuracy_by_distance": accuracy,
        "accuracy": {name: table["all"] for name, table in accuracy.items()},
        "top_head_on_key": on_key,
        "chance": CHANCE,
        "counts": counts,
        "parameters": parameters,
        "ms_per_step": milliseconds,
        "loss": losses,
        "seconds": time.perf_counter() - start,
        "example": example,
        "files": [str(path) for path in paths],
    }


if __name__ == "__main__":
    main()
