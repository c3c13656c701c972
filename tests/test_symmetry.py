"""Symmetry points: hand-worked devices, the presets checked by pulsing, lookup tables, stuck
devices."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sbp_core.chip.device import PRESETS
from sbp_core.chip.kinds.lookup_table import LookupTable, TableDeviceParams
from sbp_core.chip.kinds.neurosim import AffineArray, DeviceParams
from sbp_core.chip.symmetry import nominal_symmetry_point, symmetry_points


def affine_devices(alpha_set, beta_set, alpha_reset, beta_reset, stuck=(0,)) -> AffineArray:
    n = len(alpha_set)
    full = {"g_lo": np.zeros(n), "g_hi": np.ones(n)}
    return AffineArray(
        params=DeviceParams(), alpha_set=np.array(alpha_set), beta_set=np.array(beta_set),
        alpha_reset=np.array(alpha_reset), beta_reset=np.array(beta_reset),
        noise_sigma=np.zeros(n), stuck=np.array(stuck * n if len(stuck) == 1 else stuck),
        **full,
    )  # fmt: skip


def test_hand_worked_affine_devices():
    """Device 0: SET g' = 0.1 + 0.8 g (step 0.1 - 0.2 g), RESET g' = 0.9 g (step -0.1 g): the
    steps cancel where 0.1 - 0.3 g = 0, g* = 1/3. Device 1: SET g' = 0.2 + 0.9 g, RESET
    g' = -0.05 + 0.95 g: 0.15 - 0.15 g = 0, g* = 1. Device 2: balanced everywhere but its net
    step points down (linear, SET +0.01, RESET -0.02): it drifts to Gmin, 0."""
    devices = affine_devices([0.1, 0.2, 0.01], [0.8, 0.9, 1.0], [0.0, -0.05, -0.02], [0.9, 0.95, 1])
    np.testing.assert_allclose(symmetry_points(devices), [1 / 3, 1.0, 0.0])


def test_linear_symmetric_device_sits_at_mid_range_and_does_not_attract():
    point = nominal_symmetry_point(PRESETS["ideal"])
    assert point.fraction == pytest.approx(0.5) and not point.attracting


def test_linear_device_with_larger_reset_steps_drifts_to_gmin():
    device = dataclasses.replace(PRESETS["ideal"], reset_step_ratio=2.0)
    assert nominal_symmetry_point(device).fraction == pytest.approx(0.0)


@pytest.mark.parametrize("name", [name for name in PRESETS if name != "ideal"])
def test_preset_steps_balance_at_the_symmetry_point(name):
    """Checked through the device model itself (`AffineArray.respond`), not the formula: at the
    point one SET pulse and one RESET pulse move the device equally far, and a little above
    and below it the net step of the two points back to it where the point attracts (away
    from it where it repels)."""
    device = dataclasses.replace(PRESETS[name], c2c_sigma=0.0)
    point = nominal_symmetry_point(device)
    devices = device.build_array((6,), np.random.default_rng(0), np.float64)
    delta = 0.01 * (devices.g_hi[0] - devices.g_lo[0])
    g = np.repeat([point.g, point.g - delta, point.g + delta], 2)
    before = g.copy()
    devices.respond(g, np.arange(6), np.array([True, False] * 3), None)
    step = g - before
    net = step[0::2] + step[1::2]  # SET step + RESET step at each of the three points
    assert net[0] == pytest.approx(0.0, abs=1e-9 * device.step)
    towards = np.sign(net[1:]) == [1, -1]
    assert np.all(towards) if point.attracting else not np.any(towards)


def test_lookup_table_device_hand_worked():
    """SET step 0.2 at g = 0 falling to 0 at g = 1, RESET step -0.05 falling to -0.15: the sum
    0.15 - 0.3 g crosses zero at g = 0.5. A second table, with its RESET steps larger than its
    SET steps everywhere, drifts to its Gmin, 0.1."""
    set_knots = np.array([[0.0, 1.0], [0.2, 0.0], [0.0, 0.0]])
    reset_knots = np.array([[0.0, 1.0], [-0.05, -0.15], [0.0, 0.0]])
    weak = np.array([[0.0, 1.0], [0.01, 0.01], [0.0, 0.0]])
    table = LookupTable.from_knots(
        ("a", "b"), [(0.0, 1.0), (0.1, 1.0)], [(set_knots, reset_knots), (weak, reset_knots)]
    )
    device = TableDeviceParams(name="t", n_states=10, table=table)
    devices = device.build_array((2, 3), np.random.default_rng(0))
    expected = np.where(devices.table == 0, 0.5, 0.1)
    np.testing.assert_allclose(symmetry_points(devices), expected, rtol=1e-6)


def test_stuck_devices_sit_at_their_bound():
    devices = affine_devices([0.1] * 3, [0.8] * 3, [0.0] * 3, [0.9] * 3, stuck=(0, 1, 2))
    devices.alpha_set[1:] = devices.alpha_reset[1:] = 0.0
    devices.beta_set[1:] = devices.beta_reset[1:] = 1.0
    np.testing.assert_allclose(symmetry_points(devices), [1 / 3, 0.0, 1.0])


def test_the_docs_table_is_the_code_s():
    """docs/symmetry_points.md lists each preset's point as `nominal_symmetry_point` gives it."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "symmetry_points.md").read_text()
    for name, params in PRESETS.items():
        point = nominal_symmetry_point(params)
        row = f"| {name} | {params.nl_ltp:g} | {params.nl_ltd:g} | {params.n_states} | "
        row += f"{point.g:.4f} | {point.fraction:.4f} | {'yes' if point.attracting else 'no'} |"
        assert row in text, row
