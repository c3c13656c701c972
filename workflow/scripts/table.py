"""Snakemake script: one sweep's summary table as CSV, Markdown and LaTeX."""

from contextlib import redirect_stderr

import pandas as pd

from sbp_core.report.tables import write_tables


def main(smk) -> None:
    out = smk.output
    write_tables(pd.read_csv(smk.input.runs), smk.params.sweep, out.csv, out.md, out.tex)


with open(snakemake.log[0], "w") as log, redirect_stderr(log):  # noqa: F821 (injected)
    main(snakemake)  # noqa: F821
