"""The Tiki-Taka v2 epoch (and its chopped and AGAD variants) compiled with numba: the production
path of `TTv2Learner.fit_epoch`.

Sample by sample it performs the steps of `TTv2Learner.train_sample` and `TTv2Learner.transfer`
(the readable numpy references in `ttv2.py`) through the pulse engine, with the same float32
operations and the same random draws in the same order, so the two paths give bit-identical
conductances, buffers, pulse counts and loss with every noise source on (tests/test_ttv2.py).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from sbp_core.chip import engine
from sbp_core.jit import compiled
from sbp_core.methods import sgd_kernel


class TTv2Settings(NamedTuple):
    """The rule's settings; float32 where they meet float32 arithmetic."""

    theta: np.float32
    """Hidden neurons drive the next layer where their digitised current is >= theta."""
    lr_hidden: float
    """Learning rate of the fast arrays A of the hidden layers (weight units per unit of
    gradient), in float64 as the pulse probabilities are."""
    lr_output: float
    """The same for the output layer's A."""
    dw_min: float
    """Nominal weight change of one pair pulse (weight units): the granularity of A's trains."""
    bl: int
    """Longest stochastic pulse train (aihwkit's desired_BL)."""
    transfer_every: int
    """Samples between two transfers; each transfer reads one row of every layer's A."""
    transfer_lr: np.float32
    """H += transfer_lr * (the digitised read of A)."""
    threshold: np.float32
    """A pulse goes to C where |H| exceeds this (weight units), and H loses it."""
    chop_every: int
    """The chopper of a row flips after every chop_every-th read of that row; 0: no chopper
    (TTv2)."""
    mean_rate: np.float32
    """AGAD: the weight of a new reading in each weight's running mean of A's readings
    (aihwkit's tail_weightening / n_samples, at most 1); 0: no reference (TTv2, c-TTv2)."""


class TTv2Scratch(NamedTuple):
    """Scratch space of one network's epoch (sized for its largest layer)."""

    row_fired: np.ndarray
    fired_columns: np.ndarray
    """The columns that fire in one slot, ascending (int64): a coincidence costs its pulses,
    not a pass over every column of every fired row."""
    x: np.ndarray
    """The rows' drive of one A update (float32)."""
    all_rows: np.ndarray
    """0, 1, ..., n_rows - 1 of the largest layer: the rows an upper layer's A update drives."""
    index: np.ndarray
    raised: np.ndarray
    trains: np.ndarray
    fired: np.ndarray
    one_row: np.ndarray

    @classmethod
    def for_layers(cls, shapes: list[tuple[int, int]]) -> TTv2Scratch:
        rows = max(n_rows for n_rows, _ in shapes)
        cols = max(n_cols for _, n_cols in shapes)
        pairs = max(n_rows * n_cols for n_rows, n_cols in shapes)
        return cls(
            row_fired=np.zeros(rows, np.bool_), fired_columns=np.zeros(cols, np.int64),
            x=np.zeros(rows, np.float32), all_rows=np.arange(rows, dtype=np.int64),
            index=np.zeros(pairs, np.int64), raised=np.zeros(pairs, np.bool_),
            trains=np.zeros(pairs, np.int64), fired=np.zeros(pairs, np.int64),
            one_row=np.zeros(1, np.int64),
        )  # fmt: skip


class TTv2State(NamedTuple):
    """What the compiled epoch reads and updates in place, input side first."""

    slow: tuple
    """The weight arrays C (`engine.CrossbarArrays`): forward and backward read them."""
    fast: tuple
    """The fast arrays A, which take the gradient."""
    h: tuple
    """Each layer's digital buffer H, float32 (n_rows, n_cols)."""
    chopper: tuple
    """Each layer's chopper sign per row, int8 (+1 or -1)."""
    position: np.ndarray
    """int64 (n_layers, 2): the next row to transfer and the finished sweeps over the rows."""
    since: np.ndarray
    """int64 (1,): samples since the last transfer."""
    mean: tuple
    """AGAD: each layer's running mean of A's digitised readings, float32 (n_rows, n_cols)."""
    past_mean: tuple
    """AGAD: each layer's reference, the running mean when the row's chopper last flipped."""
    switched: tuple
    """AGAD: per row, bool: its chopper flipped after its last read (its reference is due)."""
    buffers: sgd_kernel.SampleBuffers
    scratch: TTv2Scratch


C_SET, C_RESET, A_SET, A_RESET, READS = range(5)
"""Columns of the counts that `train_epoch` returns, one row per layer: device pulses on C and
on A, and transfer reads (one row each, an ADC conversion per column)."""


@compiled
def pulse_probability_scales(x_max, d_max, lr, dw_min, bl):  # pragma: no cover - compiled
    """aihwkit's update management (PulsedUpdateMetaParameter::performUpdateManagement, BL
    management on): the train length BL = ceil(lr x_max d_max / dw_min), at most `bl`, and the
    scales that turn |x| and |d| into per-slot firing probabilities, B for the rows and A for
    the columns, with A B = lr / (dw_min BL) and B x_max = A d_max. Maxima below dw_min^2 count
    as dw_min^2. Returns (BL, B, A)."""
    floor = dw_min * dw_min
    x_max, d_max = max(x_max, floor), max(d_max, floor)
    slots = min(int(math.ceil(lr * x_max * d_max / dw_min)), bl)
    scale = math.sqrt(lr / (dw_min * slots))
    return slots, scale * math.sqrt(d_max / x_max), scale * math.sqrt(x_max / d_max)


@compiled
def fires(p, rng):  # pragma: no cover - compiled
    """One slot of a stochastic pulse train of probability p: p >= 1 always fires and p <= 0
    never, without a draw; otherwise one uniform draw, firing when it is below p."""
    if p >= 1.0:
        return True
    if p <= 0.0:
        return False
    return rng.random() < p


@compiled
def stochastic_update(bar, rows, x, error, lr, rule, chopper, rng, scratch):  # pragma: no cover
    """A -= lr error x^T as stochastic pulse trains (Gokmen & Vlasov, Front. Neurosci. 10, 2016):
    in each of BL slots, row rows[i] fires with probability B x[i] and column j with
    probability A |error[j]|, and every pair whose row and column both fire gets one pulse, in
    the direction of -error[j] times the row's chopper sign. Returns (SET, RESET) pulses.

    Draws, per slot: one uniform per row whose probability lies in (0, 1), in the order of
    `rows`, then one per such column; then the pulses of every coincidence, row by row. No
    error, no draws. `scratch` is the epoch's `TTv2Scratch`.
    """
    row_fired, fired_columns = scratch.row_fired, scratch.fired_columns
    index, raised = scratch.index, scratch.raised
    n_rows, n_cols = rows.size, error.size
    x_max, d_max = 0.0, 0.0
    for i in range(n_rows):
        x_max = max(x_max, float(x[i]))
    for j in range(n_cols):
        d_max = max(d_max, abs(float(error[j])))
    if d_max == 0.0 or n_rows == 0:
        return 0, 0
    slots, row_scale, column_scale = pulse_probability_scales(
        x_max, d_max, lr, rule.dw_min, rule.bl
    )
    n_set, n_reset = 0, 0
    for _ in range(slots):
        for i in range(n_rows):
            row_fired[i] = fires(float(x[i]) * row_scale, rng)
        n_fired = 0
        for j in range(n_cols):
            if fires(abs(float(error[j])) * column_scale, rng):
                fired_columns[n_fired] = j
                n_fired += 1
        if n_fired == 0:
            continue
        m = 0
        for i in range(n_rows):
            if not row_fired[i]:
                continue
            r = rows[i]
            for k in range(n_fired):
                j = fired_columns[k]
                index[m] = r * n_cols + j
                raised[m] = (error[j] < 0) != (chopper[r] < 0)
                m += 1
        s, t = engine.apply_pulses(bar, index[:m], raised[:m], rng)
        n_set += s
        n_reset += t
        engine.refresh_reads(bar, index[:m])
    return n_set, n_reset


@compiled
def transfer(  # pragma: no cover - compiled
    fast, slow, h, chopper, position, rule, adc, rng, scratch, mean, past, switched
):
    """Read row position[0] of A (one read pulse: read noise, then the transfer ADC), add
    transfer_lr times the chopped reading to that row of H, give one pulse to C where
    |H| > threshold (in the direction of H) and take the threshold off H there; then flip the
    row's chopper when its flip is due and move on to the next row (position[1]: finished
    sweeps). Returns (C SET, C RESET) pulses.

    AGAD (rule.mean_rate > 0): H takes the reading minus the row's reference `past`, which is
    the running mean `mean` as it stood at the row's last chopper flip; the reading then enters
    `mean`. C is not pulsed until sweep chop_every + 1 (the first period has no reference)."""
    p, n_cols = position[0], h.shape[1]
    dynamic = rule.mean_rate > 0
    if dynamic and switched[p]:
        switched[p] = False
        for j in range(n_cols):
            past[p, j] = mean[p, j]
    writes = not dynamic or position[1] > rule.chop_every
    keep = np.float32(1.0) - rule.mean_rate
    one_row = scratch.one_row
    one_row[0] = p
    current = engine.read_rows(fast, one_row, rng)
    where, pulses = scratch.index, scratch.trains
    m = 0
    for j in range(n_cols):
        reading = np.float32(sgd_kernel._code(current[j], adc)) * adc.lsb
        value = reading - past[p, j] if dynamic else reading
        if chopper[p] < 0:
            value = -value
        h[p, j] += rule.transfer_lr * value
        if dynamic:
            mean[p, j] = mean[p, j] * keep + reading * rule.mean_rate
        direction = 0
        if h[p, j] > rule.threshold:
            h[p, j] -= rule.threshold
            direction = 1
        elif h[p, j] < -rule.threshold:
            h[p, j] += rule.threshold
            direction = -1
        if direction != 0 and writes:
            where[m], pulses[m] = p * n_cols + j, direction
            m += 1
    fired, raised = scratch.fired, scratch.raised
    counts = engine.pulse_trains(slow, where[:m], pulses[:m], rng, fired, raised)
    if rule.chop_every > 0 and position[1] % rule.chop_every + 1 == rule.chop_every:
        chopper[p] = -chopper[p]
        switched[p] = dynamic
    position[0] += 1
    if position[0] == h.shape[0]:
        position[0] = 0
        position[1] += 1
    return counts


@compiled
def train_epoch(order, indptr, indices, labels, state, rule, adcs, adc, rng):  # pragma: no cover
    """TTv2 over the samples in `order`; returns (counts[layer, C_SET..READS], summed loss).

    `state` is a `TTv2State`: the weight arrays C and fast arrays A (tuples of
    `engine.CrossbarArrays`, input side first), each layer's H, chopper signs and transfer
    position, and the samples since the last transfer; it is updated in place.
    """
    slow, fast = state.slow, state.fast
    n_layers = len(slow)
    top = n_layers - 1
    buf, scratch = state.buffers, state.scratch
    counts = np.zeros((n_layers, 5), dtype=np.int64)
    loss = 0.0
    x = scratch.x
    for sample in order:
        loss = sgd_kernel.forward_errors(
            sample, indptr, indices, labels, slow, adcs, rule.theta, rng, buf, loss
        )
        for number in range(n_layers):
            error = buf.s[buf.col_start[number] : buf.col_start[number + 1]]
            lr = rule.lr_output if number == top else rule.lr_hidden
            if number == 0:
                rows = buf.rows[: buf.n_driven[0]]
                for i in range(rows.size):
                    x[i] = 1.0
            else:
                below = buf.a[buf.col_start[number - 1] : buf.col_start[number]]
                rows = scratch.all_rows[: below.size + 1]
                for i in range(below.size):
                    x[i] = below[i]
                x[below.size] = 1.0
            pulsed = stochastic_update(
                fast[number], rows, x[: rows.size], error, lr, rule, state.chopper[number],
                rng, scratch,
            )  # fmt: skip
            counts[number, A_SET] += pulsed[0]
            counts[number, A_RESET] += pulsed[1]
        state.since[0] += 1
        if state.since[0] < rule.transfer_every:
            continue
        state.since[0] = 0
        for number in range(n_layers):
            pulsed = transfer(
                fast[number], slow[number], state.h[number], state.chopper[number],
                state.position[number], rule, adc, rng, scratch, state.mean[number],
                state.past_mean[number], state.switched[number],
            )  # fmt: skip
            counts[number, C_SET] += pulsed[0]
            counts[number, C_RESET] += pulsed[1]
            counts[number, READS] += 1
    return counts, loss
