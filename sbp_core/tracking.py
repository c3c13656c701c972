"""Finished run folders -> MLflow, from one process, idempotently.

Training jobs only write files (importing mlflow costs seconds and racing writers corrupt a SQLite
store). This module reads those files afterwards and logs them: one experiment per profile, one
parent run per sweep, one child run per grid point and sweep, and one per tuning trial and tuned
final run under the sweep it was tuned for (`placements`). A child is looked up by its tags (sweep,
role, run id) before logging and carries a hash of what it logged (CONTENT): running again logs
nothing twice, and a child whose run folder changed since (a run retrained after a code or config
change), or that an interrupted logger left unfinished, is deleted and logged again, so the store
never keeps stale numbers, duplicates or orphans. A child starts and ends when its training did
(timing.json), so MLflow's Duration is the training time; each parent carries its sweep's means
per method and the experiment a description, so the first page a user opens already compares
something.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy  # noqa: E402
from mlflow.entities import Metric, Param, RunStatus  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from sbp_core import runfolder  # noqa: E402
from sbp_core.provenance import PROVENANCE_FILE  # noqa: E402
from sbp_core.report import rule_log  # noqa: E402
from sbp_core.report.collect import read_json  # noqa: E402
from sbp_core.report.run_figures import confusion_figure, histogram_figure  # noqa: E402
from sbp_core.tuning.final_runs import run_folders  # noqa: E402

ROLE, SWEEP, RUN_ID = "sbp.role", "sbp.sweep", "sbp.run_id"
"""Tag keys that identify what an MLflow run stands for (a child's idempotency key is sweep, role
and run id)."""
CHILD_ROLES = ("run", "trial", "final")
"""A child's role: a grid point (untuned), a tuning trial, a tuned final run (`Placement`)."""
UNIT, TRIAL, SELECTED, POINT, SEARCHED = (
    "sbp.tuning_unit", "sbp.trial", "sbp.selected", "sbp.point", "sbp.searched",
)  # fmt: skip
"""Tag keys of a trial or a tuned final run: its tuning unit (`<sweep>.<method>.p<i>`), the trial's
index (a final run's: the chosen trial's), whether the trial was chosen, the tuned point's axis
values (a final run's: its own point's), the searched fields."""
TUNED_PREFIX = "tuned_"
"""Prefix of a parent's means over its tuned final runs (`tuned_mean_final_test_acc/<method>`)."""
CONTENT, RUN_CODE = "sbp.content_sha256", "sbp.run_code_version"
"""Tag keys of a child: the hash of what it logged; the code version that wrote its run folder."""
LOGGED_AT = "sbp.logged_at_ns"
"""Tag key of a child: when it was logged (its start time is its training's, alike for
duplicates), so the newest of duplicates is known."""
NOTE = "mlflow.note.content"
"""The tag MLflow shows as a run's or an experiment's description."""
MAX_METRICS, MAX_PARAMS = 1000, 100
"""MLflow's per-call limits of log_batch."""
RUN_FILES = ("spec.json", "metrics.json", "history.csv")
"""The run's files a child holds as artifacts."""
TIMING_FILE = "timing.json"


@dataclass(frozen=True)
class RunFolder:
    """What one finished run folder says, read once."""

    path: Path
    spec: dict[str, Any]
    metrics: dict[str, Any]
    history: pd.DataFrame
    provenance: dict[str, Any]
    timing: dict[str, Any]

    @classmethod
    def read(cls, path: str | Path) -> RunFolder:
        """The folder's files, verified first (sbp_core.runfolder)."""
        path = Path(path)
        metrics = runfolder.verify(path)
        return cls(
            path=path,
            spec=read_json(path / "spec.json"),
            metrics=metrics,
            history=pd.read_csv(path / "history.csv"),
            provenance=read_json(path / PROVENANCE_FILE),
            timing=read_json(path / TIMING_FILE),
        )

    def content_hash(self, cost: Mapping[str, float]) -> str:
        """SHA-256 of everything a child logs from this folder: its files and its cost metrics."""
        digest = hashlib.sha256()
        for name in (*RUN_FILES, PROVENANCE_FILE, TIMING_FILE):
            data = (self.path / name).read_bytes()
            digest.update(f"{name} {len(data)}\n".encode())
            digest.update(data)
        digest.update(json.dumps({k: float(v) for k, v in cost.items()}, sort_keys=True).encode())
        return digest.hexdigest()

    @property
    def run_id(self) -> str:
        return self.spec["run_id"]

    @property
    def timestamp_ms(self) -> int:
        """When the run finished (metrics.json is written last), as MLflow metric timestamps."""
        return int((self.path / "metrics.json").stat().st_mtime * 1000)

    @property
    def training_ms(self) -> tuple[int | None, int | None]:
        """When training started and ended (timing.json), in MLflow's milliseconds; (None, None)
        for a folder written before timing.json recorded them: MLflow then takes the logging's."""
        started, finished = self.timing.get("started_at"), self.timing.get("finished_at")
        if started is None or finished is None:
            return None, None
        return round(started * 1000), round(finished * 1000)


@dataclass(frozen=True)
class Placement:
    """One child a run folder is logged as: under the parent of `sweep`, as `role` (`run`: a grid
    point, untuned; `trial`: a tuning trial; `final`: a tuned final run), with the tuning's tags
    and metrics (none for a grid point)."""

    sweep: str
    role: str = "run"
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)

    def content_hash(self, folder_hash: str) -> str:
        """What the child logs: its folder's hash, and for a trial or final run its tags and
        metrics too, so a changed choice (a new trial won) replaces the child."""
        if not self.tags and not self.metrics:
            return folder_hash  # a grid point: the hash children logged before tuning had
        extra = json.dumps([self.tags, self.metrics], sort_keys=True)
        return hashlib.sha256(f"{folder_hash}\n{extra}".encode()).hexdigest()


def placements(
    memberships: Mapping[str, Sequence[str]], selections: Sequence[Mapping[str, Any]] = ()
) -> dict[str, list[Placement]]:
    """Run id -> the children it is logged as: a grid point under each sweep it belongs to, and
    each trial and tuned final run of each selection record (sbp_core.tuning.select) under the
    record's sweep. A point shared by two tuned sweeps puts its trials and final runs in both."""
    placed = {
        run_id: [Placement(sweep) for sweep in sweeps] for run_id, sweeps in memberships.items()
    }
    for record in selections:
        chosen = record["chosen"]["trial"]
        for index, trial in enumerate(record["trials"]):
            tags = {
                **_tuning_tags(record, index, record["point"]),
                SELECTED: str(index == chosen).lower(),
            }
            score = {"tuning_score": trial["score"]} if _is_number(trial["score"]) else {}
            placed.setdefault(trial["run_id"], []).append(
                Placement(record["sweep"], "trial", tags, score)
            )
        for run in record["final_runs"]:
            placed.setdefault(run["run_id"], []).append(
                Placement(record["sweep"], "final", _tuning_tags(record, chosen, run["point"]))
            )
    return placed


def _tuning_tags(record: Mapping[str, Any], trial: int, point: Mapping[str, Any]) -> dict:
    tags = {
        UNIT: record["key"],
        TRIAL: str(trial),
        SEARCHED: ",".join(record["trials"][trial]["settings"]),
    }
    if point:
        tags[POINT] = ",".join(f"{axis}={value}" for axis, value in point.items())
    return tags


def log_runs(
    run_dirs: Iterable[str | Path],
    sweeps: Mapping[str, Mapping[str, Any]],
    memberships: Mapping[str, Sequence[str]],
    tracking_uri: str,
    experiment: str,
    artifact_root: str | Path | None = None,
    provenance: Mapping[str, str] | None = None,
    cost: Mapping[str, Mapping[str, float]] | None = None,
    selections: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Log every run folder under each sweep it belongs to, and the trials and tuned final runs
    that `selections` (the tuning's selection records) name; returns counts of what was done.

    A SQLite store is locked while it logs (`store_lock`); a server store takes one logger at a
    time (README, "Troubleshooting").
    """
    with store_lock(tracking_uri):
        return _log_unlocked(
            run_dirs, sweeps, placements(memberships, selections), tracking_uri, experiment,
            artifact_root, provenance, cost,
        )  # fmt: skip


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """An advisory lock on a file beside a SQLite store, held while one process logs: two
    loggers at once (two checkouts, one store) would race MLflow's schema setup and each add
    the same children."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(_prepare(tracking_uri).removeprefix("sqlite:///"))
    with open(database.with_name(database.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _log_unlocked(
    run_dirs: Iterable[str | Path],
    sweeps: Mapping[str, Mapping[str, Any]],
    placed: Mapping[str, Sequence[Placement]],
    tracking_uri: str,
    experiment: str,
    artifact_root: str | Path | None,
    provenance: Mapping[str, str] | None,
    cost: Mapping[str, Mapping[str, float]] | None,
) -> dict[str, Any]:
    """`log_runs`, with the store to itself."""
    client = MlflowClient(tracking_uri=_prepare(tracking_uri))
    experiment_id = ensure_experiment(client, experiment, artifact_root)
    client.set_experiment_tag(experiment_id, NOTE, description(sweeps, provenance or {}))
    tags = {f"sbp.{key}": str(value) for key, value in (provenance or {}).items()}
    parents = {
        name: ensure_parent(client, experiment_id, name, sweep, tags)
        for name, sweep in sweeps.items()
    }
    existing, duplicates = newest_children(_children(client, experiment_id))
    stale = superseded(existing, placed)
    for run in [*duplicates, *stale]:
        client.delete_run(run.info.run_id)
    counts = {
        "logged": 0,
        "skipped": 0,
        "replaced": 0,
        "duplicates_removed": len(duplicates),
        "superseded_removed": len(stale),
    }
    by_role = dict.fromkeys(CHILD_ROLES, 0)
    todo: list[tuple[RunFolder, list[tuple[Placement, str]]]] = []
    members: dict[tuple[str, str], list[RunFolder]] = defaultdict(list)
    for run_dir in run_dirs:
        folder = RunFolder.read(run_dir)
        folder_hash = folder.content_hash((cost or {}).get(folder.run_id, {}))
        pending = []
        for placement in placed.get(folder.run_id, ()):
            members[(placement.sweep, placement.role)].append(folder)
            content = placement.content_hash(folder_hash)
            previous = existing.get((placement.sweep, placement.role, folder.run_id))
            if (
                previous is not None
                and previous.info.status == "FINISHED"
                and previous.data.tags.get(CONTENT) == content
            ):
                counts["skipped"] += 1
                continue
            if previous is not None:
                client.delete_run(previous.info.run_id)
                counts["replaced"] += 1
            pending.append((placement, content))
        if pending:
            todo.append((folder, pending))
    with tempfile.TemporaryDirectory() as scratch:
        for folder, pending in todo:
            artifacts = write_artifacts(folder, Path(scratch, folder.run_id))
            for placement, content in pending:
                log_child(
                    client, experiment_id, parents[placement.sweep], placement, folder,
                    artifacts, {**tags, CONTENT: content}, (cost or {}).get(folder.run_id, {}),
                )  # fmt: skip
                counts["logged"] += 1
                by_role[placement.role] += 1
            shutil.rmtree(artifacts)
    counts["summaries"] = sum(
        update_summary(
            client,
            parents[name],
            {
                **sweep_summary(members[(name, "run")]),
                **sweep_summary(members[(name, "final")], TUNED_PREFIX),
            },
        )
        for name in sweeps
    )
    return {
        "tracking_uri": tracking_uri,
        "experiment_id": experiment_id,
        **counts,
        "logged_by_role": by_role,
    }


def newest_children(children: Iterable) -> tuple[dict[tuple[str, str, str], Any], list]:
    """The newest child of each (sweep, role, run id), and the older ones: duplicates that
    loggers racing on one store (before the lock, or on a server store) may have left."""
    newest: dict[tuple[str, str, str], Any] = {}
    older = []
    for run in sorted(
        children, key=lambda run: (int(run.data.tags.get(LOGGED_AT, 0)), run.info.run_id)
    ):
        key = (run.data.tags[SWEEP], run.data.tags[ROLE], run.data.tags[RUN_ID])
        if key in newest:
            older.append(newest[key])
        newest[key] = run
    return newest, older


def superseded(
    existing: Mapping[tuple[str, str, str], Any], placed: Mapping[str, Sequence[Placement]]
) -> list:
    """The trial and final-run children that no selection names any more (a larger K chose
    another trial, whose final runs are other runs; a tuned sweep left the config): left in
    the store, they would answer "what did the tuning pick" with a choice it no longer makes.
    Grid children are kept, as they always were."""
    current = {(p.sweep, p.role, run_id) for run_id, found in placed.items() for p in found}
    return [
        run for key, run in existing.items() if key[1] in ("trial", "final") and key not in current
    ]


@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
def _write_ahead(connection: Any, _record: Any) -> None:
    """A SQLite store in write-ahead mode, synced to disk at checkpoints instead of at every
    commit: MLflow commits five times a child, and each synced commit took about 10 ms of wall
    time here (benchmarks/README.md, section 17). A crash loses at most the last commits, never
    the store's consistency, and logging again adds whatever is missing. Other databases (a
    PostgreSQL server store) are left as they are."""
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")


def _prepare(tracking_uri: str) -> str:
    """Create the folder of a SQLite store; MLflow creates the file and schema on first use."""
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return tracking_uri


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | Path | None) -> str:
    """The experiment's id, created (or restored) first; workers get ids, never names."""
    found = client.get_experiment_by_name(name)
    if found is None:
        location = Path(artifact_root).resolve().as_uri() if artifact_root else None
        return client.create_experiment(name, artifact_location=location)
    if found.lifecycle_stage == "deleted":
        client.restore_experiment(found.experiment_id)
    return found.experiment_id


def ensure_parent(
    client: MlflowClient,
    experiment_id: str,
    name: str,
    sweep: Mapping[str, Any],
    tags: Mapping[str, str],
) -> str:
    """The id of the sweep's parent run, created once with the sweep's definition as params."""
    found = _search(client, experiment_id, f"tags.`{ROLE}` = 'sweep' and tags.`{SWEEP}` = '{name}'")
    if found:
        return found[0].info.run_id
    run = client.create_run(
        experiment_id,
        run_name=name,
        tags={**tags, ROLE: "sweep", SWEEP: name, NOTE: sweep["description"]},
    )
    params = [Param(key, json.dumps(sweep[key])) for key in ("methods", "axes", "seeds")]
    client.log_batch(run.info.run_id, params=params)
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id


def description(sweeps: Mapping[str, Mapping[str, Any]], provenance: Mapping[str, str]) -> str:
    """The experiment's description (Markdown): where its runs came from and what each sweep is."""
    origin = ", ".join(f"{key} `{value}`" for key, value in provenance.items())
    lines = [
        f"sbp-bench runs ({origin}).",
        "",
        "One parent run per sweep; expand it for one child run per grid point (tag `sbp.role`"
        " `run`) and, in a tuned sweep, per tuning trial (`trial`, scored on validation only)"
        " and tuned final run (`final`). A parent's metrics are its sweep's means per method"
        " (`mean_final_test_acc/<method>`, `mean_total_pulses/<method>`), over its tuned final"
        " runs too (`tuned_mean_...`).",
        "",
    ]
    lines += [f"- **{name}**: {sweep['description']}" for name, sweep in sweeps.items()]
    return "\n".join(lines)


def sweep_summary(folders: Sequence[RunFolder], prefix: str = "") -> dict[str, float]:
    """A sweep's means per method over its runs: the final test accuracy and, for methods that
    program a crossbar, the programming pulses (SET + RESET); keys start with `prefix`."""
    by_method: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for folder in folders:
        by_method[folder.spec["method"]].append(folder.metrics)
    summary = {}
    for method, runs in sorted(by_method.items()):
        accuracies = [m["final_test_acc"] for m in runs if _is_number(m.get("final_test_acc"))]
        if accuracies:
            summary[f"{prefix}mean_final_test_acc/{method}"] = float(np.mean(accuracies))
        pulses = [m.get("total_set_pulses", 0) + m.get("total_reset_pulses", 0) for m in runs]
        if any(pulses):
            summary[f"{prefix}mean_total_pulses/{method}"] = float(np.mean(pulses))
    return summary


def update_summary(client: MlflowClient, parent_id: str, summary: Mapping[str, float]) -> int:
    """Log the summary metrics whose values the parent does not show yet; returns how many."""
    shown = client.get_run(parent_id).data.metrics
    stamp = int(time.time() * 1000)
    changed = [Metric(key, value, stamp, 0) for key, value in summary.items()]
    changed = [metric for metric in changed if shown.get(metric.key) != metric.value]
    if changed:
        client.log_batch(parent_id, metrics=changed)
    return len(changed)


def _children(client: MlflowClient, experiment_id: str) -> list:
    return _search(client, experiment_id, f"tags.`{ROLE}` != 'sweep'")


def _search(client: MlflowClient, experiment_id: str, filter_string: str) -> list:
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def log_child(
    client: MlflowClient,
    experiment_id: str,
    parent_id: str,
    placement: Placement,
    folder: RunFolder,
    artifacts: Path,
    tags: Mapping[str, str],
    cost: Mapping[str, float],
) -> str:
    """One run folder as one child (`placement`): params, per-epoch and final metrics, tags,
    artifacts."""
    run_tags = {
        **tags,
        **placement.tags,
        ROLE: placement.role,
        SWEEP: placement.sweep,
        RUN_ID: folder.run_id,
        RUN_CODE: str(folder.provenance["code_version"]),
        "sbp.status": str(folder.metrics.get("status")),
        "mlflow.parentRunId": parent_id,
        LOGGED_AT: str(time.time_ns()),
    }
    started, finished = folder.training_ms
    run = client.create_run(
        experiment_id, start_time=started, run_name=child_name(folder, placement), tags=run_tags
    )
    run_id = run.info.run_id
    for chunk in _chunks(list(params_of(folder)), MAX_PARAMS):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(list(metrics_of(folder, cost, placement.metrics)), MAX_METRICS):
        client.log_batch(run_id, metrics=chunk)
    client.log_artifacts(run_id, str(artifacts))
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED), end_time=finished)
    return run_id


def child_name(folder: RunFolder, placement: Placement) -> str:
    """`<method> <device> seed=<seed> <run id>`; a trial's names its index (and `chosen`), a
    tuned final run's says `tuned`."""
    spec = folder.spec
    what = f"seed={spec['seed']}"
    if placement.role == "trial":
        what = f"trial {placement.tags[TRIAL]}"
        what += " chosen" if placement.tags[SELECTED] == "true" else ""
    elif placement.role == "final":
        what = f"tuned seed={spec['seed']}"
    return f"{spec['method']} {spec['device']} {what} {folder.run_id}"


def params_of(folder: RunFolder) -> Iterator[Param]:
    """Every spec field, and the device parameters the run resolved (`device.<key>`)."""
    for key, value in folder.spec.items():
        yield Param(key, str(value))
    for key, value in (folder.metrics.get("device") or {}).items():
        yield Param(f"device.{key}", str(value))


def metrics_of(
    folder: RunFolder, cost: Mapping[str, float], extra: Mapping[str, float] | None = None
) -> Iterator[Metric]:
    """History columns per epoch (step = epoch), then final scalars, cost and `extra` (a trial's
    `tuning_score`) at the last step. Empty cells (a trial's test accuracy) are left out."""
    stamp = folder.timestamp_ms
    history = folder.history
    for column in history.columns.drop("epoch"):
        if not pd.api.types.is_numeric_dtype(history[column]):
            continue
        for epoch, value in zip(history["epoch"], history[column], strict=True):
            if math.isfinite(value):
                yield Metric(column, float(value), stamp, int(epoch))
    last = int(folder.metrics.get("epochs_run") or len(history))
    finals = {k: v for k, v in folder.metrics.items() if k not in history.columns}
    scalars = {**finals, **{f"cost.{k}": v for k, v in cost.items()}, **(extra or {})}
    for key, value in scalars.items():
        if _is_number(value):
            yield Metric(key, float(value), stamp, last)


def _is_number(value: Any) -> bool:
    is_real = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool
    )
    return is_real and math.isfinite(value)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_artifacts(folder: RunFolder, target: Path) -> Path:
    """The run's files plus a confusion-matrix and a conductance (or weight) histogram figure,
    written into a new folder `target`, which is returned."""
    target.mkdir()
    for name in RUN_FILES:
        shutil.copyfile(folder.path / name, target / name)
    if folder.metrics["confusion_matrix"] is not None:  # a trial never scored the test set
        confusion_figure(folder.metrics["confusion_matrix"], target / "confusion_matrix.svg")
    arrays = folder.path / "arrays.npz"
    if arrays.exists():
        with np.load(arrays) as state:
            g_max_s = (folder.metrics.get("device") or {}).get("g_max_s")
            histogram_figure(dict(state), g_max_s, target / "state_histogram.svg")
    return target


def read_cost(path: str | Path | None) -> dict[str, dict[str, float]]:
    """run_id -> numeric cost columns of cost_per_run.csv (empty when there is no cost table)."""
    if not path:
        return {}
    table = pd.read_csv(path).set_index("run_id")
    return table.select_dtypes("number").to_dict(orient="index")


def from_snakemake(smk: Any) -> None:
    """Rule `log_mlflow`: every finished run (the grid's, the tuning's trials and tuned final
    runs) into MLflow; what was done into logged.json."""
    params = smk.params
    with rule_log(smk):
        selections = [read_json(path) for path in smk.input.selections]
        summary = log_runs(
            run_dirs=run_folders(smk.input.metrics, selections, params.runs),
            sweeps=params.sweeps,
            memberships=params.memberships,
            tracking_uri=params.tracking_uri,
            experiment=params.experiment,
            artifact_root=params.artifact_root,
            provenance=params.provenance,
            cost=read_cost(smk.input.cost),
            selections=selections,
        )
    Path(smk.output[0]).write_text(json.dumps(summary, indent=2) + "\n")
