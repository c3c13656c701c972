"""Hostile input stops with one line naming the file or key, before any work (issue 22)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import write_idx_file
from test_curves import EXAMPLE
from test_device import TABLE_FILE, device_file

from sbp_core.chip.device import read_device_file
from sbp_core.data import centre_crop
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError, DataError
from sbp_core.fitting.curves import read_curves
from sbp_core.report import rule_log

SBP_BENCH = str(Path(sys.executable).with_name("sbp-bench"))


def one_line(caught: pytest.ExceptionInfo, path: Path) -> str:
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("profile.yaml", "sweeps:\n  c2c: {methods: [sbp]}\n  c2c: {methods: [float]}\n", "c2c"),
        ("profile.yaml", "base:\n  epochs: 5\n  epochs: 20\n", "epochs"),
        ("device.yml", "n_states: 40\nnl_ltp: 1\nn_states: 100\n", "n_states"),
        ("cost.yaml", "adc:\n  bits: {value: 4}\n  bits: {value: 8}\n", "bits"),
        ("spec.json", '{"epochs": 5, "epochs": 20}', "epochs"),
    ],
)
def test_a_key_written_twice_is_refused(tmp_path, name, text, key):
    """Issue item 3: the first value used to vanish silently."""
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"key '{key}' given twice") as caught:
        read_document(path, "missing")
    one_line(caught, path)


def test_a_profile_with_a_sweep_twice_stops_the_workflow_in_one_line(tmp_path):
    """Issue item 3, through Snakemake: its own loader keeps the last sweep."""
    from test_pipeline import TINY, snakemake, workflow_copy

    workdir = workflow_copy(tmp_path, TINY)
    profile = workdir / "config" / "test.yaml"
    profile.write_text(profile.read_text() + "seeds: [0, 1]\n")
    result = snakemake(workdir, "-n", check=False)
    assert result.returncode != 0
    assert result.stderr.startswith(f"sbp-bench: error: {profile}: not valid YAML (key 'seeds'")
    assert "given twice" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("step_S: [1.0e-8, 1.0e-8]", "step_S: [1.0e-8, -1.0e-9]", r"\.set: a SET step is negative"),
        ("step_S: [-1.0e-8, -1.0e-8]", "step_S: [-1.0e-8, 1.0e-9]",
         r"\.reset: a RESET step is positive"),
        ("step_S: [1.0e-8, 1.0e-8]", "step_S: [0, 0]", r"\.set: every step is 0"),
        ("step_S: [1.0e-8, 1.0e-8]", "step_S: [1.0e+30, 1.0e+30]", r"step is larger than"),
        ("g_max_S: 1.0e-6", "g_max_S: 1.0e-4", r"g_max_S exceeds 2 x the file's g_max_S"),
        ("[1.0e-7, 5.0e-7], step_S: [1", "[1.0e-7, 5.0e-5], step_S: [1",
         r"\.set: a knot lies outside"),
    ],
)  # fmt: skip
def test_an_impossible_lookup_table_device_is_refused(tmp_path, old, new, message):
    """Issue item 4: such devices used to train to chance and report `ok`."""
    assert read_device_file(device_file(tmp_path, TABLE_FILE)).table.devices == ("A",)
    path = device_file(tmp_path, TABLE_FILE.replace(old, new, 1))
    with pytest.raises(ConfigError, match=message) as caught:
        read_device_file(path)
    one_line(caught, path)


def test_a_device_file_named_in_capitals_is_read_as_yaml(tmp_path):
    """Issue item 11: `.YAML` used to be parsed as JSON."""
    path = tmp_path / "MINE.YAML"
    path.write_text(TABLE_FILE)
    assert read_device_file(path).table.devices == ("A",)


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    """Issue item 11: UnicodeDecodeError."""
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: r\xe9sistance\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text") as caught:
        read_device_file(path)
    one_line(caught, path)


def test_a_folder_given_as_a_file_is_one_line(tmp_path):
    """Issue item 11: IsADirectoryError."""
    with pytest.raises(ConfigError, match="is a folder, not a file") as caught:
        read_document(tmp_path, "missing")
    one_line(caught, tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--spec", "{folder}", "--out", "{folder}/run"], "{folder}: is a folder, not a file"),
        (["--out", "{file}"], "--out {file}: exists and is not a folder"),
        (["--input-crop", "4", "--dataset", "mnist", "--mnist-dir", "{folder}/wide", "--out",
          "{folder}/run", "--n-hidden", "4", "--epochs", "1", "--val-fraction", "0.5"],
         "input_crop needs square images; the mnist images have 30 pixels"),
    ],
)  # fmt: skip
def test_cli_mistakes_are_one_line(tmp_path, args, message):
    """Issue item 11: --spec a folder, --out a file; a crop of non-square (5 x 6) images."""
    names = {"folder": tmp_path, "file": tmp_path / "taken"}
    (tmp_path / "taken").write_text("")
    (tmp_path / "wide").mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("t10k", 20)):
        images = rng.integers(0, 256, size=(n, 5, 6))
        write_idx_file(tmp_path / "wide" / f"{split}-images-idx3-ubyte.gz", images, gz=True)
        labels = np.arange(n) % 10
        write_idx_file(tmp_path / "wide" / f"{split}-labels-idx1-ubyte.gz", labels, gz=True)
    command = [SBP_BENCH, "train", *(arg.format(**names) for arg in args)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"sbp-bench: error: {message.format(**names)}\n"


def test_a_crop_of_images_that_are_not_square_is_one_line():
    with pytest.raises(ConfigError, match="the digits images have 12 pixels"):
        centre_crop(np.zeros((2, 12)), 2, "digits")


def test_a_curves_file_with_a_byte_order_mark_reads_as_without(tmp_path):
    """Issue item 11: a spreadsheet's "CSV UTF-8" export starts with a BOM."""
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    with_bom, plain = read_curves(path), read_curves(EXAMPLE)
    assert with_bom.devices == plain.devices and len(with_bom.ramps) == len(plain.ramps)


def test_a_rule_error_is_in_its_log_and_one_line(tmp_path):
    """Issue item 9: the log used to stay empty and Snakemake showed a traceback."""
    smk = SimpleNamespace(log=[str(tmp_path / "rule.log")])
    with pytest.raises(SystemExit) as caught, rule_log(smk):
        raise DataError("runs/abc/history.csv: missing")
    line = "sbp-bench: error: runs/abc/history.csv: missing"
    assert str(caught.value) == line
    assert (tmp_path / "rule.log").read_text() == line + "\n"
    with pytest.raises(KeyError), rule_log(smk):
        raise KeyError("unexpected")
    assert "KeyError: 'unexpected'" in (tmp_path / "rule.log").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cost_overrides": {"adc_bitz": 4}}, "cost_overrides: unknown cost constant adc_bitz"),
        ({"mlflow": {"tracking_uri": "htp://localhost:5000"}}, "'htp://localhost:5000' does not"),
    ],
)
def test_what_a_late_job_needs_is_checked_by_the_dry_run(tmp_path, extra, message):
    """Issue item 10: these used to fail only after every run had trained."""
    from test_pipeline import TINY, snakemake, workflow_copy

    result = snakemake(workflow_copy(tmp_path, {**TINY, **extra}), "-n", check=False)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "sbp-bench: error" in line]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]


def test_the_readme_says_how_to_recover_from_a_killed_run_and_a_failed_verification():
    """Issue item 12: after `kill -9` Snakemake needs --unlock; the README did not say so."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    troubleshooting = readme.split("\n### Troubleshooting\n", 1)[1].split("\n#", 1)[0]
    assert "snakemake --unlock" in troubleshooting and "kill -9" in troubleshooting
    assert "counts as unfinished (the pipeline retrains it)" in troubleshooting
