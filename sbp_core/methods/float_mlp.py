"""`float`: the software upper bound, a float MLP with sigmoid or ReLU hidden units
(docs/method.md, "Baselines").

Works on real-valued pixels (float32 in [0, 1]) and on binary read pulses (bool) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sbp_core.errors import ConfigError
from sbp_core.fields import Widths, choice
from sbp_core.methods.base import Method
from sbp_core.methods.mlp_core import SoftwareMLP
from sbp_core.tuning.space import Dimension

ACTIVATIONS = ("sigmoid", "relu")


@dataclass(frozen=True)
class FloatFields:
    """The run-spec fields only the float MLP reads."""

    real_inputs: bool = False
    """Method float only: feed real-valued pixels in [0, 1] instead of binary read pulses."""
    activation: str = choice("sigmoid", ACTIVATIONS)
    """Hidden activation of `float`: sigmoid or relu."""


class FloatMLP(SoftwareMLP):
    """Float weights, float activations, exact gradients.

    Default sigmoid at lr 1.0 (MNIST validation, 20 epochs, seeds 0-3: 97.74 %; ReLU at lr 0.2
    tied at 97.76 %; sigmoid at lr 0.2 or 0.5 and ReLU at lr 0.05 or 0.1 were lower).
    """

    defaults: ClassVar[dict[str, Any]] = {"lr": 1.0, "batch_size": 32, "activation": "sigmoid"}

    def __init__(
        self,
        n_in: int,
        n_hidden: Widths,
        n_out: int,
        lr: float,
        batch_size: int,
        rng: np.random.Generator,
        activation: str = "sigmoid",
        dtype: type = np.float32,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        super().__init__(n_in, n_hidden, n_out, lr, batch_size, rng, dtype)

    def hidden(self, a: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(a, 0)
        h = np.negative(a)
        np.exp(h, out=h)
        h += 1
        np.reciprocal(h, out=h)
        return h

    def hidden_slope(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return (a > 0).astype(self.dtype)
        return h * (1 - h)


METHOD = Method(
    name="float",
    learner=FloatMLP,
    classifier="FloatMLPClassifier",
    summary="Float MLP (sigmoid or ReLU), the software upper bound.",
    settings=FloatFields,
    search_space=(Dimension("lr", "around the measured 1.0 (sigmoid)", "log", 0.1, 5.0),),
)
