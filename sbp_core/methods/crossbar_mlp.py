"""What every crossbar learner shares: a crossbar per layer, batched inference, pulse statistics."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np

from sbp_core.chip.crossbar import DTYPE, Crossbar
from sbp_core.chip.device import DeviceParams, device_for
from sbp_core.fields import hidden_widths
from sbp_core.methods.base import EpochStats

if TYPE_CHECKING:
    from sbp_core.spec import RunSpec

_EVAL_CHUNK = 2048  # samples per batched read: bounds memory on all of MNIST


class CrossbarMLP:
    """n_in - n_hidden... - n_out perceptron whose weights are differential-pair crossbars, one
    per layer (`layers`, input side first: layer l has a row per neuron of the layer below plus
    the bias row, and a column per neuron of its own).

    Subclasses define the learning rule (`fit_epoch`) and may change the hidden neurons
    (`hidden_response`, comparators by default) and how output currents are read
    (`output_response`, as they are by default).
    """

    default_init_spread = 0.1
    """Initial conductance spread where the spec leaves init_spread at None: near-zero weights."""

    def __init__(self, spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        self.spec = spec
        self.device: DeviceParams = device_for(spec)
        self.n_in, self.n_out = n_in, n_out
        self.widths = hidden_widths(spec.n_hidden)  # neurons per hidden layer, input side first
        sizes = (n_in, *self.widths, n_out)
        self.layers: tuple[Crossbar, ...] = tuple(
            self._new_layer(rows + 1, cols, rng) for rows, cols in pairwise(sizes)
        )
        # Inference reads draw their noise from their own stream so that evaluating never
        # perturbs the training stream.
        self._read_rng = np.random.default_rng(rng.integers(2**63))
        self._rows_cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_spec(cls, spec: RunSpec, n_in: int, n_out: int, rng: np.random.Generator):
        return cls(spec, n_in, n_out, rng)

    def _new_layer(self, n_rows: int, n_cols: int, rng: np.random.Generator) -> Crossbar:
        spec = self.spec
        spread = self.default_init_spread if spec.init_spread is None else spec.init_spread
        return Crossbar(n_rows, n_cols, self.device, rng, spread, spec.pulse_scheme)

    def hidden_response(self, current: np.ndarray, layer: int) -> np.ndarray:
        """Comparator neurons: 1 when the column current of hidden layer `layer` (0: the first)
        exceeds theta."""
        return (current > self.spec.theta).astype(DTYPE)

    def cached_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR rows of binary inputs X (`active_rows`), computed once for the training set rather
        than every epoch (per-sample rules read them sample by sample)."""
        if self._rows_cache is None or self._rows_cache[0] is not X:
            self._rows_cache = (X, *active_rows(X))
        return self._rows_cache[1:]

    def output_response(self, current: np.ndarray) -> np.ndarray:
        """The output currents as the winner-take-all sees them: unchanged."""
        return current

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        scores = np.empty((len(X), self.n_out), dtype=DTYPE)
        for start in range(0, len(X), _EVAL_CHUNK):
            drive = X[start : start + _EVAL_CHUNK]
            for number, layer in enumerate(self.layers[:-1]):
                drive = self.hidden_response(layer.read_batch(drive, self._read_rng), number)
            current = self.layers[-1].read_batch(drive, self._read_rng)
            scores[start : start + len(current)] = self.output_response(current)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.decision_function(X).argmax(axis=1)

    def epoch_stats(self, loss: float | None = None) -> EpochStats:
        """Pulses since the last call and the saturation now."""
        counts = [layer.take_pulse_counts() for layer in self.layers]
        saturated = sum(layer.saturated_fraction() * layer.g_plus.size for layer in self.layers)
        return EpochStats(
            loss=loss,
            set_pulses=[c[0] for c in counts],
            reset_pulses=[c[1] for c in counts],
            saturated_fraction=saturated / sum(layer.g_plus.size for layer in self.layers),
        )

    def state(self) -> dict[str, np.ndarray]:
        arrays = {}
        for number, layer in enumerate(self.layers, start=1):
            arrays[f"G_plus_l{number}"] = layer.g_plus
            arrays[f"G_minus_l{number}"] = layer.g_minus
        return arrays


def active_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR view of binary inputs: rows of sample i are indices[indptr[i]:indptr[i + 1]].

    Built chunk by chunk with int32 indices: np.nonzero on all of MNIST at once would hold two
    int64 index arrays of ~45 MB each.
    """
    counts = np.count_nonzero(X, axis=1)
    indptr = np.zeros(len(X) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(indptr[-1], dtype=np.int32)
    for start in range(0, len(X), _EVAL_CHUNK):
        stop = min(start + _EVAL_CHUNK, len(X))
        indices[indptr[start] : indptr[stop]] = np.nonzero(X[start:stop])[1]
    return indptr, indices
