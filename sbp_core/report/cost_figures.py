"""The periphery cost figures, drawn from the frames of `cost_tables` (no cost computed here)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sbp_core import cost  # noqa: E402
from sbp_core.report.cost_tables import ALWAYS_SHOWN, shown_keys  # noqa: E402

FIGURES = (
    "cost_breakdown",
    "cost_saving_vs_adc_bits",
    "cost_saving_vs_adc_fom",
    "cost_energy_per_epoch",
)


def _label(frame: pd.DataFrame) -> pd.Series:
    """One name per configuration: dataset, device and states, then each key that varies among
    runs of one device (a preset's own nonlinearity or noise is in its name already)."""
    by_device = frame.groupby("device", dropna=False)
    varying = [
        key
        for key in shown_keys(frame)
        if key not in ALWAYS_SHOWN and by_device[key].nunique(dropna=False).max() > 1
    ]

    def name(row: pd.Series) -> str:
        parts = [row["dataset"], row["device"], f"N{int(row['device.n_states'])}"]
        return " ".join(
            parts + [f"{key.removeprefix('device.')}={_plain(row[key])}" for key in varying]
        )

    return frame.apply(name, axis=1)


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_breakdown(components: pd.DataFrame) -> plt.Figure:
    """Stacked bars of area and energy by component, SBP beside conventional, per configuration."""
    parts = components[components["component"] != "total"].copy()
    parts["config"] = _label(parts)
    configs = list(dict.fromkeys(parts["config"]))
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(
        2, len(configs), figsize=(2.6 * len(configs) + 1.5, 6.5), squeeze=False
    )
    colours = dict(
        zip(cost.COMPONENTS, sns.color_palette("tab10", len(cost.COMPONENTS)), strict=True)
    )
    for col, config in enumerate(configs):
        data = parts[parts["config"] == config].set_index("component")
        for row, (metric, unit) in enumerate((("area", "um2"), ("energy", "J"))):
            ax = axes[row][col]
            bottom = [0.0, 0.0]
            for component in cost.COMPONENTS:
                heights = [data.loc[component, f"{metric}_{d}_{unit}"] for d in ("sbp", "conv")]
                ax.bar(
                    ["SBP", "conv."],
                    heights,
                    bottom=bottom,
                    color=colours[component],
                    label=component,
                )
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
            ax.set_title(config if row == 0 else "", fontsize=8)
            ax.set_ylabel("area per network (µm²)" if metric == "area" else "energy per sample (J)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1 - 1.3 / fig.get_figwidth(), 1))
    return fig


def plot_sensitivity(
    sweep: pd.DataFrame,
    constant: str,
    configured: float,
    xlabel: str,
    metrics: tuple[str, ...] = ("energy_saving", "area_saving"),
    log_x: bool = False,
) -> plt.Figure:
    """Saving factors against one cost constant (`cost_tables.sensitivity`), one panel per
    metric, with the configured value dotted and the break-even line at 1."""
    sweep = sweep.assign(config=_label(sweep))
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        sns.lineplot(data=sweep, x=constant, y=metric, hue="config", marker="o", ax=ax)
        ax.axvline(configured, color="grey", linestyle=":", linewidth=1)
        ax.axhline(1.0, color="black", linewidth=0.8)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric.replace("_", " ") + " (conventional / SBP)")
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.tight_layout()
    return fig


def plot_energy_per_epoch(energies: pd.DataFrame) -> plt.Figure:
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if energies.empty:
        ax.text(0.5, 0.5, "no SBP history rows", ha="center", va="center", transform=ax.transAxes)
        return fig
    energies = energies.assign(config=energies["dataset"] + " " + energies["device"])
    sns.lineplot(
        data=energies,
        x="epoch",
        y="energy_per_epoch_J",
        hue="config",
        style="design",
        errorbar=("pi", 100),
        ax=ax,
    )
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training energy per epoch (J)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
