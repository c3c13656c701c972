"""RRAM device model: bounded, nonlinear, noisy conductance response to SET and RESET pulses.

Conductances are normalised to the nominal maximum: g = G / Gmax, so g lies in [1/on_off, 1].
One pulse moves a device along the NeuroSim curve (Chen et al., "NeuroSim: a circuit-level macro
model for benchmarking neuro-inspired architectures in online learning", IEEE TCAD 37(12), 2018):

    G(P) = B (1 - exp(-P / A)) + Gmin,   B = (Gmax - Gmin) / (1 - exp(-Pmax / A))

with P the pulse number (0..Pmax) and A set by the nonlinearity label of the direction (sign
included, A -> infinity for a linear device). A SET (LTP) pulse moves P -> P + 1 along the LTP
curve; a RESET (LTD) pulse moves P -> P - 1 along the LTD curve. Written in terms of the current
conductance this is an affine map per device and direction,

    g_new = alpha + beta * g   (then Gaussian cycle-to-cycle noise, then clipping to the bounds),

which is what `respond` applies: no inverse curve, no loop over devices, and device-to-device
variation simply makes alpha, beta and the bounds per-device arrays.

A lookup-table device (`TableDeviceParams`, `TableArray`) follows measured curves the NeuroSim
form cannot: the step of a pulse is read from a table of the present conductance, per direction,
with the measured spread of the steps as its noise, and each simulated device follows the table
of one of the measured devices (README, Method, "Lookup-table device"). A device is a preset
(`PRESETS`) or a device file (`read_device_file`, written by `sbp-bench fit-device`: README,
"Devices from measured curves").
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sbp_core.chip.engine import RESPONSE, TABLE_DEVICE, TableResponse
from sbp_core.documents import read_document
from sbp_core.errors import ConfigError
from sbp_core.fields import DEVICE_FIELDS, names_device_file

# NeuroSim normalises A to Pmax and defines the nonlinearity label NL through the largest
# deviation of the normalised LTP curve from the straight line: deviation = NL * 0.099
# (it reproduces NeuroSim's tabulated getParamA to 4 digits: NL 0.01 -> 126.27, 1 -> 1.2517,
# 9 -> 0.02281; see tests/test_device.py).
_DEVIATION_PER_NL = 0.099
MAX_LABEL = 9.0
"""Nonlinearity labels lie in [-MAX_LABEL, MAX_LABEL], the range NeuroSim tabulates (getParamA):
a label outside it is rejected wherever it is given, and device-to-device draws of a label are
truncated to it (a truncated Gaussian; README, Method, "Device")."""


def check_label(label: float, name: str) -> None:
    """A one-line ConfigError unless `label` is a nonlinearity label NeuroSim defines."""
    if not abs(label) <= MAX_LABEL:  # NaN fails too
        raise ConfigError(
            f"{name} must be in [-{MAX_LABEL:g}, {MAX_LABEL:g}] (NeuroSim's nonlinearity labels),"
            f" got {label!r}"
        )


@dataclass(frozen=True)
class DeviceParams:
    """One kind of device. Defaults describe an ideal, linear, noise-free device."""

    name: str = "ideal"
    """Preset name."""
    n_states: int = 256
    """Conductance states reachable by SET pulses from Gmin to Gmax (Pmax = n_states - 1)."""
    nl_ltp: float = 0.0
    """Nonlinearity label of potentiation (SET), NeuroSim convention; 0 is linear."""
    nl_ltd: float = 0.0
    """Nonlinearity label of depression (RESET), NeuroSim convention; 0 is linear."""
    on_off: float = math.inf
    """Gmax / Gmin; infinity puts Gmin at 0."""
    c2c_sigma: float = 0.0
    """Cycle-to-cycle sigma of each pulse's conductance change, fraction of Gmax - Gmin."""
    d2d_sigma: float = 0.0
    """Device-to-device relative sigma of Gmax, Gmin, pulses across the range, and NL (relative
    here, absolute in NeuroSim, so a linear device stays linear; draws of NL are truncated to
    [-MAX_LABEL, MAX_LABEL])."""
    stuck_gmin: float = 0.0
    """Fraction of devices stuck at Gmin (they never move)."""
    stuck_gmax: float = 0.0
    """Fraction of devices stuck at Gmax (they never move)."""
    read_noise: float = 0.0
    """Relative sigma of the conductance seen by each analog read."""
    reset_step_ratio: float = 1.0
    """SET/RESET asymmetry: RESET pulses across the range are Pmax / reset_step_ratio."""
    g_max_s: float = 1e-6
    """Gmax in siemens (1 / R_on), for the energy of a pulse."""
    v_set: float = 1.0
    """SET pulse amplitude, volts (magnitude)."""
    v_reset: float = 1.0
    """RESET pulse amplitude, volts (magnitude)."""
    pulse_width_s: float = 1e-8
    """Programming pulse width, seconds."""
    neurosim_accuracy: float | None = None
    """MNIST accuracy NeuroSim V3 reports for this device with plain SGD (fraction), if any."""
    citation: str = "ideal device: linear, noise-free, Gmin = 0, 256 states (8 bits)"
    """Where the numbers come from."""

    def __post_init__(self) -> None:
        if self.n_states < 2:
            raise ConfigError(f"device {self.name}: n_states must be >= 2, got {self.n_states}")
        if not self.on_off > 1:
            raise ConfigError(f"device {self.name}: on_off must be > 1, got {self.on_off}")
        for name in ("c2c_sigma", "d2d_sigma", "read_noise", "stuck_gmin", "stuck_gmax"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"device {self.name}: {name} must be >= 0, got {value}")
        if self.stuck_gmin + self.stuck_gmax > 1:
            raise ConfigError(f"device {self.name}: stuck_gmin + stuck_gmax must not exceed 1")
        if not self.reset_step_ratio > 0:
            raise ConfigError(f"device {self.name}: reset_step_ratio must be > 0")
        for name in ("nl_ltp", "nl_ltd"):
            check_label(getattr(self, name), f"device {self.name}: {name}")

    @property
    def g_min(self) -> float:
        """Normalised minimum conductance."""
        return 0.0 if math.isinf(self.on_off) else 1.0 / self.on_off

    @property
    def step(self) -> float:
        """Mean normalised conductance change of one pulse of a linear device."""
        return (1.0 - self.g_min) / (self.n_states - 1)

    def nominal_levels(self) -> np.ndarray:
        """Fraction of the range, (G - Gmin) / (Gmax - Gmin), after k = 0..Pmax SET pulses from
        Gmin on the nominal LTP curve: the states an ex-situ write can aim at."""
        fraction = np.arange(self.n_states) / (self.n_states - 1)
        a = nonlinearity_to_a(self.nl_ltp)
        return fraction if math.isinf(a) else np.expm1(-fraction / a) / np.expm1(-1.0 / a)

    @property
    def erase_pulses(self) -> int:
        """RESET pulses taking a nominal device from Gmax to Gmin: a block erase from any state."""
        return math.ceil((self.n_states - 1) / self.reset_step_ratio)

    def with_overrides(self, **overrides: float | int | None) -> DeviceParams:
        """A copy with every override that is not None applied."""
        changes = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict:
        """Parameters with physical units spelled out, for metrics.json and the cost model."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(DeviceParams)}
        data["on_off"] = None if math.isinf(self.on_off) else self.on_off
        data["g_min_s"] = self.g_min * self.g_max_s
        return data


_NEUROSIM = "MLP+NeuroSim V3.0 manual (Peng, Chen, Yu), device table and benchmark results"

#: Named presets. State counts, NL labels, on/off ratios and C2C sigmas are the NeuroSim V3
#: benchmark values; pulse amplitude, width and R_on come from the NeuroSim V3 device table
#: where it gives them and are marked "assumed" otherwise.
PRESETS: dict[str, DeviceParams] = {
    "ideal": DeviceParams(),
    "ag_si": DeviceParams(
        name="ag_si",
        n_states=97,
        nl_ltp=2.4,
        nl_ltd=-4.88,
        on_off=12.5,
        c2c_sigma=0.035,
        g_max_s=1 / 26e6,
        v_set=3.2,
        v_reset=2.8,
        pulse_width_s=300e-6,
        neurosim_accuracy=0.72,
        citation=f"Ag:a-Si (Jo et al., Nano Lett. 2010); {_NEUROSIM}",
    ),
    "taox_hfox": DeviceParams(
        name="taox_hfox",
        n_states=128,
        nl_ltp=0.04,
        nl_ltd=-0.63,
        on_off=10.0,
        c2c_sigma=0.037,
        g_max_s=1 / 100e3,
        v_set=1.6,
        v_reset=1.6,
        pulse_width_s=50e-9,
        neurosim_accuracy=0.80,
        citation=f"TaOx/HfOx (Wu et al., VLSI 2018); {_NEUROSIM}",
    ),
    "pcmo": DeviceParams(
        name="pcmo",
        n_states=50,
        nl_ltp=3.68,
        nl_ltd=-6.76,
        on_off=6.84,
        c2c_sigma=0.005,
        g_max_s=1 / 23e6,
        v_set=2.0,
        v_reset=2.0,
        pulse_width_s=1e-3,
        neurosim_accuracy=0.33,
        citation=f"PCMO (Park et al., IEDM 2013); C2C reported as <1 %, 0.5 % used; {_NEUROSIM}",
    ),
    "alox_hfo2": DeviceParams(
        name="alox_hfo2",
        n_states=40,
        nl_ltp=1.94,
        nl_ltd=-0.61,
        on_off=4.43,
        c2c_sigma=0.05,
        g_max_s=1 / 100e3,
        v_set=1.0,
        v_reset=1.0,
        pulse_width_s=100e-9,
        neurosim_accuracy=0.20,
        citation=(
            f"AlOx/HfO2 (Woo et al., EDL 2016); {_NEUROSIM}; pulse 1 V, 100 ns and R_on 100 kOhm"
            " assumed (not in the table)"
        ),
    ),
    "gst_pcm": DeviceParams(
        name="gst_pcm",
        n_states=100,
        nl_ltp=0.105,
        nl_ltd=2.4,
        on_off=19.8,
        c2c_sigma=0.015,
        g_max_s=1 / 100e3,
        v_set=1.0,
        v_reset=1.5,
        pulse_width_s=100e-9,
        neurosim_accuracy=0.89,
        citation=(
            f"GST PCM (Kuzum et al., Nano Lett. 2012); {_NEUROSIM}; pulse 1.0/1.5 V, 100 ns and"
            " R_on 100 kOhm assumed (not in the table)"
        ),
    ),
    "epiram": DeviceParams(
        name="epiram",
        n_states=64,
        nl_ltp=0.5,
        nl_ltd=-0.5,
        on_off=50.2,
        c2c_sigma=0.02,
        g_max_s=1 / 81e3,
        v_set=5.0,
        v_reset=3.0,
        pulse_width_s=5e-6,
        neurosim_accuracy=0.92,
        citation=f"EpiRAM (Choi et al., Nat. Mater. 2018); {_NEUROSIM}",
    ),
    "hzo_fefet": DeviceParams(
        name="hzo_fefet",
        n_states=32,
        nl_ltp=1.75,
        nl_ltd=1.46,
        on_off=45.0,
        c2c_sigma=0.005,
        g_max_s=1 / 100e3,
        v_set=3.65,
        v_reset=3.0,
        pulse_width_s=75e-9,
        neurosim_accuracy=0.88,
        citation=(
            f"HZO FeFET (Jerry et al., IEDM 2017); C2C reported as <0.5 %, 0.5 % used; {_NEUROSIM};"
            " pulse 3.65/3.0 V, 75 ns and R_on 100 kOhm assumed (not in the table)"
        ),
    ),
}


def preset(name: str) -> DeviceParams:
    """The named preset, or a one-line error listing the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"device: unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def nonlinearity_to_a(nl: float | np.ndarray) -> float | np.ndarray:
    """NeuroSim's curvature parameter A, normalised to Pmax, for nonlinearity labels (inf at 0).

    Vectorised bisection (in log A) on the curve's largest deviation from the straight line,
    which falls monotonically as A grows, once per distinct label: an array of identical devices
    costs one bisection, not one per device.
    """
    nl = np.asarray(nl, dtype=float)
    labels, where = np.unique(nl, return_inverse=True)
    check_label(labels[np.argmax(np.abs(labels))], "nonlinearity label")
    target = np.abs(labels) * _DEVIATION_PER_NL
    low, high = np.full(labels.shape, -14.0), np.full(labels.shape, 14.0)  # log A
    for _ in range(64):
        mid = 0.5 * (low + high)
        too_curved = _max_deviation(np.exp(mid)) > target
        low, high = np.where(too_curved, mid, low), np.where(too_curved, high, mid)
    a = np.where(labels == 0, np.inf, np.copysign(np.exp(0.5 * (low + high)), labels))
    a = a[where].reshape(nl.shape)
    return float(a) if a.ndim == 0 else a


def a_to_nonlinearity(a: float | np.ndarray) -> float | np.ndarray:
    """The nonlinearity label of a normalised curvature A (the inverse of `nonlinearity_to_a`;
    infinite A, the straight line, is label 0), not truncated to [-MAX_LABEL, MAX_LABEL]."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = _max_deviation(np.abs(a))
    label = np.where(np.isinf(a), 0.0, np.sign(a) * deviation / _DEVIATION_PER_NL)
    return float(label) if label.ndim == 0 else label


def _max_deviation(a: np.ndarray) -> np.ndarray:
    """Largest gap between the normalised curve (1 - e^(-p/a)) / (1 - e^(-1/a)) and p on [0, 1]."""
    c = -np.expm1(-1.0 / a)
    p_star = a * np.log(1.0 / (a * c))
    return (1.0 - a * c) / c - p_star


@dataclass
class DeviceArray:
    """Per-device response coefficients of one array of devices (shape = the array's shape).

    `alpha_set + beta_set * g` is the conductance after a SET pulse, likewise for RESET. Stuck
    devices have alpha = 0 and beta = 1 (and no noise): they never move.
    """

    params: DeviceParams
    g_lo: np.ndarray
    g_hi: np.ndarray
    alpha_set: np.ndarray
    beta_set: np.ndarray
    alpha_reset: np.ndarray
    beta_reset: np.ndarray
    noise_sigma: np.ndarray
    stuck: np.ndarray

    def respond(
        self, g: np.ndarray, index: np.ndarray, potentiate: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Apply one pulse to each device g.flat[index] in place: SET where potentiate, else RESET.

        One Gaussian draw per pulsed device when C2C noise is on, none otherwise. The readable
        reference of the engine's compiled response (`sbp_core.chip.engine`), tested bit-identical.
        """
        alpha = np.where(potentiate, self.alpha_set.flat[index], self.alpha_reset.flat[index])
        beta = np.where(potentiate, self.beta_set.flat[index], self.beta_reset.flat[index])
        new = alpha + beta * g.flat[index]
        if self.params.c2c_sigma > 0:
            new += self.noise_sigma.flat[index] * rng.standard_normal(index.size).astype(g.dtype)
        g.flat[index] = np.clip(new, self.g_lo.flat[index], self.g_hi.flat[index])

    def responses(self) -> np.ndarray:
        """The devices' coefficients as flat `engine.RESPONSE` records for the compiled engine;
        one record when every device responds alike (no D2D spread, no stuck devices)."""
        records = np.empty(self.g_lo.size, dtype=RESPONSE)
        for name, values in (
            ("alpha_set", self.alpha_set), ("beta_set", self.beta_set),
            ("alpha_reset", self.alpha_reset), ("beta_reset", self.beta_reset),
            ("noise_sigma", self.noise_sigma), ("g_lo", self.g_lo), ("g_hi", self.g_hi),
        ):  # fmt: skip
            records[name] = values.ravel()
        return records[:1].copy() if np.all(records == records[0]) else records

    def initial(
        self, spread: float, rng: np.random.Generator, dtype=np.float32, start: float = 0.0
    ) -> np.ndarray:
        """Conductances uniform in Gmin + range * [start, start + spread]; stuck devices at their
        bound. `start` is a fraction of each device's range."""
        return _initial(self.g_lo, self.g_hi, self.stuck, spread, rng, dtype, start)


def _initial(g_lo, g_hi, stuck, spread, rng, dtype, start) -> np.ndarray:
    """`DeviceArray.initial` and `TableArray.initial`, for devices of bounds g_lo, g_hi."""
    span = g_hi - g_lo
    g = g_lo + span * (start + spread * rng.random(g_lo.shape))
    g = np.where(stuck == 1, g_lo, np.where(stuck == 2, g_hi, g))
    return g.astype(dtype)


def build_array(
    params: DeviceParams, shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32
) -> DeviceArray:
    """Draw the device-to-device variation and stuck-at faults of one array, once."""
    if isinstance(params, TableDeviceParams):
        return _build_table_array(params, shape, rng, dtype)
    d2d = params.d2d_sigma

    def spread(value: float) -> np.ndarray:
        if d2d == 0:
            return np.full(shape, value)
        return value * (1.0 + d2d * rng.standard_normal(shape))

    g_hi = np.clip(spread(1.0), 0.05, None)
    g_lo = np.clip(spread(params.g_min), 0.0, None) if params.g_min > 0 else np.zeros(shape)
    g_lo = np.minimum(g_lo, 0.5 * g_hi)
    pulses = np.clip(spread(float(params.n_states - 1)), 1.0, None)
    alpha_set, beta_set = _affine(_label_spread(spread(params.nl_ltp)), g_lo, g_hi, pulses, +1)
    reset_pulses = pulses / params.reset_step_ratio
    nl_ltd = _label_spread(spread(params.nl_ltd))
    alpha_reset, beta_reset = _affine(nl_ltd, g_lo, g_hi, reset_pulses, -1)

    stuck = _stuck_faults(params, shape, rng)
    free = stuck == 0
    alpha_set, alpha_reset = np.where(free, alpha_set, 0.0), np.where(free, alpha_reset, 0.0)
    beta_set, beta_reset = np.where(free, beta_set, 1.0), np.where(free, beta_reset, 1.0)
    noise_sigma = np.where(free, params.c2c_sigma * (g_hi - g_lo), 0.0)
    return DeviceArray(
        params=params,
        g_lo=g_lo.astype(dtype),
        g_hi=g_hi.astype(dtype),
        alpha_set=alpha_set.astype(dtype),
        beta_set=beta_set.astype(dtype),
        alpha_reset=alpha_reset.astype(dtype),
        beta_reset=beta_reset.astype(dtype),
        noise_sigma=noise_sigma.astype(dtype),
        stuck=stuck,
    )


def _stuck_faults(params: DeviceParams, shape: tuple[int, ...], rng) -> np.ndarray:
    """Which devices are stuck: 0 free, 1 stuck at Gmin, 2 stuck at Gmax (one draw per device
    when either fraction is non-zero)."""
    stuck = np.zeros(shape, dtype=np.int8)
    if params.stuck_gmin > 0 or params.stuck_gmax > 0:
        u = rng.random(shape)
        stuck[u < params.stuck_gmin] = 1
        stuck[(u >= params.stuck_gmin) & (u < params.stuck_gmin + params.stuck_gmax)] = 2
    return stuck


def _label_spread(labels: np.ndarray) -> np.ndarray:
    """Device-to-device draws of a label, truncated to the labels NeuroSim defines."""
    return np.clip(labels, -MAX_LABEL, MAX_LABEL)


def _affine(
    nl: np.ndarray, g_lo: np.ndarray, g_hi: np.ndarray, pulses: np.ndarray, direction: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (alpha, beta) of g_new = alpha + beta * g for one pulse in one direction.

    With x = g - Gmin and A in pulses, the NeuroSim curve gives x_new = B - (B - x) e^(-d/A) for
    d = +1 (SET) or -1 (RESET); a linear device gives x_new = x + d * range / Pmax.
    """
    span = g_hi - g_lo
    a_norm = np.asarray(nonlinearity_to_a(nl))
    linear = np.isinf(a_norm)
    a = np.where(linear, 1.0, a_norm * pulses)  # any finite A where linear: masked out below
    b = span / -np.expm1(-pulses / a)
    k = np.exp(-direction / a)
    x_coef = np.where(linear, 1.0, k)
    x_const = np.where(linear, direction * span / pulses, b * (1.0 - k))
    # back from x = g - g_lo to g: g_new = g_lo + x_const + x_coef * (g - g_lo)
    return g_lo + x_const - x_coef * g_lo, x_coef


# --- lookup-table devices (README, Method, "Lookup-table device") ---------------------------

SET_ROW, RESET_ROW = 0, 1
"""The direction index of the tables: LookupTable.knots[t, SET_ROW] are the SET knots of t."""


@dataclass(frozen=True, eq=False)
class LookupTable:
    """The measured pulse response of one or more devices as step tables; conductances are
    normalised like g, to the nominal Gmax (the device's g_max_s).

    Table t (measured device t) and direction d hold n_knots[t, d] knots: a conductance, the
    mean step of a pulse there and the sigma of that step. A pulse at g moves the device by the
    mean step interpolated linearly between the two knots around g (beyond the end knots, the
    end segment continued), plus Gaussian noise of the sigma interpolated alike (not below 0),
    then clipping to the table's bounds [g_lo[t], g_hi[t]]. Arrays are float32 (n_knots int64),
    shaped (n_tables, 2, max_knots), knots ascending and +inf beyond n_knots.
    """

    devices: tuple[str, ...]
    """Name of each measured device, one table each."""
    g_lo: np.ndarray
    """Gmin of each measured device, normalised (n_tables,)."""
    g_hi: np.ndarray
    """Gmax of each measured device, normalised (n_tables,)."""
    knots: np.ndarray
    """Conductance of each knot, normalised."""
    step: np.ndarray
    """Mean conductance change of one pulse at each knot, normalised (negative for RESET)."""
    sigma: np.ndarray
    """Sigma of that change: the measured spread of the steps (cycle-to-cycle noise)."""
    n_knots: np.ndarray
    """Knots of each table and direction (at least 2)."""

    @classmethod
    def from_knots(
        cls,
        devices: tuple[str, ...],
        bounds: list[tuple[float, float]],
        knots: list[tuple[np.ndarray, np.ndarray]],
    ) -> LookupTable:
        """From per-device bounds (g_lo, g_hi) and per-device (SET, RESET) knot arrays, each of
        shape (3, n): conductance, mean step, sigma (float64 or float32, normalised)."""
        width = max(table.shape[1] for pair in knots for table in pair)
        shape = (len(devices), 2, width)
        arrays = {name: np.zeros(shape, dtype=np.float32) for name in ("knots", "step", "sigma")}
        arrays["knots"][:] = np.inf
        n_knots = np.zeros(shape[:2], dtype=np.int64)
        for t, pair in enumerate(knots):
            for d, table in enumerate(pair):
                n = table.shape[1]
                n_knots[t, d] = n
                for row, name in enumerate(("knots", "step", "sigma")):
                    arrays[name][t, d, :n] = table[row]
        g_lo, g_hi = (np.array(values, dtype=np.float32) for values in zip(*bounds, strict=True))
        return cls(tuple(devices), g_lo, g_hi, n_knots=n_knots, **arrays)

    @functools.cached_property
    def step_slope(self) -> np.ndarray:
        """Slope of the mean step on each segment k (knots k to k + 1), per unit of g."""
        return self._slopes(self.step)

    @functools.cached_property
    def sigma_slope(self) -> np.ndarray:
        """Slope of the step's sigma on each segment k, per unit of g."""
        return self._slopes(self.sigma)

    def _slopes(self, values: np.ndarray) -> np.ndarray:
        """float32 slopes of `values` between consecutive knots (0 beyond the last segment),
        computed in float64 from the float32 knots."""
        slope = np.zeros(values.shape, dtype=np.float32)
        for t, d in np.ndindex(*self.n_knots.shape):
            n = self.n_knots[t, d]
            x, v = self.knots[t, d, :n].astype(float), values[t, d, :n].astype(float)
            slope[t, d, : n - 1] = np.diff(v) / np.diff(x)
        return slope

    def knot_table(self, t: int, d: int) -> np.ndarray:
        """Knots of table t, direction d, as rows (conductance, step, sigma), float64."""
        n = self.n_knots[t, d]
        return np.vstack([getattr(self, name)[t, d, :n] for name in ("knots", "step", "sigma")])

    def check(self, source: str) -> None:
        """A one-line ConfigError naming `source` unless every table can be used."""
        for t, d in np.ndindex(*self.n_knots.shape):
            where = f"{source}: table of device {self.devices[t]!r}, {('set', 'reset')[d]}"
            x, sigma = self.knot_table(t, d)[[0, 2]]
            if x.size < 2:
                raise ConfigError(f"{where}: needs at least 2 knots, has {x.size}")
            if not np.all(np.isfinite(self.knot_table(t, d))):
                raise ConfigError(f"{where}: knots must be finite numbers")
            if not np.all(np.diff(x) > 0):
                raise ConfigError(f"{where}: knot conductances must increase")
            if np.any(sigma < 0):
                raise ConfigError(f"{where}: sigma must be >= 0")
        if not np.all((self.g_lo >= 0) & (self.g_hi > self.g_lo)):
            raise ConfigError(f"{source}: each table needs 0 <= g_min_S < g_max_S")


TABLE_FIXED_FIELDS = ("n_states", "nl_ltp", "nl_ltd", "c2c_sigma", "d2d_sigma")
"""Run-spec device fields a lookup-table device rejects: its tables give its response."""


@dataclass(frozen=True)
class TableDeviceParams(DeviceParams):
    """A lookup-table device. The inherited parameters are the NeuroSim model fitted to the same
    curves: the nominal description (n_states, labels, on_off, c2c_sigma) that methods needing
    one use (exsitu's target levels and scale, sgd's pulse size, the energy per pulse); each
    simulated device responds as its measured device's table says. c2c_sigma > 0 turns the
    tables' noise on; d2d_sigma is 0 (the tables are the device-to-device variation)."""

    table: LookupTable | None = dataclasses.field(default=None, compare=False, repr=False)
    """The measured step tables."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.table is None:
            raise ConfigError(f"device {self.name}: a lookup-table device needs its tables")
        if self.d2d_sigma != 0:
            raise ConfigError(
                f"device {self.name}: d2d_sigma must be 0 for a lookup-table device (each "
                "simulated device takes one measured device's table)"
            )

    def to_dict(self) -> dict:
        """DeviceParams.to_dict, and how many measured devices the tables hold."""
        return {**super().to_dict(), "lookup_tables": len(self.table.devices)}


@dataclass
class TableArray:
    """An array of lookup-table devices (shape = the array's shape): which measured device's
    table each follows (`table`, -1 for a stuck device), and its bounds, those of that table."""

    params: TableDeviceParams
    table: np.ndarray
    g_lo: np.ndarray
    g_hi: np.ndarray
    stuck: np.ndarray

    def respond(
        self, g: np.ndarray, index: np.ndarray, potentiate: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Apply one pulse to each device g.flat[index] in place: SET where potentiate, else RESET.

        One Gaussian draw per pulsed device (stuck ones too) when C2C noise is on. The readable
        reference of the engine's compiled `_respond_table`, tested bit-identical.
        """
        lut = self.params.table
        table = self.table.flat[index]
        t, d = np.maximum(table, 0), np.where(potentiate, SET_ROW, RESET_ROW)
        x = g.flat[index]
        # the segment: the last knot at or below x, at most the second-to-last knot
        above_first = np.count_nonzero(lut.knots[t, d, 1:] <= x[:, None], axis=1)
        k = np.minimum(above_first, lut.n_knots[t, d] - 2)
        offset = x - lut.knots[t, d, k]
        new = x + (lut.step[t, d, k] + lut.step_slope[t, d, k] * offset)
        if self.params.c2c_sigma > 0:
            noise = rng.standard_normal(index.size).astype(g.dtype)
            sigma = lut.sigma[t, d, k] + lut.sigma_slope[t, d, k] * offset
            new += np.maximum(sigma, np.float32(0.0)) * noise
        new = np.where(table < 0, x, new)
        g.flat[index] = np.clip(new, self.g_lo.flat[index], self.g_hi.flat[index])

    def responses(self) -> TableResponse:
        """The devices and their tables as an `engine.TableResponse` for the compiled engine;
        one device record when every device follows the same table (one table, none stuck)."""
        lut = self.params.table
        records = np.empty(self.table.size, dtype=TABLE_DEVICE)
        records["table"], records["g_lo"], records["g_hi"] = (
            a.ravel() for a in (self.table, self.g_lo, self.g_hi)
        )
        if np.all(records == records[0]):
            records = records[:1].copy()
        return TableResponse(
            devices=records, knots=lut.knots, step=lut.step, step_slope=lut.step_slope,
            sigma=lut.sigma, sigma_slope=lut.sigma_slope, n_knots=lut.n_knots,
        )  # fmt: skip

    def initial(
        self, spread: float, rng: np.random.Generator, dtype=np.float32, start: float = 0.0
    ) -> np.ndarray:
        """As `DeviceArray.initial`, within each device's own table bounds."""
        return _initial(self.g_lo, self.g_hi, self.stuck, spread, rng, dtype, start)


def _build_table_array(
    params: TableDeviceParams, shape: tuple[int, ...], rng: np.random.Generator, dtype
) -> TableArray:
    """Give each device one measured device's table (uniformly drawn when there are several),
    then draw the stuck-at faults."""
    lut = params.table
    n_tables = len(lut.devices)
    which = rng.integers(n_tables, size=shape) if n_tables > 1 else np.zeros(shape, np.int64)
    stuck = _stuck_faults(params, shape, rng)
    return TableArray(
        params=params,
        table=np.where(stuck == 0, which, -1).astype(np.int32),
        g_lo=lut.g_lo[which].astype(dtype),
        g_hi=lut.g_hi[which].astype(dtype),
        stuck=stuck,
    )


# --- device files (README, "Devices from measured curves") ----------------------------------

DEVICE_KINDS = ("neurosim", "lookup_table")
"""`kind` of a device file: the NeuroSim model, or lookup tables (with the model as nominal)."""
REQUIRED_KEYS = ("n_states", "nl_ltp", "nl_ltd", "on_off", "c2c_sigma", "g_max_s")
"""Keys every device file must give; the others default to DeviceParams' defaults (name: the
file's stem; no D2D spread, stuck devices or read noise; 1 V, 10 ns pulses)."""
FILE_ONLY_KEYS = ("kind", "fit", "tables")
"""Keys of a device file beyond DeviceParams': its kind, the fit's provenance and quality
(informative, not read), and a lookup-table device's tables."""
TABLE_KEYS = ("device", "g_min_S", "g_max_S", "set", "reset")
KNOT_KEYS = ("conductance_S", "step_S", "sigma_S")
POSITIVE_KEYS = ("g_max_s", "v_set", "v_reset", "pulse_width_s")
"""Device-file keys that must be > 0 (DeviceParams checks the others)."""


def read_device_file(path: str | Path) -> DeviceParams:
    """The device a device file describes; a one-line ConfigError naming the file and the key
    for a missing, unknown, mistyped or out-of-range key."""
    data = read_document(path, "device file not found")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a device file must hold a mapping of parameter names to values")
    params = {field.name: field for field in dataclasses.fields(DeviceParams)}
    unknown = sorted(set(map(str, data)) - set(params) - set(FILE_ONLY_KEYS))
    if unknown:
        allowed = ", ".join([*params, *FILE_ONLY_KEYS])
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (a device file holds: {allowed})")
    kind = data.get("kind", "neurosim")
    if kind not in DEVICE_KINDS:
        raise ConfigError(f"{path}: kind must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}")
    required = REQUIRED_KEYS + (("tables",) if kind == "lookup_table" else ())
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"{path}: missing key {missing[0]!r} (required: {', '.join(required)})")
    if kind == "neurosim" and "tables" in data:
        raise ConfigError(f"{path}: tables need kind: lookup_table")
    values = {"name": Path(path).stem}
    for key, value in data.items():
        if key in params:
            values[key] = _file_value(path, key, value, str(params[key].type))
    for key in POSITIVE_KEYS:
        if key in values and not values[key] > 0:
            raise ConfigError(f"{path}: {key} must be > 0, got {values[key]!r}")
    try:
        if kind == "neurosim":
            return DeviceParams(**values)
        table = _read_tables(path, data["tables"], values["g_max_s"])
        return TableDeviceParams(**values, table=table)
    except ConfigError as err:
        message = str(err)
        raise ConfigError(
            message if message.startswith(f"{path}:") else f"{path}: {message}"
        ) from None


def _file_value(path, key: str, value: Any, annotation: str) -> Any:
    """One DeviceParams value of a device file, type-checked (`on_off: null` is infinite)."""
    if key == "on_off" and value is None:
        return math.inf
    if value is None and "None" in annotation:
        return None
    base = annotation.replace("| None", "").strip()
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be text, got {value!r}")
        return value
    integral = base == "int"
    kind = numbers.Integral if integral else numbers.Real
    if isinstance(value, str) and not integral:
        value = _yaml_float(value)  # YAML 1.1 reads 1e-6 (no dot) as text
    if isinstance(value, bool) or not isinstance(value, kind):
        described = "an integer" if integral else "a number"
        raise ConfigError(f"{path}: {key} must be {described}, got {value!r}")
    if not integral and not (math.isfinite(value) or key == "on_off"):
        raise ConfigError(f"{path}: {key} must be a finite number, got {value!r}")
    return int(value) if integral else float(value)


def _yaml_float(text: str) -> float | str:
    """`text` as a number if it is one (1e-6, which YAML 1.1 leaves as text), else unchanged."""
    try:
        return float(text)
    except ValueError:
        return text


def _read_tables(path, tables: Any, g_max_s: float) -> LookupTable:
    """The `tables` of a lookup-table device file (siemens) as a LookupTable (normalised)."""
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path}: tables must be a list of one table per measured device")
    names, bounds, knots = [], [], []
    for t, table in enumerate(tables):
        where = f"tables[{t}]"
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: {where} must be a mapping with keys {', '.join(TABLE_KEYS)}"
            )
        _check_keys(path, where, table, TABLE_KEYS)
        names.append(str(table["device"]))
        g_min, g_max = (_number(path, f"{where}.{key}", table[key]) for key in TABLE_KEYS[1:3])
        bounds.append((g_min / g_max_s, g_max / g_max_s))
        pair = []
        for direction in ("set", "reset"):
            branch = table[direction]
            if not isinstance(branch, dict):
                raise ConfigError(f"{path}: {where}.{direction} must be a mapping")
            _check_keys(path, f"{where}.{direction}", branch, KNOT_KEYS)
            rows = []
            for key in KNOT_KEYS:
                value = branch[key]
                if not isinstance(value, list) or len(value) != len(branch[KNOT_KEYS[0]]):
                    raise ConfigError(
                        f"{path}: {where}.{direction}.{key} must be a list as long as "
                        f"{KNOT_KEYS[0]}"
                    )
                rows.append([_number(path, f"{where}.{direction}.{key}", v) for v in value])
            pair.append(np.array(rows, dtype=float) / g_max_s)
        knots.append(tuple(pair))
    lut = LookupTable.from_knots(tuple(names), bounds, knots)
    lut.check(str(path))
    return lut


def _check_keys(path, where: str, mapping: dict, keys: tuple[str, ...]) -> None:
    unknown = sorted(set(map(str, mapping)) - set(keys))
    if unknown:
        raise ConfigError(f"{path}: unknown key {where}.{unknown[0]} (allowed: {', '.join(keys)})")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ConfigError(f"{path}: missing key {where}.{missing[0]}")


def _number(path, key: str, value: Any) -> float:
    value = _yaml_float(value) if isinstance(value, str) else value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{path}: {key} must be a finite number, got {value!r}")
    return float(value)


def device_file_text(params: DeviceParams, fit: dict | None = None, header: str = "") -> str:
    """A device file for `params` (the form `read_device_file` reads): every DeviceParams
    parameter under its own name, `on_off: null` for an infinite ratio, the fit's provenance and
    quality under `fit`, and for a lookup-table device its tables, in siemens."""
    data: dict[str, Any] = {
        "kind": "lookup_table" if isinstance(params, TableDeviceParams) else "neurosim"
    }
    for field in dataclasses.fields(DeviceParams):
        value = getattr(params, field.name)
        data[field.name] = None if field.name == "on_off" and math.isinf(value) else value
    if fit is not None:
        data["fit"] = fit
    if isinstance(params, TableDeviceParams):
        data["tables"] = _table_entries(params.table, params.g_max_s)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    return comment + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def _table_entries(lut: LookupTable, g_max_s: float) -> list[dict]:
    entries = []
    for t, name in enumerate(lut.devices):
        entry = {
            "device": name,
            "g_min_S": float(lut.g_lo[t]) * g_max_s,
            "g_max_S": float(lut.g_hi[t]) * g_max_s,
        }
        for d, direction in enumerate(("set", "reset")):
            rows = lut.knot_table(t, d).astype(float) * g_max_s
            entry[direction] = {key: row.tolist() for key, row in zip(KNOT_KEYS, rows, strict=True)}
        entries.append(entry)
    return entries


def device_for(spec) -> DeviceParams:
    """The device a RunSpec asks for: its preset or device file, with the spec's non-None device
    fields applied (a lookup-table device takes only stuck devices and read noise)."""
    overrides = {name: getattr(spec, name) for name in DEVICE_FIELDS}
    if not names_device_file(spec.device):
        return preset(spec.device).with_overrides(**overrides)
    device = read_device_file(spec.device)
    if isinstance(device, TableDeviceParams):
        fixed = [name for name in TABLE_FIXED_FIELDS if overrides[name] is not None]
        if fixed:
            raise ConfigError(
                f"{spec.device}: {fixed[0]} does not apply to a lookup-table device (its tables"
                " give the response); leave it unset"
            )
    return device.with_overrides(**overrides)
