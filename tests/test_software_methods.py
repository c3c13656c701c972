"""The float-weight baselines: exact gradients, the STE window rule, +-1 weights, reproducibility,
and that each one actually learns."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sbp_core.methods import learner_class, make_learner
from sbp_core.methods.binarized import OUTPUT_GAIN, BinarizedLearner
from sbp_core.methods.float_mlp import FloatMLP
from sbp_core.methods.mlp_core import softmax_cross_entropy
from sbp_core.methods.ste import STE_WINDOW, STELearner
from sbp_core.spec import RunSpec

SOFTWARE_METHODS = ("float", "ste", "binarized")


@pytest.fixture(scope="module")
def digits():
    """UCI digits as binary read pulses (pixel > 8 of 16), split 1300 / 497."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order] > 8, y[order]
    return X[:1300], y[:1300], X[1300:], y[1300:]


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_float_gradients_match_central_differences(activation):
    rng = np.random.default_rng(1)
    net = FloatMLP(5, 4, 3, 0.1, 8, rng, activation=activation, dtype=np.float64)
    X = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, size=7)
    _, grads = net.loss_and_gradients(X, y)
    eps = 1e-6
    for param, grad in zip(net.params, grads, strict=True):
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            up, _ = net.loss_and_gradients(X, y)
            param[index] = saved - eps
            down, _ = net.loss_and_gradients(X, y)
            param[index] = saved
            numeric[index] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_ste_gradient_is_the_window_rule():
    """One sample, three hidden units: inside the window, outside above, outside below."""
    net = STELearner(2, 3, 2, 0.1, 1, np.random.default_rng(0), dtype=np.float64)
    W1, W2 = net.weights
    b1, b2 = net.biases
    W1[:] = [[0.5, 2.0, -3.0], [0.0, 0.0, 0.0]]
    b1[:] = 0.0
    W2[:] = [[1.0, -1.0], [0.5, 0.25], [2.0, 1.0]]
    b2[:] = [0.1, -0.2]
    x = np.array([[1.0, 1.0]])
    y = np.array([1])
    a1 = np.array([0.5, 2.0, -3.0])
    h = np.array([1.0, 1.0, 0.0])
    logits = h @ W2 + b2
    p = np.exp(logits) / np.exp(logits).sum()
    d_logits = p - np.array([0.0, 1.0])
    window = (np.abs(a1) <= STE_WINDOW).astype(float)
    d_a1 = (W2 @ d_logits) * window
    _, (g_W1, g_b1, g_W2, g_b2) = net.loss_and_gradients(x, y)
    np.testing.assert_allclose(g_W1, np.outer(x[0], d_a1))
    np.testing.assert_allclose(g_b1, d_a1)
    np.testing.assert_allclose(g_W2, np.outer(h, d_logits))
    np.testing.assert_allclose(g_b2, d_logits)
    assert g_b1[0] != 0 and g_b1[1] == 0 and g_b1[2] == 0


def test_binarized_passes_use_exactly_plus_minus_one_weights(digits):
    X, y, _, _ = digits
    rng = np.random.default_rng(3)
    net = BinarizedLearner(64, 16, 10, 1.0, 32, rng)
    net.fit_epoch(X, y, rng)
    V1, V2 = net.pass_weights()
    for latent, signs in zip(net.weights, (V1, V2), strict=True):
        assert set(np.unique(signs)) <= {-1.0, 1.0}
        assert np.array_equal(signs, np.where(latent >= 0, 1.0, -1.0))
        assert np.abs(latent).max() <= 1.0
    x = X[:50].astype(np.float32)
    a1 = (x @ V1) / np.sqrt(64) + net.biases[0]
    expected = ((a1 > 0) @ V2) * OUTPUT_GAIN / np.sqrt(16) + net.biases[1]
    np.testing.assert_allclose(net.decision_function(X[:50]), expected, rtol=1e-5, atol=1e-5)


def test_softmax_cross_entropy_of_confident_logits_is_finite():
    loss, grad = softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert np.isfinite(loss) and loss > 1000
    np.testing.assert_allclose(grad, [[1.0, -1.0]])


def _trained_state(method, X, y, seed):
    spec = RunSpec(method=method, seed=seed, n_hidden=16)
    rng = np.random.default_rng(seed)
    learner = make_learner(spec, X.shape[1], 10, rng)
    learner.fit_epoch(X, y, rng)
    return learner.state()


@pytest.mark.parametrize("method", SOFTWARE_METHODS)
def test_same_seed_gives_bit_identical_weights(method, digits):
    X, y, _, _ = digits
    first, again = _trained_state(method, X, y, 5), _trained_state(method, X, y, 5)
    other = _trained_state(method, X, y, 6)
    assert sorted(first) == ["W1", "W2", "b1", "b2"]
    for name in first:
        assert first[name].tobytes() == again[name].tobytes()
    assert not np.array_equal(first["W1"], other["W1"])


@pytest.mark.parametrize(
    ("method", "min_accuracy"), [("float", 0.88), ("ste", 0.88), ("binarized", 0.78)]
)
def test_learns_digits_well_above_chance(method, min_accuracy, digits):
    """Chance is 10 %; each method at its own default learning rate and batch size."""
    X, y, X_test, y_test = digits
    rng = np.random.default_rng(0)
    learner = learner_class(method)(64, 64, 10, rng=rng, **learner_class(method).defaults)
    losses = [learner.fit_epoch(X, y, rng).loss for _ in range(8)]
    assert losses[-1] < losses[0]
    assert np.mean(learner.predict(X_test) == y_test) > min_accuracy


@pytest.mark.parametrize("method", SOFTWARE_METHODS)
def test_spec_fields_left_at_none_take_the_method_defaults(method):
    spec = RunSpec(method=method, lr=None, batch_size=None)
    learner = make_learner(spec, 4, 3, np.random.default_rng(0))
    defaults = learner_class(method).defaults
    assert (learner.lr, learner.batch_size) == (defaults["lr"], defaults["batch_size"])
    explicit = make_learner(RunSpec(method=method, lr=0.05), 4, 3, np.random.default_rng(0))
    assert explicit.lr == 0.05
