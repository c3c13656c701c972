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
    """-lr: weight change of layer 1 per unit of -gradient."""
    step_output: np.float32
    """-lr_out: the same for layer 2."""
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
def train_epoch(
    order, indptr, indices, labels, layer1, layer2, rule, adc1, adc2, rng
):  # pragma: no cover
    """SGD over the samples in `order`; returns (counts[layer, SET or RESET], summed loss).

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); layer1 and layer2
    are `engine.CrossbarArrays`, rule an `SGDSettings`, adc1 and adc2 `ADC`s.
    """
    one, f32 = np.float32(1.0), np.float32
    n_in, n_hidden = layer1.g_plus.shape[0] - 1, layer1.g_plus.shape[1]
    n_out = layer2.g_plus.shape[1]
    counts = np.zeros((2, 2), dtype=np.int64)
    loss = 0.0
    rows1 = np.empty(n_in + 1, dtype=np.int64)
    rows2 = np.empty(n_hidden + 1, dtype=np.int64)
    a1, s1 = np.empty(n_hidden, np.float32), np.empty(n_hidden, np.float32)
    a2, s2 = np.empty(n_out, np.float32), np.empty(n_out, np.float32)
    columns_pulses = np.empty(n_hidden, np.int64)
    # per layer: the pairs an update pulses, their pulse counts, and the engine's scratch
    index1, trains1 = np.empty(layer1.g_plus.size, np.int64), np.empty(layer1.g_plus.size, np.int64)
    index2, trains2 = np.empty(layer2.g_plus.size, np.int64), np.empty(layer2.g_plus.size, np.int64)
    fired1, raise1 = np.empty(layer1.g_plus.size, np.int64), np.empty(layer1.g_plus.size, np.bool_)
    fired2, raise2 = np.empty(layer2.g_plus.size, np.int64), np.empty(layer2.g_plus.size, np.bool_)
    for sample in order:
        # forward: read pulses on the active inputs and the bias, ADC, sigmoid, binary drive
        k1 = engine.sample_rows(indptr, indices, sample, rows1)
        z1 = engine.read_rows(layer1, rows1[:k1], rng)
        k2 = 0
        for j in range(n_hidden):
            code = _code(z1[j], adc1)
            a1[j] = adc1.sigmoid[code + adc1.half]
            if f32(code) * adc1.lsb >= rule.theta:
                rows2[k2] = j
                k2 += 1
        rows2[k2] = n_hidden
        k2 += 1
        z2 = engine.read_rows(layer2, rows2[:k2], rng)

        # errors in full precision: s2 = -2 a2 (1 - a2)(t - a2), s1 = a1 (1 - a1) W2 s2
        for k in range(n_out):
            a2[k] = adc2.sigmoid[_code(z2[k], adc2) + adc2.half]
            miss = (one if k == labels[sample] else f32(0.0)) - a2[k]
            loss += miss * miss
            s2[k] = ((f32(-2.0) * a2[k]) * (one - a2[k])) * miss
        for j in range(n_hidden):
            back = f32(0.0)
            for k in range(n_out):
                back += (layer2.diff[j, k] * layer2.scale) * s2[k]
            s1[j] = (a1[j] * (one - a1[j])) * back

        # update layer 1: every active row of column j gets the same pulse count
        for j in range(n_hidden):
            columns_pulses[j] = pulse_count(rule.step_hidden * s1[j], rule)
        m = 0
        for r in rows1[:k1]:
            for j in range(n_hidden):
                if columns_pulses[j] != 0:
                    index1[m] = r * n_hidden + j
                    trains1[m] = columns_pulses[j]
                    m += 1
        n_set, n_reset = engine.pulse_trains(layer1, index1[:m], trains1[:m], rng, fired1, raise1)
        counts[0, SET] += n_set
        counts[0, RESET] += n_reset

        # update layer 2: driven by the analog hidden activations a1 (and the bias, 1)
        m = 0
        for j in range(n_hidden + 1):
            drive = a1[j] if j < n_hidden else one
            for k in range(n_out):
                n = pulse_count((rule.step_output * s2[k]) * drive, rule)
                if n != 0:
                    index2[m] = j * n_out + k
                    trains2[m] = n
                    m += 1
        n_set, n_reset = engine.pulse_trains(layer2, index2[:m], trains2[:m], rng, fired2, raise2)
        counts[1, SET] += n_set
        counts[1, RESET] += n_reset
    return counts, loss


@compiled
def _code(current, adc):  # pragma: no cover - compiled
    """`ADC.codes` for one current."""
    return int(min(max(np.rint(current / adc.lsb), -adc.half), adc.half - 1))
