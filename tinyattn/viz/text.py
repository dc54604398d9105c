"""Attention for a terminal (a heatmap of coloured or shaded blocks) and words shaded by their weights in HTML."""
import html
import os
import sys

import numpy as np

from tinyattn.errors import ShapeError
from tinyattn.viz import _common as common


def _auto_color():
    """Colour when stdout is a terminal, unless NO_COLOR is set (no-color.org: present and not empty) or
    TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(sys.stdout is not None and sys.stdout.isatty())
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def _pad(text, width, right=False):
    space = " " * max(width - common.text_width(text), 0)
    return space + text if right else text + space


def heatmap_text(weights, row_labels=None, column_labels=None, color=None, *, vmin=0.0, vmax=1.0, ansi="24bit",
                 cell_width=2, max_label_length=10, legend=True, chars=common.PLAIN_SHADES):
    """A heatmap of a weight matrix (R, C) for a terminal: a string of lines, to print.

    The column labels come first (written downwards, one character per line, when they do not fit a cell), then
    one line per row: its label, then ``│``, one cell of `cell_width` characters per weight, and ``│``; then a
    legend line. `color` True paints each cell's background on the module's ramp (white = vmin to dark blue =
    vmax: darker = larger) with ANSI escapes, 24-bit (`ansi="24bit"`) or the 256-colour grey ramp
    (`ansi="256"`); `color` False gives the plain fallback without any escape code, where each cell repeats a
    character of increasing density, `chars` = " ░▒▓█" (blank = vmin, full block = vmax: denser = larger);
    `color` None (the default) means colour only when sys.stdout is a terminal and NO_COLOR is not set.
    Labels default to the indices, and are cut to `max_label_length` characters with "…". About 30 columns fit
    an 80-column terminal with the default cell_width=2. Errors as for ``heatmap_svg``.
    """
    where = "heatmap_text"
    matrix = common.as_matrix(weights, where)
    rows, columns = matrix.shape
    if ansi not in ("24bit", "256"):
        raise ValueError(f"{where}: ansi must be '24bit' or '256'; got {ansi!r}")
    if len(chars) < 2 or cell_width < 1:
        raise ValueError(f"{where}: needs at least two shading chars and cell_width >= 1; got {chars!r}, {cell_width}")
    row_labels, column_labels = common.axis_labels(row_labels, column_labels, matrix.shape, where, max_label_length)
    shades, low, high = common.scaled(matrix, vmin, vmax, where)
    use_color = _auto_color() if color is None else bool(color)
    label_width = max(common.text_width(label) for label in row_labels)
    indent = " " * (label_width + 2)  # the row label, a space and the left border

    def cell(shade):
        if not use_color:
            return chars[int(shade * (len(chars) - 1) + 0.5)] * cell_width
        if ansi == "256":
            return f"\x1b[48;5;{255 - int(shade * 23 + 0.5)}m" + " " * cell_width  # 255 = light grey, 232 = black
        return "\x1b[48;2;{};{};{}m".format(*common.ramp(shade)) + " " * cell_width

    lines = []
    if max(common.text_width(label) for label in column_labels) <= cell_width:
        lines.append(indent + "".join(_pad(label, cell_width) for label in column_labels))
    else:
        for k in range(max(len(label) for label in column_labels)):
            lines.append(indent + "".join(_pad(label[k] if k < len(label) else "", cell_width)
                                          for label in column_labels))
    for i in range(rows):
        cells = "".join(cell(shade) for shade in shades[i]) + (common.RESET if use_color else "")
        lines.append(f"{_pad(row_labels[i], label_width, right=True)} │{cells}│")
    if legend:
        steps = len(chars) if not use_color else 5
        keys = [(k / (steps - 1), low + (high - low) * k / (steps - 1)) for k in range(steps)]
        lines.append(indent + "scale: " + "  ".join(
            (cell(t) + common.RESET if use_color else repr(cell(t)[0])) + f" {value:.3g}" for t, value in keys))
    return "\n".join(line.rstrip(" ") if not use_color else line for line in lines) + "\n"


# ----- shaded text -------------------------------------------------------------------------------------------------
def _span(text, value, shade, color, css_class, what="weight"):
    style = (f"background-color:{common.hex_color(common.ramp(shade, color))};color:{common.ink(shade)};"
             "padding:0.1em 0.2em;border-radius:0.2em")
    return (f'<span class="{css_class}" style="{style}" title="{what} {value:.4g}">'
            f"{html.escape(text)}</span>")


def highlight_tokens(tokens, weights, *, vmin=0.0, vmax=1.0):
    """An HTML fragment: the tokens in order, each in a ``<span class="word">`` whose background is shaded by its
    weight (white = vmin to dark blue = vmax: darker = more attention; the tooltip gives the value), separated by
    spaces, in one ``<p class="tinyattn-tokens">``. tokens: T strings; weights: T numbers (a 1-D array, list or
    Tensor; slice a padded row to ``weights[:len(tokens)]``). Reads as: which words the model looked at."""
    where = "highlight_tokens"
    tokens = common.string_list(tokens, where, "tokens")
    values = common.as_vector(weights, where, "weights")
    if len(values) != len(tokens):
        raise ShapeError(f"{where}: {len(tokens)} tokens but weights of shape {values.shape}; "
                         "pass one weight per token (slice a padded row with weights[:len(tokens)])")
    if not tokens:
        raise ShapeError(f"{where}: no tokens; nothing to draw")
    common.check_finite(values, where, "weights")
    shades, _, _ = common.scaled(values, vmin, vmax, where)
    spans = [_span(token, value, shade, common.WORD_COLOR, "word")
             for token, value, shade in zip(tokens, values, shades, strict=True)]
    return '<p class="tinyattn-tokens">' + " ".join(spans) + "</p>"


def highlight_document(sentences, word_weights, sentence_weights, *, vmin=0.0, vmax=1.0):
    """An HTML fragment, the picture of a Hierarchical Attention Network (Yang et al., 2016): one line per
    sentence, led by a square ``<span class="sentence-weight">`` shaded by the sentence's weight (white to dark
    red: how much the document vector draws on that sentence), followed by its words, each in a
    ``<span class="word">`` shaded by its own weight within the sentence (white to dark blue). Read it as: the red
    squares say which sentences decided the class, the blue words which words made each sentence count.

    sentences: S lists of token strings (sentences may be empty); word_weights: per sentence a sequence of weights,
    ragged lists or a padded (S', W) array, W >= the sentence's length (extra columns, padding, are ignored);
    sentence_weights: S' >= S numbers (extra ones, padded sentences, are ignored). Word and sentence weights
    share `vmin` / `vmax`; with vmax=None each level is scaled to its own largest weight in the document.
    """
    where = "highlight_document"
    sentences = [sentences] if isinstance(sentences, (str, bytes)) else list(sentences)
    if any(isinstance(sentence, (str, bytes)) for sentence in sentences):
        raise TypeError(f"{where}: sentences must be a list of token lists (one list of strings per sentence)")
    sentences = [common.string_list(sentence, where, f"sentence {index}") for index, sentence in enumerate(sentences)]
    if not sentences:
        raise ShapeError(f"{where}: no sentences; nothing to draw")
    document = common.as_vector(sentence_weights, where, "sentence_weights")
    if len(document) < len(sentences):
        raise ShapeError(f"{where}: {len(sentences)} sentences but sentence_weights of shape {document.shape}")
    document = document[:len(sentences)]
    common.check_finite(document, where, "sentence_weights")
    if isinstance(word_weights, np.ndarray) or hasattr(word_weights, "data"):
        word_weights = common.as_array(word_weights, where, "word_weights")  # a padded (S', W) array or Tensor
        if word_weights.ndim != 2:
            raise ShapeError(f"{where}: word_weights must be 2-D (sentences, words); got shape {word_weights.shape}")
    if len(word_weights) < len(sentences):
        raise ShapeError(f"{where}: {len(sentences)} sentences but {len(word_weights)} rows of word_weights")
    words = []
    for index, sentence in enumerate(sentences):
        row = common.as_vector(word_weights[index], where, f"word_weights[{index}]")
        if len(row) < len(sentence):
            raise ShapeError(f"{where}: sentence {index} has {len(sentence)} tokens but word_weights[{index}] "
                             f"has shape {row.shape}")
        words.append(row[:len(sentence)])
        common.check_finite(words[-1], where, f"word_weights[{index}]")
    sentence_shades, _, _ = common.scaled(document, vmin, vmax, where)
    all_words = np.concatenate(words)
    word_shades, _, _ = common.scaled(all_words, vmin, vmax, where)
    starts = np.cumsum([0] + [len(sentence) for sentence in sentences])
    lines = ['<div class="tinyattn-document">']
    for index, sentence in enumerate(sentences):
        marker = _span("\u00a0\u00a0", document[index], sentence_shades[index], common.SENTENCE_COLOR,
                       "sentence-weight", what=f"sentence {index} weight")
        spans = [_span(token, value, shade, common.WORD_COLOR, "word") for token, value, shade
                 in zip(sentence, all_words[starts[index]:starts[index + 1]],
                        word_shades[starts[index]:starts[index + 1]], strict=True)]
        lines.append(f'<p class="tinyattn-sentence">{marker} ' + " ".join(spans) + "</p>")
    lines.append("</div>")
    return "\n".join(lines)

