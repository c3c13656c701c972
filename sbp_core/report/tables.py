"""Per-sweep summary tables: mean and standard deviation over seeds, as CSV, Markdown and LaTeX."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sbp_core.report import ACCURACY, rule_log
from sbp_core.report.collect import WIDTHS, in_sweep, widths_cells
from sbp_core.report.formats import to_latex, to_markdown
from sbp_core.report.names import data_name, data_names

SUMMARY_METRICS = (ACCURACY, "test_acc_at_best_val", "best_val_acc", "epochs_run", "total_pulses")
"""Columns averaged over seeds (`total_pulses` = SET + RESET over the whole run)."""
DATA_COLUMN = "data_sha256"
"""Runs on different data are never averaged together; tables show a prefix of the identity."""
NEUROSIM_COLUMN = "neurosim_accuracy"
"""Accuracy MLP+NeuroSim V3.0 reports for the preset (MNIST, 400-100-10), from the preset's
device record (sbp_core.chip.device)."""
SYMMETRY_COLUMN = "symmetry_point"
"""The preset's symmetry point as a fraction of its range, (g* - Gmin) / (Gmax - Gmin)
(sbp_core.chip.symmetry; docs/symmetry_points.md), where TTv2's fast array starts."""
ATTRACTING_COLUMN = "symmetry_point_attracting"
"""Whether balanced pulses pull the preset's devices towards that point (TTv2 needs it to)."""


def summarize(runs: pd.DataFrame, sweep: Mapping[str, Any]) -> pd.DataFrame:
    """One row per method, grid point of `sweep` and data identity, in the config's order."""
    keys = ["method", *sweep["axes"], DATA_COLUMN]
    data = in_sweep(runs, sweep["name"])
    data["total_pulses"] = data["total_set_pulses"] + data["total_reset_pulses"]
    aggregations = {"n_seeds": ("seed", "nunique"), "diverged": ("status", _count_diverged)}
    for metric in SUMMARY_METRICS:
        aggregations[f"{metric}_mean"] = (metric, "mean")
        aggregations[f"{metric}_std"] = (metric, "std")
    summary = data.groupby(keys, sort=False, dropna=False).agg(**aggregations).reset_index()
    if "device" in sweep["axes"]:
        summary.insert(len(keys), NEUROSIM_COLUMN, summary["device"].map(neurosim_accuracy))
        points = summary["device"].map(symmetry_point)
        summary.insert(len(keys) + 1, SYMMETRY_COLUMN, points.map(lambda p: p[0]))
        summary.insert(len(keys) + 2, ATTRACTING_COLUMN, points.map(lambda p: p[1]))
    return sort_like_config(summary, sweep)


def _count_diverged(status: pd.Series) -> int:
    return int((status == "diverged").sum())


def neurosim_accuracy(device: str) -> float:
    """The preset's published MNIST accuracy in MLP+NeuroSim V3.0 (NaN when it has none)."""
    from sbp_core.chip.device import PRESETS

    value = getattr(PRESETS.get(device), NEUROSIM_COLUMN, None)
    return math.nan if value is None else value


def symmetry_point(device: str) -> tuple[float, bool | None]:
    """The preset's nominal symmetry point (fraction of its range) and whether it attracts;
    (NaN, None) for a device file, which the tables name by path only."""
    from sbp_core.chip.device import PRESETS
    from sbp_core.chip.symmetry import nominal_symmetry_point

    if device not in PRESETS:
        return math.nan, None
    point = nominal_symmetry_point(PRESETS[device])
    return point.fraction, point.attracting


def axis_values(sweep: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each axis's values as the sweep's table cells hold them (n_hidden: `widths_cells`)."""
    axes = sweep["axes"]
    return {axis: widths_cells(v) if axis == WIDTHS else list(v) for axis, v in axes.items()}


def sort_like_config(table: pd.DataFrame, sweep: Mapping[str, Any]) -> pd.DataFrame:
    """Rows ordered by the sweep's method list, then by each axis's value list."""
    orders = {"method": sweep["methods"], **axis_values(sweep)}
    columns = [column for column in orders if column in table.columns]
    return table.sort_values(
        columns, key=lambda col: col.map(lambda v: _position(v, orders[col.name])), kind="stable"
    ).reset_index(drop=True)


def _position(value: Any, values: Sequence[Any]) -> int:
    for index, candidate in enumerate(values):
        if candidate == value or (_missing(candidate) and _missing(value)):
            return index
    return len(values)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def display(summary: pd.DataFrame, sweep: Mapping[str, Any]) -> pd.DataFrame:
    """Human-readable columns: accuracies in percent as `mean ± sd`, pulses in engineering form."""
    shown = pd.DataFrame({"method": summary["method"]})
    for axis in sweep["axes"]:
        shown[axis] = summary[axis].map(_plain)
    shown["data"] = summary[DATA_COLUMN].map(lambda sha: data_name(_plain(sha)))
    shown["seeds"] = summary["n_seeds"]
    if NEUROSIM_COLUMN in summary:
        shown["NeuroSim V3 (%)"] = summary[NEUROSIM_COLUMN].map(lambda v: _plain(100 * v, ".0f"))
    if SYMMETRY_COLUMN in summary:
        shown["symmetry point (% of range)"] = [
            _plain(100 * point, ".0f") + ("" if _missing(point) or pull else ", not attracting")
            for point, pull in zip(
                summary[SYMMETRY_COLUMN], summary[ATTRACTING_COLUMN], strict=True
            )
        ]
    shown["test acc. (%)"] = _mean_sd(summary, ACCURACY, 100, ".1f")
    shown["test acc. at best val. (%)"] = _mean_sd(summary, "test_acc_at_best_val", 100, ".1f")
    shown["pulses"] = _mean_sd(summary, "total_pulses", 1, ".3g")
    if summary["diverged"].any():
        shown["diverged"] = summary["diverged"]
    return shown


def _mean_sd(summary: pd.DataFrame, metric: str, scale: float, fmt: str) -> pd.Series:
    def cell(row: pd.Series) -> str:
        mean, sd = row[f"{metric}_mean"] * scale, row[f"{metric}_std"] * scale
        return _plain(mean, fmt) if _missing(sd) else f"{mean:{fmt}} ± {sd:{fmt}}"

    return summary.apply(cell, axis=1)


def _plain(value: Any, fmt: str = "g") -> str:
    if _missing(value):
        return "–"
    return format(value, fmt) if isinstance(value, int | float) else str(value)


def write_tables(runs: pd.DataFrame, sweep: Mapping[str, Any], csv: str, md: str, tex: str) -> None:
    """The sweep's summary as numeric CSV plus Markdown and LaTeX for reading and pasting."""
    summary = summarize(runs, sweep)
    summary.to_csv(csv, index=False)
    shown = display(summary, sweep)
    data = data_names(summary[DATA_COLUMN])
    title = f"{sweep['name']} ({data}): {sweep['description']}".rstrip(": ")
    Path(md).write_text(to_markdown(shown, title))
    Path(tex).write_text(to_latex(shown, title, sweep["name"], 2 + len(sweep["axes"])))


def from_snakemake(smk: Any) -> None:
    """Rule `table`: one sweep's summary from runs.csv."""
    with rule_log(smk):
        out = smk.output
        write_tables(pd.read_csv(smk.input.runs), smk.params.sweep, out.csv, out.md, out.tex)
