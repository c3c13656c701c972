"""The on-chip SGD epoch compiled with numba: the production path of `SGDLearner.fit_epoch`.

Sample by sample it performs the steps of `SGDLearner.train_sample` (the readable numpy reference
in `sgd.py`) through the pulse engine, with the same float32 operations and the same noise draws
in the same order, so the two paths give bit-identical conductances, pulse counts and loss with
every noise source on (tests/test_sgd.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sbp_core.chip import engine
from sbp_core.jit import compiled


class ADC(NamedTuple):
    """One layer's column ADCs and the sigmoid the digital periphery applies to their codes."""

    lsb: np.float32
    """Weight units per code: full scale +-n_rows over 2**bits codes."""
    half: int
    """2**(bits - 1): codes run from -half to half - 1."""
    sigmoid: np.ndarray
    """float32 sigmoid(gain * code * lsb) at index code + half: a lookup, as a chip would do it."""

    @classmethod
    def for_rows(cls, n_rows: int, bits: int, gain: float = 1.0) -> ADC:
        """The ADCs of a layer of `n_rows` rows; `gain` scales the sum its sigmoid sees (sgd's
        `sigmoid_gain`)."""
        half = 2 ** (bits - 1)
        lsb = np.float32(n_rows / half)
        values = np.arange(-half, half, dtype=np.float32) * lsb
        sums = gain * values.astype(np.float64)
        with np.errstate(over="ignore"):  # exp(-sum) overflows to inf far below 0: sigmoid 0
            sigmoid = 1.0 / (1.0 + np.exp(-sums))
        return cls(lsb, half, sigmoid.astype(np.float32))

    def codes(self, current: np.ndarray) -> np.ndarray:
        """Nearest code of each current (ties to even), clipped to the ADC's range."""
        return np.clip(np.rint(current / self.lsb), -self.half, self.half - 1).astype(np.int64)


class SGDSettings(NamedTuple):
    """The rule's settings, float32 where they meet float32 arithmetic."""

    theta: np.float32
    """A hidden neuron drives the next layer when its digitised current is >= theta (weight
    units)."""
    step_hidden: np.float32
    """-lr: weight change of the hidden layers' crossbars (all but the last) per unit of
    -gradient."""
    step_output: np.float32
    """-lr_out: the same for the output layer's crossbar."""
    weight_step: np.float32
    """Nominal weight change of one pulse on a pair (weight units)."""
    max_pulses: int
    """Most pulses one update may give one pair: the device's full range, n_states - 1."""
    bias_drive: np.float32
    """1: the bias rows learn (every layer's last row, driven by a constant 1); 0: they hold
    weight 0 and are never pulsed, as if absent (NeuroSim has none; sgd's `bias_row`)."""
    neurosim_cast: bool
    """Apply int((k / N) * N) pulses, not k, as NeuroSim's integer pulse count holds them
    (sgd's `pulse_cast`; N = max_pulses)."""


SET, RESET = 0, 1
"""Columns of the pulse counts that `train_epoch` returns, one row per layer."""


@compiled
def pulse_count(delta, rule):  # pragma: no cover - compiled
    """Pulses for weight change `delta`: delta / weight_step rounded half away from zero (as
    NeuroSim's truncate), capped at max_pulses, with the sign of the change; with neurosim_cast,
    the count NeuroSim's float-to-int conversion leaves of it."""
    n = int(min(np.floor(abs(delta / rule.weight_step) + np.float32(0.5)), rule.max_pulses))
    if rule.neurosim_cast:
        n = int(np.float64(n) / rule.max_pulses * rule.max_pulses)
    return n if delta > 0 else -n


@compiled
def train_epoch(order, indptr, indices, labels, layers, rule, adcs, rng, buf):  # pragma: no cover
    """SGD over the samples in `order`; returns (counts[layer, SET or RESET], summed loss).

    Sample i's active input rows are indices[indptr[i]:indptr[i + 1]] (CSR); `layers` is a tuple
    of `engine.CrossbarArrays`, input side first, rule an `SGDSettings`, adcs a tuple of each
    layer's `ADC`, buf the network's `SampleBuffers`, where `forward_errors` leaves each
    sample's driven rows, activations and errors.
    """
    n_layers = len(layers)
    top = n_layers - 1
    biggest = engine.layer_layout(layers)[2]
    counts = np.zeros((n_layers, 2), dtype=np.int64)
    loss = 0.0
    rows, n_driven, a, s, col_start = buf.rows, buf.n_driven, buf.a, buf.s, buf.col_start
    pulsed_columns = np.empty(col_start[1], np.int64)  # layer 1's columns that get pulses
    column_counts = np.empty(col_start[1], np.int64)  # and their counts, the same down every row
    # one layer's update at a time: the pairs it pulses, their pulse counts, the engine's scratch
    index, trains = np.empty(biggest, np.int64), np.empty(biggest, np.int64)
    fired, raised = np.empty(biggest, np.int64), np.empty(biggest, np.bool_)
    # Bound once, as in sbp_kernel: indexing a tuple with a loop variable copies the item and
    # counts references to its arrays every time; with one hidden layer no sample does it
    first, last = layers[0], layers[top]
    for sample in order:
        loss = forward_errors(
            sample, indptr, indices, labels, layers, adcs, rule.theta, rng, buf, loss
        )

        # update layer 1: every active row of column j gets the same pulse count, so the
        # columns with a count are listed once and the rows' loop visits only them
        n_cols, n_pulsed = pulsed_columns.size, 0
        for j in range(n_cols):
            count = pulse_count(rule.step_hidden * s[j], rule)
            if count != 0:
                pulsed_columns[n_pulsed], column_counts[n_pulsed] = j, count
                n_pulsed += 1
        m = 0
        learning = n_driven[0] if rule.bias_drive != 0 else n_driven[0] - 1  # bias row last
        for r in rows[:learning]:
            for t in range(n_pulsed):
                index[m] = r * n_cols + pulsed_columns[t]
                trains[m] = column_counts[t]
                m += 1
        n_set, n_reset = engine.pulse_trains(first, index[:m], trains[:m], rng, fired, raised)
        counts[0, SET] += n_set
        counts[0, RESET] += n_reset

        # update the layers above: driven by the analog activations below (and the bias, 1)
        for number in range(1, n_layers):
            step = rule.step_output if number == top else rule.step_hidden
            act = a[col_start[number - 1] : col_start[number]]
            error = s[col_start[number] : col_start[number + 1]]
            m = _outer_pulses(act, error, step, rule, index, trains)
            if number == top:
                pulsed = engine.pulse_trains(last, index[:m], trains[:m], rng, fired, raised)
            else:
                bar = layers[number]
                pulsed = engine.pulse_trains(bar, index[:m], trains[:m], rng, fired, raised)
            counts[number, SET] += pulsed[0]
            counts[number, RESET] += pulsed[1]
    return counts, loss


@compiled
def _forward(bar, adc, driven, theta, rng, act, following):  # pragma: no cover - compiled
    """Read layer `bar` on rows `driven`, digitise every column current, write the sigmoid of
    each code into `act` and, for a hidden layer (`following` not empty), the rows it drives in
    the next layer, 1[code lsb >= theta], the bias row last; returns how many it drives."""
    z = engine.read_rows(bar, driven, rng)
    k = 0
    for j in range(z.size):
        code = _code(z[j], adc)
        act[j] = adc.sigmoid[code + adc.half]
        if following.size > 0 and np.float32(code) * adc.lsb >= theta:
            following[k] = j
            k += 1
    if following.size > 0:
        following[k] = z.size
        k += 1
    return k


@compiled
def _backpropagate(bar, above, act, error):  # pragma: no cover - compiled
    """error = act (1 - act) W above, with W the layer's weights as the devices hold them, over
    its rows but the bias row, summed column by column (the reference's order)."""
    one = np.float32(1.0)
    for j in range(error.size):
        back = np.float32(0.0)
        for k in range(above.size):
            back += (bar.diff[j, k] * bar.scale) * above[k]
        error[j] = (act[j] * (one - act[j])) * back


@compiled
def _outer_pulses(act, error, step, rule, index, trains):  # pragma: no cover - compiled
    """Pulse counts of dW = step error [act; bias_drive]^T for every pair (row j, column k): the
    non-zero ones into index (flat pair index) and trains (count); returns how many."""
    n_cols, m = error.size, 0
    for j in range(act.size + 1):
        drive = act[j] if j < act.size else rule.bias_drive
        for k in range(n_cols):
            n = pulse_count((step * error[k]) * drive, rule)
            if n != 0:
                index[m] = j * n_cols + k
                trains[m] = n
                m += 1
    return m


@compiled
def _code(current, adc):  # pragma: no cover - compiled
    """`ADC.codes` for one current."""
    return int(min(max(np.rint(current / adc.lsb), -adc.half), adc.half - 1))


class SampleBuffers(NamedTuple):
    """Scratch space of `forward_errors` for one network, reused sample after sample: layer l's
    driven rows are rows[row_start[l]:][:n_driven[l]], the sigmoid activations and errors of its
    columns a[col_start[l]:col_start[l + 1]] and s[...]."""

    rows: np.ndarray
    n_driven: np.ndarray
    a: np.ndarray
    s: np.ndarray
    row_start: np.ndarray
    col_start: np.ndarray

    @classmethod
    def for_layers(cls, layers: tuple) -> SampleBuffers:
        """Buffers for a network of `layers` (`engine.CrossbarArrays`, input side first), laid
        out by `engine.layer_layout`."""
        row_start, col_start, _ = engine.layer_layout(layers)
        return cls(
            rows=np.empty(row_start[-1], np.int64), n_driven=np.zeros(len(layers), np.int64),
            a=np.empty(col_start[-1], np.float32), s=np.empty(col_start[-1], np.float32),
            row_start=row_start, col_start=col_start,
        )  # fmt: skip


@compiled
def forward_errors(sample, indptr, indices, labels, layers, adcs, theta, rng, buf, loss):
    """`SGDLearner.forward_errors` for one sample (CSR rows as in `train_epoch`): the forward
    pass through every layer's ADCs and the full-precision errors s_l, written into `buf` (a
    `SampleBuffers`); returns `loss` plus this sample's squared output error, summed in the
    reference's order. Every rule on this periphery (sgd, ttv2, mixed_precision) calls it."""
    one, f32 = np.float32(1.0), np.float32
    rows, a, s, row_start, col_start = buf.rows, buf.a, buf.s, buf.row_start, buf.col_start
    top = len(layers) - 1
    first, last, adc_first, adc_last = layers[0], layers[top], adcs[0], adcs[top]
    nowhere = rows[:0]
    buf.n_driven[0] = engine.sample_rows(indptr, indices, sample, rows[: row_start[1]])
    for number in range(top + 1):
        driven = rows[row_start[number] : row_start[number] + buf.n_driven[number]]
        act = a[col_start[number] : col_start[number + 1]]
        following = nowhere
        if number < top:
            following = rows[row_start[number + 1] : row_start[number + 2]]
        if number == 0:
            k = _forward(first, adc_first, driven, theta, rng, act, following)
        elif number == top:
            k = _forward(last, adc_last, driven, theta, rng, act, following)
        else:
            k = _forward(layers[number], adcs[number], driven, theta, rng, act, following)
        if number < top:
            buf.n_driven[number + 1] = k
    output, output_error = a[col_start[top] :], s[col_start[top] :]
    for k in range(output.size):
        miss = (one if k == labels[sample] else f32(0.0)) - output[k]
        loss += miss * miss
        output_error[k] = ((f32(-2.0) * output[k]) * (one - output[k])) * miss
    for number in range(top, 0, -1):
        above = s[col_start[number] : col_start[number + 1]]
        act = a[col_start[number - 1] : col_start[number]]
        error = s[col_start[number - 1] : col_start[number]]
        if number == top:
            _backpropagate(last, above, act, error)
        else:
            _backpropagate(layers[number], above, act, error)
    return loss
