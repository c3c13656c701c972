"""The runs a costed comparison takes once a profile is tuned: each method's tuned final runs in
place of its untuned runs, in the sweeps it was tuned for, and no trial; or the untuned runs
alone, each costed against its untuned conventional twin.

The collect rule marks a tuned final run's sweeps as `tuned:<sweep>` (`tuned_memberships`), so
the sweep tables, which show the untuned runs, never count them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sbp_core.documents import read_document
from sbp_core.report import SWEEP_SEPARATOR

TUNED_MARK = "tuned:"
"""Prefix of a tuned final run's sweep names in runs.csv's `sweeps` cells."""


def run_folders(
    grid_metrics: Sequence[str | Path],
    selections: Sequence[Mapping[str, Any]],
    runs_dir: str | Path,
) -> list[Path]:
    """Every run folder a profile finished, each once: the grid's (their metrics.json paths)
    and the final runs the selection records name (a point shared by two tuned sweeps has the
    same final runs; a final run may be a grid run too)."""
    grid = (Path(metrics).parent for metrics in grid_metrics)
    tuned = (
        Path(runs_dir) / run["run_id"] for record in selections for run in record["final_runs"]
    )
    return list(dict.fromkeys([*grid, *tuned]))


def owned_run_ids(grid_run_ids: Iterable[str], selected_dir: str | Path) -> set[str]:
    """The run folders a profile owns: its grid's (trials and off-chip twins included) and the
    final runs named by the selection records in `selected_dir` (`tuning/selected/`). A cache of
    run folders that kept the grid's alone would drop every tuned final run (paper.yml)."""
    owned = set(grid_run_ids)
    for path in sorted(Path(selected_dir).glob("*.json")):
        record = read_document(path, "selection file missing")
        owned.update(run["run_id"] for run in record["final_runs"])
    return owned


def tuned_memberships(
    memberships: Mapping[str, Sequence[str]], selections: Sequence[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """The grid's run id -> sweeps, with each final run of each selection record in its
    record's sweep as `tuned:<sweep>` (beside its grid sweeps, if it is a grid run too)."""
    marked = {run_id: list(sweeps) for run_id, sweeps in memberships.items()}
    for record in selections:
        for run in record["final_runs"]:
            marked.setdefault(run["run_id"], []).append(f"{TUNED_MARK}{record['sweep']}")
    return marked


def tuned_in_place_of_untuned(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` (collected runs.csv) without trials (`evaluate_test` false) and with every tuned
    final run in its sweeps in place of the untuned runs of its method there; an untuned run
    left in no sweep is dropped, a run that never had one (an off-chip twin) is kept."""
    cells = _cells(runs)
    tuned = {
        (method, name.removeprefix(TUNED_MARK))
        for method, names in zip(runs["method"], cells, strict=True)
        for name in names
        if name.startswith(TUNED_MARK)
    }
    kept = [
        [
            n.removeprefix(TUNED_MARK)
            for n in names
            if n.startswith(TUNED_MARK) or (m, n) not in tuned
        ]
        for m, names in zip(runs["method"], cells, strict=True)
    ]
    return _in_sweeps(runs, kept)


def untuned_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` (collected runs.csv) without trials and tuned final runs: every run in the sweeps it
    ran in at the sweep's own settings (a tuned final run that is also a grid run is kept, in
    its grid sweeps only); a run that never had a sweep is kept."""
    kept = [[n for n in names if not n.startswith(TUNED_MARK)] for names in _cells(runs)]
    return _in_sweeps(runs, kept)


def _cells(runs: pd.DataFrame) -> pd.Series:
    return runs["sweeps"].fillna("").astype(str).str.split(SWEEP_SEPARATOR)


def _in_sweeps(runs: pd.DataFrame, kept: list[list[str]]) -> pd.DataFrame:
    """`runs` with `kept` as their sweeps, without trials and without the runs that had sweeps
    and kept none."""
    out = runs.assign(sweeps=[SWEEP_SEPARATOR.join(n for n in names if n) for names in kept])
    had_sweeps = _cells(runs).map(lambda names: any(names))
    trial = runs["evaluate_test"].eq(False) if "evaluate_test" in runs else False
    keep = (out["sweeps"] != "") | ~had_sweeps
    return out[keep & ~trial].reset_index(drop=True)
