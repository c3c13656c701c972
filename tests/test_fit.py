"""Fitting devices to measured curves: the NeuroSim model recovered from each preset's own
synthetic curves, lookup-table devices that reproduce them, the fit-device command, its figure
and its device file, and SBP training on a lookup-table device (compiled equals reference)."""

from __future__ import annotations

import dataclasses
import hashlib
import math

import numpy as np
import pytest
from test_curves import EXAMPLE, EXAMPLE_DEVICE

from sbp_core.chip.device import PRESETS, read_device_file
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.cli import main
from sbp_core.errors import ConfigError
from sbp_core.fitting.curves import Curves, Ramp, read_curves, simulate_curves
from sbp_core.fitting.figure import RAMPS_DRAWN, drawn_ramps, fit_figure, save_png
from sbp_core.fitting.fit import (
    curvature_map,
    fit_device,
    map_parameters,
    unit_map,
    write_device_file,
)

LABELS = 0.5
"""Tolerance of a recovered nonlinearity label (absolute), from 100 cycles of one device. The
worst error over 20 seeds was 0.44 (Ag:a-Si LTP, whose steps' noise is 3.4 times the mean
step); the labels of quieter devices come back within 0.04 (HZO FeFET)."""
PULSES = 0.10
"""Relative tolerance of the pulses across the range (worst over 20 seeds: 8 %, Ag:a-Si)."""
SIGMA = 0.03
"""Relative tolerance of the cycle-to-cycle sigma (worst over 20 seeds: 1.5 %)."""
CROSSSIM = EXAMPLE.parent / "crosssim" / "curves.csv"
"""A public measured device (examples/crosssim/README.md): 39 SET and 40 RESET ramps."""


def one_device(curves: Curves) -> Curves:
    """Cycles of identical devices (no D2D spread) as the cycles of one: 20 devices of 5
    cycles simulate as fast as one and fit as 100 cycles of one device."""
    ramps = (
        Ramp("d1", f"{r.device}.{r.cycle}", r.direction, r.pulse, r.conductance_s)
        for r in curves.ramps
    )
    return Curves(curves.source, tuple(ramps))


def test_the_fits_map_is_the_devices_and_inverts():
    """unit_map is the coefficient map sbp_core.chip.device builds its arrays from."""
    for name in ("ag_si", "gst_pcm", "ideal"):
        preset = PRESETS[name].with_overrides(c2c_sigma=0.0)
        devices = preset.build_array((1,), np.random.default_rng(0), dtype=np.float64)
        span = 1.0 - preset.g_min
        for sign, nl, alpha, beta in (
            (+1, preset.nl_ltp, devices.alpha_set[0], devices.beta_set[0]),
            (-1, preset.nl_ltd, devices.alpha_reset[0], devices.beta_reset[0]),
        ):
            c, k = unit_map(nl, preset.n_states - 1, sign)
            assert k == pytest.approx(beta, rel=1e-12)
            # alpha + beta g in units of the range: c = (alpha + (beta - 1) g_min) / span
            assert c == pytest.approx((alpha + (beta - 1) * preset.g_min) / span, rel=1e-9)
            pulses, q = map_parameters(c, k, sign)
            assert pulses == pytest.approx(preset.n_states - 1, rel=1e-9)
            assert curvature_map(q, pulses, sign) == pytest.approx((c, k), rel=1e-9)
    assert map_parameters(0.5, 0.2, +1) is None  # fixed point 0.625, inside the range


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_presets_noise_free_curves_give_back_its_parameters(name):
    preset = PRESETS[name].with_overrides(c2c_sigma=0.0)
    fit = fit_device(simulate_curves(preset, cycles=2, seed=0))
    (device,) = fit.devices
    assert device.c2c_sigma == 0 and fit.params.c2c_sigma == 0
    assert device.nl_ltp == pytest.approx(preset.nl_ltp, abs=2e-4)
    assert device.nl_ltd == pytest.approx(preset.nl_ltd, abs=2e-4)
    assert device.set_pulses == pytest.approx(preset.n_states - 1, rel=1e-4)
    assert device.reset_pulses == device.set_pulses  # one count, as the preset
    assert fit.params.n_states == preset.n_states and fit.params.reset_step_ratio == 1.0
    assert fit.params.on_off == pytest.approx(preset.on_off, rel=1e-3)  # 4 digits
    assert fit.params.g_max_s == pytest.approx(preset.g_max_s, rel=1e-3)
    assert max(fit.rms_error_s.values()) < 1e-5 * preset.g_max_s  # float32 simulation


@pytest.mark.parametrize("name", sorted(name for name in PRESETS if PRESETS[name].c2c_sigma))
def test_a_presets_noisy_curves_give_back_its_labels_pulses_and_sigma(name):
    preset = PRESETS[name]
    fit = fit_device(one_device(simulate_curves(preset, n_devices=20, cycles=5, seed=0)))
    (device,) = fit.devices
    assert abs(device.nl_ltp - preset.nl_ltp) <= LABELS
    assert abs(device.nl_ltd - preset.nl_ltd) <= LABELS
    assert device.set_pulses == pytest.approx(preset.n_states - 1, rel=PULSES)
    assert device.reset_pulses == pytest.approx(preset.n_states - 1, rel=PULSES)
    assert device.c2c_sigma == pytest.approx(preset.c2c_sigma, rel=SIGMA)
    assert fit.params.c2c_sigma == pytest.approx(preset.c2c_sigma, rel=SIGMA)
    assert fit.params.d2d_sigma == 0  # one device


def test_several_devices_give_the_device_to_device_sigma():
    """16 devices with 10 % D2D spread: the spread comes back within 30 % (45 degrees of
    freedom: a relative standard error of about 10 %, plus each device's own fit error; 0.087
    to 0.119 over 8 seeds)."""
    preset = PRESETS["epiram"].with_overrides(d2d_sigma=0.1)
    fit = fit_device(simulate_curves(preset, n_devices=16, cycles=4, seed=0))
    assert len(fit.devices) == 16
    assert fit.params.d2d_sigma == pytest.approx(0.1, rel=0.3)
    assert fit.params.c2c_sigma == pytest.approx(preset.c2c_sigma, rel=SIGMA)
    assert fit.params.nl_ltp == pytest.approx(preset.nl_ltp, abs=LABELS)
    assert fit.params.g_max_s == pytest.approx(preset.g_max_s, rel=0.1)


def trajectories(params, n_devices: int, pulses, seed: int = 5) -> np.ndarray:
    """Conductances (siemens) of n_devices from Gmin through the pulse trains `pulses`."""
    rng = np.random.default_rng(seed)
    devices = params.build_array((n_devices,), rng)
    g, index, out = devices.g_lo.copy(), np.arange(n_devices), [devices.g_lo.copy()]
    for potentiate, count in pulses:
        for _ in range(count):
            devices.respond(g, index, np.full(n_devices, potentiate), rng)
            out.append(g.copy())
    return np.array(out, dtype=float) * params.g_max_s


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_lookup_table_of_a_presets_noise_free_curves_reproduces_its_trajectory(name):
    preset = PRESETS[name].with_overrides(c2c_sigma=0.0)
    table = fit_device(simulate_curves(preset, cycles=2), model="lookup_table", bins=16).params
    pmax = preset.n_states - 1
    pulses = [(True, pmax + 5), (False, pmax + 5), (True, pmax // 2), (False, 3)]
    expected, actual = trajectories(preset, 1, pulses), trajectories(table, 1, pulses)
    span = preset.g_max_s * (1 - preset.g_min)
    assert np.abs(actual - expected).max() < 1e-5 * span


@pytest.mark.parametrize("name", sorted(name for name in PRESETS if PRESETS[name].c2c_sigma))
def test_a_lookup_table_of_a_presets_noisy_curves_reproduces_its_mean_and_spread(name):
    """100 cycles of the preset, tables of 32 bins; 2,000 devices of each from Gmin through a
    SET and a RESET ramp: mean and standard deviation agree within 8 % and 5 % of the range at
    every pulse (worst over 8 seeds: 5.3 % and 3.7 %, TaOx/HfOx, whose step noise is 4.7 times
    its mean step)."""
    preset = PRESETS[name]
    curves = one_device(simulate_curves(preset, n_devices=20, cycles=5, seed=1))
    table = fit_device(curves, model="lookup_table").params
    pmax = preset.n_states - 1
    pulses = [(True, pmax + 5), (False, pmax + 5)]
    expected, actual = trajectories(preset, 2000, pulses), trajectories(table, 2000, pulses)
    span = preset.g_max_s * (1 - preset.g_min)
    assert np.abs(actual.mean(axis=1) - expected.mean(axis=1)).max() < 0.08 * span
    assert np.abs(actual.std(axis=1) - expected.std(axis=1)).max() < 0.05 * span


def test_a_lookup_table_gives_each_device_one_measured_devices_table():
    fit = fit_device(simulate_curves(EXAMPLE_DEVICE, n_devices=3, cycles=3), model="lookup_table")
    lut = fit.params.table
    assert lut.devices == ("d1", "d2", "d3") and fit.params.d2d_sigma == 0
    np.testing.assert_allclose(
        lut.g_hi * fit.params.g_max_s, [d.g_max_s for d in fit.devices], rtol=1e-6
    )
    devices = fit.params.build_array((3000,), np.random.default_rng(0))
    assert np.bincount(devices.table) == pytest.approx([1000, 1000, 1000], rel=0.1)
    np.testing.assert_array_equal(devices.g_lo, lut.g_lo[devices.table])


def test_too_few_steps_for_the_bins_is_a_one_line_error():
    curves = simulate_curves(PRESETS["hzo_fefet"], cycles=1)
    with pytest.raises(ConfigError, match=r"fill fewer than two of 64 bins.*--bins"):
        fit_device(curves, model="lookup_table", bins=64)


def test_a_lookup_table_under_noise_far_above_its_step_keeps_each_directions_sign(tmp_path):
    """Write noise 8 times the step (measured devices reach 230 times, docs/measured_devices.md)
    leaves some bins' mean SET step below zero. The fit clips them to 0 and counts them, so the
    file it writes is a device the loader accepts (it rejects a negative SET step)."""
    noisy = dataclasses.replace(EXAMPLE_DEVICE, n_states=400, c2c_sigma=0.02)
    fit = fit_device(simulate_curves(noisy, cycles=2), model="lookup_table")
    assert fit.sign_clipped_knots["set"] > 0 and fit.sign_clipped_knots["reset"] > 0
    write_device_file(fit, tmp_path / "noisy.yaml")
    table = read_device_file(tmp_path / "noisy.yaml").table
    assert np.all(table.step[0, 0, : table.n_knots[0, 0]] >= 0)
    assert np.all(table.step[0, 1, : table.n_knots[0, 1]] <= 0)
    zeros = [int(np.sum(table.knot_table(0, d)[1] == 0)) for d in (0, 1)]
    assert zeros == [fit.sign_clipped_knots["set"], fit.sign_clipped_knots["reset"]]
    assert (
        f"sign_clipped_knots: {{set: {zeros[0]}, reset: {zeros[1]}}}"
        in (tmp_path / "noisy.yaml").read_text()
    )


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `sbp-bench ARGS`, in this process."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_fit_device_warns_when_it_writes_assumed_pulse_parameters(tmp_path, capsys):
    """The energy scales with them: the warning says which, with the values written."""
    out = tmp_path / "mine.yaml"
    code, _, stderr = run_cli(capsys, "fit-device", str(EXAMPLE), "--out", str(out), "--v-set", "3")
    assert code == 0
    warning = f"sbp-bench: warning: {out}: v_reset 1, pulse_width_s 1e-08 assumed"
    assert stderr.startswith(warning) and stderr.count("\n") == 1
    electrical = ["--v-set", "3", "--v-reset", "2", "--pulse-width-s", "1e-7"]
    code, _, stderr = run_cli(capsys, "fit-device", str(EXAMPLE), "--out", str(out), *electrical)
    assert code == 0 and "warning" not in stderr
    assert read_device_file(out).reset_pulse_width_s is None  # RESET as wide as SET
    electrical += ["--reset-pulse-width-s", "2e-8"]
    code, _, stderr = run_cli(capsys, "fit-device", str(EXAMPLE), "--out", str(out), *electrical)
    written = read_device_file(out)
    assert code == 0 and "warning" not in stderr and "assumed" not in written.citation
    assert (written.pulse_width_s, written.reset_pulse_width_s) == (1e-7, 2e-8)


@pytest.mark.parametrize("model", ["neurosim", "lookup_table"])
def test_fit_device_writes_a_device_file_and_its_figure(tmp_path, model, readable, capsys):
    out = tmp_path / "mine.yaml"
    code, stdout, stderr = run_cli(
        capsys, "fit-device", str(EXAMPLE), "--out", str(out), "--model", model, "--v-set", "3.65"
    )
    assert code == 0, stderr
    assert f"{out}: {model} fit of 3 device(s)" in stdout
    device = read_device_file(out)
    assert device.name == "mine" and device.v_set == 3.65 and "v_reset" in device.citation
    assert device.n_states == pytest.approx(EXAMPLE_DEVICE.n_states, rel=0.15)
    assert device.c2c_sigma == pytest.approx(EXAMPLE_DEVICE.c2c_sigma, rel=0.1)
    text = out.read_text()
    assert "rms_error_S: {set: " in text and "source_sha256: " in text
    assert out.with_suffix(".png").is_file()

    fit = fit_device(read_curves(EXAMPLE), model=model, name="mine", v_set=3.65)
    write_device_file(fit, tmp_path / "again.yaml")
    assert read_device_file(tmp_path / "again.yaml") == device  # the same fit, in this process
    if model == "lookup_table":  # the tables survive the file (siemens there, g here)
        for name in ("g_lo", "g_hi", "knots", "step", "sigma", "n_knots"):
            assert np.array_equal(getattr(device.table, name), getattr(fit.params.table, name))
    readable(fit_figure(fit), tmp_path / "figure.png", save_png)


def test_fit_device_stops_with_one_line_on_a_malformed_file(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("direction,pulse,conductance_S\nset,0,1e-6\nset,1,-1e-6\n")
    for args, message in (
        ([str(bad), "--out", str(tmp_path / "x.yaml")], f"{bad}, line 3: negative conductance"),
        ([str(EXAMPLE), "--out", str(tmp_path / "x.txt")], "a device file ends in .yaml"),
        ([str(EXAMPLE), "--out", str(tmp_path / "x.yaml"), "--columns", "x=y"], "unknown name 'x'"),
    ):
        code, _, stderr = run_cli(capsys, "fit-device", *args)
        assert code == 2
        assert stderr.startswith("sbp-bench: error: ") and message in stderr
        assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not (tmp_path / "x.yaml").exists()


def test_sbp_on_a_lookup_table_device_file_compiled_equals_reference(tmp_path):
    """The compiled SBP epoch takes the lookup-table response through the engine (its own
    compiled branch) and still equals the readable reference bit for bit, noise on."""
    from sbp_core.data import binarize, load_dataset
    from sbp_core.methods.sbp import SBPLearner
    from sbp_core.spec import RunSpec

    fit = fit_device(simulate_curves(EXAMPLE_DEVICE, n_devices=3, cycles=3), model="lookup_table")
    write_device_file(fit, tmp_path / "table.yaml")
    data = load_dataset("digits", seed=0)
    X, y = binarize(data.X_train[:300], 0.5, data.max_value), data.y_train[:300]
    spec = RunSpec(
        n_hidden=24, device=str(tmp_path / "table.yaml"), read_noise=0.02, stuck_gmin=0.02
    )
    states = []
    for engine in ("numpy", "numba"):
        rng = np.random.default_rng(3)
        learner = SBPLearner(spec, X.shape[1], 10, rng, engine=engine)
        learner.fit_epoch(X, y, rng)
        states.append(learner.state())
    for name in states[0]:
        assert np.array_equal(states[0][name], states[1][name]), name
    assert not math.isclose(float(np.std(states[0]["G_plus_l1"])), 0.0)


@pytest.mark.parametrize(
    ("curves", "name"),
    [(CROSSSIM, "crosssim"), (EXAMPLE, "epiram_fit")],
    ids=["public", "synthetic"],
)
def test_the_docs_show_what_fitting_each_example_gives(curves, name):
    """The excerpts of devices/crosssim.yaml and devices/epiram_fit.yaml in
    docs/measured_devices.md, against fits of examples/crosssim/curves.csv and
    examples/curves.csv."""
    import re

    import yaml

    from sbp_core.chip.device import device_file_text

    page = (EXAMPLE.parents[1] / "docs" / "measured_devices.md").read_text()
    command = f"fit-device {curves.relative_to(EXAMPLE.parents[1])} --out devices/{name}.yaml"
    excerpt = re.search(r"```yaml\n(.*?)```", page[page.index(command) :], re.S).group(1)
    shown = yaml.safe_load(excerpt)
    fit = fit_device(read_curves(curves), name=name)
    written = yaml.safe_load(device_file_text(fit.params, fit.quality()))
    for key, value in shown.items():
        if key == "fit":
            assert value == {k: written["fit"][k] for k in value}
        else:
            assert value == written[key], key


def with_read_noise(curves: Curves, sigma_s: float, seed: int) -> Curves:
    """The curves as a probe station reads them: each read plus Gaussian noise of `sigma_s`
    siemens, which the device's next pulse does not inherit."""
    rng = np.random.default_rng(seed)
    ramps = (
        Ramp(r.device, r.cycle, r.direction, r.pulse, g + sigma_s * rng.normal(size=g.size))
        for r in curves.ramps
        for g in [r.conductance_s]
    )
    return Curves(f"{curves.source} read with noise", tuple(ramps))


LINEAR = DeviceParams(name="linear", n_states=1001, on_off=3.0, c2c_sigma=0.001, g_max_s=3e-6)
"""A linear device of 1,000 pulses across its range, write noise one mean step."""


@pytest.fixture(scope="module")
def noisy_linear():
    """Ten cycles of LINEAR (1,100 pulses each way), read with noise 50 times its step. (One
    cycle cannot meet the 3 % bar: its own write noise moves its curve by about 3 % of the range,
    sqrt(1000) steps.)"""
    span = LINEAR.g_max_s * (1 - LINEAR.g_min)
    curves = simulate_curves(LINEAR, cycles=10, seed=1)
    return with_read_noise(curves, 50 * LINEAR.step * LINEAR.g_max_s, seed=2), span


@pytest.mark.parametrize("model", ["neurosim", "lookup_table"])
def test_read_noise_fifty_times_the_step_is_told_apart_from_write_noise(noisy_linear, model):
    """Issue 21's bar: the step count within 10 %, the write noise within 20 % and the read
    noise within 10 % of the truth, and 2,000 simulated devices' mean trajectory within 3 % of
    the range of the truth's at every pulse."""
    curves, span = noisy_linear
    fit = fit_device(curves, model=model)
    (device,) = fit.devices
    assert fit.params.n_states == pytest.approx(LINEAR.n_states, rel=0.10)
    assert device.c2c_sigma == pytest.approx(LINEAR.c2c_sigma, rel=0.20)
    assert device.read_sigma == pytest.approx(50 * LINEAR.step / (1 - LINEAR.g_min), rel=0.10)
    assert fit.read_noise == device.read_sigma and fit.params.read_noise == 0  # recorded apart
    assert not fit.check.poor
    pulses = [(True, 1100), (False, 1100)]
    truth = trajectories(LINEAR, 2000, pulses).mean(axis=1)
    fitted = trajectories(fit.params, 2000, pulses).mean(axis=1)
    assert np.abs(fitted - truth).max() < 0.03 * span


def test_curves_without_read_noise_are_fitted_from_their_steps():
    """No read noise in the curves: the state-space fit finds none significant, and the fit is
    the one of the reads' own steps."""
    fit = fit_device(read_curves(EXAMPLE))
    assert all(device.read_sigma == 0 for device in fit.devices) and fit.read_noise == 0


def test_swapped_set_and_reset_labels_stop_at_the_quality_check(tmp_path, capsys):
    """Issue 22, item 5: SET and RESET swapped is a poor fit, one line, nothing written;
    --accept-poor-fit writes it, marked poor. No lookup table can follow it (every SET knot's
    mean step is negative): that stops before any check."""
    out = tmp_path / "swapped.yaml"
    swapped = ("--directions", "set=reset,reset=set")
    code, _, stderr = run_cli(capsys, "fit-device", str(EXAMPLE), "--out", str(out), *swapped)
    assert code == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert f"{EXAMPLE}: poor neurosim fit (SET ramps lower the conductance" in stderr
    assert "RESET mean curve off by" in stderr and "fits better" not in stderr
    assert "--accept-poor-fit" in stderr and not out.exists()
    code, _, stderr = run_cli(
        capsys, "fit-device", str(EXAMPLE), "--out", str(out), *swapped, "--model", "lookup_table"
    )
    assert code == 2 and stderr.count("\n") == 1 and not out.exists()
    assert "SET steps lower the conductance in every bin (labels swapped? --directions)" in stderr
    code, _, stderr = run_cli(
        capsys, "fit-device", str(EXAMPLE), "--out", str(out), *swapped, "--accept-poor-fit"
    )
    assert code == 0, stderr
    assert "poor: true" in out.read_text()


def bump_process(curves_seed: int | None, draws: int = 1, cycles: int = 10, pulses: int = 600):
    """A device NeuroSim's form cannot follow: its mean step is largest mid-range (0.0005 +
    0.006 u (1 - u) of its range, an S-shaped curve), write noise 0.001 of the range. With a
    seed: `cycles` SET and RESET ramps of `pulses` from Gmin, read with noise 0.01 of the range
    (curves); without: the mean of `draws` devices through one SET and one RESET ramp,
    siemens."""
    g_min, g_max = 1e-6, 3e-6
    rng = np.random.default_rng(9 if curves_seed is None else curves_seed)
    u, states, ramps = np.zeros(draws), [], []
    for cycle in range(1 if curves_seed is None else cycles):
        for direction, sign in (("set", 1), ("reset", -1)):
            trace = [u]
            for _ in range(pulses):
                step = sign * (0.0005 + 0.006 * u * (1 - u)) + 0.001 * rng.normal(size=draws)
                u = np.clip(u + step, 0.0, 1.0)
                trace.append(u)
            g = g_min + (g_max - g_min) * np.array(trace)
            states.append(g.mean(axis=1))
            read = g[:, 0] + 0.01 * (g_max - g_min) * rng.normal(size=pulses + 1)
            ramps.append(Ramp("d1", str(cycle + 1), direction, np.arange(pulses + 1), read))
    if curves_seed is None:
        return np.concatenate([states[0], states[1][1:]])
    return Curves("bump", tuple(ramps))


def test_a_step_the_neurosim_form_cannot_follow_is_followed_by_the_table():
    """The lookup table, built from the smoothed states with the write noise refitted under its
    own mean step, keeps 2,000 simulated devices within 3 % of the range of the truth's mean at
    every pulse (2.2 % measured) and passes the check; NeuroSim's form is off by more (5.5 %)."""
    curves = bump_process(curves_seed=1)
    truth = bump_process(curves_seed=None, draws=2000)
    errors = {}
    for model in ("neurosim", "lookup_table"):
        fit = fit_device(curves, model=model)
        fitted = trajectories(fit.params, 2000, [(True, 600), (False, 600)]).mean(axis=1)
        errors[model] = np.abs(fitted - truth).max() / 2e-6
        assert fit.devices[0].read_sigma == pytest.approx(0.01, rel=0.15)
    assert not fit.check.poor
    assert errors["lookup_table"] < 0.03 < errors["neurosim"]
    table_write = fit.params.table.sigma[0, 0, 0] * fit.params.g_max_s / 2e-6
    assert table_write == pytest.approx(0.001, rel=0.2)


def test_the_figure_draws_each_ramps_fitted_band_and_the_file_records_the_check(noisy_linear):
    """Measured dots, the fitted mean and its 5-95 % band for RAMPS_DRAWN of each direction's
    ten ramps, the first and the last among them, said in the title; the check and the read
    noise in the device file's `fit` section."""
    import yaml
    from matplotlib.collections import PolyCollection

    from sbp_core.chip.device import device_file_text

    curves, _ = noisy_linear
    fit = fit_device(curves)
    figure = fit_figure(fit)
    bands = sum(isinstance(c, PolyCollection) for ax in figure.axes for c in ax.collections)
    assert bands == 2 * RAMPS_DRAWN < len(curves.ramps)
    assert [ax.get_title().split("\n")[0] for ax in figure.axes] == [
        f"SET, {RAMPS_DRAWN} of 10 ramps",
        f"RESET, {RAMPS_DRAWN} of 10 ramps",
    ]
    drawn, total = drawn_ramps(fit, "set")
    sets = [ramp for ramp in curves.ramps if ramp.direction == "set"]
    assert total == 10 and drawn[0][0] is sets[0] and drawn[-1][0] is sets[-1]
    for ramp, band in zip(curves.ramps, fit.check.bands, strict=True):
        assert np.all(band.low <= band.mean) and np.all(band.mean <= band.high)
        assert band.mean.size == ramp.pulse.size
    written = yaml.safe_load(device_file_text(fit.params, fit.quality()))["fit"]
    assert written["check"]["poor"] is False
    assert written["read_noise_of_range"] == pytest.approx(fit.read_noise, rel=1e-3)
    assert written["per_device"][0]["read_sigma"] == pytest.approx(fit.read_noise, rel=1e-3)


def test_the_shipped_measured_device_keeps_its_reads():
    """Its content as converted from CrossSim's set.csv and reset.csv (79 ramps, 13,417 reads,
    1.6 to 2.5 mS); an edit to the file fails here, not silently in the fits below."""
    digest = hashlib.sha256(CROSSSIM.read_bytes()).hexdigest()
    assert digest == "19c86cb4ae72c0a148b87cebc1c069254ed872d8b140f11661553d5007d516d9"
    curves = read_curves(CROSSSIM)
    assert len(curves.devices) == 1
    assert sum(r.direction == "set" for r in curves.ramps) == 39
    assert sum(r.direction == "reset" for r in curves.ramps) == 40
    assert sum(r.pulse.size for r in curves.ramps) == 13_417
    reads = np.concatenate([r.conductance_s for r in curves.ramps])
    assert 1.59e-3 < reads.min() < 1.62e-3 and 2.48e-3 < reads.max() < 2.50e-3


def test_the_shipped_measured_devices_lookup_table_is_refused_for_its_scatter():
    """docs/measured_devices.md, "Public measured curves": its knots' spread is smaller than
    the ramp-to-ramp drift of CrossSim's device (its NeuroSim fit, accepted, is the docs'
    worked example, checked above)."""
    curves = read_curves(CROSSSIM)
    table = fit_device(curves, model="lookup_table")
    assert table.check.poor == [
        f"SET scatter {table.check.spread_ratio['set']:.3g} times the fitted device's"
    ]
    assert table.check.spread_ratio["set"] == pytest.approx(2.27, abs=0.01)
