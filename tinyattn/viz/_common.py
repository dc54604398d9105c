"""What the pictures share: input checks (arrays, labels, finite values), the colour scale and text widths."""
import unicodedata

import numpy as np

from tinyattn.errors import DTypeError, ShapeError

WORD_COLOR = (8, 64, 140)  # dark blue: the top of the scale for heatmap cells and words
SENTENCE_COLOR = (165, 15, 21)  # dark red: the top of the scale for sentences (a second hue, as in the HAN paper)
PLAIN_SHADES = " ░▒▓█"  # terminal fallback, by increasing density
CHAR_WIDTH = 7.2  # px of one monospace character at font-size 12 (0.6 em), to size the label margins
RESET = "\x1b[0m"

CSS = """body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; padding: 0 1em; color: #222; }
.tinyattn-figure { margin: 1.5em 0; overflow-x: auto; }
.tinyattn-note { color: #555; font-size: 0.9em; }
.tinyattn-tokens, .tinyattn-sentence { line-height: 1.9; margin: 0.3em 0; }"""


# ----- input checks ------------------------------------------------------------------------------------------------
def as_array(values, where, name):
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


def refuse(array, bad, where, what):
    """ValueError naming `what` is wrong, the first value where `bad` is True, its index and the array's shape."""
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{where}: {what}; found {array[index]} at index {index} of an array of shape {array.shape}")


def check_finite(array, where, name):
    refuse(array, ~np.isfinite(array), where, f"{name} must be finite")


def as_matrix(weights, where):
    matrix = as_array(weights, where, "weights")
    if matrix.ndim != 2:
        hint = "; pick one matrix, e.g. weights[0] for the first of a batch" if matrix.ndim > 2 else ""
        raise ShapeError(f"{where}: weights must be 2-D (rows, columns); got shape {matrix.shape}{hint}")
    if matrix.size == 0:
        raise ShapeError(f"{where}: weights are empty (shape {matrix.shape}); nothing to draw")
    check_finite(matrix, where, "weights")
    return matrix


def as_vector(weights, where, name):
    vector = as_array(weights, where, name)
    if vector.ndim != 1:
        raise ShapeError(f"{where}: {name} must be 1-D (one per token); got shape {vector.shape}")
    return vector


def clean(text):
    """str(text) with the characters XML cannot carry and terminals would obey replaced (see the module doc)."""
    text = str(text)
    return "".join(" " if ch in "\t\n\r\x0b\x0c" else "\ufffd" if unicodedata.category(ch) in ("Cc", "Cs")
                   or ch in "\ufffe\uffff" else ch for ch in text)


def string_list(items, where, name):
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{where}: {name} must be a sequence of strings, not one string ({items!r:.40})")
    return [clean(item) for item in items]


def label_list(labels, count, shape, where, name, axis):
    """Cleaned labels, or the indices 0..count-1 when `labels` is None; ShapeError when the count is wrong."""
    if labels is None:
        return [str(index) for index in range(count)]
    labels = string_list(labels, where, name)
    if len(labels) != count:
        raise ShapeError(f"{where}: {len(labels)} {name} for {count} {axis} (weights of shape {shape})")
    return labels


def axis_labels(row_labels, column_labels, shape, where, limit):
    """The row and column labels of the last two axes of `shape`, as ``label_list`` gives them, cut to `limit`."""
    rows = [truncate(label, limit) for label in label_list(row_labels, shape[-2], shape, where, "row_labels", "rows")]
    columns = [truncate(label, limit)
               for label in label_list(column_labels, shape[-1], shape, where, "column_labels", "columns")]
    return rows, columns


# ----- scale and colours -------------------------------------------------------------------------------------------
def scaled(values, vmin, vmax, where):
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


def ramp(t, color=WORD_COLOR):
    """RGB on the straight line from white (t = 0) to `color` (t = 1): every channel falls as t grows."""
    return tuple(round(255 + float(t) * (channel - 255)) for channel in color)


def hex_color(rgb):
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def ink(t):
    """Text colour readable on the shade of t."""
    return "#ffffff" if t > 0.55 else "#000000"


def number(x):
    return f"{x:.1f}".rstrip("0").rstrip(".")


def text_width(text):
    """Columns `text` takes in a terminal or a monospace font (East Asian wide characters take two)."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def truncate(text, limit):
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"




def svg_open(width, height):
    """The opening <svg> tag every picture here starts with: its size, viewBox and font."""
    size = f'width="{number(width)}" height="{number(height)}" viewBox="0 0 {number(width)} {number(height)}"'
    return f'<svg xmlns="http://www.w3.org/2000/svg" {size} font-family="monospace" font-size="12" role="img">'
