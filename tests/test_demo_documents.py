"""The documents demo: its generated reviews say what they claim, and the demo runs end to end."""
import html.parser
import math
import pathlib
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from demos import documents
from demos import documents_data as data

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_labels_follow_the_evidence_with_negation_flipping_it(seed):
    for review in data.make_reviews(np.random.default_rng(seed), 30):
        if review.label == data.NEUTRAL_LABEL:
            assert review.evidence == {}
            continue
        assert 1 <= len(review.evidence) <= 3
        for index, positions in review.evidence.items():
            assert data.polarity(review.sentences[index], positions) == review.label


@settings(max_examples=20, deadline=None)
@given(seeds)
def test_evidence_positions_point_at_the_sentiment_word_and_its_negation(seed):
    sentiment_words = set(data.POSITIVE + data.NEGATIVE)
    for review in data.make_reviews(np.random.default_rng(seed), 30):
        for index, sentence in enumerate(review.sentences):
            positions = review.evidence.get(index, [])
            # Sentiment words appear in evidence sentences only, exactly where the evidence says.
            assert [at for at, word in enumerate(sentence) if word in sentiment_words] == positions[-1:]
            if len(positions) == 2:
                negation, sentiment = positions
                assert sentiment == negation + 1 and sentence[negation] in data.NEGATIONS
            else:
                assert len(positions) <= 1


def test_negation_flips_the_polarity_of_a_sentiment_word():
    assert data.polarity(["the", "film", "was", "good"], [3]) == data.POSITIVE_LABEL
    assert data.polarity(["the", "film", "was", "not", "good"], [3, 4]) == data.NEGATIVE_LABEL
    assert data.polarity(["the", "film", "was", "never", "boring"], [3, 4]) == data.POSITIVE_LABEL
    assert data.polarity(["the", "film", "was", "boring"], [3]) == data.NEGATIVE_LABEL


def test_distractors_use_negations_too_so_that_a_negation_alone_says_nothing():
    reviews = data.make_reviews(np.random.default_rng(0), 300)
    negated_distractors = sum(
        1 for review in reviews for index, sentence in enumerate(review.sentences)
        if index not in review.evidence and any(word in data.NEGATIONS for word in sentence))
    assert negated_distractors >= 50


def test_reviews_are_deterministic_given_the_seed_and_differ_across_seeds():
    first = data.make_reviews(np.random.default_rng(7), 40)
    again = data.make_reviews(np.random.default_rng(7), 40)
    other = data.make_reviews(np.random.default_rng(8), 40)
    assert first == again
    assert first != other


def test_labels_are_all_present_and_lengths_vary():
    reviews = data.make_reviews(np.random.default_rng(1), 300)
    assert {review.label for review in reviews} == set(range(len(data.LABELS)))
    assert {len(review.sentences) for review in reviews} == set(range(4, 11))
    assert len({len(sentence) for review in reviews for sentence in review.sentences}) >= 5


def test_batch_arrays_pad_with_zero_and_mark_the_evidence():
    vocabulary = data.vocabulary()
    assert vocabulary["<pad>"] == data.PAD == 0 and vocabulary["<unk>"] == data.UNK
    assert sorted(vocabulary.values()) == list(range(len(vocabulary)))
    reviews = data.make_reviews(np.random.default_rng(2), 25)
    ids, labels, evidence_sentences, evidence_words = data.batch_arrays(reviews, vocabulary)

    most_sentences = max(len(review.sentences) for review in reviews)
    longest = max(len(sentence) for review in reviews for sentence in review.sentences)
    assert ids.shape == (25, most_sentences, longest) and ids.dtype == np.int64
    assert evidence_sentences.shape == (25, most_sentences) and evidence_words.shape == ids.shape
    assert labels.tolist() == [review.label for review in reviews]
    inverse = {index: word for word, index in vocabulary.items()}
    for row, review in enumerate(reviews):
        for index in range(most_sentences):
            sentence = review.sentences[index] if index < len(review.sentences) else []
            assert np.all(ids[row, index, len(sentence):] == data.PAD)
            for at, word in enumerate(sentence):
                assert inverse[ids[row, index, at]] == (word if word in vocabulary else "<unk>")
            expected = np.zeros(longest, dtype=bool)
            expected[review.evidence.get(index, [])] = True
            assert np.array_equal(evidence_words[row, index], expected)
            assert evidence_sentences[row, index] == (index in review.evidence)


def test_names_outside_the_vocabulary_become_unk():
    reviews = data.make_reviews(np.random.default_rng(3), 300)
    ids, _, _, _ = data.batch_arrays(reviews, data.vocabulary())
    assert np.any(ids == data.UNK)
    assert all(name not in data.vocabulary() for name in data.UNKNOWN_NAMES)


def test_where_it_looked_counts_a_hit_only_on_the_evidence():
    # One review, two sentences of three words; evidence: sentence 1, words 1 and 2 ("not good").
    ids = np.array([[[5, 6, 7], [5, 8, 9]]])
    evidence_sentences = np.array([[False, True]])
    evidence_words = np.array([[[False, False, False], [False, True, True]]])
    on_evidence = documents.where_it_looked(
        np.array([[0.2, 0.8]]), np.array([[[1, 0, 0], [0.1, 0.2, 0.7]]]), evidence_sentences, evidence_words, ids)
    next_to = documents.where_it_looked(
        np.array([[0.2, 0.8]]), np.array([[[1, 0, 0], [0.7, 0.2, 0.1]]]), evidence_sentences, evidence_words, ids)
    wrong_sentence = documents.where_it_looked(
        np.array([[0.8, 0.2]]), np.array([[[1, 0, 0], [0.1, 0.2, 0.7]]]), evidence_sentences, evidence_words, ids)
    assert on_evidence["sentence_hit"][0] and on_evidence["word_hit"][0] and on_evidence["near_hit"][0]
    assert next_to["sentence_hit"][0] and not next_to["word_hit"][0] and next_to["near_hit"][0]
    assert not wrong_sentence["sentence_hit"][0] and not wrong_sentence["word_hit"][0]
    assert on_evidence["sentence_chance"][0] == 0.5
    assert math.isclose(on_evidence["word_chance"][0], 0.5 * 2 / 3)


class _Page(html.parser.HTMLParser):
    """Counts tags and collects the text of an HTML page."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, text):
        self.text.append(text)


def test_tiny_mode_runs_end_to_end_writes_the_html_and_says_where(tmp_path, capsys):
    results = documents.main(["--tiny", "--out", str(tmp_path)])

    for name in ("accuracy", "sentence_rate", "word_rate", "near_rate", "sentence_chance", "word_chance", "loss",
                 "seconds"):
        assert math.isfinite(results[name]), name
    assert 0.0 <= results["accuracy"] <= 1.0
    assert 0.0 < results["sentence_chance"] < 1.0
    page_path = pathlib.Path(results["html"])
    assert page_path.parent == tmp_path and page_path.is_file()
    page = _Page()
    page.feed(page_path.read_text(encoding="utf-8"))
    assert page.tags.count("h2") == 6  # --show's default: six reviews
    assert "span" in page.tags and "Evidence:" in "".join(page.text)
    printed = capsys.readouterr().out
    assert "step" in printed and "accuracy" in printed
    assert str(page_path) in printed


def test_the_model_learns_the_labels_and_looks_at_the_evidence(tmp_path, capsys):
    # Seed 0 fixed, so this never flakes: 200 steps gave accuracy 100%, the top sentence on the evidence 100% of
    # the time (chance 21%) and the top word on it 94% (chance 5%); seeds 2 and 3 did as well, seed 1 needs more
    # steps (83% accuracy after 200, 100% after 300). A model that does not learn stays near 33% accuracy;
    # attention that ignores the evidence stays near chance.
    results = documents.main(["--quick", "--steps", "200", "--seed", "0", "--out", str(tmp_path)])

    assert results["accuracy"] >= 0.9, results
    assert results["negated_accuracy"] >= 0.9, results  # it reads "not boring" as positive, not as "boring"
    assert results["sentence_rate"] >= 0.9 and results["sentence_rate"] > 3 * results["sentence_chance"], results
    assert results["word_rate"] > 5 * results["word_chance"], results


def test_help_exits_zero():
    finished = subprocess.run([sys.executable, "-m", "demos.documents", "--help"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "usage:" in finished.stdout and "--tiny" in finished.stdout
