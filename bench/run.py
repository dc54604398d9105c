"""Run every benchmark in bench/ (each bench/*.py but this one and the helper modules), in name order; print each one's
output.

    python bench/run.py            # full runs
    python bench/run.py --quick    # fewer rounds; every benchmark accepts --quick

Each benchmark runs in its own process with this interpreter, from the repository root, so that one's imports
(torch, Numba's compiled kernels) do not change another's timings. Exits non-zero if any benchmark fails; the rest
still run.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HELPERS = ("common.py", "seq2seq_torch.py", "torch_fixture.py")  # not benchmarks: imported modules, a fixture maker


def benchmarks():
    """The benchmark scripts, in name order: every bench/*.py except this one and HELPERS."""
    skipped = {Path(__file__).resolve()} | {(BENCH_DIR / name).resolve() for name in HELPERS}
    return sorted(path for path in BENCH_DIR.glob("*.py") if path.resolve() not in skipped)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run every benchmark in bench/, each in its own process.")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark (fewer rounds)")
    args = parser.parse_args(argv)

    failed = []
    for path in benchmarks():
        command = [sys.executable, str(path)] + (["--quick"] if args.quick else [])
        print(f"\n=== {path.relative_to(REPO_ROOT)}{' --quick' if args.quick else ''} ===\n", flush=True)
        start = time.perf_counter()
        # Output streams straight through, so a long benchmark shows progress and nothing is buffered away.
        returncode = subprocess.run(command, check=False, cwd=REPO_ROOT).returncode
        print(f"\n--- {path.name}: {'ok' if returncode == 0 else f'FAILED (exit {returncode})'}, "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        if returncode != 0:
            failed.append(path.name)

    if failed:
        print(f"\n{len(failed)} benchmark(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nAll benchmarks ran.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
