"""`sbp-bench compare` and the profile summary: the generated profile, the table, summary.md."""

from __future__ import annotations

import pandas as pd
import pytest

from sbp_core import compare
from sbp_core.cli import main
from sbp_core.errors import ConfigError
from sbp_core.methods import RULES
from sbp_core.report.summary import collapse
from sbp_core.spec import RunSpec


def test_the_generated_profile_runs_every_on_chip_rule_and_sbps_documented_reading(tmp_path):
    config = compare.profile_config("epiram", "digits", 3, 2, None)
    assert config["profile"] == "compare-epiram-digits"
    assert config["base"] == {"dataset": "digits", "epochs": 3, "device": "epiram"}
    assert config["seeds"] == [0, 1]
    on_chip = {name for name, rule in RULES.items() if rule.on_chip}
    assert {"sbp", "sgd", "manhattan"} <= on_chip
    assert set(config["sweeps"]["rules"]["methods"]) == on_chip
    reading = config["sweeps"][compare.READING_SWEEP]
    assert reading["methods"] == ["sbp"]
    assert reading["base"]["pulse_scheme"] == "set_only" and reading["base"]["margin_hi"] == 2.0
    assert (
        compare.READING_SWEEP not in compare.profile_config("ideal", "digits", 1, 1, None)["sweeps"]
    )


def test_a_device_file_is_run_from_its_full_path_and_a_bad_device_is_one_line(tmp_path):
    device = tmp_path / "my dev.yaml"
    device.write_text(
        "n_states: 40\nnl_ltp: 1.0\nnl_ltd: -1.0\non_off: 10\nc2c_sigma: 0.01\ng_max_s: 1e-6\n"
    )
    config = compare.profile_config(str(device), "digits", 1, 1, None)
    assert config["base"]["device"] == str(device.resolve())
    assert config["profile"] == "compare-my-dev-digits"
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        compare.profile_config("nope", "digits", 1, 1, None)
    with pytest.raises(ConfigError, match="missing.yaml: device file not found"):
        compare.profile_config(str(tmp_path / "missing.yaml"), "digits", 1, 1, None)


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
    assert table.loc["sbp", "reading"] == "documented"
    assert table.loc["sbp", "energy_saving"] == pytest.approx(2.0)  # 4 J over 2 J
    assert table.loc["sbp", "area_saving"] == pytest.approx(2.0)


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


@pytest.mark.slow
def test_compare_end_to_end_on_a_tiny_digits_profile(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["compare", "--device", "epiram", "--epochs", "1", "--seeds", "2", "--cores", "2"]
    assert main(argv) == 0
    printed, progress = capsys.readouterr()
    assert "progress:" in progress and "workflow steps (100%)" in progress
    out = tmp_path / "results" / "compare-epiram-digits" / "compare"
    assert printed.strip() == (out / "summary.md").read_text().strip()
    rows = [line for line in printed.splitlines() if line.startswith("| ") and "---" not in line]
    rules = [line.split(" | ")[0].removeprefix("| ") for line in rows[1:]]
    assert sorted(rules) == sorted([*compare.ON_CHIP, "sbp"])  # sbp also at its reading
    assert "set-only + refresh, wide (docs/sbp_on_real_devices.md)" in printed
    sgd = next(line for line in rows if line.startswith("| sgd |"))
    assert sgd.endswith("| 1x | 1x |")
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    summary = (tmp_path / "results" / "compare-epiram-digits" / "summary.md").read_text()
    assert summary.startswith("# What profile compare-epiram-digits found")
    assert "- Data: UCI digits; 2 seed(s)" in summary
    assert "**epiram**: best " in summary and "points ahead of" in summary
    assert "against the conventional design" in summary
    assert "Pulse parameters: every device's from its source." in summary  # EpiRAM's are cited
    # a rerun reuses every finished run: the workflow has nothing to do
    assert main(argv) == 0
    assert "Nothing to be done" in (out / "snakemake.log").read_text()


def test_the_summary_skips_tuning_trials_and_names_tuned_final_runs():
    """A trial scored no test set: it neither ranks nor breaks the collapse check (its curve is
    all NaN); a tuned final run is its rule's `(tuned)` setting beside the untuned one; SBP's
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
            run("u", "sbp", 0.10, "devices"),
            run("s", "sgd", 0.30, "devices"),
            run("t", "sbp", None, "", epochs=4, evaluate_test=False, pulse_prob=0.5),
            run("f", "sbp", 0.70, "tuned:devices", pulse_prob=0.5),
        ]
    )
    history = pd.DataFrame(
        {"run_id": ["u", "s", "t", "f"], "epoch": [1] * 4, "test_acc": [0.1, 0.3, None, 0.7]}
    )
    (line,) = [line for line in summary_lines("p", runs, history, None) if "pcmo" in line]
    assert line.startswith("- **pcmo**: best sbp (tuned) 70.0 %, 40.0 points ahead of sgd")
    assert "SBP 70.0 % (sbp (tuned), chosen on validation)" in line
