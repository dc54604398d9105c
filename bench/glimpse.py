"""The glimpse sensor's Numba kernels against their NumPy references: glimpses per second, forward and backward.

A glimpse is what the sensor of the recurrent attention model (Mnih et al., 2014) reads at one location: `scales`
square patches of side 8, 16, 32 around it, each average-pooled to 8 x 8 (``tinyattn.kernels.glimpse``). Here:
batches of B = 32 and B = 256 single-channel 40 x 40 float32 images, one location per image drawn uniformly in
[-1, 1]^2 (seed 0) and turned into patch corners by ``tinyattn.vision.glimpse_corners``, as the sensor does; so
patches reach over the border often, and at 3 scales the 32 x 32 patch of a location near the edge is mostly
outside. Each case times the forward (``glimpse_forward``) alone and the forward followed by the backward
(``glimpse_backward`` of a random upstream gradient), for the Numba kernel (``.numba``) and for the NumPy reference
(``.reference``), both called directly, so the global switch plays no part. The kernels are serial and call no BLAS.

Before timing, the kernel's output and gradient must equal the reference's (``np.allclose``, rtol 1e-5, atol 1e-6 x
the largest reference value: the two sum a pool's pixels in different orders and precisions). Timing follows
bench/kernels.py: warm-up calls first (the first Numba call compiles, or loads from the disk cache), then rounds in
which reference and kernel alternate, every case in every round, the order within a pair swapping each round. A
timed sample repeats the call enough times to last about 10 ms (the count is set once per side and case from the
warm-up), and gives the time per call. The table shows medians over the rounds; the ratio reference / kernel and its
interquartile range are taken per round, from the pair timed together. Glimpses per second: B / time per call.

    python bench/glimpse.py              # 20 rounds
    python bench/glimpse.py --quick      # 5 rounds

Target: forward + backward at B = 256, at both scale counts, the kernel at least TARGET (10) times the reference's
glimpses per second; a MET / NOT MET line says whether it held.
"""
import math
import statistics
from dataclasses import dataclass

import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
from tinyattn.kernels import glimpse as glimpse_kernels
from tinyattn.vision import glimpse_corners

DTYPE = np.float32
IMAGE_SIZE, SIZE = (40, 40), 8
BATCHES, SCALES = (32, 256), (2, 3)
PASSES = ("forward", "forward + backward")
TARGET = 10.0  # the least acceptable ratio, forward + backward at B = 256
SAMPLE_SECONDS = 0.01  # a timed sample repeats the call to last about this long
RTOL, ATOL_SCALE = 1e-5, 1e-6


@dataclass(frozen=True)
class Case:
    """One timed comparison: the reference against the kernel on one batch, for one pass."""

    batch: int
    scales: int
    passes: str

    @property
    def name(self):
        return f"B = {self.batch}, {self.scales} scales, {self.passes}"

    @property
    def target(self):
        return TARGET if self.batch == max(BATCHES) and self.passes == "forward + backward" else None


def inputs_for(batch, scales, rng):
    """Images (B, 1, 40, 40), corners (B, scales, 2) from uniform locations, an upstream gradient (B, S, 1, 8, 8)."""
    locations = rng.uniform(-1.0, 1.0, (batch, 2))
    return {
        "images": rng.random((batch, 1, *IMAGE_SIZE), dtype=DTYPE),
        "corners": glimpse_corners(locations, IMAGE_SIZE, SIZE, scales),
        "grad": rng.standard_normal((batch, scales, 1, SIZE, SIZE)).astype(DTYPE),
    }


def runner(case, inputs, implementation):
    """A call without arguments running `case`'s pass with the .reference or .numba side of the kernels."""
    forward = getattr(glimpse_kernels.glimpse_forward, implementation)
    backward = getattr(glimpse_kernels.glimpse_backward, implementation)
    images, corners, grad = inputs["images"], inputs["corners"], inputs["grad"]
    if case.passes == "forward":
        return lambda: (forward(images, corners, SIZE),)
    return lambda: (forward(images, corners, SIZE), backward(grad, corners, images.shape))


def check_agreement(case, reference, kernel):
    """Fail loudly unless the kernel's output (and gradient) equals the reference's, in float32 tolerance."""
    for index, (want, have) in enumerate(zip(reference(), kernel(), strict=True)):
        scale = max(float(np.abs(want).max()), 1.0)
        problem = common.closeness_problem(have, want, rtol=RTOL, atol=ATOL_SCALE * scale)
        if problem:
            raise AssertionError(f"{case.name}: result {index} of the kernel differs from the reference ({problem})")


def repeats(call, warmup):
    """How many calls make a sample of about SAMPLE_SECONDS, from `warmup` untimed calls (at least one)."""
    seconds = min(common.time_call(call) for _ in range(max(warmup, 1)))
    return max(1, math.ceil(SAMPLE_SECONDS / max(seconds, 1e-9)))


def time_per_call(call, number):
    """Seconds per call over `number` calls. Each result is dropped before the next call, as in a training loop:
    keeping them all alive would make every call fault in fresh pages for its images-sized gradient."""

    def calls():
        for _ in range(number):
            call()

    return common.time_call(calls) / number


def measure(cases, calls, rounds, warmup):
    """Per case name, the (reference, kernel) seconds per call of every round; the pair's order swaps each round."""
    numbers = {(case.name, side): repeats(calls[case.name][side], warmup) for case in cases for side in (0, 1)}
    samples = {case.name: [] for case in cases}
    for round_index in range(rounds):
        for case in cases:
            order = (1, 0) if round_index % 2 else (0, 1)
            seconds = {side: time_per_call(calls[case.name][side], numbers[case.name, side]) for side in order}
            samples[case.name].append((seconds[0], seconds[1]))
    return samples


def summarise(cases, samples):
    """Per case: median reference and kernel seconds per call, the median per-round ratio and its quartiles."""
    summary = {}
    for case in cases:
        pairs = samples[case.name]
        ratios = [reference / kernel for reference, kernel in pairs]
        summary[case.name] = (statistics.median(reference for reference, _ in pairs),
                              statistics.median(kernel for _, kernel in pairs),
                              statistics.median(ratios), *common.quartiles(ratios))
    return summary


def print_results(cases, summary):
    rows = []
    for case in cases:
        reference, kernel, ratio, low, high = summary[case.name]
        rows.append([case.passes, case.batch, case.scales, f"{1e3 * reference:.3f}", f"{1e3 * kernel:.3f}",
                     f"{case.batch / reference:,.0f}", f"{case.batch / kernel:,.0f}", f"{ratio:.1f}x",
                     f"{low:.1f}–{high:.1f}", f"≥ {case.target:g}x" if case.target else "–"])
    common.print_table(["pass", "B", "scales", "reference ms", "kernel ms", "reference glimpses/s",
                        "kernel glimpses/s", "reference / kernel", "ratio IQR", "target"], rows, left=1)


def parse_args(argv=None):
    return common.parse_kernel_arguments(__doc__, argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    cases, calls = [], {}
    for batch in BATCHES:
        for scales in SCALES:
            inputs = inputs_for(batch, scales, rng)
            for passes in PASSES:
                case = Case(batch, scales, passes)
                cases.append(case)
                calls[case.name] = (runner(case, inputs, "reference"), runner(case, inputs, "numba"))
                check_agreement(case, *calls[case.name])  # also the first call: it compiles (or loads the cache)

    print(f"Glimpse kernels against their NumPy references: single-channel {IMAGE_SIZE[0]} x {IMAGE_SIZE[1]} "
          f"float32 images, patches of side {SIZE} x 2^s pooled to {SIZE} x {SIZE}, one uniform location in "
          f"[-1, 1]^2 per image; one process, median of {args.rounds} rounds (reference and kernel alternating, "
          f"each sample ~{SAMPLE_SECONDS * 1e3:g} ms of repeated calls) after {args.warmup} warm-up call(s) of each.")
    print(common.environment_line([f"{common.numba_version()}; the kernels are serial (one thread) and call no BLAS"]))
    print(f"Every kernel gave its reference's output and gradient before timing (np.allclose, rtol {RTOL:g}, "
          f"atol {ATOL_SCALE:g} x the largest reference value).")
    summary = summarise(cases, measure(cases, calls, args.rounds, args.warmup))
    print()
    print_results(cases, summary)
    print()
    common.print_kernel_verdicts(cases, summary, goal="the reference's glimpses per second", digits=1)


if __name__ == "__main__":
    main()
