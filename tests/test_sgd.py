"""On-chip SGD: a hand-worked update, the ADC and pulse rounding, engine equivalence, learning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.methods.sgd import SGDLearner
from sbp_core.methods.sgd_kernel import ADC
from sbp_core.spec import RunSpec

# A 2-input, 1-hidden, 2-output network on the ideal device with 81 states: one pulse moves a
# device by 1/80 = 0.0125, a pair pulse moves a weight by 0.025. NeuroSim's rates 0.4 / 0.2.
HAND_SPEC = RunSpec(method="sgd", n_hidden=1, n_states=81, lr=0.4, lr_out=0.2)
# Layer 1 is 3x1 (rows x1, x2, bias), all weights 0; layer 2 is 2x2 (rows h1, bias):
# w2 = [[0.5, -0.5], [-0.5, 0.5]].
G1 = [[0.5], [0.5], [0.5]]
G2_PLUS = [[0.75, 0.25], [0.25, 0.75]]
G2_MINUS = [[0.25, 0.75], [0.75, 0.25]]


def hand_network(engine: str, spec: RunSpec = HAND_SPEC) -> SGDLearner:
    learner = SGDLearner(spec, 2, 2, np.random.default_rng(0), engine=engine)
    learner.layers[0].g_plus[...] = learner.layers[0].g_minus[...] = np.array(G1, dtype=np.float32)
    learner.layers[1].g_plus[...] = np.array(G2_PLUS, dtype=np.float32)
    learner.layers[1].g_minus[...] = np.array(G2_MINUS, dtype=np.float32)
    return learner


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_hand_worked_update(engine):
    """Input x = (1, 0), target class 0.

    Forward: z1 = 0, code 0, a1 = sigmoid(0) = 0.5 and h1 = 1 (0 >= theta = 0); rows h1 and
    bias of layer 2 give z2 = (0.5 - 0.5, -0.5 + 0.5) = (0, 0), so a2 = (0.5, 0.5).
    Errors: s2 = -2 a2 (1 - a2)(t - a2) = (-0.25, +0.25);
    s1 = a1 (1 - a1)(0.5 * -0.25 + -0.5 * 0.25) = 0.25 * -0.25 = -0.0625.
    Layer 1: dw = -0.4 * s1 * x = +0.025 on rows x1 and bias (one pulse each), none on x2.
    Layer 2: dw = -0.2 * s2 * [a1; 1]: column 0 gets +0.025 on h1 (one pulse) and +0.05 on the
    bias (two pulses), column 1 the same downwards. Pair pulses: 2 in layer 1, 6 in layer 2.
    """
    learner = hand_network(engine)
    stats = learner.fit_epoch(np.array([[True, False]]), np.array([0]), np.random.default_rng(0))

    step = 0.0125
    expected = {
        "g1_plus": [[0.5 + step], [0.5], [0.5 + step]],
        "g1_minus": [[0.5 - step], [0.5], [0.5 - step]],
        "g2_plus": [[0.75 + step, 0.25 - step], [0.25 + 2 * step, 0.75 - 2 * step]],
        "g2_minus": [[0.25 - step, 0.75 + step], [0.75 - 2 * step, 0.25 + 2 * step]],
    }
    actual = {
        "g1_plus": learner.layers[0].g_plus, "g1_minus": learner.layers[0].g_minus,
        "g2_plus": learner.layers[1].g_plus, "g2_minus": learner.layers[1].g_minus,
    }  # fmt: skip
    for name, values in expected.items():
        np.testing.assert_allclose(actual[name], values, atol=1e-6, err_msg=name)
    assert stats.set_pulses == [2, 6] and stats.reset_pulses == [2, 6]
    # the loss is the squared output error: (1 - 0.5)^2 + (0 - 0.5)^2
    assert stats.loss == pytest.approx(0.5)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_without_a_bias_row_the_bias_rows_are_never_pulsed(engine):
    """The hand-worked update above with bias_row false: layer 1 pulses row x1 only (1 pair
    pulse), layer 2 row h1 only (+1 on column 0, -1 on column 1); the bias rows stay as they were
    (and a new network starts them at weight 0)."""
    spec = dataclasses.replace(HAND_SPEC, bias_row=False)
    learner = hand_network(engine, spec)
    fresh = SGDLearner(spec, 2, 2, np.random.default_rng(1))
    stats = learner.fit_epoch(np.array([[True, False]]), np.array([0]), np.random.default_rng(0))
    step = 0.0125
    np.testing.assert_allclose(learner.layers[0].g_plus[:, 0], [0.5 + step, 0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(
        learner.layers[1].g_plus, [[0.75 + step, 0.25 - step], G2_PLUS[1]], atol=1e-6
    )
    assert stats.set_pulses == [1, 2] and stats.reset_pulses == [1, 2]
    assert all(np.all(bar.weights()[-1] == 0) for bar in fresh.layers)


def test_adc_spans_the_column_range_and_rounds_to_the_nearest_code():
    adc = ADC.for_rows(n_rows=64, bits=4)  # codes -8..7, 8 weight units each
    assert adc.lsb == 8.0 and adc.half == 8
    currents = np.array([0.0, 3.9, 4.0, 12.0, -4.0, 100.0, -100.0], dtype=np.float32)
    np.testing.assert_array_equal(adc.codes(currents), [0, 0, 0, 2, 0, 7, -8])  # ties to even
    assert adc.sigmoid[adc.half] == 0.5  # code 0
    assert adc.sigmoid[adc.half + 1] == pytest.approx(1 / (1 + np.exp(-8.0)))


def test_pulse_counts_round_half_away_from_zero_and_stop_at_the_device_range():
    learner = SGDLearner(RunSpec(method="sgd", n_states=5), 2, 2, np.random.default_rng(0))
    step = learner.rule.weight_step  # 2 / 4 = 0.5
    assert step == 0.5
    deltas = np.array([0.0, 0.2, 0.25, -0.25, 0.8, -1.3, 40.0], dtype=np.float32)
    np.testing.assert_array_equal(learner.pulse_counts(deltas), [0, 0, 1, -1, 2, -3, 4])


@pytest.mark.parametrize(
    ("cast", "expected"),
    [("exact", [6, 7, 8, 13, 14, -7, -25, 50]), ("neurosim", [6, 6, 8, 13, 13, -6, -24, 49])],
)
def test_neurosim_cast_loses_a_pulse_where_its_float_to_int_conversion_does(cast, expected):
    """N = 97 pulses across the range (Ag:a-Si's Table II count): in double precision
    (k / 97) * 97 falls just below k for k = 7, 14, 25, 50, ... and NeuroSim's int() drops it."""
    from sbp_core.methods.sgd_kernel import pulse_count

    spec = RunSpec(method="sgd", n_states=98, pulse_cast=cast)
    learner = SGDLearner(spec, 2, 2, np.random.default_rng(0))
    step = learner.rule.weight_step  # 2 / 97
    deltas = np.array([6, 7, 8, 13, 14, -7, -25, 50], dtype=np.float32) * step
    np.testing.assert_array_equal(learner.pulse_counts(deltas), expected)
    assert [pulse_count(delta, learner.rule) for delta in deltas] == expected  # the kernel's


NEUROSIM_READING = {
    "pulse_scheme": "reference", "sigmoid_gain": 0.5, "init_levels": 7, "init_write": "neurosim",
}  # fmt: skip
"""The mechanisms of MLP+NeuroSim V3.0's own learner (docs/neurosim_validation.md)."""


def test_the_sigmoid_gain_scales_the_sum_the_sigmoid_sees():
    adc = ADC.for_rows(n_rows=64, bits=4, gain=0.5)  # codes of 8 weight units
    assert adc.sigmoid[adc.half] == 0.5
    assert adc.sigmoid[adc.half + 1] == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert adc.sigmoid[adc.half - 2] == pytest.approx(1 / (1 + np.exp(8.0)))


def test_the_reference_cell_reads_one_device_against_the_midway_current_by_hand():
    """on/off 5 (Gmin 0.2), no access transistor: the reference reads 0.6 and weights are
    2 (G - 0.6) / 0.8, so Gmax reads +1, Gmin -1 and 0.7 reads +0.25. On the ideal 9-state
    device one pulse moves a device by 1/8, a reference-cell weight by 2/8, as a pair pulse (two
    devices) and twice a single-scheme pulse."""
    bar = Crossbar(3, 1, DeviceParams(on_off=5.0, n_states=9), np.random.default_rng(0), 0.0,
                   "reference")  # fmt: skip
    np.testing.assert_allclose(bar.g_minus[:, 0], 0.6, atol=1e-7)
    bar.g_plus[:, 0] = [1.0, 0.2, 0.7]
    np.testing.assert_allclose(bar.weights()[:, 0], [1.0, -1.0, 0.25], atol=1e-6)
    steps = {
        scheme: SGDLearner(RunSpec(method="sgd", n_states=9, pulse_scheme=scheme), 2, 2,
                           np.random.default_rng(0)).rule.weight_step
        for scheme in ("reference", "pair", "single")
    }  # fmt: skip
    assert steps == {"reference": 0.25, "pair": 0.25, "single": 0.125}


@pytest.mark.parametrize("write", ["exact", "neurosim"])
def test_initial_weights_from_levels_read_back_as_drawn_or_as_neurosim_writes_them(write):
    """Seven levels of 1/3 over [-1, 1]. `exact` reads each back through the 15 kOhm access
    transistor; NeuroSim's write leaves Gmin out, so with the access transistor out of the way
    every weight reads 2 / (on/off - 1) low (0.58 on AlOx/HfO2's 4.43), clipped at -1."""
    spec = RunSpec(method="sgd", device="alox_hfo2", init_write=write,
                   **{k: v for k, v in NEUROSIM_READING.items() if k != "init_write"})  # fmt: skip
    if write == "neurosim":
        spec = dataclasses.replace(spec, r_access_ohm=0.0)
    weights = SGDLearner(spec, 64, 10, np.random.default_rng(0)).layers[0].weights()
    levels = np.arange(-3, 4) / 3
    if write == "neurosim":
        levels = np.maximum(levels - 2 / (4.43 - 1), -1.0)
    nearest = np.abs(weights[..., None] - levels).min(axis=-1)
    assert nearest.max() < 1e-5  # every weight reads as one of the levels
    assert np.unique(np.round(weights, 4)).size == np.unique(np.round(levels, 4)).size


def test_initial_levels_need_the_reference_cell():
    from sbp_core.errors import ConfigError

    with pytest.raises(ConfigError, match="init_levels applies to pulse_scheme reference only"):
        SGDLearner(RunSpec(method="sgd", init_levels=7), 64, 10, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="pulse_scheme reference applies to method sgd only"):
        RunSpec(method="sbp", pulse_scheme="reference")


def digits_inputs(n: int = 300):
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    return binarize(data.X_train[:n], 0.5, data.max_value), data.y_train[:n]


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"device": "ag_si", "d2d_sigma": 0.1, "read_noise": 0.02, "stuck_gmin": 0.05},
        {"device": "pcmo", "pulse_scheme": "single", "adc_bits": 5},
        {"device": "epiram", "read_noise": 0.05, "c2c_sigma": 0.05, "lr": 1.0, "lr_out": 0.5},
        NEUROSIM_READING | {"device": "alox_hfo2", "read_noise": 0.02, "d2d_sigma": 0.05},
        NEUROSIM_READING | {"device": "taox_hfox", "bias_row": False, "n_states": 129},
        NEUROSIM_READING
        | {
            "device": "ag_si",
            "n_states": 98,
            "pulse_cast": "neurosim",
            "c2c_sigma": 0.02,
            "lr": 2.0,
            "lr_out": 1.0,
        },
    ],
)
def test_compiled_kernel_equals_the_reference_bit_for_bit(overrides):
    """With every noise source on, the kernel draws from the run's Generator in the reference's
    order and does the same float32 arithmetic: conductances, pulse counts and loss agree."""
    X, y = digits_inputs()
    spec = RunSpec(method="sgd", n_hidden=16, **overrides)
    results = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        learner = SGDLearner(spec, X.shape[1], 10, rng, engine=engine)
        stats = [learner.fit_epoch(X, y, rng) for _ in range(2)]
        results.append((learner.state(), [(s.set_pulses, s.reset_pulses, s.loss) for s in stats]))
    assert results[0][1] == results[1][1]
    assert sum(sum(s[0]) for s in results[0][1]) > 0  # the case pulses at all
    for name in results[0][0]:
        assert np.array_equal(results[0][0][name], results[1][0][name]), name


@pytest.mark.parametrize(
    ("widths", "overrides"),
    [
        ([16, 12], {"device": "ag_si", "d2d_sigma": 0.1, "stuck_gmin": 0.05, "lr": 2.0}),
        ([16, 12, 8], {"d2d_sigma": 0.1, "stuck_gmin": 0.05, "lr": 1.0, "adc_bits": 6}),
    ],
)
def test_compiled_kernel_equals_the_reference_with_several_hidden_layers(widths, overrides):
    """Two and three hidden layers, every noise source on: conductances, pulse counts and loss
    agree to the last bit, with every layer pulsed."""
    X, y = digits_inputs()
    spec = RunSpec(method="sgd", n_hidden=widths, c2c_sigma=0.02, read_noise=0.02, **overrides)
    results = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        learner = SGDLearner(spec, X.shape[1], 10, rng, engine=engine)
        stats = learner.fit_epoch(X, y, rng)
        results.append((learner.state(), stats.set_pulses, stats.reset_pulses, stats.loss))
    (state_a, *counts_a), (state_b, *counts_b) = results
    assert counts_a == counts_b
    assert len(counts_a[0]) == len(widths) + 1 and min(counts_a[0]) > 0
    for name in state_a:
        assert np.array_equal(state_a[name], state_b[name]), name


def test_sgd_learns_digits():
    from sbp_core.data import binarize, load_dataset

    data = load_dataset("digits", seed=0)
    X = binarize(data.X_train, 0.5, data.max_value)
    X_val = binarize(data.X_val, 0.5, data.max_value)
    rng = np.random.default_rng(0)
    learner = SGDLearner(RunSpec(method="sgd", n_hidden=32), X.shape[1], 10, rng)
    for _ in range(10):
        learner.fit_epoch(X, data.y_train, rng)
    assert np.mean(learner.predict(X_val) == data.y_val) > 0.8


@pytest.mark.parametrize("field", ["adc_bits", "lr_out"])
def test_sgd_fields_apply_to_the_rules_on_its_periphery_only(field):
    from sbp_core.errors import ConfigError

    readers = "agad, cttv2, mixed_precision, sgd, ttv2"  # their settings subclass SGDFields
    with pytest.raises(ConfigError, match=f"{field} applies to methods {readers} only, not 'sbp'"):
        RunSpec(method="sbp", **{field: 4})
    assert RunSpec(method="ttv2", **{field: 4}).to_dict()[field] == 4


def test_sgd_starts_from_weights_over_the_whole_range_and_sbp_near_zero():
    from sbp_core.methods.sbp import SBPLearner

    rng = np.random.default_rng(0)
    sgd = SGDLearner(RunSpec(method="sgd"), 64, 10, rng).layers[0].weights()
    sbp = SBPLearner(RunSpec(), 64, 10, rng).layers[0].weights()
    assert np.abs(sgd).max() > 0.9 and np.abs(sgd).mean() > 0.25
    assert np.abs(sbp).max() <= 0.1 + 1e-6
    pinned = SGDLearner(RunSpec(method="sgd", init_spread=0.1), 64, 10, rng).layers[0].weights()
    assert np.abs(pinned).max() <= 0.1 + 1e-6
