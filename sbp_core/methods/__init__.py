"""The learning rules, one module each, found by their `METHOD` records (registry.py)."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sbp_core.chip.kinds import kind_named
from sbp_core.methods.base import EpochStats, Learner, Method
from sbp_core.methods.registry import CROSSBAR_METHODS, DEPTH_COMPILED, RULES, learner_class

if TYPE_CHECKING:
    from sbp_core.spec import RunSpec


def make_learner(spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator) -> Learner:
    return learner_class(spec.method).from_spec(spec, n_in, n_out, rng)


def compile_kernels(
    depths: Iterable[int] = (1,), device_kinds: Iterable[str] = ("neurosim",)
) -> tuple[str, ...]:
    """Train every crossbar method one epoch on a tiny problem, so numba's on-disk cache holds
    every compiled kernel before parallel train jobs load it: several processes compiling and
    caching one function at once is a known numba cache hazard. The DEPTH_COMPILED epochs take
    a tuple of crossbars, compiled once per network depth: they are compiled for each number of
    hidden layers in `depths`, on the example device of each of `device_kinds` (a kind whose
    engine records differ in type compiles kernels of its own). Returns the methods run."""
    from sbp_core.spec import RunSpec  # the spec is assembled from the rules, above them

    data = np.random.default_rng(0)
    X, y = data.random((40, 8)) < 0.5, np.arange(40) % 3
    with tempfile.TemporaryDirectory() as folder:
        devices = [kind_named(kind).compile_example(Path(folder)) for kind in device_kinds]
        for method, device in itertools.product(CROSSBAR_METHODS, devices):
            for depth in sorted(set(depths)) if method in DEPTH_COMPILED else (1,):
                spec = RunSpec(
                    method=method, n_hidden=[4] * depth, epochs=1, read_noise=0.01, **device
                )
                rng = np.random.default_rng(0)
                make_learner(spec, X.shape[1], 3, rng).fit_epoch(X, y, rng)
    return CROSSBAR_METHODS


__all__ = [
    "CROSSBAR_METHODS",
    "DEPTH_COMPILED",
    "RULES",
    "EpochStats",
    "Learner",
    "Method",
    "compile_kernels",
    "learner_class",
    "make_learner",
]
