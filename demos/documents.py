"""Documents: a Hierarchical Attention Network finds the few sentences, and words, that decide a review.

The task. Generated film reviews (demos/documents_data.py): 4 to 10 sentences, most of them distractors about
the plot, the weather or the cinema; in a positive or negative review one to three *evidence* sentences carry a
sentiment word, sometimes negated ("the acting was superb", "i found the ending not boring"); a neutral review
has none. The label is one of negative, neutral, positive::

    tom meets a pilot from the city
    the hall was not crowded                   <- "not", but about nothing that matters
    the story was never boring                 <- evidence: positive (a negated negative word)
    it was rainy outside that day
                                               -> positive

The model (Yang et al., 2016; docs/concepts.md, idea 4). Attention with a *learned context vector* at two levels::

    word level      h_sw = BiGRU(words of sentence s)    alpha_sw = softmax_w(tanh(h_sw W + b) . u_word)
                    sentence_s = sum_w alpha_sw h_sw     "which words make this sentence informative?"
    sentence level  g_s = BiGRU(sentence_1..S)           beta_s = softmax_s(tanh(g_s W' + b') . u_sentence)
                    document = sum_s beta_s g_s          "which sentences matter?"  -> logits (3 classes)

Nobody tells the model where the evidence is: it only sees the labels. Yet the weights are readable, and since
the generator knows where it put the evidence we can count how often the model looked there: the
highest-weighted sentence (is it an evidence sentence?) and, in it, the highest-weighted word (the sentiment word,
or the negation that flips it?), against chance (a random real sentence, a random word in it).

Caveat, worth seeing: a weight sits on a GRU *state*, not on a word, and a bidirectional state at one word also
holds its neighbours. So the top word is sometimes the one next to the evidence, "was" in "the story was not
charming", whose backward state has just read "not charming": the demo counts both.

Run it::

    python -m demos.documents              # full mode: 1000 steps, 15 s on an idle 2-core machine
    python -m demos.documents --quick      # the tour's mode: 300 steps, about 5 s
    python -m demos.documents --seed 3 --out /tmp/documents
    python -m demos.documents --help
"""
import html
import os
import time

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common
from demos import documents_data as data
from tinyattn import viz
from tinyattn.attention.han import HierarchicalAttentionNetwork

MODES = {  # model sizes, training steps, reviews per step, learning rate, held-out reviews
    "tiny": {"embed": 8, "hidden": 8, "attention": 8, "steps": 3, "batch": 4, "lr": 0.005, "test_size": 12},
    "quick": {"embed": 32, "hidden": 24, "attention": 32, "steps": 300, "batch": 32, "lr": 0.01, "test_size": 600},
    "full": {"embed": 32, "hidden": 24, "attention": 32, "steps": 1000, "batch": 32, "lr": 0.01, "test_size": 3000},
}
CLIP_NORM = 5.0


# ----- training ---------------------------------------------------------------------------------------------
def make_model(settings, vocabulary_size, rng):
    """A float32 HAN sized by the mode's settings, drawn from `rng`."""
    return HierarchicalAttentionNetwork(
        vocabulary_size, settings["embed"], settings["hidden"], settings["hidden"], settings["attention"],
        num_classes=len(data.LABELS), padding_idx=data.PAD, dtype=np.float32, rng=rng)


def train(model, word_ids, rng, steps, batch, lr):
    """Adam with gradient clipping and a cosine learning-rate decay on fresh generated reviews, with a progress line
    now and then. Returns the mean loss of the last reported stretch."""
    optimizer = ta.optim.Adam(model.parameters(), lr=lr)
    # Once the loss is near zero, Adam still takes steps of about lr (it divides tiny gradients by their tiny size);
    # a decaying lr lets the weights settle instead of wandering.
    schedule = ta.optim.CosineAnnealingLR(optimizer, T_max=steps)
    report_every = max(1, steps // 10)
    start, losses, right = time.perf_counter(), [], 0
    for step in range(1, steps + 1):
        ids, labels, _, _ = data.batch_arrays(data.make_reviews(rng, batch), word_ids)  # ids (B, S, W)
        logits, _, _ = model(ids)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        ta.optim.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        right += int(np.sum(np.argmax(logits.data, axis=-1) == labels))
        if step % report_every == 0 or step == steps:
            print(f"  step {step:5d}/{steps}   loss {np.mean(losses):6.3f}   "
                  f"training accuracy {right / (len(losses) * batch):6.1%}   {time.perf_counter() - start:6.1f} s",
                  flush=True)
            last_loss, losses, right = float(np.mean(losses)), [], 0
    return last_loss


# ----- where did it look? -----------------------------------------------------------------------------------
def where_it_looked(sentence_weights, word_weights, evidence_sentences, evidence_words, ids):
    """Per review, arrays (B,): did the top sentence hit the evidence (sentence_hit), did its top word (word_hit),
    was that word an evidence word or next to one (near_hit); and the chance of the first two for a random real
    sentence and a random real word in it. Meaningful for reviews with evidence only (the caller selects them).

    sentence_weights (B, S), word_weights (B, S, W); evidence_sentences (B, S) and evidence_words (B, S, W) bool,
    True = evidence; ids (B, S, W), PAD where padded."""
    rows = np.arange(len(ids))
    word_mask = ids != data.PAD  # (B, S, W)
    sentence_lengths = word_mask.sum(axis=2)  # (B, S)
    sentence_counts = (sentence_lengths > 0).sum(axis=1)  # (B,)

    top_sentence = np.argmax(sentence_weights, axis=1)  # (B,): padded sentences have weight 0
    sentence_hit = evidence_sentences[rows, top_sentence]
    top_word = np.argmax(word_weights[rows, top_sentence], axis=1)  # (B,) within the top sentence
    evidence_in_top = evidence_words[rows, top_sentence]  # (B, W)
    word_hit = sentence_hit & evidence_in_top[rows, top_word]
    near = evidence_in_top.copy()  # an evidence word or one of its two neighbours
    near[:, 1:] |= evidence_in_top[:, :-1]
    near[:, :-1] |= evidence_in_top[:, 1:]
    near_hit = sentence_hit & near[rows, top_word]

    sentence_chance = evidence_sentences.sum(axis=1) / sentence_counts
    # A random real sentence, then a random real word in it: sum over evidence sentences of P(s) * P(word | s).
    share = evidence_words.sum(axis=2) / np.maximum(sentence_lengths, 1)  # (B, S)
    word_chance = share.sum(axis=1) / sentence_counts
    return {"sentence_hit": sentence_hit, "word_hit": word_hit, "near_hit": near_hit,
            "sentence_chance": sentence_chance, "word_chance": word_chance}


def evaluate(model, reviews, word_ids, chunk=250):
    """Run the model on `reviews` without a graph. Returns predictions (N,), each review's weights cut to its
    real size (lists of (S_i,) and (S_i, W) arrays) and the results: accuracies and where-it-looked rates."""
    predictions, sentence_weights, word_weights, looked = [], [], [], []
    for begin in range(0, len(reviews), chunk):
        part = reviews[begin:begin + chunk]
        ids, _, evidence_sentences, evidence_words = data.batch_arrays(part, word_ids)
        with ta.no_grad():
            logits, words, sentences = model(ids)
        predictions.append(np.argmax(logits.data, axis=-1))
        for row, review in enumerate(part):
            count = len(review.sentences)
            sentence_weights.append(sentences.data[row, :count])
            word_weights.append(words.data[row, :count])
        looked.append(where_it_looked(sentences.data, words.data, evidence_sentences, evidence_words, ids))
    predictions = np.concatenate(predictions)
    looked = {name: np.concatenate([part[name] for part in looked]) for name in looked[0]}

    labels = np.array([review.label for review in reviews])
    opinion = labels != data.NEUTRAL_LABEL
    negated = np.array([bool(review.evidence) and all(len(at) == 2 for at in review.evidence.values())
                        for review in reviews])
    right = predictions == labels

    def mean(values):
        return float(np.mean(values)) if len(values) else float("nan")

    results = {
        "accuracy": mean(right),
        "negated_accuracy": mean(right[negated]),  # reviews whose every evidence sentence is negated
        "negated_reviews": int(negated.sum()),
        "opinion_reviews": int(opinion.sum()),
        **{f"{name.replace('_hit', '_rate')}": mean(looked[name][opinion])
           for name in ("sentence_hit", "word_hit", "near_hit", "sentence_chance", "word_chance")},
    }
    return predictions, sentence_weights, word_weights, results


# ----- pictures -----------------------------------------------------------------------------------------------
BAR_WIDTH = 20


def text_picture(review, prediction, sentence_weights, word_weights):
    """Plain text: one line per sentence, its weight as a number and a bar, its top word in [brackets], and an
    arrow at the evidence sentences; the label and the prediction on top."""
    verdict = "right" if prediction == review.label else "wrong"
    lines = [(f"  label {data.LABELS[review.label]}, predicted {data.LABELS[prediction]} ({verdict});"
              " [word] = the top word of each sentence")]
    for index, sentence in enumerate(review.sentences):
        weight = float(sentence_weights[index])
        top = int(np.argmax(word_weights[index][:len(sentence)]))
        words = " ".join(f"[{word}]" if at == top else word for at, word in enumerate(sentence))
        bar = "\u2588" * round(BAR_WIDTH * weight)
        mark = "   <- evidence" if index in review.evidence else ""
        lines.append(f"  {100 * weight:4.0f}% {bar:<{BAR_WIDTH}} {words}{mark}")
    return "\n".join(lines)


def html_pictures(reviews, predictions, sentence_weights, word_weights, title):
    """A complete HTML page: for each review its label, prediction and evidence, then the HAN highlights."""
    legend = ("<p>Each review: a red square per sentence, shaded by its sentence weight, then its words, each "
              "shaded blue by its weight within the sentence. Underneath, the evidence the generator put in.</p>")
    fragments = [legend]
    for number, review in enumerate(reviews, start=1):
        prediction = int(predictions[number - 1])
        verdict = "right" if prediction == review.label else "wrong"
        evidence = "; ".join(
            f"sentence {index + 1}: " + " ".join(review.sentences[index][at] for at in sorted(positions))
            for index, positions in sorted(review.evidence.items())) or "none (a neutral review)"
        fragments.append("\n".join([
            f"<h2>Review {number}: {data.LABELS[review.label]}, predicted {data.LABELS[prediction]} ({verdict})</h2>",
            viz.highlight_document(review.sentences, word_weights[number - 1], sentence_weights[number - 1]),
            f"<p>Evidence: {html.escape(evidence)}</p>",
        ]))
    return viz.html_page(fragments, title=title)


def chosen_examples(reviews, count):
    """Indices of `count` held-out reviews to draw: mostly with evidence (some negated), one neutral."""
    opinion = [i for i, review in enumerate(reviews) if review.evidence]
    negated = [i for i in opinion if any(len(at) == 2 for at in reviews[i].evidence.values())]
    neutral = [i for i, review in enumerate(reviews) if not review.evidence]
    chosen = []
    for pool in (opinion, negated, neutral, opinion, negated, range(len(reviews))):
        for index in pool:
            if index not in chosen:
                chosen.append(index)
                break
    for index in range(len(reviews)):  # more than the pools give, when `count` is large
        if index not in chosen:
            chosen.append(index)
    return chosen[:count]


# ----- the command line -----------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = common.demo_parser(
        "documents",
        "A Hierarchical Attention Network learns to classify generated reviews; then it shows which sentences and "
        "words it looked at, and how often those are the evidence.", MODES,
        "documents.html, the highlighted reviews")
    common.add_show(parser, 6, "held-out reviews drawn in the HTML page")
    return common.parse(parser, argv)


def headline(results):
    """The demo's key figure in one line, for the tour's summary: accuracy, and how often the top sentence is an
    evidence sentence (on the reviews with evidence), each against chance."""
    if results["opinion_reviews"] == 0:  # no review with evidence among the held-out ones: no rate to give
        looked = "no held-out review with evidence"
    else:
        looked = (f"top sentence is evidence {results['sentence_rate']:.1%} "
                  f"(chance {results['sentence_chance']:.1%})")
    return f"accuracy {results['accuracy']:.1%} (chance {results['chance_accuracy']:.0%}); {looked}"


def main(argv=None):
    """Train a HAN, measure accuracy and where it looked, draw some reviews; returns a dict of results."""
    args = parse_args(argv)
    mode, settings, (init_rng, train_rng, test_rng) = common.start(args, MODES, streams=3)
    word_ids = data.vocabulary()
    model = make_model(settings, len(word_ids), init_rng)
    held_out = data.make_reviews(test_rng, settings["test_size"])

    print("Task: generated film reviews, 4 to 10 sentences; a few evidence sentences (a sentiment word, maybe "
          "negated)\namong distractors decide the label: negative, neutral (no evidence) or positive. "
          f"A guess is right {1 / len(data.LABELS):.0%} of the time.")
    print(f"\nTraining a Hierarchical Attention Network ({mode} mode, {settings['steps']} steps of "
          f"{settings['batch']} reviews, {sum(p.size for p in model.parameters())} parameters, seed {args.seed}):")
    start = time.perf_counter()
    loss = train(model, word_ids, train_rng, settings["steps"], settings["batch"], settings["lr"])
    seconds = time.perf_counter() - start

    predictions, sentence_weights, word_weights, results = evaluate(model, held_out, word_ids)
    negated = "-" if results["negated_reviews"] == 0 else f"{results['negated_accuracy']:.1%}"
    print(f"Trained in {seconds:.1f} s.\n\nOn {len(held_out)} held-out reviews: accuracy {results['accuracy']:.1%}; "
          f"on the {results['negated_reviews']} whose evidence is all negated, {negated}.")
    print(f"Where it looked, on the {results['opinion_reviews']} reviews with evidence (chance: a random sentence, "
          "a random word in it):")
    print(f"  the top sentence is an evidence sentence       {results['sentence_rate']:6.1%}   "
          f"(chance {results['sentence_chance']:5.1%})")
    print(f"  ... and its top word is an evidence word       {results['word_rate']:6.1%}   "
          f"(chance {results['word_chance']:5.1%})")
    print(f"  ... or its top word is next to an evidence word {results['near_rate']:5.1%}")

    shown = chosen_examples(held_out, args.show)
    first = shown[0]
    print("\nOne held-out review, with its sentence weights:")
    print(text_picture(held_out[first], predictions[first], sentence_weights[first], word_weights[first]))

    title = f"documents: HAN highlights, {mode} mode, seed {args.seed}, accuracy {results['accuracy']:.1%}"
    page = html_pictures([held_out[i] for i in shown], predictions[shown], [sentence_weights[i] for i in shown],
                         [word_weights[i] for i in shown], title)
    out_path = viz.save(page, os.path.join(args.out, "documents.html"))
    print(f"\n{len(shown)} held-out reviews, highlighted by their weights: {out_path}")

    return {
        **results,
        "chance_accuracy": 1 / len(data.LABELS),
        "loss": loss,
        "steps": settings["steps"],
        "seconds": seconds,
        "html": str(out_path),
    }


if __name__ == "__main__":
    main()
