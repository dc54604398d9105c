"""tinyattn.viz.line_chart_svg: every chart is parsed back as XML and checked for its parts (one path per series,
one marker per finite point, ticks, legend), its tooltips, its scales (nice linear ticks, decades on log axes,
a mapping monotone in the value), its escaping and its errors."""
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyattn as ta
from tinyattn import viz

SVG = "{http://www.w3.org/2000/svg}"
NASTY = 'a<b & "c"'
SIZES = [256, 512, 1024, 2048, 4096, 8192, 16384]


# ----- helpers: parse what line_chart_svg writes -------------------------------------------------------------------
def parse(svg):
    return ET.fromstring(svg)


def by_class(root, tag, name):
    return [element for element in root.iter(f"{SVG}{tag}") if element.get("class") == name]


def group(root, name):
    (found,) = by_class(root, "g", name)
    return found


def ticks(root, axis):
    """(values, labels, pixel positions along the axis) of the tick labels of "x-axis" or "y-axis"."""
    labels = by_class(group(root, axis), "text", "tick-label")
    position = "x" if axis == "x-axis" else "y"
    return ([float(t.get("data-value")) for t in labels], [t.text for t in labels],
            [float(t.get(position)) for t in labels])


def axis_range(root, axis):
    element = group(root, axis)
    return element.get("data-scale"), float(element.get("data-min")), float(element.get("data-max"))


def plot_area(root):
    (rect,) = by_class(root, "rect", "plot-area")
    x, y = float(rect.get("x")), float(rect.get("y"))
    return x, y, x + float(rect.get("width")), y + float(rect.get("height"))


def inside(root, marker):
    """Whether a marker's centre lies in the plot area (up to the 0.1 px the coordinates are rounded to)."""
    left, top, right, bottom = plot_area(root)
    x, y = float(marker.get("cx")), float(marker.get("cy"))
    return left - 0.11 <= x <= right + 0.11 and top - 0.11 <= y <= bottom + 0.11


def markers(root, series=None):
    found = by_class(root, "circle", "marker")
    return [m for m in found if series is None or m.get("data-series") == str(series)]


def subpaths(path):
    """The runs of a path's d: one list of (x, y) per "M", the points joined to it by "L"."""
    runs = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+),(-?[\d.]+)", path.get("d")):
        if command == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


def tooltip_values(marker):
    """(name, x, y) read back from a marker's tooltip "name: x = ..., y = ..."."""
    name, x, y = re.fullmatch(r"(.*): x = (\S+), y = (\S+)", marker.find(f"{SVG}title").text).groups()
    return name, float(x), float(y)


def one_two_five(value, rel_tol=1e-9):
    """The number 1, 2 or 5 x 10^k that `value` is (up to rel_tol), or None."""
    exponent = math.floor(math.log10(value) + 1e-6)
    mantissa = value / 10.0 ** exponent
    return next((float(f"{m}e{exponent}") for m in (1, 2, 5, 10) if math.isclose(mantissa, m, rel_tol=rel_tol)), None)


# ----- structure ---------------------------------------------------------------------------------------------------
def test_one_path_per_series_one_marker_per_finite_point_and_gaps_break_the_line():
    x = [1, 2, 3, 4, 5, 6]
    series = {"whole": [1, 2, 3, 4, 5, 6], "gaps": [2.0, 3.0, None, 5.0, np.nan, 1.0], "empty": [None] * 6}
    root = parse(viz.line_chart_svg(x, series))
    paths = by_class(root, "path", "series")
    assert [p.get("data-series") for p in paths] == ["0", "1", "2"]
    assert len(markers(root)) == 6 + 4
    assert [len(markers(root, k)) for k in range(3)] == [6, 4, 0]
    assert [int(m.get("data-index")) for m in markers(root, 1)] == [0, 1, 3, 5]
    assert [len(run) for run in subpaths(paths[0])] == [6]
    assert [len(run) for run in subpaths(paths[1])] == [2, 1, 1]  # a run per unbroken stretch; lone points alone
    assert paths[2].get("d") == ""
    # each path vertex is the centre of that point's marker
    vertices = [point for run in subpaths(paths[1]) for point in run]
    assert vertices == [(float(m.get("cx")), float(m.get("cy"))) for m in markers(root, 1)]


def test_tooltips_carry_the_name_and_values_of_each_point():
    x = [256, 1024, 4096]
    y = [0.000123456, 2.5, 1234567.0]
    root = parse(viz.line_chart_svg(x, {"full": y}))
    read = [tooltip_values(m) for m in markers(root)]
    assert [name for name, _, _ in read] == ["full"] * 3
    assert [vx for _, vx, _ in read] == x
    assert [vy for _, _, vy in read] == pytest.approx(y, rel=1e-3)
    assert markers(root)[0].find(f"{SVG}title").text == "full: x = 256, y = 0.0001235"


def test_legend_lists_the_names_in_order_in_the_colours_of_their_lines_right_of_the_plot():
    names = [f"series {k}" for k in range(9)]
    series = {name: np.arange(1.0, 4.0) + k for k, name in enumerate(names)}
    root = parse(viz.line_chart_svg([1, 2, 3], series))
    entries = by_class(root, "g", "legend-entry")
    assert [e.find(f"{SVG}text").text for e in entries] == names
    strokes = [p.get("stroke") for p in by_class(root, "path", "series")]
    assert [e.find(f"{SVG}line").get("stroke") for e in entries] == strokes
    assert len(set(strokes[:7])) == 7 and strokes[7] == strokes[0]  # seven colours, then they repeat...
    assert by_class(root, "path", "series")[7].get("stroke-dasharray")  # ...dashed
    assert [m.get("fill") for m in markers(root, 2)] == [strokes[2]] * 3
    _, _, right, _ = plot_area(root)
    assert all(float(e.find(f"{SVG}line").get("x1")) > right for e in entries)  # never over the data


def test_points_lie_inside_the_plot_area_and_x_maps_left_to_right():
    for log in (False, True):
        root = parse(viz.line_chart_svg(SIZES, {"a": np.sqrt(SIZES), "b": [3.0] * len(SIZES)}, log_x=log, log_y=log))
        assert len(markers(root)) == 2 * len(SIZES) and all(inside(root, m) for m in markers(root))
        for k in range(2):
            assert np.all(np.diff([float(m.get("cx")) for m in markers(root, k)]) > 0)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(1e-3, 1e6), min_size=2, max_size=8), st.booleans())
def test_a_larger_y_is_drawn_higher_on_linear_and_log_axes(values, log):
    root = parse(viz.line_chart_svg(np.arange(1, len(values) + 1), {"s": values}, log_y=log))
    heights = np.array([float(m.get("cy")) for m in markers(root)])
    values = np.array(values)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(heights[order]) <= 0)  # larger value: smaller SVG y, never lower
    _, top, _, bottom = plot_area(root)
    low, high = values.argmin(), values.argmax()
    scale = np.log10 if log else (lambda v: v)
    if scale(values[high]) - scale(values[low]) > 0.01 * (scale(values.max()) - scale(values.min()) + 1e-12):
        assert heights[high] < heights[low]


def test_monotone_mapping_on_fixed_values_both_scales():
    y = [5.0, 0.02, 300.0, 1.0]
    for log in (False, True):
        root = parse(viz.line_chart_svg([1, 2, 3, 4], {"s": y}, log_y=log))
        cy = [float(m.get("cy")) for m in markers(root)]
        assert cy[2] < cy[0] < cy[3] < cy[1] if log else cy[2] < cy[0] <= cy[3] <= cy[1]


# ----- ticks -------------------------------------------------------------------------------------------------------
def test_log_ticks_are_the_decades_inside_the_range_with_two_and_five_for_a_narrow_range():
    root = parse(viz.line_chart_svg(SIZES, {"t": [1.0] * len(SIZES)}, log_x=True))
    scale, low, high = axis_range(root, "x-axis")
    assert scale == "log" and low <= 256 and high >= 16384
    values, labels, _ = ticks(root, "x-axis")
    decades = [float(f"1e{e}") for e in range(-10, 20) if low <= float(f"1e{e}") <= high]
    assert decades == [1000.0, 10000.0]
    assert [v for v in values if math.isclose(math.log10(v), round(math.log10(v)))] == decades
    assert all(low <= v <= high and one_two_five(v) == v for v in values)
    assert values == sorted(values) and {"1k", "10k"} <= set(labels)
    assert values == [500.0, 1000.0, 2000.0, 5000.0, 10000.0]
    assert labels == ["500", "1k", "2k", "5k", "10k"]


def test_wide_log_ranges_get_only_decades_written_compactly():
    root = parse(viz.line_chart_svg([1, 1e6], {"memory": [1e-4, 2e9]}, log_x=True, log_y=True))
    values, labels, positions = ticks(root, "x-axis")
    assert values == [10.0 ** e for e in range(7)]
    assert labels == ["1", "10", "100", "1k", "10k", "100k", "1M"]
    assert np.allclose(np.diff(positions), np.diff(positions)[0], atol=0.11)  # decades evenly spaced on a log axis
    values, labels, _ = ticks(root, "y-axis")
    _, low, high = axis_range(root, "y-axis")
    powers = [float(f"1e{e}") for e in range(-10, 20) if low <= float(f"1e{e}") <= high]
    assert len(powers) == 14 and len(values) <= 8  # 14 decades thinned to every 2nd
    assert set(values) <= set(powers) and np.all(np.diff(np.log10(values)) == 2)
    assert labels == ["1e-4", "0.01", "1", "100", "10k", "1M", "100M"]


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e6, 1e6), st.floats(1e-3, 1e6), st.integers(2, 6))
def test_linear_ticks_are_evenly_spaced_nice_numbers_covering_the_data(start, span, count):
    x = np.linspace(0.0, 1.0, count)
    y = start + span * np.linspace(0.0, 1.0, count) ** 2
    root = parse(viz.line_chart_svg(x, {"s": y}))
    for axis, data in (("x-axis", x), ("y-axis", y)):
        values, labels, positions = ticks(root, axis)
        scale, low, high = axis_range(root, axis)
        assert scale == "linear" and 4 <= len(values) <= 8
        steps = np.diff(values)  # differences of large numbers: exact to about 1e-16 of the largest
        assert np.allclose(steps, steps[0], rtol=1e-6, atol=1e-12 * max(map(abs, values)))
        step = one_two_five(steps.mean(), rel_tol=1e-6)
        assert step is not None, steps
        assert all(math.isclose(v / step, round(v / step), abs_tol=1e-6) for v in values)  # multiples of the step
        tolerance = 1e-9 * max(abs(low), abs(high), step)
        assert values[0] <= data.min() + tolerance and values[-1] >= data.max() - tolerance
        assert math.isclose(low, values[0], abs_tol=tolerance) and math.isclose(high, values[-1], abs_tol=tolerance)
        assert np.allclose(np.diff(positions), np.diff(positions)[0], atol=0.11)  # evenly spaced on the page
        assert len(set(labels)) == len(labels)


def test_linear_tick_labels():
    root = parse(viz.line_chart_svg([0, 1, 2, 3, 4, 5], {"s": [0, 0.5e6, 1e6, 1.5e6, 2e6, 2.5e6]}))
    assert ticks(root, "x-axis")[1] == ["0", "1", "2", "3", "4", "5"]
    assert ticks(root, "y-axis")[1] == ["0", "500k", "1M", "1.5M", "2M", "2.5M"]
    root = parse(viz.line_chart_svg([1000.1, 1000.5], {"s": [-0.3, 0.25]}))
    assert ticks(root, "x-axis")[1] == ["1000.1", "1000.2", "1000.3", "1000.4", "1000.5"]
    assert ticks(root, "y-axis")[1] == ["-0.4", "-0.2", "0", "0.2", "0.4"]


def test_linear_ticks_never_exceed_eight_when_five_would_need_nine():
    # step 5 gives 0, 5, 10, 15 (4 ticks); step 2 would give 0, 2, ..., 16 (9): the 4 are kept
    root = parse(viz.line_chart_svg([0.1, 14.9], {"s": [0.1, 14.9]}))
    assert ticks(root, "x-axis")[0] == ticks(root, "y-axis")[0] == [0.0, 5.0, 10.0, 15.0]
    root = parse(viz.line_chart_svg([0.0, 14.0], {"s": [0.0, 14.0]}))  # step 2 gives 8: five or more preferred
    assert ticks(root, "x-axis")[0] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]


def test_single_points_constant_series_and_all_missing_still_draw_axes_with_ticks():
    for x, series, log in (([5.0], {"a": [2.0]}, False), ([5.0], {"a": [2.0]}, True),
                           ([1, 2, 3], {"a": [7.0, 7.0, 7.0]}, False), ([1, 2], {"a": [None, None]}, True)):
        root = parse(viz.line_chart_svg(x, series, log_x=log, log_y=log))
        for axis in ("x-axis", "y-axis"):
            values, _, _ = ticks(root, axis)
            _, low, high = axis_range(root, axis)
            assert len(values) >= 2 and low < high and all(low <= v <= high for v in values)
        assert all(inside(root, m) for m in markers(root))


# ----- text: title, labels, escaping -------------------------------------------------------------------------------
def test_names_labels_and_title_are_escaped_and_round_trip():
    svg = viz.line_chart_svg([1, 2], {NASTY: [1, 2], "</svg>": [2, 1]}, title=NASTY, x_label="<x> & 'y'",
                             y_label="]]> &amp;")
    assert "<b" not in svg and '"c"' not in svg.replace("&quot;", "")
    root = parse(svg)
    assert [e.find(f"{SVG}text").text for e in by_class(root, "g", "legend-entry")] == [NASTY, "</svg>"]
    assert root.find(f"{SVG}title").text == NASTY
    assert by_class(root, "text", "title")[0].text == NASTY
    assert [t.text for t in by_class(root, "text", "axis-label")] == ["<x> & 'y'", "]]> &amp;"]
    assert tooltip_values(markers(root, 0)[1]) == (NASTY, 2.0, 2.0)


def test_control_characters_are_replaced_and_long_names_cut_in_the_legend_only():
    long = "x" * 40
    root = parse(viz.line_chart_svg([1, 2], {"a\x00b\nc": [1, 2], long: [1, 2]}, title="t\x1b", x_label="\ufffe"))
    legend = [e.find(f"{SVG}text").text for e in by_class(root, "g", "legend-entry")]
    assert legend == ["a\ufffdb c", "x" * 23 + "…"]
    assert tooltip_values(markers(root, 1)[0])[0] == long
    assert root.find(f"{SVG}title").text == "t\ufffd"
    assert by_class(root, "text", "axis-label")[0].text == "\ufffd"


def test_no_title_or_axis_labels_means_no_such_elements():
    root = parse(viz.line_chart_svg([1, 2], {"a": [1, 2]}))
    assert root.find(f"{SVG}title") is None and by_class(root, "text", "title") == []
    assert by_class(root, "text", "axis-label") == []


# ----- input, output -----------------------------------------------------------------------------------------------
def test_accepts_arrays_lists_tensors_ints_and_bools_and_is_deterministic():
    svg = viz.line_chart_svg(np.array([1, 2, 3]), {"a": np.array([1.0, 2.0, 4.0])})
    assert viz.line_chart_svg([1, 2, 3], {"a": [1, 2, 4]}) == svg
    assert viz.line_chart_svg(ta.tensor([1.0, 2.0, 3.0]), {"a": ta.tensor([1.0, 2.0, 4.0])}) == svg
    assert viz.line_chart_svg(np.array([1, 2, 3], dtype=np.float32), {"a": (1, 2, 4)}) == svg
    assert len(markers(parse(viz.line_chart_svg([0, 1], {"flag": [True, False]})))) == 2
    assert len(markers(parse(viz.line_chart_svg([0, 1], {"a": np.array([1.0, None], dtype=object)})))) == 1


def test_size_follows_width_and_height_and_the_chart_embeds_in_a_page():
    root = parse(viz.line_chart_svg([1, 2], {"a": [1, 2]}, width=800, height=500))
    assert root.tag == f"{SVG}svg" and (root.get("width"), root.get("height")) == ("800", "500")
    small = parse(viz.line_chart_svg([1, 2], {"a": [1, 2]}, width=50, height=40))
    left, top, right, bottom = plot_area(small)
    assert right - left >= 160 and bottom - top >= 120 and float(small.get("width")) > 50
    svg = viz.line_chart_svg([1, 2], {"a": [1, 2]}, title="T")
    assert svg in viz.html_page([svg], title="page")


# ----- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, series, options, error, words", [
    ([[1, 2], [3, 4]], {"a": [1, 2]}, {}, ta.ShapeError, ["1-D", "(2, 2)"]),
    ([], {"a": []}, {}, ta.ShapeError, ["empty", "(0,)"]),
    ([1, 2, 3], {"a": [1, 2]}, {}, ta.ShapeError, ["'a'", "(2,)", "(3,)"]),
    ([1, 2, 3], {"a": [[1, 2, 3]]}, {}, ta.ShapeError, ["'a'", "(1, 3)", "(3,)"]),
    ([1, 2, 3], {}, {}, ValueError, ["empty", "nothing to draw"]),
    ([1, 2, 3], [[1, 2, 3]], {}, TypeError, ["dict", "list"]),
    ([1, np.nan, 3], {"a": [1, 2, 3]}, {}, ValueError, ["x must be finite", "nan", "(1,)"]),
    ([1, 2, np.inf], {"a": [1, 2, 3]}, {}, ValueError, ["x must be finite", "inf"]),
    ([1, 3, 3], {"a": [1, 2, 3]}, {}, ValueError, ["strictly increasing", "x[2] = 3.0", "x[1] = 3.0"]),
    ([3, 2, 1], {"a": [1, 2, 3]}, {}, ValueError, ["strictly increasing", "x[1] = 2.0"]),
    ([0, 1, 2], {"a": [1, 2, 3]}, {"log_x": True}, ValueError, ["positive", "log_x", "0.0", "(0,)"]),
    ([1, 2, 3], {"a": [1, 2, 3], "b<": [1, -2, 3]}, {"log_y": True}, ValueError,
     ["series 'b<'", "positive", "log_y", "-2.0", "(1,)"]),
    ([1, 2, 3], {"a": [1, 0, 3]}, {"log_y": True}, ValueError, ["series 'a'", "0.0", "(1,)"]),
    ([1, 2, 3], {"a": [1, 2, np.inf]}, {}, ValueError, ["series 'a'", "finite", "inf", "(2,)"]),
    ([1, 2, 3], {"a": [1, -np.inf, 3]}, {"log_y": True}, ValueError, ["series 'a'", "finite", "-inf"]),
    (["a", "b"], {"a": [1, 2]}, {}, ta.DTypeError, ["x", "<U1"]),
    ([1, 2], {"a": ["p", "q"]}, {}, ta.DTypeError, ["series 'a'", "<U1"]),
    ([1, 2], {"a": [1, 2]}, {"width": 0}, ValueError, ["width", "positive"]),
    ([1, 2], {"a": [1, 2]}, {"height": float("nan")}, ValueError, ["height"]),
])
def test_bad_input_raises_errors_naming_the_function_and_shape(x, series, options, error, words):
    with pytest.raises(error) as caught:
        viz.line_chart_svg(x, series, **options)
    message = str(caught.value)
    assert message.startswith("line_chart_svg: ") and all(word in message for word in words), message


def test_log_x_does_not_require_positive_y_and_log_y_does_not_require_positive_x():
    assert markers(parse(viz.line_chart_svg([1, 2], {"a": [-1, 0]}, log_x=True)))
    assert markers(parse(viz.line_chart_svg([-1, 0], {"a": [1, 2]}, log_y=True)))
