"""Registry of learning rules: method name -> class with `from_spec(spec, n_in, n_out, rng)`."""

from __future__ import annotations

from importlib import import_module

import numpy as np

from sbp_core.methods.base import EpochStats, Learner
from sbp_core.spec import RunSpec

_REGISTRY = {
    "sbp": "sbp_core.methods.sbp:SBPLearner",
    "float": "sbp_core.methods.float_mlp:FloatMLP",
    "ste": "sbp_core.methods.ste:STELearner",
    "binarized": "sbp_core.methods.binarized:BinarizedLearner",
    "exsitu": "sbp_core.methods.exsitu:ExSituLearner",
    "manhattan": "sbp_core.methods.manhattan:ManhattanLearner",
}

#: Methods whose weights live in a crossbar and which therefore count pulses.
CROSSBAR_METHODS = ("sbp", "exsitu", "manhattan")


def learner_class(method: str) -> type:
    """Import lazily so a train job loads only the rule it runs."""
    module_name, class_name = _REGISTRY[method].split(":")
    return getattr(import_module(module_name), class_name)


def make_learner(spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator) -> Learner:
    return learner_class(spec.method).from_spec(spec, n_in, n_out, rng)


__all__ = ["CROSSBAR_METHODS", "EpochStats", "Learner", "learner_class", "make_learner"]
