"""Sign backpropagation (Zhang et al., Neural Networks 108, 2018) as read in the docs/method.md.

Per training sample, all in the crossbars' own terms, for L layers (L - 1 hidden):

1. forward: binary inputs drive rows of layer 1; the comparators of hidden layer l,
   h_l = 1[a_l > theta], drive the rows of layer l + 1; the output currents a_L decide the class
   (winner-take-all);
2. output error, ternary: d_L,k = +1 if k is the target and a_L,k < margin_hi, -1 if k is not
   the target and a_L,k > margin_lo, else 0 (two comparators per output);
3. hidden errors, layer by layer downwards: d_{l+1} drives the columns of layer l + 1, its rows
   are read (s_l = W_{l+1} d_{l+1}, the bias row dropped: no neuron behind it) and ternarized,
   d_l = sign(s_l) 1[|s_l| > error_threshold], gated to neurons with |a_l - theta| < gate_window;
   every backward read uses the weights before this sample's update, and where a layer's error
   is all zero, the layers below it get none (nothing to read back);
4. update: in every layer, every device pair whose row carried a 1 and whose column error is
   non-zero gets one pulse in the direction of that error, the whole crossbar in parallel
   (output layer first).

Only 1 bit per neuron is stored forward and 2 bits backward; no ADC, DAC or multiplier.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sbp_core import fields
from sbp_core.chip.refresh import RefreshCounts, refresh
from sbp_core.errors import ConfigError
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.crossbar_mlp import CrossbarMLP
from sbp_core.tuning.space import Dimension

if TYPE_CHECKING:
    from sbp_core.spec import RunSpec


PULSE_RNGS = ("pair", "line")
"""Where SBP's stochastic pulses draw their random numbers (`SBPFields.pulse_rng`)."""


@dataclass(frozen=True)
class SBPFields:
    """The run-spec fields of SBP's own rule (docs/method.md); other methods leave them at
    these defaults."""

    margin_hi: float = fields.number(0.5, unit="weight units")
    """Output error +1 when the target column's current is below this margin."""
    margin_lo: float = fields.number(-0.5, unit="weight units")
    """Output error -1 when a non-target column's current is above this margin."""
    error_threshold: float = fields.number(0.05, low=0.0, unit="weight units")
    """Hidden error d = sign(s) 1[|s| > error_threshold], s the next layer's error read back
    through its crossbar (s = W2^T e with one hidden layer)."""
    gate_window: float = fields.number(1.0, low=0.0, unit="weight units")
    """Hidden error only where |a - theta| < gate_window (a the neuron's current); 0 disables
    the gate."""
    pulse_prob_final: float | None = fields.number(
        None, above=0.0, high=1.0, unit="per coincidence"
    )
    """Method sbp only: the pulse probability decays geometrically from pulse_prob in the first
    epoch to this in the last (a learning-rate schedule); None: pulse_prob throughout."""
    pulse_rng: str = fields.choice("pair", PULSE_RNGS)
    """Method sbp only, with pulse_prob < 1: `pair` draws for every coincident pair on its own
    (a generator per device, which the cost model does not price); `line` draws once per driven
    row and once per error column, each firing with probability sqrt(pulse_prob), and pulses a
    pair where both fired: the LFSR per line that the cost model's `pulse_rng` prices, whose
    pulses in one row or column fire together (docs/cost_model.md)."""
    refresh_every: int = fields.number(0, low=0, unit="samples")
    """Method sbp only: training samples between pair-refresh cycles (sbp_core.chip.refresh), which
    rewrite each pair whose larger device passed refresh_level onto one device; 0: never."""
    refresh_level: float = fields.number(0.9, above=0.0, high=1.0, unit="fraction of G range")
    """Method sbp only: a refresh cycle rewrites the pairs whose larger device reads at least
    this fraction of the nominal range above Gmin."""

    def __post_init__(self) -> None:
        if self.margin_lo > self.margin_hi:
            raise ConfigError(
                f"margin_lo ({self.margin_lo}) must not exceed margin_hi ({self.margin_hi})"
            )


class SBPLearner(CrossbarMLP):
    """Sign backpropagation on a crossbar per layer; per-sample updates in the order drawn from
    rng.

    `engine="numba"` (the default, used by every run) trains through the compiled loop in
    `sbp_kernel.py`; `engine="numpy"` is the readable reference below (`train_sample`), kept
    for tests and the speed benchmark. Both perform the same float32 operations.
    """

    def __init__(self, spec, n_in, n_out, rng, engine: str = "numba") -> None:
        super().__init__(spec, n_in, n_out, rng)
        self.engine = engine
        self.epochs_done = 0
        self.since_refresh = 0
        """Training samples since the last refresh cycle (counted across epochs)."""

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        indptr, indices = self.cached_rows(X)
        order = rng.permutation(len(X))
        rule = dataclasses.replace(self.spec, pulse_prob=self.pulse_probability())
        refreshes = [np.zeros(len(RefreshCounts._fields), dtype=np.int64) for _ in self.layers]
        for chunk, refresh_due in self._between_refreshes(order):
            if self.engine == "numba":
                self._fit_compiled(chunk, indptr, indices, y, rule, rng)
            else:
                bias1 = np.array([self.n_in])
                for i in chunk:
                    rows = np.concatenate((indices[indptr[i] : indptr[i + 1]], bias1))
                    self.train_sample(rows, int(y[i]), rng, rule)
            if refresh_due:
                for layer, total in zip(self.layers, refreshes, strict=True):
                    total += refresh(layer, self.spec.refresh_level, rng)
        self.epochs_done += 1
        stats = self.epoch_stats()
        if self.spec.refresh_every:
            for number, total in enumerate(refreshes, start=1):
                counts = RefreshCounts(*total.tolist())
                stats.counters[f"refresh_reads_l{number}"] = counts.reads
                stats.counters[f"refreshed_pairs_l{number}"] = counts.pairs
        return stats

    def pulse_probability(self) -> float:
        """This epoch's pulse probability: pulse_prob, decaying geometrically to
        pulse_prob_final in the last epoch when that is set."""
        spec = self.spec
        if spec.pulse_prob_final is None or spec.epochs == 1:
            return spec.pulse_prob
        progress = min(self.epochs_done, spec.epochs - 1) / (spec.epochs - 1)
        return spec.pulse_prob * (spec.pulse_prob_final / spec.pulse_prob) ** progress

    def _between_refreshes(self, order: np.ndarray) -> Iterator[tuple[np.ndarray, bool]]:
        """The epoch's samples in runs that end where a refresh cycle is due (True)."""
        every = self.spec.refresh_every
        if not every:
            yield order, False
            return
        start = 0
        while start < order.size:
            stop = min(order.size, start + every - self.since_refresh)
            self.since_refresh += stop - start
            due = self.since_refresh == every
            if due:
                self.since_refresh = 0
            yield order[start:stop], due
            start = stop

    def _fit_compiled(self, order, indptr, indices, y, rule, rng: np.random.Generator) -> None:
        from sbp_core.methods import sbp_kernel  # numba's cache loads only when SBP runs

        counts = sbp_kernel.train_epoch(
            order, indptr, indices, np.asarray(y, dtype=np.int64),
            tuple(layer.arrays() for layer in self.layers),
            sbp_kernel.SBPSettings.from_spec(rule), rng,
        )  # fmt: skip
        for layer, layer_counts in zip(self.layers, counts, strict=True):
            layer.count_pulses(layer_counts[sbp_kernel.SET], layer_counts[sbp_kernel.RESET])

    def train_sample(
        self, rows1: np.ndarray, label: int, rng: np.random.Generator, rule: RunSpec | None = None
    ) -> None:
        """One forward pass, ternary errors and one parallel pulse update for one sample; `rule`
        holds the settings (`fit_epoch` passes the spec with this epoch's pulse probability),
        the run's spec by default."""
        spec, layers = rule or self.spec, self.layers
        rows, currents = [rows1], []  # per layer: the rows driven, the column currents read
        for number, layer in enumerate(layers):
            currents.append(layer.read_rows(rows[number], rng))
            if number + 1 < len(layers):
                fired = np.flatnonzero(currents[number] > spec.theta)
                rows.append(np.append(fired, self.widths[number]))  # and the bias row

        errors: list[np.ndarray | None] = [None] * len(layers)  # ternary, on each layer's columns
        errors[-1] = output_error(currents[-1], label, spec.margin_hi, spec.margin_lo)
        if not errors[-1].any():
            return
        lowest = len(layers) - 1  # the lowest layer with an error to learn from
        while lowest > 0:
            s = layers[lowest].read_columns(errors[lowest], rng)[:-1]  # the bias row: no neuron
            hidden_error = ternarize(s, spec.error_threshold)
            if spec.gate_window > 0:
                hidden_error[np.abs(currents[lowest - 1] - spec.theta) >= spec.gate_window] = 0
            if not hidden_error.any():
                break
            lowest -= 1
            errors[lowest] = hidden_error

        for number in range(len(layers) - 1, lowest - 1, -1):
            per_line = spec.pulse_rng == "line"
            layers[number].pulse(rows[number], errors[number], rng, spec.pulse_prob, per_line)


def output_error(current: np.ndarray, label: int, margin_hi: float, margin_lo: float) -> np.ndarray:
    """Ternary output error from two comparators per output column."""
    error = np.where(current > margin_lo, -1, 0).astype(np.int8)
    error[label] = 1 if current[label] < margin_hi else 0
    return error


def ternarize(signal: np.ndarray, threshold: float) -> np.ndarray:
    """sign(signal) where |signal| > threshold, else 0, as int8."""
    out = np.sign(signal).astype(np.int8)
    out[np.abs(signal) <= threshold] = 0
    return out


METHOD = Method(
    name="sbp",
    learner=SBPLearner,
    classifier="SBPClassifier",
    summary="Sign backpropagation on a simulated RRAM crossbar.",
    settings=SBPFields,
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,
    cost_design="sbp",
    style={"label": "SBP", "marker": "o", "colour": 0},
    search_space=(
        Dimension(
            "pulse_scheme",
            "set-only pulses avoid a device's RESET branch (docs/method.md, "
            "'On real devices'); pair is the paper's",
            "categorical",
            choices=("pair", "set_only"),
        ),
        Dimension(
            "pulse_prob",
            "the stochastic learning rate: 1 is the paper's, 0.1 won set-only on MNIST",
            "log",
            0.05,
            1.0,
        ),
        Dimension(
            "pulse_prob_final",
            "the last epoch's probability of the geometric "
            "schedule; up to 1 (no decay below pulse_prob 1)",
            "log",
            0.005,
            1.0,
        ),
        Dimension(
            "margin_hi",
            "wider margins spread the weights over more of the range, "
            "around the default 0.5 and the wide 2",
            "log",
            0.25,
            4.0,
        ),
        Dimension("margin_lo", "the mirror of margin_hi, always below it", "linear", -4.0, -0.25),
        Dimension(
            "gate_window",
            "which hidden neurons learn: around the default 1 and the wide 2",
            "log",
            0.25,
            4.0,
        ),
        Dimension(
            "error_threshold",
            "how strong a read-back error must be to count, around the default 0.05",
            "log",
            0.01,
            0.5,
        ),
        Dimension(
            "refresh_every",
            "samples between pair refreshes; 0 never, 1,000 chosen for set-only on MNIST",
            "categorical",
            choices=(0, 250, 1000, 4000),
        ),
        Dimension(
            "refresh_level", "how high a pair may climb before it is rewritten", "linear", 0.5, 0.95
        ),
    ),
)
