"""Each tinyattn kernel against its NumPy reference: milliseconds per call and the ratio reference / kernel.

The kernels live in ``tinyattn.kernels``; each is a ``Kernel`` with a NumPy ``.reference`` and a Numba ``.numba``
of the same signature. Both are called directly here, so the global switch (``use_numba``) plays no part. All
inputs are float32. One table, ``CASES``, lists what is timed: a name, the input sizes, a setup that builds the
inputs once, the reference call, the kernel call, and the least acceptable ratio (or None). A kernel family
that is still being written joins the table through ``OPTIONAL_FAMILIES``: its entries appear when its module
imports, and a line says it was skipped otherwise. Beside the scatter-add kernel, rows time the embedding lookup as a
user runs it (``w[ids]`` or ``F.embedding(w, ids)``, forward, then ``backward`` into ``w.grad``, through the engine
and the kernel switch) against ``np.zeros`` + ``np.add.at`` alone, and torch's ``F.embedding`` forward + backward
(one thread) when torch imports.

Before anything is timed, each kernel's result must equal its reference's (``np.allclose`` with a float32
tolerance: rtol 1e-4, atol 1e-5 times the largest finite reference value); otherwise the script stops with an
error. Each call is warmed up first (the first Numba call compiles, or loads the compiled code from the disk
cache). Then reference and kernel are timed alternately, every case in every round, the order within a pair
swapping each round; the table gives medians over the rounds, and the ratio with its interquartile range is
taken per round, from the pair timed together.

    python bench/kernels.py              # 20 rounds
    python bench/kernels.py --quick      # 5 rounds
"""
import importlib
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
from tinyattn.kernels import exp as exp_kernels
from tinyattn.kernels import softmax as softmax_kernels

DTYPE = np.float32
ROWS, WIDTH = 16384, 256  # the softmax family: 16,384 rows of 256 scores (64 heads x 256 queries x 256 keys)
RTOL, ATOL_SCALE = 1e-4, 1e-5


@dataclass(frozen=True)
class Case:
    """One timed comparison: `reference(inputs)` against `kernel(inputs)`, `inputs = setup(rng)` built once."""

    name: str
    size: str  # the input sizes, for the table
    setup: Callable  # np.random.Generator -> dict of inputs
    reference: Callable  # inputs -> an array or a tuple of arrays
    kernel: Callable  # the same, with the Numba kernel
    target: float | None = None  # the least acceptable ratio reference time / kernel time, or None


# ----- the softmax family and the exp (always present) ---------------------------------------------------------
def _scores(rng):
    """Scores with the spread of scaled attention scores, and a random upstream gradient, (ROWS, WIDTH)."""
    return {
        "scores": rng.normal(0.0, 2.0, (ROWS, WIDTH)).astype(DTYPE),
        "grad": rng.normal(size=(ROWS, WIDTH)).astype(DTYPE),
    }


def _scores_and_mask(rng):
    """As _scores, plus a boolean mask (True = keep) keeping ~90% of positions; every 64th row keeps nothing."""
    inputs = _scores(rng)
    keep = rng.random((ROWS, WIDTH)) < 0.9
    keep[::64] = False
    inputs["mask"] = keep
    return inputs


def _softmax_forward_backward(kernel_of):
    """The softmax weights and their backward; `kernel_of` picks .reference or .numba of a Kernel."""

    def run(inputs):
        weights = kernel_of(softmax_kernels.softmax)(inputs["scores"], inputs.get("mask"))
        return weights, kernel_of(softmax_kernels.softmax_backward)(weights, inputs["grad"])

    return run


def _log_softmax_forward_backward(kernel_of):
    def run(inputs):
        log_probs = kernel_of(softmax_kernels.log_softmax)(inputs["scores"], inputs.get("mask"))
        return log_probs, kernel_of(softmax_kernels.log_softmax_backward)(log_probs, inputs["grad"])

    return run


def _reference(kernel):
    return kernel.reference


def _numba(kernel):
    return kernel.numba


SOFTMAX_SIZE = f"{ROWS} x {WIDTH}"

CASES = [
    Case("softmax forward + backward", SOFTMAX_SIZE, _scores,
         _softmax_forward_backward(_reference), _softmax_forward_backward(_numba), target=3.0),
    Case("softmax forward + backward, boolean mask", SOFTMAX_SIZE + ", 10% masked", _scores_and_mask,
         _softmax_forward_backward(_reference), _softmax_forward_backward(_numba)),
    Case("log_softmax forward + backward", SOFTMAX_SIZE, _scores,
         _log_softmax_forward_backward(_reference), _log_softmax_forward_backward(_numba)),
    Case("logsumexp", SOFTMAX_SIZE, _scores,
         lambda inputs: softmax_kernels.logsumexp.reference(inputs["scores"]),
         lambda inputs: softmax_kernels.logsumexp.numba(inputs["scores"])),
    Case("exp_nonpositive vs np.exp", f"{ROWS * WIDTH:,} values in [-30, 0]",
         lambda rng: {"values": rng.uniform(-30.0, 0.0, ROWS * WIDTH).astype(DTYPE)},
         lambda inputs: np.exp(inputs["values"]),
         lambda inputs: exp_kernels.exp_nonpositive.numba(inputs["values"])),
]


# ----- families still being written: an entry each, when the module imports -----------------------------------
EMBEDDING_ROWS, LOOKUPS, EMBEDDING_WIDTH = 10_000, 32_768, 256


def scatter_cases(module):
    """Embedding backward: N = 32,768 gradient rows of 256 added into a (10,000, 256) table, indices repeating."""

    def setup(rng):
        return {
            "rows": rng.integers(0, EMBEDDING_ROWS, LOOKUPS),  # 32,768 draws from 10,000: most rows repeat
            "values": rng.normal(size=(LOOKUPS, EMBEDDING_WIDTH)).astype(DTYPE),
        }

    def call(function):
        # The table starts at zero on every call, for both (the allocation is the same for both and is timed).
        return lambda inputs: function(np.zeros((EMBEDDING_ROWS, EMBEDDING_WIDTH), DTYPE), inputs["rows"],
                                       inputs["values"])

    kernel = module.scatter_add_rows
    size = f"({LOOKUPS:,}, {EMBEDDING_WIDTH}) into ({EMBEDDING_ROWS:,}, {EMBEDDING_WIDTH})"
    return [Case("scatter_add_rows vs np.add.at (embedding backward)", size, setup, call(kernel.reference),
                 call(kernel.numba), target=10.0)] + embedding_path_cases()


# The embedding lookup as a user runs it (issue 16): the whole path, forward + backward through the engine, against
# np.add.at alone (the gradient's zeros and the scatter-add, no forward).
VOCABULARY, USER_LOOKUPS, USER_WIDTH = 50_000, 16_384, 64


def embedding_path_cases():
    """`w[ids]` and `F.embedding(w, ids)`, then `.backward(upstream)` into a leaf w (V, D) whose .grad starts empty,
    against np.zeros((V, D)) + np.add.at; and torch's F.embedding forward + backward (one thread) when it imports."""
    import tinyattn as ta
    import tinyattn.functional as F

    def setup(rng):
        table = rng.normal(size=(VOCABULARY, USER_WIDTH)).astype(DTYPE)
        return {"table": table, "weight": ta.tensor(table, requires_grad=True),
                "ids": rng.integers(0, VOCABULARY, USER_LOOKUPS),
                "upstream": rng.normal(size=(USER_LOOKUPS, USER_WIDTH)).astype(DTYPE)}

    def add_at(inputs):
        full = np.zeros((VOCABULARY, USER_WIDTH), DTYPE)
        np.add.at(full, inputs["ids"], inputs["upstream"])
        return full

    def user_path(lookup):
        def run(inputs):
            weight = inputs["weight"]
            weight.grad = None  # as after optimizer.zero_grad()
            lookup(weight, inputs["ids"]).backward(inputs["upstream"])
            return weight.grad

        return run

    size = f"V={VOCABULARY:,}, D={USER_WIDTH}, N={USER_LOOKUPS:,} ids"
    cases = [
        Case("embedding lookup fwd+bwd as a user runs it: w[ids] vs np.zeros + np.add.at", size, setup, add_at,
             user_path(lambda weight, ids: weight[ids]), target=6.0),
        Case("embedding lookup fwd+bwd as a user runs it: F.embedding(w, ids) vs np.zeros + np.add.at", size, setup,
             add_at, user_path(F.embedding), target=6.0),
    ]
    try:
        import torch
    except ImportError as error:
        print(f"skipped the torch embedding row: {error}")
        return cases
    torch.set_num_threads(1)  # the kernels here are serial; torch's spinning workers would also disturb the others

    def torch_setup(rng):
        inputs = setup(rng)
        inputs["torch weight"] = torch.tensor(inputs["table"], requires_grad=True)
        inputs["torch ids"], inputs["torch upstream"] = torch.from_numpy(inputs["ids"]), torch.from_numpy(
            inputs["upstream"])
        return inputs

    def torch_path(inputs):
        weight = inputs["torch weight"]
        weight.grad = None
        torch.nn.functional.embedding(inputs["torch ids"], weight).backward(inputs["torch upstream"])
        return weight.grad.numpy()

    return cases + [Case("torch F.embedding fwd+bwd (1 thread) vs np.zeros + np.add.at", size, torch_setup, add_at,
                         torch_path)]


def cross_entropy_cases(module):
    """Cross-entropy of 16,384 rows of 256 logits against integer targets (1 row in 32 ignored), forward + backward.

    Signatures (tinyattn/kernels/cross_entropy.py): cross_entropy(logits, targets, ignore_index=-100,
    label_smoothing=0.0) -> (losses, probs); cross_entropy_backward(probs, targets, grad, ignore_index=-100,
    label_smoothing=0.0) -> d_logits.
    """

    def setup(rng):
        targets = rng.integers(0, WIDTH, ROWS)
        targets[::32] = -100  # padding positions, as ignore_index
        return {"logits": rng.normal(0.0, 2.0, (ROWS, WIDTH)).astype(DTYPE), "targets": targets,
                "grad": rng.normal(size=ROWS).astype(DTYPE)}

    def forward_backward(kernel_of):
        def run(inputs):
            losses, probs = kernel_of(module.cross_entropy)(inputs["logits"], inputs["targets"])
            return losses, probs, kernel_of(module.cross_entropy_backward)(probs, inputs["targets"], inputs["grad"])

        return run

    return [Case("cross_entropy forward + backward", f"{ROWS} x {WIDTH} logits", setup,
                 forward_backward(_reference), forward_backward(_numba))]


def layer_norm_cases(module):
    """Layer norm of 16,384 rows of 256 features with a weight and a bias, forward + backward.

    Signatures (tinyattn/kernels/layer_norm.py): layer_norm(x, weight=None, bias=None, eps=1e-5) -> (out, mean,
    rstd); layer_norm_backward(grad_out, x, mean, rstd, weight=None) -> (d_x, d_weight, d_bias).
    """

    def setup(rng):
        return {"x": (1.0 + rng.normal(size=(ROWS, WIDTH))).astype(DTYPE),
                "weight": rng.uniform(0.5, 1.5, WIDTH).astype(DTYPE), "bias": rng.normal(size=WIDTH).astype(DTYPE),
                "grad": rng.normal(size=(ROWS, WIDTH)).astype(DTYPE)}

    def forward_backward(kernel_of):
        def run(inputs):
            x, weight = inputs["x"], inputs["weight"]
            out, mean, rstd = kernel_of(module.layer_norm)(x, weight, inputs["bias"])
            return (out, mean, rstd) + kernel_of(module.layer_norm_backward)(inputs["grad"], x, mean, rstd, weight)

        return run

    return [Case("layer_norm forward + backward", f"{ROWS} x {WIDTH}, weight and bias", setup,
                 forward_backward(_reference), forward_backward(_numba))]


#: module name under tinyattn.kernels -> function(module) giving its cases
OPTIONAL_FAMILIES = {"scatter": scatter_cases, "cross_entropy": cross_entropy_cases, "layer_norm": layer_norm_cases}


def optional_cases():
    """The cases of every optional family whose module imports; a printed line for each one skipped."""
    cases = []
    for family, make_cases in OPTIONAL_FAMILIES.items():
        try:
            module = importlib.import_module(f"tinyattn.kernels.{family}")
        except Exception as error:  # noqa: BLE001 (not written yet (ImportError), or half-written: report it and go on)
            print(f"skipped tinyattn.kernels.{family}: {type(error).__name__}: {error}")
            continue
        cases.extend(make_cases(module))
    return cases


# ----- checking and timing ---------------------------------------------------------------------------------------
def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def check_agreement(case, inputs):
    """Fail loudly unless the kernel's result equals the reference's, in float32 tolerance."""
    expected, got = as_tuple(case.reference(inputs)), as_tuple(case.kernel(inputs))
    if len(expected) != len(got):
        raise AssertionError(f"{case.name}: the kernel returned {len(got)} arrays, the reference {len(expected)}")
    for index, (want, have) in enumerate(zip(expected, got, strict=True)):
        finite = np.abs(np.asarray(want)[np.isfinite(want)])
        scale = finite.max() if finite.size else 1.0
        problem = common.closeness_problem(have, want, rtol=RTOL, atol=ATOL_SCALE * scale, equal_nan=True)
        if problem:
            raise AssertionError(f"{case.name}: result {index} of the kernel differs from the reference ({problem})")


def measure(cases, inputs, rounds, warmup):
    """Per case, the (reference, kernel) seconds of every round; the pair's order swaps each round."""
    for case in cases:
        for _ in range(warmup):
            common.time_call(case.reference, inputs[case.name])
            common.time_call(case.kernel, inputs[case.name])
    samples = {case.name: [] for case in cases}
    for round_index in range(rounds):
        for case in cases:
            if round_index % 2:
                kernel = common.time_call(case.kernel, inputs[case.name])
                reference = common.time_call(case.reference, inputs[case.name])
            else:
                reference = common.time_call(case.reference, inputs[case.name])
                kernel = common.time_call(case.kernel, inputs[case.name])
            samples[case.name].append((reference, kernel))
    return samples


def summarise(samples):
    """Per case: median reference ms, median kernel ms, median per-round ratio and its quartiles."""
    summary = {}
    for name, pairs in samples.items():
        ratios = [reference / kernel for reference, kernel in pairs]
        summary[name] = (
            1e3 * statistics.median(reference for reference, _ in pairs),
            1e3 * statistics.median(kernel for _, kernel in pairs),
            statistics.median(ratios), *common.quartiles(ratios),
        )
    return summary


def print_results(cases, summary):
    rows = []
    for case in cases:
        reference, kernel, ratio, low, high = summary[case.name]
        rows.append([case.name, case.size, f"{reference:.2f}", f"{kernel:.2f}", f"{ratio:.2f}x",
                     f"{low:.2f}–{high:.2f}", f"≥ {case.target:g}x" if case.target else "–"])
    common.print_table(["kernel", "input (float32)", "reference ms", "kernel ms", "reference / kernel", "ratio IQR",
                        "target"], rows, left=2)


def parse_args(argv=None):
    return common.parse_kernel_arguments(__doc__, argv)


def main(argv=None):
    args = parse_args(argv)
    import numba

    cases = CASES + optional_cases()
    rng = np.random.default_rng(0)
    inputs = {case.name: case.setup(rng) for case in cases}
    for case in cases:
        check_agreement(case, inputs[case.name])  # also the first call: it compiles (or loads from the cache)

    print(f"Kernels against their NumPy references, float32, one process; median of {args.rounds} rounds "
          f"(reference and kernel alternating) after {args.warmup} warm-up call(s) of each.")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, Numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs; the kernels are serial (one thread) and call no BLAS.")
    print(f"Every kernel gave its reference's result before timing (np.allclose, rtol {RTOL:g}, "
          f"atol {ATOL_SCALE:g} x the largest finite reference value).")
    from tinyattn.kernels.switch import numba_enabled

    print("The embedding rows run the library as a user does (the switch picks the kernels: "
          f"{'Numba' if numba_enabled() else 'NumPy references'}).")
    summary = summarise(measure(cases, inputs, args.rounds, args.warmup))
    print()
    print_results(cases, summary)
    print()
    common.print_kernel_verdicts(cases, summary)


if __name__ == "__main__":
    main()
