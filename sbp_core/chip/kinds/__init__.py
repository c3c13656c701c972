"""Device kinds: each kind of device is one module here, `sbp_core.chip.kinds.<kind>`, whose
`KIND` is its parameter class (a `DeviceParams` subclass, `DeviceKind` below). A device file's
`kind:` names the module; nothing else lists the kinds (docs/device_kinds.md adds one).

Every kind keeps the NeuroSim parameters of `DeviceParams` as its nominal description, which
methods that need one use (exsitu's target levels, sgd's pulse size, the energy of a pulse), and
responds to pulses its own way through one of the engine's response forms.
"""

from __future__ import annotations

import pkgutil
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from sbp_core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np


class DeviceArray(Protocol):
    """One array of devices of a kind, drawn once (device-to-device spread, stuck devices)."""

    g_lo: np.ndarray
    """Each device's Gmin (normalised, the array's shape)."""
    g_hi: np.ndarray
    """Each device's Gmax."""
    stuck: np.ndarray
    """0 free, 1 stuck at Gmin, 2 stuck at Gmax."""

    def respond(self, g, index, potentiate, rng) -> None:
        """The readable reference of the engine's response: pulse g.flat[index] in place."""

    def responses(self) -> Any:
        """The devices packed for the engine: `engine.RESPONSE` records or a `TableResponse`."""

    def initial(self, spread: float, rng, dtype, start: float = 0.0) -> np.ndarray:
        """Initial conductances, a fraction `start` to `start + spread` of each device's range."""


class DeviceKind(Protocol):
    """What a kind of device declares, once: its parameter class implements this."""

    kind: ClassVar[str]
    """Its name: the module's name and a device file's `kind:`."""
    file_keys: ClassVar[tuple[str, ...]]
    """Keys a device file of this kind holds beyond DeviceParams' (all required)."""
    fixed_fields: ClassVar[tuple[str, ...]]
    """RunSpec device fields this kind rejects (its own data give them)."""

    @classmethod
    def from_file(cls, path: Path, values: dict[str, Any], entries: dict[str, Any]) -> DeviceKind:
        """The device of a device file: `values` its DeviceParams values, checked, `entries` its
        `file_keys`, as read; a ConfigError naming the file and the key when they are wrong."""

    def file_entries(self) -> dict[str, Any]:
        """Its `file_keys` as a device file writes them (the inverse of `from_file`)."""

    def build_array(self, shape: tuple[int, ...], rng, dtype) -> DeviceArray:
        """Draw the devices of one array."""

    def to_dict(self) -> dict:
        """Its parameters for metrics.json and the cost model."""

    @classmethod
    def compile_example(cls, folder: Path) -> dict[str, Any]:
        """RunSpec device fields of a small device of this kind (writing its device file into
        `folder` if it needs one), on which `sbp-bench compile` compiles the kind's kernels."""


def kind_names() -> tuple[str, ...]:
    """Every kind: the modules of this package."""
    return tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)))


def kind_named(name: Any, source: str = "device file") -> type[DeviceKind]:
    """The parameter class of kind `name`; a one-line ConfigError naming `source` otherwise."""
    if name not in kind_names():
        raise ConfigError(f"{source}: kind must be one of {', '.join(kind_names())}, got {name!r}")
    return import_module(f"{__name__}.{name}").KIND
