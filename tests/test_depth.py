"""Networks of any depth: n_hidden as a list, its validation and run ids."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

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
