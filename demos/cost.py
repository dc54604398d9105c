"""Cost: the time and memory of attention as the sequence grows, with and without the fused kernel.

Self-attention scores every pair of positions: T queries against T keys is a T x T matrix of weights, so doubling the
sequence quadruples the work and, computed the plain way, the memory. The plain way (tinyattn's unfused path:
``F.scaled_dot_product_attention(..., return_weights=True)``) keeps that matrix, and its gradient, for the backward
pass: at T = 16,384 one head's weights alone take 1 GiB in float32.

The fused kernel (``tinyattn.kernels.attention``, what ``F.scaled_dot_product_attention`` runs when the weights are
not asked for) computes the same output and gradients block by block: an online softmax keeps, per query, only a
running maximum and sum, and the backward pass recomputes each block of weights from the queries, the keys and one
number per query (its log-sum-exp). The work is still T^2, but the memory beyond the inputs is O(T * D): a few
arrays the size of the input and one block of scores. Causal attention skips the blocks above the diagonal, so it
costs about half. (docs/concepts.md, idea 2: what attention costs.)

This demo times forward + backward for one head (D = 64, float32) at each length, for the unfused path, the fused
kernel and the fused kernel with a causal mask, and measures the peak memory that NumPy allocated during the call
(``tracemalloc``, which sees every array NumPy makes). It prints a table and draws both on log-log axes: the
unfused memory climbs as T^2, the fused memory as T.

    python -m demos.cost             # T = 256 ... 16,384 (the unfused path up to 8,192)
    python -m demos.cost --quick     # T = 256 ... 8,192 (unfused up to 4,096), under a minute

What to look for: in cost.svg, the two memory lines part at once, one rising twice as steeply (a slope of 2 against
1 on log-log axes); the time lines keep a slope of 2 for both: fusing saves memory and passes over memory, not the
T^2 work. The options --steps and --batch are accepted for the shared command line; this demo does not train.
"""
import gc
import os
import time
import tracemalloc

import numpy as np

import tinyattn as ta
import tinyattn.functional as F
from demos import common
from tinyattn import viz
from tinyattn.kernels import parallel

SIZE = 64  # D, the feature size of the head

MODES = {  # lengths for the fused kernel; the unfused path stops at unfused_max; repeats per length
    "quick": dict(steps=1, batch=1, lengths=[256, 512, 1024, 2048, 4096, 8192], unfused_max=4096, repeats=2),
    "full": dict(steps=1, batch=1, lengths=[256, 512, 1024, 2048, 4096, 8192, 16384], unfused_max=8192, repeats=3),
    "tiny": dict(steps=1, batch=1, lengths=[32, 64], unfused_max=64, repeats=1),
}
SYSTEMS = ("unfused", "fused", "fused, causal")


def attention_step(system, q, k, v, grad):
    """One forward + backward pass of `system` on fresh leaves; returns the three gradients."""
    leaves = [ta.tensor(array, requires_grad=True) for array in (q, k, v)]
    if system == "unfused":
        output, _ = F.scaled_dot_product_attention(*leaves, return_weights=True)
    else:
        output = F.scaled_dot_product_attention(*leaves, is_causal=system == "fused, causal")
    output.backward(grad)
    return [leaf.grad for leaf in leaves]


def measure(system, length, repeats, rng):
    """(median seconds, peak MiB that NumPy allocated during one pass) of `system` at `length`."""
    q, k, v, grad = (rng.normal(size=(1, length, SIZE)).astype(np.float32) for _ in range(4))
    attention_step(system, q, k, v, grad)  # warm up (compiles the kernels on first use)
    seconds = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        attention_step(system, q, k, v, grad)
        seconds.append(time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    try:
        attention_step(system, q, k, v, grad)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return float(np.median(seconds)), peak / 2**20


def check_agreement(rng, length=300):
    """The largest difference between the fused and unfused gradients, float64, at a length with partial blocks."""
    q, k, v, grad = (rng.normal(size=(1, length, SIZE)) for _ in range(4))
    fused, unfused = attention_step("fused", q, k, v, grad), attention_step("unfused", q, k, v, grad)
    return max(float(np.abs(a - b).max()) for a, b in zip(fused, unfused, strict=True))


def table(lengths, results):
    header = ["T", *(f"{system} {unit}" for system in SYSTEMS for unit in ("s", "MiB"))]
    rows = []
    for length in lengths:
        row = [f"{length:,}"]
        for system in SYSTEMS:
            seconds, mebibytes = results[system].get(length, (None, None))
            row += ["-", "-"] if seconds is None else [f"{seconds:.3f}", f"{mebibytes:.1f}"]
        rows.append(row)
    widths = [max(len(cells[column]) for cells in [header, *rows]) for column in range(len(header))]
    return "\n".join("  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
                     for cells in [header, *rows])


def charts(lengths, results):
    """Two SVG line charts, time and memory against T, log-log; a missing point (the unfused path past its limit)
    breaks the line."""
    def series(index):
        return {system: [results[system].get(length, (np.nan, np.nan))[index] for length in lengths]
                for system in SYSTEMS}

    time_chart = viz.line_chart_svg(lengths, series(0), title="attention forward + backward: time",
                                    x_label="sequence length T", y_label="seconds", log_x=True, log_y=True)
    memory_chart = viz.line_chart_svg(lengths, series(1), title="attention forward + backward: peak memory",
                                      x_label="sequence length T", y_label="MiB allocated", log_x=True, log_y=True)
    return time_chart, memory_chart


def parse_args(argv=None):
    parser = common.demo_parser(
        "cost", "Time and peak memory of attention against sequence length: the plain (unfused) path against the "
        "fused kernel, and the fused kernel with a causal mask.", MODES, "cost.svg, memory.svg and cost.html")
    return common.parse(parser, argv)


def headline(results):
    """The key figure: at the longest length both paths ran, the memory and time of each."""
    length = results["compared_at"]
    unfused, fused = results["unfused"][length], results["fused"][length]
    return (f"T={length:,}: fused {fused[1]:.0f} MiB vs unfused {unfused[1]:.0f} MiB "
            f"({unfused[1] / fused[1]:.0f}x less), {fused[0]:.2f} s vs {unfused[0]:.2f} s")


def main(argv=None):
    """Measure, print the table, draw the charts; returns {system: {T: (seconds, MiB)}, ...}."""
    args = parse_args(argv)
    mode, settings, (rng, check_rng) = common.start(args, MODES, streams=2)
    lengths = settings["lengths"]
    print(f"One head, D = {SIZE}, float32, forward + backward, {mode} mode. The fused kernel shares blocks between "
          f"{parallel.workers(2)} thread(s); matrix products use {os.environ.get('OPENBLAS_NUM_THREADS', 'all')} "
          f"BLAS thread(s) outside it.")
    difference = check_agreement(check_rng)
    print(f"First, the same numbers: fused and unfused gradients differ by at most {difference:.1e} (float64, T = "
          f"300).\n")
    results = {system: {} for system in SYSTEMS}
    for length in lengths:
        for system in SYSTEMS:
            if system == "unfused" and length > settings["unfused_max"]:
                continue
            results[system][length] = measure(system, length, settings["repeats"], rng)
        print(f"  T = {length:>6,} measured", flush=True)
    print()
    print(table(lengths, results))
    compared = max(length for length in results["unfused"])
    print(f"\nUnfused memory grows as T^2 (the weights and their gradient, 4 bytes each per pair); fused memory as "
          f"T. The unfused path stops at T = {settings['unfused_max']:,} in this mode.")

    time_chart, memory_chart = charts(lengths, results)
    os.makedirs(args.out, exist_ok=True)
    viz.save(time_chart, os.path.join(args.out, "cost.svg"))
    viz.save(memory_chart, os.path.join(args.out, "memory.svg"))
    viz.save(viz.html_page([time_chart, memory_chart], title="The cost of attention"),
             os.path.join(args.out, "cost.html"))
    print(f"Charts: {os.path.join(args.out, 'cost.svg')}, {os.path.join(args.out, 'memory.svg')}")
    return {**results, "lengths": lengths, "compared_at": compared, "difference": difference, "mode": mode}


if __name__ == "__main__":
    main()
