"""Mixed precision: a hand-worked update, engine equivalence with every noise source, learning."""

from __future__ import annotations

import numpy as np
import pytest
from rule_cases import CASES, digits_inputs, table_device_file

from sbp_core.errors import ConfigError
from sbp_core.methods.mixed_precision import MixedPrecisionLearner
from sbp_core.spec import RunSpec

# The network of tests/test_sgd.py's hand-worked update, on an ideal device with 65 states: a
# device pulse moves g by 1/64, a pair pulse moves a weight by epsilon = 1/32 (exact in float32).
HAND_SPEC = RunSpec(method="sgd", n_hidden=1, n_states=65)
G1 = [[0.5], [0.5], [0.5]]
G2_PLUS = [[0.75, 0.25], [0.25, 0.75]]
G2_MINUS = [[0.25, 0.75], [0.75, 0.25]]


def hand_network(engine: str) -> MixedPrecisionLearner:
    learner = MixedPrecisionLearner(
        HAND_SPEC, 2, 2, np.random.default_rng(0), lr=0.75, lr_out=0.375, engine=engine
    )
    learner.layers[0].g_plus[...] = learner.layers[0].g_minus[...] = np.array(G1, np.float32)
    learner.layers[1].g_plus[...] = np.array(G2_PLUS, dtype=np.float32)
    learner.layers[1].g_minus[...] = np.array(G2_MINUS, dtype=np.float32)
    return learner


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_hand_worked_update(engine):
    """Input x = (1, 0), target 0: as in test_sgd, a1 = 0.5, s2 = (-0.25, +0.25), s1 = -0.0625.

    Layer 1: chi += -0.75 s1 = 0.046875 = 1.5 epsilon on rows x1 and bias: one pulse each,
    chi keeps 0.015625 (half an epsilon); row x2 is not driven, chi stays 0 (SGD, rounding,
    would give 2 pulses). Layer 2: -0.375 s2 = (+0.09375, -0.09375); row h1 (a1 = 0.5) gets
    +-0.046875: one pulse each way, chi keeps +-0.015625; the bias row gets +-0.09375 = 3 epsilon:
    three pulses each way, chi back to 0. Pair pulses: 2 in layer 1, 8 in layer 2.
    """
    learner = hand_network(engine)
    stats = learner.fit_epoch(np.array([[True, False]]), np.array([0]), np.random.default_rng(0))

    g = 1 / 64
    expected = {
        "G_plus_l1": [[0.5 + g], [0.5], [0.5 + g]],
        "G_minus_l1": [[0.5 - g], [0.5], [0.5 - g]],
        "G_plus_l2": [[0.75 + g, 0.25 - g], [0.25 + 3 * g, 0.75 - 3 * g]],
        "G_minus_l2": [[0.25 - g, 0.75 + g], [0.75 - 3 * g, 0.25 + 3 * g]],
        "chi_l1": [[0.015625], [0.0], [0.015625]],
        "chi_l2": [[0.015625, -0.015625], [0.0, 0.0]],
    }
    state = learner.state()
    for name, values in expected.items():
        np.testing.assert_array_equal(state[name], np.array(values, np.float32), err_msg=name)
    assert stats.set_pulses == [2, 8] and stats.reset_pulses == [2, 8]
    assert learner.buffer_bits() == [32 * 3, 32 * 4]


def test_chi_carries_over_until_it_reaches_a_step():
    """Two samples of half an epsilon each on one weight: no pulse after the first, one after
    the second, and chi is back to 0 (settle on a flat chi, as the kernel's `settle`)."""
    learner = hand_network("numpy")
    chi = np.zeros(3, np.float32)
    index = np.array([1])
    half = np.float32(1 / 64)
    for expected_pulses, expected_chi in ((0, half), (1, 0.0)):
        chi[1] += half
        np.testing.assert_array_equal(learner.settle(chi, index), [expected_pulses])
        assert chi[1] == np.float32(expected_chi)


def test_settle_caps_at_the_device_range_and_keeps_the_rest():
    learner = hand_network("numpy")
    chi = np.array([-100.0, 2.5 / 32], np.float32)
    pulses = learner.settle(chi, np.arange(2))
    np.testing.assert_array_equal(pulses, [-64, 2])
    np.testing.assert_array_equal(chi, np.float32([-100.0 + 2.0, 0.5 / 32]))


@pytest.mark.parametrize("overrides", CASES)
def test_compiled_kernel_equals_the_reference_bit_for_bit(overrides, tmp_path):
    """Every noise source on (C2C, D2D, read noise, stuck devices; a lookup-table device): after
    two epochs the conductances, chi, pulse counts and loss of the kernel and the reference are
    identical, and the run's Generator is left in the same state."""
    X, y = digits_inputs()
    overrides = dict(overrides)
    if overrides["device"] == "table":
        overrides["device"] = table_device_file(tmp_path)
    spec = RunSpec(method="sgd", **{"n_hidden": 16, **overrides})
    results = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        learner = MixedPrecisionLearner(spec, X.shape[1], 10, rng, engine=engine)
        stats = [learner.fit_epoch(X, y, rng) for _ in range(2)]
        counts = [(s.set_pulses, s.reset_pulses, s.loss) for s in stats]
        results.append((learner.state(), counts, rng.random()))
    (state_a, counts_a, next_a), (state_b, counts_b, next_b) = results
    assert counts_a == counts_b and next_a == next_b
    assert min(counts_a[-1][0]) > 0  # every layer pulses
    for name in state_a:
        assert np.array_equal(state_a[name], state_b[name]), name


def test_rates_must_be_positive():
    with pytest.raises(ConfigError, match="lr_out: must be > 0"):
        MixedPrecisionLearner(HAND_SPEC, 2, 2, np.random.default_rng(0), lr_out=0.0)


def test_mixed_precision_learns_digits():
    """Ideal device, 64-32-10, 10 epochs, seed 0: 90.4 % validation accuracy measured (chance is
    10 %); asserting 70 % leaves a wide margin."""
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    X = binarize(data.X_train, 0.5, data.max_value)
    X_val = binarize(data.X_val, 0.5, data.max_value)
    rng = np.random.default_rng(0)
    learner = MixedPrecisionLearner(RunSpec(method="sgd", n_hidden=32), X.shape[1], 10, rng)
    for _ in range(10):
        learner.fit_epoch(X, data.y_train, rng)
    assert np.mean(learner.predict(X_val) == data.y_val) > 0.7
