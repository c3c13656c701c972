"""Differential-pair crossbar: reads, pulse counting, saturation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbp_core.chip import engine
from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.kinds.neurosim import DeviceParams


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


@pytest.mark.parametrize(
    ("scheme", "sets", "resets"), [("pair", 6, 6), ("single", 4, 2), ("set_only", 6, 0)]
)
def test_every_coincidence_is_one_pulse_counted_by_kind(scheme, sets, resets):
    bar = crossbar(scheme=scheme)
    direction = np.array([1, 0, -1, 1], dtype=np.int8)
    bar.pulse(np.array([1, 4]), direction, np.random.default_rng(0))
    assert bar.take_pulse_counts() == (sets, resets)
    assert bar.take_pulse_counts() == (0, 0)


def test_pulses_drawn_per_line_fire_where_a_row_and_a_column_both_fired_by_hand():
    """Probability 0.25, per line: each row, then each error column, fires with probability
    0.5. With seed 3 the draws are rows 0, 1, 4: (0.086, 0.237, 0.801), then columns 0, 2, 3
    (column 1 has no error and draws nothing): (0.582, 0.094, 0.433). Rows 0 and 1 and columns
    2 and 3 fired, so four pairs are pulsed, raised in column 2 and lowered in column 3: 4 SET
    and 4 RESET in the pair scheme."""
    draws = np.random.default_rng(3).random(6)
    np.testing.assert_allclose(draws, [0.086, 0.237, 0.801, 0.582, 0.094, 0.433], atol=5e-4)
    bar = crossbar(DeviceParams(n_states=11))
    before = bar.weights()
    direction = np.array([1, 0, 1, -1], dtype=np.int8)
    bar.pulse(np.array([0, 1, 4]), direction, np.random.default_rng(3), 0.25, per_line=True)
    change = bar.weights() - before
    assert np.argwhere(change).tolist() == [[0, 2], [0, 3], [1, 2], [1, 3]]
    assert np.all(change[:2, 2] > 0) and np.all(change[:2, 3] < 0)
    assert bar.take_pulse_counts() == (4, 4)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    prob=st.floats(0.01, 0.99),
    n_rows=st.integers(1, 6),
    columns=st.lists(st.sampled_from([-1, 0, 1]), min_size=4, max_size=4),
)
def test_pulses_drawn_per_line_pulse_a_whole_rectangle_once(seed, prob, n_rows, columns):
    """Per line, the pulsed pairs are every pair of a set of rows and a set of error columns,
    each pair at most once: the pulses of one row (or column) fire together."""
    bar = crossbar(DeviceParams(n_states=101))
    before = bar.weights()
    rows = np.random.default_rng(seed).choice(6, n_rows, replace=False)
    direction = np.array(columns, dtype=np.int8)
    bar.pulse(rows, direction, np.random.default_rng(seed), prob, per_line=True)
    moved = bar.weights() != before
    hit_rows, hit_cols = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
    assert moved[np.ix_(hit_rows, hit_cols)].all()
    assert moved.sum() == hit_rows.size * hit_cols.size
    assert set(hit_rows) <= set(rows) and np.all(direction[hit_cols] != 0)
    assert sum(bar.take_pulse_counts()) == 2 * moved.sum()  # one pulse on each device of a pair


def test_pulses_drawn_per_line_fire_a_pair_with_the_configured_probability():
    """Over 4,000 samples each pair of a 6 x 4 crossbar fires with probability 0.3 per line as
    per pair (sqrt(0.3) per row times per column), within 5 standard errors."""
    rng, fired = np.random.default_rng(11), np.zeros((6, 4))
    direction = np.array([1, 1, -1, 1], dtype=np.int8)
    bar = crossbar(DeviceParams(n_states=11))
    plus, minus, before = bar.g_plus.copy(), bar.g_minus.copy(), bar.weights()
    for _ in range(4000):
        bar.g_plus[...], bar.g_minus[...] = plus, minus
        bar.pulse(np.arange(6), direction, rng, 0.3, per_line=True)
        fired += bar.weights() != before
    share = fired / 4000
    assert np.all(np.abs(share - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 4000))


def test_a_pulse_moves_the_weight_in_its_direction_and_nothing_else():
    bar = crossbar(DeviceParams(n_states=11))
    before = bar.weights()
    bar.pulse(np.array([2]), np.array([1, 0, -1, 0], dtype=np.int8), np.random.default_rng(0))
    change = bar.weights() - before
    assert change[2, 0] > 0 and change[2, 2] < 0
    change[2, 0] = change[2, 2] = 0
    assert not change.any()


def test_set_only_raises_a_weight_by_a_set_on_g_plus_and_lowers_it_by_a_set_on_g_minus():
    """11 states, linear: every SET moves its device up 0.1; the other device rests, no RESET."""
    bar = crossbar(DeviceParams(n_states=11), scheme="set_only")
    bar.g_plus[...], bar.g_minus[...] = 0.3, 0.5
    bar.pulse(np.array([1, 3]), np.array([1, 0, -1, 0], dtype=np.int8), np.random.default_rng(0))
    expected_plus, expected_minus = np.full((6, 4), 0.3), np.full((6, 4), 0.5)
    expected_plus[[1, 3], 0] = 0.4
    expected_minus[[1, 3], 2] = 0.6
    np.testing.assert_allclose(bar.g_plus, expected_plus, atol=1e-6)
    np.testing.assert_allclose(bar.g_minus, expected_minus, atol=1e-6)
    assert bar.take_pulse_counts() == (4, 0)


def test_saturated_fraction_counts_devices_at_their_bounds():
    bar = crossbar(DeviceParams(n_states=5))
    rows, up = np.arange(6), np.ones(4, dtype=np.int8)
    for _ in range(10):
        bar.pulse(rows, up, np.random.default_rng(0))
    assert bar.saturated_fraction() == 1.0  # every G+ at Gmax, every G- at Gmin


def test_a_read_through_the_access_transistor_compresses_high_conductances_by_hand():
    """R_access = 1 / Gmax, Gmin = 0: a read sees g / (1 + g), so Gmax reads 1/2 and half the
    range 1/3; weights are scaled by the read range 1/2 - 0, so G+ at Gmax against G- at Gmin
    reads 1, and G+ at half range reads 2/3, not 1/2 (NeuroSim's 1T1R read)."""
    params = DeviceParams(n_states=11, g_max_s=1e-4, r_access_ohm=1e4)
    bar = Crossbar(2, 1, params, np.random.default_rng(0), init_spread=0.0)
    bar.g_plus[:] = [[1.0], [0.5]]
    bar.g_minus[:] = 0.0
    assert bar.scale == np.float32(2.0)
    assert np.allclose(bar.weights()[:, 0], [1.0, 2 / 3])
    rng = np.random.default_rng(0)
    assert np.allclose(bar.read_rows(np.array([0, 1]), rng), [5 / 3])
    assert np.allclose(bar.read_columns(np.array([-1]), rng), [-1.0, -2 / 3])
    compiled = engine.read_rows(bar.arrays(), np.array([0, 1]), rng)
    assert compiled.tolist() == bar.read_rows(np.array([0, 1]), rng).tolist()
