"""Data for the pairs demo: short passages of facts, a question about one of them, and its answer, a span of the
passage.

    passage   in 1994 emma sold old maps . emma sold a red car in 1991 . dave lived in new york in 1994 .
              in 1991 emma lived in the old town . emma lived in rome in 1994 .
    question  where did emma live in 1994 ?
    answer    rome                (passage word 35; a span is its first and last word, both included)

A passage holds 2 to 6 facts, each one sentence: who did what, where or what, and when, the year before or after
("in 1994 emma sold old maps ." or "emma sold old maps in 1994 ."). Six relations, two kinds of value: places for
"lived in", "worked in" and "studied in" (questions "where did NAME live in YEAR ?", ...), things for "owned",
"sold" and "bought" ("what did NAME own in YEAR ?", ...). A value is 1 to 3 words ("rome", "new york", "the old
town"), and values share words ("the old town", "the old mill"), so both ends of the span matter. The question's
verb is not the passage's word ("live" against "lived", "buy" against "bought"): a reader learns which goes with
which.

Each passage is built so that matching the question against it matters. No passage holds the same (name,
relation, year) twice, so exactly one fact answers the question; and the asked fact has *twins*, facts that share
two of its three keys: the same person and relation in another year ("emma lived in the old town" in 1991), the
same person and year with another relation ("emma sold old maps" in 1994), the same relation and year for another
person ("dave lived in new york" in 1994). From 4 facts on all three twins are there, so no two keys find the
answer: only the name, the relation and the year together do. (2 or 3 facts leave room for 1 or 2 twins, drawn at
random.) The other facts are about the same few people and years, so every key repeats; values are drawn
independently and may repeat too ("rome" twice), so an answer is a *place* in the passage, and exact match counts
positions, not words.

Ids: 0 is padding; every word the generator writes has its own id (``vocabulary``): there is no <unk>. Everything
comes from a seeded ``np.random.Generator``: nothing is downloaded.
"""
import dataclasses
import itertools

import numpy as np

PAD = 0
MIN_FACTS, MAX_FACTS = 2, 6

NAMES = ["alice", "bob", "carol", "dave", "emma", "frank", "grace", "henry", "iris", "jack", "kate", "leo"]
YEARS = [str(year) for year in range(1990, 2000)]
PLACES = ["paris", "rome", "london", "oslo", "new york", "the old town", "the red mill", "the harbour",
          "green valley", "north hill", "a small village", "the old mill", "the city centre", "south hill"]
THINGS = ["a boat", "a small boat", "a red car", "green tea", "old books", "fresh bread", "two dogs", "a piano",
          "red apples", "wooden toys", "a blue bicycle", "small boats", "old maps", "fresh fish"]
# relation: (the fact's words before VALUE, the question with NAME and YEAR to fill, the kind of value)
RELATIONS = {
    "lived": ("lived in", "where did {name} live in {year} ?", PLACES),
    "worked": ("worked in", "where did {name} work in {year} ?", PLACES),
    "studied": ("studied in", "where did {name} study in {year} ?", PLACES),
    "owned": ("owned", "what did {name} own in {year} ?", THINGS),
    "sold": ("sold", "what did {name} sell in {year} ?", THINGS),
    "bought": ("bought", "what did {name} buy in {year} ?", THINGS),
}
MAX_ANSWER = max(len(value.split()) for value in PLACES + THINGS)  # 3 words


@dataclasses.dataclass
class Example:
    """One question about one passage.

    passage, question: lists of words. facts: the passage's facts in order, (name, relation, year, value) each;
    asked: the index in `facts` of the one the question is about. start, end: the answer's first and last positions
    in the passage (both included), so ``passage[start:end + 1] == facts[asked][3].split()``.
    """

    passage: list
    question: list
    facts: list
    asked: int
    start: int
    end: int

    @property
    def answer(self):
        return self.passage[self.start:self.end + 1]


def _pick(rng, choices):
    return choices[int(rng.integers(len(choices)))]


def fact_keys(rng, count):
    """`count` distinct (name, relation, year) keys: the asked fact's first, then its twins (sharing two of its three
    keys: name and relation, name and year, relation and year), min(3, count - 1) of them, then others. The names
    come from max(2, ceil(count / 3)) people and the years from as many years, so that every key repeats."""
    few = max(2, -(-count // 3))
    people = [str(name) for name in rng.choice(NAMES, size=few, replace=False)]
    years = [str(year) for year in rng.choice(YEARS, size=few, replace=False)]
    relations = list(RELATIONS)
    name, relation, year = people[0], _pick(rng, relations), years[0]
    twins = [(name, relation, _pick(rng, years[1:])),
             (name, _pick(rng, [other for other in relations if other != relation]), year),
             (_pick(rng, people[1:]), relation, year)]
    keys = [(name, relation, year)] + [twins[i] for i in sorted(rng.choice(3, size=min(3, count - 1), replace=False))]
    free = [key for key in itertools.product(people, relations, years) if key not in keys]
    keys += [free[i] for i in rng.choice(len(free), size=count - len(keys), replace=False)]
    return keys


def make_example(rng, facts_count):
    """One example with `facts_count` facts in random order, each with a random value of its relation's kind and its
    year before or after it, with even odds."""
    keys = fact_keys(rng, facts_count)
    order = rng.permutation(facts_count)
    facts = [(*keys[i], _pick(rng, RELATIONS[keys[i][1]][2])) for i in order]
    asked = int(np.flatnonzero(order == 0)[0])  # where the first key, the asked one, went
    passage, start, end = [], None, None
    for index, (name, relation, year, value) in enumerate(facts):
        year_first = bool(rng.random() < 0.5)
        before = (["in", year] if year_first else []) + [name, *RELATIONS[relation][0].split()]
        if index == asked:
            start = len(passage) + len(before)
            end = start + len(value.split()) - 1
        passage += before + value.split() + ([] if year_first else ["in", year]) + ["."]
    name, relation, year, _ = facts[asked]
    question = RELATIONS[relation][1].format(name=name, year=year).split()
    return Example(passage, question, facts, asked, start, end)


def make_examples(rng, count, min_facts=MIN_FACTS, max_facts=MAX_FACTS):
    """`count` examples, the number of facts of each uniform in min_facts..max_facts."""
    most = 3 * min(len(NAMES), len(YEARS))  # fact_keys draws ceil(count / 3) people and years
    if count < 1 or not 2 <= min_facts <= max_facts <= most:
        raise ValueError(f"make_examples: need count >= 1 and 2 <= min_facts <= max_facts <= {most}; got count "
                         f"{count}, facts {min_facts}..{max_facts}")
    return [make_example(rng, int(rng.integers(min_facts, max_facts + 1))) for _ in range(count)]


def vocabulary():
    """Every word the generator writes, sorted: {word: id}, with <pad> 0."""
    words = set(NAMES + YEARS + ["in", "."])
    for fact, question, values in RELATIONS.values():
        words.update(word for word in (fact + " " + question).split() if not word.startswith("{"))
        for value in values:
            words.update(value.split())
    return {"<pad>": PAD, **{word: i for i, word in enumerate(sorted(words), start=1)}}


def batch_arrays(examples, word_ids):
    """Pad a list of examples into arrays, T = longest passage, J = longest question of the batch:

    passages (B, T) int64 and passage_mask (B, T) bool (True = a real word), questions (B, J) int64 and
    question_mask (B, J) bool, starts (B,) and ends (B,) int64, the answers' first and last positions."""
    batch = len(examples)
    longest = max(len(example.passage) for example in examples)
    longest_question = max(len(example.question) for example in examples)
    passages = np.full((batch, longest), PAD, np.int64)
    questions = np.full((batch, longest_question), PAD, np.int64)
    for row, example in enumerate(examples):
        passages[row, :len(example.passage)] = [word_ids[word] for word in example.passage]
        questions[row, :len(example.question)] = [word_ids[word] for word in example.question]
    starts = np.array([example.start for example in examples], np.int64)
    ends = np.array([example.end for example in examples], np.int64)
    return passages, passages != PAD, questions, questions != PAD, starts, ends
