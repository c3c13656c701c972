"""`manhattan`: the sign of the full-precision gradient applied as one pulse per weight.

The classic update rule for memristive crossbars (Zamanidoost, Bayat, Strukov, Kataeva, "Manhattan
rule training for memristive crossbar circuit pattern classifiers", WISP 2015): analog sigmoid
hidden activations, a softmax cross-entropy gradient computed in full precision per minibatch of
`batch_size` samples, then every pair whose gradient is non-zero gets one pulse against its sign.
Unlike SBP it needs multi-bit activations and errors (ADCs, multipliers) but keeps the pulse update.
"""

from __future__ import annotations

import numpy as np

from sbp_core.chip.crossbar import DTYPE, Crossbar
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.crossbar_mlp import CrossbarMLP
from sbp_core.tuning.space import Dimension


class ManhattanLearner(CrossbarMLP):
    """Minibatch Manhattan rule on a crossbar per layer with sigmoid hidden neurons."""

    default_batch_size = 128
    """Applies where the spec leaves batch_size at None; on the MNIST validation split 128 beat 32
    (92.4 % against 86.8 % after 5 epochs on 20,000 images) and runs three times faster."""

    def hidden_response(self, current: np.ndarray, layer: int) -> np.ndarray:
        """Sigmoid, written with tanh so that large currents cannot overflow."""
        return 0.5 + 0.5 * np.tanh(0.5 * current)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        order = rng.permutation(len(X))
        batch = self.spec.batch_size or self.default_batch_size
        losses = []
        for start in range(0, len(X), batch):
            chosen = order[start : start + batch]
            losses.append(self._train_batch(X[chosen], y[chosen], rng))
        return self.epoch_stats(loss=float(np.mean(losses)))

    def _train_batch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
        inputs = [X]  # every layer's drive: the read pulses, then each hidden layer's sigmoid
        for number, layer in enumerate(self.layers[:-1]):
            inputs.append(self.hidden_response(layer.read_batch(inputs[-1], rng), number))
        scores = self.layers[-1].read_batch(inputs[-1], rng)
        probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = float(-np.mean(np.log(np.maximum(probabilities[rows, y], 1e-30))))
        deltas = [probabilities] * len(self.layers)  # d loss / d currents, per layer
        deltas[-1][rows, y] -= 1.0
        for number in range(len(self.layers) - 1, 0, -1):  # the weights before any pulse
            hidden = inputs[number]
            back = deltas[number] @ self.layers[number].weights()[:-1].T
            deltas[number - 1] = back * hidden * (1.0 - hidden)
        for number in range(len(self.layers) - 1, -1, -1):
            self._pulse_against(self.layers[number], inputs[number], deltas[number], rng)
        return loss

    def _pulse_against(
        self, layer: Crossbar, inputs: np.ndarray, delta: np.ndarray, rng: np.random.Generator
    ) -> None:
        """One pulse per pair against the sign of its gradient [inputs, 1]^T delta."""
        drive = np.hstack((inputs.astype(DTYPE), np.ones((len(inputs), 1), dtype=DTYPE)))
        layer.pulse_against_compiled(drive.T @ delta.astype(DTYPE), rng, self.spec.pulse_prob)


METHOD = Method(
    name="manhattan",
    learner=ManhattanLearner,
    classifier="ManhattanClassifier",
    summary="Sign of the full-precision gradient applied as pulses (Manhattan rule).",
    counts_pulses=True,
    on_chip=True,
    # like SGD it reads multi-bit activations through ADCs and computes its gradient digitally;
    # only its update is one pulse per weight
    cost_design="conventional",
    style={"label": "Manhattan", "marker": "^", "colour": 2},
    search_space=(
        Dimension(
            "pulse_prob", "the fraction of sign updates that fire: its step size", "log", 0.05, 1.0
        ),
        Dimension(
            "batch_size",
            "samples per sign step; 128 beat 32 on MNIST",
            "categorical",
            choices=(16, 32, 64, 128, 256),
        ),
    ),
)
