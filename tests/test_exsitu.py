"""Ex-situ programming: clipping scale, erase, open-loop write, write-verify, pulse accounting."""

from __future__ import annotations

import numpy as np
import pytest

from sbp_core.chip import engine
from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.device import PRESETS
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.chip.programming import nearest, verify, write_open_loop
from sbp_core.errors import ConfigError
from sbp_core.methods.exsitu import (
    ExSituLearner,
    clip_scale,
    program,
    read_levels,
    weight_grid,
    write_variance,
)
from sbp_core.spec import RunSpec


def linear_devices(step: float) -> np.ndarray:
    """One shared response record: a linear, noise-free device on [0, 1] moving `step` a pulse."""
    record = np.zeros(1, dtype=engine.RESPONSE)
    record[0] = (step, 1.0, -step, 1.0, 0.0, 0.0, 1.0)
    return record


def crossbar(params, scheme="pair", shape=(30, 20), seed=0):
    return Crossbar(*shape, params, np.random.default_rng(seed), 0.1, scheme)


def test_write_verify_corrects_a_device_whose_step_is_half_the_nominal_one():
    """Nominal step 0.25 (5 states), real step 0.125: the open-loop write lands halfway; verify
    reads and SETs until the read is within 0.5 +- 0.05, then stops."""
    g = np.zeros(3, dtype=np.float32)
    responses, rng = linear_devices(0.125), np.random.default_rng(0)
    nominal = np.array([2, 1, 0])  # SET pulses the nominal curve needs for 0.5, 0.25, 0
    assert write_open_loop(g, responses, nominal, False, rng) == 3
    np.testing.assert_array_equal(g, [0.25, 0.125, 0.0])
    target = np.array([0.5, 0.25, 0.0], dtype=np.float32)
    sets, resets, reads = verify(g, responses, target, 0.05, 10, 0.0, False, rng)
    np.testing.assert_array_equal(g, target)
    # reads: 0.25, 0.375, 0.5 | 0.125, 0.25 | 0.0; corrections: 2 SETs | 1 SET | none
    assert (sets, resets, reads) == (3, 0, 6)


def test_write_verify_stops_when_the_pulse_budget_is_spent():
    """Target 0.6 between the states 0.5 and 0.75 of a 0.25-step device, band 0.05: it can only
    hop around the target, SET, RESET, SET, until three rounds are spent."""
    g = np.array([0.5], dtype=np.float32)
    target = np.array([0.6], dtype=np.float32)
    counts = verify(g, linear_devices(0.25), target, 0.05, 3, 0.0, False, np.random.default_rng(0))
    assert counts == (2, 1, 3) and g[0] == 0.75


def test_nearest_level_breaks_ties_downwards_and_clips_at_the_ends():
    grid = np.array([-1.0, 0.0, 1.0])
    values = np.array([-3.0, -0.5, -0.49, 0.5, 0.51, 7.0])
    np.testing.assert_array_equal(nearest(grid, values), [0, 0, 1, 1, 2, 2])


def test_weight_grids_of_both_schemes():
    levels = np.array([0.0, 0.5, 1.0])
    grid, plus, minus = weight_grid(levels, pair=True)
    np.testing.assert_array_equal(grid, [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(plus, [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(minus, [2, 1, 0, 0, 0])
    grid, plus, minus = weight_grid(levels, pair=False)
    np.testing.assert_array_equal(grid, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(plus, [0, 1, 2])
    np.testing.assert_array_equal(minus, [0, 0, 0])


def test_through_an_access_transistor_the_grid_is_the_levels_as_read():
    """R_access = 1 / Gmax, Gmin = 0: a read sees g / (1 + g), so levels 0, 1/2, 1 of the range
    read 0, 1/3, 1/2, that is 0, 2/3, 1 of the read range; G- at mid-range reads 2/3, so a single
    cell's grid is 2 (level - 2/3). Without the transistor the levels are the grid's."""
    levels = np.array([0.0, 0.5, 1.0])
    device = DeviceParams(g_max_s=1e-4, r_access_ohm=1e4)
    read = read_levels(device, levels)
    np.testing.assert_allclose(read, [0.0, 2 / 3, 1.0])
    np.testing.assert_allclose(weight_grid(read, pair=True)[0], [-1.0, -2 / 3, 0.0, 2 / 3, 1.0])
    middle = read_levels(device, np.array([0.5]))[0]
    np.testing.assert_allclose(weight_grid(read, False, middle)[0], [-4 / 3, 0.0, 2 / 3])
    assert read_levels(DeviceParams(), levels) is levels


def test_clip_scale_on_a_hand_made_layer():
    """30 weights of 0.2 and one of 1.0, |w|^2 = 2.2. On the ternary grid of 2 states the
    candidates are 0.2, 0.28, 0.52, 0.76 and 1.0 (quantiles 0.5 .. 1.0 of |w|): s = 0.2 and 0.28
    store every weight as +1, similarity 7^2 / (2.2 x 31) = 0.72; s >= 0.52 round the 0.2s to 0,
    1 / 2.2 = 0.45; the first best is s = 0.2. At 256 states s = 1 stores each 0.2 exactly (51
    of 255 steps): similarity 1, the largest |w| scaling wins."""
    weights = np.array([0.2] * 30 + [1.0]).reshape(31, 1)
    ternary = weight_grid(DeviceParams(n_states=2).nominal_levels(), pair=True)[0]
    assert clip_scale(weights, ternary) == pytest.approx(0.2)
    fine = weight_grid(DeviceParams(n_states=256).nominal_levels(), pair=True)[0]
    assert clip_scale(weights, fine) == 1.0
    assert clip_scale(np.zeros((3, 2)), ternary) == 1.0


def test_clip_scale_keeps_weights_at_few_states_and_never_loses_to_the_largest_weight():
    weights = np.random.default_rng(0).standard_normal((200, 50))
    for n_states in (2, 4, 16):
        grid = weight_grid(DeviceParams(n_states=n_states).nominal_levels(), pair=True)[0]

        def quantised(s, grid=grid):
            return s * grid[nearest(grid, weights / s)]

        peak, best = np.abs(weights).max(), clip_scale(weights, grid)
        error = [np.mean((weights - quantised(s)) ** 2) for s in (best, peak)]
        assert error[0] <= error[1]
        if n_states == 2:  # the largest |w| rounds almost every weight to zero
            assert np.mean(quantised(peak) != 0) < 0.1 < 0.5 < np.mean(quantised(best) != 0)


@pytest.mark.parametrize("scheme", ["pair", "single"])
def test_ideal_device_stores_the_nominal_grid_and_counts_every_pulse(scheme):
    """Ideal linear 256-state device: the open-loop write is exact, so verify reads each
    programmed device once and pulses nothing; the erase is 255 RESETs per programmed device."""
    bar = crossbar(DeviceParams(), scheme)
    weights = np.random.default_rng(1).normal(size=bar.shape)
    reference = bar.g_minus.copy()
    counts = program(bar, weights, 0.01, 50, np.random.default_rng(2))
    grid, plus, minus = weight_grid(DeviceParams().nominal_levels(), scheme == "pair")
    level = nearest(grid, weights / clip_scale(weights, grid))
    n_programmed = bar.g_plus.size * (2 if scheme == "pair" else 1)
    assert counts.erase == 255 * n_programmed and counts.reads == n_programmed
    assert counts.set == (plus[level] + minus[level]).sum() and counts.reset == 0
    assert (bar.set_pulses, bar.reset_pulses) == (counts.set, counts.erase)
    stored = bar.g_plus - bar.g_minus if scheme == "pair" else 2 * (bar.g_plus - 0.5)
    np.testing.assert_allclose(stored, grid[level], atol=1e-5)
    if scheme == "single":  # the mid-range reference G- is never programmed
        np.testing.assert_array_equal(bar.g_minus, reference)


def test_a_budget_of_zero_verify_pulses_is_open_loop():
    spec = dict(method="exsitu", device="taox_hfox", d2d_sigma=0.2, read_noise=0.05, n_hidden=8)
    states = []
    for fields in ({"program": "open_loop"}, {"verify_max_pulses": 0}):
        learner = ExSituLearner(RunSpec(**spec, **fields), 12, 3, np.random.default_rng(4))
        X = np.random.default_rng(5).random((40, 12)) < 0.5
        stats = learner.fit_epoch(X, np.arange(40) % 3, np.random.default_rng(6))
        states.append((learner.state(), stats.set_pulses, stats.reset_pulses, stats.counters))
    (a, *counts_a), (b, *counts_b) = states
    assert all(np.array_equal(a[name], b[name]) for name in a)
    assert counts_a == counts_b and counts_a[2]["verify_reads"] == 0


def test_write_verify_brings_spread_devices_into_the_band_that_open_loop_misses():
    """D2D spread, no C2C noise: open loop leaves devices with many pulses off target; verify
    brings nearly all free devices into the band (the rest have a step wider than the band, or
    a Gmax below their target)."""
    params = DeviceParams(n_states=64, d2d_sigma=0.3, stuck_gmax=0.02)
    weights = np.random.default_rng(3).normal(size=(30, 20))
    errors = {}
    for budget in (0, 200):
        bar = crossbar(params)
        program(bar, weights, 0.01, budget, np.random.default_rng(4))
        grid, plus, minus = weight_grid(params.nominal_levels(), pair=True)
        level = nearest(grid, weights / clip_scale(weights, grid))
        free = (bar.plus.stuck == 0) & (bar.minus.stuck == 0)
        target = np.stack([params.nominal_levels()[k[level]] for k in (plus, minus)])
        errors[budget] = np.abs(np.stack([bar.g_plus, bar.g_minus]) - target)[:, free]
    outside = {budget: np.mean(error > 0.01 + 1e-6) for budget, error in errors.items()}
    assert outside[200] < 0.05 < 0.3 < outside[0]
    assert errors[200].mean() < errors[0].mean() / 5


def test_verify_reads_see_the_read_noise():
    """With read noise the reads, not the true conductances, decide: some devices stop outside
    the band, and the same seed repeats every draw."""
    params = DeviceParams(n_states=64, d2d_sigma=0.3, read_noise=0.05)
    weights = np.random.default_rng(3).normal(size=(30, 20))
    finals = []
    for _ in range(2):
        bar = crossbar(params)
        counts = program(bar, weights, 0.01, 200, np.random.default_rng(4))
        finals.append((bar.g_plus.copy(), bar.g_minus.copy(), counts))
    assert np.array_equal(finals[0][0], finals[1][0]) and finals[0][2] == finals[1][2]
    grid, plus, _ = weight_grid(params.nominal_levels(), pair=True)
    level = nearest(grid, weights / clip_scale(weights, grid))
    off = np.abs(finals[0][0] - params.nominal_levels()[plus[level]]) > 0.01 + 1e-6
    assert 0 < np.mean(off) < 0.5


def test_pulses_go_through_the_device_physics():
    """C2C noise on every write pulse: the erase saturates at Gmin exactly, the write does not
    land exactly; unwritten devices stay erased."""
    bar = crossbar(PRESETS["ideal"].with_overrides(c2c_sigma=0.05))
    weights = np.random.default_rng(1).normal(size=bar.shape)
    program(bar, weights, 0.01, 0, np.random.default_rng(2))
    grid, plus, minus = weight_grid(DeviceParams().nominal_levels(), pair=True)
    variance = write_variance(plus + minus, 0.05, None)
    level = nearest(grid, weights / clip_scale(weights, grid, variance))
    assert np.abs((bar.g_plus - bar.g_minus) - grid[level]).mean() > 0.01
    assert np.all(bar.g_minus[plus[level] > 0] == 0.0)  # erased partners of positive weights


def test_noisy_pulses_move_the_clipping_scale_to_points_of_many_pulses():
    """Grid -1, -0.5, 0, 0.5, 1 (0, 1 or 2 pulses from Gmin); 30 weights of 0.1 and one of 0.2,
    |w|^2 = 0.34. Without noise s = 0.2 stores w exactly (0.5 and 1: similarity 1; so does
    s = 0.14, the first candidate that stores the same points) against
    0.97 for s = 0.1 (every weight at 1). With a C2C sigma of 0.5 per pulse (variance 0.25 per
    pulse), s = 0.2 adds 30 x 0.25 + 0.5 = 8: 1.7^2 / (8.5 + 8) / 0.34 = 0.52; s = 0.1 adds
    31 x 0.5: 3.2^2 / (31 + 15.5) / 0.34 = 0.65, so two pulses per weight beat one."""
    weights = np.array([0.1] * 30 + [0.2])
    grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    pulses = np.array([2, 1, 0, 1, 2])

    def stored(noise):
        scale = clip_scale(weights, grid, write_variance(pulses, noise, None))
        return grid[nearest(grid, weights / scale)]

    np.testing.assert_array_equal(stored(0.0), [0.5] * 30 + [1.0])  # s = 0.14 .. 0.2
    np.testing.assert_array_equal(stored(0.5), [1.0] * 31)  # s = 0.1
    verified = write_variance(pulses, 0.5, 0.01)
    assert verified[0] == pytest.approx(0.25 + 0.01**2 / 3)
    assert verified[0] < write_variance(pulses, 0.5, None)[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(program="open_loop"), "program applies to method exsitu only"),
        (dict(method="exsitu", program="closed"), "program must be one of"),
        (dict(method="exsitu", verify_tolerance=0.0), "verify_tolerance must be in"),
        (dict(method="exsitu", verify_max_pulses=-1), "verify_max_pulses must be >= 0"),
    ],
)
def test_bad_programming_settings_are_named(fields, message):
    with pytest.raises(ConfigError, match=message):
        RunSpec(**fields)
