"""The SBP epoch compiled with numba: the production path of `SBPLearner.fit_epoch`.

Sample by sample it performs the steps of `SBPLearner.train_sample` (the readable numpy
reference in `sbp.py`, docs/method.md) through the pulse engine, with the same float32
operations and the same noise draws in the same order, so the two paths give bit-identical
conductances and pulse counts with every noise source on (tests/test_sbp.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sbp_core.chip import engine
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
    per_line: bool
    """Draw once per row and column line rather than per pair (`pulse_rng` line)."""

    @classmethod
    def from_spec(cls, spec) -> SBPSettings:
        f32 = np.float32
        return cls(
            f32(spec.theta), f32(spec.margin_hi), f32(spec.margin_lo), f32(spec.error_threshold),
            f32(spec.gate_window), float(spec.pulse_prob), spec.pulse_rng == "line",
        )  # fmt: skip


SET, RESET = 0, 1
"""Columns of the pulse counts that `train_epoch` returns, one row per layer."""


@compiled
def train_epoch(order, indptr, indices, labels, layers, rule, rng):  # pragma: no cover
    """SBP over the samples in `order`; returns the device pulses, counts[layer, SET or RESET].

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); `layers` is a tuple
    of `engine.CrossbarArrays`, input side first, rule an `SBPSettings`, rng the run's numpy
    Generator. Layer l's driven rows, and the currents (hidden layers) and ternary errors of its
    columns, are views of flat buffers: rows[row_start[l]:], currents[col_start[l]:], ...
    """
    n_layers = len(layers)
    top = n_layers - 1
    row_start, col_start, biggest = engine.layer_layout(layers)
    counts = np.zeros((n_layers, 2), dtype=np.int64)
    rows = np.empty(row_start[n_layers], dtype=np.int64)
    n_driven = np.zeros(n_layers, dtype=np.int64)  # rows driven in each layer
    currents = np.empty(col_start[n_layers], dtype=np.float32)
    errors = np.zeros(col_start[n_layers], dtype=np.int8)
    # scratch for the pulses of one layer update (flat pair index and direction): the largest
    fired, raised = np.empty(biggest, np.int64), np.empty(biggest, np.bool_)
    # Bound once: indexing the tuple with a loop variable copies the layer's arrays and counts
    # (atomic) references to each, every time. With one hidden layer every layer is the first
    # or the last, so no sample indexes the tuple; indexing it cost 1 % more instructions per
    # sample on MNIST 784-100-10 (valgrind), and more time
    first, last = layers[0], layers[top]
    for sample in order:
        # forward: read pulses on the active inputs and the bias, comparators, output currents
        n_driven[0] = engine.sample_rows(indptr, indices, sample, rows[: row_start[1]])
        for number in range(n_layers):
            driven = rows[row_start[number] : row_start[number] + n_driven[number]]
            if number == 0:
                a = engine.read_rows(first, driven, rng)
            elif number == top:
                a = engine.read_rows(last, driven, rng)
            else:
                a = engine.read_rows(layers[number], driven, rng)
            if number < top:  # comparators h = 1[a > theta] drive the next layer's rows
                kept = currents[col_start[number] : col_start[number + 1]]  # for the gate
                following = rows[row_start[number + 1] : row_start[number + 2]]
                k = 0
                for j in range(a.size):
                    kept[j] = a[j]
                    if a[j] > rule.theta:
                        following[k] = j
                        k += 1
                following[k] = a.size  # the bias row
                n_driven[number + 1] = k + 1

        # output error e, ternary, from two comparators per output (a: the output currents)
        label, output = labels[sample], errors[col_start[top] :]
        any_error = False
        for k in range(a.size):
            if k == label:
                output[k] = 1 if a[k] < rule.margin_hi else 0
            else:
                output[k] = -1 if a[k] > rule.margin_lo else 0
            any_error = any_error or output[k] != 0
        if not any_error:
            continue

        # hidden errors downwards, d = sign(s) 1[|s| > error_threshold] 1[|a - theta| < gate]
        lowest = top  # the lowest layer with an error to learn from
        while lowest > 0:
            above = errors[col_start[lowest] : col_start[lowest + 1]]
            if lowest == top:  # s = W d over the layer's rows; the last entry is the bias row
                s = engine.read_columns(last, above, rng)
            else:
                s = engine.read_columns(layers[lowest], above, rng)
            below = errors[col_start[lowest - 1] : col_start[lowest]]
            kept = currents[col_start[lowest - 1] : col_start[lowest]]
            any_error = False
            for j in range(below.size):
                d = 0
                if s[j] > rule.error_threshold:
                    d = 1
                elif s[j] < -rule.error_threshold:
                    d = -1
                if rule.gate_window > 0 and abs(kept[j] - rule.theta) >= rule.gate_window:
                    d = 0
                below[j] = d
                any_error = any_error or d != 0
            if not any_error:
                break
            lowest -= 1

        # update: one pulse at every coincidence, output layer first (as the reference)
        for number in range(top, lowest - 1, -1):
            driven = rows[row_start[number] : row_start[number] + n_driven[number]]
            error, prob = errors[col_start[number] : col_start[number + 1]], rule.pulse_prob
            line = rule.per_line
            if number == 0:
                pulsed = engine.pulse_coincidences(
                    first, driven, error, prob, line, rng, fired, raised
                )
            elif number == top:
                pulsed = engine.pulse_coincidences(
                    last, driven, error, prob, line, rng, fired, raised
                )
            else:
                bar = layers[number]
                pulsed = engine.pulse_coincidences(
                    bar, driven, error, prob, line, rng, fired, raised
                )
            n_set, n_reset = pulsed
            counts[number, SET] += n_set
            counts[number, RESET] += n_reset
    return counts
