"""Where the wall time of one paper-profile train job goes, per kind of job (not a test: prints).

    python benchmarks/profile_jobs.py [--mnist-dir DIR] [--rounds N] [--epochs N]
                                      [--kinds sbp,sgd,...]

Takes one job of each kind from config/paper.yaml's grid, seed 0 (sweep `methods` for sbp, sgd,
exsitu, manhattan, float and ste, sweep `depth` at 784-256-128-10 for deep SBP), and runs it as
the pipeline does: `sbp-bench train --quiet` in its own process, BLAS and numba on one thread, the
exsitu job replaying the ste job's network (--offchip-run). Each round runs every job twice,
alternately: plain, for its wall time and CPU time (os.wait4), and under py-spy, a sampling
profiler outside the process (100 samples a second of wall time, idle ones included, without
pausing the process), whose stacks are sorted into phases by the frames they hold (PHASES, first
match wins). numba's compiled code has no Python frames: its samples fall on the line that calls
the kernel, inside `fit_epoch`, so "training" is the kernel plus the little Python around it
(but for `cached_rows`, the training images as sparse rows, once per job: "data")
(`kernel_breakdown.py` splits the kernel itself); loading the cached kernels goes through numba's
Python dispatcher and cache, so it is a phase of its own.

`--epochs N` runs the jobs for N of their 20 epochs: training and evaluation grow with the epochs,
the rest does not, so a short job gives both parts (the first epochs pulse more than later ones).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sbp_core.grid import expand, load_config

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist"

JOBS = {
    "sbp": ("methods", {"method": "sbp"}),
    "sgd": ("methods", {"method": "sgd"}),
    "ste": ("methods", {"method": "ste"}),  # the off-chip network the exsitu job replays
    "exsitu": ("methods", {"method": "exsitu"}),
    "manhattan": ("methods", {"method": "manhattan"}),
    "float": ("methods", {"method": "float"}),
    "deep sbp": ("depth", {"method": "sbp", "n_hidden": (256, 128)}),
}
"""Kind -> (sweep, the spec fields that pick its seed-0 run from the sweep)."""

PHASES = (
    ("numba: cached kernels loaded", ("numba/core/caching.py", "_compile_for_args")),
    ("imports", ("_find_and_load",)),
    ("data", ("load_dataset", "network_inputs", "sbp_core/identity.py", "cached_rows")),
    ("training", ("fit_epoch", "replay")),
    ("evaluation", ("_history_row", "predict", "_metrics")),
    ("writing", ("sbp_core/atomic.py", "write_epochs")),
    ("learner set-up", ("make_learner",)),
)
"""Phase -> marks in py-spy's stacks, first match wins: a mark with a "/" is part of a frame's
file, any other a frame's function or method name. A stack with none of them is "other" (interpreter
start-up and exit, argument parsing, the spec)."""

ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}  # fmt: skip
"""The train rule's environment (workflow/rules/train.smk)."""


def paper_jobs(mnist_dir: Path) -> dict[str, dict]:
    """Kind -> spec dict of its seed-0 run in the paper profile (MNIST read from mnist_dir)."""
    config = load_config(ROOT / "config" / "paper.yaml", ROOT / "config" / "schema.yaml")
    config["mnist_dir"] = str(mnist_dir)
    grid = expand(config)
    jobs = {}
    for kind, (sweep, fields) in JOBS.items():
        for run_id in grid.sweeps[sweep].run_ids:
            spec = grid.runs[run_id]
            if spec.seed == 0 and all(getattr(spec, k) == v for k, v in fields.items()):
                jobs[kind] = spec.to_dict()
                break
    return jobs


def train_command(spec_file: Path, out: Path, mnist_dir: Path, offchip: Path | None) -> list[str]:
    command = [
        sys.executable, "-m", "sbp_core.cli", "train", "--spec", str(spec_file),
        "--out", str(out), "--mnist-dir", str(mnist_dir), "--quiet",
    ]  # fmt: skip
    return command + (["--offchip-run", str(offchip)] if offchip else [])


def run_plain(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds, user + system) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"job failed: {' '.join(command)}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def run_profiled(command: list[str], raw: Path) -> Counter:
    """Phase -> seconds of wall time (samples / rate) of one process under py-spy."""
    rate = 100
    spy = Path(sys.executable).with_name("py-spy")
    profiler = [
        str(spy), "record", "--rate", str(rate), "--idle", "--nonblocking", "--format", "raw",
        "--output", str(raw), "--",
    ]  # fmt: skip
    result = subprocess.run(
        profiler + command, env={**os.environ, **ENV}, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"py-spy failed: {result.stderr.strip()}")
    phases: Counter = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        phases[phase_of(stack)] += int(count) / rate
    return phases


def phase_of(stack: str) -> str:
    """The phase of one py-spy stack, its frames "function (file:line)" joined by ";"."""
    frames = [frame.partition(" (") for frame in stack.split(";")]
    functions = {function.rpartition(".")[2] for function, _, _ in frames}  # Class.method
    files = " ".join(place for _, _, place in frames)
    for phase, marks in PHASES:
        if any(mark in files if "/" in mark else mark in functions for mark in marks):
            return phase
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mnist-dir", type=Path, default=os.environ.get("SBP_MNIST_DIR", DEFAULT_MNIST)
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default=",".join(JOBS), help="comma-separated kinds")
    parser.add_argument("--epochs", type=int, help="epochs per job (default: the profile's)")
    parser.add_argument("--keep", type=Path, help="folder to keep py-spy's raw stacks in")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    if "exsitu" in kinds and "ste" not in kinds:
        kinds.insert(kinds.index("exsitu"), "ste")  # exsitu replays the ste network
    jobs = paper_jobs(args.mnist_dir.resolve())

    plain: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    profiled: dict[str, list[Counter]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(args.rounds):
            for kind in kinds:
                spec_file = folder / f"{kind}.json"
                spec = jobs[kind] | ({"epochs": args.epochs} if args.epochs else {})
                spec_file.write_text(json.dumps(spec))
                offchip = folder / "ste-plain" if kind == "exsitu" else None
                for how in ("plain", "profiled"):
                    out = folder / f"{kind}-{how}".replace(" ", "-")
                    command = train_command(spec_file, out, args.mnist_dir, offchip)
                    if how == "plain":
                        plain[kind].append(run_plain(command))
                        result = "wall {:.2f} s, cpu {:.2f} s".format(*plain[kind][-1])
                    else:
                        raw = folder / f"{kind}-{len(profiled[kind])}.txt".replace(" ", "-")
                        profiled[kind].append(run_profiled(command, raw))
                        if args.keep:
                            args.keep.mkdir(parents=True, exist_ok=True)
                            (args.keep / raw.name).write_text(raw.read_text())
                        result = dict(profiled[kind][-1])
                    train = json.loads((out / "timing.json").read_text())["train_time_s"]
                    print(f"# {kind} {how}: {result}; train_time_s {train}", flush=True)
    report(plain, profiled)


def report(plain, profiled) -> None:
    phases = [phase for phase, _ in PHASES] + ["other"]
    print("\nwall and CPU seconds of plain runs (median [min - max] over rounds)")
    for kind, values in plain.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        print(f"  {kind:<10} wall {spread(walls)}  cpu {spread(cpus)}")
    print(
        "\nphases: share of py-spy's samples (median [min - max] over rounds, %), and CPU seconds"
        " estimated as the median share times the plain runs' median CPU time"
    )
    for kind, rounds in profiled.items():
        cpu = statistics.median(c for _, c in plain[kind])
        print(f"  {kind}")
        for phase in phases:
            shares = [100 * r.get(phase, 0.0) / sum(r.values()) for r in rounds]
            estimate = statistics.median(shares) / 100 * cpu
            print(f"    {phase:<30} {spread(shares)}  {estimate:6.2f} s CPU")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} [{min(values):6.2f} - {max(values):6.2f}]"


if __name__ == "__main__":
    main()
