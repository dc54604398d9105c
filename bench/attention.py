"""Attention forward and backward, B*H = 64 heads, T = 256, D = 64, float32: tinyattn against torch and the others.

Every system computes the same thing from the same float32 arrays q, k, v of shape (64, T, D):

    scores  = q @ k^T                         (64, T, T)
    weights = softmax(scores / sqrt(D))       over the keys (last axis)
    out     = weights @ v                     (64, T, D)

and then, from one random upstream gradient of `out`, the gradients of q, k and v. Before anything is timed,
each system's output and three gradients must equal those of plain NumPy with a hand-written backward (the
floor: no autodiff, no graph), within a float32 tolerance; otherwise the script stops with an error.

Systems: tinyattn written with its ops, three ways: the fused softmax ``F.softmax(scores, scale=...)`` with the
Numba kernels, the unfused ``F.softmax(scores * scale)``, and the fused form with the NumPy reference kernels
(``use_numba(False)``); torch ``scaled_dot_product_attention`` on 3-D inputs (64, T, D) and on 4-D inputs
(4, 16, T, D) (torch picks a different CPU kernel for each); torch written out, softmax(q k^T / sqrt(D)) v; HIPS
autograd and MyGrad when importable; and the NumPy floor. All run in one process, warmed up, interleaved over
rounds (the order rotates each round); the table gives medians. Each timed run starts from fresh leaves after
`gc.collect()`, with the objects that exist before timing frozen out of the collector (as in overhead.py).

GFLOP/s counts the six matrix multiplies only: 4 B H T^2 D for the two of the forward and 8 B H T^2 D for the
four of the backward (softmax and the elementwise work are not counted).

    python bench/attention.py                # 20 rounds
    python bench/attention.py --quick        # 5 rounds
    python bench/attention.py --threads 1    # one thread in OpenBLAS and torch: steadier on a shared machine
    python bench/attention.py --profile      # also: where tinyattn's time goes, step by step, and a cProfile

The header says how many threads OpenBLAS and torch use, the OPENBLAS_CORETYPE setting and the core OpenBLAS chose
(the setting picks which matrix kernels OpenBLAS runs: on an AVX-512 CPU, =Haswell forgoes the AVX-512 kernels and
about half the matmul peak; on an AVX2 CPU it changes nothing; see bench/README.md). With 2 cores and 2-thread
matrix multiplies, one other busy process makes the figures meaningless (a thread waits at every barrier for the one
that was descheduled): run on a quiet machine.
"""
import gc
import math
import statistics
import sys

import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
import tinyattn
import tinyattn.functional as F
from tinyattn.kernels import use_numba

HEADS, TIME, DIM = 64, 256, 64  # B*H, T, D
HEADS_4D = (4, 16)  # the same 64 heads as (B, H) for torch's 4-D inputs
SCALE = 1.0 / math.sqrt(DIM)
DTYPE = np.float32
FORWARD_FLOPS = 4 * HEADS * TIME * TIME * DIM  # q k^T and weights v
BACKWARD_FLOPS = 8 * HEADS * TIME * TIME * DIM  # d weights, d v, d q, d k
RTOL, ATOL_SCALE = 1e-4, 1e-5


def make_inputs(seed=0):
    """q, k, v (64, T, D) with unit normal entries, and the upstream gradient of the output, all float32."""
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(HEADS, TIME, DIM)).astype(DTYPE) for _ in range(4))


def numpy_softmax(scores):
    """Row softmax over the last axis, in place: the max subtracted, then exp, then divided by the sum."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


# ----- the systems: each makes fresh leaves, runs the forward, runs the backward, and hands back arrays ---------
class NumpyByHand:
    """The floor: plain NumPy, the backward written out by hand, in place where that is natural."""

    name = "NumPy, hand-written backward"

    def __init__(self, inputs):
        self.query, self.keys, self.values, self.upstream = inputs

    def fresh(self):
        self.out = self.grads = self.weights = None

    def forward(self):
        scores = self.query @ self.keys.swapaxes(-1, -2)  # (BH, T, D) @ (BH, D, T) -> (BH, T, T)
        scores *= DTYPE(SCALE)
        self.weights = numpy_softmax(scores)
        self.out = self.weights @ self.values  # (BH, T, T) @ (BH, T, D) -> (BH, T, D)

    def backward(self):
        weights, grad = self.weights, self.upstream
        grad_values = weights.swapaxes(-1, -2) @ grad
        grad_scores = grad @ self.values.swapaxes(-1, -2)  # d weights, turned into d scores in place
        grad_scores -= np.sum(grad_scores * weights, axis=-1, keepdims=True)
        grad_scores *= weights
        grad_scores *= DTYPE(SCALE)
        self.grads = (grad_scores @ self.keys, grad_scores.swapaxes(-1, -2) @ self.query, grad_values)

    def output(self):
        return self.out

    def gradients(self):
        return self.grads


class Tinyattn(common.LeafSystem):
    """tinyattn's ops; `fused` passes the scale to softmax, `numba` chooses the kernels or their references."""

    def __init__(self, inputs, fused=True, numba=True):
        self.arrays, self.upstream = inputs[:3], inputs[3]
        self.fused, self.numba = fused, numba
        self.name = ("tinyattn, " + ("F.softmax(scores, scale=s)" if fused else "F.softmax(scores * s)")
                     + ("" if numba else ", NumPy references"))

    def fresh(self):
        use_numba(self.numba)  # the switch is global: each run sets the one it is measured with
        self.leaves = [tinyattn.tensor(array, requires_grad=True) for array in self.arrays]
        self.out = None

    def forward(self):
        query, keys, values = self.leaves
        scores = query @ keys.swapaxes(-1, -2)  # (BH, T, D) @ (BH, D, T) -> (BH, T, T)
        weights = F.softmax(scores, scale=SCALE) if self.fused else F.softmax(scores * SCALE)
        self.out = weights @ values  # (BH, T, T) @ (BH, T, D) -> (BH, T, D)


class Torch(common.TorchLeafSystem):
    """torch, with `attention(q, k, v)` on leaves of `shape` (the gradients are reshaped back to (BH, T, D))."""

    def __init__(self, inputs, name, attention, shape):
        import torch

        self.torch, self.name, self.attention, self.shape = torch, name, attention, shape
        self.arrays = [array.reshape(shape) for array in inputs[:3]]
        self.upstream = torch.from_numpy(inputs[3].reshape(shape).copy())

    def fresh(self):
        self.leaves = [self.torch.tensor(array, requires_grad=True) for array in self.arrays]
        self.out = None

    def forward(self):
        self.out = self.attention(*self.leaves)

    def output(self):
        return self.out.detach().numpy().reshape(HEADS, TIME, DIM)

    def gradients(self):
        return [leaf.grad.numpy().reshape(HEADS, TIME, DIM) for leaf in self.leaves]


def torch_systems(inputs):
    import torch

    def sdpa(query, keys, values):
        return torch.nn.functional.scaled_dot_product_attention(query, keys, values)  # scale 1/sqrt(D) by default

    def manual(query, keys, values):
        scores = query @ keys.transpose(-1, -2)
        return torch.softmax(scores * SCALE, dim=-1) @ values

    three_d = (HEADS, TIME, DIM)
    return [
        Torch(inputs, "torch sdpa, 3-D (64, T, D)", sdpa, three_d),
        Torch(inputs, "torch sdpa, 4-D (4, 16, T, D)", sdpa, HEADS_4D + (TIME, DIM)),
        Torch(inputs, "torch manual softmax(q k^T s) v", manual, three_d),
    ]


class HipsAutograd(common.VjpSystem):
    name = "HIPS autograd"

    def __init__(self, inputs):
        import autograd
        import autograd.numpy as anp

        def attention(query, keys, values):
            scores = anp.matmul(query, anp.swapaxes(keys, -1, -2)) * SCALE
            scores = scores - anp.max(scores, axis=-1, keepdims=True)
            exps = anp.exp(scores)
            return anp.matmul(exps / anp.sum(exps, axis=-1, keepdims=True), values)

        self.arrays, self.upstream = inputs[:3], inputs[3]
        # make_vjp traces the forward and returns the backward as a function of the upstream gradient.
        self.traced = autograd.make_vjp(attention, argnum=(0, 1, 2))


class Mygrad(common.LeafSystem):
    name = "MyGrad"

    def __init__(self, inputs):
        import mygrad
        from mygrad.nnet.activations import softmax

        self.mygrad, self.softmax = mygrad, softmax
        self.arrays, self.upstream = inputs[:3], inputs[3]

    def fresh(self):
        self.leaves = [self.mygrad.tensor(array.copy()) for array in self.arrays]
        self.out = None

    def forward(self):
        query, keys, values = self.leaves
        scores = self.mygrad.matmul(query, self.mygrad.swapaxes(keys, -1, -2))
        # A float32 scale: MyGrad turns a Python float into a float64 array, and the rest would run in float64.
        self.out = self.mygrad.matmul(self.softmax(scores * DTYPE(SCALE), axis=-1), values)


def build_systems(inputs):
    """The floor and tinyattn, then each peer that can be imported (a line for each one skipped)."""
    systems = [
        NumpyByHand(inputs),
        Tinyattn(inputs, fused=True),
        Tinyattn(inputs, fused=False),
        Tinyattn(inputs, fused=True, numba=False),
    ]
    return systems + common.build_systems([("torch", lambda: torch_systems(inputs)),
                                           ("HIPS autograd", lambda: HipsAutograd(inputs)),
                                           ("MyGrad", lambda: Mygrad(inputs))])


# ----- checking and timing ---------------------------------------------------------------------------------------
def run_once(system):
    system.fresh()
    system.forward()
    system.backward()
    return [system.output(), *system.gradients()]


def check_same_work(system, expected):
    """Fail loudly unless `system` gives the floor's output and gradients (float32, within float32 tolerance)."""
    for label, got, want in zip(("output", "grad q", "grad k", "grad v"), run_once(system), expected, strict=True):
        problem = common.closeness_problem(got, want, rtol=RTOL, atol=ATOL_SCALE * np.abs(want).max())
        if problem:
            raise AssertionError(f"{system.name}: {label} differs from the NumPy floor ({problem}); the systems would "
                                 "not be doing the same work")


BASELINE = "torch sdpa, 3-D (64, T, D)"


def print_results(summary, systems):
    rows = []
    for system in systems:
        forward, backward, total, low, high = summary[system.name]
        gflops = (FORWARD_FLOPS + BACKWARD_FLOPS) / (total * 1e-3) / 1e9
        rows.append([system.name, f"{forward:.1f}", f"{backward:.1f}", f"{total:.1f}", f"{low:.1f}–{high:.1f}",
                     f"{gflops:.0f}", common.ratio_text(total, summary[BASELINE][2] if BASELINE in summary else None)])
    common.print_table(["system", "forward ms", "backward ms", "total ms", "total IQR", "GFLOP/s",
                        "× torch sdpa 3-D"], rows)


def environment_line(systems):
    notes = []
    if any(isinstance(system, Torch) for system in systems):
        import torch

        notes.append(f"torch {torch.__version__}, intra-op threads {torch.get_num_threads()}")
    return common.environment_line(notes, blas=True, separator=", ")


def profile_tinyattn(inputs, rounds):
    """Where tinyattn's time goes. Each array operation that its fused forward and backward perform is timed alone
    on the same arrays; then the same operations back to back with no engine (a plain NumPy + kernel pipeline);
    then tinyattn itself. Steps alone against the pipeline shows what running them in sequence costs (caches,
    fresh 16 MB arrays); the pipeline against tinyattn is the engine's own cost (graph, VJP calls, checks).
    Medians over interleaved rounds; then a short cProfile of tinyattn."""
    import cProfile
    import pstats

    from tinyattn.kernels import softmax as softmax_kernels

    softmax, softmax_backward = softmax_kernels.softmax.numba, softmax_kernels.softmax_backward.numba
    query, keys, values, grad = inputs
    scores = query @ keys.swapaxes(-1, -2)
    weights = softmax(scores, None, SCALE)
    grad_weights = grad @ values.swapaxes(-1, -2)
    grad_scores = softmax_backward(weights, grad_weights, SCALE)
    grad_keys_t = query.swapaxes(-1, -2) @ grad_scores  # matmul's VJP for k^T; swapaxes' VJP transposes it back
    steps = {
        "forward: matmul q @ k^T": lambda: query @ keys.swapaxes(-1, -2),
        "forward: softmax kernel (scale fused)": lambda: softmax(scores, None, SCALE),
        "forward: matmul weights @ v": lambda: weights @ values,
        "backward: matmul d weights = g @ v^T": lambda: grad @ values.swapaxes(-1, -2),
        "backward: matmul d v = weights^T @ g": lambda: weights.swapaxes(-1, -2) @ grad,
        "backward: softmax_backward kernel": lambda: softmax_backward(weights, grad_weights, SCALE),
        "backward: matmul d q = d scores @ k": lambda: grad_scores @ keys,
        "backward: matmul d k^T = q^T @ d scores": lambda: query.swapaxes(-1, -2) @ grad_scores,
        # q.grad and v.grad keep the matmul results; k's gradient is a transposed view, copied into k.grad.
        "backward: copy of d k (a transposed view) into k.grad": lambda: np.array(grad_keys_t.swapaxes(-1, -2)),
    }

    def pipeline():
        weights = softmax(query @ keys.swapaxes(-1, -2), None, SCALE)
        out = weights @ values
        grad_values = weights.swapaxes(-1, -2) @ grad
        grad_scores = softmax_backward(weights, grad @ values.swapaxes(-1, -2), SCALE)
        grad_query, grad_keys_t = grad_scores @ keys, query.swapaxes(-1, -2) @ grad_scores
        return out, grad_query, np.array(grad_keys_t.swapaxes(-1, -2)), grad_values

    system = Tinyattn(inputs, fused=True)

    def whole():
        system.forward()
        system.backward()

    steps["pipeline"], steps["whole"] = pipeline, whole
    samples = {name: [] for name in steps}
    # As in the main measurement, torch's objects are frozen out of the collector: a full collection with them takes
    # ~0.1 s, long enough for OpenBLAS's threads to fall asleep and make the next matmul pay for waking them.
    with common.frozen_gc():
        for round_index in range(rounds + 1):  # round 0 warms up
            for name, step in steps.items():
                system.fresh()
                gc.collect()
                seconds = common.time_call(step)
                if round_index:
                    samples[name].append(seconds)
    medians = {name: 1e3 * statistics.median(values) for name, values in samples.items()}
    total, back_to_back = medians.pop("whole"), medians.pop("pipeline")
    alone = sum(medians.values())

    def row(name, value, bold=False):
        text = f"**{name}** | **{value:.1f}**" if bold else f"{name} | {value:.1f}"
        print(f"| {text} | {100 * value / total:.0f}% |")

    print(f"\nWhere tinyattn's time goes (fused, Numba; median of {rounds} rounds; share of tinyattn's total):\n")
    common.print_table(["step", "ms", "share"], [])
    for name, value in medians.items():
        row(name, value)
    row("sum of the steps, each timed alone", alone, bold=True)
    row("the same steps back to back, no engine", back_to_back, bold=True)
    row("tinyattn forward + backward", total, bold=True)
    row("the engine's own cost (tinyattn - the steps back to back)", total - back_to_back)

    profiler = cProfile.Profile()
    for _ in range(5):
        system.fresh()
        profiler.runcall(whole)
    print("\ncProfile of 5 forward + backward runs (own time; NumPy's matmul is inside matmul and grad_a/grad_b):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(10)


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    common.add_round_arguments(parser, rounds=(20, 5), warmup=(2, 1))
    parser.add_argument("--threads", type=int, help="threads for OpenBLAS and torch (default: their own defaults, "
                        "one per core); 1 gives steadier figures on a shared machine")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, time each step of tinyattn's forward and backward, and cProfile it")
    args = common.resolve_rounds(parser.parse_args(argv), rounds=(20, 5), warmup=(2, 1))
    if args.rounds < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        parser.error("--rounds and --threads must be at least 1, --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    inputs = make_inputs()
    floor = NumpyByHand(inputs)
    expected = run_once(floor)
    systems = build_systems(inputs)
    if args.threads:
        common.set_threads(args.threads)
    for system in systems:
        check_same_work(system, expected)  # tinyattn's first run also compiles its kernels (or loads them)

    print(f"Attention forward + backward, B*H = {HEADS}, T = {TIME}, D = {DIM}, float32; median of {args.rounds} "
          f"interleaved rounds after {args.warmup} warm-up run(s) per system.")
    print(environment_line(systems))
    print(f"GFLOP/s counts the matrix multiplies only: 4 B H T^2 D forward + 8 B H T^2 D backward = "
          f"{(FORWARD_FLOPS + BACKWARD_FLOPS) / 1e9:.2f} GFLOP per run.")
    print(f"All systems gave the NumPy floor's output and gradients of q, k, v before timing (np.allclose, "
          f"rtol {RTOL:g}, atol {ATOL_SCALE:g} x the largest reference value).")

    try:
        with common.frozen_gc():  # torch's objects stay out of the collections timed inside other systems' runs
            samples = common.measure(systems, args.rounds, args.warmup)
    finally:
        use_numba(True)
    summary = common.summarise(samples)
    print()
    print_results(summary, systems)
    fused = systems[1].name
    if BASELINE in summary:
        print(f"\nNo target; tinyattn (fused, Numba) takes {summary[fused][2] / summary[BASELINE][2]:.2f}x the time "
              f"of torch sdpa with 3-D inputs.")

    if args.profile:
        profile_tinyattn(inputs, args.rounds)


if __name__ == "__main__":
    main()
