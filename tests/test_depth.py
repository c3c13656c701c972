"""Networks of any depth: n_hidden as a list, its validation and run ids, every method learning
with two hidden layers, and what a deep run writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbp_core.errors import ConfigError
from sbp_core.grid import expand, validate_config
from sbp_core.spec import RunSpec, hidden_label, hidden_widths, option_text, parse_widths

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"

KNOWN_RUN_IDS = {
    "d93014d3c9fe": RunSpec(),
    "1d2d10862ef1": RunSpec(n_hidden=256, method="float", seed=2),
    "f2030583e17c": RunSpec(n_hidden=1, method="sgd"),
}
"""Run ids that main computed before n_hidden took lists: an integer width keeps its run id."""


def test_an_integer_n_hidden_keeps_its_run_id():
    for run_id, spec in KNOWN_RUN_IDS.items():
        assert spec.run_id == run_id
    assert RunSpec(n_hidden=[256], method="float", seed=2).run_id == "1d2d10862ef1"
    assert json.loads(json.dumps(RunSpec(n_hidden=[100]).to_dict()))["n_hidden"] == 100


def test_a_list_of_widths_is_one_canonical_tuple():
    spec = RunSpec(n_hidden=[256, 128])
    assert spec.n_hidden == (256, 128) and hidden_widths(spec.n_hidden) == (256, 128)
    assert spec == RunSpec(n_hidden=(256, 128)) and hash(spec) == hash(RunSpec(n_hidden=(256, 128)))
    assert spec.run_id not in KNOWN_RUN_IDS and spec.run_id != RunSpec(n_hidden=[128, 256]).run_id
    again = RunSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.run_id == spec.run_id
    assert hidden_label(spec.n_hidden) == "256-128" and hidden_label(100) == "100"
    for text in ("256,128", "[256, 128]", "256-128", " 256, 128 "):
        assert parse_widths(text) == (256, 128), text
    assert RunSpec.from_dict({"n_hidden": option_text(spec.n_hidden)}) == spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "n_hidden must list at least one hidden width, got []"),
        ([256, 0], "n_hidden must list integers >= 1, got [256, 0]"),
        ([256, 2.5], "n_hidden must list integers >= 1, got [256, 2.5]"),
        ([256, "x"], "n_hidden must list integers >= 1, got [256, 'x']"),
        ([True], "n_hidden must list integers >= 1, got [True]"),
        ("wide", "n_hidden must be an integer or a list of integers, got 'wide'"),
        (0, "n_hidden must be >= 1, got 0"),
    ],
)
def test_a_bad_n_hidden_is_one_line_naming_the_key(value, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RunSpec(n_hidden=value)
    sweep = {"sweeps": {"depth": {"methods": ["sbp"], "axes": {"n_hidden": [100, value]}}}}
    expected = f"^config sweeps.depth: {re.escape(message)}$"
    with pytest.raises(ConfigError, match=expected) as caught:
        expand(validate_config(sweep, SCHEMA))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", [[], [0], [256, 0], ["x"], [2.5], "wide", True, [[1]]])
def test_a_bad_n_hidden_in_a_base_spec_is_named_by_the_schema(value):
    config = {"base": {"n_hidden": value}, "sweeps": {"m": {"methods": ["sbp"]}}}
    with pytest.raises(ConfigError, match=r"^config key base\.n_hidden(\.\d)?: ") as caught:
        validate_config(config, SCHEMA)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["256,0", "256,x", "[]"])
def test_a_bad_n_hidden_option_is_one_line_naming_the_key(tmp_path, value):
    result = subprocess.run(
        [sys.executable, "-m", "sbp_core.cli", "train", "--out", str(tmp_path / "r"),
         "--n-hidden", value],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("sbp-bench: error: options: n_hidden must ")


def digits():
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    X, X_test = (binarize(part, 0.5, data.max_value) for part in (data.X_train, data.X_test))
    return X, data.y_train, X_test, data.y_test


@pytest.mark.parametrize(
    ("method", "overrides", "least"),
    [
        ("sbp", {}, 0.75),
        ("float", {}, 0.75),
        ("ste", {}, 0.75),
        # its default rate (2.0) was chosen for one hidden layer; with two it does not learn
        ("binarized", {"lr": 0.5}, 0.6),
        ("exsitu", {}, 0.75),
        ("manhattan", {}, 0.4),
        ("sgd", {}, 0.75),
    ],
)
def test_every_method_learns_digits_with_two_hidden_layers(method, overrides, least):
    """Chance is 10 %; 10 epochs of 64-32-32-10, and every layer learns: each weight matrix
    moves, and each crossbar is pulsed."""
    from sbp_core.methods import CROSSBAR_METHODS, make_learner

    X, y, X_test, y_test = digits()
    spec = RunSpec(method=method, n_hidden=[32, 32], **overrides)
    rng = np.random.default_rng(0)
    learner = make_learner(spec, X.shape[1], 10, rng)
    before = {name: array.copy() for name, array in learner.state().items()}
    stats = [learner.fit_epoch(X, y, rng) for _ in range(10)]
    assert np.mean(learner.predict(X_test) == y_test) > least
    after = learner.state()
    assert len(after) == 6  # W1 b1 W2 b2 W3 b3, or G+ and G- of three crossbars
    for name in ("W1", "W2", "W3", "G_plus_l1", "G_plus_l2", "G_plus_l3"):
        if name in after:
            assert not np.array_equal(before[name], after[name]), name
    if method in CROSSBAR_METHODS:
        pulses = np.sum([s.set_pulses for s in stats], axis=0)
        assert len(pulses) == 3 and pulses.min() > 0


def test_a_deep_run_records_every_layer(tmp_path):
    from sbp_core import train

    spec = RunSpec(method="sbp", n_hidden=[16, 12, 8], epochs=2, c2c_sigma=0.02)
    metrics = train.run(spec, tmp_path / "run")
    assert metrics["layers"] == [[65, 16], [17, 12], [13, 8], [9, 10]]
    header, *rows = (tmp_path / "run" / "history.csv").read_text().splitlines()
    columns = header.split(",")
    assert columns == list(train.history_columns(4))
    per_layer = [f"{kind}_pulses_l{k}" for k in (1, 2, 3, 4) for kind in ("set", "reset")]
    assert columns[7:15] == per_layer and len(rows) == 2
    sets = [sum(int(row.split(",")[columns.index(f"set_pulses_l{k}")]) for row in rows)
            for k in (1, 2, 3, 4)]  # fmt: skip
    assert sets == metrics["set_pulses_per_layer"] and min(sets) > 0
    assert metrics["total_set_pulses"] == sum(sets)
    assert not any(key.startswith("deployment") for key in metrics)  # counters: exsitu only
    written = json.loads((tmp_path / "run" / "spec.json").read_text())
    assert written["n_hidden"] == [16, 12, 8] and RunSpec.from_json(tmp_path / "run" / "spec.json")
    assert train.history_columns(2) == train.HISTORY_COLUMNS


PROFILE = {
    "profile": "depth",
    "base": {"dataset": "digits", "epochs": 1},
    "seeds": [0],
    "sweeps": {
        "width": {"methods": ["sbp", "sgd"], "axes": {"n_hidden": [16, 8]}},
        "depth": {"methods": ["sbp", "sgd"], "axes": {"n_hidden": [8, [8, 8], [12, 8, 8]]}},
    },
}
"""A profile with a width sweep (integers) beside a depth sweep (lists) that share a run."""


def test_a_depth_sweep_is_tabled_drawn_and_costed_beside_a_width_sweep(tmp_path, readable):
    """Runs.csv holds n_hidden as labels (8, 8-8, 12-8-8) once a profile has a deeper network,
    yet each sweep reads its own axis as one kind: the width sweep's as numbers (a line over
    the width), the depth sweep's as labels in the config's order; the cost model is fed
    every layer of every network."""
    import pandas as pd

    from sbp_core import cost, train
    from sbp_core.report import cost_figures, cost_tables, page
    from sbp_core.report.collect import collect, in_sweep
    from sbp_core.report.figures import draw
    from sbp_core.report.tables import display, summarize

    grid = expand(validate_config(json.loads(json.dumps(PROFILE)), SCHEMA))
    assert len(grid.runs) == 2 * 4 and grid.kernel_depths == (1, 2, 3)
    folders = []
    for run_id, spec in grid.runs.items():
        train.run(spec, tmp_path / "runs" / run_id)
        folders.append(tmp_path / "runs" / run_id)
    runs, history = collect(folders, grid.memberships)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    runs, history = pd.read_csv(tmp_path / "runs.csv"), pd.read_csv(tmp_path / "history.csv")
    assert set(runs["n_hidden"]) == {"16", "8", "8-8", "12-8-8"}
    sweeps = {name: sweep.to_dict() for name, sweep in grid.sweeps.items()}

    width = in_sweep(runs, "width")
    assert width["n_hidden"].dtype.kind == "i"
    assert list(summarize(runs, sweeps["width"])["n_hidden"]) == [16, 8, 16, 8]
    depth = summarize(runs, sweeps["depth"])
    assert list(display(depth, sweeps["depth"])["n_hidden"]) == ["8", "8-8", "12-8-8"] * 2

    figure = draw("axis", runs, history, sweeps["depth"])
    labels = [label.get_text() for label in figure.axes[0].get_xticklabels()]
    assert labels == ["8", "8-8", "12-8-8"]
    assert figure.axes[0].get_xlabel() == "n_hidden (neurons per hidden layer)"
    pdf = tmp_path / "depth.pdf"
    readable(figure, tmp_path / "depth.png", lambda fig, png: page.save(fig, png, pdf))
    assert draw("axis", runs, history, sweeps["width"]).axes[0].get_lines()  # numeric: lines

    values = cost.constant_values(cost.load_constants(ROOT / "config" / "cost.yaml"))
    costed = cost_tables.sbp_runs(runs)
    per_run = cost_tables.per_run_costs(costed, values).set_index("run_id")
    deepest = costed[costed["n_hidden"] == "12-8-8"].iloc[0]
    assert json.loads(deepest["layers"]) == [[65, 12], [13, 8], [9, 8], [9, 10]]
    samples = deepest["n_train"] * deepest["epochs_run"]
    layers = cost.make_layers(
        json.loads(deepest["layers"]),
        [p / samples for p in json.loads(deepest["set_pulses_per_layer"])],
        [p / samples for p in json.loads(deepest["reset_pulses_per_layer"])],
        deepest["input_activity"],
        values["workload.line_activity"],
    )
    device = cost.PulseDevice(
        **{name: float(deepest[f"device.{name}"]) for name in
           ("v_set", "v_reset", "g_min_s", "g_max_s", "pulse_width_s", "n_states")}
    )  # fmt: skip
    expected = cost.network_cost("sbp", layers, device, values).total_energy_J
    assert per_run.loc[deepest["run_id"], "energy_per_sample_sbp_J"] == pytest.approx(expected)
    assert not np.isnan(per_run.loc[deepest["run_id"], "test_acc_conv"])  # its sgd twin
    energies = cost_tables.epoch_energies(history, costed, values)
    assert set(energies["run_id"]) == set(costed["run_id"])  # per-epoch pulses of every layer
    components = cost_tables.component_table(costed, values)
    breakdown = cost_figures.plot_breakdown(components, sweeps["depth"])
    rows = [ax.get_ylabel().splitlines()[0] for ax in breakdown.axes[::2]]
    assert rows == ["n_hidden 8", "n_hidden 8-8", "n_hidden 12-8-8"]


def test_an_estimator_takes_a_list_of_widths_through_clone_and_grid_search():
    from sklearn.base import clone
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sbp_core.estimators import SBPClassifier

    X, y = load_digits(return_X_y=True)
    model = clone(SBPClassifier(n_hidden=[24, 16], epochs=2))
    assert model.get_params()["n_hidden"] == [24, 16]
    search = GridSearchCV(model, {"n_hidden": [24, [24, 16]]}, cv=2).fit(X[:400], y[:400])
    assert search.best_score_ > 0.5
    layers = search.best_estimator_.learner_.layers
    assert [layer.shape for layer in layers][0] == (65, 24)
