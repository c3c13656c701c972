"""Train many runs in one process (`sbp-bench train-batch`): the start-up a train job pays once
per process (imports, loading the cached numba kernels, decoding MNIST) is paid once per batch.

A batch file (or `-`, standard input: the pipeline's batch jobs) is JSON lines, one run spec per
line (an object of RunSpec fields, as a spec file
holds; a `run_id` key, if given, must be the id those fields give). Every line is checked before
anything trains, so a bad line is refused in one line naming the file and the line, and nothing
is written. Each run is then trained exactly as `sbp-bench train` trains it (`train.run`) into
its own folder, `RUNS_DIR/<run id>`, staged and swapped in when finished: a batch killed mid-way
loses only the run it was training. A run whose folder is already finished and verified is
skipped, since the run id certifies its numbers, so running a killed batch again trains only
what is missing. An exsitu run replays its ste run's folder when that is finished (as the
pipeline's exsitu jobs do), else trains the same network itself; the numbers are the same.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sbp_core import runfolder, train
from sbp_core.data import Dataset, load_dataset
from sbp_core.errors import ConfigError, SbpBenchError
from sbp_core.spec import RunSpec


@dataclass(frozen=True)
class Outcome:
    """What became of one run of a batch: `status` is the run's own ("ok", "diverged"),
    "finished before" (skipped) or "failed" (`message` says why)."""

    run_id: str
    folder: Path
    status: str
    message: str


def read_batch(path: str | Path) -> list[RunSpec]:
    """The run specs of a batch file (`-`: standard input), in order; a bad line is a one-line
    ConfigError naming the file and the line."""
    path = Path(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        lines = text.splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{path}: batch file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: unreadable ({err.__class__.__name__})") from None
    specs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            values = json.loads(line)
        except ValueError as err:
            raise ConfigError(f"{where}: not JSON ({err.msg})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: a line must hold one JSON object of spec fields")
        try:
            spec = RunSpec.from_dict(values, source=where)
        except ConfigError as err:  # a value the spec refuses names its key, not the line
            message = str(err)
            raise ConfigError(
                message if message.startswith(where) else f"{where}: {message}"
            ) from None
        if "run_id" in values and values["run_id"] != spec.run_id:
            raise ConfigError(
                f"{where}: run_id {values['run_id']!r} is not the id of its fields ({spec.run_id})"
            )
        specs.append(spec)
    if not specs:
        raise ConfigError(f"{path}: no run specs in the batch file")
    return specs


def train_batch(
    specs: list[RunSpec],
    runs_dir: str | Path,
    mnist_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[Outcome]:
    """Train each spec into `runs_dir/<run id>` in order, yielding each run's outcome as it ends.
    A run that fails with an SbpBenchError (say, missing data) is reported and the batch goes on."""
    runs_dir = Path(runs_dir)
    load = _shared_loader()
    for spec in specs:
        folder = runs_dir / spec.run_id
        if _finished(folder):
            yield Outcome(spec.run_id, folder, "finished before", "verified, not retrained")
            continue
        offchip = None
        if spec.method == "exsitu":
            ste_folder = runs_dir / spec.offchip_spec().run_id
            offchip = ste_folder if _finished(ste_folder) else None
        try:
            metrics = train.run(
                spec, folder, mnist_dir=mnist_dir, progress=progress, offchip_run=offchip, load=load
            )
        except SbpBenchError as err:
            yield Outcome(spec.run_id, folder, "failed", str(err))
            continue
        yield Outcome(
            spec.run_id,
            folder,
            metrics["status"],
            train.outcome(metrics),
        )


def _finished(folder: Path) -> bool:
    """True when `folder` is a finished run folder that passes verification."""
    try:
        runfolder.verify(folder)
    except runfolder.RunFolderError:
        return False
    return True


def _shared_loader() -> Callable[..., Dataset]:
    """`load_dataset`, keeping the dataset it loaded last for the runs after it (a batch's runs
    mostly read the same split; one kept, so memory does not grow with the batch). Its arrays are
    made read-only, so a run cannot change what the next run reads."""
    last: dict[tuple, Dataset] = {}

    def load(name: str, **options) -> Dataset:
        key = (name, *sorted((option, str(value)) for option, value in options.items()))
        if key not in last:
            data = load_dataset(name, **options)
            for value in vars(data).values():
                if hasattr(value, "flags"):
                    value.flags.writeable = False
            last.clear()
            last[key] = data
        return last[key]

    return load
