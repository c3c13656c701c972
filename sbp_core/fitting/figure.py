"""The measured curves beside the fitted ones, one panel per direction (sbp_core.report.page)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from sbp_core.fitting.curves import DIRECTIONS  # noqa: E402
from sbp_core.fitting.fit import Fit  # noqa: E402
from sbp_core.report import page  # noqa: E402

SIZE = (page.TEXT_WIDTH_IN, 3.0)
MICRO = 1e6
"""Conductances are drawn in microsiemens."""
LEGEND_DEVICES = 8
"""Devices named in the legend (more are drawn, in recurring colours)."""


def fit_figure(fit: Fit) -> Figure:
    """SET (left) and RESET (right) ramps of every measured device: reads as dots, the fitted
    model from each ramp's first read as a line, one colour per device."""
    page.theme()
    fig, axes = plt.subplots(1, 2, figsize=SIZE, sharey=True, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    devices = fit.curves.devices
    for ax, direction in zip(axes, DIRECTIONS, strict=True):
        for ramp in fit.curves.ramps:
            if ramp.direction != direction:
                continue
            colour = colours[devices.index(ramp.device) % len(colours)]
            measured = ramp.conductance_s * MICRO
            ax.plot(ramp.pulse, measured, ".", color=colour, markersize=2, alpha=0.35)
            ax.plot(ramp.pulse, fit.predict(ramp) * MICRO, "-", color=colour, linewidth=0.9)
        rms = fit.rms_error_s[direction] * MICRO
        ax.set_title(f"{direction.upper()}: RMS error {rms:.3g} µS", fontsize="medium")
        ax.set_xlabel("pulse in ramp (count)")
    axes[0].set_ylabel("conductance (µS)")
    handles = [
        Line2D([], [], marker=".", linestyle="", color="grey", label="measured"),
        Line2D([], [], color="grey", label=f"fitted ({fit.model.replace('_', ' ')})"),
    ]
    if len(devices) > 1:
        handles += [
            Line2D([], [], color=colours[i % len(colours)], label=f"device {name}")
            for i, name in enumerate(devices[:LEGEND_DEVICES])
        ]
    fig.legend(handles=handles, loc="outside right center", fontsize="small", frameon=False)
    return fig


def save_png(fig: Figure, png: str | Path) -> None:
    """At page.DPI without a timestamp, as every report figure; then closed."""
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=page.DPI, metadata={"Software": None})
    plt.close(fig)
