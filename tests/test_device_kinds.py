"""Device kinds are one module each: the worked example of docs/device_kinds.md, installed as a
module of sbp_core.chip.kinds, is read from its file, trains (compiled equal to the reference)
and compiles its kernels; the kinds are dispatched by their protocol. And the run ids of
presets, device files and lookup tables are those main gave before the kinds were modules."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from sbp_core import identity
from sbp_core.chip import kinds
from sbp_core.chip.device import (
    PRESET_DIGESTS_AS_INTRODUCED,
    PRESETS,
    PRESETS_DIR,
    device_file_text,
    device_for,
    preset_identity,
    read_device_file,
    values_digest,
)
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.errors import ConfigError
from sbp_core.spec import RunSpec

DOC = Path(__file__).resolve().parents[1] / "docs" / "device_kinds.md"


@pytest.fixture
def soft_bounds(tmp_path, monkeypatch):
    """The kind of docs/device_kinds.md, as the module sbp_core.chip.kinds.soft_bounds."""
    code, sample = re.findall(r"```(?:python|yaml)\n(.*?)```", DOC.read_text(), flags=re.S)
    folder = tmp_path / "kinds"
    folder.mkdir()
    (folder / "soft_bounds.py").write_text(code)
    monkeypatch.setattr(kinds, "__path__", [*kinds.__path__, str(folder)])
    path = tmp_path / "soft.yaml"
    path.write_text(sample)
    return path


def test_a_new_kind_is_found_by_its_module_and_read_from_its_file(soft_bounds):
    assert "soft_bounds" in kinds.kind_names()
    device = read_device_file(soft_bounds)
    assert device.kind == "soft_bounds" and device.rate == 0.05 and device.n_states == 50
    assert device.to_dict()["rate"] == 0.05
    again = soft_bounds.with_name("again.yaml")
    again.write_text(device_file_text(device))
    assert read_device_file(again) == device
    text = soft_bounds.read_text()
    for bad, message in [("rate: 0.05", "rate: lots"), ("rate: 0.05", "rate: 2")]:
        soft_bounds.write_text(text.replace(bad, message))
        with pytest.raises(ConfigError, match=rf"^{soft_bounds}: .*rate"):
            read_device_file(soft_bounds)
    soft_bounds.write_text(text.replace("rate: 0.05\n", ""))
    with pytest.raises(ConfigError, match=r"missing key 'rate'"):
        read_device_file(soft_bounds)
    with pytest.raises(ConfigError, match=r"nl_ltp does not apply to a soft-bounds device"):
        device_for(RunSpec(device=str(again), nl_ltp=1.0))


def test_a_soft_bounds_pulse_moves_a_device_rate_of_the_way_to_its_bound(soft_bounds):
    """Hand-worked: Gmin = 0.1 (on/off 10), rate 0.05, no noise. From g = 0.5 a SET gives
    0.5 + 0.05 (1 - 0.5) = 0.525 and a RESET 0.5 - 0.05 (0.5 - 0.1) = 0.48; the engine agrees."""
    from sbp_core.chip import engine

    device = read_device_file(soft_bounds).with_overrides(c2c_sigma=0.0)
    devices = device.build_array((2,), np.random.default_rng(0))
    g = np.array([0.5, 0.5], dtype=np.float32)
    devices.respond(g, np.array([0, 1]), np.array([True, False]), np.random.default_rng(0))
    np.testing.assert_allclose(g, [0.525, 0.48], rtol=1e-6)
    compiled = np.array([0.5, 0.5], dtype=np.float32)
    records = devices.responses()
    engine.pulse_devices(compiled, records, np.array([0, 1]), np.array([True, False]), False,
                         np.random.default_rng(0))  # fmt: skip
    assert np.array_equal(compiled, g)


def test_a_new_kind_trains_compiled_equal_to_reference_and_its_kernels_compile(
    soft_bounds, tmp_path
):
    from sbp_core import train
    from sbp_core.cli import main
    from sbp_core.data import binarize, load_dataset
    from sbp_core.methods.sbp import SBPLearner

    data = load_dataset("digits", seed=0)
    X, y = binarize(data.X_train[:300], 0.5, data.max_value), data.y_train[:300]
    spec = RunSpec(n_hidden=24, device=str(soft_bounds), read_noise=0.02, stuck_gmin=0.02)
    states = []
    for name in ("numpy", "numba"):
        rng = np.random.default_rng(3)
        learner = SBPLearner(spec, X.shape[1], 10, rng, engine=name)
        learner.fit_epoch(X, y, rng)
        states.append(learner.state())
    for name in states[0]:
        assert np.array_equal(states[0][name], states[1][name]), name

    metrics = train.run(RunSpec(epochs=3, device=str(soft_bounds)), tmp_path / "run")
    assert metrics["status"] == "ok" and metrics["final_test_acc"] > 0.5
    assert metrics["device"] == read_device_file(soft_bounds).to_dict()
    assert main(["compile", "--device-kinds", "neurosim,soft_bounds"]) == 0


def test_the_compile_command_names_an_unknown_kind(capsys):
    from sbp_core.cli import main

    assert main(["compile", "--device-kinds", "neurosim,magic"]) == 2
    error = capsys.readouterr().err
    assert error == (
        "sbp-bench: error: --device-kinds: kind must be one of lookup_table, neurosim, "
        "got 'magic'\n"
    )


def test_a_device_is_resolved_once_per_grid_file(tmp_path, monkeypatch):
    """A sweep over many points reads its device file once, and the grid knows its kinds."""
    from sbp_core import grid
    from sbp_core.chip import device as device_module

    path = tmp_path / "mine.yaml"
    path.write_text(device_file_text(PRESETS["epiram"]))
    reads = []
    real = device_module.read_device_file

    def counted(where):
        reads.append(where)
        return real(where)

    monkeypatch.setattr(grid, "read_device_file", counted)
    config = {
        "profile": "t", "seeds": [0, 1], "base": {"device": str(path), "epochs": 1},
        "sweeps": {"s": {"methods": ["sbp", "sgd"], "axes": {"c2c_sigma": [0.0, 0.01, 0.02]}}},
    }  # fmt: skip
    schema = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    expanded = grid.expand(grid.validate_config(config, schema))
    assert len(expanded.runs) == 12 and reads == [str(path)]
    assert expanded.device_kinds == ("neurosim",)


# --- the presets are shipped device files; run ids as main gave them --------------------------


def test_every_preset_is_a_shipped_device_file_with_its_citation():
    assert sorted(path.stem for path in PRESETS_DIR.glob("*.yaml")) == sorted(PRESETS)
    assert {"ideal", "ag_si", "taox_hfox", "pcmo", "alox_hfo2", "gst_pcm", "epiram"} < set(PRESETS)
    for name, device in PRESETS.items():
        assert device.name == name and device.kind == "neurosim" and device.citation
        assert read_device_file(PRESETS_DIR / f"{name}.yaml") == device
    assert "Jo et al., Nano Lett. 2010" in PRESETS["ag_si"].citation


PRESET_DICTS = json.loads((Path(__file__).with_name("presets_main.json")).read_text())
"""Every preset's to_dict as main 243668b had it (its presets were Python literals then)."""


TABLE_II_CORRECTIONS = {
    "ag_si": {"r_access_ohm": 15e3}, "taox_hfox": {"r_access_ohm": 15e3},
    "pcmo": {"r_access_ohm": 15e3}, "epiram": {"r_access_ohm": 15e3},
    "alox_hfo2": {
        "g_max_s": 1 / 16.9e3, "v_set": 0.9, "v_reset": 1.0, "pulse_width_s": 100e-6,
        "r_access_ohm": 15e3,
    },
    "gst_pcm": {
        "g_max_s": 1 / 4.71e3, "v_set": 0.7, "v_reset": 3.0, "pulse_width_s": 6e-6,
        "reset_pulse_width_s": 125e-9, "r_access_ohm": 15e3,
    },
    "hzo_fefet": {"g_max_s": 1 / 559.28e3, "v_reset": 2.95},
}  # fmt: skip
"""What the presets changed since main 243668b: NeuroSim V3.0's Table II (its manual, pp. 23-24)
where the presets had assumed values, and NeuroSim's 15 kOhm access transistor in every 1T1R cell
(docs/neurosim_validation.md, "The presets against Table II")."""


def _introduced(name: str) -> DeviceParams:
    values = {k: v for k, v in PRESET_DICTS[name].items() if k != "g_min_s"}
    return DeviceParams(**{**values, "on_off": values["on_off"] or math.inf})


@pytest.mark.parametrize("name", sorted(PRESET_DICTS))
def test_a_preset_holds_the_parameters_main_gave_but_table_ii_corrections(name):
    expected = dataclasses.replace(_introduced(name), **TABLE_II_CORRECTIONS.get(name, {}))
    assert dataclasses.replace(PRESETS[name], citation="") == dataclasses.replace(
        expected, citation=""
    )
    assert "Table II, pp. 23-24" in PRESETS[name].citation or name == "ideal"


@pytest.mark.parametrize("name", sorted(PRESET_DICTS))
def test_the_introduced_digest_of_a_preset_is_that_of_the_values_main_gave(name):
    assert values_digest(_introduced(name))[:16] == PRESET_DIGESTS_AS_INTRODUCED[name]
    changed = name in TABLE_II_CORRECTIONS
    assert (preset_identity(name) == name) is not changed


MINIMAL_FILE = (
    "n_states: 40\nnl_ltp: 1.0\nnl_ltd: -1.0\non_off: 10\nc2c_sigma: 0.01\ng_max_s: 1e-6\n"
)
TABLE_FILE = MINIMAL_FILE + (
    "kind: lookup_table\ntables:\n- device: A\n  g_min_S: 1.0e-7\n  g_max_S: 1.0e-6\n"
    "  set: {conductance_S: [1.0e-7, 5.0e-7], step_S: [1.0e-8, 1.0e-8], sigma_S: [0, 0]}\n"
    "  reset: {conductance_S: [1.0e-7, 5.0e-7], step_S: [-1.0e-8, -1.0e-8], sigma_S: [0, 0]}\n"
)
PINNED_PRESETS = {
    ("ideal", "sbp"): "c1cfccd45187", ("ideal", "sgd"): "7dc68f83fe64",
    ("ideal", "exsitu"): "c178f02ac37d", ("ag_si", "sbp"): "9a1b46605af8",
    ("taox_hfox", "sgd"): "5ad27a9a3fae", ("pcmo", "exsitu"): "be9711060569",
    ("alox_hfo2", "sbp"): "ff610a0b02d5", ("gst_pcm", "sgd"): "c8ce4b446185",
    ("hzo_fefet", "exsitu"): "c97aa805bb68",
}  # fmt: skip
"""Run ids main 243668b gave (seed 3): a preset is named in the spec, so its file is no part."""
PINNED_FILES = {
    ("minimal", "sbp", "as is"): "c4adfc31cbdf", ("minimal", "sgd", "as is"): "577db1e55287",
    ("minimal", "sbp", "noisier"): "f9004d9dda2c",
    ("table", "sbp", "as is"): "6e93181c7c21", ("table", "sgd", "as is"): "257507be44ab",
    ("table", "sbp", "stuck"): "d5bb7565f16f", ("table", "sgd", "deep"): "027831f4c559",
}  # fmt: skip
"""Run ids main 243668b gave for device files (their content's SHA-256 stands for them)."""


@pytest.mark.parametrize(("name", "method"), sorted(PINNED_PRESETS))
def test_a_preset_run_keeps_its_run_id_until_its_preset_changes(name, method):
    """Runs on `ideal` keep their ids; the presets Table II corrected get new ones, on purpose."""
    same = RunSpec(device=name, method=method, seed=3).run_id == PINNED_PRESETS[name, method]
    assert same is (name not in TABLE_II_CORRECTIONS)


SPEC_FIELDS = {
    "as is": {}, "noisier": {"c2c_sigma": 0.05}, "stuck": {"stuck_gmin": 0.1},
    "deep": {"n_hidden": [8, 4]},
}  # fmt: skip


@pytest.mark.parametrize(("text", "method", "fields"), sorted(PINNED_FILES))
def test_a_device_file_run_keeps_its_run_id(tmp_path, text, method, fields):
    path = tmp_path / "mine.yaml"
    path.write_text({"minimal": MINIMAL_FILE, "table": TABLE_FILE}[text])
    spec = RunSpec(device=str(path), method=method, **SPEC_FIELDS[fields])
    assert identity.device_stamped(spec).run_id == PINNED_FILES[text, method, fields]
