"""What every demo's command line shares: --seed, --out, the modes (--quick, --tiny, full by default),
overrides of the mode's settings (--steps, --batch), --show for the demos that draw examples, and the start of
every main: its mode, settings and random generators; the learning-curve chart of the demos that compare models;
and their text tables."""
import argparse
import os

import numpy as np

from tinyattn import viz


def demo_parser(name, description, modes, outputs):
    """An argument parser for ``python -m demos.<name>``, with the options every demo shares.

    `modes` is the demo's {"quick": {...}, "full": {...}, "tiny": {...}} of settings (each with "steps" and "batch");
    `outputs` says what the demo writes into --out.
    """
    parser = argparse.ArgumentParser(prog=f"python -m demos.{name}", description=description)
    parser.add_argument("--seed", type=int, default=0, help="seed of every random draw (default: 0)")
    parser.add_argument("--out", default=os.path.join("demo-output", name),
                        help=f"folder for {outputs} (default: demo-output/{name})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help=f"quick mode, the tour's: {modes['quick']['steps']} steps (default: full mode, "
                      f"{modes['full']['steps']} steps)")
    mode.add_argument("--tiny", action="store_true",
                      help="smoke test for the test suite: a few steps, results meaningless, every code path runs")
    parser.add_argument("--steps", type=int, help="training steps, overriding the mode's")
    parser.add_argument("--batch", type=int, help="examples per training step, overriding the mode's")
    return parser


def add_show(parser, default, what):
    """--show: how many held-out examples the demo draws; `what` says what they are and where they go."""
    parser.add_argument("--show", type=int, default=default, help=f"{what} (default: {default})")


def parse(parser, argv, positive=("steps", "batch", "show")):
    """The parsed arguments, after checking that the options named in `positive` (when the parser has them and
    they are given) are at least 1."""
    args = parser.parse_args(argv)
    for name in positive:
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1, got {value}")
    return args


def mode_settings(args, modes):
    """(mode name, the mode's settings with --steps / --batch applied)."""
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    settings = dict(modes[mode])
    for name in ("steps", "batch"):
        if getattr(args, name, None) is not None:
            settings[name] = getattr(args, name)
    return mode, settings


def start(args, modes, streams):
    """(mode name, the mode's settings with --steps / --batch applied, `streams` independent np.random.Generators
    spawned from --seed): one generator per job, so that no job's draws shift another's."""
    mode, settings = mode_settings(args, modes)
    return mode, settings, np.random.default_rng(args.seed).spawn(streams)


def save_learning_curves(steps, curves, mode, seed, path, measure="held-out accuracy"):
    """A held-out `measure` (accuracy by default) against the training step, one line per model ({name: values}),
    saved as an SVG line chart at `path`; returns the path."""
    chart = viz.line_chart_svg(steps, curves, title=f"{measure.capitalize()} while training ({mode} mode, seed {seed})",
                               x_label="training step", y_label=measure)
    return viz.save(chart, path)


def text_table(header, rows, indent="  ", first_left=True):
    """The header and rows (sequences of strings, one per column) as aligned text, one line each: the first column
    left-aligned (a name; `first_left`), the others right-aligned (figures), each line indented by `indent`."""
    lines = [list(header), *map(list, rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(indent + "  ".join(cell.ljust(width) if column == 0 and first_left else cell.rjust(width)
                                        for column, (cell, width) in enumerate(zip(line, widths, strict=True))).rstrip()
                     for line in lines)
