"""tinyattn.viz: every picture is parsed back (SVG as XML, pages and fragments with html.parser, terminal lines by
splitting) and checked for its structure, escaping, and shading that is monotone in the weight."""
import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyattn as ta
from tinyattn import viz

SVG = "{http://www.w3.org/2000/svg}"
ESCAPE = "\x1b"
NASTY = ["<", "&", '"q"', "it's", "a<b>&c", "</svg>", "&amp;", "]]>"]


# ----- helpers: parse what viz writes -------------------------------------------------------------------------------
def intensity(color):
    """Darkness of "#rrggbb": 765 - (r + g + b); the ramp is a straight line from white, so this orders shades."""
    red, green, blue = (int(color[k:k + 2], 16) for k in (1, 3, 5))
    return 765 - (red + green + blue)


def assert_monotone(weights, darkness):
    """A larger weight is never lighter: weights[a] < weights[b] implies darkness[a] <= darkness[b]."""
    weights, darkness = np.ravel(weights), np.ravel(darkness)
    order = np.argsort(weights, kind="stable")
    sorted_weights, sorted_darkness = weights[order], darkness[order]
    for k in range(len(order) - 1):
        if sorted_weights[k] < sorted_weights[k + 1]:
            assert sorted_darkness[k] <= sorted_darkness[k + 1], (sorted_weights[k:k + 2], sorted_darkness[k:k + 2])


def svg_cells(svg):
    root = ET.fromstring(svg)
    return root, [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "cell"]


def label_texts(root, group):
    return [text.text for g in root.iter(f"{SVG}g") if g.get("class") == group for text in g.iter(f"{SVG}text")]


class Tree(HTMLParser):
    """Checks that every tag is closed in order, and collects the spans (class, style, title, text) and tag counts."""
    VOID = frozenset({"meta", "br", "img", "hr", "link", "input"})  # HTML elements without an end tag

    def __init__(self):
        super().__init__()
        self.stack, self.spans, self.counts, self.texts = [], [], {}, []

    def handle_starttag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag == "span":
            self.spans.append(dict(attrs, text=""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.texts.append(data)
        if self.stack and self.stack[-1] == "span":
            self.spans[-1]["text"] += data

    @classmethod
    def parse(cls, markup):
        tree = cls()
        tree.feed(markup)
        tree.close()
        assert tree.stack == [], f"unclosed tags {tree.stack}"
        return tree


def background(span):
    return re.search(r"background-color:(#[0-9a-f]{6})", span["style"]).group(1)


def grid_lines(text):
    """The cells of each row of a terminal heatmap: what sits between the two borders."""
    return [line.split("│")[1] for line in text.splitlines() if line.count("│") == 2]


matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
                      elements=st.floats(0, 1, allow_nan=False, allow_subnormal=False), fill=st.nothing())
# Labels as users write them. Control characters, surrogates and the noncharacters U+FFFE and U+FFFF, which XML
# cannot carry, are replaced by viz (tested on their own below), so the round-trip tests leave them out.
label_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff"),
                     min_size=1, max_size=10)


# ----- SVG heatmap -------------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(matrices)
def test_svg_is_well_formed_with_one_rect_per_cell_in_row_order_and_shading_monotone(weights):
    root, cells = svg_cells(viz.heatmap_svg(weights))
    assert root.tag == f"{SVG}svg"
    assert len(cells) == weights.size
    assert [(int(c.get("data-row")), int(c.get("data-column"))) for c in cells] == list(np.ndindex(weights.shape))
    assert_monotone(weights, [intensity(c.get("fill")) for c in cells])


def test_svg_shades_span_white_to_dark_and_tooltips_hold_the_values():
    _, cells = svg_cells(viz.heatmap_svg([[0.0, 0.25, 1.0]], ["q"], ["a", "b", "c"]))
    darkness = [intensity(c.get("fill")) for c in cells]
    assert darkness[0] == 0 and darkness[0] < darkness[1] < darkness[2]
    assert [c.find(f"{SVG}title").text for c in cells] == ["q → a: 0", "q → b: 0.25", "q → c: 1"]


def test_svg_scale_is_absolute_by_default_and_relative_with_vmax_none():
    weights = [[0.1, 0.2]]
    _, absolute = svg_cells(viz.heatmap_svg(weights))
    _, relative = svg_cells(viz.heatmap_svg(weights, vmax=None))
    _, full = svg_cells(viz.heatmap_svg([[1.0]]))
    assert intensity(absolute[1].get("fill")) < intensity(relative[1].get("fill")) == intensity(full[0].get("fill"))
    _, clipped = svg_cells(viz.heatmap_svg([[-3.0, 0.0, 1.0, 7.0]]))
    fills = [c.get("fill") for c in clipped]
    assert fills[0] == fills[1] and fills[2] == fills[3]


@settings(max_examples=20, deadline=None)
@given(st.lists(label_text, min_size=1, max_size=4), st.lists(label_text, min_size=1, max_size=5))
def test_svg_labels_are_escaped_and_round_trip_through_the_parser(row_labels, column_labels):
    weights = np.full((len(row_labels), len(column_labels)), 0.5)
    root, _ = svg_cells(viz.heatmap_svg(weights, row_labels, column_labels, title=row_labels[0]))
    assert label_texts(root, "row-labels") == row_labels
    assert label_texts(root, "column-labels") == column_labels
    assert root.find(f"{SVG}title").text == row_labels[0]


def test_svg_nasty_labels_parse_and_long_column_labels_are_rotated():
    svg = viz.heatmap_svg(np.eye(len(NASTY)), NASTY, NASTY, title="<b>&")
    root, _ = svg_cells(svg)
    assert label_texts(root, "row-labels") == NASTY and "<b>" not in svg
    short = label_texts(svg_cells(viz.heatmap_svg([[1.0, 0.0]], column_labels=["a", "b"]))[0], "column-labels")
    assert short == ["a", "b"]
    rotated = [t for t in root.iter(f"{SVG}text") if "rotate(-90" in (t.get("transform") or "")]
    assert len(rotated) == len(NASTY)


def test_control_characters_in_labels_are_replaced_and_the_svg_still_parses():
    root, _ = svg_cells(viz.heatmap_svg([[1.0]], ["a\x00b\x1b"], ["x\ny"]))
    assert label_texts(root, "row-labels") == ["a\ufffdb\ufffd"]
    assert label_texts(root, "column-labels") == ["x y"]
    root, _ = svg_cells(viz.heatmap_svg([[1.0]], ["\ufffe\uffffz"]))
    assert label_texts(root, "row-labels") == ["\ufffd\ufffdz"]
    spans = Tree.parse(viz.highlight_tokens(["\ufffe", "ok"], [0.1, 0.9])).spans
    assert [span["text"] for span in spans] == ["\ufffd", "ok"]


def test_svg_accepts_nested_lists_tensors_ints_and_bools():
    for weights in ([[0, 1], [1, 0]], ta.tensor([[0.0, 1.0], [1.0, 0.0]]), ~np.eye(2, dtype=bool),
                    1 - np.eye(2, dtype=np.float32)):
        _, cells = svg_cells(viz.heatmap_svg(weights))
        assert [intensity(c.get("fill")) > 0 for c in cells] == [False, True, True, False]


# ----- HTML pages --------------------------------------------------------------------------------------------------
def test_heatmap_html_is_a_balanced_self_contained_page_holding_the_svg():
    weights = np.array([[0.6, 0.4], [0.1, 0.9], [0.5, 0.5]])
    page = viz.heatmap_html(weights, ["x", "y", "z"], ["<s>", "&"], title="A & B")
    tree = Tree.parse(page)
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    assert tree.counts["svg"] == 1 and tree.counts["rect"] >= weights.size and tree.counts["h1"] == 1
    assert "A & B" in tree.texts
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert len(svg_cells(svg)[1]) == weights.size


def test_html_page_wraps_each_fragment_in_order():
    fragments = [viz.highlight_tokens(["a"], [1.0]), viz.heatmap_svg([[0.5]]), "<p>note</p>"]
    page = viz.html_page(fragments, title=None)
    tree = Tree.parse(page)
    assert [page.index(f) for f in fragments] == sorted(page.index(f) for f in fragments)
    assert tree.counts["div"] == 3 and "h1" not in tree.counts
    assert Tree.parse(viz.html_page("<p>one</p>")).counts["p"] == 1


# ----- terminal ----------------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(matrices)
def test_plain_terminal_heatmap_has_no_escapes_one_line_per_row_and_density_monotone(weights):
    text = viz.heatmap_text(weights, color=False)
    assert ESCAPE not in text
    lines = grid_lines(text)
    assert len(lines) == weights.shape[0]
    assert all(len(line) == 2 * weights.shape[1] for line in lines)
    density = [[viz.PLAIN_SHADES.index(line[2 * j]) for j in range(weights.shape[1])] for line in lines]
    assert all(line[2 * j] == line[2 * j + 1] for line in lines for j in range(weights.shape[1]))
    assert_monotone(weights, density)


def test_plain_terminal_heatmap_uses_the_extremes_and_labels_rows_and_columns():
    text = viz.heatmap_text([[0.0, 1.0], [1.0, 0.0]], ["first", "<2>"], ["alpha", "b"], color=False)
    lines = text.splitlines()
    assert grid_lines(text) == ["  ██", "██  "]
    assert lines[-3].startswith("first │") and lines[-2].startswith("  <2> │")
    header = [line for line in lines if "│" not in line and "scale" not in line]
    assert [line.strip()[0] for line in header] == list("alpha")  # column labels read downwards
    assert "scale" in lines[-1]


def test_terminal_keeps_30_columns_within_80_characters():
    weights = np.random.default_rng(0).dirichlet(np.ones(30), size=4)
    text = viz.heatmap_text(weights, [f"row{i}" for i in range(4)], [f"key{j}" for j in range(30)], color=False)
    assert len(grid_lines(text)) == 4 and max(len(line) for line in text.splitlines()) <= 80


def test_terminal_labels_cannot_inject_escape_codes():
    text = viz.heatmap_text([[0.5]], ["\x1b[31mred"], ["\x1b[2J"], color=False)
    assert ESCAPE not in text


@pytest.mark.parametrize("ansi, pattern", [("24bit", r"\x1b\[48;2;(\d+);(\d+);(\d+)m"), ("256", r"\x1b\[48;5;(\d+)m")])
def test_colour_terminal_heatmap_paints_each_cell_darker_for_larger_weights(ansi, pattern):
    weights = np.array([[0.0, 0.3, 0.6, 1.0]])
    line = grid_lines(viz.heatmap_text(weights, color=True, ansi=ansi))[0]
    codes = [tuple(map(int, match)) if isinstance(match, tuple) else (int(match),)
             for match in re.findall(pattern, line)]
    assert len(codes) == 4 and line.endswith(viz.RESET)
    darkness = [765 - sum(code) if ansi == "24bit" else 255 - code[0] for code in codes]
    assert darkness[0] < darkness[1] < darkness[2] < darkness[3]


class FakeTerminal(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


def test_color_none_follows_the_tty_and_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setattr("sys.stdout", FakeTerminal(tty=True))
    assert ESCAPE in viz.heatmap_text([[0.5]])
    monkeypatch.setenv("NO_COLOR", "1")
    assert ESCAPE not in viz.heatmap_text([[0.5]])
    assert ESCAPE in viz.heatmap_text([[0.5]], color=True)  # an explicit choice wins
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr("sys.stdout", FakeTerminal(tty=False))
    assert ESCAPE not in viz.heatmap_text([[0.5]])


# ----- highlighted text --------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(label_text, st.floats(0, 1, allow_subnormal=False)), min_size=1, max_size=8))
def test_highlight_tokens_gives_one_span_per_token_in_order_with_monotone_shading(pairs):
    tokens, weights = [token for token, _ in pairs], [weight for _, weight in pairs]
    tree = Tree.parse(viz.highlight_tokens(tokens, weights))
    assert [span["text"] for span in tree.spans] == tokens
    assert all(span["class"] == "word" for span in tree.spans)
    assert_monotone(weights, [intensity(background(span)) for span in tree.spans])


def test_highlight_tokens_escapes_tokens_and_accepts_tensors():
    fragment = viz.highlight_tokens(NASTY, ta.tensor(np.linspace(0, 1, len(NASTY))))
    tree = Tree.parse(fragment)
    assert [span["text"] for span in tree.spans] == NASTY
    assert tree.spans[0]["title"] == "weight 0" and tree.spans[-1]["title"] == "weight 1"


def test_highlight_document_shades_sentences_and_their_words():
    sentences = [["the", "food", "was", "<great>"], ["we", "came", "back"], ["fine"]]
    word_weights = np.array([[0.1, 0.5, 0.1, 0.3], [0.2, 0.2, 0.6, 0.0], [1.0, 0.0, 0.0, 0.0]])  # padded (S, W)
    sentence_weights = [0.7, 0.2, 0.1, 0.0]  # one padded sentence
    fragment = viz.highlight_document(sentences, word_weights, sentence_weights)
    tree = Tree.parse(fragment)
    assert tree.counts["p"] == 3
    markers = [span for span in tree.spans if span["class"] == "sentence-weight"]
    words = [span for span in tree.spans if span["class"] == "word"]
    assert [span["text"] for span in words] == [token for sentence in sentences for token in sentence]
    assert_monotone(sentence_weights[:3], [intensity(background(span)) for span in markers])
    flat = [w for row, sentence in zip(word_weights, sentences, strict=True) for w in row[:len(sentence)]]
    assert_monotone(flat, [intensity(background(span)) for span in words])
    assert background(markers[0]) != background(words[-1])  # sentences and words use two hues
    order = [span["class"] for span in tree.spans]
    assert order == ["sentence-weight"] + ["word"] * 4 + ["sentence-weight"] + ["word"] * 3 + ["sentence-weight",
                                                                                                "word"]


def test_highlight_document_accepts_ragged_lists_and_empty_sentences():
    tree = Tree.parse(viz.highlight_document([["a", "b"], [], ["c"]], [[0.4, 0.6], [], [1.0]], [0.5, 0.0, 0.5]))
    assert [span["text"] for span in tree.spans if span["class"] == "word"] == ["a", "b", "c"]
    assert sum(span["class"] == "sentence-weight" for span in tree.spans) == 3


# ----- errors ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", [viz.heatmap_svg, viz.heatmap_html, viz.heatmap_text])
@pytest.mark.parametrize("weights, error, words", [
    (np.zeros((2, 3, 4)), ta.ShapeError, ["2-D", "(2, 3, 4)"]),
    ([0.5, 0.5], ta.ShapeError, ["2-D", "(2,)"]),
    (np.zeros((0, 3)), ta.ShapeError, ["empty", "(0, 3)"]),
    ([[0.5, np.nan]], ValueError, ["finite", "nan"]),
    ([[np.inf]], ValueError, ["finite", "inf"]),
    ([[1.0, 2.0], [3.0]], ta.ShapeError, ["ragged"]),
    ([["a", "b"]], ta.DTypeError, ["<U1"]),
])
def test_bad_weights_raise_errors_naming_the_function_and_shape(function, weights, error, words):
    with pytest.raises(error) as caught:
        function(weights)
    message = str(caught.value)
    assert "heatmap_" in message and all(word in message for word in words), message


def test_label_count_mismatch_names_the_function_and_shapes():
    with pytest.raises(ta.ShapeError, match=r"heatmap_svg: 3 column_labels for 2 columns \(weights of shape \(1, 2\)"):
        viz.heatmap_svg([[0.5, 0.5]], column_labels=["a", "b", "c"])
    with pytest.raises(ta.ShapeError, match=r"heatmap_text: 1 row_labels for 2 rows"):
        viz.heatmap_text([[0.5], [0.5]], row_labels=["a"])
    with pytest.raises(TypeError, match="heatmap_svg: row_labels must be a sequence"):
        viz.heatmap_svg([[0.5, 0.5]], row_labels="ab")
    with pytest.raises(ValueError, match="heatmap_svg: vmin"):
        viz.heatmap_svg([[0.5]], vmin=1.0, vmax=1.0)


def test_bad_highlight_input_raises_errors_naming_the_function():
    with pytest.raises(ta.ShapeError, match=r"highlight_tokens: 2 tokens but weights of shape \(3,\)"):
        viz.highlight_tokens(["a", "b"], [0.1, 0.2, 0.7])
    with pytest.raises(ValueError, match="highlight_tokens: weights must be finite"):
        viz.highlight_tokens(["a"], [np.nan])
    with pytest.raises(TypeError, match="highlight_tokens: tokens"):
        viz.highlight_tokens("ab", [0.5, 0.5])
    with pytest.raises(ta.ShapeError, match=r"highlight_document: sentence 1 has 2 tokens but word_weights\[1\]"):
        viz.highlight_document([["a"], ["b", "c"]], [[1.0], [1.0]], [0.5, 0.5])
    with pytest.raises(ta.ShapeError, match=r"highlight_document: 2 sentences but sentence_weights of shape \(1,\)"):
        viz.highlight_document([["a"], ["b"]], [[1.0], [1.0]], [1.0])
    with pytest.raises(TypeError, match="highlight_document: sentences must be a list of token lists"):
        viz.highlight_document(["a", "b"], [[1.0], [1.0]], [0.5, 0.5])
    with pytest.raises(TypeError, match="html_page: fragment 1"):
        viz.html_page(["<p>a</p>", 3])
    with pytest.raises(TypeError, match="save: text must be a str"):
        viz.save(b"bytes", "x.svg")


# ----- save --------------------------------------------------------------------------------------------------------
def test_save_writes_utf8_creating_folders_and_returns_the_path(tmp_path):
    svg = viz.heatmap_svg([[1.0]], ["ünï"], ["→"])
    path = viz.save(svg, tmp_path / "a" / "b" / "map.svg")
    assert path == tmp_path / "a" / "b" / "map.svg"
    assert path.read_bytes().decode("utf-8") == svg


def test_importing_viz_has_no_side_effects(tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", "import tinyattn.viz"], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    assert result.stdout == "" and result.stderr == "" and list(tmp_path.iterdir()) == []


# ----- grid of heads -----------------------------------------------------------------------------------------------
def head_groups(svg):
    root = ET.fromstring(svg)
    return root, [g for g in root.iter(f"{SVG}g") if g.get("class") == "head"]


def group_cells(group):
    return [rect for rect in group.iter(f"{SVG}rect") if rect.get("class") == "cell"]


def group_title(group):
    return next(t.text for t in group.iter(f"{SVG}text") if t.get("class") == "head-title")


head_stacks = hnp.arrays(np.float64, hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=4),
                         elements=st.floats(0, 1, allow_nan=False, allow_subnormal=False), fill=st.nothing())


@settings(max_examples=20, deadline=None)
@given(head_stacks)
def test_head_grid_has_one_heatmap_per_layer_and_head_in_order_with_cells_in_row_order(weights):
    layers, heads, rows, columns = weights.shape
    root, groups = head_groups(viz.head_grid_svg(weights))
    assert root.tag == f"{SVG}svg"
    assert [(int(g.get("data-layer")), int(g.get("data-head"))) for g in groups] == list(np.ndindex(layers, heads))
    for group in groups:
        cells = group_cells(group)
        assert [(int(c.get("data-row")), int(c.get("data-column"))) for c in cells] == list(np.ndindex(rows, columns))
    fills = [intensity(c.get("fill")) for group in groups for c in group_cells(group)]
    assert_monotone(weights, fills)  # one scale for the whole grid


def test_head_grid_shades_each_head_as_heatmap_svg_does_and_titles_count_from_one():
    weights = np.random.default_rng(0).dirichlet(np.ones(3), size=(2, 3, 2))  # (L, H, Tq, Tk)
    for options in ({}, {"vmax": None}):
        _, groups = head_groups(viz.head_grid_svg(weights, **options))
        for group in groups:
            layer, head = int(group.get("data-layer")), int(group.get("data-head"))
            vmax = weights.max() if options else 1.0  # vmax=None: the largest weight of the whole grid
            _, alone = svg_cells(viz.heatmap_svg(weights[layer, head], vmax=vmax))
            assert [c.get("fill") for c in group_cells(group)] == [c.get("fill") for c in alone]
            assert group_title(group) == f"layer {layer + 1}, head {head + 1}"


def test_head_grid_tooltips_name_the_head_and_one_layer_is_accepted_without_its_axis():
    weights = np.array([[[0.0, 1.0]], [[0.25, 0.75]]])  # (H, Tq, Tk) = (2, 1, 2)
    svg = viz.head_grid_svg(weights, ["q"], ["a", "b"])
    assert svg == viz.head_grid_svg(weights[np.newaxis], ["q"], ["a", "b"])
    _, groups = head_groups(svg)
    assert [c.find(f"{SVG}title").text for g in groups for c in group_cells(g)] == [
        "layer 1, head 1: q → a: 0", "layer 1, head 1: q → b: 1",
        "layer 1, head 2: q → a: 0.25", "layer 1, head 2: q → b: 0.75"]


def test_head_grid_labels_names_and_title_are_escaped_and_round_trip():
    count = len(NASTY)
    weights = np.full((2, 2, count, count), 1 / count)
    svg = viz.head_grid_svg(weights, NASTY, NASTY, layer_names=["<enc>", "a&b"], head_names=['"h"', "x]]>"],
                            title="<b>&", max_label_length=24)
    root, groups = head_groups(svg)
    assert "<b>" not in svg and "<enc>" not in svg
    assert root.find(f"{SVG}title").text == "<b>&"
    assert [group_title(g) for g in groups] == ['<enc>, "h"', "<enc>, x]]>", 'a&b, "h"', "a&b, x]]>"]
    for group in groups:
        assert [t.text for g in group.iter(f"{SVG}g") if g.get("class") == "row-labels"
                for t in g.iter(f"{SVG}text")] == NASTY
        assert [t.text for g in group.iter(f"{SVG}g") if g.get("class") == "column-labels"
                for t in g.iter(f"{SVG}text")] == NASTY
    assert group_cells(groups[1])[0].find(f"{SVG}title").text == '<enc>, x]]>: < → <: 0.125'


def test_head_grid_html_is_a_balanced_self_contained_page_holding_the_grid():
    weights = np.full((2, 3, 2, 2), 0.5)
    page = viz.head_grid_html(weights, ["x", "y"], ["<s>", "&"], title="Heads & layers")
    tree = Tree.parse(page)
    assert page.startswith("<!DOCTYPE html>") and tree.counts["svg"] == 1 and tree.counts["h1"] == 1
    assert "Heads & layers" in tree.texts
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in page
    svg = page[page.index("<svg"):page.index("</svg>") + len("</svg>")]
    assert len(head_groups(svg)[1]) == 6


@pytest.mark.parametrize("function", [viz.head_grid_svg, viz.head_grid_html])
@pytest.mark.parametrize("weights, error, words", [
    (np.full((3, 4), 0.5), ta.ShapeError, ["4-D", "(3, 4)"]),
    (np.full((1, 2, 3, 4, 5), 0.5), ta.ShapeError, ["4-D", "(1, 2, 3, 4, 5)"]),
    (np.zeros((2, 0, 3, 3)), ta.ShapeError, ["empty", "(2, 0, 3, 3)"]),
    ([[[0.5, np.nan]]], ValueError, ["finite", "nan", "(1, 1, 2)"]),
    ([[[[0.5, -0.1]]]], ValueError, ["non-negative", "-0.1", "(1, 1, 1, 2)"]),
    ([[["a"]]], ta.DTypeError, ["<U1"]),
])
def test_bad_head_grid_weights_raise_errors_naming_the_function_and_shape(function, weights, error, words):
    with pytest.raises(error) as caught:
        function(weights)
    message = str(caught.value)
    assert message.startswith("head_grid_svg: ") and all(word in message for word in words), message


def test_head_grid_label_and_name_count_mismatches_name_the_function_and_shape():
    weights = np.full((2, 3, 1, 2), 0.5)
    with pytest.raises(ta.ShapeError, match=r"head_grid_svg: 1 column_labels for 2 columns \(weights of shape "
                                            r"\(2, 3, 1, 2\)\)"):
        viz.head_grid_svg(weights, column_labels=["a"])
    with pytest.raises(ta.ShapeError, match=r"head_grid_svg: 1 layer_names for 2 layers"):
        viz.head_grid_svg(weights, layer_names=["enc"])
    with pytest.raises(ta.ShapeError, match=r"head_grid_svg: 2 head_names for 3 heads"):
        viz.head_grid_svg(weights, head_names=["a", "b"])
    with pytest.raises(TypeError, match="head_grid_svg: head_names must be a sequence"):
        viz.head_grid_svg(weights, head_names="abc")
