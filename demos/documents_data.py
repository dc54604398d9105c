"""Generated film reviews for the documents demo: a few evidence sentences among many distractors.

A review is a list of sentences, a sentence a list of words. Most sentences are *distractors*: the plot, when and
where the reviewer watched, the weather, the ticket price, or an opinion frame around a neutral word ("the ending
was long", "the hall was not crowded"). In a positive or negative review, one to three sentences are *evidence*:
the same frames around a sentiment word, maybe negated::

    the acting was superb                           positive
    i found the ending not boring                   positive: a negated negative word
    never gripping is the word for the dialogue     negative: a negated positive word

The label is the polarity of the evidence: positive for a positive word, negative for a negative one, flipped
by a negation word right before it. Every evidence sentence of a review has the same polarity, so one of them is
enough to decide, but the model must find it: it can be anywhere, and every other word of it ("the", "was",
"not", the aspects, the frame) also appears in distractors. "not" and "never" alone say nothing, since
distractors use them with neutral words; only the pair (negation, sentiment word) carries the label.

A third of the reviews are *neutral*: distractors only. Without them, a classifier could answer "positive unless
I see something negative" and never look at "not boring" (we saw a model do exactly that); with them, every kind
of evidence has to be found, the negated ones too. The frames vary the word before the judgement and where it
stands, for a similar reason: with one fixed frame, a model tends to put its word weight on the frame's verb
("was"), whose backward GRU state has just read the evidence, rather than on the evidence word itself.

Each review records where its evidence is, the ground truth for "did the model look at the right place?": the
indices of its evidence sentences and, in each, the positions of the sentiment word and of its negation (if any).

Ids: 0 is padding, 1 is <unk>; a few character names in the plot sentences are not in the vocabulary and become
<unk>, as rare words do in real data.
"""
import dataclasses

import numpy as np

PAD, UNK = 0, 1
LABELS = ["negative", "neutral", "positive"]  # labels 0, 1, 2
NEGATIVE_LABEL, NEUTRAL_LABEL, POSITIVE_LABEL = 0, 1, 2

POSITIVE = ["excellent", "great", "good", "wonderful", "brilliant", "superb", "gripping", "moving", "funny",
            "charming"]
NEGATIVE = ["awful", "terrible", "bad", "boring", "dull", "poor", "dreadful", "clumsy", "bland", "tedious"]
NEGATIONS = ["not", "never"]

ASPECTS = ["acting", "script", "ending", "soundtrack", "pacing", "dialogue", "cast", "story", "directing", "film"]
# Frames: an opinion about {aspect}, with {judgement} = a word, after a negation or not. With a sentiment word a
# frame is an evidence sentence; with a neutral word ("the ending was long"), a distractor. The word before the
# judgement varies, and the judgement comes first in one frame: nothing but the judgement marks the evidence.
FRAMES = [
    "the {aspect} was {judgement}",
    "i found the {aspect} {judgement}",
    "the {aspect} felt {judgement} to me",
    "overall the {aspect} was {judgement} in my view",
    "{people} called the {aspect} {judgement}",
    "{judgement} is the word for the {aspect}",
    "honestly {judgement} {aspect} from start to finish",
]
FRAME_DISTRACTORS = 0.3  # the share of distractors that are frames with a neutral word
NEGATED = 0.4  # the probability that a judgement is negated

KNOWN_NAMES = ["anna", "tom", "maria", "lee", "sam", "nora", "ivan", "ruth"]
UNKNOWN_NAMES = ["bertrand", "olufemi", "ximena", "teodor"]  # never in the vocabulary: they encode as <unk>
PLACES = ["paris", "a small town", "the mountains", "an old hotel", "london", "a farm", "the city"]
ROLES = ["detective", "teacher", "pilot", "cook", "student", "painter"]
DAYS = ["monday", "tuesday", "friday", "saturday", "sunday"]
PEOPLE = ["my sister", "my father", "a friend", "my neighbours", "my cousin"]
WEATHER = ["rainy", "cold", "sunny", "windy", "warm"]
THINGS = ["cinema", "sound", "popcorn", "poster", "trailer", "screen", "ticket", "hall"]
NEUTRAL = ["long", "short", "new", "crowded", "quiet", "blue", "loud", "old", "expensive", "cheap"]
NUMBERS = ["two", "three", "five", "ten", "twelve", "ninety", "hundred"]
DISTRACTOR_TEMPLATES = [
    "the story follows a {role} named {name} in {place}",
    "{name} meets a {role} from {place}",
    "it is set in {place}",
    "i watched it on {day} with {people}",
    "we saw it on {day} after dinner",
    "it was {weather} outside that day",
    "the weather was {weather} on {day}",
    "the {thing} was {neutral}",
    "the {thing} was {negation} {neutral}",
    "the tickets cost {number} dollars",
    "it runs for about {number} minutes",
    "{people} came along too",
    "i had read about it in the paper",
    "the {thing} looked {neutral} to me",
]
FILLERS = {"role": ROLES, "place": PLACES, "day": DAYS, "people": PEOPLE, "weather": WEATHER,
           "thing": THINGS, "aspect": ASPECTS, "neutral": NEUTRAL, "number": NUMBERS, "negation": NEGATIONS}


@dataclasses.dataclass
class Review:
    """One generated review: `sentences` (lists of words), `label` (an index into LABELS), `evidence`
    {sentence index: [word positions of its negation, if any, and of its sentiment word]}, empty when neutral."""

    sentences: list
    label: int
    evidence: dict


def _words(template, rng, **slots):
    """The template's words, each {slot} filled from `slots` or with a random choice from FILLERS."""
    text = template
    for name, choices in FILLERS.items():
        while "{" + name + "}" in text:
            text = text.replace("{" + name + "}", choices[rng.integers(len(choices))], 1)
    while "{name}" in text:
        names = UNKNOWN_NAMES if rng.random() < 0.25 else KNOWN_NAMES
        text = text.replace("{name}", names[rng.integers(len(names))], 1)
    for name, value in slots.items():
        text = text.replace("{" + name + "}", value)
    return text.split()


def evidence_sentence(rng, label):
    """(words, evidence positions) of one evidence sentence whose polarity is `label` (POSITIVE_LABEL or
    NEGATIVE_LABEL): a frame around a sentiment word, or around "not"/"never" and a word of the opposite
    polarity (probability NEGATED)."""
    negated = bool(rng.random() < NEGATED)
    positive_word = (label == POSITIVE_LABEL) != negated  # a negation flips the word's polarity
    choices = POSITIVE if positive_word else NEGATIVE
    sentiment = choices[rng.integers(len(choices))]
    judgement = (NEGATIONS[rng.integers(len(NEGATIONS))] + " " + sentiment) if negated else sentiment
    words = _words(FRAMES[rng.integers(len(FRAMES))], rng, judgement=judgement)
    where = words.index(sentiment)
    return words, ([where - 1, where] if negated else [where])


def distractor_sentence(rng):
    """The words of one distractor: a frame around a neutral word (maybe negated), or another template."""
    if rng.random() < FRAME_DISTRACTORS:
        judgement = NEUTRAL[rng.integers(len(NEUTRAL))]
        if rng.random() < NEGATED:
            judgement = NEGATIONS[rng.integers(len(NEGATIONS))] + " " + judgement
        return _words(FRAMES[rng.integers(len(FRAMES))], rng, judgement=judgement)
    return _words(DISTRACTOR_TEMPLATES[rng.integers(len(DISTRACTOR_TEMPLATES))], rng)


def make_reviews(rng, count, min_sentences=4, max_sentences=10, max_evidence=3):
    """`count` reviews of min_sentences..max_sentences sentences; labels uniform over LABELS. A positive or
    negative review has 1..max_evidence evidence sentences (at most a third of its sentences, at least one)."""
    reviews = []
    for _ in range(count):
        label = int(rng.integers(len(LABELS)))
        length = int(rng.integers(min_sentences, max_sentences + 1))
        most = max(1, min(max_evidence, length // 3))
        evidence_count = 0 if label == NEUTRAL_LABEL else int(rng.integers(1, most + 1))
        evidence_at = sorted(int(i) for i in rng.choice(length, size=evidence_count, replace=False))
        sentences, evidence = [], {}
        for index in range(length):
            if index in evidence_at:
                words, positions = evidence_sentence(rng, label)
                evidence[index] = positions
            else:
                words = distractor_sentence(rng)
            sentences.append(words)
        reviews.append(Review(sentences, label, evidence))
    return reviews


def polarity(words, positions):
    """The label one evidence sentence says, read from its words alone: POSITIVE_LABEL or NEGATIVE_LABEL."""
    sentiment = words[max(positions)]
    positive = sentiment in POSITIVE
    if len(positions) == 2 and words[min(positions)] in NEGATIONS:
        positive = not positive
    return POSITIVE_LABEL if positive else NEGATIVE_LABEL


def vocabulary():
    """Every word the generator writes (but the UNKNOWN_NAMES), sorted: {word: id}, with <pad> 0 and <unk> 1."""
    words = set(POSITIVE + NEGATIVE + NEGATIONS + ASPECTS + KNOWN_NAMES)
    for template in FRAMES + DISTRACTOR_TEMPLATES:
        words.update(word for word in template.split() if not word.startswith("{"))
    for choices in FILLERS.values():
        for choice in choices:
            words.update(choice.split())
    return {"<pad>": PAD, "<unk>": UNK, **{word: i for i, word in enumerate(sorted(words), start=2)}}


def batch_arrays(reviews, word_ids):
    """Pad a list of reviews into arrays, S = most sentences, W = longest sentence of the batch:

    ids (B, S, W) int64 (PAD in padding, UNK for unknown words), labels (B,) int64, evidence_sentences (B, S) bool
    (True = an evidence sentence), evidence_words (B, S, W) bool (True = a sentiment word or its negation)."""
    batch = len(reviews)
    sentences = max(len(review.sentences) for review in reviews)
    words = max(len(sentence) for review in reviews for sentence in review.sentences)
    ids = np.full((batch, sentences, words), PAD, dtype=np.int64)
    evidence_sentences = np.zeros((batch, sentences), dtype=bool)
    evidence_words = np.zeros((batch, sentences, words), dtype=bool)
    for row, review in enumerate(reviews):
        for index, sentence in enumerate(review.sentences):
            ids[row, index, :len(sentence)] = [word_ids.get(word, UNK) for word in sentence]
        for index, positions in review.evidence.items():
            evidence_sentences[row, index] = True
            evidence_words[row, index, positions] = True
    labels = np.array([review.label for review in reviews], dtype=np.int64)
    return ids, labels, evidence_sentences, evidence_words
