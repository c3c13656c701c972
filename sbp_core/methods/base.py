"""The one interface every learning rule implements, so a new rule is one new file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class EpochStats:
    """What one pass over the training data did.

    Pulse counts are per crossbar layer (first layer first); software methods leave them empty.
    """

    loss: float | None = None
    set_pulses: list[int] = field(default_factory=list)
    reset_pulses: list[int] = field(default_factory=list)
    saturated_fraction: float | None = None
    counters: dict[str, int] = field(default_factory=dict)
    """Method-specific counts of this epoch (exsitu: erase pulses, verify reads), written as
    extra history columns."""


class Learner(Protocol):
    """A learning rule bound to one network.

    `X` is a 2-D array of binary read pulses (bool) or, for software methods fed real inputs,
    float32 pixels in [0, 1]; `y` holds integer class labels 0..n_out-1.
    """

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        """One pass over (X, y) in an order drawn from rng."""
        ...

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Output-layer scores (column currents or logits), shape (n_samples, n_out)."""
        ...

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Winner-take-all class labels."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """Arrays worth saving as artifacts (weights or conductances)."""
        ...
