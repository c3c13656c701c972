"""The NeuroSim device kind: the NeuroSim curve (`sbp_core.chip.curve`) with cycle-to-cycle
noise, device-to-device variation and stuck devices; docs/method.md, "Device".

Its `DeviceParams` are also every other kind's nominal description; its arrays (`AffineArray`)
respond by an affine map per device, which a kind whose pulse response is affine in the present
conductance can reuse.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sbp_core.chip.curve import affine, check_label, nominal_fractions, truncated_labels
from sbp_core.chip.engine import RESPONSE
from sbp_core.errors import ConfigError


@dataclass(frozen=True)
class DeviceParams:
    """One kind of device. Defaults describe an ideal, linear, noise-free device."""

    kind: ClassVar[str] = "neurosim"
    file_keys: ClassVar[tuple[str, ...]] = ()
    fixed_fields: ClassVar[tuple[str, ...]] = ()

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
    """SET pulse width, seconds; RESET's too unless `reset_pulse_width_s` is set."""
    reset_pulse_width_s: float | None = None
    """RESET pulse width, seconds, where it differs from SET's (GST PCM: 6 us SET, 125 ns RESET,
    a 48x difference in RESET energy); None: `pulse_width_s`."""
    r_access_ohm: float = 0.0
    """Series resistance of the cell's access transistor, ohms, in every read: NeuroSim's 15 kOhm
    for its 1T1R cells, 0 for FeFET cells and the ideal device. A read sees G / (1 + R G)."""
    neurosim_accuracy: float | None = None
    """MNIST accuracy NeuroSim V3 reports for this device with plain SGD (fraction), if any."""
    citation: str = "ideal device: linear, noise-free, Gmin = 0, 256 states (8 bits)"
    """Where the numbers come from."""

    def __post_init__(self) -> None:
        if self.n_states < 2:
            raise ConfigError(f"device {self.name}: n_states must be >= 2, got {self.n_states}")
        if not self.on_off > 1:
            raise ConfigError(f"device {self.name}: on_off must be > 1, got {self.on_off}")
        for name in (
            "c2c_sigma",
            "d2d_sigma",
            "read_noise",
            "stuck_gmin",
            "stuck_gmax",
            "r_access_ohm",
        ):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"device {self.name}: {name} must be >= 0, got {value}")
        if self.reset_pulse_width_s is not None and not self.reset_pulse_width_s > 0:
            raise ConfigError(
                f"device {self.name}: reset_pulse_width_s must be > 0, got "
                f"{self.reset_pulse_width_s}"
            )
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
    def access(self) -> float:
        """The access resistance in units of 1 / Gmax, R_access Gmax: a read sees g / (1 +
        access g) of a normalised conductance g."""
        return self.r_access_ohm * self.g_max_s

    @property
    def step(self) -> float:
        """Mean normalised conductance change of one pulse of a linear device."""
        return (1.0 - self.g_min) / (self.n_states - 1)

    def nominal_levels(self) -> np.ndarray:
        """Fraction of the range, (G - Gmin) / (Gmax - Gmin), after k = 0..Pmax SET pulses from
        Gmin on the nominal LTP curve: the states an ex-situ write can aim at."""
        return nominal_fractions(self.n_states, self.nl_ltp)

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

    # --- the kind protocol (sbp_core.chip.kinds.DeviceKind) ---

    @classmethod
    def from_file(cls, path: Path, values: dict[str, Any], entries: dict[str, Any]):
        return cls(**values)

    def file_entries(self) -> dict[str, Any]:
        return {}

    @classmethod
    def compile_example(cls, folder: Path) -> dict[str, Any]:
        """The ideal preset with noise (the compiled code is the same for every such device)."""
        return {"c2c_sigma": 0.01}

    def build_array(
        self, shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32
    ) -> AffineArray:
        """Draw the device-to-device variation and stuck-at faults of one array, once."""
        d2d = self.d2d_sigma

        def spread(value: float) -> np.ndarray:
            if d2d == 0:
                return np.full(shape, value)
            return value * (1.0 + d2d * rng.standard_normal(shape))

        g_hi = np.clip(spread(1.0), 0.05, None)
        g_lo = np.clip(spread(self.g_min), 0.0, None) if self.g_min > 0 else np.zeros(shape)
        g_lo = np.minimum(g_lo, 0.5 * g_hi)
        pulses = np.clip(spread(float(self.n_states - 1)), 1.0, None)
        alpha_set, beta_set = affine(truncated_labels(spread(self.nl_ltp)), g_lo, g_hi, pulses, +1)
        reset_pulses = pulses / self.reset_step_ratio
        nl_ltd = truncated_labels(spread(self.nl_ltd))
        alpha_reset, beta_reset = affine(nl_ltd, g_lo, g_hi, reset_pulses, -1)
        return AffineArray.of(
            self, stuck_faults(self, shape, rng), g_lo, g_hi,
            (alpha_set, beta_set), (alpha_reset, beta_reset), dtype,
        )  # fmt: skip


@dataclass
class AffineArray:
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

    @classmethod
    def of(cls, params, stuck, g_lo, g_hi, set_coefficients, reset_coefficients, dtype):
        """The array of devices with these bounds and (alpha, beta) per direction, its stuck
        devices frozen, and noise c2c_sigma of each device's range on the free ones."""
        free = stuck == 0
        (alpha_set, beta_set), (alpha_reset, beta_reset) = set_coefficients, reset_coefficients
        alpha_set, alpha_reset = np.where(free, alpha_set, 0.0), np.where(free, alpha_reset, 0.0)
        beta_set, beta_reset = np.where(free, beta_set, 1.0), np.where(free, beta_reset, 1.0)
        noise_sigma = np.where(free, params.c2c_sigma * (g_hi - g_lo), 0.0)
        return cls(
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
        return initial_conductances(self, spread, rng, dtype, start)


def initial_conductances(devices, spread, rng, dtype, start) -> np.ndarray:
    """Conductances of an array of `devices` (its g_lo, g_hi, stuck) uniform in Gmin + range *
    [start, start + spread], stuck devices at their bound."""
    span = devices.g_hi - devices.g_lo
    g = devices.g_lo + span * (start + spread * rng.random(devices.g_lo.shape))
    g = np.where(devices.stuck == 1, devices.g_lo, np.where(devices.stuck == 2, devices.g_hi, g))
    return g.astype(dtype)


def stuck_faults(params: DeviceParams, shape: tuple[int, ...], rng) -> np.ndarray:
    """Which devices are stuck: 0 free, 1 stuck at Gmin, 2 stuck at Gmax (one draw per device
    when either fraction is non-zero)."""
    stuck = np.zeros(shape, dtype=np.int8)
    if params.stuck_gmin > 0 or params.stuck_gmax > 0:
        u = rng.random(shape)
        stuck[u < params.stuck_gmin] = 1
        stuck[(u >= params.stuck_gmin) & (u < params.stuck_gmin + params.stuck_gmax)] = 2
    return stuck


KIND = DeviceParams
