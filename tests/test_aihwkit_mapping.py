"""The aihwkit mapping: our device's steps equal those of the mapped aihwkit devices, whose update
equations are restated here from aihwkit's C++ (src/rpucuda/rpu_linearstep_device.cpp,
update_once_add and populate; src/rpucuda/rpu_pulsed_device.cpp, populate)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sbp_core.chip.aihwkit_mapping import linear_step_parameters, soft_bounds_parameters
from sbp_core.chip.device import PRESETS
from sbp_core.chip.symmetry import nominal_symmetry_point
from sbp_core.errors import ConfigError


def our_steps(params, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SET and RESET steps of a nominal noise-free device at conductances g, through
    `AffineArray.respond` (away from the bounds, where both devices clip alike)."""
    device = dataclasses.replace(params, c2c_sigma=0.0, d2d_sigma=0.0)
    devices = device.build_array(g.shape, np.random.default_rng(0), np.float64)
    up, down = g.copy(), g.copy()
    everything = np.arange(g.size)
    devices.respond(up, everything, np.ones(g.size, bool), None)
    devices.respond(down, everything, np.zeros(g.size, bool), None)
    return up - g, down - g


def aihwkit_linear_step(p, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LinearStep's up and down steps at weights w, noise-free, as aihwkit computes them."""
    scale_up = p.dw_min * (1 + min(p.up_down, 0.0))
    scale_down = p.dw_min * (1 - max(p.up_down, 0.0))
    slope_up = -p.ls_decrease_up * scale_up / p.w_max
    slope_down = -p.ls_decrease_down * scale_down / p.w_min
    return slope_up * w + scale_up, -(slope_down * w + scale_down)


@pytest.mark.parametrize("name", list(PRESETS))
def test_linear_step_device_takes_our_steps_everywhere_in_range(name):
    params = PRESETS[name]
    mapped = linear_step_parameters(params)
    lo, hi = params.g_min, 1.0
    g = np.linspace(lo + 0.15 * (hi - lo), hi - 0.15 * (hi - lo), 9)  # a step from the bounds
    c = 1.0 / (hi - lo)
    w = c * (g - nominal_symmetry_point(params).g)
    ours_up, ours_down = our_steps(params, g)
    theirs_up, theirs_down = aihwkit_linear_step(mapped, w)
    np.testing.assert_allclose(c * ours_up, theirs_up, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c * ours_down, theirs_down, rtol=1e-9, atol=1e-12)
    # aihwkit's bounds are ours; its additive noise, dw_min dw_min_std, is our C2C sigma
    assert mapped.w_max - mapped.w_min == pytest.approx(1.0)
    assert mapped.dw_min * mapped.dw_min_std == pytest.approx(params.c2c_sigma)
    assert mapped.up_down == pytest.approx(0.0, abs=1e-12) or name == "ideal"


def test_hand_worked_linear_device():
    """The ideal preset: 255 steps of 1/255 across the range, equal both ways; its symmetry
    point is mid-range, so aihwkit's weights run from -0.5 to 0.5 with no slope."""
    mapped = linear_step_parameters(PRESETS["ideal"])
    assert mapped.dw_min == pytest.approx(1 / 255)
    assert (mapped.w_min, mapped.w_max) == pytest.approx((-0.5, 0.5))
    assert (mapped.ls_decrease_up, mapped.ls_decrease_down, mapped.up_down) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("name", ["ag_si", "taox_hfox", "pcmo", "alox_hfo2", "epiram"])
def test_soft_bounds_device_takes_our_steps_between_our_bounds(name):
    """SoftBounds: up step scale_up (1 - w / w_max), down step -scale_down (1 - w / w_min)."""
    params = PRESETS[name]
    mapped = soft_bounds_parameters(params)
    lo = params.g_min
    g = np.linspace(lo + 0.15 * (1.0 - lo), 0.85 + 0.15 * lo, 7)  # a step from the bounds
    c = 1.0 / (1.0 - lo)
    w = c * (g - nominal_symmetry_point(params).g)
    ours_up, ours_down = our_steps(params, g)
    scale = mapped.dw_min  # up_down is 0: both scales are dw_min
    np.testing.assert_allclose(c * ours_up, scale * (1 - w / mapped.w_max), rtol=1e-9)
    np.testing.assert_allclose(c * ours_down, -scale * (1 - w / mapped.w_min), rtol=1e-9)


@pytest.mark.parametrize("name", ["ideal", "gst_pcm", "hzo_fefet"])
def test_devices_without_soft_bounds_say_so(name):
    with pytest.raises(ConfigError, match="do not shrink towards both bounds"):
        soft_bounds_parameters(PRESETS[name])


def test_devices_without_an_affine_response_are_refused_in_one_line():
    """A lookup-table device responds through its tables: there is no affine step to map."""
    from sbp_core.chip.kinds.lookup_table import LookupTable, TableDeviceParams

    set_knots = np.array([[0.0, 1.0], [0.1, 0.1], [0.0, 0.0]])
    reset_knots = np.array([[0.0, 1.0], [-0.1, -0.1], [0.0, 0.0]])
    table = LookupTable.from_knots(("a",), [(0.0, 1.0)], [(set_knots, reset_knots)])
    device = TableDeviceParams(name="measured", n_states=10, table=table)
    for mapping in (linear_step_parameters, soft_bounds_parameters):
        with pytest.raises(ConfigError, match="^device measured: its devices have no affine"):
            mapping(device)
