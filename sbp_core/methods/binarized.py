"""`binarized`: BinaryConnect / BNN-style network (Courbariaux et al. 2015, Hubara et al. 2016).

Weights are +-1 in both passes (the signs of latent float weights), hidden units are binary 0/1
with the straight-through estimator of `ste`, and SGD updates the latent weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sbp_core.fields import Widths
from sbp_core.methods.base import EpochStats, Method
from sbp_core.methods.ste import STELearner
from sbp_core.tuning.space import Dimension

LATENT_INIT = 0.1
"""Latent weights start uniform in +-LATENT_INIT, close to a sign flip (starting from +-1 learned
more slowly: 87 % against 91 % validation accuracy after 5 epochs)."""
OUTPUT_GAIN = 3.0
"""Output pre-activations are scaled by OUTPUT_GAIN / sqrt(width of the last hidden layer); gains
1, 2, 3, 4, 5, 10 were measured on the MNIST validation split and 3 was best (1: too flat a
softmax, 10: diverges)."""
LR_DECAY = 0.85
"""The learning rate is multiplied by this after every epoch (Courbariaux et al. also decay it
exponentially): without it sign flips make the accuracy jump by about 1 % between epochs."""


class BinarizedLearner(STELearner):
    """Binary weights and activations, latent float weights clipped to [-1, 1], plain SGD.

    Choices (documented because the papers leave them to batch normalisation and Adam):
    - each layer's pre-activation is scaled, every hidden layer by 1/sqrt(its fan-in), the
      output layer by OUTPUT_GAIN/sqrt(its fan-in), so a sum of +-1 terms stays of order one and
      both the STE window and the softmax are well conditioned;
    - biases stay float (the comparator thresholds; BNNs get them from batch normalisation);
    - the gradient of a +-1 weight is applied to its latent weight (straight-through), and
      clipping the latent weight to [-1, 1] keeps it within reach of a sign flip.

    Default lr 2.0 at batch 32 with LR_DECAY (MNIST validation, 20 epochs: 92.8 %; lr 0.5-3
    without decay gave 91-92 % with +-1 % jumps; Adam at lr 0.003, not used, 93.4 %).
    """

    defaults: ClassVar[dict[str, Any]] = {"lr": 2.0, "batch_size": 32}

    def __init__(
        self,
        n_in: int,
        n_hidden: Widths,
        n_out: int,
        lr: float,
        batch_size: int,
        rng: np.random.Generator,
        dtype: type = np.float32,
    ) -> None:
        super().__init__(n_in, n_hidden, n_out, lr, batch_size, rng, dtype)
        fan_in = self.sizes[:-1]
        self.scales = [1.0 / np.sqrt(n) for n in fan_in[:-1]] + [OUTPUT_GAIN / np.sqrt(fan_in[-1])]
        self._signs = [np.empty_like(W) for W in self.weights]
        self._after_update()

    def _init_weights(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-LATENT_INIT, LATENT_INIT, size=(fan_in, fan_out)).astype(self.dtype)

    def pass_weights(self) -> list[np.ndarray]:
        """The +-1 signs of the latent weights, refreshed after every step."""
        return self._signs

    def _after_update(self) -> None:
        for latent, signs in zip(self.weights, self._signs, strict=True):
            np.clip(latent, -1.0, 1.0, out=latent)
            np.copysign(1.0, latent, out=signs)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        stats = super().fit_epoch(X, y, rng)
        self.lr *= LR_DECAY
        return stats


METHOD = Method(
    name="binarized",
    learner=BinarizedLearner,
    classifier="BinarizedClassifier",
    summary="Binary weights and activations with latent float weights (BinaryConnect/BNN).",
    search_space=(Dimension("lr", "around the measured 2.0 (with decay)", "log", 0.2, 5.0),),
)
