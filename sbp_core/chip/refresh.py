"""Pair refresh: the maintenance cycle of the set-only pulse scheme (docs/method.md).

In the `set_only` scheme a pair's devices only ever receive SET pulses, G+ to raise the weight
and G- to lower it, so a device's asymmetric or nonlinear RESET never enters learning; but both
devices climb until one saturates and the weight can no longer move that way. PCM pairs are
trained like this with an occasional refresh (Burr et al., IEEE TED 62(11), 2015; Ambrogio et
al., Nature 558, 2018): every `refresh_every` training samples each array is read once, device
by device, and every pair whose larger device has passed `refresh_level` of the nominal range is

1. read: its weight u = (G+ - G-) / (Gmax - Gmin) from the two reads (with read noise);
2. erased: both devices RESET past Gmin (`programming.erase_array`, counted as a block erase);
3. rewritten: the device on u's side gets the SET pulses of the nominal level nearest |u|, open
   loop, through the device physics (nonlinearity, C2C noise, D2D spread); the other stays at
   Gmin.

Every read and pulse is counted, so the cost model can charge the cycle.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sbp_core.chip.crossbar import Crossbar
from sbp_core.chip.programming import erase_array, nearest, read_devices, write_open_loop


class RefreshCounts(NamedTuple):
    """What one refresh cycle of one array cost."""

    reads: int
    """Device reads: every device of the array, once."""
    pairs: int
    """Pairs rewritten."""
    set_pulses: int
    """SET pulses of the rewrites."""
    erase_pulses: int
    """RESET pulses of the erases, `DeviceParams.erase_pulses` per device."""


def refresh(layer: Crossbar, level: float, rng: np.random.Generator) -> RefreshCounts:
    """Rewrite every pair of `layer` whose larger device reads at or above `level` (a fraction
    of the nominal range above Gmin) onto one device; count its reads and pulses on the layer."""
    params = layer.params
    g_plus, g_minus = layer.g_plus.reshape(-1), layer.g_minus.reshape(-1)
    seen_plus = read_devices(g_plus, params.read_noise, rng)
    seen_minus = read_devices(g_minus, params.read_noise, rng)
    threshold = params.g_min + level * (1.0 - params.g_min)
    due = np.flatnonzero(np.maximum(seen_plus, seen_minus) >= threshold)
    weight = (seen_plus[due] - seen_minus[due]) * layer.scale
    pulses = nearest(params.nominal_levels(), np.abs(weight))
    bar = layer.arrays()
    erased = set_pulses = 0
    for g, devices, responses, side in (
        (g_plus, layer.plus, bar.plus, weight > 0),
        (g_minus, layer.minus, bar.minus, weight < 0),
    ):
        erased += erase_array(g, devices, params.erase_pulses, due)
        owed = np.zeros(g.size, dtype=np.int64)
        owed[due[side]] = pulses[side]
        set_pulses += write_open_loop(g, responses, owed, params.c2c_sigma > 0, rng)
    layer.count_pulses(set_pulses, erased)
    return RefreshCounts(2 * g_plus.size, int(due.size), set_pulses, erased)
