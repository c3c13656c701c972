"""The SBP epoch compiled with numba: the production path of `SBPLearner.fit_epoch`.

Sample by sample it performs the steps of `SBPLearner.train_sample` (the readable numpy
reference in `sbp.py`, README "Method") through the pulse engine, with the same float32
operations and the same noise draws in the same order, so the two paths give bit-identical
conductances and pulse counts with every noise source on (tests/test_sbp.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sbp_core import engine
from sbp_core.jit import compiled


class SBPSettings(NamedTuple):
    """The rule's own settings (RunSpec fields of the same names). Thresholds are float32, so
    they compare with the float32 currents as numpy compares them with a Python float."""

    theta: np.float32
    """Hidden comparator threshold, h = 1[a1 > theta] (weight units)."""
    margin_hi: np.float32
    """Output error +1 where the target column's current is below this (weight units)."""
    margin_lo: np.float32
    """Output error -1 where a non-target column's current is above this (weight units)."""
    error_threshold: np.float32
    """Hidden error d = sign(s) where |s| exceeds this (weight units)."""
    gate_window: np.float32
    """Hidden error only where |a1 - theta| is below this; 0 turns the gate off."""
    pulse_prob: float
    """Probability that each coincident pulse fires."""

    @classmethod
    def from_spec(cls, spec) -> SBPSettings:
        f32 = np.float32
        return cls(
            f32(spec.theta), f32(spec.margin_hi), f32(spec.margin_lo), f32(spec.error_threshold),
            f32(spec.gate_window), float(spec.pulse_prob),
        )  # fmt: skip


SET, RESET = 0, 1
"""Columns of the pulse counts that `train_epoch` returns, one row per layer."""


@compiled
def train_epoch(order, indptr, indices, labels, layer1, layer2, rule, rng):  # pragma: no cover
    """SBP over the samples in `order`; returns the device pulses, counts[layer, SET or RESET].

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); layer1 and layer2
    are `engine.CrossbarArrays`, rule an `SBPSettings`, rng the run's numpy Generator.
    """
    n_in, n_hidden = layer1.g_plus.shape[0] - 1, layer1.g_plus.shape[1]
    n_out = layer2.g_plus.shape[1]
    counts = np.zeros((2, 2), dtype=np.int64)
    rows1 = np.empty(n_in + 1, dtype=np.int64)
    rows2 = np.empty(n_hidden + 1, dtype=np.int64)
    error = np.zeros(n_out, dtype=np.int8)
    hidden_error = np.zeros(n_hidden, dtype=np.int8)
    # scratch for the pulses of one layer update: flat pair index and direction, per layer
    fired1, raise1 = np.empty(layer1.g_plus.size, np.int64), np.empty(layer1.g_plus.size, np.bool_)
    fired2, raise2 = np.empty(layer2.g_plus.size, np.int64), np.empty(layer2.g_plus.size, np.bool_)
    for sample in order:
        # forward: read pulses on the active inputs and the bias, comparators, output currents
        k1 = engine.sample_rows(indptr, indices, sample, rows1)
        a1 = engine.read_rows(layer1, rows1[:k1], rng)
        k2 = 0
        for j in range(n_hidden):
            if a1[j] > rule.theta:
                rows2[k2] = j
                k2 += 1
        rows2[k2] = n_hidden
        k2 += 1
        a2 = engine.read_rows(layer2, rows2[:k2], rng)

        # output error e, ternary, from two comparators per output
        label = labels[sample]
        any_error = False
        for k in range(n_out):
            if k == label:
                error[k] = 1 if a2[k] < rule.margin_hi else 0
            else:
                error[k] = -1 if a2[k] > rule.margin_lo else 0
            any_error = any_error or error[k] != 0
        if not any_error:
            continue

        # hidden error d = sign(s) 1[|s| > error_threshold] 1[|a1 - theta| < gate_window]
        s = engine.read_columns(layer2, error, rng)  # s = W2 e; its last entry is the bias row
        for j in range(n_hidden):
            d = 0
            if s[j] > rule.error_threshold:
                d = 1
            elif s[j] < -rule.error_threshold:
                d = -1
            if rule.gate_window > 0 and abs(a1[j] - rule.theta) >= rule.gate_window:
                d = 0
            hidden_error[j] = d

        # update: one pulse at every coincidence, layer 2 first (as the reference)
        n_set, n_reset = engine.pulse_coincidences(
            layer2, rows2[:k2], error, rule.pulse_prob, rng, fired2, raise2
        )
        counts[1, SET] += n_set
        counts[1, RESET] += n_reset
        n_set, n_reset = engine.pulse_coincidences(
            layer1, rows1[:k1], hidden_error, rule.pulse_prob, rng, fired1, raise1
        )
        counts[0, SET] += n_set
        counts[0, RESET] += n_reset
    return counts
