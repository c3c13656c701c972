"""The one interface every learning rule implements, and the record each rule's module declares
itself with (`METHOD`), so a new rule is one new file (docs/adding_a_rule.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from sbp_core.tuning.space import Dimension


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


@dataclass(frozen=True)
class Method:
    """A learning rule, declared once as `METHOD` in its own module of sbp_core.methods.

    Everything that lists methods is derived from these records (sbp_core.methods.registry): the
    spec's `method` choices and each rule's own fields (sbp_core.spec), the config schema's
    method enums, the command-line options, the scikit-learn classifiers, the crossbar and
    depth-compiled lists, the cost designs and the figures' styles.
    """

    name: str
    """The spec's `method` value."""
    learner: type
    """The class with `from_spec(spec, n_in, n_out, rng)` returning a `Learner`."""
    classifier: str
    """Name of its scikit-learn classifier in sbp_core.estimators (`SBPClassifier`)."""
    summary: str
    """One line: the classifier's docstring."""
    settings: type | None = None
    """A dataclass of the fields only this rule reads, declared with sbp_core.fields' `number`
    / `choice` / `text` and a docstring under each; they join RunSpec, and another method's
    spec must leave them at their defaults."""
    counts_pulses: bool = False
    """Its weights live in crossbars, so it counts programming pulses (and reads a device)."""
    on_chip: bool = False
    """It trains on the chip itself (not only programs it), paying a training periphery."""
    depth_compiled: bool = False
    """Its compiled epoch is specialised to the number of layers (`sbp-bench compile`)."""
    offchip_twin: str | None = None
    """The method whose run trains the network this one programs (exsitu: ste)."""
    cost_design: str | None = None
    """The periphery an on-chip rule pays (a design of sbp_core.cost: `sbp`, `conventional`)."""
    style: dict[str, Any] | None = None
    """How the cost figures draw it: `label`, `marker`, `colour` (index in seaborn's
    colorblind palette); None: not drawn there."""
    search_space: tuple[Dimension, ...] = ()
    """The spec fields the tuning protocol searches for this rule, each with its range, scale and
    reason (docs/tuning_protocol.md); every other field stays as the sweep sets it. Empty: the
    rule cannot be tuned (a profile that tunes it is refused)."""
    numbers: int = 0
    """The version of what its code trains a spec to: raised by one whenever a change to the
    rule (or to the device model or data path under it) changes the numbers of some spec. From 1
    on it is part of the run id of the rule's runs (`RunSpec.run_id`), so a run folder trained by
    older code is never taken for a new one; tests/test_numbers.py fails on a change of numbers
    that did not raise it."""
