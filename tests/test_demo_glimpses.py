"""The glimpses demo: its canvases hold each digit where it was placed, the split is by image, a tiny run gives sane
results for all three models and draws one glimpse path per example, a seeded run repeats, and the learned RAM
learns."""
import math
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from demos import glimpses

SVG = "{http://www.w3.org/2000/svg}"


def test_digits_are_upscaled_to_16x16_in_0_1_with_their_labels():
    digits, labels = glimpses.load_digits()
    assert digits.shape == (1797, glimpses.DIGIT_SIZE, glimpses.DIGIT_SIZE) and digits.dtype == np.float32
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert digits.min() == 0.0 and digits.max() == 1.0
    assert np.array_equal(digits[:, ::2, ::2], digits[:, 1::2, 1::2])  # every 2x2 block holds one 8x8 pixel
    assert np.array_equal(digits[:, ::2, ::2], digits[:, 1::2, ::2])
    assert np.array_equal(digits[:, ::2, ::2] * 16, np.round(digits[:, ::2, ::2] * 16))  # the counts 0..16, / 16


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_canvases_hold_each_digit_exactly_where_it_was_placed(seed):
    rng = np.random.default_rng(seed)
    digits = rng.random((50, glimpses.DIGIT_SIZE, glimpses.DIGIT_SIZE)).astype(np.float32) + 0.5  # no zero pixel
    canvases, labels, positions = glimpses.make_canvases(rng, digits, np.arange(50))
    size = glimpses.DIGIT_SIZE
    assert canvases.shape == (50, glimpses.CANVAS_SIZE, glimpses.CANVAS_SIZE) and canvases.dtype == np.float32
    assert np.array_equal(labels, np.arange(50))
    for canvas, digit, (row, column) in zip(canvases, digits, positions, strict=True):
        assert np.array_equal(canvas[row:row + size, column:column + size], digit)
        assert np.count_nonzero(canvas) == size * size  # nothing anywhere else


def test_random_positions_keep_the_digit_inside_and_reach_every_edge():
    positions = glimpses.random_positions(np.random.default_rng(0), 5000)
    last = glimpses.CANVAS_SIZE - glimpses.DIGIT_SIZE
    assert positions.min() == 0 and positions.max() == last
    assert set(np.unique(positions).tolist()) == set(range(last + 1))


def test_the_split_is_by_image_with_no_overlap_and_repeats_with_its_seed():
    train, held_out = glimpses.split_by_image(np.random.default_rng(0), 1797)
    assert (len(train), len(held_out)) == (1297, glimpses.HELD_OUT)
    assert not set(train.tolist()) & set(held_out.tolist())
    assert sorted([*train.tolist(), *held_out.tolist()]) == list(range(1797))
    again, _ = glimpses.split_by_image(np.random.default_rng(0), 1797)
    other, _ = glimpses.split_by_image(np.random.default_rng(1), 1797)
    assert np.array_equal(train, again) and not np.array_equal(train, other)
    with pytest.raises(ValueError, match="split_by_image"):
        glimpses.split_by_image(np.random.default_rng(0), 10, held_out=10)


def test_on_digit_says_whether_each_glimpse_centre_is_inside_the_digit():
    positions = np.array([[0, 0], [24, 10]])  # top-left corners in a 40x40 canvas; the digit is 16x16
    pixels = np.array([[[0, 0], [15.9, 15.9], [16, 8], [8, 30]],  # centres (row, column) in pixels
                       [[24, 10], [39.9, 25.9], [23.9, 12], [30, 26]]])
    locations = pixels / glimpses.CANVAS_SIZE * 2.0 - 1.0
    assert glimpses.on_digit(locations, positions).tolist() == [[True, True, False, False], [True, True, False, False]]


def test_tiny_mode_runs_the_three_models_and_draws_one_glimpse_path_per_example(tmp_path, capsys):
    results = glimpses.main(["--tiny", "--show", "4", "--out", str(tmp_path)])
    settings = glimpses.MODES["tiny"]

    assert results["mode"] == "tiny" and results["steps"] == settings["steps"]
    steps = results["curve_steps"]
    assert steps[0] == 0 and steps[-1] == results["steps"] and steps == sorted(set(steps))
    for field in ("accuracy", "on_digit", "parameters", "seconds", "curves"):
        assert list(results[field]) == list(glimpses.MODELS), field
    for name in glimpses.MODELS:
        assert 0.0 <= results["accuracy"][name] <= 1.0
        assert math.isfinite(results["seconds"][name]) and results["seconds"][name] >= 0.0
        assert results["curves"][name][-1] == results["accuracy"][name] and len(results["curves"][name]) == len(steps)
        assert results["parameters"][name] > 0
    learned, random, mlp = glimpses.MODELS
    assert 0.0 <= results["on_digit"][learned] <= 1.0 and 0.0 <= results["on_digit"][random] <= 1.0
    assert results["on_digit"][mlp] is None  # the MLP takes no glimpse

    picture = ElementTree.parse(results["out"]).getroot()
    assert picture.tag == f"{SVG}svg" and results["out"].startswith(str(tmp_path))
    paths = [path for path in picture.iter(f"{SVG}path") if path.get("class") == "glimpse-path"]
    assert len(paths) == 4
    assert all(path.get("d").count("L") == settings["glimpses"] - 1 for path in paths)  # one point per glimpse
    squares = [rect for rect in picture.iter(f"{SVG}rect") if rect.get("class") == "glimpse"]
    assert len(squares) == 4 * (settings["glimpses"] + settings["scales"] - 1)  # the first glimpse: all scales
    assert len([text for text in picture.iter(f"{SVG}text") if text.get("class") == "prediction"]) == 4
    chart = ElementTree.parse(results["chart"]).getroot()
    assert len([path for path in chart.iter(f"{SVG}path") if path.get("class") == "series"]) == 3

    printed = capsys.readouterr().out
    assert all(name in printed for name in glimpses.MODELS) and "glimpses on the digit" in printed
    assert glimpses.headline(results).startswith("held-out accuracy: RAM learned ")


def test_headline_gives_the_held_out_accuracy_of_the_three_models():
    results = {"chance": 0.1, "accuracy": dict(zip(glimpses.MODELS, (0.884, 0.75, 0.768), strict=True))}
    assert glimpses.headline(results) == (
        "held-out accuracy: RAM learned 88.4%, RAM random 75.0%, MLP 76.8% (chance 10%)")


def test_a_glimpse_square_is_drawn_around_its_patch():
    canvases = np.zeros((1, glimpses.CANVAS_SIZE, glimpses.CANVAS_SIZE), np.float32)
    canvases[0, 10, 20] = 1.0
    locations = np.array([[[0.0, 0.0], [-0.5, 0.5]]])  # (B, T, 2): the centre, then pixel (10, 30)
    svg = glimpses.glimpse_picture(canvases, np.array([3]), np.array([3]), locations, 8, 2, "test")
    picture = ElementTree.fromstring(svg)
    inner = [rect for rect in picture.iter(f"{SVG}rect") if rect.get("data-scale") == "0"]
    pixel = glimpses.PIXEL
    assert [(float(rect.get("y")), float(rect.get("x"))) for rect in inner] == [(16 * pixel, 16 * pixel),
                                                                                (6 * pixel, 26 * pixel)]
    assert [rect for rect in picture.iter(f"{SVG}rect") if rect.get("class") == "pixel"][0].get("x") == str(20 * pixel)


def test_main_with_the_same_seed_gives_the_same_results(tmp_path, capsys):
    argv = ["--tiny", "--steps", "4", "--seed", "3"]
    first = glimpses.main([*argv, "--out", str(tmp_path / "first")])
    again = glimpses.main([*argv, "--out", str(tmp_path / "again")])
    for field in ("accuracy", "on_digit", "curves", "curve_steps", "parameters"):
        assert first[field] == again[field], field
    with open(first["out"], encoding="utf-8") as drawn, open(again["out"], encoding="utf-8") as redrawn:
        assert drawn.read() == redrawn.read()  # the same places drawn, the same predictions


def test_the_learned_ram_learns_to_read_digits_from_its_glimpses():
    # Seeds fixed (split 10, held-out places 11, parameters 12, batches 13, draws 14), so this never flakes. With the
    # quick mode's settings but 200 steps of 64 canvases, the learned RAM went from 11% to 25% held-out accuracy on
    # 300 canvases (seeds 12 and 13 for the parameters: 25% and 24%; about 3 s on 2 cores). 0.18 is about 5 standard
    # errors above chance (10%); a RAM whose glimpses or gradients were broken would stay at chance. Learning where
    # to look takes far longer (the demo's quick mode, 1500 steps of 128).
    digits, labels = glimpses.load_digits()
    train, held_out = glimpses.split_by_image(np.random.default_rng(10), len(digits))
    held_out = glimpses.make_canvases(np.random.default_rng(11), digits[held_out[:300]], labels[held_out[:300]])
    settings = dict(glimpses.MODES["quick"], steps=200, batch=64, eval_every=200)
    model = glimpses.build(glimpses.MODELS[0], settings, np.random.default_rng(12))
    _, curve, _ = glimpses.train(model, settings, np.random.default_rng(13), np.random.default_rng(14),
                                 (digits[train], labels[train]), held_out, eval_seed=0)

    assert curve[0] <= 0.15, curve  # it starts near chance...
    assert curve[-1] >= 0.18, curve  # ...and ends well above it


def test_the_policy_sigma_falls_linearly_from_its_start_to_its_end():
    settings = dict(glimpses.MODES["quick"], steps=5, location_std=0.3, final_location_std=0.1)
    sigmas = [glimpses.location_std_at(step, settings) for step in range(1, 6)]
    assert np.allclose(sigmas, [0.3, 0.25, 0.2, 0.15, 0.1])
    assert glimpses.location_std_at(1, dict(settings, steps=1)) == 0.3  # a single step uses the start
