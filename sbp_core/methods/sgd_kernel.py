"""The on-chip SGD epoch compiled with numba: the production path of `SGDLearner.fit_epoch`.

Sample by sample it performs the steps of `SGDLearner.train_sample` (the readable numpy reference
in `sgd.py`) through the pulse engine, with the same float32 operations and the same noise draws
in the same order, so the two paths give bit-identical conductances, pulse counts and loss with
every noise source on (tests/test_sgd.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sbp_core import engine
from sbp_core.jit import compiled


class ADC(NamedTuple):
    """One layer's column ADCs and the sigmoid the digital periphery applies to their codes."""

    lsb: np.float32
    """Weight units per code: full scale +-n_rows over 2**bits codes."""
    half: int
    """2**(bits - 1): codes run from -half to half - 1."""
    sigmoid: np.ndarray
    """float32 sigmoid(code * lsb) at index code + half: a lookup, as a chip would do it."""

    @classmethod
    def for_rows(cls, n_rows: int, bits: int) -> ADC:
        half = 2 ** (bits - 1)
        lsb = np.float32(n_rows / half)
        values = np.arange(-half, half, dtype=np.float32) * lsb
        return cls(lsb, half, (1.0 / (1.0 + np.exp(-values.astype(np.float64)))).astype(np.float32))

    def codes(self, current: np.ndarray) -> np.ndarray:
        """Nearest code of each current (ties to even), clipped to the ADC's range."""
        return np.clip(np.rint(current / self.lsb), -self.half, self.half - 1).astype(np.int64)


class SGDSettings(NamedTuple):
    """The rule's settings, float32 where they meet float32 arithmetic."""

    theta: np.float32
    """A hidden neuron drives layer 2 when its digitised current is >= theta (weight units)."""
    step_hidden: np.float32
    """-lr: weight change of the hidden layers' crossbars (all but the last) per unit of
    -gradient."""
    step_output: np.float32
    """-lr_out: the same for the output layer's crossbar."""
    weight_step: np.float32
    """Nominal weight change of one pulse on a pair (weight units)."""
    max_pulses: int
    """Most pulses one update may give one pair: the device's full range, n_states - 1."""


SET, RESET = 0, 1
"""Columns of the pulse counts that `train_epoch` returns, one row per layer."""


@compiled
def pulse_count(delta, rule):  # pragma: no cover - compiled
    """Pulses for weight change `delta`: delta / weight_step rounded half away from zero (as
    NeuroSim's truncate), capped at max_pulses, with the sign of the change."""
    n = np.floor(abs(delta / rule.weight_step) + np.float32(0.5))
    n = min(n, np.float32(rule.max_pulses))
    return int(n) if delta > 0 else -int(n)


@compiled
def train_epoch(order, indptr, indices, labels, layers, rule, adcs, rng):  # pragma: no cover
    """SGD over the samples in `order`; returns (counts[layer, SET or RESET], summed loss).

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); `layers` is a tuple
    of `engine.CrossbarArrays`, input side first, rule an `SGDSettings`, adcs a tuple of each
    layer's `ADC`. Per layer l the rows it is driven on, the activations and errors of its
    columns live in slices of flat buffers: rows[row_start[l]:], a[col_start[l]:] etc.
    """
    one, f32 = np.float32(1.0), np.float32
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
    loss = 0.0
    rows = np.empty(row_start[n_layers], dtype=np.int64)
    n_driven = np.zeros(n_layers, dtype=np.int64)  # rows driven in each layer
    a = np.empty(col_start[n_layers], np.float32)  # sigmoid of every column's code
    s = np.empty(col_start[n_layers], np.float32)  # every column's error
    columns_pulses = np.empty(layers[0].g_plus.shape[1], np.int64)
    # one layer's update at a time: the pairs it pulses, their pulse counts, the engine's scratch
    index, trains = np.empty(biggest, np.int64), np.empty(biggest, np.int64)
    fired, raise_weight = np.empty(biggest, np.int64), np.empty(biggest, np.bool_)
    for sample in order:
        # forward: read pulses on the active inputs and the bias, ADC, sigmoid, binary drive
        n_driven[0] = engine.sample_rows(indptr, indices, sample, rows[: row_start[1]])
        for number in range(n_layers):
            adc, start = adcs[number], row_start[number]
            z = engine.read_rows(layers[number], rows[start : start + n_driven[number]], rng)
            out, k = row_start[number + 1], 0
            for j in range(z.size):
                code = _code(z[j], adc)
                a[col_start[number] + j] = adc.sigmoid[code + adc.half]
                if number < top and f32(code) * adc.lsb >= rule.theta:
                    rows[out + k] = j
                    k += 1
            if number < top:
                rows[out + k] = z.size  # the bias row
                n_driven[number + 1] = k + 1

        # errors in full precision: s_L = -2 a (1 - a)(t - a), s_l = a (1 - a) W_{l+1} s_{l+1}
        start = col_start[top]
        for k in range(col_start[n_layers] - start):
            miss = (one if k == labels[sample] else f32(0.0)) - a[start + k]
            loss += miss * miss
            s[start + k] = ((f32(-2.0) * a[start + k]) * (one - a[start + k])) * miss
        for number in range(top, 0, -1):
            bar, above, below = layers[number], col_start[number], col_start[number - 1]
            for j in range(above - below):
                back = f32(0.0)
                for k in range(col_start[number + 1] - above):
                    back += (bar.diff[j, k] * bar.scale) * s[above + k]
                s[below + j] = (a[below + j] * (one - a[below + j])) * back

        # update layer 1: every active row of column j gets the same pulse count
        n_cols = columns_pulses.size
        for j in range(n_cols):
            columns_pulses[j] = pulse_count(rule.step_hidden * s[j], rule)
        m = 0
        for r in rows[: n_driven[0]]:
            for j in range(n_cols):
                if columns_pulses[j] != 0:
                    index[m] = r * n_cols + j
                    trains[m] = columns_pulses[j]
                    m += 1
        n_set, n_reset = engine.pulse_trains(
            layers[0], index[:m], trains[:m], rng, fired, raise_weight
        )
        counts[0, SET] += n_set
        counts[0, RESET] += n_reset

        # update the layers above: driven by the analog activations below (and the bias, 1)
        for number in range(1, n_layers):
            step = rule.step_output if number == top else rule.step_hidden
            above, below = col_start[number], col_start[number - 1]
            n_cols, m = col_start[number + 1] - above, 0
            for j in range(above - below + 1):
                drive = a[below + j] if j < above - below else one
                for k in range(n_cols):
                    n = pulse_count((step * s[above + k]) * drive, rule)
                    if n != 0:
                        index[m] = j * n_cols + k
                        trains[m] = n
                        m += 1
            n_set, n_reset = engine.pulse_trains(
                layers[number], index[:m], trains[:m], rng, fired, raise_weight
            )
            counts[number, SET] += n_set
            counts[number, RESET] += n_reset
    return counts, loss


@compiled
def _code(current, adc):  # pragma: no cover - compiled
    """`ADC.codes` for one current."""
    return int(min(max(np.rint(current / adc.lsb), -adc.half), adc.half - 1))
