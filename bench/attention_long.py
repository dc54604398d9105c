"""Long sequences: one head, D = 64, float32, attention forward + backward. tinyattn's fused kernel against torch's
two CPU paths, against the matrix-product floor, causal against full, and how time and memory scale with T.

    python bench/attention_long.py            # targets at T = 16,384; scaling 256 ... 16,384, and 65,536 fused
    python bench/attention_long.py --quick    # targets at T = 4,096; scaling 256 ... 4,096

Systems, each checked first (T = 1,000, output and the three gradients within float32 tolerance of tinyattn's
unfused path): tinyattn's fused kernel (``F.scaled_dot_product_attention`` without weights), tinyattn's unfused path
(``return_weights=True``: the (T, T) weights kept), torch's ``scaled_dot_product_attention`` on 4-D inputs (1, 1, T,
D) (its flash-style CPU kernel), and torch written out, softmax(q k^T / sqrt(D)) v. Times are medians of rounds
interleaved in one process (so ratios compare like with like); for the targets each timed run follows an untimed run
of the same system (``--no-settle``: right after another system's, whose spinning threads it then competes with).
Peak memory is the peak resident set of a separate process per system and length (VmHWM: imports included, torch's
~0.2 GB with it), after one warm-up run.

The floor: the products of the fused forward and backward (two in the forward, five in the backward, with the
recomputation) are 14 T^2 D flops; divided by the rate this machine reaches on the kernel's block product ((B, D) @
(D, B), B = the block size, one BLAS thread per worker, times the workers) it is the time of the products alone.

Targets (from the fused-kernel issue): at T = 16,384, fused <= 0.75x torch's faster path, within 1.3x of the floor,
peak memory < 250 MB; causal <= 0.6x the non-causal time.
"""
import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

# isort: split
import common

# isort: split
import tinyattn as ta
import tinyattn.functional as F
from tinyattn.kernels import attention as kernels
from tinyattn.kernels import parallel

SIZE = 64
SYSTEMS = ["tinyattn fused", "tinyattn fused, causal", "tinyattn unfused", "torch sdpa 4-D", "torch sdpa 4-D, causal",
           "torch manual"]


def inputs(length, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(1, length, SIZE)).astype(np.float32) for _ in range(4)]


def runner(name):
    """A function (q, k, v, grad) -> (output, dq, dk, dv) as NumPy arrays, one forward + backward of `name`."""
    if name.startswith("tinyattn"):
        def run(q, k, v, grad):
            leaves = [ta.tensor(array, requires_grad=True) for array in (q, k, v)]
            if name == "tinyattn unfused":
                output, _ = F.scaled_dot_product_attention(*leaves, return_weights=True)
            else:
                output = F.scaled_dot_product_attention(*leaves, is_causal=name.endswith("causal"))
            output.backward(grad)
            return [output.data] + [leaf.grad for leaf in leaves]
        return run
    import torch

    def run(q, k, v, grad):
        leaves = [torch.tensor(array.reshape(1, 1, *array.shape[1:]), requires_grad=True) for array in (q, k, v)]
        if name == "torch manual":
            scores = leaves[0] @ leaves[1].transpose(-1, -2)
            output = torch.softmax(scores / math.sqrt(SIZE), dim=-1) @ leaves[2]
        else:
            output = torch.nn.functional.scaled_dot_product_attention(*leaves, is_causal=name.endswith("causal"))
        output.backward(torch.from_numpy(grad.reshape(output.shape)))
        return [output.detach().numpy().reshape(q.shape[0], q.shape[1], -1)] + [
            leaf.grad.numpy().reshape(array.shape) for leaf, array in zip(leaves, (q, k, v), strict=True)]
    return run


def available(names):
    try:
        import torch  # noqa: F401
    except ImportError as error:
        print(f"skipped torch: {error}")
        return [name for name in names if not name.startswith("torch")]
    return names


def check(names, length=1000):
    """Each system against tinyattn unfused (float32), causal ones against each other's causal reference."""
    arrays = inputs(length, seed=1)
    references = {False: runner("tinyattn unfused")(*arrays)}
    q, k, v, grad = arrays
    leaves = [ta.tensor(array, requires_grad=True) for array in (q, k, v)]
    output, _ = F.scaled_dot_product_attention(*leaves, is_causal=True, return_weights=True)
    output.backward(grad)
    references[True] = [output.data] + [leaf.grad for leaf in leaves]
    for name in names:
        for label, got, want in zip(["output", "dq", "dk", "dv"], runner(name)(*arrays),
                                    references[name.endswith("causal")], strict=True):
            problem = common.closeness_problem(got, want, rtol=1e-3, atol=1e-5 * np.abs(want).max())
            if problem:
                raise AssertionError(f"{name}: {label} differs from tinyattn's unfused path ({problem})")


def timed(names, length, rounds, settle):
    """{name: [seconds per round]}, rounds interleaved, one warm-up run each first. With `settle`, each timed run
    follows an untimed run of the same system, so that threads the previous system left spinning (torch's OpenMP
    pool, OpenBLAS's workers) are its own: without it, each system pays for its predecessor's."""
    arrays = inputs(length)
    runs = {name: runner(name) for name in names}
    for name in names:
        runs[name](*arrays)
    samples = {name: [] for name in names}
    for round_index in range(rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            if settle:
                runs[name](*arrays)
            samples[name].append(common.time_call(runs[name], *arrays))
    return samples


def block_rate(repeats=50):
    """GFLOP/s of the fused kernel's block product (B, D) @ (D, B) on all its workers, one BLAS thread each."""
    block = kernels.BLOCK
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(block, SIZE)).astype(np.float32), rng.normal(size=(SIZE, block)).astype(np.float32)
    out = np.empty((block, block), np.float32)
    workers = parallel.workers(1000)

    def run(items, worker):
        for _ in items:
            np.matmul(a, b, out=out if worker == 0 else np.empty_like(out))

    parallel.spread(run, list(range(repeats * workers)))  # warm up
    start = time.perf_counter()
    parallel.spread(run, list(range(repeats * workers)))
    seconds = time.perf_counter() - start
    return 2 * block * block * SIZE * repeats * workers / seconds / 1e9, workers


def peak_memory(name, length):
    """Peak resident MiB of a fresh process that imports what `name` needs and runs it twice at `length`."""
    result = subprocess.run([sys.executable, __file__, "--worker", name, str(length)], capture_output=True,
                            text=True, check=False, cwd=common.REPO_ROOT)
    if result.returncode:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mib"]


def worker(name, length):
    run = runner(name)
    arrays = inputs(length)
    run(*arrays)
    run(*arrays)
    print(json.dumps({"peak_mib": high_water_mib()}))


def high_water_mib():
    """This process's peak resident set, MiB: VmHWM from /proc (reset by exec, unlike ru_maxrss on Linux, which a
    child started by fork + exec inherits from its parent), or ru_maxrss where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def targets(names, length, rounds, settle):
    samples = timed(names, length, rounds, settle)
    median = {name: statistics.median(values) for name, values in samples.items()}
    rate, workers = block_rate()
    flops = 14 * length * length * SIZE
    floor = flops / (rate * 1e9)
    print(f"\nT = {length:,}, D = {SIZE}, float32, forward + backward; median of {rounds} interleaved rounds"
          f"{', each timed run after an untimed one of the same system' if settle else ''}. "
          f"Block {kernels.BLOCK}, {workers} worker(s); block product {rate:.0f} GFLOP/s on all workers; floor "
          f"14 T^2 D / rate = {floor:.2f} s.\n")
    rows = []
    for name in names:
        low, high = common.quartiles(samples[name])
        memory = peak_memory(name, length)
        rows.append([name, f"{median[name]:.2f}", f"{low:.2f}-{high:.2f}", f"{flops / median[name] / 1e9:.0f}",
                     "-" if memory is None else f"{memory:.0f}"])
    common.print_table(["system", "seconds", "IQR", "GFLOP/s (14 T^2 D)", "peak RSS MiB (own process)"], rows)
    fused = median["tinyattn fused"]
    torch_best = min((median[name] for name in ("torch sdpa 4-D", "torch manual") if name in median), default=None)
    print()
    if torch_best is not None:
        print(f"fused / torch's faster path: {fused / torch_best:.2f} (target <= 0.75)")
    print(f"fused / floor: {fused / floor:.2f} (target <= 1.3)")
    print(f"causal / full, fused: {median['tinyattn fused, causal'] / fused:.2f} (target <= 0.6)")


def scaling(names, lengths, fused_alone, rounds):
    print(f"\nScaling, one head, D = {SIZE}, float32, forward + backward: seconds (median of {rounds}) and peak RSS "
          "MiB of a process running only that system at that length.\n")
    rows = []
    for length in lengths + fused_alone:
        present = [name for name in names if "causal" not in name and (length in lengths or name == "tinyattn fused")]
        samples = timed(present, length, rounds, settle=False)
        row = [f"{length:,}"]
        for name in [name for name in names if "causal" not in name]:
            if name not in present:
                row += ["-", "-"]
                continue
            seconds = statistics.median(samples[name])
            memory = peak_memory(name, length)
            row += [f"{seconds:.3f}", "-" if memory is None else f"{memory:.0f}"]
        rows.append(row)
        print(f"  T = {length:,} done", flush=True)
    header = ["T"] + [f"{name} {unit}" for name in names if "causal" not in name for unit in ("s", "MiB")]
    common.print_table(header, rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=common.description(__doc__))
    parser.add_argument("--quick", action="store_true", help="T = 4,096 for the targets, scaling to 4,096")
    parser.add_argument("--no-settle", action="store_true", help="time each target run right after another system's "
                        "(default: after an untimed run of its own)")
    parser.add_argument("--no-scaling", action="store_true", help="the targets only")
    parser.add_argument("--worker", nargs=2, metavar=("SYSTEM", "T"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return
    names = available(SYSTEMS)
    check(names)
    print(common.environment_line([f"TINYATTN_THREADS workers {parallel.workers(1000)}"], blas=True, separator=", "))
    print("All systems gave tinyattn's unfused output and gradients at T = 1,000 before timing (rtol 1e-3).")
    target_names = [name for name in names if name != "tinyattn unfused"]
    targets(target_names, 4096 if args.quick else 16384, rounds=3, settle=not args.no_settle)
    if args.no_scaling:
        return
    if args.quick:
        scaling(names, [256, 1024, 4096], [], rounds=3)
    else:
        scaling(names, [256, 1024, 4096, 16384], [65536], rounds=1)


if __name__ == "__main__":
    main()
