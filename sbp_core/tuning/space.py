"""A search space dimension: one run-spec field, its range or choices, its scale and why.

Each rule declares its space once, on its `METHOD` record (sbp_core.methods.base.Method); this
module knows only how a point of the unit cube becomes a value, so it imports nothing of ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCALES = ("linear", "log", "categorical")
SIGNIFICANT_DIGITS = 3
"""Numeric trial values are rounded to this many significant digits: readable settings that a
reader can type back into a config, and still distinct across a few dozen trials."""


@dataclass(frozen=True)
class Dimension:
    """One searched spec field. `linear` and `log` draw a number in [low, high] (log: uniform in
    its logarithm), `categorical` one of `choices`, each with equal share of the unit interval."""

    name: str
    """The run-spec field it sets."""
    reason: str
    """One line: why this field, why this range."""
    scale: str = "linear"
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"dimension {self.name}: scale must be one of {SCALES}")
        if self.scale == "categorical":
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError(f"dimension {self.name}: categorical takes choices only")
            return
        if self.low is None or self.high is None or not self.low < self.high or self.choices:
            raise ValueError(f"dimension {self.name}: {self.scale} takes low < high only")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"dimension {self.name}: log scale needs low > 0")

    def value(self, u: float) -> Any:
        """The value at `u` in [0, 1)."""
        if self.scale == "categorical":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.scale == "log":
            exact = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            exact = self.low + u * (self.high - self.low)
        return _rounded(exact)

    def position(self, value: float) -> float | None:
        """Where `value` lies in the range by its scale, 0 at low and 1 at high; None for a
        categorical dimension, whose choices have no order."""
        if self.scale == "categorical":
            return None
        if self.scale == "log":
            return math.log(value / self.low) / math.log(self.high / self.low)
        return (value - self.low) / (self.high - self.low)

    def describe(self) -> str:
        """The range as the protocol's documents print it: `[0.05, 1] log` or `{pair, set_only}`."""
        if self.scale == "categorical":
            return "{" + ", ".join(str(choice) for choice in self.choices) + "}"
        return f"[{self.low:g}, {self.high:g}] {self.scale}"


def _rounded(value: float) -> float:
    if value == 0:
        return 0.0
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    return float(round(value, digits))
