"""Shared numpy pieces of the float-weight baselines: init, forward, softmax cross-entropy, backward
and the minibatch SGD loop.

`float`, `ste` and `binarized` differ only in the hidden nonlinearity, its (surrogate) slope and in
how the stored weights map to the weights used in a pass, so each is a small subclass of
`SoftwareMLP` overriding those hooks; everything else lives here once.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from sbp_core.methods.base import EpochStats
from sbp_core.spec import RunSpec


def glorot_uniform(
    fan_in: int, fan_out: int, rng: np.random.Generator, dtype: type = np.float32
) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010), shape (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer labels and its gradient with respect to the logits.

    Computed through log-sum-exp, so confident wrong logits give a large finite loss, not inf.
    """
    rows = np.arange(len(y))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(np.mean(log_norm[:, 0] - shifted[rows, y]))
    shifted -= log_norm
    probs = np.exp(shifted, out=shifted)
    probs[rows, y] -= 1.0
    probs /= len(y)
    return loss, probs


class SoftwareMLP:
    """n_in - n_hidden - n_out perceptron with a bias per layer, trained by minibatch SGD on the
    mean softmax cross-entropy of each batch.

    A pass computes `a1 = scale1 * (x @ V1) + b1`, `h = hidden(a1)` and
    `logits = scale2 * (h @ V2) + b2`, where `V1, V2 = pass_weights()` (the stored float weights
    here; their signs in `binarized`).
    The weight gradient of a pass weight is applied to the stored weight unchanged (exact for float
    weights, the straight-through estimator for binarized ones). Plain SGD, no momentum, constant
    learning rate: the fewest knobs that reach the targets (measured, see the method modules).
    """

    defaults: ClassVar[dict[str, Any]] = {}
    """The method's own training hyper-parameters (constructor keywords), chosen on the MNIST
    validation split; each applies where the spec leaves that field at None."""
    scale1: float = 1.0
    scale2: float = 1.0

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        lr: float,
        batch_size: int,
        rng: np.random.Generator,
        dtype: type = np.float32,
    ) -> None:
        self.lr = lr
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        self.W1 = self._init_weights(n_in, n_hidden, rng)
        self.b1 = np.zeros(n_hidden, dtype=self.dtype)
        self.W2 = self._init_weights(n_hidden, n_out, rng)
        self.b2 = np.zeros(n_out, dtype=self.dtype)

    @classmethod
    def from_spec(cls, spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator):
        chosen = {name: getattr(spec, name) for name in cls.defaults}
        hyper = {name: cls.defaults[name] if v is None else v for name, v in chosen.items()}
        return cls(n_in, spec.n_hidden, n_out, rng=rng, **hyper)

    # --- hooks a method overrides ---
    def _init_weights(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
        return glorot_uniform(fan_in, fan_out, rng, self.dtype)

    def hidden(self, a1: np.ndarray) -> np.ndarray:
        """Hidden-unit output for pre-activations `a1`."""
        raise NotImplementedError

    def hidden_slope(self, a1: np.ndarray, h: np.ndarray) -> np.ndarray:
        """d h / d a1 used by the backward pass (a surrogate for step units)."""
        raise NotImplementedError

    def pass_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights the forward and backward passes multiply by."""
        return self.W1, self.W2

    def _after_update(self) -> None:
        """Constraint applied to the stored weights after each step (none by default)."""

    # --- shared machinery ---
    @property
    def params(self) -> list[np.ndarray]:
        return [self.W1, self.b1, self.W2, self.b2]

    def forward(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pre-activations, hidden outputs and logits of a batch."""
        V1, V2 = self.pass_weights()
        a1 = X @ V1
        a1 *= self.scale1
        a1 += self.b1
        h = self.hidden(a1)
        logits = h @ V2
        logits *= self.scale2
        logits += self.b2
        return a1, h, logits

    def loss_and_gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean batch loss and its gradients, in the order of `params`."""
        a1, h, logits = self.forward(X)
        loss, d_logits = softmax_cross_entropy(logits, y)
        _, V2 = self.pass_weights()
        d_out = d_logits * self.dtype.type(self.scale2)
        d_a1 = (d_out @ V2.T) * self.hidden_slope(a1, h)
        d_b1 = d_a1.sum(axis=0)
        d_a1 *= self.scale1
        return loss, [X.T @ d_a1, d_b1, h.T @ d_out, d_logits.sum(axis=0)]

    def _sgd_step(self, X: np.ndarray, y: np.ndarray) -> float:
        loss, grads = self.loss_and_gradients(X, y)
        step = self.dtype.type(-self.lr)
        for param, grad in zip(self.params, grads, strict=True):
            grad *= step
            param += grad
        self._after_update()
        return loss

    def _as_input(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=self.dtype)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        """One pass in an order drawn from rng; returns the mean loss of the batches as trained."""
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            total += self._sgd_step(self._as_input(X[batch]), y[batch]) * len(batch)
        return EpochStats(loss=total / len(order))

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.forward(self._as_input(X))[2]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.decision_function(X), axis=1)

    def state(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name).copy() for name in ("W1", "b1", "W2", "b2")}
