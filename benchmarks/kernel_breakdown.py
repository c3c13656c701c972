"""Where one training sample's time goes in the compiled SBP, SGD and mixed-precision epochs
(not a test: prints).

    python benchmarks/kernel_breakdown.py [--mnist-dir DIR] [--samples N] [--rounds N]

MNIST 784-100-10, C2C noise on (`c2c_sigma` 0.02), one core. numba code is opaque to a sampling
profiler (py-spy sees one Python line calling the kernel), so the breakdown comes from timing the
*same compiled epoch* (`sbp_kernel.train_epoch`, `sgd_kernel.train_epoch`,
`mixed_precision_kernel.train_epoch`, unchanged: no instrumented copy) on variants of its inputs,
each a switch the kernel already reads:

- `no c2c`: the crossbars' `c2c` flag off, so no pulse draws a Gaussian;
- `draws adding 0`: C2C on with every device's sigma 0, so each pulse draws its Gaussian but
  moves the device exactly as without noise: the same pulses as `no c2c`, plus the draws;
- `single, no c2c`: the `single` pulse scheme, so each pulsed pair moves one device, not two;
- SBP `forward only`: margins no output current can meet (margin_hi -inf, margin_lo +inf), so
  no sample has an error and the kernel stops after the forward reads and output comparators;
- SBP `output layer only`: error_threshold +inf, so no hidden error: forward, the backward read of
  the output crossbar, the hidden comparators and the output layer's pulses, no hidden pulses;
- SGD `no update`: zero learning rates, so every pulse count is zero: forward reads, ADCs,
  errors and the pulse-count loops, no pulse; for mixed precision (the same variants), chi is
  accumulated and checked but never reaches a step.

Every variant starts from the same state, a network trained for one epoch (19 of the paper
profile's 20 epochs run on a trained network), and sees the same samples in the same order from
a Generator with the same seed; the variants are run round-robin, `--rounds` times, so a change
in the machine's load falls on all of them alike. Times are the process's CPU time
(time.process_time), not wall time: on a shared machine the wall time measures the share of a
core the process got, the CPU time what it did (cache contention from other processes still
shows, as the spread over rounds). Differences of variants give the parts; the
pulses per sample of each variant are printed beside it, because a variant that learns
differently also pulses a little differently. As a check, a compiled loop of bare
`rng.standard_normal()` calls (numba's own Generator, the kernels' draw) gives the cost of one
draw independently of the subtraction.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from sbp_core.chip import engine
from sbp_core.chip.engine import SINGLE
from sbp_core.data import binarize, load_dataset
from sbp_core.methods import mixed_precision_kernel, sbp_kernel, sgd_kernel
from sbp_core.methods.mixed_precision import MixedPrecisionLearner
from sbp_core.methods.sbp import SBPLearner
from sbp_core.methods.sgd import SGDLearner
from sbp_core.spec import RunSpec

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
INF = np.float32(np.inf)


def fresh(layers, change):
    """Copies of the crossbars' conductances (the kernels move them in place), each changed by
    `change` (a crossbar -> crossbar function)."""
    return tuple(
        change(
            bar._replace(g_plus=bar.g_plus.copy(), g_minus=bar.g_minus.copy(), diff=bar.diff.copy())
        )
        for bar in layers
    )


def same(bar):
    return bar


def silent_draws(bar):
    """C2C on with sigma 0: every pulse still draws its Gaussian, which adds exactly 0, so the
    pulses are those of `no_c2c`, and the difference of the two is the draws alone."""
    return bar._replace(plus=_silent(bar.plus), minus=_silent(bar.minus))


def _silent(records):
    records = records.copy()
    records["noise_sigma"] = 0
    return records


def no_c2c(bar):
    return bar._replace(c2c=False)


def single_no_c2c(bar):
    return bar._replace(c2c=False, scheme=SINGLE)


def sbp_variants(learner: SBPLearner):
    """name -> (layers, change, settings) of each SBP variant, from the learner's trained state."""
    layers = tuple(layer.arrays() for layer in learner.layers)
    rule = sbp_kernel.SBPSettings.from_spec(learner.spec)
    return {
        "full": (layers, same, rule),
        "draws adding 0": (layers, silent_draws, rule),
        "no c2c": (layers, no_c2c, rule),
        "single, no c2c": (layers, single_no_c2c, rule),
        "forward only": (layers, same, rule._replace(margin_hi=-INF, margin_lo=INF)),
        "output layer only": (layers, same, rule._replace(error_threshold=INF)),
    }


def sgd_variants(learner: SGDLearner):
    layers = tuple(layer.arrays() for layer in learner.layers)
    rule = learner.rule
    zero = np.float32(0.0)
    return {
        "full": (layers, same, rule),
        "draws adding 0": (layers, silent_draws, rule),
        "no c2c": (layers, no_c2c, rule),
        "single, no c2c": (layers, single_no_c2c, rule),
        "no update": (layers, same, rule._replace(step_hidden=zero, step_output=zero)),
    }


def run_sbp(order, rows, y, layers, rule, seed):
    counts = sbp_kernel.train_epoch(order, *rows, y, layers, rule, np.random.default_rng(seed))
    return counts


def run_sgd(adcs):
    def run(order, rows, y, layers, rule, seed):
        buffers = sgd_kernel.SampleBuffers.for_layers(layers)
        counts, _ = sgd_kernel.train_epoch(
            order, *rows, y, layers, rule, adcs, np.random.default_rng(seed), buffers
        )
        return counts

    return run


def run_mixed(learner: MixedPrecisionLearner):
    """The mixed-precision epoch from the learner's trained chi (a copy: the kernel changes it)."""

    def run(order, rows, y, layers, rule, seed):
        biggest = engine.layer_layout(layers)[2]
        scratch = tuple(np.empty(biggest, dtype) for dtype in (np.int64,) * 3 + (np.bool_,))
        chis = tuple(chi.copy() for chi in learner.chi)
        counts, _ = mixed_precision_kernel.train_epoch(
            order, *rows, y, layers, chis, rule, learner.adcs, np.random.default_rng(seed),
            sgd_kernel.SampleBuffers.for_layers(layers), scratch,
        )  # fmt: skip
        return counts

    return run


def measure(variants, run, order, rows, y, rounds: int) -> dict[str, tuple[list[float], float]]:
    """name -> (microseconds per sample in each round, device pulses per sample)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    pulses: dict[str, float] = {}
    for _ in range(rounds):
        for name, (layers, change, rule) in variants.items():
            bars = fresh(layers, change)
            start = time.process_time()
            counts = run(order, rows, y, bars, rule, 7)
            times[name].append(1e6 * (time.process_time() - start) / len(order))
            pulses[name] = float(counts.sum()) / len(order)
    return {name: (times[name], pulses[name]) for name in variants}


@numba.njit(cache=False)
def _normals(rng, n):  # pragma: no cover - compiled
    total = np.float32(0.0)
    for _ in range(n):
        total += np.float32(rng.standard_normal())
    return total


def draw_cost(rounds: int, n: int = 2_000_000) -> list[float]:
    """CPU nanoseconds per `rng.standard_normal()` in compiled code, one value per round."""
    _normals(np.random.default_rng(0), 10)  # compile
    costs = []
    for _ in range(rounds):
        start = time.process_time()
        _normals(np.random.default_rng(1), n)
        costs.append(1e9 * (time.process_time() - start) / n)
    return costs


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f}  [{min(values):6.2f} - {max(values):6.2f}]"


def report(title: str, results, parts: dict[str, tuple[str, str | None]]) -> None:
    print(
        f"\n{title}: CPU microseconds per sample, median [min - max] of rounds; pulses per sample"
    )
    for name, (times, pulses) in results.items():
        print(f"  {name:<20} {spread(times)}   {pulses:8.1f} device pulses")
    print("  parts (differences of the round medians):")
    median = {name: statistics.median(times) for name, (times, _) in results.items()}
    for part, (whole, less, per) in parts.items():
        value = median[whole] - (median[less] if less else 0.0)
        line = f"    {part:<58} {value:7.2f} us  ({100 * value / median['full']:5.1f} %)"
        if per:  # the pair scheme pulses two devices per pulsed pair
            count = results[whole][1] / (2 if per == "pair" else 1)
            line += f"  {1000 * value / count:5.1f} ns per {per}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist-dir", type=Path, default=os.environ.get("SBP_MNIST_DIR", DEFAULT_MNIST)
    )
    parser.add_argument("--samples", type=int, default=20000, help="samples timed per variant")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    data = load_dataset("mnist", mnist_dir=args.mnist_dir)
    X, y = binarize(data.X_train, 0.5, data.max_value), data.y_train.astype(np.int64)
    order = np.random.default_rng(3).permutation(len(X))[: args.samples]
    with threadpool_limits(limits=1):
        learners = {"sbp": SBPLearner, "sgd": SGDLearner, "mixed_precision": MixedPrecisionLearner}
        for name, cls in learners.items():
            spec = RunSpec(method=name, dataset="mnist", c2c_sigma=0.02)
            learner = cls(spec, X.shape[1], 10, np.random.default_rng(0))
            learner.fit_epoch(X, y, np.random.default_rng(1))  # trained state (and warm kernel)
            rows = learner.cached_rows(X)
            title = f"{name} 784-100-10, c2c_sigma 0.02"
            if name == "sbp":
                results = measure(sbp_variants(learner), run_sbp, order, rows, y, args.rounds)
                report(title, results, SBP_PARTS)
            elif name == "sgd":
                run = run_sgd(learner.adcs)
                results = measure(sgd_variants(learner), run, order, rows, y, args.rounds)
                report(title, results, SGD_PARTS)
            else:  # the sgd variants: zero rates leave chi where it is, so no pulse
                run = run_mixed(learner)
                results = measure(sgd_variants(learner), run, order, rows, y, args.rounds)
                report(title, results, MIXED_PARTS)
        print(
            "\nnumba rng.standard_normal(), bare loop: "
            f"{spread(draw_cost(args.rounds))} ns per draw"
        )


SBP_PARTS = {
    "forward reads, hidden and output comparators, output error": ("forward only", None, None),
    "backward read, hidden errors, output-layer pulses": (
        "output layer only",
        "forward only",
        None,
    ),
    "hidden-layer pulses (selection, responses, draws)": ("full", "output layer only", None),
    "  of all pulses: Gaussian draws (C2C)": ("draws adding 0", "no c2c", "device pulse"),
    "  of all pulses: one device's response, no noise (G-)": ("no c2c", "single, no c2c", "pair"),
}
"""Each part is the median time of the first variant less that of the second (None: 0), and
optionally per device pulse or per pulsed pair of the first."""

SGD_PARTS = {
    "forward reads and ADCs, errors, pulse counts": ("no update", None, None),
    "pulse trains (selection, responses, draws)": ("full", "no update", None),
    "  of which Gaussian draws (C2C)": ("draws adding 0", "no c2c", "device pulse"),
    "  of which one device's response, no noise (G-)": ("no c2c", "single, no c2c", "pair"),
}

MIXED_PARTS = {
    "forward reads and ADCs, errors, chi accumulation and checks": ("no update", None, None),
    "pulse trains (settling chi, responses, draws, reads)": ("full", "no update", None),
    "  of which Gaussian draws (C2C)": ("draws adding 0", "no c2c", "device pulse"),
    "  of which one device's response, no noise (G-)": ("no c2c", "single, no c2c", "pair"),
}


if __name__ == "__main__":
    main()
