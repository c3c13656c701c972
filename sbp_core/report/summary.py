"""A profile's answer in about ten lines (summary.md, and summary.rst that report.html opens
with), written from the collected runs and the cost table, never by hand.

Per device, among the runs that leave its fields at the preset's (or device file's) values,
each rule at one setting chosen on the validation split (`reported`): the best rule by mean
final test accuracy and its margin over the next; SBP's accuracy and how many times less (or
more) energy and area it takes than the conventional design; any setting whose final accuracy
fell far below its best epoch's ("collapsed"); and which devices' pulse parameters were assumed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from sbp_core.chip.device import pulse_assumed
from sbp_core.methods.registry import RULES
from sbp_core.report import ACCURACY, learned, rule_log
from sbp_core.report.collect import at_preset, read_csv
from sbp_core.report.names import data_names
from sbp_core.spec import RunSpec
from sbp_core.tuning.final_runs import TUNED_MARK

COLLAPSE_DROP = 0.20
"""A rule collapsed when its final test accuracy (mean over seeds) is more than this below the
best epoch of its mean learning curve: 20 points, far beyond the spread of seeds."""
SETTING_IGNORED = ("run_id", "seed", "sweeps", "data_sha256", "device_sha256")
"""Spec columns that never tell two settings of a rule apart in the summary."""


def settings(runs: pd.DataFrame) -> pd.Series:
    """Per run: its rule, with the spec values that tell its settings apart from the same rule's
    other runs on the device (`sbp (pulse_scheme set_only, margin_hi 2)`); a rule's tuned final
    runs are `sbp (tuned)`, their settings in the tuning tables, and its untuned runs beside them
    `sbp (untuned)` where nothing else tells them apart."""
    defaults = {f.name: f.default for f in fields(RunSpec) if f.name not in SETTING_IGNORED}
    spec = [c for c in runs.columns if c in defaults]
    labels = pd.Series(runs["method"], index=runs.index, dtype=object)
    tuned = is_tuned(runs)
    labels[tuned] = runs.loc[tuned, "method"] + " (tuned)"
    for _, members in runs[~tuned].groupby("method", sort=False):
        varying = [c for c in spec if members[c].astype(str).nunique(dropna=False) > 1]
        for index, row in members.iterrows():
            parts = [f"{c} {_plain(row[c])}" for c in varying if _differs(row[c], defaults[c])]
            shown = ", ".join(parts) or "defaults"
            labels[index] = row["method"] + (f" ({shown})" if varying else "")
    bare = ~tuned & (labels == runs["method"]) & runs["method"].isin(runs.loc[tuned, "method"])
    labels[bare] = labels[bare] + " (untuned)"
    return labels


def is_tuned(runs: pd.DataFrame) -> pd.Series:
    """Per run: is it a tuned final run (the selection records mark its sweeps)?"""
    return runs["sweeps"].astype(str).str.contains(TUNED_MARK, regex=False)


def _differs(value: Any, default: Any) -> bool:
    """Is a collected spec value not its field's default (None reads back from CSV as NaN)?"""
    return not pd.isna(value) if default is None else value != default


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def collapse(history: pd.DataFrame, run_ids: Iterable[str]) -> str | None:
    """ "collapsed: best 51 % at epoch 1" when the runs' mean learning curve ends more than
    COLLAPSE_DROP below its best epoch, else None."""
    curve = history[history["run_id"].isin(list(run_ids))].groupby("epoch")["test_acc"].mean()
    curve = curve.dropna()
    if curve.empty or curve.iloc[-1] >= curve.max() - COLLAPSE_DROP:
        return None
    return f"collapsed: best {100 * curve.max():.0f} % at epoch {int(curve.idxmax())}"


def reported(means: pd.DataFrame) -> pd.DataFrame:
    """Per rule, the one setting the summary reports: the best mean final validation accuracy
    (the epoch whose test accuracy is reported) among its candidates, with their number. The
    test set chooses nothing. Where a rule was tuned, its candidates are its tuned final runs and
    its untuned setting, as for every tuned rule, so readings a profile adds for one rule (SBP's
    set-only or stochastic sweeps) do not give it more tries; elsewhere, all its settings."""
    tuned = means.groupby("method")["tuned"].transform("any")
    untuned = means.index.str.endswith(("(untuned)", "(defaults)")) | (
        means.index == means["method"]
    )
    candidates = means[~tuned | means["tuned"] | untuned]
    chosen = candidates.sort_values("val", ascending=False, kind="stable")
    chosen = chosen.groupby("method", sort=False).head(1)
    among = candidates.groupby("method").size()
    return chosen.assign(candidates=among.loc[chosen["method"]].to_numpy())


def device_line(
    device: str, runs: pd.DataFrame, history: pd.DataFrame, savings: pd.DataFrame | None
) -> str:
    """One line: the best rule and its margin, SBP's accuracy and saving, and any collapse."""
    runs = runs.assign(setting=settings(runs), tuned=is_tuned(runs))
    means = runs.groupby("setting", sort=False).agg(
        method=("method", "first"),
        tuned=("tuned", "first"),
        test=(ACCURACY, "mean"),
        sd=(ACCURACY, "std"),
        val=("final_val_acc", "mean"),
    )
    ranked = reported(means).sort_values("test", ascending=False, kind="stable")
    best, name = ranked.iloc[0], ranked.index[0]
    parts = [f"**{Path(device).name}**: best {name} {100 * best['test']:.1f} %"]
    if len(ranked) > 1:
        margin, second = best["test"] - ranked["test"].iloc[1], ranked.iloc[1]
        parts[0] += f", {100 * margin:.1f} points ahead of {ranked.index[1]}"
        if margin <= max(best["sd"], second["sd"]):  # NaN (one seed) compares False
            parts[0] += ", within the seeds' spread"
    sbp = ranked[ranked["method"] == "sbp"]
    if not sbp.empty:
        chosen, accuracy, among = sbp.index[0], sbp["test"].iloc[0], sbp["candidates"].iloc[0]
        text = f"SBP {100 * accuracy:.1f} %"
        if among > 1:  # the setting's label without the rule's name: "tuned", "untuned", ...
            setting = chosen.removeprefix("sbp").strip().removeprefix("(").removesuffix(")")
            text += f" ({setting}; chosen on validation among {among} settings)"
        if learned(accuracy, _classes(runs)):
            text += _saving(savings, runs.loc[runs["setting"] == chosen, "run_id"])
        else:
            text += " (did not learn: no saving to report)"
        parts.append(text)
    for setting in means.index:
        collapsed = collapse(history, runs.loc[runs["setting"] == setting, "run_id"])
        if collapsed:
            parts.append(f"{setting} {collapsed}")
    return "- " + "; ".join(parts)


def _classes(runs: pd.DataFrame) -> int:
    """The number of classes: the output width of the first run's network."""
    return json.loads(runs["layers"].iloc[0])[-1][1]


def _saving(savings: pd.DataFrame | None, run_ids: pd.Series) -> str:
    if savings is None:
        return ""
    rows = savings[savings["run_id"].isin(run_ids)]
    if rows.empty:
        return " (no saving: the cost table holds none of these runs)"
    energy, area = rows["energy_saving"].mean(), rows["area_saving"].mean()
    if math.isnan(energy):
        return " (no saving: SBP's energy per sample is 0)"
    return f", {_times(energy, 'energy')} and {_times(area, 'area')} than the conventional design"


def _times(saving: float, what: str) -> str:
    """A saving (conventional / SBP) in words: "2.5x less energy", or "4x more energy" below 1."""
    return f"{saving:.3g}x less {what}" if saving >= 1 else f"{1 / saving:.3g}x more {what}"


def assumed_line(runs: pd.DataFrame) -> str:
    """Which devices' pulse amplitude and width were assumed, with the values used."""
    assumed = []
    for device, rows in runs.groupby("device", sort=False):
        row = rows.iloc[0]
        if pulse_assumed(device, row.get("device.citation")):
            assumed.append(
                f"{Path(device).name} ({_plain(row['device.v_set'])} / "
                f"{_plain(row['device.v_reset'])} V, {row['device.pulse_width_s'] * 1e9:g} ns)"
            )
    if not assumed:
        return "- Pulse parameters: every device's from its source."
    return (
        "- Pulse parameters assumed (SET / RESET amplitude, width; the energy scales with them, "
        f"cost/figures/cost_saving_vs_pulse.png): {', '.join(assumed)}."
    )


def summary_lines(
    profile: str, runs: pd.DataFrame, history: pd.DataFrame, savings: pd.DataFrame | None
) -> list[str]:
    """The bullet lines of the summary (without its title), from the runs that scored the test
    set: tuning trials read none."""
    runs = runs[runs[ACCURACY].notna()]
    seeds = runs["seed"].nunique()
    rules = ", ".join(name for name in RULES if name in set(runs["method"]))
    lines = [
        f"- Data: {data_names(runs['data_sha256'])}; {seeds} seed(s); rules: {rules}; accuracies "
        "are mean final test accuracies over seeds, each device at its preset's (or file's) "
        "values, each rule at one setting chosen on the validation split (where it was tuned, "
        "its tuned or its untuned setting).",
    ]
    preset_rows = at_preset(runs)
    for device, rows in preset_rows.groupby("device", sort=False):
        lines.append(device_line(str(device), rows, history, savings))
    if savings is None:
        lines.append("- No SBP runs: no periphery cost.")
    lines.append(assumed_line(preset_rows if not preset_rows.empty else runs))
    return lines


def write_summary(
    profile: str,
    runs_csv: str | Path,
    history_csv: str | Path,
    per_run_csv: str | Path | None,
    md: str | Path,
    rst: str | Path,
) -> list[str]:
    """summary.md and summary.rst (the same lines under a Markdown or RST title)."""
    runs = read_csv(runs_csv, "missing (run the collect rule first)")
    history = read_csv(history_csv, "missing (run the collect rule first)")
    savings = read_csv(per_run_csv, "missing (run the cost_report rule)") if per_run_csv else None
    lines = summary_lines(profile, runs, history, savings)
    title = f"What the {profile} profile found"
    Path(md).write_text("\n".join([f"# {title}", "", *lines]) + "\n")
    Path(rst).write_text("\n".join([title, "=" * len(title), "", *lines]) + "\n")
    return lines


def from_snakemake(smk: Any) -> None:
    """Rule `summary`: summary.md and summary.rst from the collected runs and the cost."""
    with rule_log(smk):
        per_run = smk.input.get("per_run")
        write_summary(
            smk.params.profile, smk.input.runs, smk.input.history, per_run,
            smk.output.md, smk.output.rst,
        )  # fmt: skip


TITLE = "sbp-bench: sign backpropagation on simulated RRAM crossbars"
"""report.html's title (Snakemake's template says "Snakemake Report")."""


def retitle(html: str | Path) -> None:
    """Give the Snakemake report its project title (`make run` and `make report` call this)."""
    path = Path(html)
    text = path.read_text()
    path.write_text(text.replace("<title>Snakemake Report</title>", f"<title>{TITLE}</title>", 1))
