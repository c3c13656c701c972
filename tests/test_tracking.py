"""MLflow logging: structure, contents, idempotency, and that training never imports it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy
from mlflow.tracking import MlflowClient
from test_report import DATA, EPOCHS, STARTED_AT, SWEEPS, TRAINING_S, synthetic_runs

from sbp_core import provenance
from sbp_core.tracking import (
    CONTENT,
    NOTE,
    RUN_CODE,
    RUN_ID,
    SWEEP,
    Placement,
    RunFolder,
    log_child,
    log_runs,
    write_artifacts,
)  # fmt: skip

LOGGED_SWEEPS = {name: SWEEPS[name] for name in ("methods", "devices")}
"""Two sweeps that share a run (sbp on the ideal device) keep the store small but telling."""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Synthetic runs logged once to a fresh SQLite store: arguments, memberships, summary."""
    tmp_path = tmp_path_factory.mktemp("tracking")
    folders, memberships = synthetic_runs(tmp_path / "runs")
    memberships = {
        run_id: [name for name in names if name in LOGGED_SWEEPS]
        for run_id, names in memberships.items()
        if set(names) & set(LOGGED_SWEEPS)
    }
    folders = [folder for folder in folders if folder.name in memberships]
    arguments = {
        "run_dirs": folders,
        "sweeps": LOGGED_SWEEPS,
        "memberships": memberships,
        "tracking_uri": f"sqlite:///{tmp_path}/store/mlflow.db",
        "experiment": "sbp-bench/test",
        "artifact_root": tmp_path / "artifacts",
        "provenance": {"git_commit": "abc123", "config_hash": "f00d"},
        "cost": {folders[0].name: {"energy_j": 1.5e-3, "area_um2": 42.0}},
    }
    return arguments, memberships, log_runs(**arguments)


def child_runs(client, experiment_id):
    return client.search_runs([experiment_id], "tags.`sbp.role` = 'run'", max_results=1000)


def test_one_child_per_run_and_sweep_under_one_parent_per_sweep(store):
    arguments, memberships, summary = store
    expected = sum(len(names) for names in memberships.values())
    assert summary["logged"] == expected
    client = MlflowClient(arguments["tracking_uri"])
    experiment_id = summary["experiment_id"]
    parents = client.search_runs([experiment_id], "tags.`sbp.role` = 'sweep'")
    assert sorted(p.data.tags[SWEEP] for p in parents) == sorted(LOGGED_SWEEPS)
    parent_of = {p.info.run_id: p.data.tags[SWEEP] for p in parents}
    children = child_runs(client, experiment_id)
    assert len(children) == expected
    for child in children:
        assert parent_of[child.data.tags["mlflow.parentRunId"]] == child.data.tags[SWEEP]
        assert child.info.status == "FINISHED"
    shared = [r for r, names in memberships.items() if len(names) > 1]
    assert shared and all(
        sum(c.data.tags[RUN_ID] == run_id for c in children) == 2 for run_id in shared
    )


def test_child_has_params_metrics_tags_and_artifacts(store):
    arguments, _, summary = store
    client = MlflowClient(arguments["tracking_uri"])
    run_id = arguments["run_dirs"][0].name
    child = next(
        c for c in child_runs(client, summary["experiment_id"]) if c.data.tags[RUN_ID] == run_id
    )
    assert child.data.params["method"] == "sbp" and child.data.params["epochs"] == str(EPOCHS)
    assert child.data.params["device.n_states"] == "100"
    assert child.data.tags["sbp.git_commit"] == "abc123"
    assert child.data.tags["sbp.config_hash"] == "f00d"
    assert child.data.tags[RUN_CODE] == provenance.code_version()  # from the run's folder
    assert len(child.data.tags[CONTENT]) == 64
    assert child.data.params["data_sha256"] == DATA
    assert child.data.metrics["final_test_acc"] == pytest.approx(0.8)
    assert child.data.metrics["cost.energy_j"] == pytest.approx(1.5e-3)
    curve = client.get_metric_history(child.info.run_id, "test_acc")
    assert sorted(m.step for m in curve) == list(range(1, EPOCHS + 1))
    artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
    assert artifacts == {
        "spec.json", "metrics.json", "history.csv", "confusion_matrix.svg", "state_histogram.svg",
    }  # fmt: skip


def test_a_child_lasts_as_long_as_its_training(store):
    arguments, _, summary = store
    client = MlflowClient(arguments["tracking_uri"])
    for child in child_runs(client, summary["experiment_id"]):
        assert child.info.start_time == STARTED_AT * 1000
        assert child.info.end_time - child.info.start_time == TRAINING_S * 1000


def test_parents_show_their_sweeps_means_per_method(store):
    arguments, _, summary = store
    client = MlflowClient(arguments["tracking_uri"])
    parents = client.search_runs([summary["experiment_id"]], "tags.`sbp.role` = 'sweep'")
    methods = next(p for p in parents if p.data.tags[SWEEP] == "methods")
    # synthetic accuracy 0.8 + seed / 100 (+ 0.1 for float); sbp pulses (1000 + 500) per epoch
    assert methods.data.metrics == pytest.approx(
        {
            "mean_final_test_acc/sbp": 0.805,
            "mean_final_test_acc/float": 0.905,
            "mean_total_pulses/sbp": 1500 * EPOCHS,
        }
    )  # float programs no crossbar: no pulse mean
    assert summary["summaries"] == sum(len(p.data.metrics) for p in parents)


def test_the_experiment_names_its_profile_config_and_sweeps(store):
    arguments, _, summary = store
    client = MlflowClient(arguments["tracking_uri"])
    note = client.get_experiment(summary["experiment_id"]).tags[NOTE]
    assert "config_hash `f00d`" in note and "git_commit `abc123`" in note
    assert all(f"**{name}**" in note for name in LOGGED_SWEEPS)


def test_a_sqlite_store_is_written_ahead_and_synced_at_checkpoints(store):
    """The store logged (and closed) is in WAL mode, which sticks to the file; the connection
    that logs syncs at checkpoints only (synchronous NORMAL = 1)."""
    uri = store[0]["tracking_uri"]
    with closing(sqlite3.connect(uri.removeprefix("sqlite:///"))) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    engine = sqlalchemy.create_engine(uri)
    with engine.connect() as logging_like:
        assert logging_like.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    engine.dispose()


def test_logging_again_logs_nothing_twice(store):
    arguments, _, first = store
    second = log_runs(**arguments)
    assert second["logged"] == 0 and second["skipped"] == first["logged"]
    assert second["summaries"] == 0
    client = MlflowClient(arguments["tracking_uri"])
    assert len(child_runs(client, first["experiment_id"])) == first["logged"]
    parents = client.search_runs([first["experiment_id"]], "tags.`sbp.role` = 'sweep'")
    assert len(parents) == len(LOGGED_SWEEPS)


def test_an_unfinished_child_is_replaced_not_duplicated(store):
    arguments, _, first = store
    client = MlflowClient(arguments["tracking_uri"])
    victim = child_runs(client, first["experiment_id"])[0]
    client.update_run(victim.info.run_id, status="RUNNING")  # as if the logger died mid-run
    again = log_runs(**arguments)
    assert again["replaced"] == 1 and again["logged"] == 1
    children = child_runs(client, first["experiment_id"])
    assert len(children) == first["logged"]
    assert victim.info.run_id not in {c.info.run_id for c in children}


def children_by_key(client, experiment_id):
    """(sweep, run id) -> every active child logged for it."""
    found = {}
    for child in child_runs(client, experiment_id):
        found.setdefault((child.data.tags[SWEEP], child.data.tags[RUN_ID]), []).append(child)
    return found


def test_a_changed_run_folder_replaces_its_children_with_the_new_numbers(store, tmp_path):
    arguments, memberships, _ = store
    fresh = {**arguments, "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    fresh["artifact_root"] = tmp_path / "artifacts"
    first = log_runs(**fresh)
    client = MlflowClient(fresh["tracking_uri"])
    before = children_by_key(client, first["experiment_id"])
    shared = next(run_id for run_id, names in memberships.items() if len(names) == 2)
    folder = next(path for path in fresh["run_dirs"] if path.name == shared)
    metrics_path = folder / "metrics.json"
    original = metrics_path.read_text()
    try:  # as if retrained after a code change: other numbers, same run id
        metrics_path.write_text(json.dumps({**json.loads(original), "final_test_acc": 0.25}))
        again = log_runs(**fresh)
    finally:
        metrics_path.write_text(original)
    assert again["replaced"] == again["logged"] == 2 and again["skipped"] == first["logged"] - 2
    after = children_by_key(client, first["experiment_id"])
    assert set(after) == set(before) and all(len(found) == 1 for found in after.values())
    for sweep in memberships[shared]:
        (old,), (new,) = before[(sweep, shared)], after[(sweep, shared)]
        assert new.data.metrics["final_test_acc"] == pytest.approx(0.25)
        assert new.data.tags[CONTENT] != old.data.tags[CONTENT]
        assert client.get_run(old.info.run_id).info.lifecycle_stage == "deleted"
    unchanged = [key for key in before if key[1] != shared]
    assert all(after[key][0].info.run_id == before[key][0].info.run_id for key in unchanged)


def test_changed_cost_metrics_replace_the_child(store, tmp_path):
    arguments, memberships, _ = store
    fresh = {**arguments, "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    fresh["artifact_root"] = tmp_path / "artifacts"
    log_runs(**fresh)
    run_id = arguments["run_dirs"][0].name
    cost = {**arguments["cost"], run_id: {"energy_j": 3.0e-3, "area_um2": 42.0}}
    again = log_runs(**{**fresh, "cost": cost})
    assert again["replaced"] == again["logged"] == len(memberships[run_id])


def test_training_never_imports_mlflow_or_plotting(tmp_path):
    """A train job is the CLI's train path: it must stay free of the heavy reporting imports."""
    code = (
        "import sys\n"
        "from sbp_core import cli\n"
        f"cli.main(['train', '--out', r'{tmp_path / 'run'}', '--epochs', '1', '--quiet'])\n"
        "heavy = sorted(m for m in ('mlflow', 'matplotlib', 'seaborn') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "run" / "metrics.json").exists()


def test_duplicate_children_are_removed_keeping_the_newest(store, tmp_path):
    """Issue 22 item 6: two loggers at once used to leave duplicates no later run removed."""
    arguments, _, _ = store
    fresh = {**arguments, "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    fresh["artifact_root"] = tmp_path / "artifacts"
    first = log_runs(**fresh)
    client = MlflowClient(fresh["tracking_uri"])
    folder = RunFolder.read(arguments["run_dirs"][0])
    sweep = next(iter(arguments["memberships"][folder.run_id]))
    original = children_by_key(client, first["experiment_id"])[(sweep, folder.run_id)][0]
    parent = original.data.tags["mlflow.parentRunId"]
    with tempfile.TemporaryDirectory() as scratch:
        artifacts = write_artifacts(folder, Path(scratch) / "a")
        duplicate = log_child(
            client, first["experiment_id"], parent, Placement(sweep), folder, artifacts,
            original.data.tags, {},
        )  # fmt: skip
    again = log_runs(**fresh)
    assert again["duplicates_removed"] == 1 and again["logged"] == 0
    after = children_by_key(client, first["experiment_id"])
    assert all(len(found) == 1 for found in after.values())
    assert after[(sweep, folder.run_id)][0].info.run_id == duplicate  # the newest kept


def test_two_loggers_at_once_on_a_new_store_log_each_child_once(store, tmp_path):
    """Issue 22 item 6: the second logger used to crash in MLflow's schema setup."""
    arguments, _, first = store
    fresh = {**arguments, "tracking_uri": f"sqlite:///{tmp_path}/store/mlflow.db"}
    fresh["artifact_root"] = str(tmp_path / "artifacts")
    fresh["run_dirs"] = [str(path) for path in arguments["run_dirs"]]
    (tmp_path / "arguments.json").write_text(json.dumps(fresh))
    code = (
        "import json, sys\nfrom sbp_core.tracking import log_runs\n"
        "print(json.dumps(log_runs(**json.load(open(sys.argv[1])))))\n"
    )
    loggers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "arguments.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    results = [logger.communicate(timeout=600) for logger in loggers]
    assert [logger.returncode for logger in loggers] == [0, 0], results
    counts = [json.loads(out.splitlines()[-1]) for out, _ in results]
    assert sorted(count["logged"] for count in counts) == [0, first["logged"]]
    client = MlflowClient(fresh["tracking_uri"])
    children = children_by_key(client, counts[0]["experiment_id"])
    assert len(children) == first["logged"] and all(len(c) == 1 for c in children.values())
