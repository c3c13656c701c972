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
    """Hidden comparator threshold, h = 1[a > theta] (weight units)."""
    margin_hi: np.float32
    """Output error +1 where the target column's current is below this (weight units)."""
    margin_lo: np.float32
    """Output error -1 where a non-target column's current is above this (weight units)."""
    error_threshold: np.float32
    """Hidden error d = sign(s) where |s| exceeds this (weight units)."""
    gate_window: np.float32
    """Hidden error only where |a - theta| is below this; 0 turns the gate off."""
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
def train_epoch(order, indptr, indices, labels, layers, rule, rng):  # pragma: no cover
    """SBP over the samples in `order`; returns the device pulses, counts[layer, SET or RESET].

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); `layers` is a tuple
    of `engine.CrossbarArrays`, input side first, rule an `SBPSettings`, rng the run's numpy
    Generator. Per layer l the rows it is driven on, the currents and the ternary errors of its
    columns live in slices of flat buffers: rows[row_start[l]:], currents[col_start[l]:] etc.
    """
    n_layers = len(layers)
    top = n_layers - 1
    row_start = np.zeros(n_layers + 1, dtype=np.int64)
    col_start = np.zeros(n_layers + 1, dtype=np.int64)
    biggest = 0
    for number in range(n_layers):
        n_rows, n_cols = layers[number].g_plus.shape
        row_start[number + 1] = row_start[number] + n_rows
        col_start[number + 1] = col_start[number] + n_cols
        biggest = max(biggest, n_rows * n_cols)
    counts = np.zeros((n_layers, 2), dtype=np.int64)
    rows = np.empty(row_start[n_layers], dtype=np.int64)
    n_driven = np.zeros(n_layers, dtype=np.int64)  # rows driven in each layer
    currents = np.empty(col_start[n_layers], dtype=np.float32)
    errors = np.zeros(col_start[n_layers], dtype=np.int8)
    # scratch for the pulses of one layer update (flat pair index and direction): the largest
    fired, raise_weight = np.empty(biggest, np.int64), np.empty(biggest, np.bool_)
    for sample in order:
        # forward: read pulses on the active inputs and the bias, comparators, output currents
        n_driven[0] = engine.sample_rows(indptr, indices, sample, rows[: row_start[1]])
        for number in range(n_layers):
            start = row_start[number]
            a = engine.read_rows(layers[number], rows[start : start + n_driven[number]], rng)
            if number < top:  # comparators h = 1[a > theta] drive the next layer's rows
                start, k, column = row_start[number + 1], 0, col_start[number]
                for j in range(a.size):
                    currents[column + j] = a[j]  # kept for the gate of the backward pass
                    if a[j] > rule.theta:
                        rows[start + k] = j
                        k += 1
                rows[start + k] = a.size  # the bias row
                n_driven[number + 1] = k + 1

        # output error e, ternary, from two comparators per output
        label, start = labels[sample], col_start[top]
        any_error = False
        for k in range(a.size):  # a: the output currents, read last
            if k == label:
                error = 1 if a[k] < rule.margin_hi else 0
            else:
                error = -1 if a[k] > rule.margin_lo else 0
            errors[start + k] = error
            any_error = any_error or error != 0
        if not any_error:
            continue

        # hidden errors downwards, d = sign(s) 1[|s| > error_threshold] 1[|a - theta| < gate]
        lowest = top  # the lowest layer with an error to learn from
        while lowest > 0:
            # s = W d over the rows of layer `lowest`; its last entry is the bias row
            above = errors[col_start[lowest] : col_start[lowest + 1]]
            s = engine.read_columns(layers[lowest], above, rng)
            start, any_error = col_start[lowest - 1], False
            for j in range(col_start[lowest] - start):
                d = 0
                if s[j] > rule.error_threshold:
                    d = 1
                elif s[j] < -rule.error_threshold:
                    d = -1
                gated = abs(currents[start + j] - rule.theta) >= rule.gate_window
                if rule.gate_window > 0 and gated:
                    d = 0
                errors[start + j] = d
                any_error = any_error or d != 0
            if not any_error:
                break
            lowest -= 1

        # update: one pulse at every coincidence, output layer first (as the reference)
        for number in range(top, lowest - 1, -1):
            start = row_start[number]
            n_set, n_reset = engine.pulse_coincidences(
                layers[number], rows[start : start + n_driven[number]],
                errors[col_start[number] : col_start[number + 1]], rule.pulse_prob, rng,
                fired, raise_weight,
            )  # fmt: skip
            counts[number, SET] += n_set
            counts[number, RESET] += n_reset
    return counts
