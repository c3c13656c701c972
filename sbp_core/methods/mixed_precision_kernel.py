"""The mixed-precision epoch compiled with numba: the production path of
`MixedPrecisionLearner.fit_epoch`.

Sample by sample it performs the steps of `MixedPrecisionLearner.train_sample` (the readable
numpy reference in `mixed_precision.py`) through the pulse engine, with the same float32
operations and the same noise draws in the same order, so the two paths give bit-identical
conductances, chi, pulse counts and loss with every noise source on
(tests/test_mixed_precision.py).
"""

from __future__ import annotations

import numpy as np

from sbp_core.chip import engine
from sbp_core.jit import compiled
from sbp_core.methods import sgd_kernel

SET, RESET = 0, 1
"""Columns of the pulse counts that `train_epoch` returns, one row per layer."""


@compiled
def settle(chi, i, rule):  # pragma: no cover - compiled
    """Pulses owed by chi.flat[i]: none while |chi| < weight_step, else n = floor(|chi| /
    weight_step), at most max_pulses, with the sign of chi; chi loses the n nominal steps they
    apply. Returns the signed count."""
    value = chi[i]
    if abs(value) < rule.weight_step:
        return 0
    n = min(np.floor(abs(value) / rule.weight_step), np.float32(rule.max_pulses))
    if value > 0:
        chi[i] = value - n * rule.weight_step
        return int(n)
    chi[i] = value + n * rule.weight_step
    return -int(n)


@compiled
def train_epoch(order, indptr, indices, labels, layers, chis, rule, adcs, rng, buf, scratch):  # noqa: E501  # pragma: no cover
    """Mixed precision over the samples in `order`; returns (counts[layer, SET or RESET], loss).

    `layers` are the crossbars (`engine.CrossbarArrays`), `chis` each layer's chi (float32,
    the layer's shape, updated in place), `rule` an `sgd_kernel.SGDSettings`, `buf` a
    `sgd_kernel.SampleBuffers`; `scratch` holds (flat index, pulse counts, fired, raised)
    arrays of the largest layer's size.
    """
    index, trains, fired, raised = scratch
    n_layers = len(layers)
    top = n_layers - 1
    counts = np.zeros((n_layers, 2), dtype=np.int64)
    loss = 0.0
    one = np.float32(1.0)
    # bound once (as in sgd_kernel): indexing the tuple with a loop variable copies the item
    first, last = layers[0], layers[top]
    for sample in order:
        loss = sgd_kernel.forward_errors(
            sample, indptr, indices, labels, layers, adcs, rule.theta, rng, buf, loss
        )
        for number in range(n_layers):
            chi = chis[number]
            flat = chi.reshape(-1)
            n_cols = chi.shape[1]
            error = buf.s[buf.col_start[number] : buf.col_start[number + 1]]
            m = 0
            if number == 0:  # binary drive: chi += step s on the driven rows
                for r in buf.rows[: buf.n_driven[0]]:
                    for k in range(n_cols):
                        i = r * n_cols + k
                        flat[i] += rule.step_hidden * error[k]
                        n = settle(flat, i, rule)
                        if n != 0:
                            index[m], trains[m] = i, n
                            m += 1
            else:  # analog drive from below, and the bias row
                step = rule.step_output if number == top else rule.step_hidden
                below = buf.a[buf.col_start[number - 1] : buf.col_start[number]]
                for j in range(below.size + 1):
                    drive = below[j] if j < below.size else one
                    for k in range(n_cols):
                        i = j * n_cols + k
                        flat[i] += (step * error[k]) * drive
                        n = settle(flat, i, rule)
                        if n != 0:
                            index[m], trains[m] = i, n
                            m += 1
            bar = first if number == 0 else last if number == top else layers[number]
            pulsed = engine.pulse_trains(bar, index[:m], trains[:m], rng, fired, raised)
            counts[number, SET] += pulsed[0]
            counts[number, RESET] += pulsed[1]
    return counts, loss
