"""The learning rules declare themselves once (sbp_core.methods.registry): every list of methods
follows from their records, a new rule is its module alone, and no run id moved."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sbp_core.chip.device import preset_identity
from sbp_core.fields import names_device_file
from sbp_core.methods import CROSSBAR_METHODS, DEPTH_COMPILED, RULES
from sbp_core.spec import LATER_FIELDS, METHOD_FIELDS, SBP_RULE_FIELDS, RunSpec

TOY_FOLDER = Path(__file__).parent / "toy_rule"
SHA = "ab" * 32

PINNED_IDS = [
    ({}, "d93014d3c9fe"),
    ({"method": "float"}, "a069c09a67a1"),
    ({"method": "ste"}, "628ba8ccc882"),
    ({"method": "binarized"}, "72ff74d918e7"),
    ({"method": "exsitu"}, "a8996e013b2b"),
    ({"method": "manhattan"}, "2bbc64d8a76e"),
    ({"method": "sgd"}, "b69241fc71a5"),
    ({"device": "ag_si"}, "43272812a651"),
    ({"device": "taox_hfox"}, "64a7ab548863"),
    ({"device": "pcmo"}, "b158d2cdcb25"),
    ({"device": "alox_hfo2"}, "ea3e4b67f216"),
    ({"device": "gst_pcm"}, "ceb3c836e2e9"),
    ({"device": "epiram"}, "d70cc11dac51"),
    ({"device": "hzo_fefet"}, "50dbdbc53b92"),
    ({"method": "sgd", "device": "epiram", "dataset": "mnist"}, "6a798ad2b8ff"),
    ({"device": "fitted.yaml", "device_sha256": SHA}, "0468e4f6b984"),
    (
        {"method": "exsitu", "device": "dir/other.yml", "device_sha256": SHA,
         "program": "open_loop"},
        "8b518f98069e",
    ),
    ({"n_hidden": [256, 128]}, "6a12aab1593e"),
    ({"method": "sgd", "n_hidden": [64, 32, 16], "adc_bits": 6, "lr_out": 0.1}, "ed42e08b6739"),
    (
        {"method": "float", "n_hidden": [256, 128], "real_inputs": True, "activation": "relu"},
        "58907d731707",
    ),
    ({"pulse_prob_final": 0.05}, "9aaed27fe5f1"),
    ({"refresh_every": 1000}, "99c5b39a782e"),
    ({"refresh_level": 0.8}, "57883e10ee9a"),
    (
        {"pulse_scheme": "set_only", "refresh_every": 1000, "refresh_level": 0.7,
         "pulse_prob": 0.1, "pulse_prob_final": 0.01, "margin_hi": 2.0, "margin_lo": -2.0,
         "gate_window": 2.0},
        "b5f0a9284e40",
    ),
    (
        {"method": "exsitu", "verify_tolerance": 0.02, "verify_max_pulses": 10,
         "d2d_sigma": 0.3},
        "983e88af91fd",
    ),
    ({"method": "manhattan", "pulse_prob": 0.5, "batch_size": 64, "lr": 0.01}, "ad9d860bdf3e"),
    # evaluate_test came later (the tuning protocol): at true it leaves the 243668b id alone
    ({"method": "sgd", "evaluate_test": True}, "b69241fc71a5"),
    (
        {"error_threshold": 0.1, "theta": 0.2, "init_spread": 0.5, "data_sha256": "cd" * 32},
        "6b4fc26af437",
    ),
]  # fmt: skip
"""Run ids computed on main at 243668b, before the rules declared their own fields: presets,
device files, deep networks, every LATER_FIELDS case, each method's own fields."""
PINNED_IDS += [
    ({"method": "ttv2"}, "a9ebcab26345"),
    ({"method": "ttv2", "ttv2_bl": 10, "adc_bits": 6}, "834a58dd0d0f"),
    ({"method": "cttv2"}, "f94cea963b5d"),
    ({"method": "cttv2", "ttv2_bl": 10}, "6efbd833d893"),
    ({"method": "mixed_precision"}, "9473fb992885"),
]  # fmt: skip
"""Run ids of the rules issue 24 registered, computed when it did (unlike the rules above,
they hold every field of their own, and sgd's adc_bits and lr_out as every run does)."""
PINNED_IDS += [
    ({"method": "sgd", "sigmoid_gain": 1.0, "init_levels": 0, "init_write": "exact",
      "bias_row": True, "pulse_cast": "exact"}, "b69241fc71a5"),
    ({"method": "sgd", "pulse_scheme": "reference", "sigmoid_gain": 0.5, "init_levels": 7,
      "init_write": "neurosim"}, "a8213586136b"),
    ({"r_access_ohm": 15000.0}, "7d0d97c821b3"),
    ({"method": "sgd", "r_access_ohm": 0.0}, "49cd7f2ac3e8"),
    ({"pulse_prob": 0.1, "pulse_rng": "pair"}, "5f9cc88c661d"),  # computed before pulse_rng
]  # fmt: skip
"""Run ids with sgd's NeuroSim-compatible fields and the access resistance (issue 23), computed
when they landed: at the values runs had before, the ids of those runs."""
PINNED_IDS += [
    ({"method": "agad"}, "b1e59490df5d"),
    ({"method": "agad", "agad_chop_every": 10, "agad_tail_weight": 2.0, "ttv2_bl": 15},
     "ae75f0842aaa"),
]  # fmt: skip
"""Run ids of AGAD (issue 24), computed when it landed."""

SPEC_KEYS_AT_243668B = sorted(
    [
        "method",
        "dataset",
        "data_sha256",
        "n_train",
        "val_fraction",
        "binarize_threshold",
        "input_crop",
        "real_inputs",
        "n_hidden",
        "epochs",
        "epoch_samples",
        "seed",
        "device",
        "device_sha256",
        "n_states",
        "nl_ltp",
        "nl_ltd",
        "c2c_sigma",
        "d2d_sigma",
        "stuck_gmin",
        "stuck_gmax",
        "read_noise",
        "theta",
        "margin_hi",
        "margin_lo",
        "error_threshold",
        "gate_window",
        "pulse_scheme",
        "pulse_prob",
        "pulse_prob_final",
        "refresh_every",
        "refresh_level",
        "init_spread",
        "lr",
        "batch_size",
        "activation",
        "adc_bits",
        "lr_out",
        "program",
        "verify_tolerance",
        "verify_max_pulses",
    ]
)
"""The 41 keys of a spec's JSON (spec.json, the run id's canonical JSON) at 243668b."""
KEYS_OF_LATER_RULES = [
    "ttv2_bl", "ttv2_transfer_every", "ttv2_transfer_lr", "ttv2_threshold", "cttv2_chop_every",
    "agad_chop_every", "agad_tail_weight",
]  # fmt: skip
"""The fields rules registered since declare (issue 24: ttv2, cttv2, agad); spec.json holds them
too."""
SGD_NEUROSIM_KEYS = ["sigmoid_gain", "init_levels", "init_write", "bias_row", "pulse_cast"]
"""sgd's own fields since issue 23 (its NeuroSim-compatible reading)."""
SBP_LATER_KEYS = ["pulse_rng"]
"""SBP's own fields added since (its random numbers per line, docs/cost_model.md)."""


@pytest.mark.parametrize(("values", "run_id"), PINNED_IDS)
def test_run_ids_are_those_computed_before_the_rules_declared_their_fields(values, run_id):
    """...but on a preset whose values Table II changed since (docs/neurosim_validation.md),
    where every run has a new id on purpose."""
    device = values.get("device", "ideal")
    changed = not names_device_file(device) and preset_identity(device) != device
    assert (RunSpec(**values).run_id == run_id) is not changed


def test_the_pinned_sample_covers_every_later_field_and_every_method():
    varied = {name for values, _ in PINNED_IDS for name in values}
    assert set(LATER_FIELDS) <= varied
    assert {values.get("method", "sbp") for values, _ in PINNED_IDS} == set(RULES)


ADDED_SINCE_243668B = ("evaluate_test", "r_access_ohm")
"""Shared fields added since, each in LATER_FIELDS at the value runs before it had."""


def test_a_spec_flattens_to_the_same_keys_and_values_as_before():
    spec = RunSpec(method="sgd", adc_bits=6)
    flat = spec.to_dict()
    assert set(ADDED_SINCE_243668B) <= set(LATER_FIELDS)
    assert sorted(set(flat) - set(ADDED_SINCE_243668B)) == sorted(
        SPEC_KEYS_AT_243668B + KEYS_OF_LATER_RULES + SGD_NEUROSIM_KEYS + SBP_LATER_KEYS
    )
    assert flat["adc_bits"] == 6 and flat["margin_hi"] == 0.5 and flat["program"] == "write_verify"
    assert RunSpec.from_dict(json.loads(json.dumps(flat))) == spec


def test_the_derived_lists_are_what_they_were_written_as_before():
    from sbp_core.report.cost_figures import METHOD_STYLES
    from sbp_core.report.cost_tables import ON_CHIP_DESIGNS

    assert set(CROSSBAR_METHODS) == {
        "sbp", "exsitu", "manhattan", "sgd", "ttv2", "cttv2", "agad", "mixed_precision",
    }  # fmt: skip
    assert set(DEPTH_COMPILED) == {"sbp", "sgd", "ttv2", "cttv2", "agad", "mixed_precision"}
    assert ON_CHIP_DESIGNS == {
        "sbp": "sbp", "sgd": "conventional", "manhattan": "conventional",
        "ttv2": "ttv2", "cttv2": "cttv2", "agad": "agad", "mixed_precision": "mixed_precision",
    }  # fmt: skip
    assert list(METHOD_STYLES) == [
        "sbp", "sgd", "manhattan", "exsitu", "ttv2", "cttv2", "mixed_precision", "agad",
    ]  # fmt: skip
    assert METHOD_FIELDS["sgd"] == ("adc_bits", "lr_out", *SGD_NEUROSIM_KEYS)
    assert METHOD_FIELDS["mixed_precision"] == ("adc_bits", "lr_out")
    assert METHOD_FIELDS["ttv2"] == ("adc_bits", "lr_out", *KEYS_OF_LATER_RULES[:4])
    assert METHOD_FIELDS["cttv2"] == ("adc_bits", "lr_out", *KEYS_OF_LATER_RULES[:5])
    ttv2_keys, agad_keys = KEYS_OF_LATER_RULES[:4], KEYS_OF_LATER_RULES[5:]
    assert METHOD_FIELDS["agad"] == ("adc_bits", "lr_out", *ttv2_keys, *agad_keys)
    assert METHOD_FIELDS["exsitu"] == ("program", "verify_tolerance", "verify_max_pulses")
    assert set(SBP_RULE_FIELDS) == {
        "margin_hi", "margin_lo", "error_threshold", "gate_window", "pulse_prob",
        "pulse_prob_final", "pulse_rng", "refresh_every", "refresh_level",
    }  # fmt: skip
    assert RunSpec(method="exsitu").offchip_spec().method == "ste"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"method": "float", "adc_bits": 6},
            "adc_bits applies to methods agad, cttv2, mixed_precision, sgd, ttv2 only, not 'float'",
        ),
        (
            {"method": "sgd", "ttv2_bl": 8},
            "ttv2_bl applies to methods agad, cttv2, ttv2 only, not 'sgd'",
        ),
        (
            {"method": "cttv2", "agad_chop_every": 8},
            "agad_chop_every applies to method agad only, not 'cttv2'",
        ),
        ({"method": "agad", "agad_chop_every": 1}, "agad_chop_every must be >= 2, got 1"),
        (
            {"method": "ttv2", "cttv2_chop_every": 8},
            "cttv2_chop_every applies to method cttv2 only, not 'ttv2'",
        ),
        ({"method": "cttv2", "ttv2_bl": 0}, "ttv2_bl must be >= 1, got 0"),
        ({"method": "sgd", "margin_hi": 2.0}, "margin_hi applies to method sbp only, not 'sgd'"),
        ({"method": "ste", "real_inputs": True}, "real_inputs applies to method float only"),
        ({"margin_lo": 1.0, "margin_hi": 0.0}, "margin_lo (1.0) must not exceed margin_hi"),
    ],
)
def test_a_rules_own_field_is_refused_for_other_methods_and_checked_by_its_rule(values, message):
    from sbp_core.errors import ConfigError

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunSpec(**values)


TOY_CHECKS = textwrap.dedent(
    """
    import importlib.util, json, sys
    found = importlib.util.find_spec("sbp_core.methods")
    found.submodule_search_locations.append(sys.argv[1])  # the toy's folder joins the package
    package = importlib.util.module_from_spec(found)
    sys.modules["sbp_core.methods"] = package
    found.loader.exec_module(package)

    import numpy as np
    import yaml
    from sklearn.datasets import load_digits
    from sbp_core import cli, estimators
    from sbp_core.grid import expand, validate_config, with_spec_parts
    from sbp_core.report.cost_figures import METHOD_STYLES
    from sbp_core.report.cost_tables import ON_CHIP_DESIGNS
    from sbp_core.report.figures import AXIS_UNITS
    from sbp_core.spec import METHODS, RunSpec

    schema = with_spec_parts(yaml.safe_load(open(sys.argv[2])))
    config = validate_config(
        {"sweeps": {"toy": {"methods": ["toy"], "axes": {"toy_margin": [0.2, 0.9]}},
                    "both": {"methods": ["toy", "sbp"]}}},
        sys.argv[2],
    )
    train = cli._parser().parse_args(["train", "--out", "x", "--method", "toy",
                                      "--toy-margin", "0.3"])
    X, y = load_digits(return_X_y=True)
    sbp = estimators.SBPClassifier()
    model = estimators.ToyClassifier(n_hidden=16, epochs=1, toy_margin=0.8).fit(X[:200], y[:200])
    print(json.dumps({
        "methods": list(METHODS),
        "schema_methods": schema["$defs"]["sweep"]["properties"]["methods"]["items"]["enum"],
        "schema_field": schema["$defs"]["spec"]["properties"]["toy_margin"],
        "runs": sorted({spec.method for spec in expand(config).runs.values()}),
        "cli": [train.spec_method, train.spec_toy_margin],
        "classifier": sorted(set(model.get_params()) - set(sbp.get_params())),
        "sbp_classifier_has_toy_margin": "toy_margin" in sbp.get_params(),
        "learner": type(model.learner_).__name__,
        "design": ON_CHIP_DESIGNS["toy"],
        "style": METHOD_STYLES["toy"],
        "unit": AXIS_UNITS["toy_margin"],
        "run_ids": [RunSpec().run_id, RunSpec(method="sgd", adc_bits=6).run_id],
        "toy_run_ids": [RunSpec(method="toy").run_id, RunSpec(method="toy", toy_margin=0.9).run_id],
    }))
    """
)


def test_a_new_rule_is_its_module_alone():
    """A toy on-chip rule, one module in a folder added to the methods package's search path,
    appears in the spec, the config schema, the CLI, a classifier, the cost designs and the
    figures, and leaves every other run id alone."""
    schema = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    done = subprocess.run(
        [sys.executable, "-c", TOY_CHECKS, str(TOY_FOLDER), str(schema)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "toy" in found["methods"] and "toy" in found["schema_methods"]
    assert found["schema_field"]["minimum"] == 0.0
    assert "Method toy only" in found["schema_field"]["description"]
    assert found["runs"] == ["sbp", "toy"]
    assert found["cli"] == ["toy", "0.3"]
    assert found["classifier"] == ["toy_margin"]
    assert not found["sbp_classifier_has_toy_margin"]
    assert found["learner"] == "ToyLearner"
    assert found["design"] == "sbp"
    assert found["style"] == {"label": "toy", "marker": "x", "colour": 4}
    assert found["unit"] == "weight units"
    assert found["run_ids"] == ["d93014d3c9fe", RunSpec(method="sgd", adc_bits=6).run_id]
    assert len(set(found["toy_run_ids"])) == 2  # its own field is in its own runs' ids


def test_the_toy_rule_pulses_only_the_target_column_below_its_margin(monkeypatch):
    """Hand-worked: both hidden comparators fire (currents 1 > theta 0), so the output layer's
    driven rows are both hidden rows and the bias row; its currents are (0.3, 0.2, 0.9). For a
    sample of class 1 (0.2 < toy_margin 0.5) each of those rows gets one pulse up in column 1 and
    nothing else moves; for class 2 (0.9 >= 0.5) nothing moves at all."""
    monkeypatch.syspath_prepend(str(TOY_FOLDER))
    from toy import ToyLearner

    learner = ToyLearner(RunSpec(n_hidden=2), 3, 3, np.random.default_rng(0))
    learner.spec = SimpleNamespace(theta=0.0, toy_margin=0.5, pulse_prob=1.0)
    hidden, output = learner.layers
    monkeypatch.setattr(hidden, "read_rows", lambda rows, rng: np.ones(2, np.float32))
    monkeypatch.setattr(
        output, "read_rows", lambda rows, rng: np.array([0.3, 0.2, 0.9], np.float32)
    )

    def moved(label: int) -> np.ndarray:
        before = output.weights().copy()
        learner.fit_epoch(
            np.array([[True, False, True]]), np.array([label]), np.random.default_rng(1)
        )
        return output.weights() - before

    up = moved(1)
    assert (up[:, 1] > 0).all() and (up[:, [0, 2]] == 0).all()
    assert (moved(2) == 0).all()
