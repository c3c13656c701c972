"""Tiki-Taka v2 (Gokmen, Front. AI 4, 2021), chopped TTv2 and AGAD (Rasch et al.) on the crossbars.

Each layer has two crossbars of the same devices: C, the weights, which the forward and backward
passes read, and a fast array A, which takes the gradient. Per training sample, on the same
periphery as on-chip SGD (`sgd.py`: binary drive, ADCs, digital sigmoid, full-precision errors
s_l computed with C):

1. A -= lr s_l [x; 1]^T as stochastic pulse trains (Gokmen & Vlasov, Front. Neurosci. 10, 2016;
   aihwkit's default pulsed update): in each of BL slots every row fires with a probability
   proportional to its drive (the binary x in layer 1, the sigmoid activations below the upper
   layers, 1 on the bias row), every column with one proportional to |s_l|, and each pair whose
   row and column both fire gets one pulse against the sign of s_l. BL and the two scales are
   aihwkit's update management (`ttv2_kernel.pulse_probability_scales`). A starts at its
   devices' symmetry point (`sbp_core.chip.symmetry`), A's zero, where balanced pulses leave it.
2. Every `transfer_every` samples, one row of every layer's A (one input line: a column in
   aihwkit's out x in layout) is read with one read pulse (read noise) through an ADC of
   `adc_bits` over one pair's range, +-1 weight unit, and added, times `transfer_lr`, to that
   row of the digital buffer H; where |H| > `threshold`, C's pair gets one pulse in the direction
   of H and H loses the threshold. The rows are read in turn, 0, 1, ..., bias, 0, ...

c-TTv2 (Rasch, Carta, Fagbohungbe, Gokmen, arXiv:2305.16274, 2023; Nat. Commun. 2024): each row
carries a chopper sign c_i = +-1. A's pulses on row i go in the direction c_i (-s_l), the reading
of row i enters H as c_i times the reading, so A's offset (its symmetry point's error, which the
chopper does not flip) cancels in H while the gradient does not. A row's chopper flips after
every `chop_every`-th read of that row (aihwkit's regular in-chopper, in_chop_prob =
1 / chop_every); H is kept across flips, as aihwkit's ChoppedTransferRPUDevice keeps it.

AGAD (Rasch, Carta, Fagbohungbe, Gokmen, Nat. Commun. 15, 2024; aihwkit's
DynamicTransferRPUDevice): c-TTv2 whose reading enters H as c_i (reading - reference), the
reference of a weight being the running mean of its readings (each new reading weighted
`mean_rate`) as it stood when the row's chopper last flipped. A's offset then cancels in every
reading, not only on average over a chopper period, so A need not sit at its symmetry point.
C is not pulsed in the first chopper period (the reference is still zero), as aihwkit skips it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sbp_core import fields
from sbp_core.chip.crossbar import DTYPE, Crossbar
from sbp_core.chip.symmetry import symmetry_points
from sbp_core.errors import ConfigError
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.sgd import INIT_SPREAD, SGDFields, SGDLearner
from sbp_core.methods.sgd_kernel import ADC, SampleBuffers
from sbp_core.methods.ttv2_kernel import (
    A_RESET,
    A_SET,
    C_RESET,
    C_SET,
    READS,
    TTv2Scratch,
    TTv2Settings,
    TTv2State,
    pulse_probability_scales,
    train_epoch,
)
from sbp_core.tuning.space import Dimension


@dataclass(frozen=True)
class TTv2Fields(SGDFields):
    """TTv2's own run-spec fields, beside on-chip SGD's periphery fields (adc_bits, lr_out) it
    reads too; lr and lr_out are A's rates (docs/ttv2_and_mixed_precision.md)."""

    ttv2_bl: int = fields.number(31, low=1, unit="slots")
    """Methods ttv2, cttv2, agad only: the longest stochastic pulse train of A's update
    (aihwkit's desired_BL); update management shortens it where the gradient is small."""
    ttv2_transfer_every: int = fields.number(1, low=1, unit="samples")
    """Methods ttv2, cttv2, agad only: training samples between two transfers; each transfer
    reads one row of every layer's A into H."""
    ttv2_transfer_lr: float = fields.number(0.01, above=0.0, unit="per read")
    """Methods ttv2, cttv2, agad only: H += ttv2_transfer_lr times the digitised read of A's
    row."""
    ttv2_threshold: float | None = fields.number(None, above=0.0, unit="weight units")
    """Methods ttv2, cttv2, agad only: C's pair gets one pulse where |H| exceeds this, and H
    loses it; None: one nominal pair pulse of C."""


class TTv2Learner(SGDLearner):
    """TTv2 (chop_every = 0), c-TTv2 (chop_every > 0) or AGAD (tail_weight > 0 too), one sample
    at a time in the order drawn from rng. `layers` are the weight arrays C, `fast` the arrays A.

    `engine="numba"` trains through `ttv2_kernel.train_epoch`; `engine="numpy"` is the readable
    reference (`train_sample`, `transfer`), kept for the tests. Both do the same float32
    operations and the same draws.

    Defaults: A's rates are sgd's (0.4, 0.2), one row read per sample, the threshold one
    nominal pulse of C, transfer_lr 0.01. Chosen on the digits' validation split (64-32-10, 10
    epochs, seed 0, a noise-free 256-state soft-bounds device, labels +-3): transfer_lr 0.01
    gave 84.6 % against 47.8 % at 0.02 and 77.9 % at 0.005, and 10 % (collapse) at 0.05 to 1.
    TTv2 needs A's devices to pull back to their symmetry point (the leak that damps it,
    Gokmen & Haensch 2020): on the linear ideal preset A integrates without a leak, C is driven
    on after the gradient turns, and neither TTv2 nor c-TTv2 learned there (10 to 32 % over the
    settings tried: docs/ttv2_and_mixed_precision.md).
    """

    def __init__(
        self,
        spec,
        n_in: int,
        n_out: int,
        rng: np.random.Generator,
        *,
        lr: float | None = None,
        lr_out: float | None = None,
        bl: int = 31,
        transfer_every: int = 1,
        transfer_lr: float = 0.01,
        threshold: float | None = None,
        chop_every: int = 0,
        tail_weight: float = 0.0,
        engine: str = "numba",
    ) -> None:
        super().__init__(spec, n_in, n_out, rng, engine=engine)
        if spec.pulse_scheme == "set_only":
            raise ConfigError(
                "pulse_scheme: ttv2 needs SET and RESET pulses on A (a set-only array has no "
                "symmetry point); use pair or single"
            )
        for name, value in (("bl", bl), ("transfer_every", transfer_every)):
            if value < 1:
                raise ConfigError(f"{name}: must be >= 1, got {value}")
        lr = _positive("lr", lr, spec.lr or self.default_lr)
        lr_out = _positive("lr_out", lr_out, spec.lr_out or self.default_lr_out)
        if chop_every < 0:
            raise ConfigError(f"chop_every: must be >= 0 (0: no chopper), got {chop_every}")
        if tail_weight < 0 or (tail_weight > 0 and chop_every < 2):
            raise ConfigError(
                f"tail_weight: must be >= 0, and > 0 only with chop_every >= 2 (AGAD), got "
                f"{tail_weight} with chop_every {chop_every}"
            )
        weight_step = self.rule.weight_step
        self.ttv2 = TTv2Settings(
            theta=self.rule.theta,
            lr_hidden=lr,
            lr_output=lr_out,
            dw_min=float(weight_step),
            bl=int(bl),
            transfer_every=int(transfer_every),
            transfer_lr=DTYPE(transfer_lr),
            threshold=DTYPE(weight_step if threshold is None else threshold),
            chop_every=int(chop_every),
            mean_rate=DTYPE(min(tail_weight / chop_every, 1.0) if tail_weight else 0.0),
        )
        self.fast = tuple(self._fast_array(layer.shape, rng) for layer in self.layers)
        self.h = tuple(np.zeros(layer.shape, DTYPE) for layer in self.layers)
        self.chopper = tuple(np.ones(layer.shape[0], np.int8) for layer in self.layers)
        self.mean = tuple(np.zeros(layer.shape, DTYPE) for layer in self.layers)
        self.past_mean = tuple(np.zeros(layer.shape, DTYPE) for layer in self.layers)
        self.switched = tuple(np.zeros(layer.shape[0], np.bool_) for layer in self.layers)
        self.position = np.zeros((len(self.layers), 2), np.int64)
        self.since = np.zeros(1, np.int64)
        self.transfer_adc = ADC.for_rows(1, spec.adc_bits)
        self.transfer_reads = [0] * len(self.layers)

    @classmethod
    def from_spec(cls, spec, n_in: int, n_out: int, rng: np.random.Generator) -> TTv2Learner:
        return cls(spec, n_in, n_out, rng, **cls.spec_keywords(spec))

    @staticmethod
    def spec_keywords(spec) -> dict[str, Any]:
        """The constructor's settings as a run spec gives them (lr and lr_out: read from it)."""
        return {
            "bl": spec.ttv2_bl,
            "transfer_every": spec.ttv2_transfer_every,
            "transfer_lr": spec.ttv2_transfer_lr,
            "threshold": spec.ttv2_threshold,
        }

    def _fast_array(self, shape: tuple[int, int], rng: np.random.Generator) -> Crossbar:
        """A crossbar of the same devices with every device at its symmetry point (A's zero);
        in the single scheme the fixed G- sits at G+'s symmetry point, so A reads zero there."""
        fast = Crossbar(*shape, self.device, rng, 0.0, self.spec.pulse_scheme)
        fast.g_plus[...] = symmetry_points(fast.plus)
        if self.spec.pulse_scheme == "single":
            fast.g_minus[...] = fast.g_plus
        else:
            fast.g_minus[...] = symmetry_points(fast.minus)
        return fast

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        indptr, indices = self.cached_rows(X)
        order = rng.permutation(len(X))
        labels = np.asarray(y, dtype=np.int64)
        if self.engine == "numba":
            state = TTv2State(
                slow=tuple(layer.arrays() for layer in self.layers),
                fast=tuple(layer.arrays() for layer in self.fast),
                h=self.h, chopper=self.chopper, position=self.position, since=self.since,
                mean=self.mean, past_mean=self.past_mean, switched=self.switched,
                buffers=SampleBuffers.for_layers(tuple(layer.arrays() for layer in self.layers)),
                scratch=TTv2Scratch.for_layers([layer.shape for layer in self.layers]),
            )  # fmt: skip
            counts, loss = train_epoch(
                order, indptr, indices, labels, state, self.ttv2, self.adcs, self.transfer_adc, rng
            )
            for number, layer_counts in enumerate(counts):
                self.layers[number].count_pulses(layer_counts[C_SET], layer_counts[C_RESET])
                self.fast[number].count_pulses(layer_counts[A_SET], layer_counts[A_RESET])
                self.transfer_reads[number] += int(layer_counts[READS])
        else:
            self._loss = 0.0
            bias1 = np.array([self.n_in])
            for i in order:
                rows = np.concatenate((indices[indptr[i] : indptr[i + 1]], bias1))
                self.train_sample(rows, int(labels[i]), rng)
                self.since[0] += 1
                if self.since[0] == self.ttv2.transfer_every:
                    self.since[0] = 0
                    for number in range(len(self.layers)):
                        self.transfer(number, rng)
            loss = self._loss
        stats = self.epoch_stats(loss=loss / max(len(X), 1))
        for number, fast in enumerate(self.fast, start=1):
            n_set, n_reset = fast.take_pulse_counts()
            reads, n_cols = self.transfer_reads[number - 1], fast.shape[1]
            stats.counters[f"fast_set_pulses_l{number}"] = n_set
            stats.counters[f"fast_reset_pulses_l{number}"] = n_reset
            stats.counters[f"transfer_reads_l{number}"] = reads
            stats.counters[f"transfer_conversions_l{number}"] = reads * n_cols
        self.transfer_reads = [0] * len(self.layers)
        return stats

    def train_sample(self, rows1: np.ndarray, label: int, rng: np.random.Generator) -> None:
        """Forward and errors on C (as sgd), then every layer's A update, layer 1 first."""
        activations, deltas = self.forward_errors(rows1, label, rng)
        top = len(self.layers) - 1
        for number, fast in enumerate(self.fast):
            lr = self.ttv2.lr_output if number == top else self.ttv2.lr_hidden
            if number == 0:
                rows, x = rows1, np.ones(rows1.size, DTYPE)
            else:
                x = np.append(activations[number - 1], DTYPE(1.0))
                rows = np.arange(x.size)
            self.stochastic_update(fast, rows, x, deltas[number], lr, self.chopper[number], rng)

    def stochastic_update(
        self,
        fast: Crossbar,
        rows: np.ndarray,
        x: np.ndarray,
        error: np.ndarray,
        lr: float,
        chopper: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        """A -= lr error x^T as stochastic pulse trains on `rows` (drive x): the reference of
        `ttv2_kernel.stochastic_update`, whose docstring gives the draws and their order."""
        x64, d64 = x.astype(np.float64), np.abs(error.astype(np.float64))
        if rows.size == 0 or d64.max(initial=0.0) == 0.0:
            return
        slots, row_scale, column_scale = pulse_probability_scales(
            x64.max(), d64.max(), lr, self.ttv2.dw_min, self.ttv2.bl
        )
        lowers = chopper < 0
        for _ in range(slots):
            row_fired = _fires(x64 * row_scale, rng)
            column_fired = _fires(d64 * column_scale, rng)
            fired_rows, fired_columns = rows[row_fired], np.flatnonzero(column_fired)
            index = (fired_rows[:, None] * error.size + fired_columns[None, :]).ravel()
            raised = (error[fired_columns] < 0)[None, :] != lowers[fired_rows][:, None]
            fast.apply(index, raised.ravel(), rng)

    def transfer(self, number: int, rng: np.random.Generator) -> None:
        """One transfer of layer `number`: the reference of `ttv2_kernel.transfer`."""
        fast, slow = self.fast[number], self.layers[number]
        h, chopper = self.h[number], self.chopper[number]
        mean, past, switched = self.mean[number], self.past_mean[number], self.switched[number]
        row, sweeps = self.position[number]
        rate, every = self.ttv2.mean_rate, self.ttv2.chop_every
        dynamic = rate > 0
        if dynamic and switched[row]:
            switched[row] = False
            past[row] = mean[row]
        current = fast.read_rows(np.array([row]), rng)
        reading = self.transfer_adc.codes(current).astype(DTYPE) * self.transfer_adc.lsb
        value = reading - past[row] if dynamic else reading
        if chopper[row] < 0:
            value = -value
        h[row] += self.ttv2.transfer_lr * value
        if dynamic:
            mean[row] = mean[row] * (DTYPE(1.0) - rate) + reading * rate
        threshold = self.ttv2.threshold
        up, down = h[row] > threshold, h[row] < -threshold
        h[row] = np.where(up, h[row] - threshold, np.where(down, h[row] + threshold, h[row]))
        columns = np.flatnonzero((up | down) & (not dynamic or sweeps > every))
        slow.pulse_trains(row * h.shape[1] + columns, np.where(up[columns], 1, -1), rng)
        if every > 0 and sweeps % every + 1 == every:
            chopper[row] = -chopper[row]
            switched[row] = dynamic
        self.position[number] = (row + 1, sweeps) if row + 1 < h.shape[0] else (0, sweeps + 1)
        self.transfer_reads[number] += 1

    def buffer_bits(self) -> list[int]:
        """Digital storage per layer: H, float32 per weight, and one chopper bit per row; AGAD
        adds the running mean and the reference, float32 per weight, and a flag bit per row."""
        entries, row_bits = (3, 2) if self.ttv2.mean_rate > 0 else (1, 1)
        chopped = self.ttv2.chop_every > 0
        return [32 * entries * h.size + (row_bits * h.shape[0] if chopped else 0) for h in self.h]

    def state(self) -> dict[str, np.ndarray]:
        arrays = super().state()
        for number, (fast, h) in enumerate(zip(self.fast, self.h, strict=True), start=1):
            arrays[f"A_plus_l{number}"] = fast.g_plus
            arrays[f"A_minus_l{number}"] = fast.g_minus
            arrays[f"H_l{number}"] = h
            if self.ttv2.mean_rate > 0:
                arrays[f"mean_l{number}"] = self.mean[number - 1]
                arrays[f"reference_l{number}"] = self.past_mean[number - 1]
        return arrays


def _positive(name: str, value: float | None, default: float) -> float:
    """`value`, or `default` where it is None; a one-line error unless it is > 0."""
    value = default if value is None else value
    if not value > 0:
        raise ConfigError(f"{name}: must be > 0, got {value}")
    return float(value)


def _fires(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One slot of pulse trains of probabilities p (`ttv2_kernel.fires`, element by element):
    one uniform draw for each p in (0, 1), in order."""
    fired = p >= 1.0
    drawn = (p > 0.0) & (p < 1.0)
    fired[drawn] = rng.random(np.count_nonzero(drawn)) < p[drawn]
    return fired


SEARCH_SPACE = (
    Dimension(
        "lr",
        "A's hidden rate, not a weight's: best 0.1-0.4 on PCMO, 5 on the ideal preset, 10 falling",
        "log",
        0.05,
        10.0,
    ),
    Dimension(
        "lr_out",
        "A's output rate: at chance up to 0.5 on the ideal preset, best from 10 on (30 as 10)",
        "log",
        0.1,
        30.0,
    ),
    INIT_SPREAD,
    Dimension(
        "ttv2_transfer_lr",
        "the rate from A into H: 0.01 won on the digits, 0.05 and above collapsed",
        "log",
        0.002,
        0.05,
    ),
    Dimension(
        "ttv2_bl",
        "pulse-train length: aihwkit's default 31, halved and doubled",
        "categorical",
        choices=(15, 31, 63),
    ),  # fmt: skip
)
"""TTv2's search space, c-TTv2's and AGAD's too: A's rates, C's initial spread and the
transfer's. A's rates have ranges of their own: sgd's (up to 2 and 1) left TTv2 at chance on
the ideal preset, where it reaches 93 % at higher rates (MNIST validation, 4 epochs;
docs/ttv2_and_mixed_precision.md, "A's rates")."""


METHOD = Method(
    name="ttv2",
    learner=TTv2Learner,
    classifier="TTv2Classifier",
    summary=(
        "Tiki-Taka v2: stochastic pulse trains into a fast array A, transferred row by row into "
        "the weights C through a digital buffer H (Gokmen 2021)."
    ),
    settings=TTv2Fields,
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,  # its epoch takes a tuple of crossbars
    cost_design="ttv2",
    style={"label": "TTv2", "marker": "v", "colour": 4},
    search_space=SEARCH_SPACE,
)
