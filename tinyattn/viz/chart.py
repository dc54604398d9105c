"""Line charts as SVG: one line per series over a shared x, on linear or log axes, with ticks, a legend and tooltips.

Made for measurements against a size, e.g. the time and peak memory of attention against the sequence length on
log-log axes, where one system may run out of memory before the others: a missing point (NaN or None) breaks its
line there. The standard library and NumPy only, like the rest of viz.
"""
import html
import math
from collections.abc import Mapping

import numpy as np

from tinyattn.errors import ShapeError
from tinyattn.viz import _common as common
from tinyattn.viz._common import CHAR_WIDTH, number, text_width

# Okabe & Ito's colour-blind-safe palette, darkest first; its yellow (#f0e442) is left out, too pale on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
DASHES = (None, "7 4", "2 3")  # after len(PALETTE) series the colours repeat with dashed, then dotted lines
SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
MAX_NAME_LENGTH = 24  # legend names longer than this are cut with "…" (tooltips keep the whole name)


def line_chart_svg(x, series, *, title=None, x_label=None, y_label=None, log_x=False, log_y=False, width=560,
                   height=360):
    """A line chart of one or more series over a shared x, as one ``<svg xmlns=...>`` element: a complete SVG file
    by itself, and embeddable in ``html_page`` as it is. Deterministic: the same input gives the same text.

    x: N numbers, finite and strictly increasing (positive when `log_x`). series: a dict name -> N numbers, drawn in
    the dict's order; NaN or None marks a missing point (e.g. a run that ran out of memory). Arrays, lists and
    tinyattn Tensors are accepted. `log_x`, `log_y` draw that axis on a log scale (values there must be positive).
    width, height: the size of the picture in px (the plot area shrinks to leave room for the labels and legend,
    down to 160 x 120 px, beyond which the picture grows).

    What is drawn, parts marked by class:

    - per series k (in order), one ``<path class="series" data-series="k">`` in its colour (Okabe-Ito, colour-blind
      safe; after 7 series the colours repeat, dashed, then dotted). A missing point breaks the line: the path
      starts a new subpath (``M``) at the next point, so it has one ``M`` per unbroken run, and a point with no
      neighbour shows as its marker alone. A series with no point at all has an empty path;
    - one ``<circle class="marker" data-series="k" data-index="i">`` per finite point, whose ``<title>`` tooltip
      reads ``name: x = 256, y = 0.001234`` (integers in full, other values to 4 significant digits);
    - the plot area ``<rect class="plot-area">`` with light grid lines at the ticks, and the axes
      ``<g class="x-axis">`` and ``<g class="y-axis">`` (attributes data-scale "linear" or "log", data-min and
      data-max: the range shown) holding tick marks, ``<text class="tick-label" data-value="...">`` and the
      ``<text class="axis-label">`` when given. A linear axis has 4 to 8 (5 when possible) evenly spaced ticks
      at multiples of 1, 2 or 5 x 10^k, and spans from the first to the last, so they cover the data. A log axis
      spans the data (plus 4% of its width, in decades, at each end) and has a tick at every power of ten inside
      it (every 2nd, 3rd... when there would be more than 8); when fewer than 3 powers of ten fit, also at 2 and
      5 times them; when even those give fewer than 2 ticks, at the linear ticks inside the range. Tick labels
      are compact: 1k, 2.5M, 10G, 1T for thousands, millions, billions, trillions; 0.5, 0.001 as plain decimals;
      below 0.001 as 1e-4, 2.5e-5; to 3 significant digits, or written out in full (1000.1, 1000.2) when that
      cannot tell the ticks apart;
    - the legend ``<g class="legend">`` right of the plot area (so it never hides data): one
      ``<g class="legend-entry" data-series="k">`` per series with a short line and marker in its colour and the
      name (cut to 24 characters with "…");
    - `title` in bold above the plot (and as the picture's ``<title>``).

    Names and labels are escaped and their control characters replaced (see the module doc of viz).
    Errors, each naming line_chart_svg: ShapeError for x not 1-D or empty, or a series whose shape is not x's;
    DTypeError for values that are not numbers; TypeError when series is not a dict; ValueError for no series,
    a NaN or infinite x, x not strictly increasing, an infinite value in a series, a value <= 0 on a log axis
    (naming the series and index), or a width or height that is not a positive number.
    """
    where = "line_chart_svg"
    for name, size in (("width", width), ("height", height)):
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not (math.isfinite(size) and size > 0):
            raise ValueError(f"{where}: {name} must be a positive number of px; got {size!r}")
    xs = _as_x(x, log_x, where)
    names, ys = _as_series(series, xs.shape, log_y, where)
    x_axis = _Axis(xs, log_x)
    y_axis = _Axis(ys[np.isfinite(ys)], log_y)

    pad, tick = 8.0, 5.0
    title_height = 26.0 if title else 0.0
    legend_names = [common.truncate(name, MAX_NAME_LENGTH) for name in names]
    top = pad + title_height + 8
    left = pad + (20.0 if y_label else 0.0) + max(text_width(label) for label in y_axis.labels) * CHAR_WIDTH + 10
    bottom = 24.0 + (20.0 if x_label else 0.0) + pad
    legend_width = 34 + max(text_width(name) for name in legend_names) * CHAR_WIDTH
    right = 20 + legend_width + pad
    plot_width = max(float(width) - left - right, 160.0)
    plot_height = max(float(height) - top - bottom, 120.0)
    total_width = max(left + plot_width + right, 2 * pad + text_width(common.clean(title or "")) * 8.4)
    total_height = max(top + plot_height + bottom, top + 18 * len(names) + pad)

    def to_px(vx, vy):
        return (left + x_axis.fraction(vx) * plot_width, top + (1 - y_axis.fraction(vy)) * plot_height)

    parts = [common.svg_open(total_width, total_height)]
    if title:
        text = html.escape(common.clean(title))
        parts.append(f"<title>{text}</title>")
        parts.append(f'<text class="title" x="{number(pad)}" y="{number(pad + 14)}" font-size="14" '
                     f'font-weight="bold">{text}</text>')
    bottom_y, right_x = top + plot_height, left + plot_width
    # grid lines, then the frame over them
    parts.append('<g class="grid" stroke="#e8e8e8" stroke-width="1">')
    parts.extend(f'<line x1="{number(px)}" y1="{number(top)}" x2="{number(px)}" y2="{number(bottom_y)}"/>'
                 for px in (to_px(value, y_axis.low)[0] for value in x_axis.ticks))
    parts.extend(f'<line x1="{number(left)}" y1="{number(py)}" x2="{number(right_x)}" y2="{number(py)}"/>'
                 for py in (to_px(x_axis.low, value)[1] for value in y_axis.ticks))
    parts.append("</g>")
    parts.append(f'<rect class="plot-area" x="{number(left)}" y="{number(top)}" width="{number(plot_width)}" '
                 f'height="{number(plot_height)}" fill="none" stroke="#888888" stroke-width="1"/>')
    # axes: tick marks, tick labels, axis labels
    parts.append(f'<g class="x-axis" {x_axis.attributes()} text-anchor="middle">')
    for value, label in zip(x_axis.ticks, x_axis.labels, strict=True):
        px = number(to_px(value, y_axis.low)[0])
        parts.append(f'<line x1="{px}" y1="{number(bottom_y)}" x2="{px}" y2="{number(bottom_y + tick)}" '
                     f'stroke="#888888"/>')
        parts.append(f'<text class="tick-label" data-value="{value!r}" x="{px}" y="{number(bottom_y + tick + 13)}">'
                     f"{label}</text>")
    if x_label:
        parts.append(f'<text class="axis-label" x="{number(left + plot_width / 2)}" '
                     f'y="{number(bottom_y + tick + 35)}">{html.escape(common.clean(x_label))}</text>')
    parts.append("</g>")
    parts.append(f'<g class="y-axis" {y_axis.attributes()} text-anchor="end" dominant-baseline="central">')
    for value, label in zip(y_axis.ticks, y_axis.labels, strict=True):
        py = number(to_px(x_axis.low, value)[1])
        parts.append(f'<line x1="{number(left - tick)}" y1="{py}" x2="{number(left)}" y2="{py}" stroke="#888888"/>')
        parts.append(f'<text class="tick-label" data-value="{value!r}" x="{number(left - tick - 3)}" y="{py}">'
                     f"{label}</text>")
    if y_label:
        x_text, y_text = number(pad + 10), number(top + plot_height / 2)
        parts.append(f'<text class="axis-label" x="{x_text}" y="{y_text}" text-anchor="middle" '
                     f'transform="rotate(-90 {x_text} {y_text})">{html.escape(common.clean(y_label))}</text>')
    parts.append("</g>")
    # lines, then markers over them
    parts.append('<g class="lines" fill="none" stroke-width="2" stroke-linejoin="round" stroke-linecap="round">')
    for k, (name, values) in enumerate(zip(names, ys, strict=True)):
        color, dash = _style(k)
        steps, previous = [], False
        for vx, vy in zip(xs, values, strict=True):
            present = bool(np.isfinite(vy))
            if present:
                px, py = to_px(vx, vy)
                steps.append(f"{'L' if previous else 'M'}{number(px)},{number(py)}")
            previous = present
        parts.append(f'<path class="series" data-series="{k}" d="{" ".join(steps)}" stroke="{color}"{dash}>'
                     f"<title>{html.escape(name)}</title></path>")
    parts.append("</g>")
    parts.append('<g class="markers">')
    for k, (name, values) in enumerate(zip(names, ys, strict=True)):
        color = _style(k)[0]
        for i in np.flatnonzero(np.isfinite(values)):
            px, py = to_px(xs[i], values[i])
            tooltip = html.escape(f"{name}: x = {_value_text(xs[i])}, y = {_value_text(values[i])}")
            parts.append(f'<circle class="marker" data-series="{k}" data-index="{i}" cx="{number(px)}" '
                         f'cy="{number(py)}" r="3" fill="{color}"><title>{tooltip}</title></circle>')
    parts.append("</g>")
    # legend, right of the plot area
    legend_x = right_x + 20
    parts.append('<g class="legend" dominant-baseline="central">')
    for k, name in enumerate(legend_names):
        color, dash = _style(k)
        y = top + 9 + 18 * k
        parts.append(f'<g class="legend-entry" data-series="{k}">'
                     f'<line x1="{number(legend_x)}" y1="{number(y)}" x2="{number(legend_x + 24)}" y2="{number(y)}" '
                     f'stroke="{color}" stroke-width="2"{dash}/>'
                     f'<circle cx="{number(legend_x + 12)}" cy="{number(y)}" r="3" fill="{color}"/>'
                     f'<text x="{number(legend_x + 30)}" y="{number(y)}">{html.escape(name)}</text></g>')
    parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)


# ----- input checks ------------------------------------------------------------------------------------------------
def _as_x(x, log, where):
    xs = common.as_array(x, where, "x")
    if xs.ndim != 1:
        raise ShapeError(f"{where}: x must be 1-D (one value per point); got shape {xs.shape}")
    if xs.size == 0:
        raise ShapeError(f"{where}: x is empty (shape {xs.shape}); nothing to draw")
    common.check_finite(xs, where, "x")
    steps = np.diff(xs)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0))
        raise ValueError(f"{where}: x must be strictly increasing; found x[{i + 1}] = {xs[i + 1]} after "
                         f"x[{i}] = {xs[i]} (x of shape {xs.shape})")
    if log:
        common.refuse(xs, xs <= 0, where, "x must be positive on a log axis (log_x=True)")
    return xs


def _as_series(series, shape, log, where):
    """The cleaned names and the values (S, N) of `series`, NaN where a point is missing."""
    if not isinstance(series, Mapping):
        raise TypeError(f"{where}: series must be a dict name -> values (one per x); got {type(series).__name__}")
    if not series:
        raise ValueError(f"{where}: series is an empty dict; nothing to draw")
    names, rows = [], []
    for key, values in series.items():
        name = common.clean(key)
        what = f"series {name!r}"
        if isinstance(values, (list, tuple)) or (isinstance(values, np.ndarray) and values.dtype == object):
            values = [np.nan if value is None else value for value in values]  # None: a missing point
        row = common.as_array(values, where, what)
        if row.shape != shape:
            raise ShapeError(f"{where}: {what} has shape {row.shape} but x has shape {shape}; give one value per x "
                             "(NaN or None for a missing point)")
        common.refuse(row, np.isinf(row), where, f"{what} must be finite, or NaN for a missing point")
        if log:
            common.refuse(row, row <= 0, where, f"{what} must be positive on a log axis (log_y=True)")
        names.append(name)
        rows.append(row)
    return names, np.array(rows)


# ----- axes --------------------------------------------------------------------------------------------------------
class _Axis:
    """The range [low, high] an axis shows, its ticks and their labels, for the finite `values` drawn on it."""

    def __init__(self, values, log):
        self.log = log
        if values.size == 0:  # no point at all: an empty frame
            low, high = (1.0, 10.0) if log else (0.0, 1.0)
        else:
            low, high = float(values.min()), float(values.max())
        if log:
            start, stop = math.log10(low), math.log10(high)
            margin = 0.04 * (stop - start) if stop > start else 0.5
            self.low, self.high = 10.0 ** (start - margin), 10.0 ** (stop + margin)
            self.ticks = _log_ticks(self.low, self.high)
        else:
            if high == low:
                half = abs(low) / 2 or 1.0
                low, high = low - half, high + half
            self.ticks = _nice_ticks(low, high)
            self.low, self.high = min(low, self.ticks[0]), max(high, self.ticks[-1])
        self.labels = _tick_labels(self.ticks)

    def fraction(self, value):
        """Where `value` lies between low (0) and high (1), on the axis' scale."""
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)

    def attributes(self):
        return f'data-scale="{"log" if self.log else "linear"}" data-min="{self.low!r}" data-max="{self.high!r}"'


def _nice_ticks(low, high):
    """Ticks k * step from floor(low / step) to ceil(high / step), step = 1, 2 or 5 x 10^e: the largest step that
    gives 5 to 8 ticks, else the largest that gives at least 4 (the next larger step gives at most 3, so
    (high - low) / step <= 5 and there are at most 7): always 4 to 8 ticks."""
    exponent = math.floor(math.log10(high - low)) + 1  # 10^exponent > high - low: at most 3 ticks to start with
    first_four = None
    while True:
        for mantissa in (5, 2, 1):
            step = mantissa * 10.0 ** exponent
            first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
            count = last - first + 1
            if count >= 4 and first_four is None:
                first_four = (first, last, exponent, step)
            if count >= 5:
                first, last, exponent, step = (first, last, exponent, step) if count <= 8 else first_four
                digits = max(0, -exponent)
                return [round(k * step, digits) + 0.0 for k in range(first, last + 1)]  # + 0.0: no -0.0
        exponent -= 1


def _log_ticks(low, high):
    """Powers of ten within [low, high]; with 2 and 5 times them when fewer than 3 fit (see line_chart_svg)."""
    start, stop = math.log10(low), math.log10(high)
    exponents = list(range(math.ceil(start), math.floor(stop) + 1))
    if len(exponents) > 8:
        every = math.ceil(len(exponents) / 8)
        exponents = [e for e in exponents if e % every == 0]
    ticks = [float(f"1e{e}") for e in exponents]
    if len(ticks) < 3:
        ticks = [value for e in range(math.floor(start), math.ceil(stop) + 1) for m in (1, 2, 5)
                 if low <= (value := float(f"{m}e{e}")) <= high]
    if len(ticks) < 2:
        ticks = [value for value in _nice_ticks(low, high) if low <= value <= high]
    return ticks


def _tick_labels(ticks):
    """Compact labels for `ticks` (3 significant digits at most); written out in full when that cannot tell them
    apart (close ticks far from zero, e.g. 1000.1, 1000.2)."""
    labels = [_compact(value, 3) for value in ticks]
    if len(set(labels)) < len(labels):
        labels = [np.format_float_positional(value, trim="-") for value in ticks]
    return labels


def _compact(value, digits):
    """1k, 2.5M, 10G, 1T; 0.5, 0.001; 1e-4, 2.5e-5 (see line_chart_svg); `digits` significant digits at most."""
    magnitude = abs(value)
    if value == 0:
        return "0"
    if magnitude < 1e-3 or magnitude >= 1e15:
        mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
        return f"{_strip(mantissa)}e{int(exponent)}"
    for size, suffix in SUFFIXES:
        if magnitude >= size:
            return _strip(f"{value / size:.{digits}g}") + suffix
    return _strip(f"{value:.{digits}g}")


def _strip(text):
    return text.rstrip("0").rstrip(".") if "." in text else text


def _value_text(value):
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"


def _style(k):
    """(colour, ' stroke-dasharray="..."' or '') of series k."""
    dash = DASHES[(k // len(PALETTE)) % len(DASHES)]
    return PALETTE[k % len(PALETTE)], f' stroke-dasharray="{dash}"' if dash else ""
