"""A measured device as a state-space process: write noise that accumulates, read noise that
does not (docs/measured_devices.md).

The device state g (in the units of the reads) moves by one pulse of direction d as
g' = clip(lo + s (c_d + k_d u) + s q N(0, 1), lo, hi), u = (g - lo) / s, s = hi - lo: the NeuroSim
map of `fit.unit_map` in units of the bounds [lo, hi], plus write (cycle-to-cycle) noise of sigma
q (fraction of the range), clipped at the bounds. Each read sees y = g + s r N(0, 1): read noise
of sigma r, which the next pulse does not inherit. A ramp's first read only places its start.

The likelihood of the reads is computed by a Kalman filter whose predicted state, a Gaussian
before the clip, is replaced after it by the Gaussian of the same mean and variance (assumed
density filtering: exact away from the bounds, the moments right at them). Maximising it over
(c, k per direction, q, r, lo, hi) separates the two noises: read noise makes consecutive read
differences anti-correlated, write noise makes the trajectory wander. A Rauch-Tung-Striebel pass
then gives the smoothed (denoised) state at every read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from sbp_core.jit import compiled

NOISE_BOUNDS = (math.log(1e-6), 0.0)
"""Of log q and log r: from the fits' noise floor to the whole range."""


@dataclass(frozen=True)
class Reads:
    """Every read of one device, its ramps end to end (units of the reads: siemens / scale)."""

    value: np.ndarray
    """The reads, float64."""
    first: np.ndarray
    """True at a ramp's first read."""
    direction: np.ndarray
    """0 (SET) or 1 (RESET): the pulses before each read."""
    pulses: np.ndarray
    """Pulses since the previous read of its ramp (0 at a ramp's first read)."""


@dataclass(frozen=True)
class StateSpace:
    """The fitted process, in the units of the reads."""

    lo: float
    hi: float
    maps: tuple[tuple[float, float], tuple[float, float]]
    """(c, k) of SET and of RESET, in units of [lo, hi]."""
    write_sigma: float
    """q: sigma of a pulse's write noise, fraction of hi - lo."""
    read_sigma: float
    """r: sigma of a read's noise, fraction of hi - lo."""

    def vector(self) -> np.ndarray:
        (cs, ks), (cr, kr) = self.maps
        return np.array(
            [
                cs,
                ks,
                cr,
                kr,
                math.log(self.write_sigma),
                math.log(self.read_sigma),
                self.lo,
                self.hi,
            ]
        )

    @staticmethod
    def from_vector(theta) -> StateSpace:
        cs, ks, cr, kr, log_q, log_r, lo, hi = (float(v) for v in theta)
        return StateSpace(lo, hi, ((cs, ks), (cr, kr)), math.exp(log_q), math.exp(log_r))


def negative_log_likelihood(theta: np.ndarray, reads: Reads) -> float:
    """-log p(reads | theta) (constants left out), theta as `StateSpace.vector`."""
    cs, ks, cr, kr, log_q, log_r, lo, hi = (float(v) for v in theta)
    knots = _affine_knots(((cs, ks), (cr, kr)))
    return _filter(lo, hi, log_q, log_r, *knots, *_arrays(reads), False)[0]


def smoothed(model: StateSpace, reads: Reads) -> np.ndarray:
    """The state at every read given all of its ramp's reads (units of the reads)."""
    noises = math.log(model.write_sigma), math.log(model.read_sigma)
    knots = _affine_knots(model.maps)
    return _filter(model.lo, model.hi, *noises, *knots, *_arrays(reads), True)[1]


def table_noises(model: StateSpace, reads: Reads, tables) -> tuple[float, float]:
    """(write, read) sigma, fractions of the range, by maximum likelihood when the mean step is
    not the fitted map but `tables`, per direction (knot positions, mean steps) in units of the
    range, linear between knots and continued beyond the end ones (a lookup table's mean step);
    the bounds as `model`'s."""
    size = max(x.size for x, _ in tables)
    knot_x, knot_step = np.zeros((2, size)), np.zeros((2, size))
    for d, (x, step) in enumerate(tables):
        knot_x[d, : x.size], knot_step[d, : x.size] = x, step
    n_knots = np.array([x.size for x, _ in tables], dtype=np.int64)
    arrays = _arrays(reads)

    def objective(noises: np.ndarray) -> float:
        return _filter(model.lo, model.hi, *noises, knot_x, knot_step, n_knots, *arrays, False)[0]

    start = [math.log(model.write_sigma), math.log(model.read_sigma)]
    result = minimize(objective, start, method="L-BFGS-B", bounds=[NOISE_BOUNDS, NOISE_BOUNDS])
    return math.exp(result.x[0]), math.exp(result.x[1])


def _affine_knots(maps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maps u' = c + k u as mean steps c + (k - 1) u between knots at 0 and 1."""
    knot_x = np.array([[0.0, 1.0], [0.0, 1.0]])
    knot_step = np.array([[c, c + k - 1.0] for c, k in maps])
    return knot_x, knot_step, np.array([2, 2], dtype=np.int64)


def fit_state_space(
    reads: Reads, starts: list[np.ndarray], read_noise: bool = True
) -> tuple[StateSpace, float]:
    """(maximum-likelihood process, its negative log-likelihood) from each start (vectors as
    `StateSpace.vector`), the best kept; without `read_noise`, r stays at its floor."""
    no_read = (NOISE_BOUNDS[0], NOISE_BOUNDS[0])
    bounds = [(-1.0, 1.0), (1e-3, 2.0), (-1.0, 1.0), (1e-3, 2.0), NOISE_BOUNDS]
    bounds.append(NOISE_BOUNDS if read_noise else no_read)
    span = float(np.ptp(reads.value))
    low, high = float(reads.value.min()), float(reads.value.max())
    bounds += [(low, low + 0.4 * span), (high - 0.4 * span, high)]  # reads straddle the bounds
    best = None
    for start in starts:
        start = np.clip(start, *zip(*bounds, strict=True))
        result = minimize(negative_log_likelihood, start, args=(reads,), method="L-BFGS-B",
                          bounds=bounds)  # fmt: skip
        if best is None or result.fun < best.fun:
            best = result
    return StateSpace.from_vector(best.x), float(best.fun)


def _arrays(reads: Reads):
    return (
        np.ascontiguousarray(reads.value, dtype=np.float64),
        np.ascontiguousarray(reads.first, dtype=np.bool_),
        np.ascontiguousarray(reads.direction, dtype=np.int64),
        np.ascontiguousarray(reads.pulses, dtype=np.int64),
    )


FAR = 8.0
"""Standard deviations from a bound beyond which clipping is left out."""


@compiled
def _clipped_moments(mean, var, lo, hi):  # pragma: no cover - compiled
    """Mean and variance of clip(N(mean, var), lo, hi)."""
    if var <= 0.0:
        value = min(max(mean, lo), hi)
        return value, 0.0
    sd = math.sqrt(var)
    a, b = (lo - mean) / sd, (hi - mean) / sd
    if a < -FAR and b > FAR:  # the clip's share is below 1e-15: none
        return mean, var
    cdf_a = 0.5 * math.erfc(-a / math.sqrt(2.0))
    cdf_b = 0.5 * math.erfc(-b / math.sqrt(2.0))
    pdf_a = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    pdf_b = math.exp(-0.5 * b * b) / math.sqrt(2.0 * math.pi)
    inside = cdf_b - cdf_a
    first = lo * cdf_a + hi * (1.0 - cdf_b) + mean * inside + sd * (pdf_a - pdf_b)
    second = (
        lo * lo * cdf_a
        + hi * hi * (1.0 - cdf_b)
        + (mean * mean + var) * inside
        + 2.0 * mean * sd * (pdf_a - pdf_b)
        + var * (a * pdf_a - b * pdf_b)
    )
    return first, max(second - first * first, 0.0)


@compiled
def _mean_step(u, knot_x, knot_step, n):  # pragma: no cover - compiled
    """(mean step, its slope) at u, linear between knots, the end segments continued."""
    j = 0
    while j < n - 2 and knot_x[j + 1] <= u:
        j += 1
    slope = (knot_step[j + 1] - knot_step[j]) / (knot_x[j + 1] - knot_x[j])
    return knot_step[j] + slope * (u - knot_x[j]), slope


@compiled
def _filter(
    lo, hi, log_q, log_r, knot_x, knot_step, n_knots, value, first, direction, pulses, smooth
):  # pragma: no cover - compiled
    """(negative log-likelihood, smoothed states or an empty array)."""
    span = hi - lo
    q2 = (math.exp(log_q) * span) ** 2
    r2 = (math.exp(log_r) * span) ** 2
    n = value.size
    filtered_mean, filtered_var = np.empty(n), np.empty(n)
    predicted_mean, predicted_var, gain = np.empty(n), np.empty(n), np.empty(n)
    total = 0.0
    m, p = 0.0, 0.0
    for t in range(n):
        if first[t]:  # the first read places the start: N(read, r^2), clipped
            m, p = _clipped_moments(value[t], r2, lo, hi)
            predicted_mean[t], predicted_var[t], gain[t] = m, p, 0.0
        else:
            d = direction[t]
            slope = 1.0
            for _ in range(pulses[t]):
                step, step_slope = _mean_step((m - lo) / span, knot_x[d], knot_step[d], n_knots[d])
                k = 1.0 + step_slope
                m, p = _clipped_moments(m + span * step, k * k * p + q2, lo, hi)
                slope *= k
            predicted_mean[t], predicted_var[t], gain[t] = m, p, slope
            s = p + r2
            e = value[t] - m
            total += 0.5 * (math.log(s) + e * e / s)
            m, p = m + p / s * e, p - p * p / s
        filtered_mean[t], filtered_var[t] = m, p
    if not smooth:
        return total, np.empty(0)
    states = filtered_mean.copy()
    for t in range(n - 2, -1, -1):  # Rauch-Tung-Striebel, ramp by ramp
        if first[t + 1] or predicted_var[t + 1] <= 0.0:
            continue
        j = filtered_var[t] * gain[t + 1] / predicted_var[t + 1]
        states[t] = filtered_mean[t] + j * (states[t + 1] - predicted_mean[t + 1])
    return total, states
