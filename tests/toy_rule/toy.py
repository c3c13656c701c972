"""`toy`: a made-up on-chip rule, only for tests/test_methods.py, which puts this folder on the
search path of sbp_core.methods to show that a rule is one module (docs/adding_a_rule.md).

Per sample, the hidden comparators as every crossbar learner has them, and only the output layer
learns: the target column gets one SET-direction pulse where its current is below `toy_margin`,
on every row that carried a 1 (and the bias row). No other column moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sbp_core.fields import number
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.crossbar_mlp import CrossbarMLP


@dataclass(frozen=True)
class ToyFields:
    """The toy rule's own field."""

    toy_margin: float = number(0.5, low=0.0, unit="weight units")
    """Method toy only: the target column is pulsed up while its current is below this."""


class ToyLearner(CrossbarMLP):
    """The target column of the output layer, pulsed up below the margin (readable numpy)."""

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        for i in rng.permutation(len(X)):
            rows = np.append(np.flatnonzero(X[i]), self.n_in)
            for layer, hidden in zip(self.layers[:-1], self.widths, strict=True):
                fired = np.flatnonzero(layer.read_rows(rows, rng) > self.spec.theta)
                rows = np.append(fired, hidden)
            output = self.layers[-1]
            error = np.zeros(self.n_out, dtype=np.int8)
            error[y[i]] = output.read_rows(rows, rng)[y[i]] < self.spec.toy_margin
            output.pulse(rows, error, rng, self.spec.pulse_prob)
        return self.epoch_stats()


METHOD = Method(
    name="toy",
    learner=ToyLearner,
    classifier="ToyClassifier",
    summary="A toy on-chip rule: the target output column pulsed up below a margin.",
    settings=ToyFields,
    counts_pulses=True,
    on_chip=True,
    cost_design="sbp",
    style={"label": "toy", "marker": "x", "colour": 4},
)
