"""Tables and figures from finished run folders.

`collect` turns run folders into two tidy tables (one row per run, one row per run and epoch);
`tables` and `figures` read only those tables, so every number traces back to a run folder.
Each module a Snakemake rule runs has a `from_snakemake(smk)`; workflow/scripts/ only call it.
"""

import traceback
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from typing import Any, TextIO

from sbp_core.errors import SbpBenchError

SWEEP_SEPARATOR = ";"
"""Joins the names of the sweeps a run belongs to in the `sweeps` column."""

ACCURACY = "final_test_acc"
"""The accuracy every table and figure leads with: test accuracy after the last epoch."""

COST_SWEEP_FIGURES = ("cost_breakdown", "cost_energy_per_epoch")
"""The cost figures of each sweep with SBP runs, cost/figures/<sweep>.<name>.png (drawn by
cost_figures; named here so the workflow reads them without importing matplotlib)."""

LEARNING_MARGIN = 0.10
"""A design learned when its mean final test accuracy beats chance (1 / classes) by more than
this: within 10 points of chance it did not learn (10 % to 20 % on ten classes), and any cost it
saves is not a result (docs/cost_model.md)."""


def learned(accuracy: float, n_classes: int) -> bool:
    """Whether `accuracy` (a fraction) is more than LEARNING_MARGIN above chance."""
    return accuracy > 1.0 / n_classes + LEARNING_MARGIN


@contextmanager
def rule_log(smk: Any) -> Iterator[TextIO]:
    """The job's stderr (warnings included) into its rule's log file, which is yielded; an
    error goes into the log too. One of ours ends the job with its one line (no traceback)."""
    with open(smk.log[0], "w") as log, redirect_stderr(log):
        try:
            yield log
        except SbpBenchError as error:
            line = f"sbp-bench: error: {error}"
            print(line, file=log, flush=True)
            raise SystemExit(line) from None
        except BaseException:
            traceback.print_exc(file=log)
            raise
