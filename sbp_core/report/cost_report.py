"""Periphery cost of the collected SBP runs: per-run CSV, component tables and figures.

Joins each finished SBP run's pulse counts (runs.csv, history.csv of `collect`) with the analytical
model of `sbp_core.cost`, so every energy figure comes from pulses a run actually applied.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sbp_core import cost  # noqa: E402
from sbp_core.errors import ConfigError, DataError  # noqa: E402
from sbp_core.report.tables import _latex as latex_escape  # noqa: E402
from sbp_core.report.tables import to_latex, to_markdown  # noqa: E402

TABLES = ("cost_components", "cost_summary")
FIGURES = ("cost_breakdown", "cost_saving_vs_adc_bits", "cost_energy_per_epoch")
ASSUMPTIONS_FILE = "cost_assumptions.md"
PER_RUN_FILE = "cost_per_run.csv"
GROUP = ["dataset", "device", "n_hidden", "device.n_states", "pulse_prob"]
"""SBP runs that share these columns share one hardware configuration in the tables."""
DEVICE_COLUMNS = {
    "v_set": "device.v_set",
    "v_reset": "device.v_reset",
    "g_min_s": "device.g_min_s",
    "g_max_s": "device.g_max_s",
    "pulse_width_s": "device.pulse_width_s",
    "n_states": "device.n_states",
}
ADC_BITS_SWEPT = range(1, 11)
DESIGN_LABELS = {"sbp": "SBP", "conventional": "conventional"}


def write_cost_report(
    runs_csv: str | Path,
    history_csv: str | Path,
    constants: Mapping[str, cost.Constant],
    out_dir: str | Path,
) -> None:
    """Every cost output under out_dir: cost_per_run.csv, tables/, figures/."""
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    values = cost.constant_values(constants)
    runs = sbp_runs(_read_csv(runs_csv))
    per_run = per_run_costs(runs, values)
    per_run.to_csv(out / PER_RUN_FILE, index=False)

    components = component_table(runs, values)
    summary = summary_table(runs, per_run)
    notes = notes_lines(constants)
    for name, table in zip(TABLES, (components, summary), strict=True):
        _write_table(table, out / "tables" / name, notes)
    (out / "tables" / ASSUMPTIONS_FILE).write_text("\n".join(notes) + "\n")

    history = _read_csv(history_csv)
    figures = {
        "cost_breakdown": plot_breakdown(components),
        "cost_saving_vs_adc_bits": plot_adc_sweep(runs, values),
        "cost_energy_per_epoch": plot_energy_per_epoch(epoch_energies(history, runs, values)),
    }
    for name, fig in figures.items():
        fig.savefig(out / "figures" / f"{name}.png", dpi=150, metadata={"Software": None})
        fig.savefig(out / "figures" / f"{name}.pdf", metadata={"CreationDate": None})
        plt.close(fig)


def _read_csv(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: missing (run the collect rule first)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path}: unreadable ({' '.join(str(err).split())})") from None


def sbp_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished SBP runs, with the columns the model needs checked."""
    needed = [
        "run_id",
        "method",
        "dataset",
        "device",
        "n_hidden",
        "n_train",
        "epochs_run",
        "gate_window",
        "layers",
        "set_pulses_per_layer",
        "reset_pulses_per_layer",
        *DEVICE_COLUMNS.values(),
    ]
    missing = [column for column in needed if column not in runs.columns]
    if missing:
        raise DataError(f"runs.csv: missing column(s) {', '.join(missing)}")
    selected = runs[runs["method"] == "sbp"].reset_index(drop=True)
    if selected.empty:
        raise DataError("runs.csv: no finished sbp runs to cost")
    bad = selected[(selected["n_train"] <= 0) | (selected["epochs_run"] <= 0)]
    if not bad.empty:
        raise DataError(f"runs.csv: run {bad['run_id'].iloc[0]} has no training samples counted")
    return selected


def _layers(row: pd.Series, values: Mapping[str, float], scale: float) -> list[cost.Layer]:
    """The run's layers with pulses per sample = run totals * scale."""
    shapes = json.loads(row["layers"])
    sets = [scale * p for p in json.loads(row["set_pulses_per_layer"])]
    resets = [scale * p for p in json.loads(row["reset_pulses_per_layer"])]
    return cost.make_layers(
        shapes,
        sets,
        resets,
        _input_activity(row["dataset"], values),
        values["workload.line_activity"],
    )


def _input_activity(dataset: str, values: Mapping[str, float]) -> float:
    key = f"workload.input_activity_{dataset}"
    if key not in values:
        raise ConfigError(f"cost constants: missing {key} for dataset {dataset!r}")
    return values[key]


def _device(row: pd.Series) -> cost.PulseDevice:
    return cost.PulseDevice(**{name: float(row[column]) for name, column in DEVICE_COLUMNS.items()})


def _samples(row: pd.Series) -> float:
    return float(row["n_train"]) * float(row["epochs_run"])


def run_costs(
    row: pd.Series, values: Mapping[str, float], scale: float | None = None
) -> dict[str, cost.Cost]:
    """Both designs' cost per sample for one run (pulses averaged over the run by default)."""
    layers = _layers(row, values, 1.0 / _samples(row) if scale is None else scale)
    device, gated = _device(row), float(row["gate_window"]) > 0
    return {d: cost.network_cost(d, layers, device, values, gated) for d in cost.DESIGNS}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def per_run_costs(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """run_id and numeric cost columns, one row per SBP run (the metrics MLflow logs)."""
    rows = []
    for _, row in runs.iterrows():
        costs = run_costs(row, values)
        sbp, conv = costs["sbp"], costs["conventional"]
        pulses = sum(json.loads(row["set_pulses_per_layer"])) + sum(
            json.loads(row["reset_pulses_per_layer"])
        )
        samples, n_train = _samples(row), float(row["n_train"])
        rows.append(
            {
                "run_id": row["run_id"],
                "pulses_per_sample": pulses / samples,
                "energy_per_sample_sbp_J": sbp.total_energy_J,
                "energy_per_sample_conv_J": conv.total_energy_J,
                "energy_saving": _ratio(conv.total_energy_J, sbp.total_energy_J),
                "area_sbp_um2": sbp.total_area_um2,
                "area_conv_um2": conv.total_area_um2,
                "area_saving": _ratio(conv.total_area_um2, sbp.total_area_um2),
                "energy_per_epoch_sbp_J": sbp.total_energy_J * n_train,
                "energy_per_epoch_conv_J": conv.total_energy_J * n_train,
                "training_energy_sbp_J": sbp.total_energy_J * samples,
                "training_energy_conv_J": conv.total_energy_J * samples,
            }
        )
    return pd.DataFrame(rows)


def _group_rows(runs: pd.DataFrame) -> list[tuple[dict[str, Any], pd.Series]]:
    """One row per hardware configuration: pulses per sample (n_train = epochs = 1), run mean."""
    groups = []
    for key, members in runs.groupby(GROUP, sort=True):
        first = members.iloc[0].copy()
        for column in ("set_pulses_per_layer", "reset_pulses_per_layer"):
            per_sample = [
                np.asarray(json.loads(row[column]), dtype=float) / _samples(row)
                for _, row in members.iterrows()
            ]
            first[column] = json.dumps(np.mean(per_sample, axis=0).tolist())
        first["n_train"], first["epochs_run"] = 1, 1
        groups.append((dict(zip(GROUP, key, strict=True)), first))
    return groups


def component_table(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """Area and energy per sample by component, SBP beside conventional, with saving factors."""
    rows = []
    for key, row in _group_rows(runs):
        costs = run_costs(row, values, scale=1.0)
        sbp, conv = costs["sbp"], costs["conventional"]
        parts = [
            (c, sbp.area_um2[c], conv.area_um2[c], sbp.energy_J[c], conv.energy_J[c])
            for c in cost.COMPONENTS
        ]
        parts.append(
            (
                "total",
                sbp.total_area_um2,
                conv.total_area_um2,
                sbp.total_energy_J,
                conv.total_energy_J,
            )
        )
        for component, a_sbp, a_conv, e_sbp, e_conv in parts:
            rows.append(
                {
                    **key,
                    "component": component,
                    "area_sbp_um2": a_sbp,
                    "area_conv_um2": a_conv,
                    "area_saving": _ratio(a_conv, a_sbp),
                    "energy_sbp_J": e_sbp,
                    "energy_conv_J": e_conv,
                    "energy_saving": _ratio(e_conv, e_sbp),
                }
            )
    return pd.DataFrame(rows)


def summary_table(runs: pd.DataFrame, per_run: pd.DataFrame) -> pd.DataFrame:
    """Per hardware configuration: totals over seeds (mean), saving factors, energy per epoch."""
    joined = runs[[*GROUP, "run_id"]].merge(per_run, on="run_id")
    numeric = [c for c in per_run.columns if c != "run_id"]
    summary = joined.groupby(GROUP, sort=True)[numeric].mean().reset_index()
    summary.insert(len(GROUP), "n_runs", joined.groupby(GROUP, sort=True).size().to_numpy())
    return summary


def notes_lines(constants: Mapping[str, cost.Constant]) -> list[str]:
    """Assumptions and every constant used, as Markdown lines."""
    lines = ["Assumptions:", ""]
    lines += [f"- {text}" for text in cost.assumptions()]
    lines += ["", "Constants (config/cost.yaml and overrides):", ""]
    lines += [
        f"- {key} = {entry.value:g} {entry.unit} -- {entry.citation}"
        for key, entry in sorted(constants.items())
    ]
    return lines


def _display(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy()
    for column in shown.columns:
        if shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "n/a" if math.isnan(v) else f"{v:.3g}")
    return shown


def _write_table(table: pd.DataFrame, stem: Path, notes: Sequence[str]) -> None:
    table.to_csv(stem.with_suffix(".csv"), index=False)
    shown = _display(table)
    title = f"Periphery cost per training sample: {stem.name.replace('_', ' ')}"
    stem.with_suffix(".md").write_text(to_markdown(shown, title) + "\n" + "\n".join(notes) + "\n")
    items = [r"\item " + latex_escape(line[2:]) for line in notes if line.startswith("- ")]
    latex_notes = [
        r"\begin{itemize}\footnotesize",
        *items,
        r"\end{itemize}",
    ]
    n_keys = len(GROUP) + (1 if "component" in table.columns else 0)
    stem.with_suffix(".tex").write_text(
        to_latex(shown, title, stem.name, n_keys) + "\n".join(latex_notes) + "\n"
    )


def _label(frame: pd.DataFrame) -> pd.Series:
    return (
        frame["dataset"]
        + " "
        + frame["device"]
        + " h"
        + frame["n_hidden"].astype(int).astype(str)
        + " N"
        + frame["device.n_states"].astype(int).astype(str)
        + np.where(frame["pulse_prob"] < 1, " p" + frame["pulse_prob"].astype(str), "")
    )


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


def adc_sweep(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """Saving factors of every configuration as the conventional ADC resolution varies."""
    rows = []
    for key, row in _group_rows(runs):
        for bits in ADC_BITS_SWEPT:
            swept = {**values, "conventional.adc_bits": float(bits)}
            costs = run_costs(row, swept, scale=1.0)
            sbp, conv = costs["sbp"], costs["conventional"]
            rows.append(
                {
                    **key,
                    "adc_bits": bits,
                    "energy_saving": _ratio(conv.total_energy_J, sbp.total_energy_J),
                    "area_saving": _ratio(conv.total_area_um2, sbp.total_area_um2),
                }
            )
    return pd.DataFrame(rows)


def plot_adc_sweep(runs: pd.DataFrame, values: Mapping[str, float]) -> plt.Figure:
    sweep = adc_sweep(runs, values)
    sweep["config"] = _label(sweep)
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("energy_saving", "area_saving"), strict=True):
        sns.lineplot(data=sweep, x="adc_bits", y=metric, hue="config", marker="o", ax=ax)
        ax.axvline(values["conventional.adc_bits"], color="grey", linestyle=":", linewidth=1)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("conventional ADC resolution (effective bits)")
        ax.set_ylabel(metric.replace("_", " ") + " (conventional / SBP)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def epoch_energies(
    history: pd.DataFrame, runs: pd.DataFrame, values: Mapping[str, float]
) -> pd.DataFrame:
    """Energy per epoch of both designs from each epoch's real pulse counts (SBP runs only)."""
    rows = []
    by_id = runs.set_index("run_id")
    for _, epoch in history[history["run_id"].isin(by_id.index)].iterrows():
        run = by_id.loc[epoch["run_id"]].copy()
        n_layers = len(json.loads(run["layers"]))
        for kind in ("set", "reset"):
            columns = [f"{kind}_pulses_l{i}" for i in range(1, n_layers + 1)]
            missing = [c for c in columns if c not in epoch.index]
            if missing:
                raise DataError(f"history.csv: missing column(s) {', '.join(missing)}")
            run[f"{kind}_pulses_per_layer"] = json.dumps([float(epoch[c]) for c in columns])
        n_train = float(run["n_train"])
        costs = run_costs(run, values, scale=1.0 / n_train)
        for design, result in costs.items():
            rows.append(
                {
                    "run_id": epoch["run_id"],
                    "epoch": int(epoch["epoch"]),
                    "device": run["device"],
                    "dataset": run["dataset"],
                    "design": DESIGN_LABELS[design],
                    "energy_per_epoch_J": result.total_energy_J * n_train,
                }
            )
    return pd.DataFrame(rows)


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


def from_snakemake(smk: Any) -> None:
    """Entry point of workflow/scripts/cost_report.py; logs the headline saving factors."""
    constants = cost.load_constants(
        smk.input.constants,
        override_files=list(smk.input.override_files),
        overrides=smk.params.overrides,
    )
    out_dir = Path(smk.output.per_run).parent
    write_cost_report(smk.input.runs, smk.input.history, constants, out_dir)
    per_run = pd.read_csv(smk.output.per_run)
    Path(smk.log[0]).write_text(
        f"{len(per_run)} SBP runs costed; median energy saving "
        f"{per_run['energy_saving'].median():.3g}, median area saving "
        f"{per_run['area_saving'].median():.3g}\n"
    )
