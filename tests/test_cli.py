"""The sbp-bench command line: options, spec files, one-line errors that lose nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from sbp_core.cli import main
from sbp_core.methods import RULES
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


def test_out_refuses_a_folder_holding_another_specs_run_unless_replace(tmp_path, capsys):
    out = tmp_path / "run"
    tiny = ["train", "--epochs", "1", "--n-hidden", "8", "--quiet", "--out", str(out)]
    assert main([*tiny, "--method", "ste"]) == 0
    first = (out / "spec.json").read_bytes()
    capsys.readouterr()
    assert main([*tiny, "--method", "float"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {out} holds another run" in err
    assert "--replace" in err and (out / "spec.json").read_bytes() == first
    assert main([*tiny, "--method", "ste"]) == 0  # the same spec reruns into its own folder
    assert main([*tiny, "--method", "float", "--replace"]) == 0
    assert json.loads((out / "spec.json").read_text())["method"] == "float"


def test_the_summary_line_prints_percent_like_the_epoch_lines(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", "--method", "ste", "--epochs", "1", "--n-hidden", "8", "--out", str(out)])
        == 0
    )
    captured = capsys.readouterr()
    accuracy = json.loads((out / "metrics.json").read_text())["final_test_acc"]
    assert f"test {100 * accuracy:5.2f}" in captured.err
    assert f"test accuracy {100 * accuracy:.2f} % after 1 epochs" in captured.out


def test_train_help_is_grouped_with_choices_real_defaults_and_no_internal_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    titles = re.findall(r"^([a-z][a-z ]*):$", text, re.M)
    assert titles == [
        "options",
        "data",
        "network and training",
        "device",
        "learning rule",
        "output",
    ]
    sections = dict(zip(titles, re.split(r"^[a-z][a-z ]*:$", text, flags=re.M)[1:], strict=True))
    assert "--mnist-dir" in sections["data"] and "--n-states" in sections["device"]
    assert "--margin-hi" in sections["learning rule"] and "--replace" in sections["output"]
    assert "--data-sha256" not in text and "--device-sha256" not in text
    assert "--method {" + ",".join(sorted(RULES)) + "}" in text
    assert (
        "--pulse-scheme {pair,single,set_only,reference}" in text and "epiram" in sections["device"]
    )
    assert "[default: None]" not in text
    squeezed = " ".join(text.split())
    assert "[default: the preset's (ideal: 256)]" in squeezed


def test_the_internal_options_still_parse_for_the_workflows_jobs(tmp_path, capsys):
    """Hidden from --help, not removed: the workflow's jobs pass them (spec_options)."""
    out = tmp_path / "run"
    code = main(["train", "--method", "ste", "--epochs", "1", "--n-hidden", "8", "--quiet",
                 "--data-sha256", "0" * 64, "--out", str(out)])  # fmt: skip
    assert code == 2  # parsed, then refused: the digits' SHA-256 is not the one given
    assert "data_sha256" in capsys.readouterr().err and not (out / "metrics.json").exists()


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("train", "fetch-mnist", "compile", "fit-device"):
        assert re.search(rf"^\s+{command}\b", text, re.M), command


@pytest.mark.parametrize(
    "form", [["--real-inputs"], ["--real-inputs", "true"], ["--real-inputs", "True"]]
)
def test_real_inputs_is_a_flag_and_keeps_the_value_form_and_the_run_id(tmp_path, form):
    out = tmp_path / "run"
    args = ["train", "--method", "float", "--epochs", "1", "--n-hidden", "8", "--quiet"]
    assert main([*args, *form, "--out", str(out)]) == 0
    written = json.loads((out / "spec.json").read_text())
    expected = RunSpec(method="float", epochs=1, n_hidden=8, real_inputs=True)
    assert written["real_inputs"] is True
    assert (
        written["run_id"]
        == RunSpec.from_dict({**expected.to_dict(), "data_sha256": written["data_sha256"]}).run_id
    )
