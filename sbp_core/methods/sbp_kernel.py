"""The SBP epoch compiled with numba: the production path of `SBPLearner.fit_epoch`.

It performs, sample by sample, exactly the float32 operations of the readable numpy path in
`sbp.py` (same summation order, same affine device response, same clipping), so with noise off
both give bit-identical conductances. Noise comes from the run's own numpy Generator (numba
compiles its methods to the same algorithms) drawn in the reference's order, so the two paths
stay bit-identical with every noise source on too (tests/test_sbp.py checks both).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sbp_core.crossbar import Crossbar


def layer_arrays(layer: Crossbar) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(G+, G-, coefficients, G+ - G-) of one crossbar (see `coefficients`).

    The pair differences are kept up to date by every pulse so that a read sums one array, not
    two.
    """
    return layer.g_plus, layer.g_minus, coefficients(layer), layer.g_plus - layer.g_minus


def coefficients(layer: Crossbar) -> np.ndarray:
    """Per-device response coefficients [device, 14]: G+ uses 0-6, G- 7-13, built once per layer.

    Device-major, so one pulse touches one cache line; when every device responds alike (no
    device-to-device spread, no stuck devices) they shrink to one row, [1, 14].
    """
    if layer.kernel_coefficients is None:
        planes = []
        for devices in (layer.plus, layer.minus):
            planes += [
                devices.alpha_set, devices.beta_set, devices.alpha_reset, devices.beta_reset,
                devices.noise_scale, devices.g_lo, devices.g_hi,
            ]  # fmt: skip
        coef = np.stack(planes, axis=-1).reshape(-1, len(planes))
        if np.all(coef == coef[:1]):
            coef = np.ascontiguousarray(coef[:1])
        layer.kernel_coefficients = coef
    return layer.kernel_coefficients


@njit(cache=True, nogil=True)
def train_epoch(
    order, indptr, indices, labels, layer1, layer2, scale, settings, rng
):  # pragma: no cover - compiled
    """Run SBP over the samples in `order`; return SET and RESET device pulses per layer.

    settings = (theta, margin_hi, margin_lo, error_threshold, gate_window, pulse_prob,
    pair_scheme, c2c_on, read_noise) as float64; rng is the run's numpy Generator.
    Thresholds are compared in float32, as numpy compares a float32 array with a Python float.
    """
    theta, margin_hi, margin_lo, threshold, window = (
        np.float32(settings[0]), np.float32(settings[1]), np.float32(settings[2]),
        np.float32(settings[3]), np.float32(settings[4]),
    )  # fmt: skip
    prob, pair, c2c, read_noise = settings[5], settings[6], settings[7], np.float32(settings[8])
    n_in = layer1[0].shape[0] - 1
    n_hidden = layer1[0].shape[1]
    n_out = layer2[0].shape[1]
    counts = np.zeros(4, dtype=np.int64)  # set l1, reset l1, set l2, reset l2
    rows1 = np.empty(n_in + 1, dtype=np.int64)
    rows2 = np.empty(n_hidden + 1, dtype=np.int64)
    error = np.zeros(n_out, dtype=np.int8)
    hidden_error = np.zeros(n_hidden, dtype=np.int8)
    fired = np.empty(layer1[0].size, dtype=np.int64)  # flat device index of each pulse
    raise_weight = np.empty(layer1[0].size, dtype=np.bool_)  # and whether it raises the weight
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
        s = _read_columns(layer2, error, scale, read_noise, rng)  # last entry: the bias row
        for j in range(n_hidden):
            d = 0
            if s[j] > threshold:
                d = 1
            elif s[j] < -threshold:
                d = -1
            if window > 0 and abs(a1[j] - theta) >= window:
                d = 0
            hidden_error[j] = d
        _pulse(layer2, rows2[:k2], error, prob, pair, c2c, counts, 2, rng, fired, raise_weight)
        _pulse(
            layer1, rows1[:k1], hidden_error, prob, pair, c2c, counts, 0, rng, fired, raise_weight
        )
    return counts


@njit(cache=True, nogil=True)
def _read_rows(layer, rows, scale, read_noise, rng):  # pragma: no cover - compiled
    """Column currents for read pulses on `rows`; as in Crossbar.read_rows."""
    g_plus, g_minus, diff = layer[0], layer[1], layer[3]
    n = diff.shape[1]
    total = np.zeros(n, dtype=np.float32)
    _add_rows(total, diff, rows)
    current = total * scale
    if read_noise > 0:
        power_plus = np.zeros(n, dtype=np.float32)
        power_minus = np.zeros(n, dtype=np.float32)
        for r in rows:
            for j in range(n):
                power_plus[j] += g_plus[r, j] * g_plus[r, j]
                power_minus[j] += g_minus[r, j] * g_minus[r, j]
        _add_read_noise(current, power_plus + power_minus, scale, read_noise, rng)
    return current


@njit(cache=True, nogil=True)
def _add_rows(total, block, rows):  # pragma: no cover - compiled
    """total += block[r] for r in rows, in that order: four rows per pass over total (each
    element still gets its additions one after another, so the rounding is unchanged)."""
    k = 0
    while k + 4 <= rows.size:
        r0, r1, r2, r3 = rows[k], rows[k + 1], rows[k + 2], rows[k + 3]
        for j in range(total.size):
            total[j] = (((total[j] + block[r0, j]) + block[r1, j]) + block[r2, j]) + block[r3, j]
        k += 4
    for r in rows[k:]:
        for j in range(total.size):
            total[j] += block[r, j]


@njit(cache=True, nogil=True)
def _read_columns(layer, error, scale, read_noise, rng):  # pragma: no cover - compiled
    """Row currents for ternary voltages `error` on the columns; as in Crossbar.read_columns."""
    g_plus, g_minus, diff = layer[0], layer[1], layer[3]
    n = diff.shape[0]
    total = np.zeros(n, dtype=np.float32)
    power_plus = np.zeros(n, dtype=np.float32)
    power_minus = np.zeros(n, dtype=np.float32)
    for k in np.flatnonzero(error):
        sign = np.float32(error[k])
        for r in range(n):
            total[r] += sign * diff[r, k]
        if read_noise > 0:
            for r in range(n):
                power_plus[r] += g_plus[r, k] * g_plus[r, k]
                power_minus[r] += g_minus[r, k] * g_minus[r, k]
    current = total * scale
    if read_noise > 0:
        _add_read_noise(current, power_plus + power_minus, scale, read_noise, rng)
    return current


@njit(cache=True, nogil=True)
def _add_read_noise(current, power, scale, read_noise, rng):  # pragma: no cover - compiled
    for j in range(current.size):
        sigma = read_noise * scale * np.sqrt(power[j])
        current[j] += sigma * np.float32(rng.standard_normal())


@njit(cache=True, nogil=True)
def _pulse(
    layer, rows, direction, prob, pair, c2c, counts, slot, rng, fired, raise_weight
):  # pragma: no cover
    """Pulses at the coincidences of `rows` and non-zero `direction`, drawn and applied in the
    reference's order: which pulses fire, then every G+ response, then every G- response.
    `fired` and `raise_weight` are scratch space for the pulses' devices and directions."""
    n_cols = direction.size
    columns = np.flatnonzero(direction)
    n_fired = 0
    for r in rows:
        for k in columns:
            if prob < 1.0 and rng.random() >= prob:
                continue
            fired[n_fired] = r * n_cols + k
            raise_weight[n_fired] = direction[k] > 0
            n_fired += 1
    fired_now = fired[:n_fired]
    n_set, n_reset = apply_pulses(
        layer[0], layer[1], layer[2], fired_now, raise_weight[:n_fired], pair, c2c, rng
    )
    g_plus, g_minus, diff = layer[0].reshape(-1), layer[1].reshape(-1), layer[3].reshape(-1)
    for index in fired_now:
        diff[index] = g_plus[index] - g_minus[index]
    counts[slot] += n_set
    counts[slot + 1] += n_reset


@njit(cache=True, nogil=True)
def apply_pulses(g_plus, g_minus, coef, index, raise_weight, pair, c2c, rng):  # pragma: no cover
    """Crossbar.apply compiled: pulse the pairs at flat `index`, every G+ response first, then
    every G- response (the reference's draw order); return the SET and RESET device pulses."""
    _respond(g_plus.reshape(-1), coef, 0, index, raise_weight, True, c2c, rng)
    n_raise = np.count_nonzero(raise_weight)
    if pair:
        _respond(g_minus.reshape(-1), coef, 7, index, raise_weight, False, c2c, rng)
        return index.size, index.size
    return n_raise, index.size - n_raise


@njit(cache=True, nogil=True)
def set_pulses(g, coef, first, index, c2c, rng):  # pragma: no cover - compiled
    """DeviceArray.respond compiled for SET pulses on one device of each pair (first = 0 for
    G+, 7 for G-): the same arithmetic and draws, bit for bit."""
    _respond(g.reshape(-1), coef, first, index, np.ones(index.size, dtype=np.bool_), True, c2c, rng)


@njit(cache=True, nogil=True)
def _respond(g, coef, first, index, raise_weight, raise_is_set, c2c, rng):  # pragma: no cover
    """One pulse on each device g[i], i in index: SET where raise_weight == raise_is_set, else
    RESET.

    coef[i, first:first + 7] are its coefficients (alpha, beta SET; alpha, beta RESET; noise
    scale; Gmin; Gmax), or coef[0, ...] for every device when all devices share them.
    """
    shared = coef.shape[0] == 1
    for p in range(index.size):
        i = index[p]
        c = 0 if shared else i
        at = first if raise_weight[p] == raise_is_set else first + 2
        new = coef[c, at] + coef[c, at + 1] * g[i]
        if c2c:
            new += coef[c, first + 4] * np.float32(rng.standard_normal())
        g[i] = min(max(new, coef[c, first + 5]), coef[c, first + 6])
