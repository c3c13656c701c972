"""RunSpec: everything that defines one training run, and nothing else.

The run id is a short hash of the spec's canonical JSON, so the same spec always lands in the same
results folder and a changed spec never overwrites another run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sbp_core.documents import read_document
from sbp_core.errors import ConfigError

METHODS = ("sbp", "float", "ste", "binarized", "exsitu", "manhattan")
DATASETS = ("digits", "mnist")
OFFCHIP_FIELDS = (
    "dataset", "n_train", "val_fraction", "binarize_threshold", "n_hidden", "epochs", "seed",
    "lr", "batch_size",
)  # fmt: skip
"""The fields an off-chip (software) network depends on; see RunSpec.offchip_spec."""


@dataclass(frozen=True)
class RunSpec:
    """One run. Device fields left as None take the value of the named device preset."""

    method: str = "sbp"
    """Learning rule: one of METHODS."""
    dataset: str = "digits"
    """`digits` (UCI 8x8, ships with scikit-learn) or `mnist` (official IDX files)."""
    n_train: int = 0
    """Training images used after the validation split; 0 means all of them."""
    val_fraction: float = 0.1
    """Fraction of the training set held out (seeded) for choosing settings; never the test set."""
    binarize_threshold: float = 0.5
    """Input pixel is 1 when above this fraction of the maximum pixel value."""
    real_inputs: bool = False
    """Method float only: feed real-valued pixels in [0, 1] instead of binary read pulses."""
    n_hidden: int = 100
    """Hidden width of the n_in - n_hidden - n_out perceptron."""
    epochs: int = 20
    """Passes over the training set."""
    seed: int = 0
    """Seeds the split, the initial conductances, the sample order and every noise draw."""

    # --- device (sbp_core.device); None = take the preset's value ---
    device: str = "ideal"
    """Device preset name (see sbp_core.device.PRESETS)."""
    n_states: int | None = None
    """Conductance states per device (pulses from Gmin to Gmax plus one)."""
    nl_ltp: float | None = None
    """Nonlinearity label of potentiation, NeuroSim convention (0 = linear)."""
    nl_ltd: float | None = None
    """Nonlinearity label of depression, NeuroSim convention (0 = linear)."""
    c2c_sigma: float | None = None
    """Cycle-to-cycle noise: sigma of each pulse's step, as a fraction of the conductance range."""
    d2d_sigma: float | None = None
    """Device-to-device spread of bounds, step and nonlinearity (relative sigma)."""
    stuck_gmin: float | None = None
    """Fraction of devices stuck at Gmin."""
    stuck_gmax: float | None = None
    """Fraction of devices stuck at Gmax."""
    read_noise: float | None = None
    """Gaussian noise on every analog read, relative sigma of each device's conductance."""

    # --- sign backpropagation (ALGORITHM.md section 2) ---
    theta: float = 0.0
    """Hidden comparator threshold h = 1[a > theta], in weight units."""
    margin_hi: float = 0.5
    """Output error +1 when the target column's current is below this margin."""
    margin_lo: float = -0.5
    """Output error -1 when a non-target column's current is above this margin."""
    error_threshold: float = 0.05
    """Hidden error d = sign(s) 1[|s| > error_threshold] with s = W2^T e."""
    gate_window: float = 1.0
    """Hidden error only where |a1 - theta| < gate_window; 0 disables the gate."""
    pulse_scheme: str = "pair"
    """`pair`: a pulse raises G+ and lowers G- (or the reverse); `single`: only G+ moves, against
    a G- fixed at mid-range."""
    pulse_prob: float = 1.0
    """Each coincident pulse fires with this probability (a stochastic learning rate)."""
    init_spread: float = 0.1
    """Initial conductances uniform in Gmin + spread * [0, range] on both devices of a pair."""

    # --- software baselines ---
    lr: float | None = None
    """SGD learning rate of the float-weight methods; None takes the method's own default."""
    batch_size: int | None = None
    """Minibatch size of float / ste / binarized / manhattan (SBP is per sample); None: default."""
    activation: str = "sigmoid"
    """Hidden activation of `float`: sigmoid or relu."""

    def __post_init__(self) -> None:
        check = _Checker(self)
        check.choice("method", METHODS)
        check.choice("dataset", DATASETS)
        check.choice("pulse_scheme", ("pair", "single"))
        check.choice("activation", ("sigmoid", "relu"))
        check.at_least("n_train", 0)
        check.at_least("n_hidden", 1)
        check.at_least("epochs", 1)
        check.at_least("seed", 0)
        check.at_least("batch_size", 1)
        check.at_least("n_states", 2)
        check.between("val_fraction", 0.0, 0.9)
        check.between("binarize_threshold", 0.0, 1.0)
        check.between("pulse_prob", 0.0, 1.0, low_open=True)
        check.between("init_spread", 0.0, 1.0)
        check.between("stuck_gmin", 0.0, 1.0)
        check.between("stuck_gmax", 0.0, 1.0)
        for name in ("c2c_sigma", "d2d_sigma", "read_noise", "error_threshold", "gate_window"):
            check.at_least(name, 0.0)
        check.at_least("lr", 0.0, open_=True)
        if self.real_inputs and self.method != "float":
            raise ConfigError(f"real_inputs applies to method float only, not {self.method!r}")
        if self.margin_lo > self.margin_hi:
            raise ConfigError(
                f"margin_lo ({self.margin_lo}) must not exceed margin_hi ({self.margin_hi})"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def offchip_spec(self) -> RunSpec:
        """The `ste` run whose per-epoch weights an `exsitu` run writes into its crossbars.

        Off-chip training sees no device, so every exsitu run with the same data, seed, width
        and training settings programs the same network: train it once, as this run.
        """
        return RunSpec(method="ste", **{name: getattr(self, name) for name in OFFCHIP_FIELDS})

    @property
    def run_id(self) -> str:
        """Short stable hash of the canonical JSON of every field."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spec") -> RunSpec:
        """Build from a mapping; unknown keys and wrong types are rejected with the key named."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known) - {"run_id"})
        if unknown:
            raise ConfigError(f"{source}: unknown spec key(s) {', '.join(unknown)}")
        values = {}
        for name, value in data.items():
            if name == "run_id":
                continue
            values[name] = _coerce(name, value, known[name].type, source)
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> RunSpec:
        data = read_document(path, "spec file not found")
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a spec file must hold a JSON object")
        return cls.from_dict(data, source=str(path))


def _coerce(name: str, value: Any, annotation: str, source: str) -> Any:
    """Accept JSON/YAML/CLI values for a field of the given (string) annotation."""
    optional = "None" in annotation
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{source}: {name} must not be empty")
    base = annotation.replace("| None", "").strip()
    try:
        if base == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {name} must be {base}, got {value!r}") from None


class _Checker:
    """Range checks that name the offending field in a one-line ConfigError."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec

    def _value(self, name: str) -> Any:
        return getattr(self.spec, name)

    def choice(self, name: str, allowed: tuple[str, ...]) -> None:
        if self._value(name) not in allowed:
            raise ConfigError(
                f"{name} must be one of {', '.join(allowed)}, got {self._value(name)!r}"
            )

    def at_least(self, name: str, low: float, open_: bool = False) -> None:
        value = self._value(name)
        if value is None:
            return
        if value != value or value < low or (open_ and value == low):  # value != value: NaN
            bound = ">" if open_ else ">="
            raise ConfigError(f"{name} must be {bound} {low}, got {value!r}")

    def between(self, name: str, low: float, high: float, low_open: bool = False) -> None:
        value = self._value(name)
        if value is None:
            return
        if value != value or not (low <= value <= high) or (low_open and value == low):
            raise ConfigError(
                f"{name} must be in {'(' if low_open else '['}{low}, {high}], got {value!r}"
            )
