"""The hard-attention demo: its examples say what they claim, a tiny run gives sane results for all five readers and a
chart of their curves, a seeded run repeats bit for bit, and REINFORCE with a baseline learns where to look."""
import math
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from demos import hard

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(("seed", "size", "lengths"), [(0, 300, (20, 50)), (1, 50, (2, 2)), (2, 200, (6, 16))])
def test_examples_hold_one_marker_with_the_target_right_after_it(seed, size, lengths):
    tokens, mask, answer_positions, targets = hard.make_examples(np.random.default_rng(seed), size, *lengths)
    rows = np.arange(size)
    assert tokens.shape == mask.shape == (size, lengths[1]) and mask.dtype == np.bool_
    assert np.all((mask.sum(axis=1) >= lengths[0]) & (mask.sum(axis=1) <= lengths[1]))
    assert np.all(mask[:, :-1] >= mask[:, 1:])  # right padding: the real tokens come first
    assert np.all((tokens == hard.PAD) == ~mask)
    assert np.all((tokens == hard.MARKER).sum(axis=1) == 1)  # exactly one marker
    assert np.all(tokens[rows, answer_positions - 1] == hard.MARKER)
    assert np.all(mask[rows, answer_positions])  # the answer is a real token: the marker is never last
    assert np.all(tokens[rows, answer_positions] == targets)
    assert np.all((targets > hard.MARKER) & (targets < hard.VOCAB_SIZE))  # a letter


def test_default_examples_have_20_to_50_letters_and_put_the_answer_anywhere():
    _, mask, answer_positions, _ = hard.make_examples(np.random.default_rng(0), 5000)
    lengths = mask.sum(axis=1)
    assert lengths.min() == hard.MIN_LENGTH == 20 and lengths.max() == hard.MAX_LENGTH == 50
    assert answer_positions.min() == 1 and answer_positions.max() == 49  # from right after position 0 to the end


@pytest.mark.parametrize(("size", "lengths"), [(0, (20, 50)), (5, (1, 10)), (5, (30, 20))])
def test_make_examples_refuses_bad_sizes_and_lengths(size, lengths):
    with pytest.raises(ValueError, match="make_examples"):
        hard.make_examples(np.random.default_rng(0), size, *lengths)


def test_tiny_mode_runs_every_reader_and_draws_their_curves(tmp_path, capsys):
    results = hard.main(["--tiny", "--out", str(tmp_path)])

    assert results["mode"] == "tiny" and results["steps"] == hard.MODES["tiny"]["steps"]
    steps = results["curve_steps"]
    assert steps[0] == 0 and steps[-1] == results["steps"] and steps == sorted(set(steps))
    for field in ("accuracy", "answer_weight", "steps_to_target", "seconds", "curves"):
        assert list(results[field]) == list(hard.MODELS), field
    for name in hard.MODELS:
        assert 0.0 <= results["accuracy"][name] <= 1.0
        assert 0.0 <= results["answer_weight"][name] <= 1.0
        assert math.isfinite(results["seconds"][name]) and results["seconds"][name] >= 0.0
        curve = results["curves"][name]
        assert len(curve) == len(steps) and all(0.0 <= value <= 1.0 for value in curve)
        assert curve[-1] == results["accuracy"][name]  # the last point is the final evaluation
        assert results["steps_to_target"][name] in (None, *steps)

    chart = ElementTree.parse(results["out"]).getroot()
    assert chart.tag == f"{SVG}svg" and results["out"].startswith(str(tmp_path))
    lines = [path for path in chart.iter(f"{SVG}path") if path.get("class") == "series"]
    assert len(lines) == len(hard.MODELS)
    printed = capsys.readouterr().out
    assert all(name in printed for name in hard.MODELS) and "steps to 90%" in printed
    assert hard.headline(results).startswith(f"steps to 90% (of {results['steps']}): soft ")


def _trained_parameters(name, seed, draw_seed, steps=5):
    """A reader trained a few steps by `name`'s recipe: its parameters (copies) and its held-out evaluation."""
    settings = dict(hard.MODES["tiny"], steps=steps)
    spec = hard.MODELS[name]
    model = hard.Reader(spec["attention"], settings["dim"], np.random.default_rng(seed))
    held_out = hard.make_examples(np.random.default_rng(seed + 1), 30)
    hard.train(model, hard.make_baseline(spec["baseline"], settings), settings, np.random.default_rng(seed + 2),
               np.random.default_rng(draw_seed), held_out)
    return [parameter.data.copy() for parameter in model.parameters()], hard.evaluate(model, held_out)


@pytest.mark.parametrize("name", list(hard.MODELS))
def test_a_seeded_run_repeats_bit_for_bit(name):
    first, first_evaluation = _trained_parameters(name, seed=4, draw_seed=5)
    again, again_evaluation = _trained_parameters(name, seed=4, draw_seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert first_evaluation == again_evaluation
    if hard.MODELS[name]["attention"] != "soft":  # the draws come from their generator, and they matter
        other, _ = _trained_parameters(name, seed=4, draw_seed=6)
        assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_main_with_the_same_seed_gives_the_same_results(tmp_path, capsys):
    argv = ["--tiny", "--steps", "6", "--seed", "3"]
    first = hard.main([*argv, "--out", str(tmp_path / "first")])
    again = hard.main([*argv, "--out", str(tmp_path / "again")])
    for field in ("accuracy", "answer_weight", "steps_to_target", "curves", "curve_steps"):
        assert first[field] == again[field], field


def test_steps_to_target_is_the_first_evaluation_at_or_above_it():
    assert hard.steps_to([0, 20, 40, 60], [0.0, 0.5, 0.9, 0.95]) == 40
    assert hard.steps_to([0, 20, 40], [0.0, 0.5, 0.89]) is None


def test_headline_gives_steps_to_90_percent_or_the_final_accuracy():
    names = list(hard.MODELS)
    results = {"steps": 600, "steps_to_target": dict(zip(names, (80, None, 280, 140, 160), strict=True)),
               "accuracy": dict(zip(names, (1.0, 0.06, 1.0, 1.0, 1.0), strict=True))}
    assert hard.headline(results) == (
        "steps to 90% (of 600): soft 80, no baseline never (6%), EMA 280, RLOO 140, Gumbel 160")


@pytest.mark.parametrize("name", ["REINFORCE, EMA baseline", f"REINFORCE, RLOO (k={hard.DRAWS})"])
def test_reinforce_with_a_baseline_learns_where_to_look(name):
    # Seeds fixed (parameters 10, batches 11, draws 12, held-out 13), so this never flakes. With the quick mode's
    # settings both readers started at 5% held-out accuracy (chance is 1/26) and, evaluated every 50 steps, passed
    # 90% at step 200 (EMA) and 150 (RLOO); after 300 steps both were at 100%, their argmax on the answer every time
    # (measured, about 1 s each on 2 cores). The policy learns only through REINFORCE here: a broken reward,
    # baseline or log-probability leaves its argmax off the answer and the accuracy near chance.
    settings = dict(hard.MODES["quick"], steps=300, eval_every=300)
    spec = hard.MODELS[name]
    model = hard.Reader(spec["attention"], settings["dim"], np.random.default_rng(10))
    held_out = hard.make_examples(np.random.default_rng(13), 300)
    _, curve, _ = hard.train(model, hard.make_baseline(spec["baseline"], settings), settings,
                             np.random.default_rng(11), np.random.default_rng(12), held_out)
    accuracy, on_answer = hard.evaluate(model, held_out)

    assert curve[0] <= 0.15, curve  # it starts near chance...
    assert accuracy >= 0.8, accuracy  # ...and ends far above it: 0.8 is ~68 standard errors above chance
    assert on_answer >= 0.8, on_answer  # by looking at the answer
