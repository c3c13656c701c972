"""The measured curves beside the fitted ones, one panel per direction (sbp_core.report.page)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from sbp_core.fitting.curves import DIRECTIONS  # noqa: E402
from sbp_core.fitting.fit import Fit  # noqa: E402
from sbp_core.report import page  # noqa: E402

SIZE = (page.TEXT_WIDTH_IN, 3.0)
MICRO = 1e6
"""Conductances are drawn in microsiemens."""
LEGEND_DEVICES = 8
"""Devices named in the legend (more are drawn, in recurring colours)."""
RAMPS_DRAWN = 6
"""Ramps drawn per device and direction, evenly spaced from its first to its last: more cover
each other (the check itself uses every ramp)."""


def fit_figure(fit: Fit) -> Figure:
    """SET (left) and RESET (right) ramps of every measured device: reads as dots; the fitted
    device simulated over the same pulses from each ramp's fitted start, its mean as a line and
    its 5-95 % band shaded, one colour per device; the quality check in each title."""
    page.theme()
    fig, axes = plt.subplots(1, 2, figsize=SIZE, sharey=True, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    devices = fit.curves.devices
    for ax, direction in zip(axes, DIRECTIONS, strict=True):
        drawn, total = drawn_ramps(fit, direction)
        for ramp, band in drawn:
            colour = colours[devices.index(ramp.device) % len(colours)]
            measured = ramp.conductance_s * MICRO
            ax.plot(ramp.pulse, measured, ".", color=colour, markersize=2.5, alpha=0.5)
            ax.fill_between(
                ramp.pulse, band.low * MICRO, band.high * MICRO, color=colour, alpha=0.2, lw=0
            )
            ax.plot(ramp.pulse, band.mean * MICRO, "-", color=darker(colour), lw=0.6, zorder=3)
        error = 100 * fit.check.mean_error[direction]
        spread = fit.check.spread_ratio[direction]
        verdict = " (poor)" if any(r.startswith(direction.upper()) for r in fit.check.poor) else ""
        shown = f", {len(drawn)} of {total} ramps" if len(drawn) < total else ""
        ax.set_title(
            f"{direction.upper()}{verdict}{shown}\nmean off {error:.2g} % of range\n"
            f"scatter x{spread:.2g}",
            fontsize="small",
        )
        ax.set_xlabel("pulse in ramp (count)")
    axes[0].set_ylabel("conductance (µS)")
    handles = [
        Line2D([], [], marker=".", linestyle="", color="grey", label="measured"),
        Line2D([], [], color=darker("grey"), label=f"fitted mean ({fit.model.replace('_', ' ')})"),
        Patch(color="grey", alpha=0.2, label="fitted 5-95 %"),
    ]
    if len(devices) > 1:
        handles += [
            Line2D([], [], color=colours[i % len(colours)], label=f"device {name}")
            for i, name in enumerate(devices[:LEGEND_DEVICES])
        ]
    fig.legend(handles=handles, loc="outside right center", fontsize="small", frameon=False)
    return fig


def drawn_ramps(fit: Fit, direction: str) -> tuple[list, int]:
    """The (ramp, band) pairs of `direction` drawn, at most RAMPS_DRAWN per device spread evenly
    over its ramps in measured order, and how many ramps the direction has."""
    pairs = [
        (ramp, band)
        for ramp, band in zip(fit.curves.ramps, fit.check.bands, strict=True)
        if ramp.direction == direction
    ]
    drawn = []
    for device in fit.curves.devices:
        own = [pair for pair in pairs if pair[0].device == device]
        picks = np.unique(np.linspace(0, len(own) - 1, min(RAMPS_DRAWN, len(own))).round())
        drawn += [own[int(k)] for k in picks]
    return drawn, len(pairs)


def darker(colour: str) -> tuple[float, float, float]:
    """The colour at half its brightness: the fitted mean stays visible over its own reads."""
    return tuple(0.5 * c for c in to_rgb(colour))


def save_png(fig: Figure, png: str | Path) -> None:
    """At page.DPI without a timestamp, as every report figure; then closed."""
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=page.DPI, metadata={"Software": None})
    plt.close(fig)
