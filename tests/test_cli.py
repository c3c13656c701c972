"""The sbp-bench command line: options, spec files, one-line errors that lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sbp_core.cli import main
from sbp_core.spec import RunSpec


def test_train_writes_a_run_folder_and_options_override_the_spec_file(tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({"method": "ste", "epochs": 3, "n_hidden": 16}))
    out = tmp_path / "run"
    code = main(["train", "--spec", str(spec_file), "--epochs", "1", "--out", str(out)])
    assert code == 0
    written = json.loads((out / "spec.json").read_text())
    assert written["method"] == "ste" and written["epochs"] == 1 and written["n_hidden"] == 16
    assert written["run_id"] == RunSpec.from_dict(written).run_id
    captured = capsys.readouterr()
    assert "epoch   1/1" in captured.err and written["run_id"] in captured.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "nope"], "unknown preset 'nope'"),
        (["--n-states", "-3"], "n_states must be >= 2"),
        (["--epochs", "two"], "epochs must be an integer"),
        (["--method", "adam"], "method must be one of"),
        (["--dataset", "mnist", "--mnist-dir", "/nonexistent/mnist"], "/nonexistent/mnist"),
    ],
)
def test_bad_input_is_one_line_naming_the_culprit(tmp_path, args, message):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "sbp_core.cli", "train", "--out", str(out), "--epochs", "1", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("sbp-bench: error: ") and message in result.stderr
    assert not (out / "metrics.json").exists()


def test_bad_spec_files_name_the_file_and_key(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"learning_rate": 0.1}))
    for path, message in (
        (broken, "not valid JSON"),
        (unknown, "unknown spec key(s) learning_rate"),
    ):
        assert main(["train", "--spec", str(path), "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and message in err


def test_a_failing_run_leaves_an_existing_finished_run_untouched(tmp_path):
    done = tmp_path / "done"
    assert main(["train", "--epochs", "1", "--n-hidden", "8", "--quiet", "--out", str(done)]) == 0
    before = {p.name: p.read_bytes() for p in done.iterdir()}
    assert main(["train", "--device", "nope", "--out", str(tmp_path / "other")]) == 2
    assert {p.name: p.read_bytes() for p in done.iterdir()} == before


def test_help_documents_every_spec_field(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for field in ("--n-states", "--gate-window", "--c2c-sigma", "--pulse-scheme"):
        assert field in text
    assert "Hidden comparator threshold" in text
