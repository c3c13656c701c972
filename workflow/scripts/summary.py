"""Snakemake script: the profile's answer, summary.md and summary.rst."""

from sbp_core.report.summary import from_snakemake

from_snakemake(snakemake)  # noqa: F821 (snakemake is injected)
