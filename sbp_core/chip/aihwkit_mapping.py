"""Our NeuroSim-curve device in IBM aihwkit's terms (docs/aihwkit_device_mapping.md).

A pulse moves one of our devices by an affine map of its conductance, g' = alpha + beta g, plus
Gaussian cycle-to-cycle noise of a fixed sigma, then clipping to [g_lo, g_hi] (docs/method.md,
"Device"). aihwkit's LinearStepDevice moves its weight w by a step that is affine in w as well
(src/rpucuda/rpu_linearstep_device.cpp, update_once_add):

    up:   w += slope_up w + scale_up (1 + dw_min_std xi),
    down: w -= slope_down w + scale_down (1 + dw_min_std xi),   then w clipped to its bounds,

with scale_up = dw_min (1 + min(up_down, 0)), scale_down = dw_min (1 - max(up_down, 0))
(src/rpucuda/rpu_pulsed_device.cpp, populate), slope_up = -ls_decrease_up scale_up / w_max and
slope_down = -ls_decrease_down scale_down / w_min (rpu_linearstep_device.cpp, populate, with
ls_mean_bound_reference). Writing w = (g - g0) / (Gmax - Gmin) in our weight units, with g0
the device's symmetry point, maps one onto the other exactly: the steps of the two directions are
equal at g0, so up_down = 0 and the additive noise has one sigma both ways, as ours.
SoftBoundsDevice is the LinearStep device with ls_decrease = 1 both ways (the step vanishes at
the bound, rpu_linearstep_device.h); our device's steps vanish beyond its bounds, so a soft-bounds
device matches it between them only, without the clipping (`soft_bounds_parameters`).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from sbp_core.chip.kinds.neurosim import AffineArray, DeviceParams
from sbp_core.chip.symmetry import nominal_symmetry_point
from sbp_core.errors import ConfigError


class LinearStepParameters(NamedTuple):
    """aihwkit LinearStepDevice parameters of one nominal device (weights in our units)."""

    dw_min: float
    up_down: float
    w_max: float
    w_min: float
    ls_decrease_up: float
    ls_decrease_down: float
    ls_allow_increasing_slope: bool
    """True where a direction's step grows towards its bound (a negative ls_decrease)."""
    dw_min_std: float
    """The C2C sigma relative to dw_min (additive noise: ls_mult_noise False)."""


class SoftBoundsParameters(NamedTuple):
    """aihwkit SoftBoundsDevice parameters: our device between its bounds, without clipping."""

    dw_min: float
    up_down: float
    w_max: float
    """Where the up step of our device would vanish (beyond our Gmax)."""
    w_min: float
    dw_min_std: float


def linear_step_parameters(params: DeviceParams) -> LinearStepParameters:
    """The exact LinearStepDevice of a nominal device (no D2D spread, none stuck): aihwkit's
    weight 0 is the device's symmetry point, its unit our weight unit, 1 / (Gmax - Gmin)."""
    alpha_set, beta_set, alpha_reset, beta_reset, g_lo, g_hi, g0 = _nominal(params)
    c = 1.0 / (g_hi - g_lo)
    scale_up = c * (alpha_set + (beta_set - 1.0) * g0)  # the SET step at g0
    scale_down = -c * (alpha_reset + (beta_reset - 1.0) * g0)
    dw_min = max(scale_up, scale_down)
    w_max, w_min = c * (g_hi - g0), c * (g_lo - g0)
    # slope_up = beta_set - 1 = -ls_decrease_up scale_up / w_max; the down step is
    # -(scale_down + slope_down w) with slope_down = 1 - beta_reset = -ls_decrease_down
    # scale_down / w_min
    decrease_up = (1.0 - beta_set) * w_max / scale_up if w_max > 0 else 0.0
    decrease_down = -(1.0 - beta_reset) * w_min / scale_down if w_min < 0 else 0.0
    return LinearStepParameters(
        dw_min=dw_min,
        up_down=(scale_up - scale_down) / dw_min,
        w_max=w_max,
        w_min=w_min,
        ls_decrease_up=decrease_up,
        ls_decrease_down=decrease_down,
        ls_allow_increasing_slope=bool(decrease_up < 0 or decrease_down < 0),
        dw_min_std=params.c2c_sigma / dw_min,  # sigma c2c (Gmax - Gmin) in weight units
    )


def soft_bounds_parameters(params: DeviceParams) -> SoftBoundsParameters:
    """The SoftBoundsDevice whose steps are our device's between Gmin and Gmax; a one-line error
    where a direction's step does not shrink towards its bound (no soft bound to map)."""
    alpha_set, beta_set, alpha_reset, beta_reset, g_lo, g_hi, g0 = _nominal(params)
    if not (beta_set < 1.0 and beta_reset < 1.0):
        raise ConfigError(
            f"device {params.name}: its steps do not shrink towards both bounds (beta_set "
            f"{beta_set:.6g}, beta_reset {beta_reset:.6g}); use linear_step_parameters"
        )
    exact = linear_step_parameters(params)
    c = 1.0 / (g_hi - g_lo)
    # the up step vanishes at the SET map's fixed point, the down step at the RESET map's
    g_up, g_down = alpha_set / (1.0 - beta_set), alpha_reset / (1.0 - beta_reset)
    return SoftBoundsParameters(
        dw_min=exact.dw_min,
        up_down=exact.up_down,
        w_max=c * (g_up - g0),
        w_min=c * (g_down - g0),
        dw_min_std=exact.dw_min_std,
    )


def _nominal(params: DeviceParams) -> tuple[float, ...]:
    """alpha_set, beta_set, alpha_reset, beta_reset, g_lo, g_hi and the symmetry point of a
    nominal device, float64."""
    nominal = dataclasses.replace(params, d2d_sigma=0.0, stuck_gmin=0.0, stuck_gmax=0.0)
    devices = nominal.build_array((1,), np.random.default_rng(0), np.float64)
    if not isinstance(devices, AffineArray):  # the response form, whatever the kind
        raise ConfigError(f"device {params.name}: its devices have no affine response to map")
    values = [
        float(getattr(devices, name)[0])
        for name in ("alpha_set", "beta_set", "alpha_reset", "beta_reset", "g_lo", "g_hi")
    ]
    return (*values, nominal_symmetry_point(params).g)
