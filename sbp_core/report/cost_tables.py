"""The periphery cost of the collected SBP runs, as tables: per run, per component, per design.

Joins each finished SBP run's pulse counts (runs.csv, history.csv of `collect`), and those of its
on-chip SGD twin for the conventional design, with the analytical model of `sbp_core.cost`, so
every energy figure comes from pulses a run actually applied (SBP's pulses times a ratio only
where the twin is missing, and labelled so). The frames built here feed the cost figures
(`cost_figures`) and MLflow (`cost_per_run.csv`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sbp_core import cost
from sbp_core.chip.device import pulse_assumed
from sbp_core.errors import DataError
from sbp_core.methods import RULES
from sbp_core.report import ACCURACY, LEARNING_MARGIN, SWEEP_SEPARATOR, learned
from sbp_core.report.formats import latex_escape, to_latex, to_markdown
from sbp_core.report.names import data_names
from sbp_core.spec import DEVICE_FIELDS, SBP_RULE_FIELDS, RunSpec

TABLES = ("cost_components", "cost_summary")
"""SBP against the conventional design, per SBP configuration."""
METHODS_TABLE = "cost_methods"
"""Every on-chip rule with its own design, per configuration (`method_table`)."""
ASSUMPTIONS_FILE = "cost_assumptions.md"
PER_RUN_FILE = "cost_per_run.csv"
ALWAYS_SHOWN = ["dataset", "device", "device.n_states"]


def group_column(field: str) -> str:
    """The column of a spec field in the cost frames: device fields as the run resolved them."""
    return f"device.{field}" if field in DEVICE_FIELDS else field


GROUP = [
    *ALWAYS_SHOWN,
    *(
        group_column(f.name)
        for f in fields(RunSpec)
        if f.name not in ("method", "seed", "dataset", "device", "n_states")
    ),
]
"""SBP runs that share every one of these share one configuration in the tables: every spec field
but the seed (device, noise, pulse scheme, thresholds, data and training all change the hardware
or its pulses), device fields as the run resolved them (`device.c2c_sigma`, a preset's value where
the spec left it unset), so a row averages seeds only. Tables show ALWAYS_SHOWN and what varies."""
DEVICE_COLUMNS = {
    "v_set": "device.v_set",
    "v_reset": "device.v_reset",
    "g_min_s": "device.g_min_s",
    "g_max_s": "device.g_max_s",
    "pulse_width_s": "device.pulse_width_s",
    "n_states": "device.n_states",
}
ADC_BITS_SWEPT = range(1, 11)
"""Conventional ADC resolutions (effective bits) of the sensitivity figure."""
ADC_FOM_SWEPT = (1e-15, 2e-15, 5e-15, 1e-14, 2e-14, 5e-14, 1e-13)
"""Walden figures of merit (J per conversion step) of the sensitivity figure: from about the best
published SAR ADCs (1 fJ per step) to three times the survey median the constants use."""
DESIGN_LABELS = {"sbp": "SBP", "conventional": "conventional"}
PULSE_COLUMNS = ("set_pulses_per_layer", "reset_pulses_per_layer")
SWEEPS = "sweeps"
"""The sweeps a configuration's runs belong to (collect's column), so figures can show a family."""
ACCURACY_SBP, LEARNED_SBP = "test_acc_sbp", "learned_sbp"
"""Beside every saving: the mean final test accuracy of the SBP runs a row summarises and whether
they learned (`sbp_core.report.learned`). Columns are named per design (`_sbp`, `_conv`), so a
simulated conventional design adds its own pair; a saving is marked where any design did not."""
ACCURACY_CONV, LEARNED_CONV = "test_acc_conv", "learned_conv"
"""The same for the conventional design, from the matching on-chip sgd runs (NaN without them)."""
CONVENTIONAL_PULSES = "conventional_pulses"
"""Where a row's conventional update pulses come from: `sgd` (the matching on-chip SGD runs,
TWIN_KEY, of every seed) or `assumed` (SBP's pulses x
conventional.update_pulse_ratio, where some seed has no such run)."""
TWIN_PULSES = ("conv_set_per_sample", "conv_reset_per_sample")
"""Columns `sbp_runs` adds: the twin's SET and RESET pulses per sample and layer (JSON), or NaN."""
ASSUMED = "pulse_assumed"
"""Whether the device's pulse amplitude or width was assumed (`chip.device.pulse_assumed`): the
energy of every such row scales with values no measurement gave."""
ASSUMED_NOTE = (
    f"{ASSUMED}: yes where the device's pulse amplitude or width was assumed (its citation says "
    "so); the energies and savings of such a row scale with them (cost_saving_vs_pulse.png)."
)
NOT_LEARNED = "did not learn"
LEARNING_NOTE = (
    f"A design {NOT_LEARNED} when its mean final test accuracy is within "
    f"{100 * LEARNING_MARGIN:.0f} points of chance (1 / classes); its saving factors are marked "
    f"'{NOT_LEARNED}' and are not results."
)


def sbp_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The finished SBP runs, with the columns the model needs checked."""
    needed = [
        "run_id",
        "method",
        *GROUP,
        SWEEPS,
        ACCURACY,
        "epochs_run",
        "input_activity",
        "layers",
        "set_pulses_per_layer",
        "reset_pulses_per_layer",
        *DEVICE_COLUMNS.values(),
    ]
    missing = [column for column in dict.fromkeys(needed) if column not in runs.columns]
    if missing:
        raise DataError(f"runs.csv: missing column(s) {', '.join(missing)}")
    selected = runs[runs["method"] == "sbp"].reset_index(drop=True)
    if selected.empty:
        raise DataError("runs.csv: no finished sbp runs to cost")
    bad = runs[
        runs["method"].isin(("sbp", "sgd")) & ((runs["n_train"] <= 0) | (runs["epochs_run"] <= 0))
    ]
    if not bad.empty:
        raise DataError(f"runs.csv: run {bad['run_id'].iloc[0]} has no training samples counted")
    return _with_twins(selected, runs)


SGD_SEARCHED = tuple(dimension.name for dimension in RULES["sgd"].search_space)
TWIN_KEY = [
    f.name for f in fields(RunSpec) if f.name not in ("method", *SBP_RULE_FIELDS, *SGD_SEARCHED)
]
"""An SBP run's conventional twin is the sgd run that matches it in every one of these spec
fields (data, network, device, noise, seed, ...) and leaves SBP's own rule fields at their
defaults: the same chip and workload, trained by the conventional rule, at its own tuned
settings where the profile tunes it (docs/tuning_protocol.md)."""


def _with_twins(sbp: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The SBP runs with their conventional twin's pulses per sample and accuracy (NaN where the
    profile has no such sgd run)."""
    sgd = runs[runs["method"] == "sgd"]
    for name in (name for name in SBP_RULE_FIELDS if name in sgd.columns):  # older runs lack some
        default = RunSpec.__dataclass_fields__[name].default
        sgd = sgd[sgd[name].isna() if default is None else sgd[name] == default]
    twins = {_twin_key(row): row for _, row in sgd.iterrows()}
    out = sbp.copy()
    for column in (*TWIN_PULSES, ACCURACY_CONV):
        out[column] = None
    for i, row in sbp.iterrows():
        twin = twins.get(_twin_key(row))
        if twin is None:
            continue
        for column, source in zip(TWIN_PULSES, PULSE_COLUMNS, strict=True):
            per_sample = np.asarray(json.loads(twin[source]), dtype=float) / _samples(twin)
            out.at[i, column] = json.dumps(per_sample.tolist())
        out.at[i, ACCURACY_CONV] = float(twin[ACCURACY])
    out[ACCURACY_CONV] = out[ACCURACY_CONV].astype(float)
    return out


def _twin_key(row: pd.Series) -> tuple:
    """TWIN_KEY's values; SBP's set-only scheme runs on the chip of the pair scheme (the same
    differential pairs, only SET pulses), so its twin is the sgd run of the pair scheme."""
    values = {name: None if pd.isna(row[name]) else row[name] for name in TWIN_KEY}
    if values["pulse_scheme"] == "set_only":
        values["pulse_scheme"] = "pair"
    return tuple(values.values())


def _layers(row: pd.Series, values: Mapping[str, float], scale: float) -> list[cost.Layer]:
    """The run's layers with pulses and refresh counts per sample = run totals * scale."""
    shapes = json.loads(row["layers"])
    sets = [scale * p for p in json.loads(row["set_pulses_per_layer"])]
    resets = [scale * p for p in json.loads(row["reset_pulses_per_layer"])]
    counts = {
        kind: [scale * _count(row, column) for column in columns]
        for kind, columns in _counter_columns(len(shapes)).items()
    }
    slotted = ON_CHIP_DESIGNS.get(row["method"]) in cost.TRANSFER_DESIGNS
    return cost.make_layers(
        shapes,
        sets,
        resets,
        float(row["input_activity"]),
        values["workload.line_activity"],
        stochastic=stochastic(row),
        refresh_every=int(_count(row, "refresh_every")),
        pulse_slots=_count(row, "ttv2_bl") if slotted else 0.0,
        **counts,
    )


def stochastic(row: pd.Series) -> bool:
    """Does the run's rule fire its pulses with a probability below 1 (SBP's schedule too)?"""
    if row["method"] not in PULSE_PROB_RULES:
        return False
    return float(row["pulse_prob"]) < 1 or pd.notna(row.get("pulse_prob_final"))


def _counter_columns(n_layers: int) -> dict[str, list[str]]:
    """The metrics columns of a run's counts per layer (`total_*`, over the run): SBP's refresh
    reads and rewritten pairs, TTv2's fast-array pulses, transfer reads and conversions."""
    layers = range(1, n_layers + 1)
    named = {"refresh_reads": "refresh_reads", "refresh_pairs": "refreshed_pairs"}
    named.update({name: name for name in cost.FAST_COUNTS})
    return {kind: [f"total_{counter}_l{i}" for i in layers] for kind, counter in named.items()}


def _count(row: pd.Series, column: str) -> float:
    """A count the run may not have (no refresh, or a run from before the field): 0 then."""
    value = row.get(column)
    return 0.0 if value is None or pd.isna(value) else float(value)


def _device(row: pd.Series) -> cost.PulseDevice:
    values = {name: float(row[column]) for name, column in DEVICE_COLUMNS.items()}
    return cost.PulseDevice(
        **values,
        r_access_ohm=_optional(row, "device.r_access_ohm") or 0.0,
        reset_pulse_width_s=_optional(row, "device.reset_pulse_width_s"),
    )


def _optional(row: pd.Series, column: str) -> float | None:
    """A device field a run may not have (a run from before the field) or leave unset: None."""
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def _epoch_samples(row: pd.Series) -> float:
    """Training samples per epoch: the epoch_samples a run draws, else its whole training set."""
    drawn = row.get("epoch_samples", 0)
    return float(drawn) if drawn > 0 else float(row["n_train"])  # NaN (older runs) is not > 0


def _samples(row: pd.Series) -> float:
    return _epoch_samples(row) * float(row["epochs_run"])


def run_costs(
    row: pd.Series, values: Mapping[str, float], scale: float | None = None
) -> dict[str, cost.Cost]:
    """Both designs' cost per sample for one run (pulses averaged over the run by default)."""
    layers = _layers(row, values, 1.0 / _samples(row) if scale is None else scale)
    device, gated = _device(row), float(row["gate_window"]) > 0
    return {
        "sbp": cost.network_cost("sbp", layers, device, values, gated),
        "conventional": cost.network_cost(
            "conventional", _conventional_layers(row, layers, values), device, values
        ),
    }


def _conventional_layers(
    row: pd.Series, sbp_layers: list[cost.Layer], values: Mapping[str, float]
) -> list[cost.Layer]:
    """SBP's layers with the conventional update's pulses per sample: the twin's where it ran,
    else SBP's own times conventional.update_pulse_ratio. The twin is `sgd`, which draws no
    random numbers, whatever SBP's pulse probability."""
    plain = [dataclasses.replace(layer, stochastic=False) for layer in sbp_layers]
    if not isinstance(row[TWIN_PULSES[0]], str):
        return cost.scaled_pulses(plain, values["conventional.update_pulse_ratio"])
    sets, resets = (json.loads(row[column]) for column in TWIN_PULSES)
    return [
        dataclasses.replace(layer, set_pulses=s, reset_pulses=r)
        for layer, s, r in zip(plain, sets, resets, strict=True)
    ]


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
        samples, per_epoch = _samples(row), _epoch_samples(row)
        rows.append(
            {
                "run_id": row["run_id"],
                ACCURACY_CONV: row[ACCURACY_CONV],
                "pulses_per_sample": pulses / samples,
                "energy_per_sample_sbp_J": sbp.total_energy_J,
                "energy_per_sample_conv_J": conv.total_energy_J,
                "energy_saving": _ratio(conv.total_energy_J, sbp.total_energy_J),
                "area_sbp_um2": sbp.total_area_um2,
                "area_conv_um2": conv.total_area_um2,
                "area_saving": _ratio(conv.total_area_um2, sbp.total_area_um2),
                "energy_per_epoch_sbp_J": sbp.total_energy_J * per_epoch,
                "energy_per_epoch_conv_J": conv.total_energy_J * per_epoch,
                "training_energy_sbp_J": sbp.total_energy_J * samples,
                "training_energy_conv_J": conv.total_energy_J * samples,
            }
        )
    return pd.DataFrame(rows)


def _groups(runs: pd.DataFrame) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """(key, members) per configuration: key holds its GROUP values, its sweeps, the mean final
    test accuracy of its runs and whether they learned."""
    for values, members in runs.groupby(GROUP, sort=True, dropna=False):
        accuracy = float(members[ACCURACY].mean())
        n_classes = json.loads(members["layers"].iloc[0])[-1][1]
        names = (n for cell in members[SWEEPS].fillna("") for n in cell.split(SWEEP_SEPARATOR))
        simulated = bool(members[TWIN_PULSES[0]].map(lambda v: isinstance(v, str)).all())
        conventional = float(members[ACCURACY_CONV].mean()) if simulated else math.nan
        key = {
            **dict(zip(GROUP, values, strict=True)),
            SWEEPS: SWEEP_SEPARATOR.join(dict.fromkeys(n for n in names if n)),
            ASSUMED: pulse_assumed(str(members["device"].iloc[0]), _citation(members)),
            CONVENTIONAL_PULSES: "sgd" if simulated else "assumed",
            ACCURACY_SBP: accuracy,
            LEARNED_SBP: learned(accuracy, n_classes),
            ACCURACY_CONV: conventional,
            LEARNED_CONV: learned(conventional, n_classes) if simulated else None,
        }
        yield key, members


def _citation(rows: pd.DataFrame) -> Any:
    """The device citation the runs recorded (None for runs from before the column)."""
    return rows["device.citation"].iloc[0] if "device.citation" in rows else None


def group_rows(runs: pd.DataFrame) -> list[tuple[dict[str, Any], pd.Series]]:
    """One row per hardware configuration: pulses per sample (n_train = epochs = 1), run mean."""
    groups = []
    for key, members in _groups(runs):
        first = members.iloc[0].copy()
        for column in PULSE_COLUMNS:
            per_sample = [
                np.asarray(json.loads(row[column]), dtype=float) / _samples(row)
                for _, row in members.iterrows()
            ]
            first[column] = json.dumps(np.mean(per_sample, axis=0).tolist())
        for columns in _counter_columns(len(json.loads(first["layers"]))).values():
            for column in columns:
                per_sample = [_count(row, column) / _samples(row) for _, row in members.iterrows()]
                first[column] = float(np.mean(per_sample))
        if key[CONVENTIONAL_PULSES] == "sgd":
            for column in TWIN_PULSES:
                per_sample = [json.loads(value) for value in members[column]]
                first[column] = json.dumps(np.mean(per_sample, axis=0).tolist())
        else:
            first[TWIN_PULSES[0]] = None  # some seed lacks its twin: the whole row is assumed
        first["input_activity"] = members["input_activity"].mean()  # seeds split differently
        first["n_train"], first["epochs_run"], first["epoch_samples"] = 1, 1, 0
        groups.append((key, first))
    return groups


def component_table(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """Area and energy per sample by component, SBP beside conventional, with saving factors."""
    rows = []
    for key, row in group_rows(runs):
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
    table = pd.DataFrame(rows)
    table.insert(len(GROUP), "component", table.pop("component"))  # a key: left of the numbers
    return table


def summary_table(runs: pd.DataFrame, per_run: pd.DataFrame) -> pd.DataFrame:
    """Per hardware configuration: accuracy, then saving factors, totals (mean over seeds) and
    energy per epoch."""
    numbers = per_run.set_index("run_id").drop(columns=ACCURACY_CONV)  # the key has its mean
    savings = ["energy_saving", "area_saving"]
    order = savings + [c for c in numbers.columns if c not in savings]
    rows = [
        {**key, "n_runs": len(members), **numbers.loc[members["run_id"], order].mean()}
        for key, members in _groups(runs)
    ]
    return pd.DataFrame(rows)


def shown_keys(table: pd.DataFrame) -> list[str]:
    """The configuration columns worth printing: ALWAYS_SHOWN and those that differ by row."""
    varying = [k for k in GROUP if k in table and table[k].nunique(dropna=False) > 1]
    return [k for k in GROUP if k in ALWAYS_SHOWN or k in varying]


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
    """Text cells: numbers to 3 figures, accuracies in percent, learned as yes / no, and every
    saving of a row where a design did not learn marked as such."""
    shown = table.drop(columns=SWEEPS)
    learned_columns = [c for c in shown.columns if c.startswith("learned_")]
    not_learned = ~shown[learned_columns].all(axis=1)
    for column in shown.columns:
        if column.startswith("test_acc_"):
            shown[column] = shown[column].map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:.1f}")
        elif column in learned_columns or column == ASSUMED:
            shown[column] = shown[column].map(
                lambda v: "n/a" if pd.isna(v) else "yes" if v else "no"
            )
        elif shown[column].dtype.kind == "f":
            shown[column] = shown[column].map(lambda v: "n/a" if math.isnan(v) else f"{v:.3g}")
        if column.endswith("_saving"):
            shown.loc[not_learned, column] += f" ({NOT_LEARNED})"
    return shown.rename(columns={c: f"{c} (%)" for c in shown if c.startswith("test_acc_")})


def write_table(table: pd.DataFrame, stem: Path, notes: Sequence[str]) -> None:
    """Every key column in the CSV; Markdown and LaTeX show only `shown_keys`."""
    table.to_csv(stem.with_suffix(".csv"), index=False)
    keys = shown_keys(table)
    shown = _display(table.drop(columns=[k for k in GROUP if k not in keys]))
    notes = [f"- {LEARNING_NOTE}", f"- {ASSUMED_NOTE}", "", *notes]
    data = data_names(table["data_sha256"])
    title = f"Periphery cost per training sample ({data}): {stem.name.replace('_', ' ')}"
    stem.with_suffix(".md").write_text(to_markdown(shown, title) + "\n" + "\n".join(notes) + "\n")
    items = [r"\item " + latex_escape(line[2:]) for line in notes if line.startswith("- ")]
    latex_notes = [
        r"\begin{itemize}\footnotesize",
        *items,
        r"\end{itemize}",
    ]
    n_keys = len(keys) + (1 if "component" in table.columns else 0)
    stem.with_suffix(".tex").write_text(
        to_latex(shown, title, stem.name, n_keys) + "\n".join(latex_notes) + "\n"
    )


def sensitivity(
    runs: pd.DataFrame, values: Mapping[str, float], constant: str, grid: Sequence[float]
) -> pd.DataFrame:
    """Saving factors of every configuration as one cost constant takes each value of `grid`,
    all others at their configured values (column `constant` holds the value)."""
    rows = []
    for key, row in group_rows(runs):
        for value in grid:
            costs = run_costs(row, {**values, constant: float(value)}, scale=1.0)
            sbp, conv = costs["sbp"], costs["conventional"]
            rows.append(
                {
                    **key,
                    constant: value,
                    "energy_saving": _ratio(conv.total_energy_J, sbp.total_energy_J),
                    "area_saving": _ratio(conv.total_area_um2, sbp.total_area_um2),
                }
            )
    return pd.DataFrame(rows)


PULSE_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Factors on each device's pulse amplitude (SET and RESET) or width in the pulse sensitivity."""
PULSE_METRICS = ("energy_saving_vs_amplitude", "energy_saving_vs_width")


def pulse_sensitivity(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """Energy saving of every configuration with its device's pulse amplitudes, or its pulse
    width, times each factor of PULSE_SCALES (column `pulse_scale`), the rest as configured:
    how far a saving hangs on pulse parameters that may have been assumed."""
    scaled = {
        PULSE_METRICS[0]: ("device.v_set", "device.v_reset"),
        PULSE_METRICS[1]: ("device.pulse_width_s", "device.reset_pulse_width_s"),
    }
    rows = []
    for key, row in group_rows(runs):
        entry = []
        for factor in PULSE_SCALES:
            savings = {}
            for metric, columns in scaled.items():
                changed = row.copy()
                for column in columns:
                    if _optional(row, column) is not None:
                        changed[column] = float(row[column]) * factor
                costs = run_costs(changed, values, scale=1.0)
                savings[metric] = _ratio(
                    costs["conventional"].total_energy_J, costs["sbp"].total_energy_J
                )
            entry.append({**key, "pulse_scale": factor, **savings})
        rows += entry
    return pd.DataFrame(rows)


def epoch_energies(
    history: pd.DataFrame, runs: pd.DataFrame, values: Mapping[str, float]
) -> pd.DataFrame:
    """Energy per epoch of both designs, SBP's from each epoch's real pulse counts, the
    conventional design's from its twin's pulses per sample over the whole run (or SBP's epoch
    times the ratio), with the configuration key of the run (`_groups`: GROUP, sweeps, accuracy,
    learned)."""
    keys = {run_id: key for key, members in _groups(runs) for run_id in members["run_id"]}
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
        for columns in _counter_columns(n_layers).values():
            for column in columns:  # this epoch's counts (absent: no refresh, not TTv2)
                run[column] = _count(epoch, column.removeprefix("total_"))
        per_epoch = _epoch_samples(run)
        costs = run_costs(run, values, scale=1.0 / per_epoch)
        for design, result in costs.items():
            rows.append(
                {
                    **keys[epoch["run_id"]],
                    "run_id": epoch["run_id"],
                    "epoch": int(epoch["epoch"]),
                    "design": DESIGN_LABELS[design],
                    "energy_per_epoch_J": result.total_energy_J * per_epoch,
                }
            )
    return pd.DataFrame(rows)


ON_CHIP_DESIGNS = {name: rule.cost_design for name, rule in RULES.items() if rule.on_chip}
"""The periphery each on-chip rule needs, from its record (`Method.cost_design`)."""
PULSE_PROB_RULES = ("sbp", "manhattan")
"""The rules whose pulses fire with probability `pulse_prob` (other rules ignore the field), so
that below 1 they pay random numbers per line (`cost.Layer.stochastic`)."""
PROGRAMMING_ONLY = tuple(
    name for name, rule in RULES.items() if rule.counts_pulses and not rule.on_chip
)
"""Crossbar methods trained off the chip (exsitu): they pay only their programming pulses."""


ACCURACY_RULE, LEARNED_RULE = "test_acc_rule", "learned_rule"
"""The methods table's accuracy and learned columns (of the rule the row costs)."""
METHOD_COMPONENTS = ("pulse_rng", *cost.BUFFERED_COMPONENTS)
"""The components the methods table lists beside the totals: the buffered rules' own."""


def method_table(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """Per on-chip rule and configuration (its method and GROUP: seeds averaged), the rule's
    own design (ON_CHIP_DESIGNS) with its own pulses: mean final test accuracy, area, energy per
    training sample, the buffered designs' components and their buffer's size."""
    on_chip = runs[runs["method"].isin(list(ON_CHIP_DESIGNS))]
    rows = []
    for values_key, members in on_chip.groupby(["method", *GROUP], sort=False, dropna=False):
        key = dict(zip(["method", *GROUP], values_key, strict=True))
        design = ON_CHIP_DESIGNS[key["method"]]
        costs = [
            cost.network_cost(
                design, _layers(row, values, 1.0 / _samples(row)), _device(row), values,
                float(row["gate_window"]) > 0,
            )
            for _, row in members.iterrows()
        ]  # fmt: skip
        layers = _layers(members.iloc[0], values, 0.0)
        buffered = design in cost.BUFFER_ENTRIES
        accuracy = float(members[ACCURACY].mean())
        names = (n for cell in members[SWEEPS].fillna("") for n in cell.split(SWEEP_SEPARATOR))
        rows.append(
            {
                **key,
                SWEEPS: SWEEP_SEPARATOR.join(dict.fromkeys(n for n in names if n)),
                "design": design,
                ASSUMED: pulse_assumed(str(key["device"]), _citation(members)),
                "n_runs": len(members),
                ACCURACY_RULE: accuracy,
                LEARNED_RULE: learned(accuracy, json.loads(members["layers"].iloc[0])[-1][1]),
                "area_um2": float(np.mean([c.total_area_um2 for c in costs])),
                "energy_per_sample_J": float(np.mean([c.total_energy_J for c in costs])),
                **{
                    f"energy_{part}_J": float(np.mean([c.energy_J[part] for c in costs]))
                    for part in METHOD_COMPONENTS
                },
                "buffer_bits": sum(cost.buffer_bits(layer, values, design) for layer in layers)
                if buffered
                else 0.0,
            }
        )
    return pd.DataFrame(rows)


def method_energies(runs: pd.DataFrame, values: Mapping[str, float]) -> pd.DataFrame:
    """One row per crossbar run: method, device, final test accuracy, energy per training
    sample and (on-chip rules) the area of their training periphery and arrays.
    On-chip rules pay their design's periphery and their own pulses (ON_CHIP_DESIGNS);
    exsitu (PROGRAMMING_ONLY) pays only the programming pulses of its final write (erase,
    write, verify corrections; off-chip training and verify reads are not counted), spread over
    the same number of training samples."""
    rows = []
    for _, row in runs[runs["method"].isin([*ON_CHIP_DESIGNS, *PROGRAMMING_ONLY])].iterrows():
        device, samples = _device(row), _samples(row)
        if row["method"] not in ON_CHIP_DESIGNS:
            resets = row["deployment_reset_pulses"] + row["deployment_erase_pulses"]
            energy = cost.programming_energy(device, row["deployment_set_pulses"], resets)
            energy, area = energy / samples, math.nan
        else:
            layers = _layers(row, values, 1.0 / samples)
            gated = float(row["gate_window"]) > 0
            design = ON_CHIP_DESIGNS[row["method"]]
            result = cost.network_cost(design, layers, device, values, gated)
            energy, area = result.total_energy_J, result.total_area_um2
        rows.append(
            {
                "run_id": row["run_id"],
                "method": row["method"],
                "device": row["device"],
                ACCURACY: row[ACCURACY],
                "energy_per_sample_J": energy,
                "area_um2": area,
                ASSUMED: pulse_assumed(str(row["device"]), row.get("device.citation")),
            }
        )
    return pd.DataFrame(rows)
