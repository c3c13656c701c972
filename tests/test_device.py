"""Device physics: bounds, monotone saturating response, noise, stuck devices, presets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sbp_core.chip.curve import nonlinearity_to_a
from sbp_core.chip.device import PRESETS, preset
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.errors import ConfigError


def pulse_train(params: DeviceParams, n: int, potentiate: bool, start=None, seed=0):
    """Conductance trace of one device under n identical pulses."""
    rng = np.random.default_rng(seed)
    devices = params.build_array((1,), rng)
    g = np.array([params.g_min if start is None else start], dtype=np.float32)
    trace = [float(g[0])]
    for _ in range(n):
        devices.respond(g, np.array([0]), np.array([potentiate]), rng)
        trace.append(float(g[0]))
    return np.array(trace)


@pytest.mark.parametrize(
    ("label", "neurosim_a"), [(0.01, 126.268958), (1.0, 1.251653), (4.88, -1), (9.0, 0.022810)]
)
def test_nonlinearity_label_matches_neurosim_table(label, neurosim_a):
    """NeuroSim's getParamA table (formula.cpp), normalised A for labels 0.01, 1 and 9."""
    a = nonlinearity_to_a(label)
    if neurosim_a > 0:
        assert a == pytest.approx(neurosim_a, rel=2e-3)
    assert nonlinearity_to_a(-label) == pytest.approx(-a)
    assert nonlinearity_to_a(0.0) == np.inf


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_response_is_monotone_saturating_and_spans_the_range(name):
    params = PRESETS[name].with_overrides(c2c_sigma=0.0)
    pmax = params.n_states - 1
    up = pulse_train(params, pmax, potentiate=True)
    down = pulse_train(params, pmax, potentiate=False, start=1.0)
    assert np.all(np.diff(up) >= 0) and np.all(np.diff(down) <= 0)
    assert up[-1] == pytest.approx(1.0, abs=1e-4)
    assert down[-1] == pytest.approx(params.g_min, abs=1e-4)
    beyond = pulse_train(params, 3 * pmax, potentiate=True)
    assert beyond.max() <= 1.0 and beyond[-1] == pytest.approx(1.0, abs=1e-4)  # saturates
    steps = np.diff(up)
    if params.nl_ltp > 0:  # concave LTP: each step smaller than the one before
        assert np.all(np.diff(steps) <= 1e-7) and steps[0] > steps[-1]


def test_linear_device_takes_equal_steps():
    up = pulse_train(DeviceParams(n_states=11), 10, potentiate=True)
    np.testing.assert_allclose(np.diff(up), 0.1, atol=1e-6)


def test_reset_step_ratio_makes_reset_coarser():
    params = DeviceParams(n_states=11, reset_step_ratio=2.0)
    down = pulse_train(params, 5, potentiate=False, start=1.0)
    assert down[-1] == pytest.approx(0.0, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(sorted(PRESETS)),
    c2c=st.floats(0.0, 0.5),
    d2d=st.floats(0.0, 0.5),
    n_states=st.integers(2, 300),
    directions=st.lists(st.booleans(), min_size=1, max_size=200),
    seed=st.integers(0, 2**32 - 1),
)
def test_conductance_never_leaves_its_bounds(name, c2c, d2d, n_states, directions, seed):
    params = PRESETS[name].with_overrides(c2c_sigma=c2c, d2d_sigma=d2d, n_states=n_states)
    rng = np.random.default_rng(seed)
    devices = params.build_array((8,), rng)
    g = devices.initial(0.5, rng)
    index = np.arange(8)
    for potentiate in directions:
        devices.respond(g, index, np.full(8, potentiate), rng)
        assert np.all(g >= devices.g_lo) and np.all(g <= devices.g_hi)


def test_c2c_off_is_bit_identical_and_on_has_the_configured_spread():
    params = DeviceParams(n_states=101)
    assert np.array_equal(
        pulse_train(params, 50, True, seed=1), pulse_train(params, 50, True, seed=2)
    )
    noisy = params.with_overrides(c2c_sigma=0.02)
    rng = np.random.default_rng(0)
    devices = noisy.build_array((20000,), rng)
    g = np.full(20000, 0.5, dtype=np.float32)
    devices.respond(g, np.arange(20000), np.ones(20000, bool), rng)
    steps = g - 0.5
    assert steps.mean() == pytest.approx(0.01, abs=5e-4)
    assert steps.std() == pytest.approx(0.02, rel=0.05)


def test_d2d_spreads_the_bounds_per_device():
    params = DeviceParams(on_off=10.0, d2d_sigma=0.1)
    devices = params.build_array((20000,), np.random.default_rng(0))
    assert devices.g_hi.std() == pytest.approx(0.1, rel=0.05)
    assert devices.g_lo.mean() == pytest.approx(0.1, rel=0.02)
    assert np.all(devices.g_lo < devices.g_hi)


def test_stuck_devices_never_move():
    params = DeviceParams(stuck_gmin=0.2, stuck_gmax=0.1, c2c_sigma=0.05)
    rng = np.random.default_rng(3)
    devices = params.build_array((5000,), rng)
    g = devices.initial(0.5, rng)
    stuck = devices.stuck != 0
    assert np.mean(devices.stuck == 1) == pytest.approx(0.2, abs=0.02)
    assert np.mean(devices.stuck == 2) == pytest.approx(0.1, abs=0.02)
    before = g[stuck].copy()
    for potentiate in (True, False, True):
        devices.respond(g, np.arange(5000), np.full(5000, potentiate), rng)
    assert np.array_equal(g[stuck], before)
    assert np.all(g[devices.stuck == 2] == devices.g_hi[devices.stuck == 2])


@pytest.mark.parametrize("name", ["ideal", "ag_si", "gst_pcm"])
def test_nominal_levels_are_the_noise_free_set_pulse_train_from_gmin(name):
    params = PRESETS[name].with_overrides(c2c_sigma=0.0, n_states=40)
    curve = pulse_train(params, params.n_states - 1, potentiate=True)
    levels = params.nominal_levels()
    np.testing.assert_allclose(params.g_min + levels * (1 - params.g_min), curve, atol=2e-6)
    assert levels[0] == 0 and levels[-1] == pytest.approx(1.0)


def test_erase_is_the_nominal_reset_count_across_the_range():
    assert DeviceParams(n_states=256).erase_pulses == 255
    assert DeviceParams(n_states=5, reset_step_ratio=2.0).erase_pulses == 2
    params = PRESETS["ag_si"].with_overrides(c2c_sigma=0.0)
    trace = pulse_train(params, params.erase_pulses, potentiate=False, start=1.0)
    assert trace[-1] == pytest.approx(params.g_min, abs=1e-6) and trace[-2] > params.g_min + 1e-4


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: preset("nope"), "unknown preset 'nope'"),
        (lambda: DeviceParams(n_states=-3), "n_states must be >= 2"),
        (lambda: DeviceParams(on_off=0.5), "on_off must be > 1"),
        (lambda: DeviceParams(c2c_sigma=-0.1), "c2c_sigma must be >= 0"),
        (lambda: DeviceParams(stuck_gmin=0.7, stuck_gmax=0.7), "must not exceed 1"),
        (lambda: DeviceParams(nl_ltp=9.5), r"nl_ltp must be in \[-9, 9\].*got 9.5"),
        (lambda: DeviceParams(nl_ltd=float("nan")), r"nl_ltd must be in \[-9, 9\]"),
        (lambda: nonlinearity_to_a(np.array([1.0, -9.7])), r"must be in \[-9, 9\].*-9.7"),
    ],
)
def test_bad_device_parameters_give_one_line_errors(make, message):
    with pytest.raises(ConfigError, match=message) as caught:
        make()
    assert "\n" not in str(caught.value)


def test_every_preset_cites_its_source():
    for name, params in PRESETS.items():
        assert params.name == name and params.citation
        if name != "ideal":
            assert "NeuroSim" in params.citation and params.neurosim_accuracy is not None


def test_one_range_of_nonlinearity_labels_everywhere():
    """The spec, the device and the curvature solver accept the same labels, [-9, 9]; a
    device-to-device draw beyond them is truncated to the edge, never rejected mid-run."""
    from sbp_core.chip.curve import MAX_LABEL
    from sbp_core.chip.device import device_for
    from sbp_core.spec import RunSpec, spec_schema

    assert spec_schema()["nl_ltp"]["maximum"] == MAX_LABEL == -spec_schema()["nl_ltd"]["minimum"]
    edge = device_for(RunSpec(nl_ltp=9.0, nl_ltd=-9.0))
    assert np.isfinite(nonlinearity_to_a(edge.nl_ltp))
    with pytest.raises(ConfigError, match=r"nl_ltp must be in \[-9.0, 9.0\]"):
        RunSpec(nl_ltp=9.01)
    wide = edge.with_overrides(d2d_sigma=0.5).build_array((400,), np.random.default_rng(0))
    assert np.all(np.isfinite(wide.alpha_set)) and np.all(np.isfinite(wide.beta_reset))


# --- device files and lookup-table devices ----------------------------------------------------


def test_labels_and_curvatures_are_inverse():
    from sbp_core.chip.curve import a_to_nonlinearity

    labels = np.array([-9.0, -4.88, -0.5, 0.0, 0.04, 1.0, 9.0])
    np.testing.assert_allclose(a_to_nonlinearity(nonlinearity_to_a(labels)), labels, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_written_as_a_device_file_reads_back_as_itself(tmp_path, name):
    from sbp_core.chip.device import device_file_text, read_device_file

    path = tmp_path / f"{name}.yaml"
    path.write_text(device_file_text(PRESETS[name], fit={"note": "anything"}, header="a\n\nb"))
    assert path.read_text().startswith("# a\n#\n# b\n")
    assert read_device_file(path) == PRESETS[name]


def device_file(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


MINIMAL_FILE = (
    "n_states: 40\nnl_ltp: 1.0\nnl_ltd: -1.0\non_off: 10\nc2c_sigma: 0.01\ng_max_s: 1e-6\n"
)


def test_a_minimal_device_file_takes_the_defaults_and_its_stem_as_name(tmp_path):
    from sbp_core.chip.device import read_device_file

    device = read_device_file(device_file(tmp_path, MINIMAL_FILE))
    assert device.name == "mine" and device.n_states == 40 and device.on_off == 10.0
    assert device.d2d_sigma == 0 and device.reset_step_ratio == 1.0 and device.v_set == 1.0
    assert device.reset_pulse_width_s is None  # RESET pulses as wide as SET's
    infinite = read_device_file(device_file(tmp_path, MINIMAL_FILE.replace("10\n", "null\n")))
    assert infinite.g_min == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL_FILE.replace("nl_ltd: -1.0\n", ""), r"missing key 'nl_ltd'"),
        (MINIMAL_FILE + "colour: red\n", r"unknown key 'colour'"),
        (MINIMAL_FILE.replace("n_states: 40", "n_states: 1"), r"n_states must be >= 2, got 1"),
        (MINIMAL_FILE.replace("nl_ltp: 1.0", "nl_ltp: 9.5"), r"nl_ltp must be in \[-9, 9\]"),
        (MINIMAL_FILE.replace("1e-6", "-1e-6"), r"g_max_s must be > 0"),
        (MINIMAL_FILE + "reset_pulse_width_s: 0\n", r"reset_pulse_width_s must be > 0"),
        (MINIMAL_FILE + "reset_pulse_width_s: soon\n", r"reset_pulse_width_s must be a number"),
        (MINIMAL_FILE.replace("n_states: 40", "n_states: 40.5"), r"n_states must be an integer"),
        (MINIMAL_FILE.replace("c2c_sigma: 0.01", "c2c_sigma: lots"), r"c2c_sigma must be a number"),
        (MINIMAL_FILE + "kind: magic\n", r"kind must be one of lookup_table, neurosim"),
        (MINIMAL_FILE + "kind: lookup_table\n", r"missing key 'tables'"),
        ("- 1\n- 2\n", r"must hold a mapping"),
        ("n_states: [\n", r"not valid YAML"),
    ],
)
def test_a_bad_device_file_is_one_line_naming_the_file_and_the_key(tmp_path, text, message):
    from sbp_core.chip.device import read_device_file

    path = device_file(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        read_device_file(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


TABLE_FILE = MINIMAL_FILE + (
    "kind: lookup_table\ntables:\n- device: A\n  g_min_S: 1.0e-7\n  g_max_S: 1.0e-6\n"
    "  set: {conductance_S: [1.0e-7, 5.0e-7], step_S: [1.0e-8, 1.0e-8], sigma_S: [0, 0]}\n"
    "  reset: {conductance_S: [1.0e-7, 5.0e-7], step_S: [-1.0e-8, -1.0e-8], sigma_S: [0, 0]}\n"
)
"""A lookup-table device file of one measured device, linear, two knots a direction."""


def test_bad_lookup_tables_name_the_table_and_key(tmp_path):
    from sbp_core.chip.device import read_device_file

    good = device_file(tmp_path, TABLE_FILE)
    assert read_device_file(good).table.devices == ("A",)
    for old, new, message in [
        ("sigma_S: [0, 0]}\n  reset", "sigma_S: [0]}\n  reset", r"tables\[0\].set.sigma_S must be"),
        ("  g_max_S: 1.0e-6\n", "", r"missing key tables\[0\].g_max_S"),
        ("conductance_S: [1.0e-7, 5.0e-7], step_S: [-", "conductance_S: [5e-7, 1e-7], step_S: [-",
         r"tables\[0\] \(device 'A'\)\.reset: knot conductances must increase"),
        ("sigma_S: [0, 0]}\n  reset", "sigma_S: [0, -1]}\n  reset", r"sigma must be >= 0"),
        ("- device: A", "- device: A\n  colour: red", r"unknown key tables\[0\].colour"),
    ]:  # fmt: skip
        path = device_file(tmp_path, TABLE_FILE.replace(old, new, 1))
        with pytest.raises(ConfigError, match=message) as caught:
            read_device_file(path)
        assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"d2d_sigma must be 0 for a lookup-table device"):
        read_device_file(device_file(tmp_path, TABLE_FILE + "d2d_sigma: 0.1\n"))


def test_a_run_may_name_a_device_file_and_override_what_applies(tmp_path):
    from sbp_core.chip.device import device_for
    from sbp_core.spec import RunSpec

    path = device_file(tmp_path, MINIMAL_FILE)
    device = device_for(RunSpec(device=str(path), c2c_sigma=0.05))
    assert device.n_states == 40 and device.c2c_sigma == 0.05
    tables = device_file(tmp_path, TABLE_FILE)
    assert device_for(RunSpec(device=str(tables), stuck_gmin=0.1)).stuck_gmin == 0.1
    for field in ("n_states", "nl_ltp", "nl_ltd", "c2c_sigma", "d2d_sigma"):
        with pytest.raises(ConfigError, match=f"{tables}: {field} does not apply to a lookup-t"):
            device_for(RunSpec(device=str(tables), **{field: 2 if field == "n_states" else 0.1}))
