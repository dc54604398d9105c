"""Pictures of attention weights: SVG heatmaps, self-contained HTML pages, terminal heatmaps and shaded text.

Attention weights say where a model looked: row i of a (Tq, Tk) weight matrix is the distribution of output step
(query) i over the input positions (keys), and it sums to one. Drawing them is the simplest way to read a model.

How to read every picture here: one colour ramp, from white at the bottom of the scale to a dark colour at the
top: darker = larger weight. The scale is absolute by default, ``vmin=0, vmax=1`` (the range of attention
weights), so one shade means one weight in every picture, and a row that spreads its attention evenly over many
positions looks pale. ``vmax=None`` stretches the scale to the largest value shown (relative: the darkest cell is
the largest weight, whatever it is), ``vmin=None`` starts it at the smallest. Values outside [vmin, vmax] are drawn
at the nearest end. Hover over an SVG cell or a shaded word to see its exact value.

Input: NumPy arrays, nested lists or tinyattn Tensors (their ``.data``). Output is text: SVG or HTML markup, or lines
for a terminal; ``save`` writes it. No plotting library: the standard library and NumPy only. Labels and tokens are
escaped (``<``, ``&`` and quotes are safe); control characters in them are replaced by U+FFFD (a space for tabs
and newlines), since XML cannot carry them and a terminal would obey them.
"""
import html
import os
import sys
import unicodedata
from pathlib import Path

import numpy as np

from tinyattn.errors import DTypeError, ShapeError

__all__ = ["head_grid_html", "head_grid_svg", "heatmap_html", "heatmap_svg", "heatmap_text", "highlight_document",
           "highlight_tokens", "html_page", "save"]

WORD_COLOR = (8, 64, 140)  # dark blue: the top of the scale for heatmap cells and words
SENTENCE_COLOR = (165, 15, 21)  # dark red: the top of the scale for sentences (a second hue, as in the HAN paper)
PLAIN_SHADES = " ░▒▓█"  # terminal fallback, by increasing density
CHAR_WIDTH = 7.2  # px of one monospace character at font-size 12 (0.6 em), to size the label margins
RESET = "\x1b[0m"

_CSS = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
.tinyattn-figure { margin: 1.5em 0; overflow-x: auto; }
.tinyattn-note { color: #555; font-size: 0.9em; }
.tinyattn-tokens, .tinyattn-sentence { line-height: 1.9; margin: 0.3em 0; }"""


# ----- input checks ------------------------------------------------------------------------------------------------
def _as_array(values, where, name):
    """A float64 array from an array, nested lists or a Tensor; DTypeError for non-numbers, ShapeError if ragged."""
    if not isinstance(values, np.ndarray) and hasattr(values, "data"):
        values = values.data  # a tinyattn Tensor
    try:
        array = np.asarray(values)
    except ValueError as error:  # NumPy refuses ragged nested lists
        raise ShapeError(f"{where}: {name} must be rectangular; got ragged nested sequences") from error
    if array.dtype == object:
        raise ShapeError(f"{where}: {name} must be a rectangular array of numbers; got dtype object "
                         f"(ragged or mixed nested sequences) of shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"{where}: {name} must be numbers (bool, int or float); got dtype {array.dtype} "
                         f"of shape {array.shape}")
    return array.astype(np.float64)


def _refuse(array, bad, where, what):
    """ValueError naming `what` is wrong, the first value where `bad` is True, its index and the array's shape."""
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{where}: {what}; found {array[index]} at index {index} of an array of shape {array.shape}")


def _check_finite(array, where, name):
    _refuse(array, ~np.isfinite(array), where, f"{name} must be finite")


def _as_matrix(weights, where):
    matrix = _as_array(weights, where, "weights")
    if matrix.ndim != 2:
        hint = "; pick one matrix, e.g. weights[0] for the first of a batch" if matrix.ndim > 2 else ""
        raise ShapeError(f"{where}: weights must be 2-D (rows, columns); got shape {matrix.shape}{hint}")
    if matrix.size == 0:
        raise ShapeError(f"{where}: weights are empty (shape {matrix.shape}); nothing to draw")
    _check_finite(matrix, where, "weights")
    return matrix


def _as_vector(weights, where, name):
    vector = _as_array(weights, where, name)
    if vector.ndim != 1:
        raise ShapeError(f"{where}: {name} must be 1-D (one per token); got shape {vector.shape}")
    return vector


def _clean(text):
    """str(text) with the characters XML cannot carry and terminals would obey replaced (see the module doc)."""
    text = str(text)
    return "".join(" " if ch in "\t\n\r\x0b\x0c" else "\ufffd" if unicodedata.category(ch) in ("Cc", "Cs")
                   or ch in "\ufffe\uffff" else ch for ch in text)


def _strings(items, where, name):
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{where}: {name} must be a sequence of strings, not one string ({items!r:.40})")
    return [_clean(item) for item in items]


def _labels(labels, count, shape, where, name, axis):
    """Cleaned labels, or the indices 0..count-1 when `labels` is None; ShapeError when the count is wrong."""
    if labels is None:
        return [str(index) for index in range(count)]
    labels = _strings(labels, where, name)
    if len(labels) != count:
        raise ShapeError(f"{where}: {len(labels)} {name} for {count} {axis} (weights of shape {shape})")
    return labels


def _axis_labels(row_labels, column_labels, shape, where, limit):
    """The row and column labels of the last two axes of `shape`, as ``_labels`` gives them, cut to `limit`."""
    rows = [_truncate(label, limit) for label in _labels(row_labels, shape[-2], shape, where, "row_labels", "rows")]
    columns = [_truncate(label, limit)
               for label in _labels(column_labels, shape[-1], shape, where, "column_labels", "columns")]
    return rows, columns


# ----- scale and colours -------------------------------------------------------------------------------------------
def _scale(values, vmin, vmax, where):
    """Map values to t in [0, 1] (0 = lightest, 1 = darkest): t = clip((value - vmin) / (vmax - vmin), 0, 1).

    A bound given as None is taken from the data (min or max). When the range taken from the data is empty
    (one value throughout) every t is 0; an empty range given explicitly is an error. Returns (t, low, high).
    """
    if values.size == 0:
        return values, 0.0, 1.0
    low = float(np.min(values)) if vmin is None else float(vmin)
    high = float(np.max(values)) if vmax is None else float(vmax)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{where}: vmin and vmax must be finite; got vmin={vmin}, vmax={vmax}")
    if high <= low:
        if vmin is not None and vmax is not None:
            raise ValueError(f"{where}: vmin ({low}) must be below vmax ({high})")
        return np.zeros_like(values), low, high
    return np.clip((values - low) / (high - low), 0.0, 1.0), low, high


def _ramp(t, color=WORD_COLOR):
    """RGB on the straight line from white (t = 0) to `color` (t = 1): every channel falls as t grows."""
    return tuple(round(255 + float(t) * (channel - 255)) for channel in color)


def _hex(rgb):
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _ink(t):
    """Text colour readable on the shade of t."""
    return "#ffffff" if t > 0.55 else "#000000"


def _number(x):
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _width(text):
    """Columns `text` takes in a terminal or a monospace font (East Asian wide characters take two)."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _truncate(text, limit):
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"


# ----- SVG and HTML heatmaps ---------------------------------------------------------------------------------------
def heatmap_svg(weights, row_labels=None, column_labels=None, title=None, *, vmin=0.0, vmax=1.0, cell_size=24,
                annotate=False, legend=True, max_label_length=24):
    """A heatmap of a weight matrix (R, C) as one ``<svg xmlns=...>`` element: a complete SVG file by itself, and
    embeddable in an HTML page as it is.

    Each weight is a square ``<rect class="cell">`` (R * C of them, row by row), shaded from white (vmin) to dark
    blue (vmax): darker = larger; its ``<title>`` tooltip reads ``row label → column label: value``. For
    attention weights (Tq, Tk) a row is one query's distribution over the keys: an alignment between output and
    input shows as a dark diagonal, a query that looks everywhere as a pale row. See the module doc for the scale.

    Labels default to the indices 0, 1, ...; column labels wider than a cell are rotated to read upwards; labels
    longer than `max_label_length` characters are cut with "…". `annotate=True` writes each value in its cell.
    `legend=True` adds five swatches (``<rect class="legend">``) from vmin to vmax under the grid.
    Errors: ShapeError for non-2-D or empty weights or a wrong number of labels, ValueError for NaN or inf.
    """
    where = "heatmap_svg"
    matrix = _as_matrix(weights, where)
    rows, columns = matrix.shape
    row_labels, column_labels = _axis_labels(row_labels, column_labels, matrix.shape, where, max_label_length)
    shades, low, high = _scale(matrix, vmin, vmax, where)
    cell, pad = float(cell_size), 8.0
    label_width, label_height, rotate = _label_margins(row_labels, column_labels, cell)
    title_height = 26.0 if title else 0.0
    left = pad + label_width
    top = pad + title_height + label_height
    legend_parts, legend_width = _svg_legend(low, high, left, top + rows * cell + 12)
    width = max(left + columns * cell, left + legend_width, pad + _width(title or "") * 8.4) + pad
    height = top + rows * cell + (34 if legend else 0) + pad

    parts = [_svg_open(width, height)]
    if title:
        parts.append(f"<title>{html.escape(_clean(title))}</title>")
        parts.append(f'<text class="title" x="{_number(pad)}" y="{_number(pad + 14)}" font-size="14" '
                     f'font-weight="bold">{html.escape(_clean(title))}</text>')
    parts.extend(_svg_cells(matrix, shades, row_labels, column_labels, left, top, cell))
    if annotate:
        parts.append('<g class="values" font-size="9" text-anchor="middle" dominant-baseline="central">')
        for i in range(rows):
            for j in range(columns):
                parts.append(f'<text x="{_number(left + (j + 0.5) * cell)}" y="{_number(top + (i + 0.5) * cell)}" '
                             f'fill="{_ink(shades[i, j])}">{matrix[i, j]:.2f}</text>')
        parts.append("</g>")
    parts.extend(_svg_labels(row_labels, column_labels, left, top, cell, rotate))
    if legend:
        parts.extend(legend_parts)
    parts.append("</svg>")
    return "\n".join(parts)


def _label_margins(row_labels, column_labels, cell):
    """Room for the labels around a grid of cells: (width left of it, height above it, whether column labels turn
    upwards, which they do when wider than a cell)."""
    column_label_width = max(_width(label) for label in column_labels) * CHAR_WIDTH
    rotate = column_label_width > cell - 4
    return (max(_width(label) for label in row_labels) * CHAR_WIDTH + 8,
            column_label_width + 10 if rotate else 20, rotate)


def _svg_open(width, height):
    size = f'width="{_number(width)}" height="{_number(height)}" viewBox="0 0 {_number(width)} {_number(height)}"'
    return f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="monospace" font-size="12" role="img">'


def _svg_cells(matrix, shades, row_labels, column_labels, left, top, cell, prefix=""):
    """The ``<g class="cells">`` of a matrix (R, C) with its top-left corner at (left, top): one shaded square per
    weight, row by row, whose tooltip reads `prefix` then ``row label → column label: value``."""
    parts = ['<g class="cells" stroke="#d0d0d0" stroke-width="0.5">']
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            x, y, shade = left + j * cell, top + i * cell, shades[i, j]
            tooltip = html.escape(f"{prefix}{row_labels[i]} → {column_labels[j]}: {matrix[i, j]:.4g}")
            parts.append(f'<rect class="cell" data-row="{i}" data-column="{j}" x="{_number(x)}" y="{_number(y)}" '
                         f'width="{_number(cell)}" height="{_number(cell)}" fill="{_hex(_ramp(shade))}">'
                         f"<title>{tooltip}</title></rect>")
    parts.append("</g>")
    return parts


def _svg_labels(row_labels, column_labels, left, top, cell, rotate):
    """The row labels left of a grid of cells whose top-left corner is at (left, top), and the column labels
    above it (turned upwards when `rotate`)."""
    parts = ['<g class="row-labels" text-anchor="end" dominant-baseline="central">']
    for i, label in enumerate(row_labels):
        parts.append(f'<text x="{_number(left - 6)}" y="{_number(top + (i + 0.5) * cell)}">'
                     f"{html.escape(label)}</text>")
    parts.append("</g>")
    anchor = 'text-anchor="start" dominant-baseline="central"' if rotate else 'text-anchor="middle"'
    parts.append(f'<g class="column-labels" {anchor}>')
    for j, label in enumerate(column_labels):
        x, y = _number(left + (j + 0.5) * cell), _number(top - 6)
        turn = f' transform="rotate(-90 {x} {y})"' if rotate else ""
        parts.append(f'<text x="{x}" y="{y}"{turn}>{html.escape(label)}</text>')
    parts.append("</g>")
    return parts


def _svg_legend(low, high, left, y):
    """Five swatches from `low` to `high` between their values, starting at (left, y): (SVG parts, width)."""
    legend_labels = (f"{low:.3g}", f"{high:.3g}")
    x = left + CHAR_WIDTH * len(legend_labels[0]) + 6
    parts = ['<g class="legend" dominant-baseline="central">',
             f'<text x="{_number(left)}" y="{_number(y + 8)}">{legend_labels[0]}</text>']
    for k in range(5):
        parts.append(f'<rect class="legend" x="{_number(x + 16 * k)}" y="{_number(y)}" width="16" height="16" '
                     f'fill="{_hex(_ramp(k / 4))}" stroke="#d0d0d0" stroke-width="0.5"/>')
    parts.append(f'<text x="{_number(x + 16 * 5 + 6)}" y="{_number(y + 8)}">{legend_labels[1]}</text>')
    parts.append("</g>")
    return parts, 16 * 5 + CHAR_WIDTH * sum(len(text) for text in legend_labels) + 20


def heatmap_html(weights, row_labels=None, column_labels=None, title=None, **options):
    """A complete, self-contained HTML page (inline CSS, no scripts, no external files) showing
    ``heatmap_svg(weights, row_labels, column_labels, **options)`` under `title`, with a line on how to read it.
    Open it in any browser; hover over a cell for its value."""
    svg = heatmap_svg(weights, row_labels, column_labels, **options)  # the page's <h1> carries the title
    note = ('<p class="tinyattn-note">One row per query (output step), one column per key (input position); '
            "darker = larger weight. Hover over a cell to read its value.</p>")
    return html_page([note, svg], title=title)


def _as_heads(weights, where):
    """Weights (L, H, Tq, Tk), from (L, H, Tq, Tk) or one layer (H, Tq, Tk); errors for other shapes, empty
    weights, NaN, inf and negative values (attention weights are never negative)."""
    array = _as_array(weights, where, "weights")
    if array.ndim not in (3, 4):
        raise ShapeError(f"{where}: weights must be 4-D (layers, heads, queries, keys) or 3-D (heads, queries, keys) "
                         f"for one layer; got shape {array.shape}")
    if array.size == 0:
        raise ShapeError(f"{where}: weights are empty (shape {array.shape}); nothing to draw")
    _check_finite(array, where, "weights")
    _refuse(array, array < 0, where, "weights must be non-negative")
    return array if array.ndim == 4 else array[np.newaxis]  # (H, Tq, Tk) -> (1, H, Tq, Tk)


def head_grid_svg(weights, row_labels=None, column_labels=None, layer_names=None, head_names=None, title=None, *,
                  vmin=0.0, vmax=1.0, cell_size=16, legend=True, max_label_length=12):
    """The attention weights of every head of every layer, (L, H, Tq, Tk), as one ``<svg>``: a grid of small
    heatmaps, one row of them per layer and one column per head, as ``heatmap_svg`` draws them.

    Each heatmap is a ``<g class="head" data-layer="l" data-head="h">`` (L * H of them, layer by layer, 0-based
    indices) holding its title ``<text class="head-title">`` ("layer 1, head 2", counting from 1, or the given
    names joined by ", "), its Tq * Tk ``<rect class="cell">`` row by row, whose tooltip reads
    ``layer 1, head 2: query label → key label: value``, and its row and column labels. All heatmaps share one
    scale, the module's (absolute, vmin=0 to vmax=1, by default; with ``vmax=None`` the largest weight of the
    whole grid is the darkest), so one shade means one weight in every head; one legend under the grid shows it.

    weights: (L, H, Tq, Tk) or (H, Tq, Tk) for one layer; row_labels: Tq query labels, column_labels: Tk key
    labels (both default to the indices); layer_names: L strings, head_names: H strings. Labels longer than
    `max_label_length` characters are cut with "…". Errors: ShapeError for other shapes, empty weights or a wrong
    number of labels or names, ValueError for NaN, inf or a negative weight; each names head_grid_svg and the shape.
    """
    where = "head_grid_svg"
    heads = _as_heads(weights, where)
    layer_count, head_count, rows, columns = heads.shape
    row_labels, column_labels = _axis_labels(row_labels, column_labels, heads.shape, where, max_label_length)
    if layer_names is None:
        layer_names = [f"layer {index + 1}" for index in range(layer_count)]
    if head_names is None:
        head_names = [f"head {index + 1}" for index in range(head_count)]
    layer_names = _labels(layer_names, layer_count, heads.shape, where, "layer_names", "layers")
    head_names = _labels(head_names, head_count, heads.shape, where, "head_names", "heads")
    shades, low, high = _scale(heads, vmin, vmax, where)
    cell, pad, gap, head_title_height = float(cell_size), 8.0, 16.0, 18.0
    label_width, label_height, rotate = _label_margins(row_labels, column_labels, cell)
    names = [[f"{layer}, {head}" for head in head_names] for layer in layer_names]
    panel_width = max(label_width + columns * cell, max(_width(name) for row in names for name in row) * CHAR_WIDTH)
    panel_height = head_title_height + label_height + rows * cell
    title_height = 26.0 if title else 0.0
    grid_top = pad + title_height
    legend_top = grid_top + layer_count * (panel_height + gap) - gap + 12
    legend_parts, legend_width = _svg_legend(low, high, pad, legend_top)
    width = max(head_count * (panel_width + gap) - gap, legend_width, _width(title or "") * 8.4) + 2 * pad
    height = legend_top - 12 + (34 if legend else 0) + pad

    parts = [_svg_open(width, height)]
    if title:
        parts.append(f"<title>{html.escape(_clean(title))}</title>")
        parts.append(f'<text class="title" x="{_number(pad)}" y="{_number(pad + 14)}" font-size="14" '
                     f'font-weight="bold">{html.escape(_clean(title))}</text>')
    for layer, head in np.ndindex(layer_count, head_count):
        x, y = pad + head * (panel_width + gap), grid_top + layer * (panel_height + gap)
        left, top = x + label_width, y + head_title_height + label_height
        name = names[layer][head]
        parts.append(f'<g class="head" data-layer="{layer}" data-head="{head}">')
        parts.append(f'<text class="head-title" x="{_number(x)}" y="{_number(y + 12)}" font-weight="bold">'
                     f"{html.escape(name)}</text>")
        parts.extend(_svg_cells(heads[layer, head], shades[layer, head], row_labels, column_labels, left, top, cell,
                                prefix=f"{name}: "))
        parts.extend(_svg_labels(row_labels, column_labels, left, top, cell, rotate))
        parts.append("</g>")
    if legend:
        parts.extend(legend_parts)
    parts.append("</svg>")
    return "\n".join(parts)


def head_grid_html(weights, row_labels=None, column_labels=None, layer_names=None, head_names=None, title=None,
                   **options):
    """A complete, self-contained HTML page (inline CSS, no scripts, no external files) showing
    ``head_grid_svg(weights, row_labels, column_labels, layer_names, head_names, **options)`` under `title`, with
    a line on how to read it."""
    svg = head_grid_svg(weights, row_labels, column_labels, layer_names, head_names, **options)
    note = ('<p class="tinyattn-note">One heatmap per attention head: layers down, heads across. In each, one row '
            "per query, one column per key; darker = larger weight, on one scale for all heads. Hover over a cell "
            "to read its value.</p>")
    return html_page([note, svg], title=title)


def html_page(fragments, title=None):
    """A complete HTML5 page (UTF-8, inline CSS, no scripts, no external resources) around `fragments`: a list of
    SVG or HTML strings from this module (or one such string), each in a ``<div class="tinyattn-figure">``, in
    order, under an ``<h1>`` with `title`. Fragments are inserted as markup, not escaped: pass trusted markup."""
    if isinstance(fragments, str):
        fragments = [fragments]
    fragments = list(fragments)
    for index, fragment in enumerate(fragments):
        if not isinstance(fragment, str):
            raise TypeError(f"html_page: fragment {index} must be a str of SVG or HTML; got {type(fragment).__name__}")
    heading = html.escape(_clean(title)) if title else "tinyattn"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{heading}</title>",
             f"<style>\n{_CSS}\n</style>", "</head>", "<body>"]
    if title:
        parts.append(f"<h1>{heading}</h1>")
    parts.extend(f'<div class="tinyattn-figure">\n{fragment}\n</div>' for fragment in fragments)
    parts.extend(["</body>", "</html>", ""])
    return "\n".join(parts)


# ----- terminal heatmap --------------------------------------------------------------------------------------------
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
    space = " " * max(width - _width(text), 0)
    return space + text if right else text + space


def heatmap_text(weights, row_labels=None, column_labels=None, color=None, *, vmin=0.0, vmax=1.0, ansi="24bit",
                 cell_width=2, max_label_length=10, legend=True, chars=PLAIN_SHADES):
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
    matrix = _as_matrix(weights, where)
    rows, columns = matrix.shape
    if ansi not in ("24bit", "256"):
        raise ValueError(f"{where}: ansi must be '24bit' or '256'; got {ansi!r}")
    if len(chars) < 2 or cell_width < 1:
        raise ValueError(f"{where}: needs at least two shading chars and cell_width >= 1; got {chars!r}, {cell_width}")
    row_labels, column_labels = _axis_labels(row_labels, column_labels, matrix.shape, where, max_label_length)
    shades, low, high = _scale(matrix, vmin, vmax, where)
    use_color = _auto_color() if color is None else bool(color)
    label_width = max(_width(label) for label in row_labels)
    indent = " " * (label_width + 2)  # the row label, a space and the left border

    def cell(shade):
        if not use_color:
            return chars[int(shade * (len(chars) - 1) + 0.5)] * cell_width
        if ansi == "256":
            return f"\x1b[48;5;{255 - int(shade * 23 + 0.5)}m" + " " * cell_width  # 255 = light grey, 232 = black
        return "\x1b[48;2;{};{};{}m".format(*_ramp(shade)) + " " * cell_width

    lines = []
    if max(_width(label) for label in column_labels) <= cell_width:
        lines.append(indent + "".join(_pad(label, cell_width) for label in column_labels))
    else:
        for k in range(max(len(label) for label in column_labels)):
            lines.append(indent + "".join(_pad(label[k] if k < len(label) else "", cell_width)
                                          for label in column_labels))
    for i in range(rows):
        cells = "".join(cell(shade) for shade in shades[i]) + (RESET if use_color else "")
        lines.append(f"{_pad(row_labels[i], label_width, right=True)} │{cells}│")
    if legend:
        steps = len(chars) if not use_color else 5
        keys = [(k / (steps - 1), low + (high - low) * k / (steps - 1)) for k in range(steps)]
        lines.append(indent + "scale: " + "  ".join(
            (cell(t) + RESET if use_color else repr(cell(t)[0])) + f" {value:.3g}" for t, value in keys))
    return "\n".join(line.rstrip(" ") if not use_color else line for line in lines) + "\n"


# ----- shaded text -------------------------------------------------------------------------------------------------
def _span(text, value, shade, color, css_class, what="weight"):
    style = (f"background-color:{_hex(_ramp(shade, color))};color:{_ink(shade)};"
             "padding:0.1em 0.2em;border-radius:0.2em")
    return (f'<span class="{css_class}" style="{style}" title="{what} {value:.4g}">'
            f"{html.escape(text)}</span>")


def highlight_tokens(tokens, weights, *, vmin=0.0, vmax=1.0):
    """An HTML fragment: the tokens in order, each in a ``<span class="word">`` whose background is shaded by its
    weight (white = vmin to dark blue = vmax: darker = more attention; the tooltip gives the value), separated by
    spaces, in one ``<p class="tinyattn-tokens">``. tokens: T strings; weights: T numbers (a 1-D array, list or
    Tensor; slice a padded row to ``weights[:len(tokens)]``). Reads as: which words the model looked at."""
    where = "highlight_tokens"
    tokens = _strings(tokens, where, "tokens")
    values = _as_vector(weights, where, "weights")
    if len(values) != len(tokens):
        raise ShapeError(f"{where}: {len(tokens)} tokens but weights of shape {values.shape}; "
                         "pass one weight per token (slice a padded row with weights[:len(tokens)])")
    if not tokens:
        raise ShapeError(f"{where}: no tokens; nothing to draw")
    _check_finite(values, where, "weights")
    shades, _, _ = _scale(values, vmin, vmax, where)
    spans = [_span(token, value, shade, WORD_COLOR, "word")
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
    sentences = [_strings(sentence, where, f"sentence {index}") for index, sentence in enumerate(sentences)]
    if not sentences:
        raise ShapeError(f"{where}: no sentences; nothing to draw")
    document = _as_vector(sentence_weights, where, "sentence_weights")
    if len(document) < len(sentences):
        raise ShapeError(f"{where}: {len(sentences)} sentences but sentence_weights of shape {document.shape}")
    document = document[:len(sentences)]
    _check_finite(document, where, "sentence_weights")
    if isinstance(word_weights, np.ndarray) or hasattr(word_weights, "data"):
        word_weights = _as_array(word_weights, where, "word_weights")  # a padded (S', W) array or Tensor
        if word_weights.ndim != 2:
            raise ShapeError(f"{where}: word_weights must be 2-D (sentences, words); got shape {word_weights.shape}")
    if len(word_weights) < len(sentences):
        raise ShapeError(f"{where}: {len(sentences)} sentences but {len(word_weights)} rows of word_weights")
    words = []
    for index, sentence in enumerate(sentences):
        row = _as_vector(word_weights[index], where, f"word_weights[{index}]")
        if len(row) < len(sentence):
            raise ShapeError(f"{where}: sentence {index} has {len(sentence)} tokens but word_weights[{index}] "
                             f"has shape {row.shape}")
        words.append(row[:len(sentence)])
        _check_finite(words[-1], where, f"word_weights[{index}]")
    sentence_shades, _, _ = _scale(document, vmin, vmax, where)
    all_words = np.concatenate(words)
    word_shades, _, _ = _scale(all_words, vmin, vmax, where)
    starts = np.cumsum([0] + [len(sentence) for sentence in sentences])
    lines = ['<div class="tinyattn-document">']
    for index, sentence in enumerate(sentences):
        marker = _span("\u00a0\u00a0", document[index], sentence_shades[index], SENTENCE_COLOR, "sentence-weight",
                       what=f"sentence {index} weight")
        spans = [_span(token, value, shade, WORD_COLOR, "word") for token, value, shade
                 in zip(sentence, all_words[starts[index]:starts[index + 1]],
                        word_shades[starts[index]:starts[index + 1]], strict=True)]
        lines.append(f'<p class="tinyattn-sentence">{marker} ' + " ".join(spans) + "</p>")
    lines.append("</div>")
    return "\n".join(lines)


def save(text, path):
    """Write `text` (an SVG, an HTML page, terminal lines) to `path` as UTF-8, creating the parent folders;
    returns the path as a pathlib.Path."""
    if not isinstance(text, str):
        raise TypeError(f"save: text must be a str (SVG, HTML or terminal text); got {type(text).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as file:  # newline="": keep "\n" on every platform
        file.write(text)
    return path
