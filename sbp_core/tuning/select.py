"""The choice among a unit's trials, on validation accuracy alone, and the selection file that
records it with the final runs it implies (docs/tuning_protocol.md).

A trial's score is read from the `val_acc` column of its history.csv and nothing else; trials
are run with `evaluate_test` false, so they hold no test accuracy to read in the first place.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sbp_core import atomic, runfolder
from sbp_core.errors import DataError
from sbp_core.report import rule_log
from sbp_core.spec import RunSpec


def last_two_val_acc(val_acc: Sequence[float]) -> float:
    """The mean validation accuracy of the last two epochs (the last alone after one epoch):
    less noisy than the last epoch, and it rewards settings still good at the end."""
    return sum(val_acc[-2:]) / len(val_acc[-2:])


SELECTION_RULES: dict[str, Callable[[Sequence[float]], float]] = {
    "last_two_val_acc": last_two_val_acc,
}
"""Selection rule name (config key tuning.selection) -> score of a trial's val_acc per epoch."""


def validation_curve(run_dir: str | Path) -> list[float]:
    """The val_acc column of a finished trial's history.csv (the folder verified first)."""
    folder = Path(run_dir)
    runfolder.verify(folder)
    with open(folder / "history.csv", newline="") as handle:
        cells = [row.get("val_acc") for row in csv.DictReader(handle)]
    if not cells or any(cell in (None, "") for cell in cells):
        raise DataError(f"{folder / 'history.csv'}: a trial needs val_acc in every epoch")
    return [float(cell) for cell in cells]


def choose(scores: Sequence[float]) -> int:
    """The index of the best score; a tie goes to the earliest trial in the Sobol sequence, so
    the choice never depends on anything but the scores and their order. A NaN never wins."""
    ranked = [-math.inf if math.isnan(score) else score for score in scores]
    return ranked.index(max(ranked))


def selection(unit: Mapping[str, Any], trial_dirs: Sequence[str | Path], rule: str) -> dict:
    """The selection record of `unit` (sbp_core.tuning.plan.Unit.to_dict) from its finished
    trials, in trial order: every trial's score, the choice, and the final runs it implies."""
    score_of = SELECTION_RULES[rule]
    scores = [score_of(validation_curve(folder)) for folder in trial_dirs]
    best = choose(scores)
    trials = [
        {**trial, "score": score} for trial, score in zip(unit["trials"], scores, strict=True)
    ]
    chosen = unit["trials"][best]["settings"]
    final_runs = []
    for target in unit["targets"]:
        template = RunSpec.from_dict(target["template"], source=f"tuning unit {unit['key']}")
        for seed in unit["final_seeds"]:
            spec = dataclasses.replace(template, seed=seed, **chosen)
            final_runs.append(
                {"point": target["point"], "seed": seed, "run_id": spec.run_id,
                 "spec": spec.to_dict()}
            )  # fmt: skip
    return {
        "key": unit["key"],
        "sweep": unit["sweep"],
        "method": unit["method"],
        "point": unit["point"],
        "rule": rule,
        "sobol_seed": unit["sobol_seed"],
        "trials": trials,
        "chosen": {"trial": best, **trials[best]},
        "final_runs": final_runs,
        "untuned_runs": [
            {"point": target["point"], "run_ids": target["untuned_runs"]}
            for target in unit["targets"]
        ],
    }


def final_specs(selection_record: Mapping[str, Any]) -> dict[str, RunSpec]:
    """Run id -> spec of the final runs a selection record names."""
    return {
        run["run_id"]: RunSpec.from_dict(run["spec"], source=f"selection {selection_record['key']}")
        for run in selection_record["final_runs"]
    }


def from_snakemake(smk: Any) -> None:
    """Checkpoint `select_settings`: the trials' folders -> the unit's selection file."""
    with rule_log(smk):
        folders = [Path(path).parent for path in smk.input.trials]
        atomic.write_json(smk.output[0], selection(smk.params.unit, folders, smk.params.rule))
