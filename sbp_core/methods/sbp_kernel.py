"""The SBP epoch compiled with numba: the production path of `SBPLearner.fit_epoch`.

It performs, sample by sample, exactly the float32 operations of the readable numpy path in
`sbp.py` (same summation order, same affine device response, same clipping), so with noise off
both give bit-identical conductances (tests/test_sbp.py checks this). Noise draws come from the
run's own numpy Generator (numba compiles its methods), so runs are reproducible bit for bit;
the draws come in another order than on the reference path, so with noise on the two agree in
distribution, not number for number.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sbp_core.crossbar import Crossbar


def layer_arrays(layer: Crossbar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(G+, G-, coefficients[row, col, 14]) of one crossbar: G+ uses planes 0-6, G- 7-13.

    Device-major layout, so one pulse touches one or two cache lines.
    """
    planes = []
    for devices in (layer.plus, layer.minus):
        planes += [
            devices.alpha_set, devices.beta_set, devices.alpha_reset, devices.beta_reset,
            devices.noise_scale, devices.g_lo, devices.g_hi,
        ]  # fmt: skip
    return layer.g_plus, layer.g_minus, np.stack(planes, axis=-1)


@njit(cache=True, nogil=True)
def train_epoch(
    order, indptr, indices, labels, layer1, layer2, scale, settings, rng
):  # pragma: no cover - compiled
    """Run SBP over the samples in `order`; return SET and RESET device pulses per layer.

    settings = (theta, margin_hi, margin_lo, error_threshold, gate_window, pulse_prob,
    pair_scheme, c2c_on, read_noise) as float64; rng is the run's numpy Generator.
    """
    theta, margin_hi, margin_lo, threshold, window, prob, pair, c2c, read_noise = settings
    n_in = layer1[0].shape[0] - 1
    n_hidden = layer1[0].shape[1]
    n_out = layer2[0].shape[1]
    counts = np.zeros(4, dtype=np.int64)  # set l1, reset l1, set l2, reset l2
    rows1 = np.empty(n_in + 1, dtype=np.int64)
    rows2 = np.empty(n_hidden + 1, dtype=np.int64)
    error = np.zeros(n_out, dtype=np.int8)
    hidden_error = np.zeros(n_hidden, dtype=np.int8)
    for sample in order:
        k1 = 0
        for t in range(indptr[sample], indptr[sample + 1]):
            rows1[k1] = indices[t]
            k1 += 1
        rows1[k1] = n_in
        k1 += 1
        a1 = _read_rows(layer1, rows1[:k1], scale, read_noise, rng)
        k2 = 0
        for j in range(n_hidden):
            if a1[j] > theta:
                rows2[k2] = j
                k2 += 1
        rows2[k2] = n_hidden
        k2 += 1
        a2 = _read_rows(layer2, rows2[:k2], scale, read_noise, rng)

        label = labels[sample]
        any_error = False
        for k in range(n_out):
            if k == label:
                error[k] = 1 if a2[k] < margin_hi else 0
            else:
                error[k] = -1 if a2[k] > margin_lo else 0
            any_error = any_error or error[k] != 0
        if not any_error:
            continue
        s = _read_columns(layer2, error, scale, read_noise, rng)
        for j in range(n_hidden):
            d = 0
            if s[j] > threshold:
                d = 1
            elif s[j] < -threshold:
                d = -1
            if window > 0 and abs(a1[j] - theta) >= window:
                d = 0
            hidden_error[j] = d
        _pulse(layer2, rows2[:k2], error, prob, pair, c2c, counts, 2, rng)
        _pulse(layer1, rows1[:k1], hidden_error, prob, pair, c2c, counts, 0, rng)
    return counts


@njit(cache=True, nogil=True)
def _read_rows(layer, rows, scale, read_noise, rng):  # pragma: no cover - compiled
    g_plus, g_minus = layer[0], layer[1]
    n = g_plus.shape[1]
    sum_plus = np.zeros(n, dtype=np.float32)
    sum_minus = np.zeros(n, dtype=np.float32)
    for r in rows:
        for j in range(n):
            sum_plus[j] += g_plus[r, j]
            sum_minus[j] += g_minus[r, j]
    current = (sum_plus - sum_minus) * scale
    if read_noise > 0:
        for j in range(n):
            power = np.float32(0.0)
            for r in rows:
                power += g_plus[r, j] * g_plus[r, j] + g_minus[r, j] * g_minus[r, j]
            current[j] += np.float32(read_noise * scale * np.sqrt(power) * rng.standard_normal())
    return current


@njit(cache=True, nogil=True)
def _read_columns(layer, error, scale, read_noise, rng):  # pragma: no cover - compiled
    g_plus, g_minus = layer[0], layer[1]
    n_rows = g_plus.shape[0] - 1  # the bias row has no neuron behind it
    sum_plus = np.zeros(n_rows, dtype=np.float32)
    sum_minus = np.zeros(n_rows, dtype=np.float32)
    for k in range(error.size):
        if error[k] == 0:
            continue
        sign = np.float32(error[k])
        for r in range(n_rows):
            sum_plus[r] += sign * g_plus[r, k]
            sum_minus[r] += sign * g_minus[r, k]
    current = (sum_plus - sum_minus) * scale
    if read_noise > 0:
        for r in range(n_rows):
            power = np.float32(0.0)
            for k in range(error.size):
                if error[k] != 0:
                    power += g_plus[r, k] * g_plus[r, k] + g_minus[r, k] * g_minus[r, k]
            current[r] += np.float32(read_noise * scale * np.sqrt(power) * rng.standard_normal())
    return current


@njit(cache=True, nogil=True)
def _pulse(layer, rows, direction, prob, pair, c2c, counts, slot, rng):  # pragma: no cover
    g_plus, g_minus = layer[0], layer[1]
    for r in rows:
        for k in range(direction.size):
            if direction[k] == 0 or (prob < 1.0 and rng.random() >= prob):
                continue
            up = direction[k] > 0
            _respond(g_plus, layer[2], 0, r, k, up, c2c, rng)
            if pair:
                _respond(g_minus, layer[2], 7, r, k, not up, c2c, rng)
                counts[slot] += 1
                counts[slot + 1] += 1
            elif up:
                counts[slot] += 1
            else:
                counts[slot + 1] += 1


@njit(cache=True, nogil=True)
def _respond(g, coef, first, r, k, up, c2c, rng):  # pragma: no cover - compiled
    """One pulse on device (r, k); its coefficients start at coef[r, k, first]."""
    if up:
        new = coef[r, k, first] + coef[r, k, first + 1] * g[r, k]
    else:
        new = coef[r, k, first + 2] + coef[r, k, first + 3] * g[r, k]
    if c2c:
        new += coef[r, k, first + 4] * np.float32(rng.standard_normal())
    g[r, k] = min(max(new, coef[r, k, first + 5]), coef[r, k, first + 6])
