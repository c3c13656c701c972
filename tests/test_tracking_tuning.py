"""MLflow logging of the tuning protocol: a real tuned profile run by Snakemake up to its MLflow
store, whose trials and tuned final runs must be children tagged so a user can find them."""

from __future__ import annotations

import copy
import json
import math
import shutil

import pytest
from mlflow.tracking import MlflowClient
from test_pipeline import ROOT, snakemake, workflow_copy
from test_tuning import SHARED_POINT

from sbp_core.grid import expand, validate_config
from sbp_core.tracking import (
    CONTENT,
    POINT,
    ROLE,
    RUN_ID,
    SEARCHED,
    SELECTED,
    SWEEP,
    TRIAL,
    UNIT,
    RunFolder,
    log_runs,
    read_cost,
)  # fmt: skip

TUNED = SHARED_POINT
"""Units devices.sbp.p0/p1, ideal.sbp.p0 (sharing p0's runs) and states.manhattan.p1, whose
winner runs at both n_states: 8 trial children, 10 final children, 5 grid children."""
FILTER_FINAL = "tags.`sbp.role` = 'final' and params.method = 'sbp'"
FILTER_CHOSEN = "tags.`sbp.role` = 'trial' and tags.`sbp.selected` = 'true'"
FILTER_UNIT = "tags.`sbp.tuning_unit` = 'devices.sbp.p1'"
"""The filter strings docs/mlflow.md gives for the UI's search box."""


@pytest.fixture(scope="module")
def tuned_store(tmp_path_factory, tuned_pipeline):
    """The tuned profile run up to its MLflow store, and what the rule logged."""
    workdir = shutil.copytree(tuned_pipeline, tmp_path_factory.mktemp("store") / "tuned")
    snakemake(workdir, "--cores", "2", "results/t/mlflow/logged.json")
    results = workdir / "results" / "t"
    logged = json.loads((results / "mlflow" / "logged.json").read_text())
    selections = {
        path.stem: json.loads(path.read_text())
        for path in sorted((results / "tuning" / "selected").glob("*.json"))
    }
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    return workdir, logged, selections, client


def children(client, experiment_id, role):
    return client.search_runs([experiment_id], f"tags.`sbp.role` = '{role}'", max_results=1000)


@pytest.mark.slow
def test_every_trial_and_tuned_final_run_is_a_child_of_its_sweep(tuned_store):
    _, logged, selections, client = tuned_store
    assert sorted(selections) == ["devices.sbp.p0", "devices.sbp.p1", "ideal.sbp.p0"] + [
        "states.manhattan.p1"
    ]
    assert logged["logged_by_role"] == {"run": 5, "trial": 8, "final": 10}
    parents = client.search_runs([logged["experiment_id"]], "tags.`sbp.role` = 'sweep'")
    parent_of = {p.info.run_id: p.data.tags[SWEEP] for p in parents}
    for role in ("trial", "final"):
        expected = sorted(
            (record["sweep"], run["run_id"])
            for record in selections.values()
            for run in record["trials" if role == "trial" else "final_runs"]
        )
        found = children(client, logged["experiment_id"], role)
        assert sorted((c.data.tags[SWEEP], c.data.tags[RUN_ID]) for c in found) == expected
        for child in found:
            assert parent_of[child.data.tags["mlflow.parentRunId"]] == child.data.tags[SWEEP]
            assert child.info.status == "FINISHED"


@pytest.mark.slow
def test_trials_carry_their_unit_index_settings_and_validation_score_but_no_test_score(
    tuned_store,
):
    _, logged, selections, client = tuned_store
    trials = children(client, logged["experiment_id"], "trial")
    for child in trials:
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        record = selections[tags[UNIT]]
        index = int(tags[TRIAL])
        trial = record["trials"][index]
        assert trial["run_id"] == tags[RUN_ID] and record["sweep"] == tags[SWEEP]
        assert tags[SELECTED] == ("true" if index == record["chosen"]["trial"] else "false")
        assert tags[SEARCHED].split(",") == list(trial["settings"])
        assert {name: params[name] for name in trial["settings"]} == {
            name: str(value) for name, value in trial["settings"].items()
        }
        assert params["evaluate_test"] == "False"
        assert metrics["tuning_score"] == pytest.approx(trial["score"])
        assert "val_acc" in metrics and "test_acc" not in metrics
        assert "final_test_acc" not in metrics  # null in a trial's metrics.json
        assert not client.get_metric_history(child.info.run_id, "test_acc")
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "confusion_matrix.svg" not in artifacts and "history.csv" in artifacts
        assert ("chosen" in child.info.run_name) == (tags[SELECTED] == "true")
    unit = client.search_runs([logged["experiment_id"]], FILTER_UNIT)
    assert sorted(c.data.tags[ROLE] for c in unit) == ["final"] * 2 + ["trial"] * 2
    chosen = client.search_runs([logged["experiment_id"]], FILTER_CHOSEN)
    assert sorted((c.data.tags[UNIT], int(c.data.tags[TRIAL])) for c in chosen) == sorted(
        (key, record["chosen"]["trial"]) for key, record in selections.items()
    )


@pytest.mark.slow
def test_final_runs_carry_the_chosen_settings_and_their_point(tuned_store):
    _, logged, selections, client = tuned_store
    finals = children(client, logged["experiment_id"], "final")
    for child in finals:
        tags, params = child.data.tags, child.data.params
        record = selections[tags[UNIT]]
        chosen = record["chosen"]
        assert tags[TRIAL] == str(chosen["trial"])
        (run,) = [run for run in record["final_runs"] if run["run_id"] == tags[RUN_ID]]
        assert {name: params[name] for name in chosen["settings"]} == {
            name: str(value) for name, value in chosen["settings"].items()
        }
        assert params["seed"] == str(run["seed"]) and params["evaluate_test"] == "True"
        point = ",".join(f"{axis}={value}" for axis, value in run["point"].items())
        assert tags.get(POINT, "") == point  # none for a sweep without axes (ideal)
        assert 0.0 <= child.data.metrics["final_test_acc"] <= 1.0
        assert "tuned" in child.info.run_name
    searched = client.search_runs([logged["experiment_id"]], FILTER_FINAL)
    assert len(searched) == 6  # devices: 2 points x 2 seeds; ideal: the same 2 of its point
    assert {c.data.tags[SWEEP] for c in searched} == {"devices", "ideal"}
    states = [c for c in finals if c.data.tags[SWEEP] == "states"]
    assert sorted(c.data.tags[POINT] for c in states) == ["n_states=16"] * 2 + ["n_states=4"] * 2


@pytest.mark.slow
def test_parents_keep_untuned_means_and_add_the_tuned_ones(tuned_store):
    workdir, logged, selections, client = tuned_store
    runs = workdir / "results" / "t" / "runs"
    (parent,) = client.search_runs(
        [logged["experiment_id"]], "tags.`sbp.role` = 'sweep' and tags.`sbp.sweep` = 'devices'"
    )
    grid = expand(validate_config(copy.deepcopy(TUNED), ROOT / "config" / "schema.yaml"))

    def mean_test_acc(run_ids):
        values = [RunFolder.read(runs / r).metrics["final_test_acc"] for r in run_ids]
        return sum(values) / len(values)

    untuned = grid.sweeps["devices"].run_ids
    tuned = [
        run["run_id"] for key in ("devices.sbp.p0", "devices.sbp.p1")
        for run in selections[key]["final_runs"]
    ]  # fmt: skip
    metrics = parent.data.metrics
    assert metrics["mean_final_test_acc/sbp"] == pytest.approx(mean_test_acc(untuned))
    assert metrics["tuned_mean_final_test_acc/sbp"] == pytest.approx(mean_test_acc(tuned))
    assert math.isfinite(metrics["tuned_mean_total_pulses/sbp"])


@pytest.mark.slow
def test_relogging_adds_nothing_and_replaces_or_removes_what_a_changed_choice_changed(tuned_store):
    workdir, first, selections, client = tuned_store
    snakemake(workdir, "--cores", "2", "--forcerun", "log_mlflow", "results/t/mlflow/logged.json")
    results = workdir / "results" / "t"
    again = json.loads((results / "mlflow" / "logged.json").read_text())
    assert again["logged"] == again["replaced"] == again["duplicates_removed"] == 0
    assert again["superseded_removed"] == 0
    assert again["skipped"] == first["logged"] == 23

    # the same folders with another trial chosen in one unit: its two trials and its final runs
    # change tags, so exactly they are replaced, and no key holds two children
    grid = expand(validate_config(copy.deepcopy(TUNED), ROOT / "config" / "schema.yaml"))
    runs = results / "runs"
    run_ids = [*grid.runs, *(r["run_id"] for s in selections.values() for r in s["final_runs"])]

    def log_with(records):
        return log_runs(
            run_dirs=[runs / run_id for run_id in dict.fromkeys(run_ids)],
            sweeps={name: sweep.to_dict() for name, sweep in grid.sweeps.items()},
            memberships=grid.memberships,
            tracking_uri=f"sqlite:///{results / 'mlflow.db'}",
            experiment="sbp-bench/t",
            artifact_root=results / "mlartifacts",
            cost=read_cost(results / "cost" / "cost_per_run.csv"),
            selections=list(records.values()),
        )

    before = children_by_key(client, first["experiment_id"])
    record = copy.deepcopy(selections["states.manhattan.p1"])
    other = 1 - record["chosen"]["trial"]
    record["chosen"] = {"trial": other, **record["trials"][other]}
    changed = {**selections, "states.manhattan.p1": record}
    counts = log_with(changed)
    assert counts["logged_by_role"] == {"run": 0, "trial": 2, "final": 4}
    assert counts["replaced"] == 6 and counts["skipped"] == 23 - 6
    found = children_by_key(client, first["experiment_id"])
    assert found.keys() == before.keys()
    replaced = [key for key in found if found[key].info.run_id != before[key].info.run_id]
    assert (
        sorted(key[:2] for key in replaced) == [("states", "final")] * 4 + [("states", "trial")] * 2
    )
    states_trials = [child for key, child in found.items() if key[:2] == ("states", "trial")]
    assert sorted((c.data.tags[TRIAL], c.data.tags[SELECTED]) for c in states_trials) == sorted(
        [(str(other), "true"), (str(1 - other), "false")]
    )
    grid_child = found[("devices", "run", grid.sweeps["devices"].run_ids[0])]
    folder = RunFolder.read(runs / grid_child.data.tags[RUN_ID])
    cost = read_cost(results / "cost" / "cost_per_run.csv").get(folder.run_id, {})
    assert grid_child.data.tags[CONTENT] == folder.content_hash(cost)  # as before tuning

    # a unit no selection names any more (its sweep no longer tuned): its trials and final runs
    # leave the store, though the same runs stay children of the sweep that shares them
    dropped = {key: value for key, value in changed.items() if key != "ideal.sbp.p0"}
    counts = log_with(dropped)
    assert counts["superseded_removed"] == 4 and counts["logged"] == 0
    after = children_by_key(client, first["experiment_id"])
    assert set(found) - set(after) == {
        ("ideal", role, run["run_id"])
        for role, key in (("trial", "trials"), ("final", "final_runs"))
        for run in selections["ideal.sbp.p0"][key]
    }
    assert ("ideal", "run", grid.sweeps["ideal"].run_ids[0]) in after


def children_by_key(client, experiment_id):
    """(sweep, role, run id) -> the one active child logged for it (asserted one)."""
    found = {}
    for role in ("run", "trial", "final"):
        for child in children(client, experiment_id, role):
            key = (child.data.tags[SWEEP], role, child.data.tags[RUN_ID])
            assert key not in found, key
            found[key] = child
    return found


def test_log_mlflow_waits_for_the_selections_only_in_a_tuned_profile(tmp_path):
    """The untuned path's DAG: log_mlflow waits for no selection and no final run."""
    untuned = {key: value for key, value in TUNED.items() if key != "tuning"}
    result = snakemake(workflow_copy(tmp_path, untuned), "-n", "results/t/mlflow/logged.json")
    assert "select_settings" not in result.stdout
    tuned = snakemake(
        workflow_copy(tmp_path / "tuned", TUNED), "-n", "results/t/mlflow/logged.json"
    )
    assert "select_settings" in tuned.stdout and "log_mlflow" in tuned.stdout
