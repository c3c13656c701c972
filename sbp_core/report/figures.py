"""Seaborn figures from the tidy tables; one function per figure kind, chosen by the sweep's axes.

Accuracies are plotted in percent; bands and error bars are one standard deviation over seeds.
Every numeric axis names its unit (AXIS_UNITS for the spec fields a sweep can vary).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sbp_core.methods import CROSSBAR_METHODS  # noqa: E402
from sbp_core.report import ACCURACY, page, rule_log  # noqa: E402
from sbp_core.report.collect import in_sweep  # noqa: E402
from sbp_core.report.names import data_name, data_names  # noqa: E402
from sbp_core.report.tables import DATA_COLUMN, axis_values, neurosim_accuracy  # noqa: E402
from sbp_core.spec import RunSpec  # noqa: E402

ACCURACY_LABEL = "test accuracy (%)"
EPOCH_LABEL = "epoch (count)"
SIZE = (6.4, 3.6)
AXIS_UNITS = {
    "n_train": "images",
    "val_fraction": "fraction of training set",
    "binarize_threshold": "fraction of max pixel",
    "input_crop": "pixels per side",
    "n_hidden": "neurons per hidden layer",
    "epochs": "passes",
    "epoch_samples": "images per epoch",
    "n_states": "levels per device",
    "nl_ltp": "NeuroSim label",
    "nl_ltd": "NeuroSim label",
    "c2c_sigma": "fraction of G range per pulse",
    "d2d_sigma": "relative sigma",
    "stuck_gmin": "fraction of devices",
    "stuck_gmax": "fraction of devices",
    "read_noise": "relative sigma per read",
    "theta": "weight units",
    "pulse_prob": "per coincidence",
    "init_spread": "fraction of G range",
    "lr": "per step",
    "batch_size": "samples",
    **{f.name: f.metadata["unit"] for f in fields(RunSpec) if "unit" in f.metadata},
}
"""The unit of every numeric spec field a sweep can vary, for its axis label (docs/method.md):
the shared fields' here, each rule's own from its field declarations (`number(..., unit=)`)."""


def draw(kind: str, runs: pd.DataFrame, history: pd.DataFrame, sweep: Mapping[str, Any]) -> Figure:
    """The figure of `kind` for `sweep`; a labelled empty figure when the sweep has no runs."""
    page.theme()
    table = history if kind in ("curves", "pulses") else runs
    data = in_sweep(table, sweep["name"])
    if kind == "pulses":
        data = data[data["method"].isin(CROSSBAR_METHODS)]
    if data.empty:
        return no_data(sweep["name"])
    fig, ax = plt.subplots(figsize=SIZE, layout="constrained")
    DRAWERS[kind](ax, data, sweep)
    ax.set_title(f"{ax.get_title()} ({data_names(data[DATA_COLUMN])})")
    return fig


def _percent(data: pd.DataFrame, *columns: str) -> pd.DataFrame:
    data = data.copy()
    for column in columns:
        data[column] = 100 * data[column]
    return data


def _methods(ax, runs: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    data = _percent(runs, ACCURACY)
    order = [m for m in sweep["methods"] if m in set(data["method"])]
    sns.barplot(data, x="method", y=ACCURACY, order=order, errorbar="sd", color="0.8", ax=ax)
    # no jitter: seaborn draws it from numpy's global generator, so the figure changed from one
    # drawing of the same runs to the next
    sns.stripplot(
        data, x="method", y=ACCURACY, order=order, color="black", size=4, jitter=False, ax=ax
    )
    ax.set(
        xlabel="learning rule", ylabel=ACCURACY_LABEL, title=f"{sweep['name']}: final test accuracy"
    )


def _curves(ax, history: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    """Test accuracy per epoch, one line per method (train curves are in history.csv: with
    both, a sweep of seven methods drew fourteen overlapping lines)."""
    data = _percent(history, "test_acc")
    methods = _present(sweep["methods"], data["method"])
    sns.lineplot(
        data, x="epoch", y="test_acc", hue="method", style="method", hue_order=methods,
        style_order=methods, markers=True, dashes=False, errorbar="sd", ax=ax,
    )  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(
        xlabel=EPOCH_LABEL, ylabel="test accuracy (%)", title=f"{sweep['name']}: learning curves"
    )
    _legend_outside(ax)


def _pulses(ax, history: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    long = history.melt(
        id_vars=["method", "seed", "epoch"],
        value_vars=["set_pulses", "reset_pulses"],
        var_name="pulse",
        value_name="pulses",
    )
    long["pulse"] = long["pulse"].map({"set_pulses": "SET", "reset_pulses": "RESET"})
    sns.lineplot(  # RESET dashed with crosses: where the counts are equal it lies on SET
        long, x="epoch", y="pulses", hue="method", style="pulse", style_order=["SET", "RESET"],
        hue_order=_present(sweep["methods"], long["method"]), errorbar="sd", ax=ax,
        markers={"SET": "o", "RESET": "X"}, dashes={"SET": "", "RESET": (4, 2)},
    )  # fmt: skip
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if (long["pulses"] > 0).any():
        ax.set_yscale("log")
    ax.set(
        xlabel=EPOCH_LABEL,
        ylabel="programming pulses (per epoch)",
        title=f"{sweep['name']}: pulses per epoch",
    )
    _legend_outside(ax)


def _axis(ax, runs: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    (axis,) = sweep["axes"]
    data = _percent(runs, ACCURACY)
    hue_order = _present(sweep["methods"], data["method"])
    if pd.api.types.is_numeric_dtype(data[axis]) and not pd.api.types.is_bool_dtype(data[axis]):
        sns.lineplot(
            data, x=axis, y=ACCURACY, hue="method", hue_order=hue_order,
            errorbar="sd", marker="o", ax=ax,
        )  # fmt: skip
        values = data[axis].dropna()
        if (values > 0).all() and values.max() >= 16 * values.min():
            ax.set_xscale("log", base=2)
    else:  # categories in the config's order; several hidden layers read 256-128
        data[axis] = data[axis].astype(str)
        order = _present([str(value) for value in axis_values(sweep)[axis]], data[axis])
        sns.barplot(
            data, x=axis, y=ACCURACY, hue="method", order=order, hue_order=hue_order,
            errorbar="sd", ax=ax,
        )  # fmt: skip
    ax.set(
        xlabel=axis_label(axis),
        ylabel=ACCURACY_LABEL,
        title=f"{sweep['name']}: accuracy versus {axis}",
    )
    _legend_outside(ax)


def _presets(ax, runs: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    data = _percent(runs, ACCURACY)
    order = _present(sweep["axes"]["device"], data["device"])
    sns.barplot(
        data, x="device", y=ACCURACY, hue="method", order=order,
        hue_order=_present(sweep["methods"], data["method"]), errorbar="sd", ax=ax,
    )  # fmt: skip
    reference = [(i, 100 * neurosim_accuracy(device)) for i, device in enumerate(order)]
    reference = [(i, value) for i, value in reference if not math.isnan(value)]
    if reference and set(map(data_name, data[DATA_COLUMN])) == {"MNIST"}:
        # NeuroSim's accuracies are MNIST's: beside other data they would mislead
        ax.scatter(
            *zip(*reference, strict=True), marker="D", color="black", zorder=3,
            label="NeuroSim V3 (MNIST)",
        )  # fmt: skip
    ax.tick_params(axis="x", labelrotation=35)
    ax.set(xlabel="device preset", ylabel=ACCURACY_LABEL, title=f"{sweep['name']}: device presets")
    _legend_outside(ax)


def _heatmap(ax, runs: pd.DataFrame, sweep: Mapping[str, Any]) -> None:
    rows, columns = sweep["axes"]
    means = _percent(runs, ACCURACY).groupby(["method", rows, columns])[ACCURACY].mean()
    methods = _present(sweep["methods"], runs["method"])
    grid = means.loc[methods[0]].unstack(columns)
    if len(methods) > 1:
        grid = grid - means.loc[methods[1]].unstack(columns)
        title = f"{methods[0]} minus {methods[1]}"
        label = "accuracy difference (percentage points)"
        options = {"center": 0.0, "cmap": "vlag", "cbar_kws": {"label": label}}
    else:
        title = f"{methods[0]}"
        options = {"cmap": "viridis", "cbar_kws": {"label": ACCURACY_LABEL}}
    sns.heatmap(grid, annot=True, fmt=".1f", ax=ax, **options)
    ax.invert_yaxis()
    ax.grid(False)  # no grid lines through the cells of a missing grid point
    ax.set(xlabel=axis_label(columns), ylabel=axis_label(rows), title=f"{sweep['name']}: {title}")


def axis_label(field: str) -> str:
    """A spec field as an axis label: its name, with its unit when it is numeric."""
    return f"{field} ({AXIS_UNITS[field]})" if field in AXIS_UNITS else field


def _legend_outside(ax) -> None:
    """Legend right of the axes, so it never hides a curve or a bar."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize="small")


def _present(order: list[Any], values: pd.Series) -> list[Any]:
    """The config's order, restricted to values that occur in the data."""
    seen = set(values)
    return [value for value in order if value in seen]


def no_data(name: str) -> Figure:
    """A labelled empty figure for a sweep without finished runs."""
    fig, ax = plt.subplots(figsize=SIZE, layout="constrained")
    ax.text(0.5, 0.5, f"no finished runs in sweep {name!r}", ha="center", va="center")
    ax.set_axis_off()
    return fig


DRAWERS: dict[str, Callable[[Any, pd.DataFrame, Mapping[str, Any]], None]] = {
    "methods": _methods,
    "curves": _curves,
    "pulses": _pulses,
    "axis": _axis,
    "presets": _presets,
    "heatmap": _heatmap,
}


def from_snakemake(smk: Any) -> None:
    """Rules `figure_<kind>`: one figure of one sweep from the tidy tables."""
    with rule_log(smk):
        runs, history = pd.read_csv(smk.input.runs), pd.read_csv(smk.input.history)
        fig = draw(smk.params.kind, runs, history, smk.params.sweep)
        page.save(fig, smk.output.png, smk.output.pdf)
