"""Attention forward and backward, B*H = 64 heads, T = 256, D = 64, float32: tinyattn against torch and the others.

Every system computes the same thing from the same float32 arrays q, k, v of shape (64, T, D):

    scores  = q @ k^T                         (64, T, T)
    weights = softmax(scores / sqrt(D))       over the keys (last axis)
    out     = weights @ v                     (64, T, D)

and then, from one random upstream gradient of `out`, the gradients of q, k and v. Before anything is timed,
each system's output and three gradients must equal those of plain NumPy with a hand-written backward (the
floor: no autodiff, no graph), within a float32 tolerance; otherwise the script stops with an error.

Systems: tinyattn's fused kernel (``F.scaled_dot_product_attention`` without weights: tinyattn.kernels.attention,
block by block, the weights never stored; target: at most 0.9x the time of torch's faster path, ratio per round);
tinyattn written with its ops, three ways: the fused softmax ``F.softmax(scores, scale=...)`` with the
Numba kernels, the unfused ``F.softmax(scores * scale)``, and the fused form with the NumPy reference kernels
(``use_numba(False)``); torch ``scaled_dot_product_attention`` on 3-D inputs (64, T, D) and on 4-D inputs
(4, 16, T, D) (torch picks a different CPU kernel for each); torch written out, softmax(q k^T / sqrt(D)) v; HIPS
autograd and MyGrad when importable; and the NumPy floor. All run in one process, warmed up, interleaved over
rounds (the order rotates each round); the table gives medians. Each timed run starts from fresh leaves after
`gc.collect()`, with the objects that exist before timing frozen out of the collector (as in overhead.py).

A second table (skip it with --no-layers) times tinyattn's self-attention code against torch, forward + backward,
float32, each row with its ratio tinyattn / torch per round: ``F.scaled_dot_product_attention`` on q, k, v
(4, 16, T, D) (the fused kernel) against torch's 4-D sdpa and torch written out;
``MultiHeadAttention(256, 4)`` self-attention on x (8, 128, 256) against ``nn.MultiheadAttention(256, 4,
batch_first=True)``; ``TransformerEncoderLayer(256, 4, 1024, dropout=0.0)`` (post-norm, relu) against torch's, with
tinyattn's weights copied into torch through ``Module.torch_state_dict``. Outputs and input gradients must agree
(and the sdpa's equal the NumPy floor) before timing; each timed run follows one untimed run of the same system
(``settle=1``).

GFLOP/s counts the six matrix multiplies only: 4 B H T^2 D for the two of the forward and 8 B H T^2 D for the
four of the backward (softmax and the elementwise work are not counted).

    python bench/attention.py                # 20 rounds
    python bench/attention.py --quick        # 5 rounds
    python bench/attention.py --no-layers    # the first table only
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


class TinyattnFused(common.LeafSystem):
    """tinyattn's fused kernel: F.scaled_dot_product_attention without weights (tinyattn.kernels.attention)."""

    name = "tinyattn fused kernel, F.scaled_dot_product_attention"

    def __init__(self, inputs):
        self.arrays, self.upstream = inputs[:3], inputs[3]

    def fresh(self):
        use_numba(True)
        self.leaves = [tinyattn.tensor(array, requires_grad=True) for array in self.arrays]
        self.out = None

    def forward(self):
        self.out = F.scaled_dot_product_attention(*self.leaves)  # (BH, T, D); no weights: the fused path


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
        TinyattnFused(inputs),
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


# ----- the layers: F.scaled_dot_product_attention, MultiHeadAttention, TransformerEncoderLayer against torch -------
LAYER_SHAPE = (8, 128, 256)  # x (B, T, E) for the self-attention layers
LAYER_HEADS, FEEDFORWARD = 4, 1024


class TinyattnLayer(common.LeafSystem):
    """`function(*leaves)` in tinyattn on fresh leaves from `arrays`; `module`'s gradients cleared before each run."""

    def __init__(self, name, function, arrays, upstream, module=None):
        self.name, self.function, self.arrays, self.upstream, self.module = name, function, arrays, upstream, module

    def fresh(self):
        use_numba(True)
        if self.module is not None:
            self.module.zero_grad()
        self.leaves = [tinyattn.tensor(array, requires_grad=True) for array in self.arrays]
        self.out = None

    def forward(self):
        self.out = self.function(*self.leaves)


class TorchLayer(common.TorchLeafSystem):
    """The same in torch (the gradients of its parameters set to None before each run, as tinyattn's)."""

    def __init__(self, name, function, arrays, upstream, module=None):
        import torch

        self.torch, self.name, self.function, self.arrays, self.module = torch, name, function, arrays, module
        self.upstream = torch.from_numpy(upstream)

    def fresh(self):
        if self.module is not None:
            self.module.zero_grad(set_to_none=True)
        self.leaves = [self.torch.tensor(array, requires_grad=True) for array in self.arrays]
        self.out = None

    def forward(self):
        self.out = self.function(*self.leaves)


def copy_weights(mine, theirs):
    """tinyattn's weights into torch's twin of the module, through the bridge (``Module.torch_state_dict``)."""
    import torch

    theirs.load_state_dict({name: torch.from_numpy(array) for name, array in mine.torch_state_dict().items()})


def layer_pairs(inputs):
    """(tinyattn system, torch system) pairs on the same inputs and weights; torch's systems are None without it."""
    from tinyattn.attention import MultiHeadAttention, TransformerEncoderLayer

    heads = [array.reshape(HEADS_4D + (TIME, DIM)) for array in inputs]
    rng = np.random.default_rng(1)
    x, grad = (rng.normal(size=LAYER_SHAPE).astype(DTYPE) for _ in range(2))
    attention = MultiHeadAttention(LAYER_SHAPE[-1], LAYER_HEADS)
    encoder = TransformerEncoderLayer(LAYER_SHAPE[-1], LAYER_HEADS, FEEDFORWARD, dropout=0.0)
    sdpa_name = "tinyattn F.scaled_dot_product_attention (4, 16, T, D)"
    mine = [
        TinyattnLayer(sdpa_name, F.scaled_dot_product_attention, heads[:3], heads[3]),
        TinyattnLayer(sdpa_name, F.scaled_dot_product_attention, heads[:3], heads[3]),
        TinyattnLayer("tinyattn MultiHeadAttention(256, 4), x (8, 128, 256)",
                      lambda h: attention(h, h, h, need_weights=False)[0], [x], grad, attention),
        TinyattnLayer("tinyattn TransformerEncoderLayer(256, 4, 1024), post-norm, relu", encoder, [x], grad, encoder),
    ]
    try:
        import torch
    except ImportError as error:
        print(f"skipped torch: {type(error).__name__}: {error}")
        return [(system, None) for system in mine[1:]]
    torch_attention = torch.nn.MultiheadAttention(LAYER_SHAPE[-1], LAYER_HEADS, batch_first=True)
    copy_weights(attention, torch_attention)
    torch_encoder = torch.nn.TransformerEncoderLayer(LAYER_SHAPE[-1], LAYER_HEADS, FEEDFORWARD, dropout=0.0,
                                                     batch_first=True)
    copy_weights(encoder, torch_encoder)
    sdpa = torch_systems(inputs)
    theirs = [
        TorchLayer("torch sdpa, 4-D (4, 16, T, D)", sdpa[1].attention, heads[:3], heads[3]),
        TorchLayer("torch manual softmax(q k^T s) v, 4-D", sdpa[2].attention, heads[:3], heads[3]),
        TorchLayer("torch nn.MultiheadAttention(256, 4)", lambda h: torch_attention(h, h, h, need_weights=False)[0],
                   [x], grad, torch_attention),
        TorchLayer("torch nn.TransformerEncoderLayer(256, 4, 1024)", torch_encoder, [x], grad, torch_encoder),
    ]
    return list(zip(mine, theirs, strict=True))


def check_layer_pair(mine, theirs, expected):
    """Fail loudly unless the two give the same output and input gradients (and, for the 4-D attention, the NumPy
    floor's `expected`, reshaped), within float32 tolerance."""
    got = run_once(mine)
    references = [(theirs.name, run_once(theirs))] if theirs is not None else []
    if len(got) == 4:  # q, k, v: also against the floor
        references.append(("the NumPy floor", [array.reshape(got[0].shape) for array in expected]))
    for reference_name, reference in references:
        for label, value, want in zip(("output", "grad 1", "grad 2", "grad 3"), got, reference, strict=False):
            problem = common.closeness_problem(value, want, rtol=RTOL, atol=ATOL_SCALE * np.abs(want).max())
            if problem:
                raise AssertionError(f"{mine.name}: {label} differs from {reference_name} ({problem})")


def measure_layers(inputs, expected, args):
    """Check each pair, time them all in one measurement, and print one row per pair with tinyattn / torch."""
    pairs = layer_pairs(inputs)
    for mine, theirs in pairs:
        check_layer_pair(mine, theirs, expected)
    systems = list({system.name: system for pair in pairs for system in pair if system is not None}.values())
    with common.frozen_gc():
        # settle=1: an untimed run of the same system first, so OpenBLAS workers spinning after a tinyattn run do not
        # take the core torch's second thread needs (bench/README.md, "Numba threads against BLAS threads").
        samples = common.measure(systems, args.rounds, args.warmup, settle=1)
    summary = common.summarise(samples)
    rows = []
    for mine, theirs in pairs:
        row = [mine.name, *(f"{value:.1f}" for value in summary[mine.name][:3])]
        if theirs is None:
            rows.append(row + ["–"] * 6)
            continue
        ratios = [a[2] / b[2] for a, b in zip(samples[mine.name], samples[theirs.name], strict=True)]  # per round
        low, high = common.quartiles(ratios)
        rows.append(row + [theirs.name, *(f"{value:.1f}" for value in summary[theirs.name][:3]),
                           f"{statistics.median(ratios):.2f}", f"{low:.2f}–{high:.2f}"])
    print(f"\nSelf-attention layers, float32, forward + backward (outputs and input gradients checked equal to "
          f"torch's, rtol {RTOL:g}, before timing); median of {args.rounds} interleaved "
          "rounds, each timed run after one untimed run of the same system:\n")
    common.print_table(["tinyattn", "forward ms", "backward ms", "total ms", "torch", "forward ms", "backward ms",
                        "total ms", "tinyattn / torch", "ratio IQR"], rows)


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    common.add_round_arguments(parser, rounds=(20, 5), warmup=(2, 1))
    parser.add_argument("--threads", type=int, help="threads for OpenBLAS and torch (default: their own defaults, "
                        "one per core); 1 gives steadier figures on a shared machine")
    parser.add_argument("--no-layers", action="store_true", help="skip the second table (F.scaled_dot_product_"
                        "attention, MultiHeadAttention, TransformerEncoderLayer against torch)")
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
    peers = [name for name in ("torch sdpa, 4-D (4, 16, T, D)", "torch manual softmax(q k^T s) v") if name in samples]
    if peers:
        # Per round: the fused kernel against the faster of torch's two paths in that round.
        ratios = [mine[2] / min(samples[peer][index][2] for peer in peers)
                  for index, mine in enumerate(samples[fused])]
        low, high = common.quartiles(ratios)
        print(f"\nTarget: the fused kernel at most 0.9x the time of torch's faster path (4-D sdpa or manual). "
              f"Per round: {statistics.median(ratios):.2f}x (IQR {low:.2f}-{high:.2f}).")

    if not args.no_layers:
        measure_layers(inputs, expected, args)

    if args.profile:
        profile_tinyattn(inputs, args.rounds)


if __name__ == "__main__":
    main()
