"""Fitting the device models of `sbp_core.chip.kinds` to measured curves, and writing device files.

**The NeuroSim model** (docs/method.md, "Device") moves a device by one pulse along an affine map
of its conductance. In units of its own range, u = (G - Gmin) / (Gmax - Gmin) in [0, 1], a SET
pulse gives u' = c + k u with k = exp(-1/A), c = b (1 - k), b = 1 / (1 - exp(-P/A)), A = a(NL) P
(a the normalised curvature of the label NL, P the pulses across the range; a linear device has
c = 1/P, k = 1), a RESET pulse the same with -1 for +1 and the LTD label and pulse count; then
Gaussian noise of sigma c2c_sigma and clipping to [0, 1]. Per measured device:

1. Gmin and Gmax are the smallest and largest conductance read: under the model every read
   lies in [Gmin, Gmax] and a device driven into saturation reaches both (ramps should overdrive
   a few pulses past each bound);
2. every single-pulse step (reads k and k + 1 of a ramp) is one observation u -> u'; the affine
   map (c, k) of each direction and one sigma are fitted by maximum likelihood, the noise
   Gaussian and a step that ends on a bound censored there (the model clips: all that is known
   of such a step is that it would have reached the bound, so saturation does not bias the
   steps near the bounds; a Tobit regression), from the least-squares line through the steps
   that end inside the range. Sigma is the cycle-to-cycle sigma; below NOISE_FLOOR the curves
   are noise-free and the least-squares line is the map;
3. each map gives P and NL exactly (`map_parameters`) where the NeuroSim form has it; where not
   (its fixed point inside the range, or a label beyond +-9) the form's best map is fitted in
   (log P, curvature) by the same likelihood (`_constrained`);
4. one P for both directions (reset_step_ratio 1, as every preset) is kept unless separate
   counts fit significantly better (`_tied`, a likelihood-ratio test): it pins the pulse count
   of a direction whose curve saturates within the noise, where P and NL trade off freely.

5. where the reads are noisy, the same NeuroSim map is fitted again as a state-space process
   (`statespace`): write noise that accumulates, read noise that does not, the bounds fitted;
   it replaces the step fit where the read noise is significant (`READ_NOISE_NEGLIGIBLE`).

Several devices give each their own fit; the device file holds their means (Gmin, Gmax, P, NL),
the pooled sigma (root mean square) and, as device-to-device sigma, the pooled relative spread
of Gmax, Gmin and P across devices (the labels, which the model spreads too, are left out: a
small label's relative spread is mostly fit error). n_states is the mean P rounded, plus one;
reset_step_ratio is 1 when every device keeps one count, else n_states - 1 over the mean RESET P.

**The lookup-table device** (docs/method.md, "Lookup-table device") bins each measured device's
steps by the conductance before the pulse, `bins` equal bins over its range per direction (by
default one per STEPS_PER_BIN steps of its sparsest direction, 2 to MAX_BINS: knots of fewer
steps are too noisy to walk a curve through); a bin with at least MIN_STEPS uncensored steps
becomes a knot at the bin's mean conductance: the mean step there and the steps' sigma, fitted
as a line in the conductance within the bin (censored at the bounds as above, by maximum
likelihood, where steps end on them). Linear interpolation between knots at the mean
conductance reproduces any step that is linear in g exactly, the NeuroSim model's among them.
With read noise the steps are those of the smoothed states, and every knot's sigma is the write
noise that maximises the reads' likelihood under the table's own mean step. A knot whose mean
step has the wrong sign for its direction (a SET bin whose steps average below zero: read noise
or drift much larger than the step) takes step 0, the maximum-likelihood mean under the
constraint that a SET pulse cannot lower the mean conductance; the count is recorded under
`fit.sign_clipped_knots`, and a table that would not load is never written.

Every fit is checked by simulating it over the measured pulses (`quality`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_ndtr
from threadpoolctl import threadpool_limits

from sbp_core import atomic
from sbp_core.chip.curve import MAX_LABEL, a_to_nonlinearity, nonlinearity_to_a
from sbp_core.chip.device import device_file_text
from sbp_core.chip.kinds.lookup_table import LookupTable, TableDeviceParams
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.errors import ConfigError
from sbp_core.fitting.curves import DIRECTIONS, Curves
from sbp_core.fitting.quality import FALLS, Check, check
from sbp_core.fitting.statespace import (
    Reads,
    StateSpace,
    fit_state_space,
    negative_log_likelihood,
    smoothed,
    table_noises,
)

MODELS = ("neurosim", "lookup_table")
MAX_BINS = 32
STEPS_PER_BIN = 20
MIN_STEPS = 5
"""Uncensored steps a bin needs to become a knot of a lookup table."""
NOISE_FLOOR = 1e-6
"""A residual spread below this fraction of the range is the rounding of the conductances read
(float32 resolves about 6e-8 of Gmax), not noise: the curves are noise-free (sigma 0)."""
MAX_PULSES = 1e5
"""Largest pulse count across the range a fit considers."""
DIRECTION_SIGN = {"set": +1, "reset": -1}
ELECTRICAL = ("v_set", "v_reset", "pulse_width_s", "reset_pulse_width_s")
"""Device parameters the curves do not give (the energy of a pulse): fit-device's options."""
ASSUMED_UNLESS_GIVEN = ELECTRICAL[:3]
"""Those a fitted device file marks assumed when not given (RESET's width defaults to SET's)."""


Simulator = Callable[..., np.ndarray]
"""simulate(ramp, draws=1, rng=None) -> conductances (siemens), shape (draws, reads): the fitted
device driven by the ramp's pulses from its fitted start, write and read noise drawn with `rng`,
or noise-free without it."""


@dataclass(frozen=True)
class DeviceFit:
    """The NeuroSim model fitted to one measured device."""

    device: str
    g_min_s: float
    """Smallest conductance read, siemens."""
    g_max_s: float
    """Largest conductance read, siemens."""
    set_pulses: float
    """SET pulses across the range, P (not rounded)."""
    nl_ltp: float
    reset_pulses: float
    """RESET pulses across the range."""
    nl_ltd: float
    c2c_sigma: float
    """Sigma of a pulse's step (write noise), fraction of this device's range."""
    read_sigma: float = 0.0
    """Sigma of a read (measurement noise, not inherited by the next pulse), fraction of this
    device's range; 0 where it is negligible beside the write noise."""

    def unit_map(self, direction: str) -> tuple[float, float]:
        """(c, k) of u' = c + k u for one pulse of `direction`, in units of the range."""
        if direction == "set":
            return unit_map(self.nl_ltp, self.set_pulses, +1)
        return unit_map(self.nl_ltd, self.reset_pulses, -1)

    def to_dict(self) -> dict:
        return {
            "device": self.device,
            "g_min_S": _significant(self.g_min_s),
            "g_max_S": _significant(self.g_max_s),
            "set_pulses": round(self.set_pulses, 2),
            "nl_ltp": round(self.nl_ltp, 4),
            "reset_pulses": round(self.reset_pulses, 2),
            "nl_ltd": round(self.nl_ltd, 4),
            "c2c_sigma": _significant(self.c2c_sigma),
            "read_sigma": _significant(self.read_sigma),
        }


@dataclass(frozen=True)
class Fit:
    """A device fitted to curves: its parameters, each measured device's fit, the quality."""

    params: DeviceParams
    """What the device file holds (a TableDeviceParams for a lookup-table device)."""
    devices: tuple[DeviceFit, ...]
    curves: Curves
    simulate: Simulator
    """The fitted device driven by a measured ramp's pulses (see `Simulator`)."""
    rms_error_s: dict[str, float]
    """Root mean square of measured minus noise-free fitted conductance, per direction (first
    reads out)."""
    check: Check
    """The fitted device simulated over the measured pulses, against the measured curves."""
    bins: int | None = None
    sign_clipped_knots: dict[str, int] | None = None
    """Per direction, the lookup table's knots whose mean step was clipped to 0."""

    @property
    def model(self) -> str:
        return self.params.kind

    def quality(self, source_sha256: str | None = None) -> dict:
        """The `fit` section of the device file: provenance, per-device fits, RMS errors."""
        span = self.params.g_max_s * (1.0 - self.params.g_min)
        info = {
            "model": self.model,
            "source": self.curves.source,
            "source_sha256": source_sha256,
            "devices": len(self.devices),
            "ramps": {d: sum(r.direction == d for r in self.curves.ramps) for d in DIRECTIONS},
            "rms_error_S": {d: _significant(v) for d, v in self.rms_error_s.items()},
            "rms_error_of_range": {d: _significant(v / span) for d, v in self.rms_error_s.items()},
            "d2d_sigma": _significant(d2d_sigma(self.devices)),
            "read_noise_of_range": _significant(self.read_noise),
            "read_noise_S": _significant(self.read_noise * span),
            "check": self.check.to_dict(),
            "per_device": [device.to_dict() for device in self.devices],
        }
        if self.bins is not None:
            info["bins"] = self.bins
        if self.sign_clipped_knots is not None:
            info["sign_clipped_knots"] = self.sign_clipped_knots
        return info

    @property
    def read_noise(self) -> float:
        """The measured devices' read (measurement) noise, root mean square, fraction of the
        range: recorded under `fit`, not as the device's `read_noise` (docs/measured_devices.md)."""
        return math.sqrt(float(np.mean([d.read_sigma**2 for d in self.devices])))


def unit_map(nl: float, pulses: float, direction: int) -> tuple[float, float]:
    """(c, k) of the NeuroSim map u' = c + k u (units of the range) for one pulse, direction +1
    (SET) or -1 (RESET): the map `sbp_core.chip.curve.affine` builds its coefficients from, in
    float64."""
    return curvature_map(1.0 / nonlinearity_to_a(nl), pulses, direction)


def curvature_map(q: float, pulses: float, direction: int) -> tuple[float, float]:
    """`unit_map` in terms of the curvature q = 1 / a(NL) = P / A (0: linear; its sign the
    label's), the parameter the fits vary: smooth through the straight line, and free of the
    label's bisection."""
    if abs(q) < 1e-12:
        return direction / pulses, 1.0
    b = 1.0 / -math.expm1(-q)
    return b * -math.expm1(-direction * q / pulses), math.exp(-direction * q / pulses)


MAX_CURVATURE = 1.0 / float(nonlinearity_to_a(MAX_LABEL))
"""|q| of the strongest label NeuroSim defines (9): the bound of every fit."""


def map_parameters(c: float, k: float, direction: int) -> tuple[float, float] | None:
    """(P, q) of the NeuroSim map with coefficients (c, k), or None if no pulse count > 0 and
    label in [-MAX_LABEL, MAX_LABEL] give it; the inverse of `curvature_map`."""
    if not (k > 0 and math.isfinite(c)):
        return None
    log_k = math.log(k)
    if abs(log_k) < 1e-12:
        pulses = direction / c if c != 0 else -1.0
        return (pulses, 0.0) if 0 < pulses <= MAX_PULSES else None
    b = c / -math.expm1(log_k)  # the map's fixed point, beyond the range for the NeuroSim form
    inner = 1.0 - 1.0 / b if b != 0 else -1.0
    if not inner > 0:
        return None
    q = -math.log(inner)  # P / A
    pulses = -direction * q / log_k
    if not (0 < pulses <= MAX_PULSES and abs(q) <= MAX_CURVATURE):
        return None
    return pulses, q


def curvature_label(q: float) -> float:
    """The nonlinearity label of curvature q (|q| <= MAX_CURVATURE: within the labels NeuroSim
    defines, rounding aside)."""
    label = 0.0 if q == 0 else float(a_to_nonlinearity(1.0 / q))
    return min(max(label, -MAX_LABEL), MAX_LABEL)


@dataclass(frozen=True)
class _Steps:
    """One direction's single-pulse steps u -> u' of one device (units of its range)."""

    before: np.ndarray
    after: np.ndarray

    @property
    def upper(self) -> np.ndarray:
        """Steps that end on Gmax: censored there."""
        return self.after >= 1.0

    @property
    def lower(self) -> np.ndarray:
        """Steps that end on Gmin."""
        return self.after <= 0.0

    @property
    def inside(self) -> np.ndarray:
        return ~(self.upper | self.lower)


def fit_device(
    curves: Curves,
    model: str = "neurosim",
    bins: int | None = None,
    name: str = "fitted",
    citation: str | None = None,
    **electrical: float,
) -> Fit:
    """Fit `model` (neurosim or lookup_table) to `curves`. `electrical` may set ELECTRICAL (the
    curves do not say; DeviceParams' defaults otherwise, those of ASSUMED_UNLESS_GIVEN marked
    assumed in the citation)."""
    if model not in MODELS:
        raise ConfigError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
    if bins is not None and not (isinstance(bins, int) and bins >= 2):
        raise ConfigError(f"bins must be an integer >= 2, got {bins!r}")
    with threadpool_limits(limits=1):  # many tiny array operations: BLAS threads only slow them
        return _fit(curves, model, bins, name, citation, electrical)


def _fit(curves: Curves, model: str, bins: int | None, name: str, citation, electrical) -> Fit:
    fitted = tuple(_fit_one(curves, device) for device in curves.devices)
    devices = tuple(f.fit for f in fitted)
    params = _nominal(devices, name, citation or _citation(curves, electrical), electrical)
    starts = {key: g for f in fitted for key, g in f.starts.items()}
    if model == "neurosim":
        simulate = _model_simulator(devices, starts)
        return Fit(params, devices, curves, simulate, _rms_errors(curves, simulate),
                   _check(curves, devices, simulate))  # fmt: skip
    bins = bins or default_bins(curves)
    table, read_sigmas, clipped = fit_table(curves.source, fitted, bins, params.g_max_s)
    devices = tuple(
        dataclasses.replace(d, read_sigma=r) for d, r in zip(devices, read_sigmas, strict=True)
    )
    nominal = {f.name: getattr(params, f.name) for f in dataclasses.fields(DeviceParams)}
    params = TableDeviceParams(**{**nominal, "d2d_sigma": 0.0}, table=table)  # the tables' spread
    simulate = _table_simulator(devices, starts, table, params.g_max_s)
    quality = _rms_errors(curves, simulate), _check(curves, devices, simulate)
    return Fit(params, devices, curves, simulate, *quality, bins=bins, sign_clipped_knots=clipped)


def _check(curves: Curves, devices, simulate) -> Check:
    spans = {d.device: d.g_max_s - d.g_min_s for d in devices}
    return check(curves, simulate, spans.__getitem__)


def _citation(curves: Curves, electrical: dict) -> str:
    assumed = [name for name in ASSUMED_UNLESS_GIVEN if name not in electrical]
    note = f"; {', '.join(assumed)} assumed (not in the curves)" if assumed else ""
    return f"fitted by sbp-bench fit-device to {Path(curves.source).name}{note}"


def _device_steps(curves: Curves, device: str) -> tuple[float, float, dict[str, _Steps]]:
    """(Gmin, Gmax, direction -> steps in units of the range) of one measured device."""
    conductance = curves.conductances(device)
    g_min, g_max = float(conductance.min()), float(conductance.max())
    span = g_max - g_min
    steps = {}
    for direction in DIRECTIONS:
        pairs = [ramp.steps() for ramp in curves.ramps_of(device, direction)]
        before, after = (np.concatenate(side) for side in zip(*pairs, strict=True))
        steps[direction] = _Steps((before - g_min) / span, (after - g_min) / span)
    return g_min, g_max, steps


@dataclass(frozen=True)
class _Fitted:
    """One measured device's fit, with what its lookup table and fitted curves start from."""

    fit: DeviceFit
    steps: dict[str, _Steps]
    """Per direction, the steps a lookup table is built from (units of the fitted range): the
    reads' own, or, with read noise, those of the smoothed states."""
    model: StateSpace | None
    """The state-space fit, where the read noise is significant (its write noise is refitted
    for a lookup table), else None: a table takes the steps' own spread."""
    reads: Reads | None
    starts: dict[tuple[str, str, str], float]
    """Each ramp's (device, cycle, direction) starting conductance, siemens: its first read, or
    with read noise its smoothed first state."""


READ_NOISE_NEGLIGIBLE = 0.1
"""Read noise below this fraction of the write noise adds under 2 % to a step's variance
(2 r^2 / q^2); below it, or where a likelihood-ratio test (5 %, as `_tied`) does not find the
read noise significant, the single-pulse steps of the reads are fitted directly."""


def _fit_one(curves: Curves, device: str) -> _Fitted:
    """The state-space fit (read noise apart from write noise) where the reads are noisy and the
    read noise is not negligible; the fit of the reads' own steps otherwise."""
    g_min, g_max, steps = _device_steps(curves, device)
    plain = _step_fit(curves, device, g_min, g_max, steps)
    first_reads = {_key(r): float(r.conductance_s[0]) for r in curves.ramps if r.device == device}
    if plain.c2c_sigma == 0:
        return _Fitted(plain, steps, None, None, first_reads)
    reads = _reads(curves, device, g_min, g_max)
    starts = _starts(plain, reads)
    model, misfit = fit_state_space(reads, starts)
    if model.read_sigma < READ_NOISE_NEGLIGIBLE * model.write_sigma:
        return _Fitted(plain, steps, None, None, first_reads)
    _, without = fit_state_space(reads, [model.vector(), starts[0]], read_noise=False)
    if without - misfit <= TIED_LIKELIHOOD:  # read noise not significant (likelihood ratio)
        return _Fitted(plain, steps, None, None, first_reads)
    return _state_space_device(curves, device, g_min, g_max, reads, model)


def _key(ramp) -> tuple[str, str, str]:
    return ramp.device, ramp.cycle, ramp.direction


def _reads(curves: Curves, device: str, g_min: float, g_max: float) -> Reads:
    """Every read of a device in units of its reads' range, its ramps in the file's order."""
    ramps = [r for r in curves.ramps if r.device == device]
    first = [np.arange(r.pulse.size) == 0 for r in ramps]
    direction = [np.full(r.pulse.size, DIRECTIONS.index(r.direction)) for r in ramps]
    return Reads(
        value=np.concatenate([(r.conductance_s - g_min) / (g_max - g_min) for r in ramps]),
        first=np.concatenate(first),
        direction=np.concatenate(direction),
        pulses=np.concatenate([np.diff(r.pulse, prepend=r.pulse[0]) for r in ramps]),
    )


def _starts(plain: DeviceFit, reads: Reads) -> list[np.ndarray]:
    """Where the state-space likelihood is maximised from: the fit of the reads' steps (bounds
    at the extreme reads, little read noise), and moment estimates: read noise from the negative
    lag-one covariance of single-pulse differences (-r^2 for white read noise), bounds that much
    inside the extreme reads, straight maps of the mean step, write noise from what is left of
    the differences' variance (q^2 + 2 r^2)."""
    single = (reads.pulses == 1) & ~reads.first
    step = np.diff(reads.value, prepend=0.0)
    means = [float(np.mean(step[single & (reads.direction == d)])) for d in (0, 1)]
    centred = np.where(single, step - np.take(means, reads.direction), 0.0)
    pairs = single[1:] & single[:-1] & (reads.direction[1:] == reads.direction[:-1])
    lag_one = float(np.sum((centred[1:] * centred[:-1])[pairs])) / max(int(pairs.sum()), 1)
    read = math.sqrt(max(-lag_one, 1e-12))
    lo, hi = min(2.0 * read, 0.25), max(1.0 - 2.0 * read, 0.75)
    span = hi - lo
    variance = float(np.mean(centred[single] ** 2))
    write = math.sqrt(max(variance - 2 * read**2, 1e-12)) / span
    (cs, ks), (cr, kr) = plain.unit_map("set"), plain.unit_map("reset")
    noise = max(plain.c2c_sigma, 1e-5)
    noises = (math.log(write), math.log(read / span))
    return [
        np.array([cs, ks, cr, kr, math.log(noise), math.log(noise / 3), 0.0, 1.0]),
        np.array([means[0] / span, 1.0, means[1] / span, 1.0, *noises, lo, hi]),
    ]


def _state_space_device(curves, device, g_min, g_max, reads: Reads, model: StateSpace):
    """The NeuroSim parameters of a state-space fit (the form's best map where the fitted map is
    none it reaches; one pulse count unless two fit significantly better, as `_step_fit`), the
    smoothed steps for a lookup table, and each ramp's smoothed start."""
    theta = model.vector()
    scale = g_max - g_min

    def objective_of(direction: str) -> Callable:
        offset, sign = 2 * DIRECTIONS.index(direction), DIRECTION_SIGN[direction]

        def objective(form: np.ndarray) -> float:
            varied = theta.copy()
            varied[offset : offset + 2] = curvature_map(form[1], math.exp(form[0]), sign)
            return negative_log_likelihood(varied, reads)

        return objective

    objectives = {d: objective_of(d) for d in DIRECTIONS}
    maps = dict(zip(DIRECTIONS, model.maps, strict=True))
    free = {
        d: map_parameters(*maps[d], DIRECTION_SIGN[d]) or _constrained(objectives[d], maps[d], d)
        for d in DIRECTIONS
    }
    pulses = {d: free[d][0] for d in DIRECTIONS}
    curvature = {d: free[d][1] for d in DIRECTIONS}
    tied = _tied(objectives, free, maps, model.write_sigma, reads.value.size)
    if tied is not None:
        pulses = dict.fromkeys(DIRECTIONS, tied[0])
        curvature = {"set": tied[1], "reset": tied[2]}
    lo_s, hi_s = max(g_min + model.lo * scale, 0.0), g_min + model.hi * scale
    fit = DeviceFit(
        device, lo_s, hi_s,
        pulses["set"], curvature_label(curvature["set"]),
        pulses["reset"], curvature_label(curvature["reset"]),
        model.write_sigma, model.read_sigma,
    )  # fmt: skip
    state = (smoothed(model, reads) * scale + g_min - lo_s) / (hi_s - lo_s)
    single = (reads.pulses == 1) & ~reads.first
    after = np.flatnonzero(single)
    ends = {d: after[reads.direction[after] == i] for i, d in enumerate(DIRECTIONS)}
    steps = {d: _Steps(state[ends[d] - 1], state[ends[d]]) for d in DIRECTIONS}
    ramps = [r for r in curves.ramps if r.device == device]
    firsts = np.flatnonzero(reads.first)
    starts = {
        _key(r): lo_s + float(state[t]) * (hi_s - lo_s) for r, t in zip(ramps, firsts, strict=True)
    }
    return _Fitted(fit, steps, model, reads, starts)


def _step_fit(curves: Curves, device: str, g_min: float, g_max: float, steps) -> DeviceFit:
    """The NeuroSim model fitted to the single-pulse steps of the reads (no read noise)."""
    where = f"{curves.source}: device {device}"
    maps, squares, count = {}, 0.0, 0
    for direction in DIRECTIONS:
        inside = steps[direction].inside
        before, after = steps[direction].before[inside], steps[direction].after[inside]
        if before.size < 2:
            raise ConfigError(
                f"{where}: fewer than two {direction} steps end inside the range, nothing to fit"
            )
        k, c = (
            np.polyfit(before, after, 1) if np.ptp(before) > 0 else (1.0, np.mean(after - before))
        )
        maps[direction] = (float(c), float(k))
        squares += float(np.sum((after - (c + k * before)) ** 2))
        count += before.size
    sigma = math.sqrt(squares / count)
    if sigma >= NOISE_FLOOR:
        theta = _censored_affine(steps, [*maps["set"], *maps["reset"], math.log(sigma)])
        maps = {"set": tuple(theta[:2]), "reset": tuple(theta[2:4])}
        sigma = math.exp(theta[4])
    else:
        sigma = 0.0
    objectives = {d: _objective(steps[d], DIRECTION_SIGN[d], sigma) for d in DIRECTIONS}
    free = {}
    for direction in DIRECTIONS:
        found = map_parameters(*maps[direction], DIRECTION_SIGN[direction])
        free[direction] = found or _constrained(objectives[direction], maps[direction], direction)
    pulses = {d: free[d][0] for d in DIRECTIONS}
    curvature = {d: free[d][1] for d in DIRECTIONS}
    tied = _tied(objectives, free, maps, sigma, sum(steps[d].inside.sum() for d in DIRECTIONS))
    if tied is not None:
        pulses = dict.fromkeys(DIRECTIONS, tied[0])
        curvature = {"set": tied[1], "reset": tied[2]}
    return DeviceFit(
        device, g_min, g_max,
        pulses["set"], curvature_label(curvature["set"]),
        pulses["reset"], curvature_label(curvature["reset"]),
        sigma,
    )  # fmt: skip


def _objective(steps: _Steps, sign: int, sigma: float) -> Callable[[np.ndarray], float]:
    """The misfit of one direction's NeuroSim map at theta = (log P, q): the censored negative
    log-likelihood with noise sigma, or, noise-free, the squared error of the steps that end
    inside the range."""
    inside = steps.inside

    def objective(theta: np.ndarray) -> float:
        c, k = curvature_map(theta[1], math.exp(theta[0]), sign)
        mean = c + k * steps.before
        if sigma == 0:
            return float(np.sum((steps.after[inside] - mean[inside]) ** 2))
        return censored_normal(steps.after, mean, sigma, steps.upper, steps.lower, 1.0, 0.0)

    return objective


def _tied(objectives, free, maps, sigma: float, n_steps: int) -> tuple[float, ...] | None:
    """(P, q_set, q_reset) with one pulse count for both directions (reset_step_ratio 1, as
    NeuroSim's presets), or None when separate counts fit the steps significantly better: by
    more than TIED_LIKELIHOOD in log-likelihood (the likelihood-ratio test of one parameter at
    the 5 % level), noise-free by more than the conductances' rounding. Started from each
    direction's own pulse count, with the curvatures that keep both fitted slopes k."""
    best_free = sum(objectives[d]([math.log(free[d][0]), free[d][1]]) for d in DIRECTIONS)

    def objective(theta: np.ndarray) -> float:
        return objectives["set"](theta[:2]) + objectives["reset"](theta[[0, 2]])

    bounds = [BOUNDS[0], BOUNDS[1], BOUNDS[1]]
    results = []
    for pulses in {free[d][0] for d in DIRECTIONS}:
        q = [
            -DIRECTION_SIGN[d] * pulses * math.log(maps[d][1]) if maps[d][1] > 0 else free[d][1]
            for d in DIRECTIONS
        ]
        start = np.clip([math.log(pulses), *q], *zip(*bounds, strict=True))
        results.append(minimize(objective, start, method="L-BFGS-B", bounds=bounds))
    result = min(results, key=lambda result: result.fun)
    allowed = TIED_LIKELIHOOD if sigma > 0 else n_steps * NOISE_FLOOR**2
    if result.fun - best_free > allowed:
        return None
    return math.exp(result.x[0]), float(result.x[1]), float(result.x[2])


TIED_LIKELIHOOD = 1.92
"""Half the 95 % quantile of chi-square with one degree of freedom: the log-likelihood that
separate SET and RESET pulse counts must gain to be kept."""


def _censored_affine(steps: dict[str, _Steps], x0: list[float]) -> np.ndarray:
    """Maximum likelihood of (c_set, k_set, c_reset, k_reset, log sigma): u' = c + k u plus
    Gaussian noise, a step censored at the bound it ends on (a Tobit regression per direction,
    one sigma)."""

    def negative_log_likelihood(theta: np.ndarray) -> tuple[float, np.ndarray]:
        sigma, total, gradient = math.exp(theta[4]), 0.0, np.zeros(5)
        for offset, direction in ((0, "set"), (2, "reset")):
            s = steps[direction]
            mean = theta[offset] + theta[offset + 1] * s.before
            value, d_mean, d_log_sigma = censored_normal_gradient(
                s.after, mean, sigma, s.upper, s.lower, 1.0, 0.0
            )
            total += value
            gradient[offset : offset + 2] += (d_mean.sum(), np.sum(d_mean * s.before))
            gradient[4] += d_log_sigma
        return total, gradient

    bounds = [(None, None)] * 4 + [SIGMA_BOUNDS]
    return minimize(negative_log_likelihood, x0, method="L-BFGS-B", jac=True, bounds=bounds).x


SIGMA_BOUNDS = (math.log(NOISE_FLOOR), 0.0)
"""Of log sigma: from the noise floor to the whole range."""


def _constrained(objective: Callable, affine: tuple[float, float], direction: str):
    """(P, q) of one direction when the best affine map is none the NeuroSim form reaches (its
    fixed point inside the range, or a label beyond MAX_LABEL): the best map of the form by
    `objective`, from starts at several curvatures of the sign the map's slope says."""
    sign = DIRECTION_SIGN[direction]
    c, k = affine
    toward = sign * (1.0 if k < 1 else -1.0)  # the label's sign: k < 1 saturates towards sign
    slope = abs(math.log(k)) if k > 0 and k != 1 else 0.0  # |q| / P, from k alone
    results = []
    for fraction in START_CURVATURES:
        q = toward * fraction * MAX_CURVATURE
        pulses = abs(q) / slope if slope > 0 else 1.0 / max(abs(c), 1e-3)  # keeps the fitted k
        start = [min(max(math.log(pulses), BOUNDS[0][0]), BOUNDS[0][1]), q]
        results.append(minimize(objective, start, method="L-BFGS-B", bounds=BOUNDS))
    best = min(results, key=lambda result: result.fun).x
    return math.exp(best[0]), float(best[1])


START_CURVATURES = (0.1, 0.4, 1.0)
"""Fractions of MAX_CURVATURE `_constrained` starts from."""
BOUNDS = [(0.0, math.log(MAX_PULSES)), (-MAX_CURVATURE, MAX_CURVATURE)]
"""Of (log P, q): at least one pulse across the range, labels NeuroSim defines."""


def censored_normal(y, mean, sigma, upper, lower, upper_limit, lower_limit) -> float:
    """Negative log-likelihood of y ~ N(mean, sigma^2) clipped to [lower_limit, upper_limit]:
    a y flagged `upper` (`lower`) is known only to lie at or beyond its limit (constant terms
    left out). Limits are scalars or arrays like y."""
    return censored_normal_gradient(y, mean, sigma, upper, lower, upper_limit, lower_limit)[0]


def censored_normal_gradient(y, mean, sigma, upper, lower, upper_limit, lower_limit):
    """`censored_normal` and its derivatives: (value, d/d mean per y, d/d log sigma)."""
    inside = ~(upper | lower)
    d_mean = np.zeros(y.shape)
    z = (y[inside] - mean[inside]) / sigma
    squares = float(np.sum(z * z))  # not z @ z: BLAS threads, slow on a busy machine
    value = 0.5 * squares + inside.sum() * math.log(sigma)
    d_mean[inside] = -z / sigma
    d_log_sigma = float(inside.sum() - squares)
    for flags, limit, sign in ((upper, upper_limit, 1.0), (lower, lower_limit, -1.0)):
        w = sign * (mean[flags] - np.broadcast_to(limit, y.shape)[flags]) / sigma
        log_cdf = log_ndtr(w)
        log_ratio = -0.5 * w * w - 0.5 * math.log(2 * math.pi) - log_cdf  # log(pdf / cdf)
        ratio = np.exp(np.minimum(log_ratio, 50.0))  # about -w for w << 0; capped for w = -inf
        value -= float(log_cdf.sum())
        d_mean[flags] = -sign * ratio / sigma
        d_log_sigma += float(np.sum(ratio * w))
    return value, d_mean, d_log_sigma


def _nominal(devices, name: str, citation: str, electrical: dict) -> DeviceParams:
    """The device file's parameters from the per-device fits (means; pooled sigmas)."""
    g_max = float(np.mean([d.g_max_s for d in devices]))
    g_min = float(np.mean([d.g_min_s for d in devices]))
    set_pulses = float(np.mean([d.set_pulses for d in devices]))
    n_states = max(2, round(set_pulses) + 1)
    reset_pulses = float(np.mean([d.reset_pulses for d in devices]))
    tied = all(d.reset_pulses == d.set_pulses for d in devices)
    unknown = sorted(set(electrical) - set(ELECTRICAL))
    if unknown:
        raise ConfigError(f"unknown electrical parameter {unknown[0]!r}")
    return DeviceParams(
        name=name,
        n_states=n_states,
        nl_ltp=round(float(np.mean([d.nl_ltp for d in devices])), 4),
        nl_ltd=round(float(np.mean([d.nl_ltd for d in devices])), 4),
        on_off=_significant(g_max / g_min) if g_min > 0 else math.inf,
        c2c_sigma=_significant(math.sqrt(np.mean([d.c2c_sigma**2 for d in devices]))),
        d2d_sigma=_significant(d2d_sigma(devices)),
        reset_step_ratio=1.0 if tied else round((n_states - 1) / reset_pulses, 4),
        g_max_s=_significant(g_max),
        citation=citation,
        **electrical,
    )


def d2d_sigma(devices) -> float:
    """Pooled relative spread of Gmax, Gmin (when above 0) and SET pulses across devices: the
    root of the summed squared relative deviations from each mean over their degrees of freedom
    (0 for one device)."""
    if len(devices) < 2:
        return 0.0
    columns = [[d.g_max_s for d in devices], [d.set_pulses for d in devices]]
    if all(d.g_min_s > 0 for d in devices):
        columns.append([d.g_min_s for d in devices])
    squares = sum(float(np.sum((np.array(v) / np.mean(v) - 1.0) ** 2)) for v in columns)
    return math.sqrt(squares / (len(columns) * (len(devices) - 1)))


def _significant(value: float, digits: int = 4) -> float:
    """`value` to `digits` significant digits: what a device file states of a fitted number."""
    return float(f"{value:.{digits - 1}e}") if value and math.isfinite(value) else value


# --- lookup tables ---------------------------------------------------------------------------


def default_bins(curves: Curves) -> int:
    """One bin per STEPS_PER_BIN single-pulse steps of the sparsest device and direction, from 2
    to MAX_BINS."""
    fewest = min(
        sum(r.steps()[0].size for r in curves.ramps_of(device, direction))
        for device in curves.devices
        for direction in DIRECTIONS
    )
    return int(np.clip(fewest // STEPS_PER_BIN, 2, MAX_BINS))


def fit_table(source: str, fitted, bins: int, g_max_s: float):
    """(the lookup table of every measured device, conductances normalised to `g_max_s`; each
    device's read sigma under it, fraction of its range; per direction, the knots clipped to
    step 0). From each fit's steps: the reads' own, or with read noise the smoothed states',
    whose knots all take the write noise that maximises the likelihood of the reads under the
    table's mean step (`statespace.table_noises`)."""
    bounds, knots, reads = [], [], []
    clipped = dict.fromkeys(DIRECTIONS, 0)
    for one in fitted:
        device = one.fit
        span = device.g_max_s - device.g_min_s
        lo, hi = device.g_min_s / g_max_s, device.g_max_s / g_max_s
        pair = []
        for direction in DIRECTIONS:
            s = one.steps[direction]
            x, y = lo + s.before * span / g_max_s, lo + s.after * span / g_max_s
            table = _knots(x, y - x, s.upper, s.lower, lo, hi, bins)
            if table.shape[1] < 2:
                raise ConfigError(
                    f"{source}: device {device.device}'s {direction} steps fill fewer than"
                    f" two of {bins} bins with {MIN_STEPS} steps each; use fewer bins (--bins) "
                    "or measure more cycles"
                )
            sign = 1 if direction == "set" else -1
            against = np.count_nonzero(sign * table[1] < 0)
            if against == table.shape[1]:
                raise ConfigError(
                    f"{source}: device {device.device}'s {direction.upper()} steps "
                    f"{FALLS[direction]} in every bin (labels swapped? --directions); no lookup "
                    "table follows them, nothing written"
                )
            clipped[direction] += int(against)
            table[1] = sign * np.maximum(sign * table[1], 0.0)
            pair.append(table)
        read = device.read_sigma
        if one.model is not None:
            unit = span / g_max_s
            tables = [((t[0] - lo) / unit, t[1] / unit) for t in pair]
            write, read = table_noises(one.model, one.reads, tables)
            for table in pair:
                table[2] = write * unit
        bounds.append((lo, hi))
        knots.append(tuple(pair))
        reads.append(read)
    table = LookupTable.from_knots(tuple(f.fit.device for f in fitted), bounds, knots)
    table.check(source)
    return table, tuple(reads), clipped


def _knots(x, step, upper, lower, lo: float, hi: float, bins: int) -> np.ndarray:
    """Knots (rows: conductance, mean step, sigma) of one direction: one per bin of [lo, hi]
    with at least MIN_STEPS uncensored steps, at the bin's mean conductance."""
    which = np.minimum(((x - lo) / (hi - lo) * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        here = which == b
        if np.count_nonzero(here & ~(upper | lower)) < MIN_STEPS:
            continue
        rows.append(
            _knot(x[here], step[here], upper[here], lower[here], hi - x[here], lo - x[here])
        )
    return np.array(rows, dtype=float).T.reshape(3, -1)


def _knot(x, step, upper, lower, up_limit, down_limit) -> tuple[float, float, float]:
    """(conductance, mean step there, sigma) of one bin. Without censored steps (or noise) the
    knot is the uncensored steps' mean at their mean conductance, the sigma their spread about a
    line in the conductance (a constant when they all lie at one conductance); with some steps
    censored on a bound, that line and sigma by censored maximum likelihood, at the mean
    conductance of all the bin's steps."""
    inside = ~(upper | lower)
    linear = np.ptp(x[inside]) > NOISE_FLOOR  # two conductances or more: a line
    centre = float(np.mean(x[inside]))
    design = np.column_stack([np.ones_like(x), x - centre] if linear else [np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design[inside], step[inside], rcond=None)
    residual = step[inside] - np.sum(design[inside] * coef, axis=1)
    sigma = math.sqrt(float(np.sum(residual**2)) / max(int(inside.sum()) - design.shape[1], 1))
    if sigma < NOISE_FLOOR:  # noise-free: the uncensored steps say it all
        return centre, float(coef[0]), 0.0
    if not (upper | lower).any():
        return centre, float(coef[0]), sigma
    shift = float(np.mean(x)) - centre  # the knot moves to the mean of every step's conductance
    if linear:
        coef = np.array([coef[0] + coef[1] * shift, coef[1]])
        design = np.column_stack([np.ones_like(x), x - centre - shift])

    def negative_log_likelihood(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, d_mean, d_log_sigma = censored_normal_gradient(
            step, np.sum(design * theta[:-1], axis=1), math.exp(theta[-1]), upper, lower,
            up_limit, down_limit,
        )  # fmt: skip
        return value, np.append(np.sum(design * d_mean[:, None], axis=0), d_log_sigma)

    bounds = [(None, None)] * design.shape[1] + [SIGMA_BOUNDS]
    start = [*coef, math.log(sigma)]
    theta = minimize(negative_log_likelihood, start, method="L-BFGS-B", jac=True, bounds=bounds).x
    return centre + shift, float(theta[0]), math.exp(theta[-1])


# --- fitted curves ---------------------------------------------------------------------------


def _model_simulator(devices, starts) -> Simulator:
    by_name = {device.device: device for device in devices}

    def simulate(ramp, draws: int = 1, rng=None) -> np.ndarray:
        device = by_name[ramp.device]
        span = device.g_max_s - device.g_min_s
        c, k = device.unit_map(ramp.direction)
        start = (starts[_key(ramp)] - device.g_min_s) / span
        noise = (device.c2c_sigma, device.read_sigma) if rng is not None else (0.0, 0.0)
        walk = _walk(start, ramp.pulse, lambda u: (c + k * u, noise[0]), 0.0, 1.0, draws, rng)
        return device.g_min_s + span * _read(walk, noise[1], rng)

    return simulate


def _table_simulator(devices, starts, table: LookupTable, g_max_s: float) -> Simulator:
    index = {name: t for t, name in enumerate(table.devices)}
    by_name = {device.device: device for device in devices}

    def simulate(ramp, draws: int = 1, rng=None) -> np.ndarray:
        t, d = index[ramp.device], DIRECTIONS.index(ramp.direction)
        x, step, sigma = table.knot_table(t, d).astype(float)
        slope = table.step_slope[t, d, : x.size - 1].astype(float)
        sigma_slope = table.sigma_slope[t, d, : x.size - 1].astype(float)
        device = by_name[ramp.device]
        read = device.read_sigma * (device.g_max_s - device.g_min_s) / g_max_s

        def pulse(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            k = np.minimum(np.searchsorted(x[1:], g, side="right"), x.size - 2)
            offset = g - x[k]
            spread = np.maximum(sigma[k] + sigma_slope[k] * offset, 0.0) if rng is not None else 0
            return g + step[k] + slope[k] * offset, spread

        lo, hi = float(table.g_lo[t]), float(table.g_hi[t])
        walk = _walk(starts[_key(ramp)] / g_max_s, ramp.pulse, pulse, lo, hi, draws, rng)
        return g_max_s * _read(walk, read if rng is not None else 0.0, rng)

    return simulate


def _walk(start, pulses, pulse: Callable, lo: float, hi: float, draws: int, rng) -> np.ndarray:
    """`draws` trajectories from `start` read at `pulses` (gaps: several pulses), each pulse
    `pulse(g) -> (mean, sigma)` clipped to [lo, hi] (noise-free without `rng`)."""
    values, value = [np.full(draws, start)], np.full(draws, float(start))
    for gap in np.diff(pulses):
        for _ in range(int(gap)):
            mean, sigma = pulse(value)
            if rng is not None and np.any(sigma):
                mean = mean + sigma * rng.standard_normal(draws)
            value = np.minimum(np.maximum(mean, lo), hi)
        values.append(value)
    return np.array(values).T


def _read(states: np.ndarray, sigma: float, rng) -> np.ndarray:
    """The states as read: plus read noise of `sigma` (units of the states)."""
    return states + sigma * rng.standard_normal(states.shape) if sigma else states


def _rms_errors(curves: Curves, simulate: Simulator) -> dict[str, float]:
    """RMS of measured minus the noise-free fitted curve, per direction (first reads out)."""
    errors = {}
    for direction in DIRECTIONS:
        gaps = [
            (ramp.conductance_s - simulate(ramp)[0])[1:]
            for ramp in curves.ramps
            if ramp.direction == direction
        ]
        errors[direction] = float(np.sqrt(np.mean(np.concatenate(gaps) ** 2)))
    return errors


# --- device files ----------------------------------------------------------------------------


def write_device_file(fit: Fit, path: str | Path) -> None:
    """The fitted device as a device file (sbp_core.chip.device.read_device_file reads it)."""
    source = Path(fit.curves.source)
    sha = hashlib.sha256(source.read_bytes()).hexdigest() if source.is_file() else None
    header = (
        f"Device file written by `sbp-bench fit-device` from {source.name} ({fit.model} model).\n"
        "Parameters as in the device presets; `fit` records where they come from and how well\n"
        "they follow the curves (docs/measured_devices.md)."
    )
    atomic.write_text(path, device_file_text(fit.params, fit.quality(sha), header))
