"""`ste`: binary 0/1 hidden units trained with the straight-through estimator
(docs/method.md, "Baselines").

Float weights and float errors on binary inputs: the same forward pass as SBP's comparators, with
full-precision backpropagation, so the gap to `sbp` is the cost of ternary errors and pulse updates.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sbp_core.methods.base import Method
from sbp_core.methods.mlp_core import SoftwareMLP
from sbp_core.tuning.space import Dimension

STE_WINDOW = 1.0
"""The error passes back where |a| <= STE_WINDOW (the hard-tanh window of Hubara et al. 2016)."""


class STELearner(SoftwareMLP):
    """Forward `h = 1[a > 0]`; backward `dh/da = 1[|a| <= STE_WINDOW]`, in every hidden layer.

    The backward slope is that of hard-tanh, not of the step, so the error is passed unchanged
    inside the window and blocked outside it, where the unit is confidently on or off.

    Default lr 0.2 (MNIST validation, 20 epochs, 3 seeds: 96.36 % against 96.23 % at lr 0.1).
    """

    defaults: ClassVar[dict[str, Any]] = {"lr": 0.2, "batch_size": 32}

    def hidden(self, a: np.ndarray) -> np.ndarray:
        return (a > 0).astype(self.dtype)

    def hidden_slope(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        return (np.abs(a) <= STE_WINDOW).astype(self.dtype)


METHOD = Method(
    name="ste",
    learner=STELearner,
    classifier="STEClassifier",
    summary="Binary hidden units trained with the straight-through estimator.",
    search_space=(Dimension("lr", "around the measured 0.2", "log", 0.02, 1.0),),
)
