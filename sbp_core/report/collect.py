"""Finished run folders -> tidy `runs` (a row per run) and `history` (a row per run and epoch)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sbp_core import runfolder
from sbp_core.documents import read_document
from sbp_core.errors import DataError
from sbp_core.fields import DEVICE_FIELDS
from sbp_core.report import SWEEP_SEPARATOR, rule_log
from sbp_core.spec import FIELD_METHODS, RunSpec, hidden_label, parse_widths
from sbp_core.tuning.final_runs import run_folders, tuned_memberships

JSON_COLUMNS = ("layers", "set_pulses_per_layer", "reset_pulses_per_layer", "confusion_matrix")
"""metrics.json lists kept as JSON text, one cell each."""
WIDTHS = "n_hidden"
"""The spec field whose value may be a list (several hidden layers): a label cell (`256-128`)."""


def widths_cells(values: Iterable[Any]) -> list[Any]:
    """n_hidden values (integers, lists or label text) as the cells of one column, all of one
    kind: integers where every network has one hidden layer, else every one a label (`100`,
    `256-128`), so the column sorts, groups and plots as one type."""
    widths = [parse_widths(value) for value in values]
    if all(isinstance(width, int) for width in widths):
        return widths
    return [hidden_label(width) for width in widths]


def read_json(path: Path) -> dict[str, Any]:
    data = read_document(path, "missing", DataError)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def run_row(spec: Mapping[str, Any], metrics: Mapping[str, Any], sweeps: str) -> dict[str, Any]:
    """Every spec field, every scalar metric, JSON-text lists, `device.<key>` fields, `sweeps`.

    A rule field the spec lacks (the run predates the rule) is its default, the value such a
    run had: a rule's fields are refused elsewhere. So old and new runs of one configuration
    share their cells."""
    row: dict[str, Any] = {**spec, WIDTHS: widths_cells([spec[WIDTHS]])[0]}
    for name in FIELD_METHODS:
        row.setdefault(name, RunSpec.__dataclass_fields__[name].default)
    for key, value in metrics.items():
        if key in JSON_COLUMNS:
            row[key] = json.dumps(value, separators=(",", ":"))
        elif key == "device":
            row.update({f"device.{name}": item for name, item in (value or {}).items()})
        elif not isinstance(value, list | dict):
            row[key] = value
    row["sweeps"] = sweeps
    return row


def read_csv(path: str | Path, missing: str) -> pd.DataFrame:
    """A CSV file as a frame; a missing or unreadable file is a one-line DataError naming it
    (`missing` says why it could be absent)."""
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise DataError(f"{path}: {missing}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{path}: unreadable ({' '.join(str(err).split())})") from None


def history_rows(path: Path, spec: Mapping[str, Any]) -> pd.DataFrame:
    """A run's history.csv with its spec fields (and sweeps) joined onto every epoch."""
    history = read_csv(path, "missing")
    for key, value in {**spec, WIDTHS: widths_cells([spec[WIDTHS]])[0]}.items():
        if key not in history.columns:
            history[key] = value
    return history


def collect(
    run_dirs: Iterable[str | Path], memberships: Mapping[str, Iterable[str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, history) tidy tables of the given run folders, in the order given; each folder is
    verified first (sbp_core.runfolder), so a damaged one stops it with one line naming it."""
    rows, histories = [], []
    for run_dir in map(Path, run_dirs):
        metrics = runfolder.verify(run_dir)
        spec = read_json(run_dir / "spec.json")
        if spec.get("run_id") != run_dir.name:
            raise DataError(
                f"{run_dir / 'spec.json'}: run_id {spec.get('run_id')!r} != folder name"
            )
        sweeps = SWEEP_SEPARATOR.join(memberships.get(run_dir.name, ()))
        rows.append(run_row(spec, metrics, sweeps))
        histories.append(history_rows(run_dir / "history.csv", {**spec, "sweeps": sweeps}))
    runs = pd.DataFrame(rows)
    history = pd.concat(histories, ignore_index=True) if histories else pd.DataFrame()
    for table in (runs, history):  # one kind of n_hidden cell, as the CSV files read back
        if WIDTHS in table:
            table[WIDTHS] = widths_cells(table[WIDTHS])
    return runs, history


def in_sweep(table: pd.DataFrame, sweep: str) -> pd.DataFrame:
    """Rows of the runs that belong to `sweep` (a run may belong to several), with n_hidden
    cells typed for the sweep (`widths_cells`): integers where its networks have one hidden
    layer each, though the profile's other sweeps may have deeper ones."""
    if table.empty:
        return table
    members = table["sweeps"].fillna("").str.split(SWEEP_SEPARATOR)
    rows = table[members.apply(lambda names: sweep in names)].copy()
    if WIDTHS in rows and not rows.empty:
        rows[WIDTHS] = pd.Series(widths_cells(rows[WIDTHS]), index=rows.index)
    return rows


def at_preset(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose device fields are all unset: each device as its preset or file gives it
    (not the sweeps' variations of it, such as 2 states or more noise)."""
    columns = [field for field in DEVICE_FIELDS if field in runs.columns]
    return runs[runs[columns].isna().all(axis=1)] if columns else runs


def from_snakemake(smk: Any) -> None:
    """Rule `collect`: every finished run folder -> runs.csv and history.csv: the grid's runs
    (the inputs) and the tuned final runs the selection records name."""
    with rule_log(smk):
        selections = [
            read_document(path, "selection file missing") for path in smk.input.selections
        ]
        runs, history = collect(
            run_folders(smk.input.runs, selections, smk.params.runs),
            tuned_memberships(smk.params.memberships, selections),
        )
        runs.to_csv(smk.output.runs, index=False)
        history.to_csv(smk.output.history, index=False)
