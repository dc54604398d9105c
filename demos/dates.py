"""Dates: a seq2seq model learns to write dates in ISO form, with and without attention.

The task. One to three dates, each written one of 24 human ways, go in character by character; their ISO forms
come out, in order, separated by a space::

    Tuesday, 3rd of March 1998                       ->  1998-03-03
    03/03/98 and 4 MAY 2001                          ->  1998-03-03 2001-05-04
    03/03/98, 1999-01-02 and jan 5 2011              ->  1998-03-03 1999-01-02 2011-01-05

(the data, generated with ``datetime``, are described in demos/dates_data.py). Inputs are 6 to about 110
characters long, answers 10, 21 or 32 characters; one, two and three dates are equally likely, so the longer the
input, the more it says: its content grows with its length, as a sentence's does.

Models: one encoder each (a bidirectional GRU over the characters, tinyattn.attention.seq2seq) and a decoder that
writes the answer one character at a time (docs/concepts.md, idea 3):

* no attention: the decoder sees only the encoder's final vector, which must hold the whole input;
* Bahdanau attention (Bahdanau, Cho & Bengio, 2014): before each output character the decoder compares its previous
  state with every encoder state (additive score), and reads their weighted sum, the context;
* Luong attention (Luong, Pham & Manning, 2015): the same idea after the GRU step, with a bilinear ("general")
  score over all positions ("global"); in full mode also "local-p", which predicts one position and attends only
  to a window around it.

What to expect. Without attention, the encoder must squeeze every date of the input into one fixed vector (96
numbers) before the decoder writes anything, and then the decoder must unpack them from it in order. One date fits;
three dates (24 digits, in any of 24 formats each) crowd it, and accuracy falls with the input's length, as Cho et
al. (2014) saw on sentences: in quick mode (seeds 0 to 4) from 55-78% on the shortest inputs to 0-2% on the
longest. With attention nothing has to be squeezed: before each character it writes, the decoder looks back at the
encoder's states and reads the characters it needs, wherever they are, so long inputs are hardly harder than short
ones: in quick mode Bahdanau attention gets 98-100% overall and at least 96% at every length, Luong attention
93-99% overall and at least 88% at every length, with no fall on the longest inputs. In full mode the decoder without
attention goes from about 95% on the shortest inputs to 0% on the longest, while Bahdanau and global Luong attention
get 99-100% at every length. Local-p must learn where to put its window before it can read anything there, and
learns much slower than global attention: in full mode it gets about 82%, from 99% on one short date down to about
58% on the longest inputs (its window still lands in the wrong place on them).

Each output step of an attention model has one weight per input character: where it looked to write that character.
The demo draws these alignments as heatmaps (rows: the characters written; columns: the characters read); a
trained model looks at the year's digits when it writes the year, at the month name when it writes the month, and
so on, in whatever order the input has them, and moves on to the next date when it has written one.

Run it::

    python -m demos.dates              # full mode: four models, 1200 steps each, about 10 minutes
    python -m demos.dates --quick      # the tour's mode: three models, 500 steps each, about 3 minutes
    python -m demos.dates --tiny       # a smoke test: a few seconds, meaningless results
    python -m demos.dates --seed 3 --out /tmp/dates
"""
import os
import time

import numpy as np

import tinyattn as ta
from demos import common
from demos import dates_data as data
from tinyattn import viz
from tinyattn.attention import BahdanauDecoder, LuongDecoder, PlainDecoder, Seq2Seq, Seq2SeqEncoder

# Exact-match accuracy is reported per input length: (label, shortest, longest).
BUCKETS = (("<=15", 0, 15), ("16-30", 16, 30), ("31-45", 31, 45), ("46-60", 46, 60), ("61+", 61, 10**6))
# The longest answer: three ISO dates of ten characters, the two spaces between them and the end.
TARGET_LENGTH = max(data.COUNTS) * (data.DATE_LENGTH + 1)

# Sizes and budgets per mode. embed/hidden: character embeddings and GRU states (the encoder's is 2 * hidden).
MODES = {
    "tiny": {"steps": 3, "batch": 8, "embed": 8, "hidden": 8, "lr": 0.003, "test_size": 40, "report_every": 1,
             "show": 2, "models": ("no attention", "Bahdanau", "Luong", "Luong local-p")},
    "quick": {"steps": 500, "batch": 64, "embed": 32, "hidden": 48, "lr": 0.02, "test_size": 1000,
              "report_every": 100, "show": 3, "models": ("no attention", "Bahdanau", "Luong")},
    "full": {"steps": 1200, "batch": 64, "embed": 32, "hidden": 48, "lr": 0.02, "test_size": 2000,
             "report_every": 200, "show": 4, "models": ("no attention", "Bahdanau", "Luong", "Luong local-p")},
}
MODELS = ("no attention", "Bahdanau", "Luong", "Luong local-p")  # MODES say which ones each mode trains
LOCAL_WINDOW = 10  # local-p attends to 2 * 10 + 1 characters around the position it predicts (a date is 6 to 37)
# Why these sizes and rates (quick mode, seeds 0-4, python -m demos.dates --quick --seed N). With GRU states of 32,
# Bahdanau attention sometimes never found the alignment of the second and third dates (seed 3: 33%, even after
# 1200 steps) and Luong attention at lr 0.02 often did not (28-82%); with states of 48, Bahdanau got 98-100% and
# Luong at half the learning rate 94-99%. Luong at the full rate stayed at 48-54% even with states of 48. Local-p's
# position predictor also trains badly at 0.02 (full mode, states of 32: 43% exact match, 78% at 0.01).
LEARNING_RATE_SCALE = {"Luong": 0.5, "Luong local-p": 0.5}


# ----- the models -----------------------------------------------------------------------------------------
def build_model(kind, settings, rng):
    """A Seq2Seq with a bidirectional GRU encoder and the decoder `kind` (one of MODELS), float32."""
    embed, hidden = settings["embed"], settings["hidden"]
    encoder = Seq2SeqEncoder(len(data.SOURCE), embed, hidden, padding_idx=data.SOURCE.pad_id, rng=rng)
    sizes = (len(data.TARGET), embed, hidden, encoder.output_size)
    if kind == "no attention":
        decoder = PlainDecoder(*sizes, rng=rng)
    elif kind == "Bahdanau":
        decoder = BahdanauDecoder(*sizes, rng=rng)
    elif kind == "Luong":
        decoder = LuongDecoder(*sizes, score="general", attention="global", rng=rng)
    elif kind == "Luong local-p":
        decoder = LuongDecoder(*sizes, score="general", attention="local-p", window=LOCAL_WINDOW, rng=rng)
    else:
        raise ValueError(f"unknown model {kind!r}; expected one of {MODELS}")
    return Seq2Seq(encoder, decoder, bos_id=data.TARGET.bos_id, eos_id=data.TARGET.eos_id, pad_id=data.TARGET.pad_id)


# ----- training ---------------------------------------------------------------------------------------------
def training_batches(rng, batch, held_out_texts, pool=8):
    """Endless padded batches of fresh examples; texts of the held-out set are never trained on.

    Examples are drawn `pool` batches at a time, sorted by length and cut into batches of similar lengths, which
    are then served in random order: a batch is padded to its own longest text, so sorting saves the encoder
    most of the steps it would spend on padding (about half of them with random batches).
    """
    while True:
        examples = [example for example in data.make_dates(rng, pool * batch + 64) if example[0] not in held_out_texts]
        examples = sorted(examples[:pool * batch], key=lambda example: len(example[0]))
        for start in rng.permutation(pool) * batch:
            yield data.encode_batch(examples[start:start + batch])


def train(name, model, batches, settings):
    """Adam with gradient clipping and a cosine-decayed learning rate; prints progress. Returns the last loss."""
    parameters = list(model.parameters())
    optimizer = ta.optim.Adam(parameters, lr=settings["lr"])
    schedule = ta.optim.CosineAnnealingLR(optimizer, settings["steps"], eta_min=settings["lr"] / 10)
    start, losses = time.perf_counter(), []
    for step in range(1, settings["steps"] + 1):
        source_ids, source_mask, target_ids = next(batches)
        loss = model.loss(source_ids, source_mask, target_ids)
        optimizer.zero_grad()
        loss.backward()
        ta.optim.clip_grad_norm_(parameters, max_norm=1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % settings["report_every"] == 0 or step == settings["steps"]:
            recent = np.mean(losses[-settings["report_every"]:])
            print(f"  {name:>12}  step {step:5d}/{settings['steps']}   loss {recent:7.4f}   "
                  f"{time.perf_counter() - start:6.1f} s", flush=True)
    return losses[-1]


# ----- evaluation -------------------------------------------------------------------------------------------
def bucket_of(length):
    return next(label for label, shortest, longest in BUCKETS if shortest <= length <= longest)


def predict(model, examples, chunk=250):
    """Greedy decoding of the examples: (answers, alignments), one per example. An answer is the text written up
    to the end symbol; an alignment is (symbols written, end included, and their weights (L, S)), or None for the
    model without attention."""
    # Sorting by length keeps padding, and so the encoder's work, small within each chunk.
    order = sorted(range(len(examples)), key=lambda index: len(examples[index][0]))
    answers, alignments = [None] * len(examples), [None] * len(examples)
    names = {data.TARGET.eos_id: "</s>", data.TARGET.bos_id: "<s>", data.TARGET.pad_id: "<pad>"}
    for begin in range(0, len(order), chunk):
        rows = order[begin:begin + chunk]
        source_ids, source_mask, _ = data.encode_batch([examples[row] for row in rows])
        ids, weights = model.greedy(source_ids, source_mask, max_length=TARGET_LENGTH)
        for position, row in enumerate(rows):
            answers[row] = data.TARGET.decode(ids[position])
            if weights is not None:
                written = []
                for index in ids[position]:
                    if index == data.TARGET.pad_id:  # greedy pads the rows that ended early
                        break
                    written.append(names.get(int(index), data.TARGET.symbols[index]))
                    if index == data.TARGET.eos_id:
                        break
                alignments[row] = (written, weights[position, :len(written)])
    return answers, alignments


def accuracy_by_length(examples, answers):
    """{bucket label: exact-match accuracy}, and 'all'."""
    hits = {label: [] for label, _, _ in BUCKETS}
    for (text, iso, _), answer in zip(examples, answers, strict=True):
        hits[bucket_of(len(text))].append(answer == iso)
    table = {label: float(np.mean(found)) if found else float("nan") for label, found in hits.items()}
    table["all"] = float(np.mean([answer == iso for (_, iso, _), answer in zip(examples, answers, strict=True)]))
    return table


def weakest_formats(examples, answers, count=3):
    """Up to `count` formats with mistakes, lowest exact-match accuracy first, as [(template, accuracy)]; an
    example counts once for each format it uses (a wrong answer counts against all of them)."""
    hits = {}
    for (_, iso, layout), answer in zip(examples, answers, strict=True):
        for template in set(layout.templates):
            hits.setdefault(template, []).append(answer == iso)
    accuracies = [(template, float(np.mean(found))) for template, found in hits.items()]
    return sorted((pair for pair in accuracies if pair[1] < 1.0), key=lambda pair: pair[1])[:count]


def print_table(examples, accuracies):
    """One row per length bucket, one column per model."""
    counts = {label: 0 for label, _, _ in BUCKETS}
    for text, _, _ in examples:
        counts[bucket_of(len(text))] += 1
    counts["all"] = len(examples)
    names = list(accuracies)
    print("\nExact-match accuracy on held-out examples (greedy decoding), by input length in characters:")
    print(f"  {'length':>8} {'count':>6} " + " ".join(f"{name:>13}" for name in names))
    for label in list(counts):
        cells = " ".join(f"{accuracies[name][label]:>13.1%}" for name in names)
        print(f"  {label:>8} {counts[label]:>6} {cells}")
    return counts


# ----- pictures ---------------------------------------------------------------------------------------------
def shown_examples(examples, count):
    """Indices of `count` held-out examples of growing length (the first of each spread-out length bucket)."""
    wanted = [BUCKETS[round(i * (len(BUCKETS) - 1) / max(count - 1, 1))][0] for i in range(count)]
    chosen = []
    for label in wanted:
        index = next((i for i, (text, _, _) in enumerate(examples)
                      if bucket_of(len(text)) == label and i not in chosen), None)
        if index is not None:
            chosen.append(index)
    return chosen or [0]


def terminal_example(examples, widest=30):
    """Index of the example drawn in the terminal: the first with two dates that fits `widest` columns (about 30
    fit an 80-column terminal), else the shortest one."""
    fitting = (i for i, (text, _, layout) in enumerate(examples) if len(layout.templates) == 2 and len(text) <= widest)
    return next(fitting, min(range(len(examples)), key=lambda i: len(examples[i][0])))


def alignment_picture(name, example, answer, alignment):
    """(title, weights (L, S) over the real characters, row labels, column labels) of one model on one example."""
    text, iso, _ = example
    row_labels, weights = alignment  # (L, S): one row per symbol written
    weights = weights[:, :len(text)]  # the real characters only
    column_labels = ["\u2423" if character == " " else character for character in text]  # a visible space
    verdict = "right" if answer == iso else f"wrong, the answer is {iso}"
    return f"{name}: '{text}' -> '{answer}' ({verdict})", weights, row_labels, column_labels


def draw_alignments(examples, predictions, indices, out, terminal_index):
    """SVG heatmaps of the attention models' alignments for examples[indices], and one HTML page with all of
    them. Returns (paths of the SVG files, path of the page, a terminal picture of the first model's alignment
    on examples[terminal_index])."""
    paths, fragments = [], []
    for number, index in enumerate(indices, start=1):
        for name, (answers, alignments) in predictions.items():
            title, weights, row_labels, column_labels = alignment_picture(name, examples[index], answers[index],
                                                                          alignments[index])
            svg = viz.heatmap_svg(weights, row_labels=row_labels, column_labels=column_labels, title=title)
            slug = name.lower().replace(" ", "-")
            paths.append(viz.save(svg, os.path.join(out, f"alignment-{number}-{slug}.svg")))
            fragments.append(svg)
    page = viz.save(viz.html_page(fragments, title="tinyattn dates demo: where the decoders look"),
                    os.path.join(out, "alignments.html"))
    terminal = ""
    for name, (answers, alignments) in list(predictions.items())[:1]:  # the first model
        title, weights, row_labels, column_labels = alignment_picture(
            name, examples[terminal_index], answers[terminal_index], alignments[terminal_index])
        terminal = f"{title}\n" + viz.heatmap_text(weights, row_labels=row_labels, column_labels=column_labels)
    return paths, page, terminal


# ----- the command line -------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "dates",
        "Seq2seq models learn to write one to three dates ('Tuesday, 3rd of March 1998 and 04/05/01', ...) in ISO "
        "form ('1998-03-03 2001-05-04'): without attention, with Bahdanau attention and with Luong attention. "
        "Prints the accuracy by input length and draws where the attention models look (full mode trains Luong "
        "local-p too). --steps counts the steps of each model.",
        MODES, "the alignment pictures")
    return common.parse(parser, argv)


def headline(results):
    """The demo's key figure in one line, for the tour's summary: each model's exact-match accuracy."""
    return "exact match: " + ", ".join(f"{name} {accuracy:.1%}" for name, accuracy in results["accuracy"].items())


def main(argv=None):
    """Train the models, print their accuracy by input length, draw their alignments; returns a dict of results."""
    args = parse_args(argv)
    # One generator per job, so that a model's initial parameters do not depend on the mode's list of models.
    mode, settings, (data_rng, test_rng, *model_rngs) = common.start(args, MODES, streams=2 + len(MODELS))
    train_seed = int(data_rng.integers(2**63))
    held_out = data.make_dates(test_rng, settings["test_size"])
    held_out_texts = {text for text, _, _ in held_out}

    print("Task: write dates given in many human formats in ISO form, for example:")
    for number in data.COUNTS:  # one example of each number of dates
        for text, iso, _ in [example for example in held_out if len(example[2].templates) == number][:1]:
            print(f"  {text!r:>60}  ->  {iso}")
    print(f"\n{mode} mode, seed {args.seed}: {settings['steps']} steps of {settings['batch']} examples per model, "
          f"embeddings {settings['embed']}, GRU states {settings['hidden']} (encoder: 2 x {settings['hidden']}).")

    accuracies, predictions, weakest, losses, seconds = {}, {}, {}, {}, {}
    for name, model_rng in zip(MODELS, model_rngs, strict=True):
        if name not in settings["models"]:
            continue
        model = build_model(name, settings, model_rng)
        # Every model sees the same training dates, in the same order.
        batches = training_batches(np.random.default_rng(train_seed), settings["batch"], held_out_texts)
        print(f"\nTraining {name} ({sum(p.size for p in model.parameters())} parameters):")
        start = time.perf_counter()
        losses[name] = train(name, model, batches, dict(settings, lr=settings["lr"] * LEARNING_RATE_SCALE.get(name, 1)))
        seconds[name] = time.perf_counter() - start
        answers, alignments = predict(model, held_out)
        accuracies[name] = accuracy_by_length(held_out, answers)
        predictions[name] = (answers, alignments)
        weakest[name] = weakest_formats(held_out, answers)
        print(f"  {name}: {accuracies[name]['all']:.1%} exact match on {len(held_out)} held-out examples "
              f"({seconds[name]:.1f} s of training, {time.perf_counter() - start - seconds[name]:.1f} s to evaluate)")

    counts = print_table(held_out, accuracies)
    print("\nEach model's weakest formats (exact match per format):")
    for name, formats in weakest.items():
        listed = ", ".join(f"{template} {accuracy:.0%}" for template, accuracy in formats)
        print(f"  {name:>13}: {listed or 'every format 100%'}")

    drawn = {name: found for name, found in predictions.items() if found[1][0] is not None}  # attention only
    paths, page, terminal = draw_alignments(held_out, drawn, shown_examples(held_out, settings["show"]), args.out,
                                            terminal_example(held_out))
    print("\nWhere the decoder looked (rows: characters written; columns: characters read; darker = more weight):")
    print(terminal)
    print(f"\nAlignment heatmaps ({len(paths)} SVG files) are in {os.path.abspath(args.out)}; "
          f"all of them on one page: {os.path.abspath(page)}")

    return {
        "mode": mode,
        "models": list(accuracies),
        "accuracy": {name: table["all"] for name, table in accuracies.items()},
        "accuracy_by_length": accuracies,
        "counts": counts,
        "weakest_formats": weakest,
        "loss": losses,
        "steps": settings["steps"],
        "seconds": seconds,
        "pictures": [str(path) for path in paths],
        "page": str(page),
        "out": args.out,
    }


if __name__ == "__main__":
    main()
