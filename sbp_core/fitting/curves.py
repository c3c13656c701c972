"""Measured pulse-response curves: the CSV format, reading it, and synthetic curves from a model.

A potentiation/depression experiment is a CSV file with one row per conductance read, in the
order measured, and these columns (docs/measured_devices.md):

| column | meaning |
| --- | --- |
| `device` | optional: which measured device (any text); absent, the file holds one device |
| `cycle` | optional: which potentiation/depression cycle (any text); absent, one cycle |
| `direction` | `set` (potentiation) or `reset` (depression); `ltp` / `ltd` too, any case |
| `pulse` | index of the read within its ramp: 0 before the first pulse, then 1, 2, ... |
| `conductance_S` | conductance read after that pulse, siemens, >= 0 |

A ramp is the rows of one device, cycle and direction; its pulse indices must increase, and
consecutive indices (k, k + 1) are one pulse's step, the unit every fit here is made of. Other
column names (a probe station's export) are mapped onto these (`columns`), and so are other
direction labels (`directions`); a scale converts other conductance units to siemens.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sbp_core import atomic
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.errors import ConfigError

COLUMNS = ("device", "cycle", "direction", "pulse", "conductance_S")
"""The columns of a curves file, in the order `curves_text` writes them."""
REQUIRED_COLUMNS = ("direction", "pulse", "conductance_S")
DIRECTIONS = ("set", "reset")
DIRECTION_LABELS = {"set": ("set", "ltp", "potentiation"), "reset": ("reset", "ltd", "depression")}
"""The direction values accepted without a mapping (compared in lower case)."""
ONE_DEVICE, ONE_CYCLE = "1", "1"
"""Device and cycle of every row when the file has no such column."""


@dataclass(frozen=True)
class Ramp:
    """The reads of one device, cycle and direction, in pulse order."""

    device: str
    cycle: str
    direction: str
    """`set` or `reset`."""
    pulse: np.ndarray
    """Pulse index of each read (int64, increasing)."""
    conductance_s: np.ndarray
    """Conductance of each read, siemens (float64)."""

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        """(before, after) conductances of every single pulse: reads at pulse k and k + 1."""
        consecutive = np.flatnonzero(np.diff(self.pulse) == 1)
        return self.conductance_s[consecutive], self.conductance_s[consecutive + 1]


@dataclass(frozen=True)
class Curves:
    """A measured (or simulated) potentiation/depression experiment, ramp by ramp."""

    source: str
    """Where the curves come from (the file, or the model they were simulated from)."""
    ramps: tuple[Ramp, ...]

    @property
    def devices(self) -> tuple[str, ...]:
        """The measured devices, in the order they first appear."""
        return tuple(dict.fromkeys(ramp.device for ramp in self.ramps))

    def ramps_of(self, device: str, direction: str) -> tuple[Ramp, ...]:
        return tuple(r for r in self.ramps if r.device == device and r.direction == direction)

    def conductances(self, device: str) -> np.ndarray:
        """Every conductance read of one device, siemens."""
        return np.concatenate([r.conductance_s for r in self.ramps if r.device == device])


def parse_mapping(text: str, option: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """`name=value,name=value` (a command-line mapping) as a dict; names must be in `allowed`."""
    mapping = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not value:
            raise ConfigError(f"{option}: expected NAME=VALUE, got {item!r}")
        if name not in allowed:
            raise ConfigError(f"{option}: unknown name {name!r} (allowed: {', '.join(allowed)})")
        mapping[name] = value
    return mapping


def read_curves(
    path: str | Path,
    columns: Mapping[str, str] | None = None,
    directions: Mapping[str, str] | None = None,
    conductance_scale: float = 1.0,
) -> Curves:
    """The ramps of a curves file; any problem stops it with a one-line ConfigError naming the
    file (and the line).

    `columns` maps our column names to the file's (`{"conductance_S": "G"}`), `directions` our
    direction names to the file's labels (`{"set": "Positive", "reset": "Negative"}`), and the
    file's conductances times `conductance_scale` are siemens (1e-6 for a file in uS).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")  # a spreadsheet's BOM
    except FileNotFoundError:
        raise ConfigError(f"{path}: curves file not found") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the curves file ({err.strerror})") from None
    if not conductance_scale > 0:
        raise ConfigError(f"conductance scale must be > 0, got {conductance_scale!r}")
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if _is_data(line)]
    if not lines:
        raise ConfigError(f"{path}: no header row; expected columns {', '.join(COLUMNS)}")
    header_line, header_text = lines[0]
    delimiter = max(",;\t", key=header_text.count)
    header = [name.strip() for name in next(csv.reader([header_text], delimiter=delimiter))]
    where = _column_positions(path, header, dict(columns or {}))
    labels = _direction_labels(dict(directions or {}))

    ramps: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for number, line in lines[1:]:
        fields = next(csv.reader([line], delimiter=delimiter))
        if len(fields) != len(header):
            raise ConfigError(
                f"{path}, line {number}: {len(fields)} fields where the header has {len(header)}"
            )
        at = f"{path}, line {number}"
        value = {name: fields[index].strip() for name, index in where.items()}
        direction = labels.get(value["direction"].lower())
        if direction is None:
            known = ", ".join(sorted(labels))
            raise ConfigError(f"{at}: direction {value['direction']!r} is none of {known}")
        pulse = _pulse(at, value["pulse"])
        conductance = _conductance(at, value["conductance_S"]) * conductance_scale
        key = (value.get("device", ONE_DEVICE), value.get("cycle", ONE_CYCLE), direction)
        ramp = ramps.setdefault(key, [])
        if ramp and pulse <= ramp[-1][0]:
            raise ConfigError(
                f"{at}: pulse {pulse} follows pulse {ramp[-1][0]} in {_ramp_name(key, where)}; "
                "pulse indices must increase within a ramp"
            )
        ramp.append((pulse, conductance))
    if not ramps:
        raise ConfigError(f"{path}: no data rows after the header (line {header_line})")
    curves = Curves(
        source=str(path),
        ramps=tuple(
            Ramp(*key, np.array([p for p, _ in rows]), np.array([g for _, g in rows]))
            for key, rows in ramps.items()
        ),
    )
    check_curves(curves, where)
    return curves


def _is_data(line: str) -> bool:
    """Blank lines and comment lines (starting with #) are not rows."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _column_positions(path: Path, header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """Our column name -> its position in the header (optional columns only when present)."""
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise ConfigError(f"columns: unknown name {unknown[0]!r} (allowed: {', '.join(COLUMNS)})")
    lowered = [name.lower() for name in header]
    positions = {}
    for name in COLUMNS:
        wanted = columns.get(name, name).lower()
        if wanted in lowered:
            positions[name] = lowered.index(wanted)
        elif name in REQUIRED_COLUMNS or name in columns:
            mapped = f" (mapped to {columns[name]!r})" if name in columns else ""
            raise ConfigError(
                f"{path}: missing column {name!r}{mapped}; the header has {', '.join(header)} "
                f"(map a column of another name with --columns {name}=NAME)"
            )
    return positions


def _direction_labels(directions: dict[str, str]) -> dict[str, str]:
    """The file's direction label (lower case) -> set or reset."""
    unknown = sorted(set(directions) - set(DIRECTIONS))
    if unknown:
        raise ConfigError(f"directions: unknown name {unknown[0]!r} (allowed: set, reset)")
    labels = {}
    for direction in DIRECTIONS:
        names = (directions[direction],) if direction in directions else DIRECTION_LABELS[direction]
        labels.update({name.lower(): direction for name in names})
    if len(labels) < len(DIRECTIONS) or len(set(labels.values())) < len(DIRECTIONS):
        raise ConfigError("directions: set and reset need different labels")
    return labels


def _pulse(at: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value.is_integer() and value >= 0):
        raise ConfigError(f"{at}: pulse {text!r} is not a whole number >= 0")
    return int(value)


def _conductance(at: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{at}: conductance {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{at}: conductance {text!r} is not a finite number")
    if value < 0:
        raise ConfigError(f"{at}: negative conductance {text}; conductances are >= 0")
    return value


def _ramp_name(key: tuple[str, str, str], columns: Mapping[str, int] | None = None) -> str:
    """`the set ramp of device A, cycle 2`, naming only what the file distinguishes."""
    device, cycle, direction = key
    present = COLUMNS if columns is None else columns
    owner = ", ".join(
        f"{column} {value}"
        for column, value in (("device", device), ("cycle", cycle))
        if column in present
    )
    return f"the {direction} ramp" + (f" of {owner}" if owner else "")


def check_curves(curves: Curves, columns: Mapping[str, int] | None = None) -> None:
    """A one-line ConfigError naming the source unless every ramp and device can be fitted:
    two or more reads per ramp, at least one single-pulse step in each, both directions and a
    change of conductance for each device."""
    for ramp in curves.ramps:
        name = _ramp_name((ramp.device, ramp.cycle, ramp.direction), columns)
        if ramp.pulse.size < 2:
            raise ConfigError(
                f"{curves.source}: {name} has one point; a ramp needs two or more reads "
                "(a pulse's step is the change between two)"
            )
        if not np.any(np.diff(ramp.pulse) == 1):
            raise ConfigError(
                f"{curves.source}: {name} has no two consecutive pulse indices, so no step of one "
                "pulse"
            )
    for device in curves.devices:
        of_device = f" of device {device}" if columns is None or "device" in columns else ""
        for direction in DIRECTIONS:
            if not curves.ramps_of(device, direction):
                raise ConfigError(
                    f"{curves.source}: no {direction} ramp{of_device}; a fit needs both directions"
                )
        conductance = curves.conductances(device)
        if not conductance.max() > conductance.min():
            raise ConfigError(f"{curves.source}: the conductance{of_device} never changes")


def curves_text(curves: Curves) -> str:
    """The curves as a curves file (every column, conductances to 9 significant digits)."""
    rows = [",".join(COLUMNS)]
    for ramp in curves.ramps:
        for pulse, conductance in zip(ramp.pulse, ramp.conductance_s, strict=True):
            rows.append(f"{ramp.device},{ramp.cycle},{ramp.direction},{pulse},{conductance:.9g}")
    return "\n".join(rows) + "\n"


def write_curves(path: str | Path, curves: Curves) -> None:
    atomic.write_text(path, curves_text(curves))


def simulate_curves(
    params: DeviceParams,
    n_devices: int = 1,
    cycles: int = 3,
    overdrive: float = 0.1,
    seed: int = 0,
) -> Curves:
    """The experiment `read_curves` expects, simulated on `n_devices` devices of `params` (their
    device-to-device spread drawn as in a crossbar): from Gmin, `cycles` times a SET ramp then a
    RESET ramp, each of the pulses that cross the nominal range plus `overdrive` of them more
    (so that both bounds are reached), reading after every pulse. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    devices = params.build_array((n_devices,), rng)
    g = devices.g_lo.copy()
    index = np.arange(n_devices)
    lengths = {
        "set": math.ceil((1 + overdrive) * (params.n_states - 1)),
        "reset": math.ceil((1 + overdrive) * params.erase_pulses),
    }
    traces: dict[tuple[int, str], np.ndarray] = {}
    for cycle in range(cycles):
        for direction in DIRECTIONS:
            trace = [g.copy()]
            potentiate = np.full(n_devices, direction == "set")
            for _ in range(lengths[direction]):
                devices.respond(g, index, potentiate, rng)
                trace.append(g.copy())
            traces[cycle, direction] = np.array(trace)
    ramps = tuple(
        Ramp(
            device=f"d{device + 1}",
            cycle=str(cycle + 1),
            direction=direction,
            pulse=np.arange(lengths[direction] + 1),
            conductance_s=traces[cycle, direction][:, device].astype(float) * params.g_max_s,
        )
        for device in range(n_devices)
        for cycle in range(cycles)
        for direction in DIRECTIONS
    )
    return Curves(source=f"simulated {params.name}", ramps=ramps)
