"""Sign backpropagation: a hand-worked update, engine equivalence, pulse counting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbp_core.methods.sbp import SBPLearner, output_error, ternarize
from sbp_core.spec import RunSpec

# A 2-input, 4-hidden, 2-output network on the ideal device with 11 states (one pulse moves a
# device by 0.1), comparator threshold 0, margins +-0.5, error threshold 0.05, gate window 0.25.
HAND_SPEC = RunSpec(
    n_hidden=4, n_states=11, theta=0.0, margin_hi=0.5, margin_lo=-0.5,
    error_threshold=0.05, gate_window=0.25,
)  # fmt: skip
# Layer 1 is the 3x4 crossbar (rows x1, x2, bias); layer 2 is 5x2 (rows h1..h4, bias).
G1_PLUS = [[0.5, 0.2, 0.3, 0.0], [0.9, 0.9, 0.9, 0.9], [0.1, 0.3, 0.2, 0.5]]
G1_MINUS = [[0.2, 0.4, 0.3, 0.1], [0.0, 0.0, 0.0, 0.0], [0.1, 0.2, 0.4, 0.1]]
G2_PLUS = [[0.3, 0.6], [0.5, 0.5], [0.6, 0.1], [0.2, 0.4], [0.1, 0.1]]
G2_MINUS = [[0.1, 0.2], [0.0, 0.03], [0.0, 0.0], [0.3, 0.1], [0.1, 0.0]]


def hand_network(engine: str) -> SBPLearner:
    learner = SBPLearner(HAND_SPEC, 2, 2, np.random.default_rng(0), engine=engine)
    for layer, plus, minus in (
        (learner.layers[0], G1_PLUS, G1_MINUS),
        (learner.layers[1], G2_PLUS, G2_MINUS),
    ):
        layer.g_plus[...] = np.array(plus, dtype=np.float32)
        layer.g_minus[...] = np.array(minus, dtype=np.float32)
    return learner


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_hand_worked_update(engine):
    """Input x = (1, 0), target class 0.

    Forward: rows x1 and bias are read, a1 = (0.3, -0.1, -0.2, 0.3), so h = (1, 0, 0, 1) and
    rows h1, h4 and bias of layer 2 are read: a2 = (0.1, 0.8).
    Output error: class 0 is the target and 0.1 < 0.5 -> +1; class 1 is not and 0.8 > -0.5 -> -1.
    Hidden error: s = W2^T e over h1..h4 = (0.2-0.4, 0.5-0.47, 0.6-0.1, -0.1-0.3)
    = (-0.2, 0.03, 0.5, -0.4); the threshold 0.05 drops h2, the gate |a1| < 0.25 drops h1 and h4,
    so d = (0, 0, +1, 0).
    Pulses: layer 2 gets 3 rows x 2 columns = 6 pair pulses (column 0 up, column 1 down), layer 1
    gets 2 rows x 1 column = 2 pair pulses (column 3 up); in the pair scheme each is a SET on one
    device and a RESET on the other.
    """
    learner = hand_network(engine)
    if engine == "numpy":
        learner.train_sample(np.array([0, 2]), 0, np.random.default_rng(0))
        stats = learner.epoch_stats()
    else:
        X, y = np.array([[True, False]]), np.array([0])
        stats = learner.fit_epoch(X, y, np.random.default_rng(0))

    expected_g2_plus = [[0.4, 0.5], [0.5, 0.5], [0.6, 0.1], [0.3, 0.3], [0.2, 0.0]]
    expected_g2_minus = [[0.0, 0.3], [0.0, 0.03], [0.0, 0.0], [0.2, 0.2], [0.0, 0.1]]
    expected_g1_plus = [r[:] for r in G1_PLUS]
    expected_g1_minus = [r[:] for r in G1_MINUS]
    expected_g1_plus[0][2], expected_g1_plus[2][2] = 0.4, 0.3
    expected_g1_minus[0][2], expected_g1_minus[2][2] = 0.2, 0.3

    for actual, expected in (
        (learner.layers[0].g_plus, expected_g1_plus),
        (learner.layers[0].g_minus, expected_g1_minus),
        (learner.layers[1].g_plus, expected_g2_plus),
        (learner.layers[1].g_minus, expected_g2_minus),
    ):
        np.testing.assert_allclose(actual, expected, atol=1e-6)
    assert stats.set_pulses == [2, 6] and stats.reset_pulses == [2, 6]


# Two hidden layers: 2 inputs, 2 + 2 hidden, 2 outputs, same device and rule as above but a gate
# window of 0.5. Rows of each crossbar: the layer below's neurons, then the bias row.
DEEP_SPEC = RunSpec(
    n_hidden=[2, 2], n_states=11, theta=0.0, margin_hi=0.5, margin_lo=-0.5,
    error_threshold=0.05, gate_window=0.5,
)  # fmt: skip
DEEP_PLUS = (
    [[0.5, 0.2], [0.7, 0.6], [0.3, 0.4]],  # W1 = [[0.3, -0.2], [0.5, 0.5], [0.1, 0.0]]
    [[0.4, 0.1], [0.33, 0.6], [0.5, 0.3]],  # W2 = [[0.2, -0.7], [0.03, 0.4], [0.1, 0.1]]
    [[0.5, 0.6], [0.7, 0.3], [0.3, 0.4]],  # W3 = [[0.2, 0.4], [0.5, 0.1], [0.0, 0.1]]
)
DEEP_MINUS = (
    [[0.2, 0.4], [0.2, 0.1], [0.2, 0.4]],
    [[0.2, 0.8], [0.3, 0.2], [0.4, 0.2]],
    [[0.3, 0.2], [0.2, 0.2], [0.3, 0.3]],
)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_hand_worked_update_with_two_hidden_layers(engine):
    """Input x = (1, 0), target class 0; every backward read sees the weights before the update.

    Forward: rows x1 and bias of layer 1 give a1 = (0.3 + 0.1, -0.2 + 0.0) = (0.4, -0.2), so
    h1 = (1, 0); rows h1_1 and bias of layer 2 give a2 = (0.2 + 0.1, -0.7 + 0.1) = (0.3, -0.6),
    so h2 = (1, 0); rows h2_1 and bias of layer 3 give a3 = (0.2 + 0.0, 0.4 + 0.1) = (0.2, 0.5).
    Output error: 0.2 < 0.5 on the target -> +1; 0.5 > -0.5 elsewhere -> -1; e = (+1, -1).
    Layer 2's error: s2 = W3 e over rows h2_1, h2_2 = (0.2 - 0.4, 0.5 - 0.1) = (-0.2, 0.4) (the
    bias row's -0.1 has no neuron); both beat the threshold 0.05, but |a2_2| = 0.6 is outside the
    gate window 0.5, so d2 = (-1, 0).
    Layer 1's error: s1 = W2 d2 = -(column 0 of W2) = (-0.2, -0.03): the threshold drops h1_2 and
    both are inside the gate, so d1 = (-1, 0).
    Pulses (pair scheme, each a SET on one device and a RESET on the other, 0.1 each):
    layer 3: rows h2_1, bias x columns 0 (up), 1 (down) = 4; layer 2: rows h1_1, bias x column
    0 (down) = 2; layer 1: rows x1, bias x column 0 (down) = 2. Had layer 3 been updated before
    its backward read, W3's row h2_1 would be (0.4, 0.2), s2_1 = +0.2, and layers 2 and 1 would
    be pulsed the other way.
    """
    learner = SBPLearner(DEEP_SPEC, 2, 2, np.random.default_rng(0), engine=engine)
    for layer, plus, minus in zip(learner.layers, DEEP_PLUS, DEEP_MINUS, strict=True):
        layer.g_plus[...] = np.array(plus, dtype=np.float32)
        layer.g_minus[...] = np.array(minus, dtype=np.float32)
    if engine == "numpy":
        learner.train_sample(np.array([0, 2]), 0, np.random.default_rng(0))
        stats = learner.epoch_stats()
    else:
        X, y = np.array([[True, False]]), np.array([0])
        stats = learner.fit_epoch(X, y, np.random.default_rng(0))

    expected_plus = (
        [[0.4, 0.2], [0.7, 0.6], [0.2, 0.4]],
        [[0.3, 0.1], [0.33, 0.6], [0.4, 0.3]],
        [[0.6, 0.5], [0.7, 0.3], [0.4, 0.3]],
    )
    expected_minus = (
        [[0.3, 0.4], [0.2, 0.1], [0.3, 0.4]],
        [[0.3, 0.8], [0.3, 0.2], [0.5, 0.2]],
        [[0.2, 0.3], [0.2, 0.2], [0.2, 0.4]],
    )
    for number, layer in enumerate(learner.layers):
        np.testing.assert_allclose(layer.g_plus, expected_plus[number], atol=1e-6)
        np.testing.assert_allclose(layer.g_minus, expected_minus[number], atol=1e-6)
    assert stats.set_pulses == [2, 2, 4] and stats.reset_pulses == [2, 2, 4]


def test_output_error_and_ternarize():
    np.testing.assert_array_equal(
        output_error(np.array([0.1, 0.8, -0.6]), 0, 0.5, -0.5), [1, -1, 0]
    )
    np.testing.assert_array_equal(output_error(np.array([0.7, 0.8]), 0, 0.5, -0.5), [0, -1])
    np.testing.assert_array_equal(ternarize(np.array([-0.2, 0.05, 0.5, 0.0]), 0.05), [-1, 0, 1, 0])


def digits_inputs(n: int = 400):
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    return binarize(data.X_train[:n], 0.5, data.max_value), data.y_train[:n]


@pytest.mark.parametrize(
    "overrides",
    [
        {"device": "ag_si", "c2c_sigma": 0.0},
        {"device": "pcmo", "c2c_sigma": 0.0, "d2d_sigma": 0.2, "stuck_gmin": 0.05},
        {"n_states": 16, "pulse_scheme": "single", "gate_window": 0.0},
        {"device": "ag_si", "d2d_sigma": 0.1, "read_noise": 0.02, "pulse_prob": 0.7},
        {"device": "epiram", "pulse_scheme": "single", "read_noise": 0.05, "error_threshold": 0.1},
        {"device": "pcmo", "pulse_scheme": "set_only", "refresh_every": 150, "read_noise": 0.02},
        {
            "device": "ag_si",
            "pulse_scheme": "set_only",
            "refresh_every": 70,
            "d2d_sigma": 0.1,
            "stuck_gmax": 0.02,
            "read_noise": 0.02,
            "pulse_prob": 0.5,
            "pulse_prob_final": 0.1,
        },
        {
            "device": "ag_si", "c2c_sigma": 0.02, "d2d_sigma": 0.1, "read_noise": 0.02,
            "pulse_prob": 0.3, "pulse_rng": "line",
        },
        {
            "device": "pcmo", "pulse_scheme": "set_only", "refresh_every": 70, "stuck_gmin": 0.02,
            "pulse_prob": 0.5, "pulse_prob_final": 0.1, "pulse_rng": "line",
        },
    ],
)  # fmt: skip
def test_compiled_kernel_equals_the_reference_bit_for_bit(overrides):
    """Noise off, and with every noise source on: the kernel draws from the run's Generator in
    the reference's order, so even noisy runs agree to the last bit."""
    X, y = digits_inputs()
    spec = RunSpec(n_hidden=32, **overrides)
    states, counts = [], []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        learner = SBPLearner(spec, X.shape[1], 10, rng, engine=engine)
        for _ in range(2):
            stats = learner.fit_epoch(X, y, rng)
        states.append(learner.state())
        counts.append((stats.set_pulses, stats.reset_pulses))
    assert counts[0] == counts[1]
    for name in states[0]:
        assert np.array_equal(states[0][name], states[1][name]), name


def test_pulse_probability_decays_geometrically_from_first_to_last_epoch():
    """pulse_prob 0.5 to 0.05 over 3 epochs: 0.5, 0.5 * 0.1 ** 0.5 = 0.158, 0.05 (and stays)."""
    X, y = digits_inputs(20)
    spec = RunSpec(n_hidden=4, epochs=3, pulse_prob=0.5, pulse_prob_final=0.05)
    learner = SBPLearner(spec, X.shape[1], 10, np.random.default_rng(0))
    seen = []
    for _ in range(4):
        seen.append(learner.pulse_probability())
        learner.fit_epoch(X, y, np.random.default_rng(0))
    np.testing.assert_allclose(seen, [0.5, 0.5 * 0.1**0.5, 0.05, 0.05])
    assert (
        SBPLearner(RunSpec(pulse_prob=0.3), 4, 2, np.random.default_rng(0)).pulse_probability()
        == 0.3
    )


def test_refresh_cycles_fall_every_refresh_every_samples_across_epochs():
    """refresh_every 7 over epochs of 10 samples: cycles after samples 7, 14, 21, 28 of the run,
    so the first epoch trains 7 + 3 samples, the second 4 + 6, the third 1 + 7 + 2."""
    learner = SBPLearner(
        RunSpec(n_hidden=4, pulse_scheme="set_only", refresh_every=7),
        3,
        2,
        np.random.default_rng(0),
    )
    order = np.arange(10)
    runs = [
        [(len(chunk), due) for chunk, due in learner._between_refreshes(order)] for _ in range(3)
    ]
    assert runs == [
        [(7, True), (3, False)],
        [(4, True), (6, False)],
        [(1, True), (7, True), (2, False)],
    ]


def test_refresh_counts_reach_the_epoch_statistics():
    X, y = digits_inputs(400)
    spec = RunSpec(
        n_hidden=4, n_states=4, pulse_scheme="set_only", refresh_every=100, gate_window=0.0
    )
    rng = np.random.default_rng(0)
    learner = SBPLearner(spec, X.shape[1], 10, rng)
    stats = learner.fit_epoch(X, y, rng)
    for number, layer in enumerate(learner.layers, start=1):  # 4 cycles, two devices a pair
        assert stats.counters[f"refresh_reads_l{number}"] == 4 * 2 * layer.g_plus.size
        assert stats.counters[f"refreshed_pairs_l{number}"] > 0
    assert sum(stats.reset_pulses) > 0  # only refresh erases RESET in the set-only scheme


@pytest.mark.parametrize("scheme", ["pair", "single", "set_only"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_no_device_gets_more_than_one_pulse_per_sample(scheme, data):
    """The contract: one training sample moves each device by at most one programming pulse.
    On a linear noise-free 11-state device a pulse moves a device by exactly 0.1 (or to a bound),
    so after one sample no device may have moved by more than 0.1, from any state and input."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    n_in, n_hidden, n_out = data.draw(
        st.tuples(st.integers(1, 12), st.integers(1, 9), st.integers(2, 6))
    )
    generator = np.random.default_rng(seed)
    spec = RunSpec(
        n_hidden=n_hidden,
        n_states=11,
        pulse_scheme=scheme,
        gate_window=data.draw(st.sampled_from([0.0, 1.0])),
        margin_hi=data.draw(st.sampled_from([0.5, 2.0])),
        margin_lo=-0.5,
    )
    learner = SBPLearner(spec, n_in, n_out, np.random.default_rng(seed))
    for layer in learner.layers:  # any state the device can hold
        layer.g_plus[...] = generator.integers(0, 11, layer.g_plus.shape) / 10
        layer.g_minus[...] = (
            generator.integers(0, 11, layer.g_minus.shape) / 10
            if scheme != "single"
            else layer.g_minus
        )
    before = [(layer.g_plus.copy(), layer.g_minus.copy()) for layer in learner.layers]
    x = generator.random(n_in) < 0.5
    rows = np.append(np.flatnonzero(x), n_in)
    learner.train_sample(rows, int(generator.integers(n_out)), np.random.default_rng(seed))
    for layer, (plus, minus) in zip(learner.layers, before, strict=True):
        for now, then in ((layer.g_plus, plus), (layer.g_minus, minus)):
            assert np.all(np.abs(now - then) <= 0.1 + 1e-6)
            if scheme == "set_only":
                assert np.all(now >= then)  # SETs only


NOISY = {
    "device": "ag_si", "c2c_sigma": 0.02, "d2d_sigma": 0.1, "stuck_gmin": 0.02,
    "read_noise": 0.02, "pulse_prob": 0.7, "init_spread": 0.5, "error_threshold": 0.02,
}  # fmt: skip
"""Every noise source on, and starting weights large enough that errors reach every layer."""


@pytest.mark.parametrize("pulse_rng", ["pair", "line"])
@pytest.mark.parametrize("widths", [[32, 16], [24, 16, 12]])
def test_compiled_kernel_equals_the_reference_with_several_hidden_layers(widths, pulse_rng):
    """Two and three hidden layers, every noise source on, random numbers drawn per pair or per
    line: the same conductances and pulse counts to the last bit, with every layer pulsed."""
    X, y = digits_inputs(300)
    spec = RunSpec(n_hidden=widths, pulse_rng=pulse_rng, **NOISY)
    results = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        learner = SBPLearner(spec, X.shape[1], 10, rng, engine=engine)
        stats = learner.fit_epoch(X, y, rng)
        results.append((learner.state(), stats.set_pulses, stats.reset_pulses))
    (state_a, *counts_a), (state_b, *counts_b) = results
    assert counts_a == counts_b
    assert len(counts_a[0]) == len(widths) + 1 and min(counts_a[0]) > 0
    assert sorted(state_a) == sorted(state_b) and len(state_a) == 2 * (len(widths) + 1)
    for name in state_a:
        assert np.array_equal(state_a[name], state_b[name]), name


def test_noise_sources_change_the_outcome():
    X, y = digits_inputs()
    outcomes = []
    for overrides in ({}, {"c2c_sigma": 0.02}, {"read_noise": 0.02}, {"pulse_prob": 0.7}):
        rng = np.random.default_rng(7)
        learner = SBPLearner(RunSpec(n_hidden=32, **overrides), X.shape[1], 10, rng)
        learner.fit_epoch(X, y, rng)
        outcomes.append(learner.layers[0].g_plus.copy())
    for noisy in outcomes[1:]:
        assert not np.array_equal(outcomes[0], noisy)


def test_stochastic_pulses_fire_with_the_configured_probability():
    X, y = digits_inputs(200)
    full = SBPLearner(RunSpec(n_hidden=32), X.shape[1], 10, np.random.default_rng(1))
    # one sample from identical states: the coincidences are the same, half of them fire
    rows = np.append(np.flatnonzero(X[0]), X.shape[1])
    full.train_sample(rows, int(y[0]), np.random.default_rng(2))
    n_full = sum(full.epoch_stats().set_pulses)
    draws = []
    half_spec = RunSpec(n_hidden=32, pulse_prob=0.5)
    for seed in range(40):
        trial = SBPLearner(half_spec, X.shape[1], 10, np.random.default_rng(1))
        trial.train_sample(rows, int(y[0]), np.random.default_rng(seed))
        draws.append(sum(trial.epoch_stats().set_pulses))
    assert n_full > 100
    assert np.mean(draws) == pytest.approx(0.5 * n_full, rel=0.05)


def test_sbp_learns_digits():
    X, y = digits_inputs(1200)
    rng = np.random.default_rng(0)
    learner = SBPLearner(RunSpec(n_hidden=64), X.shape[1], 10, rng)
    for _ in range(5):
        learner.fit_epoch(X, y, rng)
    assert np.mean(learner.predict(X) == y) > 0.85


@pytest.mark.parametrize(("n_in", "n_hidden", "n_out"), [(2, 2, 3), (3, 8, 10), (16, 1, 4)])
def test_compiled_kernel_equals_the_reference_on_odd_shapes(n_in, n_hidden, n_out):
    """n_out > n_hidden, n_in < n_hidden, n_hidden = 1: each layer's pulses need scratch space
    of their own layer's size (layer 2 can be the larger one)."""
    data = np.random.default_rng(3)
    X, y = data.random((300, n_in)) < 0.5, data.integers(0, n_out, 300)
    spec = RunSpec(n_hidden=n_hidden, c2c_sigma=0.02, read_noise=0.02, pulse_prob=0.8)
    results = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(11)
        learner = SBPLearner(spec, n_in, n_out, rng, engine=engine)
        stats = learner.fit_epoch(X, y, rng)
        results.append((learner.state(), stats.set_pulses, stats.reset_pulses))
    (state_a, *counts_a), (state_b, *counts_b) = results
    assert counts_a == counts_b and sum(counts_a[0]) > 0
    for name in state_a:
        assert np.array_equal(state_a[name], state_b[name]), name
