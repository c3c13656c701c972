"""Past one machine, for real: MLflow on a tracking server backed by PostgreSQL, and the pipeline
on a SLURM cluster (tests/cluster/slurm-up.sh), each started here on loopback by the tests."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import pytest
import services
from mlflow.tracking import MlflowClient
from test_report import SWEEPS, synthetic_runs

from sbp_core.runfolder import RECORD
from sbp_core.tracking import RUN_FILES, RUN_ID, SWEEP, RunFolder, log_runs, metrics_of, params_of

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def postgres_uri():
    with services.postgresql() as uri:
        yield uri


@pytest.fixture(scope="module")
def tracking_server(postgres_uri, tmp_path_factory):
    """(URL, artifact folder) of an `mlflow server` on PostgreSQL, as the README starts it."""
    artifacts = tmp_path_factory.mktemp("server-artifacts")
    # the driver named, as in the README: SQLAlchemy's default for postgresql:// varies by version
    store = postgres_uri.replace("postgresql://", "postgresql+psycopg://", 1)
    with services.mlflow_server(store, artifacts) as url:
        yield url, artifacts


def stored_counts(postgres_uri: str, experiment_id: str) -> dict[str, int]:
    """Active runs, their params and their metric values (every step), read from PostgreSQL."""
    import psycopg

    joined = "JOIN runs r ON t.run_uuid = r.run_uuid"
    active = "r.lifecycle_stage = 'active' AND r.experiment_id = %s"
    queries = {
        "runs": f"SELECT count(*) FROM runs r WHERE {active}",
        "params": f"SELECT count(*) FROM params t {joined} WHERE {active}",
        "metric_steps": f"SELECT count(*) FROM metrics t {joined} WHERE {active}",
    }
    counts = {}
    with contextlib.closing(psycopg.connect(postgres_uri)) as db, db.cursor() as cursor:
        for name, query in queries.items():
            cursor.execute(query, (int(experiment_id),))
            counts[name] = cursor.fetchone()[0]
    return counts


def test_log_runs_through_a_tracking_server_on_postgresql_stores_every_run_once(
    tracking_server, postgres_uri, tmp_path
):
    url, artifacts = tracking_server
    folders, memberships = synthetic_runs(tmp_path / "runs")
    arguments = {
        "run_dirs": folders,
        "sweeps": SWEEPS,
        "memberships": memberships,
        "tracking_uri": url,
        "experiment": "sbp-bench/server",
        "provenance": {"profile": "server", "config_hash": "f00d"},
    }
    first = log_runs(**arguments)
    second = log_runs(**arguments)

    children = sum(len(names) for names in memberships.values())
    assert first["logged"] == children and first["replaced"] == 0
    assert second["logged"] == second["replaced"] == second["summaries"] == 0
    assert second["skipped"] == children
    runs = {RunFolder.read(folder).run_id: RunFolder.read(folder) for folder in folders}
    expected_params = len(SWEEPS) * 3 + sum(
        len(list(params_of(runs[run_id]))) * len(names) for run_id, names in memberships.items()
    )
    expected_steps = first["summaries"] + sum(
        len(list(metrics_of(runs[run_id], {}))) * len(names)
        for run_id, names in memberships.items()
    )
    assert stored_counts(postgres_uri, first["experiment_id"]) == {
        "runs": len(SWEEPS) + children,
        "params": expected_params,
        "metric_steps": expected_steps,
    }

    client = MlflowClient(url)
    found = client.search_runs(
        [first["experiment_id"]], "tags.`sbp.role` = 'run'", max_results=1000
    )
    keys = sorted((run.data.tags[SWEEP], run.data.tags[RUN_ID]) for run in found)
    assert keys == sorted((sweep, r) for r, names in memberships.items() for sweep in names)
    expected_files = {*RUN_FILES, "confusion_matrix.svg", "state_histogram.svg"}
    for run in found:
        listed = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert listed == expected_files
        stored = artifacts / first["experiment_id"] / run.info.run_id / "artifacts"
        assert {path.name for path in stored.iterdir()} == expected_files  # the server's folder


CLUSTER = {
    "profile": "cluster",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16},
    "seeds": [0],
    "train": {"mem_mb": 500, "runtime_min": 10},
    "sweeps": {
        "methods": {"methods": ["sbp", "float"]},
        "grid": {"methods": ["sbp", "exsitu"], "axes": {"c2c_sigma": [0.0, 0.05]}},
    },
}
SLURM = ["--workflow-profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue"]
SLURM += ["--cores", "2"]  # the test node's CPUs: a cluster job asks for at most that many
SLURM += ["--slurm-init-seconds-before-status-checks", "2"]  # the plugin's 40 s suit real queues
"""The slurm profile as a user on this one-node cluster runs it: no accounting database here."""


@pytest.fixture(scope="module")
def slurm_cluster():
    with services.slurm():
        yield


def slurm_jobs() -> list[dict[str, str]]:
    """Every job the cluster knows (finished ones too, for MinJobAge): id, comment (Snakemake
    puts the rule or group there), state, CPUs, memory, time limit."""
    fields = ["id", "comment", "state", "cpus", "memory", "time_limit"]
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%k|%T|%C|%m|%l"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [dict(zip(fields, line.split("|"), strict=True)) for line in listing.splitlines()]


def numbers_of(metrics_file: Path) -> dict:
    """metrics.json but for its verification record, which certifies history.csv (and so its
    wall times) and therefore differs between two runs of the same numbers."""
    metrics = json.loads(metrics_file.read_text())
    del metrics[RECORD]
    return metrics


def finished_runs(runs: Path) -> dict[str, int]:
    """Run id -> metrics.json's mtime (ns) of every finished run folder."""
    return {path.parent.name: path.stat().st_mtime_ns for path in runs.glob("*/metrics.json")}


def test_pipeline_on_slurm_matches_a_local_run_and_loses_nothing_to_a_cancelled_job(
    slurm_cluster, tracking_server, tmp_path
):
    from test_pipeline import ROOT, SNAKEMAKE, snakemake, workflow_copy

    from sbp_core.grid import expand, validate_config

    grid = expand(validate_config(json.loads(json.dumps(CLUSTER)), ROOT / "config" / "schema.yaml"))
    targets = [f"results/cluster/runs/{run_id}/metrics.json" for run_id in grid.runs]
    local = workflow_copy(tmp_path / "local", CLUSTER)
    snakemake(local, "--workflow-profile", "workflow/profiles/default", "--cores", "2", *targets)

    url, _ = tracking_server
    workdir = workflow_copy(tmp_path / "cluster", {**CLUSTER, "mlflow": {"tracking_uri": url}})
    runs = workdir / "results" / "cluster" / "runs"
    before = {job["id"] for job in slurm_jobs()}
    command = [SNAKEMAKE, *SLURM, "--retries", "0", "--configfile", "config/test.yaml"]
    first = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    cancelled, done = None, {}
    deadline = time.monotonic() + 600
    while cancelled is None and first.poll() is None and time.monotonic() < deadline:
        batches = [
            job for job in slurm_jobs()
            if job["id"] not in before and "train_batch" in job["comment"]
            and job["state"] == "RUNNING"
        ]  # fmt: skip
        done = finished_runs(runs)
        if batches and done:  # mid-batch: some of its runs finished
            cancelled = batches[0]["id"]
            subprocess.run(["scancel", cancelled], check=True)
        time.sleep(0.2)
    output, _ = first.communicate(timeout=600)
    assert cancelled is not None, f"no training batch was seen running:\n{output[-3000:]}"
    assert first.returncode != 0 and len(done) < len(grid.runs), "the batch was not cancelled"
    assert {job["id"]: job["state"] for job in slurm_jobs()}[cancelled] == "CANCELLED"
    # Snakemake cannot tell which jobs of a failed group finished: it removes all their outputs,
    # so no half-written run survives (the finished ones are trained again)
    assert finished_runs(runs) == {}

    snakemake(workdir, *SLURM)  # the rerun, with the profile's defaults

    assert sorted(path.name for path in runs.iterdir()) == sorted(grid.runs)
    for target in targets:  # the same numbers as the local run, bit for bit
        assert numbers_of(workdir / target) == numbers_of(local / target), target
    jobs = [job for job in slurm_jobs() if job["id"] not in before]
    groups = {job["comment"].split("_")[1] for job in jobs}  # rule_<group>_<its rules>
    assert groups == {"train", "report"}
    # the compilation (onstart) and local rules (log_mlflow) ran on this host; training ran as
    # grouped jobs of up to --cores runs side by side, each asking train.mem_mb
    retrained = next(
        job for job in jobs if job["id"] != cancelled and "train_batch" in job["comment"]
    )
    assert retrained["cpus"] == "2" and retrained["memory"] == f"{2 * 500}M"

    logged = json.loads((workdir / "results" / "cluster" / "mlflow" / "logged.json").read_text())
    client = MlflowClient(url)
    children = client.search_runs(
        [logged["experiment_id"]], "tags.`sbp.role` = 'run'", max_results=1000
    )
    keys = [(child.data.tags[SWEEP], child.data.tags[RUN_ID]) for child in children]
    expected = [(sweep, r) for r, names in grid.memberships.items() for sweep in names]
    assert sorted(keys) == sorted(expected) and logged["logged"] == len(expected)
    for child in children:
        timing = json.loads((runs / child.data.tags[RUN_ID] / "timing.json").read_text())
        assert child.info.status == "FINISHED"
        assert child.info.start_time == round(timing["started_at"] * 1000)

    snakemake(workdir, *SLURM, "--forcerun", "log_mlflow")  # logging again duplicates nothing
    again = json.loads((workdir / "results" / "cluster" / "mlflow" / "logged.json").read_text())
    assert again["logged"] == 0 and again["skipped"] == len(expected)
