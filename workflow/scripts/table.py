"""Snakemake script: one sweep's summary table as CSV, Markdown and LaTeX."""

from sbp_core.report.tables import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
