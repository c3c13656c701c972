"""Pair refresh of the set-only scheme: which pairs, what is rewritten, what it costs."""

from __future__ import annotations

import numpy as np

from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.device import PRESETS
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.chip.refresh import RefreshCounts, refresh


def pair_bar(params: DeviceParams, plus, minus) -> Crossbar:
    bar = Crossbar(1, len(plus), params, np.random.default_rng(0), 0.0, "set_only")
    bar.g_plus[...] = np.array([plus], dtype=np.float32)
    bar.g_minus[...] = np.array([minus], dtype=np.float32)
    return bar


def test_hand_worked_refresh_of_a_linear_16_state_device():
    """Levels k/15, level 0.9. Pair 0 (0.95, 0.60): due, w = 0.35 = 5.25 levels -> 5 SETs on G+.
    Pair 1 (0.20, 0.93): due, w = -0.73 = -10.95 levels -> 11 SETs on G-.
    Pair 2 (0.50, 0.80): below 0.9, untouched. Every device read once (6 reads); the two
    rewritten pairs erase 4 devices at 15 RESETs each (Gmax to Gmin)."""
    bar = pair_bar(DeviceParams(n_states=16), [0.95, 0.20, 0.50], [0.60, 0.93, 0.80])
    counts = refresh(bar, 0.9, np.random.default_rng(0))
    np.testing.assert_allclose(bar.g_plus[0], [5 / 15, 0.0, 0.5], atol=1e-6)
    np.testing.assert_allclose(bar.g_minus[0], [0.0, 11 / 15, 0.8], atol=1e-6)
    assert counts == RefreshCounts(reads=6, pairs=2, set_pulses=16, erase_pulses=60)
    assert bar.take_pulse_counts() == (16, 60)


def test_refresh_keeps_the_weight_to_within_half_a_level_on_a_nonlinear_device():
    """Nonlinear LTP (PCMO): the rewrite aims at the nominal level nearest |w| on its curve."""
    params = PRESETS["pcmo"].with_overrides(c2c_sigma=0.0)
    rng = np.random.default_rng(1)
    top = params.g_min + 0.9 * (1 - params.g_min)
    plus = rng.uniform(top, 1.0, 200)
    minus = rng.uniform(params.g_min, 1.0, 200)
    bar = pair_bar(params, plus, minus)
    before = bar.weights()[0]
    refresh(bar, 0.9, rng)
    after = bar.weights()[0]
    levels = params.nominal_levels()
    widest_gap = np.diff(levels).max()
    assert np.all(np.abs(after - before) <= widest_gap / 2 + 1e-6)
    assert np.all((bar.g_plus[0] <= params.g_min + 1e-7) | (bar.g_minus[0] <= params.g_min + 1e-7))


def test_refresh_never_rewrites_when_no_device_is_high():
    bar = pair_bar(DeviceParams(n_states=16), [0.1, 0.5], [0.3, 0.89])
    before = bar.g_plus.copy(), bar.g_minus.copy()
    assert refresh(bar, 0.9, np.random.default_rng(0)) == RefreshCounts(4, 0, 0, 0)
    assert np.array_equal(bar.g_plus, before[0]) and np.array_equal(bar.g_minus, before[1])
