"""Shared numpy pieces of the float-weight baselines: init, forward, softmax cross-entropy, backward
and the minibatch SGD loop.

`float`, `ste` and `binarized` differ only in the hidden nonlinearity, its (surrogate) slope and in
how the stored weights map to the weights used in a pass, so each is a small subclass of
`SoftwareMLP` overriding those hooks; everything else lives here once.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sbp_core.fields import Widths, hidden_widths
from sbp_core.methods.base import EpochStats

if TYPE_CHECKING:
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
    """n_in - n_hidden... - n_out perceptron with a bias per layer, trained by minibatch SGD on
    the mean softmax cross-entropy of each batch.

    A pass computes, layer by layer, `a_l = scales[l] * (h_{l-1} @ V_l) + b_l` with `h_0 = x`
    and `h_l = hidden(a_l)` for the hidden layers; the last layer's `a` are the logits. `V =
    pass_weights()` (the stored float weights here; their signs in `binarized`).
    The weight gradient of a pass weight is applied to the stored weight unchanged (exact for float
    weights, the straight-through estimator for binarized ones). Plain SGD, no momentum, constant
    learning rate: the fewest knobs that reach the targets (measured, see the method modules).
    Parameters and state are named W1, b1, W2, b2, ... from the input side.
    """

    defaults: ClassVar[dict[str, Any]] = {}
    """The method's own training hyper-parameters (constructor keywords), chosen on the MNIST
    validation split; each applies where the spec leaves that field at None."""

    def __init__(
        self,
        n_in: int,
        n_hidden: Widths,
        n_out: int,
        lr: float,
        batch_size: int,
        rng: np.random.Generator,
        dtype: type = np.float32,
    ) -> None:
        self.lr = lr
        self.batch_size = batch_size
        self.dtype = np.dtype(dtype)
        sizes = (n_in, *hidden_widths(n_hidden), n_out)
        self.sizes = sizes
        self.weights = [self._init_weights(m, n, rng) for m, n in pairwise(sizes)]
        self.biases = [np.zeros(n, dtype=self.dtype) for n in sizes[1:]]
        self.scales = [1.0] * len(self.weights)  # pre-activation scale per layer (binarized)

    @classmethod
    def from_spec(cls, spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator):
        chosen = {name: getattr(spec, name) for name in cls.defaults}
        hyper = {name: cls.defaults[name] if v is None else v for name, v in chosen.items()}
        return cls(n_in, spec.n_hidden, n_out, rng=rng, **hyper)

    # --- hooks a method overrides ---
    def _init_weights(self, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
        return glorot_uniform(fan_in, fan_out, rng, self.dtype)

    def hidden(self, a: np.ndarray) -> np.ndarray:
        """Hidden-unit output for pre-activations `a`."""
        raise NotImplementedError

    def hidden_slope(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        """d h / d a used by the backward pass (a surrogate for step units)."""
        raise NotImplementedError

    def pass_weights(self) -> list[np.ndarray]:
        """Weights the forward and backward passes multiply by, a matrix per layer."""
        return self.weights

    def _after_update(self) -> None:
        """Constraint applied to the stored weights after each step (none by default)."""

    # --- shared machinery ---
    @property
    def params(self) -> list[np.ndarray]:
        """W1, b1, W2, b2, ...: every weight matrix and bias, input side first."""
        return [p for pair in zip(self.weights, self.biases, strict=True) for p in pair]

    def forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every layer's pre-activations (the last: the logits) and every layer's input (X,
        then each hidden layer's outputs) of a batch."""
        inputs, pre = [X], []
        for number, (V, b) in enumerate(zip(self.pass_weights(), self.biases, strict=True)):
            a = inputs[-1] @ V
            a *= self.scales[number]
            a += b
            pre.append(a)
            if number + 1 < len(self.biases):
                inputs.append(self.hidden(a))
        return pre, inputs

    def loss_and_gradients(self, X: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean batch loss and its gradients, in the order of `params`."""
        pre, inputs = self.forward(X)
        loss, delta = softmax_cross_entropy(pre[-1], y)  # d loss / d pre-activation, top layer
        V = self.pass_weights()
        top = len(V) - 1
        grads = [delta] * (2 * len(V))  # every entry is replaced, in the order of `params`
        grads[2 * top + 1] = delta.sum(axis=0)
        d_out = delta * self.dtype.type(self.scales[top])
        grads[2 * top] = inputs[top].T @ d_out
        for number in range(top - 1, -1, -1):
            delta = (d_out @ V[number + 1].T) * self.hidden_slope(pre[number], inputs[number + 1])
            grads[2 * number + 1] = delta.sum(axis=0)
            delta *= self.scales[number]
            grads[2 * number] = inputs[number].T @ delta
            d_out = delta
        return loss, grads

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
        return self.forward(self._as_input(X))[0][-1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.argmax(self.decision_function(X), axis=1)

    def state(self) -> dict[str, np.ndarray]:
        """W1, b1, W2, b2, ...: copies of every weight matrix and bias."""
        arrays = {}
        for number, (W, b) in enumerate(zip(self.weights, self.biases, strict=True), start=1):
            arrays[f"W{number}"], arrays[f"b{number}"] = W.copy(), b.copy()
        return arrays
