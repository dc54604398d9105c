"""The dates demo: its data say what they claim (every date of a text reads back, with datetime, as the matching ISO
date of its target, in order), and the demo runs end to end, writes its pictures and answers --help."""
import datetime
import math
import pathlib
import re
import subprocess
import sys
from html.parser import HTMLParser
from xml.etree import ElementTree

import numpy as np
import pytest

from demos import dates_data

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# The test's own reading of a template: datetime.strptime directives (whose %y is 1970..2049 for 70..49, the data's
# documented rule), ordinals read as plain days once their suffix is checked and removed.
STRPTIME = {"{d}": "%d", "{dd}": "%d", "{do}": "%d", "{m}": "%m", "{mm}": "%m", "{month}": "%B", "{mon}": "%b",
            "{yyyy}": "%Y", "{yy}": "%y", "{weekday}": "%A", "{wkd}": "%a"}
# ... and a regular expression per field, to find where each date of a text begins and ends.
PATTERNS = {"{d}": r"\d{1,2}", "{dd}": r"\d{2}", "{do}": r"\d{1,2}[a-zA-Z]{2}", "{m}": r"\d{1,2}", "{mm}": r"\d{2}",
            "{month}": r"[a-zA-Z]+", "{mon}": r"[a-zA-Z]{3}", "{yyyy}": r"\d{4}", "{yy}": r"\d{2}",
            "{weekday}": r"[a-zA-Z]+", "{wkd}": r"[a-zA-Z]{3}"}
SUFFIXES = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def parse_back(text, template):
    """The date `text` names, read with datetime.strptime and the template (independently of dates_data.render)."""
    pattern = template
    for field, directive in STRPTIME.items():
        pattern = pattern.replace(field, directive)
    if "{do}" in template:
        match = re.search(r"(\d{1,2})(st|nd|rd|th)\b", text, flags=re.IGNORECASE)
        assert match, text
        assert match.group(2).lower() == SUFFIXES.get(int(match.group(1)), "th"), text
        text = text[:match.start()] + match.group(1) + text[match.end():]
    return datetime.datetime.strptime(text, pattern).date()  # strptime matches names and words in any case


def template_regex(template):
    """A regular expression matching what `template` writes (any case)."""
    pieces = re.split(r"(\{[a-z]+\})", template)
    return "".join(PATTERNS[piece] if piece in PATTERNS else re.escape(piece) for piece in pieces)


def split_dates(text, layout):
    """The texts of the dates in `text`, in order, found with the layout's joiner and templates."""
    regex = re.escape(layout.joiner)
    for number, template in enumerate(layout.templates):
        regex = regex.replace(re.escape("{" + str(number) + "}"), f"({template_regex(template)})")
    match = re.fullmatch(regex, text, flags=re.IGNORECASE)  # "of", "the" follow the case of their date
    assert match, (text, layout)
    return list(match.groups())


@pytest.fixture(scope="module")
def examples():
    return dates_data.make_dates(np.random.default_rng(0), 5000)


def test_every_date_of_a_text_reads_back_as_its_iso_target_in_order(examples):
    for text, iso, layout in examples:
        parts = split_dates(text, layout)
        dates = [parse_back(part, template) for part, template in zip(parts, layout.templates, strict=True)]
        assert " ".join(date.isoformat() for date in dates) == iso, (text, iso, layout)
        assert all(dates_data.FIRST_DAY <= date <= dates_data.LAST_DAY for date in dates)


def test_split_dates_can_fail_on_a_text_its_layout_did_not_write():
    layout = dates_data.Layout("{0} and {1}", ("{dd}/{mm}/{yy}", "{yyyy}-{mm}-{dd}"))
    assert split_dates("03/03/98 and 2001-05-04", layout) == ["03/03/98", "2001-05-04"]
    with pytest.raises(AssertionError):
        split_dates("03/03/98, 2001-05-04", layout)


def test_targets_are_one_to_three_iso_dates_separated_by_spaces(examples):
    for _, iso, layout in examples:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}( \d{4}-\d{2}-\d{2}){0,2}", iso), iso
        assert len(iso.split(" ")) == len(layout.templates)
        for part in iso.split(" "):
            assert datetime.date.fromisoformat(part).isoformat() == part


def test_every_count_of_dates_appears_about_equally_and_longer_texts_hold_more_dates(examples):
    numbers = np.array([len(layout.templates) for _, _, layout in examples])
    lengths = np.array([len(text) for text, _, _ in examples])
    assert set(numbers) == set(dates_data.COUNTS) == {1, 2, 3}
    for number in dates_data.COUNTS:
        assert abs(np.mean(numbers == number) - 1 / 3) < 0.03
    # Content grows with length: the mean length rises with the number of dates, and the two correlate strongly.
    means = [lengths[numbers == number].mean() for number in dates_data.COUNTS]
    assert means[0] < means[1] < means[2]
    assert np.corrcoef(numbers, lengths)[0, 1] > 0.7
    assert {layout.joiner for _, _, layout in examples} == {joiner for joiners in dates_data.JOINERS.values()
                                                              for joiner in joiners}
    assert {len(iso) for _, iso, _ in examples} == {10, 21, 32}


def test_counts_can_be_fixed(examples):
    for number in dates_data.COUNTS:
        drawn = dates_data.make_dates(3, 200, counts=(number,))
        assert {len(layout.templates) for _, _, layout in drawn} == {number}
    with pytest.raises(ValueError, match="counts"):
        dates_data.make_dates(3, 10, counts=(4,))


def test_week_days_are_the_true_ones(examples):
    for text, iso, layout in examples:
        for part, template, day in zip(split_dates(text, layout), layout.templates, iso.split(" "), strict=True):
            if "{weekday}" in template or "{wkd}" in template:
                weekday = datetime.date.fromisoformat(day).strftime("%a").lower()  # C locale in the test runner
                assert part.lower().startswith(weekday), (part, day)


def test_every_format_and_every_case_appears_and_lengths_vary_widely(examples):
    pairs = [(part, template) for text, _, layout in examples
             for part, template in zip(split_dates(text, layout), layout.templates, strict=True)]
    assert {template for _, template in pairs} == set(dates_data.FORMATS)
    worded = [part for part, template in pairs if dates_data.has_words(template)]
    assert any(part == part.lower() for part in worded)
    assert any(part == part.upper() for part in worded)
    assert any(part not in (part.lower(), part.upper()) for part in worded)
    lengths = [len(text) for text, _, _ in examples]
    assert min(lengths) <= 7 and max(lengths) >= 80
    assert len(set(lengths)) >= 70


def test_two_digit_years_and_the_whole_range_of_years_are_covered(examples):
    years = [int(day[:4]) for _, iso, _ in examples for day in iso.split(" ")]
    assert min(years) <= 1971 and max(years) >= 2048
    short_years = {int(day[:4]) for _, iso, layout in examples
                   for day, template in zip(iso.split(" "), layout.templates, strict=True) if "{yy}" in template}
    assert any(year < 2000 for year in short_years) and any(year >= 2000 for year in short_years)


def test_ordinal_suffixes():
    assert [dates_data.ordinal(day) for day in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 24, 30, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "24th", "30th", "31st"]


def test_same_seed_gives_the_same_examples_and_another_seed_others():
    assert dates_data.make_dates(7, 300) == dates_data.make_dates(np.random.default_rng(7), 300)
    assert dates_data.make_dates(7, 300) != dates_data.make_dates(8, 300)


def test_encode_batch_pads_masks_and_ends_targets_with_eos_then_padding(examples):
    batch = examples[:64]
    source_ids, source_mask, target_ids = dates_data.encode_batch(batch)
    lengths = [len(text) for text, _, _ in batch]
    assert source_ids.shape == (64, max(lengths)) and source_ids.dtype == np.int64
    assert source_mask.dtype == bool and np.array_equal(source_mask.sum(axis=1), lengths)
    assert np.all((source_ids == dates_data.SOURCE.pad_id) == ~source_mask)
    target_lengths = [len(iso) for _, iso, _ in batch]
    assert target_ids.shape == (64, max(target_lengths) + 1) and target_ids.dtype == np.int64
    for row, (text, iso, _) in enumerate(batch):
        assert dates_data.SOURCE.decode(source_ids[row]) == text
        assert dates_data.TARGET.decode(target_ids[row]) == iso
        assert target_ids[row, len(iso)] == dates_data.TARGET.eos_id
        assert np.all(target_ids[row, len(iso) + 1:] == dates_data.TARGET.pad_id)
    specials = {dates_data.TARGET.pad_id, dates_data.TARGET.bos_id, dates_data.TARGET.eos_id}
    assert specials == {0, 1, 2}


# ----- the demo ---------------------------------------------------------------------------------------------
class _TagCounter(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def test_dates_runs_end_to_end_in_tiny_mode_and_writes_its_pictures(tmp_path, capsys):
    from demos import dates

    results = dates.main(["--tiny", "--out", str(tmp_path)])

    assert results["mode"] == "tiny" and results["steps"] == dates.MODES["tiny"]["steps"]
    assert results["models"] == list(dates.MODELS)  # tiny mode runs every model, local-p included
    for name in dates.MODELS:
        assert 0.0 <= results["accuracy"][name] <= 1.0
        assert math.isfinite(results["loss"][name]) and math.isfinite(results["seconds"][name])
        by_length = results["accuracy_by_length"][name]
        assert set(by_length) == {label for label, _, _ in dates.BUCKETS} | {"all"}
    assert sum(results["counts"][label] for label, _, _ in dates.BUCKETS) == results["counts"]["all"]

    # Attention models only draw alignments: one SVG each per example shown, each a valid SVG document.
    names = [pathlib.Path(path).stem for path in results["pictures"]]
    assert len(names) == 3 * dates.MODES["tiny"]["show"]
    for model in ("bahdanau", "luong", "luong-local-p"):
        assert sum(name.endswith("-" + model) for name in names) == dates.MODES["tiny"]["show"], names
    assert not any("no-attention" in name for name in names)
    for path in results["pictures"]:
        path = pathlib.Path(path)
        assert path.parent == tmp_path and path.suffix == ".svg"
        root = ElementTree.fromstring(path.read_text(encoding="utf-8"))
        assert root.tag.endswith("svg") and any(element.tag.endswith("rect") for element in root.iter())
    page = pathlib.Path(results["page"])
    assert page.parent == tmp_path and page.suffix == ".html"
    parser = _TagCounter()
    parser.feed(page.read_text(encoding="utf-8"))
    assert "html" in parser.tags and parser.tags.count("svg") == len(results["pictures"])

    printed = capsys.readouterr().out
    assert "step" in printed and "loss" in printed  # progress while training
    assert "61+" in printed and "31-45" in printed  # the accuracy table, by length
    assert "\u2588" in printed or "\u2591" in printed or "\u2592" in printed or "\u2593" in printed  # a heatmap
    assert str(tmp_path) in printed and "alignments.html" in printed  # where the pictures are


def test_dates_help_exits_zero():
    finished = subprocess.run(
        [sys.executable, "-m", "demos.dates", "--help"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    assert "usage:" in finished.stdout and "--tiny" in finished.stdout and "--quick" in finished.stdout
