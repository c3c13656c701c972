"""Snakemake script: finished run folders -> tidy runs.csv and history.csv."""

from sbp_core.report.collect import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
