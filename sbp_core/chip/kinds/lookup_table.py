"""The lookup-table device kind: measured curves the NeuroSim form cannot follow, as tables of
the step of a pulse by the present conductance, per direction, with the measured spread of the
steps as its noise; each simulated device follows the table of one measured device
(docs/method.md, "Lookup-table device"). `sbp-bench fit-device --model lookup_table` writes
its files.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from sbp_core.chip.device import device_file_text, finite_number
from sbp_core.chip.engine import TABLE_DEVICE, TableResponse
from sbp_core.chip.kinds.neurosim import DeviceParams, initial_conductances, stuck_faults
from sbp_core.errors import ConfigError

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
        """A one-line ConfigError naming `source` and the table unless every table is a usable
        device: two or more finite knots at increasing conductances, sigma >= 0, SET steps >= 0
        and RESET steps <= 0, some step non-zero, no step beyond the table's span, and every
        conductance within [0, TABLE_RANGE] of the nominal Gmax."""
        for t, d in np.ndindex(*self.n_knots.shape):
            direction = ("set", "reset")[d]
            where = f"{source}: tables[{t}] (device {self.devices[t]!r}).{direction}"
            x, step, sigma = self.knot_table(t, d)
            sign = 1 if direction == "set" else -1
            problems = (
                (x.size < 2, f"needs at least 2 knots, has {x.size}"),
                (not np.all(np.isfinite(self.knot_table(t, d))), "knots must be finite numbers"),
                (not np.all(np.diff(x) > 0), "knot conductances must increase"),
                (np.any(sigma < 0), "sigma must be >= 0"),
                (
                    np.any(sign * step < 0),
                    f"a {direction.upper()} step is {'negative' if sign > 0 else 'positive'}",
                ),
                (not np.any(step), "every step is 0 (the device never moves)"),
                (
                    np.any(np.abs(step) > self.g_hi[t] - self.g_lo[t]),
                    "a step is larger than the table's g_max_S - g_min_S",
                ),
                (
                    np.any(x < 0) or np.any(x > TABLE_RANGE),
                    f"a knot lies outside 0 .. {TABLE_RANGE:g} x g_max_S",
                ),
            )
            for failed, message in problems:
                if failed:
                    raise ConfigError(f"{where}: {message}")
        if not np.all((self.g_lo >= 0) & (self.g_hi > self.g_lo)):
            raise ConfigError(f"{source}: each table needs 0 <= g_min_S < g_max_S")
        if np.any(self.g_hi > TABLE_RANGE):
            raise ConfigError(
                f"{source}: a table's g_max_S exceeds {TABLE_RANGE:g} x the file's g_max_S"
            )


@dataclass(frozen=True)
class TableDeviceParams(DeviceParams):
    """A lookup-table device. The inherited parameters are the NeuroSim model fitted to the same
    curves: the nominal description (n_states, labels, on_off, c2c_sigma) that methods needing
    one use (exsitu's target levels and scale, sgd's pulse size, the energy per pulse); each
    simulated device responds as its measured device's table says. c2c_sigma > 0 turns the
    tables' noise on; d2d_sigma is 0 (the tables are the device-to-device variation)."""

    kind: ClassVar[str] = "lookup_table"
    file_keys: ClassVar[tuple[str, ...]] = ("tables",)
    fixed_fields: ClassVar[tuple[str, ...]] = (
        "n_states", "nl_ltp", "nl_ltd", "c2c_sigma", "d2d_sigma",
    )  # fmt: skip
    """Its tables give its response."""

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

    @classmethod
    def from_file(cls, path: Path, values: dict[str, Any], entries: dict[str, Any]):
        return cls(**values, table=_read_tables(path, entries["tables"], values["g_max_s"]))

    def file_entries(self) -> dict[str, Any]:
        """The tables, in siemens."""
        return {"tables": _table_entries(self.table, self.g_max_s)}

    @classmethod
    def compile_example(cls, folder: Path) -> dict[str, Any]:
        """A linear lookup-table device with noise, two knots a direction: compiled code depends
        on the types of the tables, not their sizes, so its kernels are those of every such
        device."""
        knots = np.array([[0.0, 1.0], [0.1, 0.1], [0.01, 0.01]])
        table = LookupTable.from_knots(("one",), [(0.0, 1.0)], [(knots, knots * [[1], [-1], [1]])])
        path = Path(folder) / f"{cls.kind}.yaml"
        small = cls(name="small", n_states=11, c2c_sigma=0.01, table=table)
        path.write_text(device_file_text(small))
        return {"device": str(path)}

    def build_array(
        self, shape: tuple[int, ...], rng: np.random.Generator, dtype=np.float32
    ) -> TableArray:
        """Give each device one measured device's table (uniformly drawn when there are
        several), then draw the stuck-at faults."""
        lut = self.table
        n_tables = len(lut.devices)
        which = rng.integers(n_tables, size=shape) if n_tables > 1 else np.zeros(shape, np.int64)
        stuck = stuck_faults(self, shape, rng)
        return TableArray(
            params=self,
            table=np.where(stuck == 0, which, -1).astype(np.int32),
            g_lo=lut.g_lo[which].astype(dtype),
            g_hi=lut.g_hi[which].astype(dtype),
            stuck=stuck,
        )


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
        """As `AffineArray.initial`, within each device's own table bounds."""
        return initial_conductances(self, spread, rng, dtype, start)


# --- its part of a device file (docs/measured_devices.md) ---------------------

TABLE_KEYS = ("device", "g_min_S", "g_max_S", "set", "reset")
KNOT_KEYS = ("conductance_S", "step_S", "sigma_S")


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
        g_min, g_max = (
            finite_number(path, f"{where}.{key}", table[key]) for key in TABLE_KEYS[1:3]
        )
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
                rows.append([finite_number(path, f"{where}.{direction}.{key}", v) for v in value])
            pair.append(np.array(rows, dtype=float) / g_max_s)
        knots.append(tuple(pair))
    lut = LookupTable.from_knots(tuple(names), bounds, knots)
    lut.check(str(path))
    return lut


TABLE_RANGE = 2.0
"""A table's conductances (bounds and knots) lie in [0, TABLE_RANGE g_max_s]: room for measured
devices above the file's mean Gmax, not for a table in other units."""


def _check_keys(path, where: str, mapping: dict, keys: tuple[str, ...]) -> None:
    unknown = sorted(set(map(str, mapping)) - set(keys))
    if unknown:
        raise ConfigError(f"{path}: unknown key {where}.{unknown[0]} (allowed: {', '.join(keys)})")
    missing = [key for key in keys if key not in mapping]
    if missing:
        raise ConfigError(f"{path}: missing key {where}.{missing[0]}")


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


KIND = TableDeviceParams
