"""The declared tuning protocol (docs/tuning_protocol.md): trials, the choice on validation, the
statistics, and the tune stage of the workflow."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml
from test_pipeline import snakemake as run_snakemake
from test_pipeline import workflow_copy

from sbp_core import atomic, fields, runfolder, train
from sbp_core import spec as spec_module
from sbp_core.errors import ConfigError
from sbp_core.grid import expand, validate_config
from sbp_core.methods.registry import RULES
from sbp_core.spec import RunSpec
from sbp_core.tuning import stats
from sbp_core.tuning.final_runs import owned_run_ids, tuned_in_place_of_untuned
from sbp_core.tuning.plan import NOT_IN_THE_TRIAL_SET, final_run_batches
from sbp_core.tuning.select import choose, selection
from sbp_core.tuning.space import Dimension
from sbp_core.tuning.trials import sobol_seed, trial_settings, unit_points

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

SPACE = RULES["sbp"].search_space


# --- the search spaces and the trial set ----------------------------------------------------


@pytest.mark.parametrize(
    "method", ["sbp", "sgd", "manhattan", "exsitu", "float", "ste", "binarized"]
)
def test_every_rule_of_the_issue_declares_a_space_whose_every_point_is_a_valid_run(method):
    space = RULES[method].search_space
    assert space and all(dimension.reason for dimension in space)
    for u in (0.0, 0.37, 0.999999):
        values = {dimension.name: dimension.value(u) for dimension in space}
        spec = RunSpec(method=method, **values)
        assert {name: getattr(spec, name) for name in values} == values


def test_a_dimension_maps_the_unit_interval_by_its_scale():
    assert Dimension("lr", "r", "log", 0.1, 10.0).value(0.5) == 1.0
    assert Dimension("lr", "r", "log", 0.1, 10.0).value(0.0) == 0.1
    assert Dimension("x", "r", "linear", 0.0, 2.0).value(0.25) == 0.5
    assert Dimension("x", "r", "linear", 0.0, 3.0).value(1 / 3) == 1.0  # 3 significant digits
    three = Dimension("c", "r", "categorical", choices=("a", "b", "c"))
    assert [three.value(u) for u in (0.0, 0.33, 0.34, 0.67, 0.999)] == ["a", "a", "b", "c", "c"]
    with pytest.raises(ValueError, match="log scale needs low > 0"):
        Dimension("x", "r", "log", 0.0, 1.0)


def test_the_trial_set_is_the_same_on_every_draw_and_its_first_k_trials_whatever_k():
    seed = 12345
    eight = trial_settings(SPACE, 8, seed)
    assert eight == trial_settings(SPACE, 8, seed)
    for k in (1, 2, 3, 5, 7):
        assert trial_settings(SPACE, k, seed) == eight[:k]
    assert trial_settings(SPACE, 20, seed)[:8] == eight
    assert trial_settings(SPACE, 8, seed + 1) != eight


def test_the_trials_are_scrambled_sobol_points_in_the_unit_cube():
    points = unit_points(3, 16, seed=7)
    assert points.shape == (16, 3) and np.all((points >= 0) & (points < 1))
    # a Sobol net: each of 16 equal slices of every axis holds exactly one of the 16 points
    for axis in range(3):
        assert sorted(np.floor(points[:, axis] * 16).astype(int)) == list(range(16))


TUNED = {
    "profile": "t",
    "base": {"dataset": "digits", "epochs": 2, "n_hidden": 16},
    "seeds": [0],
    "sweeps": {
        "devices": {"methods": ["sbp"], "axes": {"device": ["ideal", "ag_si"]}},
        "states": {"methods": ["manhattan"], "axes": {"n_states": [4, 16]}},
    },
    "tuning": {
        "trials": 2,
        "trial_epochs": 1,
        "final_seeds": [0, 1],
        "sweeps": {"devices": "each_point", "states": {"representative": {"n_states": 16}}},
    },
}


def grid_of(config):
    return expand(validate_config(json.loads(json.dumps(config)), SCHEMA))


def test_the_plan_runs_k_trials_per_method_and_point_that_never_score_the_test_set():
    grid = grid_of(TUNED)
    assert [unit.key for unit in grid.tuning] == [
        "devices.sbp.p0", "devices.sbp.p1", "states.manhattan.p1",
    ]  # fmt: skip
    for unit in grid.tuning:
        assert len(unit.trials) == 2
        for spec, settings in zip(unit.trials, unit.settings, strict=True):
            assert spec.run_id in grid.runs and grid.memberships[spec.run_id] == ()
            assert not spec.evaluate_test and spec.epochs == 1 and spec.seed == 0
            assert {name: getattr(spec, name) for name in settings} == settings
    states = grid.tuning[2]
    assert states.point == {"n_states": 16}
    assert [target["point"] for target in states.targets] == [{"n_states": 4}, {"n_states": 16}]
    finals = states.final_specs({"pulse_prob": 0.5, "batch_size": 64})
    assert [(spec.n_states, spec.seed, spec.epochs) for _, spec in finals] == [
        (4, 0, 2), (4, 1, 2), (16, 0, 2), (16, 1, 2),
    ]  # fmt: skip
    assert all(spec.pulse_prob == 0.5 and spec.evaluate_test for _, spec in finals)


def test_the_plan_is_the_same_on_every_build_and_a_larger_k_adds_trials_after_the_first():
    again = grid_of(TUNED)
    more = grid_of({**TUNED, "tuning": {**TUNED["tuning"], "trials": 5}})
    for unit, same, bigger in zip(grid_of(TUNED).tuning, again.tuning, more.tuning, strict=True):
        ids = [spec.run_id for spec in unit.trials]
        assert ids == [spec.run_id for spec in same.trials]
        assert ids == [spec.run_id for spec in bigger.trials][:2]
    # a longer trial budget or another trial seed runs the same settings
    longer = grid_of({**TUNED, "tuning": {**TUNED["tuning"], "trial_epochs": 3, "trial_seed": 4}})
    assert [unit.settings for unit in longer.tuning] == [unit.settings for unit in again.tuning]
    other = grid_of({**TUNED, "tuning": {**TUNED["tuning"], "tuning_seed": 1}})
    assert [unit.settings for unit in other.tuning] != [unit.settings for unit in again.tuning]


def test_a_field_only_another_rule_reads_leaves_the_trial_set_as_it_was(monkeypatch):
    """A new rule brings its own fields: the trials of the rules already tuned must not move.
    They did once, when the set was seeded by every field of the spec; it is seeded by the
    point's identity, which leaves other rules' fields out as the run id does. Nor may the
    unit's record: it held every field once, so a new one made Snakemake select again."""
    units = grid_of(TUNED).tuning
    wider = grid_of({**TUNED, "base": {**TUNED["base"], "n_hidden": 17}})
    assert [u.settings for u in wider.tuning] != [u.settings for u in units]  # a field they read
    # a spec class with one more field, read only by a rule that does not exist yet
    newer = dataclasses.make_dataclass(
        "NewerSpec", [("next_rule_knob", "int", fields.number(3, low=1))], bases=(RunSpec,),
        frozen=True,
    )  # fmt: skip
    records = [  # the units' records before the field
        next(t["template"] for t in unit.to_dict()["targets"] if t["point"] == unit.point)
        for unit in units
    ]
    monkeypatch.setitem(spec_module.FIELD_METHODS, "next_rule_knob", ("next_rule",))
    for unit, record in zip(units, records, strict=True):
        template = next(t["template"] for t in unit.targets if t["point"] == unit.point)
        grown = newer(**template.to_dict())
        assert grown.to_dict() != template.to_dict() and grown.identity() == template.identity()
        assert grown.changed() == record  # nor its record, which its selection job takes as params
        identity = {k: v for k, v in grown.identity().items() if k not in NOT_IN_THE_TRIAL_SET}
        assert unit.sobol_seed == sobol_seed(identity, unit.method, tuning_seed=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sweeps": {"nope": "each_point"}}, "tuning.sweeps.nope: no such sweep"),
        (
            {"sweeps": {"states": {"representative": {"n_states": 8}}}},
            "tuning.sweeps.states.representative.n_states: 8 is not one of the sweep's values",
        ),
        (
            {"sweeps": {"states": {"representative": {"device": "ideal"}}}},
            "tuning.sweeps.states.representative: name each axis of the sweep once",
        ),
        ({"selection": "best_test"}, "config key tuning.selection"),
        ({"trials": 0}, "config key tuning.trials"),
    ],
)
def test_a_bad_tuning_block_is_one_line_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        grid_of({**TUNED, "tuning": {**TUNED["tuning"], **change}})


def test_tuning_a_rule_without_a_search_space_or_without_a_validation_split_is_refused(
    monkeypatch,
):
    with pytest.raises(ConfigError, match="val_fraction is 0"):
        grid_of({**TUNED, "base": {**TUNED["base"], "val_fraction": 0.0}})
    monkeypatch.setitem(RULES, "sbp", dataclasses.replace(RULES["sbp"], search_space=()))
    with pytest.raises(ConfigError, match="tuning.sweeps.devices: method sbp declares no search"):
        grid_of(TUNED)


# --- trials never read the test set; the choice reads only validation --------------------------


def test_a_trial_never_touches_the_test_images(tmp_path):
    """Test images of the wrong width would break any prediction on them: a trial never makes
    one, and trains and validates exactly as the run that scores the test set."""

    def poisoned(*args, **kwargs):
        data = train.load_dataset(*args, **kwargs)
        return dataclasses.replace(data, X_test=data.X_test[:, :3], y_test=data.y_test[:1])

    spec = RunSpec(method="sbp", epochs=2, n_hidden=16, evaluate_test=False)
    metrics = train.run(spec, tmp_path / "trial", load=poisoned)
    assert metrics["final_test_acc"] is None and metrics["n_test"] == 0
    assert metrics["confusion_matrix"] is None and metrics["test_acc_at_best_val"] is None
    with open(tmp_path / "trial" / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["test_acc"] for row in rows] == ["", ""]
    with pytest.raises(ValueError):
        train.run(dataclasses.replace(spec, evaluate_test=True), tmp_path / "scored", load=poisoned)
    scored = train.run(dataclasses.replace(spec, evaluate_test=True), tmp_path / "clean")
    assert scored["final_test_acc"] is not None
    assert (scored["final_val_acc"], scored["final_train_acc"]) == (
        metrics["final_val_acc"], metrics["final_train_acc"],
    )  # fmt: skip


def fabricated_trial(folder: Path, val_acc: list[float], test_acc: list[float]) -> Path:
    """A finished, certified run folder whose history has the given accuracies per epoch."""
    folder.mkdir(parents=True)
    rows = [
        {"epoch": e, "train_acc": 0.5, "val_acc": v, "test_acc": t}
        for e, (v, t) in enumerate(zip(val_acc, test_acc, strict=True), start=1)
    ]
    with open(folder / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    metrics = {"run_id": folder.name, "final_test_acc": test_acc[-1], "final_val_acc": val_acc[-1]}
    metrics[runfolder.RECORD] = runfolder.record(folder, metrics)
    atomic.write_json(folder / runfolder.METRICS_FILE, metrics)
    return folder


def test_the_winner_follows_validation_where_the_test_set_disagrees(tmp_path):
    """Trial 1 is best on the last two epochs' validation accuracy; trial 0 has the best test
    accuracy and the best single validation epoch; trial 2 the best last epoch alone."""
    trials = [
        fabricated_trial(tmp_path / "a", [0.90, 0.60, 0.60], [0.99, 0.99, 0.99]),
        fabricated_trial(tmp_path / "b", [0.50, 0.80, 0.80], [0.10, 0.10, 0.10]),
        fabricated_trial(tmp_path / "c", [0.50, 0.70, 0.85], [0.50, 0.50, 0.50]),
    ]
    template = RunSpec(method="manhattan", epochs=5)
    unit = {
        "key": "s.manhattan.p0", "sweep": "s", "method": "manhattan", "point": {},
        "sobol_seed": 1, "final_seeds": [3, 4],
        "trials": [
            {"run_id": "a", "settings": {"pulse_prob": 0.1}},
            {"run_id": "b", "settings": {"pulse_prob": 0.2}},
            {"run_id": "c", "settings": {"pulse_prob": 0.3}},
        ],
        "targets": [{"point": {}, "template": template.to_dict(), "untuned_runs": ["u"]}],
    }  # fmt: skip
    record = selection(unit, trials, "last_two_val_acc")
    assert [trial["score"] for trial in record["trials"]] == pytest.approx([0.6, 0.8, 0.775])
    assert record["chosen"]["trial"] == 1 and record["chosen"]["settings"] == {"pulse_prob": 0.2}
    finals = [RunSpec.from_dict(run["spec"]) for run in record["final_runs"]]
    assert finals == [dataclasses.replace(template, seed=s, pulse_prob=0.2) for s in (3, 4)]
    assert [run["run_id"] for run in record["final_runs"]] == [spec.run_id for spec in finals]


def test_ties_go_to_the_earlier_trial_and_nan_never_wins():
    assert choose([0.5, 0.7, 0.7]) == 1
    assert choose([math.nan, 0.1]) == 1
    assert choose([0.3]) == 0


# --- statistics on hand-worked numbers ------------------------------------------------------


def test_median_and_interquartile_range():
    assert stats.median_iqr([1.0, 2.0, 3.0, 4.0]) == (2.5, 1.75, 3.25)


def test_the_bootstrap_interval_of_two_seeds_spans_them():
    """Resampling [a, b]: medians a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4; the 2.5th and
    97.5th percentiles are a and b."""
    assert stats.stratified_bootstrap_ci([[0.6, 0.8]]) == (0.6, 0.8)
    assert stats.stratified_bootstrap_ci([[0.7, 0.7, 0.7]]) == (0.7, 0.7)


def test_the_bootstrap_resamples_within_each_task():
    """Two tasks of constant runs: every stratified resample pools three 0s and three 1s (median
    0.5), where resampling the pool as one would move the median."""
    assert stats.stratified_bootstrap_ci([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]) == (0.5, 0.5)


def test_one_task_agrees_with_scipys_percentile_bootstrap():
    values = np.random.default_rng(3).normal(0.8, 0.05, size=10)
    ours = stats.stratified_bootstrap_ci([values], statistic=np.mean, resamples=20_000)
    theirs = scipy.stats.bootstrap(
        (values,), np.mean, method="percentile", n_resamples=20_000, rng=np.random.default_rng(0)
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=2e-3)


def test_the_performance_profile_counts_the_devices_within_tau_of_the_best():
    scores = {"A": {"d1": 0.9, "d2": 0.5}, "B": {"d1": 0.8, "d2": 0.7}}
    profile = stats.performance_profile(scores, [0.0, 0.1, 0.2])
    assert profile == {"A": [0.5, 0.5, 1.0], "B": [0.5, 1.0, 1.0]}


def test_the_table_counts_the_trials_that_learned_and_names_a_choice_at_its_ranges_edge(
    monkeypatch,
):
    """A trial learned when its validation score beats chance (10 %) by more than 10 points: a
    rule with most of its space at chance had fewer real trials than K, and the table says so;
    a chosen value in the outer tenth of its range hints that the space ends too soon."""
    from sbp_core.tuning import report

    accuracies = {"final0": 0.9, "final1": 0.8, "untuned0": 0.5}
    monkeypatch.setattr(report, "test_accuracy", lambda runs, run_id: accuracies[run_id])
    point = {"device": "a"}
    scores = [0.1, 0.5, 0.19, 0.21, math.nan]
    selection = {
        "method": "ttv2", "point": point, "rule": "last_two_val_acc",
        "trials": [{"score": score} for score in scores],
        "chosen": {"trial": 1, "score": 0.5, "settings": {"lr": 0.06, "lr_out": 29, "ttv2_bl": 63}},
        "final_runs": [{"point": point, "run_id": f"final{seed}"} for seed in (0, 1)],
        "untuned_runs": [{"point": point, "run_ids": ["untuned0"]}],
    }  # fmt: skip
    frame = report.table([selection], "runs", {"trial_epochs": 2})
    assert frame["trials_learned"].tolist() == [2]  # 0.5 and 0.21
    # the NaN trial scores 0: sorted 0, 0.1, 0.19, 0.21, 0.5; E[best of 2] = sum v_i ((i/5)^2 -
    # ((i-1)/5)^2) = (0 + 0.3 + 0.95 + 1.47 + 4.5) / 25, E[best of 5] likewise with fifth powers
    assert frame["expected_best_half_k"].tolist() == pytest.approx([7.22 / 25])
    assert frame["expected_best_k"].tolist() == pytest.approx(
        [(0.1 * 31 + 0.19 * 211 + 0.21 * 781 + 0.5 * 2101) / 3125]
    )
    table = report.markdown(frame, "devices")
    assert "trials that learned" in table and "| 2/5 |" in table
    assert "| 28.9 → 40.2 |" in table
    # lr 0.06 of [0.05, 10] log sits at 3 % of the range, lr_out 29 of [0.1, 30] at 99 %
    assert "| lr (bottom), lr_out (top) |" in table


def test_a_dimension_places_a_value_in_its_range_by_its_scale():
    assert Dimension("lr", "why", "log", 0.1, 10.0).position(1.0) == pytest.approx(0.5)
    assert Dimension("f", "why", "linear", 0.0, 4.0).position(1.0) == 0.25
    assert Dimension("c", "why", "categorical", choices=(1, 2)).position(2) is None


def test_the_performance_profile_legend_sits_beside_the_curves_inside_the_figure():
    from sbp_core.tuning import report

    frame = pd.DataFrame(
        {
            "point": ["device=a", "device=b"] * 6,
            "method": [m for m in ("sbp", "sgd", "manhattan", "ttv2", "cttv2", "mp") for _ in "ab"],
            "tuned_median": np.linspace(0.1, 0.9, 12),
            "untuned_median": np.linspace(0.9, 0.1, 12),
        }
    )
    fig = report.profile_figure(frame)
    fig.canvas.draw()
    (ax,) = fig.axes
    legends = [*fig.legends, *filter(None, [ax.get_legend()])]
    (legend,) = legends
    assert len(legend.get_texts()) == 12  # each method tuned and untuned
    box, plot = legend.get_window_extent(), ax.get_window_extent()
    assert not box.overlaps(plot)  # it covers no curve
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y0 >= 0 and box.y1 <= fig.bbox.y1


@pytest.mark.parametrize("points", [[{}], [{"device": "a"}, {"device": "b"}]])
def test_the_expected_best_figure_of_six_rules_fits_the_page(tmp_path, readable, points):
    """Six rules in rows of three within the page (one row of six was 4,260 px wide); a legend
    of the tuned points only where the sweep has points to tell apart."""
    from sbp_core.tuning import report

    selections = [
        {"method": method, "point": point, "trials": [{"score": s} for s in (0.2, 0.6, 0.4)]}
        for method in ("sbp", "sgd", "manhattan", "ttv2", "cttv2", "mixed_precision")
        for point in points
    ]
    fig = report.expected_best_figure(selections)
    assert len(fig.legends) == (len(points) > 1)
    png = tmp_path / "expected_best.png"
    readable(fig, png, lambda fig, png: report.page.save(fig, png, png.with_suffix(".pdf")))


def test_expected_best_of_n_trials_is_the_order_statistics_formula():
    values = [0.2, 0.5, 0.9]
    assert stats.expected_max(values, 1) == pytest.approx(1.6 / 3)
    assert stats.expected_max(values, 2) == pytest.approx(0.2 / 9 + 0.5 * 3 / 9 + 0.9 * 5 / 9)
    for n in (1, 2, 3, 4):  # against every equally likely draw of n trials with replacement
        draws = [max(draw) for draw in itertools.product(values, repeat=n)]
        assert stats.expected_max(values, n) == pytest.approx(np.mean(draws))
    assert stats.expected_max([0.4, 0.4, 0.9, 0.9], 3) == pytest.approx(0.4 / 8 + 0.9 * 7 / 8)


# --- the tune stage of the workflow ---------------------------------------------------------


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "--cores", "2", *args)


SHARED_POINT = {
    **TUNED,
    "sweeps": {**TUNED["sweeps"], "ideal": {"methods": ["sbp"], "base": {"device": "ideal"}}},
    "tuning": {**TUNED["tuning"], "sweeps": {**TUNED["tuning"]["sweeps"], "ideal": "each_point"}},
}
"""TUNED with a sweep that shares its one point (and so its trials and final runs) with the
devices sweep."""


def test_final_runs_are_batched_whole_units_and_a_run_two_units_may_choose_in_one_batch():
    """A tuned final run is trained by exactly one `train_tuned` job: units that may choose the
    same run (the shared ideal point) share a batch whatever the batch size."""
    grid = grid_of(SHARED_POINT)
    units = {unit.key: unit for unit in grid.tuning}
    shared = ("devices.sbp.p0", "ideal.sbp.p0")  # never apart: 2 units x 2 final seeds
    for size in (1, 4, 6, 100):
        batches = final_run_batches(grid.tuning, size)
        keys = [key for batch in batches.values() for key in batch]
        assert sorted(keys) == sorted(units)  # each unit once
        batch_of = {key: name for name, batch in batches.items() for key in batch}
        assert batch_of[shared[0]] == batch_of[shared[1]]
        for batch in batches.values():  # at most `size` runs, unless one unit or the shared pair
            runs = sum(units[key].final_run_count() for key in batch)
            assert runs <= size or len(batch) == 1 or batch == shared
        for a, b in itertools.combinations(grid.tuning, 2):  # any settings either could choose
            if batch_of[a.key] == batch_of[b.key] or a.method != b.method:
                continue
            for chosen in (*a.settings, *b.settings):
                runs_a = {spec.run_id for _, spec in a.final_specs(chosen)}
                assert runs_a.isdisjoint(spec.run_id for _, spec in b.final_specs(chosen))
    assert list(final_run_batches(grid.tuning, 6).values()) == [
        (*shared, "devices.sbp.p1"), ("states.manhattan.p1",),
    ]  # fmt: skip  # 2 + 2 + 2 runs, then 2 points x 2 seeds


TUNING_TARGETS = [
    "results/t/tuning/devices.md",
    "results/t/tuning/figures/devices.profile.png",
    "results/t/tuning/figures/devices.expected_best.png",
    "results/t/tuning/states.md",
    "results/t/collected/runs.csv",
]


@pytest.mark.slow
def test_the_tune_stage_end_to_end_resumes_without_retraining_a_finished_trial(
    tmp_path, tuned_pipeline
):
    workdir = shutil.copytree(tuned_pipeline, tmp_path / "tuned", symlinks=True)
    grid = grid_of(SHARED_POINT)
    runs = workdir / "results" / "t" / "runs"
    selected = workdir / "results" / "t" / "tuning" / "selected"
    for unit in grid.tuning:
        record = json.loads((selected / f"{unit.key}.json").read_text())
        scores = []
        for spec in unit.trials:
            metrics = runfolder.verify(runs / spec.run_id)
            assert metrics["final_test_acc"] is None  # trials never scored the test set
            with open(runs / spec.run_id / "history.csv", newline="") as handle:
                scores.append(float(next(csv.DictReader(handle))["val_acc"]))  # one epoch
        assert [trial["score"] for trial in record["trials"]] == scores
        assert record["chosen"]["trial"] == choose(scores)
        for run in record["final_runs"]:
            spec = RunSpec.from_json(runs / run["run_id"] / "spec.json")
            assert spec == RunSpec.from_dict(run["spec"]) and spec.evaluate_test
            assert runfolder.verify(runs / run["run_id"])["final_test_acc"] is not None
    table = (workdir / "results" / "t" / "tuning" / "states.md").read_text()
    assert "n_states=4 | manhattan" in table and "| n_states=16 |" in table  # tuned at 16
    collected = pd.read_csv(workdir / "results" / "t" / "collected" / "runs.csv")
    assert collected["run_id"].is_unique
    shared = [
        [run["run_id"] for run in json.loads((selected / name).read_text())["final_runs"]]
        for name in ("ideal.sbp.p0.json", "devices.sbp.p0.json")
    ]
    assert shared[0] == shared[1]
    marks = dict(zip(collected["run_id"], collected["sweeps"], strict=True))
    assert {marks[run_id] for run_id in shared[0]} == {"tuned:devices;tuned:ideal"}

    trials = [runs / spec.run_id / "metrics.json" for unit in grid.tuning for spec in unit.trials]
    stamps = [path.stat().st_mtime_ns for path in trials]
    before = (selected / "devices.sbp.p1.json").read_bytes()
    (selected / "devices.sbp.p1.json").unlink()  # the tune stage stopped before this selection
    (workdir / "results" / "t" / "tuning" / "devices.md").unlink()
    lost, kept = json.loads((selected / "states.manhattan.p1.json").read_text())["final_runs"][:2]
    numbers = verified_numbers(runs / lost["run_id"])
    kept_stamp = (runs / kept["run_id"] / "metrics.json").stat().st_mtime_ns
    shutil.rmtree(runs / lost["run_id"])  # a final run gone after its batch finished
    snakemake(workdir, *TUNING_TARGETS)
    assert (selected / "devices.sbp.p1.json").read_bytes() == before
    assert [path.stat().st_mtime_ns for path in trials] == stamps
    assert verified_numbers(runs / lost["run_id"]) == numbers  # its batch ran again for it
    assert (runs / kept["run_id"] / "metrics.json").stat().st_mtime_ns == kept_stamp

    # K = 3: one more trial per unit, the first two reused (a dry run plans only the new ones)
    more = {**SHARED_POINT, "tuning": {**SHARED_POINT["tuning"], "trials": 3}}
    (workdir / "config" / "test.yaml").write_text(yaml.safe_dump(more))
    planned = snakemake(workdir, "-n", *TUNING_TARGETS).stdout
    train = [line.split() for line in planned.splitlines() if line.startswith("train ")]
    assert train and int(train[0][1]) == len(grid.tuning) - 1  # ideal.sbp shares devices.sbp.p0's


@pytest.mark.slow
def test_the_paper_workflows_run_folder_cache_keeps_every_run_the_tuned_profile_trained(
    tuned_pipeline,
):
    """paper.yml prunes its cached run folders to those the profile owns; by the grid alone it
    dropped every tuned final run, so each weekly run retrained them all."""
    results = tuned_pipeline / "results" / "t"
    grid = grid_of(SHARED_POINT)
    trained = {path.name for path in (results / "runs").iterdir() if not path.name.startswith(".")}
    owned = owned_run_ids(grid.runs, results / "tuning" / "selected")
    finals = owned - set(grid.runs)
    assert finals and finals <= trained  # final runs the grid does not name, each trained
    assert trained <= owned and set(grid.runs) <= owned
    workflow = (ROOT / ".github" / "workflows" / "paper.yml").read_text()
    assert 'owned_run_ids(grid.runs, runs.parent / "tuning" / "selected")' in workflow


RESUME = {
    "profile": "resume",
    "base": {"dataset": "digits", "epochs": 2},
    "seeds": [0],
    "sweeps": {"methods": {"methods": ["sbp", "manhattan"]}},
    "tuning": {
        "trials": 4,
        "trial_epochs": 1,
        "final_seeds": [0],
        "sweeps": {"methods": "each_point"},
    },
}
"""Two tuning units of K = 4 one-epoch trials, each a job of a few seconds."""

USER_PROFILE = ["--workflow-profile", "workflow/profiles/default"]
"""The options `make run` gives Snakemake (rerun-incomplete, keep-incomplete among them)."""


def in_progress(runs: Path, run_ids: list[str]) -> list[str]:
    """The runs of `run_ids` being written now: a staging folder (runfolder.staging), no
    metrics.json."""
    return [
        run_id
        for run_id in run_ids
        if any(runs.glob(f".{run_id}.*.new")) and not (runs / run_id / "metrics.json").exists()
    ]


def verified_numbers(folder: Path) -> dict:
    """The metrics of an intact finished run but for its record (it certifies wall times)."""
    metrics = runfolder.verify(folder)
    del metrics[runfolder.RECORD]
    return metrics


def kill_group(process: subprocess.Popen) -> None:
    """End Snakemake and its jobs as a user's Ctrl-C or a cancelled cluster job would: SIGTERM to
    the whole process group, then SIGKILL to whatever is left of it."""
    os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    with contextlib.suppress(ProcessLookupError):  # unless the group ended on SIGTERM
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@pytest.mark.slow
def test_a_killed_tune_stage_resumes_without_retraining_a_finished_trial(tmp_path):
    """Snakemake is killed while a trial trains, after another finished and before any
    selection; the rerun a user would type trains only the unfinished runs and chooses what an
    uninterrupted tune stage chooses. Trials train in `train-batch` jobs of 3, as the default
    profile batches them (one job per run was checked alike when this test was written; CI
    keeps the batched case, the user's)."""
    config = {**RESUME, "train": {"batch_runs": 3}}
    trials = [spec.run_id for unit in grid_of(config).tuning for spec in unit.trials]
    targets = ["results/resume/tuning/methods.csv"]
    workdir = workflow_copy(tmp_path / "killed", config)
    runs = workdir / "results" / "resume" / "runs"
    selected = workdir / "results" / "resume" / "tuning" / "selected"
    with open(tmp_path / "killed.log", "w") as log:
        first = subprocess.Popen(
            [SNAKEMAKE, *USER_PROFILE, "--cores", "1", *targets, "--configfile",
             "config/test.yaml"],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 1200
        while first.poll() is None and time.monotonic() < deadline:
            finished = [run_id for run_id in trials if (runs / run_id / "metrics.json").exists()]
            if finished and in_progress(runs, trials):
                break
            time.sleep(0.02)
        if first.poll() is not None:
            pytest.fail(f"ended before the kill:\n{(tmp_path / 'killed.log').read_text()[-3000:]}")
        kill_group(first)
    finished = [run_id for run_id in trials if (runs / run_id / "metrics.json").exists()]
    interrupted = in_progress(runs, trials)  # its staging folder is left behind
    assert finished and interrupted and not list(selected.glob("*.json")), (finished, interrupted)
    before = {
        run_id: ((runs / run_id / "metrics.json").read_bytes(),
                 (runs / run_id / "metrics.json").stat().st_mtime_ns)
        for run_id in finished
    }  # fmt: skip

    rerun = snakemake(workdir, *USER_PROFILE, *targets)
    log = rerun.stdout + rerun.stderr
    retrained = set(re.findall(r"run_id=([0-9a-f]{12})", log))  # the rerun's train jobs
    said = {}  # what the rerun's train-batch jobs did with each of their runs
    for batch in re.findall(r"^(?:local)?rule train_batch_(\w+):", log, re.M):
        batch_log = workdir / "results" / "resume" / "logs" / "train_batch" / f"{batch}.log"
        said.update(
            re.findall(r"^([0-9a-f]{12}) (finished before|ok):", batch_log.read_text(), re.M)
        )
    for run_id in finished:  # never retrained: the same bytes, and no job of its own
        metrics = runs / run_id / "metrics.json"
        assert metrics.read_bytes() == before[run_id][0] and run_id not in retrained
        if run_id in said:  # Snakemake touches every output of a job it reran, kept ones too
            assert said[run_id] == "finished before"
        else:
            assert metrics.stat().st_mtime_ns == before[run_id][1]
    for run_id in interrupted:
        assert run_id in retrained or said.get(run_id) == "ok"
        runfolder.verify(runs / run_id)

    clean = workflow_copy(tmp_path / "clean", config)
    snakemake(clean, *USER_PROFILE, *targets)
    clean_runs = clean / "results" / "resume" / "runs"
    for run_id in trials:  # the interrupted trial too: the numbers of an uninterrupted run
        assert verified_numbers(runs / run_id) == verified_numbers(clean_runs / run_id)
    clean_selected = clean / "results" / "resume" / "tuning" / "selected"
    names = sorted(path.name for path in clean_selected.glob("*.json"))
    assert names == ["methods.manhattan.p0.json", "methods.sbp.p0.json"]
    for name in names:
        assert (selected / name).read_bytes() == (clean_selected / name).read_bytes()
        for run in json.loads((selected / name).read_text())["final_runs"]:
            assert runfolder.verify(runs / run["run_id"])["final_test_acc"] is not None


def test_costed_runs_take_the_tuned_final_runs_in_place_of_the_untuned_ones():
    runs = pd.DataFrame(
        [
            ("u1", "sbp", "methods;devices", True),  # untuned, tuned in devices only
            ("u2", "sbp", "devices", True),  # untuned, replaced
            ("u3", "sgd", "devices", True),  # untuned sgd: sgd not tuned here, kept
            ("t1", "sbp", "", False),  # a trial
            ("f1", "sbp", "tuned:devices", True),  # a tuned final run
            ("s1", "ste", "", True),  # an off-chip twin, in no sweep
        ],
        columns=["run_id", "method", "sweeps", "evaluate_test"],
    )
    out = tuned_in_place_of_untuned(runs)
    assert dict(zip(out["run_id"], out["sweeps"], strict=True)) == {
        "u1": "methods", "u3": "devices", "f1": "devices", "s1": "",
    }  # fmt: skip


def test_the_protocol_document_lists_every_declared_search_space():
    document = (ROOT / "docs" / "tuning_protocol.md").read_text()
    for name, rule in RULES.items():
        for dimension in rule.search_space:
            row = f"| `{name}` | `{dimension.name}` | {dimension.describe()} | {dimension.reason} |"
            assert row in document
