"""The pulse engine: compiled (numba) array-level primitives that every crossbar learner shares.

Three things happen to a crossbar, and this module does each at array level:

- reads: column currents for read pulses on a set of rows, and row currents for ternary
  voltages on the columns (the transposed read), through each cell's access transistor if it
  has one, with optional per-device read noise;
- pulse responses: one device moved by one SET or RESET pulse, `g' = alpha + beta g`, plus
  cycle-to-cycle noise, clipped to the device's bounds (docs/method.md, "Device"), or, for a
  lookup-table device, `g' = g + step(g)` with the step and its noise interpolated from the
  measured table (docs/method.md, "Lookup-table device");
- pulse application: a set of pairs pulsed in parallel, in the pair, single or set-only scheme,
  counted; or a train of several pulses per pair (on-chip SGD's multi-pulse updates), round by
  round.

It sits below the device kinds and `crossbar.py` and imports nothing from sbp_core but its compile
settings (`sbp_core.jit`): `Crossbar.arrays` packs a crossbar into a `CrossbarArrays`, learners
call these functions with it. Each function performs the same float32 operations, in the same
order, as its readable numpy twin (`Crossbar.read_rows`, `Crossbar.read_columns`,
`Crossbar.apply`, `Crossbar.pulse_trains`, `DeviceArray.respond`), and draws noise from the run's
own numpy Generator in the twin's order (numba compiles Generator methods to the same
algorithms), so the two paths agree bit for bit with every noise source on (tests/test_engine.py).
Lookup-table devices (`TableResponse`, twin `TableArray.respond`) are their own compiled branch:
numba picks the response by the type of a crossbar's records when it compiles, so the preset
model's code is the same as without them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import types
from numba.extending import overload

from sbp_core.jit import compiled

RESPONSE = np.dtype(
    [
        ("alpha_set", np.float32),
        ("beta_set", np.float32),
        ("alpha_reset", np.float32),
        ("beta_reset", np.float32),
        ("noise_sigma", np.float32),
        ("g_lo", np.float32),
        ("g_hi", np.float32),
    ]
)
"""How one device responds to one pulse; every conductance is normalised, g = G / Gmax.

- `alpha_set`, `beta_set`: after a SET pulse g' = alpha_set + beta_set * g (alpha in units of g,
  beta dimensionless);
- `alpha_reset`, `beta_reset`: the same after a RESET pulse;
- `noise_sigma`: sigma of the Gaussian cycle-to-cycle noise added to each pulse (units of g);
- `g_lo`, `g_hi`: the device's own bounds Gmin / Gmax and Gmax / Gmax (after D2D spread).

A stuck device has alpha = 0, beta = 1 and no noise: it never moves. One record per device,
so one pulse reads one 28-byte record; an array whose devices all respond alike stores one.
"""

TABLE_DEVICE = np.dtype([("table", np.int32), ("g_lo", np.float32), ("g_hi", np.float32)])
"""One lookup-table device: `table`, which measured device's table it follows (-1: stuck, it
never moves), and its bounds `g_lo`, `g_hi` (that measured device's Gmin and Gmax, normalised)."""


class TableResponse(NamedTuple):
    """How lookup-table devices respond to one pulse (`kinds.lookup_table.LookupTable`, packed).

    Per measured device t and direction d (0: SET, 1: RESET) the table holds n_knots[t, d]
    knots at conductances knots[t, d, :n] (ascending; +inf beyond n); between two knots the mean
    step and its sigma are linear in g, and beyond the end knots they continue the end
    segments: a pulse at g on segment k gives

        g' = g + (step[k] + step_slope[k] (g - knots[k])),
             plus max(sigma[k] + sigma_slope[k] (g - knots[k]), 0) N(0, 1) with C2C noise on,

    then clipping to the device's bounds. Every array is float32 but n_knots (int64), shaped
    (n_tables, 2, max_knots); step_slope and sigma_slope are the segments' slopes, per unit of g.
    """

    devices: np.ndarray
    """TABLE_DEVICE records, flat (n_rows * n_cols,), or one record that every device shares."""
    knots: np.ndarray
    step: np.ndarray
    step_slope: np.ndarray
    sigma: np.ndarray
    sigma_slope: np.ndarray
    n_knots: np.ndarray


PAIR, SINGLE, SET_ONLY, REFERENCE = 0, 1, 2, 3
"""How one weight pulse moves a pair, as `CrossbarArrays.scheme` says it (the index of
RunSpec.pulse_scheme in sbp_core.spec.PULSE_SCHEMES): PAIR SETs one device and RESETs the other,
SINGLE moves G+ only (SET raises the weight, RESET lowers it) against a fixed G-, SET_ONLY SETs
G+ to raise the weight and G- to lower it; REFERENCE pulses as SINGLE (its G- is the reference
current, never pulsed)."""


class CrossbarArrays(NamedTuple):
    """One differential-pair crossbar as the compiled code sees it (arrays shared, not copied)."""

    g_plus: np.ndarray
    """G+ conductances, float32 (n_rows, n_cols), normalised to Gmax; updated in place."""
    g_minus: np.ndarray
    """G- conductances, likewise."""
    diff: np.ndarray
    """What a read sees of each pair, read(G+) - read(G-) (`read_conductance`), float32
    (n_rows, n_cols), so a read sums one array: `pulse_coincidences` keeps it current,
    `apply_pulses` does not touch it."""
    plus: np.ndarray
    """RESPONSE records of the G+ devices, flat (n_rows * n_cols,) or one shared record."""
    minus: np.ndarray
    """RESPONSE records of the G- devices, likewise."""
    scale: np.float32
    """Weight units per unit of read conductance: w = diff scale, scale = 1 / (read(Gmax) -
    read(Gmin)) (1 / (Gmax - Gmin) without access resistance)."""
    scheme: int
    """The pulse scheme: PAIR, SINGLE, SET_ONLY or REFERENCE."""
    c2c: bool
    """True when pulses carry cycle-to-cycle noise (one Gaussian draw per device pulse)."""
    read_noise: np.float32
    """Relative sigma of each device's conductance in every analog read; 0 disables it."""
    access: np.float32
    """The access transistor's series resistance in units of 1 / Gmax (R_access Gmax): a read
    sees g / (1 + access g); 0 for a cell without one."""


@compiled
def read_conductance(g, access):  # pragma: no cover - compiled
    """The conductance a read sees through the access transistor in series, g / (1 + access g)
    (normalised to Gmax); exactly g when access is 0, so cells without one read as before."""
    return g / (np.float32(1.0) + access * g)


@compiled
def refresh_reads(bar, index):  # pragma: no cover - compiled
    """diff = read(G+) - read(G-) at the flat pairs `index`, after pulses moved them."""
    g_plus, g_minus, diff = bar.g_plus.reshape(-1), bar.g_minus.reshape(-1), bar.diff.reshape(-1)
    for i in index:
        diff[i] = read_conductance(g_plus[i], bar.access) - read_conductance(g_minus[i], bar.access)


@compiled
def sample_rows(indptr, indices, sample, rows):  # pragma: no cover - compiled
    """Write the rows one sample's read pulses drive into `rows`: its active inputs,
    indices[indptr[sample]:indptr[sample + 1]] (CSR), then the bias row, the last row of `rows`'
    layer (len(rows) - 1). Returns how many."""
    k = 0
    for t in range(indptr[sample], indptr[sample + 1]):
        rows[k] = indices[t]
        k += 1
    rows[k] = rows.size - 1
    return k + 1


@compiled
def layer_layout(layers):  # pragma: no cover - compiled
    """Where each layer of a network (a tuple of `CrossbarArrays`, input side first) sits in the
    flat per-sample buffers of a compiled epoch: layer l's rows are [row_start[l], row_start[l +
    1]) of a rows buffer, its columns [col_start[l], col_start[l + 1]) of a columns buffer (both
    totals last); `biggest` is the most pairs of one layer, the size of an update's scratch."""
    n_layers = len(layers)
    row_start = np.zeros(n_layers + 1, dtype=np.int64)
    col_start = np.zeros(n_layers + 1, dtype=np.int64)
    biggest = 0
    for number in range(n_layers):
        n_rows, n_cols = layers[number].g_plus.shape
        row_start[number + 1] = row_start[number] + n_rows
        col_start[number + 1] = col_start[number] + n_cols
        biggest = max(biggest, n_rows * n_cols)
    return row_start, col_start, biggest


@compiled
def read_rows(bar, rows, rng):  # pragma: no cover - compiled
    """Column currents for read pulses on `rows` (the inputs that are 1, bias row included):
    a = scale * sum_r diff[r], plus read noise of sigma read_noise * scale * sqrt(sum G^2)."""
    n = bar.diff.shape[1]
    total = np.zeros(n, dtype=np.float32)
    _add_rows(total, bar.diff, rows)
    current = total * bar.scale
    if bar.read_noise > 0:
        power_plus = np.zeros(n, dtype=np.float32)
        power_minus = np.zeros(n, dtype=np.float32)
        for r in rows:
            for j in range(n):
                seen_plus = read_conductance(bar.g_plus[r, j], bar.access)
                seen_minus = read_conductance(bar.g_minus[r, j], bar.access)
                power_plus[j] += seen_plus * seen_plus
                power_minus[j] += seen_minus * seen_minus
        _add_read_noise(current, power_plus + power_minus, bar.scale, bar.read_noise, rng)
    return current


@compiled
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


@compiled
def read_columns(bar, error, rng):  # pragma: no cover - compiled
    """Row currents when ternary voltages `error` drive the columns: s = scale (G+ - G-) error,
    column by column, plus read noise; the last entry is the bias row."""
    n = bar.diff.shape[0]
    total = np.zeros(n, dtype=np.float32)
    power_plus = np.zeros(n, dtype=np.float32)
    power_minus = np.zeros(n, dtype=np.float32)
    for k in np.flatnonzero(error):
        sign = np.float32(error[k])
        for r in range(n):
            total[r] += sign * bar.diff[r, k]
        if bar.read_noise > 0:
            for r in range(n):
                seen_plus = read_conductance(bar.g_plus[r, k], bar.access)
                seen_minus = read_conductance(bar.g_minus[r, k], bar.access)
                power_plus[r] += seen_plus * seen_plus
                power_minus[r] += seen_minus * seen_minus
    current = total * bar.scale
    if bar.read_noise > 0:
        _add_read_noise(current, power_plus + power_minus, bar.scale, bar.read_noise, rng)
    return current


@compiled
def _add_read_noise(current, power, scale, read_noise, rng):  # pragma: no cover - compiled
    """Independent per-device read noise summed: one Gaussian per line, sigma ~ sqrt(sum G^2)."""
    for j in range(current.size):
        sigma = read_noise * scale * np.sqrt(power[j])
        current[j] += sigma * np.float32(rng.standard_normal())


@compiled
def pulse_coincidences(
    bar, rows, direction, prob, per_line, rng, fired, raise_weight
):  # pragma: no cover - compiled
    """One pulse at every (row in `rows`, column with direction != 0), each firing with
    probability `prob`, or, `per_line`, where its row and its column both fired, each with
    probability sqrt(prob); returns (SET, RESET) device pulses. As `Crossbar.pulse`: which
    pulses fire is drawn first (per line: rows, then columns), then every G+ response, then
    every G- response.

    `fired` and `raise_weight` are scratch space of at least n_rows * n_cols entries, for the
    flat index of each fired pair and whether its pulse raises the weight.
    """
    n_cols = direction.size
    columns = np.flatnonzero(direction)
    per_pair = prob < 1.0 and not per_line
    if prob < 1.0 and per_line and columns.size > 0:
        rows = lines_firing(rows, np.sqrt(prob), rng)
        columns = lines_firing(columns, np.sqrt(prob), rng)
    n_fired = 0
    for r in rows:
        for k in columns:
            if per_pair and rng.random() >= prob:
                continue
            fired[n_fired] = r * n_cols + k
            raise_weight[n_fired] = direction[k] > 0
            n_fired += 1
    counts = apply_pulses(bar, fired[:n_fired], raise_weight[:n_fired], rng)
    refresh_reads(bar, fired[:n_fired])
    return counts


@compiled
def lines_firing(lines, prob, rng):  # pragma: no cover - compiled
    """The `lines` whose draw fires (one uniform each, in order, as `rng.random(n) < prob`)."""
    fires = np.empty(lines.size, np.bool_)
    for i in range(lines.size):
        fires[i] = rng.random() < prob
    return lines[fires]


@compiled
def apply_pulses(bar, index, raise_weight, rng):  # pragma: no cover - compiled
    """Pulse the pairs at flat `index` (raise or lower each weight), every G+ response first,
    then every G- response; return (SET, RESET) device pulses. `diff` is left as it was: a
    caller that reads afterwards goes through `pulse_coincidences`, which refreshes it."""
    g_plus, g_minus = bar.g_plus.reshape(-1), bar.g_minus.reshape(-1)
    resets = bar.scheme != SET_ONLY
    _respond(g_plus, bar.plus, index, raise_weight, True, resets, bar.c2c, rng)
    if bar.scheme == SET_ONLY:
        _respond(g_minus, bar.minus, index, raise_weight, False, False, bar.c2c, rng)
        return index.size, 0
    if bar.scheme == PAIR:
        _respond(g_minus, bar.minus, index, raise_weight, False, True, bar.c2c, rng)
        return index.size, index.size
    n_set = np.count_nonzero(raise_weight)
    return n_set, index.size - n_set


@compiled
def pulse_against(bar, gradient, prob, rng):  # pragma: no cover - compiled
    """One pulse on every pair whose `gradient` entry (float32, as the crossbar's shape) is not
    zero, lowering its weight where the entry is positive; return (SET, RESET) device pulses. As
    `Crossbar.pulse_against`: with `prob` < 1 each such pair, in flat order, fires on one uniform
    drawn before any pulse (`rng.random(n) < prob`). `diff` is left as it was."""
    flat = gradient.reshape(-1)
    index = np.empty(flat.size, np.int64)
    n = 0
    for p in range(flat.size):
        if flat[p] != 0:
            index[n] = p
            n += 1
    if prob < 1.0:
        k = 0
        for q in range(n):
            if rng.random() < prob:
                index[k] = index[q]
                k += 1
        n = k
    raise_weight = np.empty(n, np.bool_)
    for q in range(n):
        raise_weight[q] = flat[index[q]] < 0
    return apply_pulses(bar, index[:n], raise_weight, rng)


@compiled
def pulse_trains(bar, index, n_pulses, rng, fired, raise_weight):  # pragma: no cover - compiled
    """|n_pulses[p]| pulses on the pair at flat index[p], raising its weight where n_pulses[p] > 0;
    returns (SET, RESET) device pulses and refreshes diff. As `Crossbar.pulse_trains`: round r
    pulses (through `apply_pulses`) every pair still owed an r-th pulse, in the order of index.

    `fired` and `raise_weight` are scratch space of at least index.size entries. After each
    round the pairs still owed a pulse are moved to the front, in order, so a call costs its
    pulses, not its longest train times its pairs.
    """
    owed = np.empty(index.size, np.int64)
    k = 0
    for p in range(index.size):
        if n_pulses[p] != 0:
            fired[k] = index[p]
            raise_weight[k] = n_pulses[p] > 0
            owed[k] = abs(n_pulses[p])
            k += 1
    n_set, n_reset = 0, 0
    while k > 0:
        s, t = apply_pulses(bar, fired[:k], raise_weight[:k], rng)
        n_set += s
        n_reset += t
        m = 0
        for q in range(k):
            if owed[q] > 1:
                fired[m], raise_weight[m], owed[m] = fired[q], raise_weight[q], owed[q] - 1
                m += 1
        k = m
    refresh_reads(bar, index)
    return n_set, n_reset


@compiled
def pulse_devices(g, response, index, set_pulse, c2c, rng):  # pragma: no cover - compiled
    """One pulse on each device g.flat[i], i in index, of one device array (no pair): a SET
    where set_pulse, else a RESET. Exsitu's erase, open-loop write and write-verify corrections,
    as `DeviceArray.respond(g, index, set_pulse, rng)`."""
    _respond(g.reshape(-1), response, index, set_pulse, True, True, c2c, rng)


def _respond(g, response, index, raise_weight, raise_is_set, resets, c2c, rng):
    """One pulse on each device g[i], i in index: a SET where raise_weight == raise_is_set (G+
    raises the weight by a SET, G- by a RESET), else a RESET, or, where `resets` is False (the
    set-only scheme), no pulse; then noise, then the bounds.

    `response` holds RESPONSE records (the NeuroSim model, `_respond_affine`) or a
    TableResponse (lookup-table devices, `_respond_table`); compiled code gets the one its
    type calls for when it is compiled (`_compiled_respond`), this Python twin picks it by type."""
    if isinstance(response, TableResponse):
        return _respond_table(g, response, index, raise_weight, raise_is_set, resets, c2c, rng)
    return _respond_affine(g, response, index, raise_weight, raise_is_set, resets, c2c, rng)


@overload(_respond, jit_options={"cache": True, "nogil": True})
def _compiled_respond(g, response, index, raise_weight, raise_is_set, resets, c2c, rng):
    """The response `_respond` compiles to, chosen by the type of `response`."""
    if isinstance(response, types.BaseTuple):  # a TableResponse
        return _respond_table
    return _respond_affine


def _respond_affine(
    g, response, index, raise_weight, raise_is_set, resets, c2c, rng
):  # pragma: no cover
    """`_respond` for RESPONSE records: g' = alpha + beta g, noise, bounds."""
    shared = response.size == 1
    for p in range(index.size):
        set_pulse = raise_weight[p] == raise_is_set
        if not (set_pulse or resets):
            continue
        i = index[p]
        device = response[0] if shared else response[i]
        if set_pulse:
            new = device.alpha_set + device.beta_set * g[i]
        else:
            new = device.alpha_reset + device.beta_reset * g[i]
        if c2c:
            new += device.noise_sigma * np.float32(rng.standard_normal())
        g[i] = min(max(new, device.g_lo), device.g_hi)


def _respond_table(
    g, response, index, raise_weight, raise_is_set, resets, c2c, rng
):  # pragma: no cover
    """`_respond` for a TableResponse: the interpolated step and noise of the device's table,
    as `TableArray.respond` (one Gaussian draw per pulse with C2C noise on, stuck devices too)."""
    shared = response.devices.size == 1
    zero = np.float32(0.0)
    for p in range(index.size):
        if not (resets or raise_weight[p] == raise_is_set):
            continue  # set-only scheme: this device rests
        i = index[p]
        device = response.devices[0] if shared else response.devices[i]
        noise = np.float32(rng.standard_normal()) if c2c else zero
        t = device.table
        if t < 0:  # stuck
            continue
        d = 0 if raise_weight[p] == raise_is_set else 1
        x = g[i]
        k = table_segment(response.knots[t, d], response.n_knots[t, d], x)
        offset = x - response.knots[t, d, k]
        new = x + (response.step[t, d, k] + response.step_slope[t, d, k] * offset)
        if c2c:
            sigma = response.sigma[t, d, k] + response.sigma_slope[t, d, k] * offset
            new += max(sigma, zero) * noise
        g[i] = min(max(new, device.g_lo), device.g_hi)


@compiled
def table_segment(knots, n_knots, x):  # pragma: no cover - compiled
    """The segment of a table that conductance x falls on: the largest k in [0, n_knots - 2]
    with knots[k] <= x (0 below the first knot), by bisection of the ascending knots."""
    low, high = 0, n_knots - 2
    while low < high:
        middle = (low + high + 1) // 2
        if knots[middle] <= x:
            low = middle
        else:
            high = middle - 1
    return low
