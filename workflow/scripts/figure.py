"""Snakemake script: one figure (PNG and PDF) of one sweep from the tidy tables."""

from contextlib import redirect_stderr

import pandas as pd

from sbp_core.report.figures import draw, save


def main(smk) -> None:
    runs, history = pd.read_csv(smk.input.runs), pd.read_csv(smk.input.history)
    save(draw(smk.params.kind, runs, history, smk.params.sweep), smk.output.png, smk.output.pdf)


with open(snakemake.log[0], "w") as log, redirect_stderr(log):  # noqa: F821 (injected)
    main(snakemake)  # noqa: F821
