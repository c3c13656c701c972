"""scikit-learn classifiers on top of the learners, one per method (made from each rule's record,
`Method.classifier`), so every learning rule plugs into `cross_val_score`, `GridSearchCV` and
pipelines.

A classifier's hyper-parameters are the fields every method shares (minus method, dataset,
data_sha256, device_sha256, n_train and val_fraction, which describe an experiment rather than a
model) and its own rule's fields, with RunSpec's defaults; `fit` builds a RunSpec, which
validates them. Arbitrary real features are min-max
scaled per feature with bounds learned in `fit`, then binarized at `binarize_threshold` into read
pulses, or kept as unit floats when `real_inputs` (float only).

After `fit`, a crossbar rule's classifier holds its programming pulses (`pulses_`) and its
energy per training sample (`energy_per_sample_`) by the cost model the cost tables use
(`sbp_core.report.cost_tables.method_energies`, constants from the checkout's config/cost.yaml).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from itertools import pairwise
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sbp_core import train
from sbp_core.methods import RULES, Method, make_learner
from sbp_core.methods.base import EpochStats
from sbp_core.spec import METHOD_FIELDS, RunSpec, SharedSpec, hidden_widths

EXPERIMENT_FIELDS = (
    "method", "dataset", "data_sha256", "device_sha256", "n_train", "val_fraction",
    "evaluate_test",
)  # fmt: skip
"""RunSpec fields that are not estimator hyper-parameters."""

SHARED_HYPERPARAMETERS = {
    f.name: f.default for f in fields(SharedSpec) if f.name not in EXPERIMENT_FIELDS
}
"""The shared RunSpec fields every classifier takes, with RunSpec's defaults."""
COST_CONSTANTS = Path(__file__).resolve().parents[1] / "config" / "cost.yaml"
"""The cost model's constants (units, citations) the pipeline's cost tables use by default."""


def hyperparameters(method: str) -> dict[str, object]:
    """The parameters of `method`'s classifier with their defaults: the shared fields, then its
    rule's own."""
    defaults = RunSpec.__dataclass_fields__
    own = {name: defaults[name].default for name in METHOD_FIELDS.get(method, ())}
    return {**SHARED_HYPERPARAMETERS, **own}


class _BenchClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict of every method; a subclass (`_classifier`) names its method and takes
    its parameters (`_parameters`).

    Learned in `fit`: `classes_`, `n_features_in_`, the scaler bounds `data_min_` and `data_max_`,
    the trained `learner_`, `error_rate_curve_` (the training set's error rate after each
    epoch) and, where the rule defines a loss (not SBP's), `loss_curve_` (mean training loss per
    epoch). Crossbar rules also get `pulses_` ({"set": ..., "reset": ...}, pulses per layer over
    the whole fit, first layer first) and, with the checkout's config/cost.yaml and pandas (the
    `pipeline` extra), `energy_per_sample_` (joules per training sample, as the cost tables and
    `figures/cost_accuracy_vs_energy` give it for the same run).
    """

    _method: str
    _parameters: dict[str, object]

    def __init__(self, **params) -> None:
        unknown = sorted(set(params) - set(self._parameters))
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown parameter(s) {', '.join(unknown)}")
        for name, default in self._parameters.items():
            setattr(self, name, params.get(name, default))

    def run_spec(self) -> RunSpec:
        """The validated RunSpec these hyper-parameters describe (ConfigError names a bad one)."""
        return RunSpec(method=self._method, **self.get_params())

    def fit(self, X, y):
        """Learn the scaler bounds, then train `epochs` epochs seeded by `seed`."""
        spec = self.run_spec()
        X, y = validate_data(self, X, y, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.data_min_ = X.min(axis=0)
        self.data_max_ = X.max(axis=0)
        inputs = self._encode(X)
        rng = np.random.default_rng(spec.seed)
        self.learner_ = make_learner(spec, self.n_features_in_, len(self.classes_), rng)
        epochs, error_rates = [], []
        for _ in range(spec.epochs):
            epochs.append(self.learner_.fit_epoch(inputs, y_index, rng))
            error_rates.append(float(np.mean(self.learner_.predict(inputs) != y_index)))
        self.error_rate_curve_ = error_rates
        if all(stats.loss is not None for stats in epochs):
            self.loss_curve_ = [stats.loss for stats in epochs]
        if RULES[self._method].counts_pulses:
            self._count_pulses(spec, epochs, inputs)
        return self

    def _count_pulses(self, spec: RunSpec, epochs: list[EpochStats], inputs: np.ndarray) -> None:
        """`pulses_` and `energy_per_sample_`: the fit written up as a run's metrics row, costed
        by the cost tables' own function, so the energy is the number they give that run."""
        layers = train.n_layers(spec)
        history = [{**train.pulse_counts(stats, layers), **stats.counters} for stats in epochs]
        self.pulses_ = {
            kind: np.array([sum(row[f"{kind}_pulses_l{k}"] for row in history)
                            for k in range(1, layers + 1)])
            for kind in ("set", "reset")
        }  # fmt: skip
        try:
            import pandas as pd

            from sbp_core import cost
            from sbp_core.report.cost_tables import method_energies
        except ImportError:  # the core install: no pandas, no cost tables
            return
        if not COST_CONSTANTS.is_file():  # an install without the checkout's config/
            return
        sizes = (self.n_features_in_, *hidden_widths(spec.n_hidden), len(self.classes_))
        row = {
            **spec.to_dict(),
            "run_id": spec.run_id,
            "final_test_acc": np.nan,
            "n_train": len(inputs),
            "epochs_run": len(epochs),
            "input_activity": float(np.mean(inputs)),
            "layers": json.dumps([[rows + 1, cols] for rows, cols in pairwise(sizes)]),
            "set_pulses_per_layer": json.dumps(self.pulses_["set"].tolist()),
            "reset_pulses_per_layer": json.dumps(self.pulses_["reset"].tolist()),
            **train.counter_totals(spec, history),
            **{f"device.{k}": v for k, v in self.learner_.device.to_dict().items()},
        }
        values = cost.constant_values(cost.load_constants(COST_CONSTANTS))
        energies = method_energies(pd.DataFrame([row]), values)
        self.energy_per_sample_ = float(energies["energy_per_sample_J"].iloc[0])

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """Scale each feature to [0, 1] by the training bounds, then binarize unless real_inputs
        (which RunSpec allows for `float` only, as in training runs)."""
        span = self.data_max_ - self.data_min_
        unit = (X - self.data_min_) / np.where(span > 0, span, 1)
        if getattr(self, "real_inputs", False):  # a field of float's own
            return np.clip(unit, 0, 1).astype(np.float32)
        return unit > self.binarize_threshold

    def _checked_inputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float32, np.float64])
        return self._encode(X)

    def decision_function(self, X) -> np.ndarray:
        """Output scores per class; for two classes the second minus the first (sklearn's shape)."""
        inputs = self._checked_inputs(X)
        scores = self.learner_.decision_function(inputs)
        if len(self.classes_) == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X) -> np.ndarray:
        """Winner-take-all over the output scores, mapped back to the training labels."""
        inputs = self._checked_inputs(X)
        return self.classes_[self.learner_.predict(inputs)]


def _classifier(rule: Method) -> type[_BenchClassifier]:
    """The classifier of one rule; its __init__ signature lists its parameters, which is where
    scikit-learn reads them (get_params, clone, GridSearchCV)."""
    parameters = hyperparameters(rule.name)

    def __init__(self, **params) -> None:
        _BenchClassifier.__init__(self, **params)

    __init__.__signature__ = inspect.Signature(
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
                for name, default in parameters.items()
            ),
        ]
    )
    namespace = {
        "__doc__": rule.summary,
        "__init__": __init__,
        "__module__": __name__,
        "_method": rule.name,
        "_parameters": parameters,
    }
    return type(rule.classifier, (_BenchClassifier,), namespace)


CLASSIFIERS = {rule.name: _classifier(rule) for rule in RULES.values()}
"""Method name -> its classifier."""
globals().update({cls.__name__: cls for cls in CLASSIFIERS.values()})
__all__ = sorted(cls.__name__ for cls in CLASSIFIERS.values())
