"""Writing chosen states into devices: block erase, open-loop write, write-verify.

Ex-situ deployment programs whole arrays with these (`sbp_core.methods.exsitu`) and the pair
refresh of SBP's set-only scheme rewrites the pairs it selects (`sbp_core.chip.refresh`). Each pulse
goes through the compiled device response (`sbp_core.chip.engine.pulse_devices`), each read carries
the device's relative read noise.
"""

from __future__ import annotations

import numpy as np

from sbp_core.chip import engine
from sbp_core.chip.crossbar import DTYPE


def read_devices(g: np.ndarray, read_noise: float, rng: np.random.Generator) -> np.ndarray:
    """One read of each device in `g`: its conductance times (1 + read_noise N(0, 1))."""
    if read_noise <= 0:
        return g
    return g + DTYPE(read_noise) * g * rng.standard_normal(g.size, dtype=DTYPE).reshape(g.shape)


def nearest(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest each value (ascending grid; ties go to the lower point;
    values beyond the ends take the end points: the clipping)."""
    right = np.clip(np.searchsorted(grid, values), 1, grid.size - 1)
    left = right - 1
    return np.where(values - grid[left] <= grid[right] - values, left, right)


def erase_array(g: np.ndarray, devices, n_pulses: int, index: np.ndarray | None = None) -> int:
    """Erase: RESET pulses drive each device past its own Gmin, where it saturates (stuck ones
    stay at their bound), so no cycle-to-cycle noise is left; every device of `g` (a block
    erase) or those at flat `index`. Returns the RESET pulses counted, n_pulses per device."""
    bottom = np.where(devices.stuck == 2, devices.g_hi, devices.g_lo).astype(g.dtype)
    if index is None:
        g[...] = bottom
        return n_pulses * g.size
    g.flat[index] = bottom.flat[index]
    return n_pulses * index.size


def write_open_loop(g, responses, pulses: np.ndarray, c2c: bool, rng: np.random.Generator) -> int:
    """SET pulses[i] times device g.flat[i], one parallel pulse per step; returns the pulses."""
    most_first = np.argsort(-pulses, kind="stable")
    # step t pulses the devices that need more than t pulses: a prefix of most_first, found by
    # counting rather than by scanning the array every step
    for pulsed in pulses.size - np.cumsum(np.bincount(pulses))[:-1]:
        index = most_first[:pulsed]
        engine.pulse_devices(g, responses, index, np.ones(pulsed, dtype=np.bool_), c2c, rng)
    return int(pulses.sum())


def verify(g, responses, target, band, budget, read_noise, c2c, rng) -> tuple[int, int, int]:
    """Write-verify rounds: read every unfinished device (relative read noise `read_noise`),
    finish those within target +- band, pulse the rest once towards the target; at most
    `budget` rounds. Returns (SET pulses, RESET pulses, reads)."""
    flat, goal = g.reshape(-1), target.reshape(-1)
    active = np.arange(flat.size)
    sets = resets = reads = 0
    for _ in range(budget):
        seen = read_devices(flat[active], read_noise, rng)
        reads += active.size
        error = seen - goal[active]
        outside = np.abs(error) > band
        active, below = active[outside], error[outside] < 0
        if active.size == 0:
            break
        engine.pulse_devices(g, responses, active, below, c2c, rng)
        n_set = int(np.count_nonzero(below))
        sets, resets = sets + n_set, resets + active.size - n_set
    return sets, resets, reads
