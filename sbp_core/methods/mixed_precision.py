"""Mixed-precision on-chip training (Nandakumar et al., Front. Neurosci. 14, 2020) on the crossbars.

Per training sample, on the same periphery as on-chip SGD (`sgd.py`: binary drive, ADCs, digital
sigmoid, full-precision errors s_l), the weight change dW_l = -lr s_l [x; 1]^T (lr_out for the
output layer; the binary x in layer 1, the sigmoid activations below the upper layers)
accumulates in a digital matrix chi, one entry per weight. Wherever |chi| reaches the nominal
weight change of one pair pulse, epsilon (2 / (n_states - 1) in the pair scheme, half that in
the single one), the pair gets n = floor(|chi| / epsilon) pulses in the direction of chi (at
most n_states - 1, as sgd), through the device physics one at a time, and chi loses the n
epsilon those pulses are meant to apply: what the device really did is not read back, as in
the paper. Entries are checked where this sample changed them (every column of the driven
rows), layer 1 first, row by row.
"""

from __future__ import annotations

import numpy as np

from sbp_core.chip.crossbar import DTYPE
from sbp_core.chip.engine import layer_layout
from sbp_core.errors import ConfigError
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.mixed_precision_kernel import RESET, SET, train_epoch
from sbp_core.methods.sgd import SEARCH_SPACE, SGDFields, SGDLearner
from sbp_core.methods.sgd_kernel import SampleBuffers


class MixedPrecisionLearner(SGDLearner):
    """Mixed precision, one sample at a time in the order drawn from rng; `chi` holds each
    layer's accumulated weight change (float32, weight units).

    `engine="numba"` trains through `mixed_precision_kernel.train_epoch`; `engine="numpy"` is the
    readable reference `train_sample`, kept for the tests.
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
        engine: str = "numba",
    ) -> None:
        super().__init__(spec, n_in, n_out, rng, engine=engine)
        for name, value in (("lr", lr), ("lr_out", lr_out)):
            if value is not None and not value > 0:
                raise ConfigError(f"{name}: must be > 0, got {value}")
        self.rule = self.rule._replace(
            step_hidden=DTYPE(-(lr or spec.lr or self.default_lr)),
            step_output=DTYPE(-(lr_out or spec.lr_out or self.default_lr_out)),
        )
        self.chi = tuple(np.zeros(layer.shape, DTYPE) for layer in self.layers)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        indptr, indices = self.cached_rows(X)
        order = rng.permutation(len(X))
        if self.engine == "numba":
            layers = tuple(layer.arrays() for layer in self.layers)
            biggest = layer_layout(layers)[2]
            scratch = (
                np.empty(biggest, np.int64), np.empty(biggest, np.int64),
                np.empty(biggest, np.int64), np.empty(biggest, np.bool_),
            )  # fmt: skip
            counts, loss = train_epoch(
                order, indptr, indices, np.asarray(y, dtype=np.int64),
                layers, self.chi, self.rule, self.adcs, rng, SampleBuffers.for_layers(layers),
                scratch,
            )  # fmt: skip
            for layer, layer_counts in zip(self.layers, counts, strict=True):
                layer.count_pulses(layer_counts[SET], layer_counts[RESET])
        else:
            loss = self.reference_epoch(order, indptr, indices, y, rng)
        return self.epoch_stats(loss=loss / max(len(X), 1))

    def train_sample(self, rows1: np.ndarray, label: int, rng: np.random.Generator) -> None:
        """Forward and errors (as sgd), then chi and the pulses it owes, layer by layer."""
        activations, deltas = self.forward_errors(rows1, label, rng)
        top = len(self.layers) - 1
        for number, (layer, chi) in enumerate(zip(self.layers, self.chi, strict=True)):
            if number == 0:
                rows = rows1
                chi[rows] += (self.rule.step_hidden * deltas[0])[None, :]
            else:
                step = self.rule.step_output if number == top else self.rule.step_hidden
                drive = np.append(activations[number - 1], DTYPE(1.0))
                rows = np.arange(drive.size)
                chi += (step * deltas[number])[None, :] * drive[:, None]
            index = (rows[:, None] * chi.shape[1] + np.arange(chi.shape[1])[None, :]).ravel()
            pulses = self.settle(chi.reshape(-1), index)
            owed = np.flatnonzero(pulses)
            layer.pulse_trains(index[owed], pulses[owed], rng)

    def settle(self, chi: np.ndarray, index: np.ndarray) -> np.ndarray:
        """`mixed_precision_kernel.settle` for the entries chi[index] of a flat chi."""
        value = chi[index]
        step = self.rule.weight_step
        n = np.minimum(np.floor(np.abs(value) / step), DTYPE(self.rule.max_pulses))
        n[np.abs(value) < step] = 0  # |chi| / step may round up to 1 just below a step
        chi[index] = np.where(value > 0, value - n * step, value + n * step)
        return np.where(value > 0, n, -n).astype(np.int64)

    def buffer_bits(self) -> list[int]:
        """Digital storage per layer: chi, float32 per weight."""
        return [32 * chi.size for chi in self.chi]

    def state(self) -> dict[str, np.ndarray]:
        arrays = super().state()
        for number, chi in enumerate(self.chi, start=1):
            arrays[f"chi_l{number}"] = chi
        return arrays


METHOD = Method(
    name="mixed_precision",
    learner=MixedPrecisionLearner,
    classifier="MixedPrecisionClassifier",
    summary=(
        "Mixed precision: the gradient accumulates in a digital chi per weight, pulses where "
        "|chi| reaches a nominal step (Nandakumar et al. 2020)."
    ),
    settings=SGDFields,  # on-chip SGD's periphery and rates (lr, lr_out) and nothing of its own
    counts_pulses=True,
    on_chip=True,
    depth_compiled=True,  # its epoch takes a tuple of crossbars
    cost_design="mixed_precision",
    style={"label": "mixed precision", "marker": "P", "colour": 6},
    search_space=SEARCH_SPACE,  # its rates are sgd's, applied through chi
)
