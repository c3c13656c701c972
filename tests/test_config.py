"""Config validation: shipped profiles pass, and every bad key or value is named in one line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sbp_core.errors import ConfigError
from sbp_core.grid import expand, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
MINIMAL = {"sweeps": {"methods": {"methods": ["sbp", "float"]}}}


def config_with(**changes) -> dict:
    config = copy.deepcopy(MINIMAL)
    config.update(changes)
    return config


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "neurosim.yaml"])
def test_shipped_profiles_are_valid(name):
    config = load_config(ROOT / "config" / name, SCHEMA)
    assert expand(config).runs


def test_defaults_are_filled_in():
    config = validate_config(copy.deepcopy(MINIMAL), SCHEMA)
    assert config["profile"] == "default"
    assert config["seeds"] == [0]
    assert config["mnist_dir"] is None
    assert config["mnist"]["checksums"] == "official"
    assert config["mnist"]["mirrors"][0].startswith("https://")
    assert config["train"]["mem_mb"] >= 100
    assert config["sweeps"]["methods"]["axes"] == {}


@pytest.mark.parametrize(
    ("config", "key"),
    [
        (config_with(sweepz={}), "sweepz"),
        (config_with(seeds=[-1]), "seeds.0"),
        (config_with(seeds="0"), "seeds"),
        (config_with(profile="a/b"), "profile"),
        (config_with(base={"n_hidden": "wide"}), "base.n_hidden"),
        (config_with(base={"hidden": 100}), "base.hidden"),
        (config_with(base={"dataset": "cifar"}), "base.dataset"),
        (config_with(mnist={"mirrors": ["ftp://x"]}), "mnist.mirrors.0"),
        (config_with(train={"mem_mb": 1}), "train.mem_mb"),
        ({"sweeps": {"s": {"methods": ["adam"]}}}, "sweeps.s.methods.0"),
        (
            {"sweeps": {"s": {"methods": ["sbp"], "axes": {"n_statez": [2]}}}},
            "sweeps.s.axes.n_statez",
        ),
        (
            {"sweeps": {"s": {"methods": ["sbp"], "axes": {"n_states": []}}}},
            "sweeps.s.axes.n_states",
        ),
        ({"sweeps": {"s": {"methods": ["sbp"], "colour": 1}}}, "sweeps.s.colour"),
        ({"sweeps": {"s": {"axes": {}}}}, "sweeps.s.methods"),
        ({"sweeps": {}}, "sweeps"),
        ({}, "sweeps"),
    ],
)
def test_bad_key_or_value_is_named(config, key):
    with pytest.raises(ConfigError) as caught:
        validate_config(config, SCHEMA)
    message = str(caught.value)
    assert message.startswith(f"config key {key}:"), message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("sweep", "named"),
    [
        ({"methods": ["sbp"], "axes": {"n_states": [1]}}, "n_states"),
        ({"methods": ["sbp"], "axes": {"device": ["unobtainium"]}}, "unobtainium"),
        ({"methods": ["sbp"], "base": {"margin_lo": 1.0, "margin_hi": 0.0}}, "margin_lo"),
    ],
)
def test_values_only_the_spec_can_judge_name_the_sweep(sweep, named):
    config = validate_config({"sweeps": {"bad": sweep}}, SCHEMA)
    with pytest.raises(ConfigError, match=rf"^config sweeps\.bad: .*{named}"):
        expand(config)


def test_unreadable_config_file_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sweeps: [unclosed\n")
    with pytest.raises(ConfigError, match="c.yaml: not valid YAML"):
        load_config(path, SCHEMA)
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml", SCHEMA)


def test_schema_spec_part_is_what_the_runspec_declarations_say():
    """Types, nullability, ranges, choices and descriptions: one source, RunSpec's fields (the
    shared ones and each rule's), filled into the schema the configs are validated against;
    the file itself leaves those parts empty, so nothing there can drift from the code."""
    from sbp_core.grid import with_spec_parts
    from sbp_core.spec import METHODS, spec_schema

    written = yaml.safe_load(SCHEMA.read_text())["$defs"]
    assert written["spec"]["properties"] == {}
    assert written["axis_field"]["enum"] == []
    assert written["sweep"]["properties"]["methods"]["items"]["enum"] == []
    schema = with_spec_parts(yaml.safe_load(SCHEMA.read_text()))
    properties = schema["$defs"]["spec"]["properties"]
    assert properties == spec_schema()
    assert properties["method"]["enum"] == list(METHODS)
    assert set(METHODS) == {
        "sbp", "float", "ste", "binarized", "exsitu", "manhattan", "sgd", "ttv2", "cttv2",
        "agad", "mixed_precision",
    }  # fmt: skip
    assert properties["adc_bits"] == {
        "description": "Methods sgd, ttv2, cttv2, agad, mixed_precision only: bits of the ADC "
        "that digitises each column current over its full range, +-(rows) weight units.",
        "type": "integer",
        "minimum": 1,
        "maximum": 16,
    }
    axis_fields = set(schema["$defs"]["axis_field"]["enum"])
    assert axis_fields == set(properties) - {"method", "seed", "data_sha256", "device_sha256"}
    assert schema["$defs"]["sweep"]["properties"]["methods"]["items"]["enum"] == list(METHODS)


def test_every_top_level_key_is_documented_with_a_default():
    schema = yaml.safe_load(SCHEMA.read_text())
    for name, prop in schema["properties"].items():
        assert prop.get("description"), name
        assert "default" in prop or name in schema["required"], name
