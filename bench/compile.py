"""Compile time of tinyattn's Numba kernels: every kernel called once, cold (empty cache), then warm (cache filled).

Each measurement runs in a fresh subprocess (this script with --worker) whose ``NUMBA_CACHE_DIR`` is a new,
empty temporary directory for the cold run, and the same directory, now filled, for the warm run that follows.
The worker times, in this order: ``import numpy``, ``import tinyattn`` (which must not import Numba: kernels
compile lazily), ``import numba``, and then the first call of every kernel's ``.numba`` on small inputs, once in
float32 and once in float64 (each dtype is a separate compilation). A loop function shared by several kernels
(the vectorised exp, the masked-logits row) is compiled with the first kernel that calls it and counted there.

The kernels are found by walking the modules of ``tinyattn.kernels`` for ``Kernel`` objects, named
``module.attribute`` (``softmax.log_softmax``). Their inputs come from ``INPUTS``, a table keyed by that name: a
kernel without an entry makes the script fail, so a new kernel cannot be left out of this measurement.

Targets: the kernel calls take at most 20 s cold and at most 1 s warm (the imports are reported apart), in elapsed
time. Compilation runs in one thread, so the process's CPU time over the same calls, printed beneath, is the figure
to compare between runs on a shared machine: it leaves out the time the process waited for a core.

    python bench/compile.py              # 3 cold/warm pairs, medians
    python bench/compile.py --quick      # 1 pair
"""
import argparse
import importlib
import json
import os
import pkgutil
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# common puts the repository root on sys.path when tinyattn is not installed; it imports neither NumPy nor tinyattn.
import common

REPO_ROOT = common.REPO_ROOT
# numpy, tinyattn and numba are imported inside functions: the worker times those imports itself.

COLD_TARGET, WARM_TARGET = 20.0, 1.0  # seconds for all kernel calls, both dtypes
ROWS, WIDTH = 4, 8  # small inputs: what is measured is compilation, not arithmetic


# ----- the inputs of every kernel, by name: dtype, rng -> (args, kwargs) -----------------------------------------
def _scores(dtype, rng):
    return rng.normal(size=(ROWS, WIDTH)).astype(dtype)


def _keep(rng):
    keep = rng.random((ROWS, WIDTH)) < 0.8
    keep[0] = False  # a row with nothing kept takes its own branch
    return keep


def _targets(rng):
    targets = rng.integers(0, WIDTH, ROWS)
    targets[0] = -100  # an ignored row takes its own branch
    return targets


def _probs(dtype, rng):
    return rng.dirichlet([1.0] * WIDTH, ROWS).astype(dtype)  # rows of probabilities


def _attention(dtype, rng, backward):
    """q, k, v (2 heads, 6 queries, 5 keys, D = 3), a bias with -inf, causal, blocks of 4 (two per axis); for the
    backward also the output, lse and an upstream gradient, from the reference forward."""
    import numpy as np

    from tinyattn.kernels import attention

    q, k, v = (rng.normal(size=(2, length, 3)).astype(dtype) for length in (6, 5, 5))
    bias = np.where(rng.random((2, 6, 5)) < 0.2, -np.inf, 0).astype(dtype)
    if not backward:
        return (q, k, v, 0.5, True, bias, 4), {}
    out, lse = attention.forward_reference(q, k, v, 0.5, True, bias, 4)
    return (q, k, v, out, lse, rng.normal(size=out.shape).astype(dtype), 0.5, True, bias, 4), {}


def _lstm(dtype, rng, backward):
    """One LSTM step of ROWS sequences, H = 2 (gates 4H = WIDTH), the second row a padded step; the outputs are
    preallocated arrays the kernel writes."""
    import numpy as np

    size = WIDTH // 4
    keep = np.ones(ROWS, np.bool_)
    keep[1] = False
    state = [rng.normal(size=(ROWS, size)).astype(dtype) for _ in range(5)]  # three outputs, then h (or d h) and c
    if not backward:
        gates, input_gates = (rng.normal(size=(ROWS, WIDTH)).astype(dtype) for _ in range(2))
        bias = rng.normal(size=WIDTH).astype(dtype)
        return (gates, input_gates, bias, state[3], state[4], keep, *state[:3]), {}
    activations = rng.uniform(0, 1, (ROWS, WIDTH)).astype(dtype)
    return (state[3], state[4], activations, state[0], state[1], keep, np.empty_like(activations), state[2]), {}


def _gru(dtype, rng, backward):
    """One GRU step of ROWS sequences, H = 2 (gates 3H), the second row a padded step; the outputs are preallocated
    arrays the kernel writes."""
    import numpy as np

    size, width = WIDTH // 4, 3 * (WIDTH // 4)
    keep = np.ones(ROWS, np.bool_)
    keep[1] = False
    state = [rng.normal(size=(ROWS, size)).astype(dtype) for _ in range(3)]  # h (or d h), then two outputs
    if not backward:
        gates, input_gates = (rng.normal(size=(ROWS, width)).astype(dtype) for _ in range(2))
        bias = rng.normal(size=width).astype(dtype)
        return (gates, input_gates, bias, state[0], keep, state[1], state[2]), {}
    gates = rng.uniform(0, 1, (ROWS, width)).astype(dtype)
    candidate = rng.uniform(-1, 1, (ROWS, size)).astype(dtype)
    return (state[0], gates, candidate, state[1], keep, np.empty_like(gates), np.empty_like(gates), state[2]), {}


INPUTS = {
    "attention.attention_forward": lambda dtype, rng: _attention(dtype, rng, backward=False),
    "attention.attention_backward": lambda dtype, rng: _attention(dtype, rng, backward=True),
    "exp.exp_nonpositive": lambda dtype, rng: ((-rng.uniform(0, 30, (ROWS, WIDTH)).astype(dtype),), {}),
    "softmax.softmax": lambda dtype, rng: ((_scores(dtype, rng),), {"mask": _keep(rng), "scale": 0.5}),
    "softmax.softmax_backward": lambda dtype, rng: (
        (_scores(dtype, rng) ** 2, _scores(dtype, rng)), {"scale": 0.5}),
    "softmax.log_softmax": lambda dtype, rng: ((_scores(dtype, rng),), {"mask": _keep(rng), "scale": 0.5}),
    "softmax.log_softmax_backward": lambda dtype, rng: (
        (-(_scores(dtype, rng) ** 2), _scores(dtype, rng)), {"scale": 0.5}),
    "softmax.logsumexp": lambda dtype, rng: ((_scores(dtype, rng),), {"mask": _scores(dtype, rng), "scale": 0.5}),
    "cross_entropy.cross_entropy": lambda dtype, rng: (
        (_scores(dtype, rng), _targets(rng)), {"ignore_index": -100, "label_smoothing": 0.1}),
    "cross_entropy.cross_entropy_backward": lambda dtype, rng: (
        (_probs(dtype, rng), _targets(rng), rng.normal(size=ROWS).astype(dtype)),
        {"ignore_index": -100, "label_smoothing": 0.1}),
    "layer_norm.layer_norm": lambda dtype, rng: (
        (_scores(dtype, rng), rng.normal(size=WIDTH).astype(dtype), rng.normal(size=WIDTH).astype(dtype)), {}),
    "layer_norm.layer_norm_backward": lambda dtype, rng: (
        (_scores(dtype, rng), _scores(dtype, rng), rng.normal(size=ROWS).astype(dtype),
         rng.uniform(0.5, 2.0, ROWS).astype(dtype), rng.normal(size=WIDTH).astype(dtype)), {}),
    "glimpse.glimpse_forward": lambda dtype, rng: (
        (rng.normal(size=(2, 1, WIDTH, WIDTH)).astype(dtype), rng.integers(-3, WIDTH, (2, 2, 2)), 2), {}),
    "glimpse.glimpse_backward": lambda dtype, rng: (
        (rng.normal(size=(2, 2, 1, 2, 2)).astype(dtype), rng.integers(-3, WIDTH, (2, 2, 2)), (2, 1, WIDTH, WIDTH)),
        {}),
    "gru.gru_step": lambda dtype, rng: _gru(dtype, rng, backward=False),
    "gru.gru_step_backward": lambda dtype, rng: _gru(dtype, rng, backward=True),
    "lstm.lstm_step": lambda dtype, rng: _lstm(dtype, rng, backward=False),
    "lstm.lstm_step_backward": lambda dtype, rng: _lstm(dtype, rng, backward=True),
    "scatter.scatter_add_rows": lambda dtype, rng: (
        (rng.normal(size=(ROWS, WIDTH)).astype(dtype), rng.integers(0, ROWS, 2 * ROWS),
         rng.normal(size=(2 * ROWS, WIDTH)).astype(dtype)), {}),
    "scatter.scatter_into_zeros": lambda dtype, rng: (
        ((ROWS, WIDTH), rng.integers(0, ROWS, 2 * ROWS), rng.normal(size=(2 * ROWS, WIDTH)).astype(dtype)), {}),
}


def discover_kernels():
    """{'module.attribute': Kernel} for every Kernel in the modules of tinyattn.kernels, each kernel once."""
    import tinyattn.kernels
    from tinyattn.kernels import Kernel

    found = {}  # id -> (name, kernel, defined here)
    for info in sorted(pkgutil.iter_modules(tinyattn.kernels.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"tinyattn.kernels.{info.name}")
        for attribute, value in vars(module).items():
            if not isinstance(value, Kernel):
                continue
            # A kernel imported into another module is named after the module that defines it.
            home = value.__module__ == module.__name__
            if id(value) not in found or (home and not found[id(value)][2]):
                found[id(value)] = (f"{info.name}.{attribute}", value, home)
    return {name: kernel for name, kernel, _ in sorted(found.values(), key=lambda entry: entry[0])}


def check_table(names):
    """Fail unless every kernel has an INPUTS entry; return the entries that match no kernel (to mention)."""
    missing = sorted(set(names) - set(INPUTS))
    if missing:
        raise SystemExit(
            f"bench/compile.py: no INPUTS entry for kernel(s) {', '.join(missing)}; add one per kernel "
            "(dtype, rng -> (args, kwargs)) so that its compile time is measured"
        )
    return sorted(set(INPUTS) - set(names))


# ----- the worker: one fresh process, one cache directory ---------------------------------------------------------
def worker():
    """Time the imports and every kernel's first call in float32 and float64; print the figures as JSON."""
    start = time.perf_counter()
    import numpy as np

    after_numpy = time.perf_counter()
    import tinyattn  # noqa: F401

    after_tinyattn = time.perf_counter()
    numba_imported_by_tinyattn = "numba" in sys.modules
    import numba  # noqa: F401

    after_numba = time.perf_counter()
    kernels = discover_kernels()
    check_table(kernels)
    rng = np.random.default_rng(0)
    calls, cpu = {}, 0.0
    for name, kernel in kernels.items():
        for dtype in (np.float32, np.float64):
            args, kwargs = INPUTS[name](dtype, rng)
            before, cpu_before = time.perf_counter(), time.process_time()
            kernel.numba(*args, **kwargs)
            calls[f"{name} {np.dtype(dtype).name}"] = time.perf_counter() - before
            cpu += time.process_time() - cpu_before
    print(json.dumps({
        "specializations": compiled_specializations(),
        "import numpy": after_numpy - start,
        "import tinyattn": after_tinyattn - after_numpy,
        "import numba": after_numba - after_tinyattn,
        "numba imported by tinyattn": numba_imported_by_tinyattn,
        "calls": calls,
        "cpu": cpu,
    }))


def compiled_specializations():
    """{loop function: number of compiled signatures} over the Numba dispatchers in tinyattn.kernels' modules."""
    counts = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("tinyattn.kernels.") and module is not None:
            for value in vars(module).values():
                if hasattr(value, "signatures") and hasattr(value, "py_func"):  # a Numba dispatcher
                    counts[value.py_func.__name__] = len(value.signatures)
    return dict(sorted(counts.items()))


def run_worker(cache_dir):
    environment = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    environment.pop("TINYATTN_NUMBA", None)
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker"], check=False, cwd=REPO_ROOT,
                            env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the compile worker failed (exit {result.returncode}):\n{result.stderr}{result.stdout}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(pairs):
    """`pairs` cold runs, each in a new empty cache directory, each followed by a warm run on that directory."""
    runs = {"cold": [], "warm": []}
    for _ in range(pairs):
        cache_dir = tempfile.mkdtemp(prefix="tinyattn-numba-cache-")
        try:
            runs["cold"].append(run_worker(cache_dir))
            runs["warm"].append(run_worker(cache_dir))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return runs


# ----- the report ------------------------------------------------------------------------------------------------
def median(values):
    return statistics.median(values)


def print_tables(runs):
    cold, warm = runs["cold"], runs["warm"]
    print("| step | cold s | warm s |")
    print("| --- | ---: | ---: |")
    for step in ("import numpy", "import tinyattn", "import numba"):
        print(f"| {step} | {median(run[step] for run in cold):.3f} | {median(run[step] for run in warm):.3f} |")
    names = list(cold[0]["calls"])
    totals = {kind: median(sum(run["calls"].values()) for run in runs[kind]) for kind in runs}
    print(f"| **all kernel calls ({len(names)})** | **{totals['cold']:.2f}** | **{totals['warm']:.3f}** |")
    print(f"| the same, CPU time of the process | {median(run['cpu'] for run in cold):.2f} "
          f"| {median(run['cpu'] for run in warm):.3f} |")
    print("\nFirst call of each kernel (a shared loop function is compiled with the first kernel that calls it):\n")
    print("| kernel, dtype | cold s | warm s |")
    print("| --- | ---: | ---: |")
    for name in names:
        print(f"| {name} | {median(run['calls'][name] for run in cold):.3f} "
              f"| {median(run['calls'][name] for run in warm):.4f} |")
    return totals


def print_verdicts(totals):
    for kind, target in (("cold", COLD_TARGET), ("warm", WARM_TARGET)):
        verdict = "MET" if totals[kind] <= target else "NOT MET"
        print(f"Target ({kind}: all kernel calls, both dtypes, at most {target:g} s): {verdict}: {totals[kind]:.3f} s.")


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    parser.add_argument("--pairs", type=int, help="cold/warm pairs of runs (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="one pair (bench/run.py --quick)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # the subprocess's own mode
    args = parser.parse_args(argv)
    if args.pairs is None:
        args.pairs = 1 if args.quick else 3
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker()
        return
    import numpy as np

    kernels = discover_kernels()
    unused = check_table(kernels)  # fail before spending a minute in subprocesses
    runs = measure(args.pairs)
    numba_by_tinyattn = any(run["numba imported by tinyattn"] for kind in runs for run in runs[kind])
    import numba

    print(f"Numba compile time of every tinyattn kernel ({len(kernels)}), first call in float32 and in float64, "
          f"each run a fresh process; median of {args.pairs} cold/warm pair(s).")
    print(f"Python {sys.version.split()[0]}, NumPy {np.__version__}, Numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs. Cold: an empty NUMBA_CACHE_DIR; warm: the same directory, filled by the cold run.")
    print("import tinyattn " + ("IMPORTED NUMBA (its time is in 'import tinyattn')" if numba_by_tinyattn
                                else "did not import Numba") + ".")
    if unused:
        print(f"INPUTS entries with no kernel (ignored): {', '.join(unused)}")
    specializations = runs["cold"][0]["specializations"]
    print(f"Compiled by these calls ({sum(specializations.values())} specializations; loop function x signatures): "
          + ", ".join(f"{name} x{count}" for name, count in specializations.items()) + ".")
    print()
    totals = print_tables(runs)
    print()
    print_verdicts(totals)


if __name__ == "__main__":
    main()
