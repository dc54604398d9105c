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
import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
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


class Tinyattn(common.LeafSystem):
    name = "tinyattn"

    def __init__(self, inputs, n_ops):
        self.x0, self.v0, self.w0, self.upstream = inputs
        self.n_ops = n_ops
        self.tanh = tinyattn.functional.tanh

    def fresh(self):
        self.leaves = [tinyattn.tensor(a.copy(), requires_grad=True) for a in (self.x0, self.v0, self.w0)]
        self.out = None

    def forward(self):
        self.out = chain(*self.leaves, self.n_ops, self.tanh)


class Torch(common.TorchLeafSystem):
    name = "torch"

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


class HipsAutograd(common.VjpSystem):
    name = "HIPS autograd"

    def __init__(self, inputs, n_ops):
        import autograd
        import autograd.numpy as anp

        self.arrays, self.upstream = inputs[:3], inputs[3]
        # make_vjp traces the forward and returns the backward as a function of the upstream gradient.
        self.traced = autograd.make_vjp(lambda x, v, w: chain(x, v, w, n_ops, anp.tanh), argnum=(0, 1, 2))


class Mygrad(common.LeafSystem):
    name = "MyGrad"

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


PEERS = (Torch, HipsAutograd, Mygrad)


def check_same_work(system, expected_out, expected_grads):
    """Fail loudly unless `system` computes the reference output and gradients."""
    system.fresh()
    system.forward()
    arrays = [("output", system.output())]
    if system.has_backward:
        system.backward()
        arrays += list(zip(("grad x", "grad v", "grad w"), system.gradients(), strict=True))
    # a system without a backward (the NumPy floor) is checked on its output alone
    for (label, got), expected in zip(arrays, [expected_out, *expected_grads][:len(arrays)], strict=True):
        scale = np.abs(expected).max()
        problem = common.closeness_problem(got, expected, rtol=1e-6, atol=1e-9 * scale, dtype=np.float64)
        if problem:
            raise AssertionError(
                f"{system.name}: {label} differs from the NumPy reference ({problem}); "
                "the systems would not be doing the same work"
            )


def print_results(summary, systems):
    def base(name):
        return summary[name][2] if name in summary else None

    rows = []
    for system in systems:
        forward, backward, total, low, high = summary[system.name]
        rows.append([system.name, f"{forward:.2f}", f"{backward:.2f}" if system.has_backward else "–", f"{total:.2f}",
                     f"{low:.2f}–{high:.2f}", common.ratio_text(total, base("torch")),
                     common.ratio_text(total, base("tinyattn"))])
    header = ["system", "forward µs/op", "backward µs/op", "total µs/op", "total IQR", "× torch", "× tinyattn"]
    common.print_table(header, rows)


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    parser.add_argument("--ops", type=int, default=1000, help="ops in the chain, at least 5 (default 1000)")
    common.add_round_arguments(parser, rounds=(30, 5), warmup=(3, 1))
    parser.add_argument("--profile", action="store_true", help="afterwards, cProfile tinyattn's forward and backward")
    args = common.resolve_rounds(parser.parse_args(argv), rounds=(30, 5), warmup=(3, 1))
    # Below one full cycle, v or w takes no part and has no gradient to compare.
    if args.ops < len(CYCLE) or args.rounds < 1 or args.warmup < 0:
        parser.error(f"--ops must be at least {len(CYCLE)}, --rounds at least 1, --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    inputs = make_inputs()
    expected_out, expected_grads = reference(*inputs, args.ops)

    systems = [NumpyForward(inputs, args.ops), Tinyattn(inputs, args.ops)]
    systems += common.build_systems([(peer.name, lambda peer=peer: peer(inputs, args.ops)) for peer in PEERS])
    for system in systems:
        check_same_work(system, expected_out, expected_grads)

    print(
        f"Per-op overhead: {args.ops} chained ops on {SIZE} float64 values, forward + backward; "
        f"median of {args.rounds} interleaved rounds after {args.warmup} warm-up run(s) per system."
    )
    print(common.environment_line([common.torch_note()]))
    print("All systems gave the reference output and gradients (x, v, w) before timing.\n")

    with common.frozen_gc():
        samples = common.measure(systems, args.rounds, args.warmup)
    summary = common.summarise(samples, scale=1e6 / args.ops)  # seconds per chain -> µs per op
    print_results(summary, systems)
    print()
    torch_total = summary["torch"][2] if "torch" in summary else None
    common.print_target("tinyattn", summary["tinyattn"][2], torch_total, 1, "µs/op")

    if args.profile:
        common.profile_phases(Tinyattn(inputs, args.ops), f"tinyattn ({args.ops} ops a chain)", repeats=20, top=25)


if __name__ == "__main__":
    main()
