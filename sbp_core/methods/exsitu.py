"""`exsitu`: train off-chip, then program the weights into the crossbar and infer there.

The off-chip network is the straight-through (`ste`) one, whose comparator hidden units are the
same hardware as SBP's, so the two differ only in where learning happens. After every epoch the
weights are written into the crossbar the way ex-situ deployment does it (docs/method.md,
"Baselines"):

1. scale: each layer's weights are divided by the clipping scale whose written layer keeps their
   direction best in expectation, quantisation on the nominal weight grid (the states as a read
   sees them, through the cells' access transistor if they have one) and (write-verify)
   the programming noise the write leaves (`clip_scale`; comparators and winner-take-all ignore
   a positive scale), so the scale adapts to the number of states and to the C2C noise;
2. erase: a block erase drives every programmed device past Gmin, where it saturates (stuck
   devices stay where they are stuck); it is counted as the RESET pulses that take a nominal
   device from Gmax to Gmin (`DeviceParams.erase_pulses`), and, being saturating, it leaves no
   cycle-to-cycle noise behind;
3. open-loop write: each device gets the SET pulses the *nominal* curve needs for its grid level;
4. verify (`program = write_verify`): read every device (with its read noise), leave it when the
   read lies within the tolerance band, else pulse it once towards the target (SET below, RESET
   above); repeat until every device is in band or has spent `verify_max_pulses`.

The chip's own device-to-device spread, cycle-to-cycle noise, stuck devices and finite states
then decide what is really stored: this is the motivation for on-chip learning. `pair` programs
both devices of a pair (one stays erased); `single` programs G+ against the mid-range G-
reference the crossbar was built with. Every pulse (erase included) and verify read is counted.
Rewriting every epoch only draws the learning curve: the last epoch's write is the deployment,
reported apart from the rewrites (train.py, `deployment_*` metrics).

Off-chip training sees no device, so the software network is exactly the `ste` run that
`RunSpec.offchip_spec` names (same draws from the same streams; the chip has streams of its own).
A pipeline trains that network once and every exsitu run of a device sweep replays its per-epoch
weights (`replay`): the same numbers as training in-process, without repeating the training, and
every device is programmed from the same network, so a sweep compares devices and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sbp_core.chip.crossbar import DTYPE, Crossbar
from sbp_core.chip.programming import erase_array, nearest, verify, write_open_loop
from sbp_core.errors import ConfigError
from sbp_core.fields import choice, number
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.crossbar_mlp import CrossbarMLP
from sbp_core.methods.ste import STELearner
from sbp_core.offchip import Snapshot
from sbp_core.tuning.space import Dimension

CLIP_QUANTILES = np.linspace(0.5, 1.0, 51)
"""Candidate clipping scales: these quantiles of a layer's |w| (1.0 is the largest |w|)."""
PROGRAMS = ("write_verify", "open_loop")


@dataclass(frozen=True)
class ExSituFields:
    """The run-spec fields only ex-situ programming reads (docs/method.md, "Baselines")."""

    program: str = choice("write_verify", PROGRAMS)
    """Method exsitu only: `write_verify` (after the open-loop write, read every device and
    correct it one SET or RESET at a time into the tolerance band) or `open_loop` (no reads)."""
    verify_tolerance: float = number(0.01, above=0.0, high=1.0, unit="fraction of G range")
    """Write-verify leaves a device whose read lies within target +- this fraction of the range."""
    verify_max_pulses: int = number(50, low=0, unit="pulses per device")
    """Write-verify's budget per device: at most this many verify reads and correction pulses."""


class WriteCounts(NamedTuple):
    """What programming one device array cost."""

    erase: int
    """RESET pulses of the erase."""
    set: int
    """SET pulses of the open-loop write and the verify corrections."""
    reset: int
    """RESET pulses of the verify corrections."""
    reads: int
    """Verify reads, one device each."""


class ExSituLearner(CrossbarMLP):
    """An STE network trained in software, evaluated after programming into a crossbar per
    layer."""

    def __init__(self, spec, n_in, n_out, rng) -> None:
        chip_rng, self._program_rng = rng.spawn(2)  # leaves rng's own draws to the software
        self.software = STELearner.from_spec(spec.offchip_spec(), n_in, n_out, rng)
        super().__init__(spec, n_in, n_out, chip_rng)
        self._replayed: Iterator[Snapshot] | None = None

    def replay(self, epochs: Iterable[Snapshot]) -> None:
        """Take each epoch's software weights and loss from the finished off-chip run."""
        self._replayed = iter(epochs)

    def hidden_response(self, current: np.ndarray, layer: int) -> np.ndarray:
        """The software network's comparator sits at 0, and scaling keeps it there."""
        return (current > 0).astype(DTYPE)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        if self._replayed is None:
            loss = self.software.fit_epoch(X, y, rng).loss
            state = self.software.state()
        else:
            state, loss = next(self._replayed, (None, None))
            if state is None:
                raise ConfigError("the off-chip run holds fewer epochs than this exsitu run")
        budget = self.spec.verify_max_pulses if self.spec.program == "write_verify" else 0
        writes = [
            program(
                layer,
                np.vstack((state[f"W{number}"], state[f"b{number}"])),
                self.spec.verify_tolerance,
                budget,
                self._program_rng,
            )
            for number, layer in enumerate(self.layers, start=1)
        ]
        stats = self.epoch_stats(loss=loss)
        stats.counters = {
            "erase_pulses": sum(w.erase for w in writes),
            "verify_reads": sum(w.reads for w in writes),
        }
        return stats


def program(
    layer: Crossbar, weights: np.ndarray, tolerance: float, budget: int, rng: np.random.Generator
) -> WriteCounts:
    """Write `weights` into `layer`: scale, erase, open-loop write, then up to `budget` verify
    rounds with band `tolerance` (a fraction of the range); count every pulse on the layer."""
    levels = layer.params.nominal_levels()
    read, middle = read_levels(layer.params, levels), read_levels(layer.params, np.array([0.5]))
    grid, plus_pulses, minus_pulses = weight_grid(read, layer.pulse_scheme == "pair", middle[0])
    pulse_count = plus_pulses + minus_pulses  # SET pulses a grid point costs the pair
    bar = layer.arrays()
    params, totals = layer.params, np.zeros(4, dtype=np.int64)
    band = tolerance * (1.0 - params.g_min)
    # C2C sigma and verify band in grid units: the grid spans the range once (pair), twice
    # (single: w = 2 level - 1). Open loop scales for quantisation alone: with its k noise^2
    # the rule drove weights to saturation and lost 18 points on digits at c2c 0.1 (docs/method.md).
    per_range = 1.0 if layer.pulse_scheme == "pair" else 2.0
    variance = None
    if budget > 0 and bar.c2c:
        noise = per_range * params.c2c_sigma
        variance = write_variance(pulse_count, noise, per_range * tolerance)
    scale = clip_scale(weights, grid, variance)
    level = nearest(grid, weights.astype(np.float64) / scale)
    written = [(layer.g_plus, layer.plus, bar.plus, plus_pulses[level])]
    if layer.pulse_scheme == "pair":
        written.append((layer.g_minus, layer.minus, bar.minus, minus_pulses[level]))
    for g, devices, responses, pulses in written:
        erase = erase_array(g, devices, params.erase_pulses)
        sets = write_open_loop(g, responses, pulses.ravel(), bar.c2c, rng)
        target = (params.g_min + levels[pulses] * (1.0 - params.g_min)).astype(DTYPE)
        verified = verify(g, responses, target, band, budget, params.read_noise, bar.c2c, rng)
        totals += (erase, sets + verified[0], verified[1], verified[2])
    counts = WriteCounts(*(int(total) for total in totals))
    layer.count_pulses(counts.set, counts.erase + counts.reset)
    return counts


def read_levels(params, levels: np.ndarray) -> np.ndarray:
    """Fractions of the range (G - Gmin) / (Gmax - Gmin) as a read sees them through the cells'
    access transistor (`Crossbar.seen`): what the weights of those states are. Unchanged without
    one; with one, the high states crowd together, and the grid follows them."""
    if params.access == 0:
        return levels
    low = params.g_min

    def seen(g):
        return g / (1.0 + params.access * g)

    return (seen(low + levels * (1.0 - low)) - seen(low)) / (seen(1.0) - seen(low))


def weight_grid(
    levels: np.ndarray, pair: bool, middle: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The normalised weights (ascending, in [-1, 1]) the states at `levels` (fractions of the
    range as read) realise, with the SET pulses from Gmin each needs on G+ and on G-.

    `pair`: one device of the pair stays erased, so w = +-level. `single`: G+ against the
    mid-range G- reference, which reads as `middle`, so w = 2 level - 2 middle (2 level - 1
    without an access transistor; G- is never programmed, its pulses are 0).
    """
    k = np.arange(levels.size)
    if not pair:
        return 2.0 * levels - 2.0 * middle, k, np.zeros_like(k)
    zeros = np.zeros(levels.size - 1, dtype=k.dtype)
    grid = np.concatenate((-levels[:0:-1], levels))
    return grid, np.concatenate((zeros, k)), np.concatenate((k[:0:-1], np.zeros_like(k)))


def clip_scale(weights: np.ndarray, grid: np.ndarray, variance: np.ndarray | None = None) -> float:
    """The clipping scale s, among CLIP_QUANTILES of |w|, whose written layer best keeps the
    direction of the trained weights w: it maximises the expected squared cosine similarity

        (w . q)^2 / (|w|^2 (|q|^2 + sum_i variance[level_i])),   q_i = grid[level_i],

    with level_i = nearest(w_i / s) and `variance` what the write adds to each grid point
    (`write_variance`; None: quantisation alone). The similarity, not a squared error, because
    the comparators and the winner-take-all ignore a positive scale of the layer. Few states
    favour a small s (the largest |w| would round almost every weight to zero), many states the
    largest |w|; noisy pulses favour points reached by many pulses (their noise grows as the
    square root of the pulses, the signal linearly)."""
    w = weights.astype(np.float64).ravel()
    candidates = np.unique(np.quantile(np.abs(w), CLIP_QUANTILES))
    candidates = candidates[candidates > 0]
    if candidates.size == 0:
        return 1.0  # all weights zero: any scale stores them
    variance = np.zeros(grid.size) if variance is None else variance
    similarity = []
    for s in candidates:
        level = nearest(grid, w / s)
        q = grid[level]
        power = q @ q + variance[level].sum()
        similarity.append((w @ q) ** 2 / power if power > 0 else 0.0)
    return float(candidates[int(np.argmax(similarity))])


def write_variance(pulses: np.ndarray, noise: float, band: float | None) -> np.ndarray:
    """Variance (grid units squared) the write adds to each grid point reached by `pulses` SET
    pulses of C2C sigma `noise`: open loop (`band` None) k noise^2; after write-verify with band
    b at most noise^2 + b^2 / 3 (the last correction's noise, or a uniform error in the band)."""
    variance = pulses * noise**2
    return variance if band is None else np.minimum(variance, noise**2 + band**2 / 3)


METHOD = Method(
    name="exsitu",
    learner=ExSituLearner,
    classifier="ExSituClassifier",
    summary="Trained off-chip, then programmed into the simulated crossbar.",
    settings=ExSituFields,
    counts_pulses=True,
    offchip_twin="ste",
    style={"label": "ex-situ (programming only)", "marker": "D", "colour": 3},
    search_space=(
        Dimension(
            "program",
            "verify reads against none",
            "categorical",
            choices=("write_verify", "open_loop"),
        ),
        Dimension(
            "verify_tolerance",
            "write-verify band: tighter costs pulses and reads",
            "log",
            0.002,
            0.05,
        ),
    ),
)
