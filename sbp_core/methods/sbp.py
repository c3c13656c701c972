"""Sign backpropagation (Zhang et al., Neural Networks 108, 2018) as read in the README, "Method".

Per training sample, all in the crossbar's own terms:

1. forward: binary inputs drive rows of layer 1; hidden comparators h = 1[a1 > theta] drive
   rows of layer 2; the output currents a2 decide the class (winner-take-all);
2. output error, ternary: e_k = +1 if k is the target and a2_k < margin_hi, -1 if k is not the
   target and a2_k > margin_lo, else 0 (two comparators per output);
3. hidden error: e drives the columns of layer 2, the rows are read (s = W2^T e) and ternarized,
   d = sign(s) 1[|s| > error_threshold], gated to hidden units with |a1 - theta| < gate_window;
4. update: every device pair whose row carried a 1 and whose column error is non-zero gets one
   pulse in the direction of that error, the whole crossbar in parallel.

Only 1 bit per neuron is stored forward and 2 bits backward; no ADC, DAC or multiplier.
"""

from __future__ import annotations

import numpy as np

from sbp_core.methods.base import EpochStats
from sbp_core.methods.crossbar_mlp import CrossbarMLP


class SBPLearner(CrossbarMLP):
    """Sign backpropagation on two crossbars; per-sample updates in the order drawn from rng.

    `engine="numba"` (the default, used by every run) trains through the compiled loop in
    `sbp_kernel.py`; `engine="numpy"` is the readable reference below (`train_sample`), kept
    for tests and the speed benchmark. Both perform the same float32 operations.
    """

    def __init__(self, spec, n_in, n_out, rng, engine: str = "numba") -> None:
        super().__init__(spec, n_in, n_out, rng)
        self.engine = engine

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        indptr, indices = self.cached_rows(X)
        order = rng.permutation(len(X))
        if self.engine == "numba":
            self._fit_compiled(order, indptr, indices, y, rng)
        else:
            bias1 = np.array([self.n_in])
            for i in order:
                rows = np.concatenate((indices[indptr[i] : indptr[i + 1]], bias1))
                self.train_sample(rows, int(y[i]), rng)
        return self.epoch_stats()

    def _fit_compiled(self, order, indptr, indices, y, rng: np.random.Generator) -> None:
        from sbp_core.methods import sbp_kernel  # numba's cache loads only when SBP runs

        counts = sbp_kernel.train_epoch(
            order, indptr, indices, np.asarray(y, dtype=np.int64),
            self.layer1.arrays(), self.layer2.arrays(), sbp_kernel.SBPSettings.from_spec(self.spec),
            rng,
        )  # fmt: skip
        for layer, layer_counts in zip(self.layers, counts, strict=True):
            layer.count_pulses(layer_counts[sbp_kernel.SET], layer_counts[sbp_kernel.RESET])

    def train_sample(self, rows1: np.ndarray, label: int, rng: np.random.Generator) -> None:
        """One forward pass, ternary errors and one parallel pulse update for one sample."""
        spec = self.spec
        a1 = self.layer1.read_rows(rows1, rng)
        rows2 = np.append(np.flatnonzero(a1 > spec.theta), self.n_hidden)
        a2 = self.layer2.read_rows(rows2, rng)

        error = output_error(a2, label, spec.margin_hi, spec.margin_lo)
        if not error.any():
            return
        s = self.layer2.read_columns(error, rng)[:-1]  # the bias row has no neuron behind it
        hidden_error = ternarize(s, spec.error_threshold)
        if spec.gate_window > 0:
            hidden_error[np.abs(a1 - spec.theta) >= spec.gate_window] = 0

        self.layer2.pulse(rows2, error, rng, spec.pulse_prob)
        self.layer1.pulse(rows1, hidden_error, rng, spec.pulse_prob)


def output_error(current: np.ndarray, label: int, margin_hi: float, margin_lo: float) -> np.ndarray:
    """Ternary output error from two comparators per output column."""
    error = np.where(current > margin_lo, -1, 0).astype(np.int8)
    error[label] = 1 if current[label] < margin_hi else 0
    return error


def ternarize(signal: np.ndarray, threshold: float) -> np.ndarray:
    """sign(signal) where |signal| > threshold, else 0, as int8."""
    out = np.sign(signal).astype(np.int8)
    out[np.abs(signal) <= threshold] = 0
    return out
