"""The periphery cost figures, drawn from the frames of `cost_tables` (no cost computed here).

One family of configurations per figure: each sweep with SBP runs gets a breakdown and an
energy-per-epoch figure whose rows or panels are its grid points, labelled by the sweep's axis
values and their accuracy. A design whose runs did not learn (`sbp_core.report.learned`) is
drawn hollow or grey, and a saving where either design did not learn is not printed. The ADC
sensitivity figures cover the whole profile, one line per configuration coloured by device.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    EngFormatter,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from sbp_core import cost  # noqa: E402
from sbp_core.methods import RULES  # noqa: E402
from sbp_core.report import ACCURACY, page  # noqa: E402
from sbp_core.report.collect import in_sweep  # noqa: E402
from sbp_core.report.cost_tables import (  # noqa: E402
    ACCURACY_CONV,
    ACCURACY_SBP,
    ASSUMED,
    GROUP,
    LEARNED_CONV,
    LEARNED_SBP,
    NOT_LEARNED,
    group_column,
)
from sbp_core.report.figures import EPOCH_LABEL, no_data  # noqa: E402
from sbp_core.report.names import data_names  # noqa: E402
from sbp_core.report.tables import sort_like_config  # noqa: E402

FIGURES = ("cost_saving_vs_adc_bits", "cost_saving_vs_adc_fom", "cost_saving_vs_pulse")
"""Figures of the whole profile: figures/<name>.png."""
TRADEOFF_FIGURE = "cost_accuracy_vs_energy"
"""The profile's accuracy against training energy per sample, per run (`plot_tradeoff`)."""
METHOD_STYLES = dict(
    sorted(
        ((name, rule.style) for name, rule in RULES.items() if rule.style is not None),
        key=lambda item: item[1]["colour"],
    )
)
"""Marker, legend label and colour (index in the colorblind palette) of each method in the
trade-off figure, from its record (`Method.style`), in the order of their colours."""
COMPONENT_COLOURS = dict(
    zip(cost.COMPONENTS, sns.color_palette("colorblind", len(cost.COMPONENTS)), strict=True)
)
"""One colour per component, stacked and listed in cost.COMPONENTS order in every figure."""
DESIGN_STYLES = {
    "SBP": {"color": sns.color_palette("dark")[0], "linestyle": "-"},
    "conventional": {"color": sns.color_palette("dark")[1], "linestyle": "--"},
}
NOT_LEARNED_COLOUR = "0.65"
DEVICE_PALETTE = [c for i, c in enumerate(sns.color_palette("colorblind")) if i != 7]
"""Device colours of the sensitivity figures: seaborn's colorblind palette without its grey."""
LINE = {"marker": "o", "markersize": 3, "linewidth": 1}
ENERGY = EngFormatter(unit="J", places=1, sep=" ")


def _family(frame: pd.DataFrame, sweep: Mapping[str, Any]) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per configuration of `sweep`, in the config's axis order."""
    rows = in_sweep(frame, sweep["name"])
    if rows.empty:
        return []
    for axis in sweep["axes"]:
        rows[axis] = rows[group_column(axis)]
    rows = sort_like_config(rows, sweep)
    groups = rows.groupby(GROUP, sort=False, dropna=False)
    return [(_label(members.iloc[0], sweep), members) for _, members in groups]


def _label(row: pd.Series, sweep: Mapping[str, Any]) -> str:
    """The configuration's axis values (its device when the sweep has no axes), then accuracy:
    SBP's, and the on-chip SGD twins' where the conventional design was simulated."""
    names = [f"{axis} {_plain(row[axis])}" for axis in sweep["axes"]] or [row["device"]]
    accuracies = [f"SBP {100 * row[ACCURACY_SBP]:.1f} %"]
    if row.get(ASSUMED):
        names.append("pulse assumed")
    if not pd.isna(row.get(ACCURACY_CONV, math.nan)):
        accuracies.append(f"SGD {100 * row[ACCURACY_CONV]:.1f} %")
    return "\n".join([*names, *accuracies])


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _learned(rows: pd.DataFrame) -> bool:
    """Whether every simulated design of the configuration learned (`learned_<design>`)."""
    return bool(rows[[c for c in rows.columns if c.startswith("learned_")]].all(axis=None))


def _learned_designs(rows: pd.DataFrame) -> tuple[bool, bool]:
    """(SBP learned, conventional learned): a design not simulated (no sgd twin) counts as
    learned, as in `_learned`."""
    return tuple(bool(rows[column].all()) for column in (LEARNED_SBP, LEARNED_CONV))


def plot_breakdown(components: pd.DataFrame, sweep: Mapping[str, Any]) -> Figure:
    """A row per configuration of `sweep`: area and energy per training sample stacked by
    component, SBP above conventional. Energy is in percent of the conventional design's, so
    rows compare at a glance; each bar ends in its total, SBP's in its saving factor."""
    page.theme()
    family = _family(components[components["component"] != "total"], sweep)
    if not family:
        return no_data(sweep["name"])
    lines = max(label.count("\n") + 1 for label, _ in family)  # 4 with "pulse assumed"
    height = min(page.MAX_HEIGHT_IN, 1.4 + (0.02 + 0.2 * lines) * len(family))
    fig, axes = plt.subplots(
        len(family), 2, figsize=(page.TEXT_WIDTH_IN, height), sharex="col", sharey=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    # SBP's area can pass the conventional design's (a pulse generator per line, when its
    # pulses are stochastic): the axis holds both, so no bar or total runs off it
    area = max(rows[f"area_{d}_um2"].sum() for _, rows in family for d in ("sbp", "conv"))
    axes[0][0].set_xlim(0, 1.45 * area)
    axes[0][0].xaxis.set_major_locator(MaxNLocator(nbins=4))
    axes[0][0].xaxis.set_major_formatter(EngFormatter(sep=" "))  # 50 k, not 50000
    # SBP can cost more energy than the conventional design (more pulses on a costly device)
    sbp_percent = max(
        100 * rows["energy_sbp_J"].sum() / rows["energy_conv_J"].sum() for _, rows in family
    )
    if sbp_percent <= 110:
        axes[0][1].set(xlim=(0, 150), xticks=range(0, 101, 25))
    else:
        axes[0][1].set_xlim(0, 1.1 * sbp_percent)
        axes[0][1].xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for (label, rows), (area_ax, energy_ax) in zip(family, axes, strict=True):
        learned = _learned_designs(rows)
        parts = rows.set_index("component")
        conv_energy = parts["energy_conv_J"].sum()
        for ax, column, scale, fmt in (
            (area_ax, "area_{}_um2", 1.0, lambda v: f"{v:,.0f} µm²"),
            (energy_ax, "energy_{}_J", 100 / conv_energy, ENERGY),
        ):
            _stack(ax, parts, column, scale, learned)
            _annotate(ax, parts, column, scale, learned, fmt)
        area_ax.set_yticks([0, 1], ["SBP", "conv."])
        area_ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    axes[0][0].invert_yaxis()
    axes[-1][0].set_xlabel("area (µm²)")
    axes[-1][1].set_xlabel("energy (% of conventional)")
    handles = [Patch(color=COMPONENT_COLOURS[c], label=c) for c in cost.COMPONENTS]
    handles.append(Patch(facecolor="white", edgecolor="0.3", label=f"hollow: {NOT_LEARNED}"))
    fig.legend(
        handles=handles, loc="outside lower center", ncols=4, frameon=False, fontsize="small"
    )
    fig.suptitle(
        f"{sweep['name']} ({_data(components)}): area per network, energy per training sample",
        fontsize="medium",
    )
    return fig


def _stack(ax, parts: pd.DataFrame, column: str, scale: float, learned: tuple) -> None:
    """Horizontal bars stacked in component order: SBP at 0, conv. at 1, each hollow unless its
    design learned (`learned`: SBP's, conv.'s)."""
    left = [0.0, 0.0]
    for component in cost.COMPONENTS:
        colour = COMPONENT_COLOURS[component]
        widths = [scale * parts.loc[component, column.format(d)] for d in ("sbp", "conv")]
        ax.barh(
            [0, 1], widths, left=left, height=0.72, linewidth=0.8, edgecolor=colour,
            color=[colour if design_learned else "white" for design_learned in learned],
        )  # fmt: skip
        left = [a + b for a, b in zip(left, widths, strict=True)]


def _annotate(ax, parts, column: str, scale: float, learned: tuple, fmt) -> None:
    """Each bar's total after its end, SBP's with the saving factor where both designs learned,
    each with the not-learned mark where its design did not (SBP's longer text inside its bar,
    on white, where the bar reaches past half of the axis)."""
    sbp, conv = (parts[column.format(d)].sum() for d in ("sbp", "conv"))
    saving = f", ×{conv / sbp:.3g} saving" if sbp > 0 and all(learned) else ""
    marks = ["" if design_learned else f", {NOT_LEARNED}" for design_learned in learned]
    texts = [fmt(sbp) + (saving or marks[0]), fmt(conv) + marks[1]]
    for y, (total, text) in enumerate(zip((sbp, conv), texts, strict=True)):
        end = scale * total
        if y == 0 and end > ax.get_xlim()[1] / 2:
            box = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1}
            ax.text(end, y, text + " ", ha="right", va="center", fontsize="x-small", bbox=box)
        else:
            ax.text(end, y, "  " + text, va="center", fontsize="x-small")


def plot_energy_per_epoch(energies: pd.DataFrame, sweep: Mapping[str, Any]) -> Figure:
    """A panel per configuration of `sweep` (one column wide for a single one): training energy
    per epoch of both designs on a log scale shared by the sweep, the mean over seeds with their
    range as a band where they differ; a design grey where it did not learn."""
    page.theme()
    family = _family(energies, sweep)
    if not family:
        return no_data(sweep["name"])
    columns = _columns(len(family))
    rows = math.ceil(len(family) / columns)
    height = min(page.MAX_HEIGHT_IN, 0.9 + 1.75 * rows)
    width = page.TEXT_WIDTH_IN if columns > 1 else page.COLUMN_WIDTH_IN
    fig, axes = plt.subplots(
        rows, columns, figsize=(width, height), sharex=True, sharey=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax, (label, data) in zip(axes.flat, family, strict=False):  # spare panels go below
        sbp_learned, conv_learned = _learned_designs(data)
        learned = {"SBP": sbp_learned, "conventional": conv_learned}  # DESIGN_STYLES' names
        for design, style in DESIGN_STYLES.items():
            colour = style["color"] if learned[design] else NOT_LEARNED_COLOUR
            energy = data[data["design"] == design].groupby("epoch")["energy_per_epoch_J"]
            mean, low, high = energy.mean(), energy.min(), energy.max()
            ax.plot(mean.index, mean, color=colour, linestyle=style["linestyle"])
            if (high > low).any():
                ax.fill_between(mean.index, low, high, color=colour, alpha=0.25, linewidth=0)
        ax.set_title(label, fontsize="x-small")
    ax.set_yscale("log")  # shared: set once, on the last panel drawn
    bottom, top = ax.get_ylim()  # the shared axis as drawn (not the other sweeps' energies)
    decades = math.log10(top / bottom)
    # a short axis holds few labels; under a decade, 1-3 would leave one tick in view, and
    # matplotlib then falls back to linear ticks whose labels overlap (130-800 uJ: 200 ... 800)
    subs = (1.0, 2.0, 5.0) if decades < 1 else (1.0, 3.0) if decades <= 2 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(subs=subs, numticks=12))  # "auto" gave none at all
    ax.yaxis.set_major_formatter(EngFormatter(unit="J", places=0, sep=" "))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    for index, ax in enumerate(axes.flat):
        if index >= len(family):
            ax.remove()  # no empty panels
        elif index + columns >= len(family):  # nothing below it: its column's x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(EPOCH_LABEL)
    for row in axes:
        row[0].set_ylabel("energy per epoch")
    handles = [Line2D([], [], label=d, **style) for d, style in DESIGN_STYLES.items()]
    handles.append(Line2D([], [], color=NOT_LEARNED_COLOUR, label=NOT_LEARNED))
    handles.append(Patch(color="0.5", alpha=0.25, label="range over seeds"))
    fig.legend(
        handles=handles, loc="outside lower center", ncols=4 if columns > 1 else 2,
        frameon=False, fontsize="small",
    )  # fmt: skip
    fig.suptitle(
        f"{sweep['name']} ({_data(energies)}): training energy per epoch", fontsize="medium"
    )
    return fig


def _data(frame: pd.DataFrame) -> str:
    """The datasets of a frame's configurations, in words (`names.data_names`)."""
    return data_names(frame["data_sha256"]) if "data_sha256" in frame else "data unknown"


def _columns(n: int) -> int:
    """Panels per row: all of up to 4, else 3 or 4, whichever leaves fewer empty panels."""
    return n if n <= 4 else min((3, 4), key=lambda c: (-n % c, c))


def plot_sensitivity(
    frame: pd.DataFrame,
    constant: str,
    configured: float,
    xlabel: str | Sequence[str],
    metrics: Sequence[str] = ("energy_saving", "area_saving"),
    log_x: bool = False,
) -> Figure:
    """Saving factors against one cost constant (`cost_tables.sensitivity`), one panel per
    metric: a line per configuration, coloured by device (grey where it did not learn), the
    configured value dotted and the break-even line at 1. `xlabel`: one, or one per metric."""
    page.theme()
    learned = frame.groupby(GROUP, sort=False, dropna=False).filter(_learned)
    devices = list(dict.fromkeys(learned["device"]))
    colours = dict(zip(devices, itertools.cycle(DEVICE_PALETTE)))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(page.TEXT_WIDTH_IN, 3.4), squeeze=False, layout="constrained"
    )
    for ax, metric in zip(axes[0], metrics, strict=True):
        for _, rows in frame.groupby(GROUP, sort=False, dropna=False):
            if _learned(rows):
                colour, layer = colours[rows["device"].iloc[0]], 2
            else:
                colour, layer = NOT_LEARNED_COLOUR, 1  # beneath the configurations that learned
            ax.plot(rows[constant], rows[metric], color=colour, zorder=layer, **LINE)
        ax.axvline(configured, color="grey", linestyle=":", linewidth=1)
        ax.axhline(1.0, color="black", linewidth=0.8)
        if frame[metric].max() > 10 * frame[metric].min():
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        if log_x:
            ax.set_xscale("log")
            if frame[constant].min() >= 0.01 and frame[constant].max() <= 100:  # factors: 0.1, 10
                ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(xlabel if isinstance(xlabel, str) else xlabel[metrics.index(metric)])
        ax.set_ylabel(metric.split("_vs_")[0].replace("_", " ") + " (conv. / SBP)")
    handles = [Line2D([], [], color=colours[d], label=d, **LINE) for d in devices]
    handles.append(Line2D([], [], color=NOT_LEARNED_COLOUR, label=NOT_LEARNED, **LINE))
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize="small")
    fig.suptitle(f"{_data(frame)}: saving factors, every configuration", fontsize="medium")
    return fig


def plot_tradeoff(energies: pd.DataFrame, data: str = "") -> Figure:
    """Final test accuracy against energy per training sample (`cost_tables.method_energies`),
    one point per run, coloured by method, one panel per device (shared axes, log energy), a
    panel titled "pulse assumed" where its pulse parameters were; `data` names the dataset."""
    page.theme()
    devices = list(dict.fromkeys(energies["device"])) or ["(no runs)"]
    n_cols = _columns(len(devices))
    n_rows = math.ceil(len(devices) / n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(page.TEXT_WIDTH_IN, 1.2 + 1.9 * n_rows), squeeze=False,
        sharex=True, sharey=True, layout="constrained",
    )  # fmt: skip
    palette = sns.color_palette("colorblind")
    colours = {method: palette[style["colour"]] for method, style in METHOD_STYLES.items()}
    for ax, device in zip(axes.flat, devices, strict=False):
        for method, style in METHOD_STYLES.items():
            points = energies[(energies["device"] == device) & (energies["method"] == method)]
            ax.scatter(
                points["energy_per_sample_J"], 100 * points[ACCURACY], s=14, alpha=0.8,
                color=colours[method], marker=style["marker"], linewidths=0,
            )  # fmt: skip
        assumed = energies.loc[energies["device"] == device, ASSUMED].any()
        ax.set_title(f"{device}\npulse assumed" if assumed else device, fontsize="small")
        ax.set_xscale("log")
    for ax in axes.flat[len(devices) :]:
        ax.set_visible(False)
    for ax in axes.flat:  # shared axes: only the outer panels show ticks, so only they are named
        ax.set_xlabel("energy per sample (J)" if ax.get_subplotspec().is_last_row() else "")
        ax.set_ylabel("test accuracy (%)" if ax.get_subplotspec().is_first_col() else "")
        ax.xaxis.label.set_fontsize("small")
    present = [m for m in METHOD_STYLES if m in set(energies.get("method", ()))]
    handles = [
        Line2D([], [], color=colours[m], marker=METHOD_STYLES[m]["marker"], linestyle="",
               label=METHOD_STYLES[m]["label"])
        for m in present
    ]  # fmt: skip
    fig.legend(  # three columns fit the text width with the longest label, four did not
        handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small"
    )
    if data:
        fig.suptitle(f"{data}: accuracy against training energy", fontsize="medium")
    return fig
