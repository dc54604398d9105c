"""Pairs: a BiDAF reader answers a question about a passage by matching the two, word by word.

The task (demos/pairs_data.py). A generated passage of 2 to 6 facts, who did what, where or what, and when; a
question about one of them; the answer is a span of the passage, and a reader points at its first and last word::

    jack sold red apples in 1996 . in 1996 jack studied in the old town . frank studied in paris in 1996 .
    in 1996 frank sold small boats . frank sold a small boat in 1998 .
    what did frank sell in 1996 ?                                          ->  small boats

Every passage is built so that the question has to be matched against it: the asked fact has *twins* that share
two of its three keys (frank sold ... in 1998; frank studied ... in 1996; jack sold ... in 1996), so only the
name, the relation and the year together find it. Values share words ("a small boat", "small boats"), and the
year stands before or after the value. Picking the value of a random fact would be right about 29% of the time.

Two readers, the same but for how the passage meets the question. Both embed the words and run one bidirectional
GRU over the passage, c (B, T, 2H), and the same GRU over the question, q (B, J, 2H); then

* BiDAF (Seo, Kembhavi, Farhadi & Hajishirzi, 2017; ``tinyattn.attention.BiDAFAttention``): every passage
  position t scores every question word j, S_tj = w . [c_t; q_j; c_t * q_j], and reads the question through its
  own softmax over j, c~_t = sum_j a_tj q_j (context-to-query); one more softmax, over t of max_j S_tj, says which
  passage positions matter most to some question word (query-to-context, h~). G_t = [c_t; c~_t; c_t * c~_t;
  c_t * h~]: each position carries what it found in the question and how well it matches;
* pooled: the question squeezed into one vector, its mean state q_mean, put next to every position,
  G_t = [c_t; q_mean]. No passage-question attention: whether fact t is the one asked about is for the layers
  after it to work out.

Then, for both, a modelling BiGRU over G, M (B, T, 2H), and two pointers: start = log_softmax_t(w_s . [G_t; M_t]),
end likewise with w_e; the loss is the negative log-likelihood of the true start plus that of the true end. The
predicted span is the best (start, end) pair with start <= end < start + 5. Both readers see the same batches of
fresh examples (32 a step; Adam, learning rate 0.01 falling along a cosine to 0.001; gradients clipped at norm 5;
float32) and are scored on the same held-out questions. Exact match (EM) counts the span's positions, first and
last, both right; the start and end accuracies count each end alone.

What you should see (measured on a shared 2-core machine; ``python -m demos.pairs --quick --seed S``, 31-36 s
each, 15-16 s of it to train BiDAF and 12-15 s the pooled reader; exact match on 1,000 held-out questions):

    seed   BiDAF   pooled   pooled by number of facts: 2    3    4    5    6   pooled's wrong spans: wrong year
       0  100.0%    84.7%                             95%  82%  81%  81%  83%                        109 of 153
       1  100.0%    82.9%                             93%  85%  84%  76%  76%                        109 of 171
       2   98.8%    80.0%                             93%  84%  80%  72%  74%                        119 of 200

In curves.svg (exact match on 200 of the held-out questions, every 25 steps) BiDAF passes 90% by step 150 or
175; the pooled reader, on the same batches, is at 61-67% then and at 81-82% after 250 steps, still climbing. It
does worse on passages of more facts (93-95% with 2 facts, 72-83% with 5 or 6); BiDAF does not. The start and end
accuracies equal the exact match: neither reader misplaces an end of a value (the words around a value mark both
its ends); what goes wrong is the fact. The demo counts which: the pooled reader's wrong spans are nearly all in
twins, most often the twin with the wrong year, then the one with the wrong name, seldom the wrong relation. A
year is one of ten interchangeable words, before or after the value, and the pooled reader has to learn to compare
it, through its GRU's gates, with a year somewhere inside one averaged question vector; BiDAF compares word with
word. attention.svg shows it for one held-out question, each passage word's weights over the question words, the
answer's rows framed in green and BiDAF's span dashed inside them. With seed 0 ("what did frank sell in 1996 ?"),
every "1996" of the passage puts its weight on the question's "1996" while "1998" finds nothing to match and
spreads its weight thin; "frank" looks at "frank" and "jack" hardly does; "in" looks at "in". A passage word finds its
counterpart in the question, and the product c_t * c~_t tells the layers after it how well the two agree.

Is it the attention or the product? Give the pooled reader a product too, G_t = [c_t; q_mean; c_t * q_mean]
(``Reader("pooled-product", ...)``; add it to MODELS to run it): in quick mode it reaches 86.3%, 99.1% and 98.2%
(seeds 0, 1, 2). On these short questions, much of what BiDAF gains is a ready-made way to compare; attention, a
separate reading of the question for every word, adds the rest. With time the plain pooled reader learns to compare
too: in full mode (1,000 steps, seed 0, 137 s) BiDAF gets 100.0% and the pooled reader 98.4% (96.7% on the
6-fact passages), its 47 mistakes again mostly a twin with the wrong year (34).

Run it::

    python -m demos.pairs              # full mode: 1000 steps per reader, about 2.5 minutes
    python -m demos.pairs --quick      # the tour's mode: 250 steps per reader, about 35 s
    python -m demos.pairs --tiny       # a smoke test: two seconds, meaningless results
    python -m demos.pairs --seed 3 --out /tmp/pairs
"""
import html
import os
import time
import xml.etree.ElementTree as ElementTree
from typing import NamedTuple

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common
from demos import pairs_data as data
from tinyattn import viz
from tinyattn.attention import BiDAFAttention
from tinyattn.nn import GRU, Embedding, Linear, Module

MODES = {  # model sizes, training steps, examples per step, learning rate, evaluation
    "tiny": dict(embed=8, hidden=8, steps=3, batch=8, lr=0.01, eval_every=2, curve_size=10, test_size=30),
    "quick": dict(embed=24, hidden=24, steps=250, batch=32, lr=0.01, eval_every=25, curve_size=200, test_size=1000),
    "full": dict(embed=24, hidden=24, steps=1000, batch=32, lr=0.01, eval_every=50, curve_size=300, test_size=3000),
}
MODELS = {  # the readers, in the table's order: how each takes in the question (Reader's `question`)
    "BiDAF": "attention",
    "pooled": "pooled",
}
ATTENTION_READER = "BiDAF"  # the reader whose weights are drawn
MAX_SPAN = 5  # the longest answer the readers may predict, in words (the longest true one has 3)
FINAL_LR = 0.1  # the learning rate falls from lr to lr * FINAL_LR along a cosine
CLIP_NORM = 5.0
CHUNK = 250  # held-out examples per forward pass
SHOWN_FACTS = 4  # the example printed and drawn: the first held-out one with at least this many facts


# ----- the readers ---------------------------------------------------------------------------------------------------
class ReaderOutput(NamedTuple):
    """start, end (B, T): log-probabilities of each passage position being the answer's first and last word (-inf at
    padding); weights (B, T, J): BiDAF's context-to-query weights, or None for the pooled reader."""
    start: ta.Tensor
    end: ta.Tensor
    weights: ta.Tensor | None


QUESTION_WAYS = ("attention", "pooled", "pooled-product")


class Reader(Module):
    """A span reader: embeddings, one bidirectional GRU shared by passage and question, then the question's way in
    (`question`), a modelling BiGRU over the result and two pointers.

        c = BiGRU(passage) (B, T, 2H)          q = BiGRU(question) (B, J, 2H)
        "attention":  G = BiDAFAttention(c, q).output          (B, T, 8H)  each position reads the question
        "pooled":     G = [c_t; mean_j q_j]                    (B, T, 4H)  one question vector for every position
        "pooled-product": G = [c_t; q_mean; c_t * q_mean]    (B, T, 6H)  the same, with BiDAF's product to compare
        M = BiGRU(G) (B, T, 2H);   start = log_softmax_t(w_s . [G; M]),   end = log_softmax_t(w_e . [G; M])
    """

    def __init__(self, question, vocabulary_size, embed, hidden, rng):
        super().__init__()
        if question not in QUESTION_WAYS:
            raise ValueError(f"Reader: question must be one of {', '.join(QUESTION_WAYS)}; got {question!r}")
        self.question = question
        size = 2 * hidden  # a BiGRU state
        self.embedding = Embedding(vocabulary_size, embed, padding_idx=data.PAD, rng=rng)
        self.encoder = GRU(embed, hidden, batch_first=True, bidirectional=True, rng=rng)
        self.attention = BiDAFAttention(size, rng=rng) if question == "attention" else None
        merged = {"attention": 4, "pooled": 2, "pooled-product": 3}[question] * size
        self.modelling = GRU(merged, hidden, batch_first=True, bidirectional=True, rng=rng)
        self.start_pointer = Linear(merged + size, 1, rng=rng)
        self.end_pointer = Linear(merged + size, 1, rng=rng)

    def forward(self, passages, passage_mask, questions, question_mask):
        """``ReaderOutput`` for passages (B, T) and questions (B, J) of word ids, with their masks (True = a word)."""
        context, _ = self.encoder(self.embedding(passages), mask=passage_mask)  # (B, T, 2H)
        query, _ = self.encoder(self.embedding(questions), mask=question_mask)  # (B, J, 2H), zero at padding
        weights = None
        if self.attention is not None:
            attended = self.attention(context, query, passage_mask, question_mask)
            merged, weights = attended.output, attended.context_to_query  # (B, T, 8H), (B, T, J)
        else:
            counts = np.maximum(question_mask.sum(axis=1, keepdims=True), 1).astype(context.dtype)  # (B, 1)
            pooled = (query.sum(axis=1) / counts).expand_dims(1).broadcast_to(context.shape)  # (B, 2H) -> (B, T, 2H)
            parts = [context, pooled] + ([context * pooled] if self.question == "pooled-product" else [])
            merged = F.where(passage_mask[:, :, None], F.concatenate(parts, axis=2), 0.0)  # (B, T, 4H) or (B, T, 6H)
        modelled, _ = self.modelling(merged, mask=passage_mask)  # (B, T, 2H)
        both = F.concatenate([merged, modelled], axis=2)
        start = F.log_softmax(self.start_pointer(both)[..., 0], axis=-1, mask=passage_mask)  # (B, T)
        end = F.log_softmax(self.end_pointer(both)[..., 0], axis=-1, mask=passage_mask)
        return ReaderOutput(start, end, weights)


def count_parameters(model):
    return sum(parameter.size for parameter in model.parameters())


def best_spans(start, end, max_span=MAX_SPAN):
    """The most probable spans: (starts (B,), ends (B,)) maximising start[s] + end[e] over s <= e < s + max_span,
    for log-probabilities start, end (B, T) (-inf at padding: a padded position is never chosen while a real one
    is left). Not differentiable: it picks."""
    steps = start.shape[1]
    first, last = np.arange(steps)[:, None], np.arange(steps)[None, :]
    allowed = (last >= first) & (last < first + max_span)  # (T, T)
    scores = np.where(allowed, start[:, :, None] + end[:, None, :], -np.inf)  # (B, T, T)
    best = np.argmax(scores.reshape(len(start), -1), axis=1)
    return best // steps, best % steps


# ----- training and evaluation ---------------------------------------------------------------------------------------
def predict(model, examples, word_ids):
    """(starts (N,), ends (N,), each example's context-to-query weights cut to its (T_i, J_i), or None) without a
    graph, in chunks of CHUNK examples."""
    starts, ends, weights = [], [], []
    for begin in range(0, len(examples), CHUNK):
        part = examples[begin:begin + CHUNK]
        passages, passage_mask, questions, question_mask, _, _ = data.batch_arrays(part, word_ids)
        with ta.no_grad():
            read = model(passages, passage_mask, questions, question_mask)
        chunk_starts, chunk_ends = best_spans(read.start.data, read.end.data)
        starts.append(chunk_starts)
        ends.append(chunk_ends)
        for row, example in enumerate(part):
            weights.append(None if read.weights is None
                           else read.weights.data[row, :len(example.passage), :len(example.question)])
    return np.concatenate(starts), np.concatenate(ends), weights


def exact_match(model, examples, word_ids):
    """The share of `examples` whose predicted span is the answer's, start and end."""
    starts, ends, _ = predict(model, examples, word_ids)
    return scores(examples, starts, ends)["exact_match"]


def scores(examples, starts, ends):
    """{"exact_match", "start", "end", "count"}: the shares of right spans, right starts and right ends."""
    right_start = starts == np.array([example.start for example in examples])
    right_end = ends == np.array([example.end for example in examples])
    return {"exact_match": float(np.mean(right_start & right_end)), "start": float(np.mean(right_start)),
            "end": float(np.mean(right_end)), "count": len(examples)}


def scores_by_length(examples, starts, ends):
    """{number of facts: scores of the examples with that many}, and "all": the scores of every example."""
    facts = np.array([len(example.facts) for example in examples])
    table = {}
    for count in sorted(set(facts.tolist())):
        chosen = np.flatnonzero(facts == count)
        table[count] = scores([examples[i] for i in chosen], starts[chosen], ends[chosen])
    table["all"] = scores(examples, starts, ends)
    return table


MISTAKES = ("wrong year", "wrong relation", "wrong name", "other")  # what a wrong span's fact shares with the asked one
TWINS = {(True, True, False): "wrong year", (True, False, True): "wrong relation", (False, True, True): "wrong name"}


def mistakes(examples, starts, ends):
    """{kind: count} of the wrong spans by the fact the predicted start falls in, against the asked fact: a twin
    with the wrong year (same name and relation), the wrong relation, the wrong name, or "other" (a fact sharing
    fewer keys, or a span that is not exactly a value)."""
    counts = dict.fromkeys(MISTAKES, 0)
    for example, start, end in zip(examples, starts, ends, strict=True):
        if (start, end) == (example.start, example.end):
            continue
        fact = example.passage[:start].count(".")  # facts end with "."
        name, relation, year, value = example.facts[fact]
        asked = example.facts[example.asked]
        shared = (name == asked[0], relation == asked[1], year == asked[2])  # which keys it has in common
        whole_value = example.passage[start:end + 1] == value.split() and example.passage[:end + 1].count(".") == fact
        counts[TWINS.get(shared, "other") if whole_value else "other"] += 1
    return counts


def train(model, settings, data_rng, word_ids, curve_examples):
    """Adam (gradient norm clipped, learning rate falling along a cosine) on fresh batches from `data_rng`; the
    exact match on `curve_examples` before training and every eval_every steps. Returns (evaluated steps, exact
    matches, seconds spent training)."""
    optimizer = ta.optim.Adam(list(model.parameters()), lr=settings["lr"])
    schedule = ta.optim.CosineAnnealingLR(optimizer, T_max=settings["steps"], eta_min=settings["lr"] * FINAL_LR)
    curve_steps, curve, seconds = [0], [exact_match(model, curve_examples, word_ids)], 0.0
    for step in range(1, settings["steps"] + 1):
        began = time.perf_counter()
        passages, passage_mask, questions, question_mask, starts, ends = data.batch_arrays(
            data.make_examples(data_rng, settings["batch"]), word_ids)
        read = model(passages, passage_mask, questions, question_mask)
        loss = F.nll_loss(read.start, starts) + F.nll_loss(read.end, ends)
        optimizer.zero_grad()
        loss.backward()
        ta.optim.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        schedule.step()
        seconds += time.perf_counter() - began
        if step % settings["eval_every"] == 0 or step == settings["steps"]:
            curve_steps.append(step)
            curve.append(exact_match(model, curve_examples, word_ids))
    return curve_steps, curve, seconds


# ----- the picture: where each passage word looked in the question ---------------------------------------------------
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
ANSWER_COLOR, PREDICTED_COLOR, WRONG_COLOR = "#009e73", "#d55e00", "#cc0000"
NOTES_WIDTH = 230  # px right of the heatmap for the notes on the spans


def span_heatmap(weights, passage, question, answer, predicted, title):
    """An SVG of BiDAF's context-to-query weights (T, J) of one example, one row per passage word (its distribution
    over the question words, as ``viz.heatmap_svg`` draws it), with the true answer's rows framed
    (``<rect class="answer-span">``, solid) and the predicted span's (``<rect class="predicted-span">``, dashed,
    just inside), each named on the right. `answer` and `predicted` are (first, last) passage positions."""
    grid = viz.heatmap_svg(weights, row_labels=[f"{i} {word}" for i, word in enumerate(passage)],
                           column_labels=question, cell_size=18)
    drawn = ElementTree.fromstring(grid)  # where heatmap_svg put the cells, to frame rows of them
    cells = {(int(rect.get("data-row")), int(rect.get("data-column"))): rect
             for rect in drawn.iter(f"{{{SVG_NAMESPACE}}}rect") if rect.get("class") == "cell"}
    cell = float(cells[0, 0].get("width"))
    left, top = float(cells[0, 0].get("x")), float(cells[0, 0].get("y"))
    right = left + cell * len(question)

    right_prediction = tuple(predicted) == tuple(answer)
    frames = {  # name: ((first, last), colour, inset in px, dash)
        "answer-span": (answer, ANSWER_COLOR, 0.0, ""),
        "predicted-span": (predicted, PREDICTED_COLOR if right_prediction else WRONG_COLOR, 3.0,
                           ' stroke-dasharray="4 3"')}
    labels = {"answer-span": "answer: " + " ".join(passage[answer[0]:answer[1] + 1]),
              "predicted-span": "BiDAF's span: " + " ".join(passage[predicted[0]:predicted[1] + 1])
              + ("" if right_prediction else " (wrong)")}
    label_ys = {"answer-span": top + (answer[0] + 0.5) * cell, "predicted-span": top + (predicted[1] + 0.5) * cell}
    if abs(label_ys["predicted-span"] - label_ys["answer-span"]) < 14:  # they would overlap: one under the other
        label_ys["predicted-span"] = label_ys["answer-span"] + 14

    heading, subtitle = 44, "a row: one passage word's weights over the question words"
    width = max(float(drawn.get("width")), 16 + 7.5 * len(title), 16 + 6.7 * len(subtitle),
                *(right + 18 + 7.3 * len(label) for label in labels.values()))
    parts = [viz.svg_open(width, float(drawn.get("height")) + heading), f"<title>{html.escape(title)}</title>",
             f'<text x="8" y="18" font-weight="bold">{html.escape(title)}</text>',
             f'<text x="8" y="34" font-size="11" fill="#555555">{html.escape(subtitle)}</text>',
             f'<g transform="translate(0,{heading})">', grid]
    for name, ((first, last), color, inset, dash) in frames.items():
        parts.append(f'<rect class="{name}" data-first="{first}" data-last="{last}" x="{left + inset - 2:.1f}" '
                     f'y="{top + first * cell + inset - 1:.1f}" width="{right - left - 2 * inset + 4:.1f}" '
                     f'height="{(last - first + 1) * cell - 2 * inset + 2:.1f}" fill="none" stroke="{color}" '
                     f'stroke-width="2"{dash}/>')
        parts.append(f'<text class="{name}-label" x="{right + 10:.1f}" y="{label_ys[name]:.1f}" '
                     f'dominant-baseline="central" fill="{color}">{html.escape(labels[name])}</text>')
    parts += ["</g>", "</svg>"]
    return "\n".join(parts)


def marked_passage(passage, answer, predicted):
    """The passage as one line, the answer in [brackets] and the predicted span in {braces} (both when they agree:
    {[...]})."""
    words = list(passage)
    for (first, last), (opening, closing) in ((answer, "[]"), (predicted, "{}")):
        words[first] = opening + words[first]
        words[last] = words[last] + closing
    return " ".join(words)


# ----- the report ----------------------------------------------------------------------------------------------------
def table(results, examples):
    """The scores as aligned text: one row per number of facts (with its range of passage lengths in words) and one
    for all, the exact match, start and end accuracy of each reader."""
    lengths = {}
    for example in examples:
        lengths.setdefault(len(example.facts), []).append(len(example.passage))
    header = ["facts", "words", "examples"] + [f"{name} {what}" for name in MODELS for what in ("EM", "start", "end")]
    rows = []
    for key in results["by_length"][next(iter(MODELS))]:
        words = "" if key == "all" else f"{min(lengths[key])}-{max(lengths[key])}"
        row = [str(key), words, str(results["by_length"][next(iter(MODELS))][key]["count"])]
        for name in MODELS:
            found = results["by_length"][name][key]
            row += [f"{found['exact_match']:.1%}", f"{found['start']:.1%}", f"{found['end']:.1%}"]
        rows.append(row)
    return common.text_table(header, rows, first_left=False)


def headline(results):
    """The key figure in one line: each reader's exact match on the held-out questions."""
    figures = ", ".join(f"{name} {results['exact_match'][name]:.1%}" for name in MODELS)
    return f"exact match: {figures} (a random fact's value: {results['chance']:.1%})"


# ----- the command line ----------------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "pairs",
        "A BiDAF reader (Seo et al., 2017) learns to answer questions about generated passages of facts by pointing "
        "at the answer's first and last words; compared with the same reader given the question pooled into one "
        "vector, without passage-question attention. --steps counts the steps of each reader.",
        MODES, "attention.svg (BiDAF's context-to-query weights for one held-out question, the answer marked) and "
        "curves.svg (held-out exact match while training)")
    return common.parse(parser, argv)


def run_reader(name, settings, init_seed, data_seed, word_ids, held_out, curve_examples):
    """Build reader `name` from `init_seed`, train it on batches from `data_seed`, score it on `held_out`. Returns
    (its results: scores by length, mistakes, parameters, seconds, curve; curve steps; predicted (starts, ends);
    its weights per held-out example, or Nones)."""
    model = Reader(MODELS[name], len(word_ids), settings["embed"], settings["hidden"],
                   np.random.default_rng(init_seed))
    curve_steps, curve, seconds = train(model, settings, np.random.default_rng(data_seed), word_ids, curve_examples)
    starts, ends, weights = predict(model, held_out, word_ids)
    found = {"by_length": scores_by_length(held_out, starts, ends), "mistakes": mistakes(held_out, starts, ends),
             "parameters": count_parameters(model), "seconds": seconds, "curves": curve}
    return found, curve_steps, (starts, ends), weights


def main(argv=None):
    """Train the two readers on the same batches; print the scores by passage length and one example, draw BiDAF's
    weights for it and the learning curves; returns a dict of results (exact_match, start_accuracy, end_accuracy,
    by_length, mistakes, parameters, seconds, curves: one entry per reader each; chance, example, ...)."""
    args = parse_args(argv)
    mode, settings, (init_rng, data_rng, test_rng) = common.start(args, MODES, streams=3)
    word_ids = data.vocabulary()
    held_out = data.make_examples(test_rng, settings["test_size"])
    init_seed, data_seed = (int(rng.integers(2**63)) for rng in (init_rng, data_rng))
    chance = float(np.mean([1 / len(example.facts) for example in held_out]))
    shown = next((i for i, example in enumerate(held_out) if len(example.facts) >= SHOWN_FACTS), 0)
    example = held_out[shown]
    answer = (example.start, example.end)

    print(f"Task: a passage of {data.MIN_FACTS} to {data.MAX_FACTS} facts (who did what, where or what, and when), "
          "a question about one of them; point at the answer, a span of the passage. Only the name, the relation and "
          "the year together find the fact: its twins share two of the three. For example:")
    print(f"  passage   {' '.join(example.passage)}\n  question  {' '.join(example.question)}\n"
          f"  answer    {' '.join(example.answer)} (words {example.start}..{example.end})")
    print(f"{mode} mode, seed {args.seed}: {settings['steps']} steps of {settings['batch']} fresh examples per reader, "
          f"the same batches for both, Adam at {settings['lr']} falling to {settings['lr'] * FINAL_LR:.2g}; "
          f"{len(held_out)} held-out questions.\n")
    fields = ("by_length", "mistakes", "parameters", "seconds", "curves")
    results = {"mode": mode, "seed": args.seed, "steps": settings["steps"], "chance": chance,
               **{field: {} for field in ("exact_match", "start_accuracy", "end_accuracy", *fields)}}
    began = time.perf_counter()
    spans, weights = {}, {}
    for name in MODELS:
        found, curve_steps, spans[name], weights[name] = run_reader(
            name, settings, init_seed, data_seed, word_ids, held_out, held_out[:settings["curve_size"]])
        for field in fields:
            results[field][name] = found[field]
        overall = found["by_length"]["all"]
        results["exact_match"][name] = overall["exact_match"]
        results["start_accuracy"][name], results["end_accuracy"][name] = overall["start"], overall["end"]
        print(f"  {name:<8} {found['parameters']:6,} parameters   held-out exact match {overall['exact_match']:6.1%}"
              f"   trained in {found['seconds']:5.1f} s", flush=True)
    results["curve_steps"] = curve_steps

    print(f"\nHeld-out scores by passage length (EM: exact match, the span's first and last words both right; start, "
          f"end: each alone). Picking a random fact's value would score {chance:.1%}.")
    print(table(results, held_out))
    print("\nThe wrong spans, by what the fact they point into shares with the asked one (a twin shares two keys):")
    for name in MODELS:
        wrong = results["mistakes"][name]
        print(f"  {name:<8} " + ", ".join(f"{kind} {wrong[kind]}" for kind in MISTAKES)
              + f"  (of {sum(wrong.values())} wrong)")

    predicted = {name: (int(starts[shown]), int(ends[shown])) for name, (starts, ends) in spans.items()}
    print(f"\nThe example again: {' '.join(example.question)}   [answer], {{prediction}}")
    for name in MODELS:
        print(f"  {name:<8} {marked_passage(example.passage, answer, predicted[name])}")
    results["example"] = {"index": shown, "passage": example.passage, "question": example.question,
                          "answer": answer, "predicted": predicted}
    picture = span_heatmap(weights[ATTENTION_READER][shown], example.passage, example.question, answer,
                           predicted[ATTENTION_READER],
                           f"{ATTENTION_READER}'s context-to-query weights ({mode} mode, seed {args.seed})")
    results["heatmap"] = str(viz.save(picture, os.path.join(args.out, "attention.svg")))
    results["chart"] = str(common.save_learning_curves(curve_steps, results["curves"], mode, args.seed,
                                                       os.path.join(args.out, "curves.svg"), "held-out exact match"))
    results["total_seconds"] = time.perf_counter() - began
    print(f"\n{ATTENTION_READER}'s weights for it: {os.path.abspath(results['heatmap'])}\n"
          f"Learning curves: {os.path.abspath(results['chart'])}")
    return results


if __name__ == "__main__":
    main()
