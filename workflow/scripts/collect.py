"""Snakemake script: finished run folders -> tidy runs.csv and history.csv."""

from contextlib import redirect_stderr
from pathlib import Path

from sbp_core.report.collect import collect


def main(smk) -> None:
    runs, history = collect([Path(m).parent for m in smk.input], smk.params.memberships)
    runs.to_csv(smk.output.runs, index=False)
    history.to_csv(smk.output.history, index=False)


with open(snakemake.log[0], "w") as log, redirect_stderr(log):  # noqa: F821 (injected)
    main(snakemake)  # noqa: F821
