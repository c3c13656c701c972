"""Registry of learning rules: method name -> class with `from_spec(spec, n_in, n_out, rng)`."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path

import numpy as np

from sbp_core.chip.device import LookupTable, TableDeviceParams, device_file_text
from sbp_core.methods.base import EpochStats, Learner
from sbp_core.spec import RunSpec

_REGISTRY = {
    "sbp": "sbp_core.methods.sbp:SBPLearner",
    "float": "sbp_core.methods.float_mlp:FloatMLP",
    "ste": "sbp_core.methods.ste:STELearner",
    "binarized": "sbp_core.methods.binarized:BinarizedLearner",
    "exsitu": "sbp_core.methods.exsitu:ExSituLearner",
    "manhattan": "sbp_core.methods.manhattan:ManhattanLearner",
    "sgd": "sbp_core.methods.sgd:SGDLearner",
}

#: Methods whose weights live in a crossbar and which therefore count pulses.
CROSSBAR_METHODS = ("sbp", "exsitu", "manhattan", "sgd")
#: Methods whose compiled epoch is specialised to the number of layers (a tuple of crossbars).
DEPTH_COMPILED = ("sbp", "sgd")


def learner_class(method: str) -> type:
    """Import lazily so a train job loads only the rule it runs."""
    module_name, class_name = _REGISTRY[method].split(":")
    return getattr(import_module(module_name), class_name)


def make_learner(spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator) -> Learner:
    return learner_class(spec.method).from_spec(spec, n_in, n_out, rng)


def compile_kernels(depths: Iterable[int] = (1,), lookup_table: bool = False) -> tuple[str, ...]:
    """Train every crossbar method one epoch on a tiny problem, so numba's on-disk cache holds
    every compiled kernel before parallel train jobs load it: several processes compiling and
    caching one function at once is a known numba cache hazard. The SBP and SGD epochs take a
    tuple of crossbars, compiled once per network depth: they are compiled for each number of
    hidden layers in `depths`. `lookup_table`: also on a lookup-table device, whose kernels are
    compiled apart (their device records differ in type). Returns the methods run."""
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
    "EpochStats",
    "Learner",
    "compile_kernels",
    "learner_class",
    "make_learner",
]
