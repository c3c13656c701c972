"""Where a finished pipeline run's wall time went, from its Snakemake log (not a test: prints).

    python benchmarks/pipeline_timeline.py SNAKEMAKE_LOG RESULTS_DIR [--wall SECONDS]
                                           [--process-cpu FILE]

SNAKEMAKE_LOG is the console output of the run (or .snakemake/log/*.snakemake.log), RESULTS_DIR
its results/<profile>/ folder. The log stamps every job's start and end to the second; from them
come, per rule, the jobs and their summed wall time, and for the whole run the time before the
first job (DAG building), after the last one, and while fewer jobs ran than cores. Train jobs
(one run each, `train_batch_*` jobs with train.batch_runs > 1, counted as one rule, and the
tuned final runs' `train_tuned` jobs) also have
Snakemake's benchmark files (wall and CPU seconds of the process) and their run folders'
timing.json (seconds in `fit_epoch`), which split the train jobs into training and the rest
(start-up, data, evaluation, writing).

The other rules have no benchmark files. For their CPU time, run Snakemake with
`PYTHONPATH=benchmarks/process_cpu PROCESS_CPU_LOG=FILE`: every Python process it starts (and
Snakemake itself) then appends its CPU seconds to FILE, and `--process-cpu FILE` sums them per
rule (a script job is named by its script, tmpXXXX.<rule>.py; `sbp-bench` by its command).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISH = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def jobs_of(log: Path) -> dict[str, tuple[str, float, float]]:
    """jobid -> (rule, start, end) in seconds since the log's first stamp."""
    first = now = None
    starts: dict[str, tuple[str, float]] = {}
    jobs = {}
    pending_rule = None
    for line in log.read_text().splitlines():
        if match := STAMP.match(line):
            now = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
            first = first if first is not None else now
        elif match := START.match(line):
            pending_rule = match.group(1)
        elif (match := JOBID.match(line)) and pending_rule:
            pending_rule = re.sub(r"^train_batch_\w+$", "train_batch", pending_rule)
            starts[match.group(1)] = (pending_rule, now - first)
            pending_rule = None
        elif match := FINISH.match(line):
            rule, start = starts[match.group(1)]
            jobs[match.group(1)] = (rule, start, now - first)
    return jobs


def underused(jobs, cores: int) -> float:
    """Seconds, between the first job's start and the last job's end, with fewer jobs running
    than cores (to the log's one-second resolution)."""
    events = sorted([(s, 1) for _, s, _ in jobs.values()] + [(e, -1) for _, _, e in jobs.values()])
    running, last, idle = 0, events[0][0], 0.0
    for time, step in events:
        if running < cores:
            idle += time - last
        running += step
        last = time
    return idle


def train_split(results: Path) -> tuple[int, float, float, float]:
    """(jobs, wall, CPU, training seconds): the train jobs' benchmark files summed (one-run
    `train` jobs, `train_batch_*` and `train_tuned` jobs alike), and every run folder's
    timing.json."""
    n, wall, cpu = 0, 0.0, 0.0
    for tsv in (
        *results.glob("benchmarks/train/*.tsv"),
        *results.glob("benchmarks/train_batch/*.tsv"),
        *results.glob("benchmarks/train_tuned/*.tsv"),
    ):
        with tsv.open() as handle:
            row = next(csv.DictReader(handle, delimiter="\t"))
        n, wall, cpu = n + 1, wall + float(row["s"]), cpu + float(row["cpu_time"])
    train = sum(
        json.loads(timing.read_text())["train_time_s"]
        for timing in results.glob("runs/*/timing.json")
    )
    return n, wall, cpu, train


def cpu_per_rule(log: Path) -> dict[str, list[float]]:
    """Rule (or process) -> CPU seconds of each process in a PROCESS_CPU_LOG file. A rule's
    script counts the workers it forked too (they write no record of their own); Snakemake's
    and sbp-bench's children are jobs and processes with records of their own, never added."""
    per_rule: dict[str, list[float]] = defaultdict(list)
    for line in log.read_text().splitlines():
        record = json.loads(line)
        program = Path(record["argv"][0]).name
        cpu = record["cpu_s"]
        if program == "sbp-bench":
            name = f"sbp-bench {record['argv'][1]}"
        elif program.startswith("tmp") and program.endswith(".py"):
            name = program.split(".")[-2]  # Snakemake's copy of a rule's script
            cpu += record.get("children_cpu_s", 0.0)
        else:
            name = program
        per_rule[name].append(cpu)
    return per_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("results", type=Path)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--wall", type=float, help="the run's wall time, if measured outside")
    parser.add_argument("--process-cpu", type=Path, help="a PROCESS_CPU_LOG file of the run")
    args = parser.parse_args()

    jobs = jobs_of(args.log)
    per_rule: dict[str, list[float]] = defaultdict(list)
    for rule, start, end in jobs.values():
        per_rule[rule].append(end - start)
    first_start = min(s for _, s, _ in jobs.values())
    last_end = max(e for _, _, e in jobs.values())
    print(f"jobs: {len(jobs)}; first job starts {first_start:.0f} s after the first stamp")
    print(f"first job start to last job end: {last_end - first_start:.0f} s")
    if args.wall:
        print(f"wall time measured outside: {args.wall:.0f} s")
    print(f"time with fewer than {args.cores} jobs running: {underused(jobs, args.cores):.0f} s")
    print("\nper rule: jobs, summed job wall seconds (log stamps), longest job")
    for rule, walls in sorted(per_rule.items(), key=lambda item: -sum(item[1])):
        print(f"  {rule:<18} {len(walls):4d} {sum(walls):8.0f} {max(walls):6.0f}")
    n, wall, cpu, train = train_split(args.results)
    print(
        f"\ntrain jobs with benchmark files: {n}; wall {wall:.0f} s, CPU {cpu:.0f} s, "
        f"of which training (timing.json) {train:.0f} s; the rest {wall - train:.0f} s wall"
    )

    if args.process_cpu:
        print("\nCPU seconds per rule (process_cpu): processes, CPU in all, largest")
        for name, cpus in sorted(cpu_per_rule(args.process_cpu).items(), key=lambda i: -sum(i[1])):
            print(f"  {name:<18} {len(cpus):4d} {sum(cpus):8.1f} {max(cpus):6.1f}")


if __name__ == "__main__":
    main()
