"""Grid expansion: counts, deduplication across sweeps, stable run ids, the shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from sbp_core import identity
from sbp_core.chip.device import PRESETS
from sbp_core.errors import ConfigError
from sbp_core.grid import expand, load_config, validate_config
from sbp_core.spec import SBP_RULE_FIELDS, RunSpec

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"


def grid_of(config: dict):
    return expand(validate_config(config, SCHEMA))


CONFIG = {
    "profile": "t",
    "base": {"epochs": 3},
    "seeds": [0, 1],
    "sweeps": {
        "methods": {"methods": ["sbp", "float", "exsitu"]},
        "states": {"methods": ["sbp", "exsitu"], "axes": {"n_states": [4, 16, 64]}},
        "grid": {
            "methods": ["sbp"],
            "base": {"d2d_sigma": 0.0},
            "axes": {"c2c_sigma": [0.0, 0.1], "d2d_sigma": [0.0, 0.2]},
        },
        "c2c": {"methods": ["sbp"], "base": {"d2d_sigma": 0.0}, "axes": {"c2c_sigma": [0.0, 0.1]}},
        "one_seed": {"methods": ["sbp"], "seeds": [7], "axes": {"n_hidden": [10]}},
    },
}


def test_each_sweep_is_methods_times_points_times_seeds():
    grid = grid_of(CONFIG)
    sizes = {name: len(sweep.run_ids) for name, sweep in grid.sweeps.items()}
    assert sizes == {"methods": 6, "states": 12, "grid": 8, "c2c": 4, "one_seed": 1}


def test_a_run_shared_by_two_sweeps_runs_once_and_belongs_to_both():
    grid = grid_of(CONFIG)
    # c2c is the d2d_sigma = 0 column of grid: all 4 of its runs are shared; 2 off-chip runs.
    assert len(grid.runs) == 6 + 12 + 8 + 1 + 2
    shared = [run_id for run_id, names in grid.memberships.items() if len(names) > 1]
    assert len(shared) == 4
    assert all(grid.memberships[run_id] == ("grid", "c2c") for run_id in shared)
    assert set(grid.memberships) == set(grid.runs)


def test_every_exsitu_run_has_its_offchip_ste_run_in_the_grid():
    grid = grid_of(CONFIG)
    exsitu = [spec for spec in grid.runs.values() if spec.method == "exsitu"]
    offchip = {spec.offchip_spec().run_id for spec in exsitu}
    assert len(exsitu) == 8 and len(offchip) == 2  # one network per seed serves 4 chips each
    for run_id in offchip:
        assert grid.runs[run_id].method == "ste" and grid.memberships[run_id] == ()
    with_ste = {**CONFIG, "sweeps": {"m": {"methods": ["exsitu", "ste"]}}}
    grid = grid_of(with_ste)
    assert len(grid.runs) == 4  # the sweep's own ste runs are the off-chip runs
    assert all(grid.memberships[run_id] == ("m",) for run_id in grid.runs)


def test_specs_combine_profile_base_sweep_base_axes_method_and_seed():
    grid = grid_of(CONFIG)
    specs = [grid.runs[run_id] for run_id in grid.sweeps["grid"].run_ids]
    assert {(s.c2c_sigma, s.d2d_sigma) for s in specs} == {(0, 0), (0, 0.2), (0.1, 0), (0.1, 0.2)}
    assert {s.seed for s in specs} == {0, 1}
    assert all(s.epochs == 3 and s.method == "sbp" for s in specs)
    assert [grid.runs[r].seed for r in grid.sweeps["one_seed"].run_ids] == [7]


def test_run_ids_are_stable_and_equal_to_the_specs_own():
    first, second = grid_of(CONFIG), grid_of(CONFIG)
    assert list(first.runs) == list(second.runs)
    for run_id, spec in first.runs.items():
        assert spec.run_id == run_id
    digits = identity.of_digits()
    expected = RunSpec(method="sbp", epochs=3, n_states=16, seed=1, data_sha256=digits).run_id
    assert expected in first.sweeps["states"].run_ids


def test_axis_values_are_coerced_like_spec_fields():
    grid = grid_of({"sweeps": {"s": {"methods": ["sbp"], "axes": {"n_states": ["8"]}}}})
    (spec,) = grid.runs.values()
    assert spec.n_states == 8


@pytest.mark.parametrize(
    ("axes", "methods", "figures"),
    [
        ({}, ["sbp", "float"], ("methods", "curves", "pulses")),
        ({}, ["float", "ste"], ("methods", "curves")),
        ({"n_states": [2, 4]}, ["sbp"], ("axis",)),
        ({"device": ["ideal"]}, ["sbp"], ("presets",)),
        ({"c2c_sigma": [0.0], "d2d_sigma": [0.0]}, ["sbp", "exsitu"], ("heatmap",)),
        ({"c2c_sigma": [0.0], "d2d_sigma": [0.0], "read_noise": [0.0]}, ["sbp"], ()),
    ],
)
def test_figures_follow_from_the_sweeps_present(axes, methods, figures):
    grid = grid_of({"sweeps": {"s": {"methods": methods, "axes": axes}}})
    assert grid.sweeps["s"].figures == figures


def test_default_profile_is_small_and_offline():
    grid = expand(load_config(ROOT / "config" / "config.yaml", SCHEMA))
    assert grid.profile == "default"
    trials = {spec.run_id for unit in grid.tuning for spec in unit.trials}
    # 193 untuned runs: 129, and the devices sweep's 64 of ttv2, cttv2, agad, mixed_precision
    assert 30 <= len(grid.runs) - len(trials) <= 200
    # the tuning protocol at K = 4, 4 epochs a trial (docs/tuning_protocol.md)
    assert {unit.sweep for unit in grid.tuning} == {"methods", "devices"}
    assert len(trials) <= 4 * len(grid.tuning) and all(len(u.trials) == 4 for u in grid.tuning)
    assert {spec.dataset for spec in grid.runs.values()} == {"digits"}
    assert {spec.method for spec in grid.runs.values()} == {
        "sbp", "float", "ste", "binarized", "exsitu", "manhattan", "sgd", "ttv2", "cttv2",
        "agad", "mixed_precision",
    }  # fmt: skip


def untuned_specs(grid):
    """The specs of the grid's runs but the tuning plan's: its trials and their off-chip runs
    (which score no test set) and the off-chip runs of its exsitu final runs."""
    planned = {s.run_id for u in grid.tuning for s in u.offchip_twins()}
    return [
        spec for run_id, spec in grid.runs.items() if spec.evaluate_test and run_id not in planned
    ]


def test_paper_profile_covers_the_reproduction():
    grid = expand(load_config(ROOT / "config" / "paper.yaml", SCHEMA))
    specs = untuned_specs(grid)
    assert grid.profile == "paper"
    assert {s.dataset for s in specs} == {"mnist"}
    assert {s.n_train for s in specs} == {0}  # all 60,000 training images (minus validation)
    assert len({s.epochs for s in specs}) == 1 and specs[0].epochs <= 20
    assert {s.seed for s in specs} == {0, 1, 2}
    assert {s.device for s in specs} == set(PRESETS)
    assert {s.n_states for s in specs} >= {2, 4, 8, 16, 32, 64, 128, 256}
    assert {s.n_hidden for s in specs} == {100, 200, 500, (256, 128), (256, 256, 128)}
    assert set(grid.sweeps["depth"].methods) == {"sbp", "float", "ste", "exsitu"}
    assert grid.kernel_depths == (1, 2, 3)
    heatmap = [n for n, sweep in grid.sweeps.items() if "heatmap" in sweep.figures]
    assert heatmap and grid.sweeps[heatmap[0]].methods[:2] == ("sbp", "exsitu")
    axes = {axis for sweep in grid.sweeps.values() for axis in sweep.axis_names}
    assert axes >= {"c2c_sigma", "d2d_sigma", "stuck_gmin", "read_noise", "device", "n_hidden"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"theta": float("nan")}, "theta must be a finite number, got nan"),
        ({"margin_hi": float("inf")}, "margin_hi must be a finite number"),
        ({"c2c_sigma": float("inf")}, "c2c_sigma must be a finite number"),
        ({"lr": 0.0}, r"lr must be > 0.0, got 0.0"),
        ({"pulse_prob": 0.0}, r"pulse_prob must be in \(0.0, 1.0\]"),
        ({"val_fraction": 0.95}, r"val_fraction must be in \[0.0, 0.9\]"),
        ({"n_hidden": 2.5}, "n_hidden must be an integer or a list of integers, got 2.5"),
        ({"epochs": None}, "epochs must not be empty"),
        ({"pulse_scheme": "both"}, "pulse_scheme must be one of pair, single"),
    ],
)
def test_run_spec_rejects_a_bad_field_in_one_line_naming_it(fields, message):
    with pytest.raises(ConfigError, match=message):
        RunSpec(**fields)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("sweeps: {s: {methods: [sbp], base: {theta: .nan}}}", r"sweeps.s: theta must be a finite"),
        ("sweeps: {s: {methods: [sbp], axes: {margin_lo: [-.inf]}}}", "margin_lo must be a finite"),
        ("base: {read_noise: .inf}\nsweeps: {s: {methods: [sbp]}}", "read_noise must be a finite"),
        ("sweeps: {s: {methods: [sbp], axes: {lr: [.nan]}}}", "lr must be a finite number"),
        ("train: {mem_mb: .nan}\nsweeps: {s: {methods: [sbp]}}", "train.mem_mb"),
    ],
)
def test_nan_and_infinity_in_a_config_stop_it_in_one_line_naming_the_key(
    tmp_path, yaml_text, message
):
    path = tmp_path / "profile.yaml"
    path.write_text(yaml_text + "\n")
    with pytest.raises(ConfigError, match=message) as caught:
        expand(load_config(path, SCHEMA))
    assert "\n" not in str(caught.value)


DEVICE_AXES = {"device", "n_states", "nl_ltp", "nl_ltd", "c2c_sigma", "d2d_sigma", "stuck_gmin"}
DEVICE_AXES |= {"stuck_gmax", "read_noise"}


SBP_ONLY_SETTINGS = (*(f for f in SBP_RULE_FIELDS if f != "pulse_prob"), "theta")
"""SBP's rule settings that Manhattan does not read (it does read pulse_prob)."""


@pytest.mark.parametrize("profile", ["config.yaml", "paper.yaml"])
def test_manhattan_runs_in_every_device_and_noise_sweep_that_sbp_runs_in(profile):
    """The classic on-chip sign rule is SBP's nearest baseline on every device it meets, but in
    the sweeps of SBP's own readings (set-only pulses, margins, gate, schedule, refresh: settings
    Manhattan does not read, so its runs there would repeat another sweep's)."""
    grid = expand(load_config(ROOT / "config" / profile, SCHEMA))
    defaults = RunSpec()
    for name, sweep in grid.sweeps.items():
        own_rule = any(
            spec.pulse_scheme == "set_only"
            or any(getattr(spec, f) != getattr(defaults, f) for f in SBP_ONLY_SETTINGS)
            for spec in (grid.runs[run_id] for run_id in sweep.run_ids)
        )
        if "sbp" in sweep.methods and DEVICE_AXES & set(sweep.axis_names) and not own_rule:
            assert "manhattan" in sweep.methods, name


@pytest.mark.parametrize("profile", ["config.yaml", "paper.yaml"])
def test_sgd_runs_beside_sbp_in_the_method_state_noise_and_device_sweeps(profile):
    """Every SBP configuration there has its conventional on-chip twin, for the cost comparison."""
    grid = expand(load_config(ROOT / "config" / profile, SCHEMA))
    for name in ("methods", "states", "c2c", "d2d", "devices"):
        assert {"sbp", "sgd"} <= set(grid.sweeps[name].methods), name


def test_neurosim_profile_is_neurosims_setting():
    grid = expand(load_config(ROOT / "config" / "neurosim.yaml", SCHEMA))
    specs = untuned_specs(grid)
    rules = {"sgd", "sbp", "manhattan", "ttv2", "cttv2", "agad", "mixed_precision"}
    # every on-chip rule of the devices sweep, tuned on every preset at K = 16 (tuning protocol)
    assert {(u.method, u.point["device"]) for u in grid.tuning} == {
        (method, device) for method in rules for device in PRESETS
    }
    assert {(len(u.trials), u.trials[0].epochs, u.final_seeds) for u in grid.tuning} == {
        (16, 25, (0, 1, 2, 3, 4))
    }
    assert {s.method for s in specs} == rules
    assert {s.device for s in specs} == set(PRESETS)
    assert {s.seed for s in specs} == {0, 1, 2}
    setting = {(s.dataset, s.input_crop, s.n_hidden, s.epoch_samples, s.epochs) for s in specs}
    assert setting == {("mnist", 20, 100, 8000, 125)}
    assert {(s.binarize_threshold, s.theta, s.lr, s.lr_out, s.adc_bits) for s in specs} == {
        (0.5, 0.0, None, None, 8)  # sgd's MNIST rates are NeuroSim's 0.4 / 0.2
    }
