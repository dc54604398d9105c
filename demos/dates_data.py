"""Data for the dates demo: one to three dates written the ways people write them, paired with their ISO forms.

    Tuesday, 3rd of March 1998                  ->  1998-03-03
    03/03/98 and 4 MAY 2001                     ->  1998-03-03 2001-05-04
    03/03/98, 1999-01-02 and jan 5 2011         ->  1998-03-03 1999-01-02 2011-01-05

An example holds 1, 2 or 3 dates (equally likely by default), joined by one of JOINERS ("{0} and {1}",
"from {0} to {1}", "{0}, {1}, {2}", ...); its target is their ISO forms, in order, separated by a space. So the
more dates a text holds, the longer it is and the more the answer must carry: the length of the input says how
much content it has. Each date is a random day between 1970-01-01 and 2049-12-31, written with one of FORMATS
(picked uniformly, independently for each date) and, for formats with words, in one of three cases (as written,
lower, UPPER). Everything comes from the standard library (``datetime``) and a seeded ``np.random.Generator``:
nothing is downloaded.

Each format has one reading. Numbers are day first unless the year comes first (``dd/mm/yyyy``, ``yyyy-mm-dd``;
no American month-first numbers, which would make ``03/04/98`` ambiguous). Two-digit years follow the rule of
``datetime.strptime``'s ``%y``: 70..99 are 1970..1999 and 00..49 are 2000..2049, so they are never ambiguous in the
range above. Week days are the true ones (a model may ignore them: the date alone decides the answer).

A format is a template with these fields (see ``render``):

    {d} {dd}        day, 3 / 03             {do}        ordinal day, 3rd
    {m} {mm}        month, 3 / 03           {month} {mon}   March / Mar
    {yyyy} {yy}     year, 1998 / 98         {weekday} {wkd} Tuesday / Tue

Sequences are characters. The source vocabulary has the padding id 0 and then every character a date can use; the
target vocabulary has padding 0, begin 1, end 2 and then the characters of ISO dates and the space between them
("0123456789- ").
"""
import datetime
from typing import NamedTuple

import numpy as np

FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)

FORMATS = (
    # numbers only
    "{d}/{m}/{yy}",
    "{dd}/{mm}/{yy}",
    "{dd}/{mm}/{yyyy}",
    "{d}.{m}.{yy}",
    "{dd}.{mm}.{yyyy}",
    "{dd}-{mm}-{yyyy}",
    "{yyyy}-{mm}-{dd}",
    "{yyyy}/{mm}/{dd}",
    "{yyyy}{mm}{dd}",
    # with month names, day names and ordinals
    "{d} {mon} {yy}",
    "{dd}-{mon}-{yyyy}",
    "{d} {month} {yyyy}",
    "{mon} {d} {yyyy}",
    "{month} {d}, {yyyy}",
    "{month} {do}, {yyyy}",
    "{do} {month} {yyyy}",
    "{do} of {month} {yyyy}",
    "the {do} of {month}, {yyyy}",
    "{yyyy} {month} {d}",
    "{wkd} {d} {mon} {yy}",
    "{wkd}, {dd} {mon} {yyyy}",
    "{weekday}, {month} {d}, {yyyy}",
    "{weekday}, {do} of {month} {yyyy}",
    "{weekday} the {do} of {month}, {yyyy}",
)
CASES = ("as written", "lower", "upper")
CASE_PROBABILITIES = (0.5, 0.3, 0.2)

# Month and day names are spelled out here, not taken from `calendar`, whose names follow the locale.
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

SOURCE_CHARACTERS = " ,-./0123456789;" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TARGET_CHARACTERS = "0123456789- "

# How an example's dates are joined, by their number: "{0}", "{1}", ... are the dates, in order.
JOINERS = {
    1: ("{0}",),
    2: ("{0} and {1}", "{0}, {1}", "{0}; {1}", "from {0} to {1}", "between {0} and {1}", "{0} then {1}"),
    3: ("{0}, {1} and {2}", "{0}, {1}, {2}", "{0}; {1}; {2}", "{0} then {1} then {2}", "from {0} to {1}, then {2}"),
}
COUNTS = (1, 2, 3)
DATE_LENGTH = 10  # of an ISO date: the longest target is COUNTS[-1] dates, the spaces between them and the end


class Layout(NamedTuple):
    """How an example is written: `joiner` (one of JOINERS) joins dates written with `templates` (of FORMATS)."""
    joiner: str
    templates: tuple


def ordinal(day):
    """'1st', '2nd', '3rd', '4th', ..., '11th', '12th', '13th', ..., '21st', ..., '31st'."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th') }"


def render(date, template, case="as written"):
    """`date` (a datetime.date) written with `template` (one of FORMATS) in `case` (one of CASES)."""
    text = template.format(
        d=date.day, dd=f"{date.day:02d}", do=ordinal(date.day),
        m=date.month, mm=f"{date.month:02d}", month=MONTHS[date.month - 1], mon=MONTHS[date.month - 1][:3],
        yyyy=f"{date.year:04d}", yy=f"{date.year % 100:02d}",
        weekday=WEEKDAYS[date.weekday()], wkd=WEEKDAYS[date.weekday()][:3],
    )
    if case == "lower":
        return text.lower()
    if case == "upper":
        return text.upper()
    if case != "as written":
        raise ValueError(f"render: case must be one of {CASES}, got {case!r}")
    return text


def has_words(template):
    """True when the format writes a name or an ordinal, so that its case can change."""
    return any(field in template for field in ("{do}", "{month}", "{mon}", "{weekday}", "{wkd}", "the"))


def make_dates(rng, size, formats=FORMATS, counts=COUNTS):
    """`size` examples as a list of (text, iso, layout): the text, its dates' ISO forms joined by spaces, and how it
    was written (a Layout: the joiner and each date's template).

    rng: an np.random.Generator or an int seed. The number of dates is uniform over `counts` (values 1 to 3), the
    joiner uniform over JOINERS[number], each date uniform over FIRST_DAY..LAST_DAY, each format uniform over
    `formats`, each case drawn with CASE_PROBABILITIES (numbers-only formats are left as they are).
    """
    rng = np.random.default_rng(rng)
    if not counts or any(count not in JOINERS for count in counts):
        raise ValueError(f"make_dates: counts must be taken from {tuple(JOINERS)}, got {counts!r}")
    examples = []
    for number in rng.choice(counts, size=size):
        joiners = JOINERS[int(number)]
        joiner = joiners[rng.integers(len(joiners))]
        days = rng.integers(FIRST_DAY.toordinal(), LAST_DAY.toordinal() + 1, size=number)
        templates = tuple(formats[index] for index in rng.integers(0, len(formats), size=number))
        cases = rng.choice(len(CASES), size=number, p=CASE_PROBABILITIES)
        dates = [datetime.date.fromordinal(int(day)) for day in days]
        texts = [render(date, template, CASES[case] if has_words(template) else "as written")
                 for date, template, case in zip(dates, templates, cases, strict=True)]
        examples.append((joiner.format(*texts), " ".join(date.isoformat() for date in dates),
                         Layout(joiner, templates)))
    return examples


class Vocabulary:
    """Characters <-> integer ids, with padding 0 and, when `specials` asks for them, begin (bos) and end (eos)."""

    def __init__(self, characters, specials=("<pad>",)):
        self.symbols = list(specials) + list(characters)
        self.ids = {symbol: index for index, symbol in enumerate(self.symbols)}
        self.pad_id = self.ids["<pad>"]
        self.bos_id = self.ids.get("<bos>")
        self.eos_id = self.ids.get("<eos>")

    def __len__(self):
        return len(self.symbols)

    def encode(self, text):
        """The ids of the characters of `text` (a KeyError names a character the vocabulary lacks)."""
        return [self.ids[character] for character in text]

    def decode(self, ids):
        """The text of `ids` up to the first end or padding id; begin ids are skipped."""
        characters = []
        for index in ids:
            index = int(index)
            if index in (self.eos_id, self.pad_id):
                break
            if index != self.bos_id:
                characters.append(self.symbols[index])
        return "".join(characters)


SOURCE = Vocabulary(SOURCE_CHARACTERS)
TARGET = Vocabulary(TARGET_CHARACTERS, specials=("<pad>", "<bos>", "<eos>"))


def encode_batch(examples):
    """Padded arrays for a list of (text, iso, ...) examples.

    Returns source_ids (B, S) int64 (S = the longest text, padding id 0 after each text), source_mask (B, S) bool
    (True = a real character) and target_ids (B, T) int64: the characters of each target (ISO dates and the spaces
    between them), then the end id, then padding id 0 up to T = the longest target + 1.
    """
    sources = [SOURCE.encode(example[0]) for example in examples]
    source_ids = _padded(sources, SOURCE.pad_id)
    source_mask = np.arange(source_ids.shape[1])[None, :] < np.array([len(ids) for ids in sources])[:, None]
    target_ids = _padded([TARGET.encode(example[1]) + [TARGET.eos_id] for example in examples], TARGET.pad_id)
    return source_ids, source_mask, target_ids


def _padded(rows, pad_id):
    """Lists of ids as one (len(rows), longest) int64 array, each row followed by pad_id."""
    array = np.full((len(rows), max(len(row) for row in rows)), pad_id, dtype=np.int64)
    for index, row in enumerate(rows):
        array[index, :len(row)] = row
    return array
