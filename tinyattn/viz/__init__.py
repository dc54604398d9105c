"""Pictures of attention weights: SVG heatmaps, self-contained HTML pages, terminal heatmaps and shaded text.

Attention weights say where a model looked: row i of a (Tq, Tk) weight matrix is the distribution of output step
(query) i over the input positions (keys), and it sums to one. Drawing them is the simplest way to read a model.

How to read every picture here: one colour ramp, from white at the bottom of the scale to a dark colour at the
top: darker = larger weight. The scale is absolute by default, ``vmin=0, vmax=1`` (the range of attention
weights), so one shade means one weight in every picture, and a row that spreads its attention evenly over many
positions looks pale. ``vmax=None`` stretches the scale to the largest value shown (relative: the darkest cell is
the largest weight, whatever it is), ``vmin=None`` starts it at the smallest. Values outside [vmin, vmax] are drawn
at the nearest end. Hover over an SVG cell or a shaded word to see its exact value.
``svg_open`` starts an SVG of one's own drawing with the font and size every picture here uses.
``line_chart_svg`` draws something else: lines of measurements against a size (say time and memory against the
sequence length), on linear or log axes, with a legend and a tooltip on every point.

Input: NumPy arrays, nested lists or tinyattn Tensors (their ``.data``). Output is text: SVG or HTML markup, or lines
for a terminal; ``save`` writes it. No plotting library: the standard library and NumPy only. Labels and tokens are
escaped (``<``, ``&`` and quotes are safe); control characters in them are replaced by U+FFFD (a space for tabs
and newlines), since XML cannot carry them and a terminal would obey them.
"""
from pathlib import Path

from tinyattn.viz._common import PLAIN_SHADES, RESET, SENTENCE_COLOR, WORD_COLOR, svg_open
from tinyattn.viz.chart import line_chart_svg
from tinyattn.viz.svg import head_grid_html, head_grid_svg, heatmap_html, heatmap_svg, html_page
from tinyattn.viz.text import heatmap_text, highlight_document, highlight_tokens

__all__ = ["head_grid_html", "head_grid_svg", "heatmap_html", "heatmap_svg", "heatmap_text", "highlight_document",
           "highlight_tokens", "html_page", "line_chart_svg", "save", "svg_open", "PLAIN_SHADES", "RESET",
           "SENTENCE_COLOR", "WORD_COLOR"]


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
