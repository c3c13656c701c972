"""`sbp-bench compare` and the profile summary: the generated profile, the table, summary.md."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sbp_core import compare
from sbp_core.cli import main
from sbp_core.errors import ConfigError
from sbp_core.methods import RULES
from sbp_core.report.summary import collapse
from sbp_core.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]


def test_the_generated_profile_tunes_every_on_chip_rule_with_the_same_k():
    config = compare.profile_config("epiram", "digits", 20, 3, None, trials=8)
    assert config["profile"] == "compare-epiram-digits"
    assert config["base"] == {"dataset": "digits", "epochs": 20, "device": "epiram"}
    assert config["seeds"] == [0, 1, 2]
    assert config["train"] == {"batch_runs": compare.BATCH_RUNS}  # start-ups paid per batch
    on_chip = {name for name, rule in RULES.items() if rule.on_chip}
    assert {"sbp", "sgd", "manhattan"} <= on_chip
    assert set(config["sweeps"]) == {compare.SWEEP}  # no hand reading beside the tuned rules
    assert set(config["sweeps"][compare.SWEEP]["methods"]) == on_chip
    assert config["tuning"] == {
        "trials": 8,
        "trial_epochs": 4,  # a fifth of the final budget, as the profiles' trials
        "final_seeds": [0, 1, 2],
        "sweeps": {compare.SWEEP: "each_point"},
    }
    assert (
        compare.profile_config("epiram", "digits", 2, 1, None, trials=3)["tuning"]["trial_epochs"]
        == 1
    )


def test_trials_0_keeps_the_untuned_profile_with_sbps_documented_reading():
    config = compare.profile_config("epiram", "digits", 3, 2, None, trials=0)
    assert config["tuning"] is None
    reading = config["sweeps"][compare.READING_SWEEP]
    assert reading["methods"] == ["sbp"]
    assert reading["base"]["pulse_scheme"] == "set_only" and reading["base"]["margin_hi"] == 2.0
    ideal = compare.profile_config("ideal", "digits", 1, 1, None, trials=0)
    assert compare.READING_SWEEP not in ideal["sweeps"]


def test_a_generated_profile_is_a_valid_profile_for_the_workflow():
    from sbp_core.grid import expand, validate_config

    for trials, tuned in ((0, 0), (4, len(compare.ON_CHIP))):
        config = compare.profile_config("epiram", "digits", 5, 2, None, trials=trials)
        grid = expand(validate_config(config, ROOT / "config" / "schema.yaml"))
        assert len(grid.tuning) == tuned  # one tuning unit per rule, K trials each
        assert all(len(unit.trials) == trials for unit in grid.tuning)


def test_a_device_file_is_run_from_its_full_path_and_a_bad_device_is_one_line(tmp_path):
    device = tmp_path / "my dev.yaml"
    device.write_text(
        "n_states: 40\nnl_ltp: 1.0\nnl_ltd: -1.0\non_off: 10\nc2c_sigma: 0.01\ng_max_s: 1e-6\n"
    )
    config = compare.profile_config(str(device), "digits", 1, 1, None, trials=2)
    assert config["base"]["device"] == str(device.resolve())
    assert config["profile"] == "compare-my-dev-digits"
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        compare.profile_config("nope", "digits", 1, 1, None, trials=2)
    with pytest.raises(ConfigError, match="missing.yaml: device file not found"):
        compare.profile_config(str(tmp_path / "missing.yaml"), "digits", 1, 1, None, trials=2)


def test_rule_table_takes_median_and_interval_over_seeds_and_savings_against_sgd():
    runs = pd.DataFrame(
        {
            "run_id": list("abcdef"),
            "method": ["sgd"] * 3 + ["sbp"] * 3,
            "sweeps": ["rules"] * 3 + ["rules;sbp_reading"] * 3,
            "final_test_acc": [0.5, 0.6, 0.9, 0.7, 0.8, 0.75],
        }
    )
    energies = pd.DataFrame(
        {
            "run_id": list("abcdef"),
            "energy_per_sample_J": [4.0, 4.0, 6.0, 1.0, 2.0, 3.0],
            "area_um2": [10.0] * 3 + [5.0] * 3,
        }
    )
    table = compare.rule_table(runs, energies).set_index("rule")
    assert table.loc["sgd", "accuracy_median"] == pytest.approx(60.0)
    assert table.loc["sgd", "accuracy_low"] == pytest.approx(50.5)  # 2.5th percentile, linear
    assert table.loc["sgd", "accuracy_high"] == pytest.approx(88.5)
    assert table.loc["sgd", "energy_saving"] == 1.0
    assert table.loc["sbp", "setting"] == "documented"
    assert table.loc["sbp", "energy_saving"] == pytest.approx(2.0)  # 4 J over 2 J
    assert table.loc["sbp", "area_saving"] == pytest.approx(2.0)


def test_a_tuned_row_saves_against_tuned_sgd_and_trials_are_left_out():
    runs = pd.DataFrame(
        {
            "run_id": ["sd", "st", "bd", "bt", "trial"],
            "method": ["sgd", "sgd", "sbp", "sbp", "sbp"],
            "sweeps": ["rules", "tuned:rules", "rules", "tuned:rules", ""],
            "final_test_acc": [0.5, 0.8, 0.6, 0.9, None],
        }
    )
    energies = pd.DataFrame(
        {
            "run_id": ["sd", "st", "bd", "bt", "trial"],
            "energy_per_sample_J": [8.0, 6.0, 2.0, 3.0, 100.0],
            "area_um2": [10.0, 10.0, 5.0, 4.0, 1.0],
        }
    )
    table = compare.rule_table(runs, energies)
    assert list(zip(table["rule"], table["setting"], strict=True)) == [
        ("sbp", "tuned"), ("sbp", "defaults"), ("sgd", "tuned"), ("sgd", "defaults"),
    ]  # fmt: skip
    assert list(table["seeds"]) == [1, 1, 1, 1]  # the trial scored no test set
    assert list(table["energy_saving"]) == pytest.approx([2.0, 4.0, 1.0, 1.0])  # 6/3, 8/2
    assert list(table["area_saving"]) == pytest.approx([2.5, 2.0, 1.0, 1.0])
    config = compare.profile_config("epiram", "digits", 5, 1, None, trials=8)
    lines = compare.summary_lines(table, config, "UCI digits", assumed=False)
    assert lines[0] == (
        "# compare: epiram on UCI digits, 5 epochs, 1 seed(s); every rule tuned with K = 8 "
        "trials of 1 epoch(s), chosen on the validation split"
    )
    assert lines[4].startswith("| sbp | tuned (K = 8, chosen on validation) | 90.0 |")
    assert lines[5].startswith("| sbp | defaults (untuned; README, Method) | 60.0 |")


def test_a_collapse_names_the_best_epoch_and_a_plateau_is_no_collapse():
    history = pd.DataFrame(
        {
            "run_id": ["a"] * 3 + ["b"] * 3,
            "epoch": [1, 2, 3] * 2,
            "test_acc": [0.52, 0.3, 0.12, 0.50, 0.2, 0.14],
        }
    )
    assert collapse(history, ["a", "b"]) == "collapsed: best 51 % at epoch 1"
    history["test_acc"] = [0.5, 0.6, 0.55, 0.5, 0.6, 0.55]
    assert collapse(history, ["a", "b"]) is None


def test_the_progress_bar_fills_with_the_steps_done():
    from sbp_core.compare import progress_bar

    assert progress_bar(12, 40) == (
        f"progress: [{'#' * 9}{'.' * 21}] 12 of 40 workflow steps (30%)"
    )
    assert progress_bar(0, 7).startswith(f"progress: [{'.' * 30}] 0 of 7")
    assert progress_bar(7, 7).endswith(f"[{'#' * 30}] 7 of 7 workflow steps (100%)")


def test_on_a_terminal_the_bar_redraws_in_place_and_an_error_gets_its_own_line(monkeypatch, capsys):
    import sys

    from sbp_core.cli import _show_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    _show_progress("progress: [#.] 1 of 2 workflow steps (50%)")
    _show_progress("progress: [##] 2 of 2 workflow steps (100%)")
    _show_progress("sbp-bench: error: x.yaml: epochs must be positive")
    assert capsys.readouterr().err == (
        "\rprogress: [#.] 1 of 2 workflow steps (50%)"
        "\rprogress: [##] 2 of 2 workflow steps (100%)"
        "\nsbp-bench: error: x.yaml: epochs must be positive\n"
    )
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)  # a log: a line per step
    _show_progress("progress: [##] 2 of 2 workflow steps (100%)")
    assert capsys.readouterr().err == "progress: [##] 2 of 2 workflow steps (100%)\n"


@pytest.mark.slow
def test_compare_end_to_end_tunes_every_rule_on_a_tiny_digits_budget(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--device", "epiram", "--epochs", "2", "--seeds", "1", "--cores", "2"]
    assert main([*argv, "--trials", "2"]) == 0
    printed, progress = capsys.readouterr()
    assert f"progress: [{'#' * 30}] " in progress and "workflow steps (100%)" in progress
    results = tmp_path / "results" / "compare-epiram-digits"
    out = results / "compare"
    assert printed.strip() == (out / "summary.md").read_text().strip()
    assert printed.startswith(
        "# compare: epiram on UCI digits, 2 epochs, 1 seed(s); every rule tuned with K = 2 "
        "trials of 1 epoch(s), chosen on the validation split"
    )
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "---" not in line]
    cells = [line.split(" | ")[:2] for line in rows[1:]]
    tuned = sorted(
        rule.removeprefix("| ") for rule, setting in cells if setting.startswith("tuned")
    )
    assert tuned == sorted(compare.ON_CHIP)  # every rule's tuned final runs, labelled so
    assert {s for _, s in cells if s.startswith("tuned")} == {"tuned (K = 2, chosen on validation)"}
    assert len(cells) == 2 * len(compare.ON_CHIP)  # each beside its untuned defaults
    assert all(line.endswith("| 1x | 1x |") for line in rows if line.startswith("| sgd |"))
    assert "set-only + refresh" not in printed  # no hand reading once the rules are tuned
    for selected in (results / "tuning" / "selected").glob("*.json"):
        assert len(json.loads(selected.read_text())["trials"]) == 2
    assert "Sweep rules: 2 trials of 1 epochs" in (results / "tuning" / "rules.md").read_text()
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    summary = (results / "summary.md").read_text()
    assert summary.startswith("# What the compare-epiram-digits profile found")
    assert "- Data: UCI digits; 1 seed(s); rules: " in summary
    assert "**epiram**: best " in summary and "than the conventional design" in summary
    # a rerun reuses every finished run: the workflow has nothing to do
    assert main([*argv, "--trials", "2"]) == 0
    assert "Nothing to be done" in (out / "snakemake.log").read_text()
    # --trials 0: today's documented readings, untuned, from the same finished defaults runs
    capsys.readouterr()
    assert main([*argv, "--trials", "0"]) == 0
    printed = capsys.readouterr().out
    assert "; not tuned (--trials 0)" in printed.splitlines()[0]
    # the cost report and figures follow the runs of the latest compare, never an earlier one's
    runs_table = (results / "collected" / "runs.csv").stat().st_mtime
    assert (results / "cost" / "tables" / "cost_summary.md").stat().st_mtime >= runs_table
    assert (results / "cost" / "figures" / "rules.cost_breakdown.png").stat().st_mtime >= runs_table
    assert "| sbp | set-only + refresh, wide (docs/sbp_on_real_devices.md) |" in printed
    assert "tuned (K" not in printed


def test_the_summary_skips_tuning_trials_and_names_tuned_final_runs():
    """A trial scored no test set: it neither ranks nor breaks the collapse check (its curve is
    all NaN); a tuned final run is its rule's `(tuned)` setting beside the untuned one, and the
    best rule's margin is over another rule, not over its own untuned setting; SBP's
    setting is chosen on the final epoch's validation accuracy, the epoch whose test accuracy is
    reported, not on a best epoch that a collapse left behind."""
    from sbp_core.report.names import DIGITS_SHA256
    from sbp_core.report.summary import summary_lines

    def run(run_id, method, accuracy, sweeps, **fields):
        spec = RunSpec(method=method, device="pcmo", data_sha256=DIGITS_SHA256, **fields)
        layers = "[[65, 8], [9, 10]]"
        best = None if accuracy is None else 1 - accuracy  # the collapsed runs had the best epoch
        scores = {"final_test_acc": accuracy, "final_val_acc": accuracy, "best_val_acc": best}
        return {**spec.to_dict(), "run_id": run_id, "sweeps": sweeps, "layers": layers, **scores}

    runs = pd.DataFrame(
        [
            run("u", "sbp", 0.50, "devices"),
            run("s", "sgd", 0.30, "devices"),
            run("t", "sbp", None, "", epochs=4, evaluate_test=False, pulse_prob=0.5),
            run("f", "sbp", 0.70, "tuned:devices", pulse_prob=0.5),
        ]
    )
    history = pd.DataFrame(
        {"run_id": ["u", "s", "t", "f"], "epoch": [1] * 4, "test_acc": [0.5, 0.3, None, 0.7]}
    )
    lines = summary_lines("p", runs, history, None)
    assert "; rules: sbp, sgd; " in lines[0]  # the rules run, in the registry's order
    (line,) = [line for line in lines if "pcmo" in line]
    # the margin is over the best other rule, not over the same rule untuned (sbp, 50 %)
    assert line.startswith("- **pcmo**: best sbp (tuned) 70.0 %, 40.0 points ahead of sgd")
    assert "SBP 70.0 % (tuned; chosen on validation among 2 settings)" in line


def test_the_summary_reports_each_rule_at_one_setting_the_validation_split_chose():
    """Each rule is ranked at the setting its validation accuracy chose, not at its best test
    accuracy; a tuned rule chooses between its tuned and untuned settings only, so a reading
    the profile adds for SBP alone (set-only, here the best on test and on validation) gives it
    no extra try; an untuned rule chooses among all its settings, told apart even where one
    leaves a field at None (NaN once collected)."""
    from sbp_core.report.names import DIGITS_SHA256
    from sbp_core.report.summary import summary_lines

    def run(run_id, method, test, val, sweeps, **fields):
        spec = RunSpec(method=method, device="pcmo", data_sha256=DIGITS_SHA256, **fields)
        scores = {"final_test_acc": test, "final_val_acc": val, "best_val_acc": val}
        return {**spec.to_dict(), "run_id": run_id, "sweeps": sweeps, **scores}

    runs = pd.DataFrame(
        [
            run("u", "sbp", 0.40, 0.40, "devices"),
            run("f", "sbp", 0.60, 0.60, "tuned:devices", pulse_prob=0.5),
            run("o", "sbp", 0.90, 0.90, "devices_set_only", pulse_scheme="set_only"),
            run("s", "sgd", 0.70, 0.50, "devices"),  # the best test accuracy of sgd's two
            run("g", "sgd", 0.55, 0.65, "devices_lr", lr=0.05),
        ]
    ).assign(layers="[[65, 8], [9, 10]]")
    history = pd.DataFrame({"run_id": list("ufosg"), "epoch": [1] * 5, "test_acc": [0.5] * 5})
    (line,) = [line for line in summary_lines("p", runs, history, None) if "pcmo" in line]
    assert line.startswith("- **pcmo**: best sbp (tuned) 60.0 %, 5.0 points ahead of sgd (lr")
    assert "SBP 60.0 % (tuned; chosen on validation among 2 settings)" in line


def test_the_summarys_saving_is_the_saving_of_the_sbp_setting_it_reports():
    """Validation chose SBP's untuned setting: the saving is that setting's runs', not empty
    (the cost tables cost tuned runs only) and not the tuned runs'; runs the cost table lacks
    get a plain reason instead of a number."""
    from sbp_core.report.names import DIGITS_SHA256
    from sbp_core.report.summary import summary_lines

    def run(run_id, method, accuracy, sweeps, **fields):
        spec = RunSpec(method=method, device="pcmo", data_sha256=DIGITS_SHA256, **fields)
        scores = {"final_test_acc": accuracy, "final_val_acc": accuracy, "best_val_acc": accuracy}
        return {**spec.to_dict(), "run_id": run_id, "sweeps": sweeps, **scores}

    runs = pd.DataFrame(
        [
            run("u", "sbp", 0.78, "devices"),
            run("f", "sbp", 0.60, "tuned:devices", pulse_prob=0.5),
            run("s", "sgd", 0.85, "devices"),
        ]
    ).assign(layers="[[65, 8], [9, 10]]")
    history = pd.DataFrame(
        {"run_id": ["u", "f", "s"], "epoch": [1] * 3, "test_acc": [0.78, 0.6, 0.85]}
    )
    savings = pd.DataFrame(
        {"run_id": ["u", "f"], "energy_saving": [3.1, 0.5], "area_saving": [2.99, 0.7]}
    )
    (line,) = [line for line in summary_lines("p", runs, history, savings) if "pcmo" in line]
    assert (
        "SBP 78.0 % (untuned; chosen on validation among 2 settings), 3.1x less energy and 2.99x "
        "less area" in line
    )
    (line,) = [
        line for line in summary_lines("p", runs, history, savings.iloc[1:]) if "pcmo" in line
    ]
    assert (
        "SBP 78.0 % (untuned; chosen on validation among 2 settings) (no saving: the cost table "
        "holds none" in line
    )
    costlier = savings.assign(energy_saving=[0.25, 0.5], area_saving=[0.5, 0.7])
    (line,) = [line for line in summary_lines("p", runs, history, costlier) if "pcmo" in line]
    assert "(untuned; chosen on validation among 2 settings), 4x more energy and 2x more" in line


def test_a_margin_inside_the_seeds_spread_says_so():
    from sbp_core.report.names import DIGITS_SHA256
    from sbp_core.report.summary import summary_lines

    def run(run_id, method, accuracy, seed):
        spec = RunSpec(method=method, device="pcmo", data_sha256=DIGITS_SHA256, seed=seed)
        scores = {"final_test_acc": accuracy, "final_val_acc": accuracy, "best_val_acc": accuracy}
        return {**spec.to_dict(), "run_id": run_id, "sweeps": "devices", **scores}

    runs = pd.DataFrame(
        [run("a", "sbp", 0.93, 0), run("b", "sbp", 0.91, 1), run("c", "sgd", 0.915, 0)]
    ).assign(layers="[[65, 8], [9, 10]]")
    history = pd.DataFrame({"run_id": ["a", "b", "c"], "epoch": [1] * 3, "test_acc": [0.9] * 3})
    (line,) = [line for line in summary_lines("p", runs, history, None) if "pcmo" in line]
    assert line.startswith("- **pcmo**: best sbp 92.0 %, 0.5 points ahead of sgd, within the")


def test_the_summary_names_an_untuned_collapse_beside_the_tuned_setting():
    """Where a rule has tuned and untuned runs, a collapse names which of them collapsed."""
    from sbp_core.report.names import DIGITS_SHA256
    from sbp_core.report.summary import summary_lines

    def run(run_id, accuracy, sweeps, **fields):
        spec = RunSpec(method="sbp", device="ag_si", data_sha256=DIGITS_SHA256, **fields)
        scores = {"final_test_acc": accuracy, "final_val_acc": accuracy, "best_val_acc": accuracy}
        return {**spec.to_dict(), "run_id": run_id, "sweeps": sweeps, **scores}

    runs = pd.DataFrame(
        [run("u", 0.10, "devices"), run("f", 0.72, "tuned:devices", pulse_prob=0.5)]
    ).assign(layers="[[65, 8], [9, 10]]")
    history = pd.DataFrame(
        {"run_id": ["u", "u", "f", "f"], "epoch": [1, 2, 1, 2], "test_acc": [0.41, 0.1, 0.7, 0.72]}
    )
    (line,) = [line for line in summary_lines("p", runs, history, None) if "ag_si" in line]
    assert line.startswith("- **ag_si**: best sbp (tuned) 72.0 %; SBP 72.0 % (tuned; chosen")
    assert line.endswith("; sbp (untuned) collapsed: best 41 % at epoch 1")
