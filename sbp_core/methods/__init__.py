"""The learning rules, one module each, found by their `METHOD` records (registry.py)."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sbp_core.chip.device import LookupTable, TableDeviceParams, device_file_text
from sbp_core.methods.base import EpochStats, Learner, Method
from sbp_core.methods.registry import CROSSBAR_METHODS, DEPTH_COMPILED, RULES, learner_class

if TYPE_CHECKING:
    from sbp_core.spec import RunSpec


def make_learner(spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator) -> Learner:
    return learner_class(spec.method).from_spec(spec, n_in, n_out, rng)


def compile_kernels(depths: Iterable[int] = (1,), lookup_table: bool = False) -> tuple[str, ...]:
    """Train every crossbar method one epoch on a tiny problem, so numba's on-disk cache holds
    every compiled kernel before parallel train jobs load it: several processes compiling and
    caching one function at once is a known numba cache hazard. The SBP and SGD epochs take a
    tuple of crossbars, compiled once per network depth: they are compiled for each number of
    hidden layers in `depths`. `lookup_table`: also on a lookup-table device, whose kernels are
    compiled apart (their device records differ in type). Returns the methods run."""
    from sbp_core.spec import RunSpec  # the spec is assembled from the rules, above them

    data = np.random.default_rng(0)
    X, y = data.random((40, 8)) < 0.5, np.arange(40) % 3
    with tempfile.TemporaryDirectory() as folder:
        devices = [{"c2c_sigma": 0.01}]
        if lookup_table:
            path = Path(folder) / "table.yaml"
            path.write_text(device_file_text(_small_table_device()))
            devices.append({"device": str(path)})
        for method, device in itertools.product(CROSSBAR_METHODS, devices):
            for depth in sorted(set(depths)) if method in DEPTH_COMPILED else (1,):
                spec = RunSpec(
                    method=method, n_hidden=[4] * depth, epochs=1, read_noise=0.01, **device
                )
                rng = np.random.default_rng(0)
                make_learner(spec, X.shape[1], 3, rng).fit_epoch(X, y, rng)
    return CROSSBAR_METHODS


def _small_table_device() -> TableDeviceParams:
    """A linear lookup-table device with noise, two knots a direction: compiled code depends on
    the types of the tables, not their sizes, so its kernels are those of every such device."""
    knots = np.array([[0.0, 1.0], [0.1, 0.1], [0.01, 0.01]])
    table = LookupTable.from_knots(("one",), [(0.0, 1.0)], [(knots, knots * [[1], [-1], [1]])])
    return TableDeviceParams(name="small", n_states=11, c2c_sigma=0.01, table=table)


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
