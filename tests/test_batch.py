"""`sbp-bench train-batch`: many runs in one process, each exactly as its own train job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sbp_core import runfolder
from sbp_core.cli import main
from sbp_core.spec import RunSpec

SPECS = [
    {"method": "sbp", "epochs": 2, "n_hidden": 24, "c2c_sigma": 0.02, "read_noise": 0.02},
    {"method": "ste", "epochs": 2, "n_hidden": 24},
    {"method": "exsitu", "epochs": 2, "n_hidden": 24},  # replays the ste run before it
]


def write_batch(path, specs):
    path.write_text("".join(json.dumps(spec) + "\n" for spec in specs))
    return path


def run_id(values):
    return RunSpec.from_dict(values).run_id


def numbers(folder):
    """metrics.json but for its verification record, which certifies history.csv and
    timing.json (wall times)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    del metrics[runfolder.RECORD]
    return metrics


def test_a_batch_writes_the_same_run_folders_as_one_job_per_run(tmp_path):
    batch = write_batch(tmp_path / "batch.jsonl", SPECS)
    assert main(["train-batch", str(batch), "--runs-dir", str(tmp_path / "batch"), "--quiet"]) == 0
    single = tmp_path / "single"
    ste = single / run_id(SPECS[1])
    for values in SPECS:
        spec_file = write_batch(tmp_path / "spec.json", [values])
        offchip = ["--offchip-run", str(ste)] if values["method"] == "exsitu" else []
        out = single / run_id(values)
        assert (
            main(["train", "--spec", str(spec_file), "--out", str(out), "--quiet", *offchip]) == 0
        )
    for values in SPECS:
        batched, alone = tmp_path / "batch" / run_id(values), single / run_id(values)
        runfolder.verify(batched)
        assert numbers(batched) == numbers(alone)
        for name in ("arrays.npz", "spec.json", "provenance.json", "epochs.npz"):
            if (alone / name).exists() or (batched / name).exists():
                assert (batched / name).read_bytes() == (alone / name).read_bytes(), name


def test_a_killed_batch_loses_only_its_unfinished_runs_and_a_rerun_trains_only_those(tmp_path):
    specs = [{"method": "sbp", "epochs": 1, "n_hidden": 16}] + [
        {"method": "sbp", "epochs": 40, "n_hidden": 64, "c2c_sigma": 0.02, "seed": seed}
        for seed in range(3)
    ]
    batch, runs = write_batch(tmp_path / "batch.jsonl", specs), tmp_path / "runs"
    command = [sys.executable, "-m", "sbp_core.cli", "train-batch", str(batch), "--quiet"]
    job = subprocess.Popen([*command, "--runs-dir", str(runs)], stdout=subprocess.PIPE)
    first = runs / run_id(specs[0]) / "metrics.json"
    staged = f".{run_id(specs[1])}.*.new"  # the second run's staging folder (runfolder.staging)
    deadline = time.monotonic() + 300
    while not (first.exists() and any(runs.glob(staged))):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)
    job.wait()
    assert any(runs.glob(staged))  # SIGKILL ran no cleanup
    visible = [path for path in runs.iterdir() if not path.name.startswith(".")]
    for folder in visible:  # every folder under a run's own name is whole and verified
        runfolder.verify(folder)
    finished = {folder.name for folder in visible}
    assert run_id(specs[0]) in finished and len(finished) < len(specs)
    kept = {name: (runs / name / "metrics.json").stat().st_mtime_ns for name in finished}

    rerun = subprocess.run([*command, "--runs-dir", str(runs)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    for values in specs:
        name = run_id(values)
        runfolder.verify(runs / name)
        said = "finished before" if name in finished else "ok"
        assert f"{name} {said}:" in rerun.stdout
    assert {name: (runs / name / "metrics.json").stat().st_mtime_ns for name in kept} == kept
    assert not [path.name for path in runs.iterdir() if path.name.startswith(".")]  # orphans gone


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"method": "adam"}', "line 2: method must be one of"),
        ('{"epochs": 1', "line 2: not JSON"),
        ("[1, 2]", "line 2: a line must hold one JSON object"),
        ('{"colour": 1}', "line 2: unknown spec key(s) colour"),
        ('{"epochs": 1, "run_id": "000000000000"}', "line 2: run_id '000000000000' is not"),
    ],
)
def test_a_bad_line_is_refused_in_one_line_naming_it_before_anything_trains(
    tmp_path, line, message
):
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps({"epochs": 1, "n_hidden": 8}) + "\n" + line + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "sbp_core.cli", "train-batch", str(batch), "--runs-dir",
         str(tmp_path / "runs")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert f"{batch}, {message}" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_a_run_that_fails_is_named_and_the_batch_goes_on(tmp_path):
    specs = [
        {"dataset": "mnist", "epochs": 1, "n_hidden": 8},
        {"epochs": 1, "n_hidden": 8},
    ]
    batch, runs = write_batch(tmp_path / "batch.jsonl", specs), tmp_path / "runs"
    code = main(["train-batch", str(batch), "--runs-dir", str(runs), "--mnist-dir", str(tmp_path)])
    assert code == 2
    assert not (runs / run_id(specs[0])).exists()
    runfolder.verify(runs / run_id(specs[1]))


def test_a_tuning_trial_in_a_batch_says_it_read_no_test_set(tmp_path):
    from sbp_core.batch import train_batch

    trial = RunSpec(epochs=1, n_hidden=8, evaluate_test=False)
    scored = RunSpec(epochs=1, n_hidden=8)
    outcomes = list(train_batch([trial, scored], tmp_path))
    assert [o.status for o in outcomes] == ["ok", "ok"]
    assert outcomes[0].message == "test set not read after 1 epochs"
    assert outcomes[1].message.startswith("test accuracy ") and " % after 1 epochs" in (
        outcomes[1].message
    )
