"""`sgd`: conventional on-chip backpropagation in the crossbar, as MLP+NeuroSim V3 trains it.

The design SBP is measured against (Chen et al., "NeuroSim", IEEE TCAD 37(12), 2018; the rule as
the public MLP+NeuroSim V3.0 code applies it), per training sample, for L layers (NeuroSim has
two; deeper networks repeat its hidden layer):

1. forward: binary read pulses on layer 1's rows; every column current is digitised by an ADC of
   `adc_bits` over the column's full range, +-n_rows weight units; the digital periphery takes the
   sigmoid of each code, a_l = sigmoid(q(z_l)); hidden neurons drive the next layer with binary
   pulses, h_l = 1[q(z_l) >= theta] (NeuroSim's Hthreshold of 0.5 on the sigmoid is theta = 0);
   the output currents are digitised likewise, a_L = sigmoid(q(z_L)), and the largest code wins;
2. errors, digital and in full precision (multipliers, stored multi-bit activations):
   s_L = -2 a_L (1 - a_L)(t - a_L) for the one-hot target t, then downwards
   s_l = a_l (1 - a_l) W_{l+1} s_{l+1}, with W_{l+1} the weights the devices hold before the
   update;
3. update, layer 1 first: dW_1 = -lr s_1 [x; 1]^T, dW_l = -lr s_l [a_{l-1}; 1]^T for the hidden
   layers above it and dW_L = -lr_out s_L [a_{L-1}; 1]^T (the analog activations below, as
   NeuroSim's output layer); each pair's change becomes a whole number of pulses of the nominal
   step, rounded half away from zero and capped at the device's range, and every pulse goes
   through the device physics on its own (nonlinear response, its own cycle-to-cycle draw and
   clipping; D2D and stuck devices as drawn), every device pulse counted.

Where this differs from NeuroSim, and why (docs/method.md, "Baselines"): the same differential-pair
crossbars as every crossbar learner here (NeuroSim: one device against a reference column; the
nominal step, 2 / (n_states - 1) in weights in [-1, 1], is the same), a bias row (NeuroSim has
none), one ADC on the differential current (NeuroSim digitises cell and reference currents
separately and feeds half the weighted sum to the sigmoid), noise drawn per pulse (NeuroSim: one
draw of sigma sqrt(n) per write) and initial weights spread over [-1, 1] by uniform conductances
(NeuroSim: uniform over the seven levels k/3). Both multiply layer 1's update by a binary x:
NeuroSim binarizes its input pixels on load (its IO.cpp). NeuroSim's cell, gain, initial write
and pulse count are spec fields (`pulse_scheme: reference`, `sigmoid_gain`, `init_levels`,
`init_write`, `pulse_cast`), which reproduce its own code's accuracy within the spread of a seed
on 6 of its 7 devices (docs/neurosim_validation.md, with each mechanism's measured effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbp_core import fields
from sbp_core.chip.crossbar import DTYPE
from sbp_core.errors import ConfigError
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.crossbar_mlp import CrossbarMLP
from sbp_core.methods.sgd_kernel import (
    ADC,
    RESET,
    SET,
    SampleBuffers,
    SGDSettings,
    train_epoch,
)
from sbp_core.tuning.space import Dimension


@dataclass(frozen=True)
class SGDFields:
    """The run-spec fields of on-chip SGD's periphery (docs/method.md, "Baselines"); the rules
    built on it (ttv2, cttv2, agad, mixed_precision) read them too, their settings subclassing
    these."""

    adc_bits: int = fields.number(8, low=1, high=16, unit="bits")
    """Methods sgd, ttv2, cttv2, agad, mixed_precision only: bits of the ADC that digitises each
    column current over its full range, +-(rows) weight units."""
    lr_out: float | None = fields.number(None, above=0.0, unit="per step")
    """Methods sgd, ttv2, cttv2, agad, mixed_precision only: learning rate of the output layer
    (NeuroSim's alpha2; lr is its alpha1); None: the method's measured value."""


@dataclass(frozen=True)
class SGDOwnFields(SGDFields):
    """sgd's own fields beyond its periphery's: the mechanisms of its NeuroSim-compatible reading
    (docs/neurosim_validation.md, "The NeuroSim-compatible reading"), off by default."""

    sigmoid_gain: float = fields.number(1.0, above=0.0, unit="per weight unit")
    """Method sgd only: slope of the digital sigmoid on the digitised sum. NeuroSim's integer
    read feeds half the weighted sum to its sigmoid, which 0.5 reproduces."""
    init_levels: int = fields.number(0, low=0, unit="levels")
    """Method sgd only, with pulse_scheme reference: 0 spreads the initial conductances uniformly
    (init_spread); k >= 2 draws each initial weight from k levels evenly spaced over
    [-init_spread, init_spread] (NeuroSim: 7, steps of 1/3) and writes it as init_write says."""
    init_write: str = fields.choice("exact", ("exact", "neurosim"))
    """Method sgd only, with init_levels: `exact` writes the conductance whose read gives the
    drawn weight back; `neurosim` writes (w + 1) / 2 (Gmax - Gmin) without adding Gmin, as
    MLP+NeuroSim V3.0's ideal write does, so weights read back low (its Array.cpp)."""

    bias_row: bool = True
    """Method sgd only: false holds every crossbar's bias row at weight 0 and never pulses it,
    as if absent (MLP+NeuroSim V3.0 has no bias)."""
    pulse_cast: str = fields.choice("exact", ("exact", "neurosim"))
    """Method sgd only: `exact` applies the rounded pulse count k; `neurosim` applies what
    MLP+NeuroSim V3.0's Cell.cpp stores in its integer pulse count, int((k / N) * N) in double
    precision with N = n_states - 1, which is k - 1 for some k (N = 97: 7, 14, 25, ...)."""

    def __post_init__(self) -> None:
        if self.init_levels == 1:
            raise ConfigError("init_levels must be 0 (uniform conductances) or at least 2, got 1")


class SGDLearner(CrossbarMLP):
    """On-chip SGD on a crossbar per layer, one sample at a time in the order drawn from rng.

    `engine="numba"` (every run) trains through `sgd_kernel.train_epoch`; `engine="numpy"` is the
    readable reference `train_sample`, kept for the tests. Both do the same float32 operations.
    """

    default_lr, default_lr_out = 0.4, 0.2
    """Rates where the spec leaves lr and lr_out at None: NeuroSim's alpha1 and alpha2 (its
    Param.cpp), tuned by NeuroSim on MNIST. On the digits' validation split (10 epochs, 32 hidden,
    seed 0) they also win: 89.7 % against 88.2 % at (0.2, 0.1), 87.5 % at (1.0, 0.5) and 76.5 % at
    (2.0, 1.0)."""

    default_init_spread = 1.0
    """Initial weights spread over [-1, 1], as NeuroSim draws them (levels of 1/3 there). Near
    zero (0.1), layer 1's currents stay within one ADC code on few-state devices and the network
    never leaves chance (NeuroSim's setting, HZO FeFET, 32 states, 6 epochs, seed 0: 9-14 %
    validation accuracy against 73 % at 1.0)."""

    def __init__(self, spec, n_in, n_out, rng, engine: str = "numba") -> None:
        super().__init__(spec, n_in, n_out, rng)
        self.engine = engine
        gain = spec.sigmoid_gain  # 1 for the rules on sgd's periphery (not their field)
        self.adcs = tuple(ADC.for_rows(bar.shape[0], spec.adc_bits, gain) for bar in self.layers)
        if spec.init_levels:
            self._write_initial_levels(rng)
        if not spec.bias_row:  # its weight 0: G+ where G- is (stuck devices stay stuck)
            for bar in self.layers:
                free = bar.plus.stuck[-1] == 0
                bar.g_plus[-1] = np.where(free, bar.g_minus[-1], bar.g_plus[-1])
        pulse_weight = (2.0 if spec.pulse_scheme == "pair" else 1.0) * self.device.step
        self.rule = SGDSettings(
            theta=DTYPE(spec.theta),
            step_hidden=DTYPE(-(spec.lr or self.default_lr)),
            step_output=DTYPE(-(spec.lr_out or self.default_lr_out)),
            weight_step=DTYPE(pulse_weight * self.layers[0].scale),
            max_pulses=self.device.n_states - 1,
            bias_drive=DTYPE(1.0 if spec.bias_row else 0.0),
            neurosim_cast=spec.pulse_cast == "neurosim",
        )
        self._loss = 0.0

    def _write_initial_levels(self, rng: np.random.Generator) -> None:
        """Each layer's initial weights drawn from init_levels levels over [-spread, spread] and
        written into its G+ devices as init_write says (stuck devices stay at their bound)."""
        spec = self.spec
        if spec.pulse_scheme != "reference":
            raise ConfigError(
                f"init_levels applies to pulse_scheme reference only, not {spec.pulse_scheme!r}"
            )
        spread = self.default_init_spread if spec.init_spread is None else spec.init_spread
        for bar in self.layers:
            levels = rng.integers(spec.init_levels, size=bar.shape)
            weight = spread * (2.0 * levels / (spec.init_levels - 1) - 1.0)
            devices = bar.plus
            if spec.init_write == "exact":
                g = bar.conductance_read_as(weight)
            else:  # NeuroSim's ideal write: the weight's fraction of the range, Gmin left out
                g = (weight + 1.0) / 2.0 * (devices.g_hi - devices.g_lo)
            g = np.clip(g, devices.g_lo, devices.g_hi)
            bar.g_plus[...] = np.where(devices.stuck == 0, g, bar.g_plus)

    def hidden_response(self, current: np.ndarray, layer: int) -> np.ndarray:
        """Binary drive of the next layer: 1 where the digitised current reaches theta."""
        adc = self.adcs[layer]
        return (adc.codes(current).astype(DTYPE) * adc.lsb >= self.rule.theta).astype(DTYPE)

    def output_response(self, current: np.ndarray) -> np.ndarray:
        """The output ADC codes (in weight units): the winner is the largest code."""
        adc = self.adcs[-1]
        return adc.codes(current).astype(DTYPE) * adc.lsb

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        indptr, indices = self.cached_rows(X)
        order = rng.permutation(len(X))
        if self.engine == "numba":
            layers = tuple(layer.arrays() for layer in self.layers)
            counts, loss = train_epoch(
                order, indptr, indices, np.asarray(y, dtype=np.int64), layers, self.rule,
                self.adcs, rng, SampleBuffers.for_layers(layers),
            )  # fmt: skip
            for layer, layer_counts in zip(self.layers, counts, strict=True):
                layer.count_pulses(layer_counts[SET], layer_counts[RESET])
        else:
            loss = self.reference_epoch(order, indptr, indices, y, rng)
        return self.epoch_stats(loss=loss / max(len(X), 1))

    def reference_epoch(self, order, indptr, indices, y, rng: np.random.Generator) -> float:
        """The readable path of an epoch: `train_sample` on each sample of `order` (its active
        rows and the bias row); returns the summed loss. Rules built on sgd share it."""
        self._loss = 0.0
        bias1 = np.array([self.n_in])
        for i in order:
            rows = np.concatenate((indices[indptr[i] : indptr[i + 1]], bias1))
            self.train_sample(rows, int(y[i]), rng)
        return self._loss

    def train_sample(self, rows1: np.ndarray, label: int, rng: np.random.Generator) -> None:
        """Forward through every layer's ADCs, full-precision errors, one pulse-train update per
        layer."""
        layers = self.layers
        activations, deltas = self.forward_errors(rows1, label, rng)
        column_pulses = self.pulse_counts(self.rule.step_hidden * deltas[0])
        columns = np.flatnonzero(column_pulses)
        learning = rows1 if self.rule.bias_drive != 0 else rows1[:-1]  # the bias row is last
        index = (learning[:, None] * self.widths[0] + columns[None, :]).ravel()
        layers[0].pulse_trains(index, np.tile(column_pulses[columns], learning.size), rng)
        for number in range(1, len(layers)):
            last = number == len(layers) - 1
            step = self.rule.step_output if last else self.rule.step_hidden
            drive = np.append(activations[number - 1], self.rule.bias_drive)
            pulses = self.pulse_counts(drive[:, None] * (step * deltas[number])[None, :]).ravel()
            index = np.flatnonzero(pulses)
            layers[number].pulse_trains(index, pulses[index], rng)

    def forward_errors(
        self, rows1: np.ndarray, label: int, rng: np.random.Generator
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Forward through every layer's ADCs and the full-precision errors, with the weights
        before the update: (sigmoid activations, s_l) per layer, input side first. Every rule
        on this periphery (sgd, ttv2, mixed_precision) learns from them."""
        layers, adcs = self.layers, self.adcs
        rows, activations = [rows1], []  # per layer: the rows driven, sigmoid of its codes
        for number, (layer, adc) in enumerate(zip(layers, adcs, strict=True)):
            codes = adc.codes(layer.read_rows(rows[number], rng))
            activations.append(adc.sigmoid[codes + adc.half])
            if number + 1 < len(layers):
                fired = np.flatnonzero(codes.astype(DTYPE) * adc.lsb >= self.rule.theta)
                rows.append(np.append(fired, self.widths[number]))  # and the bias row

        output = activations[-1]
        target = np.zeros(self.n_out, dtype=DTYPE)
        target[label] = 1
        miss = target - output
        for value in miss * miss:
            self._loss += float(value)
        deltas: list[np.ndarray | None] = [None] * len(layers)  # s_l of each layer's columns
        deltas[-1] = ((DTYPE(-2.0) * output) * (1 - output)) * miss
        for number in range(len(layers) - 1, 0, -1):  # with the weights before the update
            weights, below = layers[number].weights(), activations[number - 1]
            back = np.zeros(below.size, dtype=DTYPE)
            for k in range(weights.shape[1]):  # column by column: the order the kernel sums in
                back += weights[:-1, k] * deltas[number][k]
            deltas[number - 1] = (below * (1 - below)) * back
        return activations, deltas

    def pulse_counts(self, delta: np.ndarray) -> np.ndarray:
        """`sgd_kernel.pulse_count` for an array of weight changes."""
        n = np.floor(np.abs(delta / self.rule.weight_step) + DTYPE(0.5))
        n = np.minimum(n, DTYPE(self.rule.max_pulses)).astype(np.int64)
        if self.rule.neurosim_cast:
            levels = self.rule.max_pulses
            n = (n.astype(np.float64) / levels * levels).astype(np.int64)
        return np.where(delta > 0, n, -n)


INIT_SPREAD = Dimension(
    "init_spread", "initial weights from near zero to NeuroSim's [-1, 1]", "linear", 0.1, 1.0
)
"""The initial weights' spread, searched by every rule on sgd's periphery."""
SEARCH_SPACE = (
    Dimension("lr", "hidden-layer rate around NeuroSim's 0.4", "log", 0.05, 2.0),
    Dimension("lr_out", "output-layer rate around NeuroSim's 0.2", "log", 0.02, 1.0),
    INIT_SPREAD,
)
"""sgd's search space (docs/tuning_protocol.md); mixed precision searches it too."""


METHOD = Method(
    name="sgd",
    learner=SGDLearner,
    classifier="OnChipSGDClassifier",
    summary=(
        "Conventional on-chip backpropagation (ADC reads, digital errors, multi-pulse updates)."
    ),
    settings=SGDOwnFields,
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,
    cost_design="conventional",
    style={"label": "on-chip SGD", "marker": "s", "colour": 1},
    search_space=SEARCH_SPACE,
)
