"""The "what to compare" steps of docs/mlflow.md against the MLflow UI as it is: `mlflow ui`
started as the README starts it, each step's REST call (what the page asks the server for), and
the pages rendered in headless Chromium."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest
import services
from test_report import EPOCHS, SWEEPS, synthetic_runs

from sbp_core.tracking import log_runs

pytestmark = pytest.mark.cluster

GUIDE = (services.ROOT / "docs" / "mlflow.md").read_text()
SEARCHES = {
    "pcmo": "params.method = 'sbp' and params.device = 'pcmo'",
    "run_id": "tags.`sbp.run_id` = '{run_id}'",
}
"""The searches docs/mlflow.md suggests, as typed into the search box."""


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """(URL, experiment id, memberships) of `mlflow ui` on a store of synthetic runs."""
    tmp_path = tmp_path_factory.mktemp("ui")
    folders, memberships = synthetic_runs(tmp_path / "runs")
    store = f"sqlite:///{tmp_path}/mlflow.db"
    summary = log_runs(
        folders, SWEEPS, memberships, store, "sbp-bench/ui", tmp_path / "mlartifacts",
        provenance={"profile": "ui", "config_hash": "f00d"},
    )  # fmt: skip
    with services.mlflow_ui(store) as url:
        yield url, summary["experiment_id"], memberships


def api(url: str, path: str, body: dict | None = None) -> dict:
    """One call of MLflow's REST API, as the UI makes it (POST with a body, else GET)."""
    endpoint = f"{url}/api/2.0/mlflow/{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        endpoint, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def search(url: str, experiment_id: str, filter_string: str) -> list[dict]:
    body = {"experiment_ids": [experiment_id], "filter": filter_string, "max_results": 1000}
    return api(url, "runs/search", body).get("runs", [])


def values(run: dict, part: str) -> dict:
    return {item["key"]: item["value"] for item in run["data"].get(part, [])}


def test_the_guide_suggests_the_searches_and_the_page_checked_here():
    for filter_string in SEARCHES.values():
        assert filter_string.format(run_id="<run_id>") in GUIDE
    assert "workflowType=machine_learning" in GUIDE and "Model training" in GUIDE


def test_the_runs_page_opens_on_one_parent_per_sweep_with_its_means(ui, tmp_path):
    url, experiment_id, _ = ui
    experiment = api(url, f"experiments/get?experiment_id={experiment_id}")["experiment"]
    note = {tag["key"]: tag["value"] for tag in experiment["tags"]}["mlflow.note.content"]
    assert "profile `ui`" in note and "config_hash `f00d`" in note
    parents = search(url, experiment_id, "tags.`sbp.role` = 'sweep'")
    assert sorted(values(p, "tags")["sbp.sweep"] for p in parents) == sorted(SWEEPS)
    for parent in parents:
        methods = SWEEPS[values(parent, "tags")["sbp.sweep"]]["methods"]
        assert {f"mean_final_test_acc/{m}" for m in methods} <= set(values(parent, "metrics"))

    page = f"{url}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
    runs = services.browse(page, tmp_path / "runs.png")
    assert all(f">{name}<" in runs for name in SWEEPS)  # the parents' names, in the table
    assert "config_hash" in runs  # the experiment's description
    charts = services.browse(f"{page}&compareRunsMode=CHART", tmp_path / "chart.png")
    # the chart view opens on the parents' means: a section per metric, a chart per method
    assert ">mean_final_test_acc</div>" in charts and ">mean_total_pulses</div>" in charts


def test_a_sweeps_children_carry_what_chart_and_compare_plot(ui):
    url, experiment_id, memberships = ui
    (grid,) = search(url, experiment_id, "tags.`sbp.sweep` = 'grid' and tags.`sbp.role` = 'sweep'")
    children = search(url, experiment_id, f"tags.mlflow.parentRunId = '{grid['info']['run_id']}'")
    assert len(children) == sum("grid" in names for names in memberships.values())
    for child in children:
        assert {"c2c_sigma", "d2d_sigma", "n_states", "device", "method"} <= set(
            values(child, "params")
        )
        assert {"final_test_acc", "total_set_pulses"} <= set(values(child, "metrics"))


def test_one_childs_learning_curve_artifacts_and_the_readmes_searches(ui, tmp_path):
    url, experiment_id, memberships = ui
    (pcmo, *others) = search(url, experiment_id, SEARCHES["pcmo"])
    for run in (pcmo, *others):
        params = values(run, "params")
        assert params["method"] == "sbp" and params["device"] == "pcmo"
    run_id = values(pcmo, "tags")["sbp.run_id"]
    found = search(url, experiment_id, SEARCHES["run_id"].format(run_id=run_id))
    assert len(found) == len(memberships[run_id])  # one child per sweep it is in

    query = urllib.parse.urlencode({"run_id": pcmo["info"]["run_id"], "metric_key": "test_acc"})
    curve = api(url, f"metrics/get-history?{query}")["metrics"]
    assert sorted(point["step"] for point in curve) == list(range(1, EPOCHS + 1))
    query = urllib.parse.urlencode({"run_id": pcmo["info"]["run_id"]})
    files = {item["path"] for item in api(url, f"artifacts/list?{query}")["files"]}
    assert {"confusion_matrix.svg", "state_histogram.svg"} <= files
    run_page = f"{url}/#/experiments/{experiment_id}/runs/{pcmo['info']['run_id']}"
    shown = services.browse(f"{run_page}/artifacts/confusion_matrix.svg", tmp_path / "svg.png")
    assert '<img alt="confusion_matrix.svg"' in shown  # previewed as an image, not a download
