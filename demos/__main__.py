"""The tour: ``python -m demos`` runs every demo in its quick mode, one after the other, each under a heading; then
it prints a summary table (one row per demo: its key figure and the seconds it took) and writes OUT/index.html, one
page that links every picture and page the demos wrote.

A demo joins the tour by its name in DEMOS; its ``headline(results)`` (the key figure of the dict its ``main``
returns, in one line) fills its row, and whatever it writes into OUT/NAME is found and linked after it ran.
"""
import argparse
import dataclasses
import html
import importlib
import os
import re
import time
import urllib.parse
from pathlib import Path

from tinyattn import viz

# The tour, in order: module names under demos/. Adding a demo to the tour is adding its name here.
DEMOS = ["quickstart", "dates", "documents", "hard", "glimpses", "pairs", "longrange", "cost"]
NO_HEADLINE = "-"  # the key figure of a demo without a headline(results)


@dataclasses.dataclass
class Stop:
    """One demo of the tour, after it ran."""

    name: str
    title: str  # the first line of the demo's docstring
    headline: str  # its key figure, one line
    seconds: float  # wall time of its main(), training, evaluation and drawing
    files: list  # what this run wrote into its folder: POSIX paths relative to the tour's --out, in natural order
    older: int  # files in its folder left by an earlier run (not rewritten by this one), which are not listed


def natural_key(path):
    """Sort key that puts alignment-2 before alignment-10, and alignment-1-luong before alignment-1-luong-local-p
    (the stem first, then the extension)."""
    stem, extension = os.path.splitext(path)
    return [int(piece) if piece.isdigit() else piece.lower() for piece in re.split(r"(\d+)", stem)], extension


def modification_times(folder):
    """{path relative to `folder`, POSIX form: its st_mtime_ns} for every file under `folder` (empty if none)."""
    times = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            path = Path(parent, name)
            times[path.relative_to(folder).as_posix()] = path.stat().st_mtime_ns
    return times


def run_demo(name, number, argv, out):
    """Run demos.<name>'s main(argv) under a heading; its Stop (files found in out/name) and its results."""
    module = importlib.import_module(f"demos.{name}")
    title = (module.__doc__ or name).strip().splitlines()[0]
    rule = "=" * 78
    print(f"{rule}\n {number}/{len(DEMOS)}  {title}\n       (alone: python -m demos.{name})\n{rule}")
    folder = Path(out, name)
    # A file counts as written by this run when it is new or its modification time changed: comparing with the
    # clock instead would depend on the file system's timestamp granularity.
    before = modification_times(folder)
    start = time.perf_counter()
    results = module.main([*argv, "--out", str(folder)])
    seconds = time.perf_counter() - start
    after = modification_times(folder)
    written = sorted((path for path, stamp in after.items() if before.get(path) != stamp), key=natural_key)
    headline = getattr(module, "headline", None)
    figure = " ".join(headline(results).split()) if headline else NO_HEADLINE  # one line, whatever it returned
    stop = Stop(name, title, figure or NO_HEADLINE, seconds, [f"{name}/{path}" for path in written],
                len(after) - len(written))
    return stop, results


def summary_table(stops, total_seconds):
    """Plain-text table, aligned: one row per stop (demo, key figure, seconds), then the tour's total."""
    rows = [(stop.name, stop.headline, f"{stop.seconds:.1f}") for stop in stops]
    rows.append(("total", "", f"{total_seconds:.1f}"))
    header = ("demo", "key figure", "seconds")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(3)]

    def line(cells):
        return f"  {cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}".rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


def link(path, text=None):
    """<a> to `path` (relative, POSIX form), its parts percent-encoded so that '#', '?' or '%' in a name stay part
    of it; the text shown is `text`, or the file's name, escaped."""
    href = html.escape(urllib.parse.quote(path), quote=True)
    return f'<a href="{href}">{html.escape(text or path.rsplit("/", 1)[-1])}</a>'


def section(number, stop):
    """An HTML fragment for one stop: title, key figure, seconds, then its pictures (shown, each a link to the file
    alone), its pages and its other files, as links."""
    pictures = [path for path in stop.files if path.lower().endswith(".svg")]
    pages = [path for path in stop.files if path.lower().endswith((".html", ".htm"))]
    others = [path for path in stop.files if path not in pictures and path not in pages]
    parts = [f'<h2 id="demo-{html.escape(stop.name)}">{number}. {html.escape(stop.title)}</h2>',
             f"<p><strong>{html.escape(stop.headline)}</strong> &#183; {stop.seconds:.1f} s &#183; "
             f"alone: <code>python -m demos.{html.escape(stop.name)}</code></p>"]
    if pages:
        parts.append("<p>Pages: " + ", ".join(link(path) for path in pages) + "</p>")
    if others:
        parts.append("<p>Other files: " + ", ".join(link(path) for path in others) + "</p>")
    for path in pictures:
        source = html.escape(urllib.parse.quote(path), quote=True)
        name = html.escape(path.rsplit("/", 1)[-1])
        parts.append(f'<figure><a href="{source}"><img src="{source}" alt="{name}" '
                     f'style="max-width:100%;height:auto"></a><figcaption>{link(path)}</figcaption></figure>')
    if not stop.files:
        parts.append('<p class="tinyattn-note">This demo wrote no files: its story is in the terminal.</p>')
    if stop.older:
        parts.append(f'<p class="tinyattn-note">{stop.older} older file(s) in {html.escape(stop.name)}/, not '
                     "written by this run, are not listed.</p>")
    return "\n".join(parts)


def index_page(stops, mode, seed):
    """A complete, self-contained HTML page (viz.html_page): a table of the stops, then one section per stop.
    Every link is relative to the tour's --out folder, where the page goes."""
    cell = '<td style="padding:0.2em 1em 0.2em 0">'
    number_cell = '<td style="padding:0.2em 1em 0.2em 0;text-align:right">'
    rows = "\n".join(
        f'<tr>{cell}<a href="#demo-{html.escape(stop.name)}">{html.escape(stop.name)}</a></td>'
        f"{cell}{html.escape(stop.headline)}</td>{number_cell}{stop.seconds:.1f}</td>"
        f"{number_cell}{len(stop.files)}</td></tr>" for stop in stops)
    overview = "\n".join([
        f"<p>What <code>python -m demos</code> ({mode} mode, seed {seed}) showed. Click a picture to open it alone; "
        "there, hover over a cell to read its weight.</p>",
        "<table>",
        '<tr style="text-align:left"><th>demo</th><th>key figure</th><th>seconds</th><th>files</th></tr>',
        rows,
        "</table>",
    ])
    fragments = [overview] + [section(number, stop) for number, stop in enumerate(stops, start=1)]
    return viz.html_page(fragments, title=f"tinyattn tour: the demos' results and pictures ({mode} mode)")


def main(argv=None):
    """Run every demo of DEMOS with ``--quick`` (or ``--tiny``), print the summary table and write OUT/index.html;
    returns {name: that demo's results}."""
    parser = argparse.ArgumentParser(
        prog="python -m demos",
        description="The tinyattn tour: every demo in its quick mode, one after the other, then a summary table "
        "and OUT/index.html, one page linking every picture and page the demos wrote.",
        epilog=f"Demos: {', '.join(DEMOS)}. Run one alone, in its full mode, with python -m demos.NAME "
        "(see python -m demos.NAME --help).",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed passed to every demo (default: 0)")
    parser.add_argument("--out", default="demo-output",
                        help="folder for outputs; each demo writes into OUT/NAME, the tour OUT/index.html "
                        "(default: demo-output)")
    parser.add_argument("--tiny", action="store_true",
                        help="run every demo in its smoke-test mode instead (seconds; results meaningless)")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "quick"

    results, stops = {}, []
    start = time.perf_counter()
    for number, name in enumerate(DEMOS, start=1):
        stop, results[name] = run_demo(name, number, [f"--{mode}", "--seed", str(args.seed)], args.out)
        stops.append(stop)
        print()
    page = viz.save(index_page(stops, mode, args.seed), os.path.join(args.out, "index.html"))
    total = time.perf_counter() - start
    print(f"Summary ({mode} mode, seed {args.seed}):")
    print(summary_table(stops, total))
    print(f"\nTour done: {len(DEMOS)} demo(s) in {total:.1f} s; outputs under {args.out}; "
          f"all of them on one page: {os.path.abspath(page)}")
    return results


if __name__ == "__main__":
    main()
