"""Training speed on MNIST 784-100-10, one core, measured in one run (not a test: prints numbers).

    python benchmarks/bench_train.py [--mnist-dir DIR] [--samples N] [--reference-samples N]
                                     [--job-epochs N] [--cpu-time] [--only METHOD ...]

Prints samples per second of the SBP production path (compiled kernel) and of the readable numpy
reference path with C2C noise on, their ratio, the production path's speed with two hidden layers
(784-256-128-10, the paper profile's depth sweep), the speed of every baseline and on-chip rule
at the batch size it is defined with and its default settings (ttv2, cttv2, agad,
mixed_precision as well), the peak memory of single `sbp-bench train` processes on MNIST (the
default run and the heaviest paper-profile jobs), and the wall time of an exsitu job that trains
its off-chip network against one that replays it from the finished `ste` run, as the pipeline
does.

`--cpu-time` times epochs by the process's CPU time instead of wall time (on a shared machine);
`--only ttv2 mixed_precision` prints only those methods' lines.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from sbp_core.data import binarize, load_dataset
from sbp_core.methods import make_learner
from sbp_core.methods.sbp import SBPLearner
from sbp_core.spec import RunSpec

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]
"""How epochs are timed (`--cpu-time`: the process's CPU time, one core as threads are limited)."""
METHODS = ("float", "ste", "binarized", "manhattan", "exsitu", "sgd", "ttv2", "cttv2", "agad")
METHODS += ("mixed_precision",)
"""The methods timed at their defaults after SBP, in this order."""


def samples_per_second(learner, X, y, rng, repeats: int = 1) -> float:
    """Best of `repeats` timed epochs over (X, y)."""
    best = 0.0
    for _ in range(repeats):
        start = clock()
        learner.fit_epoch(X, y, rng)
        best = max(best, len(X) / (clock() - start))
    return best


def sbp_speeds(X, y, n_reference: int) -> tuple[float, float]:
    spec = RunSpec(method="sbp", dataset="mnist", c2c_sigma=0.02)
    fast = SBPLearner(spec, X.shape[1], 10, np.random.default_rng(0), engine="numba")
    fast.fit_epoch(X[:200], y[:200], np.random.default_rng(1))  # compile (or load the cache)
    production = samples_per_second(fast, X, y, np.random.default_rng(2), repeats=2)
    slow = SBPLearner(spec, X.shape[1], 10, np.random.default_rng(0), engine="numpy")
    slow.fit_epoch(X[:200], y[:200], np.random.default_rng(1))  # same warm-up as above
    reference = samples_per_second(
        slow, X[:n_reference], y[:n_reference], np.random.default_rng(2), repeats=2
    )
    return production, reference


DEEP = (256, 128)
"""The two-hidden-layer network whose SBP speed is printed: 784-256-128-10."""


def deep_sbp_speed(X, y) -> float:
    spec = RunSpec(method="sbp", dataset="mnist", c2c_sigma=0.02, n_hidden=DEEP)
    learner = SBPLearner(spec, X.shape[1], 10, np.random.default_rng(0), engine="numba")
    learner.fit_epoch(X[:200], y[:200], np.random.default_rng(1))  # compile (or load the cache)
    return samples_per_second(learner, X, y, np.random.default_rng(2), repeats=2)


def baseline_speed(method: str, X, y) -> float:
    spec = RunSpec(method=method, dataset="mnist")
    learner = make_learner(spec, X.shape[1], 10, np.random.default_rng(0))
    learner.fit_epoch(X[:512], y[:512], np.random.default_rng(1))
    return samples_per_second(learner, X, y, np.random.default_rng(2))


def train_job(mnist_dir: Path, out: Path, *options: str) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one `sbp-bench train` process on all of MNIST."""
    command = [
        sys.executable, "-m", "sbp_core.cli", "train", "--dataset", "mnist",
        "--mnist-dir", str(mnist_dir), "--out", str(out), "--quiet", *options,
    ]  # fmt: skip
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, not the max of all
    if status != 0:
        raise SystemExit(f"benchmark job failed: {' '.join(command)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


MEMORY_JOBS = {
    "sbp 784-100-10": (),
    "sbp 784-500-10, read noise 0.05": ("--n-hidden", "500", "--read-noise", "0.05"),
    "exsitu 784-100-10, d2d 0.3": ("--method", "exsitu", "--d2d-sigma", "0.3"),
}
"""The default run and the heaviest kinds of paper-profile job, one epoch each."""


def job_report(mnist_dir: Path, epochs: int) -> None:
    """Peak memory of single train jobs, and what replaying the off-chip network saves exsitu."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, options in MEMORY_JOBS.items():
            _, peak = train_job(mnist_dir, Path(tmp) / "m", "--epochs", "1", *options)
            print(f"peak memory of one sbp-bench train ({name}): {peak:,.0f} MB")
        ste, exsitu = Path(tmp) / "ste", ("--method", "exsitu", "--epochs", str(epochs))
        trained, _ = train_job(mnist_dir, Path(tmp) / "a", *exsitu)
        train_job(mnist_dir, ste, "--method", "ste", "--epochs", str(epochs))
        replayed, _ = train_job(mnist_dir, Path(tmp) / "b", *exsitu, "--offchip-run", str(ste))
    print(
        f"exsitu job, {epochs} epochs: {trained:.1f} s training the off-chip network, "
        f"{replayed:.1f} s replaying it ({trained / replayed:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist-dir", type=Path, default=os.environ.get("SBP_MNIST_DIR", DEFAULT_MNIST)
    )
    parser.add_argument("--samples", type=int, default=54000, help="production samples per epoch")
    parser.add_argument("--reference-samples", type=int, default=5000)
    parser.add_argument("--job-epochs", type=int, default=20, help="epochs of the exsitu jobs")
    parser.add_argument("--cpu-time", action="store_true", help="time epochs by CPU time")
    parser.add_argument("--only", nargs="+", choices=METHODS, help="print only these methods")
    args = parser.parse_args()
    global clock
    clock = CLOCK["cpu" if args.cpu_time else "wall"]

    data = load_dataset("mnist", mnist_dir=args.mnist_dir, n_train=args.samples)
    X, y = binarize(data.X_train, 0.5, data.max_value), data.y_train
    with threadpool_limits(limits=1):
        if not args.only:
            production, reference = sbp_speeds(X, y, args.reference_samples)
            print(f"sbp production (numba kernel): {production:12,.0f} samples/s")
            print(f"sbp reference (numpy loop):    {reference:12,.0f} samples/s")
            print(f"ratio production / reference:  {production / reference:12.1f}x")
            deep = f"sbp 784-{'-'.join(map(str, DEEP))}-10 (numba):"
            print(f"{deep:<31}{deep_sbp_speed(X, y):12,.0f} samples/s")
        for method in args.only or METHODS:
            print(f"{method + ':':<31}{baseline_speed(method, X, y):12,.0f} samples/s")
    if not args.only:
        job_report(args.mnist_dir, args.job_epochs)


if __name__ == "__main__":
    main()
