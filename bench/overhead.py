"""Per-op autodiff overhead: a chain of tiny elementwise ops, forward and backward, in microseconds per op.

With 16 float64 values per op, the arithmetic is nearly free; what is timed is the bookkeeping an autodiff
engine does for every op (wrapping, recording the graph, walking it back, calling the VJPs). Every system runs
the same chain, built by one function (`chain`), and must produce the same output and gradients as a
hand-written NumPy reference before it is timed. One cycle of five ops, repeated:

    x = tanh(x * SCALE + SHIFT)     mul by a constant, add a constant, tanh
    x = (x - v) * w                 sub a tensor, mul by a tensor (x, v and w require grad)

`SCALE * w` is just below 1 and `v` is close to `tanh(SHIFT)`, so x stays near the fixed point 0 where each cycle
is almost an identity: the output and the gradient of the first x depend on every op of the chain (a chain that
forgot its beginning would let a system skip work unnoticed).

Systems: tinyattn, and torch, HIPS autograd and MyGrad when importable; "NumPy forward alone" is the floor (no
graph, no backward). All run in one process, warmed up, interleaved over rounds (the order rotates each round);
the table gives medians over the rounds. Each timed run starts from fresh leaves after `gc.collect()`; the
garbage collector stays on while timing, as it is in real use, but the objects that exist before timing (torch's
modules above all) are frozen out of it with `gc.freeze()`, so a collection costs the same in every system.

    python bench/overhead.py                 # 1,000 ops, 30 rounds
    python bench/overhead.py --quick         # 5 rounds
    python bench/overhead.py --profile       # also cProfile tinyattn's forward and backward
"""
import argparse
import gc
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    import tinyattn
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tinyattn

SIZE = 16
SCALE = 1.25
SHIFT = 0.05
CYCLE = ("mul by SCALE", "add SHIFT", "tanh", "sub v", "mul by w")


def chain(x, v, w, n_ops, tanh):
    """Apply the first `n_ops` ops of the repeated CYCLE to x; the same code drives every system."""
    for _ in range(n_ops // len(CYCLE)):
        x = tanh(x * SCALE + SHIFT)
        x = (x - v) * w
    remainder = n_ops % len(CYCLE)
    steps = (lambda x: x * SCALE, lambda x: x + SHIFT, tanh, lambda x: x - v, lambda x: x * w)
    for step in steps[:remainder]:
        x = step(x)
    return x


def make_inputs(seed=0):
    """x, v, w and the upstream gradient of the output, as float64 arrays of SIZE values."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, SIZE)
    v = np.tanh(SHIFT) + rng.uniform(-1e-3, 1e-3, SIZE)
    w = rng.uniform(0.99, 1.0, SIZE) / SCALE
    upstream = rng.normal(size=SIZE)
    return x, v, w, upstream


def reference(x, v, w, upstream, n_ops):
    """The output and the gradients (x, v, w) of the chain, by a hand-written NumPy backward."""
    saved = []  # for each op, what its backward needs
    for step in range(n_ops):
        kind = step % len(CYCLE)
        if kind == 0:
            x = x * SCALE
        elif kind == 1:
            x = x + SHIFT
        elif kind == 2:
            x = np.tanh(x)
        elif kind == 3:
            x = x - v
        else:
            saved.append(x)  # mul by w needs its other factor
            x = x * w
        if kind == 2:
            saved.append(x)  # tanh needs its output
    out = x
    grad, grad_v, grad_w = upstream.copy(), np.zeros(SIZE), np.zeros(SIZE)
    for step in reversed(range(n_ops)):
        kind = step % len(CYCLE)
        if kind == 0:
            grad = grad * SCALE
        elif kind == 2:
            grad = grad * (1 - saved.pop() ** 2)
        elif kind == 3:
            grad_v = grad_v - grad
        elif kind == 4:
            grad_w = grad_w + grad * saved.pop()
            grad = grad * w
    return out, (grad, grad_v, grad_w)


# ----- the systems: each makes fresh leaves, runs the forward, runs the backward, and hands back arrays --------
class NumpyForward:
    name = "NumPy forward alone"
    has_backward = False

    def __init__(self, inputs, n_ops):
        self.x, self.v, self.w, _ = inputs
        self.n_ops = n_ops

    def fresh(self):
        self.out = None

    def forward(self):
        self.out = chain(self.x, self.v, self.w, self.n_ops, np.tanh)

    def output(self):
        return self.out


class Tinyattn:
    name = "tinyattn"
    has_backward = True

    def __init__(self, inputs, n_ops):
        self.x0, self.v0, self.w0, self.upstream = inputs
        self.n_ops = n_ops
        self.tanh = tinyattn.functional.tanh

    def fresh(self):
        self.leaves = [tinyattn.tensor(a.copy(), requires_grad=True) for a in (self.x0, self.v0, self.w0)]
        self.out = None

    def forward(self):
        self.out = chain(*self.leaves, self.n_ops, self.tanh)

    def backward(self):
        self.out.backward(self.upstream)

    def output(self):
        return self.out.data

    def gradients(self):
        return [leaf.grad for leaf in self.leaves]


class Torch:
    name = "torch"
    has_backward = True

    def __init__(self, inputs, n_ops):
        import torch

        self.torch = torch
        self.x0, self.v0, self.w0, upstream = inputs
        self.upstream = torch.from_numpy(upstream.copy())
        self.n_ops = n_ops

    def fresh(self):
        self.leaves = [self.torch.tensor(a, requires_grad=True) for a in (self.x0, self.v0, self.w0)]
        self.out = None

    def forward(self):
        self.out = chain(*self.leaves, self.n_ops, self.torch.tanh)

    def backward(self):
        self.out.backward(self.upstream)

    def output(self):
        return self.out.detach().numpy()

    def gradients(self):
        return [leaf.grad.numpy() for leaf in self.leaves]


class HipsAutograd:
    name = "HIPS autograd"
    has_backward = True

    def __init__(self, inputs, n_ops):
        import autograd
        import autograd.numpy as anp

        self.x0, self.v0, self.w0, self.upstream = inputs
        self.n_ops = n_ops
        # make_vjp traces the forward and returns the backward as a function of the upstream gradient.
        self.traced = autograd.make_vjp(lambda x, v, w: chain(x, v, w, n_ops, anp.tanh), argnum=(0, 1, 2))

    def fresh(self):
        self.vjp = self.out = self.grads = None

    def forward(self):
        self.vjp, self.out = self.traced(self.x0, self.v0, self.w0)

    def backward(self):
        self.grads = self.vjp(self.upstream)

    def output(self):
        return self.out

    def gradients(self):
        return list(self.grads)


class Mygrad:
    name = "MyGrad"
    has_backward = True

    def __init__(self, inputs, n_ops):
        import mygrad

        self.mygrad = mygrad
        self.x0, self.v0, self.w0, self.upstream = inputs
        self.n_ops = n_ops

    def fresh(self):
        self.leaves = [self.mygrad.tensor(a.copy()) for a in (self.x0, self.v0, self.w0)]
        self.out = None

    def forward(self):
        self.out = chain(*self.leaves, self.n_ops, self.mygrad.tanh)

    def backward(self):
        self.out.backward(self.upstream)

    def output(self):
        return self.out.data

    def gradients(self):
        return [leaf.grad for leaf in self.leaves]


PEERS = (Torch, HipsAutograd, Mygrad)


def check_same_work(system, expected_out, expected_grads):
    """Fail loudly unless `system` computes the reference output and gradients."""
    system.fresh()
    system.forward()
    arrays = [("output", system.output())]
    if system.has_backward:
        system.backward()
        arrays += list(zip(("grad x", "grad v", "grad w"), system.gradients()))
    for (label, got), expected in zip(arrays, [expected_out, *expected_grads]):
        got = np.asarray(got)
        scale = np.abs(expected).max()
        if got.shape != expected.shape or got.dtype != np.float64:
            problem = f"shape {got.shape} {got.dtype}, expected {expected.shape} float64"
        elif not np.allclose(got, expected, rtol=1e-6, atol=1e-9 * scale):
            problem = f"max abs diff {np.abs(got - expected).max():.3g}, reference scale {scale:.3g}"
        else:
            continue
        raise AssertionError(
            f"{system.name}: {label} differs from the NumPy reference ({problem}); "
            "the systems would not be doing the same work"
        )


def time_once(system):
    """Seconds for one forward and one backward (0 for a system without one), from fresh leaves."""
    system.fresh()
    gc.collect()
    start = time.perf_counter()
    system.forward()
    middle = time.perf_counter()
    if system.has_backward:
        system.backward()
    end = time.perf_counter()
    return middle - start, end - middle


def measure(systems, n_ops, rounds, warmup):
    """Per system, the per-op microseconds (forward, backward, total) of every round, the order rotated by round."""
    for system in systems:
        for _ in range(warmup):
            time_once(system)
    samples = {system.name: [] for system in systems}
    for round_index in range(rounds):
        shift = round_index % len(systems)
        for system in systems[shift:] + systems[:shift]:
            forward, backward = time_once(system)
            per_op = 1e6 / n_ops  # seconds per chain -> microseconds per op
            samples[system.name].append((forward * per_op, backward * per_op, (forward + backward) * per_op))
    return samples


def summarise(samples):
    """Per system: median forward, backward and total µs/op, and the interquartile range of the total."""
    summary = {}
    for name, rows in samples.items():
        forward, backward, total = (sorted(column) for column in zip(*rows))
        quartiles = statistics.quantiles(total, n=4) if len(total) > 1 else [total[0]] * 3
        summary[name] = (
            statistics.median(forward), statistics.median(backward), statistics.median(total),
            quartiles[0], quartiles[2],
        )
    return summary


def print_table(summary, systems):
    def ratio(name, base):
        if base not in summary:
            return "–"
        return f"{summary[name][2] / summary[base][2]:.2f}"

    print("| system | forward µs/op | backward µs/op | total µs/op | total IQR | × torch | × tinyattn |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for system in systems:
        forward, backward, total, low, high = summary[system.name]
        backward_text = f"{backward:.2f}" if system.has_backward else "–"
        print(
            f"| {system.name} | {forward:.2f} | {backward_text} | {total:.2f} | {low:.2f}–{high:.2f} "
            f"| {ratio(system.name, 'torch')} | {ratio(system.name, 'tinyattn')} |"
        )


def print_verdict(summary):
    mine = summary["tinyattn"][2]
    if "torch" not in summary:
        print(f"Target (tinyattn at or below torch): cannot tell, torch was skipped; tinyattn {mine:.2f} µs/op.")
        return
    theirs = summary["torch"][2]
    verdict = "MET" if mine <= theirs else "NOT MET"
    print(
        f"Target (tinyattn at or below torch, total µs/op): {verdict}: tinyattn {mine:.2f} vs torch {theirs:.2f} "
        f"({mine / theirs:.2f}x torch)."
    )


def profile_tinyattn(inputs, n_ops, repeats=20, top=25):
    """cProfile tinyattn's forward and backward separately, sorted by own time."""
    import cProfile
    import pstats

    system = Tinyattn(inputs, n_ops)
    for phase in ("forward", "backward"):
        profiler = cProfile.Profile()
        for _ in range(repeats):
            system.fresh()
            if phase == "forward":
                profiler.runcall(system.forward)
            else:
                system.forward()
                profiler.runcall(system.backward)
        print(f"\ncProfile of tinyattn's {phase}, {repeats} chains of {n_ops} ops (times include profiler overhead):")
        pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=1000, help="ops in the chain, at least 5 (default 1000)")
    parser.add_argument("--rounds", type=int, help="timed rounds per system (default 30; 5 with --quick)")
    parser.add_argument("--warmup", type=int, help="untimed runs per system first (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and warm-up runs (bench/run.py --quick)")
    parser.add_argument("--profile", action="store_true", help="afterwards, cProfile tinyattn's forward and backward")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 5 if args.quick else 30
    if args.warmup is None:
        args.warmup = 1 if args.quick else 3
    # Below one full cycle, v or w takes no part and has no gradient to compare.
    if args.ops < len(CYCLE) or args.rounds < 1 or args.warmup < 0:
        parser.error(f"--ops must be at least {len(CYCLE)}, --rounds at least 1, --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    inputs = make_inputs()
    expected_out, expected_grads = reference(*inputs, args.ops)

    systems = [NumpyForward(inputs, args.ops), Tinyattn(inputs, args.ops)]
    notes = []
    for peer in PEERS:
        try:
            systems.append(peer(inputs, args.ops))
        except Exception as error:  # ImportError, or a broken install: report it and go on
            print(f"skipped {peer.name}: {type(error).__name__}: {error}")
    for system in systems:
        check_same_work(system, expected_out, expected_grads)

    if any(system.name == "torch" for system in systems):
        import torch

        notes.append(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads (its default)")
    print(
        f"Per-op overhead: {args.ops} chained ops on {SIZE} float64 values, forward + backward; "
        f"median of {args.rounds} interleaved rounds after {args.warmup} warm-up run(s) per system."
    )
    print(
        f"Python {platform.python_version()}, NumPy {np.__version__}, {os.cpu_count()} CPUs, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}" + "".join(f"; {n}" for n in notes)
    )
    print("All systems gave the reference output and gradients (x, v, w) before timing.\n")

    # With torch imported a full collection takes ~0.1 s; freezing what exists now makes the collection before each
    # timed run cheap and keeps torch's objects from being scanned inside another system's timing.
    gc.collect()
    gc.freeze()
    try:
        summary = summarise(measure(systems, args.ops, args.rounds, args.warmup))
    finally:
        gc.unfreeze()
    print_table(summary, systems)
    print()
    print_verdict(summary)

    if args.profile:
        profile_tinyattn(inputs, args.ops)


if __name__ == "__main__":
    main()
