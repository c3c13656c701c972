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
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from sbp_core.engine import RESPONSE
from sbp_core.errors import ConfigError
from sbp_core.spec import DEVICE_FIELDS

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
        data = dataclasses.asdict(self)
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
        reference of the engine's compiled response (`sbp_core.engine`), tested bit-identical.
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
        span = self.g_hi - self.g_lo
        g = self.g_lo + span * (start + spread * rng.random(self.g_lo.shape))
        g = np.where(self.stuck == 1, self.g_lo, np.where(self.stuck == 2, self.g_hi, g))
        return g.astype(dtype)


def build_array(
    params: DeviceParams, shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32
) -> DeviceArray:
    """Draw the device-to-device variation and stuck-at faults of one array, once."""
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

    stuck = np.zeros(shape, dtype=np.int8)  # 0 free, 1 stuck at Gmin, 2 stuck at Gmax
    if params.stuck_gmin > 0 or params.stuck_gmax > 0:
        u = rng.random(shape)
        stuck[u < params.stuck_gmin] = 1
        stuck[(u >= params.stuck_gmin) & (u < params.stuck_gmin + params.stuck_gmax)] = 2
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


def device_for(spec) -> DeviceParams:
    """The device a RunSpec asks for: its preset with the spec's non-None device fields applied."""
    overrides = {name: getattr(spec, name) for name in DEVICE_FIELDS}
    return preset(spec.device).with_overrides(**overrides)
