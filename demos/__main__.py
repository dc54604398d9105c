"""The tour: ``python -m demos`` runs every demo in its quick mode, one after the other, each under a heading."""
import argparse
import importlib
import os
import time

# The tour, in order: module names under demos/. Adding a demo to the tour is adding its name here.
DEMOS = ["quickstart", "dates", "documents"]


def main(argv=None):
    """Run every demo of DEMOS with ``--quick`` (or ``--tiny``); returns {name: that demo's results}."""
    parser = argparse.ArgumentParser(
        prog="python -m demos",
        description="The tinyattn tour: every demo in its quick mode, one after the other.",
        epilog=f"Demos: {', '.join(DEMOS)}. Run one alone, in its full mode, with python -m demos.NAME "
        "(see python -m demos.NAME --help).",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed passed to every demo (default: 0)")
    parser.add_argument("--out", default="demo-output",
                        help="folder for outputs; each demo writes into OUT/NAME (default: demo-output)")
    parser.add_argument("--tiny", action="store_true",
                        help="run every demo in its smoke-test mode instead (seconds; results meaningless)")
    args = parser.parse_args(argv)
    mode = "--tiny" if args.tiny else "--quick"

    results = {}
    start = time.perf_counter()
    for number, name in enumerate(DEMOS, start=1):
        module = importlib.import_module(f"demos.{name}")
        title = (module.__doc__ or name).strip().splitlines()[0]
        rule = "=" * 78
        print(f"{rule}\n {number}/{len(DEMOS)}  {title}\n       (alone: python -m demos.{name})\n{rule}")
        results[name] = module.main([mode, "--seed", str(args.seed), "--out", os.path.join(args.out, name)])
        print()
    print(f"Tour done: {len(DEMOS)} demo(s) in {time.perf_counter() - start:.1f} s; outputs under {args.out}")
    return results


if __name__ == "__main__":
    main()
