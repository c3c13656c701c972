"""`exsitu`: train off-chip, then program the weights into the crossbar and infer there.

The off-chip network is the straight-through (`ste`) one, whose comparator hidden units are the
same hardware as SBP's, so the two differ only in where learning happens. After every epoch the
weights are written open-loop into a freshly erased crossbar: each layer is scaled so that its
largest |w| maps to the full conductance range (comparators and winner-take-all do not care about
a positive scale), and each device gets the number of SET pulses that the *nominal* device curve
needs to reach its target. The chip's own device-to-device spread, cycle-to-cycle noise, stuck
devices and finite states then decide what is really stored: this is the motivation for on-chip
learning. Pulses counted are the programming pulses of every epoch's write (the erase is not).

Off-chip training sees no device, so the software network is exactly the `ste` run that
`RunSpec.offchip_spec` names (same draws from the same streams; the chip has streams of its own).
A pipeline trains that network once and every exsitu run of a device sweep replays its per-epoch
weights (`replay`): the same numbers as training in-process, without repeating the training, and
every device is programmed from the same network, so a sweep compares devices and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from sbp_core import engine
from sbp_core.crossbar import DTYPE, Crossbar
from sbp_core.errors import ConfigError
from sbp_core.methods.base import EpochStats
from sbp_core.methods.crossbar_mlp import CrossbarMLP
from sbp_core.methods.ste import STELearner
from sbp_core.offchip import Snapshot


class ExSituLearner(CrossbarMLP):
    """An STE network trained in software, evaluated after programming into two crossbars."""

    def __init__(self, spec, n_in, n_out, rng) -> None:
        chip_rng, self._program_rng = rng.spawn(2)  # leaves rng's own draws to the software
        self.software = STELearner.from_spec(spec.offchip_spec(), n_in, n_out, rng)
        super().__init__(spec, n_in, n_out, chip_rng)
        self._replayed: Iterator[Snapshot] | None = None

    def replay(self, epochs: Iterable[Snapshot]) -> None:
        """Take each epoch's software weights and loss from the finished off-chip run."""
        self._replayed = iter(epochs)

    def hidden_response(self, current: np.ndarray) -> np.ndarray:
        """The software network's comparator sits at 0, and scaling keeps it there."""
        return (current > 0).astype(DTYPE)

    def fit_epoch(self, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> EpochStats:
        if self._replayed is None:
            loss = self.software.fit_epoch(X, y, rng).loss
            state = self.software.state()
        else:
            state, loss = next(self._replayed, (None, None))
            if state is None:
                raise ConfigError("the off-chip run holds fewer epochs than this exsitu run")
        program(self.layer1, np.vstack((state["W1"], state["b1"])), self._program_rng)
        program(self.layer2, np.vstack((state["W2"], state["b2"])), self._program_rng)
        return self.epoch_stats(loss=loss)


def program(layer: Crossbar, weights: np.ndarray, rng: np.random.Generator) -> None:
    """Erase both devices of every pair to Gmin, then SET each towards its target open-loop."""
    peak = float(np.abs(weights).max())
    normalised = weights / peak if peak > 0 else weights
    g_min = layer.params.g_min
    bar = layer.arrays()
    for g, devices, responses, part in (
        (layer.g_plus, layer.plus, bar.plus, np.maximum(normalised, 0.0)),
        (layer.g_minus, layer.minus, bar.minus, np.maximum(-normalised, 0.0)),
    ):
        g[...] = devices.initial(0.0, rng, DTYPE)  # erased: Gmin, stuck devices where stuck
        pulses = devices.pulses_to_reach(g_min + part * (1.0 - g_min)).ravel()
        most_first = np.argsort(-pulses, kind="stable")
        # one parallel SET pulse per step, to the devices that need more than `step` pulses: a
        # prefix of most_first, found by counting rather than by scanning the array every step
        for pulsed in pulses.size - np.cumsum(np.bincount(pulses))[:-1]:
            index = most_first[:pulsed]
            engine.set_pulses(g, responses, index, bar.c2c, rng)  # = devices.respond, compiled
            layer.set_pulses += index.size
