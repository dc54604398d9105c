"""Recurrent layers: a GRU (and an LSTM) encoder, forward and backward, tinyattn against torch, in milliseconds.

One layer, B=64 sequences of T=50 steps, input size I=64, hidden size H=128, float32. The loss is the output
projected on a fixed random upstream gradient, so the backward gives the gradients of x and of every parameter.

Systems, all with the same weights (copied into torch's (out, in) layout and gate order):

    tinyattn nn.GRU             one matmul for the input gates of all steps, then the fused sequence op
                                (the time loop and its backward as one recorded operation)
    tinyattn GRUCell loop       the fused cell op once per step (one recorded operation a step)
    tinyattn GRU, basic ops     torch's GRU equations written with tinyattn's basic ops, about 20 recorded
                                operations a step: what the fused ops replace
                                (both loops take x as T leaves of (B, I), so that slicing x costs them nothing)
    torch nn.GRU                torch's fused layer
    torch GRUCell loop          torch's cell once per step
    tinyattn nn.LSTM, torch nn.LSTM   the same for an LSTM of the same sizes

Before anything is timed, every system's output and gradients must match a float64 reference (tinyattn's nn.GRU or
nn.LSTM in float64, itself checked here against torch in float32) to float32 precision; otherwise the script stops.
All systems run in one process, warmed up, interleaved over rounds (the order rotates each round); the table gives
medians over the rounds. Each timed run comes right after two untimed runs of the same system (`--settle`), so that
threads another system left spinning do not take a core from it (OpenBLAS's idle workers slowed torch 2-3x here),
and starts from cleared gradients after `gc.collect()`, with the objects that exist before timing frozen out of the
collector (`gc.freeze()`), as in bench/overhead.py.

    python bench/rnn.py                 # 20 rounds
    python bench/rnn.py --quick         # 5 rounds
    python bench/rnn.py --profile       # also cProfile tinyattn's nn.GRU (and nn.LSTM) forward and backward
"""
import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
import tinyattn
import tinyattn.functional as F
from tinyattn import nn

BATCH, STEPS, INPUT, HIDDEN = 64, 50, 64, 128
TARGET = 1.3  # tinyattn nn.GRU at most this many times torch nn.GRU's total time
PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def make_inputs(seed=0):
    """x (T, B, I) and the upstream gradient of the output (T, B, H), float32."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((STEPS, BATCH, INPUT)).astype(np.float32)
    upstream = rng.standard_normal((STEPS, BATCH, HIDDEN)).astype(np.float32)
    return x, upstream


def make_weights(kind, seed=0):
    """tinyattn's initial weights of a one-layer GRU or LSTM, float32, by parameter name (without the _l0)."""
    layer = getattr(nn, kind)(INPUT, HIDDEN, rng=seed)
    return {name: getattr(layer, name + "_l0").data.copy() for name in PARAMETER_NAMES}


# ----- tinyattn ---------------------------------------------------------------------------------------------------
class TinyattnLayer(common.LeafSystem):
    """tinyattn's nn.GRU or nn.LSTM (the fused sequence op)."""

    def __init__(self, kind, inputs, weights, dtype=np.float32):
        self.kind, self.name = kind, f"tinyattn nn.{kind}"
        self.layer = getattr(nn, kind)(INPUT, HIDDEN, dtype=dtype, rng=0)
        for name, value in weights.items():
            getattr(self.layer, name + "_l0").data[...] = value
        self.x = tinyattn.tensor(inputs[0], dtype=dtype, requires_grad=True)
        self.upstream = inputs[1].astype(dtype)

    def fresh(self):
        self.x.grad = None
        self.layer.zero_grad()
        self.out = None

    def forward(self):
        self.out = self.layer(self.x)[0]

    def gradients(self):
        return [self.x.grad] + [getattr(self.layer, name + "_l0").grad for name in PARAMETER_NAMES]


class TinyattnCellLoop(TinyattnLayer):
    """tinyattn's GRUCell (the fused cell op), once per step."""

    def __init__(self, inputs, weights):
        super().__init__("GRU", inputs, weights)
        self.name = "tinyattn GRUCell loop"
        self.cell = nn.GRUCell(INPUT, HIDDEN, rng=0)
        for name, value in weights.items():
            getattr(self.cell, name).data[...] = value
        # x as T leaves of (B, I), one a step: slicing x would cost each step's backward a zero array of x's size.
        self.steps = [tinyattn.tensor(step, requires_grad=True) for step in inputs[0]]

    def fresh(self):
        super().fresh()
        self.cell.zero_grad()
        for step in self.steps:
            step.grad = None

    def forward(self):
        hidden, outputs = None, []
        for step in self.steps:
            hidden = self.cell(step, hidden)
            outputs.append(hidden)
        self.out = F.stack(outputs)

    def gradients(self):
        grad_x = np.stack([step.grad for step in self.steps])
        return [grad_x] + [getattr(self.cell, name).grad for name in PARAMETER_NAMES]


def basic_ops_gru(steps, weight_ih, weight_hh, bias_ih, bias_hh):
    """torch's GRU equations with tinyattn's basic ops, one step after another; returns the states (T, B, H)."""
    size = weight_hh.shape[0]
    hidden = np.zeros((steps[0].shape[1], size), np.float32)
    outputs = []
    for step in steps:
        input_gates = step @ weight_ih + bias_ih  # (B, I) @ (I, 3H) -> (B, 3H)
        hidden_gates = hidden @ weight_hh + bias_hh  # (B, H) @ (H, 3H) -> (B, 3H)
        reset = F.sigmoid(input_gates[:, :size] + hidden_gates[:, :size])
        update = F.sigmoid(input_gates[:, size:2 * size] + hidden_gates[:, size:2 * size])
        candidate = F.tanh(input_gates[:, 2 * size:] + reset * hidden_gates[:, 2 * size:])
        hidden = candidate + update * (hidden - candidate)  # (1 - z) n + z h
        outputs.append(hidden)
    return F.stack(outputs)


class TinyattnBasicOps(TinyattnCellLoop):
    """The GRU from tinyattn's basic ops (no fused primitive), about 20 recorded operations a step."""

    def __init__(self, inputs, weights):
        super().__init__(inputs, weights)
        self.name = "tinyattn GRU, basic ops"

    def forward(self):
        self.out = basic_ops_gru(self.steps, *(getattr(self.cell, name) for name in PARAMETER_NAMES))


# ----- torch --------------------------------------------------------------------------------------------------------
class TorchLayer(common.TorchLeafSystem):
    """torch's nn.GRU or nn.LSTM with the same weights."""

    def __init__(self, kind, inputs, weights):
        import torch

        self.torch, self.kind, self.name = torch, kind, f"torch nn.{kind}"
        self.layer = getattr(torch.nn, kind)(INPUT, HIDDEN)
        self.parameters = self._load(weights, "_l0")
        self.x = torch.tensor(inputs[0], requires_grad=True)
        self.upstream = torch.from_numpy(inputs[1].copy())

    def _load(self, weights, suffix):
        """Copy tinyattn's weights in: (in, G*H) -> torch's (G*H, in); the gate order is the same."""
        parameters = []
        with self.torch.no_grad():
            for name in PARAMETER_NAMES:
                parameter = getattr(self.layer, name + suffix)
                value = weights[name].T if name.startswith("weight") else weights[name]
                parameter.copy_(self.torch.from_numpy(np.ascontiguousarray(value)))
                parameters.append(parameter)
        return parameters

    def fresh(self):
        self.x.grad = None
        self.layer.zero_grad(set_to_none=True)
        self.out = None

    def forward(self):
        self.out = self.layer(self.x)[0]

    def gradients(self):
        grads = [parameter.grad.numpy() for parameter in self.parameters]
        return [self.x.grad.numpy()] + [grad.T if grad.ndim == 2 else grad for grad in grads]


class TorchCellLoop(TorchLayer):
    """torch's GRUCell once per step."""

    def __init__(self, inputs, weights):
        import torch

        self.torch, self.kind, self.name = torch, "GRU", "torch GRUCell loop"
        self.layer = torch.nn.GRUCell(INPUT, HIDDEN)
        self.parameters = self._load(weights, "")
        self.x = torch.tensor(inputs[0], requires_grad=True)
        self.upstream = torch.from_numpy(inputs[1].copy())

    def forward(self):
        hidden, outputs = None, []
        for step in self.x.unbind(0):
            hidden = self.layer(step, hidden)
            outputs.append(hidden)
        self.out = self.torch.stack(outputs)


# ----- checking and timing ------------------------------------------------------------------------------------------
GRADIENT_LABELS = ("output", "grad x") + tuple("grad " + name for name in PARAMETER_NAMES)


def check_same_work(system, expected):
    """Fail loudly unless `system` gives the float64 reference's output and gradients to float32 precision."""
    system.fresh()
    system.forward()
    system.backward()
    for label, got, want in zip(GRADIENT_LABELS, [system.output()] + system.gradients(), expected, strict=True):
        scale = max(float(np.abs(want).max()), 1.0)
        problem = common.closeness_problem(got, want, rtol=1e-3, atol=1e-4 * scale, dtype=np.float32)
        if problem:
            raise AssertionError(f"{system.name}: {label} differs from the float64 reference ({problem}); "
                                 "the systems would not be doing the same work")


def reference(kind, inputs, weights):
    """Output and gradients of the float64 tinyattn layer with the same weights."""
    system = TinyattnLayer(kind, (inputs[0].astype(np.float64), inputs[1].astype(np.float64)), weights, np.float64)
    system.fresh()
    system.forward()
    system.backward()
    return [system.output()] + system.gradients()


def print_results(summary, systems):
    rows = []
    for system in systems:
        forward, backward, total, low, high = summary[system.name]
        torch_name = f"torch nn.{system.kind}"
        rows.append([system.name, f"{forward:.2f}", f"{backward:.2f}", f"{total:.2f}", f"{low:.2f}–{high:.2f}",
                     common.ratio_text(total, summary[torch_name][2] if torch_name in summary else None)])
    common.print_table(["system", "forward ms", "backward ms", "total ms", "total IQR", "× torch layer of its kind"],
                       rows)


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    common.add_round_arguments(parser, rounds=(20, 5), warmup=(3, 1))
    parser.add_argument("--settle", type=int, default=2,
                        help="untimed runs of a system just before each of its timed runs (default 2)")
    parser.add_argument("--no-lstm", action="store_true", help="leave out the LSTM rows")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, cProfile tinyattn's nn.GRU and (unless --no-lstm) nn.LSTM")
    args = common.resolve_rounds(parser.parse_args(argv), rounds=(20, 5), warmup=(3, 1))
    if args.rounds < 1 or args.warmup < 0 or args.settle < 0:
        parser.error("--rounds must be at least 1, --warmup and --settle at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    inputs = make_inputs()
    kinds = ["GRU"] if args.no_lstm else ["GRU", "LSTM"]
    weights = {kind: make_weights(kind) for kind in kinds}

    makers = [
        ("GRU", lambda: TinyattnLayer("GRU", inputs, weights["GRU"])),
        ("GRU", lambda: TinyattnCellLoop(inputs, weights["GRU"])),
        ("GRU", lambda: TinyattnBasicOps(inputs, weights["GRU"])),
        ("GRU", lambda: TorchLayer("GRU", inputs, weights["GRU"])),
        ("GRU", lambda: TorchCellLoop(inputs, weights["GRU"])),
        ("LSTM", lambda: TinyattnLayer("LSTM", inputs, weights["LSTM"])),
        ("LSTM", lambda: TorchLayer("LSTM", inputs, weights["LSTM"])),
    ]
    systems = common.build_systems([("a system", make) for kind, make in makers if kind in kinds])
    expected = {kind: reference(kind, inputs, weights[kind]) for kind in kinds}
    for system in systems:
        check_same_work(system, expected[system.kind])

    print(f"GRU/LSTM encoder, one layer, B={BATCH}, T={STEPS}, I={INPUT}, H={HIDDEN}, float32, forward + backward "
          f"(gradients of x and every parameter); median of {args.rounds} interleaved rounds after {args.warmup} "
          f"warm-up run(s) per system, each timed run after {args.settle} untimed run(s) of its own system.")
    print(common.environment_line([common.torch_note()]))
    print("All systems gave the float64 reference's output and gradients (x, weights, biases) before timing.\n")

    with common.frozen_gc():
        summary = common.summarise(common.measure(systems, args.rounds, args.warmup, args.settle))
    print_results(summary, systems)
    print()
    torch_total = summary["torch nn.GRU"][2] if "torch nn.GRU" in summary else None
    common.print_target("tinyattn nn.GRU", summary["tinyattn nn.GRU"][2], torch_total, TARGET, "ms",
                        peer="torch nn.GRU")

    if args.profile:
        for kind in kinds:
            common.profile_phases(TinyattnLayer(kind, inputs, weights[kind]), f"tinyattn nn.{kind}", repeats=10, top=20)


if __name__ == "__main__":
    main()
