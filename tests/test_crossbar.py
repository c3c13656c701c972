"""Differential-pair crossbar: reads, pulse counting, compiled pulse application."""

from __future__ import annotations

import numpy as np
import pytest

from sbp_core.crossbar import Crossbar
from sbp_core.device import PRESETS, DeviceParams


def crossbar(params=None, scheme="pair", seed=0, shape=(6, 4)):
    return Crossbar(*shape, params or DeviceParams(), np.random.default_rng(seed), 0.5, scheme)


def test_reads_are_sums_of_the_weights_they_select():
    bar = crossbar(DeviceParams(on_off=10.0))
    weights = bar.weights()
    rows = np.array([0, 3, 5])
    np.testing.assert_allclose(bar.read_rows(rows, None), weights[rows].sum(axis=0), rtol=1e-5)
    error = np.array([1, 0, -1, 1], dtype=np.int8)
    np.testing.assert_allclose(bar.read_columns(error, None), weights @ error, rtol=1e-5)
    x = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 1, 1]], dtype=bool)
    expected = x @ weights[:-1] + weights[-1]
    np.testing.assert_allclose(bar.read_batch(x, None), expected, rtol=1e-5)
    assert np.all(np.abs(weights) <= 1)


@pytest.mark.parametrize(("scheme", "sets", "resets"), [("pair", 6, 6), ("single", 4, 2)])
def test_every_coincidence_is_one_pulse_counted_by_kind(scheme, sets, resets):
    bar = crossbar(scheme=scheme)
    direction = np.array([1, 0, -1, 1], dtype=np.int8)
    bar.pulse(np.array([1, 4]), direction, np.random.default_rng(0))
    assert bar.take_pulse_counts() == (sets, resets)
    assert bar.take_pulse_counts() == (0, 0)


def test_a_pulse_moves_the_weight_in_its_direction_and_nothing_else():
    bar = crossbar(DeviceParams(n_states=11))
    before = bar.weights()
    bar.pulse(np.array([2]), np.array([1, 0, -1, 0], dtype=np.int8), np.random.default_rng(0))
    change = bar.weights() - before
    assert change[2, 0] > 0 and change[2, 2] < 0
    change[2, 0] = change[2, 2] = 0
    assert not change.any()


@pytest.mark.parametrize("scheme", ["pair", "single"])
def test_compiled_apply_equals_the_numpy_reference_bit_for_bit(scheme):
    params = PRESETS["ag_si"].with_overrides(d2d_sigma=0.1, stuck_gmax=0.05)
    bars = [crossbar(params, scheme, seed=3, shape=(30, 20)) for _ in range(2)]
    index = np.random.default_rng(1).choice(600, 250, replace=False)
    raise_weight = np.random.default_rng(2).random(250) < 0.5
    bars[0].apply(index, raise_weight, np.random.default_rng(4))
    bars[1].apply_compiled(index, raise_weight, np.random.default_rng(4))
    assert np.array_equal(bars[0].g_plus, bars[1].g_plus)
    assert np.array_equal(bars[0].g_minus, bars[1].g_minus)
    assert bars[0].take_pulse_counts() == bars[1].take_pulse_counts()


def test_saturated_fraction_counts_devices_at_their_bounds():
    bar = crossbar(DeviceParams(n_states=5))
    rows, up = np.arange(6), np.ones(4, dtype=np.int8)
    for _ in range(10):
        bar.pulse(rows, up, np.random.default_rng(0))
    assert bar.saturated_fraction() == 1.0  # every G+ at Gmax, every G- at Gmin


def test_compiled_set_pulses_equal_device_respond():
    from sbp_core.methods import sbp_kernel

    bar = crossbar(PRESETS["gst_pcm"].with_overrides(d2d_sigma=0.2), seed=5, shape=(30, 20))
    index = np.arange(0, 600, 3)
    expected = bar.g_minus.copy()
    bar.minus.respond(expected, index, np.ones(index.size, dtype=bool), np.random.default_rng(6))
    coef = sbp_kernel.coefficients(bar)
    sbp_kernel.set_pulses(bar.g_minus, coef, 7, index, True, np.random.default_rng(6))
    assert np.array_equal(bar.g_minus, expected)


def test_open_loop_programming_lands_within_half_a_state_of_each_target():
    """Ideal linear device, 256 states: G+ takes rint(255 w) SET pulses for w > 0, G- for w < 0."""
    from sbp_core.methods.exsitu import program

    bar = crossbar(shape=(30, 20))
    weights = np.random.default_rng(1).normal(size=bar.shape)
    program(bar, weights, np.random.default_rng(2))
    target = weights / np.abs(weights).max()
    assert np.abs((bar.g_plus - bar.g_minus) - target).max() <= 0.5 / 255 + 1e-5
    assert bar.set_pulses == np.rint(np.abs(target) * 255).sum()
    assert bar.reset_pulses == 0  # programming only SETs from the erased state
