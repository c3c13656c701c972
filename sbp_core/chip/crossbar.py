"""Differential-pair crossbar: analog reads in both directions and the parallel pulse update.

Rows are inputs (the last row is the always-on bias line), columns are outputs. Each weight is a
pair of devices, w = (G+ - G-) / (Gmax - Gmin), so weights lie in [-1, 1] in "weight units". A
cell with an access transistor (the device's `r_access_ohm`) is read through it in series: a read
sees G / (1 + R G), and the weight is read(G+) - read(G-) over read(Gmax) - read(Gmin), as
MLP+NeuroSim scales its reads (docs/neurosim_validation.md).
Binary inputs make the forward read a sum of the selected rows: no multiplier, no DAC.

`read_rows`, `read_columns`, `apply` and `pulse_trains` are the readable numpy references of the
compiled engine (`sbp_core.chip.engine`), kept on purpose beside it: they state the arithmetic,
and the tests hold the compiled functions bit-identical to them. Training runs go through the engine
(`arrays`).
"""

from __future__ import annotations

import numpy as np

from sbp_core.chip import engine
from sbp_core.chip.kinds import DeviceArray
from sbp_core.chip.kinds.neurosim import DeviceParams
from sbp_core.fields import PULSE_SCHEMES

DTYPE = np.float32


class Crossbar:
    """An n_rows x n_cols array of differential pairs with SET / RESET pulse counters.

    `pulse_scheme` says how one weight pulse moves the pair: `pair` SETs one device and RESETs
    the other (two device pulses, both counted); `single` moves only G+ (SET to raise the weight,
    RESET to lower it) against a G- fixed at mid-range as a reference, and starts G+ around it;
    `set_only` SETs G+ to raise the weight and G- to lower it (one device pulse, never a RESET:
    the pair climbs until `sbp_core.chip.refresh` rewrites it); `reference` pulses G+ as `single`
    does against a G- that reads midway between Gmin and Gmax (NeuroSim's reference column), and
    reads twice the weight of `single`, w = 2 (read(G+) - read(G-)) / (read(Gmax) - read(Gmin)) in
    [-1, 1].
    """

    def __init__(
        self,
        n_rows: int,
        n_cols: int,
        params: DeviceParams,
        rng: np.random.Generator,
        init_spread: float = 0.1,
        pulse_scheme: str = "pair",
    ) -> None:
        self.params = params
        self.pulse_scheme = pulse_scheme
        self.plus: DeviceArray = params.build_array((n_rows, n_cols), rng, DTYPE)
        self.minus: DeviceArray = params.build_array((n_rows, n_cols), rng, DTYPE)
        if pulse_scheme not in ("single", "reference"):
            self.g_plus = self.plus.initial(init_spread, rng, DTYPE)
            self.g_minus = self.minus.initial(init_spread, rng, DTYPE)
        else:  # G- is a fixed reference at mid-range, so G+ can move the weight either way
            self.g_plus = self.plus.initial(init_spread, rng, DTYPE, start=0.5 - init_spread / 2)
            self.g_minus = self.minus.initial(0.0, rng, DTYPE, start=0.5)
        self.access = DTYPE(params.access)
        read_range = _seen(1.0, params.access) - _seen(params.g_min, params.access)
        self.scale = DTYPE(1.0 / read_range)
        if pulse_scheme == "reference":
            self.g_minus[...] = self.conductance_read_as(0.0)
            self.scale = DTYPE(2.0 / read_range)
        self.set_pulses = 0
        self.reset_pulses = 0
        self._responses: tuple[np.ndarray, np.ndarray] | None = None  # packed on first use

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_plus.shape

    def conductance_read_as(self, weight):
        """The nominal conductance (normalised to Gmax) whose read gives `weight` against the
        reference of the `reference` scheme: its read is midway between Gmin's and Gmax's reads
        plus weight times half their distance (the inverse of the access transistor's read)."""
        low, high = _seen(self.params.g_min, self.params.access), _seen(1.0, self.params.access)
        read = (low + high) / 2 + np.asarray(weight, dtype=np.float64) * (high - low) / 2
        return read / (1 - self.params.access * read)

    def seen(self, g: np.ndarray) -> np.ndarray:
        """The conductances a read sees through the access transistors (as
        `engine.read_conductance`)."""
        return _seen(g, self.access)

    def weights(self) -> np.ndarray:
        """Weight matrix in weight units as a read sees it, shape (n_rows, n_cols)."""
        return (self.seen(self.g_plus) - self.seen(self.g_minus)) * self.scale

    def read_rows(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Column currents when read pulses drive `rows` (indices of the 1 inputs)."""
        g_plus, g_minus = self.seen(self.g_plus[rows]), self.seen(self.g_minus[rows])
        current = _sum_rows_in_order(g_plus - g_minus) * self.scale
        if self.params.read_noise > 0:
            # Independent per-device read noise sums to one Gaussian per column.
            power = _sum_rows_in_order(g_plus * g_plus) + _sum_rows_in_order(g_minus * g_minus)
            self._add_read_noise(current, power, rng)
        return current

    def read_columns(self, error: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Row currents when ternary voltages `error` drive the columns (the transposed read)."""
        sums = np.zeros((3, self.shape[0]), dtype=DTYPE)  # G+ - G-, G+^2, G-^2 per row
        for k in np.flatnonzero(error):  # column by column: the order the kernel sums in
            g_plus, g_minus = self.seen(self.g_plus[:, k]), self.seen(self.g_minus[:, k])
            sums[0] += DTYPE(error[k]) * (g_plus - g_minus)
            sums[1] += g_plus * g_plus
            sums[2] += g_minus * g_minus
        current = sums[0] * self.scale
        if self.params.read_noise > 0:
            self._add_read_noise(current, sums[1] + sums[2], rng)
        return current

    def _add_read_noise(
        self, current: np.ndarray, power: np.ndarray, rng: np.random.Generator
    ) -> None:
        """Per-device read noise of relative sigma read_noise, summed: sigma ~ sqrt(sum G^2)."""
        sigma = self.params.read_noise * self.scale * np.sqrt(power)
        current += sigma * rng.standard_normal(current.size).astype(DTYPE)

    def read_batch(self, inputs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Column currents for a batch of input rows (0/1 or real drive levels), bias included."""
        weights = self.weights()
        x = inputs.astype(DTYPE, copy=False)
        current = x @ weights[:-1] + weights[-1]
        if self.params.read_noise > 0:
            power = self.seen(self.g_plus) ** 2 + self.seen(self.g_minus) ** 2
            squares = x if inputs.dtype == bool else x * x  # 0/1 pulses are their own squares
            variance = squares @ power[:-1] + power[-1]
            sigma = self.params.read_noise * self.scale * np.sqrt(variance)
            current += sigma * rng.standard_normal(current.shape, dtype=DTYPE)
        return current

    def pulse(
        self,
        rows: np.ndarray,
        direction: np.ndarray,
        rng: np.random.Generator,
        probability: float = 1.0,
        per_line: bool = False,
    ) -> None:
        """One programming pulse at every (row in rows, column with direction != 0), in parallel.

        `direction` is ternary per column: +1 raises the weight, -1 lowers it. With
        `probability` < 1 each coincident pulse fires independently with that probability, or,
        `per_line`, each row and then each column fires with probability sqrt(probability)
        and a pair gets its pulse where both did.
        """
        cols = np.flatnonzero(direction)
        if rows.size == 0 or cols.size == 0:
            return
        if per_line and probability < 1.0:
            line = np.sqrt(probability)
            rows = rows[rng.random(rows.size) < line]
            cols = cols[rng.random(cols.size) < line]
        index = (rows[:, None] * self.shape[1] + cols[None, :]).ravel()
        raise_weight = np.broadcast_to(direction[cols] > 0, (rows.size, cols.size)).ravel()
        if probability < 1.0 and not per_line:
            fire = rng.random(index.size) < probability
            index, raise_weight = index[fire], raise_weight[fire]
        self.apply(index, raise_weight, rng)

    def apply(self, index: np.ndarray, raise_weight: np.ndarray, rng: np.random.Generator) -> None:
        """Pulse the pairs at flat `index`; count the device pulses by kind (numpy reference)."""
        n_raise = int(np.count_nonzero(raise_weight))
        if self.pulse_scheme == "set_only":
            lower = ~raise_weight
            self.plus.respond(self.g_plus, index[raise_weight], raise_weight[raise_weight], rng)
            self.minus.respond(self.g_minus, index[lower], lower[lower], rng)
            self.set_pulses += index.size
            return
        self.plus.respond(self.g_plus, index, raise_weight, rng)
        if self.pulse_scheme == "pair":
            self.minus.respond(self.g_minus, index, ~raise_weight, rng)
            self.set_pulses += index.size
            self.reset_pulses += index.size
        else:
            self.set_pulses += n_raise
            self.reset_pulses += index.size - n_raise

    def pulse_trains(
        self, index: np.ndarray, n_pulses: np.ndarray, rng: np.random.Generator
    ) -> None:
        """|n_pulses[p]| pulses on the pair at flat index[p], raising its weight where n_pulses[p]
        > 0: a pulse train per pair, all pairs in parallel, so round r pulses every pair still
        owed an r-th pulse (each pulse its own device response and noise)."""
        magnitude = np.abs(n_pulses)
        for r in range(1, int(magnitude.max(initial=0)) + 1):
            owed = magnitude >= r
            self.apply(index[owed], n_pulses[owed] > 0, rng)

    def pulse_against(
        self, gradient: np.ndarray, rng: np.random.Generator, probability: float = 1.0
    ) -> None:
        """One pulse on every pair whose `gradient` entry is not zero, against its sign (a
        positive entry lowers the weight); with `probability` < 1 each fires independently with
        that probability (numpy reference of `pulse_against_compiled`)."""
        index = np.flatnonzero(gradient)
        if probability < 1.0:
            index = index[rng.random(index.size) < probability]
        self.apply(index, gradient.flat[index] < 0, rng)

    def pulse_against_compiled(
        self, gradient: np.ndarray, rng: np.random.Generator, probability: float = 1.0
    ) -> None:
        """`pulse_against` through the compiled engine: the same draws and pulses, bit for bit."""
        gradient = np.ascontiguousarray(gradient, dtype=DTYPE)
        self.count_pulses(*engine.pulse_against(self.arrays(), gradient, probability, rng))

    def count_pulses(self, n_set: int, n_reset: int) -> None:
        """Add device pulses applied through the engine to this crossbar's counters."""
        self.set_pulses += int(n_set)
        self.reset_pulses += int(n_reset)

    def arrays(self) -> engine.CrossbarArrays:
        """This crossbar as the engine sees it: the conductance arrays themselves (pulses move
        them in place), a fresh G+ - G-, the devices' responses (packed once) and its settings."""
        if self._responses is None:
            self._responses = (self.plus.responses(), self.minus.responses())
        return engine.CrossbarArrays(
            g_plus=self.g_plus,
            g_minus=self.g_minus,
            diff=self.seen(self.g_plus) - self.seen(self.g_minus),
            plus=self._responses[0],
            minus=self._responses[1],
            scale=self.scale,
            scheme=PULSE_SCHEMES.index(self.pulse_scheme),
            c2c=self.params.c2c_sigma > 0,
            read_noise=DTYPE(self.params.read_noise),
            access=self.access,
        )

    def saturated_fraction(self) -> float:
        """Fraction of devices within half a nominal step of either conductance bound."""
        half_step = 0.5 * self.params.step
        total = 0
        for g, devices in ((self.g_plus, self.plus), (self.g_minus, self.minus)):
            at_bound = (g <= devices.g_lo + half_step) | (g >= devices.g_hi - half_step)
            total += int(np.count_nonzero(at_bound))
        return total / (2 * self.g_plus.size)

    def take_pulse_counts(self) -> tuple[int, int]:
        """SET and RESET device pulses since the last call."""
        counts = (self.set_pulses, self.reset_pulses)
        self.set_pulses = self.reset_pulses = 0
        return counts


def _seen(g, access):
    """g / (1 + access g): `engine.read_conductance` in numpy (float64 for the scale); g itself
    without an access transistor (g / 1 is g, bit for bit, and costs a pass over the array)."""
    return g / (1 + access * g) if access else g


def _sum_rows_in_order(block: np.ndarray) -> np.ndarray:
    """Column sums added row after row, the order the compiled kernel uses.

    `block.sum(axis=0)` may regroup the additions (pairwise, by shape), which changes float32
    rounding; a running sum does not.
    """
    if len(block) == 0:
        return np.zeros(block.shape[1], dtype=block.dtype)
    return np.add.accumulate(block, axis=0)[-1]
