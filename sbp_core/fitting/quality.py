"""How well a fitted device follows its measured curves (docs/measured_devices.md).

The fitted device, write and read noise included, is driven DRAWS times through every measured
ramp's pulses from the ramp's fitted start. Per direction, two numbers:

- `mean_error`: the root mean square, over every read, of the measured curve smoothed over
  SMOOTHING consecutive reads (which averages the read noise away) minus the simulated mean,
  as a fraction of the fitted range;
- `spread_ratio`: the root mean square of the measured reads about the simulated mean over that
  of the simulated reads about it: 1 where the fitted write and read noise explain the scatter.

A fit is poor when a direction's mean error exceeds POOR_MEAN_ERROR or its spread ratio lies
outside SPREAD_RATIOS, or when a direction's ramps move the conductance against their label
(SET ramps that end lower than they start, on average: labels swapped); `fit-device` then
writes nothing unless told to (--accept-poor-fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sbp_core.fitting.curves import DIRECTIONS

DRAWS = 200
SMOOTHING = 21
"""Reads in the centred moving average of a measured curve (fewer at its ends)."""
POOR_MEAN_ERROR = 0.10
"""A mean curve off by more than a tenth of the range (root mean square) is a poor fit: a
device's own write noise moves one ramp's curve about its mean by a few percent at most."""
SPREAD_RATIOS = (0.5, 2.0)
"""Measured scatter within a factor of two of the fitted device's."""
SEED = 0
"""The check's draws are fixed: the same fit gives the same file."""


@dataclass(frozen=True)
class Band:
    """The simulated reads of one measured ramp: mean and 5 % / 95 % quantiles, siemens."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Check:
    mean_error: dict[str, float]
    """Per direction, fraction of the range."""
    spread_ratio: dict[str, float]
    bands: tuple[Band, ...]
    """One per measured ramp, in the curves' order."""
    backwards: tuple[str, ...] = ()
    """Directions whose measured ramps move the conductance against their label, on average."""

    @property
    def poor(self) -> list[str]:
        """What makes the fit poor (empty when it is not), one phrase per direction."""
        reasons = [f"{d.upper()} ramps {FALLS[d]}: labels swapped?" for d in self.backwards]
        for d in DIRECTIONS:
            error, ratio = self.mean_error[d], self.spread_ratio[d]
            if error > POOR_MEAN_ERROR:
                reasons.append(f"{d.upper()} mean curve off by {100 * error:.3g} % of the range")
            elif not SPREAD_RATIOS[0] <= ratio <= SPREAD_RATIOS[1]:
                reasons.append(f"{d.upper()} scatter {ratio:.3g} times the fitted device's")
        return reasons

    def to_dict(self) -> dict:
        return {
            "mean_error_of_range": {d: _round(v) for d, v in self.mean_error.items()},
            "spread_ratio": {d: _round(v) for d, v in self.spread_ratio.items()},
            "poor": bool(self.poor),
        }


FALLS = {"set": "lower the conductance", "reset": "raise the conductance"}


def check(curves, simulate, span_of) -> Check:
    """The check of a fit: `simulate` as `fit.Simulator`, `span_of(device)` its fitted range in
    siemens."""
    rng = np.random.default_rng(SEED)
    bands, errors, spreads = [], {d: [] for d in DIRECTIONS}, {d: [] for d in DIRECTIONS}
    for ramp in curves.ramps:
        draws = simulate(ramp, DRAWS, rng)
        mean = draws.mean(axis=0)
        bands.append(Band(mean, *np.quantile(draws, [0.05, 0.95], axis=0)))
        span = span_of(ramp.device)
        errors[ramp.direction].append((smooth(ramp.conductance_s) - mean) / span)
        measured = (ramp.conductance_s - mean) / span
        simulated = (draws - mean) / span
        spreads[ramp.direction].append((np.mean(measured**2), np.mean(simulated**2), mean.size))
    mean_error = {d: _rms(np.concatenate(errors[d])) for d in DIRECTIONS}
    spread_ratio = {}
    for d in DIRECTIONS:
        weights = np.array([n for *_, n in spreads[d]], dtype=float)
        measured = float(np.average([m for m, _, _ in spreads[d]], weights=weights))
        simulated = float(np.average([s for _, s, _ in spreads[d]], weights=weights))
        spread_ratio[d] = _ratio(math.sqrt(measured), math.sqrt(simulated))
    net = {d: 0.0 for d in DIRECTIONS}
    for ramp in curves.ramps:
        net[ramp.direction] += float(ramp.conductance_s[-1] - ramp.conductance_s[0])
    backwards = tuple(d for d in DIRECTIONS if net[d] * (1 if d == "set" else -1) < 0)
    return Check(mean_error, spread_ratio, tuple(bands), backwards)


def smooth(values: np.ndarray, window: int = SMOOTHING) -> np.ndarray:
    """Centred moving average over `window` reads, shrinking symmetrically at the ends."""
    half = window // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(values.size)
    reach = np.minimum(np.minimum(index, values.size - 1 - index), half)
    return (cumulative[index + reach + 1] - cumulative[index - reach]) / (2 * reach + 1)


NOISE_FLOOR = 1e-6
"""Scatter below this fraction of the range is rounding: two such scatters agree (ratio 1)."""


def _ratio(measured: float, simulated: float) -> float:
    if simulated < NOISE_FLOOR:
        return 1.0 if measured < NOISE_FLOOR else math.inf
    return measured / simulated


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def _round(value: float) -> float:
    return float(f"{value:.4g}") if math.isfinite(value) else value
