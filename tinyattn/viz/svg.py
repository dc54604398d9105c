"""SVG heatmaps (one matrix, or a grid of layers x heads) and self-contained HTML pages around them."""
import html

import numpy as np

from tinyattn.errors import ShapeError
from tinyattn.viz import _common as common
from tinyattn.viz._common import CHAR_WIDTH, hex_color, number, ramp, text_width


def heatmap_svg(weights, row_labels=None, column_labels=None, title=None, *, vmin=0.0, vmax=1.0, cell_size=24,
                annotate=False, legend=True, max_label_length=24):
    """A heatmap of a weight matrix (R, C) as one ``<svg xmlns=...>`` element: a complete SVG file by itself, and
    embeddable in an HTML page as it is.

    Each weight is a square ``<rect class="cell">`` (R * C of them, row by row), shaded from white (vmin) to dark
    blue (vmax): darker = larger; its ``<title>`` tooltip reads ``row label → column label: value``. A cell carries
    its place as ``data-row`` and ``data-column`` (0-based) beside its ``x``, ``y``, ``width`` and ``height``, so a
    caller can find cells again and draw over them (frame the rows of an answer span, say: demos/pairs.py). For
    attention weights (Tq, Tk) a row is one query's distribution over the keys: an alignment between output and
    input shows as a dark diagonal, a query that looks everywhere as a pale row. See the module doc for the scale.

    Labels default to the indices 0, 1, ...; column labels wider than a cell are rotated to read upwards; labels
    longer than `max_label_length` characters are cut with "…". `annotate=True` writes each value in its cell.
    `legend=True` adds five swatches (``<rect class="legend">``) from vmin to vmax under the grid.
    Errors: ShapeError for non-2-D or empty weights or a wrong number of labels, ValueError for NaN or inf.
    """
    where = "heatmap_svg"
    matrix = common.as_matrix(weights, where)
    rows, columns = matrix.shape
    row_labels, column_labels = common.axis_labels(row_labels, column_labels, matrix.shape, where, max_label_length)
    shades, low, high = common.scaled(matrix, vmin, vmax, where)
    cell, pad = float(cell_size), 8.0
    label_width, label_height, rotate = _label_margins(row_labels, column_labels, cell)
    title_height = 26.0 if title else 0.0
    left = pad + label_width
    top = pad + title_height + label_height
    legend_parts, legend_width = _svg_legend(low, high, left, top + rows * cell + 12)
    width = max(left + columns * cell, left + legend_width, pad + text_width(title or "") * 8.4) + pad
    height = top + rows * cell + (34 if legend else 0) + pad

    parts = [common.svg_open(width, height)]
    if title:
        parts.append(f"<title>{html.escape(common.clean(title))}</title>")
        parts.append(f'<text class="title" x="{number(pad)}" y="{number(pad + 14)}" font-size="14" '
                     f'font-weight="bold">{html.escape(common.clean(title))}</text>')
    parts.extend(_svg_cells(matrix, shades, row_labels, column_labels, left, top, cell))
    if annotate:
        parts.append('<g class="values" font-size="9" text-anchor="middle" dominant-baseline="central">')
        for i in range(rows):
            for j in range(columns):
                parts.append(f'<text x="{number(left + (j + 0.5) * cell)}" y="{number(top + (i + 0.5) * cell)}" '
                             f'fill="{common.ink(shades[i, j])}">{matrix[i, j]:.2f}</text>')
        parts.append("</g>")
    parts.extend(_svg_labels(row_labels, column_labels, left, top, cell, rotate))
    if legend:
        parts.extend(legend_parts)
    parts.append("</svg>")
    return "\n".join(parts)


def _label_margins(row_labels, column_labels, cell):
    """Room for the labels around a grid of cells: (width left of it, height above it, whether column labels turn
    upwards, which they do when wider than a cell)."""
    column_label_width = max(text_width(label) for label in column_labels) * CHAR_WIDTH
    rotate = column_label_width > cell - 4
    return (max(text_width(label) for label in row_labels) * CHAR_WIDTH + 8,
            column_label_width + 10 if rotate else 20, rotate)


def _svg_cells(matrix, shades, row_labels, column_labels, left, top, cell, prefix=""):
    """The ``<g class="cells">`` of a matrix (R, C) with its top-left corner at (left, top): one shaded square per
    weight, row by row, whose tooltip reads `prefix` then ``row label → column label: value``."""
    parts = ['<g class="cells" stroke="#d0d0d0" stroke-width="0.5">']
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            x, y, shade = left + j * cell, top + i * cell, shades[i, j]
            tooltip = html.escape(f"{prefix}{row_labels[i]} → {column_labels[j]}: {matrix[i, j]:.4g}")
            parts.append(f'<rect class="cell" data-row="{i}" data-column="{j}" x="{number(x)}" y="{number(y)}" '
                         f'width="{number(cell)}" height="{number(cell)}" fill="{hex_color(ramp(shade))}">'
                         f"<title>{tooltip}</title></rect>")
    parts.append("</g>")
    return parts


def _svg_labels(row_labels, column_labels, left, top, cell, rotate):
    """The row labels left of a grid of cells whose top-left corner is at (left, top), and the column labels
    above it (turned upwards when `rotate`)."""
    parts = ['<g class="row-labels" text-anchor="end" dominant-baseline="central">']
    for i, label in enumerate(row_labels):
        parts.append(f'<text x="{number(left - 6)}" y="{number(top + (i + 0.5) * cell)}">'
                     f"{html.escape(label)}</text>")
    parts.append("</g>")
    anchor = 'text-anchor="start" dominant-baseline="central"' if rotate else 'text-anchor="middle"'
    parts.append(f'<g class="column-labels" {anchor}>')
    for j, label in enumerate(column_labels):
        x, y = number(left + (j + 0.5) * cell), number(top - 6)
        turn = f' transform="rotate(-90 {x} {y})"' if rotate else ""
        parts.append(f'<text x="{x}" y="{y}"{turn}>{html.escape(label)}</text>')
    parts.append("</g>")
    return parts


def _svg_legend(low, high, left, y):
    """Five swatches from `low` to `high` between their values, starting at (left, y): (SVG parts, width)."""
    legend_labels = (f"{low:.3g}", f"{high:.3g}")
    x = left + CHAR_WIDTH * len(legend_labels[0]) + 6
    parts = ['<g class="legend" dominant-baseline="central">',
             f'<text x="{number(left)}" y="{number(y + 8)}">{legend_labels[0]}</text>']
    for k in range(5):
        parts.append(f'<rect class="legend" x="{number(x + 16 * k)}" y="{number(y)}" width="16" height="16" '
                     f'fill="{hex_color(ramp(k / 4))}" stroke="#d0d0d0" stroke-width="0.5"/>')
    parts.append(f'<text x="{number(x + 16 * 5 + 6)}" y="{number(y + 8)}">{legend_labels[1]}</text>')
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
    array = common.as_array(weights, where, "weights")
    if array.ndim not in (3, 4):
        raise ShapeError(f"{where}: weights must be 4-D (layers, heads, queries, keys) or 3-D (heads, queries, keys) "
                         f"for one layer; got shape {array.shape}")
    if array.size == 0:
        raise ShapeError(f"{where}: weights are empty (shape {array.shape}); nothing to draw")
    common.check_finite(array, where, "weights")
    common.refuse(array, array < 0, where, "weights must be non-negative")
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
    row_labels, column_labels = common.axis_labels(row_labels, column_labels, heads.shape, where, max_label_length)
    if layer_names is None:
        layer_names = [f"layer {index + 1}" for index in range(layer_count)]
    if head_names is None:
        head_names = [f"head {index + 1}" for index in range(head_count)]
    layer_names = common.label_list(layer_names, layer_count, heads.shape, where, "layer_names", "layers")
    head_names = common.label_list(head_names, head_count, heads.shape, where, "head_names", "heads")
    shades, low, high = common.scaled(heads, vmin, vmax, where)
    cell, pad, gap, head_title_height = float(cell_size), 8.0, 16.0, 18.0
    label_width, label_height, rotate = _label_margins(row_labels, column_labels, cell)
    names = [[f"{layer}, {head}" for head in head_names] for layer in layer_names]
    panel_width = max(label_width + columns * cell, max(text_width(name) for row in names for name in row) * CHAR_WIDTH)
    panel_height = head_title_height + label_height + rows * cell
    title_height = 26.0 if title else 0.0
    grid_top = pad + title_height
    legend_top = grid_top + layer_count * (panel_height + gap) - gap + 12
    legend_parts, legend_width = _svg_legend(low, high, pad, legend_top)
    width = max(head_count * (panel_width + gap) - gap, legend_width, text_width(title or "") * 8.4) + 2 * pad
    height = legend_top - 12 + (34 if legend else 0) + pad

    parts = [common.svg_open(width, height)]
    if title:
        parts.append(f"<title>{html.escape(common.clean(title))}</title>")
        parts.append(f'<text class="title" x="{number(pad)}" y="{number(pad + 14)}" font-size="14" '
                     f'font-weight="bold">{html.escape(common.clean(title))}</text>')
    for layer, head in np.ndindex(layer_count, head_count):
        x, y = pad + head * (panel_width + gap), grid_top + layer * (panel_height + gap)
        left, top = x + label_width, y + head_title_height + label_height
        name = names[layer][head]
        parts.append(f'<g class="head" data-layer="{layer}" data-head="{head}">')
        parts.append(f'<text class="head-title" x="{number(x)}" y="{number(y + 12)}" font-weight="bold">'
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
    heading = html.escape(common.clean(title)) if title else "tinyattn"
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{heading}</title>",
             f"<style>\n{common.CSS}\n</style>", "</head>", "<body>"]
    if title:
        parts.append(f"<h1>{heading}</h1>")
    parts.extend(f'<div class="tinyattn-figure">\n{fragment}\n</div>' for fragment in fragments)
    parts.extend(["</body>", "</html>", ""])
    return "\n".join(parts)

