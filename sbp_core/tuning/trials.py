"""The K trials of one tuning: a scrambled Sobol sequence over the method's search space.

The sequence is seeded from what is tuned (the point's spec, the method) and the profile's
tuning seed, so a rerun draws the same trials, and the first k of K trials are the same for any
K >= k: the points are a prefix of one sequence of 2^m points (scipy.stats.qmc.Sobol draws them
in order; a power of two keeps the sequence's balance).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import qmc

from sbp_core.tuning.space import Dimension


def sobol_seed(point: Mapping[str, Any], method: str, tuning_seed: int) -> int:
    """A 63-bit seed from the tuned point's spec fields, the method and the tuning seed."""
    material = json.dumps(
        {"point": point, "method": method, "tuning_seed": tuning_seed},
        sort_keys=True,
        separators=(",", ":"),
    )
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big") >> 1


def unit_points(dimensions: int, trials: int, seed: int) -> np.ndarray:
    """The first `trials` points of the scrambled Sobol sequence of `seed` in [0, 1)^dimensions."""
    sobol = qmc.Sobol(dimensions, scramble=True, rng=np.random.default_rng(seed))
    return sobol.random_base2(max(0, math.ceil(math.log2(trials))))[:trials]


def trial_settings(space: Sequence[Dimension], trials: int, seed: int) -> list[dict[str, Any]]:
    """The spec fields of each of the `trials` trials, in the sequence's order."""
    return [
        {dimension.name: dimension.value(u) for dimension, u in zip(space, row, strict=True)}
        for row in unit_points(len(space), trials, seed)
    ]
