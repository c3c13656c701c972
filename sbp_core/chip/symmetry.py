"""Symmetry points: the conductance where a device's SET and RESET steps balance.

Tiki-Taka (Gokmen & Haensch, Front. Neurosci. 14, 2020; Gokmen, Front. AI 4, 2021) lets its fast
array A drift under equal numbers of up and down pulses; a device drifts to where the mean step
of a SET pulse and that of a RESET pulse cancel, its symmetry point, so that point is A's zero.

For the NeuroSim device a pulse is an affine map, g' = alpha_set + beta_set g (SET) and
g' = alpha_reset + beta_reset g (RESET) (docs/method.md, "Device"), so the two steps cancel where

    (alpha_set + (beta_set - 1) g) + (alpha_reset + (beta_reset - 1) g) = 0,
    g* = (alpha_set + alpha_reset) / (2 - beta_set - beta_reset),

clipped to the device's bounds. It attracts (the balanced pulses pull a device towards it)
when beta_set + beta_reset < 2. A linear device (beta = 1 both ways) whose steps are equal and
opposite balances everywhere: its symmetry point is taken at mid-range; one whose steps differ
(reset_step_ratio != 1) drifts to the bound its larger step points to. For a lookup-table device
the sum of the two interpolated steps is linear between knots, and its symmetry point is the
first place it falls through zero (the same bound rule where it does not).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from sbp_core.chip.kinds.lookup_table import (
    RESET_ROW,
    SET_ROW,
    LookupTable,
    TableArray,
)
from sbp_core.chip.kinds.neurosim import AffineArray, DeviceParams

BALANCED = 1e-4
"""A linear device's SET and RESET steps balance when their sum is below this fraction of their
sizes (the coefficients are float32)."""


class SymmetryPoint(NamedTuple):
    """A device's symmetry point, normalised like g, and as a fraction of its range."""

    g: float
    fraction: float
    """(g - Gmin) / (Gmax - Gmin): 0 at Gmin, 1 at Gmax."""
    attracting: bool
    """True where balanced pulses pull a device towards it (False: a linear device, where
    every point balances, or a repelling point)."""


def symmetry_points(devices: AffineArray | TableArray) -> np.ndarray:
    """Each device's symmetry point (float64, the array's shape); stuck devices at the bound
    they are stuck at."""
    if isinstance(devices, TableArray):
        lut = devices.params.table
        per_table = np.array([_table_point(lut, t)[0] for t in range(len(lut.devices))])
        points = per_table[np.maximum(devices.table, 0)]
    else:
        points = _affine_points(devices)[0]
    points = np.where(devices.stuck == 1, devices.g_lo, points)
    return np.where(devices.stuck == 2, devices.g_hi, points)


def nominal_symmetry_point(params: DeviceParams) -> SymmetryPoint:
    """The symmetry point of a nominal device of this kind (no device-to-device spread, none
    stuck); for devices that respond through lookup tables, the mean over its measured devices'
    points. Read by the response form of its devices, so a new kind needs no edit here."""
    nominal = dataclasses.replace(params, d2d_sigma=0.0, stuck_gmin=0.0, stuck_gmax=0.0)
    devices = nominal.build_array((1,), np.random.default_rng(0), np.float64)
    if isinstance(devices, TableArray):
        lut = devices.params.table
        points = [_table_point(lut, t) for t in range(len(lut.devices))]
        fractions = [
            (g - lut.g_lo[t]) / (lut.g_hi[t] - lut.g_lo[t]) for t, (g, _) in enumerate(points)
        ]
        return SymmetryPoint(
            float(np.mean([g for g, _ in points])), float(np.mean(fractions)),
            all(attracting for _, attracting in points),
        )  # fmt: skip
    points, attracting = _affine_points(devices)
    g, lo, hi = float(points[0]), float(devices.g_lo[0]), float(devices.g_hi[0])
    return SymmetryPoint(g, (g - lo) / (hi - lo), bool(attracting[0]))


def _affine_points(devices: AffineArray) -> tuple[np.ndarray, np.ndarray]:
    """g* and whether it attracts, per device of the NeuroSim model."""
    a_set, a_reset = (devices.alpha_set.astype(float), devices.alpha_reset.astype(float))
    b_sum = devices.beta_set.astype(float) + devices.beta_reset.astype(float)
    lo, hi = devices.g_lo.astype(float), devices.g_hi.astype(float)
    # the net step of one SET and one RESET at g is a_set + a_reset + (b_sum - 2) g
    net = a_set + a_reset
    linear = b_sum == 2.0
    balanced = np.abs(net) <= BALANCED * (np.abs(a_set) + np.abs(a_reset))
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = net / (2.0 - b_sum)
    drift = np.where(net > 0, hi, lo)  # a linear device with unequal steps
    points = np.where(linear, np.where(balanced, 0.5 * (lo + hi), drift), inner)
    return np.clip(points, lo, hi), b_sum < 2.0


def _table_point(lut: LookupTable, t: int) -> tuple[float, bool]:
    """The symmetry point of measured device t's tables and whether it attracts."""
    lo, hi = float(lut.g_lo[t]), float(lut.g_hi[t])
    knots = np.concatenate([lut.knot_table(t, d)[0] for d in (SET_ROW, RESET_ROW)])
    xs = np.unique(np.concatenate([[lo, hi], knots[(knots > lo) & (knots < hi)]]))
    net = np.array([_step(lut, t, SET_ROW, x) + _step(lut, t, RESET_ROW, x) for x in xs])
    for k in range(xs.size - 1):
        if net[k] >= 0 >= net[k + 1] and net[k] != net[k + 1]:  # falls through zero here
            return float(xs[k] + net[k] * (xs[k + 1] - xs[k]) / (net[k] - net[k + 1])), True
    return (hi if net[0] > 0 else lo), False


def _step(lut: LookupTable, t: int, d: int, x: float) -> float:
    """The mean step of table t, direction d at conductance x (as `TableArray.respond`)."""
    knots, step, _ = lut.knot_table(t, d)
    k = min(max(int(np.searchsorted(knots, x, side="right")) - 1, 0), knots.size - 2)
    slope = (step[k + 1] - step[k]) / (knots[k + 1] - knots[k])
    return float(step[k] + slope * (x - knots[k]))
