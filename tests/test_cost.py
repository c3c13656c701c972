"""Periphery cost model: totals, monotonicity, linearity in pulses, cited constants, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sbp_core import cost
from sbp_core.chip.device import PRESETS
from sbp_core.errors import ConfigError, DataError
from sbp_core.spec import RunSpec

CONFIG = Path(__file__).resolve().parents[1] / "config" / "cost.yaml"
DEVICE = cost.PulseDevice(
    v_set=1.6, v_reset=1.6, g_min_s=1e-6, g_max_s=1e-5, pulse_width_s=50e-9, n_states=128
)


@pytest.fixture(scope="module")
def values() -> dict[str, float]:
    return cost.constant_values(cost.load_constants(CONFIG))


MNIST_INPUT_ACTIVITY = 0.1323
"""Share of MNIST training pixels above half of full scale (103.7 of 784), as runs measure it."""


def mnist_layers(values, l1_pulses=2000.0, l2_pulses=100.0, hidden=100, inputs=785):
    return cost.make_layers(
        [[inputs, hidden], [hidden + 1, 10]],
        [l1_pulses, l2_pulses],
        [l1_pulses, l2_pulses],
        MNIST_INPUT_ACTIVITY,
        values["workload.line_activity"],
    )


@pytest.mark.parametrize("design", cost.DESIGNS)
def test_totals_are_the_sum_of_components(values, design):
    layers = mnist_layers(values)
    total = cost.network_cost(design, layers, DEVICE, values)
    per_layer = [cost.network_cost(design, [layer], DEVICE, values) for layer in layers]
    assert total.total_energy_J == pytest.approx(sum(total.energy_J.values()), rel=1e-12)
    assert total.total_area_um2 == pytest.approx(sum(total.area_um2.values()), rel=1e-12)
    assert total.total_energy_J == pytest.approx(sum(p.total_energy_J for p in per_layer))
    assert set(total.energy_J) == set(cost.ALL_COMPONENTS) == set(total.area_um2)
    assert all(v >= 0 for v in (*total.energy_J.values(), *total.area_um2.values()))


def test_both_designs_pay_the_same_array_and_switches(values):
    layers = mnist_layers(values)
    sbp = cost.network_cost("sbp", layers, DEVICE, values)
    conv = cost.network_cost("conventional", layers, DEVICE, values)
    for component in ("array", "decoders"):
        assert sbp.area_um2[component] == conv.area_um2[component] > 0
    assert conv.energy_J["array"] > sbp.energy_J["array"]  # bit-serial reads of the hidden layer


def test_conventional_cost_grows_with_adc_bits(values):
    layers = mnist_layers(values)
    energies, areas = [], []
    for bits in range(1, 13):
        conv = cost.network_cost(
            "conventional", layers, DEVICE, {**values, "conventional.adc_bits": bits}
        )
        energies.append(conv.total_energy_J)
        areas.append(conv.total_area_um2)
    assert all(b > a for a, b in zip(energies, energies[1:], strict=False))
    assert all(b > a for a, b in zip(areas, areas[1:], strict=False))


@pytest.mark.parametrize("design", cost.DESIGNS)
def test_cost_grows_with_array_size(values, design):
    previous = None
    for hidden in (10, 50, 100, 300, 1000):
        result = cost.network_cost(design, mnist_layers(values, hidden=hidden), DEVICE, values)
        if previous is not None:
            assert result.total_area_um2 > previous.total_area_um2
            assert result.total_energy_J > previous.total_energy_J
        previous = result
    small = cost.network_cost(design, mnist_layers(values, inputs=65), DEVICE, values)
    assert small.total_area_um2 < previous.total_area_um2


@pytest.mark.parametrize("design", cost.DESIGNS)
def test_energy_is_linear_in_pulse_count(values, design):
    def energy(pulses: float) -> cost.Cost:
        return cost.network_cost(design, mnist_layers(values, pulses, pulses / 20), DEVICE, values)

    zero, one, three = energy(0.0), energy(1000.0), energy(3000.0)
    slope = one.total_energy_J - zero.total_energy_J
    assert slope > 0
    assert three.total_energy_J - zero.total_energy_J == pytest.approx(3 * slope, rel=1e-9)
    assert one.total_area_um2 == three.total_area_um2
    # every component except the update is independent of the pulses
    for component in set(cost.COMPONENTS) - {"write"}:
        assert one.energy_J[component] == three.energy_J[component]


def test_programming_energy_is_v2_g_t_per_pulse(values):
    no_lines = {**values, "array.wire_capacitance_F_per_m": 0.0}
    layer = cost.make_layers([[10, 4]], [7.0], [3.0], 0.5, 0.5)
    sbp = cost.network_cost("sbp", layer, DEVICE, no_lines)
    expected = 10 * DEVICE.v_set**2 * DEVICE.g_mid_s * DEVICE.pulse_width_s
    assert sbp.energy_J["write"] == pytest.approx(expected, rel=1e-12)


def test_set_and_reset_pulses_are_charged_at_their_own_widths_worked_by_hand():
    """GST PCM's Table II pulses: 0.7 V for 6 us (SET), 3 V for 125 ns (RESET). At G_mid 1e-4 S,
    7 SET pulses cost 7 x 0.49 x 6e-6 x 1e-4 = 2.058e-9 J and 3 RESET pulses 3 x 9 x 1.25e-7 x
    1e-4 = 3.375e-10 J; at SET's width the RESETs would cost 3 x 9 x 6e-6 x 1e-4 = 1.62e-8 J."""
    device = cost.PulseDevice(
        v_set=0.7, v_reset=3.0, g_min_s=0.5e-4, g_max_s=1.5e-4, pulse_width_s=6e-6,
        n_states=100, reset_pulse_width_s=1.25e-7,
    )  # fmt: skip
    assert cost.programming_energy(device, 7, 3) == pytest.approx(2.3955e-9, rel=1e-12)
    one_width = dataclasses.replace(device, reset_pulse_width_s=None)
    assert cost.programming_energy(one_width, 7, 3) == pytest.approx(2.058e-9 + 1.62e-8, rel=1e-12)


def test_a_read_through_the_access_transistor_sees_the_series_conductance_worked_by_hand():
    """G from 1/100 kOhm to 1/10 kOhm, R 10 kOhm: R G runs over [0.1, 1], and the mean of
    G / (1 + R G) is (dG - ln(2 / 1.1) / R) / (R dG) with dG = 9e-5 S: (9e-5 - 5.97837e-5) /
    0.9 = 3.35737e-5 S, against 5.5e-5 S with no transistor."""
    device = cost.PulseDevice(
        v_set=1.0, v_reset=1.0, g_min_s=1e-5, g_max_s=1e-4, pulse_width_s=1e-8, n_states=2,
        r_access_ohm=1e4,
    )  # fmt: skip
    assert device.g_read_s == pytest.approx(3.35737e-5, rel=1e-5)
    spread = np.linspace(device.g_min_s, device.g_max_s, 200_001)  # the mean, numerically
    assert device.g_read_s == pytest.approx(np.mean(spread / (1 + 1e4 * spread)), rel=1e-6)
    assert device.g_mid_s == pytest.approx(5.5e-5)  # writes still at the cell's conductance
    assert DEVICE.g_read_s == DEVICE.g_mid_s  # no transistor: the read sees the cell


@pytest.mark.parametrize("design", cost.DESIGNS)
def test_read_energy_falls_by_the_access_transistors_share_and_nothing_else_moves(values, design):
    with_transistor = dataclasses.replace(DEVICE, r_access_ohm=15e3)
    layers = mnist_layers(values)
    plain = cost.network_cost(design, layers, DEVICE, values)
    series = cost.network_cost(design, layers, with_transistor, values)
    share = with_transistor.g_read_s / DEVICE.g_mid_s
    assert 0.85 < share < 1  # G up to 10 uS: R G up to 0.15
    assert series.energy_J["array"] == pytest.approx(share * plain.energy_J["array"], rel=1e-12)
    assert {k: v for k, v in series.energy_J.items() if k != "array"} == {
        k: v for k, v in plain.energy_J.items() if k != "array"
    }
    assert series.area_um2 == plain.area_um2


def test_conventional_write_energy_follows_the_pulses_it_is_given(values):
    base = {**values, "array.wire_capacitance_F_per_m": 0.0, "register.energy_J_per_bit": 0.0}
    layers = mnist_layers(values)
    once = cost.network_cost("conventional", layers, DEVICE, base)
    twice = cost.network_cost("conventional", cost.scaled_pulses(layers, 2.0), DEVICE, base)
    sbp = cost.network_cost("sbp", layers, DEVICE, base)
    assert once.energy_J["write"] == pytest.approx(sbp.energy_J["write"], rel=1e-12)
    assert twice.energy_J["write"] == pytest.approx(2 * once.energy_J["write"], rel=1e-12)
    assert twice.energy_J["readout"] == once.energy_J["readout"]  # pulses move the write only


def test_refresh_costs_its_reads_conversions_and_counter_worked_by_hand(values):
    """A 10 x 4 layer of DEVICE (n_states from the preset) refreshed every 1,000 samples, with
    0.08 device reads and 0.002 rewritten pairs per sample: reads at V^2 G_mid t_read, one
    ceil(log2 n_states)-bit conversion per pair, a 10-bit counter (1,000 < 2^10) stepped once."""
    layer = cost.make_layers(
        [[10, 4]], [0.0], [0.0], 0.5, 0.5,
        refresh_every=1000, refresh_reads=[0.08], refresh_pairs=[0.002],
    )  # fmt: skip
    sbp = cost.network_cost("sbp", layer, DEVICE, values)
    bits = math.ceil(math.log2(DEVICE.n_states))
    read = values["array.read_voltage_V"] ** 2 * DEVICE.g_mid_s * values["array.read_pulse_s"]
    expected_energy = (
        0.08 * read
        + 0.002 * values["adc.walden_fom_J_per_step"] * 2.0**bits
        + 10 * values["register.energy_J_per_bit"]
    )
    expected_area = cost.adc_area_um2(bits, values) + 10 * values["register.area_um2_per_bit"]
    assert sbp.energy_J["refresh"] == pytest.approx(expected_energy, rel=1e-12)
    assert sbp.area_um2["refresh"] == pytest.approx(expected_area, rel=1e-12)
    assert cost.network_cost("conventional", layer, DEVICE, values).energy_J["refresh"] == 0


def test_stochastic_pulses_pay_a_random_number_per_line(values):
    """16-bit LFSR and compare per row and column line: (10 + 4) lines x 16 bits."""
    plain, stochastic = (
        cost.make_layers([[10, 4]], [1.0], [1.0], 0.5, 0.5, stochastic=flag)
        for flag in (False, True)
    )
    per_bit = values["register.energy_J_per_bit"] + values["digital.add_energy_J_per_bit"]
    cost_plain = cost.network_cost("sbp", plain, DEVICE, values)
    cost_stochastic = cost.network_cost("sbp", stochastic, DEVICE, values)
    assert cost_plain.energy_J["pulse_rng"] == 0 and cost_plain.area_um2["pulse_rng"] == 0
    assert cost_stochastic.energy_J["pulse_rng"] == pytest.approx(14 * 16 * per_bit, rel=1e-12)
    others = set(cost.COMPONENTS) - {"pulse_rng"}
    assert all(cost_plain.energy_J[c] == cost_stochastic.energy_J[c] for c in others)


def test_stochastic_manhattan_pays_a_random_number_per_pair_written_row_by_row(values):
    """The Manhattan rule at pulse_prob < 1 on the conventional periphery, whose update writes
    the rows one by one: an LFSR and compare per column (4), stepped once per row written
    (1 + 0.5 x 9 = 5.5 on average): 16 bits each; nothing else moves. sgd ignores pulse_prob, so
    its runs never pay it, even where a profile sets the field."""
    from sbp_core.report.cost_tables import stochastic

    plain, drawn = (
        cost.make_layers([[10, 4]], [1.0], [1.0], 0.5, 0.5, stochastic=flag)
        for flag in (False, True)
    )
    before, after = (
        cost.network_cost("conventional", layers, DEVICE, values) for layers in (plain, drawn)
    )
    per_bit = values["register.energy_J_per_bit"] + values["digital.add_energy_J_per_bit"]
    area_per_bit = values["register.area_um2_per_bit"] + values["digital.add_area_um2_per_bit"]
    assert before.energy_J["pulse_rng"] == 0 and before.area_um2["pulse_rng"] == 0
    assert after.energy_J["pulse_rng"] == pytest.approx(5.5 * 4 * 16 * per_bit, rel=1e-12)
    assert after.area_um2["pulse_rng"] == pytest.approx(4 * 16 * area_per_bit, rel=1e-12)
    others = set(cost.COMPONENTS) - {"pulse_rng"}
    assert all(before.energy_J[c] == after.energy_J[c] for c in others)
    assert all(before.area_um2[c] == after.area_um2[c] for c in others)

    def row(method, **fields):
        return pd.Series(RunSpec(method=method, **fields).to_dict())

    assert stochastic(row("manhattan", pulse_prob=0.5)) and stochastic(row("sbp", pulse_prob=0.5))
    assert stochastic(row("sbp", pulse_prob_final=0.1))
    assert not stochastic(row("manhattan")) and not stochastic(row("sbp"))
    assert not stochastic(row("sgd", pulse_prob=0.5))


def test_sbp_is_cheaper_than_conventional_at_default_constants(values):
    layers = mnist_layers(values)
    sbp = cost.network_cost("sbp", layers, DEVICE, values)
    conv = cost.network_cost("conventional", layers, DEVICE, values)
    assert conv.total_area_um2 > sbp.total_area_um2
    assert conv.total_energy_J > sbp.total_energy_J


def test_gate_adds_comparators_on_hidden_layers_only(values):
    layers = mnist_layers(values)
    gated = cost.network_cost("sbp", layers, DEVICE, values, gated=True)
    open_ = cost.network_cost("sbp", layers, DEVICE, values, gated=False)
    extra = gated.area_um2["error_compute"] - open_.area_um2["error_compute"]
    assert extra == pytest.approx(2 * 100 * values["comparator.area_um2"])


def test_a_deeper_network_pays_for_every_hidden_neuron(values):
    """784-256-128-10, counted by hand: a comparator per neuron (256 + 128 + 10) and two per
    hidden neuron for its ternary error, read on the rows of the layer above (2 x (256 + 128));
    two gate comparators per hidden neuron and two margin comparators per output
    (2 x (256 + 128 + 10)); 1 bit per layer input and 2 per neuron error held; a 1-bit driver
    per row and, above layer 1, per column for the backward drive. The conventional design
    reads the two hidden layers' errors back through ADCs (one per columns_per_adc rows)."""
    shapes = [[785, 256], [257, 128], [129, 10]]
    layers = cost.make_layers(shapes, [10.0] * 3, [10.0] * 3, 0.13, 0.5)
    assert [(layer.first, layer.last) for layer in layers] == [
        (True, False), (False, False), (False, True),
    ]  # fmt: skip
    sbp = cost.network_cost("sbp", layers, DEVICE, values)
    comparator = values["comparator.area_um2"]
    assert sbp.area_um2["readout"] == pytest.approx((394 + 2 * 384) * comparator)
    assert sbp.area_um2["error_compute"] == pytest.approx(2 * 394 * comparator)
    bits = (784 + 256 + 128) + 2 * (256 + 128 + 10)
    assert sbp.area_um2["storage"] == pytest.approx(bits * values["register.area_um2_per_bit"])
    drivers = (785 + 257 + 129) + (128 + 10)
    assert sbp.area_um2["input_drivers"] == pytest.approx(drivers * values["dac.area_um2_1bit"])
    conv = cost.network_cost("conventional", layers, DEVICE, values)
    share = values["conventional.columns_per_adc"]
    adcs = sum(math.ceil(n / share) for n in (256, 128, 10, 256, 128))
    per_adc = cost.adc_area_um2(values["conventional.adc_bits"], values)
    shift_add = (values["conventional.adc_bits"] + max(
        values["conventional.input_bits"], values["conventional.error_bits"]
    )) * values["digital.add_area_um2_per_bit"]  # fmt: skip
    assert conv.area_um2["readout"] == pytest.approx(adcs * (per_adc + shift_add))


def test_every_constant_has_value_units_and_citation():
    raw = yaml.safe_load(CONFIG.read_text())
    leaves = {
        f"{group}.{name}": entry for group, items in raw.items() for name, entry in items.items()
    }
    assert set(leaves) == set(cost.SCHEMA)
    for key, entry in leaves.items():
        assert set(entry) == {"value", "unit", "citation"}, key
        assert isinstance(entry["value"], int | float) and entry["value"] >= 0, key
        assert entry["unit"].strip() and len(entry["citation"].strip()) > 10, key


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "cost.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_negative_constant_is_rejected_with_its_key(tmp_path):
    raw = yaml.safe_load(CONFIG.read_text())
    raw["adc"]["walden_fom_J_per_step"]["value"] = -1e-15
    with pytest.raises(ConfigError, match=r"adc\.walden_fom_J_per_step must not be negative"):
        cost.load_constants(_write(tmp_path, raw))


def test_missing_constant_is_rejected_with_its_key(tmp_path):
    raw = yaml.safe_load(CONFIG.read_text())
    del raw["comparator"]["energy_J"]
    with pytest.raises(ConfigError, match=r"missing cost constant comparator\.energy_J"):
        cost.load_constants(_write(tmp_path, raw))


def test_missing_citation_is_rejected_with_its_key(tmp_path):
    raw = yaml.safe_load(CONFIG.read_text())
    raw["dac"]["cycle_s"]["citation"] = " "
    with pytest.raises(ConfigError, match=r"dac\.cycle_s has no citation"):
        cost.load_constants(_write(tmp_path, raw))


def test_overrides_merge_over_defaults_and_are_marked(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("adc:\n  walden_fom_J_per_step: 50.0e-15\n")
    constants = cost.load_constants(
        CONFIG, override_files=[user], overrides={"conventional.adc_bits": 8}
    )
    fom = constants["adc.walden_fom_J_per_step"]
    assert fom.value == 50e-15 and fom.unit == "J per conversion step"
    assert "user override" in fom.citation and "mine.yaml" in fom.citation
    assert constants["conventional.adc_bits"].value == 8
    with pytest.raises(ConfigError, match=r"cost_overrides: unknown cost constant adc\.fom"):
        cost.load_constants(CONFIG, overrides={"adc.fom": 1.0})
    with pytest.raises(ConfigError, match=r"conventional\.adc_bits must not be negative"):
        cost.load_constants(CONFIG, overrides={"conventional.adc_bits": -2})
    with pytest.raises(ConfigError, match=r"conventional\.adc_bits must be a whole number"):
        cost.load_constants(CONFIG, overrides={"conventional.adc_bits": 0})


def _collected(tmp_path: Path) -> tuple[Path, Path]:
    """runs.csv and history.csv shaped like the collect rule's: two SBP runs, one float run."""
    device = {f"device.{key}": value for key, value in PRESETS["taox_hfox"].to_dict().items()}
    runs, history = [], []
    for run_id, method, seed in (
        ("a" * 12, "sbp", 0),
        ("b" * 12, "sbp", 1),
        ("c" * 12, "float", 0),
    ):
        crossbar = method == "sbp"
        per_epoch = [[300 - 100 * e, 20] for e in range(2)] if crossbar else [[0, 0]] * 2
        totals = [sum(p[i] for p in per_epoch) for i in range(2)]
        runs.append(
            {
                **RunSpec(method=method, device="taox_hfox", n_hidden=16, seed=seed).to_dict(),
                "run_id": run_id,
                "sweeps": "devices",
                "final_test_acc": 0.9 - seed / 100,
                "n_train": 100,
                "input_activity": 0.2929,
                "epochs_run": 2,
                "gate_window": 1.0,
                "pulse_prob": 1.0,
                "layers": json.dumps([[65, 16], [17, 10]]),
                "set_pulses_per_layer": json.dumps(totals),
                "reset_pulses_per_layer": json.dumps(totals),
                **(device if crossbar else dict.fromkeys(device)),
            }
        )
        for epoch, (l1, l2) in enumerate(per_epoch, start=1):
            history.append(
                {
                    "run_id": run_id,
                    "epoch": epoch,
                    "set_pulses_l1": l1,
                    "reset_pulses_l1": l1,
                    "set_pulses_l2": l2,
                    "reset_pulses_l2": l2,
                    "method": method,
                }
            )
    runs_csv, history_csv = tmp_path / "runs.csv", tmp_path / "history.csv"
    pd.DataFrame(runs).to_csv(runs_csv, index=False)
    pd.DataFrame(history).to_csv(history_csv, index=False)
    return runs_csv, history_csv


SWEEP = {
    "name": "devices",
    "description": "",
    "methods": ["sbp"],
    "axes": {"device": ["taox_hfox"]},
}
"""The sweep the runs of `_collected` belong to, as grid.Sweep.to_dict() gives it."""


def test_report_writes_tables_figures_and_per_run_costs(tmp_path):
    from sbp_core.report import COST_SWEEP_FIGURES, cost_figures, cost_report, cost_tables

    runs_csv, history_csv = _collected(tmp_path)
    constants = cost.load_constants(CONFIG)
    cost_report.write_cost_report(runs_csv, history_csv, constants, tmp_path / "cost", [SWEEP])
    out = tmp_path / "cost"
    per_run = pd.read_csv(out / "cost_per_run.csv")
    assert list(per_run["run_id"]) == ["a" * 12, "b" * 12]
    assert (per_run["energy_saving"] > 1).all() and (per_run["area_saving"] > 1).all()
    assert per_run["pulses_per_sample"].iloc[0] == pytest.approx((300 + 200 + 20 + 20) * 2 / 200)
    for name in cost_tables.TABLES:
        for ext in ("csv", "md", "tex"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
        assert "Assumptions:" in (out / "tables" / f"{name}.md").read_text()
        assert r"\begin{itemize}" in (out / "tables" / f"{name}.tex").read_text()
    components = pd.read_csv(out / "tables" / "cost_components.csv")
    total = components[components["component"] == "total"].iloc[0]
    parts = components[components["component"] != "total"]
    assert total["energy_sbp_J"] == pytest.approx(parts["energy_sbp_J"].sum())
    names = [*cost_figures.FIGURES, *(f"devices.{name}" for name in COST_SWEEP_FIGURES)]
    for name in names:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
        assert (out / "figures" / f"{name}.pdf").stat().st_size > 0
    first_pdf = (out / "figures" / "devices.cost_breakdown.pdf").read_bytes()
    cost_report.write_cost_report(runs_csv, history_csv, constants, out, [SWEEP])
    assert (out / "figures" / "devices.cost_breakdown.pdf").read_bytes() == first_pdf


def test_report_per_epoch_energy_follows_real_pulses(tmp_path):
    from sbp_core.report import cost_tables

    runs_csv, history_csv = _collected(tmp_path)
    values = cost.constant_values(cost.load_constants(CONFIG))
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    energies = cost_tables.epoch_energies(pd.read_csv(history_csv), runs, values)
    sbp = energies[(energies["design"] == "SBP") & (energies["run_id"] == "a" * 12)]
    first, second = sbp.sort_values("epoch")["energy_per_epoch_J"]
    assert first > second  # epoch 1 applied more pulses than epoch 2


def test_report_rejects_runs_without_sbp_or_columns(tmp_path):
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    runs = pd.read_csv(runs_csv)
    with pytest.raises(DataError, match="no finished sbp runs"):
        cost_tables.sbp_runs(runs[runs["method"] == "float"])
    with pytest.raises(DataError, match=r"missing column\(s\) device\.v_set"):
        cost_tables.sbp_runs(runs.drop(columns="device.v_set"))


def test_numbers_written_as_text_are_accepted_and_text_is_rejected():
    constants = cost.load_constants(CONFIG, overrides={"adc.walden_fom_J_per_step": "6.5e-15"})
    assert constants["adc.walden_fom_J_per_step"].value == 6.5e-15
    with pytest.raises(ConfigError, match=r"dac\.cycle_s value must be a finite number"):
        cost.load_constants(CONFIG, overrides={"dac.cycle_s": "fast"})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), ".nan"])
def test_a_cost_constant_must_be_finite_in_files_and_overrides(tmp_path, bad):
    with pytest.raises(ConfigError, match=r"dac\.cycle_s value must be a finite number"):
        cost.load_constants(CONFIG, overrides={"dac.cycle_s": bad})
    text = CONFIG.read_text().replace("value: 0.5", f"value: {'.nan' if bad == '.nan' else bad}", 1)
    broken = tmp_path / "cost.yaml"
    broken.write_text(text)
    with pytest.raises(ConfigError, match=r"cost.yaml: .* value must be a finite number"):
        cost.load_constants(broken)


def test_cost_rows_average_seeds_only_never_different_hardware(tmp_path):
    """Two seeds of one configuration make one row; a run that differs in any spec field but
    the seed (here cycle-to-cycle noise, then the pulse scheme) makes a row of its own."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    noisy = runs.iloc[[0]].assign(run_id="d" * 12, **{"device.c2c_sigma": 0.05})
    single = runs.iloc[[0]].assign(run_id="e" * 12, pulse_scheme="single")
    runs = pd.concat([runs, noisy, single], ignore_index=True)
    values = cost.constant_values(cost.load_constants(CONFIG))
    summary = cost_tables.summary_table(runs, cost_tables.per_run_costs(runs, values))
    assert sorted(summary["n_runs"]) == [1, 1, 2]
    assert cost_tables.shown_keys(summary) == [
        "dataset", "device", "device.n_states", "device.c2c_sigma", "pulse_scheme"
    ]  # fmt: skip


def test_saving_against_the_adc_figure_of_merit_moves_as_the_model_says(tmp_path):
    """A cheaper ADC (lower Walden FOM) narrows SBP's energy saving and leaves the area alone;
    at the configured FOM the sweep gives the table's own saving."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    values = cost.constant_values(cost.load_constants(CONFIG))
    fom = "adc.walden_fom_J_per_step"
    grid = sorted({*cost_tables.ADC_FOM_SWEPT, values[fom]})
    sweep = cost_tables.sensitivity(runs, values, fom, grid).sort_values(fom)
    assert sweep["energy_saving"].is_monotonic_increasing
    assert sweep["energy_saving"].iloc[0] < sweep["energy_saving"].iloc[-1]
    assert sweep["area_saving"].nunique() == 1
    ((_, configured),) = (
        cost_tables.component_table(runs, values)
        .query("component == 'total'")[["component", "energy_saving"]]
        .itertuples(index=False, name=None)
    )
    assert sweep.loc[sweep[fom] == values[fom], "energy_saving"].item() == pytest.approx(configured)


def test_learned_means_more_than_ten_points_above_chance():
    from sbp_core.report import learned

    assert not learned(0.096, 10) and not learned(0.2, 10) and learned(0.21, 10)
    assert not learned(0.6, 2) and learned(0.61, 2)


def test_a_configuration_that_did_not_learn_is_marked_beside_its_saving(tmp_path):
    """A tiny table: one configuration of two seeds that learned, one run at 9.6 % on ten
    classes; the second carries its accuracy and the mark in every format, never a plain saving."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    stuck = runs.iloc[[0]].assign(run_id="d" * 12, final_test_acc=0.096, pulse_prob=0.1)
    runs = pd.concat([runs, stuck], ignore_index=True)
    values = cost.constant_values(cost.load_constants(CONFIG))
    summary = cost_tables.summary_table(runs, cost_tables.per_run_costs(runs, values))
    by_prob = summary.set_index("pulse_prob")
    assert by_prob.loc[1.0, "test_acc_sbp"] == pytest.approx(0.895)
    assert bool(by_prob.loc[1.0, "learned_sbp"]) and not bool(by_prob.loc[0.1, "learned_sbp"])
    stem = tmp_path / "cost_summary"
    cost_tables.write_table(summary, stem, ["- a note"])
    assert list(pd.read_csv(stem.with_suffix(".csv"))["learned_sbp"]) == [False, True]
    rows = [line for line in stem.with_suffix(".md").read_text().splitlines() if "| 0.1 |" in line]
    (row,) = rows
    assert "| 9.6 | no |" in row and row.count("(did not learn)") == 2
    (learned_row,) = [line for line in stem.with_suffix(".md").read_text().splitlines()
                      if "| 1 |" in line and "| 89.5 | yes |" in line]  # fmt: skip
    assert "did not learn" not in learned_row
    assert r"9.6 & no" in stem.with_suffix(".tex").read_text()
    components = cost_tables.component_table(runs, values)
    marked = components[~components["learned_sbp"]]
    assert set(marked["pulse_prob"]) == {0.1} and len(marked) == len(cost.COMPONENTS) + 1


def _configurations(tmp_path: Path, n: int, learned: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SBP runs of n configurations (pulse_prob 1, 1/2, ... 1/n, two seeds each), the first
    `learned` of them at 89.5 % on ten classes, the rest at chance; and their history."""
    from sbp_core.report import cost_tables

    runs_csv, history_csv = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    history = pd.read_csv(history_csv)
    copies, epochs = [], []
    for index in range(n):
        ids = {run_id: f"{index:06d}{run_id[:6]}" for run_id in runs["run_id"]}
        copies.append(
            runs.assign(
                run_id=runs["run_id"].map(ids),
                pulse_prob=1 / (index + 1),
                final_test_acc=runs["final_test_acc"] if index < learned else 0.1,
                sweeps="p",
            )
        )
        mine = history[history["run_id"].isin(ids)]
        epochs.append(mine.assign(run_id=mine["run_id"].map(ids)))
    return pd.concat(copies, ignore_index=True), pd.concat(epochs, ignore_index=True)


def _sweep(n: int) -> dict:
    return {
        "name": "p",
        "methods": ["sbp"],
        "axes": {"pulse_prob": [1 / (i + 1) for i in range(n)]},
    }


def test_the_breakdown_draws_a_configuration_that_did_not_learn_hollow_without_its_saving(
    tmp_path,
):
    from sbp_core.report import cost_figures, cost_tables

    runs, _ = _configurations(tmp_path, n=2, learned=1)
    values = cost.constant_values(cost.load_constants(CONFIG))
    fig = cost_figures.plot_breakdown(cost_tables.component_table(runs, values), _sweep(2))
    (learned_area, _), (stuck_area, _) = (fig.axes[i : i + 2] for i in (0, 2))
    assert learned_area.get_ylabel().endswith("SBP 89.5 %")
    assert stuck_area.get_ylabel() == "pulse_prob 0.5\nSBP 10.0 %"

    def sbp_faces(ax):  # the bars at y = 0 are SBP's
        return {bar.get_facecolor() for bar in ax.patches if bar.get_y() < 0.5}

    assert sbp_faces(stuck_area) == {(1.0, 1.0, 1.0, 1.0)}
    assert (1.0, 1.0, 1.0, 1.0) not in sbp_faces(learned_area)
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes]
    assert all("saving" in t[0] and "did not learn" not in t[0] for t in texts[:2])
    assert all(t[0].strip().endswith("did not learn") and "saving" not in t[0] for t in texts[2:])


def test_the_breakdown_draws_hollow_only_the_design_that_did_not_learn(tmp_path):
    """SBP learned, the conventional design's sgd twin did not (HZO FeFET in the default
    profile): the conventional bars are hollow and marked, SBP's solid, and no saving."""
    from sbp_core.report import cost_figures, cost_tables

    runs, _ = _configurations(tmp_path, n=2, learned=2)
    values = cost.constant_values(cost.load_constants(CONFIG))
    components = cost_tables.component_table(runs, values)
    second = components[cost_tables.group_column("pulse_prob")] == 0.5
    components.loc[second, cost_tables.LEARNED_CONV] = False
    fig = cost_figures.plot_breakdown(components, _sweep(2))
    white = (1.0, 1.0, 1.0, 1.0)

    def faces(ax, y):  # SBP's bars at y = 0, the conventional design's at y = 1
        return {bar.get_facecolor() for bar in ax.patches if abs(bar.get_y() + 0.36 - y) < 0.1}

    (learned_area, _), (conv_failed_area, conv_failed_energy) = (
        fig.axes[i : i + 2] for i in (0, 2)
    )
    assert white not in faces(learned_area, 0) | faces(learned_area, 1)
    assert white not in faces(conv_failed_area, 0) and faces(conv_failed_area, 1) == {white}
    for ax in (conv_failed_area, conv_failed_energy):
        sbp_text, conv_text = (t.get_text() for t in ax.texts)
        assert "saving" not in sbp_text and "did not learn" not in sbp_text
        assert conv_text.strip().endswith("did not learn") and "saving" not in conv_text
    sbp_text, conv_text = (t.get_text() for t in learned_area.texts)
    assert "saving" in sbp_text and "saving" not in conv_text  # the saving is SBP's line only


@pytest.mark.parametrize("n", [1, 8, 27])
def test_every_cost_figure_fits_a_page_and_labels_its_axes_with_units(tmp_path, readable, n):
    """One configuration, a device sweep's eight and a 3 x 3 x 3 grid's 27 stay within the
    page's pixel limits; the last of them did not learn."""
    from sbp_core.report import cost_figures, cost_report, cost_tables, page

    runs, history = _configurations(tmp_path, n=n, learned=n - 1)
    values = cost.constant_values(cost.load_constants(CONFIG))
    components = cost_tables.component_table(runs, values)
    energies = cost_tables.epoch_energies(history, runs, values)
    fom = cost_report.ADC_FOM
    sensitivity = cost_tables.sensitivity(runs, values, fom, cost_tables.ADC_FOM_SWEPT)
    figures = {
        "breakdown": cost_figures.plot_breakdown(components, _sweep(n)),
        "per_epoch": cost_figures.plot_energy_per_epoch(energies, _sweep(n)),
        "fom": cost_figures.plot_sensitivity(sensitivity, fom, values[fom], "FOM (J)", log_x=True),
        "tradeoff": cost_figures.plot_tradeoff(cost_tables.method_energies(runs, values)),
    }
    for name, fig in figures.items():
        readable(
            fig,
            tmp_path / f"{name}.png",
            lambda fig, png: page.save(fig, png, png.with_suffix(".pdf")),
        )


def test_the_tradeoff_legend_of_every_method_fits_inside_the_figure():
    """The legend under the panels names every method in full: none is cut at the figure's edge
    (the widest label, ex-situ's, once pushed "mixed precision" past the right edge)."""
    from sbp_core.report import cost_figures, cost_tables

    methods = list(cost_figures.METHOD_STYLES)
    energies = pd.DataFrame(
        {
            "method": methods,
            "device": ["ideal"] * len(methods),
            "final_test_acc": [0.9] * len(methods),
            "energy_per_sample_J": [1e-9] * len(methods),
            cost_tables.ASSUMED: [False] * len(methods),
        }
    )
    fig = cost_figures.plot_tradeoff(energies, "UCI digits")
    fig.canvas.draw()
    (legend,) = fig.legends
    assert len(legend.get_texts()) == len(methods)
    renderer = fig.canvas.get_renderer()
    for text in legend.get_texts():
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1, text.get_text()


def test_the_per_run_cost_holds_tuned_and_untuned_sbp_runs_each_against_its_own_twin(tmp_path):
    """Tuned final runs are costed against the tuned sgd run, as the tables do; an untuned SBP
    run of a tuned sweep is costed too, against the untuned sgd run (the summary reports the
    saving of whichever SBP setting validation chose)."""
    from sbp_core.report import cost_report

    runs_csv, history_csv = _collected(tmp_path)
    runs = pd.read_csv(runs_csv).iloc[:1]  # one untuned SBP run, seed 0, sweep devices
    tuned_sbp = runs.iloc[0].copy()
    tuned_sbp[["run_id", "sweeps", "pulse_prob"]] = ["t" * 12, "tuned:devices", 0.5]
    sgd = runs.iloc[0].copy()
    sgd[["run_id", "method", "final_test_acc"]] = ["s" * 12, "sgd", 0.6]
    tuned_sgd = sgd.copy()
    tuned_sgd[["run_id", "sweeps", "lr", "final_test_acc"]] = ["u" * 12, "tuned:devices", 0.9, 0.8]
    trial = tuned_sbp.copy()
    trial[["run_id", "sweeps", "evaluate_test", "final_test_acc"]] = ["x" * 12, "", False, None]
    runs = pd.concat([runs, pd.DataFrame([tuned_sbp, sgd, tuned_sgd, trial])], ignore_index=True)
    runs.to_csv(runs_csv, index=False)
    constants = cost.load_constants(CONFIG)
    cost_report.write_cost_report(runs_csv, history_csv, constants, tmp_path / "cost", [SWEEP])
    per_run = pd.read_csv(tmp_path / "cost" / "cost_per_run.csv").set_index("run_id")
    assert sorted(per_run.index) == ["a" * 12, "t" * 12]  # no trial, no sgd run
    assert per_run.loc["t" * 12, "test_acc_conv"] == 0.8  # the tuned sgd twin
    assert per_run.loc["a" * 12, "test_acc_conv"] == 0.6  # the untuned sgd twin
    summary = pd.read_csv(tmp_path / "cost" / "tables" / "cost_summary.csv")
    assert summary["n_runs"].sum() == 1  # the tables cost the tuned final run only


def _with_sgd_twins(runs: pd.DataFrame, seeds: set[int]) -> pd.DataFrame:
    """runs plus, for the SBP runs of `seeds`, their conventional twin at 10x SBP's pulses and
    80 % test accuracy, and a decoy: an sgd run of another width, which must not match."""
    twins = []
    for _, row in runs[(runs["method"] == "sbp") & runs["seed"].isin(seeds)].iterrows():
        decoy = row.copy()
        decoy["method"], decoy["run_id"], decoy["n_hidden"] = "sgd", "d" + row["run_id"][1:], 32
        decoy["final_test_acc"] = 0.5
        twins.append(decoy)
        twin = row.copy()
        twin["method"] = "sgd"
        twin["run_id"] = "t" + row["run_id"][1:]
        for column in ("set_pulses_per_layer", "reset_pulses_per_layer"):
            twin[column] = json.dumps([10 * p for p in json.loads(row[column])])
        twin["final_test_acc"] = 0.8
        twins.append(twin)
    return pd.concat([runs, pd.DataFrame(twins)], ignore_index=True)


def test_the_conventional_design_is_costed_with_the_pulses_of_its_sgd_twin(tmp_path):
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    collected = pd.read_csv(runs_csv)
    values = cost.constant_values(cost.load_constants(CONFIG))
    tenfold = {**values, "conventional.update_pulse_ratio": 10.0}
    alone = cost_tables.sbp_runs(collected)
    twinned = cost_tables.sbp_runs(_with_sgd_twins(collected, {0}))
    for design, settings in (("conventional", tenfold), ("sbp", values)):
        assumed = cost_tables.run_costs(alone.iloc[0], settings)[design].total_energy_J
        simulated = cost_tables.run_costs(twinned.iloc[0], values)[design].total_energy_J
        assert simulated == pytest.approx(assumed, rel=1e-12), design
    assert cost_tables.per_run_costs(twinned, values)["test_acc_conv"].tolist()[:1] == [0.8]

    # seed 1 has no twin: the row (seeds 0 and 1) is assumed; with both twins it is simulated
    (partly,) = cost_tables.summary_table(twinned, cost_tables.per_run_costs(twinned, values))[
        ["conventional_pulses", "test_acc_conv"]
    ].itertuples(index=False)
    assert partly.conventional_pulses == "assumed" and math.isnan(partly.test_acc_conv)
    both = cost_tables.sbp_runs(_with_sgd_twins(collected, {0, 1}))
    summary = cost_tables.summary_table(both, cost_tables.per_run_costs(both, values))
    assert summary["conventional_pulses"].tolist() == ["sgd"]
    assert summary["test_acc_conv"].tolist() == [pytest.approx(0.8)]
    assert summary["learned_conv"].tolist() == [True]
    components = cost_tables.component_table(both, values)
    write = components[components["component"] == "write"]
    expected = cost_tables.run_costs(alone.iloc[0], tenfold)["conventional"].energy_J["write"]
    assert write["energy_conv_J"].iloc[0] == pytest.approx(expected, rel=1e-9)


def test_a_stochastic_sbp_runs_conventional_twin_draws_no_random_numbers(tmp_path):
    """SBP at pulse_prob 0.5 pays its generators; its conventional twin (sgd, which ignores
    pulse_prob) costs what it costs beside a deterministic SBP run: no pulse_rng."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    values = cost.constant_values(cost.load_constants(CONFIG))
    alone = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    plain = cost_tables.run_costs(alone.iloc[0], values)
    drawn = cost_tables.run_costs(alone.assign(pulse_prob=0.5).iloc[0], values)
    assert drawn["sbp"].area_um2["pulse_rng"] > 0 == plain["sbp"].area_um2["pulse_rng"]
    assert drawn["conventional"].area_um2["pulse_rng"] == 0
    assert drawn["conventional"].energy_J["pulse_rng"] == 0
    assert drawn["conventional"].total_area_um2 == plain["conventional"].total_area_um2
    assert drawn["conventional"].total_energy_J == plain["conventional"].total_energy_J


def test_runs_that_draw_their_epochs_count_the_samples_they_drew(tmp_path):
    """NeuroSim's setting: 8,000 images drawn per epoch from 54,000; pulses per sample divide by
    the draws (here 50 of 100 training images per epoch), not by the training set."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    whole = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    drawn = whole.assign(epoch_samples=50)
    values = cost.constant_values(cost.load_constants(CONFIG))
    per_whole, per_drawn = (cost_tables.per_run_costs(r, values) for r in (whole, drawn))
    ratio = per_drawn["pulses_per_sample"] / per_whole["pulses_per_sample"]
    assert ratio.tolist() == [pytest.approx(2.0)] * 2
    assert per_drawn["energy_per_epoch_sbp_J"].iloc[0] == pytest.approx(
        50 * per_drawn["energy_per_sample_sbp_J"].iloc[0]
    )


def test_the_breakdown_keeps_an_sbp_bar_costlier_than_the_conventional_inside_its_axis(tmp_path):
    """On a device with costly pulses SBP can spend more energy than the conventional design
    (EpiRAM in NeuroSim's setting: 344 %); its bar must not run past the axis."""
    from sbp_core.report import cost_figures, cost_tables

    runs, _ = _configurations(tmp_path, n=1, learned=1)
    values = cost.constant_values(cost.load_constants(CONFIG))
    components = cost_tables.component_table(runs, values)
    components["energy_sbp_J"] *= (
        4
        * components["energy_conv_J"].sum()
        / (
            components["energy_sbp_J"].sum() / 2  # the 'total' rows count everything twice
        )
    )
    energy_ax = cost_figures.plot_breakdown(components, _sweep(1)).axes[1]
    ends = [bar.get_x() + bar.get_width() for bar in energy_ax.patches]
    assert max(ends) > 300 and max(ends) <= energy_ax.get_xlim()[1]


def test_the_breakdown_keeps_an_sbp_area_larger_than_the_conventional_inside_its_axis(tmp_path):
    """With stochastic pulses SBP's pulse generators can make its area the larger (EpiRAM on
    MNIST, tuned: 126,355 against 36,813 µm²); its bar and its total stay on the area axis."""
    from sbp_core.report import cost_figures, cost_tables

    runs, _ = _configurations(tmp_path, n=1, learned=1)
    values = cost.constant_values(cost.load_constants(CONFIG))
    components = cost_tables.component_table(runs, values)
    larger = 3.4 * components["area_conv_um2"].sum() / components["area_sbp_um2"].sum()
    components["area_sbp_um2"] *= larger
    fig = cost_figures.plot_breakdown(components, _sweep(1))
    area_ax = fig.axes[0]
    ends = [bar.get_x() + bar.get_width() for bar in area_ax.patches]
    assert max(ends) <= area_ax.get_xlim()[1]
    fig.canvas.draw()
    right = area_ax.get_window_extent().x1
    assert all(text.get_window_extent().x1 <= right for text in area_ax.texts)


def test_a_refreshing_run_is_charged_its_refresh_counts_per_sample(tmp_path, values):
    """The run's total refresh reads and rewritten pairs per layer, over its 200 samples, reach
    the refresh component; the run's set-only pulses take the pair scheme's sgd twin."""
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    collected = _with_sgd_twins(pd.read_csv(runs_csv), {0})  # twins of the pair scheme
    sbp = collected["method"] == "sbp"
    counts = {
        "pulse_scheme": "set_only", "refresh_every": 50, "pulse_prob": 0.1,
        "total_refresh_reads_l1": 4 * 2 * 65 * 16, "total_refresh_reads_l2": 4 * 2 * 17 * 10,
        "total_refreshed_pairs_l1": 30, "total_refreshed_pairs_l2": 8,
    }  # fmt: skip
    for column, value in counts.items():
        collected.loc[sbp, column] = value
    row = cost_tables.sbp_runs(collected).iloc[0]
    charged = cost_tables.run_costs(row, values)["sbp"]
    layers = cost.make_layers(
        [[65, 16], [17, 10]], [400 / 200, 40 / 200], [400 / 200, 40 / 200], 0.2929,
        values["workload.line_activity"], stochastic=True, refresh_every=50,
        refresh_reads=[8320 / 200, 1360 / 200], refresh_pairs=[30 / 200, 8 / 200],
    )  # fmt: skip
    expected = cost.network_cost("sbp", layers, cost_tables._device(row), values)
    assert charged.energy_J["refresh"] == pytest.approx(expected.energy_J["refresh"], rel=1e-12)
    assert charged.energy_J["pulse_rng"] > 0 and charged.energy_J["refresh"] > 0
    assert isinstance(row["conv_set_per_sample"], str)  # the pair scheme's twin was found


def _one_layer(values, **counts):
    """One first layer of 10 rows (9 inputs, half driven, and the bias) and 4 columns, with
    3 SET and 2 RESET pulses on C per sample and `counts` (cost.make_layers keywords)."""
    return cost.make_layers(
        [[10, 4]], [3.0], [2.0], 0.5, values["workload.line_activity"], **counts
    )


def test_ttv2_pays_a_second_array_its_pulses_slots_transfers_and_h_worked_by_hand(values):
    """Per sample: A got 7 SET and 5 RESET pulses, 31 slots of pulse trains, 1 row read with its
    4 conversions; H holds 10 x 4 entries of 32 bits. The rest is the conventional design."""
    counts = {
        "pulse_slots": 31, "fast_set_pulses": [7.0], "fast_reset_pulses": [5.0],
        "transfer_reads": [1.0], "transfer_conversions": [4.0],
    }  # fmt: skip
    layers = _one_layer(values, **counts)
    ttv2 = cost.network_cost("ttv2", layers, DEVICE, values)
    conv = cost.network_cost("conventional", layers, DEVICE, values)
    cell_um2 = 16 * 0.032**2  # 16 F^2 at 32 nm
    g_mid, v2 = 5.5e-6, 1.6**2
    column_F = 10 * (4 * 32e-9) * 2e-10  # 10 rows of 4 F pitch at 0.2 fF/um
    assert ttv2.area_um2["fast_array"] == pytest.approx(2 * 10 * 4 * cell_um2, rel=1e-12)
    assert ttv2.energy_J["fast_array"] == pytest.approx(
        12 * v2 * g_mid * 50e-9 + 12 * column_F * v2, rel=1e-12
    )
    per_bit = values["register.energy_J_per_bit"] + values["digital.add_energy_J_per_bit"]
    assert ttv2.energy_J["pulse_rng"] == pytest.approx(31 * (10 + 4) * 16 * per_bit, rel=1e-12)
    read = 0.5**2 * g_mid * 10e-9
    adc = values["adc.walden_fom_J_per_step"] * 2**6
    assert ttv2.energy_J["transfer"] == pytest.approx(1 * 8 * read + 4 * adc, rel=1e-12)
    assert ttv2.area_um2["transfer"] == 0  # the column ADCs, time-shared
    assert ttv2.area_um2["buffer"] == pytest.approx(10 * 4 * 32 * 0.171, rel=1e-12)
    access = 2 * 0.156e-12 + 2 * values["digital.add_energy_J_per_bit"]
    assert ttv2.energy_J["buffer"] == pytest.approx(4 * 32 * access, rel=1e-12)
    for component in cost.COMPONENTS:
        if component != "pulse_rng":
            assert ttv2.energy_J[component] == conv.energy_J[component], component
            assert ttv2.area_um2[component] == conv.area_um2[component], component

    chopped = cost.network_cost("cttv2", layers, DEVICE, values)
    chopper_um2 = 10 * values["register.area_um2_per_bit"]  # one bit per row
    assert chopped.area_um2["buffer"] == pytest.approx(ttv2.area_um2["buffer"] + chopper_um2)
    assert chopped.total_energy_J == ttv2.total_energy_J

    # AGAD: H, the running mean and the reference, each read and written per conversion, with
    # a subtraction and the running mean's two 32-bit multiplies beside H's two adds
    agad = cost.network_cost("agad", layers, DEVICE, values)
    assert agad.area_um2["buffer"] == pytest.approx(
        3 * ttv2.area_um2["buffer"] + 2 * chopper_um2, rel=1e-12
    )
    add, multiply = 32 * values["digital.add_energy_J_per_bit"], 3.03e-15 * 32**2
    assert agad.energy_J["buffer"] == pytest.approx(
        4 * (3 * 32 * 2 * 0.156e-12 + 3 * add + 2 * multiply), rel=1e-12
    )
    for component in cost.ALL_COMPONENTS:
        if component != "buffer":
            assert agad.energy_J[component] == ttv2.energy_J[component], component


def test_mixed_precision_pays_chi_for_every_weight_its_update_changes_worked_by_hand(values):
    """Layer 1 drives the bias and half of its 9 input rows: 5.5 rows x 4 columns of chi are
    read, accumulated, compared and written back per sample; above it every row is."""
    first, upper = (
        cost.make_layers([[10, 4], [5, 3]], [3.0, 1.0], [2.0, 1.0], 0.5, 0.5)[i] for i in (0, 1)
    )
    access = 32 * (2 * 0.156e-12 + 2 * values["digital.add_energy_J_per_bit"])
    for layer, updates in ((first, 5.5 * 4), (upper, 5 * 3)):
        mixed = cost.network_cost("mixed_precision", [layer], DEVICE, values)
        conv = cost.network_cost("conventional", [layer], DEVICE, values)
        assert mixed.energy_J["buffer"] == pytest.approx(updates * access, rel=1e-12)
        assert mixed.area_um2["buffer"] == pytest.approx(layer.rows * layer.cols * 32 * 0.171)
        assert mixed.total_energy_J - mixed.energy_J["buffer"] == pytest.approx(
            conv.total_energy_J, rel=1e-12
        )
        assert mixed.energy_J["fast_array"] == mixed.energy_J["transfer"] == 0


@pytest.mark.parametrize("method", ["ttv2", "cttv2", "agad", "mixed_precision"])
def test_the_buffer_the_cost_model_sizes_is_the_one_the_learner_holds(values, method):
    import numpy as np

    from sbp_core.methods import make_learner

    rng = np.random.default_rng(0)
    learner = make_learner(RunSpec(method=method, n_hidden=[5, 3]), 9, 4, rng)
    shapes = [list(layer.shape) for layer in learner.layers]
    layers = cost.make_layers(shapes, [0.0] * 3, [0.0] * 3, 0.5, 0.5)
    row_bits = {"cttv2": 1, "agad": 2}.get(method, 0)  # chopper (and AGAD's flag) per row
    expected = sum(cost.buffer_bits(layer, values, method) for layer in layers)
    assert sum(learner.buffer_bits()) == expected + row_bits * sum(r for r, _ in shapes)


def test_the_methods_table_costs_each_rule_with_its_own_design_and_counts(tmp_path, values):
    """Tiny runs of every on-chip rule on the digits, collected: each row is its rule's design
    on its own pulses; TTv2's fast array is charged the A pulses the run counted."""
    from sbp_core import train
    from sbp_core.report import cost_report, cost_tables
    from sbp_core.report.collect import collect

    folders = []
    for method in ("sbp", "sgd", "ttv2", "cttv2", "agad", "mixed_precision"):
        spec = RunSpec(method=method, n_hidden=6, epochs=1, n_train=60)
        trained = train.run(spec, tmp_path / method)  # its run id holds the data's identity
        folders.append((tmp_path / method).rename(tmp_path / trained["run_id"]))
    runs, history = collect(folders, {folder.name: ["devices"] for folder in folders})
    runs.to_csv(tmp_path / "runs.csv", index=False)
    history.to_csv(tmp_path / "history.csv", index=False)
    constants = cost.load_constants(CONFIG)
    sweep = {**SWEEP, "methods": ["sbp"], "axes": {"device": ["ideal"]}}
    cost_report.write_cost_report(
        tmp_path / "runs.csv", tmp_path / "history.csv", constants, tmp_path / "cost", [sweep]
    )
    table = pd.read_csv(tmp_path / "cost" / "tables" / f"{cost_tables.METHODS_TABLE}.csv")
    assert dict(zip(table["method"], table["design"], strict=True)) == {
        "sbp": "sbp", "sgd": "conventional", "ttv2": "ttv2", "cttv2": "cttv2", "agad": "agad",
        "mixed_precision": "mixed_precision",
    }  # fmt: skip
    for suffix in ("md", "tex"):
        assert "mixed" in (tmp_path / "cost" / "tables" / f"cost_methods.{suffix}").read_text()
    row = table.set_index("method").loc["ttv2"]
    metrics = runs.set_index("method").loc["ttv2"]
    samples = 60
    a_pulses = sum(
        metrics[f"total_fast_{kind}_pulses_l{layer}"]
        for kind in ("set", "reset")
        for layer in (1, 2)
    )
    assert a_pulses > 0
    shapes = json.loads(metrics["layers"])
    device = cost_tables._device(metrics)
    expected = 0.0
    for layer, (rows, _) in enumerate(shapes, start=1):
        sets = metrics[f"total_fast_set_pulses_l{layer}"] / samples
        resets = metrics[f"total_fast_reset_pulses_l{layer}"] / samples
        column_F = rows * (4 * 32e-9) * 2e-10
        v2 = max(device.v_set, device.v_reset) ** 2
        expected += cost.programming_energy(device, sets, resets) + (sets + resets) * column_F * v2
    assert row["energy_fast_array_J"] == pytest.approx(expected, rel=1e-9)
    assert row["buffer_bits"] == 32 * sum(rows * cols for rows, cols in shapes)
    assert table.set_index("method").loc["sbp", "energy_buffer_J"] == 0
    assert (table["energy_per_sample_J"] > 0).all()


def test_a_device_whose_pulse_parameters_were_assumed_is_told_by_its_citation():
    from sbp_core.chip.device import pulse_assumed

    fitted = (
        "fitted by sbp-bench fit-device to a.csv; v_set, pulse_width_s assumed (not in the curves)"
    )
    assert pulse_assumed("my.yaml", fitted)
    assert not pulse_assumed("my.yaml", "fitted by sbp-bench fit-device to a.csv")
    assert not pulse_assumed("my.yaml", "measured; C2C assumed; pulse 2 V, 1 us from the paper")
    assert not pulse_assumed("my.yaml", None)
    assert pulse_assumed("ideal", None)  # the shipped files: Table II gives every preset's pulses
    assert not pulse_assumed("gst_pcm", None) and not pulse_assumed("alox_hfo2", None)
    assert not pulse_assumed("epiram", fitted) and not pulse_assumed("taox_hfox", None)


def test_cost_tables_and_figures_mark_assumed_pulse_parameters(tmp_path):
    from sbp_core.report import cost_tables

    runs_csv, history_csv = _collected(tmp_path)
    constants = cost.load_constants(CONFIG)
    values = cost.constant_values(constants)
    for device, assumed in (("taox_hfox", False), ("ideal", True)):
        collected = pd.read_csv(runs_csv).assign(device=device)
        runs = cost_tables.sbp_runs(collected)
        per_run = cost_tables.per_run_costs(runs, values)
        table = cost_tables.summary_table(runs, per_run)
        assert table[cost_tables.ASSUMED].tolist() == [assumed]
        cost_tables.write_table(table, tmp_path / "cost_summary", [])
        markdown = (tmp_path / "cost_summary.md").read_text()
        header, _, row = markdown.split("\n")[2:5]
        cells = dict(zip(header.split(" | "), row.split(" | "), strict=True))
        assert cells[cost_tables.ASSUMED] == ("yes" if assumed else "no")
        energies = cost_tables.method_energies(collected, values)
        assert energies[cost_tables.ASSUMED].tolist() == [assumed, assumed]
        methods = cost_tables.method_table(collected, values)
        assert methods[cost_tables.ASSUMED].tolist() == [assumed] * len(methods) != []


def test_saving_against_pulse_amplitude_and_width_passes_through_the_configured_saving(tmp_path):
    from sbp_core.report import cost_tables

    runs_csv, _ = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    values = cost.constant_values(cost.load_constants(CONFIG))
    sweep = cost_tables.pulse_sensitivity(runs, values)
    configured = cost_tables.component_table(runs, values).query("component == 'total'")
    at_one = sweep[sweep["pulse_scale"] == 1.0]
    for metric in cost_tables.PULSE_METRICS:
        assert at_one[metric].item() == pytest.approx(configured["energy_saving"].item())
        assert sweep[metric].nunique() == len(cost_tables.PULSE_SCALES)  # it hangs on the pulse


def test_energy_per_epoch_panels_print_their_energy_scale(tmp_path):
    """On short panels matplotlib's automatic tick count drew no energy label at all."""
    from sbp_core.report import cost_figures, cost_tables

    runs_csv, history_csv = _collected(tmp_path)
    runs = cost_tables.sbp_runs(pd.read_csv(runs_csv))
    values = cost.constant_values(cost.load_constants(CONFIG))
    energies = cost_tables.epoch_energies(pd.read_csv(history_csv), runs, values)
    wide = pd.concat(  # eight configurations over four decades, as the default profile's devices
        [
            energies.assign(
                device=f"d{i}", energy_per_epoch_J=lambda f, i=i: f["energy_per_epoch_J"] * 3**i
            )
            for i in range(8)
        ]
    )
    sweep = {
        "name": "devices",
        "description": "",
        "methods": ["sbp"],
        "axes": {"device": [f"d{i}" for i in range(8)]},
    }
    fig = cost_figures.plot_energy_per_epoch(wide, sweep)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) >= 2 and all(label.endswith("J") for label in labels)


def test_an_energy_axis_under_a_decade_prints_a_few_labels_that_do_not_overlap(tmp_path):
    """One panel spanning 130-800 uJ (the MNIST compare on PCMO): matplotlib's fallback printed
    200, 300, ... 800 uJ, one on top of the other."""
    from sbp_core.report import cost_figures, cost_tables

    runs, history = _configurations(tmp_path, n=1, learned=1)
    values = cost.constant_values(cost.load_constants(CONFIG))
    energies = cost_tables.epoch_energies(history, runs, values)
    low, high = energies["energy_per_epoch_J"].min(), energies["energy_per_epoch_J"].max()
    scaled = 130e-6 + (energies["energy_per_epoch_J"] - low) / (high - low) * 670e-6
    fig = cost_figures.plot_energy_per_epoch(energies.assign(energy_per_epoch_J=scaled), _sweep(1))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert 2 <= len(labels) <= 4, [t.get_text() for t in labels]
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda box: box.y0)
    assert all(below.y1 <= above.y0 for below, above in zip(boxes, boxes[1:], strict=False))
