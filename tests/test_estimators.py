"""The scikit-learn classifiers: the estimator API contract, RunSpec-driven validation, input
scaling, and use inside cross_val_score and GridSearchCV."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from sbp_core import estimators
from sbp_core.errors import ConfigError
from sbp_core.methods import RULES, learner_class
from sbp_core.spec import METHOD_FIELDS, RunSpec, SharedSpec

# every rule's classifier, from the rule records: a new rule's is checked without an edit here
SOFTWARE = {m: cls for m, cls in estimators.CLASSIFIERS.items() if not RULES[m].counts_pulses}
CROSSBAR = {m: cls for m, cls in estimators.CLASSIFIERS.items() if RULES[m].counts_pulses}


def _fast(cls, method):
    """A small configuration of each estimator; software ones at their method's own defaults."""
    params = {"n_hidden": 64, "epochs": 10}
    if method in SOFTWARE:
        params.update(learner_class(method).defaults)
    return cls(**params)


def expected_failures(estimator) -> dict[str, str]:
    """The one check that cannot apply: Manhattan's default minibatch of 128 (chosen on MNIST)
    gives one update per epoch on scikit-learn's ~100-sample toy problem, too few to fit it in
    the default 20 epochs; `test_manhattan_at_its_default_minibatch_learns_digits` shows that it
    learns."""
    if isinstance(estimator, estimators.ManhattanClassifier):
        return {"check_classifiers_train": "one update per epoch on a ~100-sample toy set"}
    return {}


@parametrize_with_checks(
    [cls() for cls in [*SOFTWARE.values(), *CROSSBAR.values()]],
    expected_failed_checks=expected_failures,
)
def test_sklearn_estimator_contract(estimator, check):
    """Every scikit-learn check applies to the default estimators and passes, except the one in
    `expected_failures`."""
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.mark.parametrize(("method", "cls"), [*SOFTWARE.items(), *CROSSBAR.items()])
def test_hyper_parameters_are_the_shared_fields_and_the_rules_own(method, cls):
    own = set(METHOD_FIELDS.get(method, ()))
    shared = {f.name: f.default for f in fields(SharedSpec)}
    for name in estimators.EXPERIMENT_FIELDS:
        del shared[name]
    defaults = {f.name: f.default for f in fields(RunSpec)}
    assert cls().get_params() == {**shared, **{name: defaults[name] for name in own}}
    others = set().union(*METHOD_FIELDS.values()) - own
    assert not others & set(cls().get_params())


def test_a_classifier_takes_no_other_rules_fields():
    """The float MLP has no ADC or output margin; on-chip SGD has its ADC."""
    params = estimators.FloatMLPClassifier().get_params()
    assert "adc_bits" not in params and "margin_hi" not in params
    assert estimators.OnChipSGDClassifier().get_params()["adc_bits"] == 8
    assert estimators.SBPClassifier().get_params()["margin_hi"] == 0.5
    assert estimators.__all__ == sorted(cls.__name__ for cls in estimators.CLASSIFIERS.values())
    assert set(estimators.CLASSIFIERS) == set(RULES)


def test_an_unknown_hyper_parameter_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="SBPClassifier: unknown parameter"):
        estimators.SBPClassifier(n_hiden=10)


def test_bad_hyper_parameter_raises_config_error_naming_it_at_fit(digits):
    X, y = digits
    model = estimators.FloatMLPClassifier(n_hidden=0)
    with pytest.raises(ConfigError, match="n_hidden"):
        model.fit(X, y)


@pytest.mark.parametrize("cls", [estimators.STEClassifier, estimators.SBPClassifier])
def test_real_inputs_are_not_a_parameter_of_binary_input_methods(cls):
    with pytest.raises(TypeError, match=f"{cls.__name__}: unknown parameter.*real_inputs"):
        cls(epochs=1, real_inputs=True)


def test_inputs_are_min_max_scaled_then_binarized_per_feature():
    X = np.array([[0.0, -10.0, 3.0], [4.0, 10.0, 3.0], [1.0, 2.0, 3.0]])
    model = estimators.STEClassifier(epochs=1, binarize_threshold=0.5)
    model.fit(X, [0, 1, 0])
    np.testing.assert_array_equal(model.data_min_, [0.0, -10.0, 3.0])
    np.testing.assert_array_equal(model.data_max_, [4.0, 10.0, 3.0])
    encoded = model._encode(np.array([[1.0, 2.0, 3.0], [3.0, -5.0, 99.0]]))
    np.testing.assert_array_equal(encoded, [[False, True, False], [True, False, True]])
    real = estimators.FloatMLPClassifier(epochs=1, real_inputs=True).fit(X, [0, 1, 0])
    unit = real._encode(np.array([[2.0, 20.0, 3.0]]))
    assert unit.dtype == np.float32
    np.testing.assert_array_equal(unit, [[0.5, 1.0, 0.0]])


@pytest.mark.parametrize("method", list(SOFTWARE))
def test_cross_val_score_on_digits_is_well_above_chance(method, digits):
    X, y = digits
    scores = cross_val_score(_fast(SOFTWARE[method], method), X, y, cv=3)
    assert scores.mean() > 0.7  # chance is 0.1; measured 0.86 (float, ste) and 0.78 (binarized)


def test_manhattan_at_its_default_minibatch_learns_digits(digits):
    X, y = digits
    scores = cross_val_score(estimators.ManhattanClassifier(n_hidden=64, epochs=10), X, y, cv=3)
    assert scores.mean() > 0.7  # chance is 0.1; measured 0.82


def test_grid_search_picks_a_learning_rate_and_refits(digits):
    X, y = digits
    search = GridSearchCV(
        estimators.FloatMLPClassifier(n_hidden=32, epochs=5, real_inputs=True),
        {"lr": [1e-4, 0.5]},
        cv=2,
    )
    search.fit(X, y)
    assert search.best_params_ == {"lr": 0.5}
    assert search.best_estimator_.score(X, y) > 0.9


def test_the_on_chip_sgd_classifier_does_not_share_scikit_learns_name():
    from sklearn.linear_model import SGDClassifier

    names = {cls.__name__ for cls in estimators.CLASSIFIERS.values()}
    assert SGDClassifier.__name__ not in names and "OnChipSGDClassifier" in names


def test_sbp_has_an_error_rate_curve_and_no_loss_curve_float_has_both(digits):
    X, y = digits
    sbp = estimators.SBPClassifier(n_hidden=32, epochs=3).fit(X, y)
    assert not hasattr(sbp, "loss_curve_")  # SBP's rule defines no loss
    assert len(sbp.error_rate_curve_) == 3
    assert sbp.error_rate_curve_[-1] == pytest.approx(1 - sbp.score(X, y))
    assert sbp.error_rate_curve_[-1] < 0.5  # chance is 0.9
    mlp = estimators.FloatMLPClassifier(n_hidden=32, epochs=3).fit(X, y)
    assert len(mlp.loss_curve_) == 3 and all(isinstance(v, float) for v in mlp.loss_curve_)
    assert mlp.loss_curve_[-1] < mlp.loss_curve_[0]
    assert not hasattr(mlp, "pulses_") and not hasattr(mlp, "energy_per_sample_")


@pytest.mark.parametrize("method", ["sbp", "sgd", "manhattan"])
def test_on_chip_rules_expose_their_pulses_and_the_cost_models_energy(method, digits):
    """The energy, recomputed here from the pulses through sbp_core.cost directly (not through
    the cost tables' frame the estimator uses): the on-chip design's periphery per sample."""
    from sbp_core import cost
    from sbp_core.report.cost_tables import ON_CHIP_DESIGNS

    X, y = digits
    model = CROSSBAR[method](n_hidden=16, epochs=2).fit(X, y)
    sets, resets = model.pulses_["set"], model.pulses_["reset"]
    assert sets.shape == resets.shape == (2,) and sets.sum() + resets.sum() > 0
    samples = 2 * len(y)
    inputs = model._encode(X)
    layers = cost.make_layers(
        [[65, 16], [17, 10]], sets / samples, resets / samples, float(inputs.mean()),
        cost.constant_values(cost.load_constants(estimators.COST_CONSTANTS))["workload.line_activity"],
    )  # fmt: skip
    device = model.learner_.device
    pulse_device = cost.PulseDevice(
        v_set=device.v_set, v_reset=device.v_reset, g_min_s=device.to_dict()["g_min_s"],
        g_max_s=device.g_max_s, pulse_width_s=device.pulse_width_s, n_states=device.n_states,
    )  # fmt: skip
    values = cost.constant_values(cost.load_constants(estimators.COST_CONSTANTS))
    expected = cost.network_cost(ON_CHIP_DESIGNS[method], layers, pulse_device, values, True)
    assert model.energy_per_sample_ == pytest.approx(expected.total_energy_J, rel=1e-12)
    assert model.energy_per_sample_ > 0


def test_exsitu_pays_only_its_last_programming(digits):
    from sbp_core import cost

    X, y = digits
    model = estimators.ExSituClassifier(n_hidden=16, epochs=2).fit(X, y)
    assert model.pulses_["set"].sum() > 0
    device = model.learner_.device
    pulse_device = cost.PulseDevice(
        v_set=device.v_set, v_reset=device.v_reset, g_min_s=device.to_dict()["g_min_s"],
        g_max_s=device.g_max_s, pulse_width_s=device.pulse_width_s, n_states=device.n_states,
    )  # fmt: skip
    assert model.energy_per_sample_ > 0
    last_write = model.energy_per_sample_ * 2 * len(y)
    whole_fit = cost.programming_energy(
        pulse_device, *(model.pulses_[k].sum() for k in ("set", "reset"))
    )
    assert last_write < whole_fit  # the fit rewrote the chip every epoch; deployment is one write
