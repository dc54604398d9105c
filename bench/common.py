"""What the benchmarks share: finding tinyattn, timing interleaved rounds, summaries, tables, threads, the header.

Not a benchmark itself (bench/run.py skips it). The scripts import it as ``common``: Python puts bench/ on
``sys.path`` when it runs ``python bench/<name>.py``. Importing it also makes ``import tinyattn`` work from a
checkout that was never installed (the repository root goes on ``sys.path`` when tinyattn cannot be found).

It imports nothing heavy at module level (NumPy, torch and tinyattn are imported inside the functions that need
them): bench/compile.py times ``import numpy`` and ``import tinyattn`` in a fresh process after importing this.

The timing protocol, used by overhead.py, attention.py, rnn.py and seq2seq.py: a *system* is an object with
``name``, ``fresh()`` (new leaves, cleared gradients), ``forward()`` and, unless ``has_backward`` is False,
``backward()``. ``measure`` warms every system up, then runs rounds in which every system is timed once, the order
rotating by one each round; each timed run starts after ``fresh()`` and ``gc.collect()``. Run it inside
``frozen_gc()`` so that objects that exist before timing (torch's above all) stay out of the collections.
"""
import argparse
import contextlib
import ctypes
import gc
import glob
import importlib.util
import os
import platform
import statistics
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("tinyattn") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, REPO_ROOT)


# ----- timing ------------------------------------------------------------------------------------------------------
def time_call(function, *args):
    """Seconds for one call of function(*args)."""
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def time_once(system):
    """Seconds (forward, backward) for one run of `system` from `fresh()`, after a garbage collection; the backward
    is 0 for a system whose `has_backward` is False."""
    system.fresh()
    gc.collect()
    start = time.perf_counter()
    system.forward()
    middle = time.perf_counter()
    if getattr(system, "has_backward", True):
        system.backward()
    end = time.perf_counter()
    return middle - start, end - middle


def measure(systems, rounds, warmup, settle=0):
    """Per system name, the (forward, backward, total) seconds of every round; the order rotates by one each round.

    `warmup` untimed runs of each system come first. Each timed run follows `settle` untimed runs of the same
    system: threads the previous system left spinning (OpenBLAS's workers, torch's OpenMP pool) would otherwise
    take a core from it (bench/rnn.py: torch right after tinyattn took 2-3x its time right after itself).
    """
    for system in systems:
        for _ in range(warmup):
            time_once(system)
    samples = {system.name: [] for system in systems}
    for round_index in range(rounds):
        shift = round_index % len(systems)
        for system in systems[shift:] + systems[:shift]:
            for _ in range(settle):
                time_once(system)
            forward, backward = time_once(system)
            samples[system.name].append((forward, backward, forward + backward))
    return samples


@contextlib.contextmanager
def frozen_gc():
    """Collect, then freeze what exists now out of the garbage collector until the block ends.

    With torch imported a full collection takes ~0.1 s; frozen, the collection before each timed run is cheap and
    torch's objects are not scanned inside another system's timing.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# ----- summaries and tables ------------------------------------------------------------------------------------------
def quartiles(values):
    """(first quartile, third quartile) of a list of numbers (the value itself twice for a single one)."""
    values = list(values)
    if len(values) == 1:
        return values[0], values[0]
    low, _, high = statistics.quantiles(values, n=4)
    return low, high


def summarise(samples, scale=1e3):
    """Per name: (median forward, median backward, median total, total's first quartile, its third quartile), each
    in seconds times `scale` (1e3: milliseconds). The medians are taken separately, so forward + backward need not
    equal total."""
    summary = {}
    for name, rows in samples.items():
        forward, backward, total = ([scale * value for value in column] for column in zip(*rows, strict=True))
        summary[name] = (statistics.median(forward), statistics.median(backward), statistics.median(total),
                         *quartiles(total))
    return summary


def print_table(header, rows, left=1):
    """A Markdown table: `header` a list of column titles, `rows` lists of cells (formatted here with str); the
    first `left` columns are left-aligned, the others right-aligned (numbers)."""
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" if index < left else "---:" for index in range(len(header))) + " |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def ratio_text(value, base, digits=2):
    """value / base as text with `digits` decimals, or "–" when there is no base (a peer that was skipped)."""
    return "–" if base is None else f"{value / base:.{digits}f}"


def build_systems(makers):
    """Call each (label, make) in turn; `make()` returns a system or a list of them. A maker that fails (an ImportError
    for a peer that is not installed, or a broken install) is reported with a line and skipped."""
    systems = []
    for label, make in makers:
        try:
            made = make()
        except Exception as error:  # noqa: BLE001 (ImportError, or a broken install: report it and go on)
            print(f"skipped {label}: {type(error).__name__}: {error}")
            continue
        systems.extend(made if isinstance(made, list) else [made])
    return systems


def closeness_problem(got, want, rtol, atol, dtype=None, equal_nan=False):
    """None when `got` equals `want` within np.allclose(rtol, atol) with want's shape (and `dtype`, default want's);
    otherwise a short description of the difference, for an error message."""
    import numpy as np

    got, want = np.asarray(got), np.asarray(want)
    dtype = want.dtype if dtype is None else np.dtype(dtype)
    if got.shape != want.shape or got.dtype != dtype:
        return f"shape {got.shape} {got.dtype}, expected {want.shape} {dtype}"
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return None
    with np.errstate(invalid="ignore"):
        difference = np.nanmax(np.where(want == got, 0, np.abs(got - want)))
    finite = np.abs(want[np.isfinite(want)])
    return f"max abs diff {difference:.3g}, reference scale {finite.max() if finite.size else 1.0:.3g}"


# ----- options, profiles ---------------------------------------------------------------------------------------------
def add_round_arguments(parser, rounds, warmup, what="per system"):
    """--rounds, --warmup and --quick; `rounds` and `warmup` are (default, default with --quick)."""
    parser.add_argument("--rounds", type=int, help=f"timed rounds {what} (default {rounds[0]}; {rounds[1]} with "
                        "--quick)")
    parser.add_argument("--warmup", type=int, help=f"untimed runs {what} first (default {warmup[0]}; {warmup[1]} "
                        "with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and warm-up runs (bench/run.py --quick)")


def resolve_rounds(args, rounds, warmup):
    """Fill in args.rounds and args.warmup from (default, quick default) where they were not given."""
    if args.rounds is None:
        args.rounds = rounds[1] if args.quick else rounds[0]
    if args.warmup is None:
        args.warmup = warmup[1] if args.quick else warmup[0]
    return args


def parse_kernel_arguments(doc, argv=None):
    """The command line of a kernel against its reference: --rounds (20; 5 quick) and --warmup (2; 1 quick), both at
    least 1, since the first call compiles and is never timed."""
    parser = new_parser(doc)
    add_round_arguments(parser, rounds=(20, 5), warmup=(2, 1), what="of each side, the warm-up at least 1,")
    args = resolve_rounds(parser.parse_args(argv), rounds=(20, 5), warmup=(2, 1))
    if args.rounds < 1 or args.warmup < 1:
        parser.error("--rounds and --warmup must be at least 1")
    return args


def print_kernel_verdicts(cases, summary, goal="faster than the reference", digits=2):
    """One MET / NOT MET line per case with a target: summary[case.name][2] is its reference / kernel ratio."""
    for case in cases:
        if case.target is None:
            continue
        ratio = summary[case.name][2]
        verdict = "MET" if ratio >= case.target else "NOT MET"
        print(f"Target ({case.name}: kernel at least {case.target:g}x {goal}): {verdict}: {ratio:.{digits}f}x.")


def numba_version():
    """'Numba 0.x', or 'Numba not installed' (read from the package metadata: Numba itself is not imported)."""
    import importlib.metadata

    try:
        return f"Numba {importlib.metadata.version('numba')}"
    except importlib.metadata.PackageNotFoundError:
        return "Numba not installed"


def description(doc):
    """An argparse description: the first paragraph of a module's docstring."""
    return doc.split("\n\n")[0]


def new_parser(doc):
    return argparse.ArgumentParser(description=description(doc))


def profile_phases(system, label, repeats, top):
    """cProfile a system's forward and its backward separately, `repeats` runs each, sorted by own time."""
    import cProfile
    import pstats

    for phase in ("forward", "backward"):
        profiler = cProfile.Profile()
        for _ in range(repeats):
            system.fresh()
            if phase == "forward":
                profiler.runcall(system.forward)
            else:
                system.forward()
                profiler.runcall(system.backward)
        print(f"\ncProfile of {label}'s {phase}, {repeats} runs (times include profiler overhead):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def print_target(name, mine, theirs, factor, unit, peer="torch"):
    """The verdict line of a target `mine <= factor * theirs` (`theirs` None: torch was skipped); `peer` names what
    `theirs` measured ("torch nn.GRU")."""
    bound = f"at most {factor:g}x {peer}" if factor != 1 else f"at or below {peer}"
    if theirs is None:
        print(f"Target ({name} {bound}): cannot tell, torch was skipped; tinyattn {mine:.2f} {unit}.")
        return
    verdict = "MET" if mine <= factor * theirs else "NOT MET"
    print(f"Target ({name} {bound}, total {unit}): {verdict}: tinyattn {mine:.2f} vs torch {theirs:.2f} "
          f"({mine / theirs:.2f}x torch).")


# ----- threads and the environment -----------------------------------------------------------------------------------
def openblas_library():
    """NumPy's bundled OpenBLAS as a ctypes library, or None (another BLAS, or a NumPy laid out differently)."""
    import numpy as np

    try:
        return ctypes.CDLL(glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                                  "*openblas*"))[0])
    except (OSError, IndexError):
        return None


def openblas_function(library, name):
    """The OpenBLAS function `name` ('get_corename'), under whichever prefix and suffix this build uses."""
    for prefix in ("scipy_openblas_", "openblas_"):
        for suffix in ("64_", ""):
            if library is not None and hasattr(library, prefix + name + suffix):
                return getattr(library, prefix + name + suffix)
    return None


def openblas_info():
    """(core, threads): the CPU kernel set NumPy's OpenBLAS chose (e.g. 'Haswell') and its thread count; None
    for what cannot be asked."""
    library = openblas_library()
    corename, threads = openblas_function(library, "get_corename"), openblas_function(library, "get_num_threads")
    if corename is not None:
        corename.restype = ctypes.c_char_p
    return (corename().decode() if corename else None), (threads() if threads else None)


def set_threads(count):
    """Use `count` threads in NumPy's OpenBLAS and in torch (when it is imported)."""
    set_openblas = openblas_function(openblas_library(), "set_num_threads")
    if set_openblas is None:
        raise SystemExit("--threads: cannot reach NumPy's OpenBLAS; set OPENBLAS_NUM_THREADS instead")
    set_openblas(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)


def environment_line(notes=(), blas=False, separator="; "):
    """"Python x, NumPy y, N CPUs, OPENBLAS_CORETYPE=..." plus, with `blas`, the core and thread count OpenBLAS
    reports, then each of `notes` that is not None after `separator`."""
    import numpy as np

    line = (f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} CPUs, "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    if blas:
        core, threads = openblas_info()
        line += f" (OpenBLAS core {core or 'unknown'}, threads {threads or 'unknown'})"
    return line + "".join(separator + note for note in notes if note)


def torch_note(default=True):
    """'torch 2.x, N intra-op threads (its default)' when torch is imported, else None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads" + (" (its default)" if default
                                                                                       else "")


# ----- systems -------------------------------------------------------------------------------------------------------
class LeafSystem:
    """The end of a system whose `forward` leaves `self.out`, a tensor with `.backward(upstream)`, computed from
    `self.leaves`; `self.upstream` is the gradient sent into it. Output and gradients come back as NumPy arrays
    (`.data` and `.grad`: tinyattn and MyGrad)."""

    has_backward = True

    def backward(self):
        self.out.backward(self.upstream)

    def output(self):
        return self.out.data

    def gradients(self):
        return [leaf.grad for leaf in self.leaves]


class TorchLeafSystem(LeafSystem):
    """LeafSystem for torch tensors (`.detach().numpy()`, `.grad.numpy()`)."""

    def output(self):
        return self.out.detach().numpy()

    def gradients(self):
        return [leaf.grad.numpy() for leaf in self.leaves]


class VjpSystem:
    """HIPS autograd: `self.traced = autograd.make_vjp(function, argnum=...)` traces the forward on `self.arrays` and
    returns the backward as a function of the upstream gradient `self.upstream`."""

    has_backward = True

    def fresh(self):
        self.vjp = self.out = self.grads = None

    def forward(self):
        self.vjp, self.out = self.traced(*self.arrays)

    def backward(self):
        self.grads = self.vjp(self.upstream)

    def output(self):
        return self.out

    def gradients(self):
        return list(self.grads)
